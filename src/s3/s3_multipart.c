/* Multipart uploads: create, upload part (streamed, or copied from an object),
 * complete (parts joined into one blob, ETag = MD5 of the part MD5s + "-N"),
 * abort, list parts, list uploads. Checksums and part layouts: s3_mpu.c. */
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

#define MIN_PART (5ULL << 20)
#define MAX_PARTS 10000

typedef struct {
  int found;
  tw_s3_upload row; /* when found */
  tw_cksum_alg alg; /* x-amz-checksum-algorithm; NONE: S3's default CRC64NVME */
  int composite;    /* x-amz-checksum-type COMPOSITE (else FULL_OBJECT) */
} upload_row;

static const tw_s3_uploads_repo *uploads(tw_s3 *s) {
  return tw_store_s3_uploads(s->store);
}

static void upload_free(upload_row *u) {
  tw_s3_upload_free(&u->row);
  memset(u, 0, sizeof *u);
}

static int load_upload(tw_s3 *s, const char *id, upload_row *u) {
  memset(u, 0, sizeof *u);
  int rc = uploads(s)->get(s->store, id, &u->row);
  if (rc < 0) return -1;
  u->found = rc == 1;
  if (u->found) {
    u->alg = tw_cksum_alg_parse(u->row.checksum_algo);
    u->composite = u->row.checksum_type && !strcmp(u->row.checksum_type, "COMPOSITE");
  }
  return 0;
}

/* The upload named by ?uploadId must exist and belong to this bucket and key. */
static int this_upload(tw_request *r, s3_ctx *x, upload_row *u) {
  const char *id = tw_s3_q(x, "uploadId");
  if (!id || load_upload(x->s3, id, u) || !u->found || strcmp(u->row.bucket, x->bucket) ||
      u->row.key_len != x->key_len || memcmp(u->row.key, x->key, x->key_len)) {
    upload_free(u);
    tw_buf extra;
    tw_buf_init(&extra, 1024);
    tw_s3_xml_text(&extra, "UploadId", id ? id : "");
    tw_s3_error_key(r, x, TW_ERR_S3_NO_SUCH_UPLOAD, NULL, tw_buf_cstr(&extra));
    tw_buf_free(&extra);
    return -1;
  }
  return 0;
}

static void xml_key(tw_buf *b, s3_ctx *x) {
  tw_s3_xml_textn(b, "Key", x->key, x->key_len);
}

/* --- create ---------------------------------------------------------------- */

