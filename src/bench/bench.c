/* tweedle bench: SigV4-signed SQS JSON 1.0 and S3 load against tweedle or any
 * SQS / S3 endpoint (moto, ElasticMQ, AWS; nginx for unsigned S3 GETs).
 *
 * The client is meant to share a small machine with the server, so it stays
 * lean: one epoll loop per thread (one thread by default) drives all
 * connections, requests whose body never changes are signed once per second
 * (the signature covers x-amz-date, so it must change at least that often),
 * and responses are parsed only as far as the workload needs.
 *
 * Workloads:
 *   cycle     SendMessageBatch -> ReceiveMessage(10) -> DeleteMessageBatch per
 *             connection; the rate counts messages deleted (fully cycled).
 *   send      one SendMessage per request.
 *   longpoll  N parked ReceiveMessage(WaitTimeSeconds=20) on an empty queue:
 *             the server's RSS while parked, then how long N messages take to
 *             wake them all.
 *   s3put     PutObject of --object-size bytes per request, path-style; every
 *             body comes from one shared buffer, so 64 MiB objects on 64
 *             connections cost the client a few MiB.
 *   s3get     GetObject round-robin over --objects keys put there first; the
 *             bodies are counted and dropped in the kernel, never buffered.
 *   jobs      POST /_/api/v1/jobs per request (Bearer API key, made with the
 *             admin credential unless --api-key): durable job submits, each a
 *             job row and an SQS message answered 202 after the commit.
 *   presign   POST /_/api/v1/presign per request (Bearer API key, made the same
 *             way): a presigned PUT URL for a generated key in --bucket.
 *   publish   SNS Publish (query protocol) to a topic with --fanout SQS queues
 *             subscribed (--raw: RawMessageDelivery); afterwards the queues'
 *             counts must show a copy of every acknowledged publish in each.
 *   putmetric CloudWatch PutMetricData of --datums datums per call (JSON 1.0,
 *             or the query protocol with --cw-protocol query) over a bounded
 *             set of series; calls/s and datums/s.
 *
 * This file has the options, the connection loop and main; the workloads are
 * bench_sqs.c, bench_s3.c, bench_gateway.c, bench_sns.c and bench_cw.c, the counting and the
 * reports bench_stats.c (bench_internal.h). */
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_internal.h"

const char *const tw_bench_op_names[OP_COUNT] = {
    "SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessageBatch",
    "PutObject",   "GetObject",        "SubmitJob",      "Presign",
    "Publish",     "PutMetricData",    "setup"};
const char *const tw_bench_wl_names[] = {"cycle", "send",    "longpoll", "s3put",    "s3get",
                                         "jobs",  "presign", "publish",  "putmetric"};

/* ---------- synchronous calls (set-up, clean-up) ---------- */

static void sync_done(tw_hc *c, int status, const char *body, size_t len) {
  sync_result *r = c->ud;
  r->done = 1;
  r->status = status;
  r->body.len = 0;
  if (body) sb_put(&r->body, body, len);
  if (status < 0) {
    r->body.len = 0;
    sb_puts(&r->body, c->last_error);
  }
}

/* One ready-made request, waited for. Returns the HTTP status (-1:
 * transport) with the response body (or the transport error) in r->body. */
int tw_bench_sync_raw(tw_hc_loop *l, const sbuf *req, sync_result *r) {
  tw_hc c;
  tw_hc_init(&c, l, sync_done, r);
  r->done = 0;
  tw_hc_send(&c, req->p, req->len);
  double deadline = now_sec() + 60;
  while (!r->done && now_sec() < deadline) tw_hc_loop_poll(l, 100);
  if (!r->done) {
    r->status = -1;
    r->body.len = 0;
    sb_puts(&r->body, "timed out");
  }
  tw_hc_free(&c);
  return r->status;
}

/* ---------- the connection loop ---------- */

void tw_bench_issue_body(bconn *c, int op, const sbuf *req, unsigned long long blen) {
  if (!req) { /* signing failed: count it, never stall silently */
    tw_bench_note_error(&c->w->st, op, -1, NULL, 0, "could not sign the request");
    c->stopped = 1;
    return;
  }
  c->op = op;
  c->t0 = now_sec();
  c->w->inflight++;
  const opts *o = c->w->o;
  tw_hc_send_body(&c->hc, req->p, req->len, o->obj_buf, o->obj_bufsize, blen);
}

