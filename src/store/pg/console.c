/* The web console on PostgreSQL (cluster mode): its sessions (table
 * console_sessions) and the read-only queue views of its queue pages. See
 * store/pg_console.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg/pg_s3_internal.h"
#include "store/pg/pg_sqs_internal.h"
#include "store/pg_console.h"

const char *const tw_pg_console_schema =
    "CREATE TABLE IF NOT EXISTS console_sessions (id_hash text PRIMARY KEY,"
    " principal text NOT NULL, csrf text NOT NULL, created_ms bigint NOT NULL,"
    " used_ms bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS console_sessions_used ON console_sessions (used_ms);";

/* --- sessions -------------------------------------------------------------------- */

int tw_store_pg_console_session_put(tw_store *s, const char *id_hash,
                                    const tw_pg_console_session *x, int64_t idle_before_ms,
                                    int64_t created_before_ms, int max) {
  tw_sql_val p[] = {TW_SQL_I(idle_before_ms), TW_SQL_I(created_before_ms)};
  PGresult *r = tw_pg_s3_read(s,
                              "WITH d AS (DELETE FROM console_sessions WHERE used_ms < $1 OR"
                              " created_ms < $2 RETURNING 1) SELECT count(*) FROM d",
                              p, 2);
  if (!r) return -1;
  PQclear(r);
  tw_sql_val v[] = {TW_SQL_S(id_hash),       TW_SQL_S(x->principal), TW_SQL_S(x->csrf),
                    TW_SQL_I(x->created_ms), TW_SQL_I(x->used_ms),   TW_SQL_I(max)};
  /* the count and the insert race between nodes by at most a few rows: the
   * limit bounds the table, it is not an exact quota */
  r = tw_pg_s3_read(s,
                    "INSERT INTO console_sessions (id_hash, principal, csrf, created_ms, used_ms)"
                    " SELECT $1, $2, $3, $4, $5 WHERE (SELECT count(*) FROM console_sessions) < $6"
                    " RETURNING 1",
                    v, 6);
  if (!r) return -1;
  int ok = PQntuples(r) == 1;
  PQclear(r);
  return ok;
}

int tw_store_pg_console_session_get(tw_store *s, const char *id_hash, tw_pg_console_session *out) {
  tw_sql_val v[] = {TW_SQL_S(id_hash)};
  PGresult *r = tw_pg_s3_read(s,
                              "SELECT principal, csrf, created_ms, used_ms FROM console_sessions"
                              " WHERE id_hash = $1",
                              v, 1);
  if (!r) return -1;
  int found = PQntuples(r) == 1;
  if (found) {
    snprintf(out->principal, sizeof out->principal, "%s", PQgetvalue(r, 0, 0));
    snprintf(out->csrf, sizeof out->csrf, "%s", PQgetvalue(r, 0, 1));
    out->created_ms = tw_pg_i64(r, 0, 2);
    out->used_ms = tw_pg_i64(r, 0, 3);
  }
  PQclear(r);
  return found;
}

int tw_store_pg_console_session_touch(tw_store *s, const char *id_hash, int64_t used_ms) {
  tw_sql_val v[] = {TW_SQL_S(id_hash), TW_SQL_I(used_ms)};
  PGresult *r = tw_pg_s3_read(s,
                              "UPDATE console_sessions SET used_ms = GREATEST(used_ms, $2)"
                              " WHERE id_hash = $1 RETURNING 1",
                              v, 2);
  if (!r) return -1;
  PQclear(r);
  return 0;
}

int tw_store_pg_console_session_delete(tw_store *s, const char *id_hash) {
  tw_sql_val v[] = {TW_SQL_S(id_hash)};
  PGresult *r =
      tw_pg_s3_read(s, "DELETE FROM console_sessions WHERE id_hash = $1 RETURNING 1", v, 1);
  if (!r) return -1;
  int n = PQntuples(r);
  PQclear(r);
  return n > 0;
}

/* --- queues ---------------------------------------------------------------------- */

int tw_pg_console_queue_stats(tw_pg *pg, int64_t queue_id, int64_t now_ms, int64_t min_sent_ms,
                              int64_t *visible, int64_t *inflight, int64_t *delayed,
                              int64_t *oldest_sent_ms) {
  char b1[32], b2[32], b3[32];
  const char *p[] = {I64(b1, queue_id), I64(b2, now_ms), I64(b3, min_sent_ms)};
  PGresult *r;
  int rc = tw_pg_sqs_run(pg, "console queue stats",
                         "SELECT count(*) FILTER (WHERE visible_at_ms <= $2),"
                         " count(*) FILTER (WHERE visible_at_ms > $2 AND receive_count > 0),"
                         " count(*) FILTER (WHERE visible_at_ms > $2 AND receive_count = 0),"
                         " min(sent_ms) FROM sqs_messages WHERE queue_id = $1 AND sent_ms >= $3",
                         3, p, PGRES_TUPLES_OK, &r);
  if (!rc) {
    *visible = tw_pg_i64(r, 0, 0);
    *inflight = tw_pg_i64(r, 0, 1);
    *delayed = tw_pg_i64(r, 0, 2);
    *oldest_sent_ms = tw_pg_i64(r, 0, 3);
  }
  PQclear(r);
  return rc;
}

int tw_pg_console_peek(tw_pg *pg, int64_t queue_id, int64_t min_sent_ms, int max, tw_pg_msg *out,
                       int *n) {
  char b1[32], b2[32], b3[32];
  const char *p[] = {I64(b1, queue_id), I64(b2, min_sent_ms), I64(b3, max)};
  PGresult *r;
  *n = 0;
  int rc = tw_pg_sqs_run(pg, "console peek",
                         "SELECT seq, msg_id, body, attrs, sys, sender_id, group_id, sent_ms,"
                         " visible_at_ms, first_receive_ms, receive_count, seqno, dedup_id,"
                         " source_arn FROM sqs_messages WHERE queue_id = $1 AND sent_ms >= $2"
                         " ORDER BY seq LIMIT $3",
                         3, p, PGRES_TUPLES_OK, &r);
  if (rc) return rc;
  int rows = PQntuples(r);
  for (int i = 0; i < rows && i < max; i++) {
    tw_pg_msg *m = &out[i];
    memset(m, 0, sizeof *m);
    m->seq = tw_pg_i64(r, i, 0);
    m->msg_id = tw_pg_dup(r, i, 1);
    m->body = tw_pg_dup(r, i, 2);
    m->body_len = (size_t)PQgetlength(r, i, 2);
    m->attrs_json = tw_pg_dup(r, i, 3);
    m->sys_json = tw_pg_dup(r, i, 4);
    m->sender_id = tw_pg_dup(r, i, 5);
    m->group_id = tw_pg_dup(r, i, 6);
    m->sent_ms = tw_pg_i64(r, i, 7);
    m->visible_at_ms = tw_pg_i64(r, i, 8);
    m->first_receive_ms = tw_pg_i64(r, i, 9);
    m->receive_count = (int)tw_pg_i64(r, i, 10);
    m->seqno = tw_pg_i64(r, i, 11);
    m->dedup_id = tw_pg_dup(r, i, 12);
    m->source_arn = tw_pg_dup(r, i, 13);
    (*n)++;
  }
  PQclear(r);
  return 0;
}
