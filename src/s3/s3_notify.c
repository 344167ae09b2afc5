/* Bucket event notifications: to SQS queues (QueueConfiguration), SNS topics
 * (TopicConfiguration) and EventBridge's default bus (EventBridgeConfiguration).
 * The configuration is validated as AWS does, with an s3:TestEvent to each
 * queue and topic on success; the events are published on the event bus in
 * the same store batch as the object change that causes them.
 *
 * Stored as a JSON array: {"Id","QueueArn"|"TopicArn","Events","Filter"} per
 * destination, and {"EventBridge":true} when EventBridge is on.
 *
 * Cluster mode (s->cluster): the configuration is in PostgreSQL (read per
 * request), its destinations are the cluster's SQS queues, SNS topics and
 * EventBridge's default bus (all on PostgreSQL), and each event is what the
 * bus appends to the object's store batch (store/pg_enqueue.h), so it
 * commits in the object row's transaction. Records are built by the same code. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/trace.h"
#include "core/xml_in.h"
#include "events/bus.h"
#include "s3/s3_internal.h"
#include "store/pg_enqueue.h"
#include "store/s3_buckets.h"

static const char *known_events[] = {"s3:ObjectCreated:*",
                                     "s3:ObjectCreated:Put",
                                     "s3:ObjectCreated:Post",
                                     "s3:ObjectCreated:Copy",
                                     "s3:ObjectCreated:CompleteMultipartUpload",
                                     "s3:ObjectRemoved:*",
                                     "s3:ObjectRemoved:Delete",
                                     "s3:ObjectRemoved:DeleteMarkerCreated",
                                     "s3:LifecycleExpiration:*",
                                     "s3:LifecycleExpiration:Delete",
                                     "s3:LifecycleExpiration:DeleteMarkerCreated",
                                     "s3:ObjectTagging:*",
                                     "s3:ObjectTagging:Put",
                                     "s3:ObjectTagging:Delete",
                                     NULL};

/* The destination ARN of a queue or topic configuration (NULL: EventBridge). */
static const char *dest_of(json_t *c) {
  const char *arn = json_string_value(json_object_get(c, "QueueArn"));
  return arn ? arn : json_string_value(json_object_get(c, "TopicArn"));
}

/* The queue name of an SQS ARN of this region and account, else NULL. */
static const char *queue_name(tw_s3 *s, const char *arn) {
  char want[300];
  const char *name = strrchr(arn, ':');
  if (!name || !name[1]) return NULL;
  snprintf(want, sizeof want, "arn:aws:sqs:%s:%s:", s->region, s->account);
  size_t n = strlen(want);
  return (size_t)(name + 1 - arn) == n && !strncmp(arn, want, n) ? name + 1 : NULL;
}

/* Whether destination arn exists (1; *fifo set), 0 not, -1 the store could
 * not answer (cluster mode). The bus lock is held. */
static int dest_exists(tw_s3 *s, const char *arn, int *fifo) {
  if (!s->cluster) return tw_event_target_exists(s->events, arn, fifo) == 1;
  if (!strncmp(arn, "arn:aws:sns:", 12)) /* SNS's topics: its engine knows them (sns_publish.c) */
    return tw_event_target_exists(s->events, arn, fifo) == 1;
  const char *name = queue_name(s, arn);
  if (!name) return 0;
  tw_pg_queue_info q; /* read here, not through the bus: -1 tells PostgreSQL is away */
  int rc = tw_store_pg_queue(s->store, name, &q);
  if (rc == 1 && fifo) *fifo = q.fifo;
  if (rc == 1) free(q.policy);
  return rc;
}

/* Delivers an event to its destination through the event bus, in the
 * store batch the caller holds (in cluster mode the bus's queues are the
 * cluster's: sqs/sqs_pg_events.c appends a message row to that batch). */
static void deliver(tw_s3 *s, const tw_event *e) {
  tw_event_publish(s->events, e);
}

