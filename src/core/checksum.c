/* CRC32, CRC32C and CRC64NVME by slicing-by-8 tables (eight bytes per step:
 * several GB/s without CPU-specific code), SHA1/SHA256 over OpenSSL EVP.
 * The tables are built once, on first use. */
#include "core/checksum.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"

/* Reflected polynomials (bit order reversed), as table-driven LSB-first CRCs want. */
#define POLY_CRC32 0xEDB88320u
#define POLY_CRC32C 0x82F63B78u
#define POLY_CRC64NVME 0x9A6C9329AC4BC9B5ull

static uint32_t t32[8][256], t32c[8][256];
static uint64_t t64[8][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t a = i, b = i;
    uint64_t c = i;
    for (int k = 0; k < 8; k++) {
      a = (a >> 1) ^ (POLY_CRC32 & (0u - (a & 1)));
      b = (b >> 1) ^ (POLY_CRC32C & (0u - (b & 1)));
      c = (c >> 1) ^ (POLY_CRC64NVME & (0ull - (c & 1)));
    }
    t32[0][i] = a;
    t32c[0][i] = b;
    t64[0][i] = c;
  }
  /* t[k][i]: the CRC of byte i followed by k zero bytes. */
  for (int k = 1; k < 8; k++)
    for (int i = 0; i < 256; i++) {
      t32[k][i] = (t32[k - 1][i] >> 8) ^ t32[0][t32[k - 1][i] & 0xff];
      t32c[k][i] = (t32c[k - 1][i] >> 8) ^ t32c[0][t32c[k - 1][i] & 0xff];
      t64[k][i] = (t64[k - 1][i] >> 8) ^ t64[0][t64[k - 1][i] & 0xff];
    }
}

static void tables(void) {
  pthread_once(&tables_once, build_tables);
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) {
  return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint32_t crc32_run(uint32_t t[8][256], uint32_t crc, const uint8_t *p, size_t n) {
  crc = ~crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint32_t lo = le32(p) ^ crc, hi = le32(p + 4);
    crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
          t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
  }
  while (n--) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
  return ~crc;
}

uint32_t tw_crc32_update(uint32_t crc, const void *data, size_t n) {
  tables();
  return crc32_run(t32, crc, data, n);
}

uint32_t tw_crc32c_update(uint32_t crc, const void *data, size_t n) {
  tables();
  return crc32_run(t32c, crc, data, n);
}

uint64_t tw_crc64nvme_update(uint64_t crc, const void *data, size_t n) {
  tables();
  const uint8_t *p = data;
  crc = ~crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v = le64(p) ^ crc;
    crc = t64[7][v & 0xff] ^ t64[6][(v >> 8) & 0xff] ^ t64[5][(v >> 16) & 0xff] ^
          t64[4][(v >> 24) & 0xff] ^ t64[3][(v >> 32) & 0xff] ^ t64[2][(v >> 40) & 0xff] ^
          t64[1][(v >> 48) & 0xff] ^ t64[0][v >> 56];
  }
  while (n--) crc = (crc >> 8) ^ t64[0][(crc ^ *p++) & 0xff];
  return ~crc;
}

/* ---------- algorithm names ---------- */

static const struct {
  tw_cksum_alg alg;
  const char *name, *header;
  size_t raw;
} ALGS[] = {
    {TW_CKSUM_CRC32, "CRC32", "x-amz-checksum-crc32", 4},
    {TW_CKSUM_CRC32C, "CRC32C", "x-amz-checksum-crc32c", 4},
    {TW_CKSUM_CRC64NVME, "CRC64NVME", "x-amz-checksum-crc64nvme", 8},
    {TW_CKSUM_SHA1, "SHA1", "x-amz-checksum-sha1", 20},
    {TW_CKSUM_SHA256, "SHA256", "x-amz-checksum-sha256", 32},
};
#define NALGS (sizeof ALGS / sizeof ALGS[0])

