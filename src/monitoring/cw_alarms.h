/* CloudWatch metric alarms and dashboards inside tweedle.
 *
 * Alarms and dashboards live in memory (a JSON document each, in the API's
 * shapes) and in the store (store/cw_alarms.h); the history of each alarm is
 * appended to the store. An evaluator thread checks every alarm every tick
 * (10 s; TWEEDLE_ALARM_TICK_MS for tests) against its metric, as CloudWatch
 * does: the statistic per period over the evaluation range (EvaluationPeriods
 * plus up to 5 earlier periods), the M of N rule (DatapointsToAlarm of
 * EvaluationPeriods) and TreatMissingData. A change of state commits in ONE
 * store batch: the alarm's new state, its StateUpdate history item, and the
 * notification to each SNS topic in the new state's actions (through the
 * event bus, with its Action history item). Lock order: the bus
 * (tw_events_lock), the engine, the store hold. */
#ifndef TW_MONITORING_CW_ALARMS_H
#define TW_MONITORING_CW_ALARMS_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "monitoring/metrics.h"
#include "store/store.h"

typedef struct tw_alarms tw_alarms;
struct tw_events;

tw_alarms *tw_alarms_open(tw_store *s, tw_metrics *m, struct tw_events *bus, const char *region,
                          const char *account, char *err, size_t errlen);
int tw_alarms_start(tw_alarms *a); /* the evaluator thread */
void tw_alarms_stop(tw_alarms *a);
void tw_alarms_close(tw_alarms *a);
/* Cluster mode (the store is PostgreSQL's, shared by every node), before
 * tw_alarms_start: every change of an alarm or dashboard bumps the
 * "cloudwatch" state counter in its batch (store/pg/cw.c); this node reloads
 * them when it hears a bump, and tw_alarms_sync before each API call reloads
 * them when the committed counter is ahead of what it loaded (read-your-writes
 * across nodes). The evaluator runs on one node of the cluster at a time
 * (store/pg_state.h's lock "cloudwatch-alarms"): a transition, its history
 * and its actions are committed once. 0, or -1. */
int tw_alarms_cluster(tw_alarms *a);
/* Cluster mode: reloads when behind the committed state. 0, or -1 when
 * PostgreSQL could not answer. Nothing to do (0) on one node. */
int tw_alarms_sync(tw_alarms *a);
/* Cluster mode: around each alarm or dashboard API call (cw_http.c): no
 * reload while it runs; `ticket` (0: none) is the batch holding its change. */
void tw_alarms_call_begin(tw_alarms *a);
void tw_alarms_call_end(tw_alarms *a, uint64_t ticket);
/* A store batch failed (writer thread): reload alarms and dashboards. */
void tw_alarms_commit_failed(tw_alarms *a);
/* One evaluation pass over every alarm (the thread runs it every tick). */
void tw_alarms_evaluate(tw_alarms *a);

/* --- shared by cw_alarms.c and cw_dashboards.c ---------------------------------- */
void tw_alarms_lock(tw_alarms *a);
void tw_alarms_unlock(tw_alarms *a);
tw_store *tw_alarms_store(tw_alarms *a);
json_t *tw_alarms_dashboards(tw_alarms *a); /* name -> {Body, LastModified, Tags}; locked */
const char *tw_alarms_account(tw_alarms *a);
int64_t tw_alarms_now_ms(tw_alarms *a);

#endif
