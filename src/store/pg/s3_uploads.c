/* The S3 multipart uploads repository on PostgreSQL: tables s3_uploads,
 * s3_parts and s3_uploads_done, and the layout columns of s3_objects. */
#include <stdlib.h>
#include <string.h>

#include "store/pg/pg_s3_internal.h"

static char *dup_col(const PGresult *r, int i, int c) {
  const char *v = tw_pg_s3_text(r, i, c);
  return v ? strdup(v) : NULL;
}

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
                       "INSERT INTO s3_uploads (id, bucket, key, initiated_ms, content_type, "
                       "headers, meta, tags, checksum_algo, checksum_type) "
                       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                       v, 10);
}

static uint64_t put_part(tw_store *s, const char *upload, const tw_s3_part_row *p) {
  tw_sql_val v[] = {TW_SQL_S(upload),     TW_SQL_I(p->num),  TW_SQL_I(p->size),
                    TW_SQL_S(p->etag),    TW_SQL_S(p->blob), TW_SQL_I(p->modified_ms),
                    TW_SQL_S(p->checksum)};
  return tw_store_exec(s,
                       "INSERT INTO s3_parts (upload_id, num, size, etag, blob, modified_ms, "
                       "checksum) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (upload_id, "
                       "num) DO UPDATE SET size = EXCLUDED.size, etag = EXCLUDED.etag, blob = "
                       "EXCLUDED.blob, modified_ms = EXCLUDED.modified_ms, checksum = "
                       "EXCLUDED.checksum",
                       v, 7);
}

static uint64_t remove_upload(tw_store *s, const char *upload) {
  tw_sql_val v[] = {TW_SQL_S(upload)};
  tw_store_hold(s); /* both in one batch */
  uint64_t t1 = tw_store_exec(s, "DELETE FROM s3_parts WHERE upload_id = $1", v, 1);
  uint64_t t2 = tw_store_exec(s, "DELETE FROM s3_uploads WHERE id = $1", v, 1);
  tw_store_release(s);
  return t1 && t2 ? t2 : 0;
}

static uint64_t set_object_layout(tw_store *s, const char *bucket, const void *key, size_t klen,
                                  long parts, const char *layout_json) {
  tw_sql_val v[] = {TW_SQL_I((int64_t)parts), TW_SQL_S(layout_json), TW_SQL_S(bucket),
                    TW_SQL_B(klen ? (const char *)key : "", klen)};
  return tw_store_exec(
      s, "UPDATE s3_objects SET parts = $1, mpu_parts = $2 WHERE bucket = $3 AND key = $4", v, 4);
}

static uint64_t record_done(tw_store *s, const tw_s3_upload_done *d, int64_t forget_before_ms) {
  tw_sql_val old[] = {TW_SQL_I(forget_before_ms)};
  tw_sql_val v[] = {
      TW_SQL_S(d->id),    TW_SQL_S(d->bucket), TW_SQL_B(d->key ? d->key : "", d->key_len),
      TW_SQL_S(d->parts), TW_SQL_S(d->result), TW_SQL_I(d->done_ms)};
  tw_store_hold(s); /* both in one batch */
  uint64_t t1 = tw_store_exec(s, "DELETE FROM s3_uploads_done WHERE done_ms < $1", old, 1);
  uint64_t t2 = tw_store_exec(s,
                              "INSERT INTO s3_uploads_done (id, bucket, key, parts, result, "
                              "done_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO "
                              "UPDATE SET bucket = EXCLUDED.bucket, key = EXCLUDED.key, parts = "
                              "EXCLUDED.parts, result = EXCLUDED.result, done_ms = "
                              "EXCLUDED.done_ms",
                              v, 6);
  tw_store_release(s);
  return t1 && t2 ? t2 : 0;
}

static int get(tw_store *s, const char *upload, tw_s3_upload *u) {
  memset(u, 0, sizeof *u);
  tw_sql_val v[] = {TW_SQL_S(upload)};
  PGresult *r = tw_pg_s3_read(s,
                              "SELECT bucket, key, initiated_ms, content_type, headers, meta, "
                              "tags, checksum_algo, checksum_type FROM s3_uploads WHERE id = $1",
                              v, 1);
  if (!r) return -1;
  int found = PQntuples(r) > 0;
  if (found) {
    size_t kn = 0;
    u->key = (const char *)tw_pg_s3_bytes(r, 0, 1, &kn);
    u->key_len = kn;
    u->id = strdup(upload);
    u->bucket = dup_col(r, 0, 0);
    u->initiated_ms = tw_pg_i64(r, 0, 2);
    u->content_type = dup_col(r, 0, 3);
    u->headers = dup_col(r, 0, 4);
    u->meta = dup_col(r, 0, 5);
    u->tags = dup_col(r, 0, 6);
    u->checksum_algo = dup_col(r, 0, 7);
    u->checksum_type = dup_col(r, 0, 8);
    if (!u->id || !u->bucket || !u->key) {
      tw_s3_upload_free(u);
      found = -1;
    }
  }
  PQclear(r);
  return found;
}

