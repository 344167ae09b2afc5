/* SNS over HTTP: the query protocol (form-encoded Action=...&Version=2010-03-31
 * with flattened parameters, XML answers), the signing certificate under
 * /_/sns/, and the unsigned links notifications carry (UnsubscribeURL,
 * SubscribeURL).
 *
 * The flattened form becomes botocore's shapes: "X.member.N.Y" lists,
 * "X.entry.N.key/value" (and ".Name/.Value") maps. Answers render the other
 * way: arrays as <member>, the Attributes map as <entry><key/><value/>. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/query_form.h"
#include "app.h"
#include "auth/authorize.h"
#include "core/buf.h"
#include "core/trace.h"
#include "sns/sns_internal.h"

/* --- request: flattened form -> nested JSON ------------------------------------- */

static int is_index(const char *t) {
  if (!*t) return 0;
  for (; *t; t++)
    if (!isdigit((unsigned char)*t)) return 0;
  return 1;
}

/* a.b.1.c = v as nested objects (numeric parts stay keys until fix_shapes) */
static void insert_path(json_t *root, const char *key, json_t *val) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", key);
  json_t *cur = root;
  char *save = NULL;
  char *tok = strtok_r(buf, ".", &save);
  while (tok) {
    char *next = strtok_r(NULL, ".", &save);
    if (!next) {
      json_object_set_new(cur, tok, val);
      return;
    }
    json_t *child = json_object_get(cur, tok);
    if (!json_is_object(child)) {
      child = json_object();
      json_object_set_new(cur, tok, child);
    }
    cur = child;
    tok = next;
  }
  json_decref(val);
}

static int cmp_index(const void *a, const void *b) {
  long x = atol(*(const char *const *)a), y = atol(*(const char *const *)b);
  return x < y ? -1 : x > y;
}

/* the numeric keys of o, in index order; NULL when o has another key */
static const char **indexed_keys(json_t *o, size_t *n) {
  size_t cap = json_object_size(o), i = 0;
  const char **keys = malloc((cap + 1) * sizeof *keys);
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    if (!is_index(k)) {
      free(keys);
      return NULL;
    }
    keys[i++] = k;
  }
  qsort(keys, i, sizeof *keys, cmp_index);
  *n = i;
  return keys;
}

static json_t *fix_shapes(json_t *v);

/* {"member": {"1": a, "2": b}} -> [a, b]; {"entry": {"1": {"key": k, "value":
 * v}}} (or Name/Value) -> {k: v}; NULL when o is neither. */
static json_t *collection(json_t *o) {
  if (json_object_size(o) != 1) return NULL;
  json_t *members = json_object_get(o, "member"), *entries = json_object_get(o, "entry");
  size_t n = 0;
  if (json_is_object(members)) {
    const char **keys = indexed_keys(members, &n);
    if (!keys) return NULL;
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
      json_array_append_new(out, fix_shapes(json_object_get(members, keys[i])));
    free(keys);
    return out;
  }
  if (json_is_object(entries)) {
    const char **keys = indexed_keys(entries, &n);
    if (!keys) return NULL;
    json_t *out = json_object();
    for (size_t i = 0; i < n; i++) {
      json_t *e = json_object_get(entries, keys[i]);
      json_t *k = json_object_get(e, "key");
      json_t *v = json_object_get(e, "value");
      if (!k) {
        k = json_object_get(e, "Name");
        v = json_object_get(e, "Value");
      }
      if (json_is_string(k) && v) json_object_set_new(out, json_string_value(k), fix_shapes(v));
    }
    free(keys);
    return out;
  }
  return NULL;
}

/* New reference: v with every collection rebuilt. */
static json_t *fix_shapes(json_t *v) {
  if (!json_is_object(v)) return json_incref(v);
  json_t *c = collection(v);
  if (c) return c;
  json_t *out = json_object();
  const char *k;
  json_t *x;
  json_object_foreach(v, k, x) json_object_set_new(out, k, fix_shapes(x));
  return out;
}

static void add_param(void *root, const char *k, const char *v, size_t vlen) {
  json_t *val = json_stringn(v, vlen);
  if (val) insert_path(root, k, val); /* not UTF-8: as if absent */
}

static void parse_form(json_t *root, const char *s, size_t n, char *action, size_t alen) {
  tw_query_form(s, n, action, alen, add_param, root);
}

/* --- response: JSON shape -> XML --------------------------------------------------- */

static void xml_value(tw_buf *b, json_t *v, const char *key);

static void xml_element(tw_buf *b, const char *tag, json_t *v) {
  tw_buf_printf(b, "<%s>", tag);
  xml_value(b, v, tag);
  tw_buf_printf(b, "</%s>", tag);
}

