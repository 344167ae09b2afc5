/* The S3 store on PostgreSQL (pg_s3.h): the writer backend (one transaction
 * per batch on a pooled connection), reads on the pool, the schema's S3
 * tables and the tw_s3 notification listener. */
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/pg/pg_eb_internal.h"
#include "store/pg/pg_gw_internal.h"
#include "store/pg/pg_s3_internal.h"
#include "store/pg/pg_sns_internal.h"
#include "store/pg_s3.h"

/* The S3 tables (schema version 2), created with the rest (pg.c). Keys are
 * bytea: they compare and sort as bytes, as S3 lists them. */
const char *const tw_pg_s3_schema =
    "CREATE TABLE IF NOT EXISTS s3_buckets (name text PRIMARY KEY, created_ms bigint NOT NULL,"
    " region text, owner text, notification text, lifecycle text, cors text, policy text,"
    " tags text, versioning text, public_access_block text, ownership text, acl text);"
    "CREATE TABLE IF NOT EXISTS s3_objects (bucket text NOT NULL, key bytea NOT NULL,"
    " size bigint, etag text, modified_ms bigint, blob text, content_type text, headers text,"
    " meta text, checksums text, parts bigint, tags text, mpu_parts text, version_id text,"
    " vseq bigint, acl text, PRIMARY KEY (bucket, key));"
    "CREATE INDEX IF NOT EXISTS s3_objects_age ON s3_objects (bucket, modified_ms);"
    "CREATE TABLE IF NOT EXISTS s3_object_versions (bucket text NOT NULL, key bytea NOT NULL,"
    " vseq bigint NOT NULL, version_id text, marker integer NOT NULL DEFAULT 0, size bigint,"
    " etag text, modified_ms bigint, blob text, content_type text, headers text, meta text,"
    " checksums text, parts bigint, tags text, mpu_parts text, noncurrent_ms bigint, acl text,"
    " PRIMARY KEY (bucket, key, vseq));"
    "CREATE TABLE IF NOT EXISTS s3_uploads (id text PRIMARY KEY, bucket text NOT NULL,"
    " key bytea NOT NULL, initiated_ms bigint, content_type text, headers text, meta text,"
    " tags text, checksum_algo text, checksum_type text);"
    "CREATE INDEX IF NOT EXISTS s3_uploads_age ON s3_uploads (bucket, initiated_ms);"
    "CREATE TABLE IF NOT EXISTS s3_parts (upload_id text NOT NULL, num bigint NOT NULL,"
    " size bigint, etag text, blob text, modified_ms bigint, checksum text,"
    " PRIMARY KEY (upload_id, num));"
    "CREATE TABLE IF NOT EXISTS s3_uploads_done (id text PRIMARY KEY, bucket text, key bytea,"
    " parts text, result text, done_ms bigint);"
    "CREATE INDEX IF NOT EXISTS s3_uploads_done_age ON s3_uploads_done (done_ms);";

#define MAXP 24

/* This thread's last read failed for want of PostgreSQL: its request's
 * error is 503, even when another thread's read succeeded meanwhile. */
static _Thread_local int read_failed;

typedef struct {
  tw_pg *pg;
  char url[1024];
  tw_pg_slot *w; /* the writer's connection during a batch */
  int w_broken;
  int away;                /* atomic: the last read or batch failed on the connection */
  tw_pg_channel *listener; /* LISTEN tw_s3 */
  tw_pg_state *state;      /* LISTEN tw_state (pg_state.c) */
} pg_s3;

/* Statement parameters: text for numbers and strings, binary for bytea. */
typedef struct {
  const char *v[MAXP];
  int len[MAXP], fmt[MAXP];
  char num[MAXP][24];
} params;

static int params_of(params *p, const tw_sql_val *vals, int n) {
  if (n > MAXP) return -1;
  for (int i = 0; i < n; i++) {
    p->fmt[i] = 0;
    p->len[i] = 0;
    switch (vals[i].type) {
      case TW_SQL_INT:
        snprintf(p->num[i], sizeof p->num[i], "%" PRId64, vals[i].i);
        p->v[i] = p->num[i];
        break;
      case TW_SQL_TEXT:
        p->v[i] = vals[i].s;
        break;
      case TW_SQL_BLOB:
        p->v[i] = vals[i].n ? vals[i].s : "";
        p->len[i] = (int)vals[i].n;
        p->fmt[i] = 1;
        break;
      default:
        p->v[i] = NULL;
    }
  }
  return 0;
}

