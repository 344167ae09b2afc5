/* Events: PutEvents, TestEventPattern, and delivery. Every event is the
 * EventBridge envelope {"version":"0","id","detail-type","source","account",
 * "time","region","resources":[],"detail":{}}; each ENABLED rule of its bus
 * whose pattern matches sends it (or what the target's Input, InputPath or
 * InputTransformer makes of it) to each of its targets through the event bus
 * (src/events/bus.h), inside the batch of whoever brought the event in: the
 * PutEvents request, or the publisher of an event to a bus ARN.
 *
 * This engine is the bus target for arn:aws:events:REGION:ACCOUNT:event-bus/
 * NAME. What a publisher hands over (tw_event):
 *   - type set: body is the event's detail (a JSON object), type its
 *     detail-type, source its source, resource (if set) its one resource; the
 *     engine adds version, id, account, time and region (S3 does this);
 *   - type NULL: body is a whole envelope, delivered unchanged (a rule whose
 *     target is another bus forwards events this way).
 * Deliveries to targets leave with source "aws.events"; FIFO queues get the
 * target's SqsParameters.MessageGroupId and the event id as deduplication id.
 * A target that is gone (or refuses the message) loses the event, as on AWS,
 * unless the target names a DeadLetterConfig queue: the event goes there with
 * AWS's RULE_ARN, TARGET_ARN, ERROR_CODE and ERROR_MESSAGE attributes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/json_out.h"
#include "core/log.h"
#include "core/trace.h"
#include "eventbridge/eb_internal.h"

#define MAX_ENTRIES_BYTES (256 * 1024)

void eb_iso8601(int64_t ms, int with_ms, char out[40]) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char tmp[96]; /* wide enough for any int the compiler imagines */
  if (with_ms)
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
  else
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  snprintf(out, 40, "%.39s", tmp);
}

static char *dump(const json_t *v, size_t *len) {
  tw_buf b;
  tw_buf_init(&b, 16u << 20);
  if (tw_json_write(&b, v) || b.overflow) {
    tw_buf_free(&b);
    return NULL;
  }
  return tw_buf_detach(&b, len);
}

static json_t *str_attr(const char *v) {
  return json_pack("{s:s,s:s}", "DataType", "String", "StringValue", v);
}

int eb_dead_letter(tw_eventbridge *eb, const char *dlq_arn, const char *rule_arn,
                   const char *target_arn, const char *event_text, size_t len,
                   const char *error_code, const char *error_message, const char *exhausted,
                   int attempts) {
  if (!dlq_arn) return -1;
  json_t *attrs = json_object();
  json_object_set_new(attrs, "RULE_ARN", str_attr(rule_arn));
  json_object_set_new(attrs, "TARGET_ARN", str_attr(target_arn));
  json_object_set_new(attrs, "ERROR_CODE", str_attr(error_code));
  json_object_set_new(attrs, "ERROR_MESSAGE", str_attr(error_message));
  if (exhausted) {
    char n[16];
    snprintf(n, sizeof n, "%d", attempts);
    json_object_set_new(attrs, "EXHAUSTED_RETRY_CONDITION", str_attr(exhausted));
    json_object_set_new(attrs, "RETRY_ATTEMPTS", str_attr(n));
  }
  tw_event e = {.source = "aws.events",
                .type = "EventDeliveryFailed",
                .target = dlq_arn,
                .body = event_text,
                .len = len,
                .attributes = attrs,
                .sender = eb->account};
  int rc = tw_event_publish(eb->events, &e);
  if (rc) tw_warn("eventbridge: the dead-letter queue %s took nothing either", dlq_arn);
  json_decref(attrs);
  return rc ? -1 : 0;
}

/* A delivery that failed goes to the target's dead-letter queue, if any. */
static void dead_letter(tw_eventbridge *eb, const eb_target *t, const char *rule_arn,
                        const char *event_text, size_t len, int rc) {
  if (!t->dlq_arn) return;
  eb_dead_letter(
      eb, t->dlq_arn, rule_arn, t->arn, event_text, len,
      rc == -1 ? "ResourceNotFoundException" : "InvalidParameterValue",
      rc == -1 ? "The target does not exist." : "The target refused the message (too large?).",
      NULL, 0);
}

