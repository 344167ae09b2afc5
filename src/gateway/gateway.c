/* The gateway's front: routes under /_/api/v1/, JSON replies and errors, who
 * the caller is (SigV4 admin, API key, external authorizer), scopes,
 * throttling, and the periodic task. */
#include "gateway/gateway.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/json_out.h"
#include "core/log.h"
#include "gateway/gateway_internal.h"
#include "store/pg_gw.h"
#include "store/pg_s3.h"

#define MAX_TOKEN 4096

typedef enum { RT_NONE, RT_PRESIGN, RT_APIKEYS, RT_APIKEY, RT_ACCESS_LOG, RT_JOBS } route_id;

/* What a gateway request keeps across a park (authorizer, commit wait). */
typedef struct {
  tw_gateway *g;
  route_id route;
  const char *sub; /* the rest of the path after the route's name */
  tw_gw_wait wait;
  tw_gw_answer *answer; /* the authorizer's answer the caller's scopes come from */
  json_t *reply;        /* tw_gw_json_after_commit */
  int reply_status;
  int reply_checks_failures; /* tw_gw_json_when_durable: */
  uint64_t reply_failures;   /* tw_store_failures before the state was read */
} gw_ctx;

/* --- replies ------------------------------------------------------------------------ */

void tw_gw_json(tw_request *r, int status, json_t *doc) {
  if (!doc) {
    tw_gw_error(r, TW_ERR_INTERNAL, "We encountered an internal error. Please try again.");
    return;
  }
  tw_buf b;
  tw_buf_init(&b, 64u << 20);
  if (tw_json_write(&b, doc) || b.overflow) {
    tw_buf_free(&b);
    json_decref(doc);
    tw_gw_error(r, TW_ERR_INTERNAL, "The response is too large.");
    return;
  }
  json_decref(doc);
  size_t len;
  char *data = tw_buf_detach(&b, &len);
  tw_req_respond_owned(r, status, "application/json", data, len);
  tw_gw_cors_headers(r);
  tw_gw_alog_note(r, status, len);
}

void tw_gw_error(tw_request *r, tw_err e, const char *msg) {
  const tw_err_info *info = tw_err_get(e);
  int status = info->http_status;
  const char *code = info->code;
  if (!msg || !*msg) msg = info->message;
  tw_buf b;
  tw_buf_init(&b, 64 * 1024);
  tw_buf_puts(&b, "{\"error\":{\"code\":");
  tw_json_write_string(&b, code, strlen(code));
  tw_buf_puts(&b, ",\"message\":");
  tw_json_write_string(&b, msg, strlen(msg));
  tw_buf_puts(&b, "}}");
  size_t len;
  char *data = tw_buf_detach(&b, &len);
  tw_req_respond_owned(r, status, "application/json", data, len);
  if (status == 401) tw_req_add_header(r, "WWW-Authenticate", "Bearer");
  tw_gw_cors_headers(r);
  tw_gw_alog_note(r, status, len);
}

void tw_gw_store_error(tw_request *r, const char *msg) {
  if (r->app->pg_store && tw_store_pg_s3_unavailable(r->app->pg_store))
    tw_gw_error(r, TW_ERR_SERVICE_UNAVAILABLE, "The store is unavailable; try again later.");
  else
    tw_gw_error(r, TW_ERR_INTERNAL, msg);
}

json_t *tw_gw_body_json(tw_request *r) {
  if (!r->body.len) {
    tw_gw_error(r, TW_ERR_GW_BAD_REQUEST, "The request body must be a JSON object.");
    return NULL;
  }
  json_error_t je;
  json_t *j = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &je);
  if (!j) {
    char msg[300];
    snprintf(msg, sizeof msg, "The request body is not valid JSON: %s (line %d, column %d).",
             je.text, je.line, je.column);
    tw_gw_error(r, TW_ERR_GW_BAD_REQUEST, msg);
    return NULL;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    tw_gw_error(r, TW_ERR_GW_BAD_REQUEST, "The request body must be a JSON object.");
    return NULL;
  }
  return j;
}

