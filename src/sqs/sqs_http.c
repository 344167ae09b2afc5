/* Runs an SQS call for an HTTP request: parks long polls until woken, then
 * waits for the store to commit what the call changed, then renders. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "sqs/sqs_front.h"

static void ctx_free(void *p) {
  tw_sqs_http_ctx *x = p;
  json_decref(x->in);
  json_decref(x->call.out);
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
  tw_req_base_url(r, x->call.base_url, sizeof x->call.base_url);
  r->ctx = x;
  r->ctx_free = ctx_free;
  return x;
}

static void waiter_wake(tw_sqs_waiter *w) {
  tw_request *r = (tw_request *)((char *)w - offsetof(tw_request, waiter));
  tw_req_wake(r);
}

static void finish(tw_request *r) {
  tw_sqs_http_ctx *x = r->ctx;
  if (r->commit_failed) {
    json_decref(x->call.out);
    x->call.out = NULL;
    x->call.err = TW_ERR_SERVICE_UNAVAILABLE;
    x->call.msg[0] = 0;
  }
  x->render(r);
}

void tw_sqs_http_run(tw_request *r) {
  tw_sqs_http_ctx *x = r->ctx;
  if (r->waiter.wake && tw_req_peer_closed(r)) {
    /* a long poll woken after its client hung up: receiving now would hide
     * messages from live consumers for a whole visibility timeout */
    tw_req_respond(r, 499, "text/plain", "", 0);
    return;
  }
  for (;;) {
    tw_sqs_execute(&x->call);
    if (!x->call.wants_wait) break;
    r->waiter.wake = waiter_wake;
    r->resume = tw_sqs_http_run;
    if (tw_sqs_park(r->app->sqs, &x->call, &r->waiter) == 0 && tw_req_suspend(r)) return;
    r->resume = NULL;
  }
  if (x->call.ticket)
    tw_req_after_commit(r, x->call.ticket, finish);
  else
    x->render(r);
}
