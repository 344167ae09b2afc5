/* Internals shared by the files of the gateway (src/gateway/): the HTTP API
 * under /_/api/v1/ for credential-less producers and consumers.
 *
 *   gateway.c   routing under /_/api/v1/, JSON replies and errors, callers'
 *               authentication (API keys, external authorizer), scopes,
 *               throttling, the access log
 *   apikeys.c   the API key store and /_/api/v1/apikeys
 *   presign.c   POST /_/api/v1/presign
 *   jobs.c      /_/api/v1/jobs: submit, status, list, start/complete/fail */
#ifndef TW_GATEWAY_INTERNAL_H
#define TW_GATEWAY_INTERNAL_H
#include <jansson.h>

#include "app.h"
#include "http/request.h"

/* Who is calling, once authenticated (an API key or the authorizer's answer). */
typedef struct {
  char principal[130]; /* the key's name, or the authorizer's principalId */
  char key_id[64];     /* the API key's id; "" for authorizer principals */
  json_t *scopes;      /* the caller's scopes (shape: see gateway.c), borrowed */
} tw_gw_caller;

/* --- gateway.c ------------------------------------------------------------------ */
/* {"error":{"code":code,"message":msg}} with status. */
void tw_gw_error(tw_request *r, int status, const char *code, const char *msg);
/* Answers with a JSON document (steals the reference). */
void tw_gw_json(tw_request *r, int status, json_t *doc);
/* The request body as a JSON object, or NULL after answering 400 BadRequest. */
json_t *tw_gw_body_json(tw_request *r);
/* 1 when the caller's scopes allow `action` ("jobs:submit", "presign:put", ...)
 * on bucket/key (either may be NULL when the action has none); otherwise
 * answers 403 AccessDenied and returns 0. */
int tw_gw_allow(tw_request *r, const tw_gw_caller *c, const char *action, const char *bucket,
                const char *key);
/* A SigV4 presigned GET URL for bucket/key valid for `expires` seconds, signed
 * with a server credential, based on the request's public URL (caller frees). */
char *tw_gw_presign_get(tw_request *r, const char *bucket, const char *key, int expires);

/* --- jobs.c ----------------------------------------------------------------------- */
int tw_jobs_open(tw_app *app, char *err, size_t errlen);
void tw_jobs_close(tw_app *app);
/* Serves /_/api/v1/jobs and /_/api/v1/jobs/... ; `sub` is the path after
 * "/_/api/v1/jobs" ("" or "/ID" or "/ID/start" ...). */
void tw_jobs_route(tw_request *r, const tw_gw_caller *c, const char *sub);

#endif