static PGresult *run(PGconn *c, const char *sql, const tw_sql_val *vals, int n) {
  params p;
  if (params_of(&p, vals, n)) return NULL;
  return PQexecParams(c, sql, n, NULL, p.v, p.len, p.fmt, 0);
}

/* --- the writer's backend ----------------------------------------------------- */

static int be_begin(void *ud) {
  pg_s3 *x = ud;
  /* a connection found broken at BEGIN (the server closed it: a restart)
   * is dropped and BEGIN tried once more on another: nothing was done yet */
  for (int attempt = 0; attempt < 2; attempt++) {
    x->w = tw_pg_get(x->pg);
    x->w_broken = 0;
    if (!x->w) {
      __atomic_store_n(&x->away, 1, __ATOMIC_RELAXED);
      tw_warn("pg: S3 batch: no connection to PostgreSQL");
      return -1;
    }
    if (!tw_pg_exec(x->w->conn, "BEGIN", "s3 begin", &x->w_broken)) return 0;
    if (x->w_broken) __atomic_store_n(&x->away, 1, __ATOMIC_RELAXED);
    tw_pg_put(x->pg, x->w, x->w_broken);
    x->w = NULL;
    if (!x->w_broken) break;
  }
  return -1;
}

static int be_exec(void *ud, const char *sql, const tw_sql_val *vals, int n) {
  pg_s3 *x = ud;
  PGresult *r = run(x->w->conn, sql, vals, n);
  ExecStatusType want =
      r && PQresultStatus(r) == PGRES_TUPLES_OK ? PGRES_TUPLES_OK : PGRES_COMMAND_OK;
  int rc = tw_pg_check(x->w->conn, &r, want, sql, &x->w_broken);
  PQclear(r);
  return rc ? -1 : 0;
}

static int be_commit(void *ud) {
  pg_s3 *x = ud;
  if (tw_pg_exec(x->w->conn, "COMMIT", "s3 commit", &x->w_broken)) return -1;
  tw_pg_put(x->pg, x->w, x->w_broken);
  x->w = NULL;
  __atomic_store_n(&x->away, 0, __ATOMIC_RELAXED);
  return 0;
}

static void be_rollback(void *ud) {
  pg_s3 *x = ud;
  if (!x->w) return;
  if (x->w_broken) __atomic_store_n(&x->away, 1, __ATOMIC_RELAXED);
  if (!x->w_broken) tw_pg_exec(x->w->conn, "ROLLBACK", "s3 rollback", &x->w_broken);
  tw_pg_put(x->pg, x->w, x->w_broken);
  x->w = NULL;
}

static void be_close(void *ud) {
  pg_s3 *x = ud;
  tw_pg_channel_stop(x->listener);
  tw_pg_state_free(x->state);
  tw_pg_close(x->pg);
  free(x);
}

static const tw_store_backend backend = {
    .begin = be_begin,
    .exec = be_exec,
    .commit = be_commit,
    .rollback = be_rollback,
    .close = be_close,
};

static const tw_store_repos repos = {
    .s3_buckets = &tw_pg_s3_buckets_repo,
    .s3_objects = &tw_pg_s3_objects_repo,
    .s3_uploads = &tw_pg_s3_uploads_repo,
    .s3_lifecycle = &tw_pg_s3_lifecycle_repo,
    .s3_refs = &tw_pg_s3_refs_repo,
    .gw_apikeys = &tw_pg_gw_apikeys_repo, /* the gateway's (gw_*.c) */
    .gw_jobs = &tw_pg_gw_jobs_repo,
    .gw_access_log = &tw_pg_gw_access_log_repo,
    .cw_metrics = &tw_pg_metrics_repo, /* CloudWatch (cw.c) */
    .cw_alarms = &tw_pg_cw_alarms_repo,
    .eventbridge = &tw_pg_eb_repo, /* EventBridge's (eventbridge.c) */
    .eb_delivery = &tw_pg_eb_delivery_repo,
    .sns = &tw_pg_sns_repo, /* SNS's (sns.c, sns_outbox.c) */
    .sns_outbox = &tw_pg_sns_outbox_repo,
    .cw_logs = &tw_pg_logs_repo, /* CloudWatch Logs (cw_logs.c) */
};

