/* The job API's state: the jobs table (the store's jobs repository,
 * store/gw_jobs.h), the job queues, the dead-letter hook. Whether a job's
 * result object still exists, and its size, S3 says (tw_s3_object_size).
 *
 * Transitions are checked against a job's latest state. A change is appended
 * to the store at once but is durable only after the next group commit, so
 * until then the new state sits in `pending` (in memory, ordered by ticket)
 * and is read from there; once the store has committed its batch the entry is
 * dropped and the table answers. The same holds for Idempotency-Keys whose
 * first request is not durable yet.
 *
 * Cluster mode (app->pg_store: the gateway's tables in PostgreSQL): a
 * submission is one PostgreSQL transaction of its own (the job row and its
 * message in the job queue's table, store/pg_gw.h), idempotency decided by
 * the unique index there; a transition is a transaction of its own that
 * locks the row (SELECT … FOR UPDATE), so two nodes changing one job take
 * turns; every read goes to PostgreSQL, so any node sees any node's
 * committed changes.
 *
 * Lock order: the SQS engine (tw_sqs_lock), the store hold, then jobs->mu. The
 * dead-letter hook runs inside the first two, so every path that changes a job
 * takes the hold before mu, and reads the table under it. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/map.h"
#include "events/bus.h"
#include "gateway/jobs_internal.h"
#include "core/crypto.h"
#include "monitoring/builtin.h"
#include "sqs/sqs_pg.h"
#include "store/gw_jobs.h"
#include "store/pg_gw.h"
#include "store/pg_sqs.h"

#define IDEM_WINDOW_MS (24LL * 3600 * 1000)
#define DLQ_RETENTION "1209600" /* 14 days, the most SQS keeps a message */

typedef struct pend {
  char *key; /* "j:ID" (a job's state) or "i:OWNER\x1fKEY" (an Idempotency-Key) */
  uint64_t ticket;
  tw_job job;  /* j: the state; i: job.id names the job */
  char fp[65]; /* i: the first request's fingerprint */
  struct pend *prev, *next;
} pend;

typedef struct {
  char type[TW_JOB_TYPE_MAX + 1];
  char queue[81];
  char arn[256];
} route;

struct tw_jobs {
  tw_app *app;
  pthread_mutex_t mu; /* pending */
  tw_map pending;
  pend *head, *tail; /* by ticket, oldest first */
  route dflt;
  route *routes; /* job types with their own queue */
  size_t nroutes;
};

static tw_jobs *g_jobs;

/* --- metrics (tweedle/Jobs, Prometheus) ----------------------------------------------- */

const double tw_jobs_prom_bounds[TW_JOBS_PROM_NB] = {0.01, 0.05, 0.1, 0.25, 0.5, 1,   2.5,
                                                     5,    10,   30,  60,   300, 900, 3600};

typedef struct {
  char type[TW_JOB_TYPE_MAX + 1];
  uint64_t submitted, succeeded, failed, dur_b[TW_JOBS_PROM_NB + 1], dur_count;
  double dur_sum_s;
  uint64_t iv_submitted, iv_succeeded, iv_failed;
  uint32_t *iv_dur;
} jstat;

/* Outlives the job API (the publisher may read it while the server stops). */
static struct {
  pthread_mutex_t mu;
  jstat t[TW_JOBS_METRIC_TYPES + 1]; /* [TW_JOBS_METRIC_TYPES]: "other" */
  size_t n;
} g_stats = {.mu = PTHREAD_MUTEX_INITIALIZER};

static jstat *stat_of(const char *type) {
  for (size_t i = 0; i < g_stats.n; i++)
    if (!strcmp(g_stats.t[i].type, type)) return &g_stats.t[i];
  if (g_stats.n < TW_JOBS_METRIC_TYPES) {
    jstat *j = &g_stats.t[g_stats.n++];
    snprintf(j->type, sizeof j->type, "%s", type);
    return j;
  }
  jstat *o = &g_stats.t[TW_JOBS_METRIC_TYPES];
  if (!o->type[0]) snprintf(o->type, sizeof o->type, "other");
  return o;
}