static void created(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (tw_s3_commit_failed(r, x)) return;
  tw_buf b;
  tw_buf_init(&b, 64 * 1024);
  tw_s3_xml_begin(&b, "InitiateMultipartUploadResult");
  tw_s3_xml_text(&b, "Bucket", x->bucket);
  xml_key(&b, x);
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
  uint64_t t = uploads(s)->create(s->store, &row);
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

/* --- parts --------------------------------------------------------------------- */

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
  upload_row u;
  if (this_upload(r, x, &u)) return -1;
  int rc = tw_s3_mpu_part_begin(r, x, u.alg, u.composite);
  upload_free(&u);
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
static void no_such_upload(tw_request *r, s3_ctx *x) {
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
    no_such_upload(r, x);
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
  uint64_t t = uploads(s)->put_part(s->store, upload, &p);
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
  upload_row u;
  if (this_upload(r, x, &u)) {
    tw_blob_remove(x->s3->blobs, x->blob.id);
    return;
  }
  upload_free(&u);
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
  upload_row u;
  if (this_upload(r, x, &u)) return;
  tw_cksum_alg alg = u.alg;
  upload_free(&u);
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

/* --- complete / abort ------------------------------------------------------------ */

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
static tw_s3_part *load_parts(tw_s3 *s, const char *upload, long after, size_t limit, size_t *n) {
  parts_acc a = {.limit = limit};
  uploads(s)->list_parts(s->store, upload, after, add_part, &a);
  *n = a.n;
  return a.p;
}

static void free_parts(tw_s3_part *p, size_t n) {
  for (size_t i = 0; p && i < n; i++) json_decref(p[i].sums);
  free(p);
}

static void remove_blobs(tw_s3 *s, json_t *blobs) {
  size_t i;
  json_t *v;
  json_array_foreach(blobs, i, v) tw_blob_remove(s->blobs, json_string_value(v));
}

/* CompleteMultipartUploadResult for the object x->etag names. */
static void complete_result(tw_request *r, s3_ctx *x, json_t *checksum) {
  tw_buf b;
  tw_buf_init(&b, 64 * 1024);
  tw_s3_xml_begin(&b, "CompleteMultipartUploadResult");
  char loc[2048];
  tw_req_base_url(r, loc, sizeof loc);
  tw_buf path;
  tw_buf_init(&path, 8192);
  tw_buf_printf(&path, "%s%s", loc, r->path);
  tw_s3_xml_text(&b, "Location", tw_buf_cstr(&path));
  tw_buf_free(&path);
  tw_s3_xml_text(&b, "Bucket", x->bucket);
  xml_key(&b, x);
  char q[96];
  snprintf(q, sizeof q, "\"%s\"", x->etag);
  tw_s3_xml_text(&b, "ETag", q);
  tw_s3_mpu_sum_xml(&b, checksum);
  tw_buf_puts(&b, "</CompleteMultipartUploadResult>");
  tw_s3_respond_xml(r, 200, &b);
  tw_s3_lifecycle_written(r, x);
}

static void completed(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (tw_s3_write_settled(r, x)) return; /* the parts stay, the upload too */
  remove_blobs(x->s3, json_object_get(x->result, "blobs"));
  complete_result(r, x, json_object_get(x->result, "checksum"));
}

/* --- a retried completion ------------------------------------------------------------
 * S3 answers a CompleteMultipartUpload repeated after the upload completed (an
 * SDK retrying after a lost response) with the completion's result, when it
 * names the same parts; another part list, or an upload completed long ago,
 * is NoSuchUpload. A completion keeps its part list and result for a day
 * (--lifecycle-day-seconds shortens it in tests). */

static int64_t done_keep_ms(tw_s3 *s) {
  return (int64_t)s->lifecycle_day_seconds * 1000;
}

/* The request's part list as canonical text: "num:etag\n" each, the ETag
 * unquoted and in lower case; NULL when a part has no number. */
static char *parts_text(json_t *wanted) {
  tw_buf b;
  tw_buf_init(&b, 16 << 20);
  size_t i;
  json_t *w;
  json_array_foreach(wanted, i, w) {
    const char *pn = tw_xml_text(w, "PartNumber"), *et = tw_xml_text(w, "ETag");
    char *end;
    long num = pn ? strtol(pn, &end, 10) : 0;
    if (!pn || !*pn || *end) {
      tw_buf_free(&b);
      return NULL;
    }
    size_t n = et ? strlen(et) : 0;
    if (n >= 2 && et[0] == '"' && et[n - 1] == '"') et++, n -= 2;
    tw_buf_printf(&b, "%ld:", num);
    for (size_t k = 0; k < n; k++) {
      char c = et[k];
      tw_buf_putc(&b, c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c);
    }
    tw_buf_putc(&b, '\n');
  }
  char *out = b.overflow ? NULL : strdup(tw_buf_cstr(&b));
  tw_buf_free(&b);
  return out;
}

static json_t *complete_parts(tw_request *r) {
  char *root = NULL;
  json_t *doc = r->body.len ? tw_xml_parse(r->body.data, r->body.len, &root) : NULL;
  json_t *wanted =
      doc && root && !strcmp(root, "CompleteMultipartUpload") ? tw_xml_list(doc, "Part") : NULL;
  free(root);
  json_decref(doc);
  return wanted;
}

/* Answers a retried completion of this bucket and key with the same part list
 * from its record and returns 1; 0 when it is not one. */
static int answer_retry(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  const char *id = tw_s3_q(x, "uploadId");
  tw_s3_upload_done d;
  if (!id || uploads(s)->get_done(s->store, id, &d) != 1) return 0;
  int same = 0;
  if (tw_s3_bucket_exists(s, x->bucket) > 0 && !strcmp(d.bucket, x->bucket) &&
      d.key_len == x->key_len && !memcmp(d.key, x->key, x->key_len) &&
      d.done_ms + done_keep_ms(s) > tw_now_ms()) {
    json_t *wanted = complete_parts(r);
    char *text = json_array_size(wanted) ? parts_text(wanted) : NULL;
    same = text && !strcmp(text, d.parts);
    free(text);
    json_decref(wanted);
  }
  json_t *res = same ? json_loads(d.result, 0, NULL) : NULL;
  const char *etag = json_string_value(json_object_get(res, "etag"));
  if (etag) {
    snprintf(x->etag, sizeof x->etag, "%s", etag);
    const char *vid = json_string_value(json_object_get(res, "version")); /* s3_versions.c */
    snprintf(x->version_id, sizeof x->version_id, "%s", vid ? vid : "");
    complete_result(r, x, json_object_get(res, "checksum"));
  }
  json_decref(res);
  tw_s3_upload_done_free(&d);
  return etag != NULL;
}

static int etag_eq(const char *given, const char *stored) {
  size_t n = strlen(given);
  if (n >= 2 && given[0] == '"' && given[n - 1] == '"') {
    given++;
    n -= 2;
  }
  return strlen(stored) == n && !strncasecmp(given, stored, n);
}

/* InvalidPart names the part the request got wrong. */
static void invalid_part(tw_request *r, s3_ctx *x, const char *pn, const char *etag) {
  tw_buf extra;
  tw_buf_init(&extra, 8192);
  tw_s3_xml_text(&extra, "UploadId", tw_s3_q(x, "uploadId"));
  tw_s3_xml_text(&extra, "PartNumber", pn ? pn : "");
  size_t n = etag ? strlen(etag) : 0;
  if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') etag++, n -= 2;
  tw_s3_xml_textn(&extra, "ETag", etag ? etag : "", n);
  tw_s3_error_key(r, x, TW_ERR_S3_INVALID_PART, NULL, tw_buf_cstr(&extra));
  tw_buf_free(&extra);
}

#define JOIN_CHUNK ((int64_t)64 << 20) /* a copy_file_range call; cancel checked between */

/* Joins the parts into one new blob (in the kernel where it can); the ETag is
 * the MD5 of the parts' MD5s. */
static int join_parts(tw_s3 *s, tw_s3_part **use, size_t nw, tw_blob_writer *out,
                      uint8_t md5_out[16], s3_copy_job *j) {
  if (tw_blob_create(s->blobs, out)) return -1;
  int ok = 1;
  tw_hash *md5 = tw_hash_md5_new();
  for (size_t i = 0; ok && i < nw; i++) {
    uint8_t raw[16];
    for (int k = 0; k < 16; k++) {
      unsigned v = 0;
      sscanf(use[i]->etag + 2 * k, "%2x", &v);
      raw[k] = (uint8_t)v;
    }
    tw_hash_update(md5, raw, 16);
    int in = tw_s3_copy_check(j) ? -1 : tw_blob_open(s->blobs, use[i]->blob);
    if (in < 0) {
      ok = 0;
      break;
    }
    int64_t left = use[i]->size;
    loff_t off_in = 0;
    while (left > 0) { /* in-kernel copy; falls back to read/write */
      if (tw_s3_copy_cancelled(j)) {
        ok = 0;
        break;
      }
      ssize_t k = copy_file_range(in, &off_in, out->fd, NULL,
                                  (size_t)(left < JOIN_CHUNK ? left : JOIN_CHUNK), 0);
      if (k <= 0) {
        char buf[1 << 16];
        k = pread(in, buf, sizeof buf < (size_t)left ? sizeof buf : (size_t)left, off_in);
        if (k <= 0 || tw_blob_write(out, buf, (size_t)k)) {
          ok = 0;
          break;
        }
        off_in += k;
      }
      left -= k;
    }
    close(in);
  }
  tw_hash_final(md5, md5_out);
  tw_hash_free(md5);
  if (!ok || tw_blob_publish(s->blobs, out)) {
    if (ok) out->fd = -1;
    tw_blob_abort(out);
    return -1;
  }
  return 0;
}

/* A CompleteMultipartUpload whose parts are being joined: what the request
 * checked, and the new body. */
typedef struct {
  tw_s3 *s;
  upload_row u;
  json_t *wanted, *checksum, *layout;
  tw_s3_part *parts, **use;
  size_t nparts, nw;
  int64_t total;
  tw_blob_writer out;
  int published;
  uint8_t digest[16];
} mpu_join;

static void mpu_join_free(void *p) {
  mpu_join *c = p;
  if (c->published) tw_blob_remove(c->s->blobs, c->out.id);
  json_decref(c->checksum);
  json_decref(c->layout);
  free(c->use);
  free_parts(c->parts, c->nparts);
  json_decref(c->wanted);
  upload_free(&c->u);
  free(c);
}

/* On a copy thread. */
static int mpu_join_work(void *p, s3_copy_job *j) {
  mpu_join *c = p;
  if (join_parts(c->s, c->use, c->nw, &c->out, c->digest, j)) return -1;
  c->published = 1;
  return 0;
}

static void mpu_joined(tw_request *r);

static void retry_after_commit(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (!answer_retry(r, x)) no_such_upload(r, x);
}

void tw_s3_complete_multipart(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  upload_row u;
  if (answer_retry(r, x)) return;
  if (this_upload(r, x, &u)) return;
  json_t *wanted = complete_parts(r);
  const char *upload = tw_s3_q(x, "uploadId");
  size_t nparts = 0, nw = json_array_size(wanted), i;
  tw_s3_part *parts = NULL, **use = calloc(nw ? nw : 1, sizeof *use);
  json_t *checksum = NULL, *layout = NULL, *w;
  tw_err err = TW_ERR_OK;
  int64_t total = 0;
  if (!nw) {
    tw_s3_error(r, x, TW_ERR_S3_MALFORMED_XML, NULL);
    goto done;
  }
  if (tw_s3_mpu_check_complete(r, x, u.alg, u.composite, wanted)) goto done;
  parts = load_parts(s, upload, 0, SIZE_MAX, &nparts);
  long prev = 0;
  json_array_foreach(wanted, i, w) {
    const char *pn = tw_xml_text(w, "PartNumber"), *et = tw_xml_text(w, "ETag");
    long num = pn ? strtol(pn, NULL, 10) : 0;
    if (num <= prev) {
      err = TW_ERR_S3_INVALID_PART_ORDER;
      break;
    }
    prev = num;
    tw_s3_part *found = NULL;
    for (size_t k = 0; k < nparts; k++)
      if (parts[k].num == num) found = &parts[k];
    if (!found || !et || !etag_eq(et, found->etag) || !tw_s3_mpu_part_sum_ok(u.alg, w, found)) {
      invalid_part(r, x, pn, et);
      goto done;
    }
    use[i] = found;
  }
  for (i = 0; err == TW_ERR_OK && i + 1 < nw; i++)
    if ((uint64_t)use[i]->size < MIN_PART) err = TW_ERR_S3_ENTITY_TOO_SMALL;
  if (err != TW_ERR_OK) {
    tw_s3_error(r, x, err, NULL);
    goto done;
  }
  for (i = 0; i < nw; i++) total += use[i]->size;
  const char *mos = tw_req_header(r, "x-amz-mp-object-size");
  if (mos) { /* what the client says it sent (s3transfer's MpuObjectSize) */
    char *end, msg[160];
    long long want = strtoll(mos, &end, 10);
    if (!*mos || *end || want < 0) {
      tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                  "Value for x-amz-mp-object-size header is invalid.");
      goto done;
    }
    if (want != total) {
      snprintf(msg, sizeof msg,
               "The provided 'x-amz-mp-object-size' header value %lld does not "
               "match what was computed: %" PRId64,
               want, total);
      tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST, msg);
      goto done;
    }
  }
  if (tw_s3_mpu_object_sum(r, x, u.alg, u.composite, use, nw, &checksum, &layout)) goto done;
  {
    mpu_join *c = calloc(1, sizeof *c);
    c->s = s;
    c->u = u;
    memset(&u, 0, sizeof u);
    c->wanted = wanted;
    wanted = NULL;
    c->checksum = checksum;
    checksum = NULL;
    c->layout = layout;
    layout = NULL;
    c->parts = parts;
    c->nparts = nparts;
    parts = NULL;
    nparts = 0;
    c->use = use;
    use = NULL;
    c->nw = nw;
    c->total = total;
    /* the bodies are joined on a copy thread; the request waits parked */
    tw_s3_copy_start(r, x, mpu_join_work, mpu_join_free, c, mpu_joined);
  }
done:
  json_decref(checksum);
  json_decref(layout);
  free(use);
  free_parts(parts, nparts);
  json_decref(wanted);
  upload_free(&u);
}

