/* tweedle bench, the CloudWatch workload: putmetric. Every connection
 * repeats PutMetricData with --datums datums per call, SigV4 for service
 * monitoring, over JSON 1.0 (X-Amz-Target GraniteServiceVersion20100801.
 * PutMetricData, what botocore >= 1.42 sends: its service model lists
 * smithy-rpc-v2-cbor, json and query, and botocore takes json first) or,
 * with --cw-protocol query, the query protocol (Action=PutMetricData, what
 * older SDKs send). The datums spread over a bounded set of series:
 * --metric-names names (m00, m01, ..) times 8 values of one dimension
 * (Shard=s0..s7), unit Milliseconds, no Timestamp (the server's clock). The
 * body changes once a second (the values follow the second), when the
 * request is signed again anyway (x-amz-date), so the server sees varying
 * values at the cost of one signature per second.
 *
 * Works against any CloudWatch endpoint: tweedle (both protocols) and moto
 * (moto_server's CloudWatch answers both too). A single PutMetricData is
 * sent and checked first, so an endpoint that does not take the protocol
 * fails at once with its answer. calls/s counts 200s inside the window,
 * datums/s is that times --datums. */
#include <jansson.h>
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
#define CW_TARGET "GraniteServiceVersion20100801.PutMetricData"
#define CW_VERSION "2010-08-01"
#define CW_SHARDS 8

/* The whole signed POST for service monitoring. Returns 0, -1 on failure. */
static int build_request(const opts *o, const char *body, size_t blen, const char *sha_hex,
                         time_t t, sbuf *out) {
  char amz[17], auth[512];
  tw_sigv4_amz_date(t, amz);
  int json = !o->cw_query;
  const char *ct = json ? CT_JSON : CT_FORM;
  tw_kv h[4] = {{"host", o->hostport},
                {"content-type", ct},
                {"x-amz-date", amz},
                {"x-amz-target", CW_TARGET}};
  tw_sigv4_input in = {.method = "POST",
                       .raw_path = o->path,
                       .raw_query = "",
                       .headers = h,
                       .nheaders = json ? 4 : 3,
                       .payload_sha256_hex = sha_hex};
  if (tw_sigv4_sign(&in, o->access_key, o->secret_key, o->region, "monitoring", auth, sizeof auth))
    return -1;
  out->len = 0;
  sb_reserve(out, blen + 640 + strlen(auth) + strlen(o->hostport) + strlen(o->path));
  int n = snprintf(out->p, out->cap,
                   "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nX-Amz-Date: %s\r\n%s"
                   "Authorization: %s\r\nContent-Length: %zu\r\n\r\n",
                   o->path, o->hostport, ct, amz, json ? "X-Amz-Target: " CW_TARGET "\r\n" : "",
                   auth, blen);
  if (n < 0 || (size_t)n >= out->cap) return -1;
  out->len = (size_t)n;
  sb_put(out, body, blen);
  return 0;
}

/* The PutMetricData body of second t: datum i is metric m<i % names> with
 * Shard=s<(i / names) % 8>, a value that moves with i and t. The namespace
 * holds only [A-Za-z0-9/_.-] (checked in bench.c): no JSON escaping, and
 * only its '/' is encoded in a form. */
static void make_body(const opts *o, time_t t, sbuf *b) {
  b->len = 0;
  char tmp[512];
  if (!o->cw_query) {
    snprintf(tmp, sizeof tmp, "{\"Namespace\":\"%s\",\"MetricData\":[", o->cw_namespace);
    sb_puts(b, tmp);
  } else {
    sb_puts(b, "Action=PutMetricData&Version=" CW_VERSION "&Namespace=");
    for (const char *p = o->cw_namespace; *p; p++) /* '/' is the only character to encode */
      if (*p == '/')
        sb_puts(b, "%2F");
      else
        sb_put(b, p, 1);
  }
  for (int i = 0; i < o->datums; i++) {
    int name = i % o->cw_names, shard = (i / o->cw_names) % CW_SHARDS;
    double v = (double)((i * 7 + (long)(t % 1000) * 13) % 500) + 0.5;
    if (!o->cw_query)
      snprintf(
          tmp, sizeof tmp,
          "%s{\"MetricName\":\"m%02d\",\"Dimensions\":[{\"Name\":\"Shard\",\"Value\":\"s%d\"}],"
          "\"Value\":%.1f,\"Unit\":\"Milliseconds\"}",
          i ? "," : "", name, shard, v);
    else
      snprintf(tmp, sizeof tmp,
               "&MetricData.member.%d.MetricName=m%02d"
               "&MetricData.member.%d.Dimensions.member.1.Name=Shard"
               "&MetricData.member.%d.Dimensions.member.1.Value=s%d"
               "&MetricData.member.%d.Value=%.1f&MetricData.member.%d.Unit=Milliseconds",
               i + 1, name, i + 1, i + 1, shard, i + 1, v, i + 1);
    sb_puts(b, tmp);
  }
  if (!o->cw_query) sb_puts(b, "]}");
}

