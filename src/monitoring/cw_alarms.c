/* CloudWatch metric alarms: the engine (memory + store/cw_alarms.h), the
 * evaluator thread, the notifications, and the API operations PutMetricAlarm,
 * DescribeAlarms, DescribeAlarmsForMetric, DeleteAlarms, SetAlarmState,
 * DescribeAlarmHistory, Enable/DisableAlarmActions, Tag/Untag/ListTagsForResource
 * (cw_alarms.h says how state changes commit). */
#include "monitoring/cw_alarms.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "events/bus.h"
#include "monitoring/cw_front.h"
#include "store/cw_alarms.h"

#define MAX_ALARMS 5000
#define MAX_ACTIONS 5
#define HISTORY_KEEP_MS (14LL * 86400 * 1000)
#define EXTRA_PERIODS 5 /* the evaluation range: EvaluationPeriods + this many before */

struct tw_alarms {
  tw_store *store;
  tw_metrics *metrics;
  struct tw_events *bus;
  char region[64], account[32];
  pthread_mutex_t mu;
  json_t *alarms;     /* name -> {"Alarm": MetricAlarm, "Tags": [...]} */
  json_t *dashboards; /* name -> {"Body", "LastModified", "Tags"} */
  pthread_t thread;
  int running;
  pthread_mutex_t tick_mu;
  pthread_cond_t tick_cv;
  int stop;
  int tick_ms;
  int64_t last_prune_ms;
};