/* --- time ----------------------------------------------------------------------------- */

void tw_gw_iso8601(int64_t epoch_ms, int ms, char out[32]) {
  time_t t = (time_t)(epoch_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  size_t n = strftime(out, 24, "%Y-%m-%dT%H:%M:%S", &tm);
  if (ms)
    snprintf(out + n, 32 - n, ".%03dZ", (int)(epoch_ms % 1000 + 1000) % 1000);
  else
    snprintf(out + n, 32 - n, "Z");
}

int64_t tw_gw_parse_time(const char *s) {
  if (!s || !*s) return -1;
  if (strspn(s, "0123456789") == strlen(s)) return strlen(s) <= 15 ? atoll(s) : -1;
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!p) return -1;
  int64_t frac = 0;
  if (*p == '.') {
    int digits = 0;
    for (p++; *p >= '0' && *p <= '9'; p++, digits++)
      if (digits < 3) frac = frac * 10 + (*p - '0');
    if (!digits) return -1;
    for (; digits < 3; digits++) frac *= 10;
  }
  if (strcmp(p, "Z") && strcmp(p, "+00:00")) return -1;
  time_t t = timegm(&tm);
  return t < 0 ? -1 : (int64_t)t * 1000 + frac;
}

/* --- throttling ------------------------------------------------------------------------- */

void tw_gw_bucket_init(tw_gw_bucket *b) {
  memset(b, 0, sizeof *b);
  pthread_mutex_init(&b->mu, NULL);
}

void tw_gw_bucket_destroy(tw_gw_bucket *b) {
  pthread_mutex_destroy(&b->mu);
}

double tw_gw_bucket_take(tw_gw_bucket *b, double rate, double burst) {
  if (rate <= 0) return 0;
  if (burst < 1) burst = 1;
  int64_t now = (int64_t)(tw_mono_sec() * 1e6);
  double wait = 0;
  pthread_mutex_lock(&b->mu);
  if (!b->init) {
    b->tokens = burst;
    b->init = 1;
  } else {
    b->tokens += (double)(now - b->last_us) * rate / 1e6;
  }
  if (b->tokens > burst) b->tokens = burst;
  b->last_us = now;
  if (b->tokens >= 1)
    b->tokens -= 1;
  else
    wait = (1 - b->tokens) / rate;
  pthread_mutex_unlock(&b->mu);
  return wait;
}

/* 1 after answering 429 TooManyRequests with Retry-After. In cluster mode
 * the bucket `name` is in PostgreSQL, shared by every node (when it cannot
 * be reached, this node's own bucket decides). */
static int throttled(tw_request *r, const char *name, tw_gw_bucket *b, double rate, double burst) {
  double wait = 0;
  if (rate <= 0) return 0;
  if (!r->app->pg_store || tw_store_pg_gw_take(r->app->pg_store, name, rate, burst, &wait))
    wait = tw_gw_bucket_take(b, rate, burst);
  if (wait <= 0) return 0;
  long secs = (long)ceil(wait);
  if (secs < 1) secs = 1;
  char msg[200], v[32];
  snprintf(msg, sizeof msg,
           "Rate exceeded: at most %g requests a second (burst %g). Retry after %ld s.", rate,
           burst < 1 ? 1 : burst, secs);
  tw_gw_error(r, TW_ERR_GW_TOO_MANY_REQUESTS, msg);
  snprintf(v, sizeof v, "%ld", secs);
  tw_req_add_header(r, "Retry-After", v);
  return 1;
}

/* --- scopes ------------------------------------------------------------------------------ */

static const char *const k_actions[] = {"presign:put", "presign:get", "jobs:submit",
                                        "jobs:read",   "jobs:update", "presign:*",
                                        "jobs:*",      "console",     "*"};

