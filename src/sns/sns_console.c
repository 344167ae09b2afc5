/* A read path for the web console (src/console): runs one of SNS's listing
 * and describing actions in process, on the engine directly. */
#include <string.h>

#include "sns/sns_internal.h"

json_t *tw_sns_console_read(tw_sns *s, const char *action, json_t *in, uint64_t *seen, char *msg,
                            size_t n) {
  static const char *const allowed[] = {"ListTopics", "ListSubscriptions",
                                        "ListSubscriptionsByTopic", "GetTopicAttributes",
                                        "GetSubscriptionAttributes"};
  int ok = 0;
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) ok |= !strcmp(allowed[i], action);
  if (!ok) {
    snprintf(msg, n, "%s is not a read action.", action);
    return NULL;
  }
  tw_sns_call c = {.sns = s, .action = action, .in = in};
  tw_sns_execute(&c);
  if (c.err != TW_ERR_OK) {
    json_decref(c.out);
    snprintf(msg, n, "%s", c.msg[0] ? c.msg : tw_err_get(c.err)->message);
    return NULL;
  }
  *seen = c.seen_ticket > c.ticket ? c.seen_ticket : c.ticket;
  return c.out ? c.out : json_object();
}
