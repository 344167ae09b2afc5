/* CloudWatch Logs: log groups, their streams and the events put to them. The
 * logs engine (src/logs/) keeps groups and streams in memory from start to
 * shutdown and saves them here; events are only here, written in the open
 * batch and read back (committed data only) by GetLogEvents and
 * FilterLogEvents. Event numbers (seq) are the engine's own, increasing
 * across the server's life; an event's position is (timestamp, seq). */
#ifndef TW_STORE_CW_LOGS_H
#define TW_STORE_CW_LOGS_H
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct {
  int64_t id;
  const char *name;
  int64_t created_ms;
  int retention_days; /* 0: never expire */
} tw_log_group_row;

typedef struct {
  int64_t id, group_id;
  const char *name;
  int64_t created_ms;
  int64_t first_ts, last_ts, last_ingest_ms; /* 0: no event yet */
  int64_t stored_bytes;
} tw_log_stream_row;

typedef struct {
  uint64_t seq;
  int64_t group_id, stream_id;
  int64_t ts, ingest_ms;
  const char *msg;
  size_t msg_len;
} tw_log_event_row;

/* A scan of one group's events (or one stream's) in [start, end), in
 * position order, from a cursor: after (ts, seq) ascending, or before it
 * descending. */
typedef struct {
  int64_t group_id;
  int64_t stream_id; /* 0: every stream of the group */
  int64_t start, end;
  int desc;
  int64_t cur_ts; /* the cursor; cur_seq 0 with desc=0 and cur_ts INT64_MIN: from the start */
  uint64_t cur_seq;
} tw_log_scan;

typedef struct {
  void (*group)(void *ud, const tw_log_group_row *row);
  void (*stream)(void *ud, const tw_log_stream_row *row);
} tw_logs_loader;

typedef struct {
  uint64_t (*group_save)(tw_store *s, const tw_log_group_row *row); /* insert or replace */
  /* The group, its streams and their events. */
  uint64_t (*group_delete)(tw_store *s, int64_t group_id);
  uint64_t (*stream_save)(tw_store *s, const tw_log_stream_row *row); /* insert or replace */
  /* The stream and its events. */
  uint64_t (*stream_delete)(tw_store *s, int64_t stream_id);
  uint64_t (*events_append)(tw_store *s, const tw_log_event_row *rows, size_t n);
  /* Drops a group's events with timestamps before before_ts. */
  uint64_t (*events_prune)(tw_store *s, int64_t group_id, int64_t before_ts);
  /* Per stream of the group: the bytes of the events older than before_ts
   * (committed), for the retention sweep's accounting. 0 or -1. */
  int (*prune_sizes)(tw_store *s, int64_t group_id, int64_t before_ts,
                     void (*fn)(void *ud, int64_t stream_id, int64_t bytes), void *ud);
  /* Rows valid during the call; fn returns non-zero to stop. 0 or -1. */
  int (*scan)(tw_store *s, const tw_log_scan *q, int (*fn)(void *ud, const tw_log_event_row *row),
              void *ud);
  /* Every group, then every stream; *max_seq the highest event number. 0/-1. */
  int (*load)(tw_store *s, const tw_logs_loader *ld, void *ud, uint64_t *max_seq);
} tw_logs_repo;

const tw_logs_repo *tw_store_logs(tw_store *s);

#endif