/* The next sequencer. In cluster mode not below this node's clock (in
 * 1/65536 ms), so the events of a key written on different nodes keep, as far
 * as their clocks agree, the order of the writes. */
static uint64_t next_sequencer(tw_s3 *s) {
  uint64_t now = (uint64_t)tw_now_ms() << 16;
  if (s->cluster && s->sequencer < now) s->sequencer = now;
  return ++s->sequencer;
}

/* Does configured event pattern `pat` cover the event "ObjectCreated:Put"? */
static int event_matches(const char *pat, const char *event) {
  if (strncmp(pat, "s3:", 3)) return 0;
  pat += 3;
  size_t n = strlen(pat);
  if (n >= 2 && !strcmp(pat + n - 2, ":*")) return !strncmp(pat, event, n - 1);
  return !strcmp(pat, event);
}

static const char *rule(json_t *cfg, const char *which) {
  json_t *rules = json_object_get(cfg, "Filter");
  size_t i;
  json_t *x;
  json_array_foreach(rules, i, x) {
    const char *n = json_string_value(json_object_get(x, "Name"));
    if (n && !strcasecmp(n, which)) return json_string_value(json_object_get(x, "Value"));
  }
  return NULL;
}

static int prefixes_overlap(const char *a, const char *b) {
  if (!a || !b) return 1;
  size_t la = strlen(a), lb = strlen(b);
  return !strncmp(a, b, la < lb ? la : lb);
}

static int suffixes_overlap(const char *a, const char *b) {
  if (!a || !b) return 1;
  size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;
  return !strcmp(a + la - n, b + lb - n);
}

static int events_overlap(json_t *a, json_t *b) {
  size_t i, j;
  json_t *x, *y;
  json_array_foreach(json_object_get(a, "Events"), i, x)
      json_array_foreach(json_object_get(b, "Events"), j, y) {
    const char *p = json_string_value(x), *q = json_string_value(y);
    /* overlap when one pattern covers the other */
    if (event_matches(p, q + 3) || event_matches(q, p + 3)) return 1;
  }
  return 0;
}

/* One kind of destination configuration in the XML. */
typedef struct {
  const char *element, *arn_element, *arn_key, *service;
} dest_kind;

static const dest_kind dest_kinds[] = {
    {"QueueConfiguration", "Queue", "QueueArn", ":sqs:"},
    {"TopicConfiguration", "Topic", "TopicArn", ":sns:"},
};

/* XML configuration -> [{"Id","QueueArn"|"TopicArn","Events":[...],
 * "Filter":[{"Name","Value"}]}, ..., {"EventBridge":true}] */
