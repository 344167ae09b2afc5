/* Conformance of the S3 uploads repository (store/s3_uploads.h) and the
 * lifecycle sweeper's scans (store/s3_lifecycle.h) against a store opened in a
 * temporary directory: what any backend must answer. Only the repositories'
 * interfaces are used (and the objects repository to write object rows), so
 * the same checks can run against another backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "store/s3_lifecycle.h"
#include "store/s3_objects.h"
#include "store/s3_refs.h"
#include "store/s3_uploads.h"
#include "store/pg_s3.h"
#include "store/store.h"
#include "tap.h"

static tw_store *st;
static const tw_s3_uploads_repo *up;
static const tw_s3_lifecycle_repo *lc;

/* Waits until ticket t is durable; 0, or -1 after 10 s. */
static int wait_for(uint64_t t) {
  int64_t until = tw_mono_ms() + 10000;
  while (tw_store_committed(st) < t) {
    if (tw_mono_ms() > until) return -1;
    usleep(500);
  }
  return 0;
}

static uint64_t create(const char *id, const char *bucket, const char *key, int64_t initiated,
                       const char *alg, const char *type) {
  tw_s3_upload u = {.id = id,
                    .bucket = bucket,
                    .key = key,
                    .key_len = strlen(key),
                    .initiated_ms = initiated,
                    .content_type = "text/plain",
                    .headers = "{\"Cache-Control\":\"no-cache\"}",
                    .meta = "{\"a\":\"b\"}",
                    .tags = alg ? "[[\"k\",\"v\"]]" : NULL,
                    .checksum_algo = alg,
                    .checksum_type = type};
  return up->create(st, &u);
}

static uint64_t part(const char *upload, long num, int64_t size, const char *etag, const char *blob,
                     const char *sums) {
  tw_s3_part_row p = {.num = num,
                      .size = size,
                      .etag = etag,
                      .blob = blob,
                      .modified_ms = 1000 + num,
                      .checksum = sums};
  return up->put_part(st, upload, &p);
}

static uint64_t object(const char *bucket, const char *key, int64_t modified, const char *blob,
                       const char *tags) {
  tw_s3_object_row o = {.bucket = bucket,
                        .key = key,
                        .key_len = strlen(key),
                        .size = 10,
                        .modified_ms = modified,
                        .etag = "0123456789abcdef0123456789abcdef",
                        .blob = blob,
                        .content_type = "binary/octet-stream",
                        .headers = "{}",
                        .meta = "{}",
                        .tags = tags};
  return tw_store_s3_objects(st)->put(st, &o);
}

/* --- collectors ------------------------------------------------------------------- */

typedef struct {
  char text[1024]; /* "key=id;" per row */
  int n, stop_at;
} seen;

static int on_upload(void *ud, const tw_s3_upload *u) {
  seen *s = ud;
  size_t l = strlen(s->text);
  snprintf(s->text + l, sizeof s->text - l, "%.*s=%s%s%s;", (int)u->key_len, u->key, u->id,
           u->checksum_algo ? ":" : "", u->checksum_algo ? u->checksum_algo : "");
  return ++s->n == s->stop_at;
}

static int on_part(void *ud, const tw_s3_part_row *p) {
  seen *s = ud;
  size_t l = strlen(s->text);
  snprintf(s->text + l, sizeof s->text - l, "%ld:%s:%s:%lld:%s;", p->num, p->etag, p->blob,
           (long long)p->size, p->checksum ? p->checksum : "-");
  return ++s->n == s->stop_at;
}

static int on_object(void *ud, const tw_s3_lc_object *o) {
  seen *s = ud;
  size_t l = strlen(s->text);
  snprintf(s->text + l, sizeof s->text - l, "%.*s@%lld%s;", (int)o->klen, o->key,
           (long long)o->modified_ms, o->tags ? "+t" : "");
  return ++s->n == s->stop_at;
}

static int on_id(void *ud, const char *upload) {
  seen *s = ud;
  size_t l = strlen(s->text);
  snprintf(s->text + l, sizeof s->text - l, "%s;", upload);
  return ++s->n == s->stop_at;
}

static void on_ref(void *ud, long num, const char *blob) {
  seen *s = ud;
  size_t l = strlen(s->text);
  snprintf(s->text + l, sizeof s->text - l, "%ld=%s;", num, blob);
  s->n++;
}

#define RESET(s) memset(&(s), 0, sizeof(s))

/* --- cases ------------------------------------------------------------------------------ */

