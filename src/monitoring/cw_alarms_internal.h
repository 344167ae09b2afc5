/* What the CloudWatch alarm files share (cw_alarms.c: engine and state
 * changes; cw_alarm_put.c: PutMetricAlarm; cw_alarm_ops.c: the other
 * operations; cw_composite.c: composite alarms). Not for other modules. */
#ifndef TW_MONITORING_CW_ALARMS_INTERNAL_H
#define TW_MONITORING_CW_ALARMS_INTERNAL_H
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "monitoring/cw_alarms.h"
#include "monitoring/cw_front.h"
#include "store/cw_alarms.h"

#define MAX_ALARMS 5000
#define MAX_ACTIONS 5
#define HISTORY_KEEP_MS (14LL * 86400 * 1000)
#define EXTRA_PERIODS 5 /* the evaluation range: EvaluationPeriods + this many before */

/* Fails the call c and jumps to the function's fail: label. */
#define FAIL_OUT(...)           \
  do {                          \
    tw_cw_fail(c, __VA_ARGS__); \
    goto fail;                  \
  } while (0)

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
  /* cluster mode (tw_alarms_cluster) */
  int cluster;
  int64_t loaded_version;  /* the "cloudwatch" state counter the memory is at least at */
  struct tw_pg_lead *lead; /* the evaluator runs while this node holds it (its thread's) */
  /* a reload must not drop this node's changes not yet committed: it waits
   * (stale) while API calls run or their batch has not committed */
  uint64_t pending; /* the last batch holding a change of this node's */
  int in_calls;     /* API calls running (atomic) */
  int stale;        /* a reload was put off */
};

const tw_cw_alarms_repo *cwa_repo(tw_alarms *a);
void cwa_fmt_aws_time(int64_t ms, char *out, size_t n);
const char *cwa_region_long_name(const char *r);
const char *cwa_jstr(const json_t *o, const char *k);
double cwa_jnum(const json_t *o, const char *k, double dflt);
json_t *cwa_camel(const json_t *v);
uint64_t cwa_save_alarm(tw_alarms *a, const char *name, const json_t *doc);
uint64_t cwa_add_history(tw_alarms *a, const char *name, int64_t ms, const char *type,
                         const char *summary, json_t *data /* stolen */);
const char *cwa_actions_key(const char *state);
/* The members of an alarm's SNS state-change message that metric and
 * composite alarms share (a new object; the caller adds its own after). */
json_t *cwa_notification_base(tw_alarms *a, const json_t *al, const char *old_state,
                              int64_t now_ms);
uint64_t cwa_change_state(tw_alarms *a, const char *name, json_t *doc, const char *state,
                          const char *reason, json_t *reason_data /* stolen, may be NULL */,
                          int64_t now_ms);
int cwa_alarm_period(const json_t *al);
int cwa_valid_name(const char *s, size_t max);
json_t *cwa_norm_dims(tw_cw_call *c, const json_t *o, const char *prefix);
json_t *cwa_norm_actions(tw_cw_call *c, const char *key);
json_t *cwa_norm_tags(tw_cw_call *c, const json_t *in);
json_t *cwa_merge_tags(json_t *have, const json_t *add);

/* Makes al (a new "Alarm" document; the caller keeps its reference, and
 * tags') name's configuration, timestamped now_ms: an update of cur (name's
 * entry, NULL: none) keeps its state and tags; a new alarm starts in
 * INSUFFICIENT_DATA with tags. Saves it and appends its ConfigurationUpdate
 * history record (engine locked, store held); returns the ticket. */
uint64_t cwa_put_config(tw_alarms *a, const char *name, json_t *cur, json_t *al, json_t *tags,
                        int64_t now_ms);

/* the operations of the other files (cw_alarm_ops.c has the table) */
tw_err cwa_put_metric_alarm(tw_cw_call *c);
tw_err cwa_put_composite_alarm(tw_cw_call *c);

/* --- composite alarms (cw_composite.c); engine locked --- */
int cwa_is_composite(const json_t *al); /* al: an "Alarm" document */
/* Parses and evaluates an AlarmRule against a->alarms: 1 (true), 0, or -1
 * with the error in err. refs, missing, hits (arrays, each may be NULL)
 * collect the names referenced, the references to alarms that do not exist,
 * and the names whose function came out true. (For tests/fuzz.) */
int cwa_rule_eval(tw_alarms *a, const char *rule, json_t *refs, json_t *missing, json_t *hits,
                  char *err, size_t errlen);
/* The names a composite alarm's rule references (new array). */
json_t *cwa_composite_children(tw_alarms *a, const json_t *al);
/* The names of the composite alarms whose rules reference name (new array). */
json_t *cwa_composite_parents(tw_alarms *a, const char *name);
/* The SNS message of a composite alarm's state change. */
json_t *cwa_composite_notification(tw_alarms *a, const json_t *al, const char *old_state,
                                   int64_t now_ms);
/* child changed state: recomputes every composite alarm that references it
 * (and theirs, in turn), appending their changes to the open batch (bus,
 * engine and store held). Returns the last ticket (0: nothing changed). */
uint64_t cwa_composite_propagate(tw_alarms *a, const char *child, int64_t now_ms);

#endif
