/* The S3 buckets repository on PostgreSQL: table s3_buckets, one row a bucket
 * with its settings as text columns. Every settings change notifies the
 * other nodes (tw_s3) in its own batch, so their caches reload it, and a
 * change of a setting nodes cache gives the row a new settings_ver (from a
 * sequence, so a bucket deleted and created again never repeats one): a node
 * that reads a newer version than the one it cached reloads the bucket first
 * (pg_s3_settings.h, src/s3/s3_cluster.c). */
#include <stdlib.h>
#include <string.h>

#include "store/pg/pg_s3_internal.h"
#include "store/pg_s3.h"
#include "store/pg_s3_settings.h"

/* Added to the S3 tables (run after tw_pg_s3_schema, pg.c). */
const char *const tw_pg_s3_settings_schema =
    "CREATE SEQUENCE IF NOT EXISTS s3_settings_ver;"
    "ALTER TABLE s3_buckets ADD COLUMN IF NOT EXISTS settings_ver bigint NOT NULL"
    " DEFAULT nextval('s3_settings_ver');";

static uint64_t later(uint64_t a, uint64_t b) {
  return a > b ? a : b;
}

static uint64_t create(tw_store *s, const tw_s3_bucket_row *b) {
  tw_sql_val v[] = {TW_SQL_S(b->name), TW_SQL_I(b->created_ms), TW_SQL_S(b->region),
                    TW_SQL_S(b->owner && *b->owner ? b->owner : NULL)};
  tw_store_hold(s);
  uint64_t t = tw_store_exec(s,
                             "INSERT INTO s3_buckets (name, created_ms, region, owner) "
                             "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                             v, 4);
  t = later(t, tw_store_pg_s3_notify(s, b->name));
  tw_store_release(s);
  return t;
}

static uint64_t remove_bucket(tw_store *s, const char *name) {
  tw_sql_val v[] = {TW_SQL_S(name)};
  tw_store_hold(s);
  uint64_t t = tw_store_exec(s, "DELETE FROM s3_buckets WHERE name = $1", v, 1);
  t = later(t, tw_store_pg_s3_notify(s, name));
  tw_store_release(s);
  return t;
}

/* The column of a setting (a fixed list: never from a request). */
static const char *column(tw_s3_bucket_setting which) {
  switch (which) {
    case TW_S3_BUCKET_NOTIFICATION:
      return "notification";
    case TW_S3_BUCKET_LIFECYCLE:
      return "lifecycle";
    case TW_S3_BUCKET_CORS:
      return "cors";
    case TW_S3_BUCKET_POLICY:
      return "policy";
    case TW_S3_BUCKET_TAGS:
      return "tags";
    case TW_S3_BUCKET_VERSIONING:
      return "versioning";
    case TW_S3_BUCKET_PUBLIC_ACCESS_BLOCK:
      return "public_access_block";
    case TW_S3_BUCKET_OWNERSHIP:
      return "ownership";
    case TW_S3_BUCKET_ACL:
      return "acl";
    case TW_S3_BUCKET_OWNER:
      return "owner";
  }
  return NULL;
}

static uint64_t set_setting(tw_store *s, const char *name, tw_s3_bucket_setting which,
                            const char *json) {
  tw_sql_val v[] = {TW_SQL_S(json), TW_SQL_S(name)};
  const char *sql; /* a literal per column: statements are kept by address */
  switch (which) {
    case TW_S3_BUCKET_NOTIFICATION:
      sql = "UPDATE s3_buckets SET notification = $1 WHERE name = $2";
      break;
    case TW_S3_BUCKET_LIFECYCLE:
      sql =
          "UPDATE s3_buckets SET lifecycle = $1, settings_ver = nextval('s3_settings_ver') "
          "WHERE name = $2";
      break;
    case TW_S3_BUCKET_CORS:
      sql =
          "UPDATE s3_buckets SET cors = $1, settings_ver = nextval('s3_settings_ver') "
          "WHERE name = $2";
      break;
    case TW_S3_BUCKET_POLICY:
      sql =
          "UPDATE s3_buckets SET policy = $1, settings_ver = nextval('s3_settings_ver') "
          "WHERE name = $2";
      break;
    case TW_S3_BUCKET_TAGS:
      sql = "UPDATE s3_buckets SET tags = $1 WHERE name = $2";
      break;
    case TW_S3_BUCKET_VERSIONING:
      sql = "UPDATE s3_buckets SET versioning = $1 WHERE name = $2";
      break;
    case TW_S3_BUCKET_PUBLIC_ACCESS_BLOCK:
      sql =
          "UPDATE s3_buckets SET public_access_block = $1, settings_ver = "
          "nextval('s3_settings_ver') "
          "WHERE name = $2";
      break;
    case TW_S3_BUCKET_OWNERSHIP:
      sql =
          "UPDATE s3_buckets SET ownership = $1, settings_ver = nextval('s3_settings_ver') "
          "WHERE name = $2";
      break;
    case TW_S3_BUCKET_ACL:
      sql =
          "UPDATE s3_buckets SET acl = $1, settings_ver = nextval('s3_settings_ver') "
          "WHERE name = $2";
      break;
    case TW_S3_BUCKET_OWNER:
      sql =
          "UPDATE s3_buckets SET owner = $1, settings_ver = nextval('s3_settings_ver') "
          "WHERE name = $2";
      break;
    default:
      return 0;
  }
  tw_store_hold(s);
  uint64_t t = tw_store_exec(s, sql, v, 2);
  t = later(t, tw_store_pg_s3_notify(s, name));
  tw_store_release(s);
  return t;
}

int tw_store_pg_s3_bucket_state(tw_store *s, const char *bucket, int64_t *settings_ver,
                                char **versioning) {
  *settings_ver = 0;
  if (versioning) *versioning = NULL;
  tw_sql_val v[] = {TW_SQL_S(bucket)};
  PGresult *r =
      tw_pg_s3_read(s, "SELECT settings_ver, versioning FROM s3_buckets WHERE name = $1", v, 1);
  if (!r) return -1;
  int found = PQntuples(r) > 0;
  if (found) {
    *settings_ver = tw_pg_i64(r, 0, 0);
    if (versioning && !PQgetisnull(r, 0, 1) && !(*versioning = strdup(PQgetvalue(r, 0, 1))))
      found = -1;
  }
  PQclear(r);
  return found;
}

int tw_store_pg_s3_settings_vers(tw_store *s,
                                 int (*fn)(void *ud, const char *bucket, int64_t settings_ver),
                                 void *ud) {
  PGresult *r = tw_pg_s3_read(s, "SELECT name, settings_ver FROM s3_buckets", NULL, 0);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++)
    if (fn(ud, PQgetvalue(r, i, 0), tw_pg_i64(r, i, 1))) break;
  PQclear(r);
  return 0;
}

