/* SQS on the event bus: queues as destinations (standard and FIFO), and the
 * dead-letter moves the engine announces (MessageDeadLettered). */
#include <stdio.h>
#include <string.h>

#include "core/crypto.h"
#include "events/bus.h"
#include "sqs/sqs_internal.h"

static int queue_exists(void *ud, const char *arn, int *fifo) {
  return tw_sqs_queue_kind_locked(ud, arn, fifo);
}

/* A FIFO queue takes the event through SendMessage's own path: group,
 * deduplication (a hash of the body unless the event names one), sequence. */
static int deliver_fifo(tw_sqs *s, tw_queue *q, const tw_event *e) {
  char dedup[65];
  if (!e->dedup_id) tw_sha256_hex(e->body, e->len, dedup);
  json_t *in = json_pack("{s:s%,s:s,s:s}", "MessageBody", e->body, e->len, "MessageGroupId",
                         e->group_id ? e->group_id : (e->source ? e->source : "tweedle"),
                         "MessageDeduplicationId", e->dedup_id ? e->dedup_id : dedup);
  if (!in) return -2;
  if (e->attributes) json_object_set(in, "MessageAttributes", e->attributes);
  tw_sqs_call c = {.sqs = s, .action = "SendMessage", .in = in, .principal = e->sender};
  tw_sqs_send_req req;
  json_t *res = json_object();
  int rc = tw_sqs_send_parse(&c, in, &req) || tw_sqs_send_one(&c, q, &req, res) ? -2 : 0;
  json_decref(res);
  json_decref(in);
  return rc;
}

static int deliver(void *ud, const tw_event *e) {
  tw_sqs *s = ud;
  tw_queue *q = tw_sqs_queue_by_arn(s, e->target);
  if (!q) return -1;
  if (q->fifo) return deliver_fifo(s, q, e);
  return e->attributes
             ? tw_sqs_enqueue_attrs_locked(s, e->target, e->body, e->len, e->attributes, e->sender)
             : tw_sqs_enqueue_locked(s, e->target, e->body, e->len, e->sender);
}

static void lock(void *ud) {
  tw_sqs_lock(ud);
}
static void unlock(void *ud) {
  tw_sqs_unlock(ud);
}

int tw_sqs_join_events(tw_sqs *s, tw_events *bus) {
  tw_event_target t = {
      .name = "sqs",
      .arn_prefix = "arn:aws:sqs:",
      .exists = queue_exists,
      .deliver = deliver,
      .lock = lock,
      .unlock = unlock,
      .ud = s,
  };
  if (tw_events_add_target(bus, &t)) return -1;
  pthread_mutex_lock(&s->mu);
  s->events = bus;
  pthread_mutex_unlock(&s->mu);
  return 0;
}
