/* tweedle bench, the SNS workload: publish. Set-up creates a topic and
 * --fanout SQS queues subscribed to it (RawMessageDelivery=--raw on every
 * subscription, set explicitly so a topic kept from an earlier run follows
 * this one), purges the queues and reads their message counts; then every
 * connection repeats one Publish (query protocol, SigV4 for service sns, the
 * same form body each time, so it is signed once per second like the SQS
 * templates) for the window. Afterwards the fan-out is checked: the queues
 * must hold fanout copies of every acknowledged publish (warm-up and the
 * requests that finished after the window included).
 *
 * Works against any SNS endpoint whose sqs subscriptions deliver at once
 * (tweedle, in the Publish's own commit; moto, in memory). */
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

#define CT_FORM "application/x-www-form-urlencoded; charset=utf-8"
#define CT_JSON "application/x-amz-json-1.0"
#define SNS_VERSION "2010-03-31"

/* Publishes answered 200 with a MessageId, in or out of the window: each one
 * put a copy into every queue. */
static atomic_ullong published_total;

/* ---------- encoding and requests ---------- */

/* Appends s form-encoded (RFC 3986 unreserved characters kept). */
static void sb_form(sbuf *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      sb_put(b, (const char *)&c, 1);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      sb_put(b, e, 3);
    }
  }
}

/* Appends s as the inside of a JSON string. */
static void sb_json(sbuf *b, const char *s) {
  static const char hex[] = "0123456789abcdef";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      sb_put(b, e, 2);
    } else if (c < 0x20) {
      char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      sb_put(b, e, 6);
    } else {
      sb_put(b, (const char *)&c, 1);
    }
  }
}

/* The whole signed POST: SNS (query protocol, target NULL) or SQS (JSON 1.0,
 * X-Amz-Target). Returns 0, -1 on failure. */
static int build_request(const opts *o, const char *service, const char *target, const char *body,
                         size_t blen, const char *sha_hex, time_t t, sbuf *out) {
  char amz[17], sha[65], auth[512];
  tw_sigv4_amz_date(t, amz);
  if (!sha_hex) {
    tw_sha256_hex(body, blen, sha);
    sha_hex = sha;
  }
  const char *ct = target ? CT_JSON : CT_FORM;
  tw_kv h[4] = {
      {"host", o->hostport}, {"content-type", ct}, {"x-amz-date", amz}, {"x-amz-target", target}};
  tw_sigv4_input in = {.method = "POST",
                       .raw_path = o->path,
                       .raw_query = "",
                       .headers = h,
                       .nheaders = target ? 4 : 3,
                       .payload_sha256_hex = sha_hex};
  if (tw_sigv4_sign(&in, o->access_key, o->secret_key, o->region, service, auth, sizeof auth))
    return -1;
  char tgt[160] = "";
  if (target) snprintf(tgt, sizeof tgt, "X-Amz-Target: %s\r\n", target);
  out->len = 0;
  sb_reserve(out, blen + 640 + strlen(auth) + strlen(o->hostport) + strlen(o->path));
  int n = snprintf(out->p, out->cap,
                   "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nX-Amz-Date: %s\r\n%s"
                   "Authorization: %s\r\nContent-Length: %zu\r\n\r\n",
                   o->path, o->hostport, ct, amz, tgt, auth, blen);
  if (n < 0 || (size_t)n >= out->cap) return -1;
  out->len = (size_t)n;
  sb_put(out, body, blen);
  return 0;
}

/* One set-up call, waited for: SNS when target is NULL, else SQS. */
static int sync_call(const opts *o, tw_hc_loop *l, const char *target, const char *body,
                     sync_result *r) {
  sbuf req = {0};
  int st = -1;
  if (!build_request(o, target ? "sqs" : "sns", target, body, strlen(body), NULL, time(NULL), &req))
    st = tw_bench_sync_raw(l, &req, r);
  else {
    r->body.len = 0;
    sb_puts(&r->body, "could not sign the request");
  }
  free(req.p);
  return st;
}

