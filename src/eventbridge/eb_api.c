/* EventBridge connections and API destinations: CreateConnection,
 * DescribeConnection, ListConnections, UpdateConnection, DeleteConnection and
 * the same five for API destinations. Each is a JSON document held in memory
 * (name -> document) and saved as a row of store/eb_delivery.h; a
 * connection's document keeps its secrets (API key value, password, secret
 * header and query values), which no answer ever carries. Authorization types:
 * API_KEY and BASIC; OAUTH_CLIENT_CREDENTIALS is refused (tweedle does not
 * run the token exchange). Connections are AUTHORIZED at once. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "eventbridge/eb_internal.h"
#include "store/eb_delivery.h"

#define K_CONN "connection"
#define K_DEST "api-destination"
#define METHODS "[POST, GET, HEAD, OPTIONS, PUT, PATCH, DELETE]"

static const char *str_of(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static void free_map(tw_map *m) {
  const char *k;
  void *v;
  for (tw_map_entry *it = tw_map_next(m, NULL, &k, &v); it; it = tw_map_next(m, it, &k, &v))
    json_decref(v);
  tw_map_free(m);
  tw_map_init(m);
}

void eb_api_free(tw_eventbridge *eb) {
  free_map(&eb->connections);
  free_map(&eb->destinations);
}

static int load_one(void *ud, const char *kind, const char *name, const char *doc) {
  tw_eventbridge *eb = ud;
  json_t *j = json_loads(doc, 0, NULL);
  if (!json_is_object(j)) {
    json_decref(j);
    return 0;
  }
  tw_map *m = !strcmp(kind, K_CONN) ? &eb->connections : &eb->destinations;
  json_decref(tw_map_del(m, name));
  tw_map_put(m, str_of(j, "Name") ? str_of(j, "Name") : name, j);
  return 0;
}

int eb_api_load(tw_eventbridge *eb) {
  return tw_store_eb_delivery(eb->store)->object_load(eb->store, load_one, eb);
}

static uint64_t save(tw_eventbridge *eb, const char *kind, const json_t *doc) {
  char *text = json_dumps(doc, JSON_COMPACT);
  tw_store_hold(eb->store);
  uint64_t t =
      tw_store_eb_delivery(eb->store)->object_put(eb->store, kind, str_of(doc, "Name"), text);
  tw_store_release(eb->store);
  free(text);
  return t;
}

static uint64_t drop(tw_eventbridge *eb, const char *kind, const char *name) {
  tw_store_hold(eb->store);
  uint64_t t = tw_store_eb_delivery(eb->store)->object_delete(eb->store, kind, name);
  tw_store_release(eb->store);
  return t;
}

/* The name in an ARN "arn:aws:events:REGION:ACCOUNT:<kind>/NAME[/ID]" of this
 * account and region (into out), 0; -1 when arn is not one. */
static int arn_name(tw_eventbridge *eb, const char *kind, const char *arn, char *out, size_t n) {
  char prefix[200];
  snprintf(prefix, sizeof prefix, "arn:aws:events:%s:%s:%s/", eb->region, eb->account, kind);
  size_t pl = strlen(prefix);
  if (!arn || strncmp(arn, prefix, pl) || !arn[pl]) return -1;
  const char *name = arn + pl, *slash = strchr(name, '/');
  size_t len = slash ? (size_t)(slash - name) : strlen(name);
  if (!len || len >= n) return -1;
  memcpy(out, name, len);
  out[len] = 0;
  return 0;
}

int eb_api_dest_name(tw_eventbridge *eb, const char *arn, char *out, size_t n) {
  return arn_name(eb, K_DEST, arn, out, n);
}

static int check_name(eb_call *c, const char *v) {
  size_t n = strlen(v);
  int ok = n > 0;
  for (size_t i = 0; ok && i < n; i++) {
    unsigned char ch = (unsigned char)v[i];
    ok = isalnum(ch) || ch == '.' || ch == '-' || ch == '_';
  }
  if (!ok || n > 64) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: "
            "Member must %s",
            v,
            ok ? "have length less than or equal to 64"
               : "satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+");
    return -1;
  }
  return 0;
}

static double secs(int64_t ms) {
  return (double)ms / 1000.0;
}

static int64_t ms_of(const json_t *doc, const char *k) {
  return (int64_t)json_integer_value(json_object_get(doc, k));
}

