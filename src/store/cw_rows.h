/* CloudWatch's rows as statement values (backend.h), the same whichever
 * store writes them: src/store/sqlite/metrics.c, sqlite/cw_alarms.c and
 * pg/cw.c bind these in the column order their INSERTs name. Inside
 * src/store/ only. */
#ifndef TW_STORE_CW_ROWS_H
#define TW_STORE_CW_ROWS_H

#include "store/backend.h"
#include "store/cw_alarms.h"
#include "store/metrics.h"

/* id, namespace, name, dims, last_ms */
#define TW_CW_METRIC_NCOLS 5
static inline void tw_cw_metric_vals(const tw_metric_row *m, tw_sql_val *v) {
  v[0] = TW_SQL_I(m->id);
  v[1] = TW_SQL_S(m->ns);
  v[2] = TW_SQL_S(m->name);
  v[3] = TW_SQL_S(m->dims);
  v[4] = TW_SQL_I(m->last_ms);
}

/* metric_id, ts, level, unit: a cell's key, before the statistics (each
 * backend stores those its own way: SQLite one blob, PostgreSQL columns) */
#define TW_CW_CELL_KEY_NCOLS 4
static inline void tw_cw_cell_key_vals(const tw_metric_cell *c, tw_sql_val *v) {
  v[0] = TW_SQL_I(c->metric_id);
  v[1] = TW_SQL_I(c->ts);
  v[2] = TW_SQL_I(c->level);
  v[3] = TW_SQL_I(c->unit);
}

/* alarm_name, alarm_type, ts_ms, type, summary, data */
#define TW_CW_HISTORY_NCOLS 6
static inline void tw_cw_history_vals(const tw_cw_history_row *h, tw_sql_val *v) {
  v[0] = TW_SQL_S(h->alarm_name);
  v[1] = TW_SQL_S(h->alarm_type);
  v[2] = TW_SQL_I(h->ts_ms);
  v[3] = TW_SQL_S(h->type);
  v[4] = TW_SQL_S(h->summary);
  v[5] = TW_SQL_S(h->data);
}

#endif
