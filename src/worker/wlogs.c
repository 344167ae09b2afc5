/* Handler output to CloudWatch Logs (see wlogs.h). */
#include "worker/wlogs.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json_out.h"
#include "core/log.h"

#define SEND_LINES 1000
#define SEND_BYTES (900u << 10) /* under PutLogEvents' 1 MB, with 26 bytes per event */
#define MAX_LINE (256u << 10)

typedef struct {
  int64_t ts;
  char *msg;
  size_t len;
} wline;

struct tw_wlogs {
  tw_aws *aws;
  char group[300], stream[300];
  pthread_mutex_t mu;
  pthread_cond_t cv;
  wline *q; /* ring of TW_WLOGS_MAX_LINES */
  size_t head, count, bytes;
  unsigned long long dropped;
  int stop, created;
  pthread_t th;
  int64_t last_warn_ms;
};

tw_wlogs *tw_wlogs_current;

static int call(tw_wlogs *l, const char *op, const char *body, size_t len, int *status, char *type,
                size_t typelen) {
  char target[96];
  snprintf(target, sizeof target, "Logs_20140328.%s", op);
  tw_kv h[] = {{"Content-Type", "application/x-amz-json-1.1"}, {"X-Amz-Target", target}};
  tw_http_req q = {.method = "POST",
                   .path = "/",
                   .headers = h,
                   .nheaders = 2,
                   .body = body,
                   .body_len = len,
                   .body_fd = -1,
                   .resp_fd = -1,
                   .resp_cap = 1 << 20,
                   .timeout_ms = 10000};
  tw_http_resp r;
  tw_http_resp_init(&r);
  char err[300];
  type[0] = 0;
  int rc = tw_aws_request(l->aws, &q, NULL, &r, err, sizeof err);
  *status = rc ? -1 : r.status;
  if (rc) {
    snprintf(type, typelen, "%s", err);
  } else if (r.status / 100 != 2) {
    json_t *d = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
    const char *t = json_string_value(json_object_get(d, "__type"));
    const char *m = json_string_value(json_object_get(d, "message"));
    snprintf(type, typelen, "%s: %s", t ? t : "HTTP error", m ? m : "");
    json_decref(d);
  }
  tw_http_resp_free(&r);
  return rc || r.status / 100 != 2 ? -1 : 0;
}

static void warn(tw_wlogs *l, const char *what) {
  int64_t now = tw_mono_ms();
  if (l->last_warn_ms && now - l->last_warn_ms < 60000) return;
  l->last_warn_ms = now;
  tw_warn("worker: log group %s: %s", l->group, what);
}

static int ensure(tw_wlogs *l) {
  if (l->created) return 0;
  char body[800], why[400];
  int st;
  tw_buf b;
  tw_buf_init(&b, sizeof body);
  tw_buf_puts(&b, "{\"logGroupName\":");
  tw_json_write_string(&b, l->group, strlen(l->group));
  tw_buf_putc(&b, '}');
  if (call(l, "CreateLogGroup", b.data, b.len, &st, why, sizeof why) &&
      !strstr(why, "ResourceAlreadyExists")) {
    tw_buf_free(&b);
    warn(l, why);
    return -1;
  }
  b.len = 0;
  tw_buf_puts(&b, "{\"logGroupName\":");
  tw_json_write_string(&b, l->group, strlen(l->group));
  tw_buf_puts(&b, ",\"logStreamName\":");
  tw_json_write_string(&b, l->stream, strlen(l->stream));
  tw_buf_putc(&b, '}');
  int rc = call(l, "CreateLogStream", b.data, b.len, &st, why, sizeof why);
  tw_buf_free(&b);
  if (rc && !strstr(why, "ResourceAlreadyExists")) {
    warn(l, why);
    return -1;
  }
  l->created = 1;
  return 0;
}

