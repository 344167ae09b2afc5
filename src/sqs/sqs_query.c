/* SQS query protocol: form-encoded Action=...&Version=2012-11-05 requests with
 * flattened parameters, answered in XML. The flattened form is rebuilt into the
 * JSON protocol's shape so both protocols share every handler. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/query_form.h"
#include "app.h"
#include "core/buf.h"
#include "sqs/sqs_front.h"

#define XMLNS "http://queue.amazonaws.com/doc/2012-11-05/"

/* --- request: flattened form -> nested JSON -------------------------------- */

static int is_index(const char *t) {
  if (!*t) return 0;
  for (; *t; t++)
    if (!isdigit((unsigned char)*t)) return 0;
  return 1;
}

/* Inserts a.b.1.c = v as nested objects; numeric parts stay object keys for now. */
static void insert_path(json_t *root, const char *key, const char *val, size_t vlen) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", key);
  json_t *cur = root;
  char *save = NULL;
  char *tok = strtok_r(buf, ".", &save);
  while (tok) {
    char *next = strtok_r(NULL, ".", &save);
    if (!next) {
      json_object_set_new(cur, tok, json_stringn(val, vlen));
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
}

static int cmp_index(const void *a, const void *b) {
  long x = atol(*(const char *const *)a), y = atol(*(const char *const *)b);
  return x < y ? -1 : x > y;
}

/* {"1": a, "2": b} -> [a, b] in index order */
static json_t *as_list(json_t *o) {
  json_t *out = json_array();
  if (!json_is_object(o)) return out;
  size_t n = json_object_size(o), i = 0;
  const char **keys = malloc((n + 1) * sizeof *keys);
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) if (is_index(k)) keys[i++] = k;
  qsort(keys, i, sizeof *keys, cmp_index);
  for (size_t j = 0; j < i; j++) json_array_append(out, json_object_get(o, keys[j]));
  free(keys);
  return out;
}

static void fix_shapes(json_t *o);

static json_t *name_value_map(json_t *o, const char *kname, const char *vname, int nested_value) {
  json_t *list = as_list(o), *out = json_object();
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    const char *n = json_string_value(json_object_get(e, kname));
    json_t *v = json_object_get(e, vname);
    if (!n || !v) continue;
    json_object_set_new(out, n,
                        nested_value || json_is_string(v) ? json_incref(v) : json_string(""));
  }
  json_decref(list);
  return out;
}

static void rename_list(json_t *o, const char *from, const char *to) {
  json_t *v = json_object_get(o, from);
  if (!v) return;
  json_object_set_new(o, to, as_list(v));
  json_object_del(o, from);
}

static void fix_shapes(json_t *o) {
  json_t *v;
  /* botocore sends an empty list as a bare "Name=" */
  if (json_is_string(json_object_get(o, "Entries")))
    json_object_set_new(o, "Entries", json_array());
  if ((v = json_object_get(o, "Attribute"))) {
    json_object_set_new(o, "Attributes", name_value_map(v, "Name", "Value", 0));
    json_object_del(o, "Attribute");
  }
  if ((v = json_object_get(o, "MessageAttribute"))) {
    json_object_set_new(o, "MessageAttributes", name_value_map(v, "Name", "Value", 1));
    json_object_del(o, "MessageAttribute");
  }
  if ((v = json_object_get(o, "MessageSystemAttribute"))) {
    json_object_set_new(o, "MessageSystemAttributes", name_value_map(v, "Name", "Value", 1));
    json_object_del(o, "MessageSystemAttribute");
  }
  if ((v = json_object_get(o, "Tag"))) {
    json_object_set_new(o, "Tags", name_value_map(v, "Key", "Value", 0));
    json_object_del(o, "Tag");
  }
  rename_list(o, "AttributeName", "AttributeNames");
  rename_list(o, "MessageAttributeName", "MessageAttributeNames");
  rename_list(o, "MessageSystemAttributeName", "MessageSystemAttributeNames");
  rename_list(o, "TagKey", "TagKeys");
  rename_list(o, "AWSAccountId", "AWSAccountIds");
  rename_list(o, "ActionName", "Actions");
  const char *batch[] = {"SendMessageBatchRequestEntry", "DeleteMessageBatchRequestEntry",
                         "ChangeMessageVisibilityBatchRequestEntry"};
  for (int i = 0; i < 3; i++) {
    if ((v = json_object_get(o, batch[i]))) {
      json_t *list = as_list(v);
      size_t j;
      json_t *e;
      json_array_foreach(list, j, e) fix_shapes(e);
      json_object_set_new(o, "Entries", list);
      json_object_del(o, batch[i]);
    }
  }
}

static void add_param(void *root, const char *k, const char *v, size_t vlen) {
  insert_path(root, k, v, vlen);
}

static void parse_form(json_t *root, const char *s, size_t n, char *action, size_t alen) {
  tw_query_form(s, n, action, alen, add_param, root);
}

json_t *tw_sqs_query_parse(const char *s, size_t n, char *action, size_t alen) {
  json_t *in = json_object();
  parse_form(in, s, n, action, alen);
  fix_shapes(in);
  return in;
}

/* --- response: JSON shape -> XML -------------------------------------------- */

static void xml_text(tw_buf *b, const char *tag, const char *v) {
  tw_buf_printf(b, "<%s>", tag);
  tw_buf_xml_escape(b, v, strlen(v));
  tw_buf_printf(b, "</%s>", tag);
}

static void xml_members(tw_buf *b, json_t *o, const char *action);

