/* Message actions: SendMessage(+Batch), ReceiveMessage, DeleteMessage(+Batch),
 * ChangeMessageVisibility(+Batch). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/json_out.h"
#include "sqs/msg_digest.h"
#include "sqs/params.h"
#include "sqs/sqs_actions.h"
#include "sqs/sqs_common.h"
#include "sqs/sqs_internal.h"

#define MAX_BATCH 10
#define MAX_PAYLOAD 1048576

/* --- SendMessage ----------------------------------------------------------- */

typedef tw_sqs_send_req send_req;

static int valid_id_chars(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x21 || ch > 0x7e) return 0; /* printable ASCII, no spaces */
  }
  return 1;
}

/* Validation that needs no queue: runs before taking the lock. */
int tw_sqs_send_parse(tw_sqs_call *c, json_t *in, send_req *r) {
  memset(r, 0, sizeof *r);
  json_t *b = json_object_get(in, "MessageBody");
  if (!json_is_string(b)) {
    tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER, "The request must contain the parameter MessageBody.");
    return -1;
  }
  r->body = json_string_value(b);
  r->body_len = json_string_length(b);
  if (r->body_len == 0) {
    tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER, "The request must contain the parameter MessageBody.");
    return -1;
  }
  if (!tw_p_valid_body(r->body, r->body_len)) {
    tw_sqs_fail(c, TW_ERR_INVALID_MESSAGE_CONTENTS,
                "Invalid binary character was found in the message body, the set of allowed "
                "characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to "
                "#x10FFFF");
    return -1;
  }
  int h = tw_p_int(c, in, "DelaySeconds", &r->delay);
  if (h < 0) return -1;
  r->has_delay = h;
  if (h && tw_p_range(c, "DelaySeconds", r->delay, 0, 900, "Must be >= 0 and <= 900, if provided."))
    return -1;
  r->attrs = json_object_get(in, "MessageAttributes");
  if (r->attrs && json_is_object(r->attrs) && json_object_size(r->attrs) == 0) r->attrs = NULL;
  if (tw_p_message_attributes(c, r->attrs, &r->size)) return -1;
  r->sys = json_object_get(in, "MessageSystemAttributes");
  if (r->sys && json_is_object(r->sys) && json_object_size(r->sys) == 0) r->sys = NULL;
  if (r->sys) {
    const char *k;
    json_t *v;
    json_object_foreach(r->sys, k, v) {
      if (strcmp(k, "AWSTraceHeader") != 0) {
        tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                    "Message system attribute name '%s' is invalid.", k);
        return -1;
      }
      const char *t = tw_p_str(v, "DataType");
      if (!t || strcmp(t, "String") != 0 || !tw_p_str(v, "StringValue")) {
        tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                    "Message system attribute 'AWSTraceHeader' must have a String value.");
        return -1;
      }
    }
  }
  r->group = tw_p_str(in, "MessageGroupId");
  r->dedup = tw_p_str(in, "MessageDeduplicationId");
  if (r->group && !valid_id_chars(r->group, 128)) {
    tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                "Value %s for parameter MessageGroupId is invalid. Reason: MessageGroupId can only "
                "include alphanumeric and punctuation characters. 1 to 128 in length.",
                r->group);
    return -1;
  }
  if (r->dedup && !valid_id_chars(r->dedup, 128)) {
    tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                "Value %s for parameter MessageDeduplicationId is invalid. Reason: "
                "MessageDeduplicationId can only include alphanumeric and punctuation characters. "
                "1 to 128 in length.",
                r->dedup);
    return -1;
  }
  r->size += r->body_len;
  tw_md5_hex(r->body, r->body_len, r->md5_body);
  if (r->attrs && tw_sqs_md5_message_attributes(r->attrs, r->md5_attrs)) {
    tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE, "Invalid message attributes.");
    return -1;
  }
  if (r->sys) tw_sqs_md5_system_attributes(r->sys, r->md5_sys);
  return 0;
}

/* Checks that depend on the queue; changes nothing. Lock held. */
int tw_sqs_send_check(tw_sqs_call *c, tw_queue *q, const send_req *r) {
  return tw_sqs_send_queue_check(c, r, q->max_size, q->fifo, q->content_dedup);
}

/* What a send answers: the message id, its digests, a FIFO sequence number. */
typedef struct {
  char mid[37];
  char md5_body[33], md5_attrs[33], md5_sys[33];
  int has_seq;
  uint64_t seqno;
  int dup; /* a FIFO duplicate: SequenceNumber comes first */
} send_res;

/* send_res in the JSON protocol's shape, as keys in the order the json_t
 * result had them (a duplicate: MessageId first; else SequenceNumber first). */
static void send_res_json(const send_res *o, json_t *res) {
  char sn[32];
  if (o->has_seq) snprintf(sn, sizeof sn, "%020" PRIu64, o->seqno);
  if (o->dup) {
    json_object_set_new(res, "MessageId", json_string(o->mid));
    json_object_set_new(res, "SequenceNumber", json_string(sn));
  } else {
    if (o->has_seq) json_object_set_new(res, "SequenceNumber", json_string(sn));
    json_object_set_new(res, "MessageId", json_string(o->mid));
  }
  json_object_set_new(res, "MD5OfMessageBody", json_string(o->md5_body));
  if (o->md5_attrs[0])
    json_object_set_new(res, "MD5OfMessageAttributes", json_string(o->md5_attrs));
  if (o->md5_sys[0])
    json_object_set_new(res, "MD5OfMessageSystemAttributes", json_string(o->md5_sys));
}