/* verb: -1 submitted, else the change recorded; ms: the attempt's run time (-1: none). */
static void stat_note(const char *type, int verb, double ms) {
  pthread_mutex_lock(&g_stats.mu);
  jstat *j = stat_of(type);
  if (verb < 0) {
    j->submitted++, j->iv_submitted++;
  } else if (verb == TW_JOB_COMPLETE) {
    j->succeeded++, j->iv_succeeded++;
  } else if (verb == TW_JOB_FAIL) {
    j->failed++, j->iv_failed++;
  }
  if (verb >= 0 && verb != TW_JOB_START && ms >= 0) {
    size_t k = 0;
    while (k < TW_JOBS_PROM_NB && ms / 1000.0 > tw_jobs_prom_bounds[k]) k++;
    j->dur_b[k]++;
    j->dur_count++;
    j->dur_sum_s += ms / 1000.0;
    if (!j->iv_dur) j->iv_dur = calloc(TW_BUILTIN_LAT_N, sizeof *j->iv_dur);
    if (j->iv_dur) j->iv_dur[tw_builtin_lat_bucket(ms)]++;
  }
  pthread_mutex_unlock(&g_stats.mu);
}

void tw_jobs_metrics(int reset, void (*fn)(void *ud, const tw_jobs_type_stats *s), void *ud) {
  pthread_mutex_lock(&g_stats.mu);
  for (size_t i = 0; i <= TW_JOBS_METRIC_TYPES; i++) {
    jstat *j = &g_stats.t[i];
    if (i >= g_stats.n && i < TW_JOBS_METRIC_TYPES) continue;
    if (!j->type[0]) continue;
    tw_jobs_type_stats v = {.type = j->type,
                            .submitted = j->submitted,
                            .succeeded = j->succeeded,
                            .failed = j->failed,
                            .dur_count = j->dur_count,
                            .dur_sum_s = j->dur_sum_s,
                            .iv_submitted = j->iv_submitted,
                            .iv_succeeded = j->iv_succeeded,
                            .iv_failed = j->iv_failed,
                            .iv_dur = j->iv_dur};
    memcpy(v.dur_b, j->dur_b, sizeof v.dur_b);
    fn(ud, &v);
    if (reset) {
      j->iv_submitted = j->iv_succeeded = j->iv_failed = 0;
      free(j->iv_dur);
      j->iv_dur = NULL;
    }
  }
  pthread_mutex_unlock(&g_stats.mu);
}

/* g_jobs is set and cleared under it: the publisher's count never reads a closed one (and
 * the scan does not hold g_stats.mu, which changes take under the store hold) */
static pthread_mutex_t g_life = PTHREAD_MUTEX_INITIALIZER;

int tw_jobs_status_counts(int64_t out[4]) {
  pthread_mutex_lock(&g_life);
  int rc = -1;
  if (g_jobs)
    rc = tw_store_gw_jobs(tw_gw_store(g_jobs->app))->count_by_status(tw_gw_store(g_jobs->app), out);
  pthread_mutex_unlock(&g_life);
  return rc;
}

tw_jobs *tw_jobs_get(void) {
  return g_jobs;
}

void tw_job_clear(tw_job *j) {
  free(j->error);
  free(j->bucket);
  free(j->key);
  j->error = j->bucket = j->key = NULL;
}

static char *xstrdup(const char *s) {
  return s ? strdup(s) : NULL;
}

static void job_copy(tw_job *dst, const tw_job *src) {
  *dst = *src;
  dst->error = xstrdup(src->error);
  dst->bucket = xstrdup(src->bucket);
  dst->key = xstrdup(src->key);
}

/* --- pending changes (mu held) ------------------------------------------------------ */

static void pend_unlink(tw_jobs *J, pend *p) {
  if (p->prev)
    p->prev->next = p->next;
  else
    J->head = p->next;
  if (p->next)
    p->next->prev = p->prev;
  else
    J->tail = p->prev;
  p->prev = p->next = NULL;
}

static void pend_free(pend *p) {
  free(p->key);
  tw_job_clear(&p->job);
  free(p);
}

