/* core/checksum against published vectors:
 * - "123456789" check values of the CRC catalogue (reveng.sourceforge.io/crc-catalogue):
 *   CRC-32/ISO-HDLC cbf43926, CRC-32/ISCSI (CRC32C) e3069283, CRC-64/NVME ae8b14860a799888.
 * - CRC64NVME of 32 zero bytes cf3473434d4ecf3b (awslabs/aws-checksums tests), of 4096
 *   zero bytes 6482d367eb22b64e and of 4096 0xFF bytes c0ddba7302eca3ac (SPDK crc64 tests,
 *   "compliant with the NVM Command Set Specification 1.0c"), of "Hello, World!\n"
 *   SoXXbx67KpE= (the crc64nvme README's example).
 * - CRC32C of the 66560 'a's of the AWS S3 docs' trailing-header example: sOO8/Q==.
 * - What botocore 1.43 sent: x-amz-checksum-crc32 NhCmhg== for "hello"; and the trailers
 *   of put_object(Body="hello aws-chunked world\r\n" * 3, ChecksumAlgorithm=...): CRC32
 *   hTFl3w==, SHA256 A2mFxwosqZmmVcTnTVz/5yfB3DYgoarVyqICub0soa0=, SHA1
 *   X0taWCbSbWwhoQPc4Phmz26+zvM=.
 * - The JS SDK v3's presigned PUT carries x-amz-checksum-crc32=AAAAAA== (empty body).
 * All were also recomputed with a bitwise Python implementation. */
#include "core/checksum.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"

static const char CHECK[] = "123456789";

static void test_check_values(void) {
  CASE("catalogue check values");
  CHECK_INT_EQ(tw_crc32_update(0, CHECK, 9), 0xCBF43926u);
  CHECK_INT_EQ(tw_crc32c_update(0, CHECK, 9), 0xE3069283u);
  CHECK(tw_crc64nvme_update(0, CHECK, 9) == 0xAE8B14860A799888ull);
  CHECK_INT_EQ(tw_crc32_update(0, "", 0), 0);
  CHECK(tw_crc64nvme_update(0, NULL, 0) == 0);
}

static void test_crc64_vectors(void) {
  CASE("crc64nvme vectors");
  uint8_t *buf = calloc(4096, 1);
  CHECK(tw_crc64nvme_update(0, buf, 32) == 0xCF3473434D4ECF3Bull);
  CHECK(tw_crc64nvme_update(0, buf, 4096) == 0x6482D367EB22B64Eull);
  memset(buf, 0xFF, 4096);
  CHECK(tw_crc64nvme_update(0, buf, 4096) == 0xC0DDBA7302ECA3ACull);
  free(buf);
  char b64[TW_CKSUM_MAX_B64];
  tw_cksum_b64(TW_CKSUM_CRC64NVME, "Hello, World!\n", 14, b64);
  CHECK_STR_EQ(b64, "SoXXbx67KpE=");
}

static void test_s3_values(void) {
  CASE("values S3 clients send");
  char b64[TW_CKSUM_MAX_B64];
  tw_cksum_b64(TW_CKSUM_CRC32, "hello", 5, b64);
  CHECK_STR_EQ(b64, "NhCmhg==");
  tw_cksum_b64(TW_CKSUM_CRC32, "", 0, b64);
  CHECK_STR_EQ(b64, "AAAAAA==");

  char *as = malloc(66560);
  memset(as, 'a', 66560);
  tw_cksum_b64(TW_CKSUM_CRC32C, as, 66560, b64);
  CHECK_STR_EQ(b64, "sOO8/Q==");
  free(as);

  const char *body =
      "hello aws-chunked world\r\nhello aws-chunked world\r\nhello aws-chunked world\r\n";
  size_t n = strlen(body);
  CHECK_INT_EQ(n, 75);
  tw_cksum_b64(TW_CKSUM_CRC32, body, n, b64);
  CHECK_STR_EQ(b64, "hTFl3w==");
  tw_cksum_b64(TW_CKSUM_SHA256, body, n, b64);
  CHECK_STR_EQ(b64, "A2mFxwosqZmmVcTnTVz/5yfB3DYgoarVyqICub0soa0=");
  tw_cksum_b64(TW_CKSUM_SHA1, body, n, b64);
  CHECK_STR_EQ(b64, "X0taWCbSbWwhoQPc4Phmz26+zvM=");
}