/* The text of the first <tag>...</tag> in an XML answer (ARNs need no
 * unescaping), or NULL. */
static char *xml_text(const char *body, size_t len, const char *tag) {
  char open[64], close[64];
  snprintf(open, sizeof open, "<%s>", tag);
  snprintf(close, sizeof close, "</%s>", tag);
  const char *s = memmem(body, len, open, strlen(open));
  if (!s) return NULL;
  s += strlen(open);
  const char *e = memmem(s, len - (size_t)(s - body), close, strlen(close));
  return e ? strndup(s, (size_t)(e - s)) : NULL;
}

static const char *shown(const sync_result *r) {
  return r->body.p ? r->body.p : "";
}

/* An SNS action; the XML answer's <want> element, or NULL after saying why. */
static char *sns_call(const opts *o, tw_hc_loop *l, const char *action, const char *params,
                      const char *want) {
  sbuf b = {0};
  sb_puts(&b, "Action=");
  sb_puts(&b, action);
  sb_puts(&b, "&Version=" SNS_VERSION);
  sb_puts(&b, params);
  sync_result r = {0};
  int st = sync_call(o, l, NULL, b.p, &r);
  char *v = NULL;
  if (st == 200) v = xml_text(r.body.p, r.body.len, want);
  if (!v) fprintf(stderr, "tweedle bench: SNS %s failed: %d %s\n", action, st, shown(&r));
  free(b.p);
  free(r.body.p);
  return v;
}

/* An SQS action with a JSON body: the parsed 200 answer, or NULL after saying
 * why; *status (when given) gets the HTTP status. */
static json_t *sqs_call(const opts *o, tw_hc_loop *l, const char *action, const char *body,
                        int *status) {
  char target[96];
  snprintf(target, sizeof target, "AmazonSQS.%s", action);
  sync_result r = {0};
  int st = sync_call(o, l, target, body, &r);
  if (status) *status = st;
  json_t *j = NULL;
  if (st == 200) {
    json_error_t je;
    j = json_loadb(r.body.p, r.body.len, 0, &je);
  }
  if (!j && !(status && st > 0)) /* with status: the caller decides */
    fprintf(stderr, "tweedle bench: SQS %s: %d %s\n", action, st, shown(&r));
  free(r.body.p);
  return j;
}

/* GetQueueAttributes of one attribute: the parsed answer, or NULL. */
static json_t *queue_attrs(const opts *o, tw_hc_loop *l, const char *url_json, const char *name) {
  sbuf b = {0};
  sb_puts(&b, "{\"QueueUrl\":\"");
  sb_puts(&b, url_json);
  sb_puts(&b, "\",\"AttributeNames\":[\"");
  sb_puts(&b, name);
  sb_puts(&b, "\"]}");
  json_t *j = sqs_call(o, l, "GetQueueAttributes", b.p, NULL);
  free(b.p);
  return j;
}

static long long queue_count(const opts *o, tw_hc_loop *l, const char *url_json) {
  json_t *j = queue_attrs(o, l, url_json, "ApproximateNumberOfMessages");
  const char *v = json_string_value(
      json_object_get(json_object_get(j, "Attributes"), "ApproximateNumberOfMessages"));
  long long n = v ? atoll(v) : -1;
  json_decref(j);
  return n;
}

/* Sum of the queues' ApproximateNumberOfMessages; -1 when one cannot be read. */
static long long count_all(const opts *o, tw_hc_loop *l, long long *each) {
  long long sum = 0;
  for (int i = 0; i < o->fanout; i++) {
    long long n = queue_count(o, l, o->fan_urls[i]);
    if (n < 0) return -1;
    if (each) each[i] = n;
    sum += n;
  }
  return sum;
}

/* ---------- set-up ---------- */

