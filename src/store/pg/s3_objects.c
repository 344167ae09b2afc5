/* The S3 objects repository on PostgreSQL: the latest version of a key in
 * s3_objects, every other version and every delete marker in
 * s3_object_versions (as the SQLite repository keeps them); keys are bytea. */
#include <stdlib.h>
#include <string.h>

#include "store/pg/pg_s3_internal.h"

static uint64_t later(uint64_t a, uint64_t b) {
  return a > b ? a : b;
}

static uint64_t put(tw_store *s, const tw_s3_object_row *o) {
  tw_sql_val v[] = {TW_SQL_S(o->bucket),
                    TW_SQL_B(o->key, o->key_len),
                    TW_SQL_I(o->size),
                    TW_SQL_S(o->etag),
                    TW_SQL_I(o->modified_ms),
                    TW_SQL_S(o->blob),
                    TW_SQL_S(o->content_type),
                    TW_SQL_S(o->headers),
                    TW_SQL_S(o->meta),
                    TW_SQL_S(o->checksums),
                    TW_SQL_S(o->tags),
                    TW_SQL_S(o->version_id),
                    o->vseq ? TW_SQL_I(o->vseq) : TW_SQL_S(NULL),
                    TW_SQL_S(o->acl)};
  /* replaces the whole row, the part layout of an earlier upload included */
  return tw_store_exec(
      s,
      "INSERT INTO s3_objects (bucket, key, size, etag, modified_ms, blob, content_type, headers, "
      "meta, checksums, tags, version_id, vseq, acl) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::bigint, $14) "
      "ON CONFLICT (bucket, key) DO UPDATE SET size = EXCLUDED.size, etag = EXCLUDED.etag, "
      "modified_ms = EXCLUDED.modified_ms, blob = EXCLUDED.blob, content_type = "
      "EXCLUDED.content_type, headers = EXCLUDED.headers, meta = EXCLUDED.meta, checksums = "
      "EXCLUDED.checksums, parts = NULL, tags = EXCLUDED.tags, mpu_parts = NULL, version_id = "
      "EXCLUDED.version_id, vseq = EXCLUDED.vseq, acl = EXCLUDED.acl",
      v, 14);
}

/* The latest object becomes noncurrent (only_versioned: unless it is the null
 * version), then every version of the key is marked noncurrent since now. */
static uint64_t archive_latest(tw_store *s, const char *bucket, const void *key, size_t klen,
                               int only_versioned, int64_t now_ms) {
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen), TW_SQL_I(only_versioned)};
  uint64_t t = tw_store_exec(
      s,
      "INSERT INTO s3_object_versions (bucket, key, vseq, version_id, marker, size, etag, "
      "modified_ms, blob, content_type, headers, meta, checksums, parts, tags, mpu_parts, acl) "
      "SELECT bucket, key, coalesce(vseq, modified_ms * 1000), version_id, 0, size, etag, "
      "modified_ms, blob, content_type, headers, meta, checksums, parts, tags, mpu_parts, acl "
      "FROM s3_objects WHERE bucket = $1 AND key = $2 AND ($3::int = 0 OR version_id IS NOT "
      "NULL) ON CONFLICT (bucket, key, vseq) DO UPDATE SET version_id = EXCLUDED.version_id, "
      "marker = 0, size = EXCLUDED.size, etag = EXCLUDED.etag, modified_ms = "
      "EXCLUDED.modified_ms, blob = EXCLUDED.blob, content_type = EXCLUDED.content_type, "
      "headers = EXCLUDED.headers, meta = EXCLUDED.meta, checksums = EXCLUDED.checksums, parts = "
      "EXCLUDED.parts, tags = EXCLUDED.tags, mpu_parts = EXCLUDED.mpu_parts, noncurrent_ms = "
      "NULL, acl = EXCLUDED.acl",
      v, 3);
  tw_sql_val w[] = {TW_SQL_I(now_ms), TW_SQL_S(bucket), TW_SQL_B(key, klen)};
  return later(t, tw_store_exec(s,
                                "UPDATE s3_object_versions SET noncurrent_ms = $1 WHERE bucket = "
                                "$2 AND key = $3 AND noncurrent_ms IS NULL",
                                w, 3));
}

