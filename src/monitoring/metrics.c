/* The metrics engine (metrics.h): the catalog in memory, puts into the
 * store, queries from it, and the sweep that rolls slots up and ages them out.
 *
 * A metric's id is derived from its identity (a hash of namespace, name and
 * sorted dimensions), so a query needs no catalog entry to find its data and
 * a catalog row lost to a failed commit is simply written again. Puts hold
 * the engine's lock while they decide levels and append (lock, then store
 * hold), and the sweep reads a level's boundary and the store's ticket under
 * the same lock, then waits for that ticket: from then on no write can land
 * below the boundary, so what it reads there is final and it may move it. */
#include "monitoring/metrics.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/map.h"
#include "store/metrics.h"
#include "store/pg_state.h"

#define ID_MASK 0x3fffffffffffffffLL
#define DEFAULT_MAX_METRICS 50000
#define DEFAULT_SWEEP_MS 60000
#define SAVE_LAST_EVERY_MS 60000 /* how stale the stored last-put time may get */
#define CLUSTER_MARGIN_S 600     /* cluster mode: roll up only windows this much older */

static const char *const unit_names[TW_UNIT__COUNT] = {
#define TW_UNIT_NAME(id, name) name,
    TW_METRIC_UNITS(TW_UNIT_NAME)
#undef TW_UNIT_NAME
};

const char *tw_metric_unit_name(int unit) {
  return unit >= 0 && unit < TW_UNIT__COUNT ? unit_names[unit] : "None";
}

int tw_metric_unit_parse(const char *s) {
  for (int i = 0; s && i < TW_UNIT__COUNT; i++)
    if (!strcmp(unit_names[i], s)) return i;
  return -1;
}

/* A metric in the catalog. Strings live in the same allocation. */
typedef struct mentry {
  int64_t id;
  char *ns, *name;
  tw_metric_dim *dims; /* sorted by name */
  size_t ndims;
  char *dims_json;
  int64_t last_ms;       /* latest put */
  int64_t saved_last_ms; /* last_ms as written to the store */
  int saved;             /* its row is in the store (or in a batch on its way) */
  uint64_t row_ticket;   /* the batch holding its latest row */
  int row_creates;       /* ... and that row is its first */
  size_t pos;            /* index in m->list */
} mentry;

struct tw_metrics {
  tw_store *store;
  const tw_metrics_repo *repo;
  pthread_mutex_t mu; /* the catalog, the clock; held while a put appends */
  tw_u64map by_id;
  mentry **list;
  size_t nlist, caplist;
  size_t max_metrics;
  int64_t (*now_fn)(void *ud);
  void *now_ud;
  int64_t last_now;
  /* the sweep thread */
  pthread_t thread;
  int running, stop;
  pthread_mutex_t smu;
  pthread_cond_t scv;
  int sweep_ms;
  int cluster;      /* opts.cluster */
  tw_pg_lead *lead; /* cluster mode: the sweep runs while this node holds it */
};

static const int level_res[4] = {1, 60, 300, 3600};

static int64_t now_ms_locked(tw_metrics *m) {
  int64_t t = m->now_fn ? m->now_fn(m->now_ud) : tw_now_ms();
  if (t < m->last_now) t = m->last_now;
  m->last_now = t;
  return t;
}

int64_t tw_metrics_now_ms(tw_metrics *m) {
  pthread_mutex_lock(&m->mu);
  int64_t t = now_ms_locked(m);
  pthread_mutex_unlock(&m->mu);
  return t;
}

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b) && ((a < 0) != (b < 0))) q--;
  return q;
}

static int64_t align_down(int64_t t, int64_t step) {
  return floor_div(t, step) * step;
}

/* Slots of `level` older than this move to the next level (3: are deleted). */
static int64_t level_boundary(int level, int64_t now_s) {
  switch (level) {
    case 0:
      return align_down(now_s - TW_METRICS_KEEP_RAW, 60);
    case 1:
      return align_down(now_s - TW_METRICS_KEEP_1M, 300);
    case 2:
      return align_down(now_s - TW_METRICS_KEEP_5M, 3600);
    default:
      return align_down(now_s - TW_METRICS_KEEP_1H, 3600);
  }
}

/* --- identity ------------------------------------------------------------------- */

static int dim_cmp(const void *a, const void *b) {
  return strcmp(((const tw_metric_dim *)a)->name, ((const tw_metric_dim *)b)->name);
}

static int64_t identity_hash(const char *ns, const char *name, const tw_metric_dim *dims,
                             size_t ndims) {
  tw_hash *h = tw_hash_sha256_new();
  if (!h) return 1;
  tw_hash_update(h, ns, strlen(ns) + 1);
  tw_hash_update(h, name, strlen(name) + 1);
  for (size_t i = 0; i < ndims; i++) {
    tw_hash_update(h, dims[i].name, strlen(dims[i].name) + 1);
    tw_hash_update(h, dims[i].value, strlen(dims[i].value) + 1);
  }
  uint8_t d[32];
  tw_hash_final(h, d);
  tw_hash_free(h);
  uint64_t h64 = 0;
  for (int i = 0; i < 8; i++) h64 = (h64 << 8) | d[i];
  int64_t id = (int64_t)(h64 & (uint64_t)ID_MASK);
  return id ? id : 1;
}

static int same_identity(const mentry *e, const char *ns, const char *name,
                         const tw_metric_dim *dims, size_t ndims) {
  if (strcmp(e->ns, ns) || strcmp(e->name, name) || e->ndims != ndims) return 0;
  for (size_t i = 0; i < ndims; i++)
    if (strcmp(e->dims[i].name, dims[i].name) || strcmp(e->dims[i].value, dims[i].value)) return 0;
  return 1;
}

/* The id of a metric (dims sorted): its entry's, or where it would go.
 * *found is its entry or NULL. Under m->mu. */
