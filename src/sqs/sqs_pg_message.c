/* Cluster mode's message actions (sqs_pg.h): SendMessage(Batch),
 * ReceiveMessage, DeleteMessage(Batch), ChangeMessageVisibility(Batch), on
 * PostgreSQL (store/pg_sqs.h). Validation is the embedded engine's (params.c,
 * tw_sqs_send_parse, sqs_common.h); replies have the same shape. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "sqs/msg_digest.h"
#include "sqs/params.h"
#include "sqs/sqs_common.h"
#include "sqs/sqs_internal.h"
#include "sqs/sqs_pg_internal.h"

/* --- sending ------------------------------------------------------------------ */

typedef struct {
  tw_sqs_send_req r;
  char id[37];
  char *attrs, *sys;
  int bad;
  char dedup[65], key[400]; /* FIFO: the deduplication id and its key */
} send_one;

/* The queue-dependent checks of tw_sqs_send_check. */
static int send_check(tw_sqs_call *c, const pq *q, const tw_sqs_send_req *r) {
  return tw_sqs_send_queue_check(c, r, q->max_size, q->row.fifo, q->content_dedup);
}

/* Fills the row of a checked message; its MD5s go into res. */
static void send_prepare(tw_sqs_call *c, const pq *q, send_one *s, tw_pg_send_msg *m, int64_t now,
                         json_t *res) {
  tw_sqs_send_req *r = &s->r;
  tw_uuid4(s->id);
  s->attrs = r->attrs ? json_dumps(r->attrs, JSON_COMPACT) : NULL;
  json_t *sys = r->sys ? json_incref(r->sys) : NULL;
  if (!sys && c->trace_header[0])
    sys = json_pack("{s:{s:s,s:s}}", "AWSTraceHeader", "DataType", "String", "StringValue",
                    c->trace_header);
  s->sys = sys ? json_dumps(sys, JSON_COMPACT) : NULL;
  json_decref(sys);
  int delay = r->has_delay ? (int)r->delay : q->delay;
  *m = (tw_pg_send_msg){.msg_id = s->id,
                        .body = r->body,
                        .body_len = r->body_len,
                        .attrs_json = s->attrs,
                        .sys_json = s->sys,
                        .sender_id = c->principal,
                        .group_id = r->group,
                        .sent_ms = now,
                        .visible_at_ms = now + (int64_t)delay * 1000};
  if (q->row.fifo) { /* the id given, else the body's SHA-256 (ContentBasedDeduplication) */
    if (r->dedup)
      snprintf(s->dedup, sizeof s->dedup, "%s", r->dedup);
    else
      tw_sha256_hex(r->body, r->body_len, s->dedup);
    if (q->dedup_scope_group)
      snprintf(s->key, sizeof s->key, "%s\x1f%s", r->group, s->dedup);
    else
      snprintf(s->key, sizeof s->key, "%s", s->dedup);
    m->dedup_id = s->dedup;
    m->dedup_key = s->key;
  }
  json_object_set_new(res, "MessageId", json_string(s->id));
  json_object_set_new(res, "MD5OfMessageBody", json_string(r->md5_body));
  if (r->md5_attrs[0])
    json_object_set_new(res, "MD5OfMessageAttributes", json_string(r->md5_attrs));
  if (r->md5_sys[0])
    json_object_set_new(res, "MD5OfMessageSystemAttributes", json_string(r->md5_sys));
}

/* FIFO: the SequenceNumber; a duplicate answers the first send's MessageId. */
static void send_done(const pq *q, const tw_pg_send_msg *m, json_t *res) {
  if (!q->row.fifo) return;
  if (m->duplicate) json_object_set_new(res, "MessageId", json_string(m->dup_msg_id));
  char sn[32];
  snprintf(sn, sizeof sn, "%020" PRId64, m->seqno);
  json_object_set_new(res, "SequenceNumber", json_string(sn));
}

