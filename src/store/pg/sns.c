/* SNS topics, subscriptions and FIFO deduplication entries on PostgreSQL
 * (cluster mode): tables sns_topics, sns_subscriptions, sns_dedup. Writes
 * append to the store's batch (one transaction per batch); every control-plane
 * write also bumps the "sns" change counter (pg_state.h) in that batch, so the
 * other nodes reload. A FIFO topic's sequence number and deduplication
 * entries are decided under a per-topic advisory lock (fifo_begin/fifo_end),
 * from committed rows, so they are exact across nodes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/pg/pg_s3_internal.h"
#include "store/pg_state.h"
#include "store/sns.h"
#include "store/sns_rows.h"

const char *const tw_pg_sns_schema =
    "CREATE TABLE IF NOT EXISTS sns_topics (arn text PRIMARY KEY, name text NOT NULL,"
    " fifo int NOT NULL, created_ms bigint NOT NULL, attrs text, tags text,"
    " seqno bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS sns_subscriptions (arn text PRIMARY KEY, topic_arn text NOT NULL,"
    " protocol text NOT NULL, endpoint text, owner text, principal text, attrs text,"
    " pending int NOT NULL, authenticated int NOT NULL, auth_unsubscribe int NOT NULL,"
    " token text, token_expires_ms bigint, created_ms bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS sns_subscriptions_topic ON sns_subscriptions (topic_arn);"
    "CREATE TABLE IF NOT EXISTS sns_dedup (topic_arn text NOT NULL, key text NOT NULL,"
    " msg_id text NOT NULL, seqno bigint NOT NULL, expires_ms bigint NOT NULL,"
    " PRIMARY KEY (topic_arn, key));"
    "CREATE TABLE IF NOT EXISTS sns_outbox (id bigserial PRIMARY KEY, sub_arn text NOT NULL,"
    " topic_arn text NOT NULL, protocol text NOT NULL, endpoint text NOT NULL, kind text NOT NULL,"
    " msg_id text NOT NULL, subject text, from_name text, raw int NOT NULL, body bytea,"
    " attempts int NOT NULL, due_ms bigint NOT NULL, created_ms bigint NOT NULL,"
    " lease_until bigint NOT NULL DEFAULT 0, owner text);"
    "CREATE INDEX IF NOT EXISTS sns_outbox_due ON sns_outbox (due_ms);";

/* Advisory lock class of FIFO topics ("sns" in ASCII); the topic is hashtext(arn). */
#define FIFO_LOCK_CLASS "7564915"

static uint64_t max_ticket(uint64_t a, uint64_t b) {
  return a > b ? a : b;
}

static uint64_t bump(tw_store *s, uint64_t t) {
  return max_ticket(t, tw_store_pg_state_bump(s, "sns"));
}

static uint64_t topic_save(tw_store *s, const tw_sns_topic_row *t) {
  tw_sql_val v[TW_SNS_TOPIC_NCOLS];
  tw_sns_topic_vals(t, v);
  /* the sequence number only grows: a node's copy may be behind the one
   * another node's FIFO publishes committed */
  uint64_t k = tw_store_exec(
      s,
      "INSERT INTO sns_topics (arn, name, fifo, created_ms, attrs, tags, seqno)"
      " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (arn) DO UPDATE SET name = EXCLUDED.name,"
      " fifo = EXCLUDED.fifo, created_ms = EXCLUDED.created_ms, attrs = EXCLUDED.attrs,"
      " tags = EXCLUDED.tags, seqno = GREATEST(sns_topics.seqno, EXCLUDED.seqno)",
      v, TW_SNS_TOPIC_NCOLS);
  return bump(s, k);
}

static uint64_t topic_seqno(tw_store *s, const char *arn, uint64_t seqno) {
  tw_sql_val v[] = {TW_SQL_I((int64_t)seqno), TW_SQL_S(arn)};
  return tw_store_exec(s, "UPDATE sns_topics SET seqno = GREATEST(seqno, $1) WHERE arn = $2", v, 2);
}

