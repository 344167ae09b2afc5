/* The PostgreSQL store's plumbing: a small pool of connections per node,
 * reconnection with backoff, the schema (created idempotently, versioned in
 * tw_meta), the cluster's receipt-handle secret, and the LISTEN thread that
 * carries "messages are visible" notifications between nodes. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "store/pg/pg_internal.h"

/* 2: the S3 tables (s3_store.c); 3: the gateway's (gw_apikeys.c); 4: the change
 * counters (pg_state.c) and the tables of SNS, EventBridge, CloudWatch, Logs */
#define SCHEMA_VERSION "4"
#define SCHEMA_LOCK 0x747765656431LL /* pg_advisory_lock key while creating the schema */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define GET_WAIT_MS 5000 /* the longest wait for a free connection */

static const char *schema_sql =
    "CREATE TABLE IF NOT EXISTS tw_meta (key text PRIMARY KEY, value text NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sqs_queues ("
    " id bigserial PRIMARY KEY, name text NOT NULL UNIQUE, fifo boolean NOT NULL,"
    " created bigint NOT NULL, modified bigint NOT NULL, attrs text NOT NULL,"
    " tags text NOT NULL, policy text, last_purge_ms bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS sqs_deleted_names (name text PRIMARY KEY,"
    " deleted_ms bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sqs_messages ("
    " seq bigserial PRIMARY KEY,"
    " queue_id bigint NOT NULL REFERENCES sqs_queues(id) ON DELETE CASCADE,"
    " msg_id text NOT NULL, body text NOT NULL, attrs text, sys text, sender_id text, group_id "
    "text,"
    " sent_ms bigint NOT NULL, visible_at_ms bigint NOT NULL,"
    " first_receive_ms bigint NOT NULL DEFAULT 0, received_ms bigint NOT NULL DEFAULT 0,"
    " receive_count integer NOT NULL DEFAULT 0, nonce integer NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS sqs_messages_ready ON sqs_messages (queue_id, visible_at_ms);";

static int64_t now_ms(void) {
  return tw_mono_ms();
}