static int send_rows(tw_sqs_pg *p, const pq *q, tw_pg_send_msg *m, int n, int64_t now) {
  return q->row.fifo ? tw_pg_send_fifo(p->pg, q->row.id, m, n, now)
                     : tw_pg_send(p->pg, q->row.id, m, n, now);
}

int tw_sqs_pg_send_message(tw_sqs_pg *p, tw_sqs_call *c) {
  send_one s = {0};
  if (tw_sqs_send_parse(c, c->in, &s.r)) return -1;
  pq q;
  if (tw_pgq_resolve(p, c, &q)) return -1;
  int rc = send_check(c, &q, &s.r);
  if (!rc) {
    json_t *res = json_object();
    tw_pg_send_msg m;
    int64_t now = tw_now_ms();
    send_prepare(c, &q, &s, &m, now, res);
    int r = send_rows(p, &q, &m, 1, now);
    if (r) {
      json_decref(res);
      rc = tw_pgq_fail_rc(c, r);
    } else {
      send_done(&q, &m, res);
      tw_pgq_count_sent(p, q.row.name, &m, 1);
      c->out = res;
    }
  }
  free(s.attrs);
  free(s.sys);
  tw_pgq_free(&q);
  return rc;
}

int tw_sqs_pg_send_message_batch(tw_sqs_pg *p, tw_sqs_call *c) {
  json_t *entries = tw_sqs_batch_entries(c, "entry");
  if (!entries) return -1;
  size_t n = json_array_size(entries), i, total = 0;
  send_one s[10];
  memset(s, 0, sizeof s);
  tw_err errs[10];
  char msgs[10][256];
  for (i = 0; i < n; i++) {
    tw_sqs_call sub = *c;
    sub.err = TW_ERR_OK;
    sub.msg[0] = 0;
    if (tw_sqs_send_parse(&sub, json_array_get(entries, i), &s[i].r)) {
      s[i].bad = 1;
      errs[i] = sub.err;
      snprintf(msgs[i], sizeof msgs[i], "%s", sub.msg);
    } else {
      total += s[i].r.size;
    }
  }
  if (total > 1048576)
    return tw_sqs_fail(
        c, TW_ERR_BATCH_TOO_LONG,
        "Batch requests cannot be longer than 1048576 bytes. You have sent %zu bytes.", total);
  pq q;
  if (tw_pgq_resolve(p, c, &q)) return -1;
  json_t *res[10] = {0};
  tw_pg_send_msg rows[10];
  int idx[10], nrows = 0;
  int64_t now = tw_now_ms();
  json_t *failed = json_array();
  for (i = 0; i < n; i++) {
    const char *id = tw_p_str(json_array_get(entries, i), "Id");
    tw_sqs_call sub = *c;
    sub.err = TW_ERR_OK;
    sub.msg[0] = 0;
    if (!s[i].bad && send_check(&sub, &q, &s[i].r)) {
      s[i].bad = 1;
      errs[i] = sub.err;
      snprintf(msgs[i], sizeof msgs[i], "%s", sub.msg);
    }
    if (s[i].bad) {
      tw_sqs_batch_failed(failed, id, errs[i], msgs[i]);
      continue;
    }
    res[i] = json_object();
    send_prepare(c, &q, &s[i], &rows[nrows], now, res[i]);
    json_object_set_new(res[i], "Id", json_string(id));
    idx[nrows++] = (int)i;
  }
  int rc = nrows ? send_rows(p, &q, rows, nrows, now) : 0;
  for (int j = 0; j < nrows && !rc; j++) send_done(&q, &rows[j], res[idx[j]]);
  if (!rc) tw_pgq_count_sent(p, q.row.name, rows, nrows);
  json_t *ok = json_array();
  for (i = 0; i < n; i++) {
    if (res[i] && !rc) json_array_append(ok, res[i]);
    json_decref(res[i]);
    free(s[i].attrs);
    free(s[i].sys);
  }
  tw_pgq_free(&q);
  if (rc) {
    json_decref(ok);
    json_decref(failed);
    return tw_pgq_fail_rc(c, rc);
  }
  c->out = json_pack("{s:o,s:o}", "Successful", ok, "Failed", failed);
  return 0;
}

