/* The SQS repository on PostgreSQL, continued (store/pg_sqs.h): FIFO sends
 * with 5-minute deduplication and sequence numbers, receives that keep FIFO
 * group order and move messages to their dead-letter queue in the same
 * transaction, FIFO deletes, dead-letter sources, queue policies, and the
 * background work run once across the cluster (retention deletes). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/pg/pg_sqs_internal.h"

#define DEDUP_MS (5 * 60 * 1000)
#define RECV_LOCK_CLASS 0x7477   /* pg_advisory_xact_lock(class, queue): FIFO receives */
#define BG_LOCK 0x747765656432LL /* pg_try_advisory_lock: the node doing background work */

/* A node starts while the others serve: what exists already is not altered
 * again, as ALTER TABLE (even ADD COLUMN IF NOT EXISTS) takes an ACCESS
 * EXCLUSIVE lock on each table in turn, which deadlocks with a transaction
 * holding sqs_messages that then needs sqs_queues (an insert's foreign key),
 * and CREATE INDEX IF NOT EXISTS a SHARE lock that stops every write. */
const char *const tw_pg_sqs_schema_more =
    "DO $$ BEGIN"
    " IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'sqs_queues'::regclass"
    "  AND attname = 'fifo_seq' AND NOT attisdropped) THEN"
    "  ALTER TABLE sqs_queues ADD COLUMN IF NOT EXISTS fifo_seq bigint NOT NULL DEFAULT 0;"
    " END IF;"
    " IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'sqs_messages'::regclass"
    "  AND attname = 'source_arn' AND NOT attisdropped) THEN"
    "  ALTER TABLE sqs_messages ADD COLUMN IF NOT EXISTS seqno bigint NOT NULL DEFAULT 0,"
    "  ADD COLUMN IF NOT EXISTS dedup_id text, ADD COLUMN IF NOT EXISTS source_arn text;"
    " END IF;"
    " IF to_regclass('sqs_messages_sent') IS NULL THEN"
    "  CREATE INDEX IF NOT EXISTS sqs_messages_sent ON sqs_messages (queue_id, sent_ms);"
    " END IF;"
    "END $$;"
    "CREATE TABLE IF NOT EXISTS sqs_dedup ("
    " queue_id bigint NOT NULL REFERENCES sqs_queues(id) ON DELETE CASCADE,"
    " key text NOT NULL, msg_id text NOT NULL, seqno bigint NOT NULL,"
    " expires_ms bigint NOT NULL, PRIMARY KEY (queue_id, key));"
    "CREATE TABLE IF NOT EXISTS sqs_attempts ("
    " queue_id bigint NOT NULL REFERENCES sqs_queues(id) ON DELETE CASCADE,"
    " attempt text NOT NULL, seqs bigint[] NOT NULL, nonces integer[] NOT NULL,"
    " expires_ms bigint NOT NULL, PRIMARY KEY (queue_id, attempt));"
    "CREATE TABLE IF NOT EXISTS sqs_move_tasks (id bigserial PRIMARY KEY,"
    " handle text NOT NULL UNIQUE, source_arn text NOT NULL, dest_arn text NOT NULL,"
    " source_id bigint NOT NULL, dest_id bigint NOT NULL, status text NOT NULL,"
    " rate integer NOT NULL, moved bigint NOT NULL DEFAULT 0, to_move bigint NOT NULL,"
    " failure text NOT NULL DEFAULT '', started_ms bigint NOT NULL, max_seq bigint NOT NULL,"
    " budget double precision NOT NULL DEFAULT 0);"
    "DO $$ BEGIN IF to_regclass('sqs_move_tasks_active') IS NULL THEN"
    " CREATE UNIQUE INDEX IF NOT EXISTS sqs_move_tasks_active ON sqs_move_tasks (source_arn)"
    " WHERE status IN ('RUNNING', 'CANCELLING'); END IF; END $$;";

#define MSG_COLS                                                                         \
  "m.seq, m.msg_id, m.body, m.attrs, m.sys, m.sender_id, m.sent_ms, m.first_receive_ms," \
  " m.visible_at_ms, m.receive_count, m.nonce, m.group_id, m.seqno, m.dedup_id, m.source_arn"

