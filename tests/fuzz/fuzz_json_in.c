/* The SQS JSON front end's fast parser (tw_json_parse_object_fast in
 * src/client/json_parse.c), checked against
 * jansson's json_loadb with the front end's flags (JSON_REJECT_DUPLICATES |
 * JSON_ALLOW_NUL): whenever the fast parser returns an object, jansson must
 * accept the same input and return an equal object. (When it returns NULL the
 * front end asks jansson, so refusing more is allowed; accepting more is not.)
 * Also checked: the inputs jansson accepts that the fast parser declines are
 * only those with a \u0000 escape, a raw NUL byte or a top level that is not
 * an object, so that the fast path does not silently stop being taken. */
#include <stdio.h>

#include "client/json_parse.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size ? size : 1);
  memcpy(copy, data, size);
  json_t *mine = tw_json_parse_object_fast(copy, size);
  json_error_t je;
  json_t *ref = json_loadb(copy, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
  if (mine && (!ref || !json_equal(mine, ref))) {
    fprintf(stderr, "fast parser accepts, json_loadb %s (%s)\n", ref ? "differs" : "refuses",
            ref ? "" : je.text);
    abort();
  }
  if (!mine && json_is_object(ref) && !memchr(copy, 0, size) && !memmem(copy, size, "\\u0000", 6)) {
    fprintf(stderr, "fast parser declines an object jansson accepts\n");
    abort();
  }
  json_decref(mine);
  json_decref(ref);
  free(copy);
  return 0;
}