static void deliver_target(tw_eventbridge *eb, const eb_rule *r, const eb_target *t,
                           const json_t *event, const char *event_text, size_t event_len,
                           const char *sender, const char *trace, const char *ingestion,
                           int64_t ingested_ms) {
  char rule_arn[600];
  eb_rule_arn(eb, r->bus, r->name, rule_arn, sizeof rule_arn);
  const char *id = json_string_value(json_object_get(event, "id"));
  const char *dtype = json_string_value(json_object_get(event, "detail-type"));
  int rc;
  if (t->kind == EB_T_BUS) {
    if (eb->hops >= EB_MAX_HOPS) {
      tw_warn("eventbridge: event %s: rule %s forwards it a %dth time: dropped", id, r->name,
              eb->hops + 1);
      return;
    }
    tw_event e = {.source = "aws.events",
                  .type = NULL,
                  .target = t->arn,
                  .body = event_text,
                  .len = event_len,
                  .sender = sender,
                  .trace = trace};
    eb->hops++;
    rc = tw_event_publish(eb->events, &e);
    eb->hops--;
  } else if (t->kind == EB_T_API) {
    size_t len = 0;
    char *body = eb_target_input(t, event, rule_arn, r->name, ingestion, &len);
    if (!body) return;
    eb_outbox_add(eb, t, rule_arn, event, event_text, body, len, ingested_ms);
    free(body);
    return;
  } else {
    size_t len = 0;
    char *body = eb_target_input(t, event, rule_arn, r->name, ingestion, &len);
    if (!body) {
      tw_debug("eventbridge: event %s: target %s of rule %s gets nothing (input path or template)",
               id, t->id, r->name);
      return;
    }
    tw_event e = {.source = "aws.events",
                  .type = dtype,
                  .target = t->arn,
                  .body = body,
                  .len = len,
                  .sender = sender,
                  .group_id = t->group_id,
                  .dedup_id = id,
                  .resource = rule_arn, /* aws:SourceArn of queue policies (sqs_events.c) */
                  .trace = trace};
    rc = tw_event_publish(eb->events, &e);
    free(body);
  }
  if (rc) {
    tw_warn("eventbridge: event %s: target %s (%s) of rule %s: %s", id, t->id, t->arn, r->name,
            rc == -1 ? "no such destination" : "refused");
    dead_letter(eb, t, rule_arn, event_text, event_len, rc);
  }
}

/* trace: the caller's (core/trace.h), or NULL; queues keep it as AWSTraceHeader */
static void deliver_rule(tw_eventbridge *eb, const eb_rule *r, const json_t *event,
                         const char *sender, const char *trace, int64_t ingested_ms) {
  size_t len = 0;
  char ingestion[40];
  eb_iso8601(ingested_ms, 1, ingestion);
  char *text = dump(event, &len);
  if (!text) return;
  for (size_t i = 0; i < r->ntargets; i++)
    deliver_target(eb, r, &r->targets[i], event, text, len, sender, trace, ingestion, ingested_ms);
  free(text);
}

void eb_deliver_rule(tw_eventbridge *eb, const eb_rule *r, const json_t *event, const char *sender,
                     int64_t ingested_ms) {
  deliver_rule(eb, r, event, sender, NULL, ingested_ms);
}

/* Sends the event to the targets of every enabled rule of the bus that
 * matches it. Bus lock and store hold held. */
static void dispatch(tw_eventbridge *eb, eb_bus *b, const json_t *event, const char *sender,
                     const char *trace, int64_t ingested_ms) {
  const char *k;
  void *v;
  for (tw_map_entry *it = tw_map_next(&b->rules, NULL, &k, &v); it;
       it = tw_map_next(&b->rules, it, &k, &v)) {
    eb_rule *r = v;
    if (!r->pattern || !r->ntargets || strncmp(r->state, "ENABLED", 7)) continue;
    if (tw_pattern_match(r->pattern, event) != 1) continue;
    deliver_rule(eb, r, event, sender, trace, ingested_ms);
  }
}

/* --- the bus target ------------------------------------------------------------------ */

static const char *bus_name_of(tw_eventbridge *eb, const char *arn) {
  char prefix[200];
  snprintf(prefix, sizeof prefix, "arn:aws:events:%s:%s:event-bus/", eb->region, eb->account);
  size_t n = strlen(prefix);
  return arn && !strncmp(arn, prefix, n) && arn[n] ? arn + n : NULL;
}

static int bus_exists(void *ud, const char *arn, int *fifo) {
  tw_eventbridge *eb = ud;
  const char *name = bus_name_of(eb, arn);
  if (fifo) *fifo = 0;
  return name && eb_bus_get(eb, name) ? 1 : 0;
}

