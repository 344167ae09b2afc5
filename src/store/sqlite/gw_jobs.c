/* The gateway's jobs in SQLite: the jobs table (schema.c). */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "store/gw_rows.h"
#include "store/sqlite/sqlite_internal.h"

static uint64_t insert(tw_store *s, const tw_gw_job_new *j) {
  tw_sql_val v[TW_GW_JOB_NCOLS];
  tw_gw_job_vals(j, v);
  return tw_store_exec(s,
                       "INSERT INTO jobs(id,type,status,attempts,created_ms,queue,owner,idem_key,"
                       "fingerprint) VALUES(?,?,'queued',0,?,?,?,?,?)",
                       v, 7);
}

static uint64_t start(tw_store *s, const char *id, int attempts, int64_t now_ms) {
  tw_sql_val v[] = {TW_SQL_I(attempts), TW_SQL_I(now_ms), TW_SQL_S(id)};
  return tw_store_exec(s,
                       "UPDATE jobs SET status='running',attempts=?,started_ms=?,finished_ms=NULL,"
                       "error=NULL,result_bucket=NULL,result_key=NULL WHERE id=?",
                       v, 3);
}

static uint64_t succeed(tw_store *s, const char *id, int64_t now_ms, const char *bucket,
                        const char *key) {
  /* the key is kept as a BLOB, as S3 keeps its keys */
  tw_sql_val v[] = {TW_SQL_I(now_ms), TW_SQL_S(bucket), TW_SQL_B(key, strlen(key)), TW_SQL_S(id)};
  return tw_store_exec(s,
                       "UPDATE jobs SET status='succeeded',finished_ms=?,result_bucket=?,"
                       "result_key=?,error=NULL WHERE id=?",
                       v, 4);
}

static uint64_t fail(tw_store *s, const char *id, int64_t now_ms, const char *error) {
  tw_sql_val v[] = {TW_SQL_I(now_ms), TW_SQL_S(error), TW_SQL_S(id)};
  return tw_store_exec(s, "UPDATE jobs SET status='failed',finished_ms=?,error=? WHERE id=?", v, 3);
}

/* --- reads ---------------------------------------------------------------------------- */

#define JOB_COLS                                                                              \
  "SELECT seq,id,type,status,attempts,created_ms,started_ms,finished_ms,error,result_bucket," \
  "result_key FROM jobs"

static char *col_dup(sqlite3_stmt *st, int i) {
  if (sqlite3_column_type(st, i) == SQLITE_NULL) return NULL;
  const void *p = sqlite3_column_blob(st, i);
  int n = sqlite3_column_bytes(st, i);
  char *s = malloc((size_t)n + 1);
  if (!s) return NULL;
  if (n) memcpy(s, p, (size_t)n);
  s[n] = 0;
  return s;
}

static void col_copy(sqlite3_stmt *st, int i, char *out, size_t n) {
  const char *v = (const char *)sqlite3_column_text(st, i);
  snprintf(out, n, "%s", v ? v : "");
}

/* The row's fixed fields; the strings are left NULL. */
static void row_fixed(sqlite3_stmt *st, tw_gw_job_row *j) {
  memset(j, 0, sizeof *j);
  j->seq = sqlite3_column_int64(st, 0);
  col_copy(st, 1, j->id, sizeof j->id);
  col_copy(st, 2, j->type, sizeof j->type);
  col_copy(st, 3, j->status, sizeof j->status);
  j->attempts = sqlite3_column_int(st, 4);
  j->created_ms = sqlite3_column_int64(st, 5);
  j->started_ms = sqlite3_column_int64(st, 6);
  j->finished_ms = sqlite3_column_int64(st, 7);
}

static void row_owned(sqlite3_stmt *st, tw_gw_job_row *j) {
  row_fixed(st, j);
  j->error = col_dup(st, 8);
  j->result_bucket = col_dup(st, 9);
  j->result_key = col_dup(st, 10);
}