static json_t *parse_config(json_t *doc, tw_err *err, char *msg, size_t msglen, tw_buf *extra) {
  json_t *out = json_array();
  const char *unsupported[] = {"CloudFunctionConfiguration", "LambdaFunctionConfiguration", NULL};
  for (int i = 0; unsupported[i]; i++) {
    json_t *l = tw_xml_list(doc, unsupported[i]);
    if (json_array_size(l)) {
      json_decref(l);
      json_decref(out);
      *err = TW_ERR_S3_INVALID_ARGUMENT;
      snprintf(msg, msglen, "Unable to validate the following destination configurations");
      return NULL;
    }
    json_decref(l);
  }
  for (size_t kind = 0; kind < sizeof dest_kinds / sizeof dest_kinds[0]; kind++) {
    const dest_kind *dk = &dest_kinds[kind];
    json_t *qs = tw_xml_list(doc, dk->element);
    size_t i;
    json_t *q;
    json_array_foreach(qs, i, q) {
      json_t *c = json_object();
      const char *id = tw_xml_text(q, "Id");
      char gen[40];
      if (!id || !*id) {
        tw_uuid4(gen);
        id = gen;
      }
      json_object_set_new(c, "Id", json_string(id));
      const char *arn = tw_xml_text(q, dk->arn_element);
      if (!arn || strncmp(arn, "arn:", 4) || !strstr(arn + 4, dk->service)) {
        json_decref(c);
        json_decref(qs);
        json_decref(out);
        *err = TW_ERR_S3_INVALID_ARGUMENT;
        snprintf(msg, msglen, "The ARN could not be parsed");
        tw_s3_xml_text(extra, "ArgumentName", dk->arn_element);
        tw_s3_xml_text(extra, "ArgumentValue", arn ? arn : "");
        return NULL;
      }
      json_object_set_new(c, dk->arn_key, json_string(arn));
      json_t *events = json_array();
      json_t *el = tw_xml_list(q, "Event");
      size_t j;
      json_t *e;
      json_array_foreach(el, j, e) {
        const char *ev = json_string_value(e);
        int ok = 0;
        for (int k = 0; ev && known_events[k]; k++) ok |= !strcmp(ev, known_events[k]);
        if (!ok) {
          json_decref(el);
          json_decref(events);
          json_decref(c);
          json_decref(qs);
          json_decref(out);
          *err = TW_ERR_S3_INVALID_ARGUMENT;
          snprintf(msg, msglen, "The event is not supported for notifications");
          return NULL;
        }
        json_array_append_new(events, json_string(ev));
      }
      json_decref(el);
      json_object_set_new(c, "Events", events);
      json_t *rules = json_array();
      json_t *filter = json_object_get(q, "Filter");
      json_t *s3key = json_object_get(filter, "S3Key");
      json_t *rl = tw_xml_list(s3key, "FilterRule");
      json_array_foreach(rl, j, e) {
        const char *n = tw_xml_text(e, "Name"), *v = tw_xml_text(e, "Value");
        if (!n || (strcasecmp(n, "prefix") && strcasecmp(n, "suffix"))) {
          json_decref(rl);
          json_decref(rules);
          json_decref(c);
          json_decref(qs);
          json_decref(out);
          *err = TW_ERR_S3_INVALID_ARGUMENT;
          snprintf(msg, msglen, "filter rule name must be either prefix or suffix");
          tw_s3_xml_text(extra, "ArgumentName", "FilterRule.Name");
          tw_s3_xml_text(extra, "ArgumentValue", n ? n : "");
          return NULL;
        }
        /* stored and returned as S3 spells them: Prefix, Suffix */
        json_array_append_new(
            rules, json_pack("{s:s,s:s}", "Name", strcasecmp(n, "prefix") ? "Suffix" : "Prefix",
                             "Value", v ? v : ""));
      }
      json_decref(rl);
      json_object_set_new(c, "Filter", rules);
      json_array_append_new(out, c);
    }
    json_decref(qs);
  }
  /* <EventBridgeConfiguration/>: every event also goes to the default bus */
  if (json_object_get(doc, "EventBridgeConfiguration"))
    json_array_append_new(out, json_pack("{s:b}", "EventBridge", 1));
  return out;
}

static void notification_saved(tw_request *r) {
  if (tw_s3_commit_failed(r, r->ctx)) return;
  tw_req_respond(r, 200, NULL, "", 0);
  tw_s3_add_common_headers(r);
}