int64_t tw_pg_i64(const PGresult *r, int row, int col) {
  if (PQgetisnull(r, row, col)) return 0;
  return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

char *tw_pg_dup(const PGresult *r, int row, int col) {
  if (PQgetisnull(r, row, col)) return NULL;
  size_t n = (size_t)PQgetlength(r, row, col);
  char *s = malloc(n + 1);
  if (!s) return NULL;
  memcpy(s, PQgetvalue(r, row, col), n);
  s[n] = 0;
  return s;
}

/* Connection errors (class 08), shutdown and recovery (57P01..57P03), and a
 * read-only server after a failover (25006): PostgreSQL is away for now. */
static int unavailable_state(const char *st) {
  return st && (!strncmp(st, "08", 2) || !strncmp(st, "57P", 3) || !strcmp(st, "25006"));
}

int tw_pg_check(PGconn *c, PGresult **res, ExecStatusType want, const char *what, int *broken) {
  ExecStatusType st = *res ? PQresultStatus(*res) : PGRES_FATAL_ERROR;
  if (st == want) return TW_PG_OK;
  const char *state = *res ? PQresultErrorField(*res, PG_DIAG_SQLSTATE) : NULL;
  int rc = TW_PG_ERROR;
  if (PQstatus(c) != CONNECTION_OK || unavailable_state(state)) {
    *broken = 1;
    rc = TW_PG_UNAVAILABLE;
    tw_warn("pg: %s: PostgreSQL unavailable: %s", what, PQerrorMessage(c));
  } else if (state && !strcmp(state, "23505")) {
    rc = TW_PG_EXISTS; /* unique violation: the caller decides */
  } else if (state && !strcmp(state, "23503")) {
    rc = TW_PG_NOT_FOUND; /* foreign key: the queue was deleted meanwhile */
  } else {
    tw_error("pg: %s failed (%s): %s", what, state ? state : "-",
             *res ? PQresultErrorMessage(*res) : PQerrorMessage(c));
  }
  PQclear(*res);
  *res = NULL;
  return rc;
}

int tw_pg_exec(PGconn *c, const char *sql, const char *what, int *broken) {
  PGresult *r = PQexec(c, sql);
  int rc = tw_pg_check(c, &r, PGRES_COMMAND_OK, what, broken);
  PQclear(r);
  return rc;
}

/* TCP keepalives and a user timeout: a PostgreSQL host that vanishes
 * without closing its connections (a partition, a failover) fails them
 * within about 10 s instead of the kernel's 2 hours (a waiting query, an
 * idle listener). Settings in the URL win (they come after these). */
#define KEEPALIVE_KEYS \
  "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout"
#define KEEPALIVE_VALS "5", "2", "3", "10000"

static PGconn *connect_now(const char *url, char *err, size_t errlen) {
  /* a bounded connect: a PostgreSQL that is away must not hang requests */
  const char *keys[] = {KEEPALIVE_KEYS, "dbname", "connect_timeout", "application_name", NULL};
  const char *vals[] = {KEEPALIVE_VALS, url, "2", "tweedle", NULL};
  PGconn *c = PQconnectdbParams(keys, vals, 1);
  if (!c || PQstatus(c) != CONNECTION_OK) {
    if (err) snprintf(err, errlen, "%s", c ? PQerrorMessage(c) : "out of memory");
    PQfinish(c);
    return NULL;
  }
  return c;
}

/* Connects slots[from..nslots) at once (non-blocking connects, polled
 * together, at most 5 s): a node's start does not pay one round of
 * connection set-up per slot. A slot that fails stays unconnected: it
 * connects on first use. */
static void connect_pool(tw_pg *pg, int from) {
  int n = pg->nslots - from;
  if (n <= 0) return;
  const char *keys[] = {KEEPALIVE_KEYS, "dbname", "application_name", NULL};
  const char *vals[] = {KEEPALIVE_VALS, pg->url, "tweedle", NULL};
  PGconn **c = calloc((size_t)n, sizeof *c);
  PostgresPollingStatusType *st = calloc((size_t)n, sizeof *st);
  struct pollfd *pfd = calloc((size_t)n, sizeof *pfd);
  if (!c || !st || !pfd) goto out;
  for (int i = 0; i < n; i++) {
    c[i] = PQconnectStartParams(keys, vals, 1);
    st[i] = c[i] && PQstatus(c[i]) != CONNECTION_BAD ? PGRES_POLLING_WRITING : PGRES_POLLING_FAILED;
  }
  int64_t until = now_ms() + 5000;
  for (;;) {
    int waiting = 0;
    for (int i = 0; i < n; i++) {
      pfd[i].fd = -1; /* poll ignores it */
      if (st[i] == PGRES_POLLING_READING || st[i] == PGRES_POLLING_WRITING) {
        pfd[i].fd = PQsocket(c[i]);
        pfd[i].events = st[i] == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        waiting++;
      }
    }
    int64_t left = until - now_ms();
    if (!waiting || left <= 0) break;
    if (poll(pfd, (nfds_t)n, (int)(left < 100 ? left : 100)) < 0 && errno != EINTR) break;
    for (int i = 0; i < n; i++)
      if (pfd[i].fd >= 0 && pfd[i].revents) st[i] = PQconnectPoll(c[i]);
  }
  int ok = 0;
  for (int i = 0; i < n; i++) {
    if (st[i] == PGRES_POLLING_OK && PQstatus(c[i]) == CONNECTION_OK) {
      pg->slots[from + i].conn = c[i];
      ok++;
    } else {
      PQfinish(c[i]);
    }
  }
  if (ok < n)
    tw_warn("pg: %d of %d connections at start (the others on first use)", ok + from, pg->nslots);
out:
  free(c);
  free(st);
  free(pfd);
}

/* An idle connection has nothing to read unless the server is closing it
 * (its FATAL message, then EOF): one poll, no round trip. Anything to read
 * makes it dead: libpq may consume the FATAL message and still report the
 * connection OK until it reads the EOF, and the pool's connections neither
 * LISTEN nor SET anything that the server would report unasked. */
static int conn_dead(PGconn *c) {
  if (PQstatus(c) != CONNECTION_OK) return 1;
  struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
  return poll(&pfd, 1, 0) != 0;
}

/* Connects a free slot marked busy by the caller (the pool's lock not held
 * while connecting). While PostgreSQL is up, slots connect in parallel; once
 * an attempt failed, one attempt at a time probes it, at most once per
 * backoff period, and the other callers answer "unavailable" at once. */
static tw_pg_slot *connect_slot(tw_pg *pg, tw_pg_slot *s, int probe) {
  if (probe) pg->probing = 1;
  pthread_mutex_unlock(&pg->mu);
  char err[256];
  PGconn *c = connect_now(pg->url, err, sizeof err);
  pthread_mutex_lock(&pg->mu);
  if (probe) pg->probing = 0;
  if (c) {
    s->conn = c;
    if (pg->down) tw_info("pg: connected again");
    pg->down = 0;
    pg->backoff_ms = BACKOFF_MIN_MS;
    pthread_cond_broadcast(&pg->cv); /* the others may connect now */
  } else {
    s->busy = 0;
    if (!pg->down || probe) {
      pg->down = 1;
      pg->retry_at_ms = now_ms() + pg->backoff_ms;
      tw_warn("pg: cannot connect (retry in %d ms): %s", pg->backoff_ms, err);
      pg->backoff_ms = pg->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : pg->backoff_ms * 2;
    }
    pthread_cond_broadcast(&pg->cv);
    s = NULL;
  }
  pthread_mutex_unlock(&pg->mu);
  return s;
}

tw_pg_slot *tw_pg_get(tw_pg *pg) {
  pthread_mutex_lock(&pg->mu);
  int64_t until = now_ms() + GET_WAIT_MS;
  for (;;) {
    tw_pg_slot *s = NULL, *spare = NULL; /* spare: free, not connected */
    for (int i = 0; i < pg->nslots && !s; i++) {
      tw_pg_slot *x = &pg->slots[i];
      if (x->busy) continue;
      if (x->conn && conn_dead(x->conn)) { /* the server closed it: a restart, a failover */
        PQfinish(x->conn);
        x->conn = NULL;
      }
      if (x->conn)
        s = x;
      else if (!spare)
        spare = x;
    }
    if (s) {
      s->busy = 1;
      pthread_mutex_unlock(&pg->mu);
      return s;
    }
    if (spare && !pg->down) {
      spare->busy = 1;
      return connect_slot(pg, spare, 0);
    }
    if (spare && !pg->probing && now_ms() >= pg->retry_at_ms) {
      spare->busy = 1;
      return connect_slot(pg, spare, 1);
    }
    if (spare && !pg->probing) break; /* away, and not yet time to try again */
    /* every connection in use, or a probe under way: wait for it (bounded) */
    int64_t left = until - now_ms();
    if (left <= 0) {
      if (!spare) tw_warn("pg: no free connection within %d ms", GET_WAIT_MS);
      break;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (left < 1000 ? left : 1000) * 1000000LL;
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_cond_timedwait(&pg->cv, &pg->mu, &ts);
  }
  pthread_mutex_unlock(&pg->mu);
  return NULL;
}

void tw_pg_put(tw_pg *pg, tw_pg_slot *s, int broken) {
  if (!s) return;
  if (broken || PQstatus(s->conn) != CONNECTION_OK ||
      PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
    PQfinish(s->conn);
    s->conn = NULL;
  }
  pthread_mutex_lock(&pg->mu);
  s->busy = 0;
  pthread_cond_broadcast(&pg->cv);
  pthread_mutex_unlock(&pg->mu);
}

static int create_schema(PGconn *c, char *err, size_t errlen) {
  int broken = 0;
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT pg_advisory_lock(%lld)", SCHEMA_LOCK);
  PGresult *r = PQexec(c, sql);
  if (tw_pg_check(c, &r, PGRES_TUPLES_OK, "schema lock", &broken)) {
    snprintf(err, errlen, "cannot lock the schema: %s", PQerrorMessage(c));
    return -1;
  }
  PQclear(r);
  /* A database already at this version is left alone: even IF NOT EXISTS
   * DDL takes table locks that would queue behind (and block) the traffic of
   * the nodes already serving while this one starts. */
  r = PQexec(c, "SELECT value FROM tw_meta WHERE key = 'schema_version'");
  int current = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
                !strcmp(PQgetvalue(r, 0, 0), SCHEMA_VERSION);
  PQclear(r); /* no tw_meta yet (a new database): the error is the answer */
  int rc = current ? 0 : tw_pg_exec(c, schema_sql, "schema", &broken);
  if (!rc && !current) rc = tw_pg_exec(c, tw_pg_sqs_schema_more, "sqs schema", &broken);
  if (!rc && !current) rc = tw_pg_exec(c, tw_pg_s3_schema, "s3 schema", &broken); /* 2 */
  if (!rc && !current) rc = tw_pg_exec(c, tw_pg_s3_settings_schema, "s3 settings schema", &broken);
  if (!rc && !current) rc = tw_pg_exec(c, tw_pg_users_schema, "users schema", &broken);
  if (!rc && !current) rc = tw_pg_exec(c, tw_pg_gw_schema, "gateway schema", &broken); /* 3 */
  if (!rc && !current) rc = tw_pg_exec(c, tw_pg_cw_schema, "cloudwatch schema", &broken);
  if (!rc && !current) rc = tw_pg_exec(c, tw_pg_eb_schema, "eventbridge schema", &broken);
  if (!rc && !current) rc = tw_pg_exec(c, tw_pg_state_schema, "state schema", &broken); /* 4 */
  if (!rc && !current) rc = tw_pg_exec(c, tw_pg_sns_schema, "sns schema", &broken);
  if (!rc && !current) rc = tw_pg_exec(c, tw_pg_logs_schema, "logs schema", &broken);
  if (!rc && !current) rc = tw_pg_exec(c, tw_pg_console_schema, "console schema", &broken);
  if (!rc) /* an older version's database has the new tables now: it is this version */
    rc = tw_pg_exec(c,
                    "INSERT INTO tw_meta VALUES ('schema_version', '" SCHEMA_VERSION
                    "') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                    " WHERE tw_meta.value::int < EXCLUDED.value::int",
                    "schema version", &broken);
  if (!rc) {
    uint8_t sec[32];
    char hex[65];
    tw_random_bytes(sec, sizeof sec);
    tw_hex(sec, sizeof sec, hex);
    const char *p[] = {hex};
    r = PQexecParams(c, "INSERT INTO tw_meta VALUES ('receipt_secret', $1) ON CONFLICT DO NOTHING",
                     1, NULL, p, NULL, NULL, 0);
    rc = tw_pg_check(c, &r, PGRES_COMMAND_OK, "receipt secret", &broken);
    PQclear(r);
  }
  if (!rc) {
    r = PQexec(c, "SELECT value FROM tw_meta WHERE key = 'schema_version'");
    rc = tw_pg_check(c, &r, PGRES_TUPLES_OK, "schema version", &broken);
    if (!rc && (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), SCHEMA_VERSION))) {
      snprintf(err, errlen, "the database holds schema version %s; this tweedle knows %s",
               PQntuples(r) ? PQgetvalue(r, 0, 0) : "?", SCHEMA_VERSION);
      PQclear(r);
      return -1;
    }
    PQclear(r);
  }
  snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock(%lld)", SCHEMA_LOCK);
  PQclear(PQexec(c, sql));
  if (rc) snprintf(err, errlen, "cannot create the schema: %s", PQerrorMessage(c));
  return rc ? -1 : 0;
}

