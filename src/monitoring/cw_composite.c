/* CloudWatch composite alarms: PutCompositeAlarm, the AlarmRule language
 * (ALARM(x), OK(x), INSUFFICIENT_DATA(x), TRUE, FALSE, NOT, AND, OR,
 * parentheses; x an alarm name, quoted or not, or its ARN), and the state of
 * a composite alarm recomputed whenever one of its children changes state, in
 * the same store batch as the child's change (cwa_change_state calls
 * cwa_composite_propagate), notifications included.
 *
 * Differences from CloudWatch, on purpose: a rule that would close a cycle
 * is refused (CloudWatch accepts it and stops evaluating); ActionsSuppressor
 * is refused (not implemented). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "events/bus.h"
#include "monitoring/cw_alarms_internal.h"

#define MAX_RULE 10240   /* characters of an AlarmRule */
#define MAX_CHILDREN 100 /* alarms one rule references */
#define MAX_PARENTS 150  /* composite alarms one alarm is referenced by */
#define MAX_DEPTH 64     /* nesting of composite alarms (and of the parser) */

int cwa_is_composite(const json_t *al) {
  return json_object_get(al, "AlarmRule") != NULL;
}

/* --- the rule --------------------------------------------------------------------------- */

typedef struct {
  tw_alarms *a;
  const char *s;
  size_t i, n;
  int depth;
  char err[300];
  json_t *refs;    /* names referenced, each once, in order */
  json_t *missing; /* references to alarms that do not exist */
  json_t *hits;    /* evaluating: names whose function came out true */
} rule_parser;

