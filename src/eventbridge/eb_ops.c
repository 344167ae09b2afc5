/* EventBridge operations on buses, rules and tags, and the operation table.
 * Each takes a transport-free call (eb_call) and knows nothing of HTTP. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "eventbridge/eb_internal.h"
#include "store/eb_delivery.h"
#include "store/eventbridge.h"

#define NAME_PATTERN "[\\.\\-_A-Za-z0-9]+"
#define BUS_PATTERN "[/\\.\\-_A-Za-z0-9]+"
#define STATE_ENUM "[ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]"

void eb_fail(eb_call *c, const char *type, const char *fmt, ...) {
  if (c->err) return; /* the first error stands */
  c->err = type;
  c->status = !strcmp(type, "InternalException") ? 500 : 400;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->msg, sizeof c->msg, fmt, ap);
  va_end(ap);
}

const char *eb_opt_str(eb_call *c, const char *name) {
  json_t *v = json_object_get(c->in, name);
  if (v && !json_is_string(v) && !json_is_null(v)) {
    eb_fail(c, "SerializationException", "Expected a string for %s.", name);
    return NULL;
  }
  return json_string_value(v);
}

const char *eb_req_str(eb_call *c, const char *name, const char *wire_name) {
  const char *v = eb_opt_str(c, name);
  if (!v && !c->err)
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value null at '%s' failed to satisfy constraint: "
            "Member must not be null",
            wire_name);
  return v;
}

/* Validates a name against [chars]+ with a length range; fails the call. */
static int check_name(eb_call *c, const char *v, const char *wire, size_t max, int slash) {
  size_t n = strlen(v);
  int ok = n > 0;
  for (size_t i = 0; ok && i < n; i++) {
    unsigned char ch = (unsigned char)v[i];
    ok = isalnum(ch) || ch == '.' || ch == '-' || ch == '_' || (slash && ch == '/');
  }
  if (!ok) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member "
            "must satisfy regular expression pattern: %s",
            v, wire, slash ? BUS_PATTERN : NAME_PATTERN);
    return -1;
  }
  if (n > max) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member "
            "must have length less than or equal to %zu",
            v, wire, max);
    return -1;
  }
  return 0;
}

static double secs(int64_t ms) {
  return (double)ms / 1000.0;
}

/* The bus an operation names (EventBusName, a name or an ARN); fails the call
 * when it does not exist. Lock held. */
static eb_bus *bus_of(eb_call *c, const char *param) {
  char name[300];
  const char *v = eb_opt_str(c, param);
  if (c->err) return NULL;
  if (eb_bus_param(c->eb, v, name, sizeof name)) {
    eb_fail(c, "ValidationException", "Parameter %s is not valid.", param);
    return NULL;
  }
  eb_bus *b = eb_bus_get(c->eb, name);
  if (!b) eb_fail(c, "ResourceNotFoundException", "Event bus %s does not exist.", name);
  return b;
}

static eb_rule *rule_of(eb_call *c, eb_bus *b, const char *name) {
  eb_rule *r = eb_rule_get(b, name);
  if (!r)
    eb_fail(c, "ResourceNotFoundException", "Rule %s does not exist on EventBus %s.", name,
            b->name);
  return r;
}

/* Checks a Tags parameter (list of Key/Value); NULL when absent. */
static json_t *tags_param(eb_call *c, const char *name) {
  json_t *tags = json_object_get(c->in, name);
  if (!tags || json_is_null(tags)) return NULL;
  if (!json_is_array(tags)) {
    eb_fail(c, "SerializationException", "Expected a list for %s.", name);
    return NULL;
  }
  if (json_array_size(tags) > 50) {
    eb_fail(c, "ValidationException", "A resource can have at most 50 tags.");
    return NULL;
  }
  size_t i, j;
  json_t *t, *u;
  json_array_foreach(tags, i, t) {
    const char *k = json_string_value(json_object_get(t, "Key"));
    const char *v = json_string_value(json_object_get(t, "Value"));
    if (!k || !v || !*k || strlen(k) > 128 || strlen(v) > 256) {
      eb_fail(c, "ValidationException",
              "Parameter %s is not valid: each tag needs a Key (1-128 "
              "characters) and a Value (at most 256).",
              name);
      return NULL;
    }
    json_array_foreach(tags, j, u) {
      if (j < i && !strcmp(k, json_string_value(json_object_get(u, "Key")) ?: "")) {
        eb_fail(c, "ValidationException", "Invalid parameter: Duplicated keys are not allowed.");
        return NULL;
      }
    }
  }
  return tags;
}

