/* Conformance of the S3 buckets and objects repositories (store/s3_buckets.h,
 * store/s3_objects.h): round trips through a store opened in a fresh
 * directory. Only the repository calls and tw_store_open/start/committed are
 * used, so the same checks hold for any backend. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/s3_buckets.h"
#include "store/s3_objects.h"
#include "store/pg_s3.h"
#include "store/s3_refs.h"
#include "store/store.h"
#include "tap.h"

static int commits_failed;

static void on_commit(void *ud, uint64_t committed, int ok) {
  (void)ud;
  (void)committed;
  if (!ok) __atomic_add_fetch(&commits_failed, 1, __ATOMIC_SEQ_CST);
}

/* Waits until batch `t` is durable; 0, or -1 after 10 s. */
static int wait_for(tw_store *s, uint64_t t) {
  for (int i = 0; i < 10000; i++) {
    if (tw_store_committed(s) >= t) return 0;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return -1;
}

#define WRITE(s, expr)             \
  do {                             \
    uint64_t t_ = (expr);          \
    CHECK(t_ > 0);                 \
    CHECK(wait_for((s), t_) == 0); \
  } while (0)

/* TWEEDLE_TEST_STORE=postgres://...: the same checks on the PostgreSQL
 * backend (an empty database). */
static tw_store *open_store(const char *dir) {
  char err[256] = "";
  const char *url = getenv("TWEEDLE_TEST_STORE");
  tw_store *s = url && *url ? tw_store_open_pg_s3(url, 2, err, sizeof err)
                            : tw_store_open(dir, err, sizeof err);
  if (!s) {
    printf("# cannot open the store: %s\n", err);
    return NULL;
  }
  if (tw_store_start(s, on_commit, NULL)) {
    tw_store_close(s);
    return NULL;
  }
  return s;
}

/* --- buckets ------------------------------------------------------------------------ */

typedef struct {
  char names[8][64];
  int64_t created[8];
  int n, stop_after;
} bucket_list;

static int collect_bucket(void *ud, const tw_s3_bucket_row *b) {
  bucket_list *l = ud;
  if (l->n < 8) {
    snprintf(l->names[l->n], sizeof l->names[0], "%s", b->name);
    l->created[l->n] = b->created_ms;
  }
  l->n++;
  return l->stop_after && l->n >= l->stop_after;
}

typedef struct {
  char names[8][64], values[8][128];
  int n;
} setting_list;

static int collect_setting(void *ud, const char *name, const char *json) {
  setting_list *l = ud;
  if (l->n < 8) {
    snprintf(l->names[l->n], sizeof l->names[0], "%s", name ? name : "(null)");
    snprintf(l->values[l->n], sizeof l->values[0], "%s", json ? json : "(null)");
  }
  l->n++;
  return 0;
}

static void test_buckets(tw_store *s) {
  const tw_s3_buckets_repo *B = tw_store_s3_buckets(s);
  CASE("buckets: create and exists");
  CHECK_INT_EQ(B->exists(s, "alpha"), 0);
  tw_s3_bucket_row a = {.name = "alpha", .created_ms = 1000, .region = "us-east-1"};
  tw_s3_bucket_row c = {.name = "charlie", .created_ms = 3000, .region = NULL};
  tw_s3_bucket_row b = {.name = "bravo", .created_ms = 2000, .region = "eu-west-1"};
  WRITE(s, B->create(s, &a));
  WRITE(s, B->create(s, &c));
  WRITE(s, B->create(s, &b));
  CHECK_INT_EQ(B->exists(s, "alpha"), 1);
  CHECK_INT_EQ(B->exists(s, "bravo"), 1);
  CHECK_INT_EQ(B->exists(s, "alph"), 0);

  CASE("buckets: a second create of a name changes nothing");
  tw_s3_bucket_row again = {.name = "alpha", .created_ms = 9999, .region = "x"};
  WRITE(s, B->create(s, &again));

  CASE("buckets: list by name");
  bucket_list l = {0};
  CHECK_INT_EQ(B->list(s, collect_bucket, &l), 0);
  CHECK_INT_EQ(l.n, 3);
  CHECK_STR_EQ(l.names[0], "alpha");
  CHECK_STR_EQ(l.names[1], "bravo");
  CHECK_STR_EQ(l.names[2], "charlie");
  CHECK_INT_EQ(l.created[0], 1000);
  CHECK_INT_EQ(l.created[1], 2000);
  CHECK_INT_EQ(l.created[2], 3000);
  bucket_list l2 = {.stop_after = 2};
  CHECK_INT_EQ(B->list(s, collect_bucket, &l2), 0);
  CHECK_INT_EQ(l2.n, 2);

  CASE("buckets: settings start unset");
  static const tw_s3_bucket_setting all[] = {TW_S3_BUCKET_NOTIFICATION, TW_S3_BUCKET_LIFECYCLE,
                                             TW_S3_BUCKET_CORS, TW_S3_BUCKET_POLICY,
                                             TW_S3_BUCKET_TAGS};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    char *json = (char *)"sentinel";
    CHECK_INT_EQ(B->get_setting(s, "alpha", all[i], &json), 1);
    CHECK(json == NULL);
    json = (char *)"sentinel";
    CHECK_INT_EQ(B->get_setting(s, "nosuch", all[i], &json), 0);
    CHECK(json == NULL);
  }

  CASE("buckets: each setting round-trips on its own");
  static const char *values[] = {"[{\"Id\":\"n\"}]", "[{\"ID\":\"lc\"}]",
                                 "[{\"AllowedMethod\":[\"GET\"]}]", "{\"Version\":\"2012-10-17\"}",
                                 "[[\"k\",\"v\"]]"};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    WRITE(s, B->set_setting(s, "bravo", all[i], values[i]));
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    char *json = NULL;
    CHECK_INT_EQ(B->get_setting(s, "bravo", all[i], &json), 1);
    CHECK_STR_EQ(json, values[i]);
    free(json);
    CHECK_INT_EQ(B->get_setting(s, "alpha", all[i], &json), 1); /* other buckets untouched */
    CHECK(json == NULL);
  }

  CASE("buckets: each_setting lists the buckets that have it");
  WRITE(s, B->set_setting(s, "charlie", TW_S3_BUCKET_CORS, "[]"));
  setting_list sl = {0};
  CHECK_INT_EQ(B->each_setting(s, TW_S3_BUCKET_CORS, collect_setting, &sl), 0);
  CHECK_INT_EQ(sl.n, 2);
  int seen_b = 0, seen_c = 0;
  for (int i = 0; i < sl.n && i < 8; i++) {
    if (!strcmp(sl.names[i], "bravo") && !strcmp(sl.values[i], values[2])) seen_b = 1;
    if (!strcmp(sl.names[i], "charlie") && !strcmp(sl.values[i], "[]")) seen_c = 1;
  }
  CHECK(seen_b && seen_c);
  setting_list none = {0};
  CHECK_INT_EQ(B->each_setting(s, TW_S3_BUCKET_LIFECYCLE, collect_setting, &none), 0);
  CHECK_INT_EQ(none.n, 1);
  CHECK_STR_EQ(none.names[0], "bravo");

  CASE("buckets: a setting cleared, replaced; no bucket made by a setting");
  WRITE(s, B->set_setting(s, "bravo", TW_S3_BUCKET_LIFECYCLE, NULL));
  char *json = (char *)"sentinel";
  CHECK_INT_EQ(B->get_setting(s, "bravo", TW_S3_BUCKET_LIFECYCLE, &json), 1);
  CHECK(json == NULL);
  WRITE(s, B->set_setting(s, "bravo", TW_S3_BUCKET_CORS, "[1]"));
  CHECK_INT_EQ(B->get_setting(s, "bravo", TW_S3_BUCKET_CORS, &json), 1);
  CHECK_STR_EQ(json, "[1]");
  free(json);
  WRITE(s, B->set_setting(s, "nosuch", TW_S3_BUCKET_CORS, "[]"));
  CHECK_INT_EQ(B->exists(s, "nosuch"), 0);

  CASE("buckets: remove takes the settings along");
  WRITE(s, B->remove(s, "bravo"));
  CHECK_INT_EQ(B->exists(s, "bravo"), 0);
  json = (char *)"sentinel";
  CHECK_INT_EQ(B->get_setting(s, "bravo", TW_S3_BUCKET_CORS, &json), 0);
  CHECK(json == NULL);
  WRITE(s, B->create(s, &b)); /* a new bucket of the name starts bare */
  CHECK_INT_EQ(B->get_setting(s, "bravo", TW_S3_BUCKET_NOTIFICATION, &json), 1);
  CHECK(json == NULL);
  WRITE(s, B->remove(s, "nosuch"));
}

