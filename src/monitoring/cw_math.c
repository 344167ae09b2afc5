/* GetMetricData: MetricStat queries and metric math expressions.
 *
 * Each MetricStat query reads one series (metrics.h) at its own period; an
 * expression combines the results of other queries (by Id) with CloudWatch's
 * metric math: arithmetic (+ - * / ^, unary -) between scalars, time series
 * (TS) and arrays of them (TS[]), comparisons and AND/OR, and the functions
 * ABS CEIL FLOOR LOG LOG10 SUM AVG MIN MAX STDDEV DATAPOINT_COUNT METRIC_COUNT
 * METRICS RATE DIFF DIFF_TIME RUNNING_SUM FILL PERIOD TIME_SERIES IF
 * REMOVE_EMPTY FIRST LAST. As the user guide says: in arithmetic and
 * comparisons between two series a missing value counts as 0, a division by
 * zero drops the point; SUM/AVG/... of one series is a scalar, of an array a
 * series.
 *
 * Paging: results are computed in full on every call and cut at
 * MaxDatapoints, in ScanBy order, across the returned queries in request
 * order; NextToken carries the offset and a digest of the request. */
#include <ctype.h>
#include <math.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "monitoring/cw_front.h"

#define MAX_QUERIES 500
#define DEFAULT_MAX_DATAPOINTS 100800
#define MAX_GRID 100800 /* points FILL and TIME_SERIES may make per series */
/* What the series of one request may take, all made ones counted (copies of
 * another query's result, arrays, FILL, arithmetic): without it a chain of
 * expressions each listing the previous one 600 times ([x1, x1, ...]) grew as
 * 600^n series until the server ran out of memory (fuzz: metric_math). */
#define MAX_REQUEST_BYTES ((size_t)256 << 20)
#define SERIES_COST (sizeof(series) + 64) /* and its label */
#define POINT_COST (sizeof(int64_t) + sizeof(double))

/* --- values ----------------------------------------------------------------------- */

/* The request's memory budget (MAX_REQUEST_BYTES), per thread: one request is
 * evaluated on one thread, and tw_cw_get_metric_data starts it afresh. */
static _Thread_local size_t t_spent;
static _Thread_local int t_over;

static int budget_take(size_t bytes) {
  t_spent += bytes;
  if (t_spent > MAX_REQUEST_BYTES) t_over = 1;
  return t_over ? -1 : 0;
}

typedef struct {
  char *label;
  int64_t *t;
  double *v;
  size_t n, cap;
  int64_t start, end; /* the grid: start + k*period < end */
  int period;
} series;

typedef enum { V_NONE, V_SCALAR, V_TS, V_ARRAY, V_STRING, V_KEYWORD } vtype;

typedef struct {
  vtype type;
  double s;
  series *ts; /* V_TS: 1, V_ARRAY: nts */
  size_t nts;
  char word[32]; /* V_STRING / V_KEYWORD */
} value;

static void series_free(series *s) {
  free(s->label);
  free(s->t);
  free(s->v);
  memset(s, 0, sizeof *s);
}

static void value_free(value *v) {
  for (size_t i = 0; i < v->nts; i++) series_free(&v->ts[i]);
  free(v->ts);
  memset(v, 0, sizeof *v);
}

static int series_push(series *s, int64_t t, double v) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    if (budget_take((cap - s->cap) * POINT_COST)) return -1;
    int64_t *nt = realloc(s->t, cap * sizeof *nt);
    if (!nt) return -1;
    s->t = nt;
    double *nv = realloc(s->v, cap * sizeof *nv);
    if (!nv) return -1;
    s->v = nv;
    s->cap = cap;
  }
  s->t[s->n] = t;
  s->v[s->n++] = v;
  return 0;
}

/* An empty series on the same grid, with the same label. */
static void series_like(series *out, const series *in) {
  budget_take(SERIES_COST);
  memset(out, 0, sizeof *out);
  out->label = in->label ? strdup(in->label) : NULL;
  out->start = in->start;
  out->end = in->end;
  out->period = in->period;
}

static void series_copy(series *out, const series *in) {
  series_like(out, in);
  for (size_t i = 0; i < in->n; i++) series_push(out, in->t[i], in->v[i]);
}

static value make_ts_array(size_t n) {
  budget_take(n * SERIES_COST);
  value v = {.type = V_ARRAY, .nts = n};
  v.ts = calloc(n ? n : 1, sizeof *v.ts);
  return v;
}

static value value_copy(const value *in) {
  value v = *in;
  if (in->nts) {
    v.ts = calloc(in->nts, sizeof *v.ts);
    for (size_t i = 0; i < in->nts; i++) series_copy(&v.ts[i], &in->ts[i]);
  }
  return v;
}

/* --- the request ---------------------------------------------------------------- */

typedef struct query {
  int index; /* 1-based member number */
  const char *id, *label, *expr;
  int is_stat, return_data;
  long long period; /* the query's Period (expressions) */
  /* MetricStat */
  const char *ns, *name, *stat_name;
  tw_metric_dim dims[TW_METRICS_MAX_DIMS];
  size_t ndims;
  int unit;
  long long stat_period;
  tw_metric_stat stat;
  /* evaluation */
  int state; /* 0 not yet, 1 running, 2 done */
  value result;
} query;

typedef struct {
  tw_cw_call *c;
  tw_metrics *metrics;
  query *q;
  size_t nq;
  double start, end;
  int64_t now_s;
  int default_period; /* for TIME_SERIES: the first period seen */
  char err[512];
} ctx;

/* --- series arithmetic ------------------------------------------------------------- */

enum {
  OP_ADD,
  OP_SUB,
  OP_MUL,
  OP_DIV,
  OP_POW,
  OP_EQ,
  OP_NE,
  OP_LE,
  OP_GE,
  OP_LT,
  OP_GT,
  OP_AND,
  OP_OR
};

/* 1 with the result in *r, 0 when the point is dropped (division by zero). */
static int apply(int op, double a, double b, double *r) {
  switch (op) {
    case OP_ADD:
      *r = a + b;
      break;
    case OP_SUB:
      *r = a - b;
      break;
    case OP_MUL:
      *r = a * b;
      break;
    case OP_DIV:
      if (b == 0) return 0;
      *r = a / b;
      break;
    case OP_POW:
      *r = pow(a, b);
      break;
    case OP_EQ:
      *r = a == b;
      break;
    case OP_NE:
      *r = a != b;
      break;
    case OP_LE:
      *r = a <= b;
      break;
    case OP_GE:
      *r = a >= b;
      break;
    case OP_LT:
      *r = a < b;
      break;
    case OP_GT:
      *r = a > b;
      break;
    case OP_AND:
      *r = a != 0 && b != 0;
      break;
    case OP_OR:
      *r = a != 0 || b != 0;
      break;
    default:
      return 0;
  }
  return isfinite(*r);
}

