/* The gateway's access log, like API Gateway's: one row per request (time,
 * caller, route, status, latency, bytes) in the store's access_log table.
 *
 * Why the store and not a JSONL file: GET /_/api/v1/access-log filters by time
 * with an index instead of scanning files, retention is one DELETE, and the
 * log lives (and is backed up) with the rest of the state. Rows are buffered
 * and appended together per flush (every 200 ms, or at 2,000 rows), so
 * the log costs the writer thread one insert batch, not one operation per
 * request. A crash can lose the last 200 ms of log, never an acknowledged
 * change: nothing waits for the log to be durable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json_out.h"
#include "gateway/gateway_internal.h"
#include "logs/logs.h"
#include "store/gw_access_log.h"

#define FLUSH_ROWS 2048
#define MAX_LIMIT 1000
#define CHUNK 64 /* rows handed to the repository at a time */

typedef struct {
  int64_t time_ms, latency_us, bytes_in, bytes_out;
  int status;
  char principal[129], auth[16], method[16], route[64], path[257], request_id[37], ip[64];
} alog_row;

struct tw_gw_alog {
  tw_gateway *g;
  double days;
  pthread_mutex_t mu;
  alog_row *rows; /* FLUSH_ROWS, filled up to count */
  size_t count;
  int64_t last_prune_ms;
};

int tw_gw_alog_open(tw_gateway *g, double days, char *err, size_t errlen) {
  tw_gw_alog *a = calloc(1, sizeof *a);
  if (a) a->rows = malloc(FLUSH_ROWS * sizeof *a->rows);
  if (!a || !a->rows) {
    if (a) free(a);
    snprintf(err, errlen, "gateway: out of memory");
    return -1;
  }
  a->g = g;
  a->days = days;
  pthread_mutex_init(&a->mu, NULL);
  g->alog = a;
  return 0;
}

static void row_of(const alog_row *w, tw_gw_access_row *v) {
  *v = (tw_gw_access_row){.time_ms = w->time_ms,
                          .latency_us = w->latency_us,
                          .bytes_in = w->bytes_in,
                          .bytes_out = w->bytes_out,
                          .status = w->status,
                          .principal = w->principal,
                          .auth = w->auth,
                          .method = w->method,
                          .route = w->route,
                          .path = w->path,
                          .request_id = w->request_id,
                          .source_ip = w->ip};
}

/* The same rows to the log group /tweedle/gateway/access (30 days), one JSON
 * line each in API Gateway's access log fields; best effort. */
static void to_log_group(tw_gw_alog *a) {
  struct tw_logs *logs = a->g->app->logs;
  if (!logs || !a->count) return;
  tw_log_input *ev = malloc(a->count * sizeof *ev);
  tw_buf b;
  tw_buf_init(&b, 64u << 20);
  size_t *off = malloc(a->count * sizeof *off);
  if (!ev || !off) goto done;
  for (size_t i = 0; i < a->count; i++) {
    const alog_row *w = &a->rows[i];
    char t[32];
    tw_gw_iso8601(w->time_ms, 1, t);
    off[i] = b.len;
    tw_buf_printf(&b, "{\"requestId\":");
    tw_json_write_string(&b, w->request_id, strlen(w->request_id));
    tw_buf_printf(&b, ",\"requestTime\":\"%s\",\"sourceIp\":", t);
    tw_json_write_string(&b, w->ip, strlen(w->ip));
    tw_buf_puts(&b, ",\"httpMethod\":");
    tw_json_write_string(&b, w->method, strlen(w->method));
    tw_buf_puts(&b, ",\"routeKey\":");
    tw_json_write_string(&b, w->route, strlen(w->route));
    tw_buf_puts(&b, ",\"path\":");
    tw_json_write_string(&b, w->path, strlen(w->path));
    tw_buf_printf(&b,
                  ",\"status\":%d,\"responseLatency\":%.3f,\"requestLength\":%lld,"
                  "\"responseLength\":%lld,\"auth\":",
                  w->status, (double)w->latency_us / 1000.0, (long long)w->bytes_in,
                  (long long)w->bytes_out);
    tw_json_write_string(&b, w->auth, strlen(w->auth));
    tw_buf_puts(&b, ",\"principal\":");
    tw_json_write_string(&b, w->principal, strlen(w->principal));
    tw_buf_putc(&b, '}');
    ev[i].ts = w->time_ms;
  }
  if (b.overflow) goto done;
  for (size_t i = 0; i < a->count; i++) {
    ev[i].msg = b.data + off[i];
    ev[i].len = (i + 1 < a->count ? off[i + 1] : b.len) - off[i];
  }
  tw_logs_append(logs, "/tweedle/gateway/access", 30, "access", ev, a->count);
done:
  tw_buf_free(&b);
  free(ev);
  free(off);
}

