/* The job API (system S3), under /_/api/v1/jobs:
 *
 *   POST /jobs                      submit: the job row and its SQS message, one
 *                                   transaction; 202 once both are durable
 *   GET  /jobs/{id}                 status, with a fresh presigned URL of the result
 *   GET  /jobs?status&type&limit&cursor   newest first, paginated
 *   POST /jobs/{id}/start|complete|fail   workers report progress
 *
 * The jobs table is the truth. The state a transition is checked against may
 * not be committed yet, so changes appended but not yet durable are kept in
 * memory (jobs_state.c) until the store has committed them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/trace.h"
#include "gateway/jobs_internal.h"
#include "store/space.h"

#define JOB_MAX_BODY (256 * 1024) /* a job travels in one SQS message */
#define JOB_ERROR_MAX 4096
#define JOB_KEY_MAX 1024 /* S3's key limit */
#define IDEM_KEY_MAX 255
#define LIST_DEFAULT 20
#define LIST_MAX 100
#define URL_EXPIRES 3600 /* presigned result URLs */

/* --- replies -------------------------------------------------------------------- */

static json_t *time_or_null(int64_t ms) {
  if (!ms) return json_null();
  char t[32];
  tw_gw_iso8601(ms, 1, t);
  return json_string(t);
}

static json_t *str_or_null(const char *s) {
  return s ? json_string(s) : json_null();
}

/* The job as GET /jobs/{id} shows it. */
static json_t *job_doc(tw_request *r, const tw_job *j) {
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(j->id));
  json_object_set_new(o, "type", json_string(j->type));
  json_object_set_new(o, "status", json_string(j->status));
  json_object_set_new(o, "attempts", json_integer(j->attempts));
  json_object_set_new(o, "created_at", time_or_null(j->created));
  json_object_set_new(o, "started_at", time_or_null(j->started));
  json_object_set_new(o, "finished_at", time_or_null(j->finished));
  json_object_set_new(o, "error", str_or_null(j->error));
  if (j->bucket && j->key) {
    json_t *res = json_object();
    json_object_set_new(res, "bucket", json_string(j->bucket));
    json_object_set_new(res, "key", json_string(j->key));
    /* the output may have been deleted since: then neither size nor URL */
    json_object_set_new(res, "size", j->size >= 0 ? json_integer(j->size) : json_null());
    char *url = j->size >= 0 ? tw_gw_presign_get(r, j->bucket, j->key, URL_EXPIRES) : NULL;
    json_object_set_new(res, "url", str_or_null(url));
    free(url);
    json_object_set_new(o, "result", res);
  } else {
    json_object_set_new(o, "result", json_null());
  }
  return o;
}

static void status_url(tw_request *r, const char *id, char *out, size_t n) {
  char base[512];
  tw_req_base_url(r, base, sizeof base);
  snprintf(out, n, "%s%s/jobs/%s", base, TW_GW_PREFIX, id);
}

static json_t *accepted_doc(tw_request *r, const char *id, const char *status) {
  char url[700];
  status_url(r, id, url, sizeof url);
  return json_pack("{s:s,s:s,s:s}", "id", id, "status", status, "status_url", url);
}

static void not_found(tw_request *r, const char *id) {
  char msg[160];
  snprintf(msg, sizeof msg, "Job %.64s does not exist.", id);
  tw_gw_error(r, TW_ERR_NOT_FOUND, msg);
}

/* --- validation ----------------------------------------------------------------------- */

int tw_jobs_valid_type(const char *t) {
  size_t n = t ? strlen(t) : 0;
  if (n == 0 || n > TW_JOB_TYPE_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = t[i];
    int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    if (!alnum && (i == 0 || !strchr("._:-", ch))) return 0;
  }
  return 1;
}

static int valid_idem_key(const char *k) {
  size_t n = strlen(k);
  if (n == 0 || n > IDEM_KEY_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)k[i] < 0x20 || (unsigned char)k[i] > 0x7e) return 0;
  return 1;
}

static int body_too_large(tw_request *r, size_t max) {
  if (!r->too_large && r->body.len <= max) return 0;
  char msg[128];
  snprintf(msg, sizeof msg, "The request body is larger than %zu bytes.", max);
  tw_gw_error(r, TW_ERR_GW_PAYLOAD_TOO_LARGE, msg);
  return 1;
}