/* Appends `"key":"value"` (value escaped), with a leading comma unless first. */
static void raw_member(tw_buf *b, int *first, const char *key, const char *v, size_t n) {
  if (!*first) tw_buf_putc(b, ',');
  *first = 0;
  tw_buf_putc(b, '"');
  tw_buf_puts(b, key);
  tw_buf_puts(b, "\":");
  tw_json_write_string(b, v, n);
}

/* The members of send_res_json as JSON text (no braces). */
static void send_res_raw(tw_buf *b, const send_res *o, int *first) {
  char sn[32];
  int snl = o->has_seq ? snprintf(sn, sizeof sn, "%020" PRIu64, o->seqno) : 0;
  if (o->dup) {
    raw_member(b, first, "MessageId", o->mid, strlen(o->mid));
    raw_member(b, first, "SequenceNumber", sn, (size_t)snl);
  } else {
    if (o->has_seq) raw_member(b, first, "SequenceNumber", sn, (size_t)snl);
    raw_member(b, first, "MessageId", o->mid, strlen(o->mid));
  }
  raw_member(b, first, "MD5OfMessageBody", o->md5_body, strlen(o->md5_body));
  if (o->md5_attrs[0])
    raw_member(b, first, "MD5OfMessageAttributes", o->md5_attrs, strlen(o->md5_attrs));
  if (o->md5_sys[0])
    raw_member(b, first, "MD5OfMessageSystemAttributes", o->md5_sys, strlen(o->md5_sys));
}

/* Checks that depend on the queue; then enqueues. Lock held. Fills `o`. */
static int send_core(tw_sqs_call *c, tw_queue *q, send_req *r, send_res *o) {
  tw_sqs *s = c->sqs;
  memset(o, 0, sizeof *o);
  if (tw_sqs_send_check(c, q, r)) return -1;
  char dedup_buf[65];
  const char *dedup = r->dedup;
  if (q->fifo && !dedup) {
    tw_sha256_hex(r->body, r->body_len, dedup_buf);
    dedup = dedup_buf;
  }
  int64_t now = tw_now_ms();
  if (q->fifo) {
    char key[400];
    if (q->dedup_scope_group)
      snprintf(key, sizeof key, "%s\x1f%s", r->group, dedup);
    else
      snprintf(key, sizeof key, "%s", dedup);
    tw_dedup *d = tw_map_get(&q->dedup, key);
    if (d && d->expires_ms > now) { /* a duplicate: accepted, not enqueued */
      o->dup = 1;
      o->has_seq = 1;
      memcpy(o->mid, d->msg_id, sizeof o->mid);
      o->mid[sizeof o->mid - 1] = 0;
      o->seqno = d->seqno;
      memcpy(o->md5_body, r->md5_body, 33);
      memcpy(o->md5_attrs, r->md5_attrs, 33);
      memcpy(o->md5_sys, r->md5_sys, 33);
      return 0;
    }
  }
  tw_msg *m = tw_sqs_msg_new(s, q);
  tw_msg_data *md = tw_msg_data_new();
  if (!m || !md) abort(); /* out of memory */
  char mid[37];
  tw_uuid4(mid);
  tw_msg_id_set(m, mid);
  md->body = malloc(r->body_len + 1);
  if (!md->body) abort();
  memcpy(md->body, r->body, r->body_len);
  md->body[r->body_len] = 0;
  md->body_len = r->body_len;
  memcpy(md->md5_body, r->md5_body, 33);
  memcpy(md->md5_attrs, r->md5_attrs, 33);
  memcpy(md->md5_sys, r->md5_sys, 33);
  md->attrs = r->attrs ? json_deep_copy(r->attrs) : NULL;
  md->sys_attrs = r->sys ? json_deep_copy(r->sys) : NULL;
  if (!md->sys_attrs && c->trace_header[0]) /* the caller's trace (X-Amzn-Trace-Id, traceparent) */
    md->sys_attrs = json_pack("{s:{s:s,s:s}}", "AWSTraceHeader", "DataType", "String",
                              "StringValue", c->trace_header);
  m->sent_ms = now;
  int delay = r->has_delay ? (int)r->delay : q->delay;
  m->visible_at_ms = now + (int64_t)delay * 1000;
  md->group_id = r->group ? strdup(r->group) : NULL;
  md->dedup_id = q->fifo ? strdup(dedup) : NULL;
  md->sender_id = c->principal ? strdup(c->principal) : NULL;
  if (q->fifo) md->seqno = ++q->fifo_seqno;
  uint64_t seqno = md->seqno;
  memcpy(o->md5_body, md->md5_body, 33);
  memcpy(o->md5_attrs, md->md5_attrs, 33);
  memcpy(o->md5_sys, md->md5_sys, 33);
  memcpy(o->mid, mid, sizeof o->mid);
  uint64_t t = tw_sqs_msg_add(s, q, m, md, 1); /* md belongs to the cache now */
  if (t > c->ticket) c->ticket = t;
  if (q->fifo) {
    char key[400];
    if (q->dedup_scope_group)
      snprintf(key, sizeof key, "%s\x1f%s", r->group, dedup);
    else
      snprintf(key, sizeof key, "%s", dedup);
    tw_dedup *d = tw_map_get(&q->dedup, key);
    if (!d) {
      d = calloc(1, sizeof *d);
      d->key = strdup(key);
      tw_map_put(&q->dedup, key, d);
    }
    memcpy(d->msg_id, mid, sizeof d->msg_id);
    d->seqno = seqno;
    d->expires_ms = now + 5 * 60 * 1000;
    tw_store_dedup_put(s->store, q->id, key, mid, seqno, d->expires_ms);
    t = tw_sqs_queue_save(s, q); /* fifo_seqno */
    if (t > c->ticket) c->ticket = t;
    o->has_seq = 1;
    o->seqno = seqno;
  }
  return 0;
}