/* Under a->mu: keeps the order of flushes the order of their tickets. */
static uint64_t flush_locked(tw_gw_alog *a) {
  tw_store *s = tw_gw_store(a->g->app);
  const tw_gw_access_log_repo *repo = tw_store_gw_access_log(s);
  if (!a->count) return tw_store_ticket(s);
  uint64_t t = 0;
  tw_gw_access_row v[CHUNK];
  for (size_t i = 0; i < a->count; i += CHUNK) {
    size_t n = a->count - i < CHUNK ? a->count - i : CHUNK;
    for (size_t k = 0; k < n; k++) row_of(&a->rows[i + k], &v[k]);
    t = repo->append(s, v, n);
  }
  to_log_group(a);
  a->count = 0;
  return t;
}

uint64_t tw_gw_alog_flush(tw_gateway *g) {
  tw_gw_alog *a = g->alog;
  pthread_mutex_lock(&a->mu);
  uint64_t t = flush_locked(a);
  pthread_mutex_unlock(&a->mu);
  return t;
}

void tw_gw_alog_close(tw_gateway *g) {
  tw_gw_alog *a = g->alog;
  if (!a) return;
  tw_gw_alog_flush(g);
  free(a->rows);
  pthread_mutex_destroy(&a->mu);
  free(a);
  g->alog = NULL;
}

/* strlcpy: this runs for every request, snprintf("%s") showed in profiles */
static void cpy(char *dst, size_t n, const char *src, size_t len) {
  if (len >= n) len = n - 1;
  memcpy(dst, src, len);
  dst[len] = 0;
}
#define CPY(dst, src) cpy(dst, sizeof dst, src, strlen(src))

void tw_gw_alog_note(tw_request *r, int status, size_t out_bytes) {
  tw_gateway *g = r->app->gateway;
  if (!g || !g->alog) return;
  tw_gw_alog *a = g->alog;
  /* r->principal is "kind:name" (apikey:, authorizer:, sigv4:) once known */
  const char *colon = strchr(r->principal, ':');
  int64_t us = (int64_t)((tw_mono_sec() - r->t0) * 1e6);
  pthread_mutex_lock(&a->mu);
  alog_row *w = &a->rows[a->count++];
  w->time_ms = tw_now_ms() - us / 1000; /* when it arrived */
  w->latency_us = us;
  w->bytes_in = (int64_t)r->body.len;
  w->bytes_out = (int64_t)out_bytes;
  w->status = status;
  if (colon && colon - r->principal < (long)sizeof w->auth) {
    cpy(w->auth, sizeof w->auth, r->principal, (size_t)(colon - r->principal));
    CPY(w->principal, colon + 1);
  } else {
    CPY(w->auth, "none");
    w->principal[0] = 0;
  }
  CPY(w->method, r->method);
  CPY(w->route, r->action);
  CPY(w->path, r->path);
  CPY(w->request_id, r->request_id);
  CPY(w->ip, r->remote);
  if (a->count == FLUSH_ROWS) flush_locked(a);
  pthread_mutex_unlock(&a->mu);
}

void tw_gw_alog_tick(tw_gateway *g, int64_t now_ms) {
  tw_gw_alog *a = g->alog;
  tw_gw_alog_flush(g);
  int64_t keep_ms = (int64_t)(a->days * 86400000.0);
  int64_t period = keep_ms / 10;
  if (period < 1000) period = 1000;
  if (period > 60000) period = 60000;
  if (now_ms - a->last_prune_ms < period) return;
  a->last_prune_ms = now_ms;
  tw_store_gw_access_log(tw_gw_store(g->app))->prune(tw_gw_store(g->app), now_ms - keep_ms);
}