/* Sets or replaces each tag of `add` in `tags`. */
static void merge_tags(json_t *tags, json_t *add) {
  size_t i, j;
  json_t *t, *u;
  json_array_foreach(add, i, t) {
    const char *k = json_string_value(json_object_get(t, "Key"));
    int found = 0;
    json_array_foreach(tags, j, u) {
      if (!strcmp(json_string_value(json_object_get(u, "Key")), k)) {
        json_object_set(u, "Value", json_object_get(t, "Value"));
        found = 1;
      }
    }
    if (!found)
      json_array_append_new(tags,
                            json_pack("{s:s,s:O}", "Key", k, "Value", json_object_get(t, "Value")));
  }
}

/* --- buses ------------------------------------------------------------------------- */

static json_t *bus_json(tw_eventbridge *eb, const eb_bus *b) {
  char arn[400];
  eb_bus_arn(eb, b->name, arn, sizeof arn);
  json_t *o = json_pack("{s:s,s:s}", "Name", b->name, "Arn", arn);
  if (b->description) json_object_set_new(o, "Description", json_string(b->description));
  json_object_set_new(o, "CreationTime", json_real(secs(b->created_ms)));
  json_object_set_new(o, "LastModifiedTime", json_real(secs(b->modified_ms)));
  return o;
}

void eb_create_event_bus(eb_call *c) {
  tw_eventbridge *eb = c->eb;
  const char *name = eb_req_str(c, "Name", "name");
  const char *desc = eb_opt_str(c, "Description");
  const char *source = eb_opt_str(c, "EventSourceName");
  json_t *tags = tags_param(c, "Tags");
  if (c->err || check_name(c, name, "name", 256, 1)) return;
  if (desc && strlen(desc) > 512) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value at 'description' failed to satisfy constraint: "
            "Member must have length less than or equal to 512");
    return;
  }
  if (source) {
    eb_fail(c, "ValidationException",
            "tweedle has no partner event sources: EventSourceName is not supported.");
    return;
  }
  if (!strcmp(name, "default")) {
    eb_fail(c, "ResourceAlreadyExistsException", "Event bus default already exists.");
    return;
  }
  if (strchr(name, '/')) { /* '/' only in partner event bus names */
    eb_fail(c, "ValidationException", "Event bus name must not contain '/'.");
    return;
  }
  eb_lock(eb);
  if (eb_bus_get(eb, name)) {
    eb_unlock(eb);
    eb_fail(c, "ResourceAlreadyExistsException", "Event bus %s already exists.", name);
    return;
  }
  eb_bus *b = eb_bus_new(name, desc, tw_now_ms());
  if (tags) merge_tags(b->tags, tags);
  tw_map_put(&eb->buses, b->name, b);
  tw_store_hold(eb->store);
  c->ticket = eb_save_bus(eb, b);
  tw_store_release(eb->store);
  char arn[400];
  eb_bus_arn(eb, name, arn, sizeof arn);
  c->out = json_pack("{s:s}", "EventBusArn", arn);
  if (desc) json_object_set_new(c->out, "Description", json_string(desc));
  eb_unlock(eb);
}

void eb_delete_event_bus(eb_call *c) {
  tw_eventbridge *eb = c->eb;
  const char *name = eb_req_str(c, "Name", "name");
  if (c->err || check_name(c, name, "name", 256, 1)) return;
  if (!strcmp(name, "default")) {
    eb_fail(c, "ValidationException", "Cannot delete event bus default.");
    return;
  }
  eb_lock(eb);
  eb_bus *b = eb_bus_get(eb, name);
  if (!b) {
    eb_unlock(eb);
    eb_fail(c, "ResourceNotFoundException", "Event bus %s does not exist.", name);
    return;
  }
  if (b->rules.count) {
    eb_unlock(eb);
    eb_fail(c, "ValidationException", "EventBus can't be deleted since it has rules.");
    return;
  }
  tw_map_del(&eb->buses, name);
  tw_store_hold(eb->store);
  c->ticket = tw_store_eventbridge(eb->store)->bus_delete(eb->store, name);
  tw_store_release(eb->store);
  eb_bus_free(b);
  eb_unlock(eb);
}

void eb_describe_event_bus(eb_call *c) {
  eb_lock(c->eb);
  eb_bus *b = bus_of(c, "Name");
  if (b) c->out = bus_json(c->eb, b);
  eb_unlock(c->eb);
}

