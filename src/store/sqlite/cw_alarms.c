/* CloudWatch alarms, alarm history and dashboards in SQLite: the cw_alarms,
 * cw_alarm_history and cw_dashboards tables (schema.c, tw_sqlite_schema_alarms). */
#include "store/cw_alarms.h"

#include <sqlite3.h>
#include <stdio.h>

#include "core/log.h"
#include "store/cw_rows.h"
#include "store/sqlite/sqlite_internal.h"

static uint64_t alarm_put(tw_store *s, const char *name, const char *doc) {
  tw_sql_val v[] = {TW_SQL_S(name), TW_SQL_S(doc)};
  return tw_store_exec(s, "INSERT OR REPLACE INTO cw_alarms(name,doc) VALUES(?,?)", v, 2);
}

static uint64_t alarm_delete(tw_store *s, const char *name) {
  tw_sql_val v[] = {TW_SQL_S(name)};
  return tw_store_exec(s, "DELETE FROM cw_alarms WHERE name=?", v, 1);
}

static uint64_t history_add(tw_store *s, const tw_cw_history_row *r) {
  tw_sql_val v[TW_CW_HISTORY_NCOLS];
  tw_cw_history_vals(r, v);
  return tw_store_exec(s,
                       "INSERT INTO cw_alarm_history(alarm_name,alarm_type,ts_ms,type,summary,"
                       "data) VALUES(?,?,?,?,?,?)",
                       v, TW_CW_HISTORY_NCOLS);
}

static uint64_t history_prune(tw_store *s, int64_t before_ms) {
  tw_sql_val v[] = {TW_SQL_I(before_ms)};
  return tw_store_exec(s, "DELETE FROM cw_alarm_history WHERE ts_ms<?", v, 1);
}

static uint64_t dashboard_put(tw_store *s, const char *name, const char *doc) {
  tw_sql_val v[] = {TW_SQL_S(name), TW_SQL_S(doc)};
  return tw_store_exec(s, "INSERT OR REPLACE INTO cw_dashboards(name,doc) VALUES(?,?)", v, 2);
}

static uint64_t dashboard_delete(tw_store *s, const char *name) {
  tw_sql_val v[] = {TW_SQL_S(name)};
  return tw_store_exec(s, "DELETE FROM cw_dashboards WHERE name=?", v, 1);
}

static int load_table(sqlite3 *db, const char *sql,
                      int (*fn)(void *ud, const char *name, const char *doc), void *ud) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    if (fn(ud, (const char *)sqlite3_column_text(st, 0),
           (const char *)sqlite3_column_text(st, 1))) {
      rc = SQLITE_ABORT;
      break;
    }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static int load(tw_store *s, int (*alarm)(void *ud, const char *name, const char *doc),
                int (*dashboard)(void *ud, const char *name, const char *doc), void *ud) {
  sqlite3 *db = tw_store_reader(s);
  if (!db) return -1;
  if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) return -1;
  int rc = load_table(db, "SELECT name,doc FROM cw_alarms ORDER BY name", alarm, ud);
  if (!rc) rc = load_table(db, "SELECT name,doc FROM cw_dashboards ORDER BY name", dashboard, ud);
  if (rc) tw_error("store: cannot read the alarms and dashboards: %s", sqlite3_errmsg(db));
  sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  return rc;
}

static int history_read(tw_store *s, const tw_cw_history_filter *f,
                        int (*fn)(void *ud, const tw_cw_history_row *row), void *ud) {
  sqlite3 *db = tw_store_reader(s);
  if (!db) return -1;
  /* rare and filtered many ways: prepared here, not cached */
  char sql[640];
  snprintf(sql, sizeof sql,
           "SELECT id,alarm_name,alarm_type,ts_ms,type,summary,data FROM cw_alarm_history"
           " WHERE (?1 IS NULL OR alarm_name=?1) AND (?2 IS NULL OR type=?2) AND ts_ms>=?3"
           " AND ts_ms<?4 AND (?5=0 OR id %s ?5) AND (?7=0 OR (?7&1 AND alarm_type='MetricAlarm')"
           " OR (?7&2 AND alarm_type='CompositeAlarm')) ORDER BY ts_ms %s, id %s LIMIT ?6",
           f->newest_first ? "<" : ">", f->newest_first ? "DESC" : "ASC",
           f->newest_first ? "DESC" : "ASC");
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    tw_error("store: cannot read the alarm history: %s", sqlite3_errmsg(db));
    return -1;
  }
  if (f->alarm_name) sqlite3_bind_text(st, 1, f->alarm_name, -1, SQLITE_STATIC);
  if (f->type) sqlite3_bind_text(st, 2, f->type, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, f->from_ms);
  sqlite3_bind_int64(st, 4, f->to_ms);
  sqlite3_bind_int64(st, 5, f->after_id);
  sqlite3_bind_int64(st, 6, f->limit);
  sqlite3_bind_int64(st, 7, f->alarm_types == 3 ? 0 : f->alarm_types);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    tw_cw_history_row r = {.id = sqlite3_column_int64(st, 0),
                           .alarm_name = (const char *)sqlite3_column_text(st, 1),
                           .alarm_type = (const char *)sqlite3_column_text(st, 2),
                           .ts_ms = sqlite3_column_int64(st, 3),
                           .type = (const char *)sqlite3_column_text(st, 4),
                           .summary = (const char *)sqlite3_column_text(st, 5),
                           .data = (const char *)sqlite3_column_text(st, 6)};
    if (fn(ud, &r)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static const tw_cw_alarms_repo repo = {.alarm_put = alarm_put,
                                       .alarm_delete = alarm_delete,
                                       .history_add = history_add,
                                       .history_prune = history_prune,
                                       .dashboard_put = dashboard_put,
                                       .dashboard_delete = dashboard_delete,
                                       .load = load,
                                       .history_read = history_read};

const tw_cw_alarms_repo *tw_store_cw_alarms(tw_store *s) {
  const tw_store_repos *other = tw_store_repos_of(s); /* another backend's (backend.h) */
  return other && other->cw_alarms ? other->cw_alarms : &repo;
}