static void mpu_joined(tw_request *r) {
  s3_ctx *x = r->ctx;
  int rc, stopping;
  mpu_join *c = tw_s3_copy_take(r, x, &rc, &stopping);
  if (rc) {
    mpu_join_free(c);
    if (!stopping) {
      /* A completion that won the race took the parts away while they were
       * read: the answer is the retry's (the same result), not an error. */
      uint64_t ended = 0;
      pthread_mutex_lock(&x->s3->mu);
      int live = tw_s3_gc_upload_live(x->s3, tw_s3_q(x, "uploadId"), &ended);
      pthread_mutex_unlock(&x->s3->mu);
      if (live <= 0) {
        if (ended)
          tw_req_after_commit(r, ended, retry_after_commit);
        else if (!answer_retry(r, x))
          no_such_upload(r, x);
        return;
      }
    }
    tw_s3_error(r, x, stopping ? TW_ERR_SERVICE_UNAVAILABLE : TW_ERR_INTERNAL,
                stopping ? NULL : "Cannot assemble the object.");
    return;
  }
  c->published = 0; /* the object's from here */
  tw_s3 *s = c->s;
  const char *upload = tw_s3_q(x, "uploadId");
  upload_row u = c->u;
  json_t *checksum = c->checksum, *layout = c->layout;
  size_t nw = c->nw;
  int64_t total = c->total;
  tw_blob_writer out = c->out;
  uint8_t *digest = c->digest;
  tw_hex(digest, 16, x->etag);
  snprintf(x->etag + 32, sizeof x->etag - 32, "-%zu", nw);
  pthread_mutex_lock(&s->mu);
  uint64_t ended = 0;
  if (tw_s3_gc_upload_live(s, upload, &ended) <= 0) { /* completed or aborted meanwhile */
    pthread_mutex_unlock(&s->mu);
    tw_blob_remove(s->blobs, out.id);
    /* by a completion of the same parts (a retry that overtook the first try)?
     * its record is known once the write that ended the upload commits */
    if (ended)
      tw_req_after_commit(r, ended, retry_after_commit);
    else if (!answer_retry(r, x))
      no_such_upload(r, x);
    goto done;
  }
  /* every part goes with the upload: those written since the list was read too */
  json_t *blobs = tw_s3_gc_upload_parts(s, upload);
  json_t *headers = u.row.headers ? json_loads(u.row.headers, 0, NULL) : json_object();
  json_t *meta = u.row.meta ? json_loads(u.row.meta, 0, NULL) : json_object();
  x->tags = tw_s3_tags_load(u.row.tags); /* given to CreateMultipartUpload */
  const char *acl = json_string_value(json_object_get(headers, "x-tw-acl"));
  if (acl) {
    free(x->acl);
    x->acl = strdup(acl);
  }
  json_object_del(headers, "x-tw-acl");
  char *lj = json_dumps(layout, JSON_COMPACT);
  tw_events_lock(s->events);
  tw_store_hold(s->store);
  uint64_t t = tw_s3_save_row(r, x, "ObjectCreated:CompleteMultipartUpload", total, x->etag, out.id,
                              u.row.content_type, headers, meta, checksum);
  uploads(s)->set_object_layout(s->store, x->bucket, x->key, x->key_len, (long)nw, lj);
  uint64_t t2 = uploads(s)->remove(s->store, upload);
  { /* what a retried completion answers */
    char *text = parts_text(c->wanted);
    json_t *res = json_pack("{s:s,s:O?}", "etag", x->etag, "checksum", checksum);
    if (res && x->version_id[0]) json_object_set_new(res, "version", json_string(x->version_id));
    char *rj = res ? json_dumps(res, JSON_COMPACT) : NULL;
    int64_t now = tw_now_ms();
    tw_s3_upload_done d = {.id = upload,
                           .bucket = x->bucket,
                           .key = x->key,
                           .key_len = x->key_len,
                           .parts = text,
                           .result = rj,
                           .done_ms = now};
    uint64_t t3 = text && rj ? uploads(s)->record_done(s->store, &d, now - done_keep_ms(s)) : 0;
    if (t3 > t2) t2 = t3;
    free(text);
    free(rj);
    json_decref(res);
  }
  tw_store_release(s->store);
  tw_events_unlock(s->events);
  tw_s3_gc_upload_ended(s, upload, t2 > t ? t2 : t);
  pthread_mutex_unlock(&s->mu);
  free(lj);
  json_decref(headers);
  json_decref(meta);
  x->result = json_pack("{s:o,s:O}", "blobs", blobs, "checksum", checksum);
  tw_req_after_commit(r, t2 > t ? t2 : t, completed);
done:
  mpu_join_free(c);
}

