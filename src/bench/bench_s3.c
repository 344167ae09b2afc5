/* tweedle bench, the S3 workloads (path-style, SigV4 for service s3, or
 * unsigned): s3put and s3get on the connection loop of bench.c. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/sigv4.h"
#include "bench/bench_internal.h"
#include "core/crypto.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

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
static int s3_head(const opts *o, const char *method, const char *path, unsigned long long clen,
                   int has_body, const char *sha, time_t t, sbuf *out) {
  char cl[48] = "";
  if (has_body) snprintf(cl, sizeof cl, "Content-Length: %llu\r\n", clen);
  out->len = 0;
  sb_reserve(out, 1024 + strlen(path));
  int n;
  if (o->no_sign) {
    n = snprintf(out->p, out->cap, "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", method, path,
                 o->hostport, cl);
  } else {
    char amz[17], auth[512];
    tw_sigv4_amz_date(t, amz);
    tw_kv h[3] = {{"host", o->hostport}, {"x-amz-content-sha256", sha}, {"x-amz-date", amz}};
    tw_sigv4_input in = {.method = method,
                         .raw_path = path,
                         .raw_query = "",
                         .headers = h,
                         .nheaders = 3,
                         .payload_sha256_hex = sha,
                         .s3 = 1};
    if (tw_sigv4_sign(&in, o->access_key, o->secret_key, o->region, "s3", auth, sizeof auth))
      return -1;
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
  if (op == OP_S3_PUT)
    return s3_head(o, "PUT", path, o->object_size, 1, o->payload_sha, time(NULL), out);
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
    fprintf(stderr, "tweedle bench: hashed the %llu-byte body in %.1f s\n", o->object_size,
            now_sec() - t0);
  return 0;
}

/* CreateBucket; a bucket that already exists (409) is fine. */
int tw_bench_ensure_bucket(const opts *o, tw_hc_loop *l) {
  char path[80];
  snprintf(path, sizeof path, "/%s", o->bucket);
  sbuf req = {0};
  sync_result r = {0};
  int st = -1;
  if (!s3_head(o, "PUT", path, 0, 1, EMPTY_SHA256, time(NULL), &req))
    st = tw_bench_sync_raw(l, &req, &r);
  int rc = st == 200 || st == 409 ? 0 : -1;
  if (rc)
    fprintf(stderr, "tweedle bench: CreateBucket %s failed: %d %.300s\n", o->bucket, st,
            r.body.p ? r.body.p : "");
  free(req.p);
  free(r.body.p);
  return rc;
}

void tw_bench_s3_next(bconn *c, int quota) {
  worker *w = c->w;
  const opts *o = w->o;
  /* one counter hands out keys: new ones, or round-robin over --objects */
  long long n = atomic_fetch_add(&w->rc->claimed, 1);
  if (quota && n >= o->messages) {
    c->stopped = 1;
    return;
  }
  int op = o->workload == WL_S3PUT ? OP_S3_PUT : OP_S3_GET;
  int bad = s3_object_request(o, op, n, &c->req);
  tw_bench_issue_body(c, op, bad ? NULL : &c->req, op == OP_S3_PUT ? o->object_size : 0);
}

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
    int brc = tw_bench_ensure_bucket(o, &l);
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
    tw_bench_run_load(&p, &ps, &pl);
    sr->populate_s = now_sec() - t0;
    if (ps.errors || ps.objects != (uint64_t)o->objects) {
      fprintf(stderr, "tweedle bench: putting the %lld objects to read failed (%llu put)\n",
              o->objects, (unsigned long long)ps.objects);
      tw_bench_print_errors(stderr, &ps);
      return -1;
    }
  }
  tw_bench_read_mem(&o->server, &sr->before);
  tw_bench_run_load(o, st, lr);
  tw_bench_read_mem(&o->server, &sr->after);
  return 0;
}

static double mb(long kb) {
  return kb < 0 ? -1 : (double)kb / 1024.0;
}

