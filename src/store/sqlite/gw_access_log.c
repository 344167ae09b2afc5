/* The gateway's access log in SQLite: the access_log table (schema.c). Rows
 * go 32 to a statement (one prepared statement, bound once per 32 rows). */
#include <sqlite3.h>

#include "store/gw_rows.h"
#include "store/sqlite/sqlite_internal.h"

#define BATCH 32
#define NCOLS TW_GW_ACCESS_NCOLS

#define COLS                                                                           \
  "INSERT INTO access_log(time_ms,principal,auth,method,route,path,status,latency_us," \
  "bytes_in,bytes_out,request_id,source_ip) VALUES"
#define ROW "(?,?,?,?,?,?,?,?,?,?,?,?)"
#define ROW4 ROW "," ROW "," ROW "," ROW
#define ROW16 ROW4 "," ROW4 "," ROW4 "," ROW4

static uint64_t append(tw_store *s, const tw_gw_access_row *rows, size_t n) {
  if (!n) return tw_store_ticket(s);
  uint64_t t = 0;
  size_t i = 0;
  tw_sql_val v[BATCH * NCOLS];
  for (; i + BATCH <= n; i += BATCH) {
    for (int k = 0; k < BATCH; k++) tw_gw_access_vals(&rows[i + (size_t)k], v + NCOLS * k);
    t = tw_store_exec(s, COLS ROW16 "," ROW16, v, BATCH * NCOLS);
  }
  for (; i < n; i++) {
    tw_gw_access_vals(&rows[i], v);
    t = tw_store_exec(s, COLS ROW, v, NCOLS);
  }
  return t;
}

static uint64_t prune(tw_store *s, int64_t before_ms) {
  tw_sql_val v[] = {TW_SQL_I(before_ms)};
  return tw_store_exec(s, "DELETE FROM access_log WHERE time_ms<?", v, 1);
}

static const char *text(sqlite3_stmt *st, int i) {
  const char *v = (const char *)sqlite3_column_text(st, i);
  return v ? v : "";
}

static int query(tw_store *s, int64_t since_ms, long limit,
                 int (*fn)(void *ud, const tw_gw_access_row *row), void *ud) {
  sqlite3_stmt *st = tw_store_read_stmt(
      s,
      "SELECT time_ms,principal,auth,method,route,path,status,latency_us,bytes_in,bytes_out,"
      "request_id,source_ip FROM access_log WHERE time_ms>=? ORDER BY id DESC LIMIT ?");
  if (!st) return -1;
  sqlite3_bind_int64(st, 1, since_ms);
  sqlite3_bind_int64(st, 2, limit);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    tw_gw_access_row w = {
        .time_ms = sqlite3_column_int64(st, 0),
        .principal = text(st, 1),
        .auth = text(st, 2),
        .method = text(st, 3),
        .route = text(st, 4),
        .path = text(st, 5),
        .status = sqlite3_column_int(st, 6),
        .latency_us = sqlite3_column_int64(st, 7),
        .bytes_in = sqlite3_column_int64(st, 8),
        .bytes_out = sqlite3_column_int64(st, 9),
        .request_id = text(st, 10),
        .source_ip = text(st, 11),
    };
    if (fn(ud, &w)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static const tw_gw_access_log_repo repo = {.append = append, .prune = prune, .query = query};

const tw_gw_access_log_repo *tw_store_gw_access_log(tw_store *s) {
  const tw_store_repos *other = tw_store_repos_of(s); /* another backend's (backend.h) */
  return other && other->gw_access_log ? other->gw_access_log : &repo;
}