void tw_bench_issue(bconn *c, int op, const sbuf *req) {
  tw_bench_issue_body(c, op, req, 0);
}

int tw_bench_quota_out(bconn *c, int quota) {
  if (quota && atomic_fetch_add(&c->w->rc->claimed, 1) >= c->w->o->messages) {
    c->stopped = 1;
    return 1;
  }
  return 0;
}

/* Decides and sends the connection's next request, or stops it. */
void tw_bench_next(bconn *c, int after_op) {
  worker *w = c->w;
  const opts *o = w->o;
  if (c->stopped) return;
  double now = now_sec();
  int quota = o->messages > 0;
  /* a cycle whose batch went out still receives and deletes, so that runs
   * restarted one after another (bench/soak.sh) leave no backlog behind */
  int mid_cycle = o->workload == WL_CYCLE && after_op == OP_SEND_BATCH;
  if (!quota && now >= w->rc->t_end && !mid_cycle) {
    c->stopped = 1;
    return;
  }
  /* --rate: each unit (a cycle's SendMessageBatch, any other workload's
   * request) takes the worker's next slot; early ones wait in worker_run. A
   * worker that fell behind may catch up by at most 0.1 s worth of slots. */
  if (w->pace_every > 0 && !mid_cycle) {
    if (w->pace_next < now - 0.1) w->pace_next = now - 0.1;
    if (now < w->pace_next) {
      c->paced = 1;
      c->paced_after = after_op;
      w->npaced++;
      return;
    }
    w->pace_next += w->pace_every;
  }
  if (IS_S3(o->workload))
    tw_bench_s3_next(c, quota);
  else if (IS_API(o->workload))
    tw_bench_gateway_next(c, quota);
  else if (o->workload == WL_PUBLISH)
    tw_bench_sns_next(c, quota);
  else if (o->workload == WL_PUTMETRIC)
    tw_bench_cw_next(c, quota);
  else
    tw_bench_sqs_next(c, after_op, quota);
}

static void on_response(tw_hc *hc, int status, const char *body, size_t len) {
  bconn *c = hc->ud;
  worker *w = c->w;
  stats *st = &w->st;
  const opts *o = w->o;
  double now = now_sec();
  int op = c->op;
  w->inflight--;
  w->t_last = now;
  int counted = o->messages > 0 || (now >= w->rc->t_measure && now <= w->rc->t_end);
  /* S3 answers 200 (sometimes 204/206); SQS always 200 */
  int good = IS_S3(o->workload)       ? status >= 200 && status < 300
             : o->workload == WL_JOBS ? status == 202
                                      : status == 200;
  if (good && op == OP_S3_GET && hc->resp_body != o->object_size) {
    char why[96];
    snprintf(why, sizeof why, "GetObject returned %llu body bytes, expected %llu", hc->resp_body,
             o->object_size);
    tw_bench_note_error(st, op, 0, NULL, 0, why);
    tw_bench_next(c, -1);
    return;
  }
  if (!good) {
    tw_bench_note_error(st, op, status, body, len, hc->last_error);
    if (status < 0 && ++c->fails >= RETIRE_AFTER) {
      c->stopped = 1;
      st->retired++;
      return;
    }
    if (status >= 0) c->fails = 0;
    tw_bench_next(c, -1); /* start over with a fresh send */
    return;
  }
  c->fails = 0;
  if (counted) {
    uint64_t us = (uint64_t)((now - c->t0) * 1e6);
    tw_hist_add(&st->lat[op], us);
    tw_hist_add(&st->all, us);
    st->ok[op]++;
  }
  switch (op) {
    case OP_JOB_SUBMIT:
    case OP_PRESIGN:
    case OP_PUT_METRIC:
    case OP_SEND:
      if (counted) st->sent++;
      tw_bench_next(c, op);
      return;
    case OP_S3_PUT:
    case OP_S3_GET:
      if (counted) st->objects++;
      tw_bench_next(c, op);
      return;
    case OP_SEND_BATCH:
    case OP_RECEIVE:
    case OP_DELETE_BATCH:
      tw_bench_sqs_response(c, op, status, body, len, counted);
      return;
    case OP_PUBLISH: /* a 200 must carry a MessageId */
      tw_bench_sns_response(c, status, body, len, counted);
      return;
    default:
      tw_bench_next(c, -1);
  }
}

