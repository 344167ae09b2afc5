/* EventBridge targets as PutTargets takes them: the checks of a target's JSON
 * (Input, InputPath and InputTransformer: the JSONPath subset, the paths map,
 * the template; eb_target_check), eb_target_parse, then the input the target
 * would receive for an event (eb_target_input: JSONPath evaluation and
 * template rendering). Input: the target JSON, a line holding only "\x01",
 * the event JSON. */
#include "eventbridge/eb_internal.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *sep = memmem(data, size, "\n\x01\n", 3);
  size_t tlen = sep ? (size_t)(sep - data) : size;
  json_t *target = json_loadb((const char *)data, tlen, JSON_DECODE_ANY, NULL);
  json_t *event = sep ? json_loadb((const char *)sep + 3, size - tlen - 3, 0, NULL) : NULL;
  static tw_eventbridge eb; /* only region and account are read */
  strcpy(eb.region, "us-east-1");
  strcpy(eb.account, "000000000000");
  eb_call c;
  memset(&c, 0, sizeof c);
  c.eb = &eb;
  if (target && !eb_target_check(&c, target, 0)) {
    eb_target t;
    char msg[1024];
    if (!eb_target_parse(&eb, target, &t, msg, sizeof msg) && event) {
      size_t len = 0;
      char *out = eb_target_input(&t, event, "arn:aws:events:us-east-1:000000000000:rule/r", "r",
                                  "2024-01-01T00:00:00.000Z", &len);
      if (out && strlen(out) > len) abort(); /* len counts the whole body */
      free(out);
    }
  }
  json_decref(target);
  json_decref(event);
  return 0;
}
