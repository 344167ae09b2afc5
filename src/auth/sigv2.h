/* AWS Signature Version 2 for S3 ("HmacV1"): the Authorization header
 * `AWS AKID:base64(hmac-sha1(secret, StringToSign))` and query authentication
 * (presigned URLs with AWSAccessKeyId, Signature, Expires), which boto3 and
 * aws-cli v1 still produce for us-east-1 with an endpoint_url.
 *
 * StringToSign = VERB \n Content-MD5 \n Content-Type \n Date-or-Expires \n
 *                CanonicalizedAmzHeaders CanonicalizedResource
 * with the resource as sent on the wire plus the sub-resources botocore signs. */
#ifndef TW_AUTH_SIGV2_H
#define TW_AUTH_SIGV2_H
#include <stddef.h>
#include <time.h>

#include "auth/sigv4.h" /* tw_kv, tw_secret_lookup */
#include "core/buf.h"
#include "core/errors.h"

typedef struct {
  const char *method;    /* "GET", "PUT", ... */
  const char *raw_path;  /* path exactly as sent (percent-encoded), no query */
  const char *raw_query; /* query exactly as sent, without '?'; "" or NULL when none */
  const tw_kv *headers;  /* every request header, names in any case */
  size_t nheaders;
  /* Virtual-hosted style: the bucket named by the Host header (the resource
   * then is "/" bucket raw_path); NULL for path-style requests. */
  const char *vhost_bucket;
} tw_sigv2_input;

typedef enum {
  TW_SIGV2_NONE = 0, /* no SigV2 credentials in the request */
  TW_SIGV2_HEADER,   /* Authorization: AWS AKID:signature */
  TW_SIGV2_QUERY,    /* AWSAccessKeyId / Signature in the query */
} tw_sigv2_kind;

/* Which SigV2 form the request carries (for the router choosing SigV4 or V2). */
tw_sigv2_kind tw_sigv2_detect(const tw_sigv2_input *in);

typedef enum {
  TW_SIGV2_FAULT_NONE = 0,
  TW_SIGV2_FAULT_MALFORMED,    /* Authorization: AWS without "AKID:signature" */
  TW_SIGV2_FAULT_BOTH,         /* header and query credentials together */
  TW_SIGV2_FAULT_QUERY_PARAMS, /* presigned: a parameter missing, Expires not a number */
  TW_SIGV2_FAULT_NO_DATE,      /* header auth without a usable Date / x-amz-date */
  TW_SIGV2_FAULT_SKEWED,       /* header auth: request time over 15 min from now */
  TW_SIGV2_FAULT_EXPIRED,      /* presigned: now > Expires */
  TW_SIGV2_FAULT_UNKNOWN_KEY,
  TW_SIGV2_FAULT_SIGNATURE,
} tw_sigv2_fault;

typedef struct {
  char access_key[129]; /* as given, also when unknown */
  char signature[129];  /* as given (base64) */
  int presigned;        /* 1: query authentication */
  long long expires;    /* presigned: Expires (seconds since the epoch) */
  time_t request_time;  /* header auth: x-amz-date, else Date */
  tw_sigv2_fault fault;
} tw_sigv2_info;

/* Verifies a SigV2-signed S3 request. Thread-safe. Returns TW_ERR_OK or:
 * - TW_ERR_MISSING_AUTH: no SigV2 credentials (see tw_sigv2_detect).
 * - TW_ERR_S3_INVALID_ARGUMENT: "AWS authorization header is invalid.  Expected
 *   AwsAccessKeyId:signature"; or both header and query credentials.
 * - TW_ERR_ACCESS_DENIED: "Query-string authentication requires the Signature,
 *   Expires and AWSAccessKeyId parameters"; "Invalid date (should be seconds since
 *   epoch): X"; "Request has expired"; "AWS authentication requires a valid Date or
 *   x-amz-date header".
 * - TW_ERR_S3_TIME_SKEWED: Date / x-amz-date over 15 minutes from now.
 * - TW_ERR_S3_INVALID_ACCESS_KEY: the key is unknown.
 * - TW_ERR_SIGNATURE_MISMATCH: the signature differs (tw_sigv2_string_to_sign
 *   gives the StringToSign S3 puts in that error).
 * errmsg receives S3's message (empty: the table's default); info->fault says
 * which check failed. Besides the canonical form (botocore's), the verifier
 * accepts the variants other SigV2 clients sign: sub-resource values not
 * decoded and a shorter sub-resource list (AWS SDK for JavaScript v2), the
 * x-amz-date conventions seen in the wild, botocore 1.28.0-1.31.1's resource
 * for operations whose model URI has a query ("/bkt?list-type=2",
 * "/bkt?delete?delete"; Debian 12's python3-botocore), and presigned URLs to
 * which the client appended x-amz-checksum-* / x-amz-sdk-checksum-algorithm
 * parameters after signing (the JS SDK does; S3 ignores them) (a few extra
 * HMACs, only when the first comparison fails).
 *
 * info (for the S3 error's extra elements) is filled as far as the checks got:
 * access_key and signature as soon as they are parsed, so also for
 * TW_SIGV2_FAULT_UNKNOWN_KEY (<AWSAccessKeyId>), TW_SIGV2_FAULT_SIGNATURE
 * (<AWSAccessKeyId>, <SignatureProvided>) and TW_SIGV2_FAULT_EXPIRED;
 * expires for presigned URLs from the Expires check on (EXPIRED: <Expires>,
 * with <ServerTime> from `now`); request_time for header auth once the date
 * parsed (SKEWED: <RequestTime>). */
tw_err tw_sigv2_verify(const tw_sigv2_input *in, tw_secret_lookup lookup, void *ud, time_t now,
                       tw_sigv2_info *info, char *errmsg, size_t errlen);

/* The canonical StringToSign of the request (query auth: with Expires in the date
 * slot and x-amz-* query parameters as headers). 0, or -1 when it does not fit. */
int tw_sigv2_string_to_sign(const tw_sigv2_input *in, tw_buf *out);

/* base64(HMAC-SHA1(secret, sts)): 28 characters and a NUL. */
void tw_sigv2_sign_string(const char *secret, const char *sts, size_t len, char out[29]);

#endif
