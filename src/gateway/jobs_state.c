/* The job API's state: the jobs table, the job queues, the dead-letter hook.
 *
 * Transitions are checked against a job's latest state. A change is appended
 * to the store at once but is durable only after the next group commit, so
 * until then the new state sits in `pending` (in memory, ordered by ticket)
 * and is read from there; once the store has committed its batch the entry is
 * dropped and the table answers. The same holds for Idempotency-Keys whose
 * first request is not durable yet.
 *
 * Lock order: the SQS engine (tw_sqs_lock), the store hold, then jobs->mu. The
 * dead-letter hook runs inside the first two, so every path that changes a job
 * takes the hold before mu, and reads the table under it. */
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/map.h"
#include "gateway/jobs_internal.h"

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
  uint64_t done = tw_store_committed(J->app->store);
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

#define JOB_SELECT                                                                        \
  "SELECT j.seq,j.id,j.type,j.status,j.attempts,j.created_ms,j.started_ms,j.finished_ms," \
  "j.error,j.result_bucket,j.result_key,o.size FROM jobs j LEFT JOIN objects o"           \
  " ON o.bucket=j.result_bucket AND o.key=j.result_key"

static sqlite3_stmt *prepare(tw_jobs *J, const char *sql) {
  sqlite3 *db = tw_store_reader(J->app->store);
  sqlite3_stmt *st = NULL;
  if (!db || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    tw_error("jobs: cannot read the jobs table: %s", db ? sqlite3_errmsg(db) : "no reader");
    sqlite3_finalize(st);
    return NULL;
  }
  return st;
}

static char *col_dup(sqlite3_stmt *st, int i) {
  if (sqlite3_column_type(st, i) == SQLITE_NULL) return NULL;
  const void *p = sqlite3_column_blob(st, i);
  int n = sqlite3_column_bytes(st, i);
  char *s = malloc((size_t)n + 1);
  if (n) memcpy(s, p, (size_t)n);
  s[n] = 0;
  return s;
}

static void col_copy(sqlite3_stmt *st, int i, char *out, size_t n) {
  const char *v = (const char *)sqlite3_column_text(st, i);
  snprintf(out, n, "%s", v ? v : "");
}

static void row_to_job(sqlite3_stmt *st, tw_job *j) {
  memset(j, 0, sizeof *j);
  j->seq = sqlite3_column_int64(st, 0);
  col_copy(st, 1, j->id, sizeof j->id);
  col_copy(st, 2, j->type, sizeof j->type);
  col_copy(st, 3, j->status, sizeof j->status);
  j->attempts = sqlite3_column_int(st, 4);
  j->created = sqlite3_column_int64(st, 5);
  j->started = sqlite3_column_int64(st, 6);
  j->finished = sqlite3_column_int64(st, 7);
  j->error = col_dup(st, 8);
  j->bucket = col_dup(st, 9);
  j->key = col_dup(st, 10);
  j->size = sqlite3_column_type(st, 11) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 11);
}

