/* CopyObject: the source body copied on a copy thread (s3_copy.c), then the
 * new row saved. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/xml_in.h"
#include "s3/s3_internal.h"
#include "store/s3_objects.h"
#include "events/bus.h"

static void copy_done(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (tw_s3_write_settled(r, x)) return;
  tw_buf b;
  tw_buf_init(&b, 4096);
  tw_s3_xml_begin(&b, "CopyObjectResult");
  char when[32];
  tw_s3_iso8601(json_integer_value(json_object_get(x->result, "modified")), when);
  tw_s3_xml_text(&b, "LastModified", when);
  char q[96];
  snprintf(q, sizeof q, "\"%s\"", x->etag);
  tw_s3_xml_text(&b, "ETag", q);
  json_t *ck = json_object_get(x->result, "checksum");
  const char *alg = json_string_value(json_object_get(ck, "alg"));
  const char *val = json_string_value(json_object_get(ck, "value"));
  if (alg && val) { /* asked for with x-amz-checksum-algorithm */
    char tag[32];
    snprintf(tag, sizeof tag, "Checksum%s", alg);
    tw_s3_xml_text(&b, tag, val);
    tw_s3_xml_text(&b, "ChecksumType", "FULL_OBJECT");
  }
  tw_buf_puts(&b, "</CopyObjectResult>");
  tw_s3_respond_xml(r, 200, &b);
  const char *sv = json_string_value(json_object_get(x->result, "source_version"));
  if (sv) tw_req_add_header(r, "x-amz-copy-source-version-id", sv);
  tw_s3_lifecycle_written(r, x);
}

/* A copy in progress: the source (opened before parking, so a write that
 * replaces it meanwhile does not take it away), the new body, its hashes. */
typedef struct {
  tw_s3 *s;
  tw_s3_obj o;
  int in; /* the source body, -1 when none (an empty object) */
  tw_blob_writer w;
  int published;
  tw_hash *md5;
  tw_cksum ck;
  int resum, replace;
  int announce; /* the checksum was asked for: the answer names it */
} obj_copy;

static void obj_copy_free(void *p) {
  obj_copy *c = p;
  if (c->in >= 0) close(c->in);
  if (c->published) tw_blob_remove(c->s->blobs, c->w.id);
  if (c->md5) tw_hash_free(c->md5);
  tw_cksum_free(&c->ck);
  tw_s3_row_free(&c->o);
  free(c);
}

/* Copies the body (on a copy thread); md5 and ck, when given, hash it on the way. */
static int obj_copy_work(void *p, s3_copy_job *j) {
  obj_copy *c = p;
  tw_s3 *s = c->s;
  if (tw_blob_create_small(s->blobs, &c->w, c->o.size)) return -1;
  char buf[1 << 16];
  ssize_t n = 0;
  int rc = 0;
  unsigned chunks = 0;
  while (c->in >= 0 && (n = read(c->in, buf, sizeof buf)) > 0) {
    if ((++chunks & 255) == 0 ? tw_s3_copy_check(j) : tw_s3_copy_cancelled(j)) {
      rc = -1;
      break;
    }
    if (tw_blob_write(&c->w, buf, (size_t)n)) {
      rc = -1;
      break;
    }
    if (c->md5) tw_hash_update(c->md5, buf, (size_t)n);
    if (c->resum) tw_cksum_update(&c->ck, buf, (size_t)n);
  }
  if (n < 0) rc = -1;
  if (c->in >= 0) close(c->in);
  c->in = -1;
  if (rc || tw_blob_publish(s->blobs, &c->w)) {
    tw_blob_abort(&c->w);
    return -1;
  }
  c->published = 1;
  return 0;
}

static void copy_copied(tw_request *r);

