/* Cluster mode (--store postgres://...): the SQS repository on PostgreSQL.
 * Every call runs its own transaction on a pooled connection of this node and
 * returns one of the tw_pg_rc codes; TW_PG_UNAVAILABLE means PostgreSQL is
 * away (the front ends answer 503 ServiceUnavailable) and the pool reconnects
 * with backoff. SQL lives in src/store/pg/. */
#ifndef TW_STORE_PG_SQS_H
#define TW_STORE_PG_SQS_H
#include <stddef.h>
#include <stdint.h>

typedef struct tw_pg tw_pg;

typedef enum {
  TW_PG_OK = 0,
  TW_PG_NOT_FOUND = 1,
  TW_PG_EXISTS = 2,           /* a queue of that name exists (*out filled) */
  TW_PG_DELETED_RECENTLY = 3, /* the name was deleted less than 60 s ago */
  TW_PG_TOO_SOON = 4,         /* PurgeQueue: the last purge was less than 60 s ago */
  TW_PG_CONFLICT = 5,         /* changed by another request meanwhile: read again, retry */
  TW_PG_OVER_LIMIT = 6,       /* a receive: the queue's in-flight limit is reached */
  TW_PG_UNAVAILABLE = -2,     /* PostgreSQL cannot be reached */
  TW_PG_ERROR = -1            /* any other failure (logged) */
} tw_pg_rc;

/* Connects (pool of `pool` connections, at least 1), creates the schema if
 * needed (idempotent, under an advisory lock: nodes may start together) and
 * checks its version. NULL with err set when PostgreSQL cannot be used. */
tw_pg *tw_pg_open(const char *url, int pool, char *err, size_t errlen);
void tw_pg_close(tw_pg *pg);
/* The cluster's receipt-handle secret (created once, shared by every node). */
int tw_pg_secret(tw_pg *pg, uint8_t out[32]);

/* Notifications: fn(ud, queue_id, n) on the listener thread for every commit
 * that made n messages of queue_id visible (on any node); queue_id 0 after a
 * reconnect (notifications may have been missed: wake everything). `idle`
 * runs at least every 100 ms. */
int tw_pg_listen_start(tw_pg *pg, void (*fn)(void *ud, int64_t queue_id, int n),
                       void (*idle)(void *ud), void *ud);
void tw_pg_listen_stop(tw_pg *pg);

typedef struct {
  int64_t id;
  char *name;
  int fifo;
  int64_t created, modified;                  /* seconds */
  char *attrs_json, *tags_json, *policy_json; /* policy NULL: none */
  int64_t last_purge_ms;
} tw_pg_queue;
void tw_pg_queue_free(tw_pg_queue *q);

int tw_pg_queue_get(tw_pg *pg, const char *name, tw_pg_queue *out);
/* The policy of queue name alone (*policy malloc'd, NULL: none). */
int tw_pg_queue_policy(tw_pg *pg, const char *name, char **policy);
/* Inserts q (q->id set). TW_PG_EXISTS: *q is replaced by the existing queue
 * (free it). TW_PG_DELETED_RECENTLY: a queue of that name was deleted within
 * 60 s of now_ms. */
int tw_pg_queue_create(tw_pg *pg, tw_pg_queue *q, int64_t now_ms);
/* Saves attrs, tags, policy and modified of queue q->id. */
int tw_pg_queue_update(tw_pg *pg, const tw_pg_queue *q);
/* Deletes the queue and its messages; parked receives are notified. */
int tw_pg_queue_delete(tw_pg *pg, int64_t id, const char *name, int64_t now_ms);
/* Names of the queues starting with prefix (NULL: all), sorted; *names is an
 * array of malloc'd strings (free each, then it). */
int tw_pg_queue_list(tw_pg *pg, const char *prefix, char ***names, size_t *n);
/* Messages sent before min_sent_ms (past their retention) are not counted. */
int tw_pg_queue_counts(tw_pg *pg, int64_t id, int64_t now_ms, int64_t min_sent_ms, int64_t *visible,
                       int64_t *inflight, int64_t *delayed);
/* Deletes every message unless the last purge was within 60 s (TW_PG_TOO_SOON). */
int tw_pg_queue_purge(tw_pg *pg, int64_t id, int64_t now_ms);

