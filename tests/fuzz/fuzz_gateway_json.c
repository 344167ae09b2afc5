/* The gateway's JSON request bodies (src/gateway/), through the checks the
 * handlers run before anything is stored or signed, without a server:
 *   jobs     POST /jobs: tw_jobs_check_submit (type, payload, the
 *            Idempotency-Key header), then the job message and idempotency
 *            fingerprint the handler builds (json_dumps ASCII-only / sorted):
 *            they must be made, and the message must read back to the same
 *            type and payload;
 *   apikey   POST /apikeys: tw_gw_key_check (name, scopes through
 *            tw_gw_scopes_check, expires_at through tw_gw_parse_time,
 *            expires_in, rate, burst); a key that passes becomes a caller
 *            whose scopes go through tw_gw_scope_find for every action, on
 *            a bucket/key/size/lifetime or none;
 *   presign  POST /presign: tw_gw_presign_check (method, bucket, key with
 *            its dot segments, expires_in, content_type, content_length,
 *            filename) for a caller with the scopes of the second line
 *            (validated by tw_gw_scopes_check; "-" an admin), then the
 *            scope lookup the handler does and tw_gw_pick_ext;
 *   cursor   GET /jobs?cursor=: tw_jobs_cursor_decode.
 * Checked: every refusal has a message; what passes has the documented
 * shape (a scope found is one of the caller's, an extension is "" or a dot
 * and 1 to 10 lower-case letters/digits, a cursor is -1 or positive).
 * Input: the route's name (a line; an unknown name picks one from its first
 * byte), then for jobs the Idempotency-Key line ("-" none) and the body, for
 * apikey the body, for presign the scopes line and the body, for cursor the
 * cursor. The body is parsed as tw_gw_body_json does (an object, duplicate
 * keys refused). */
#include <ctype.h>
#include <stdio.h>

#include "fuzz_util.h"
#include "gateway/gateway_internal.h"
#include "gateway/jobs_internal.h"

#define NOW_MS 1700000000000LL

static const char *const k_actions[] = {"presign:put", "presign:get", "jobs:submit",
                                        "jobs:read",   "jobs:update", "console"};

static json_t *body_json(const char *p, size_t n) {
  json_t *j = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
  if (!json_is_object(j)) {
    json_decref(j);
    return NULL;
  }
  return j;
}

/* a line of the input: *p advanced past it */
static char *take_line(const char **p, const char *end) {
  const char *nl = memchr(*p, '\n', (size_t)(end - *p));
  const char *e = nl ? nl : end;
  char *s = strndup(*p, (size_t)(e - *p));
  *p = nl ? nl + 1 : end;
  return s;
}

static int in_array(const json_t *arr, const json_t *x) {
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) if (v == x) return 1;
  return 0;
}

static void check_scopes(json_t *scopes, const char *bucket, const char *key, int64_t size,
                         long expires) {
  tw_gw_caller c;
  memset(&c, 0, sizeof c);
  snprintf(c.principal, sizeof c.principal, "fz");
  c.scopes = scopes;
  for (size_t i = 0; i < sizeof k_actions / sizeof k_actions[0]; i++) {
    char msg[400] = "";
    const json_t *s =
        tw_gw_scope_find(&c, k_actions[i], bucket, key, size, expires, msg, sizeof msg);
    if (!s && !msg[0]) abort();
    if (s && scopes && !in_array(scopes, s)) abort();
  }
}

