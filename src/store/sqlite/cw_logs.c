/* CloudWatch Logs in SQLite: the cw_log_groups, cw_log_streams and
 * cw_log_events tables (schema.c). Events are found by (group, ts, seq) and
 * (stream, ts, seq). */
#include <sqlite3.h>
#include <stdint.h>

#include "core/log.h"
#include "store/cw_logs.h"
#include "store/sqlite/sqlite_internal.h"

static uint64_t max_ticket(uint64_t a, uint64_t b) {
  return a > b ? a : b;
}

static uint64_t group_save(tw_store *s, const tw_log_group_row *g) {
  tw_sql_val v[] = {TW_SQL_I(g->id), TW_SQL_S(g->name), TW_SQL_I(g->created_ms),
                    TW_SQL_I(g->retention_days)};
  return tw_store_exec(s,
                       "INSERT OR REPLACE INTO cw_log_groups(id,name,created_ms,retention_days)"
                       " VALUES(?,?,?,?)",
                       v, 4);
}

static uint64_t group_delete(tw_store *s, int64_t id) {
  tw_sql_val v[] = {TW_SQL_I(id)};
  uint64_t t = tw_store_exec(s, "DELETE FROM cw_log_events WHERE group_id=?", v, 1);
  t = max_ticket(t, tw_store_exec(s, "DELETE FROM cw_log_streams WHERE group_id=?", v, 1));
  return max_ticket(t, tw_store_exec(s, "DELETE FROM cw_log_groups WHERE id=?", v, 1));
}

static uint64_t stream_save(tw_store *s, const tw_log_stream_row *r) {
  tw_sql_val v[] = {TW_SQL_I(r->id),
                    TW_SQL_I(r->group_id),
                    TW_SQL_S(r->name),
                    TW_SQL_I(r->created_ms),
                    TW_SQL_I(r->first_ts),
                    TW_SQL_I(r->last_ts),
                    TW_SQL_I(r->last_ingest_ms),
                    TW_SQL_I(r->stored_bytes)};
  return tw_store_exec(s,
                       "INSERT OR REPLACE INTO cw_log_streams(id,group_id,name,created_ms,"
                       "first_ts,last_ts,last_ingest_ms,stored_bytes) VALUES(?,?,?,?,?,?,?,?)",
                       v, 8);
}

static uint64_t stream_delete(tw_store *s, int64_t id) {
  tw_sql_val v[] = {TW_SQL_I(id)};
  uint64_t t = tw_store_exec(s, "DELETE FROM cw_log_events WHERE stream_id=?", v, 1);
  return max_ticket(t, tw_store_exec(s, "DELETE FROM cw_log_streams WHERE id=?", v, 1));
}

#define NCOLS 6
#define BATCH 16
#define COLS "INSERT INTO cw_log_events(seq,group_id,stream_id,ts,ingest_ms,msg) VALUES"
#define ROW "(?,?,?,?,?,?)"
#define ROW4 ROW "," ROW "," ROW "," ROW
#define ROW16 ROW4 "," ROW4 "," ROW4 "," ROW4

static void row_vals(const tw_log_event_row *e, tw_sql_val *v) {
  v[0] = TW_SQL_I((int64_t)e->seq);
  v[1] = TW_SQL_I(e->group_id);
  v[2] = TW_SQL_I(e->stream_id);
  v[3] = TW_SQL_I(e->ts);
  v[4] = TW_SQL_I(e->ingest_ms);
  v[5] = (tw_sql_val){.type = TW_SQL_TEXT, .s = e->msg, .n = e->msg_len};
}

static uint64_t events_append(tw_store *s, const tw_log_event_row *rows, size_t n) {
  if (!n) return tw_store_ticket(s);
  uint64_t t = 0;
  size_t i = 0;
  tw_sql_val v[BATCH * NCOLS];
  for (; i + BATCH <= n; i += BATCH) {
    for (int k = 0; k < BATCH; k++) row_vals(&rows[i + (size_t)k], v + NCOLS * k);
    t = tw_store_exec(s, COLS ROW16, v, BATCH * NCOLS);
  }
  for (; i < n; i++) {
    row_vals(&rows[i], v);
    t = tw_store_exec(s, COLS ROW, v, NCOLS);
  }
  return t;
}

static uint64_t events_prune(tw_store *s, int64_t group_id, int64_t before_ts) {
  tw_sql_val v[] = {TW_SQL_I(group_id), TW_SQL_I(before_ts)};
  return tw_store_exec(s, "DELETE FROM cw_log_events WHERE group_id=? AND ts<?", v, 2);
}