static int by_ts(const void *a, const void *b) {
  const wline *x = a, *y = b;
  return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* Takes up to one request's worth of lines off the queue and sends them;
 * -1 when they could not be sent. */
static int send_some(tw_wlogs *l) {
  int rc = 0;
  wline *v = malloc(SEND_LINES * sizeof *v);
  if (!v) return -1;
  size_t n = 0, bytes = 0;
  pthread_mutex_lock(&l->mu);
  while (l->count && n < SEND_LINES) {
    wline *w = &l->q[l->head];
    if (n && bytes + w->len + 26 > SEND_BYTES) break;
    v[n++] = *w;
    bytes += w->len + 26;
    l->bytes -= w->len;
    l->head = (l->head + 1) % TW_WLOGS_MAX_LINES;
    l->count--;
  }
  unsigned long long dropped = l->dropped;
  l->dropped = 0;
  pthread_mutex_unlock(&l->mu);
  if (dropped) {
    char m[160];
    snprintf(m, sizeof m, "%llu handler output lines dropped (the buffer was full)", dropped);
    warn(l, m);
  }
  if (n && ensure(l)) rc = -1;
  if (n && !rc) {
    /* stable: lines of one thread keep their order within a millisecond */
    qsort(v, n, sizeof *v, by_ts);
    tw_buf b;
    tw_buf_init(&b, 8u << 20);
    tw_buf_puts(&b, "{\"logGroupName\":");
    tw_json_write_string(&b, l->group, strlen(l->group));
    tw_buf_puts(&b, ",\"logStreamName\":");
    tw_json_write_string(&b, l->stream, strlen(l->stream));
    tw_buf_puts(&b, ",\"logEvents\":[");
    for (size_t i = 0; i < n; i++) {
      tw_buf_printf(&b, "%s{\"timestamp\":%lld,\"message\":", i ? "," : "", (long long)v[i].ts);
      tw_json_write_string(&b, v[i].msg, v[i].len);
      tw_buf_putc(&b, '}');
    }
    tw_buf_puts(&b, "]}");
    char why[400];
    int st;
    if (!b.overflow && call(l, "PutLogEvents", b.data, b.len, &st, why, sizeof why)) {
      if (strstr(why, "ResourceNotFound")) l->created = 0; /* deleted: made again next time */
      warn(l, why);
      rc = -1;
    }
    tw_buf_free(&b);
  }
  for (size_t i = 0; i < n; i++) free(v[i].msg);
  free(v);
  return rc;
}

static void *sender(void *arg) {
  tw_wlogs *l = arg;
  pthread_mutex_lock(&l->mu);
  for (;;) {
    if (!l->stop && l->count < SEND_LINES) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += 1;
      pthread_cond_timedwait(&l->cv, &l->mu, &ts);
    }
    int stop = l->stop;
    if (!l->count && stop) break;
    pthread_mutex_unlock(&l->mu);
    int failed = send_some(l);
    pthread_mutex_lock(&l->mu);
    if (stop && (failed || !l->count)) break; /* stopping: no retrying a dead endpoint */
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

tw_wlogs *tw_wlogs_start(const char *name, const char *endpoint, const tw_aws_creds *creds,
                         char *err, size_t errlen) {
  tw_wlogs *l = calloc(1, sizeof *l);
  if (!l || !(l->q = calloc(TW_WLOGS_MAX_LINES, sizeof *l->q))) {
    free(l);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  const char *e = getenv("AWS_ENDPOINT_URL_LOGS");
  l->aws = tw_aws_new(e && *e ? e : endpoint, "logs", creds, err, errlen);
  if (!l->aws) {
    free(l->q);
    free(l);
    return NULL;
  }
  snprintf(l->group, sizeof l->group, "/tweedle/worker/%s", name);
  /* like Lambda's YYYY/MM/DD/[$LATEST]<id>: one stream per worker process */
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  char host[64] = "";
  gethostname(host, sizeof host - 1);
  for (char *p = host; *p; p++)
    if (*p == ':' || *p == '*') *p = '-';
  snprintf(l->stream, sizeof l->stream, "%04d/%02d/%02d/%s-%d", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, host, (int)getpid());
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  if (pthread_create(&l->th, NULL, sender, l)) {
    tw_aws_free(l->aws);
    free(l->q);
    free(l);
    snprintf(err, errlen, "cannot start a thread");
    return NULL;
  }
  return l;
}

void tw_wlogs_line(tw_wlogs *l, const char *line, size_t n) {
  if (!l) return;
  if (n && line[n - 1] == '\r') n--;
  if (!n) return; /* CloudWatch Logs takes no empty message */
  if (n > MAX_LINE) n = MAX_LINE;
  int64_t ts = tw_now_ms();
  pthread_mutex_lock(&l->mu);
  if (l->count == TW_WLOGS_MAX_LINES || l->bytes + n > TW_WLOGS_MAX_BYTES) {
    l->dropped++;
    pthread_mutex_unlock(&l->mu);
    return;
  }
  char *m = malloc(n);
  if (!m) {
    l->dropped++;
    pthread_mutex_unlock(&l->mu);
    return;
  }
  memcpy(m, line, n);
  wline *w = &l->q[(l->head + l->count) % TW_WLOGS_MAX_LINES];
  w->ts = ts;
  w->msg = m;
  w->len = n;
  l->count++;
  l->bytes += n;
  if (l->count == SEND_LINES) pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&l->mu);
}

void tw_wlogs_stop(tw_wlogs *l) {
  if (!l) return;
  pthread_mutex_lock(&l->mu);
  l->stop = 1;
  pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&l->mu);
  pthread_join(l->th, NULL);
  if (l->count) tw_warn("worker: log group %s: %zu lines not sent", l->group, l->count);
  for (size_t i = 0; i < l->count; i++) free(l->q[(l->head + i) % TW_WLOGS_MAX_LINES].msg);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
  tw_aws_free(l->aws);
  free(l->q);
  free(l);
}
