/* EventBridge targets: PutTargets, RemoveTargets, ListTargetsByRule,
 * ListRuleNamesByTarget. PutTargets takes the event bus's lock (every target
 * engine's lock, this engine's included) to ask whether a kind of
 * destination is served here at all. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "eventbridge/eb_internal.h"
#include "store/eventbridge.h"

static const char *str_of(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static int valid_id(const char *id) {
  if (!*id) return 0;
  for (const char *p = id; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_') return 0;
  return 1;
}

/* Whole-request checks of one target (AWS answers these with a
 * ValidationException for the request): 0 or -1 (call failed). */
static int check_target(eb_call *c, json_t *t, size_t index) {
  if (!json_is_object(t)) {
    eb_fail(c, "SerializationException", "Each target must be an object.");
    return -1;
  }
  const char *id = str_of(t, "Id"), *arn = str_of(t, "Arn");
  if (!id || !arn) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value null at 'targets.%zu.member.%s' failed to "
            "satisfy constraint: Member must not be null",
            index + 1, id ? "arn" : "id");
    return -1;
  }
  if (!valid_id(id)) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value '%s' at 'targets.%zu.member.id' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+",
            id, index + 1);
    return -1;
  }
  if (strlen(id) > 64) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value '%s' at 'targets.%zu.member.id' failed to satisfy "
            "constraint: Member must have length less than or equal to 64",
            id, index + 1);
    return -1;
  }
  if (!*arn || strlen(arn) > 1600) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value '%s' at 'targets.%zu.member.arn' failed to "
            "satisfy constraint: Member must have length between 1 and 1600",
            arn, index + 1);
    return -1;
  }
  json_t *rp = json_object_get(t, "RetryPolicy");
  if (rp && !json_is_null(rp)) {
    json_t *mr = json_object_get(rp, "MaximumRetryAttempts"),
           *ma = json_object_get(rp, "MaximumEventAgeInSeconds");
    if (!json_is_object(rp) || (mr && !json_is_integer(mr)) || (ma && !json_is_integer(ma))) {
      eb_fail(c, "SerializationException", "RetryPolicy must hold integers.");
      return -1;
    }
    if (mr && (json_integer_value(mr) < 0 || json_integer_value(mr) > 185)) {
      eb_fail(
          c, "ValidationException",
          "1 validation error detected: Value '%lld' at 'targets.%zu.member.retryPolicy."
          "maximumRetryAttempts' failed to satisfy constraint: Member must have value %s",
          (long long)json_integer_value(mr), index + 1,
          json_integer_value(mr) < 0 ? "greater than or equal to 0" : "less than or equal to 185");
      return -1;
    }
    if (ma && (json_integer_value(ma) < 60 || json_integer_value(ma) > 86400)) {
      eb_fail(c, "ValidationException",
              "1 validation error detected: Value '%lld' at 'targets.%zu.member.retryPolicy."
              "maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value %s",
              (long long)json_integer_value(ma), index + 1,
              json_integer_value(ma) < 60 ? "greater than or equal to 60"
                                          : "less than or equal to 86400");
      return -1;
    }
  }
  json_t *dlc = json_object_get(t, "DeadLetterConfig");
  if (dlc && !json_is_null(dlc)) {
    const char *darn = str_of(dlc, "Arn");
    if (darn && strncmp(darn, "arn:aws:sqs:", 12)) {
      eb_fail(c, "ValidationException",
              "Parameter DeadLetterConfig.Arn of target %s is not valid: it must be the ARN of "
              "an SQS queue.",
              id);
      return -1;
    }
  }
  json_t *hp = json_object_get(t, "HttpParameters");
  if (hp && !json_is_null(hp) &&
      (!json_is_object(hp) ||
       (json_object_get(hp, "PathParameterValues") &&
        !json_is_array(json_object_get(hp, "PathParameterValues"))) ||
       (json_object_get(hp, "HeaderParameters") &&
        !json_is_object(json_object_get(hp, "HeaderParameters"))) ||
       (json_object_get(hp, "QueryStringParameters") &&
        !json_is_object(json_object_get(hp, "QueryStringParameters"))))) {
    eb_fail(c, "SerializationException", "HttpParameters is malformed.");
    return -1;
  }
  json_t *input = json_object_get(t, "Input"), *path = json_object_get(t, "InputPath"),
         *tr = json_object_get(t, "InputTransformer");
  if ((input != NULL) + (path != NULL) + (tr != NULL) > 1) {
    eb_fail(c, "ValidationException",
            "Only one of Input, InputPath, or InputTransformer must be provided for target %s.",
            id);
    return -1;
  }
  if (input) {
    const char *text = json_string_value(input);
    json_t *j = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    if (!j || strlen(text) > 8192) {
      json_decref(j);
      eb_fail(c, "ValidationException", "Input for target %s is not valid JSON text.", id);
      return -1;
    }
    json_decref(j);
  }
  if (path && (!json_is_string(path) || strlen(json_string_value(path)) > 256 ||
               !eb_jsonpath_valid(json_string_value(path)))) {
    eb_fail(c, "ValidationException",
            "InputPath for target %s is not valid: tweedle takes the JSONPath subset EventBridge "
            "documents ($, .name, ['name'], [n], [*]).",
            id);
    return -1;
  }
  if (tr) {
    const char *tmpl = str_of(tr, "InputTemplate");
    json_t *map = json_object_get(tr, "InputPathsMap");
    if (!tmpl || !*tmpl || strlen(tmpl) > 8192) {
      eb_fail(c, "ValidationException",
              "1 validation error detected: Value null at 'targets.%zu.member.inputTransformer."
              "inputTemplate' failed to satisfy constraint: Member must not be null",
              index + 1);
      return -1;
    }
    if (map && !json_is_object(map)) {
      eb_fail(c, "SerializationException", "InputPathsMap must be an object.");
      return -1;
    }
    if (json_object_size(map) > 100) {
      eb_fail(c, "ValidationException", "InputPathsMap for target %s has more than 100 entries.",
              id);
      return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(map, k, v) {
      if (!strncmp(k, "aws.events.", 11)) {
        eb_fail(c, "ValidationException",
                "InputTransformer for target %s defines a reserved variable %s.", id, k);
        return -1;
      }
      if (!json_is_string(v) || strlen(json_string_value(v)) > 256 ||
          !eb_jsonpath_valid(json_string_value(v))) {
        eb_fail(c, "ValidationException",
                "InputPathsMap for target %s has an invalid JSONPath for %s.", id, k);
        return -1;
      }
    }
    char msg[512];
    if (eb_template_check(id, map, tmpl, msg, sizeof msg)) {
      eb_fail(c, "ValidationException", "%s", msg);
      return -1;
    }
  }
  return 0;
}

