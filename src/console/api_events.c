/* The console's topic and rule routes, read-only, run on the SNS and
 * EventBridge engines directly:
 *
 *   GET /api/topics   {"topics": [{TopicArn}], "subscriptions": [{SubscriptionArn,
 *                     TopicArn, Protocol, Endpoint, Owner}]}
 *   GET /api/rules    {"buses": [{"name", "rules": [{Name, State, EventPattern,
 *                     ScheduleExpression, ..., "targets": [{Id, Arn, ...}]}]}]} */
#include <stdio.h>
#include <string.h>

#include "console/console_internal.h"
#include "eventbridge/eventbridge.h"
#include "sns/sns.h"

#define MAX_PAGES 20

static uint64_t max64(uint64_t a, uint64_t b) {
  return a > b ? a : b;
}

/* Appends every page of `list_key` of an SNS listing to arr; 0, or -1 (msg). */
static int sns_all(tw_request *r, const char *action, const char *list_key, json_t *arr,
                   uint64_t *seen, char *msg, size_t n) {
  json_t *in = json_object();
  for (int page = 0; page < MAX_PAGES; page++) {
    uint64_t s = 0;
    json_t *out = tw_sns_console_read(r->app->sns, action, in, &s, msg, n);
    if (!out) {
      json_decref(in);
      return -1;
    }
    *seen = max64(*seen, s);
    json_array_extend(arr, json_object_get(out, list_key));
    json_t *next = json_object_get(out, "NextToken");
    if (!json_is_string(next) || !json_string_length(next)) {
      json_decref(out);
      break;
    }
    json_object_set(in, "NextToken", next);
    json_decref(out);
  }
  json_decref(in);
  return 0;
}

static void topics(tw_request *r) {
  char msg[1100];
  uint64_t seen = 0;
  json_t *t = json_array(), *s = json_array();
  if (!r->app->sns || sns_all(r, "ListTopics", "Topics", t, &seen, msg, sizeof msg) ||
      sns_all(r, "ListSubscriptions", "Subscriptions", s, &seen, msg, sizeof msg)) {
    json_decref(t);
    json_decref(s);
    tw_console_error(r, 500, "InternalError", r->app->sns ? msg : "SNS is not running.");
    return;
  }
  tw_console_json_after(r, 0, seen, 200, json_pack("{s:o,s:o}", "topics", t, "subscriptions", s));
}

static json_t *eb(tw_request *r, const char *op, json_t *in, uint64_t *seen, char *msg, size_t n) {
  uint64_t s = 0;
  json_t *out = tw_eventbridge_console_read(r->app->eventbridge, tw_console_store(r->app), op, in,
                                            &s, msg, n);
  json_decref(in);
  if (out) *seen = max64(*seen, s);
  return out;
}

static void rules(tw_request *r) {
  char msg[2200];
  uint64_t seen = 0;
  json_t *buses = eb(r, "ListEventBuses", json_object(), &seen, msg, sizeof msg);
  if (!buses) {
    tw_console_error(r, 500, "InternalError", msg);
    return;
  }
  json_t *doc = json_array(), *b;
  size_t i;
  json_array_foreach(json_object_get(buses, "EventBuses"), i, b) {
    const char *bus = json_string_value(json_object_get(b, "Name"));
    if (!bus) continue;
    json_t *rl = eb(r, "ListRules", json_pack("{s:s,s:i}", "EventBusName", bus, "Limit", 100),
                    &seen, msg, sizeof msg);
    if (!rl) continue;
    json_t *list = json_array(), *rule;
    size_t j;
    json_array_foreach(json_object_get(rl, "Rules"), j, rule) {
      json_t *x = json_deep_copy(rule);
      const char *name = json_string_value(json_object_get(rule, "Name"));
      json_t *tg =
          name ? eb(r, "ListTargetsByRule",
                    json_pack("{s:s,s:s,s:i}", "Rule", name, "EventBusName", bus, "Limit", 100),
                    &seen, msg, sizeof msg)
               : NULL;
      json_t *targets = tg ? json_object_get(tg, "Targets") : NULL;
      json_object_set_new(x, "targets", targets ? json_incref(targets) : json_array());
      json_decref(tg);
      json_array_append_new(list, x);
    }
    json_decref(rl);
    json_array_append_new(doc, json_pack("{s:s,s:o}", "name", bus, "rules", list));
  }
  json_decref(buses);
  tw_console_json_after(r, 0, seen, 200, json_pack("{s:o}", "buses", doc));
}

int tw_console_api_events(tw_request *r, const tw_console_who *who, const char *sub) {
  (void)who;
  if (strcmp(r->method, "GET")) return 0;
  if (!strcmp(sub, "/topics")) {
    topics(r);
    return 1;
  }
  if (!strcmp(sub, "/rules")) {
    rules(r);
    return 1;
  }
  return 0;
}