/* --- GET /_/api/v1/access-log?limit=&since= ------------------------------------------------ */

typedef struct {
  tw_buf b;
  long limit, n;
  int truncated;
} log_page;

static int write_entry(void *ud, const tw_gw_access_row *w) {
  log_page *p = ud;
  tw_buf *b = &p->b;
  if (p->n == p->limit) {
    p->truncated = 1;
    return 1;
  }
  char t[32];
  tw_gw_iso8601(w->time_ms, 1, t);
  tw_buf_printf(b, "%s{\"time\":\"%s\"", p->n++ ? "," : "", t);
  const char *const names[] = {"principal", "auth", "method", "route", "path"};
  const char *const vals[] = {w->principal, w->auth, w->method, w->route, w->path};
  for (int i = 0; i < 5; i++) {
    tw_buf_printf(b, ",\"%s\":", names[i]);
    tw_json_write_string(b, vals[i], strlen(vals[i]));
  }
  tw_buf_printf(b, ",\"status\":%d,\"latency_ms\":%.3f,\"bytes_in\":%lld,\"bytes_out\":%lld",
                w->status, (double)w->latency_us / 1000.0, (long long)w->bytes_in,
                (long long)w->bytes_out);
  tw_buf_puts(b, ",\"request_id\":");
  tw_json_write_string(b, w->request_id, strlen(w->request_id));
  tw_buf_puts(b, ",\"source_ip\":");
  tw_json_write_string(b, w->source_ip, strlen(w->source_ip));
  tw_buf_putc(b, '}');
  return 0;
}

static void read_log(tw_request *r) {
  char *lim = tw_req_query_param(r, "limit"), *since_s = tw_req_query_param(r, "since");
  long limit = 100;
  int64_t since = 0;
  char msg[200] = "";
  if (lim) {
    char *end;
    limit = strtol(lim, &end, 10);
    if (!*lim || *end || limit < 1 || limit > MAX_LIMIT)
      snprintf(msg, sizeof msg, "limit must be an integer from 1 to %d.", MAX_LIMIT);
  }
  if (since_s && !msg[0] && (since = tw_gw_parse_time(since_s)) < 0)
    snprintf(msg, sizeof msg,
             "since must be a time like 2030-01-31T12:00:00Z or milliseconds since the epoch.");
  free(lim);
  free(since_s);
  if (msg[0]) {
    tw_gw_error(r, TW_ERR_GW_BAD_REQUEST, msg);
    return;
  }
  /* written by hand: latency_ms with three decimals, not %.17g's noise */
  log_page p = {.limit = limit};
  tw_buf_init(&p.b, 64u << 20);
  tw_buf_puts(&p.b, "{\"entries\":[");
  /* one row more than asked tells whether the page is truncated */
  if (tw_store_gw_access_log(tw_gw_store(r->app))
          ->query(tw_gw_store(r->app), since, limit + 1, write_entry, &p)) {
    tw_buf_free(&p.b);
    tw_gw_store_error(r, "Cannot read the access log.");
    return;
  }
  tw_buf_printf(&p.b, "],\"truncated\":%s}", p.truncated ? "true" : "false");
  if (p.b.overflow) {
    tw_buf_free(&p.b);
    tw_gw_error(r, TW_ERR_INTERNAL, "The answer is too large.");
    return;
  }
  size_t len;
  char *data = tw_buf_detach(&p.b, &len);
  tw_req_respond_owned(r, 200, "application/json", data, len);
  tw_gw_cors_headers(r);
  tw_gw_alog_note(r, 200, len);
}

void tw_gw_alog_serve(tw_request *r) {
  /* read what was logged so far, not only what happens to be flushed */
  uint64_t t = tw_gw_alog_flush(r->app->gateway);
  tw_req_after_commit(r, t, read_log);
}