/* ListConnections / ListApiDestinations: the documents of m in name order
 * whose name starts with prefix and whose field equals value (each when
 * given), a page of them as summary(doc, 0) in c->out's member key. */
static void list_page(eb_call *c, tw_map *m, const char *key, const char *prefix, const char *field,
                      const char *value, json_t *(*summary)(const json_t *d, int full)) {
  size_t start;
  int limit;
  if (c->err || eb_index_paging(c, &start, &limit)) return;
  eb_lock(c->eb);
  size_t n;
  const char **names = eb_names_sorted(m, &n);
  json_t *list = json_array();
  c->out = json_pack("{s:o}", key, list);
  size_t found = 0;
  for (size_t i = 0; i < n; i++) {
    json_t *d = tw_map_get(m, names[i]);
    if (prefix && strncmp(names[i], prefix, strlen(prefix))) continue;
    if (value && strcmp(value, str_of(d, field))) continue;
    if (found++ < start) continue;
    if ((int)json_array_size(list) == limit) {
      eb_index_next(c, found - 1);
      break;
    }
    json_array_append_new(list, summary(d, 0));
  }
  free(names);
  eb_unlock(c->eb);
}

/* --- connections ---------------------------------------------------------------- */

/* Checks AuthParameters for the type (creating: the type's parameters are
 * required). 0 or -1 (call failed). */
static int check_auth(eb_call *c, const char *type, json_t *auth, int creating) {
  if (type && strcmp(type, "API_KEY") && strcmp(type, "BASIC") &&
      strcmp(type, "OAUTH_CLIENT_CREDENTIALS")) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value '%s' at 'authorizationType' failed to satisfy "
            "constraint: Member must satisfy enum value set: [BASIC, OAUTH_CLIENT_CREDENTIALS, "
            "API_KEY]",
            type);
    return -1;
  }
  if (type && !strcmp(type, "OAUTH_CLIENT_CREDENTIALS")) {
    eb_fail(c, "ValidationException",
            "tweedle does not serve OAUTH_CLIENT_CREDENTIALS connections (it runs no token "
            "exchange): use API_KEY or BASIC.");
    return -1;
  }
  if (auth && !json_is_object(auth)) {
    eb_fail(c, "SerializationException", "AuthParameters must be an object.");
    return -1;
  }
  if (json_object_get(auth, "OAuthParameters")) {
    eb_fail(c, "ValidationException",
            "tweedle does not serve OAUTH_CLIENT_CREDENTIALS connections (it runs no token "
            "exchange): use API_KEY or BASIC.");
    return -1;
  }
  json_t *key = json_object_get(auth, "ApiKeyAuthParameters"),
         *basic = json_object_get(auth, "BasicAuthParameters");
  if (type && !strcmp(type, "API_KEY") && creating &&
      (!str_of(key, "ApiKeyName") || !str_of(key, "ApiKeyValue"))) {
    eb_fail(c, "ValidationException",
            "ApiKeyAuthParameters (ApiKeyName and ApiKeyValue) are required for authorization "
            "type API_KEY.");
    return -1;
  }
  if (type && !strcmp(type, "BASIC") && creating &&
      (!str_of(basic, "Username") || !str_of(basic, "Password"))) {
    eb_fail(c, "ValidationException",
            "BasicAuthParameters (Username and Password) are required for authorization type "
            "BASIC.");
    return -1;
  }
  const char *kn = str_of(key, "ApiKeyName");
  if (kn && (!*kn || strpbrk(kn, "\r\n:"))) {
    eb_fail(c, "ValidationException", "Parameter ApiKeyName is not valid.");
    return -1;
  }
  return 0;
}