/* Feeding in two pieces split anywhere gives the one-shot result. */
static void test_streaming(void) {
  CASE("streaming equals one-shot");
  uint8_t data[203];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 37 + 11);
  const tw_cksum_alg algs[] = {TW_CKSUM_CRC32, TW_CKSUM_CRC32C, TW_CKSUM_CRC64NVME, TW_CKSUM_SHA1,
                               TW_CKSUM_SHA256};
  for (size_t a = 0; a < sizeof algs / sizeof algs[0]; a++) {
    char whole[TW_CKSUM_MAX_B64];
    tw_cksum_b64(algs[a], data, sizeof data, whole);
    int bad = 0;
    for (size_t split = 0; split <= sizeof data; split++) {
      tw_cksum c;
      char b64[TW_CKSUM_MAX_B64];
      if (tw_cksum_init(&c, algs[a])) {
        bad++;
        continue;
      }
      tw_cksum_update(&c, data, split);
      tw_cksum_update(&c, data + split, sizeof data - split);
      tw_cksum_final_b64(&c, b64);
      tw_cksum_free(&c);
      bad += strcmp(b64, whole) != 0;
    }
    CHECK_INT_EQ(bad, 0);
  }
  /* The raw CRC functions chain the same way. */
  uint32_t c = tw_crc32c_update(0, CHECK, 4);
  CHECK_INT_EQ(tw_crc32c_update(c, CHECK + 4, 5), 0xE3069283u);
  uint64_t d = tw_crc64nvme_update(0, CHECK, 7);
  CHECK(tw_crc64nvme_update(d, CHECK + 7, 2) == 0xAE8B14860A799888ull);
}

/* ---------- the fast paths (PCLMULQDQ folding, crc32 instruction) against the tables ---------- */

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1Dull;
}

static void fill_random(uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(rnd() >> 56);
}

static void test_tables_check_values(void) {
  CASE("table versions: check values");
  CHECK_INT_EQ(tw_crc32_update_table(0, CHECK, 9), 0xCBF43926u);
  CHECK_INT_EQ(tw_crc32c_update_table(0, CHECK, 9), 0xE3069283u);
  CHECK(tw_crc64nvme_update_table(0, CHECK, 9) == 0xAE8B14860A799888ull);
  /* Long enough for the fast paths, which begin at 64 bytes: the CRC of 4096 zero
   * bytes from the vectors above, and the check value's digits repeated. */
  uint8_t *buf = calloc(4096, 1);
  CHECK(tw_crc64nvme_update_table(0, buf, 4096) == 0x6482D367EB22B64Eull);
  for (size_t i = 0; i < 4096; i++) buf[i] = (uint8_t)CHECK[i % 9];
  CHECK_INT_EQ(tw_crc32_update(0, buf, 4095), tw_crc32_update_table(0, buf, 4095));
  CHECK_INT_EQ(tw_crc32c_update(0, buf, 4095), tw_crc32c_update_table(0, buf, 4095));
  CHECK(tw_crc64nvme_update(0, buf, 4095) == tw_crc64nvme_update_table(0, buf, 4095));
  free(buf);
}

/* Every length 0..1100 at every start alignment 0..15, from a zero and a non-zero
 * running CRC. */
static void test_fast_equals_table(void) {
  CASE("fast path equals tables, lengths 0..1100, alignments 0..15");
  enum { MAXLEN = 1100 };
  uint8_t *buf = malloc(MAXLEN + 16);
  fill_random(buf, MAXLEN + 16);
  int bad32 = 0, bad32c = 0, bad64 = 0;
  for (size_t n = 0; n <= MAXLEN; n++)
    for (size_t off = 0; off < 16; off++) {
      const uint8_t *p = buf + off;
      uint32_t s32 = (uint32_t)rnd();
      uint64_t s64 = rnd();
      bad32 += tw_crc32_update(0, p, n) != tw_crc32_update_table(0, p, n);
      bad32 += tw_crc32_update(s32, p, n) != tw_crc32_update_table(s32, p, n);
      bad32c += tw_crc32c_update(0, p, n) != tw_crc32c_update_table(0, p, n);
      bad32c += tw_crc32c_update(s32, p, n) != tw_crc32c_update_table(s32, p, n);
      bad64 += tw_crc64nvme_update(0, p, n) != tw_crc64nvme_update_table(0, p, n);
      bad64 += tw_crc64nvme_update(s64, p, n) != tw_crc64nvme_update_table(s64, p, n);
    }
  CHECK_INT_EQ(bad32, 0);
  CHECK_INT_EQ(bad32c, 0);
  CHECK_INT_EQ(bad64, 0);
  /* All-ones and all-zero data (the folding's worst and emptiest cases). */
  for (int v = 0; v < 2; v++) {
    memset(buf, v ? 0xFF : 0, MAXLEN + 16);
    int bad = 0;
    for (size_t n = 0; n <= MAXLEN; n += 7) {
      bad += tw_crc32_update(0, buf + 3, n) != tw_crc32_update_table(0, buf + 3, n);
      bad += tw_crc32c_update(0, buf + 3, n) != tw_crc32c_update_table(0, buf + 3, n);
      bad += tw_crc64nvme_update(0, buf + 3, n) != tw_crc64nvme_update_table(0, buf + 3, n);
    }
    CHECK_INT_EQ(bad, 0);
  }
  free(buf);
}

