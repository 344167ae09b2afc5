/* CloudWatch metric math (src/monitoring/cw_math.c) through GetMetricData
 * (tw_cw_get_metric_data), on a real metrics engine over a store in a
 * temporary directory (as tests/unit/test_metrics.c makes one), filled once
 * with a fixed set of series: m1 (Average of 5 points a minute apart), m2
 * (Sum of 4 points, one negative, one zero, with a dimension), m3 (Maximum of
 * high-resolution points at a 1-second period), p1 (p90 of m1's metric), e1
 * (a metric with no data in the range: an empty series), all NaN-free. Each
 * input line is an expression query x1, x2, ... (up to 8; they may refer to
 * each other and to the five above). An optional first line "#P S D" sets the
 * expressions' Period P, the range's length S seconds and MaxDatapoints D.
 * Checked: the call answers with results or fails with a message; every
 * result has as many Values as Timestamps, each a finite number, and a
 * StatusCode; no more points than MaxDatapoints in all. Memory is bounded by
 * libFuzzer's -rss_limit_mb / -malloc_limit_mb. */
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "monitoring/cw_front.h"
#include "monitoring/metrics.h"
#include "store/store.h"

#define NOW_MS 1700000000000LL /* 2023-11-14T22:13:20Z */
#define MAX_EXPRS 8

static tw_store *S;
static tw_metrics *M;
static char dir[128];

static int64_t fixed_now(void *ud) {
  (void)ud;
  return NOW_MS;
}

static void cleanup(void) {
  if (M) tw_metrics_close(M);
  if (S) tw_store_close(S);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) {
  }
}

static void put(const char *name, const tw_metric_dim *dims, size_t nd, int high_res,
                const double *v, const double *ts, size_t n) {
  for (size_t i = 0; i < n; i++) {
    tw_metric_datum d = {.ns = "Fz",
                         .name = name,
                         .dims = dims,
                         .ndims = nd,
                         .unit = TW_UNIT_COUNT,
                         .ts = ts[i],
                         .high_res = high_res,
                         .values = &v[i],
                         .nvalues = 1};
    uint64_t t = 0;
    char msg[256];
    if (tw_metrics_put(M, &d, 1, &t, msg, sizeof msg) != TW_ERR_OK) {
      fprintf(stderr, "fuzz_metric_math: put: %s\n", msg);
      abort();
    }
    for (int k = 0; k < 20000 && tw_store_committed(S) < t; k++) usleep(500);
    if (tw_store_committed(S) < t) abort();
  }
}

static void init(void) {
  const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(dir, sizeof dir, "%s/tw-fuzz-mm-XXXXXX", tmp);
  if (!mkdtemp(dir)) abort();
  char err[256] = "";
  S = tw_store_open(dir, err, sizeof err);
  if (!S || tw_store_start(S, NULL, NULL)) {
    fprintf(stderr, "fuzz_metric_math: store: %s\n", err);
    abort();
  }
  tw_metrics_opts o = {.max_metrics = 100, .now_ms = fixed_now};
  M = tw_metrics_open(S, &o, err, sizeof err);
  if (!M) {
    fprintf(stderr, "fuzz_metric_math: metrics: %s\n", err);
    abort();
  }
  atexit(cleanup);
  double now = NOW_MS / 1000.0;
  const double a[] = {1, 2, 3, 4, 5},
               at[] = {now - 600, now - 480, now - 360, now - 240, now - 120};
  put("A", NULL, 0, 0, a, at, 5);
  const tw_metric_dim host[] = {{"Host", "a"}};
  const double b[] = {10, -3, 0, 7.5}, bt[] = {now - 590, now - 530, now - 290, now - 50};
  put("B", host, 1, 0, b, bt, 4);
  const double c[] = {0.5, 100, 2}, ct[] = {now - 30, now - 29, now - 10};
  put("C", NULL, 0, 1, c, ct, 3);
  const double e[] = {42}, et[] = {now - 13 * 86400}; /* outside the range */
  put("E", NULL, 0, 0, e, et, 1);
}