static void aborted(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (tw_s3_commit_failed(r, x)) return; /* the upload and its parts stay */
  remove_blobs(x->s3, json_object_get(x->result, "blobs"));
  tw_req_respond(r, 204, NULL, "", 0);
  tw_s3_add_common_headers(r);
}

void tw_s3_abort_multipart(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  upload_row u;
  if (this_upload(r, x, &u)) return;
  upload_free(&u);
  const char *upload = tw_s3_q(x, "uploadId");
  /* s->mu orders it against the upload's parts and its completion */
  pthread_mutex_lock(&s->mu);
  if (tw_s3_gc_upload_live(s, upload, NULL) <= 0) {
    pthread_mutex_unlock(&s->mu);
    no_such_upload(r, x);
    return;
  }
  json_t *blobs = tw_s3_gc_upload_parts(s, upload);
  uint64_t t = uploads(s)->remove(s->store, upload);
  tw_s3_gc_upload_ended(s, upload, t);
  pthread_mutex_unlock(&s->mu);
  x->result = json_pack("{s:o}", "blobs", blobs);
  tw_req_after_commit(r, t, aborted);
}

/* --- listings ------------------------------------------------------------------------ */

static void owner(tw_buf *b, const char *tag, const char *account) {
  tw_buf_printf(b, "<%s><ID>%s</ID><DisplayName>tweedle</DisplayName></%s>", tag, account, tag);
}