/* Of the n queue ids, those holding a message whose visible_at_ms is in
 * (from_ms, to_ms]: a delay or visibility timeout ran out. *out: malloc'd. */
int tw_pg_queues_becoming_visible(tw_pg *pg, const int64_t *ids, int n, int64_t from_ms,
                                  int64_t to_ms, int64_t **out, int *nout);

/* A message to send (sent_ms, visible_at_ms set by the caller). */
typedef struct {
  const char *msg_id;
  const char *body;
  size_t body_len;
  const char *attrs_json, *sys_json, *sender_id; /* NULL: none */
  const char *group_id;                          /* standard queues: fair queues; NULL none */
  int64_t sent_ms, visible_at_ms;
  int64_t seq; /* out */
  /* FIFO (tw_pg_send_fifo): the deduplication id and the key it is kept under
   * (the id, or group + id with DeduplicationScope messageGroup) */
  const char *dedup_id, *dedup_key;
  int64_t seqno;       /* out: the SequenceNumber */
  int duplicate;       /* out: a send of the last 5 minutes had this key */
  char dup_msg_id[40]; /* out: that send's MessageId (seqno: its SequenceNumber) */
} tw_pg_send_msg;
/* Inserts n messages in one transaction with one NOTIFY for those visible now. */
int tw_pg_send(tw_pg *pg, int64_t queue_id, tw_pg_send_msg *m, int n, int64_t now_ms);

/* A received message (strings malloc'd: tw_pg_msg_free). */
typedef struct {
  int64_t seq;
  char *msg_id, *body, *attrs_json, *sys_json, *sender_id, *group_id;
  char *dedup_id, *source_arn; /* FIFO's; the queue a dead-lettered message came from */
  int64_t seqno;               /* FIFO's SequenceNumber */
  size_t body_len;
  int64_t sent_ms, first_receive_ms, visible_at_ms;
  int receive_count;
  uint32_t nonce;
} tw_pg_msg;
void tw_pg_msg_free(tw_pg_msg *m);

/* Deletes message seq of queue_id if nonce is its current one. *deleted: 1 it
 * was deleted, 0 it is gone or the receipt is stale. */
int tw_pg_msg_delete(tw_pg *pg, int64_t queue_id, int64_t seq, uint32_t nonce, int *deleted);
/* The same for n messages (seqs[i], nonces[i]) in one statement. */
int tw_pg_msg_delete_batch(tw_pg *pg, int64_t queue_id, const int64_t *seqs, const uint32_t *nonces,
                           int n);
/* Message seq of queue_id as the visibility change needs it: TW_PG_NOT_FOUND
 * when gone; *current: nonce is its latest; *visible_at, *received_ms. */
int tw_pg_msg_state(tw_pg *pg, int64_t queue_id, int64_t seq, uint32_t nonce, int *current,
                    int64_t *visible_at_ms, int64_t *received_ms);
/* Sets the visibility of an in-flight message if nonce is still current and it
 * is still in flight at now_ms; a message made visible now notifies. */
int tw_pg_msg_set_visibility(tw_pg *pg, int64_t queue_id, int64_t seq, uint32_t nonce,
                             int64_t now_ms, int64_t visible_at_ms);

/* --- FIFO queues, dead-letter queues, retention (pg_sqs_more.c) ------------- */

/* FIFO send of n messages in one transaction (one NOTIFY): sends to the queue
 * are serialized on its row; each key seen in the last 5 minutes (sqs_dedup)
 * answers the first send's MessageId and SequenceNumber and is not stored. */
int tw_pg_send_fifo(tw_pg *pg, int64_t queue_id, tw_pg_send_msg *m, int n, int64_t now_ms);

typedef struct {
  int64_t queue_id;
  int fifo, max, vis_s;
  int64_t now_ms, min_sent_ms; /* messages sent before min_sent_ms are past retention */
  int64_t max_inflight;        /* 0: no limit */
  int64_t dlq_id;              /* RedrivePolicy's queue (0: none) */
  int dlq_fifo, max_receive_count;
  const char *source_arn; /* this queue's ARN: DeadLetterQueueSourceArn */
  const char *attempt;    /* FIFO ReceiveRequestAttemptId (NULL: none) */
} tw_pg_recv;
/* ReceiveMessage: up to max visible messages not older than min_sent_ms
 * (retention) become invisible for vis_s seconds (receive count + 1, nonce +
 * 1). Standard: one statement, rows taken with FOR UPDATE SKIP LOCKED so that
 * concurrent receivers on any node never get the same one. FIFO: receives of a queue are
 * serialized (a transaction-scoped advisory lock), groups are served in
 * order, a group with a message in flight is skipped, messages in SequenceNumber
 * order. Messages received max_receive_count times already move to dlq_id
 * in the same transaction (one NOTIFY for the DLQ). TW_PG_OVER_LIMIT: a
 * standard queue holds max_inflight messages in flight (a FIFO one answers
 * nothing). A FIFO attempt id seen within 5 minutes whose messages are all
 * still in flight under the same receipts answers them again. */
