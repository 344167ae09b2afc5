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
 *             way): a presigned PUT URL for a generated key in --bucket. */
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

enum { OP_SEND, OP_SEND_BATCH, OP_RECEIVE, OP_DELETE_BATCH, OP_S3_PUT, OP_S3_GET, OP_JOB_SUBMIT, OP_PRESIGN, OP_SETUP, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"SendMessage",        "SendMessageBatch", "ReceiveMessage",
                                               "DeleteMessageBatch", "PutObject",        "GetObject",
                                               "SubmitJob",          "Presign",          "setup"};
static const char *const op_targets[OP_COUNT] = {"AmazonSQS.SendMessage", "AmazonSQS.SendMessageBatch",
                                                 "AmazonSQS.ReceiveMessage", "AmazonSQS.DeleteMessageBatch",
                                                 NULL, NULL, NULL, NULL, NULL};

enum { WL_CYCLE, WL_SEND, WL_LONGPOLL, WL_S3PUT, WL_S3GET, WL_JOBS, WL_PRESIGN };
static const char *const wl_names[] = {"cycle", "send", "longpoll", "s3put", "s3get", "jobs", "presign"};
#define IS_API(wl) ((wl) == WL_JOBS || (wl) == WL_PRESIGN) /* /_/api/v1/ with a Bearer key */
#define IS_S3(wl) ((wl) == WL_S3PUT || (wl) == WL_S3GET)

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
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
  uint64_t objects; /* S3 objects put or got in full */
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
  into->objects += from->objects;
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
    if (status <= 0)
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

/* ---------- S3 requests ---------- */

/* Object keys: s3get (and s3put with --objects N) use obj-000000.. so that
 * other servers (nginx) can hold the same files; s3put otherwise makes a new
 * key per request. */
static void s3_key(const opts *o, long long n, char *out, size_t cap) {
  if (o->objects > 0)
    snprintf(out, cap, "obj-%06lld", n % o->objects);
  else
    snprintf(out, cap, "put-%s-%09lld", o->put_tag, n);
}

/* Writes the head of a path-style S3 request (the body, if any, follows from
 * the shared buffer). Signed requests carry x-amz-date, x-amz-content-sha256
 * and a SigV4 Authorization for service s3. Returns 0, -1 on failure. */
static int s3_head(const opts *o, const char *method, const char *path, unsigned long long clen, int has_body,
                   const char *sha, time_t t, sbuf *out) {
  char cl[48] = "";
  if (has_body) snprintf(cl, sizeof cl, "Content-Length: %llu\r\n", clen);
  out->len = 0;
  sb_reserve(out, 1024 + strlen(path));
  int n;
  if (o->no_sign) {
    n = snprintf(out->p, out->cap, "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", method, path, o->hostport, cl);
  } else {
    char amz[17], auth[512];
    tw_sigv4_amz_date(t, amz);
    tw_kv h[3] = {{"host", o->hostport}, {"x-amz-content-sha256", sha}, {"x-amz-date", amz}};
    tw_sigv4_input in = {.method = method, .raw_path = path, .raw_query = "", .headers = h, .nheaders = 3,
                         .payload_sha256_hex = sha, .s3 = 1};
    if (tw_sigv4_sign(&in, o->access_key, o->secret_key, o->region, "s3", auth, sizeof auth)) return -1;
    n = snprintf(out->p, out->cap,
                 "%s %s HTTP/1.1\r\nHost: %s\r\nx-amz-content-sha256: %s\r\nx-amz-date: %s\r\n"
                 "Authorization: %s\r\n%s\r\n",
                 method, path, o->hostport, sha, amz, auth, cl);
  }
  if (n < 0 || (size_t)n >= out->cap) return -1;
  out->len = (size_t)n;
  return 0;
}

/* The request for object n of the workload, head only. */
static int s3_object_request(const opts *o, int op, long long n, sbuf *out) {
  char key[96], path[192];
  s3_key(o, n, key, sizeof key);
  snprintf(path, sizeof path, "/%s/%s", o->bucket, key);
  if (op == OP_S3_PUT) return s3_head(o, "PUT", path, o->object_size, 1, o->payload_sha, time(NULL), out);
  return s3_head(o, "GET", path, 0, 0, EMPTY_SHA256, time(NULL), out);
}

