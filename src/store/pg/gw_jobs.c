/* The gateway's jobs on PostgreSQL (cluster mode): table gw_jobs. Status
 * changes go through the store's batches (one transaction per batch); a
 * submission is its own transaction holding the job row and its SQS message
 * (table sqs_messages of the job queue, as pg_sqs.c inserts one), so that
 * neither exists without the other on any node. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/pg/pg_gw_internal.h"
#include "store/pg/pg_s3_internal.h"
#include "store/pg_gw.h"

static uint64_t insert(tw_store *s, const tw_gw_job_new *j) {
  tw_sql_val v[TW_GW_JOB_NCOLS];
  tw_gw_job_vals(j, v);
  return tw_store_exec(s,
                       "INSERT INTO gw_jobs (id, type, status, attempts, created_ms, queue, owner,"
                       " idem_key, fingerprint) VALUES ($1, $2, 'queued', 0, $3, $4, $5, $6, $7)",
                       v, 7);
}

static uint64_t start(tw_store *s, const char *id, int attempts, int64_t now_ms) {
  tw_sql_val v[] = {TW_SQL_I(attempts), TW_SQL_I(now_ms), TW_SQL_S(id)};
  return tw_store_exec(s,
                       "UPDATE gw_jobs SET status = 'running', attempts = $1, started_ms = $2,"
                       " finished_ms = NULL, error = NULL, result_bucket = NULL,"
                       " result_key = NULL WHERE id = $3",
                       v, 3);
}

static uint64_t succeed(tw_store *s, const char *id, int64_t now_ms, const char *bucket,
                        const char *key) {
  tw_sql_val v[] = {TW_SQL_I(now_ms), TW_SQL_S(bucket), TW_SQL_S(key), TW_SQL_S(id)};
  return tw_store_exec(s,
                       "UPDATE gw_jobs SET status = 'succeeded', finished_ms = $1,"
                       " result_bucket = $2, result_key = $3, error = NULL WHERE id = $4",
                       v, 4);
}

static uint64_t fail(tw_store *s, const char *id, int64_t now_ms, const char *error) {
  tw_sql_val v[] = {TW_SQL_I(now_ms), TW_SQL_S(error), TW_SQL_S(id)};
  return tw_store_exec(
      s, "UPDATE gw_jobs SET status = 'failed', finished_ms = $1, error = $2 WHERE id = $3", v, 3);
}

/* --- reads ---------------------------------------------------------------------------- */

#define JOB_COLS                                                                        \
  "SELECT seq, id, type, status, attempts, created_ms, started_ms, finished_ms, error," \
  " result_bucket, result_key FROM gw_jobs"

static void copy(const PGresult *r, int row, int c, char *out, size_t n) {
  snprintf(out, n, "%s", PQgetisnull(r, row, c) ? "" : PQgetvalue(r, row, c));
}

/* The row's fields; the strings borrowed from r. */
static void row_of(const PGresult *r, int i, tw_gw_job_row *j) {
  memset(j, 0, sizeof *j);
  j->seq = tw_pg_i64(r, i, 0);
  copy(r, i, 1, j->id, sizeof j->id);
  copy(r, i, 2, j->type, sizeof j->type);
  copy(r, i, 3, j->status, sizeof j->status);
  j->attempts = (int)tw_pg_i64(r, i, 4);
  j->created_ms = tw_pg_i64(r, i, 5);
  j->started_ms = tw_pg_i64(r, i, 6);
  j->finished_ms = tw_pg_i64(r, i, 7);
  j->error = (char *)tw_pg_s3_text(r, i, 8);
  j->result_bucket = (char *)tw_pg_s3_text(r, i, 9);
  j->result_key = (char *)tw_pg_s3_text(r, i, 10);
}

static int get(tw_store *s, const char *id, tw_gw_job_row *out) {
  tw_sql_val v[] = {TW_SQL_S(id)};
  PGresult *r = tw_pg_s3_read(s, JOB_COLS " WHERE id = $1", v, 1);
  if (!r) return -1;
  int found = PQntuples(r) > 0;
  if (found) {
    row_of(r, 0, out);
    out->error = tw_pg_dup(r, 0, 8);
    out->result_bucket = tw_pg_dup(r, 0, 9);
    out->result_key = tw_pg_dup(r, 0, 10);
  }
  PQclear(r);
  return found;
}

