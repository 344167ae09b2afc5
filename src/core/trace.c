/* Trace headers (see trace.h). */
#include "core/trace.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int hex_run(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isxdigit((unsigned char)p[i])) return 0;
  return 1;
}

int tw_trace_header(const char *amzn, const char *traceparent, char *out, size_t n) {
  if (n) out[0] = 0;
  if (amzn) {
    while (*amzn == ' ') amzn++;
    size_t len = strlen(amzn);
    /* "Root=1-..." somewhere; printable, no more than SQS keeps (a few hundred bytes) */
    int ok = len > 0 && len < n && len <= 256 && strstr(amzn, "Root=1-") != NULL;
    for (size_t i = 0; ok && i < len; i++) ok = amzn[i] > 0x20 && amzn[i] < 0x7f;
    if (ok) {
      memcpy(out, amzn, len + 1);
      return 1;
    }
  }
  if (traceparent) {
    const char *t = traceparent;
    while (*t == ' ') t++;
    /* version 00: exactly 55 characters; later versions may append fields */
    if (strlen(t) >= 55 && hex_run(t, 2) && t[2] == '-' && hex_run(t + 3, 32) && t[35] == '-' &&
        hex_run(t + 36, 16) && t[52] == '-' && hex_run(t + 53, 2) && (t[55] == 0 || t[55] == '-') &&
        strncmp(t, "ff", 2) && strncmp(t + 3, "00000000000000000000000000000000", 32)) {
      int flags = (isdigit((unsigned char)t[54]) ? t[54] - '0' : (tolower(t[54]) - 'a' + 10));
      snprintf(out, n, "Root=1-%.8s-%.24s;Parent=%.16s;Sampled=%d", t + 3, t + 11, t + 36,
               flags & 1);
      for (char *p = out; *p; p++) *p = (char)tolower((unsigned char)*p);
      /* keep "Root", "Parent", "Sampled" capitalised */
      memcpy(out, "Root", 4);
      char *pp = strstr(out, ";parent=");
      if (pp) memcpy(pp + 1, "Parent", 6);
      char *sp = strstr(out, ";sampled=");
      if (sp) memcpy(sp + 1, "Sampled", 7);
      return 1;
    }
  }
  return 0;
}
