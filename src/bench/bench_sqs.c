/* tweedle bench, the SQS workloads (JSON 1.0, SigV4 for service sqs): cycle
 * and send run on the connection loop of bench.c; longpoll parks N receives on
 * an empty queue, then wakes them. */
#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/sigv4.h"
#include "bench/bench_internal.h"
#include "core/crypto.h"

#define CT_JSON "application/x-amz-json-1.0"

/* X-Amz-Target of each SQS operation */
static const char *const op_targets[OP_COUNT] = {
    [OP_SEND] = "AmazonSQS.SendMessage",
    [OP_SEND_BATCH] = "AmazonSQS.SendMessageBatch",
    [OP_RECEIVE] = "AmazonSQS.ReceiveMessage",
    [OP_DELETE_BATCH] = "AmazonSQS.DeleteMessageBatch"};

/* Appends s to a growable buffer as the inside of a JSON string. */
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
  tw_kv h[4] = {{"host", o->hostport},
                {"content-type", CT_JSON},
                {"x-amz-date", amz},
                {"x-amz-target", target}};
  tw_sigv4_input in = {.method = "POST",
                       .raw_path = o->path,
                       .raw_query = "",
                       .headers = h,
                       .nheaders = 4,
                       .payload_sha256_hex = sha_hex};
  if (tw_sigv4_sign(&in, o->access_key, o->secret_key, o->region, "sqs", auth, sizeof auth))
    return -1;
  out->len = 0;
  sb_reserve(out, blen + 512 + strlen(auth) + strlen(o->hostport) + strlen(o->path));
  int n = snprintf(
      out->p, out->cap,
      "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: " CT_JSON
      "\r\nX-Amz-Date: %s\r\nX-Amz-Target: %s\r\nAuthorization: %s\r\nContent-Length: %zu\r\n\r\n",
      o->path, o->hostport, amz, target, auth, blen);
  if (n < 0 || (size_t)n >= out->cap) return -1;
  out->len = (size_t)n;
  sb_put(out, body, blen);
  return 0;
}

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

/* A FIFO queue's send: every entry has the connection's message group and a
 * deduplication id of its own (this process, the connection, a counter), so
 * the body, and with it the signature, is new for every request. */