static void ts_scalar(series *out, const series *a, double s, int op, int scalar_left) {
  series_like(out, a);
  for (size_t i = 0; i < a->n; i++) {
    double r;
    if (scalar_left ? apply(op, s, a->v[i], &r) : apply(op, a->v[i], s, &r))
      series_push(out, a->t[i], r);
  }
}

/* Two series over the union of their timestamps, a missing value as 0. */
static void ts_ts(series *out, const series *a, const series *b, int op) {
  series_like(out, a);
  size_t i = 0, j = 0;
  while (i < a->n || j < b->n) {
    int64_t t;
    double x = 0, y = 0;
    if (j >= b->n || (i < a->n && a->t[i] < b->t[j])) {
      t = a->t[i];
      x = a->v[i++];
    } else if (i >= a->n || b->t[j] < a->t[i]) {
      t = b->t[j];
      y = b->v[j++];
    } else {
      t = a->t[i];
      x = a->v[i++];
      y = b->v[j++];
    }
    double r;
    if (apply(op, x, y, &r)) series_push(out, t, r);
  }
}

static int binary(ctx *x, value *a, value *b, int op, value *out) {
  memset(out, 0, sizeof *out);
  if (a->type == V_SCALAR && b->type == V_SCALAR) {
    out->type = V_SCALAR;
    if (!apply(op, a->s, b->s, &out->s)) {
      snprintf(x->err, sizeof x->err, "division by zero");
      return -1;
    }
    return 0;
  }
  int at = a->type == V_TS || a->type == V_ARRAY, bt = b->type == V_TS || b->type == V_ARRAY;
  if ((!at && a->type != V_SCALAR) || (!bt && b->type != V_SCALAR)) {
    snprintf(x->err, sizeof x->err, "an operator needs numbers or time series");
    return -1;
  }
  if (a->type == V_ARRAY && b->type == V_ARRAY) {
    snprintf(x->err, sizeof x->err, "an operator cannot combine two arrays of time series");
    return -1;
  }
  value *arr = a->type == V_ARRAY ? a : b->type == V_ARRAY ? b : NULL;
  if (arr) {
    value *other = arr == a ? b : a;
    *out = make_ts_array(arr->nts);
    for (size_t i = 0; i < arr->nts; i++) {
      if (other->type == V_SCALAR)
        ts_scalar(&out->ts[i], &arr->ts[i], other->s, op, arr == b);
      else if (arr == a)
        ts_ts(&out->ts[i], &arr->ts[i], &other->ts[0], op);
      else
        ts_ts(&out->ts[i], &other->ts[0], &arr->ts[i], op);
      if (arr == b && other->type == V_TS) { /* keep the array member's label */
        free(out->ts[i].label);
        out->ts[i].label = arr->ts[i].label ? strdup(arr->ts[i].label) : NULL;
      }
    }
    return 0;
  }
  *out = make_ts_array(1);
  out->type = V_TS;
  if (a->type == V_SCALAR)
    ts_scalar(&out->ts[0], &b->ts[0], a->s, op, 1);
  else if (b->type == V_SCALAR)
    ts_scalar(&out->ts[0], &a->ts[0], b->s, op, 0);
  else
    ts_ts(&out->ts[0], &a->ts[0], &b->ts[0], op);
  return 0;
}

/* --- functions ------------------------------------------------------------------- */

typedef enum { AGG_SUM, AGG_AVG, AGG_MIN, AGG_MAX, AGG_STDDEV, AGG_COUNT } agg_kind;

static double reduce(agg_kind k, const double *v, size_t n, int *ok) {
  *ok = 1;
  if (k == AGG_COUNT) return (double)n;
  if (n == 0) {
    *ok = k == AGG_SUM;
    return 0;
  }
  double s = 0, mn = v[0], mx = v[0];
  for (size_t i = 0; i < n; i++) {
    s += v[i];
    if (v[i] < mn) mn = v[i];
    if (v[i] > mx) mx = v[i];
  }
  switch (k) {
    case AGG_SUM:
      return s;
    case AGG_AVG:
      return s / (double)n;
    case AGG_MIN:
      return mn;
    case AGG_MAX:
      return mx;
    default: {
      double mean = s / (double)n, ss = 0;
      for (size_t i = 0; i < n; i++) ss += (v[i] - mean) * (v[i] - mean);
      return sqrt(ss / (double)n);
    }
  }
}

/* SUM(TS) -> scalar; SUM(TS[]) -> TS per timestamp of the union. SUM and AVG
 * count a missing value as 0 (over all members); MIN, MAX and STDDEV use the
 * values present; DATAPOINT_COUNT counts them. */
static int aggregate(ctx *x, agg_kind k, value *in, value *out) {
  memset(out, 0, sizeof *out);
  if (in->type == V_TS) {
    int ok;
    out->type = V_SCALAR;
    out->s = reduce(k, in->ts[0].v, in->ts[0].n, &ok);
    if (!ok) out->s = NAN;
    return 0;
  }
  if (in->type != V_ARRAY) {
    snprintf(x->err, sizeof x->err, "the function needs a time series or an array of them");
    return -1;
  }
  *out = make_ts_array(1);
  out->type = V_TS;
  series *o = &out->ts[0];
  if (in->nts) {
    series_like(o, &in->ts[0]);
    free(o->label);
    o->label = NULL;
  }
  size_t *pos = calloc(in->nts ? in->nts : 1, sizeof *pos);
  double *vals = malloc((in->nts ? in->nts : 1) * sizeof *vals);
  for (;;) {
    int64_t t = INT64_MAX;
    for (size_t i = 0; i < in->nts; i++)
      if (pos[i] < in->ts[i].n && in->ts[i].t[pos[i]] < t) t = in->ts[i].t[pos[i]];
    if (t == INT64_MAX) break;
    size_t n = 0;
    for (size_t i = 0; i < in->nts; i++) {
      if (pos[i] < in->ts[i].n && in->ts[i].t[pos[i]] == t)
        vals[n++] = in->ts[i].v[pos[i]++];
      else if (k == AGG_SUM || k == AGG_AVG)
        vals[n++] = 0;
    }
    int ok;
    double r = reduce(k, vals, n, &ok);
    if (ok && isfinite(r)) series_push(o, t, r);
  }
  free(pos);
  free(vals);
  return 0;
}

