/* CloudWatch alarms: the engine (memory + store/cw_alarms.h), the evaluator
 * thread, state changes and their notifications (cw_alarms.h says how they
 * commit). The API is in cw_alarm_put.c (PutMetricAlarm), cw_alarm_ops.c (the
 * other operations) and cw_composite.c (composite alarms). */
#include "monitoring/cw_alarms_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "events/bus.h"
#include "monitoring/cw_front.h"
#include "store/cw_alarms.h"
#include "core/clock.h"
#include "store/pg_cw.h"
#include "store/pg_state.h"

const tw_cw_alarms_repo *cwa_repo(tw_alarms *a) {
  return tw_store_cw_alarms(a->store);
}

void tw_alarms_lock(tw_alarms *a) {
  pthread_mutex_lock(&a->mu);
}
void tw_alarms_unlock(tw_alarms *a) {
  pthread_mutex_unlock(&a->mu);
}
tw_store *tw_alarms_store(tw_alarms *a) {
  return a->store;
}
json_t *tw_alarms_dashboards(tw_alarms *a) {
  return a->dashboards;
}
const char *tw_alarms_account(tw_alarms *a) {
  return a->account;
}
int64_t tw_alarms_now_ms(tw_alarms *a) {
  return tw_metrics_now_ms(a->metrics);
}

/* --- loading --------------------------------------------------------------------- */

static int load_alarm(void *ud, const char *name, const char *doc) {
  tw_alarms *a = ud;
  json_t *d = json_loads(doc, 0, NULL);
  if (json_is_object(d))
    json_object_set_new(a->alarms, name, d);
  else
    json_decref(d);
  return 0;
}

static int load_dashboard(void *ud, const char *name, const char *doc) {
  tw_alarms *a = ud;
  json_t *d = json_loads(doc, 0, NULL);
  if (json_is_object(d))
    json_object_set_new(a->dashboards, name, d);
  else
    json_decref(d);
  return 0;
}

#define CW_STATE "cloudwatch" /* the state counter (store/pg/cw.c bumps it) */

/* Engine locked. Cluster mode: the counter first, then the rows, so what is
 * loaded is at least at that version; nothing changes when PostgreSQL cannot
 * answer. */
static int reload(tw_alarms *a) {
  int64_t v = 0;
  if (a->cluster && (__atomic_load_n(&a->in_calls, __ATOMIC_SEQ_CST) > 0 ||
                     tw_store_committed(a->store) < a->pending)) {
    a->stale = 1; /* this node's own change is not committed: PostgreSQL's rows would undo it */
    return 0;
  }
  if (a->cluster && (v = tw_store_pg_state_read(a->store, CW_STATE)) < 0) return -1;
  a->stale = 0;
  json_t *al = json_object(), *db = json_object();
  json_t *old_al = a->alarms, *old_db = a->dashboards;
  a->alarms = al;
  a->dashboards = db;
  int rc = cwa_repo(a)->load(a->store, load_alarm, load_dashboard, a);
  if (rc && a->cluster) { /* keep what was there */
    a->alarms = old_al;
    a->dashboards = old_db;
    json_decref(al);
    json_decref(db);
    return -1;
  }
  json_decref(old_al);
  json_decref(old_db);
  if (!rc) a->loaded_version = v;
  return rc;
}

int tw_alarms_sync(tw_alarms *a) {
  if (!a || !a->cluster) return 0;
  int64_t v = tw_store_pg_state_read(a->store, CW_STATE);
  if (v < 0) return -1;
  int rc = 0;
  /* a reload put off by this node's calls in flight: they take milliseconds
   * (and their commit); wait for them, a bounded while */
  for (int i = 0; i < 100; i++) {
    pthread_mutex_lock(&a->mu);
    rc = v > a->loaded_version || a->stale ? reload(a) : 0;
    int again = !rc && a->stale;
    pthread_mutex_unlock(&a->mu);
    if (!again) break;
    usleep(2000);
  }
  return rc;
}

void tw_alarms_call_begin(tw_alarms *a) {
  if (a && a->cluster) __atomic_add_fetch(&a->in_calls, 1, __ATOMIC_SEQ_CST);
}

void tw_alarms_call_end(tw_alarms *a, uint64_t ticket) {
  if (!a || !a->cluster) return;
  pthread_mutex_lock(&a->mu);
  if (ticket > a->pending) a->pending = ticket;
  pthread_mutex_unlock(&a->mu);
  __atomic_sub_fetch(&a->in_calls, 1, __ATOMIC_SEQ_CST);
}