/* Drops what the store has made durable: the table shows it now. */
static void pend_evict(tw_jobs *J) {
  uint64_t done = tw_store_committed(tw_gw_store(J->app));
  while (J->head && J->head->ticket <= done) {
    pend *p = J->head;
    pend_unlink(J, p);
    tw_map_del(&J->pending, p->key);
    pend_free(p);
  }
}

/* The entry for key with its new ticket, last in ticket order. Appends happen
 * under the store hold, so tickets only grow along the list. */
static pend *pend_touch(tw_jobs *J, const char *key, uint64_t ticket) {
  pend *p = tw_map_get(&J->pending, key);
  if (p) {
    pend_unlink(J, p);
    tw_job_clear(&p->job);
  } else {
    p = calloc(1, sizeof *p);
    if (!p) abort(); /* out of memory in the middle of a state change */
    p->key = strdup(key);
    tw_map_put(&J->pending, key, p);
  }
  p->ticket = ticket;
  p->prev = J->tail;
  if (J->tail)
    J->tail->next = p;
  else
    J->head = p;
  J->tail = p;
  return p;
}

/* --- reading the table ------------------------------------------------------------- */

/* The result object's size as S3 has it now; -1 when it is gone (or none). */
static int64_t result_size(tw_jobs *J, const char *bucket, const char *key) {
  int64_t size = -1;
  if (!bucket || !key) return -1;
  return tw_s3_object_size(J->app->s3, bucket, key, &size) == 1 ? size : -1;
}

/* The stored row's fields; its result's size unknown (-1). */
static void row_fields(const tw_gw_job_row *row, tw_job *j) {
  memset(j, 0, sizeof *j);
  j->seq = row->seq;
  snprintf(j->id, sizeof j->id, "%s", row->id);
  snprintf(j->type, sizeof j->type, "%s", row->type);
  snprintf(j->status, sizeof j->status, "%s", row->status);
  j->attempts = row->attempts;
  j->created = row->created_ms;
  j->started = row->started_ms;
  j->finished = row->finished_ms;
  j->error = xstrdup(row->error);
  j->bucket = xstrdup(row->result_bucket);
  j->key = xstrdup(row->result_key);
  j->size = -1;
}

/* The stored row as the API shows it. */
static void row_to_job(tw_jobs *J, const tw_gw_job_row *row, tw_job *j) {
  row_fields(row, j);
  j->size = result_size(J, j->bucket, j->key);
}

int tw_jobs_read(tw_jobs *J, const char *id, tw_job *out) {
  tw_gw_job_row row;
  int found = tw_store_gw_jobs(tw_gw_store(J->app))->get(tw_gw_store(J->app), id, &row);
  if (found == 1) {
    row_to_job(J, &row, out);
    tw_gw_job_row_free(&row);
  }
  return found;
}

/* The latest state, committed or not (mu held, under the store hold). */
static int current(tw_jobs *J, const char *id, tw_job *out) {
  char key[48];
  snprintf(key, sizeof key, "j:%s", id);
  pend *p = tw_map_get(&J->pending, key);
  if (p) {
    job_copy(out, &p->job);
    return 1;
  }
  return tw_jobs_read(J, id, out);
}

typedef struct {
  tw_jobs *J;
  tw_job *out;
  int n, limit;
  int64_t next_seq;
} list_page;

static int list_row(void *ud, const tw_gw_job_row *row) {
  list_page *p = ud;
  if (p->n == p->limit) {
    p->next_seq = p->out[p->n - 1].seq;
    return 1;
  }
  row_to_job(p->J, row, &p->out[p->n++]);
  return 0;
}

int tw_jobs_list(tw_jobs *J, const tw_job_filter *f, tw_job **rows, int64_t *next_seq) {
  list_page p = {.J = J, .limit = f->limit};
  p.out = calloc((size_t)f->limit + 1, sizeof *p.out);
  if (!p.out) return -1;
  /* one more row tells whether a page follows */
  tw_gw_job_filter rf = {
      .status = f->status, .type = f->type, .before_seq = f->before_seq, .limit = f->limit + 1};
  *next_seq = 0;
  if (tw_store_gw_jobs(tw_gw_store(J->app))->list(tw_gw_store(J->app), &rf, list_row, &p)) {
    for (int k = 0; k < p.n; k++) tw_job_clear(&p.out[k]);
    free(p.out);
    return -1;
  }
  *next_seq = p.next_seq;
  *rows = p.out;
  return p.n;
}