/* --- objects ------------------------------------------------------------------------ */

typedef struct {
  char keys[16][32];
  size_t klens[16];
  int64_t sizes[16];
  char etags[16][40];
  int has_sums[16];
  int n, stop_at;
} object_list;

static int collect_object(void *ud, const tw_s3_object_row *o) {
  object_list *l = ud;
  if (l->n < 16 && o->key_len < sizeof l->keys[0]) {
    memcpy(l->keys[l->n], o->key, o->key_len);
    l->klens[l->n] = o->key_len;
    l->sizes[l->n] = o->size;
    snprintf(l->etags[l->n], sizeof l->etags[0], "%s", o->etag);
    l->has_sums[l->n] = o->checksums != NULL;
  }
  l->n++;
  return l->stop_at && l->n == l->stop_at;
}

static tw_s3_object_row obj(const char *bucket, const char *key, size_t klen, int64_t size,
                            const char *etag, const char *blob) {
  tw_s3_object_row o = {.bucket = bucket,
                        .key = key,
                        .key_len = klen,
                        .size = size,
                        .modified_ms = 1700000000000 + size,
                        .etag = etag,
                        .blob = blob};
  return o;
}

#define BLOB1 "11111111-1111-4111-8111-111111111111"
#define BLOB2 "22222222-2222-4222-8222-222222222222"