typedef double (*unary_fn)(double);

static double fn_log(double v) {
  return v > 0 ? log(v) : NAN;
}
static double fn_log10(double v) {
  return v > 0 ? log10(v) : NAN;
}

static void map_series(series *out, const series *in, unary_fn f) {
  series_like(out, in);
  for (size_t i = 0; i < in->n; i++) {
    double r = f(in->v[i]);
    if (isfinite(r)) series_push(out, in->t[i], r);
  }
}

typedef enum { SEQ_RATE, SEQ_DIFF, SEQ_DIFF_TIME, SEQ_RUNNING_SUM } seq_kind;

static void seq_series(series *out, const series *in, seq_kind k) {
  series_like(out, in);
  double run = 0;
  for (size_t i = 0; i < in->n; i++) {
    if (k == SEQ_RUNNING_SUM) {
      run += in->v[i];
      series_push(out, in->t[i], run);
      continue;
    }
    if (i == 0) continue;
    double dt = (double)(in->t[i] - in->t[i - 1]), dv = in->v[i] - in->v[i - 1];
    double r = k == SEQ_DIFF ? dv : k == SEQ_DIFF_TIME ? dt : dt > 0 ? dv / dt : NAN;
    if (isfinite(r)) series_push(out, in->t[i], r);
  }
}

/* FILL: every timestamp of the grid gets a value: a scalar, the value of
 * another series there (if it has one), the previous value (REPEAT), or the
 * line between its neighbours (LINEAR; gaps at either end stay). */
static void fill_series(series *out, const series *in, const value *with) {
  series_like(out, in);
  if (in->period <= 0) {
    series_copy(out, in);
    return;
  }
  int repeat = with->type == V_KEYWORD && !strcmp(with->word, "REPEAT");
  int linear = with->type == V_KEYWORD && !strcmp(with->word, "LINEAR");
  size_t j = 0, k = 0;
  for (int64_t t = in->start; t < in->end; t += in->period) {
    while (j < in->n && in->t[j] < t) j++;
    if (j < in->n && in->t[j] == t) {
      series_push(out, t, in->v[j]);
      continue;
    }
    if (with->type == V_SCALAR) {
      series_push(out, t, with->s);
    } else if (with->type == V_TS) {
      const series *o = &with->ts[0];
      while (k < o->n && o->t[k] < t) k++;
      if (k < o->n && o->t[k] == t) series_push(out, t, o->v[k]);
    } else if (repeat) {
      if (j > 0) series_push(out, t, in->v[j - 1]);
    } else if (linear) {
      if (j > 0 && j < in->n) {
        double f = (double)(t - in->t[j - 1]) / (double)(in->t[j] - in->t[j - 1]);
        series_push(out, t, in->v[j - 1] + f * (in->v[j] - in->v[j - 1]));
      }
    }
  }
}

static int truthy_at(const series *s, int64_t t, double *v) {
  for (size_t i = 0; i < s->n; i++)
    if (s->t[i] == t) {
      *v = s->v[i];
      return 1;
    }
  return 0;
}

/* IF(cond, a [, b]) as the user guide describes it. */
static int fn_if(ctx *x, value *args, size_t n, value *out) {
  memset(out, 0, sizeof *out);
  if (n < 2 || n > 3) {
    snprintf(x->err, sizeof x->err, "IF takes two or three arguments");
    return -1;
  }
  value *cond = &args[0], *a = &args[1], *b = n == 3 ? &args[2] : NULL;
  for (size_t i = 0; i < n; i++)
    if (args[i].type != V_SCALAR && args[i].type != V_TS) {
      snprintf(x->err, sizeof x->err, "IF takes numbers and single time series");
      return -1;
    }
  if (cond->type == V_SCALAR) {
    value *pick = cond->s != 0 ? a : b;
    if (!pick || pick->type == V_SCALAR) {
      if (a->type == V_TS || (b && b->type == V_TS)) {
        *out = make_ts_array(1);
        out->type = V_TS;
        series_like(&out->ts[0], a->type == V_TS ? &a->ts[0] : &b->ts[0]);
        if (pick) { /* a scalar picked: on the other series' timestamps */
          const series *g = a->type == V_TS ? &a->ts[0] : &b->ts[0];
          for (size_t i = 0; i < g->n; i++) series_push(&out->ts[0], g->t[i], pick->s);
        }
        return 0;
      }
      snprintf(x->err, sizeof x->err, "IF of scalars must involve a time series");
      return -1;
    }
    *out = value_copy(pick);
    return 0;
  }
  const series *c = &cond->ts[0];
  *out = make_ts_array(1);
  out->type = V_TS;
  series_like(&out->ts[0], c);
  for (size_t i = 0; i < c->n; i++) {
    double r;
    if (c->v[i] != 0) {
      if (a->type == V_SCALAR)
        r = a->s;
      else if (!truthy_at(&a->ts[0], c->t[i], &r))
        r = 0;
    } else {
      if (!b) continue;
      if (b->type == V_SCALAR)
        r = b->s;
      else if (!truthy_at(&b->ts[0], c->t[i], &r))
        continue;
    }
    series_push(&out->ts[0], c->t[i], r);
  }
  return 0;
}

/* --- the parser (evaluates as it reads) --------------------------------------------- */

typedef struct {
  ctx *x;
  const char *s, *p;
  query *self;
  int depth; /* nesting, bounded */
} parser;

#define MAX_DEPTH 100

static int eval_query(ctx *x, query *q);
static int parse_expr(parser *ps, value *out);

static void skip_ws(parser *ps) {
  while (isspace((unsigned char)*ps->p)) ps->p++;
}

static int accept(parser *ps, const char *tok) {
  skip_ws(ps);
  size_t n = strlen(tok);
  if (!strncmp(ps->p, tok, n)) {
    ps->p += n;
    return 1;
  }
  return 0;
}

static int accept_word(parser *ps, const char *w) {
  skip_ws(ps);
  size_t n = strlen(w);
  if (!strncmp(ps->p, w, n) && !isalnum((unsigned char)ps->p[n]) && ps->p[n] != '_') {
    ps->p += n;
    return 1;
  }
  return 0;
}

