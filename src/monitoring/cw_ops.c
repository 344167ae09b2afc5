/* CloudWatch's metric operations: PutMetricData, GetMetricStatistics,
 * ListMetrics (GetMetricData is in cw_math.c). Each checks its request as
 * CloudWatch does, with its error codes and messages (parameter names in the
 * query protocol's spelling, which CloudWatch uses in every protocol), then
 * calls the engine (metrics.h). */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monitoring/cw_front.h"

tw_err tw_cw_fail(tw_cw_call *c, tw_err e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->msg, sizeof c->msg, fmt, ap);
  va_end(ap);
  c->err = e;
  return e;
}

/* --- reading the request ------------------------------------------------------------ */

int tw_cw_get_str(const json_t *o, const char *key, const char **out) {
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_string(v)) return -1;
  *out = json_string_value(v);
  return 1;
}

static int num_of(const json_t *v, double *out) {
  if (json_is_number(v)) {
    *out = json_number_value(v);
    return 1;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    char *end;
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return -1;
    double d = strtod(s, &end); /* also "NaN" and "Infinity", refused by the callers */
    if (*end) return -1;
    *out = d;
    return 1;
  }
  return -1;
}

int tw_cw_get_num(const json_t *o, const char *key, double *out) {
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v)) return 0;
  return num_of(v, out);
}

int tw_cw_get_int(const json_t *o, const char *key, long long *out) {
  double d;
  int rc = tw_cw_get_num(o, key, &d);
  if (rc != 1) return rc;
  if (!isfinite(d) || d != floor(d) || fabs(d) > 9.2e18) return -1;
  *out = (long long)d;
  return 1;
}

int tw_cw_get_bool(const json_t *o, const char *key, int *out) {
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v)) return 0;
  if (json_is_boolean(v)) {
    *out = json_is_true(v);
    return 1;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (!strcmp(s, "true"))
      *out = 1;
    else if (!strcmp(s, "false"))
      *out = 0;
    else
      return -1;
    return 1;
  }
  return -1;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

int tw_cw_parse_iso8601(const char *s, double *out) {
  int Y, M, D, h = 0, mi = 0, n = 0;
  double sec = 0;
  if (sscanf(s, "%4d-%2d-%2d%n", &Y, &M, &D, &n) != 3 || n != 10) return -1;
  const char *p = s + n;
  if (*p == 'T' || *p == 't' || *p == ' ') {
    p++;
    int m2 = 0;
    if (sscanf(p, "%2d:%2d%n", &h, &mi, &m2) != 2 || m2 != 5) return -1;
    p += m2;
    if (*p == ':') {
      p++;
      char *end;
      sec = strtod(p, &end);
      if (end == p || !isdigit((unsigned char)*p)) return -1;
      p = end;
    }
  }
  int off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om = 0, m3 = 0;
    int sign = *p == '-' ? -1 : 1;
    p++;
    if (sscanf(p, "%2d:%2d%n", &oh, &om, &m3) == 2 && m3 == 5)
      p += m3;
    else if (sscanf(p, "%2d%2d%n", &oh, &om, &m3) == 2 && m3 == 4)
      p += m3;
    else
      return -1;
    off = sign * (oh * 3600 + om * 60);
  }
  if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || sec < 0 || sec >= 61)
    return -1;
  *out = (double)(days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + mi * 60) + sec -
         off;
  return 0;
}

void tw_cw_format_iso8601(double t, char *out, size_t n) {
  time_t sec = (time_t)floor(t);
  double frac = t - (double)sec;
  struct tm tm;
  gmtime_r(&sec, &tm);
  if (frac > 0.0005) {
    int ms = (int)(frac * 1000 + 0.5);
    if (ms > 999) ms = 999;
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  } else {
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
}

void tw_cw_format_double(double v, char *out, size_t n) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(out, n, "%.*g", prec, v);
    if (strtod(out, NULL) == v) return;
  }
}

int tw_cw_get_time(const json_t *o, const char *key, double *out) {
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v)) return 0;
  if (json_is_number(v)) {
    *out = json_number_value(v);
    return isfinite(*out) ? 1 : -1;
  }
  if (!json_is_string(v)) return -1;
  const char *s = json_string_value(v);
  if (tw_cw_parse_iso8601(s, out) == 0) return 1;
  char *end;
  double d = strtod(s, &end); /* epoch seconds as text */
  if (*s && !*end && isfinite(d)) {
    *out = d;
    return 1;
  }
  return -1;
}