/* Suspended writes replace the null version, wherever it is. */
static uint64_t drop_null(tw_store *s, const char *bucket, const void *key, size_t klen) {
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen)};
  uint64_t t = tw_store_exec(s,
                             "DELETE FROM s3_object_versions WHERE bucket = $1 AND key = $2 AND "
                             "version_id IS NULL",
                             v, 2);
  return later(t, tw_store_exec(s,
                                "DELETE FROM s3_objects WHERE bucket = $1 AND key = $2 AND "
                                "version_id IS NULL",
                                v, 2));
}

static uint64_t put_version(tw_store *s, const tw_s3_object_row *o, int mode, int64_t now_ms) {
  tw_store_hold(s);
  uint64_t t = 0;
  if (mode != TW_S3_VERSIONING_OFF) {
    t = archive_latest(s, o->bucket, o->key, o->key_len, mode == TW_S3_VERSIONING_SUSPENDED,
                       now_ms);
    if (mode == TW_S3_VERSIONING_SUSPENDED)
      t = later(t, drop_null(s, o->bucket, o->key, o->key_len));
  }
  t = later(t, put(s, o));
  tw_store_release(s);
  return t;
}

static uint64_t add_marker(tw_store *s, const char *bucket, const void *key, size_t klen,
                           const char *version_id, int64_t vseq, int64_t now_ms, int mode) {
  tw_store_hold(s);
  uint64_t t = archive_latest(s, bucket, key, klen, mode == TW_S3_VERSIONING_SUSPENDED, now_ms);
  if (mode == TW_S3_VERSIONING_SUSPENDED) t = later(t, drop_null(s, bucket, key, klen));
  tw_sql_val d[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen)};
  t = later(t, tw_store_exec(s, "DELETE FROM s3_objects WHERE bucket = $1 AND key = $2", d, 2));
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen), TW_SQL_I(vseq), TW_SQL_S(version_id),
                    TW_SQL_I(now_ms)};
  t = later(t, tw_store_exec(
                   s,
                   "INSERT INTO s3_object_versions (bucket, key, vseq, version_id, marker, size, "
                   "modified_ms) VALUES ($1, $2, $3, $4, 1, 0, $5) ON CONFLICT (bucket, key, "
                   "vseq) DO UPDATE SET version_id = EXCLUDED.version_id, marker = 1, size = 0, "
                   "etag = NULL, modified_ms = EXCLUDED.modified_ms, blob = NULL, content_type = "
                   "NULL, headers = NULL, meta = NULL, checksums = NULL, parts = NULL, tags = "
                   "NULL, mpu_parts = NULL, noncurrent_ms = NULL, acl = NULL",
                   v, 5));
  tw_store_release(s);
  return t;
}

