/* CloudWatch Logs: log groups, their streams and the events put to them. The
 * logs engine (src/logs/) keeps groups and streams in memory from start to
 * shutdown and saves them here (one node; in cluster mode see "the catalog
 * in the database" below); events are only here, written in the open
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

  /* --- the catalog in the database (cluster mode) ---------------------------
   * A store that serves these (group_create non-NULL: the PostgreSQL store)
   * keeps groups, streams and events where every node reads them: the engine
   * then keeps no catalog in memory, does not use the members above but scan,
   * and each call below is committed (its own transaction, not the store's
   * batch) when it returns. Ids and event numbers come from the database.
   * Codes: 1 done or found; 0 not (the name exists already, or is not there);
   * TW_LOGS_NO_GROUP the group is not there; -1 the database did not answer.
   * Row strings are valid during the call (rows) or point at the arguments. */
  int (*group_create)(tw_store *s, const char *name, int64_t created_ms);
  int (*group_drop)(tw_store *s, const char *name);                /* its streams and events too */
  int (*group_retention)(tw_store *s, const char *name, int days); /* 0: none */
  /* *stored_bytes: the sum of its streams'. */
  int (*group_get)(tw_store *s, const char *name, tw_log_group_row *g, int64_t *stored_bytes);
  /* Groups in name (byte) order whose name is after `after`, starts with
   * `prefix` and contains `pattern` (each NULL: any), at most limit. 0/-1. */
  int (*group_list)(tw_store *s, const char *after, const char *prefix, const char *pattern,
                    int limit,
                    void (*fn)(void *ud, const tw_log_group_row *g, int64_t stored_bytes),
                    void *ud);
  /* Groups with a retention (id, retention_days, name NULL). 0/-1. */
  int (*group_retained)(tw_store *s, void (*fn)(void *ud, const tw_log_group_row *g), void *ud);
  int (*stream_create)(tw_store *s, const char *group, const char *name, int64_t created_ms);
  int (*stream_drop)(tw_store *s, const char *group, const char *name); /* its events too */
  /* The group (g) and its stream (st, *token its uploadSequenceToken): 1, or
   * 0 with g filled when the stream is not there. */
  int (*stream_get)(tw_store *s, const char *group, const char *name, tw_log_group_row *g,
                    tw_log_stream_row *st, uint64_t *token);
  /* A group's streams starting with prefix (NULL: all), by name or by_time
   * (last event, then name), desc: the whole order reversed; `offset` first
   * ones skipped, at most limit. 0/-1. */
  int (*stream_list)(tw_store *s, int64_t group_id, const char *prefix, int by_time, int desc,
                     int64_t offset, int limit,
                     void (*fn)(void *ud, const tw_log_stream_row *r, uint64_t token), void *ud);
  /* Appends rows (ts, msg; numbered by the database) to the stream, ingested
   * at ingest_ms, and its first/last times, bytes and token move in the
   * same transaction: 1 with *token the new token, 0 when the stream is gone.
   * Appends to one stream from several nodes do not wait for each other. */
  int (*events_put)(tw_store *s, int64_t stream_id, const tw_log_event_row *rows, size_t n,
                    int64_t ingest_ms, uint64_t *token);
  /* Deletes at most max of the group's events older than before_ts and
   * takes their bytes off their streams (one transaction): how many, or -1. */
  int64_t (*events_expire)(tw_store *s, int64_t group_id, int64_t before_ts, int max);
  /* Housekeeping by the node that sweeps: folds at most max appends' figures
   * (kept aside so that appends to one stream need not take turns) into
   * their streams: how many, or -1. NULL: nothing to fold. */
  int64_t (*streams_fold)(tw_store *s, int max);
} tw_logs_repo;

#define TW_LOGS_NO_GROUP (-2)

const tw_logs_repo *tw_store_logs(tw_store *s);

#endif