static int64_t resolve(tw_metrics *m, const char *ns, const char *name, const tw_metric_dim *dims,
                       size_t ndims, mentry **found) {
  int64_t id = identity_hash(ns, name, dims, ndims);
  for (;;) {
    mentry *e = tw_u64map_get(&m->by_id, (uint64_t)id);
    if (!e) break;
    if (same_identity(e, ns, name, dims, ndims)) {
      *found = e;
      return id;
    }
    id = (id + 1) & ID_MASK; /* a hash collision: the next free id */
    if (!id) id = 1;
  }
  *found = NULL;
  return id;
}

static char *dims_to_json(const tw_metric_dim *dims, size_t ndims) {
  json_t *a = json_array();
  for (size_t i = 0; i < ndims; i++)
    json_array_append_new(a, json_pack("[ss]", dims[i].name, dims[i].value));
  char *s = json_dumps(a, JSON_COMPACT);
  json_decref(a);
  return s;
}

static mentry *entry_new(int64_t id, const char *ns, const char *name, const tw_metric_dim *dims,
                         size_t ndims) {
  size_t n = sizeof(mentry) + ndims * sizeof(tw_metric_dim) + strlen(ns) + strlen(name) + 2;
  for (size_t i = 0; i < ndims; i++) n += strlen(dims[i].name) + strlen(dims[i].value) + 2;
  mentry *e = calloc(1, n);
  if (!e) return NULL;
  e->id = id;
  e->dims = (tw_metric_dim *)(e + 1);
  char *p = (char *)(e->dims + ndims);
#define COPY(dst, src)           \
  do {                           \
    size_t l_ = strlen(src) + 1; \
    memcpy(p, src, l_);          \
    dst = p;                     \
    p += l_;                     \
  } while (0)
  COPY(e->ns, ns);
  COPY(e->name, name);
  for (size_t i = 0; i < ndims; i++) {
    char *dn, *dv;
    COPY(dn, dims[i].name);
    COPY(dv, dims[i].value);
    e->dims[i].name = dn;
    e->dims[i].value = dv;
  }
#undef COPY
  e->ndims = ndims;
  e->dims_json = dims_to_json(e->dims, ndims);
  if (!e->dims_json) {
    free(e);
    return NULL;
  }
  return e;
}

static void entry_free(mentry *e) {
  if (!e) return;
  free(e->dims_json);
  free(e);
}

static int catalog_add(tw_metrics *m, mentry *e) {
  if (m->nlist == m->caplist) {
    size_t cap = m->caplist ? m->caplist * 2 : 256;
    mentry **l = realloc(m->list, cap * sizeof *l);
    if (!l) return -1;
    m->list = l;
    m->caplist = cap;
  }
  if (tw_u64map_put(&m->by_id, (uint64_t)e->id, e)) return -1;
  e->pos = m->nlist;
  m->list[m->nlist++] = e;
  return 0;
}

static void catalog_remove(tw_metrics *m, mentry *e) {
  tw_u64map_del(&m->by_id, (uint64_t)e->id);
  m->list[e->pos] = m->list[--m->nlist];
  m->list[e->pos]->pos = e->pos;
  entry_free(e);
}

/* --- open / close ------------------------------------------------------------------ */

static int load_row(void *ud, const tw_metric_row *r) {
  tw_metrics *m = ud;
  mentry *have = tw_u64map_get(&m->by_id, (uint64_t)r->id);
  if (have) { /* cluster mode: a metric this node knows; another node may have put it since */
    if (!strcmp(have->ns, r->ns) && !strcmp(have->name, r->name) && r->last_ms > have->last_ms)
      have->last_ms = r->last_ms;
    return 0;
  }
  if (m->nlist >= m->max_metrics * 2) return 0; /* a bound on memory whatever other nodes hold */
  json_t *a = json_loads(r->dims, 0, NULL);
  size_t nd = json_is_array(a) ? json_array_size(a) : 0;
  tw_metric_dim dims[TW_METRICS_MAX_DIMS];
  size_t k = 0;
  for (size_t i = 0; i < nd && k < TW_METRICS_MAX_DIMS; i++) {
    json_t *p = json_array_get(a, i);
    const char *dn = json_string_value(json_array_get(p, 0));
    const char *dv = json_string_value(json_array_get(p, 1));
    if (dn && dv) dims[k++] = (tw_metric_dim){dn, dv};
  }
  qsort(dims, k, sizeof dims[0], dim_cmp);
  mentry *e = entry_new(r->id, r->ns, r->name, dims, k);
  json_decref(a);
  if (!e) return 1;
  e->last_ms = e->saved_last_ms = r->last_ms;
  e->saved = 1;
  mentry *old = tw_u64map_get(&m->by_id, (uint64_t)r->id);
  if (old) { /* cannot happen (id is the key); keep the first */
    entry_free(e);
    return 0;
  }
  if (catalog_add(m, e)) {
    entry_free(e);
    return 1;
  }
  return 0;
}

tw_metrics *tw_metrics_open(tw_store *s, const tw_metrics_opts *o, char *err, size_t errlen) {
  tw_metrics *m = calloc(1, sizeof *m);
  if (!m) {
    snprintf(err, errlen, "metrics: out of memory");
    return NULL;
  }
  m->store = s;
  m->repo = tw_store_metrics(s);
  pthread_mutex_init(&m->mu, NULL);
  pthread_mutex_init(&m->smu, NULL);
  pthread_cond_init(&m->scv, NULL);
  tw_u64map_init(&m->by_id);
  m->max_metrics = o && o->max_metrics ? o->max_metrics : 0;
  if (!m->max_metrics) {
    const char *env = getenv("TWEEDLE_METRICS_MAX");
    long v = env ? strtol(env, NULL, 10) : 0;
    m->max_metrics = v > 0 ? (size_t)v : DEFAULT_MAX_METRICS;
  }
  m->sweep_ms = o && o->sweep_ms > 0 ? o->sweep_ms : DEFAULT_SWEEP_MS;
  if (o) {
    m->now_fn = o->now_ms;
    m->now_ud = o->now_ud;
    m->cluster = o->cluster;
  }
  if (m->repo->metrics_load(s, load_row, m)) {
    snprintf(err, errlen, "metrics: cannot load the catalog");
    tw_metrics_close(m);
    return NULL;
  }
  return m;
}

