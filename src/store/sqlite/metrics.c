/* The metrics repository on SQLite: cw_metrics (the catalog) and cw_points
 * (the cells, schema.c). A cell's statistics and sketch are one BLOB:
 *   flags byte (1 = a sketch follows), count, sum, min, max as little-endian
 *   doubles, then the sketch (core/sketch.h).
 * Adding to a cell is an upsert that merges the two blobs with the SQL
 * function tw_metrics_cell_merge, registered on the writer's connection, so
 * merges happen in commit order on the writer and no caller reads a cell to
 * change it. */
#include "store/metrics.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/sketch.h"
#include "store/cw_rows.h"
#include "store/sqlite/sqlite_internal.h"

#define CELL_HAS_SKETCH 1
#define CELL_HEAD 33

/* --- the cell blob ------------------------------------------------------------ */

static void put_f64(uint8_t *p, double v) {
  uint64_t bits;
  memcpy(&bits, &v, 8);
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(bits >> (8 * i));
}

static double get_f64(const uint8_t *p) {
  uint64_t bits = 0;
  for (int i = 0; i < 8; i++) bits |= (uint64_t)p[i] << (8 * i);
  double v;
  memcpy(&v, &bits, 8);
  return v;
}

/* Encodes a cell's statistics and sketch into a malloc'd blob. */
static void *cell_encode(double count, double sum, double min, double max, const void *sketch,
                         size_t sketch_len, size_t *len) {
  uint8_t *p = malloc(CELL_HEAD + sketch_len);
  if (!p) return NULL;
  p[0] = sketch ? CELL_HAS_SKETCH : 0;
  put_f64(p + 1, count);
  put_f64(p + 9, sum);
  put_f64(p + 17, min);
  put_f64(p + 25, max);
  if (sketch && sketch_len) memcpy(p + CELL_HEAD, sketch, sketch_len);
  *len = CELL_HEAD + sketch_len;
  return p;
}

/* Decodes into c (the sketch points into the blob); 0, or -1 when malformed. */
static int cell_decode(const void *blob, size_t n, tw_metric_cell *c) {
  const uint8_t *p = blob;
  if (!p || n < CELL_HEAD) return -1;
  c->count = get_f64(p + 1);
  c->sum = get_f64(p + 9);
  c->min = get_f64(p + 17);
  c->max = get_f64(p + 25);
  if (p[0] & CELL_HAS_SKETCH) {
    c->sketch = p + CELL_HEAD;
    c->sketch_len = n - CELL_HEAD;
  } else {
    c->sketch = NULL;
    c->sketch_len = 0;
  }
  return 0;
}

/* tw_metrics_cell_merge(old, new): the cell holding both. A cell without a
 * sketch makes the merged one have none (its percentiles are unknown). */
static void sql_cell_merge(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  tw_metric_cell a, b;
  const void *pa = sqlite3_value_blob(argv[0]), *pb = sqlite3_value_blob(argv[1]);
  size_t na = (size_t)sqlite3_value_bytes(argv[0]), nb = (size_t)sqlite3_value_bytes(argv[1]);
  if (cell_decode(pa, na, &a)) { /* a damaged row: the new data replaces it */
    sqlite3_result_value(ctx, argv[1]);
    return;
  }
  if (cell_decode(pb, nb, &b)) {
    sqlite3_result_value(ctx, argv[0]);
    return;
  }
  void *sk = NULL;
  size_t sklen = 0;
  int with_sketch =
      a.sketch && b.sketch &&
      tw_sketch_merge_blobs(a.sketch, a.sketch_len, b.sketch, b.sketch_len, &sk, &sklen) == 0;
  size_t len;
  void *out = cell_encode(a.count + b.count, a.sum + b.sum, fmin(a.min, b.min), fmax(a.max, b.max),
                          with_sketch ? sk : NULL, with_sketch ? sklen : 0, &len);
  free(sk);
  if (!out) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_blob(ctx, out, (int)len, free);
}

int tw_sqlite_metrics_functions(sqlite3 *db) {
  return sqlite3_create_function(db, "tw_metrics_cell_merge", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                 NULL, sql_cell_merge, NULL, NULL) == SQLITE_OK
             ? 0
             : -1;
}

/* --- writes ------------------------------------------------------------------- */

static uint64_t metric_save(tw_store *s, const tw_metric_row *m) {
  tw_sql_val v[TW_CW_METRIC_NCOLS];
  tw_cw_metric_vals(m, v);
  return tw_store_exec(s,
                       "INSERT INTO cw_metrics(id,namespace,name,dims,last_ms) VALUES(?,?,?,?,?)"
                       " ON CONFLICT(id) DO UPDATE SET last_ms=max(last_ms,excluded.last_ms)",
                       v, TW_CW_METRIC_NCOLS);
}

static uint64_t metrics_expire(tw_store *s, int64_t before_ms) {
  tw_sql_val v[] = {TW_SQL_I(before_ms)};
  return tw_store_exec(s, "DELETE FROM cw_metrics WHERE last_ms<?", v, 1);
}

static uint64_t cell_add(tw_store *s, const tw_metric_cell *c) {
  size_t len;
  void *blob = cell_encode(c->count, c->sum, c->min, c->max, c->sketch, c->sketch_len, &len);
  if (!blob) return 0;
  tw_sql_val v[TW_CW_CELL_KEY_NCOLS + 1];
  tw_cw_cell_key_vals(c, v);
  v[TW_CW_CELL_KEY_NCOLS] = TW_SQL_B(blob, len);
  uint64_t t = tw_store_exec(s,
                             "INSERT INTO cw_points(metric_id,ts,level,unit,cell) VALUES(?,?,?,?,?)"
                             " ON CONFLICT(metric_id,ts,level,unit) DO UPDATE SET"
                             " cell=tw_metrics_cell_merge(cell,excluded.cell)",
                             v, TW_CW_CELL_KEY_NCOLS + 1);
  free(blob);
  return t;
}

