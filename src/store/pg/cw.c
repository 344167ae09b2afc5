/* CloudWatch on PostgreSQL (cluster mode): the metrics repository
 * (store/metrics.h) and the alarms / dashboards repository
 * (store/cw_alarms.h), served by the S3 store's backend (tw_store_repos).
 *
 * Datapoints: cw_points holds one row per cell ADDITION, not per cell: the
 * embedded store merges a cell's distribution sketch in SQL with a C function
 * on its writer, which PostgreSQL cannot run, so here an addition is a plain
 * INSERT and readers fold the rows of one (metric, slot, level, unit) as they
 * fold cells into query buckets (monitoring/metrics.c does that for every
 * read). The sweep's roll-ups turn a window's rows into one row of the next
 * level. Every node inserts and reads the same table: what a PutMetricData
 * committed on one node is in the next query on any node.
 *
 * Alarms and dashboards: one row each (a JSON document, as on the embedded
 * store); every change also bumps the "cloudwatch" state counter
 * (store/pg_state.h) in its batch, so the other nodes reload them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "store/cw_alarms.h"
#include "store/cw_rows.h"
#include "store/metrics.h"
#include "store/pg/pg_s3_internal.h"
#include "store/pg_cw.h"
#include "store/pg_state.h"

const char *const tw_pg_cw_schema =
    "CREATE TABLE IF NOT EXISTS cw_metrics (id bigint PRIMARY KEY, namespace text NOT NULL,"
    " name text NOT NULL, dims text NOT NULL, last_ms bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cw_points (seq bigserial PRIMARY KEY, metric_id bigint NOT NULL,"
    " ts bigint NOT NULL, level smallint NOT NULL, unit smallint NOT NULL,"
    " count double precision NOT NULL, sum double precision NOT NULL,"
    " min double precision NOT NULL, max double precision NOT NULL, sketch bytea);"
    "CREATE INDEX IF NOT EXISTS cw_points_metric ON cw_points (metric_id, ts);"
    "CREATE INDEX IF NOT EXISTS cw_points_level ON cw_points (level, ts);"
    "CREATE TABLE IF NOT EXISTS cw_alarms (name text PRIMARY KEY, doc text NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cw_dashboards (name text PRIMARY KEY, doc text NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cw_alarm_history (id bigserial PRIMARY KEY,"
    " alarm_name text NOT NULL, alarm_type text NOT NULL, ts_ms bigint NOT NULL,"
    " type text NOT NULL, summary text, data text);"
    "CREATE INDEX IF NOT EXISTS cw_alarm_history_name ON cw_alarm_history (alarm_name, ts_ms);"
    "CREATE INDEX IF NOT EXISTS cw_alarm_history_ts ON cw_alarm_history (ts_ms);";

#define CW_STATE "cloudwatch"

static uint64_t later(uint64_t a, uint64_t b) {
  return a > b ? a : b;
}

static void fmt_double(char out[40], double v) {
  snprintf(out, 40, "%.17g", v);
}

/* --- metrics ------------------------------------------------------------------ */

static uint64_t metric_save(tw_store *s, const tw_metric_row *m) {
  tw_sql_val v[TW_CW_METRIC_NCOLS];
  tw_cw_metric_vals(m, v);
  return tw_store_exec(s,
                       "INSERT INTO cw_metrics (id, namespace, name, dims, last_ms)"
                       " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE"
                       " SET last_ms = GREATEST(cw_metrics.last_ms, excluded.last_ms)",
                       v, TW_CW_METRIC_NCOLS);
}

static uint64_t metrics_expire(tw_store *s, int64_t before_ms) {
  tw_sql_val v[] = {TW_SQL_I(before_ms)};
  return tw_store_exec(s, "DELETE FROM cw_metrics WHERE last_ms < $1", v, 1);
}

