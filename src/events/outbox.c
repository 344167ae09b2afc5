/* The shared outbox delivery runner (events/outbox.h): a dispatcher, a
 * bounded work queue, a busy list, delivery threads and per-key throttling. */
#include "events/outbox.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

#define SCAN_LIMIT 256 /* rows read per scan */
#define QUEUE_MAX 32   /* rows handed out and not yet taken */
#define POLL_MS 100    /* how often the dispatcher looks for due rows */

typedef struct job {
  struct job *next;
  uint64_t id;
  void *data;
} job;

typedef struct {
  uint64_t id;
  uint64_t ticket; /* 0: in flight; else its delete or reschedule's batch */
} busy_row;

typedef struct {
  char *key;
  int64_t next_ms;
} slot;

struct tw_outbox {
  tw_outbox_ops ops;
  pthread_mutex_t mu;
  pthread_cond_t work_cv, disp_cv;
  job *head, *tail;
  size_t queued;
  busy_row *busy;
  size_t nbusy, capbusy;
  slot *slots;
  size_t nslots;
  atomic_int stop;
  int started, nworkers;
  pthread_t disp, workers[TW_OUTBOX_MAX_THREADS];
  tw_http_cancel cancel[TW_OUTBOX_MAX_THREADS];
};

/* --- with o->mu ------------------------------------------------------------------- */

static busy_row *busy_find(tw_outbox *o, uint64_t id) {
  for (size_t i = 0; i < o->nbusy; i++)
    if (o->busy[i].id == id) return &o->busy[i];
  return NULL;
}

static void busy_prune(tw_outbox *o) {
  uint64_t committed = tw_store_committed(o->ops.store);
  size_t k = 0;
  for (size_t i = 0; i < o->nbusy; i++)
    if (!o->busy[i].ticket || o->busy[i].ticket > committed) o->busy[k++] = o->busy[i];
  o->nbusy = k;
}

int tw_outbox_wants(tw_outbox *o, uint64_t id) {
  return !busy_find(o, id) && o->queued < QUEUE_MAX;
}

int tw_outbox_offer(tw_outbox *o, uint64_t id, void *data) {
  if (!tw_outbox_wants(o, id)) return 0;
  job *j = calloc(1, sizeof *j);
  if (!j) return 0;
  j->id = id;
  j->data = data;
  if (o->nbusy == o->capbusy) {
    size_t cap = o->capbusy ? o->capbusy * 2 : 64;
    busy_row *nb = realloc(o->busy, cap * sizeof *nb);
    if (!nb) {
      free(j);
      return 0;
    }
    o->busy = nb;
    o->capbusy = cap;
  }
  o->busy[o->nbusy++] = (busy_row){.id = id, .ticket = 0};
  if (o->tail)
    o->tail->next = j;
  else
    o->head = j;
  o->tail = j;
  o->queued++;
  return 1;
}

