/* Message actions: SendMessage(+Batch), ReceiveMessage, DeleteMessage(+Batch),
 * ChangeMessageVisibility(+Batch). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/crypto.h"
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
  if ((long long)r->size > q->max_size) {
    return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                       "One or more parameters are invalid. Reason: Message must be shorter than "
                       "%d bytes.",
                       q->max_size);
  }
  if (q->fifo) {
    if (!r->group)
      return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                         "The request must contain the parameter MessageGroupId.");
    if (r->has_delay && r->delay != 0)
      return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                         "Value %lld for parameter DelaySeconds is invalid. Reason: The request "
                         "include parameter that is not valid for this queue type.",
                         r->delay);
    if (!r->dedup && !q->content_dedup)
      return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                         "The queue should either have ContentBasedDeduplication enabled or "
                         "MessageDeduplicationId provided explicitly");
  } else if (r->dedup) {
    return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter MessageDeduplicationId is invalid. Reason: The "
                       "request include parameter that is not valid for this queue type.",
                       r->dedup);
  }
  return 0;
}

/* Checks that depend on the queue; then enqueues. Lock held. Fills `res`. */
int tw_sqs_send_one(tw_sqs_call *c, tw_queue *q, send_req *r, json_t *res) {
  tw_sqs *s = c->sqs;
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
      json_object_set_new(res, "MessageId", json_string(d->msg_id));
      char sn[32];
      snprintf(sn, sizeof sn, "%020" PRIu64, d->seqno);
      json_object_set_new(res, "SequenceNumber", json_string(sn));
      json_object_set_new(res, "MD5OfMessageBody", json_string(r->md5_body));
      if (r->md5_attrs[0])
        json_object_set_new(res, "MD5OfMessageAttributes", json_string(r->md5_attrs));
      if (r->md5_sys[0])
        json_object_set_new(res, "MD5OfMessageSystemAttributes", json_string(r->md5_sys));
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
  char md5_body[33], md5_attrs[33], md5_sys[33];
  memcpy(md5_body, md->md5_body, 33);
  memcpy(md5_attrs, md->md5_attrs, 33);
  memcpy(md5_sys, md->md5_sys, 33);
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
    char sn[32];
    snprintf(sn, sizeof sn, "%020" PRIu64, seqno);
    json_object_set_new(res, "SequenceNumber", json_string(sn));
  }
  json_object_set_new(res, "MessageId", json_string(mid));
  json_object_set_new(res, "MD5OfMessageBody", json_string(md5_body));
  if (md5_attrs[0]) json_object_set_new(res, "MD5OfMessageAttributes", json_string(md5_attrs));
  if (md5_sys[0]) json_object_set_new(res, "MD5OfMessageSystemAttributes", json_string(md5_sys));
  return 0;
}

int tw_sqs_send_message(tw_sqs_call *c) {
  send_req r;
  if (tw_sqs_send_parse(c, c->in, &r)) return -1;
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  json_t *res = json_object();
  int rc = q ? tw_sqs_send_one(c, q, &r, res) : -1;
  pthread_mutex_unlock(&c->sqs->mu);
  if (rc)
    json_decref(res);
  else
    c->out = res;
  return rc;
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
  json_t *ok = json_array(), *failed = json_array();
  pthread_mutex_lock(&c->sqs->mu);
  tw_queue *q = tw_sqs_resolve_queue(c);
  if (q) {
    for (i = 0; i < n; i++) {
      const char *id = tw_p_str(json_array_get(entries, i), "Id");
      if (bad[i]) {
        tw_sqs_batch_failed(failed, id, errs[i], msgs[i]);
        continue;
      }
      json_t *res = json_object();
      tw_sqs_call sub = *c;
      sub.err = TW_ERR_OK;
      sub.msg[0] = 0;
      if (tw_sqs_send_one(&sub, q, &reqs[i], res)) {
        json_decref(res);
        tw_sqs_batch_failed(failed, id, sub.err, sub.msg);
        continue;
      }
      if (sub.ticket > c->ticket) c->ticket = sub.ticket;
      json_object_set_new(res, "Id", json_string(id));
      json_array_append_new(ok, res);
    }
  }
  pthread_mutex_unlock(&c->sqs->mu);
  if (!q) {
    json_decref(ok);
    json_decref(failed);
    return -1;
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
  if (n > 0) { /* bodies and attributes: the cache, else the store */
    tw_msg_data *data[10];
    tw_sqs_fetch(s, got, n, data);
    for (int i = 0; i < n; i++)
      if (data[i]) json_array_append_new(list, render_message(c, got[i], data[i], mask, names));
    tw_sqs_fetch_done(s, data, n);
  }
  int64_t qid = q->id;
  int stopping = s->stop; /* shutting down: parked receives answer at once */
  if (n > 0)              /* built-in metrics: a receive that answers empty counts once */
    q->m_received += (uint64_t)n;
  else if (wait <= 0 || stopping || (c->runs > 1 && tw_mono_ms() >= c->deadline_mono_ms))
    q->m_empty++;
  pthread_mutex_unlock(&s->mu);
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
  json_t *ok = json_array(), *failed = json_array();
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
      if (rc) {
        tw_sqs_batch_failed(failed, id, sub.err, sub.msg);
      } else {
        json_t *o = json_object();
        json_object_set_new(o, "Id", json_string(id));
        json_array_append_new(ok, o);
      }
    }
  }
  pthread_mutex_unlock(&c->sqs->mu);
  if (!q) {
    json_decref(ok);
    json_decref(failed);
    return -1;
  }
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
