/* What a target receives: the event, a constant (Input), a part of it
 * (InputPath, a JSONPath), or a template filled from it (InputTransformer).
 *
 * Template rules, as EventBridge applies them (checked against AWS-recorded
 * results): a template whose first non-blank character is '{' or '[' is JSON:
 * a placeholder outside quotes becomes the value as JSON (a string gets its
 * quotes), inside quotes a string value goes in without quotes (escaped), and
 * an object or array inside quotes makes the result invalid, so the target
 * gets nothing. Any other template is text: strings go in raw, objects and
 * arrays as JSON without their quotes ({a:1}, [x,y]). A path that matches
 * nothing gives an empty string. <aws.events.event> (the event without
 * detail, detail-type as "detailType") and <aws.events.event.json> (the whole
 * event) always go in as JSON; <aws.events.rule-arn>, <aws.events.rule-name>
 * and <aws.events.event.ingestion-time> are strings. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json_out.h"
#include "core/log.h"
#include "eventbridge/eb_internal.h"

/* --- JSONPath ------------------------------------------------------------------- */

typedef struct {
  enum { SEG_KEY, SEG_INDEX, SEG_ALL } kind;
  char key[256];
  size_t index;
} seg;

/* Splits a path into segments; -1 when it is not of the subset. */
static int parse_path(const char *p, seg *segs, size_t max, size_t *n) {
  *n = 0;
  if (*p++ != '$') return -1;
  while (*p) {
    if (*n == max) return -1;
    seg *s = &segs[*n];
    if (*p == '.') {
      p++;
      if (*p == '*') {
        s->kind = SEG_ALL;
        p++;
      } else {
        size_t k = 0;
        while (*p && *p != '.' && *p != '[') {
          if (k + 1 >= sizeof s->key) return -1;
          s->key[k++] = *p++;
        }
        if (!k) return -1;
        s->key[k] = 0;
        s->kind = SEG_KEY;
      }
    } else if (*p == '[') {
      p++;
      if (*p == '*' && p[1] == ']') {
        s->kind = SEG_ALL;
        p += 2;
      } else if (*p == '\'' || *p == '"') {
        char q = *p++;
        size_t k = 0;
        while (*p && *p != q) {
          if (k + 1 >= sizeof s->key) return -1;
          s->key[k++] = *p++;
        }
        if (*p != q || p[1] != ']') return -1;
        s->key[k] = 0;
        s->kind = SEG_KEY;
        p += 2;
      } else if (*p >= '0' && *p <= '9') {
        char *end;
        s->index = strtoul(p, &end, 10);
        if (*end != ']') return -1;
        s->kind = SEG_INDEX;
        p = end + 1;
      } else {
        return -1;
      }
    } else {
      return -1;
    }
    (*n)++;
  }
  return 0;
}

int eb_jsonpath_valid(const char *path) {
  seg segs[32];
  size_t n;
  return path && parse_path(path, segs, 32, &n) == 0;
}

static void walk(const json_t *v, const seg *segs, size_t n, json_t *out) {
  if (!v) return;
  if (!n) {
    json_array_append(out, (json_t *)v);
    return;
  }
  switch (segs->kind) {
    case SEG_KEY:
      walk(json_object_get(v, segs->key), segs + 1, n - 1, out);
      break;
    case SEG_INDEX:
      walk(json_array_get(v, segs->index), segs + 1, n - 1, out);
      break;
    case SEG_ALL: {
      size_t i;
      const char *k;
      json_t *x;
      if (json_is_array(v)) json_array_foreach(v, i, x) walk(x, segs + 1, n - 1, out);
      if (json_is_object(v)) json_object_foreach((json_t *)v, k, x) walk(x, segs + 1, n - 1, out);
      break;
    }
  }
}

json_t *eb_jsonpath(const json_t *doc, const char *path) {
  seg segs[32];
  size_t n;
  if (parse_path(path, segs, 32, &n)) return NULL;
  int wild = 0;
  for (size_t i = 0; i < n; i++) wild |= segs[i].kind == SEG_ALL;
  json_t *out = json_array();
  walk(doc, segs, n, out);
  json_t *r = NULL;
  if (wild)
    r = json_array_size(out) ? json_incref(out) : NULL;
  else
    r = json_incref(json_array_get(out, 0));
  json_decref(out);
  return r;
}

/* --- templates ---------------------------------------------------------------------- */

static const char *const predefined[] = {
    "aws.events.rule-arn", "aws.events.rule-name",  "aws.events.event.ingestion-time",
    "aws.events.event",    "aws.events.event.json", NULL};

static int is_predefined(const char *name) {
  for (int i = 0; predefined[i]; i++)
    if (!strcmp(predefined[i], name)) return 1;
  return 0;
}

/* The placeholder starting at s ('<'): its length up to and with '>' (name
 * in name), or 0 when s starts none. */
static size_t placeholder_at(const char *s, char *name, size_t nlen) {
  size_t k = 1;
  while (s[k] && s[k] != '>' && s[k] != '<') k++;
  if (s[k] != '>' || k == 1 || k - 1 >= nlen) return 0;
  memcpy(name, s + 1, k - 1);
  name[k - 1] = 0;
  return k + 1;
}

