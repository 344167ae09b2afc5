/* The web console as a service of the HTTP server: every path under
 * /_/console. Pages are public (they hold no data); every API route but login
 * needs a session, and every state-changing one its CSRF token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/console_internal.h"
#include "core/clock.h"

static int64_t g_started_ms;

int64_t tw_console_started_ms(void) {
  return g_started_ms;
}

int tw_console_open(tw_app *app) {
  (void)app;
  g_started_ms = tw_now_ms();
  return tw_console_sessions_open();
}

void tw_console_close(void) {
  tw_console_sessions_close();
}

void tw_console_headers(tw_request *r) {
  /* no inline script or style anywhere: the pages load their code from files */
  tw_req_add_header(
      r, "Content-Security-Policy",
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  tw_req_add_header(r, "X-Content-Type-Options", "nosniff");
  tw_req_add_header(r, "X-Frame-Options", "DENY");
  tw_req_add_header(r, "Referrer-Policy", "no-referrer");
  tw_req_add_header(r, "Cross-Origin-Opener-Policy", "same-origin");
}

/* '<', '>' and '&' only occur inside JSON strings: written as \u escapes, no
 * body can read as markup even to a client that sniffs. */
static char *escape_markup(char *s) {
  size_t n = 0, len = strlen(s);
  for (const char *p = s; *p; p++) n += *p == '<' || *p == '>' || *p == '&';
  if (!n) return s;
  char *out = malloc(len + 5 * n + 1), *o = out;
  if (!out) {
    free(s);
    return NULL;
  }
  for (const char *p = s; *p; p++) {
    if (*p == '<' || *p == '>' || *p == '&') {
      o += sprintf(o, "\\u%04x", (unsigned)*p);
    } else {
      *o++ = *p;
    }
  }
  *o = 0;
  free(s);
  return out;
}

void tw_console_json(tw_request *r, int status, json_t *doc) {
  char *body = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
  json_decref(doc);
  if (body) body = escape_markup(body);
  if (!body) {
    tw_req_respond(r, 500, "application/json", "{\"error\":{\"code\":\"InternalError\"}}", 34);
  } else {
    tw_req_respond_owned(r, status, "application/json", body, strlen(body));
  }
  tw_console_headers(r);
  tw_req_add_header(r, "Cache-Control", "no-store");
}

void tw_console_error(tw_request *r, int status, const char *code, const char *msg) {
  tw_console_json(r, status,
                  json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg ? msg : code));
}

static void ctx_free(void *p) {
  json_decref(p);
}

static void after_commit(tw_request *r) {
  json_t *doc = r->ctx;
  r->ctx = NULL;
  if (r->commit_failed) {
    json_decref(doc);
    tw_console_error(r, 500, "InternalError", "The change could not be made durable.");
    return;
  }
  int status = (int)json_integer_value(json_object_get(doc, "_status"));
  json_object_del(doc, "_status");
  tw_console_json(r, status ? status : 200, doc);
}

void tw_console_json_after(tw_request *r, uint64_t own, uint64_t seen, int status, json_t *doc) {
  json_object_set_new(doc, "_status", json_integer(status));
  r->ctx = doc;
  r->ctx_free = ctx_free;
  tw_req_after_commits(r, own, seen, after_commit);
}

json_t *tw_console_body(tw_request *r) {
  json_error_t e;
  json_t *o = r->body.len ? json_loadb(r->body.data, r->body.len, 0, &e) : NULL;
  if (!json_is_object(o)) {
    json_decref(o);
    tw_console_error(r, 400, "BadRequest", "The body must be a JSON object.");
    return NULL;
  }
  return o;
}

char *tw_console_segment(const char *s, const char **rest) {
  size_t n = strcspn(s, "/");
  *rest = s + n;
  if (!n) return NULL;
  return tw_url_decode(s, n, 0);
}

static void api(tw_request *r, const char *sub) {
  if (!strcmp(sub, "/login")) {
    tw_console_login(r);
    return;
  }
  tw_console_who who;
  if (!tw_console_authorize(r, &who)) return;
  snprintf(r->principal, sizeof r->principal, "%s", who.principal);
  if (!strcmp(sub, "/logout")) {
    tw_console_logout(r);
    return;
  }
  if (tw_console_api_misc(r, &who, sub) || tw_console_api_sqs(r, &who, sub) ||
      tw_console_api_s3(r, &who, sub) || tw_console_api_events(r, &who, sub))
    return;
  tw_console_error(r, 404, "NotFound", "No such console route.");
}

static void serve(tw_request *r) {
  const char *p = r->path + strlen(TW_CONSOLE_PREFIX);
  snprintf(r->action, sizeof r->action, "console");
  if (!*p) {
    tw_req_respond(r, 302, "text/plain", "", 0);
    tw_req_add_header(r, "Location", TW_CONSOLE_PREFIX "/");
    return;
  }
  if (!strncmp(p, "/api/", 5) || !strcmp(p, "/api")) {
    api(r, p + 4);
    return;
  }
  if (*p == '/' && tw_console_asset(r, p + 1)) return;
  tw_req_respond(r, 404, "text/plain", "Not found.\n", 11);
  tw_console_headers(r);
}

static void svc_error(tw_request *r, tw_err e, const char *msg) {
  const tw_err_info *info = tw_err_get(e);
  tw_console_error(r, info->http_status, info->code, msg && *msg ? msg : info->message);
}

const tw_service tw_console_service = {
    .name = "console",
    .path_prefix = TW_CONSOLE_PREFIX,
    .max_body = 1u << 20,
    .serve = serve,
    .error = svc_error,
};
