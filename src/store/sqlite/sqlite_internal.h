/* What the SQLite backend's files share: the schema parts and the statement
 * helpers the repositories in this folder build on. Nothing outside
 * src/store/sqlite/ includes this. */
#ifndef TW_STORE_SQLITE_INTERNAL_H
#define TW_STORE_SQLITE_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store/backend.h"
#include "store/store.h"

/* tw_sql_val, TW_SQL_*, tw_store_exec: shared with the other backends. */
/* This thread's read-only connection (committed data only). */
struct sqlite3;
struct sqlite3 *tw_store_reader(tw_store *s);
/* A prepared statement on this thread's reader, kept for reuse: `sql` must be
 * a string literal (cached by address). Give it back with tw_store_read_done
 * (resets it) instead of finalizing it. NULL on failure. */
struct sqlite3_stmt;
struct sqlite3_stmt *tw_store_read_stmt(tw_store *s, const char *sql);
void tw_store_read_done(struct sqlite3_stmt *st);

extern const char *const tw_sqlite_schema_sqs;
extern const char *const tw_sqlite_schema_s3;
extern const char *const tw_sqlite_schema_gateway;
extern const char *const tw_sqlite_schema_sns;
extern const char *const tw_sqlite_schema_sns_outbox;
extern const char *const tw_sqlite_schema_events;
extern const char *const tw_sqlite_schema_eb_delivery;
extern const char *const tw_sqlite_schema_metrics;
extern const char *const tw_sqlite_schema_alarms;
extern const char *const tw_sqlite_schema_logs;
/* The SQL functions the metrics repository's writes use (metrics.c). */
struct sqlite3;
int tw_sqlite_metrics_functions(struct sqlite3 *db);

#endif