/* Body bytes count for throughput only between the window's edges. */
static void mark_bytes(worker *w, int final) {
  double now = now_sec();
  if (w->nbytes == 0 && now >= w->rc->t_measure) w->bytes[w->nbytes++] = w->loop.body_bytes;
  if (w->nbytes == 1 && (now >= w->rc->t_end || final)) w->bytes[w->nbytes++] = w->loop.body_bytes;
}

static void *worker_run(void *p) {
  worker *w = p;
  int first = w == w->rc->first;
  mark_bytes(w, 0);
  for (int i = 0; i < w->nconns; i++) tw_bench_next(&w->conns[i], -1);
  while (w->inflight > 0 || w->npaced > 0) {
    if (tw_hc_loop_poll(&w->loop, w->npaced ? 1 : 50) < 0) break;
    /* --rate: connections whose slot has come */
    for (int i = 0; w->npaced > 0 && i < w->nconns && now_sec() >= w->pace_next; i++) {
      bconn *c = &w->conns[i];
      if (!c->paced) continue;
      c->paced = 0;
      w->npaced--;
      tw_bench_next(c, c->paced_after);
    }
    mark_bytes(w, 0);
    if (first) {
      tw_bench_mark_cpu(w->rc);
      tw_bench_sample_rss(w->rc);
    }
    if (now_sec() > w->rc->t_giveup) break;
  }
  mark_bytes(w, 1);
  /* whatever is still in flight never came back */
  for (int i = 0; i < w->nconns; i++)
    if (w->conns[i].hc.busy) {
      w->st.timeouts++;
      tw_bench_note_error(&w->st, w->conns[i].op, -1, NULL, 0, "no response before the run ended");
    }
  return NULL;
}

void tw_bench_run_load(opts *o, stats *total, load_result *lr) {
  int nt = o->threads < 1 ? 1 : o->threads;
  if (nt > o->connections) nt = o->connections;
  worker *ws = calloc((size_t)nt, sizeof *ws);
  run_clock rc = {0};
  atomic_init(&rc.claimed, 0);
  rc.t_start = now_sec();
  int quota = o->messages > 0;
  rc.t_measure = quota ? rc.t_start : rc.t_start + o->warmup;
  rc.t_end = quota ? 1e300 : rc.t_measure + o->duration;
  rc.t_giveup = quota ? 1e300 : rc.t_end + o->wait + 30;
  rc.server = &o->server;
  rc.rss_max_kb = -1;
  rc.first = &ws[0];
  char err[256];
  for (int t = 0; t < nt; t++) {
    worker *w = &ws[t];
    w->o = o;
    w->rc = &rc;
    tw_bench_stats_init(&w->st);
    if (tw_hc_loop_init(&w->loop, o->host, o->port, err, sizeof err)) {
      fprintf(stderr, "tweedle bench: %s\n", err);
      exit(1);
    }
    w->nconns = o->connections / nt + (t < o->connections % nt);
    /* --rate: a cycle's slot is a batch of messages, any other one request */
    if (o->rate > 0)
      w->pace_every = (o->workload == WL_CYCLE ? o->batch : 1) * nt / o->rate;
    w->pace_next = rc.t_start;
    w->conns = calloc((size_t)w->nconns, sizeof *w->conns);
    for (int i = 0; i < w->nconns; i++) {
      w->conns[i].w = w;
      tw_hc_init(&w->conns[i].hc, &w->loop, on_response, &w->conns[i]);
      w->conns[i].hc.discard_body = o->workload == WL_S3GET;
    }
    if (o->workload == WL_PUBLISH)
      tw_bench_sns_worker_init(w);
    else if (o->workload == WL_PUTMETRIC)
      tw_bench_cw_worker_init(w);
    else if (!IS_S3(o->workload) && !IS_API(o->workload))
      tw_bench_sqs_worker_init(w);
  }
  for (int t = 1; t < nt; t++)
    if (pthread_create(&ws[t].th, NULL, worker_run, &ws[t])) {
      fprintf(stderr, "tweedle bench: pthread_create failed\n");
      exit(1);
    }
  worker_run(&ws[0]);
  double t_last = ws[0].t_last;
  for (int t = 1; t < nt; t++) {
    pthread_join(ws[t].th, NULL);
    if (ws[t].t_last > t_last) t_last = ws[t].t_last;
  }
  if (rc.marked == 1) { /* --messages mode: the window ends with the last worker */
    rc.t_end = now_sec();
    tw_bench_mark_cpu(&rc);
  }
  lr->elapsed = quota ? t_last - rc.t_start : o->duration;
  lr->server_cpu_s = rc.marked == 2 && rc.srv_cpu[0] >= 0 && rc.srv_cpu[1] >= 0
                         ? rc.srv_cpu[1] - rc.srv_cpu[0]
                         : -1;
  lr->client_cpu_s = rc.marked == 2 ? rc.cli_cpu[1] - rc.cli_cpu[0] : -1;
  tw_bench_stats_init(total);
  lr->connects = 0;
  lr->body_sent = lr->body_received = 0;
  lr->rss_max_kb = rc.rss_max_kb;
  for (int t = 0; t < nt; t++) {
    worker *w = &ws[t];
    tw_bench_stats_merge(total, &w->st);
    lr->connects += w->loop.connects;
    if (w->nbytes == 2) {
      lr->body_sent += w->bytes[1].sent - w->bytes[0].sent;
      lr->body_received += w->bytes[1].received - w->bytes[0].received;
    }
    for (int i = 0; i < w->nconns; i++) {
      tw_hc_free(&w->conns[i].hc);
      free(w->conns[i].body.p);
      free(w->conns[i].req.p);
    }
    free(w->conns);
    tw_bench_sqs_worker_free(w);
    tw_hc_loop_free(&w->loop);
  }
  free(ws);
}

