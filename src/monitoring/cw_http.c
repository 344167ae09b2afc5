/* The CloudWatch service on the HTTP server: SigV4 scope "monitoring",
 * X-Amz-Target "GraniteServiceVersion20100801.*" (JSON 1.0, what boto3 >= 1.42
 * and the JS SDK v3 send) and the query protocol's form POSTs (older SDKs and
 * aws-cli v1). Bodies may come gzip-compressed (PutMetricData's request
 * compression). A call runs once the body is in; a put answers after the
 * store committed its batch, a listing after the batch holding what it saw. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "app.h"
#include "auth/authorize.h"
#include "core/json_out.h"
#include "core/log.h"
#include "monitoring/cw_alarms.h"
#include "monitoring/cw_front.h"

#define JSON_CT "application/x-amz-json-1.0"
#define CBOR_PATH "/service/GraniteServiceVersion20100801/operation/"

typedef struct {
  tw_cw_call call;
  int query; /* the query protocol (XML answers) */
  char action[64];
  uint64_t failures; /* the store's failure count when the call looked */
} cw_ctx;

static void ctx_free(void *p) {
  cw_ctx *x = p;
  json_decref(x->call.in);
  json_decref(x->call.out);
  json_decref(x->call.err_extra);
  free(x);
}

static int is_auth_error(tw_err e) {
  return e == TW_ERR_MISSING_AUTH || e == TW_ERR_INCOMPLETE_SIGNATURE ||
         e == TW_ERR_SIGNATURE_MISMATCH || e == TW_ERR_INVALID_CLIENT_TOKEN ||
         e == TW_ERR_REQUEST_EXPIRED;
}

/* The engine's generic failures in CloudWatch's words. */
static tw_err cw_err(tw_err e) {
  return e == TW_ERR_INTERNAL ? TW_ERR_CW_INTERNAL_FAULT : e;
}

void tw_cw_json_error(tw_request *r, tw_err e, const char *msg) {
  e = cw_err(e);
  const tw_err_info *info = tw_err_get(e);
  char type[160];
  snprintf(type, sizeof type, "%s#%s",
           is_auth_error(e) ? "com.amazon.coral.service" : "com.amazonaws.cloudwatch",
           info->json_type);
  json_t *o = json_pack("{s:s,s:s}", "__type", type, "message", msg && *msg ? msg : info->message);
  char *body = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  tw_req_respond_owned(r, info->http_status, JSON_CT, body, strlen(body));
  /* awsQueryCompatible: SDKs take the query protocol's error code from here */
  char hdr[200];
  snprintf(hdr, sizeof hdr, "%s;%s", info->query_code, info->sender ? "Sender" : "Receiver");
  tw_req_add_header(r, "x-amzn-query-error", hdr);
}

void tw_cw_query_error(tw_request *r, tw_err e, const char *msg) {
  e = cw_err(e);
  const tw_err_info *info = tw_err_get(e);
  tw_buf b;
  tw_buf_init(&b, 64 * 1024);
  tw_buf_printf(&b,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"" TW_CW_XMLNS
                "\"><Error><Type>%s</Type><Code>%s</Code><Message>",
                info->sender ? "Sender" : "Receiver", info->query_code);
  const char *m = msg && *msg ? msg : info->message;
  tw_buf_xml_escape(&b, m, strlen(m));
  tw_buf_printf(&b, "</Message></Error><RequestId>%s</RequestId></ErrorResponse>", r->request_id);
  size_t len;
  char *body = tw_buf_detach(&b, &len);
  tw_req_respond_owned(r, info->http_status, "text/xml", body, len);
}

