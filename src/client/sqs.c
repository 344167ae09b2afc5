/* SQS JSON 1.0 client. */
#include "client/sqs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/json_parse.h"
#include "core/buf.h"
#include "core/json_out.h"

#define MAX_RESPONSE (64u << 20) /* 10 messages of 1 MiB, escaped, with room to spare */
#define MAX_ATTEMPTS 3

struct tw_sqsc {
  tw_aws *aws;
};

/* Each thread keeps its request and response buffers from call to call:
 * fresh ones per call made malloc (and its consolidation of freed jansson
 * nodes) a tenth of a worker's CPU. Oversized ones are not kept. */
typedef struct {
  tw_buf req;
  tw_http_resp resp;
} call_bufs;

#define KEEP_BUFS (1u << 20)

static pthread_key_t g_bufs_key;
static pthread_once_t g_bufs_once = PTHREAD_ONCE_INIT;

static void bufs_free(void *p) {
  call_bufs *b = p;
  tw_buf_free(&b->req);
  tw_http_resp_free(&b->resp);
  free(b);
}

static void bufs_key_init(void) {
  pthread_key_create(&g_bufs_key, bufs_free);
}

static call_bufs *bufs_get(void) {
  pthread_once(&g_bufs_once, bufs_key_init);
  call_bufs *b = pthread_getspecific(g_bufs_key);
  if (!b && (b = calloc(1, sizeof *b))) {
    tw_buf_init(&b->req, MAX_RESPONSE);
    tw_http_resp_init(&b->resp);
    pthread_setspecific(g_bufs_key, b);
  }
  return b;
}

static void bufs_trim(call_bufs *b) {
  if (b->req.alloc > KEEP_BUFS) {
    tw_buf_free(&b->req);
    tw_buf_init(&b->req, MAX_RESPONSE);
  }
  if (b->resp.body.alloc > KEEP_BUFS) {
    tw_http_resp_free(&b->resp);
    tw_http_resp_init(&b->resp);
  }
}

tw_sqsc *tw_sqsc_new(const char *endpoint_url, const tw_aws_creds *creds, char *err,
                     size_t errlen) {
  /* aws is the struct's first member */
  return tw_aws_client_new(endpoint_url, "sqs", creds, sizeof(tw_sqsc), err, errlen);
}

void tw_sqsc_free(tw_sqsc *c) {
  if (!c) return;
  tw_aws_free(c->aws);
  free(c);
}

tw_aws *tw_sqsc_aws(tw_sqsc *c) {
  return c->aws;
}

const char *tw_sqsc_strerror(const tw_sqsc_error *e, char *out, size_t n) {
  if (e->code[0])
    snprintf(out, n, "%s: %s (HTTP %d)", e->code, e->message, e->status);
  else
    snprintf(out, n, "%s", e->message);
  return out;
}

/* Truncating copy (snprintf("%s") trips -Wformat-truncation on long inputs). */
static void copy_str(char *dst, size_t n, const char *src) {
  size_t l = src ? strnlen(src, n - 1) : 0;
  if (l) memcpy(dst, src, l);
  dst[l] = 0;
}

static void set_error(tw_sqsc_error *e, int status, const char *code, const char *msg) {
  if (!e) return;
  e->status = status;
  copy_str(e->code, sizeof e->code, code);
  copy_str(e->message, sizeof e->message, msg);
}

/* An error answer: {"__type":"com.amazonaws.sqs#X","message":"..."}. */
static void parse_error(const tw_http_resp *r, tw_sqsc_error *e) {
  json_t *doc = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
  const char *type = doc ? json_string_value(json_object_get(doc, "__type")) : NULL;
  const char *msg = doc ? json_string_value(json_object_get(doc, "message")) : NULL;
  if (!msg && doc) msg = json_string_value(json_object_get(doc, "Message"));
  if (type && strchr(type, '#')) type = strchr(type, '#') + 1;
  char fallback[64];
  if (!type) {
    snprintf(fallback, sizeof fallback, "HTTP%d", r->status);
    type = fallback;
  }
  set_error(e, r->status, type, msg ? msg : "");
  json_decref(doc);
}