/* ---------- options ---------- */

static const char *usage =
    "usage: tweedle bench [options]\n"
    "\n"
    "  --endpoint URL        server to drive (default http://127.0.0.1:9324)\n"
    "  --access-key KEY      default: AWS_ACCESS_KEY_ID, else TWEEDLE_ACCESS_KEY_ID\n"
    "  --secret-key SECRET   default: AWS_SECRET_ACCESS_KEY, else TWEEDLE_SECRET_ACCESS_KEY\n"
    "  --region REGION       signing region (default: AWS_REGION, else us-east-1)\n"
    "  --queue NAME          queue to use, created when missing\n"
    "                        (default tweedle-bench-<workload>)\n"
    "  --workload W          cycle | send | longpoll | s3put | s3get | jobs | presign |\n"
    "                        publish | putmetric (default cycle)\n"
    "  --connections N       concurrent connections (default 64; longpoll: 5000)\n"
    "  --threads N           client threads sharing the connections (default 1)\n"
    "  --duration SECONDS    measured time (default 10)\n"
    "  --warmup SECONDS      unmeasured lead-in before it (default 1)\n"
    "  --messages N          stop after N messages (S3: objects) instead of after --duration\n"
    "  --body-size BYTES     message body size (default 100)\n"
    "  --batch N             cycle: messages per SendMessageBatch (1..10, default 10)\n"
    "  --wait SECONDS        cycle: ReceiveMessage WaitTimeSeconds (default 0)\n"
    "  --poll-wait SECONDS   longpoll: WaitTimeSeconds of the parked receives (default 20)\n"
    "  --settle SECONDS      longpoll: pause after parking before measuring (default 2)\n"
    "  --server-pid PID[,PID] the server's processes: CPU time over the window and\n"
    "                        RSS / peak RSS (VmHWM) from /proc, summed (repeatable)\n"
    "  --rate N              at most N per second of what the workload reports (cycle:\n"
    "                        messages, paced per batch; others: requests); 0: no cap\n"
    "  --json                print one JSON result line on stdout (the report goes to stderr)\n"
    "\n"
    "S3 (path-style, SigV4 for service s3):\n"
    "  --bucket NAME         created with PUT /NAME when missing (default tweedle-bench)\n"
    "  --object-size BYTES   object body size (default 4096; up to 5 GiB per PUT on S3)\n"
    "  --objects N           s3get: keys obj-000000.. put first, then read round-robin\n"
    "                        (default 100); s3put: overwrite these N keys instead of\n"
    "                        making a new key per request\n"
    "  --payload-hash        sign the body's real SHA-256 (computed once; default\n"
    "                        UNSIGNED-PAYLOAD, as presigned uploads do)\n"
    "  --no-sign             plain unsigned requests, e.g. GETs from nginx serving the\n"
    "                        same files; implies --no-populate and no CreateBucket\n"
    "  --no-populate         s3get: the objects are already there\n"
    "\n"
    "SNS publish (query protocol, SigV4 for service sns; the queues are SQS JSON 1.0):\n"
    "  --topic NAME          topic, created when missing (default tweedle-bench-publish)\n"
    "  --fanout N            SQS queues <queue>-00.. subscribed to it (default 10); they\n"
    "                        are purged first, and afterwards every one must hold a copy\n"
    "                        of every acknowledged publish\n"
    "  --raw                 RawMessageDelivery=true on the subscriptions (default: the\n"
    "                        signed JSON envelope)\n"
    "\n"
    "CloudWatch putmetric (PutMetricData, SigV4 for service monitoring):\n"
    "  --datums N            datums per PutMetricData (1..1000, default 20)\n"
    "  --metric-names N      the datums spread over metrics m00.. (1..100, default 10),\n"
    "                        each with a dimension Shard=s0..s7\n"
    "  --namespace NS        default tweedle-bench (A-Z a-z 0-9 / _ . -; not AWS/)\n"
    "  --cw-protocol P       json: JSON 1.0 with X-Amz-Target, what boto3 >= 1.42 sends\n"
    "                        (default); query: Action=PutMetricData form posts\n"
    "\n"
    "Jobs (POST /_/api/v1/jobs, payload {\"data\": <--body-size characters>}) and presign\n"
    "(POST /_/api/v1/presign: a PUT URL for a new key in --bucket, created when missing):\n"
    "  --api-key KEY         Bearer key with jobs:submit / presign:put (default:\n"
    "                        TWEEDLE_API_KEY, else one is created with the admin credential)\n"
    "\n"
    "SQS requests are JSON 1.0, SigV4-signed for service sqs. Non-2xx responses (SQS:\n"
    "non-200), GET bodies of the wrong size and failed batch entries are counted and\n"
    "reported; the exit status is 1 when any request failed.\n";

