/* The worker runtime: slot threads (poll → run → settle), the heartbeat that
 * keeps slow batches invisible, signals and draining, metrics. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "worker/internal.h"
#include "worker/wlogs.h"
#include "worker/wmetrics.h"

#define HANDLER_OUT_CAP (6u << 20) /* Lambda's response payload limit */
#define HEARTBEAT_TICK_MS 200

/* --- messages ------------------------------------------------------------------------ */

const char *tw_wmsg_str(const tw_wmsg *m, const char *member) {
  const char *v = json_string_value(json_object_get(m->raw, member));
  return v ? v : "";
}

const char *tw_wmsg_attr(const tw_wmsg *m, const char *name) {
  json_t *a = json_object_get(json_object_get(m->raw, "MessageAttributes"), name);
  return json_string_value(json_object_get(a, "StringValue"));
}

int tw_wmsg_set_body_file(tw_wmsg *m, const char *path) {
  char *p = strdup(path);
  if (!p) return -1;
  free(m->body_path);
  m->body_path = p;
  return 0;
}

static void wmsg_init(tw_worker *w, tw_wmsg *m, json_t *raw) {
  memset(m, 0, sizeof *m);
  m->raw = json_incref(raw);
  m->id = tw_wmsg_str(m, "MessageId");
  m->receipt = tw_wmsg_str(m, "ReceiptHandle");
  json_t *attrs = json_object_get(raw, "Attributes");
  m->group = json_string_value(json_object_get(attrs, "MessageGroupId"));
  const char *rc = json_string_value(json_object_get(attrs, "ApproximateReceiveCount"));
  m->receive_count = rc ? atoi(rc) : 1;
  const char *job = w->o.jobs ? tw_wmsg_attr(m, "tweedle.job_id") : NULL;
  if (job) snprintf(m->job_id, sizeof m->job_id, "%s", job);
}

static void wmsg_free(tw_worker *w, tw_wmsg *m) {
  if (m->ext && w->ext.msg_free) w->ext.msg_free(w->ext.ud, m);
  free(m->body_path);
  json_decref(m->raw);
}

/* --- accessors ---------------------------------------------------------------------- */

tw_sqsc *tw_worker_sqs(tw_worker *w) {
  return w->sqs;
}
const char *tw_worker_queue_url(const tw_worker *w) {
  return w->queue_url;
}
const char *tw_worker_queue_arn(const tw_worker *w) {
  return w->queue_arn;
}
int tw_worker_is_fifo(const tw_worker *w) {
  return w->fifo;
}
const tw_worker_opts *tw_worker_options(const tw_worker *w) {
  return &w->o;
}
int tw_worker_stopping(const tw_worker *w) {
  return w->stopping;
}

tw_s3c *tw_worker_s3(tw_worker *w) {
  pthread_mutex_lock(&w->s3_mu);
  if (!w->s3) {
    char ep[1024], err[512];
    const char *flag = w->o.s3_endpoint[0] ? w->o.s3_endpoint : w->o.endpoint;
    const char *e1 = getenv("AWS_ENDPOINT_URL_S3"), *e2 = getenv("AWS_ENDPOINT_URL");
    /* an SQS endpoint that is not AWS's is a tweedle (or alike): S3 lives there too */
    if (!flag[0] && !(e1 && *e1) && !(e2 && *e2) && !strstr(w->endpoint, ".amazonaws.com"))
      flag = w->endpoint;
    tw_aws_endpoint("s3", flag, w->creds.region, ep, sizeof ep);
    w->s3 = tw_s3c_new(ep, &w->creds, err, sizeof err);
    if (!w->s3) tw_error("worker: S3 client: %s", err);
  }
  tw_s3c *s = w->s3;
  pthread_mutex_unlock(&w->s3_mu);
  return s;
}

void tw_worker_stop(tw_worker *w) {
  char c = 's';
  ssize_t r = write(w->wake[1], &c, 1); /* a full pipe: a stop is already pending */
  (void)r;
}

/* --- metrics -------------------------------------------------------------------------- */

