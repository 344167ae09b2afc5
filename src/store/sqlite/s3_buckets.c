/* The S3 buckets repository on SQLite: the buckets table, one row a bucket
 * with its settings as JSON columns. */
#include "store/s3_buckets.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/sqlite/sqlite_internal.h"

static uint64_t create(tw_store *s, const tw_s3_bucket_row *b) {
  tw_sql_val v[] = {TW_SQL_S(b->name), TW_SQL_I(b->created_ms), TW_SQL_S(b->region),
                    TW_SQL_S(b->owner && *b->owner ? b->owner : NULL)};
  return tw_store_exec(
      s, "INSERT OR IGNORE INTO buckets(name, created_ms, region, owner) VALUES(?,?,?,?)", v, 4);
}

static uint64_t remove_bucket(tw_store *s, const char *name) {
  tw_sql_val v[] = {TW_SQL_S(name)};
  return tw_store_exec(s, "DELETE FROM buckets WHERE name=?", v, 1);
}

static uint64_t set_setting(tw_store *s, const char *name, tw_s3_bucket_setting which,
                            const char *json) {
  tw_sql_val v[] = {TW_SQL_S(json), TW_SQL_S(name)};
  const char *sql; /* a literal per column: the writer caches statements by address */
  switch (which) {
    case TW_S3_BUCKET_NOTIFICATION:
      sql = "UPDATE buckets SET notification=? WHERE name=?";
      break;
    case TW_S3_BUCKET_LIFECYCLE:
      sql = "UPDATE buckets SET lifecycle=? WHERE name=?";
      break;
    case TW_S3_BUCKET_CORS:
      sql = "UPDATE buckets SET cors=? WHERE name=?";
      break;
    case TW_S3_BUCKET_POLICY:
      sql = "UPDATE buckets SET policy=? WHERE name=?";
      break;
    case TW_S3_BUCKET_TAGS:
      sql = "UPDATE buckets SET tags=? WHERE name=?";
      break;
    case TW_S3_BUCKET_VERSIONING:
      sql = "UPDATE buckets SET versioning=? WHERE name=?";
      break;
    case TW_S3_BUCKET_PUBLIC_ACCESS_BLOCK:
      sql = "UPDATE buckets SET public_access_block=? WHERE name=?";
      break;
    case TW_S3_BUCKET_OWNERSHIP:
      sql = "UPDATE buckets SET ownership=? WHERE name=?";
      break;
    case TW_S3_BUCKET_ACL:
      sql = "UPDATE buckets SET acl=? WHERE name=?";
      break;
    case TW_S3_BUCKET_OWNER:
      sql = "UPDATE buckets SET owner=? WHERE name=?";
      break;
    default:
      return 0;
  }
  return tw_store_exec(s, sql, v, 2);
}

