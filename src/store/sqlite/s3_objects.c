/* The S3 objects repository on SQLite: the objects table, one row a key,
 * keys as BLOBs (so they sort and compare as bytes). */
#include "store/s3_objects.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite/sqlite_internal.h"

void tw_s3_object_row_free(tw_s3_object_row *o) {
  free(o->owned_);
  memset(o, 0, sizeof *o);
}

/* a zero-length key is an empty BLOB, not NULL */
static void bind_key(sqlite3_stmt *st, int i, const void *key, size_t klen) {
  sqlite3_bind_blob(st, i, klen ? key : "", (int)klen, SQLITE_STATIC);
}

static int step_found(sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
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
  return tw_store_exec(s,
                       "INSERT OR REPLACE INTO objects(bucket, key, size, etag, modified_ms, "
                       "blob, content_type, headers, meta, checksums, tags, version_id, vseq, acl) "
                       "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       v, 14);
}

/* --- versions: the latest object stays in objects; every other version and
 * every delete marker is a row of object_versions --------------------------- */

static uint64_t later(uint64_t a, uint64_t b) {
  return a > b ? a : b;
}

/* The latest object becomes noncurrent (only_versioned: unless it is the null
 * version), then every version of the key is marked noncurrent since now. */
static uint64_t archive_latest(tw_store *s, const char *bucket, const void *key, size_t klen,
                               int only_versioned, int64_t now_ms) {
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen), TW_SQL_I(only_versioned)};
  uint64_t t = tw_store_exec(
      s,
      "INSERT OR REPLACE INTO object_versions(bucket, key, vseq, version_id, marker, size, etag, "
      "modified_ms, blob, content_type, headers, meta, checksums, parts, tags, mpu_parts, acl) "
      "SELECT bucket, key, coalesce(vseq, modified_ms*1000), version_id, 0, size, etag, "
      "modified_ms, blob, content_type, headers, meta, checksums, parts, tags, mpu_parts, acl "
      "FROM objects WHERE bucket=?1 AND key=?2 AND (?3=0 OR version_id IS NOT NULL)",
      v, 3);
  tw_sql_val w[] = {TW_SQL_I(now_ms), TW_SQL_S(bucket), TW_SQL_B(key, klen)};
  t = later(t, tw_store_exec(s,
                             "UPDATE object_versions SET noncurrent_ms=? WHERE bucket=? AND "
                             "key=? AND noncurrent_ms IS NULL",
                             w, 3));
  return t;
}

/* Suspended writes replace the null version, wherever it is. */
static uint64_t drop_null(tw_store *s, const char *bucket, const void *key, size_t klen) {
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen)};
  uint64_t t = tw_store_exec(
      s, "DELETE FROM object_versions WHERE bucket=? AND key=? AND version_id IS NULL", v, 2);
  return later(
      t, tw_store_exec(s, "DELETE FROM objects WHERE bucket=? AND key=? AND version_id IS NULL", v,
                       2));
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
  t = later(t, tw_store_exec(s, "DELETE FROM objects WHERE bucket=? AND key=?", d, 2));
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen), TW_SQL_I(vseq), TW_SQL_S(version_id),
                    TW_SQL_I(now_ms)};
  t = later(t, tw_store_exec(s,
                             "INSERT OR REPLACE INTO object_versions(bucket, key, vseq, "
                             "version_id, marker, size, modified_ms) VALUES(?,?,?,?,1,0,?)",
                             v, 5));
  tw_store_release(s);
  return t;
}