static void xml_scalar(tw_buf *b, const char *tag, json_t *v) {
  if (json_is_string(v)) {
    tw_buf_printf(b, "<%s>", tag);
    tw_buf_xml_escape(b, json_string_value(v), json_string_length(v));
    tw_buf_printf(b, "</%s>", tag);
  } else if (json_is_integer(v)) {
    tw_buf_printf(b, "<%s>%lld</%s>", tag, (long long)json_integer_value(v), tag);
  } else if (json_is_boolean(v)) {
    tw_buf_printf(b, "<%s>%s</%s>", tag, json_is_true(v) ? "true" : "false", tag);
  } else if (json_is_object(v)) {
    tw_buf_printf(b, "<%s>", tag);
    xml_members(b, v, NULL);
    tw_buf_printf(b, "</%s>", tag);
  }
}

static void xml_member(tw_buf *b, const char *k, json_t *v, const char *action) {
  const char *kk;
  json_t *x;
  size_t i;
  if (!strcmp(k, "Attributes") && json_is_object(v)) {
    json_object_foreach(v, kk, x) {
      tw_buf_puts(b, "<Attribute>");
      xml_text(b, "Name", kk);
      xml_scalar(b, "Value", x);
      tw_buf_puts(b, "</Attribute>");
    }
  } else if (!strcmp(k, "Tags") && json_is_object(v)) {
    json_object_foreach(v, kk, x) {
      tw_buf_puts(b, "<Tag>");
      xml_text(b, "Key", kk);
      xml_scalar(b, "Value", x);
      tw_buf_puts(b, "</Tag>");
    }
  } else if (!strcmp(k, "MessageAttributes") && json_is_object(v)) {
    json_object_foreach(v, kk, x) {
      tw_buf_puts(b, "<MessageAttribute>");
      xml_text(b, "Name", kk);
      xml_scalar(b, "Value", x);
      tw_buf_puts(b, "</MessageAttribute>");
    }
  } else if ((!strcmp(k, "QueueUrls") || !strcmp(k, "queueUrls")) && json_is_array(v)) {
    json_array_foreach(v, i, x) xml_scalar(b, "QueueUrl", x);
  } else if (json_is_array(v)) {
    char tag[128];
    if (!strcmp(k, "Messages"))
      snprintf(tag, sizeof tag, "Message");
    else if (!strcmp(k, "Failed"))
      snprintf(tag, sizeof tag, "BatchResultErrorEntry");
    else if (!strcmp(k, "Successful") || !strcmp(k, "Results"))
      snprintf(tag, sizeof tag, "%sResultEntry", action ? action : "");
    else
      snprintf(tag, sizeof tag, "%s", k);
    json_array_foreach(v, i, x) xml_scalar(b, tag, x);
  } else {
    xml_scalar(b, k, v);
  }
}

static void xml_members(tw_buf *b, json_t *o, const char *action) {
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) xml_member(b, k, v, action);
}

void tw_sqs_query_error(tw_request *r, tw_err e, const char *msg) {
  const tw_err_info *info = tw_err_get(e);
  tw_buf b;
  tw_buf_init(&b, 64 * 1024);
  tw_buf_printf(&b,
                "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"" XMLNS "\"><Error><Type>%s</Type>",
                info->sender ? "Sender" : "Receiver");
  xml_text(&b, "Code", info->query_code);
  xml_text(&b, "Message", msg && *msg ? msg : info->message);
  tw_buf_printf(&b, "<Detail/></Error><RequestId>%s</RequestId></ErrorResponse>", r->request_id);
  size_t len;
  char *body = tw_buf_detach(&b, &len);
  tw_req_respond_owned(r, info->http_status, "text/xml", body, len);
}

static void render(tw_request *r) {
  tw_sqs_http_ctx *x = r->ctx;
  if (x->call.err != TW_ERR_OK) {
    tw_sqs_query_error(r, x->call.err, x->call.msg);
    return;
  }
  const char *a = r->action;
  tw_buf b;
  tw_buf_init(&b, 64u << 20);
  tw_buf_printf(&b, "<?xml version=\"1.0\"?><%sResponse xmlns=\"" XMLNS "\"><%sResult>", a, a);
  if (x->call.out) xml_members(&b, x->call.out, a);
  tw_buf_printf(
      &b, "</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>",
      a, r->request_id, a);
  if (b.overflow) { /* never a truncated 200 */
    tw_buf_free(&b);
    tw_sqs_query_error(r, TW_ERR_INTERNAL, "The response is too large.");
    return;
  }
  size_t len;
  char *body = tw_buf_detach(&b, &len);
  tw_req_respond_owned(r, 200, "text/xml", body, len);
}

void tw_sqs_query_serve(tw_request *r) {
  char msg[4096];
  json_t *in = json_object();
  parse_form(in, r->query, strlen(r->query), r->action, sizeof r->action);
  if (r->body.len) parse_form(in, r->body.data, r->body.len, r->action, sizeof r->action);
  tw_err e = tw_req_authenticate(r, msg, sizeof msg);
  if (e != TW_ERR_OK) {
    json_decref(in);
    tw_sqs_query_error(r, e, msg);
    return;
  }
  if (r->too_large) {
    json_decref(in);
    tw_sqs_query_error(r, TW_ERR_REQUEST_TOO_LARGE, NULL);
    return;
  }
  if (!tw_sqs_find_action(r->action)) {
    json_decref(in);
    char m[200];
    snprintf(m, sizeof m, "The action %s is not valid for this endpoint.", r->action);
    tw_sqs_query_error(r, TW_ERR_INVALID_ACTION, m);
    return;
  }
  fix_shapes(in);
  if (!tw_sqs_authorize(r, r->action, in, msg, sizeof msg)) {
    json_decref(in);
    tw_sqs_query_error(r, TW_ERR_ACCESS_DENIED, msg);
    return;
  }
  tw_sqs_http_ctx_new(r, in, r->action, render);
  tw_sqs_http_run(r);
}