static void test_objects(tw_store *s) {
  const tw_s3_objects_repo *O = tw_store_s3_objects(s);
  const tw_s3_buckets_repo *B = tw_store_s3_buckets(s);
  tw_s3_bucket_row bk = {.name = "objs", .created_ms = 1, .region = "us-east-1"};
  WRITE(s, B->create(s, &bk));

  CASE("objects: a missing key");
  tw_s3_object_row got;
  CHECK_INT_EQ(O->get(s, "objs", "k", 1, &got), 0);
  CHECK(got.etag == NULL && got.owned_ == NULL);
  int64_t size = -7;
  CHECK_INT_EQ(O->size(s, "objs", "k", 1, &size), 0);
  CHECK_INT_EQ(size, -7);
  CHECK_INT_EQ(O->any(s, "objs"), 0);

  CASE("objects: put and get every field");
  static const char key[] = "dir/a\0b\xff"; /* bytes, with a NUL and a 0xFF */
  size_t klen = sizeof key - 1;
  tw_s3_object_row o = obj("objs", key, klen, 1234, "0123456789abcdef0123456789abcdef", BLOB1);
  o.content_type = "text/plain";
  o.headers = "{\"Cache-Control\":\"no-cache\"}";
  o.meta = "{\"color\":\"blue\"}";
  o.checksums = "{\"alg\":\"CRC32\",\"value\":\"AAAAAA==\"}";
  o.tags = "[[\"a\",\"1\"]]";
  WRITE(s, O->put(s, &o));
  CHECK_INT_EQ(O->get(s, "objs", key, klen, &got), 1);
  CHECK_INT_EQ(got.size, 1234);
  CHECK_INT_EQ(got.modified_ms, 1700000000000 + 1234);
  CHECK_STR_EQ(got.etag, o.etag);
  CHECK_STR_EQ(got.blob, BLOB1);
  CHECK_STR_EQ(got.content_type, "text/plain");
  CHECK_STR_EQ(got.headers, o.headers);
  CHECK_STR_EQ(got.meta, o.meta);
  CHECK_STR_EQ(got.checksums, o.checksums);
  CHECK_STR_EQ(got.tags, o.tags);
  tw_s3_object_row_free(&got);
  CHECK(got.owned_ == NULL && got.etag == NULL);
  CHECK_INT_EQ(O->size(s, "objs", key, klen, &size), 1);
  CHECK_INT_EQ(size, 1234);
  CHECK_INT_EQ(O->get(s, "objs", key, klen - 1, &got), 0); /* keys compare as whole bytes */
  CHECK_INT_EQ(O->get(s, "objs", "dir/a", 5, &got), 0);
  CHECK_INT_EQ(O->get(s, "other", key, klen, &got), 0);
  CHECK_INT_EQ(O->any(s, "objs"), 1);
  CHECK_INT_EQ(O->any(s, "other"), 0);

  CASE("objects: put replaces the whole row");
  tw_s3_object_row o2 = obj("objs", key, klen, 5, "ffff", BLOB2);
  WRITE(s, O->put(s, &o2));
  CHECK_INT_EQ(O->get(s, "objs", key, klen, &got), 1);
  CHECK_INT_EQ(got.size, 5);
  CHECK_STR_EQ(got.etag, "ffff");
  CHECK_STR_EQ(got.blob, BLOB2);
  CHECK(got.content_type == NULL && got.headers == NULL && got.meta == NULL &&
        got.checksums == NULL && got.tags == NULL);
  tw_s3_object_row_free(&got);

  CASE("objects: tags change only while the row names the blob");
  WRITE(s, O->set_tags(s, "objs", key, klen, BLOB1, "[[\"stale\",\"x\"]]"));
  CHECK_INT_EQ(O->get(s, "objs", key, klen, &got), 1);
  CHECK(got.tags == NULL);
  tw_s3_object_row_free(&got);
  WRITE(s, O->set_tags(s, "objs", key, klen, BLOB2, "[[\"k\",\"v\"]]"));
  CHECK_INT_EQ(O->get(s, "objs", key, klen, &got), 1);
  CHECK_STR_EQ(got.tags, "[[\"k\",\"v\"]]");
  CHECK_STR_EQ(got.etag, "ffff"); /* the rest of the row stays */
  tw_s3_object_row_free(&got);
  WRITE(s, O->set_tags(s, "objs", key, klen, BLOB2, NULL));
  CHECK_INT_EQ(O->get(s, "objs", key, klen, &got), 1);
  CHECK(got.tags == NULL);
  tw_s3_object_row_free(&got);

  CASE("objects: remove_if_blob leaves a newer row");
  WRITE(s, O->remove_if_blob(s, "objs", key, klen, BLOB1));
  CHECK_INT_EQ(O->size(s, "objs", key, klen, &size), 1);
  WRITE(s, O->remove_if_blob(s, "objs", key, klen, BLOB2));
  CHECK_INT_EQ(O->size(s, "objs", key, klen, &size), 0);

  CASE("objects: remove");
  WRITE(s, O->put(s, &o));
  CHECK_INT_EQ(O->size(s, "objs", key, klen, &size), 1);
  WRITE(s, O->remove(s, "objs", key, klen));
  CHECK_INT_EQ(O->get(s, "objs", key, klen, &got), 0);
  CHECK_INT_EQ(O->any(s, "objs"), 0);
  WRITE(s, O->remove(s, "objs", key, klen)); /* removing nothing is no error */

  CASE("objects: writes under one hold share a batch");
  tw_store_hold(s);
  tw_s3_object_row h1 = obj("objs", "h1", 2, 1, "e1", BLOB1);
  tw_s3_object_row h2 = obj("objs", "h2", 2, 2, "e2", BLOB2);
  uint64_t t1 = O->put(s, &h1), t2 = O->put(s, &h2);
  tw_store_release(s);
  CHECK(t1 > 0 && t1 == t2);
  CHECK(wait_for(s, t2) == 0);
  CHECK_INT_EQ(O->size(s, "objs", "h1", 2, &size), 1);
  CHECK_INT_EQ(O->size(s, "objs", "h2", 2, &size), 1);
  WRITE(s, O->remove(s, "objs", "h1", 2));
  WRITE(s, O->remove(s, "objs", "h2", 2));
}

