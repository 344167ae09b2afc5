/* Console sessions: a login with one of the server's key pairs (the secret is
 * checked here and never kept by the browser) or with a gateway API key that
 * has the "console" scope opens a session kept in memory. The browser holds
 * only its id, in an HttpOnly, SameSite=Strict cookie scoped to /_/console; a
 * state-changing call must also send the session's CSRF token in the
 * X-CSRF-Token header (and, when the browser says, come from this origin).
 * Failed logins are limited per client address.
 *
 * Cluster mode (--store postgres://): sessions live in PostgreSQL instead
 * (table console_sessions, store/pg_console.h; only a hash of the id), so a
 * login on one node holds on every node and a logout ends it everywhere. Each
 * API call reads its session by primary key; its last use is written at most
 * once a minute (TOUCH_MS), so the idle limit is exact to that minute. The
 * failed-login limit stays per node. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "console/console_internal.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/map.h"
#include "gateway/gateway.h"
#include "store/pg_console.h"

#define IDLE_MS (2 * 3600 * 1000LL)      /* a session unused this long ends */
#define LIFETIME_MS (12 * 3600 * 1000LL) /* and any session after this */
#define MAX_SESSIONS 1000
#define FAIL_WINDOW_MS 60000 /* at most FAIL_MAX failed logins per address in a minute */
#define FAIL_MAX 5
#define MAX_FAIL_ENTRIES 10000
#define TOUCH_MS 60000 /* cluster mode: a session's use is written at most this often */

typedef struct {
  char principal[130];
  char csrf[65];
  int64_t created_ms, used_ms;
} session;

typedef struct {
  int64_t window_ms;
  int n;
} failures;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static tw_map g_sessions; /* sha256(id) hex -> session */
static tw_map g_failures; /* client address -> failures */
static int g_open;

int tw_console_sessions_open(void) {
  pthread_mutex_lock(&g_mu);
  if (!g_open) {
    tw_map_init(&g_sessions);
    tw_map_init(&g_failures);
    g_open = 1;
  }
  pthread_mutex_unlock(&g_mu);
  return 0;
}

static void free_values(tw_map *m) {
  tw_map_entry *it = NULL;
  const char *k;
  void *v;
  while ((it = tw_map_next(m, it, &k, &v))) free(v);
  tw_map_free(m);
}

void tw_console_sessions_close(void) {
  pthread_mutex_lock(&g_mu);
  if (g_open) {
    free_values(&g_sessions);
    free_values(&g_failures);
    g_open = 0;
  }
  pthread_mutex_unlock(&g_mu);
}

/* Constant time: compares the digests, so neither length nor content leaks. */
static int secret_equal(const char *a, const char *b) {
  uint8_t x[32], y[32];
  tw_sha256(a, strlen(a), x);
  tw_sha256(b, strlen(b), y);
  unsigned d = 0;
  for (int i = 0; i < 32; i++) d |= (unsigned)(x[i] ^ y[i]);
  return d == 0;
}

static int expired(const session *s, int64_t now) {
  return now - s->used_ms > IDLE_MS || now - s->created_ms > LIFETIME_MS;
}

/* Drops ended sessions and stale failure counts (lock held). */
static void prune(int64_t now) {
  tw_map_entry *it = NULL;
  const char *k;
  void *v;
  char drop[64][65];
  int n = 0;
  while ((it = tw_map_next(&g_sessions, it, &k, &v)) && n < 64)
    if (expired(v, now)) snprintf(drop[n++], 65, "%s", k);
  for (int i = 0; i < n; i++) free(tw_map_del(&g_sessions, drop[i]));
  n = 0;
  it = NULL;
  while ((it = tw_map_next(&g_failures, it, &k, &v)) && n < 64)
    if (now - ((failures *)v)->window_ms > FAIL_WINDOW_MS) snprintf(drop[n++], 65, "%.64s", k);
  for (int i = 0; i < n; i++) free(tw_map_del(&g_failures, drop[i]));
}

/* The seconds until this address may try again (0: now). */
static int64_t fail_wait_s(const char *addr, int64_t now) {
  pthread_mutex_lock(&g_mu);
  failures *f = tw_map_get(&g_failures, addr);
  int64_t wait = 0;
  if (f && now - f->window_ms <= FAIL_WINDOW_MS && f->n >= FAIL_MAX)
    wait = (f->window_ms + FAIL_WINDOW_MS - now) / 1000 + 1;
  pthread_mutex_unlock(&g_mu);
  return wait;
}

static void fail_note(const char *addr, int64_t now) {
  pthread_mutex_lock(&g_mu);
  failures *f = tw_map_get(&g_failures, addr);
  if (!f && g_failures.count < MAX_FAIL_ENTRIES) {
    f = calloc(1, sizeof *f);
    if (f) tw_map_put(&g_failures, addr, f);
  }
  if (f) {
    if (now - f->window_ms > FAIL_WINDOW_MS) {
      f->window_ms = now;
      f->n = 0;
    }
    f->n++;
  }
  pthread_mutex_unlock(&g_mu);
}