void tw_metrics_close(tw_metrics *m) {
  if (!m) return;
  tw_metrics_stop(m);
  for (size_t i = 0; i < m->nlist; i++) entry_free(m->list[i]);
  free(m->list);
  tw_u64map_free(&m->by_id);
  pthread_mutex_destroy(&m->mu);
  pthread_mutex_destroy(&m->smu);
  pthread_cond_destroy(&m->scv);
  free(m);
}

void tw_metrics_commit_failed(tw_metrics *m, uint64_t ticket) {
  if (!m) return;
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < m->nlist;) {
    mentry *e = m->list[i];
    if (e->row_ticket == ticket && e->row_creates) {
      catalog_remove(m, e); /* it never existed */
      continue;
    }
    if (e->row_ticket == ticket) e->saved = 0;
    i++;
  }
  pthread_mutex_unlock(&m->mu);
}

/* --- put ------------------------------------------------------------------------- */

/* The series slot a put adds to: one per (metric, unit, level, slot). */
typedef struct {
  int64_t id;
  int unit, level;
  int64_t ts;
  double count, sum, min, max;
  int has_sketch;
  tw_sketch sk;
} agg;

/* Folds one statistic set (count, sum, min, max) into an aggregate: the one
 * merge that values, statistic sets, query buckets and roll-ups all use. */
static void stats_fold(double *count, double *sum, double *min, double *max, double c_count,
                       double c_sum, double c_min, double c_max) {
  if (*count == 0) {
    *min = c_min;
    *max = c_max;
  } else {
    if (c_min < *min) *min = c_min;
    if (c_max > *max) *max = c_max;
  }
  *count += c_count;
  *sum += c_sum;
}

static void agg_value(agg *a, double v, double c) {
  stats_fold(&a->count, &a->sum, &a->min, &a->max, c, v * c, v, v);
  if (a->has_sketch && (v < 0 || tw_sketch_add(&a->sk, v, c))) a->has_sketch = 0;
}

static void agg_stats(agg *a, const tw_metric_statset *s) {
  stats_fold(&a->count, &a->sum, &a->min, &a->max, s->count, s->sum, s->min, s->max);
  /* CloudWatch keeps percentiles of a statistic set only when it is one value
   * (SampleCount 1, or Min = Max with Sum = Min * SampleCount) */
  int one_value =
      s->min == s->max && (s->count == 1 ? s->sum == s->min : s->sum == s->min * s->count);
  if (a->has_sketch && (!one_value || s->min < 0 || tw_sketch_add(&a->sk, s->min, s->count)))
    a->has_sketch = 0;
}

static int valid_value(double v) {
  double a = fabs(v);
  return isfinite(v) && a <= 0x1p360 && (a == 0 || a >= 0x1p-360);
}

/* Checks one datum the way the API does (the wire front ends check first,
 * with AWS's messages and parameter names; this guards in-process callers). */
static tw_err check_datum(const tw_metric_datum *d, size_t k, int64_t now_s, char *msg,
                          size_t msglen) {
  /* AWS/ namespaces are the API's to refuse: built-in publishers use them */
  if (!d->ns || !*d->ns || strlen(d->ns) > 255) {
    snprintf(msg, msglen, "The value %s for parameter Namespace is invalid.", d->ns ? d->ns : "");
    return TW_ERR_INVALID_PARAMETER_VALUE;
  }
  if (!d->name || !*d->name || strlen(d->name) > 255) {
    snprintf(msg, msglen, "The parameter MetricData.member.%zu.MetricName is required.", k + 1);
    return TW_ERR_MISSING_PARAMETER;
  }
  if (d->ndims > TW_METRICS_MAX_DIMS) {
    snprintf(msg, msglen,
             "The collection MetricData.member.%zu.Dimensions must not have more than %d members.",
             k + 1, TW_METRICS_MAX_DIMS);
    return TW_ERR_INVALID_PARAMETER_VALUE;
  }
  for (size_t i = 0; i < d->ndims; i++) {
    if (!d->dims[i].name || !*d->dims[i].name || !d->dims[i].value || !*d->dims[i].value) {
      snprintf(msg, msglen, "The parameter MetricData.member.%zu.Dimensions.member.%zu is invalid.",
               k + 1, i + 1);
      return TW_ERR_INVALID_PARAMETER_VALUE;
    }
    for (size_t j = 0; j < i; j++)
      if (!strcmp(d->dims[i].name, d->dims[j].name)) {
        snprintf(msg, msglen, "No metric may specify the same dimension name twice.");
        return TW_ERR_INVALID_PARAMETER_VALUE;
      }
  }
  if (d->unit < 0 || d->unit >= TW_UNIT__COUNT) {
    snprintf(msg, msglen, "The parameter MetricData.member.%zu.Unit is invalid.", k + 1);
    return TW_ERR_INVALID_PARAMETER_VALUE;
  }
  if (d->ts != 0) {
    if (!isfinite(d->ts) || d->ts < (double)(now_s - TW_METRICS_PAST_S)) {
      snprintf(msg, msglen,
               "The parameter MetricData.member.%zu.Timestamp must specify a time within the past "
               "two weeks.",
               k + 1);
      return TW_ERR_INVALID_PARAMETER_VALUE;
    }
    if (d->ts > (double)(now_s + TW_METRICS_FUTURE_S)) {
      snprintf(msg, msglen,
               "The parameter MetricData.member.%zu.Timestamp must specify a time no more than two "
               "hours in the future.",
               k + 1);
      return TW_ERR_INVALID_PARAMETER_VALUE;
    }
  }
  if (d->stats) {
    const tw_metric_statset *s = d->stats;
    if (!valid_value(s->sum) || !valid_value(s->min) || !valid_value(s->max) ||
        !valid_value(s->count) || !(s->count > 0) || s->min > s->max) {
      snprintf(msg, msglen, "The parameter MetricData.member.%zu.StatisticValues is invalid.",
               k + 1);
      return TW_ERR_INVALID_PARAMETER_VALUE;
    }
    return TW_ERR_OK;
  }
  if (!d->values || d->nvalues == 0 || d->nvalues > TW_METRICS_MAX_VALUES) {
    snprintf(msg, msglen, "The parameter MetricData.member.%zu.Value is required.", k + 1);
    return TW_ERR_MISSING_PARAMETER;
  }
  for (size_t i = 0; i < d->nvalues; i++) {
    if (!valid_value(d->values[i]) ||
        (d->counts && (!isfinite(d->counts[i]) || d->counts[i] < 0 || d->counts[i] > 0x1p360))) {
      snprintf(msg, msglen, "The value %g for parameter MetricData.member.%zu.Values is invalid.",
               d->values[i], k + 1);
      return TW_ERR_INVALID_PARAMETER_VALUE;
    }
  }
  return TW_ERR_OK;
}