/* The connection as answers show it: no secret. */
static json_t *public_auth(const json_t *auth) {
  json_t *out = json_object();
  json_t *key = json_object_get(auth, "ApiKeyAuthParameters");
  json_t *basic = json_object_get(auth, "BasicAuthParameters");
  if (key)
    json_object_set_new(out, "ApiKeyAuthParameters",
                        json_pack("{s:s}", "ApiKeyName", str_of(key, "ApiKeyName") ?: ""));
  if (basic)
    json_object_set_new(out, "BasicAuthParameters",
                        json_pack("{s:s}", "Username", str_of(basic, "Username") ?: ""));
  json_t *ihp = json_object_get(auth, "InvocationHttpParameters");
  if (json_is_object(ihp)) {
    json_t *pub = json_object();
    const char *lists[] = {"HeaderParameters", "QueryStringParameters", "BodyParameters"};
    for (int i = 0; i < 3; i++) {
      json_t *l = json_object_get(ihp, lists[i]);
      if (!json_is_array(l)) continue;
      json_t *pl = json_array();
      size_t k;
      json_t *p;
      json_array_foreach(l, k, p) {
        json_t *q = json_deep_copy(p);
        if (json_is_true(json_object_get(p, "IsValueSecret"))) json_object_del(q, "Value");
        json_array_append_new(pl, q);
      }
      json_object_set_new(pub, lists[i], pl);
    }
    json_object_set_new(out, "InvocationHttpParameters", pub);
  }
  return out;
}

static json_t *conn_summary(const json_t *d, int full) {
  json_t *o = json_pack(
      "{s:s,s:s,s:s,s:s,s:f,s:f,s:f}", "ConnectionArn", str_of(d, "ConnectionArn"), "Name",
      str_of(d, "Name"), "ConnectionState", str_of(d, "ConnectionState"), "AuthorizationType",
      str_of(d, "AuthorizationType"), "CreationTime", secs(ms_of(d, "CreationTime")),
      "LastModifiedTime", secs(ms_of(d, "LastModifiedTime")), "LastAuthorizedTime",
      secs(ms_of(d, "LastAuthorizedTime")));
  if (full) {
    if (str_of(d, "Description"))
      json_object_set_new(o, "Description", json_string(str_of(d, "Description")));
    json_object_set_new(o, "SecretArn", json_string(str_of(d, "SecretArn")));
    json_object_set_new(o, "AuthParameters", public_auth(json_object_get(d, "AuthParameters")));
  }
  return o;
}

static json_t *conn_of(eb_call *c, const char *name, const char *verb) {
  json_t *d = tw_map_get(&c->eb->connections, name);
  if (!d)
    eb_fail(c, "ResourceNotFoundException",
            "Failed to %s the connection(s). Connection '%s' does "
            "not exist.",
            verb, name);
  return d;
}

static int check_desc(eb_call *c, const char *desc) {
  if (desc && strlen(desc) > 512) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value at 'description' failed to satisfy constraint: "
            "Member must have length less than or equal to 512");
    return -1;
  }
  return 0;
}

void eb_create_connection(eb_call *c) {
  tw_eventbridge *eb = c->eb;
  const char *name = eb_req_str(c, "Name", "name");
  const char *type = eb_req_str(c, "AuthorizationType", "authorizationType");
  const char *desc = eb_opt_str(c, "Description");
  json_t *auth = json_object_get(c->in, "AuthParameters");
  if (c->err || check_name(c, name) || check_desc(c, desc)) return;
  if (!auth) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value null at 'authParameters' failed to satisfy "
            "constraint: Member must not be null");
    return;
  }
  if (check_auth(c, type, auth, 1)) return;
  eb_lock(eb);
  if (tw_map_get(&eb->connections, name)) {
    eb_fail(c, "ResourceAlreadyExistsException", "Connection %s already exists.", name);
    eb_unlock(eb);
    return;
  }
  char id[37], arn[400], secret[500];
  tw_uuid4(id);
  snprintf(arn, sizeof arn, "arn:aws:events:%s:%s:connection/%s/%s", eb->region, eb->account, name,
           id);
  snprintf(secret, sizeof secret, "arn:aws:secretsmanager:%s:%s:secret:events!connection/%s/%s",
           eb->region, eb->account, name, id);
  int64_t now = tw_now_ms();
  json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:s,s:O,s:I,s:I,s:I}", "Name", name, "ConnectionArn", arn,
                        "SecretArn", secret, "AuthorizationType", type, "ConnectionState",
                        "AUTHORIZED", "AuthParameters", auth, "CreationTime", (json_int_t)now,
                        "LastModifiedTime", (json_int_t)now, "LastAuthorizedTime", (json_int_t)now);
  if (desc) json_object_set_new(d, "Description", json_string(desc));
  tw_map_put(&eb->connections, str_of(d, "Name"), d);
  c->ticket = save(eb, K_CONN, d);
  c->out = json_pack("{s:s,s:s,s:f,s:f}", "ConnectionArn", arn, "ConnectionState", "AUTHORIZED",
                     "CreationTime", secs(now), "LastModifiedTime", secs(now));
  eb_unlock(eb);
}