int tw_jobs_object_size(tw_jobs *J, const char *bucket, const char *key, int64_t *size) {
  return tw_s3_object_size(J->app->s3, bucket, key, size);
}

/* --- submitting --------------------------------------------------------------------- */

static const route *route_of(tw_jobs *J, const char *type) {
  for (size_t i = 0; i < J->nroutes; i++)
    if (!strcmp(J->routes[i].type, type)) return &J->routes[i];
  return &J->dflt;
}

/* An earlier request with the same Idempotency-Key (locks held). */
static int idem_check(tw_jobs *J, tw_job_submit *s, const char *ikey) {
  pend *p = tw_map_get(&J->pending, ikey);
  if (p) return strcmp(p->fp, s->fingerprint) ? TW_JOB_IDEM_MISMATCH : TW_JOB_IDEM_BUSY;
  char id[37], fp[65], status[12];
  int found = tw_store_gw_jobs(tw_gw_store(J->app))
                  ->idem_find(tw_gw_store(J->app), s->owner, s->idem_key,
                              tw_now_ms() - IDEM_WINDOW_MS, id, fp, status);
  if (found < 0) return TW_JOB_ERROR;
  if (!found) return TW_JOB_OK;
  if (strcmp(fp, s->fingerprint)) return TW_JOB_IDEM_MISMATCH;
  snprintf(s->replay_id, sizeof s->replay_id, "%s", id);
  snprintf(s->replay_status, sizeof s->replay_status, "%s", status);
  return TW_JOB_REPLAY;
}

/* Cluster mode: the job and its message in one PostgreSQL transaction; the
 * answer needs no commit wait (*ticket 0). */
static int submit_cluster(tw_jobs *J, tw_job_submit *s, const route *rt, uint64_t *ticket) {
  char msg_id[37];
  tw_uuid4(msg_id);
  json_t *attrs =
      json_pack("{s:{s:s,s:s}}", "tweedle.job_id", "DataType", "String", "StringValue", s->id);
  char *attrs_s = json_dumps(attrs, JSON_COMPACT), *sys_s = NULL;
  json_decref(attrs);
  if (s->trace) {
    json_t *sys =
        json_pack("{s:{s:s,s:s}}", "AWSTraceHeader", "DataType", "String", "StringValue", s->trace);
    sys_s = json_dumps(sys, JSON_COMPACT);
    json_decref(sys);
  }
  int64_t now = tw_now_ms();
  tw_gw_job_new row = {.id = s->id,
                       .type = s->type,
                       .queue = rt->queue,
                       .owner = s->owner,
                       .created_ms = now,
                       .idem_key = s->idem_key,
                       .fingerprint = s->idem_key ? s->fingerprint : NULL};
  tw_pg_gw_submit x = {.job = &row,
                       .queue = rt->queue,
                       .msg_id = msg_id,
                       .body = s->body,
                       .attrs_json = attrs_s,
                       .sys_json = sys_s,
                       .sender = s->sender,
                       .idem_after_ms = now - IDEM_WINDOW_MS};
  int r = tw_store_pg_gw_submit(tw_gw_store(J->app), &x);
  free(attrs_s);
  free(sys_s);
  *ticket = 0;
  if (r) return r == TW_PG_UNAVAILABLE ? TW_JOB_UNAVAILABLE : TW_JOB_ERROR;
  if (x.replay) {
    if (strcmp(x.replay_fp, s->fingerprint)) return TW_JOB_IDEM_MISMATCH;
    snprintf(s->replay_id, sizeof s->replay_id, "%s", x.replay_id);
    snprintf(s->replay_status, sizeof s->replay_status, "%s", x.replay_status);
    return TW_JOB_REPLAY;
  }
  if (x.too_large) return TW_JOB_TOO_LARGE;
  if (x.no_queue) return TW_JOB_NO_QUEUE;
  stat_note(s->type, -1, -1);
  return TW_JOB_OK;
}

