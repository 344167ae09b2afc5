/* Scheduled rules: ScheduleExpression parsing (rate() and cron(), AWS's
 * syntax), the next fire time, and the scheduler thread.
 *
 * rate(N minute|minutes|hour|hours|day|days): N a positive integer, the unit
 * singular exactly when N is 1; fires every N units from when the schedule was
 * set. cron(minutes hours day-of-month month day-of-week year), UTC: lists
 * (,), ranges (-), steps (/), * and, as AWS: ? (any; exactly one of
 * day-of-month and day-of-week is ?), L (day-of-month: the last day; day-of-
 * week: Saturday, or nL the last weekday n of the month), W (nW the weekday
 * nearest day n, LW the last weekday), # (n#k the k-th weekday n of the
 * month); months JAN-DEC, days SUN-SAT (1-7); years 1970-2199.
 *
 * The scheduler thread fires each ENABLED rule of the default bus whose next
 * fire time has come: AWS's "Scheduled Event" (source aws.events, detail-type
 * "Scheduled Event", resources [rule ARN], detail {}) goes to the rule's
 * targets in one store batch with the rule's new last fire time
 * (store/eb_delivery.h marks), so a restart neither fires a slot twice nor
 * skips one: slots missed while tweedle was down fire once, late.
 *
 * TWEEDLE_SCHEDULE_MINUTE_MS (tests only) shrinks one minute of schedule time
 * to that many milliseconds: rate(N minutes) fires every N x that; cron reads
 * a clock running 60000/that times faster from 2026-01-01T00:00:00Z. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "eventbridge/eb_internal.h"
#include "store/eb_delivery.h"
#include "store/pg_state.h"

#define YEAR_MIN 1970
#define YEAR_MAX 2199
#define CLOCK_T0 1767225600000LL /* 2026-01-01T00:00:00Z: the shrunk clock's origin */

enum { D_NONE, D_ANY, D_LAST, D_LASTW, D_NEARW, D_NTH, D_LASTDOW };

struct eb_schedule {
  int64_t rate_minutes; /* > 0: a rate() */
  uint64_t minutes;
  uint32_t hours;
  uint32_t dom;   /* bits 1-31 */
  uint16_t month; /* bits 1-12 */
  uint8_t dow;    /* bits 1-7, 1 = Sunday */
  uint64_t years[4];
  int dom_q, dow_q; /* the field is ? */
  int dom_special, dom_n;
  int dow_special, dow_n, dow_k;
};

void eb_schedule_free(eb_schedule *s) {
  free(s);
}

static int parse_rate(const char *in, eb_schedule *s) {
  const char *p = in;
  if (!isdigit((unsigned char)*p)) return -1;
  char *end;
  long long n = strtoll(p, &end, 10);
  if (n <= 0 || n > 1000000000LL || *end != ' ') return -1;
  const char *unit = end + 1;
  int64_t mult;
  if (!strcmp(unit, "minute") || !strcmp(unit, "minutes"))
    mult = 1;
  else if (!strcmp(unit, "hour") || !strcmp(unit, "hours"))
    mult = 60;
  else if (!strcmp(unit, "day") || !strcmp(unit, "days"))
    mult = 1440;
  else
    return -1;
  int plural = unit[strlen(unit) - 1] == 's';
  if ((n == 1) == plural) return -1;
  s->rate_minutes = n * mult;
  return 0;
}

