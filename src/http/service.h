/* The service registry: the HTTP layer hands each request to the service that
 * claims it and knows nothing of what the services are. The application
 * registers them (app.c); each brings its own entry points and error renderer.
 *
 * A request is matched, in this order, by:
 *   1. a path prefix (tweedle's own routes under /_/), longest first;
 *   2. the SigV4 credential scope's service — from the Authorization header or
 *      a presigned URL's X-Amz-Credential — against each service's scopes;
 *   3. the X-Amz-Target prefix (JSON protocols);
 *   4. each service's own rule (claims), in registration order: the SQS
 *      query protocol's form POST, S3 as the service for everything else.
 * A scope or target that names no registered service is answered with the
 * registry's `unclaimed` renderer, never handed to a service that would
 * misread it. */
#ifndef TW_HTTP_SERVICE_H
#define TW_HTTP_SERVICE_H
#include <stddef.h>

#include "core/errors.h"

typedef struct tw_request tw_request;

typedef struct tw_service {
  const char *name;                   /* for logs: "sqs", "s3", "gateway", ... */
  const char *path_prefix;            /* claims every path with this prefix, or NULL */
  const char *scopes[4];              /* SigV4 scope services it serves (NULL-terminated) */
  const char *target_prefix;          /* X-Amz-Target prefix, e.g. "AmazonSQS.", or NULL */
  int (*claims)(const tw_request *r); /* its own rule for the rest, or NULL */
  size_t max_body; /* largest buffered body (0: 8 MiB); larger ones get error() */
  /* Headers seen, body not yet read: may answer at once (before a client
   * waiting on 100-continue sends its body) or choose to stream the body
   * (r->on_body, r->on_done). NULL: the body is buffered. */
  void (*begin)(tw_request *r);
  void (*serve)(tw_request *r); /* the whole body is in (unless begin chose otherwise) */
  /* Answers an error the HTTP layer decided (shutting down, body too large)
   * in the service's protocol. */
  void (*error)(tw_request *r, tw_err e, const char *msg);
} tw_service;

#define TW_MAX_SERVICES 16

typedef struct {
  const tw_service *list[TW_MAX_SERVICES];
  size_t n;
  /* Renders the error for a request no service claims; `what` names what it
   * asked for (e.g. "the SigV4 service \"sns\""). */
  void (*unclaimed)(tw_request *r, const char *what);
} tw_services;

int tw_services_add(tw_services *reg, const tw_service *s);
/* The service for r, or NULL (then `what` says why; give it to unclaimed). */
const tw_service *tw_services_match(const tw_services *reg, const tw_request *r, char *what,
                                    size_t whatlen);
/* The service named in a SigV4 credential scope "AKID/date/region/SERVICE/aws4_request"
 * of the request (Authorization header or X-Amz-Credential query parameter);
 * 0 when the request carries none. */
int tw_req_scope_service(const tw_request *r, char *out, size_t outlen);

#endif
