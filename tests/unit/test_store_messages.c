/* The SQLite writer's message rows: runs of inserts go out as multi-row
 * statements (store.c, GROUP_MAX), and must leave exactly what one statement
 * per operation would have. Runs longer than a group, an insert that replaces
 * a row inside a run, updates (of the same message several times in a row:
 * the last one wins) and deletes between them; then the database is reopened
 * and every row checked as the engine would load it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "tap.h"

#define N 53 /* more than three groups of 16 */

typedef struct {
  int seen[N + 1];
  int64_t visible[N + 1], first[N + 1];
  int count[N + 1];
  uint32_t nonce[N + 1];
  int64_t queue[N + 1];
} loaded;

static void on_message(void *ud, const tw_msg_row *r) {
  loaded *l = ud;
  if (r->seq < 1 || r->seq > N) return;
  l->seen[r->seq]++;
  l->visible[r->seq] = r->visible_at_ms;
  l->first[r->seq] = r->first_receive_ms;
  l->count[r->seq] = r->receive_count;
  l->nonce[r->seq] = r->nonce;
  l->queue[r->seq] = r->queue_id;
}

static char got_body[64];
static void on_read(void *ud, const tw_msg_row *r) {
  (void)ud;
  snprintf(got_body, sizeof got_body, "%.*s", (int)r->body_len, (const char *)r->body);
}

static void wait_for(tw_store *s, uint64_t t) {
  for (int i = 0; i < 5000 && tw_store_committed(s) < t; i++) usleep(1000);
}

static uint64_t insert(tw_store *s, uint64_t seq, const char *body) {
  tw_msg_row r;
  memset(&r, 0, sizeof r);
  r.seq = seq;
  r.queue_id = 7;
  r.msg_id = "11111111-2222-3333-4444-555555555555";
  r.body = body;
  r.body_len = strlen(body);
  r.sys_json = "{}";
  r.sent_ms = 1000 + (int64_t)seq;
  r.visible_at_ms = 0;
  return tw_store_msg_insert(s, &r);
}

int main(void) {
  char dir[] = "/tmp/tweedle-test-store-msgs-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  char err[256];
  tw_store *s = tw_store_open(dir, err, sizeof err);
  CASE("open");
  CHECK(s != NULL);
  if (!s) return tap_done();
  CHECK_INT_EQ(tw_store_start(s, NULL, NULL), 0);

  CASE("runs of inserts, updates and deletes in one batch");
  tw_store_hold(s);
  char body[32];
  for (uint64_t q = 1; q <= N; q++) {
    snprintf(body, sizeof body, "body-%llu", (unsigned long long)q);
    insert(s, q, body);
  }
  insert(s, 3, "body-3-replaced"); /* inside the next run of inserts: replaces the row */
  for (uint64_t q = 1; q <= 40; q++) tw_store_msg_update(s, q, 5000 + (int64_t)q, 1, 4000, 10);
  tw_store_msg_update(s, 5, 7777, 2, 4000, 11); /* the same message again, same run */
  tw_store_msg_update(s, 5, 8888, 3, 4000, 12); /* and again: this one wins */
  for (uint64_t q = 45; q <= 50; q++) tw_store_msg_delete(s, q);
  tw_store_msg_update(s, 41, 9999, 1, 4100, 13); /* a run of one */
  uint64_t t = tw_store_msg_update(s, 42, 9998, 1, 4100, 14);
  tw_store_release(s);
  wait_for(s, t);
  CHECK(tw_store_committed(s) >= t);
  CHECK_INT_EQ(tw_store_failures(s), 0);

  CASE("a second batch: updates of rows from the first, then inserts");
  tw_store_hold(s);
  for (uint64_t q = 20; q <= 39; q++) tw_store_msg_update(s, q, 6000 + (int64_t)q, 2, 4000, 20);
  insert(s, 45, "body-45-again");
  t = insert(s, 46, "body-46-again");
  tw_store_release(s);
  wait_for(s, t);
  CHECK_INT_EQ(tw_store_failures(s), 0);
  tw_store_close(s);

  CASE("reopened: every row as one statement per operation would leave it");
  s = tw_store_open(dir, err, sizeof err);
  CHECK(s != NULL);
  if (!s) return tap_done();
  loaded l;
  memset(&l, 0, sizeof l);
  tw_store_loader ld = {.message = on_message};
  CHECK_INT_EQ(tw_store_load(s, &ld, &l), 0);
  int bad_seen = 0, bad_visible = 0, bad_count = 0;
  for (int q = 1; q <= N; q++) {
    int gone = q >= 47 && q <= 50;
    if (l.seen[q] != (gone ? 0 : 1)) bad_seen++;
    if (gone) continue;
    int64_t want_visible = q == 5               ? 8888
                           : q >= 20 && q <= 39 ? 6000 + q
                           : q <= 40            ? 5000 + q
                           : q == 41            ? 9999
                           : q == 42            ? 9998
                                                : 0;
    int want_count = q == 5 ? 3 : q >= 20 && q <= 39 ? 2 : q <= 42 ? 1 : 0;
    if (l.visible[q] != want_visible) bad_visible++;
    if (l.count[q] != want_count || l.queue[q] != 7) bad_count++;
  }
  CHECK_INT_EQ(bad_seen, 0);
  CHECK_INT_EQ(bad_visible, 0);
  CHECK_INT_EQ(bad_count, 0);
  CHECK_INT_EQ(l.nonce[5], 12);
  CHECK_INT_EQ(l.nonce[41], 13);
  CHECK_INT_EQ(l.first[41], 4100);
  CHECK_INT_EQ(tw_store_start(s, NULL, NULL), 0);
  uint64_t seqs[] = {3};
  CHECK_INT_EQ(tw_store_msg_read(s, seqs, 1, on_read, NULL), 1);
  CHECK_STR_EQ(got_body, "body-3-replaced");
  uint64_t seqs45[] = {45};
  CHECK_INT_EQ(tw_store_msg_read(s, seqs45, 1, on_read, NULL), 1);
  CHECK_STR_EQ(got_body, "body-45-again");
  tw_store_close(s);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd)) {
  }
  return tap_done();
}