int eb_template_check(const char *target_id, const json_t *paths_map, const char *tmpl, char *msg,
                      size_t msglen) {
  char name[300];
  for (const char *p = tmpl; *p; p++) {
    if (*p != '<') continue;
    size_t k = placeholder_at(p, name, sizeof name);
    if (!k) continue;
    if (!is_predefined(name) && !json_object_get(paths_map, name)) {
      snprintf(msg, msglen, "InputTemplate for target %s contains invalid placeholder %s.",
               target_id, name);
      return -1;
    }
    p += k - 1;
  }
  return 0;
}

/* s as the inside of a JSON string literal (escaped, no quotes). */
static void put_escaped(tw_buf *b, const char *s, size_t n) {
  tw_buf tmp;
  tw_buf_init(&tmp, 16u << 20);
  tw_json_write_string(&tmp, s, n);
  if (tmp.len >= 2) tw_buf_append(b, tmp.data + 1, tmp.len - 2);
  tw_buf_free(&tmp);
}

static void put_json(tw_buf *b, const json_t *v, int strip_quotes) {
  if (!strip_quotes) {
    tw_json_write(b, v);
    return;
  }
  tw_buf tmp;
  tw_buf_init(&tmp, 16u << 20);
  tw_json_write(&tmp, v);
  for (size_t i = 0; i < tmp.len; i++)
    if (tmp.data[i] != '"') tw_buf_putc(b, tmp.data[i]);
  tw_buf_free(&tmp);
}

static json_t *event_without_detail(const json_t *event) {
  json_t *o = json_object();
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)event, k, v) {
    if (!strcmp(k, "detail")) continue;
    json_object_set(o, !strcmp(k, "detail-type") ? "detailType" : k, v);
  }
  return o;
}

static char *render(const eb_target *t, const json_t *event, const char *rule_arn,
                    const char *rule_name, const char *ingestion, size_t *len) {
  const char *tmpl = t->template;
  const char *first = tmpl + strspn(tmpl, " \t\r\n");
  int json_tmpl = *first == '{' || *first == '[';
  tw_buf b;
  tw_buf_init(&b, 16u << 20);
  int in_str = 0, bad = 0;
  char name[300];
  for (const char *p = tmpl; *p && !bad;) {
    if (*p == '\\' && in_str && p[1]) {
      tw_buf_append(&b, p, 2);
      p += 2;
      continue;
    }
    if (*p == '"') in_str = !in_str;
    size_t k = *p == '<' ? placeholder_at(p, name, sizeof name) : 0;
    if (!k) {
      tw_buf_putc(&b, *p++);
      continue;
    }
    p += k;
    json_t *v = NULL;
    int as_json = 0;
    if (!strcmp(name, "aws.events.event")) {
      v = event_without_detail(event);
      as_json = 1;
    } else if (!strcmp(name, "aws.events.event.json")) {
      v = json_incref((json_t *)event);
      as_json = 1;
    } else if (!strcmp(name, "aws.events.rule-arn")) {
      v = json_string(rule_arn);
    } else if (!strcmp(name, "aws.events.rule-name")) {
      v = json_string(rule_name);
    } else if (!strcmp(name, "aws.events.event.ingestion-time")) {
      v = json_string(ingestion);
    } else {
      const char *path = json_string_value(json_object_get(t->paths_map, name));
      if (!path) { /* not a placeholder of this template: kept as written */
        tw_buf_append(&b, p - k, k);
        continue;
      }
      v = eb_jsonpath(event, path);
      if (!v) v = json_string("");
    }
    if (as_json) {
      put_json(&b, v, 0);
    } else if (json_is_string(v)) {
      const char *s = json_string_value(v);
      size_t n = json_string_length(v);
      if (in_str)
        put_escaped(&b, s, n);
      else if (json_tmpl)
        tw_json_write(&b, v);
      else
        tw_buf_append(&b, s, n);
    } else if (json_is_object(v) || json_is_array(v)) {
      if (json_tmpl && in_str)
        bad = 1; /* an object inside a JSON string: AWS sends nothing */
      else
        put_json(&b, v, !json_tmpl);
    } else {
      tw_json_write(&b, v);
    }
    json_decref(v);
  }
  if (!bad && json_tmpl) {
    json_t *check = json_loadb(b.data ? b.data : "", b.len, JSON_DECODE_ANY, NULL);
    bad = !check;
    json_decref(check);
  }
  if (bad || b.overflow) {
    tw_buf_free(&b);
    return NULL;
  }
  return tw_buf_detach(&b, len);
}

char *eb_target_input(const eb_target *t, const json_t *event, const char *rule_arn,
                      const char *rule_name, const char *ingestion_time, size_t *len) {
  if (t->input) {
    *len = strlen(t->input);
    return strdup(t->input);
  }
  if (t->template) return render(t, event, rule_arn, rule_name, ingestion_time, len);
  json_t *v = t->input_path ? eb_jsonpath(event, t->input_path) : json_incref((json_t *)event);
  if (!v) return NULL;
  tw_buf b;
  tw_buf_init(&b, 16u << 20);
  int rc = tw_json_write(&b, v);
  json_decref(v);
  if (rc || b.overflow) {
    tw_buf_free(&b);
    return NULL;
  }
  return tw_buf_detach(&b, len);
}