static int action_known(const char *a) {
  for (size_t i = 0; i < sizeof k_actions / sizeof k_actions[0]; i++)
    if (!strcmp(a, k_actions[i])) return 1;
  return 0;
}

static int action_matches(const char *pattern, const char *action) {
  size_t n = strlen(pattern);
  if (!strcmp(pattern, "*")) return 1;
  if (n >= 2 && pattern[n - 1] == '*' && pattern[n - 2] == ':')
    return !strncmp(pattern, action, n - 1);
  return !strcmp(pattern, action);
}

static int bucket_pattern_ok(const char *b) {
  size_t n = strlen(b);
  if (!strcmp(b, "*")) return 1;
  if (n < 3 || n > 63) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-' ||
          b[i] == '.'))
      return 0;
  return 1;
}

int tw_gw_scopes_check(const json_t *scopes, char *msg, size_t n) {
  if (!json_is_array(scopes)) {
    snprintf(msg, n, "scopes must be an array of scope objects.");
    return -1;
  }
  if (json_array_size(scopes) > 100) {
    snprintf(msg, n, "scopes may hold at most 100 scopes.");
    return -1;
  }
  size_t i;
  json_t *s;
  json_array_foreach(scopes, i, s) {
    if (!json_is_object(s)) {
      snprintf(msg, n, "scopes[%zu] must be an object.", i);
      return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
      if (!strcmp(k, "actions")) {
        if (!json_is_array(v) || !json_array_size(v)) {
          snprintf(msg, n, "scopes[%zu].actions must be a non-empty array.", i);
          return -1;
        }
        size_t j;
        json_t *a;
        json_array_foreach(v, j, a) {
          if (!json_is_string(a) || !action_known(json_string_value(a))) {
            snprintf(msg, n,
                     "scopes[%zu].actions[%zu] is not an action: use presign:put, presign:get, "
                     "jobs:submit, jobs:read, jobs:update, presign:*, jobs:*, console or *.",
                     i, j);
            return -1;
          }
        }
      } else if (!strcmp(k, "bucket")) {
        if (!json_is_string(v) || !bucket_pattern_ok(json_string_value(v))) {
          snprintf(msg, n, "scopes[%zu].bucket must be a bucket name or \"*\".", i);
          return -1;
        }
      } else if (!strcmp(k, "prefix")) {
        if (!json_is_string(v) || json_string_length(v) > 1024) {
          snprintf(msg, n, "scopes[%zu].prefix must be a string of at most 1024 bytes.", i);
          return -1;
        }
      } else if (!strcmp(k, "max_bytes")) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > (json_int_t)5 * 1024 * 1024 * 1024) {
          snprintf(msg, n, "scopes[%zu].max_bytes must be an integer from 0 to 5368709120.", i);
          return -1;
        }
      } else if (!strcmp(k, "max_expires_in")) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 604800) {
          snprintf(msg, n, "scopes[%zu].max_expires_in must be an integer from 1 to 604800.", i);
          return -1;
        }
      } else {
        snprintf(msg, n,
                 "scopes[%zu] has an unknown field '%.64s' (known: actions, bucket, prefix, "
                 "max_bytes, max_expires_in).",
                 i, k);
        return -1;
      }
    }
    if (!json_object_get(s, "actions")) {
      snprintf(msg, n, "scopes[%zu].actions is required.", i);
      return -1;
    }
  }
  return 0;
}

static json_t *g_admin_scope;
static pthread_once_t g_admin_once = PTHREAD_ONCE_INIT;
static void admin_scope_init(void) {
  g_admin_scope = json_object();
}