static int parse_endpoint(opts *o, const char *url) {
  snprintf(o->endpoint, sizeof o->endpoint, "%s", url);
  if (strncmp(url, "http://", 7) != 0) {
    fprintf(stderr, "tweedle bench: only http:// endpoints are supported, got %s\n", url);
    return -1;
  }
  const char *a = url + 7, *slash = strchr(a, '/');
  size_t alen = slash ? (size_t)(slash - a) : strlen(a);
  if (alen == 0 || alen >= sizeof o->hostport) return -1;
  memcpy(o->hostport, a, alen);
  o->hostport[alen] = '\0';
  snprintf(o->path, sizeof o->path, "%s", slash ? slash : "/");
  const char *hp = o->hostport, *colon;
  if (hp[0] == '[') {
    const char *rb = strchr(hp, ']');
    if (!rb) return -1;
    snprintf(o->host, sizeof o->host, "%.*s", (int)(rb - hp - 1), hp + 1);
    colon = rb[1] == ':' ? rb + 1 : NULL;
  } else {
    colon = strrchr(hp, ':');
    snprintf(o->host, sizeof o->host, "%.*s", (int)(colon ? (size_t)(colon - hp) : strlen(hp)), hp);
  }
  snprintf(o->port, sizeof o->port, "%s", colon ? colon + 1 : "80");
  return 0;
}

static const char *env2(const char *a, const char *b) {
  const char *v = getenv(a);
  if (v && *v) return v;
  v = getenv(b);
  return v && *v ? v : NULL;
}

/* Enough descriptors for every connection, plus slack. */
static int raise_nofile(int need) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl)) return -1;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)need) {
    rl.rlim_cur =
        rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= (rlim_t)need ? (rlim_t)need : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)need ? 0 : -1;
}

/* --server-pid 12,13 or repeated: adds to the set. */
static int add_pids(pidset *ps, const char *arg) {
  const char *p = arg;
  while (*p) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v <= 0 || ps->n == MAX_PIDS) return -1;
    ps->pid[ps->n++] = v;
    p = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return -1;
  }
  return 0;
}

/* Path-style requests put the bucket in the path unescaped: allow only what
 * S3 bucket names may hold. */