static const char *MONTHS[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                               "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *DAYS[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

/* A number or a name (names: base 1). -1 when neither. */
static int value_of(const char **p, const char **names, int nnames) {
  if (isdigit((unsigned char)**p)) {
    int v = 0, digits = 0;
    while (isdigit((unsigned char)**p) && digits < 5) v = v * 10 + (*(*p)++ - '0'), digits++;
    return isdigit((unsigned char)**p) ? -1 : v;
  }
  for (int i = 0; names && i < nnames; i++)
    if (!strncasecmp(*p, names[i], 3)) {
      *p += 3;
      return i + 1;
    }
  return -1;
}

static void set_bit(uint64_t *bits, int i) {
  bits[i / 64] |= 1ULL << (i % 64);
}

/* A field of lists, ranges, steps and * into bits (indexes lo..hi). 0 or -1. */
static int parse_field(const char *f, int lo, int hi, const char **names, int nnames,
                       uint64_t *bits) {
  const char *p = f;
  if (!*p) return -1;
  for (;;) {
    int a, b, step = 1;
    const char *item = p;
    if (*p == '*') {
      a = lo;
      b = hi;
      p++;
    } else {
      if ((a = value_of(&p, names, nnames)) < 0) return -1;
      b = a;
      if (*p == '-') {
        p++;
        if ((b = value_of(&p, names, nnames)) < 0) return -1;
      }
    }
    if (*p == '/') {
      p++;
      const char *q = p;
      if ((step = value_of(&q, NULL, 0)) <= 0) return -1;
      p = q;
      if (a == b && *item != '*') b = hi; /* 0/5: from 0 on (in any item of a list) */
    }
    if (a < lo || b > hi || a > b) return -1;
    for (int i = a; i <= b; i += step) set_bit(bits, i - lo);
    if (!*p) return 0;
    if (*p != ',') return -1;
    p++;
  }
}

static int parse_cron(const char *in, eb_schedule *s) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", in);
  char *fields[7];
  int n = 0;
  for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
    if (n == 6) return -1;
    fields[n++] = t;
  }
  if (n != 6) return -1;
  uint64_t bits[4];
  memset(bits, 0, sizeof bits);
  if (parse_field(fields[0], 0, 59, NULL, 0, bits)) return -1;
  s->minutes = bits[0];
  memset(bits, 0, sizeof bits);
  if (parse_field(fields[1], 0, 23, NULL, 0, bits)) return -1;
  s->hours = (uint32_t)bits[0];
  memset(bits, 0, sizeof bits);
  if (parse_field(fields[3], 1, 12, MONTHS, 12, bits)) return -1;
  s->month = (uint16_t)(bits[0] << 1);
  if (parse_field(fields[5], YEAR_MIN, YEAR_MAX, NULL, 0, s->years)) return -1;
  /* day of month */
  const char *dom = fields[2], *dow = fields[4];
  s->dom_q = !strcmp(dom, "?");
  s->dow_q = !strcmp(dow, "?");
  if (s->dom_q == s->dow_q) return -1; /* exactly one of them is ? */
  if (!s->dom_q) {
    size_t l = strlen(dom);
    if (!strcmp(dom, "L"))
      s->dom_special = D_LAST;
    else if (!strcmp(dom, "LW"))
      s->dom_special = D_LASTW;
    else if (l >= 2 && dom[l - 1] == 'W') {
      const char *p = dom;
      int v = value_of(&p, NULL, 0);
      if (v < 1 || v > 31 || *p != 'W' || p[1]) return -1;
      s->dom_special = D_NEARW;
      s->dom_n = v;
    } else {
      memset(bits, 0, sizeof bits);
      if (parse_field(dom, 1, 31, NULL, 0, bits)) return -1;
      s->dom = (uint32_t)(bits[0] << 1);
    }
  }
  if (!s->dow_q) {
    const char *hash = strchr(dow, '#');
    size_t l = strlen(dow);
    if (!strcmp(dow, "L")) {
      s->dow = 1u << 7; /* Saturday */
    } else if (hash) {
      const char *p = dow;
      int d = value_of(&p, DAYS, 7);
      if (d < 1 || d > 7 || p != hash) return -1;
      p = hash + 1;
      int k = value_of(&p, NULL, 0);
      if (k < 1 || k > 5 || *p) return -1;
      s->dow_special = D_NTH;
      s->dow_n = d;
      s->dow_k = k;
    } else if (l >= 2 && dow[l - 1] == 'L') {
      const char *p = dow;
      int d = value_of(&p, DAYS, 7);
      if (d < 1 || d > 7 || *p != 'L' || p[1]) return -1;
      s->dow_special = D_LASTDOW;
      s->dow_n = d;
    } else {
      memset(bits, 0, sizeof bits);
      if (parse_field(dow, 1, 7, DAYS, 7, bits)) return -1;
      s->dow = (uint8_t)(bits[0] << 1);
    }
  }
  return 0;
}

eb_schedule *eb_schedule_parse(const char *expr) {
  if (!expr) return NULL;
  size_t n = strlen(expr);
  if (n < 7 || n > 255 || expr[n - 1] != ')') return NULL;
  eb_schedule *s = calloc(1, sizeof *s);
  char inner[256];
  int rc = -1;
  if (!strncmp(expr, "rate(", 5)) {
    snprintf(inner, sizeof inner, "%.*s", (int)(n - 6), expr + 5);
    rc = parse_rate(inner, s);
  } else if (!strncmp(expr, "cron(", 5)) {
    snprintf(inner, sizeof inner, "%.*s", (int)(n - 6), expr + 5);
    rc = parse_cron(inner, s);
  }
  if (rc) {
    free(s);
    return NULL;
  }
  return s;
}

