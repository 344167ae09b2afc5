/* The CloudWatch Logs service on the HTTP server: JSON 1.1, X-Amz-Target
 * "Logs_20140328.<Op>", SigV4 scope "logs". A change is answered once the
 * store committed it; a listing once the batch holding what it saw is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth/authorize.h"
#include "logs/logs.h"
#include "logs/logs_http.h"

#define JSON_CT "application/x-amz-json-1.1"
#define TARGET_PREFIX "Logs_20140328."
#define MAX_BODY (2u << 20) /* a PutLogEvents of 1 MB of events, JSON-escaped */

typedef struct {
  tw_logs_call call;
  uint64_t failures;
} logs_ctx;

static void ctx_free(void *p) {
  logs_ctx *x = p;
  json_decref(x->call.in);
  json_decref(x->call.out);
  free(x);
}

static void json_error(tw_request *r, tw_err e, const char *msg) {
  if (e == TW_ERR_INTERNAL) e = TW_ERR_LOGS_SERVICE_UNAVAILABLE;
  const tw_err_info *info = tw_err_get(e);
  json_t *o = json_pack("{s:s,s:s}", "__type", info->json_type, "message",
                        msg && *msg ? msg : info->message);
  char *body = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  tw_req_respond_owned(r, info->http_status, JSON_CT, body, strlen(body));
}

static void render(tw_request *r) {
  logs_ctx *x = r->ctx;
  if (x->call.err != TW_ERR_OK) {
    json_error(r, x->call.err, x->call.msg);
    return;
  }
  char *body = x->call.out ? json_dumps(x->call.out, JSON_COMPACT) : strdup("{}");
  if (!body) {
    json_error(r, TW_ERR_INTERNAL, "The response is too large.");
    return;
  }
  tw_req_respond_owned(r, 200, JSON_CT, body, strlen(body));
}

static void finish(tw_request *r) {
  logs_ctx *x = r->ctx;
  if (r->commit_failed || tw_store_failures(r->app->store) != x->failures) {
    json_decref(x->call.out);
    x->call.out = NULL;
    x->call.err = TW_ERR_LOGS_SERVICE_UNAVAILABLE;
    snprintf(x->call.msg, sizeof x->call.msg, "The store could not make the change durable.");
  }
  render(r);
}

static void serve(tw_request *r) {
  const char *target = tw_req_header(r, "X-Amz-Target");
  char msg[1024];
  if (!target || strncmp(target, TARGET_PREFIX, strlen(TARGET_PREFIX))) {
    json_error(r, TW_ERR_UNKNOWN_OPERATION, NULL);
    return;
  }
  tw_err e = tw_req_authenticate(r, msg, sizeof msg);
  if (e != TW_ERR_OK) {
    json_error(r, e, msg);
    return;
  }
  if (r->too_large) {
    json_error(r, TW_ERR_LOGS_INVALID_PARAMETER, "The request is too large.");
    return;
  }
  const char *action = target + strlen(TARGET_PREFIX);
  snprintf(r->action, sizeof r->action, "%s", action);
  json_t *in;
  if (r->body.len == 0) {
    in = json_object();
  } else {
    json_error_t je;
    in = json_loadb(r->body.data, r->body.len, 0, &je);
    if (!json_is_object(in)) {
      json_decref(in);
      json_error(r, TW_ERR_MALFORMED_JSON, "Failed to parse the request body as a JSON object.");
      return;
    }
  }
  { /* the IAM check (auth/authorize.h): the log group (and stream), else "*" */
    char iam[96], res[1200] = "*", rn[1100], denied[1400];
    snprintf(iam, sizeof iam, "logs:%s", action);
    const char *group = json_string_value(json_object_get(in, "logGroupName"));
    const char *stream = json_string_value(json_object_get(in, "logStreamName"));
    if (group) {
      if (stream)
        snprintf(rn, sizeof rn, "log-group:%.500s:log-stream:%.500s", group, stream);
      else
        snprintf(rn, sizeof rn, "log-group:%.500s", group);
      tw_arn(r, "logs", rn, res, sizeof res);
    }
    if (!tw_authorize(r, iam, res, NULL, NULL, 0, denied, sizeof denied)) {
      json_decref(in);
      json_error(r, TW_ERR_LOGS_ACCESS_DENIED, denied);
      return;
    }
  }
  if (!r->app->logs) {
    json_decref(in);
    json_error(r, TW_ERR_LOGS_SERVICE_UNAVAILABLE, "Logs are not running.");
    return;
  }
  logs_ctx *x = calloc(1, sizeof *x);
  if (!x) {
    json_decref(in);
    json_error(r, TW_ERR_INTERNAL, NULL);
    return;
  }
  x->call.logs = r->app->logs;
  x->call.in = in;
  r->ctx = x;
  r->ctx_free = ctx_free;
  x->failures = tw_store_failures(r->app->store);
  if (tw_logs_run(&x->call, action)) {
    json_error(r, TW_ERR_UNKNOWN_OPERATION, NULL);
    return;
  }
  if (x->call.err != TW_ERR_OK) {
    render(r);
    return;
  }
  if (x->call.ticket || x->call.seen_ticket)
    tw_req_after_commits(r, x->call.ticket, x->call.seen_ticket, finish);
  else
    render(r);
}

const tw_service tw_logs_service = {
    .name = "logs",
    .scopes = {"logs"},
    .target_prefix = TARGET_PREFIX,
    .max_body = MAX_BODY,
    .serve = serve,
    .error = json_error,
};