tw_store *tw_store_open_pg_s3(const char *url, int pool, char *err, size_t errlen) {
  pg_s3 *x = calloc(1, sizeof *x);
  if (!x) return NULL;
  snprintf(x->url, sizeof x->url, "%s", url);
  /* the writer holds one connection during a batch: one more than the readers */
  x->pg = tw_pg_open(url, pool + 1, err, errlen);
  if (!x->pg) {
    free(x);
    return NULL;
  }
  tw_store *s = tw_store_open_backend(&backend, x, &repos);
  if (!s) {
    tw_pg_close(x->pg);
    free(x);
    snprintf(err, errlen, "out of memory");
  }
  return s;
}

int tw_store_pg_s3_unavailable(tw_store *s) {
  pg_s3 *x = tw_store_backend_data(s);
  return read_failed || __atomic_load_n(&x->away, __ATOMIC_RELAXED);
}

const char *tw_pg_s3_url(tw_store *s) {
  pg_s3 *x = tw_store_backend_data(s);
  return x ? x->url : NULL; /* NULL: not this store */
}

tw_pg_state **tw_pg_s3_state(tw_store *s) {
  pg_s3 *x = tw_store_backend_data(s);
  return x ? &x->state : NULL;
}

tw_pg *tw_pg_s3_pool(tw_store *s) {
  pg_s3 *x = tw_store_backend_data(s);
  return x->pg;
}

uint64_t tw_store_pg_s3_notify(tw_store *s, const char *bucket) {
  tw_sql_val v[] = {TW_SQL_S(bucket)};
  return tw_store_exec(s, "SELECT pg_notify('tw_s3', $1)", v, 1);
}

/* --- reads --------------------------------------------------------------------- */

PGresult *tw_pg_s3_read(tw_store *s, const char *sql, const tw_sql_val *vals, int n) {
  pg_s3 *x = tw_store_backend_data(s);
  PGresult *r = NULL;
  int broken = 0;
  /* a read is safe to repeat: a connection found broken (the server closed
   * it, a restart) is dropped and the read tried once more on another (or a
   * new one), which fails at once while PostgreSQL is away */
  for (int attempt = 0; attempt < 2 && (attempt == 0 || broken); attempt++) {
    tw_pg_slot *slot = tw_pg_get(x->pg);
    if (!slot) {
      read_failed = 1;
      __atomic_store_n(&x->away, 1, __ATOMIC_RELAXED);
      return NULL;
    }
    broken = 0;
    r = run(slot->conn, sql, vals, n);
    if (tw_pg_check(slot->conn, &r, PGRES_TUPLES_OK, sql, &broken)) r = NULL;
    tw_pg_put(x->pg, slot, broken);
  }
  read_failed = broken;
  if (r || broken) __atomic_store_n(&x->away, broken, __ATOMIC_RELAXED);
  return r;
}

unsigned char *tw_pg_s3_bytes(const PGresult *r, int row, int col, size_t *len) {
  size_t n = 0;
  unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
  if (!b) return NULL;
  unsigned char *out = malloc(n + 1);
  if (out) {
    if (n) memcpy(out, b, n);
    out[n] = 0;
    *len = n;
  }
  PQfreemem(b);
  return out;
}

const char *tw_pg_s3_text(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* --- the listener -------------------------------------------------------------- */

int tw_store_pg_s3_listen(tw_store *s, void (*fn)(void *ud, const char *bucket), void *ud) {
  pg_s3 *x = tw_store_backend_data(s);
  x->listener = tw_pg_channel_start(x->url, "tw_s3", "tweedle-s3", fn, ud);
  return x->listener ? 0 : -1;
}