int eb_target_check(eb_call *c, json_t *t, size_t index) {
  return check_target(c, t, index);
}

static void failed_entry(json_t *list, const char *id, const char *code, const char *msg) {
  json_array_append_new(
      list, json_pack("{s:s,s:s,s:s}", "TargetId", id, "ErrorCode", code, "ErrorMessage", msg));
}

static int find_target(const eb_rule *r, const char *id) {
  for (size_t i = 0; i < r->ntargets; i++)
    if (!strcmp(r->targets[i].id, id)) return (int)i;
  return -1;
}

void eb_put_targets(eb_call *c) {
  tw_eventbridge *eb = c->eb;
  const char *name = eb_req_str(c, "Rule", "rule");
  json_t *targets = json_object_get(c->in, "Targets");
  if (c->err) return;
  if (!json_is_array(targets) || !json_array_size(targets) || json_array_size(targets) > 100) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value at 'targets' failed to satisfy constraint: Member "
            "must have length between 1 and 100");
    return;
  }
  size_t i;
  json_t *t;
  json_array_foreach(targets, i, t) if (check_target(c, t, i)) return;
  char busname[300];
  if (eb_bus_param(eb, eb_opt_str(c, "EventBusName"), busname, sizeof busname)) {
    eb_fail(c, "ValidationException", "Parameter EventBusName is not valid.");
    return;
  }
  if (c->err) return;
  tw_events_lock(eb->events); /* this engine's lock too */
  eb_bus *b = eb_bus_get(eb, busname);
  eb_rule *r = eb_rule_get(b, name);
  if (!b) {
    eb_fail(c, "ResourceNotFoundException", "Event bus %s does not exist.", busname);
    goto out;
  }
  if (!r) {
    eb_fail(c, "ResourceNotFoundException", "Rule %s does not exist on EventBus %s.", name,
            busname);
    goto out;
  }
  /* the number of targets the rule would have */
  size_t total = r->ntargets;
  json_array_foreach(targets, i, t) {
    const char *id = str_of(t, "Id");
    int dup = find_target(r, id) >= 0;
    for (size_t j = 0; j < i && !dup; j++)
      dup = !strcmp(str_of(json_array_get(targets, j), "Id"), id);
    if (!dup) total++;
  }
  if (total > EB_MAX_TARGETS) {
    eb_fail(c, "LimitExceededException",
            "The requested resource exceeds the maximum number allowed.");
    goto out;
  }
  json_t *failed = json_array();
  int changed = 0;
  json_array_foreach(targets, i, t) {
    eb_target nt;
    char msg[512];
    json_t *copy = json_deep_copy(t);
    if (eb_target_parse(eb, copy, &nt, msg, sizeof msg)) {
      failed_entry(failed, str_of(t, "Id"), "ValidationException", msg);
      json_decref(copy);
      continue;
    }
    int fifo = 0;
    if (nt.kind != EB_T_BUS && nt.kind != EB_T_API &&
        tw_event_target_exists(eb->events, nt.arn, &fifo) < 0) {
      snprintf(msg, sizeof msg, "This tweedle serves no %s: target %s cannot be delivered to.",
               nt.kind == EB_T_SNS ? "SNS topics" : "SQS queues", nt.id);
      failed_entry(failed, nt.id, "ValidationException", msg);
      json_decref(copy);
      continue;
    }
    if ((nt.fifo || fifo) && nt.kind == EB_T_SQS && !nt.group_id) {
      snprintf(msg, sizeof msg, "Parameter(s) SqsParameters must be specified for target: %s.",
               nt.id);
      failed_entry(failed, nt.id, "ValidationException", msg);
      json_decref(copy);
      continue;
    }
    if (nt.kind == EB_T_BUS && (nt.input || nt.input_path || nt.template)) {
      snprintf(msg, sizeof msg,
               "Target %s is an event bus: it receives the event unchanged (no Input, InputPath "
               "or InputTransformer).",
               nt.id);
      failed_entry(failed, nt.id, "ValidationException", msg);
      json_decref(copy);
      continue;
    }
    nt.fifo |= fifo;
    int k = find_target(r, nt.id);
    if (k >= 0) {
      json_decref(r->targets[k].json);
      r->targets[k] = nt;
    } else {
      r->targets[r->ntargets++] = nt;
    }
    changed = 1;
  }
  if (changed) {
    r->modified_ms = tw_now_ms();
    tw_store_hold(eb->store);
    c->ticket = eb_save_rule(eb, r);
    tw_store_release(eb->store);
  }
  c->out = json_pack("{s:I,s:o}", "FailedEntryCount", (json_int_t)json_array_size(failed),
                     "FailedEntries", failed);
