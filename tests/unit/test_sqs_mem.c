/* The queue engine's per-message memory (src/sqs/msg_mem.c): the packed
 * message struct, the seq table, MessageId packing, and the data cache —
 * a message's body stays readable before its insert commits (pinned), comes
 * back from the store once evicted, follows a move before the move commits,
 * and is not loaded at start. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "sqs/sqs_internal.h"
#include "store/store.h"
#include "tap.h"

static char dir[128];

static int wait_for(tw_store *st, uint64_t t) {
  for (int i = 0; i < 10000; i++) {
    if (tw_store_committed(st) >= t) return 1;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

static tw_msg *only_msg(tw_queue *q) {
  return q->ready_head ? q->ready_head : q->heap_len ? q->heap[0] : NULL;
}

static void test_layout_and_table(void) {
  CASE("layout");
  CHECK_INT_EQ(sizeof(tw_msg), 92);
  CASE("table");
  tw_msg_slab sl = {0};
  tw_msg_table t;
  tw_msg_table_init(&t);
  enum { N = 100000 };
  tw_msg **all = malloc(N * sizeof *all);
  for (int i = 0; i < N; i++) {
    all[i] = tw_msg_slab_get(&sl);
    all[i]->seq = (uint64_t)i * 7 + 1;
    tw_msg_table_put(&t, all[i]);
  }
  int found = 0;
  for (int i = 0; i < N; i++) found += tw_msg_table_get(&t, (uint64_t)i * 7 + 1) == all[i];
  CHECK_INT_EQ(found, N);
  CHECK(tw_msg_table_get(&t, 3) == NULL);
  for (int i = 0; i < N; i += 2) tw_msg_table_del(&t, all[i]);
  int left = 0, gone = 0;
  for (int i = 0; i < N; i++) {
    tw_msg *m = tw_msg_table_get(&t, (uint64_t)i * 7 + 1);
    if (i % 2)
      left += m == all[i];
    else
      gone += m == NULL;
  }
  CHECK_INT_EQ(left, N / 2);
  CHECK_INT_EQ(gone, N / 2);
  CHECK_INT_EQ(t.count, N / 2);
  CHECK(t.nb * 4 >= t.count && t.nb <= N / 2); /* 2..4 bytes of buckets a message */
  for (int i = 0; i < N; i += 2) tw_msg_slab_put(&sl, all[i]);
  tw_msg *again = tw_msg_slab_get(&sl); /* freed slots are reused */
  CHECK(again == all[N - 2]);
  tw_msg_table_free(&t);
  tw_msg_slab_free(&sl);
  free(all);

  CASE("message id");
  tw_msg m = {0};
  char id[37], back[37];
  for (int i = 0; i < 100; i++) {
    tw_uuid4(id);
    tw_msg_id_set(&m, id);
    tw_msg_id_str(&m, back);
    if (strcmp(id, back)) break;
    if (i == 99) CHECK_STR_EQ(back, id);
  }
  CASE("relative times");
  m.sent_ms = 1700000000000;
  CHECK_INT_EQ(tw_msg_rel(&m, 0), 0);
  m.first_rel = tw_msg_rel(&m, 1700000000000 + 123456);
  CHECK_INT_EQ(tw_msg_first_receive(&m), 1700000000000 + 123456);
  m.first_rel = tw_msg_rel(&m, 1700000000000);
  CHECK_INT_EQ(tw_msg_first_receive(&m), 1700000000000);
}

