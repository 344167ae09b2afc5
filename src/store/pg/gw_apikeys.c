/* The gateway's API keys on PostgreSQL (cluster mode): table gw_apikeys. A
 * key's creation or revocation notifies every node (channel tw_gw, payload
 * the key's id) in its own batch; each node's listener (below) has the
 * gateway read it again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/pg/pg_gw_internal.h"
#include "store/pg/pg_s3_internal.h"
#include "store/pg_gw.h"

const char *const tw_pg_gw_schema =
    "CREATE TABLE IF NOT EXISTS gw_apikeys (id text PRIMARY KEY, hash text NOT NULL UNIQUE,"
    " name text NOT NULL, prefix text NOT NULL, scopes text NOT NULL, created_ms bigint NOT NULL,"
    " expires_ms bigint NOT NULL DEFAULT 0, revoked_ms bigint, rate double precision,"
    " burst double precision);"
    "CREATE TABLE IF NOT EXISTS gw_jobs (seq bigserial PRIMARY KEY, id text NOT NULL UNIQUE,"
    " type text NOT NULL, status text NOT NULL, attempts integer NOT NULL DEFAULT 0,"
    " created_ms bigint NOT NULL, started_ms bigint, finished_ms bigint, error text,"
    " result_bucket text, result_key text, queue text, owner text, idem_key text,"
    " fingerprint text);"
    "CREATE UNIQUE INDEX IF NOT EXISTS gw_jobs_idem ON gw_jobs (owner, idem_key)"
    " WHERE idem_key IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS gw_jobs_status ON gw_jobs (status, seq);"
    "CREATE TABLE IF NOT EXISTS gw_access_log (id bigserial PRIMARY KEY, time_ms bigint NOT NULL,"
    " principal text, auth text, method text, route text, path text, status integer,"
    " latency_us bigint, bytes_in bigint, bytes_out bigint, request_id text, source_ip text);"
    "CREATE INDEX IF NOT EXISTS gw_access_log_time ON gw_access_log (time_ms);"
    /* throttling state needs no WAL: after a crash every bucket starts full */
    "CREATE UNLOGGED TABLE IF NOT EXISTS gw_throttle (name text PRIMARY KEY,"
    " tokens double precision NOT NULL, at_us bigint NOT NULL, took boolean NOT NULL);";

static uint64_t later(uint64_t a, uint64_t b) {
  return a > b ? a : b;
}

static uint64_t notify(tw_store *s, const char *id) {
  tw_sql_val v[] = {TW_SQL_S(id)};
  return tw_store_exec(s, "SELECT pg_notify('tw_gw', $1)", v, 1);
}

static uint64_t insert(tw_store *s, const tw_gw_apikey_row *k) {
  tw_gw_apikey_nums nums;
  tw_sql_val v[TW_GW_APIKEY_NCOLS];
  tw_gw_apikey_vals(k, &nums, v);
  tw_store_hold(s);
  uint64_t t = tw_store_exec(s,
                             "INSERT INTO gw_apikeys (id, hash, name, prefix, scopes, created_ms,"
                             " expires_ms, revoked_ms, rate, burst) VALUES ($1, $2, $3, $4, $5,"
                             " $6, $7, NULL, $8, $9)",
                             v, 9);
  t = later(t, notify(s, k->id));
  tw_store_release(s);
  return t;
}

static uint64_t key_revoke(tw_store *s, const char *id, int64_t revoked_ms) {
  tw_sql_val v[] = {TW_SQL_I(revoked_ms), TW_SQL_S(id)};
  tw_store_hold(s);
  /* the first revocation's time stays (two nodes revoking at once) */
  uint64_t t = tw_store_exec(
      s, "UPDATE gw_apikeys SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL", v, 2);
  t = later(t, notify(s, id));
  tw_store_release(s);
  return t;
}

#define KEY_COLS                                                                     \
  "SELECT id, hash, name, prefix, scopes, created_ms, expires_ms, revoked_ms, rate," \
  " burst FROM gw_apikeys"

static const char *col(const PGresult *r, int row, int c) {
  return PQgetisnull(r, row, c) ? "" : PQgetvalue(r, row, c);
}

