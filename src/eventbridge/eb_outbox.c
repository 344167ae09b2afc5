/* Deliveries to API destinations: a durable outbox (store/eb_delivery.h).
 *
 * When an event matches a rule whose target is an API destination, the
 * matching (a PutEvents, an S3 event, a scheduled rule firing) appends one
 * outbox row in its own store batch: the body (after Input, InputPath or
 * InputTransformer), the target's HttpParameters resolved against the event,
 * the target's JSON (retry policy, dead-letter queue) and the event itself. A
 * dispatcher thread reads the committed rows that are due and hands them to
 * EB_OUTBOX_THREADS delivery threads, which look the destination and its
 * connection up, send the request (the destination's method to its endpoint,
 * the connection's authorization header, parameters), and then, in a later
 * batch:
 *   - 2xx: delete the row;
 *   - no response (connection refused, timeout), 401, 407, 409, 429, 5xx:
 *     reschedule with exponential backoff (1 s doubling, at most 5 min) while
 *     the target's RetryPolicy allows (MaximumRetryAttempts,
 *     MaximumEventAgeInSeconds);
 *   - another status, a destination or connection that is gone, or retries
 *     exhausted: the event goes to the target's DeadLetterConfig queue (in the
 *     batch that deletes the row) with AWS's attributes, else it is dropped.
 * At least once: a crash between a delivery and the commit of its delete
 * delivers it again. The dispatcher, busy list, threads and throttling are
 * the shared outbox runner's (src/events/outbox.h), as for SNS. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "eventbridge/eb_internal.h"
#include "events/outbox.h"
#include "net/http.h"
#include "store/eb_delivery.h"

#define EB_OUTBOX_THREADS 4
#define TIMEOUT_S 5 /* API destinations: 5 seconds, as AWS */
#define MAX_BACKOFF_S 300

typedef struct {
  uint64_t id;
  char *rule_arn, *target, *request, *event, *body;
  size_t body_len, event_len;
  int attempts;
  int64_t created_ms;
} job;

struct eb_outbox {
  tw_eventbridge *eb;
  tw_outbox *runner;
  atomic_uint_fast64_t delivered, retried, dead_lettered, dropped;
};
typedef struct eb_outbox eb_outbox;

static const char *str_of(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

/* --- appending ---------------------------------------------------------------- */

/* A parameter value: a JSONPath ("$." ...) is read from the event (a string
 * as is, anything else as JSON), else the constant. */
static json_t *param_value(const json_t *event, json_t *v) {
  const char *s = json_string_value(v);
  if (!s) return NULL;
  if (s[0] == '$' && eb_jsonpath_valid(s)) {
    json_t *x = eb_jsonpath(event, s);
    if (!x) return json_string("");
    char *text = json_is_string(x) ? NULL : json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *out = json_string(text ? text : json_string_value(x));
    free(text);
    json_decref(x);
    return out;
  }
  return json_string(s);
}

void eb_outbox_add(tw_eventbridge *eb, const eb_target *t, const char *rule_arn,
                   const json_t *event, const char *event_text, const char *body, size_t len,
                   int64_t ingested_ms) {
  json_t *req = json_pack("{s:[],s:{},s:{}}", "path", "headers", "query");
  json_t *hp = t->http_params;
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(hp, "PathParameterValues"), i, v) {
    json_t *x = param_value(event, v);
    if (x) json_array_append_new(json_object_get(req, "path"), x);
  }
  const char *k;
  json_object_foreach(json_object_get(hp, "HeaderParameters"), k, v) {
    json_t *x = param_value(event, v);
    if (x) json_object_set_new(json_object_get(req, "headers"), k, x);
  }
  json_object_foreach(json_object_get(hp, "QueryStringParameters"), k, v) {
    json_t *x = param_value(event, v);
    if (x) json_object_set_new(json_object_get(req, "query"), k, x);
  }
  char *req_text = json_dumps(req, JSON_COMPACT);
  char *target_text = json_dumps(t->json, JSON_COMPACT);
  json_decref(req);
  tw_eb_outbox_row row = {.id = atomic_fetch_add(&eb->outbox_next_id, 1) + 1,
                          .rule_arn = rule_arn,
                          .target = target_text,
                          .request = req_text,
                          .event = event_text,
                          .body = body,
                          .body_len = len,
                          .attempts = 0,
                          .due_ms = tw_now_ms(),
                          .created_ms = ingested_ms};
  tw_store_eb_delivery(eb->store)->out_put(eb->store, &row);
  free(req_text);
  free(target_text);
}