/* --- receiving ------------------------------------------------------------------ */

static json_t *render(tw_sqs_pg *p, const pq *q, const tw_pg_msg *m, unsigned mask, json_t *names) {
  char rh[80], md5[33], buf[32];
  tw_sqs_receipt_make(p->secret, (uint64_t)m->seq, m->nonce, q->row.id, rh);
  tw_md5_hex(m->body, m->body_len, md5);
  json_t *o = json_object();
  json_object_set_new(o, "MessageId", json_string(m->msg_id));
  json_object_set_new(o, "ReceiptHandle", json_string(rh));
  json_object_set_new(o, "MD5OfBody", json_string(md5));
  json_object_set_new(o, "Body", json_stringn(m->body, m->body_len));
  json_t *sys = m->sys_json ? json_loads(m->sys_json, 0, NULL) : NULL;
  if (mask) {
    json_t *a = json_object();
    if ((mask & TW_SA_SENDER) && m->sender_id)
      json_object_set_new(a, "SenderId", json_string(m->sender_id));
    if (mask & TW_SA_SENT) {
      snprintf(buf, sizeof buf, "%" PRId64, m->sent_ms);
      json_object_set_new(a, "SentTimestamp", json_string(buf));
    }
    if (mask & TW_SA_COUNT) {
      snprintf(buf, sizeof buf, "%d", m->receive_count);
      json_object_set_new(a, "ApproximateReceiveCount", json_string(buf));
    }
    if (mask & TW_SA_FIRST) {
      snprintf(buf, sizeof buf, "%" PRId64, m->first_receive_ms);
      json_object_set_new(a, "ApproximateFirstReceiveTimestamp", json_string(buf));
    }
    if (q->row.fifo) {
      if (mask & TW_SA_SEQ) {
        snprintf(buf, sizeof buf, "%020" PRId64, m->seqno);
        json_object_set_new(a, "SequenceNumber", json_string(buf));
      }
      if ((mask & TW_SA_DEDUP) && m->dedup_id)
        json_object_set_new(a, "MessageDeduplicationId", json_string(m->dedup_id));
    }
    if ((mask & TW_SA_GROUP) && m->group_id)
      json_object_set_new(a, "MessageGroupId", json_string(m->group_id));
    if ((mask & TW_SA_TRACE) && sys) {
      const char *tv = tw_p_str(json_object_get(sys, "AWSTraceHeader"), "StringValue");
      if (tv) json_object_set_new(a, "AWSTraceHeader", json_string(tv));
    }
    if ((mask & TW_SA_DLQ_SRC) && m->source_arn)
      json_object_set_new(a, "DeadLetterQueueSourceArn", json_string(m->source_arn));
    if (json_object_size(a))
      json_object_set_new(o, "Attributes", a);
    else
      json_decref(a);
  }
  json_decref(sys);
  json_t *attrs = m->attrs_json ? json_loads(m->attrs_json, 0, NULL) : NULL;
  json_t *fa = tw_sqs_filter_attrs(attrs, names);
  if (fa) {
    tw_sqs_md5_message_attributes(fa, md5);
    json_object_set_new(o, "MD5OfMessageAttributes", json_string(md5));
    json_object_set_new(o, "MessageAttributes", fa);
  }
  json_decref(attrs);
  return o;
}

/* The in-flight limit a receive must check. Counting a queue's in-flight
 * messages is the costliest part of a receive, so with a large limit (the
 * default 120,000) a node counts a queue at most once a second while the
 * count, plus what this node's receives took since, is under half the limit:
 * no cluster receives 60,000 messages a second, so the limit cannot be
 * reached before the next count. A small limit is checked on every receive.
 * 0: no check. */
