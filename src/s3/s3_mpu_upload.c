/* Multipart uploads: CreateMultipartUpload, UploadPart (streamed) and
 * UploadPartCopy (copied from an object), and the helpers the other
 * multipart files share (the upload a request names, its parts). Completion
 * and abort: s3_mpu_complete.c; listings: s3_mpu_list.c; checksums and part
 * layouts: s3_mpu.c. */
#define _FILE_OFFSET_BITS 64
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/xml_in.h"
#include "s3/s3_internal.h"
#include "events/bus.h"
#include "store/s3_uploads.h"

#define MAX_PARTS 10000

const tw_s3_uploads_repo *tw_s3_mpu_uploads(tw_s3 *s) {
  return tw_store_s3_uploads(s->store);
}

void tw_s3_mpu_upload_free(s3_upload_row *u) {
  tw_s3_upload_free(&u->row);
  memset(u, 0, sizeof *u);
}

static int load_upload(tw_s3 *s, const char *id, s3_upload_row *u) {
  memset(u, 0, sizeof *u);
  int rc = tw_s3_mpu_uploads(s)->get(s->store, id, &u->row);
  if (rc < 0) return -1;
  u->found = rc == 1;
  if (u->found) {
    u->alg = tw_cksum_alg_parse(u->row.checksum_algo);
    u->composite = u->row.checksum_type && !strcmp(u->row.checksum_type, "COMPOSITE");
  }
  return 0;
}

/* The upload named by ?uploadId must exist and belong to this bucket and key. */
int tw_s3_mpu_find_upload(s3_ctx *x, s3_upload_row *u) {
  const char *id = tw_s3_q(x, "uploadId");
  if (!id || load_upload(x->s3, id, u) || !u->found || strcmp(u->row.bucket, x->bucket) ||
      u->row.key_len != x->key_len || memcmp(u->row.key, x->key, x->key_len)) {
    tw_s3_mpu_upload_free(u);
    return -1;
  }
  return 0;
}

int tw_s3_mpu_this_upload(tw_request *r, s3_ctx *x, s3_upload_row *u) {
  const char *id = tw_s3_q(x, "uploadId");
  if (tw_s3_mpu_find_upload(x, u)) {
    tw_buf extra;
    tw_buf_init(&extra, 1024);
    tw_s3_xml_text(&extra, "UploadId", id ? id : "");
    tw_s3_error_key(r, x, TW_ERR_S3_NO_SUCH_UPLOAD, NULL, tw_buf_cstr(&extra));
    tw_buf_free(&extra);
    return -1;
  }
  return 0;
}

void tw_s3_mpu_xml_key(tw_buf *b, s3_ctx *x) {
  tw_s3_xml_textn(b, "Key", x->key, x->key_len);
}

typedef struct {
  tw_s3_part *p;
  size_t n, cap, limit;
} parts_acc;

static int add_part(void *ud, const tw_s3_part_row *row) {
  parts_acc *a = ud;
  if (a->n == a->cap) {
    size_t cap = a->cap ? 2 * a->cap : 16;
    tw_s3_part *p = realloc(a->p, cap * sizeof *p);
    if (!p) return 1; /* the parts read so far */
    a->p = p;
    a->cap = cap;
  }
  tw_s3_part *p = &a->p[a->n++];
  p->num = row->num;
  p->size = row->size;
  snprintf(p->etag, sizeof p->etag, "%s", row->etag);
  snprintf(p->blob, sizeof p->blob, "%.36s", row->blob);
  p->modified_ms = row->modified_ms;
  p->sums = row->checksum ? json_loads(row->checksum, 0, NULL) : NULL;
  return a->n == a->limit;
}

/* The parts of an upload numbered above `after`, by number, at most `limit`. */
tw_s3_part *tw_s3_mpu_load_parts(tw_s3 *s, const char *upload, long after, size_t limit,
                                 size_t *n) {
  parts_acc a = {.limit = limit};
  tw_s3_mpu_uploads(s)->list_parts(s->store, upload, after, add_part, &a);
  *n = a.n;
  return a.p;
}

