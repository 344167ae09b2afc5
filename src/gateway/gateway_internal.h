/* Internals shared by the files of the gateway (src/gateway/): the HTTP API
 * under /_/api/v1/ for credential-less producers and consumers.
 *
 *   gateway.c   routing under /_/api/v1/, JSON replies and errors, callers'
 *               authentication (API keys, external authorizer), scopes,
 *               throttling, the periodic task
 *   apikeys.c   the API key store and /_/api/v1/apikeys
 *   authorizer.c  the external authorizer (exec: or http:), its cache
 *   access_log.c  the access log (store table access_log), /_/api/v1/access-log
 *   presign.c   POST /_/api/v1/presign
 *   apikey_cli.c  tweedle apikey create|list|revoke
 *   jobs.c      /_/api/v1/jobs: submit, status, list, start/complete/fail */
#ifndef TW_GATEWAY_INTERNAL_H
#define TW_GATEWAY_INTERNAL_H
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "app.h"
#include "gateway/gateway.h"
#include "http/request.h"

/* Who is calling, once authenticated (an API key or the authorizer's answer).
 * Handed to handlers for the duration of the call only: copy what must outlive
 * it. scopes == NULL means an admin (SigV4-signed) caller, allowed everything. */
typedef struct {
  char principal[130]; /* the key's name, or the authorizer's principalId */
  char key_id[64];     /* the API key's id; "" for authorizer principals */
  json_t *scopes;      /* the caller's scopes (shape: see gateway.c), borrowed */
} tw_gw_caller;

/* --- gateway.c ------------------------------------------------------------------ */
/* {"error":{"code","message"}} with the error's status and code from the
 * table in core/errors.h; msg NULL or "": the table's message. */
void tw_gw_error(tw_request *r, tw_err e, const char *msg);
/* The store could not read or commit: 503 ServiceUnavailable while the
 * cluster's PostgreSQL is away (the client retries), else 500 with msg. */
void tw_gw_store_error(tw_request *r, const char *msg);
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

/* The store of the gateway's state: the embedded one, or in cluster mode the
 * PostgreSQL one (app->pg_store, store/pg_s3.h), whose repositories are the
 * gateway's tables there (store/pg_gw.h). */
static inline tw_store *tw_gw_store(const tw_app *app) {
  return app->pg_store ? app->pg_store : app->store;
}

/* --- shared by gateway.c, apikeys.c, authorizer.c, presign.c, access_log.c --------- */
#define TW_GW_PREFIX "/_/api/v1"
#define TW_GW_MAX_BODY (1u << 20) /* JSON request bodies */

typedef struct tw_gw_keys tw_gw_keys;
typedef struct tw_gw_authz tw_gw_authz;
typedef struct tw_gw_alog tw_gw_alog;