const char *tw_jobs_check_submit(const json_t *doc, const char *idem) {
  json_t *type = json_object_get(doc, "type"), *payload = json_object_get(doc, "payload");
  if (!json_is_string(type) || !tw_jobs_valid_type(json_string_value(type)))
    return "\"type\" must be a string of 1 to 64 letters, digits, '.', '_', ':' or '-', "
           "starting with a letter or digit.";
  if (payload && !json_is_object(payload)) return "\"payload\" must be a JSON object.";
  if (idem && !valid_idem_key(idem))
    return "The Idempotency-Key header must be 1 to 255 printable ASCII characters.";
  return NULL;
}

/* Who owns an Idempotency-Key: the API key, else the authorizer's principal. */
static void caller_owner(const tw_gw_caller *c, char *out, size_t n) {
  if (c->key_id[0])
    snprintf(out, n, "k:%s", c->key_id);
  else
    snprintf(out, n, "p:%s", c->principal);
}

/* --- POST /jobs ------------------------------------------------------------------------- */

static void submit(tw_request *r, const tw_gw_caller *c) {
  tw_jobs *J = tw_jobs_get();
  if (!tw_gw_allow(r, c, "jobs:submit", NULL, NULL)) return;
  if (body_too_large(r, JOB_MAX_BODY)) return;
  if (tw_space_low()) { /* store/space.h: keeps room for deletes */
    tw_gw_error(r, TW_ERR_SERVICE_UNAVAILABLE, "The server is low on disk space; try again later.");
    return;
  }
  json_t *doc = tw_gw_body_json(r);
  if (!doc) return;
  json_t *type = json_object_get(doc, "type"), *payload = json_object_get(doc, "payload");
  const char *idem = tw_req_header(r, "Idempotency-Key");
  const char *why = tw_jobs_check_submit(doc, idem);
  if (why) {
    tw_gw_error(r, TW_ERR_GW_BAD_REQUEST, why);
    goto out;
  }
  char trace[260];
  tw_trace_header(tw_req_header(r, "X-Amzn-Trace-Id"), tw_req_header(r, "traceparent"), trace,
                  sizeof trace);
  tw_job_submit s = {.type = json_string_value(type),
                     .idem_key = idem,
                     .sender = c->principal,
                     .trace = trace[0] ? trace : NULL};
  caller_owner(c, s.owner, sizeof s.owner);
  tw_uuid4(s.id);
  /* no payload is an empty one */
  json_t *pl = payload ? json_incref(payload) : json_object();
  json_t *msg = json_pack("{s:s,s:s,s:O}", "id", s.id, "type", s.type, "payload", pl);
  /* ASCII only: characters SQS refuses in a body (U+FFFE, U+FFFF) travel escaped */
  char *body = json_dumps(msg, JSON_COMPACT | JSON_ENSURE_ASCII);
  s.body = body;
  json_decref(msg);
  if (idem) { /* the request's fingerprint: type and payload, canonical */
    json_t *fp = json_pack("{s:s,s:O}", "type", s.type, "payload", pl);
    char *text = json_dumps(fp, JSON_COMPACT | JSON_SORT_KEYS);
    tw_sha256_hex(text, strlen(text), s.fingerprint);
    free(text);
    json_decref(fp);
  }
  json_decref(pl);
  uint64_t ticket = 0;
  int rc = tw_jobs_submit(J, &s, &ticket);
  switch (rc) {
    case TW_JOB_OK:
      tw_gw_json_after_commit(r, ticket, 202, accepted_doc(r, s.id, "queued"));
      break;
    case TW_JOB_REPLAY:
      /* the first request's answer, with the job's status as it stands now */
      tw_gw_json(r, 202, accepted_doc(r, s.replay_id, s.replay_status));
      tw_req_add_header(r, "Idempotent-Replayed", "true");
      break;
    case TW_JOB_IDEM_BUSY:
      tw_gw_error(r, TW_ERR_GW_CONFLICT,
                  "A request with this Idempotency-Key is still being processed; retry later.");
      break;
    case TW_JOB_IDEM_MISMATCH:
      tw_gw_error(r, TW_ERR_GW_IDEMPOTENCY_MISMATCH,
                  "This Idempotency-Key was used within the last 24 hours for a different job "
                  "request (type or payload differ).");
      break;
    case TW_JOB_TOO_LARGE:
      tw_gw_error(r, TW_ERR_GW_PAYLOAD_TOO_LARGE,
                  "The job message is larger than its queue's MaximumMessageSize.");
      break;
    case TW_JOB_ERROR:
      tw_gw_error(r, TW_ERR_INTERNAL, "The job could not be recorded.");
      break;
    case TW_JOB_UNAVAILABLE:
      tw_gw_error(r, TW_ERR_SERVICE_UNAVAILABLE,
                  "The store cannot be reached: the job was not accepted; try again later.");
      break;
    default: {
      char m[400];
      snprintf(m, sizeof m, "The job queue %s is not available: the job was not accepted.",
               s.queue_name[0] ? s.queue_name : "?");
      tw_gw_error(r, TW_ERR_SERVICE_UNAVAILABLE, m);
    }
  }
  free(body);
out:
  json_decref(doc);
}

