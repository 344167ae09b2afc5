/* CloudWatch Logs filter patterns (src/logs/logs_filter.c): terms, "phrases",
 * ?optional, -excluded, JSON patterns { $.a.b[0] = "x*" && ($.n > 5 || ...) }
 * and the space-delimited [a, b] form (refused), compiled by
 * tw_log_filter_compile, then matched by tw_log_filter_match against a log
 * message. Checked: compiling gives a filter or NULL with a message; a
 * space-delimited pattern is refused; an empty (blank) pattern matches
 * everything; matching gives 0 or 1, the same twice; a JSON pattern
 * { X } that compiles compiles as { (X) } too (unless that passes the
 * 1024-character limit) and matches the same messages.
 * Input: the pattern, a line holding only "\x01", the message (bytes; may hold
 * NULs). Without the separator the pattern is its own message. */
#include <ctype.h>
#include <stdio.h>

#include "fuzz_util.h"
#include "logs/logs.h"

static int match_checked(const tw_log_filter *f, const char *msg, size_t len) {
  int r = tw_log_filter_match(f, msg, len);
  if (r != 0 && r != 1) abort();
  if (tw_log_filter_match(f, msg, len) != r) abort();
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *sep = memmem(data, size, "\n\x01\n", 3);
  size_t plen = sep ? (size_t)(sep - data) : size;
  char *pat = malloc(plen + 1);
  memcpy(pat, data, plen);
  pat[plen] = 0; /* the API's string ends at a NUL */
  const char *msg = sep ? (const char *)sep + 3 : (const char *)data;
  size_t mlen = sep ? size - plen - 3 : size;

  const char *p = pat;
  while (isspace((unsigned char)*p)) p++;
  char err[1024] = "";
  tw_log_filter *f = tw_log_filter_compile(pat, err, sizeof err);
  if (!f) {
    if (!err[0]) abort(); /* a refusal says why */
    free(pat);
    return 0;
  }
  if (*p == '[') abort(); /* space-delimited patterns are refused */
  int r = match_checked(f, msg, mlen);
  if (!*p && r != 1) abort(); /* a blank pattern matches all */
  tw_log_filter_free(f);

  if (*p == '{') { /* { X } and { (X) } are the same pattern */
    const char *close = strrchr(p, '}');
    size_t inner = (size_t)(close - (p + 1));
    char *wrapped = malloc(inner + 5);
    snprintf(wrapped, inner + 5, "{(%.*s)}", (int)inner, p + 1);
    char err2[1024] = "";
    tw_log_filter *g = tw_log_filter_compile(wrapped, err2, sizeof err2);
    size_t chars = 0; /* the 2 characters added may pass the 1024-character limit */
    for (const unsigned char *q = (const unsigned char *)wrapped; *q; q++)
      chars += (*q & 0xC0) != 0x80;
    if (!g && chars <= 1024) abort();
    if (!g) {
      free(wrapped);
      free(pat);
      return 0;
    }
    if (match_checked(g, msg, mlen) != r) abort();
    tw_log_filter_free(g);
    free(wrapped);
  }
  free(pat);
  return 0;
}
