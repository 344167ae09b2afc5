/* The gateway's access log, like API Gateway's: one row per request (time,
 * caller, route, status, latency, bytes) in the store's access_log table.
 *
 * Why the store and not a JSONL file: GET /_/api/v1/access-log filters by time
 * with an index instead of scanning files, retention is one DELETE, and the
 * log lives (and is backed up) with the rest of the state. Rows are buffered
 * and written as one statement per flush (every 200 ms, or at 2,000 rows), so
 * the log costs the writer thread one insert batch, not one operation per
 * request. A crash can lose the last 200 ms of log, never an acknowledged
 * change: nothing waits for the log to be durable. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json_out.h"
#include "gateway/gateway_internal.h"

#define FLUSH_ROWS 2048
#define MAX_LIMIT 1000
#define BATCH 32 /* rows per INSERT statement */

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

static void row_vals(const alog_row *w, tw_sql_val *v) {
  v[0] = TW_SQL_I(w->time_ms);
  v[1] = TW_SQL_S(w->principal);
  v[2] = TW_SQL_S(w->auth);
  v[3] = TW_SQL_S(w->method);
  v[4] = TW_SQL_S(w->route);
  v[5] = TW_SQL_S(w->path);
  v[6] = TW_SQL_I(w->status);
  v[7] = TW_SQL_I(w->latency_us);
  v[8] = TW_SQL_I(w->bytes_in);
  v[9] = TW_SQL_I(w->bytes_out);
  v[10] = TW_SQL_S(w->request_id);
  v[11] = TW_SQL_S(w->ip);
}

#define COLS                                                                           \
  "INSERT INTO access_log(time_ms,principal,auth,method,route,path,status,latency_us," \
  "bytes_in,bytes_out,request_id,source_ip) VALUES"
#define ROW "(?,?,?,?,?,?,?,?,?,?,?,?)"
#define ROW4 ROW "," ROW "," ROW "," ROW
#define ROW16 ROW4 "," ROW4 "," ROW4 "," ROW4

/* Under a->mu: keeps the order of flushes the order of their tickets. Rows go
 * 32 to a statement (one prepared statement, bound once per 32 rows). */
static uint64_t flush_locked(tw_gw_alog *a) {
  tw_store *s = a->g->app->store;
  if (!a->count) return tw_store_ticket(s);
  uint64_t t = 0;
  size_t i = 0;
  tw_sql_val v[BATCH * 12];
  for (; i + BATCH <= a->count; i += BATCH) {
    for (int k = 0; k < BATCH; k++) row_vals(&a->rows[i + (size_t)k], v + 12 * k);
    t = tw_store_exec(s, COLS ROW16 "," ROW16, v, BATCH * 12);
  }
  for (; i < a->count; i++) {
    row_vals(&a->rows[i], v);
    t = tw_store_exec(s, COLS ROW, v, 12);
  }
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
  tw_sql_val v[] = {TW_SQL_I(now_ms - keep_ms)};
  tw_store_exec(g->app->store, "DELETE FROM access_log WHERE time_ms<?", v, 1);
}

/* --- GET /_/api/v1/access-log?limit=&since= ------------------------------------------------ */

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
  sqlite3_stmt *st = tw_store_read_stmt(
      r->app->store,
      "SELECT time_ms,principal,auth,method,route,path,status,latency_us,bytes_in,bytes_out,"
      "request_id,source_ip FROM access_log WHERE time_ms>=? ORDER BY id DESC LIMIT ?");
  if (!st) {
    tw_gw_error(r, TW_ERR_INTERNAL, "Cannot read the access log.");
    return;
  }
  sqlite3_bind_int64(st, 1, since);
  sqlite3_bind_int64(st, 2, limit + 1);
  /* written by hand: latency_ms with three decimals, not %.17g's noise */
  tw_buf b;
  tw_buf_init(&b, 64u << 20);
  tw_buf_puts(&b, "{\"entries\":[");
  long n = 0;
  int truncated = 0;
  static const char *const names[] = {"principal", "auth", "method", "route", "path"};
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (n == limit) {
      truncated = 1;
      break;
    }
    char t[32];
    tw_gw_iso8601(sqlite3_column_int64(st, 0), 1, t);
    tw_buf_printf(&b, "%s{\"time\":\"%s\"", n++ ? "," : "", t);
    for (int i = 0; i < 5; i++) {
      const char *v = (const char *)sqlite3_column_text(st, i + 1);
      tw_buf_printf(&b, ",\"%s\":", names[i]);
      tw_json_write_string(&b, v ? v : "", v ? strlen(v) : 0);
    }
    tw_buf_printf(&b, ",\"status\":%d,\"latency_ms\":%.3f,\"bytes_in\":%lld,\"bytes_out\":%lld",
                  sqlite3_column_int(st, 6), (double)sqlite3_column_int64(st, 7) / 1000.0,
                  (long long)sqlite3_column_int64(st, 8), (long long)sqlite3_column_int64(st, 9));
    for (int i = 10; i < 12; i++) {
      const char *v = (const char *)sqlite3_column_text(st, i);
      tw_buf_puts(&b, i == 10 ? ",\"request_id\":" : ",\"source_ip\":");
      tw_json_write_string(&b, v ? v : "", v ? strlen(v) : 0);
    }
    tw_buf_putc(&b, '}');
  }
  tw_store_read_done(st);
  tw_buf_printf(&b, "],\"truncated\":%s}", truncated ? "true" : "false");
  if (b.overflow) {
    tw_buf_free(&b);
    tw_gw_error(r, TW_ERR_INTERNAL, "The answer is too large.");
    return;
  }
  size_t len;
  char *data = tw_buf_detach(&b, &len);
  tw_req_respond_owned(r, 200, "application/json", data, len);
  tw_gw_cors_headers(r);
  tw_gw_alog_note(r, 200, len);
}

void tw_gw_alog_serve(tw_request *r) {
  /* read what was logged so far, not only what happens to be flushed */
  uint64_t t = tw_gw_alog_flush(r->app->gateway);
  tw_req_after_commit(r, t, read_log);
}