void tw_s3_copy_object(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  const char *src = tw_req_header(r, "x-amz-copy-source");
  const char *p = src;
  if (*p == '/') p++;
  const char *qm = strchr(p, '?');
  size_t plen = qm ? (size_t)(qm - p) : strlen(p);
  size_t dlen;
  char *decoded = tw_url_decode_len(p, plen, 0, &dlen);
  char *slash = memchr(decoded, '/', dlen);
  if (!slash || slash == decoded || slash + 1 == decoded + dlen) {
    free(decoded);
    tw_s3_error(r, x, TW_ERR_S3_INVALID_ARGUMENT,
                "Copy Source must mention the source bucket and key: sourcebucket/sourcekey");
    return;
  }
  *slash = 0;
  const char *sbucket = decoded, *skey = slash + 1;
  size_t sklen = dlen - (size_t)(slash + 1 - decoded);
  if (tw_s3_bucket_exists(s, x->bucket) <= 0) {
    free(decoded);
    tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return;
  }
  if (tw_s3_acl_for_write(r, x, NULL)) { /* the copy's owner and ACL (s3_acl.c) */
    free(decoded);
    return;
  }
  /* ?versionId= after the source's key (s3_versions.c) */
  char *src_vid = NULL;
  if (qm && !strncmp(qm, "?versionId=", 11)) {
    size_t vn;
    src_vid = tw_url_decode_len(qm + 11, strlen(qm + 11), 0, &vn);
  }
  tw_s3_obj o;
  int vrc = tw_s3_load_version(s, sbucket, skey, sklen, src_vid, &o);
  if (vrc != TW_S3_V_OK) {
    int be = tw_s3_bucket_exists(s, sbucket);
    tw_s3_row_free(&o);
    if (be == 0)
      tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    else if (vrc == TW_S3_V_BAD_ID)
      tw_s3_error(r, x, TW_ERR_S3_INVALID_ARGUMENT, "Invalid version id specified");
    else if (vrc == TW_S3_V_MARKER)
      tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                  "The source of a copy request may not specifically refer to a delete marker "
                  "by version id.");
    else if (vrc == TW_S3_V_NO_VERSION)
      tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_VERSION, NULL);
    else
      tw_s3_error(r, x, vrc == TW_S3_V_ERROR ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_KEY, NULL);
    free(decoded);
    free(src_vid);
    return;
  }
  /* x-amz-copy-source-version-id: when the source is a version of a versioned
   * bucket, or was named by id */
  if (!src_vid && !strcmp(o.version_id, "null") &&
      tw_s3_versioning(s, sbucket) == TW_S3_VERSIONING_OFF)
    o.version_id[0] = 0;
  int named_version = src_vid != NULL;
  free(src_vid);
  const char *directive = tw_req_header(r, "x-amz-metadata-directive");
  int replace = directive && !strcasecmp(directive, "REPLACE");
  if (directive && !replace && strcasecmp(directive, "COPY")) {
    free(decoded);
    tw_s3_row_free(&o);
    tw_s3_error(r, x, TW_ERR_S3_INVALID_ARGUMENT, "Unknown metadata directive.");
    return;
  }
  if (!replace && !named_version && !strcmp(sbucket, x->bucket) && sklen == x->key_len &&
      !memcmp(skey, x->key, sklen)) {
    free(decoded);
    tw_s3_row_free(&o);
    tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                "This copy request is illegal because it is trying to copy an object to itself "
                "without changing the object's metadata, storage class, website redirect "
                "location or encryption attributes.");
    return;
  }
  free(decoded);
  if (tw_s3_tags_for_copy(r, x, o.tags)) {
    tw_s3_row_free(&o);
    return;
  }
  /* copy-source conditions */
  const char *cim = tw_req_header(r, "x-amz-copy-source-if-match");
  const char *cinm = tw_req_header(r, "x-amz-copy-source-if-none-match");
  const char *cius = tw_req_header(r, "x-amz-copy-source-if-unmodified-since");
  const char *cims = tw_req_header(r, "x-amz-copy-source-if-modified-since");
  time_t ct_;
  const char *failed = NULL;
  if (cim && !tw_s3_etag_matches(cim, o.etag))
    failed = "x-amz-copy-source-If-Match";
  else if (!cim && cius && !tw_s3_parse_http_date(cius, &ct_) && o.modified_ms / 1000 > ct_)
    failed = "x-amz-copy-source-If-Unmodified-Since";
  else if (cinm && tw_s3_etag_matches(cinm, o.etag))
    failed = "x-amz-copy-source-If-None-Match";
  else if (!cinm && cims && !tw_s3_parse_http_date(cims, &ct_) && o.modified_ms / 1000 <= ct_)
    failed = "x-amz-copy-source-If-Modified-Since";
  if (failed) {
    tw_s3_row_free(&o);
    char extra[128];
    snprintf(extra, sizeof extra, "<Condition>%s</Condition>", failed);
    tw_s3_error_key(r, x, TW_ERR_S3_PRECONDITION_FAILED, NULL, extra);
    return;
  }
  /* A copy is a new object in one piece: a multipart source's ETag (MD5 of the
   * part MD5s) and COMPOSITE checksum are remade over the bytes. */
  /* x-amz-checksum-algorithm: the copy gets a new checksum of that kind */
  const char *want = tw_req_header(r, "x-amz-checksum-algorithm");
  tw_cksum_alg want_alg =
      want && strncasecmp(want, "x-amz-", 6) ? tw_cksum_alg_parse(want) : TW_CKSUM_NONE;
  if (want && !want_alg) {
    tw_s3_row_free(&o);
    tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                "Value for x-amz-checksum-algorithm header is invalid.");
    return;
  }
  obj_copy *c = calloc(1, sizeof *c);
  c->s = s;
  c->replace = replace;
  c->in = -1;
  c->md5 = strchr(o.etag, '-') ? tw_hash_md5_new() : NULL;
  const char *ctype = json_string_value(json_object_get(o.checksum, "type"));
  if (want_alg) {
    c->resum = !tw_cksum_init(&c->ck, want_alg);
    c->announce = 1;
  } else {
    c->resum =
        c->md5 && ctype && !strcmp(ctype, "COMPOSITE") &&
        !tw_cksum_init(&c->ck,
                       tw_cksum_alg_parse(json_string_value(json_object_get(o.checksum, "alg"))));
  }
  c->o = o;
  if (o.size > 0 && (c->in = tw_blob_open(s->blobs, o.blob)) < 0) {
    obj_copy_free(c);
    tw_s3_error(r, x, TW_ERR_INTERNAL, "Cannot copy the object's data.");
    return;
  }
  /* the bytes are copied on a copy thread; the request waits parked */
  tw_s3_copy_start(r, x, obj_copy_work, obj_copy_free, c, copy_copied);
}