/* Checks that depend on the queue; then enqueues. Lock held. Fills `res`. */
int tw_sqs_send_one(tw_sqs_call *c, tw_queue *q, send_req *r, json_t *res) {
  send_res o;
  if (send_core(c, q, r, &o)) return -1;
  send_res_json(&o, res);
  return 0;
}

int tw_sqs_send_message(tw_sqs_call *c) {
  send_req r;
  if (tw_sqs_send_parse(c, c->in, &r)) return -1;
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  send_res o;
  int rc = q ? send_core(c, q, &r, &o) : -1;
  pthread_mutex_unlock(&c->sqs->mu);
  if (rc) return rc;
  if (c->raw_json) { /* straight into the reply */
    tw_buf_reset(&c->raw);
    int first = 1;
    tw_buf_putc(&c->raw, '{');
    send_res_raw(&c->raw, &o, &first);
    tw_buf_putc(&c->raw, '}');
    c->raw_done = 1;
  } else {
    c->out = json_object();
    send_res_json(&o, c->out);
  }
  return 0;
}

/* A failed batch entry, as tw_sqs_batch_failed writes it. */
static void batch_failed_raw(tw_buf *b, const char *id, tw_err e, const char *msg) {
  const tw_err_info *info = tw_err_get(e);
  const char *m = msg && *msg ? msg : info->message;
  if (b->len) tw_buf_putc(b, ',');
  tw_buf_puts(b, "{\"Id\":");
  tw_json_write_string(b, id, strlen(id));
  tw_buf_puts(
      b, info->sender ? ",\"SenderFault\":true,\"Code\":" : ",\"SenderFault\":false,\"Code\":");
  tw_json_write_string(b, info->code, strlen(info->code));
  tw_buf_puts(b, ",\"Message\":");
  tw_json_write_string(b, m, strlen(m));
  tw_buf_putc(b, '}');
}

/* A batch's reply in c->raw: batch_raw_start, the successful entries (comma
 * separated) appended to c->raw, then batch_raw_finish with the failed ones. */
static void batch_raw_start(tw_sqs_call *c, size_t n) {
  tw_buf_reset(&c->raw);
  tw_buf_reserve(&c->raw, 64 + n * 160); /* one allocation for the usual reply */
  tw_buf_puts(&c->raw, "{\"Successful\":[");
}

static void batch_raw_finish(tw_sqs_call *c, tw_buf *failed) {
  tw_buf_puts(&c->raw, "],\"Failed\":[");
  tw_buf_append(&c->raw, failed->data, failed->len);
  tw_buf_puts(&c->raw, "]}");
  if (failed->overflow) c->raw.overflow = 1;
  c->raw_done = 1;
}

/* --- batches ----------------------------------------------------------------- */

/* Common checks of a batch request's Entries: count, ids valid and distinct. */
json_t *tw_sqs_batch_entries(tw_sqs_call *c, const char *what) {
  json_t *e = json_object_get(c->in, "Entries");
  if (!e || json_is_null(e) || (json_is_array(e) && json_array_size(e) == 0)) {
    tw_sqs_fail(c, TW_ERR_EMPTY_BATCH, "There should be at least one %s in the request.", what);
    return NULL;
  }
  if (!json_is_array(e)) {
    tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE, "Entries must be a list.");
    return NULL;
  }
  if (json_array_size(e) > MAX_BATCH) {
    tw_sqs_fail(c, TW_ERR_TOO_MANY_ENTRIES,
                "Maximum number of entries per request are 10. You have sent %zu.",
                json_array_size(e));
    return NULL;
  }
  size_t i, j;
  json_t *x;
  json_array_foreach(e, i, x) {
    const char *id = tw_p_str(x, "Id");
    if (!id) {
      tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER, "The request must contain the parameter Id.");
      return NULL;
    }
    size_t n = strlen(id);
    int ok = n > 0 && n <= 80;
    for (size_t k = 0; ok && k < n; k++) {
      char ch = id[k];
      ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
    }
    if (!ok) {
      tw_sqs_fail(c, TW_ERR_INVALID_BATCH_ENTRY_ID,
                  "A batch entry id can only contain alphanumeric characters, hyphens and "
                  "underscores. It can be at most 80 letters long.");
      return NULL;
    }
    for (j = 0; j < i; j++)
      if (strcmp(id, tw_p_str(json_array_get(e, j), "Id")) == 0) {
        tw_sqs_fail(c, TW_ERR_BATCH_IDS_NOT_DISTINCT, "Id %s repeated.", id);
        return NULL;
      }
  }
  return e;
}