static int step_found(sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int exists(tw_store *s, const char *name) {
  sqlite3_stmt *st = tw_store_read_stmt(s, "SELECT 1 FROM buckets WHERE name=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int found = step_found(st);
  tw_store_read_done(st);
  return found;
}

/* A statement prepared for this call only (reads made once: start-up, rare
 * requests), finalized by the caller. */
static sqlite3_stmt *prepare(tw_store *s, const char *sql) {
  sqlite3 *db = tw_store_reader(s);
  sqlite3_stmt *st = NULL;
  if (!db || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    tw_error("store: cannot read the buckets table: %s", db ? sqlite3_errmsg(db) : "no reader");
    sqlite3_finalize(st);
    return NULL;
  }
  return st;
}

static int list(tw_store *s, int (*fn)(void *ud, const tw_s3_bucket_row *b), void *ud) {
  sqlite3_stmt *st =
      prepare(s, "SELECT name, created_ms, region, owner FROM buckets ORDER BY name");
  if (!st) return -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    tw_s3_bucket_row b = {.name = (const char *)sqlite3_column_text(st, 0),
                          .created_ms = sqlite3_column_int64(st, 1),
                          .region = (const char *)sqlite3_column_text(st, 2),
                          .owner = (const char *)sqlite3_column_text(st, 3)};
    if (!b.name) continue;
    if (fn(ud, &b)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static int get_setting(tw_store *s, const char *name, tw_s3_bucket_setting which, char **json) {
  *json = NULL;
  const char *sql;
  switch (which) {
    case TW_S3_BUCKET_NOTIFICATION:
      sql = "SELECT notification FROM buckets WHERE name=?";
      break;
    case TW_S3_BUCKET_LIFECYCLE:
      sql = "SELECT lifecycle FROM buckets WHERE name=?";
      break;
    case TW_S3_BUCKET_CORS:
      sql = "SELECT cors FROM buckets WHERE name=?";
      break;
    case TW_S3_BUCKET_POLICY:
      sql = "SELECT policy FROM buckets WHERE name=?";
      break;
    case TW_S3_BUCKET_TAGS:
      sql = "SELECT tags FROM buckets WHERE name=?";
      break;
    case TW_S3_BUCKET_VERSIONING:
      sql = "SELECT versioning FROM buckets WHERE name=?";
      break;
    case TW_S3_BUCKET_PUBLIC_ACCESS_BLOCK:
      sql = "SELECT public_access_block FROM buckets WHERE name=?";
      break;
    case TW_S3_BUCKET_OWNERSHIP:
      sql = "SELECT ownership FROM buckets WHERE name=?";
      break;
    case TW_S3_BUCKET_ACL:
      sql = "SELECT acl FROM buckets WHERE name=?";
      break;
    case TW_S3_BUCKET_OWNER:
      sql = "SELECT owner FROM buckets WHERE name=?";
      break;
    default:
      return -1;
  }
  sqlite3_stmt *st = tw_store_read_stmt(s, sql);
  if (!st) return -1;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int found = step_found(st);
  if (found == 1) {
    const char *v = (const char *)sqlite3_column_text(st, 0);
    if (v && !(*json = strdup(v))) found = -1;
  }
  tw_store_read_done(st);
  return found;
}

static int each_setting(tw_store *s, tw_s3_bucket_setting which,
                        int (*fn)(void *ud, const char *name, const char *json), void *ud) {
  const char *sql;
  switch (which) {
    case TW_S3_BUCKET_NOTIFICATION:
      sql = "SELECT name, notification FROM buckets WHERE notification IS NOT NULL";
      break;
    case TW_S3_BUCKET_LIFECYCLE:
      sql = "SELECT name, lifecycle FROM buckets WHERE lifecycle IS NOT NULL";
      break;
    case TW_S3_BUCKET_CORS:
      sql = "SELECT name, cors FROM buckets WHERE cors IS NOT NULL";
      break;
    case TW_S3_BUCKET_POLICY:
      sql = "SELECT name, policy FROM buckets WHERE policy IS NOT NULL";
      break;
    case TW_S3_BUCKET_TAGS:
      sql = "SELECT name, tags FROM buckets WHERE tags IS NOT NULL";
      break;
    case TW_S3_BUCKET_VERSIONING:
      sql = "SELECT name, versioning FROM buckets WHERE versioning IS NOT NULL";
      break;
    case TW_S3_BUCKET_PUBLIC_ACCESS_BLOCK:
      sql = "SELECT name, public_access_block FROM buckets WHERE public_access_block IS NOT NULL";
      break;
    case TW_S3_BUCKET_OWNERSHIP:
      sql = "SELECT name, ownership FROM buckets WHERE ownership IS NOT NULL";
      break;
    case TW_S3_BUCKET_ACL:
      sql = "SELECT name, acl FROM buckets WHERE acl IS NOT NULL";
      break;
    case TW_S3_BUCKET_OWNER:
      sql = "SELECT name, owner FROM buckets WHERE owner IS NOT NULL";
      break;
    default:
      return -1;
  }
  sqlite3_stmt *st = prepare(s, sql);
  if (!st) return -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    if (fn(ud, (const char *)sqlite3_column_text(st, 0),
           (const char *)sqlite3_column_text(st, 1))) {
      rc = SQLITE_DONE;
      break;
    }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static const tw_s3_buckets_repo repo = {
    .create = create,
    .remove = remove_bucket,
    .set_setting = set_setting,
    .exists = exists,
    .list = list,
    .get_setting = get_setting,
    .each_setting = each_setting,
};

const tw_s3_buckets_repo *tw_store_s3_buckets(tw_store *s) {
  const tw_store_repos *other = tw_store_repos_of(s); /* another backend's (backend.h) */
  return other ? other->s3_buckets : &repo;
}
