/* The worker's JSON parser (src/client/json_parse.c), checked against
 * jansson's json_loadb, which its header says it agrees with exactly:
 * the same inputs accepted, the same values. */
#include <stdio.h>

#include "client/json_parse.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size ? size : 1);
  memcpy(copy, data, size);
  char err[200];
  json_t *mine = tw_json_parse(copy, size, err, sizeof err);
  json_error_t je;
  json_t *ref;
  if (memchr(copy, 0, size)) {
    /* jansson's reader takes a NUL byte for the end of the input ("8\0" is 8 to
     * json_loadb); JSON has no place for one outside a string, nor inside (a
     * control character): tw_json_parse must refuse the input. */
    if (mine) {
      fprintf(stderr, "tw_json_parse accepts a NUL byte\n");
      abort();
    }
    free(copy);
    return 0;
  }
  ref = json_loadb(copy, size, JSON_DECODE_ANY, &je);
  if (!!mine != !!ref || (mine && !json_equal(mine, ref))) {
    fprintf(stderr, "tw_json_parse %s, json_loadb %s (%s)\n", mine ? "accepts" : "refuses",
            ref ? "accepts" : "refuses", mine ? je.text : err);
    abort();
  }
  json_decref(mine);
  json_decref(ref);
  free(copy);
  return 0;
}