int tw_sqs_send_message_batch(tw_sqs_call *c) {
  json_t *entries = tw_sqs_batch_entries(c, "entry");
  if (!entries) return -1;
  size_t n = json_array_size(entries), i;
  send_req reqs[MAX_BATCH];
  int bad[MAX_BATCH] = {0};
  tw_err errs[MAX_BATCH];
  char msgs[MAX_BATCH][256];
  size_t total = 0;
  for (i = 0; i < n; i++) {
    tw_sqs_call sub = *c;
    sub.err = TW_ERR_OK;
    sub.msg[0] = 0;
    if (tw_sqs_send_parse(&sub, json_array_get(entries, i), &reqs[i])) {
      bad[i] = 1;
      errs[i] = sub.err;
      snprintf(msgs[i], sizeof msgs[i], "%s", sub.msg);
    } else {
      total += reqs[i].size;
    }
  }
  if (total > MAX_PAYLOAD)
    return tw_sqs_fail(
        c, TW_ERR_BATCH_TOO_LONG,
        "Batch requests cannot be longer than 1048576 bytes. You have sent %zu bytes.", total);
  send_res res[MAX_BATCH];
  int sent[MAX_BATCH] = {0};
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  if (q) {
    for (i = 0; i < n; i++) {
      if (bad[i]) continue;
      tw_sqs_call sub = *c;
      sub.err = TW_ERR_OK;
      sub.msg[0] = 0;
      if (send_core(&sub, q, &reqs[i], &res[i])) {
        bad[i] = 1;
        errs[i] = sub.err;
        snprintf(msgs[i], sizeof msgs[i], "%s", sub.msg);
        continue;
      }
      sent[i] = 1;
      if (sub.ticket > c->ticket) c->ticket = sub.ticket;
    }
  }
  pthread_mutex_unlock(&c->sqs->mu);
  if (!q) return -1;
  /* the reply, outside the lock */
  if (c->raw_json) {
    tw_buf failed;
    tw_buf_init(&failed, c->raw.cap);
    batch_raw_start(c, n);
    int shown = 0;
    for (i = 0; i < n; i++) {
      const char *id = tw_p_str(json_array_get(entries, i), "Id");
      if (!sent[i]) {
        batch_failed_raw(&failed, id, errs[i], msgs[i]);
        continue;
      }
      int first = 1;
      if (shown++) tw_buf_putc(&c->raw, ',');
      tw_buf_putc(&c->raw, '{');
      send_res_raw(&c->raw, &res[i], &first);
      raw_member(&c->raw, &first, "Id", id, strlen(id));
      tw_buf_putc(&c->raw, '}');
    }
    batch_raw_finish(c, &failed);
    tw_buf_free(&failed);
    return 0;
  }
  json_t *ok = json_array(), *failed = json_array();
  for (i = 0; i < n; i++) {
    const char *id = tw_p_str(json_array_get(entries, i), "Id");
    if (!sent[i]) {
      tw_sqs_batch_failed(failed, id, errs[i], msgs[i]);
      continue;
    }
    json_t *o = json_object();
    send_res_json(&res[i], o);
    json_object_set_new(o, "Id", json_string(id));
    json_array_append_new(ok, o);
  }
  c->out = json_object();
  json_object_set_new(c->out, "Successful", ok);
  json_object_set_new(c->out, "Failed", failed);
  return 0;
}

/* --- ReceiveMessage ------------------------------------------------------------ */

