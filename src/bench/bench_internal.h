/* Internals shared by the files of `tweedle bench`: bench.c (options, the
 * connection loop, main), bench_stats.c (counting, CPU and memory sampling, the
 * reports), bench_sqs.c (cycle, send, longpoll), bench_s3.c (s3put, s3get) and
 * bench_gateway.c (jobs, presign), bench_sns.c (publish) and bench_cw.c (putmetric). */
#ifndef TW_BENCH_INTERNAL_H
#define TW_BENCH_INTERNAL_H
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hist.h"
#include "bench/http_client.h"

#define MAX_ERR_KINDS 16
#define MAX_ERR_SAMPLES 3
#define RETIRE_AFTER 5 /* consecutive transport failures before a connection gives up */

enum {
  OP_SEND,
  OP_SEND_BATCH,
  OP_RECEIVE,
  OP_DELETE_BATCH,
  OP_S3_PUT,
  OP_S3_GET,
  OP_JOB_SUBMIT,
  OP_PRESIGN,
  OP_PUBLISH,
  OP_PUT_METRIC,
  OP_SETUP,
  OP_COUNT
};
extern const char *const tw_bench_op_names[OP_COUNT];

enum {
  WL_CYCLE,
  WL_SEND,
  WL_LONGPOLL,
  WL_S3PUT,
  WL_S3GET,
  WL_JOBS,
  WL_PRESIGN,
  WL_PUBLISH,
  WL_PUTMETRIC
};
extern const char *const tw_bench_wl_names[];
#define IS_API(wl) ((wl) == WL_JOBS || (wl) == WL_PRESIGN) /* /_/api/v1/ with a Bearer key */
#define IS_S3(wl) ((wl) == WL_S3PUT || (wl) == WL_S3GET)

#define MAX_PIDS 16

/* The server's processes (nginx: the master and its workers); CPU and memory
 * are summed over them. */
typedef struct {
  long pid[MAX_PIDS];
  int n;
} pidset;

typedef struct {
  char endpoint[512];
  char host[256], port[16], hostport[300], path[256];
  const char *access_key, *secret_key;
  char region[64];
  char queue[128];
  int connections, threads;
  double duration, warmup, settle;
  long long messages; /* > 0: stop after this many messages instead of after duration */
  int body_size, batch, wait, poll_wait;
  int workload;
  int json;
  pidset server;
  /* S3 */
  char bucket[64];
  unsigned long long object_size;
  long long objects; /* keys used: s3get cycles over them; s3put too when > 0 */
  int payload_hash, no_sign, no_populate;
  /* derived */
  char *queue_url_json; /* the QueueUrl, JSON-escaped */
  char *msg_body;
  char put_tag[24];     /* s3put: makes this run's keys unique */
  char payload_sha[65]; /* x-amz-content-sha256 of a PutObject */
  char *obj_buf;        /* every PutObject body is this buffer, repeated */
  size_t obj_bufsize;
  /* jobs */
  char api_key[160];
  char *job_req; /* the whole POST /_/api/v1/jobs request, the same every time */
  size_t job_req_len;
  /* publish */
  char topic[256];
  int fanout, raw;
  char *topic_arn_enc;   /* the TopicArn, form-encoded */
  char **fan_urls;       /* the fanout queues' QueueUrls, JSON-escaped */
  long long *fan_before; /* their ApproximateNumberOfMessages before the run */
  /* putmetric */
  int datums;             /* per PutMetricData (1..1000) */
  int cw_names;           /* metric names m00.. the datums spread over (times 8 Shard values) */
  int cw_query;           /* --cw-protocol query (default JSON 1.0) */
  char cw_namespace[128]; /* [A-Za-z0-9/_.-] */
  /* pacing and FIFO */
  double rate; /* --rate: at most this many of the reported unit per second (0: no cap) */
  int fifo;    /* the queue's name ends in .fifo: group and deduplication ids per entry */
} opts;

typedef struct {
  int status; /* -1: transport; 0: a 2xx GET whose body had the wrong size */
  uint64_t n;
} err_kind;

