/* The SNS outbox in SQLite: the sns_outbox table (schema.c). */
#include <sqlite3.h>
#include <stdio.h>

#include "store/sns_outbox.h"
#include "store/sns_rows.h"
#include "store/sqlite/sqlite_internal.h"

static uint64_t put(tw_store *s, const tw_sns_outbox_row *r) {
  tw_sql_val vals[1 + TW_SNS_OUT_NCOLS] = {TW_SQL_I((int64_t)r->id)};
  tw_sns_out_vals(r, vals + 1);
  return tw_store_exec(s,
                       "INSERT OR REPLACE INTO sns_outbox(id,sub_arn,topic_arn,protocol,endpoint,"
                       "kind,msg_id,subject,from_name,raw,body,attempts,due_ms,created_ms)"
                       " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       vals, 1 + TW_SNS_OUT_NCOLS);
}

static uint64_t reschedule(tw_store *s, uint64_t id, int attempts, int64_t due_ms) {
  tw_sql_val vals[] = {TW_SQL_I(attempts), TW_SQL_I(due_ms), TW_SQL_I((int64_t)id)};
  return tw_store_exec(s, "UPDATE sns_outbox SET attempts=?, due_ms=? WHERE id=?", vals, 3);
}

static uint64_t remove_row(tw_store *s, uint64_t id) {
  tw_sql_val vals[] = {TW_SQL_I((int64_t)id)};
  return tw_store_exec(s, "DELETE FROM sns_outbox WHERE id=?", vals, 1);
}

static int max_id(tw_store *s, uint64_t *out) {
  sqlite3_stmt *st = tw_store_read_stmt(s, "SELECT COALESCE(MAX(id),0) FROM sns_outbox");
  if (!st) return -1;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *out = (uint64_t)sqlite3_column_int64(st, 0);
  tw_store_read_done(st);
  return rc == SQLITE_ROW ? 0 : -1;
}

static const char *text(sqlite3_stmt *st, int i) {
  return (const char *)sqlite3_column_text(st, i);
}

static int due(tw_store *s, int64_t now_ms, int limit,
               void (*fn)(void *ud, const tw_sns_outbox_row *row), void *ud) {
  sqlite3_stmt *st = tw_store_read_stmt(
      s,
      "SELECT id,sub_arn,topic_arn,protocol,endpoint,kind,msg_id,subject,from_name,raw,body,"
      "attempts,due_ms,created_ms FROM sns_outbox WHERE due_ms<=? ORDER BY due_ms,id LIMIT ?");
  if (!st) return -1;
  sqlite3_bind_int64(st, 1, now_ms);
  sqlite3_bind_int64(st, 2, limit);
  int rc, n = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    tw_sns_outbox_row r = {
        .id = (uint64_t)sqlite3_column_int64(st, 0),
        .sub_arn = text(st, 1),
        .topic_arn = text(st, 2),
        .protocol = text(st, 3),
        .endpoint = text(st, 4),
        .kind = text(st, 5),
        .msg_id = text(st, 6),
        .subject = text(st, 7),
        .from_name = text(st, 8),
        .raw = sqlite3_column_int(st, 9),
        .body = sqlite3_column_blob(st, 10),
        .body_len = (size_t)sqlite3_column_bytes(st, 10),
        .attempts = sqlite3_column_int(st, 11),
        .due_ms = sqlite3_column_int64(st, 12),
        .created_ms = sqlite3_column_int64(st, 13),
    };
    if (!r.sub_arn || !r.topic_arn || !r.protocol || !r.endpoint || !r.kind || !r.msg_id) continue;
    fn(ud, &r);
    n++;
  }
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? n : -1;
}

static long count(tw_store *s) {
  sqlite3_stmt *st = tw_store_read_stmt(s, "SELECT COUNT(*) FROM sns_outbox");
  if (!st) return -1;
  long n = sqlite3_step(st) == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : -1;
  tw_store_read_done(st);
  return n;
}

static const tw_sns_outbox_repo repo = {
    .put = put,
    .reschedule = reschedule,
    .remove = remove_row,
    .max_id = max_id,
    .due = due,
    .count = count,
};

const tw_sns_outbox_repo *tw_store_sns_outbox(tw_store *s) {
  const tw_store_repos *other = tw_store_repos_of(s); /* another backend's (backend.h) */
  return other && other->sns_outbox ? other->sns_outbox : &repo;
}