static int get(tw_store *s, const char *id, tw_gw_job_row *out) {
  sqlite3_stmt *st = tw_store_read_stmt(s, JOB_COLS " WHERE id=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
  if (found == 1) row_owned(st, out);
  tw_store_read_done(st);
  return found;
}

static int list(tw_store *s, const tw_gw_job_filter *f,
                int (*fn)(void *ud, const tw_gw_job_row *row), void *ud) {
  /* eight shapes of one query: prepared for the call, not cached */
  char sql[512];
  snprintf(sql, sizeof sql, JOB_COLS " WHERE 1%s%s%s ORDER BY seq DESC LIMIT ?",
           f->status ? " AND status=?" : "", f->type ? " AND type=?" : "",
           f->before_seq > 0 ? " AND seq<?" : "");
  sqlite3 *db = tw_store_reader(s);
  sqlite3_stmt *st = NULL;
  if (!db || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    tw_error("store: cannot read the jobs table: %s", db ? sqlite3_errmsg(db) : "no reader");
    sqlite3_finalize(st);
    return -1;
  }
  int i = 1;
  if (f->status) sqlite3_bind_text(st, i++, f->status, -1, SQLITE_STATIC);
  if (f->type) sqlite3_bind_text(st, i++, f->type, -1, SQLITE_STATIC);
  if (f->before_seq > 0) sqlite3_bind_int64(st, i++, f->before_seq);
  sqlite3_bind_int64(st, i, f->limit);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    tw_gw_job_row j;
    row_fixed(st, &j);
    /* borrowed: valid until the next step */
    j.error = sqlite3_column_type(st, 8) == SQLITE_NULL ? NULL : (char *)sqlite3_column_text(st, 8);
    j.result_bucket =
        sqlite3_column_type(st, 9) == SQLITE_NULL ? NULL : (char *)sqlite3_column_text(st, 9);
    j.result_key =
        sqlite3_column_type(st, 10) == SQLITE_NULL ? NULL : (char *)sqlite3_column_text(st, 10);
    if (fn(ud, &j)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static int idem_find(tw_store *s, const char *owner, const char *idem_key, int64_t after_ms,
                     char id[37], char fingerprint[65], char status[12]) {
  sqlite3_stmt *st = tw_store_read_stmt(s,
                                        "SELECT id,fingerprint,status FROM jobs WHERE owner=? AND"
                                        " idem_key=? AND created_ms>? ORDER BY created_ms DESC"
                                        " LIMIT 1");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, idem_key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, after_ms);
  int rc = sqlite3_step(st);
  int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
  if (found == 1) {
    col_copy(st, 0, id, 37);
    col_copy(st, 1, fingerprint, 65);
    col_copy(st, 2, status, 12);
  }
  tw_store_read_done(st);
  return found;
}

static int count_by_status(tw_store *s, int64_t out[4]) {
  static const char *const names[] = {"queued", "running", "succeeded", "failed"};
  sqlite3_stmt *st = tw_store_read_stmt(s, "SELECT COUNT(*) FROM jobs WHERE status=?");
  if (!st) return -1;
  int rc = 0;
  for (int i = 0; i < 4 && !rc; i++) {
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, names[i], -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
      out[i] = sqlite3_column_int64(st, 0);
    else
      rc = -1;
  }
  tw_store_read_done(st);
  return rc;
}

static const tw_gw_jobs_repo repo = {.count_by_status = count_by_status,
                                     .insert = insert,
                                     .start = start,
                                     .succeed = succeed,
                                     .fail = fail,
                                     .get = get,
                                     .list = list,
                                     .idem_find = idem_find};

const tw_gw_jobs_repo *tw_store_gw_jobs(tw_store *s) {
  const tw_store_repos *other = tw_store_repos_of(s); /* another backend's (backend.h) */
  return other && other->gw_jobs ? other->gw_jobs : &repo;
}
