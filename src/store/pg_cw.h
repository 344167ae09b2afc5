/* CloudWatch in cluster mode: what the built-in metrics read from PostgreSQL
 * (src/store/pg/cw.c). The repositories themselves are store/metrics.h and
 * store/cw_alarms.h, served by the PostgreSQL store (tw_store_repos). */
#ifndef TW_STORE_PG_CW_H
#define TW_STORE_PG_CW_H
#include <stdint.h>

#include "store/store.h"

/* The AWS/SQS gauges of every queue of the cluster, as of now_ms, in one
 * statement (at most 10,000 queues, by name): messages visible, in flight
 * (received, not yet visible again), delayed (not yet visible, never
 * received), and the age in seconds of the oldest message. For the one node
 * that publishes the cluster's gauges. 0, or -1 when PostgreSQL could not answer. */
typedef struct {
  const char *name;
  int fifo;
  int64_t visible, inflight, delayed, oldest_age_s;
} tw_pg_cw_queue_gauges;
int tw_store_pg_cw_sqs_gauges(tw_store *s, int64_t now_ms,
                              void (*fn)(void *ud, const tw_pg_cw_queue_gauges *g), void *ud);

/* The alarm-write fence: the evaluator's transition against a change of the
 * same alarm committed by another node meanwhile. Every alarm write (the
 * cw_alarms repository's alarm_put / alarm_delete) takes a cluster-wide
 * transaction lock in its batch before its row; the evaluator takes the same
 * lock on a pooled connection of its own (waiting at most timeout_ms for the
 * batches that hold it to commit), re-checks what is committed, appends its
 * transition behind tw_store_pg_cw_fenced (its batch skips the lock: the
 * fence holds it for it), waits for that batch to commit and drops the fence.
 * A change of another node either committed before the re-check (seen: the
 * transition is not made) or waits and commits after the transition.
 * NULL: PostgreSQL could not answer or the wait ran out. */
typedef struct tw_pg_cw_fence tw_pg_cw_fence;
tw_pg_cw_fence *tw_store_pg_cw_fence(tw_store *s, int timeout_ms);
void tw_store_pg_cw_fence_drop(tw_pg_cw_fence *f);
/* Appends to the open batch (store held): its later alarm writes do not take
 * the lock (the batch of a fenced transition). Returns the ticket. */
uint64_t tw_store_pg_cw_fenced(tw_store *s);

#endif
