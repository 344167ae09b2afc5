/* The store's writer on another database (store/backend.h), against a
 * recording backend: one transaction per batch with the statements in the
 * order they were appended, operations appended under hold in one batch,
 * tickets in their own space (top bit set) and reported to the commit
 * callback, a failed statement rolls the batch back (and counts as a
 * failure), the queue engine's own operations are refused, and close waits
 * for what is pending. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/backend.h"
#include "store/store.h"
#include "tap.h"

typedef struct {
  pthread_mutex_t mu;
  char log[8192]; /* "B", "X:<first value>", "C", "R", "Z" in order */
  int fail_on;    /* exec of a statement whose first value is this int fails */
  int begins, commits, rollbacks, closed;
} rec;

static void rec_add(rec *r, const char *what) {
  pthread_mutex_lock(&r->mu);
  size_t n = strlen(r->log);
  snprintf(r->log + n, sizeof r->log - n, "%s%s", n ? " " : "", what);
  pthread_mutex_unlock(&r->mu);
}

static int be_begin(void *ud) {
  rec *r = ud;
  r->begins++;
  rec_add(r, "B");
  return 0;
}

static int be_exec(void *ud, const char *sql, const tw_sql_val *vals, int n) {
  rec *r = ud;
  char buf[64];
  if (n < 1 || vals[0].type != TW_SQL_INT) return -1;
  snprintf(buf, sizeof buf, "X:%lld%s", (long long)vals[0].i, strstr(sql, "blob") ? "b" : "");
  if (n > 1 && vals[1].type == TW_SQL_BLOB && vals[1].n == 3 && !memcmp(vals[1].s, "a\0b", 3))
    strcat(buf, "+");
  rec_add(r, buf);
  return vals[0].i == r->fail_on ? -1 : 0;
}

static int be_commit(void *ud) {
  rec *r = ud;
  r->commits++;
  rec_add(r, "C");
  return 0;
}

static void be_rollback(void *ud) {
  rec *r = ud;
  r->rollbacks++;
  rec_add(r, "R");
}

static void be_close(void *ud) {
  rec *r = ud;
  r->closed = 1;
}

static const tw_store_backend backend = {be_begin, be_exec, be_commit, be_rollback, be_close};

static uint64_t last_cb;
static int cb_failed;

static void on_commit(void *ud, uint64_t committed, int ok) {
  (void)ud;
  __atomic_store_n(&last_cb, committed, __ATOMIC_SEQ_CST);
  if (!ok) __atomic_add_fetch(&cb_failed, 1, __ATOMIC_SEQ_CST);
}

static int wait_for(tw_store *s, uint64_t t) {
  for (int i = 0; i < 10000; i++) {
    if (tw_store_committed(s) >= t) return 0;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return -1;
}

static uint64_t stmt(tw_store *s, int v) {
  tw_sql_val vals[] = {TW_SQL_I(v), TW_SQL_B("a\0b", 3)};
  return tw_store_exec(s, "UPDATE t SET blob = $2 WHERE id = $1", vals, 2);
}

int main(void) {
  static const tw_s3_buckets_repo fake_buckets;
  static const tw_store_repos repos = {.s3_buckets = &fake_buckets};
  rec r = {.fail_on = -1};
  pthread_mutex_init(&r.mu, NULL);
  tw_store *s = tw_store_open_backend(&backend, &r, &repos);
  CASE("open");
  CHECK(s != NULL);
  if (!s) return tap_done();
  CHECK(tw_store_repos_of(s) == &repos);
  CHECK(tw_store_s3_buckets(s) == &fake_buckets); /* the backend's repositories */
  CHECK(tw_store_backend_data(s) == &r);
  CHECK_INT_EQ(tw_store_committed(s), TW_STORE_BACKEND_TICKETS);

  CASE("hold: one batch, in order");
  tw_store_hold(s); /* appended before the writer starts: one batch anyway */
  uint64_t t1 = stmt(s, 1), t2 = stmt(s, 2), t3 = stmt(s, 3);
  tw_store_release(s);
  CHECK(t1 == t2 && t2 == t3);
  CHECK(t1 > TW_STORE_BACKEND_TICKETS); /* the backend's own ticket space */
  CHECK_INT_EQ(tw_store_start(s, on_commit, NULL), 0);
  CHECK_INT_EQ(wait_for(s, t3), 0);
  CHECK_STR_EQ(r.log, "B X:1b+ X:2b+ X:3b+ C");
  CHECK_INT_EQ(__atomic_load_n(&last_cb, __ATOMIC_SEQ_CST), t3);
  CHECK_INT_EQ(tw_store_ticket(s), t3); /* nothing pending: the last committed */

  CASE("a failed statement rolls the batch back");
  r.log[0] = 0;
  r.fail_on = 5;
  uint64_t failures = tw_store_failures(s);
  tw_store_hold(s);
  stmt(s, 4);
  struct timespec pause = {0, 20000000}; /* the writer is awake: hold keeps the batch open */
  nanosleep(&pause, NULL);
  stmt(s, 5);
  uint64_t t6 = stmt(s, 6);
  tw_store_release(s);
  CHECK(t6 > t3);
  CHECK_INT_EQ(wait_for(s, t6), 0);
  CHECK_STR_EQ(r.log, "B X:4b+ X:5b+ R");
  CHECK_INT_EQ(tw_store_failures(s), failures + 1);
  CHECK_INT_EQ(__atomic_load_n(&cb_failed, __ATOMIC_SEQ_CST), 1);

  CASE("the queue engine's operations are refused");
  r.log[0] = 0;
  uint64_t tq = tw_store_kv_put(s, "k", "v");
  CHECK_INT_EQ(wait_for(s, tq), 0);
  CHECK_STR_EQ(r.log, "B R");
  CHECK_INT_EQ(tw_store_failures(s), failures + 2);

  CASE("close commits what is pending");
  r.log[0] = 0;
  r.fail_on = -1;
  stmt(s, 7);
  tw_store_close(s);
  CHECK(strstr(r.log, "X:7b+ C") != NULL);
  CHECK_INT_EQ(r.closed, 1);
  CHECK_INT_EQ(r.begins, r.commits + r.rollbacks);
  return tap_done();
}