static json_t *render_message(tw_sqs_call *c, tw_msg *m, const tw_msg_data *md, unsigned mask,
                              json_t *names) {
  json_t *o = json_object();
  char rh[80], mid[37];
  tw_sqs_receipt(c->sqs, m, rh);
  tw_msg_id_str(m, mid);
  json_object_set_new(o, "MessageId", json_string(mid));
  json_object_set_new(o, "ReceiptHandle", json_string(rh));
  json_object_set_new(o, "MD5OfBody", json_string(md->md5_body));
  json_object_set_new(o, "Body", json_stringn(md->body, md->body_len));
  if (mask) {
    json_t *a = json_object();
    char buf[32];
    if ((mask & TW_SA_SENDER) && md->sender_id)
      json_object_set_new(a, "SenderId", json_string(md->sender_id));
    if (mask & TW_SA_SENT) {
      snprintf(buf, sizeof buf, "%" PRId64, (int64_t)m->sent_ms);
      json_object_set_new(a, "SentTimestamp", json_string(buf));
    }
    if (mask & TW_SA_COUNT) {
      snprintf(buf, sizeof buf, "%u", (unsigned)m->receive_count);
      json_object_set_new(a, "ApproximateReceiveCount", json_string(buf));
    }
    if (mask & TW_SA_FIRST) {
      snprintf(buf, sizeof buf, "%" PRId64, tw_msg_first_receive(m));
      json_object_set_new(a, "ApproximateFirstReceiveTimestamp", json_string(buf));
    }
    if (tw_msg_queue(m)->fifo) {
      if (mask & TW_SA_SEQ) {
        snprintf(buf, sizeof buf, "%020" PRIu64, md->seqno);
        json_object_set_new(a, "SequenceNumber", json_string(buf));
      }
      if ((mask & TW_SA_DEDUP) && md->dedup_id)
        json_object_set_new(a, "MessageDeduplicationId", json_string(md->dedup_id));
    }
    /* a FIFO message moved from a standard queue has the group "" */
    const char *gid = md->group_id ? md->group_id : tw_msg_group(m) ? tw_msg_group(m)->id : NULL;
    if ((mask & TW_SA_GROUP) && gid) json_object_set_new(a, "MessageGroupId", json_string(gid));
    if ((mask & TW_SA_TRACE) && md->sys_attrs) {
      const char *tv = tw_p_str(json_object_get(md->sys_attrs, "AWSTraceHeader"), "StringValue");
      if (tv) json_object_set_new(a, "AWSTraceHeader", json_string(tv));
    }
    if ((mask & TW_SA_DLQ_SRC) && md->source_arn)
      json_object_set_new(a, "DeadLetterQueueSourceArn", json_string(md->source_arn));
    if (json_object_size(a))
      json_object_set_new(o, "Attributes", a);
    else
      json_decref(a);
  }
  json_t *fa = tw_sqs_filter_attrs(md->attrs, names);
  if (fa) {
    char md5[33];
    if (json_object_size(fa) == json_object_size(md->attrs) && md->md5_attrs[0])
      memcpy(md5, md->md5_attrs, 33);
    else
      tw_sqs_md5_message_attributes(fa, md5);
    json_object_set_new(o, "MD5OfMessageAttributes", json_string(md5));
    json_object_set_new(o, "MessageAttributes", fa);
  }
  return o;
}

/* 1 when s is valid UTF-8 (RFC 3629: no overlong forms, no surrogates, at most
 * U+10FFFF), as jansson's json_stringn requires of a string value. */