/* The listener's thread: a node committed a change (or bumps may have been missed). */
static void on_state(void *ud) {
  tw_alarms *a = ud;
  pthread_mutex_lock(&a->mu);
  if (reload(a)) tw_warn("alarms: cannot reload after a change on another node");
  pthread_mutex_unlock(&a->mu);
}

int tw_alarms_cluster(tw_alarms *a) {
  a->cluster = 1;
  pthread_mutex_lock(&a->mu);
  int rc = reload(a);
  pthread_mutex_unlock(&a->mu);
  return rc ? -1 : tw_store_pg_state_listen(a->store, CW_STATE, on_state, a);
}

tw_alarms *tw_alarms_open(tw_store *s, tw_metrics *m, struct tw_events *bus, const char *region,
                          const char *account, char *err, size_t errlen) {
  tw_alarms *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->store = s;
  a->metrics = m;
  a->bus = bus;
  snprintf(a->region, sizeof a->region, "%s", region);
  snprintf(a->account, sizeof a->account, "%s", account);
  pthread_mutex_init(&a->mu, NULL);
  pthread_mutex_init(&a->tick_mu, NULL);
  pthread_cond_init(&a->tick_cv, NULL);
  a->alarms = json_object();
  a->dashboards = json_object();
  const char *t = getenv("TWEEDLE_ALARM_TICK_MS");
  a->tick_ms = t && atoi(t) > 0 ? atoi(t) : 10000;
  if (reload(a)) {
    snprintf(err, errlen, "cannot load the CloudWatch alarms");
    tw_alarms_close(a);
    return NULL;
  }
  return a;
}

void tw_alarms_commit_failed(tw_alarms *a) {
  if (!a) return;
  pthread_mutex_lock(&a->mu);
  if (reload(a)) tw_error("alarms: cannot reload after a failed commit");
  pthread_mutex_unlock(&a->mu);
}

static void *evaluator(void *ud) {
  tw_alarms *a = ud;
  pthread_mutex_lock(&a->tick_mu);
  while (!a->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (int64_t)a->tick_ms * 1000000;
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_cond_timedwait(&a->tick_cv, &a->tick_mu, &ts);
    if (a->stop) break;
    pthread_mutex_unlock(&a->tick_mu);
    if (a->cluster) { /* one node evaluates, on what is committed */
      if (!a->lead) a->lead = tw_store_pg_lead_open(a->store, "cloudwatch-alarms");
      if (tw_store_pg_lead(a->lead) == 1 && !tw_alarms_sync(a)) tw_alarms_evaluate(a);
    } else {
      tw_alarms_evaluate(a);
    }
    pthread_mutex_lock(&a->tick_mu);
  }
  pthread_mutex_unlock(&a->tick_mu);
  return NULL;
}

int tw_alarms_start(tw_alarms *a) {
  if (pthread_create(&a->thread, NULL, evaluator, a)) return -1;
  a->running = 1;
  return 0;
}

void tw_alarms_stop(tw_alarms *a) {
  if (!a || !a->running) return;
  pthread_mutex_lock(&a->tick_mu);
  a->stop = 1;
  pthread_cond_broadcast(&a->tick_cv);
  pthread_mutex_unlock(&a->tick_mu);
  pthread_join(a->thread, NULL);
  a->running = 0;
  tw_store_pg_lead_close(a->lead); /* frees the lock: another node evaluates */
  a->lead = NULL;
}

void tw_alarms_close(tw_alarms *a) {
  if (!a) return;
  tw_alarms_stop(a);
  json_decref(a->alarms);
  json_decref(a->dashboards);
  pthread_mutex_destroy(&a->mu);
  pthread_mutex_destroy(&a->tick_mu);
  pthread_cond_destroy(&a->tick_cv);
  free(a);
}

/* --- helpers ---------------------------------------------------------------------- */