static void body_send_fifo(bconn *c, int k) {
  const opts *o = c->w->o;
  sbuf *b = &c->body;
  unsigned conn = (unsigned)(c - c->w->conns);
  char ids[256];
  b->len = 0;
  sb_puts(b, "{\"QueueUrl\":\"");
  sb_puts(b, o->queue_url_json);
  sb_puts(b, o->workload == WL_SEND ? "\"," : "\",\"Entries\":[");
  for (int i = 0; i < k; i++) {
    c->seq++;
    if (o->workload == WL_SEND)
      snprintf(ids, sizeof ids,
               "\"MessageGroupId\":\"g%p-%u\",\"MessageDeduplicationId\":\"%s-%p-%u-%llu\",",
               (void *)c->w, conn, o->put_tag, (void *)c->w, conn, c->seq);
    else
      snprintf(ids, sizeof ids,
               "%s{\"Id\":\"m%d\",\"MessageGroupId\":\"g%p-%u\","
               "\"MessageDeduplicationId\":\"%s-%p-%u-%llu\",",
               i ? "," : "", i, (void *)c->w, conn, o->put_tag, (void *)c->w, conn, c->seq);
    sb_puts(b, ids);
    sb_puts(b, "\"MessageBody\":\"");
    sb_puts(b, o->msg_body);
    sb_puts(b, "\"}");
  }
  if (o->workload != WL_SEND) sb_puts(b, "]}");
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

static int sync_call(const opts *o, tw_hc_loop *l, const char *action, const char *body,
                     sync_result *r) {
  char target[96];
  snprintf(target, sizeof target, "AmazonSQS.%s", action);
  sbuf req = {0};
  int st = -1;
  if (!build_request(o, target, body, strlen(body), NULL, time(NULL), &req))
    st = tw_bench_sync_raw(l, &req, r);
  free(req.p);
  return st;
}
/* CreateQueue (which returns the existing queue's URL as well). */
int tw_bench_ensure_queue(opts *o, tw_hc_loop *l) {
  sbuf b = {0};
  sb_puts(&b, "{\"QueueName\":\"");
  sb_json_escaped(&b, o->queue);
  sb_puts(&b, o->fifo ? "\",\"Attributes\":{\"FifoQueue\":\"true\"}}" : "\"}");
  sync_result r = {0};
  int st = sync_call(o, l, "CreateQueue", b.p, &r);
  int rc = -1;
  if (st != 200) {
    fprintf(stderr, "tweedle bench: CreateQueue %s failed: %d %s\n", o->queue, st,
            r.body.p ? r.body.p : "");
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

static const sbuf *signed_body(bconn *c, int op) {
  if (build_request(c->w->o, op_targets[op], c->body.p, c->body.len, NULL, time(NULL), &c->req))
    return NULL;
  return &c->req;
}

void tw_bench_sqs_worker_init(worker *w) {
  const opts *o = w->o;
  sbuf b = {0};
  body_send(o, &b);
  tmpl_init(&w->t_send, op_targets[OP_SEND], b.p);
  body_send_batch(o, o->batch, &b);
  tmpl_init(&w->t_batch, op_targets[OP_SEND_BATCH], b.p);
  body_receive(o, 10, o->wait, &b);
  tmpl_init(&w->t_recv, op_targets[OP_RECEIVE], b.p);
  free(b.p);
}

void tw_bench_sqs_worker_free(worker *w) {
  tmpl_free(&w->t_send);
  tmpl_free(&w->t_batch);
  tmpl_free(&w->t_recv);
}

void tw_bench_sqs_next(bconn *c, int after_op, int quota) {
  worker *w = c->w;
  const opts *o = w->o;
  if (o->workload == WL_SEND) {
    if (tw_bench_quota_out(c, quota)) return;
    if (o->fifo) {
      body_send_fifo(c, 1);
      tw_bench_issue(c, OP_SEND, signed_body(c, OP_SEND));
      return;
    }
    tw_bench_issue(c, OP_SEND, tmpl_get(o, &w->t_send));
    return;
  }
  /* cycle: batch send, receive, delete; a receive follows every send and
   * every delete starts a new cycle */
  if (after_op == OP_SEND_BATCH) {
    tw_bench_issue(c, OP_RECEIVE, tmpl_get(o, &w->t_recv));
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
      tw_bench_issue(c, OP_RECEIVE, tmpl_get(o, &w->t_recv));
      return;
    }
    if (left < o->batch) {
      if (o->fifo)
        body_send_fifo(c, (int)left);
      else
        body_send_batch(o, (int)left, &c->body);
      tw_bench_issue(c, OP_SEND_BATCH, signed_body(c, OP_SEND_BATCH));
      return;
    }
  }
  if (o->fifo) {
    body_send_fifo(c, o->batch);
    tw_bench_issue(c, OP_SEND_BATCH, signed_body(c, OP_SEND_BATCH));
    return;
  }
  tw_bench_issue(c, OP_SEND_BATCH, tmpl_get(o, &w->t_batch));
}

void tw_bench_sqs_response(bconn *c, int op, int status, const char *body, size_t len,
                           int counted) {
  worker *w = c->w;
  stats *st = &w->st;
  const opts *o = w->o;
  int okn = 0, bad = 0;
  switch (op) {
    case OP_SEND_BATCH:
      if (batch_counts(body, len, &okn, &bad)) {
        tw_bench_note_error(st, op, status, body, len, NULL);
        tw_bench_next(c, -1);
        return;
      }
      if (counted) st->sent += (uint64_t)okn;
      st->entry_errors += (uint64_t)bad;
      tw_bench_next(c, op);
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
        tw_bench_next(c, -1);
        return;
      }
      tw_bench_issue(c, OP_DELETE_BATCH, signed_body(c, OP_DELETE_BATCH));
      return;
    }
    case OP_DELETE_BATCH:
      if (batch_counts(body, len, &okn, &bad)) {
        tw_bench_note_error(st, op, status, body, len, NULL);
      } else {
        if (counted) st->deleted += (uint64_t)okn;
        st->entry_errors += (uint64_t)bad;
      }
      tw_bench_next(c, op);
      return;
    default:
      tw_bench_next(c, -1);
  }
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
      tw_bench_note_error(&r->st, OP_RECEIVE, status, body, len, hc->last_error);
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
    tw_bench_note_error(&r->st, r->phase == LP_CLEANING ? OP_DELETE_BATCH : OP_SEND_BATCH, status,
                        body, len, hc->last_error);
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
      req = build_request(o, op_targets[OP_SEND_BATCH], b.p, b.len, NULL, time(NULL), &r->scratch)
                ? NULL
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
  if (tw_bench_ensure_queue(o, &loop)) {
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
  tw_bench_stats_init(&r.st);
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
  tw_bench_read_mem(&o->server, &res->before);

  r.phase = LP_PARKING;
  res->park_s = lp_park(&r, &loop, cs, n);
  res->parked = n - r.returned;
  tw_bench_read_mem(&o->server, &res->parked_mem);

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
      tw_bench_note_error(&r.st, OP_RECEIVE, -1, NULL, 0, "long poll never returned");
      tw_hc_close(&cs[i].hc);
    }
  /* let the senders finish what they have in flight before re-using them */
  for (;;) {
    int busy = 0;
    for (int i = n; i < n + nsend; i++) busy += cs[i].hc.busy;
    if (!busy || now_sec() > deadline) break;
    tw_hc_loop_poll(&loop, 20);
  }
  tw_bench_read_mem(&o->server, &res->woken);

  /* Round two: the same connections poll again, as real consumers do; the
   * messages of round one are in flight, so the queue looks empty. */
  r.phase = LP_REPARKING;
  int early = r.returned_early;
  lp_park(&r, &loop, cs, n);
  res->reparked = n - (r.returned_early - early);
  tw_bench_read_mem(&o->server, &res->reparked_mem);
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
  tw_bench_read_mem(&o->server, &res->closed);

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

int tw_bench_longpoll(opts *o, FILE *rep, stats *st) {
  lp_result lr;
  if (run_longpoll(o, st, &lr)) return 1;
  const tw_hist *h = &st->lat[OP_RECEIVE];
  fprintf(rep, "workload longpoll: %s queue %s, %d connections, WaitTimeSeconds %d\n", o->endpoint,
          o->queue, lr.connections, o->poll_wait);
  fprintf(rep, "  parked %d in %.2f s; answered before any message was sent: %d\n", lr.parked,
          lr.park_s, lr.returned_early);
  if (o->server.n > 0) {
    fprintf(rep, "  server RSS %.1f MB before; %.1f MB with %d parked (%.1f KB per poll)\n",
            lr.before.rss_kb / 1024.0, lr.parked_mem.rss_kb / 1024.0, lr.parked,
            lr.parked ? (double)(lr.parked_mem.rss_kb - lr.before.rss_kb) / lr.parked : 0.0);
    fprintf(rep,
            "  server RSS %.1f MB after the wake-up; %.1f MB with %d parked again on the same "
            "connections\n",
            lr.woken.rss_kb / 1024.0, lr.reparked_mem.rss_kb / 1024.0, lr.reparked);
    fprintf(rep, "  server RSS %.1f MB after hanging up; peak (VmHWM) %.1f MB\n",
            lr.closed.rss_kb / 1024.0, lr.closed.hwm_kb / 1024.0);
  }
  fprintf(
      rep,
      "  %d messages sent in %.1f ms; every parked receive returned %.1f ms after the first send\n",
      lr.connections, lr.send_all_ms, lr.wake_all_ms);
  fprintf(rep, "  received %llu, empty receives %llu, deleted afterwards %llu\n",
          (unsigned long long)st->received, (unsigned long long)st->empty_receives,
          (unsigned long long)st->deleted);
  tw_bench_print_lat(rep, "wake latency", h);
  tw_bench_print_errors(rep, st);
  if (o->json) {
    json_t *j =
        json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:f,s:f,s:f,s:I,s:I,s:I,s:I,s:I,s:o}",
                  "workload", "longpoll", "endpoint", o->endpoint, "queue", o->queue, "connections",
                  lr.connections, "wait_time_s", o->poll_wait, "parked", lr.parked, "reparked",
                  lr.reparked, "answered_early", lr.returned_early, "park_s", lr.park_s,
                  "send_all_ms", lr.send_all_ms, "wake_all_ms", lr.wake_all_ms, "received",
                  (json_int_t)st->received, "empty_receives", (json_int_t)st->empty_receives,
                  "deleted", (json_int_t)st->deleted, "errors", (json_int_t)st->errors, "timeouts",
                  (json_int_t)st->timeouts, "wake_latency", tw_bench_lat_json(h));
    json_t *m =
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "before", (json_int_t)lr.before.rss_kb, "parked",
                  (json_int_t)lr.parked_mem.rss_kb, "after_wake", (json_int_t)lr.woken.rss_kb,
                  "reparked", (json_int_t)lr.reparked_mem.rss_kb, "after_close",
                  (json_int_t)lr.closed.rss_kb, "peak_hwm", (json_int_t)lr.closed.hwm_kb);
    json_object_set_new(j, "server_rss_kb", m);
    json_object_set_new(j, "errors_by_status", tw_bench_errors_json(st));
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(7));
    printf("%s\n", s);
    free(s);
    json_decref(j);
  }
  return st->errors || st->entry_errors || lr.returned_early ? 1 : 0;
}
