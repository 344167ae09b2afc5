/* The S3 uploads repository (store/s3_uploads.h) on SQLite: tables uploads
 * and parts (schema.c), and the layout columns of objects. */
#include "store/s3_uploads.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite/sqlite_internal.h"

void tw_s3_upload_free(tw_s3_upload *u) {
  if (!u) return;
  free((void *)u->id);
  free((void *)u->bucket);
  free((void *)u->key);
  free((void *)u->content_type);
  free((void *)u->headers);
  free((void *)u->meta);
  free((void *)u->tags);
  free((void *)u->checksum_algo);
  free((void *)u->checksum_type);
  memset(u, 0, sizeof *u);
}

void tw_s3_upload_done_free(tw_s3_upload_done *d) {
  if (!d) return;
  free((void *)d->id);
  free((void *)d->bucket);
  free((void *)d->key);
  free((void *)d->parts);
  free((void *)d->result);
  memset(d, 0, sizeof *d);
}

static char *dup_col(sqlite3_stmt *st, int i) {
  const char *v = (const char *)sqlite3_column_text(st, i);
  return v ? strdup(v) : NULL;
}

/* --- writes -------------------------------------------------------------------------- */

static uint64_t create(tw_store *s, const tw_s3_upload *u) {
  tw_sql_val v[] = {TW_SQL_S(u->id),
                    TW_SQL_S(u->bucket),
                    TW_SQL_B(u->key ? u->key : "", u->key_len),
                    TW_SQL_I(u->initiated_ms),
                    TW_SQL_S(u->content_type),
                    TW_SQL_S(u->headers),
                    TW_SQL_S(u->meta),
                    TW_SQL_S(u->tags),
                    TW_SQL_S(u->checksum_algo),
                    TW_SQL_S(u->checksum_type)};
  return tw_store_exec(s,
                       "INSERT INTO uploads(id, bucket, key, initiated_ms, content_type, "
                       "headers, meta, tags, checksum_algo, checksum_type) "
                       "VALUES(?,?,?,?,?,?,?,?,?,?)",
                       v, 10);
}

static uint64_t put_part(tw_store *s, const char *upload, const tw_s3_part_row *p) {
  tw_sql_val v[] = {TW_SQL_S(upload),     TW_SQL_I(p->num),  TW_SQL_I(p->size),
                    TW_SQL_S(p->etag),    TW_SQL_S(p->blob), TW_SQL_I(p->modified_ms),
                    TW_SQL_S(p->checksum)};
  return tw_store_exec(s,
                       "INSERT OR REPLACE INTO parts(upload_id, num, size, etag, blob, "
                       "modified_ms, checksum) VALUES(?,?,?,?,?,?,?)",
                       v, 7);
}

static uint64_t remove_upload(tw_store *s, const char *upload) {
  tw_sql_val v[] = {TW_SQL_S(upload)};
  tw_store_hold(s); /* both in one batch */
  uint64_t t1 = tw_store_exec(s, "DELETE FROM parts WHERE upload_id=?", v, 1);
  uint64_t t2 = tw_store_exec(s, "DELETE FROM uploads WHERE id=?", v, 1);
  tw_store_release(s);
  return t1 && t2 ? t2 : 0;
}

static uint64_t set_object_layout(tw_store *s, const char *bucket, const void *key, size_t klen,
                                  long parts, const char *layout_json) {
  tw_sql_val v[] = {TW_SQL_I((int64_t)parts), TW_SQL_S(layout_json), TW_SQL_S(bucket),
                    TW_SQL_B(klen ? (const char *)key : "", klen)};
  return tw_store_exec(s, "UPDATE objects SET parts=?, mpu_parts=? WHERE bucket=? AND key=?", v, 4);
}

static uint64_t record_done(tw_store *s, const tw_s3_upload_done *d, int64_t forget_before_ms) {
  tw_sql_val old[] = {TW_SQL_I(forget_before_ms)};
  tw_sql_val v[] = {
      TW_SQL_S(d->id),    TW_SQL_S(d->bucket), TW_SQL_B(d->key ? d->key : "", d->key_len),
      TW_SQL_S(d->parts), TW_SQL_S(d->result), TW_SQL_I(d->done_ms)};
  tw_store_hold(s); /* both in one batch */
  uint64_t t1 = tw_store_exec(s, "DELETE FROM uploads_done WHERE done_ms<?", old, 1);
  uint64_t t2 = tw_store_exec(s,
                              "INSERT OR REPLACE INTO uploads_done(id, bucket, key, parts, "
                              "result, done_ms) VALUES(?,?,?,?,?,?)",
                              v, 6);
  tw_store_release(s);
  return t1 && t2 ? t2 : 0;
}

/* --- reads ----------------------------------------------------------------------------- */

