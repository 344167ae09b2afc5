/* The worker runtime: the loop behind `tweedle worker`, the C API
 * (include/tweedle/worker.h) and anything else that consumes a queue batch by
 * batch (`tweedle pipeline`, extended payloads).
 *
 * One runtime = one queue. --concurrency N slot threads each loop: long-poll a
 * batch, prepare it (hooks), run it (an --exec process per batch, a
 * persistent process per slot, an in-process function, or a custom
 * `process` hook), then settle it: delete what succeeded, hand back what
 * failed (visibility timeout, or --retry-delay), release what must go back at
 * once (visibility 0). A heartbeat thread extends the visibility of batches
 * that run past half the queue's visibility timeout. SIGTERM/SIGINT: stop
 * polling, let running batches finish, release what did not start, exit 0.
 *
 * Threads, not an event loop: a batch is a strictly sequential story (poll,
 * run, settle) whose only waits are on sockets and pipes with deadlines; N is
 * small; a thread per slot keeps each story straight-line code. */
#ifndef TW_WORKER_WORKER_H
#define TW_WORKER_WORKER_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "client/s3.h"
#include "client/sqs.h"
#include "tweedle/worker.h"

typedef enum {
  TW_WMODE_EXEC,       /* --exec: a process per batch */
  TW_WMODE_PERSISTENT, /* --exec-persistent: one process per slot, a line per batch */
  TW_WMODE_FN,         /* the C API: an in-process function */
  TW_WMODE_CUSTOM,     /* a tw_worker_ext.process hook decides (pipeline) */
} tw_wmode;

typedef struct {
  char queue[2048];       /* --queue: name or URL */
  char endpoint[1024];    /* --endpoint; "" → AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL / AWS */
  char s3_endpoint[1024]; /* --s3-endpoint; "" → --endpoint, AWS_ENDPOINT_URL_S3, ... */
  char exec_cmd[8192];    /* --exec / --exec-persistent: run with /bin/sh -c */
  tw_wmode mode;
  int batch_size; /* --batch-size 1..10 (default 10) */
  int batch_size_set;
  double batch_window;     /* --batch-window seconds (default 0) */
  int concurrency;         /* --concurrency (default 1) */
  double timeout;          /* --timeout seconds per batch (default 300) */
  double kill_grace;       /* --kill-grace: SIGTERM → SIGKILL (default 3) */
  int report_failures;     /* --report-batch-item-failures */
  int retry_delay;         /* --retry-delay seconds, -1 when not given */
  double metrics_interval; /* --metrics-interval seconds (default 60; 0: only at exit) */
  int visibility;          /* --visibility-timeout: override the queue's (-1: read it) */
  int poll_wait;           /* --poll-wait: WaitTimeSeconds of each receive, 1..20 (20) */
  int log_json;            /* --log-format json */
  /* --jobs */
  int jobs;
  char results_bucket[256]; /* --results-bucket (default tweedle-results) */
  char api_key[512];        /* --api-key / TWEEDLE_API_KEY */
  char jobs_endpoint[1024]; /* --jobs-endpoint (default: the SQS endpoint) */
  char name[128];           /* --name: handler output to log group /tweedle/worker/NAME */
  tw_handler_fn fn;         /* TW_WMODE_FN */
} tw_worker_opts;

void tw_worker_opts_defaults(tw_worker_opts *o);

/* What became of one message. */
typedef enum {
  TW_WMSG_PENDING = 0, /* not settled yet */
  TW_WMSG_OK,          /* succeeded: the runtime deletes it */
  TW_WMSG_FAILED,      /* failed: left for the visibility timeout, or --retry-delay */
  TW_WMSG_RELEASE,     /* not processed: visibility 0 now (FIFO rest, shutdown) */
  TW_WMSG_DONE,        /* a hook already deleted it (pipeline's atomic step) */
} tw_wmsg_outcome;