/* Sorts dims into `out` (at most TW_METRICS_MAX_DIMS). */
static void sorted_dims(const tw_metric_dim *dims, size_t n, tw_metric_dim *out) {
  if (n) memcpy(out, dims, n * sizeof *out);
  qsort(out, n, sizeof *out, dim_cmp);
}

tw_err tw_metrics_put(tw_metrics *m, const tw_metric_datum *d, size_t n, uint64_t *ticket,
                      char *msg, size_t msglen) {
  msg[0] = 0;
  *ticket = 0;
  if (n == 0) return TW_ERR_OK;
  tw_err e = TW_ERR_OK;
  int64_t *ids = calloc(n, sizeof *ids);
  mentry **ents = calloc(n, sizeof *ents);
  agg *aggs = calloc(n, sizeof *aggs);
  tw_map slots;
  tw_map_init(&slots);
  size_t naggs = 0;
  if (!ids || !ents || !aggs) {
    free(ids);
    free(ents);
    free(aggs);
    snprintf(msg, msglen, "Out of memory.");
    return TW_ERR_INTERNAL;
  }
  pthread_mutex_lock(&m->mu);
  int64_t now_ms = now_ms_locked(m);
  int64_t now_s = floor_div(now_ms, 1000);
  for (size_t k = 0; k < n && e == TW_ERR_OK; k++) e = check_datum(&d[k], k, now_s, msg, msglen);
  if (e != TW_ERR_OK) goto unlock;

  /* which metrics are new: refuse them all if they would pass the cap */
  size_t fresh = 0;
  tw_u64map seen;
  tw_u64map_init(&seen);
  for (size_t k = 0; k < n; k++) {
    tw_metric_dim dims[TW_METRICS_MAX_DIMS];
    sorted_dims(d[k].dims, d[k].ndims, dims);
    ids[k] = resolve(m, d[k].ns, d[k].name, dims, d[k].ndims, &ents[k]);
    if (!ents[k] && !tw_u64map_get(&seen, (uint64_t)ids[k])) {
      tw_u64map_put(&seen, (uint64_t)ids[k], (void *)1);
      fresh++;
    }
  }
  tw_u64map_free(&seen);
  if (fresh && m->nlist + fresh > m->max_metrics) {
    snprintf(msg, msglen,
             "This put would create %zu new metrics; tweedle keeps at most %zu distinct metrics "
             "(TWEEDLE_METRICS_MAX) and holds %zu.",
             fresh, m->max_metrics, m->nlist);
    e = TW_ERR_CW_LIMIT_EXCEEDED;
    goto unlock;
  }

  /* the slots: datapoints of one series and slot merge into one cell */
  int64_t b0 = level_boundary(0, now_s);
  for (size_t k = 0; k < n; k++) {
    double t = d[k].ts != 0 ? d[k].ts : (double)now_ms / 1000.0;
    int64_t sec = (int64_t)floor(t);
    int64_t slot = d[k].high_res ? sec : align_down(sec, 60);
    int level = 0;
    if (slot < b0) { /* older than the raw window: straight to 1-minute slots */
      level = 1;
      slot = align_down(sec, 60);
    }
    char key[96];
    snprintf(key, sizeof key, "%lld/%d/%d/%lld", (long long)ids[k], d[k].unit, level,
             (long long)slot);
    agg *a = tw_map_get(&slots, key);
    if (!a) {
      a = &aggs[naggs++];
      a->id = ids[k];
      a->unit = d[k].unit;
      a->level = level;
      a->ts = slot;
      a->has_sketch = 1;
      tw_sketch_init(&a->sk);
      tw_map_put(&slots, key, a);
    }
    if (d[k].stats) {
      agg_stats(a, d[k].stats);
    } else {
      for (size_t i = 0; i < d[k].nvalues; i++) {
        double c = d[k].counts ? d[k].counts[i] : 1;
        if (c > 0) agg_value(a, d[k].values[i], c);
      }
    }
  }

  /* new catalog entries */
  for (size_t k = 0; k < n; k++) {
    if (ents[k]) continue;
    mentry *x = tw_u64map_get(&m->by_id, (uint64_t)ids[k]);
    if (x) { /* created by an earlier datum of this put */
      ents[k] = x;
      continue;
    }
    tw_metric_dim dims[TW_METRICS_MAX_DIMS];
    sorted_dims(d[k].dims, d[k].ndims, dims);
    x = entry_new(ids[k], d[k].ns, d[k].name, dims, d[k].ndims);
    if (!x || catalog_add(m, x)) {
      entry_free(x);
      snprintf(msg, msglen, "Out of memory.");
      e = TW_ERR_INTERNAL;
      goto unlock;
    }
    ents[k] = x;
  }

  /* append everything in one batch */
  tw_buf sk;
  tw_buf_init(&sk, 16u << 20);
  uint64_t t = 0;
  int failed = 0;
  tw_store_hold(m->store);
  for (size_t k = 0; k < n; k++) {
    mentry *x = ents[k];
    x->last_ms = now_ms;
    if (x->saved && now_ms - x->saved_last_ms < SAVE_LAST_EVERY_MS) continue;
    tw_metric_row row = {x->id, x->ns, x->name, x->dims_json, now_ms};
    uint64_t tt = m->repo->metric_save(m->store, &row);
    if (!tt) failed = 1;
    t = tt > t ? tt : t;
    x->row_creates = !x->saved_last_ms;
    x->row_ticket = tt;
    x->saved = 1;
    x->saved_last_ms = now_ms;
  }
  /* a store that adds several cells in one statement (PostgreSQL's): one for the put */
  tw_metric_cell *many = m->repo->cells_add ? calloc(naggs ? naggs : 1, sizeof *many) : NULL;
  tw_buf *sks = many ? calloc(naggs ? naggs : 1, sizeof *sks) : NULL;
  size_t nmany = 0;
  for (size_t i = 0; i < naggs; i++) {
    agg *a = &aggs[i];
    if (a->count <= 0) continue; /* only zero counts */
    if (sks) {
      tw_buf_init(&sks[nmany], 16u << 20);
      int with = a->has_sketch && tw_sketch_encode(&a->sk, &sks[nmany]) == 0;
      many[nmany] = (tw_metric_cell){.metric_id = a->id,
                                     .ts = a->ts,
                                     .level = a->level,
                                     .unit = a->unit,
                                     .count = a->count,
                                     .sum = a->sum,
                                     .min = a->min,
                                     .max = a->max,
                                     .sketch = with ? sks[nmany].data : NULL,
                                     .sketch_len = with ? sks[nmany].len : 0};
      nmany++;
      continue;
    }
    tw_buf_reset(&sk);
    int with = a->has_sketch && tw_sketch_encode(&a->sk, &sk) == 0;
    tw_metric_cell c = {.metric_id = a->id,
                        .ts = a->ts,
                        .level = a->level,
                        .unit = a->unit,
                        .count = a->count,
                        .sum = a->sum,
                        .min = a->min,
                        .max = a->max,
                        .sketch = with ? sk.data : NULL,
                        .sketch_len = with ? sk.len : 0};
    uint64_t tt = m->repo->cell_add(m->store, &c);
    if (!tt) failed = 1;
    t = tt > t ? tt : t;
  }
  if (m->repo->cells_add && !sks) failed = 1; /* out of memory */
  if (nmany) {
    uint64_t tt = m->repo->cells_add(m->store, many, nmany);
    if (!tt) failed = 1;
    t = tt > t ? tt : t;
  }
  for (size_t i = 0; i < nmany; i++) tw_buf_free(&sks[i]);
  free(sks);
  free(many);
  if (!t) t = tw_store_ticket(m->store);
  tw_store_release(m->store);
  tw_buf_free(&sk);
  *ticket = t;
  if (failed) {
    snprintf(msg, msglen, "The store could not take the datapoints.");
    e = TW_ERR_INTERNAL;
  }
unlock:
  pthread_mutex_unlock(&m->mu);
  for (size_t i = 0; i < naggs; i++) tw_sketch_free(&aggs[i].sk);
  tw_map_free(&slots);
  free(aggs);
  free(ents);
  free(ids);
  return e;
}