static void msg_from(const PGresult *r, int i, tw_pg_msg *m) {
  m->seq = tw_pg_i64(r, i, 0);
  m->msg_id = tw_pg_dup(r, i, 1);
  m->body = tw_pg_dup(r, i, 2);
  m->body_len = (size_t)PQgetlength(r, i, 2);
  m->attrs_json = tw_pg_dup(r, i, 3);
  m->sys_json = tw_pg_dup(r, i, 4);
  m->sender_id = tw_pg_dup(r, i, 5);
  m->sent_ms = tw_pg_i64(r, i, 6);
  m->first_receive_ms = tw_pg_i64(r, i, 7);
  m->visible_at_ms = tw_pg_i64(r, i, 8);
  m->receive_count = (int)tw_pg_i64(r, i, 9);
  m->nonce = (uint32_t)tw_pg_i64(r, i, 10);
  m->group_id = tw_pg_dup(r, i, 11);
  m->seqno = tw_pg_i64(r, i, 12);
  m->dedup_id = tw_pg_dup(r, i, 13);
  m->source_arn = tw_pg_dup(r, i, 14);
}

/* "{a,b,c}" of n integers (at most 16) */
static void arr_i64(const int64_t *v, int n, char *buf, size_t cap) {
  size_t l = 0;
  buf[l++] = '{';
  for (int i = 0; i < n && l < cap; i++)
    l += (size_t)snprintf(buf + l, cap - l, "%s%" PRId64, i ? "," : "", v[i]);
  snprintf(buf + l, cap - l, "}");
}

int tw_pg_sqs_q(PGconn *c, const char *what, const char *sql, int n, const char *const *p,
                ExecStatusType want, PGresult **out, int *broken) {
  *out = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
  return tw_pg_check(c, out, want, what, broken);
}

int tw_pg_sqs_notify(PGconn *c, int64_t qid, int n, int *broken) {
  char payload[64];
  snprintf(payload, sizeof payload, "%" PRId64 ":%d", qid, n);
  const char *p[] = {payload};
  PGresult *r;
  int rc =
      tw_pg_sqs_q(c, "notify", "SELECT pg_notify('tw_sqs', $1)", 1, p, PGRES_TUPLES_OK, &r, broken);
  PQclear(r);
  return rc;
}

int tw_pg_sqs_end(PGconn *c, int rc, const char *what, int *broken) {
  if (!*broken) {
    if (!rc)
      rc = tw_pg_exec(c, "COMMIT", what, broken);
    else
      PQclear(PQexec(c, "ROLLBACK"));
  }
  return rc;
}

/* Ends a transaction (tw_pg_sqs_end); gives s back. */
static int finish(tw_pg *pg, tw_pg_slot *s, int rc, int broken) {
  rc = tw_pg_sqs_end(s->conn, rc, "commit", &broken);
  tw_pg_put(pg, s, broken);
  return rc;
}

/* --- FIFO send -------------------------------------------------------------- */

int tw_pg_send_fifo(tw_pg *pg, int64_t queue_id, tw_pg_send_msg *m, int n, int64_t now_ms) {
  tw_pg_slot *s = tw_pg_get(pg);
  if (!s) return TW_PG_UNAVAILABLE;
  int broken = 0, visible = 0;
  int rc = tw_pg_exec(s->conn, "BEGIN", "fifo send", &broken);
  if (!rc) rc = tw_pg_sqs_fifo_insert(s->conn, queue_id, m, n, now_ms, &visible, &broken);
  if (!rc && visible) rc = tw_pg_sqs_notify(s->conn, queue_id, visible, &broken);
  return finish(pg, s, rc, broken);
}