int tw_pg_receive_ex(tw_pg *pg, const tw_pg_recv *rq, tw_pg_msg *out, int *n);
/* The messages of queue_id in flight at now_ms, counted up to limit (*n). */
int tw_pg_inflight(tw_pg *pg, int64_t queue_id, int64_t now_ms, int64_t limit, int64_t *n);

/* FIFO DeleteMessage: *expired when the message exists but the receipt is
 * not its latest or its visibility ran out (nothing deleted). Notifies (the
 * group's next message may be served now). */
int tw_pg_msg_delete_fifo(tw_pg *pg, int64_t queue_id, int64_t seq, uint32_t nonce, int64_t now_ms,
                          int *expired);

/* Names of the queues whose RedrivePolicy targets dlq_arn, sorted. */
int tw_pg_queue_dlq_sources(tw_pg *pg, const char *dlq_arn, char ***names, size_t *n);
/* Sets the policy of queue id if it is still old (NULL: none): TW_PG_CONFLICT
 * when another request changed it first. */
int tw_pg_queue_set_policy(tw_pg *pg, int64_t id, const char *old, const char *policy,
                           int64_t modified);

/* --- TweedleDeleteAndSend (pg_sqs_pipeline.c) ------------------------------- */

typedef struct { /* the messages sent to one queue */
  int64_t queue_id;
  int fifo;
  tw_pg_send_msg *m;
  int n;
} tw_pg_send_to;
/* One transaction: deletes message seq of queue_id if nonce is its latest
 * receipt (else TW_PG_CONFLICT and nothing changes) and sends to[i].m to
 * each to[i].queue_id as tw_pg_send / tw_pg_send_fifo do (FIFO queues locked
 * in id order; TW_PG_NOT_FOUND when one is gone); one NOTIFY per queue with
 * messages visible now, and one for a FIFO source (its group may go on). */
int tw_pg_delete_and_send(tw_pg *pg, int64_t queue_id, int source_fifo, int64_t seq, uint32_t nonce,
                          tw_pg_send_to *to, int nto, int64_t now_ms);

/* --- message move tasks (pg_sqs_move.c) ------------------------------------- */

typedef struct {
  char handle[64], status[16], source_arn[300], dest_arn[300], failure[64];
  int rate;
  int64_t moved, to_move, started_ms;
} tw_pg_task;
/* Starts a RUNNING task moving the messages now in queue source_id (to
 * dest_id, 0: each back to the queue it was dead-lettered from).
 * TW_PG_EXISTS: a task of that source is active. Fills t->to_move. */
int tw_pg_task_start(tw_pg *pg, tw_pg_task *t, int64_t source_id, int64_t dest_id);
/* RUNNING -> CANCELLING (*moved so far). TW_PG_NOT_FOUND: no such handle;
 * TW_PG_CONFLICT: the task is not RUNNING. */
int tw_pg_task_cancel(tw_pg *pg, const char *handle, int64_t *moved);
/* The newest max tasks of source_arn, newest first. *out: malloc'd. */
int tw_pg_task_list(tw_pg *pg, const char *source_arn, int max, tw_pg_task **out, int *n);

/* Background work run once across the cluster: a thread per node tries
 * pg_try_advisory_lock on its own connection every period_ms; the node that
 * holds it deletes the messages past their queue's retention, expired
 * deduplication ids and attempt ids, and old deleted-queue names, and runs the
 * message move tasks (at most 500 messages per task per second, or the
 * task's rate). When that
 * node dies its session ends, the lock is free and another node takes it. */
int tw_pg_bg_start(tw_pg *pg, int period_ms);
void tw_pg_bg_stop(tw_pg *pg);

#endif