/* Pagination tokens: the hex of the first name of the next page. */
static void token_of(const char *name, char *out, size_t n) {
  size_t k = 0;
  for (; *name && k + 3 < n; name++, k += 2) snprintf(out + k, 3, "%02x", (unsigned char)*name);
  out[k] = 0;
}

static int token_parse(eb_call *c, char *out, size_t n) {
  const char *t = eb_opt_str(c, "NextToken");
  out[0] = 0;
  if (!t) return 0;
  size_t len = strlen(t);
  if (!len || len % 2 || len / 2 >= n) goto bad;
  for (size_t i = 0; i < len; i += 2) {
    unsigned v;
    if (!isxdigit((unsigned char)t[i]) || !isxdigit((unsigned char)t[i + 1]) ||
        sscanf(t + i, "%2x", &v) != 1)
      goto bad;
    out[i / 2] = (char)v;
  }
  out[len / 2] = 0;
  return 0;
bad:
  eb_fail(c, "ValidationException", "The NextToken provided is invalid.");
  return -1;
}

static int limit_param(eb_call *c) {
  json_t *l = json_object_get(c->in, "Limit");
  if (!l || json_is_null(l)) return 100;
  if (!json_is_integer(l) || json_integer_value(l) < 1 || json_integer_value(l) > 100) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value '%s' at 'limit' failed to satisfy constraint: "
            "Member must have value between 1 and 100",
            json_is_integer(l) ? "out of range" : "not a number");
    return -1;
  }
  return (int)json_integer_value(l);
}

/* Pages through sorted names: calls add for those from the token on, at most
 * limit, and sets NextToken in out. */
static void page(eb_call *c, const char **names, size_t n, const char *prefix,
                 void (*add)(eb_call *c, const char *name, json_t *list, void *ud), json_t *list,
                 void *ud) {
  char from[600];
  int limit = limit_param(c);
  if (limit < 0 || token_parse(c, from, sizeof from)) return;
  int taken = 0;
  for (size_t i = 0; i < n; i++) {
    if (prefix && strncmp(names[i], prefix, strlen(prefix))) continue;
    if (from[0] && strcmp(names[i], from) < 0) continue;
    if (taken == limit) {
      char tok[1300];
      token_of(names[i], tok, sizeof tok);
      json_object_set_new(c->out, "NextToken", json_string(tok));
      break;
    }
    add(c, names[i], list, ud);
    taken++;
  }
}

static void add_bus(eb_call *c, const char *name, json_t *list, void *ud) {
  (void)ud;
  json_array_append_new(list, bus_json(c->eb, eb_bus_get(c->eb, name)));
}

void eb_list_event_buses(eb_call *c) {
  const char *prefix = eb_opt_str(c, "NamePrefix");
  if (c->err) return;
  eb_lock(c->eb);
  size_t n;
  const char **names = eb_bus_names(c->eb, &n);
  json_t *list = json_array();
  c->out = json_pack("{s:o}", "EventBuses", list);
  page(c, names, n, prefix, add_bus, list, NULL);
  free(names);
  eb_unlock(c->eb);
}

/* --- rules --------------------------------------------------------------------------- */

static json_t *rule_json(tw_eventbridge *eb, const eb_rule *r, int describe) {
  char arn[600];
  eb_rule_arn(eb, r->bus, r->name, arn, sizeof arn);
  json_t *o = json_pack("{s:s,s:s}", "Name", r->name, "Arn", arn);
  if (r->pattern_text) json_object_set_new(o, "EventPattern", json_string(r->pattern_text));
  if (r->schedule) json_object_set_new(o, "ScheduleExpression", json_string(r->schedule));
  json_object_set_new(o, "State", json_string(r->state));
  if (r->description) json_object_set_new(o, "Description", json_string(r->description));
  if (r->role_arn) json_object_set_new(o, "RoleArn", json_string(r->role_arn));
  json_object_set_new(o, "EventBusName", json_string(r->bus));
  if (describe && r->created_by) json_object_set_new(o, "CreatedBy", json_string(r->created_by));
  return o;
}

static int valid_state(const char *s) {
  return !strcmp(s, "ENABLED") || !strcmp(s, "DISABLED") ||
         !strcmp(s, "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS");
}

