/* Cluster mode's queue engine (--store postgres://...): the same actions
 * behind the same front ends, with every queue and message in PostgreSQL
 * (store/pg_sqs.h) instead of memory. Standard and FIFO queues, dead-letter
 * queues, move tasks, TweedleDeleteAndSend (one transaction); actions not on PostgreSQL yet answer
 * 501 NotImplemented. Long polls park here and are woken by the cluster's notifications (LISTEN
 * tw_sqs). */
#ifndef TW_SQS_PG_H
#define TW_SQS_PG_H
#include "sqs/sqs.h"

typedef struct tw_sqs_pg tw_sqs_pg;

/* Connects (pool connections), creates the schema, loads the receipt secret. */
tw_sqs_pg *tw_sqs_pg_open(const char *url, const char *region, const char *account, int pool,
                          char *err, size_t errlen);
/* Starts the listener (notifications, long-poll deadlines). */
int tw_sqs_pg_start(tw_sqs_pg *p);
/* Parked receives answer now; new ones do not park. */
void tw_sqs_pg_stop(tw_sqs_pg *p);
void tw_sqs_pg_close(tw_sqs_pg *p);

/* Joins the event bus (src/events/bus.h) in place of the embedded engine:
 * the cluster's queues become destinations, and a delivery appends its
 * message to the open batch of `store`, the PostgreSQL store (store/pg_s3.h)
 * the publishing service runs on (sqs_pg_events.c). */
struct tw_events;
int tw_sqs_pg_join_events(tw_sqs_pg *p, struct tw_events *bus, tw_store *store);

/* The built-in AWS/SQS counts of this node since the previous call (then
 * reset), per queue with traffic: sent, received, deleted, empty receives,
 * SentMessageSize (the gauges are 0: monitoring/builtin.c reads them from
 * PostgreSQL, store/pg_cw.h). Each node counts what it answered, so the
 * cluster's total is the sum over the nodes (sqs_pg_metrics.c). */
void tw_sqs_pg_metrics_sweep(tw_sqs_pg *p, void (*fn)(void *ud, const tw_sqs_queue_metrics *m),
                             void *ud);

/* As tw_sqs_execute, tw_sqs_park, tw_sqs_unpark (sqs.h). */
void tw_sqs_pg_execute(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_park(tw_sqs_pg *p, const tw_sqs_call *c, tw_sqs_waiter *w);
void tw_sqs_pg_unpark(tw_sqs_pg *p, tw_sqs_waiter *w);

/* The Policy of queue name (malloc'd; NULL: none, or *rc a tw_pg_rc such as
 * TW_PG_NOT_FOUND or TW_PG_UNAVAILABLE): what authorization evaluates as the
 * queue's resource policy (sqs_authz.c), as the embedded engine keeps it.
 * The first queue row a request's check reads is kept for the request
 * (tw_sqs_pg_row_take): its action then reads the row once, not twice. */
char *tw_sqs_pg_queue_policy(tw_sqs_pg *p, const char *request_id, const char *name, int *rc);
/* Forgets what an earlier request on this thread kept (sqs_authz.c, first). */
void tw_sqs_pg_row_reset(void);
/* The row kept for request_id on this thread (for tw_sqs_call.pg_row), or NULL. */
void *tw_sqs_pg_row_take(const char *request_id);
void tw_sqs_pg_row_free(void *row);

#endif
