/* SNS deliveries that leave the process (http, https, email, email-json): a
 * durable outbox. A Publish (or Subscribe, or Unsubscribe) appends one row per
 * delivery in its own store batch, so an acknowledged publish has its rows on
 * disk; the delivery threads (src/sns/sns_outbox.c) read the rows that are
 * due, deliver them, and delete or reschedule them in a later batch
 * (at-least-once). Writes append to the open batch and return its ticket
 * (store.h); reads see committed rows only. */
#ifndef TW_STORE_SNS_OUTBOX_H
#define TW_STORE_SNS_OUTBOX_H
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct {
  uint64_t id; /* given by the caller: unique, increasing */
  const char *sub_arn, *topic_arn;
  const char *protocol; /* http | https | email | email-json */
  const char *endpoint; /* URL or mail address */
  const char *kind;     /* Notification | SubscriptionConfirmation | UnsubscribeConfirmation */
  const char *msg_id;
  const char *subject;   /* mail Subject, or NULL */
  const char *from_name; /* mail From display name, or NULL */
  int raw;               /* the body is the bare message (RawMessageDelivery) */
  const void *body;      /* what the endpoint gets: the HTTP body or the mail text */
  size_t body_len;
  int attempts; /* failed attempts so far */
  int64_t due_ms, created_ms;
} tw_sns_outbox_row;

typedef struct {
  uint64_t (*put)(tw_store *s, const tw_sns_outbox_row *row);
  /* After a failed attempt: attempts counted, due again at due_ms. */
  uint64_t (*reschedule)(tw_store *s, uint64_t id, int attempts, int64_t due_ms);
  uint64_t (*remove)(tw_store *s, uint64_t id);
  /* The highest id ever committed (0: none). 0, or -1 on error. */
  int (*max_id)(tw_store *s, uint64_t *out);
  /* Up to limit rows due at now_ms, the earliest due first; fn's row is valid
   * during the call only. Returns how many rows, or -1 on error. */
  int (*due)(tw_store *s, int64_t now_ms, int limit,
             void (*fn)(void *ud, const tw_sns_outbox_row *row), void *ud);
  /* Rows waiting (for stats and tests); -1 on error. */
  long (*count)(tw_store *s);
} tw_sns_outbox_repo;

const tw_sns_outbox_repo *tw_store_sns_outbox(tw_store *s);

#endif
