/* CloudWatch Logs inside tweedle: log groups, log streams, and the events put
 * to them (the subset `aws logs` and the SDKs use: groups, retention,
 * streams, PutLogEvents, GetLogEvents, FilterLogEvents). The catalog (groups
 * and streams) lives in memory and in the store; events only in the store,
 * and reads see committed events only, so what PutLogEvents acknowledged is
 * what GetLogEvents shows.
 *
 * Operations are transport-free (tw_logs_call, JSON 1.1 shapes in and out);
 * logs_http.c is the HTTP front end. Sources inside the server (the gateway's
 * access log) call tw_logs_append. A message that is an Embedded Metric
 * Format document also becomes metrics (logs_emf.c). */
#ifndef TW_LOGS_LOGS_H
#define TW_LOGS_LOGS_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"
#include "store/store.h"

typedef struct tw_logs tw_logs;
struct tw_metrics;

/* CloudWatch's limits. */
#define TW_LOGS_MAX_EVENTS 10000
#define TW_LOGS_MAX_BATCH_BYTES 1048576 /* messages + 26 bytes per event */
#define TW_LOGS_EVENT_OVERHEAD 26
#define TW_LOGS_MAX_SPAN_MS (24LL * 3600 * 1000)
#define TW_LOGS_PAST_MS (14LL * 86400 * 1000)
#define TW_LOGS_FUTURE_MS (2LL * 3600 * 1000)

typedef struct {
  const char *region, *account;
  struct tw_metrics *metrics; /* EMF documents become metrics here; NULL: not */
  int sweep_ms;               /* retention sweep period; 0: TWEEDLE_LOGS_SWEEP_MS or 60 s */
  const char *listen;         /* cluster mode: this node's address (its server log stream) */
} tw_logs_opts;

tw_logs *tw_logs_open(tw_store *s, const tw_logs_opts *o, char *err, size_t errlen);
int tw_logs_start(tw_logs *l); /* the retention sweep */
void tw_logs_stop(tw_logs *l);
void tw_logs_close(tw_logs *l);
/* A store batch failed: the catalog is read back from the store. */
void tw_logs_commit_failed(tw_logs *l);
/* One pass of the retention sweep. */
void tw_logs_sweep(tw_logs *l);

/* One API call: the request in the JSON protocol's shapes, the answer set by
 * the operation; answer after the batches named by ticket/seen_ticket. */
typedef struct {
  tw_logs *logs;
  json_t *in, *out;
  tw_err err;
  char msg[1024];
  uint64_t ticket, seen_ticket;
} tw_logs_call;

/* Runs operation `name`; -1 when there is no such operation. */
int tw_logs_run(tw_logs_call *c, const char *name);

/* For sources inside the server: appends events (any order) to group/stream,
 * creating the group (with retention_days, 0: never expire) and the stream
 * when missing. Best effort: the ticket of the batch, 0 when nothing was
 * appended. EMF documents among them become metrics. */
typedef struct {
  int64_t ts; /* epoch ms */
  const char *msg;
  size_t len;
} tw_log_input;
uint64_t tw_logs_append(tw_logs *l, const char *group, int retention_days, const char *stream,
                        const tw_log_input *ev, size_t n);

/* The server's own log lines to /tweedle/server (logs_server.c): start
 * once the store's writer runs, stop before the store closes. */
int tw_logs_server_start(tw_logs *l);
/* Its stream: "server" on one node; in cluster mode one per node,
 * server-HOST-ADDRESS-PID (':' as '_'), so nodes never share one. */
const char *tw_logs_server_stream(const tw_logs *l);
void tw_logs_server_stop(void);

/* --- filter patterns (logs_filter.c) --------------------------------------- */
typedef struct tw_log_filter tw_log_filter;
/* NULL with msg set when the pattern is not valid; an empty pattern matches all. */
tw_log_filter *tw_log_filter_compile(const char *pattern, char *msg, size_t msglen);
int tw_log_filter_match(const tw_log_filter *f, const char *msg, size_t len);
void tw_log_filter_free(tw_log_filter *f);

/* --- Embedded Metric Format (logs_emf.c) ----------------------------------- */
/* Puts the metrics of the EMF documents among msgs (others are skipped);
 * returns the ticket of the batch holding them (0: none). */
uint64_t tw_logs_emf_put(struct tw_metrics *m, const tw_log_input *ev, size_t n);

#endif