/* --- GET /jobs/{id} ---------------------------------------------------------------------- */

static void get_job(tw_request *r, const tw_gw_caller *c, const char *id) {
  if (!tw_gw_allow(r, c, "jobs:read", NULL, NULL)) return;
  tw_job j;
  int found = tw_jobs_read(tw_jobs_get(), id, &j);
  if (found < 0) {
    tw_gw_store_error(r, "The job could not be read.");
    return;
  }
  if (!found) {
    not_found(r, id);
    return;
  }
  tw_gw_json(r, 200, job_doc(r, &j));
  tw_job_clear(&j);
}

/* --- GET /jobs --------------------------------------------------------------------------- */

/* Cursors are opaque to clients: base64url of "j1:<seq>". */
static void cursor_encode(int64_t seq, char out[64]) {
  char raw[32];
  int n = snprintf(raw, sizeof raw, "j1:%lld", (long long)seq);
  size_t len = tw_base64_encode((const uint8_t *)raw, (size_t)n, out);
  while (len && out[len - 1] == '=') out[--len] = 0;
  for (size_t i = 0; i < len; i++) out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
}

static int64_t cursor_decode(const char *s) {
  char b64[64];
  size_t n = strlen(s);
  if (n == 0 || n > 40) return -1;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (ch == '-')
      ch = '+';
    else if (ch == '_')
      ch = '/';
    else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
      return -1;
    b64[i] = ch;
  }
  b64[n] = 0;
  uint8_t raw[48];
  long len = tw_base64_decode(b64, n, raw);
  if (len < 4 || len > 40) return -1;
  raw[len] = 0;
  if (memcmp(raw, "j1:", 3)) return -1;
  char *end;
  long long v = strtoll((const char *)raw + 3, &end, 10);
  if (*end || v <= 0 || raw[3] == '+' || raw[3] == ' ') return -1;
  return v;
}

int64_t tw_jobs_cursor_decode(const char *s) {
  return cursor_decode(s);
}

static int valid_status(const char *s) {
  return !strcmp(s, "queued") || !strcmp(s, "running") || !strcmp(s, "succeeded") ||
         !strcmp(s, "failed");
}

