/* Which node runs the cluster's S3 lifecycle sweeps (pg_s3.h): a session
 * advisory lock (pg_try_advisory_lock) on a connection of the sweeper's own.
 * The lock goes with that connection: when the node dies (or loses the
 * connection) PostgreSQL ends its session, the lock is free and another
 * node's sweeper takes it at its next try. The lifecycle scans themselves
 * are in s3_refs.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/pg/pg_s3_internal.h"
#include "store/pg_s3.h"

/* "tweed3": beside pg.c's schema lock (…31) and pg_sqs_more.c's background lock (…32) */
#define LIFECYCLE_LOCK 0x747765656433LL
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct tw_pg_s3_lead {
  char url[1024];
  PGconn *c;
  int held;
  int64_t retry_at_ms;
  int backoff_ms;
};

tw_pg_s3_lead *tw_store_pg_s3_lead_open(tw_store *s) {
  const char *url = tw_pg_s3_url(s);
  tw_pg_s3_lead *l = url ? calloc(1, sizeof *l) : NULL;
  if (!l) return NULL;
  snprintf(l->url, sizeof l->url, "%s", url);
  l->backoff_ms = BACKOFF_MIN_MS;
  return l;
}

static void drop(tw_pg_s3_lead *l) {
  if (l->held) tw_warn("lifecycle: this node no longer runs the cluster's S3 lifecycle sweeps");
  PQfinish(l->c);
  l->c = NULL;
  l->held = 0;
}

int tw_store_pg_s3_lead(tw_pg_s3_lead *l) {
  if (!l) return -1;
  if (l->c && PQstatus(l->c) != CONNECTION_OK) drop(l);
  if (!l->c) {
    if (tw_mono_ms() < l->retry_at_ms) return -1;
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {l->url, "2", "tweedle-s3-lifecycle", NULL};
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
    if (tw_pg_check(l->c, &r, PGRES_TUPLES_OK, "lifecycle lock", &broken) && broken) {
      drop(l);
      return -1;
    }
    PQclear(r);
    return 1; /* any other error left the session, and its lock, in place */
  }
  char sql[96];
  snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%lld)", LIFECYCLE_LOCK);
  PGresult *r = PQexec(l->c, sql);
  if (tw_pg_check(l->c, &r, PGRES_TUPLES_OK, "lifecycle lock", &broken)) {
    if (broken) drop(l);
    return -1;
  }
  l->held = PQgetvalue(r, 0, 0)[0] == 't';
  PQclear(r);
  if (l->held) tw_info("lifecycle: this node runs the cluster's S3 lifecycle sweeps");
  return l->held;
}

void tw_store_pg_s3_lead_close(tw_pg_s3_lead *l) {
  if (!l) return;
  PQfinish(l->c); /* the session ends: the lock is free for another node */
  free(l);
}