static int valid_utf8(const char *str, size_t n) {
  const unsigned char *p = (const unsigned char *)str, *end = p + n;
  while (p < end) {
    if (*p < 0x80) {
      p++;
      continue;
    }
    unsigned c = *p, lo = 0x80, hi = 0xBF;
    size_t k;
    if (c >= 0xC2 && c <= 0xDF) {
      k = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      k = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      k = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return 0;
    }
    if ((size_t)(end - p) < k || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
      if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    p += k;
  }
  return 1;
}

/* render_message's object as JSON text appended to b, byte for byte what
 * tw_json_write makes of it, without building it. Lock held. */
static void render_message_raw(tw_buf *b, tw_sqs_call *c, tw_msg *m, const tw_msg_data *md,
                               unsigned mask, json_t *names) {
  char rh[80], mid[37];
  tw_sqs_receipt(c->sqs, m, rh);
  tw_msg_id_str(m, mid);
  int first = 1;
  tw_buf_putc(b, '{');
  raw_member(b, &first, "MessageId", mid, strlen(mid));
  raw_member(b, &first, "ReceiptHandle", rh, strlen(rh));
  raw_member(b, &first, "MD5OfBody", md->md5_body, strlen(md->md5_body));
  /* json_stringn refuses a body that is not UTF-8, and the key was left out */
  if (valid_utf8(md->body, md->body_len)) raw_member(b, &first, "Body", md->body, md->body_len);
  if (mask) {
    size_t mark = b->len; /* no attribute to show: the key goes again */
    tw_buf_puts(b, ",\"Attributes\":{");
    int afirst = 1;
    char buf[32];
    int n;
    if ((mask & TW_SA_SENDER) && md->sender_id)
      raw_member(b, &afirst, "SenderId", md->sender_id, strlen(md->sender_id));
    if (mask & TW_SA_SENT) {
      n = snprintf(buf, sizeof buf, "%" PRId64, (int64_t)m->sent_ms);
      raw_member(b, &afirst, "SentTimestamp", buf, (size_t)n);
    }
    if (mask & TW_SA_COUNT) {
      n = snprintf(buf, sizeof buf, "%u", (unsigned)m->receive_count);
      raw_member(b, &afirst, "ApproximateReceiveCount", buf, (size_t)n);
    }
    if (mask & TW_SA_FIRST) {
      n = snprintf(buf, sizeof buf, "%" PRId64, tw_msg_first_receive(m));
      raw_member(b, &afirst, "ApproximateFirstReceiveTimestamp", buf, (size_t)n);
    }
    if (tw_msg_queue(m)->fifo) {
      if (mask & TW_SA_SEQ) {
        n = snprintf(buf, sizeof buf, "%020" PRIu64, md->seqno);
        raw_member(b, &afirst, "SequenceNumber", buf, (size_t)n);
      }
      if ((mask & TW_SA_DEDUP) && md->dedup_id)
        raw_member(b, &afirst, "MessageDeduplicationId", md->dedup_id, strlen(md->dedup_id));
    }
    const char *gid = md->group_id ? md->group_id : tw_msg_group(m) ? tw_msg_group(m)->id : NULL;
    if ((mask & TW_SA_GROUP) && gid) raw_member(b, &afirst, "MessageGroupId", gid, strlen(gid));
    if ((mask & TW_SA_TRACE) && md->sys_attrs) {
      const char *tv = tw_p_str(json_object_get(md->sys_attrs, "AWSTraceHeader"), "StringValue");
      if (tv) raw_member(b, &afirst, "AWSTraceHeader", tv, strlen(tv));
    }
    if ((mask & TW_SA_DLQ_SRC) && md->source_arn)
      raw_member(b, &afirst, "DeadLetterQueueSourceArn", md->source_arn, strlen(md->source_arn));
    if (afirst)
      b->len = mark; /* tw_buf_reset-style truncation: nothing was shown */
    else
      tw_buf_putc(b, '}');
  }
  json_t *fa = tw_sqs_filter_attrs(md->attrs, names);
  if (fa) {
    char md5[33];
    if (json_object_size(fa) == json_object_size(md->attrs) && md->md5_attrs[0])
      memcpy(md5, md->md5_attrs, 33);
    else
      tw_sqs_md5_message_attributes(fa, md5);
    raw_member(b, &first, "MD5OfMessageAttributes", md5, strlen(md5));
    tw_buf_puts(b, ",\"MessageAttributes\":");
    tw_json_write(b, fa);
    json_decref(fa);
  }
  tw_buf_putc(b, '}');
}

/* The messages of an earlier receive with this attempt id, if all are still in
 * flight under the receipt handles that receive gave out. Lock held. */
static int repeat_attempt(tw_sqs *s, tw_queue *q, const char *attempt, tw_msg **got, int64_t now) {
  tw_attempt *at = tw_map_get(&q->attempts, attempt);
  if (!at) return 0;
  int ok = at->expires_ms > now;
  for (int i = 0; ok && i < at->n; i++) {
    tw_msg *m = tw_msg_table_get(&s->msgs, at->seq[i]);
    ok = m && tw_msg_queue(m) == q && m->nonce == at->nonce[i] && m->state == MSG_INFLIGHT &&
         m->visible_at_ms > now;
    if (ok) got[i] = m;
  }
  if (!ok) {
    free(tw_map_del(&q->attempts, attempt));
    return 0;
  }
  return at->n;
}

int tw_sqs_receive_message(tw_sqs_call *c) {
  long long max, vis, wait;
  if (tw_sqs_receive_params(c, &max, &vis, &wait)) return -1;
  unsigned mask = tw_sqs_sys_attr_mask(c->in);
  json_t *names = json_object_get(c->in, "MessageAttributeNames");
  tw_msg *got[10];
  json_t *list = json_array();
  tw_sqs *s = c->sqs;
  pthread_mutex_lock(&s->mu);
  /* read under the lock: no message sent after it can look received before
   * it was sent, and visibility deadlines start when the receive does */
  int64_t now = tw_now_ms();
  tw_queue *q = tw_sqs_resolve_queue(c);
  if (!q) {
    pthread_mutex_unlock(&s->mu);
    json_decref(list);
    return -1;
  }
  if (vis < 0) vis = q->visibility;
  if (wait < 0) wait = q->wait_time;
  int n = 0;
  if (!q->fifo && q->n_inflight >= s->max_inflight) {
    pthread_mutex_unlock(&s->mu);
    json_decref(list);
    return tw_sqs_fail(c, TW_ERR_OVER_LIMIT,
                       "Too many messages in flight: the limit of %d in-flight messages per queue "
                       "has been reached.",
                       s->max_inflight);
  }
  const char *attempt = q->fifo ? tw_p_str(c->in, "ReceiveRequestAttemptId") : NULL;
  if (attempt && (n = repeat_attempt(s, q, attempt, got, now)) > 0) {
    /* a retry of a receive whose answer was lost: the same messages, same handles */
  } else if (!(q->fifo && q->n_inflight >= s->max_inflight)) {
    uint64_t ticket = c->ticket;
    n = tw_sqs_receive(s, q, (int)max, (int)vis, now, got, &ticket);
    c->ticket = ticket;
    if (attempt && n > 0) {
      tw_attempt *at = calloc(1, sizeof *at);
      at->expires_ms = now + 5 * 60 * 1000;
      at->n = n;
      for (int i = 0; i < n; i++) {
        at->seq[i] = got[i]->seq;
        at->nonce[i] = got[i]->nonce;
      }
      free(tw_map_del(&q->attempts, attempt));
      tw_map_put(&q->attempts, attempt, at);
    }
  }
  int shown = 0;
  if (n > 0) { /* bodies and attributes: the cache, else the store */
    tw_msg_data *data[10];
    tw_sqs_fetch(s, got, n, data);
    if (c->raw_json) { /* straight into the reply */
      tw_buf *b = &c->raw;
      tw_buf_reset(b);
      size_t want = 16;
      for (int i = 0; i < n; i++)
        if (data[i]) want += data[i]->body_len + 512; /* one allocation, usually */
      tw_buf_reserve(b, want);
      tw_buf_puts(b, "{\"Messages\":[");
      for (int i = 0; i < n; i++)
        if (data[i]) {
          if (shown++) tw_buf_putc(b, ',');
          render_message_raw(b, c, got[i], data[i], mask, names);
        }
      tw_buf_puts(b, "]}");
    } else {
      for (int i = 0; i < n; i++)
        if (data[i]) json_array_append_new(list, render_message(c, got[i], data[i], mask, names));
    }
    tw_sqs_fetch_done(s, data, n);
  }
  int64_t qid = q->id;
  int stopping = s->stop; /* shutting down: parked receives answer at once */
  if (n > 0)              /* built-in metrics: a receive that answers empty counts once */
    q->m_received += (uint64_t)n;
  else if (wait <= 0 || stopping || (c->runs > 1 && tw_mono_ms() >= c->deadline_mono_ms))
    q->m_empty++;
  pthread_mutex_unlock(&s->mu);
  if (shown) { /* n > 0: never a wait; an empty list answers {} as below */
    json_decref(list);
    c->raw_done = 1;
    return 0;
  }
  tw_sqs_receive_reply(c, list, n, wait, stopping, qid);
  return 0;
}

/* --- DeleteMessage / ChangeMessageVisibility ------------------------------------- */

/* Finds the message a receipt handle names in q. Lock held. Returns:
 * 0 found (m set), 1 handle valid but message gone or handle stale (m NULL or set),
 * -1 malformed (error set). `current` tells whether the handle is the latest. */
int tw_sqs_by_receipt(tw_sqs_call *c, tw_queue *q, const char *h, tw_msg **m, int *current) {
  uint64_t seq;
  uint32_t nonce;
  *m = NULL;
  *current = 0;
  if (tw_sqs_receipt_check(c, c->sqs->secret, q->id, h, &seq, &nonce)) return -1;
  tw_msg *x = tw_msg_table_get(&c->sqs->msgs, seq);
  if (!x || tw_msg_queue(x) != q) return 1;
  *m = x;
  *current = x->nonce == nonce;
  return 0;
}

static int delete_one(tw_sqs_call *c, tw_queue *q, const char *h) {
  tw_msg *m;
  int cur;
  int r = tw_sqs_by_receipt(c, q, h, &m, &cur);
  if (r < 0) return -1;
  if (!m) return 0; /* already gone: succeeds, nothing changes */
  /* An older receipt of a message received again: a standard queue ignores
   * it; a FIFO queue refuses it, as it refuses one whose visibility ran out,
   * so the consumer learns that someone else may now hold the message. */
  if (!cur && !q->fifo) return 0;
  if (q->fifo && (!cur || m->state != MSG_INFLIGHT || m->visible_at_ms <= tw_now_ms()))
    return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter ReceiptHandle is invalid. Reason: The receipt "
                       "handle has expired.",
                       h);
  q->m_deleted++;
  uint64_t t = tw_sqs_msg_delete(c->sqs, m);
  if (t > c->ticket) c->ticket = t;
  return 0;
}