static int get(tw_store *s, const char *upload, tw_s3_upload *u) {
  memset(u, 0, sizeof *u);
  sqlite3_stmt *st =
      tw_store_read_stmt(s,
                         "SELECT bucket, key, initiated_ms, content_type, headers, meta, "
                         "tags, checksum_algo, checksum_type FROM uploads WHERE id=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, upload, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st), found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
  if (found == 1) {
    size_t kn = (size_t)sqlite3_column_bytes(st, 1);
    const void *k = sqlite3_column_blob(st, 1);
    char *key = malloc(kn + 1);
    if (key) {
      if (kn) memcpy(key, k, kn);
      key[kn] = 0;
    }
    u->id = strdup(upload);
    u->bucket = dup_col(st, 0);
    u->key = key;
    u->key_len = kn;
    u->initiated_ms = sqlite3_column_int64(st, 2);
    u->content_type = dup_col(st, 3);
    u->headers = dup_col(st, 4);
    u->meta = dup_col(st, 5);
    u->tags = dup_col(st, 6);
    u->checksum_algo = dup_col(st, 7);
    u->checksum_type = dup_col(st, 8);
    if (!u->id || !u->bucket || !key) {
      tw_s3_upload_free(u);
      found = -1;
    }
  }
  tw_store_read_done(st);
  return found;
}

static int list(tw_store *s, const char *bucket, const char *prefix, const void *key_after,
                size_t after_len, int (*fn)(void *ud, const tw_s3_upload *u), void *ud) {
  sqlite3_stmt *st =
      tw_store_read_stmt(s,
                         "SELECT id, key, initiated_ms, checksum_algo, checksum_type FROM "
                         "uploads WHERE bucket=? AND key > ? ORDER BY key, initiated_ms");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, key_after && after_len ? key_after : "",
                    (int)(key_after ? after_len : 0), SQLITE_STATIC);
  size_t pn = prefix ? strlen(prefix) : 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *k = sqlite3_column_blob(st, 1);
    size_t kn = (size_t)sqlite3_column_bytes(st, 1);
    if (pn && (kn < pn || memcmp(k, prefix, pn))) continue;
    tw_s3_upload u = {.id = (const char *)sqlite3_column_text(st, 0),
                      .bucket = bucket,
                      .key = k ? k : "",
                      .key_len = kn,
                      .initiated_ms = sqlite3_column_int64(st, 2),
                      .checksum_algo = (const char *)sqlite3_column_text(st, 3),
                      .checksum_type = (const char *)sqlite3_column_text(st, 4)};
    if (!u.id) u.id = "";
    if (fn(ud, &u)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static int list_parts(tw_store *s, const char *upload, long after,
                      int (*fn)(void *ud, const tw_s3_part_row *p), void *ud) {
  sqlite3_stmt *st = tw_store_read_stmt(s,
                                        "SELECT num, size, etag, blob, modified_ms, checksum "
                                        "FROM parts WHERE upload_id=? AND num>? ORDER BY num");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, upload, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, after);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *etag = (const char *)sqlite3_column_text(st, 2);
    const char *blob = (const char *)sqlite3_column_text(st, 3);
    tw_s3_part_row p = {.num = (long)sqlite3_column_int64(st, 0),
                        .size = sqlite3_column_int64(st, 1),
                        .etag = etag ? etag : "",
                        .blob = blob ? blob : "",
                        .modified_ms = sqlite3_column_int64(st, 4),
                        .checksum = (const char *)sqlite3_column_text(st, 5)};
    if (fn(ud, &p)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static int get_done(tw_store *s, const char *upload, tw_s3_upload_done *d) {
  memset(d, 0, sizeof *d);
  sqlite3_stmt *st = tw_store_read_stmt(
      s, "SELECT bucket, key, parts, result, done_ms FROM uploads_done WHERE id=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, upload, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st), found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
  if (found == 1) {
    size_t kn = (size_t)sqlite3_column_bytes(st, 1);
    const void *k = sqlite3_column_blob(st, 1);
    char *key = malloc(kn + 1);
    if (key) {
      if (kn) memcpy(key, k, kn);
      key[kn] = 0;
    }
    d->id = strdup(upload);
    d->bucket = dup_col(st, 0);
    d->key = key;
    d->key_len = kn;
    d->parts = dup_col(st, 2);
    d->result = dup_col(st, 3);
    d->done_ms = sqlite3_column_int64(st, 4);
    if (!d->id || !d->bucket || !key || !d->parts || !d->result) {
      tw_s3_upload_done_free(d);
      found = -1;
    }
  }
  tw_store_read_done(st);
  return found;
}

static int object_layout(tw_store *s, const char *bucket, const void *key, size_t klen,
                         const char *blob, char **layout_json) {
  *layout_json = NULL;
  sqlite3_stmt *st =
      tw_store_read_stmt(s,
                         "SELECT mpu_parts FROM objects WHERE bucket=?1 AND key=?2 AND blob=?3"
                         " UNION ALL SELECT mpu_parts FROM object_versions WHERE bucket=?1 AND"
                         " key=?2 AND blob=?3 LIMIT 1");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, klen ? key : "", (int)klen, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, blob, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st), found = rc == SQLITE_DONE ? 0 : rc == SQLITE_ROW ? 0 : -1;
  if (rc == SQLITE_ROW && sqlite3_column_text(st, 0)) {
    *layout_json = strdup((const char *)sqlite3_column_text(st, 0));
    found = *layout_json ? 1 : -1;
  }
  tw_store_read_done(st);
  return found;
}

static const tw_s3_uploads_repo repo = {
    .create = create,
    .put_part = put_part,
    .remove = remove_upload,
    .set_object_layout = set_object_layout,
    .record_done = record_done,
    .get = get,
    .list = list,
    .list_parts = list_parts,
    .get_done = get_done,
    .object_layout = object_layout,
};

const tw_s3_uploads_repo *tw_store_s3_uploads(tw_store *s) {
  const tw_store_repos *other = tw_store_repos_of(s); /* another backend's (backend.h) */
  return other ? other->s3_uploads : &repo;
}