static uint64_t remove_version(tw_store *s, const char *bucket, const void *key, size_t klen,
                               const char *version_id) {
  tw_store_hold(s);
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen), TW_SQL_S(version_id)};
  uint64_t t =
      tw_store_exec(s, "DELETE FROM objects WHERE bucket=? AND key=? AND version_id IS ?", v, 3);
  t = later(
      t, tw_store_exec(
             s, "DELETE FROM object_versions WHERE bucket=? AND key=? AND version_id IS ?", v, 3));
  /* the newest remaining version becomes the latest: an object moves back to
   * objects, a marker stays where it is, now current */
  tw_sql_val k[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen)};
  t = later(t, tw_store_exec(
                   s,
                   "INSERT INTO objects(bucket, key, size, etag, modified_ms, blob, content_type, "
                   "headers, meta, checksums, parts, tags, mpu_parts, version_id, vseq, acl) "
                   "SELECT bucket, key, size, etag, modified_ms, blob, content_type, headers, "
                   "meta, checksums, parts, tags, mpu_parts, version_id, vseq, acl "
                   "FROM object_versions WHERE bucket=?1 AND key=?2 AND marker=0 AND "
                   "vseq=(SELECT max(vseq) FROM object_versions WHERE bucket=?1 AND key=?2) AND "
                   "NOT EXISTS(SELECT 1 FROM objects WHERE bucket=?1 AND key=?2)",
                   k, 2));
  t = later(t, tw_store_exec(s,
                             "DELETE FROM object_versions WHERE bucket=?1 AND key=?2 AND "
                             "vseq=(SELECT vseq FROM objects WHERE bucket=?1 AND key=?2)",
                             k, 2));
  t = later(t, tw_store_exec(
                   s,
                   "UPDATE object_versions SET noncurrent_ms=NULL WHERE bucket=?1 AND key=?2 AND "
                   "marker=1 AND vseq=(SELECT max(vseq) FROM object_versions WHERE bucket=?1 "
                   "AND key=?2) AND NOT EXISTS(SELECT 1 FROM objects WHERE bucket=?1 AND key=?2)",
                   k, 2));
  tw_store_release(s);
  return t;
}

static uint64_t remove_object(tw_store *s, const char *bucket, const void *key, size_t klen) {
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen)};
  return tw_store_exec(s, "DELETE FROM objects WHERE bucket=? AND key=?", v, 2);
}

static uint64_t remove_if_blob(tw_store *s, const char *bucket, const void *key, size_t klen,
                               const char *blob) {
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(key, klen), TW_SQL_S(blob)};
  return tw_store_exec(s, "DELETE FROM objects WHERE bucket=? AND key=? AND blob=?", v, 3);
}

static uint64_t set_tags(tw_store *s, const char *bucket, const void *key, size_t klen,
                         const char *blob, const char *tags_json) {
  tw_sql_val v[] = {TW_SQL_S(tags_json), TW_SQL_S(bucket), TW_SQL_B(key, klen), TW_SQL_S(blob)};
  tw_store_hold(s);
  uint64_t t =
      tw_store_exec(s, "UPDATE objects SET tags=? WHERE bucket=? AND key=? AND blob=?", v, 4);
  uint64_t t2 = tw_store_exec(
      s, "UPDATE object_versions SET tags=? WHERE bucket=? AND key=? AND blob=?", v, 4);
  tw_store_release(s);
  return t2 > t ? t2 : t;
}

static uint64_t set_acl(tw_store *s, const char *bucket, const void *key, size_t klen,
                        const char *blob, const char *acl_json) {
  tw_sql_val v[] = {TW_SQL_S(acl_json), TW_SQL_S(bucket), TW_SQL_B(key, klen), TW_SQL_S(blob)};
  tw_store_hold(s);
  uint64_t t =
      tw_store_exec(s, "UPDATE objects SET acl=? WHERE bucket=? AND key=? AND blob=?", v, 4);
  uint64_t t2 = tw_store_exec(
      s, "UPDATE object_versions SET acl=? WHERE bucket=? AND key=? AND blob=?", v, 4);
  tw_store_release(s);
  return t2 > t ? t2 : t;
}

/* Copies a row's columns (size, etag, modified_ms, blob, content_type,
 * headers, meta, checksums, tags, version_id, vseq, marker, latest; the last
 * four optional: ncols 9 or 13; acl the 14th) into o, its strings into one block. */