void eb_put_rule(eb_call *c) {
  tw_eventbridge *eb = c->eb;
  const char *name = eb_req_str(c, "Name", "name");
  const char *pattern = eb_opt_str(c, "EventPattern");
  const char *schedule = eb_opt_str(c, "ScheduleExpression");
  const char *state = eb_opt_str(c, "State");
  const char *desc = eb_opt_str(c, "Description");
  const char *role = eb_opt_str(c, "RoleArn");
  json_t *tags = tags_param(c, "Tags");
  if (c->err || check_name(c, name, "name", 64, 0)) return;
  if (state && !valid_state(state)) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value '%s' at 'state' failed to satisfy constraint: "
            "Member must satisfy enum value set: " STATE_ENUM,
            state);
    return;
  }
  if (desc && strlen(desc) > 512) {
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value at 'description' failed to satisfy constraint: "
            "Member must have length less than or equal to 512");
    return;
  }
  if (!pattern && !schedule) {
    eb_fail(c, "ValidationException",
            "Parameter(s) EventPattern or ScheduleExpression must be specified.");
    return;
  }
  eb_schedule *sched = NULL;
  if (schedule) {
    sched = eb_schedule_parse(schedule);
    if (!sched || strlen(schedule) > 256) {
      eb_schedule_free(sched);
      eb_fail(c, "ValidationException", "Parameter ScheduleExpression is not valid.");
      return;
    }
  }
  if (pattern && strlen(pattern) > 4096) {
    eb_schedule_free(sched);
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value at 'eventPattern' failed to satisfy constraint: "
            "Member must have length less than or equal to 4096");
    return;
  }
  char perr[1024] = "";
  tw_pattern *p = pattern ? tw_pattern_compile(pattern, strlen(pattern), TW_PATTERN_EVENTBRIDGE,
                                               perr, sizeof perr)
                          : NULL;
  if (pattern && !p) {
    eb_schedule_free(sched);
    eb_fail(c, "InvalidEventPatternException", "%s",
            perr[0] ? perr : "Event pattern is not valid.");
    return;
  }
  eb_lock(eb);
  eb_bus *b = bus_of(c, "EventBusName");
  if (b && sched && strcmp(b->name, "default"))
    eb_fail(c, "ValidationException",
            "ScheduleExpression is supported only on the default event bus.");
  if (!b || c->err) {
    eb_unlock(eb);
    tw_pattern_free(p);
    eb_schedule_free(sched);
    return;
  }
  int64_t now = tw_now_ms();
  eb_rule *r = eb_rule_get(b, name);
  if (!r) {
    r = calloc(1, sizeof *r);
    r->name = strdup(name);
    r->bus = strdup(b->name);
    r->tags = json_array();
    r->created_ms = now;
    r->created_by = strdup(eb->account);
    tw_map_put(&b->rules, r->name, r);
  }
  /* PutRule replaces the rule with what it names; targets and tags stay */
  tw_pattern_free(r->pattern);
  r->pattern = p;
  free(r->pattern_text);
  r->pattern_text = pattern ? strdup(pattern) : NULL;
  /* a new or changed schedule counts from now; an unchanged one keeps its
   * last fire */
  int sched_changed =
      (schedule != NULL) != (r->schedule != NULL) || (schedule && strcmp(schedule, r->schedule));
  eb_schedule_free(r->sched);
  r->sched = sched;
  free(r->schedule);
  r->schedule = schedule ? strdup(schedule) : NULL;
  if (sched_changed) r->sched_last_ms = now;
  free(r->state);
  r->state = strdup(state ? state : "ENABLED");
  free(r->description);
  r->description = desc ? strdup(desc) : NULL;
  free(r->role_arn);
  r->role_arn = role ? strdup(role) : NULL;
  if (tags) merge_tags(r->tags, tags);
  r->modified_ms = now;
  tw_store_hold(eb->store);
  c->ticket = eb_save_rule(eb, r);
  if (sched_changed && schedule)
    c->ticket = tw_store_eb_delivery(eb->store)->mark_put(eb->store, r->bus, r->name, now);
  else if (sched_changed)
    c->ticket = tw_store_eb_delivery(eb->store)->mark_delete(eb->store, r->bus, r->name);
  tw_store_release(eb->store);
  char arn[600];
  eb_rule_arn(eb, b->name, name, arn, sizeof arn);
  c->out = json_pack("{s:s}", "RuleArn", arn);
  eb_unlock(eb);
}