static int list(tw_store *s, const char *bucket, const char *prefix, const void *key_after,
                size_t after_len, int (*fn)(void *ud, const tw_s3_upload *u), void *ud) {
  tw_sql_val v[] = {TW_SQL_S(bucket),
                    TW_SQL_B(key_after && after_len ? key_after : "", key_after ? after_len : 0)};
  PGresult *r = tw_pg_s3_read(s,
                              "SELECT id, key, initiated_ms, checksum_algo, checksum_type FROM "
                              "s3_uploads WHERE bucket = $1 AND key > $2 ORDER BY key, "
                              "initiated_ms",
                              v, 2);
  if (!r) return -1;
  size_t pn = prefix ? strlen(prefix) : 0;
  int rc = 0;
  for (int i = 0; i < PQntuples(r); i++) {
    size_t kn = 0;
    unsigned char *k = tw_pg_s3_bytes(r, i, 1, &kn);
    if (!k) {
      rc = -1;
      break;
    }
    int stop = 0;
    if (!pn || (kn >= pn && !memcmp(k, prefix, pn))) {
      const char *id = tw_pg_s3_text(r, i, 0);
      tw_s3_upload u = {.id = id ? id : "",
                        .bucket = bucket,
                        .key = (const char *)k,
                        .key_len = kn,
                        .initiated_ms = tw_pg_i64(r, i, 2),
                        .checksum_algo = tw_pg_s3_text(r, i, 3),
                        .checksum_type = tw_pg_s3_text(r, i, 4)};
      stop = fn(ud, &u);
    }
    free(k);
    if (stop) break;
  }
  PQclear(r);
  return rc;
}

static int list_parts(tw_store *s, const char *upload, long after,
                      int (*fn)(void *ud, const tw_s3_part_row *p), void *ud) {
  tw_sql_val v[] = {TW_SQL_S(upload), TW_SQL_I(after)};
  PGresult *r = tw_pg_s3_read(s,
                              "SELECT num, size, etag, blob, modified_ms, checksum FROM s3_parts "
                              "WHERE upload_id = $1 AND num > $2 ORDER BY num",
                              v, 2);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    const char *etag = tw_pg_s3_text(r, i, 2), *blob = tw_pg_s3_text(r, i, 3);
    tw_s3_part_row p = {.num = (long)tw_pg_i64(r, i, 0),
                        .size = tw_pg_i64(r, i, 1),
                        .etag = etag ? etag : "",
                        .blob = blob ? blob : "",
                        .modified_ms = tw_pg_i64(r, i, 4),
                        .checksum = tw_pg_s3_text(r, i, 5)};
    if (fn(ud, &p)) break;
  }
  PQclear(r);
  return 0;
}

static int get_done(tw_store *s, const char *upload, tw_s3_upload_done *d) {
  memset(d, 0, sizeof *d);
  tw_sql_val v[] = {TW_SQL_S(upload)};
  PGresult *r = tw_pg_s3_read(
      s, "SELECT bucket, key, parts, result, done_ms FROM s3_uploads_done WHERE id = $1", v, 1);
  if (!r) return -1;
  int found = PQntuples(r) > 0;
  if (found) {
    size_t kn = 0;
    d->key = (const char *)tw_pg_s3_bytes(r, 0, 1, &kn);
    d->key_len = kn;
    d->id = strdup(upload);
    d->bucket = dup_col(r, 0, 0);
    d->parts = dup_col(r, 0, 2);
    d->result = dup_col(r, 0, 3);
    d->done_ms = tw_pg_i64(r, 0, 4);
    if (!d->id || !d->bucket || !d->key || !d->parts || !d->result) {
      tw_s3_upload_done_free(d);
      found = -1;
    }
  }
  PQclear(r);
  return found;
}

static int object_layout(tw_store *s, const char *bucket, const void *key, size_t klen,
                         const char *blob, char **layout_json) {
  *layout_json = NULL;
  tw_sql_val v[] = {TW_SQL_S(bucket), TW_SQL_B(klen ? key : "", klen), TW_SQL_S(blob)};
  PGresult *r = tw_pg_s3_read(s,
                              "SELECT mpu_parts FROM s3_objects WHERE bucket = $1 AND key = $2 "
                              "AND blob = $3 UNION ALL SELECT mpu_parts FROM s3_object_versions "
                              "WHERE bucket = $1 AND key = $2 AND blob = $3 LIMIT 1",
                              v, 3);
  if (!r) return -1;
  int found = 0;
  if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) {
    *layout_json = strdup(PQgetvalue(r, 0, 0));
    found = *layout_json ? 1 : -1;
  }
  PQclear(r);
  return found;
}

const tw_s3_uploads_repo tw_pg_s3_uploads_repo = {
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