static int copy_row(sqlite3_stmt *st, int ncols, tw_s3_object_row *o) {
  int found = 1;
  {
    static const int text_cols[] = {1, 3, 4, 5, 6, 7, 8, 9, 13};
    enum { NTEXT = sizeof text_cols / sizeof text_cols[0] };
    const char *v[NTEXT];
    size_t len[NTEXT], total = 0;
    for (int i = 0; i < NTEXT; i++) {
      v[i] = text_cols[i] < ncols ? (const char *)sqlite3_column_text(st, text_cols[i]) : NULL;
      len[i] = v[i] ? (size_t)sqlite3_column_bytes(st, text_cols[i]) : 0;
      total += v[i] ? len[i] + 1 : 0;
    }
    char *mem = malloc(total ? total : 1), *p = mem;
    const char *out[NTEXT];
    if (!mem) {
      found = -1;
    } else {
      for (int i = 0; i < NTEXT; i++) {
        out[i] = NULL;
        if (!v[i]) continue;
        memcpy(p, v[i], len[i]);
        p[len[i]] = 0;
        out[i] = p;
        p += len[i] + 1;
      }
      o->owned_ = mem;
      o->size = sqlite3_column_int64(st, 0);
      o->modified_ms = sqlite3_column_int64(st, 2);
      o->etag = out[0] ? out[0] : "";
      o->blob = out[1] ? out[1] : "";
      o->content_type = out[2];
      o->headers = out[3];
      o->meta = out[4];
      o->checksums = out[5];
      o->tags = out[6];
      o->version_id = out[7];
      o->acl = out[8];
      if (ncols > 9) {
        o->vseq = sqlite3_column_int64(st, 10);
        o->delete_marker = sqlite3_column_int(st, 11);
        o->is_latest = sqlite3_column_int(st, 12);
      }
    }
  }
  return found;
}

/* GET and HEAD: a statement kept prepared on this thread's reader. The row's
 * strings are copied into one block. */