static uint64_t remove_version(tw_store *s, const char *bucket, const void *key, size_t klen,
                               const char *version_id) {
  tw_store_hold(s);
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen), TW_SQL_S(version_id)};
  uint64_t t = tw_store_exec(s,
                             "DELETE FROM s3_objects WHERE bucket = $1 AND key = $2 AND "
                             "version_id IS NOT DISTINCT FROM $3::text",
                             v, 3);
  t = later(t, tw_store_exec(s,
                             "DELETE FROM s3_object_versions WHERE bucket = $1 AND key = $2 AND "
                             "version_id IS NOT DISTINCT FROM $3::text",
                             v, 3));
  /* the newest remaining version becomes the latest: an object moves back to
   * s3_objects, a marker stays where it is, now current */
  tw_sql_val k[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen)};
  t = later(t, tw_store_exec(
                   s,
                   "INSERT INTO s3_objects (bucket, key, size, etag, modified_ms, blob, "
                   "content_type, headers, meta, checksums, parts, tags, mpu_parts, version_id, "
                   "vseq, acl) SELECT bucket, key, size, etag, modified_ms, blob, content_type, "
                   "headers, meta, checksums, parts, tags, mpu_parts, version_id, vseq, acl "
                   "FROM s3_object_versions WHERE bucket = $1 AND key = $2 AND marker = 0 AND "
                   "vseq = (SELECT max(vseq) FROM s3_object_versions WHERE bucket = $1 AND key = "
                   "$2) AND NOT EXISTS (SELECT 1 FROM s3_objects WHERE bucket = $1 AND key = $2)",
                   k, 2));
  t = later(t, tw_store_exec(s,
                             "DELETE FROM s3_object_versions WHERE bucket = $1 AND key = $2 AND "
                             "vseq = (SELECT vseq FROM s3_objects WHERE bucket = $1 AND key = $2)",
                             k, 2));
  t = later(t, tw_store_exec(
                   s,
                   "UPDATE s3_object_versions SET noncurrent_ms = NULL WHERE bucket = $1 AND key "
                   "= $2 AND marker = 1 AND vseq = (SELECT max(vseq) FROM s3_object_versions "
                   "WHERE bucket = $1 AND key = $2) AND NOT EXISTS (SELECT 1 FROM s3_objects "
                   "WHERE bucket = $1 AND key = $2)",
                   k, 2));
  tw_store_release(s);
  return t;
}

static uint64_t remove_object(tw_store *s, const char *bucket, const void *key, size_t klen) {
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen)};
  return tw_store_exec(s, "DELETE FROM s3_objects WHERE bucket = $1 AND key = $2", v, 2);
}

static uint64_t remove_if_blob(tw_store *s, const char *bucket, const void *key, size_t klen,
                               const char *blob) {
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen), TW_SQL_S(blob)};
  return tw_store_exec(s, "DELETE FROM s3_objects WHERE bucket = $1 AND key = $2 AND blob = $3", v,
                       3);
}

static uint64_t set_tags(tw_store *s, const char *bucket, const void *key, size_t klen,
                         const char *blob, const char *tags_json) {
  tw_sql_val v[] = {TW_SQL_S(tags_json), TW_SQL_S(bucket), TW_SQL_B(key, klen), TW_SQL_S(blob)};
  tw_store_hold(s);
  uint64_t t = tw_store_exec(
      s, "UPDATE s3_objects SET tags = $1 WHERE bucket = $2 AND key = $3 AND blob = $4", v, 4);
  t = later(t, tw_store_exec(s,
                             "UPDATE s3_object_versions SET tags = $1 WHERE bucket = $2 AND key = "
                             "$3 AND blob = $4",
                             v, 4));
  tw_store_release(s);
  return t;
}

static uint64_t set_acl(tw_store *s, const char *bucket, const void *key, size_t klen,
                        const char *blob, const char *acl_json) {
  tw_sql_val v[] = {TW_SQL_S(acl_json), TW_SQL_S(bucket), TW_SQL_B(key, klen), TW_SQL_S(blob)};
  tw_store_hold(s);
  uint64_t t = tw_store_exec(
      s, "UPDATE s3_objects SET acl = $1 WHERE bucket = $2 AND key = $3 AND blob = $4", v, 4);
  t = later(t, tw_store_exec(s,
                             "UPDATE s3_object_versions SET acl = $1 WHERE bucket = $2 AND key = "
                             "$3 AND blob = $4",
                             v, 4));
  tw_store_release(s);
  return t;
}

/* Row `i` of r, columns (size, etag, modified_ms, blob, content_type, headers,
 * meta, checksums, tags, version_id, vseq, marker, latest, acl), into o; its
 * strings in one block (o->owned_). 1, or -1. */
