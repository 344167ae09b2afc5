/* The queue engine's public face: front ends (JSON, query) turn a request into a
 * tw_sqs_call with JSON-protocol-shaped input, run it, and render `out` or `err`. */
#ifndef TW_SQS_SQS_H
#define TW_SQS_SQS_H
#include <jansson.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/errors.h"
#include "store/store.h"

typedef struct tw_sqs tw_sqs;

/* A parked ReceiveMessage. `wake` runs with the engine lock held, once, after the
 * waiter was taken off every list; it must not call back into the engine. */
typedef struct tw_sqs_waiter {
  struct tw_sqs_waiter *prev, *next;
  void (*wake)(struct tw_sqs_waiter *w);
  int64_t deadline_mono_ms;
  int64_t queue_id;
  int parked;
} tw_sqs_waiter;

typedef struct {
  tw_sqs *sqs;
  const char *action; /* e.g. "SendMessage" */
  json_t *in;         /* request in the JSON protocol's shape (borrowed) */
  json_t *out;        /* result in the JSON protocol's shape (owned by the call) */
  tw_err err;
  char msg[1024];
  char base_url[512];    /* scheme://host[:port] that queue URLs are built on */
  const char *path;      /* request path: a queue URL path names the queue */
  const char *principal; /* the access key that signed: SenderId */
  /* the request's X-Amzn-Trace-Id / traceparent in X-Ray form (core/trace.h):
   * a message sent without AWSTraceHeader gets it; "" none */
  char trace_header[260];
  uint64_t ticket;      /* store batch holding the call's own changes; 0: none */
  uint64_t seen_ticket; /* store batch as new as the state the answer reports */
  uint64_t failures;    /* tw_store_failures before the call looked at anything */
  /* long polling (ReceiveMessage): set when nothing was available yet */
  int wants_wait;
  int64_t deadline_mono_ms;
  int64_t wait_queue_id;
  uint64_t wake_gen; /* cluster mode: notifications seen before the receive looked */
  int runs; /* how many times the action ran for this request */
  /* The JSON front end sets raw_json: the hot message actions (SendMessage,
   * SendMessageBatch, ReceiveMessage with messages, DeleteMessageBatch,
   * ChangeMessageVisibilityBatch) then write their result as JSON text into
   * `raw` (raw_done set) instead of building `out`. The owner of the call
   * frees `raw` (tw_buf_free); zeroed, it holds nothing. */
  int raw_json;
  int raw_done;
  tw_buf raw;
  /* cluster mode: the queue row the authorization check read (sqs_pg.h),
   * used by the action's first lookup of that queue; NULL none */
  void *pg_row;
} tw_sqs_call;

enum { TW_SQS_WRITES = 1, TW_SQS_MESSAGES = 2 }; /* sqs_actions.h */

typedef struct {
  const char *name;          /* the AWS action name */
  int (*fn)(tw_sqs_call *c); /* 0 done; sets c->out or c->err */
  unsigned flags;
} tw_sqs_action;

tw_sqs *tw_sqs_open(tw_store *store, const char *region, const char *account, char *err,
                    size_t errlen);
int tw_sqs_start(tw_sqs *s);
/* Wakes every parked receive (they answer at once) and stops the ticker. */
void tw_sqs_stop(tw_sqs *s);
/* The store could not commit a batch (called on its writer thread): the
 * engine reloads its state from the store before serving on. */
void tw_sqs_commit_failed(tw_sqs *s);
void tw_sqs_close(tw_sqs *s);

/* For other parts of tweedle that put messages on queues (S3 event
 * notifications) in the same store batch as their own change: take the engine
 * lock, then tw_store_hold, then enqueue. */
void tw_sqs_lock(tw_sqs *s);
void tw_sqs_unlock(tw_sqs *s);
/* With the lock held: 1 the queue exists (fifo set), 0 it does not. */
int tw_sqs_queue_kind_locked(tw_sqs *s, const char *queue_arn, int *fifo);
/* With the lock held: appends a message to a standard queue; 0 or -1. */
int tw_sqs_enqueue_locked(tw_sqs *s, const char *queue_arn, const char *body, size_t len,
                          const char *sender);
/* The same with MessageAttributes (JSON-protocol shape, copied; NULL for none).
 * 0; -1 no such standard queue; -2 larger than the queue's MaximumMessageSize. */
int tw_sqs_enqueue_attrs_locked(tw_sqs *s, const char *queue_arn, const char *body, size_t len,
                                json_t *attrs, const char *sender);
/* The same, the message carrying trace (X-Ray form, core/trace.h; NULL or ""
 * none) as its AWSTraceHeader system attribute. */
int tw_sqs_enqueue_traced_locked(tw_sqs *s, const char *queue_arn, const char *body, size_t len,
                                 json_t *attrs, const char *trace, const char *sender);

/* Joins the event bus (src/events/bus.h): queues become destinations (FIFO
 * ones too), and every redrive to a dead-letter queue is announced to the
 * bus's listeners as source "aws.sqs", type "MessageDeadLettered" (resource:
 * the source queue's ARN, subject: the message id, attributes: its
 * MessageAttributes), inside the store hold that records the move. */
struct tw_events;
int tw_sqs_join_events(tw_sqs *s, struct tw_events *bus);

/* The built-in AWS/SQS metrics of each queue (sqs_metrics.c): the counts since
 * the previous call (then reset) and the gauges now. */
typedef struct {
  const char *name;
  uint64_t sent, received, deleted, empty_receives;
  double size_sum, size_min, size_max; /* SentMessageSize of the messages sent */
  int visible, not_visible, delayed;
  double oldest_age_s; /* ApproximateAgeOfOldestMessage (0: empty) */
  int groups_inflight; /* FIFO: ApproximateNumberOfGroupsWithInflightMessages */
  int fifo;
} tw_sqs_queue_metrics;
void tw_sqs_metrics_sweep(tw_sqs *s, void (*fn)(void *ud, const tw_sqs_queue_metrics *m), void *ud);
/* Each queue's message counts now, nothing reset (sqs_gauges.c; Prometheus). */
void tw_sqs_gauges(tw_sqs *s,
                   void (*fn)(void *ud, const char *name, int visible, int in_flight, int delayed),
                   void *ud);

/* For the web console (sqs_console.c), read only: every queue as
 * {name, arn, fifo, visible, in_flight, delayed, oldest_age_s, created[,
 * dlq_arn, max_receive_count]} (a new array), and a peek at the `max` (1..100)
 * oldest messages of a queue, in every state, as {messages: [...], total}
 * without receiving them (receive counts, visibility and receipt handles are
 * left alone); NULL when there is no such queue. */
json_t *tw_sqs_console_queues(tw_sqs *s);
json_t *tw_sqs_console_peek(tw_sqs *s, const char *name, int max);

const tw_sqs_action *tw_sqs_find_action(const char *name);
/* Runs the action; afterwards either c->err != OK, or c->out is set, or
 * c->wants_wait asks the caller to park the request with tw_sqs_park. */
void tw_sqs_execute(tw_sqs_call *c);
/* Parks a waiting receive. Returns 0 when parked, -1 when it should run again now. */
int tw_sqs_park(tw_sqs *s, const tw_sqs_call *c, tw_sqs_waiter *w);
void tw_sqs_unpark(tw_sqs *s, tw_sqs_waiter *w);

#endif
