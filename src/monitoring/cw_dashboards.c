/* CloudWatch dashboards: PutDashboard (the body validated as CloudWatch
 * validates it, problems reported as DashboardValidationMessages),
 * GetDashboard, ListDashboards, DeleteDashboards, and the built-in dashboard
 * "tweedle", drawn from the metrics that exist when it is asked for. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitoring/cw_alarms.h"
#include "monitoring/cw_front.h"
#include "store/cw_alarms.h"

#define BUILTIN "tweedle"
#define MAX_BODY (1u << 20) /* CloudWatch: 1 MB */

static const char *const widget_types[] = {"metric", "text", "log", "alarm", "explorer", "custom"};

typedef struct {
  json_t *msgs; /* [{DataPath, Message}] */
} checks;

static void bad(checks *k, const char *path, const char *msg) {
  json_array_append_new(k->msgs, json_pack("{s:s,s:s}", "DataPath", path, "Message", msg));
}

static void check_number(checks *k, const json_t *w, const char *key, const char *path, double lo,
                         double hi) {
  json_t *v = json_object_get(w, key);
  if (!v) return;
  char p[160], m[160];
  snprintf(p, sizeof p, "%s/%s", path, key);
  if (!json_is_number(v)) {
    bad(k, p, "Should be integer");
    return;
  }
  double d = json_number_value(v);
  if (d != floor(d)) {
    bad(k, p, "Should be integer");
  } else if (d < lo) {
    snprintf(m, sizeof m, "Should be >= %g", lo);
    bad(k, p, m);
  } else if (d > hi) {
    snprintf(m, sizeof m, "Should be <= %g", hi);
    bad(k, p, m);
  }
}

/* A metric widget's "metrics" array: each entry an array of strings (namespace,
 * name, dimension pairs; "." repeats the entry above) with an optional
 * rendering object last, or [{"expression": ...}]. */
static void check_metrics(checks *k, const json_t *metrics, const char *path) {
  char p[200];
  if (!json_is_array(metrics)) {
    snprintf(p, sizeof p, "%s/metrics", path);
    bad(k, p, "Should be array");
    return;
  }
  size_t i;
  json_t *m;
  json_array_foreach(metrics, i, m) {
    snprintf(p, sizeof p, "%s/metrics/%zu", path, i);
    if (!json_is_array(m)) {
      bad(k, p, "Should be array");
      continue;
    }
    size_t n = json_array_size(m), strings = 0;
    int opts = n && json_is_object(json_array_get(m, n - 1));
    for (size_t j = 0; j < n - (size_t)opts; j++) {
      if (!json_is_string(json_array_get(m, j))) {
        char q[256];
        snprintf(q, sizeof q, "%s/%zu", p, j);
        bad(k, q, "Should be string");
      }
      strings++;
    }
    if (strings == 0 && !(opts && json_object_get(json_array_get(m, n - 1), "expression"))) {
      bad(k, p, "Should NOT have fewer than 1 items");
    } else if (strings == 1 || (strings > 2 && strings % 2 == 1)) {
      /* namespace, name, then name/value pairs */
      bad(k, p, "Should NOT have an odd number of dimension items");
    } else if (strings > 2 + 2 * 30) {
      bad(k, p, "Should NOT have more than 62 items");
    }
  }
}

