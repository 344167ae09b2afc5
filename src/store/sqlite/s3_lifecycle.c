/* The S3 lifecycle sweeper's scans (store/s3_lifecycle.h)
 * on SQLite. A scan with a prefix walks the primary key (bucket, key) from the
 * prefix; one without walks objects_age (bucket, modified_ms); uploads walk
 * the key range of the prefix, oldest first. */
#include "store/s3_lifecycle.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite/sqlite_internal.h"

static const char SQL_BY_KEY[] =
    "SELECT key, size, modified_ms, blob, tags FROM objects WHERE bucket=?1 AND key>=?2 AND "
    "key<?3 AND +modified_ms<=?4 ORDER BY key LIMIT ?5";
static const char SQL_BY_AGE[] =
    "SELECT key, size, modified_ms, blob, tags FROM objects WHERE bucket=?1 AND modified_ms<=?2 "
    "AND (modified_ms, key)>(?3, ?4) ORDER BY modified_ms, key LIMIT ?5";
static const char SQL_UPLOADS[] =
    "SELECT id FROM uploads WHERE bucket=?1 AND initiated_ms<=?2 AND key>=?3 AND key<?4 "
    "ORDER BY initiated_ms LIMIT ?5";

/* The smallest key greater than every key that starts with p ("\xff" for ""):
 * keys are UTF-8, which never holds the byte 0xff. */
static size_t prefix_end(const char *p, char *out, size_t cap) {
  size_t n = strlen(p);
  if (n + 1 > cap) n = cap - 1;
  memcpy(out, p, n);
  while (n && (unsigned char)out[n - 1] == 0xff) n--;
  if (!n) {
    out[0] = (char)0xff;
    return 1;
  }
  out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
  return n;
}

static int scan_objects(sqlite3_stmt *st, tw_s3_lc_object_fn fn, void *ud) {
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *key = sqlite3_column_blob(st, 0);
    const char *blob = (const char *)sqlite3_column_text(st, 3);
    tw_s3_lc_object o = {.key = key ? key : "",
                         .klen = (size_t)sqlite3_column_bytes(st, 0),
                         .size = sqlite3_column_int64(st, 1),
                         .modified_ms = sqlite3_column_int64(st, 2),
                         .blob = blob ? blob : "",
                         .tags = (const char *)sqlite3_column_text(st, 4)};
    if (fn(ud, &o)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static int objects_by_prefix(tw_store *s, const char *bucket, const char *prefix,
                             const void *after_key, size_t after_klen, int64_t cutoff_ms, int limit,
                             tw_s3_lc_object_fn fn, void *ud) {
  sqlite3_stmt *st = tw_store_read_stmt(s, SQL_BY_KEY);
  if (!st) return -1;
  char end[1100];
  size_t endn = prefix_end(prefix, end, sizeof end);
  /* from the prefix, or just after the cursor (cursor + "\0") once it is past it */
  size_t pl = strlen(prefix), m = after_klen < pl ? after_klen : pl;
  int past = after_key && (memcmp(after_key, prefix, m) > 0 ||
                           (!memcmp(after_key, prefix, m) && after_klen >= pl));
  size_t fromn = past ? after_klen + 1 : pl;
  char *from = calloc(1, fromn + 1);
  if (!from) {
    tw_store_read_done(st);
    return -1;
  }
  if (past)
    memcpy(from, after_key, after_klen);
  else
    memcpy(from, prefix, pl);
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, from, (int)fromn, SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, end, (int)endn, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, cutoff_ms);
  sqlite3_bind_int(st, 5, limit);
  int rc = scan_objects(st, fn, ud);
  free(from);
  return rc;
}

static int objects_by_age(tw_store *s, const char *bucket, int64_t cutoff_ms, int64_t after_ms,
                          const void *after_key, size_t after_klen, int limit,
                          tw_s3_lc_object_fn fn, void *ud) {
  sqlite3_stmt *st = tw_store_read_stmt(s, SQL_BY_AGE);
  if (!st) return -1;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, cutoff_ms);
  sqlite3_bind_int64(st, 3, after_ms);
  /* a copy: the caller may move its cursor (after_key) as rows come */
  sqlite3_bind_blob(st, 4, after_key ? after_key : "", after_key ? (int)after_klen : 0,
                    SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 5, limit);
  return scan_objects(st, fn, ud);
}

static int uploads_by_prefix(tw_store *s, const char *bucket, const char *prefix, int64_t cutoff_ms,
                             int limit, int (*fn)(void *ud, const char *upload), void *ud) {
  sqlite3_stmt *st = tw_store_read_stmt(s, SQL_UPLOADS);
  if (!st) return -1;
  const char *p = prefix ? prefix : "";
  char end[1100];
  size_t endn = prefix_end(p, end, sizeof end);
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, cutoff_ms);
  sqlite3_bind_blob(st, 3, p, (int)strlen(p), SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, end, (int)endn, SQLITE_STATIC);
  sqlite3_bind_int(st, 5, limit);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    if (id && fn(ud, id)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  tw_store_read_done(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static const tw_s3_lifecycle_repo repo = {
    .objects_by_prefix = objects_by_prefix,
    .objects_by_age = objects_by_age,
    .uploads_by_prefix = uploads_by_prefix,
};

const tw_s3_lifecycle_repo *tw_store_s3_lifecycle(tw_store *s) {
  const tw_store_repos *other = tw_store_repos_of(s); /* another backend's (backend.h) */
  return other ? other->s3_lifecycle : &repo;
}