static void test_create_get_list(void) {
  CASE("create/get");
  uint64_t t = 0;
  tw_store_hold(st);
  create("u1", "b", "a/1", 100, NULL, NULL);
  create("u2", "b", "a/2", 200, "CRC32", "COMPOSITE");
  create("u3", "b", "z", 50, NULL, NULL);
  create("u4", "b", "a/1", 300, NULL, NULL); /* a second upload of a key */
  t = create("u5", "other", "a/1", 10, NULL, NULL);
  tw_store_release(st);
  CHECK(t > 0);
  CHECK_INT_EQ(wait_for(t), 0);

  tw_s3_upload u;
  CHECK_INT_EQ(up->get(st, "u2", &u), 1);
  CHECK_STR_EQ(u.id, "u2");
  CHECK_STR_EQ(u.bucket, "b");
  CHECK_INT_EQ(u.key_len, 3);
  CHECK(u.key && !memcmp(u.key, "a/2", 3) && u.key[3] == 0);
  CHECK_INT_EQ(u.initiated_ms, 200);
  CHECK_STR_EQ(u.content_type, "text/plain");
  CHECK_STR_EQ(u.headers, "{\"Cache-Control\":\"no-cache\"}");
  CHECK_STR_EQ(u.meta, "{\"a\":\"b\"}");
  CHECK_STR_EQ(u.tags, "[[\"k\",\"v\"]]");
  CHECK_STR_EQ(u.checksum_algo, "CRC32");
  CHECK_STR_EQ(u.checksum_type, "COMPOSITE");
  tw_s3_upload_free(&u);
  CHECK_INT_EQ(up->get(st, "u1", &u), 1);
  CHECK(u.tags == NULL && u.checksum_algo == NULL && u.checksum_type == NULL);
  tw_s3_upload_free(&u);
  CHECK_INT_EQ(up->get(st, "nope", &u), 0);
  CHECK_INT_EQ(tw_store_s3_upload_exists(st, "u1"), 1);
  CHECK_INT_EQ(tw_store_s3_upload_exists(st, "nope"), 0);

  CASE("list uploads");
  seen s;
  RESET(s);
  CHECK_INT_EQ(up->list(st, "b", NULL, NULL, 0, on_upload, &s), 0);
  /* by key, then initiation time */
  CHECK_STR_EQ(s.text, "a/1=u1;a/1=u4;a/2=u2:CRC32;z=u3;");
  RESET(s);
  CHECK_INT_EQ(up->list(st, "b", "a/", NULL, 0, on_upload, &s), 0);
  CHECK_STR_EQ(s.text, "a/1=u1;a/1=u4;a/2=u2:CRC32;");
  RESET(s);
  CHECK_INT_EQ(up->list(st, "b", NULL, "a/1", 3, on_upload, &s), 0); /* after the key marker */
  CHECK_STR_EQ(s.text, "a/2=u2:CRC32;z=u3;");
  RESET(s);
  CHECK_INT_EQ(up->list(st, "b", "a/", "a/1", 3, on_upload, &s), 0);
  CHECK_STR_EQ(s.text, "a/2=u2:CRC32;");
  RESET(s);
  CHECK_INT_EQ(up->list(st, "b", "", "", 0, on_upload, &s), 0); /* empty = none */
  CHECK_INT_EQ(s.n, 4);
  RESET(s);
  s.stop_at = 2;
  CHECK_INT_EQ(up->list(st, "b", NULL, NULL, 0, on_upload, &s), 0);
  CHECK_STR_EQ(s.text, "a/1=u1;a/1=u4;");
  RESET(s);
  CHECK_INT_EQ(up->list(st, "nobucket", NULL, NULL, 0, on_upload, &s), 0);
  CHECK_INT_EQ(s.n, 0);
}