static const tw_cw_alarms_repo *repo(tw_alarms *a) {
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

static int reload(tw_alarms *a) {
  json_object_clear(a->alarms);
  json_object_clear(a->dashboards);
  return repo(a)->load(a->store, load_alarm, load_dashboard, a);
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
    tw_alarms_evaluate(a);
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
static void fmt_aws_time(int64_t ms, char *out, size_t n) {
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

static const char *region_long_name(const char *r) {
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

static const char *jstr(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static double jnum(const json_t *o, const char *k, double dflt) {
  json_t *v = json_object_get(o, k);
  return json_is_number(v) ? json_number_value(v) : dflt;
}

/* A copy of v with every object key's first letter lowered (HistoryData's
 * camelCase) and timestamps as AWS writes them there. */
static json_t *camel(const json_t *v) {
  if (json_is_array(v)) {
    json_t *out = json_array();
    size_t i;
    json_t *x;
    json_array_foreach((json_t *)v, i, x) json_array_append_new(out, camel(x));
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
      fmt_aws_time((int64_t)llround(json_number_value(x) * 1000), t, sizeof t);
      json_object_set_new(out, key, json_string(t));
    } else {
      json_object_set_new(out, key, camel(x));
    }
  }
  return out;
}

static uint64_t save_alarm(tw_alarms *a, const char *name, const json_t *doc) {
  char *s = json_dumps(doc, JSON_COMPACT);
  uint64_t t = repo(a)->alarm_put(a->store, name, s);
  free(s);
  return t;
}

static uint64_t add_history(tw_alarms *a, const char *name, int64_t ms, const char *type,
                            const char *summary, json_t *data /* stolen */) {
  char *s = json_dumps(data, JSON_COMPACT);
  json_decref(data);
  tw_cw_history_row r = {.alarm_name = name,
                         .alarm_type = "MetricAlarm",
                         .ts_ms = ms,
                         .type = type,
                         .summary = summary,
                         .data = s};
  uint64_t t = repo(a)->history_add(a->store, &r);
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

static json_t *notification(tw_alarms *a, const json_t *al, const char *old_state, int64_t now_ms) {
  char when[64], cfg[64];
  fmt_aws_time(now_ms, when, sizeof when);
  fmt_aws_time((int64_t)llround(jnum(al, "AlarmConfigurationUpdatedTimestamp", 0) * 1000), cfg,
               sizeof cfg);
  json_t *trig = json_object();
  const json_t *metrics = json_object_get(al, "Metrics");
  if (!metrics) {
    json_object_set_new(trig, "MetricName", json_string(jstr(al, "MetricName")));
    json_object_set_new(trig, "Namespace", json_string(jstr(al, "Namespace")));
    if (jstr(al, "ExtendedStatistic")) {
      json_object_set_new(trig, "StatisticType", json_string("ExtendedStatistic"));
      json_object_set_new(trig, "ExtendedStatistic", json_string(jstr(al, "ExtendedStatistic")));
    } else {
      json_object_set_new(trig, "StatisticType", json_string("Statistic"));
      char *u = upper_stat(jstr(al, "Statistic") ? jstr(al, "Statistic") : "");
      json_object_set_new(trig, "Statistic", json_string(u));
      free(u);
    }
    json_object_set_new(trig, "Unit",
                        jstr(al, "Unit") ? json_string(jstr(al, "Unit")) : json_null());
    json_t *dims = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(al, "Dimensions"), i, d) json_array_append_new(
        dims, json_pack("{s:s,s:s}", "value", jstr(d, "Value"), "name", jstr(d, "Name")));
    json_object_set_new(trig, "Dimensions", dims);
    json_object_set_new(trig, "Period", json_integer((json_int_t)jnum(al, "Period", 0)));
  }
  json_object_set_new(trig, "EvaluationPeriods",
                      json_integer((json_int_t)jnum(al, "EvaluationPeriods", 1)));
  if (json_object_get(al, "DatapointsToAlarm"))
    json_object_set_new(trig, "DatapointsToAlarm",
                        json_integer((json_int_t)jnum(al, "DatapointsToAlarm", 1)));
  json_object_set_new(trig, "ComparisonOperator", json_string(jstr(al, "ComparisonOperator")));
  json_object_set_new(trig, "Threshold", json_real(jnum(al, "Threshold", 0)));
  const char *tmd = jstr(al, "TreatMissingData");
  json_object_set_new(trig, "TreatMissingData", json_string(tmd ? tmd : ""));
  const char *el = jstr(al, "EvaluateLowSampleCountPercentile");
  json_object_set_new(trig, "EvaluateLowSampleCountPercentile", json_string(el ? el : ""));
  if (metrics) json_object_set_new(trig, "Metrics", json_deep_copy(metrics));
  const char *desc = jstr(al, "AlarmDescription");
  return json_pack(
      "{s:s,s:o,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:O,s:O,s:o}", "AlarmName",
      jstr(al, "AlarmName"), "AlarmDescription", desc ? json_string(desc) : json_null(),
      "AWSAccountId", a->account, "AlarmConfigurationUpdatedTimestamp", cfg, "NewStateValue",
      jstr(al, "StateValue"), "NewStateReason", jstr(al, "StateReason"), "StateChangeTime", when,
      "Region", region_long_name(a->region), "AlarmArn", jstr(al, "AlarmArn"), "OldStateValue",
      old_state, "OKActions", json_object_get(al, "OKActions"), "AlarmActions",
      json_object_get(al, "AlarmActions"), "InsufficientDataActions",
      json_object_get(al, "InsufficientDataActions"), "Trigger", trig);
}

static const char *actions_key(const char *state) {
  return !strcmp(state, "ALARM") ? "AlarmActions"
         : !strcmp(state, "OK")  ? "OKActions"
                                 : "InsufficientDataActions";
}

/* Sets a new state on `doc` and appends (the caller holds the bus, the
 * engine and the store): the alarm row, its StateUpdate history item, and
 * for each action of the new state (when enabled) the notification and its
 * Action history item. Returns the ticket. */
static uint64_t change_state(tw_alarms *a, const char *name, json_t *doc, const char *state,
                             const char *reason, json_t *reason_data /* stolen, may be NULL */,
                             int64_t now_ms) {
  json_t *al = json_object_get(doc, "Alarm");
  char old[32], old_reason[1024];
  snprintf(old, sizeof old, "%s", jstr(al, "StateValue") ? jstr(al, "StateValue") : "");
  snprintf(old_reason, sizeof old_reason, "%s",
           jstr(al, "StateReason") ? jstr(al, "StateReason") : "");
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
  uint64_t t = save_alarm(a, name, doc);
  json_t *ns = json_pack("{s:s,s:s}", "stateValue", state, "stateReason", reason);
  if (reason_data) json_object_set(ns, "stateReasonData", reason_data);
  json_t *hd = json_pack("{s:s,s:{s:s,s:s},s:o}", "version", "1.0", "oldState", "stateValue", old,
                         "stateReason", old_reason, "newState", ns);
  char summary[128];
  snprintf(summary, sizeof summary, "Alarm updated from %s to %s", old, state);
  t = add_history(a, name, now_ms, "StateUpdate", summary, hd);
  json_decref(reason_data);
  if (!json_is_true(json_object_get(al, "ActionsEnabled"))) return t;
  const json_t *actions = json_object_get(al, actions_key(state));
  if (!json_array_size(actions)) return t;
  json_t *msg = notification(a, al, old, now_ms);
  char *body = json_dumps(msg, JSON_COMPACT);
  json_decref(msg);
  char subject[160];
  snprintf(subject, sizeof subject, "%s: \"%s\" in %s", state, name, region_long_name(a->region));
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
                  .resource = jstr(al, "AlarmArn"),
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
    t = add_history(a, name, now_ms, "Action", sum, ad);
  }
  free(body);
  return t;
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
    dims[nd].name = jstr(d, "Name");
    dims[nd].value = jstr(d, "Value");
    nd++;
  }
  const char *unit = jstr(al, "Unit");
  const char *stat = jstr(al, "Statistic") ? jstr(al, "Statistic") : jstr(al, "ExtendedStatistic");
  tw_metric_query q = {.ns = jstr(al, "Namespace"),
                       .name = jstr(al, "MetricName"),
                       .dims = dims,
                       .ndims = nd,
                       .unit = unit ? tw_metric_unit_parse(unit) : -1,
                       .want_sketch = jstr(al, "ExtendedStatistic") != NULL,
                       .start = start,
                       .end = end,
                       .period = period};
  return tw_metrics_statistic(a->metrics, &q, stat, ts, v, n);
}

static int alarm_period(const json_t *al) {
  if (json_object_get(al, "Period")) return (int)jnum(al, "Period", 60);
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(al, "Metrics"), i, m) {
    json_t *ms = json_object_get(m, "MetricStat");
    if (ms) return (int)jnum(ms, "Period", 60);
    if (json_object_get(m, "Period")) return (int)jnum(m, "Period", 60);
  }
  return 60;
}

/* Decides the state per CloudWatch's rules. Returns the new state (static
 * string) and sets reason and *data; NULL: keep the current state. */
static const char *decide(tw_alarms *a, const json_t *al, int64_t now_ms, char *reason, size_t rlen,
                          json_t **data) {
  int period = alarm_period(al);
  if (period <= 0) period = 60;
  int N = (int)jnum(al, "EvaluationPeriods", 1);
  int M = (int)jnum(al, "DatapointsToAlarm", N);
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
  const char *op = jstr(al, "ComparisonOperator");
  double thr = jnum(al, "Threshold", 0);
  const char *tmd = jstr(al, "TreatMissingData");
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
    fmt_aws_time(pts[i] * 1000, iso, sizeof iso);
    json_array_append_new(evaluated, json_pack("{s:s,s:f}", "timestamp", iso, "value", pv[i]));
  }
  char thr_s[64], q[64], sd[64];
  tw_cw_format_double(thr, thr_s, sizeof thr_s);
  if (!strpbrk(thr_s, ".eEn")) strcat(thr_s, ".0");
  fmt_aws_time(now_ms, q, sizeof q);
  fmt_aws_time(start * 1000, sd, sizeof sd);
  *data = json_pack("{s:s,s:s,s:s,s:i,s:o,s:f,s:o}", "version", "1.0", "queryDate", q, "startDate",
                    sd, "period", period, "recentDatapoints", recent, "threshold", thr,
                    "evaluatedDatapoints", evaluated);
  const char *st = jstr(al, "Statistic") ? jstr(al, "Statistic") : jstr(al, "ExtendedStatistic");
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

void tw_alarms_evaluate(tw_alarms *a) {
  pthread_mutex_lock(&a->mu);
  json_t *snap = json_deep_copy(a->alarms);
  pthread_mutex_unlock(&a->mu);
  int64_t now_ms = tw_metrics_now_ms(a->metrics);
  const char *name;
  json_t *doc;
  json_object_foreach(snap, name, doc) {
    json_t *al = json_object_get(doc, "Alarm");
    char reason[4096];
    json_t *data = NULL;
    const char *state = decide(a, al, now_ms, reason, sizeof reason, &data);
    if (!state || !strcmp(state, jstr(al, "StateValue") ? jstr(al, "StateValue") : "")) {
      json_decref(data);
      continue;
    }
    tw_events_lock(a->bus);
    pthread_mutex_lock(&a->mu);
    json_t *cur = json_object_get(a->alarms, name);
    json_t *cal = json_object_get(cur, "Alarm");
    /* unchanged since it was read (not re-configured, set or deleted) */
    if (cur &&
        jnum(cal, "AlarmConfigurationUpdatedTimestamp", 0) ==
            jnum(al, "AlarmConfigurationUpdatedTimestamp", 0) &&
        jnum(cal, "StateUpdatedTimestamp", 0) == jnum(al, "StateUpdatedTimestamp", 0)) {
      tw_store_hold(a->store);
      change_state(a, name, cur, state, reason, data, now_ms);
      data = NULL;
      tw_store_release(a->store);
    }
    pthread_mutex_unlock(&a->mu);
    tw_events_unlock(a->bus);
    json_decref(data);
  }
  json_decref(snap);
  if (now_ms - a->last_prune_ms > 3600 * 1000) {
    a->last_prune_ms = now_ms;
    repo(a)->history_prune(a->store, now_ms - HISTORY_KEEP_MS);
  }
}

/* --- the API ------------------------------------------------------------------------- */

static int valid_name(const char *s, size_t max) {
  if (!s || !*s || strlen(s) > max) return 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f) return 0;
  return 1;
}

static int period_ok(long long p) {
  return p == 10 || p == 30 || (p >= 60 && p % 60 == 0);
}

static int is_basic_stat(const char *s) {
  return s && (!strcmp(s, "SampleCount") || !strcmp(s, "Average") || !strcmp(s, "Sum") ||
               !strcmp(s, "Minimum") || !strcmp(s, "Maximum"));
}

static int is_ext_stat(const char *s) {
  tw_metric_stat st;
  return s && !tw_metric_stat_parse(s, &st) && st.kind >= TW_STAT_PERCENTILE;
}

static const char *const comparisons[] = {"GreaterThanOrEqualToThreshold", "GreaterThanThreshold",
                                          "LessThanThreshold", "LessThanOrEqualToThreshold"};