json_t *eb_envelope(tw_eventbridge *eb, const char *id, const char *dtype, const char *source,
                    int64_t when_ms, json_t *resources, json_t *detail) {
  char when[40];
  eb_iso8601(when_ms, 0, when);
  return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o}", "version", "0", "id", id, "detail-type",
                   dtype, "source", source, "account", eb->account, "time", when, "region",
                   eb->region, "resources", resources, "detail", detail);
}

static int bus_deliver(void *ud, const tw_event *e) {
  tw_eventbridge *eb = ud;
  /* cluster mode: a publisher of another service (an S3 event) matches the
   * rules any node acknowledged, as PutEvents does (not a forward from this
   * engine's own delivery: it has read them) */
  if (!eb->hops) eb_catch_up(eb);
  const char *name = bus_name_of(eb, e->target);
  eb_bus *b = name ? eb_bus_get(eb, name) : NULL;
  if (!b) return -1;
  json_t *parsed = json_loadb(e->body, e->len, 0, NULL);
  if (!json_is_object(parsed)) {
    json_decref(parsed);
    return -2;
  }
  json_t *event;
  if (!e->type) {
    event = parsed; /* a whole envelope, forwarded */
  } else {
    char id[37];
    tw_uuid4(id);
    json_t *res = json_array();
    if (e->resource) json_array_append_new(res, json_string(e->resource));
    event =
        eb_envelope(eb, id, e->type, e->source ? e->source : "tweedle", tw_now_ms(), res, parsed);
  }
  if (!event) return -2;
  dispatch(eb, b, event, e->sender, e->trace, tw_now_ms());
  json_decref(event);
  return 0;
}

static void bus_lock(void *ud) {
  eb_lock(ud);
}
static void bus_unlock(void *ud) {
  eb_unlock(ud);
}

int eb_join_events(tw_eventbridge *eb) {
  tw_event_target t = {
      .name = "events",
      .arn_prefix = "arn:aws:events:",
      .exists = bus_exists,
      .deliver = bus_deliver,
      .lock = bus_lock,
      .unlock = bus_unlock,
      .ud = eb,
  };
  return tw_events_add_target(eb->events, &t);
}

/* --- PutEvents --------------------------------------------------------------------- */

static void entry_error(json_t *out, const char *code, const char *msg) {
  json_array_append_new(out, json_pack("{s:s,s:s}", "ErrorCode", code, "ErrorMessage", msg));
}

/* The entry's Time in ms: epoch seconds (the JSON protocol's timestamps) or
 * an ISO 8601 string; now when absent; -1 when unreadable. */
static int64_t entry_time(json_t *v, int64_t now) {
  if (!v || json_is_null(v)) return now;
  if (json_is_number(v)) return (int64_t)(json_number_value(v) * 1000.0);
  const char *s = json_string_value(v);
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
  if (!end) return -1;
  return (int64_t)timegm(&tm) * 1000;
}

/* What AWS counts against the 256 KiB of a PutEvents request. */
static size_t entry_size(json_t *e) {
  size_t n = json_object_get(e, "Time") ? 14 : 0;
  const char *fields[] = {"Source", "DetailType", "Detail"};
  for (int i = 0; i < 3; i++) {
    json_t *v = json_object_get(e, fields[i]);
    if (json_is_string(v)) n += json_string_length(v);
  }
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(e, "Resources"), i, r) {
    if (json_is_string(r)) n += json_string_length(r);
  }
  return n;
}

