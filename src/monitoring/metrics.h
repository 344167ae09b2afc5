/* CloudWatch-style metrics inside tweedle: the catalog of metrics, their
 * datapoints in the store, the roll-ups that age them, and the queries the
 * CloudWatch API, the alarm evaluator and the console run on them. This is
 * the in-process C API: built-in publishers call tw_metrics_put, the
 * evaluator tw_metrics_statistic; the wire protocols are in cw_*.c.
 *
 * Storage (store/metrics.h) and retention, as CloudWatch keeps data:
 *   level 0  the last 3 hours: 1-second slots for high-resolution data
 *            (StorageResolution 1), 1-minute slots for standard data;
 *   level 1  1-minute slots up to 15 days;
 *   level 2  5-minute slots up to 63 days;
 *   level 3  1-hour slots up to 455 days, then deleted.
 * A background sweep moves each level's slots into the next as they cross
 * those ages (one store batch each: add there, delete here); a datapoint put
 * with a timestamp older than 3 hours goes straight to level 1. Each slot
 * keeps count, sum, minimum, maximum and a 1 % log-bucketed histogram
 * (core/sketch.h), so percentiles stay within 1 % at every resolution.
 *
 * Bounds: at most `max_metrics` distinct metrics (namespace, name,
 * dimensions; default 50,000, TWEEDLE_METRICS_MAX): a put that would create
 * more fails with LimitExceeded; a metric leaves the catalog when its last
 * datapoint is older than 455 days. Per metric the store holds at most
 * 10,800 + 21,600 + 13,824 + 9,408 slots per unit, whatever the put rate. */
#ifndef TW_MONITORING_METRICS_H
#define TW_MONITORING_METRICS_H
#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"
#include "core/sketch.h"
#include "store/store.h"

typedef struct tw_metrics tw_metrics;

/* CloudWatch's StandardUnit values, in the API's order (stored by number). */
/* clang-format off */
#define TW_METRIC_UNITS(X) \
  X(SECONDS, "Seconds") \
  X(MICROSECONDS, "Microseconds") \
  X(MILLISECONDS, "Milliseconds") \
  X(BYTES, "Bytes") \
  X(KILOBYTES, "Kilobytes") \
  X(MEGABYTES, "Megabytes") \
  X(GIGABYTES, "Gigabytes") \
  X(TERABYTES, "Terabytes") \
  X(BITS, "Bits") \
  X(KILOBITS, "Kilobits") \
  X(MEGABITS, "Megabits") \
  X(GIGABITS, "Gigabits") \
  X(TERABITS, "Terabits") \
  X(PERCENT, "Percent") \
  X(COUNT, "Count") \
  X(BYTES_PER_SECOND, "Bytes/Second") \
  X(KILOBYTES_PER_SECOND, "Kilobytes/Second") \
  X(MEGABYTES_PER_SECOND, "Megabytes/Second") \
  X(GIGABYTES_PER_SECOND, "Gigabytes/Second") \
  X(TERABYTES_PER_SECOND, "Terabytes/Second") \
  X(BITS_PER_SECOND, "Bits/Second") \
  X(KILOBITS_PER_SECOND, "Kilobits/Second") \
  X(MEGABITS_PER_SECOND, "Megabits/Second") \
  X(GIGABITS_PER_SECOND, "Gigabits/Second") \
  X(TERABITS_PER_SECOND, "Terabits/Second") \
  X(COUNT_PER_SECOND, "Count/Second") \
  X(NONE, "None")
/* clang-format on */

typedef enum {
#define TW_UNIT_ENUM(id, name) TW_UNIT_##id,
  TW_METRIC_UNITS(TW_UNIT_ENUM)
#undef TW_UNIT_ENUM
      TW_UNIT__COUNT
} tw_metric_unit;

const char *tw_metric_unit_name(int unit);
int tw_metric_unit_parse(const char *s); /* -1: not a unit */

/* Limits (CloudWatch's). */
#define TW_METRICS_MAX_DIMS 30
#define TW_METRICS_MAX_VALUES 150
#define TW_METRICS_MAX_DATUMS 1000
#define TW_METRICS_PAST_S (14 * 86400) /* timestamps at most two weeks old */
#define TW_METRICS_FUTURE_S (2 * 3600) /* and at most two hours ahead */
/* Retention of each level (seconds) and its slot (level 0: 1 s or 60 s). */
#define TW_METRICS_KEEP_RAW (3 * 3600)
#define TW_METRICS_KEEP_1M (15 * 86400)
#define TW_METRICS_KEEP_5M (63 * 86400)
#define TW_METRICS_KEEP_1H (455 * 86400)

typedef struct {
  const char *name, *value;
} tw_metric_dim;

typedef struct {
  double count, sum, min, max;
} tw_metric_statset;

/* One datapoint, or several values of one metric at one time. */
typedef struct {
  const char *ns, *name;
  const tw_metric_dim *dims;
  size_t ndims;
  int unit;     /* TW_UNIT_*; TW_UNIT_NONE when the publisher gave none */
  double ts;    /* epoch seconds (fractions allowed); 0: now */
  int high_res; /* StorageResolution 1: kept per second for 3 hours */
  /* exactly one of: values (counts NULL: each once), or a statistic set */
  const double *values;
  const double *counts;
  size_t nvalues;
  const tw_metric_statset *stats;
} tw_metric_datum;

