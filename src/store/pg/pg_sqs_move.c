/* Message move tasks on PostgreSQL (store/pg_sqs.h): the task rows, and the
 * pass that moves their messages, run by the node that holds the background
 * lock (pg_sqs_more.c), so each task runs once across the cluster. One
 * transaction per task per pass: the messages moved, the task's progress and
 * one NOTIFY per destination queue commit together. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/pg/pg_sqs_internal.h"

#define UNLIMITED_PER_PASS 500 /* messages per task per pass without a rate */

static void task_from(const PGresult *r, int i, tw_pg_task *t) {
  memset(t, 0, sizeof *t);
  snprintf(t->handle, sizeof t->handle, "%s", PQgetvalue(r, i, 0));
  snprintf(t->status, sizeof t->status, "%s", PQgetvalue(r, i, 1));
  snprintf(t->source_arn, sizeof t->source_arn, "%s", PQgetvalue(r, i, 2));
  snprintf(t->dest_arn, sizeof t->dest_arn, "%s", PQgetvalue(r, i, 3));
  snprintf(t->failure, sizeof t->failure, "%s", PQgetvalue(r, i, 4));
  t->rate = (int)tw_pg_i64(r, i, 5);
  t->moved = tw_pg_i64(r, i, 6);
  t->to_move = tw_pg_i64(r, i, 7);
  t->started_ms = tw_pg_i64(r, i, 8);
}

int tw_pg_task_start(tw_pg *pg, tw_pg_task *t, int64_t source_id, int64_t dest_id) {
  char b1[32], b2[32], b3[32], b4[32];
  const char *p[] = {t->handle,        t->source_arn,    t->dest_arn,           I64(b1, source_id),
                     I64(b2, dest_id), I64(b3, t->rate), I64(b4, t->started_ms)};
  PGresult *r;
  /* the messages in the queue now (up to the newest seq): later ones stay */
  int rc = tw_pg_sqs_run(
      pg, "move task start",
      "INSERT INTO sqs_move_tasks (handle, source_arn, dest_arn, source_id, dest_id, "
      "status, rate, to_move, started_ms, max_seq) SELECT $1, $2, $3, $4, $5, 'RUNNING', "
      "$6, (SELECT count(*) FROM sqs_messages WHERE queue_id = $4), $7, (SELECT "
      "coalesce(max(seq), 0) FROM sqs_messages) ON CONFLICT DO NOTHING RETURNING to_move",
      7, p, PGRES_TUPLES_OK, &r);
  if (!rc) {
    if (PQntuples(r) == 1)
      t->to_move = tw_pg_i64(r, 0, 0);
    else
      rc = TW_PG_EXISTS;
    PQclear(r);
  }
  return rc;
}

int tw_pg_task_cancel(tw_pg *pg, const char *handle, int64_t *moved) {
  const char *p[] = {handle};
  PGresult *r;
  int rc = tw_pg_sqs_run(
      pg, "move task cancel",
      "WITH u AS (UPDATE sqs_move_tasks SET status = 'CANCELLING' WHERE handle = $1 AND "
      "status = 'RUNNING' RETURNING moved) "
      "SELECT (SELECT moved FROM u), (SELECT count(*) FROM sqs_move_tasks WHERE handle = $1)",
      1, p, PGRES_TUPLES_OK, &r);
  if (!rc) {
    if (!PQgetisnull(r, 0, 0))
      *moved = tw_pg_i64(r, 0, 0);
    else
      rc = tw_pg_i64(r, 0, 1) ? TW_PG_CONFLICT : TW_PG_NOT_FOUND;
    PQclear(r);
  }
  return rc;
}

int tw_pg_task_list(tw_pg *pg, const char *source_arn, int max, tw_pg_task **out, int *n) {
  *out = NULL;
  *n = 0;
  char b[32];
  const char *p[] = {source_arn, I64(b, max)};
  PGresult *r;
  int rc = tw_pg_sqs_run(
      pg, "move task list",
      "SELECT handle, status, source_arn, dest_arn, failure, rate, moved, to_move, "
      "started_ms FROM sqs_move_tasks WHERE source_arn = $1 ORDER BY id DESC LIMIT $2",
      2, p, PGRES_TUPLES_OK, &r);
  if (!rc) {
    int k = PQntuples(r);
    *out = calloc((size_t)k + 1, sizeof **out);
    for (int i = 0; i < k && *out; i++) task_from(r, i, &(*out)[(*n)++]);
    PQclear(r);
  }
  return rc;
}