struct tw_gateway {
  tw_app *app;
  tw_gw_keys *keys;   /* apikeys.c */
  tw_gw_authz *authz; /* authorizer.c; NULL: no external authorizer */
  tw_gw_alog *alog;   /* access_log.c */
  double rate, burst; /* default throttle per caller (0: none) */
  int jobs_open;
  /* the periodic task: flushes the access log, prunes it, expires authorizer waits */
  pthread_t thread;
  int thread_started, stop;
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

/* A token bucket (throttling): `rate` tokens a second, at most `burst`. */
typedef struct {
  pthread_mutex_t mu;
  double tokens;
  int64_t last_us;
  int init;
} tw_gw_bucket;
void tw_gw_bucket_init(tw_gw_bucket *b);
void tw_gw_bucket_destroy(tw_gw_bucket *b);
/* Takes one token: 0, or the seconds until one is available. rate <= 0: no limit. */
double tw_gw_bucket_take(tw_gw_bucket *b, double rate, double burst);

/* gateway.c: time as the API shows it (ISO 8601 UTC, with milliseconds when ms). */
void tw_gw_iso8601(int64_t epoch_ms, int ms, char out[32]);
/* ISO 8601 (YYYY-MM-DDTHH:MM:SS[.fff]Z) or epoch milliseconds; -1 if neither. */
int64_t tw_gw_parse_time(const char *s);
/* Answers with doc (status) once the store has committed `ticket` (500 if it
 * could not). Uses r->ctx: only for routes that keep no context of their own. */
void tw_gw_json_after_commit(tw_request *r, uint64_t ticket, int status, json_t *doc);
/* For an answer that reports state it read from memory: waits for `own` (its
 * change, 0: none) and `seen` (as new as the state it read); fails if `own`
 * failed or any commit failed since `failures` (tw_store_failures, read
 * before the state was). */
void tw_gw_json_when_durable(tw_request *r, uint64_t own, uint64_t seen, uint64_t failures,
                             int status, json_t *doc);

/* scopes (gateway.c). A scope is an object:
 *   {"actions":["presign:put",...], "bucket":"b"|"*", "prefix":"in/",
 *    "max_bytes":N, "max_expires_in":S}
 * bucket defaults to "*", prefix to "" (any key); max_* are optional limits. */
int tw_gw_scopes_check(const json_t *scopes, char *msg, size_t n);
#define TW_GW_SIZE_UNKNOWN INT64_MAX /* an upload whose length was not declared */
/* The first scope that allows `action` on bucket/key (NULL: any) for an upload
 * of `size` bytes (-1: not an upload; TW_GW_SIZE_UNKNOWN) and a URL lifetime of
 * `expires` seconds (0: none). NULL when none does, with the reason in msg. For an admin caller
 * (scopes NULL) returns a static empty object. */
const json_t *tw_gw_scope_find(const tw_gw_caller *c, const char *action, const char *bucket,
                               const char *key, int64_t size, long expires, char *msg, size_t n);

/* apikeys.c */
typedef enum {
  TW_GW_KEY_OK,
  TW_GW_KEY_UNKNOWN,
  TW_GW_KEY_REVOKED,
  TW_GW_KEY_EXPIRED
} tw_gw_key_status;
int tw_gw_keys_open(tw_gateway *g, char *err, size_t errlen);
void tw_gw_keys_close(tw_gateway *g);
/* If a commit failed since the last call, makes the keys in memory those in
 * the store again (the periodic task, and every path that reads keys, first). */
void tw_gw_keys_resync(tw_gateway *g);
/* Looks a bearer token up. On OK fills c (scopes borrowed: keys are never freed
 * while the server runs) and the key's throttle bucket and limits. */
tw_gw_key_status tw_gw_keys_lookup(tw_gateway *g, const char *token, tw_gw_caller *c,
                                   tw_gw_bucket **bucket, double *rate, double *burst);
/* POST /_/api/v1/apikeys: the body's checks (name, scopes, expires_at |
 * expires_in, rate, burst) at time `now` (epoch ms). 0 with *out filled
 * (pointers into body; expires_ms 0: never, rate/burst -1: not given), or -1
 * with the 400's message. */
typedef struct {
  const char *name;
  json_t *scopes;
  int64_t expires_ms;
  double rate, burst;
} tw_gw_key_req;
int tw_gw_key_check(json_t *body, int64_t now, tw_gw_key_req *out, char *msg, size_t n);
/* /_/api/v1/apikeys[/ID] (admin only; checked by the caller). */
void tw_gw_apikeys_serve(tw_request *r, const char *sub);

/* authorizer.c: the external authorizer (--authorizer exec:CMD | http://URL). */
typedef struct tw_gw_answer {
  atomic_int refs;
  int allow;
  char principal[130];
  json_t *scopes;     /* the answer's scopes (an array) */
  int64_t expires_ms; /* monotonic: cached until then */
  int fail_status;    /* the authorizer failed (no answer): 403 or 503, with why */
  char why[200];
} tw_gw_answer;
void tw_gw_answer_release(tw_gw_answer *a);
/* A request waiting for the authorizer (lives in the request's context). */
typedef struct tw_gw_wait {
  tw_request *r;
  struct tw_gw_job *job; /* NULL once answered or cancelled */
  struct tw_gw_wait *next;
  tw_gw_answer *answer; /* set (referenced) before the request is woken */
} tw_gw_wait;
int tw_gw_authz_open(tw_gateway *g, const char *spec, int timeout_ms, char *err, size_t errlen);
/* Shutdown: requests still waiting are answered (503) and woken. */
void tw_gw_authz_stop(tw_gateway *g);
void tw_gw_authz_close(tw_gateway *g);
/* Fails waits that are past their deadline (called by the periodic task). */
void tw_gw_authz_tick(tw_gateway *g);
/* The answer for `token` when cached (referenced). Otherwise registers w (r
 * must then park: tw_req_suspend) and returns NULL; w->answer is set before
 * the request is woken. */
tw_gw_answer *tw_gw_authz_ask(tw_gateway *g, tw_request *r, const char *token, tw_gw_wait *w);
/* The request goes away while waiting (its context is freed). */
void tw_gw_authz_cancel(tw_gateway *g, tw_gw_wait *w);
/* The throttle bucket of an authorizer principal (kept until shutdown). */
tw_gw_bucket *tw_gw_authz_bucket(tw_gateway *g, const char *principal);

/* access_log.c: one row per gateway request, in the store. */
int tw_gw_alog_open(tw_gateway *g, double days, char *err, size_t errlen);
void tw_gw_alog_close(tw_gateway *g); /* flushes */
/* Notes the answer of a gateway request (called by tw_gw_json / tw_gw_error). */
void tw_gw_alog_note(tw_request *r, int status, size_t out_bytes);
/* Hands what is buffered to the store; returns the ticket covering it. */
uint64_t tw_gw_alog_flush(tw_gateway *g);
void tw_gw_alog_tick(tw_gateway *g, int64_t now_ms);
/* GET /_/api/v1/access-log (admin only; checked by the caller). */
void tw_gw_alog_serve(tw_request *r);

/* presign.c: POST /_/api/v1/presign. */
void tw_gw_presign_serve(tw_request *r, const tw_gw_caller *c);
/* Its body's checks (fields, method, expires_in, content_type,
 * content_length, filename, key, bucket), before any scope is looked at: 0
 * with *out filled (strings point into body; expires 0, clen -1, key or
 * bucket NULL: not given), or -1 with the 400's message. */
typedef struct {
  int put;
  long expires;
  const char *ctype, *filename, *key, *bucket;
  int64_t clen;
} tw_gw_presign_req;
int tw_gw_presign_check(json_t *body, tw_gw_presign_req *out, char *msg, size_t n);
/* The extension of a generated key: the filename's, else the content type's
 * (lower case, with its dot; "" none). */
void tw_gw_pick_ext(const char *filename, const char *ctype, char out[16]);

/* --- cors.c ------------------------------------------------------------------------ */
/* Access-Control-* on a response when the request's Origin is allowed. */
void tw_gw_cors_headers(tw_request *r);
/* Answers an OPTIONS preflight for a route allowing `methods`; 1 when answered. */
int tw_gw_cors_preflight(tw_request *r, const char *methods);

/* --- jobs.c ----------------------------------------------------------------------- */
int tw_jobs_open(tw_app *app, char *err, size_t errlen);
void tw_jobs_close(tw_app *app);
/* Serves /_/api/v1/jobs and /_/api/v1/jobs/... ; `sub` is the path after
 * "/_/api/v1/jobs" ("" or "/ID" or "/ID/start" ...). */
void tw_jobs_route(tw_request *r, const tw_gw_caller *c, const char *sub);

#endif