/* --- queries --------------------------------------------------------------------- */

typedef struct {
  const tw_metric_query *q;
  tw_metric_bucket *b;
  size_t n, cap;
  size_t cur; /* first bucket of the current period */
  int64_t cur_idx;
  int failed;
} qstate;

static tw_metric_bucket *bucket_for(qstate *s, int64_t idx, int unit) {
  if (s->n == 0 || idx != s->cur_idx) {
    s->cur = s->n;
    s->cur_idx = idx;
  } else {
    for (size_t i = s->cur; i < s->n; i++)
      if (!s->q->split_units || s->b[i].unit == unit) return &s->b[i];
  }
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    tw_metric_bucket *nb = realloc(s->b, cap * sizeof *nb);
    if (!nb) return NULL;
    s->b = nb;
    s->cap = cap;
  }
  tw_metric_bucket *b = &s->b[s->n++];
  memset(b, 0, sizeof *b);
  b->ts = s->q->start + idx * s->q->period;
  b->unit = unit;
  b->has_sketch = s->q->want_sketch;
  tw_sketch_init(&b->sketch);
  return b;
}

static int on_cell(void *ud, const tw_metric_cell *c) {
  qstate *s = ud;
  const tw_metric_query *q = s->q;
  if (q->unit >= 0 && c->unit != q->unit) return 0;
  if (c->level > 0 && q->period % level_res[c->level]) return 0; /* kept coarser than asked */
  if (c->ts < q->start || c->ts >= q->end || c->count <= 0) return 0;
  tw_metric_bucket *b = bucket_for(s, (c->ts - q->start) / q->period, c->unit);
  if (!b) {
    s->failed = 1;
    return 1;
  }
  stats_fold(&b->count, &b->sum, &b->min, &b->max, c->count, c->sum, c->min, c->max);
  if (b->has_sketch && (!c->sketch || tw_sketch_decode_add(&b->sketch, c->sketch, c->sketch_len)))
    b->has_sketch = 0;
  return 0;
}

void tw_metric_buckets_free(tw_metric_bucket *b, size_t n) {
  for (size_t i = 0; b && i < n; i++) tw_sketch_free(&b[i].sketch);
  free(b);
}

int tw_metrics_query(tw_metrics *m, const tw_metric_query *q, tw_metric_bucket **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (q->period <= 0 || q->end <= q->start || q->ndims > TW_METRICS_MAX_DIMS) return 0;
  tw_metric_dim dims[TW_METRICS_MAX_DIMS];
  sorted_dims(q->dims, q->ndims, dims);
  mentry *e;
  pthread_mutex_lock(&m->mu);
  int64_t id = resolve(m, q->ns, q->name, dims, q->ndims, &e);
  pthread_mutex_unlock(&m->mu);
  qstate s = {.q = q};
  int rc = m->repo->cells_read(m->store, id, q->start, q->end, on_cell, &s);
  if (rc || s.failed) {
    tw_metric_buckets_free(s.b, s.n);
    return -1;
  }
  for (size_t i = 0; i < s.n; i++)
    if (!s.b[i].has_sketch) tw_sketch_free(&s.b[i].sketch);
  *out = s.b;
  *n = s.n;
  return 0;
}