/* Fills the shared body buffer with bytes that do not compress and, with
 * --payload-hash, hashes the object it stands for (the buffer repeated). */
static int s3_prepare_body(opts *o) {
  o->obj_bufsize = o->object_size < (1u << 20) ? (size_t)o->object_size : (1u << 20);
  if (o->obj_bufsize == 0) o->obj_bufsize = 1;
  o->obj_buf = malloc(o->obj_bufsize);
  if (!o->obj_buf) return -1;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < o->obj_bufsize; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    o->obj_buf[i] = (char)(x >> 24);
  }
  if (!o->payload_hash) {
    snprintf(o->payload_sha, sizeof o->payload_sha, "UNSIGNED-PAYLOAD");
    return 0;
  }
  tw_hash *h = tw_hash_sha256_new();
  if (!h) return -1;
  double t0 = now_sec();
  for (unsigned long long off = 0; off < o->object_size; off += o->obj_bufsize) {
    unsigned long long left = o->object_size - off;
    tw_hash_update(h, o->obj_buf, left < o->obj_bufsize ? (size_t)left : o->obj_bufsize);
  }
  uint8_t d[32];
  tw_hash_final(h, d);
  tw_hash_free(h);
  tw_hex(d, 32, o->payload_sha);
  if (o->object_size >= (256u << 20))
    fprintf(stderr, "tweedle bench: hashed the %llu-byte body in %.1f s\n", o->object_size, now_sec() - t0);
  return 0;
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

/* One ready-made request, waited for. Returns the HTTP status (-1:
 * transport) with the response body (or the transport error) in r->body. */
