/* Inside the PostgreSQL S3 store (pg_s3.h): the writer backend, statement
 * parameters and reads on the pool, shared by src/store/pg/s3_*.c. */
#ifndef TW_STORE_PG_S3_INTERNAL_H
#define TW_STORE_PG_S3_INTERNAL_H
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "store/backend.h"
#include "store/pg/pg_internal.h"

extern const tw_s3_buckets_repo tw_pg_s3_buckets_repo;
extern const tw_s3_objects_repo tw_pg_s3_objects_repo;
extern const tw_s3_uploads_repo tw_pg_s3_uploads_repo;
extern const tw_s3_lifecycle_repo tw_pg_s3_lifecycle_repo;
extern const tw_s3_refs_repo tw_pg_s3_refs_repo;
extern const tw_logs_repo tw_pg_logs_repo;       /* CloudWatch Logs (cw_logs.c) */
extern const tw_metrics_repo tw_pg_metrics_repo; /* CloudWatch (cw.c) */
extern const tw_cw_alarms_repo tw_pg_cw_alarms_repo;

/* A read on a pooled connection of this node: the rows (PGRES_TUPLES_OK; the
 * caller PQclears), or NULL after an error (logged). Text results; bytea
 * columns come hex-escaped (tw_pg_s3_bytes). */
PGresult *tw_pg_s3_read(tw_store *s, const char *sql, const tw_sql_val *vals, int n);
/* A bytea column of a text result, unescaped: malloc'd (NUL-terminated,
 * *len bytes before it), NULL on failure. */
unsigned char *tw_pg_s3_bytes(const PGresult *r, int row, int col, size_t *len);
/* A text column, NULL for SQL NULL (borrowed from r). */
const char *tw_pg_s3_text(const PGresult *r, int row, int col);
/* The store's connection pool (the gateway's job submissions run their own
 * transaction on it: gw_jobs.c). */
tw_pg *tw_pg_s3_pool(tw_store *s);
/* The PostgreSQL URL the store was opened with. */
const char *tw_pg_s3_url(tw_store *s);
/* The store's change-counter listeners (pg_state.c), NULL until one
 * registers; NULL when s is not this store. Freed when the store closes. */
typedef struct tw_pg_state tw_pg_state;
tw_pg_state **tw_pg_s3_state(tw_store *s);
void tw_pg_state_free(tw_pg_state *st);

#endif
