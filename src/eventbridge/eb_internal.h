/* What the EventBridge files share: the in-memory model (buses, rules,
 * targets), the transport-free call the operations take, and the helpers. */
#ifndef TW_EVENTBRIDGE_INTERNAL_H
#define TW_EVENTBRIDGE_INTERNAL_H
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/map.h"
#include "eventbridge/eventbridge.h"
#include "events/bus.h"
#include "events/pattern.h"

#define EB_MAX_TARGETS 5          /* targets per rule, as AWS */
#define EB_MAX_HOPS 4             /* bus-to-bus forwarding depth */
#define TW_EB_STATE "eventbridge" /* the state counter (store/pg_state.h) */

typedef enum { EB_T_SQS, EB_T_SNS, EB_T_BUS, EB_T_API } eb_target_kind;

#define EB_DEFAULT_RETRIES 185   /* RetryPolicy.MaximumRetryAttempts */
#define EB_DEFAULT_MAX_AGE 86400 /* RetryPolicy.MaximumEventAgeInSeconds */

/* A rule's target, parsed from the JSON PutTargets took (kept as `json`). */
typedef struct {
  json_t *json;         /* as given: what ListTargetsByRule answers */
  const char *id, *arn; /* point into json */
  eb_target_kind kind;
  int fifo;               /* an SQS FIFO queue (by name) */
  const char *group_id;   /* SqsParameters.MessageGroupId, or NULL */
  const char *input;      /* Input: constant JSON text, or NULL */
  const char *input_path; /* InputPath, or NULL */
  json_t *paths_map;      /* InputTransformer.InputPathsMap (borrowed), or NULL */
  const char *template;   /* InputTransformer.InputTemplate, or NULL */
  const char *dlq_arn;    /* DeadLetterConfig.Arn, or NULL */
  int max_retries;        /* RetryPolicy.MaximumRetryAttempts */
  int max_age_s;          /* RetryPolicy.MaximumEventAgeInSeconds */
  json_t *http_params;    /* HttpParameters (borrowed), or NULL */
} eb_target;

typedef struct eb_rule {
  char *name, *bus;
  char *pattern_text; /* NULL: none (a scheduled rule) */
  tw_pattern *pattern;
  char *schedule, *state, *description, *role_arn, *created_by;
  json_t *tags; /* [{"Key","Value"}] */
  eb_target targets[EB_MAX_TARGETS];
  size_t ntargets;
  int64_t created_ms, modified_ms;
  struct eb_schedule *sched; /* the parsed ScheduleExpression, or NULL */
  int64_t sched_last_ms;     /* last fire (or when the schedule was set), wall ms */
} eb_rule;

typedef struct {
  char *name, *description;
  json_t *tags;
  int64_t created_ms, modified_ms;
  tw_map rules; /* name -> eb_rule* */
} eb_bus;

struct tw_eventbridge {
  pthread_mutex_t mu; /* the engine lock: also the bus target's lock */
  tw_store *store;
  tw_events *events;
  char region[64], account[32];
  tw_map buses; /* name -> eb_bus* */
  atomic_uint_fast64_t synced_failures;
  atomic_int stale;    /* a commit failed: reload before serving */
  int hops;            /* bus-to-bus forwarding depth of the delivery under way (lock held) */
  tw_map connections;  /* name -> json_t* (the stored document, secrets included) */
  tw_map destinations; /* name -> json_t* */
  struct eb_outbox *outbox;
  atomic_uint_fast64_t outbox_next_id;
  /* the scheduler thread (eb_schedule.c) */
  pthread_t sched_thread;
  pthread_mutex_t sched_mu;
  pthread_cond_t sched_cv;
  int sched_started, sched_stop;
  int64_t minute_ms; /* one minute of schedule time (TWEEDLE_SCHEDULE_MINUTE_MS, tests) */
  /* cluster mode: the store is PostgreSQL's (store/pg_state.h) */
  int cluster;
  atomic_int_fast64_t version;   /* the "eventbridge" counter the model was loaded at */
  atomic_int behind;             /* a change was heard of, or a reload failed: reload */
  struct tw_pg_lead *sched_lead; /* the scheduler runs on the node holding it */
  int sched_leading;             /* scheduler thread only */
  int64_t claim_ms;              /* how long an outbox row read is leased to this node */
};

/* One operation, free of HTTP: input in, output or error out, and the store
 * batches the answer must wait for. */