static int list(tw_store *s, const tw_gw_job_filter *f,
                int (*fn)(void *ud, const tw_gw_job_row *row), void *ud) {
  char sql[512];
  tw_sql_val v[4];
  int n = 0;
  char cond[160] = "";
  size_t at = 0;
  if (f->status) {
    v[n++] = TW_SQL_S(f->status);
    at += (size_t)snprintf(cond + at, sizeof cond - at, " AND status = $%d", n);
  }
  if (f->type) {
    v[n++] = TW_SQL_S(f->type);
    at += (size_t)snprintf(cond + at, sizeof cond - at, " AND type = $%d", n);
  }
  if (f->before_seq > 0) {
    v[n++] = TW_SQL_I(f->before_seq);
    at += (size_t)snprintf(cond + at, sizeof cond - at, " AND seq < $%d", n);
  }
  v[n++] = TW_SQL_I(f->limit);
  snprintf(sql, sizeof sql, JOB_COLS " WHERE true%s ORDER BY seq DESC LIMIT $%d", cond, n);
  PGresult *r = tw_pg_s3_read(s, sql, v, n);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    tw_gw_job_row j;
    row_of(r, i, &j);
    if (fn(ud, &j)) break;
  }
  PQclear(r);
  return 0;
}

static int idem_find(tw_store *s, const char *owner, const char *idem_key, int64_t after_ms,
                     char id[37], char fingerprint[65], char status[12]) {
  tw_sql_val v[] = {TW_SQL_S(owner), TW_SQL_S(idem_key), TW_SQL_I(after_ms)};
  PGresult *r = tw_pg_s3_read(s,
                              "SELECT id, fingerprint, status FROM gw_jobs WHERE owner = $1 AND"
                              " idem_key = $2 AND created_ms > $3 ORDER BY created_ms DESC"
                              " LIMIT 1",
                              v, 3);
  if (!r) return -1;
  int found = PQntuples(r) > 0;
  if (found) {
    copy(r, 0, 0, id, 37);
    copy(r, 0, 1, fingerprint, 65);
    copy(r, 0, 2, status, 12);
  }
  PQclear(r);
  return found;
}

static int count_by_status(tw_store *s, int64_t out[4]) {
  static const char *const names[] = {"queued", "running", "succeeded", "failed"};
  PGresult *r = tw_pg_s3_read(s, "SELECT status, count(*) FROM gw_jobs GROUP BY status", NULL, 0);
  if (!r) return -1;
  for (int k = 0; k < 4; k++) out[k] = 0;
  for (int i = 0; i < PQntuples(r); i++)
    for (int k = 0; k < 4; k++)
      if (!strcmp(PQgetvalue(r, i, 0), names[k])) out[k] = tw_pg_i64(r, i, 1);
  PQclear(r);
  return 0;
}

const tw_gw_jobs_repo tw_pg_gw_jobs_repo = {.count_by_status = count_by_status,
                                            .insert = insert,
                                            .start = start,
                                            .succeed = succeed,
                                            .fail = fail,
                                            .get = get,
                                            .list = list,
                                            .idem_find = idem_find};

/* --- submitting: the job and its message, one transaction ------------------------------- */

static PGresult *q(PGconn *c, const char *sql, int n, const char *const *p) {
  return PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
}

#define I64(buf, v) (snprintf(buf, sizeof buf, "%" PRId64, (int64_t)(v)), buf)

static int attr_int(json_t *attrs, const char *name, int dflt) {
  const char *v = json_string_value(json_object_get(attrs, name));
  return v ? atoi(v) : dflt;
}

/* One attempt: 0 done (replay or written), TW_PG_EXISTS another node inserted
 * the key meanwhile (try again: it is there now), or an error. */
