/* The worker's metrics to tweedle/Worker (see wmetrics.h). */
#include "worker/wmetrics.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json_out.h"
#include "core/log.h"

/* Durations in buckets 1.01^k ms (k in LAT_MIN..LAT_MAX): percentiles within 0.5 %,
 * at most LAT_N values whatever the number of runs. */
#define LAT_MIN (-700)
#define LAT_MAX 1400
#define LAT_N (LAT_MAX - LAT_MIN + 1)
#define MAX_VALUES 150 /* PutMetricData: values per datum */

typedef struct {
  unsigned long long invocations, errors, throttles;
  int max_running;
  unsigned long long sizes[11]; /* runs per batch size (1..10) */
  unsigned *lat;                /* LAT_N, allocated on first run */
} counts;

struct tw_wpub {
  tw_aws *aws;
  char name[128];
  double interval_s;
  pthread_mutex_t mu; /* c, running, stop */
  pthread_cond_t cv;
  counts c;
  int running;
  int stop;
  pthread_t th;
  int64_t last_warn_ms;
};

void tw_wpub_enter(tw_wpub *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->running++;
  if (p->running > p->c.max_running) p->c.max_running = p->running;
  pthread_mutex_unlock(&p->mu);
}

void tw_wpub_leave(tw_wpub *p, size_t n, double ms, int error) {
  if (!p) return;
  int k = ms > 0 ? (int)lround(log(ms) / log(1.01)) : LAT_MIN;
  if (k < LAT_MIN) k = LAT_MIN;
  if (k > LAT_MAX) k = LAT_MAX;
  pthread_mutex_lock(&p->mu);
  p->running--;
  p->c.invocations++;
  if (error) p->c.errors++;
  p->c.sizes[n <= 10 ? n : 10]++;
  if (!p->c.lat) p->c.lat = calloc(LAT_N, sizeof *p->c.lat);
  if (p->c.lat) p->c.lat[k - LAT_MIN]++;
  pthread_mutex_unlock(&p->mu);
}

void tw_wpub_throttle(tw_wpub *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->c.throttles++;
  pthread_mutex_unlock(&p->mu);
}

/* One datum's head: {"MetricName":…,"Dimensions":[FunctionName],"Unit":…,"StorageResolution":… */
static void datum_head(tw_wpub *p, tw_buf *b, int *first, const char *metric, const char *unit) {
  tw_buf_printf(b, "%s{\"MetricName\":\"%s\",\"Dimensions\":[{\"Name\":\"FunctionName\",\"Value\":",
                *first ? "" : ",", metric);
  tw_json_write_string(b, p->name, strlen(p->name));
  /* published more often than every minute: kept per second, so short alarm periods work */
  tw_buf_printf(b, "}],\"Unit\":\"%s\",\"StorageResolution\":%d", unit,
                p->interval_s > 0 && p->interval_s < 60 ? 1 : 60);
  *first = 0;
}

static void value(tw_wpub *p, tw_buf *b, int *first, const char *metric, const char *unit,
                  double v) {
  datum_head(p, b, first, metric, unit);
  tw_buf_printf(b, ",\"Value\":%.17g}", v);
}

/* values[i] counts[i] times, in datums of at most MAX_VALUES. */
static void dist(tw_wpub *p, tw_buf *b, int *first, const char *metric, const char *unit,
                 const double *values, const double *cnt, size_t n) {
  for (size_t i = 0; i < n; i += MAX_VALUES) {
    size_t m = n - i < MAX_VALUES ? n - i : MAX_VALUES;
    datum_head(p, b, first, metric, unit);
    tw_buf_puts(b, ",\"Values\":[");
    for (size_t j = 0; j < m; j++) tw_buf_printf(b, "%s%.17g", j ? "," : "", values[i + j]);
    tw_buf_puts(b, "],\"Counts\":[");
    for (size_t j = 0; j < m; j++) tw_buf_printf(b, "%s%.17g", j ? "," : "", cnt[i + j]);
    tw_buf_puts(b, "]}");
  }
}

static void warn(tw_wpub *p, const char *what) {
  int64_t now = tw_mono_ms();
  if (p->last_warn_ms && now - p->last_warn_ms < 60000) return;
  p->last_warn_ms = now;
  tw_warn("worker: metrics (%s, FunctionName=%s): %s", TW_WPUB_NAMESPACE, p->name, what);
}

