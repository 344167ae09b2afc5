/* The built-in AWS/SQS metrics at their source: the engine counts sends,
 * receives, deletes and empty receives per queue under its own lock (no
 * extra lock per message); the publisher (monitoring/builtin.c) sweeps the
 * counts and reads the gauges every --metrics-interval seconds. */
#include <stdint.h>

#include "core/clock.h"
#include "sqs/sqs_internal.h"

void tw_sqs_metrics_sent(tw_queue *q, size_t bytes) {
  double b = (double)bytes;
  if (q->m_sent == 0 || b < q->m_size_min) q->m_size_min = b;
  if (q->m_sent == 0 || b > q->m_size_max) q->m_size_max = b;
  q->m_sent++;
  q->m_size_sum += b;
}

int64_t tw_sqs_oldest_sent(const tw_queue *q) {
  int64_t oldest = 0;
  size_t seen = 0;
  for (size_t i = 0; i < q->heap_len && seen < TW_SQS_SCAN_MAX; i++, seen++)
    if (!oldest || q->heap[i]->sent_ms < oldest) oldest = q->heap[i]->sent_ms;
  for (const tw_msg *m = q->ready_head; m && seen < TW_SQS_SCAN_MAX; m = m->next, seen++)
    if (!oldest || m->sent_ms < oldest) oldest = m->sent_ms;
  for (const tw_group *g = q->groups_head; g && seen < TW_SQS_SCAN_MAX; g = g->next)
    for (const tw_msg *m = g->head; m && seen < TW_SQS_SCAN_MAX; m = m->next, seen++)
      if (!oldest || m->sent_ms < oldest) oldest = m->sent_ms;
  return oldest;
}

void tw_sqs_metrics_sweep(tw_sqs *s, void (*fn)(void *ud, const tw_sqs_queue_metrics *m),
                          void *ud) {
  pthread_mutex_lock(&s->mu);
  int64_t now = tw_now_ms();
  for (tw_queue *q = s->queues_head; q; q = q->next) {
    if (q->deleted) continue;
    tw_sqs_queue_metrics m = {.name = q->name,
                              .sent = q->m_sent,
                              .received = q->m_received,
                              .deleted = q->m_deleted,
                              .empty_receives = q->m_empty,
                              .size_sum = q->m_size_sum,
                              .size_min = q->m_size_min,
                              .size_max = q->m_size_max,
                              .visible = q->n_visible,
                              .not_visible = q->n_inflight,
                              .delayed = q->n_delayed,
                              .fifo = q->fifo};
    int64_t oldest = tw_sqs_oldest_sent(q);
    m.oldest_age_s = oldest && now > oldest ? (double)((now - oldest) / 1000) : 0;
    for (const tw_group *g = q->groups_head; g; g = g->next) m.groups_inflight += g->inflight > 0;
    q->m_sent = q->m_received = q->m_deleted = q->m_empty = 0;
    q->m_size_sum = q->m_size_min = q->m_size_max = 0;
    fn(ud, &m);
  }
  pthread_mutex_unlock(&s->mu);
}