const json_t *tw_gw_scope_find(const tw_gw_caller *c, const char *action, const char *bucket,
                               const char *key, int64_t size, long expires, char *msg, size_t n) {
  if (!c->scopes) {
    pthread_once(&g_admin_once, admin_scope_init);
    return g_admin_scope;
  }
  /* the furthest any scope got, for the most useful reason */
  int stage = 0;
  json_int_t limit = 0;
  size_t i;
  json_t *s;
  json_array_foreach(c->scopes, i, s) {
    json_t *acts = json_object_get(s, "actions"), *a;
    size_t j;
    int ok = 0;
    json_array_foreach(acts, j, a) ok |= action_matches(json_string_value(a), action);
    if (!ok) continue;
    if (stage < 1) stage = 1;
    const char *sb = json_string_value(json_object_get(s, "bucket"));
    if (bucket && sb && strcmp(sb, "*") && strcmp(sb, bucket)) continue;
    if (stage < 2) stage = 2;
    const char *sp = json_string_value(json_object_get(s, "prefix"));
    if (key && sp && strncmp(key, sp, strlen(sp))) continue;
    if (stage < 3) stage = 3;
    json_t *mb = json_object_get(s, "max_bytes");
    if (size >= 0 && mb && size > json_integer_value(mb)) {
      if (stage <= 3) limit = json_integer_value(mb);
      continue;
    }
    if (stage < 4) stage = 4;
    json_t *me = json_object_get(s, "max_expires_in");
    if (expires > 0 && me && expires > json_integer_value(me)) {
      limit = json_integer_value(me);
      continue;
    }
    return s;
  }
  switch (stage) {
    case 0:
      snprintf(msg, n, "The caller is not allowed to %s.", action);
      break;
    case 1:
      snprintf(msg, n, "The caller may not %s in bucket '%s'.", action, bucket ? bucket : "");
      break;
    case 2:
      snprintf(msg, n,
               "The caller may not %s the key '%.300s': it is outside the prefixes allowed in "
               "bucket '%s'.",
               action, key ? key : "", bucket ? bucket : "");
      break;
    case 3:
      if (size == TW_GW_SIZE_UNKNOWN)
        snprintf(
            msg, n,
            "content_length is required: the caller may presign uploads of at most %lld bytes.",
            (long long)limit);
      else
        snprintf(
            msg, n,
            "content_length %lld exceeds the largest upload the caller may presign (%lld bytes).",
            (long long)size, (long long)limit);
      break;
    default:
      snprintf(
          msg, n,
          "expires_in %ld exceeds the longest URL lifetime the caller may presign (%lld seconds).",
          expires, (long long)limit);
  }
  return NULL;
}

int tw_gw_allow(tw_request *r, const tw_gw_caller *c, const char *action, const char *bucket,
                const char *key) {
  char msg[600];
  if (tw_gw_scope_find(c, action, bucket, key, -1, 0, msg, sizeof msg)) return 1;
  tw_gw_error(r, TW_ERR_ACCESS_DENIED, msg);
  return 0;
}

/* --- request context -------------------------------------------------------------------- */

static void ctx_free(void *p) {
  gw_ctx *x = p;
  if (!x) return;
  if (x->wait.job) tw_gw_authz_cancel(x->g, &x->wait);
  if (x->wait.answer) tw_gw_answer_release(x->wait.answer);
  if (x->answer) tw_gw_answer_release(x->answer);
  json_decref(x->reply);
  free(x);
}

static gw_ctx *ctx_of(tw_request *r) {
  if (r->ctx && r->ctx_free == ctx_free) return r->ctx;
  gw_ctx *x = calloc(1, sizeof *x);
  if (!x) return NULL;
  x->g = r->app->gateway;
  r->ctx = x;
  r->ctx_free = ctx_free;
  return x;
}

static void reply_after_commit(tw_request *r) {
  gw_ctx *x = r->ctx;
  json_t *doc = x->reply;
  x->reply = NULL;
  if (r->commit_failed ||
      (x->reply_checks_failures && tw_store_failures(tw_gw_store(r->app)) != x->reply_failures)) {
    json_decref(doc);
    tw_gw_store_error(r, "The change could not be made durable. Please try again.");
    return;
  }
  tw_gw_json(r, x->reply_status, doc);
}