void tw_s3_put_notification(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  if (tw_s3_bucket_exists(s, x->bucket) <= 0) {
    tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return;
  }
  char *root = NULL;
  json_t *doc = r->body.len ? tw_xml_parse(r->body.data, r->body.len, &root) : NULL;
  if (!doc || !root || strcmp(root, "NotificationConfiguration")) {
    free(root);
    json_decref(doc);
    tw_s3_error(r, x, TW_ERR_S3_MALFORMED_XML, NULL);
    return;
  }
  free(root);
  tw_err err = TW_ERR_OK;
  char msg[256] = "";
  tw_buf extra;
  tw_buf_init(&extra, 64 * 1024);
  json_t *cfg = parse_config(doc, &err, msg, sizeof msg, &extra);
  json_decref(doc);
  if (!cfg) {
    tw_s3_error_key(r, x, err, msg, extra.len ? tw_buf_cstr(&extra) : NULL);
    tw_buf_free(&extra);
    return;
  }
  tw_buf_free(&extra);
  size_t i, j;
  json_t *c, *d;
  /* destinations must exist and be standard queues */
  tw_buf bad;
  tw_buf_init(&bad, 64 * 1024);
  tw_events_lock(s->events);
  int nbad = 0;
  json_array_foreach(cfg, i, c) {
    const char *arn = dest_of(c);
    if (!arn) continue; /* EventBridge: the default bus always exists */
    int topic = json_object_get(c, "TopicArn") != NULL;
    int fifo = 0;
    /* S3 sends to standard queues and topics only, though the bus could
     * deliver to FIFO ones */
    int have = dest_exists(s, arn, &fifo);
    if (have < 0) { /* cluster mode: PostgreSQL unavailable (503) */
      tw_events_unlock(s->events);
      json_decref(cfg);
      tw_buf_free(&bad);
      tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
      return;
    }
    if (!have || fifo) {
      char tag[32];
      nbad++;
      snprintf(tag, sizeof tag, "ArgumentName%d", nbad);
      tw_s3_xml_text(&bad, tag, arn);
      snprintf(tag, sizeof tag, "ArgumentValue%d", nbad);
      tw_s3_xml_text(&bad, tag,
                     fifo ? (topic ? "FIFO SNS topics are not supported as event notification "
                                     "destinations"
                                   : "FIFO SQS queues are not supported as event notification "
                                     "destinations")
                          : (topic ? "The destination topic does not exist"
                                   : "The destination queue does not exist"));
    }
  }
  if (bad.len) {
    tw_events_unlock(s->events);
    json_decref(cfg);
    tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ARGUMENT,
                    "Unable to validate the following destination configurations",
                    tw_buf_cstr(&bad));
    tw_buf_free(&bad);
    return;
  }
  tw_buf_free(&bad);
  json_array_foreach(cfg, i, c) json_array_foreach(cfg, j, d) {
    if (j <= i || !dest_of(c) || !dest_of(d)) continue;
    if (events_overlap(c, d) && prefixes_overlap(rule(c, "prefix"), rule(d, "prefix")) &&
        suffixes_overlap(rule(c, "suffix"), rule(d, "suffix"))) {
      int filtered = json_array_size(json_object_get(c, "Filter")) ||
                     json_array_size(json_object_get(d, "Filter"));
      tw_events_unlock(s->events);
      json_decref(cfg);
      tw_s3_error(r, x, TW_ERR_S3_INVALID_ARGUMENT,
                  filtered ? "Configuration is ambiguously defined. Cannot have overlapping "
                             "suffixes in two rules if the prefixes are overlapping for the same "
                             "event type."
                           : "Configurations overlap. Configurations on the same bucket cannot "
                             "share a common event type.");
      return;
    }
  }
  char *text = json_dumps(cfg, JSON_COMPACT);
  tw_store_hold(s->store);
  uint64_t t = tw_store_s3_buckets(s->store)->set_setting(s->store, x->bucket,
                                                          TW_S3_BUCKET_NOTIFICATION, text);
  /* a test event to each destination, once */
  char when[32];
  tw_s3_iso8601(tw_now_ms(), when);
  json_t *sent = json_object();
  json_array_foreach(cfg, i, c) {
    const char *arn = dest_of(c);
    if (!arn || json_object_get(sent, arn)) continue;
    json_object_set_new(sent, arn, json_true());
    json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "Service", "Amazon S3", "Event",
                           "s3:TestEvent", "Time", when, "Bucket", x->bucket, "RequestId",
                           r->request_id, "HostId", r->request_id);
    char *body = json_dumps(ev, JSON_COMPACT);
    tw_event e = {.source = "aws.s3",
                  .type = "s3:TestEvent",
                  .target = arn,
                  .body = body,
                  .len = strlen(body),
                  .sender = r->principal,
                  .subject = json_object_get(c, "TopicArn") ? "Amazon S3 Notification" : NULL};
    deliver(s, &e);
    free(body);
    json_decref(ev);
  }
  json_decref(sent);
  uint64_t t2 = tw_store_ticket(s->store);
  tw_store_release(s->store);
  tw_events_unlock(s->events);
  free(text);
  json_decref(cfg);
  tw_req_after_commit(r, t2 > t ? t2 : t, notification_saved);
}