void eb_describe_rule(eb_call *c) {
  const char *name = eb_req_str(c, "Name", "name");
  if (c->err) return;
  eb_lock(c->eb);
  eb_bus *b = bus_of(c, "EventBusName");
  eb_rule *r = b ? rule_of(c, b, name) : NULL;
  if (r) c->out = rule_json(c->eb, r, 1);
  eb_unlock(c->eb);
}

static void add_rule(eb_call *c, const char *name, json_t *list, void *ud) {
  json_array_append_new(list, rule_json(c->eb, eb_rule_get(ud, name), 0));
}

void eb_list_rules(eb_call *c) {
  const char *prefix = eb_opt_str(c, "NamePrefix");
  if (c->err) return;
  eb_lock(c->eb);
  eb_bus *b = bus_of(c, "EventBusName");
  if (b) {
    size_t n;
    const char **names = eb_rule_names(b, &n);
    json_t *list = json_array();
    c->out = json_pack("{s:o}", "Rules", list);
    page(c, names, n, prefix, add_rule, list, b);
    free(names);
  }
  eb_unlock(c->eb);
}

static void set_state(eb_call *c, const char *state) {
  tw_eventbridge *eb = c->eb;
  const char *name = eb_req_str(c, "Name", "name");
  if (c->err) return;
  eb_lock(eb);
  eb_bus *b = bus_of(c, "EventBusName");
  eb_rule *r = b ? rule_of(c, b, name) : NULL;
  if (r) {
    free(r->state);
    r->state = strdup(state);
    r->modified_ms = tw_now_ms();
    tw_store_hold(eb->store);
    c->ticket = eb_save_rule(eb, r);
    tw_store_release(eb->store);
  }
  eb_unlock(eb);
}

void eb_enable_rule(eb_call *c) {
  set_state(c, "ENABLED");
}
void eb_disable_rule(eb_call *c) {
  set_state(c, "DISABLED");
}

void eb_delete_rule(eb_call *c) {
  tw_eventbridge *eb = c->eb;
  const char *name = eb_req_str(c, "Name", "name");
  if (c->err) return;
  eb_lock(eb);
  eb_bus *b = bus_of(c, "EventBusName");
  eb_rule *r = b ? eb_rule_get(b, name) : NULL;
  if (r && r->ntargets) {
    eb_fail(c, "ValidationException", "Rule can't be deleted since it has targets.");
  } else if (r) {
    tw_map_del(&b->rules, name);
    tw_store_hold(eb->store);
    c->ticket = tw_store_eventbridge(eb->store)->rule_delete(eb->store, b->name, name);
    tw_store_release(eb->store);
    eb_rule_free(r);
  } /* a rule that is not there: deleting it again succeeds, as AWS */
  eb_unlock(eb);
}

/* --- tags ------------------------------------------------------------------------------ */

/* The bus or rule an ARN names (lock held); fails the call when it is none. */
static json_t **tags_of_arn(eb_call *c, const char *arn, eb_bus **bus, eb_rule **rule) {
  tw_eventbridge *eb = c->eb;
  char prefix[200];
  snprintf(prefix, sizeof prefix, "arn:aws:events:%s:%s:", eb->region, eb->account);
  size_t pl = strlen(prefix);
  *bus = NULL;
  *rule = NULL;
  if (strncmp(arn, prefix, pl)) goto bad;
  const char *rest = arn + pl;
  if (!strncmp(rest, "event-bus/", 10) && rest[10]) {
    eb_bus *b = eb_bus_get(eb, rest + 10);
    if (!b) {
      eb_fail(c, "ResourceNotFoundException", "Event bus %s does not exist.", rest + 10);
      return NULL;
    }
    *bus = b;
    return &b->tags;
  }
  if (!strncmp(rest, "rule/", 5) && rest[5]) {
    const char *r = rest + 5, *slash = strrchr(r, '/');
    char busname[300];
    if (slash)
      snprintf(busname, sizeof busname, "%.*s", (int)(slash - r), r);
    else
      snprintf(busname, sizeof busname, "default");
    const char *rname = slash ? slash + 1 : r;
    eb_bus *b = eb_bus_get(eb, busname);
    if (!b) {
      eb_fail(c, "ResourceNotFoundException", "Event bus %s does not exist.", busname);
      return NULL;
    }
    eb_rule *ru = rule_of(c, b, rname);
    if (!ru) return NULL;
    *bus = b;
    *rule = ru;
    return &ru->tags;
  }
bad:
  eb_fail(c, "ValidationException",
          "Parameter ResourceARN is not valid: %s names no event bus "
          "or rule of this account and region.",
          arn);
  return NULL;
}