#define INFLIGHT_EXACT_BELOW 10000

static int64_t inflight_limit(tw_sqs_pg *p, int64_t qid, int64_t now) {
  int64_t lim = p->max_inflight;
  if (lim <= 0) return 0;
  if (lim < INFLIGHT_EXACT_BELOW) return lim;
  int slot = (int)((uint64_t)qid % GEN_BUCKETS);
  pthread_mutex_lock(&p->inflight_mu);
  int fresh = p->inflight[slot].queue_id == qid && now >= p->inflight[slot].at_ms &&
              now - p->inflight[slot].at_ms < 1000;
  int64_t seen = p->inflight[slot].count;
  pthread_mutex_unlock(&p->inflight_mu);
  if (fresh) return seen < lim / 2 ? 0 : lim;
  int64_t n = 0;
  if (tw_pg_inflight(p->pg, qid, now, lim, &n)) return lim; /* the receive counts */
  pthread_mutex_lock(&p->inflight_mu);
  p->inflight[slot].queue_id = qid;
  p->inflight[slot].count = n;
  p->inflight[slot].at_ms = now;
  pthread_mutex_unlock(&p->inflight_mu);
  return n < lim / 2 ? 0 : lim;
}

/* A receive of this node took n messages of queue qid. */
static void inflight_took(tw_sqs_pg *p, int64_t qid, int n) {
  int slot = (int)((uint64_t)qid % GEN_BUCKETS);
  pthread_mutex_lock(&p->inflight_mu);
  if (p->inflight[slot].queue_id == qid) p->inflight[slot].count += n;
  pthread_mutex_unlock(&p->inflight_mu);
}

int tw_sqs_pg_receive_message(tw_sqs_pg *p, tw_sqs_call *c) {
  long long max, vis, wait;
  if (tw_sqs_receive_params(c, &max, &vis, &wait)) return -1;
  pq q;
  if (tw_pgq_resolve(p, c, &q)) return -1;
  if (vis < 0) vis = q.visibility;
  if (wait < 0) wait = q.wait_time;
  /* read before looking: a notification after this makes the park fail */
  c->wake_gen = tw_pgq_gen(p, q.row.id);
  int64_t now = tw_now_ms();
  tw_pg_msg got[10];
  int n = 0;
  tw_pg_recv rq = {.queue_id = q.row.id,
                   .fifo = q.row.fifo,
                   .max = (int)max,
                   .vis_s = (int)vis,
                   .now_ms = now,
                   .min_sent_ms = now - q.retention * 1000,
                   .max_inflight = inflight_limit(p, q.row.id, now),
                   .source_arn = q.arn,
                   .attempt = q.row.fifo ? tw_p_str(c->in, "ReceiveRequestAttemptId") : NULL};
  int rc = 0;
  if (q.dlq_arn[0] && q.max_receive_count > 0) { /* the dead-letter queue, if it exists */
    tw_pg_queue dlq = {0};
    rc = tw_pgq_by_arn(p, q.dlq_arn, &dlq);
    if (!rc) {
      rq.dlq_id = dlq.id;
      rq.dlq_fifo = dlq.fifo;
      rq.max_receive_count = q.max_receive_count;
    }
    tw_pg_queue_free(&dlq);
    if (rc == TW_PG_NOT_FOUND) rc = 0;
  }
  if (!rc) rc = tw_pg_receive_ex(p->pg, &rq, got, &n);
  if (rc == TW_PG_OVER_LIMIT) {
    tw_pgq_free(&q);
    return tw_sqs_fail(c, TW_ERR_OVER_LIMIT,
                       "Too many messages in flight: the limit of %lld in-flight messages per "
                       "queue has been reached.",
                       (long long)p->max_inflight);
  }
  if (rc) {
    tw_pgq_free(&q);
    return tw_pgq_fail_rc(c, rc);
  }
  if (n && p->max_inflight >= INFLIGHT_EXACT_BELOW) inflight_took(p, q.row.id, n);
  unsigned mask = tw_sqs_sys_attr_mask(c->in);
  json_t *names = json_object_get(c->in, "MessageAttributeNames");
  json_t *list = json_array();
  for (int i = 0; i < n; i++) {
    json_array_append_new(list, render(p, &q, &got[i], mask, names));
    tw_pg_msg_free(&got[i]);
  }
  int64_t qid = q.row.id;
  pthread_mutex_lock(&p->mu);
  int stopping = p->stop;
  pthread_mutex_unlock(&p->mu);
  tw_sqs_receive_reply(c, list, n, wait, stopping, qid);
  /* built-in metrics: a receive that answers empty counts once (not each look of a long poll) */
  if (n || c->out) tw_pgq_count(p, q.row.name, (uint64_t)n, 0, n ? 0 : 1);
  tw_pgq_free(&q);
  return 0;
}

