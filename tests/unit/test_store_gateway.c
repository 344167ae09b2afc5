/* The gateway's repositories (store/gw_apikeys.h, gw_access_log.h, gw_jobs.h)
 * and the two S3 reads a job's result check relies on (tw_s3_object_size:
 * objects->size, buckets->exists), checked against a
 * store opened in a temporary directory: what is written reads back once its
 * ticket has committed, and again after the store is reopened. The same
 * checks are what a second backend must pass. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/gw_access_log.h"
#include "store/gw_apikeys.h"
#include "store/gw_jobs.h"
#include "store/s3_buckets.h"
#include "store/s3_objects.h"
#include "store/store.h"
#include "tap.h"

static char dir[256];

static tw_store *open_store(void) {
  char err[256] = "";
  tw_store *s = tw_store_open(dir, err, sizeof err);
  if (!s) {
    printf("# cannot open the store: %s\n", err);
    return NULL;
  }
  if (tw_store_start(s, NULL, NULL)) {
    printf("# cannot start the store\n");
    tw_store_close(s);
    return NULL;
  }
  return s;
}

/* Waits (up to 10 s) for the batch `t` to commit. */
static int wait_for(tw_store *s, uint64_t t) {
  for (int i = 0; i < 10000; i++) {
    if (tw_store_committed(s) >= t) return 1;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

/* --- API keys ---------------------------------------------------------------------- */

typedef struct {
  int n;
  char ids[8][24], names[8][64], scopes[8][128];
  int64_t created[8], expires[8], revoked[8];
  double rate[8], burst[8];
  int stop_after; /* > 0: stop after this many rows */
} keys_seen;

static int key_row(void *ud, const tw_gw_apikey_row *k) {
  keys_seen *ks = ud;
  if (ks->n < 8) {
    int i = ks->n;
    snprintf(ks->ids[i], sizeof ks->ids[i], "%s", k->id);
    snprintf(ks->names[i], sizeof ks->names[i], "%s", k->name);
    snprintf(ks->scopes[i], sizeof ks->scopes[i], "%s", k->scopes_json);
    ks->created[i] = k->created_ms;
    ks->expires[i] = k->expires_ms;
    ks->revoked[i] = k->revoked_ms;
    ks->rate[i] = k->rate;
    ks->burst[i] = k->burst;
  }
  ks->n++;
  return ks->stop_after && ks->n >= ks->stop_after;
}

static void check_keys(tw_store *s, int reopened) {
  const tw_gw_apikeys_repo *repo = tw_store_gw_apikeys(s);
  keys_seen ks = {0};
  CHECK_INT_EQ(repo->list(s, key_row, &ks), 0);
  CHECK_INT_EQ(ks.n, 2);
  /* oldest first */
  CHECK_STR_EQ(ks.ids[0], "ak_b");
  CHECK_STR_EQ(ks.names[0], "first");
  CHECK_STR_EQ(ks.scopes[0], "[{\"actions\":[\"*\"]}]");
  CHECK_INT_EQ(ks.created[0], 1000);
  CHECK_INT_EQ(ks.expires[0], 0);
  CHECK(ks.rate[0] == 2.5 && ks.burst[0] == 10);
  CHECK_STR_EQ(ks.ids[1], "ak_a");
  CHECK_INT_EQ(ks.expires[1], 99000);
  CHECK(ks.rate[1] < 0 && ks.burst[1] < 0);
  CHECK_INT_EQ(ks.revoked[0], 0);
  CHECK_INT_EQ(ks.revoked[1], reopened ? 5000 : 0);
}

static void test_keys(tw_store *s) {
  CASE("apikeys");
  const tw_gw_apikeys_repo *repo = tw_store_gw_apikeys(s);
  keys_seen none = {0};
  CHECK_INT_EQ(repo->list(s, key_row, &none), 0);
  CHECK_INT_EQ(none.n, 0);
  tw_gw_apikey_row a = {.id = "ak_a",
                        .hash = "hash-a",
                        .name = "second",
                        .prefix = "twk_aaaa",
                        .scopes_json = "[]",
                        .created_ms = 2000,
                        .expires_ms = 99000,
                        .rate = -1,
                        .burst = -1};
  tw_gw_apikey_row b = {.id = "ak_b",
                        .hash = "hash-b",
                        .name = "first",
                        .prefix = "twk_bbbb",
                        .scopes_json = "[{\"actions\":[\"*\"]}]",
                        .created_ms = 1000,
                        .rate = 2.5,
                        .burst = 10};
  uint64_t t1 = repo->insert(s, &a);
  uint64_t t2 = repo->insert(s, &b);
  CHECK(t1 > 0 && t2 >= t1);
  CHECK(wait_for(s, t2));
  check_keys(s, 0);

  keys_seen one = {.stop_after = 1};
  CHECK_INT_EQ(repo->list(s, key_row, &one), -1); /* stopped by the callback */
  CHECK_INT_EQ(one.n, 1);

  CASE("apikeys revoke");
  uint64_t t3 = repo->revoke(s, "ak_a", 5000);
  CHECK(t3 >= t2);
  CHECK(wait_for(s, t3));
  keys_seen ks = {0};
  CHECK_INT_EQ(repo->list(s, key_row, &ks), 0);
  CHECK_INT_EQ(ks.n, 2);
  CHECK_INT_EQ(ks.revoked[0], 0);
  CHECK_INT_EQ(ks.revoked[1], 5000);
  /* revoking a key that does not exist changes nothing */
  CHECK(wait_for(s, repo->revoke(s, "ak_none", 6000)));
  ks = (keys_seen){0};
  CHECK_INT_EQ(repo->list(s, key_row, &ks), 0);
  CHECK_INT_EQ(ks.n, 2);
}

/* --- access log ------------------------------------------------------------------- */

typedef struct {
  int n, stop_after;
  int64_t times[128];
  int status[128];
  char path[128][32], principal[128][32];
} log_seen;

static int log_row(void *ud, const tw_gw_access_row *w) {
  log_seen *ls = ud;
  if (ls->n < 128) {
    ls->times[ls->n] = w->time_ms;
    ls->status[ls->n] = w->status;
    snprintf(ls->path[ls->n], sizeof ls->path[0], "%s", w->path);
    snprintf(ls->principal[ls->n], sizeof ls->principal[0], "%s", w->principal);
  }
  ls->n++;
  return ls->stop_after && ls->n >= ls->stop_after;
}

static void test_access_log(tw_store *s) {
  CASE("access log");
  const tw_gw_access_log_repo *repo = tw_store_gw_access_log(s);
  /* 70 rows: two statements of 32 and six single rows */
  enum { N = 70 };
  tw_gw_access_row rows[N];
  char paths[N][32];
  for (int i = 0; i < N; i++) {
    snprintf(paths[i], sizeof paths[i], "/_/api/v1/x/%d", i);
    rows[i] = (tw_gw_access_row){.time_ms = 10000 + i * 100,
                                 .latency_us = 1500,
                                 .bytes_in = i,
                                 .bytes_out = 2 * i,
                                 .status = i % 2 ? 404 : 200,
                                 .principal = i % 3 ? "alice" : "",
                                 .auth = "apikey",
                                 .method = "GET",
                                 .route = "GET /x",
                                 .path = paths[i],
                                 .request_id = "req",
                                 .source_ip = "127.0.0.1"};
  }
  CHECK(repo->append(s, rows, 0) == tw_store_ticket(s));
  uint64_t t = repo->append(s, rows, N);
  CHECK(t > 0);
  CHECK(wait_for(s, t));

  log_seen all = {0};
  CHECK_INT_EQ(repo->query(s, 0, 1000, log_row, &all), 0);
  CHECK_INT_EQ(all.n, N);
  /* newest appended first, every field back */
  CHECK_STR_EQ(all.path[0], "/_/api/v1/x/69");
  CHECK_INT_EQ(all.times[0], 10000 + 69 * 100);
  CHECK_INT_EQ(all.status[0], 404);
  CHECK_STR_EQ(all.principal[0], "");
  CHECK_STR_EQ(all.principal[1], "alice");
  CHECK_STR_EQ(all.path[N - 1], "/_/api/v1/x/0");

  log_seen page = {0};
  CHECK_INT_EQ(repo->query(s, 0, 5, log_row, &page), 0);
  CHECK_INT_EQ(page.n, 5);

  log_seen since = {0};
  CHECK_INT_EQ(repo->query(s, 10000 + 60 * 100, 1000, log_row, &since), 0);
  CHECK_INT_EQ(since.n, 10);

  log_seen stopped = {.stop_after = 3};
  CHECK_INT_EQ(repo->query(s, 0, 1000, log_row, &stopped), 0);
  CHECK_INT_EQ(stopped.n, 3);

  CASE("access log prune");
  uint64_t tp = repo->prune(s, 10000 + 50 * 100);
  CHECK(wait_for(s, tp));
  log_seen left = {0};
  CHECK_INT_EQ(repo->query(s, 0, 1000, log_row, &left), 0);
  CHECK_INT_EQ(left.n, 20);
  CHECK_STR_EQ(left.path[19], "/_/api/v1/x/50");
}

/* --- jobs ------------------------------------------------------------------------- */

typedef struct {
  int n, stop_after;
  char ids[16][37], status[16][12];
  int64_t seq[16];
} jobs_seen;

static int job_row(void *ud, const tw_gw_job_row *j) {
  jobs_seen *js = ud;
  if (js->n < 16) {
    snprintf(js->ids[js->n], sizeof js->ids[0], "%s", j->id);
    snprintf(js->status[js->n], sizeof js->status[0], "%s", j->status);
    js->seq[js->n] = j->seq;
  }
  js->n++;
  return js->stop_after && js->n >= js->stop_after;
}

static void test_jobs(tw_store *s) {
  CASE("jobs insert");
  const tw_gw_jobs_repo *repo = tw_store_gw_jobs(s);
  tw_gw_job_row row;
  CHECK_INT_EQ(repo->get(s, "j-none", &row), 0);
  tw_gw_job_new a = {
      .id = "j-a", .type = "resize", .queue = "q", .owner = "apikey:ak_1", .created_ms = 1000};
  tw_gw_job_new b = {.id = "j-b",
                     .type = "thumb",
                     .queue = "q2",
                     .owner = "apikey:ak_1",
                     .created_ms = 2000,
                     .idem_key = "idem-1",
                     .fingerprint = "fp-1"};
  tw_gw_job_new c = {.id = "j-c",
                     .type = "resize",
                     .queue = "q",
                     .owner = "apikey:ak_1",
                     .created_ms = 3000,
                     .idem_key = "idem-1",
                     .fingerprint = "fp-2"};
  repo->insert(s, &a);
  repo->insert(s, &b);
  uint64_t t = repo->insert(s, &c);
  CHECK(wait_for(s, t));
  CHECK_INT_EQ(repo->get(s, "j-a", &row), 1);
  CHECK_STR_EQ(row.id, "j-a");
  CHECK_STR_EQ(row.type, "resize");
  CHECK_STR_EQ(row.status, "queued");
  CHECK_INT_EQ(row.attempts, 0);
  CHECK_INT_EQ(row.created_ms, 1000);
  CHECK_INT_EQ(row.started_ms, 0);
  CHECK(!row.error && !row.result_bucket && !row.result_key);
  int64_t seq_a = row.seq;
  tw_gw_job_row_free(&row);

  CASE("jobs transitions");
  t = repo->start(s, "j-a", 1, 4000);
  CHECK(wait_for(s, t));
  CHECK_INT_EQ(repo->get(s, "j-a", &row), 1);
  CHECK_STR_EQ(row.status, "running");
  CHECK_INT_EQ(row.attempts, 1);
  CHECK_INT_EQ(row.started_ms, 4000);
  CHECK_INT_EQ(row.seq, seq_a);
  tw_gw_job_row_free(&row);

  t = repo->fail(s, "j-a", 5000, "boom");
  CHECK(wait_for(s, t));
  CHECK_INT_EQ(repo->get(s, "j-a", &row), 1);
  CHECK_STR_EQ(row.status, "failed");
  CHECK_INT_EQ(row.finished_ms, 5000);
  CHECK_STR_EQ(row.error, "boom");
  tw_gw_job_row_free(&row);

  /* a retry clears the failure */
  t = repo->start(s, "j-a", 2, 6000);
  CHECK(wait_for(s, t));
  CHECK_INT_EQ(repo->get(s, "j-a", &row), 1);
  CHECK_STR_EQ(row.status, "running");
  CHECK_INT_EQ(row.attempts, 2);
  CHECK_INT_EQ(row.finished_ms, 0);
  CHECK(!row.error);
  tw_gw_job_row_free(&row);

  t = repo->succeed(s, "j-a", 7000, "results", "out/a b.png");
  CHECK(wait_for(s, t));
  CHECK_INT_EQ(repo->get(s, "j-a", &row), 1);
  CHECK_STR_EQ(row.status, "succeeded");
  CHECK_INT_EQ(row.finished_ms, 7000);
  CHECK_STR_EQ(row.result_bucket, "results");
  CHECK_STR_EQ(row.result_key, "out/a b.png");
  CHECK(!row.error);
  tw_gw_job_row_free(&row);

  CASE("jobs list");
  jobs_seen all = {0};
  tw_gw_job_filter f = {.limit = 10};
  CHECK_INT_EQ(repo->list(s, &f, job_row, &all), 0);
  CHECK_INT_EQ(all.n, 3);
  CHECK_STR_EQ(all.ids[0], "j-c"); /* newest first */
  CHECK_STR_EQ(all.ids[2], "j-a");
  CHECK(all.seq[0] > all.seq[1] && all.seq[1] > all.seq[2]);

  jobs_seen by_type = {0};
  f = (tw_gw_job_filter){.type = "resize", .limit = 10};
  CHECK_INT_EQ(repo->list(s, &f, job_row, &by_type), 0);
  CHECK_INT_EQ(by_type.n, 2);

  jobs_seen by_status = {0};
  f = (tw_gw_job_filter){.status = "succeeded", .limit = 10};
  CHECK_INT_EQ(repo->list(s, &f, job_row, &by_status), 0);
  CHECK_INT_EQ(by_status.n, 1);
  CHECK_STR_EQ(by_status.ids[0], "j-a");

  jobs_seen both = {0};
  f = (tw_gw_job_filter){.status = "queued", .type = "resize", .limit = 10};
  CHECK_INT_EQ(repo->list(s, &f, job_row, &both), 0);
  CHECK_INT_EQ(both.n, 1);
  CHECK_STR_EQ(both.ids[0], "j-c");

  jobs_seen page1 = {0}, page2 = {0};
  f = (tw_gw_job_filter){.limit = 2};
  CHECK_INT_EQ(repo->list(s, &f, job_row, &page1), 0);
  CHECK_INT_EQ(page1.n, 2);
  f = (tw_gw_job_filter){.limit = 2, .before_seq = page1.seq[1]};
  CHECK_INT_EQ(repo->list(s, &f, job_row, &page2), 0);
  CHECK_INT_EQ(page2.n, 1);
  CHECK_STR_EQ(page2.ids[0], "j-a");

  jobs_seen stopped = {.stop_after = 1};
  f = (tw_gw_job_filter){.limit = 10};
  CHECK_INT_EQ(repo->list(s, &f, job_row, &stopped), 0);
  CHECK_INT_EQ(stopped.n, 1);

  CASE("jobs count by status");
  int64_t counts[4] = {-1, -1, -1, -1};
  CHECK_INT_EQ(repo->count_by_status(s, counts), 0);
  CHECK_INT_EQ(counts[0], 2); /* queued: j-b, j-c */
  CHECK_INT_EQ(counts[1], 0); /* running */
  CHECK_INT_EQ(counts[2], 1); /* succeeded: j-a */
  CHECK_INT_EQ(counts[3], 0); /* failed */
  t = repo->start(s, "j-b", 1, 8000);
  CHECK(wait_for(s, t));
  CHECK_INT_EQ(repo->count_by_status(s, counts), 0);
  CHECK_INT_EQ(counts[0], 1);
  CHECK_INT_EQ(counts[1], 1);

  CASE("jobs idempotency");
  char id[37], fp[65], status[12];
  /* the newest of the owner's jobs with that key, inside the window */
  CHECK_INT_EQ(repo->idem_find(s, "apikey:ak_1", "idem-1", 0, id, fp, status), 1);
  CHECK_STR_EQ(id, "j-c");
  CHECK_STR_EQ(fp, "fp-2");
  CHECK_STR_EQ(status, "queued");
  CHECK_INT_EQ(repo->idem_find(s, "apikey:ak_1", "idem-1", 2500, id, fp, status), 1);
  CHECK_STR_EQ(id, "j-c");
  CHECK_INT_EQ(repo->idem_find(s, "apikey:ak_1", "idem-1", 3000, id, fp, status), 0);
  CHECK_INT_EQ(repo->idem_find(s, "apikey:ak_2", "idem-1", 0, id, fp, status), 0);
  CHECK_INT_EQ(repo->idem_find(s, "apikey:ak_1", "idem-2", 0, id, fp, status), 0);
}

/* --- what tw_s3_object_size asks S3's repositories ------------------------------- */

static int object_size(tw_store *s, const char *bucket, const char *key, int64_t *size) {
  return tw_store_s3_objects(s)->size(s, bucket, key, strlen(key), size);
}

static void test_s3_lookup(tw_store *s) {
  CASE("s3 lookup");
  int64_t size = -1;
  const tw_s3_buckets_repo *buckets = tw_store_s3_buckets(s);
  CHECK_INT_EQ(buckets->exists(s, "results"), 0);
  CHECK_INT_EQ(object_size(s, "results", "k", &size), 0);
  tw_s3_bucket_row b = {.name = "results", .created_ms = 1};
  buckets->create(s, &b);
  tw_s3_object_row o = {.bucket = "results",
                        .key = "out/a b.png",
                        .key_len = 11,
                        .size = 1234,
                        .modified_ms = 1,
                        .etag = "etag",
                        .blob = "blob"};
  uint64_t t = tw_store_s3_objects(s)->put(s, &o);
  CHECK(wait_for(s, t));
  CHECK_INT_EQ(buckets->exists(s, "results"), 1);
  CHECK_INT_EQ(object_size(s, "results", "out/a b.png", &size), 1);
  CHECK_INT_EQ(size, 1234);
  CHECK_INT_EQ(object_size(s, "results", "out/a", &size), 0);
  CHECK_INT_EQ(object_size(s, "other", "out/a b.png", &size), 0);
}

static void test_reopened(tw_store *s) {
  CASE("reopened");
  check_keys(s, 1);
  log_seen left = {0};
  CHECK_INT_EQ(tw_store_gw_access_log(s)->query(s, 0, 1000, log_row, &left), 0);
  CHECK_INT_EQ(left.n, 20);
  tw_gw_job_row row;
  CHECK_INT_EQ(tw_store_gw_jobs(s)->get(s, "j-a", &row), 1);
  CHECK_STR_EQ(row.status, "succeeded");
  CHECK_STR_EQ(row.result_key, "out/a b.png");
  tw_gw_job_row_free(&row);
  int64_t size = 0;
  CHECK_INT_EQ(object_size(s, "results", "out/a b.png", &size), 1);
}

int main(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/tw-store-gw-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  tw_store *s = open_store();
  CHECK(s != NULL);
  if (s) {
    test_keys(s);
    test_access_log(s);
    test_jobs(s);
    test_s3_lookup(s);
    tw_store_close(s);
    s = open_store();
    CHECK(s != NULL);
    if (s) {
      test_reopened(s);
      tw_store_close(s);
    }
  }
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) printf("# could not remove %s\n", dir);
  return tap_done();
}