/* The request of this second, rebuilt (body, hash, signature) when the
 * second changes. */
static const sbuf *put_req(const opts *o, tmpl *t) {
  time_t now = time(NULL);
  if (now != t->at) {
    make_body(o, now, &t->body);
    tw_sha256_hex(t->body.p, t->body.len, t->sha);
    if (build_request(o, t->body.p, t->body.len, t->sha, now, &t->req)) return NULL;
    t->at = now;
  }
  return &t->req;
}

int tw_bench_cw_setup(opts *o, tw_hc_loop *l) {
  tmpl t = {.at = (time_t)-1};
  sync_result r = {0};
  const sbuf *req = put_req(o, &t);
  int st = req ? tw_bench_sync_raw(l, req, &r) : -1;
  if (st != 200)
    fprintf(stderr, "tweedle bench: the first PutMetricData (%s protocol) failed: %d %.*s\n",
            o->cw_query ? "query" : "JSON 1.0", st, r.body.p ? (int)r.body.len : 0,
            r.body.p ? r.body.p : "");
  free(t.body.p);
  free(t.req.p);
  free(r.body.p);
  return st == 200 ? 0 : -1;
}

void tw_bench_cw_worker_init(worker *w) {
  tmpl *t = &w->t_send; /* freed with the SQS templates (tw_bench_sqs_worker_free) */
  memset(t, 0, sizeof *t);
  t->target = CW_TARGET;
  t->at = (time_t)-1;
}

void tw_bench_cw_next(bconn *c, int quota) {
  if (tw_bench_quota_out(c, quota)) return;
  tw_bench_issue(c, OP_PUT_METRIC, put_req(c->w->o, &c->w->t_send));
}

int tw_bench_cw_report(const opts *o, FILE *rep, const stats *st, const load_result *lr) {
  double elapsed = lr->elapsed;
  uint64_t calls = st->sent;
  double rate = elapsed > 0 ? (double)calls / elapsed : 0, drate = rate * o->datums;
  fprintf(
      rep,
      "workload putmetric: %s namespace %s (%s protocol), %d datums per call over %d metric(s) x "
      "%d Shard values, %d connections, %d thread(s)\n",
      o->endpoint, o->cw_namespace, o->cw_query ? "query" : "JSON 1.0", o->datums, o->cw_names,
      CW_SHARDS, o->connections, o->threads);
  fprintf(rep, "  measured %.2f s (after %.1f s warm-up), %lu TCP connects\n", elapsed,
          o->messages > 0 ? 0.0 : o->warmup, lr->connects);
  fprintf(rep, "  %.0f calls/s, %.0f datums/s (%llu calls in the window), %llu errors\n", rate,
          drate, (unsigned long long)calls, (unsigned long long)st->errors);
  if (lr->server_cpu_s >= 0)
    fprintf(rep, "  server CPU %.2f s (%.0f%% of one core, %.1f us per call, %.2f us per datum)\n",
            lr->server_cpu_s, 100 * lr->server_cpu_s / elapsed,
            calls ? 1e6 * lr->server_cpu_s / (double)calls : 0.0,
            calls ? 1e6 * lr->server_cpu_s / ((double)calls * o->datums) : 0.0);
  if (lr->client_cpu_s >= 0)
    fprintf(rep, "  client CPU %.2f s (%.0f%% of one core)\n", lr->client_cpu_s,
            100 * lr->client_cpu_s / elapsed);
  tw_bench_print_lat(rep, "PutMetricData", &st->all);
  tw_bench_print_errors(rep, st);
  if (st->retired)
    fprintf(rep, "  %d connection(s) gave up after repeated transport failures\n", st->retired);
  if (o->json) {
    json_t *j = json_pack(
        "{s:s,s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:I,s:I,s:I,s:I,s:I}",
        "workload", "putmetric", "endpoint", o->endpoint, "namespace", o->cw_namespace, "protocol",
        o->cw_query ? "query" : "json", "datums", o->datums, "metric_names", o->cw_names,
        "connections", o->connections, "threads", o->threads, "duration_s", elapsed, "calls_per_s",
        rate, "datums_per_s", drate, "msgs_per_s", drate, "p50_ms",
        ms(tw_hist_quantile(&st->all, 0.5)), "p90_ms", ms(tw_hist_quantile(&st->all, 0.9)),
        "p99_ms", ms(tw_hist_quantile(&st->all, 0.99)), "max_ms", ms(st->all.max_us), "mean_ms",
        st->all.n ? ms(st->all.sum_us / st->all.n) : 0.0, "errors", (json_int_t)st->errors,
        "timeouts", (json_int_t)st->timeouts, "sent", (json_int_t)calls, "tcp_connects",
        (json_int_t)lr->connects, "retired", (json_int_t)st->retired);
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
  return st->errors || st->retired ? 1 : 0;
}