static void put_keys(tw_store *s, const char *bucket, const char *const *keys, size_t n) {
  const tw_s3_objects_repo *O = tw_store_s3_objects(s);
  uint64_t t = 0;
  for (size_t i = 0; i < n; i++) {
    tw_s3_object_row o = obj(bucket, keys[i], strlen(keys[i]), (int64_t)i, "etag", BLOB1);
    if (i == 1) o.checksums = "{\"alg\":\"CRC64NVME\"}";
    t = O->put(s, &o);
  }
  CHECK(wait_for(s, t) == 0);
}

static void test_list(tw_store *s) {
  const tw_s3_objects_repo *O = tw_store_s3_objects(s);
  static const char *const keys[] = {"b", "a/2", "\xc3\xa9", "a/1", "a", "c", "a/1/x"};
  put_keys(s, "list", keys, sizeof keys / sizeof keys[0]);
  static const char *const other[] = {"a/0", "zz"};
  put_keys(s, "list2", other, 2);

  CASE("list: every key of the bucket, in byte order");
  object_list l = {0};
  CHECK_INT_EQ(O->list(s, "list", NULL, 0, NULL, 0, 100, collect_object, &l), 7);
  CHECK_INT_EQ(l.n, 7);
  static const char *const sorted[] = {"a", "a/1", "a/1/x", "a/2", "b", "c", "\xc3\xa9"};
  for (int i = 0; i < 7; i++) CHECK_STR_EQ(l.keys[i], sorted[i]);
  CHECK_INT_EQ(l.sizes[1], 3); /* "a/1" was put fourth */
  CHECK_STR_EQ(l.etags[0], "etag");
  CHECK_INT_EQ(l.has_sums[3], 1); /* "a/2", put second, has checksums */
  CHECK_INT_EQ(l.has_sums[0], 0);

  CASE("list: strictly after a key");
  object_list a = {0};
  CHECK_INT_EQ(O->list(s, "list", "a/1", 3, NULL, 0, 100, collect_object, &a), 5);
  CHECK_STR_EQ(a.keys[0], "a/1/x");
  CHECK_STR_EQ(a.keys[4], "\xc3\xa9");
  object_list skip = {0}; /* past a common prefix: "a/1" + 0xFF */
  CHECK_INT_EQ(O->list(s, "list", "a/1\xff", 4, NULL, 0, 100, collect_object, &skip), 4);
  CHECK_STR_EQ(skip.keys[0], "a/2");

  CASE("list: from a prefix, and both bounds");
  object_list p = {0};
  CHECK_INT_EQ(O->list(s, "list", NULL, 0, "a/", 2, 100, collect_object, &p),
               6); /* not a prefix filter */
  CHECK_STR_EQ(p.keys[0], "a/1");
  object_list both = {0};
  CHECK_INT_EQ(O->list(s, "list", "a/1/x", 5, "a/", 2, 100, collect_object, &both), 4);
  CHECK_STR_EQ(both.keys[0], "a/2");
  object_list past = {0};
  CHECK_INT_EQ(O->list(s, "list", "b", 1, "a", 1, 100, collect_object, &past), 2);
  CHECK_STR_EQ(past.keys[0], "c");

  CASE("list: a limit, and a callback that stops");
  object_list lim = {0};
  CHECK_INT_EQ(O->list(s, "list", NULL, 0, NULL, 0, 2, collect_object, &lim), 2);
  CHECK_STR_EQ(lim.keys[1], "a/1");
  object_list stop = {.stop_at = 3};
  CHECK_INT_EQ(O->list(s, "list", NULL, 0, NULL, 0, 100, collect_object, &stop), 3);
  CHECK_INT_EQ(stop.n, 3);

  CASE("list: other buckets and the end");
  object_list o2 = {0};
  CHECK_INT_EQ(O->list(s, "list2", NULL, 0, NULL, 0, 100, collect_object, &o2), 2);
  object_list end = {0};
  CHECK_INT_EQ(O->list(s, "list", "\xc3\xa9", 2, NULL, 0, 100, collect_object, &end), 0);
  CHECK_INT_EQ(end.n, 0);
  object_list empty = {0};
  CHECK_INT_EQ(O->list(s, "nosuch", NULL, 0, NULL, 0, 100, collect_object, &empty), 0);
}