int tw_bench_sns_setup(opts *o, tw_hc_loop *l) {
  atomic_store(&published_total, 0);
  sbuf p = {0};
  sb_puts(&p, "&Name=");
  sb_form(&p, o->topic);
  char *topic_arn = sns_call(o, l, "CreateTopic", p.p, "TopicArn");
  if (!topic_arn) goto fail;
  p.len = 0;
  sb_form(&p, topic_arn);
  o->topic_arn_enc = strdup(p.p);
  o->fan_urls = calloc((size_t)o->fanout, sizeof *o->fan_urls);
  o->fan_before = calloc((size_t)o->fanout, sizeof *o->fan_before);
  sbuf b = {0};
  int purge_skipped = 0;
  for (int i = 0; i < o->fanout; i++) {
    char qname[160];
    snprintf(qname, sizeof qname, "%s-%02d", o->queue, i);
    b.len = 0;
    sb_puts(&b, "{\"QueueName\":\"");
    sb_json(&b, qname);
    sb_puts(&b, "\"}");
    json_t *j = sqs_call(o, l, "CreateQueue", b.p, NULL);
    const char *url = json_string_value(json_object_get(j, "QueueUrl"));
    if (!url) {
      if (j) fprintf(stderr, "tweedle bench: CreateQueue %s answered without a QueueUrl\n", qname);
      json_decref(j);
      goto fail_b;
    }
    b.len = 0;
    sb_json(&b, url);
    o->fan_urls[i] = strdup(b.p);
    json_decref(j);
    j = queue_attrs(o, l, o->fan_urls[i], "QueueArn");
    const char *arn =
        json_string_value(json_object_get(json_object_get(j, "Attributes"), "QueueArn"));
    if (!arn) {
      if (j) fprintf(stderr, "tweedle bench: GetQueueAttributes of %s gave no QueueArn\n", qname);
      json_decref(j);
      goto fail_b;
    }
    p.len = 0;
    sb_puts(&p, "&TopicArn=");
    sb_puts(&p, o->topic_arn_enc);
    sb_puts(&p, "&Protocol=sqs&Endpoint=");
    sb_form(&p, arn);
    sb_puts(&p, "&ReturnSubscriptionArn=true");
    json_decref(j);
    char *sub = sns_call(o, l, "Subscribe", p.p, "SubscriptionArn");
    if (!sub) goto fail_b;
    /* set either way: a subscription kept from an earlier run follows --raw */
    p.len = 0;
    sb_puts(&p, "&SubscriptionArn=");
    sb_form(&p, sub);
    sb_puts(&p, "&AttributeName=RawMessageDelivery&AttributeValue=");
    sb_puts(&p, o->raw ? "true" : "false");
    free(sub);
    char *meta = sns_call(o, l, "SetSubscriptionAttributes", p.p, "ResponseMetadata");
    if (!meta) goto fail_b;
    free(meta);
    b.len = 0;
    sb_puts(&b, "{\"QueueUrl\":\"");
    sb_puts(&b, o->fan_urls[i]);
    sb_puts(&b, "\"}");
    int st = 0;
    j = sqs_call(o, l, "PurgeQueue", b.p, &st);
    json_decref(j);
    /* PurgeQueue is allowed once a minute per queue: the counts taken below
     * are the baseline either way */
    if (st != 200) {
      if (st < 0) goto fail_b;
      purge_skipped++;
    }
  }
  if (purge_skipped)
    fprintf(stderr,
            "tweedle bench: %d queue(s) not purged (PurgeQueue is allowed once a minute); their "
            "current message counts are the baseline\n",
            purge_skipped);
  if (count_all(o, l, o->fan_before) < 0) goto fail_b;
  free(b.p);
  free(p.p);
  free(topic_arn);
  return 0;
fail_b:
  free(b.p);
fail:
  free(p.p);
  free(topic_arn);
  return -1;
}

/* ---------- the load ---------- */

void tw_bench_sns_worker_init(worker *w) {
  const opts *o = w->o;
  tmpl *t = &w->t_send; /* freed with the SQS templates (tw_bench_sqs_worker_free) */
  memset(t, 0, sizeof *t);
  t->target = "Publish";
  sb_puts(&t->body, "Action=Publish&Version=" SNS_VERSION "&TopicArn=");
  sb_puts(&t->body, o->topic_arn_enc);
  sb_puts(&t->body, "&Message=");
  sb_form(&t->body, o->msg_body);
  tw_sha256_hex(t->body.p, t->body.len, t->sha);
  t->at = (time_t)-1;
}