out:
  tw_events_unlock(eb->events);
}

void eb_remove_targets(eb_call *c) {
  tw_eventbridge *eb = c->eb;
  const char *name = eb_req_str(c, "Rule", "rule");
  json_t *ids = json_object_get(c->in, "Ids");
  if (c->err) return;
  if (!json_is_array(ids) || !json_array_size(ids) || json_array_size(ids) > 100) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value at 'ids' failed to satisfy constraint: Member "
            "must have length between 1 and 100");
    return;
  }
  char busname[300];
  if (eb_bus_param(eb, eb_opt_str(c, "EventBusName"), busname, sizeof busname)) {
    eb_fail(c, "ValidationException", "Parameter EventBusName is not valid.");
    return;
  }
  if (c->err) return;
  eb_lock(eb);
  eb_bus *b = eb_bus_get(eb, busname);
  eb_rule *r = eb_rule_get(b, name);
  if (!b || !r) {
    if (!b)
      eb_fail(c, "ResourceNotFoundException", "Event bus %s does not exist.", busname);
    else
      eb_fail(c, "ResourceNotFoundException", "Rule %s does not exist on EventBus %s.", name,
              busname);
    eb_unlock(eb);
    return;
  }
  json_t *failed = json_array();
  size_t i;
  json_t *id;
  int changed = 0;
  json_array_foreach(ids, i, id) {
    const char *s = json_string_value(id);
    int k = s ? find_target(r, s) : -1;
    if (k < 0) {
      char msg[300];
      snprintf(msg, sizeof msg, "Rule '%s' does not have a target with the Id '%s'.", name,
               s ? s : "");
      failed_entry(failed, s ? s : "", "ResourceNotFoundException", msg);
      continue;
    }
    json_decref(r->targets[k].json);
    memmove(&r->targets[k], &r->targets[k + 1], (r->ntargets - k - 1) * sizeof r->targets[0]);
    r->ntargets--;
    changed = 1;
  }
  if (changed) {
    r->modified_ms = tw_now_ms();
    tw_store_hold(eb->store);
    c->ticket = eb_save_rule(eb, r);
    tw_store_release(eb->store);
  }
  c->out = json_pack("{s:I,s:o}", "FailedEntryCount", (json_int_t)json_array_size(failed),
                     "FailedEntries", failed);
  eb_unlock(eb);
}

