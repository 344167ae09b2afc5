/* tw_json_parse_object_fast (the SQS JSON front end's fast parser) against jansson's
 * json_loadb with the front end's flags (JSON_REJECT_DUPLICATES |
 * JSON_ALLOW_NUL): every object it returns is one jansson returns, equal value
 * for value; what it declines (NULL) the front end hands to jansson, so it may
 * decline valid input, but only the cases listed here. */
#include "client/json_parse.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"

/* objects both accept, with equal values */
static const char *const good[] = {
    "{}",
    "  {\"a\" : [1, 2, {\"b\": null}] , \"c\":\"d\"}  \n",
    "{\"QueueUrl\":\"http://127.0.0.1:9324/000000000000/q\",\"Entries\":[{\"Id\":\"0\","
    "\"MessageBody\":\"x\"},{\"Id\":\"1\",\"MessageBody\":\"quote \\\" backslash \\\\ slash "
    "\\/ \\b\\f\\n\\r\\t\"}]}",
    "{\"MessageBody\":\"\\u00e9\\u20AC \\ud83d\\ude00 h\xc3\xa9llo \xf0\x9f\x98\x80\"}",
    "{\"n\":-0,\"m\":9223372036854775807,\"k\":-9223372036854775808,\"r\":1.5e3,\"t\":true,"
    "\"f\":false}",
    "{\"k\\u00e9y\":\"v\",\"same\":{\"same\":1}}",
    "{\"a\":{\"b\":{\"c\":[[[]]]}}}",
};

/* jansson refuses these: the fast parser must not return an object */
static const char *const bad[] = {
    "",
    "{",
    "{\"a\":1,}",
    "{\"dup\":1,\"dup\":2}",
    "{\"x\":{\"dup\":1,\"dup\":2}}",
    "{\"a\":\"\\ud83d alone\"}",
    "{\"a\":\"\xc0\xaf\"}",
    "{\"a\":\"tab\tinside\"}",
    "{\"a\":9223372036854775808}",
    "{\"a\":1e400}",
    "{\"a\":1}}",
    "{\"a\":1} x",
    "{\"k\\u0000\":1}",
};

/* valid for jansson, but declined here (jansson then parses them) */
static const char *const declined[] = {
    "[1,2]",
    "\"s\"",
    "{\"a\":\"nul \\u0000 inside\"}",
};

int main(void) {
  CASE("objects: the same as jansson's");
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    json_t *want =
        json_loadb(good[i], strlen(good[i]), JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    json_t *got = tw_json_parse_object_fast(good[i], strlen(good[i]));
    CHECK(want != NULL);
    CHECK(got != NULL);
    CHECK(want && got && json_equal(want, got));
    json_decref(want);
    json_decref(got);
  }
  CASE("refused by jansson: never an object here");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    json_t *want =
        json_loadb(bad[i], strlen(bad[i]), JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    json_t *got = tw_json_parse_object_fast(bad[i], strlen(bad[i]));
    CHECK(want == NULL);
    CHECK(got == NULL);
    json_decref(want);
    json_decref(got);
  }
  CASE("declined: left to jansson");
  for (size_t i = 0; i < sizeof declined / sizeof declined[0]; i++) {
    json_t *got = tw_json_parse_object_fast(declined[i], strlen(declined[i]));
    CHECK(got == NULL);
    json_decref(got);
  }
  CASE("a NUL byte in the input is declined");
  CHECK(tw_json_parse_object_fast("{\"a\":\"x\0y\"}", 11) == NULL);
  CHECK(tw_json_parse_object_fast("{}\0", 3) == NULL);
  CASE("strings are copied, not borrowed");
  char buf[] = "{\"k\":\"value\",\"e\":\"a\\nb\"}";
  json_t *v = tw_json_parse_object_fast(buf, strlen(buf));
  memset(buf, 'x', strlen(buf));
  CHECK_STR_EQ(json_string_value(json_object_get(v, "k")), "value");
  CHECK_STR_EQ(json_string_value(json_object_get(v, "e")), "a\nb");
  json_decref(v);
  return tap_done();
}
