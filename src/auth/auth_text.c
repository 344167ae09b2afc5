#include "auth/auth_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

int tw_auth_ieq(const char *a, size_t an, const char *b, size_t bn) {
  if (an != bn) return 0;
  for (size_t i = 0; i < an; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
  return 1;
}

int tw_auth_hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

size_t tw_auth_pct_decode(const char *in, size_t n, char *out, int plus) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int h, l;
    if (in[i] == '%' && i + 2 < n && (h = tw_auth_hexval((unsigned char)in[i + 1])) >= 0 &&
        (l = tw_auth_hexval((unsigned char)in[i + 2])) >= 0) {
      out[o++] = (char)(h << 4 | l);
      i += 2;
    } else if (plus && in[i] == '+') {
      out[o++] = ' ';
    } else {
      out[o++] = in[i];
    }
  }
  return o;
}

void tw_auth_setmsg(char *buf, size_t len, const char *fmt, ...) {
  if (!buf || !len) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, len, fmt, ap);
  va_end(ap);
}

const char *tw_auth_header(const tw_kv *headers, size_t n, const char *name) {
  size_t nl = strlen(name);
  for (size_t i = 0; i < n; i++) {
    const char *hn = headers[i].name;
    if (hn && tw_auth_ieq(hn, strlen(hn), name, nl))
      return headers[i].value ? headers[i].value : "";
  }
  return NULL;
}