static json_t *g_empty;
static pthread_once_t g_empty_once = PTHREAD_ONCE_INIT;
static void make_empty(void) {
  g_empty = json_array();
}
static const json_t *empty_list(void) {
  pthread_once(&g_empty_once, make_empty);
  return g_empty;
}

const json_t *tw_cw_get_list(const json_t *o, const char *key, int *bad) {
  json_t *v = json_object_get(o, key);
  *bad = 0;
  if (!v || json_is_null(v)) return NULL;
  if (json_is_array(v)) return v;
  if (json_is_string(v) && !*json_string_value(v)) /* "Key=" : an empty list */
    return empty_list();
  *bad = 1;
  return NULL;
}

void tw_cw_value_text(const json_t *v, char *out, size_t n) {
  if (json_is_string(v))
    snprintf(out, n, "%s", json_string_value(v));
  else if (json_is_number(v))
    tw_cw_format_double(json_number_value(v), out, n);
  else if (json_is_boolean(v))
    snprintf(out, n, "%s", json_is_true(v) ? "true" : "false");
  else
    snprintf(out, n, "(a structure)");
}

/* --- validation messages: CloudWatch lists every problem of the first kind --------- */

typedef struct {
  tw_err code;
  int n;
  tw_buf text;
} problems;

static void problem(problems *p, tw_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(problems *p, tw_err e, const char *fmt, ...) {
  if (p->n && e != p->code) return;
  if (p->n >= 20) return;
  if (!p->n) p->code = e;
  char line[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (p->n) tw_buf_putc(&p->text, '\n');
  tw_buf_puts(&p->text, line);
  p->n++;
}

static tw_err problems_done(tw_cw_call *c, problems *p) {
  tw_err e = TW_ERR_OK;
  if (p->n) e = tw_cw_fail(c, p->code, "%s", tw_buf_cstr(&p->text));
  tw_buf_free(&p->text);
  return e;
}

static int ascii_text(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) return 0;
  return 1;
}

static int all_space(const char *s) {
  for (; *s; s++)
    if (!isspace((unsigned char)*s)) return 0;
  return 1;
}

/* Namespace as CloudWatch takes it: 1-255 ASCII characters, not starting with
 * ':'; `put` refuses the AWS/ namespaces. */
static void check_namespace(problems *p, const json_t *in, int put, const char **ns) {
  int rc = tw_cw_get_str(in, "Namespace", ns);
  if (rc == 0) {
    problem(p, TW_ERR_MISSING_PARAMETER, "The parameter Namespace is required.");
    return;
  }
  char text[300];
  if (rc < 0) {
    tw_cw_value_text(json_object_get(in, "Namespace"), text, sizeof text);
    problem(p, TW_ERR_INVALID_PARAMETER_VALUE, "The value %s for parameter Namespace is invalid.",
            text);
    return;
  }
  if (!**ns || strlen(*ns) > 255 || **ns == ':' || !ascii_text(*ns) ||
      (put && !strncmp(*ns, "AWS/", 4)))
    problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The value %.300s for parameter Namespace is invalid.", *ns);
}

/* Dimensions (list of Name/Value) into dims[]; `filter`: Value optional. */
static size_t check_dims(problems *p, const json_t *o, const char *prefix, int filter, int max,
                         tw_metric_dim *dims) {
  int bad;
  const json_t *list = tw_cw_get_list(o, "Dimensions", &bad);
  if (bad) {
    problem(p, TW_ERR_INVALID_PARAMETER_VALUE, "The parameter %sDimensions is invalid.", prefix);
    return 0;
  }
  size_t n = list ? json_array_size(list) : 0;
  if ((int)n > max) {
    problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The collection %sDimensions must not have a size greater than %d.", prefix, max);
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    const json_t *d = json_array_get(list, i);
    const char *name = NULL, *value = NULL;
    int rn = tw_cw_get_str(d, "Name", &name), rv = tw_cw_get_str(d, "Value", &value);
    if (rn <= 0) {
      problem(p, TW_ERR_MISSING_PARAMETER,
              "The parameter %sDimensions.member.%zu.Name is required.", prefix, i + 1);
      continue;
    }
    if (rv < 0 || (rv == 0 && !filter)) {
      problem(p, TW_ERR_MISSING_PARAMETER,
              "The parameter %sDimensions.member.%zu.Value is required.", prefix, i + 1);
      continue;
    }
    if (!*name || strlen(name) > 255 || *name == ':' || !ascii_text(name) || all_space(name)) {
      problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
              "The value %.300s for parameter %sDimensions.member.%zu.Name is invalid.", name,
              prefix, i + 1);
      continue;
    }
    if (value && (!*value || strlen(value) > 1024 || !ascii_text(value) || all_space(value))) {
      problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
              "The value %.300s for parameter %sDimensions.member.%zu.Value is invalid.", value,
              prefix, i + 1);
      continue;
    }
    for (size_t j = 0; j < i; j++)
      if (dims[j].name && !strcmp(dims[j].name, name)) {
        problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
                "No metric may specify the same dimension name twice.");
        break;
      }
    dims[i].name = name;
    dims[i].value = value;
  }
  return n;
}

