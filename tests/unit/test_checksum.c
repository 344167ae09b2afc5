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
  test_names();
  return tap_done();
}