void eb_describe_connection(eb_call *c) {
  const char *name = eb_req_str(c, "Name", "name");
  if (c->err) return;
  eb_lock(c->eb);
  json_t *d = conn_of(c, name, "describe");
  if (d) c->out = conn_summary(d, 1);
  eb_unlock(c->eb);
}

void eb_list_connections(eb_call *c) {
  const char *prefix = eb_opt_str(c, "NamePrefix");
  const char *state = eb_opt_str(c, "ConnectionState");
  list_page(c, &c->eb->connections, "Connections", prefix, "ConnectionState", state, conn_summary);
}

/* Replaces or adds each member of src's sub-object k in dst's. */
static void merge_obj(json_t *dst, json_t *src, const char *k) {
  json_t *s = json_object_get(src, k);
  if (!json_is_object(s)) return;
  json_t *d = json_object_get(dst, k);
  if (!json_is_object(d)) {
    json_object_set(dst, k, s);
    return;
  }
  json_object_update(d, s);
}

void eb_update_connection(eb_call *c) {
  tw_eventbridge *eb = c->eb;
  const char *name = eb_req_str(c, "Name", "name");
  const char *type = eb_opt_str(c, "AuthorizationType");
  const char *desc = eb_opt_str(c, "Description");
  json_t *auth = json_object_get(c->in, "AuthParameters");
  if (c->err || check_desc(c, desc) || check_auth(c, type, auth, 0)) return;
  eb_lock(eb);
  json_t *d = conn_of(c, name, "update");
  if (!d) {
    eb_unlock(eb);
    return;
  }
  json_t *nd = json_deep_copy(d);
  if (type) json_object_set_new(nd, "AuthorizationType", json_string(type));
  if (desc) json_object_set_new(nd, "Description", json_string(desc));
  json_t *na = json_object_get(nd, "AuthParameters");
  if (auth) {
    merge_obj(na, auth, "ApiKeyAuthParameters");
    merge_obj(na, auth, "BasicAuthParameters");
    if (json_object_get(auth, "InvocationHttpParameters"))
      json_object_set(na, "InvocationHttpParameters",
                      json_object_get(auth, "InvocationHttpParameters"));
  }
  const char *t = str_of(nd, "AuthorizationType");
  json_t *key = json_object_get(na, "ApiKeyAuthParameters"),
         *basic = json_object_get(na, "BasicAuthParameters");
  if ((!strcmp(t, "API_KEY") && (!str_of(key, "ApiKeyName") || !str_of(key, "ApiKeyValue"))) ||
      (!strcmp(t, "BASIC") && (!str_of(basic, "Username") || !str_of(basic, "Password")))) {
    eb_fail(c, "ValidationException",
            "The authorization parameters of type %s are missing: give them in AuthParameters.", t);
    json_decref(nd);
    eb_unlock(eb);
    return;
  }
  /* only the type's own parameters stay */
  if (!strcmp(t, "API_KEY")) json_object_del(na, "BasicAuthParameters");
  if (!strcmp(t, "BASIC")) json_object_del(na, "ApiKeyAuthParameters");
  int64_t now = tw_now_ms();
  json_object_set_new(nd, "LastModifiedTime", json_integer(now));
  json_object_set_new(nd, "LastAuthorizedTime", json_integer(now));
  tw_map_put(&eb->connections, str_of(nd, "Name"), nd);
  json_decref(d);
  c->ticket = save(eb, K_CONN, nd);
  c->out =
      json_pack("{s:s,s:s,s:f,s:f,s:f}", "ConnectionArn", str_of(nd, "ConnectionArn"),
                "ConnectionState", "AUTHORIZED", "CreationTime", secs(ms_of(nd, "CreationTime")),
                "LastModifiedTime", secs(now), "LastAuthorizedTime", secs(now));
  eb_unlock(eb);
}

void eb_delete_connection(eb_call *c) {
  tw_eventbridge *eb = c->eb;
  const char *name = eb_req_str(c, "Name", "name");
  if (c->err) return;
  eb_lock(eb);
  json_t *d = conn_of(c, name, "delete");
  if (d) {
    c->out =
        json_pack("{s:s,s:s,s:f,s:f,s:f}", "ConnectionArn", str_of(d, "ConnectionArn"),
                  "ConnectionState", "DELETING", "CreationTime", secs(ms_of(d, "CreationTime")),
                  "LastModifiedTime", secs(ms_of(d, "LastModifiedTime")), "LastAuthorizedTime",
                  secs(ms_of(d, "LastAuthorizedTime")));
    tw_map_del(&eb->connections, name);
    c->ticket = drop(eb, K_CONN, name);
    json_decref(d);
  }
  eb_unlock(eb);
}

