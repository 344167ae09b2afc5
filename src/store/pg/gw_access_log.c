/* The gateway's access log on PostgreSQL (cluster mode): table gw_access_log,
 * one row per request, appended by the node that served it. Rows go two to a
 * statement (the backend binds at most 24 values). */
#include "store/pg/pg_gw_internal.h"
#include "store/pg/pg_s3_internal.h"

#define NCOLS TW_GW_ACCESS_NCOLS

#define COLS                                                                              \
  "INSERT INTO gw_access_log (time_ms, principal, auth, method, route, path, status,"     \
  " latency_us, bytes_in, bytes_out, request_id, source_ip) VALUES ($1, $2, $3, $4, $5, " \
  "$6, $7, $8, $9, $10, $11, $12)"
#define ROW2 ", ($13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"

static uint64_t append(tw_store *s, const tw_gw_access_row *rows, size_t n) {
  if (!n) return tw_store_ticket(s);
  uint64_t t = 0;
  tw_sql_val v[2 * NCOLS];
  size_t i = 0;
  tw_store_hold(s); /* in order, in one batch */
  for (; i + 2 <= n; i += 2) {
    tw_gw_access_vals(&rows[i], v);
    tw_gw_access_vals(&rows[i + 1], v + NCOLS);
    t = tw_store_exec(s, COLS ROW2, v, 2 * NCOLS);
  }
  if (i < n) {
    tw_gw_access_vals(&rows[i], v);
    t = tw_store_exec(s, COLS, v, NCOLS);
  }
  tw_store_release(s);
  return t;
}

static uint64_t prune(tw_store *s, int64_t before_ms) {
  tw_sql_val v[] = {TW_SQL_I(before_ms)};
  return tw_store_exec(s, "DELETE FROM gw_access_log WHERE time_ms < $1", v, 1);
}

static const char *text(const PGresult *r, int i, int c) {
  return PQgetisnull(r, i, c) ? "" : PQgetvalue(r, i, c);
}

static int query(tw_store *s, int64_t since_ms, long limit,
                 int (*fn)(void *ud, const tw_gw_access_row *row), void *ud) {
  tw_sql_val v[] = {TW_SQL_I(since_ms), TW_SQL_I(limit)};
  PGresult *r = tw_pg_s3_read(s,
                              "SELECT time_ms, principal, auth, method, route, path, status,"
                              " latency_us, bytes_in, bytes_out, request_id, source_ip FROM"
                              " gw_access_log WHERE time_ms >= $1 ORDER BY id DESC LIMIT $2",
                              v, 2);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    tw_gw_access_row w = {
        .time_ms = tw_pg_i64(r, i, 0),
        .principal = text(r, i, 1),
        .auth = text(r, i, 2),
        .method = text(r, i, 3),
        .route = text(r, i, 4),
        .path = text(r, i, 5),
        .status = (int)tw_pg_i64(r, i, 6),
        .latency_us = tw_pg_i64(r, i, 7),
        .bytes_in = tw_pg_i64(r, i, 8),
        .bytes_out = tw_pg_i64(r, i, 9),
        .request_id = text(r, i, 10),
        .source_ip = text(r, i, 11),
    };
    if (fn(ud, &w)) break;
  }
  PQclear(r);
  return 0;
}

const tw_gw_access_log_repo tw_pg_gw_access_log_repo = {
    .append = append, .prune = prune, .query = query};