static void test_parts(void) {
  CASE("parts");
  part("u1", 2, 200, "e2", "blob-2", NULL);
  part("u1", 1, 100, "e1", "blob-1", "{\"CRC32\":\"AAAAAA==\"}");
  part("u1", 3, 300, "e3", "blob-3", NULL);
  part("u2", 1, 5, "x1", "blob-x", NULL);
  uint64_t t = part("u1", 2, 222, "e2b", "blob-2b", NULL); /* replaces part 2 */
  CHECK_INT_EQ(wait_for(t), 0);
  seen s;
  RESET(s);
  CHECK_INT_EQ(up->list_parts(st, "u1", 0, on_part, &s), 0);
  CHECK_STR_EQ(s.text,
               "1:e1:blob-1:100:{\"CRC32\":\"AAAAAA==\"};2:e2b:blob-2b:222:-;3:e3:blob-3:300:-;");
  RESET(s);
  CHECK_INT_EQ(up->list_parts(st, "u1", 1, on_part, &s), 0); /* part-number-marker */
  CHECK_STR_EQ(s.text, "2:e2b:blob-2b:222:-;3:e3:blob-3:300:-;");
  RESET(s);
  s.stop_at = 1;
  CHECK_INT_EQ(up->list_parts(st, "u1", 0, on_part, &s), 0);
  CHECK_INT_EQ(s.n, 1);
  RESET(s);
  CHECK_INT_EQ(up->list_parts(st, "u1", 3, on_part, &s), 0);
  CHECK_INT_EQ(s.n, 0);
  RESET(s);
  CHECK_INT_EQ(up->list_parts(st, "u3", 0, on_part, &s), 0);
  CHECK_INT_EQ(s.n, 0);
  /* what the blob sweep sees of them */
  char blob[37];
  CHECK_INT_EQ(tw_store_s3_part_blob(st, "u1", 2, blob), 1);
  CHECK_STR_EQ(blob, "blob-2b");
  CHECK_INT_EQ(tw_store_s3_part_blob(st, "u1", 4, blob), 0);
  RESET(s);
  CHECK_INT_EQ(tw_store_s3_upload_parts(st, "u1", on_ref, &s), 0);
  CHECK_INT_EQ(s.n, 3);
}

static void test_complete(void) {
  CASE("complete");
  /* as CompleteMultipartUpload: the object row, its layout, the upload gone, one batch */
  tw_store_hold(st);
  uint64_t t1 = object("b", "a/1", 5000, "joined", NULL);
  uint64_t t2 = up->set_object_layout(st, "b", "a/1", 3, 3,
                                      "{\"sizes\":[100,222,300],\"sums\":[\"a\",\"b\",\"c\"]}");
  uint64_t t3 = up->remove(st, "u1");
  tw_store_release(st);
  CHECK(t1 > 0 && t2 > 0 && t3 > 0);
  CHECK(t1 == t2 && t2 == t3);
  CHECK_INT_EQ(wait_for(t3), 0);
  char *layout = NULL;
  CHECK_INT_EQ(up->object_layout(st, "b", "a/1", 3, "joined", &layout), 1);
  CHECK_STR_EQ(layout, "{\"sizes\":[100,222,300],\"sums\":[\"a\",\"b\",\"c\"]}");
  free(layout);
  layout = (char *)"x";
  CHECK_INT_EQ(up->object_layout(st, "b", "a/1", 3, "other-blob", &layout), 0); /* replaced */
  CHECK(layout == NULL);
  CHECK_INT_EQ(up->object_layout(st, "b", "a/9", 3, "joined", &layout), 0);
  tw_s3_upload u;
  CHECK_INT_EQ(up->get(st, "u1", &u), 0);
  seen s;
  RESET(s);
  CHECK_INT_EQ(up->list_parts(st, "u1", 0, on_part, &s), 0);
  CHECK_INT_EQ(s.n, 0);
  /* an object put again loses the layout */
  CHECK_INT_EQ(wait_for(object("b", "a/1", 6000, "joined", NULL)), 0);
  CHECK_INT_EQ(up->object_layout(st, "b", "a/1", 3, "joined", &layout), 0);
  /* the other upload of the key and its parts stay */
  CHECK_INT_EQ(up->get(st, "u4", &u), 1);
  tw_s3_upload_free(&u);
  RESET(s);
  CHECK_INT_EQ(up->list_parts(st, "u2", 0, on_part, &s), 0);
  CHECK_INT_EQ(s.n, 1);
}