static uint64_t cell_add(tw_store *s, const tw_metric_cell *c) {
  char cnt[40], sum[40], mn[40], mx[40];
  fmt_double(cnt, c->count);
  fmt_double(sum, c->sum);
  fmt_double(mn, c->min);
  fmt_double(mx, c->max);
  tw_sql_val v[TW_CW_CELL_KEY_NCOLS + 5];
  tw_cw_cell_key_vals(c, v);
  v[TW_CW_CELL_KEY_NCOLS] = TW_SQL_S(cnt);
  v[TW_CW_CELL_KEY_NCOLS + 1] = TW_SQL_S(sum);
  v[TW_CW_CELL_KEY_NCOLS + 2] = TW_SQL_S(mn);
  v[TW_CW_CELL_KEY_NCOLS + 3] = TW_SQL_S(mx);
  v[TW_CW_CELL_KEY_NCOLS + 4] = c->sketch ? TW_SQL_B(c->sketch, c->sketch_len) : TW_SQL_S(NULL);
  return tw_store_exec(s,
                       "INSERT INTO cw_points (metric_id, ts, level, unit, count, sum, min, max,"
                       " sketch) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                       v, TW_CW_CELL_KEY_NCOLS + 5);
}

/* One INSERT … SELECT FROM unnest(arrays) for n cells (array literals as text). */
static uint64_t cells_add(tw_store *s, const tw_metric_cell *c, size_t n) {
  enum { NA = 9 };
  tw_buf a[NA];
  for (int k = 0; k < NA; k++) {
    tw_buf_init(&a[k], 256u << 20);
    tw_buf_putc(&a[k], '{');
  }
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    const char *sep = i ? "," : "";
    tw_buf_printf(&a[0], "%s%lld", sep, (long long)c[i].metric_id);
    tw_buf_printf(&a[1], "%s%lld", sep, (long long)c[i].ts);
    tw_buf_printf(&a[2], "%s%d", sep, c[i].level);
    tw_buf_printf(&a[3], "%s%d", sep, c[i].unit);
    tw_buf_printf(&a[4], "%s%.17g", sep, c[i].count);
    tw_buf_printf(&a[5], "%s%.17g", sep, c[i].sum);
    tw_buf_printf(&a[6], "%s%.17g", sep, c[i].min);
    tw_buf_printf(&a[7], "%s%.17g", sep, c[i].max);
    if (!c[i].sketch) {
      tw_buf_printf(&a[8], "%sNULL", sep);
      continue;
    }
    tw_buf_printf(&a[8], "%s\"\\\\x", sep); /* "\\x…": the element \x… (bytea hex) */
    const unsigned char *p = c[i].sketch;
    for (size_t j = 0; j < c[i].sketch_len; j++) {
      tw_buf_putc(&a[8], hex[p[j] >> 4]);
      tw_buf_putc(&a[8], hex[p[j] & 15]);
    }
    tw_buf_putc(&a[8], '"');
  }
  int bad = 0;
  tw_sql_val v[NA];
  for (int k = 0; k < NA; k++) {
    tw_buf_putc(&a[k], '}');
    bad |= a[k].overflow;
    v[k] = TW_SQL_S(tw_buf_cstr(&a[k]));
  }
  uint64_t t = bad ? 0
                   : tw_store_exec(s,
                                   "INSERT INTO cw_points (metric_id, ts, level, unit, count, sum,"
                                   " min, max, sketch) SELECT * FROM unnest($1::bigint[],"
                                   " $2::bigint[], $3::smallint[], $4::smallint[],"
                                   " $5::float8[], $6::float8[], $7::float8[], $8::float8[],"
                                   " $9::bytea[])",
                                   v, NA);
  for (int k = 0; k < NA; k++) tw_buf_free(&a[k]);
  return t;
}

