/* SQS JSON 1.0 protocol: POST / with X-Amz-Target: AmazonSQS.<Action>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "client/json_parse.h"
#include "core/json_out.h"
#include "core/log.h"
#include "sqs/sqs_front.h"

#define JSON_CT "application/x-amz-json-1.0"

static int is_auth_error(tw_err e) {
  return e == TW_ERR_MISSING_AUTH || e == TW_ERR_INCOMPLETE_SIGNATURE ||
         e == TW_ERR_SIGNATURE_MISMATCH || e == TW_ERR_INVALID_CLIENT_TOKEN ||
         e == TW_ERR_REQUEST_EXPIRED || e == TW_ERR_ACCESS_DENIED;
}

void tw_sqs_json_error(tw_request *r, tw_err e, const char *msg) {
  const tw_err_info *info = tw_err_get(e);
  char type[160];
  snprintf(type, sizeof type, "%s#%s",
           is_auth_error(e) ? "com.amazon.coral.service" : "com.amazonaws.sqs", info->json_type);
  json_t *o = json_pack("{s:s,s:s}", "__type", type, "message", msg && *msg ? msg : info->message);
  size_t len;
  char *body = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  len = strlen(body);
  tw_req_respond_owned(r, info->http_status, JSON_CT, body, len);
  char hdr[200];
  snprintf(hdr, sizeof hdr, "%s;%s", info->query_code, info->sender ? "Sender" : "Receiver");
  tw_req_add_header(r, "x-amzn-query-error", hdr);
}

static void render(tw_request *r) {
  tw_sqs_http_ctx *x = r->ctx;
  if (x->call.err != TW_ERR_OK) {
    tw_sqs_json_error(r, x->call.err, x->call.msg);
    return;
  }
  if (x->call.raw_done) { /* the action wrote its JSON itself */
    if (x->call.raw.overflow) {
      tw_sqs_json_error(r, TW_ERR_INTERNAL, "The response is too large.");
      return;
    }
    size_t len;
    char *body = tw_buf_detach(&x->call.raw, &len);
    tw_req_respond_owned(r, 200, JSON_CT, body, len);
    return;
  }
  tw_buf b;
  tw_buf_init(&b, 64u << 20);
  int rc = x->call.out ? tw_json_write(&b, x->call.out) : tw_buf_puts(&b, "{}");
  if (rc || b.overflow) { /* never a truncated 200 */
    tw_buf_free(&b);
    tw_sqs_json_error(r, TW_ERR_INTERNAL, "The response is too large.");
    return;
  }
  size_t len;
  char *body = tw_buf_detach(&b, &len);
  tw_req_respond_owned(r, 200, JSON_CT, body, len);
}

void tw_sqs_json_serve(tw_request *r, const char *action) {
  char msg[4096];
  if (action) snprintf(r->action, sizeof r->action, "%s", action);
  tw_err e = tw_req_authenticate(r, msg, sizeof msg);
  if (e != TW_ERR_OK) {
    tw_sqs_json_error(r, e, msg);
    return;
  }
  if (!action || !tw_sqs_find_action(action)) {
    tw_sqs_json_error(r, TW_ERR_UNKNOWN_OPERATION, NULL);
    return;
  }
  if (r->too_large) {
    tw_sqs_json_error(r, TW_ERR_REQUEST_TOO_LARGE, NULL);
    return;
  }
  json_t *in;
  if (r->body.len == 0) {
    in = json_object();
  } else if (!(in = tw_json_parse_object_fast(r->body.data, r->body.len))) {
    /* not the fast parser's: jansson accepts the input or says why not */
    json_error_t je;
    in = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!json_is_object(in)) {
      json_decref(in);
      if (strstr(je.text, "invalid Unicode")) { /* a lone surrogate in a string */
        tw_sqs_json_error(r, TW_ERR_INVALID_MESSAGE_CONTENTS, NULL);
        return;
      }
      tw_sqs_json_error(r, TW_ERR_MALFORMED_JSON,
                        "Failed to parse the request body as a JSON object.");
      return;
    }
  }
  if (!tw_sqs_authorize(r, r->action, in, msg, sizeof msg)) {
    json_decref(in);
    tw_sqs_json_error(r, TW_ERR_ACCESS_DENIED, msg);
    return;
  }
  tw_sqs_http_ctx *x = tw_sqs_http_ctx_new(r, in, r->action, render);
  x->call.raw_json = 1;
  tw_buf_init(&x->call.raw, 64u << 20);
  tw_sqs_http_run(r);
}