/* Dimensions [{Name, Value}] normalized; NULL with c->err set. */
static json_t *norm_dims(tw_cw_call *c, const json_t *o, const char *prefix) {
  int bad;
  const json_t *l = tw_cw_get_list(o, "Dimensions", &bad);
  json_t *out = json_array();
  if (bad) {
    tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE, "The parameter %sDimensions is invalid.", prefix);
    goto fail;
  }
  if (json_array_size(l) > TW_METRICS_MAX_DIMS) {
    tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
               "The collection %sDimensions must not have a size greater than 30.", prefix);
    goto fail;
  }
  size_t i;
  json_t *d;
  json_array_foreach(l, i, d) {
    const char *n = NULL, *v = NULL;
    if (tw_cw_get_str(d, "Name", &n) != 1 || !valid_name(n, 255)) {
      tw_cw_fail(c, TW_ERR_MISSING_PARAMETER,
                 "The parameter %sDimensions.member.%zu.Name is required.", prefix, i + 1);
      goto fail;
    }
    if (tw_cw_get_str(d, "Value", &v) != 1 || !valid_name(v, 1024)) {
      tw_cw_fail(c, TW_ERR_MISSING_PARAMETER,
                 "The parameter %sDimensions.member.%zu.Value is required.", prefix, i + 1);
      goto fail;
    }
    json_array_append_new(out, json_pack("{s:s,s:s}", "Name", n, "Value", v));
  }
  return out;
fail:
  json_decref(out);
  return NULL;
}

/* The Metrics of a metric-math alarm in the API's types (the query protocol
 * gives strings); NULL with c->err set. */
static json_t *norm_metrics(tw_cw_call *c, const json_t *list, int *returned) {
  json_t *out = json_array();
  size_t i;
  json_t *m;
  *returned = 0;
  if (json_array_size(list) > 10) {
    tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
               "The collection Metrics must not have a size greater than 10.");
    goto fail;
  }
  json_array_foreach(list, i, m) {
    json_t *q = json_object();
    json_array_append_new(out, q);
    const char *id = NULL, *expr = NULL, *label = NULL;
    if (tw_cw_get_str(m, "Id", &id) != 1 || !*id) {
      tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter Metrics.member.%zu.Id is required.",
                 i + 1);
      goto fail;
    }
    json_object_set_new(q, "Id", json_string(id));
    if (tw_cw_get_str(m, "Label", &label) == 1) json_object_set_new(q, "Label", json_string(label));
    int rd = 1;
    if (tw_cw_get_bool(m, "ReturnData", &rd) < 0) {
      tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                 "The value for parameter Metrics.member.%zu.ReturnData is invalid.", i + 1);
      goto fail;
    }
    json_object_set_new(q, "ReturnData", json_boolean(rd));
    *returned += rd;
    long long per;
    if (tw_cw_get_int(m, "Period", &per) == 1) json_object_set_new(q, "Period", json_integer(per));
    const char *acct;
    if (tw_cw_get_str(m, "AccountId", &acct) == 1)
      json_object_set_new(q, "AccountId", json_string(acct));
    json_t *ms = json_object_get(m, "MetricStat");
    int has_expr = tw_cw_get_str(m, "Expression", &expr) == 1;
    if (has_expr == !!ms) {
      tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                 "Exactly one element of the metrics list should have either Expression or "
                 "MetricStat (Metrics.member.%zu).",
                 i + 1);
      goto fail;
    }
    if (has_expr) {
      json_object_set_new(q, "Expression", json_string(expr));
      continue;
    }
    json_t *mt = json_object_get(ms, "Metric");
    const char *ns = NULL, *name = NULL, *stat = NULL, *unit = NULL;
    if (tw_cw_get_str(mt, "Namespace", &ns) != 1 || tw_cw_get_str(mt, "MetricName", &name) != 1) {
      tw_cw_fail(c, TW_ERR_MISSING_PARAMETER,
                 "The parameter Metrics.member.%zu.MetricStat.Metric.MetricName is required.",
                 i + 1);
      goto fail;
    }
    char prefix[96];
    snprintf(prefix, sizeof prefix, "Metrics.member.%zu.MetricStat.Metric.", i + 1);
    json_t *dims = norm_dims(c, mt, prefix);
    if (!dims) goto fail;
    long long mp = 0;
    if (tw_cw_get_int(ms, "Period", &mp) != 1 || !period_ok(mp)) {
      json_decref(dims);
      tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                 "The parameter Metrics.member.%zu.MetricStat.Period must be 10, 30 or a "
                 "multiple of 60.",
                 i + 1);
      goto fail;
    }
    if (tw_cw_get_str(ms, "Stat", &stat) != 1 || (!is_basic_stat(stat) && !is_ext_stat(stat))) {
      json_decref(dims);
      tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                 "The value %.100s for parameter Metrics.member.%zu.MetricStat.Stat is invalid.",
                 stat ? stat : "", i + 1);
      goto fail;
    }
    json_t *jms = json_pack("{s:{s:s,s:s,s:o},s:I,s:s}", "Metric", "Namespace", ns, "MetricName",
                            name, "Dimensions", dims, "Period", (json_int_t)mp, "Stat", stat);
    if (tw_cw_get_str(ms, "Unit", &unit) == 1) {
      if (tw_metric_unit_parse(unit) < 0) {
        json_decref(jms);
        tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                   "The value %.100s for parameter Metrics.member.%zu.MetricStat.Unit is invalid.",
                   unit, i + 1);
        goto fail;
      }
      json_object_set_new(jms, "Unit", json_string(unit));
    }
    json_object_set_new(q, "MetricStat", jms);
  }
  return out;
fail:
  json_decref(out);
  return NULL;
}

static json_t *norm_actions(tw_cw_call *c, const char *key) {
  int bad;
  const json_t *l = tw_cw_get_list(c->in, key, &bad);
  if (bad) {
    tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE, "The parameter %s is invalid.", key);
    return NULL;
  }
  if (json_array_size(l) > MAX_ACTIONS) {
    tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
               "The collection %s must not have a size greater than %d.", key, MAX_ACTIONS);
    return NULL;
  }
  json_t *out = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(l, i, v) {
    const char *arn = json_string_value(v);
    /* sns topics only: this server runs no EC2, Auto Scaling, SSM or Lambda actions */
    if (!arn || strncmp(arn, "arn:aws:sns:", 12) || strlen(arn) > 1024) {
      json_decref(out);
      tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                 "Invalid arn syntax: %.300s (tweedle takes SNS topic ARNs in %s)", arn ? arn : "",
                 key);
      return NULL;
    }
    json_array_append_new(out, json_string(arn));
  }
  return out;
}

static json_t *norm_tags(tw_cw_call *c, const json_t *in) {
  int bad;
  const json_t *l = tw_cw_get_list(in, "Tags", &bad);
  if (bad || json_array_size(l) > 50) {
    tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE, "The parameter Tags is invalid.");
    return NULL;
  }
  json_t *out = json_array();
  size_t i;
  json_t *t;
  json_array_foreach(l, i, t) {
    const char *k = NULL, *v = NULL;
    if (tw_cw_get_str(t, "Key", &k) != 1 || !*k || strlen(k) > 128 ||
        tw_cw_get_str(t, "Value", &v) != 1 || strlen(v) > 256) {
      json_decref(out);
      tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                 "The value for parameter Tags.member.%zu is invalid.", i + 1);
      return NULL;
    }
    json_array_append_new(out, json_pack("{s:s,s:s}", "Key", k, "Value", v));
  }
  return out;
}

