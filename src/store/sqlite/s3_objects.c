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
  tw_sql_val v[] = {TW_SQL_S(o->bucket),       TW_SQL_B(o->key, o->key_len),
                    TW_SQL_I(o->size),         TW_SQL_S(o->etag),
                    TW_SQL_I(o->modified_ms),  TW_SQL_S(o->blob),
                    TW_SQL_S(o->content_type), TW_SQL_S(o->headers),
                    TW_SQL_S(o->meta),         TW_SQL_S(o->checksums),
                    TW_SQL_S(o->tags)};
  return tw_store_exec(s,
                       "INSERT OR REPLACE INTO objects(bucket, key, size, etag, modified_ms, "
                       "blob, content_type, headers, meta, checksums, tags) "
                       "VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                       v, 11);
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
  return tw_store_exec(s, "UPDATE objects SET tags=? WHERE bucket=? AND key=? AND blob=?", v, 4);
}

/* GET and HEAD: a statement kept prepared on this thread's reader. The row's
 * strings are copied into one block. */
static int get(tw_store *s, const char *bucket, const void *key, size_t klen, tw_s3_object_row *o) {
  memset(o, 0, sizeof *o);
  sqlite3_stmt *st =
      tw_store_read_stmt(s,
                         "SELECT size, etag, modified_ms, blob, content_type, headers, "
                         "meta, checksums, tags FROM objects WHERE bucket=? AND key=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  bind_key(st, 2, key, klen);
  int found = step_found(st);
  if (found == 1) {
    static const int text_cols[] = {1, 3, 4, 5, 6, 7, 8};
    enum { NTEXT = sizeof text_cols / sizeof text_cols[0] };
    const char *v[NTEXT];
    size_t len[NTEXT], total = 0;
    for (int i = 0; i < NTEXT; i++) {
      v[i] = (const char *)sqlite3_column_text(st, text_cols[i]);
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
    }
  }
  tw_store_read_done(st);
  return found;
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
  sqlite3_stmt *st = tw_store_read_stmt(s, "SELECT 1 FROM objects WHERE bucket=? LIMIT 1");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  int found = step_found(st);
  tw_store_read_done(st);
  return found;
}

static int list(tw_store *s, const char *bucket, const void *after, size_t after_len,
                const void *from, size_t from_len, int limit,
                int (*fn)(void *ud, const tw_s3_object_row *o), void *ud) {
  sqlite3_stmt *st =
      tw_store_read_stmt(s,
                         "SELECT key, size, etag, modified_ms, checksums FROM objects "
                         "WHERE bucket=? AND key > ? AND key >= ? ORDER BY key LIMIT ?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  bind_key(st, 2, after, after_len);
  bind_key(st, 3, from, from_len);
  sqlite3_bind_int(st, 4, limit);
  int rows = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    rows++;
    const char *k = sqlite3_column_blob(st, 0);
    tw_s3_object_row o = {.bucket = bucket,
                          .key = k ? k : "",
                          .key_len = (size_t)sqlite3_column_bytes(st, 0),
                          .size = sqlite3_column_int64(st, 1),
                          .etag = (const char *)sqlite3_column_text(st, 2),
                          .modified_ms = sqlite3_column_int64(st, 3),
                          .checksums = (const char *)sqlite3_column_text(st, 4)};
    if (!o.etag) o.etag = "";
    if (fn(ud, &o)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? rows : -1;
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
    .get = get,
    .size = size,
    .any = any,
    .list = list,
    .totals = totals,
};

const tw_s3_objects_repo *tw_store_s3_objects(tw_store *s) {
  (void)s;
  return &repo;
}