/* "a%:b%" inside TM( ), either side may be empty; the rest of s must be ")". */
static int parse_range(const char *p, tw_metric_stat *st) {
  double a = 0, b = 100;
  char *end;
  if (*p != ':') {
    a = strtod(p, &end);
    if (end == p || *end != '%') return -1;
    p = end + 1;
  }
  if (*p++ != ':') return -1;
  if (*p != ')') {
    b = strtod(p, &end);
    if (end == p || *end != '%') return -1;
    p = end + 1;
  }
  if (*p != ')' || p[1] || a < 0 || b > 100 || a >= b) return -1;
  st->a = a / 100;
  st->b = b / 100;
  return 0;
}

/* 0 to 100 with at most two decimals ("99", "99.9", "100"). */
static int parse_pct(const char *p, double *v) {
  const char *q = p;
  int before = 0, after = 0;
  while (*q >= '0' && *q <= '9') q++, before++;
  if (*q == '.') {
    q++;
    while (*q >= '0' && *q <= '9') q++, after++;
  }
  if (*q || before < 1 || before > 3 || after > 2) return -1;
  *v = strtod(p, NULL);
  return *v >= 0 && *v <= 100 ? 0 : -1;
}

int tw_metric_stat_parse(const char *s, tw_metric_stat *st) {
  memset(st, 0, sizeof *st);
  if (!s) return -1;
  static const struct {
    const char *name;
    tw_metric_stat_kind kind;
  } plain[] = {{"SampleCount", TW_STAT_SAMPLE_COUNT},
               {"Average", TW_STAT_AVERAGE},
               {"Sum", TW_STAT_SUM},
               {"Minimum", TW_STAT_MINIMUM},
               {"Maximum", TW_STAT_MAXIMUM}};
  for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
    if (!strcmp(s, plain[i].name)) {
      st->kind = plain[i].kind;
      return 0;
    }
  if (!strcmp(s, "IQM")) {
    st->kind = TW_STAT_TRIMMED_MEAN;
    st->a = 0.25;
    st->b = 0.75;
    return 0;
  }
  static const struct {
    const char *lower, *upper;
    tw_metric_stat_kind kind;
  } trimmed[] = {{"tm", "TM(", TW_STAT_TRIMMED_MEAN},
                 {"tc", "TC(", TW_STAT_TRIMMED_COUNT},
                 {"ts", "TS(", TW_STAT_TRIMMED_SUM}};
  double v;
  for (size_t i = 0; i < sizeof trimmed / sizeof trimmed[0]; i++) {
    if (!strncmp(s, trimmed[i].upper, 3)) {
      st->kind = trimmed[i].kind;
      return parse_range(s + 3, st);
    }
    if (!strncmp(s, trimmed[i].lower, 2)) { /* tm90: the lowest 90 % */
      st->kind = trimmed[i].kind;
      if (parse_pct(s + 2, &v) || v <= 0) return -1;
      st->a = 0;
      st->b = v / 100;
      return 0;
    }
  }
  if (s[0] == 'p' && parse_pct(s + 1, &v) == 0) {
    st->kind = TW_STAT_PERCENTILE;
    st->a = v / 100;
    return 0;
  }
  return -1;
}

int tw_metric_stat_value(const tw_metric_bucket *b, const tw_metric_stat *st, double *v) {
  if (b->count <= 0) return 0;
  switch (st->kind) {
    case TW_STAT_SAMPLE_COUNT:
      *v = b->count;
      return 1;
    case TW_STAT_AVERAGE:
      *v = b->sum / b->count;
      return 1;
    case TW_STAT_SUM:
      *v = b->sum;
      return 1;
    case TW_STAT_MINIMUM:
      *v = b->min;
      return 1;
    case TW_STAT_MAXIMUM:
      *v = b->max;
      return 1;
    case TW_STAT_PERCENTILE: {
      if (st->a <= 0) {
        *v = b->min;
        return 1;
      }
      if (st->a >= 1) {
        *v = b->max;
        return 1;
      }
      if (!b->has_sketch) return 0;
      double x = tw_sketch_quantile(&b->sketch, st->a);
      if (isnan(x)) return 0;
      *v = x < b->min ? b->min : x > b->max ? b->max : x;
      return 1;
    }
    default: {
      if (!b->has_sketch) return 0;
      double cnt, mean = tw_sketch_trimmed_mean(&b->sketch, st->a, st->b, &cnt);
      if (st->kind == TW_STAT_TRIMMED_COUNT) {
        *v = cnt;
        return 1;
      }
      if (isnan(mean)) return 0;
      if (mean < b->min) mean = b->min;
      if (mean > b->max) mean = b->max;
      *v = st->kind == TW_STAT_TRIMMED_SUM ? mean * cnt : mean;
      return 1;
    }
  }
}

int tw_metrics_statistic(tw_metrics *m, const tw_metric_query *q, const char *stat, int64_t **ts,
                         double **values, size_t *n) {
  *ts = NULL;
  *values = NULL;
  *n = 0;
  tw_metric_stat st;
  if (tw_metric_stat_parse(stat, &st)) return -1;
  tw_metric_query qq = *q;
  qq.split_units = 0;
  qq.want_sketch = st.kind >= TW_STAT_PERCENTILE;
  tw_metric_bucket *b;
  size_t nb;
  if (tw_metrics_query(m, &qq, &b, &nb)) return -1;
  *ts = malloc((nb ? nb : 1) * sizeof **ts);
  *values = malloc((nb ? nb : 1) * sizeof **values);
  if (!*ts || !*values) {
    free(*ts);
    free(*values);
    *ts = NULL;
    *values = NULL;
    tw_metric_buckets_free(b, nb);
    return -1;
  }
  for (size_t i = 0; i < nb; i++) {
    double v;
    if (!tw_metric_stat_value(&b[i], &st, &v)) continue;
    (*ts)[*n] = b[i].ts;
    (*values)[*n] = v;
    (*n)++;
  }
  tw_metric_buckets_free(b, nb);
  return 0;
}

