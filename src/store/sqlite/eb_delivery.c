/* EventBridge connections, API destinations, schedule marks and the API
 * destination outbox in SQLite: the eb_objects, eb_marks and eb_outbox
 * tables (schema.c, tw_sqlite_schema_eb_delivery). */
#include <sqlite3.h>
#include <stdio.h>

#include "store/eb_delivery.h"
#include "store/eb_rows.h"
#include "store/sqlite/sqlite_internal.h"

static const char *text(sqlite3_stmt *st, int i) {
  return (const char *)sqlite3_column_text(st, i);
}

static uint64_t object_put(tw_store *s, const char *kind, const char *name, const char *doc) {
  tw_sql_val vals[] = {TW_SQL_S(kind), TW_SQL_S(name), TW_SQL_S(doc)};
  return tw_store_exec(s, "INSERT OR REPLACE INTO eb_objects(kind,name,doc) VALUES(?,?,?)", vals,
                       3);
}

static uint64_t object_delete(tw_store *s, const char *kind, const char *name) {
  tw_sql_val vals[] = {TW_SQL_S(kind), TW_SQL_S(name)};
  return tw_store_exec(s, "DELETE FROM eb_objects WHERE kind=? AND name=?", vals, 2);
}

static int object_load(tw_store *s,
                       int (*fn)(void *ud, const char *kind, const char *name, const char *doc),
                       void *ud) {
  sqlite3_stmt *st =
      tw_store_read_stmt(s, "SELECT kind,name,doc FROM eb_objects ORDER BY kind,name");
  if (!st) return -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (!text(st, 0) || !text(st, 1) || !text(st, 2)) continue;
    if (fn(ud, text(st, 0), text(st, 1), text(st, 2))) {
      rc = SQLITE_ABORT;
      break;
    }
  }
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static uint64_t mark_put(tw_store *s, const char *bus, const char *rule, int64_t last_ms) {
  tw_sql_val vals[] = {TW_SQL_S(bus), TW_SQL_S(rule), TW_SQL_I(last_ms)};
  return tw_store_exec(s, "INSERT OR REPLACE INTO eb_marks(bus,rule,last_ms) VALUES(?,?,?)", vals,
                       3);
}

static uint64_t mark_delete(tw_store *s, const char *bus, const char *rule) {
  tw_sql_val vals[] = {TW_SQL_S(bus), TW_SQL_S(rule)};
  return tw_store_exec(s, "DELETE FROM eb_marks WHERE bus=? AND rule=?", vals, 2);
}

static int mark_load(tw_store *s,
                     int (*fn)(void *ud, const char *bus, const char *rule, int64_t last_ms),
                     void *ud) {
  sqlite3_stmt *st = tw_store_read_stmt(s, "SELECT bus,rule,last_ms FROM eb_marks");
  if (!st) return -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (!text(st, 0) || !text(st, 1)) continue;
    if (fn(ud, text(st, 0), text(st, 1), sqlite3_column_int64(st, 2))) {
      rc = SQLITE_ABORT;
      break;
    }
  }
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static uint64_t out_put(tw_store *s, const tw_eb_outbox_row *r) {
  tw_sql_val vals[1 + TW_EB_OUT_NCOLS] = {TW_SQL_I((int64_t)r->id)};
  tw_eb_out_vals(r, vals + 1);
  return tw_store_exec(s,
                       "INSERT OR REPLACE INTO eb_outbox(id,rule_arn,target,request,event,body,"
                       "attempts,due_ms,created_ms) VALUES(?,?,?,?,?,?,?,?,?)",
                       vals, 1 + TW_EB_OUT_NCOLS);
}

static uint64_t out_reschedule(tw_store *s, uint64_t id, int attempts, int64_t due_ms) {
  tw_sql_val vals[] = {TW_SQL_I(attempts), TW_SQL_I(due_ms), TW_SQL_I((int64_t)id)};
  return tw_store_exec(s, "UPDATE eb_outbox SET attempts=?, due_ms=? WHERE id=?", vals, 3);
}

static uint64_t out_remove(tw_store *s, uint64_t id) {
  tw_sql_val vals[] = {TW_SQL_I((int64_t)id)};
  return tw_store_exec(s, "DELETE FROM eb_outbox WHERE id=?", vals, 1);
}

static int out_max_id(tw_store *s, uint64_t *out) {
  sqlite3_stmt *st = tw_store_read_stmt(s, "SELECT COALESCE(MAX(id),0) FROM eb_outbox");
  if (!st) return -1;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *out = (uint64_t)sqlite3_column_int64(st, 0);
  tw_store_read_done(st);
  return rc == SQLITE_ROW ? 0 : -1;
}

static int out_due(tw_store *s, int64_t now_ms, int limit,
                   void (*fn)(void *ud, const tw_eb_outbox_row *row), void *ud) {
  sqlite3_stmt *st = tw_store_read_stmt(
      s,
      "SELECT id,rule_arn,target,request,event,body,attempts,due_ms,created_ms FROM eb_outbox"
      " WHERE due_ms<=? ORDER BY due_ms,id LIMIT ?");
  if (!st) return -1;
  sqlite3_bind_int64(st, 1, now_ms);
  sqlite3_bind_int64(st, 2, limit);
  int rc, n = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    tw_eb_outbox_row r = {
        .id = (uint64_t)sqlite3_column_int64(st, 0),
        .rule_arn = text(st, 1),
        .target = text(st, 2),
        .request = text(st, 3),
        .event = text(st, 4),
        .body = sqlite3_column_blob(st, 5),
        .body_len = (size_t)sqlite3_column_bytes(st, 5),
        .attempts = sqlite3_column_int(st, 6),
        .due_ms = sqlite3_column_int64(st, 7),
        .created_ms = sqlite3_column_int64(st, 8),
    };
    if (!r.rule_arn || !r.target || !r.request || !r.event) continue;
    fn(ud, &r);
    n++;
  }
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? n : -1;
}

static long out_count(tw_store *s) {
  sqlite3_stmt *st = tw_store_read_stmt(s, "SELECT COUNT(*) FROM eb_outbox");
  if (!st) return -1;
  long n = sqlite3_step(st) == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : -1;
  tw_store_read_done(st);
  return n;
}

static const tw_eb_delivery_repo repo = {
    .object_put = object_put,
    .object_delete = object_delete,
    .object_load = object_load,
    .mark_put = mark_put,
    .mark_delete = mark_delete,
    .mark_load = mark_load,
    .out_put = out_put,
    .out_reschedule = out_reschedule,
    .out_remove = out_remove,
    .out_max_id = out_max_id,
    .out_due = out_due,
    .out_count = out_count,
};

const tw_eb_delivery_repo *tw_store_eb_delivery(tw_store *s) {
  const tw_store_repos *other = tw_store_repos_of(s); /* another backend's (backend.h) */
  return other && other->eb_delivery ? other->eb_delivery : &repo;
}