static int each_row(PGresult *r, int (*fn)(void *ud, const tw_gw_apikey_row *row), void *ud) {
  int rc = 0;
  for (int i = 0; i < PQntuples(r) && !rc; i++) {
    tw_gw_apikey_row k = {
        .id = col(r, i, 0),
        .hash = col(r, i, 1),
        .name = col(r, i, 2),
        .prefix = col(r, i, 3),
        .scopes_json = col(r, i, 4),
        .created_ms = tw_pg_i64(r, i, 5),
        .expires_ms = tw_pg_i64(r, i, 6),
        .revoked_ms = tw_pg_i64(r, i, 7),
        .rate = PQgetisnull(r, i, 8) ? -1 : strtod(PQgetvalue(r, i, 8), NULL),
        .burst = PQgetisnull(r, i, 9) ? -1 : strtod(PQgetvalue(r, i, 9), NULL),
    };
    if (fn(ud, &k)) rc = -1;
  }
  return rc;
}

static int list(tw_store *s, int (*fn)(void *ud, const tw_gw_apikey_row *row), void *ud) {
  PGresult *r = tw_pg_s3_read(s, KEY_COLS " ORDER BY created_ms, id", NULL, 0);
  if (!r) return -1;
  int rc = each_row(r, fn, ud);
  PQclear(r);
  return rc;
}

int tw_store_pg_gw_key_find(tw_store *s, const char *hash, const char *id,
                            int (*fn)(void *ud, const tw_gw_apikey_row *row), void *ud) {
  tw_sql_val v[] = {TW_SQL_S(hash ? hash : id)};
  PGresult *r = hash ? tw_pg_s3_read(s, KEY_COLS " WHERE hash = $1", v, 1)
                     : tw_pg_s3_read(s, KEY_COLS " WHERE id = $1", v, 1);
  if (!r) return -1;
  int found = PQntuples(r) > 0;
  int rc = found ? each_row(r, fn, ud) : 0;
  PQclear(r);
  return rc ? -1 : found;
}

const tw_gw_apikeys_repo tw_pg_gw_apikeys_repo = {
    .insert = insert, .revoke = key_revoke, .list = list};

/* --- the listener -------------------------------------------------------------- */

tw_pg_gw_listener *tw_store_pg_gw_listen(tw_store *s, void (*fn)(void *ud, const char *id),
                                         void *ud) {
  return tw_pg_channel_start(tw_pg_s3_pool(s)->url, "tw_gw", "tweedle-gw", fn, ud);
}

void tw_store_pg_gw_listen_stop(tw_pg_gw_listener *l) {
  tw_pg_channel_stop(l);
}

/* --- throttling across the cluster ------------------------------------------------------ */

int tw_store_pg_gw_take(tw_store *s, const char *name, double rate, double burst, double *wait) {
  char r_s[40], b_s[40];
  snprintf(r_s, sizeof r_s, "%.17g", rate);
  snprintf(b_s, sizeof b_s, "%.17g", burst < 1 ? 1 : burst);
  tw_sql_val v[] = {TW_SQL_S(name), TW_SQL_S(r_s), TW_SQL_S(b_s)};
  /* one statement, on PostgreSQL's clock (the nodes' may differ); the row
   * lock orders the takes of one bucket across nodes */
  PGresult *r =
      tw_pg_s3_read(s,
                    "WITH c AS (SELECT (extract(epoch FROM clock_timestamp()) * 1e6)::bigint AS us)"
                    " INSERT INTO gw_throttle AS t (name, tokens, at_us, took)"
                    " SELECT $1, $3::float8 - 1, us, true FROM c"
                    " ON CONFLICT (name) DO UPDATE SET"
                    " took = LEAST($3::float8, t.tokens + GREATEST(0, EXCLUDED.at_us - t.at_us)"
                    " * $2::float8 / 1e6) >= 1,"
                    " tokens = LEAST($3::float8, t.tokens + GREATEST(0, EXCLUDED.at_us - t.at_us)"
                    " * $2::float8 / 1e6) - CASE WHEN LEAST($3::float8, t.tokens + GREATEST(0,"
                    " EXCLUDED.at_us - t.at_us) * $2::float8 / 1e6) >= 1 THEN 1 ELSE 0 END,"
                    " at_us = EXCLUDED.at_us RETURNING took, tokens",
                    v, 3);
  if (!r) return -1;
  int rc = PQntuples(r) == 1 ? 0 : -1;
  if (!rc) {
    int took = PQgetvalue(r, 0, 0)[0] == 't';
    double tokens = strtod(PQgetvalue(r, 0, 1), NULL);
    *wait = took ? 0 : (1 - tokens) / rate;
  }
  PQclear(r);
  return rc;
}
