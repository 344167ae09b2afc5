/* SQS on the event bus: queues as destinations (standard and FIFO), and the
 * dead-letter moves the engine announces (MessageDeadLettered). */
#include <stdio.h>
#include <string.h>

#include "auth/policy.h"
#include "core/crypto.h"
#include "core/log.h"
#include "events/bus.h"
#include "sqs/sqs_internal.h"
#include "sqs/sqs_common.h"

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
  if (e->trace) snprintf(c.trace_header, sizeof c.trace_header, "%s", e->trace);
  tw_sqs_send_req req;
  json_t *res = json_object();
  int rc = tw_sqs_send_parse(&c, in, &req) || tw_sqs_send_one(&c, q, &req, res) ? -2 : 0;
  json_decref(res);
  json_decref(in);
  return rc;
}

/* A delivery from S3, SNS or EventBridge to a queue whose Policy names that
 * service's principal (as AWS's docs have users write it, with aws:SourceArn
 * conditions): the policy must allow it. A queue without such a statement
 * takes every delivery (tweedle's default). 1 allowed. */
int tw_sqs_delivery_allowed(json_t *policy, const char *queue_arn, const char *account,
                            const tw_event *e) {
  static const char *const services[][2] = {{"aws.s3", "s3.amazonaws.com"},
                                            {"aws.sns", "sns.amazonaws.com"},
                                            {"aws.events", "events.amazonaws.com"}};
  const char *service = NULL;
  for (size_t i = 0; e->source && i < sizeof services / sizeof services[0]; i++)
    if (!strcmp(e->source, services[i][0])) service = services[i][1];
  if (!service || !policy) return 1;
  char why[64];
  tw_policy *p = tw_policy_from_json(policy, TW_POLICY_RESOURCE, why, sizeof why);
  int ok = 1;
  if (p && tw_policy_names_service(p, service)) {
    tw_kv keys[] = {{"aws:SourceArn", e->resource}, {"aws:SourceAccount", account}};
    tw_policy_req req = {.action = "sqs:SendMessage",
                         .resource = queue_arn,
                         .account = account,
                         .service = service,
                         .keys = e->resource ? keys : keys + 1,
                         .nkeys = e->resource ? 2 : 1};
    ok = tw_policy_eval(p, &req) == TW_POLICY_ALLOW;
    if (!ok)
      tw_warn("access denied: principal=%s action=sqs:SendMessage resource=%s source_arn=%s",
              service, queue_arn, e->resource ? e->resource : "-");
  }
  tw_policy_free(p);
  return ok;
}

static int deliver(void *ud, const tw_event *e) {
  tw_sqs *s = ud;
  tw_queue *q = tw_sqs_queue_by_arn(s, e->target);
  if (!q) return -1;
  if (!tw_sqs_delivery_allowed(q->policy, q->arn, s->account, e)) return -1;
  if (q->fifo) return deliver_fifo(s, q, e);
  if (e->trace && *e->trace)
    return tw_sqs_enqueue_traced_locked(s, e->target, e->body, e->len, e->attributes, e->trace,
                                        e->sender);
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
