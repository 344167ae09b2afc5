/* The checksums S3 accepts and returns (x-amz-checksum-*): CRC32, CRC32C,
 * CRC64NVME, SHA1, SHA256. All streaming, so bodies are hashed as they arrive.
 * S3 sends each as base64 of the big-endian digest bytes. */
#ifndef TW_CORE_CHECKSUM_H
#define TW_CORE_CHECKSUM_H
#include <stddef.h>
#include <stdint.h>

/* zlib-style running CRCs: start from 0, feed pieces, the value returned after
 * the last piece is the CRC (no separate finalisation).
 * CRC32: ISO-HDLC (zlib, Ethernet), poly 0x04C11DB7 reflected.
 * CRC32C: Castagnoli, poly 0x1EDC6F41 reflected.
 * CRC64NVME: poly 0xAD93D23594C93659 reflected, init and xorout all ones. */
uint32_t tw_crc32_update(uint32_t crc, const void *data, size_t n);
uint32_t tw_crc32c_update(uint32_t crc, const void *data, size_t n);
uint64_t tw_crc64nvme_update(uint64_t crc, const void *data, size_t n);
/* For tests and benchmarks: the same CRCs by the portable slicing-by-8 tables, which
 * the functions above use on CPUs without PCLMULQDQ and for short inputs. */
uint32_t tw_crc32_update_table(uint32_t crc, const void *data, size_t n);
uint32_t tw_crc32c_update_table(uint32_t crc, const void *data, size_t n);
uint64_t tw_crc64nvme_update_table(uint64_t crc, const void *data, size_t n);

typedef enum {
  TW_CKSUM_NONE = 0,
  TW_CKSUM_CRC32,
  TW_CKSUM_CRC32C,
  TW_CKSUM_CRC64NVME,
  TW_CKSUM_SHA1,
  TW_CKSUM_SHA256,
} tw_cksum_alg;

/* Largest raw digest (SHA-256) and its base64 with NUL. */
#define TW_CKSUM_MAX_RAW 32
#define TW_CKSUM_MAX_B64 45

/* Accepts "CRC32", "crc32c", "CRC64NVME", "SHA1", "SHA256" (the
 * x-amz-sdk-checksum-algorithm / x-amz-checksum-algorithm values) and the header
 * names "x-amz-checksum-crc32" etc. (x-amz-trailer values), any case.
 * TW_CKSUM_NONE when unknown. */
tw_cksum_alg tw_cksum_alg_parse(const char *s);
/* "CRC32", ... (NULL for NONE). */
const char *tw_cksum_alg_name(tw_cksum_alg a);
/* "x-amz-checksum-crc32", ... (NULL for NONE). */
const char *tw_cksum_header(tw_cksum_alg a);
/* Raw digest length: 4, 4, 8, 20, 32 (0 for NONE). */
size_t tw_cksum_raw_len(tw_cksum_alg a);

typedef struct {
  tw_cksum_alg alg;
  uint64_t crc;
  void *md; /* EVP_MD_CTX for SHA1/SHA256 */
} tw_cksum;

/* 0 on success, -1 for NONE/unknown or out of memory. */
int tw_cksum_init(tw_cksum *c, tw_cksum_alg alg);
void tw_cksum_update(tw_cksum *c, const void *data, size_t n);
/* Writes the raw digest (big-endian for CRCs), returns its length; the state is
 * consumed (call tw_cksum_init again to reuse). */
size_t tw_cksum_final(tw_cksum *c, uint8_t out[TW_CKSUM_MAX_RAW]);
/* The same as base64, as S3 puts it in x-amz-checksum-*. Returns its length. */
size_t tw_cksum_final_b64(tw_cksum *c, char out[TW_CKSUM_MAX_B64]);
void tw_cksum_free(tw_cksum *c);

/* One-shot base64 checksum of a buffer; returns the length, 0 for NONE. */
size_t tw_cksum_b64(tw_cksum_alg alg, const void *data, size_t n, char out[TW_CKSUM_MAX_B64]);

#endif