static void client_addr(tw_request *r, char *out, size_t n) {
  /* the address without its port: a client's connections share the limit */
  snprintf(out, n, "%s", r->remote[0] ? r->remote : "?");
  char *c = strrchr(out, ':');
  if (c && strchr(out, '.') && c == strchr(out, ':')) *c = 0; /* IPv4 host:port */
}

/* Cluster mode: the store that keeps the sessions (NULL: this node's memory). */
static tw_store *cluster_store(tw_request *r) {
  return r->app->sqs_pg ? r->app->pg_store : NULL;
}

static int secure_cookie(tw_request *r) {
  return r->app->cfg.tls_cert[0] || !strncasecmp(r->app->cfg.public_url, "https://", 8);
}

static void set_cookie(tw_request *r, const char *value, long max_age) {
  char c[300];
  snprintf(c, sizeof c, "%s=%s; Path=%s/; Max-Age=%ld; HttpOnly; SameSite=Strict%s",
           TW_CONSOLE_COOKIE, value, TW_CONSOLE_PREFIX, max_age,
           secure_cookie(r) ? "; Secure" : "");
  tw_req_add_header(r, "Set-Cookie", c);
}

/* The session id the Cookie header carries, or 0. */
static int cookie_sid(tw_request *r, char out[65]) {
  const char *c = tw_req_header(r, "Cookie");
  size_t nl = strlen(TW_CONSOLE_COOKIE);
  while (c && *c) {
    while (*c == ' ' || *c == ';') c++;
    if (!strncmp(c, TW_CONSOLE_COOKIE, nl) && c[nl] == '=') {
      const char *v = c + nl + 1;
      size_t n = strcspn(v, "; ");
      if (n != 64) return 0;
      memcpy(out, v, 64);
      out[64] = 0;
      return 1;
    }
    c = strchr(c, ';');
  }
  return 0;
}

static void new_token(char out[65]) {
  uint8_t b[32];
  tw_random_bytes(b, sizeof b);
  tw_hex(b, sizeof b, out);
  out[64] = 0;
}

/* POST /api/login {"access_key_id", "secret_access_key"} | {"api_key"} */
void tw_console_login(tw_request *r) {
  if (strcmp(r->method, "POST")) {
    tw_console_error(r, 405, "MethodNotAllowed", "Log in with POST.");
    return;
  }
  /* a JSON body: a cross-site form cannot send one without a preflight */
  const char *ct = tw_req_header(r, "Content-Type");
  if (!ct || strncasecmp(ct, "application/json", 16)) {
    tw_console_error(r, 415, "UnsupportedMediaType", "Send the login as application/json.");
    return;
  }
  char addr[64];
  client_addr(r, addr, sizeof addr);
  int64_t now = tw_now_ms();
  int64_t wait = fail_wait_s(addr, now);
  if (wait > 0) {
    char msg[120], v[24];
    snprintf(msg, sizeof msg, "Too many failed logins: try again in %lld s.", (long long)wait);
    tw_console_error(r, 429, "TooManyRequests", msg);
    snprintf(v, sizeof v, "%lld", (long long)wait);
    tw_req_add_header(r, "Retry-After", v);
    return;
  }
  json_t *b = tw_console_body(r);
  if (!b) return;
  const char *ak = json_string_value(json_object_get(b, "access_key_id"));
  const char *sk = json_string_value(json_object_get(b, "secret_access_key"));
  const char *key = json_string_value(json_object_get(b, "api_key"));
  char principal[130] = "";
  if (ak && sk) {
    const tw_credentials *cr = &r->app->creds;
    /* by lookup: in cluster mode the array of users may be replaced meanwhile */
    const tw_user *u = tw_credentials_user(cr, ak);
    int ok = u ? secret_equal(u->secret, sk) : 0;
    if (!u) secret_equal(sk, sk); /* the same work either way */
    if (!ok) u = NULL;
    if (u && u->npolicies) {
      /* the console calls the engines directly, past the policy checks of
       * the services (auth/authorize.h): a user with policies stays out */
      json_decref(b);
      tw_console_error(r, 403, "AccessDenied",
                       "This key pair has policies; the console is open to users without "
                       "policies only.");
      return;
    }
    if (ok) snprintf(principal, sizeof principal, "%s", ak);
  } else if (key) {
    char name[100];
    if (tw_gateway_console_key(r->app, key, name, sizeof name))
      snprintf(principal, sizeof principal, "apikey:%s", name);
  } else {
    json_decref(b);
    tw_console_error(r, 400, "BadRequest", "Send access_key_id and secret_access_key, or api_key.");
    return;
  }
  json_decref(b);
  if (!principal[0]) {
    fail_note(addr, now);
    tw_console_error(r, 401, "InvalidCredentials",
                     "Unknown key pair, or an API key without the console scope.");
    return;
  }
  char sid[65], hash[65];
  new_token(sid);
  tw_sha256_hex(sid, 64, hash);
  session *s = calloc(1, sizeof *s);
  if (!s) {
    tw_console_error(r, 500, "InternalError", NULL);
    return;
  }
  snprintf(s->principal, sizeof s->principal, "%s", principal);
  new_token(s->csrf);
  s->created_ms = s->used_ms = now;
  int full;
  tw_store *pg = cluster_store(r);
  if (pg) { /* cluster mode: the session in PostgreSQL, committed before the answer */
    tw_pg_console_session x;
    memcpy(x.principal, s->principal, sizeof x.principal);
    memcpy(x.csrf, s->csrf, sizeof x.csrf);
    x.created_ms = x.used_ms = now;
    int rc = tw_store_pg_console_session_put(pg, hash, &x, now - IDLE_MS - TOUCH_MS,
                                             now - LIFETIME_MS, MAX_SESSIONS);
    if (rc < 0) {
      free(s);
      tw_console_error(r, 503, "ServiceUnavailable", "The store cannot be reached; try again.");
      return;
    }
    full = rc == 0;
  } else {
    pthread_mutex_lock(&g_mu);
    prune(now);
    full = g_sessions.count >= MAX_SESSIONS;
    if (!full) tw_map_put(&g_sessions, hash, s);
    pthread_mutex_unlock(&g_mu);
  }
  if (full) {
    free(s);
    tw_console_error(r, 503, "TooManySessions", "Too many console sessions: try again later.");
    return;
  }
  json_t *doc = json_pack("{s:s,s:s,s:I}", "principal", s->principal, "csrf", s->csrf, "expires_at",
                          (json_int_t)(now + LIFETIME_MS));
  if (pg) free(s); /* the map keeps it on one node */
  tw_console_json(r, 200, doc);
  set_cookie(r, sid, LIFETIME_MS / 1000);
}