static int report_s3(const opts *o, FILE *rep, const stats *st, const load_result *lr,
                     const s3_result *sr) {
  double el = lr->elapsed;
  int put = o->workload == WL_S3PUT;
  unsigned long long bytes = put ? lr->body_sent : lr->body_received;
  double ops = el > 0 ? (double)st->objects / el : 0, mbps = el > 0 ? (double)bytes / el / 1e6 : 0;
  const char *payload = o->no_sign ? "unsigned request"
                        : put      ? (o->payload_hash ? "signed SHA-256" : "UNSIGNED-PAYLOAD")
                                   : "signed";
  fprintf(rep, "workload %s: %s bucket %s, object %llu B, %d connections, %d thread(s), %s",
          tw_bench_wl_names[o->workload], o->endpoint, o->bucket, o->object_size, o->connections,
          o->threads, payload);
  if (o->objects > 0) fprintf(rep, ", %lld keys", o->objects);
  if (sr->populate_s > 0) fprintf(rep, " (put first in %.1f s)", sr->populate_s);
  fprintf(rep, "\n  measured %.2f s (after %.1f s warm-up), %lu TCP connects\n", el,
          o->messages > 0 ? 0.0 : o->warmup, lr->connects);
  fprintf(
      rep,
      "  %.1f objects/s, %.1f MB/s (%llu objects completed, %.1f MB of bodies %s in the window)\n",
      ops, mbps, (unsigned long long)st->objects, (double)bytes / 1e6, put ? "sent" : "received");
  fprintf(rep, "  %llu errors\n", (unsigned long long)st->errors);
  if (lr->server_cpu_s >= 0)
    fprintf(rep, "  server CPU %.2f s (%.0f%% of one core, %.1f us per object, %.2f ms per MB)\n",
            lr->server_cpu_s, 100 * lr->server_cpu_s / el,
            st->objects ? 1e6 * lr->server_cpu_s / (double)st->objects : 0.0,
            bytes ? 1e3 * lr->server_cpu_s / ((double)bytes / 1e6) : 0.0);
  if (lr->client_cpu_s >= 0)
    fprintf(rep, "  client CPU %.2f s (%.0f%% of one core)\n", lr->client_cpu_s,
            100 * lr->client_cpu_s / el);
  if (sr->before.rss_kb >= 0)
    fprintf(rep,
            "  server RSS %.1f MB before, %.1f MB max sampled during, %.1f MB after; peak (VmHWM) "
            "%.1f MB before, "
            "%.1f MB after\n",
            mb(sr->before.rss_kb), mb(lr->rss_max_kb), mb(sr->after.rss_kb), mb(sr->before.hwm_kb),
            mb(sr->after.hwm_kb));
  tw_bench_print_lat(rep, put ? "PutObject" : "GetObject", &st->all);
  tw_bench_print_errors(rep, st);
  if (st->retired)
    fprintf(rep, "  %d connection(s) gave up after repeated transport failures\n", st->retired);
  if (o->json) {
    json_t *j = json_pack(
        "{s:s,s:s,s:s,s:I,s:I,s:i,s:i,s:s,s:f,s:f,s:f,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:I,s:I,s:I,s:f}",
        "workload", tw_bench_wl_names[o->workload], "endpoint", o->endpoint, "bucket", o->bucket,
        "object_size", (json_int_t)o->object_size, "objects", (json_int_t)o->objects, "connections",
        o->connections, "threads", o->threads, "payload", payload, "duration_s", el,
        "objects_per_s", ops, "mb_per_s", mbps, "bytes", (json_int_t)bytes, "completed",
        (json_int_t)st->objects, "p50_ms", ms(tw_hist_quantile(&st->all, 0.5)), "p90_ms",
        ms(tw_hist_quantile(&st->all, 0.9)), "p99_ms", ms(tw_hist_quantile(&st->all, 0.99)),
        "max_ms", ms(st->all.max_us), "mean_ms", st->all.n ? ms(st->all.sum_us / st->all.n) : 0.0,
        "errors", (json_int_t)st->errors, "timeouts", (json_int_t)st->timeouts, "tcp_connects",
        (json_int_t)lr->connects, "populate_s", sr->populate_s);
    json_object_set_new(j, "errors_by_status", tw_bench_errors_json(st));
    json_object_set_new(j, "rate", json_real(o->rate));
    json_object_set_new(j, "server_cpu_s",
                        lr->server_cpu_s >= 0 ? json_real(lr->server_cpu_s) : json_null());
    json_object_set_new(j, "client_cpu_s",
                        lr->client_cpu_s >= 0 ? json_real(lr->client_cpu_s) : json_null());
    if (sr->before.rss_kb >= 0) {
      json_t *m = json_pack("{s:I,s:I,s:I,s:I,s:I}", "rss_before", (json_int_t)sr->before.rss_kb,
                            "hwm_before", (json_int_t)sr->before.hwm_kb, "rss_max_sampled",
                            (json_int_t)lr->rss_max_kb, "rss_after", (json_int_t)sr->after.rss_kb,
                            "hwm_after", (json_int_t)sr->after.hwm_kb);
      json_object_set_new(j, "server_mem_kb", m);
    }
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(7));
    printf("%s\n", s);
    free(s);
    json_decref(j);
  }
  return st->errors || st->retired ? 1 : 0;
}

int tw_bench_s3(opts *o, FILE *rep, stats *st) {
  load_result lr;
  s3_result sr;
  if (s3_prepare_body(o)) {
    fprintf(stderr, "tweedle bench: out of memory\n");
    return 1;
  }
  if (run_s3(o, st, &lr, &sr)) return 1;
  return report_s3(o, rep, st, &lr, &sr);
}
