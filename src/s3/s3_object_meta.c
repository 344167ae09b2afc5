/* Objects: the stored row (load, save, free) and the headers and user metadata
 * (x-amz-meta-*) a write stores with an object. */
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

/* Headers stored with an object and returned on GET/HEAD. */
static const char *stored_headers[] = {"Cache-Control",
                                       "Content-Disposition",
                                       "Content-Encoding",
                                       "Content-Language",
                                       "Expires",
                                       "x-amz-website-redirect-location",
                                       NULL};

void tw_s3_row_free(tw_s3_obj *o) {
  free(o->content_type);
  json_decref(o->headers);
  json_decref(o->meta);
  json_decref(o->checksum);
  json_decref(o->tags);
  memset(o, 0, sizeof *o);
}

int tw_s3_load_row(tw_s3 *s, const char *bucket, const char *key, size_t klen, tw_s3_obj *o) {
  memset(o, 0, sizeof *o);
  tw_s3_object_row row;
  int found = tw_store_s3_objects(s->store)->get(s->store, bucket, key, klen, &row);
  if (found < 0) return -1;
  if (found) {
    o->found = 1;
    o->size = row.size;
    snprintf(o->etag, sizeof o->etag, "%s", row.etag);
    o->modified_ms = row.modified_ms;
    snprintf(o->blob, sizeof o->blob, "%.36s", row.blob);
    o->content_type = row.content_type ? strdup(row.content_type) : NULL;
    o->headers = row.headers ? json_loads(row.headers, 0, NULL) : NULL;
    o->meta = row.meta ? json_loads(row.meta, 0, NULL) : NULL;
    o->checksum = row.checksums ? json_loads(row.checksums, 0, NULL) : NULL;
    o->tags = tw_s3_tags_load(row.tags);
    snprintf(o->version_id, sizeof o->version_id, "%s", row.version_id ? row.version_id : "null");
    tw_s3_object_row_free(&row);
  }
  return 0;
}

static int presigned(const s3_ctx *x) {
  return json_object_get(x->q, "X-Amz-Signature") || json_object_get(x->q, "Signature");
}

/* One x-amz-meta-NAME: the name lower-cased, the value trimmed as S3 does. */
static void add_meta(json_t *meta, const char *n, const char *v) {
  char low[256];
  size_t k = 0;
  for (; n[k] && k < sizeof low - 1; k++) low[k] = (char)tolower((unsigned char)n[k]);
  low[k] = 0;
  size_t vl = strlen(v);
  while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
  while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
  json_object_set_new(meta, low + 11, json_stringn(v, vl));
}

/* A Content-Encoding list without its aws-chunked token (transport framing,
 * not the object's encoding): "aws-chunked,gzip" is stored as "gzip", and a
 * list of nothing else not at all (NULL; free the result). */
static char *without_aws_chunked(const char *v) {
  size_t n = strlen(v);
  char *out = malloc(n + 1);
  if (!out) return NULL;
  size_t o = 0;
  int found = 0;
  for (const char *p = v; *p;) {
    size_t len = strcspn(p, ",");
    const char *s = p, *e = p + len;
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if ((size_t)(e - s) == 11 && !strncasecmp(s, "aws-chunked", 11)) {
      found = 1;
    } else if (e > s) {
      if (o) out[o++] = ',';
      memcpy(out + o, s, (size_t)(e - s));
      o += (size_t)(e - s);
    }
    p += len + (p[len] == ',');
  }
  out[o] = 0;
  if (!found) memcpy(out, v, n + 1); /* no framing named: the value as sent */
  if (!out[0]) {
    free(out);
    return NULL;
  }
  return out;
}

/* Object metadata from the request's headers (PUT, COPY with REPLACE). */
void tw_s3_headers_from_request(tw_request *r, json_t **headers, json_t **meta) {
  *headers = json_object();
  *meta = json_object();
  for (int i = 0; stored_headers[i]; i++) {
    const char *v = tw_req_header(r, stored_headers[i]);
    if (v && !strcasecmp(stored_headers[i], "Content-Encoding")) {
      char *ce = without_aws_chunked(v);
      if (ce) json_object_set_new(*headers, stored_headers[i], json_string(ce));
      free(ce);
      continue;
    }
    if (v) json_object_set_new(*headers, stored_headers[i], json_string(v));
  }
  for (size_t i = 0; i < r->nheaders; i++)
    if (!strncasecmp(r->headers[i].name, "x-amz-meta-", 11))
      add_meta(*meta, r->headers[i].name, r->headers[i].value);
  /* Presigners put x-amz-meta-* into the URL (the JS SDK v3 hoists them, botocore
   * does for SigV2), where the signature covers them; S3 stores them too. */
  s3_ctx *x = r->ctx;
  const char *qk;
  json_t *qv;
  if (x && presigned(x)) {
    json_object_foreach(x->q, qk, qv) {
      if (!strncasecmp(qk, "x-amz-meta-", 11)) add_meta(*meta, qk, json_string_value(qv));
    }
  }
}