static void check_widget(checks *k, const json_t *w, size_t i) {
  char path[64], p[160];
  snprintf(path, sizeof path, "/widgets/%zu", i);
  if (!json_is_object(w)) {
    bad(k, path, "Should be object");
    return;
  }
  const char *type = json_string_value(json_object_get(w, "type"));
  if (!json_object_get(w, "type")) {
    bad(k, path, "Should have required property 'type'");
    return;
  }
  int known = 0;
  for (size_t t = 0; type && t < sizeof widget_types / sizeof widget_types[0]; t++)
    known |= !strcmp(type, widget_types[t]);
  if (!known) {
    snprintf(p, sizeof p, "%s/type", path);
    bad(k, p, "Should be equal to one of the allowed values");
    return;
  }
  check_number(k, w, "x", path, 0, 23);
  check_number(k, w, "y", path, 0, 1e9);
  check_number(k, w, "width", path, 1, 24);
  check_number(k, w, "height", path, 1, 1000);
  json_t *props = json_object_get(w, "properties");
  if (!props) {
    bad(k, path, "Should have required property 'properties'");
    return;
  }
  snprintf(p, sizeof p, "%s/properties", path);
  if (!json_is_object(props)) {
    bad(k, p, "Should be object");
    return;
  }
  if (!strcmp(type, "text")) {
    if (!json_is_string(json_object_get(props, "markdown")))
      bad(k, p, "Should have required property 'markdown'");
  } else if (!strcmp(type, "metric")) {
    json_t *metrics = json_object_get(props, "metrics");
    if (metrics)
      check_metrics(k, metrics, p);
    else if (!json_object_get(props, "annotations"))
      bad(k, p, "Should have required property 'metrics'");
    json_t *period = json_object_get(props, "period");
    if (period && (!json_is_integer(period) || json_integer_value(period) < 1)) {
      char q[256];
      snprintf(q, sizeof q, "%s/period", p);
      bad(k, q, "Should be integer >= 1");
    }
  } else if (!strcmp(type, "alarm")) {
    json_t *alarms = json_object_get(props, "alarms");
    if (!json_is_array(alarms)) bad(k, p, "Should have required property 'alarms'");
  } else if (!strcmp(type, "log")) {
    if (!json_is_string(json_object_get(props, "query")))
      bad(k, p, "Should have required property 'query'");
  }
}

/* Validates a body: 0, or the number of problems (messages in k). */
static json_t *validate(const char *body, size_t len, json_t **parsed) {
  checks k = {json_array()};
  json_error_t je;
  json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
  *parsed = NULL;
  if (!json_is_object(doc)) {
    bad(&k, "", doc ? "Should be object" : "Unexpected token: the body is not valid JSON");
    json_decref(doc);
    return k.msgs;
  }
  json_t *widgets = json_object_get(doc, "widgets");
  if (!widgets) {
    bad(&k, "", "Should have required property 'widgets'");
  } else if (!json_is_array(widgets)) {
    bad(&k, "/widgets", "Should be array");
  } else if (json_array_size(widgets) > 500) {
    bad(&k, "/widgets", "Should NOT have more than 500 items");
  } else {
    size_t i;
    json_t *w;
    json_array_foreach(widgets, i, w) check_widget(&k, w, i);
  }
  json_t *pi = json_object_get(doc, "periodOverride");
  if (pi && (!json_is_string(pi) ||
             (strcmp(json_string_value(pi), "auto") && strcmp(json_string_value(pi), "inherit"))))
    bad(&k, "/periodOverride", "Should be equal to one of the allowed values");
  *parsed = doc;
  return k.msgs;
}

static int valid_dashboard_name(const char *s) {
  if (!*s || strlen(s) > 255) return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_') return 0;
  return 1;
}

static void dashboard_arn(tw_cw_call *c, const char *name, char *out, size_t n) {
  snprintf(out, n, "arn:aws:cloudwatch::%s:dashboard/%s", c->account ? c->account : "", name);
}

tw_err tw_cw_put_dashboard(tw_cw_call *c) {
  const char *name = NULL, *body = NULL;
  if (tw_cw_get_str(c->in, "DashboardName", &name) != 1)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter DashboardName is required.");
  if (!valid_dashboard_name(name))
    return tw_cw_fail(c, TW_ERR_CW_DASHBOARD_INVALID,
                      "The value for field DashboardName contains invalid characters. It can only "
                      "contain alphanumerics, dash (-) and underscore (_).");
  if (tw_cw_get_str(c->in, "DashboardBody", &body) != 1)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter DashboardBody is required.");
  if (strlen(body) > MAX_BODY)
    return tw_cw_fail(c, TW_ERR_CW_DASHBOARD_INVALID, "The dashboard body is larger than 1 MB.");
  json_t *doc;
  json_t *msgs = validate(body, strlen(body), &doc);
  json_decref(doc);
  if (json_array_size(msgs)) {
    size_t n = json_array_size(msgs);
    /* CloudWatch's message lists the problems in ajv's shape */
    json_t *list = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) json_array_append_new(
        list, json_pack("{s:O,s:O}", "dataPath", json_object_get(m, "DataPath"), "message",
                        json_object_get(m, "Message")));
    char *text = json_dumps(list, JSON_INDENT(2));
    json_decref(list);
    tw_cw_fail(c, TW_ERR_CW_DASHBOARD_INVALID,
               "The dashboard body is invalid, there %s %zu validation error%s:\n%s",
               n == 1 ? "is" : "are", n, n == 1 ? "" : "s", text);
    free(text);
    c->err_extra = json_pack("{s:o}", "dashboardValidationMessages", msgs);
    return c->err;
  }
  json_decref(msgs);
  int bad_tags;
  const json_t *tags = tw_cw_get_list(c->in, "Tags", &bad_tags);
  tw_alarms *a = c->alarms;
  double now = (double)tw_alarms_now_ms(a) / 1000.0;
  tw_alarms_lock(a);
  json_t *all = tw_alarms_dashboards(a);
  json_t *cur = json_object_get(all, name);
  json_t *d = json_pack("{s:s,s:f}", "Body", body, "LastModified", floor(now));
  if (cur && json_object_get(cur, "Tags"))
    json_object_set(d, "Tags", json_object_get(cur, "Tags"));
  else if (tags && json_array_size(tags))
    json_object_set(d, "Tags", (json_t *)tags);
  json_object_set_new(all, name, d);
  char *s = json_dumps(d, JSON_COMPACT);
  tw_store *st = tw_alarms_store(a);
  tw_store_hold(st);
  c->ticket = tw_store_cw_alarms(st)->dashboard_put(st, name, s);
  tw_store_release(st);
  tw_alarms_unlock(a);
  free(s);
  c->out = json_pack("{s:[]}", "DashboardValidationMessages");
  return TW_ERR_OK;
}