tw_cksum_alg tw_cksum_alg_parse(const char *s) {
  if (!s) return TW_CKSUM_NONE;
  for (size_t i = 0; i < NALGS; i++)
    if (!strcasecmp(s, ALGS[i].name) || !strcasecmp(s, ALGS[i].header)) return ALGS[i].alg;
  return TW_CKSUM_NONE;
}

const char *tw_cksum_alg_name(tw_cksum_alg a) {
  for (size_t i = 0; i < NALGS; i++)
    if (ALGS[i].alg == a) return ALGS[i].name;
  return NULL;
}

const char *tw_cksum_header(tw_cksum_alg a) {
  for (size_t i = 0; i < NALGS; i++)
    if (ALGS[i].alg == a) return ALGS[i].header;
  return NULL;
}

size_t tw_cksum_raw_len(tw_cksum_alg a) {
  for (size_t i = 0; i < NALGS; i++)
    if (ALGS[i].alg == a) return ALGS[i].raw;
  return 0;
}

/* ---------- streaming ---------- */

/* Fetched once: an implicit fetch per init takes a lock in the provider store. */
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha1, *md_sha256;

static void md_fetch(void) {
  md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
  md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int tw_cksum_init(tw_cksum *c, tw_cksum_alg alg) {
  memset(c, 0, sizeof *c);
  if (alg == TW_CKSUM_SHA1 || alg == TW_CKSUM_SHA256) {
    pthread_once(&md_once, md_fetch);
    const EVP_MD *md = alg == TW_CKSUM_SHA1 ? md_sha1 : md_sha256;
    EVP_MD_CTX *ctx = md ? EVP_MD_CTX_new() : NULL;
    if (!ctx) return -1;
    if (!EVP_DigestInit_ex(ctx, md, NULL)) {
      EVP_MD_CTX_free(ctx);
      return -1;
    }
    c->md = ctx;
  } else if (alg != TW_CKSUM_CRC32 && alg != TW_CKSUM_CRC32C && alg != TW_CKSUM_CRC64NVME) {
    return -1;
  }
  c->alg = alg;
  return 0;
}

void tw_cksum_update(tw_cksum *c, const void *data, size_t n) {
  if (!n) return;
  switch (c->alg) {
    case TW_CKSUM_CRC32:
      c->crc = tw_crc32_update((uint32_t)c->crc, data, n);
      break;
    case TW_CKSUM_CRC32C:
      c->crc = tw_crc32c_update((uint32_t)c->crc, data, n);
      break;
    case TW_CKSUM_CRC64NVME:
      c->crc = tw_crc64nvme_update(c->crc, data, n);
      break;
    case TW_CKSUM_SHA1:
    case TW_CKSUM_SHA256:
      if (!EVP_DigestUpdate(c->md, data, n)) abort();
      break;
    default:
      break;
  }
}

size_t tw_cksum_final(tw_cksum *c, uint8_t out[TW_CKSUM_MAX_RAW]) {
  size_t n = tw_cksum_raw_len(c->alg);
  if (c->md) {
    unsigned int len = 0;
    if (!EVP_DigestFinal_ex(c->md, out, &len)) abort();
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
    return len;
  }
  for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(c->crc >> (8 * (n - 1 - i)));
  return n;
}

size_t tw_cksum_final_b64(tw_cksum *c, char out[TW_CKSUM_MAX_B64]) {
  uint8_t raw[TW_CKSUM_MAX_RAW];
  size_t n = tw_cksum_final(c, raw);
  if (!n) {
    out[0] = '\0';
    return 0;
  }
  return tw_base64_encode(raw, n, out);
}

void tw_cksum_free(tw_cksum *c) {
  if (c->md) EVP_MD_CTX_free(c->md);
  c->md = NULL;
}

size_t tw_cksum_b64(tw_cksum_alg alg, const void *data, size_t n, char out[TW_CKSUM_MAX_B64]) {
  tw_cksum c;
  out[0] = '\0';
  if (tw_cksum_init(&c, alg)) return 0;
  tw_cksum_update(&c, data, n);
  return tw_cksum_final_b64(&c, out);
}