/* --- scanning -------------------------------------------------------------------- */

static void job_free(void *p) {
  job *j = p;
  if (!j) return;
  free(j->rule_arn);
  free(j->target);
  free(j->request);
  free(j->event);
  free(j->body);
  free(j);
}

typedef struct {
  tw_outbox *o;
} scan_ctx;

static void take_row(void *ud, const tw_eb_outbox_row *r) {
  tw_outbox *o = ((scan_ctx *)ud)->o;
  if (!tw_outbox_wants(o, r->id)) return;
  job *j = calloc(1, sizeof *j);
  j->id = r->id;
  j->rule_arn = strdup(r->rule_arn);
  j->target = strdup(r->target);
  j->request = strdup(r->request);
  j->event = strdup(r->event);
  j->event_len = strlen(r->event);
  j->body = malloc(r->body_len + 1);
  if (r->body_len) memcpy(j->body, r->body, r->body_len);
  j->body[r->body_len] = 0;
  j->body_len = r->body_len;
  j->attempts = r->attempts;
  j->created_ms = r->created_ms;
  if (!tw_outbox_offer(o, r->id, j)) job_free(j);
}

/* Cluster mode: the rows read are leased to this node (out_claim), so no
 * other node delivers them; as few as the runner's queue takes at once (its
 * room is at least half of it when it scans), so none waits out its lease in
 * this node's queue. A row whose node died is due again when its lease ends. */
#define CLAIM_LIMIT 16

static int scan(void *ud, tw_outbox *o, int64_t now_ms, int limit) {
  eb_outbox *ob = ud;
  scan_ctx ctx = {o};
  tw_store *s = ob->eb->store;
  const tw_eb_delivery_repo *repo = tw_store_eb_delivery(s);
  if (ob->eb->cluster && repo->out_claim)
    return repo->out_claim(s, now_ms, ob->eb->claim_ms, limit < CLAIM_LIMIT ? limit : CLAIM_LIMIT,
                           take_row, &ctx);
  return repo->out_due(s, now_ms, limit, take_row, &ctx);
}

/* --- one delivery ------------------------------------------------------------------ */

typedef struct {
  char name[128];
  char *endpoint, *method;
  long rate;
  json_t *conn_auth; /* the connection's AuthParameters (a copy) */
  char *auth_type;
} dest_info;

static void dest_info_free(dest_info *d) {
  free(d->endpoint);
  free(d->method);
  free(d->auth_type);
  json_decref(d->conn_auth);
}

/* Copies what the delivery needs from the destination and its connection.
 * 0; -1 with err set when either is gone. */
static int look_up(tw_eventbridge *eb, const char *arn, dest_info *d, char *err, size_t errlen) {
  memset(d, 0, sizeof *d);
  if (eb_api_dest_name(eb, arn, d->name, sizeof d->name)) {
    snprintf(err, errlen, "%s is not an API destination ARN.", arn);
    return -1;
  }
  int rc = -1;
  eb_lock(eb);
  json_t *dest = tw_map_get(&eb->destinations, d->name);
  const char *conn_arn = str_of(dest, "ConnectionArn");
  json_t *conn = NULL;
  const char *k;
  void *v;
  for (tw_map_entry *it = tw_map_next(&eb->connections, NULL, &k, &v); it && conn_arn && !conn;
       it = tw_map_next(&eb->connections, it, &k, &v))
    if (!strcmp(str_of(v, "ConnectionArn"), conn_arn)) conn = v;
  if (!dest || strcmp(str_of(dest, "ApiDestinationArn"), arn))
    snprintf(err, errlen, "The API destination %s does not exist.", arn);
  else if (!conn)
    snprintf(err, errlen, "The connection %s of API destination %s does not exist.", conn_arn,
             d->name);
  else {
    d->endpoint = strdup(str_of(dest, "InvocationEndpoint"));
    d->method = strdup(str_of(dest, "HttpMethod"));
    d->rate = (long)json_integer_value(json_object_get(dest, "InvocationRateLimitPerSecond"));
    d->conn_auth = json_deep_copy(json_object_get(conn, "AuthParameters"));
    d->auth_type = strdup(str_of(conn, "AuthorizationType"));
    rc = 0;
  }
  eb_unlock(eb);
  return rc;
}