static int syntax(parser *ps, const char *what) {
  snprintf(ps->x->err, sizeof ps->x->err, "%s at position %d", what, (int)(ps->p - ps->s) + 1);
  return -1;
}

static int too_big(ctx *x) {
  t_over = 1;
  snprintf(x->err, sizeof x->err,
           "the expressions would hold more than %zu MB of time series; use fewer of them or a "
           "longer period",
           MAX_REQUEST_BYTES >> 20);
  return -1;
}

/* A query's result as a value (evaluating it first). */
static int ref_value(parser *ps, const char *id, size_t n, value *out) {
  for (size_t i = 0; i < ps->x->nq; i++) {
    query *q = &ps->x->q[i];
    if (strlen(q->id) != n || strncmp(q->id, id, n)) continue;
    if (q == ps->self || q->state == 1) {
      snprintf(ps->x->err, sizeof ps->x->err, "the expressions refer to each other in a circle");
      return -1;
    }
    if (eval_query(ps->x, q)) return -1;
    size_t cost = 0;
    for (size_t k = 0; k < q->result.nts; k++)
      cost += SERIES_COST + (q->result.ts[k].n > 64 ? q->result.ts[k].n : 64) * POINT_COST;
    if (t_over || t_spent + cost > MAX_REQUEST_BYTES) return too_big(ps->x);
    *out = value_copy(&q->result);
    return 0;
  }
  snprintf(ps->x->err, sizeof ps->x->err, "Unrecognized metric id %.*s", (int)n, id);
  return -1;
}

/* METRICS() / METRICS("text"): the MetricStat queries (whose Id contains text). */
static int fn_metrics(parser *ps, const char *filter, value *out) {
  ctx *x = ps->x;
  size_t n = 0;
  for (size_t i = 0; i < x->nq; i++)
    if (x->q[i].is_stat && (!filter || strstr(x->q[i].id, filter))) n++;
  if (t_over || t_spent + n * SERIES_COST > MAX_REQUEST_BYTES) return too_big(x);
  *out = make_ts_array(n);
  size_t k = 0;
  for (size_t i = 0; i < x->nq; i++) {
    query *q = &x->q[i];
    if (!q->is_stat || (filter && !strstr(q->id, filter))) continue;
    if (eval_query(x, q)) {
      value_free(out);
      return -1;
    }
    series_copy(&out->ts[k++], &q->result.ts[0]);
  }
  return 0;
}

static int need_ts_or_array(parser *ps, const value *v, const char *fn) {
  if (v->type == V_TS || v->type == V_ARRAY) return 0;
  snprintf(ps->x->err, sizeof ps->x->err, "%s needs a time series or an array of them", fn);
  return -1;
}

/* FILL and TIME_SERIES make a point per period: refuse grids past the
 * datapoints one GetMetricData may return. */
static int grid_too_big(ctx *x, const series *s) {
  if (s->period <= 0 || (s->end - s->start) / s->period <= MAX_GRID) return 0;
  snprintf(x->err, sizeof x->err,
           "the expression would make more than %d datapoints; use a longer period", MAX_GRID);
  return 1;
}

static int call_function(parser *ps, const char *name, value *args, size_t n, value *out) {
  ctx *x = ps->x;
  memset(out, 0, sizeof *out);
  static const struct {
    const char *name;
    agg_kind k;
  } aggs[] = {{"SUM", AGG_SUM}, {"AVG", AGG_AVG},       {"MIN", AGG_MIN},
              {"MAX", AGG_MAX}, {"STDDEV", AGG_STDDEV}, {"DATAPOINT_COUNT", AGG_COUNT}};
  for (size_t i = 0; i < sizeof aggs / sizeof aggs[0]; i++)
    if (!strcmp(name, aggs[i].name)) {
      if (n != 1) return syntax(ps, "this function takes one argument");
      return aggregate(x, aggs[i].k, &args[0], out);
    }
  static const struct {
    const char *name;
    unary_fn f;
  } maps[] = {
      {"ABS", fabs}, {"CEIL", ceil}, {"FLOOR", floor}, {"LOG", fn_log}, {"LOG10", fn_log10}};
  for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++)
    if (!strcmp(name, maps[i].name)) {
      if (n != 1) return syntax(ps, "this function takes one argument");
      if (args[0].type == V_SCALAR) {
        out->type = V_SCALAR;
        out->s = maps[i].f(args[0].s);
        return 0;
      }
      if (need_ts_or_array(ps, &args[0], name)) return -1;
      *out = make_ts_array(args[0].nts);
      out->type = args[0].type;
      for (size_t k = 0; k < args[0].nts; k++) map_series(&out->ts[k], &args[0].ts[k], maps[i].f);
      return 0;
    }
  static const struct {
    const char *name;
    seq_kind k;
  } seqs[] = {{"RATE", SEQ_RATE},
              {"DIFF", SEQ_DIFF},
              {"DIFF_TIME", SEQ_DIFF_TIME},
              {"RUNNING_SUM", SEQ_RUNNING_SUM}};
  for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++)
    if (!strcmp(name, seqs[i].name)) {
      if (n != 1) return syntax(ps, "this function takes one argument");
      if (need_ts_or_array(ps, &args[0], name)) return -1;
      *out = make_ts_array(args[0].nts);
      out->type = args[0].type;
      for (size_t k = 0; k < args[0].nts; k++) seq_series(&out->ts[k], &args[0].ts[k], seqs[i].k);
      return 0;
    }
  if (!strcmp(name, "FILL")) {
    if (n != 2) return syntax(ps, "FILL takes two arguments");
    if (need_ts_or_array(ps, &args[0], name)) return -1;
    value *w = &args[1];
    if (!(w->type == V_SCALAR || w->type == V_TS ||
          (w->type == V_KEYWORD && (!strcmp(w->word, "REPEAT") || !strcmp(w->word, "LINEAR")))))
      return syntax(ps, "FILL fills with a number, a time series, REPEAT or LINEAR");
    for (size_t k = 0; k < args[0].nts; k++)
      if (grid_too_big(x, &args[0].ts[k])) return -1;
    *out = make_ts_array(args[0].nts);
    out->type = args[0].type;
    for (size_t k = 0; k < args[0].nts; k++) fill_series(&out->ts[k], &args[0].ts[k], w);
    return 0;
  }
  if (!strcmp(name, "PERIOD")) {
    if (n != 1 || args[0].type != V_TS) return syntax(ps, "PERIOD takes one time series");
    out->type = V_SCALAR;
    out->s = args[0].ts[0].period;
    return 0;
  }
  if (!strcmp(name, "METRIC_COUNT")) {
    if (n != 1 || args[0].type != V_ARRAY) return syntax(ps, "METRIC_COUNT takes an array");
    out->type = V_SCALAR;
    out->s = (double)args[0].nts;
    return 0;
  }
  if (!strcmp(name, "TIME_SERIES")) {
    if (n != 1 || args[0].type != V_SCALAR) return syntax(ps, "TIME_SERIES takes a number");
    int period = ps->self && ps->self->period > 0 ? (int)ps->self->period : x->default_period;
    *out = make_ts_array(1);
    out->type = V_TS;
    series *s = &out->ts[0];
    s->period = period;
    s->start = (int64_t)floor(x->start);
    s->start -= ((s->start % period) + period) % period;
    s->end = (int64_t)ceil(x->end);
    if (grid_too_big(x, s)) {
      value_free(out);
      return -1;
    }
    for (int64_t t = s->start; t < s->end; t += period) series_push(s, t, args[0].s);
    return 0;
  }
  if (!strcmp(name, "IF")) return fn_if(x, args, n, out);
  if (!strcmp(name, "REMOVE_EMPTY")) {
    if (n != 1 || args[0].type != V_ARRAY) return syntax(ps, "REMOVE_EMPTY takes an array");
    size_t k = 0;
    for (size_t i = 0; i < args[0].nts; i++) k += args[0].ts[i].n > 0;
    *out = make_ts_array(k);
    k = 0;
    for (size_t i = 0; i < args[0].nts; i++)
      if (args[0].ts[i].n) series_copy(&out->ts[k++], &args[0].ts[i]);
    return 0;
  }
  if (!strcmp(name, "FIRST") || !strcmp(name, "LAST")) {
    if (n != 1 || args[0].type != V_ARRAY || !args[0].nts)
      return syntax(ps, "FIRST and LAST take a non-empty array");
    *out = make_ts_array(1);
    out->type = V_TS;
    series_copy(&out->ts[0], &args[0].ts[name[0] == 'F' ? 0 : args[0].nts - 1]);
    return 0;
  }
  snprintf(x->err, sizeof x->err, "Unrecognized function %s", name);
  return -1;
}

