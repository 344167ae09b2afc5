/* Cluster mode's AWS/SQS counters (sqs_pg.h, tw_sqs_pg_metrics_sweep): each
 * node counts the sends, receives, deletes and empty receives it answered,
 * per queue name, in memory under a mutex of its own (one map lookup per
 * request, no statement); monitoring/builtin.c publishes each node's counts
 * as that node's datapoints, so their Sum over the nodes is the cluster's. */
#include <pthread.h>
#include <stdlib.h>

#include "core/map.h"
#include "sqs/sqs_pg_internal.h"

#define MAX_QUEUES 10000 /* queues counted per interval (more: not counted) */

typedef struct {
  uint64_t sent, received, deleted, empty;
  double size_sum, size_min, size_max;
} counts;

/* The counts of queue name, created on first use. Lock held. */
static counts *counts_of(tw_sqs_pg *p, const char *name) {
  counts *c = tw_map_get(&p->metrics, name);
  if (c || p->metrics.count >= MAX_QUEUES) return c;
  c = calloc(1, sizeof *c);
  if (c && tw_map_put(&p->metrics, name, c)) {
    free(c);
    c = NULL;
  }
  return c;
}

void tw_pgq_count_sent(tw_sqs_pg *p, const char *name, const tw_pg_send_msg *m, int n) {
  if (!name || n <= 0) return;
  pthread_mutex_lock(&p->metrics_mu);
  counts *c = counts_of(p, name);
  for (int i = 0; c && i < n; i++) {
    if (m[i].duplicate) continue; /* FIFO: answered the first send's, not stored */
    double b = (double)m[i].body_len;
    if (c->sent == 0 || b < c->size_min) c->size_min = b;
    if (c->sent == 0 || b > c->size_max) c->size_max = b;
    c->sent++;
    c->size_sum += b;
  }
  pthread_mutex_unlock(&p->metrics_mu);
}

void tw_pgq_count(tw_sqs_pg *p, const char *name, uint64_t received, uint64_t deleted,
                  uint64_t empty) {
  if (!name || !(received || deleted || empty)) return;
  pthread_mutex_lock(&p->metrics_mu);
  counts *c = counts_of(p, name);
  if (c) {
    c->received += received;
    c->deleted += deleted;
    c->empty += empty;
  }
  pthread_mutex_unlock(&p->metrics_mu);
}

void tw_sqs_pg_metrics_sweep(tw_sqs_pg *p, void (*fn)(void *ud, const tw_sqs_queue_metrics *m),
                             void *ud) {
  if (!p) return;
  pthread_mutex_lock(&p->metrics_mu);
  tw_map m = p->metrics;
  tw_map_init(&p->metrics);
  pthread_mutex_unlock(&p->metrics_mu);
  const char *name;
  void *v;
  for (tw_map_entry *it = tw_map_next(&m, NULL, &name, &v); it;
       it = tw_map_next(&m, it, &name, &v)) {
    counts *c = v;
    tw_sqs_queue_metrics q = {.name = name,
                              .sent = c->sent,
                              .received = c->received,
                              .deleted = c->deleted,
                              .empty_receives = c->empty,
                              .size_sum = c->size_sum,
                              .size_min = c->size_min,
                              .size_max = c->size_max};
    fn(ud, &q);
    free(c);
  }
  tw_map_free(&m);
}

void tw_pgq_metrics_free(tw_sqs_pg *p) {
  const char *name;
  void *v;
  for (tw_map_entry *it = tw_map_next(&p->metrics, NULL, &name, &v); it;
       it = tw_map_next(&p->metrics, it, &name, &v))
    free(v);
  tw_map_free(&p->metrics);
}
