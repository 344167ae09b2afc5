/* tweedle bench: SigV4-signed SQS JSON 1.0 load against tweedle or any SQS
 * endpoint (moto, ElasticMQ, AWS).
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
 *             wake them all. */
#include <errno.h>
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

#include "auth/sigv4.h"
#include "bench/hist.h"
#include "bench/http_client.h"
#include "core/crypto.h"

#define CT_JSON "application/x-amz-json-1.0"
#define MAX_ERR_KINDS 16
#define MAX_ERR_SAMPLES 3
#define RETIRE_AFTER 5 /* consecutive transport failures before a connection gives up */

enum { OP_SEND, OP_SEND_BATCH, OP_RECEIVE, OP_DELETE_BATCH, OP_SETUP, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"SendMessage", "SendMessageBatch", "ReceiveMessage",
                                               "DeleteMessageBatch", "setup"};
static const char *const op_targets[OP_COUNT] = {
    "AmazonSQS.SendMessage", "AmazonSQS.SendMessageBatch", "AmazonSQS.ReceiveMessage",
    "AmazonSQS.DeleteMessageBatch", NULL};

enum { WL_CYCLE, WL_SEND, WL_LONGPOLL };
static const char *const wl_names[] = {"cycle", "send", "longpoll"};

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
  long server_pid;
  /* derived */
  char *queue_url_json; /* the QueueUrl, JSON-escaped */
  char *msg_body;
} opts;

typedef struct {
  int status; /* -1: transport */
  uint64_t n;
} err_kind;

typedef struct {
  tw_hist all;
  tw_hist lat[OP_COUNT];
  uint64_t ok[OP_COUNT], failed[OP_COUNT];
  uint64_t errors;       /* requests that failed: non-200 or transport */
  uint64_t entry_errors; /* batch entries reported under "Failed" */
  uint64_t sent, received, deleted, empty_receives;
  uint64_t timeouts; /* requests still unanswered when the run gave up */
  int retired;       /* connections that gave up after repeated transport failures */
  err_kind kinds[MAX_ERR_KINDS];
  int nkinds;
  char samples[MAX_ERR_SAMPLES][240];
  int nsamples;
} stats;

/* ---------- small helpers ---------- */

static double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void stats_init(stats *s) {
  memset(s, 0, sizeof *s);
  tw_hist_reset(&s->all);
  for (int i = 0; i < OP_COUNT; i++) tw_hist_reset(&s->lat[i]);
}

static void stats_merge(stats *into, const stats *from) {
  tw_hist_merge(&into->all, &from->all);
  for (int i = 0; i < OP_COUNT; i++) {
    tw_hist_merge(&into->lat[i], &from->lat[i]);
    into->ok[i] += from->ok[i];
    into->failed[i] += from->failed[i];
  }
  into->errors += from->errors;
  into->entry_errors += from->entry_errors;
  into->sent += from->sent;
  into->received += from->received;
  into->deleted += from->deleted;
  into->empty_receives += from->empty_receives;
  into->timeouts += from->timeouts;
  into->retired += from->retired;
  for (int i = 0; i < from->nkinds; i++) {
    int j = 0;
    while (j < into->nkinds && into->kinds[j].status != from->kinds[i].status) j++;
    if (j == into->nkinds) {
      if (into->nkinds == MAX_ERR_KINDS) continue;
      into->kinds[into->nkinds++] = (err_kind){from->kinds[i].status, 0};
    }
    into->kinds[j].n += from->kinds[i].n;
  }
  for (int i = 0; i < from->nsamples && into->nsamples < MAX_ERR_SAMPLES; i++)
    memcpy(into->samples[into->nsamples++], from->samples[i], sizeof from->samples[i]);
}

/* Every failed request is counted by status and the first few are kept
 * verbatim, so a run with errors says what they were. */
static void note_error(stats *s, int op, int status, const char *body, size_t len, const char *why) {
  s->errors++;
  s->failed[op]++;
  int j = 0;
  while (j < s->nkinds && s->kinds[j].status != status) j++;
  if (j == s->nkinds && s->nkinds < MAX_ERR_KINDS) s->kinds[s->nkinds++] = (err_kind){status, 0};
  if (j < s->nkinds) s->kinds[j].n++;
  if (s->nsamples < MAX_ERR_SAMPLES) {
    if (status < 0)
      snprintf(s->samples[s->nsamples++], sizeof s->samples[0], "%s: %s", op_names[op], why ? why : "transport error");
    else
      snprintf(s->samples[s->nsamples++], sizeof s->samples[0], "%s: HTTP %d %.*s", op_names[op], status,
               (int)(len > 180 ? 180 : len), body ? body : "");
  }
}

/* Appends s to a growable buffer as the inside of a JSON string. */
typedef struct {
  char *p;
  size_t len, cap;
} sbuf;

