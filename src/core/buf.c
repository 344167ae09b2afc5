#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tw_buf_init(tw_buf *b, size_t cap) {
  memset(b, 0, sizeof *b);
  b->cap = cap;
}

void tw_buf_free(tw_buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

void tw_buf_reset(tw_buf *b) {
  b->len = 0;
  b->overflow = 0;
}

static int reserve(tw_buf *b, size_t extra) {
  if (b->overflow) return -1;
  if (extra > b->cap || b->len > b->cap - extra) {
    b->overflow = 1;
    return -1;
  }
  size_t need = b->len + extra + 1; /* room for a NUL */
  if (need <= b->alloc) return 0;
  size_t n = b->alloc ? b->alloc : 256;
  while (n < need) n *= 2;
  char *p = realloc(b->data, n);
  if (!p) {
    b->overflow = 1;
    return -1;
  }
  b->data = p;
  b->alloc = n;
  return 0;
}

void tw_buf_reserve(tw_buf *b, size_t n) {
  if (n <= b->cap && b->len + n <= b->cap && !reserve(b, n)) return;
  b->overflow = 0; /* a failed reservation is not an overflow yet */
}

int tw_buf_append(tw_buf *b, const void *p, size_t n) {
  if (n == 0) return b->overflow ? -1 : 0;
  if (reserve(b, n)) return -1;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int tw_buf_puts(tw_buf *b, const char *s) {
  return tw_buf_append(b, s, strlen(s));
}

int tw_buf_putc(tw_buf *b, char c) {
  return tw_buf_append(b, &c, 1);
}

int tw_buf_printf(tw_buf *b, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return -1;
  if ((size_t)n < sizeof small) return tw_buf_append(b, small, (size_t)n);
  if (reserve(b, (size_t)n)) return -1;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

int tw_buf_xml_escape(tw_buf *b, const char *s, size_t n) {
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *rep = NULL;
    char num[16];
    switch (c) {
      case '&':
        rep = "&amp;";
        break;
      case '<':
        rep = "&lt;";
        break;
      case '>':
        rep = "&gt;";
        break;
      case '"':
        rep = "&quot;";
        break;
      case '\'':
        rep = "&apos;";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          snprintf(num, sizeof num, "&#x%X;", c);
          rep = num;
        }
    }
    if (!rep) continue;
    if (tw_buf_append(b, s + start, i - start) || tw_buf_puts(b, rep)) return -1;
    start = i + 1;
  }
  return tw_buf_append(b, s + start, n - start);
}

const char *tw_buf_cstr(tw_buf *b) {
  if (!b->data) return "";
  b->data[b->len] = 0;
  return b->data;
}

char *tw_buf_detach(tw_buf *b, size_t *len) {
  char *p = b->data;
  if (!p) {
    p = calloc(1, 1);
  } else {
    p[b->len] = 0;
  }
  if (len) *len = b->len;
  memset(b, 0, sizeof *b);
  return p;
}