int tw_jobs_submit(tw_jobs *J, tw_job_submit *s, uint64_t *ticket) {
  tw_app *app = J->app;
  const route *rt = route_of(J, s->type);
  snprintf(s->queue_name, sizeof s->queue_name, "%s", rt->queue);
  if (app->pg_store) return submit_cluster(J, s, rt, ticket);
  json_t *attrs =
      json_pack("{s:{s:s,s:s}}", "tweedle.job_id", "DataType", "String", "StringValue", s->id);
  char ikey[420];
  if (s->idem_key) snprintf(ikey, sizeof ikey, "i:%s\x1f%s", s->owner, s->idem_key);
  int64_t now = tw_now_ms();
  int rc = TW_JOB_OK;
  tw_sqs_lock(app->sqs);
  tw_store_hold(app->store);
  pthread_mutex_lock(&J->mu);
  if (s->idem_key) {
    pend_evict(J);
    rc = idem_check(J, s, ikey);
  }
  if (rc == TW_JOB_OK) {
    int e = tw_sqs_enqueue_traced_locked(app->sqs, rt->arn, s->body, strlen(s->body), attrs,
                                         s->trace, s->sender);
    if (e == -2) {
      rc = TW_JOB_TOO_LARGE;
    } else if (e) {
      rc = TW_JOB_NO_QUEUE;
    } else {
      tw_gw_job_new row = {.id = s->id,
                           .type = s->type,
                           .queue = rt->queue,
                           .owner = s->owner,
                           .created_ms = now,
                           .idem_key = s->idem_key,
                           .fingerprint = s->idem_key ? s->fingerprint : NULL};
      tw_store_gw_jobs(app->store)->insert(app->store, &row);
      *ticket = tw_store_ticket(app->store);
      stat_note(s->type, -1, -1);
      if (s->idem_key) {
        pend *p = pend_touch(J, ikey, *ticket);
        snprintf(p->fp, sizeof p->fp, "%s", s->fingerprint);
        snprintf(p->job.id, sizeof p->job.id, "%s", s->id);
      }
    }
  }
  pthread_mutex_unlock(&J->mu);
  tw_store_release(app->store);
  tw_sqs_unlock(app->sqs);
  json_decref(attrs);
  return rc;
}

/* --- transitions ---------------------------------------------------------------------- */

/* queued -> running -> succeeded | failed; a start counts an attempt and may
 * come again while running (the message was redelivered) or after a failure (a
 * retry); a finished job is not started again nor finished twice. */
static int check(const tw_job_change *ch, const tw_job *j, char *why, size_t n) {
  const char *s = j->status;
  if (ch->verb == TW_JOB_START) {
    if (strcmp(s, "succeeded")) return TW_JOB_OK;
    snprintf(why, n, "Job %s has already succeeded: a finished job cannot start again.", j->id);
  } else if (!strcmp(s, "running")) {
    return TW_JOB_OK;
  } else if (!strcmp(s, "succeeded")) {
    snprintf(why, n, "Job %s has already succeeded: it cannot be %s again.", j->id,
             ch->verb == TW_JOB_COMPLETE ? "completed" : "failed");
  } else if (!strcmp(s, "failed")) {
    snprintf(why, n, "Job %s has already failed: start it again (a retry) before %s it.", j->id,
             ch->verb == TW_JOB_COMPLETE ? "completing" : "failing");
  } else {
    snprintf(why, n, "Job %s is %s: only a running job can be %s; start it first.", j->id, s,
             ch->verb == TW_JOB_COMPLETE ? "completed" : "failed");
  }
  return TW_JOB_CONFLICT;
}

/* A checked change made to j (in memory only). */
static void transition(tw_job *j, const tw_job_change *ch, int64_t now) {
  if (ch->verb == TW_JOB_START) {
    snprintf(j->status, sizeof j->status, "running");
    j->attempts++;
    j->started = now;
    j->finished = 0;
    tw_job_clear(j);
    j->size = -1;
  } else if (ch->verb == TW_JOB_COMPLETE) {
    snprintf(j->status, sizeof j->status, "succeeded");
    j->finished = now;
    tw_job_clear(j);
    j->bucket = strdup(ch->bucket);
    j->key = strdup(ch->key);
    j->size = ch->size;
  } else {
    snprintf(j->status, sizeof j->status, "failed");
    j->finished = now;
    free(j->error);
    j->error = strdup(ch->error);
  }
}

