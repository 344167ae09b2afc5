/* The console's other routes:
 *
 *   GET  /api/session                  who is logged in, the CSRF token
 *   GET  /api/overview                 version, uptime, data directory, alarms
 *   GET  /api/jobs?status=&type=&before=  the gateway's jobs, newest first
 *   GET  /api/jobs/ID                  one job and its timeline
 *   GET  /api/dashboards               names (the built-in `tweedle` first)
 *   GET  /api/dashboards/NAME          the body
 *   POST /api/metric-data              GetMetricData's input, its output
 *   GET  /api/log-groups               the log groups
 *   GET  /api/logs?group=&filter=&minutes=  the last events of a group, filtered */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "console/console_internal.h"
#include "core/clock.h"
#include "core/version.h"
#include "gateway/gateway.h"
#include "logs/logs.h"
#include "monitoring/cw_alarms.h"
#include "monitoring/cw_front.h"
#include "store/gw_jobs.h"

/* --- the data directory's size: walked at most every 10 s, bounded ----------------- */

#define DU_MAX_FILES 500000
#define DU_EVERY_MS 10000

static pthread_mutex_t g_du_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t g_du_at, g_du_bytes, g_du_files;
static int g_du_partial;
static _Thread_local int64_t t_bytes, t_files;

static int du_cb(const char *path, const struct stat *st, int flag, struct FTW *f) {
  (void)path, (void)f;
  if (flag == FTW_F) {
    t_bytes += (int64_t)st->st_blocks * 512;
    if (++t_files >= DU_MAX_FILES) return 1;
  }
  return 0;
}

static void data_dir_size(const char *dir, int64_t *bytes, int64_t *files, int *partial) {
  pthread_mutex_lock(&g_du_mu);
  int64_t now = tw_mono_ms();
  if (!g_du_at || now - g_du_at > DU_EVERY_MS) {
    t_bytes = t_files = 0;
    int rc = nftw(dir, du_cb, 16, FTW_PHYS);
    g_du_bytes = t_bytes;
    g_du_files = t_files;
    g_du_partial = rc != 0;
    g_du_at = now;
  }
  *bytes = g_du_bytes;
  *files = g_du_files;
  *partial = g_du_partial;
  pthread_mutex_unlock(&g_du_mu);
}

/* --- CloudWatch and Logs operations, run in process --------------------------------- */

/* Runs the CloudWatch operation; its output (new reference) or NULL after answering. */
static json_t *cw_run(tw_request *r, const char *op_name, json_t *in /* stolen */, uint64_t *seen) {
  const tw_cw_op *op = tw_cw_find_op(op_name);
  if (!op || !r->app->metrics) {
    json_decref(in);
    tw_console_error(r, 503, "Unavailable", "Metrics are not running.");
    return NULL;
  }
  tw_cw_call c = {.metrics = r->app->metrics,
                  .store = tw_console_store(r->app),
                  .account = r->app->cfg.account,
                  .alarms = r->app->alarms,
                  .region = r->app->cfg.region,
                  .in = in};
  /* cluster mode: alarms and dashboards as committed by every node (as cw_http.c) */
  int alarm_op = r->app->alarms && tw_cw_alarm_find_op(op_name) != NULL;
  if (alarm_op && tw_alarms_sync(r->app->alarms)) {
    json_decref(in);
    tw_console_error(r, 503, "ServiceUnavailable", "The store cannot be reached; try again.");
    return NULL;
  }
  if (alarm_op) tw_alarms_call_begin(r->app->alarms);
  c.err = op->run(&c);
  if (alarm_op) tw_alarms_call_end(r->app->alarms, c.ticket);
  json_decref(in);
  json_decref(c.err_extra);
  if (c.err != TW_ERR_OK) {
    json_decref(c.out);
    const tw_err_info *info = tw_err_get(c.err);
    tw_console_error(r, info->http_status, info->code, c.msg[0] ? c.msg : info->message);
    return NULL;
  }
  if (seen) *seen = c.ticket > c.seen_ticket ? c.ticket : c.seen_ticket;
  return c.out ? c.out : json_object();
}

static json_t *logs_run(tw_request *r, const char *op, json_t *in /* stolen */, uint64_t *seen) {
  tw_logs_call c = {.logs = r->app->logs, .in = in};
  int rc = tw_logs_run(&c, op);
  json_decref(in);
  if (rc < 0 || c.err != TW_ERR_OK) {
    json_decref(c.out);
    const tw_err_info *info = tw_err_get(rc < 0 ? TW_ERR_INTERNAL : c.err);
    tw_console_error(r, info->http_status, info->code, c.msg[0] ? c.msg : info->message);
    return NULL;
  }
  if (seen) *seen = c.ticket > c.seen_ticket ? c.ticket : c.seen_ticket;
  return c.out ? c.out : json_object();
}

