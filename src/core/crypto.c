/* Digests, HMAC, hex, base64 and randomness over OpenSSL 3 libcrypto.
 * The EVP_MD objects are fetched once: an implicit fetch on every call costs a
 * lock and a lookup in the provider store, which shows on the signature path.
 * They are kept for the life of the process (threads may hash until exit). */
#include "core/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256, *md_md5;

static void md_fetch(void) {
  md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  md_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
}

/* Without these digests nothing tweedle signs or checks can be trusted. */
static void md_init(void) {
  pthread_once(&md_once, md_fetch);
  if (!md_sha256 || !md_md5) {
    fprintf(stderr, "tweedle: OpenSSL has no SHA256/MD5 digest\n");
    abort();
  }
}

static void digest(const EVP_MD *md, const void *data, size_t len, uint8_t *out) {
  unsigned int n = 0;
  if (!EVP_Digest(data, len, out, &n, md, NULL)) abort();
}

void tw_sha256(const void *data, size_t len, uint8_t out[32]) {
  md_init();
  digest(md_sha256, data, len, out);
}

void tw_sha256_hex(const void *data, size_t len, char out[65]) {
  uint8_t d[32];
  tw_sha256(data, len, d);
  tw_hex(d, 32, out);
}

void tw_md5(const void *data, size_t len, uint8_t out[16]) {
  md_init();
  digest(md_md5, data, len, out);
}

void tw_md5_hex(const void *data, size_t len, char out[33]) {
  uint8_t d[16];
  tw_md5(data, len, d);
  tw_hex(d, 16, out);
}

/* HMAC-SHA256 (RFC 2104) on one reusable digest context with the prefetched
 * SHA-256: EVP_MAC would fetch the digest by name on every init. */
void tw_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, uint8_t out[32]) {
  uint8_t k[64], pad[64], inner[32];
  md_init();
  memset(k, 0, sizeof k);
  if (keylen > sizeof k)
    digest(md_sha256, key, keylen, k);
  else if (keylen)
    memcpy(k, key, keylen);

  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) abort();
  for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
  int ok = EVP_DigestInit_ex(ctx, md_sha256, NULL) && EVP_DigestUpdate(ctx, pad, 64) &&
           EVP_DigestUpdate(ctx, data, len) && EVP_DigestFinal_ex(ctx, inner, NULL);
  for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
  ok = ok && EVP_DigestInit_ex(ctx, md_sha256, NULL) && EVP_DigestUpdate(ctx, pad, 64) &&
       EVP_DigestUpdate(ctx, inner, 32) && EVP_DigestFinal_ex(ctx, out, NULL);
  EVP_MD_CTX_free(ctx);
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(pad, sizeof pad);
  if (!ok) abort();
}

void tw_hex(const uint8_t *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t tw_base64_encode(const uint8_t *in, size_t n, char *out) {
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = b64_alphabet[(v >> 6) & 63];
    out[o++] = b64_alphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = '=';
    out[o++] = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = b64_alphabet[(v >> 6) & 63];
    out[o++] = '=';
  }
  out[o] = '\0';
  return o;
}

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Strict: only the standard alphabet, no whitespace; '=' only as final padding
 * and then the input must be a whole number of quads (as Python's b64decode). */
long tw_base64_decode(const char *in, size_t n, uint8_t *out) {
  size_t pad = 0;
  while (pad < 2 && n > pad && in[n - 1 - pad] == '=') pad++;
  if (pad && n % 4 != 0) return -1;
  size_t len = n - pad;
  if (len % 4 == 1) return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    int v = b64_value((unsigned char)in[i]);
    if (v < 0) return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  return (long)o;
}

void tw_random_bytes(void *out, size_t n) {
  uint8_t *p = out;
  while (n > 0) {
    int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
    if (RAND_bytes(p, chunk) != 1) {
      /* Fall back to the kernel; never hand out predictable bytes. */
      ssize_t got = getrandom(p, (size_t)chunk, 0);
      if (got <= 0) {
        fprintf(stderr, "tweedle: no source of random bytes\n");
        abort();
      }
      chunk = (int)got;
    }
    p += chunk;
    n -= (size_t)chunk;
  }
}

/* IDs (request ids, message ids) must be unique, not secret: a per-thread
 * xoshiro256** seeded from the CSPRNG costs nanoseconds instead of a RAND_bytes call. */
static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

static uint64_t fast_random(void) {
  static _Thread_local uint64_t s[4];
  static _Thread_local int seeded;
  if (!seeded) {
    do tw_random_bytes(s, sizeof s);
    while (!(s[0] | s[1] | s[2] | s[3]));
    seeded = 1;
  }
  uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return r;
}

void tw_uuid4(char out[37]) {
  uint8_t b[16];
  uint64_t r0 = fast_random(), r1 = fast_random();
  memcpy(b, &r0, 8);
  memcpy(b + 8, &r1, 8);
  b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  char hex[33];
  tw_hex(b, 16, hex);
  memcpy(out, hex, 8);
  out[8] = '-';
  memcpy(out + 9, hex + 8, 4);
  out[13] = '-';
  memcpy(out + 14, hex + 12, 4);
  out[18] = '-';
  memcpy(out + 19, hex + 16, 4);
  out[23] = '-';
  memcpy(out + 24, hex + 20, 12);
  out[36] = '\0';
}

/* tw_hash is an EVP_MD_CTX; the cast keeps OpenSSL out of the header. */
static tw_hash *hash_new(const EVP_MD *md) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) return NULL;
  if (!EVP_DigestInit_ex(ctx, md, NULL)) abort();
  return (tw_hash *)ctx;
}

tw_hash *tw_hash_sha256_new(void) {
  md_init();
  return hash_new(md_sha256);
}

tw_hash *tw_hash_md5_new(void) {
  md_init();
  return hash_new(md_md5);
}

void tw_hash_update(tw_hash *h, const void *data, size_t len) {
  if (len && !EVP_DigestUpdate((EVP_MD_CTX *)h, data, len)) abort();
}

size_t tw_hash_final(tw_hash *h, uint8_t *out) {
  EVP_MD_CTX *ctx = (EVP_MD_CTX *)h;
  unsigned int n = 0;
  if (!EVP_DigestFinal_ex(ctx, out, &n) || !EVP_DigestInit_ex(ctx, NULL, NULL)) abort();
  return n;
}

void tw_hash_free(tw_hash *h) {
  EVP_MD_CTX_free((EVP_MD_CTX *)h);
}