/* Feeds p[0..n) in pieces cut at random points (sizes up to maxpiece) through the
 * fast functions; returns the number of algorithms whose result differs from the
 * one-shot table CRC. */
static int pieces_differ(const uint8_t *p, size_t n, size_t maxpiece) {
  uint32_t c32 = 0, c32c = 0;
  uint64_t c64 = 0;
  for (size_t at = 0; at < n;) {
    size_t k = (size_t)(rnd() % (maxpiece + 1));
    if (k > n - at) k = n - at;
    c32 = tw_crc32_update(c32, p + at, k);
    c32c = tw_crc32c_update(c32c, p + at, k);
    c64 = tw_crc64nvme_update(c64, p + at, k);
    at += k;
  }
  return (c32 != tw_crc32_update_table(0, p, n)) + (c32c != tw_crc32c_update_table(0, p, n)) +
         (c64 != tw_crc64nvme_update_table(0, p, n));
}

static void test_fast_pieces(void) {
  CASE("fast path in random pieces equals tables");
  enum { MAXLEN = 1100 };
  uint8_t *buf = malloc(MAXLEN + 16);
  fill_random(buf, MAXLEN + 16);
  int bad = 0;
  for (size_t n = 0; n <= MAXLEN; n++)
    for (int rep = 0; rep < 3; rep++) bad += pieces_differ(buf + (rnd() & 15), n, 1 + rnd() % 300);
  CHECK_INT_EQ(bad, 0);

  CASE("1 MiB random buffers in random pieces");
  const size_t big = (size_t)1 << 20;
  uint8_t *b = malloc(big + 16);
  bad = 0;
  for (int rep = 0; rep < 4; rep++) {
    fill_random(b, big + 16);
    const uint8_t *p = b + (rep * 5 & 15);
    /* One piece, pieces of up to 64 KiB, of up to 5000 bytes, of up to 100 bytes. */
    static const size_t maxpiece[] = {(size_t)1 << 20, 65536, 5000, 100};
    bad += pieces_differ(p, big, maxpiece[rep]);
  }
  /* The fast and table functions chain into one another. */
  uint64_t c64 = 0;
  uint32_t c32 = 0, c32c = 0;
  for (size_t at = 0, i = 0; at < big; i++) {
    size_t k = (size_t)(rnd() % 20000);
    if (k > big - at) k = big - at;
    if (i & 1) {
      c64 = tw_crc64nvme_update(c64, b + at, k);
      c32 = tw_crc32_update(c32, b + at, k);
      c32c = tw_crc32c_update(c32c, b + at, k);
    } else {
      c64 = tw_crc64nvme_update_table(c64, b + at, k);
      c32 = tw_crc32_update_table(c32, b + at, k);
      c32c = tw_crc32c_update_table(c32c, b + at, k);
    }
    at += k;
  }
  CHECK_INT_EQ(bad, 0);
  CHECK(c64 == tw_crc64nvme_update_table(0, b, big));
  CHECK_INT_EQ(c32, tw_crc32_update_table(0, b, big));
  CHECK_INT_EQ(c32c, tw_crc32c_update_table(0, b, big));
  free(b);
  free(buf);
}

static void test_names(void) {
  CASE("algorithm names");
  CHECK_INT_EQ(tw_cksum_alg_parse("CRC32"), TW_CKSUM_CRC32);
  CHECK_INT_EQ(tw_cksum_alg_parse("crc32c"), TW_CKSUM_CRC32C);
  CHECK_INT_EQ(tw_cksum_alg_parse("CRC64NVME"), TW_CKSUM_CRC64NVME);
  CHECK_INT_EQ(tw_cksum_alg_parse("x-amz-checksum-sha256"), TW_CKSUM_SHA256);
  CHECK_INT_EQ(tw_cksum_alg_parse("X-Amz-Checksum-Sha1"), TW_CKSUM_SHA1);
  CHECK_INT_EQ(tw_cksum_alg_parse("MD5"), TW_CKSUM_NONE);
  CHECK_INT_EQ(tw_cksum_alg_parse(NULL), TW_CKSUM_NONE);
  CHECK_STR_EQ(tw_cksum_header(TW_CKSUM_CRC64NVME), "x-amz-checksum-crc64nvme");
  CHECK_STR_EQ(tw_cksum_alg_name(TW_CKSUM_CRC32C), "CRC32C");
  CHECK_INT_EQ(tw_cksum_raw_len(TW_CKSUM_SHA1), 20);
  tw_cksum c;
  CHECK(tw_cksum_init(&c, TW_CKSUM_NONE) == -1);
  char b64[TW_CKSUM_MAX_B64];
  CHECK_INT_EQ(tw_cksum_b64(TW_CKSUM_NONE, "x", 1, b64), 0);
}

int main(void) {
  test_check_values();
  test_crc64_vectors();
  test_s3_values();
  test_streaming();
  test_tables_check_values();
  test_fast_equals_table();
  test_fast_pieces();
  test_names();
  return tap_done();
}
