/* The composite AlarmRule language (src/monitoring/cw_composite.c: ALARM(x),
 * OK(x), INSUFFICIENT_DATA(x), TRUE, FALSE, NOT, AND, OR, parentheses; x a
 * name, quoted or not, or an alarm ARN), parsed and evaluated by
 * cwa_rule_eval against a fixed table of alarms in each state, then through
 * cwa_composite_children and cwa_composite_parents (the rule installed as a
 * composite alarm's). Checked: the result is 0, 1 or -1 with an error text;
 * what the rule references exists and each name is listed once; the names
 * that held are among them; cwa_composite_children lists the same names;
 * the composite alarm is a parent of exactly the alarms it references; and
 * "NOT (rule)", when it parses too, gives the opposite value.
 * Input: the rule (up to the first NUL). */
#include <stdio.h>

#include "fuzz_util.h"
#include "monitoring/cw_alarms_internal.h"

#define MAX_RULE 10240

static tw_alarms A;

static void add(const char *name, const char *state) {
  json_object_set_new(A.alarms, name,
                      json_pack("{s:{s:s,s:s}}", "Alarm", "AlarmName", name, "StateValue", state));
}

static void init(void) {
  strcpy(A.region, "us-east-1");
  strcpy(A.account, "000000000000");
  A.alarms = json_object();
  add("a", "ALARM");
  add("b", "OK");
  add("c", "INSUFFICIENT_DATA");
  add("my alarm", "ALARM");
  add("x(y)", "OK");
  add("TRUE", "ALARM");
  json_object_set_new(A.alarms, "comp",
                      json_pack("{s:{s:s,s:s,s:s}}", "Alarm", "AlarmName", "comp", "StateValue",
                                "OK", "AlarmRule", "ALARM(a) OR OK(b)"));
}

static int contains(const json_t *list, const char *s) {
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v) if (!strcmp(json_string_value(v), s)) return 1;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!A.alarms) init();
  if (size > MAX_RULE) return 0;
  char *rule = malloc(size + 1);
  memcpy(rule, data, size);
  rule[size] = 0;
  json_t *refs = json_array(), *missing = json_array(), *hits = json_array();
  char err[400] = "";
  int v = cwa_rule_eval(&A, rule, refs, missing, hits, err, sizeof err);
  if (v < -1 || v > 1 || (v < 0 && !err[0])) abort();
  size_t i;
  json_t *x;
  json_array_foreach(refs, i, x) {
    const char *n = json_string_value(x);
    if (!n || !json_object_get(A.alarms, n)) abort();
    for (size_t j = i + 1; j < json_array_size(refs); j++)
      if (!strcmp(n, json_string_value(json_array_get(refs, j)))) abort(); /* once each */
  }
  json_array_foreach(hits, i, x) if (!contains(refs, json_string_value(x))) abort();

  if (v >= 0) {
    /* the same parse through the module's own entry points */
    json_t *al =
        json_pack("{s:s,s:s,s:s}", "AlarmName", "fz", "StateValue", "OK", "AlarmRule", rule);
    if (al) { /* NULL when the rule is not UTF-8 */
      json_t *kids = cwa_composite_children(&A, al);
      if (!json_equal(kids, refs)) abort();
      json_decref(kids);
      json_object_set_new(A.alarms, "fz", json_pack("{s:o}", "Alarm", al));
      const char *const names[] = {"a", "b", "c", "my alarm", "x(y)", "TRUE", "comp"};
      for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        json_t *parents = cwa_composite_parents(&A, names[k]);
        if (contains(parents, "fz") != contains(refs, names[k])) abort();
        json_decref(parents);
      }
      json_object_del(A.alarms, "fz");
    }
    /* NOT (rule): the opposite, whenever it parses */
    char *neg = malloc(size + 8);
    snprintf(neg, size + 8, "NOT (%s)", rule);
    char err2[400];
    int nv = cwa_rule_eval(&A, neg, NULL, NULL, NULL, err2, sizeof err2);
    if (nv >= 0 && nv != !v) abort();
    free(neg);
  }
  json_decref(refs);
  json_decref(missing);
  json_decref(hits);
  free(rule);
  return 0;
}