static void test_cache(void) {
  char err[256] = "";
  setenv("TWEEDLE_SQS_CACHE_BYTES", "0", 1); /* nothing stays but what must */
  tw_store *st = tw_store_open(dir, err, sizeof err);
  CASE("cache");
  CHECK(st != NULL);
  if (!st) return;
  tw_sqs *s = tw_sqs_open(st, "us-east-1", "000000000000", err, sizeof err);
  CHECK(s != NULL);
  CHECK(tw_store_start(st, NULL, NULL) == 0);
  if (!s) return;
  tw_sqs_lock(s);
  json_t *src_attrs = json_object(), *dlq_attrs = json_object(); /* create takes a reference */
  tw_queue *src = tw_sqs_queue_create(s, "src", 0, src_attrs, NULL);
  tw_queue *dlq = tw_sqs_queue_create(s, "dlq", 0, dlq_attrs, NULL);
  json_decref(src_attrs);
  json_decref(dlq_attrs);
  tw_sqs_queue_save(s, src);
  tw_sqs_queue_save(s, dlq);
  json_t *attrs = json_pack("{s:{s:s,s:s}}", "k", "DataType", "String", "StringValue", "v");

  /* held: the writer cannot commit the insert while we look */
  tw_store_hold(st);
  CHECK_INT_EQ(tw_sqs_enqueue_attrs_locked(s, src->arn, "hello body", 10, attrs, "me"), 0);
  tw_msg *m = only_msg(src);
  CHECK(m != NULL);
  if (!m) {
    tw_store_release(st);
    tw_sqs_unlock(s);
    return;
  }
  tw_msg_data *d = NULL;
  CHECK_INT_EQ(tw_sqs_fetch(s, &m, 1, &d), 1); /* pinned: not on disk yet */
  CHECK(d && d->body_len == 10 && memcmp(d->body, "hello body", 10) == 0);
  char md5[33];
  tw_md5_hex("hello body", 10, md5);
  CHECK(d && strcmp(d->md5_body, md5) == 0);
  char attrs_md5[33];
  snprintf(attrs_md5, sizeof attrs_md5, "%s", d ? d->md5_attrs : "");
  CHECK(attrs_md5[0] != 0);
  tw_sqs_fetch_done(s, &d, 1);
  CHECK(s->cache.bytes > 0); /* still pinned, whatever the budget */
  uint64_t t = tw_store_ticket(st);
  tw_store_release(st);
  CHECK(wait_for(st, t));

  d = NULL;
  tw_sqs_fetch(s, &m, 1, &d); /* unpinned now: still the same data */
  tw_sqs_fetch_done(s, &d, 1);
  CHECK_INT_EQ(s->cache.bytes, 0); /* evicted: the budget is 0 */
  uint64_t misses = s->cache.misses;
  CHECK_INT_EQ(tw_sqs_fetch(s, &m, 1, &d), 1); /* read from the store */
  CHECK_INT_EQ(s->cache.misses, misses + 1);
  CHECK(d && d->body_len == 10 && memcmp(d->body, "hello body", 10) == 0);
  CHECK(d && strcmp(d->md5_body, md5) == 0);
  CHECK(d && strcmp(d->md5_attrs, attrs_md5) == 0);
  CHECK(d && d->sender_id && strcmp(d->sender_id, "me") == 0);
  CHECK(d && d->source_arn == NULL);
  char id[37];
  tw_msg_id_str(m, id);
  CHECK(d && strcmp(d->id, id) == 0);
  tw_sqs_fetch_done(s, &d, 1);

  CASE("move");
  tw_store_hold(st);
  tw_sqs_msg_move(s, m, dlq, src->arn);
  CHECK(only_msg(dlq) == m && only_msg(src) == NULL);
  d = NULL;
  tw_sqs_fetch(s, &m, 1, &d); /* the committed row still names src: the cache says dlq */
  CHECK(d && d->source_arn && strcmp(d->source_arn, src->arn) == 0);
  CHECK(d && d->body_len == 10);
  tw_sqs_fetch_done(s, &d, 1);
  t = tw_store_ticket(st);
  tw_store_release(st);
  CHECK(wait_for(st, t));
  d = NULL;
  tw_sqs_fetch(s, &m, 1, &d);
  tw_sqs_fetch_done(s, &d, 1);
  CHECK_INT_EQ(s->cache.bytes, 0);
  tw_sqs_fetch(s, &m, 1, &d); /* from the store: the move is there */
  CHECK(d && d->source_arn && strcmp(d->source_arn, src->arn) == 0);
  tw_sqs_fetch_done(s, &d, 1);

  /* a batch of 25, read 10 at a time */
  for (int i = 0; i < 25; i++) {
    char b[32];
    int n = snprintf(b, sizeof b, "body %d", i);
    tw_sqs_enqueue_locked(s, src->arn, b, (size_t)n, NULL);
  }
  t = tw_store_ticket(st);
  tw_sqs_unlock(s);
  CHECK(wait_for(st, t));
  tw_sqs_lock(s);
  tw_msg *all[25];
  int n = 0;
  for (tw_msg *x = src->ready_head; x && n < 25; x = x->next) all[n++] = x;
  CASE("batch read");
  tw_msg_data *ds[25];
  tw_sqs_fetch(s, all, n, ds);
  tw_sqs_fetch_done(s, ds, n); /* evicts them all */
  CHECK_INT_EQ(s->cache.bytes, 0);
  CHECK_INT_EQ(tw_sqs_fetch(s, all, n, ds), 25);
  int same = 0;
  for (int i = 0; i < n; i++) {
    char b[32];
    snprintf(b, sizeof b, "body %d", i);
    same += ds[i] && ds[i]->seq == all[i]->seq && strcmp(ds[i]->body, b) == 0;
  }
  CHECK_INT_EQ(same, 25);
  tw_sqs_fetch_done(s, ds, n);
  uint64_t mseq = m->seq;
  tw_sqs_unlock(s);
  json_decref(attrs);
  tw_sqs_close(s);
  tw_store_close(st);

  CASE("restart");
  st = tw_store_open(dir, err, sizeof err);
  s = st ? tw_sqs_open(st, "us-east-1", "000000000000", err, sizeof err) : NULL;
  CHECK(s != NULL);
  if (!s) return;
  tw_store_start(st, NULL, NULL);
  tw_sqs_lock(s);
  CHECK_INT_EQ(s->msgs.count, 26);
  CHECK_INT_EQ(s->cache.bytes, 0); /* no body was loaded */
  m = tw_msg_table_get(&s->msgs, mseq);
  CHECK(m && tw_msg_queue(m) == tw_sqs_queue_by_name(s, "dlq"));
  d = NULL;
  if (m) tw_sqs_fetch(s, &m, 1, &d);
  CHECK(d && d->body_len == 10 && strcmp(d->md5_body, md5) == 0 &&
        strcmp(d->md5_attrs, attrs_md5) == 0);
  if (m) tw_msg_id_str(m, id);
  CHECK(d && strcmp(d->id, id) == 0);
  tw_sqs_fetch_done(s, &d, 1);
  tw_sqs_unlock(s);
  tw_sqs_close(s);
  tw_store_close(st);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/tweedle-unit-sqsmem-%d", (int)getpid());
  char cmd[320];
  snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
  if (system(cmd)) return 1;
  test_layout_and_table();
  test_cache();
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd)) return 1;
  return tap_done();
}