/* --- the built-in dashboard ------------------------------------------------------------ */

typedef struct {
  json_t *rows; /* metric rows for one widget */
  const char *metric;
  const char *dim; /* the dimension to take the series from */
  json_t *opts;    /* rendering options for each row, or NULL */
  int limit;
  int only; /* 1: metrics with that one dimension only (not the per-route ones) */
} collect;

static void collect_one(void *ud, const char *ns, const char *name, const tw_metric_dim *dims,
                        size_t ndims) {
  collect *k = ud;
  if ((int)json_array_size(k->rows) >= k->limit || (k->only && ndims != 1)) return;
  json_t *row = json_pack("[s,s]", ns, name);
  int has = 0;
  for (size_t i = 0; i < ndims; i++) {
    json_array_append_new(row, json_string(dims[i].name));
    json_array_append_new(row, json_string(dims[i].value));
    has |= !strcmp(dims[i].name, k->dim);
  }
  if (!has) {
    json_decref(row);
    return;
  }
  if (k->opts) json_array_append(row, k->opts);
  json_array_append_new(k->rows, row);
}

/* The series of one metric, one per value of `dim`, as dashboard rows. */
static void add_series(tw_cw_call *c, json_t *rows, const char *ns, const char *metric,
                       const char *dim, const char *stat) {
  /* AWS/ApiGateway: the API's totals (ApiName), not each route's */
  collect k = {rows, metric,
               dim,  stat ? json_pack("{s:s}", "stat", stat) : NULL,
               100,  !strcmp(ns, "AWS/ApiGateway")};
  tw_metric_list_filter f = {.ns = ns, .name = metric, .limit = 500};
  char next[64];
  tw_metrics_list(c->metrics, &f, collect_one, &k, next, sizeof next);
  json_decref(k.opts);
}

static json_t *widget(const char *region, const char *title, int x, int y, int w, int h,
                      json_t *metrics /* stolen */, const char *stat, int period) {
  return json_pack("{s:s,s:i,s:i,s:i,s:i,s:{s:s,s:o,s:s,s:i,s:s,s:s,s:b}}", "type", "metric", "x",
                   x, "y", y, "width", w, "height", h, "properties", "title", title, "metrics",
                   metrics, "stat", stat, "period", period, "region", region, "view", "timeSeries",
                   "stacked", 0);
}

/* The built-in dashboard: every queue, bucket, topic, route and worker that
 * has metrics now, in the widgets seed 003 asks for. */