static void metrics_log(tw_worker *w, const char *what) {
  pthread_mutex_lock(&w->mmu);
  tw_wmetrics m = w->total;
  pthread_mutex_unlock(&w->mmu);
  double secs = (double)(tw_mono_ms() - w->started_ms) / 1000.0;
  tw_info(
      "worker %s: processed=%llu failed=%llu retried=%llu released=%llu batches=%llu "
      "failed_batches=%llu extended=%llu handler_p50_ms=%.2f handler_p99_ms=%.2f "
      "rate=%.1f/s uptime=%.0fs",
      what, (unsigned long long)m.processed, (unsigned long long)m.failed,
      (unsigned long long)m.retried, (unsigned long long)m.released, (unsigned long long)m.batches,
      (unsigned long long)m.failed_batches, (unsigned long long)m.extended,
      (double)tw_hist_quantile(&m.hist, 0.5) / 1000.0,
      (double)tw_hist_quantile(&m.hist, 0.99) / 1000.0, secs > 0 ? (double)m.processed / secs : 0.0,
      secs);
}

/* Waits ms unless the worker stops meanwhile. */
static void pause_ms(tw_worker *w, int ms) {
  for (int t = 0; t < ms && !w->stopping; t += 50) usleep(50000);
}

/* --- running a batch ---------------------------------------------------------------- */

/* The batch's trace: the first AWSTraceHeader among its messages (a Lambda
 * invocation carries one trace; the sender's, for an SQS trigger). */
static const char *batch_trace(tw_wmsg *const *run, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char *t = json_string_value(
        json_object_get(json_object_get(run[i]->raw, "Attributes"), "AWSTraceHeader"));
    if (t && *t) return t;
  }
  return NULL;
}

/* env[3]: TWEEDLE_JOB_OUTPUT (--jobs), _X_AMZN_TRACE_ID (the batch's trace,
 * as Lambda sets it; --exec handlers only: a persistent one outlives batches). */
static char **handler_env(tw_wslot *s, const char *trace, char *buf, size_t n, char *tbuf,
                          size_t tn, char **env) {
  size_t k = 0;
  if (s->w->o.jobs) {
    snprintf(buf, n, "TWEEDLE_JOB_OUTPUT=%s", s->job_output);
    env[k++] = buf;
  }
  if (trace) {
    snprintf(tbuf, tn, "_X_AMZN_TRACE_ID=%s", trace);
    env[k++] = tbuf;
  }
  env[k] = NULL;
  return k ? env : NULL;
}

/* --name: an --exec handler's stdout lines go to its log group too. */
static void log_stdout(const tw_proc_result *r) {
  if (!tw_wlogs_current || !r->out.data) return;
  const char *p = r->out.data, *end = p + r->out.len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    tw_wlogs_line(tw_wlogs_current, p, (size_t)(e - p));
    p = e + 1;
  }
}

static tw_wanswer_kind run_process(tw_worker *w, tw_wslot *s, tw_wbatch *b, tw_wmsg **run, size_t n,
                                   char *why, size_t whylen) {
  if (!s->in) s->in = tw_wstream_new();
  tw_wstream *in = s->in;
  if (in) tw_wstream_reset(in);
  if (!in || tw_wevent_write(in, run, n, w->queue_arn, w->creds.region)) {
    snprintf(why, whylen, "could not build the event (a body file is missing?)");
    return TW_WANSWER_FAILED;
  }
  char envbuf[600], tracebuf[300], *envv[3];
  char **env = handler_env(s, w->o.mode == TW_WMODE_EXEC ? batch_trace(run, n) : NULL, envbuf,
                           sizeof envbuf, tracebuf, sizeof tracebuf, envv);
  tw_proc_result r;
  tw_proc_result_init(&r, HANDLER_OUT_CAP);
  tw_wanswer_kind k = TW_WANSWER_FAILED;
  char desc[300];
  if (w->o.mode == TW_WMODE_EXEC) {
    tw_proc_run(w->o.exec_cmd, env, in, w->o.timeout, w->o.kill_grace, &w->force, &r);
    log_stdout(&r);
    if (r.spawn_failed || r.timed_out || r.aborted || r.signo || r.exit_code != 0 || r.out_overflow)
      snprintf(why, whylen, "handler pid=%d %.200s", (int)r.pid,
               tw_proc_describe(&r, desc, sizeof desc));
    else
      k = tw_wanswer_apply(r.out.data, r.out.len, w->o.report_failures, run, n, why, whylen);
  } else {
    char err[256];
    if (s->pp && !tw_pproc_alive(s->pp)) {
      tw_pproc_stop(s->pp, 0);
      s->pp = NULL;
    }
    if (!s->pp) {
      s->pp = tw_pproc_start(w->o.exec_cmd, env, err, sizeof err);
      if (s->pp)
        tw_info("worker: slot %d started handler pid=%d", s->idx, (int)tw_pproc_pid(s->pp));
    }
    if (!s->pp) {
      snprintf(why, whylen, "cannot start the handler: %.200s", err);
    } else if (tw_pproc_exchange(s->pp, in, w->o.timeout, w->o.kill_grace, &w->force, &r)) {
      snprintf(why, whylen, "handler pid=%d %.180s; it will be restarted", (int)r.pid,
               tw_proc_describe(&r, desc, sizeof desc));
      tw_pproc_stop(s->pp, 0);
      s->pp = NULL;
    } else {
      k = tw_wanswer_apply(r.out.data, r.out.len, w->o.report_failures, run, n, why, whylen);
    }
  }
  b->handler_ms = r.ms;
  tw_proc_result_free(&r);
  tw_wstream_reset(in); /* closes body files now */
  return k;
}