static int check_unit(problems *p, const json_t *o, const char *prefix, int *unit) {
  const char *u;
  int rc = tw_cw_get_str(o, "Unit", &u);
  if (rc == 0) return 0;
  if (rc < 0 || (*unit = tw_metric_unit_parse(u)) < 0) {
    char text[300];
    tw_cw_value_text(json_object_get(o, "Unit"), text, sizeof text);
    problem(p, TW_ERR_INVALID_PARAMETER_VALUE, "The value %s for parameter %sUnit is invalid.",
            text, prefix);
    return -1;
  }
  return 1;
}

/* A datapoint value: a finite double within +-2^360 and not smaller than
 * 2^-360 in magnitude (zero aside). */
static int value_ok(double v) {
  double a = fabs(v);
  return isfinite(v) && a <= 0x1p360 && (a == 0 || a >= 0x1p-360);
}

static void value_text(const json_t *v, char *out, size_t n) {
  double d;
  if (num_of(v, &d) == 1 && isnan(d))
    snprintf(out, n, "NaN");
  else if (num_of(v, &d) == 1 && isinf(d))
    snprintf(out, n, "%sInfinity", d < 0 ? "-" : "");
  else
    tw_cw_value_text(v, out, n);
}

/* --- PutMetricData ------------------------------------------------------------------- */

typedef struct {
  tw_metric_datum *d;
  tw_metric_dim *dims;     /* 30 per datum */
  double *values, *counts; /* 150 per datum */
  tw_metric_statset *stats;
  size_t n;
} put_buf;

static void put_buf_free(put_buf *b) {
  free(b->d);
  free(b->dims);
  free(b->values);
  free(b->counts);
  free(b->stats);
}

