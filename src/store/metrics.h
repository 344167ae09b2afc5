/* CloudWatch-style metrics: the catalog of metrics (namespace, name,
 * dimensions) and their aggregated datapoints ("cells").
 *
 * A cell is one series (metric, unit) over one time slot at one level of
 * resolution: level 0 holds 1-second slots (high-resolution data) and 1-minute
 * slots (standard data) for the last 3 hours, level 1 1-minute slots up to 15
 * days, level 2 5-minute slots up to 63 days, level 3 1-hour slots up to 455
 * days. A cell keeps count, sum, minimum, maximum and a distribution sketch
 * (core/sketch.h; NULL when the data came as statistic sets that do not allow
 * percentiles). Adding to a cell merges into it, so a cell is one row however
 * many writes it took; a roll-up moves a level's cells into the next level
 * (add there, delete here) in one batch, so every value is counted at exactly
 * one level at any committed state. */
#ifndef TW_STORE_METRICS_H
#define TW_STORE_METRICS_H
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct {
  int64_t id;       /* derived from the identity (monitoring/metrics.c) */
  const char *ns;   /* namespace */
  const char *name; /* metric name */
  const char *dims; /* the dimensions, a JSON array of [name, value] pairs */
  int64_t last_ms;  /* when data was last put (ListMetrics' recently active) */
} tw_metric_row;

typedef struct {
  int64_t metric_id;
  int64_t ts; /* the slot's start, epoch seconds */
  int level;  /* 0..3 */
  int unit;   /* the unit's number (monitoring/metrics.h) */
  double count, sum, min, max;
  const void *sketch; /* NULL: no percentiles for this cell */
  size_t sketch_len;
} tw_metric_cell;

typedef struct {
  /* Inserts the metric, or moves its last_ms forward. */
  uint64_t (*metric_save)(tw_store *s, const tw_metric_row *m);
  /* Metrics whose last put is older than before_ms (their data aged out). */
  uint64_t (*metrics_expire)(tw_store *s, int64_t before_ms);
  /* Merges into the cell (count and sum add, min and max widen, sketches merge). */
  uint64_t (*cell_add)(tw_store *s, const tw_metric_cell *c);
  /* Several cell_add in one statement (NULL: the store has none; call
   * cell_add per cell). The PostgreSQL store's: one INSERT for a put. */
  uint64_t (*cells_add)(tw_store *s, const tw_metric_cell *c, size_t n);
  /* Deletes the level's cells with from <= ts < to. */
  uint64_t (*cells_delete)(tw_store *s, int level, int64_t from, int64_t to);

  /* Reads (committed data). Listing callbacks return non-zero to stop; the
   * row's strings and sketch are valid during the call only. 0, or -1 on error. */
  int (*metrics_load)(tw_store *s, int (*fn)(void *ud, const tw_metric_row *m), void *ud);
  /* One metric's cells at every level and unit with from <= ts < to, oldest first. */
  int (*cells_read)(tw_store *s, int64_t metric_id, int64_t from, int64_t to,
                    int (*fn)(void *ud, const tw_metric_cell *c), void *ud);
  /* One level's cells of every metric with from <= ts < to. */
  int (*level_read)(tw_store *s, int level, int64_t from, int64_t to,
                    int (*fn)(void *ud, const tw_metric_cell *c), void *ud);
  /* The oldest slot of a level before `before`: 1 found (*ts), 0 none, -1 error. */
  int (*level_oldest)(tw_store *s, int level, int64_t before, int64_t *ts);
  /* How many cells each level holds (counts[4]); 0, or -1. */
  int (*level_counts)(tw_store *s, int64_t counts[4]);
} tw_metrics_repo;

const tw_metrics_repo *tw_store_metrics(tw_store *s);

#endif
