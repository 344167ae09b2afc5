/* The gateway: tweedle's own HTTP API under /_/api/v1/ for producers and
 * consumers without AWS credentials (presigned URLs, jobs), guarded by API
 * keys or an external authorizer, throttled, with an access log. See
 * docs/gateway.md for the API. */
#ifndef TW_GATEWAY_GATEWAY_H
#define TW_GATEWAY_GATEWAY_H
#include <stddef.h>

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

/* tweedle apikey create|list|revoke (src/gateway/apikey_cli.c). */
int tw_apikey_main(int argc, char **argv);

#endif
