/* Cluster mode: messages that other services (S3 notifications, SNS
 * fan-out, EventBridge targets, alarm actions) deliver to the cluster's SQS
 * queues, appended to the open batch of the PostgreSQL store (pg_s3.h) so
 * that they commit in the transaction of whatever causes them. The queues
 * are the rows of sqs_queues (pg_sqs.h); SQL in src/store/pg/sqs_enqueue.c. */
#ifndef TW_STORE_PG_ENQUEUE_H
#define TW_STORE_PG_ENQUEUE_H
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct {
  int fifo;
  long max_size; /* MaximumMessageSize */
  char *policy;  /* the Policy document (malloc'd), NULL when none */
} tw_pg_queue_info;

/* 1 when queue `name` exists (*out filled when out is not NULL; free
 * out->policy), 0 when it does not, -1 when PostgreSQL could not answer. */
int tw_store_pg_queue(tw_store *s, const char *name, tw_pg_queue_info *out);

typedef struct {
  const char *queue; /* its name */
  const char *body;
  size_t len;
  const char *attrs_json; /* MessageAttributes (the JSON protocol's shape), or NULL */
  const char *sender;     /* SenderId, or NULL */
  const char *trace;      /* AWSTraceHeader, or NULL */
  /* FIFO queues only (both required there): the message group and the
   * deduplication id (the queue's DeduplicationScope applies) */
  const char *group_id, *dedup_id;
  int64_t now_ms; /* sent at */
} tw_pg_enqueue_msg;

/* Appends the message to the open batch; the queue's DelaySeconds applies
 * and parked receives on every node are woken at commit. When the queue is
 * gone at commit nothing is inserted (as the embedded engine drops an event
 * to a missing queue); a FIFO message whose deduplication id was seen in the
 * last 5 minutes is dropped as a duplicate. Returns the batch's ticket. */
uint64_t tw_store_pg_enqueue(tw_store *s, const tw_pg_enqueue_msg *m);

#endif
