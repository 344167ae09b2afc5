/* EventBridge state beside buses and rules: connections and API destinations
 * (JSON documents by kind and name; connection secrets included, never
 * answered), the last fire time of each scheduled rule, and the outbox of
 * deliveries to API destinations (HTTP endpoints).
 *
 * The outbox: a PutEvents (or any publisher to a bus) that matches a rule
 * with an API destination target appends one row in its own store batch; the
 * delivery threads (src/eventbridge/eb_outbox.c) read the committed rows that
 * are due, deliver them and delete or reschedule them in a later batch
 * (at-least-once). Writes append to the open batch and return its ticket
 * (store.h); reads see committed rows only. */
#ifndef TW_STORE_EB_DELIVERY_H
#define TW_STORE_EB_DELIVERY_H
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct {
  uint64_t id;          /* given by the caller: unique, increasing */
  const char *rule_arn; /* the rule that matched */
  const char *target;   /* the target's JSON as PutTargets took it */
  const char *request;  /* {"path":[...],"headers":{},"query":{}} resolved at match time */
  const char *event;    /* the event (what a dead-letter queue gets) */
  const void *body;     /* what the endpoint gets */
  size_t body_len;
  int attempts;               /* failed attempts so far */
  int64_t due_ms, created_ms; /* created: the event's ingestion (its age) */
} tw_eb_outbox_row;

typedef struct {
  /* kind: "connection" or "api-destination"; doc: a JSON object */
  uint64_t (*object_put)(tw_store *s, const char *kind, const char *name, const char *doc);
  uint64_t (*object_delete)(tw_store *s, const char *kind, const char *name);
  /* Every object, by kind then name; 0, or -1 on error. */
  int (*object_load)(tw_store *s,
                     int (*fn)(void *ud, const char *kind, const char *name, const char *doc),
                     void *ud);
  /* The last time (ms) a scheduled rule fired, or its schedule was set. */
  uint64_t (*mark_put)(tw_store *s, const char *bus, const char *rule, int64_t last_ms);
  uint64_t (*mark_delete)(tw_store *s, const char *bus, const char *rule);
  int (*mark_load)(tw_store *s,
                   int (*fn)(void *ud, const char *bus, const char *rule, int64_t last_ms),
                   void *ud);
  /* the outbox */
  uint64_t (*out_put)(tw_store *s, const tw_eb_outbox_row *row);
  uint64_t (*out_reschedule)(tw_store *s, uint64_t id, int attempts, int64_t due_ms);
  uint64_t (*out_remove)(tw_store *s, uint64_t id);
  int (*out_max_id)(tw_store *s, uint64_t *out);
  /* Up to limit rows due at now_ms, earliest first; -1 on error, else how many. */
  int (*out_due)(tw_store *s, int64_t now_ms, int limit,
                 void (*fn)(void *ud, const tw_eb_outbox_row *row), void *ud);
  /* Cluster stores (NULL in SQLite): as out_due, and the rows read are leased
   * to this node until now_ms + lease_ms (no other node reads them before;
   * a row whose node died is due again after that). */
  int (*out_claim)(tw_store *s, int64_t now_ms, int64_t lease_ms, int limit,
                   void (*fn)(void *ud, const tw_eb_outbox_row *row), void *ud);
  long (*out_count)(tw_store *s);
} tw_eb_delivery_repo;

const tw_eb_delivery_repo *tw_store_eb_delivery(tw_store *s);

#endif