/* Runs the batch and sets every message's outcome. */
static void run_batch(tw_worker *w, tw_wslot *s, tw_wbatch *b) {
  tw_wmsg *run[16];
  size_t n = 0;
  for (size_t i = 0; i < b->n; i++) {
    tw_wmsg *m = &b->m[i];
    char why[256] = "";
    if (w->o.jobs && m->job_id[0]) {
      int j = tw_wjobs_start(w, m, why, sizeof why);
      if (j) {
        m->outcome = j > 0 ? TW_WMSG_OK : TW_WMSG_FAILED;
        tw_warn("worker: job %s (message %s): %s", m->job_id, m->id, why);
        continue;
      }
    }
    if (w->ext.prepare && w->ext.prepare(w->ext.ud, w, m, why, sizeof why)) {
      if (m->outcome == TW_WMSG_PENDING) m->outcome = TW_WMSG_FAILED;
      tw_warn("worker: message %s not run: %s", m->id, why);
      continue;
    }
    run[n++] = m;
  }
  if (n == 0) return;
  if (w->o.jobs) unlink(s->job_output);
  tw_wanswer_kind k;
  int64_t t0 = tw_mono_ms();
  b->why[0] = 0;
  tw_wpub_enter(w->pub);
  switch (w->o.mode) {
    case TW_WMODE_EXEC:
    case TW_WMODE_PERSISTENT:
      k = run_process(w, s, b, run, n, b->why, sizeof b->why);
      break;
    case TW_WMODE_FN:
      k = tw_wcapi_run(w, s, b, run, n, b->why, sizeof b->why);
      break;
    default:
      w->ext.process(w->ext.ud, w, b);
      b->handler_ms = (double)(tw_mono_ms() - t0);
      k = TW_WANSWER_PARTIAL;
      for (size_t i = 0; i < n; i++)
        if (run[i]->outcome == TW_WMSG_PENDING) run[i]->outcome = TW_WMSG_FAILED;
  }
  tw_wpub_leave(w->pub, n, b->handler_ms, k == TW_WANSWER_FAILED);
  for (size_t i = 0; i < n; i++) {
    if (k == TW_WANSWER_FAILED)
      run[i]->outcome = TW_WMSG_FAILED;
    else if (run[i]->outcome == TW_WMSG_PENDING)
      run[i]->outcome = TW_WMSG_OK;
  }
  if (w->fifo) {
    tw_wmsg *all[16];
    for (size_t i = 0; i < b->n; i++) all[i] = &b->m[i];
    tw_wfifo_stop_at_failure(all, b->n);
  }
  size_t nfail = 0;
  for (size_t i = 0; i < n; i++)
    nfail += run[i]->outcome != TW_WMSG_OK &&
             run[i]->outcome != TW_WMSG_DONE; /* DONE: a pipeline step */
  const char *trace = batch_trace(run, n);
  if (k == TW_WANSWER_FAILED)
    tw_warn("worker: batch of %zu failed: %s%s%s", n, b->why[0] ? b->why : "handler failed",
            trace ? " trace=" : "", trace ? trace : "");
  else if (nfail)
    tw_warn("worker: %zu of %zu messages failed or handed back%s%s%s%s", nfail, n,
            b->why[0] ? ": " : "", b->why, trace ? " trace=" : "", trace ? trace : "");
  if (w->o.jobs)
    for (size_t i = 0; i < n; i++) {
      tw_wmsg *m = run[i];
      if (!m->job_id[0] || m->outcome == TW_WMSG_RELEASE) continue;
      tw_wjobs_finish(w, m, m->outcome == TW_WMSG_OK, s->job_output,
                      b->why[0] ? b->why : "the handler reported this message as failed");
    }
  pthread_mutex_lock(&w->mmu);
  w->total.batches++;
  if (k == TW_WANSWER_FAILED) w->total.failed_batches++;
  tw_hist_add(&w->total.hist, (uint64_t)(b->handler_ms * 1000));
  pthread_mutex_unlock(&w->mmu);
}

