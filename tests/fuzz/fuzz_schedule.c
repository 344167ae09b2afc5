/* EventBridge ScheduleExpression (src/eventbridge/eb_schedule.c):
 * eb_schedule_parse of the input (rate(...) / cron(...)), then, for a
 * schedule that parses, eb_schedule_next from a few fixed times, on the real
 * clock (one minute = 60000 ms) and on the tests' shrunk clock
 * (TWEEDLE_SCHEDULE_MINUTE_MS = 100), following each result three more times.
 * Checked: every call returns (the search is bounded: cron never looks past
 * 2199), a next fire time lies strictly after the time asked about, a cron
 * fire on the real clock is a whole minute no later than 2199, and -1 (never)
 * stays -1; a cron with its lists' items in reverse order (a,b -> b,a) is the
 * same schedule. Input: the expression (up to the first NUL). */
#include "eventbridge/eb_internal.h"
#include "fuzz_util.h"

#define YEAR_2200_MS 7258118400000LL /* 2200-01-01T00:00:00Z */

static const int64_t TIMES[] = {
    0,             /* 1970-01-01 */
    1767225600000, /* 2026-01-01T00:00:00Z: the shrunk clock's origin */
    1796565659999, /* 2026-12-06T14:00:59.999Z */
    1709251199999, /* 2024-02-29T23:59:59.999Z */
    7258118340000, /* 2199-12-31T23:59:00Z: the last minute cron can fire */
    -1,            /* before the epoch */
};

/* cron(...) with the comma-separated items of each field in reverse order */
static char *reversed_lists(const char *expr) {
  size_t n = strlen(expr), o = 5;
  char *out = malloc(n + 1);
  memcpy(out, "cron(", 5);
  const char *in = expr + 5, *stop = expr + n - 1; /* the fields, without the ')' */
  while (in <= stop) {
    const char *f = in, *fe = f;
    while (fe < stop && *fe != ' ') fe++;
    const char *end = fe; /* items from the last one: (k, end) */
    for (;;) {
      const char *k = end;
      while (k > f && k[-1] != ',') k--;
      memcpy(out + o, k, (size_t)(end - k));
      o += (size_t)(end - k);
      if (k == f) break;
      out[o++] = ',';
      end = k - 1;
    }
    if (fe < stop) out[o++] = ' ';
    in = fe + 1;
  }
  out[o++] = ')';
  out[o] = 0;
  return out;
}

static void same_schedule(const eb_schedule *s, const char *expr) {
  char *rev = reversed_lists(expr);
  eb_schedule *r = eb_schedule_parse(rev);
  if (!r) abort(); /* the order of a list's items does not matter */
  for (size_t i = 0; i < sizeof TIMES / sizeof TIMES[0]; i++) {
    int64_t t = TIMES[i];
    for (int k = 0; k < 8 && t >= 0; k++) { /* the same next 8 fires */
      int64_t n = eb_schedule_next(s, t, 60000);
      if (n != eb_schedule_next(r, t, 60000)) abort();
      t = n;
    }
  }
  eb_schedule_free(r);
  free(rev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char *expr = malloc(size + 1);
  memcpy(expr, data, size);
  expr[size] = 0;
  eb_schedule *s = eb_schedule_parse(expr);
  if (s) {
    static const int64_t minutes[] = {60000, 100};
    for (size_t m = 0; m < 2; m++) {
      for (size_t i = 0; i < sizeof TIMES / sizeof TIMES[0]; i++) {
        int64_t t = TIMES[i];
        for (int k = 0; k < 4; k++) {
          int64_t n = eb_schedule_next(s, t, minutes[m]);
          if (n < 0) {
            if (n != -1) abort();
            break;
          }
          if (n <= t) abort(); /* strictly later */
          if (minutes[m] == 60000 && strncmp(expr, "rate(", 5) && (n % 60000 || n >= YEAR_2200_MS))
            abort();
          t = n;
        }
      }
    }
    if (!strncmp(expr, "cron(", 5) && strchr(expr, ',')) same_schedule(s, expr);
    eb_schedule_free(s);
  }
  free(expr);
  return 0;
}