typedef struct tw_wmsg {
  json_t *raw;              /* the ReceiveMessage "Messages" entry (owned) */
  const char *id, *receipt; /* from raw */
  const char *group;        /* MessageGroupId (FIFO and fair queues) or NULL */
  int receive_count;        /* ApproximateReceiveCount */
  /* A hook may point the body at a file instead (extended payloads): the event
   * then carries that file's bytes as body (streamed to --exec handlers, mapped
   * for the C API). Set with tw_wmsg_set_body_file; freed by the runtime. */
  char *body_path;
  tw_wmsg_outcome outcome;
  char job_id[128]; /* --jobs: the tweedle.job_id attribute, "" otherwise */
  void *ext;        /* hook-owned data, released by tw_worker_ext.msg_free */
} tw_wmsg;

/* Gets (borrowed) Body / MD5OfBody / ... of the raw message; "" when absent. */
const char *tw_wmsg_str(const tw_wmsg *m, const char *member);
/* A message attribute's StringValue, or NULL. */
const char *tw_wmsg_attr(const tw_wmsg *m, const char *name);
int tw_wmsg_set_body_file(tw_wmsg *m, const char *path);

typedef struct tw_wbatch {
  tw_wmsg *m;
  size_t n;
  int slot;            /* the slot thread running it, 0..concurrency-1 */
  int64_t received_ms; /* monotonic time of the first receive */
  char why[256];       /* why the batch failed, for the log */
  double handler_ms;   /* how long the handler ran */
  void *priv;          /* the runtime's */
} tw_wbatch;

typedef struct tw_worker tw_worker;

/* Hooks that change what a runtime does; every member may be NULL. */
typedef struct {
  void *ud;
  /* Each received message, before the batch runs. Non-zero: the message
   * failed (outcome FAILED unless the hook set another), and is not run. */
  int (*prepare)(void *ud, tw_worker *w, tw_wmsg *m, char *why, size_t whylen);
  /* Runs the batch instead of the handler (TW_WMODE_CUSTOM): set every
   * message's outcome (PENDING left over counts as FAILED). */
  void (*process)(void *ud, tw_worker *w, tw_wbatch *b);
  /* After a message was deleted (outcome OK and DeleteMessageBatch agreed). */
  void (*deleted)(void *ud, tw_worker *w, tw_wmsg *m);
  /* Releases m->ext. */
  void (*msg_free)(void *ud, tw_wmsg *m);
} tw_worker_ext;

/* Parses `tweedle worker` options from argv[1..]. allow_exec: accept --exec /
 * --exec-persistent (else they are errors: the C API). unknown (optional) is
 * offered every option this parser does not know: it returns the number of
 * extra argv entries it used as the value (0 or 1), or -1 to reject.
 * Returns 0, 1 after printing --help, or -1 with err. */
typedef int (*tw_worker_unknown_fn)(void *ud, const char *name, const char *value);
int tw_worker_parse(tw_worker_opts *o, int argc, char **argv, int allow_exec,
                    tw_worker_unknown_fn unknown, void *ud, char *err, size_t errlen);
/* The option list for usage texts. */
extern const char *const tw_worker_options_help;

/* Runs until SIGTERM/SIGINT (or tw_worker_stop). Returns the exit status.
 * Blocks SIGTERM and SIGINT in the calling thread (threads created before
 * should block them too) and leaves them blocked: a late one must not kill
 * the process on its way out. */
int tw_worker_run(const tw_worker_opts *o, const tw_worker_ext *ext);
/* Asks a running worker to drain and stop (as SIGTERM does). */
void tw_worker_stop(tw_worker *w);

/* For hooks. */
tw_sqsc *tw_worker_sqs(tw_worker *w);
tw_s3c *tw_worker_s3(tw_worker *w); /* created on first use; NULL with a log line on error */
const char *tw_worker_queue_url(const tw_worker *w);
const char *tw_worker_queue_arn(const tw_worker *w);
int tw_worker_is_fifo(const tw_worker *w);
const tw_worker_opts *tw_worker_options(const tw_worker *w);
int tw_worker_stopping(const tw_worker *w);

/* `tweedle worker` (src/main.c). */
int tw_worker_cli(int argc, char **argv);

#endif