static void list_jobs(tw_request *r, const tw_gw_caller *c) {
  if (!tw_gw_allow(r, c, "jobs:read", NULL, NULL)) return;
  char *status = tw_req_query_param(r, "status"), *type = tw_req_query_param(r, "type");
  char *limit_s = tw_req_query_param(r, "limit"), *cursor = tw_req_query_param(r, "cursor");
  tw_job_filter f = {.limit = LIST_DEFAULT};
  if (status && *status) {
    if (!valid_status(status)) {
      tw_gw_error(r, TW_ERR_GW_BAD_REQUEST,
                  "\"status\" must be one of queued, running, succeeded, failed.");
      goto out;
    }
    f.status = status;
  }
  if (type && *type) {
    if (!tw_jobs_valid_type(type)) {
      tw_gw_error(r, TW_ERR_GW_BAD_REQUEST, "\"type\" is not a valid job type.");
      goto out;
    }
    f.type = type;
  }
  if (limit_s) {
    char *end;
    long v = strtol(limit_s, &end, 10);
    if (!*limit_s || *end || v < 1 || v > LIST_MAX) {
      tw_gw_error(r, TW_ERR_GW_BAD_REQUEST, "\"limit\" must be an integer from 1 to 100.");
      goto out;
    }
    f.limit = (int)v;
  }
  if (cursor && *cursor) {
    f.before_seq = cursor_decode(cursor);
    if (f.before_seq < 0) {
      tw_gw_error(r, TW_ERR_GW_BAD_REQUEST, "\"cursor\" is not a cursor this API returned.");
      goto out;
    }
  }
  tw_job *rows = NULL;
  int64_t next = 0;
  int n = tw_jobs_list(tw_jobs_get(), &f, &rows, &next);
  if (n < 0) {
    tw_gw_store_error(r, "The jobs could not be listed.");
    goto out;
  }
  json_t *arr = json_array();
  for (int i = 0; i < n; i++) {
    json_array_append_new(arr, job_doc(r, &rows[i]));
    tw_job_clear(&rows[i]);
  }
  free(rows);
  json_t *doc = json_object();
  json_object_set_new(doc, "jobs", arr);
  if (next > 0) {
    char cur[64];
    cursor_encode(next, cur);
    json_object_set_new(doc, "next_cursor", json_string(cur));
  } else {
    json_object_set_new(doc, "next_cursor", json_null());
  }
  tw_gw_json(r, 200, doc);
out:
  free(status);
  free(type);
  free(limit_s);
  free(cursor);
}

/* --- POST /jobs/{id}/start|complete|fail -------------------------------------------------- */

static void transition(tw_request *r, const tw_gw_caller *c, const char *id, tw_job_verb verb) {
  tw_jobs *J = tw_jobs_get();
  tw_job_change ch = {.verb = verb, .size = -1};
  json_t *doc = NULL;
  if (body_too_large(r, JOB_MAX_BODY)) return;
  if (verb == TW_JOB_START) {
    if (!tw_gw_allow(r, c, "jobs:update", NULL, NULL)) return;
    /* no body needed; one that is sent must still be a JSON object */
    if (r->body.len && !(doc = tw_gw_body_json(r))) return;
  } else {
    if (!(doc = tw_gw_body_json(r))) return;
  }
  if (verb == TW_JOB_COMPLETE) {
    json_t *res = json_object_get(doc, "result");
    const char *dflt = r->app->cfg.jobs_results_bucket;
    json_t *b = json_object_get(res, "bucket"), *k = json_object_get(res, "key");
    if (!json_is_object(res) || (b && !json_is_string(b)) || !json_is_string(k) ||
        (!b && !dflt[0])) {
      tw_gw_error(r, TW_ERR_GW_BAD_REQUEST,
                  "complete wants {\"result\":{\"bucket\":\"...\",\"key\":\"...\"}}.");
      goto out;
    }
    ch.bucket = b ? json_string_value(b) : dflt;
    ch.key = json_string_value(k);
    size_t klen = json_string_length(k);
    if (!klen || klen > JOB_KEY_MAX || strlen(ch.key) != klen || !*ch.bucket) {
      tw_gw_error(r, TW_ERR_GW_BAD_REQUEST, "The result key must be 1 to 1024 bytes.");
      goto out;
    }
    if (dflt[0] && strcmp(ch.bucket, dflt)) {
      char m[200];
      snprintf(m, sizeof m, "Job results must be stored in the bucket %s.", dflt);
      tw_gw_error(r, TW_ERR_GW_BAD_REQUEST, m);
      goto out;
    }
    if (!tw_gw_allow(r, c, "jobs:update", ch.bucket, ch.key)) goto out;
    int have = tw_jobs_object_size(J, ch.bucket, ch.key, &ch.size);
    if (have == -2) {
      tw_gw_error(r, TW_ERR_INTERNAL, "Cannot read the result object.");
      goto out;
    }
    if (have <= 0) {
      char m[1200];
      if (have < 0)
        snprintf(m, sizeof m, "The result bucket %.63s does not exist.", ch.bucket);
      else
        snprintf(m, sizeof m, "The result object s3://%.63s/%.1024s does not exist.", ch.bucket,
                 ch.key);
      tw_gw_error(r, have < 0 ? TW_ERR_S3_NO_SUCH_BUCKET : TW_ERR_S3_NO_SUCH_KEY, m);
      goto out;
    }
  } else if (verb == TW_JOB_FAIL) {
    if (!tw_gw_allow(r, c, "jobs:update", NULL, NULL)) goto out;
    json_t *e = json_object_get(doc, "error");
    size_t elen = json_string_length(e);
    if (!json_is_string(e) || !elen || elen > JOB_ERROR_MAX) {
      tw_gw_error(r, TW_ERR_GW_BAD_REQUEST,
                  "fail wants {\"error\":\"...\"}, a message of 1 to 4096 bytes.");
      goto out;
    }
    ch.error = json_string_value(e);
  }
  tw_job after;
  char why[200] = "";
  uint64_t ticket = 0;
  uint64_t failures = tw_store_failures(tw_gw_store(r->app)); /* before the state is read */
  int rc = tw_jobs_change(J, id, &ch, &after, &ticket, why, sizeof why);
  if (rc == TW_JOB_NOT_FOUND) {
    not_found(r, id);
  } else if (rc == TW_JOB_CONFLICT) {
    /* answered once the state it names is durable */
    tw_gw_json_when_durable(
        r, 0, ticket, failures, 409,
        json_pack("{s:{s:s,s:s}}", "error", "code", "Conflict", "message", why));
  } else if (rc == TW_JOB_UNAVAILABLE) {
    tw_gw_error(r, TW_ERR_SERVICE_UNAVAILABLE, "The store is unavailable; try again later.");
  } else if (rc != TW_JOB_OK) {
    tw_gw_store_error(r, "The job could not be updated.");
  } else {
    tw_gw_json_after_commit(r, ticket, 200, job_doc(r, &after));
    tw_job_clear(&after);
  }
out:
  json_decref(doc);
}