static uint64_t cells_delete(tw_store *s, int level, int64_t from, int64_t to) {
  tw_sql_val v[] = {TW_SQL_I(level), TW_SQL_I(from), TW_SQL_I(to)};
  return tw_store_exec(s, "DELETE FROM cw_points WHERE level = $1 AND ts >= $2 AND ts < $3", v, 3);
}

static int metrics_load(tw_store *s, int (*fn)(void *ud, const tw_metric_row *m), void *ud) {
  PGresult *r =
      tw_pg_s3_read(s, "SELECT id, namespace, name, dims, last_ms FROM cw_metrics", NULL, 0);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    tw_metric_row m = {.id = tw_pg_i64(r, i, 0),
                       .ns = PQgetvalue(r, i, 1),
                       .name = PQgetvalue(r, i, 2),
                       .dims = PQgetvalue(r, i, 3),
                       .last_ms = tw_pg_i64(r, i, 4)};
    if (fn(ud, &m)) break;
  }
  PQclear(r);
  return 0;
}

#define CELL_COLS "SELECT metric_id, ts, level, unit, count, sum, min, max, sketch FROM cw_points"

/* Calls fn for each row of a CELL_COLS result; 0, or -1. */
static int each_cell(PGresult *r, int (*fn)(void *ud, const tw_metric_cell *c), void *ud) {
  int rc = 0;
  for (int i = 0; i < PQntuples(r); i++) {
    tw_metric_cell c = {.metric_id = tw_pg_i64(r, i, 0),
                        .ts = tw_pg_i64(r, i, 1),
                        .level = (int)tw_pg_i64(r, i, 2),
                        .unit = (int)tw_pg_i64(r, i, 3),
                        .count = strtod(PQgetvalue(r, i, 4), NULL),
                        .sum = strtod(PQgetvalue(r, i, 5), NULL),
                        .min = strtod(PQgetvalue(r, i, 6), NULL),
                        .max = strtod(PQgetvalue(r, i, 7), NULL)};
    unsigned char *sk = NULL;
    if (!PQgetisnull(r, i, 8)) {
      sk = tw_pg_s3_bytes(r, i, 8, &c.sketch_len);
      if (!sk) {
        rc = -1;
        break;
      }
      c.sketch = sk;
    }
    int stop = fn(ud, &c);
    free(sk);
    if (stop) break;
  }
  PQclear(r);
  return rc;
}

static int cells_read(tw_store *s, int64_t metric_id, int64_t from, int64_t to,
                      int (*fn)(void *ud, const tw_metric_cell *c), void *ud) {
  tw_sql_val v[] = {TW_SQL_I(metric_id), TW_SQL_I(from), TW_SQL_I(to)};
  PGresult *r = tw_pg_s3_read(
      s, CELL_COLS " WHERE metric_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts", v, 3);
  return r ? each_cell(r, fn, ud) : -1;
}

static int level_read(tw_store *s, int level, int64_t from, int64_t to,
                      int (*fn)(void *ud, const tw_metric_cell *c), void *ud) {
  tw_sql_val v[] = {TW_SQL_I(level), TW_SQL_I(from), TW_SQL_I(to)};
  PGresult *r = tw_pg_s3_read(s, CELL_COLS " WHERE level = $1 AND ts >= $2 AND ts < $3", v, 3);
  return r ? each_cell(r, fn, ud) : -1;
}

static int level_oldest(tw_store *s, int level, int64_t before, int64_t *ts) {
  tw_sql_val v[] = {TW_SQL_I(level), TW_SQL_I(before)};
  PGresult *r =
      tw_pg_s3_read(s, "SELECT min(ts) FROM cw_points WHERE level = $1 AND ts < $2", v, 2);
  if (!r) return -1;
  int found = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0);
  if (found) *ts = tw_pg_i64(r, 0, 0);
  PQclear(r);
  return found;
}

