/* client/json_parse against jansson's own decoder (json_loadb with
 * JSON_DECODE_ANY): the same documents accepted, with equal values, and the
 * same documents refused. The corpus covers every token, escapes, surrogate
 * pairs, UTF-8 edge cases (overlong forms, surrogates, the top code point),
 * numbers at the edges, nesting and an SQS ReceiveMessage answer. */
#include "client/json_parse.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"

static const char *const good[] = {
    "{}",
    "[]",
    "0",
    "-0",
    "1",
    "-12345",
    "9223372036854775807",
    "-9223372036854775808",
    "1.5",
    "-0.25",
    "1e10",
    "1E-3",
    "2.5e+7",
    "1.7976931348623157e308",
    "true",
    "false",
    "null",
    "\"\"",
    "\"plain ascii\"",
    "\"quote \\\" backslash \\\\ slash \\/\"",
    "\"\\b\\f\\n\\r\\t\"",
    "\"\\u00e9\\u20AC\"",
    "\"\\ud83d\\ude00 emoji\"",
    "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"",
    "\"\xf4\x8f\xbf\xbf top\"",
    "\"\xed\x9f\xbf below surrogates\"",
    "  {\"a\" : [1, 2, {\"b\": null}] , \"c\":\"d\"}  ",
    "{\"dup\":1,\"dup\":2}",
    "[[[[[[[[[[]]]]]]]]]]",
    "{\"k\\u00e9y\":\"v\"}",
    "{\"Messages\":[{\"MessageId\":\"5fea7756-0ea4-451a-a703-a558b933e274\",\"ReceiptHandle\":"
    "\"AQEB+/x==\",\"MD5OfBody\":\"fafb00f5732ab283681e124bf8747ed1\",\"Body\":\"This is a "
    "test message\",\"Attributes\":{\"SenderId\":\"195004372649\",\"ApproximateReceiveCount\":"
    "\"5\",\"SentTimestamp\":\"1238099229000\"},\"MessageAttributes\":{\"b\":{\"BinaryValue\":"
    "\"AAE=\",\"DataType\":\"Binary\"}}}]}",
};

static const char *const bad[] = {
    "",
    " ",
    "{",
    "}",
    "[1,]",
    "[,1]",
    "{\"a\"}",
    "{\"a\":}",
    "{\"a\":1,}",
    "{a:1}",
    "'x'",
    "01",
    "1.",
    ".5",
    "-",
    "+1",
    "1e",
    "1e+",
    "0x10",
    "NaN",
    "Infinity",
    "tru",
    "nul",
    "1 2",
    "[1] x",
    "\"unterminated",
    "\"bad \\x escape\"",
    "\"\\u12\"",
    "\"\\ud83d alone\"",
    "\"\\ude00 low\"",
    "\"\\u0000\"",
    "\"tab\tinside\"",
    "\"\xc0\xaf overlong\"",
    "\"\xe0\x80\xaf overlong\"",
    "\"\xed\xa0\x80 surrogate\"",
    "\"\xf4\x90\x80\x80 too big\"",
    "\"\xff\"",
    "\"\x80\"",
    "\"\xc3\"",
    "9223372036854775808",
    "1e400",
    "{\"a\":1}}",
};

static void test_same_as_jansson(void) {
  CASE("accepted like jansson, same values");
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    json_error_t je;
    json_t *want = json_loadb(good[i], strlen(good[i]), JSON_DECODE_ANY, &je);
    char err[160];
    json_t *got = tw_json_parse(good[i], strlen(good[i]), err, sizeof err);
    CHECK(want != NULL);
    CHECK(got != NULL);
    if (!got) printf("#   %s: %s\n", good[i], err);
    CHECK(want && got && json_equal(want, got));
    json_decref(want);
    json_decref(got);
  }
  CASE("refused like jansson");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    json_error_t je;
    json_t *want = json_loadb(bad[i], strlen(bad[i]), JSON_DECODE_ANY, &je);
    char err[160];
    json_t *got = tw_json_parse(bad[i], strlen(bad[i]), err, sizeof err);
    CHECK(want == NULL);
    CHECK(got == NULL);
    if (got) printf("#   accepted: %s\n", bad[i]);
    CHECK(got != NULL || err[0]);
    json_decref(want);
    json_decref(got);
  }
}

static void test_embedded_nul_and_depth(void) {
  CASE("a NUL byte and deep nesting");
  CHECK(tw_json_parse("\"a\0b\"", 5, NULL, 0) == NULL);
  size_t depth = 5000;
  char *deep = malloc(2 * depth);
  memset(deep, '[', depth);
  memset(deep + depth, ']', depth);
  CHECK(tw_json_parse(deep, 2 * depth, NULL, 0) == NULL); /* over the nesting limit */
  json_t *ok = tw_json_parse(deep + depth - 100, 200, NULL, 0);
  CHECK(ok != NULL);
  json_decref(ok);
  free(deep);
  CASE("strings are copied, not borrowed");
  char buf[] = "{\"k\":\"value\",\"e\":\"a\\nb\"}";
  json_t *v = tw_json_parse(buf, strlen(buf), NULL, 0);
  memset(buf, 'x', strlen(buf));
  CHECK_STR_EQ(json_string_value(json_object_get(v, "k")), "value");
  CHECK_STR_EQ(json_string_value(json_object_get(v, "e")), "a\nb");
  CHECK_INT_EQ(json_string_length(json_object_get(v, "e")), 3);
  json_decref(v);
}

int main(void) {
  test_same_as_jansson();
  test_embedded_nul_and_depth();
  return tap_done();
}