void tw_s3_mpu_free_parts(tw_s3_part *p, size_t n) {
  for (size_t i = 0; p && i < n; i++) json_decref(p[i].sums);
  free(p);
}

static void created(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (tw_s3_commit_failed(r, x)) return;
  tw_buf b;
  tw_buf_init(&b, 64 * 1024);
  tw_s3_xml_begin(&b, "InitiateMultipartUploadResult");
  tw_s3_xml_text(&b, "Bucket", x->bucket);
  tw_s3_mpu_xml_key(&b, x);
  tw_s3_xml_text(&b, "UploadId", json_string_value(json_object_get(x->result, "id")));
  tw_buf_puts(&b, "</InitiateMultipartUploadResult>");
  tw_s3_respond_xml(r, 200, &b);
  tw_s3_lifecycle_abort_headers(r, x, json_integer_value(json_object_get(x->result, "initiated")));
  const char *alg = json_string_value(json_object_get(x->result, "alg"));
  if (alg) {
    tw_req_add_header(r, "x-amz-checksum-algorithm", alg);
    tw_req_add_header(r, "x-amz-checksum-type",
                      json_string_value(json_object_get(x->result, "type")));
  }
}

void tw_s3_create_multipart(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  if (tw_s3_bucket_exists(s, x->bucket) <= 0) {
    tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return;
  }
  tw_cksum_alg alg;
  int composite;
  if (tw_s3_mpu_create_args(r, x, &alg, &composite) || tw_s3_check_metadata_size(r, x) ||
      tw_s3_tags_from_header(r, x) || tw_s3_acl_for_write(r, x, NULL))
    return;
  const char *type = alg ? (composite ? "COMPOSITE" : "FULL_OBJECT") : NULL;
  char uuid[37], id[33];
  tw_uuid4(uuid);
  size_t j = 0;
  for (size_t i = 0; uuid[i]; i++)
    if (uuid[i] != '-') id[j++] = uuid[i];
  id[j] = 0;
  json_t *headers, *meta;
  tw_s3_headers_from_request(r, &headers, &meta);
  /* the object's owner and ACL wait with the headers until the completion */
  json_object_set_new(headers, "x-tw-acl", json_string(x->acl));
  char *h = json_dumps(headers, JSON_COMPACT), *m = json_dumps(meta, JSON_COMPACT);
  const char *ct = tw_req_header(r, "Content-Type");
  char *tg = tw_s3_tags_dump(x->tags);
  int64_t now = tw_now_ms();
  tw_s3_upload row = {.id = id,
                      .bucket = x->bucket,
                      .key = x->key,
                      .key_len = x->key_len,
                      .initiated_ms = now,
                      .content_type = ct ? ct : "binary/octet-stream",
                      .headers = h,
                      .meta = m,
                      .tags = tg,
                      .checksum_algo = tw_cksum_alg_name(alg),
                      .checksum_type = type};
  uint64_t t = tw_s3_mpu_uploads(s)->create(s->store, &row);
  free(h);
  free(m);
  free(tg);
  json_decref(headers);
  json_decref(meta);
  x->result = json_pack("{s:s,s:I}", "id", id, "initiated", (json_int_t)now);
  if (alg) {
    json_object_set_new(x->result, "alg", json_string(tw_cksum_alg_name(alg)));
    json_object_set_new(x->result, "type", json_string(type));
  }
  tw_req_after_commit(r, t, created);
}

static int part_number(tw_request *r, s3_ctx *x, long *out) {
  const char *p = tw_s3_q(x, "partNumber");
  char *end;
  long n = p ? strtol(p, &end, 10) : 0;
  if (!p || !*p || *end || n < 1 || n > MAX_PARTS) {
    tw_buf extra;
    tw_buf_init(&extra, 4096);
    tw_s3_xml_text(&extra, "ArgumentName", "partNumber");
    tw_s3_xml_text(&extra, "ArgumentValue", p ? p : "");
    tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ARGUMENT,
                    "Part number must be an integer between 1 and 10000, inclusive",
                    tw_buf_cstr(&extra));
    tw_buf_free(&extra);
    return -1;
  }
  *out = n;
  return 0;
}