static int prune_sizes(tw_store *s, int64_t group_id, int64_t before_ts,
                       void (*fn)(void *ud, int64_t stream_id, int64_t bytes), void *ud) {
  sqlite3_stmt *st =
      tw_store_read_stmt(s,
                         "SELECT stream_id, SUM(length(CAST(msg AS BLOB))) FROM cw_log_events"
                         " WHERE group_id=? AND ts<? GROUP BY stream_id");
  if (!st) return -1;
  sqlite3_bind_int64(st, 1, group_id);
  sqlite3_bind_int64(st, 2, before_ts);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    fn(ud, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static int scan(tw_store *s, const tw_log_scan *q, int (*fn)(void *ud, const tw_log_event_row *row),
                void *ud) {
  const char *sql;
  /* each a literal: the reader caches statements by address */
  if (q->stream_id && !q->desc)
    sql =
        "SELECT seq,group_id,stream_id,ts,ingest_ms,msg FROM cw_log_events"
        " WHERE stream_id=?1 AND ts>=?2 AND ts<?3 AND (ts,seq)>(?4,?5) ORDER BY ts,seq";
  else if (q->stream_id)
    sql =
        "SELECT seq,group_id,stream_id,ts,ingest_ms,msg FROM cw_log_events"
        " WHERE stream_id=?1 AND ts>=?2 AND ts<?3 AND (ts,seq)<(?4,?5) ORDER BY ts DESC,seq DESC";
  else if (!q->desc)
    sql =
        "SELECT seq,group_id,stream_id,ts,ingest_ms,msg FROM cw_log_events"
        " WHERE group_id=?1 AND ts>=?2 AND ts<?3 AND (ts,seq)>(?4,?5) ORDER BY ts,seq";
  else
    sql =
        "SELECT seq,group_id,stream_id,ts,ingest_ms,msg FROM cw_log_events"
        " WHERE group_id=?1 AND ts>=?2 AND ts<?3 AND (ts,seq)<(?4,?5) ORDER BY ts DESC,seq DESC";
  sqlite3_stmt *st = tw_store_read_stmt(s, sql);
  if (!st) return -1;
  sqlite3_bind_int64(st, 1, q->stream_id ? q->stream_id : q->group_id);
  sqlite3_bind_int64(st, 2, q->start);
  sqlite3_bind_int64(st, 3, q->end);
  sqlite3_bind_int64(st, 4, q->cur_ts);
  sqlite3_bind_int64(st, 5, (int64_t)q->cur_seq);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *m = (const char *)sqlite3_column_text(st, 5);
    tw_log_event_row e = {
        .seq = (uint64_t)sqlite3_column_int64(st, 0),
        .group_id = sqlite3_column_int64(st, 1),
        .stream_id = sqlite3_column_int64(st, 2),
        .ts = sqlite3_column_int64(st, 3),
        .ingest_ms = sqlite3_column_int64(st, 4),
        .msg = m ? m : "",
        .msg_len = m ? (size_t)sqlite3_column_bytes(st, 5) : 0,
    };
    if (fn(ud, &e)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static int load(tw_store *s, const tw_logs_loader *ld, void *ud, uint64_t *max_seq) {
  sqlite3 *db = tw_store_reader(s);
  if (!db) return -1;
  if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) return -1;
  int rc = -1, step = SQLITE_DONE;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db,
                         "SELECT id,name,created_ms,retention_days FROM cw_log_groups ORDER BY id",
                         -1, &st, NULL) != SQLITE_OK)
    goto done;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    tw_log_group_row g = {
        .id = sqlite3_column_int64(st, 0),
        .name = (const char *)sqlite3_column_text(st, 1),
        .created_ms = sqlite3_column_int64(st, 2),
        .retention_days = sqlite3_column_int(st, 3),
    };
    if (g.name && ld->group) ld->group(ud, &g);
  }
  sqlite3_finalize(st);
  st = NULL;
  if (step != SQLITE_DONE) goto done;
  if (sqlite3_prepare_v2(db,
                         "SELECT id,group_id,name,created_ms,first_ts,last_ts,last_ingest_ms,"
                         "stored_bytes FROM cw_log_streams ORDER BY id",
                         -1, &st, NULL) != SQLITE_OK)
    goto done;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    tw_log_stream_row r = {
        .id = sqlite3_column_int64(st, 0),
        .group_id = sqlite3_column_int64(st, 1),
        .name = (const char *)sqlite3_column_text(st, 2),
        .created_ms = sqlite3_column_int64(st, 3),
        .first_ts = sqlite3_column_int64(st, 4),
        .last_ts = sqlite3_column_int64(st, 5),
        .last_ingest_ms = sqlite3_column_int64(st, 6),
        .stored_bytes = sqlite3_column_int64(st, 7),
    };
    if (r.name && ld->stream) ld->stream(ud, &r);
  }
  sqlite3_finalize(st);
  st = NULL;
  if (step != SQLITE_DONE) goto done;
  if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(seq),0) FROM cw_log_events", -1, &st, NULL) !=
      SQLITE_OK)
    goto done;
  if (sqlite3_step(st) == SQLITE_ROW) *max_seq = (uint64_t)sqlite3_column_int64(st, 0);
  rc = 0;
done:
  if (rc) tw_error("store: reading log groups failed: %s", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  return rc;
}

static const tw_logs_repo repo = {
    .group_save = group_save,
    .group_delete = group_delete,
    .stream_save = stream_save,
    .stream_delete = stream_delete,
    .events_append = events_append,
    .events_prune = events_prune,
    .prune_sizes = prune_sizes,
    .scan = scan,
    .load = load,
};

const tw_logs_repo *tw_store_logs(tw_store *s) {
  const tw_store_repos *other = tw_store_repos_of(s); /* another backend's (backend.h) */
  return other && other->cw_logs ? other->cw_logs : &repo;
}