static void note_finish(const tw_job *j, const tw_job_change *ch, int64_t now) {
  if (ch->verb != TW_JOB_START)
    stat_note(j->type, (int)ch->verb, j->started ? (double)(now - j->started) : -1);
}

/* Applies a checked change to j and appends it to the store (locks held). */
static void apply(tw_jobs *J, tw_job *j, const tw_job_change *ch, int64_t now) {
  tw_store *st = tw_gw_store(J->app);
  const tw_gw_jobs_repo *repo = tw_store_gw_jobs(st);
  transition(j, ch, now);
  if (ch->verb == TW_JOB_START)
    repo->start(st, j->id, j->attempts, now);
  else if (ch->verb == TW_JOB_COMPLETE)
    repo->succeed(st, j->id, now, ch->bucket, ch->key);
  else
    repo->fail(st, j->id, now, ch->error);
  note_finish(j, ch, now);
  char key[48];
  snprintf(key, sizeof key, "j:%s", j->id);
  pend *p = pend_touch(J, key, tw_store_ticket(st));
  job_copy(&p->job, j);
}

/* Cluster mode: a change decided on the row PostgreSQL holds locked for it
 * (store/pg_gw.h), so that two nodes changing one job at once take turns:
 * the second sees the first's result (a finished job stays finished). */
typedef struct {
  const tw_job_change *ch;
  int64_t now;
  tw_job j;
  int have;
  char *why;
  size_t whylen;
} decide_ctx;

static int decide(void *ud, const tw_gw_job_row *row, tw_gw_job_update *u) {
  decide_ctx *d = ud;
  row_fields(row, &d->j);
  d->have = 1;
  if (check(d->ch, &d->j, d->why, d->whylen) != TW_JOB_OK) return 1;
  transition(&d->j, d->ch, d->now);
  u->to = d->ch->verb == TW_JOB_START      ? TW_GW_JOB_TO_RUNNING
          : d->ch->verb == TW_JOB_COMPLETE ? TW_GW_JOB_TO_SUCCEEDED
                                           : TW_GW_JOB_TO_FAILED;
  u->attempts = d->j.attempts;
  u->now_ms = d->now;
  u->bucket = d->ch->bucket;
  u->key = d->ch->key;
  u->error = d->ch->error;
  return 0;
}

static int change_cluster(tw_jobs *J, const char *id, const tw_job_change *ch, tw_job *after,
                          uint64_t *ticket, char *why, size_t whylen) {
  decide_ctx d = {.ch = ch, .now = tw_now_ms(), .why = why, .whylen = whylen};
  int rc = tw_store_pg_gw_job_change(tw_gw_store(J->app), id, decide, &d);
  *ticket = 0; /* committed already */
  if (rc == TW_PG_OK) {
    note_finish(&d.j, ch, d.now);
    if (d.j.bucket && d.j.size < 0) d.j.size = result_size(J, d.j.bucket, d.j.key);
    *after = d.j; /* the caller clears it */
    return TW_JOB_OK;
  }
  if (d.have) tw_job_clear(&d.j);
  if (rc == TW_PG_CONFLICT) return TW_JOB_CONFLICT;
  if (rc == TW_PG_NOT_FOUND) return TW_JOB_NOT_FOUND;
  return rc == TW_PG_UNAVAILABLE ? TW_JOB_UNAVAILABLE : TW_JOB_ERROR;
}