static void check_datum(problems *p, const json_t *md, const char *prefix, const char *ns,
                        int64_t now_s, put_buf *b) {
  tw_metric_datum *d = &b->d[b->n];
  tw_metric_dim *dims = b->dims + b->n * TW_METRICS_MAX_DIMS;
  double *values = b->values + b->n * TW_METRICS_MAX_VALUES;
  double *counts = b->counts + b->n * TW_METRICS_MAX_VALUES;
  memset(d, 0, sizeof *d);
  memset(dims, 0, TW_METRICS_MAX_DIMS * sizeof *dims);
  d->ns = ns;
  d->unit = TW_UNIT_NONE;
  char text[300];
  if (!json_is_object(md)) {
    problem(p, TW_ERR_INVALID_PARAMETER_VALUE, "The parameter %s is invalid.", prefix);
    return;
  }
  int rc = tw_cw_get_str(md, "MetricName", &d->name);
  if (rc == 0)
    problem(p, TW_ERR_MISSING_PARAMETER, "The parameter %s.MetricName is required.", prefix);
  else if (rc < 0 || !*d->name || strlen(d->name) > 255)
    problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The value %.300s for parameter %s.MetricName is invalid.", rc < 0 ? "" : d->name,
            prefix);
  char dp[300];
  snprintf(dp, sizeof dp, "%s.", prefix);
  d->dims = dims;
  d->ndims = check_dims(p, md, dp, 0, TW_METRICS_MAX_DIMS, dims);
  check_unit(p, md, dp, &d->unit);
  long long res = 60;
  rc = tw_cw_get_int(md, "StorageResolution", &res);
  if (rc < 0 || (rc == 1 && res != 1 && res != 60)) {
    tw_cw_value_text(json_object_get(md, "StorageResolution"), text, sizeof text);
    problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The value %s for parameter %s.StorageResolution is invalid.", text, prefix);
  }
  d->high_res = res == 1;
  double ts = 0;
  rc = tw_cw_get_time(md, "Timestamp", &ts);
  if (rc < 0) {
    tw_cw_value_text(json_object_get(md, "Timestamp"), text, sizeof text);
    problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The value %s for parameter %s.Timestamp is invalid.", text, prefix);
  } else if (rc == 1) {
    if (ts < (double)(now_s - TW_METRICS_PAST_S))
      problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
              "The parameter %s.Timestamp must specify a time within the past two weeks.", prefix);
    else if (ts > (double)(now_s + TW_METRICS_FUTURE_S))
      problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
              "The parameter %s.Timestamp must specify a time no more than two hours in the "
              "future.",
              prefix);
    d->ts = ts == 0 ? 1e-9 : ts;
  }
  json_t *jv = json_object_get(md, "Value"), *js = json_object_get(md, "StatisticValues");
  int bad_values, bad_counts;
  const json_t *jvals = tw_cw_get_list(md, "Values", &bad_values);
  const json_t *jcounts = tw_cw_get_list(md, "Counts", &bad_counts);
  if (json_is_null(jv)) jv = NULL;
  if (json_is_null(js)) js = NULL;
  if (jv && jvals)
    problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The parameters %s.Value and %s.Values are mutually exclusive and you have specified "
            "both.",
            prefix, prefix);
  if (jv && js)
    problem(p, TW_ERR_CW_INVALID_PARAMETER_COMBINATION,
            "The parameters %s.Value and %s.StatisticValues are mutually exclusive and you have "
            "specified both.",
            prefix, prefix);
  if (jvals && js)
    problem(p, TW_ERR_CW_INVALID_PARAMETER_COMBINATION,
            "The parameters %s.Values and %s.StatisticValues are mutually exclusive and you have "
            "specified both.",
            prefix, prefix);
  if (bad_values || bad_counts)
    problem(p, TW_ERR_INVALID_PARAMETER_VALUE, "The parameter %s.%s is invalid.", prefix,
            bad_values ? "Values" : "Counts");
  if (jcounts && !jvals)
    problem(p, TW_ERR_CW_INVALID_PARAMETER_COMBINATION,
            "The parameter %s.Counts must be used with %s.Values.", prefix, prefix);
  if (js) {
    tw_metric_statset *s = &b->stats[b->n];
    static const char *names[] = {"SampleCount", "Sum", "Minimum", "Maximum"};
    double *dst[] = {&s->count, &s->sum, &s->min, &s->max};
    int ok = 1;
    for (int i = 0; i < 4; i++) {
      rc = tw_cw_get_num(js, names[i], dst[i]);
      if (rc == 0) {
        problem(p, TW_ERR_MISSING_PARAMETER, "The parameter %s.StatisticValues.%s is required.",
                prefix, names[i]);
        ok = 0;
      } else if (rc < 0 || !value_ok(*dst[i])) {
        value_text(json_object_get(js, names[i]), text, sizeof text);
        problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
                "The value %s for parameter %s.StatisticValues.%s is invalid.", text, prefix,
                names[i]);
        ok = 0;
      }
    }
    if (ok && !(s->count > 0)) {
      tw_cw_format_double(s->count, text, sizeof text);
      problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
              "The value %s for parameter %s.StatisticValues.SampleCount is invalid.", text,
              prefix);
    } else if (ok && s->min > s->max) {
      problem(
          p, TW_ERR_INVALID_PARAMETER_VALUE,
          "The parameter %s.StatisticValues.Minimum must not be greater than %s.StatisticValues."
          "Maximum.",
          prefix, prefix);
    }
    d->stats = s;
  } else if (jvals) {
    size_t nv = json_array_size(jvals);
    if (nv == 0) {
      problem(p, TW_ERR_MISSING_PARAMETER, "The parameter %s.Values is required.", prefix);
    } else if (nv > TW_METRICS_MAX_VALUES) {
      problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
              "The collection %s.Values must not have a size greater than %d.", prefix,
              TW_METRICS_MAX_VALUES);
    } else if (jcounts && json_array_size(jcounts) != nv) {
      problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
              "The parameters %s.Values and %s.Counts must be of the same size.", prefix, prefix);
    } else {
      for (size_t i = 0; i < nv; i++) {
        const json_t *v = json_array_get(jvals, i);
        if (num_of(v, &values[i]) != 1 || !value_ok(values[i])) {
          value_text(v, text, sizeof text);
          problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
                  "The value %s for parameter %s.Values.member.%zu is invalid.", text, prefix,
                  i + 1);
        }
        if (jcounts) {
          const json_t *cv = json_array_get(jcounts, i);
          if (num_of(cv, &counts[i]) != 1 || !isfinite(counts[i]) || counts[i] < 0 ||
              counts[i] > 0x1p360) {
            value_text(cv, text, sizeof text);
            problem(p, TW_ERR_INVALID_PARAMETER_VALUE,
                    "The value %s for parameter %s.Counts.member.%zu is invalid.", text, prefix,
                    i + 1);
          }
        }
      }
      d->values = values;
      d->counts = jcounts ? counts : NULL;
      d->nvalues = nv;
    }
  } else if (jv) {
    if (num_of(jv, &values[0]) != 1 || !value_ok(values[0])) {
      value_text(jv, text, sizeof text);
      problem(p, TW_ERR_INVALID_PARAMETER_VALUE, "The value %s for parameter %s.Value is invalid.",
              text, prefix);
    }
    d->values = values;
    d->nvalues = 1;
  } else {
    problem(p, TW_ERR_MISSING_PARAMETER,
            "The parameter %s.Value, %s.Values or %s.StatisticValues is required.", prefix, prefix,
            prefix);
  }
  b->n++;
}