int tw_pg_sqs_fifo_insert(PGconn *conn, int64_t queue_id, tw_pg_send_msg *m, int n, int64_t now_ms,
                          int *nvisible, int *broken_out) {
  int broken = 0, visible = 0, rc = TW_PG_OK;
  char qid[32];
  I64(qid, queue_id);
  PGresult *r = NULL;
  int64_t seqno = 0, first = 0;
  { /* sends to one FIFO queue take turns: sequence numbers, dedup */
    const char *p[] = {qid};
    rc = tw_pg_sqs_q(conn, "fifo send lock",
                     "SELECT fifo_seq FROM sqs_queues WHERE id = $1 FOR UPDATE", 1, p,
                     PGRES_TUPLES_OK, &r, &broken);
    if (!rc && PQntuples(r) != 1) rc = TW_PG_NOT_FOUND;
    if (!rc) first = seqno = tw_pg_i64(r, 0, 0);
    PQclear(r);
  }
  for (int i = 0; i < n && !rc; i++) {
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    const char *p[] = {qid,
                       m[i].msg_id,
                       m[i].body,
                       m[i].attrs_json,
                       m[i].sys_json,
                       m[i].sender_id,
                       I64(b1, m[i].sent_ms),
                       I64(b2, m[i].visible_at_ms),
                       m[i].group_id,
                       I64(b3, seqno + 1),
                       m[i].dedup_id,
                       m[i].dedup_key,
                       I64(b4, now_ms),
                       I64(b5, now_ms + DEDUP_MS)};
    rc = tw_pg_sqs_q(
        conn, "fifo send",
        "WITH d AS (SELECT msg_id, seqno FROM sqs_dedup WHERE queue_id = $1 AND key = $12 AND "
        "expires_ms > $13), "
        "i AS (INSERT INTO sqs_messages (queue_id, msg_id, body, attrs, sys, sender_id, "
        "sent_ms, visible_at_ms, group_id, seqno, dedup_id) SELECT $1, $2, $3, $4, $5, $6, $7, "
        "$8, $9, $10, $11 WHERE NOT EXISTS (SELECT 1 FROM d) RETURNING seq), "
        "u AS (INSERT INTO sqs_dedup (queue_id, key, msg_id, seqno, expires_ms) SELECT $1, "
        "$12, $2, $10, $14 WHERE NOT EXISTS (SELECT 1 FROM d) ON CONFLICT (queue_id, key) DO "
        "UPDATE SET msg_id = EXCLUDED.msg_id, seqno = EXCLUDED.seqno, expires_ms = "
        "EXCLUDED.expires_ms RETURNING 1) "
        "SELECT (SELECT seq FROM i), (SELECT msg_id FROM d), (SELECT seqno FROM d), "
        "(SELECT count(*) FROM u)",
        14, p, PGRES_TUPLES_OK, &r, &broken);
    if (rc == TW_PG_EXISTS || (!rc && PQntuples(r) != 1)) rc = TW_PG_ERROR;
    if (!rc) {
      if (!PQgetisnull(r, 0, 1)) { /* a duplicate: the first send's answer */
        m[i].duplicate = 1;
        snprintf(m[i].dup_msg_id, sizeof m[i].dup_msg_id, "%s", PQgetvalue(r, 0, 1));
        m[i].seqno = tw_pg_i64(r, 0, 2);
        m[i].seq = 0;
      } else {
        m[i].duplicate = 0;
        m[i].seq = tw_pg_i64(r, 0, 0);
        m[i].seqno = ++seqno;
        if (m[i].visible_at_ms <= now_ms) visible++;
      }
    }
    PQclear(r);
  }
  if (!rc && seqno != first) {
    char b[32];
    const char *p[] = {qid, I64(b, seqno)};
    rc = tw_pg_sqs_q(conn, "fifo seq", "UPDATE sqs_queues SET fifo_seq = $2 WHERE id = $1", 2, p,
                     PGRES_COMMAND_OK, &r, &broken);
    PQclear(r);
  }
  *nvisible = visible;
  if (broken) *broken_out = 1;
  return rc;
}

/* --- receive ------------------------------------------------------------------ */

static const char *recv_update_sql =
    "UPDATE sqs_messages m SET visible_at_ms = $3, receive_count = receive_count + 1,"
    " first_receive_ms = CASE WHEN first_receive_ms = 0 THEN $2 ELSE first_receive_ms END,"
    " received_ms = $2, nonce = nonce + 1 WHERE m.seq = ANY($1::bigint[]) RETURNING " MSG_COLS;

/* The messages of queue $1 in flight at $2, counted up to $3: the count
 * stops at the limit, so it costs at most that many index entries. */
static const char *const inflight_sql =
    "SELECT count(*) FROM (SELECT 1 FROM sqs_messages WHERE queue_id = $1 AND "
    "visible_at_ms > $2 AND receive_count > 0 LIMIT $3) x";

int tw_pg_inflight(tw_pg *pg, int64_t queue_id, int64_t now_ms, int64_t limit, int64_t *n) {
  char b1[32], b2[32], b3[32];
  const char *p[] = {I64(b1, queue_id), I64(b2, now_ms), I64(b3, limit)};
  tw_pg_slot *s = tw_pg_get(pg);
  if (!s) return TW_PG_UNAVAILABLE;
  int broken = 0;
  PGresult *r;
  int rc = tw_pg_sqs_q(s->conn, "inflight", inflight_sql, 3, p, PGRES_TUPLES_OK, &r, &broken);
  if (!rc) *n = tw_pg_i64(r, 0, 0);
  PQclear(r);
  tw_pg_put(pg, s, broken);
  return rc;
}

