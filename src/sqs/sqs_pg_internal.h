/* Internals shared by the files of cluster mode's queue engine: sqs_pg.c
 * (dispatch, long polls, open/close), sqs_pg_queue.c (queue actions),
 * sqs_pg_message.c (message actions). */
#ifndef TW_SQS_PG_INTERNAL_H
#define TW_SQS_PG_INTERNAL_H
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "core/map.h"
#include "sqs/sqs_pg.h"
#include "store/pg_sqs.h"

#define GEN_BUCKETS 256
#define REPOLL_MS 1000 /* looks for messages that became visible without a send */
#define SWEEP_MS 1000  /* background work (retention deletes) period */

struct tw_sqs_pg {
  tw_pg *pg;
  char region[64], account[32];
  uint8_t secret[32];
  pthread_mutex_t mu; /* the waiters and generations */
  tw_sqs_waiter *head, *tail;
  uint64_t gen[GEN_BUCKETS]; /* bumped by every notification for a queue id bucket */
  int stop;
  int64_t last_repoll_ms; /* monotonic */
  int64_t last_check_ms;  /* wall clock: the end of the last visibility window looked at */
  int repoll_ms;
  int64_t max_inflight;   /* per queue (TWEEDLE_MAX_INFLIGHT, default 120000) */
  tw_store *events_store; /* deliveries from the event bus go to its batches */
  /* the last in-flight count of a queue taken on this node (sqs_pg_message.c) */
  pthread_mutex_t inflight_mu;
  struct {
    int64_t queue_id, count, at_ms;
  } inflight[GEN_BUCKETS];
  /* this node's AWS/SQS counts since the last sweep (sqs_pg_metrics.c) */
  pthread_mutex_t metrics_mu;
  tw_map metrics; /* queue name -> counts */
};

typedef struct { /* a queue as the actions need it */
  tw_pg_queue row;
  json_t *attrs, *tags;
  char arn[300];
  int delay, max_size, wait_time, visibility;
  int64_t retention;
  int content_dedup, dedup_scope_group; /* FIFO */
  char dlq_arn[300];                    /* RedrivePolicy's target ("" none) */
  int max_receive_count;
} pq;

/* sqs_pg_queue.c */
/* The answer to a store error: QueueDoesNotExist, 503 or 500. Returns -1. */
int tw_pgq_fail_rc(tw_sqs_call *c, int rc);
/* 501 NotImplemented for what cluster mode does not do yet. Returns -1. */
int tw_pgq_not_yet(tw_sqs_call *c, const char *what);
/* The queue named by QueueUrl (any host), else by the request path. 0 or -1
 * with c->err (QueueDoesNotExist, 503). */
int tw_pgq_resolve(tw_sqs_pg *p, tw_sqs_call *c, pq *q);
void tw_pgq_free(pq *q);
/* The queue an ARN of this region and account names: 0 (*row filled),
 * TW_PG_NOT_FOUND, or a store error. */
int tw_pgq_by_arn(tw_sqs_pg *p, const char *arn, tw_pg_queue *row);
/* Saves q's attrs and tags (policy as in q->row): 0 or -1 with c->err. */
int tw_pgq_save(tw_sqs_pg *p, tw_sqs_call *c, pq *q);
/* sqs_pg_redrive.c: RedrivePolicy / RedriveAllowPolicy k = v of a queue of
 * kind fifo (tw_sqs_redrive_check, the target looked up in the store); 0 or
 * -1 with c->err. */
int tw_pgq_check_redrive(tw_sqs_pg *p, tw_sqs_call *c, const char *k, const char *v, int fifo);
/* The RedrivePolicy in attrs may target its queue (that queue's RedriveAllowPolicy
 * lets source_arn): 0 or -1 with c->err. */
int tw_pgq_check_redrive_allow(tw_sqs_pg *p, tw_sqs_call *c, json_t *attrs, const char *source_arn);
void tw_pgq_url(tw_sqs_pg *p, const tw_sqs_call *c, const char *name, char *out, size_t n);
/* sqs_pg_metrics.c: this node's AWS/SQS counts of queue `name`: the messages
 * of a send (FIFO duplicates not counted), and messages received, deleted
 * and receives that answered empty. */
void tw_pgq_count_sent(tw_sqs_pg *p, const char *name, const tw_pg_send_msg *m, int n);
void tw_pgq_count(tw_sqs_pg *p, const char *name, uint64_t received, uint64_t deleted,
                  uint64_t empty);
void tw_pgq_metrics_free(tw_sqs_pg *p); /* tw_sqs_pg_close */
/* sqs_pg.c: the notification generation of queue qid's bucket */
uint64_t tw_pgq_gen(tw_sqs_pg *p, int64_t qid);

/* the actions */
int tw_sqs_pg_create_queue(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_get_queue_url(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_list_queues(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_delete_queue(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_get_queue_attributes(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_set_queue_attributes(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_purge_queue(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_tag_queue(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_untag_queue(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_list_queue_tags(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_add_permission(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_remove_permission(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_list_dead_letter_source_queues(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_start_message_move_task(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_cancel_message_move_task(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_list_message_move_tasks(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_send_message(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_send_message_batch(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_receive_message(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_delete_message(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_delete_message_batch(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_change_message_visibility(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_change_message_visibility_batch(tw_sqs_pg *p, tw_sqs_call *c);
int tw_sqs_pg_delete_and_send(tw_sqs_pg *p, tw_sqs_call *c);

#endif