typedef struct {
  tw_eventbridge *eb;
  const char *principal;
  char trace[260]; /* the caller's trace (core/trace.h), "" none */
  json_t *in;      /* the request object */
  json_t *out;     /* the response object (NULL: {}) */
  const char *err; /* error type ("ResourceNotFoundException"), NULL when ok */
  int status;      /* its HTTP status */
  char msg[2048];
  uint64_t ticket;      /* the batch holding the call's change (0: none) */
  uint64_t seen_ticket; /* the batch at least as new as the state it reports */
  uint64_t failures;    /* tw_store_failures when the call began */
} eb_call;

/* --- engine (eb_engine.c) --- */
/* The engine lock; reloads from the store first when a commit failed. */
void eb_lock(tw_eventbridge *eb);
void eb_unlock(tw_eventbridge *eb);
/* Cluster mode: reloads the model when another node changed buses, rules,
 * connections or destinations since it was loaded (one read of the state
 * counter), so a change acknowledged by any node is seen here. Lock not held.
 * 0, or -1 when PostgreSQL cannot answer (nothing to do on one node). */
int eb_sync(tw_eventbridge *eb);
/* Cluster mode: the next eb_sync reloads whatever the counter says. */
void eb_mark_behind(tw_eventbridge *eb);
/* Cluster mode: eb_sync for a publisher that holds the engine lock (and
 * maybe the store hold: it never waits for a commit). Pointers into the
 * model taken before are invalid after. */
void eb_catch_up(tw_eventbridge *eb);
/* Lock held. */
eb_bus *eb_bus_get(tw_eventbridge *eb, const char *name);
eb_rule *eb_rule_get(eb_bus *b, const char *name);
/* Sorted names (free the array, not the strings: they belong to the model). */
const char **eb_bus_names(tw_eventbridge *eb, size_t *n);
const char **eb_rule_names(eb_bus *b, size_t *n);
/* The keys of m, sorted (free the array, not the strings). */
const char **eb_names_sorted(tw_map *m, size_t *n);
eb_bus *eb_bus_new(const char *name, const char *description, int64_t now_ms);
void eb_bus_free(eb_bus *b);
void eb_rule_free(eb_rule *r);
/* Appends the row of a bus / rule to the open batch (the caller holds the store). */
uint64_t eb_save_bus(tw_eventbridge *eb, const eb_bus *b);
uint64_t eb_save_rule(tw_eventbridge *eb, const eb_rule *r);
/* "arn:aws:events:REGION:ACCOUNT:event-bus/NAME" */
void eb_bus_arn(tw_eventbridge *eb, const char *bus, char *out, size_t n);
/* "arn:aws:events:REGION:ACCOUNT:rule/[BUS/]NAME" */
void eb_rule_arn(tw_eventbridge *eb, const char *bus, const char *rule, char *out, size_t n);
/* The bus name in an EventBusName parameter (a name or an ARN), into out;
 * NULL/absent: "default". 0, or -1 when it is an ARN of another account or
 * region (or malformed). */
int eb_bus_param(tw_eventbridge *eb, const char *v, char *out, size_t n);
/* Sets a target from its JSON (borrowed: the caller keeps json alive). 0, or
 * -1 with the reason in msg. */
int eb_target_parse(tw_eventbridge *eb, json_t *json, eb_target *t, char *msg, size_t msglen);
/* PutTargets' checks of one target's JSON (index: its place in the request),
 * as eb_targets.c runs them before eb_target_parse: 0, or -1 with the error
 * set on c. Exposed for tests/fuzz. */
int eb_target_check(eb_call *c, json_t *t, size_t index);