/* --- next fire time ---------------------------------------------------------------- */

static int days_in(int year, int month) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (year % 4 == 0 && year % 100) || year % 400 == 0;
  return month == 2 && leap ? 29 : d[month - 1];
}

/* 1 = Sunday */
static int weekday(int year, int month, int day) {
  struct tm tm = {.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day, .tm_hour = 12};
  time_t t = timegm(&tm);
  struct tm out;
  gmtime_r(&t, &out);
  return out.tm_wday + 1;
}

static int day_matches(const eb_schedule *s, int y, int m, int d) {
  int md = days_in(y, m);
  if (s->dow_q) { /* day of month decides */
    switch (s->dom_special) {
      case D_LAST:
        return d == md;
      case D_LASTW: {
        int last = md, wd = weekday(y, m, md);
        if (wd == 7) last -= 1;
        if (wd == 1) last -= 2;
        return d == last;
      }
      case D_NEARW: {
        int t = s->dom_n > md ? md : s->dom_n, wd = weekday(y, m, t);
        if (wd == 7)
          t = t == 1 ? 3 : t - 1; /* Saturday: Friday, or Monday the 3rd */
        else if (wd == 1)
          t = t == md ? t - 2 : t + 1; /* Sunday: Monday, or Friday */
        return d == t;
      }
      default:
        return (s->dom >> d) & 1;
    }
  }
  int wd = weekday(y, m, d);
  switch (s->dow_special) {
    case D_NTH:
      return wd == s->dow_n && (d - 1) / 7 + 1 == s->dow_k;
    case D_LASTDOW:
      return wd == s->dow_n && d + 7 > md;
    default:
      return (s->dow >> wd) & 1;
  }
}

