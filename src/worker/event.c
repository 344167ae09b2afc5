/* Lambda SQS events and partial batch responses. */
#include "worker/event.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "client/json_parse.h"
#include "core/buf.h"
#include "core/json_out.h"

/* The order Lambda's events list system attributes in. */
static const char *const attr_order[] = {"ApproximateReceiveCount",
                                         "SentTimestamp",
                                         "SenderId",
                                         "ApproximateFirstReceiveTimestamp",
                                         "SequenceNumber",
                                         "MessageGroupId",
                                         "MessageDeduplicationId",
                                         NULL};

static int known_attr(const char *k) {
  for (int i = 0; attr_order[i]; i++)
    if (!strcmp(attr_order[i], k)) return 1;
  return 0;
}

static void put_key(tw_buf *b, const char *k) {
  tw_json_write_string(b, k, strlen(k));
  tw_buf_putc(b, ':');
}

static void put_str(tw_buf *b, const char *k, json_t *v) {
  put_key(b, k);
  if (json_is_string(v))
    tw_json_write_string(b, json_string_value(v), json_string_length(v));
  else
    tw_json_write(b, v ? v : json_null());
}

static void put_attrs(tw_buf *b, json_t *attrs) {
  tw_buf_putc(b, '{');
  int first = 1;
  for (int i = 0; attr_order[i]; i++) {
    json_t *v = json_object_get(attrs, attr_order[i]);
    if (!v) continue;
    if (!first) tw_buf_putc(b, ',');
    first = 0;
    put_str(b, attr_order[i], v);
  }
  const char *k;
  json_t *v;
  json_object_foreach(attrs, k, v) {
    if (known_attr(k)) continue;
    if (!first) tw_buf_putc(b, ',');
    first = 0;
    put_str(b, k, v);
  }
  tw_buf_putc(b, '}');
}

/* {"name":{"StringValue"|"BinaryValue", "StringListValues", "BinaryListValues",
 * "DataType"}} → Lambda's lower-camel form, lists always present. */
static void put_msg_attrs(tw_buf *b, json_t *attrs) {
  tw_buf_putc(b, '{');
  const char *k;
  json_t *v;
  int first = 1;
  json_object_foreach(attrs, k, v) {
    if (!first) tw_buf_putc(b, ',');
    first = 0;
    put_key(b, k);
    tw_buf_putc(b, '{');
    json_t *sv = json_object_get(v, "StringValue"), *bv = json_object_get(v, "BinaryValue");
    if (sv) {
      put_str(b, "stringValue", sv);
      tw_buf_putc(b, ',');
    }
    if (bv) {
      put_str(b, "binaryValue", bv);
      tw_buf_putc(b, ',');
    }
    json_t *sl = json_object_get(v, "StringListValues"),
           *bl = json_object_get(v, "BinaryListValues");
    put_key(b, "stringListValues");
    if (json_is_array(sl))
      tw_json_write(b, sl);
    else
      tw_buf_puts(b, "[]");
    tw_buf_putc(b, ',');
    put_key(b, "binaryListValues");
    if (json_is_array(bl))
      tw_json_write(b, bl);
    else
      tw_buf_puts(b, "[]");
    tw_buf_putc(b, ',');
    put_str(b, "dataType", json_object_get(v, "DataType"));
    tw_buf_putc(b, '}');
  }
  tw_buf_putc(b, '}');
}

int tw_wevent_write(tw_wstream *s, tw_wmsg *const *msgs, size_t n, const char *arn,
                    const char *region) {
  size_t mark;
  tw_buf *b = tw_wstream_begin(s, &mark);
  tw_buf_puts(b, "{\"Records\":[");
  for (size_t i = 0; i < n; i++) {
    json_t *raw = msgs[i]->raw;
    if (i) tw_buf_putc(b, ',');
    tw_buf_putc(b, '{');
    put_str(b, "messageId", json_object_get(raw, "MessageId"));
    tw_buf_putc(b, ',');
    put_str(b, "receiptHandle", json_object_get(raw, "ReceiptHandle"));
    tw_buf_putc(b, ',');
    if (msgs[i]->body_path) { /* stream the file between the quotes */
      put_key(b, "body");
      tw_buf_putc(b, '"');
      if (tw_wstream_end(s, mark) || tw_wstream_file(s, msgs[i]->body_path, 1)) return -1;
      b = tw_wstream_begin(s, &mark);
      tw_buf_putc(b, '"');
    } else {
      put_str(b, "body", json_object_get(raw, "Body"));
    }
    tw_buf_putc(b, ',');
    put_key(b, "attributes");
    json_t *attrs = json_object_get(raw, "Attributes");
    put_attrs(b, json_is_object(attrs) ? attrs : NULL);
    tw_buf_putc(b, ',');
    put_key(b, "messageAttributes");
    json_t *ma = json_object_get(raw, "MessageAttributes");
    put_msg_attrs(b, json_is_object(ma) ? ma : NULL);
    tw_buf_putc(b, ',');
    put_str(b, "md5OfBody", json_object_get(raw, "MD5OfBody"));
    json_t *mda = json_object_get(raw, "MD5OfMessageAttributes");
    if (json_is_string(mda)) {
      tw_buf_putc(b, ',');
      put_str(b, "md5OfMessageAttributes", mda);
    }
    tw_buf_puts(b, ",\"eventSource\":\"aws:sqs\",");
    put_key(b, "eventSourceARN");
    tw_json_write_string(b, arn, strlen(arn));
    tw_buf_putc(b, ',');
    put_key(b, "awsRegion");
    tw_json_write_string(b, region, strlen(region));
    tw_buf_putc(b, '}');
  }
  tw_buf_puts(b, "]}");
  return tw_wstream_end(s, mark);
}