static uint64_t topic_delete(tw_store *s, const char *arn) {
  tw_sql_val v[] = {TW_SQL_S(arn)};
  uint64_t t = tw_store_exec(s, "DELETE FROM sns_topics WHERE arn = $1", v, 1);
  t = max_ticket(t, tw_store_exec(s, "DELETE FROM sns_subscriptions WHERE topic_arn = $1", v, 1));
  t = max_ticket(t, tw_store_exec(s, "DELETE FROM sns_dedup WHERE topic_arn = $1", v, 1));
  return bump(s, t);
}

static uint64_t sub_save(tw_store *s, const tw_sns_sub_row *r) {
  tw_sql_val v[TW_SNS_SUB_NCOLS];
  tw_sns_sub_vals(r, v);
  uint64_t k = tw_store_exec(
      s,
      "INSERT INTO sns_subscriptions (arn, topic_arn, protocol, endpoint, owner, principal, attrs,"
      " pending, authenticated, auth_unsubscribe, token, token_expires_ms, created_ms)"
      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (arn) DO UPDATE"
      " SET topic_arn = EXCLUDED.topic_arn, protocol = EXCLUDED.protocol,"
      " endpoint = EXCLUDED.endpoint, owner = EXCLUDED.owner, principal = EXCLUDED.principal,"
      " attrs = EXCLUDED.attrs, pending = EXCLUDED.pending,"
      " authenticated = EXCLUDED.authenticated, auth_unsubscribe = EXCLUDED.auth_unsubscribe,"
      " token = EXCLUDED.token, token_expires_ms = EXCLUDED.token_expires_ms,"
      " created_ms = EXCLUDED.created_ms",
      v, TW_SNS_SUB_NCOLS);
  return bump(s, k);
}

static uint64_t sub_delete(tw_store *s, const char *arn) {
  tw_sql_val v[] = {TW_SQL_S(arn)};
  return bump(s, tw_store_exec(s, "DELETE FROM sns_subscriptions WHERE arn = $1", v, 1));
}

static uint64_t dedup_put(tw_store *s, const tw_sns_dedup_row *d) {
  tw_sql_val v[TW_SNS_DEDUP_NCOLS];
  tw_sns_dedup_vals(d, v);
  return tw_store_exec(s,
                       "INSERT INTO sns_dedup (topic_arn, key, msg_id, seqno, expires_ms)"
                       " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (topic_arn, key) DO UPDATE"
                       " SET msg_id = EXCLUDED.msg_id, seqno = EXCLUDED.seqno,"
                       " expires_ms = EXCLUDED.expires_ms",
                       v, TW_SNS_DEDUP_NCOLS);
}

static uint64_t dedup_prune(tw_store *s, int64_t now_ms) {
  tw_sql_val v[] = {TW_SQL_I(now_ms)};
  return tw_store_exec(s, "DELETE FROM sns_dedup WHERE expires_ms < $1", v, 1);
}

/* --- reads on a connection of the pool -------------------------------------------- */

static PGresult *q(PGconn *c, const char *sql, const char *const *p, int n, ExecStatusType want,
                   int *broken) {
  PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
  if (tw_pg_check(c, &r, want, "sns", broken)) return NULL;
  return r;
}