static void save_owner(eb_call *c, eb_bus *b, eb_rule *r) {
  tw_store_hold(c->eb->store);
  c->ticket = r ? eb_save_rule(c->eb, r) : eb_save_bus(c->eb, b);
  tw_store_release(c->eb->store);
}

void eb_tag_resource(eb_call *c) {
  const char *arn = eb_req_str(c, "ResourceARN", "resourceARN");
  json_t *tags = tags_param(c, "Tags");
  if (!c->err && !tags)
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value null at 'tags' failed to satisfy constraint: "
            "Member must not be null");
  if (c->err) return;
  eb_lock(c->eb);
  eb_bus *b;
  eb_rule *r;
  json_t **t = tags_of_arn(c, arn, &b, &r);
  if (t) {
    json_t *merged = json_deep_copy(*t);
    merge_tags(merged, tags);
    if (json_array_size(merged) > 50) {
      json_decref(merged);
      eb_fail(c, "ValidationException", "A resource can have at most 50 tags.");
    } else {
      json_decref(*t);
      *t = merged;
      save_owner(c, b, r);
    }
  }
  eb_unlock(c->eb);
}

void eb_untag_resource(eb_call *c) {
  const char *arn = eb_req_str(c, "ResourceARN", "resourceARN");
  json_t *keys = json_object_get(c->in, "TagKeys");
  if (!c->err && !json_is_array(keys))
    eb_fail(c, "ValidationException",
            "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: "
            "Member must not be null");
  if (c->err) return;
  eb_lock(c->eb);
  eb_bus *b;
  eb_rule *r;
  json_t **t = tags_of_arn(c, arn, &b, &r);
  if (t) {
    json_t *kept = json_array();
    size_t i, j;
    json_t *tag, *k;
    json_array_foreach(*t, i, tag) {
      int drop = 0;
      json_array_foreach(keys, j, k) drop |=
          json_is_string(k) &&
          !strcmp(json_string_value(k), json_string_value(json_object_get(tag, "Key")));
      if (!drop) json_array_append(kept, tag);
    }
    json_decref(*t);
    *t = kept;
    save_owner(c, b, r);
  }
  eb_unlock(c->eb);
}

void eb_list_tags_for_resource(eb_call *c) {
  const char *arn = eb_req_str(c, "ResourceARN", "resourceARN");
  if (c->err) return;
  eb_lock(c->eb);
  eb_bus *b;
  eb_rule *r;
  json_t **t = tags_of_arn(c, arn, &b, &r);
  if (t) c->out = json_pack("{s:O}", "Tags", *t);
  eb_unlock(c->eb);
}

/* --- the table ------------------------------------------------------------------------- */

static const eb_op ops[] = {
    {"CreateEventBus", eb_create_event_bus},
    {"DeleteEventBus", eb_delete_event_bus},
    {"DescribeEventBus", eb_describe_event_bus},
    {"ListEventBuses", eb_list_event_buses},
    {"PutRule", eb_put_rule},
    {"DescribeRule", eb_describe_rule},
    {"ListRules", eb_list_rules},
    {"EnableRule", eb_enable_rule},
    {"DisableRule", eb_disable_rule},
    {"DeleteRule", eb_delete_rule},
    {"PutTargets", eb_put_targets},
    {"RemoveTargets", eb_remove_targets},
    {"ListTargetsByRule", eb_list_targets_by_rule},
    {"ListRuleNamesByTarget", eb_list_rule_names_by_target},
    {"PutEvents", eb_put_events},
    {"TestEventPattern", eb_test_event_pattern},
    {"TagResource", eb_tag_resource},
    {"UntagResource", eb_untag_resource},
    {"ListTagsForResource", eb_list_tags_for_resource},
    {"CreateConnection", eb_create_connection},
    {"DescribeConnection", eb_describe_connection},
    {"ListConnections", eb_list_connections},
    {"UpdateConnection", eb_update_connection},
    {"DeleteConnection", eb_delete_connection},
    {"CreateApiDestination", eb_create_api_destination},
    {"DescribeApiDestination", eb_describe_api_destination},
    {"ListApiDestinations", eb_list_api_destinations},
    {"UpdateApiDestination", eb_update_api_destination},
    {"DeleteApiDestination", eb_delete_api_destination},
};

const eb_op *eb_find_op(const char *name) {
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(ops[i].name, name)) return &ops[i];
  return NULL;
}