static int is_blank(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') return 0;
  return 1;
}

tw_wanswer_kind tw_wanswer_apply(const char *out, size_t len, int report_failures,
                                 tw_wmsg *const *msgs, size_t n, char *why, size_t whylen) {
  why[0] = 0;
  if (!out || is_blank(out, len)) return TW_WANSWER_SUCCESS;
  char jerr[160];
  json_t *doc = tw_json_parse(out, len, jerr, sizeof jerr);
  if (!report_failures) {
    /* the answer is ignored, except a function error (persistent handlers) */
    const char *msg =
        json_is_object(doc) ? json_string_value(json_object_get(doc, "errorMessage")) : NULL;
    int err = json_is_object(doc) && (msg || json_object_get(doc, "errorType"));
    if (err) snprintf(why, whylen, "handler error: %s", msg ? msg : "(no errorMessage)");
    json_decref(doc);
    return err ? TW_WANSWER_FAILED : TW_WANSWER_SUCCESS;
  }
  tw_wanswer_kind kind = TW_WANSWER_FAILED;
  if (!doc) {
    snprintf(why, whylen, "the handler's answer is not JSON: %s", jerr);
    return kind;
  }
  if (json_is_null(doc)) {
    kind = TW_WANSWER_SUCCESS;
    goto out;
  }
  if (!json_is_object(doc)) {
    snprintf(why, whylen, "the handler's answer is not a JSON object");
    goto out;
  }
  if (json_object_get(doc, "errorMessage") || json_object_get(doc, "errorType")) {
    const char *m = json_string_value(json_object_get(doc, "errorMessage"));
    snprintf(why, whylen, "handler error: %s", m ? m : "(no errorMessage)");
    goto out;
  }
  json_t *list = json_object_get(doc, "batchItemFailures");
  if (!list || json_is_null(list) || (json_is_array(list) && json_array_size(list) == 0)) {
    kind = TW_WANSWER_SUCCESS;
    goto out;
  }
  if (!json_is_array(list)) {
    snprintf(why, whylen, "batchItemFailures is not a list");
    goto out;
  }
  /* validate everything first: one bad entry fails the whole batch */
  size_t i;
  json_t *it;
  json_array_foreach(list, i, it) {
    const char *id = json_string_value(json_object_get(it, "itemIdentifier"));
    if (!id || !*id) {
      snprintf(why, whylen, "batchItemFailures[%zu] has no itemIdentifier", i);
      goto out;
    }
    size_t k = 0;
    while (k < n && strcmp(msgs[k]->id, id)) k++;
    if (k == n) {
      snprintf(why, whylen, "batchItemFailures names %.80s, which is not in the batch", id);
      goto out;
    }
  }
  json_array_foreach(list, i, it) {
    const char *id = json_string_value(json_object_get(it, "itemIdentifier"));
    for (size_t k = 0; k < n; k++)
      if (!strcmp(msgs[k]->id, id)) msgs[k]->outcome = TW_WMSG_FAILED;
  }
  kind = TW_WANSWER_PARTIAL;
out:
  json_decref(doc);
  return kind;
}

size_t tw_wfifo_stop_at_failure(tw_wmsg *const *msgs, size_t n) {
  size_t released = 0;
  for (size_t i = 0; i < n; i++) {
    if (msgs[i]->outcome != TW_WMSG_FAILED || !msgs[i]->group) continue;
    /* everything later in this group goes back, in order, behind it */
    for (size_t j = i + 1; j < n; j++) {
      if (!msgs[j]->group || strcmp(msgs[j]->group, msgs[i]->group)) continue;
      if (msgs[j]->outcome != TW_WMSG_RELEASE) {
        msgs[j]->outcome = TW_WMSG_RELEASE;
        released++;
      }
    }
  }
  return released;
}