/* --- ListMetrics ------------------------------------------------------------------- */

static int cmp_entry_id(const void *a, const void *b) {
  int64_t x = (*(mentry *const *)a)->id, y = (*(mentry *const *)b)->id;
  return x < y ? -1 : x > y;
}

static int dims_match(const mentry *e, const tw_metric_dim *f, size_t nf) {
  for (size_t i = 0; i < nf; i++) {
    int ok = 0;
    for (size_t j = 0; j < e->ndims && !ok; j++)
      ok = !strcmp(e->dims[j].name, f[i].name) &&
           (!f[i].value || !strcmp(e->dims[j].value, f[i].value));
    if (!ok) return 0;
  }
  return 1;
}

int tw_metrics_list(tw_metrics *m, const tw_metric_list_filter *f,
                    void (*fn)(void *ud, const char *ns, const char *name,
                               const tw_metric_dim *dims, size_t ndims),
                    void *ud, char *next, size_t nextlen) {
  next[0] = 0;
  int64_t after = -1;
  if (f->after && *f->after) {
    char *end;
    if (strncmp(f->after, "cw1-", 4)) return -1;
    long long v = strtoll(f->after + 4, &end, 16);
    if (*end || end == f->after + 4 || v < 0) return -1;
    after = v;
  }
  size_t limit = f->limit ? f->limit : 500;
  pthread_mutex_lock(&m->mu);
  /* cluster mode: every node's metrics, as committed (read-your-writes across nodes) */
  if (m->cluster && m->repo->metrics_load(m->store, load_row, m)) {
    pthread_mutex_unlock(&m->mu);
    return -2;
  }
  int64_t now = now_ms_locked(m);
  int64_t since = now - (f->recently_active ? 3 * 3600 * 1000LL : TW_METRICS_PAST_S * 1000LL);
  mentry **sel = malloc((m->nlist ? m->nlist : 1) * sizeof *sel);
  if (!sel) {
    pthread_mutex_unlock(&m->mu);
    return -2;
  }
  size_t ns = 0;
  for (size_t i = 0; i < m->nlist; i++) {
    mentry *e = m->list[i];
    if (e->id <= after || e->last_ms < since) continue;
    if (f->ns && strcmp(f->ns, e->ns)) continue;
    if (f->name && strcmp(f->name, e->name)) continue;
    if (!dims_match(e, f->dims, f->ndims)) continue;
    sel[ns++] = e;
  }
  qsort(sel, ns, sizeof *sel, cmp_entry_id);
  size_t k = 0;
  for (; k < ns && k < limit; k++) fn(ud, sel[k]->ns, sel[k]->name, sel[k]->dims, sel[k]->ndims);
  if (k < ns && k > 0) snprintf(next, nextlen, "cw1-%llx", (unsigned long long)sel[k - 1]->id);
  pthread_mutex_unlock(&m->mu);
  free(sel);
  return 0;
}

/* --- the sweep --------------------------------------------------------------------- */

/* Waits until the store has committed `ticket` (or the engine stops). */
static int wait_committed(tw_metrics *m, uint64_t ticket) {
  for (int i = 0; i < 60000; i++) {
    if (tw_store_committed(m->store) >= ticket) return 0;
    pthread_mutex_lock(&m->smu);
    int stop = m->stop;
    pthread_mutex_unlock(&m->smu);
    if (stop && i > 5000) return -1;
    usleep(1000);
  }
  return -1;
}

typedef struct {
  tw_map index; /* "metric/unit" -> position + 1 in a */
  agg *a;
  size_t n, cap;
  int failed;
} rollup;

static int on_roll_cell(void *ud, const tw_metric_cell *c) {
  rollup *r = ud;
  char key[48];
  snprintf(key, sizeof key, "%lld/%d", (long long)c->metric_id, c->unit);
  size_t pos = (size_t)(uintptr_t)tw_map_get(&r->index, key);
  agg *a;
  if (pos) {
    a = &r->a[pos - 1];
  } else {
    if (r->n == r->cap) {
      size_t cap = r->cap ? r->cap * 2 : 256;
      agg *na = realloc(r->a, cap * sizeof *na);
      if (!na) {
        r->failed = 1;
        return 1;
      }
      r->a = na;
      r->cap = cap;
    }
    a = &r->a[r->n++];
    memset(a, 0, sizeof *a);
    a->id = c->metric_id;
    a->unit = c->unit;
    a->has_sketch = 1;
    tw_sketch_init(&a->sk);
    if (tw_map_put(&r->index, key, (void *)(uintptr_t)r->n)) {
      r->failed = 1;
      return 1;
    }
  }
  stats_fold(&a->count, &a->sum, &a->min, &a->max, c->count, c->sum, c->min, c->max);
  if (a->has_sketch && (!c->sketch || tw_sketch_decode_add(&a->sk, c->sketch, c->sketch_len)))
    a->has_sketch = 0;
  return 0;
}