static int sync_raw(tw_hc_loop *l, const sbuf *req, sync_result *r) {
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

static int sync_call(const opts *o, tw_hc_loop *l, const char *action, const char *body, sync_result *r) {
  char target[96];
  snprintf(target, sizeof target, "AmazonSQS.%s", action);
  sbuf req = {0};
  int st = -1;
  if (!build_request(o, target, body, strlen(body), NULL, time(NULL), &req)) st = sync_raw(l, &req, r);
  free(req.p);
  return st;
}

/* CreateBucket; a bucket that already exists (409) is fine. */
static int ensure_bucket(const opts *o, tw_hc_loop *l) {
  char path[80];
  snprintf(path, sizeof path, "/%s", o->bucket);
  sbuf req = {0};
  sync_result r = {0};
  int st = -1;
  if (!s3_head(o, "PUT", path, 0, 1, EMPTY_SHA256, time(NULL), &req)) st = sync_raw(l, &req, &r);
  int rc = st == 200 || st == 409 ? 0 : -1;
  if (rc)
    fprintf(stderr, "tweedle bench: CreateBucket %s failed: %d %.300s\n", o->bucket, st, r.body.p ? r.body.p : "");
  free(req.p);
  free(r.body.p);
  return rc;
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
  const pidset *server;
  double srv_cpu[2], cli_cpu[2];
  int marked;
  long rss_max_kb; /* server RSS, sampled during the run (first worker) */
  double t_rss;
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
  tw_hc_bytes bytes[2]; /* body bytes as the window opens and closes */
  int nbytes;
  pthread_t th;
};

static void issue_body(bconn *c, int op, const sbuf *req, unsigned long long blen) {
  if (!req) { /* signing failed: count it, never stall silently */
    note_error(&c->w->st, op, -1, NULL, 0, "could not sign the request");
    c->stopped = 1;
    return;
  }
  c->op = op;
  c->t0 = now_sec();
  c->w->inflight++;
  const opts *o = c->w->o;
  tw_hc_send_body(&c->hc, req->p, req->len, o->obj_buf, o->obj_bufsize, blen);
}

static void issue(bconn *c, int op, const sbuf *req) { issue_body(c, op, req, 0); }

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
  if (IS_API(o->workload)) {
    if (quota && atomic_fetch_add(&w->rc->claimed, 1) >= o->messages) {
      c->stopped = 1;
      return;
    }
    sbuf jr = {o->job_req, o->job_req_len, o->job_req_len + 1};
    issue(c, o->workload == WL_JOBS ? OP_JOB_SUBMIT : OP_PRESIGN, &jr);
    return;
  }
  if (IS_S3(o->workload)) {
    /* one counter hands out keys: new ones, or round-robin over --objects */
    long long n = atomic_fetch_add(&w->rc->claimed, 1);
    if (quota && n >= o->messages) {
      c->stopped = 1;
      return;
    }
    int op = o->workload == WL_S3PUT ? OP_S3_PUT : OP_S3_GET;
    int bad = s3_object_request(o, op, n, &c->req);
    issue_body(c, op, bad ? NULL : &c->req, op == OP_S3_PUT ? o->object_size : 0);
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
  /* S3 answers 200 (sometimes 204/206); SQS always 200 */
  int good = IS_S3(o->workload)           ? status >= 200 && status < 300
             : o->workload == WL_JOBS ? status == 202
                                      : status == 200;
  if (good && op == OP_S3_GET && hc->resp_body != o->object_size) {
    char why[96];
    snprintf(why, sizeof why, "GetObject returned %llu body bytes, expected %llu", hc->resp_body, o->object_size);
    note_error(st, op, 0, NULL, 0, why);
    next_request(c, -1);
    return;
  }
  if (!good) {
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
    case OP_JOB_SUBMIT:
    case OP_PRESIGN:
    case OP_SEND:
      if (counted) st->sent++;
      next_request(c, op);
      return;
    case OP_S3_PUT:
    case OP_S3_GET:
      if (counted) st->objects++;
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
static double proc_cpu1(long pid) {
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

/* Summed over the server's processes; -1 when any is unreadable or none given. */
static double proc_cpu(const pidset *ps) {
  if (!ps || ps->n == 0) return -1;
  double sum = 0;
  for (int i = 0; i < ps->n; i++) {
    double c = proc_cpu1(ps->pid[i]);
    if (c < 0) return -1;
    sum += c;
  }
  return sum;
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
    rc->srv_cpu[0] = proc_cpu(rc->server);
    rc->cli_cpu[0] = self_cpu();
    rc->marked = 1;
  }
  if (rc->marked == 1 && now >= rc->t_end) {
    rc->srv_cpu[1] = proc_cpu(rc->server);
    rc->cli_cpu[1] = self_cpu();
    rc->marked = 2;
  }
}

static void sample_rss(run_clock *rc);

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
  for (int i = 0; i < w->nconns; i++) next_request(&w->conns[i], -1);
  while (w->inflight > 0) {
    if (tw_hc_loop_poll(&w->loop, 50) < 0) break;
    mark_bytes(w, 0);
    if (first) {
      mark_cpu(w->rc);
      sample_rss(w->rc);
    }
    if (now_sec() > w->rc->t_giveup) break;
  }
  mark_bytes(w, 1);
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
  unsigned long long body_sent, body_received; /* inside the window */
  long rss_max_kb;                             /* sampled; -1 when unknown */
} load_result;

typedef struct {
  long rss_kb, hwm_kb;
} mem_info;

/* VmRSS and VmHWM summed over the server's processes (-1: unknown). */
static int read_mem(const pidset *ps, mem_info *m) {
  m->rss_kb = m->hwm_kb = -1;
  if (!ps || ps->n == 0) return -1;
  long rss = 0, hwm = 0;
  for (int i = 0; i < ps->n; i++) {
    char path[64], line[256];
    long r = -1, h = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", ps->pid[i]);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
      if (!strncmp(line, "VmRSS:", 6)) r = strtol(line + 6, NULL, 10);
      if (!strncmp(line, "VmHWM:", 6)) h = strtol(line + 6, NULL, 10);
    }
    fclose(f);
    if (r < 0) return -1;
    rss += r;
    hwm += h > 0 ? h : 0;
  }
  m->rss_kb = rss;
  m->hwm_kb = hwm;
  return 0;
}

/* A few samples a second are enough to see whether memory grows with load. */
static void sample_rss(run_clock *rc) {
  if (!rc->server || rc->server->n == 0) return;
  double now = now_sec();
  if (now - rc->t_rss < 0.2) return;
  rc->t_rss = now;
  mem_info m;
  if (!read_mem(rc->server, &m) && m.rss_kb > rc->rss_max_kb) rc->rss_max_kb = m.rss_kb;
}

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
  rc.server = &o->server;
  rc.rss_max_kb = -1;
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
      w->conns[i].hc.discard_body = o->workload == WL_S3GET;
    }
    if (IS_S3(o->workload) || IS_API(o->workload)) continue;
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
  lr->body_sent = lr->body_received = 0;
  lr->rss_max_kb = rc.rss_max_kb;
  for (int t = 0; t < nt; t++) {
    worker *w = &ws[t];
    stats_merge(total, &w->st);
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
    tmpl_free(&w->t_send);
    tmpl_free(&w->t_batch);
    tmpl_free(&w->t_recv);
    tw_hc_loop_free(&w->loop);
  }
  free(ws);
}