/* --- API destinations ------------------------------------------------------------- */

static int check_method(eb_call *c, const char *m) {
  const char *ok[] = {"POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (!strcmp(m, ok[i])) return 0;
  eb_fail(c, "ValidationException",
          "1 validation error detected: Value '%s' at 'httpMethod' failed to satisfy constraint: "
          "Member must satisfy enum value set: " METHODS,
          m);
  return -1;
}

static int check_endpoint(eb_call *c, const char *e) {
  size_t n = strlen(e);
  int ok = n >= 1 && n <= 2048 && (!strncmp(e, "https://", 8) || !strncmp(e, "http://", 7));
  for (size_t i = 0; ok && i < n; i++) {
    unsigned char ch = (unsigned char)e[i];
    ok = isalnum(ch) || strchr("%-()_.!~*';/?:@&=+$,[]", ch);
  }
  if (!ok) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value '%s' at 'invocationEndpoint' failed to satisfy "
            "constraint: Member must be an http:// or https:// URL of at most 2048 characters "
            "of the characters AWS allows",
            e);
    return -1;
  }
  return 0;
}

static int check_rate(eb_call *c, json_t *r) {
  if (r && (!json_is_integer(r) || json_integer_value(r) < 1)) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value at 'invocationRateLimitPerSecond' failed to "
            "satisfy constraint: Member must have value greater than or equal to 1");
    return -1;
  }
  return 0;
}

/* The connection a ConnectionArn names; fails the call when it is not one. */
static json_t *conn_by_arn(eb_call *c, const char *arn) {
  char name[128];
  json_t *d = arn_name(c->eb, K_CONN, arn, name, sizeof name)
                  ? NULL
                  : tw_map_get(&c->eb->connections, name);
  if (!d || strcmp(str_of(d, "ConnectionArn"), arn)) {
    eb_fail(c, "ResourceNotFoundException", "Connection '%s' does not exist.", arn);
    return NULL;
  }
  return d;
}

static json_t *dest_out(const json_t *d, int full) {
  json_t *o = json_pack(
      "{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:f,s:f}", "ApiDestinationArn", str_of(d, "ApiDestinationArn"),
      "Name", str_of(d, "Name"), "ApiDestinationState", str_of(d, "ApiDestinationState"),
      "ConnectionArn", str_of(d, "ConnectionArn"), "InvocationEndpoint",
      str_of(d, "InvocationEndpoint"), "HttpMethod", str_of(d, "HttpMethod"),
      "InvocationRateLimitPerSecond",
      json_integer_value(json_object_get(d, "InvocationRateLimitPerSecond")), "CreationTime",
      secs(ms_of(d, "CreationTime")), "LastModifiedTime", secs(ms_of(d, "LastModifiedTime")));
  if (full && str_of(d, "Description"))
    json_object_set_new(o, "Description", json_string(str_of(d, "Description")));
  return o;
}

static json_t *dest_of(eb_call *c, const char *name, const char *verb) {
  json_t *d = tw_map_get(&c->eb->destinations, name);
  if (!d)
    eb_fail(c, "ResourceNotFoundException",
            "Failed to %s the api-destination(s). An api-destination '%s' does not exist.", verb,
            name);
  return d;
}