/* Keeps the reply until the commit it waits for; 0, or -1 (answered). */
static int keep_reply(tw_request *r, int status, json_t *doc, int checks, uint64_t failures) {
  gw_ctx *x = ctx_of(r);
  if (!x) {
    json_decref(doc);
    tw_gw_error(r, TW_ERR_INTERNAL, "Out of memory.");
    return -1;
  }
  json_decref(x->reply);
  x->reply = doc;
  x->reply_status = status;
  x->reply_checks_failures = checks;
  x->reply_failures = failures;
  return 0;
}

void tw_gw_json_after_commit(tw_request *r, uint64_t ticket, int status, json_t *doc) {
  if (keep_reply(r, status, doc, 0, 0) == 0) tw_req_after_commit(r, ticket, reply_after_commit);
}

void tw_gw_json_when_durable(tw_request *r, uint64_t own, uint64_t seen, uint64_t failures,
                             int status, json_t *doc) {
  if (keep_reply(r, status, doc, 1, failures) == 0)
    tw_req_after_commits(r, own, seen, reply_after_commit);
}

/* --- routing ------------------------------------------------------------------------------ */

/* The gateway's routes as data: the path under /_/api/v1 ("{id}" one
 * segment; a trailing "/..." the rest, handled by the route), the methods it
 * takes (405 with Allow otherwise; NULL: the route checks), and who may call
 * it (admin: SigV4 by a server credential only). The log names a request by
 * its method and pattern ("POST /jobs/{id}/start"). */
typedef struct {
  const char *pattern;
  route_id id;
  const char *allow;
  int admin;
} gw_route;

static const gw_route routes[] = {
    {"/presign", RT_PRESIGN, "POST", 0},
    {"/apikeys", RT_APIKEYS, "GET, POST", 1},
    {"/apikeys/{id}", RT_APIKEY, "GET, DELETE", 1},
    {"/access-log", RT_ACCESS_LOG, "GET", 1},
    {"/jobs/...", RT_JOBS, NULL, 0},
};

typedef struct {
  const gw_route *route; /* NULL: no such route */
  const char *sub;       /* what follows the fixed part: "/ID" or "/ID/start" */
} route_match;

static int method_in(const char *m, const char *list) {
  size_t n = strlen(m);
  for (const char *p = list; *p;) {
    size_t k = strcspn(p, ", ");
    if (k == n && !strncmp(p, m, n)) return 1;
    p += k;
    p += strspn(p, ", ");
  }
  return 0;
}

/* p: the path after /_/api/v1. Names the request in `action`. */
static route_match match_route(const char *path, char *action, size_t alen, const char *method) {
  route_match m = {NULL, ""};
  const char *p = path + strlen(TW_GW_PREFIX);
  for (size_t i = 0; i < sizeof routes / sizeof routes[0] && !m.route; i++) {
    const char *pat = routes[i].pattern;
    const char *brace = strstr(pat, "/{id}"), *rest = strstr(pat, "/...");
    size_t fixed = brace ? (size_t)(brace - pat) : rest ? (size_t)(rest - pat) : strlen(pat);
    if (strncmp(p, pat, fixed)) continue;
    const char *tail = p + fixed;
    if (brace  ? tail[0] == '/' && tail[1] && !strchr(tail + 1, '/')
        : rest ? !*tail || *tail == '/'
               : !*tail) {
      m.route = &routes[i];
      m.sub = tail;
    }
  }
  if (!m.route) {
    snprintf(action, alen, "%s %.50s", method, p);
  } else if (m.route->id == RT_JOBS) {
    /* "/jobs/ID/start" -> "/jobs/{id}/start" */
    const char *verb = m.sub[0] ? strchr(m.sub + 1, '/') : NULL;
    snprintf(action, alen, "%s /jobs%s%.30s", method, m.sub[0] ? "/{id}" : "", verb ? verb : "");
  } else {
    snprintf(action, alen, "%s %s", method, m.route->pattern);
  }
  return m;
}