void eb_put_events(eb_call *c) {
  tw_eventbridge *eb = c->eb;
  json_t *entries = json_object_get(c->in, "Entries");
  if (!json_is_array(entries)) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value null at 'entries' failed to satisfy constraint: "
            "Member must not be null");
    return;
  }
  size_t n = json_array_size(entries);
  if (n < 1 || n > 10) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member "
            "must have length %s",
            n ? "less than or equal to 10" : "greater than or equal to 1");
    return;
  }
  size_t total = 0, i;
  json_t *e;
  json_array_foreach(entries, i, e) {
    if (!json_is_object(e)) {
      eb_fail(c, "SerializationException", "Each entry must be an object.");
      return;
    }
    total += entry_size(e);
  }
  if (total > MAX_ENTRIES_BYTES) {
    eb_fail(c, "ValidationException",
            "Total size of the entries in the request is over the limit.");
    return;
  }
  json_t *results = json_array();
  int failed = 0;
  int64_t now = tw_now_ms();
  tw_events_lock(eb->events); /* every target engine, this one included */
  tw_store_hold(eb->store);
  json_array_foreach(entries, i, e) {
    const char *source = json_string_value(json_object_get(e, "Source"));
    const char *dtype = json_string_value(json_object_get(e, "DetailType"));
    const char *detail = json_string_value(json_object_get(e, "Detail"));
    json_t *res = json_object_get(e, "Resources");
    char busname[300], msg[400];
    int ok = 0;
    if (!source || !*source)
      entry_error(results, "InvalidArgument",
                  "Parameter Source is not valid. Reason: Source is a required argument.");
    else if (!dtype || !*dtype)
      entry_error(results, "InvalidArgument",
                  "Parameter DetailType is not valid. Reason: DetailType is a required argument.");
    else if (!detail || !*detail)
      entry_error(results, "InvalidArgument",
                  "Parameter Detail is not valid. Reason: Detail is a required argument.");
    else if (res && !json_is_null(res) && !json_is_array(res))
      entry_error(results, "InvalidArgument", "Parameter Resources is not valid.");
    else if (eb_bus_param(eb, json_string_value(json_object_get(e, "EventBusName")), busname,
                          sizeof busname))
      entry_error(results, "InvalidArgument", "Parameter EventBusName is not valid.");
    else
      ok = 1;
    json_t *d = ok ? json_loads(detail, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (ok && !json_is_object(d)) {
      entry_error(results, "MalformedDetail", "Detail is malformed.");
      ok = 0;
    }
    int64_t when = ok ? entry_time(json_object_get(e, "Time"), now) : 0;
    if (ok && when < 0) {
      entry_error(results, "InvalidArgument", "Parameter Time is not valid.");
      ok = 0;
    }
    eb_bus *b = ok ? eb_bus_get(eb, busname) : NULL;
    if (ok && !b) {
      snprintf(msg, sizeof msg, "Event bus %s does not exist.", busname);
      entry_error(results, "ResourceNotFoundException", msg);
      ok = 0;
    }
    if (!ok) {
      json_decref(d);
      failed++;
      continue;
    }
    json_t *resources = json_array();
    size_t j;
    json_t *rv;
    json_array_foreach(res, j, rv) if (json_is_string(rv)) json_array_append(resources, rv);
    char id[37];
    tw_uuid4(id);
    json_t *event = eb_envelope(eb, id, dtype, source, when, resources, d);
    /* the entry's TraceHeader (X-Ray form), else the request's own */
    char trace[260];
    const char *th = json_string_value(json_object_get(e, "TraceHeader"));
    if (!th || !tw_trace_header(th, NULL, trace, sizeof trace))
      snprintf(trace, sizeof trace, "%s", c->trace);
    dispatch(eb, b, event, c->principal, trace[0] ? trace : NULL, now);
    json_decref(event);
    json_array_append_new(results, json_pack("{s:s}", "EventId", id));
  }
  c->ticket = tw_store_ticket(eb->store);
  tw_store_release(eb->store);
  tw_events_unlock(eb->events);
  c->out = json_pack("{s:i,s:o}", "FailedEntryCount", failed, "Entries", results);
}

/* --- TestEventPattern ----------------------------------------------------------------- */

void eb_test_event_pattern(eb_call *c) {
  const char *pattern = eb_req_str(c, "EventPattern", "eventPattern");
  const char *event = eb_req_str(c, "Event", "event");
  if (c->err) return;
  json_t *ev = json_loads(event, 0, NULL);
  const char *required[] = {"id", "account", "source", "time", "region", "detail-type", NULL};
  int ok = json_is_object(ev);
  for (int i = 0; ok && required[i]; i++) ok = json_object_get(ev, required[i]) != NULL;
  if (!ok) {
    json_decref(ev);
    eb_fail(c, "ValidationException", "Parameter Event is not valid.");
    return;
  }
  char err[1024] = "";
  tw_pattern *p =
      tw_pattern_compile(pattern, strlen(pattern), TW_PATTERN_EVENTBRIDGE, err, sizeof err);
  if (!p) {
    json_decref(ev);
    eb_fail(c, "InvalidEventPatternException", "%s", err[0] ? err : "Event pattern is not valid.");
    return;
  }
  c->out = json_pack("{s:b}", "Result", tw_pattern_match(p, ev) == 1);
  tw_pattern_free(p);
  json_decref(ev);
}