static int copy_row(const PGresult *r, int i, tw_s3_object_row *o) {
  static const int text_cols[] = {1, 3, 4, 5, 6, 7, 8, 9, 13};
  enum { NTEXT = sizeof text_cols / sizeof text_cols[0] };
  size_t total = 0;
  for (int c = 0; c < NTEXT; c++)
    if (!PQgetisnull(r, i, text_cols[c])) total += (size_t)PQgetlength(r, i, text_cols[c]) + 1;
  char *mem = malloc(total ? total : 1), *p = mem;
  if (!mem) return -1;
  const char *out[NTEXT];
  for (int c = 0; c < NTEXT; c++) {
    out[c] = NULL;
    if (PQgetisnull(r, i, text_cols[c])) continue;
    size_t n = (size_t)PQgetlength(r, i, text_cols[c]);
    memcpy(p, PQgetvalue(r, i, text_cols[c]), n);
    p[n] = 0;
    out[c] = p;
    p += n + 1;
  }
  o->owned_ = mem;
  o->size = tw_pg_i64(r, i, 0);
  o->modified_ms = tw_pg_i64(r, i, 2);
  o->etag = out[0] ? out[0] : "";
  o->blob = out[1] ? out[1] : "";
  o->content_type = out[2];
  o->headers = out[3];
  o->meta = out[4];
  o->checksums = out[5];
  o->tags = out[6];
  o->version_id = out[7];
  o->acl = out[8];
  o->vseq = tw_pg_i64(r, i, 10);
  o->delete_marker = (int)tw_pg_i64(r, i, 11);
  o->is_latest = (int)tw_pg_i64(r, i, 12);
  return 1;
}

static int one_row(PGresult *r, tw_s3_object_row *o) {
  if (!r) return -1;
  int found = PQntuples(r) > 0 ? copy_row(r, 0, o) : 0;
  PQclear(r);
  return found;
}

static int get(tw_store *s, const char *bucket, const void *key, size_t klen, tw_s3_object_row *o) {
  memset(o, 0, sizeof *o);
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen)};
  return one_row(
      tw_pg_s3_read(s,
                    "SELECT size, etag, modified_ms, blob, content_type, headers, meta, "
                    "checksums, tags, version_id, coalesce(vseq, modified_ms * 1000), 0, 1, acl "
                    "FROM s3_objects WHERE bucket = $1 AND key = $2",
                    v, 2),
      o);
}

static int get_version(tw_store *s, const char *bucket, const void *key, size_t klen,
                       const char *version_id, tw_s3_object_row *o) {
  memset(o, 0, sizeof *o);
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen), TW_SQL_S(version_id)};
  return one_row(
      tw_pg_s3_read(
          s,
          "SELECT size, etag, modified_ms, blob, content_type, headers, meta, checksums, tags, "
          "version_id, coalesce(vseq, modified_ms * 1000), 0, 1, acl FROM s3_objects "
          "WHERE bucket = $1 AND key = $2 AND version_id IS NOT DISTINCT FROM $3::text "
          "UNION ALL SELECT size, etag, modified_ms, blob, content_type, headers, meta, "
          "checksums, tags, version_id, vseq, marker, (noncurrent_ms IS NULL)::int, acl "
          "FROM s3_object_versions WHERE bucket = $1 AND key = $2 AND version_id IS NOT "
          "DISTINCT FROM $3::text LIMIT 1",
          v, 3),
      o);
}

static int latest_marker(tw_store *s, const char *bucket, const void *key, size_t klen,
                         tw_s3_object_row *o) {
  memset(o, 0, sizeof *o);
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen)};
  return one_row(
      tw_pg_s3_read(s,
                    "SELECT size, etag, modified_ms, blob, content_type, headers, meta, "
                    "checksums, tags, version_id, vseq, marker, 1, acl FROM s3_object_versions "
                    "WHERE bucket = $1 AND key = $2 AND marker = 1 AND noncurrent_ms IS NULL AND "
                    "NOT EXISTS (SELECT 1 FROM s3_objects WHERE bucket = $1 AND key = $2) "
                    "ORDER BY vseq DESC LIMIT 1",
                    v, 2),
      o);
}

/* Gives each row of r (column 0: the key), its other columns set by read, to
 * fn until fn returns nonzero. The rows given, or -1. */
