/* An EventBridge-compatible service: event buses (the `default` one always
 * exists), rules with event patterns, and targets (SQS queues, FIFO ones
 * included, SNS topics, other event buses) that matching events are delivered
 * to in the same store batch as the PutEvents, or as the object change that
 * caused them. Wire protocol: JSON 1.1, X-Amz-Target: AWSEvents.<Op>, SigV4
 * service `events` (eb_json.c).
 *
 * The engine is also a target of the event bus (src/events/bus.h) for ARNs
 * arn:aws:events:REGION:ACCOUNT:event-bus/NAME: what is published there is
 * matched against that bus's rules and delivered to their targets inside the
 * publisher's batch. See eb_events.c for what such a published event holds. */
#ifndef TW_EVENTBRIDGE_H
#define TW_EVENTBRIDGE_H
#include <stddef.h>

#include "http/service.h"
#include "store/store.h"

struct tw_events;
typedef struct tw_eventbridge tw_eventbridge;

/* Loads the buses and rules (creating the default bus on first start) and
 * registers the engine as the bus target for event-bus ARNs. Call before the
 * store's writer starts. */
tw_eventbridge *tw_eventbridge_open(tw_store *store, struct tw_events *bus, const char *region,
                                    const char *account, char *err, size_t errlen);
void tw_eventbridge_close(tw_eventbridge *eb);
/* A store batch failed (writer thread): the engine reloads its state from the
 * store before it next serves. */
void tw_eventbridge_commit_failed(tw_eventbridge *eb);

extern const tw_service tw_eventbridge_service;

#endif