int tw_jobs_change(tw_jobs *J, const char *id, const tw_job_change *ch, tw_job *after,
                   uint64_t *ticket, char *why, size_t whylen) {
  tw_store *st = tw_gw_store(J->app);
  if (J->app->pg_store) return change_cluster(J, id, ch, after, ticket, why, whylen);
  tw_job j;
  tw_store_hold(st);
  pthread_mutex_lock(&J->mu);
  pend_evict(J);
  int found = current(J, id, &j);
  int rc = found < 0 ? TW_JOB_ERROR : found == 0 ? TW_JOB_NOT_FOUND : check(ch, &j, why, whylen);
  if (rc == TW_JOB_OK) {
    apply(J, &j, ch, tw_now_ms());
    *ticket = tw_store_ticket(st);
    *after = j; /* the caller clears it */
  } else if (found > 0) {
    /* a conflict reports a state that may still be committing */
    *ticket = tw_store_ticket(st);
    tw_job_clear(&j);
  }
  pthread_mutex_unlock(&J->mu);
  tw_store_release(st);
  return rc;
}

/* The SQS engine moved a message to its dead-letter queue (an event on the
 * bus, engine locked, the move's store hold held): a job still queued or
 * running has failed. */
static void on_dead_letter(void *ud, const tw_event *e) {
  tw_jobs *J = ud;
  const char *source_arn = e->resource, *msg_id = e->subject;
  json_t *a = json_object_get(e->attributes, "tweedle.job_id");
  const char *type = json_string_value(json_object_get(a, "DataType"));
  const char *id = json_string_value(json_object_get(a, "StringValue"));
  if (!type || strncmp(type, "String", 6) || !id || !*id || strlen(id) > 36) return;
  pthread_mutex_lock(&J->mu);
  pend_evict(J);
  tw_job j;
  if (current(J, id, &j) > 0) {
    if (!strcmp(j.status, "queued") || !strcmp(j.status, "running")) {
      tw_job_change ch = {.verb = TW_JOB_FAIL, .error = "dead-lettered"};
      apply(J, &j, &ch, tw_now_ms());
      tw_info("jobs: job %s failed: its message %s was moved from %s to the dead-letter queue", id,
              msg_id, source_arn);
    }
    tw_job_clear(&j);
  }
  pthread_mutex_unlock(&J->mu);
}

/* --- the job queues ---------------------------------------------------------------------- */

/* Creates a queue that does not exist yet through the engine's own CreateQueue,
 * so it is an ordinary queue. With dlq_arn: its RedrivePolicy. */
static int ensure_queue(tw_app *app, const char *name, const char *dlq_arn, char arn[256],
                        char *err, size_t errlen) {
  snprintf(arn, 256, "arn:aws:sqs:%s:%s:%s", app->cfg.region, app->cfg.account, name);
  int fifo = 0, exists;
  if (app->sqs_pg) { /* cluster mode: the queues in PostgreSQL (a FIFO one's name says so) */
    size_t len = strlen(name);
    fifo = len > 5 && !strcmp(name + len - 5, ".fifo");
    json_t *in = json_pack("{s:s}", "QueueName", name);
    tw_sqs_call c = {.action = "GetQueueUrl", .in = in};
    snprintf(c.base_url, sizeof c.base_url, "http://%s", app->cfg.listen);
    tw_sqs_pg_execute(app->sqs_pg, &c);
    exists = c.err == TW_ERR_OK;
    json_decref(c.out);
    json_decref(in);
  } else {
    tw_sqs_lock(app->sqs);
    exists = tw_sqs_queue_kind_locked(app->sqs, arn, &fifo);
    tw_sqs_unlock(app->sqs);
  }
  if (exists && fifo) {
    snprintf(err, errlen, "jobs: the queue %s is a FIFO queue; job queues are standard queues",
             name);
    return -1;
  }
  if (exists) return 0;
  json_t *attrs = json_object();
  if (dlq_arn) {
    char rp[400];
    snprintf(rp, sizeof rp, "{\"deadLetterTargetArn\":\"%s\",\"maxReceiveCount\":%d}", dlq_arn,
             app->cfg.jobs_max_receive_count);
    json_object_set_new(attrs, "RedrivePolicy", json_string(rp));
  } else {
    json_object_set_new(attrs, "MessageRetentionPeriod", json_string(DLQ_RETENTION));
  }
  json_t *in = json_pack("{s:s,s:o}", "QueueName", name, "Attributes", attrs);
  tw_sqs_call c = {.sqs = app->sqs, .action = "CreateQueue", .in = in};
  snprintf(c.base_url, sizeof c.base_url, "%s://%s", app->cfg.tls_cert[0] ? "https" : "http",
           app->cfg.listen);
  if (app->sqs_pg)
    tw_sqs_pg_execute(app->sqs_pg, &c);
  else
    tw_sqs_execute(&c);
  int rc = 0;
  if (c.err != TW_ERR_OK) {
    snprintf(err, errlen, "jobs: cannot create the queue %s: %s", name,
             c.msg[0] ? c.msg : tw_err_get(c.err)->message);
    rc = -1;
  } else {
    tw_info("jobs: created the queue %s%s", name, dlq_arn ? " (with a dead-letter queue)" : "");
  }
  json_decref(c.out);
  json_decref(in);
  return rc;
}

