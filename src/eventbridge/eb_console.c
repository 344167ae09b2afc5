/* A read path for the web console (src/console): runs one of EventBridge's
 * listing and describing operations in process, on the engine directly. */
#include <string.h>

#include "eventbridge/eb_internal.h"

json_t *tw_eventbridge_console_read(tw_eventbridge *eb, tw_store *store, const char *op_name,
                                    json_t *in, uint64_t *seen, char *msg, size_t n) {
  static const char *const allowed[] = {"ListEventBuses", "ListRules", "DescribeRule",
                                        "ListTargetsByRule", "DescribeEventBus"};
  int ok = 0;
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
    ok |= !strcmp(allowed[i], op_name);
  const eb_op *op = ok ? eb_find_op(op_name) : NULL;
  if (!op) {
    snprintf(msg, n, "%s is not a read operation.", op_name);
    return NULL;
  }
  (void)store; /* the engine's own store answers (PostgreSQL's in cluster mode) */
  if (eb_sync(eb)) {
    snprintf(msg, n, "PostgreSQL cannot be reached from this node.");
    return NULL;
  }
  eb_call c = {.eb = eb, .in = in};
  c.failures = tw_store_failures(eb->store);
  op->fn(&c);
  if (c.err) {
    json_decref(c.out);
    snprintf(msg, n, "%s: %s", c.err, c.msg);
    return NULL;
  }
  *seen = tw_store_ticket(eb->store);
  return c.out ? c.out : json_object();
}