static void copy_copied(tw_request *r) {
  s3_ctx *x = r->ctx;
  tw_s3 *s = x->s3;
  int rc, stopping;
  obj_copy *c = tw_s3_copy_take(r, x, &rc, &stopping);
  if (rc) {
    obj_copy_free(c);
    tw_s3_error(r, x, stopping ? TW_ERR_SERVICE_UNAVAILABLE : TW_ERR_INTERNAL,
                stopping ? NULL : "Cannot copy the object's data.");
    return;
  }
  tw_s3_obj o = c->o;
  memset(&c->o, 0, sizeof c->o);
  tw_blob_writer w = c->w;
  c->published = 0; /* the body is the row's from here */
  int replace = c->replace;
  snprintf(x->etag, sizeof x->etag, "%s", o.etag);
  if (c->md5) {
    uint8_t raw[16];
    tw_hash_final(c->md5, raw);
    tw_hash_free(c->md5);
    c->md5 = NULL;
    tw_hex(raw, 16, x->etag);
  }
  if (c->resum) {
    char v[TW_CKSUM_MAX_B64];
    tw_cksum_final_b64(&c->ck, v);
    json_t *ck = json_pack("{s:s,s:s}", "alg", tw_cksum_alg_name(c->ck.alg), "value", v);
    json_decref(o.checksum);
    o.checksum = ck;
  }
  int announce = c->announce;
  obj_copy_free(c);
  json_t *headers, *meta;
  const char *ct;
  if (replace && tw_s3_check_metadata_size(r, x)) {
    tw_s3_row_free(&o);
    tw_blob_remove(s->blobs, w.id);
    return;
  }
  if (replace) {
    tw_s3_headers_from_request(r, &headers, &meta);
    ct = tw_req_header(r, "Content-Type");
    if (!ct) ct = "binary/octet-stream";
  } else {
    headers = o.headers ? json_incref(o.headers) : json_object();
    meta = o.meta ? json_incref(o.meta) : json_object();
    ct = o.content_type;
  }
  pthread_mutex_lock(&s->mu);
  uint64_t t = tw_s3_save_row(r, x, "ObjectCreated:Copy", o.size, x->etag, w.id, ct, headers, meta,
                              o.checksum);
  pthread_mutex_unlock(&s->mu);
  x->result = json_object();
  json_object_set_new(x->result, "modified", json_integer(tw_now_ms()));
  if (announce) json_object_set(x->result, "checksum", o.checksum);
  if (o.version_id[0]) json_object_set_new(x->result, "source_version", json_string(o.version_id));
  json_decref(headers);
  json_decref(meta);
  tw_s3_row_free(&o);
  tw_req_after_commit(r, t, copy_done);
}