/* ---------- long-poll workload ---------- */

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
  read_mem(&o->server, &res->before);

  r.phase = LP_PARKING;
  res->park_s = lp_park(&r, &loop, cs, n);
  res->parked = n - r.returned;
  read_mem(&o->server, &res->parked_mem);

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
  read_mem(&o->server, &res->woken);

  /* Round two: the same connections poll again, as real consumers do; the
   * messages of round one are in flight, so the queue looks empty. */
  r.phase = LP_REPARKING;
  int early = r.returned_early;
  lp_park(&r, &loop, cs, n);
  res->reparked = n - (r.returned_early - early);
  read_mem(&o->server, &res->reparked_mem);
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
  read_mem(&o->server, &res->closed);

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

/* ---------- jobs workload set-up ---------- */

/* An API key that may submit jobs (unless --api-key gave one), made through
 * /_/api/v1/apikeys with the admin credential; then the one request every
 * submit sends. */
static int jobs_setup(opts *o, tw_hc_loop *l) {
  sbuf b = {0}, req = {0};
  sync_result r = {0};
  int rc = -1;
  if (!o->api_key[0]) {
    /* throttling off for this key: the server is what is measured */
    char body[300];
    snprintf(body, sizeof body,
             "{\"name\":\"tweedle-bench\",\"scopes\":[{\"actions\":[\"%s\"]}],"
             "\"rate\":10000000,\"burst\":10000000}",
             o->workload == WL_PRESIGN ? "presign:*" : "jobs:submit");
    const char *path = "/_/api/v1/apikeys";
    char amz[17], sha[65], auth[512];
    tw_sigv4_amz_date(time(NULL), amz);
    tw_sha256_hex(body, strlen(body), sha);
    tw_kv h[3] = {{"host", o->hostport}, {"content-type", "application/json"}, {"x-amz-date", amz}};
    tw_sigv4_input in = {.method = "POST", .raw_path = path, .raw_query = "", .headers = h, .nheaders = 3,
                         .payload_sha256_hex = sha};
    if (tw_sigv4_sign(&in, o->access_key, o->secret_key, o->region, "execute-api", auth, sizeof auth)) goto out;
    sb_reserve(&req, 1024);
    int n = snprintf(req.p, req.cap,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-Amz-Date: %s\r\n"
                     "Authorization: %s\r\nContent-Length: %zu\r\n\r\n",
                     path, o->hostport, amz, auth, strlen(body));
    if (n < 0 || (size_t)n >= req.cap) goto out;
    req.len = (size_t)n;
    sb_puts(&req, body);
    int st = sync_raw(l, &req, &r);
    json_t *j = st == 200 || st == 201 ? json_loadb(r.body.p, r.body.len, 0, NULL) : NULL;
    const char *key = json_string_value(json_object_get(j, "key"));
    if (key) snprintf(o->api_key, sizeof o->api_key, "%s", key);
    json_decref(j);
    if (!key) {
      fprintf(stderr, "tweedle bench: creating an API key failed: %d %.300s\n", st, r.body.p ? r.body.p : "");
      goto out;
    }
  }
  if (o->workload == WL_PRESIGN) { /* a PUT URL for a generated key, bound to type and length */
    sb_puts(&b, "{\"method\":\"PUT\",\"bucket\":\"");
    sb_puts(&b, o->bucket);
    sb_puts(&b, "\",\"content_type\":\"application/octet-stream\",\"content_length\":1024}");
  } else {
    sb_puts(&b, "{\"type\":\"bench\",\"payload\":{\"data\":\"");
    sb_puts(&b, o->msg_body);
    sb_puts(&b, "\"}}");
  }
  req.len = 0;
  sb_reserve(&req, b.len + 512 + strlen(o->api_key));
  int n = snprintf(req.p, req.cap,
                   "POST /_/api/v1/%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                   o->workload == WL_PRESIGN ? "presign" : "jobs", o->hostport, o->api_key, b.len);
  if (n < 0 || (size_t)n >= req.cap) goto out;
  req.len = (size_t)n;
  sb_put(&req, b.p, b.len);
  o->job_req = req.p;
  o->job_req_len = req.len;
  req.p = NULL;
  rc = 0;
out:
  free(b.p);
  free(req.p);
  free(r.body.p);
  return rc;
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
    "  --workload W          cycle | send | longpoll | s3put | s3get | jobs | presign\n"
    "                        (default cycle)\n"
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
    if (s->kinds[i].status <= 0)
      snprintf(k, sizeof k, "%s", s->kinds[i].status < 0 ? "transport" : "wrong_size");
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
    if (s->kinds[i].status <= 0)
      fprintf(f, " %s=%llu", s->kinds[i].status < 0 ? "transport" : "wrong-size", (unsigned long long)s->kinds[i].n);
    else
      fprintf(f, " %d=%llu", s->kinds[i].status, (unsigned long long)s->kinds[i].n);
  }
  if (s->entry_errors) fprintf(f, " failed-batch-entries=%llu", (unsigned long long)s->entry_errors);
  fprintf(f, "\n");
  for (int i = 0; i < s->nsamples; i++) fprintf(f, "  e.g. %s\n", s->samples[i]);
}