/* Admin routes: SigV4 signed by one of the server's credentials. 0 when the
 * caller is one (r->principal set); else answered. */
static int admin_auth(tw_request *r) {
  const char *auth = tw_req_header(r, "Authorization");
  int presigned = strstr(r->query, "X-Amz-Algorithm=") != NULL;
  if (!auth && !presigned) {
    tw_gw_error(r, TW_ERR_GW_UNAUTHORIZED,
                "This route needs a request signed with SigV4 by an admin credential.");
    return -1;
  }
  if (auth && !strncasecmp(auth, "Bearer", 6)) {
    tw_gw_error(r, TW_ERR_ACCESS_DENIED,
                "API keys may not use this route: sign the request with SigV4 using an admin "
                "credential.");
    return -1;
  }
  char msg[1024];
  tw_err e = tw_req_authenticate(r, msg, sizeof msg);
  if (e != TW_ERR_OK) {
    tw_gw_error(r, e, msg);
    return -1;
  }
  char ak[sizeof r->principal];
  memcpy(ak, r->principal, sizeof ak);
  snprintf(r->principal, sizeof r->principal, "sigv4:%.120s", ak);
  return 0;
}

static void dispatch(tw_request *r, gw_ctx *x, const tw_gw_caller *c) {
  r->t_handler = tw_mono_sec(); /* authenticated, not throttled: the integration begins */
  if (x->route == RT_PRESIGN) {
    tw_gw_presign_serve(r, c);
    return;
  }
  /* jobs.c may keep its own r->ctx: hand it a clean request */
  tw_gw_answer *keep = x->answer;
  x->answer = NULL;
  const char *sub = x->sub;
  r->ctx = NULL;
  r->ctx_free = NULL;
  ctx_free(x);
  tw_jobs_route(r, c, sub);
  if (keep) tw_gw_answer_release(keep);
}

static void with_answer(tw_request *r, gw_ctx *x, tw_gw_answer *a) {
  if (a->fail_status) {
    tw_gw_error(r, a->fail_status == 503 ? TW_ERR_SERVICE_UNAVAILABLE : TW_ERR_ACCESS_DENIED,
                a->why);
    tw_gw_answer_release(a);
    return;
  }
  if (!a->allow) {
    tw_gw_error(r, TW_ERR_ACCESS_DENIED, "The authorizer denied the request.");
    tw_gw_answer_release(a);
    return;
  }
  x->answer = a;
  tw_gw_caller c;
  memset(&c, 0, sizeof c);
  snprintf(c.principal, sizeof c.principal, "%s", a->principal);
  c.scopes = a->scopes;
  snprintf(r->principal, sizeof r->principal, "authorizer:%.110s", a->principal);
  char name[300];
  snprintf(name, sizeof name, "authorizer:%s", a->principal);
  if (throttled(r, name, tw_gw_authz_bucket(x->g, a->principal), x->g->rate, x->g->burst)) return;
  dispatch(r, x, &c);
}

static void resume_authorized(tw_request *r) {
  gw_ctx *x = r->ctx;
  tw_gw_answer *a = x->wait.answer;
  x->wait.answer = NULL;
  with_answer(r, x, a);
}