static int get(tw_store *s, const char *bucket, const void *key, size_t klen, tw_s3_object_row *o) {
  memset(o, 0, sizeof *o);
  sqlite3_stmt *st = tw_store_read_stmt(
      s,
      "SELECT size, etag, modified_ms, blob, content_type, headers, meta, checksums, tags, "
      "version_id, coalesce(vseq, modified_ms*1000), 0, 1, acl FROM objects WHERE bucket=? AND "
      "key=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  bind_key(st, 2, key, klen);
  int found = step_found(st);
  if (found == 1) found = copy_row(st, 14, o);
  tw_store_read_done(st);
  return found;
}

static int get_version(tw_store *s, const char *bucket, const void *key, size_t klen,
                       const char *version_id, tw_s3_object_row *o) {
  memset(o, 0, sizeof *o);
  sqlite3_stmt *st = tw_store_read_stmt(
      s,
      "SELECT size, etag, modified_ms, blob, content_type, headers, meta, checksums, tags, "
      "version_id, coalesce(vseq, modified_ms*1000), 0, 1, acl FROM objects "
      "WHERE bucket=?1 AND key=?2 AND version_id IS ?3 UNION ALL "
      "SELECT size, etag, modified_ms, blob, content_type, headers, meta, checksums, tags, "
      "version_id, vseq, marker, noncurrent_ms IS NULL, acl FROM object_versions "
      "WHERE bucket=?1 AND key=?2 AND version_id IS ?3 LIMIT 1");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  bind_key(st, 2, key, klen);
  if (version_id)
    sqlite3_bind_text(st, 3, version_id, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 3);
  int found = step_found(st);
  if (found == 1) found = copy_row(st, 14, o);
  tw_store_read_done(st);
  return found;
}

static int latest_marker(tw_store *s, const char *bucket, const void *key, size_t klen,
                         tw_s3_object_row *o) {
  memset(o, 0, sizeof *o);
  sqlite3_stmt *st = tw_store_read_stmt(
      s,
      "SELECT size, etag, modified_ms, blob, content_type, headers, meta, checksums, tags, "
      "version_id, vseq, marker, 1, acl FROM object_versions "
      "WHERE bucket=?1 AND key=?2 AND marker=1 AND noncurrent_ms IS NULL AND "
      "NOT EXISTS(SELECT 1 FROM objects WHERE bucket=?1 AND key=?2) "
      "ORDER BY vseq DESC LIMIT 1");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  bind_key(st, 2, key, klen);
  int found = step_found(st);
  if (found == 1) found = copy_row(st, 14, o);
  tw_store_read_done(st);
  return found;
}

/* Steps st (column 0: the key), giving each row, its other columns set by
 * read, to fn until fn returns 1; ends the read. The rows read, or -1. */
static int each_row(sqlite3_stmt *st, const char *bucket,
                    void (*read)(sqlite3_stmt *st, tw_s3_object_row *o),
                    int (*fn)(void *ud, const tw_s3_object_row *o), void *ud) {
  int rows = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    rows++;
    const char *k = sqlite3_column_blob(st, 0);
    tw_s3_object_row o = {
        .bucket = bucket, .key = k ? k : "", .key_len = (size_t)sqlite3_column_bytes(st, 0)};
    read(st, &o);
    if (!o.etag) o.etag = "";
    if (fn(ud, &o)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? rows : -1;
}

/* Columns (key, vseq, version_id, marker, size, etag, modified_ms,
 * checksums, latest, blob, tags, noncurrent_ms, acl). */
static void read_version(sqlite3_stmt *st, tw_s3_object_row *o) {
  o->vseq = sqlite3_column_int64(st, 1);
  o->version_id = (const char *)sqlite3_column_text(st, 2);
  o->delete_marker = sqlite3_column_int(st, 3);
  o->size = sqlite3_column_int64(st, 4);
  o->etag = (const char *)sqlite3_column_text(st, 5);
  o->modified_ms = sqlite3_column_int64(st, 6);
  o->checksums = (const char *)sqlite3_column_text(st, 7);
  o->is_latest = sqlite3_column_int(st, 8);
  o->blob = (const char *)sqlite3_column_text(st, 9);
  o->tags = (const char *)sqlite3_column_text(st, 10);
  o->noncurrent_ms = sqlite3_column_int64(st, 11);
  o->acl = (const char *)sqlite3_column_text(st, 12);
}

/* list_versions and list_noncurrent: sql's rows are read_version's, its
 * parameters ?1 bucket, ?2 after, ?3 after_vseq, ?4 from, ?5 limit. */
static int each_version(tw_store *s, const char *sql, const char *bucket, const void *after,
                        size_t after_len, int64_t after_vseq, const void *from, size_t from_len,
                        int limit, int (*fn)(void *ud, const tw_s3_object_row *o), void *ud) {
  sqlite3_stmt *st = tw_store_read_stmt(s, sql);
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  bind_key(st, 2, after, after_len);
  sqlite3_bind_int64(st, 3, after_vseq);
  bind_key(st, 4, from, from_len);
  sqlite3_bind_int(st, 5, limit);
  return each_row(st, bucket, read_version, fn, ud);
}

static int list_versions(tw_store *s, const char *bucket, const void *after, size_t after_len,
                         int64_t after_vseq, const void *from, size_t from_len, int limit,
                         int (*fn)(void *ud, const tw_s3_object_row *o), void *ud) {
  return each_version(
      s,
      /* each side ordered and limited on its own, then merged: a page reads
       * at most 2 x limit rows wherever it starts */
      "SELECT * FROM (SELECT key, coalesce(vseq, modified_ms*1000) AS vs, version_id, "
      "0 AS marker, size, etag, modified_ms, checksums, 1 AS latest, blob, tags, 0 AS nc, acl "
      "FROM objects WHERE bucket=?1 AND key >= ?4 AND key >= ?2 AND "
      "(key > ?2 OR coalesce(vseq, modified_ms*1000) < ?3) ORDER BY key LIMIT ?5) UNION ALL "
      "SELECT * FROM (SELECT key, vseq AS vs, version_id, marker, size, etag, modified_ms, "
      "checksums, noncurrent_ms IS NULL AS latest, blob, tags, noncurrent_ms AS nc, acl "
      "FROM object_versions WHERE bucket=?1 AND key >= ?4 AND key >= ?2 AND "
      "(key > ?2 OR vseq < ?3) ORDER BY key, vseq DESC LIMIT ?5) ORDER BY 1, 2 DESC LIMIT ?5",
      bucket, after, after_len, after_vseq, from, from_len, limit, fn, ud);
}

static int list_noncurrent(tw_store *s, const char *bucket, const void *after, size_t after_len,
                           int64_t after_vseq, const void *from, size_t from_len, int limit,
                           int (*fn)(void *ud, const tw_s3_object_row *o), void *ud) {
  return each_version(
      s,
      "SELECT key, vseq, version_id, marker, size, etag, modified_ms, checksums, "
      "CASE WHEN noncurrent_ms IS NOT NULL THEN 0 WHEN NOT EXISTS(SELECT 1 FROM object_versions "
      "w WHERE w.bucket=v.bucket AND w.key=v.key AND w.vseq<>v.vseq) THEN 2 ELSE 1 END, blob, "
      "tags, coalesce(noncurrent_ms, 0), acl FROM object_versions v WHERE bucket=?1 AND key >= ?4 "
      "AND key >= ?2 AND (key > ?2 OR vseq < ?3) ORDER BY key, vseq DESC LIMIT ?5",
      bucket, after, after_len, after_vseq, from, from_len, limit, fn, ud);
}

static int size(tw_store *s, const char *bucket, const void *key, size_t klen, int64_t *out) {
  sqlite3_stmt *st = tw_store_read_stmt(s, "SELECT size FROM objects WHERE bucket=? AND key=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  bind_key(st, 2, key, klen);
  int found = step_found(st);
  if (found == 1) *out = sqlite3_column_int64(st, 0);
  tw_store_read_done(st);
  return found;
}

static int any(tw_store *s, const char *bucket) {
  sqlite3_stmt *st = tw_store_read_stmt(s,
                                        "SELECT 1 FROM objects WHERE bucket=?1 UNION ALL "
                                        "SELECT 1 FROM object_versions WHERE bucket=?1 LIMIT 1");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  int found = step_found(st);
  tw_store_read_done(st);
  return found;
}

/* Columns (key, size, etag, modified_ms, checksums, acl). */
static void read_listed(sqlite3_stmt *st, tw_s3_object_row *o) {
  o->size = sqlite3_column_int64(st, 1);
  o->etag = (const char *)sqlite3_column_text(st, 2);
  o->modified_ms = sqlite3_column_int64(st, 3);
  o->checksums = (const char *)sqlite3_column_text(st, 4);
  o->acl = (const char *)sqlite3_column_text(st, 5);
}

static int list(tw_store *s, const char *bucket, const void *after, size_t after_len,
                const void *from, size_t from_len, int limit,
                int (*fn)(void *ud, const tw_s3_object_row *o), void *ud) {
  sqlite3_stmt *st =
      tw_store_read_stmt(s,
                         "SELECT key, size, etag, modified_ms, checksums, acl FROM objects "
                         "WHERE bucket=? AND key > ? AND key >= ? ORDER BY key LIMIT ?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  bind_key(st, 2, after, after_len);
  bind_key(st, 3, from, from_len);
  sqlite3_bind_int(st, 4, limit);
  return each_row(st, bucket, read_listed, fn, ud);
}

static int totals(tw_store *s, const char *bucket, int64_t *count, int64_t *bytes) {
  sqlite3_stmt *st =
      tw_store_read_stmt(s, "SELECT count(*), coalesce(sum(size),0) FROM objects WHERE bucket=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *count = sqlite3_column_int64(st, 0);
    *bytes = sqlite3_column_int64(st, 1);
  }
  tw_store_read_done(st);
  return rc == SQLITE_ROW ? 0 : -1;
}

static const tw_s3_objects_repo repo = {
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

const tw_s3_objects_repo *tw_store_s3_objects(tw_store *s) {
  const tw_store_repos *other = tw_store_repos_of(s); /* another backend's (backend.h) */
  return other ? other->s3_objects : &repo;
}