tw_pg *tw_pg_open(const char *url, int pool, char *err, size_t errlen) {
  tw_pg *pg = calloc(1, sizeof *pg);
  if (!pg) return NULL;
  snprintf(pg->url, sizeof pg->url, "%s", url);
  pthread_mutex_init(&pg->mu, NULL);
  pthread_cond_init(&pg->cv, NULL);
  pg->nslots = pool < 1 ? 1 : pool;
  pg->slots = calloc((size_t)pg->nslots, sizeof *pg->slots);
  pg->backoff_ms = BACKOFF_MIN_MS;
  pg->sendq = tw_pg_sendq_new();
  char e[256];
  /* PostgreSQL may still be starting (a node started with it): try for 10 s */
  int64_t until = now_ms() + 10000;
  PGconn *c = NULL;
  while (!(c = connect_now(url, e, sizeof e)) && now_ms() < until) usleep(200000);
  if (!c) {
    snprintf(err, errlen, "cannot connect to PostgreSQL: %s", e);
    tw_pg_close(pg);
    return NULL;
  }
  if (create_schema(c, err, errlen)) {
    PQfinish(c);
    tw_pg_close(pg);
    return NULL;
  }
  pg->slots[0].conn = c;
  /* the whole pool now: a burst of first requests finds its connections */
  connect_pool(pg, 1);
  return pg;
}

