/* Streaming decoder for S3 `Content-Encoding: aws-chunked` request bodies:
 *
 *   hex-size[;chunk-signature=sig] CRLF data CRLF ... 0[;chunk-signature=sig] CRLF
 *   [name:value CRLF ...] [x-amz-trailer-signature:sig CRLF] CRLF
 *
 * for the x-amz-content-sha256 modes
 * - STREAMING-AWS4-HMAC-SHA256-PAYLOAD: every chunk signed, the chain seeded by
 *   the request's SigV4 signature; StringToSign = "AWS4-HMAC-SHA256-PAYLOAD" \n
 *   amz-date \n scope \n previous-signature \n hex(sha256("")) \n hex(sha256(data));
 * - STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: the same, then trailers signed by
 *   "AWS4-HMAC-SHA256-TRAILER" \n amz-date \n scope \n final-chunk-signature \n
 *   hex(sha256(the trailers as "name:value\n", sorted by name));
 * - STREAMING-UNSIGNED-PAYLOAD-TRAILER: no signatures (what botocore >= 1.36 and
 *   the JS SDK v3 send by default), trailers such as x-amz-checksum-crc32:BASE64.
 *
 * Bytes are decoded as they arrive and handed on at once; the input may be split
 * anywhere. A chunk's signature is checked when its last byte has passed, so a
 * caller must treat every error as fatal for the whole body (discard what it
 * wrote) and only commit after tw_chunked_finish() returned 0. */
#ifndef TW_AUTH_CHUNKED_H
#define TW_AUTH_CHUNKED_H
#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"

typedef enum {
  TW_CHUNKED_UNSIGNED_TRAILER = 1, /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
  TW_CHUNKED_SIGNED,               /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
  TW_CHUNKED_SIGNED_TRAILER,       /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER */
} tw_chunked_mode;

/* The mode named by an x-amz-content-sha256 value: 0 and *out set, or -1 when the
 * value is not one of the three (e.g. the SigV4a STREAMING-AWS4-ECDSA-P256-SHA256-*
 * modes, which tweedle does not implement). */
int tw_chunked_mode_parse(const char *x_amz_content_sha256, tw_chunked_mode *out);

typedef struct tw_chunked tw_chunked;

/* signing_key: the SigV4 key of the request (tw_sigv4_info.signing_key);
 * amz_date: YYYYMMDDTHHMMSSZ; scope: "YYYYMMDD/region/service/aws4_request";
 * seed_signature: the 64-hex signature of the request's Authorization header.
 * All four are ignored (and may be NULL) for TW_CHUNKED_UNSIGNED_TRAILER.
 * NULL on bad arguments or out of memory. */
tw_chunked *tw_chunked_new(tw_chunked_mode mode, const uint8_t signing_key[32],
                           const char *amz_date, const char *scope, const char *seed_signature);
void tw_chunked_free(tw_chunked *c);

/* AWS rejects data chunks under 8192 bytes except the last one (400
 * InvalidChunkSizeError). Off (0) by default: clients streaming from pipes send
 * short chunks and tweedle accepts them; set 8192 for AWS's strictness. */
void tw_chunked_set_min_chunk_size(tw_chunked *c, size_t n);

/* The trailers the request announced (its x-amz-trailer header, comma-separated
 * names): tw_chunked_finish fails with TW_ERR_S3_MALFORMED_TRAILER when one did
 * not arrive. -1 when the list is too long (over 16 names). Trailers that were
 * not announced are still accepted. */
int tw_chunked_expect_trailers(tw_chunked *c, const char *x_amz_trailer);

/* Receives decoded bytes; non-zero stops decoding (feed returns -1 with
 * TW_ERR_INTERNAL). */
typedef int (*tw_chunked_out_fn)(void *ud, const char *data, size_t n);

/* Decodes n more bytes of the body. 0, or -1 on malformed framing, a bad
 * signature, an oversized size or trailer line, or when out() failed; the error
 * is sticky (see tw_chunked_error). */
int tw_chunked_feed(tw_chunked *c, const char *data, size_t n, tw_chunked_out_fn out, void *ud);

/* The body has ended: 0 when the final 0-size chunk and the trailers were
 * complete (the trailer signature right, the expected trailers there), else -1.
 * Ending at a line boundary after the 0-size chunk is forgiven (the JS SDK v3
 * sends "0\r\n" and nothing more when it has no checksum to add); ending inside
 * a chunk or a line is not. */
int tw_chunked_finish(tw_chunked *c);

/* Why feed/finish failed (TW_ERR_OK when they did not):
 * - TW_ERR_S3_INCOMPLETE_BODY: malformed or truncated framing ("The request body
 *   terminated unexpectedly", as S3 answers any aws-chunked framing error);
 * - TW_ERR_SIGNATURE_MISMATCH: a chunk or the trailer signature differs;
 * - TW_ERR_S3_MALFORMED_TRAILER: a trailer line is not "name:value", too many or
 *   too large, trailers where the mode has none, or an expected trailer missing;
 * - TW_ERR_S3_INVALID_CHUNK_SIZE: see tw_chunked_set_min_chunk_size;
 * - TW_ERR_INTERNAL: the output callback failed. */
tw_err tw_chunked_error(const tw_chunked *c);
/* S3-style message for that error ("" when none). */
const char *tw_chunked_errmsg(const tw_chunked *c);

/* Decoded bytes so far (compare with x-amz-decoded-content-length). */
uint64_t tw_chunked_decoded_length(const tw_chunked *c);
/* 1 once the terminating 0-size chunk and trailers have been read. */
int tw_chunked_done(const tw_chunked *c);

/* A trailer's value (names compared without case; trimmed value), or NULL.
 * x-amz-trailer-signature is not listed among the trailers. */
const char *tw_chunked_trailer(const tw_chunked *c, const char *name);
size_t tw_chunked_trailer_count(const tw_chunked *c);
/* The i-th trailer in arrival order (lower-case name); -1 when out of range. */
int tw_chunked_trailer_at(const tw_chunked *c, size_t i, const char **name, const char **value);

#endif
