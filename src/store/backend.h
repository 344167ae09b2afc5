/* A store whose batches another database runs (PostgreSQL in cluster mode):
 * the writer in src/store/sqlite/store.c keeps its model (a queue of
 * operations, one transaction per batch, tickets, hold/release, the blob
 * store's sync before the commit, the commit callback) and hands each batch's
 * statements to the backend instead of SQLite. Only statements given with
 * tw_store_exec can go to such a store (the queue engine's own operations
 * fail the batch), and its repositories are the backend's (tw_store_repos).
 * Nothing outside src/store/ (and its unit tests) includes this. */
#ifndef TW_STORE_BACKEND_H
#define TW_STORE_BACKEND_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store/eb_delivery.h"
#include "store/eventbridge.h"
#include "store/cw_alarms.h"
#include "store/cw_logs.h"
#include "store/gw_access_log.h"
#include "store/gw_apikeys.h"
#include "store/gw_jobs.h"
#include "store/metrics.h"
#include "store/s3_buckets.h"
#include "store/s3_lifecycle.h"
#include "store/s3_objects.h"
#include "store/s3_uploads.h"
#include "store/sns.h"
#include "store/sns_outbox.h"
#include "store/store.h"

/* Any statement, for metadata kept only in SQL (S3). `sql` must be a string
 * literal: backends cache prepared statements by its address. */
typedef enum { TW_SQL_NULL, TW_SQL_INT, TW_SQL_TEXT, TW_SQL_BLOB } tw_sql_type;
typedef struct {
  tw_sql_type type;
  int64_t i;
  const char *s;
  size_t n;
} tw_sql_val;
#define TW_SQL_I(v) ((tw_sql_val){.type = TW_SQL_INT, .i = (v)})
static inline tw_sql_val tw_sql_text(const char *v) {
  tw_sql_val x = {.type = v ? TW_SQL_TEXT : TW_SQL_NULL, .s = v, .n = v ? strlen(v) : 0};
  return x;
}
#define TW_SQL_S(v) tw_sql_text(v)
#define TW_SQL_B(p, len) ((tw_sql_val){.type = TW_SQL_BLOB, .s = (p), .n = (len)})
uint64_t tw_store_exec(tw_store *s, const char *sql, const tw_sql_val *vals, int n);

/* The blob questions of s3_refs.h, as a backend answers them. */
typedef struct {
  int (*object_blob)(tw_store *s, const char *bucket, const void *key, size_t klen, char blob[37]);
  int (*part_blob)(tw_store *s, const char *upload, long num, char blob[37]);
  int (*upload_exists)(tw_store *s, const char *upload);
  int (*upload_parts)(tw_store *s, const char *upload,
                      void (*fn)(void *ud, long num, const char *blob), void *ud);
  int (*blob_refs)(tw_store *s, void (*fn)(void *ud, const char *blob), void *ud);
} tw_s3_refs_repo;

/* The repositories a backend serves; tw_store_<repo>() returns them. */
typedef struct {
  const tw_s3_buckets_repo *s3_buckets;
  const tw_s3_objects_repo *s3_objects;
  const tw_s3_uploads_repo *s3_uploads;
  const tw_s3_lifecycle_repo *s3_lifecycle;
  const tw_s3_refs_repo *s3_refs;
  const tw_gw_apikeys_repo *gw_apikeys; /* the gateway's (NULL: the SQLite ones) */
  const tw_gw_jobs_repo *gw_jobs;
  const tw_gw_access_log_repo *gw_access_log;
  const tw_metrics_repo *cw_metrics; /* CloudWatch (NULL: the SQLite ones) */
  const tw_cw_alarms_repo *cw_alarms;
  const tw_eb_repo *eventbridge; /* EventBridge's (NULL: the SQLite ones) */
  const tw_eb_delivery_repo *eb_delivery;
  const tw_sns_repo *sns; /* SNS's (NULL: the SQLite ones) */
  const tw_sns_outbox_repo *sns_outbox;
  const tw_logs_repo *cw_logs; /* CloudWatch Logs (NULL: the SQLite one) */
} tw_store_repos;

/* One batch = begin, exec per statement in order, commit (or rollback after
 * any failure); each returns 0 or -1. Called on the writer thread only. */
typedef struct {
  int (*begin)(void *ud);
  int (*exec)(void *ud, const char *sql, const tw_sql_val *vals, int n);
  int (*commit)(void *ud);
  void (*rollback)(void *ud);
  void (*close)(void *ud); /* after the writer stopped */
} tw_store_backend;

/* Tickets of a backend store have this bit set: the HTTP server's commit
 * waits (src/http/server.c) keep one "committed" mark per ticket space, so a
 * node that runs both stores never takes one's batch for the other's. */
#define TW_STORE_BACKEND_TICKETS (1ULL << 63)

tw_store *tw_store_open_backend(const tw_store_backend *be, void *ud, const tw_store_repos *repos);
void *tw_store_backend_data(tw_store *s);
/* The backend's repositories, or NULL for the SQLite store. */
const tw_store_repos *tw_store_repos_of(tw_store *s);

#endif