void tw_pg_close(tw_pg *pg) {
  if (!pg) return;
  tw_pg_listen_stop(pg);
  for (int i = 0; i < pg->nslots; i++) PQfinish(pg->slots[i].conn);
  free(pg->slots);
  tw_pg_sendq_free(pg->sendq);
  pthread_mutex_destroy(&pg->mu);
  pthread_cond_destroy(&pg->cv);
  free(pg);
}

int tw_pg_secret(tw_pg *pg, uint8_t out[32]) {
  tw_pg_slot *s = tw_pg_get(pg);
  if (!s) return TW_PG_UNAVAILABLE;
  int broken = 0;
  PGresult *r = PQexec(s->conn, "SELECT value FROM tw_meta WHERE key = 'receipt_secret'");
  int rc = tw_pg_check(s->conn, &r, PGRES_TUPLES_OK, "receipt secret", &broken);
  if (!rc) {
    const char *v = PQntuples(r) ? PQgetvalue(r, 0, 0) : "";
    if (strlen(v) != 64) {
      rc = TW_PG_ERROR;
    } else {
      for (int i = 0; i < 32; i++) {
        unsigned x;
        sscanf(v + 2 * i, "%2x", &x);
        out[i] = (uint8_t)x;
      }
    }
  }
  PQclear(r);
  tw_pg_put(pg, s, broken);
  return rc;
}