/* What was committed is there after the store is closed and opened again. */
static tw_store *test_reopen(tw_store *s, const char *dir) {
  const tw_s3_objects_repo *O = tw_store_s3_objects(s);
  const tw_s3_buckets_repo *B = tw_store_s3_buckets(s);
  tw_s3_bucket_row bk = {.name = "durable", .created_ms = 42, .region = "us-east-1"};
  WRITE(s, B->create(s, &bk));
  WRITE(s, B->set_setting(s, "durable", TW_S3_BUCKET_NOTIFICATION, "[]"));
  tw_s3_object_row o = obj("durable", "k", 1, 99, "e", BLOB1);
  WRITE(s, O->put(s, &o));
  tw_store_close(s);
  s = open_store(dir);
  CASE("reopen: rows outlive the store");
  CHECK(s != NULL);
  if (!s) return NULL;
  CHECK_INT_EQ(B->exists(s, "durable"), 1);
  char *json = NULL;
  CHECK_INT_EQ(B->get_setting(s, "durable", TW_S3_BUCKET_NOTIFICATION, &json), 1);
  CHECK_STR_EQ(json, "[]");
  free(json);
  int64_t size = 0;
  CHECK_INT_EQ(O->size(s, "durable", "k", 1, &size), 1);
  CHECK_INT_EQ(size, 99);
  return s;
}