static char *builtin_body(tw_cw_call *c) {
  const char *region = c->region ? c->region : "us-east-1";
  json_t *widgets = json_array();
  json_array_append_new(
      widgets,
      json_pack("{s:s,s:i,s:i,s:i,s:i,s:{s:s}}", "type", "text", "x", 0, "y", 0, "width", 24,
                "height", 2, "properties", "markdown",
                "# tweedle\nRequests, errors and latency per service, queue depth and age, jobs "
                "and workers. Built in: GetDashboard `tweedle` draws it from the metrics that "
                "exist now; PutDashboard `tweedle` replaces it."));
  json_t *req = json_array();
  add_series(c, req, "AWS/S3", "AllRequests", "BucketName", NULL);
  add_series(c, req, "AWS/SQS", "NumberOfMessagesSent", "QueueName", NULL);
  add_series(c, req, "AWS/SNS", "NumberOfMessagesPublished", "TopicName", NULL);
  add_series(c, req, "AWS/ApiGateway", "Count", "ApiName", NULL);
  json_array_append_new(widgets,
                        widget(region, "Requests per service", 0, 2, 8, 6, req, "Sum", 60));
  json_t *err = json_array();
  add_series(c, err, "AWS/S3", "4xxErrors", "BucketName", NULL);
  add_series(c, err, "AWS/S3", "5xxErrors", "BucketName", NULL);
  add_series(c, err, "AWS/SNS", "NumberOfNotificationsFailed", "TopicName", NULL);
  add_series(c, err, "AWS/ApiGateway", "4XXError", "ApiName", NULL);
  add_series(c, err, "AWS/ApiGateway", "5XXError", "ApiName", NULL);
  json_array_append_new(widgets, widget(region, "Errors per service", 8, 2, 8, 6, err, "Sum", 60));
  json_t *lat = json_array();
  add_series(c, lat, "AWS/S3", "TotalRequestLatency", "BucketName", "p99");
  add_series(c, lat, "AWS/ApiGateway", "Latency", "ApiName", "p99");
  json_array_append_new(widgets, widget(region, "Latency (p99, ms)", 16, 2, 8, 6, lat, "p99", 60));
  json_t *depth = json_array();
  add_series(c, depth, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", NULL);
  add_series(c, depth, "AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", NULL);
  json_array_append_new(widgets, widget(region, "Queue depth", 0, 8, 12, 6, depth, "Maximum", 60));
  json_t *age = json_array();
  add_series(c, age, "AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", NULL);
  json_array_append_new(
      widgets, widget(region, "Age of oldest message (s)", 12, 8, 12, 6, age, "Maximum", 60));
  /* the job API (builtin.c): what happened to jobs (totals over every type), and how
   * many are in each status now */
  json_t *jobs = json_array();
  const char *events[] = {"JobsSubmitted", "JobsSucceeded", "JobsFailed"};
  for (int i = 0; i < 3; i++)
    json_array_append_new(jobs, json_pack("[s,s]", "tweedle/Jobs", events[i]));
  json_array_append_new(
      widgets, widget(region, "Jobs submitted, succeeded, failed", 0, 14, 12, 6, jobs, "Sum", 60));
  json_t *st = json_array();
  const char *statuses[] = {"queued", "running", "succeeded", "failed"};
  for (int i = 0; i < 4; i++)
    json_array_append_new(st,
                          json_pack("[s,s,s,s]", "tweedle/Jobs", "Jobs", "Status", statuses[i]));
  json_array_append_new(widgets,
                        widget(region, "Jobs by status", 12, 14, 12, 6, st, "Maximum", 60));
  /* workers (tweedle worker --name: wmetrics.c), one series per FunctionName */
  const char *wm[][2] = {{"Invocations", "Sum"}, {"Errors", "Sum"}, {"Duration", "p99"}};
  for (int i = 0; i < 3; i++) {
    json_t *w = json_array();
    add_series(c, w, "tweedle/Worker", wm[i][0], "FunctionName", NULL);
    if (!json_array_size(w))
      json_array_append_new(w, json_pack("[s,s]", "tweedle/Worker", wm[i][0]));
    char title[64];
    snprintf(title, sizeof title, "Worker %s", wm[i][0]);
    json_array_append_new(widgets, widget(region, title, 8 * i, 20, 8, 6, w, wm[i][1], 60));
  }
  json_t *doc = json_pack("{s:o}", "widgets", widgets);
  char *s = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  return s;
}

tw_err tw_cw_get_dashboard(tw_cw_call *c) {
  const char *name = NULL;
  if (tw_cw_get_str(c->in, "DashboardName", &name) != 1)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter DashboardName is required.");
  tw_alarms *a = c->alarms;
  tw_alarms_lock(a);
  json_t *d = json_object_get(tw_alarms_dashboards(a), name);
  char *body = d ? strdup(json_string_value(json_object_get(d, "Body"))) : NULL;
  tw_alarms_unlock(a);
  if (!body && !strcmp(name, BUILTIN)) body = builtin_body(c);
  if (!body)
    return tw_cw_fail(c, TW_ERR_CW_DASHBOARD_NOT_FOUND, "Dashboard %.300s does not exist", name);
  char arn[512];
  dashboard_arn(c, name, arn, sizeof arn);
  c->out =
      json_pack("{s:s,s:s,s:s}", "DashboardArn", arn, "DashboardBody", body, "DashboardName", name);
  free(body);
  c->seen_ticket = tw_store_ticket(c->store);
  return TW_ERR_OK;
}

static int cmp_str(const void *x, const void *y) {
  return strcmp(*(const char *const *)x, *(const char *const *)y);
}

tw_err tw_cw_list_dashboards(tw_cw_call *c) {
  const char *prefix = NULL, *token = NULL;
  tw_cw_get_str(c->in, "DashboardNamePrefix", &prefix);
  if (prefix && *prefix && !valid_dashboard_name(prefix))
    return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                      "The value %.300s for parameter DashboardNamePrefix is invalid.", prefix);
  tw_cw_get_str(c->in, "NextToken", &token);
  if (token && *token && strncmp(token, "ld1-", 4))
    return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                      "The value %.300s for parameter NextToken is invalid.", token);
  const char *after = token && *token ? token + 4 : NULL;
  tw_alarms *a = c->alarms;
  json_t *out = json_array();
  char next[300] = "";
  tw_alarms_lock(a);
  json_t *all = tw_alarms_dashboards(a);
  size_t n = json_object_size(all), k = 0;
  const char **names = malloc((n + 2) * sizeof *names);
  const char *name;
  json_t *d;
  int builtin_stored = 0;
  json_object_foreach(all, name, d) {
    names[k++] = name;
    builtin_stored |= !strcmp(name, BUILTIN);
  }
  if (!builtin_stored) names[k++] = BUILTIN;
  qsort(names, k, sizeof *names, cmp_str);
  for (size_t i = 0; i < k; i++) {
    if (after && strcmp(names[i], after) <= 0) continue;
    if (prefix && strncmp(names[i], prefix, strlen(prefix))) continue;
    if (json_array_size(out) == 1000) {
      snprintf(next, sizeof next, "ld1-%.250s", names[i - 1]);
      break;
    }
    char arn[512];
    dashboard_arn(c, names[i], arn, sizeof arn);
    d = json_object_get(all, names[i]);
    double mod = d ? json_number_value(json_object_get(d, "LastModified"))
                   : floor((double)tw_alarms_now_ms(a) / 1000.0);
    long long size = d ? (long long)strlen(json_string_value(json_object_get(d, "Body"))) : 0;
    if (!d) {
      char *b = builtin_body(c);
      size = (long long)strlen(b);
      free(b);
    }
    json_array_append_new(
        out, json_pack("{s:s,s:s,s:f,s:I}", "DashboardName", names[i], "DashboardArn", arn,
                       "LastModified", mod, "Size", (json_int_t)size));
  }
  free(names);
  tw_alarms_unlock(a);
  c->out = json_pack("{s:o}", "DashboardEntries", out);
  if (next[0]) json_object_set_new(c->out, "NextToken", json_string(next));
  c->seen_ticket = tw_store_ticket(c->store);
  return TW_ERR_OK;
}