static void route_jobs(const char *p, const char *end) {
  char *idem = take_line(&p, end);
  json_t *doc = body_json(p, (size_t)(end - p));
  if (doc) {
    const char *why = tw_jobs_check_submit(doc, strcmp(idem, "-") ? idem : NULL);
    if (why && !*why) abort();
    if (!why) { /* the message the handler builds */
      json_t *type = json_object_get(doc, "type"), *payload = json_object_get(doc, "payload");
      json_t *pl = payload ? json_incref(payload) : json_object();
      json_t *msg = json_pack("{s:s,s:s,s:O}", "id", "00000000-0000-4000-8000-000000000000", "type",
                              json_string_value(type), "payload", pl);
      char *text = msg ? json_dumps(msg, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
      if (!text) abort();
      json_t *back = json_loads(text, 0, NULL);
      if (!back || !json_equal(json_object_get(back, "payload"), pl) ||
          strcmp(json_string_value(json_object_get(back, "type")), json_string_value(type)))
        abort();
      json_t *fp = json_pack("{s:s,s:O}", "type", json_string_value(type), "payload", pl);
      char *fpt = json_dumps(fp, JSON_COMPACT | JSON_SORT_KEYS);
      if (!fpt) abort();
      free(fpt);
      json_decref(fp);
      json_decref(back);
      free(text);
      json_decref(msg);
      json_decref(pl);
    }
    json_decref(doc);
  }
  free(idem);
}

static void route_apikey(const char *p, const char *end) {
  json_t *doc = body_json(p, (size_t)(end - p));
  if (!doc) return;
  tw_gw_key_req req;
  char msg[400] = "";
  if (tw_gw_key_check(doc, NOW_MS, &req, msg, sizeof msg)) {
    if (!msg[0]) abort();
  } else {
    if (!req.name || !*req.name || !json_array_size(req.scopes)) abort();
    if (req.expires_ms < 0 || (req.expires_ms && req.expires_ms <= NOW_MS)) abort();
    char *text = json_dumps(req.scopes, JSON_COMPACT); /* what the store keeps */
    json_t *back = text ? json_loads(text, 0, NULL) : NULL;
    if (!back || !json_equal(back, req.scopes)) abort();
    json_decref(back);
    free(text);
    check_scopes(req.scopes, NULL, NULL, -1, 0);
    check_scopes(req.scopes, "b1", "in/x.txt", 100, 60);
    check_scopes(req.scopes, "other-bucket", "out/y", TW_GW_SIZE_UNKNOWN, 604800);
  }
  json_decref(doc);
}

static void route_presign(const char *p, const char *end) {
  char *sline = take_line(&p, end);
  json_t *scopes = NULL;
  char msg[600] = "";
  if (strcmp(sline, "-")) {
    scopes = json_loads(sline, JSON_REJECT_DUPLICATES, NULL);
    if (!scopes || tw_gw_scopes_check(scopes, msg, sizeof msg)) {
      if (scopes && !msg[0]) abort();
      json_decref(scopes);
      free(sline);
      return;
    }
  }
  json_t *doc = body_json(p, (size_t)(end - p));
  if (doc) {
    tw_gw_presign_req pr;
    if (tw_gw_presign_check(doc, &pr, msg, sizeof msg)) {
      if (!msg[0]) abort();
    } else {
      if (!pr.put && (!pr.key || pr.ctype || pr.filename || pr.clen >= 0)) abort();
      if (pr.expires < 0 || pr.expires > 604800) abort();
      int64_t size = pr.put ? (pr.clen >= 0 ? pr.clen : TW_GW_SIZE_UNKNOWN) : -1;
      check_scopes(scopes, pr.bucket, pr.key, size, pr.expires);
      char ext[16];
      tw_gw_pick_ext(pr.filename, pr.ctype, ext);
      size_t n = strlen(ext);
      if (n && (ext[0] != '.' || n < 2 || n > 11)) abort();
      for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)ext[i]) || isupper((unsigned char)ext[i])) abort();
    }
    json_decref(doc);
  }
  json_decref(scopes);
  free(sline);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 64 * 1024) return 0;
  char *copy = malloc(size + 1);
  memcpy(copy, data, size);
  copy[size] = 0;
  const char *p = copy, *end = copy + size;
  char *route = take_line(&p, end);
  static const char *const routes[] = {"jobs", "apikey", "presign", "cursor"};
  int r = -1;
  for (int i = 0; i < 4; i++)
    if (!strcmp(route, routes[i])) r = i;
  if (r < 0) r = size ? data[0] % 4 : 0;
  switch (r) {
    case 0:
      route_jobs(p, end);
      break;
    case 1:
      route_apikey(p, end);
      break;
    case 2:
      route_presign(p, end);
      break;
    default: {
      char *cur = take_line(&p, end);
      int64_t v = tw_jobs_cursor_decode(cur);
      if (v != -1 && v <= 0) abort();
      free(cur);
    }
  }
  free(route);
  free(copy);
  return 0;
}