/* --- delete, change visibility ------------------------------------------------------ */

static int delete_one(tw_sqs_pg *p, tw_sqs_call *c, const pq *q, const char *h) {
  uint64_t seq;
  uint32_t nonce;
  if (tw_sqs_receipt_check(c, p->secret, q->row.id, h, &seq, &nonce)) return -1;
  int deleted, rc;
  if (q->row.fifo) {
    /* FIFO refuses an older receipt or one whose visibility ran out, so the
     * consumer learns that someone else may hold the message now */
    int expired;
    rc = tw_pg_msg_delete_fifo(p->pg, q->row.id, (int64_t)seq, nonce, tw_now_ms(), &expired);
    if (!rc && expired)
      return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                         "Value %s for parameter ReceiptHandle is invalid. Reason: The receipt "
                         "handle has expired.",
                         h);
    if (!rc) tw_pgq_count(p, q->row.name, 0, 1, 0);
    return rc ? tw_pgq_fail_rc(c, rc) : 0;
  }
  /* gone, or an older receipt of a message received again: succeeds, no change */
  rc = tw_pg_msg_delete(p->pg, q->row.id, (int64_t)seq, nonce, &deleted);
  if (!rc && deleted) tw_pgq_count(p, q->row.name, 0, 1, 0);
  return rc ? tw_pgq_fail_rc(c, rc) : 0;
}

static int change_one(tw_sqs_pg *p, tw_sqs_call *c, const pq *q, const char *h, json_t *in) {
  long long vis;
  int hv = tw_p_int(c, in, "VisibilityTimeout", &vis);
  if (hv < 0) return -1;
  if (!hv)
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter VisibilityTimeout.");
  uint64_t seq;
  uint32_t nonce;
  if (tw_sqs_receipt_check(c, p->secret, q->row.id, h, &seq, &nonce)) return -1;
  int current;
  int64_t visible_at, received;
  int rc = tw_pg_msg_state(p->pg, q->row.id, (int64_t)seq, nonce, &current, &visible_at, &received);
  if (rc == TW_PG_NOT_FOUND)
    return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                       "Value %s for parameter ReceiptHandle is invalid. Reason: Message does not "
                       "exist or is not available for visibility timeout change.",
                       h);
  if (rc) return tw_pgq_fail_rc(c, rc);
  if (tw_p_range(c, "VisibilityTimeout", vis, 0, 43200,
                 "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]"))
    return -1;
  int64_t now = tw_now_ms();
  /* an expired or older receipt: 200, nothing changes (as the embedded engine) */
  if (!current || visible_at <= now || !received) return 0;
  if (now + vis * 1000 - received > 43200 * 1000LL)
    return tw_sqs_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                       "Value %lld for parameter VisibilityTimeout is invalid. Reason: Total "
                       "VisibilityTimeout for the message is beyond the limit [43200 seconds]",
                       vis);
  rc = tw_pg_msg_set_visibility(p->pg, q->row.id, (int64_t)seq, nonce, now, now + vis * 1000);
  return rc ? tw_pgq_fail_rc(c, rc) : 0;
}

