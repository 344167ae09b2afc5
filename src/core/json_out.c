#include "core/json_out.h"

#include <stdio.h>
#include <string.h>

/* 0: copy as is; 1: needs an escape */
static const unsigned char needs_escape[256] =
    {
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, /* backslash */
};

int tw_json_write_string(tw_buf *b, const char *s, size_t n) {
  if (tw_buf_putc(b, '"')) return -1;
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!needs_escape[c]) continue;
    if (tw_buf_append(b, s + start, i - start)) return -1;
    char esc[8];
    switch (c) {
      case '"':
        memcpy(esc, "\\\"", 3);
        break;
      case '\\':
        memcpy(esc, "\\\\", 3);
        break;
      case '\n':
        memcpy(esc, "\\n", 3);
        break;
      case '\r':
        memcpy(esc, "\\r", 3);
        break;
      case '\t':
        memcpy(esc, "\\t", 3);
        break;
      default:
        snprintf(esc, sizeof esc, "\\u%04x", c);
    }
    if (tw_buf_puts(b, esc)) return -1;
    start = i + 1;
  }
  if (tw_buf_append(b, s + start, n - start)) return -1;
  return tw_buf_putc(b, '"');
}

int tw_json_write(tw_buf *b, const json_t *v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT: {
      const char *k;
      json_t *x;
      int first = 1;
      if (tw_buf_putc(b, '{')) return -1;
      json_object_foreach((json_t *)v, k, x) {
        if (!first && tw_buf_putc(b, ',')) return -1;
        first = 0;
        if (tw_json_write_string(b, k, strlen(k)) || tw_buf_putc(b, ':') || tw_json_write(b, x))
          return -1;
      }
      return tw_buf_putc(b, '}');
    }
    case JSON_ARRAY: {
      size_t i;
      json_t *x;
      if (tw_buf_putc(b, '[')) return -1;
      json_array_foreach((json_t *)v, i, x) {
        if (i && tw_buf_putc(b, ',')) return -1;
        if (tw_json_write(b, x)) return -1;
      }
      return tw_buf_putc(b, ']');
    }
    case JSON_STRING:
      return tw_json_write_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
      return tw_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
      return tw_buf_printf(b, "%.17g", json_real_value(v));
    case JSON_TRUE:
      return tw_buf_puts(b, "true");
    case JSON_FALSE:
      return tw_buf_puts(b, "false");
    case JSON_NULL:
      return tw_buf_puts(b, "null");
  }
  return -1;
}