/* 2026-12-06T10:40:00.123+0000, as alarm notifications and history write times */
void cwa_fmt_aws_time(int64_t ms, char *out, size_t n) {
  time_t sec = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* (06/12/26 10:40:00), as state reasons write datapoint times */
static void fmt_reason_time(int64_t s, char *out, size_t n) {
  time_t sec = (time_t)s;
  struct tm tm;
  gmtime_r(&sec, &tm);
  snprintf(out, n, "%02d/%02d/%02d %02d:%02d:%02d", tm.tm_mday, tm.tm_mon + 1, tm.tm_year % 100,
           tm.tm_hour, tm.tm_min, tm.tm_sec);
}

const char *cwa_region_long_name(const char *r) {
  static const char *const names[][2] = {{"us-east-1", "US East (N. Virginia)"},
                                         {"us-east-2", "US East (Ohio)"},
                                         {"us-west-1", "US West (N. California)"},
                                         {"us-west-2", "US West (Oregon)"},
                                         {"eu-west-1", "EU (Ireland)"},
                                         {"eu-west-2", "EU (London)"},
                                         {"eu-west-3", "EU (Paris)"},
                                         {"eu-central-1", "EU (Frankfurt)"},
                                         {"eu-north-1", "EU (Stockholm)"},
                                         {"ap-southeast-1", "Asia Pacific (Singapore)"},
                                         {"ap-southeast-2", "Asia Pacific (Sydney)"},
                                         {"ap-northeast-1", "Asia Pacific (Tokyo)"},
                                         {"ap-south-1", "Asia Pacific (Mumbai)"},
                                         {"sa-east-1", "South America (Sao Paulo)"},
                                         {"ca-central-1", "Canada (Central)"}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(names[i][0], r)) return names[i][1];
  return r;
}

const char *cwa_jstr(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

double cwa_jnum(const json_t *o, const char *k, double dflt) {
  json_t *v = json_object_get(o, k);
  return json_is_number(v) ? json_number_value(v) : dflt;
}

/* A copy of v with every object key's first letter lowered (HistoryData's
 * camelCase) and timestamps as AWS writes them there. */
json_t *cwa_camel(const json_t *v) {
  if (json_is_array(v)) {
    json_t *out = json_array();
    size_t i;
    json_t *x;
    json_array_foreach((json_t *)v, i, x) json_array_append_new(out, cwa_camel(x));
    return out;
  }
  if (!json_is_object(v)) return json_deep_copy(v);
  json_t *out = json_object();
  const char *k;
  json_t *x;
  json_object_foreach((json_t *)v, k, x) {
    char key[128];
    snprintf(key, sizeof key, "%s", k);
    if (key[0] >= 'A' && key[0] <= 'Z') key[0] = (char)(key[0] - 'A' + 'a');
    if (!strncmp(key, "aWS", 3)) key[1] = 'w', key[2] = 's';
    size_t kl = strlen(key);
    if (kl > 9 && !strcmp(key + kl - 9, "Timestamp") && json_is_number(x)) {
      char t[64];
      cwa_fmt_aws_time((int64_t)llround(json_number_value(x) * 1000), t, sizeof t);
      json_object_set_new(out, key, json_string(t));
    } else {
      json_object_set_new(out, key, cwa_camel(x));
    }
  }
  return out;
}

uint64_t cwa_save_alarm(tw_alarms *a, const char *name, const json_t *doc) {
  char *s = json_dumps(doc, JSON_COMPACT);
  uint64_t t = cwa_repo(a)->alarm_put(a->store, name, s);
  free(s);
  return t;
}

uint64_t cwa_add_history(tw_alarms *a, const char *name, int64_t ms, const char *type,
                         const char *summary, json_t *data /* stolen */) {
  char *s = json_dumps(data, JSON_COMPACT);
  json_decref(data);
  int composite = cwa_is_composite(json_object_get(json_object_get(a->alarms, name), "Alarm"));
  tw_cw_history_row r = {.alarm_name = name,
                         .alarm_type = composite ? "CompositeAlarm" : "MetricAlarm",
                         .ts_ms = ms,
                         .type = type,
                         .summary = summary,
                         .data = s};
  uint64_t t = cwa_repo(a)->history_add(a->store, &r);
  free(s);
  return t;
}

/* --- notifications ------------------------------------------------------------------ */

static char *upper_stat(const char *s) {
  /* SampleCount -> SAMPLE_COUNT, Average -> AVERAGE */
  char *out = malloc(strlen(s) * 2 + 1), *p = out;
  for (const char *q = s; *q; q++) {
    if (q != s && *q >= 'A' && *q <= 'Z') *p++ = '_';
    *p++ = (char)(*q >= 'a' && *q <= 'z' ? *q - 'a' + 'A' : *q);
  }
  *p = 0;
  return out;
}

json_t *cwa_notification_base(tw_alarms *a, const json_t *al, const char *old_state,
                              int64_t now_ms) {
  char when[64], cfg[64];
  cwa_fmt_aws_time(now_ms, when, sizeof when);
  cwa_fmt_aws_time((int64_t)llround(cwa_jnum(al, "AlarmConfigurationUpdatedTimestamp", 0) * 1000),
                   cfg, sizeof cfg);
  const char *desc = cwa_jstr(al, "AlarmDescription");
  return json_pack(
      "{s:s,s:o,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:O,s:O}", "AlarmName",
      cwa_jstr(al, "AlarmName"), "AlarmDescription", desc ? json_string(desc) : json_null(),
      "AWSAccountId", a->account, "AlarmConfigurationUpdatedTimestamp", cfg, "NewStateValue",
      cwa_jstr(al, "StateValue"), "NewStateReason", cwa_jstr(al, "StateReason"), "StateChangeTime",
      when, "Region", cwa_region_long_name(a->region), "AlarmArn", cwa_jstr(al, "AlarmArn"),
      "OldStateValue", old_state, "OKActions", json_object_get(al, "OKActions"), "AlarmActions",
      json_object_get(al, "AlarmActions"), "InsufficientDataActions",
      json_object_get(al, "InsufficientDataActions"));
}

static json_t *notification(tw_alarms *a, const json_t *al, const char *old_state, int64_t now_ms) {
  json_t *trig = json_object();
  const json_t *metrics = json_object_get(al, "Metrics");
  if (!metrics) {
    json_object_set_new(trig, "MetricName", json_string(cwa_jstr(al, "MetricName")));
    json_object_set_new(trig, "Namespace", json_string(cwa_jstr(al, "Namespace")));
    if (cwa_jstr(al, "ExtendedStatistic")) {
      json_object_set_new(trig, "StatisticType", json_string("ExtendedStatistic"));
      json_object_set_new(trig, "ExtendedStatistic",
                          json_string(cwa_jstr(al, "ExtendedStatistic")));
    } else {
      json_object_set_new(trig, "StatisticType", json_string("Statistic"));
      char *u = upper_stat(cwa_jstr(al, "Statistic") ? cwa_jstr(al, "Statistic") : "");
      json_object_set_new(trig, "Statistic", json_string(u));
      free(u);
    }
    json_object_set_new(trig, "Unit",
                        cwa_jstr(al, "Unit") ? json_string(cwa_jstr(al, "Unit")) : json_null());
    json_t *dims = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(al, "Dimensions"), i, d) json_array_append_new(
        dims, json_pack("{s:s,s:s}", "value", cwa_jstr(d, "Value"), "name", cwa_jstr(d, "Name")));
    json_object_set_new(trig, "Dimensions", dims);
    json_object_set_new(trig, "Period", json_integer((json_int_t)cwa_jnum(al, "Period", 0)));
  }
  json_object_set_new(trig, "EvaluationPeriods",
                      json_integer((json_int_t)cwa_jnum(al, "EvaluationPeriods", 1)));
  if (json_object_get(al, "DatapointsToAlarm"))
    json_object_set_new(trig, "DatapointsToAlarm",
                        json_integer((json_int_t)cwa_jnum(al, "DatapointsToAlarm", 1)));
  json_object_set_new(trig, "ComparisonOperator", json_string(cwa_jstr(al, "ComparisonOperator")));
  json_object_set_new(trig, "Threshold", json_real(cwa_jnum(al, "Threshold", 0)));
  const char *tmd = cwa_jstr(al, "TreatMissingData");
  json_object_set_new(trig, "TreatMissingData", json_string(tmd ? tmd : ""));
  const char *el = cwa_jstr(al, "EvaluateLowSampleCountPercentile");
  json_object_set_new(trig, "EvaluateLowSampleCountPercentile", json_string(el ? el : ""));
  if (metrics) json_object_set_new(trig, "Metrics", json_deep_copy(metrics));
  json_t *msg = cwa_notification_base(a, al, old_state, now_ms);
  json_object_set_new(msg, "Trigger", trig);
  return msg;
}

const char *cwa_actions_key(const char *state) {
  return !strcmp(state, "ALARM") ? "AlarmActions"
         : !strcmp(state, "OK")  ? "OKActions"
                                 : "InsufficientDataActions";
}

/* Sets a new state on `doc` and appends (the caller holds the bus, the
 * engine and the store): the alarm row, its StateUpdate history item, and
 * for each action of the new state (when enabled) the notification and its
 * Action history item. Returns the ticket. */
static uint64_t change_state_one(tw_alarms *a, const char *name, json_t *doc, const char *state,
                                 const char *reason, json_t *reason_data, int64_t now_ms) {
  json_t *al = json_object_get(doc, "Alarm");
  char old[32], old_reason[1024];
  snprintf(old, sizeof old, "%s", cwa_jstr(al, "StateValue") ? cwa_jstr(al, "StateValue") : "");
  snprintf(old_reason, sizeof old_reason, "%s",
           cwa_jstr(al, "StateReason") ? cwa_jstr(al, "StateReason") : "");
  double now = (double)now_ms / 1000.0;
  json_object_set_new(al, "StateValue", json_string(state));
  json_object_set_new(al, "StateReason", json_string(reason));
  char *rd = reason_data ? json_dumps(reason_data, JSON_COMPACT) : NULL;
  if (rd)
    json_object_set_new(al, "StateReasonData", json_string(rd));
  else
    json_object_del(al, "StateReasonData");
  free(rd);
  json_object_set_new(al, "StateUpdatedTimestamp", json_real(now));
  json_object_set_new(al, "StateTransitionedTimestamp", json_real(now));
  uint64_t t = cwa_save_alarm(a, name, doc);
  json_t *ns = json_pack("{s:s,s:s}", "stateValue", state, "stateReason", reason);
  if (reason_data) json_object_set(ns, "stateReasonData", reason_data);
  json_t *hd = json_pack("{s:s,s:{s:s,s:s},s:o}", "version", "1.0", "oldState", "stateValue", old,
                         "stateReason", old_reason, "newState", ns);
  char summary[128];
  snprintf(summary, sizeof summary, "Alarm updated from %s to %s", old, state);
  t = cwa_add_history(a, name, now_ms, "StateUpdate", summary, hd);
  json_decref(reason_data);
  if (!json_is_true(json_object_get(al, "ActionsEnabled"))) return t;
  const json_t *actions = json_object_get(al, cwa_actions_key(state));
  if (!json_array_size(actions)) return t;
  json_t *msg = cwa_is_composite(al) ? cwa_composite_notification(a, al, old, now_ms)
                                     : notification(a, al, old, now_ms);
  char *body = json_dumps(msg, JSON_COMPACT);
  json_decref(msg);
  char subject[160];
  snprintf(subject, sizeof subject, "%s: \"%s\" in %s", state, name,
           cwa_region_long_name(a->region));
  if (strlen(subject) > 100) subject[100] = 0; /* SNS's limit on a Subject */
  size_t i;
  json_t *act;
  json_array_foreach(actions, i, act) {
    const char *arn = json_string_value(act);
    tw_event e = {.source = "aws.cloudwatch",
                  .type = "AlarmStateChange",
                  .target = arn,
                  .body = body,
                  .len = strlen(body),
                  .sender = a->account,
                  .resource = cwa_jstr(al, "AlarmArn"),
                  .subject = subject};
    int rc = tw_event_publish(a->bus, &e);
    json_t *ad;
    char sum[600];
    if (rc == 0) {
      ad = json_pack("{s:s,s:I,s:s,s:s}", "actionState", "Succeeded", "stateUpdateTimestamp",
                     (json_int_t)now_ms, "notificationResource", arn, "publishedMessage", body);
      snprintf(sum, sizeof sum, "Successfully executed action %.500s", arn);
    } else {
      char why[600];
      snprintf(why, sizeof why, "%s: %.500s",
               rc == -1 ? "Resource not found" : "The message was refused", arn);
      ad = json_pack("{s:s,s:I,s:s,s:s}", "actionState", "Failed", "stateUpdateTimestamp",
                     (json_int_t)now_ms, "notificationResource", arn, "error", why);
      snprintf(sum, sizeof sum, "Failed to execute action %.500s", arn);
    }
    t = cwa_add_history(a, name, now_ms, "Action", sum, ad);
  }
  free(body);
  return t;
}

/* The change, then the composite alarms that reference the alarm, in the same batch. */
uint64_t cwa_change_state(tw_alarms *a, const char *name, json_t *doc, const char *state,
                          const char *reason, json_t *reason_data /* stolen, may be NULL */,
                          int64_t now_ms) {
  uint64_t t = change_state_one(a, name, doc, state, reason, reason_data, now_ms);
  uint64_t t2 = cwa_composite_propagate(a, name, now_ms);
  return t2 > t ? t2 : t;
}

/* --- evaluation ---------------------------------------------------------------------- */

static int breaches(const char *op, double v, double t) {
  if (!strcmp(op, "GreaterThanOrEqualToThreshold")) return v >= t;
  if (!strcmp(op, "GreaterThanThreshold")) return v > t;
  if (!strcmp(op, "LessThanThreshold")) return v < t;
  if (!strcmp(op, "LessThanOrEqualToThreshold")) return v <= t;
  return 0;
}

static const char *op_words(const char *op) {
  if (!strcmp(op, "GreaterThanOrEqualToThreshold")) return "greater than or equal to";
  if (!strcmp(op, "GreaterThanThreshold")) return "greater than";
  if (!strcmp(op, "LessThanThreshold")) return "less than";
  return "less than or equal to";
}

/* The alarm's values per period in [start, end): ts[i], v[i], n. 0, or -1. */
static int alarm_series(tw_alarms *a, const json_t *al, int64_t start, int64_t end, int period,
                        int64_t **ts, double **v, size_t *n) {
  const json_t *metrics = json_object_get(al, "Metrics");
  *ts = NULL;
  *v = NULL;
  *n = 0;
  if (metrics) {
    json_t *in =
        json_pack("{s:O,s:I,s:I,s:s}", "MetricDataQueries", metrics, "StartTime", (json_int_t)start,
                  "EndTime", (json_int_t)end, "ScanBy", "TimestampAscending");
    tw_cw_call c = {.metrics = a->metrics, .store = a->store, .account = a->account, .in = in};
    tw_err e = tw_cw_get_metric_data(&c);
    json_decref(in);
    if (e != TW_ERR_OK) {
      json_decref(c.out);
      json_decref(c.err_extra);
      return -1;
    }
    json_t *r = json_array_get(json_object_get(c.out, "MetricDataResults"), 0);
    json_t *jt = json_object_get(r, "Timestamps"), *jv = json_object_get(r, "Values");
    size_t k = json_array_size(jt);
    *ts = calloc(k + 1, sizeof **ts);
    *v = calloc(k + 1, sizeof **v);
    for (size_t i = 0; i < k; i++) {
      (*ts)[i] = (int64_t)json_number_value(json_array_get(jt, i));
      (*v)[i] = json_number_value(json_array_get(jv, i));
    }
    *n = k;
    json_decref(c.out);
    return 0;
  }
  tw_metric_dim dims[TW_METRICS_MAX_DIMS];
  size_t nd = 0, i;
  json_t *d;
  json_array_foreach(json_object_get(al, "Dimensions"), i, d) {
    if (nd == TW_METRICS_MAX_DIMS) break;
    dims[nd].name = cwa_jstr(d, "Name");
    dims[nd].value = cwa_jstr(d, "Value");
    nd++;
  }
  const char *unit = cwa_jstr(al, "Unit");
  const char *stat =
      cwa_jstr(al, "Statistic") ? cwa_jstr(al, "Statistic") : cwa_jstr(al, "ExtendedStatistic");
  tw_metric_query q = {.ns = cwa_jstr(al, "Namespace"),
                       .name = cwa_jstr(al, "MetricName"),
                       .dims = dims,
                       .ndims = nd,
                       .unit = unit ? tw_metric_unit_parse(unit) : -1,
                       .want_sketch = cwa_jstr(al, "ExtendedStatistic") != NULL,
                       .start = start,
                       .end = end,
                       .period = period};
  return tw_metrics_statistic(a->metrics, &q, stat, ts, v, n);
}

int cwa_alarm_period(const json_t *al) {
  if (json_object_get(al, "Period")) return (int)cwa_jnum(al, "Period", 60);
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(al, "Metrics"), i, m) {
    json_t *ms = json_object_get(m, "MetricStat");
    if (ms) return (int)cwa_jnum(ms, "Period", 60);
    if (json_object_get(m, "Period")) return (int)cwa_jnum(m, "Period", 60);
  }
  return 60;
}