/* --- the listener ------------------------------------------------------------ */

static void *listen_main(void *arg) {
  tw_pg *pg = arg;
  PGconn *c = NULL;
  int backoff = BACKOFF_MIN_MS;
  int64_t retry_at = 0;
  while (!__atomic_load_n(&pg->stop, __ATOMIC_ACQUIRE)) {
    if (!c && now_ms() >= retry_at) {
      c = connect_now(pg->url, NULL, 0);
      int broken = 0;
      if (c && tw_pg_exec(c, "LISTEN tw_sqs", "listen", &broken)) {
        PQfinish(c);
        c = NULL;
      }
      if (c) {
        backoff = BACKOFF_MIN_MS;
        pg->notify(pg->ud, 0, 0); /* what was sent while away: everyone looks again */
      } else {
        retry_at = now_ms() + backoff;
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
      }
    }
    if (c) {
      struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
      int pr = poll(&pfd, 1, 50);
      if (pr > 0 && (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK)) {
        tw_warn("pg: the listener lost its connection: %s", PQerrorMessage(c));
        PQfinish(c);
        c = NULL;
        continue;
      }
      PGnotify *n;
      while ((n = PQnotifies(c))) {
        long long qid = 0;
        int cnt = 1;
        /* 'QID:N', or 'QID:N:MSGID' (S3 events, s3_events.c): the rest is ignored */
        if (sscanf(n->extra ? n->extra : "", "%lld:%d", &qid, &cnt) >= 1 && qid > 0)
          pg->notify(pg->ud, (int64_t)qid, cnt > 0 ? cnt : 1);
        PQfreemem(n);
      }
    } else {
      usleep(50000);
    }
    if (pg->idle) pg->idle(pg->ud);
  }
  PQfinish(c);
  return NULL;
}

int tw_pg_listen_start(tw_pg *pg, void (*fn)(void *ud, int64_t queue_id, int n),
                       void (*idle)(void *ud), void *ud) {
  pg->notify = fn;
  pg->idle = idle;
  pg->ud = ud;
  if (pthread_create(&pg->listener, NULL, listen_main, pg)) return -1;
  pg->listening = 1;
  return 0;
}

void tw_pg_listen_stop(tw_pg *pg) {
  if (!pg->listening) return;
  __atomic_store_n(&pg->stop, 1, __ATOMIC_RELEASE);
  pthread_join(pg->listener, NULL);
  pg->listening = 0;
}