static int change_one(tw_sqs_call *c, tw_queue *q, const char *h, json_t *in) {
  long long vis;
  int hv = tw_p_int(c, in, "VisibilityTimeout", &vis);
  if (hv < 0) return -1;
  if (!hv)
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter VisibilityTimeout.");
  tw_msg *m;
  int cur;
  int r = tw_sqs_by_receipt(c, q, h, &m, &cur);
  if (r < 0) return -1;
  if (!m)
    return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter ReceiptHandle is invalid. Reason: Message does not "
                       "exist or is not available for visibility timeout change.",
                       h);
  int64_t now = tw_now_ms();
  if (tw_p_range(c, "VisibilityTimeout", vis, 0, 43200,
                 "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]"))
    return -1;
  /* A receipt whose visibility ran out, or an older one of a message received
   * again: SQS answers 200 and changes nothing (recorded against AWS), so a
   * late heartbeat never extends someone else's lease nor hides a message
   * that is visible again. */
  if (m->state != MSG_INFLIGHT || !cur || m->visible_at_ms <= now) return 0;
  /* The total visibility since the receive may not exceed 12 hours. */
  if (m->received_rel && now + vis * 1000 - tw_msg_received(m) > 43200 * 1000LL)
    return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                       "Value %lld for parameter VisibilityTimeout is invalid. Reason: Total "
                       "VisibilityTimeout for the message is beyond the limit [43200 seconds]",
                       vis);
  uint64_t t = tw_sqs_msg_set_visibility(c->sqs, m, now + vis * 1000);
  if (t > c->ticket) c->ticket = t;
  return 0;
}

int tw_sqs_delete_message(tw_sqs_call *c) {
  const char *h = tw_p_str(c->in, "ReceiptHandle");
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  int rc = q ? delete_one(c, q, h) : -1;
  pthread_mutex_unlock(&c->sqs->mu);
  if (!rc) c->out = json_object();
  return rc;
}

int tw_sqs_change_message_visibility(tw_sqs_call *c) {
  const char *h = tw_p_str(c->in, "ReceiptHandle");
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  int rc = q ? change_one(c, q, h, c->in) : -1;
  pthread_mutex_unlock(&c->sqs->mu);
  if (!rc) c->out = json_object();
  return rc;
}