static int parse_primary_in(parser *ps, value *out);

static int parse_primary(parser *ps, value *out) {
  memset(out, 0, sizeof *out);
  if (ps->depth >= MAX_DEPTH) return syntax(ps, "the expression nests too deeply");
  if (t_over) return too_big(ps->x);
  ps->depth++;
  int rc = parse_primary_in(ps, out);
  ps->depth--;
  return rc;
}

static int parse_primary_in(parser *ps, value *out) {
  skip_ws(ps);
  const char *p = ps->p;
  if (accept(ps, "(")) {
    if (parse_expr(ps, out)) return -1;
    if (!accept(ps, ")")) {
      value_free(out);
      return syntax(ps, "expected )");
    }
    return 0;
  }
  if (accept(ps, "[")) { /* an array of series (members may be arrays) */
    *out = make_ts_array(0);
    size_t cap = 0;
    do {
      value v;
      if (parse_expr(ps, &v)) {
        value_free(out);
        return -1;
      }
      if (v.type != V_TS && v.type != V_ARRAY) {
        value_free(&v);
        value_free(out);
        return syntax(ps, "an array holds time series");
      }
      if (out->nts + v.nts > cap) {
        cap = (out->nts + v.nts) * 2;
        out->ts = realloc(out->ts, cap * sizeof *out->ts);
      }
      memcpy(out->ts + out->nts, v.ts, v.nts * sizeof *v.ts);
      out->nts += v.nts;
      free(v.ts);
    } while (accept(ps, ","));
    if (!accept(ps, "]")) {
      value_free(out);
      return syntax(ps, "expected ]");
    }
    return 0;
  }
  if (*p == '"' || !strncmp(p, "\xe2\x80\x9c", 3)) { /* "text" (or curly quotes) */
    int curly = *p != '"';
    p += curly ? 3 : 1;
    const char *end = curly ? strstr(p, "\xe2\x80\x9d") : strchr(p, '"');
    if (!end) return syntax(ps, "unterminated string");
    out->type = V_STRING;
    snprintf(out->word, sizeof out->word, "%.*s", (int)(end - p), p);
    ps->p = end + (curly ? 3 : 1);
    return 0;
  }
  if (isdigit((unsigned char)*p) || *p == '.') {
    char *end;
    out->type = V_SCALAR;
    out->s = strtod(p, &end);
    if (end == p) return syntax(ps, "expected a number");
    ps->p = end;
    return 0;
  }
  if (isalpha((unsigned char)*p) || *p == '_') {
    const char *q = p;
    while (isalnum((unsigned char)*q) || *q == '_') q++;
    size_t n = (size_t)(q - p);
    ps->p = q;
    if (islower((unsigned char)*p)) return ref_value(ps, p, n, out);
    char name[40];
    snprintf(name, sizeof name, "%.*s", (int)n, p);
    if (!strcmp(name, "REPEAT") || !strcmp(name, "LINEAR")) {
      out->type = V_KEYWORD;
      memcpy(out->word, name, strlen(name) + 1); /* REPEAT or LINEAR */
      return 0;
    }
    if (!accept(ps, "(")) return syntax(ps, "expected ( after a function name");
    if (!strcmp(name, "METRICS")) {
      value arg = {0};
      if (!accept(ps, ")")) {
        if (parse_primary(ps, &arg) || arg.type != V_STRING || !accept(ps, ")")) {
          value_free(&arg);
          return syntax(ps, "METRICS takes an optional string");
        }
      }
      return fn_metrics(ps, arg.type == V_STRING ? arg.word : NULL, out);
    }
    value args[4];
    size_t na = 0;
    int rc = 0;
    if (!accept(ps, ")")) {
      do {
        if (na == 4) {
          rc = syntax(ps, "too many arguments");
          break;
        }
        if ((rc = parse_expr(ps, &args[na]))) break;
        na++;
      } while (accept(ps, ","));
      if (!rc && !accept(ps, ")")) rc = syntax(ps, "expected )");
    }
    if (!rc) rc = call_function(ps, name, args, na, out);
    for (size_t i = 0; i < na; i++) value_free(&args[i]);
    return rc;
  }
  return syntax(ps, *p ? "unexpected character" : "unexpected end of the expression");
}