void tw_console_logout(tw_request *r) {
  char sid[65], hash[65];
  if (cookie_sid(r, sid)) {
    tw_sha256_hex(sid, 64, hash);
    tw_store *pg = cluster_store(r);
    if (pg) {
      if (tw_store_pg_console_session_delete(pg, hash) < 0) {
        tw_console_error(r, 503, "ServiceUnavailable", "The store cannot be reached; try again.");
        return;
      }
    } else {
      pthread_mutex_lock(&g_mu);
      free(tw_map_del(&g_sessions, hash));
      pthread_mutex_unlock(&g_mu);
    }
  }
  tw_console_json(r, 200, json_pack("{s:b}", "logged_out", 1));
  set_cookie(r, "", 0);
}

/* The Origin header, when the browser sends one, must be this server's. */
static int same_origin(tw_request *r) {
  const char *o = tw_req_header(r, "Origin");
  if (!o) return 1;
  const char *host = tw_req_header(r, "Host");
  const char *p = strstr(o, "://");
  return host && p && !strcmp(p + 3, host);
}

int tw_console_authorize(tw_request *r, tw_console_who *who) {
  char sid[65], hash[65];
  int64_t now = tw_now_ms();
  int ok = 0;
  tw_store *pg = cluster_store(r);
  if (pg && cookie_sid(r, sid)) {
    tw_sha256_hex(sid, 64, hash);
    tw_pg_console_session x;
    int rc = tw_store_pg_console_session_get(pg, hash, &x);
    if (rc < 0) {
      tw_console_error(r, 503, "ServiceUnavailable", "The store cannot be reached; try again.");
      return 0;
    }
    /* its last use may be up to a minute later than used_ms says */
    if (rc > 0 && (now - x.used_ms > IDLE_MS + TOUCH_MS || now - x.created_ms > LIFETIME_MS)) {
      tw_store_pg_console_session_delete(pg, hash); /* ended: gone */
    } else if (rc > 0) {
      if (now - x.used_ms >= TOUCH_MS) tw_store_pg_console_session_touch(pg, hash, now);
      memcpy(who->principal, x.principal, sizeof who->principal);
      memcpy(who->csrf, x.csrf, sizeof who->csrf);
      ok = 1;
    }
  } else if (cookie_sid(r, sid)) {
    tw_sha256_hex(sid, 64, hash);
    pthread_mutex_lock(&g_mu);
    session *s = tw_map_get(&g_sessions, hash);
    if (s && expired(s, now)) {
      free(tw_map_del(&g_sessions, hash));
      s = NULL;
    }
    if (s) {
      s->used_ms = now;
      memcpy(who->principal, s->principal, sizeof who->principal);
      memcpy(who->csrf, s->csrf, sizeof who->csrf);
      ok = 1;
    }
    pthread_mutex_unlock(&g_mu);
  }
  if (!ok) {
    tw_console_error(r, 401, "Unauthenticated", "Log in first (POST /_/console/api/login).");
    return 0;
  }
  if (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD")) return 1;
  const char *t = tw_req_header(r, "X-CSRF-Token");
  if (!t || !secret_equal(t, who->csrf) || !same_origin(r)) {
    tw_console_error(r, 403, "InvalidCsrfToken",
                     "A state-changing call needs the session's X-CSRF-Token header.");
    return 0;
  }
  return 1;
}
