/* The CRC combination behind multipart FULL_OBJECT checksums (src/s3/s3_mpu.c):
 * CRC(A||B) built from CRC(A), CRC(B) and |B| must equal the CRC computed over
 * A||B directly, for CRC32, CRC32C and CRC64NVME: the catalogue check values,
 * every split of a buffer (empty halves included), many uneven parts, 8 MiB of
 * zeros built by doubling; and zero runs up to 5 GiB (the largest part) built
 * in two different orders must agree, so no length is cut to 32 bits. */
#include <stdlib.h>
#include <string.h>

#include "s3/s3_internal.h"
#include "tap.h"

static uint64_t crc_of(tw_cksum_alg a, const void *p, size_t n) {
  switch (a) {
    case TW_CKSUM_CRC32:
      return tw_crc32_update(0, p, n);
    case TW_CKSUM_CRC32C:
      return tw_crc32c_update(0, p, n);
    default:
      return tw_crc64nvme_update(0, p, n);
  }
}

static const tw_cksum_alg CRCS[] = {TW_CKSUM_CRC32, TW_CKSUM_CRC32C, TW_CKSUM_CRC64NVME};

static void test_every_split(void) {
  CASE("every split of 300 bytes");
  uint8_t buf[300];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 131 + 7);
  for (size_t k = 0; k < 3; k++) {
    uint64_t whole = crc_of(CRCS[k], buf, sizeof buf);
    int bad = 0;
    for (size_t cut = 0; cut <= sizeof buf; cut++) {
      uint64_t a = crc_of(CRCS[k], buf, cut), b = crc_of(CRCS[k], buf + cut, sizeof buf - cut);
      if (tw_s3_crc_combine(CRCS[k], a, b, sizeof buf - cut) != whole) bad++;
    }
    CHECK_INT_EQ(bad, 0);
  }
}

static void test_many_parts(void) {
  CASE("uneven parts of 1 MiB, folded left to right");
  size_t n = 1 << 20;
  uint8_t *buf = malloc(n);
  srand(7);
  for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)rand();
  for (size_t k = 0; k < 3; k++) {
    uint64_t total = 0;
    size_t off = 0, step = 1;
    while (off < n) {
      size_t len = step < n - off ? step : n - off;
      total = tw_s3_crc_combine(CRCS[k], total, crc_of(CRCS[k], buf + off, len), len);
      off += len;
      step = step * 3 + 1;
    }
    CHECK(total == crc_of(CRCS[k], buf, n));
  }
  free(buf);
}

static void test_check_value(void) {
  CASE("\"123456789\" from \"1234\" and \"56789\"");
  CHECK(tw_s3_crc_combine(TW_CKSUM_CRC32, tw_crc32_update(0, "1234", 4),
                          tw_crc32_update(0, "56789", 5), 5) == 0xCBF43926u);
  CHECK(tw_s3_crc_combine(TW_CKSUM_CRC64NVME, tw_crc64nvme_update(0, "1234", 4),
                          tw_crc64nvme_update(0, "56789", 5), 5) == 0xAE8B14860A799888ull);
  CHECK(tw_s3_crc_combine(TW_CKSUM_SHA256, 1, 2, 3) == 0);
}

static void test_long_lengths(void) {
  CASE("zero runs past 4 GiB");
  /* CRC(0^(2m)) computed two ways through combine: both halves as one run of m
   * zeros, or as two runs of m/2; the lengths reach 5 GiB, the largest part. */
  static uint8_t zeros[4096];
  for (size_t k = 0; k < 3; k++) {
    uint64_t z = crc_of(CRCS[k], zeros, sizeof zeros); /* 4 KiB of zeros */
    uint64_t len = sizeof zeros, doubled = z;
    int ok = 1;
    while (len < (5ull << 30)) {
      uint64_t next = tw_s3_crc_combine(CRCS[k], doubled, doubled, len);
      /* the same run, built as (len - 4096) + 4096 + len */
      uint64_t other = tw_s3_crc_combine(CRCS[k], doubled, z, sizeof zeros);
      other = tw_s3_crc_combine(CRCS[k], other, doubled, len);
      uint64_t shorter = tw_s3_crc_combine(CRCS[k], z, doubled, len); /* 4096 + len */
      if (tw_s3_crc_combine(CRCS[k], shorter, doubled, len) != other) ok = 0;
      doubled = next;
      len *= 2;
    }
    CHECK(ok);
    /* and 8 MiB of zeros against the direct CRC */
    uint8_t *big = calloc(8 << 20, 1);
    uint64_t direct = crc_of(CRCS[k], big, 8 << 20);
    free(big);
    uint64_t built = z;
    for (uint64_t l = sizeof zeros; l < (8u << 20); l *= 2)
      built = tw_s3_crc_combine(CRCS[k], built, built, l);
    CHECK(built == direct);
  }
}

int main(void) {
  test_check_value();
  test_every_split();
  test_many_parts();
  test_long_lengths();
  return tap_done();
}