static const char *txt(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int load(tw_store *s, int64_t now_ms, const tw_sns_loader *ld, void *ud) {
  tw_pg *pg = tw_pg_s3_pool(s);
  tw_pg_slot *slot = tw_pg_get(pg);
  if (!slot) return -1;
  PGconn *c = slot->conn;
  int broken = 0, rc = -1;
  char now[24];
  snprintf(now, sizeof now, "%" PRId64, now_ms);
  const char *pnow[] = {now};
  PGresult *r = NULL;
  /* one snapshot: the counter and the rows it counts agree */
  if (tw_pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "sns load", &broken))
    goto out;
  r = q(c, "SELECT version FROM tw_state WHERE name = 'sns'", NULL, 0, PGRES_TUPLES_OK, &broken);
  if (!r) goto rollback;
  int64_t version = PQntuples(r) ? tw_pg_i64(r, 0, 0) : 0;
  PQclear(r);
  r = q(c, "SELECT arn, name, fifo, created_ms, attrs, tags, seqno FROM sns_topics ORDER BY arn",
        NULL, 0, PGRES_TUPLES_OK, &broken);
  if (!r) goto rollback;
  for (int i = 0; i < PQntuples(r); i++) {
    tw_sns_topic_row t = {.arn = txt(r, i, 0),
                          .name = txt(r, i, 1),
                          .fifo = (int)tw_pg_i64(r, i, 2),
                          .created_ms = tw_pg_i64(r, i, 3),
                          .attrs_json = txt(r, i, 4),
                          .tags_json = txt(r, i, 5),
                          .seqno = (uint64_t)tw_pg_i64(r, i, 6)};
    if (t.arn && t.name && ld->topic) ld->topic(ud, &t);
  }
  PQclear(r);
  r = q(c,
        "SELECT arn, topic_arn, protocol, endpoint, owner, principal, attrs, pending,"
        " authenticated, auth_unsubscribe, token, token_expires_ms, created_ms"
        " FROM sns_subscriptions ORDER BY created_ms, arn",
        NULL, 0, PGRES_TUPLES_OK, &broken);
  if (!r) goto rollback;
  for (int i = 0; i < PQntuples(r); i++) {
    tw_sns_sub_row x = {.arn = txt(r, i, 0),
                        .topic_arn = txt(r, i, 1),
                        .protocol = txt(r, i, 2),
                        .endpoint = txt(r, i, 3),
                        .owner = txt(r, i, 4),
                        .principal = txt(r, i, 5),
                        .attrs_json = txt(r, i, 6),
                        .pending = (int)tw_pg_i64(r, i, 7),
                        .authenticated = (int)tw_pg_i64(r, i, 8),
                        .auth_unsubscribe = (int)tw_pg_i64(r, i, 9),
                        .token = txt(r, i, 10),
                        .token_expires_ms = tw_pg_i64(r, i, 11),
                        .created_ms = tw_pg_i64(r, i, 12)};
    if (x.arn && x.topic_arn && x.protocol && ld->subscription) ld->subscription(ud, &x);
  }
  PQclear(r);
  r = q(c, "SELECT topic_arn, key, msg_id, seqno, expires_ms FROM sns_dedup WHERE expires_ms >= $1",
        pnow, 1, PGRES_TUPLES_OK, &broken);
  if (!r) goto rollback;
  for (int i = 0; i < PQntuples(r); i++) {
    tw_sns_dedup_row d = {.topic_arn = txt(r, i, 0),
                          .key = txt(r, i, 1),
                          .msg_id = txt(r, i, 2),
                          .seqno = (uint64_t)tw_pg_i64(r, i, 3),
                          .expires_ms = tw_pg_i64(r, i, 4)};
    if (d.topic_arn && d.key && d.msg_id && ld->dedup) ld->dedup(ud, &d);
  }
  PQclear(r);
  if (ld->version) ld->version(ud, version);
  rc = 0;
rollback:
  if (!broken) tw_pg_exec(c, rc ? "ROLLBACK" : "COMMIT", "sns load end", &broken);
out:
  tw_pg_put(pg, slot, broken);
  if (rc) tw_error("pg: reading SNS state failed");
  return rc;
}

/* --- FIFO topics: one publisher at a time across the cluster ------------------------- */