static json_t *merge_tags(json_t *have, const json_t *add) {
  size_t i, j;
  json_t *t, *h;
  json_array_foreach(add, i, t) {
    int found = 0;
    json_array_foreach(have, j, h) if (!strcmp(jstr(h, "Key"), jstr(t, "Key"))) {
      json_object_set(h, "Value", json_object_get(t, "Value"));
      found = 1;
    }
    if (!found) json_array_append(have, t);
  }
  return have;
}

#define FAIL_OUT(...)           \
  do {                          \
    tw_cw_fail(c, __VA_ARGS__); \
    goto fail;                  \
  } while (0)

static tw_err put_metric_alarm(tw_cw_call *c) {
  tw_alarms *a = c->alarms;
  json_t *al = json_object(), *tags = NULL;
  const char *name = NULL, *s = NULL;
  int rc = tw_cw_get_str(c->in, "AlarmName", &name);
  if (rc == 0) FAIL_OUT(TW_ERR_MISSING_PARAMETER, "The parameter AlarmName is required.");
  if (rc < 0 || !valid_name(name, 255))
    FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE, "The value %.300s for parameter AlarmName is invalid.",
             rc < 0 ? "" : name);
  char arn[512];
  snprintf(arn, sizeof arn, "arn:aws:cloudwatch:%s:%s:alarm:%s", a->region, a->account, name);
  json_object_set_new(al, "AlarmName", json_string(name));
  json_object_set_new(al, "AlarmArn", json_string(arn));
  if (tw_cw_get_str(c->in, "AlarmDescription", &s) == 1) {
    if (strlen(s) > 1024)
      FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE,
               "The parameter AlarmDescription must not be longer than 1024 characters.");
    json_object_set_new(al, "AlarmDescription", json_string(s));
  }
  int enabled = 1;
  if (tw_cw_get_bool(c->in, "ActionsEnabled", &enabled) < 0)
    FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE, "The value for parameter ActionsEnabled is invalid.");
  const char *akeys[] = {"OKActions", "AlarmActions", "InsufficientDataActions"};
  json_t *acts[3] = {0};
  for (int i = 0; i < 3; i++) {
    acts[i] = norm_actions(c, akeys[i]);
    if (!acts[i]) {
      for (int k = 0; k < i; k++) json_decref(acts[k]);
      goto fail;
    }
  }
  const char *metric = NULL, *ns = NULL, *stat = NULL, *xstat = NULL, *unit = NULL;
  int has_metric = tw_cw_get_str(c->in, "MetricName", &metric) == 1;
  int has_ns = tw_cw_get_str(c->in, "Namespace", &ns) == 1;
  int has_stat = tw_cw_get_str(c->in, "Statistic", &stat) == 1;
  int has_xstat = tw_cw_get_str(c->in, "ExtendedStatistic", &xstat) == 1;
  int bad;
  const json_t *mlist = tw_cw_get_list(c->in, "Metrics", &bad);
  long long period = 0, evals = 0, dta = 0;
  int has_period = tw_cw_get_int(c->in, "Period", &period);
  int has_dta = tw_cw_get_int(c->in, "DatapointsToAlarm", &dta);
  int has_evals = tw_cw_get_int(c->in, "EvaluationPeriods", &evals);
  double thr = 0;
  int has_thr = tw_cw_get_num(c->in, "Threshold", &thr);
  const char *op = NULL, *tmd = NULL, *elscp = NULL;
  int has_op = tw_cw_get_str(c->in, "ComparisonOperator", &op);
  json_object_set_new(al, "ActionsEnabled", json_boolean(enabled));
  json_object_set_new(al, "OKActions", acts[0]);
  json_object_set_new(al, "AlarmActions", acts[1]);
  json_object_set_new(al, "InsufficientDataActions", acts[2]);
  if (has_evals == 0)
    FAIL_OUT(TW_ERR_MISSING_PARAMETER, "The parameter EvaluationPeriods is required.");
  if (has_evals < 0 || evals < 1)
    FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE,
             "The parameter EvaluationPeriods must be greater than or equal to 1.");
  if (has_op == 0)
    FAIL_OUT(TW_ERR_MISSING_PARAMETER, "The parameter ComparisonOperator is required.");
  int op_ok = 0;
  for (int i = 0; i < 4; i++) op_ok |= has_op == 1 && !strcmp(op, comparisons[i]);
  if (!op_ok) {
    if (has_op == 1 &&
        (strstr(op, "LowerOr") || strstr(op, "UpperThreshold") || strstr(op, "LowerThreshold")))
      FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
               "Anomaly detection alarms (ComparisonOperator %.100s) are not supported by "
               "tweedle.",
               op);
    FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE,
             "The value %.100s for parameter ComparisonOperator is invalid.",
             has_op == 1 ? op : "");
  }
  if (tw_cw_get_str(c->in, "ThresholdMetricId", &s) == 1)
    FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
             "ThresholdMetricId is for anomaly detection alarms, which tweedle does not support.");
  if (has_thr == 0) FAIL_OUT(TW_ERR_MISSING_PARAMETER, "The parameter Threshold is required.");
  if (has_thr < 0 || !isfinite(thr))
    FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE, "The value for parameter Threshold is invalid.");
  if (has_dta < 0 || (has_dta == 1 && (dta < 1 || dta > evals)))
    FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
             "DatapointsToAlarm must be greater than 0 and less than or equal to "
             "EvaluationPeriods.");
  rc = tw_cw_get_str(c->in, "TreatMissingData", &tmd);
  if (rc < 0 || (rc == 1 && strcmp(tmd, "missing") && strcmp(tmd, "notBreaching") &&
                 strcmp(tmd, "breaching") && strcmp(tmd, "ignore")))
    FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
             "Option %.100s is not supported. Supported options for parameter TreatMissingData "
             "are missing, ignore, breaching and notBreaching.",
             rc == 1 ? tmd : "");
  rc = tw_cw_get_str(c->in, "EvaluateLowSampleCountPercentile", &elscp);
  if (rc == 1 && *elscp && strcmp(elscp, "evaluate") && strcmp(elscp, "ignore"))
    FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
             "Option %.100s is not supported. Supported options for parameter "
             "EvaluateLowSampleCountPercentile are evaluate and ignore.",
             elscp);
  if (tw_cw_get_str(c->in, "Unit", &unit) == 1 && tw_metric_unit_parse(unit) < 0)
    FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE, "The value %.100s for parameter Unit is invalid.",
             unit);
  if (bad) FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE, "The parameter Metrics is invalid.");
  if (mlist && json_array_size(mlist)) {
    if (has_metric || has_ns || has_stat || has_xstat || has_period == 1 ||
        json_object_get(c->in, "Dimensions"))
      FAIL_OUT(TW_ERR_CW_INVALID_PARAMETER_COMBINATION,
               "Metrics list and MetricName/Namespace/Statistic/ExtendedStatistic/Dimensions/"
               "Period are mutually exclusive.");
    int returned;
    json_t *m = norm_metrics(c, mlist, &returned);
    if (!m) goto fail;
    json_object_set_new(al, "Metrics", m);
    if (returned != 1)
      FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
               "Exactly one element of the metrics list should return data.");
    int per = alarm_period(al);
    if ((long long)per * evals > 86400 && per < 3600)
      FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
               "Metrics cannot be checked across more than a day (EvaluationPeriods * Period "
               "must be <= 86400).");
  } else {
    if (!has_metric) FAIL_OUT(TW_ERR_MISSING_PARAMETER, "The parameter MetricName is required.");
    if (!has_ns) FAIL_OUT(TW_ERR_MISSING_PARAMETER, "The parameter Namespace is required.");
    if (!valid_name(metric, 255))
      FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE,
               "The value %.300s for parameter MetricName is invalid.", metric);
    if (!valid_name(ns, 255))
      FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE,
               "The value %.300s for parameter Namespace is invalid.", ns);
    if (has_stat && has_xstat)
      FAIL_OUT(TW_ERR_CW_INVALID_PARAMETER_COMBINATION,
               "The parameters Statistic and ExtendedStatistic are mutually exclusive and you "
               "have specified both.");
    if (!has_stat && !has_xstat)
      FAIL_OUT(TW_ERR_MISSING_PARAMETER,
               "The parameter Statistic or ExtendedStatistic is required.");
    if (has_stat && !is_basic_stat(stat))
      FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE,
               "The value %.100s for parameter Statistic is invalid.", stat);
    if (has_xstat && !is_ext_stat(xstat))
      FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE,
               "The value %.100s for parameter ExtendedStatistic is invalid.", xstat);
    if (has_period == 0) FAIL_OUT(TW_ERR_MISSING_PARAMETER, "The parameter Period is required.");
    if (has_period < 0 || period < 1)
      FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE, "The value for parameter Period is invalid.");
    if (!period_ok(period))
      FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
               "Period must be 10, 30 or a multiple of 60 (a metric alarm's period is at least "
               "10 seconds).");
    if (period * evals > 86400 && period < 3600)
      FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
               "Metrics cannot be checked across more than a day (EvaluationPeriods * Period "
               "must be <= 86400).");
    if (period * evals > 7 * 86400)
      FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
               "Metrics cannot be checked across more than 7 days (EvaluationPeriods * Period "
               "must be <= 604800).");
    json_t *dims = norm_dims(c, c->in, "");
    if (!dims) goto fail;
    json_object_set_new(al, "MetricName", json_string(metric));
    json_object_set_new(al, "Namespace", json_string(ns));
    if (has_stat) json_object_set_new(al, "Statistic", json_string(stat));
    if (has_xstat) json_object_set_new(al, "ExtendedStatistic", json_string(xstat));
    json_object_set_new(al, "Dimensions", dims);
    json_object_set_new(al, "Period", json_integer(period));
  }
  if (unit) json_object_set_new(al, "Unit", json_string(unit));
  json_object_set_new(al, "EvaluationPeriods", json_integer(evals));
  if (has_dta == 1) json_object_set_new(al, "DatapointsToAlarm", json_integer(dta));
  json_object_set_new(al, "Threshold", json_real(thr));
  json_object_set_new(al, "ComparisonOperator", json_string(op));
  if (tmd) json_object_set_new(al, "TreatMissingData", json_string(tmd));
  if (elscp && *elscp)
    json_object_set_new(al, "EvaluateLowSampleCountPercentile", json_string(elscp));
  tags = norm_tags(c, c->in);
  if (!tags) goto fail;

  int64_t now_ms = tw_metrics_now_ms(c->metrics);
  double now = (double)now_ms / 1000.0;
  json_object_set_new(al, "AlarmConfigurationUpdatedTimestamp", json_real(now));
  pthread_mutex_lock(&a->mu);
  json_t *cur = json_object_get(a->alarms, name);
  if (!cur && json_object_size(a->alarms) >= MAX_ALARMS) {
    pthread_mutex_unlock(&a->mu);
    FAIL_OUT(TW_ERR_CW_LIMIT_EXCEEDED, "The maximum number of alarms (%d) has been reached.",
             MAX_ALARMS);
  }
  json_t *hd;
  char summary[400];
  if (cur) { /* an update keeps the state and the tags */
    json_t *old = json_object_get(cur, "Alarm");
    const char *keep[] = {"StateValue", "StateReason", "StateReasonData", "StateUpdatedTimestamp",
                          "StateTransitionedTimestamp"};
    for (int i = 0; i < 5; i++)
      if (json_object_get(old, keep[i]))
        json_object_set(al, keep[i], json_object_get(old, keep[i]));
    json_t *orig = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(old, k, v) {
      if (!json_equal(v, json_object_get(al, k))) json_object_set(orig, k, v);
    }
    hd = json_pack("{s:s,s:s,s:o,s:o}", "type", "Update", "version", "1.0", "originalUpdatedFields",
                   camel(orig), "updatedAlarm", camel(al));
    json_decref(orig);
    snprintf(summary, sizeof summary, "Alarm \"%.300s\" updated", name);
    json_object_set(cur, "Alarm", al);
    json_decref(tags);
    tags = NULL;
  } else {
    json_object_set_new(al, "StateValue", json_string("INSUFFICIENT_DATA"));
    json_object_set_new(al, "StateReason", json_string("Unchecked: Initial alarm creation"));
    json_object_set_new(al, "StateUpdatedTimestamp", json_real(now));
    json_object_set_new(al, "StateTransitionedTimestamp", json_real(now));
    hd = json_pack("{s:s,s:s,s:o}", "type", "Create", "version", "1.0", "createdAlarm", camel(al));
    snprintf(summary, sizeof summary, "Alarm \"%.300s\" created", name);
    cur = json_pack("{s:O,s:o}", "Alarm", al, "Tags", tags);
    tags = NULL;
    json_object_set_new(a->alarms, name, cur);
  }
  tw_store_hold(a->store);
  save_alarm(a, name, cur);
  c->ticket = add_history(a, name, now_ms, "ConfigurationUpdate", summary, hd);
  tw_store_release(a->store);
  pthread_mutex_unlock(&a->mu);
  json_decref(al);
  c->out = json_object();
  return TW_ERR_OK;