/* User metadata may hold 2 KB: the bytes of every name and value. Answers and
 * returns -1 when the request's is larger. */
int tw_s3_check_metadata_size(tw_request *r, s3_ctx *x) {
  size_t total = 0;
  for (size_t i = 0; i < r->nheaders; i++)
    if (!strncasecmp(r->headers[i].name, "x-amz-meta-", 11))
      total += strlen(r->headers[i].name) - 11 + strlen(r->headers[i].value);
  const char *qk;
  json_t *qv;
  if (presigned(x)) {
    json_object_foreach(x->q, qk, qv) {
      if (!strncasecmp(qk, "x-amz-meta-", 11))
        total += strlen(qk) - 11 + strlen(json_string_value(qv));
    }
  }
  if (total <= 2048) return 0;
  char extra[128];
  snprintf(extra, sizeof extra, "<Size>%zu</Size><MaxSizeAllowed>2048</MaxSizeAllowed>", total);
  tw_s3_error_key(r, x, TW_ERR_S3_METADATA_TOO_LARGE, NULL, extra);
  return -1;
}

/* Writes the object row and its events in one store batch; returns the ticket.
 * s->mu held: the body replaced (x->old_blob) is the one the key's last write
 * named, committed or not. */
uint64_t tw_s3_save_row(tw_request *r, s3_ctx *x, const char *event, int64_t size, const char *etag,
                        const char *blob, const char *content_type, json_t *headers, json_t *meta,
                        json_t *checksum) {
  tw_s3 *s = x->s3;
  char *h = json_dumps(headers, JSON_COMPACT), *m = json_dumps(meta, JSON_COMPACT);
  char *c = checksum ? json_dumps(checksum, JSON_COMPACT) : NULL;
  char *tg = tw_s3_tags_dump(x->tags);
  char *acl = tw_s3_acl_row(r, x); /* owner and grants (s3_acl.c) */
  tw_s3_object_row row = {.bucket = x->bucket,
                          .key = x->key,
                          .key_len = x->key_len,
                          .size = size,
                          .etag = etag,
                          .modified_ms = tw_now_ms(),
                          .blob = blob,
                          .content_type = content_type,
                          .headers = h,
                          .meta = m,
                          .checksums = c,
                          .tags = tg,
                          .acl = acl};
  /* versioning (s3_versions.c): the row gets an order and, Enabled, an id;
   * the previous latest stays a version, so no body is replaced (a Suspended
   * write's replaced null version is left to the blob sweep) */
  int mode = tw_s3_req_versioning(x); /* cluster mode: read with the request's first */
  row.vseq = tw_s3_version_seq();
  x->version_id[0] = 0;
  if (mode == TW_S3_VERSIONING_ENABLED) {
    tw_s3_version_id(row.vseq, x->version_id);
    row.version_id = x->version_id;
  }
  if (mode == TW_S3_VERSIONING_OFF)
    tw_s3_gc_object(s, x->bucket, x->key, x->key_len, x->old_blob, NULL);
  else
    x->old_blob[0] = 0;
  snprintf(x->new_blob, sizeof x->new_blob, "%s", blob);
  tw_events_lock(s->events); /* lock order: the bus (event targets), then the store batch */
  tw_store_hold(s->store);
  /* the blob reaches the disk before its row (an inline one joins its batch) */
  if (tw_blob_is_inline(blob))
    tw_blobs_flush_inline(s->blobs, blob);
  else
    tw_store_require_fs_sync(s->store);
  uint64_t t = tw_store_s3_objects(s->store)->put_version(s->store, &row, mode, row.modified_ms);
  tw_s3_notify_version = row.version_id;
  tw_s3_notify_req(s, r, x->bucket, x->key, x->key_len, event, size, etag);
  tw_s3_notify_version = NULL;
  uint64_t t2 = tw_store_ticket(s->store);
  tw_store_release(s->store);
  tw_events_unlock(s->events);
  if (t2 > t) t = t2;
  tw_s3_gc_object_set(s, x->bucket, x->key, x->key_len, blob, t);
  free(h);
  free(m);
  free(c);
  free(tg);
  free(acl);
  return t;
}