static int handle_batch(tw_sqs_call *c, int change) {
  json_t *entries = tw_sqs_batch_entries(c, "entry");
  if (!entries) return -1;
  int raw = c->raw_json;
  json_t *ok = raw ? NULL : json_array(), *failed = raw ? NULL : json_array();
  tw_buf rfailed; /* raw: the failed entries (the successful go to c->raw) */
  tw_buf_init(&rfailed, c->raw.cap);
  if (raw) batch_raw_start(c, json_array_size(entries));
  int shown = 0;
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  if (q) {
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
      const char *id = tw_p_str(e, "Id");
      tw_sqs_call sub = *c;
      sub.err = TW_ERR_OK;
      sub.msg[0] = 0;
      const char *h = tw_p_str(e, "ReceiptHandle");
      int rc = change ? change_one(&sub, q, h, e) : delete_one(&sub, q, h);
      if (sub.ticket > c->ticket) c->ticket = sub.ticket;
      if (rc && raw) {
        batch_failed_raw(&rfailed, id, sub.err, sub.msg);
      } else if (rc) {
        tw_sqs_batch_failed(failed, id, sub.err, sub.msg);
      } else if (raw) {
        if (shown++) tw_buf_putc(&c->raw, ',');
        tw_buf_puts(&c->raw, "{\"Id\":");
        tw_json_write_string(&c->raw, id, strlen(id));
        tw_buf_putc(&c->raw, '}');
      } else {
        json_t *o = json_object();
        json_object_set_new(o, "Id", json_string(id));
        json_array_append_new(ok, o);
      }
    }
  }
  pthread_mutex_unlock(&c->sqs->mu);
  if (q && raw) batch_raw_finish(c, &rfailed);
  tw_buf_free(&rfailed);
  if (!q) {
    json_decref(ok);
    json_decref(failed);
    return -1;
  }
  if (raw) return 0;
  c->out = json_object();
  json_object_set_new(c->out, "Successful", ok);
  json_object_set_new(c->out, "Failed", failed);
  return 0;
}

int tw_sqs_delete_message_batch(tw_sqs_call *c) {
  return handle_batch(c, 0);
}
int tw_sqs_change_message_visibility_batch(tw_sqs_call *c) {
  return handle_batch(c, 1);
}

/* --- messages from inside tweedle ------------------------------------------------ */

void tw_sqs_lock(tw_sqs *s) {
  pthread_mutex_lock(&s->mu);
}
void tw_sqs_unlock(tw_sqs *s) {
  pthread_mutex_unlock(&s->mu);
}

int tw_sqs_queue_kind_locked(tw_sqs *s, const char *queue_arn, int *fifo) {
  tw_queue *q = tw_sqs_queue_by_arn(s, queue_arn);
  if (!q) return 0;
  if (fifo) *fifo = q->fifo;
  return 1;
}

static int enqueue(tw_sqs *s, const char *queue_arn, const char *body, size_t len, json_t *attrs,
                   const char *trace, const char *sender, int check_size) {
  tw_queue *q = tw_sqs_queue_by_arn(s, queue_arn);
  if (!q || q->fifo) return -1;
  size_t size = len;
  if (attrs && json_object_size(attrs)) {
    const char *k;
    json_t *a;
    json_object_foreach(attrs, k, a) {
      size += strlen(k) + strlen(tw_p_str(a, "DataType") ?: "");
      size += strlen(tw_p_str(a, "StringValue") ?: tw_p_str(a, "BinaryValue") ?: "");
    }
  } else {
    attrs = NULL;
  }
  if (check_size && size > (size_t)q->max_size) return -2;
  tw_msg *m = tw_sqs_msg_new(s, q);
  tw_msg_data *md = tw_msg_data_new();
  if (!m || !md) abort(); /* out of memory */
  char mid[37];
  tw_uuid4(mid);
  tw_msg_id_set(m, mid);
  md->body = malloc(len + 1);
  if (!md->body) abort();
  memcpy(md->body, body, len);
  md->body[len] = 0;
  md->body_len = len;
  tw_md5_hex(body, len, md->md5_body);
  md->attrs = attrs ? json_deep_copy(attrs) : NULL;
  if (trace && *trace) /* not counted against the size, as SQS does */
    md->sys_attrs =
        json_pack("{s:{s:s,s:s}}", "AWSTraceHeader", "DataType", "String", "StringValue", trace);
  tw_sqs_data_digests(md);
  m->sent_ms = tw_now_ms();
  m->visible_at_ms = m->sent_ms + (int64_t)q->delay * 1000;
  md->sender_id = sender ? strdup(sender) : NULL;
  tw_sqs_msg_add(s, q, m, md, 1);
  return 0;
}

int tw_sqs_enqueue_locked(tw_sqs *s, const char *queue_arn, const char *body, size_t len,
                          const char *sender) {
  return enqueue(s, queue_arn, body, len, NULL, NULL, sender, 0);
}

int tw_sqs_enqueue_attrs_locked(tw_sqs *s, const char *queue_arn, const char *body, size_t len,
                                json_t *attrs, const char *sender) {
  return enqueue(s, queue_arn, body, len, attrs, NULL, sender, 1);
}

int tw_sqs_enqueue_traced_locked(tw_sqs *s, const char *queue_arn, const char *body, size_t len,
                                 json_t *attrs, const char *trace, const char *sender) {
  return enqueue(s, queue_arn, body, len, attrs, trace, sender, attrs != NULL);
}