int tw_sqs_pg_delete_message(tw_sqs_pg *p, tw_sqs_call *c) {
  pq q;
  if (tw_pgq_resolve(p, c, &q)) return -1;
  int rc = delete_one(p, c, &q, tw_p_str(c->in, "ReceiptHandle"));
  tw_pgq_free(&q);
  if (!rc) c->out = json_object();
  return rc;
}

int tw_sqs_pg_change_message_visibility(tw_sqs_pg *p, tw_sqs_call *c) {
  pq q;
  if (tw_pgq_resolve(p, c, &q)) return -1;
  int rc = change_one(p, c, &q, tw_p_str(c->in, "ReceiptHandle"), c->in);
  tw_pgq_free(&q);
  if (!rc) c->out = json_object();
  return rc;
}

static int handle_batch(tw_sqs_pg *p, tw_sqs_call *c, int change) {
  json_t *entries = tw_sqs_batch_entries(c, "entry");
  if (!entries) return -1;
  pq q;
  if (tw_pgq_resolve(p, c, &q)) return -1;
  json_t *ok = json_array(), *failed = json_array();
  size_t i;
  json_t *e;
  int unavailable = 0;
  json_array_foreach(entries, i, e) {
    const char *id = tw_p_str(e, "Id");
    tw_sqs_call sub = *c;
    sub.err = TW_ERR_OK;
    sub.msg[0] = 0;
    const char *h = tw_p_str(e, "ReceiptHandle");
    int rc = change ? change_one(p, &sub, &q, h, e) : delete_one(p, &sub, &q, h);
    if (rc && sub.err == TW_ERR_SERVICE_UNAVAILABLE) unavailable = 1;
    if (rc)
      tw_sqs_batch_failed(failed, id, sub.err, sub.msg);
    else
      json_array_append_new(ok, json_pack("{s:s}", "Id", id));
  }
  tw_pgq_free(&q);
  if (unavailable && !json_array_size(ok)) {
    json_decref(ok);
    json_decref(failed);
    return tw_pgq_fail_rc(c, TW_PG_UNAVAILABLE);
  }
  c->out = json_pack("{s:o,s:o}", "Successful", ok, "Failed", failed);
  return 0;
}

/* Every valid entry in one statement, one commit (a stale or already used
 * receipt succeeds without a change, as for DeleteMessage). */
int tw_sqs_pg_delete_message_batch(tw_sqs_pg *p, tw_sqs_call *c) {
  json_t *entries = tw_sqs_batch_entries(c, "entry");
  if (!entries) return -1;
  pq q;
  if (tw_pgq_resolve(p, c, &q)) return -1;
  if (q.row.fifo) { /* entry by entry: each may be refused (an expired receipt) */
    tw_pgq_free(&q);
    return handle_batch(p, c, 0);
  }
  json_t *ok = json_array(), *failed = json_array();
  int64_t seqs[10];
  uint32_t nonces[10];
  int n = 0;
  size_t i;
  json_t *e;
  json_array_foreach(entries, i, e) {
    const char *id = tw_p_str(e, "Id");
    tw_sqs_call sub = *c;
    sub.err = TW_ERR_OK;
    sub.msg[0] = 0;
    uint64_t seq;
    uint32_t nonce;
    if (n < 10 && !tw_sqs_receipt_check(&sub, p->secret, q.row.id, tw_p_str(e, "ReceiptHandle"),
                                        &seq, &nonce)) {
      seqs[n] = (int64_t)seq;
      nonces[n++] = nonce;
      json_array_append_new(ok, json_pack("{s:s}", "Id", id));
    } else {
      tw_sqs_batch_failed(failed, id, sub.err, sub.msg);
    }
  }
  int rc = n ? tw_pg_msg_delete_batch(p->pg, q.row.id, seqs, nonces, n) : 0;
  /* the valid receipts (the statement does not say how many rows were still there) */
  if (!rc) tw_pgq_count(p, q.row.name, 0, (uint64_t)n, 0);
  tw_pgq_free(&q);
  if (rc) {
    json_decref(ok);
    json_decref(failed);
    return tw_pgq_fail_rc(c, rc);
  }
  c->out = json_pack("{s:o,s:o}", "Successful", ok, "Failed", failed);
  return 0;
}