static int submit_once(PGconn *c, tw_pg_gw_submit *x, int *broken) {
  const tw_gw_job_new *j = x->job;
  int rc = tw_pg_exec(c, "BEGIN", "job submit", broken);
  if (rc) return rc;
  PGresult *r = NULL;
  char b1[32], b2[32], b3[32];
  if (j->idem_key) {
    const char *p[] = {j->owner, j->idem_key};
    r = q(c,
          "SELECT id, fingerprint, status, created_ms FROM gw_jobs WHERE owner = $1 AND"
          " idem_key = $2 FOR UPDATE",
          2, p);
    rc = tw_pg_check(c, &r, PGRES_TUPLES_OK, "job idempotency", broken);
    if (!rc && PQntuples(r)) {
      if (tw_pg_i64(r, 0, 3) > x->idem_after_ms) {
        x->replay = 1;
        copy(r, 0, 0, x->replay_id, sizeof x->replay_id);
        copy(r, 0, 1, x->replay_fp, sizeof x->replay_fp);
        copy(r, 0, 2, x->replay_status, sizeof x->replay_status);
      } else { /* older than the window: the key is free again */
        const char *p2[] = {PQgetvalue(r, 0, 0)};
        PGresult *u = q(c, "UPDATE gw_jobs SET idem_key = NULL WHERE id = $1", 1, p2);
        rc = tw_pg_check(c, &u, PGRES_COMMAND_OK, "job idempotency", broken);
        PQclear(u);
      }
    }
    PQclear(r);
    r = NULL;
  }
  int64_t qid = 0;
  int delay = 0;
  if (!rc && !x->replay) {
    const char *p[] = {x->queue};
    r = q(c, "SELECT id, fifo, attrs FROM sqs_queues WHERE name = $1", 1, p);
    rc = tw_pg_check(c, &r, PGRES_TUPLES_OK, "job queue", broken);
    if (!rc && (!PQntuples(r) || !strcmp(PQgetvalue(r, 0, 1), "t"))) {
      x->no_queue = 1;
    } else if (!rc) {
      qid = tw_pg_i64(r, 0, 0);
      json_t *attrs = json_loads(PQgetisnull(r, 0, 2) ? "{}" : PQgetvalue(r, 0, 2), 0, NULL);
      delay = attr_int(attrs, "DelaySeconds", 0);
      if (strlen(x->body) > (size_t)attr_int(attrs, "MaximumMessageSize", 1048576))
        x->too_large = 1;
      json_decref(attrs);
    }
    PQclear(r);
    r = NULL;
  }
  if (!rc && !x->replay && !x->no_queue && !x->too_large) {
    const char *p[] = {j->id,    j->type,     I64(b1, j->created_ms), j->queue,
                       j->owner, j->idem_key, j->fingerprint};
    r = q(c,
          "INSERT INTO gw_jobs (id, type, status, attempts, created_ms, queue, owner, idem_key,"
          " fingerprint) VALUES ($1, $2, 'queued', 0, $3, $4, $5, $6, $7)",
          7, p);
    rc = tw_pg_check(c, &r, PGRES_COMMAND_OK, "job insert", broken);
    PQclear(r);
    r = NULL;
  }
  if (!rc && !x->replay && !x->no_queue && !x->too_large) {
    char qs[32];
    I64(qs, qid);
    int64_t now = j->created_ms, visible = now + (int64_t)delay * 1000;
    const char *p[] = {qs,          x->msg_id, x->body,      x->attrs_json,
                       x->sys_json, x->sender, I64(b2, now), I64(b3, visible)};
    r = q(c,
          delay ? "INSERT INTO sqs_messages (queue_id, msg_id, body, attrs, sys, sender_id,"
                  " sent_ms, visible_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                  " RETURNING seq"
                : "WITH i AS (INSERT INTO sqs_messages (queue_id, msg_id, body, attrs, sys,"
                  " sender_id, sent_ms, visible_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                  " RETURNING seq) SELECT seq, pg_notify('tw_sqs', $1 || ':1') FROM i",
          8, p);
    rc = tw_pg_check(c, &r, PGRES_TUPLES_OK, "job message", broken);
    if (!rc && PQntuples(r) != 1) rc = TW_PG_ERROR;
    PQclear(r);
  }
  int ok = !rc && !x->replay && !x->no_queue && !x->too_large;
  if (ok) {
    rc = tw_pg_exec(c, "COMMIT", "job submit commit", broken);
  } else if (!*broken) {
    int b = 0;
    tw_pg_exec(c, "ROLLBACK", "job submit rollback", &b);
    if (b) *broken = 1;
  }
  return rc;
}

