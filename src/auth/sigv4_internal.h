/* Internals shared by the SigV4 files: verification (sigv4.c), signing and
 * presigning (sigv4_sign.c), and what both compute the same way
 * (sigv4_canon.c: dates, query parameters, the canonical request, the
 * signature, signing keys). */
#ifndef TW_AUTH_SIGV4_INTERNAL_H
#define TW_AUTH_SIGV4_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "auth/sigv4.h"
#include "core/buf.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define TERMINATOR "aws4_request"
#define MAX_EXPIRES 604800L
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

static inline int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static inline int is_ws(int c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* RFC 3986 encoding as SigV4 wants it: unreserved kept, all else %XX. out
 * needs 3 * n bytes; returns the encoded length. */
size_t tw_sigv4_uri_encode(const char *in, size_t n, char *out);

/* YYYYMMDDTHHMMSSZ; 0, or -1 when malformed or out of range. */
int tw_sigv4_parse_amz_date(const char *s, time_t *out);
/* RFC 1123, the Date header's format; 0 or -1. */
int tw_sigv4_parse_http_date(const char *s, time_t *out);

/* ---------- query parameters ---------- */

typedef struct {
  const char *name, *value;   /* decoded, NUL-terminated */
  const char *ename, *evalue; /* canonical (re-encoded), NUL-terminated */
  size_t name_len, value_len, ename_len, evalue_len;
} qparam;

typedef struct {
  qparam *v;
  size_t n;
  char *mem;
  qparam local_v[16];
  char local_mem[2048];
} qlist;

/* Splits on '&', decodes each name and value (a piece without '=' has an empty
 * value), re-encodes both canonically and sorts by encoded name, then value.
 * 0, or -1 out of memory (nothing to free then). */
int tw_sigv4_qlist_parse(qlist *q, const char *raw);
void tw_sigv4_qlist_free(qlist *q);

/* ---------- the signature ---------- */

typedef struct {
  const tw_sigv4_input *in;
  const qlist *query;
  const char *exclude;  /* query parameter left out (X-Amz-Signature) */
  const char *signed_h; /* "host;x-amz-date" */
  const char *payload;  /* hex hash or UNSIGNED-PAYLOAD */
  const char *amz_date, *date, *region, *service;
} sig_parts;

/* Computes the hex signature of `c`. When creq/sts are given, also writes the
 * canonical request and the string to sign into them (for error messages). */
int tw_sigv4_compute_signature(const sig_parts *c, const uint8_t key[32], char sig[65],
                               tw_buf *creq, tw_buf *sts_text);

#endif