/* Decides the state per CloudWatch's rules. Returns the new state (static
 * string) and sets reason and *data; NULL: keep the current state. */
static const char *decide(tw_alarms *a, const json_t *al, int64_t now_ms, char *reason, size_t rlen,
                          json_t **data) {
  int period = cwa_alarm_period(al);
  if (period <= 0) period = 60;
  int N = (int)cwa_jnum(al, "EvaluationPeriods", 1);
  int M = (int)cwa_jnum(al, "DatapointsToAlarm", N);
  if (N < 1) N = 1;
  if (M < 1 || M > N) M = N;
  int R = N + EXTRA_PERIODS;
  int64_t end = (now_ms / 1000) / period * period; /* complete periods only */
  int64_t start = end - (int64_t)R * period;
  int64_t *ts;
  double *v;
  size_t n;
  if (alarm_series(a, al, start, end, period, &ts, &v, &n)) return NULL;
  /* the N most recent periods; when some are missing, CloudWatch fills the N
   * evaluation periods with the most recent datapoints of the range */
  int64_t pts[64];
  double pv[64];
  int have = 0, complete = 1;
  for (int k = 0; k < N && k < 64; k++) {
    int64_t slot = end - (int64_t)(k + 1) * period;
    int found = 0;
    for (size_t i = 0; i < n; i++)
      if (ts[i] == slot) found = 1;
    if (!found) complete = 0;
  }
  for (size_t i = n; i-- > 0 && have < N && have < 64;) {
    if (ts[i] < start || ts[i] >= end) continue;
    if (complete && ts[i] < end - (int64_t)N * period) break;
    pts[have] = ts[i];
    pv[have] = v[i];
    have++;
  }
  free(ts);
  free(v);
  const char *op = cwa_jstr(al, "ComparisonOperator");
  double thr = cwa_jnum(al, "Threshold", 0);
  const char *tmd = cwa_jstr(al, "TreatMissingData");
  if (!tmd) tmd = "missing";
  int missing = N - have, bad = 0, good = 0;
  for (int i = 0; i < have; i++) {
    if (breaches(op, pv[i], thr))
      bad++;
    else
      good++;
  }
  if (!strcmp(tmd, "breaching")) bad += missing;
  if (!strcmp(tmd, "notBreaching")) good += missing;
  int unknown = N - bad - good;
  /* the datapoints in the reason, most recent first */
  char list[2048] = "";
  size_t off = 0;
  json_t *recent = json_array(), *evaluated = json_array();
  for (int i = 0; i < have; i++) {
    char t[40], num[64];
    fmt_reason_time(pts[i], t, sizeof t);
    tw_cw_format_double(pv[i], num, sizeof num);
    if (!strpbrk(num, ".eEn")) strcat(num, ".0");
    if (off < sizeof list - 100)
      off += (size_t)snprintf(list + off, sizeof list - off, "%s%s (%s)", i ? ", " : "", num, t);
    json_array_append_new(recent, json_real(pv[i]));
    char iso[64];
    cwa_fmt_aws_time(pts[i] * 1000, iso, sizeof iso);
    json_array_append_new(evaluated, json_pack("{s:s,s:f}", "timestamp", iso, "value", pv[i]));
  }
  char thr_s[64], q[64], sd[64];
  tw_cw_format_double(thr, thr_s, sizeof thr_s);
  if (!strpbrk(thr_s, ".eEn")) strcat(thr_s, ".0");
  cwa_fmt_aws_time(now_ms, q, sizeof q);
  cwa_fmt_aws_time(start * 1000, sd, sizeof sd);
  *data = json_pack("{s:s,s:s,s:s,s:i,s:o,s:f,s:o}", "version", "1.0", "queryDate", q, "startDate",
                    sd, "period", period, "recentDatapoints", recent, "threshold", thr,
                    "evaluatedDatapoints", evaluated);
  const char *st =
      cwa_jstr(al, "Statistic") ? cwa_jstr(al, "Statistic") : cwa_jstr(al, "ExtendedStatistic");
  if (st) json_object_set_new(*data, "statistic", json_string(st));
  const char *words = op_words(op);
  if (bad >= M) {
    if (N == 1)
      snprintf(reason, rlen, "Threshold Crossed: 1 datapoint [%s] was %s the threshold (%s).",
               have ? list : "missing", words, thr_s);
    else
      snprintf(reason, rlen,
               "Threshold Crossed: %d out of the last %d datapoints [%s] were %s the threshold "
               "(%s) (minimum %d datapoint%s for OK -> ALARM transition).",
               bad, N, have ? list : "missing", words, thr_s, M, M == 1 ? "" : "s");
    return "ALARM";
  }
  if (unknown == N) {
    if (!strcmp(tmd, "ignore")) {
      json_decref(*data);
      *data = NULL;
      return NULL;
    }
    snprintf(reason, rlen, "Insufficient Data: %d datapoint%s unknown.", N,
             N == 1 ? " was" : "s were");
    return "INSUFFICIENT_DATA";
  }
  if (unknown > 0 && !strcmp(tmd, "ignore") && bad + unknown >= M) {
    /* missing data could still make it ALARM: keep the state */
    json_decref(*data);
    *data = NULL;
    return NULL;
  }
  if (N == 1)
    snprintf(reason, rlen, "Threshold Crossed: 1 datapoint [%s] was not %s the threshold (%s).",
             have ? list : "missing", words, thr_s);
  else
    snprintf(reason, rlen,
             "Threshold Crossed: %d out of the last %d datapoints [%s] were not %s the threshold "
             "(%s) (minimum %d datapoint%s for ALARM -> OK transition).",
             good, N, have ? list : "missing", words, thr_s, N - M + 1, N - M + 1 == 1 ? "" : "s");
  return "OK";
}