static int header_ok(const char *k, const char *v) {
  return k && v && *k && !strpbrk(k, "\r\n: ") && !strpbrk(v, "\r\n");
}

static void add_query(tw_buf *q, const char *k, const char *v) {
  if (q->len) tw_buf_putc(q, '&');
  tw_http_uri_encode(q, k, strlen(k), 0);
  tw_buf_putc(q, '=');
  tw_http_uri_encode(q, v, strlen(v), 0);
}

/* Sends the request: the HTTP status, or -1 (no response: err says why),
 * or -2 (the request cannot be made: err says why; not retried). */
static int send_request(tw_http_cancel *cancel, const dest_info *d, const job *j, char *err,
                        size_t errlen) {
  json_t *req = json_loads(j->request, 0, NULL);
  json_t *path_values = json_object_get(req, "path");
  /* the endpoint with each * replaced by the next path parameter value */
  tw_buf url;
  tw_buf_init(&url, 1u << 16);
  size_t pi = 0;
  int status = -2;
  for (const char *p = d->endpoint; *p; p++) {
    if (*p != '*') {
      tw_buf_putc(&url, *p);
      continue;
    }
    const char *v = json_string_value(json_array_get(path_values, pi++));
    if (!v) {
      snprintf(err, errlen,
               "The endpoint %s has more path parameters (*) than the target's "
               "PathParameterValues.",
               d->endpoint);
      goto out;
    }
    tw_http_uri_encode(&url, v, strlen(v), 0);
  }
  tw_buf_putc(&url, 0);
  tw_url u;
  if (tw_url_parse(url.data, &u, err, errlen)) goto out;
  const char *s = strstr(url.data, "://");
  s = s ? strpbrk(s + 3, "/?#") : NULL;
  char path[4096];
  snprintf(path, sizeof path, "%s", s && *s == '/' ? s : "/");
  char *frag = strchr(path, '#');
  if (frag) *frag = 0;
  tw_buf query;
  tw_buf_init(&query, 1u << 16);
  char *qm = strchr(path, '?');
  if (!qm && s && *s == '?') {
    const char *f = strchr(s + 1, '#');
    tw_buf_append(&query, s + 1, f ? (size_t)(f - s - 1) : strlen(s + 1));
  }
  if (qm) {
    *qm = 0;
    tw_buf_puts(&query, qm + 1);
  }
  /* headers: the connection's, the target's, then authorization */
  tw_kv hs[64];
  size_t n = 0;
  hs[n++] = (tw_kv){"Content-Type", "application/json; charset=utf-8"};
  hs[n++] = (tw_kv){"User-Agent", "Amazon/EventBridge/ApiDestinations"};
  json_t *ihp = json_object_get(d->conn_auth, "InvocationHttpParameters");
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(ihp, "HeaderParameters"), i, v) {
    const char *hk = str_of(v, "Key"), *hv = str_of(v, "Value");
    if (header_ok(hk, hv) && n < 40) hs[n++] = (tw_kv){hk, hv};
  }
  json_array_foreach(json_object_get(ihp, "QueryStringParameters"), i, v) {
    const char *qk = str_of(v, "Key"), *qv = str_of(v, "Value");
    if (qk && qv) add_query(&query, qk, qv);
  }
  const char *k;
  json_object_foreach(json_object_get(req, "headers"), k, v) {
    if (header_ok(k, json_string_value(v)) && n < 56) hs[n++] = (tw_kv){k, json_string_value(v)};
  }
  json_object_foreach(json_object_get(req, "query"), k, v) {
    if (json_string_value(v)) add_query(&query, k, json_string_value(v));
  }
  char basic[1200];
  if (!strcmp(d->auth_type, "API_KEY")) {
    json_t *key = json_object_get(d->conn_auth, "ApiKeyAuthParameters");
    if (header_ok(str_of(key, "ApiKeyName"), str_of(key, "ApiKeyValue")))
      hs[n++] = (tw_kv){str_of(key, "ApiKeyName"), str_of(key, "ApiKeyValue")};
  } else if (!strcmp(d->auth_type, "BASIC")) {
    json_t *b = json_object_get(d->conn_auth, "BasicAuthParameters");
    char cred[600];
    int cn = snprintf(cred, sizeof cred, "%s:%s", str_of(b, "Username") ?: "",
                      str_of(b, "Password") ?: "");
    if (cn > 0 && (size_t)cn < sizeof cred) {
      memcpy(basic, "Basic ", 6);
      tw_base64_encode((const uint8_t *)cred, (size_t)cn, basic + 6);
      hs[n++] = (tw_kv){"Authorization", basic};
    }
  }
  int with_body = strcmp(d->method, "GET") && strcmp(d->method, "HEAD");
  tw_buf_putc(&query, 0);
  tw_http *h = tw_http_new(&u);
  if (!h) {
    snprintf(err, errlen, "out of memory");
    tw_buf_free(&query);
    goto out;
  }
  tw_http_set_timeout(h, TIMEOUT_S);
  tw_http_req hr = {.method = d->method,
                    .path = path,
                    .query = query.len > 1 ? query.data : NULL,
                    .headers = hs,
                    .nheaders = n,
                    .body = with_body ? j->body : NULL,
                    .body_len = with_body ? j->body_len : 0,
                    .body_fd = -1,
                    .resp_cap = 1u << 20,
                    .resp_fd = -1,
                    .cancel = cancel,
                    .timeout_ms = TIMEOUT_S * 1000};
  tw_http_resp resp;
  tw_http_resp_init(&resp);
  status = tw_http_do(h, &hr, &resp, err, errlen) == 0 ? resp.status : -1;
  if (status > 0 && (status < 200 || status > 299)) {
    size_t bl = resp.body.len > 200 ? 200 : resp.body.len;
    snprintf(err, errlen, "The endpoint answered HTTP %d%s%.*s", status, bl ? ": " : "", (int)bl,
             bl ? resp.body.data : "");
  }
  tw_http_resp_free(&resp);
  tw_http_free(h);
  tw_buf_free(&query);