fail:
  json_decref(al);
  json_decref(tags);
  return c->err;
}

/* --- DescribeAlarms ---------------------------------------------------------------- */

static int has_action_prefix(const json_t *al, const char *prefix) {
  const char *keys[] = {"OKActions", "AlarmActions", "InsufficientDataActions"};
  for (int k = 0; k < 3; k++) {
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(al, keys[k]), i, v) {
      if (!strncmp(json_string_value(v), prefix, strlen(prefix))) return 1;
    }
  }
  return 0;
}

static int cmp_str(const void *x, const void *y) {
  return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static tw_err describe_alarms(tw_cw_call *c) {
  tw_alarms *a = c->alarms;
  int bad;
  const json_t *names = tw_cw_get_list(c->in, "AlarmNames", &bad);
  const char *prefix = NULL, *state = NULL, *action = NULL, *token = NULL, *s;
  if (bad)
    return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE, "The parameter AlarmNames is invalid.");
  if (json_array_size(names) > 100)
    return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                      "The collection AlarmNames must not have a size greater than 100.");
  tw_cw_get_str(c->in, "AlarmNamePrefix", &prefix);
  if (prefix && names && json_array_size(names))
    return tw_cw_fail(c, TW_ERR_CW_INVALID_PARAMETER_COMBINATION,
                      "The parameters AlarmNames and AlarmNamePrefix are mutually exclusive and "
                      "you have specified both.");
  if (tw_cw_get_str(c->in, "StateValue", &state) == 1 && strcmp(state, "OK") &&
      strcmp(state, "ALARM") && strcmp(state, "INSUFFICIENT_DATA"))
    return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                      "The value %.100s for parameter StateValue is invalid.", state);
  tw_cw_get_str(c->in, "ActionPrefix", &action);
  long long max = 50;
  int rc = tw_cw_get_int(c->in, "MaxRecords", &max);
  if (rc < 0 || (rc == 1 && (max < 1 || max > 100)))
    return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                      "The parameter MaxRecords must be between 1 and 100.");
  tw_cw_get_str(c->in, "NextToken", &token);
  if (token && *token && strncmp(token, "da1-", 4))
    return tw_cw_fail(c, TW_ERR_CW_INVALID_NEXT_TOKEN, "The next token specified is invalid.");
  const char *after = token && *token ? token + 4 : NULL;
  if (tw_cw_get_str(c->in, "ChildrenOfAlarmName", &s) == 1 ||
      tw_cw_get_str(c->in, "ParentsOfAlarmName", &s) == 1) {
    /* composite alarms do not exist here: nothing is a child or a parent */
    c->out = json_pack("{s:[],s:[]}", "MetricAlarms", "CompositeAlarms");
    return TW_ERR_OK;
  }
  const json_t *types = tw_cw_get_list(c->in, "AlarmTypes", &bad);
  int want_metric = !types, want_composite = 0;
  size_t i;
  json_t *t;
  json_array_foreach(types, i, t) {
    const char *ts = json_string_value(t);
    if (ts && !strcmp(ts, "MetricAlarm"))
      want_metric = 1;
    else if (ts && !strcmp(ts, "CompositeAlarm"))
      want_composite = 1;
    else
      return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                        "The value %.100s for parameter AlarmTypes.member.%zu is invalid.",
                        ts ? ts : "", i + 1);
  }
  json_t *out = json_array();
  char next[600] = "";
  pthread_mutex_lock(&a->mu);
  size_t n = json_object_size(a->alarms), k = 0;
  const char **sorted = malloc((n + 1) * sizeof *sorted);
  const char *name;
  json_t *doc;
  json_object_foreach(a->alarms, name, doc) sorted[k++] = name;
  qsort(sorted, k, sizeof *sorted, cmp_str);
  for (size_t j = 0; want_metric && j < k; j++) {
    name = sorted[j];
    if (after && strcmp(name, after) <= 0) continue;
    if (prefix && strncmp(name, prefix, strlen(prefix))) continue;
    if (names && json_array_size(names)) {
      int hit = 0;
      json_array_foreach(names, i, t) hit |=
          json_string_value(t) && !strcmp(json_string_value(t), name);
      if (!hit) continue;
    }
    json_t *al = json_object_get(json_object_get(a->alarms, name), "Alarm");
    if (state && strcmp(jstr(al, "StateValue"), state)) continue;
    if (action && !has_action_prefix(al, action)) continue;
    if ((long long)json_array_size(out) == max) {
      snprintf(next, sizeof next, "da1-%.500s", jstr(json_array_get(out, max - 1), "AlarmName"));
      break;
    }
    json_array_append_new(out, json_deep_copy(al));
  }
  free(sorted);
  pthread_mutex_unlock(&a->mu);
  (void)want_composite;
  c->out = json_pack("{s:o,s:[]}", "MetricAlarms", out, "CompositeAlarms");
  if (next[0]) json_object_set_new(c->out, "NextToken", json_string(next));
  c->seen_ticket = tw_store_ticket(c->store);
  return TW_ERR_OK;
}

