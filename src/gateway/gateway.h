/* The gateway: tweedle's own HTTP API under /_/api/v1/ for producers and
 * consumers without AWS credentials (presigned URLs, jobs), guarded by API
 * keys or an external authorizer, throttled, with an access log. See
 * docs/gateway.md for the API. */
#ifndef TW_GATEWAY_GATEWAY_H
#define TW_GATEWAY_GATEWAY_H
#include <stddef.h>
#include <stdint.h>

#include "http/service.h"

typedef struct tw_app tw_app;
typedef struct tw_request tw_request;
typedef struct tw_gateway tw_gateway;

/* Loads the API keys, starts the authorizer and the periodic task (access log
 * flush and pruning); opens the job API. Sets app->gateway. */
int tw_gateway_open(tw_app *app, char *err, size_t errlen);
/* Shutdown begins: requests waiting for the authorizer are answered. */
void tw_gateway_stop(tw_app *app);
/* The store could not commit a batch (its writer thread): state kept in
 * memory (API keys) is compared with the store again. */
void tw_gateway_commit_failed(tw_app *app);
/* After the HTTP server stopped: flushes the access log, frees everything. */
void tw_gateway_close(tw_app *app);
/* The gateway as a service of the HTTP server: every path under /_/api/v1. */
extern const tw_service tw_gateway_service;

/* For the web console (src/console): 1 when token is a live API key with a
 * scope allowing the action "console" (its name copied to name), else 0. */
int tw_gateway_console_key(tw_app *app, const char *token, char *name, size_t n);

/* The job API's metrics (jobs_state.c), for the built-in tweedle/Jobs
 * metrics and Prometheus. Counted per job type as a change is recorded: at
 * most TW_JOBS_METRIC_TYPES types by name (the first seen since the server
 * started), the rest together as type "other". */
#define TW_JOBS_METRIC_TYPES 50
#define TW_JOBS_PROM_NB 14 /* Prometheus duration buckets (seconds) */
extern const double tw_jobs_prom_bounds[TW_JOBS_PROM_NB];
typedef struct {
  const char *type;
  /* since the server started */
  uint64_t submitted, succeeded, failed;
  uint64_t dur_b[TW_JOBS_PROM_NB + 1]; /* per bucket, not cumulative; last: above all */
  uint64_t dur_count;
  double dur_sum_s;
  /* since the last reset */
  uint64_t iv_submitted, iv_succeeded, iv_failed;
  const uint32_t *iv_dur; /* JobDuration, ms, in TW_BUILTIN_LAT_N buckets; NULL: none */
} tw_jobs_type_stats;
/* fn for each job type seen; reset: the interval counts start again afterwards. */
void tw_jobs_metrics(int reset, void (*fn)(void *ud, const tw_jobs_type_stats *s), void *ud);
/* Jobs now per status (queued, running, succeeded, failed), from the jobs
 * table: 0, or -1 when the job API is not running or the store failed. */
int tw_jobs_status_counts(int64_t out[4]);

/* tweedle apikey create|list|revoke (src/gateway/apikey_cli.c). */
int tw_apikey_main(int argc, char **argv);

#endif