/* Checks before a part's body arrives (from tw_s3_put_body's first call). */
int tw_s3_part_begin(tw_request *r, s3_ctx *x) {
  long n;
  if (part_number(r, x, &n)) return -1;
  s3_upload_row u;
  if (tw_s3_mpu_this_upload(r, x, &u)) return -1;
  int rc = tw_s3_mpu_part_begin(r, x, u.alg, u.composite);
  tw_s3_mpu_upload_free(&u);
  return rc;
}

static void part_done(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (tw_s3_write_settled(r, x)) return;
  char q[96];
  snprintf(q, sizeof q, "\"%s\"", x->etag);
  if (json_object_get(x->result, "copy")) {
    tw_buf b;
    tw_buf_init(&b, 4096);
    tw_s3_xml_begin(&b, "CopyPartResult");
    char when[32];
    tw_s3_iso8601(tw_now_ms(), when);
    tw_s3_xml_text(&b, "LastModified", when);
    tw_s3_xml_text(&b, "ETag", q);
    const char *alg = json_string_value(json_object_get(x->result, "alg"));
    if (alg) /* the upload's algorithm */
      tw_buf_printf(&b, "<Checksum%s>%s</Checksum%s>", alg,
                    json_string_value(json_object_get(x->result, "value")), alg);
    tw_buf_puts(&b, "</CopyPartResult>");
    tw_s3_respond_xml(r, 200, &b);
    return;
  }
  tw_req_respond(r, 200, NULL, "", 0);
  tw_s3_add_common_headers(r);
  tw_req_add_header(r, "ETag", q);
  const char *alg = json_string_value(json_object_get(x->result, "alg"));
  if (alg)
    tw_req_add_header(r, tw_cksum_header(tw_cksum_alg_parse(alg)),
                      json_string_value(json_object_get(x->result, "value")));
}

/* The upload named by ?uploadId was completed or aborted (NoSuchUpload). */
void tw_s3_mpu_no_such_upload(tw_request *r, s3_ctx *x) {
  tw_buf extra;
  tw_buf_init(&extra, 1024);
  tw_s3_xml_text(&extra, "UploadId", tw_s3_q(x, "uploadId"));
  tw_s3_error_key(r, x, TW_ERR_S3_NO_SUCH_UPLOAD, NULL, tw_buf_cstr(&extra));
  tw_buf_free(&extra);
}

/* Records a part whose data is in blob `id` (and its checksums, taken);
 * replaces an earlier upload of it. Under s->mu, which orders it against
 * another upload of the part (the body replaced is the last one written,
 * committed or not) and against the upload's completion or abort. */
static void save_part(tw_request *r, s3_ctx *x, long num, int64_t size, const char *blob,
                      json_t *sums) {
  tw_s3 *s = x->s3;
  const char *upload = tw_s3_q(x, "uploadId");
  char *sj = json_object_size(sums) ? json_dumps(sums, JSON_COMPACT) : NULL;
  json_decref(sums);
  pthread_mutex_lock(&s->mu);
  if (tw_s3_gc_upload_live(s, upload, NULL) <= 0) { /* completed or aborted meanwhile */
    pthread_mutex_unlock(&s->mu);
    free(sj);
    tw_blob_remove(s->blobs, blob);
    tw_s3_mpu_no_such_upload(r, x);
    return;
  }
  tw_s3_gc_part(s, upload, num, x->old_blob, NULL);
  snprintf(x->new_blob, sizeof x->new_blob, "%s", blob);
  tw_s3_part_row p = {.num = num,
                      .size = size,
                      .etag = x->etag,
                      .blob = blob,
                      .modified_ms = tw_now_ms(),
                      .checksum = sj};
  tw_store_hold(s->store);
  tw_store_require_fs_sync(s->store);
  uint64_t t = tw_s3_mpu_uploads(s)->put_part(s->store, upload, &p);
  tw_store_release(s->store);
  tw_s3_gc_part_set(s, upload, num, blob, t);
  pthread_mutex_unlock(&s->mu);
  free(sj);
  tw_req_after_commit(r, t, part_done);
}