/* A job queue and its dead-letter queue <name>-dlq. */
static int setup_route(tw_app *app, route *rt, char *err, size_t errlen) {
  char dlq[96], dlq_arn[256];
  if (strlen(rt->queue) + 4 > 80) {
    snprintf(err, errlen, "jobs: the queue name %s is too long for a -dlq companion", rt->queue);
    return -1;
  }
  snprintf(dlq, sizeof dlq, "%s-dlq", rt->queue);
  if (ensure_queue(app, dlq, NULL, dlq_arn, err, errlen)) return -1;
  return ensure_queue(app, rt->queue, dlq_arn, rt->arn, err, errlen);
}

int tw_jobs_open(tw_app *app, char *err, size_t errlen) {
  tw_jobs *J = calloc(1, sizeof *J);
  if (!J) return -1;
  J->app = app;
  pthread_mutex_init(&J->mu, NULL);
  tw_map_init(&J->pending);
  snprintf(J->dflt.queue, sizeof J->dflt.queue, "%s", app->cfg.jobs_queue);
  if (setup_route(app, &J->dflt, err, errlen)) goto fail;
  if (app->cfg.njob_routes) {
    J->routes = calloc(app->cfg.njob_routes, sizeof *J->routes);
    for (size_t i = 0; i < app->cfg.njob_routes; i++) {
      route *rt = &J->routes[J->nroutes++];
      const tw_job_route_cfg *rc = &app->cfg.job_routes[i];
      if (!tw_jobs_valid_type(rc->type)) {
        snprintf(err, errlen, "jobs: \"%s\" is not a valid job type", rc->type);
        goto fail;
      }
      snprintf(rt->type, sizeof rt->type, "%s", rc->type);
      snprintf(rt->queue, sizeof rt->queue, "%s", rc->queue);
      if (setup_route(app, rt, err, errlen)) goto fail;
    }
  }
  tw_events_lock(app->events); /* the engine may be announcing one right now */
  int listening =
      tw_events_listen(app->events, "aws.sqs", "MessageDeadLettered", on_dead_letter, J);
  tw_events_unlock(app->events);
  if (listening) {
    snprintf(err, errlen, "jobs: cannot listen to dead-letter events");
    goto fail;
  }
  pthread_mutex_lock(&g_life);
  g_jobs = J;
  pthread_mutex_unlock(&g_life);
  return 0;
fail:
  tw_map_free(&J->pending);
  pthread_mutex_destroy(&J->mu);
  free(J->routes);
  free(J);
  return -1;
}

/* After the HTTP server has stopped, before the queue engine is closed. */
void tw_jobs_close(tw_app *app) {
  tw_jobs *J = g_jobs;
  if (!J) return;
  if (app && app->events) {
    tw_events_lock(app->events);
    tw_events_listen(app->events, NULL, NULL, NULL, J);
    tw_events_unlock(app->events);
  }
  pthread_mutex_lock(&g_life);
  g_jobs = NULL;
  pthread_mutex_unlock(&g_life);
  while (J->head) {
    pend *p = J->head;
    pend_unlink(J, p);
    pend_free(p);
  }
  tw_map_free(&J->pending);
  pthread_mutex_destroy(&J->mu);
  free(J->routes);
  free(J);
}
