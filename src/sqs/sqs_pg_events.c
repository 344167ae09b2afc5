/* Cluster mode: the cluster's SQS queues as destinations on the event bus
 * (events/bus.h), in place of the embedded engine's (sqs_events.c). A
 * delivery appends the message to the open batch of the PostgreSQL store
 * (store/pg_enqueue.h): the service that publishes (SNS, EventBridge,
 * CloudWatch alarms, S3) holds that store, so its own rows and the messages
 * they fan out to commit in one transaction, as on one node. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "sqs/params.h"
#include "events/bus.h"
#include "sqs/sqs_common.h"
#include "sqs/sqs_pg.h"
#include "sqs/sqs_pg_internal.h"
#include "store/pg_enqueue.h"

/* The queue name of arn:aws:sqs:REGION:ACCOUNT:NAME in this cluster's
 * region and account, or NULL. */
static const char *queue_name(const tw_sqs_pg *p, const char *arn) {
  char prefix[160];
  int n = snprintf(prefix, sizeof prefix, "arn:aws:sqs:%s:%s:", p->region, p->account);
  if (!arn || strncmp(arn, prefix, (size_t)n) || !arn[n] || strchr(arn + n, ':')) return NULL;
  return arn + n;
}

static int queue_exists(void *ud, const char *arn, int *fifo) {
  tw_sqs_pg *p = ud;
  const char *name = queue_name(p, arn);
  tw_pg_queue_info q;
  if (!name || tw_store_pg_queue(p->events_store, name, &q) != 1) return 0;
  if (fifo) *fifo = q.fifo;
  free(q.policy);
  return 1;
}

/* What counts against MaximumMessageSize: the body, and each attribute's
 * name, type and value (as the embedded engine counts them). */
static size_t size_of(const tw_event *e) {
  size_t size = e->len;
  const char *k;
  json_t *a;
  json_object_foreach(e->attributes, k, a) {
    size += strlen(k) + strlen(tw_p_str(a, "DataType") ?: "");
    size += strlen(tw_p_str(a, "StringValue") ?: tw_p_str(a, "BinaryValue") ?: "");
  }
  return size;
}

/* 0 appended, -1 no such queue (or its policy refuses), -2 too large. */
static int deliver(void *ud, const tw_event *e) {
  tw_sqs_pg *p = ud;
  const char *name = queue_name(p, e->target);
  tw_pg_queue_info q;
  if (!name || tw_store_pg_queue(p->events_store, name, &q) != 1) return -1;
  json_t *policy = q.policy ? json_loads(q.policy, 0, NULL) : NULL;
  free(q.policy);
  int ok = tw_sqs_delivery_allowed(policy, e->target, p->account, e);
  json_decref(policy);
  if (!ok) return -1;
  int has_attrs = e->attributes && json_object_size(e->attributes);
  /* as the embedded engine: FIFO sends and sends with attributes are
   * checked against the queue's limit, plain events (S3's) are not */
  if ((has_attrs || q.fifo) && size_of(e) > (size_t)q.max_size) return -2;
  char *attrs = has_attrs ? json_dumps(e->attributes, JSON_COMPACT) : NULL;
  char dedup[65];
  if (q.fifo && !e->dedup_id) tw_sha256_hex(e->body, e->len, dedup);
  tw_pg_enqueue_msg m = {.queue = name,
                         .body = e->body,
                         .len = e->len,
                         .attrs_json = attrs,
                         .sender = e->sender,
                         .trace = e->trace,
                         .now_ms = tw_now_ms()};
  if (q.fifo) {
    m.group_id = e->group_id ? e->group_id : (e->source ? e->source : "tweedle");
    m.dedup_id = e->dedup_id ? e->dedup_id : dedup;
  }
  tw_store_pg_enqueue(p->events_store, &m);
  /* this node's NumberOfMessagesSent / SentMessageSize (counted when appended) */
  tw_pg_send_msg sent = {.body_len = e->len};
  tw_pgq_count_sent(p, name, &sent, 1);
  free(attrs);
  return 0;
}

/* PostgreSQL orders concurrent deliveries: no engine lock to take. */
static void no_lock(void *ud) {
  (void)ud;
}

int tw_sqs_pg_join_events(tw_sqs_pg *p, struct tw_events *bus, tw_store *store) {
  p->events_store = store;
  tw_event_target t = {
      .name = "sqs",
      .arn_prefix = "arn:aws:sqs:",
      .exists = queue_exists,
      .deliver = deliver,
      .lock = no_lock,
      .unlock = no_lock,
      .ud = p,
  };
  return tw_events_add_target(bus, &t);
}
