/* The delivery side of a durable outbox, shared by SNS (http/https/email
 * subscriptions, src/sns/sns_outbox.c) and EventBridge (API destinations,
 * src/eventbridge/eb_outbox.c).
 *
 * An outbox is a table of rows, each one delivery, appended by whoever makes
 * the delivery in its own store batch (so an acknowledged request has its
 * rows on disk). The runner here is what is common to delivering them: a
 * dispatcher thread asks its owner to scan the committed rows that are due
 * (scan), keeps the rows in flight in a busy list so none is handed out twice
 * (also while its delete or reschedule waits for its commit), and hands them
 * to `threads` delivery threads, which call deliver. deliver returns the
 * ticket (store.h) of the batch that deletes or reschedules the row (0: the
 * row was left as it was, e.g. at shutdown). At least once: a crash between a
 * delivery and the commit of its row's change delivers it again. */
#ifndef TW_EVENTS_OUTBOX_H
#define TW_EVENTS_OUTBOX_H
#include <stdint.h>

#include "net/http.h"
#include "store/store.h"

#define TW_OUTBOX_MAX_THREADS 8

typedef struct tw_outbox tw_outbox;

typedef struct {
  const char *name; /* for logs: "sns", "eventbridge" */
  int threads;      /* delivery threads, 1..TW_OUTBOX_MAX_THREADS */
  tw_store *store;
  void *ud;
  /* Reads up to limit rows due at now_ms and offers each with
   * tw_outbox_offer; returns how many rows it read, or -1 on error. Runs on
   * the dispatcher thread. */
  int (*scan)(void *ud, tw_outbox *o, int64_t now_ms, int limit);
  /* Delivers one job (a delivery thread; cancel aborts its HTTP call at
   * shutdown). Returns the ticket of the row's delete or reschedule, 0 when
   * the row is left untouched. */
  uint64_t (*deliver)(void *ud, tw_outbox *o, void *job, tw_http_cancel *cancel);
  void (*free_job)(void *job);
} tw_outbox_ops;

tw_outbox *tw_outbox_new(const tw_outbox_ops *ops);
int tw_outbox_start(tw_outbox *o);
/* Stops the threads (a call in progress is cancelled; its row stays). */
void tw_outbox_stop(tw_outbox *o);
void tw_outbox_free(tw_outbox *o);

/* From scan: offers the row id's job. 1 when taken (the runner owns job
 * now), 0 when not (the row is in flight, or the queue is full: the caller
 * keeps job and frees it). A scan may ask first with tw_outbox_wants. */
int tw_outbox_offer(tw_outbox *o, uint64_t id, void *job);
/* From scan: 1 when a row id would be taken (not busy, room in the queue). */
int tw_outbox_wants(tw_outbox *o, uint64_t id);
/* From deliver: waits for key's next slot at per_second deliveries a
 * second (0: no limit); returns early at shutdown. */
void tw_outbox_throttle(tw_outbox *o, const char *key, double per_second);
/* 1 once tw_outbox_stop has begun. */
int tw_outbox_stopping(tw_outbox *o);

#endif
