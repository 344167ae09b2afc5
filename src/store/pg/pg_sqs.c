/* The SQS repository on PostgreSQL (store/pg_sqs.h). One transaction per
 * call; receives take rows with FOR UPDATE SKIP LOCKED; a commit that makes
 * messages visible sends one NOTIFY tw_sqs, 'QUEUE_ID:COUNT'. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/pg/pg_sqs_internal.h"

void tw_pg_queue_free(tw_pg_queue *q) {
  free(q->name);
  free(q->attrs_json);
  free(q->tags_json);
  free(q->policy_json);
  memset(q, 0, sizeof *q);
}

void tw_pg_msg_free(tw_pg_msg *m) {
  free(m->msg_id);
  free(m->body);
  free(m->attrs_json);
  free(m->sys_json);
  free(m->sender_id);
  free(m->group_id);
  free(m->dedup_id);
  free(m->source_arn);
  memset(m, 0, sizeof *m);
}

/* Runs a one-statement call: r receives the result (caller clears it). */
static int run(tw_pg *pg, const char *what, const char *sql, int n, const char *const *p,
               ExecStatusType want, PGresult **out) {
  *out = NULL;
  tw_pg_slot *s = tw_pg_get(pg);
  if (!s) return TW_PG_UNAVAILABLE;
  int broken = 0;
  PGresult *r = PQexecParams(s->conn, sql, n, NULL, p, NULL, NULL, 0);
  int rc = tw_pg_check(s->conn, &r, want, what, &broken);
  tw_pg_put(pg, s, broken);
  *out = r;
  return rc;
}

int tw_pg_sqs_run(tw_pg *pg, const char *what, const char *sql, int n, const char *const *p,
                  ExecStatusType want, PGresult **out) {
  return run(pg, what, sql, n, p, want, out);
}

#define QUEUE_COLS "id, name, fifo, created, modified, attrs, tags, policy, last_purge_ms"

static void queue_from(const PGresult *r, int row, tw_pg_queue *q) {
  q->id = tw_pg_i64(r, row, 0);
  q->name = tw_pg_dup(r, row, 1);
  q->fifo = PQgetvalue(r, row, 2)[0] == 't';
  q->created = tw_pg_i64(r, row, 3);
  q->modified = tw_pg_i64(r, row, 4);
  q->attrs_json = tw_pg_dup(r, row, 5);
  q->tags_json = tw_pg_dup(r, row, 6);
  q->policy_json = tw_pg_dup(r, row, 7);
  q->last_purge_ms = tw_pg_i64(r, row, 8);
}

int tw_pg_queue_get(tw_pg *pg, const char *name, tw_pg_queue *out) {
  const char *p[] = {name};
  PGresult *r;
  int rc = run(pg, "queue get", "SELECT " QUEUE_COLS " FROM sqs_queues WHERE name = $1", 1, p,
               PGRES_TUPLES_OK, &r);
  if (!rc) {
    if (PQntuples(r) == 1)
      queue_from(r, 0, out);
    else
      rc = TW_PG_NOT_FOUND;
  }
  PQclear(r);
  return rc;
}

int tw_pg_queue_policy(tw_pg *pg, const char *name, char **policy) {
  *policy = NULL;
  const char *p[] = {name};
  PGresult *r;
  int rc = run(pg, "queue policy", "SELECT policy FROM sqs_queues WHERE name = $1", 1, p,
               PGRES_TUPLES_OK, &r);
  if (!rc) {
    if (PQntuples(r) == 1)
      *policy = tw_pg_dup(r, 0, 0);
    else
      rc = TW_PG_NOT_FOUND;
  }
  PQclear(r);
  return rc;
}

int tw_pg_queue_create(tw_pg *pg, tw_pg_queue *q, int64_t now_ms) {
  char b1[32], b2[32], b3[32];
  const char *p[] = {
      q->name,       q->fifo ? "t" : "f", I64(b1, q->created), I64(b2, q->modified),
      q->attrs_json, q->tags_json,        q->policy_json,      I64(b3, now_ms - 60000)};
  /* one statement: refused while the name was deleted recently; a concurrent
   * create of the same name loses on the unique key and reads the winner */
  PGresult *r;
  int rc = run(pg, "queue create",
               "WITH recent AS (SELECT 1 FROM sqs_deleted_names WHERE name = $1 AND "
               "deleted_ms > $8) "
               "INSERT INTO sqs_queues (name, fifo, created, modified, attrs, tags, policy) "
               "SELECT $1, $2, $3, $4, $5, $6, $7 WHERE NOT EXISTS (SELECT 1 FROM recent) "
               "ON CONFLICT (name) DO NOTHING RETURNING id",
               8, p, PGRES_TUPLES_OK, &r);
  if (rc) return rc;
  int inserted = PQntuples(r) == 1;
  if (inserted) q->id = tw_pg_i64(r, 0, 0);
  PQclear(r);
  if (inserted) return TW_PG_OK;
  char *name = strdup(q->name);
  tw_pg_queue_free(q);
  rc = tw_pg_queue_get(pg, name, q);
  free(name);
  if (rc == TW_PG_OK) return TW_PG_EXISTS;
  if (rc == TW_PG_NOT_FOUND) return TW_PG_DELETED_RECENTLY;
  return rc;
}