/* A JSON error with extra members (DashboardValidationMessages). */
static void json_error_with(tw_request *r, tw_err e, const char *msg, json_t *extra) {
  e = cw_err(e);
  const tw_err_info *info = tw_err_get(e);
  char type[160];
  snprintf(type, sizeof type, "com.amazonaws.cloudwatch#%s", info->json_type);
  json_t *o = json_pack("{s:s,s:s}", "__type", type, "message", msg && *msg ? msg : info->message);
  json_object_update(o, extra);
  char *body = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  tw_req_respond_owned(r, info->http_status, JSON_CT, body, strlen(body));
  char hdr[200];
  snprintf(hdr, sizeof hdr, "%s;%s", info->query_code, info->sender ? "Sender" : "Receiver");
  tw_req_add_header(r, "x-amzn-query-error", hdr);
}

static int wants_query(const tw_request *r) {
  return !tw_req_header(r, "X-Amz-Target");
}

static void error(tw_request *r, tw_err e, const char *msg) {
  if (wants_query(r))
    tw_cw_query_error(r, e, msg);
  else
    tw_cw_json_error(r, e, msg);
}

static void fail(tw_request *r, int query, tw_err e, const char *msg) {
  if (query)
    tw_cw_query_error(r, e, msg);
  else
    tw_cw_json_error(r, e, msg);
}

/* Inflates a gzip (or zlib) body in place of the raw one. 0, or -1 with msg. */
static int inflate_body(tw_request *r, tw_err *e, char *msg, size_t msglen) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 15 + 32) != Z_OK) { /* 32: gzip or zlib header */
    *e = TW_ERR_INTERNAL;
    snprintf(msg, msglen, "Cannot inflate the request body.");
    return -1;
  }
  tw_buf out;
  tw_buf_init(&out, TW_CW_MAX_INFLATED);
  z.next_in = (Bytef *)r->body.data;
  z.avail_in = (uInt)r->body.len;
  int rc = Z_OK;
  char chunk[16384];
  while (rc != Z_STREAM_END) {
    z.next_out = (Bytef *)chunk;
    z.avail_out = sizeof chunk;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    size_t got = sizeof chunk - z.avail_out;
    if (got && tw_buf_append(&out, chunk, got)) {
      rc = Z_MEM_ERROR;
      break;
    }
    if (rc == Z_OK && got == 0 && z.avail_in == 0) { /* truncated stream */
      rc = Z_DATA_ERROR;
      break;
    }
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) {
    int big = out.overflow;
    tw_buf_free(&out);
    *e = big ? TW_ERR_REQUEST_TOO_LARGE : TW_ERR_INVALID_PARAMETER_VALUE;
    snprintf(msg, msglen,
             big ? "The request body inflates to more than %u bytes."
                 : "The request body is not valid gzip (Content-Encoding: gzip).",
             TW_CW_MAX_INFLATED);
    return -1;
  }
  tw_buf_free(&r->body);
  r->body = out;
  return 0;
}

static int has_gzip(const tw_request *r) {
  const char *ce = tw_req_header(r, "Content-Encoding");
  if (!ce) return 0;
  /* "gzip" or a list ending with it ("aws-chunked, gzip" is not used here) */
  return strcasestr(ce, "gzip") != NULL;
}

/* JSON with doubles written the shortest exact way and always as reals
 * ("5050.0"), as AWS writes them. */
static int write_json(tw_buf *b, const json_t *v) {
  char num[64];
  switch (json_typeof(v)) {
    case JSON_OBJECT: {
      const char *k;
      json_t *x;
      int rc = tw_buf_putc(b, '{'), first = 1;
      json_object_foreach((json_t *)v, k, x) {
        if (!first) rc |= tw_buf_putc(b, ',');
        first = 0;
        rc |= tw_json_write_string(b, k, strlen(k));
        rc |= tw_buf_putc(b, ':');
        rc |= write_json(b, x);
      }
      return rc | tw_buf_putc(b, '}');
    }
    case JSON_ARRAY: {
      size_t i;
      json_t *x;
      int rc = tw_buf_putc(b, '[');
      json_array_foreach((json_t *)v, i, x) {
        if (i) rc |= tw_buf_putc(b, ',');
        rc |= write_json(b, x);
      }
      return rc | tw_buf_putc(b, ']');
    }
    case JSON_REAL:
      tw_cw_format_double(json_real_value(v), num, sizeof num);
      if (!strpbrk(num, ".eEn")) strcat(num, ".0");
      return tw_buf_puts(b, num);
    default:
      return tw_json_write(b, v);
  }
}