int tw_sqsc_call(tw_sqsc *c, const char *action, json_t *req, json_t **resp, tw_sqsc_error *e,
                 tw_http_cancel *cancel) {
  call_bufs *cb = bufs_get();
  if (!cb) {
    set_error(e, -1, "", "out of memory");
    return -1;
  }
  tw_buf *body = &cb->req;
  tw_buf_reset(body);
  if (req)
    tw_json_write(body, req);
  else
    tw_buf_puts(body, "{}");
  if (body->overflow) {
    set_error(e, -1, "", "the request is too large");
    return -1;
  }
  char target[96];
  snprintf(target, sizeof target, "AmazonSQS.%s", action);
  tw_kv h[] = {{"Content-Type", "application/x-amz-json-1.0"}, {"X-Amz-Target", target}};
  tw_http_req q = {.method = "POST",
                   .path = "/",
                   .headers = h,
                   .nheaders = 2,
                   .body = body->data,
                   .body_len = body->len,
                   .body_fd = -1,
                   .resp_cap = MAX_RESPONSE,
                   .resp_fd = -1,
                   .cancel = cancel};
  tw_http_resp *r = &cb->resp;
  int rc = -1;
  char err[512];
  for (int attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    if (attempt > 1) usleep(100000u << (attempt - 1)); /* 200 ms, 400 ms */
    if (tw_aws_request(c->aws, &q, NULL, r, err, sizeof err)) {
      set_error(e, -1, "", err);
      if (cancel && tw_http_cancel_fired(cancel)) break;
      continue;
    }
    if (r->status == 200) {
      json_t *doc = r->body.len ? tw_json_parse(r->body.data, r->body.len, NULL, 0) : json_object();
      if (!doc || !json_is_object(doc)) {
        json_decref(doc);
        set_error(e, 200, "", "the response is not a JSON object");
        break;
      }
      if (resp)
        *resp = doc;
      else
        json_decref(doc);
      rc = 0;
      break;
    }
    parse_error(r, e);
    if (r->status != 500 && r->status != 503) break;
  }
  bufs_trim(cb);
  return rc;
}

int tw_sqsc_queue_url(tw_sqsc *c, const char *name_or_url, char *out, size_t n, tw_sqsc_error *e) {
  if (!strncmp(name_or_url, "http://", 7) || !strncmp(name_or_url, "https://", 8)) {
    snprintf(out, n, "%s", name_or_url);
    return 0;
  }
  json_t *req = json_pack("{s:s}", "QueueName", name_or_url), *resp = NULL;
  int rc = tw_sqsc_call(c, "GetQueueUrl", req, &resp, e, NULL);
  json_decref(req);
  if (rc) return -1;
  const char *u = json_string_value(json_object_get(resp, "QueueUrl"));
  if (!u) {
    set_error(e, 200, "", "GetQueueUrl answered without a QueueUrl");
    json_decref(resp);
    return -1;
  }
  snprintf(out, n, "%s", u);
  json_decref(resp);
  return 0;
}

int tw_sqsc_queue_attributes(tw_sqsc *c, const char *queue_url, json_t **attrs, tw_sqsc_error *e) {
  json_t *req = json_pack("{s:s,s:[s]}", "QueueUrl", queue_url, "AttributeNames", "All");
  json_t *resp = NULL;
  int rc = tw_sqsc_call(c, "GetQueueAttributes", req, &resp, e, NULL);
  json_decref(req);
  if (rc) return -1;
  json_t *a = json_object_get(resp, "Attributes");
  *attrs = json_is_object(a) ? json_incref(a) : json_object();
  json_decref(resp);
  return 0;
}

int tw_sqsc_receive(tw_sqsc *c, const char *queue_url, int max, int wait_s, int visibility,
                    json_t **messages, tw_sqsc_error *e, tw_http_cancel *cancel) {
  json_t *req =
      json_pack("{s:s,s:i,s:i,s:[s],s:[s],s:[s]}", "QueueUrl", queue_url, "MaxNumberOfMessages",
                max, "WaitTimeSeconds", wait_s, "MessageSystemAttributeNames", "All",
                "AttributeNames", "All", "MessageAttributeNames", "All");
  if (visibility >= 0) json_object_set_new(req, "VisibilityTimeout", json_integer(visibility));
  json_t *resp = NULL;
  int rc = tw_sqsc_call(c, "ReceiveMessage", req, &resp, e, cancel);
  json_decref(req);
  if (rc) return -1;
  json_t *m = json_object_get(resp, "Messages");
  *messages = json_is_array(m) ? json_incref(m) : json_array();
  json_decref(resp);
  return 0;
}