static tw_err describe_alarms_for_metric(tw_cw_call *c) {
  tw_alarms *a = c->alarms;
  const char *metric = NULL, *ns = NULL, *stat = NULL, *xstat = NULL, *unit = NULL;
  if (tw_cw_get_str(c->in, "MetricName", &metric) != 1)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter MetricName is required.");
  if (tw_cw_get_str(c->in, "Namespace", &ns) != 1)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter Namespace is required.");
  tw_cw_get_str(c->in, "Statistic", &stat);
  tw_cw_get_str(c->in, "ExtendedStatistic", &xstat);
  tw_cw_get_str(c->in, "Unit", &unit);
  long long period = 0;
  int has_period = tw_cw_get_int(c->in, "Period", &period) == 1;
  json_t *dims = NULL;
  if (json_object_get(c->in, "Dimensions")) {
    dims = norm_dims(c, c->in, "");
    if (!dims) return c->err;
  }
  json_t *out = json_array();
  pthread_mutex_lock(&a->mu);
  const char *name;
  json_t *doc;
  json_object_foreach(a->alarms, name, doc) {
    json_t *al = json_object_get(doc, "Alarm");
    if (!jstr(al, "MetricName") || strcmp(jstr(al, "MetricName"), metric) ||
        strcmp(jstr(al, "Namespace"), ns))
      continue;
    if (stat && (!jstr(al, "Statistic") || strcmp(jstr(al, "Statistic"), stat))) continue;
    if (xstat && (!jstr(al, "ExtendedStatistic") || strcmp(jstr(al, "ExtendedStatistic"), xstat)))
      continue;
    if (unit && (!jstr(al, "Unit") || strcmp(jstr(al, "Unit"), unit))) continue;
    if (has_period && jnum(al, "Period", 0) != (double)period) continue;
    if (dims) { /* the same set of dimensions, in any order */
      json_t *ad = json_object_get(al, "Dimensions");
      if (json_array_size(ad) != json_array_size(dims)) continue;
      size_t i, j;
      json_t *x, *y;
      int all = 1;
      json_array_foreach(dims, i, x) {
        int hit = 0;
        json_array_foreach(ad, j, y) hit |= json_equal(x, y);
        all &= hit;
      }
      if (!all) continue;
    }
    json_array_append_new(out, json_deep_copy(al));
  }
  pthread_mutex_unlock(&a->mu);
  json_decref(dims);
  c->out = json_pack("{s:o}", "MetricAlarms", out);
  c->seen_ticket = tw_store_ticket(c->store);
  return TW_ERR_OK;
}

static tw_err delete_alarms(tw_cw_call *c) {
  tw_alarms *a = c->alarms;
  int bad;
  const json_t *names = tw_cw_get_list(c->in, "AlarmNames", &bad);
  if (bad || !names || !json_array_size(names))
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter AlarmNames is required.");
  if (json_array_size(names) > 100)
    return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                      "The collection AlarmNames must not have a size greater than 100.");
  size_t i;
  json_t *v;
  pthread_mutex_lock(&a->mu);
  /* CloudWatch deletes nothing when one name is unknown */
  json_array_foreach(names, i, v) {
    const char *n = json_string_value(v);
    if (!n || !json_object_get(a->alarms, n)) {
      pthread_mutex_unlock(&a->mu);
      return tw_cw_fail(c, TW_ERR_CW_RESOURCE_NOT_FOUND, "The named resource does not exist.");
    }
  }
  int64_t now_ms = tw_metrics_now_ms(c->metrics);
  tw_store_hold(a->store);
  json_array_foreach(names, i, v) {
    const char *n = json_string_value(v);
    json_t *doc = json_object_get(a->alarms, n);
    if (!doc) continue; /* named twice */
    char summary[400];
    snprintf(summary, sizeof summary, "Alarm \"%.300s\" deleted", n);
    add_history(a, n, now_ms, "ConfigurationUpdate", summary,
                json_pack("{s:s,s:s,s:o}", "type", "Delete", "version", "1.0", "deletedAlarm",
                          camel(json_object_get(doc, "Alarm"))));
    c->ticket = repo(a)->alarm_delete(a->store, n);
    json_object_del(a->alarms, n);
  }
  tw_store_release(a->store);
  pthread_mutex_unlock(&a->mu);
  c->out = json_object();
  return TW_ERR_OK;
}