static void render(tw_request *r) {
  cw_ctx *x = r->ctx;
  if (x->call.err != TW_ERR_OK) {
    if (x->call.err_extra && !x->query)
      json_error_with(r, x->call.err, x->call.msg, x->call.err_extra);
    else
      fail(r, x->query, x->call.err, x->call.msg);
    return;
  }
  tw_buf b;
  tw_buf_init(&b, 64u << 20);
  int rc;
  if (x->query)
    rc = tw_cw_render_xml(&b, x->action, x->call.out, r->request_id);
  else
    rc = x->call.out ? write_json(&b, x->call.out) : tw_buf_puts(&b, "{}");
  if (rc || b.overflow) { /* never a truncated 200 */
    tw_buf_free(&b);
    fail(r, x->query, TW_ERR_INTERNAL, "The response is too large.");
    return;
  }
  size_t len;
  char *body = tw_buf_detach(&b, &len);
  tw_req_respond_owned(r, 200, x->query ? "text/xml" : JSON_CT, body, len);
}

/* PostgreSQL could not answer (cluster mode): 503 in the protocol's shape. */
static void render_unavailable(tw_request *r) {
  cw_ctx *x = r->ctx;
  x->call.err = TW_ERR_SERVICE_UNAVAILABLE;
  snprintf(x->call.msg, sizeof x->call.msg, "The store cannot be reached; try again.");
  render(r);
}

static void finish(tw_request *r) {
  cw_ctx *x = r->ctx;
  /* its own change failed, or a failure since it looked may have undone what
   * it reports */
  if (r->commit_failed || tw_store_failures(x->call.store) != x->failures) {
    json_decref(x->call.out);
    x->call.out = NULL;
    x->call.err = TW_ERR_SERVICE_UNAVAILABLE;
    snprintf(x->call.msg, sizeof x->call.msg, "The store could not make the change durable.");
  }
  render(r);
}