void tw_s3_upload_part(tw_request *r, s3_ctx *x) {
  long num;
  if (part_number(r, x, &num)) return;
  if (tw_s3_finish_body(r, x)) return;
  if (tw_blob_publish(x->s3->blobs, &x->blob)) {
    x->blob_open = 0;
    tw_s3_error(r, x, TW_ERR_INTERNAL, "Cannot store the part.");
    return;
  }
  x->blob_open = 0;
  /* the part must still belong to a live upload */
  s3_upload_row u;
  if (tw_s3_mpu_this_upload(r, x, &u)) {
    tw_blob_remove(x->s3->blobs, x->blob.id);
    return;
  }
  tw_s3_mpu_upload_free(&u);
  save_part(r, x, num, (int64_t)x->received, x->blob.id, tw_s3_mpu_part_sums(x));
}

/* An UploadPartCopy in progress: the source body (opened before parking) and
 * the range of it, the part's new body, its MD5 and checksum. */
typedef struct {
  tw_s3 *s;
  long num;
  tw_cksum_alg alg, ck_alg;
  int64_t start, len;
  int in;
  tw_blob_writer w;
  int published;
  uint8_t raw[16];
  char sum[TW_CKSUM_MAX_B64];
} part_copy;

static void part_copy_free(void *p) {
  part_copy *c = p;
  if (c->in >= 0) close(c->in);
  if (c->published) tw_blob_remove(c->s->blobs, c->w.id);
  free(c);
}

/* On a copy thread. */
static int part_copy_work(void *p, s3_copy_job *j) {
  part_copy *c = p;
  if (tw_blob_create(c->s->blobs, &c->w)) return -1;
  tw_hash *md5 = tw_hash_md5_new();
  tw_cksum ck; /* the upload's algorithm, or S3's default CRC64NVME */
  tw_cksum_init(&ck, c->alg ? c->alg : TW_CKSUM_CRC64NVME);
  char buf[1 << 16];
  int64_t left = c->len, off = c->start;
  unsigned chunks = 0;
  while (left > 0) {
    if ((++chunks & 255) == 0 ? tw_s3_copy_check(j) : tw_s3_copy_cancelled(j)) break;
    ssize_t k =
        pread(c->in, buf, (size_t)(left < (int64_t)sizeof buf ? left : (int64_t)sizeof buf), off);
    if (k <= 0 || tw_blob_write(&c->w, buf, (size_t)k)) break;
    tw_hash_update(md5, buf, (size_t)k);
    tw_cksum_update(&ck, buf, (size_t)k);
    left -= k;
    off += k;
  }
  close(c->in);
  c->in = -1;
  tw_hash_final(md5, c->raw);
  tw_hash_free(md5);
  tw_cksum_final_b64(&ck, c->sum);
  c->ck_alg = ck.alg;
  tw_cksum_free(&ck);
  if (left > 0 || tw_blob_publish(c->s->blobs, &c->w)) {
    tw_blob_abort(&c->w);
    return -1;
  }
  c->published = 1;
  return 0;
}

static void part_copied(tw_request *r);

