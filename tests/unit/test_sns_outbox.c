/* The SNS outbox: the repository (store/sns_outbox.h) against a store in a
 * temporary directory (rows come back once committed, due first, and again
 * after a reopen; reschedule and remove; the highest id), and the retry
 * schedule of a healthyRetryPolicy (sns_retry_delay). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sns/sns_internal.h"
#include "store/sns_outbox.h"
#include "store/store.h"
#include "tap.h"

static char dir[256];

static tw_store *open_store(void) {
  char err[256] = "";
  tw_store *s = tw_store_open(dir, err, sizeof err);
  if (!s || tw_store_start(s, NULL, NULL)) {
    printf("# cannot open the store: %s\n", err);
    return NULL;
  }
  return s;
}

static int wait_for(tw_store *s, uint64_t t) {
  for (int i = 0; i < 10000; i++) {
    if (tw_store_committed(s) >= t) return 1;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

typedef struct {
  int n;
  uint64_t id[8];
  int attempts[8], raw[8];
  char kind[8][32], body[8][64], subject[8][64];
  size_t body_len[8];
} seen;

static void on_row(void *ud, const tw_sns_outbox_row *r) {
  seen *x = ud;
  if (x->n >= 8) return;
  int i = x->n++;
  x->id[i] = r->id;
  x->attempts[i] = r->attempts;
  x->raw[i] = r->raw;
  snprintf(x->kind[i], 32, "%s", r->kind);
  x->body_len[i] = r->body_len;
  snprintf(x->body[i], 64, "%.*s", (int)r->body_len, (const char *)r->body);
  snprintf(x->subject[i], 64, "%s", r->subject ? r->subject : "(null)");
}

static seen due(tw_store *s, int64_t now) {
  seen x = {0};
  int n = tw_store_sns_outbox(s)->due(s, now, 100, on_row, &x);
  CHECK_INT_EQ(n, x.n);
  return x;
}

static int near(double a, double b) {
  return fabs(a - b) < 1e-6;
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/tweedle-sns-outbox-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  tw_store *s = open_store();
  if (!s) return 1;
  const tw_sns_outbox_repo *repo = tw_store_sns_outbox(s);

  CASE("empty");
  uint64_t max = 99;
  CHECK_INT_EQ(repo->max_id(s, &max), 0);
  CHECK_INT_EQ(max, 0);
  CHECK_INT_EQ(repo->count(s), 0);
  CHECK_INT_EQ(due(s, 1000).n, 0);

  CASE("put and due");
  const char body[] = "{\"a\":1}\0binary";
  tw_sns_outbox_row r1 = {.id = 7,
                          .sub_arn = "arn:aws:sns:us-east-1:0:t:s1",
                          .topic_arn = "arn:aws:sns:us-east-1:0:t",
                          .protocol = "http",
                          .endpoint = "http://127.0.0.1:1/x",
                          .kind = "Notification",
                          .msg_id = "m1",
                          .body = body,
                          .body_len = sizeof body - 1,
                          .due_ms = 200,
                          .created_ms = 100};
  tw_sns_outbox_row r2 = r1;
  r2.id = 8;
  r2.protocol = "email";
  r2.endpoint = "a@b.c";
  r2.kind = "SubscriptionConfirmation";
  r2.subject = "Hi";
  r2.raw = 1;
  r2.body = "mail";
  r2.body_len = 4;
  r2.due_ms = 100;
  repo->put(s, &r1);
  uint64_t t = repo->put(s, &r2);
  CHECK(wait_for(s, t));
  seen x = due(s, 150);
  CHECK_INT_EQ(x.n, 1);
  CHECK_INT_EQ(x.id[0], 8);
  CHECK_STR_EQ(x.subject[0], "Hi");
  CHECK_INT_EQ(x.raw[0], 1);
  x = due(s, 1000);
  CHECK_INT_EQ(x.n, 2);
  CHECK_INT_EQ(x.id[0], 8); /* the earliest due first */
  CHECK_INT_EQ(x.id[1], 7);
  CHECK_INT_EQ(x.body_len[1], sizeof body - 1); /* binary-safe */
  CHECK_STR_EQ(x.subject[1], "(null)");
  CHECK_STR_EQ(x.kind[1], "Notification");
  CHECK_INT_EQ(repo->max_id(s, &max), 0);
  CHECK_INT_EQ(max, 8);
  CHECK_INT_EQ(repo->count(s), 2);

  CASE("reschedule and remove");
  t = repo->reschedule(s, 8, 2, 5000);
  CHECK(wait_for(s, t));
  x = due(s, 1000);
  CHECK_INT_EQ(x.n, 1);
  CHECK_INT_EQ(x.id[0], 7);
  x = due(s, 5000);
  CHECK_INT_EQ(x.n, 2);
  CHECK_INT_EQ(x.attempts[1], 2);
  t = repo->remove(s, 7);
  CHECK(wait_for(s, t));
  CHECK_INT_EQ(repo->count(s), 1);

  CASE("reopen");
  tw_store_close(s);
  s = open_store();
  if (!s) return 1;
  x = due(s, 5000);
  CHECK_INT_EQ(x.n, 1);
  CHECK_INT_EQ(x.id[0], 8);
  CHECK_INT_EQ(x.attempts[0], 2);
  CHECK_STR_EQ(x.body[0], "mail");
  tw_store_close(s);

  CASE("retry delays: AWS's defaults");
  for (int r = 1; r <= 3; r++) CHECK(near(sns_retry_delay(20, 20, 3, 0, 0, 0, "linear", r), 20));

  CASE("retry delays: the four phases");
  /* 10 retries: 2 at once, 2 at min, 4 backing off, 2 at max */
  CHECK(near(sns_retry_delay(1, 9, 10, 2, 2, 2, "linear", 1), 0));
  CHECK(near(sns_retry_delay(1, 9, 10, 2, 2, 2, "linear", 2), 0));
  CHECK(near(sns_retry_delay(1, 9, 10, 2, 2, 2, "linear", 3), 1));
  CHECK(near(sns_retry_delay(1, 9, 10, 2, 2, 2, "linear", 4), 1));
  CHECK(near(sns_retry_delay(1, 9, 10, 2, 2, 2, "linear", 5), 3));
  CHECK(near(sns_retry_delay(1, 9, 10, 2, 2, 2, "linear", 8), 9));
  CHECK(near(sns_retry_delay(1, 9, 10, 2, 2, 2, "linear", 9), 9));
  CHECK(near(sns_retry_delay(1, 9, 10, 2, 2, 2, "linear", 10), 9));

  CASE("retry delays: backoff functions grow from min to max");
  const char *fns[] = {"linear", "arithmetic", "geometric", "exponential"};
  for (int f = 0; f < 4; f++) {
    double prev = 0;
    int ok = 1;
    for (int r = 1; r <= 5; r++) {
      double d = sns_retry_delay(2, 64, 5, 0, 0, 0, fns[f], r);
      ok &= d >= prev && d >= 2 && d <= 64 + 1e-9;
      prev = d;
    }
    CHECK(ok);
    CHECK(near(prev, 64));
  }
  /* the curves differ: arithmetic and exponential start slower than linear */
  CHECK(sns_retry_delay(2, 64, 5, 0, 0, 0, "arithmetic", 1) <
        sns_retry_delay(2, 64, 5, 0, 0, 0, "linear", 1));
  CHECK(sns_retry_delay(2, 64, 5, 0, 0, 0, "exponential", 1) <
        sns_retry_delay(2, 64, 5, 0, 0, 0, "linear", 1));

  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd)) printf("# could not remove %s\n", dir);
  return tap_done();
}