static int level_counts(tw_store *s, int64_t counts[4]) {
  PGresult *r = tw_pg_s3_read(s, "SELECT level, count(*) FROM cw_points GROUP BY level", NULL, 0);
  if (!r) return -1;
  memset(counts, 0, 4 * sizeof counts[0]);
  for (int i = 0; i < PQntuples(r); i++) {
    int64_t level = tw_pg_i64(r, i, 0);
    if (level >= 0 && level < 4) counts[level] = tw_pg_i64(r, i, 1);
  }
  PQclear(r);
  return 0;
}

const tw_metrics_repo tw_pg_metrics_repo = {
    .metric_save = metric_save,
    .metrics_expire = metrics_expire,
    .cell_add = cell_add,
    .cells_add = cells_add,
    .cells_delete = cells_delete,
    .metrics_load = metrics_load,
    .cells_read = cells_read,
    .level_read = level_read,
    .level_oldest = level_oldest,
    .level_counts = level_counts,
};

/* --- alarms, history, dashboards --------------------------------------------------- */

static uint64_t bumped(tw_store *s, const char *sql, const tw_sql_val *v, int n) {
  tw_store_hold(s);
  uint64_t t = tw_store_exec(s, sql, v, n);
  uint64_t b = t ? tw_store_pg_state_bump(s, CW_STATE) : 0;
  tw_store_release(s);
  return t && b ? later(t, b) : 0;
}

/* The cluster's alarm-write lock (pg_cw.h): "tw" and the FNV-1a hash of its
 * name, as store/pg/pg_state.c keys its locks. */
static int64_t fence_key(void) {
  uint32_t h = 2166136261u;
  for (const char *p = "cloudwatch-alarm-writes"; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
  return (int64_t)(0x7477ULL << 32 | h);
}

/* An alarm's write: in its batch, the alarm-write lock first (a transaction
 * lock: held to its commit), so it waits while the evaluator's fence holds it
 * and lands after the transition (unless the batch is the fenced transition's
 * own, tw_store_pg_cw_fenced); then the row and the state counter. */
static uint64_t alarm_write(tw_store *s, const char *sql, const tw_sql_val *v, int n) {
  tw_sql_val k[] = {TW_SQL_I(fence_key())};
  tw_store_hold(s);
  uint64_t l = tw_store_exec(s,
                             "SELECT pg_advisory_xact_lock($1) WHERE"
                             " current_setting('tweedle.cw_fenced', true) IS DISTINCT FROM 'on'",
                             k, 1);
  uint64_t t = l ? tw_store_exec(s, sql, v, n) : 0;
  uint64_t b = t ? tw_store_pg_state_bump(s, CW_STATE) : 0;
  tw_store_release(s);
  return t && b ? later(t, b) : 0;
}

static uint64_t alarm_put(tw_store *s, const char *name, const char *doc) {
  tw_sql_val v[] = {TW_SQL_S(name), TW_SQL_S(doc)};
  return alarm_write(s,
                     "INSERT INTO cw_alarms (name, doc) VALUES ($1, $2)"
                     " ON CONFLICT (name) DO UPDATE SET doc = excluded.doc",
                     v, 2);
}

static uint64_t alarm_delete(tw_store *s, const char *name) {
  tw_sql_val v[] = {TW_SQL_S(name)};
  return alarm_write(s, "DELETE FROM cw_alarms WHERE name = $1", v, 1);
}

static uint64_t history_add(tw_store *s, const tw_cw_history_row *h) {
  tw_sql_val v[TW_CW_HISTORY_NCOLS];
  tw_cw_history_vals(h, v);
  return tw_store_exec(s,
                       "INSERT INTO cw_alarm_history (alarm_name, alarm_type, ts_ms, type,"
                       " summary, data) VALUES ($1, $2, $3, $4, $5, $6)",
                       v, TW_CW_HISTORY_NCOLS);
}

static uint64_t history_prune(tw_store *s, int64_t before_ms) {
  tw_sql_val v[] = {TW_SQL_I(before_ms)};
  return tw_store_exec(s, "DELETE FROM cw_alarm_history WHERE ts_ms < $1", v, 1);
}

static uint64_t dashboard_put(tw_store *s, const char *name, const char *doc) {
  tw_sql_val v[] = {TW_SQL_S(name), TW_SQL_S(doc)};
  return bumped(s,
                "INSERT INTO cw_dashboards (name, doc) VALUES ($1, $2)"
                " ON CONFLICT (name) DO UPDATE SET doc = excluded.doc",
                v, 2);
}

static uint64_t dashboard_delete(tw_store *s, const char *name) {
  tw_sql_val v[] = {TW_SQL_S(name)};
  return bumped(s, "DELETE FROM cw_dashboards WHERE name = $1", v, 1);
}

static int load_rows(tw_store *s, const char *sql,
                     int (*fn)(void *ud, const char *name, const char *doc), void *ud) {
  PGresult *r = tw_pg_s3_read(s, sql, NULL, 0);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++)
    if (fn(ud, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1))) break;
  PQclear(r);
  return 0;
}