/* --- the pass ------------------------------------------------------------------ */

static int set_status(PGconn *c, const char *id, const char *status, const char *why, int *broken) {
  const char *p[] = {id, status, why ? why : ""};
  PGresult *r;
  int rc =
      tw_pg_sqs_q(c, "move task status",
                  "UPDATE sqs_move_tasks SET status = $2, failure = CASE WHEN $3 = '' THEN failure "
                  "ELSE $3 END WHERE id = $1",
                  3, p, PGRES_COMMAND_OK, &r, broken);
  PQclear(r);
  return rc;
}

/* FIFO destinations: the moved messages get the queue's next sequence
 * numbers and restart their SentTimestamp (as a dead-lettered one does). */
static int fifo_fixup(PGconn *c, int64_t qid, const int64_t *seqs, int n, const char *now,
                      int *broken) {
  char b1[32], b2[32];
  const char *p[] = {I64(b1, qid), I64(b2, n)};
  PGresult *r;
  int rc = tw_pg_sqs_q(
      c, "move seqno",
      "UPDATE sqs_queues SET fifo_seq = fifo_seq + CASE WHEN fifo THEN $2::bigint ELSE 0 "
      "END WHERE id = $1 RETURNING fifo, fifo_seq - $2::bigint",
      2, p, PGRES_TUPLES_OK, &r, broken);
  if (rc) return rc;
  int fifo = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
  char base[32];
  snprintf(base, sizeof base, "%s", PQntuples(r) == 1 ? PQgetvalue(r, 0, 1) : "0");
  PQclear(r);
  if (!fifo) return 0;
  char *a = tw_pg_sqs_int_array(seqs, n);
  const char *p2[] = {a, base, now};
  rc = tw_pg_sqs_q(
      c, "move seqno",
      "UPDATE sqs_messages m SET seqno = $2::bigint + x.ord, sent_ms = $3, group_id = "
      "coalesce(m.group_id, '') FROM unnest($1::bigint[]) WITH ORDINALITY AS x(s, ord) WHERE "
      "m.seq = x.s",
      3, p2, PGRES_COMMAND_OK, &r, broken);
  free(a);
  PQclear(r);
  return rc;
}

