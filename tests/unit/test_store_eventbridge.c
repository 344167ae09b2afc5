/* The EventBridge repository (store/eventbridge.h) against a store opened in
 * a temporary directory: buses and rules read back once their ticket has
 * committed and again after the store is reopened; a replaced row keeps one
 * copy; deletes take rows away. The same checks are what a second backend
 * must pass. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/eventbridge.h"
#include "store/store.h"
#include "tap.h"

static char dir[256];

static tw_store *open_store(void) {
  char err[256] = "";
  tw_store *s = tw_store_open(dir, err, sizeof err);
  if (!s || tw_store_start(s, NULL, NULL)) {
    printf("# cannot open the store: %s\n", err);
    return NULL;
  }
  return s;
}

static int wait_for(tw_store *s, uint64_t t) {
  for (int i = 0; i < 10000; i++) {
    if (tw_store_committed(s) >= t) return 1;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

typedef struct {
  int buses, rules;
  char bus_name[4][64], bus_desc[4][64], bus_tags[4][128];
  int64_t bus_created[4];
  char rule_key[4][128], rule_pattern[4][128], rule_state[4][32], rule_targets[4][256];
  int rule_desc_null[4];
} seen;

static int on_bus(void *ud, const tw_eb_bus_row *r) {
  seen *x = ud;
  if (x->buses >= 4) return 0;
  int i = x->buses++;
  snprintf(x->bus_name[i], 64, "%s", r->name);
  snprintf(x->bus_desc[i], 64, "%s", r->description ? r->description : "(null)");
  snprintf(x->bus_tags[i], 128, "%s", r->tags_json ? r->tags_json : "");
  x->bus_created[i] = r->created_ms;
  return 0;
}

static int on_rule(void *ud, const tw_eb_rule_row *r) {
  seen *x = ud;
  if (x->rules >= 4) return 0;
  int i = x->rules++;
  snprintf(x->rule_key[i], 128, "%s/%s", r->bus, r->name);
  snprintf(x->rule_pattern[i], 128, "%s", r->pattern ? r->pattern : "");
  snprintf(x->rule_state[i], 32, "%s", r->state ? r->state : "");
  snprintf(x->rule_targets[i], 256, "%s", r->targets_json ? r->targets_json : "");
  x->rule_desc_null[i] = r->description == NULL;
  return 0;
}

static int stop_at_first(void *ud, const tw_eb_bus_row *r) {
  (void)r;
  (*(int *)ud)++;
  return 1;
}

static int no_rule(void *ud, const tw_eb_rule_row *r) {
  (void)ud;
  (void)r;
  return 0;
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/tweedle-unit-eb-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  tw_store *s = open_store();
  CHECK(s != NULL);
  if (!s) return tap_done();
  const tw_eb_repo *repo = tw_store_eventbridge(s);

  CASE("write and read back");
  tw_eb_bus_row b1 = {
      .name = "default", .tags_json = "[]", .created_ms = 1000, .modified_ms = 1000};
  tw_eb_bus_row b2 = {.name = "orders",
                      .description = "order events",
                      .tags_json = "[{\"Key\":\"k\",\"Value\":\"v\"}]",
                      .created_ms = 2000,
                      .modified_ms = 2500};
  tw_eb_rule_row r1 = {.bus = "orders",
                       .name = "big",
                       .pattern = "{\"source\":[\"shop\"]}",
                       .state = "ENABLED",
                       .created_by = "000000000000",
                       .tags_json = "[]",
                       .targets_json = "[{\"Id\":\"q\",\"Arn\":\"arn:aws:sqs:us-east-1:0:q\"}]",
                       .created_ms = 3000,
                       .modified_ms = 3000};
  tw_eb_rule_row r2 = {.bus = "default",
                       .name = "all",
                       .pattern = "{\"source\":[\"x\"]}",
                       .state = "DISABLED",
                       .description = "d",
                       .targets_json = "[]",
                       .created_ms = 4000};
  tw_store_hold(s);
  repo->bus_put(s, &b1);
  repo->bus_put(s, &b2);
  repo->rule_put(s, &r1);
  uint64_t t = repo->rule_put(s, &r2);
  tw_store_release(s);
  CHECK(wait_for(s, t));
  seen x = {0};
  CHECK_INT_EQ(repo->load(s, on_bus, on_rule, &x), 0);
  CHECK_INT_EQ(x.buses, 2);
  CHECK_STR_EQ(x.bus_name[0], "default");
  CHECK_STR_EQ(x.bus_desc[0], "(null)");
  CHECK_STR_EQ(x.bus_name[1], "orders");
  CHECK_STR_EQ(x.bus_desc[1], "order events");
  CHECK_STR_EQ(x.bus_tags[1], "[{\"Key\":\"k\",\"Value\":\"v\"}]");
  CHECK_INT_EQ(x.bus_created[1], 2000);
  CHECK_INT_EQ(x.rules, 2);
  CHECK_STR_EQ(x.rule_key[0], "default/all"); /* by bus, then name */
  CHECK_STR_EQ(x.rule_state[0], "DISABLED");
  CHECK_STR_EQ(x.rule_key[1], "orders/big");
  CHECK_STR_EQ(x.rule_pattern[1], "{\"source\":[\"shop\"]}");
  CHECK_STR_EQ(x.rule_targets[1], "[{\"Id\":\"q\",\"Arn\":\"arn:aws:sqs:us-east-1:0:q\"}]");
  CHECK(x.rule_desc_null[1]);

  CASE("replace and delete");
  r1.state = "DISABLED";
  r1.targets_json = "[]";
  tw_store_hold(s);
  repo->rule_put(s, &r1);
  repo->rule_delete(s, "default", "all");
  t = repo->bus_delete(s, "default");
  tw_store_release(s);
  CHECK(wait_for(s, t));
  memset(&x, 0, sizeof x);
  CHECK_INT_EQ(repo->load(s, on_bus, on_rule, &x), 0);
  CHECK_INT_EQ(x.buses, 1);
  CHECK_STR_EQ(x.bus_name[0], "orders");
  CHECK_INT_EQ(x.rules, 1);
  CHECK_STR_EQ(x.rule_state[0], "DISABLED");
  CHECK_STR_EQ(x.rule_targets[0], "[]");

  CASE("a callback stops the load");
  int calls = 0;
  CHECK_INT_EQ(repo->load(s, stop_at_first, no_rule, &calls), -1);
  CHECK_INT_EQ(calls, 1);

  CASE("after reopening");
  tw_store_close(s);
  s = open_store();
  CHECK(s != NULL);
  if (s) {
    memset(&x, 0, sizeof x);
    CHECK_INT_EQ(tw_store_eventbridge(s)->load(s, on_bus, on_rule, &x), 0);
    CHECK_INT_EQ(x.buses, 1);
    CHECK_INT_EQ(x.rules, 1);
    CHECK_STR_EQ(x.rule_key[0], "orders/big");
    tw_store_close(s);
  }
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd)) printf("# could not remove %s\n", dir);
  return tap_done();
}
