/* The web console's queue list and peek in cluster mode: the documents of
 * sqs_console.c, from PostgreSQL (store/pg_console.h). A peek reads the rows
 * only: no receive count, visibility or receipt handle changes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "sqs/sqs_pg_console.h"
#include "sqs/sqs_pg_internal.h"
#include "store/pg_console.h"

#define MAX_QUEUES 1000

/* The queue named `name` (parsed as the actions see it): 0, or a tw_pg_rc. */
static int load(tw_sqs_pg *p, const char *name, pq *q) {
  char url[600];
  snprintf(url, sizeof url, "/%s/%s", p->account, name);
  tw_sqs_call c;
  memset(&c, 0, sizeof c);
  c.in = json_pack("{s:s}", "QueueUrl", url);
  c.path = "/";
  int rc = tw_pgq_resolve(p, &c, q);
  json_decref(c.in);
  if (!rc) return 0;
  return c.err == TW_ERR_QUEUE_DOES_NOT_EXIST ? TW_PG_NOT_FOUND : TW_PG_UNAVAILABLE;
}

json_t *tw_sqs_pg_console_queues(tw_sqs_pg *p) {
  char **names = NULL;
  size_t n = 0;
  if (tw_pg_queue_list(p->pg, NULL, &names, &n)) return NULL;
  json_t *arr = json_array();
  int64_t now = tw_now_ms();
  int failed = 0;
  for (size_t i = 0; i < n; i++) {
    if (!failed && i < MAX_QUEUES) {
      pq q;
      int rc = load(p, names[i], &q);
      int64_t vis = 0, inflight = 0, delayed = 0, oldest = 0;
      if (!rc)
        rc = tw_pg_console_queue_stats(p->pg, q.row.id, now, now - q.retention * 1000, &vis,
                                       &inflight, &delayed, &oldest);
      if (!rc) {
        json_t *o = json_pack("{s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:I}", "name", q.row.name, "arn", q.arn,
                              "fifo", q.row.fifo, "visible", (json_int_t)vis, "in_flight",
                              (json_int_t)inflight, "delayed", (json_int_t)delayed, "oldest_age_s",
                              (json_int_t)(oldest && now > oldest ? (now - oldest) / 1000 : 0),
                              "created", (json_int_t)q.row.created);
        if (o && q.dlq_arn[0]) {
          json_object_set_new(o, "dlq_arn", json_string(q.dlq_arn));
          json_object_set_new(o, "max_receive_count", json_integer(q.max_receive_count));
        }
        if (o) json_array_append_new(arr, o);
      } else if (rc != TW_PG_NOT_FOUND) { /* deleted meanwhile: left out */
        failed = 1;
      }
      tw_pgq_free(&q);
    }
    free(names[i]);
  }
  free(names);
  if (failed) {
    json_decref(arr);
    return NULL;
  }
  return arr;
}

static json_t *msg_json(const pq *q, const tw_pg_msg *m, int64_t now) {
  char md5[33];
  tw_md5_hex(m->body ? m->body : "", m->body_len, md5);
  const char *state = m->visible_at_ms <= now ? "visible"
                      : m->receive_count > 0  ? "in_flight"
                                              : "delayed";
  json_t *o = json_object();
  json_object_set_new(o, "MessageId", json_string(m->msg_id ? m->msg_id : ""));
  json_t *b = json_stringn(m->body ? m->body : "", m->body_len);
  json_object_set_new(o, "Body", b ? b : json_string("(not valid UTF-8)"));
  json_object_set_new(o, "MD5OfBody", json_string(md5));
  json_object_set_new(o, "State", json_string(state));
  json_object_set_new(o, "SentTimestamp", json_integer(m->sent_ms));
  json_object_set_new(o, "ApproximateReceiveCount", json_integer(m->receive_count));
  if (m->first_receive_ms)
    json_object_set_new(o, "ApproximateFirstReceiveTimestamp", json_integer(m->first_receive_ms));
  if (m->visible_at_ms > now) json_object_set_new(o, "VisibleAt", json_integer(m->visible_at_ms));
  json_t *attrs = m->attrs_json ? json_loads(m->attrs_json, 0, NULL) : NULL;
  if (json_is_object(attrs) && json_object_size(attrs))
    json_object_set_new(o, "MessageAttributes", attrs);
  else
    json_decref(attrs);
  if (m->group_id) json_object_set_new(o, "MessageGroupId", json_string(m->group_id));
  if (m->dedup_id) json_object_set_new(o, "MessageDeduplicationId", json_string(m->dedup_id));
  if (m->sender_id) json_object_set_new(o, "SenderId", json_string(m->sender_id));
  if (m->source_arn) json_object_set_new(o, "DeadLetterQueueSourceArn", json_string(m->source_arn));
  if (q->row.fifo && m->seqno) {
    char sn[24];
    snprintf(sn, sizeof sn, "%" PRId64, m->seqno);
    json_object_set_new(o, "SequenceNumber", json_string(sn));
  }
  return o;
}

json_t *tw_sqs_pg_console_peek(tw_sqs_pg *p, const char *name, int max, int *rc) {
  if (max < 1) max = 1;
  if (max > 100) max = 100;
  pq q;
  *rc = load(p, name, &q);
  if (*rc) return NULL;
  int64_t now = tw_now_ms(), min_sent = now - q.retention * 1000;
  int64_t vis = 0, inflight = 0, delayed = 0, oldest = 0;
  tw_pg_msg msgs[100];
  int n = 0;
  *rc =
      tw_pg_console_queue_stats(p->pg, q.row.id, now, min_sent, &vis, &inflight, &delayed, &oldest);
  if (!*rc) *rc = tw_pg_console_peek(p->pg, q.row.id, min_sent, max, msgs, &n);
  json_t *out = NULL;
  if (!*rc) {
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(arr, msg_json(&q, &msgs[i], now));
    out = json_pack("{s:o,s:I}", "messages", arr, "total", (json_int_t)(vis + inflight + delayed));
  }
  for (int i = 0; i < n; i++) tw_pg_msg_free(&msgs[i]);
  tw_pgq_free(&q);
  return out;
}