/* One task's share of a pass, in one transaction. */
static int run_task(PGconn *c, const PGresult *tr, int row, double dt, int *broken) {
  const char *id = PQgetvalue(tr, row, 0);
  const char *src = PQgetvalue(tr, row, 2), *dst = PQgetvalue(tr, row, 3);
  int rate = (int)tw_pg_i64(tr, row, 4);
  double budget = strtod(PQgetvalue(tr, row, 5), NULL);
  const char *max_seq = PQgetvalue(tr, row, 6);
  int limit = UNLIMITED_PER_PASS;
  if (rate > 0) {
    budget += rate * dt;
    if (budget > rate) budget = rate;
    limit = (int)budget;
  }
  char now[32];
  I64(now, tw_now_ms());
  int rc = tw_pg_exec(c, "BEGIN", "move task", broken);
  PGresult *r;
  if (!rc) { /* the queues must still exist */
    const char *p[] = {src, dst};
    rc = tw_pg_sqs_q(
        c, "move task queues",
        "SELECT (SELECT count(*) FROM sqs_queues WHERE id = $1), ($2::bigint = 0 OR EXISTS "
        "(SELECT 1 FROM sqs_queues WHERE id = $2))",
        2, p, PGRES_TUPLES_OK, &r, broken);
    if (rc) goto out;
    int ok = tw_pg_i64(r, 0, 0) == 1 && PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    if (!ok) {
      rc = set_status(c, id, "FAILED", "AWS.SimpleQueueService.NonExistentQueue", broken);
      goto out;
    }
  }
  int moved = 0, missing = 0;
  if (!rc && limit > 0) {
    char lim[32];
    const char *p[] = {src, max_seq, now, I64(lim, limit), dst};
    /* the oldest messages not in flight; each to the destination, else back
     * to the queue it was dead-lettered from */
    rc = tw_pg_sqs_q(
        c, "move",
        "WITH c AS (SELECT seq, source_arn FROM sqs_messages WHERE queue_id = $1 AND seq <= $2 "
        "AND NOT (receive_count > 0 AND visible_at_ms > $3) ORDER BY seq LIMIT $4 FOR UPDATE "
        "SKIP LOCKED), "
        "d AS (SELECT c.seq, CASE WHEN $5::bigint > 0 THEN $5::bigint ELSE (SELECT id FROM "
        "sqs_queues WHERE name = substring(c.source_arn from '[^:]*$')) END AS dst FROM c), "
        "u AS (UPDATE sqs_messages m SET queue_id = d.dst, receive_count = 0, "
        "first_receive_ms = 0, received_ms = 0, nonce = m.nonce + 1, visible_at_ms = $3, "
        "source_arn = NULL FROM d WHERE m.seq = d.seq AND d.dst IS NOT NULL "
        "RETURNING m.seq, m.queue_id) "
        "SELECT seq, queue_id FROM u UNION ALL SELECT 0, -1 FROM d WHERE dst IS NULL "
        "ORDER BY 2, 1",
        5, p, PGRES_TUPLES_OK, &r, broken);
    if (rc) goto out;
    int k = PQntuples(r);
    int64_t *seqs = calloc((size_t)k + 1, sizeof *seqs), *qids = calloc((size_t)k + 1, 8);
    for (int i = 0; i < k; i++) {
      seqs[i] = tw_pg_i64(r, i, 0);
      qids[i] = tw_pg_i64(r, i, 1);
      if (qids[i] < 0) missing++;
    }
    PQclear(r);
    /* per destination queue: FIFO sequence numbers, one notification */
    for (int i = 0; i < k && !rc;) {
      int j = i;
      while (j < k && qids[j] == qids[i]) j++;
      if (qids[i] > 0) {
        rc = fifo_fixup(c, qids[i], seqs + i, j - i, now, broken);
        if (!rc) rc = tw_pg_sqs_notify(c, qids[i], j - i, broken);
        moved += j - i;
      }
      i = j;
    }
    free(seqs);
    free(qids);
  }
  if (!rc && missing) {
    rc = set_status(c, id, "FAILED", "AWS.SimpleQueueService.NonExistentQueue", broken);
  } else if (!rc) {
    char mv[32], bud[32];
    if (rate > 0) budget -= moved;
    snprintf(bud, sizeof bud, "%.3f", rate > 0 ? budget : 0.0);
    const char *p[] = {id, I64(mv, moved), bud, src, max_seq, now};
    rc = tw_pg_sqs_q(
        c, "move progress",
        "UPDATE sqs_move_tasks SET moved = moved + $2, budget = $3, status = CASE WHEN EXISTS "
        "(SELECT 1 FROM sqs_messages WHERE queue_id = $4 AND seq <= $5 AND NOT (receive_count "
        "> 0 AND visible_at_ms > $6)) THEN status ELSE 'COMPLETED' END WHERE id = $1",
        6, p, PGRES_COMMAND_OK, &r, broken);
    PQclear(r);
  }
out:
  return tw_pg_sqs_end(c, rc, "move task commit", broken);
}

int tw_pg_tasks_tick(PGconn *c, int period_ms) {
  int broken = 0;
  PGresult *r;
  int rc = tw_pg_sqs_q(
      c, "move tasks",
      "SELECT id, status, source_id, dest_id, rate, budget, max_seq FROM sqs_move_tasks "
      "WHERE status IN ('RUNNING', 'CANCELLING') ORDER BY id",
      0, NULL, PGRES_TUPLES_OK, &r, &broken);
  if (rc) return broken ? -1 : 0;
  int k = PQntuples(r);
  for (int i = 0; i < k && !broken; i++) {
    if (!strcmp(PQgetvalue(r, i, 1), "CANCELLING"))
      set_status(c, PQgetvalue(r, i, 0), "CANCELLED", NULL, &broken);
    else
      run_task(c, r, i, period_ms / 1000.0, &broken);
  }
  PQclear(r);
  return broken ? -1 : 0;
}
