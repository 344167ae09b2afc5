/* The S3 blob questions (store/s3_refs.h) and the lifecycle sweeper's scans
 * (store/s3_lifecycle.h) on PostgreSQL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg/pg_s3_internal.h"

static int one_blob(PGresult *r, char blob[37]) {
  if (!r) return -1;
  int found = PQntuples(r) > 0;
  if (found) snprintf(blob, 37, "%.36s", PQgetvalue(r, 0, 0));
  PQclear(r);
  return found;
}

static int object_blob(tw_store *s, const char *bucket, const void *key, size_t klen,
                       char blob[37]) {
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(klen ? key : "", klen)};
  return one_blob(
      tw_pg_s3_read(s, "SELECT blob FROM s3_objects WHERE bucket = $1 AND key = $2", v, 2), blob);
}

static int part_blob(tw_store *s, const char *upload, long num, char blob[37]) {
  tw_sql_val v[] = {TW_SQL_S(upload), TW_SQL_I(num)};
  return one_blob(
      tw_pg_s3_read(s, "SELECT blob FROM s3_parts WHERE upload_id = $1 AND num = $2", v, 2), blob);
}

static int upload_exists(tw_store *s, const char *upload) {
  tw_sql_val v[] = {TW_SQL_S(upload)};
  PGresult *r = tw_pg_s3_read(s, "SELECT 1 FROM s3_uploads WHERE id = $1", v, 1);
  if (!r) return -1;
  int found = PQntuples(r) > 0;
  PQclear(r);
  return found;
}

static int upload_parts(tw_store *s, const char *upload,
                        void (*fn)(void *ud, long num, const char *blob), void *ud) {
  tw_sql_val v[] = {TW_SQL_S(upload)};
  PGresult *r = tw_pg_s3_read(s, "SELECT num, blob FROM s3_parts WHERE upload_id = $1", v, 1);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++)
    if (!PQgetisnull(r, i, 1)) fn(ud, (long)tw_pg_i64(r, i, 0), PQgetvalue(r, i, 1));
  PQclear(r);
  return 0;
}

static int blob_refs(tw_store *s, void (*fn)(void *ud, const char *blob), void *ud) {
  /* one statement: one snapshot of the three tables */
  PGresult *r = tw_pg_s3_read(s,
                              "SELECT blob FROM s3_objects WHERE blob IS NOT NULL UNION ALL "
                              "SELECT blob FROM s3_object_versions WHERE blob IS NOT NULL UNION "
                              "ALL SELECT blob FROM s3_parts WHERE blob IS NOT NULL",
                              NULL, 0);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) fn(ud, PQgetvalue(r, i, 0));
  PQclear(r);
  return 0;
}

const tw_s3_refs_repo tw_pg_s3_refs_repo = {
    .object_blob = object_blob,
    .part_blob = part_blob,
    .upload_exists = upload_exists,
    .upload_parts = upload_parts,
    .blob_refs = blob_refs,
};

/* --- lifecycle scans -------------------------------------------------------------- */

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

/* Rows (key, size, modified_ms, blob, tags). */
static int scan_objects(PGresult *r, tw_s3_lc_object_fn fn, void *ud) {
  if (!r) return -1;
  int rc = 0;
  for (int i = 0; i < PQntuples(r); i++) {
    size_t kn = 0;
    unsigned char *k = tw_pg_s3_bytes(r, i, 0, &kn);
    if (!k) {
      rc = -1;
      break;
    }
    const char *blob = tw_pg_s3_text(r, i, 3);
    tw_s3_lc_object o = {.key = (const char *)k,
                         .klen = kn,
                         .size = tw_pg_i64(r, i, 1),
                         .modified_ms = tw_pg_i64(r, i, 2),
                         .blob = blob ? blob : "",
                         .tags = tw_pg_s3_text(r, i, 4)};
    int stop = fn(ud, &o);
    free(k);
    if (stop) break;
  }
  PQclear(r);
  return rc;
}

static int objects_by_prefix(tw_store *s, const char *bucket, const char *prefix,
                             const void *after_key, size_t after_klen, int64_t cutoff_ms, int limit,
                             tw_s3_lc_object_fn fn, void *ud) {
  char end[1100];
  size_t endn = prefix_end(prefix, end, sizeof end);
  /* from the prefix, or just after the cursor (cursor + "\0") once it is past it */
  size_t pl = strlen(prefix), m = after_klen < pl ? after_klen : pl;
  int past = after_key && (memcmp(after_key, prefix, m) > 0 ||
                           (!memcmp(after_key, prefix, m) && after_klen >= pl));
  size_t fromn = past ? after_klen + 1 : pl;
  char *from = calloc(1, fromn + 1);
  if (!from) return -1;
  if (past)
    memcpy(from, after_key, after_klen);
  else
    memcpy(from, prefix, pl);
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(from, fromn), TW_SQL_B(end, endn),
                    TW_SQL_I(cutoff_ms), TW_SQL_I(limit)};
  int rc = scan_objects(tw_pg_s3_read(s,
                                      "SELECT key, size, modified_ms, blob, tags FROM s3_objects "
                                      "WHERE bucket = $1 AND key >= $2 AND key < $3 AND "
                                      "modified_ms <= $4 ORDER BY key LIMIT $5",
                                      v, 5),
                        fn, ud);
  free(from);
  return rc;
}

static int objects_by_age(tw_store *s, const char *bucket, int64_t cutoff_ms, int64_t after_ms,
                          const void *after_key, size_t after_klen, int limit,
                          tw_s3_lc_object_fn fn, void *ud) {
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_I(cutoff_ms), TW_SQL_I(after_ms),
                    TW_SQL_B(after_key ? after_key : "", after_key ? after_klen : 0),
                    TW_SQL_I(limit)};
  /* the rows are read before fn runs: the caller may move its cursor */
  return scan_objects(tw_pg_s3_read(s,
                                    "SELECT key, size, modified_ms, blob, tags FROM s3_objects "
                                    "WHERE bucket = $1 AND modified_ms <= $2 AND (modified_ms, "
                                    "key) > ($3, $4) ORDER BY modified_ms, key LIMIT $5",
                                    v, 5),
                      fn, ud);
}

static int uploads_by_prefix(tw_store *s, const char *bucket, const char *prefix, int64_t cutoff_ms,
                             int limit, int (*fn)(void *ud, const char *upload), void *ud) {
  const char *p = prefix ? prefix : "";
  char end[1100];
  size_t endn = prefix_end(p, end, sizeof end);
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_I(cutoff_ms), TW_SQL_B(p, strlen(p)),
                    TW_SQL_B(end, endn), TW_SQL_I(limit)};
  PGresult *r = tw_pg_s3_read(s,
                              "SELECT id FROM s3_uploads WHERE bucket = $1 AND initiated_ms <= $2 "
                              "AND key >= $3 AND key < $4 ORDER BY initiated_ms LIMIT $5",
                              v, 5);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++)
    if (fn(ud, PQgetvalue(r, i, 0))) break;
  PQclear(r);
  return 0;
}

const tw_s3_lifecycle_repo tw_pg_s3_lifecycle_repo = {
    .objects_by_prefix = objects_by_prefix,
    .objects_by_age = objects_by_age,
    .uploads_by_prefix = uploads_by_prefix,
};
