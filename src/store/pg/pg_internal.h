/* Inside the PostgreSQL store: the connection pool and result checks shared by
 * the repositories under src/store/pg/. */
#ifndef TW_STORE_PG_INTERNAL_H
#define TW_STORE_PG_INTERNAL_H
#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>

#include "store/pg_sqs.h"

typedef struct {
  PGconn *conn; /* NULL: not connected (reconnected on the next checkout) */
  int busy;
} tw_pg_slot;

struct tw_pg {
  char url[1024];
  pthread_mutex_t mu;
  pthread_cond_t cv;
  tw_pg_slot *slots;
  int nslots;
  int64_t retry_at_ms; /* while down: no connection attempt before this (backoff) */
  int backoff_ms;
  int down;    /* the last connection attempt failed: PostgreSQL is away */
  int probing; /* while down: the one connection attempt under way */
  /* the listener */
  pthread_t listener;
  int listening, stop;
  void (*notify)(void *ud, int64_t queue_id, int n);
  void (*idle)(void *ud);
  void *ud;
  struct tw_pg_bg *bg;       /* background work run once across the cluster (pg_sqs_more.c) */
  struct tw_pg_sendq *sendq; /* group commit of sends (pg_sqs_group.c) */
};

/* The SQS schema beyond version 1's tables (pg_sqs_more.c), run after it. */
extern const char *const tw_pg_sqs_schema_more;
/* One pass of the message move tasks on c (pg_sqs_move.c), period_ms after
 * the last; -1 when the connection failed. */
int tw_pg_tasks_tick(PGconn *c, int period_ms);
/* The S3 tables (s3_store.c), run after it. */
extern const char *const tw_pg_s3_schema;
/* The buckets' settings versions (s3_buckets.c), run after it. */
extern const char *const tw_pg_s3_settings_schema;
/* The cluster's users (users.c). */
extern const char *const tw_pg_users_schema;
/* The gateway's tables (gw_apikeys.c), run after it. */
extern const char *const tw_pg_gw_schema;
extern const char *const tw_pg_cw_schema; /* CloudWatch (cw.c) */
/* EventBridge's tables (eventbridge.c), run after it. */
extern const char *const tw_pg_eb_schema;
/* The change counters (pg_state.c). */
extern const char *const tw_pg_state_schema;
/* CloudWatch Logs' tables (cw_logs.c). */
extern const char *const tw_pg_logs_schema;
/* SNS's tables (sns.c). */
extern const char *const tw_pg_sns_schema;
/* The web console's sessions (console.c). */
extern const char *const tw_pg_console_schema;

/* A connection for one call, or NULL (TW_PG_UNAVAILABLE) when PostgreSQL
 * cannot be reached now. When every connection is in use it waits for one
 * (at most 5 s). Give it back with tw_pg_put; broken: it failed with a
 * connection error and is dropped. */
tw_pg_slot *tw_pg_get(tw_pg *pg);
void tw_pg_put(tw_pg *pg, tw_pg_slot *s, int broken);
/* Checks a result: TW_PG_OK (res kept), or the error code with res cleared
 * (connection errors: TW_PG_UNAVAILABLE, *broken set). what: for the log. */
int tw_pg_check(PGconn *c, PGresult **res, ExecStatusType want, const char *what, int *broken);
/* Runs a statement without result rows; same codes. */
int tw_pg_exec(PGconn *c, const char *sql, const char *what, int *broken);
/* A thread on a connection of its own that LISTENs on `channel`: fn(ud,
 * payload) for each notification with a payload, and fn(ud, NULL) after each
 * (re)connection (notifications may have been missed); reconnects with
 * backoff (pg_channel.c). */
typedef struct tw_pg_channel tw_pg_channel;
tw_pg_channel *tw_pg_channel_start(const char *url, const char *channel, const char *app,
                                   void (*fn)(void *ud, const char *payload), void *ud);
void tw_pg_channel_stop(tw_pg_channel *ch);

/* Group commit of standard-queue sends (pg_sqs_group.c): tw_pg_send queues
 * the call; concurrent callers share one statement. tw_pg_send_one runs one
 * call on its own (pg_sqs.c). */
typedef struct tw_pg_sendq tw_pg_sendq;
tw_pg_sendq *tw_pg_sendq_new(void);
void tw_pg_sendq_free(tw_pg_sendq *q);
int tw_pg_send_one(tw_pg *pg, int64_t queue_id, tw_pg_send_msg *m, int n, int64_t now_ms);
int64_t tw_pg_i64(const PGresult *r, int row, int col);
char *tw_pg_dup(const PGresult *r, int row, int col); /* NULL for SQL NULL */

#endif