typedef struct {
  tw_hist all;
  tw_hist lat[OP_COUNT];
  uint64_t ok[OP_COUNT], failed[OP_COUNT];
  uint64_t errors;       /* requests that failed: non-200 or transport */
  uint64_t entry_errors; /* batch entries reported under "Failed" */
  uint64_t sent, received, deleted, empty_receives;
  uint64_t objects;  /* S3 objects put or got in full */
  uint64_t timeouts; /* requests still unanswered when the run gave up */
  int retired;       /* connections that gave up after repeated transport failures */
  err_kind kinds[MAX_ERR_KINDS];
  int nkinds;
  char samples[MAX_ERR_SAMPLES][240];
  int nsamples;
} stats;

static inline double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double ms(uint64_t us) {
  return (double)us / 1000.0;
}

/* A growable buffer, NUL-terminated. */
typedef struct {
  char *p;
  size_t len, cap;
} sbuf;

static inline void sb_reserve(sbuf *b, size_t more) {
  if (b->len + more + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more + 1) cap *= 2;
  char *np = realloc(b->p, cap);
  if (!np) {
    fprintf(stderr, "tweedle bench: out of memory\n");
    exit(1);
  }
  b->p = np;
  b->cap = cap;
}

static inline void sb_put(sbuf *b, const char *s, size_t n) {
  sb_reserve(b, n);
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static inline void sb_puts(sbuf *b, const char *s) {
  sb_put(b, s, strlen(s));
}

/* A request whose body never changes: the signed bytes are rebuilt only when
 * the second (and with it x-amz-date) changes. */
typedef struct {
  const char *target;
  sbuf body;
  char sha[65];
  time_t at;
  sbuf req;
} tmpl;

typedef struct {
  int done, status;
  sbuf body;
} sync_result;

typedef struct worker worker;

/* One connection of the load loop, at most one request in flight. */
typedef struct {
  tw_hc hc;
  worker *w;
  int op;
  double t0;
  int fails; /* consecutive transport failures */
  int stopped;
  int drained; /* --messages mode: a receive came back empty after the quota was sent */
  sbuf body;   /* per-request bodies (deletes, short final batches) */
  sbuf req;
  int paced;       /* --rate: waiting for its slot before the next request */
  int paced_after; /* the after_op to resume with */
  unsigned long long seq; /* FIFO: entries sent, for unique deduplication ids */
} bconn;

/* The run's timeline and counters that every worker shares. */
typedef struct {
  double t_start, t_measure, t_end; /* measurement window */
  double t_giveup;                  /* in-flight requests after this are timeouts */
  atomic_llong claimed;             /* messages claimed for sending (--messages mode) */
  /* CPU used over the window: the server's (from /proc) and this process's */
  const pidset *server;
  double srv_cpu[2], cli_cpu[2];
  int marked;
  long rss_max_kb; /* server RSS, sampled during the run (first worker) */
  double t_rss;
  struct worker *first;
} run_clock;

/* A client thread: its own epoll loop and share of the connections. */
struct worker {
  const opts *o;
  run_clock *rc;
  tw_hc_loop loop;
  bconn *conns;
  int nconns;
  int inflight;
  stats st;
  tmpl t_send, t_batch, t_recv;
  double t_last;        /* last completion, for --messages mode */
  tw_hc_bytes bytes[2]; /* body bytes as the window opens and closes */
  int nbytes;
  pthread_t th;
  double pace_every, pace_next; /* --rate: seconds per slot, and the next slot */
  int npaced;                   /* connections waiting for a slot */
};

typedef struct {
  double elapsed;
  unsigned long connects;
  double server_cpu_s, client_cpu_s;           /* -1 when unknown */
  unsigned long long body_sent, body_received; /* inside the window */
  long rss_max_kb;                             /* sampled; -1 when unknown */
} load_result;

typedef struct {
  long rss_kb, hwm_kb;
} mem_info;

/* bench.c: the connection loop. Sends req on c (blen body bytes from o->obj_buf after it); NULL
 * req: signing failed, which is counted and stops the connection. */
void tw_bench_issue_body(bconn *c, int op, const sbuf *req, unsigned long long blen);
void tw_bench_issue(bconn *c, int op, const sbuf *req);
/* Decides and sends the connection's next request, or stops it. after_op: the
 * operation that just succeeded, -1 to start over. */
void tw_bench_next(bconn *c, int after_op);
/* --messages mode (quota): claims one message (job, URL) for c; 1 when none
 * was left, and c stops. */
int tw_bench_quota_out(bconn *c, int quota);
/* Runs the workload on o->connections connections for the window. */
void tw_bench_run_load(opts *o, stats *total, load_result *lr);
/* One ready-made request, waited for. Returns the HTTP status (-1:
 * transport) with the response body (or the transport error) in r->body. */
int tw_bench_sync_raw(tw_hc_loop *l, const sbuf *req, sync_result *r);

/* bench_stats.c */
void tw_bench_stats_init(stats *s);
void tw_bench_stats_merge(stats *into, const stats *from);
void tw_bench_note_error(stats *s, int op, int status, const char *body, size_t len,
                         const char *why);
void tw_bench_mark_cpu(run_clock *rc);
int tw_bench_read_mem(const pidset *ps, mem_info *m);
void tw_bench_sample_rss(run_clock *rc);
json_t *tw_bench_lat_json(const tw_hist *h);
json_t *tw_bench_errors_json(const stats *s);
void tw_bench_print_lat(FILE *f, const char *name, const tw_hist *h);
void tw_bench_print_errors(FILE *f, const stats *s);
/* The report of a cycle, send, jobs or presign run; returns the exit status. */
int tw_bench_report_load(const opts *o, FILE *rep, const stats *st, const load_result *lr);

/* bench_sqs.c: cycle, send, longpoll */
int tw_bench_ensure_queue(opts *o, tw_hc_loop *l);
/* The requests a cycle or send worker repeats (signed again each second). */
void tw_bench_sqs_worker_init(worker *w);
void tw_bench_sqs_worker_free(worker *w);
/* tw_bench_next for cycle and send; quota: --messages mode. */
void tw_bench_sqs_next(bconn *c, int after_op, int quota);
/* A 200 to a SendMessageBatch, ReceiveMessage or DeleteMessageBatch of the cycle;
 * counted: it came inside the measurement window. */
void tw_bench_sqs_response(bconn *c, int op, int status, const char *body, size_t len, int counted);
/* Runs and reports the longpoll workload; returns the exit status. */
int tw_bench_longpoll(opts *o, FILE *rep, stats *st);

/* bench_s3.c: s3put, s3get */
int tw_bench_ensure_bucket(const opts *o, tw_hc_loop *l);
void tw_bench_s3_next(bconn *c, int quota);
/* Runs and reports an S3 workload; returns the exit status. */
int tw_bench_s3(opts *o, FILE *rep, stats *st);

/* bench_gateway.c: jobs, presign */
/* An API key (unless one was given) and the one request every submit sends. */
int tw_bench_gateway_setup(opts *o, tw_hc_loop *l);
void tw_bench_gateway_next(bconn *c, int quota);

/* bench_sns.c: publish */
/* The topic, the --fanout queues subscribed to it (RawMessageDelivery per
 * --raw), purged, and their message counts before the run. */
int tw_bench_sns_setup(opts *o, tw_hc_loop *l);
/* The Publish every connection repeats (signed again each second). */
void tw_bench_sns_worker_init(worker *w);
void tw_bench_sns_next(bconn *c, int quota);
/* A 200 to a Publish; counted: it came inside the measurement window. */
void tw_bench_sns_response(bconn *c, int status, const char *body, size_t len, int counted);
/* Checks the fan-out (every queue holds a copy of every acknowledged
 * publish) and reports; returns the exit status. */
int tw_bench_sns_report(opts *o, FILE *rep, const stats *st, const load_result *lr);
void tw_bench_sns_free(opts *o);

/* bench_cw.c: putmetric */
/* One PutMetricData, checked: the endpoint takes the protocol. */
int tw_bench_cw_setup(opts *o, tw_hc_loop *l);
/* The PutMetricData every connection repeats (rebuilt and signed each second). */
void tw_bench_cw_worker_init(worker *w);
void tw_bench_cw_next(bconn *c, int quota);
/* The report of a putmetric run; returns the exit status. */
int tw_bench_cw_report(const opts *o, FILE *rep, const stats *st, const load_result *lr);

#endif