/* Standard queue without a dead-letter queue: one statement (autocommit). */
static int receive_plain(tw_pg *pg, const tw_pg_recv *rq, tw_pg_msg *out, int *n) {
  char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
  const char *p[] = {I64(b1, rq->queue_id),    I64(b2, rq->now_ms),
                     I64(b3, rq->max),         I64(b4, rq->now_ms + (int64_t)rq->vis_s * 1000),
                     I64(b5, rq->min_sent_ms), I64(b6, rq->max_inflight)};
  tw_pg_slot *s = tw_pg_get(pg);
  if (!s) return TW_PG_UNAVAILABLE;
  int broken = 0;
  PGresult *r;
  /* the in-flight count stops at the limit: it costs at most that many index entries */
  int rc = tw_pg_sqs_q(
      s->conn, "receive",
      "WITH f AS (SELECT count(*) AS n FROM (SELECT 1 FROM sqs_messages WHERE queue_id = "
      "$1 AND visible_at_ms > $2 AND receive_count > 0 LIMIT $6) x), "
      "c AS (SELECT seq FROM sqs_messages WHERE queue_id = $1 AND visible_at_ms <= $2 AND "
      "sent_ms >= $5 AND ($6 = 0 OR (SELECT n FROM f) < $6) ORDER BY visible_at_ms "
      "LIMIT $3 FOR UPDATE SKIP LOCKED) "
      "UPDATE sqs_messages m SET visible_at_ms = $4, receive_count = receive_count + 1,"
      " first_receive_ms = CASE WHEN first_receive_ms = 0 THEN $2 ELSE first_receive_ms "
      "END, received_ms = $2, nonce = nonce + 1 FROM c WHERE m.seq = c.seq RETURNING " MSG_COLS,
      6, p, PGRES_TUPLES_OK, &r, &broken);
  if (!rc) {
    int k = PQntuples(r);
    for (int i = 0; i < k && i < rq->max; i++) msg_from(r, i, &out[(*n)++]);
    PQclear(r);
    if (!k && rq->max_inflight > 0) { /* nothing: was it the limit? */
      const char *p2[] = {b1, b2, b6};
      rc = tw_pg_sqs_q(s->conn, "inflight", inflight_sql, 3, p2, PGRES_TUPLES_OK, &r, &broken);
      if (!rc && tw_pg_i64(r, 0, 0) >= rq->max_inflight) rc = TW_PG_OVER_LIMIT;
      PQclear(r);
    }
  }
  tw_pg_put(pg, s, broken);
  return rc;
}

/* A FIFO receive with an attempt id seen before: the same messages if every
 * one is still in flight under the receipt that attempt gave out. */
static int repeat_attempt(PGconn *c, const tw_pg_recv *rq, tw_pg_msg *out, int *n, int *broken) {
  char b1[32], b2[32];
  const char *p[] = {I64(b1, rq->queue_id), rq->attempt, I64(b2, rq->now_ms)};
  PGresult *r;
  int rc = tw_pg_sqs_q(
      c, "attempt",
      "SELECT seqs, nonces, cardinality(seqs) FROM sqs_attempts WHERE queue_id = $1 AND "
      "attempt = $2 AND expires_ms > $3",
      3, p, PGRES_TUPLES_OK, &r, broken);
  if (rc || PQntuples(r) != 1) {
    PQclear(r);
    return rc;
  }
  char *seqs = tw_pg_dup(r, 0, 0), *nonces = tw_pg_dup(r, 0, 1);
  int want = (int)tw_pg_i64(r, 0, 2);
  PQclear(r);
  const char *p2[] = {b1, seqs, nonces, b2};
  rc = tw_pg_sqs_q(
      c, "attempt messages",
      "SELECT " MSG_COLS
      " FROM sqs_messages m JOIN unnest($2::bigint[], $3::integer[]) "
      "WITH ORDINALITY AS x(seq, nonce, ord) ON m.seq = x.seq WHERE m.queue_id = $1 AND "
      "m.nonce = x.nonce AND m.visible_at_ms > $4 ORDER BY x.ord",
      4, p2, PGRES_TUPLES_OK, &r, broken);
  free(seqs);
  free(nonces);
  if (!rc) {
    int k = PQntuples(r);
    if (k == want && k <= rq->max)
      for (int i = 0; i < k; i++) msg_from(r, i, &out[(*n)++]);
    PQclear(r);
  }
  return rc;
}