/* Deletes, hands back and releases as the outcomes say. */
static void settle(tw_worker *w, tw_wslot *s, tw_wbatch *b) {
  pthread_mutex_lock(&s->mu);
  while (s->hb_busy) pthread_cond_wait(&s->cv, &s->mu);
  s->settling = 1;
  pthread_mutex_unlock(&s->mu);
  const char *del[16], *fail[16], *rel[16];
  tw_wmsg *delm[16];
  size_t nd = 0, nf = 0, nr = 0, ndone = 0;
  for (size_t i = 0; i < b->n; i++) {
    tw_wmsg *m = &b->m[i];
    switch (m->outcome) {
      case TW_WMSG_OK:
        delm[nd] = m, del[nd++] = m->receipt;
        break;
      case TW_WMSG_RELEASE:
        rel[nr++] = m->receipt;
        break;
      case TW_WMSG_DONE:
        ndone++;
        break;
      default:
        fail[nf++] = m->receipt;
        break;
    }
  }
  tw_sqsc_error e;
  char es[1300];
  size_t deleted = 0;
  if (nd) {
    int ok[16];
    int rc = tw_sqsc_delete_batch(w->sqs, w->queue_url, del, nd, ok, &e);
    if (rc) tw_warn("worker: DeleteMessageBatch: %s", tw_sqsc_strerror(&e, es, sizeof es));
    for (size_t i = 0; i < nd; i++) {
      if (!ok[i]) continue;
      deleted++;
      if (w->ext.deleted) w->ext.deleted(w->ext.ud, w, delm[i]);
    }
  }
  if (nf && w->o.retry_delay >= 0 &&
      tw_sqsc_change_visibility_batch(w->sqs, w->queue_url, fail, nf, w->o.retry_delay, NULL, &e))
    tw_warn("worker: ChangeMessageVisibilityBatch (retry delay): %s",
            tw_sqsc_strerror(&e, es, sizeof es));
  if (nr && tw_sqsc_change_visibility_batch(w->sqs, w->queue_url, rel, nr, 0, NULL, &e))
    tw_warn("worker: ChangeMessageVisibilityBatch (release): %s",
            tw_sqsc_strerror(&e, es, sizeof es));
  pthread_mutex_lock(&w->mmu);
  w->total.processed += deleted + ndone;
  w->total.failed += nf;
  w->total.released += nr;
  pthread_mutex_unlock(&w->mmu);
}

/* --- slots ----------------------------------------------------------------------------- */

static void set_active(tw_wslot *s, tw_wbatch *b) {
  pthread_mutex_lock(&s->mu);
  while (s->hb_busy) pthread_cond_wait(&s->cv, &s->mu);
  s->active = b;
  s->settling = 0;
  if (b) s->extended_at = b->received_ms;
  pthread_mutex_unlock(&s->mu);
}