void eb_create_api_destination(eb_call *c) {
  tw_eventbridge *eb = c->eb;
  const char *name = eb_req_str(c, "Name", "name");
  const char *conn = eb_req_str(c, "ConnectionArn", "connectionArn");
  const char *endpoint = eb_req_str(c, "InvocationEndpoint", "invocationEndpoint");
  const char *method = eb_req_str(c, "HttpMethod", "httpMethod");
  const char *desc = eb_opt_str(c, "Description");
  json_t *rate = json_object_get(c->in, "InvocationRateLimitPerSecond");
  if (c->err || check_name(c, name) || check_desc(c, desc) || check_method(c, method) ||
      check_endpoint(c, endpoint) || check_rate(c, rate))
    return;
  eb_lock(eb);
  if (tw_map_get(&eb->destinations, name)) {
    eb_fail(c, "ResourceAlreadyExistsException", "An api-destination '%s' already exists.", name);
    eb_unlock(eb);
    return;
  }
  if (!conn_by_arn(c, conn)) {
    eb_unlock(eb);
    return;
  }
  char id[37], arn[400];
  tw_uuid4(id);
  snprintf(arn, sizeof arn, "arn:aws:events:%s:%s:api-destination/%s/%s", eb->region, eb->account,
           name, id);
  int64_t now = tw_now_ms();
  json_t *d =
      json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "Name", name, "ApiDestinationArn", arn,
                "ApiDestinationState", "ACTIVE", "ConnectionArn", conn, "InvocationEndpoint",
                endpoint, "HttpMethod", method, "InvocationRateLimitPerSecond",
                (json_int_t)(rate ? json_integer_value(rate) : 300), "CreationTime",
                (json_int_t)now, "LastModifiedTime", (json_int_t)now);
  if (desc) json_object_set_new(d, "Description", json_string(desc));
  tw_map_put(&eb->destinations, str_of(d, "Name"), d);
  c->ticket = save(eb, K_DEST, d);
  c->out = json_pack("{s:s,s:s,s:f,s:f}", "ApiDestinationArn", arn, "ApiDestinationState", "ACTIVE",
                     "CreationTime", secs(now), "LastModifiedTime", secs(now));
  eb_unlock(eb);
}

void eb_describe_api_destination(eb_call *c) {
  const char *name = eb_req_str(c, "Name", "name");
  if (c->err) return;
  eb_lock(c->eb);
  json_t *d = dest_of(c, name, "describe");
  if (d) c->out = dest_out(d, 1);
  eb_unlock(c->eb);
}

void eb_list_api_destinations(eb_call *c) {
  const char *prefix = eb_opt_str(c, "NamePrefix");
  const char *conn = eb_opt_str(c, "ConnectionArn");
  list_page(c, &c->eb->destinations, "ApiDestinations", prefix, "ConnectionArn", conn, dest_out);
}

void eb_update_api_destination(eb_call *c) {
  tw_eventbridge *eb = c->eb;
  const char *name = eb_req_str(c, "Name", "name");
  const char *conn = eb_opt_str(c, "ConnectionArn");
  const char *endpoint = eb_opt_str(c, "InvocationEndpoint");
  const char *method = eb_opt_str(c, "HttpMethod");
  const char *desc = eb_opt_str(c, "Description");
  json_t *rate = json_object_get(c->in, "InvocationRateLimitPerSecond");
  if (c->err || check_desc(c, desc) || (method && check_method(c, method)) ||
      (endpoint && check_endpoint(c, endpoint)) || check_rate(c, rate))
    return;
  eb_lock(eb);
  json_t *d = dest_of(c, name, "update");
  if (!d || (conn && !conn_by_arn(c, conn))) {
    eb_unlock(eb);
    return;
  }
  if (conn) json_object_set_new(d, "ConnectionArn", json_string(conn));
  if (endpoint) json_object_set_new(d, "InvocationEndpoint", json_string(endpoint));
  if (method) json_object_set_new(d, "HttpMethod", json_string(method));
  if (desc) json_object_set_new(d, "Description", json_string(desc));
  if (rate) json_object_set(d, "InvocationRateLimitPerSecond", rate);
  int64_t now = tw_now_ms();
  json_object_set_new(d, "LastModifiedTime", json_integer(now));
  c->ticket = save(eb, K_DEST, d);
  c->out = json_pack("{s:s,s:s,s:f,s:f}", "ApiDestinationArn", str_of(d, "ApiDestinationArn"),
                     "ApiDestinationState", "ACTIVE", "CreationTime",
                     secs(ms_of(d, "CreationTime")), "LastModifiedTime", secs(now));
  eb_unlock(eb);
}

void eb_delete_api_destination(eb_call *c) {
  tw_eventbridge *eb = c->eb;
  const char *name = eb_req_str(c, "Name", "name");
  if (c->err) return;
  eb_lock(eb);
  json_t *d = dest_of(c, name, "delete");
  if (d) {
    tw_map_del(&eb->destinations, name);
    c->ticket = drop(eb, K_DEST, name);
    json_decref(d);
    c->out = json_object();
  }
  eb_unlock(eb);
}