static int parse_unary(parser *ps, value *out);

static int parse_pow(parser *ps, value *out) {
  if (parse_primary(ps, out)) return -1;
  if (accept(ps, "^")) {
    value b, r;
    if (parse_unary(ps, &b)) {
      value_free(out);
      return -1;
    }
    int rc = binary(ps->x, out, &b, OP_POW, &r);
    value_free(out);
    value_free(&b);
    *out = r;
    return rc;
  }
  return 0;
}

static int parse_unary(parser *ps, value *out) {
  if (accept(ps, "-")) {
    value a, zero = {.type = V_SCALAR, .s = 0};
    if (parse_unary(ps, &a)) return -1;
    int rc = binary(ps->x, &zero, &a, OP_SUB, out);
    value_free(&a);
    return rc;
  }
  if (accept(ps, "+")) return parse_unary(ps, out);
  return parse_pow(ps, out);
}

/* One precedence level: operand (op operand)* */
typedef int (*level_fn)(parser *ps, value *out);

static int parse_level(parser *ps, value *out, level_fn next, const char *const *toks,
                       const int *ops, size_t ntoks, int once) {
  if (next(ps, out)) return -1;
  for (;;) {
    int op = -1;
    for (size_t i = 0; i < ntoks && op < 0; i++) {
      int word = isalpha((unsigned char)toks[i][0]);
      if (word ? accept_word(ps, toks[i]) : accept(ps, toks[i])) op = ops[i];
    }
    if (op < 0) return 0;
    value b, r;
    if (next(ps, &b)) {
      value_free(out);
      return -1;
    }
    int rc = binary(ps->x, out, &b, op, &r);
    value_free(out);
    value_free(&b);
    *out = r;
    if (rc) return -1;
    if (once) return 0;
  }
}

static int parse_mul(parser *ps, value *out) {
  static const char *const t[] = {"*", "/"};
  static const int o[] = {OP_MUL, OP_DIV};
  return parse_level(ps, out, parse_unary, t, o, 2, 0);
}

static int parse_add(parser *ps, value *out) {
  static const char *const t[] = {"+", "-"};
  static const int o[] = {OP_ADD, OP_SUB};
  return parse_level(ps, out, parse_mul, t, o, 2, 0);
}

static int parse_cmp(parser *ps, value *out) {
  static const char *const t[] = {"==", "!=", "<=", ">=", "<", ">"};
  static const int o[] = {OP_EQ, OP_NE, OP_LE, OP_GE, OP_LT, OP_GT};
  return parse_level(ps, out, parse_add, t, o, 6, 1);
}

static int parse_and(parser *ps, value *out) {
  static const char *const t[] = {"AND", "&&"};
  static const int o[] = {OP_AND, OP_AND};
  return parse_level(ps, out, parse_cmp, t, o, 2, 0);
}

static int parse_expr(parser *ps, value *out) {
  static const char *const t[] = {"OR", "||"};
  static const int o[] = {OP_OR, OP_OR};
  return parse_level(ps, out, parse_and, t, o, 2, 0);
}

/* --- evaluation of the queries ------------------------------------------------------ */

static int64_t round_start(double start, int period, int64_t now_s) {
  int64_t s = (int64_t)floor(start);
  if (period < 60) return s - (((s % period) + period) % period);
  int64_t age = now_s - s, step = age <= 15 * 86400 ? 60 : age <= 63 * 86400 ? 300 : 3600;
  return s - (((s % step) + step) % step);
}

static int eval_stat(ctx *x, query *q) {
  int period = (int)q->stat_period;
  tw_metric_query mq = {.ns = q->ns,
                        .name = q->name,
                        .dims = q->dims,
                        .ndims = q->ndims,
                        .unit = q->unit,
                        .want_sketch = q->stat.kind >= TW_STAT_PERCENTILE,
                        .start = round_start(x->start, period, x->now_s),
                        .end = (int64_t)ceil(x->end),
                        .period = period};
  tw_metric_bucket *b;
  size_t nb;
  if (tw_metrics_query(x->metrics, &mq, &b, &nb)) {
    snprintf(x->err, sizeof x->err, "the metrics could not be read");
    return -1;
  }
  q->result = make_ts_array(1);
  q->result.type = V_TS;
  series *s = &q->result.ts[0];
  s->label = strdup(q->label ? q->label : q->name);
  s->start = mq.start;
  s->end = mq.end;
  s->period = period;
  for (size_t i = 0; i < nb; i++) {
    double v;
    if (tw_metric_stat_value(&b[i], &q->stat, &v)) series_push(s, b[i].ts, v);
  }
  tw_metric_buckets_free(b, nb);
  return 0;
}

static int eval_query(ctx *x, query *q) {
  if (q->state == 2) return 0;
  q->state = 1;
  int rc;
  if (q->is_stat) {
    rc = eval_stat(x, q);
    if (!rc && t_over) { /* points were dropped: the series is not whole */
      value_free(&q->result);
      rc = too_big(x);
    }
  } else {
    parser ps = {.x = x, .s = q->expr, .p = q->expr, .self = q};
    value v;
    rc = parse_expr(&ps, &v);
    skip_ws(&ps);
    if (!rc && *ps.p) {
      value_free(&v);
      rc = syntax(&ps, "unexpected text after the expression");
    }
    if (!rc && t_over) { /* points were dropped: the result is not whole */
      value_free(&v);
      rc = too_big(x);
    }
    if (!rc && v.type != V_TS && v.type != V_ARRAY) {
      value_free(&v);
      snprintf(x->err, sizeof x->err,
               "the expression must return a time series or an array of time series");
      rc = -1;
    }
    if (!rc) q->result = v;
  }
  if (rc) {
    q->state = 0;
    return -1;
  }
  q->state = 2;
  return 0;
}

/* --- the operation -------------------------------------------------------------------- */

static int id_ok(const char *id) {
  if (!id || !islower((unsigned char)id[0]) || strlen(id) > 255) return 0;
  for (const char *p = id; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '_') return 0;
  return 1;
}

static int period_ok(long long p) {
  return p == 1 || p == 5 || p == 10 || p == 20 || p == 30 || (p >= 60 && p % 60 == 0);
}