static int load(tw_store *s, int (*alarm)(void *ud, const char *name, const char *doc),
                int (*dashboard)(void *ud, const char *name, const char *doc), void *ud) {
  /* two reads (not one snapshot): the engine reads the state counter before
   * and reloads when it moved (monitoring/cw_alarms.c) */
  if (load_rows(s, "SELECT name, doc FROM cw_alarms ORDER BY name COLLATE \"C\"", alarm, ud))
    return -1;
  return load_rows(s, "SELECT name, doc FROM cw_dashboards ORDER BY name COLLATE \"C\"", dashboard,
                   ud);
}

static int history_read(tw_store *s, const tw_cw_history_filter *f,
                        int (*fn)(void *ud, const tw_cw_history_row *row), void *ud) {
#define HIST_SQL(OP, DIR)                                                                    \
  "SELECT id, alarm_name, alarm_type, ts_ms, type, summary, data FROM cw_alarm_history"      \
  " WHERE ($1::text IS NULL OR alarm_name = $1) AND ($2::text IS NULL OR type = $2)"         \
  " AND ts_ms >= $3 AND ts_ms < $4 AND ($5::bigint = 0 OR id " OP                            \
  " $5)"                                                                                     \
  " AND ($7::int = 0 OR ($7::int & 1 = 1 AND alarm_type = 'MetricAlarm')"                    \
  " OR ($7::int & 2 = 2 AND alarm_type = 'CompositeAlarm')) ORDER BY ts_ms " DIR ", id " DIR \
  " LIMIT $6"
  tw_sql_val v[] = {TW_SQL_S(f->alarm_name),
                    TW_SQL_S(f->type),
                    TW_SQL_I(f->from_ms),
                    TW_SQL_I(f->to_ms),
                    TW_SQL_I(f->after_id),
                    TW_SQL_I(f->limit),
                    TW_SQL_I(f->alarm_types == 3 ? 0 : f->alarm_types)};
  PGresult *r = f->newest_first ? tw_pg_s3_read(s, HIST_SQL("<", "DESC"), v, 7)
                                : tw_pg_s3_read(s, HIST_SQL(">", "ASC"), v, 7);
#undef HIST_SQL
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    tw_cw_history_row h = {.id = tw_pg_i64(r, i, 0),
                           .alarm_name = tw_pg_s3_text(r, i, 1),
                           .alarm_type = tw_pg_s3_text(r, i, 2),
                           .ts_ms = tw_pg_i64(r, i, 3),
                           .type = tw_pg_s3_text(r, i, 4),
                           .summary = tw_pg_s3_text(r, i, 5),
                           .data = tw_pg_s3_text(r, i, 6)};
    if (fn(ud, &h)) break;
  }
  PQclear(r);
  return 0;
}