/* --- operations --- */
void eb_fail(eb_call *c, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Required string parameter; fails the call (ValidationException) and
 * returns NULL when absent or not a string. */
const char *eb_req_str(eb_call *c, const char *name, const char *wire_name);
const char *eb_opt_str(eb_call *c, const char *name);
/* Pagination by index (eb_targets.c): Limit (1..100, default 100) and a
 * NextToken "i<index>" into *start; 0, or -1 with the call failed. */
int eb_index_paging(eb_call *c, size_t *start, int *limit);
/* Sets NextToken "i<next>" in c->out. */
void eb_index_next(eb_call *c, size_t next);

typedef struct {
  const char *name;
  void (*fn)(eb_call *c);
} eb_op;
const eb_op *eb_find_op(const char *name);

void eb_create_event_bus(eb_call *c);
void eb_delete_event_bus(eb_call *c);
void eb_describe_event_bus(eb_call *c);
void eb_list_event_buses(eb_call *c);
void eb_put_rule(eb_call *c);
void eb_describe_rule(eb_call *c);
void eb_list_rules(eb_call *c);
void eb_enable_rule(eb_call *c);
void eb_disable_rule(eb_call *c);
void eb_delete_rule(eb_call *c);
void eb_tag_resource(eb_call *c);
void eb_untag_resource(eb_call *c);
void eb_list_tags_for_resource(eb_call *c);
void eb_put_targets(eb_call *c);
void eb_remove_targets(eb_call *c);
void eb_list_targets_by_rule(eb_call *c);
void eb_list_rule_names_by_target(eb_call *c);
void eb_put_events(eb_call *c);
void eb_test_event_pattern(eb_call *c);

/* --- delivery (eb_events.c) --- */
int eb_join_events(tw_eventbridge *eb);
/* Sends event to every target of r (bus lock and store hold held). */
void eb_deliver_rule(tw_eventbridge *eb, const eb_rule *r, const json_t *event, const char *sender,
                     int64_t ingested_ms);
/* "YYYY-MM-DDTHH:MM:SS[.mmm]Z" */
void eb_iso8601(int64_t ms, int with_ms, char out[40]);
/* The envelope of an event (takes resources and detail). */
json_t *eb_envelope(tw_eventbridge *eb, const char *id, const char *dtype, const char *source,
                    int64_t when_ms, json_t *resources, json_t *detail);
/* Puts event (its text) on the target's dead-letter queue with AWS's
 * attributes. Bus lock and store hold held. 0, or -1 (none, or refused). */
int eb_dead_letter(tw_eventbridge *eb, const char *dlq_arn, const char *rule_arn,
                   const char *target_arn, const char *event_text, size_t len,
                   const char *error_code, const char *error_message, const char *exhausted,
                   int attempts);

/* --- connections and API destinations (eb_api.c) --- */
void eb_create_connection(eb_call *c);
void eb_describe_connection(eb_call *c);
void eb_list_connections(eb_call *c);
void eb_update_connection(eb_call *c);
void eb_delete_connection(eb_call *c);
void eb_create_api_destination(eb_call *c);
void eb_describe_api_destination(eb_call *c);
void eb_list_api_destinations(eb_call *c);
void eb_update_api_destination(eb_call *c);
void eb_delete_api_destination(eb_call *c);
/* Loads connections and destinations (at open and after a failed commit). */
int eb_api_load(tw_eventbridge *eb);
void eb_api_free(tw_eventbridge *eb);
/* The destination name in an api-destination ARN of this account and region
 * (into out), 0; -1 when arn is not one. */
int eb_api_dest_name(tw_eventbridge *eb, const char *arn, char *out, size_t n);

/* --- the API destination outbox (eb_outbox.c) --- */
/* Appends the delivery of body (event matched rule_arn) to target t. Bus lock
 * and store hold held. */
void eb_outbox_add(tw_eventbridge *eb, const eb_target *t, const char *rule_arn,
                   const json_t *event, const char *event_text, const char *body, size_t len,
                   int64_t ingested_ms);
int eb_outbox_open(tw_eventbridge *eb);
int eb_outbox_start(tw_eventbridge *eb);
void eb_outbox_stop(tw_eventbridge *eb);
void eb_outbox_close(tw_eventbridge *eb);

/* --- schedules (eb_schedule.c) --- */
typedef struct eb_schedule eb_schedule;
/* Parses rate(...) or cron(...): NULL when invalid. */
eb_schedule *eb_schedule_parse(const char *expr);
void eb_schedule_free(eb_schedule *s);
/* The first fire time strictly after after_ms (wall ms), given one minute of
 * schedule time is minute_ms; -1 when there is none. */
int64_t eb_schedule_next(const eb_schedule *s, int64_t after_ms, int64_t minute_ms);
int eb_schedule_start(tw_eventbridge *eb);
void eb_schedule_stop(tw_eventbridge *eb);

/* --- target input (eb_transform.c) --- */
/* Evaluates a JSONPath of the subset EventBridge documents ($, .name, ['name'],
 * [n], [*], .*) against doc: a new reference, or NULL when nothing matches. */
json_t *eb_jsonpath(const json_t *doc, const char *path);
/* 1 when path is of that subset. */
int eb_jsonpath_valid(const char *path);
/* Checks an InputTransformer's template against its paths map: 0, or -1
 * with the AWS message in msg. */
int eb_template_check(const char *target_id, const json_t *paths_map, const char *tmpl, char *msg,
                      size_t msglen);
/* The body a target receives for event (the full envelope): a malloc'd
 * string, or NULL when the target gets nothing (InputPath matching nothing,
 * a template rendering invalid JSON). */
char *eb_target_input(const eb_target *t, const json_t *event, const char *rule_arn,
                      const char *rule_name, const char *ingestion_time, size_t *len);

#endif