/* The first cron minute strictly after t (ms of the schedule clock), -1 if none. */
static int64_t cron_next(const eb_schedule *s, int64_t t) {
  int64_t start = (t / 60000 + 1) * 60000; /* the next whole minute */
  time_t secs = (time_t)(start / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  int y = tm.tm_year + 1900, m = tm.tm_mon + 1, d = tm.tm_mday;
  int h0 = tm.tm_hour, mi0 = tm.tm_min, first = 1;
  for (; y <= YEAR_MAX; y++, m = 1, d = 1, first = 0) {
    if (y < YEAR_MIN || !((s->years[(y - YEAR_MIN) / 64] >> ((y - YEAR_MIN) % 64)) & 1)) continue;
    for (; m <= 12; m++, d = 1, first = 0) {
      if (!((s->month >> m) & 1)) continue;
      for (; d <= days_in(y, m); d++, first = 0) {
        if (!day_matches(s, y, m, d)) continue;
        for (int h = first ? h0 : 0; h < 24; h++) {
          if (!((s->hours >> h) & 1)) continue;
          for (int mi = first && h == h0 ? mi0 : 0; mi < 60; mi++) {
            if (!((s->minutes >> mi) & 1)) continue;
            struct tm o = {
                .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
            return (int64_t)timegm(&o) * 1000;
          }
        }
      }
    }
  }
  return -1;
}

int64_t eb_schedule_next(const eb_schedule *s, int64_t after_ms, int64_t minute_ms) {
  if (s->rate_minutes) return after_ms + s->rate_minutes * minute_ms;
  if (minute_ms == 60000) return cron_next(s, after_ms);
  /* the shrunk clock: 60000/minute_ms times faster from CLOCK_T0 */
  int64_t sched = CLOCK_T0 + (after_ms - CLOCK_T0) * 60000 / minute_ms;
  int64_t next = cron_next(s, sched);
  if (next < 0) return -1;
  int64_t wall = CLOCK_T0 + (next - CLOCK_T0) * minute_ms / 60000;
  return wall > after_ms ? wall : after_ms + 1;
}

/* --- the scheduler --------------------------------------------------------------------- */

/* Fires r if its time has come (events lock held). */
static void tick_rule(tw_eventbridge *eb, eb_rule *r, int64_t now) {
  int64_t next = eb_schedule_next(r->sched, r->sched_last_ms, eb->minute_ms);
  if (next < 0 || next > now) return;
  /* the latest slot that has come: missed slots fire once */
  int64_t slot = next;
  if (r->sched->rate_minutes) {
    int64_t period = r->sched->rate_minutes * eb->minute_ms;
    slot = next + (now - next) / period * period;
  } else {
    int i;
    for (i = 0; i < 100000; i++) {
      int64_t n2 = eb_schedule_next(r->sched, slot, eb->minute_ms);
      if (n2 < 0 || n2 > now) break;
      slot = n2;
    }
    if (i == 100000) slot = now; /* a very long pause: count from now */
  }
  if (strncmp(r->state, "ENABLED", 7) || !r->ntargets) {
    /* nothing to fire: the slot passes (durably, so that enabling the rule
     * later, or a restart, does not fire it late) */
    r->sched_last_ms = slot;
    tw_store_hold(eb->store);
    tw_store_eb_delivery(eb->store)->mark_put(eb->store, r->bus, r->name, slot);
    tw_store_release(eb->store);
    return;
  }
  char rule_arn[600], id[37];
  eb_rule_arn(eb, r->bus, r->name, rule_arn, sizeof rule_arn);
  tw_uuid4(id);
  json_t *res = json_pack("[s]", rule_arn);
  json_t *event = eb_envelope(eb, id, "Scheduled Event", "aws.events", slot, res, json_object());
  tw_store_hold(eb->store);
  eb_deliver_rule(eb, r, event, eb->account, now);
  tw_store_eb_delivery(eb->store)->mark_put(eb->store, r->bus, r->name, slot);
  tw_store_release(eb->store);
  json_decref(event);
  r->sched_last_ms = slot;
  tw_debug("eventbridge: scheduled rule %s fired (slot %lld)", r->name, (long long)slot);
}

/* Cluster mode: the schedules fire on one node, the one holding the
 * "eventbridge-schedule" lock (store/pg_state.h). A node that takes the lead
 * reads the model again, the last fire times with it (committed in the batch
 * of each fire), so a takeover neither skips a tick nor fires one twice; the
 * leader then checks the state counter before each pass. 1: fire now. */
static int may_fire(tw_eventbridge *eb) {
  int lead = tw_store_pg_lead(eb->sched_lead);
  if (lead != 1) {
    eb->sched_leading = 0;
    return 0;
  }
  if (!eb->sched_leading) {
    eb_mark_behind(eb);
    if (eb_sync(eb)) return 0; /* a takeover fires only from the committed marks */
    eb->sched_leading = 1;
    tw_info("eventbridge: this node fires the cluster's scheduled rules");
    return 1;
  }
  return eb_sync(eb) == 0;
}

static void *scheduler(void *arg) {
  tw_eventbridge *eb = arg;
  int64_t tick = eb->minute_ms / 10;
  if (tick > 1000) tick = 1000;
  if (tick < 20) tick = 20;
  pthread_mutex_lock(&eb->sched_mu);
  while (!eb->sched_stop) {
    pthread_mutex_unlock(&eb->sched_mu);
    if (eb->cluster && !may_fire(eb)) {
      pthread_mutex_lock(&eb->sched_mu);
      if (eb->sched_stop) break;
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += 1;
      pthread_cond_timedwait(&eb->sched_cv, &eb->sched_mu, &ts);
      continue;
    }
    tw_events_lock(eb->events); /* every target engine, this one included */
    eb_bus *b = eb_bus_get(eb, "default");
    int64_t now = tw_now_ms();
    const char *k;
    void *v;
    if (b)
      for (tw_map_entry *it = tw_map_next(&b->rules, NULL, &k, &v); it;
           it = tw_map_next(&b->rules, it, &k, &v)) {
        eb_rule *r = v;
        if (r->sched) tick_rule(eb, r, now);
      }
    tw_events_unlock(eb->events);
    pthread_mutex_lock(&eb->sched_mu);
    if (eb->sched_stop) break;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += tick / 1000;
    ts.tv_nsec += (long)(tick % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&eb->sched_cv, &eb->sched_mu, &ts);
  }
  pthread_mutex_unlock(&eb->sched_mu);
  return NULL;
}

int eb_schedule_start(tw_eventbridge *eb) {
  if (eb->sched_started) return 0;
  eb->sched_stop = 0;
  if (pthread_create(&eb->sched_thread, NULL, scheduler, eb)) return -1;
  eb->sched_started = 1;
  return 0;
}

void eb_schedule_stop(tw_eventbridge *eb) {
  if (!eb->sched_started) return;
  pthread_mutex_lock(&eb->sched_mu);
  eb->sched_stop = 1;
  pthread_cond_broadcast(&eb->sched_cv);
  pthread_mutex_unlock(&eb->sched_mu);
  pthread_join(eb->sched_thread, NULL);
  eb->sched_started = 0;
}