static void *fifo_begin(tw_store *s, const char *arn, uint64_t *seqno) {
  tw_pg *pg = tw_pg_s3_pool(s);
  tw_pg_slot *slot = tw_pg_get(pg);
  if (!slot) return NULL;
  PGconn *c = slot->conn;
  int broken = 0;
  const char *p[] = {arn};
  PGresult *r = NULL;
  if (tw_pg_exec(c, "BEGIN", "sns fifo begin", &broken)) goto fail;
  r = q(c, "SELECT pg_advisory_xact_lock(" FIFO_LOCK_CLASS ", hashtext($1))", p, 1, PGRES_TUPLES_OK,
        &broken);
  if (!r) goto fail;
  PQclear(r);
  /* a statement of its own: its snapshot is taken after the lock, so it sees
   * the batch the previous holder waited for */
  r = q(c, "SELECT seqno FROM sns_topics WHERE arn = $1", p, 1, PGRES_TUPLES_OK, &broken);
  if (!r) goto fail;
  *seqno = PQntuples(r) ? (uint64_t)tw_pg_i64(r, 0, 0) : 0;
  PQclear(r);
  return slot;
fail:
  if (!broken) tw_pg_exec(c, "ROLLBACK", "sns fifo rollback", &broken);
  tw_pg_put(pg, slot, broken);
  return NULL;
}

static int fifo_dedup(void *h, const char *arn, const char *key, int64_t now_ms, char msg_id[37],
                      uint64_t *seqno) {
  tw_pg_slot *slot = h;
  char now[24];
  snprintf(now, sizeof now, "%" PRId64, now_ms);
  const char *p[] = {arn, key, now};
  int broken = 0;
  PGresult *r = q(slot->conn,
                  "SELECT msg_id, seqno FROM sns_dedup WHERE topic_arn = $1 AND key = $2"
                  " AND expires_ms >= $3",
                  p, 3, PGRES_TUPLES_OK, &broken);
  if (!r) return -1;
  int found = PQntuples(r) > 0;
  if (found) {
    snprintf(msg_id, 37, "%s", PQgetvalue(r, 0, 0));
    *seqno = (uint64_t)tw_pg_i64(r, 0, 1);
  }
  PQclear(r);
  return found;
}

static void fifo_end(tw_store *s, void *h) {
  tw_pg_slot *slot = h;
  if (!slot) return;
  int broken = 0;
  /* COMMIT of a transaction that only read: it releases the lock */
  tw_pg_exec(slot->conn, "COMMIT", "sns fifo end", &broken);
  tw_pg_put(tw_pg_s3_pool(s), slot, broken);
}

/* --- values every node shares -------------------------------------------------------- */

static char *shared_value(tw_store *s, const char *name, const char *candidate) {
  tw_sql_val v[] = {TW_SQL_S(name), TW_SQL_S(candidate)};
  PGresult *r =
      candidate
          ? tw_pg_s3_read(s,
                          "WITH i AS (INSERT INTO tw_meta VALUES ($1, $2) ON CONFLICT DO NOTHING"
                          " RETURNING value) SELECT value FROM i UNION ALL"
                          " SELECT value FROM tw_meta WHERE key = $1 AND NOT EXISTS (SELECT 1"
                          " FROM i)",
                          v, 2)
          : tw_pg_s3_read(s, "SELECT value FROM tw_meta WHERE key = $1", v, 1);
  if (!r) return NULL;
  char *out = PQntuples(r) ? strdup(PQgetvalue(r, 0, 0)) : NULL;
  PQclear(r);
  if (!out && candidate) { /* another node's insert committed after this statement's snapshot */
    r = tw_pg_s3_read(s, "SELECT value FROM tw_meta WHERE key = $1", v, 1);
    if (!r) return NULL;
    out = PQntuples(r) ? strdup(PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
  }
  return out;
}

const tw_sns_repo tw_pg_sns_repo = {
    .topic_save = topic_save,
    .topic_seqno = topic_seqno,
    .topic_delete = topic_delete,
    .sub_save = sub_save,
    .sub_delete = sub_delete,
    .dedup_put = dedup_put,
    .dedup_prune = dedup_prune,
    .load = load,
    .fifo_begin = fifo_begin,
    .fifo_dedup = fifo_dedup,
    .fifo_end = fifo_end,
    .shared_value = shared_value,
};