/* Adds received messages to the batch (under the lock the heartbeat reads it with). */
static void add_messages(tw_worker *w, tw_wslot *s, tw_wbatch *b, json_t *msgs) {
  size_t i;
  json_t *raw;
  pthread_mutex_lock(&s->mu);
  json_array_foreach(msgs, i, raw) {
    if (b->n >= 10) break; /* never more than asked for */
    wmsg_init(w, &b->m[b->n], raw);
    b->n++;
  }
  pthread_mutex_unlock(&s->mu);
}

/* --batch-window: keep receiving until the batch is full or the window closes. */
static void gather(tw_worker *w, tw_wslot *s, tw_wbatch *b) {
  int64_t end = b->received_ms + (int64_t)(w->o.batch_window * 1000);
  while ((int)b->n < w->o.batch_size && !w->stopping) {
    int64_t left = end - tw_mono_ms();
    if (left <= 0) break;
    int wait = left >= 1000 ? (int)(left / 1000) : 0;
    if (wait > w->o.poll_wait) wait = w->o.poll_wait;
    json_t *msgs = NULL;
    tw_sqsc_error e;
    if (tw_sqsc_receive(w->sqs, w->queue_url, w->o.batch_size - (int)b->n, wait, w->o.visibility,
                        &msgs, &e, &s->cancel))
      break;
    size_t got = json_array_size(msgs);
    add_messages(w, s, b, msgs);
    json_decref(msgs);
    if (!got && wait == 0) usleep((useconds_t)(left < 50 ? left : 50) * 1000);
  }
}

static void *slot_main(void *arg) {
  tw_wslot *s = arg;
  tw_worker *w = s->w;
  int backoff = 0;
  tw_wbatch b;
  tw_wmsg msgs[10];
  while (!w->stopping) {
    json_t *got = NULL;
    tw_sqsc_error e;
    if (tw_sqsc_receive(w->sqs, w->queue_url, w->o.batch_size, w->o.poll_wait, w->o.visibility,
                        &got, &e, &s->cancel)) {
      if (w->stopping) break;
      char es[1300];
      backoff = backoff ? (backoff * 2 > 10000 ? 10000 : backoff * 2) : 500;
      tw_warn("worker: ReceiveMessage: %s (retrying in %.1f s)",
              tw_sqsc_strerror(&e, es, sizeof es), backoff / 1000.0);
      pause_ms(w, backoff);
      continue;
    }
    backoff = 0;
    if (json_array_size(got) == 0) {
      json_decref(got);
      continue;
    }
    memset(&b, 0, sizeof b);
    b.m = msgs;
    b.slot = s->idx;
    b.received_ms = tw_mono_ms();
    set_active(s, &b);
    add_messages(w, s, &b, got);
    json_decref(got);
    if (w->o.batch_window > 0) gather(w, s, &b);
    size_t retried = 0;
    for (size_t i = 0; i < b.n; i++) retried += b.m[i].receive_count > 1;
    if (retried) {
      pthread_mutex_lock(&w->mmu);
      w->total.retried += retried;
      pthread_mutex_unlock(&w->mmu);
    }
    if (w->stopping) { /* received after the stop began: not started, back at once */
      for (size_t i = 0; i < b.n; i++) b.m[i].outcome = TW_WMSG_RELEASE;
      tw_wpub_throttle(w->pub);
    } else {
      run_batch(w, s, &b);
    }
    settle(w, s, &b);
    set_active(s, NULL);
    for (size_t i = 0; i < b.n; i++) wmsg_free(w, &b.m[i]);
    tw_wcapi_wait(s); /* an in-process handler past its timeout still holds the slot */
  }
  tw_wcapi_wait(s);
  if (s->pp) {
    tw_pproc_stop(s->pp, w->o.kill_grace);
    s->pp = NULL;
  }
  tw_wstream_free(s->in);
  s->in = NULL;
  return NULL;
}

/* --- heartbeat ---------------------------------------------------------------------------- */

typedef struct {
  tw_worker *w;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int quit;
} hb_ctl;

