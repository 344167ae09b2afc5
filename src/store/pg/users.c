/* The cluster's users on PostgreSQL (pg_users.h): table tw_users. Secrets are
 * stored as given (SigV4 needs them to compute signatures), as tw_meta keeps
 * the receipt-handle key: docs/cluster.md says what protects them. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "store/pg/pg_s3_internal.h"
#include "store/pg_users.h"

const char *const tw_pg_users_schema =
    "CREATE TABLE IF NOT EXISTS tw_users (access_key text PRIMARY KEY, secret text NOT NULL,"
    " name text NOT NULL, policies text, ord bigserial, created_ms bigint NOT NULL);";

static PGresult *q(PGconn *c, const char *sql, int n, const char *const *p) {
  return PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
}

static int put_once(PGconn *c, const tw_pg_user *users, size_t n, const tw_pg_user *gen,
                    int *broken) {
  char now[24];
  snprintf(now, sizeof now, "%" PRId64, tw_now_ms());
  int rc = tw_pg_exec(c, "BEGIN", "users begin", broken);
  if (!rc) {
    PGresult *r = PQexec(c,
                         "WITH u AS (INSERT INTO tw_state VALUES ('users', 1) ON CONFLICT (name)"
                         " DO UPDATE SET version = tw_state.version + 1 RETURNING name)"
                         " SELECT pg_notify('tw_state', name) FROM u");
    rc = tw_pg_check(c, &r, PGRES_TUPLES_OK, "users counter", broken);
    PQclear(r);
  }
  for (size_t i = 0; !rc && i < n; i++) {
    const char *p[] = {users[i].access_key, users[i].secret, users[i].name, users[i].policies, now};
    PGresult *r = q(c,
                    "INSERT INTO tw_users (access_key, secret, name, policies, created_ms)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (access_key) DO UPDATE SET"
                    " secret = EXCLUDED.secret, name = EXCLUDED.name, policies = EXCLUDED.policies",
                    5, p);
    rc = tw_pg_check(c, &r, PGRES_COMMAND_OK, "user upsert", broken);
    PQclear(r);
  }
  if (!rc && gen) {
    const char *p[] = {gen->access_key, gen->secret, gen->name, gen->policies, now};
    PGresult *r = q(c,
                    "INSERT INTO tw_users (access_key, secret, name, policies, created_ms)"
                    " SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM tw_users)",
                    5, p);
    rc = tw_pg_check(c, &r, PGRES_COMMAND_OK, "generated user", broken);
    PQclear(r);
  }
  if (!rc) rc = tw_pg_exec(c, "COMMIT", "users commit", broken);
  if (rc && !*broken) {
    int b = 0;
    tw_pg_exec(c, "ROLLBACK", "users rollback", &b);
    if (b) *broken = 1;
  }
  return rc;
}

int tw_store_pg_users_put(tw_store *s, const tw_pg_user *users, size_t n,
                          const tw_pg_user *generated) {
  tw_pg *pg = tw_pg_s3_pool(s);
  if (!pg) return -1;
  tw_pg_slot *slot = tw_pg_get(pg);
  if (!slot) return -1;
  int broken = 0;
  int rc = put_once(slot->conn, users, n, generated, &broken);
  tw_pg_put(pg, slot, broken);
  return rc ? -1 : 0;
}

int tw_store_pg_users_load(tw_store *s, int (*fn)(void *ud, const tw_pg_user *u), void *ud,
                           int64_t *version) {
  tw_pg *pg = tw_pg_s3_pool(s);
  if (!pg) return -1;
  tw_pg_slot *slot = tw_pg_get(pg);
  if (!slot) return -1;
  PGconn *c = slot->conn;
  int broken = 0;
  PGresult *v = NULL, *r = NULL;
  int rc = tw_pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "users begin", &broken);
  if (!rc) {
    v = PQexec(c, "SELECT version FROM tw_state WHERE name = 'users'");
    rc = tw_pg_check(c, &v, PGRES_TUPLES_OK, "users counter", &broken);
  }
  if (!rc) {
    r = PQexec(c, "SELECT access_key, secret, name, policies FROM tw_users ORDER BY ord");
    rc = tw_pg_check(c, &r, PGRES_TUPLES_OK, "users", &broken);
  }
  if (!rc) rc = tw_pg_exec(c, "COMMIT", "users commit", &broken);
  if (rc && !broken) {
    int b = 0;
    tw_pg_exec(c, "ROLLBACK", "users rollback", &b);
    if (b) broken = 1;
  }
  tw_pg_put(pg, slot, broken);
  if (!rc) {
    *version = PQntuples(v) ? tw_pg_i64(v, 0, 0) : 0;
    for (int i = 0; i < PQntuples(r); i++) {
      tw_pg_user u = {.access_key = PQgetvalue(r, i, 0),
                      .secret = PQgetvalue(r, i, 1),
                      .name = PQgetvalue(r, i, 2),
                      .policies = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3)};
      if (fn(ud, &u)) break;
    }
  }
  PQclear(v);
  PQclear(r);
  return rc ? -1 : 0;
}