static int exists(tw_store *s, const char *name) {
  tw_sql_val v[] = {TW_SQL_S(name)};
  PGresult *r = tw_pg_s3_read(s, "SELECT 1 FROM s3_buckets WHERE name = $1", v, 1);
  if (!r) return -1;
  int found = PQntuples(r) > 0;
  PQclear(r);
  return found;
}

static int list(tw_store *s, int (*fn)(void *ud, const tw_s3_bucket_row *b), void *ud) {
  PGresult *r = tw_pg_s3_read(
      s, "SELECT name, created_ms, region, owner FROM s3_buckets ORDER BY name COLLATE \"C\"", NULL,
      0);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    tw_s3_bucket_row b = {.name = tw_pg_s3_text(r, i, 0),
                          .created_ms = tw_pg_i64(r, i, 1),
                          .region = tw_pg_s3_text(r, i, 2),
                          .owner = tw_pg_s3_text(r, i, 3)};
    if (fn(ud, &b)) break;
  }
  PQclear(r);
  return 0;
}

static int get_setting(tw_store *s, const char *name, tw_s3_bucket_setting which, char **json) {
  *json = NULL;
  const char *col = column(which);
  if (!col) return -1;
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT %s FROM s3_buckets WHERE name = $1", col);
  tw_sql_val v[] = {TW_SQL_S(name)};
  PGresult *r = tw_pg_s3_read(s, sql, v, 1);
  if (!r) return -1;
  int found = PQntuples(r) > 0;
  if (found && !PQgetisnull(r, 0, 0) && !(*json = strdup(PQgetvalue(r, 0, 0)))) found = -1;
  PQclear(r);
  return found;
}

static int each_setting(tw_store *s, tw_s3_bucket_setting which,
                        int (*fn)(void *ud, const char *name, const char *json), void *ud) {
  const char *col = column(which);
  if (!col) return -1;
  char sql[160];
  snprintf(sql, sizeof sql, "SELECT name, %s FROM s3_buckets WHERE %s IS NOT NULL", col, col);
  PGresult *r = tw_pg_s3_read(s, sql, NULL, 0);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++)
    if (fn(ud, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1))) break;
  PQclear(r);
  return 0;
}

const tw_s3_buckets_repo tw_pg_s3_buckets_repo = {
    .create = create,
    .remove = remove_bucket,
    .set_setting = set_setting,
    .exists = exists,
    .list = list,
    .get_setting = get_setting,
    .each_setting = each_setting,
};
