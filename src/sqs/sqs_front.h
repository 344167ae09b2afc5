/* The two wire protocols of SQS over HTTP. Both build a tw_sqs_call and share
 * one driver for long polling and waiting on the commit (sqs_http.c). */
#ifndef TW_SQS_FRONT_H
#define TW_SQS_FRONT_H
#include "http/request.h"
#include "http/service.h"
#include "sqs/sqs.h"

/* SQS as a service of the HTTP server: scope "sqs", target "AmazonSQS.", and
 * the query protocol's form POSTs to / or to a queue URL. */
extern const tw_service tw_sqs_service;

/* action: the part of X-Amz-Target after "AmazonSQS." (NULL: unknown target) */
void tw_sqs_json_serve(tw_request *r, const char *action);
void tw_sqs_query_serve(tw_request *r);
void tw_sqs_json_error(tw_request *r, tw_err e, const char *msg);
void tw_sqs_query_error(tw_request *r, tw_err e, const char *msg);
/* The query protocol's form (s, n bytes: a query string or a form body) as the
 * JSON protocol's input, as tw_sqs_query_serve builds it (Action into `action`).
 * For tests/fuzz; the caller owns the result. */
json_t *tw_sqs_query_parse(const char *s, size_t n, char *action, size_t alen);

/* shared driver */
typedef struct {
  tw_sqs_call call;
  json_t *in;
  void (*render)(tw_request *r);
  tw_request *r;
  tw_sqs_waiter waiter; /* a parked long poll */
} tw_sqs_http_ctx;

tw_sqs_http_ctx *tw_sqs_http_ctx_new(tw_request *r, json_t *in, const char *action,
                                     void (*render)(tw_request *r));
void tw_sqs_http_run(tw_request *r);
/* sqs_authz.c: 1 when the caller may run ACTION with this (JSON-shaped)
 * input under the identity and queue policies; 0 with AWS's message. */
int tw_sqs_authorize(tw_request *r, const char *action, json_t *in, char *msg, size_t msglen);

#endif
