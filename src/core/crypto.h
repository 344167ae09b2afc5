/* Thin wrappers over OpenSSL libcrypto for the digests tweedle needs. */
#ifndef TW_CORE_CRYPTO_H
#define TW_CORE_CRYPTO_H
#include <stddef.h>
#include <stdint.h>

void tw_sha256(const void *data, size_t len, uint8_t out[32]);
void tw_sha256_hex(const void *data, size_t len, char out[65]);
void tw_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, uint8_t out[32]);
void tw_md5(const void *data, size_t len, uint8_t out[16]);
void tw_md5_hex(const void *data, size_t len, char out[33]);
/* Lower-case hex of n bytes into out (2n+1 bytes). */
void tw_hex(const uint8_t *in, size_t n, char *out);
/* Standard base64 with padding; out must hold 4*ceil(n/3)+1 bytes. Returns length. */
size_t tw_base64_encode(const uint8_t *in, size_t n, char *out);
/* Decodes standard base64 (padding optional); returns decoded length or -1 if invalid.
 * out must hold at least 3*(n/4)+3 bytes. */
long tw_base64_decode(const char *in, size_t n, uint8_t *out);
/* Cryptographically random bytes. */
void tw_random_bytes(void *out, size_t n);
/* A random version-4 UUID, lower-case with dashes (37 bytes with NUL). */
void tw_uuid4(char out[37]);

/* Streaming digests, for data that arrives in pieces (request bodies, canonical
 * requests built on the fly). NULL only when out of memory. */
typedef struct tw_hash tw_hash;
tw_hash *tw_hash_sha256_new(void);
tw_hash *tw_hash_md5_new(void);
void tw_hash_update(tw_hash *h, const void *data, size_t len);
/* Writes the digest (32 bytes for SHA-256, 16 for MD5), returns its length and
 * resets the state so the object can hash again. */
size_t tw_hash_final(tw_hash *h, uint8_t *out);
void tw_hash_free(tw_hash *h);

#endif