static int each_row(PGresult *r, const char *bucket,
                    void (*read)(const PGresult *r, int i, tw_s3_object_row *o),
                    int (*fn)(void *ud, const tw_s3_object_row *o), void *ud) {
  if (!r) return -1;
  int rows = 0;
  for (int i = 0; i < PQntuples(r); i++) {
    size_t kn = 0;
    unsigned char *k = tw_pg_s3_bytes(r, i, 0, &kn);
    if (!k) {
      rows = -1;
      break;
    }
    rows++;
    tw_s3_object_row o = {.bucket = bucket, .key = (const char *)k, .key_len = kn};
    read(r, i, &o);
    if (!o.etag) o.etag = "";
    int stop = fn(ud, &o);
    free(k);
    if (stop) break;
  }
  PQclear(r);
  return rows;
}

/* Columns (key, vseq, version_id, marker, size, etag, modified_ms,
 * checksums, latest, blob, tags, noncurrent_ms, acl). */
static void read_version(const PGresult *r, int i, tw_s3_object_row *o) {
  o->vseq = tw_pg_i64(r, i, 1);
  o->version_id = tw_pg_s3_text(r, i, 2);
  o->delete_marker = (int)tw_pg_i64(r, i, 3);
  o->size = tw_pg_i64(r, i, 4);
  o->etag = tw_pg_s3_text(r, i, 5);
  o->modified_ms = tw_pg_i64(r, i, 6);
  o->checksums = tw_pg_s3_text(r, i, 7);
  o->is_latest = (int)tw_pg_i64(r, i, 8);
  o->blob = tw_pg_s3_text(r, i, 9);
  o->tags = tw_pg_s3_text(r, i, 10);
  o->noncurrent_ms = tw_pg_i64(r, i, 11);
  o->acl = tw_pg_s3_text(r, i, 12);
}

/* list_versions and list_noncurrent: sql's rows are read_version's, its
 * parameters $1 bucket, $2 after, $3 after_vseq, $4 from, $5 limit. */
static int each_version(tw_store *s, const char *sql, const char *bucket, const void *after,
                        size_t after_len, int64_t after_vseq, const void *from, size_t from_len,
                        int limit, int (*fn)(void *ud, const tw_s3_object_row *o), void *ud) {
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(after ? after : "", after_len), TW_SQL_I(after_vseq),
                    TW_SQL_B(from ? from : "", from_len), TW_SQL_I(limit)};
  return each_row(tw_pg_s3_read(s, sql, v, 5), bucket, read_version, fn, ud);
}

static int list_versions(tw_store *s, const char *bucket, const void *after, size_t after_len,
                         int64_t after_vseq, const void *from, size_t from_len, int limit,
                         int (*fn)(void *ud, const tw_s3_object_row *o), void *ud) {
  return each_version(
      s,
      "SELECT * FROM ((SELECT key, coalesce(vseq, modified_ms * 1000) AS vs, version_id, "
      "0 AS marker, size, etag, modified_ms, checksums, 1 AS latest, blob, tags, 0::bigint AS nc, "
      "acl FROM s3_objects WHERE bucket = $1 AND key >= $4 AND key >= $2 AND "
      "(key > $2 OR coalesce(vseq, modified_ms * 1000) < $3) ORDER BY key LIMIT $5) UNION ALL "
      "(SELECT key, vseq AS vs, version_id, marker, size, etag, modified_ms, checksums, "
      "(noncurrent_ms IS NULL)::int AS latest, blob, tags, noncurrent_ms AS nc, acl "
      "FROM s3_object_versions WHERE bucket = $1 AND key >= $4 AND key >= $2 AND "
      "(key > $2 OR vseq < $3) ORDER BY key, vseq DESC LIMIT $5)) u ORDER BY 1, 2 DESC LIMIT $5",
      bucket, after, after_len, after_vseq, from, from_len, limit, fn, ud);
}

