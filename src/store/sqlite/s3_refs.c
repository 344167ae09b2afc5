#include "store/s3_refs.h"
#include "store/sqlite/sqlite_internal.h"

#include <sqlite3.h>
#include <stdio.h>

static int one_blob(sqlite3_stmt *st, char blob[37]) {
  int rc = sqlite3_step(st);
  int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
  if (found == 1) {
    const char *b = (const char *)sqlite3_column_text(st, 0);
    snprintf(blob, 37, "%.36s", b ? b : "");
  }
  tw_store_read_done(st);
  return found;
}

int tw_store_s3_object_blob(tw_store *s, const char *bucket, const void *key, size_t klen,
                            char blob[37]) {
  if (tw_store_repos_of(s))
    return tw_store_repos_of(s)->s3_refs->object_blob(s, bucket, key, klen, blob);
  sqlite3_stmt *st = tw_store_read_stmt(s, "SELECT blob FROM objects WHERE bucket=? AND key=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, klen ? key : "", (int)klen, SQLITE_STATIC);
  return one_blob(st, blob);
}

int tw_store_s3_part_blob(tw_store *s, const char *upload, long num, char blob[37]) {
  if (tw_store_repos_of(s)) return tw_store_repos_of(s)->s3_refs->part_blob(s, upload, num, blob);
  sqlite3_stmt *st = tw_store_read_stmt(s, "SELECT blob FROM parts WHERE upload_id=? AND num=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, upload, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, num);
  return one_blob(st, blob);
}

int tw_store_s3_upload_exists(tw_store *s, const char *upload) {
  if (tw_store_repos_of(s)) return tw_store_repos_of(s)->s3_refs->upload_exists(s, upload);
  sqlite3_stmt *st = tw_store_read_stmt(s, "SELECT 1 FROM uploads WHERE id=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, upload, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  tw_store_read_done(st);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int tw_store_s3_upload_parts(tw_store *s, const char *upload,
                             void (*fn)(void *ud, long num, const char *blob), void *ud) {
  if (tw_store_repos_of(s)) return tw_store_repos_of(s)->s3_refs->upload_parts(s, upload, fn, ud);
  sqlite3_stmt *st = tw_store_read_stmt(s, "SELECT num, blob FROM parts WHERE upload_id=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, upload, -1, SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *b = (const char *)sqlite3_column_text(st, 1);
    if (b) fn(ud, (long)sqlite3_column_int64(st, 0), b);
  }
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

int tw_store_s3_blob_refs(tw_store *s, void (*fn)(void *ud, const char *blob), void *ud) {
  if (tw_store_repos_of(s)) return tw_store_repos_of(s)->s3_refs->blob_refs(s, fn, ud);
  /* one statement: one snapshot of both tables */
  sqlite3_stmt *st = tw_store_read_stmt(s,
                                        "SELECT blob FROM objects WHERE blob IS NOT NULL UNION ALL "
                                        "SELECT blob FROM object_versions WHERE blob IS NOT NULL "
                                        "UNION ALL "
                                        "SELECT blob FROM parts WHERE blob IS NOT NULL");
  if (!st) return -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *b = (const char *)sqlite3_column_text(st, 0);
    if (b) fn(ud, b);
  }
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? 0 : -1;
}
