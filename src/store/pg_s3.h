/* Cluster mode (--store postgres://...): the store S3 runs on when its state
 * is in PostgreSQL. A tw_store (store.h) whose writer commits each batch as
 * one PostgreSQL transaction on this node (group commit per node), whose
 * repositories (s3_buckets.h, s3_objects.h, s3_uploads.h, s3_lifecycle.h,
 * s3_refs.h) read committed rows on this node's pool, and whose bucket
 * setting writes notify every node (channel tw_s3, payload the bucket name)
 * when they commit. SQL lives in src/store/pg/. */
#ifndef TW_STORE_PG_S3_H
#define TW_STORE_PG_S3_H
#include <stddef.h>

#include "store/store.h"

/* Connects (a pool of `pool` connections plus the writer's), creates the
 * schema if needed (src/store/pg/pg.c). NULL with err set when PostgreSQL
 * cannot be used. Close with tw_store_close. */
tw_store *tw_store_open_pg_s3(const char *url, int pool, char *err, size_t errlen);
/* fn(ud, bucket) on a listener thread whenever a commit on any node (this
 * one included) changed a bucket's settings or removed it; bucket NULL after
 * the listener reconnected (notifications may have been missed: reload all).
 * Stops when the store closes. 0, or -1. */
int tw_store_pg_s3_listen(tw_store *s, void (*fn)(void *ud, const char *bucket), void *ud);
/* 1 while PostgreSQL cannot be reached from this node (the last read or
 * batch failed on the connection), 0 once one succeeds: S3 then answers 503
 * ServiceUnavailable instead of 500 InternalError. */
int tw_store_pg_s3_unavailable(tw_store *s);
/* Appends, to the open batch, the notification that bucket's settings changed. */
uint64_t tw_store_pg_s3_notify(tw_store *s, const char *bucket);

/* Which node runs the cluster's S3 lifecycle sweeps (src/store/pg/s3_lifecycle.c):
 * a session advisory lock on a connection of the caller's own, released when
 * this node dies or loses that connection. tw_store_pg_s3_lead tries to take
 * it (or, when held, checks the session is alive): 1 this node holds it, 0
 * another node does, -1 PostgreSQL unreachable (not held; reconnects with
 * backoff). One thread uses a handle. */
typedef struct tw_pg_s3_lead tw_pg_s3_lead;
tw_pg_s3_lead *tw_store_pg_s3_lead_open(tw_store *s); /* NULL: not a PostgreSQL store */
int tw_store_pg_s3_lead(tw_pg_s3_lead *l);
void tw_store_pg_s3_lead_close(tw_pg_s3_lead *l); /* frees the lock */

/* Bucket event notifications to the cluster's SQS queues (pg/s3_events.c). */
/* 1 when queue `name` exists (*fifo: whether it is a FIFO queue; *policy:
 * its Policy document, malloc'd, NULL when none), 0 when it does not, -1 when
 * PostgreSQL could not answer. fifo and policy may be NULL. */
int tw_store_pg_s3_queue(tw_store *s, const char *name, int *fifo, char **policy);
/* Appends, to the open batch, a message to standard queue `queue` (nothing
 * when there is no such queue at commit): body, sender (SenderId, may be
 * NULL), trace (AWSTraceHeader, may be NULL), sent at now_ms, the queue's
 * DelaySeconds applied; parked receives on every node are woken at commit. */
uint64_t tw_store_pg_s3_enqueue(tw_store *s, const char *queue, const char *body, size_t len,
                                const char *sender, const char *trace, int64_t now_ms);

#endif