out:
  tw_buf_free(&url);
  json_decref(req);
  return status;
}

static int retryable(int status) {
  return status == -1 || status == 401 || status == 407 || status == 409 || status == 429 ||
         status >= 500;
}

static uint64_t finish_failed(eb_outbox *o, const job *j, const json_t *target, int status,
                              const char *err, const char *exhausted, int attempts) {
  tw_eventbridge *eb = o->eb;
  const tw_eb_delivery_repo *repo = tw_store_eb_delivery(eb->store);
  char code[32];
  if (status > 0)
    snprintf(code, sizeof code, "%d", status);
  else
    snprintf(code, sizeof code, "%s",
             status == -1 ? "SDK_CLIENT_ERROR" : "ResourceNotFoundException");
  const char *dlq = str_of(json_object_get(target, "DeadLetterConfig"), "Arn");
  tw_events_lock(eb->events);
  tw_store_hold(eb->store);
  int dead = eb_dead_letter(eb, dlq, j->rule_arn, str_of(target, "Arn"), j->event, j->event_len,
                            code, err, exhausted, attempts) == 0;
  uint64_t t = repo->out_remove(eb->store, j->id);
  tw_store_release(eb->store);
  tw_events_unlock(eb->events);
  uint64_t nd =
      dead ? atomic_fetch_add(&o->dead_lettered, 1) + 1 : atomic_fetch_add(&o->dropped, 1) + 1;
  if (dead)
    tw_info("eventbridge: delivery to %s failed (%s): dead-lettered", str_of(target, "Arn"), err);
  else if ((nd & (nd - 1)) == 0)
    tw_warn(
        "eventbridge: an event for %s was dropped (%s; no working dead-letter queue); "
        "%" PRIu64 " dropped since start",
        str_of(target, "Arn"), err, nd);
  return t;
}

