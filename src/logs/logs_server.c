/* The server's own log lines (core/log.c) to the log group /tweedle/server,
 * stream "server" (in cluster mode one per node: tw_logs_server_stream), kept
 * 30 days. The logger hands each line to a bounded
 * ring (SERVER_RING lines; a full ring drops the line and counts it) under a
 * mutex held only to copy a pointer, so a log call never waits for the
 * store; a thread moves the ring into the group every 500 ms as one batch.
 * Lines logged while the store is failing are dropped with the batch.
 * TWEEDLE_SERVER_LOG_GROUP=0 turns it off. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "logs/logs.h"

#define SERVER_RING 8192
#define SERVER_GROUP "/tweedle/server"
#define SERVER_RETENTION_DAYS 30
#define FLUSH_MS 500

typedef struct {
  int64_t ts;
  char *msg;
  size_t len;
} sline;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  sline ring[SERVER_RING];
  size_t head, count;
  unsigned long long dropped;
  tw_logs *logs;
  pthread_t th;
  int running, stop;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void sink(const char *line, size_t n) {
  char *m = malloc(n ? n : 1);
  if (!m) return;
  memcpy(m, line, n);
  int64_t ts = tw_now_ms();
  pthread_mutex_lock(&g.mu);
  if (g.count == SERVER_RING || !g.running) {
    g.dropped++;
    pthread_mutex_unlock(&g.mu);
    free(m);
    return;
  }
  sline *s = &g.ring[(g.head + g.count) % SERVER_RING];
  s->ts = ts;
  s->msg = m;
  s->len = n;
  g.count++;
  pthread_mutex_unlock(&g.mu);
}

static void flush(void) {
  static sline v[SERVER_RING];
  static tw_log_input ev[SERVER_RING + 1];
  pthread_mutex_lock(&g.mu);
  size_t n = g.count;
  for (size_t i = 0; i < n; i++) v[i] = g.ring[(g.head + i) % SERVER_RING];
  g.head = (g.head + n) % SERVER_RING;
  g.count = 0;
  unsigned long long dropped = g.dropped;
  g.dropped = 0;
  pthread_mutex_unlock(&g.mu);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (v[i].len) ev[k++] = (tw_log_input){.ts = v[i].ts, .msg = v[i].msg, .len = v[i].len};
  char note[128];
  if (dropped) {
    int len = snprintf(note, sizeof note, "tweedle: %llu log lines dropped (the buffer was full)",
                       dropped);
    ev[k++] = (tw_log_input){.ts = tw_now_ms(), .msg = note, .len = (size_t)len};
  }
  if (k)
    tw_logs_append(g.logs, SERVER_GROUP, SERVER_RETENTION_DAYS, tw_logs_server_stream(g.logs), ev,
                   k);
  for (size_t i = 0; i < n; i++) free(v[i].msg);
}

static void *run(void *arg) {
  (void)arg;
  pthread_mutex_lock(&g.mu);
  while (!g.stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = ts.tv_nsec + FLUSH_MS * 1000000L;
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_cond_timedwait(&g.cv, &g.mu, &ts);
    pthread_mutex_unlock(&g.mu);
    flush();
    pthread_mutex_lock(&g.mu);
  }
  pthread_mutex_unlock(&g.mu);
  return NULL;
}

int tw_logs_server_start(tw_logs *l) {
  const char *off = getenv("TWEEDLE_SERVER_LOG_GROUP");
  if (off && !strcmp(off, "0")) return 0; /* turned off: stderr only */
  pthread_mutex_lock(&g.mu);
  g.logs = l;
  g.stop = 0;
  g.running = 1;
  pthread_mutex_unlock(&g.mu);
  if (pthread_create(&g.th, NULL, run, NULL)) {
    g.running = 0;
    return -1;
  }
  tw_log_set_sink(sink);
  return 0;
}

void tw_logs_server_stop(void) {
  if (!g.running) return;
  tw_log_set_sink(NULL);
  pthread_mutex_lock(&g.mu);
  g.stop = 1;
  pthread_cond_signal(&g.cv);
  pthread_mutex_unlock(&g.mu);
  pthread_join(g.th, NULL);
  flush(); /* what came in since the last pass */
  pthread_mutex_lock(&g.mu);
  g.running = 0;
  pthread_mutex_unlock(&g.mu);
}