static uint64_t cells_delete(tw_store *s, int level, int64_t from, int64_t to) {
  tw_sql_val v[] = {TW_SQL_I(level), TW_SQL_I(from), TW_SQL_I(to)};
  return tw_store_exec(s, "DELETE FROM cw_points WHERE level=? AND ts>=? AND ts<?", v, 3);
}

/* --- reads -------------------------------------------------------------------- */

static int metrics_load(tw_store *s, int (*fn)(void *ud, const tw_metric_row *m), void *ud) {
  sqlite3 *db = tw_store_reader(s);
  sqlite3_stmt *st = NULL;
  if (!db || sqlite3_prepare_v2(db, "SELECT id,namespace,name,dims,last_ms FROM cw_metrics", -1,
                                &st, NULL) != SQLITE_OK) {
    tw_error("store: cannot read the metrics: %s", db ? sqlite3_errmsg(db) : "no reader");
    sqlite3_finalize(st);
    return -1;
  }
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    tw_metric_row m = {
        .id = sqlite3_column_int64(st, 0),
        .ns = (const char *)sqlite3_column_text(st, 1),
        .name = (const char *)sqlite3_column_text(st, 2),
        .dims = (const char *)sqlite3_column_text(st, 3),
        .last_ms = sqlite3_column_int64(st, 4),
    };
    if (!m.ns || !m.name || !m.dims) continue;
    if (fn(ud, &m)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

/* Steps a cells statement whose columns are metric_id, ts, level, unit, cell. */
static int each_cell(sqlite3_stmt *st, int (*fn)(void *ud, const tw_metric_cell *c), void *ud) {
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    tw_metric_cell c = {
        .metric_id = sqlite3_column_int64(st, 0),
        .ts = sqlite3_column_int64(st, 1),
        .level = sqlite3_column_int(st, 2),
        .unit = sqlite3_column_int(st, 3),
    };
    const void *blob = sqlite3_column_blob(st, 4);
    if (cell_decode(blob, (size_t)sqlite3_column_bytes(st, 4), &c)) continue;
    if (fn(ud, &c)) return 0;
  }
  return rc == SQLITE_DONE ? 0 : -1;
}

static int cells_read(tw_store *s, int64_t metric_id, int64_t from, int64_t to,
                      int (*fn)(void *ud, const tw_metric_cell *c), void *ud) {
  sqlite3_stmt *st = tw_store_read_stmt(s,
                                        "SELECT metric_id,ts,level,unit,cell FROM cw_points"
                                        " WHERE metric_id=? AND ts>=? AND ts<? ORDER BY ts");
  if (!st) return -1;
  sqlite3_bind_int64(st, 1, metric_id);
  sqlite3_bind_int64(st, 2, from);
  sqlite3_bind_int64(st, 3, to);
  int rc = each_cell(st, fn, ud);
  tw_store_read_done(st);
  return rc;
}

static int level_read(tw_store *s, int level, int64_t from, int64_t to,
                      int (*fn)(void *ud, const tw_metric_cell *c), void *ud) {
  sqlite3_stmt *st = tw_store_read_stmt(s,
                                        "SELECT metric_id,ts,level,unit,cell FROM cw_points"
                                        " WHERE level=? AND ts>=? AND ts<?");
  if (!st) return -1;
  sqlite3_bind_int(st, 1, level);
  sqlite3_bind_int64(st, 2, from);
  sqlite3_bind_int64(st, 3, to);
  int rc = each_cell(st, fn, ud);
  tw_store_read_done(st);
  return rc;
}

static int level_oldest(tw_store *s, int level, int64_t before, int64_t *ts) {
  sqlite3_stmt *st = tw_store_read_stmt(s, "SELECT min(ts) FROM cw_points WHERE level=? AND ts<?");
  if (!st) return -1;
  sqlite3_bind_int(st, 1, level);
  sqlite3_bind_int64(st, 2, before);
  int rc = sqlite3_step(st), found = -1;
  if (rc == SQLITE_ROW) {
    found = sqlite3_column_type(st, 0) != SQLITE_NULL;
    if (found) *ts = sqlite3_column_int64(st, 0);
  }
  tw_store_read_done(st);
  return found;
}

static int level_counts(tw_store *s, int64_t counts[4]) {
  sqlite3_stmt *st = tw_store_read_stmt(s, "SELECT level, count(*) FROM cw_points GROUP BY level");
  if (!st) return -1;
  memset(counts, 0, 4 * sizeof counts[0]);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int level = sqlite3_column_int(st, 0);
    if (level >= 0 && level < 4) counts[level] = sqlite3_column_int64(st, 1);
  }
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static const tw_metrics_repo repo = {
    .metric_save = metric_save,
    .metrics_expire = metrics_expire,
    .cell_add = cell_add,
    .cells_delete = cells_delete,
    .metrics_load = metrics_load,
    .cells_read = cells_read,
    .level_read = level_read,
    .level_oldest = level_oldest,
    .level_counts = level_counts,
};

const tw_metrics_repo *tw_store_metrics(tw_store *s) {
  const tw_store_repos *other = tw_store_repos_of(s); /* another backend's (backend.h) */
  return other && other->cw_metrics ? other->cw_metrics : &repo;
}