/* Moves one window [w0, w1) of `level` into one slot of level+1. 0, or -1. */
static int roll_window(tw_metrics *m, int level, int64_t w0, int64_t w1) {
  rollup r = {0};
  tw_map_init(&r.index);
  int rc = -1;
  if (m->repo->level_read(m->store, level, w0, w1, on_roll_cell, &r) || r.failed) goto done;
  uint64_t failures = tw_store_failures(m->store);
  tw_buf sk;
  tw_buf_init(&sk, 16u << 20);
  int failed = 0;
  tw_store_hold(m->store);
  for (size_t i = 0; i < r.n; i++) {
    agg *a = &r.a[i];
    tw_buf_reset(&sk);
    int with = a->has_sketch && tw_sketch_encode(&a->sk, &sk) == 0;
    tw_metric_cell c = {.metric_id = a->id,
                        .ts = w0,
                        .level = level + 1,
                        .unit = a->unit,
                        .count = a->count,
                        .sum = a->sum,
                        .min = a->min,
                        .max = a->max,
                        .sketch = with ? sk.data : NULL,
                        .sketch_len = with ? sk.len : 0};
    if (!m->repo->cell_add(m->store, &c)) failed = 1;
  }
  uint64_t t = failed ? 0 : m->repo->cells_delete(m->store, level, w0, w1);
  tw_store_release(m->store);
  tw_buf_free(&sk);
  if (!t) goto done;
  if (wait_committed(m, t) || tw_store_failures(m->store) != failures) goto done;
  rc = 0;
done:
  for (size_t i = 0; i < r.n; i++) tw_sketch_free(&r.a[i].sk);
  free(r.a);
  tw_map_free(&r.index);
  return rc;
}

int tw_metrics_sweep(tw_metrics *m) {
  int moved = 0;
  for (int level = 0; level < 3; level++) {
    pthread_mutex_lock(&m->mu);
    int64_t now_s = floor_div(now_ms_locked(m), 1000);
    int64_t bound = level_boundary(level, now_s);
    /* cluster mode: another node's put decided its level by its own clock
     * and commits a little later; windows this much older are final */
    if (m->cluster) bound -= CLUSTER_MARGIN_S;
    uint64_t ticket = tw_store_ticket(m->store);
    pthread_mutex_unlock(&m->mu);
    /* every write that could land below the boundary is committed now */
    if (wait_committed(m, ticket)) return -1;
    for (int windows = 0; windows < 100000; windows++) {
      int64_t oldest;
      int found = m->repo->level_oldest(m->store, level, bound, &oldest);
      if (found < 0) return -1;
      if (!found) break;
      int64_t step = level_res[level + 1];
      int64_t w0 = align_down(oldest, step);
      if (roll_window(m, level, w0, w0 + step)) return -1;
      moved++;
      pthread_mutex_lock(&m->smu);
      int stop = m->stop;
      pthread_mutex_unlock(&m->smu);
      if (stop) return moved;
    }
  }
  /* level 3 ages out; so does the catalog entry of a metric whose data did */
  pthread_mutex_lock(&m->mu);
  int64_t now = now_ms_locked(m);
  int64_t bound = level_boundary(3, floor_div(now, 1000));
  int64_t before_ms = now - (int64_t)TW_METRICS_KEEP_1H * 1000 - 86400000LL;
  uint64_t t = 0, tt;
  int64_t oldest;
  int aged = m->repo->level_oldest(m->store, 3, bound, &oldest) == 1;
  tw_store_hold(m->store);
  if (aged && (tt = m->repo->cells_delete(m->store, 3, oldest, bound))) t = tt;
  size_t expired = 0;
  for (size_t i = 0; i < m->nlist;) {
    mentry *e = m->list[i];
    if (e->last_ms < before_ms) {
      catalog_remove(m, e);
      expired++;
    } else {
      i++;
    }
  }
  if (expired && (tt = m->repo->metrics_expire(m->store, before_ms))) t = tt;
  tw_store_release(m->store);
  pthread_mutex_unlock(&m->mu);
  if (t) wait_committed(m, t);
  if (moved || expired)
    tw_debug("metrics: rolled up %d windows, %zu metrics expired", moved, expired);
  return moved;
}

/* Cluster mode, on a node that does not run the sweep: its catalog forgets
 * metrics whose data aged out, as the sweeping node's does. */
static void forget_expired(tw_metrics *m) {
  pthread_mutex_lock(&m->mu);
  int64_t before_ms = now_ms_locked(m) - (int64_t)TW_METRICS_KEEP_1H * 1000 - 86400000LL;
  for (size_t i = 0; i < m->nlist;) {
    if (m->list[i]->last_ms < before_ms)
      catalog_remove(m, m->list[i]);
    else
      i++;
  }
  pthread_mutex_unlock(&m->mu);
}

/* Cluster mode: 1 when this node runs the cluster's sweep now. */
static int sweep_here(tw_metrics *m) {
  if (!m->lead) m->lead = tw_store_pg_lead_open(m->store, "cloudwatch-metrics");
  int lead = m->lead ? tw_store_pg_lead(m->lead) : -1;
  return lead == 1; /* the lock logs when this node takes it */
}

static void *sweep_main(void *arg) {
  tw_metrics *m = arg;
  pthread_mutex_lock(&m->smu);
  while (!m->stop) {
    pthread_mutex_unlock(&m->smu);
    if (m->cluster && !sweep_here(m))
      forget_expired(m);
    else if (tw_metrics_sweep(m) < 0)
      tw_warn("metrics: the sweep did not finish; it runs again later");
    pthread_mutex_lock(&m->smu);
    if (m->stop) break;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (int64_t)(m->sweep_ms % 1000) * 1000000;
    ts.tv_sec += m->sweep_ms / 1000 + ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_cond_timedwait(&m->scv, &m->smu, &ts);
  }
  pthread_mutex_unlock(&m->smu);
  return NULL;
}

int tw_metrics_start(tw_metrics *m) {
  if (pthread_create(&m->thread, NULL, sweep_main, m)) return -1;
  m->running = 1;
  return 0;
}

void tw_metrics_stop(tw_metrics *m) {
  if (!m || !m->running) return;
  pthread_mutex_lock(&m->smu);
  m->stop = 1;
  pthread_cond_signal(&m->scv);
  pthread_mutex_unlock(&m->smu);
  pthread_join(m->thread, NULL);
  m->running = 0;
  tw_store_pg_lead_close(m->lead); /* frees the lock: another node sweeps */
  m->lead = NULL;
}