#define FENCE_WAIT_MS 2000    /* for this node's batch, then for the fence */
#define FENCE_COMMIT_MS 10000 /* for the transition's batch */

/* tests (TWEEDLE_ALARM_FENCE_PAUSE_MS): a pause between the fenced re-check
 * and the transition of the alarms named fence-pause-* */
static int fence_pause_ms = -1;

/* Waits (at most ms) until the store committed ticket t: 0, or -1. */
static int wait_committed(tw_store *s, uint64_t t, int ms) {
  for (int64_t end = tw_mono_ms() + ms; tw_store_committed(s) < t;) {
    if (tw_mono_ms() >= end) return -1;
    usleep(500);
  }
  return 0;
}

void tw_alarms_evaluate(tw_alarms *a) {
  if (fence_pause_ms < 0) {
    const char *e = getenv("TWEEDLE_ALARM_FENCE_PAUSE_MS");
    fence_pause_ms = e && atoi(e) > 0 ? atoi(e) : 0;
  }
  pthread_mutex_lock(&a->mu);
  json_t *snap = json_deep_copy(a->alarms);
  pthread_mutex_unlock(&a->mu);
  int64_t now_ms = tw_metrics_now_ms(a->metrics);
  const char *name;
  json_t *doc;
  json_object_foreach(snap, name, doc) {
    json_t *al = json_object_get(doc, "Alarm");
    if (cwa_is_composite(al)) continue; /* changed by its children (cw_composite.c) */
    char reason[4096];
    json_t *data = NULL;
    const char *state = decide(a, al, now_ms, reason, sizeof reason, &data);
    if (!state || !strcmp(state, cwa_jstr(al, "StateValue") ? cwa_jstr(al, "StateValue") : "")) {
      json_decref(data);
      continue;
    }
    tw_events_lock(a->bus);
    pthread_mutex_lock(&a->mu);
    tw_pg_cw_fence *fence = NULL;
    if (a->cluster) {
      /* this node's writes appended so far committed (under the engine lock no
       * alarm write of this node is appended: none waits in this node's batch
       * for the fence), then the fence (store/pg_cw.h): another node's change
       * of the alarm is committed now, and seen below, or waits for the
       * transition's commit */
      int64_t v = -1;
      if (!wait_committed(a->store, tw_store_ticket(a->store), FENCE_WAIT_MS) &&
          (fence = tw_store_pg_cw_fence(a->store, FENCE_WAIT_MS)))
        v = tw_store_pg_state_read(a->store, CW_STATE);
      if (v < 0 || ((v > a->loaded_version || a->stale) && (reload(a) || a->stale))) {
        tw_store_pg_cw_fence_drop(fence);
        pthread_mutex_unlock(&a->mu);
        tw_events_unlock(a->bus);
        json_decref(data);
        continue; /* next tick */
      }
      if (fence_pause_ms > 0 && !strncmp(name, "fence-pause-", 12)) {
        /* tests: the window a change of another node falls into */
        tw_info("alarms: fenced transition of %s, pausing %d ms", name, fence_pause_ms);
        usleep((useconds_t)fence_pause_ms * 1000);
      }
    }
    json_t *cur = json_object_get(a->alarms, name);
    json_t *cal = json_object_get(cur, "Alarm");
    /* unchanged since it was read (not re-configured, set or deleted) */
    if (cur &&
        cwa_jnum(cal, "AlarmConfigurationUpdatedTimestamp", 0) ==
            cwa_jnum(al, "AlarmConfigurationUpdatedTimestamp", 0) &&
        cwa_jnum(cal, "StateUpdatedTimestamp", 0) == cwa_jnum(al, "StateUpdatedTimestamp", 0)) {
      tw_store_hold(a->store);
      if (fence) tw_store_pg_cw_fenced(a->store);
      uint64_t t = cwa_change_state(a, name, cur, state, reason, data, now_ms);
      data = NULL;
      tw_store_release(a->store);
      if (t > a->pending) a->pending = t;
      /* the fence is held to the transition's commit (or failure) */
      if (fence && wait_committed(a->store, t, FENCE_COMMIT_MS))
        tw_warn("alarms: the transition of %s did not commit within %d ms: fence dropped", name,
                FENCE_COMMIT_MS);
    }
    tw_store_pg_cw_fence_drop(fence);
    pthread_mutex_unlock(&a->mu);
    tw_events_unlock(a->bus);
    json_decref(data);
  }
  json_decref(snap);
  if (now_ms - a->last_prune_ms > 3600 * 1000) {
    a->last_prune_ms = now_ms;
    cwa_repo(a)->history_prune(a->store, now_ms - HISTORY_KEEP_MS);
  }
}