/* Takes the counts and sends them in one PutMetricData. */
static void send_now(tw_wpub *p) {
  pthread_mutex_lock(&p->mu);
  counts c = p->c;
  memset(&p->c, 0, sizeof p->c);
  p->c.max_running = p->running; /* still running: counted in the next interval too */
  pthread_mutex_unlock(&p->mu);
  tw_buf b;
  tw_buf_init(&b, 1u << 20);
  int first = 1;
  tw_buf_printf(&b, "{\"Namespace\":\"%s\",\"MetricData\":[", TW_WPUB_NAMESPACE);
  value(p, &b, &first, "Invocations", "Count", (double)c.invocations);
  value(p, &b, &first, "Errors", "Count", (double)c.errors);
  value(p, &b, &first, "Throttles", "Count", (double)c.throttles);
  value(p, &b, &first, "ConcurrentExecutions", "Count", (double)c.max_running);
  double *vals = malloc(LAT_N * sizeof *vals), *cnt = malloc(LAT_N * sizeof *cnt);
  if (vals && cnt && c.invocations) {
    size_t n = 0;
    for (int s = 1; s <= 10; s++)
      if (c.sizes[s]) vals[n] = s, cnt[n++] = (double)c.sizes[s];
    dist(p, &b, &first, "BatchSize", "Count", vals, cnt, n);
    n = 0;
    for (int k = 0; c.lat && k < LAT_N; k++)
      if (c.lat[k]) vals[n] = pow(1.01, k + LAT_MIN), cnt[n++] = c.lat[k];
    dist(p, &b, &first, "Duration", "Milliseconds", vals, cnt, n);
  }
  free(vals);
  free(cnt);
  free(c.lat);
  tw_buf_puts(&b, "]}");
  if (b.overflow) {
    warn(p, "the data did not fit in one request; dropped");
    tw_buf_free(&b);
    return;
  }
  tw_kv h[] = {{"Content-Type", "application/x-amz-json-1.0"},
               {"X-Amz-Target", "GraniteServiceVersion20100801.PutMetricData"}};
  tw_http_req q = {.method = "POST",
                   .path = "/",
                   .headers = h,
                   .nheaders = 2,
                   .body = b.data,
                   .body_len = b.len,
                   .body_fd = -1,
                   .resp_fd = -1,
                   .resp_cap = 1 << 16,
                   .timeout_ms = 10000};
  tw_http_resp r;
  tw_http_resp_init(&r);
  char err[300];
  if (tw_aws_request(p->aws, &q, NULL, &r, err, sizeof err)) {
    warn(p, err);
  } else if (r.status / 100 != 2) {
    json_t *d = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
    const char *t = json_string_value(json_object_get(d, "__type"));
    const char *msg = json_string_value(json_object_get(d, "message"));
    char m[400];
    snprintf(m, sizeof m, "PutMetricData answered %d: %s: %s", r.status, t ? t : "error",
             msg ? msg : "");
    json_decref(d);
    warn(p, m);
  }
  tw_http_resp_free(&r);
  tw_buf_free(&b);
}

static void *sender(void *arg) {
  tw_wpub *p = arg;
  int64_t next = tw_mono_ms() + (int64_t)(p->interval_s * 1000);
  pthread_mutex_lock(&p->mu);
  while (!p->stop) {
    if (p->interval_s > 0 && tw_mono_ms() >= next) {
      pthread_mutex_unlock(&p->mu);
      send_now(p);
      next += (int64_t)(p->interval_s * 1000);
      if (next < tw_mono_ms()) next = tw_mono_ms() + (int64_t)(p->interval_s * 1000);
      pthread_mutex_lock(&p->mu);
      continue;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wait = p->interval_s > 0 ? next - tw_mono_ms() : 3600000;
    if (wait < 0) wait = 0;
    ts.tv_sec += (time_t)(wait / 1000);
    ts.tv_nsec += (long)(wait % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
  }
  pthread_mutex_unlock(&p->mu);
  send_now(p); /* what the last interval counted */
  return NULL;
}

tw_wpub *tw_wpub_start(const char *name, const char *endpoint, const tw_aws_creds *creds,
                       double interval_s, char *err, size_t errlen) {
  tw_wpub *p = calloc(1, sizeof *p);
  if (!p) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  const char *e = getenv("AWS_ENDPOINT_URL_CLOUDWATCH");
  p->aws = tw_aws_new(e && *e ? e : endpoint, "monitoring", creds, err, errlen);
  if (!p->aws) {
    free(p);
    return NULL;
  }
  snprintf(p->name, sizeof p->name, "%s", name);
  p->interval_s = interval_s;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  if (pthread_create(&p->th, NULL, sender, p)) {
    tw_aws_free(p->aws);
    free(p);
    snprintf(err, errlen, "cannot start a thread");
    return NULL;
  }
  return p;
}

void tw_wpub_stop(tw_wpub *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->th, NULL);
  free(p->c.lat);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  tw_aws_free(p->aws);
  free(p);
}
