/* What the SQLite backend's files share: the schema parts and the statement
 * helpers the repositories in this folder build on. Nothing outside
 * src/store/sqlite/ includes this. */
#ifndef TW_STORE_SQLITE_INTERNAL_H
#define TW_STORE_SQLITE_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store/store.h"

/* Any statement, for metadata kept only in SQL (S3). `sql` must be a string
 * literal: the writer caches its prepared statement by address. */
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
