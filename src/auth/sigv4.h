/* AWS Signature Version 4: verifying requests (Authorization header and
 * presigned query) and signing them (for tweedle's own clients: bench, worker,
 * and the presigned URLs the gateway hands out). */
#ifndef TW_AUTH_SIGV4_H
#define TW_AUTH_SIGV4_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/errors.h"

typedef struct {
  const char *name;
  const char *value;
} tw_kv;

typedef struct {
  const char *method;    /* "GET", "POST", ... */
  const char *raw_path;  /* path exactly as sent (percent-encoded), no query */
  const char *raw_query; /* query exactly as sent, without '?'; "" when none */
  const tw_kv *headers;  /* every request header, names in any case */
  size_t nheaders;
  /* Hex SHA-256 of the body when the caller has it; NULL means: take the value of
   * the x-amz-content-sha256 header (S3 streaming / UNSIGNED-PAYLOAD cases). */
  const char *payload_sha256_hex;
  int s3; /* 1: S3 rules (path not normalised, not double-encoded) */
  /* Optional scope checks when verifying; NULL accepts whatever the credential
   * names (the router may pick the service from the scope). */
  const char *region;
  const char *service;
} tw_sigv4_input;

/* Why a verification failed, for front ends whose AWS error differs from the
 * SQS-style tw_err returned (S3: RequestTimeTooSkewed, AuthorizationHeaderMalformed,
 * AuthorizationQueryParametersError, InvalidRequest). */
typedef enum {
  TW_SIGV4_FAULT_NONE = 0,
  TW_SIGV4_FAULT_MALFORMED,      /* Authorization header / credential not parseable */
  TW_SIGV4_FAULT_QUERY_PARAMS,   /* presigned: missing/invalid X-Amz-* (S3: 400
                                    AuthorizationQueryParametersError) */
  TW_SIGV4_FAULT_SKEWED,         /* header auth: request time > 15 min from now (S3: 403
                                    RequestTimeTooSkewed) */
  TW_SIGV4_FAULT_EXPIRED,        /* presigned: past X-Amz-Date + X-Amz-Expires */
  TW_SIGV4_FAULT_NOT_YET_VALID,  /* presigned: X-Amz-Date > 15 min in the future */
  TW_SIGV4_FAULT_SCOPE,          /* wrong region/service/terminator/date in the credential */
  TW_SIGV4_FAULT_NO_CONTENT_SHA, /* no payload hash and no x-amz-content-sha256 (S3: 400
                                    InvalidRequest) */
  TW_SIGV4_FAULT_UNKNOWN_KEY,
  TW_SIGV4_FAULT_SIGNATURE, /* signatures differ */
} tw_sigv4_fault;

typedef struct {
  char access_key[129];
  char date[9]; /* YYYYMMDD from the credential scope */
  char region[64];
  char service[32];
  char amz_date[17]; /* YYYYMMDDTHHMMSSZ */
  char signature[65];
  int presigned; /* 1: authenticated by query parameters */
  long expires;  /* X-Amz-Expires for presigned requests */
  tw_sigv4_fault fault;
  /* Set on success: the derived key, e.g. to check aws-chunked chunk signatures
   * (whose chain starts at `signature`). */
  uint8_t signing_key[32];
} tw_sigv4_info;

/* Returns the secret for an access key, or NULL when the key is unknown. */
typedef const char *(*tw_secret_lookup)(void *ud, const char *access_key);

/* Verifies the request's SigV4 signature. Thread-safe; derived keys are cached
 * per thread. Checks run in the order AWS's front end uses, so the first error
 * reported is the one AWS would report. Returns TW_ERR_OK, or:
 * - TW_ERR_MISSING_AUTH: no Authorization header (or not AWS4-*) and no
 *   X-Amz-Algorithm query parameter.
 * - TW_ERR_INCOMPLETE_SIGNATURE: malformed header/credential/date, e.g.
 *   "Authorization header requires 'Signature' parameter. Authorization=...".
 * - TW_ERR_SIGNATURE_MISMATCH: wrong signature (SQS: the message carries the
 *   canonical request and string to sign, as AWS's does); credential scope
 *   errors; clock skew over 15 minutes: "Signature expired: 20130524T000000Z is
 *   now earlier than 20130524T001000Z (20130524T002500Z - 15 min.)" or
 *   "Signature not yet current: ... is still later than ... (... + 15 min.)".
 * - TW_ERR_INVALID_CLIENT_TOKEN: unknown access key.
 * - TW_ERR_ACCESS_DENIED: presigned URL expired ("Request has expired"), not yet
 *   valid ("Request is not yet valid"), or with missing/invalid X-Amz-* query
 *   parameters (fault QUERY_PARAMS; AWS S3 answers those with 400
 *   AuthorizationQueryParametersError).
 * errmsg receives the AWS-style message (empty means: the table's default);
 * info->fault says which check failed. */
tw_err tw_sigv4_verify(const tw_sigv4_input *in, tw_secret_lookup lookup, void *ud, time_t now,
                       tw_sigv4_info *info, char *errmsg, size_t errmsg_len);

/* Computes the value of the Authorization header for `in` (which must contain
 * host and x-amz-date headers, and payload_sha256_hex or an x-amz-content-sha256
 * header). Every header in `in` except Authorization is signed. Returns 0 on
 * success, -1 on bad input or when auth_len is too small. */
int tw_sigv4_sign(const tw_sigv4_input *in, const char *access_key, const char *secret,
                  const char *region, const char *service, char *auth_out, size_t auth_len);

/* Presigns `in` (method, raw_path, raw_query, and headers: at least host) valid
 * from amz_date (YYYYMMDDTHHMMSSZ) for `expires` seconds (1..604800). Writes the
 * whole query string to put after '?': the original raw_query, then X-Amz-Algorithm,
 * X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature.
 * The payload is UNSIGNED-PAYLOAD when in->s3, else payload_sha256_hex (or the
 * hash of an empty body). Returns 0, or -1 on bad input / query_len too small. */
int tw_sigv4_presign(const tw_sigv4_input *in, const char *access_key, const char *secret,
                     const char *region, const char *service, const char *amz_date, long expires,
                     char *query_out, size_t query_len);

/* The SigV4 signing key for (secret, YYYYMMDD, region, service), from a small
 * per-thread cache. */
void tw_sigv4_signing_key(const char *secret, const char *date, const char *region,
                          const char *service, uint8_t out[32]);

/* Appends the raw path of an S3 object, "/BUCKET/KEY", the key URI-encoded
 * as S3 wants (everything but unreserved characters and '/'), for presigning. */
void tw_sigv4_s3_path(tw_buf *b, const char *bucket, const char *key);

/* Formats t (UTC) as YYYYMMDDTHHMMSSZ. */
void tw_sigv4_amz_date(time_t t, char out[17]);

#endif
