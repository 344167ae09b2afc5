/* CloudWatch alarms, their history, and dashboards. The alarm engine
 * (monitoring/cw_alarms.c) keeps alarms and dashboards in memory from start to
 * shutdown; this repository saves them (each as a JSON document) and gives
 * them back at start and after a failed commit. History items are only
 * appended here and read back with filters (committed data). */
#ifndef TW_STORE_CW_ALARMS_H
#define TW_STORE_CW_ALARMS_H
#include <stdint.h>

#include "store/store.h"

typedef struct {
  int64_t id; /* increasing; 0 when adding (assigned by the store) */
  const char *alarm_name;
  const char *alarm_type; /* "MetricAlarm" or "CompositeAlarm" */
  int64_t ts_ms;
  const char *type;    /* "ConfigurationUpdate", "StateUpdate", "Action" */
  const char *summary; /* HistorySummary */
  const char *data;    /* HistoryData (a JSON document as text) */
} tw_cw_history_row;

typedef struct {
  const char *alarm_name; /* NULL: every alarm */
  const char *type;       /* NULL: every type */
  int64_t from_ms, to_ms; /* from <= ts < to */
  int newest_first;
  int alarm_types;  /* 1 metric alarms, 2 composite alarms, 3 (or 0) both */
  int64_t after_id; /* paging: rows past this id in the scan order (0: from the start) */
  int limit;
} tw_cw_history_filter;

typedef struct {
  /* Inserts or replaces an alarm (doc: {"Alarm": MetricAlarm, "Tags": [...]}). */
  uint64_t (*alarm_put)(tw_store *s, const char *name, const char *doc);
  uint64_t (*alarm_delete)(tw_store *s, const char *name);
  uint64_t (*history_add)(tw_store *s, const tw_cw_history_row *row);
  /* Drops history items older than before_ms (CloudWatch keeps two weeks). */
  uint64_t (*history_prune)(tw_store *s, int64_t before_ms);
  /* Inserts or replaces a dashboard (doc: {"Body", "LastModified", "Tags"}). */
  uint64_t (*dashboard_put)(tw_store *s, const char *name, const char *doc);
  uint64_t (*dashboard_delete)(tw_store *s, const char *name);

  /* Every alarm, then every dashboard, by name (rows valid during the call).
   * A callback returns non-zero to stop. 0, or -1 on error. */
  int (*load)(tw_store *s, int (*alarm)(void *ud, const char *name, const char *doc),
              int (*dashboard)(void *ud, const char *name, const char *doc), void *ud);
  /* History items matching f, in f's order, at most f->limit. 0, or -1. */
  int (*history_read)(tw_store *s, const tw_cw_history_filter *f,
                      int (*fn)(void *ud, const tw_cw_history_row *row), void *ud);
} tw_cw_alarms_repo;

const tw_cw_alarms_repo *tw_store_cw_alarms(tw_store *s);

#endif