static void overview(tw_request *r) {
  const char *dir = r->app->cfg.data_dir;
  int64_t bytes = 0, files = 0;
  int partial = 0;
  data_dir_size(dir, &bytes, &files, &partial);
  struct statvfs vfs;
  json_t *disk = json_pack("{s:s,s:I,s:I,s:b}", "path", dir, "bytes", (json_int_t)bytes, "files",
                           (json_int_t)files, "partial", partial);
  if (!statvfs(dir, &vfs)) {
    json_object_set_new(disk, "free_bytes",
                        json_integer((json_int_t)vfs.f_bavail * (json_int_t)vfs.f_frsize));
    json_object_set_new(disk, "total_bytes",
                        json_integer((json_int_t)vfs.f_blocks * (json_int_t)vfs.f_frsize));
  }
  uint64_t seen = 0;
  json_t *alarms = cw_run(r, "DescribeAlarms", json_pack("{s:i}", "MaxRecords", 100), &seen);
  if (!alarms) {
    json_decref(disk);
    return;
  }
  json_t *list = json_array(), *a;
  size_t i;
  json_array_foreach(json_object_get(alarms, "MetricAlarms"), i, a) {
    json_array_append_new(
        list,
        json_pack("{s:O?,s:O?,s:O?,s:O?}", "name", json_object_get(a, "AlarmName"), "state",
                  json_object_get(a, "StateValue"), "reason", json_object_get(a, "StateReason"),
                  "metric", json_object_get(a, "MetricName")));
  }
  json_decref(alarms);
  int64_t now = tw_now_ms();
  json_t *doc =
      json_pack("{s:s,s:I,s:I,s:o,s:o,s:s,s:s}", "version", TW_VERSION, "started",
                (json_int_t)tw_console_started_ms(), "uptime_s",
                (json_int_t)((now - tw_console_started_ms()) / 1000), "data", disk, "alarms", list,
                "region", r->app->cfg.region, "account", r->app->cfg.account);
  tw_console_json_after(r, 0, seen, 200, doc);
}

/* --- jobs ---------------------------------------------------------------------------- */

static void iso(int64_t ms, char out[32]) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

static json_t *job_json(const tw_gw_job_row *j) {
  json_t *o = json_pack("{s:s,s:s,s:s,s:i,s:I}", "id", j->id, "type", j->type, "status", j->status,
                        "attempts", j->attempts, "created", (json_int_t)j->created_ms);
  if (j->started_ms) json_object_set_new(o, "started", json_integer(j->started_ms));
  if (j->finished_ms) json_object_set_new(o, "finished", json_integer(j->finished_ms));
  if (j->error) json_object_set_new(o, "error", json_string(j->error));
  if (j->result_bucket)
    json_object_set_new(o, "result",
                        json_pack("{s:s,s:s?}", "bucket", j->result_bucket, "key", j->result_key));
  return o;
}

static int job_cb(void *ud, const tw_gw_job_row *row) {
  json_t *o = job_json(row);
  json_object_set_new(o, "seq", json_integer(row->seq));
  json_array_append_new(ud, o);
  return 0;
}

static void jobs_list(tw_request *r) {
  char *status = tw_req_query_param(r, "status");
  char *type = tw_req_query_param(r, "type");
  char *before = tw_req_query_param(r, "before");
  tw_gw_job_filter f = {.status = status && *status ? status : NULL,
                        .type = type && *type ? type : NULL,
                        .before_seq = before ? atoll(before) : 0,
                        .limit = 50};
  json_t *arr = json_array();
  tw_store *st = tw_console_store(r->app);
  int rc = tw_store_gw_jobs(st)->list(st, &f, job_cb, arr);
  free(status);
  free(type);
  free(before);
  if (rc < 0) {
    json_decref(arr);
    tw_console_error(r, 500, "InternalError", NULL);
    return;
  }
  json_t *doc = json_pack("{s:o}", "jobs", arr);
  if (json_array_size(arr) == 50)
    json_object_set(doc, "next_before", json_object_get(json_array_get(arr, 49), "seq"));
  tw_console_json(r, 200, doc);
}

static void job_one(tw_request *r, const char *id) {
  tw_gw_job_row j;
  tw_store *st = tw_console_store(r->app);
  int rc = tw_store_gw_jobs(st)->get(st, id, &j);
  if (rc <= 0) {
    tw_console_error(r, rc < 0 ? 500 : 404, rc < 0 ? "InternalError" : "NotFound",
                     rc < 0 ? NULL : "No such job.");
    return;
  }
  json_t *o = job_json(&j);
  json_t *tl = json_array();
  char t[32];
  iso(j.created_ms, t);
  json_array_append_new(
      tl, json_pack("{s:s,s:s,s:I}", "event", "queued", "at", t, "ms", (json_int_t)j.created_ms));
  if (j.started_ms) {
    iso(j.started_ms, t);
    json_array_append_new(tl, json_pack("{s:s,s:s,s:I,s:i}", "event", "running", "at", t, "ms",
                                        (json_int_t)j.started_ms, "attempt", j.attempts));
  }
  if (j.finished_ms) {
    iso(j.finished_ms, t);
    json_array_append_new(tl, json_pack("{s:s,s:s,s:I,s:s?}", "event", j.status, "at", t, "ms",
                                        (json_int_t)j.finished_ms, "error", j.error));
  }
  json_object_set_new(o, "timeline", tl);
  tw_gw_job_row_free(&j);
  tw_console_json(r, 200, o);
}