static int cmp_pos(const void *a, const void *b) {
  const int64_t *x = a, *y = b;
  return x[0] < y[0] ? -1 : x[0] > y[0];
}

int tw_pg_receive_ex(tw_pg *pg, const tw_pg_recv *rq, tw_pg_msg *out, int *n) {
  *n = 0;
  int redrive = rq->dlq_id > 0 && rq->dlq_id != rq->queue_id && rq->max_receive_count > 0;
  if (!rq->fifo && !redrive) return receive_plain(pg, rq, out, n);
  tw_pg_slot *s = tw_pg_get(pg);
  if (!s) return TW_PG_UNAVAILABLE;
  int broken = 0;
  PGresult *r;
  char qid[32], now[32], until[32], minsent[32], lim[32];
  I64(qid, rq->queue_id);
  I64(now, rq->now_ms);
  I64(until, rq->now_ms + (int64_t)rq->vis_s * 1000);
  I64(minsent, rq->min_sent_ms);
  I64(lim, rq->max_inflight);
  int rc = tw_pg_exec(s->conn, "BEGIN", "receive", &broken);
  if (!rc && rq->fifo) { /* FIFO receives of this queue take turns (released at commit) */
    const char *p[] = {qid};
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%d, ($1::bigint %% 2147483647)::int)",
             RECV_LOCK_CLASS);
    rc = tw_pg_sqs_q(s->conn, "fifo receive lock", sql, 1, p, PGRES_TUPLES_OK, &r, &broken);
    PQclear(r);
  }
  if (!rc && rq->max_inflight > 0) {
    const char *p[] = {qid, now, lim};
    rc = tw_pg_sqs_q(s->conn, "inflight", inflight_sql, 3, p, PGRES_TUPLES_OK, &r, &broken);
    int over = !rc && tw_pg_i64(r, 0, 0) >= rq->max_inflight;
    PQclear(r);
    if (over) { /* FIFO: an empty answer; standard: OverLimit */
      int frc = finish(pg, s, TW_PG_OK, broken);
      return frc ? frc : rq->fifo ? TW_PG_OK : TW_PG_OVER_LIMIT;
    }
  }
  if (!rc && rq->fifo && rq->attempt) {
    rc = repeat_attempt(s->conn, rq, out, n, &broken);
    if (!rc && *n) return finish(pg, s, rc, broken);
  }
  int64_t got[10];
  int ngot = 0, moved = 0;
  for (int round = 0; round < 10 && !rc && *n < rq->max; round++) {
    char want[32], gotarr[16 * 21 + 3];
    I64(want, rq->max - *n);
    arr_i64(got, ngot, gotarr, sizeof gotarr);
    const char *p[] = {qid, now, minsent, want, gotarr, rq->vis_s > 0 ? "t" : "f"};
    if (rq->fifo)
      /* groups with a message in flight are out; of the others, the messages
       * before the first one not visible yet, in SequenceNumber order; groups
       * in the order of their oldest message; with a visibility of 0 one per
       * group (it stays visible) */
      rc = tw_pg_sqs_q(
          s->conn, "fifo candidates",
          "WITH b AS (SELECT DISTINCT group_id FROM sqs_messages WHERE queue_id = $1 AND "
          "visible_at_ms > $2 AND receive_count > 0 AND sent_ms >= $3), "
          "r AS (SELECT seq, receive_count, seqno, min(seqno) OVER w0 AS gfirst, "
          "bool_and(visible_at_ms <= $2) OVER w1 AS ok, row_number() OVER w1 AS rn "
          "FROM sqs_messages m WHERE queue_id = $1 AND sent_ms >= $3 AND seq <> ALL($5::bigint[]) "
          "AND NOT EXISTS (SELECT 1 FROM b WHERE b.group_id IS NOT DISTINCT FROM m.group_id) "
          "WINDOW w0 AS (PARTITION BY group_id), w1 AS (PARTITION BY group_id ORDER BY seqno, "
          "seq)) "
          "SELECT seq, receive_count FROM r WHERE ok AND ($6::boolean OR rn = 1) "
          "ORDER BY gfirst, seqno, seq LIMIT $4",
          6, p, PGRES_TUPLES_OK, &r, &broken);
    else
      rc = tw_pg_sqs_q(
          s->conn, "candidates",
          "SELECT seq, receive_count FROM sqs_messages WHERE queue_id = $1 AND visible_at_ms "
          "<= $2 AND sent_ms >= $3 AND seq <> ALL($5::bigint[]) ORDER BY visible_at_ms LIMIT $4 "
          "FOR UPDATE SKIP LOCKED",
          5, p, PGRES_TUPLES_OK, &r, &broken);
    if (rc) break;
    int k = PQntuples(r);
    int64_t take[10], move[10];
    int ntake = 0, nmove = 0;
    for (int i = 0; i < k && i < 10; i++) {
      int64_t seq = tw_pg_i64(r, i, 0);
      if (redrive && tw_pg_i64(r, i, 1) >= rq->max_receive_count)
        move[nmove++] = seq;
      else
        take[ntake++] = seq;
    }
    PQclear(r);
    if (!k) break;
    if (nmove) { /* dead-lettered in this transaction */
      char arr[16 * 21 + 3], dlq[32], cnt[32];
      arr_i64(move, nmove, arr, sizeof arr);
      const char *pm[] = {arr, I64(dlq, rq->dlq_id), I64(cnt, nmove),
                          now, rq->source_arn,       rq->dlq_fifo ? "t" : "f"};
      rc = tw_pg_sqs_q(
          s->conn, "dead-letter",
          "WITH q AS (UPDATE sqs_queues SET fifo_seq = fifo_seq + CASE WHEN $6::boolean THEN "
          "$3::bigint ELSE 0 END WHERE id = $2 RETURNING fifo_seq - CASE WHEN $6::boolean THEN "
          "$3::bigint ELSE 0 END AS base), "
          "x AS (SELECT s, ord FROM unnest($1::bigint[]) WITH ORDINALITY AS u(s, ord)) "
          "UPDATE sqs_messages m SET queue_id = $2, receive_count = 0, first_receive_ms = 0, "
          "received_ms = 0, nonce = m.nonce + 1, visible_at_ms = $4, source_arn = $5, "
          "seqno = CASE WHEN $6::boolean THEN q.base + x.ord ELSE m.seqno END, "
          "sent_ms = CASE WHEN $6::boolean THEN $4::bigint ELSE m.sent_ms END, "
          "group_id = CASE WHEN $6::boolean THEN coalesce(m.group_id, '') ELSE m.group_id END "
          "FROM q, x WHERE m.seq = x.s",
          6, pm, PGRES_COMMAND_OK, &r, &broken);
      if (!rc) moved += atoi(PQcmdTuples(r));
      PQclear(r);
      if (!rc) { /* a gateway job whose message this was has failed (gw_jobs, pg_gw.h) */
        const char *pj[] = {arr, now};
        rc = tw_pg_sqs_q(s->conn, "dead-lettered jobs",
                         "UPDATE gw_jobs SET status = 'failed', error = 'dead-lettered', "
                         "finished_ms = $2 WHERE status IN ('queued', 'running') AND id IN "
                         "(SELECT attrs::jsonb -> 'tweedle.job_id' ->> 'StringValue' FROM "
                         "sqs_messages WHERE seq = ANY($1::bigint[]) AND attrs LIKE "
                         "'%tweedle.job_id%')",
                         2, pj, PGRES_COMMAND_OK, &r, &broken);
        PQclear(r);
      }
    }
    if (!rc && ntake) {
      char arr[16 * 21 + 3];
      arr_i64(take, ntake, arr, sizeof arr);
      const char *pr[] = {arr, now, until};
      rc = tw_pg_sqs_q(s->conn, "receive", recv_update_sql, 3, pr, PGRES_TUPLES_OK, &r, &broken);
      if (!rc) {
        /* in candidate order (FIFO: group and sequence order) */
        int kk = PQntuples(r);
        int64_t pos[10][2];
        int np = 0;
        for (int i = 0; i < kk && np < 10; i++) {
          int64_t seq = tw_pg_i64(r, i, 0);
          for (int j = 0; j < ntake; j++)
            if (take[j] == seq) {
              pos[np][0] = j;
              pos[np++][1] = i;
            }
        }
        qsort(pos, (size_t)np, sizeof pos[0], cmp_pos);
        for (int i = 0; i < np && *n < rq->max; i++) {
          msg_from(r, (int)pos[i][1], &out[*n]);
          got[ngot++] = out[*n].seq;
          (*n)++;
        }
        PQclear(r);
      }
    }
    if (!nmove || (rq->fifo && rq->vis_s <= 0)) break;
  }
  if (!rc && moved) rc = tw_pg_sqs_notify(s->conn, rq->dlq_id, moved, &broken);
  if (!rc && rq->fifo && rq->attempt && *n) {
    char seqs[16 * 21 + 3], nonces[16 * 12 + 3], exp[32];
    int64_t nn[10];
    for (int i = 0; i < *n; i++) nn[i] = (int32_t)out[i].nonce;
    arr_i64(got, *n, seqs, sizeof seqs);
    arr_i64(nn, *n, nonces, sizeof nonces);
    const char *p[] = {qid, rq->attempt, seqs, nonces, I64(exp, rq->now_ms + DEDUP_MS)};
    rc = tw_pg_sqs_q(
        s->conn, "attempt save",
        "INSERT INTO sqs_attempts VALUES ($1, $2, $3, $4, $5) ON CONFLICT (queue_id, attempt) "
        "DO UPDATE SET seqs = EXCLUDED.seqs, nonces = EXCLUDED.nonces, expires_ms = "
        "EXCLUDED.expires_ms",
        5, p, PGRES_COMMAND_OK, &r, &broken);
    PQclear(r);
  }
  rc = finish(pg, s, rc, broken);
  if (rc)
    for (int i = 0; i < *n; i++) tw_pg_msg_free(&out[i]);
  if (rc) *n = 0;
  return rc;
}