static void bearer(tw_request *r, gw_ctx *x, const char *auth) {
  tw_gateway *g = x->g;
  const char *t = auth + 6;
  while (*t == ' ' || *t == '\t') t++;
  size_t n = strlen(t);
  while (n && (t[n - 1] == ' ' || t[n - 1] == '\t')) n--;
  if (!n || n > MAX_TOKEN) {
    tw_gw_error(r, TW_ERR_GW_UNAUTHORIZED, n ? "Invalid API key." : "The bearer token is empty.");
    return;
  }
  char *token = strndup(t, n);
  tw_gw_caller c;
  memset(&c, 0, sizeof c);
  tw_gw_bucket *b = NULL;
  double rate = 0, burst = 0;
  tw_gw_key_status st = tw_gw_keys_lookup(g, token, &c, &b, &rate, &burst);
  if (st == TW_GW_KEY_OK) {
    free(token);
    snprintf(r->principal, sizeof r->principal, "apikey:%.120s", c.principal);
    char name[80];
    snprintf(name, sizeof name, "apikey:%s", c.key_id);
    if (throttled(r, name, b, rate, burst)) return;
    dispatch(r, x, &c);
    return;
  }
  if (st != TW_GW_KEY_UNKNOWN || !g->authz) {
    free(token);
    tw_gw_error(r, TW_ERR_GW_UNAUTHORIZED,
                st == TW_GW_KEY_REVOKED   ? "The API key has been revoked."
                : st == TW_GW_KEY_EXPIRED ? "The API key has expired."
                                          : "Invalid API key.");
    return;
  }
  /* not an API key: ask the authorizer, parking the request meanwhile */
  x->wait.r = r;
  r->resume = resume_authorized;
  tw_gw_answer *a = tw_gw_authz_ask(g, r, token, &x->wait);
  free(token);
  if (!a) {
    if (tw_req_suspend(r)) return;
    a = x->wait.answer; /* answered before we could park */
    x->wait.answer = NULL;
  }
  r->resume = NULL;
  with_answer(r, x, a);
}

/* Headers only: refuses an oversize body at once, else lets it be buffered. */
static void gateway_begin(tw_request *r) {
  const char *cl = tw_req_header(r, "Content-Length");
  if (!cl || strtoull(cl, NULL, 10) <= TW_GW_MAX_BODY) return;
  match_route(r->path, r->action, sizeof r->action, r->method);
  tw_gw_error(r, TW_ERR_REQUEST_TOO_LARGE, "The request body is larger than 1048576 bytes.");
  tw_req_add_header(r, "Connection", "close");
}

/* The whole body is in: routes, authenticates, answers. */
int tw_gateway_console_key(tw_app *app, const char *token, char *name, size_t n) {
  if (!app->gateway || !token || !*token) return 0;
  tw_gw_caller c = {0};
  tw_gw_bucket *b;
  double rate, burst;
  if (tw_gw_keys_lookup(app->gateway, token, &c, &b, &rate, &burst) != TW_GW_KEY_OK) return 0;
  char msg[256];
  if (!c.scopes || !tw_gw_scope_find(&c, "console", NULL, NULL, -1, 0, msg, sizeof msg)) return 0;
  snprintf(name, n, "%s", c.principal);
  return 1;
}