void tw_s3_list_parts(tw_request *r, s3_ctx *x) {
  upload_row u;
  if (this_upload(r, x, &u)) return;
  const char *alg = tw_cksum_alg_name(u.alg), *type = u.composite ? "COMPOSITE" : "FULL_OBJECT";
  upload_free(&u);
  const char *upload = tw_s3_q(x, "uploadId");
  long max = 1000, marker = 0;
  if (tw_s3_q(x, "max-parts")) max = strtol(tw_s3_q(x, "max-parts"), NULL, 10);
  if (tw_s3_q(x, "part-number-marker")) marker = strtol(tw_s3_q(x, "part-number-marker"), NULL, 10);
  if (max < 0 || max > 1000) max = 1000;
  size_t n; /* one more than asked for tells whether the listing is truncated */
  tw_s3_part *parts = load_parts(x->s3, upload, marker, (size_t)max + 1, &n);
  tw_buf b;
  tw_buf_init(&b, 16u << 20);
  tw_s3_xml_begin(&b, "ListPartsResult");
  tw_s3_xml_text(&b, "Bucket", x->bucket);
  xml_key(&b, x);
  tw_s3_xml_text(&b, "UploadId", upload);
  tw_buf_printf(&b, "<PartNumberMarker>%ld</PartNumberMarker>", marker);
  tw_buf body;
  tw_buf_init(&body, 16u << 20);
  long count = 0, last = marker;
  int truncated = 0;
  for (size_t i = 0; i < n; i++) {
    if (parts[i].num <= marker) continue;
    if (count == max) {
      truncated = 1;
      break;
    }
    tw_buf_printf(&body, "<Part><PartNumber>%ld</PartNumber>", parts[i].num);
    char when[32];
    tw_s3_iso8601(parts[i].modified_ms, when);
    tw_s3_xml_text(&body, "LastModified", when);
    tw_buf_printf(&body, "<ETag>&quot;%s&quot;</ETag><Size>%" PRId64 "</Size>", parts[i].etag,
                  parts[i].size);
    const char *sum = alg ? json_string_value(json_object_get(parts[i].sums, alg)) : NULL;
    if (sum) tw_buf_printf(&body, "<Checksum%s>%s</Checksum%s>", alg, sum, alg);
    tw_buf_puts(&body, "</Part>");
    count++;
    last = parts[i].num;
  }
  tw_buf_printf(&b,
                "<NextPartNumberMarker>%ld</NextPartNumberMarker><MaxParts>%ld</MaxParts>"
                "<IsTruncated>%s</IsTruncated>",
                last, max, truncated ? "true" : "false");
  tw_buf_append(&b, body.data ? body.data : "", body.len);
  tw_buf_free(&body);
  owner(&b, "Initiator", x->s3->account);
  owner(&b, "Owner", x->s3->account);
  tw_buf_puts(&b, "<StorageClass>STANDARD</StorageClass>");
  if (alg)
    tw_buf_printf(&b, "<ChecksumAlgorithm>%s</ChecksumAlgorithm><ChecksumType>%s</ChecksumType>",
                  alg, type);
  tw_buf_puts(&b, "</ListPartsResult>");
  free_parts(parts, n);
  tw_s3_respond_xml(r, 200, &b);
}