/* Runs a *Batch action over handles, 10 entries per request. */
static int batch(tw_sqsc *c, const char *action, const char *queue_url, const char *const *handles,
                 size_t n, int timeout_s, int *ok, tw_sqsc_error *e) {
  int failed = 0, whole = 0;
  if (ok) memset(ok, 0, n * sizeof *ok);
  for (size_t base = 0; base < n; base += 10) {
    size_t k = n - base < 10 ? n - base : 10;
    json_t *entries = json_array();
    for (size_t i = 0; i < k; i++) {
      char id[16];
      snprintf(id, sizeof id, "m%zu", i);
      json_t *en = json_pack("{s:s,s:s}", "Id", id, "ReceiptHandle", handles[base + i]);
      if (timeout_s >= 0) json_object_set_new(en, "VisibilityTimeout", json_integer(timeout_s));
      json_array_append_new(entries, en);
    }
    json_t *req = json_pack("{s:s,s:o}", "QueueUrl", queue_url, "Entries", entries);
    json_t *resp = NULL;
    int rc = tw_sqsc_call(c, action, req, &resp, e, NULL);
    json_decref(req);
    if (rc) {
      whole = 1;
      continue;
    }
    size_t i;
    json_t *v;
    int good = 0;
    json_array_foreach(json_object_get(resp, "Successful"), i, v) {
      const char *id = json_string_value(json_object_get(v, "Id"));
      if (!id || id[0] != 'm') continue;
      size_t at = (size_t)atoi(id + 1);
      if (at < k) {
        if (ok) ok[base + at] = 1;
        good++;
      }
    }
    failed += (int)k - good;
    json_t *f = json_array_get(json_object_get(resp, "Failed"), 0);
    if (f && e) {
      const char *code = json_string_value(json_object_get(f, "Code"));
      const char *msg = json_string_value(json_object_get(f, "Message"));
      set_error(e, 200, code, msg);
    }
    json_decref(resp);
  }
  return whole ? -1 : failed;
}

int tw_sqsc_delete_batch(tw_sqsc *c, const char *queue_url, const char *const *handles, size_t n,
                         int *ok, tw_sqsc_error *e) {
  return batch(c, "DeleteMessageBatch", queue_url, handles, n, -1, ok, e);
}

int tw_sqsc_change_visibility_batch(tw_sqsc *c, const char *queue_url, const char *const *handles,
                                    size_t n, int timeout_s, int *ok, tw_sqsc_error *e) {
  return batch(c, "ChangeMessageVisibilityBatch", queue_url, handles, n,
               timeout_s < 0 ? 0 : timeout_s, ok, e);
}

int tw_sqsc_send(tw_sqsc *c, const char *queue_url, const char *body, size_t len,
                 json_t *attributes, const char *group_id, const char *dedup_id, int delay_s,
                 char *message_id, tw_sqsc_error *e) {
  json_t *b = json_stringn(body, len);
  if (!b) {
    set_error(e, -1, "", "the body is not valid UTF-8");
    return -1;
  }
  json_t *req = json_pack("{s:s,s:o}", "QueueUrl", queue_url, "MessageBody", b);
  if (attributes) json_object_set(req, "MessageAttributes", attributes);
  if (group_id) json_object_set_new(req, "MessageGroupId", json_string(group_id));
  if (dedup_id) json_object_set_new(req, "MessageDeduplicationId", json_string(dedup_id));
  if (delay_s >= 0) json_object_set_new(req, "DelaySeconds", json_integer(delay_s));
  json_t *resp = NULL;
  int rc = tw_sqsc_call(c, "SendMessage", req, &resp, e, NULL);
  json_decref(req);
  if (rc) return -1;
  if (message_id) {
    const char *id = json_string_value(json_object_get(resp, "MessageId"));
    snprintf(message_id, 128, "%s", id ? id : "");
  }
  json_decref(resp);
  return 0;
}
