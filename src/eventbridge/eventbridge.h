/* An EventBridge-compatible service: event buses (the `default` one always
 * exists), rules with event patterns, and targets (SQS queues, FIFO ones
 * included, SNS topics, other event buses) that matching events are delivered
 * to in the same store batch as the PutEvents, or as the object change that
 * caused them; API destinations (HTTP endpoints, with connections holding
 * their authorization) through a durable outbox (eb_outbox.c); scheduled
 * rules (rate() and cron(), eb_schedule.c). Wire protocol: JSON 1.1,
 * X-Amz-Target: AWSEvents.<Op>, SigV4 service `events` (eb_json.c).
 *
 * The engine is also a target of the event bus (src/events/bus.h) for ARNs
 * arn:aws:events:REGION:ACCOUNT:event-bus/NAME: what is published there is
 * matched against that bus's rules and delivered to their targets inside the
 * publisher's batch. See eb_events.c for what such a published event holds. */
#ifndef TW_EVENTBRIDGE_H
#define TW_EVENTBRIDGE_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

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
/* Starts the scheduler and the API destination delivery threads (after the
 * store's writer has started); stop before the store closes. */
int tw_eventbridge_start(tw_eventbridge *eb);
void tw_eventbridge_stop(tw_eventbridge *eb);
/* A store batch failed (writer thread): the engine reloads its state from the
 * store before it next serves. */
void tw_eventbridge_commit_failed(tw_eventbridge *eb);

/* For the web console (eb_console.c): runs a read-only operation (ListEventBuses,
 * ListRules, DescribeRule, ListTargetsByRule, DescribeEventBus) with `in`
 * (borrowed); its output (new reference) with *seen the store batch the answer
 * must wait for, or NULL with the reason in msg. */
json_t *tw_eventbridge_console_read(tw_eventbridge *eb, tw_store *store, const char *op_name,
                                    json_t *in, uint64_t *seen, char *msg, size_t n);

extern const tw_service tw_eventbridge_service;

#endif