/* --- FIFO delete, dead-letter sources, policy ----------------------------------- */

int tw_pg_msg_delete_fifo(tw_pg *pg, int64_t queue_id, int64_t seq, uint32_t nonce, int64_t now_ms,
                          int *expired) {
  *expired = 0;
  char b1[32], b2[32], b3[32], b4[32];
  const char *p[] = {I64(b1, queue_id), I64(b2, seq), I64(b3, (int32_t)nonce), I64(b4, now_ms)};
  PGresult *r;
  /* the second count reads the snapshot before the delete: the message existed */
  int rc = tw_pg_sqs_run(
      pg, "fifo delete",
      "WITH d AS (DELETE FROM sqs_messages WHERE seq = $2 AND queue_id = $1 AND nonce = $3 "
      "AND visible_at_ms > $4 RETURNING 1) "
      "SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM sqs_messages WHERE seq = $2 "
      "AND queue_id = $1), CASE WHEN (SELECT count(*) FROM d) > 0 THEN "
      "pg_notify('tw_sqs', $1 || ':1') END",
      4, p, PGRES_TUPLES_OK, &r);
  if (!rc) *expired = tw_pg_i64(r, 0, 0) == 0 && tw_pg_i64(r, 0, 1) > 0;
  PQclear(r);
  return rc;
}