static void test_done_records(void) {
  CASE("completions remembered");
  tw_s3_upload_done d;
  CHECK_INT_EQ(up->get_done(st, "d1", &d), 0);
  tw_s3_upload_done r1 = {.id = "d1",
                          .bucket = "b",
                          .key = "k\0ey",
                          .key_len = 4,
                          .parts = "1:aa\n2:bb\n",
                          .result = "{\"etag\":\"x-2\"}",
                          .done_ms = 1000};
  tw_store_hold(st); /* in the completion's batch */
  uint64_t t1 = up->remove(st, "d1");
  uint64_t t2 = up->record_done(st, &r1, 0);
  tw_store_release(st);
  CHECK(t1 > 0 && t1 == t2);
  CHECK_INT_EQ(wait_for(t2), 0);
  CHECK_INT_EQ(up->get_done(st, "d1", &d), 1);
  CHECK_STR_EQ(d.bucket, "b");
  CHECK_INT_EQ(d.key_len, 4);
  CHECK(memcmp(d.key, "k\0ey", 4) == 0);
  CHECK_STR_EQ(d.parts, "1:aa\n2:bb\n");
  CHECK_STR_EQ(d.result, "{\"etag\":\"x-2\"}");
  CHECK_INT_EQ(d.done_ms, 1000);
  tw_s3_upload_done_free(&d);
  CHECK(d.bucket == NULL);
  /* a later record forgets those completed before its cutoff */
  tw_s3_upload_done r2 = r1;
  r2.id = "d2";
  r2.done_ms = 5000;
  CHECK_INT_EQ(wait_for(up->record_done(st, &r2, 1001)), 0);
  CHECK_INT_EQ(up->get_done(st, "d1", &d), 0);
  CHECK_INT_EQ(up->get_done(st, "d2", &d), 1);
  tw_s3_upload_done_free(&d);
  CHECK_INT_EQ(wait_for(up->record_done(st, &r1, 0)), 0); /* older than the cutoff: kept */
  CHECK_INT_EQ(up->get_done(st, "d1", &d), 1);
  tw_s3_upload_done_free(&d);
}

static void test_abort(void) {
  CASE("abort");
  uint64_t t = up->remove(st, "u2");
  CHECK(t > 0);
  CHECK_INT_EQ(wait_for(t), 0);
  tw_s3_upload u;
  CHECK_INT_EQ(up->get(st, "u2", &u), 0);
  CHECK_INT_EQ(tw_store_s3_upload_exists(st, "u2"), 0);
  char blob[37];
  CHECK_INT_EQ(tw_store_s3_part_blob(st, "u2", 1, blob), 0);
  seen s;
  RESET(s);
  CHECK_INT_EQ(up->list(st, "b", NULL, NULL, 0, on_upload, &s), 0);
  CHECK_STR_EQ(s.text, "a/1=u4;z=u3;");
  /* removing again is a no-op that still commits */
  CHECK_INT_EQ(wait_for(up->remove(st, "u2")), 0);
}

