/* A tiny test harness for the unit tests: each test file is one program with
 * its own main(); checks print TAP-style lines, and the last line of output is
 * always "SUMMARY passed=N failed=M skipped=0". Exit status is non-zero when
 * any check failed. Include once per test program. */
#ifndef TW_TESTS_TAP_H
#define TW_TESTS_TAP_H
#include <stdio.h>
#include <string.h>

static int tap_passed, tap_failed;
static const char *tap_case = "";

static void tap_result(int ok, const char *what, const char *file, int line) {
  if (ok) {
    tap_passed++;
    printf("ok %d - %s: %s\n", tap_passed + tap_failed, tap_case, what);
  } else {
    tap_failed++;
    printf("not ok %d - %s: %s (%s:%d)\n", tap_passed + tap_failed, tap_case, what, file, line);
  }
}

/* Names the checks that follow in the output. */
#define CASE(name) (tap_case = (name))

#define CHECK(cond) tap_result(!!(cond), #cond, __FILE__, __LINE__)

#define CHECK_STR_EQ(a, b)                                                       \
  do {                                                                           \
    const char *tap_a_ = (a), *tap_b_ = (b);                                     \
    int tap_ok_ = tap_a_ && tap_b_ && strcmp(tap_a_, tap_b_) == 0;               \
    tap_result(tap_ok_, #a " == " #b, __FILE__, __LINE__);                       \
    if (!tap_ok_)                                                                \
      printf("#   got:      %s\n#   expected: %s\n", tap_a_ ? tap_a_ : "(null)", \
             tap_b_ ? tap_b_ : "(null)");                                        \
  } while (0)

#define CHECK_INT_EQ(a, b)                                                                    \
  do {                                                                                        \
    long long tap_a_ = (long long)(a), tap_b_ = (long long)(b);                               \
    tap_result(tap_a_ == tap_b_, #a " == " #b, __FILE__, __LINE__);                           \
    if (tap_a_ != tap_b_) printf("#   got:      %lld\n#   expected: %lld\n", tap_a_, tap_b_); \
  } while (0)

/* The last line of output, and main()'s return value. */
static int tap_done(void) {
  printf("SUMMARY passed=%d failed=%d skipped=0\n", tap_passed, tap_failed);
  fflush(stdout);
  return tap_failed ? 1 : 0;
}

#endif
