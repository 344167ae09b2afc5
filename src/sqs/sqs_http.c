/* Runs an SQS call for an HTTP request: parks long polls until woken, then
 * waits for the store to commit what the call changed, then renders. */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "core/trace.h"
#include "sqs/sqs_front.h"
#include "sqs/sqs_pg.h"

static void ctx_free(void *p) {
  tw_sqs_http_ctx *x = p;
  json_decref(x->in);
  json_decref(x->call.out);
  tw_buf_free(&x->call.raw);
  tw_sqs_pg_row_free(x->call.pg_row);
  free(x);
}

tw_sqs_http_ctx *tw_sqs_http_ctx_new(tw_request *r, json_t *in, const char *action,
                                     void (*render)(tw_request *r)) {
  tw_sqs_http_ctx *x = calloc(1, sizeof *x);
  x->in = in;
  x->render = render;
  x->call.sqs = r->app->sqs;
  x->call.action = action;
  x->call.in = in;
  x->call.path = r->path;
  x->call.principal = r->principal[0] ? r->principal : NULL;
  tw_trace_header(tw_req_header(r, "X-Amzn-Trace-Id"), tw_req_header(r, "traceparent"),
                  x->call.trace_header, sizeof x->call.trace_header);
  x->r = r;
  /* cluster mode: the queue row this request's authorization just read */
  if (r->app->sqs_pg) x->call.pg_row = tw_sqs_pg_row_take(r->request_id);
  tw_req_base_url(r, x->call.base_url, sizeof x->call.base_url);
  r->ctx = x;
  r->ctx_free = ctx_free;
  return x;
}

static void waiter_wake(tw_sqs_waiter *w) {
  tw_sqs_http_ctx *x = (tw_sqs_http_ctx *)((char *)w - offsetof(tw_sqs_http_ctx, waiter));
  tw_req_wake(x->r);
}

/* The connection ended: a long poll still parked leaves the queue's waiters. */
static void on_close(tw_request *r) {
  tw_sqs_http_ctx *x = r->ctx;
  /* parked is the engine's to read (the reaper thread may call this) */
  if (x && r->app->sqs_pg)
    tw_sqs_pg_unpark(r->app->sqs_pg, &x->waiter);
  else if (x)
    tw_sqs_unpark(r->app->sqs, &x->waiter);
}

static void finish(tw_request *r) {
  tw_sqs_http_ctx *x = r->ctx;
  /* its own change failed, or a failure since it looked may have undone what
   * it reports */
  if (r->commit_failed || tw_store_failures(r->app->store) != x->call.failures) {
    json_decref(x->call.out);
    x->call.out = NULL;
    x->call.err = TW_ERR_SERVICE_UNAVAILABLE;
    x->call.msg[0] = 0;
  }
  x->render(r);
}

void tw_sqs_http_run(tw_request *r) {
  tw_sqs_http_ctx *x = r->ctx;
  if (x->waiter.wake && tw_req_peer_closed(r)) {
    /* a long poll woken after its client hung up: receiving now would hide
     * messages from live consumers for a whole visibility timeout */
    tw_req_respond(r, 499, "text/plain", "", 0);
    return;
  }
  for (;;) {
    tw_sqs_pg *pg = r->app->sqs_pg; /* cluster mode: the engine on PostgreSQL */
    if (pg) {
      x->call.failures = tw_store_failures(r->app->store);
      tw_sqs_pg_execute(pg, &x->call);
    } else {
      tw_sqs_execute(&x->call);
    }
    if (!x->call.wants_wait) break;
    x->waiter.wake = waiter_wake;
    r->resume = tw_sqs_http_run;
    r->on_close = on_close;
    int parked = pg ? tw_sqs_pg_park(pg, &x->call, &x->waiter)
                    : tw_sqs_park(r->app->sqs, &x->call, &x->waiter);
    if (parked == 0 && tw_req_suspend(r)) return;
    r->resume = NULL;
  }
  if (x->call.ticket || x->call.seen_ticket)
    tw_req_after_commits(r, x->call.ticket, x->call.seen_ticket, finish);
  else
    finish(r);
}

/* --- the service ------------------------------------------------------------- */

static int is_form(const tw_request *r) {
  const char *ct = tw_req_header(r, "Content-Type");
  return ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33);
}

static int has_action(const char *s, size_t n) {
  /* "Action=" at the start or after '&' */
  for (size_t i = 0; i + 7 <= n; i++)
    if ((i == 0 || s[i - 1] == '&') && !memcmp(s + i, "Action=", 7)) return 1;
  return 0;
}

/* "/<account digits>/<queue name>": the path of a queue URL. */
static int is_queue_path(const char *p) {
  if (*p++ != '/' || !isdigit((unsigned char)*p)) return 0;
  while (isdigit((unsigned char)*p)) p++;
  if (*p++ != '/' || !*p) return 0;
  return strchr(p, '/') == NULL;
}

/* Unsigned (or SigV2) requests: a form POST to / or to a queue URL is the query
 * protocol; a form POST to a bucket is a (malformed) S3 POST upload, and a PUT
 * with curl's default form type is S3. */
static int claims(const tw_request *r) {
  if (is_form(r) && !strcmp(r->method, "POST") && (!strcmp(r->path, "/") || is_queue_path(r->path)))
    return 1;
  return has_action(r->query, strlen(r->query));
}

static void serve(tw_request *r) {
  const char *target = tw_req_header(r, "X-Amz-Target");
  if (target && !strncmp(target, "AmazonSQS.", 10)) {
    tw_sqs_json_serve(r, target + 10);
    return;
  }
  if ((is_form(r) && has_action(r->body.data ? r->body.data : "", r->body.len)) ||
      has_action(r->query, strlen(r->query))) {
    tw_sqs_query_serve(r);
    return;
  }
  if (target) {
    tw_sqs_json_serve(r, NULL);
    return;
  }
  /* signed for sqs, but neither protocol: the query protocol's answer */
  tw_sqs_query_error(r, TW_ERR_INVALID_ACTION, "The request names no Action.");
}

static void error(tw_request *r, tw_err e, const char *msg) {
  if (tw_req_header(r, "X-Amz-Target"))
    tw_sqs_json_error(r, e, msg);
  else
    tw_sqs_query_error(r, e, msg);
}

const tw_service tw_sqs_service = {
    .name = "sqs",
    .scopes = {"sqs"},
    .target_prefix = "AmazonSQS.",
    .claims = claims,
    .max_body = 8u << 20, /* SendMessageBatch: 1 MiB of payload, query-encoded */
    .serve = serve,
    .error = error,
};