int tw_pg_queue_update(tw_pg *pg, const tw_pg_queue *q) {
  char b1[32], b2[32];
  const char *p[] = {I64(b1, q->id), q->attrs_json, q->tags_json, q->policy_json,
                     I64(b2, q->modified)};
  PGresult *r;
  int rc = run(pg, "queue update",
               "UPDATE sqs_queues SET attrs = $2, tags = $3, policy = $4, modified = $5 "
               "WHERE id = $1",
               5, p, PGRES_COMMAND_OK, &r);
  if (!rc && strcmp(PQcmdTuples(r), "1")) rc = TW_PG_NOT_FOUND;
  PQclear(r);
  return rc;
}

int tw_pg_queue_delete(tw_pg *pg, int64_t id, const char *name, int64_t now_ms) {
  char b1[32], b2[32];
  const char *p[] = {I64(b1, id), name, I64(b2, now_ms)};
  PGresult *r;
  /* messages go by the foreign key's cascade; parked receives answer (empty) */
  int rc = run(pg, "queue delete",
               "WITH d AS (DELETE FROM sqs_queues WHERE id = $1 RETURNING id), "
               "n AS (INSERT INTO sqs_deleted_names SELECT $2, $3 FROM d "
               "ON CONFLICT (name) DO UPDATE SET deleted_ms = EXCLUDED.deleted_ms RETURNING 1) "
               "SELECT pg_notify('tw_sqs', $1 || ':1000000') FROM n",
               3, p, PGRES_TUPLES_OK, &r);
  PQclear(r);
  return rc;
}

int tw_pg_queue_list(tw_pg *pg, const char *prefix, char ***names, size_t *n) {
  *names = NULL;
  *n = 0;
  const char *p[] = {prefix ? prefix : ""};
  PGresult *r;
  int rc = run(pg, "queue list",
               "SELECT name FROM sqs_queues WHERE left(name, length($1)) = $1 ORDER BY name "
               "COLLATE \"C\"",
               1, p, PGRES_TUPLES_OK, &r);
  if (!rc) {
    int k = PQntuples(r);
    *names = calloc((size_t)k + 1, sizeof **names);
    for (int i = 0; i < k; i++) (*names)[i] = tw_pg_dup(r, i, 0);
    *n = (size_t)k;
  }
  PQclear(r);
  return rc;
}

int tw_pg_queue_counts(tw_pg *pg, int64_t id, int64_t now_ms, int64_t min_sent_ms, int64_t *visible,
                       int64_t *inflight, int64_t *delayed) {
  char b1[32], b2[32], b3[32];
  const char *p[] = {I64(b1, id), I64(b2, now_ms), I64(b3, min_sent_ms)};
  PGresult *r;
  int rc = run(pg, "queue counts",
               "SELECT count(*) FILTER (WHERE visible_at_ms <= $2),"
               " count(*) FILTER (WHERE visible_at_ms > $2 AND receive_count > 0),"
               " count(*) FILTER (WHERE visible_at_ms > $2 AND receive_count = 0)"
               " FROM sqs_messages WHERE queue_id = $1 AND sent_ms >= $3",
               3, p, PGRES_TUPLES_OK, &r);
  if (!rc) {
    *visible = tw_pg_i64(r, 0, 0);
    *inflight = tw_pg_i64(r, 0, 1);
    *delayed = tw_pg_i64(r, 0, 2);
  }
  PQclear(r);
  return rc;
}

