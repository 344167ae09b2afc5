/* Read paths for the web console (src/console): the queues with their counts
 * and relations, and a peek at a queue's messages. Nothing here changes a
 * message: no receive count, no visibility, no receipt handle. */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "sqs/sqs_internal.h"

json_t *tw_sqs_console_queues(tw_sqs *s) {
  json_t *arr = json_array();
  pthread_mutex_lock(&s->mu);
  tw_sqs_resync_if_needed(s);
  int64_t now = tw_now_ms();
  for (tw_queue *q = s->queues_head; q; q = q->next) {
    if (q->deleted) continue;
    int64_t oldest = tw_sqs_oldest_sent(q);
    json_t *o = json_pack("{s:s,s:s,s:b,s:i,s:i,s:i,s:I,s:I}", "name", q->name, "arn", q->arn,
                          "fifo", q->fifo, "visible", q->n_visible, "in_flight", q->n_inflight,
                          "delayed", q->n_delayed, "oldest_age_s",
                          (json_int_t)(oldest && now > oldest ? (now - oldest) / 1000 : 0),
                          "created", (json_int_t)q->created);
    if (o && q->dlq_arn) {
      json_object_set_new(o, "dlq_arn", json_string(q->dlq_arn));
      json_object_set_new(o, "max_receive_count", json_integer(q->max_receive_count));
    }
    if (o) json_array_append_new(arr, o);
  }
  pthread_mutex_unlock(&s->mu);
  return arr;
}

static int by_seq(const void *a, const void *b) {
  const tw_msg *x = *(const tw_msg *const *)a, *y = *(const tw_msg *const *)b;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static json_t *str_or_invalid(const char *p, size_t n) {
  json_t *v = json_stringn(p, n);
  return v ? v : json_string("(not valid UTF-8)");
}

static json_t *msg_json(const tw_msg *m, const tw_msg_data *d) {
  static const char *const states[] = {"delayed", "visible", "in_flight"};
  json_t *o = json_object();
  char mid[37];
  tw_msg_id_str(m, mid);
  json_object_set_new(o, "MessageId", json_string(mid));
  json_object_set_new(o, "Body", str_or_invalid(d->body ? d->body : "", d->body_len));
  json_object_set_new(o, "MD5OfBody", json_string(d->md5_body));
  json_object_set_new(o, "State", json_string(states[m->state]));
  json_object_set_new(o, "SentTimestamp", json_integer(m->sent_ms));
  json_object_set_new(o, "ApproximateReceiveCount", json_integer(m->receive_count));
  if (m->first_rel)
    json_object_set_new(o, "ApproximateFirstReceiveTimestamp",
                        json_integer(tw_msg_first_receive(m)));
  if (m->state != MSG_VISIBLE) json_object_set_new(o, "VisibleAt", json_integer(m->visible_at_ms));
  if (d->attrs) json_object_set_new(o, "MessageAttributes", json_deep_copy(d->attrs));
  const char *gid = d->group_id ? d->group_id : tw_msg_group(m) ? tw_msg_group(m)->id : NULL;
  if (gid) json_object_set_new(o, "MessageGroupId", json_string(gid));
  if (d->dedup_id) json_object_set_new(o, "MessageDeduplicationId", json_string(d->dedup_id));
  if (d->sender_id) json_object_set_new(o, "SenderId", json_string(d->sender_id));
  if (d->source_arn) json_object_set_new(o, "DeadLetterQueueSourceArn", json_string(d->source_arn));
  if (d->seqno) {
    char sn[24];
    snprintf(sn, sizeof sn, "%llu", (unsigned long long)d->seqno);
    json_object_set_new(o, "SequenceNumber", json_string(sn));
  }
  return o;
}

/* Collects every message of q (up to cap), then keeps the `max` oldest. */
json_t *tw_sqs_console_peek(tw_sqs *s, const char *name, int max) {
  if (max < 1) max = 1;
  if (max > 100) max = 100;
  pthread_mutex_lock(&s->mu);
  tw_sqs_resync_if_needed(s);
  tw_queue *q = tw_sqs_queue_by_name(s, name);
  if (!q || q->deleted) {
    pthread_mutex_unlock(&s->mu);
    return NULL;
  }
  size_t total = (size_t)q->n_visible + (size_t)q->n_inflight + (size_t)q->n_delayed;
  if (total > TW_SQS_SCAN_MAX) total = TW_SQS_SCAN_MAX;
  tw_msg **all = malloc((total + 1) * sizeof *all);
  size_t n = 0;
  for (size_t i = 0; i < q->heap_len && n < total; i++) all[n++] = q->heap[i];
  for (tw_msg *m = q->ready_head; m && n < total; m = m->next) all[n++] = m;
  for (tw_group *g = q->groups_head; g && n < total; g = g->next)
    for (tw_msg *m = g->head; m && n < total; m = m->next)
      if (m->state == MSG_VISIBLE) all[n++] = m; /* the heap holds the others */
  qsort(all, n, sizeof *all, by_seq);
  json_t *arr = json_array();
  int shown = n < (size_t)max ? (int)n : max;
  tw_msg_data *data[100]; /* bodies and attributes: the cache, else the store */
  tw_sqs_fetch(s, all, shown, data);
  for (int i = 0; i < shown; i++)
    if (data[i]) json_array_append_new(arr, msg_json(all[i], data[i]));
  tw_sqs_fetch_done(s, data, shown);
  json_t *out = json_pack("{s:o,s:I}", "messages", arr, "total",
                          (json_int_t)(q->n_visible + q->n_inflight + q->n_delayed));
  pthread_mutex_unlock(&s->mu);
  free(all);
  return out;
}