/* Reads MetricDataQueries.member.N into q. */
static tw_err read_query(tw_cw_call *c, const json_t *j, size_t i, query *q) {
  memset(q, 0, sizeof *q);
  q->index = (int)i + 1;
  q->unit = -1;
  q->return_data = 1;
  if (!json_is_object(j))
    return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                      "The parameter MetricDataQueries.member.%zu is invalid.", i + 1);
  if (tw_cw_get_str(j, "Id", &q->id) != 1)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER,
                      "The parameter MetricDataQueries.member.%zu.Id is required.", i + 1);
  if (!id_ok(q->id))
    return tw_cw_fail(
        c, TW_ERR_CW_VALIDATION_ERROR,
        "Invalid metric_id: %.255s (MetricDataQueries.member.%zu.Id must start with a "
        "lowercase letter and hold only letters, digits and underscores).",
        q->id, i + 1);
  if (tw_cw_get_str(j, "Label", &q->label) < 0) q->label = NULL;
  int rd;
  if (tw_cw_get_bool(j, "ReturnData", &rd) == 1) q->return_data = rd;
  long long period;
  int prc = tw_cw_get_int(j, "Period", &period);
  if (prc < 0 || (prc == 1 && !period_ok(period)))
    return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                      "The parameter MetricDataQueries.member.%zu.Period must be 1, 5, 10, 20, 30, "
                      "or a multiple of 60.",
                      i + 1);
  if (prc == 1) q->period = period;
  json_t *ms = json_object_get(j, "MetricStat");
  int has_expr = tw_cw_get_str(j, "Expression", &q->expr) == 1;
  if (json_is_null(ms)) ms = NULL;
  if (ms && has_expr)
    return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                      "The parameters MetricDataQueries.member.%zu.MetricStat and "
                      "MetricDataQueries.member.%zu.Expression are mutually exclusive and you have "
                      "specified both.",
                      i + 1, i + 1);
  if (!ms && !has_expr)
    return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                      "The parameter MetricDataQueries.member.%zu.MetricStat is required.\n",
                      i + 1);
  if (has_expr) {
    if (!*q->expr || strlen(q->expr) > 2048)
      return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                        "The parameter MetricDataQueries.member.%zu.Expression must be 1 to 2048 "
                        "characters.",
                        i + 1);
    if (!strncasecmp(q->expr, "SELECT", 6) || !strncmp(q->expr, "SEARCH(", 7))
      return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                        "tweedle does not run Metrics Insights queries or SEARCH expressions "
                        "(MetricDataQueries.member.%zu.Expression).",
                        i + 1);
    return TW_ERR_OK;
  }
  q->is_stat = 1;
  const json_t *m = json_object_get(ms, "Metric");
  if (!json_is_object(m))
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER,
                      "The parameter MetricDataQueries.member.%zu.MetricStat.Metric is required.",
                      i + 1);
  if (tw_cw_get_str(m, "MetricName", &q->name) != 1 || !*q->name)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER,
                      "The parameter MetricDataQueries.member.%zu.MetricStat.Metric.MetricName is "
                      "required.",
                      i + 1);
  if (tw_cw_get_str(m, "Namespace", &q->ns) != 1 || !*q->ns)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER,
                      "The parameter MetricDataQueries.member.%zu.MetricStat.Metric.Namespace is "
                      "required.",
                      i + 1);
  int bad;
  const json_t *dl = tw_cw_get_list(m, "Dimensions", &bad);
  q->ndims = dl ? json_array_size(dl) : 0;
  if (bad || q->ndims > TW_METRICS_MAX_DIMS)
    return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                      "The parameter MetricDataQueries.member.%zu.MetricStat.Metric.Dimensions is "
                      "invalid.",
                      i + 1);
  for (size_t k = 0; k < q->ndims; k++) {
    const json_t *d = json_array_get(dl, k);
    if (tw_cw_get_str(d, "Name", &q->dims[k].name) != 1 ||
        tw_cw_get_str(d, "Value", &q->dims[k].value) != 1)
      return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER,
                        "The parameter MetricDataQueries.member.%zu.MetricStat.Metric.Dimensions."
                        "member.%zu.%s is required.",
                        i + 1, k + 1,
                        tw_cw_get_str(d, "Name", &q->dims[k].name) == 1 ? "Value" : "Name");
  }
  prc = tw_cw_get_int(ms, "Period", &q->stat_period);
  if (prc == 0)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER,
                      "The parameter MetricDataQueries.member.%zu.MetricStat.Period is required.",
                      i + 1);
  if (prc < 0 || !period_ok(q->stat_period))
    return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                      "The parameter MetricDataQueries.member.%zu.MetricStat.Period must be 1, 5, "
                      "10, 20, 30, or a multiple of 60.",
                      i + 1);
  if (tw_cw_get_str(ms, "Stat", &q->stat_name) != 1)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER,
                      "The parameter MetricDataQueries.member.%zu.MetricStat.Stat is required.",
                      i + 1);
  if (tw_metric_stat_parse(q->stat_name, &q->stat))
    return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                      "The value %.100s for parameter MetricDataQueries.member.%zu.MetricStat.Stat "
                      "is invalid.",
                      q->stat_name, i + 1);
  const char *u;
  int urc = tw_cw_get_str(ms, "Unit", &u);
  if (urc == 1 && (q->unit = tw_metric_unit_parse(u)) < 0)
    return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE,
                      "The value %.100s for parameter MetricDataQueries.member.%zu.MetricStat.Unit "
                      "is invalid.",
                      u, i + 1);
  return TW_ERR_OK;
}

/* The digest a NextToken carries: the request without its paging fields. */
static void request_digest(const json_t *in, char out[17]) {
  json_t *copy = json_deep_copy(in);
  json_object_del(copy, "NextToken");
  json_object_del(copy, "MaxDatapoints");
  char *s = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(copy);
  char hex[65];
  tw_sha256_hex(s ? s : "", s ? strlen(s) : 0, hex);
  free(s);
  memcpy(out, hex, 16);
  out[16] = 0;
}

typedef struct {
  const char *id, *label;
  const series *s;
} out_series;

