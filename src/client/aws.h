/* What tweedle's clients share when they talk to an AWS-style service (tweedle
 * itself, or AWS): credentials and region from the standard environment,
 * endpoint resolution, and SigV4-signed requests over a small pool of
 * keep-alive connections.
 *
 * A tw_aws is thread-safe: each call borrows an idle connection (or opens
 * one) and gives it back afterwards, so any number of threads can share one. */
#ifndef TW_CLIENT_AWS_H
#define TW_CLIENT_AWS_H
#include <stddef.h>

#include "net/http.h"

typedef struct {
  char access_key[129];
  char secret_key[129];
  char session_token[4096]; /* "" when none */
  char region[64];
} tw_aws_creds;

/* AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional),
 * region from AWS_REGION, else AWS_DEFAULT_REGION, else "us-east-1".
 * Returns 0, or -1 with a message when the key pair is missing. */
int tw_aws_creds_from_env(tw_aws_creds *c, char *err, size_t errlen);

/* The endpoint URL for service ("sqs", "s3"): `flag` when non-empty, else
 * $AWS_ENDPOINT_URL_<SERVICE> (SQS, S3), else $AWS_ENDPOINT_URL, else
 * https://<service>.<region>.amazonaws.com. */
void tw_aws_endpoint(const char *service, const char *flag, const char *region, char *out,
                     size_t n);

typedef struct tw_aws tw_aws;

/* service is the SigV4 service name ("sqs", "s3"). NULL with err on a bad URL. */
tw_aws *tw_aws_new(const char *endpoint_url, const char *service, const tw_aws_creds *creds,
                   char *err, size_t errlen);
void tw_aws_free(tw_aws *a);
/* A zeroed client struct of `size` bytes whose first member is its tw_aws *
 * (the SQS and S3 clients), connected to endpoint_url; NULL with err. */
void *tw_aws_client_new(const char *endpoint_url, const char *service, const tw_aws_creds *creds,
                        size_t size, char *err, size_t errlen);
/* Per-read/write timeout in seconds of this client's connections (default 60). */
void tw_aws_set_timeout(tw_aws *a, int seconds);
const tw_url *tw_aws_url(const tw_aws *a);
const tw_aws_creds *tw_aws_creds_of(const tw_aws *a);

/* Signs req (adding Host, X-Amz-Date, X-Amz-Security-Token, Authorization and,
 * for S3, X-Amz-Content-Sha256) and sends it. req->path is relative to the
 * endpoint's own path prefix, which is prepended. payload_sha256: the hex
 * SHA-256 of the body, or "UNSIGNED-PAYLOAD", or NULL to hash an in-memory
 * body here. Returns 0 when an HTTP response came (any status; see
 * resp->status), -1 with err otherwise. At most 16 extra headers. */
int tw_aws_request(tw_aws *a, const tw_http_req *req, const char *payload_sha256,
                   tw_http_resp *resp, char *err, size_t errlen);

#endif