const tw_cw_alarms_repo tw_pg_cw_alarms_repo = {.alarm_put = alarm_put,
                                                .alarm_delete = alarm_delete,
                                                .history_add = history_add,
                                                .history_prune = history_prune,
                                                .dashboard_put = dashboard_put,
                                                .dashboard_delete = dashboard_delete,
                                                .load = load,
                                                .history_read = history_read};

/* --- the AWS/SQS gauges (pg_cw.h) -------------------------------------------------- */

int tw_store_pg_cw_sqs_gauges(tw_store *s, int64_t now_ms,
                              void (*fn)(void *ud, const tw_pg_cw_queue_gauges *g), void *ud) {
  tw_sql_val v[] = {TW_SQL_I(now_ms)};
  PGresult *r =
      tw_pg_s3_read(s,
                    "SELECT q.name, q.fifo, count(m.seq) FILTER (WHERE m.visible_at_ms <= $1),"
                    " count(m.seq) FILTER (WHERE m.visible_at_ms > $1 AND m.receive_count > 0),"
                    " count(m.seq) FILTER (WHERE m.visible_at_ms > $1 AND m.receive_count = 0),"
                    " COALESCE(($1 - min(m.sent_ms)) / 1000, 0)"
                    " FROM sqs_queues q LEFT JOIN sqs_messages m ON m.queue_id = q.id"
                    " GROUP BY q.id, q.name, q.fifo ORDER BY q.name COLLATE \"C\" LIMIT 10000",
                    v, 1);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    tw_pg_cw_queue_gauges g = {.name = PQgetvalue(r, i, 0),
                               .fifo = PQgetvalue(r, i, 1)[0] == 't',
                               .visible = tw_pg_i64(r, i, 2),
                               .inflight = tw_pg_i64(r, i, 3),
                               .delayed = tw_pg_i64(r, i, 4),
                               .oldest_age_s = tw_pg_i64(r, i, 5)};
    fn(ud, &g);
  }
  PQclear(r);
  return 0;
}

/* --- the alarm-write fence (pg_cw.h) ----------------------------------------------- */

struct tw_pg_cw_fence {
  tw_pg *pg;
  tw_pg_slot *slot;
};

tw_pg_cw_fence *tw_store_pg_cw_fence(tw_store *s, int timeout_ms) {
  tw_pg *pg = tw_pg_s3_pool(s);
  tw_pg_slot *slot = pg ? tw_pg_get(pg) : NULL;
  if (!slot) return NULL;
  int broken = 0;
  char sql[96];
  int rc = tw_pg_exec(slot->conn, "BEGIN", "alarm fence", &broken);
  snprintf(sql, sizeof sql, "SET LOCAL lock_timeout = %d", timeout_ms > 0 ? timeout_ms : 1);
  if (!rc) rc = tw_pg_exec(slot->conn, sql, "alarm fence", &broken);
  if (!rc) {
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%lld)", (long long)fence_key());
    PGresult *r = PQexec(slot->conn, sql);
    rc = tw_pg_check(slot->conn, &r, PGRES_TUPLES_OK, "alarm fence", &broken);
    PQclear(r);
  }
  tw_pg_cw_fence *f = rc ? NULL : calloc(1, sizeof *f);
  if (!f) {
    if (!broken) tw_pg_exec(slot->conn, "ROLLBACK", "alarm fence", &broken);
    tw_pg_put(pg, slot, broken);
    return NULL;
  }
  f->pg = pg;
  f->slot = slot;
  return f;
}

void tw_store_pg_cw_fence_drop(tw_pg_cw_fence *f) {
  if (!f) return;
  int broken = 0;
  tw_pg_exec(f->slot->conn, "COMMIT", "alarm fence", &broken);
  tw_pg_put(f->pg, f->slot, broken);
  free(f);
}

uint64_t tw_store_pg_cw_fenced(tw_store *s) {
  return tw_store_exec(s, "SELECT set_config('tweedle.cw_fenced', 'on', true)", NULL, 0);
}