int tw_pg_queue_dlq_sources(tw_pg *pg, const char *dlq_arn, char ***names, size_t *n) {
  *names = NULL;
  *n = 0;
  const char *p[] = {dlq_arn};
  PGresult *r;
  int rc = tw_pg_sqs_run(
      pg, "dlq sources",
      "SELECT name FROM sqs_queues WHERE CASE WHEN attrs::jsonb ? 'RedrivePolicy' THEN "
      "((attrs::jsonb ->> 'RedrivePolicy')::jsonb ->> 'deadLetterTargetArn') END = $1 "
      "ORDER BY name COLLATE \"C\"",
      1, p, PGRES_TUPLES_OK, &r);
  if (!rc) {
    int k = PQntuples(r);
    *names = calloc((size_t)k + 1, sizeof **names);
    for (int i = 0; i < k && *names; i++) (*names)[(*n)++] = tw_pg_dup(r, i, 0);
    PQclear(r);
  }
  return rc;
}

int tw_pg_queue_set_policy(tw_pg *pg, int64_t id, const char *old, const char *policy,
                           int64_t modified) {
  char b1[32], b2[32];
  const char *p[] = {I64(b1, id), old, policy, I64(b2, modified)};
  PGresult *r;
  int rc = tw_pg_sqs_run(pg, "set policy",
                         "UPDATE sqs_queues SET policy = $3, modified = $4 WHERE id = $1 AND "
                         "policy IS NOT DISTINCT FROM $2",
                         4, p, PGRES_COMMAND_OK, &r);
  if (!rc && strcmp(PQcmdTuples(r), "1")) rc = TW_PG_CONFLICT;
  PQclear(r);
  return rc;
}

/* --- background work, once across the cluster ------------------------------------ */

struct tw_pg_bg {
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stop, period_ms;
};

/* One pass: messages past their queue's retention (per queue, on the
 * (queue_id, sent_ms) index, at most 10000 rows per
 * queue per pass), then expired dedup and attempt ids and deleted
 * names older than 60 s. -1 when the connection failed. */