static json_t *stat_q(const char *id, const char *name, const char *stat, int period, int dim) {
  json_t *metric = json_pack("{s:s,s:s}", "Namespace", "Fz", "MetricName", name);
  if (dim)
    json_object_set_new(metric, "Dimensions",
                        json_pack("[{s:s,s:s}]", "Name", "Host", "Value", "a"));
  return json_pack("{s:s,s:{s:o,s:i,s:s},s:b}", "Id", id, "MetricStat", "Metric", metric, "Period",
                   period, "Stat", stat, "ReturnData", 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!M) init();
  if (size > 8 * 2048) return 0; /* 8 expressions of at most 2048 characters */
  fz_lines l;
  fz_split(&l, data, size);
  long long period = 60, span = 3600, maxdp = 100800;
  size_t first = 0;
  if (l.n && l.line[0][0] == '#') {
    sscanf(l.line[0] + 1, "%lld %lld %lld", &period, &span, &maxdp);
    if (span < 1 || span > 15 * 86400) span = 3600;
    first = 1;
  }
  json_t *qs = json_array();
  json_array_append_new(qs, stat_q("m1", "A", "Average", 60, 0));
  json_array_append_new(qs, stat_q("m2", "B", "Sum", 60, 1));
  json_array_append_new(qs, stat_q("m3", "C", "Maximum", 1, 0));
  json_array_append_new(qs, stat_q("p1", "A", "p90", 60, 0));
  json_array_append_new(qs, stat_q("e1", "E", "Sum", 300, 0));
  for (size_t i = first; i < l.n && i - first < MAX_EXPRS; i++) {
    char id[8];
    snprintf(id, sizeof id, "x%zu", i - first + 1);
    json_t *q = json_pack("{s:s,s:s%}", "Id", id, "Expression", l.line[i], l.len[i]);
    if (!q) continue; /* not UTF-8 */
    if (period) json_object_set_new(q, "Period", json_integer(period));
    json_array_append_new(qs, q);
  }
  double end = NOW_MS / 1000.0;
  json_t *in = json_pack("{s:f,s:f,s:o,s:I}", "StartTime", end - (double)span, "EndTime", end,
                         "MetricDataQueries", qs, "MaxDatapoints", (json_int_t)maxdp);
  tw_cw_call c;
  memset(&c, 0, sizeof c);
  c.metrics = M;
  c.store = S;
  c.account = "000000000000";
  c.region = "us-east-1";
  c.in = in;
  tw_err e = tw_cw_get_metric_data(&c);
  if (getenv("FZ_VERBOSE")) { /* replaying one input: what it gave */
    char *o = c.out ? json_dumps(c.out, JSON_COMPACT) : NULL;
    fprintf(stderr, "%s\n", o ? o : c.msg);
    free(o);
  }
  if (e != TW_ERR_OK) {
    if (!c.msg[0]) abort(); /* an error says why */
  } else {
    json_t *res = json_object_get(c.out, "MetricDataResults");
    if (!json_is_array(res)) abort();
    size_t i, total = 0;
    json_t *r;
    json_array_foreach(res, i, r) {
      json_t *ts = json_object_get(r, "Timestamps"), *vs = json_object_get(r, "Values");
      if (!json_is_array(ts) || !json_is_array(vs) || json_array_size(ts) != json_array_size(vs))
        abort();
      if (!json_is_string(json_object_get(r, "StatusCode"))) abort();
      size_t k;
      json_t *v;
      json_array_foreach(vs, k, v) if (!json_is_number(v) || !isfinite(json_number_value(v)))
          abort();
      total += json_array_size(vs);
    }
    if (maxdp >= 1 && total > (size_t)maxdp) abort();
  }
  json_decref(c.out);
  json_decref(c.err_extra);
  json_decref(in);
  fz_free(&l);
  return 0;
}