static void heartbeat_slot(tw_worker *w, tw_wslot *s) {
  const char *handles[16];
  size_t n = 0;
  int64_t now = tw_mono_ms(), since = 0;
  pthread_mutex_lock(&s->mu);
  if (s->active && !s->settling && now - s->extended_at >= (int64_t)w->visibility * 500) {
    for (size_t i = 0; i < s->active->n; i++) handles[n++] = s->active->m[i].receipt;
    since = now - s->active->received_ms;
    if (n) s->hb_busy = 1;
  }
  pthread_mutex_unlock(&s->mu);
  if (!n) return;
  tw_sqsc_error e;
  int ok[16];
  int rc = tw_sqsc_change_visibility_batch(w->sqs, w->queue_url, handles, n, w->visibility, ok, &e);
  size_t good = 0;
  for (size_t i = 0; i < n; i++) good += ok[i] != 0;
  if (rc) {
    char es[1300];
    tw_warn("worker: heartbeat: could not extend %zu of %zu messages: %s", n - good, n,
            tw_sqsc_strerror(&e, es, sizeof es));
  } else {
    tw_info(
        "worker: heartbeat: batch on slot %d running %.1f s; visibility of %zu messages "
        "extended by %d s",
        s->idx, (double)since / 1000.0, good, w->visibility);
  }
  pthread_mutex_lock(&w->mmu);
  w->total.extended += good;
  pthread_mutex_unlock(&w->mmu);
  pthread_mutex_lock(&s->mu);
  s->extended_at = tw_mono_ms();
  s->hb_busy = 0;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static void *heartbeat_main(void *arg) {
  hb_ctl *c = arg;
  tw_worker *w = c->w;
  int64_t next_metrics = w->o.metrics_interval > 0
                             ? w->started_ms + (int64_t)(w->o.metrics_interval * 1000)
                             : INT64_MAX;
  pthread_mutex_lock(&c->mu);
  while (!c->quit) {
    pthread_mutex_unlock(&c->mu);
    if (w->visibility > 0)
      for (int i = 0; i < w->o.concurrency; i++) heartbeat_slot(w, &w->slots[i]);
    if (tw_mono_ms() >= next_metrics) {
      metrics_log(w, "metrics");
      next_metrics += (int64_t)(w->o.metrics_interval * 1000);
    }
    pthread_mutex_lock(&c->mu);
    if (c->quit) break;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += HEARTBEAT_TICK_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

/* --- signals --------------------------------------------------------------------------------- */

/* A long poll in progress is not aborted: the server may already have handed
 * it messages (SQS does so even after the client went away: they would stay
 * invisible for a whole visibility timeout). It returns within --poll-wait
 * seconds and what it brings is released at once. A second signal aborts. */
static void begin_stop(tw_worker *w, const char *why) {
  if (w->stopping) return;
  w->stopping = 1;
  tw_info(
      "worker: %s: no more polling; polls in progress end within %d s, running batches "
      "finish (up to %.0f s), unstarted messages are released; signal again to stop now",
      why, w->o.poll_wait, w->o.timeout);
}

static void stop_now(tw_worker *w, const char *why) {
  if (w->force) return;
  w->force = 1;
  tw_warn("worker: %s again: aborting polls and stopping running handlers now", why);
  for (int i = 0; i < w->o.concurrency; i++) tw_http_cancel_fire(&w->slots[i].cancel);
}

static void *signal_main(void *arg) {
  tw_worker *w = arg;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  for (;;) {
    struct pollfd p[2] = {{.fd = w->wake[0], .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    if (poll(p, sfd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR) break;
    if (p[0].revents) {
      char c;
      if (read(w->wake[0], &c, 1) == 1) {
        if (c == 'q') break;
        begin_stop(w, "stop requested");
      }
    }
    if (sfd >= 0 && p[1].revents) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si) continue;
      const char *name = si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
      if (!w->stopping)
        begin_stop(w, name);
      else
        stop_now(w, name);
    }
  }
  if (sfd >= 0) close(sfd);
  return NULL;
}

/* --- start and stop ----------------------------------------------------------------------------
 */

/* The queue URL's scheme://host[:port], when the queue was given as a URL. */
static void origin_of(const char *url, char *out, size_t n) {
  out[0] = 0;
  const char *p = strstr(url, "://");
  if (!p) return;
  const char *slash = strchr(p + 3, '/');
  size_t len = slash ? (size_t)(slash - url) : strlen(url);
  if (len < n) {
    memcpy(out, url, len);
    out[len] = 0;
  }
}

static int setup(tw_worker *w) {
  char err[600], es[1300];
  if (tw_aws_creds_from_env(&w->creds, err, sizeof err)) {
    tw_error("worker: %s", err);
    return -1;
  }
  const char *flag = w->o.endpoint;
  char origin[1024] = "";
  int is_url = !strncmp(w->o.queue, "http://", 7) || !strncmp(w->o.queue, "https://", 8);
  if (!flag[0] && is_url && !getenv("AWS_ENDPOINT_URL_SQS") && !getenv("AWS_ENDPOINT_URL")) {
    origin_of(w->o.queue, origin, sizeof origin);
    flag = origin;
  }
  tw_aws_endpoint("sqs", flag, w->creds.region, w->endpoint, sizeof w->endpoint);
  w->sqs = tw_sqsc_new(w->endpoint, &w->creds, err, sizeof err);
  if (!w->sqs) {
    tw_error("worker: %s", err);
    return -1;
  }
  tw_sqsc_error e;
  if (tw_sqsc_queue_url(w->sqs, w->o.queue, w->queue_url, sizeof w->queue_url, &e)) {
    tw_error("worker: queue %s at %s: %s", w->o.queue, w->endpoint,
             tw_sqsc_strerror(&e, es, sizeof es));
    return -1;
  }
  json_t *attrs = NULL;
  if (tw_sqsc_queue_attributes(w->sqs, w->queue_url, &attrs, &e)) {
    tw_error("worker: GetQueueAttributes %s: %s", w->queue_url,
             tw_sqsc_strerror(&e, es, sizeof es));
    return -1;
  }
  const char *arn = json_string_value(json_object_get(attrs, "QueueArn"));
  const char *vt = json_string_value(json_object_get(attrs, "VisibilityTimeout"));
  const char *fifo = json_string_value(json_object_get(attrs, "FifoQueue"));
  snprintf(w->queue_arn, sizeof w->queue_arn, "%s", arn ? arn : "");
  w->fifo = fifo && !strcmp(fifo, "true");
  w->visibility = w->o.visibility >= 0 ? w->o.visibility : (vt ? atoi(vt) : 30);
  json_decref(attrs);
  if (w->o.name[0]) {
    tw_wlogs_current = tw_wlogs_start(w->o.name, w->endpoint, &w->creds, err, sizeof err);
    if (!tw_wlogs_current) {
      tw_error("worker: --name: %s", err);
      return -1;
    }
    w->pub =
        tw_wpub_start(w->o.name, w->endpoint, &w->creds, w->o.metrics_interval, err, sizeof err);
    if (!w->pub) {
      tw_error("worker: --name: metrics: %s", err);
      return -1;
    }
  }
  if (w->o.jobs) {
    snprintf(w->tmpdir, sizeof w->tmpdir, "%s/tweedle-worker-XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(w->tmpdir)) {
      tw_error("worker: cannot create a temporary directory: %s", strerror(errno));
      w->tmpdir[0] = 0;
      return -1;
    }
    if (tw_wjobs_open(w, err, sizeof err)) {
      tw_error("worker: --jobs: %s", err);
      return -1;
    }
  }
  return 0;
}

static const char *mode_name(tw_wmode m) {
  switch (m) {
    case TW_WMODE_EXEC:
      return "exec";
    case TW_WMODE_PERSISTENT:
      return "exec-persistent";
    case TW_WMODE_FN:
      return "in-process";
    default:
      return "custom";
  }
}

int tw_worker_run(const tw_worker_opts *o, const tw_worker_ext *ext) {
  tw_worker *w = calloc(1, sizeof *w);
  if (!w) return 1;
  w->o = *o;
  if (ext) w->ext = *ext;
  w->wake[0] = w->wake[1] = -1;
  pthread_mutex_init(&w->mmu, NULL);
  pthread_mutex_init(&w->s3_mu, NULL);
  tw_hist_reset(&w->total.hist);
  w->started_ms = tw_mono_ms();
  int rc = 1;
  signal(SIGPIPE, SIG_IGN); /* a handler that stops reading is not our death */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  hb_ctl hb = {.w = w};
  pthread_mutex_init(&hb.mu, NULL);
  pthread_cond_init(&hb.cv, NULL);
  pthread_t sig_th, hb_th;
  int sig_started = 0, hb_started = 0, nslots = 0;
  if (setup(w) || pipe2(w->wake, O_CLOEXEC | O_NONBLOCK)) goto out;
  w->slots = calloc((size_t)w->o.concurrency, sizeof *w->slots);
  if (!w->slots) goto out;
  for (int i = 0; i < w->o.concurrency; i++) {
    tw_wslot *s = &w->slots[i];
    s->w = w;
    s->idx = i;
    tw_http_cancel_init(&s->cancel);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (w->tmpdir[0])
      snprintf(s->job_output, sizeof s->job_output, "%s/job-output-%d", w->tmpdir, i);
  }
  tw_info(
      "worker: queue %s (%s%s, visibility %d s) at %s; %s handler%s%s, batch %d, window "
      "%.1f s, concurrency %d, timeout %.0f s%s",
      w->queue_url, w->queue_arn, w->fifo ? ", FIFO" : "", w->visibility, w->endpoint,
      mode_name(w->o.mode), w->o.exec_cmd[0] ? " " : "", w->o.exec_cmd, w->o.batch_size,
      w->o.batch_window, w->o.concurrency, w->o.timeout,
      w->o.report_failures ? ", batch item failures reported" : "");
  if (pthread_create(&sig_th, NULL, signal_main, w) == 0) sig_started = 1;
  if (pthread_create(&hb_th, NULL, heartbeat_main, &hb) == 0) hb_started = 1;
  for (; nslots < w->o.concurrency; nslots++)
    if (pthread_create(&w->slots[nslots].th, NULL, slot_main, &w->slots[nslots])) break;
  if (nslots < w->o.concurrency) {
    tw_error("worker: cannot start %d threads", w->o.concurrency);
    begin_stop(w, "start failed");
    stop_now(w, "start failed");
  }
  for (int i = 0; i < nslots; i++) pthread_join(w->slots[i].th, NULL);
  rc = nslots == w->o.concurrency ? 0 : 1;
out:
  if (hb_started) {
    pthread_mutex_lock(&hb.mu);
    hb.quit = 1;
    pthread_cond_signal(&hb.cv);
    pthread_mutex_unlock(&hb.mu);
    pthread_join(hb_th, NULL);
  }
  if (sig_started) {
    char c = 'q';
    if (write(w->wake[1], &c, 1) == 1) pthread_join(sig_th, NULL);
  }
  if (w->slots) {
    metrics_log(w, "stopped");
    for (int i = 0; i < w->o.concurrency; i++) {
      tw_http_cancel_destroy(&w->slots[i].cancel);
      pthread_mutex_destroy(&w->slots[i].mu);
      pthread_cond_destroy(&w->slots[i].cv);
    }
  }
  if (w->o.jobs) tw_wjobs_close(w);
  tw_wlogs_stop(tw_wlogs_current); /* after the handlers: their last lines go too */
  tw_wlogs_current = NULL;
  tw_wpub_stop(w->pub); /* the last interval's metrics */
  w->pub = NULL;
  if (w->tmpdir[0]) {
    for (int i = 0; w->slots && i < w->o.concurrency; i++) unlink(w->slots[i].job_output);
    rmdir(w->tmpdir);
  }
  free(w->slots);
  pthread_mutex_destroy(&hb.mu);
  pthread_cond_destroy(&hb.cv);
  if (w->wake[0] >= 0) close(w->wake[0]);
  if (w->wake[1] >= 0) close(w->wake[1]);
  tw_sqsc_free(w->sqs);
  tw_s3c_free(w->s3);
  pthread_mutex_destroy(&w->mmu);
  pthread_mutex_destroy(&w->s3_mu);
  free(w);
  /* SIGTERM and SIGINT stay blocked: one arriving while the process exits
   * (a supervisor repeating itself) must not turn exit 0 into death by signal */
  (void)old;
  return rc;
}
