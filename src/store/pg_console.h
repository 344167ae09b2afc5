/* Cluster mode (--store postgres://...): what the web console (src/console)
 * keeps in or reads from PostgreSQL. Sessions live in table console_sessions
 * (only a SHA-256 of a session id is stored), so a login on one node holds
 * on every node; the queue pages read message counts and a peek that does
 * not receive. SQL in src/store/pg/console.c. */
#ifndef TW_STORE_PG_CONSOLE_H
#define TW_STORE_PG_CONSOLE_H
#include <stdint.h>

#include "store/pg_sqs.h"
#include "store/store.h"

/* --- sessions, on the cluster store (app->pg_store, store/pg_s3.h) --------- */

typedef struct {
  char principal[130];
  char csrf[65];
  int64_t created_ms, used_ms;
} tw_pg_console_session;

/* Deletes the sessions idle since before idle_before_ms or created before
 * created_before_ms, then inserts session id_hash unless `max` sessions
 * remain: 1 inserted, 0 full, -1 PostgreSQL failed. Committed on return. */
int tw_store_pg_console_session_put(tw_store *s, const char *id_hash,
                                    const tw_pg_console_session *x, int64_t idle_before_ms,
                                    int64_t created_before_ms, int max);
/* 1 with *out filled, 0 no such session, -1 PostgreSQL failed. */
int tw_store_pg_console_session_get(tw_store *s, const char *id_hash, tw_pg_console_session *out);
/* Sets used_ms (0 or -1). */
int tw_store_pg_console_session_touch(tw_store *s, const char *id_hash, int64_t used_ms);
/* Deletes the session: 1 deleted, 0 none, -1 PostgreSQL failed. Committed on return. */
int tw_store_pg_console_session_delete(tw_store *s, const char *id_hash);

/* --- queues, on the SQS repository's pool (store/pg_sqs.h) ----------------- */

/* Message counts of queue_id as tw_pg_queue_counts, and the SentTimestamp of
 * its oldest message (0: none), in one statement. */
int tw_pg_console_queue_stats(tw_pg *pg, int64_t queue_id, int64_t now_ms, int64_t min_sent_ms,
                              int64_t *visible, int64_t *inflight, int64_t *delayed,
                              int64_t *oldest_sent_ms);
/* The max oldest messages of queue_id (by send order) not past retention, in
 * every state, read only (nothing received): out[0..*n) (tw_pg_msg_free each). */
int tw_pg_console_peek(tw_pg *pg, int64_t queue_id, int64_t min_sent_ms, int max, tw_pg_msg *out,
                       int *n);

#endif