static tw_err set_alarm_state(tw_cw_call *c) {
  tw_alarms *a = c->alarms;
  const char *name = NULL, *state = NULL, *reason = NULL, *rd = NULL;
  if (tw_cw_get_str(c->in, "AlarmName", &name) != 1)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter AlarmName is required.");
  if (tw_cw_get_str(c->in, "StateValue", &state) != 1)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter StateValue is required.");
  if (strcmp(state, "OK") && strcmp(state, "ALARM") && strcmp(state, "INSUFFICIENT_DATA"))
    return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                      "The value %.100s for parameter StateValue is invalid.", state);
  if (tw_cw_get_str(c->in, "StateReason", &reason) != 1)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter StateReason is required.");
  if (strlen(reason) > 1023)
    return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                      "The parameter StateReason must not be longer than 1023 characters.");
  json_t *data = NULL;
  if (tw_cw_get_str(c->in, "StateReasonData", &rd) == 1 && *rd) {
    data = json_loads(rd, 0, NULL);
    if (!json_is_object(data)) {
      json_decref(data);
      return tw_cw_fail(c, TW_ERR_CW_INVALID_FORMAT,
                        "Data was not syntactically valid JSON: StateReasonData.");
    }
  }
  tw_events_lock(a->bus);
  pthread_mutex_lock(&a->mu);
  json_t *doc = json_object_get(a->alarms, name);
  if (!doc) {
    pthread_mutex_unlock(&a->mu);
    tw_events_unlock(a->bus);
    json_decref(data);
    return tw_cw_fail(c, TW_ERR_CW_RESOURCE_NOT_FOUND, "Alarm %.300s not found", name);
  }
  const char *cur = jstr(json_object_get(doc, "Alarm"), "StateValue");
  if (cur && !strcmp(cur, state)) { /* no change of state: nothing happens */
    json_decref(data);
    c->seen_ticket = tw_store_ticket(c->store);
  } else {
    tw_store_hold(a->store);
    c->ticket = change_state(a, name, doc, state, reason, data, tw_metrics_now_ms(c->metrics));
    tw_store_release(a->store);
  }
  pthread_mutex_unlock(&a->mu);
  tw_events_unlock(a->bus);
  c->out = json_object();
  return TW_ERR_OK;
}

static tw_err set_actions(tw_cw_call *c, int enabled) {
  tw_alarms *a = c->alarms;
  int bad;
  const json_t *names = tw_cw_get_list(c->in, "AlarmNames", &bad);
  if (bad || !names)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter AlarmNames is required.");
  if (json_array_size(names) > 100)
    return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                      "The collection AlarmNames must not have a size greater than 100.");
  size_t i;
  json_t *v;
  pthread_mutex_lock(&a->mu);
  tw_store_hold(a->store);
  json_array_foreach(names, i, v) {
    const char *n = json_string_value(v);
    json_t *doc = n ? json_object_get(a->alarms, n) : NULL;
    if (!doc) continue; /* CloudWatch ignores unknown names here */
    json_object_set_new(json_object_get(doc, "Alarm"), "ActionsEnabled", json_boolean(enabled));
    c->ticket = save_alarm(a, n, doc);
  }
  tw_store_release(a->store);
  pthread_mutex_unlock(&a->mu);
  c->out = json_object();
  return TW_ERR_OK;
}

static tw_err enable_alarm_actions(tw_cw_call *c) {
  return set_actions(c, 1);
}
static tw_err disable_alarm_actions(tw_cw_call *c) {
  return set_actions(c, 0);
}

/* --- DescribeAlarmHistory ------------------------------------------------------------ */

static int history_row(void *ud, const tw_cw_history_row *r) {
  json_t *items = ud;
  json_t *it = json_pack("{s:s,s:s,s:f,s:s,s:s,s:s}", "AlarmName", r->alarm_name, "AlarmType",
                         r->alarm_type ? r->alarm_type : "MetricAlarm", "Timestamp",
                         (double)r->ts_ms / 1000.0, "HistoryItemType", r->type, "HistorySummary",
                         r->summary ? r->summary : "", "HistoryData", r->data ? r->data : "");
  json_object_set_new(it, "_id", json_integer(r->id));
  json_array_append_new(items, it);
  return 0;
}

static tw_err describe_alarm_history(tw_cw_call *c) {
  tw_alarms *a = c->alarms;
  tw_cw_history_filter f = {0};
  const char *type = NULL, *scan = NULL, *token = NULL;
  tw_cw_get_str(c->in, "AlarmName", &f.alarm_name);
  if (tw_cw_get_str(c->in, "HistoryItemType", &type) == 1) {
    if (strcmp(type, "ConfigurationUpdate") && strcmp(type, "StateUpdate") &&
        strcmp(type, "Action") && strcmp(type, "AlarmContributorStateUpdate") &&
        strcmp(type, "AlarmContributorAction"))
      return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                        "The value %.100s for parameter HistoryItemType is invalid.", type);
    f.type = type;
  }
  double sd = 0, ed = 0;
  int rs = tw_cw_get_time(c->in, "StartDate", &sd), re = tw_cw_get_time(c->in, "EndDate", &ed);
  if (rs < 0 || re < 0)
    return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                      "The parameter StartDate or EndDate is invalid.");
  f.from_ms = rs == 1 ? (int64_t)(sd * 1000) : 0;
  f.to_ms = re == 1 ? (int64_t)(ed * 1000) : INT64_MAX;
  long long max = 100;
  int rc = tw_cw_get_int(c->in, "MaxRecords", &max);
  if (rc < 0 || (rc == 1 && (max < 1 || max > 100)))
    return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                      "The parameter MaxRecords must be between 1 and 100.");
  if (tw_cw_get_str(c->in, "ScanBy", &scan) == 1 && strcmp(scan, "TimestampDescending") &&
      strcmp(scan, "TimestampAscending"))
    return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                      "The value %.100s for parameter ScanBy is invalid.", scan);
  f.newest_first = !scan || !strcmp(scan, "TimestampDescending");
  if (tw_cw_get_str(c->in, "NextToken", &token) == 1 && *token) {
    long long id;
    long long ts;
    if (sscanf(token, "dah1-%lld-%lld", &ts, &id) != 2)
      return tw_cw_fail(c, TW_ERR_CW_INVALID_NEXT_TOKEN, "The next token specified is invalid.");
    /* resume strictly after (ts, id) in the scan order */
    if (f.newest_first) {
      if (ts + 1 < f.to_ms) f.to_ms = ts + 1;
    } else if (ts > f.from_ms) {
      f.from_ms = ts;
    }
    f.after_id = id;
  }
  f.limit = (int)max + 1;
  json_t *items = json_array();
  if (repo(a)->history_read(a->store, &f, history_row, items)) {
    json_decref(items);
    return tw_cw_fail(c, TW_ERR_INTERNAL, "The alarm history could not be read.");
  }
  c->out = json_object();
  if ((long long)json_array_size(items) > max) {
    json_t *last = json_array_get(items, (size_t)max - 1);
    char next[80];
    snprintf(next, sizeof next, "dah1-%lld-%lld",
             (long long)llround(json_number_value(json_object_get(last, "Timestamp")) * 1000),
             (long long)json_integer_value(json_object_get(last, "_id")));
    json_array_remove(items, (size_t)max);
    json_object_set_new(c->out, "NextToken", json_string(next));
  }
  size_t i;
  json_t *it;
  json_array_foreach(items, i, it) json_object_del(it, "_id");
  json_object_set_new(c->out, "AlarmHistoryItems", items);
  return TW_ERR_OK;
}