static void skip_ws(rule_parser *p) {
  while (p->i < p->n &&
         (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
    p->i++;
}

/* The next word (letters and '_') without taking it; its length in *len. */
static const char *peek_word(rule_parser *p, size_t *len) {
  skip_ws(p);
  size_t j = p->i;
  while (j < p->n && ((p->s[j] >= 'A' && p->s[j] <= 'Z') || (p->s[j] >= 'a' && p->s[j] <= 'z') ||
                      p->s[j] == '_'))
    j++;
  *len = j - p->i;
  return p->s + p->i;
}

static int word_is(const char *w, size_t len, const char *kw) {
  return strlen(kw) == len && !strncasecmp(w, kw, len);
}

static int fail_at(rule_parser *p, const char *what) {
  if (!p->err[0])
    snprintf(p->err, sizeof p->err, "Error in alarm rule: %s at position %zu.", what, p->i + 1);
  return -1;
}

/* The alarm name an argument means: the name, or the name in this account's
 * and region's alarm ARN; "" when it is an ARN of another place. */
static void arg_name(tw_alarms *a, const char *arg, char *out, size_t n) {
  char pre[200];
  snprintf(pre, sizeof pre, "arn:aws:cloudwatch:%s:%s:alarm:", a->region, a->account);
  if (!strncmp(arg, pre, strlen(pre)))
    snprintf(out, n, "%s", arg + strlen(pre));
  else if (!strncmp(arg, "arn:", 4))
    snprintf(out, n, "%s", "");
  else
    snprintf(out, n, "%s", arg);
}

static int contains(const json_t *list, const char *s) {
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v) if (!strcmp(json_string_value(v), s)) return 1;
  return 0;
}

static int p_or(rule_parser *p);

/* ALARM(x) / OK(x) / INSUFFICIENT_DATA(x): the state asked for */
static int p_function(rule_parser *p, const char *state) {
  skip_ws(p);
  if (p->i >= p->n || p->s[p->i] != '(') return fail_at(p, "'(' expected");
  p->i++;
  skip_ws(p);
  char arg[1700];
  size_t k = 0;
  if (p->i < p->n && p->s[p->i] == '"') {
    p->i++;
    while (p->i < p->n && p->s[p->i] != '"') {
      if (k + 1 < sizeof arg) arg[k++] = p->s[p->i];
      p->i++;
    }
    if (p->i >= p->n) return fail_at(p, "unterminated quoted alarm name");
    p->i++;
    skip_ws(p);
  } else {
    while (p->i < p->n && p->s[p->i] != ')' && p->s[p->i] != '(') {
      if (k + 1 < sizeof arg) arg[k++] = p->s[p->i];
      p->i++;
    }
    while (k && (arg[k - 1] == ' ' || arg[k - 1] == '\t')) k--;
  }
  arg[k] = 0;
  if (p->i >= p->n || p->s[p->i] != ')') return fail_at(p, "')' expected");
  p->i++;
  if (!k) return fail_at(p, "an alarm name or ARN expected");
  char name[1700];
  arg_name(p->a, arg, name, sizeof name);
  json_t *doc = name[0] ? json_object_get(p->a->alarms, name) : NULL;
  if (!doc) {
    if (p->missing && !contains(p->missing, arg))
      json_array_append_new(p->missing, json_string(arg));
    return 0;
  }
  if (p->refs && !contains(p->refs, name)) json_array_append_new(p->refs, json_string(name));
  const char *st = cwa_jstr(json_object_get(doc, "Alarm"), "StateValue");
  int v = st && !strcmp(st, state);
  if (v && p->hits && !contains(p->hits, name)) json_array_append_new(p->hits, json_string(name));
  return v;
}

static int p_primary(rule_parser *p) {
  if (++p->depth > MAX_DEPTH) return fail_at(p, "the rule nests too deeply");
  skip_ws(p);
  int v;
  if (p->i < p->n && p->s[p->i] == '(') {
    p->i++;
    v = p_or(p);
    if (v < 0) return -1;
    skip_ws(p);
    if (p->i >= p->n || p->s[p->i] != ')') return fail_at(p, "')' expected");
    p->i++;
  } else {
    size_t len;
    const char *w = peek_word(p, &len);
    if (!len) return fail_at(p, p->i < p->n ? "unexpected character" : "unexpected end of rule");
    p->i += len;
    if (word_is(w, len, "TRUE"))
      v = 1;
    else if (word_is(w, len, "FALSE"))
      v = 0;
    else if (word_is(w, len, "NOT")) {
      v = p_primary(p);
      if (v >= 0) v = !v;
    } else if (word_is(w, len, "ALARM"))
      v = p_function(p, "ALARM");
    else if (word_is(w, len, "OK"))
      v = p_function(p, "OK");
    else if (word_is(w, len, "INSUFFICIENT_DATA"))
      v = p_function(p, "INSUFFICIENT_DATA");
    else {
      p->i -= len;
      return fail_at(p, "ALARM, OK, INSUFFICIENT_DATA, TRUE, FALSE, NOT or '(' expected");
    }
  }
  p->depth--;
  return v;
}

static int p_and(rule_parser *p) {
  int v = p_primary(p);
  for (;;) {
    if (v < 0) return -1;
    size_t len;
    const char *w = peek_word(p, &len);
    if (!word_is(w, len, "AND")) return v;
    p->i += len;
    int r = p_primary(p);
    if (r < 0) return -1;
    v = v && r;
  }
}

static int p_or(rule_parser *p) {
  int v = p_and(p);
  for (;;) {
    if (v < 0) return -1;
    size_t len;
    const char *w = peek_word(p, &len);
    if (!word_is(w, len, "OR")) return v;
    p->i += len;
    int r = p_and(p);
    if (r < 0) return -1;
    v = v || r;
  }
}

/* Parses (and evaluates) rule: 0/1, or -1 with p->err. */
static int rule_run(rule_parser *p, tw_alarms *a, const char *rule) {
  p->a = a;
  p->s = rule;
  p->i = 0;
  p->n = strlen(rule);
  p->depth = 0;
  p->err[0] = 0;
  int v = p_or(p);
  if (v < 0) return -1;
  skip_ws(p);
  if (p->i < p->n) return fail_at(p, "AND, OR or the end of the rule expected");
  return v;
}

int cwa_rule_eval(tw_alarms *a, const char *rule, json_t *refs, json_t *missing, json_t *hits,
                  char *err, size_t errlen) {
  rule_parser p = {.refs = refs, .missing = missing, .hits = hits};
  int v = rule_run(&p, a, rule);
  if (v < 0 && errlen) snprintf(err, errlen, "%s", p.err);
  return v;
}

json_t *cwa_composite_children(tw_alarms *a, const json_t *al) {
  rule_parser p = {.refs = json_array()};
  const char *rule = cwa_jstr(al, "AlarmRule");
  if (rule) rule_run(&p, a, rule);
  return p.refs;
}

static int refers_to(tw_alarms *a, const json_t *al, const char *name) {
  json_t *kids = cwa_composite_children(a, al);
  int hit = contains(kids, name);
  json_decref(kids);
  return hit;
}

json_t *cwa_composite_parents(tw_alarms *a, const char *name) {
  json_t *out = json_array();
  const char *k;
  json_t *doc;
  json_object_foreach(a->alarms, k, doc) {
    const json_t *al = json_object_get(doc, "Alarm");
    if (cwa_is_composite(al) && refers_to(a, al, name)) json_array_append_new(out, json_string(k));
  }
  return out;
}

/* 1 when `from` (a composite alarm's name) reaches `target` through rules. */
static int reaches(tw_alarms *a, const char *from, const char *target, int depth) {
  if (!strcmp(from, target)) return 1;
  if (depth > MAX_DEPTH) return 1; /* as good as a cycle */
  const json_t *al = json_object_get(json_object_get(a->alarms, from), "Alarm");
  if (!cwa_is_composite(al)) return 0;
  json_t *kids = cwa_composite_children(a, al);
  size_t i;
  json_t *v;
  int hit = 0;
  json_array_foreach(kids, i, v) if (!hit) hit =
      reaches(a, json_string_value(v), target, depth + 1);
  json_decref(kids);
  return hit;
}

/* --- state ------------------------------------------------------------------------------ */

/* "Monday 07 December, 2026 10:40:00 UTC", as composite state reasons write times */
static void fmt_reason_day(int64_t ms, char *out, size_t n) {
  static const char *const days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                     "Thursday", "Friday", "Saturday"};
  static const char *const months[] = {"January",   "February", "March",    "April",
                                       "May",       "June",     "July",     "August",
                                       "September", "October",  "November", "December"};
  time_t sec = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  snprintf(out, n, "%s %02d %s, %04d %02d:%02d:%02d UTC", days[tm.tm_wday], tm.tm_mday,
           months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The state the rule gives now, its reason and StateReasonData (new ref);
 * `changed`: the child whose change asks (NULL: a configuration change). */
static const char *decide(tw_alarms *a, const json_t *al, const char *changed, char *reason,
                          size_t rlen, json_t **data) {
  rule_parser p = {.hits = json_array()};
  int v = rule_run(&p, a, cwa_jstr(al, "AlarmRule"));
  const char *state = v == 1 ? "ALARM" : "OK";
  /* the triggering child: the one that changed, else the first that holds */
  const char *trig = changed ? changed : json_string_value(json_array_get(p.hits, 0));
  const json_t *tal = trig ? json_object_get(json_object_get(a->alarms, trig), "Alarm") : NULL;
  json_t *list = json_array();
  if (tal) {
    char when[64], day[64];
    int64_t ms = (int64_t)llround(cwa_jnum(tal, "StateUpdatedTimestamp", 0) * 1000);
    cwa_fmt_aws_time(ms, when, sizeof when);
    fmt_reason_day(ms, day, sizeof day);
    snprintf(reason, rlen, "%s transitioned to %s at %s", cwa_jstr(tal, "AlarmArn"),
             cwa_jstr(tal, "StateValue"), day);
    json_array_append_new(
        list, json_pack("{s:s,s:{s:s,s:s}}", "arn", cwa_jstr(tal, "AlarmArn"), "state", "value",
                        cwa_jstr(tal, "StateValue"), "timestamp", when));
  } else {
    snprintf(reason, rlen, "The alarm rule evaluated to %s", v == 1 ? "TRUE" : "FALSE");
  }
  *data = json_pack("{s:o}", "triggeringAlarms", list);
  json_decref(p.hits);
  return state;
}

json_t *cwa_composite_notification(tw_alarms *a, const json_t *al, const char *old_state,
                                   int64_t now_ms) {
  json_t *kids = json_array();
  json_t *rd =
      cwa_jstr(al, "StateReasonData") ? json_loads(cwa_jstr(al, "StateReasonData"), 0, NULL) : NULL;
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(rd, "triggeringAlarms"), i, t) {
    json_t *st = json_object_get(t, "state");
    json_array_append_new(
        kids, json_pack("{s:s?,s:{s:s?,s:s?}}", "Arn", cwa_jstr(t, "arn"), "State", "Value",
                        cwa_jstr(st, "value"), "Timestamp", cwa_jstr(st, "timestamp")));
  }
  json_decref(rd);
  json_t *msg = cwa_notification_base(a, al, old_state, now_ms);
  json_object_set_new(msg, "AlarmRule", json_string(cwa_jstr(al, "AlarmRule")));
  json_object_set_new(msg, "TriggeringChildren", kids);
  return msg;
}

/* Recomputes a composite alarm; changes its state (and tells its parents)
 * when the rule now says otherwise. Bus, engine and store held. */
static uint64_t recompute(tw_alarms *a, const char *name, const char *changed, int64_t now_ms) {
  json_t *doc = json_object_get(a->alarms, name);
  const json_t *al = json_object_get(doc, "Alarm");
  if (!cwa_is_composite(al)) return 0;
  char reason[2048];
  json_t *data = NULL;
  const char *state = decide(a, al, changed, reason, sizeof reason, &data);
  const char *cur = cwa_jstr(al, "StateValue");
  if (cur && !strcmp(cur, state)) {
    json_decref(data);
    return 0;
  }
  return cwa_change_state(a, name, doc, state, reason, data, now_ms);
}

uint64_t cwa_composite_propagate(tw_alarms *a, const char *child, int64_t now_ms) {
  json_t *parents = cwa_composite_parents(a, child);
  uint64_t t = 0;
  size_t i;
  json_t *v;
  json_array_foreach(parents, i, v) {
    uint64_t t2 = recompute(a, json_string_value(v), child, now_ms);
    if (t2 > t) t = t2;
  }
  json_decref(parents);
  return t;
}

/* --- PutCompositeAlarm -------------------------------------------------------------------- */

tw_err cwa_put_composite_alarm(tw_cw_call *c) {
  tw_alarms *a = c->alarms;
  json_t *al = json_object(), *tags = NULL, *acts[3] = {0};
  rule_parser p = {.refs = json_array(), .missing = json_array()};
  int locked = 0;
  const char *name = NULL, *rule = NULL, *s = NULL;
  int rc = tw_cw_get_str(c->in, "AlarmName", &name);
  if (rc == 0) FAIL_OUT(TW_ERR_MISSING_PARAMETER, "The parameter AlarmName is required.");
  if (rc < 0 || !cwa_valid_name(name, 255))
    FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE, "The value %.300s for parameter AlarmName is invalid.",
             rc < 0 ? "" : name);
  rc = tw_cw_get_str(c->in, "AlarmRule", &rule);
  if (rc == 0) FAIL_OUT(TW_ERR_MISSING_PARAMETER, "The parameter AlarmRule is required.");
  if (rc < 0 || !*rule)
    FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE, "The value for parameter AlarmRule is invalid.");
  if (strlen(rule) > MAX_RULE)
    FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE,
             "The parameter AlarmRule must not be longer than %d characters.", MAX_RULE);
  if (tw_cw_get_str(c->in, "AlarmDescription", &s) == 1) {
    if (strlen(s) > 1024)
      FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE,
               "The parameter AlarmDescription must not be longer than 1024 characters.");
    json_object_set_new(al, "AlarmDescription", json_string(s));
  }
  if (json_object_get(c->in, "ActionsSuppressor") ||
      json_object_get(c->in, "ActionsSuppressorWaitPeriod") ||
      json_object_get(c->in, "ActionsSuppressorExtensionPeriod"))
    FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
             "ActionsSuppressor (with its WaitPeriod and ExtensionPeriod) is not supported by "
             "tweedle: leave it out, or use ALARM(...) AND NOT ALARM(suppressor) in the rule.");
  int enabled = 1;
  if (tw_cw_get_bool(c->in, "ActionsEnabled", &enabled) < 0)
    FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE, "The value for parameter ActionsEnabled is invalid.");
  const char *akeys[] = {"OKActions", "AlarmActions", "InsufficientDataActions"};
  for (int i = 0; i < 3; i++)
    if (!(acts[i] = cwa_norm_actions(c, akeys[i]))) goto fail;
  tags = cwa_norm_tags(c, c->in);
  if (!tags) goto fail;

  tw_events_lock(a->bus);
  pthread_mutex_lock(&a->mu);
  locked = 1;
  if (rule_run(&p, a, rule) < 0) FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR, "%s", p.err);
  if (json_array_size(p.missing)) {
    char list[1024] = "";
    size_t i, used = 0;
    json_t *v;
    json_array_foreach(p.missing, i, v) {
      used += (size_t)snprintf(list + used, used < sizeof list ? sizeof list - used : 0, "%s%s",
                               i ? ", " : "", json_string_value(v));
      if (used >= sizeof list) break;
    }
    FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
             "Could not save the composite alarm as alarms [%.900s] in the alarm rule do not exist",
             list);
  }
  if (json_array_size(p.refs) > MAX_CHILDREN)
    FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
             "An alarm rule can reference at most %d alarms; this one references %zu.",
             MAX_CHILDREN, json_array_size(p.refs));
  json_t *cur = json_object_get(a->alarms, name);
  if (cur && !cwa_is_composite(json_object_get(cur, "Alarm")))
    FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
             "The alarm %.300s is a metric alarm: a composite alarm needs another name.", name);
  if (!cur && json_object_size(a->alarms) >= MAX_ALARMS)
    FAIL_OUT(TW_ERR_CW_LIMIT_EXCEEDED, "The maximum number of alarms (%d) has been reached.",
             MAX_ALARMS);
  size_t i;
  json_t *v;
  json_array_foreach(p.refs, i, v) {
    const char *kid = json_string_value(v);
    if (reaches(a, kid, name, 0))
      FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
               "The alarm rule of %.300s references %.300s, which %s: tweedle refuses cycles of "
               "composite alarms.",
               name, kid, strcmp(kid, name) ? "depends on it" : "is itself");
    json_t *parents = cwa_composite_parents(a, kid);
    size_t np = json_array_size(parents) - (size_t)contains(parents, name);
    json_decref(parents);
    if (np >= MAX_PARENTS)
      FAIL_OUT(TW_ERR_CW_LIMIT_EXCEEDED,
               "The alarm %.300s is already in the rules of %d composite alarms.", kid,
               MAX_PARENTS);
  }
  char arn[512];
  snprintf(arn, sizeof arn, "arn:aws:cloudwatch:%s:%s:alarm:%s", a->region, a->account, name);
  json_object_set_new(al, "AlarmName", json_string(name));
  json_object_set_new(al, "AlarmArn", json_string(arn));
  json_object_set_new(al, "AlarmRule", json_string(rule));
  json_object_set_new(al, "ActionsEnabled", json_boolean(enabled));
  json_object_set_new(al, "OKActions", acts[0]);
  json_object_set_new(al, "AlarmActions", acts[1]);
  json_object_set_new(al, "InsufficientDataActions", acts[2]);
  acts[0] = acts[1] = acts[2] = NULL;
  int64_t now_ms = tw_alarms_now_ms(a);
  tw_store_hold(a->store);
  c->ticket = cwa_put_config(a, name, cur, al, tags, now_ms);
  /* evaluated at once: the state the rule gives, its actions, its parents */
  uint64_t t = recompute(a, name, NULL, now_ms);
  if (t > c->ticket) c->ticket = t;
  tw_store_release(a->store);
  c->out = json_object();
fail:
  if (locked) {
    pthread_mutex_unlock(&a->mu);
    tw_events_unlock(a->bus);
  }
  for (int k = 0; k < 3; k++) json_decref(acts[k]);
  json_decref(al);
  json_decref(tags);
  json_decref(p.refs);
  json_decref(p.missing);
  return c->err;
}