tw_err tw_cw_delete_dashboards(tw_cw_call *c) {
  int badl;
  const json_t *names = tw_cw_get_list(c->in, "DashboardNames", &badl);
  if (badl || !names || !json_array_size(names))
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter DashboardNames is required.");
  tw_alarms *a = c->alarms;
  tw_alarms_lock(a);
  json_t *all = tw_alarms_dashboards(a);
  size_t i;
  json_t *v;
  /* all or nothing: an unknown name deletes none */
  json_array_foreach(names, i, v) {
    const char *n = json_string_value(v);
    if (!n || !json_object_get(all, n)) {
      tw_alarms_unlock(a);
      return tw_cw_fail(c, TW_ERR_CW_DASHBOARD_NOT_FOUND, "Dashboard %.300s does not exist",
                        n ? n : "");
    }
  }
  tw_store *st = tw_alarms_store(a);
  tw_store_hold(st);
  json_array_foreach(names, i, v) {
    const char *n = json_string_value(v);
    if (!json_object_get(all, n)) continue;
    c->ticket = tw_store_cw_alarms(st)->dashboard_delete(st, n);
    json_object_del(all, n);
  }
  tw_store_release(st);
  tw_alarms_unlock(a);
  c->out = json_object();
  return TW_ERR_OK;
}
