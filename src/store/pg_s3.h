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

#endif