/* ---------- S3 workloads ---------- */

typedef struct {
  double populate_s;
  mem_info before, after;
} s3_result;

static int run_s3(opts *o, stats *st, load_result *lr, s3_result *sr) {
  memset(sr, 0, sizeof *sr);
  if (!o->no_sign) {
    tw_hc_loop l;
    char err[256];
    if (tw_hc_loop_init(&l, o->host, o->port, err, sizeof err)) {
      fprintf(stderr, "tweedle bench: %s\n", err);
      return -1;
    }
    int brc = ensure_bucket(o, &l);
    tw_hc_loop_free(&l);
    if (brc) return -1;
  }
  if (o->workload == WL_S3GET && !o->no_populate) {
    /* put the N objects first, unmeasured, with the same machinery */
    opts p = *o;
    p.workload = WL_S3PUT;
    p.messages = o->objects;
    p.connections = o->connections < o->objects ? o->connections : (int)o->objects;
    p.threads = 1;
    p.server.n = 0;
    stats ps;
    load_result pl;
    double t0 = now_sec();
    run_load(&p, &ps, &pl);
    sr->populate_s = now_sec() - t0;
    if (ps.errors || ps.objects != (uint64_t)o->objects) {
      fprintf(stderr, "tweedle bench: putting the %lld objects to read failed (%llu put)\n", o->objects,
              (unsigned long long)ps.objects);
      print_errors(stderr, &ps);
      return -1;
    }
  }
  read_mem(&o->server, &sr->before);
  run_load(o, st, lr);
  read_mem(&o->server, &sr->after);
  return 0;
}

static double mb(long kb) { return kb < 0 ? -1 : (double)kb / 1024.0; }

