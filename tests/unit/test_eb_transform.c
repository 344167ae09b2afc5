/* What an EventBridge target receives (src/eventbridge/eb_transform.c): the
 * JSONPath subset, template checks, and template rendering with the quoting
 * rules AWS applies (recorded against AWS in LocalStack's validated
 * snapshots: JSON templates get JSON values and "" for a missing path, text
 * templates raw strings and objects without quotes, an object inside a JSON
 * string sends nothing). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventbridge/eb_internal.h"
#include "tap.h"

static json_t *event;

static char *render(const char *tmpl, const char *paths_json) {
  eb_target t = {0};
  json_t *paths = paths_json ? json_loads(paths_json, 0, NULL) : NULL;
  t.template = tmpl;
  t.paths_map = paths;
  size_t len = 0;
  char *out = eb_target_input(&t, event, "arn:aws:events:us-east-1:0:rule/r", "r",
                              "2024-01-01T00:00:00.000Z", &len);
  json_decref(paths);
  return out;
}

static char *path_json(const char *path) {
  json_t *v = eb_jsonpath(event, path);
  char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  json_decref(v);
  return s;
}

#define CHECK_OWNED(expr, want) \
  do {                          \
    char *got_ = (expr);        \
    CHECK_STR_EQ(got_, want);   \
    free(got_);                 \
  } while (0)

int main(void) {
  event = json_loads(
      "{\"version\":\"0\",\"id\":\"e1\",\"detail-type\":\"core.update\",\"source\":\"shop\","
      "\"account\":\"0\",\"time\":\"2024-01-01T00:00:00Z\",\"region\":\"us-east-1\","
      "\"resources\":[\"a\",\"b\"],\"detail\":{\"payload\":{\"acc_id\":\"0a78\",\"sf_id\":\"baz\"},"
      "\"list\":[\"ACTIVE\",\"INACTIVE\"],\"items\":[{\"id\":1},{\"id\":2}],\"valid\":true,"
      "\"n\":5,\"quote\":\"say \\\"hi\\\"\"}}",
      0, NULL);
  CHECK(event != NULL);

  CASE("jsonpath");
  CHECK(eb_jsonpath_valid("$"));
  CHECK(eb_jsonpath_valid("$.detail.payload"));
  CHECK(eb_jsonpath_valid("$.detail-type"));
  CHECK(eb_jsonpath_valid("$['detail']['payload']"));
  CHECK(eb_jsonpath_valid("$.detail.items[0].id"));
  CHECK(eb_jsonpath_valid("$.detail.items[*].id"));
  CHECK(!eb_jsonpath_valid("detail"));
  CHECK(!eb_jsonpath_valid("$..id"));
  CHECK(!eb_jsonpath_valid("$.a[?(@.x)]"));
  CHECK_OWNED(path_json("$.detail.payload.sf_id"), "\"baz\"");
  CHECK_OWNED(path_json("$['detail']['n']"), "5");
  CHECK_OWNED(path_json("$.detail-type"), "\"core.update\"");
  CHECK_OWNED(path_json("$.detail.items[1].id"), "2");
  CHECK_OWNED(path_json("$.detail.items[*].id"), "[1,2]");
  CHECK(eb_jsonpath(event, "$.detail.nothere") == NULL);
  CHECK(eb_jsonpath(event, "$.detail.items[7]") == NULL);

  CASE("template check");
  char msg[256];
  json_t *paths = json_loads("{\"a\":\"$.detail.n\"}", 0, NULL);
  CHECK_INT_EQ(eb_template_check("t1", paths, "\"<a> <aws.events.rule-name>\"", msg, sizeof msg),
               0);
  CHECK_INT_EQ(eb_template_check("t1", paths, "\"<a> <b>\"", msg, sizeof msg), -1);
  CHECK_STR_EQ(msg, "InputTemplate for target t1 contains invalid placeholder b.");
  json_decref(paths);

  CASE("json templates");
  const char *p =
      "{\"id\":\"$.detail.payload.acc_id\",\"payload\":\"$.detail.payload\","
      "\"list\":\"$.detail.list\",\"valid\":\"$.detail.valid\",\"n\":\"$.detail.n\","
      "\"missing\":\"$.detail.nothere\",\"q\":\"$.detail.quote\"}";
  CHECK_OWNED(render("{\"id\": <id>, \"path\": \"users/<id>\", \"body\": <payload>}", p),
              "{\"id\": \"0a78\", \"path\": \"users/0a78\", \"body\": "
              "{\"acc_id\":\"0a78\",\"sf_id\":\"baz\"}}");
  CHECK_OWNED(render("{\"l\": <list>, \"v\": <valid>, \"n\": <n>, \"m\": <missing>}", p),
              "{\"l\": [\"ACTIVE\",\"INACTIVE\"], \"v\": true, \"n\": 5, \"m\": \"\"}");
  CHECK_OWNED(render("{\"q\": \"<q>!\"}", p), "{\"q\": \"say \\\"hi\\\"!\"}");
  CHECK(render("{\"payload\": \"<payload>\"}", p) == NULL);
  CHECK_OWNED(render("[<id>, \"hardcoded\"]", p), "[\"0a78\", \"hardcoded\"]");

  CASE("text templates");
  CHECK_OWNED(render("\"Payload of <payload> and <list>, <missing>; <valid>\"", p),
              "\"Payload of {acc_id:0a78,sf_id:baz} and [ACTIVE,INACTIVE], ; true\"");
  CHECK_OWNED(render("<id> is in state <n>", p), "0a78 is in state 5");
  CHECK_OWNED(render("a <b> stays", p), "a <b> stays");

  CASE("predefined variables");
  CHECK_OWNED(render("{\"r\": <aws.events.rule-name>, \"arn\": \"<aws.events.rule-arn>\", "
                     "\"at\": <aws.events.event.ingestion-time>}",
                     NULL),
              "{\"r\": \"r\", \"arn\": \"arn:aws:events:us-east-1:0:rule/r\", "
              "\"at\": \"2024-01-01T00:00:00.000Z\"}");
  char *ev = render("{\"e\": <aws.events.event>}", NULL);
  json_t *j = ev ? json_loads(ev, 0, NULL) : NULL;
  CHECK(j != NULL);
  CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(j, "e"), "detailType")),
               "core.update");
  CHECK(json_object_get(json_object_get(j, "e"), "detail") == NULL);
  json_decref(j);
  free(ev);

  CASE("input and input path");
  eb_target t = {0};
  size_t len;
  t.input = "{\"fixed\":1}";
  CHECK_OWNED(eb_target_input(&t, event, "arn", "r", "now", &len), "{\"fixed\":1}");
  t.input = NULL;
  t.input_path = "$.detail.payload";
  CHECK_OWNED(eb_target_input(&t, event, "arn", "r", "now", &len),
              "{\"acc_id\":\"0a78\",\"sf_id\":\"baz\"}");
  t.input_path = "$.detail.nothere";
  CHECK(eb_target_input(&t, event, "arn", "r", "now", &len) == NULL);

  json_decref(event);
  return tap_done();
}