/* --- dashboards, metrics, logs --------------------------------------------------------- */

static void dashboards(tw_request *r) {
  uint64_t seen = 0;
  json_t *out = cw_run(r, "ListDashboards", json_object(), &seen);
  if (!out) return;
  json_t *names = json_array(), *d;
  size_t i;
  json_array_append_new(names, json_string("tweedle"));
  json_array_foreach(json_object_get(out, "DashboardEntries"), i, d) {
    const char *n = json_string_value(json_object_get(d, "DashboardName"));
    if (n && strcmp(n, "tweedle")) json_array_append_new(names, json_string(n));
  }
  json_decref(out);
  tw_console_json_after(r, 0, seen, 200, json_pack("{s:o}", "dashboards", names));
}

static void dashboard(tw_request *r, const char *name) {
  uint64_t seen = 0;
  json_t *out = cw_run(r, "GetDashboard", json_pack("{s:s}", "DashboardName", name), &seen);
  if (!out) return;
  const char *body = json_string_value(json_object_get(out, "DashboardBody"));
  json_t *parsed = body ? json_loads(body, 0, NULL) : NULL;
  json_t *doc = json_pack("{s:s,s:o}", "name", name, "body", parsed ? parsed : json_object());
  json_decref(out);
  tw_console_json_after(r, 0, seen, 200, doc);
}

static void metric_data(tw_request *r) {
  json_t *in = tw_console_body(r);
  if (!in) return;
  uint64_t seen = 0;
  json_t *out = cw_run(r, "GetMetricData", in, &seen);
  if (out) tw_console_json_after(r, 0, seen, 200, out);
}

static void log_groups(tw_request *r) {
  uint64_t seen = 0;
  json_t *out = logs_run(r, "DescribeLogGroups", json_pack("{s:i}", "limit", 50), &seen);
  if (out) tw_console_json_after(r, 0, seen, 200, out);
}

static void log_events(tw_request *r) {
  char *group = tw_req_query_param(r, "group");
  char *filter = tw_req_query_param(r, "filter");
  char *minutes = tw_req_query_param(r, "minutes");
  if (!group || !*group) {
    free(group);
    free(filter);
    free(minutes);
    tw_console_error(r, 400, "BadRequest", "group is required.");
    return;
  }
  long m = minutes ? atol(minutes) : 60;
  if (m < 1) m = 1;
  json_t *in = json_pack("{s:s,s:I,s:i}", "logGroupName", group, "startTime",
                         (json_int_t)(tw_now_ms() - (int64_t)m * 60000), "limit", 200);
  if (filter && *filter) json_object_set_new(in, "filterPattern", json_string(filter));
  free(group);
  free(filter);
  free(minutes);
  uint64_t seen = 0;
  json_t *out = logs_run(r, "FilterLogEvents", in, &seen);
  if (out) tw_console_json_after(r, 0, seen, 200, out);
}

int tw_console_api_misc(tw_request *r, const tw_console_who *who, const char *sub) {
  int get = !strcmp(r->method, "GET"), post = !strcmp(r->method, "POST");
  if (!strcmp(sub, "/session") && get) {
    tw_console_json(r, 200, json_pack("{s:s,s:s}", "principal", who->principal, "csrf", who->csrf));
  } else if (!strcmp(sub, "/overview") && get) {
    overview(r);
  } else if (!strcmp(sub, "/jobs") && get) {
    jobs_list(r);
  } else if (!strncmp(sub, "/jobs/", 6) && get && strlen(sub + 6) < 37 && !strchr(sub + 6, '/')) {
    job_one(r, sub + 6);
  } else if (!strcmp(sub, "/dashboards") && get) {
    dashboards(r);
  } else if (!strncmp(sub, "/dashboards/", 12) && get) {
    const char *rest;
    char *name = tw_console_segment(sub + 12, &rest);
    if (!name || *rest) {
      free(name);
      return 0;
    }
    dashboard(r, name);
    free(name);
  } else if (!strcmp(sub, "/metric-data") && post) {
    metric_data(r);
  } else if (!strcmp(sub, "/log-groups") && get) {
    log_groups(r);
  } else if (!strcmp(sub, "/logs") && get) {
    log_events(r);
  } else {
    return 0;
  }
  return 1;
}
