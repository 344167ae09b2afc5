/* PutMetricAlarm and the checks of its parameters (names, dimensions, metric
 * math lists, actions, tags) the other alarm operations share. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "events/bus.h"
#include "monitoring/cw_alarms_internal.h"

/* --- the API ------------------------------------------------------------------------- */

int cwa_valid_name(const char *s, size_t max) {
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
json_t *cwa_norm_dims(tw_cw_call *c, const json_t *o, const char *prefix) {
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
    if (tw_cw_get_str(d, "Name", &n) != 1 || !cwa_valid_name(n, 255)) {
      tw_cw_fail(c, TW_ERR_MISSING_PARAMETER,
                 "The parameter %sDimensions.member.%zu.Name is required.", prefix, i + 1);
      goto fail;
    }
    if (tw_cw_get_str(d, "Value", &v) != 1 || !cwa_valid_name(v, 1024)) {
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
    json_t *dims = cwa_norm_dims(c, mt, prefix);
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

json_t *cwa_norm_actions(tw_cw_call *c, const char *key) {
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

json_t *cwa_norm_tags(tw_cw_call *c, const json_t *in) {
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

json_t *cwa_merge_tags(json_t *have, const json_t *add) {
  size_t i, j;
  json_t *t, *h;
  json_array_foreach(add, i, t) {
    int found = 0;
    json_array_foreach(have, j, h) if (!strcmp(cwa_jstr(h, "Key"), cwa_jstr(t, "Key"))) {
      json_object_set(h, "Value", json_object_get(t, "Value"));
      found = 1;
    }
    if (!found) json_array_append(have, t);
  }
  return have;
}

uint64_t cwa_put_config(tw_alarms *a, const char *name, json_t *cur, json_t *al, json_t *tags,
                        int64_t now_ms) {
  double now = (double)now_ms / 1000.0;
  json_object_set_new(al, "AlarmConfigurationUpdatedTimestamp", json_real(now));
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
                   cwa_camel(orig), "updatedAlarm", cwa_camel(al));
    json_decref(orig);
    snprintf(summary, sizeof summary, "Alarm \"%.300s\" updated", name);
    json_object_set(cur, "Alarm", al);
  } else {
    json_object_set_new(al, "StateValue", json_string("INSUFFICIENT_DATA"));
    json_object_set_new(al, "StateReason", json_string("Unchecked: Initial alarm creation"));
    json_object_set_new(al, "StateUpdatedTimestamp", json_real(now));
    json_object_set_new(al, "StateTransitionedTimestamp", json_real(now));
    hd = json_pack("{s:s,s:s,s:o}", "type", "Create", "version", "1.0", "createdAlarm",
                   cwa_camel(al));
    snprintf(summary, sizeof summary, "Alarm \"%.300s\" created", name);
    cur = json_pack("{s:O,s:O}", "Alarm", al, "Tags", tags);
    json_object_set_new(a->alarms, name, cur);
  }
  cwa_save_alarm(a, name, cur);
  return cwa_add_history(a, name, now_ms, "ConfigurationUpdate", summary, hd);
}

tw_err cwa_put_metric_alarm(tw_cw_call *c) {
  tw_alarms *a = c->alarms;
  json_t *al = json_object(), *tags = NULL;
  const char *name = NULL, *s = NULL;
  int rc = tw_cw_get_str(c->in, "AlarmName", &name);
  if (rc == 0) FAIL_OUT(TW_ERR_MISSING_PARAMETER, "The parameter AlarmName is required.");
  if (rc < 0 || !cwa_valid_name(name, 255))
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
    acts[i] = cwa_norm_actions(c, akeys[i]);
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
    int per = cwa_alarm_period(al);
    if ((long long)per * evals > 86400 && per < 3600)
      FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
               "Metrics cannot be checked across more than a day (EvaluationPeriods * Period "
               "must be <= 86400).");
  } else {
    if (!has_metric) FAIL_OUT(TW_ERR_MISSING_PARAMETER, "The parameter MetricName is required.");
    if (!has_ns) FAIL_OUT(TW_ERR_MISSING_PARAMETER, "The parameter Namespace is required.");
    if (!cwa_valid_name(metric, 255))
      FAIL_OUT(TW_ERR_INVALID_PARAMETER_VALUE,
               "The value %.300s for parameter MetricName is invalid.", metric);
    if (!cwa_valid_name(ns, 255))
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
    json_t *dims = cwa_norm_dims(c, c->in, "");
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
  tags = cwa_norm_tags(c, c->in);
  if (!tags) goto fail;

  int64_t now_ms = tw_metrics_now_ms(c->metrics);
  pthread_mutex_lock(&a->mu);
  json_t *cur = json_object_get(a->alarms, name);
  if (cur && cwa_is_composite(json_object_get(cur, "Alarm"))) {
    pthread_mutex_unlock(&a->mu);
    FAIL_OUT(TW_ERR_CW_VALIDATION_ERROR,
             "The alarm %.300s is a composite alarm: a metric alarm needs another name.", name);
  }
  if (!cur && json_object_size(a->alarms) >= MAX_ALARMS) {
    pthread_mutex_unlock(&a->mu);
    FAIL_OUT(TW_ERR_CW_LIMIT_EXCEEDED, "The maximum number of alarms (%d) has been reached.",
             MAX_ALARMS);
  }
  tw_store_hold(a->store);
  c->ticket = cwa_put_config(a, name, cur, al, tags, now_ms);
  tw_store_release(a->store);
  pthread_mutex_unlock(&a->mu);
  json_decref(al);
  json_decref(tags);
  c->out = json_object();
  return TW_ERR_OK;
fail:
  json_decref(al);
  json_decref(tags);
  return c->err;
}