/* --- versions ----------------------------------------------------------------------- */

typedef struct {
  char vids[16][40];
  int marker[16], latest[16];
  int n;
} version_list;

static int collect_version(void *ud, const tw_s3_object_row *o) {
  version_list *l = ud;
  if (l->n < 16) {
    snprintf(l->vids[l->n], sizeof l->vids[0], "%s", o->version_id ? o->version_id : "null");
    l->marker[l->n] = o->delete_marker;
    l->latest[l->n] = o->is_latest;
  }
  l->n++;
  return 0;
}

static void collect_ref(void *ud, const char *blob) {
  if (!strcmp(blob, "blob-v1")) ++*(int *)ud;
}

static void test_versions(tw_store *s) {
  const tw_s3_objects_repo *O = tw_store_s3_objects(s);
  const tw_s3_buckets_repo *B = tw_store_s3_buckets(s);
  tw_s3_bucket_row bk = {.name = "vers", .created_ms = 1};
  WRITE(s, B->create(s, &bk));
  tw_s3_object_row o = {.bucket = "vers",
                        .key = "k",
                        .key_len = 1,
                        .size = 1,
                        .etag = "e0",
                        .modified_ms = 1000,
                        .blob = "blob-null"};
  CASE("versions: an unversioned row is the null version");
  o.vseq = 1000000;
  WRITE(s, O->put_version(s, &o, TW_S3_VERSIONING_OFF, 1000));
  o.version_id = "v1", o.vseq = 2000000, o.blob = "blob-v1", o.etag = "e1";
  WRITE(s, O->put_version(s, &o, TW_S3_VERSIONING_ENABLED, 2000));
  o.version_id = "v2", o.vseq = 3000000, o.blob = "blob-v2", o.etag = "e2";
  WRITE(s, O->put_version(s, &o, TW_S3_VERSIONING_ENABLED, 3000));
  tw_s3_object_row g;
  CHECK_INT_EQ(O->get(s, "vers", "k", 1, &g), 1);
  CHECK_STR_EQ(g.blob, "blob-v2");
  CHECK_STR_EQ(g.version_id, "v2");
  tw_s3_object_row_free(&g);
  CHECK_INT_EQ(O->get_version(s, "vers", "k", 1, NULL, &g), 1);
  CHECK_STR_EQ(g.blob, "blob-null");
  CHECK_INT_EQ(g.is_latest, 0);
  tw_s3_object_row_free(&g);
  CHECK_INT_EQ(O->get_version(s, "vers", "k", 1, "nope", &g), 0);
  tw_s3_object_row_free(&g);
  int refs = 0;
  CHECK_INT_EQ(tw_store_s3_blob_refs(s, collect_ref, &refs), 0);
  CHECK_INT_EQ(refs, 1); /* a noncurrent version's body is referenced */

  CASE("versions: a delete marker becomes the latest");
  WRITE(s, O->add_marker(s, "vers", "k", 1, "m3", 4000000, 4000, TW_S3_VERSIONING_ENABLED));
  CHECK_INT_EQ(O->get(s, "vers", "k", 1, &g), 0);
  tw_s3_object_row_free(&g);
  CHECK_INT_EQ(O->latest_marker(s, "vers", "k", 1, &g), 1);
  CHECK_STR_EQ(g.version_id, "m3");
  tw_s3_object_row_free(&g);
  version_list l = {0};
  CHECK_INT_EQ(O->list_versions(s, "vers", "", 0, INT64_MAX, "", 0, 100, collect_version, &l), 4);
  CHECK_STR_EQ(l.vids[0], "m3");
  CHECK_STR_EQ(l.vids[1], "v2");
  CHECK_STR_EQ(l.vids[3], "null");
  CHECK(l.marker[0] && l.latest[0] && !l.latest[1] && !l.marker[1]);
  memset(&l, 0, sizeof l); /* after (k, v2's order): v1 and null */
  CHECK_INT_EQ(O->list_versions(s, "vers", "k", 1, 3000000, "", 0, 100, collect_version, &l), 2);
  CHECK_STR_EQ(l.vids[0], "v1");

  CASE("versions: removing the marker brings the newest version back");
  WRITE(s, O->remove_version(s, "vers", "k", 1, "m3"));
  CHECK_INT_EQ(O->get(s, "vers", "k", 1, &g), 1);
  CHECK_STR_EQ(g.version_id, "v2");
  tw_s3_object_row_free(&g);
  WRITE(s, O->remove_version(s, "vers", "k", 1, "v2"));
  CHECK_INT_EQ(O->get(s, "vers", "k", 1, &g), 1);
  CHECK_STR_EQ(g.version_id, "v1");
  tw_s3_object_row_free(&g);

  CASE("versions: Suspended writes replace the null version");
  o.version_id = NULL, o.vseq = 5000000, o.blob = "blob-null2";
  WRITE(s, O->put_version(s, &o, TW_S3_VERSIONING_SUSPENDED, 5000));
  memset(&l, 0, sizeof l);
  CHECK_INT_EQ(O->list_versions(s, "vers", "", 0, INT64_MAX, "", 0, 100, collect_version, &l), 2);
  CHECK_STR_EQ(l.vids[0], "null");
  CHECK_STR_EQ(l.vids[1], "v1");
  CHECK_INT_EQ(O->get_version(s, "vers", "k", 1, NULL, &g), 1);
  CHECK_STR_EQ(g.blob, "blob-null2");
  tw_s3_object_row_free(&g);

  CASE("versions: a bucket with only markers is not empty");
  WRITE(s, O->remove_version(s, "vers", "k", 1, NULL));
  WRITE(s, O->remove_version(s, "vers", "k", 1, "v1"));
  CHECK_INT_EQ(O->any(s, "vers"), 0);
  WRITE(s, O->add_marker(s, "vers", "k", 1, NULL, 6000000, 6000, TW_S3_VERSIONING_SUSPENDED));
  CHECK_INT_EQ(O->any(s, "vers"), 1);
  memset(&l, 0, sizeof l);
  CHECK_INT_EQ(O->list_noncurrent(s, "vers", "", 0, INT64_MIN, "", 0, 100, collect_version, &l), 1);
  CHECK_INT_EQ(l.latest[0], 2); /* the key's only version: an expired delete marker */
}

int main(void) {
  char dir[] = "/tmp/tweedle-test-store-s3-XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  tw_store *s = open_store(dir);
  CASE("open");
  CHECK(s != NULL);
  if (s) {
    test_buckets(s);
    test_objects(s);
    test_list(s);
    test_versions(s);
    s = test_reopen(s, dir);
    tw_store_close(s);
  }
  CASE("commits");
  CHECK_INT_EQ(commits_failed, 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) printf("# could not remove %s\n", dir);
  return tap_done();
}