static void xml_value(tw_buf *b, json_t *v, const char *key) {
  size_t i;
  json_t *x;
  const char *k;
  switch (json_typeof(v)) {
    case JSON_STRING:
      tw_buf_xml_escape(b, json_string_value(v), json_string_length(v));
      break;
    case JSON_INTEGER:
      tw_buf_printf(b, "%lld", (long long)json_integer_value(v));
      break;
    case JSON_TRUE:
      tw_buf_puts(b, "true");
      break;
    case JSON_FALSE:
      tw_buf_puts(b, "false");
      break;
    case JSON_ARRAY:
      json_array_foreach(v, i, x) xml_element(b, "member", x);
      break;
    case JSON_OBJECT:
      if (key && !strcmp(key, "Attributes")) { /* the one map in SNS answers */
        json_object_foreach(v, k, x) {
          tw_buf_puts(b, "<entry><key>");
          tw_buf_xml_escape(b, k, strlen(k));
          tw_buf_puts(b, "</key>");
          xml_element(b, "value", x);
          tw_buf_puts(b, "</entry>");
        }
      } else {
        json_object_foreach(v, k, x) xml_element(b, k, x);
      }
      break;
    default:
      break;
  }
}

static void respond_error(tw_request *r, tw_err e, const char *msg) {
  const tw_err_info *info = tw_err_get(e);
  tw_buf b;
  tw_buf_init(&b, 64 * 1024);
  tw_buf_printf(&b,
                "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"" SNS_XMLNS
                "\">\n  <Error>\n    <Type>%s</Type>\n    <Code>",
                info->sender ? "Sender" : "Receiver");
  tw_buf_xml_escape(&b, info->query_code, strlen(info->query_code));
  tw_buf_puts(&b, "</Code>\n    <Message>");
  const char *m = msg && *msg ? msg : info->message;
  tw_buf_xml_escape(&b, m, strlen(m));
  tw_buf_printf(&b, "</Message>\n  </Error>\n  <RequestId>%s</RequestId>\n</ErrorResponse>\n",
                r->request_id);
  size_t len;
  char *body = tw_buf_detach(&b, &len);
  tw_req_respond_owned(r, info->http_status, "text/xml", body, len);
}

typedef struct {
  tw_sns_call call;
  json_t *in;
  const tw_sns_action *action;
} sns_ctx;

static void ctx_free(void *p) {
  sns_ctx *x = p;
  json_decref(x->in);
  json_decref(x->call.out);
  free(x);
}

static void render(tw_request *r) {
  sns_ctx *x = r->ctx;
  /* its own change failed, or a failure since it looked may have undone what
   * it reports */
  if (r->commit_failed || tw_store_failures(x->call.sns->store) != x->call.failures) {
    respond_error(r, TW_ERR_SERVICE_UNAVAILABLE, NULL);
    return;
  }
  if (x->call.err != TW_ERR_OK) {
    respond_error(r, x->call.err, x->call.msg);
    return;
  }
  const char *a = x->action->name;
  tw_buf b;
  tw_buf_init(&b, 64u << 20);
  tw_buf_printf(&b, "<?xml version=\"1.0\"?>\n<%sResponse xmlns=\"" SNS_XMLNS "\">", a);
  if (x->action->has_result) {
    tw_buf_printf(&b, "<%sResult>", a);
    if (x->call.out) xml_value(&b, x->call.out, NULL);
    tw_buf_printf(&b, "</%sResult>", a);
  }
  tw_buf_printf(&b, "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>\n",
                r->request_id, a);
  if (b.overflow) { /* never a truncated 200 */
    tw_buf_free(&b);
    respond_error(r, TW_ERR_INTERNAL, "The response is too large.");
    return;
  }
  size_t len;
  char *body = tw_buf_detach(&b, &len);
  tw_req_respond_owned(r, 200, "text/xml", body, len);
}

/* --- the service --------------------------------------------------------------------- */

static int is_signed(const tw_request *r) {
  const char *auth = tw_req_header(r, "Authorization");
  return (auth && *auth) || strstr(r->query, "X-Amz-Credential=") || strstr(r->query, "Signature=");
}

static int has_param(const char *s, size_t n, const char *param) {
  size_t pl = strlen(param);
  for (size_t i = 0; i + pl <= n; i++)
    if ((i == 0 || s[i - 1] == '&') && !memcmp(s + i, param, pl) &&
        (i + pl == n || s[i + pl] == '&'))
      return 1;
  return 0;
}

/* The links SNS hands out work without a signature, as AWS's do. */
static int is_link(const tw_request *r) {
  size_t n = strlen(r->query);
  return has_param(r->query, n, "Action=Unsubscribe") ||
         has_param(r->query, n, "Action=ConfirmSubscription");
}

/* Only at the root, where AWS's links point: a bucket path stays S3's. */
static int claims(const tw_request *r) {
  return !strcmp(r->path, "/") && !is_signed(r) && is_link(r);
}

static void serve_cert(tw_request *r) {
  tw_sns *s = r->app->sns;
  snprintf(r->action, sizeof r->action, "GetSigningCertificate");
  if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")) {
    respond_error(r, TW_ERR_METHOD_NOT_ALLOWED, NULL);
    return;
  }
  if (strcmp(r->path, s->cert_path)) {
    respond_error(r, TW_ERR_NOT_FOUND, "No such certificate.");
    return;
  }
  tw_req_respond(r, 200, "application/x-x509-ca-cert", s->cert_pem, s->cert_len);
}

