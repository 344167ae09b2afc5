/* The alarm operations besides PutMetricAlarm and PutCompositeAlarm:
 * DescribeAlarms, DescribeAlarmsForMetric, DeleteAlarms, SetAlarmState,
 * Enable/DisableAlarmActions, DescribeAlarmHistory, Tag/Untag/ListTagsForResource,
 * and the table of CloudWatch alarm and dashboard operations. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "events/bus.h"
#include "monitoring/cw_alarms_internal.h"

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
  const char *children_of = NULL, *parents_of = NULL;
  tw_cw_get_str(c->in, "ChildrenOfAlarmName", &children_of);
  tw_cw_get_str(c->in, "ParentsOfAlarmName", &parents_of);
  if (children_of && parents_of)
    return tw_cw_fail(c, TW_ERR_CW_INVALID_PARAMETER_COMBINATION,
                      "The parameters ChildrenOfAlarmName and ParentsOfAlarmName are mutually "
                      "exclusive and you have specified both.");
  (void)s;
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
  json_t *out = json_array(), *composites = json_array();
  char next[600] = "";
  pthread_mutex_lock(&a->mu);
  /* ChildrenOfAlarmName / ParentsOfAlarmName: those alarms only, of both types */
  json_t *related = NULL;
  if (children_of) {
    const json_t *ca = json_object_get(json_object_get(a->alarms, children_of), "Alarm");
    related = cwa_is_composite(ca) ? cwa_composite_children(a, ca) : json_array();
  } else if (parents_of) {
    related = cwa_composite_parents(a, parents_of);
  }
  if (related) want_metric = want_composite = 1;
  size_t n = json_object_size(a->alarms), k = 0;
  const char **sorted = malloc((n + 1) * sizeof *sorted);
  const char *name, *last = "";
  json_t *doc;
  json_object_foreach(a->alarms, name, doc) sorted[k++] = name;
  qsort(sorted, k, sizeof *sorted, cmp_str);
  for (size_t j = 0; j < k; j++) {
    name = sorted[j];
    if (after && strcmp(name, after) <= 0) continue;
    int composite = cwa_is_composite(json_object_get(json_object_get(a->alarms, name), "Alarm"));
    if (composite ? !want_composite : !want_metric) continue;
    if (related) {
      int hit = 0;
      json_array_foreach(related, i, t) hit |= !strcmp(json_string_value(t), name);
      if (!hit) continue;
    }
    if (prefix && strncmp(name, prefix, strlen(prefix))) continue;
    if (names && json_array_size(names)) {
      int hit = 0;
      json_array_foreach(names, i, t) hit |=
          json_string_value(t) && !strcmp(json_string_value(t), name);
      if (!hit) continue;
    }
    json_t *al = json_object_get(json_object_get(a->alarms, name), "Alarm");
    if (state && strcmp(cwa_jstr(al, "StateValue"), state)) continue;
    if (action && !has_action_prefix(al, action)) continue;
    if ((long long)(json_array_size(out) + json_array_size(composites)) == max) {
      snprintf(next, sizeof next, "da1-%.500s", last);
      break;
    }
    json_array_append_new(composite ? composites : out, json_deep_copy(al));
    last = name;
  }
  free(sorted);
  json_decref(related);
  pthread_mutex_unlock(&a->mu);
  c->out = json_pack("{s:o,s:o}", "MetricAlarms", out, "CompositeAlarms", composites);
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
    dims = cwa_norm_dims(c, c->in, "");
    if (!dims) return c->err;
  }
  json_t *out = json_array();
  pthread_mutex_lock(&a->mu);
  const char *name;
  json_t *doc;
  json_object_foreach(a->alarms, name, doc) {
    json_t *al = json_object_get(doc, "Alarm");
    if (!cwa_jstr(al, "MetricName") || strcmp(cwa_jstr(al, "MetricName"), metric) ||
        strcmp(cwa_jstr(al, "Namespace"), ns))
      continue;
    if (stat && (!cwa_jstr(al, "Statistic") || strcmp(cwa_jstr(al, "Statistic"), stat))) continue;
    if (xstat &&
        (!cwa_jstr(al, "ExtendedStatistic") || strcmp(cwa_jstr(al, "ExtendedStatistic"), xstat)))
      continue;
    if (unit && (!cwa_jstr(al, "Unit") || strcmp(cwa_jstr(al, "Unit"), unit))) continue;
    if (has_period && cwa_jnum(al, "Period", 0) != (double)period) continue;
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
  /* at most one composite alarm a call; none that a composite alarm kept depends on */
  size_t ncomposite = 0, nblocked = 0;
  char blocked[1024] = "";
  json_array_foreach(names, i, v) {
    const char *n = json_string_value(v);
    ncomposite += cwa_is_composite(json_object_get(json_object_get(a->alarms, n), "Alarm"));
    json_t *parents = cwa_composite_parents(a, n);
    size_t j;
    json_t *p;
    int kept = 0;
    json_array_foreach(parents, j, p) {
      size_t k;
      json_t *d;
      int going = 0;
      json_array_foreach(names, k, d) going |= !strcmp(json_string_value(d), json_string_value(p));
      kept |= !going;
    }
    json_decref(parents);
    if (kept && strlen(blocked) + strlen(n) + 2 < sizeof blocked) {
      snprintf(blocked + strlen(blocked), sizeof blocked - strlen(blocked), "%s%s",
               nblocked ? "," : "", n);
      nblocked++;
    }
  }
  if (ncomposite > 1 || nblocked) {
    pthread_mutex_unlock(&a->mu);
    if (nblocked)
      return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                        "Cannot delete %s as there are composite alarm(s) depending on %s.",
                        blocked, nblocked > 1 ? "them" : "it");
    return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                      "You can delete at most one composite alarm in one operation.");
  }
  int64_t now_ms = tw_metrics_now_ms(c->metrics);
  tw_store_hold(a->store);
  json_array_foreach(names, i, v) {
    const char *n = json_string_value(v);
    json_t *doc = json_object_get(a->alarms, n);
    if (!doc) continue; /* named twice */
    char summary[400];
    snprintf(summary, sizeof summary, "Alarm \"%.300s\" deleted", n);
    cwa_add_history(a, n, now_ms, "ConfigurationUpdate", summary,
                    json_pack("{s:s,s:s,s:o}", "type", "Delete", "version", "1.0", "deletedAlarm",
                              cwa_camel(json_object_get(doc, "Alarm"))));
    c->ticket = cwa_repo(a)->alarm_delete(a->store, n);
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
  const char *cur = cwa_jstr(json_object_get(doc, "Alarm"), "StateValue");
  if (cur && !strcmp(cur, state)) { /* no change of state: nothing happens */
    json_decref(data);
    c->seen_ticket = tw_store_ticket(c->store);
  } else {
    tw_store_hold(a->store);
    c->ticket = cwa_change_state(a, name, doc, state, reason, data, tw_metrics_now_ms(c->metrics));
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
    c->ticket = cwa_save_alarm(a, n, doc);
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
  /* AlarmTypes: metric alarms only when absent, as CloudWatch */
  int badt;
  const json_t *types = tw_cw_get_list(c->in, "AlarmTypes", &badt);
  f.alarm_types = types ? 0 : 1;
  size_t ti;
  json_t *tv;
  json_array_foreach(types, ti, tv) {
    const char *ts = json_string_value(tv);
    if (ts && !strcmp(ts, "MetricAlarm"))
      f.alarm_types |= 1;
    else if (ts && !strcmp(ts, "CompositeAlarm"))
      f.alarm_types |= 2;
    else
      return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                        "The value %.100s for parameter AlarmTypes.member.%zu is invalid.",
                        ts ? ts : "", ti + 1);
  }
  if (!f.alarm_types) f.alarm_types = 1;
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
  if (cwa_repo(a)->history_read(a->store, &f, history_row, items)) {
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

/* Saves a tagged alarm or dashboard (engine locked; takes the store hold). */
static uint64_t save_tagged(tw_alarms *a, const char *arn, json_t *doc) {
  uint64_t t;
  tw_store_hold(a->store);
  if (strstr(arn, ":alarm:")) {
    t = cwa_save_alarm(a, strstr(arn, ":alarm:") + 7, doc);
  } else {
    char *s = json_dumps(doc, JSON_COMPACT);
    t = cwa_repo(a)->dashboard_put(a->store, strstr(arn, ":dashboard/") + 11, s);
    free(s);
  }
  tw_store_release(a->store);
  return t;
}

static tw_err tag_resource(tw_cw_call *c) {
  tw_alarms *a = c->alarms;
  const char *arn;
  json_t *tags = cwa_norm_tags(c, c->in);
  if (!tags) return c->err;
  pthread_mutex_lock(&a->mu);
  json_t *doc = tagged(c, &arn);
  if (doc) {
    json_t *have = json_object_get(doc, "Tags");
    if (!json_is_array(have)) {
      have = json_array();
      json_object_set_new(doc, "Tags", have);
    }
    json_t *merged = cwa_merge_tags(json_deep_copy(have), tags);
    if (json_array_size(merged) > 50) {
      tw_cw_fail(c, TW_ERR_CW_LIMIT_EXCEEDED, "A resource can have at most 50 tags.");
      json_decref(merged);
    } else {
      json_object_set_new(doc, "Tags", merged);
      c->ticket = save_tagged(a, arn, doc);
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
            !strcmp(cwa_jstr(json_array_get(have, j), "Key"), json_string_value(k)))
          json_array_remove(have, j);
    }
    c->ticket = save_tagged(a, arn, doc);
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
    {"PutMetricAlarm", cwa_put_metric_alarm},
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
    {"PutCompositeAlarm", cwa_put_composite_alarm},
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
WRAP(15)
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
    {"PutCompositeAlarm", wrap15},
};

const tw_cw_op *tw_cw_alarm_find_op(const char *name) {
  for (size_t i = 0; i < sizeof wrapped / sizeof wrapped[0]; i++)
    if (!strcmp(wrapped[i].name, name)) return &wrapped[i];
  return NULL;
}