typedef struct {
  size_t max_metrics;          /* 0: TWEEDLE_METRICS_MAX or 50,000 */
  int sweep_ms;                /* how often the sweep runs; 0: 60 s */
  int64_t (*now_ms)(void *ud); /* the clock (tests); NULL: the wall clock */
  void *now_ud;
  /* Cluster mode (the store is PostgreSQL's, shared by every node): ListMetrics
   * merges the shared catalog into this node's before it answers, and the
   * sweep (roll-ups, retention) runs on one node of the cluster at a time
   * (store/pg_state.h's lock), rolling up only windows older than its
   * boundary by a margin that covers clock skew and commit delays. */
  int cluster;
} tw_metrics_opts;

tw_metrics *tw_metrics_open(tw_store *s, const tw_metrics_opts *o, char *err, size_t errlen);
int tw_metrics_start(tw_metrics *m); /* the sweep thread */
void tw_metrics_stop(tw_metrics *m);
void tw_metrics_close(tw_metrics *m);
/* The store batch `ticket` failed: metrics it created leave the catalog,
 * catalog rows it updated are written again on their next put. */
void tw_metrics_commit_failed(tw_metrics *m, uint64_t ticket);
/* The engine's clock, epoch milliseconds (never goes backwards). */
int64_t tw_metrics_now_ms(tw_metrics *m);

/* Puts datapoints, all or none, in one store batch; *ticket is the batch to
 * wait for before acknowledging (tw_store_committed). Datapoints of one
 * series and slot are merged before they are written. Errors:
 * INVALID_PARAMETER_VALUE (a value, timestamp or dimension the API refuses),
 * CW_LIMIT_EXCEEDED (the cap on distinct metrics), INTERNAL. */
tw_err tw_metrics_put(tw_metrics *m, const tw_metric_datum *d, size_t n, uint64_t *ticket,
                      char *msg, size_t msglen);

/* A series over [start, end) in periods of `period` seconds from start. */
typedef struct {
  const char *ns, *name;
  const tw_metric_dim *dims;
  size_t ndims;
  int unit;        /* -1: every unit */
  int split_units; /* 1: one bucket per unit and period (GetMetricStatistics) */
  int want_sketch; /* 1: percentiles will be asked for */
  int64_t start, end;
  int period;
} tw_metric_query;

typedef struct {
  int64_t ts; /* the period's start */
  int unit;   /* with split_units; else the unit of the first data */
  double count, sum, min, max;
  int has_sketch; /* 0: some data came as statistic sets or negative values */
  tw_sketch sketch;
} tw_metric_bucket;

/* The periods that hold data, oldest first (*out malloc'd; free with
 * tw_metric_buckets_free). Periods of data kept coarser than the period
 * (older than 3 hours at a period that is no multiple of 60, ...) are left
 * out, as CloudWatch does. 0, or -1 on a store error. */
int tw_metrics_query(tw_metrics *m, const tw_metric_query *q, tw_metric_bucket **out, size_t *n);
void tw_metric_buckets_free(tw_metric_bucket *b, size_t n);

/* Statistics: SampleCount, Average, Sum, Minimum, Maximum, pNN.NN, and the
 * sketch's trimmed statistics tmNN / TM(a%:b%), tcNN / TC(..), tsNN / TS(..), IQM. */
typedef enum {
  TW_STAT_SAMPLE_COUNT,
  TW_STAT_AVERAGE,
  TW_STAT_SUM,
  TW_STAT_MINIMUM,
  TW_STAT_MAXIMUM,
  TW_STAT_PERCENTILE,    /* a = the quantile, 0..1 */
  TW_STAT_TRIMMED_MEAN,  /* of the values between quantiles a and b */
  TW_STAT_TRIMMED_COUNT, /* how many values lie between them */
  TW_STAT_TRIMMED_SUM,   /* their sum */
} tw_metric_stat_kind;

typedef struct {
  tw_metric_stat_kind kind;
  double a, b;
} tw_metric_stat;

int tw_metric_stat_parse(const char *s, tw_metric_stat *st); /* 0, or -1: not a statistic */
/* The statistic's value for a bucket: 1 (in *v), or 0 when the bucket cannot
 * tell (a percentile without a sketch). */
int tw_metric_stat_value(const tw_metric_bucket *b, const tw_metric_stat *st, double *v);

/* For the alarm evaluator: the values of one statistic per period that has
 * data, oldest first (*ts and *values malloc'd, *n of each). 0, or -1 (an
 * unknown statistic or a store error). */
int tw_metrics_statistic(tw_metrics *m, const tw_metric_query *q, const char *stat, int64_t **ts,
                         double **values, size_t *n);

/* ListMetrics: metrics with data in the last two weeks (or three hours with
 * recently_active) that match the filters, in a stable order; `after` is the
 * token of a previous page (NULL: the first). fn gets each metric; *next is
 * set to the token of the next page ("" when this was the last). Returns 0,
 * or -1 when `after` is not a token this engine made. */
typedef struct {
  const char *ns, *name; /* NULL: any */
  const tw_metric_dim *dims;
  size_t ndims; /* value NULL: any value of that dimension */
  int recently_active;
  const char *after;
  size_t limit;
} tw_metric_list_filter;

int tw_metrics_list(tw_metrics *m, const tw_metric_list_filter *f,
                    void (*fn)(void *ud, const char *ns, const char *name,
                               const tw_metric_dim *dims, size_t ndims),
                    void *ud, char *next, size_t nextlen);

/* One pass of the sweep (the background thread runs it every sweep_ms;
 * tests call it with their own clock): roll-ups, retention, the catalog. */
int tw_metrics_sweep(tw_metrics *m);

#endif
