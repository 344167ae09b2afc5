/* EventBridge's wire protocol: JSON 1.1, POST / with X-Amz-Target:
 * AWSEvents.<Op>, SigV4 service `events`. Runs the operation, waits for the
 * store batches its answer depends on, then renders. Errors are
 * {"__type":"<Code>","message":"..."} with 400 (500 for InternalException). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth/authorize.h"
#include "core/buf.h"
#include "core/json_out.h"
#include "core/trace.h"
#include "eventbridge/eb_internal.h"

#define JSON_CT "application/x-amz-json-1.1"
#define TARGET_PREFIX "AWSEvents."

static void respond_error(tw_request *r, const char *type, int status, const char *msg) {
  json_t *o = json_pack("{s:s,s:s}", "__type", type, "message", msg ? msg : "");
  char *body = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  tw_req_respond_owned(r, status, JSON_CT, body, strlen(body));
}

/* Errors decided outside the operations (authentication, the HTTP layer) as
 * the coral JSON services name them. */
static void error(tw_request *r, tw_err e, const char *msg) {
  const tw_err_info *info = tw_err_get(e);
  const char *type = info->code;
  int status = info->http_status;
  switch (e) {
    case TW_ERR_MISSING_AUTH:
      type = "MissingAuthenticationTokenException";
      status = 400;
      break;
    case TW_ERR_INCOMPLETE_SIGNATURE:
      type = "IncompleteSignatureException";
      status = 400;
      break;
    case TW_ERR_SIGNATURE_MISMATCH:
    case TW_ERR_REQUEST_EXPIRED:
      type = "InvalidSignatureException";
      status = 400;
      break;
    case TW_ERR_INVALID_CLIENT_TOKEN:
      type = "UnrecognizedClientException";
      status = 400;
      break;
    case TW_ERR_ACCESS_DENIED:
      type = "AccessDeniedException";
      status = 400;
      break;
    case TW_ERR_INTERNAL:
      type = "InternalException";
      break;
    case TW_ERR_SERVICE_UNAVAILABLE:
      type = "ServiceUnavailableException";
      break;
    default:
      break;
  }
  respond_error(r, type, status, msg && *msg ? msg : info->message);
}

typedef struct {
  eb_call call;
} eb_ctx;

static void ctx_free(void *p) {
  eb_ctx *x = p;
  json_decref(x->call.in);
  json_decref(x->call.out);
  free(x);
}

static void finish(tw_request *r) {
  eb_ctx *x = r->ctx;
  eb_call *c = &x->call;
  /* its own change failed, or a failure since it looked may have undone what
   * it reports */
  if (r->commit_failed || tw_store_failures(c->eb->store) != c->failures) {
    respond_error(r, "InternalException", 500,
                  "Service encountered unexpected problem. Please try again.");
    return;
  }
  if (c->err) {
    respond_error(r, c->err, c->status, c->msg);
    return;
  }
  tw_buf b;
  tw_buf_init(&b, 64u << 20);
  int rc = c->out ? tw_json_write(&b, c->out) : tw_buf_puts(&b, "{}");
  if (rc || b.overflow) { /* never a truncated 200 */
    tw_buf_free(&b);
    respond_error(r, "InternalException", 500, "The response is too large.");
    return;
  }
  size_t len;
  char *body = tw_buf_detach(&b, &len);
  tw_req_respond_owned(r, 200, JSON_CT, body, len);
}

/* The IAM check (auth/authorize.h): "events:" + the operation on the
 * resource it names: PutEvents on each entry's bus, rule calls on the rule
 * (rule/NAME, rule/BUS/NAME), bus calls on event-bus/NAME, else "*". */