static int report_s3(const opts *o, FILE *rep, const stats *st, const load_result *lr, const s3_result *sr) {
  double el = lr->elapsed;
  int put = o->workload == WL_S3PUT;
  unsigned long long bytes = put ? lr->body_sent : lr->body_received;
  double ops = el > 0 ? (double)st->objects / el : 0, mbps = el > 0 ? (double)bytes / el / 1e6 : 0;
  const char *payload = o->no_sign ? "unsigned request" : put ? (o->payload_hash ? "signed SHA-256" : "UNSIGNED-PAYLOAD") : "signed";
  fprintf(rep, "workload %s: %s bucket %s, object %llu B, %d connections, %d thread(s), %s", wl_names[o->workload],
          o->endpoint, o->bucket, o->object_size, o->connections, o->threads, payload);
  if (o->objects > 0) fprintf(rep, ", %lld keys", o->objects);
  if (sr->populate_s > 0) fprintf(rep, " (put first in %.1f s)", sr->populate_s);
  fprintf(rep, "\n  measured %.2f s (after %.1f s warm-up), %lu TCP connects\n", el, o->messages > 0 ? 0.0 : o->warmup,
          lr->connects);
  fprintf(rep, "  %.1f objects/s, %.1f MB/s (%llu objects completed, %.1f MB of bodies %s in the window)\n", ops, mbps,
          (unsigned long long)st->objects, (double)bytes / 1e6, put ? "sent" : "received");
  fprintf(rep, "  %llu errors\n", (unsigned long long)st->errors);
  if (lr->server_cpu_s >= 0)
    fprintf(rep, "  server CPU %.2f s (%.0f%% of one core, %.1f us per object, %.2f ms per MB)\n", lr->server_cpu_s,
            100 * lr->server_cpu_s / el, st->objects ? 1e6 * lr->server_cpu_s / (double)st->objects : 0.0,
            bytes ? 1e3 * lr->server_cpu_s / ((double)bytes / 1e6) : 0.0);
  if (lr->client_cpu_s >= 0)
    fprintf(rep, "  client CPU %.2f s (%.0f%% of one core)\n", lr->client_cpu_s, 100 * lr->client_cpu_s / el);
  if (sr->before.rss_kb >= 0)
    fprintf(rep,
            "  server RSS %.1f MB before, %.1f MB max sampled during, %.1f MB after; peak (VmHWM) %.1f MB before, "
            "%.1f MB after\n",
            mb(sr->before.rss_kb), mb(lr->rss_max_kb), mb(sr->after.rss_kb), mb(sr->before.hwm_kb),
            mb(sr->after.hwm_kb));
  print_lat(rep, put ? "PutObject" : "GetObject", &st->all);
  print_errors(rep, st);
  if (st->retired) fprintf(rep, "  %d connection(s) gave up after repeated transport failures\n", st->retired);
  if (o->json) {
    json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:i,s:i,s:s,s:f,s:f,s:f,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:I,s:I,s:I,s:f}",
                          "workload", wl_names[o->workload], "endpoint", o->endpoint, "bucket", o->bucket,
                          "object_size", (json_int_t)o->object_size, "objects", (json_int_t)o->objects,
                          "connections", o->connections, "threads", o->threads, "payload", payload, "duration_s", el,
                          "objects_per_s", ops, "mb_per_s", mbps, "bytes", (json_int_t)bytes, "completed",
                          (json_int_t)st->objects, "p50_ms", ms(tw_hist_quantile(&st->all, 0.5)), "p90_ms",
                          ms(tw_hist_quantile(&st->all, 0.9)), "p99_ms", ms(tw_hist_quantile(&st->all, 0.99)),
                          "max_ms", ms(st->all.max_us), "mean_ms", st->all.n ? ms(st->all.sum_us / st->all.n) : 0.0,
                          "errors", (json_int_t)st->errors, "timeouts", (json_int_t)st->timeouts, "tcp_connects",
                          (json_int_t)lr->connects, "populate_s", sr->populate_s);
    json_object_set_new(j, "errors_by_status", errors_json(st));
    json_object_set_new(j, "server_cpu_s", lr->server_cpu_s >= 0 ? json_real(lr->server_cpu_s) : json_null());
    json_object_set_new(j, "client_cpu_s", lr->client_cpu_s >= 0 ? json_real(lr->client_cpu_s) : json_null());
    if (sr->before.rss_kb >= 0) {
      json_t *m = json_pack("{s:I,s:I,s:I,s:I,s:I}", "rss_before", (json_int_t)sr->before.rss_kb, "hwm_before",
                            (json_int_t)sr->before.hwm_kb, "rss_max_sampled", (json_int_t)lr->rss_max_kb,
                            "rss_after", (json_int_t)sr->after.rss_kb, "hwm_after", (json_int_t)sr->after.hwm_kb);
      json_object_set_new(j, "server_mem_kb", m);
    }
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(7));
    printf("%s\n", s);
    free(s);
    json_decref(j);
  }
  return st->errors || st->retired ? 1 : 0;
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
      case 'p':
        if (add_pids(&o.server, optarg)) {
          fprintf(stderr, "tweedle bench: --server-pid takes process ids, comma-separated (at most %d)\n", MAX_PIDS);
          return 2;
        }
        break;
      case 'K': snprintf(o.bucket, sizeof o.bucket, "%s", optarg); break;
      case 'z': {
        char *end;
        o.object_size = strtoull(optarg, &end, 10);
        if (*end || optarg[0] == '-') o.object_size = 0;
        break;
      }
      case 'O': o.objects = atoll(optarg); break;
      case 'H': o.payload_hash = 1; break;
      case 'U': o.no_sign = o.no_populate = 1; break;
      case 'N': o.no_populate = 1; break;
      case 'A': snprintf(o.api_key, sizeof o.api_key, "%s", optarg); break;
      case 'j': o.json = 1; break;
      case 'k':
        if (!strcmp(optarg, "cycle")) o.workload = WL_CYCLE;
        else if (!strcmp(optarg, "send")) o.workload = WL_SEND;
        else if (!strcmp(optarg, "longpoll")) o.workload = WL_LONGPOLL;
        else if (!strcmp(optarg, "s3put")) o.workload = WL_S3PUT;
        else if (!strcmp(optarg, "s3get")) o.workload = WL_S3GET;
        else if (!strcmp(optarg, "jobs")) o.workload = WL_JOBS;
        else if (!strcmp(optarg, "presign")) o.workload = WL_PRESIGN;
        else {
          fprintf(stderr, "tweedle bench: --workload is cycle, send, longpoll, s3put, s3get, jobs or presign\n");
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
  if (o.objects < 0) o.objects = o.workload == WL_S3GET ? 100 : 0;
  if (o.no_sign && !IS_S3(o.workload)) {
    fprintf(stderr, "tweedle bench: --no-sign is for the S3 workloads\n");
    return 2;
  }
  if (IS_S3(o.workload) && (o.object_size < 1 || !bucket_ok(o.bucket) || (o.workload == WL_S3GET && o.objects < 1))) {
    fprintf(stderr, "tweedle bench: S3 needs --object-size >= 1, a bucket name of 3-63 of a-z 0-9 . - and, "
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
    fprintf(stderr, "tweedle bench: no credentials (--access-key/--secret-key, AWS_* or TWEEDLE_* variables)\n");
    return 2;
  }
  if (o.connections < 1 || o.threads < 1 || o.duration <= 0 || o.warmup < 0 || o.body_size < 1 ||
      o.body_size > 262144 || o.batch < 1 || o.batch > 10 || o.wait < 0 || o.wait > 20 || o.poll_wait < 1 ||
      o.poll_wait > 20 || o.messages < 0) {
    fprintf(stderr, "tweedle bench: an option is out of range\n%s", usage);
    return 2;
  }
  if (!o.queue[0] && o.workload == WL_JOBS) snprintf(o.queue, sizeof o.queue, "tweedle-jobs"); /* the server's */
  if (!o.queue[0]) snprintf(o.queue, sizeof o.queue, "tweedle-bench-%s", wl_names[o.workload]);
  snprintf(o.put_tag, sizeof o.put_tag, "%lx%lx", (long)getpid() & 0xffff, (long)time(NULL));
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
  if (IS_S3(o.workload)) {
    load_result lr;
    s3_result sr;
    if (s3_prepare_body(&o)) {
      fprintf(stderr, "tweedle bench: out of memory\n");
      rc = 1;
    } else if (run_s3(&o, &st, &lr, &sr)) {
      rc = 1;
    } else {
      rc = report_s3(&o, rep, &st, &lr, &sr);
    }
    goto out;
  }
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
    if (o.server.n > 0) {
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
    /* presign: the bucket must exist (created with the admin credential when there is one) */
    int qrc = o.workload == WL_PRESIGN && o.access_key && o.secret_key && ensure_bucket(&o, &l) ? -1
              : IS_API(o.workload)                                                         ? jobs_setup(&o, &l)
                                                                                           : ensure_queue(&o, &l);
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
  else if (o.workload == WL_JOBS)
    fprintf(rep, "  %.0f jobs/s submitted, each durable before its 202 (%llu jobs)\n", rate,
            (unsigned long long)st.sent);
  else if (o.workload == WL_PRESIGN)
    fprintf(rep, "  %.0f presigned URLs/s (%llu)\n", rate, (unsigned long long)st.sent);
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
  free(o.obj_buf);
  free(o.job_req);
  return rc;
}