int tw_jobs_read(tw_jobs *J, const char *id, tw_job *out) {
  sqlite3_stmt *st = prepare(J, JOB_SELECT " WHERE j.id=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
  if (found == 1) row_to_job(st, out);
  sqlite3_finalize(st);
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

int tw_jobs_list(tw_jobs *J, const tw_job_filter *f, tw_job **rows, int64_t *next_seq) {
  char sql[512];
  snprintf(sql, sizeof sql, JOB_SELECT " WHERE 1%s%s%s ORDER BY j.seq DESC LIMIT ?",
           f->status ? " AND j.status=?" : "", f->type ? " AND j.type=?" : "",
           f->before_seq > 0 ? " AND j.seq<?" : "");
  sqlite3_stmt *st = prepare(J, sql);
  if (!st) return -1;
  int i = 1;
  if (f->status) sqlite3_bind_text(st, i++, f->status, -1, SQLITE_STATIC);
  if (f->type) sqlite3_bind_text(st, i++, f->type, -1, SQLITE_STATIC);
  if (f->before_seq > 0) sqlite3_bind_int64(st, i++, f->before_seq);
  sqlite3_bind_int(st, i, f->limit + 1); /* one more tells whether a page follows */
  tw_job *out = calloc((size_t)f->limit + 1, sizeof *out);
  int n = 0, rc;
  *next_seq = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (n == f->limit) {
      *next_seq = out[n - 1].seq;
      break;
    }
    row_to_job(st, &out[n++]);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    for (int k = 0; k < n; k++) tw_job_clear(&out[k]);
    free(out);
    return -1;
  }
  *rows = out;
  return n;
}

int tw_jobs_object_size(tw_jobs *J, const char *bucket, const char *key, int64_t *size) {
  sqlite3_stmt *st = prepare(J, "SELECT size FROM objects WHERE bucket=? AND key=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, key, (int)strlen(key), SQLITE_STATIC);
  int found = sqlite3_step(st) == SQLITE_ROW;
  if (found) *size = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  if (found) return 1;
  st = prepare(J, "SELECT 1 FROM buckets WHERE name=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  int bucket_found = sqlite3_step(st) == SQLITE_ROW;
  sqlite3_finalize(st);
  return bucket_found ? 0 : -1;
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
  sqlite3_stmt *st = prepare(J,
                             "SELECT id,fingerprint,status FROM jobs WHERE owner=? AND idem_key=?"
                             " AND created_ms>? ORDER BY created_ms DESC LIMIT 1");
  if (!st) return TW_JOB_ERROR;
  sqlite3_bind_text(st, 1, s->owner, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, s->idem_key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, tw_now_ms() - IDEM_WINDOW_MS);
  int rc = sqlite3_step(st), res = TW_JOB_OK;
  if (rc == SQLITE_ROW) {
    const char *fp = (const char *)sqlite3_column_text(st, 1);
    if (fp && !strcmp(fp, s->fingerprint)) {
      res = TW_JOB_REPLAY;
      col_copy(st, 0, s->replay_id, sizeof s->replay_id);
      col_copy(st, 2, s->replay_status, sizeof s->replay_status);
    } else {
      res = TW_JOB_IDEM_MISMATCH;
    }
  } else if (rc != SQLITE_DONE) {
    res = TW_JOB_ERROR;
  }
  sqlite3_finalize(st);
  return res;
}

int tw_jobs_submit(tw_jobs *J, tw_job_submit *s, uint64_t *ticket) {
  tw_app *app = J->app;
  const route *rt = route_of(J, s->type);
  snprintf(s->queue_name, sizeof s->queue_name, "%s", rt->queue);
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
    int e =
        tw_sqs_enqueue_attrs_locked(app->sqs, rt->arn, s->body, strlen(s->body), attrs, s->sender);
    if (e == -2) {
      rc = TW_JOB_TOO_LARGE;
    } else if (e) {
      rc = TW_JOB_NO_QUEUE;
    } else {
      tw_sql_val v[] = {TW_SQL_S(s->id),
                        TW_SQL_S(s->type),
                        TW_SQL_I(now),
                        TW_SQL_S(rt->queue),
                        TW_SQL_S(s->owner),
                        TW_SQL_S(s->idem_key),
                        TW_SQL_S(s->idem_key ? s->fingerprint : NULL)};
      tw_store_exec(app->store,
                    "INSERT INTO jobs(id,type,status,attempts,created_ms,queue,owner,idem_key,"
                    "fingerprint) VALUES(?,?,'queued',0,?,?,?,?,?)",
                    v, 7);
      *ticket = tw_store_ticket(app->store);
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

/* Applies a checked change to j and appends it to the store (locks held). */
static void apply(tw_jobs *J, tw_job *j, const tw_job_change *ch, int64_t now) {
  tw_store *st = J->app->store;
  if (ch->verb == TW_JOB_START) {
    snprintf(j->status, sizeof j->status, "running");
    j->attempts++;
    j->started = now;
    j->finished = 0;
    tw_job_clear(j);
    j->size = -1;
    tw_sql_val v[] = {TW_SQL_I(j->attempts), TW_SQL_I(now), TW_SQL_S(j->id)};
    tw_store_exec(st,
                  "UPDATE jobs SET status='running',attempts=?,started_ms=?,finished_ms=NULL,"
                  "error=NULL,result_bucket=NULL,result_key=NULL WHERE id=?",
                  v, 3);
  } else if (ch->verb == TW_JOB_COMPLETE) {
    snprintf(j->status, sizeof j->status, "succeeded");
    j->finished = now;
    tw_job_clear(j);
    j->bucket = strdup(ch->bucket);
    j->key = strdup(ch->key);
    j->size = ch->size;
    tw_sql_val v[] = {TW_SQL_I(now), TW_SQL_S(ch->bucket), TW_SQL_B(ch->key, strlen(ch->key)),
                      TW_SQL_S(j->id)};
    tw_store_exec(st,
                  "UPDATE jobs SET status='succeeded',finished_ms=?,result_bucket=?,result_key=?,"
                  "error=NULL WHERE id=?",
                  v, 4);
  } else {
    snprintf(j->status, sizeof j->status, "failed");
    j->finished = now;
    free(j->error);
    j->error = strdup(ch->error);
    tw_sql_val v[] = {TW_SQL_I(now), TW_SQL_S(ch->error), TW_SQL_S(j->id)};
    tw_store_exec(st, "UPDATE jobs SET status='failed',finished_ms=?,error=? WHERE id=?", v, 3);
  }
  char key[48];
  snprintf(key, sizeof key, "j:%s", j->id);
  pend *p = pend_touch(J, key, tw_store_ticket(st));
  job_copy(&p->job, j);
}

int tw_jobs_change(tw_jobs *J, const char *id, const tw_job_change *ch, tw_job *after,
                   uint64_t *ticket, char *why, size_t whylen) {
  tw_store *st = J->app->store;
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

/* The SQS engine moved a message to its dead-letter queue (engine locked, the
 * move's store hold held): a job still queued or running has failed. */
static void on_dead_letter(void *ud, const char *source_arn, const char *msg_id, json_t *attrs) {
  tw_jobs *J = ud;
  json_t *a = json_object_get(attrs, "tweedle.job_id");
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
  int fifo = 0;
  tw_sqs_lock(app->sqs);
  int exists = tw_sqs_queue_kind_locked(app->sqs, arn, &fifo);
  tw_sqs_unlock(app->sqs);
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
  snprintf(c.base_url, sizeof c.base_url, "http://%s", app->cfg.listen);
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
  tw_sqs_set_dead_letter_hook(app->sqs, on_dead_letter, J);
  g_jobs = J;
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
  if (app && app->sqs) tw_sqs_set_dead_letter_hook(app->sqs, NULL, NULL);
  g_jobs = NULL;
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