static void sb_reserve(sbuf *b, size_t more) {
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

static void sb_put(sbuf *b, const char *s, size_t n) {
  sb_reserve(b, n);
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_json_escaped(sbuf *b, const char *s) {
  static const char hex[] = "0123456789abcdef";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char e[6];
    if (c == '"' || c == '\\') {
      e[0] = '\\';
      e[1] = (char)c;
      sb_put(b, e, 2);
    } else if (c < 0x20) {
      memcpy(e, "\\u00", 4);
      e[4] = hex[c >> 4];
      e[5] = hex[c & 15];
      sb_put(b, e, 6);
    } else {
      sb_put(b, (const char *)&c, 1);
    }
  }
}

/* ---------- requests ---------- */

/* Writes the whole signed HTTP request into out. Returns 0, -1 on failure. */
static int build_request(const opts *o, const char *target, const char *body, size_t blen,
                         const char *sha_hex, time_t t, sbuf *out) {
  char amz[17], sha[65], auth[512];
  tw_sigv4_amz_date(t, amz);
  if (!sha_hex) {
    tw_sha256_hex(body, blen, sha);
    sha_hex = sha;
  }
  tw_kv h[4] = {{"host", o->hostport}, {"content-type", CT_JSON}, {"x-amz-date", amz}, {"x-amz-target", target}};
  tw_sigv4_input in = {.method = "POST", .raw_path = o->path, .raw_query = "", .headers = h, .nheaders = 4,
                       .payload_sha256_hex = sha_hex};
  if (tw_sigv4_sign(&in, o->access_key, o->secret_key, o->region, "sqs", auth, sizeof auth)) return -1;
  out->len = 0;
  sb_reserve(out, blen + 512 + strlen(auth) + strlen(o->hostport) + strlen(o->path));
  int n = snprintf(out->p, out->cap,
                   "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: " CT_JSON
                   "\r\nX-Amz-Date: %s\r\nX-Amz-Target: %s\r\nAuthorization: %s\r\nContent-Length: %zu\r\n\r\n",
                   o->path, o->hostport, amz, target, auth, blen);
  if (n < 0 || (size_t)n >= out->cap) return -1;
  out->len = (size_t)n;
  sb_put(out, body, blen);
  return 0;
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

static void tmpl_init(tmpl *t, const char *target, const char *body) {
  memset(t, 0, sizeof *t);
  t->target = target;
  sb_puts(&t->body, body);
  tw_sha256_hex(t->body.p, t->body.len, t->sha);
  t->at = (time_t)-1;
}

static void tmpl_free(tmpl *t) {
  free(t->body.p);
  free(t->req.p);
}

static const sbuf *tmpl_get(const opts *o, tmpl *t) {
  time_t now = time(NULL);
  if (now != t->at) {
    if (build_request(o, t->target, t->body.p, t->body.len, t->sha, now, &t->req)) return NULL;
    t->at = now;
  }
  return &t->req;
}

static void body_send(const opts *o, sbuf *b) {
  b->len = 0;
  sb_puts(b, "{\"QueueUrl\":\"");
  sb_puts(b, o->queue_url_json);
  sb_puts(b, "\",\"MessageBody\":\"");
  sb_puts(b, o->msg_body);
  sb_puts(b, "\"}");
}

static void body_send_batch(const opts *o, int k, sbuf *b) {
  b->len = 0;
  sb_puts(b, "{\"QueueUrl\":\"");
  sb_puts(b, o->queue_url_json);
  sb_puts(b, "\",\"Entries\":[");
  for (int i = 0; i < k; i++) {
    char id[64];
    snprintf(id, sizeof id, "%s{\"Id\":\"m%d\",\"MessageBody\":\"", i ? "," : "", i);
    sb_puts(b, id);
    sb_puts(b, o->msg_body);
    sb_puts(b, "\"}");
  }
  sb_puts(b, "]}");
}

static void body_receive(const opts *o, int max, int wait, sbuf *b) {
  char tail[96];
  b->len = 0;
  sb_puts(b, "{\"QueueUrl\":\"");
  sb_puts(b, o->queue_url_json);
  snprintf(tail, sizeof tail, "\",\"MaxNumberOfMessages\":%d,\"WaitTimeSeconds\":%d}", max, wait);
  sb_puts(b, tail);
}

/* Finds the raw (still JSON-escaped) value of each "ReceiptHandle" in a
 * ReceiveMessage response and appends a DeleteMessageBatch entry for it.
 * Returns the number of handles. Scanning is enough here: the key cannot occur
 * unescaped inside a string value. */
static int receipts_to_entries(const char *body, size_t len, sbuf *out) {
  static const char key[] = "\"ReceiptHandle\"";
  const char *p = body, *end = body + len;
  int n = 0;
  while ((p = memmem(p, (size_t)(end - p), key, sizeof key - 1))) {
    p += sizeof key - 1;
    while (p < end && (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    if (p >= end || *p != '"') continue;
    const char *s = ++p;
    while (p < end && *p != '"') p += *p == '\\' ? 2 : 1;
    if (p >= end) break;
    char id[64];
    snprintf(id, sizeof id, "%s{\"Id\":\"d%d\",\"ReceiptHandle\":\"", n ? "," : "", n);
    sb_puts(out, id);
    sb_put(out, s, (size_t)(p - s));
    sb_puts(out, "\"}");
    n++;
  }
  return n;
}

/* Counts the Successful and Failed entries of a batch response. Returns -1
 * when the body is not the expected JSON. */
static int batch_counts(const char *body, size_t len, int *ok, int *failed) {
  json_error_t je;
  json_t *j = json_loadb(body, len, 0, &je);
  if (!json_is_object(j)) {
    json_decref(j);
    return -1;
  }
  json_t *s = json_object_get(j, "Successful"), *f = json_object_get(j, "Failed");
  *ok = json_is_array(s) ? (int)json_array_size(s) : 0;
  *failed = json_is_array(f) ? (int)json_array_size(f) : 0;
  json_decref(j);
  return 0;
}

/* ---------- synchronous calls (set-up, clean-up) ---------- */

typedef struct {
  int done, status;
  sbuf body;
} sync_result;

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

/* One request, waited for. Returns the HTTP status (-1: transport) with the
 * response body (or the transport error) in r->body. */
static int sync_call(const opts *o, tw_hc_loop *l, const char *action, const char *body, sync_result *r) {
  char target[96];
  snprintf(target, sizeof target, "AmazonSQS.%s", action);
  sbuf req = {0};
  if (build_request(o, target, body, strlen(body), NULL, time(NULL), &req)) {
    free(req.p);
    return -1;
  }
  tw_hc c;
  tw_hc_init(&c, l, sync_done, r);
  r->done = 0;
  tw_hc_send(&c, req.p, req.len);
  double deadline = now_sec() + 60;
  while (!r->done && now_sec() < deadline) tw_hc_loop_poll(l, 100);
  if (!r->done) {
    r->status = -1;
    r->body.len = 0;
    sb_puts(&r->body, "timed out");
  }
  tw_hc_free(&c);
  free(req.p);
  return r->status;
}

/* CreateQueue (which returns the existing queue's URL as well). */
static int ensure_queue(opts *o, tw_hc_loop *l) {
  sbuf b = {0};
  sb_puts(&b, "{\"QueueName\":\"");
  sb_json_escaped(&b, o->queue);
  sb_puts(&b, "\"}");
  sync_result r = {0};
  int st = sync_call(o, l, "CreateQueue", b.p, &r);
  int rc = -1;
  if (st != 200) {
    fprintf(stderr, "tweedle bench: CreateQueue %s failed: %d %s\n", o->queue, st, r.body.p ? r.body.p : "");
  } else {
    json_error_t je;
    json_t *j = json_loadb(r.body.p, r.body.len, 0, &je);
    const char *url = json_string_value(json_object_get(j, "QueueUrl"));
    if (url) {
      sbuf u = {0};
      sb_json_escaped(&u, url);
      o->queue_url_json = u.p;
      rc = 0;
    } else {
      fprintf(stderr, "tweedle bench: CreateQueue answered without a QueueUrl: %s\n", r.body.p);
    }
    json_decref(j);
  }
  free(b.p);
  free(r.body.p);
  return rc;
}

/* Receives and deletes until the queue answers empty, so a long-poll run starts
 * on an empty queue. Returns the number of messages removed, -1 on failure. */
static long drain_queue(const opts *o, tw_hc_loop *l) {
  sbuf rb = {0}, db = {0};
  sync_result r = {0};
  long removed = 0;
  body_receive(o, 10, 0, &rb);
  for (;;) {
    if (sync_call(o, l, "ReceiveMessage", rb.p, &r) != 200) {
      fprintf(stderr, "tweedle bench: draining %s: %s\n", o->queue, r.body.p ? r.body.p : "");
      removed = -1;
      break;
    }
    db.len = 0;
    sb_puts(&db, "{\"QueueUrl\":\"");
    sb_puts(&db, o->queue_url_json);
    sb_puts(&db, "\",\"Entries\":[");
    int n = receipts_to_entries(r.body.p, r.body.len, &db);
    if (n == 0) break;
    sb_puts(&db, "]}");
    if (sync_call(o, l, "DeleteMessageBatch", db.p, &r) != 200) {
      fprintf(stderr, "tweedle bench: draining %s: %s\n", o->queue, r.body.p ? r.body.p : "");
      removed = -1;
      break;
    }
    removed += n;
  }
  free(rb.p);
  free(db.p);
  free(r.body.p);
  return removed;
}

/* ---------- cycle and send workloads ---------- */

typedef struct worker worker;

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
} bconn;

typedef struct {
  double t_start, t_measure, t_end; /* measurement window */
  double t_giveup;                  /* in-flight requests after this are timeouts */
  atomic_llong claimed;             /* messages claimed for sending (--messages mode) */
  /* CPU used over the window: the server's (from /proc) and this process's */
  long server_pid;
  double srv_cpu[2], cli_cpu[2];
  int marked;
  struct worker *first;
} run_clock;

struct worker {
  const opts *o;
  run_clock *rc;
  tw_hc_loop loop;
  bconn *conns;
  int nconns;
  int inflight;
  stats st;
  tmpl t_send, t_batch, t_recv;
  double t_last; /* last completion, for --messages mode */
  pthread_t th;
};

static void issue(bconn *c, int op, const sbuf *req) {
  if (!req) { /* signing failed: count it, never stall silently */
    note_error(&c->w->st, op, -1, NULL, 0, "could not sign the request");
    c->stopped = 1;
    return;
  }
  c->op = op;
  c->t0 = now_sec();
  c->w->inflight++;
  tw_hc_send(&c->hc, req->p, req->len);
}

static const sbuf *signed_body(bconn *c, int op) {
  if (build_request(c->w->o, op_targets[op], c->body.p, c->body.len, NULL, time(NULL), &c->req)) return NULL;
  return &c->req;
}

/* Decides and sends the connection's next request, or stops it. */
static void next_request(bconn *c, int after_op) {
  worker *w = c->w;
  const opts *o = w->o;
  if (c->stopped) return;
  double now = now_sec();
  int quota = o->messages > 0;
  if (!quota && now >= w->rc->t_end) {
    c->stopped = 1;
    return;
  }
  if (o->workload == WL_SEND) {
    if (quota && atomic_fetch_add(&w->rc->claimed, 1) >= o->messages) {
      c->stopped = 1;
      return;
    }
    issue(c, OP_SEND, tmpl_get(o, &w->t_send));
    return;
  }
  /* cycle: batch send, receive, delete; a receive follows every send and
   * every delete starts a new cycle */
  if (after_op == OP_SEND_BATCH) {
    issue(c, OP_RECEIVE, tmpl_get(o, &w->t_recv));
    return;
  }
  if (quota) {
    long long got = atomic_fetch_add(&w->rc->claimed, o->batch);
    long long left = o->messages - got;
    if (left <= 0) {
      if (c->drained) {
        c->stopped = 1;
        return;
      }
      issue(c, OP_RECEIVE, tmpl_get(o, &w->t_recv));
      return;
    }
    if (left < o->batch) {
      body_send_batch(o, (int)left, &c->body);
      issue(c, OP_SEND_BATCH, signed_body(c, OP_SEND_BATCH));
      return;
    }
  }
  issue(c, OP_SEND_BATCH, tmpl_get(o, &w->t_batch));
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
  if (status != 200) {
    note_error(st, op, status, body, len, hc->last_error);
    if (status < 0 && ++c->fails >= RETIRE_AFTER) {
      c->stopped = 1;
      st->retired++;
      return;
    }
    if (status >= 0) c->fails = 0;
    next_request(c, -1); /* start over with a fresh send */
    return;
  }
  c->fails = 0;
  if (counted) {
    uint64_t us = (uint64_t)((now - c->t0) * 1e6);
    tw_hist_add(&st->lat[op], us);
    tw_hist_add(&st->all, us);
    st->ok[op]++;
  }
  int okn = 0, bad = 0;
  switch (op) {
    case OP_SEND:
      if (counted) st->sent++;
      next_request(c, op);
      return;
    case OP_SEND_BATCH:
      if (batch_counts(body, len, &okn, &bad)) {
        note_error(st, op, status, body, len, NULL);
        next_request(c, -1);
        return;
      }
      if (counted) st->sent += (uint64_t)okn;
      st->entry_errors += (uint64_t)bad;
      next_request(c, op);
      return;
    case OP_RECEIVE: {
      c->body.len = 0;
      sb_puts(&c->body, "{\"QueueUrl\":\"");
      sb_puts(&c->body, o->queue_url_json);
      sb_puts(&c->body, "\",\"Entries\":[");
      int n = receipts_to_entries(body, len, &c->body);
      sb_puts(&c->body, "]}");
      if (counted) st->received += (uint64_t)n;
      if (n == 0) {
        if (counted) st->empty_receives++;
        /* --messages mode: once everything is sent, an empty queue means done */
        if (o->messages > 0 && atomic_load(&w->rc->claimed) >= o->messages) c->drained = 1;
        next_request(c, -1);
        return;
      }
      issue(c, OP_DELETE_BATCH, signed_body(c, OP_DELETE_BATCH));
      return;
    }
    case OP_DELETE_BATCH:
      if (batch_counts(body, len, &okn, &bad)) {
        note_error(st, op, status, body, len, NULL);
      } else {
        if (counted) st->deleted += (uint64_t)okn;
        st->entry_errors += (uint64_t)bad;
      }
      next_request(c, op);
      return;
    default:
      next_request(c, -1);
  }
}

/* CPU seconds of a process (utime + stime), -1 when unreadable. */
static double proc_cpu(long pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  unsigned long ut, st;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

/* Samples CPU use as the measurement window opens and closes (first worker only). */
static void mark_cpu(run_clock *rc) {
  if (rc->marked >= 2) return;
  double now = now_sec();
  if (rc->marked == 0 && now >= rc->t_measure) {
    rc->srv_cpu[0] = rc->server_pid > 0 ? proc_cpu(rc->server_pid) : -1;
    rc->cli_cpu[0] = self_cpu();
    rc->marked = 1;
  }
  if (rc->marked == 1 && now >= rc->t_end) {
    rc->srv_cpu[1] = rc->server_pid > 0 ? proc_cpu(rc->server_pid) : -1;
    rc->cli_cpu[1] = self_cpu();
    rc->marked = 2;
  }
}

static void *worker_run(void *p) {
  worker *w = p;
  int first = w == w->rc->first;
  for (int i = 0; i < w->nconns; i++) next_request(&w->conns[i], -1);
  while (w->inflight > 0) {
    if (tw_hc_loop_poll(&w->loop, 50) < 0) break;
    if (first) mark_cpu(w->rc);
    if (now_sec() > w->rc->t_giveup) break;
  }
  /* whatever is still in flight never came back */
  for (int i = 0; i < w->nconns; i++)
    if (w->conns[i].hc.busy) {
      w->st.timeouts++;
      note_error(&w->st, w->conns[i].op, -1, NULL, 0, "no response before the run ended");
    }
  return NULL;
}

typedef struct {
  double elapsed;
  unsigned long connects;
  double server_cpu_s, client_cpu_s; /* -1 when unknown */
} load_result;

static void run_load(opts *o, stats *total, load_result *lr) {
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
  rc.server_pid = o->server_pid;
  rc.first = &ws[0];
  char err[256];
  for (int t = 0; t < nt; t++) {
    worker *w = &ws[t];
    w->o = o;
    w->rc = &rc;
    stats_init(&w->st);
    if (tw_hc_loop_init(&w->loop, o->host, o->port, err, sizeof err)) {
      fprintf(stderr, "tweedle bench: %s\n", err);
      exit(1);
    }
    w->nconns = o->connections / nt + (t < o->connections % nt);
    w->conns = calloc((size_t)w->nconns, sizeof *w->conns);
    for (int i = 0; i < w->nconns; i++) {
      w->conns[i].w = w;
      tw_hc_init(&w->conns[i].hc, &w->loop, on_response, &w->conns[i]);
    }
    sbuf b = {0};
    body_send(o, &b);
    tmpl_init(&w->t_send, op_targets[OP_SEND], b.p);
    body_send_batch(o, o->batch, &b);
    tmpl_init(&w->t_batch, op_targets[OP_SEND_BATCH], b.p);
    body_receive(o, 10, o->wait, &b);
    tmpl_init(&w->t_recv, op_targets[OP_RECEIVE], b.p);
    free(b.p);
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
    mark_cpu(&rc);
  }
  lr->elapsed = quota ? t_last - rc.t_start : o->duration;
  lr->server_cpu_s = rc.marked == 2 && rc.srv_cpu[0] >= 0 && rc.srv_cpu[1] >= 0 ? rc.srv_cpu[1] - rc.srv_cpu[0] : -1;
  lr->client_cpu_s = rc.marked == 2 ? rc.cli_cpu[1] - rc.cli_cpu[0] : -1;
  stats_init(total);
  lr->connects = 0;
  for (int t = 0; t < nt; t++) {
    worker *w = &ws[t];
    stats_merge(total, &w->st);
    lr->connects += w->loop.connects;
    for (int i = 0; i < w->nconns; i++) {
      tw_hc_free(&w->conns[i].hc);
      free(w->conns[i].body.p);
      free(w->conns[i].req.p);
    }
    free(w->conns);
    tmpl_free(&w->t_send);
    tmpl_free(&w->t_batch);
    tmpl_free(&w->t_recv);
    tw_hc_loop_free(&w->loop);
  }
  free(ws);
}

/* ---------- long-poll workload ---------- */

typedef struct {
  long rss_kb, hwm_kb;
} mem_info;

static int read_mem(long pid, mem_info *m) {
  char path[64], line[256];
  m->rss_kb = m->hwm_kb = -1;
  if (pid <= 0) return -1;
  snprintf(path, sizeof path, "/proc/%ld/status", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "VmRSS:", 6)) m->rss_kb = strtol(line + 6, NULL, 10);
    if (!strncmp(line, "VmHWM:", 6)) m->hwm_kb = strtol(line + 6, NULL, 10);
  }
  fclose(f);
  return m->rss_kb >= 0 ? 0 : -1;
}

typedef struct lp_run lp_run;

typedef struct {
  tw_hc hc;
  lp_run *run;
  int sender; /* 0: a parked receiver */
  int returned;
  double t_ret;
} lpconn;

enum { LP_PARKING, LP_WAKING, LP_REPARKING, LP_CLEANING };

struct lp_run {
  const opts *o;
  stats st;
  int phase;
  int returned, returned_early;
  double t_send0, t_sent_all;
  long long to_send, sent_claimed, sent_ok;
  tmpl t_batch, t_recv;
  sbuf scratch;
  /* raw (JSON-escaped) receipt handles of the messages received, deleted at the end */
  char **receipts;
  int nreceipts, cap_receipts, next_receipt, deletes_inflight;
};

static void lp_sender_next(lpconn *c);

static void lp_keep_receipts(lp_run *r, const char *body, size_t len) {
  sbuf e = {0};
  int n = receipts_to_entries(body, len, &e);
  /* entries look like {"Id":"d0","ReceiptHandle":"..."} */
  const char *p = e.p;
  for (int i = 0; i < n; i++) {
    p = strstr(p, "\"ReceiptHandle\":\"") + 17;
    const char *q = strstr(p, "\"}");
    if (r->nreceipts == r->cap_receipts) {
      r->cap_receipts = r->cap_receipts ? 2 * r->cap_receipts : 1024;
      r->receipts = realloc(r->receipts, (size_t)r->cap_receipts * sizeof *r->receipts);
    }
    r->receipts[r->nreceipts++] = strndup(p, (size_t)(q - p));
    p = q;
  }
  free(e.p);
  r->st.received += (uint64_t)n;
  if (n == 0) r->st.empty_receives++;
}

static void lp_done(tw_hc *hc, int status, const char *body, size_t len) {
  lpconn *c = hc->ud;
  lp_run *r = c->run;
  double now = now_sec();
  if (!c->sender) {
    c->returned = 1;
    c->t_ret = now;
    r->returned++;
    if (r->phase != LP_WAKING) r->returned_early++;
    if (status != 200) {
      note_error(&r->st, OP_RECEIVE, status, body, len, hc->last_error);
      return;
    }
    uint64_t before = r->st.received;
    lp_keep_receipts(r, body, len);
    if (r->phase == LP_WAKING && r->st.received > before)
      tw_hist_add(&r->st.lat[OP_RECEIVE], (uint64_t)((now - r->t_send0) * 1e6));
    return;
  }
  if (r->phase == LP_CLEANING) r->deletes_inflight--;
  if (status != 200) {
    note_error(&r->st, r->phase == LP_CLEANING ? OP_DELETE_BATCH : OP_SEND_BATCH, status, body, len,
               hc->last_error);
  } else {
    int okn = 0, bad = 0;
    if (batch_counts(body, len, &okn, &bad) == 0) {
      if (r->phase == LP_CLEANING) {
        r->st.deleted += (uint64_t)okn;
      } else {
        r->sent_ok += okn;
        r->st.sent += (uint64_t)okn;
        if (r->sent_ok >= r->to_send && !r->t_sent_all) r->t_sent_all = now;
      }
      r->st.entry_errors += (uint64_t)bad;
    }
  }
  lp_sender_next(c);
}

static void lp_sender_next(lpconn *c) {
  lp_run *r = c->run;
  const opts *o = r->o;
  if (r->phase == LP_WAKING) {
    long long left = r->to_send - r->sent_claimed;
    if (left <= 0) return;
    int k = left < 10 ? (int)left : 10;
    r->sent_claimed += k;
    const sbuf *req;
    if (k == 10) {
      req = tmpl_get(o, &r->t_batch);
    } else {
      sbuf b = {0};
      body_send_batch(o, k, &b);
      req = build_request(o, op_targets[OP_SEND_BATCH], b.p, b.len, NULL, time(NULL), &r->scratch) ? NULL
                                                                                                  : &r->scratch;
      free(b.p);
    }
    if (req) tw_hc_send(&c->hc, req->p, req->len);
  } else if (r->phase == LP_CLEANING) {
    if (r->next_receipt >= r->nreceipts) return;
    sbuf b = {0};
    sb_puts(&b, "{\"QueueUrl\":\"");
    sb_puts(&b, o->queue_url_json);
    sb_puts(&b, "\",\"Entries\":[");
    for (int i = 0; i < 10 && r->next_receipt < r->nreceipts; i++) {
      char id[64];
      snprintf(id, sizeof id, "%s{\"Id\":\"d%d\",\"ReceiptHandle\":\"", i ? "," : "", i);
      sb_puts(&b, id);
      sb_puts(&b, r->receipts[r->next_receipt++]);
      sb_puts(&b, "\"}");
    }
    sb_puts(&b, "]}");
    if (!build_request(o, op_targets[OP_DELETE_BATCH], b.p, b.len, NULL, time(NULL), &r->scratch)) {
      r->deletes_inflight++;
      tw_hc_send(&c->hc, r->scratch.p, r->scratch.len);
    }
    free(b.p);
  }
}

/* Sends a long-poll receive on each of the n receivers, a wave at a time so
 * the listen backlog never overflows, until every request is on the wire.
 * Returns the seconds it took. */
static double lp_park(lp_run *r, tw_hc_loop *loop, lpconn *cs, int n) {
  double t0 = now_sec();
  int issued = 0;
  for (int i = 0; i < n; i++) cs[i].returned = 0;
  while (now_sec() - t0 < 60) {
    int written = 0;
    for (int i = 0; i < issued; i++) written += tw_hc_written(&cs[i].hc) || cs[i].returned;
    if (written == n) break;
    while (issued < n && issued - written < 512) {
      const sbuf *req = tmpl_get(r->o, &r->t_recv);
      if (!req) break;
      tw_hc_send(&cs[issued++].hc, req->p, req->len);
    }
    tw_hc_loop_poll(loop, 5);
  }
  double took = now_sec() - t0;
  /* Nothing tells a client that the server has parked a request; give it a
   * moment to take in the last ones before looking. */
  double settle_end = now_sec() + r->o->settle;
  while (now_sec() < settle_end) tw_hc_loop_poll(loop, 50);
  return took;
}

typedef struct {
  int connections, parked, reparked, returned_early;
  mem_info before, parked_mem, woken, reparked_mem, closed;
  double park_s, wake_all_ms, send_all_ms;
  long drained;
} lp_result;

static int run_longpoll(opts *o, stats *st, lp_result *res) {
  memset(res, 0, sizeof *res);
  char err[256];
  tw_hc_loop loop;
  if (tw_hc_loop_init(&loop, o->host, o->port, err, sizeof err)) {
    fprintf(stderr, "tweedle bench: %s\n", err);
    return -1;
  }
  if (ensure_queue(o, &loop)) {
    tw_hc_loop_free(&loop);
    return -1;
  }
  res->drained = drain_queue(o, &loop);
  if (res->drained < 0) {
    tw_hc_loop_free(&loop);
    return -1;
  }
  int n = o->connections, nsend = n < 16 ? n : 16;
  res->connections = n;
  lp_run r = {0};
  r.o = o;
  stats_init(&r.st);
  r.to_send = n;
  sbuf b = {0};
  body_send_batch(o, 10, &b);
  tmpl_init(&r.t_batch, op_targets[OP_SEND_BATCH], b.p);
  body_receive(o, 1, o->poll_wait, &b);
  tmpl_init(&r.t_recv, op_targets[OP_RECEIVE], b.p);
  free(b.p);
  lpconn *cs = calloc((size_t)(n + nsend), sizeof *cs);
  for (int i = 0; i < n + nsend; i++) {
    cs[i].run = &r;
    cs[i].sender = i >= n;
    tw_hc_init(&cs[i].hc, &loop, lp_done, &cs[i]);
  }
  read_mem(o->server_pid, &res->before);

  r.phase = LP_PARKING;
  res->park_s = lp_park(&r, &loop, cs, n);
  res->parked = n - r.returned;
  read_mem(o->server_pid, &res->parked_mem);

  /* Wake them: n messages from a few sender connections. */
  r.phase = LP_WAKING;
  r.returned = 0;
  r.t_send0 = now_sec();
  for (int i = n; i < n + nsend; i++) lp_sender_next(&cs[i]);
  double deadline = r.t_send0 + o->poll_wait + 15;
  while (r.returned < res->parked && now_sec() < deadline) tw_hc_loop_poll(&loop, 20);
  double t_last = r.t_send0;
  for (int i = 0; i < n; i++)
    if (cs[i].returned && cs[i].t_ret > t_last) t_last = cs[i].t_ret;
  res->wake_all_ms = (t_last - r.t_send0) * 1000.0;
  res->send_all_ms = r.t_sent_all ? (r.t_sent_all - r.t_send0) * 1000.0 : -1;
  for (int i = 0; i < n; i++)
    if (!cs[i].returned) {
      r.st.timeouts++;
      note_error(&r.st, OP_RECEIVE, -1, NULL, 0, "long poll never returned");
      tw_hc_close(&cs[i].hc);
    }
  /* let the senders finish what they have in flight before re-using them */
  for (;;) {
    int busy = 0;
    for (int i = n; i < n + nsend; i++) busy += cs[i].hc.busy;
    if (!busy || now_sec() > deadline) break;
    tw_hc_loop_poll(&loop, 20);
  }
  read_mem(o->server_pid, &res->woken);

  /* Round two: the same connections poll again, as real consumers do; the
   * messages of round one are in flight, so the queue looks empty. */
  r.phase = LP_REPARKING;
  int early = r.returned_early;
  lp_park(&r, &loop, cs, n);
  res->reparked = n - (r.returned_early - early);
  read_mem(o->server_pid, &res->reparked_mem);
  res->returned_early = r.returned_early;

  /* Hang up (the server drops the parked polls), then delete what was received
   * so the next run starts on an empty queue. */
  for (int i = 0; i < n; i++) tw_hc_close(&cs[i].hc);
  r.phase = LP_CLEANING;
  for (int i = n; i < n + nsend; i++) {
    if (cs[i].hc.busy) tw_hc_close(&cs[i].hc);
    lp_sender_next(&cs[i]);
  }
  deadline = now_sec() + 60;
  while ((r.next_receipt < r.nreceipts || r.deletes_inflight > 0) && now_sec() < deadline)
    tw_hc_loop_poll(&loop, 20);
  read_mem(o->server_pid, &res->closed);

  for (int i = 0; i < n + nsend; i++) tw_hc_free(&cs[i].hc);
  for (int i = 0; i < r.nreceipts; i++) free(r.receipts[i]);
  free(cs);
  free(r.receipts);
  tmpl_free(&r.t_recv);
  tmpl_free(&r.t_batch);
  free(r.scratch.p);
  tw_hc_loop_free(&loop);
  *st = r.st;
  return 0;
}

/* ---------- options and output ---------- */

static const char *usage =
    "usage: tweedle bench [options]\n"
    "\n"
    "  --endpoint URL        server to drive (default http://127.0.0.1:9324)\n"
    "  --access-key KEY      default: AWS_ACCESS_KEY_ID, else TWEEDLE_ACCESS_KEY_ID\n"
    "  --secret-key SECRET   default: AWS_SECRET_ACCESS_KEY, else TWEEDLE_SECRET_ACCESS_KEY\n"
    "  --region REGION       signing region (default: AWS_REGION, else us-east-1)\n"
    "  --queue NAME          queue to use, created when missing\n"
    "                        (default tweedle-bench-<workload>)\n"
    "  --workload W          cycle | send | longpoll (default cycle)\n"
    "  --connections N       concurrent connections (default 64; longpoll: 5000)\n"
    "  --threads N           client threads sharing the connections (default 1)\n"
    "  --duration SECONDS    measured time (default 10)\n"
    "  --warmup SECONDS      unmeasured lead-in before it (default 1)\n"
    "  --messages N          stop after N messages instead of after --duration\n"
    "  --body-size BYTES     message body size (default 100)\n"
    "  --batch N             cycle: messages per SendMessageBatch (1..10, default 10)\n"
    "  --wait SECONDS        cycle: ReceiveMessage WaitTimeSeconds (default 0)\n"
    "  --poll-wait SECONDS   longpoll: WaitTimeSeconds of the parked receives (default 20)\n"
    "  --settle SECONDS      longpoll: pause after parking before measuring (default 2)\n"
    "  --server-pid PID      longpoll: report this process's RSS (from /proc)\n"
    "  --json                print one JSON result line on stdout (the report goes to stderr)\n"
    "\n"
    "Requests are SQS JSON 1.0, SigV4-signed for service sqs. Non-200 responses and\n"
    "failed batch entries are counted and reported; the exit status is 1 when any\n"
    "request failed.\n";

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
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= (rlim_t)need ? (rlim_t)need : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)need ? 0 : -1;
}

