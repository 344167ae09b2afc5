/* EventBridge's event buses and rules (with their targets). The EventBridge
 * engine holds all of them in memory from start to shutdown; the repository
 * saves them across restarts and gives them back after a failed commit.
 * Events themselves are never stored here: PutEvents delivers them into the
 * targets' own rows (queue messages) in the same batch. */
#ifndef TW_STORE_EVENTBRIDGE_H
#define TW_STORE_EVENTBRIDGE_H
#include <stdint.h>

#include "store/store.h"

typedef struct {
  const char *name;
  const char *description; /* NULL: none */
  const char *tags_json;   /* [{"Key","Value"}], NULL: none */
  int64_t created_ms, modified_ms;
} tw_eb_bus_row;

typedef struct {
  const char *bus, *name;
  const char *pattern;                             /* EventPattern as the client gave it, or NULL */
  const char *schedule;                            /* ScheduleExpression, or NULL */
  const char *state;                               /* "ENABLED", "DISABLED", ... */
  const char *description, *role_arn, *created_by; /* NULL: none */
  const char *tags_json;                           /* [{"Key","Value"}], NULL: none */
  const char *targets_json; /* the rule's targets as PutTargets took them: a JSON array */
  int64_t created_ms, modified_ms;
} tw_eb_rule_row;

typedef struct {
  /* Inserts or replaces a bus. */
  uint64_t (*bus_put)(tw_store *s, const tw_eb_bus_row *row);
  /* Removes a bus (its rules are removed one by one by the caller). */
  uint64_t (*bus_delete)(tw_store *s, const char *name);
  /* Inserts or replaces a rule (targets included). */
  uint64_t (*rule_put)(tw_store *s, const tw_eb_rule_row *row);
  uint64_t (*rule_delete)(tw_store *s, const char *bus, const char *name);
  /* Every bus, then every rule (by bus, then name), read in one snapshot of
   * committed data; rows are valid during the call only. A callback returns
   * non-zero to stop (then -1). 0, or -1 on error. */
  int (*load)(tw_store *s, int (*bus)(void *ud, const tw_eb_bus_row *row),
              int (*rule)(void *ud, const tw_eb_rule_row *row), void *ud);
} tw_eb_repo;

const tw_eb_repo *tw_store_eventbridge(tw_store *s);

#endif