/* The IAM check (auth/authorize.h): "sns:" + the action on the topic it
 * names (TopicArn, TargetArn, a subscription's topic, CreateTopic's Name;
 * "*" for the listings and platform calls), with the topic's Policy as the
 * resource policy (sns_topic.policy: NULL for the default one). Answers
 * AuthorizationError and frees in when denied. */
static int authorize(tw_request *r, json_t *in) {
  char action[96], res[512] = "*", msg[1024];
  snprintf(action, sizeof action, "sns:%s", r->action);
  const char *topic = json_string_value(json_object_get(in, "TopicArn"));
  if (!topic) topic = json_string_value(json_object_get(in, "TargetArn"));
  if (!topic) topic = json_string_value(json_object_get(in, "ResourceArn"));
  const char *sub = json_string_value(json_object_get(in, "SubscriptionArn"));
  const char *name = json_string_value(json_object_get(in, "Name"));
  if (topic && !strncmp(topic, "arn:", 4)) {
    snprintf(res, sizeof res, "%s", topic);
  } else if (sub && !strncmp(sub, "arn:", 4)) {
    snprintf(res, sizeof res, "%s", sub);
    char *last = strrchr(res, ':'); /* a subscription ARN is TOPIC_ARN:ID */
    if (last && last - res > 20) *last = 0;
  } else if (name && !strcmp(r->action, "CreateTopic")) {
    tw_arn(r, "sns", name, res, sizeof res);
  }
  tw_sns *s = r->app->sns;
  sns_lock(s); /* the compiled policy is the topic's: evaluated in place */
  sns_topic *t = strncmp(res, "arn:aws:sns:", 12) ? NULL : sns_topic_get(s, res);
  int ok = tw_authorize(r, action, res, t ? t->policy : NULL, NULL, 0, msg, sizeof msg);
  sns_unlock(s);
  if (ok) return 1;
  json_decref(in);
  respond_error(r, TW_ERR_SNS_AUTHORIZATION_ERROR, msg);
  return 0;
}

static void serve(tw_request *r) {
  if (!strncmp(r->path, "/_/sns/", 7)) {
    serve_cert(r);
    return;
  }
  json_t *in = json_object();
  r->action[0] = 0;
  parse_form(in, r->query, strlen(r->query), r->action, sizeof r->action);
  if (r->body.len) parse_form(in, r->body.data, r->body.len, r->action, sizeof r->action);
  int anonymous = !is_signed(r) &&
                  (!strcmp(r->action, "Unsubscribe") || !strcmp(r->action, "ConfirmSubscription"));
  if (!anonymous) {
    char msg[4096];
    tw_err e = tw_req_authenticate(r, msg, sizeof msg);
    if (e != TW_ERR_OK) {
      json_decref(in);
      respond_error(r, e, msg);
      return;
    }
  }
  if (r->too_large) {
    json_decref(in);
    respond_error(r, TW_ERR_REQUEST_TOO_LARGE, NULL);
    return;
  }
  /* cluster mode: another node's committed changes first (the topic's policy
   * decides the authorization) */
  if (sns_cluster_sync(r->app->sns)) {
    json_decref(in);
    respond_error(r, TW_ERR_SERVICE_UNAVAILABLE, NULL);
    return;
  }
  const tw_sns_action *a = tw_sns_find_action(r->action);
  if (!a) {
    char m[300];
    if (!r->action[0])
      snprintf(m, sizeof m, "The request names no Action.");
    else
      snprintf(m, sizeof m, "Could not find operation %.100s for version 2010-03-31", r->action);
    json_decref(in);
    respond_error(r, TW_ERR_INVALID_ACTION, m);
    return;
  }
  if (!anonymous && !authorize(r, in)) return;
  json_t *fixed = fix_shapes(in);
  json_decref(in);
  sns_ctx *x = calloc(1, sizeof *x);
  x->in = fixed;
  x->action = a;
  x->call.sns = r->app->sns;
  x->call.action = a->name;
  x->call.in = fixed;
  x->call.principal = r->principal[0] ? r->principal : NULL;
  x->call.anonymous = anonymous;
  x->call.cluster_synced = 1;
  tw_trace_header(tw_req_header(r, "X-Amzn-Trace-Id"), tw_req_header(r, "traceparent"),
                  x->call.trace, sizeof x->call.trace);
  r->ctx = x;
  r->ctx_free = ctx_free;
  tw_sns_execute(&x->call);
  if (x->call.ticket || x->call.seen_ticket)
    tw_req_after_commits(r, x->call.ticket, x->call.seen_ticket, render);
  else
    render(r);
}

static void error(tw_request *r, tw_err e, const char *msg) {
  respond_error(r, e, msg);
}

const tw_service tw_sns_service = {
    .name = "sns",
    .path_prefix = "/_/sns/",
    .scopes = {"sns"},
    .claims = claims,
    .serve = serve,
    .error = error,
};