static double ms(uint64_t us) { return (double)us / 1000.0; }

static json_t *lat_json(const tw_hist *h) {
  return json_pack("{s:I,s:f,s:f,s:f,s:f,s:f}", "n", (json_int_t)h->n, "p50_ms", ms(tw_hist_quantile(h, 0.50)),
                   "p90_ms", ms(tw_hist_quantile(h, 0.90)), "p99_ms", ms(tw_hist_quantile(h, 0.99)), "max_ms",
                   ms(h->max_us), "mean_ms", h->n ? ms(h->sum_us / h->n) : 0.0);
}

static json_t *errors_json(const stats *s) {
  json_t *o = json_object();
  for (int i = 0; i < s->nkinds; i++) {
    char k[16];
    if (s->kinds[i].status < 0)
      snprintf(k, sizeof k, "transport");
    else
      snprintf(k, sizeof k, "%d", s->kinds[i].status);
    json_object_set_new(o, k, json_integer((json_int_t)s->kinds[i].n));
  }
  return o;
}

static void print_lat(FILE *f, const char *name, const tw_hist *h) {
  fprintf(f, "  %-20s n=%-9llu p50 %7.2f  p90 %7.2f  p99 %7.2f  max %8.2f ms\n", name, (unsigned long long)h->n,
          ms(tw_hist_quantile(h, 0.5)), ms(tw_hist_quantile(h, 0.9)), ms(tw_hist_quantile(h, 0.99)), ms(h->max_us));
}