static json_t *load_config(tw_s3 *s, const char *bucket) {
  char *text = NULL;
  json_t *cfg = NULL;
  if (tw_store_s3_buckets(s->store)->get_setting(s->store, bucket, TW_S3_BUCKET_NOTIFICATION,
                                                 &text) > 0 &&
      text)
    cfg = json_loads(text, 0, NULL);
  free(text);
  return cfg;
}

void tw_s3_get_notification(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  if (tw_s3_bucket_exists(s, x->bucket) <= 0) {
    tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return;
  }
  json_t *cfg = load_config(s, x->bucket);
  tw_buf b;
  tw_buf_init(&b, 1 << 20);
  tw_s3_xml_begin(&b, "NotificationConfiguration");
  size_t i, j;
  json_t *c, *e;
  /* in the schema's order: topics, queues, then EventBridge */
  for (int topics = 1; topics >= 0; topics--) {
    const dest_kind *dk = &dest_kinds[topics];
    json_array_foreach(cfg, i, c) {
      const char *arn = json_string_value(json_object_get(c, dk->arn_key));
      if (!arn) continue;
      tw_buf_printf(&b, "<%s>", dk->element);
      tw_s3_xml_text(&b, "Id", json_string_value(json_object_get(c, "Id")));
      tw_s3_xml_text(&b, dk->arn_element, arn);
      json_array_foreach(json_object_get(c, "Events"), j, e)
          tw_s3_xml_text(&b, "Event", json_string_value(e));
      json_t *rules = json_object_get(c, "Filter");
      if (json_array_size(rules)) {
        tw_buf_puts(&b, "<Filter><S3Key>");
        json_array_foreach(rules, j, e) {
          tw_buf_puts(&b, "<FilterRule>");
          tw_s3_xml_text(&b, "Name", json_string_value(json_object_get(e, "Name")));
          tw_s3_xml_text(&b, "Value", json_string_value(json_object_get(e, "Value")));
          tw_buf_puts(&b, "</FilterRule>");
        }
        tw_buf_puts(&b, "</S3Key></Filter>");
      }
      tw_buf_printf(&b, "</%s>", dk->element);
    }
  }
  json_array_foreach(cfg, i, c) {
    if (json_is_true(json_object_get(c, "EventBridge")))
      tw_buf_puts(&b, "<EventBridgeConfiguration></EventBridgeConfiguration>");
  }
  tw_buf_puts(&b, "</NotificationConfiguration>");
  json_decref(cfg);
  tw_s3_respond_xml(r, 200, &b);
}

/* The key as event records carry it: form-urlencoded, '/' kept. */
static char *event_key(const char *k, size_t n) {
  tw_buf b;
  tw_buf_init(&b, 16 * 1024);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)k[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '*' || c == '/')
      tw_buf_putc(&b, (char)c);
    else if (c == ' ')
      tw_buf_putc(&b, '+');
    else
      tw_buf_printf(&b, "%%%02X", c);
  }
  return tw_buf_detach(&b, NULL);
}

/* The event as EventBridge has it (S3 User Guide, "EventBridge event message
 * structure"), published to the default bus: the bus adds the envelope. */
