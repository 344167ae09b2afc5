/* Long copies off the HTTP threads: CopyObject, UploadPartCopy and
 * CompleteMultipartUpload hand the copying of bodies to a small pool of copy
 * threads and park their request meanwhile (like a commit wait). The copy
 * thread wakes the request; its continuation (on an HTTP thread again) takes
 * the store locks and writes the rows as before.
 *
 * A job is shared by the request and the pool (two references). The request
 * drops its own in tw_s3_copy_take (the continuation takes the result) or, if
 * the connection ends first, in on_close, which also cancels the job: the
 * copy thread then stops early, and never touches the request again (it only
 * wakes it under the pool's mutex while the request is not gone). The last
 * reference dropped discards a result nobody took. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "s3/s3_internal.h"

#define COPY_THREADS 2

struct s3_copy_job {
  tw_s3 *s3;
  tw_request *r; /* NULL once the request is gone */
  int refs;
  int rc;
  atomic_int cancel;
  int (*work)(void *arg, s3_copy_job *j);
  void (*discard)(void *arg);
  void *arg;
  s3_copy_job *next;
};

struct s3_copy_state {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  s3_copy_job *head, *tail;
  atomic_int stopping; /* 1: finishing the jobs, 2: aborting them */
  pthread_t th[COPY_THREADS];
  int nth;
};

static void job_unref_locked(struct s3_copy_state *st, s3_copy_job *j, int *free_it) {
  (void)st;
  *free_it = --j->refs == 0;
}

static void job_free(s3_copy_job *j) {
  if (j->arg && j->discard) j->discard(j->arg);
  free(j);
}

int tw_s3_copy_cancelled(s3_copy_job *j) {
  return atomic_load(&j->cancel) || atomic_load(&j->s3->copy->stopping) > 1;
}

/* Checks, now and then, whether the client hung up on the parked request
 * (MHD does not notice while a connection is suspended). */
int tw_s3_copy_check(s3_copy_job *j) {
  if (tw_s3_copy_cancelled(j)) return 1;
  struct s3_copy_state *st = j->s3->copy;
  pthread_mutex_lock(&st->mu);
  int gone = !j->r;
  if (!gone && tw_req_peer_closed(j->r)) gone = 1;
  pthread_mutex_unlock(&st->mu);
  if (gone) atomic_store(&j->cancel, 1);
  return gone;
}

static void on_close(tw_request *r) {
  s3_ctx *x = r->ctx;
  s3_copy_job *j = x ? x->copy : NULL;
  if (!j) return;
  struct s3_copy_state *st = j->s3->copy;
  int free_it;
  pthread_mutex_lock(&st->mu);
  j->r = NULL;
  atomic_store(&j->cancel, 1);
  job_unref_locked(st, j, &free_it);
  pthread_mutex_unlock(&st->mu);
  x->copy = NULL;
  r->on_close = NULL;
  if (free_it) job_free(j);
}

static void *copy_thread(void *p) {
  tw_s3 *s = p;
  struct s3_copy_state *st = s->copy;
  pthread_mutex_lock(&st->mu);
  for (;;) {
    while (!st->head && !st->stopping) pthread_cond_wait(&st->cv, &st->mu);
    s3_copy_job *j = st->head;
    if (!j) break; /* stopping, nothing left */
    st->head = j->next;
    if (!st->head) st->tail = NULL;
    pthread_mutex_unlock(&st->mu);
    j->rc = tw_s3_copy_cancelled(j) ? -1 : j->work(j->arg, j);
    int free_it;
    pthread_mutex_lock(&st->mu);
    if (j->r) tw_req_wake(j->r);
    job_unref_locked(st, j, &free_it);
    if (free_it) {
      pthread_mutex_unlock(&st->mu);
      job_free(j);
      pthread_mutex_lock(&st->mu);
    }
  }
  pthread_mutex_unlock(&st->mu);
  return NULL;
}

int tw_s3_copy_open(tw_s3 *s) {
  struct s3_copy_state *st = calloc(1, sizeof *st);
  if (!st) return -1;
  pthread_mutex_init(&st->mu, NULL);
  pthread_cond_init(&st->cv, NULL);
  s->copy = st;
  for (int i = 0; i < COPY_THREADS; i++) {
    if (pthread_create(&st->th[i], NULL, copy_thread, s)) break;
    st->nth++;
  }
  return st->nth ? 0 : -1;
}

void tw_s3_copy_stop(tw_s3 *s, int abort_jobs) {
  struct s3_copy_state *st = s ? s->copy : NULL;
  if (!st) return;
  pthread_mutex_lock(&st->mu);
  if (st->stopping && !abort_jobs) {
    pthread_mutex_unlock(&st->mu);
    return;
  }
  atomic_store(&st->stopping, abort_jobs ? 2 : 1);
  if (abort_jobs)
    for (s3_copy_job *j = st->head; j; j = j->next) atomic_store(&j->cancel, 1);
  pthread_cond_broadcast(&st->cv);
  int n = st->nth;
  st->nth = 0;
  pthread_mutex_unlock(&st->mu);
  for (int i = 0; i < n; i++) pthread_join(st->th[i], NULL);
}

void tw_s3_stop_copies(tw_s3 *s) {
  tw_s3_copy_stop(s, 1);
}

void tw_s3_copy_close(tw_s3 *s) {
  struct s3_copy_state *st = s->copy;
  if (!st) return;
  tw_s3_copy_stop(s, 1);
  pthread_mutex_destroy(&st->mu);
  pthread_cond_destroy(&st->cv);
  free(st);
  s->copy = NULL;
}

void tw_s3_copy_start(tw_request *r, s3_ctx *x, int (*work)(void *arg, s3_copy_job *j),
                      void (*discard)(void *arg), void *arg, void (*then)(tw_request *r)) {
  tw_s3 *s = x->s3;
  struct s3_copy_state *st = s->copy;
  s3_copy_job *j = calloc(1, sizeof *j);
  j->s3 = s;
  j->r = r;
  j->refs = 2;
  j->rc = -1;
  j->work = work;
  j->discard = discard;
  j->arg = arg;
  x->copy = j;
  r->on_close = on_close;
  r->resume = then;
  pthread_mutex_lock(&st->mu);
  if (st->stopping || !st->nth) { /* shutting down: answered as a failed copy */
    atomic_store(&j->cancel, 1);
    j->refs = 1;
    pthread_mutex_unlock(&st->mu);
    r->resume = NULL;
    then(r);
    return;
  }
  if (st->tail)
    st->tail->next = j;
  else
    st->head = j;
  st->tail = j;
  pthread_cond_signal(&st->cv);
  pthread_mutex_unlock(&st->mu);
  if (!tw_req_suspend(r)) { /* done already */
    r->resume = NULL;
    then(r);
  }
}

void *tw_s3_copy_take(tw_request *r, s3_ctx *x, int *rc, int *stopping) {
  s3_copy_job *j = x->copy;
  struct s3_copy_state *st = x->s3->copy;
  int free_it;
  pthread_mutex_lock(&st->mu);
  *rc = j->rc;
  if (stopping) *stopping = st->stopping > 1 || (j->rc && atomic_load(&j->cancel));
  void *arg = j->arg;
  j->arg = NULL;
  j->r = NULL;
  job_unref_locked(st, j, &free_it);
  pthread_mutex_unlock(&st->mu);
  x->copy = NULL;
  r->on_close = NULL;
  if (free_it) job_free(j);
  return arg;
}
