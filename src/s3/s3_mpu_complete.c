/* Multipart uploads: CompleteMultipartUpload (parts joined into one blob, ETag =
 * MD5 of the part MD5s + "-N", a retried completion answered again) and
 * AbortMultipartUpload. */
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
  tw_s3_mpu_xml_key(&b, x);
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
  if (!id || tw_s3_mpu_uploads(s)->get_done(s->store, id, &d) != 1) return 0;
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
  s3_upload_row u;
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
  tw_s3_mpu_free_parts(c->parts, c->nparts);
  json_decref(c->wanted);
  tw_s3_mpu_upload_free(&c->u);
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
  if (!answer_retry(r, x)) tw_s3_mpu_no_such_upload(r, x);
}

void tw_s3_complete_multipart(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  s3_upload_row u;
  /* The upload first, then (gone) its completion record: a completion
   * removes one and writes the other in one commit, so this order cannot
   * fall between them (the other order could: record not yet there, then
   * the upload already gone — a concurrent completion's NoSuchUpload). */
  if (tw_s3_mpu_find_upload(x, &u)) {
    if (!answer_retry(r, x)) tw_s3_mpu_no_such_upload(r, x);
    return;
  }
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
  parts = tw_s3_mpu_load_parts(s, upload, 0, SIZE_MAX, &nparts);
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
  tw_s3_mpu_free_parts(parts, nparts);
  json_decref(wanted);
  tw_s3_mpu_upload_free(&u);
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
          tw_s3_mpu_no_such_upload(r, x);
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
  s3_upload_row u = c->u;
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
      tw_s3_mpu_no_such_upload(r, x);
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
  tw_s3_mpu_uploads(s)->set_object_layout(s->store, x->bucket, x->key, x->key_len, (long)nw, lj);
  uint64_t t2 = tw_s3_mpu_uploads(s)->remove(s->store, upload);
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
    uint64_t t3 =
        text && rj ? tw_s3_mpu_uploads(s)->record_done(s->store, &d, now - done_keep_ms(s)) : 0;
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
  s3_upload_row u;
  if (tw_s3_mpu_this_upload(r, x, &u)) return;
  tw_s3_mpu_upload_free(&u);
  const char *upload = tw_s3_q(x, "uploadId");
  /* s->mu orders it against the upload's parts and its completion */
  pthread_mutex_lock(&s->mu);
  if (tw_s3_gc_upload_live(s, upload, NULL) <= 0) {
    pthread_mutex_unlock(&s->mu);
    tw_s3_mpu_no_such_upload(r, x);
    return;
  }
  json_t *blobs = tw_s3_gc_upload_parts(s, upload);
  uint64_t t = tw_s3_mpu_uploads(s)->remove(s->store, upload);
  tw_s3_gc_upload_ended(s, upload, t);
  pthread_mutex_unlock(&s->mu);
  x->result = json_pack("{s:o}", "blobs", blobs);
  tw_req_after_commit(r, t, aborted);
}
