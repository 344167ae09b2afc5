/* Internals shared by the files of the web console (src/console/).
 *
 *   console.c   the service: routing, security headers, JSON replies
 *   session.c   log in / log out, sessions, CSRF tokens, failed-login limits
 *   assets.c    the static files (embedded at build time, scripts/embed_assets.sh)
 *   api.c       overview, alarms, jobs, dashboards, metrics, logs
 *   api_sqs.c   queues: list, attributes, peek, send, purge, redrive
 *   api_s3.c    buckets: browse, object details, presigned upload/download/delete
 *   api_events.c  topics and subscriptions, event buses, rules and targets */
#ifndef TW_CONSOLE_INTERNAL_H
#define TW_CONSOLE_INTERNAL_H
#include <jansson.h>
#include <stdint.h>

#include "app.h"
#include "console/console.h"
#include "core/errors.h"
#include "http/request.h"

#define TW_CONSOLE_PREFIX "/_/console"
#define TW_CONSOLE_API TW_CONSOLE_PREFIX "/api"
#define TW_CONSOLE_COOKIE "tweedle_console"

/* A logged-in caller, for the duration of one request. */
typedef struct {
  char principal[130];
  char csrf[65];
} tw_console_who;

/* The store the engines keep their state in: the cluster's (PostgreSQL) in
 * cluster mode, else this node's. */
static inline tw_store *tw_console_store(const tw_app *app) {
  return app->pg_store ? app->pg_store : app->store;
}

/* console.c */
/* {"error":{"code","message"}} with status; msg NULL: the code. */
void tw_console_error(tw_request *r, int status, const char *code, const char *msg);
/* Answers with doc (steals the reference). */
void tw_console_json(tw_request *r, int status, json_t *doc);
/* Answers doc once the store has committed `own` and `seen` (500 if own failed). */
void tw_console_json_after(tw_request *r, uint64_t own, uint64_t seen, int status, json_t *doc);
/* The request body as a JSON object, or NULL after answering 400. */
json_t *tw_console_body(tw_request *r);
/* Security headers every console response carries. */
void tw_console_headers(tw_request *r);
int64_t tw_console_started_ms(void);

/* session.c */
int tw_console_sessions_open(void);
void tw_console_sessions_close(void);
/* POST /api/login, POST /api/logout, GET /api/session. */
void tw_console_login(tw_request *r);
void tw_console_logout(tw_request *r);
/* 1 with who filled when the request carries a live session; else 0 and a 401
 * has been answered. State-changing methods also need the CSRF token (else 403). */
int tw_console_authorize(tw_request *r, tw_console_who *who);

/* assets.c: 1 when path named an asset (answered), 0 when not. */
int tw_console_asset(tw_request *r, const char *path);

/* api*.c: `sub` is the path after /_/console/api (starting with '/'). Each
 * returns 1 when it answered, 0 when the route is not its. */
int tw_console_api_misc(tw_request *r, const tw_console_who *who, const char *sub);
int tw_console_api_sqs(tw_request *r, const tw_console_who *who, const char *sub);
int tw_console_api_s3(tw_request *r, const tw_console_who *who, const char *sub);
int tw_console_api_events(tw_request *r, const tw_console_who *who, const char *sub);

/* A path segment, percent-decoded (free it), from s up to '/' or the end; *rest
 * is set past it. NULL when empty. */
char *tw_console_segment(const char *s, const char **rest);

#endif