static tw_err put_metric_data(tw_cw_call *c) {
  problems p = {0};
  tw_buf_init(&p.text, 64 * 1024);
  const char *ns = NULL;
  check_namespace(&p, c->in, 1, &ns);
  int bad_md, bad_emd;
  const json_t *md = tw_cw_get_list(c->in, "MetricData", &bad_md);
  const json_t *emd = tw_cw_get_list(c->in, "EntityMetricData", &bad_emd);
  if (bad_md) problem(&p, TW_ERR_INVALID_PARAMETER_VALUE, "The parameter MetricData is invalid.");
  if (bad_emd)
    problem(&p, TW_ERR_INVALID_PARAMETER_VALUE, "The parameter EntityMetricData is invalid.");
  size_t total = md ? json_array_size(md) : 0;
  size_t nentity = emd ? json_array_size(emd) : 0;
  for (size_t i = 0; i < nentity; i++) {
    int bad;
    const json_t *l = tw_cw_get_list(json_array_get(emd, i), "MetricData", &bad);
    total += l ? json_array_size(l) : 0;
  }
  if (!p.n && total == 0)
    problem(&p, TW_ERR_MISSING_PARAMETER, "The parameter MetricData is required.");
  if (total > TW_METRICS_MAX_DATUMS)
    problem(&p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The collection MetricData must not have a size greater than %d.",
            TW_METRICS_MAX_DATUMS);
  if (nentity > 2)
    problem(&p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The collection EntityMetricData must not have a size greater than 2.");
  if (p.n) return problems_done(c, &p);

  put_buf b = {0};
  b.d = calloc(total, sizeof *b.d);
  b.dims = calloc(total * TW_METRICS_MAX_DIMS, sizeof *b.dims);
  b.values = calloc(total * TW_METRICS_MAX_VALUES, sizeof *b.values);
  b.counts = calloc(total * TW_METRICS_MAX_VALUES, sizeof *b.counts);
  b.stats = calloc(total, sizeof *b.stats);
  if (!b.d || !b.dims || !b.values || !b.counts || !b.stats) {
    put_buf_free(&b);
    tw_buf_free(&p.text);
    return tw_cw_fail(c, TW_ERR_INTERNAL, "Out of memory.");
  }
  int64_t now_s = tw_metrics_now_ms(c->metrics) / 1000;
  char prefix[128];
  for (size_t i = 0; md && i < json_array_size(md); i++) {
    snprintf(prefix, sizeof prefix, "MetricData.member.%zu", i + 1);
    check_datum(&p, json_array_get(md, i), prefix, ns, now_s, &b);
  }
  for (size_t i = 0; i < nentity; i++) {
    int bad;
    const json_t *l = tw_cw_get_list(json_array_get(emd, i), "MetricData", &bad);
    for (size_t j = 0; l && j < json_array_size(l); j++) {
      snprintf(prefix, sizeof prefix, "EntityMetricData.member.%zu.MetricData.member.%zu", i + 1,
               j + 1);
      check_datum(&p, json_array_get(l, j), prefix, ns, now_s, &b);
    }
  }
  tw_err e = problems_done(c, &p);
  if (e == TW_ERR_OK) {
    e = tw_metrics_put(c->metrics, b.d, b.n, &c->ticket, c->msg, sizeof c->msg);
    c->err = e;
  }
  put_buf_free(&b);
  if (e == TW_ERR_OK) c->out = json_object();
  return e;
}

/* --- GetMetricStatistics ------------------------------------------------------------- */

/* Periods CloudWatch takes: 1, 5, 10, 20, 30, or a multiple of 60. */
static int period_ok(long long p) {
  return p == 1 || p == 5 || p == 10 || p == 20 || p == 30 || (p >= 60 && p % 60 == 0);
}

/* StartTime as CloudWatch rounds it (see the API reference). */
static int64_t round_start(double start, long long period, int64_t now_s) {
  int64_t s = (int64_t)floor(start);
  if (period < 60) return s - (((s % period) + period) % period);
  int64_t age = now_s - s, step = age <= 15 * 86400 ? 60 : age <= 63 * 86400 ? 300 : 3600;
  return s - (((s % step) + step) % step);
}

static const char *const basic_stats[] = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"};

static tw_err get_metric_statistics(tw_cw_call *c) {
  problems p = {0};
  tw_buf_init(&p.text, 64 * 1024);
  const char *ns = NULL, *name = NULL;
  check_namespace(&p, c->in, 0, &ns);
  int rc = tw_cw_get_str(c->in, "MetricName", &name);
  if (rc == 0)
    problem(&p, TW_ERR_MISSING_PARAMETER, "The parameter MetricName is required.");
  else if (rc < 0 || !*name || strlen(name) > 255)
    problem(&p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The value %.300s for parameter MetricName is invalid.", rc < 0 ? "" : name);
  double start = 0, end = 0;
  const char *times[] = {"StartTime", "EndTime"};
  double *tv[] = {&start, &end};
  for (int i = 0; i < 2; i++) {
    rc = tw_cw_get_time(c->in, times[i], tv[i]);
    if (rc == 0) problem(&p, TW_ERR_MISSING_PARAMETER, "The parameter %s is required.", times[i]);
    if (rc < 0) {
      char text[300];
      tw_cw_value_text(json_object_get(c->in, times[i]), text, sizeof text);
      problem(&p, TW_ERR_INVALID_PARAMETER_VALUE, "The value %s for parameter %s is invalid.", text,
              times[i]);
    }
  }
  long long period = 0;
  rc = tw_cw_get_int(c->in, "Period", &period);
  if (rc == 0) problem(&p, TW_ERR_MISSING_PARAMETER, "The parameter Period is required.");
  if (rc < 0 || (rc == 1 && period < 1)) {
    char text[300];
    tw_cw_value_text(json_object_get(c->in, "Period"), text, sizeof text);
    problem(&p, TW_ERR_INVALID_PARAMETER_VALUE, "The value %s for parameter Period is invalid.",
            text);
  } else if (rc == 1 && !period_ok(period)) {
    problem(&p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The parameter Period must be 1, 5, 10, 20, 30, or a multiple of 60.");
  }
  tw_metric_dim dims[TW_METRICS_MAX_DIMS] = {{0}};
  size_t ndims = check_dims(&p, c->in, "", 0, TW_METRICS_MAX_DIMS, dims);
  int unit = -1;
  check_unit(&p, c->in, "", &unit);
  int bad_s, bad_x;
  const json_t *stats = tw_cw_get_list(c->in, "Statistics", &bad_s);
  const json_t *xstats = tw_cw_get_list(c->in, "ExtendedStatistics", &bad_x);
  if (bad_s) problem(&p, TW_ERR_INVALID_PARAMETER_VALUE, "The parameter Statistics is invalid.");
  if (bad_x)
    problem(&p, TW_ERR_INVALID_PARAMETER_VALUE, "The parameter ExtendedStatistics is invalid.");
  size_t ns_ = stats ? json_array_size(stats) : 0, nx = xstats ? json_array_size(xstats) : 0;
  if (p.n) return problems_done(c, &p);
  if (ns_ && nx)
    problem(&p, TW_ERR_CW_INVALID_PARAMETER_COMBINATION,
            "The parameters Statistics and ExtendedStatistics are mutually exclusive and you have "
            "specified both.");
  else if (!ns_ && !nx)
    problem(&p, TW_ERR_CW_INVALID_PARAMETER_COMBINATION,
            "Must specify either Statistics or ExtendedStatistics.");
  if (ns_ > 5)
    problem(&p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The collection Statistics must not have a size greater than 5.");
  if (nx > 10)
    problem(&p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The collection ExtendedStatistics must not have a size greater than 10.");
  tw_metric_stat st[10];
  const char *stnames[10];
  size_t nst = 0;
  for (size_t i = 0; i < ns_ && i < 5; i++) {
    const char *s = json_string_value(json_array_get(stats, i));
    int ok = 0;
    for (int k = 0; s && k < 5; k++) ok |= !strcmp(s, basic_stats[k]);
    if (!ok)
      problem(&p, TW_ERR_INVALID_PARAMETER_VALUE,
              "The value %.100s for parameter Statistics.member.%zu is invalid.", s ? s : "",
              i + 1);
    else {
      tw_metric_stat_parse(s, &st[nst]);
      stnames[nst++] = s;
    }
  }
  for (size_t i = 0; i < nx && i < 10; i++) {
    const char *s = json_string_value(json_array_get(xstats, i));
    tw_metric_stat x;
    if (!s || tw_metric_stat_parse(s, &x) || x.kind < TW_STAT_PERCENTILE)
      problem(&p, TW_ERR_INVALID_PARAMETER_VALUE,
              "The value %.100s for parameter ExtendedStatistics.member.%zu is invalid.",
              s ? s : "", i + 1);
    else {
      st[nst] = x;
      stnames[nst++] = s;
    }
  }
  if (!p.n && start == end)
    problem(&p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The parameter StartTime must not equal parameter EndTime.");
  else if (!p.n && start > end)
    problem(&p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The parameter StartTime must be less than the parameter EndTime.");
  if (p.n) return problems_done(c, &p);
  tw_buf_free(&p.text);

  int64_t now_s = tw_metrics_now_ms(c->metrics) / 1000;
  int64_t s0 = round_start(start, period, now_s);
  int64_t e0 = (int64_t)ceil(end);
  int64_t want = (e0 - s0 + period - 1) / period;
  if (want > 1440)
    return tw_cw_fail(c, TW_ERR_CW_INVALID_PARAMETER_COMBINATION,
                      "You have requested up to %lld datapoints, which exceeds the limit of 1440. "
                      "You may reduce the datapoints requested by increasing Period, or decreasing "
                      "the time range.",
                      (long long)want);
  tw_metric_query q = {.ns = ns,
                       .name = name,
                       .dims = dims,
                       .ndims = ndims,
                       .unit = unit,
                       .split_units = unit<0, .want_sketch = nx> 0,
                       .start = s0,
                       .end = (int64_t)ceil(end),
                       .period = (int)period};
  tw_metric_bucket *bk;
  size_t nb;
  if (tw_metrics_query(c->metrics, &q, &bk, &nb))
    return tw_cw_fail(c, TW_ERR_INTERNAL, "The metrics could not be read.");
  json_t *points = json_array();
  for (size_t i = 0; i < nb; i++) {
    json_t *dp = json_object();
    json_object_set_new(dp, "Timestamp", json_integer(bk[i].ts));
    json_t *ext = nx ? json_object() : NULL;
    for (size_t k = 0; k < nst; k++) {
      double v;
      if (!tw_metric_stat_value(&bk[i], &st[k], &v)) continue;
      if (ext)
        json_object_set_new(ext, stnames[k], json_real(v));
      else
        json_object_set_new(dp, stnames[k], json_real(v));
    }
    json_object_set_new(dp, "Unit", json_string(tw_metric_unit_name(bk[i].unit)));
    if (ext) json_object_set_new(dp, "ExtendedStatistics", ext);
    json_array_append_new(points, dp);
  }
  tw_metric_buckets_free(bk, nb);
  c->out = json_pack("{s:s,s:o}", "Label", name, "Datapoints", points);
  return TW_ERR_OK;
}

/* --- ListMetrics --------------------------------------------------------------------- */

static void list_one(void *ud, const char *ns, const char *name, const tw_metric_dim *dims,
                     size_t ndims) {
  json_t *metrics = ud;
  json_t *d = json_array();
  for (size_t i = 0; i < ndims; i++)
    json_array_append_new(d, json_pack("{s:s,s:s}", "Name", dims[i].name, "Value", dims[i].value));
  json_array_append_new(
      metrics, json_pack("{s:s,s:s,s:o}", "Namespace", ns, "MetricName", name, "Dimensions", d));
}

static tw_err list_metrics(tw_cw_call *c) {
  problems p = {0};
  tw_buf_init(&p.text, 64 * 1024);
  tw_metric_list_filter f = {0};
  int rc = tw_cw_get_str(c->in, "Namespace", &f.ns);
  if (rc < 0 || (rc == 1 && (!*f.ns || strlen(f.ns) > 255)))
    problem(&p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The value %.300s for parameter Namespace is invalid.", rc < 0 ? "" : f.ns);
  rc = tw_cw_get_str(c->in, "MetricName", &f.name);
  if (rc < 0 || (rc == 1 && (!*f.name || strlen(f.name) > 255)))
    problem(&p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The value %.300s for parameter MetricName is invalid.", rc < 0 ? "" : f.name);
  tw_metric_dim dims[10] = {{0}};
  f.dims = dims;
  f.ndims = check_dims(&p, c->in, "", 1, 10, dims);
  const char *ra;
  rc = tw_cw_get_str(c->in, "RecentlyActive", &ra);
  if (rc < 0 || (rc == 1 && strcmp(ra, "PT3H")))
    problem(&p, TW_ERR_INVALID_PARAMETER_VALUE,
            "The value %.100s for parameter RecentlyActive is invalid.", rc < 0 ? "" : ra);
  f.recently_active = rc == 1;
  rc = tw_cw_get_str(c->in, "NextToken", &f.after);
  if (rc < 0) problem(&p, TW_ERR_INVALID_PARAMETER_VALUE, "The parameter NextToken is invalid.");
  int linked = 0;
  tw_cw_get_bool(c->in, "IncludeLinkedAccounts", &linked);
  if (p.n) return problems_done(c, &p);
  tw_buf_free(&p.text);
  f.limit = 500;
  json_t *metrics = json_array();
  char next[64];
  int lr = tw_metrics_list(c->metrics, &f, list_one, metrics, next, sizeof next);
  if (lr) {
    json_decref(metrics);
    if (lr == -1)
      return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                        "The value %.200s for parameter NextToken is invalid.", f.after);
    return tw_cw_fail(c, TW_ERR_INTERNAL, "Out of memory.");
  }
  c->out = json_pack("{s:o}", "Metrics", metrics);
  if (linked) { /* one account: every metric is this one's (1:1 with Metrics) */
    json_t *owners = json_array();
    for (size_t i = 0; i < json_array_size(metrics); i++)
      json_array_append_new(owners, json_string(c->account ? c->account : ""));
    json_object_set_new(c->out, "OwningAccounts", owners);
  }
  if (next[0]) json_object_set_new(c->out, "NextToken", json_string(next));
  /* the catalog is memory: answer once what it shows is committed */
  c->seen_ticket = tw_store_ticket(c->store);
  return TW_ERR_OK;
}

static const tw_cw_op ops[] = {
    {"PutMetricData", put_metric_data},
    {"GetMetricStatistics", get_metric_statistics},
    {"GetMetricData", tw_cw_get_metric_data},
    {"ListMetrics", list_metrics},
};

const tw_cw_op *tw_cw_find_op(const char *name) {
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(ops[i].name, name)) return &ops[i];
  return tw_cw_alarm_find_op(name);
}