static int bucket_ok(const char *b) {
  size_t n = strlen(b);
  if (n < 3 || n > 63) return 0;
  for (const char *p = b; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.')) return 0;
  return 1;
}

int tw_bench_main(int argc, char **argv) {
  opts o;
  memset(&o, 0, sizeof o);
  parse_endpoint(&o, "http://127.0.0.1:9324");
  o.access_key = env2("AWS_ACCESS_KEY_ID", "TWEEDLE_ACCESS_KEY_ID");
  o.secret_key = env2("AWS_SECRET_ACCESS_KEY", "TWEEDLE_SECRET_ACCESS_KEY");
  const char *reg = env2("AWS_REGION", "AWS_DEFAULT_REGION");
  snprintf(o.region, sizeof o.region, "%s", reg ? reg : "us-east-1");
  o.connections = -1;
  o.threads = 1;
  o.duration = 10;
  o.warmup = 1;
  o.settle = 2;
  o.body_size = 100;
  o.batch = 10;
  o.wait = 0;
  o.poll_wait = 20;
  o.workload = WL_CYCLE;
  snprintf(o.bucket, sizeof o.bucket, "tweedle-bench");
  o.object_size = 4096;
  o.objects = -1;
  o.fanout = 10;
  snprintf(o.topic, sizeof o.topic, "tweedle-bench-publish");
  o.datums = 20;
  o.cw_names = 10;
  snprintf(o.cw_namespace, sizeof o.cw_namespace, "tweedle-bench");
  const char *cw_protocol = "json";

  static const struct option lopts[] = {{"endpoint", required_argument, 0, 'e'},
                                        {"access-key", required_argument, 0, 'a'},
                                        {"secret-key", required_argument, 0, 's'},
                                        {"region", required_argument, 0, 'r'},
                                        {"queue", required_argument, 0, 'q'},
                                        {"connections", required_argument, 0, 'c'},
                                        {"threads", required_argument, 0, 't'},
                                        {"duration", required_argument, 0, 'd'},
                                        {"warmup", required_argument, 0, 'W'},
                                        {"messages", required_argument, 0, 'm'},
                                        {"body-size", required_argument, 0, 'b'},
                                        {"batch", required_argument, 0, 'B'},
                                        {"wait", required_argument, 0, 'w'},
                                        {"poll-wait", required_argument, 0, 'P'},
                                        {"settle", required_argument, 0, 'S'},
                                        {"workload", required_argument, 0, 'k'},
                                        {"server-pid", required_argument, 0, 'p'},
                                        {"json", no_argument, 0, 'j'},
                                        {"bucket", required_argument, 0, 'K'},
                                        {"object-size", required_argument, 0, 'z'},
                                        {"objects", required_argument, 0, 'O'},
                                        {"payload-hash", no_argument, 0, 'H'},
                                        {"no-sign", no_argument, 0, 'U'},
                                        {"no-populate", no_argument, 0, 'N'},
                                        {"api-key", required_argument, 0, 'A'},
                                        {"topic", required_argument, 0, 'T'},
                                        {"fanout", required_argument, 0, 'F'},
                                        {"raw", no_argument, 0, 'R'},
                                        {"datums", required_argument, 0, 1001},
                                        {"metric-names", required_argument, 0, 1002},
                                        {"namespace", required_argument, 0, 1003},
                                        {"cw-protocol", required_argument, 0, 1004},
                                        {"rate", required_argument, 0, 1005},
                                        {"help", no_argument, 0, 'h'},
                                        {0, 0, 0, 0}};
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
    switch (ch) {
      case 'e':
        if (parse_endpoint(&o, optarg)) return 2;
        break;
      case 'a':
        o.access_key = optarg;
        break;
      case 's':
        o.secret_key = optarg;
        break;
      case 'r':
        snprintf(o.region, sizeof o.region, "%s", optarg);
        break;
      case 'q':
        snprintf(o.queue, sizeof o.queue, "%s", optarg);
        break;
      case 'c':
        o.connections = atoi(optarg);
        break;
      case 't':
        o.threads = atoi(optarg);
        break;
      case 'd':
        o.duration = atof(optarg);
        break;
      case 'W':
        o.warmup = atof(optarg);
        break;
      case 'm':
        o.messages = atoll(optarg);
        break;
      case 'b':
        o.body_size = atoi(optarg);
        break;
      case 'B':
        o.batch = atoi(optarg);
        break;
      case 'w':
        o.wait = atoi(optarg);
        break;
      case 'P':
        o.poll_wait = atoi(optarg);
        break;
      case 'S':
        o.settle = atof(optarg);
        break;
      case 'p':
        if (add_pids(&o.server, optarg)) {
          fprintf(stderr,
                  "tweedle bench: --server-pid takes process ids, comma-separated (at most %d)\n",
                  MAX_PIDS);
          return 2;
        }
        break;
      case 'K':
        snprintf(o.bucket, sizeof o.bucket, "%s", optarg);
        break;
      case 'z': {
        char *end;
        o.object_size = strtoull(optarg, &end, 10);
        if (*end || optarg[0] == '-') o.object_size = 0;
        break;
      }
      case 'O':
        o.objects = atoll(optarg);
        break;
      case 'H':
        o.payload_hash = 1;
        break;
      case 'U':
        o.no_sign = o.no_populate = 1;
        break;
      case 'N':
        o.no_populate = 1;
        break;
      case 'A':
        snprintf(o.api_key, sizeof o.api_key, "%s", optarg);
        break;
      case 'T':
        snprintf(o.topic, sizeof o.topic, "%s", optarg);
        break;
      case 'F':
        o.fanout = atoi(optarg);
        break;
      case 'R':
        o.raw = 1;
        break;
      case 1001:
        o.datums = atoi(optarg);
        break;
      case 1002:
        o.cw_names = atoi(optarg);
        break;
      case 1003:
        if (strlen(optarg) >= sizeof o.cw_namespace || !optarg[0] ||
            strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_.-") !=
                strlen(optarg)) {
          fprintf(stderr, "tweedle bench: --namespace takes up to 127 of A-Z a-z 0-9 / _ . -\n");
          return 2;
        }
        snprintf(o.cw_namespace, sizeof o.cw_namespace, "%s", optarg);
        break;
      case 1004:
        cw_protocol = optarg;
        break;
      case 1005:
        o.rate = atof(optarg);
        break;
      case 'j':
        o.json = 1;
        break;
      case 'k':
        if (!strcmp(optarg, "cycle"))
          o.workload = WL_CYCLE;
        else if (!strcmp(optarg, "send"))
          o.workload = WL_SEND;
        else if (!strcmp(optarg, "longpoll"))
          o.workload = WL_LONGPOLL;
        else if (!strcmp(optarg, "s3put"))
          o.workload = WL_S3PUT;
        else if (!strcmp(optarg, "s3get"))
          o.workload = WL_S3GET;
        else if (!strcmp(optarg, "jobs"))
          o.workload = WL_JOBS;
        else if (!strcmp(optarg, "presign"))
          o.workload = WL_PRESIGN;
        else if (!strcmp(optarg, "publish"))
          o.workload = WL_PUBLISH;
        else if (!strcmp(optarg, "putmetric"))
          o.workload = WL_PUTMETRIC;
        else {
          fprintf(stderr,
                  "tweedle bench: --workload is cycle, send, longpoll, s3put, s3get, jobs, "
                  "presign, publish or putmetric\n");
          return 2;
        }
        break;
      case 'h':
        fputs(usage, stdout);
        return 0;
      default:
        fputs(usage, stderr);
        return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "tweedle bench: unexpected argument '%s'\n%s", argv[optind], usage);
    return 2;
  }
  if (o.connections < 0) o.connections = o.workload == WL_LONGPOLL ? 5000 : 64;
  if (strcmp(cw_protocol, "json") && strcmp(cw_protocol, "query")) {
    fprintf(stderr, "tweedle bench: --cw-protocol is json or query\n");
    return 2;
  }
  o.cw_query = !strcmp(cw_protocol, "query");
  if (o.datums < 1 || o.datums > 1000 || o.cw_names < 1 || o.cw_names > 100) {
    fprintf(stderr, "tweedle bench: --datums is 1..1000 and --metric-names 1..100\n");
    return 2;
  }
  if (o.objects < 0) o.objects = o.workload == WL_S3GET ? 100 : 0;
  if (o.no_sign && !IS_S3(o.workload)) {
    fprintf(stderr, "tweedle bench: --no-sign is for the S3 workloads\n");
    return 2;
  }
  if (IS_S3(o.workload) &&
      (o.object_size < 1 || !bucket_ok(o.bucket) || (o.workload == WL_S3GET && o.objects < 1))) {
    fprintf(stderr,
            "tweedle bench: S3 needs --object-size >= 1, a bucket name of 3-63 of a-z 0-9 . - and, "
            "for s3get, --objects >= 1\n");
    return 2;
  }
  if (IS_API(o.workload) && !o.api_key[0] && getenv("TWEEDLE_API_KEY"))
    snprintf(o.api_key, sizeof o.api_key, "%s", getenv("TWEEDLE_API_KEY"));
  if (o.workload == WL_PRESIGN && !bucket_ok(o.bucket)) {
    fprintf(stderr, "tweedle bench: presign needs a bucket name of 3-63 of a-z 0-9 . -\n");
    return 2;
  }
  if (!o.no_sign && !(IS_API(o.workload) && o.api_key[0]) && (!o.access_key || !o.secret_key)) {
    fprintf(stderr,
            "tweedle bench: no credentials (--access-key/--secret-key, AWS_* or TWEEDLE_* "
            "variables)\n");
    return 2;
  }
  if (o.connections < 1 || o.threads < 1 || o.duration <= 0 || o.warmup < 0 || o.body_size < 1 ||
      o.body_size > 262144 || o.batch < 1 || o.batch > 10 || o.wait < 0 || o.wait > 20 ||
      o.poll_wait < 1 || o.poll_wait > 20 || o.messages < 0 || o.fanout < 1 || o.fanout > 100 ||
      o.rate < 0) {
    fprintf(stderr, "tweedle bench: an option is out of range\n%s", usage);
    return 2;
  }
  if (!o.queue[0] && o.workload == WL_JOBS)
    snprintf(o.queue, sizeof o.queue, "tweedle-jobs"); /* the server's */
  if (!o.queue[0])
    snprintf(o.queue, sizeof o.queue, "tweedle-bench-%s", tw_bench_wl_names[o.workload]);
  size_t qn = strlen(o.queue);
  o.fifo = qn > 5 && !strcmp(o.queue + qn - 5, ".fifo");
  if (o.fifo && o.workload != WL_CYCLE && o.workload != WL_SEND) {
    fprintf(stderr, "tweedle bench: a .fifo --queue is for the cycle and send workloads\n");
    return 2;
  }
  snprintf(o.put_tag, sizeof o.put_tag, "%lx%lx", (long)getpid() & 0xffff, (long)time(NULL));
  if (raise_nofile(o.connections + 64)) {
    fprintf(stderr, "tweedle bench: cannot raise the open-file limit to %d (ulimit -n)\n",
            o.connections + 64);
    return 2;
  }
  /* A body of printable characters that needs no JSON escaping. */
  o.msg_body = malloc((size_t)o.body_size + 1);
  for (int i = 0; i < o.body_size; i++)
    o.msg_body[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[i % 36];
  o.msg_body[o.body_size] = '\0';

  FILE *rep = o.json ? stderr : stdout;
  stats st;
  int rc = 0;
  if (IS_S3(o.workload)) {
    rc = tw_bench_s3(&o, rep, &st);
    goto out;
  }
  if (o.workload == WL_LONGPOLL) {
    rc = tw_bench_longpoll(&o, rep, &st);
    goto out;
  }

  {
    tw_hc_loop l;
    char err[256];
    if (tw_hc_loop_init(&l, o.host, o.port, err, sizeof err)) {
      fprintf(stderr, "tweedle bench: %s\n", err);
      rc = 1;
      goto out;
    }
    /* presign: the bucket must exist (created with the admin credential when there is one) */
    int qrc =
        o.workload == WL_PRESIGN && o.access_key && o.secret_key && tw_bench_ensure_bucket(&o, &l)
            ? -1
        : IS_API(o.workload)         ? tw_bench_gateway_setup(&o, &l)
        : o.workload == WL_PUBLISH   ? tw_bench_sns_setup(&o, &l)
        : o.workload == WL_PUTMETRIC ? tw_bench_cw_setup(&o, &l)
                                     : tw_bench_ensure_queue(&o, &l);
    tw_hc_loop_free(&l);
    if (qrc) {
      rc = 1;
      goto out;
    }
  }
  load_result lr;
  tw_bench_run_load(&o, &st, &lr);
  rc = o.workload == WL_PUBLISH     ? tw_bench_sns_report(&o, rep, &st, &lr)
       : o.workload == WL_PUTMETRIC ? tw_bench_cw_report(&o, rep, &st, &lr)
                                    : tw_bench_report_load(&o, rep, &st, &lr);
out:
  fflush(stdout);
  free(o.msg_body);
  free(o.queue_url_json);
  free(o.obj_buf);
  free(o.job_req);
  tw_bench_sns_free(&o);
  return rc;
}