/* --- tags ------------------------------------------------------------------------------ */

/* The alarm or dashboard document of an ARN (engine locked); NULL with c->err. */
static json_t *tagged(tw_cw_call *c, const char **arn) {
  tw_alarms *a = c->alarms;
  if (tw_cw_get_str(c->in, "ResourceARN", arn) != 1) {
    tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter ResourceARN is required.");
    return NULL;
  }
  char pre[256];
  snprintf(pre, sizeof pre, "arn:aws:cloudwatch:%s:%s:alarm:", a->region, a->account);
  json_t *doc = NULL;
  if (!strncmp(*arn, pre, strlen(pre))) doc = json_object_get(a->alarms, *arn + strlen(pre));
  snprintf(pre, sizeof pre, "arn:aws:cloudwatch::%s:dashboard/", a->account);
  if (!strncmp(*arn, pre, strlen(pre))) doc = json_object_get(a->dashboards, *arn + strlen(pre));
  if (!doc) {
    if (strncmp(*arn, "arn:", 4))
      tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                 "The value %.300s for parameter ResourceARN is invalid.", *arn);
    else
      tw_cw_fail(c, TW_ERR_CW_RESOURCE_NOT_FOUND_EXC, "%.300s not found", *arn);
  }
  return doc;
}

static uint64_t save_tagged(tw_alarms *a, const char *arn, json_t *doc) {
  if (strstr(arn, ":alarm:")) return save_alarm(a, strstr(arn, ":alarm:") + 7, doc);
  char *s = json_dumps(doc, JSON_COMPACT);
  uint64_t t = repo(a)->dashboard_put(a->store, strstr(arn, ":dashboard/") + 11, s);
  free(s);
  return t;
}

static tw_err tag_resource(tw_cw_call *c) {
  tw_alarms *a = c->alarms;
  const char *arn;
  json_t *tags = norm_tags(c, c->in);
  if (!tags) return c->err;
  pthread_mutex_lock(&a->mu);
  json_t *doc = tagged(c, &arn);
  if (doc) {
    json_t *have = json_object_get(doc, "Tags");
    if (!json_is_array(have)) {
      have = json_array();
      json_object_set_new(doc, "Tags", have);
    }
    json_t *merged = merge_tags(json_deep_copy(have), tags);
    if (json_array_size(merged) > 50) {
      tw_cw_fail(c, TW_ERR_CW_LIMIT_EXCEEDED, "A resource can have at most 50 tags.");
      json_decref(merged);
    } else {
      json_object_set_new(doc, "Tags", merged);
      tw_store_hold(a->store);
      c->ticket = save_tagged(a, arn, doc);
      tw_store_release(a->store);
    }
  }
  pthread_mutex_unlock(&a->mu);
  json_decref(tags);
  if (c->err != TW_ERR_OK) return c->err;
  c->out = json_object();
  return TW_ERR_OK;
}

static tw_err untag_resource(tw_cw_call *c) {
  tw_alarms *a = c->alarms;
  const char *arn;
  int bad;
  const json_t *keys = tw_cw_get_list(c->in, "TagKeys", &bad);
  if (bad || !keys)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter TagKeys is required.");
  pthread_mutex_lock(&a->mu);
  json_t *doc = tagged(c, &arn);
  if (doc) {
    json_t *have = json_object_get(doc, "Tags");
    size_t i, j;
    json_t *k;
    json_array_foreach(keys, i, k) {
      for (j = json_array_size(have); j-- > 0;)
        if (json_string_value(k) &&
            !strcmp(jstr(json_array_get(have, j), "Key"), json_string_value(k)))
          json_array_remove(have, j);
    }
    tw_store_hold(a->store);
    c->ticket = save_tagged(a, arn, doc);
    tw_store_release(a->store);
  }
  pthread_mutex_unlock(&a->mu);
  if (c->err != TW_ERR_OK) return c->err;
  c->out = json_object();
  return TW_ERR_OK;
}

static tw_err list_tags_for_resource(tw_cw_call *c) {
  tw_alarms *a = c->alarms;
  const char *arn;
  pthread_mutex_lock(&a->mu);
  json_t *doc = tagged(c, &arn);
  json_t *tags = doc ? json_deep_copy(json_object_get(doc, "Tags")) : NULL;
  pthread_mutex_unlock(&a->mu);
  if (!doc) return c->err;
  c->out = json_pack("{s:o}", "Tags", json_is_array(tags) ? tags : json_array());
  if (!json_is_array(tags)) json_decref(tags);
  c->seen_ticket = tw_store_ticket(c->store);
  return TW_ERR_OK;
}

/* dashboards (cw_dashboards.c) */
tw_err tw_cw_put_dashboard(tw_cw_call *c);
tw_err tw_cw_get_dashboard(tw_cw_call *c);
tw_err tw_cw_list_dashboards(tw_cw_call *c);
tw_err tw_cw_delete_dashboards(tw_cw_call *c);

static tw_err not_running(tw_cw_call *c) {
  return tw_cw_fail(c, TW_ERR_SERVICE_UNAVAILABLE, "Alarms are not running.");
}

static const tw_cw_op ops[] = {
    {"PutMetricAlarm", put_metric_alarm},
    {"DescribeAlarms", describe_alarms},
    {"DescribeAlarmsForMetric", describe_alarms_for_metric},
    {"DeleteAlarms", delete_alarms},
    {"SetAlarmState", set_alarm_state},
    {"DescribeAlarmHistory", describe_alarm_history},
    {"EnableAlarmActions", enable_alarm_actions},
    {"DisableAlarmActions", disable_alarm_actions},
    {"TagResource", tag_resource},
    {"UntagResource", untag_resource},
    {"ListTagsForResource", list_tags_for_resource},
    {"PutDashboard", tw_cw_put_dashboard},
    {"GetDashboard", tw_cw_get_dashboard},
    {"ListDashboards", tw_cw_list_dashboards},
    {"DeleteDashboards", tw_cw_delete_dashboards},
};

/* Each op runs only with the engine present. */
#define WRAP(i)                                        \
  static tw_err wrap##i(tw_cw_call *c) {               \
    return c->alarms ? ops[i].run(c) : not_running(c); \
  }
WRAP(0)
WRAP(1)
WRAP(2)
WRAP(3)
WRAP(4)
WRAP(5)
WRAP(6)
WRAP(7)
WRAP(8)
WRAP(9)
WRAP(10)
WRAP(11)
WRAP(12)
WRAP(13)
WRAP(14)
static const tw_cw_op wrapped[] = {
    {"PutMetricAlarm", wrap0},
    {"DescribeAlarms", wrap1},
    {"DescribeAlarmsForMetric", wrap2},
    {"DeleteAlarms", wrap3},
    {"SetAlarmState", wrap4},
    {"DescribeAlarmHistory", wrap5},
    {"EnableAlarmActions", wrap6},
    {"DisableAlarmActions", wrap7},
    {"TagResource", wrap8},
    {"UntagResource", wrap9},
    {"ListTagsForResource", wrap10},
    {"PutDashboard", wrap11},
    {"GetDashboard", wrap12},
    {"ListDashboards", wrap13},
    {"DeleteDashboards", wrap14},
};

const tw_cw_op *tw_cw_alarm_find_op(const char *name) {
  for (size_t i = 0; i < sizeof wrapped / sizeof wrapped[0]; i++)
    if (!strcmp(wrapped[i].name, name)) return &wrapped[i];
  return NULL;
}
