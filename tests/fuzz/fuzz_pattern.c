/* The event pattern engine: tw_pattern_compile in its three dialects
 * (EventBridge event patterns, SNS filter policies on attributes and on the
 * body), then tw_pattern_match of each compiled pattern on a second input.
 * Input: the pattern, a line holding only "\x01", the document (JSON). An SNS
 * attribute document also goes through tw_pattern_sns_attributes. */
#include "events/pattern.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *sep = memmem(data, size, "\n\x01\n", 3);
  size_t plen = sep ? (size_t)(sep - data) : size;
  char *pat = malloc(plen + 1);
  memcpy(pat, data, plen);
  pat[plen] = 0;
  json_t *doc = NULL;
  if (sep) doc = json_loadb((const char *)sep + 3, size - plen - 3, JSON_DECODE_ANY, NULL);
  json_t *attrs = doc ? tw_pattern_sns_attributes(doc) : NULL;
  static const tw_pattern_dialect ds[] = {TW_PATTERN_EVENTBRIDGE, TW_PATTERN_SNS_ATTRIBUTES,
                                          TW_PATTERN_SNS_BODY};
  for (int i = 0; i < 3; i++) {
    char err[1024];
    tw_pattern *p = tw_pattern_compile(pat, plen, ds[i], err, sizeof err);
    if (!p) continue;
    if (doc) tw_pattern_match(p, ds[i] == TW_PATTERN_SNS_ATTRIBUTES && attrs ? attrs : doc);
    tw_pattern_free(p);
  }
  json_decref(attrs);
  json_decref(doc);
  free(pat);
  return 0;
}
