/* The metrics sketch (core/sketch.h), the statistics parser, and the engine
 * (monitoring/metrics.h) on a real store in a temporary directory, driven by
 * a test clock: puts at both resolutions, late datapoints, the roll-ups from
 * 1-second to 1-minute, 5-minute and 1-hour slots as data ages (statistics and
 * percentiles survive each move), deletion after 455 days, the cap on
 * distinct metrics, statistic sets and negative values (no percentiles), and
 * a reopened store. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/sketch.h"
#include "monitoring/metrics.h"
#include "store/metrics.h"
#include "store/store.h"
#include "tap.h"

static char dir[256];
static int64_t clock_ms;

static int64_t test_now(void *ud) {
  (void)ud;
  return clock_ms;
}

static uint64_t rng = 88172645463325252ULL;
static double uniform(void) { /* xorshift64 in (0, 1) */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}
static double lognormal(void) {
  double u = uniform(), v = uniform();
  return exp(3.0 + 1.2 * sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The true value at rank q*(n-1) of sorted values. */
static double exact_quantile(const double *sorted, size_t n, double q) {
  return sorted[(size_t)floor(q * (double)(n - 1) + 0.5)];
}

static double rel(double got, double want) {
  return want == 0 ? fabs(got) : fabs(got - want) / fabs(want);
}

/* --- the sketch -------------------------------------------------------------------- */

static void test_sketch_accuracy(void) {
  CASE("sketch: quantiles within 1 % of the exact ones");
  enum { N = 20000 };
  static double v[N];
  tw_sketch s;
  tw_sketch_init(&s);
  for (int i = 0; i < N; i++) {
    v[i] = lognormal();
    tw_sketch_add(&s, v[i], 1);
  }
  qsort(v, N, sizeof v[0], cmp_double);
  const double qs[] = {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999};
  double worst = 0;
  for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
    double e = rel(tw_sketch_quantile(&s, qs[i]), exact_quantile(v, N, qs[i]));
    if (e > worst) worst = e;
  }
  printf("# worst relative error %.4f%%\n", worst * 100);
  CHECK(worst <= 0.01);
  CHECK(worst <= 0.0051); /* 1 % buckets: half a bucket at most */
  CHECK(s.total == N);

  CASE("sketch: uniform integers, zeros");
  tw_sketch_reset(&s);
  for (int i = 0; i <= 1000; i++) tw_sketch_add(&s, i, 1); /* 0..1000 */
  CHECK(rel(tw_sketch_quantile(&s, 0.5), 500) <= 0.01);
  CHECK(rel(tw_sketch_quantile(&s, 0.99), 990) <= 0.01);
  CHECK(tw_sketch_quantile(&s, 0) == 0);
  CHECK(tw_sketch_add(&s, -1, 1) == -1);
  CHECK(tw_sketch_add(&s, NAN, 1) == -1);
  CHECK(tw_sketch_add(&s, 1, 0) == -1);
  tw_sketch_free(&s);
}

static void test_sketch_merge_encode(void) {
  CASE("sketch: merge equals the sketch of the union; encoding round-trips");
  tw_sketch a, b, all, back;
  tw_sketch_init(&a);
  tw_sketch_init(&b);
  tw_sketch_init(&all);
  tw_sketch_init(&back);
  for (int i = 0; i < 5000; i++) {
    double x = lognormal(), y = lognormal() * 10;
    tw_sketch_add(&a, x, 1);
    tw_sketch_add(&b, y, 2);
    tw_sketch_add(&all, x, 1);
    tw_sketch_add(&all, y, 2);
  }
  tw_sketch_add(&a, 0, 3);
  tw_sketch_add(&all, 0, 3);
  tw_sketch_merge(&a, &b);
  CHECK(a.total == all.total);
  int same = 1;
  for (double q = 0; q <= 1.0; q += 0.05)
    same &= tw_sketch_quantile(&a, q) == tw_sketch_quantile(&all, q);
  CHECK(same);
  tw_buf buf;
  tw_buf_init(&buf, 1 << 20);
  CHECK(tw_sketch_encode(&a, &buf) == 0);
  printf("# %g values in %zu buckets encode to %zu bytes\n", a.total, (size_t)a.n, buf.len);
  CHECK(tw_sketch_decode_add(&back, buf.data, buf.len) == 0);
  CHECK(back.total == a.total && back.zero == a.zero);
  same = 1;
  for (double q = 0; q <= 1.0; q += 0.01)
    same &= tw_sketch_quantile(&back, q) == tw_sketch_quantile(&a, q);
  CHECK(same);
  /* malformed input is refused, never read past its end */
  CHECK(tw_sketch_decode_add(&back, buf.data, buf.len - 1) == -1);
  CHECK(tw_sketch_decode_add(&back, "\x07", 1) == -1);
  CHECK(tw_sketch_decode_add(&back, "", 0) == -1);

  CASE("sketch: a single value is a few bytes; blob merge; fractional counts");
  tw_sketch one;
  tw_sketch_init(&one);
  tw_sketch_add(&one, 42.5, 1);
  tw_buf_reset(&buf);
  tw_sketch_encode(&one, &buf);
  CHECK(buf.len <= 8);
  size_t l1 = buf.len;
  char b1[16];
  memcpy(b1, buf.data, l1);
  tw_sketch_reset(&one);
  tw_sketch_add(&one, 100, 2.5); /* Counts may be fractional */
  tw_buf_reset(&buf);
  tw_sketch_encode(&one, &buf);
  void *m;
  size_t ml;
  CHECK(tw_sketch_merge_blobs(b1, l1, buf.data, buf.len, &m, &ml) == 0);
  tw_sketch_reset(&back);
  CHECK(tw_sketch_decode_add(&back, m, ml) == 0);
  CHECK(back.total == 3.5);
  CHECK(rel(tw_sketch_quantile(&back, 0), 42.5) <= 0.005);
  CHECK(rel(tw_sketch_quantile(&back, 1), 100) <= 0.005);
  free(m);

  CASE("sketch: values spread wider than the span keep the high quantiles");
  tw_sketch_reset(&one);
  for (int e = -30; e <= 30; e++) tw_sketch_add(&one, pow(10, e), 1);
  CHECK(one.n <= TW_SKETCH_MAX_SPAN);
  CHECK(rel(tw_sketch_quantile(&one, 1), 1e30) <= 0.005);
  CHECK(rel(tw_sketch_quantile(&one, 0.9), 1e24) <= 0.005);
  CHECK(one.total == 61);

  CASE("sketch: trimmed mean");
  tw_sketch_reset(&one);
  for (int i = 1; i <= 100; i++) tw_sketch_add(&one, i, 1);
  double cnt, tm = tw_sketch_trimmed_mean(&one, 0.1, 0.9, &cnt);
  CHECK(rel(cnt, 80) < 1e-9);
  CHECK(rel(tm, 50.5) <= 0.01);
  tw_buf_free(&buf);
  tw_sketch_free(&one);
  tw_sketch_free(&a);
  tw_sketch_free(&b);
  tw_sketch_free(&all);
  tw_sketch_free(&back);
}

static void test_stat_parse(void) {
  CASE("statistics: names CloudWatch takes");
  tw_metric_stat st;
  CHECK(tw_metric_stat_parse("Average", &st) == 0 && st.kind == TW_STAT_AVERAGE);
  CHECK(tw_metric_stat_parse("p99", &st) == 0 && st.kind == TW_STAT_PERCENTILE && st.a == 0.99);
  CHECK(tw_metric_stat_parse("p99.99", &st) == 0 && fabs(st.a - 0.9999) < 1e-12);
  CHECK(tw_metric_stat_parse("p100", &st) == 0 && st.a == 1);
  CHECK(tw_metric_stat_parse("p0", &st) == 0 && st.a == 0);
  CHECK(tw_metric_stat_parse("tm90", &st) == 0 && st.kind == TW_STAT_TRIMMED_MEAN && st.b == 0.9);
  CHECK(tw_metric_stat_parse("TM(10%:90%)", &st) == 0 && st.a == 0.1 && st.b == 0.9);
  CHECK(tw_metric_stat_parse("TM(:95%)", &st) == 0 && st.a == 0 && st.b == 0.95);
  CHECK(tw_metric_stat_parse("IQM", &st) == 0 && st.a == 0.25 && st.b == 0.75);
  CHECK(tw_metric_stat_parse("TC(10%:)", &st) == 0 && st.kind == TW_STAT_TRIMMED_COUNT);
  CHECK(tw_metric_stat_parse("p101", &st) == -1);
  CHECK(tw_metric_stat_parse("p99.999", &st) == -1);
  CHECK(tw_metric_stat_parse("p", &st) == -1);
  CHECK(tw_metric_stat_parse("average", &st) == -1);
  CHECK(tw_metric_stat_parse("TM(90%:10%)", &st) == -1);
  CHECK(tw_metric_stat_parse("TM(10%:90%", &st) == -1);
}

/* --- the engine ---------------------------------------------------------------------- */

static tw_store *open_store(void) {
  char err[256] = "";
  tw_store *s = tw_store_open(dir, err, sizeof err);
  if (!s) {
    printf("# cannot open the store: %s\n", err);
    return NULL;
  }
  if (tw_store_start(s, NULL, NULL)) {
    tw_store_close(s);
    return NULL;
  }
  return s;
}

static tw_metrics *open_metrics(tw_store *s, size_t max) {
  tw_metrics_opts o = {.max_metrics = max, .now_ms = test_now};
  char err[256] = "";
  tw_metrics *m = tw_metrics_open(s, &o, err, sizeof err);
  if (!m) printf("# cannot open the metrics: %s\n", err);
  return m;
}

static int wait_for(tw_store *s, uint64_t t) {
  for (int i = 0; i < 10000; i++) {
    if (tw_store_committed(s) >= t) return 1;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

static tw_err put(tw_metrics *m, tw_store *s, const tw_metric_datum *d, size_t n) {
  uint64_t t;
  char msg[512];
  tw_err e = tw_metrics_put(m, d, n, &t, msg, sizeof msg);
  if (e != TW_ERR_OK) printf("# put: %s\n", msg);
  if (e == TW_ERR_OK && !wait_for(s, t)) printf("# put: no commit\n");
  return e;
}

static const tw_metric_dim host_a[] = {{"Host", "a"}, {"Az", "1"}};

/* Sum, count, min, max, p50 and p99 over [start, end) at one period. */
typedef struct {
  size_t buckets;
  double count, sum, min, max, p50, p99;
} summary;

static summary query(tw_metrics *m, const char *name, int64_t start, int64_t end, int period) {
  tw_metric_query q = {.ns = "Test",
                       .name = name,
                       .dims = host_a,
                       .ndims = 2,
                       .unit = -1,
                       .want_sketch = 1,
                       .start = start,
                       .end = end,
                       .period = period};
  summary r = {0};
  r.min = INFINITY;
  r.max = -INFINITY;
  tw_metric_bucket *b;
  size_t n;
  if (tw_metrics_query(m, &q, &b, &n)) return r;
  tw_sketch all;
  tw_sketch_init(&all);
  int sketch = 1;
  r.buckets = n;
  for (size_t i = 0; i < n; i++) {
    r.count += b[i].count;
    r.sum += b[i].sum;
    if (b[i].min < r.min) r.min = b[i].min;
    if (b[i].max > r.max) r.max = b[i].max;
    if (b[i].has_sketch)
      tw_sketch_merge(&all, &b[i].sketch);
    else
      sketch = 0;
  }
  r.p50 = sketch ? tw_sketch_quantile(&all, 0.5) : NAN;
  r.p99 = sketch ? tw_sketch_quantile(&all, 0.99) : NAN;
  tw_sketch_free(&all);
  tw_metric_buckets_free(b, n);
  return r;
}

static void level_counts(tw_store *s, int64_t c[4]) {
  memset(c, 0, 4 * sizeof c[0]);
  tw_store_metrics(s)->level_counts(s, c);
}

static void list_one(void *ud, const char *ns, const char *name, const tw_metric_dim *dims,
                     size_t ndims) {
  (void)ns;
  (void)name;
  (void)dims;
  (void)ndims;
  (*(int *)ud)++;
}

static int count_listed(tw_metrics *m) {
  int n = 0;
  char next[64];
  tw_metric_list_filter f = {.limit = 500};
  tw_metrics_list(m, &f, list_one, &n, next, sizeof next);
  return n;
}

static void test_engine(void) {
  tw_store *s = open_store();
  if (!s) {
    CHECK(!"store opened");
    return;
  }
  const int64_t T0 = 1800000000; /* a round epoch second, 2027-01-15 */
  clock_ms = (T0 + 600) * 1000;
  tw_metrics *m = open_metrics(s, 0);
  CHECK(m != NULL);
  if (!m) return;

  CASE("engine: 1-second data, 600 values over 10 minutes");
  enum { N = 600 };
  static double vals[N], sorted[N];
  tw_metric_datum d[N];
  for (int i = 0; i < N; i++) {
    vals[i] = lognormal();
    d[i] = (tw_metric_datum){.ns = "Test",
                             .name = "lat",
                             .dims = host_a,
                             .ndims = 2,
                             .unit = TW_UNIT_MILLISECONDS,
                             .ts = (double)(T0 + i) + 0.25,
                             .high_res = 1,
                             .values = &vals[i],
                             .nvalues = 1};
  }
  memcpy(sorted, vals, sizeof sorted);
  qsort(sorted, N, sizeof sorted[0], cmp_double);
  double sum = 0;
  for (int i = 0; i < N; i++) sum += vals[i];
  CHECK(put(m, s, d, N) == TW_ERR_OK);
  int64_t c[4];
  level_counts(s, c);
  CHECK_INT_EQ(c[0], 600);
  summary r1 = query(m, "lat", T0, T0 + 600, 1);
  CHECK_INT_EQ(r1.buckets, 600);
  summary r60 = query(m, "lat", T0, T0 + 600, 60);
  CHECK_INT_EQ(r60.buckets, 10);
  CHECK(r60.count == N);
  CHECK(rel(r60.sum, sum) < 1e-9);
  CHECK(r60.min == sorted[0] && r60.max == sorted[N - 1]);
  CHECK(rel(r60.p50, exact_quantile(sorted, N, 0.5)) <= 0.01);
  CHECK(rel(r60.p99, exact_quantile(sorted, N, 0.99)) <= 0.01);

  CASE("engine: standard data goes to minute slots; statistic sets; negatives");
  double one = 7;
  tw_metric_statset set = {.count = 10, .sum = 100, .min = 1, .max = 30};
  tw_metric_statset same = {.count = 4, .sum = 20, .min = 5, .max = 5};
  double neg = -3;
  tw_metric_datum sd[] = {
      {.ns = "Test",
       .name = "std",
       .dims = host_a,
       .ndims = 2,
       .unit = TW_UNIT_COUNT,
       .ts = (double)T0 + 5,
       .values = &one,
       .nvalues = 1},
      {.ns = "Test",
       .name = "std",
       .dims = host_a,
       .ndims = 2,
       .unit = TW_UNIT_COUNT,
       .ts = (double)T0 + 50,
       .values = &one,
       .nvalues = 1},
      {.ns = "Test",
       .name = "set",
       .dims = host_a,
       .ndims = 2,
       .unit = TW_UNIT_COUNT,
       .ts = (double)T0 + 1,
       .stats = &set},
      {.ns = "Test",
       .name = "same",
       .dims = host_a,
       .ndims = 2,
       .unit = TW_UNIT_COUNT,
       .ts = (double)T0 + 1,
       .stats = &same},
      {.ns = "Test",
       .name = "neg",
       .dims = host_a,
       .ndims = 2,
       .unit = TW_UNIT_COUNT,
       .ts = (double)T0 + 1,
       .values = &neg,
       .nvalues = 1},
  };
  CHECK(put(m, s, sd, 5) == TW_ERR_OK);
  level_counts(s, c);
  CHECK_INT_EQ(c[0], 600 + 4); /* the two "std" values share one minute slot */
  summary st = query(m, "std", T0, T0 + 60, 60);
  CHECK(st.count == 2 && st.sum == 14);
  summary ss = query(m, "set", T0, T0 + 60, 60);
  CHECK(ss.count == 10 && ss.sum == 100 && ss.min == 1 && ss.max == 30);
  CHECK(isnan(ss.p50)); /* a statistic set of several values has no percentiles */
  summary sm = query(m, "same", T0, T0 + 60, 60);
  CHECK(rel(sm.p50, 5) <= 0.005);
  summary sn = query(m, "neg", T0, T0 + 60, 60);
  CHECK(sn.min == -3 && isnan(sn.p50));

  CASE("engine: the statistic API for the alarm evaluator");
  tw_metric_query aq = {.ns = "Test",
                        .name = "lat",
                        .dims = host_a,
                        .ndims = 2,
                        .unit = -1,
                        .start = T0,
                        .end = T0 + 600,
                        .period = 300};
  int64_t *ts;
  double *v;
  size_t n;
  CHECK(tw_metrics_statistic(m, &aq, "SampleCount", &ts, &v, &n) == 0);
  CHECK(n == 2 && ts[0] == T0 && ts[1] == T0 + 300 && v[0] == 300 && v[1] == 300);
  free(ts);
  free(v);
  CHECK(tw_metrics_statistic(m, &aq, "p90", &ts, &v, &n) == 0 && n == 2);
  free(ts);
  free(v);
  CHECK(tw_metrics_statistic(m, &aq, "Median", &ts, &v, &n) == -1);
  tw_metric_dim other[] = {{"Az", "1"}, {"Host", "a"}}; /* dimension order does not matter */
  aq.dims = other;
  CHECK(tw_metrics_statistic(m, &aq, "Sum", &ts, &v, &n) == 0 && n == 2);
  free(ts);
  free(v);

  CASE("engine: a late datapoint (5 hours old) goes to level 1");
  clock_ms = (T0 + 6 * 3600) * 1000;
  double late = 99;
  tw_metric_datum ld = {.ns = "Test",
                        .name = "late",
                        .dims = host_a,
                        .ndims = 2,
                        .unit = TW_UNIT_NONE,
                        .ts = (double)T0 + 3600 + 30,
                        .high_res = 1,
                        .values = &late,
                        .nvalues = 1};
  CHECK(put(m, s, &ld, 1) == TW_ERR_OK);
  level_counts(s, c);
  CHECK_INT_EQ(c[1], 1);
  summary rl = query(m, "late", T0 + 3600, T0 + 7200, 60);
  CHECK(rl.count == 1 && rl.sum == 99);

  CASE("engine: after 3 hours the 1-second slots roll up into minutes");
  CHECK(tw_metrics_sweep(m) > 0);
  level_counts(s, c);
  CHECK_INT_EQ(c[0], 0);
  CHECK_INT_EQ(c[1], 10 + 4 + 1); /* lat's 10 minutes, std set same neg, late */
  summary a60 = query(m, "lat", T0, T0 + 600, 60);
  CHECK_INT_EQ(a60.buckets, 10);
  CHECK(a60.count == N && rel(a60.sum, sum) < 1e-9);
  CHECK(a60.min == sorted[0] && a60.max == sorted[N - 1]);
  CHECK(a60.p50 == r60.p50 && a60.p99 == r60.p99);           /* the same sketch, moved */
  CHECK_INT_EQ(query(m, "lat", T0, T0 + 600, 1).buckets, 0); /* kept per minute now */
  CHECK(tw_metrics_sweep(m) == 0);                           /* nothing more to move */

  CASE("engine: after 15 days, 5-minute slots");
  clock_ms = (T0 + 16 * 86400) * 1000;
  CHECK(tw_metrics_sweep(m) > 0);
  level_counts(s, c);
  CHECK_INT_EQ(c[1], 0);
  CHECK(c[2] > 0);
  summary a300 = query(m, "lat", T0, T0 + 600, 300);
  CHECK_INT_EQ(a300.buckets, 2);
  CHECK(a300.count == N && rel(a300.sum, sum) < 1e-9 && a300.max == sorted[N - 1]);
  CHECK(rel(a300.p99, exact_quantile(sorted, N, 0.99)) <= 0.01);
  CHECK_INT_EQ(query(m, "lat", T0, T0 + 600, 60).buckets, 0);

  CASE("engine: after 63 days, hourly slots");
  clock_ms = (T0 + 64 * 86400) * 1000;
  CHECK(tw_metrics_sweep(m) > 0);
  level_counts(s, c);
  CHECK_INT_EQ(c[2], 0);
  CHECK(c[3] > 0);
  summary a3600 = query(m, "lat", T0 - 3600, T0 + 7200, 3600);
  CHECK(a3600.count == N && rel(a3600.sum, sum) < 1e-9);
  CHECK(rel(a3600.p50, exact_quantile(sorted, N, 0.5)) <= 0.01);
  CHECK(rel(a3600.p99, exact_quantile(sorted, N, 0.99)) <= 0.01);
  summary h = query(m, "late", T0, T0 + 7200, 3600);
  CHECK(h.count == 1 && h.sum == 99);

  CASE("engine: a reopened store and catalog hold the same");
  tw_metrics_close(m);
  tw_store_close(s);
  s = open_store();
  m = s ? open_metrics(s, 0) : NULL;
  CHECK(m != NULL);
  if (!m) return;
  summary again = query(m, "lat", T0 - 3600, T0 + 7200, 3600);
  CHECK(again.count == N && rel(again.sum, sum) < 1e-9 && again.p99 == a3600.p99);
  CHECK_INT_EQ(count_listed(m), 0); /* no data for two weeks: not listed */
  clock_ms = (T0 + 64 * 86400) * 1000;

  CASE("engine: after 455 days, gone, and so is the catalog");
  clock_ms = (T0 + 457 * 86400) * 1000;
  tw_metrics_sweep(m);
  level_counts(s, c);
  CHECK_INT_EQ(c[0] + c[1] + c[2] + c[3], 0);
  tw_metrics_close(m);
  m = open_metrics(s, 3);
  CHECK(m != NULL);
  if (!m) return;

  CASE("engine: at most max_metrics distinct metrics");
  double x = 1;
  tw_metric_datum cap[4];
  const char *names[] = {"m1", "m2", "m3", "m4"};
  for (int i = 0; i < 4; i++)
    cap[i] = (tw_metric_datum){
        .ns = "Cap", .name = names[i], .unit = TW_UNIT_NONE, .values = &x, .nvalues = 1};
  CHECK(put(m, s, cap, 3) == TW_ERR_OK);
  CHECK_INT_EQ(count_listed(m), 3);
  uint64_t t;
  char msg[512];
  CHECK(tw_metrics_put(m, cap, 4, &t, msg, sizeof msg) == TW_ERR_CW_LIMIT_EXCEEDED);
  CHECK(strstr(msg, "at most 3") != NULL);
  CHECK(put(m, s, &cap[1], 1) == TW_ERR_OK); /* a known metric still takes data */
  CHECK_INT_EQ(count_listed(m), 3);

  CASE("engine: built-in publishers may use AWS/ namespaces (the API refuses them)");
  tw_metric_datum aws = {.ns = "AWS/SQS",
                         .name = "NumberOfMessagesSent",
                         .unit = TW_UNIT_COUNT,
                         .values = &x,
                         .nvalues = 1};
  tw_metrics_close(m);
  m = open_metrics(s, 10);
  CHECK(put(m, s, &aws, 1) == TW_ERR_OK);
  CHECK_INT_EQ(count_listed(m), 4);

  CASE("engine: the engine refuses what the API refuses");
  tw_metric_datum bad = cap[0];
  bad.ns = "";
  CHECK(tw_metrics_put(m, &bad, 1, &t, msg, sizeof msg) == TW_ERR_INVALID_PARAMETER_VALUE);
  bad = cap[0];
  bad.ts = (double)clock_ms / 1000 - 15 * 86400;
  CHECK(tw_metrics_put(m, &bad, 1, &t, msg, sizeof msg) == TW_ERR_INVALID_PARAMETER_VALUE);
  double inf = INFINITY;
  bad = cap[0];
  bad.values = &inf;
  CHECK(tw_metrics_put(m, &bad, 1, &t, msg, sizeof msg) == TW_ERR_INVALID_PARAMETER_VALUE);
  tw_metric_dim dup[] = {{"a", "1"}, {"a", "2"}};
  bad = cap[0];
  bad.dims = dup;
  bad.ndims = 2;
  CHECK(tw_metrics_put(m, &bad, 1, &t, msg, sizeof msg) == TW_ERR_INVALID_PARAMETER_VALUE);
  tw_metrics_close(m);
  tw_store_close(s);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/tweedle-test-metrics-%d", (int)getpid());
  test_sketch_accuracy();
  test_sketch_merge_encode();
  test_stat_parse();
  test_engine();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd)) printf("# could not remove %s\n", dir);
  return tap_done();
}