static void abs_time(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

static void *dispatcher(void *arg) {
  tw_outbox *o = arg;
  int errors = 0;
  pthread_mutex_lock(&o->mu);
  while (!atomic_load(&o->stop)) {
    busy_prune(o);
    if (o->queued < QUEUE_MAX / 2) {
      /* the read runs under o->mu: offers fill the queue as it goes, and the
       * workers only wait for the lock a moment */
      int n = o->ops.scan(o->ops.ud, o, tw_now_ms(), SCAN_LIMIT);
      if (n < 0) errors++;
      if (n < 0 && (errors & (errors - 1)) == 0)
        tw_warn("%s: reading the delivery outbox failed (%d times)", o->ops.name, errors);
      if (o->queued) pthread_cond_broadcast(&o->work_cv);
    }
    struct timespec ts;
    abs_time(&ts, POLL_MS);
    pthread_cond_timedwait(&o->disp_cv, &o->mu, &ts);
  }
  pthread_mutex_unlock(&o->mu);
  return NULL;
}

static void done(tw_outbox *o, uint64_t id, uint64_t ticket) {
  pthread_mutex_lock(&o->mu);
  busy_row *b = busy_find(o, id);
  if (b) b->ticket = ticket ? ticket : 1;
  pthread_mutex_unlock(&o->mu);
}

void tw_outbox_throttle(tw_outbox *o, const char *key, double per_second) {
  if (per_second <= 0 || !key) return;
  int64_t gap = (int64_t)(1000.0 / per_second), now = tw_mono_ms();
  if (gap <= 0) return;
  pthread_mutex_lock(&o->mu);
  slot *s = NULL;
  for (size_t i = 0; i < o->nslots && !s; i++)
    if (!strcmp(o->slots[i].key, key)) s = &o->slots[i];
  if (!s) {
    slot *ns = realloc(o->slots, (o->nslots + 1) * sizeof *ns);
    if (!ns) {
      pthread_mutex_unlock(&o->mu);
      return;
    }
    o->slots = ns;
    s = &o->slots[o->nslots++];
    s->key = strdup(key);
    s->next_ms = now;
  }
  int64_t at = s->next_ms > now ? s->next_ms : now;
  s->next_ms = at + gap;
  int64_t wait = at - now;
  pthread_mutex_unlock(&o->mu);
  while (wait > 0 && !atomic_load(&o->stop)) {
    int64_t step = wait > 100 ? 100 : wait;
    usleep((useconds_t)step * 1000);
    wait -= step;
  }
}

int tw_outbox_stopping(tw_outbox *o) {
  return atomic_load(&o->stop);
}

typedef struct {
  tw_outbox *o;
  int w;
} worker_arg;

static void *worker(void *arg) {
  tw_outbox *o = ((worker_arg *)arg)->o;
  int w = ((worker_arg *)arg)->w;
  free(arg);
  pthread_mutex_lock(&o->mu);
  while (!atomic_load(&o->stop)) {
    job *j = o->head;
    if (!j) {
      pthread_cond_wait(&o->work_cv, &o->mu);
      continue;
    }
    o->head = j->next;
    if (!o->head) o->tail = NULL;
    o->queued--;
    if (o->queued < QUEUE_MAX / 2) pthread_cond_signal(&o->disp_cv);
    pthread_mutex_unlock(&o->mu);
    uint64_t ticket = o->ops.deliver(o->ops.ud, o, j->data, &o->cancel[w]);
    done(o, j->id, ticket);
    o->ops.free_job(j->data);
    free(j);
    pthread_mutex_lock(&o->mu);
  }
  pthread_mutex_unlock(&o->mu);
  return NULL;
}

/* --- lifecycle ------------------------------------------------------------------------ */

tw_outbox *tw_outbox_new(const tw_outbox_ops *ops) {
  tw_outbox *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->ops = *ops;
  if (o->ops.threads < 1) o->ops.threads = 1;
  if (o->ops.threads > TW_OUTBOX_MAX_THREADS) o->ops.threads = TW_OUTBOX_MAX_THREADS;
  pthread_mutex_init(&o->mu, NULL);
  pthread_cond_init(&o->work_cv, NULL);
  pthread_cond_init(&o->disp_cv, NULL);
  for (int i = 0; i < TW_OUTBOX_MAX_THREADS; i++) tw_http_cancel_init(&o->cancel[i]);
  return o;
}

int tw_outbox_start(tw_outbox *o) {
  if (!o || o->started) return 0;
  atomic_store(&o->stop, 0);
  o->started = 1;
  if (pthread_create(&o->disp, NULL, dispatcher, o)) return -1;
  for (int i = 0; i < o->ops.threads; i++) {
    worker_arg *arg = malloc(sizeof *arg);
    if (!arg) return -1;
    arg->o = o;
    arg->w = i;
    if (pthread_create(&o->workers[i], NULL, worker, arg)) {
      free(arg);
      return -1;
    }
    o->nworkers++;
  }
  return 0;
}

void tw_outbox_stop(tw_outbox *o) {
  if (!o || !o->started) return;
  pthread_mutex_lock(&o->mu);
  atomic_store(&o->stop, 1);
  pthread_cond_broadcast(&o->work_cv);
  pthread_cond_broadcast(&o->disp_cv);
  pthread_mutex_unlock(&o->mu);
  for (int i = 0; i < o->ops.threads; i++) tw_http_cancel_fire(&o->cancel[i]);
  pthread_join(o->disp, NULL);
  for (int i = 0; i < o->nworkers; i++) pthread_join(o->workers[i], NULL);
  o->started = 0;
  o->nworkers = 0;
}

void tw_outbox_free(tw_outbox *o) {
  if (!o) return;
  tw_outbox_stop(o);
  while (o->head) {
    job *j = o->head;
    o->head = j->next;
    o->ops.free_job(j->data);
    free(j);
  }
  for (size_t i = 0; i < o->nslots; i++) free(o->slots[i].key);
  free(o->slots);
  free(o->busy);
  for (int i = 0; i < TW_OUTBOX_MAX_THREADS; i++) tw_http_cancel_destroy(&o->cancel[i]);
  pthread_cond_destroy(&o->work_cv);
  pthread_cond_destroy(&o->disp_cv);
  pthread_mutex_destroy(&o->mu);
  free(o);
}