tw_err tw_cw_get_metric_data(tw_cw_call *c) {
  ctx x = {.c = c, .metrics = c->metrics};
  t_spent = 0;
  t_over = 0;
  int rc;
  const char *names[] = {"StartTime", "EndTime"};
  double *tv[] = {&x.start, &x.end};
  for (int i = 0; i < 2; i++) {
    rc = tw_cw_get_time(c->in, names[i], tv[i]);
    if (rc == 0)
      return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter %s is required.", names[i]);
    if (rc < 0)
      return tw_cw_fail(c, TW_ERR_INVALID_PARAMETER_VALUE, "The parameter %s is invalid.",
                        names[i]);
  }
  int bad;
  const json_t *list = tw_cw_get_list(c->in, "MetricDataQueries", &bad);
  if (!list || bad)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter MetricDataQueries is required.");
  size_t nq = json_array_size(list);
  if (nq == 0)
    return tw_cw_fail(c, TW_ERR_MISSING_PARAMETER, "The parameter MetricDataQueries is required.");
  if (nq > MAX_QUERIES)
    return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                      "The collection MetricDataQueries must not have a size greater than %d.",
                      MAX_QUERIES);
  if (x.start == x.end)
    return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                      "The parameter StartTime must not equal parameter EndTime.");
  if (x.start > x.end)
    return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                      "The parameter EndTime must be greater than StartTime.");
  const char *scan = "TimestampDescending";
  rc = tw_cw_get_str(c->in, "ScanBy", &scan);
  if (rc < 0 ||
      (rc == 1 && strcmp(scan, "TimestampDescending") && strcmp(scan, "TimestampAscending")))
    return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                      "The value %.100s for parameter ScanBy is invalid.", rc < 0 ? "" : scan);
  int descending = strcmp(scan, "TimestampAscending") != 0;
  long long maxdp = DEFAULT_MAX_DATAPOINTS;
  rc = tw_cw_get_int(c->in, "MaxDatapoints", &maxdp);
  if (rc < 0 || (rc == 1 && maxdp < 1))
    return tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                      "The parameter MaxDatapoints must be greater than 0.");
  char digest[17];
  request_digest(c->in, digest);
  long long offset = 0;
  const char *token = NULL;
  if (tw_cw_get_str(c->in, "NextToken", &token) == 1 && *token) {
    char d2[17];
    if (sscanf(token, "gmd1-%lld-%16s", &offset, d2) != 2 || offset < 0 || strcmp(d2, digest))
      return tw_cw_fail(c, TW_ERR_CW_INVALID_NEXT_TOKEN,
                        "The service cannot use the NextToken %.100s for this request.", token);
  }

  x.q = calloc(nq, sizeof *x.q);
  x.nq = nq;
  if (!x.q) return tw_cw_fail(c, TW_ERR_INTERNAL, "Out of memory.");
  tw_err e = TW_ERR_OK;
  for (size_t i = 0; i < nq && e == TW_ERR_OK; i++) {
    e = read_query(c, json_array_get(list, i), i, &x.q[i]);
    for (size_t k = 0; e == TW_ERR_OK && k < i; k++)
      if (!strcmp(x.q[k].id, x.q[i].id))
        e = tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR,
                       "The value %.255s for parameter MetricDataQueries.member.%zu.Id is "
                       "duplicated.",
                       x.q[i].id, i + 1);
  }
  x.now_s = tw_metrics_now_ms(c->metrics) / 1000;
  for (size_t i = 0; i < nq && !x.default_period; i++)
    x.default_period = x.q[i].is_stat ? (int)x.q[i].stat_period : (int)x.q[i].period;
  if (!x.default_period) x.default_period = 60;
  for (size_t i = 0; i < nq && e == TW_ERR_OK; i++) {
    if (eval_query(&x, &x.q[i]))
      e = tw_cw_fail(c, TW_ERR_CW_VALIDATION_ERROR, "Error in expression %s: %s", x.q[i].id, x.err);
  }
  if (e != TW_ERR_OK) goto done;

  /* the returned series, in request order */
  size_t nout = 0, capout = 16;
  out_series *outs = malloc(capout * sizeof *outs);
  for (size_t i = 0; i < nq; i++) {
    query *q = &x.q[i];
    if (!q->return_data) continue;
    for (size_t k = 0; k < q->result.nts; k++) {
      if (nout == capout) outs = realloc(outs, (capout *= 2) * sizeof *outs);
      const series *s = &q->result.ts[k];
      const char *label = q->label;
      outs[nout++] = (out_series){q->id, label, s};
    }
  }
  json_t *results = json_array();
  long long skip = offset, room = maxdp, left_total = 0;
  for (size_t i = 0; i < nout; i++) {
    const series *s = outs[i].s;
    const query *q = NULL;
    for (size_t k = 0; k < nq; k++)
      if (!strcmp(x.q[k].id, outs[i].id)) q = &x.q[k];
    char label[1024];
    if (q->is_stat)
      snprintf(label, sizeof label, "%s", q->label ? q->label : q->name);
    else if (q->result.type == V_ARRAY) /* "Expression-Label Metric-Label" */
      snprintf(label, sizeof label, "%s%s%s", q->label ? q->label : "",
               q->label && *q->label && s->label ? " " : "", s->label ? s->label : "");
    else
      snprintf(label, sizeof label, "%s", q->label ? q->label : q->id);
    json_t *ts = json_array(), *vs = json_array();
    size_t n = s->n, from = 0;
    if ((long long)n <= skip) {
      skip -= (long long)n;
      from = n;
    } else {
      from = (size_t)skip;
      skip = 0;
    }
    size_t k = from;
    for (; k < n && room > 0; k++, room--) {
      size_t idx = descending ? n - 1 - k : k;
      json_array_append_new(ts, json_integer(s->t[idx]));
      json_array_append_new(vs, json_real(s->v[idx]));
    }
    left_total += (long long)(n - k);
    json_t *r =
        json_pack("{s:s,s:s,s:o,s:o,s:s,s:[]}", "Id", outs[i].id, "Label", label, "Timestamps", ts,
                  "Values", vs, "StatusCode", k < n ? "PartialData" : "Complete", "Messages");
    json_array_append_new(results, r);
  }
  free(outs);
  c->out = json_pack("{s:o,s:[]}", "MetricDataResults", results, "Messages");
  if (left_total > 0) {
    char next[64];
    snprintf(next, sizeof next, "gmd1-%lld-%s", offset + maxdp, digest);
    json_object_set_new(c->out, "NextToken", json_string(next));
  }
done:
  for (size_t i = 0; i < nq; i++) value_free(&x.q[i].result);
  free(x.q);
  return e;
}