/* --- routing -------------------------------------------------------------------------- */

static void not_allowed(tw_request *r, const char *allow) {
  tw_gw_error(r, TW_ERR_METHOD_NOT_ALLOWED, "This method is not allowed on this resource.");
  tw_req_add_header(r, "Allow", allow);
}

void tw_jobs_route(tw_request *r, const tw_gw_caller *c, const char *sub) {
  if (!tw_jobs_get()) {
    tw_gw_error(r, TW_ERR_SERVICE_UNAVAILABLE, "The job API is not running.");
    return;
  }
  int get = !strcmp(r->method, "GET"), post = !strcmp(r->method, "POST");
  if (!*sub || !strcmp(sub, "/")) {
    if (post)
      submit(r, c);
    else if (get)
      list_jobs(r, c);
    else
      not_allowed(r, "GET, POST");
    return;
  }
  const char *slash = strchr(sub + 1, '/');
  size_t idlen = slash ? (size_t)(slash - sub - 1) : strlen(sub + 1);
  char id[40];
  if (idlen == 0 || idlen >= sizeof id) {
    tw_gw_error(r, TW_ERR_NOT_FOUND, idlen ? "No such job." : "No such route.");
    return;
  }
  memcpy(id, sub + 1, idlen);
  id[idlen] = 0;
  if (!slash) {
    if (get)
      get_job(r, c, id);
    else
      not_allowed(r, "GET");
    return;
  }
  const char *verb = slash + 1;
  tw_job_verb v;
  if (!strcmp(verb, "start"))
    v = TW_JOB_START;
  else if (!strcmp(verb, "complete"))
    v = TW_JOB_COMPLETE;
  else if (!strcmp(verb, "fail"))
    v = TW_JOB_FAIL;
  else {
    tw_gw_error(r, TW_ERR_NOT_FOUND, "No such route.");
    return;
  }
  if (!post) {
    not_allowed(r, "POST");
    return;
  }
  transition(r, c, id, v);
}