int tw_sqs_pg_change_message_visibility_batch(tw_sqs_pg *p, tw_sqs_call *c) {
  return handle_batch(p, c, 1);
}

/* --- TweedleDeleteAndSend (sqs_pipeline.c describes it) ----------------------------- */

#define DAS_MAX 10

/* The entry id before a failed entry's message, as the embedded engine. */
static int das_entry_fail(tw_sqs_call *c, const tw_sqs_call *sub, const char *id) {
  c->err = sub->err;
  const char *m = sub->msg[0] ? sub->msg : tw_err_get(sub->err)->message;
  snprintf(c->msg, sizeof c->msg, "Entry %s: %.900s", id ? id : "", m);
  return -1;
}

static int das_stale(tw_sqs_call *c, const char *h) {
  return tw_sqs_fail(c, TW_ERR_RECEIPT_HANDLE_INVALID,
                     "The input receipt handle \"%s\" is not a valid receipt handle. Reason: the "
                     "message was deleted or received again since this handle was given out.",
                     h);
}

/* Checks in the embedded engine's order (entries, queue, receipt, each
 * entry's queue and limits), then the delete and every send in one
 * transaction (tw_pg_delete_and_send): any failure changes nothing. */
int tw_sqs_pg_delete_and_send(tw_sqs_pg *p, tw_sqs_call *c) {
  const char *handle = tw_p_str(c->in, "ReceiptHandle");
  if (!handle || !*handle)
    return tw_sqs_fail(c, TW_ERR_MISSING_PARAMETER,
                       "The request must contain the parameter ReceiptHandle.");
  /* Entries: absent or [] means "the record is finished": only the delete. */
  json_t *entries = json_object_get(c->in, "Entries");
  size_t n = 0, i, total = 0;
  if (entries && !json_is_null(entries) && !(json_is_array(entries) && !json_array_size(entries))) {
    entries = tw_sqs_batch_entries(c, "entry");
    if (!entries) return -1;
    n = json_array_size(entries);
    if (n > DAS_MAX) n = DAS_MAX; /* tw_sqs_batch_entries refuses more */
  }
  send_one s[DAS_MAX];
  memset(s, 0, sizeof s);
  for (i = 0; i < n; i++) {
    json_t *e = json_array_get(entries, i);
    tw_sqs_call sub = *c;
    sub.err = TW_ERR_OK;
    sub.msg[0] = 0;
    if (tw_sqs_send_parse(&sub, e, &s[i].r)) return das_entry_fail(c, &sub, tw_p_str(e, "Id"));
    total += s[i].r.size;
  }
  if (total > 1048576)
    return tw_sqs_fail(
        c, TW_ERR_BATCH_TOO_LONG,
        "Batch requests cannot be longer than 1048576 bytes. You have sent %zu bytes.", total);
  pq q;
  if (tw_pgq_resolve(p, c, &q)) return -1;
  pq dq[DAS_MAX];
  int nd = 0, rc = -1;
  const pq *dest[DAS_MAX];
  json_t *res[DAS_MAX] = {0};
  uint64_t seq;
  uint32_t nonce;
  if (tw_sqs_receipt_check(c, p->secret, q.row.id, handle, &seq, &nonce)) goto done;
  { /* the receipt must be the message's latest: checked again in the transaction */
    int current;
    int64_t visible_at, received;
    int r = tw_pg_msg_state(p->pg, q.row.id, (int64_t)seq, nonce, &current, &visible_at, &received);
    if (r == TW_PG_NOT_FOUND || (!r && !current)) {
      das_stale(c, handle);
      goto done;
    }
    if (r) {
      tw_pgq_fail_rc(c, r);
      goto done;
    }
  }
  for (i = 0; i < n; i++) {
    json_t *e = json_array_get(entries, i);
    const char *id = tw_p_str(e, "Id");
    tw_sqs_call sub = *c;
    sub.err = TW_ERR_OK;
    sub.msg[0] = 0;
    const pq *t = &q;
    if (tw_p_str(e, "QueueUrl")) { /* its own queue; each queue looked up once */
      sub.in = e;
      sub.out = NULL;
      if (tw_pgq_resolve(p, &sub, &dq[nd])) {
        das_entry_fail(c, &sub, id);
        goto done;
      }
      int64_t qid = dq[nd].row.id;
      if (qid != q.row.id)
        for (int j = 0; j < nd && t == &q; j++)
          if (dq[j].row.id == qid) t = &dq[j];
      if (qid == q.row.id || t != &q)
        tw_pgq_free(&dq[nd]);
      else
        t = &dq[nd++];
      sub.in = c->in;
    }
    if (send_check(&sub, t, &s[i].r)) {
      das_entry_fail(c, &sub, id);
      goto done;
    }
    dest[i] = t;
  }
  /* the rows grouped by queue (in the order of the entries within each) */
  tw_pg_send_msg rows[DAS_MAX];
  tw_pg_send_to to[DAS_MAX];
  int row_of[DAS_MAX], nto = 0, nrows = 0;
  int64_t now = tw_now_ms();
  for (i = 0; i < n; i++) {
    int seen = 0;
    for (size_t j = 0; j < i && !seen; j++) seen = dest[j] == dest[i];
    if (seen) continue;
    to[nto] = (tw_pg_send_to){
        .queue_id = dest[i]->row.id, .fifo = dest[i]->row.fifo, .m = &rows[nrows], .n = 0};
    for (size_t j = i; j < n; j++) {
      if (dest[j] != dest[i]) continue;
      res[j] = json_object();
      send_prepare(c, dest[j], &s[j], &rows[nrows], now, res[j]);
      json_object_set_new(res[j], "Id", json_string(tw_p_str(json_array_get(entries, j), "Id")));
      row_of[j] = nrows++;
      to[nto].n++;
    }
    nto++;
  }
  int r = tw_pg_delete_and_send(p->pg, q.row.id, q.row.fifo, (int64_t)seq, nonce, to, nto, now);
  if (r == TW_PG_CONFLICT) {
    das_stale(c, handle);
    goto done;
  }
  if (r) {
    tw_pgq_fail_rc(c, r);
    goto done;
  }
  json_t *ok = json_array();
  for (i = 0; i < n; i++) {
    send_done(dest[i], &rows[row_of[i]], res[i]);
    json_array_append(ok, res[i]);
  }
  tw_pgq_count(p, q.row.name, 0, 1, 0);
  for (int j = 0; j < nto; j++) /* to[j]: the rows for the queue of its entries */
    for (i = 0; i < n; i++)
      if (dest[i]->row.id == to[j].queue_id) {
        tw_pgq_count_sent(p, dest[i]->row.name, to[j].m, to[j].n);
        break;
      }
  c->out = json_pack("{s:o}", "Successful", ok);
  rc = 0;
done:
  for (i = 0; i < n; i++) {
    json_decref(res[i]);
    free(s[i].attrs);
    free(s[i].sys);
  }
  for (int j = 0; j < nd; j++) tw_pgq_free(&dq[j]);
  tw_pgq_free(&q);
  return rc;
}
