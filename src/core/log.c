#include "core/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_json;
static tw_log_level g_min = TW_LOG_INFO;
static const char *level_names[] = {"debug", "info", "warn", "error"};
static tw_log_sink_fn g_sink;

void tw_log_set_sink(tw_log_sink_fn fn) {
  __atomic_store_n(&g_sink, fn, __ATOMIC_RELEASE);
}

void tw_log_setup(int json, tw_log_level min) {
  g_json = json;
  g_min = min;
}

int tw_log_json(void) {
  return g_json;
}

static void stamp(char out[64]) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/* Writes the whole line with one fputs so lines from threads never interleave. */
/* sink: also to the log sink (request lines are not: they are the access log
 * and would cost the store a row per request). */
static void emit_text_or_json(tw_log_level lvl, const char *msg, json_t *fields, int sink_too) {
  char ts[64];
  stamp(ts);
  if (g_json) {
    json_t *o = fields ? fields : json_object();
    json_object_set_new(o, "time", json_string(ts));
    json_object_set_new(o, "level", json_string(level_names[lvl]));
    if (msg) json_object_set_new(o, "msg", json_string(msg));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) {
      fprintf(stderr, "%s\n", s);
      tw_log_sink_fn sink = sink_too ? __atomic_load_n(&g_sink, __ATOMIC_ACQUIRE) : NULL;
      if (sink) sink(s, strlen(s));
      free(s);
    }
    json_decref(o);
  } else {
    char line[4200];
    int n = snprintf(line, sizeof line, "%s %-5s %s", ts, level_names[lvl], msg ? msg : "");
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof line) n = sizeof line - 1;
    fprintf(stderr, "%s\n", line);
    tw_log_sink_fn sink = sink_too ? __atomic_load_n(&g_sink, __ATOMIC_ACQUIRE) : NULL;
    if (sink) sink(line, (size_t)n);
    if (fields) json_decref(fields);
  }
}

void tw_log(tw_log_level lvl, const char *fmt, ...) {
  if (lvl < g_min) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  emit_text_or_json(lvl, msg, NULL, 1);
}

/* The text request line, built by hand: it is written once per request, and
 * three printf calls were ~5% of a small request's CPU. The timestamp's
 * seconds are formatted once a second per thread. */
typedef struct {
  char *p, *end;
} out_buf;

static void put(out_buf *o, const char *s, size_t n) {
  if (n > (size_t)(o->end - o->p)) n = (size_t)(o->end - o->p);
  memcpy(o->p, s, n);
  o->p += n;
}

static void put_str(out_buf *o, const char *s) {
  if (s) put(o, s, strlen(s));
}

static void put_uint(out_buf *o, unsigned long v, int width) {
  char d[24];
  int n = 0;
  do {
    d[sizeof d - 1 - n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v && n < 20);
  while (n < width && n < 20) d[sizeof d - 1 - n++] = '0';
  put(o, d + sizeof d - n, (size_t)n);
}

static void request_line(const char *method, const char *path, const char *action, int status,
                         double ms, const char *request_id, const char *remote) {
  static _Thread_local time_t sec_done = -1;
  static _Thread_local char sec_text[80]; /* "2026-12-07T05:30:00." */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (ts.tv_sec != sec_done) {
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(sec_text, sizeof sec_text, "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    sec_done = ts.tv_sec;
  }
  char line[1200];
  out_buf o = {line, line + sizeof line - 1};
  put_str(&o, sec_text);
  put_uint(&o, (unsigned long)(ts.tv_nsec / 1000000), 3);
  put_str(&o, "Z info  ");
  put_str(&o, method);
  put(&o, " ", 1);
  put_str(&o, path);
  if (action && *action) {
    put(&o, " ", 1);
    put_str(&o, action);
  }
  put(&o, " ", 1);
  if (status < 0) {
    put(&o, "-", 1);
    status = -status;
  }
  put_uint(&o, (unsigned long)status, 1);
  put(&o, " ", 1);
  /* ms with two decimals, rounded half up as %.2f does for these values */
  if (!(ms >= 0) || ms > 1e12) ms = 0;
  unsigned long hundredths = (unsigned long)(ms * 100.0 + 0.5);
  put_uint(&o, hundredths / 100, 1);
  put(&o, ".", 1);
  put_uint(&o, hundredths % 100, 2);
  put_str(&o, "ms id=");
  put_str(&o, request_id);
  put_str(&o, " from=");
  put_str(&o, remote);
  *o.p++ = '\n';
  const char *w = line;
  for (size_t left = (size_t)(o.p - line); left;) {
    ssize_t k = write(STDERR_FILENO, w, left);
    if (k <= 0) break;
    w += k;
    left -= (size_t)k;
  }
}

void tw_log_request(const char *method, const char *path, const char *action, int status, double ms,
                    const char *request_id, const char *remote) {
  if (TW_LOG_INFO < g_min) return;
  if (g_json) {
    json_t *o = json_object();
    json_object_set_new(o, "method", json_string(method ? method : ""));
    json_object_set_new(o, "path", json_string(path ? path : ""));
    if (action && *action) json_object_set_new(o, "action", json_string(action));
    json_object_set_new(o, "status", json_integer(status));
    json_object_set_new(o, "ms", json_real(ms));
    json_object_set_new(o, "request_id", json_string(request_id ? request_id : ""));
    json_object_set_new(o, "remote", json_string(remote ? remote : ""));
    emit_text_or_json(TW_LOG_INFO, "request", o, 0);
  } else {
    request_line(method, path, action, status, ms, request_id, remote);
  }
}