static void notify_eventbridge(tw_s3 *s, const char *bucket, const char *key, size_t key_len,
                               const char *event, int64_t size, const char *etag,
                               const char *request_id, const char *principal, const char *source_ip,
                               const char *trace) {
  static const struct {
    const char *event, *detail_type, *reason, *deletion_type;
  } kinds[] = {
      {"ObjectCreated:Put", "Object Created", "PutObject", NULL},
      {"ObjectCreated:Post", "Object Created", "PostObject", NULL},
      {"ObjectCreated:Copy", "Object Created", "CopyObject", NULL},
      {"ObjectCreated:CompleteMultipartUpload", "Object Created", "CompleteMultipartUpload", NULL},
      {"ObjectRemoved:Delete", "Object Deleted", "DeleteObject", "Permanently Deleted"},
      {"ObjectRemoved:DeleteMarkerCreated", "Object Deleted", "DeleteObject",
       "Delete Marker Created"},
      {"LifecycleExpiration:Delete", "Object Deleted", "Lifecycle Expiration",
       "Permanently Deleted"},
      {"LifecycleExpiration:DeleteMarkerCreated", "Object Deleted", "Lifecycle Expiration",
       "Delete Marker Created"},
      {"ObjectTagging:Put", "Object Tags Added", NULL, NULL},
      {"ObjectTagging:Delete", "Object Tags Deleted", NULL, NULL},
  };
  size_t k = 0, nkinds = sizeof kinds / sizeof kinds[0];
  while (k < nkinds && strcmp(kinds[k].event, event)) k++;
  if (k == nkinds) return;
  int lifecycle = !strncmp(event, "LifecycleExpiration", 19);
  char seq[40], arn[300], bus[300];
  snprintf(seq, sizeof seq, "%016" PRIX64, next_sequencer(s));
  snprintf(arn, sizeof arn, "arn:aws:s3:::%s", bucket);
  snprintf(bus, sizeof bus, "arn:aws:events:%s:%s:event-bus/default", s->region, s->account);
  char *ekey = event_key(key, key_len);
  json_t *obj = json_pack("{s:s}", "key", ekey);
  if (!kinds[k].deletion_type) { /* deletions name no size or etag */
    json_object_set_new(obj, "size", json_integer(size));
    json_object_set_new(obj, "etag", json_string(etag ? etag : ""));
  }
  if (tw_s3_notify_version) /* s3_versions.c */
    json_object_set_new(obj, "version-id", json_string(tw_s3_notify_version));
  json_object_set_new(obj, "sequencer", json_string(seq));
  json_t *detail = json_pack("{s:s,s:{s:s},s:o,s:s,s:s}", "version", "0", "bucket", "name", bucket,
                             "object", obj, "request-id", request_id, "requester",
                             lifecycle ? "s3.amazonaws.com" : s->account);
  if (!lifecycle && source_ip && *source_ip)
    json_object_set_new(detail, "source-ip-address", json_string(source_ip));
  if (kinds[k].reason) json_object_set_new(detail, "reason", json_string(kinds[k].reason));
  if (kinds[k].deletion_type)
    json_object_set_new(detail, "deletion-type", json_string(kinds[k].deletion_type));
  char *body = json_dumps(detail, JSON_COMPACT);
  tw_event ev = {.source = "aws.s3",
                 .type = kinds[k].detail_type,
                 .target = bus,
                 .body = body,
                 .len = strlen(body),
                 .sender = principal,
                 .resource = arn,
                 .trace = trace};
  if (tw_event_publish(s->events, &ev))
    tw_warn("s3: %s: the EventBridge default bus took no event", bucket);
  free(body);
  free(ekey);
  json_decref(detail);
}

