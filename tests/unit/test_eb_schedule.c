/* EventBridge ScheduleExpression parsing and next fire times
 * (src/eventbridge/eb_schedule.c): rate() with AWS's singular/plural rule,
 * cron() with ?, L, W, #, lists, ranges and steps (UTC), and the shrunk
 * minute of TWEEDLE_SCHEDULE_MINUTE_MS for rate(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eventbridge/eb_internal.h"
#include "tap.h"

static int64_t at(int y, int mo, int d, int h, int mi) {
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
  return (int64_t)timegm(&tm) * 1000;
}

static int valid(const char *e) {
  eb_schedule *s = eb_schedule_parse(e);
  eb_schedule_free(s);
  return s != NULL;
}

static int64_t next(const char *e, int64_t after) {
  eb_schedule *s = eb_schedule_parse(e);
  if (!s) return -2;
  int64_t n = eb_schedule_next(s, after, 60000);
  eb_schedule_free(s);
  return n;
}

int main(void) {
  CASE("rate");
  CHECK(valid("rate(1 minute)"));
  CHECK(valid("rate(2 hours)"));
  CHECK(valid("rate(1 day)"));
  CHECK(!valid("rate(1 minutes)"));
  CHECK(!valid("rate(2 hour)"));
  CHECK(!valid("rate(0 minutes)"));
  CHECK(!valid("rate( 5 minutes)"));
  CHECK(!valid("rate(5 minutes) "));
  int64_t t0 = at(2026, 3, 1, 10, 0);
  CHECK_INT_EQ(next("rate(5 minutes)", t0), t0 + 5 * 60000);
  eb_schedule *s = eb_schedule_parse("rate(3 minutes)");
  CHECK_INT_EQ(eb_schedule_next(s, t0, 100), t0 + 300);
  eb_schedule_free(s);

  CASE("cron validation");
  CHECK(valid("cron(0 10 * * ? *)"));
  CHECK(valid("cron(0/15 8-17 ? * MON-FRI *)"));
  CHECK(!valid("cron(0 10 * * * *)"));
  CHECK(!valid("cron(0 10 ? * ? *)"));
  CHECK(!valid("cron(0 10 * * ?)"));
  CHECK(!valid("cron(0 10 * * ? 2200)"));
  CHECK(!valid("cron(0 10 ? * 3#6 *)"));

  CASE("cron next");
  /* 2026-03-01 is a Sunday */
  CHECK_INT_EQ(next("cron(0 10 * * ? *)", at(2026, 3, 1, 9, 59)), at(2026, 3, 1, 10, 0));
  CHECK_INT_EQ(next("cron(0 10 * * ? *)", at(2026, 3, 1, 10, 0)), at(2026, 3, 2, 10, 0));
  CHECK_INT_EQ(next("cron(0/15 * * * ? *)", at(2026, 3, 1, 10, 1)), at(2026, 3, 1, 10, 15));
  /* n/step after a "*" item still runs from n on (the item, not the field, starts with '*') */
  CHECK_INT_EQ(next("cron(*/20,10/3 0 * * ? *)", at(2026, 3, 1, 0, 10)), at(2026, 3, 1, 0, 13));
  CHECK_INT_EQ(next("cron(10/3,*/20 0 * * ? *)", at(2026, 3, 1, 0, 10)), at(2026, 3, 1, 0, 13));
  CHECK_INT_EQ(next("cron(0 18 ? * MON-FRI *)", at(2026, 3, 1, 0, 0)), at(2026, 3, 2, 18, 0));
  CHECK_INT_EQ(next("cron(0 12 L * ? *)", at(2026, 2, 1, 0, 0)), at(2026, 2, 28, 12, 0));
  /* 2026-05-31 is a Sunday: LW is Friday the 29th */
  CHECK_INT_EQ(next("cron(0 12 LW * ? *)", at(2026, 5, 1, 0, 0)), at(2026, 5, 29, 12, 0));
  /* 2026-03-15 is a Sunday: 15W is Monday the 16th */
  CHECK_INT_EQ(next("cron(0 12 15W * ? *)", at(2026, 3, 1, 0, 0)), at(2026, 3, 16, 12, 0));
  /* the first Monday of April 2026 is the 6th */
  CHECK_INT_EQ(next("cron(0 9 ? * 2#1 *)", at(2026, 4, 1, 0, 0)), at(2026, 4, 6, 9, 0));
  /* the last Friday of March 2026 is the 27th */
  CHECK_INT_EQ(next("cron(0 9 ? * 6L *)", at(2026, 3, 1, 0, 0)), at(2026, 3, 27, 9, 0));
  CHECK_INT_EQ(next("cron(5,35 14 * JAN,MAR ? 2027-2030)", at(2026, 6, 1, 0, 0)),
               at(2027, 1, 1, 14, 5));
  CHECK_INT_EQ(next("cron(0 0 1 1 ? 2020)", at(2026, 1, 1, 0, 0)), -1);
  CHECK_INT_EQ(next("cron(0 0 29 2 ? *)", at(2026, 1, 1, 0, 0)), at(2028, 2, 29, 0, 0));
  return tap_done();
}
