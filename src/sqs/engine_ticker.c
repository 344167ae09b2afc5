/* The queue engine's clock (see engine.c): parked long-poll receives, and the
 * ticker thread that wakes them at their deadline, makes delayed and in-flight
 * messages visible again, deletes messages past their retention period, ends
 * FIFO deduplication and receive-attempt windows, frees deleted queue names
 * after 60 s and drives message move tasks. State is touched only under the
 * engine's lock (tw_sqs.mu, recursive): park, unpark, stop and the ticker
 * thread take it; tw_sqs_wake is called with it held. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "sqs/sqs_internal.h"

/* --- waiters ---------------------------------------------------------------- */

static void waiter_unlink(tw_queue *q, tw_sqs_waiter *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    q->waiters_head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    q->waiters_tail = w->prev;
  w->prev = w->next = NULL;
  w->parked = 0;
}

/* Wakes up to n parked receives, oldest first. */
void tw_sqs_wake(tw_sqs *s, tw_queue *q, int n) {
  (void)s;
  while (n-- > 0 && q->waiters_head) {
    tw_sqs_waiter *w = q->waiters_head;
    waiter_unlink(q, w);
    w->wake(w);
  }
}

static int has_available(tw_queue *q) {
  if (!q->fifo) return q->ready_head != NULL;
  for (tw_group *g = q->groups_head; g; g = g->next)
    if (g->inflight == 0 && g->head && g->head->state == MSG_VISIBLE) return 1;
  return 0;
}

int tw_sqs_park(tw_sqs *s, const tw_sqs_call *c, tw_sqs_waiter *w) {
  pthread_mutex_lock(&s->mu);
  int rc = -1;
  tw_queue *q = tw_sqs_queue_by_id(s, c->wait_queue_id);
  if (q && !s->stop && tw_mono_ms() < c->deadline_mono_ms) {
    tw_sqs_sweep(s, q, tw_now_ms());
    if (!has_available(q)) {
      w->queue_id = q->id;
      w->deadline_mono_ms = c->deadline_mono_ms;
      w->next = NULL;
      w->prev = q->waiters_tail;
      if (q->waiters_tail)
        q->waiters_tail->next = w;
      else
        q->waiters_head = w;
      q->waiters_tail = w;
      w->parked = 1;
      rc = 0;
    }
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

void tw_sqs_unpark(tw_sqs *s, tw_sqs_waiter *w) {
  pthread_mutex_lock(&s->mu);
  if (w->parked) {
    tw_queue *q = tw_sqs_queue_by_id(s, w->queue_id);
    if (q) waiter_unlink(q, w);
  }
  pthread_mutex_unlock(&s->mu);
}

/* --- the ticker ------------------------------------------------------------------ */

/* Deletes every message of q older than its retention period, whatever its
 * state. A full scan only when q->min_sent_ms says some message may be old
 * enough: it holds the engine lock, and queues can hold millions. */
static void expire_retention(tw_sqs *s, tw_queue *q, int64_t now) {
  int64_t cutoff = now - q->retention * 1000;
  if (q->min_sent_ms > cutoff) return;
  int64_t min_kept = INT64_MAX;
  size_t n = 0, cap = 0;
  tw_msg **old = NULL;
#define TW_COLLECT(m)                                       \
  do {                                                      \
    if ((m)->sent_ms > cutoff) {                            \
      if ((m)->sent_ms < min_kept) min_kept = (m)->sent_ms; \
    } else {                                                \
      if (n == cap) {                                       \
        cap = cap ? cap * 2 : 64;                           \
        tw_msg **p = realloc(old, cap * sizeof *old);       \
        if (!p) goto out;                                   \
        old = p;                                            \
      }                                                     \
      old[n++] = (m);                                       \
    }                                                       \
  } while (0)
  if (q->fifo) {
    for (tw_group *g = q->groups_head; g; g = g->next)
      for (tw_msg *m = g->head; m; m = m->next) TW_COLLECT(m);
  } else {
    for (tw_msg *m = q->ready_head; m; m = m->next) TW_COLLECT(m);
    for (size_t i = 0; i < q->heap_len; i++) TW_COLLECT(q->heap[i]);
  }
#undef TW_COLLECT
  q->min_sent_ms = min_kept;
out:
  for (size_t i = 0; i < n; i++) tw_sqs_msg_delete(s, old[i]);
  free(old);
}

static void tick(tw_sqs *s, double dt) {
  int64_t now = tw_now_ms(), mono = tw_mono_ms();
  static int64_t last_slow;
  int slow = mono - last_slow >= 1000;
  if (slow) last_slow = mono;
  for (tw_queue *q = s->queues_head; q; q = q->next) {
    if (q->waiters_head || slow) tw_sqs_sweep(s, q, now);
    /* wake any parked receive whose deadline has come, and all when messages wait */
    for (tw_sqs_waiter *w = q->waiters_head; w;) {
      tw_sqs_waiter *n = w->next;
      if (w->deadline_mono_ms <= mono) {
        waiter_unlink(q, w);
        w->wake(w);
      }
      w = n;
    }
    if (q->waiters_head && has_available(q)) tw_sqs_wake(s, q, 1);
    if (slow) {
      expire_retention(s, q, now);
      /* receive attempts are repeatable for 5 minutes */
      const char *k;
      void *v;
      tw_map_entry *ae = tw_map_next(&q->attempts, NULL, &k, &v);
      while (ae) {
        const char *key = k;
        tw_attempt *at = v;
        ae = tw_map_next(&q->attempts, ae, &k, &v);
        if (at->expires_ms <= now) free(tw_map_del(&q->attempts, key));
      }
      /* FIFO dedup window */
      tw_map_entry *e = tw_map_next(&q->dedup, NULL, &k, &v);
      while (e) {
        tw_dedup *d = v;
        e = tw_map_next(&q->dedup, e, &k, &v);
        if (d->expires_ms <= now) {
          tw_map_del(&q->dedup, d->key);
          free(d->key);
          free(d);
        }
      }
    }
  }
  if (slow) {
    static int64_t last_prune;
    if (mono - last_prune > 60000) {
      last_prune = mono;
      tw_store_dedup_prune(s->store, now);
    }
    /* deleted queue names become usable again after 60 s */
    const char *k;
    void *v;
    tw_map_entry *e = tw_map_next(&s->deleted_names, NULL, &k, &v);
    time_t t = time(NULL);
    while (e) {
      const char *key = k;
      intptr_t when = (intptr_t)v;
      e = tw_map_next(&s->deleted_names, e, &k, &v);
      if (t - when >= 60) tw_map_del(&s->deleted_names, key);
    }
  }
  tw_sqs_move_tasks_tick(s, now, dt);
}

static void *ticker_main(void *arg) {
  tw_sqs *s = arg;
  double last = tw_mono_sec();
  pthread_mutex_lock(&s->mu);
  while (!s->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&s->tick_cv, &s->mu, &ts);
    if (s->stop) break;
    tw_sqs_resync_if_needed(s);
    double now = tw_mono_sec();
    tick(s, now - last);
    last = now;
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

int tw_sqs_start(tw_sqs *s) {
  return pthread_create(&s->ticker, NULL, ticker_main, s) ? -1 : 0;
}

void tw_sqs_stop(tw_sqs *s) {
  pthread_mutex_lock(&s->mu);
  if (!s->stop) {
    s->stop = 1;
    for (tw_queue *q = s->queues_head; q; q = q->next)
      while (q->waiters_head) tw_sqs_wake(s, q, 1);
    pthread_cond_signal(&s->tick_cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->ticker, NULL);
    return;
  }
  pthread_mutex_unlock(&s->mu);
}
