/* CloudWatch's query protocol: a form body (Action=PutMetricData&
 * Version=2010-08-01&MetricData.member.1.MetricName=...) rebuilt into the JSON
 * protocol's shapes, and answers in XML under the 2010-08-01 namespace. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/request.h"
#include "monitoring/cw_front.h"

static int is_index(const char *t) {
  if (!*t) return 0;
  for (; *t; t++)
    if (!isdigit((unsigned char)*t)) return 0;
  return 1;
}

/* a.b.1.c = v as nested objects (list indexes stay keys until fix_lists) */
static void insert_path(json_t *root, const char *key, size_t klen, const char *val, size_t vlen) {
  json_t *cur = root;
  const char *p = key, *end = key + klen;
  for (;;) {
    const char *dot = memchr(p, '.', (size_t)(end - p));
    char part[256];
    size_t n = (size_t)((dot ? dot : end) - p);
    if (n == 0 || n >= sizeof part) return;
    memcpy(part, p, n);
    part[n] = 0;
    if (!dot) {
      json_object_set_new(cur, part, json_stringn(val, vlen));
      return;
    }
    json_t *child = json_object_get(cur, part);
    if (!json_is_object(child)) {
      child = json_object();
      json_object_set_new(cur, part, child);
    }
    cur = child;
    p = dot + 1;
  }
}

static int cmp_index(const void *a, const void *b) {
  long x = atol(*(const char *const *)a), y = atol(*(const char *const *)b);
  return x < y ? -1 : x > y;
}

static json_t *fix_lists(json_t *v);

/* {"1": a, "2": b} -> [a, b] in index order */
static json_t *as_list(json_t *o) {
  json_t *out = json_array();
  size_t n = json_object_size(o), i = 0;
  const char **keys = malloc((n + 1) * sizeof *keys);
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) if (is_index(k)) keys[i++] = k;
  qsort(keys, i, sizeof *keys, cmp_index);
  for (size_t j = 0; j < i; j++) json_array_append_new(out, fix_lists(json_object_get(o, keys[j])));
  free(keys);
  return out;
}

/* Objects of the form {"member": {...}} become lists; returns a new reference. */
static json_t *fix_lists(json_t *v) {
  if (!json_is_object(v)) return json_incref(v);
  json_t *member = json_object_get(v, "member");
  if (json_object_size(v) == 1 && json_is_object(member)) return as_list(member);
  json_t *out = json_object();
  const char *k;
  json_t *x;
  json_object_foreach(v, k, x) json_object_set_new(out, k, fix_lists(x));
  return out;
}

json_t *tw_cw_query_to_json(const char *body, size_t len, char *action, size_t actionlen) {
  json_t *raw = json_object();
  action[0] = 0;
  const char *p = body, *end = body + len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    if (stop > p) {
      size_t kn = (size_t)((eq ? eq : stop) - p);
      char *k = tw_url_decode(p, kn, 1);
      size_t vlen = 0;
      char *v = eq ? tw_url_decode_len(eq + 1, (size_t)(stop - eq - 1), 1, &vlen) : NULL;
      if (k && *k) {
        if (!strcmp(k, "Action"))
          snprintf(action, actionlen, "%s", v ? v : "");
        else if (strcmp(k, "Version"))
          insert_path(raw, k, strlen(k), v ? v : "", v ? vlen : 0);
      }
      free(k);
      free(v);
    }
    p = stop + 1;
  }
  json_t *out = fix_lists(raw);
  json_decref(raw);
  return out;
}

/* --- XML answers ----------------------------------------------------------------- */

static int render_value(tw_buf *b, const char *key, const json_t *v, int in_timestamps);

static int render_members(tw_buf *b, const json_t *o) {
  const char *k;
  json_t *v;
  int rc = 0;
  json_object_foreach((json_t *)o, k, v) {
    if (json_is_null(v)) continue;
    rc |= tw_buf_printf(b, "<%s>", k);
    rc |= render_value(b, k, v, 0);
    rc |= tw_buf_printf(b, "</%s>", k);
  }
  return rc;
}

static int render_value(tw_buf *b, const char *key, const json_t *v, int in_timestamps) {
  char num[64];
  switch (json_typeof(v)) {
    case JSON_STRING:
      return tw_buf_xml_escape(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
    case JSON_REAL:
      if (in_timestamps || !strcmp(key, "Timestamp") || !strcmp(key, "LastModified") ||
          (strlen(key) > 9 && !strcmp(key + strlen(key) - 9, "Timestamp")))
        tw_cw_format_iso8601(json_number_value(v), num, sizeof num);
      else
        tw_cw_format_double(json_number_value(v), num, sizeof num);
      return tw_buf_puts(b, num);
    case JSON_TRUE:
      return tw_buf_puts(b, "true");
    case JSON_FALSE:
      return tw_buf_puts(b, "false");
    case JSON_ARRAY: {
      size_t i;
      json_t *e;
      int rc = 0, ts = !strcmp(key, "Timestamps");
      json_array_foreach((json_t *)v, i, e) {
        rc |= tw_buf_puts(b, "<member>");
        rc |= render_value(b, key, e, ts);
        rc |= tw_buf_puts(b, "</member>");
      }
      return rc;
    }
    case JSON_OBJECT:
      if (!strcmp(key, "ExtendedStatistics")) { /* a map: entry/key/value */
        const char *k;
        json_t *x;
        int rc = 0;
        json_object_foreach((json_t *)v, k, x) {
          rc |= tw_buf_puts(b, "<entry><key>");
          rc |= tw_buf_xml_escape(b, k, strlen(k));
          rc |= tw_buf_puts(b, "</key><value>");
          rc |= render_value(b, "value", x, 0);
          rc |= tw_buf_puts(b, "</value></entry>");
        }
        return rc;
      }
      return render_members(b, v);
    default:
      return 0;
  }
}

int tw_cw_render_xml(tw_buf *b, const char *action, const json_t *out, const char *request_id) {
  int rc = tw_buf_printf(
      b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<%sResponse xmlns=\"" TW_CW_XMLNS "\">",
      action);
  if (out) { /* an empty Result too: botocore looks for it when the output has a shape */
    rc |= tw_buf_printf(b, "<%sResult>", action);
    rc |= render_members(b, out);
    rc |= tw_buf_printf(b, "</%sResult>", action);
  }
  rc |= tw_buf_printf(b,
                      "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>",
                      request_id, action);
  return rc;
}