int tw_store_pg_gw_submit(tw_store *s, tw_pg_gw_submit *x) {
  tw_pg *pg = tw_pg_s3_pool(s);
  int rc = TW_PG_ERROR;
  for (int attempt = 0; attempt < 3; attempt++) {
    tw_pg_slot *slot = tw_pg_get(pg);
    if (!slot) return TW_PG_UNAVAILABLE;
    int broken = 0;
    x->replay = x->too_large = x->no_queue = 0;
    rc = submit_once(slot->conn, x, &broken);
    tw_pg_put(pg, slot, broken);
    if (rc != TW_PG_EXISTS) break; /* a unique violation: the other node's job is there now */
  }
  return rc == TW_PG_EXISTS ? TW_PG_ERROR : rc;
}

/* --- a status change, serialised across nodes ------------------------------------------ */

static int change_once(PGconn *c, const char *id, tw_gw_job_decide decide, void *ud, int *broken) {
  int rc = tw_pg_exec(c, "BEGIN", "job change", broken);
  if (rc) return rc;
  const char *p[] = {id};
  /* the row stays locked until COMMIT: a change on another node waits, then
   * decides on this one's result */
  PGresult *r = q(c, JOB_COLS " WHERE id = $1 FOR UPDATE", 1, p);
  rc = tw_pg_check(c, &r, PGRES_TUPLES_OK, "job change", broken);
  tw_gw_job_update u = {0};
  if (!rc && PQntuples(r) != 1) rc = TW_PG_NOT_FOUND;
  if (!rc) {
    tw_gw_job_row row;
    row_of(r, 0, &row);
    if (decide(ud, &row, &u)) rc = TW_PG_CONFLICT;
  }
  PQclear(r);
  if (!rc) {
    char b1[32], b2[32];
    if (u.to == TW_GW_JOB_TO_RUNNING) {
      const char *p2[] = {I64(b1, u.attempts), I64(b2, u.now_ms), id};
      r = q(c,
            "UPDATE gw_jobs SET status = 'running', attempts = $1, started_ms = $2,"
            " finished_ms = NULL, error = NULL, result_bucket = NULL, result_key = NULL"
            " WHERE id = $3",
            3, p2);
    } else if (u.to == TW_GW_JOB_TO_SUCCEEDED) {
      const char *p2[] = {I64(b1, u.now_ms), u.bucket, u.key, id};
      r = q(c,
            "UPDATE gw_jobs SET status = 'succeeded', finished_ms = $1, result_bucket = $2,"
            " result_key = $3, error = NULL WHERE id = $4",
            4, p2);
    } else {
      const char *p2[] = {I64(b1, u.now_ms), u.error, id};
      r = q(c, "UPDATE gw_jobs SET status = 'failed', finished_ms = $1, error = $2 WHERE id = $3",
            3, p2);
    }
    rc = tw_pg_check(c, &r, PGRES_COMMAND_OK, "job change", broken);
    PQclear(r);
  }
  if (!rc) return tw_pg_exec(c, "COMMIT", "job change commit", broken);
  if (!*broken) {
    int b = 0;
    tw_pg_exec(c, "ROLLBACK", "job change rollback", &b);
    if (b) *broken = 1;
  }
  return rc;
}

int tw_store_pg_gw_job_change(tw_store *s, const char *id, tw_gw_job_decide decide, void *ud) {
  tw_pg *pg = tw_pg_s3_pool(s);
  tw_pg_slot *slot = tw_pg_get(pg);
  if (!slot) return TW_PG_UNAVAILABLE;
  int broken = 0;
  int rc = change_once(slot->conn, id, decide, ud, &broken);
  tw_pg_put(pg, slot, broken);
  return broken ? TW_PG_UNAVAILABLE : rc;
}
