/* The SNS repository (store/sns.h) against a store opened in a temporary
 * directory: topics, subscriptions and deduplication entries read back once
 * their ticket has committed and again after the store is reopened; deleting
 * a topic takes its subscriptions and entries with it; expired entries are
 * neither loaded nor kept by a prune. The same checks are what a second
 * backend must pass. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/sns.h"
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
  int topics, subs, dedups;
  char topic_arn[4][128], topic_attrs[4][128], topic_tags[4][128];
  int topic_fifo[4];
  uint64_t topic_seqno[4];
  char sub_arn[4][160], sub_endpoint[4][128], sub_token[4][64], sub_principal[4][64];
  int sub_pending[4], sub_auth[4], sub_aou[4];
  int64_t sub_expires[4];
  char dedup_key[4][64], dedup_msg[4][40];
  uint64_t dedup_seqno[4];
} seen;

static void on_topic(void *ud, const tw_sns_topic_row *r) {
  seen *x = ud;
  if (x->topics >= 4) return;
  int i = x->topics++;
  snprintf(x->topic_arn[i], 128, "%s", r->arn);
  snprintf(x->topic_attrs[i], 128, "%s", r->attrs_json ? r->attrs_json : "");
  snprintf(x->topic_tags[i], 128, "%s", r->tags_json ? r->tags_json : "");
  x->topic_fifo[i] = r->fifo;
  x->topic_seqno[i] = r->seqno;
}

static void on_sub(void *ud, const tw_sns_sub_row *r) {
  seen *x = ud;
  if (x->subs >= 4) return;
  int i = x->subs++;
  snprintf(x->sub_arn[i], 160, "%s", r->arn);
  snprintf(x->sub_endpoint[i], 128, "%s", r->endpoint ? r->endpoint : "");
  snprintf(x->sub_token[i], 64, "%s", r->token ? r->token : "");
  snprintf(x->sub_principal[i], 64, "%s", r->principal ? r->principal : "");
  x->sub_pending[i] = r->pending;
  x->sub_auth[i] = r->authenticated;
  x->sub_aou[i] = r->auth_unsubscribe;
  x->sub_expires[i] = r->token_expires_ms;
}

static void on_dedup(void *ud, const tw_sns_dedup_row *r) {
  seen *x = ud;
  if (x->dedups >= 4) return;
  int i = x->dedups++;
  snprintf(x->dedup_key[i], 64, "%s", r->key);
  snprintf(x->dedup_msg[i], 40, "%s", r->msg_id);
  x->dedup_seqno[i] = r->seqno;
}

static seen load(tw_store *s, int64_t now) {
  seen x;
  memset(&x, 0, sizeof x);
  tw_sns_loader ld = {on_topic, on_sub, on_dedup, NULL};
  CHECK(tw_store_sns(s)->load(s, now, &ld, &x) == 0);
  return x;
}

#define T1 "arn:aws:sns:us-east-1:000000000000:alpha"
#define T2 "arn:aws:sns:us-east-1:000000000000:beta.fifo"

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/tweedle-store-sns-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  tw_store *s = open_store();
  if (!s) return 1;
  const tw_sns_repo *repo = tw_store_sns(s);

  CASE("empty");
  seen x = load(s, 0);
  CHECK_INT_EQ(x.topics + x.subs + x.dedups, 0);

  CASE("save");
  tw_sns_topic_row t1 = {.arn = T1,
                         .name = "alpha",
                         .fifo = 0,
                         .created_ms = 5,
                         .attrs_json = "{\"DisplayName\":\"A\"}",
                         .tags_json = "{\"k\":\"v\"}"};
  tw_sns_topic_row t2 = {.arn = T2,
                         .name = "beta.fifo",
                         .fifo = 1,
                         .created_ms = 6,
                         .attrs_json = "{}",
                         .tags_json = "{}",
                         .seqno = 7};
  tw_store_hold(s);
  repo->topic_save(s, &t1);
  repo->topic_save(s, &t2);
  tw_sns_sub_row s1 = {.arn = T1 ":s1",
                       .topic_arn = T1,
                       .protocol = "sqs",
                       .endpoint = "arn:aws:sqs:us-east-1:000000000000:q",
                       .owner = "000000000000",
                       .principal = "p1",
                       .attrs_json = "{\"RawMessageDelivery\":\"true\"}",
                       .authenticated = 1,
                       .created_ms = 10};
  tw_sns_sub_row s2 = {.arn = T2 ":s2",
                       .topic_arn = T2,
                       .protocol = "https",
                       .endpoint = "https://example.com",
                       .owner = "000000000000",
                       .principal = "p2",
                       .attrs_json = "{}",
                       .pending = 1,
                       .token = "tok",
                       .token_expires_ms = 99,
                       .auth_unsubscribe = 1,
                       .created_ms = 11};
  repo->sub_save(s, &s1);
  repo->sub_save(s, &s2);
  tw_sns_dedup_row d1 = {
      .topic_arn = T2, .key = "dup", .msg_id = "m1", .seqno = 7, .expires_ms = 1000};
  tw_sns_dedup_row d2 = {
      .topic_arn = T2, .key = "old", .msg_id = "m0", .seqno = 6, .expires_ms = 10};
  repo->dedup_put(s, &d1);
  uint64_t t = repo->dedup_put(s, &d2);
  tw_store_release(s);
  CHECK(wait_for(s, t));
  x = load(s, 500);
  CHECK_INT_EQ(x.topics, 2);
  CHECK_STR_EQ(x.topic_arn[0], T1);
  CHECK_STR_EQ(x.topic_attrs[0], "{\"DisplayName\":\"A\"}");
  CHECK_STR_EQ(x.topic_tags[0], "{\"k\":\"v\"}");
  CHECK_INT_EQ(x.topic_fifo[1], 1);
  CHECK_INT_EQ(x.topic_seqno[1], 7);
  CHECK_INT_EQ(x.subs, 2);
  CHECK_STR_EQ(x.sub_arn[0], T1 ":s1"); /* in subscription order */
  CHECK_INT_EQ(x.sub_auth[0], 1);
  CHECK_INT_EQ(x.sub_pending[1], 1);
  CHECK_STR_EQ(x.sub_token[1], "tok");
  CHECK_INT_EQ(x.sub_expires[1], 99);
  CHECK_INT_EQ(x.sub_aou[1], 1);
  CHECK_STR_EQ(x.sub_principal[1], "p2");
  CHECK_INT_EQ(x.dedups, 1); /* "old" expired before 500 */
  CHECK_STR_EQ(x.dedup_key[0], "dup");
  CHECK_STR_EQ(x.dedup_msg[0], "m1");

  CASE("update");
  t = repo->topic_seqno(s, T2, 42);
  s2.pending = 0;
  s2.token = NULL;
  t = repo->sub_save(s, &s2);
  CHECK(wait_for(s, t));
  x = load(s, 0);
  CHECK_INT_EQ(x.topic_seqno[1], 42);
  CHECK_INT_EQ(x.sub_pending[1], 0);
  CHECK_STR_EQ(x.sub_token[1], "");

  CASE("reopen");
  tw_store_close(s);
  s = open_store();
  if (!s) return 1;
  repo = tw_store_sns(s);
  x = load(s, 0);
  CHECK_INT_EQ(x.topics, 2);
  CHECK_INT_EQ(x.subs, 2);
  CHECK_INT_EQ(x.dedups, 2);

  CASE("prune and delete");
  t = repo->dedup_prune(s, 500);
  CHECK(wait_for(s, t));
  x = load(s, 0);
  CHECK_INT_EQ(x.dedups, 1);
  t = repo->sub_delete(s, T1 ":s1");
  CHECK(wait_for(s, t));
  x = load(s, 0);
  CHECK_INT_EQ(x.subs, 1);
  CHECK_STR_EQ(x.sub_arn[0], T2 ":s2");
  t = repo->topic_delete(s, T2);
  CHECK(wait_for(s, t));
  x = load(s, 0);
  CHECK_INT_EQ(x.topics, 1);
  CHECK_INT_EQ(x.subs, 0);
  CHECK_INT_EQ(x.dedups, 0);

  tw_store_close(s);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd)) printf("# could not remove %s\n", dir);
  return tap_done();
}