static void gateway_serve(tw_request *r) {
  tw_gateway *g = r->app->gateway;
  route_match m = match_route(r->path, r->action, sizeof r->action, r->method);
  if (!g) {
    tw_gw_error(r, TW_ERR_SERVICE_UNAVAILABLE, "The gateway is not running.");
    return;
  }
  if (r->too_large || r->body.len > TW_GW_MAX_BODY) {
    tw_gw_error(r, TW_ERR_REQUEST_TOO_LARGE, "The request body is larger than 1048576 bytes.");
    return;
  }
  if (!m.route) {
    char msg[300];
    snprintf(msg, sizeof msg, "No such route: %s %.200s.", r->method, r->path);
    tw_gw_error(r, TW_ERR_NOT_FOUND, msg);
    return;
  }
  const char *allow = m.route->allow;
  if (tw_gw_cors_preflight(r, allow ? allow : "GET, POST")) return;
  if (allow && !method_in(r->method, allow)) {
    char msg[200];
    snprintf(msg, sizeof msg, "The method %s is not allowed here (allowed: %s).", r->method, allow);
    tw_gw_error(r, TW_ERR_METHOD_NOT_ALLOWED, msg);
    tw_req_add_header(r, "Allow", allow);
    return;
  }
  if (m.route->admin) {
    if (admin_auth(r)) return;
    r->t_handler = tw_mono_sec();
    if (m.route->id == RT_ACCESS_LOG)
      tw_gw_alog_serve(r);
    else
      tw_gw_apikeys_serve(r, m.sub);
    return;
  }
  gw_ctx *x = ctx_of(r);
  if (!x) {
    tw_gw_error(r, TW_ERR_INTERNAL, "Out of memory.");
    return;
  }
  x->route = m.route->id;
  x->sub = m.sub;
  const char *auth = tw_req_header(r, "Authorization");
  int presigned = strstr(r->query, "X-Amz-Algorithm=") != NULL;
  if (auth && !strncasecmp(auth, "Bearer", 6) && (auth[6] == ' ' || auth[6] == '\t' || !auth[6])) {
    bearer(r, x, auth);
    return;
  }
  if (presigned || (auth && !strncmp(auth, "AWS4-", 5))) {
    if (admin_auth(r)) return;
    tw_gw_caller c;
    memset(&c, 0, sizeof c);
    snprintf(c.principal, sizeof c.principal, "%s", r->principal + 6);
    dispatch(r, x, &c);
    return;
  }
  tw_gw_error(r, TW_ERR_GW_UNAUTHORIZED,
              auth ? "Unsupported authorization scheme: send 'Authorization: Bearer <API key>'."
                   : "Missing Authorization header: send 'Authorization: Bearer <API key>'.");
}

/* --- lifecycle ------------------------------------------------------------------------------ */

static void *periodic(void *p) {
  tw_gateway *g = p;
  pthread_mutex_lock(&g->mu);
  while (!g->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 200 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    if (g->stop) break;
    pthread_mutex_unlock(&g->mu);
    tw_gw_keys_resync(g);
    tw_gw_alog_tick(g, tw_now_ms());
    tw_gw_authz_tick(g);
    pthread_mutex_lock(&g->mu);
  }
  pthread_mutex_unlock(&g->mu);
  return NULL;
}

int tw_gateway_open(tw_app *app, char *err, size_t errlen) {
  tw_gateway *g = calloc(1, sizeof *g);
  if (!g) {
    snprintf(err, errlen, "gateway: out of memory");
    return -1;
  }
  g->app = app;
  g->rate = app->cfg.throttle_rate;
  g->burst = app->cfg.throttle_burst;
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  app->gateway = g;
  if (tw_gw_keys_open(g, err, errlen) || tw_gw_alog_open(g, app->cfg.access_log_days, err, errlen))
    return -1;
  if (app->cfg.authorizer[0] &&
      tw_gw_authz_open(g, app->cfg.authorizer, app->cfg.authorizer_timeout_ms, err, errlen))
    return -1;
  if (tw_jobs_open(app, err, errlen)) return -1;
  g->jobs_open = 1;
  if (pthread_create(&g->thread, NULL, periodic, g)) {
    snprintf(err, errlen, "gateway: cannot start its periodic task");
    return -1;
  }
  g->thread_started = 1;
  return 0;
}

void tw_gateway_stop(tw_app *app) {
  if (app->gateway) tw_gw_authz_stop(app->gateway);
}

void tw_gateway_close(tw_app *app) {
  tw_gateway *g = app->gateway;
  if (!g) return;
  if (g->thread_started) {
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
  }
  if (g->jobs_open) tw_jobs_close(app);
  tw_gw_authz_close(g);
  tw_gw_alog_close(g);
  tw_gw_keys_close(g);
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->cv);
  free(g);
  app->gateway = NULL;
}

const tw_service tw_gateway_service = {
    .name = "gateway",
    .path_prefix = "/_/api/v1",
    .begin = gateway_begin,
    .serve = gateway_serve,
    .error = tw_gw_error,
};

void tw_gateway_commit_failed(tw_app *app) {
  tw_gateway *g = app->gateway;
  if (!g) return;
  pthread_cond_signal(&g->cv); /* the periodic task resyncs the API keys */
}