void tw_s3_upload_part_copy(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  long num;
  if (part_number(r, x, &num)) return;
  s3_upload_row u;
  if (tw_s3_mpu_this_upload(r, x, &u)) return;
  tw_cksum_alg alg = u.alg;
  tw_s3_mpu_upload_free(&u);
  const char *src = tw_req_header(r, "x-amz-copy-source");
  const char *p = src[0] == '/' ? src + 1 : src;
  const char *qm = strchr(p, '?');
  size_t dlen;
  char *decoded = tw_url_decode_len(p, qm ? (size_t)(qm - p) : strlen(p), 0, &dlen);
  char *slash = memchr(decoded, '/', dlen);
  if (!slash) {
    free(decoded);
    tw_s3_error(r, x, TW_ERR_S3_INVALID_ARGUMENT,
                "Copy Source must mention the source bucket and key: sourcebucket/sourcekey");
    return;
  }
  *slash = 0;
  /* ?versionId= after the source's key (s3_versions.c) */
  char *src_vid = NULL;
  if (qm && !strncmp(qm, "?versionId=", 11)) {
    size_t vn;
    src_vid = tw_url_decode_len(qm + 11, strlen(qm + 11), 0, &vn);
  }
  tw_s3_obj o;
  int vrc =
      tw_s3_load_version(s, decoded, slash + 1, dlen - (size_t)(slash + 1 - decoded), src_vid, &o);
  free(decoded);
  free(src_vid);
  if (vrc != TW_S3_V_OK) {
    tw_s3_row_free(&o);
    if (vrc == TW_S3_V_BAD_ID)
      tw_s3_error(r, x, TW_ERR_S3_INVALID_ARGUMENT, "Invalid version id specified");
    else if (vrc == TW_S3_V_MARKER)
      tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                  "The source of a copy request may not specifically refer to a delete marker "
                  "by version id.");
    else
      tw_s3_error(r, x,
                  vrc == TW_S3_V_NO_VERSION ? TW_ERR_S3_NO_SUCH_VERSION
                  : vrc == TW_S3_V_ERROR    ? TW_ERR_INTERNAL
                                            : TW_ERR_S3_NO_SUCH_KEY,
                  NULL);
    return;
  }
  int64_t start = 0, len = o.size;
  const char *range = tw_req_header(r, "x-amz-copy-source-range");
  if (range) {
    long long a, b;
    if (sscanf(range, "bytes=%lld-%lld", &a, &b) != 2 || a < 0 || b < a) {
      tw_s3_row_free(&o);
      tw_s3_error(r, x, TW_ERR_S3_INVALID_ARGUMENT,
                  "The x-amz-copy-source-range value must be of the form bytes=first-last where "
                  "first and last are the zero-based offsets of the first and last bytes to copy");
      return;
    }
    if (b >= o.size) { /* S3's answer to a range past the source's end (versitygw records it) */
      char msg[128];
      snprintf(msg, sizeof msg, "Range specified is not valid for source object of size: %" PRId64,
               o.size);
      tw_s3_row_free(&o);
      tw_s3_error(r, x, TW_ERR_S3_INVALID_ARGUMENT, msg);
      return;
    }
    start = a;
    len = b - a + 1;
  }
  part_copy *c = calloc(1, sizeof *c);
  c->s = s;
  c->num = num;
  c->alg = alg;
  c->start = start;
  c->len = len;
  c->in = tw_blob_open(s->blobs, o.blob);
  tw_s3_row_free(&o);
  if (c->in < 0) {
    part_copy_free(c);
    tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
    return;
  }
  /* the bytes are copied on a copy thread; the request waits parked */
  tw_s3_copy_start(r, x, part_copy_work, part_copy_free, c, part_copied);
}

static void part_copied(tw_request *r) {
  s3_ctx *x = r->ctx;
  int rc, stopping;
  part_copy *c = tw_s3_copy_take(r, x, &rc, &stopping);
  if (rc) {
    part_copy_free(c);
    tw_s3_error(r, x, stopping ? TW_ERR_SERVICE_UNAVAILABLE : TW_ERR_INTERNAL, NULL);
    return;
  }
  c->published = 0; /* the part's from here */
  x->blob = c->w;
  tw_hex(c->raw, 16, x->etag);
  x->result = json_pack("{s:b}", "copy", 1);
  if (c->alg) {
    json_object_set_new(x->result, "alg", json_string(tw_cksum_alg_name(c->alg)));
    json_object_set_new(x->result, "value", json_string(c->sum));
  }
  json_t *sums = json_pack("{s:s}", tw_cksum_alg_name(c->ck_alg), c->sum);
  long num = c->num;
  int64_t len = c->len;
  part_copy_free(c);
  save_part(r, x, num, len, x->blob.id, sums);
}