static int sweep(PGconn *c) {
  char now[32];
  I64(now, tw_now_ms());
  const char *p[] = {now};
  int broken = 0;
  PGresult *r;
  int rc = tw_pg_sqs_q(
      c, "retention",
      "WITH d AS (DELETE FROM sqs_messages WHERE seq IN (SELECT x.seq FROM sqs_queues q "
      "CROSS JOIN LATERAL (SELECT seq FROM sqs_messages WHERE queue_id = q.id AND sent_ms < "
      "$1::bigint - 1000 * coalesce((q.attrs::jsonb ->> 'MessageRetentionPeriod')::bigint, "
      "345600) LIMIT 10000) x) RETURNING 1) SELECT count(*) FROM d",
      1, p, PGRES_TUPLES_OK, &r, &broken);
  if (!rc) {
    int64_t k = tw_pg_i64(r, 0, 0);
    if (k) tw_info("pg: background work: deleted %" PRId64 " messages past retention", k);
    PQclear(r);
  }
  if (!rc)
    rc = tw_pg_sqs_q(
        c, "dedup expiry",
        "WITH a AS (DELETE FROM sqs_dedup WHERE expires_ms <= $1), "
        "b AS (DELETE FROM sqs_attempts WHERE expires_ms <= $1), "
        "c AS (DELETE FROM sqs_deleted_names WHERE deleted_ms <= $1::bigint - 60000) SELECT 1",
        1, p, PGRES_TUPLES_OK, &r, &broken);
  if (!rc) PQclear(r);
  return broken ? -1 : 0;
}

static void *bg_main(void *arg) {
  tw_pg *pg = arg;
  struct tw_pg_bg *bg = pg->bg;
  PGconn *c = NULL;
  int held = 0;
  for (;;) {
    pthread_mutex_lock(&bg->mu);
    if (!bg->stop) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      int64_t ns = ts.tv_nsec + (int64_t)bg->period_ms * 1000000;
      ts.tv_sec += ns / 1000000000;
      ts.tv_nsec = ns % 1000000000;
      pthread_cond_timedwait(&bg->cv, &bg->mu, &ts);
    }
    int stop = bg->stop;
    pthread_mutex_unlock(&bg->mu);
    if (stop) break;
    if (c && PQstatus(c) != CONNECTION_OK) {
      PQfinish(c);
      c = NULL;
    }
    if (!c) {
      const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
      const char *vals[] = {pg->url, "2", "tweedle-bg", NULL};
      c = PQconnectdbParams(keys, vals, 1);
      if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        c = NULL;
        continue;
      }
      held = 0;
    }
    if (!held) { /* a session lock: it goes with this connection, or this node */
      char sql[96];
      snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%lld)", BG_LOCK);
      PGresult *r = PQexec(c, sql);
      int broken = 0;
      if (!tw_pg_check(c, &r, PGRES_TUPLES_OK, "background lock", &broken)) {
        held = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (held) tw_info("pg: this node runs the cluster's background work (retention)");
      }
      if (broken) {
        PQfinish(c);
        c = NULL;
        continue;
      }
    }
    if (held && (sweep(c) || tw_pg_tasks_tick(c, bg->period_ms))) {
      PQfinish(c);
      c = NULL;
    }
  }
  PQfinish(c);
  return NULL;
}

int tw_pg_bg_start(tw_pg *pg, int period_ms) {
  struct tw_pg_bg *bg = calloc(1, sizeof *bg);
  if (!bg) return -1;
  pthread_mutex_init(&bg->mu, NULL);
  pthread_cond_init(&bg->cv, NULL);
  bg->period_ms = period_ms > 0 ? period_ms : 1000;
  pg->bg = bg;
  if (pthread_create(&bg->th, NULL, bg_main, pg)) {
    pg->bg = NULL;
    free(bg);
    return -1;
  }
  return 0;
}

void tw_pg_bg_stop(tw_pg *pg) {
  struct tw_pg_bg *bg = pg ? pg->bg : NULL;
  if (!bg) return;
  pthread_mutex_lock(&bg->mu);
  bg->stop = 1;
  pthread_cond_signal(&bg->cv);
  pthread_mutex_unlock(&bg->mu);
  pthread_join(bg->th, NULL);
  pthread_mutex_destroy(&bg->mu);
  pthread_cond_destroy(&bg->cv);
  pg->bg = NULL;
  free(bg);
}