typedef struct {
  tw_s3 *s;
  tw_buf *body;
  long count, max;
  int truncated;
  char *next_key, *next_id;
} uploads_acc;

static int add_upload(void *ud, const tw_s3_upload *u) {
  uploads_acc *a = ud;
  if (a->count == a->max) {
    a->truncated = 1;
    return 1;
  }
  tw_buf *body = a->body;
  tw_buf_puts(body, "<Upload>");
  tw_s3_xml_textn(body, "Key", u->key, u->key_len);
  tw_s3_xml_text(body, "UploadId", u->id);
  owner(body, "Initiator", a->s->account);
  owner(body, "Owner", a->s->account);
  char when[32];
  tw_s3_iso8601(u->initiated_ms, when);
  tw_buf_puts(body, "<StorageClass>STANDARD</StorageClass>");
  tw_s3_xml_text(body, "Initiated", when);
  if (u->checksum_algo && u->checksum_type)
    tw_buf_printf(body, "<ChecksumAlgorithm>%s</ChecksumAlgorithm><ChecksumType>%s</ChecksumType>",
                  u->checksum_algo, u->checksum_type);
  tw_buf_puts(body, "</Upload>");
  free(a->next_key);
  free(a->next_id);
  a->next_key = strndup(u->key, u->key_len);
  a->next_id = strdup(u->id);
  a->count++;
  return 0;
}