static void test_sweep_scans(void) {
  CASE("lifecycle: objects by prefix");
  tw_store_hold(st);
  object("lc", "logs/a", 100, "b-a", NULL);
  object("lc", "logs/b", 900, "b-b", "[[\"k\",\"v\"]]");
  object("lc", "logs/c", 200, "b-c", NULL);
  object("lc", "logs", 50, "b-l", NULL); /* not under "logs/" */
  object("lc", "logt", 50, "b-t", NULL);
  object("lc", "data/x", 10, "b-x", NULL);
  object("lc2", "logs/z", 10, "b-z", NULL);
  uint64_t t = tw_store_ticket(st);
  tw_store_release(st);
  CHECK_INT_EQ(wait_for(t), 0);
  seen s;
  RESET(s);
  CHECK_INT_EQ(lc->objects_by_prefix(st, "lc", "logs/", NULL, 0, 1000, 100, on_object, &s), 0);
  CHECK_STR_EQ(s.text, "logs/a@100;logs/b@900+t;logs/c@200;");
  RESET(s);
  CHECK_INT_EQ(lc->objects_by_prefix(st, "lc", "logs/", NULL, 0, 500, 100, on_object, &s), 0);
  CHECK_STR_EQ(s.text, "logs/a@100;logs/c@200;"); /* modified at or before the cutoff */
  RESET(s);
  CHECK_INT_EQ(lc->objects_by_prefix(st, "lc", "logs/", NULL, 0, 1000, 2, on_object, &s), 0);
  CHECK_STR_EQ(s.text, "logs/a@100;logs/b@900+t;"); /* the limit */
  RESET(s);
  CHECK_INT_EQ(lc->objects_by_prefix(st, "lc", "logs/", "logs/b", 6, 1000, 100, on_object, &s), 0);
  CHECK_STR_EQ(s.text, "logs/c@200;"); /* after the cursor */
  RESET(s);
  CHECK_INT_EQ(lc->objects_by_prefix(st, "lc", "logs/", "data/x", 6, 1000, 100, on_object, &s), 0);
  CHECK_INT_EQ(s.n, 3); /* a cursor before the prefix: from the prefix */
  RESET(s);
  CHECK_INT_EQ(lc->objects_by_prefix(st, "lc", "log", NULL, 0, 1000, 100, on_object, &s), 0);
  CHECK_STR_EQ(s.text, "logs@50;logs/a@100;logs/b@900+t;logs/c@200;logt@50;");
  RESET(s);
  s.stop_at = 1;
  CHECK_INT_EQ(lc->objects_by_prefix(st, "lc", "logs/", NULL, 0, 1000, 100, on_object, &s), 0);
  CHECK_INT_EQ(s.n, 1);

  CASE("lifecycle: objects by age");
  RESET(s);
  CHECK_INT_EQ(lc->objects_by_age(st, "lc", 200, -1, NULL, 0, 100, on_object, &s), 0);
  CHECK_STR_EQ(s.text, "data/x@10;logs@50;logt@50;logs/a@100;logs/c@200;");
  RESET(s);
  CHECK_INT_EQ(lc->objects_by_age(st, "lc", 200, 50, "logs", 4, 100, on_object, &s), 0);
  CHECK_STR_EQ(s.text, "logt@50;logs/a@100;logs/c@200;"); /* after (50, "logs") */
  RESET(s);
  CHECK_INT_EQ(lc->objects_by_age(st, "lc", INT64_MAX, -1, NULL, 0, 2, on_object, &s), 0);
  CHECK_STR_EQ(s.text, "data/x@10;logs@50;");

  CASE("lifecycle: expiring an object names its body");
  const tw_s3_objects_repo *ob = tw_store_s3_objects(st);
  CHECK_INT_EQ(wait_for(ob->remove_if_blob(st, "lc", "logs/a", 6, "not-its-blob")), 0);
  RESET(s);
  CHECK_INT_EQ(lc->objects_by_prefix(st, "lc", "logs/a", NULL, 0, 1000, 100, on_object, &s), 0);
  CHECK_INT_EQ(s.n, 1);
  CHECK_INT_EQ(wait_for(ob->remove_if_blob(st, "lc", "logs/a", 6, "b-a")), 0);
  RESET(s);
  CHECK_INT_EQ(lc->objects_by_prefix(st, "lc", "logs/a", NULL, 0, 1000, 100, on_object, &s), 0);
  CHECK_INT_EQ(s.n, 0);

  CASE("lifecycle: uploads");
  tw_store_hold(st);
  create("l1", "lc", "logs/1", 300, NULL, NULL);
  create("l2", "lc", "logs/2", 100, NULL, NULL);
  create("l3", "lc", "data/3", 200, NULL, NULL);
  create("l4", "lc", "logs/4", 900, NULL, NULL);
  t = create("l5", "lc2", "logs/5", 1, NULL, NULL);
  tw_store_release(st);
  CHECK_INT_EQ(wait_for(t), 0);
  RESET(s);
  CHECK_INT_EQ(lc->uploads_by_prefix(st, "lc", "logs/", 500, 100, on_id, &s), 0);
  CHECK_STR_EQ(s.text, "l2;l1;"); /* oldest first */
  RESET(s);
  CHECK_INT_EQ(lc->uploads_by_prefix(st, "lc", NULL, 500, 100, on_id, &s), 0);
  CHECK_STR_EQ(s.text, "l2;l3;l1;");
  RESET(s);
  CHECK_INT_EQ(lc->uploads_by_prefix(st, "lc", "", 1000, 2, on_id, &s), 0);
  CHECK_STR_EQ(s.text, "l2;l3;");
  RESET(s);
  CHECK_INT_EQ(lc->uploads_by_prefix(st, "lc", "logs/", 99, 100, on_id, &s), 0);
  CHECK_INT_EQ(s.n, 0);
}

int main(void) {
  char dir[] = "/tmp/tw-test-uploads-XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  char err[512] = "";
  /* TWEEDLE_TEST_STORE=postgres://...: the same checks on the PostgreSQL
   * backend (an empty database) */
  const char *url = getenv("TWEEDLE_TEST_STORE");
  st = url && *url ? tw_store_open_pg_s3(url, 2, err, sizeof err)
                   : tw_store_open(dir, err, sizeof err);
  CASE("open");
  CHECK(st != NULL);
  if (!st) {
    printf("# %s\n", err);
    return tap_done();
  }
  CHECK_INT_EQ(tw_store_start(st, NULL, NULL), 0);
  up = tw_store_s3_uploads(st);
  lc = tw_store_s3_lifecycle(st);
  CHECK(up && lc);
  test_create_get_list();
  test_parts();
  test_complete();
  test_abort();
  test_done_records();
  test_sweep_scans();
  tw_store_close(st);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) printf("# cannot remove %s\n", dir);
  return tap_done();
}
