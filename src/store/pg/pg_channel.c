/* A LISTEN channel on a connection of its own (S3's bucket settings, the
 * gateway's API keys): one thread per channel, reconnecting with backoff. */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/pg/pg_internal.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

struct tw_pg_channel {
  char url[1024], channel[64], app[64];
  pthread_t thread;
  int stop;
  void (*fn)(void *ud, const char *payload);
  void *ud;
};

static PGconn *channel_connect(const tw_pg_channel *ch) {
  /* keepalives: a vanished server fails an idle listener within ~10 s */
  const char *keys[] = {
      "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
      "dbname",          "connect_timeout",     "application_name", NULL};
  const char *vals[] = {"5", "2", "3", "10000", ch->url, "2", ch->app, NULL};
  PGconn *c = PQconnectdbParams(keys, vals, 1);
  char sql[96];
  snprintf(sql, sizeof sql, "LISTEN %s", ch->channel);
  int broken = 0;
  if (!c || PQstatus(c) != CONNECTION_OK || tw_pg_exec(c, sql, "listen", &broken)) {
    PQfinish(c);
    return NULL;
  }
  return c;
}

static void *channel_main(void *arg) {
  tw_pg_channel *ch = arg;
  PGconn *c = NULL;
  int backoff = BACKOFF_MIN_MS;
  int64_t retry_at = 0;
  while (!__atomic_load_n(&ch->stop, __ATOMIC_ACQUIRE)) {
    if (!c && tw_mono_ms() >= retry_at) {
      c = channel_connect(ch);
      if (c) {
        backoff = BACKOFF_MIN_MS;
        ch->fn(ch->ud, NULL); /* what changed before or while away: everything */
      } else {
        retry_at = tw_mono_ms() + backoff;
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
      }
    }
    if (!c) {
      usleep(50000);
      continue;
    }
    struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
    if (poll(&pfd, 1, 100) > 0 && (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK)) {
      tw_warn("pg: the %s listener lost its connection: %s", ch->channel, PQerrorMessage(c));
      PQfinish(c);
      c = NULL;
      continue;
    }
    PGnotify *n;
    while ((n = PQnotifies(c))) {
      if (n->extra && *n->extra) ch->fn(ch->ud, n->extra);
      PQfreemem(n);
    }
  }
  PQfinish(c);
  return NULL;
}

tw_pg_channel *tw_pg_channel_start(const char *url, const char *channel, const char *app,
                                   void (*fn)(void *ud, const char *payload), void *ud) {
  tw_pg_channel *ch = calloc(1, sizeof *ch);
  if (!ch) return NULL;
  snprintf(ch->url, sizeof ch->url, "%s", url);
  snprintf(ch->channel, sizeof ch->channel, "%s", channel);
  snprintf(ch->app, sizeof ch->app, "%s", app);
  ch->fn = fn;
  ch->ud = ud;
  if (pthread_create(&ch->thread, NULL, channel_main, ch)) {
    free(ch);
    return NULL;
  }
  return ch;
}

void tw_pg_channel_stop(tw_pg_channel *ch) {
  if (!ch) return;
  __atomic_store_n(&ch->stop, 1, __ATOMIC_RELEASE);
  pthread_join(ch->thread, NULL);
  free(ch);
}