static void serve(tw_request *r) {
  const char *target = tw_req_header(r, "X-Amz-Target");
  int query = !target;
  char msg[1024];
  if (!strncmp(r->path, CBOR_PATH, strlen(CBOR_PATH))) {
    snprintf(r->action, sizeof r->action, "%.60s", r->path + strlen(CBOR_PATH));
    tw_cw_json_error(r, TW_ERR_UNKNOWN_OPERATION,
                     "tweedle serves CloudWatch over JSON 1.0 (X-Amz-Target) and the query "
                     "protocol, not Smithy RPC v2 CBOR.");
    return;
  }
  if (target && strncmp(target, TW_CW_TARGET_PREFIX, strlen(TW_CW_TARGET_PREFIX))) {
    tw_cw_json_error(r, TW_ERR_UNKNOWN_OPERATION, NULL);
    return;
  }
  tw_err e = tw_req_authenticate(r, msg, sizeof msg);
  if (e != TW_ERR_OK) {
    fail(r, query, e, msg);
    return;
  }
  if (r->too_large) {
    fail(r, query, TW_ERR_REQUEST_TOO_LARGE, "The request is larger than 1 MB.");
    return;
  }
  if (has_gzip(r) && r->body.len && inflate_body(r, &e, msg, sizeof msg)) {
    fail(r, query, e, msg);
    return;
  }
  json_t *in;
  char action[64] = "";
  if (query) {
    in = tw_cw_query_to_json(r->body.data ? r->body.data : "", r->body.len, action, sizeof action);
    if (!action[0] && r->query[0]) { /* GET-style: Action in the URL */
      json_decref(in);
      in = tw_cw_query_to_json(r->query, strlen(r->query), action, sizeof action);
    }
    if (!action[0]) {
      json_decref(in);
      tw_cw_query_error(r, TW_ERR_INVALID_ACTION, "The request names no Action.");
      return;
    }
  } else {
    snprintf(action, sizeof action, "%s", target + strlen(TW_CW_TARGET_PREFIX));
    if (r->body.len == 0) {
      in = json_object();
    } else {
      json_error_t je;
      in = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &je);
      if (!json_is_object(in)) {
        json_decref(in);
        tw_cw_json_error(r, TW_ERR_MALFORMED_JSON,
                         "Failed to parse the request body as a JSON object.");
        return;
      }
    }
  }
  snprintf(r->action, sizeof r->action, "%s", action);
  const tw_cw_op *op = tw_cw_find_op(action);
  if (!op) {
    json_decref(in);
    if (query) {
      snprintf(msg, sizeof msg, "Could not find operation %.60s for version 2010-08-01", action);
      tw_cw_query_error(r, TW_ERR_INVALID_ACTION, msg);
    } else {
      tw_cw_json_error(r, TW_ERR_UNKNOWN_OPERATION, NULL);
    }
    return;
  }
  { /* the IAM check (auth/authorize.h): an alarm's ARN, else "*" */
    char iam[96], res[400] = "*";
    snprintf(iam, sizeof iam, "cloudwatch:%s", action);
    const char *alarm = json_string_value(json_object_get(in, "AlarmName"));
    if (alarm) {
      char rn[300];
      snprintf(rn, sizeof rn, "alarm:%s", alarm);
      tw_arn(r, "cloudwatch", rn, res, sizeof res);
    }
    if (!tw_authorize(r, iam, res, NULL, NULL, 0, msg, sizeof msg)) {
      json_decref(in);
      fail(r, query, TW_ERR_ACCESS_DENIED, msg);
      return;
    }
  }
  if (!r->app->metrics) {
    json_decref(in);
    fail(r, query, TW_ERR_SERVICE_UNAVAILABLE, "Metrics are not running.");
    return;
  }
  cw_ctx *x = calloc(1, sizeof *x);
  if (!x) {
    json_decref(in);
    fail(r, query, TW_ERR_INTERNAL, NULL);
    return;
  }
  x->query = query;
  snprintf(x->action, sizeof x->action, "%s", action);
  x->call.metrics = r->app->metrics;
  x->call.store = r->app->pg_store ? r->app->pg_store : r->app->store; /* cluster: PostgreSQL's */
  x->call.account = r->app->cfg.account;
  x->call.alarms = r->app->alarms;
  x->call.region = r->app->cfg.region;
  x->call.in = in;
  r->ctx = x;
  r->ctx_free = ctx_free;
  x->failures = tw_store_failures(x->call.store);
  /* cluster mode: alarms and dashboards as committed by every node */
  int alarm_op = tw_cw_alarm_find_op(action) != NULL;
  if (alarm_op && tw_alarms_sync(r->app->alarms)) {
    render_unavailable(r);
    return;
  }
  if (alarm_op) tw_alarms_call_begin(r->app->alarms);
  x->call.err = op->run(&x->call);
  if (alarm_op) tw_alarms_call_end(r->app->alarms, x->call.ticket);
  if (x->call.err != TW_ERR_OK) {
    render(r);
    return;
  }
  if (x->call.ticket || x->call.seen_ticket)
    tw_req_after_commits(r, x->call.ticket, x->call.seen_ticket, finish);
  else
    render(r);
}

const tw_service tw_cw_service = {
    .name = "monitoring",
    .scopes = {"monitoring"},
    .target_prefix = TW_CW_TARGET_PREFIX,
    .max_body = TW_CW_MAX_BODY,
    .serve = serve,
    .error = error,
};