int tw_pg_queue_purge(tw_pg *pg, int64_t id, int64_t now_ms) {
  char b1[32], b2[32], b3[32];
  const char *p[] = {I64(b1, id), I64(b2, now_ms), I64(b3, now_ms - 60000)};
  PGresult *r;
  int rc = run(pg, "queue purge",
               "WITH q AS (UPDATE sqs_queues SET last_purge_ms = $2 WHERE id = $1 AND "
               "(last_purge_ms = 0 OR last_purge_ms <= $3) RETURNING id), "
               "d AS (DELETE FROM sqs_messages m USING q WHERE m.queue_id = q.id) "
               "SELECT count(*) FROM q",
               3, p, PGRES_TUPLES_OK, &r);
  if (!rc && tw_pg_i64(r, 0, 0) != 1) rc = TW_PG_TOO_SOON;
  PQclear(r);
  return rc;
}

char *tw_pg_sqs_int_array(const int64_t *v, int n) {
  size_t cap = (size_t)n * 21 + 3, l = 0;
  char *s = malloc(cap);
  if (!s) return NULL;
  s[l++] = '{';
  for (int i = 0; i < n; i++)
    l += (size_t)snprintf(s + l, cap - l, "%s%" PRId64, i ? "," : "", v[i]);
  snprintf(s + l, cap - l, "}");
  return s;
}

int tw_pg_queues_becoming_visible(tw_pg *pg, const int64_t *ids, int n, int64_t from_ms,
                                  int64_t to_ms, int64_t **out, int *nout) {
  *out = NULL;
  *nout = 0;
  char *arr = tw_pg_sqs_int_array(ids, n);
  if (!arr) return TW_PG_ERROR;
  char b1[32], b2[32];
  const char *p[] = {arr, I64(b1, from_ms), I64(b2, to_ms)};
  PGresult *r;
  /* one index range per queue: (queue_id, visible_at_ms) */
  int rc = run(pg, "visibility check",
               "SELECT q FROM unnest($1::bigint[]) AS q WHERE EXISTS (SELECT 1 FROM sqs_messages "
               "WHERE queue_id = q AND visible_at_ms > $2 AND visible_at_ms <= $3)",
               3, p, PGRES_TUPLES_OK, &r);
  free(arr);
  if (!rc) {
    int k = PQntuples(r);
    *out = calloc((size_t)k + 1, sizeof **out);
    for (int i = 0; i < k && *out; i++) (*out)[(*nout)++] = tw_pg_i64(r, i, 0);
  }
  PQclear(r);
  return rc;
}

int tw_pg_sqs_insert_plain(PGconn *c, int64_t queue_id, tw_pg_send_msg *m, int n, int64_t now_ms,
                           int notify, int *visible, int *broken) {
  char qid[32];
  I64(qid, queue_id);
  *visible = 0;
  int rc = TW_PG_OK;
  for (int i = 0; i < n && !rc; i++) {
    char b1[32], b2[32];
    const char *p[] = {qid,
                       m[i].msg_id,
                       m[i].body,
                       m[i].attrs_json,
                       m[i].sys_json,
                       m[i].sender_id,
                       I64(b1, m[i].sent_ms),
                       I64(b2, m[i].visible_at_ms),
                       m[i].group_id};
    int visible_now = m[i].visible_at_ms <= now_ms;
    PGresult *r = PQexecParams(
        c,
        notify && visible_now
            ? "WITH i AS (INSERT INTO sqs_messages (queue_id, msg_id, body, attrs, sys, sender_id,"
              " sent_ms, visible_at_ms, group_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
              " RETURNING seq) "
              "SELECT seq, pg_notify('tw_sqs', $1 || ':1') FROM i"
            : "INSERT INTO sqs_messages (queue_id, msg_id, body, attrs, sys, sender_id, sent_ms,"
              " visible_at_ms, group_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING seq",
        9, NULL, p, NULL, NULL, 0);
    rc = tw_pg_check(c, &r, PGRES_TUPLES_OK, "send", broken);
    /* a foreign-key failure: the queue was deleted meanwhile */
    if (rc == TW_PG_EXISTS || (!rc && PQntuples(r) != 1)) rc = TW_PG_ERROR;
    if (!rc) {
      m[i].seq = tw_pg_i64(r, 0, 0);
      if (visible_now) (*visible)++;
    }
    PQclear(r);
  }
  return rc;
}

