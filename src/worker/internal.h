/* Shared by the files of the worker runtime (src/worker/):
 *
 *   runtime.c  slot threads, batches, settling, heartbeat, signals, metrics
 *   cli.c      options, usage, `tweedle worker`
 *   event.c    the Lambda SQS event and the handler's answer
 *   proc.c     handler processes
 *   capi.c     the C API (include/tweedle/worker.h)
 *   jobs.c     --jobs: the gateway's job API and result uploads */
#ifndef TW_WORKER_INTERNAL_H
#define TW_WORKER_INTERNAL_H
#include <pthread.h>
#include <stdint.h>

#include "core/hist.h"
#include "net/http.h"
#include "worker/event.h"
#include "worker/proc.h"
#include "worker/worker.h"

typedef struct tw_wslot {
  tw_worker *w;
  int idx;
  pthread_t th;
  tw_http_cancel cancel; /* fired at shutdown: ends the long poll in progress */
  tw_pproc *pp;          /* --exec-persistent */
  tw_wstream *in;        /* the event being handed over (reused batch after batch) */
  int pp_fails;          /* consecutive failed starts/exchanges, for back-off */
  char job_output[512];  /* --jobs: $TWEEDLE_JOB_OUTPUT of this slot */
  /* the batch in flight, shared with the heartbeat thread (under mu) */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  tw_wbatch *active;
  int64_t extended_at; /* monotonic ms of the receive or the last extension */
  int hb_busy;         /* the heartbeat is extending this batch right now */
  int settling;        /* the slot changes visibilities itself from now on */
  void *capi_pending;  /* capi.c: an in-process call that outlived its timeout */
} tw_wslot;

typedef struct {
  uint64_t processed, failed, retried, released, batches, failed_batches, extended;
  tw_hist hist; /* handler latency per batch, microseconds */
} tw_wmetrics;

struct tw_worker {
  tw_worker_opts o;
  tw_worker_ext ext;
  tw_aws_creds creds;
  char endpoint[1024];
  tw_sqsc *sqs;
  tw_s3c *s3;
  pthread_mutex_t s3_mu;
  char queue_url[2048];
  char queue_arn[512];
  int fifo;
  int visibility;        /* seconds the queue hides a received message */
  volatile int stopping; /* drain: no new polls */
  volatile int force;    /* a second signal: stop handlers now */
  int wake[2];           /* self-pipe: tw_worker_stop, end of run */
  tw_wslot *slots;
  pthread_mutex_t mmu;
  tw_wmetrics total;
  int64_t started_ms;
  char tmpdir[256];
  void *jobs;          /* jobs.c */
  struct tw_wpub *pub; /* --name: tweedle/Worker metrics (wmetrics.c) */
};

/* capi.c: runs the C handler over the runnable messages, with --timeout.
 * Sets outcomes like tw_wanswer_apply; returns the answer kind. */
tw_wanswer_kind tw_wcapi_run(tw_worker *w, tw_wslot *s, tw_wbatch *b, tw_wmsg **run, size_t n,
                             char *why, size_t whylen);

/* Waits for an in-process call that outlived its timeout (returns at once
 * when there is none; gives up on a second signal). */
void tw_wcapi_wait(tw_wslot *s);

/* jobs.c */
int tw_wjobs_open(tw_worker *w, char *err, size_t errlen);
void tw_wjobs_close(tw_worker *w);
/* Before the handler: POST .../start. 0 run it; 1 the job is already final
 * (the message is deleted without running); -1 could not (the message fails). */
int tw_wjobs_start(tw_worker *w, tw_wmsg *m, char *why, size_t whylen);
/* After the batch: uploads output_path (when it exists) and POSTs complete,
 * or POSTs fail with why. */
void tw_wjobs_finish(tw_worker *w, tw_wmsg *m, int ok, const char *output_path, const char *why);

#endif
