/* Change counters with their listener, and the lock that lets one node lead
 * a piece of background work (pg_state.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/pg/pg_s3_internal.h"
#include "store/pg_state.h"

const char *const tw_pg_state_schema =
    "CREATE TABLE IF NOT EXISTS tw_state (name text PRIMARY KEY, version bigint NOT NULL);";

/* --- change counters -------------------------------------------------------- */

uint64_t tw_store_pg_state_bump(tw_store *s, const char *name) {
  tw_sql_val v[] = {TW_SQL_S(name)};
  /* one statement: the row is locked until the batch commits, so the bumps
   * of one name are serialised, and the notification leaves at that commit */
  return tw_store_exec(s,
                       "WITH u AS (INSERT INTO tw_state VALUES ($1, 1) ON CONFLICT (name) DO"
                       " UPDATE SET version = tw_state.version + 1 RETURNING name)"
                       " SELECT pg_notify('tw_state', name) FROM u",
                       v, 1);
}

int64_t tw_store_pg_state_read(tw_store *s, const char *name) {
  tw_sql_val v[] = {TW_SQL_S(name)};
  PGresult *r = tw_pg_s3_read(s, "SELECT version FROM tw_state WHERE name = $1", v, 1);
  if (!r) return -1;
  int64_t n = PQntuples(r) == 1 ? tw_pg_i64(r, 0, 0) : 0;
  PQclear(r);
  return n;
}

#define MAX_LISTENERS 32

typedef struct {
  char name[48];
  void (*fn)(void *ud);
  void *ud;
} listener;

struct tw_pg_state {
  pthread_mutex_t mu;
  listener l[MAX_LISTENERS];
  int n;
  tw_pg_channel *ch;
};

/* On the channel's thread: payload a name, NULL after a (re)connection. */
static void heard(void *ud, const char *payload) {
  tw_pg_state *st = ud;
  listener call[MAX_LISTENERS];
  int n = 0;
  pthread_mutex_lock(&st->mu);
  for (int i = 0; i < st->n; i++)
    if (!payload || !strcmp(payload, st->l[i].name)) call[n++] = st->l[i];
  pthread_mutex_unlock(&st->mu);
  for (int i = 0; i < n; i++) call[i].fn(call[i].ud); /* unlocked: fn may read the store */
}

int tw_store_pg_state_listen(tw_store *s, const char *name, void (*fn)(void *ud), void *ud) {
  tw_pg_state **slot = tw_pg_s3_state(s);
  if (!slot || strlen(name) >= sizeof((listener *)0)->name) return -1;
  if (!*slot) {
    tw_pg_state *st = calloc(1, sizeof *st);
    if (!st) return -1;
    pthread_mutex_init(&st->mu, NULL);
    *slot = st; /* engines register while the node starts, on one thread */
  }
  tw_pg_state *st = *slot;
  pthread_mutex_lock(&st->mu);
  int rc = -1;
  if (st->n < MAX_LISTENERS) {
    listener *l = &st->l[st->n++];
    snprintf(l->name, sizeof l->name, "%s", name);
    l->fn = fn;
    l->ud = ud;
    rc = 0;
  }
  pthread_mutex_unlock(&st->mu);
  if (!rc && !st->ch) {
    st->ch = tw_pg_channel_start(tw_pg_s3_url(s), "tw_state", "tweedle-state", heard, st);
    if (!st->ch) rc = -1;
  }
  return rc;
}

void tw_pg_state_free(tw_pg_state *st) {
  if (!st) return;
  tw_pg_channel_stop(st->ch);
  pthread_mutex_destroy(&st->mu);
  free(st);
}

/* --- one node leads ----------------------------------------------------------- */

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct tw_pg_lead {
  char url[1024], name[48];
  int64_t key;
  PGconn *c;
  int held;
  int64_t retry_at_ms;
  int backoff_ms;
};

tw_pg_lead *tw_store_pg_lead_open(tw_store *s, const char *name) {
  const char *url = tw_pg_s3_url(s);
  tw_pg_lead *l = url ? calloc(1, sizeof *l) : NULL;
  if (!l) return NULL;
  snprintf(l->url, sizeof l->url, "%s", url);
  snprintf(l->name, sizeof l->name, "%s", name);
  /* "tw" and the name's FNV-1a hash: apart from pg.c's fixed keys ("tweed…") */
  uint32_t h = 2166136261u;
  for (const char *p = name; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
  l->key = (int64_t)(0x7477ULL << 32 | h);
  l->backoff_ms = BACKOFF_MIN_MS;
  return l;
}

static void drop(tw_pg_lead *l) {
  if (l->held) tw_warn("%s: this node no longer leads it for the cluster", l->name);
  PQfinish(l->c);
  l->c = NULL;
  l->held = 0;
}

int tw_store_pg_lead(tw_pg_lead *l) {
  if (!l) return -1;
  if (l->c && PQstatus(l->c) != CONNECTION_OK) drop(l);
  if (!l->c) {
    if (tw_mono_ms() < l->retry_at_ms) return -1;
    char app[64];
    snprintf(app, sizeof app, "tweedle-%s", l->name);
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {l->url, "2", app, NULL};
    l->c = PQconnectdbParams(keys, vals, 1);
    if (!l->c || PQstatus(l->c) != CONNECTION_OK) {
      PQfinish(l->c);
      l->c = NULL;
      l->retry_at_ms = tw_mono_ms() + l->backoff_ms;
      l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
      return -1;
    }
    l->backoff_ms = BACKOFF_MIN_MS;
  }
  int broken = 0;
  if (l->held) { /* still ours while the session lives: one round trip shows it does */
    PGresult *r = PQexec(l->c, "SELECT 1");
    if (tw_pg_check(l->c, &r, PGRES_TUPLES_OK, "lead lock", &broken) && broken) {
      drop(l);
      return -1;
    }
    PQclear(r);
    return 1; /* any other error left the session, and its lock, in place */
  }
  char sql[96];
  snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%lld)", (long long)l->key);
  PGresult *r = PQexec(l->c, sql);
  if (tw_pg_check(l->c, &r, PGRES_TUPLES_OK, "lead lock", &broken)) {
    if (broken) drop(l);
    return -1;
  }
  l->held = PQgetvalue(r, 0, 0)[0] == 't';
  PQclear(r);
  if (l->held) tw_info("%s: this node leads it for the cluster", l->name);
  return l->held;
}

void tw_store_pg_lead_close(tw_pg_lead *l) {
  if (!l) return;
  PQfinish(l->c); /* the session ends: the lock is free for another node */
  free(l);
}