static uint64_t deliver(void *ud, tw_outbox *runner, void *p, tw_http_cancel *cancel) {
  eb_outbox *o = ud;
  job *j = p;
  tw_eventbridge *eb = o->eb;
  const tw_eb_delivery_repo *repo = tw_store_eb_delivery(eb->store);
  json_t *target = json_loads(j->target, 0, NULL);
  const char *arn = str_of(target, "Arn");
  json_t *rp = json_object_get(target, "RetryPolicy");
  json_t *mr = json_object_get(rp, "MaximumRetryAttempts"),
         *ma = json_object_get(rp, "MaximumEventAgeInSeconds");
  int max_retries = json_is_integer(mr) ? (int)json_integer_value(mr) : EB_DEFAULT_RETRIES;
  int64_t max_age_ms =
      (json_is_integer(ma) ? json_integer_value(ma) : EB_DEFAULT_MAX_AGE) * (int64_t)1000;
  char err[700] = "";
  dest_info d;
  uint64_t ticket = 0;
  if (!arn || look_up(eb, arn, &d, err, sizeof err)) {
    ticket = finish_failed(o, j, target, -2, err, NULL, j->attempts);
    json_decref(target);
    return ticket;
  }
  tw_outbox_throttle(runner, d.name, (double)d.rate);
  int status = tw_outbox_stopping(runner) ? -1 : send_request(cancel, &d, j, err, sizeof err);
  dest_info_free(&d);
  if (tw_outbox_stopping(runner) && (status < 200 || status > 299)) {
    json_decref(target); /* shutting down: the row stays */
    return 0;
  }
  if (status >= 200 && status < 300) {
    atomic_fetch_add(&o->delivered, 1);
    ticket = repo->out_remove(eb->store, j->id);
  } else if (!retryable(status)) {
    ticket = finish_failed(o, j, target, status, err, NULL, j->attempts);
  } else {
    int attempts = j->attempts + 1; /* failed attempts: the first try, then retries */
    int64_t delay = 1000;
    for (int i = 1; i < attempts && delay < MAX_BACKOFF_S * 1000; i++) delay *= 2;
    if (delay > MAX_BACKOFF_S * 1000) delay = MAX_BACKOFF_S * 1000;
    delay += (int64_t)(rand() % 250); /* a little jitter */
    int64_t now = tw_now_ms();
    if (attempts > max_retries)
      ticket = finish_failed(o, j, target, status, err, "MaximumRetryAttempts", attempts - 1);
    else if (now + delay - j->created_ms > max_age_ms)
      ticket = finish_failed(o, j, target, status, err, "MaximumEventAgeInSeconds", attempts - 1);
    else {
      tw_debug("eventbridge: delivery %" PRIu64 " to %s failed (%s); retry %d in %lld ms", j->id,
               arn, err, attempts, (long long)delay);
      atomic_fetch_add(&o->retried, 1);
      ticket = repo->out_reschedule(eb->store, j->id, attempts, now + delay);
    }
  }
  json_decref(target);
  return ticket;
}

/* --- open, start, stop ------------------------------------------------------------- */

int eb_outbox_open(tw_eventbridge *eb) {
  eb_outbox *o = calloc(1, sizeof *o);
  if (!o) return -1;
  o->eb = eb;
  tw_outbox_ops ops = {.name = "eventbridge",
                       .threads = EB_OUTBOX_THREADS,
                       .store = eb->store,
                       .ud = o,
                       .scan = scan,
                       .deliver = deliver,
                       .free_job = job_free};
  o->runner = tw_outbox_new(&ops);
  eb->outbox = o;
  if (!o->runner) return -1;
  uint64_t max = 0;
  if (tw_store_eb_delivery(eb->store)->out_max_id(eb->store, &max)) return -1;
  atomic_store(&eb->outbox_next_id, max);
  long pending = tw_store_eb_delivery(eb->store)->out_count(eb->store);
  if (pending > 0) tw_info("eventbridge: %ld API destination deliveries waiting", pending);
  return 0;
}

int eb_outbox_start(tw_eventbridge *eb) {
  return eb->outbox ? tw_outbox_start(eb->outbox->runner) : 0;
}

void eb_outbox_stop(tw_eventbridge *eb) {
  if (eb->outbox) tw_outbox_stop(eb->outbox->runner);
}

void eb_outbox_close(tw_eventbridge *eb) {
  eb_outbox *o = eb->outbox;
  if (!o) return;
  tw_outbox_free(o->runner);
  free(o);
  eb->outbox = NULL;
}
