/* aws-chunked bodies with trailers, fed in pieces.
 * Input: byte 0 picks the mode (and bit 2 AWS's 8 KiB minimum chunk size),
 * byte 1 the piece size (1..256), then the x-amz-trailer header value up to
 * '\n', then the body. */
#include "auth/chunked.h"
#include "fuzz_util.h"

static int sink(void *ud, const char *d, size_t n) {
  volatile unsigned char *acc = ud;
  for (size_t i = 0; i < n; i++) *acc ^= (unsigned char)d[i];
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  static const tw_chunked_mode modes[] = {TW_CHUNKED_UNSIGNED_TRAILER, TW_CHUNKED_SIGNED,
                                          TW_CHUNKED_SIGNED_TRAILER, TW_CHUNKED_UNSIGNED_TRAILER};
  tw_chunked_mode mode = modes[data[0] & 3];
  size_t piece = (size_t)data[1] + 1;
  data += 2;
  size -= 2;
  const uint8_t *nl = memchr(data, '\n', size);
  size_t tl = nl ? (size_t)(nl - data) : 0;
  char *trailers = malloc(tl + 1);
  memcpy(trailers, data, tl);
  trailers[tl] = 0;
  if (nl) {
    data += tl + 1;
    size -= tl + 1;
  }
  uint8_t key[32] = {1, 2, 3};
  tw_chunked *c =
      tw_chunked_new(mode, key, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request",
                     "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
  if (!c) {
    free(trailers);
    return 0;
  }
  if (data[-1] & 4) tw_chunked_set_min_chunk_size(c, 8192);
  if (tl) tw_chunked_expect_trailers(c, trailers);
  /* a copy per piece so that ASan sees reads past it */
  unsigned char acc = 0;
  int rc = 0;
  for (size_t off = 0; off < size && !rc; off += piece) {
    size_t n = size - off < piece ? size - off : piece;
    char *p = malloc(n);
    memcpy(p, data + off, n);
    rc = tw_chunked_feed(c, p, n, sink, &acc);
    free(p);
  }
  if (!rc) tw_chunked_finish(c);
  tw_chunked_error(c);
  tw_chunked_errmsg(c);
  tw_chunked_decoded_length(c);
  tw_chunked_trailer(c, "x-amz-checksum-crc32");
  size_t nt = tw_chunked_trailer_count(c);
  for (size_t i = 0; i < nt; i++) {
    const char *k, *v;
    tw_chunked_trailer_at(c, i, &k, &v);
    (void)strlen(k);
    (void)strlen(v);
  }
  tw_chunked_free(c);
  free(trailers);
  return 0;
}