static void notify(tw_s3 *s, const char *bucket, const char *key, size_t key_len, const char *event,
                   int64_t size, const char *etag, const char *request_id, const char *principal,
                   const char *source_ip, const char *trace) {
  json_t *cfg = load_config(s, bucket);
  if (!json_array_size(cfg)) {
    json_decref(cfg);
    return;
  }
  size_t i;
  json_t *c;
  json_array_foreach(cfg, i, c) {
    int hit = 0;
    size_t j;
    json_t *e;
    json_array_foreach(json_object_get(c, "Events"), j, e) hit |=
        event_matches(json_string_value(e), event);
    const char *pre = rule(c, "prefix"), *suf = rule(c, "suffix");
    if (pre && (strlen(pre) > key_len || memcmp(key, pre, strlen(pre)))) hit = 0;
    if (suf && (strlen(suf) > key_len || memcmp(key + key_len - strlen(suf), suf, strlen(suf))))
      hit = 0;
    if (!hit) continue;
    char when[32], seq[40], arn[300];
    tw_s3_iso8601(tw_now_ms(), when);
    snprintf(seq, sizeof seq, "%016" PRIX64, next_sequencer(s));
    snprintf(arn, sizeof arn, "arn:aws:s3:::%s", bucket);
    char *ekey = event_key(key, key_len);
    json_t *obj = json_pack("{s:s,s:s}", "key", ekey, "sequencer", seq);
    if (tw_s3_notify_version) /* s3_versions.c: the version written or removed */
      json_object_set_new(obj, "versionId", json_string(tw_s3_notify_version));
    /* lifecycle records are S3's own: version 2.3, key and sequencer only */
    int lifecycle = !strncmp(event, "LifecycleExpiration", 19);
    if (strncmp(event, "ObjectRemoved", 13) && !lifecycle) {
      json_object_set_new(obj, "size", json_integer(size));
      json_object_set_new(obj, "eTag", json_string(etag ? etag : ""));
    }
    json_t *rec = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:{s:s},s:{s:s},s:{s:s,s:s},s:{s:s,s:s,s:{s:s,s:{s:s},s:s},s:o}}",
        "eventVersion", lifecycle ? "2.3" : "2.1", "eventSource", "aws:s3", "awsRegion", s->region,
        "eventTime", when, "eventName", event, "userIdentity", "principalId",
        principal && *principal ? principal : "anonymous", "requestParameters", "sourceIPAddress",
        source_ip ? source_ip : "", "responseElements", "x-amz-request-id", request_id,
        "x-amz-id-2", request_id, "s3", "s3SchemaVersion", "1.0", "configurationId",
        json_string_value(json_object_get(c, "Id")), "bucket", "name", bucket, "ownerIdentity",
        "principalId", s->account, "arn", arn, "object", obj);
    json_t *doc = json_pack("{s:[o]}", "Records", rec);
    char *body = json_dumps(doc, JSON_COMPACT);
    int topic = json_object_get(c, "TopicArn") != NULL;
    tw_event ev = {.source = "aws.s3",
                   .type = event,
                   .target = dest_of(c),
                   .body = body,
                   .len = strlen(body),
                   .sender = principal,
                   .subject = topic ? "Amazon S3 Notification" : NULL,
                   .resource = arn, /* aws:SourceArn of queue policies (sqs_events.c) */
                   .trace = trace};
    deliver(s, &ev);
    free(body);
    free(ekey);
    json_decref(doc);
  }
  json_array_foreach(cfg, i, c) {
    if (json_is_true(json_object_get(c, "EventBridge"))) {
      notify_eventbridge(s, bucket, key, key_len, event, size, etag, request_id, principal,
                         source_ip, trace);
      break;
    }
  }
  json_decref(cfg);
}

void tw_s3_notify(tw_s3 *s, const char *bucket, const char *key, size_t key_len, const char *event,
                  int64_t size, const char *etag, const char *request_id, const char *principal,
                  const char *source_ip) {
  notify(s, bucket, key, key_len, event, size, etag, request_id, principal, source_ip, NULL);
}

void tw_s3_notify_req(tw_s3 *s, tw_request *r, const char *bucket, const char *key, size_t key_len,
                      const char *event, int64_t size, const char *etag) {
  char trace[260];
  tw_trace_header(tw_req_header(r, "X-Amzn-Trace-Id"), tw_req_header(r, "traceparent"), trace,
                  sizeof trace);
  notify(s, bucket, key, key_len, event, size, etag, r->request_id, r->principal, r->remote,
         trace[0] ? trace : NULL);
}
