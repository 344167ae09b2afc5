#include "core/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
    char msg[1024];
    snprintf(msg, sizeof msg, "%s %s%s%s %d %.2fms id=%s from=%s", method ? method : "",
             path ? path : "", action && *action ? " " : "", action ? action : "", status, ms,
             request_id ? request_id : "", remote ? remote : "");
    emit_text_or_json(TW_LOG_INFO, msg, NULL, 0);
  }
}