static int list_noncurrent(tw_store *s, const char *bucket, const void *after, size_t after_len,
                           int64_t after_vseq, const void *from, size_t from_len, int limit,
                           int (*fn)(void *ud, const tw_s3_object_row *o), void *ud) {
  return each_version(
      s,
      "SELECT key, vseq, version_id, marker, size, etag, modified_ms, checksums, "
      "CASE WHEN noncurrent_ms IS NOT NULL THEN 0 WHEN NOT EXISTS (SELECT 1 FROM "
      "s3_object_versions w WHERE w.bucket = v.bucket AND w.key = v.key AND w.vseq <> v.vseq) "
      "THEN 2 ELSE 1 END, blob, tags, coalesce(noncurrent_ms, 0), acl FROM s3_object_versions v "
      "WHERE bucket = $1 AND key >= $4 AND key >= $2 AND (key > $2 OR vseq < $3) "
      "ORDER BY key, vseq DESC LIMIT $5",
      bucket, after, after_len, after_vseq, from, from_len, limit, fn, ud);
}

static int size(tw_store *s, const char *bucket, const void *key, size_t klen, int64_t *out) {
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen)};
  PGresult *r =
      tw_pg_s3_read(s, "SELECT size FROM s3_objects WHERE bucket = $1 AND key = $2", v, 2);
  if (!r) return -1;
  int found = PQntuples(r) > 0;
  if (found) *out = tw_pg_i64(r, 0, 0);
  PQclear(r);
  return found;
}

static int any(tw_store *s, const char *bucket) {
  tw_sql_val v[] = {TW_SQL_S(bucket)};
  PGresult *r = tw_pg_s3_read(s,
                              "SELECT 1 FROM s3_objects WHERE bucket = $1 UNION ALL SELECT 1 "
                              "FROM s3_object_versions WHERE bucket = $1 LIMIT 1",
                              v, 1);
  if (!r) return -1;
  int found = PQntuples(r) > 0;
  PQclear(r);
  return found;
}

/* Columns (key, size, etag, modified_ms, checksums, acl). */
static void read_listed(const PGresult *r, int i, tw_s3_object_row *o) {
  o->size = tw_pg_i64(r, i, 1);
  o->etag = tw_pg_s3_text(r, i, 2);
  o->modified_ms = tw_pg_i64(r, i, 3);
  o->checksums = tw_pg_s3_text(r, i, 4);
  o->acl = tw_pg_s3_text(r, i, 5);
}

static int list(tw_store *s, const char *bucket, const void *after, size_t after_len,
                const void *from, size_t from_len, int limit,
                int (*fn)(void *ud, const tw_s3_object_row *o), void *ud) {
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(after ? after : "", after_len),
                    TW_SQL_B(from ? from : "", from_len), TW_SQL_I(limit)};
  return each_row(tw_pg_s3_read(s,
                                "SELECT key, size, etag, modified_ms, checksums, acl FROM "
                                "s3_objects WHERE bucket = $1 AND key > $2 AND key >= $3 "
                                "ORDER BY key LIMIT $4",
                                v, 4),
                  bucket, read_listed, fn, ud);
}

static int totals(tw_store *s, const char *bucket, int64_t *count, int64_t *bytes) {
  tw_sql_val v[] = {TW_SQL_S(bucket)};
  PGresult *r = tw_pg_s3_read(
      s, "SELECT count(*), coalesce(sum(size), 0) FROM s3_objects WHERE bucket = $1", v, 1);
  if (!r) return -1;
  *count = tw_pg_i64(r, 0, 0);
  *bytes = tw_pg_i64(r, 0, 1);
  PQclear(r);
  return 0;
}

const tw_s3_objects_repo tw_pg_s3_objects_repo = {
    .put = put,
    .remove = remove_object,
    .remove_if_blob = remove_if_blob,
    .set_tags = set_tags,
    .set_acl = set_acl,
    .put_version = put_version,
    .add_marker = add_marker,
    .remove_version = remove_version,
    .get = get,
    .get_version = get_version,
    .latest_marker = latest_marker,
    .list_versions = list_versions,
    .list_noncurrent = list_noncurrent,
    .size = size,
    .any = any,
    .list = list,
    .totals = totals,
};