int tw_pg_send_one(tw_pg *pg, int64_t queue_id, tw_pg_send_msg *m, int n, int64_t now_ms) {
  tw_pg_slot *s = tw_pg_get(pg);
  if (!s) return TW_PG_UNAVAILABLE;
  int broken = 0, visible = 0;
  int rc = n > 1 ? tw_pg_exec(s->conn, "BEGIN", "send", &broken) : TW_PG_OK;
  /* a single message notifies in its own statement (one round trip) */
  if (!rc) rc = tw_pg_sqs_insert_plain(s->conn, queue_id, m, n, now_ms, n == 1, &visible, &broken);
  if (!rc && n > 1 && visible) rc = tw_pg_sqs_notify(s->conn, queue_id, visible, &broken);
  if (n > 1) rc = tw_pg_sqs_end(s->conn, rc, "send commit", &broken);
  tw_pg_put(pg, s, broken);
  return rc;
}

int tw_pg_msg_delete(tw_pg *pg, int64_t queue_id, int64_t seq, uint32_t nonce, int *deleted) {
  char b1[32], b2[32], b3[32];
  const char *p[] = {I64(b1, queue_id), I64(b2, seq), I64(b3, (int32_t)nonce)};
  PGresult *r;
  int rc =
      run(pg, "delete", "DELETE FROM sqs_messages WHERE seq = $2 AND queue_id = $1 AND nonce = $3",
          3, p, PGRES_COMMAND_OK, &r);
  *deleted = !rc && !strcmp(PQcmdTuples(r), "1");
  PQclear(r);
  return rc;
}

int tw_pg_msg_delete_batch(tw_pg *pg, int64_t queue_id, const int64_t *seqs, const uint32_t *nonces,
                           int n) {
  char a[16 * 21 + 3], b[16 * 12 + 3], qid[32];
  size_t la = 0, lb = 0;
  a[la++] = b[lb++] = '{';
  for (int i = 0; i < n && i < 16; i++) {
    la += (size_t)snprintf(a + la, sizeof a - la, "%s%" PRId64, i ? "," : "", seqs[i]);
    lb += (size_t)snprintf(b + lb, sizeof b - lb, "%s%" PRId32, i ? "," : "", (int32_t)nonces[i]);
  }
  snprintf(a + la, sizeof a - la, "}");
  snprintf(b + lb, sizeof b - lb, "}");
  const char *p[] = {I64(qid, queue_id), a, b};
  PGresult *r;
  int rc = run(pg, "delete batch",
               "DELETE FROM sqs_messages m USING unnest($2::bigint[], $3::integer[]) AS x(seq, "
               "nonce) WHERE m.seq = x.seq AND m.queue_id = $1 AND m.nonce = x.nonce",
               3, p, PGRES_COMMAND_OK, &r);
  PQclear(r);
  return rc;
}

int tw_pg_msg_state(tw_pg *pg, int64_t queue_id, int64_t seq, uint32_t nonce, int *current,
                    int64_t *visible_at_ms, int64_t *received_ms) {
  char b1[32], b2[32];
  const char *p[] = {I64(b1, queue_id), I64(b2, seq)};
  PGresult *r;
  int rc = run(pg, "message state",
               "SELECT nonce, visible_at_ms, received_ms FROM sqs_messages "
               "WHERE seq = $2 AND queue_id = $1",
               2, p, PGRES_TUPLES_OK, &r);
  if (!rc) {
    if (PQntuples(r) != 1) {
      rc = TW_PG_NOT_FOUND;
    } else {
      *current = (uint32_t)tw_pg_i64(r, 0, 0) == nonce;
      *visible_at_ms = tw_pg_i64(r, 0, 1);
      *received_ms = tw_pg_i64(r, 0, 2);
    }
  }
  PQclear(r);
  return rc;
}

int tw_pg_msg_set_visibility(tw_pg *pg, int64_t queue_id, int64_t seq, uint32_t nonce,
                             int64_t now_ms, int64_t visible_at_ms) {
  char b1[32], b2[32], b3[32], b4[32], b5[32];
  const char *p[] = {I64(b1, queue_id), I64(b2, seq), I64(b3, (int32_t)nonce), I64(b4, now_ms),
                     I64(b5, visible_at_ms)};
  PGresult *r;
  int rc = run(pg, "change visibility",
               "WITH u AS (UPDATE sqs_messages SET visible_at_ms = $5 WHERE seq = $2 AND "
               "queue_id = $1 AND nonce = $3 AND visible_at_ms > $4 RETURNING 1) "
               "SELECT count(*), CASE WHEN count(*) > 0 AND $5 <= $4 THEN "
               "pg_notify('tw_sqs', $1 || ':1') END FROM u",
               5, p, PGRES_TUPLES_OK, &r);
  PQclear(r);
  return rc;
}