/* Pagination by index for targets, rule names, connections and API
 * destinations: the token is "i<index>". */
int eb_index_paging(eb_call *c, size_t *start, int *limit) {
  json_t *l = json_object_get(c->in, "Limit");
  *limit = 100;
  if (l && !json_is_null(l)) {
    if (!json_is_integer(l) || json_integer_value(l) < 1 || json_integer_value(l) > 100) {
      eb_fail(c, "ValidationException",
              "1 validation error detected: Value at 'limit' failed to satisfy constraint: Member "
              "must have value between 1 and 100");
      return -1;
    }
    *limit = (int)json_integer_value(l);
  }
  const char *tok = eb_opt_str(c, "NextToken");
  *start = 0;
  if (tok) {
    char *end;
    unsigned long v = tok[0] == 'i' ? strtoul(tok + 1, &end, 10) : 0;
    if (tok[0] != 'i' || !tok[1] || *end) {
      eb_fail(c, "ValidationException", "The NextToken provided is invalid.");
      return -1;
    }
    *start = v;
  }
  return c->err ? -1 : 0;
}

void eb_index_next(eb_call *c, size_t next) {
  char tok[32];
  snprintf(tok, sizeof tok, "i%zu", next);
  json_object_set_new(c->out, "NextToken", json_string(tok));
}

void eb_list_targets_by_rule(eb_call *c) {
  const char *name = eb_req_str(c, "Rule", "rule");
  size_t start;
  int limit;
  if (c->err || eb_index_paging(c, &start, &limit)) return;
  char busname[300];
  if (eb_bus_param(c->eb, eb_opt_str(c, "EventBusName"), busname, sizeof busname)) {
    eb_fail(c, "ValidationException", "Parameter EventBusName is not valid.");
    return;
  }
  eb_lock(c->eb);
  eb_bus *b = eb_bus_get(c->eb, busname);
  eb_rule *r = eb_rule_get(b, name);
  if (!b)
    eb_fail(c, "ResourceNotFoundException", "Event bus %s does not exist.", busname);
  else if (!r)
    eb_fail(c, "ResourceNotFoundException", "Rule %s does not exist on EventBus %s.", name,
            busname);
  else {
    json_t *list = json_array();
    c->out = json_pack("{s:o}", "Targets", list);
    for (size_t i = start; i < r->ntargets; i++) {
      if ((int)json_array_size(list) == limit) {
        eb_index_next(c, i);
        break;
      }
      json_array_append(list, r->targets[i].json);
    }
  }
  eb_unlock(c->eb);
}

void eb_list_rule_names_by_target(eb_call *c) {
  const char *arn = eb_req_str(c, "TargetArn", "targetArn");
  size_t start;
  int limit;
  if (c->err || eb_index_paging(c, &start, &limit)) return;
  char busname[300];
  if (eb_bus_param(c->eb, eb_opt_str(c, "EventBusName"), busname, sizeof busname)) {
    eb_fail(c, "ValidationException", "Parameter EventBusName is not valid.");
    return;
  }
  eb_lock(c->eb);
  eb_bus *b = eb_bus_get(c->eb, busname);
  if (!b) {
    eb_fail(c, "ResourceNotFoundException", "Event bus %s does not exist.", busname);
  } else {
    size_t n, found = 0;
    const char **names = eb_rule_names(b, &n);
    json_t *list = json_array();
    c->out = json_pack("{s:o}", "RuleNames", list);
    for (size_t i = 0; i < n; i++) {
      eb_rule *r = eb_rule_get(b, names[i]);
      int hit = 0;
      for (size_t k = 0; k < r->ntargets && !hit; k++) hit = !strcmp(r->targets[k].arn, arn);
      if (!hit) continue;
      if (found++ < start) continue;
      if ((int)json_array_size(list) == limit) {
        eb_index_next(c, found - 1);
        break;
      }
      json_array_append_new(list, json_string(names[i]));
    }
    free(names);
  }
  eb_unlock(c->eb);
}
