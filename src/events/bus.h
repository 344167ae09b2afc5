/* The event bus: one way for every part of tweedle to send an event to
 * whatever takes it — an SQS queue today, an SNS topic or an EventBridge bus
 * next — and for parts to hear of each other's events (a message dead-lettered
 * fails its job) without knowing each other.
 *
 * Delivery is transactional: tw_event_publish appends inside the caller's
 * store batch (the caller holds tw_events_lock, then the store hold), so an
 * object row and its notification, or a dead-letter move and the job it fails,
 * commit together or not at all. Lock order: tw_events_lock (every target's
 * engine lock), then the store hold. */
#ifndef TW_EVENTS_BUS_H
#define TW_EVENTS_BUS_H
#include <jansson.h>
#include <stddef.h>

typedef struct {
  const char *source; /* who says it: "aws.s3", "aws.sqs", "tweedle.jobs" */
  const char *type;   /* what happened: "ObjectCreated:Put", "MessageDeadLettered" */
  const char *target; /* ARN to deliver to, or NULL: subscribers only */
  const char *body;   /* the message body delivered */
  size_t len;
  json_t *attributes;              /* message attributes (JSON protocol shape), or NULL */
  const char *sender;              /* principal the delivery is made for, or NULL */
  const char *group_id, *dedup_id; /* FIFO targets (NULL: source, hash of the body) */
  const char *resource;            /* listeners: where it happened (the source queue's ARN) */
  const char *subject;             /* listeners: what it is about (a message id) */
  const char *trace; /* the caller's X-Ray trace (core/trace.h), or NULL: a queue keeps it as
                        the AWSTraceHeader system attribute, a topic or bus passes it on */
} tw_event;

/* A kind of destination, chosen by ARN prefix. Called with tw_events_lock held. */
typedef struct {
  const char *name;       /* "sqs" */
  const char *arn_prefix; /* "arn:aws:sqs:" */
  /* 1 exists (fifo set), 0 no such destination */
  int (*exists)(void *ud, const char *arn, int *fifo);
  /* 0 appended to the open batch; -1 no such destination; -2 refused (too large) */
  int (*deliver)(void *ud, const tw_event *e);
  void (*lock)(void *ud);
  void (*unlock)(void *ud);
  void *ud;
} tw_event_target;

/* Hears events of one source and type; runs with tw_events_lock and the store
 * hold of the publisher: what it appends commits with the event. It must not
 * publish. */
typedef void (*tw_event_listener)(void *ud, const tw_event *e);

typedef struct tw_events tw_events;

tw_events *tw_events_new(void);
void tw_events_free(tw_events *bus);
int tw_events_add_target(tw_events *bus, const tw_event_target *t);
/* Listens to events whose source and type match (NULL matches any); fn NULL
 * removes every listener registered with ud. */
int tw_events_listen(tw_events *bus, const char *source, const char *type, tw_event_listener fn,
                     void *ud);

void tw_events_lock(tw_events *bus);
void tw_events_unlock(tw_events *bus);
/* 1 the destination exists (*fifo set), 0 not, -1 no target kind takes the ARN.
 * Lock held. */
int tw_event_target_exists(tw_events *bus, const char *arn, int *fifo);
/* Delivers to e->target (if any) and tells the listeners. 0, or the target's
 * error. Lock and store hold held. */
int tw_event_publish(tw_events *bus, const tw_event *e);

#endif