static const sbuf *publish_req(const opts *o, tmpl *t) {
  time_t now = time(NULL);
  if (now != t->at) {
    if (build_request(o, "sns", NULL, t->body.p, t->body.len, t->sha, now, &t->req)) return NULL;
    t->at = now;
  }
  return &t->req;
}

void tw_bench_sns_next(bconn *c, int quota) {
  if (tw_bench_quota_out(c, quota)) return;
  tw_bench_issue(c, OP_PUBLISH, publish_req(c->w->o, &c->w->t_send));
}

void tw_bench_sns_response(bconn *c, int status, const char *body, size_t len, int counted) {
  stats *st = &c->w->st;
  static const char id[] = "<MessageId>";
  if (!body || !memmem(body, len, id, sizeof id - 1)) {
    tw_bench_note_error(st, OP_PUBLISH, status, body, len, "Publish answered without a MessageId");
  } else {
    atomic_fetch_add(&published_total, 1);
    if (counted) st->sent++;
  }
  tw_bench_next(c, OP_PUBLISH);
}

/* ---------- the check and the report ---------- */

int tw_bench_sns_report(opts *o, FILE *rep, const stats *st, const load_result *lr) {
  double elapsed = lr->elapsed;
  uint64_t pubs = st->sent;
  double rate = elapsed > 0 ? (double)pubs / elapsed : 0,
         rrate = elapsed > 0 ? (double)st->all.n / elapsed : 0;
  unsigned long long acked = atomic_load(&published_total);
  long long expected = (long long)acked * o->fanout, found = -1;
  long long *each = calloc((size_t)o->fanout, sizeof *each);
  tw_hc_loop l;
  char err[256];
  if (tw_hc_loop_init(&l, o->host, o->port, err, sizeof err)) {
    fprintf(stderr, "tweedle bench: %s\n", err);
  } else {
    /* delivery is synchronous on tweedle and moto; give others a moment */
    double deadline = now_sec() + 10;
    for (;;) {
      long long now_n = count_all(o, &l, each);
      found = -1;
      if (now_n >= 0) {
        found = 0;
        for (int i = 0; i < o->fanout; i++) found += each[i] - o->fan_before[i];
      }
      if (found < 0 || found >= expected || now_sec() > deadline) break;
      struct timespec ts = {0, 200 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    tw_hc_loop_free(&l);
  }
  /* requests with no answer (transport errors, timeouts) may still have been
   * delivered: more copies than acknowledged publishes is allowed up to them */
  long long unacked = (long long)(st->errors + st->timeouts) * o->fanout;
  int deliv_ok = found >= expected && found <= expected + unacked;
  long long per_q_min = -1, per_q_max = -1;
  for (int i = 0; found >= 0 && i < o->fanout; i++) {
    long long d = each[i] - o->fan_before[i];
    if (per_q_min < 0 || d < per_q_min) per_q_min = d;
    if (d > per_q_max) per_q_max = d;
  }

  fprintf(rep,
          "workload publish: %s topic %s, fan-out to %d queues (%s), %d connections, %d thread(s), "
          "body %d B\n",
          o->endpoint, o->topic, o->fanout, o->raw ? "raw" : "enveloped", o->connections,
          o->threads, o->body_size);
  fprintf(rep, "  measured %.2f s (after %.1f s warm-up), %lu TCP connects\n", elapsed,
          o->messages > 0 ? 0.0 : o->warmup, lr->connects);
  fprintf(rep, "  %.0f publishes/s (%llu in the window), %.0f queue deliveries/s\n", rate,
          (unsigned long long)pubs, rate * o->fanout);
  fprintf(rep, "  %.0f requests/s, %llu errors\n", rrate, (unsigned long long)st->errors);
  if (lr->server_cpu_s >= 0)
    fprintf(rep, "  server CPU %.2f s (%.0f%% of one core, %.1f us per publish)\n",
            lr->server_cpu_s, 100 * lr->server_cpu_s / elapsed,
            pubs ? 1e6 * lr->server_cpu_s / (double)pubs : 0.0);
  if (lr->client_cpu_s >= 0)
    fprintf(rep, "  client CPU %.2f s (%.0f%% of one core)\n", lr->client_cpu_s,
            100 * lr->client_cpu_s / elapsed);
  tw_bench_print_lat(rep, "Publish", &st->all);
  if (found >= 0)
    fprintf(rep,
            "  deliveries checked: %lld of %lld (%llu acknowledged publishes x %d queues, warm-up "
            "and tail included; per queue %lld..%lld)%s\n",
            found, expected, acked, o->fanout, per_q_min, per_q_max,
            deliv_ok           ? ""
            : found < expected ? " - MISSING"
                               : " - MORE than the publishes left unanswered explain");
  else
    fprintf(rep, "  deliveries checked: the queues' message counts could not be read\n");
  tw_bench_print_errors(rep, st);
  if (st->retired)
    fprintf(rep, "  %d connection(s) gave up after repeated transport failures\n", st->retired);
  if (o->json) {
    json_t *ops = json_object();
    if (st->lat[OP_PUBLISH].n || st->failed[OP_PUBLISH]) {
      json_t *x = tw_bench_lat_json(&st->lat[OP_PUBLISH]);
      json_object_set_new(x, "errors", json_integer((json_int_t)st->failed[OP_PUBLISH]));
      json_object_set_new(ops, "Publish", x);
    }
    json_t *j = json_pack(
        "{s:s,s:s,s:s,s:s,s:i,s:b,s:i,s:i,s:f,s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:I,s:I,s:I,s:I,"
        "s:I,s:I,s:I,s:b,s:I,s:o}",
        "workload", "publish", "endpoint", o->endpoint, "topic", o->topic, "queue", o->queue,
        "fanout", o->fanout, "raw", o->raw, "connections", o->connections, "threads", o->threads,
        "duration_s", elapsed, "body_size", o->body_size, "msgs_per_s", rate, "publishes_per_s",
        rate, "deliveries_per_s", rate * o->fanout, "requests_per_s", rrate, "p50_ms",
        ms(tw_hist_quantile(&st->all, 0.5)), "p90_ms", ms(tw_hist_quantile(&st->all, 0.9)),
        "p99_ms", ms(tw_hist_quantile(&st->all, 0.99)), "max_ms", ms(st->all.max_us), "errors",
        (json_int_t)st->errors, "timeouts", (json_int_t)st->timeouts, "sent", (json_int_t)pubs,
        "published_total", (json_int_t)acked, "deliveries_expected", (json_int_t)expected,
        "deliveries_found", (json_int_t)found, "tcp_connects", (json_int_t)lr->connects,
        "deliveries_ok", deliv_ok, "retired", (json_int_t)st->retired, "ops", ops);
    json_object_set_new(j, "mean_ms", json_real(st->all.n ? ms(st->all.sum_us / st->all.n) : 0.0));
    json_object_set_new(j, "errors_by_status", tw_bench_errors_json(st));
    json_object_set_new(j, "server_cpu_s",
                        lr->server_cpu_s >= 0 ? json_real(lr->server_cpu_s) : json_null());
    json_object_set_new(j, "client_cpu_s",
                        lr->client_cpu_s >= 0 ? json_real(lr->client_cpu_s) : json_null());
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(7));
    printf("%s\n", s);
    free(s);
    json_decref(j);
  }
  free(each);
  return st->errors || st->retired || !deliv_ok ? 1 : 0;
}

void tw_bench_sns_free(opts *o) {
  for (int i = 0; o->fan_urls && i < o->fanout; i++) free(o->fan_urls[i]);
  free(o->fan_urls);
  free(o->fan_before);
  free(o->topic_arn_enc);
  o->fan_urls = NULL;
  o->fan_before = NULL;
  o->topic_arn_enc = NULL;
}