void tw_s3_list_uploads(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  if (tw_s3_bucket_exists(s, x->bucket) <= 0) {
    tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return;
  }
  const char *prefix = tw_s3_q(x, "prefix");
  const char *key_marker = tw_s3_q(x, "key-marker");
  long max = tw_s3_q(x, "max-uploads") ? strtol(tw_s3_q(x, "max-uploads"), NULL, 10) : 1000;
  if (max < 0 || max > 1000) max = 1000;
  tw_buf b, body;
  tw_buf_init(&body, 16u << 20);
  uploads_acc a = {.s = s, .body = &body, .max = max};
  if (uploads(s)->list(s->store, x->bucket, prefix, key_marker, key_marker ? strlen(key_marker) : 0,
                       add_upload, &a)) {
    tw_buf_free(&body);
    free(a.next_key);
    free(a.next_id);
    tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
    return;
  }
  tw_buf_init(&b, 16u << 20);
  tw_s3_xml_begin(&b, "ListMultipartUploadsResult");
  tw_s3_xml_text(&b, "Bucket", x->bucket);
  tw_s3_xml_text(&b, "KeyMarker", key_marker ? key_marker : "");
  tw_s3_xml_text(&b, "UploadIdMarker", "");
  if (a.truncated) {
    tw_s3_xml_text(&b, "NextKeyMarker", a.next_key);
    tw_s3_xml_text(&b, "NextUploadIdMarker", a.next_id);
  }
  if (prefix) tw_s3_xml_text(&b, "Prefix", prefix);
  tw_buf_printf(&b, "<MaxUploads>%ld</MaxUploads><IsTruncated>%s</IsTruncated>", max,
                a.truncated ? "true" : "false");
  tw_buf_append(&b, body.data ? body.data : "", body.len);
  tw_buf_free(&body);
  tw_buf_puts(&b, "</ListMultipartUploadsResult>");
  free(a.next_key);
  free(a.next_id);
  tw_s3_respond_xml(r, 200, &b);
}