static void print_errors(FILE *f, const stats *s) {
  if (!s->errors && !s->entry_errors) return;
  fprintf(f, "  errors by status:");
  for (int i = 0; i < s->nkinds; i++) {
    if (s->kinds[i].status < 0)
      fprintf(f, " transport=%llu", (unsigned long long)s->kinds[i].n);
    else
      fprintf(f, " %d=%llu", s->kinds[i].status, (unsigned long long)s->kinds[i].n);
  }
  if (s->entry_errors) fprintf(f, " failed-batch-entries=%llu", (unsigned long long)s->entry_errors);
  fprintf(f, "\n");
  for (int i = 0; i < s->nsamples; i++) fprintf(f, "  e.g. %s\n", s->samples[i]);
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
                                        {"help", no_argument, 0, 'h'},
                                        {0, 0, 0, 0}};
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
    switch (ch) {
      case 'e':
        if (parse_endpoint(&o, optarg)) return 2;
        break;
      case 'a': o.access_key = optarg; break;
      case 's': o.secret_key = optarg; break;
      case 'r': snprintf(o.region, sizeof o.region, "%s", optarg); break;
      case 'q': snprintf(o.queue, sizeof o.queue, "%s", optarg); break;
      case 'c': o.connections = atoi(optarg); break;
      case 't': o.threads = atoi(optarg); break;
      case 'd': o.duration = atof(optarg); break;
      case 'W': o.warmup = atof(optarg); break;
      case 'm': o.messages = atoll(optarg); break;
      case 'b': o.body_size = atoi(optarg); break;
      case 'B': o.batch = atoi(optarg); break;
      case 'w': o.wait = atoi(optarg); break;
      case 'P': o.poll_wait = atoi(optarg); break;
      case 'S': o.settle = atof(optarg); break;
      case 'p': o.server_pid = atol(optarg); break;
      case 'j': o.json = 1; break;
      case 'k':
        if (!strcmp(optarg, "cycle")) o.workload = WL_CYCLE;
        else if (!strcmp(optarg, "send")) o.workload = WL_SEND;
        else if (!strcmp(optarg, "longpoll")) o.workload = WL_LONGPOLL;
        else {
          fprintf(stderr, "tweedle bench: --workload is cycle, send or longpoll\n");
          return 2;
        }
        break;
      case 'h': fputs(usage, stdout); return 0;
      default: fputs(usage, stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "tweedle bench: unexpected argument '%s'\n%s", argv[optind], usage);
    return 2;
  }
  if (o.connections < 0) o.connections = o.workload == WL_LONGPOLL ? 5000 : 64;
  if (!o.access_key || !o.secret_key) {
    fprintf(stderr, "tweedle bench: no credentials (--access-key/--secret-key, AWS_* or TWEEDLE_* variables)\n");
    return 2;
  }
  if (o.connections < 1 || o.threads < 1 || o.duration <= 0 || o.warmup < 0 || o.body_size < 1 ||
      o.body_size > 262144 || o.batch < 1 || o.batch > 10 || o.wait < 0 || o.wait > 20 || o.poll_wait < 1 ||
      o.poll_wait > 20 || o.messages < 0) {
    fprintf(stderr, "tweedle bench: an option is out of range\n%s", usage);
    return 2;
  }
  if (!o.queue[0]) snprintf(o.queue, sizeof o.queue, "tweedle-bench-%s", wl_names[o.workload]);
  if (raise_nofile(o.connections + 64)) {
    fprintf(stderr, "tweedle bench: cannot raise the open-file limit to %d (ulimit -n)\n", o.connections + 64);
    return 2;
  }
  /* A body of printable characters that needs no JSON escaping. */
  o.msg_body = malloc((size_t)o.body_size + 1);
  for (int i = 0; i < o.body_size; i++) o.msg_body[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[i % 36];
  o.msg_body[o.body_size] = '\0';

  FILE *rep = o.json ? stderr : stdout;
  stats st;
  int rc = 0;
  if (o.workload == WL_LONGPOLL) {
    lp_result lr;
    if (run_longpoll(&o, &st, &lr)) {
      rc = 1;
      goto out;
    }
    const tw_hist *h = &st.lat[OP_RECEIVE];
    fprintf(rep, "workload longpoll: %s queue %s, %d connections, WaitTimeSeconds %d\n", o.endpoint, o.queue,
            lr.connections, o.poll_wait);
    fprintf(rep, "  parked %d in %.2f s; answered before any message was sent: %d\n", lr.parked, lr.park_s,
            lr.returned_early);
    if (o.server_pid > 0) {
      fprintf(rep, "  server RSS %.1f MB before; %.1f MB with %d parked (%.1f KB per poll)\n",
              lr.before.rss_kb / 1024.0, lr.parked_mem.rss_kb / 1024.0, lr.parked,
              lr.parked ? (double)(lr.parked_mem.rss_kb - lr.before.rss_kb) / lr.parked : 0.0);
      fprintf(rep, "  server RSS %.1f MB after the wake-up; %.1f MB with %d parked again on the same connections\n",
              lr.woken.rss_kb / 1024.0, lr.reparked_mem.rss_kb / 1024.0, lr.reparked);
      fprintf(rep, "  server RSS %.1f MB after hanging up; peak (VmHWM) %.1f MB\n", lr.closed.rss_kb / 1024.0,
              lr.closed.hwm_kb / 1024.0);
    }
    fprintf(rep, "  %d messages sent in %.1f ms; every parked receive returned %.1f ms after the first send\n",
            lr.connections, lr.send_all_ms, lr.wake_all_ms);
    fprintf(rep, "  received %llu, empty receives %llu, deleted afterwards %llu\n", (unsigned long long)st.received,
            (unsigned long long)st.empty_receives, (unsigned long long)st.deleted);
    print_lat(rep, "wake latency", h);
    print_errors(rep, &st);
    if (o.json) {
      json_t *j = json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:f,s:f,s:f,s:I,s:I,s:I,s:I,s:I,s:o}", "workload",
                            "longpoll", "endpoint", o.endpoint, "queue", o.queue, "connections", lr.connections,
                            "wait_time_s", o.poll_wait, "parked", lr.parked, "reparked", lr.reparked,
                            "answered_early", lr.returned_early, "park_s", lr.park_s, "send_all_ms",
                            lr.send_all_ms, "wake_all_ms", lr.wake_all_ms, "received", (json_int_t)st.received,
                            "empty_receives", (json_int_t)st.empty_receives, "deleted", (json_int_t)st.deleted,
                            "errors", (json_int_t)st.errors, "timeouts", (json_int_t)st.timeouts, "wake_latency",
                            lat_json(h));
      json_t *m = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "before", (json_int_t)lr.before.rss_kb, "parked",
                            (json_int_t)lr.parked_mem.rss_kb, "after_wake", (json_int_t)lr.woken.rss_kb,
                            "reparked", (json_int_t)lr.reparked_mem.rss_kb, "after_close",
                            (json_int_t)lr.closed.rss_kb, "peak_hwm", (json_int_t)lr.closed.hwm_kb);
      json_object_set_new(j, "server_rss_kb", m);
      json_object_set_new(j, "errors_by_status", errors_json(&st));
      char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(7));
      printf("%s\n", s);
      free(s);
      json_decref(j);
    }
    if (st.errors || st.entry_errors || lr.returned_early) rc = 1;
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
    int qrc = ensure_queue(&o, &l);
    tw_hc_loop_free(&l);
    if (qrc) {
      rc = 1;
      goto out;
    }
  }
  load_result lr;
  run_load(&o, &st, &lr);
  double elapsed = lr.elapsed;
  unsigned long connects = lr.connects;
  uint64_t msgs = o.workload == WL_CYCLE ? st.deleted : st.sent;
  uint64_t reqs = st.all.n;
  double rate = elapsed > 0 ? (double)msgs / elapsed : 0, rrate = elapsed > 0 ? (double)reqs / elapsed : 0;
  fprintf(rep, "workload %s: %s queue %s, %d connections, %d thread(s), body %d B", wl_names[o.workload],
          o.endpoint, o.queue, o.connections, o.threads, o.body_size);
  if (o.workload == WL_CYCLE) fprintf(rep, ", batch %d, wait %d s", o.batch, o.wait);
  fprintf(rep, "\n  measured %.2f s (after %.1f s warm-up), %lu TCP connects\n", elapsed,
          o.messages > 0 ? 0.0 : o.warmup, connects);
  if (o.workload == WL_CYCLE)
    fprintf(rep, "  %.0f msgs/s fully cycled (sent %llu, received %llu, deleted %llu, empty receives %llu)\n", rate,
            (unsigned long long)st.sent, (unsigned long long)st.received, (unsigned long long)st.deleted,
            (unsigned long long)st.empty_receives);
  else
    fprintf(rep, "  %.0f msgs/s sent (%llu messages)\n", rate, (unsigned long long)st.sent);
  fprintf(rep, "  %.0f requests/s, %llu errors\n", rrate, (unsigned long long)st.errors);
  if (lr.server_cpu_s >= 0)
    fprintf(rep, "  server CPU %.2f s (%.0f%% of one core, %.1f us per message)\n", lr.server_cpu_s,
            100 * lr.server_cpu_s / elapsed, msgs ? 1e6 * lr.server_cpu_s / (double)msgs : 0.0);
  if (lr.client_cpu_s >= 0)
    fprintf(rep, "  client CPU %.2f s (%.0f%% of one core)\n", lr.client_cpu_s, 100 * lr.client_cpu_s / elapsed);
  print_lat(rep, "all requests", &st.all);
  for (int i = 0; i < OP_SETUP; i++)
    if (st.lat[i].n) print_lat(rep, op_names[i], &st.lat[i]);
  print_errors(rep, &st);
  if (st.retired) fprintf(rep, "  %d connection(s) gave up after repeated transport failures\n", st.retired);
  if (o.json) {
    json_t *ops = json_object();
    for (int i = 0; i < OP_SETUP; i++)
      if (st.lat[i].n || st.failed[i]) {
        json_t *x = lat_json(&st.lat[i]);
        json_object_set_new(x, "errors", json_integer((json_int_t)st.failed[i]));
        json_object_set_new(ops, op_names[i], x);
      }
    json_t *j = json_pack(
        "{s:s,s:s,s:s,s:i,s:i,s:f,s:i,s:i,s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}",
        "workload", wl_names[o.workload], "endpoint", o.endpoint, "queue", o.queue, "connections", o.connections,
        "threads", o.threads, "duration_s", elapsed, "body_size", o.body_size, "batch",
        o.workload == WL_CYCLE ? o.batch : 1, "wait_s", o.workload == WL_CYCLE ? o.wait : 0, "msgs_per_s", rate,
        "requests_per_s", rrate, "p50_ms", ms(tw_hist_quantile(&st.all, 0.5)), "p90_ms",
        ms(tw_hist_quantile(&st.all, 0.9)), "p99_ms", ms(tw_hist_quantile(&st.all, 0.99)), "max_ms",
        ms(st.all.max_us), "mean_ms", st.all.n ? ms(st.all.sum_us / st.all.n) : 0.0, "errors",
        (json_int_t)st.errors, "entry_errors", (json_int_t)st.entry_errors, "timeouts", (json_int_t)st.timeouts,
        "sent", (json_int_t)st.sent, "received", (json_int_t)st.received, "deleted", (json_int_t)st.deleted,
        "empty_receives", (json_int_t)st.empty_receives, "tcp_connects", (json_int_t)connects, "ops", ops);
    json_object_set_new(j, "errors_by_status", errors_json(&st));
    json_object_set_new(j, "server_cpu_s", lr.server_cpu_s >= 0 ? json_real(lr.server_cpu_s) : json_null());
    json_object_set_new(j, "client_cpu_s", lr.client_cpu_s >= 0 ? json_real(lr.client_cpu_s) : json_null());
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(7));
    printf("%s\n", s);
    free(s);
    json_decref(j);
  }
  if (st.errors || st.entry_errors || st.retired) rc = 1;
out:
  fflush(stdout);
  free(o.msg_body);
  free(o.queue_url_json);
  return rc;
}
