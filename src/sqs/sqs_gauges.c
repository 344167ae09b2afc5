/* Read-only queue gauges for the Prometheus endpoint (src/prom): unlike
 * tw_sqs_metrics_sweep, nothing is reset, so both can read. */
#include "sqs/sqs_internal.h"

void tw_sqs_gauges(tw_sqs *s,
                   void (*fn)(void *ud, const char *name, int visible, int in_flight, int delayed),
                   void *ud) {
  pthread_mutex_lock(&s->mu);
  for (tw_queue *q = s->queues_head; q; q = q->next)
    if (!q->deleted) fn(ud, q->name, q->n_visible, q->n_inflight, q->n_delayed);
  pthread_mutex_unlock(&s->mu);
}