static int authorize(tw_request *r, const char *op, json_t *in, char *msg, size_t msglen) {
  char action[96], res[600];
  snprintf(action, sizeof action, "events:%s", op);
  const char *bus = json_string_value(json_object_get(in, "EventBusName"));
  const char *rule = json_string_value(json_object_get(in, "Rule"));
  const char *name = json_string_value(json_object_get(in, "Name"));
  const char *arn = json_string_value(json_object_get(in, "ResourceARN"));
  if (bus && !strncmp(bus, "arn:", 4)) bus = strrchr(bus, '/') ? strrchr(bus, '/') + 1 : bus;
  if (!strcmp(op, "PutEvents")) {
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(in, "Entries"), i, e) {
      const char *b = json_string_value(json_object_get(e, "EventBusName"));
      if (b && !strncmp(b, "arn:", 4)) {
        snprintf(res, sizeof res, "%s", b);
      } else {
        char rn[300];
        snprintf(rn, sizeof rn, "event-bus/%s", b && *b ? b : "default");
        tw_arn(r, "events", rn, res, sizeof res);
      }
      if (!tw_authorize(r, action, res, NULL, NULL, 0, msg, msglen)) return 0;
    }
    return 1;
  }
  char rn[400] = "";
  if (!rule && name && strstr(op, "Rule")) rule = name;
  if (rule && *rule) {
    if (bus && *bus && strcmp(bus, "default"))
      snprintf(rn, sizeof rn, "rule/%s/%s", bus, rule);
    else
      snprintf(rn, sizeof rn, "rule/%s", rule);
  } else if (name && strstr(op, "EventBus")) {
    snprintf(rn, sizeof rn, "event-bus/%s", name);
  }
  if (arn && !strncmp(arn, "arn:", 4))
    snprintf(res, sizeof res, "%s", arn);
  else if (rn[0])
    tw_arn(r, "events", rn, res, sizeof res);
  else
    snprintf(res, sizeof res, "*");
  return tw_authorize(r, action, res, NULL, NULL, 0, msg, msglen);
}

static void serve(tw_request *r) {
  const char *target = tw_req_header(r, "X-Amz-Target");
  const char *op_name =
      target && !strncmp(target, TARGET_PREFIX, strlen(TARGET_PREFIX)) ? target + 10 : NULL;
  if (op_name) snprintf(r->action, sizeof r->action, "%s", op_name);
  char msg[4096];
  tw_err e = tw_req_authenticate(r, msg, sizeof msg);
  if (e != TW_ERR_OK) {
    error(r, e, msg);
    return;
  }
  const eb_op *op = op_name ? eb_find_op(op_name) : NULL;
  if (!op) {
    respond_error(r, "UnknownOperationException", 400,
                  op_name ? "The operation is not supported by tweedle's EventBridge."
                          : "The request names no AWSEvents operation (X-Amz-Target).");
    return;
  }
  if (r->too_large) {
    error(r, TW_ERR_REQUEST_TOO_LARGE, NULL);
    return;
  }
  json_t *in;
  if (!r->body.len) {
    in = json_object();
  } else {
    json_error_t je;
    in = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(in)) {
      json_decref(in);
      respond_error(r, "SerializationException", 400,
                    "Failed to parse the request body as a JSON object.");
      return;
    }
  }
  if (!authorize(r, op_name, in, msg, sizeof msg)) {
    json_decref(in);
    respond_error(r, "AccessDeniedException", 400, msg);
    return;
  }
  tw_eventbridge *eb = r->app->eventbridge;
  /* cluster mode: what any node acknowledged is in the model before it serves */
  if (eb_sync(eb)) {
    json_decref(in);
    error(r, TW_ERR_SERVICE_UNAVAILABLE, "PostgreSQL cannot be reached from this node.");
    return;
  }
  eb_ctx *x = calloc(1, sizeof *x);
  r->ctx = x;
  r->ctx_free = ctx_free;
  eb_call *c = &x->call;
  c->eb = eb;
  c->in = in;
  c->principal = r->principal[0] ? r->principal : NULL;
  tw_trace_header(tw_req_header(r, "X-Amzn-Trace-Id"), tw_req_header(r, "traceparent"), c->trace,
                  sizeof c->trace);
  c->failures = tw_store_failures(eb->store); /* before anything is looked at */
  op->fn(c);
  /* the answer waits for its own change and for everything it may have seen
   * (the engine's store: PostgreSQL's in cluster mode) */
  c->seen_ticket = tw_store_ticket(eb->store);
  tw_req_after_commits(r, c->ticket, c->seen_ticket, finish);
}

const tw_service tw_eventbridge_service = {
    .name = "events",
    .scopes = {"events"},
    .target_prefix = TARGET_PREFIX,
    .max_body = 2u << 20, /* PutEvents: 256 KiB of entries, JSON-escaped */
    .serve = serve,
    .error = error,
};
