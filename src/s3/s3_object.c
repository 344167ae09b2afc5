/* Objects: PUT (streamed to a blob file), GET/HEAD (sendfile, ranges,
 * conditions), DELETE, copy, multi-object delete. */
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
  int mode = tw_s3_versioning(s, x->bucket);
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
  tw_store_require_fs_sync(s->store); /* the blob reaches the disk before its row */
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

/* --- PUT ------------------------------------------------------------------------- */

static int is_hex64(const char *s) {
  if (strlen(s) != 64) return 0;
  for (int i = 0; i < 64; i++)
    if (!strchr("0123456789abcdef", s[i])) return 0;
  return 1;
}

static int if_none_match_star(tw_request *r) {
  const char *v = tw_req_header(r, "If-None-Match");
  return v && !strcmp(v, "*");
}

static int exists(tw_s3 *s, s3_ctx *x) {
  tw_s3_obj o;
  tw_s3_load_row(s, x->bucket, x->key, x->key_len, &o);
  int f = o.found;
  tw_s3_row_free(&o);
  return f;
}

/* The checksum a PUT asks for: a x-amz-checksum-<alg> header with its value, or
 * one announced in x-amz-trailer. Objects without one get CRC64NVME, as S3 does. */
static int setup_checksum(tw_request *r, s3_ctx *x) {
  tw_cksum_alg alg;
  const char *v;
  if (tw_s3_put_sum_args(r, x, &alg, &v, &x->cksum_in_trailer)) return -1; /* s3_mpu.c */
  if (x->cksum_in_trailer && strncmp(x->content_sha256, "STREAMING-", 10)) {
    /* only aws-chunked bodies have trailers */
    tw_s3_error(r, x, TW_ERR_S3_MALFORMED_TRAILER, NULL);
    return -1;
  }
  if (v) snprintf(x->cksum_want, sizeof x->cksum_want, "%s", v);
  const char *sdk = tw_req_header(r, "x-amz-sdk-checksum-algorithm");
  if (!alg && sdk && x->handler != tw_s3_put_object) {
    /* UploadPart: checked against the upload's algorithm (s3_mpu.c) */
    alg = tw_cksum_alg_parse(sdk);
    if (!alg) {
      tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                  "Value for x-amz-sdk-checksum-algorithm header is invalid.");
      return -1;
    }
  }
  if (!alg && sdk) { /* PutObject: the SDK's note of a checksum it did not send (versitygw#1593) */
    tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                tw_cksum_alg_parse(sdk)
                    ? "x-amz-sdk-checksum-algorithm specified, but no "
                      "corresponding x-amz-checksum-* or x-amz-trailer "
                      "headers were found."
                    : "Value for x-amz-sdk-checksum-algorithm header is invalid.");
    return -1;
  }
  if (!alg) {
    alg = TW_CKSUM_CRC64NVME; /* S3's own, kept but not listed as the client's choice */
    x->cksum_default = 1;
  }
  tw_cksum_init(&x->cksum, alg);
  return 0;
}

/* Decoded body bytes (plain, or out of aws-chunked framing) go here. */
static int take_bytes(void *ud, const char *data, size_t n) {
  s3_ctx *x = ud;
  if (x->received + n > TW_S3_MAX_OBJECT) return -1;
  x->received += n;
  tw_hash_update(x->md5, data, n);
  if (x->sha256) tw_hash_update(x->sha256, data, n);
  tw_cksum_update(&x->cksum, data, n);
  if (x->cksum_extra.alg) tw_cksum_update(&x->cksum_extra, data, n); /* s3_mpu.c */
  return tw_blob_write(&x->blob, data, n);
}

/* Called once with data NULL (headers only: refuse early), then per chunk. */
int tw_s3_put_body(tw_request *r, const char *data, size_t n) {
  s3_ctx *x = r->ctx;
  if (!data) {
    tw_chunked_mode mode = 0;
    int streaming = !strncmp(x->content_sha256, "STREAMING-", 10);
    if (streaming && tw_chunked_mode_parse(x->content_sha256, &mode)) {
      tw_s3_error(r, x, TW_ERR_S3_NOT_IMPLEMENTED,
                  "This x-amz-content-sha256 value is not supported.");
      return -1;
    }
    int e = tw_s3_bucket_exists(x->s3, x->bucket);
    if (e <= 0) {
      tw_s3_error(r, x, e < 0 ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_BUCKET, NULL);
      return -1;
    }
    const char *cl = tw_req_header(r, "Content-Length");
    const char *te = tw_req_header(r, "Transfer-Encoding");
    const char *dcl = tw_req_header(r, "x-amz-decoded-content-length");
    const char *len = streaming ? dcl : cl;
    if (len) {
      char *end;
      x->expected = strtoull(len, &end, 10);
      x->has_expected = 1;
      if (*end || x->expected > TW_S3_MAX_OBJECT) {
        tw_s3_error(r, x, TW_ERR_S3_ENTITY_TOO_LARGE, NULL);
        return -1;
      }
    } else if (!cl && (!te || !strcasestr(te, "chunked"))) {
      tw_s3_error(r, x, TW_ERR_S3_MISSING_CONTENT_LENGTH, NULL);
      return -1;
    }
    const char *md5 = tw_req_header(r, "Content-MD5");
    if (md5) {
      uint8_t raw[64];
      if (strlen(md5) > 40 || tw_base64_decode(md5, strlen(md5), raw) != 16) {
        tw_s3_error(r, x, TW_ERR_S3_INVALID_DIGEST, NULL);
        return -1;
      }
    }
    if (setup_checksum(r, x)) return -1;
    if (x->handler == tw_s3_put_object && tw_s3_check_metadata_size(r, x)) return -1;
    if (x->handler == tw_s3_put_object && tw_s3_tags_from_header(r, x)) return -1;
    if (x->handler == tw_s3_put_object && tw_s3_acl_for_write(r, x, NULL)) return -1;
    if (x->handler == tw_s3_upload_part && tw_s3_part_begin(r, x)) return -1;
    if (x->handler == tw_s3_put_object && if_none_match_star(r) && exists(x->s3, x)) {
      tw_s3_error_key(r, x, TW_ERR_S3_PRECONDITION_FAILED, NULL,
                      "<Condition>If-None-Match</Condition>");
      return -1;
    }
    const char *im = x->handler == tw_s3_put_object ? tw_req_header(r, "If-Match") : NULL;
    if (im) { /* conditional overwrite: the current ETag must match */
      tw_s3_obj o;
      tw_s3_load_row(x->s3, x->bucket, x->key, x->key_len, &o);
      int found = o.found, ok = found && tw_s3_etag_matches(im, o.etag);
      tw_s3_row_free(&o);
      if (!found) {
        tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_KEY, NULL);
        return -1;
      }
      if (!ok) {
        tw_s3_error_key(r, x, TW_ERR_S3_PRECONDITION_FAILED, NULL,
                        "<Condition>If-Match</Condition>");
        return -1;
      }
    }
    if (streaming) {
      int is_signed = mode != TW_CHUNKED_UNSIGNED_TRAILER;
      x->chunked =
          tw_chunked_new(mode, is_signed ? x->signing_key : NULL, is_signed ? x->amz_date : NULL,
                         is_signed ? x->scope : NULL, is_signed ? x->seed_signature : NULL);
      if (!x->chunked ||
          tw_chunked_expect_trailers(x->chunked, tw_req_header(r, "x-amz-trailer"))) {
        tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST, "The x-amz-trailer header is not valid.");
        return -1;
      }
    }
    if (tw_blob_create(x->s3->blobs, &x->blob)) {
      tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
      return -1;
    }
    x->blob_open = 1;
    x->md5 = tw_hash_md5_new();
    if (is_hex64(x->content_sha256)) x->sha256 = tw_hash_sha256_new();
    return 0;
  }
  if (x->chunked) {
    if (tw_chunked_feed(x->chunked, data, n, take_bytes, x)) {
      tw_err e = tw_chunked_error(x->chunked);
      tw_s3_error(
          r, x,
          e == TW_ERR_INTERNAL && x->received > TW_S3_MAX_OBJECT ? TW_ERR_S3_ENTITY_TOO_LARGE : e,
          tw_chunked_errmsg(x->chunked));
      return -1;
    }
    return 0;
  }
  if (take_bytes(x, data, n)) {
    tw_s3_error(r, x,
                x->received + n > TW_S3_MAX_OBJECT ? TW_ERR_S3_ENTITY_TOO_LARGE
                : errno == ENOSPC                  ? TW_ERR_S3_INSUFFICIENT_STORAGE
                                                   : TW_ERR_INTERNAL,
                NULL);
    return -1;
  }
  return 0;
}

static void put_done(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (tw_s3_write_settled(r, x)) return;
  tw_req_respond(r, 200, NULL, "", 0);
  tw_s3_add_common_headers(r);
  char q[96];
  snprintf(q, sizeof q, "\"%s\"", x->etag);
  tw_req_add_header(r, "ETag", q);
  const char *alg = json_string_value(json_object_get(x->result, "alg"));
  if (alg) {
    tw_req_add_header(r, tw_cksum_header(tw_cksum_alg_parse(alg)),
                      json_string_value(json_object_get(x->result, "value")));
    tw_req_add_header(r, "x-amz-checksum-type", "FULL_OBJECT");
  }
  tw_s3_lifecycle_written(r, x);
}

int tw_s3_checksum_result(tw_request *r, s3_ctx *x, const char *got) {
  if (x->cksum_want[0] && strcmp(x->cksum_want, got)) {
    char msg[160];
    snprintf(msg, sizeof msg, "The %s you specified did not match the calculated checksum.",
             tw_cksum_alg_name(x->cksum.alg));
    tw_s3_error(r, x, TW_ERR_S3_BAD_DIGEST, msg);
    return -1;
  }
  x->result = json_pack("{s:s,s:s}", "alg", tw_cksum_alg_name(x->cksum.alg), "value", got);
  if (x->cksum_default) json_object_set_new(x->result, "default", json_true());
  return 0;
}

int tw_s3_check_md5(tw_request *r, s3_ctx *x, const char *want, const uint8_t md5[16]) {
  if (!want) return 0;
  uint8_t raw[64] = {0};
  if (strlen(want) <= 40 && tw_base64_decode(want, strlen(want), raw) == 16 &&
      !memcmp(raw, md5, 16))
    return 0;
  char extra[200], hexwant[33], calc[32];
  tw_hex(raw, 16, hexwant);
  tw_base64_encode(md5, 16, calc);
  snprintf(extra, sizeof extra,
           "<ExpectedDigest>%s</ExpectedDigest><CalculatedDigest>%s</CalculatedDigest>", hexwant,
           calc);
  tw_s3_error_key(r, x, TW_ERR_S3_BAD_DIGEST, NULL, extra);
  return -1;
}

/* After a streamed body: framing complete, length, Content-MD5, content SHA-256
 * and checksum all hold; sets x->etag and x->result (the checksum). 0 or -1. */
int tw_s3_finish_body(tw_request *r, s3_ctx *x) {
  if (x->chunked && tw_chunked_finish(x->chunked)) {
    tw_err e = tw_chunked_error(x->chunked);
    /* S3 words every trailer fault (an announced one missing too) the same */
    tw_s3_error(r, x, e, e == TW_ERR_S3_MALFORMED_TRAILER ? NULL : tw_chunked_errmsg(x->chunked));
    return -1;
  }
  const char *tname, *tvalue, *declared = x->cksum_in_trailer ? tw_cksum_header(x->cksum.alg) : "";
  for (size_t i = 0; x->chunked && !tw_chunked_trailer_at(x->chunked, i, &tname, &tvalue); i++)
    if (!strncmp(tname, "x-amz-checksum-", 15) && strcmp(tname, declared)) {
      tw_s3_error(r, x, TW_ERR_S3_MALFORMED_TRAILER, NULL); /* a checksum not announced */
      return -1;
    }
  if (x->has_expected && x->received != x->expected) {
    tw_s3_error(r, x, TW_ERR_S3_INCOMPLETE_BODY, NULL);
    return -1;
  }
  uint8_t md5[16];
  tw_hash_final(x->md5, md5);
  tw_hex(md5, 16, x->etag);
  if (tw_s3_check_md5(r, x, tw_req_header(r, "Content-MD5"), md5)) return -1;
  char got[TW_CKSUM_MAX_B64];
  tw_cksum_final_b64(&x->cksum, got);
  if (x->cksum_in_trailer) {
    const char *t = tw_chunked_trailer(x->chunked, tw_cksum_header(x->cksum.alg));
    if (!t) {
      tw_s3_error(r, x, TW_ERR_S3_MALFORMED_TRAILER, NULL);
      return -1;
    }
    if (!tw_s3_sum_value_ok(x->cksum.alg, t)) {
      char msg[96];
      snprintf(msg, sizeof msg, "Value for %s trailing header is invalid.",
               tw_cksum_header(x->cksum.alg));
      tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST, msg);
      return -1;
    }
    snprintf(x->cksum_want, sizeof x->cksum_want, "%s", t);
  }
  if (tw_s3_checksum_result(r, x, got)) return -1;
  if (x->sha256) {
    uint8_t sha[32];
    char hex[65];
    tw_hash_final(x->sha256, sha);
    tw_hex(sha, 32, hex);
    if (strcmp(hex, x->content_sha256)) {
      tw_s3_error(r, x, TW_ERR_S3_SHA256_MISMATCH, NULL);
      return -1;
    }
  }
  return 0;
}

void tw_s3_put_object(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  if (tw_s3_finish_body(r, x)) return;
  if (tw_blob_publish(s->blobs, &x->blob)) {
    x->blob_open = 0;
    tw_s3_error(r, x, TW_ERR_INTERNAL, "Cannot store the object.");
    return;
  }
  x->blob_open = 0;
  json_t *headers, *meta;
  tw_s3_headers_from_request(r, &headers, &meta);
  const char *ct = tw_req_header(r, "Content-Type");
  pthread_mutex_lock(&s->mu);
  char cur[37];
  if (if_none_match_star(r) && tw_s3_gc_object(s, x->bucket, x->key, x->key_len, cur, NULL) > 0) {
    /* lost a race with another writer (committed or not) */
    pthread_mutex_unlock(&s->mu);
    json_decref(headers);
    json_decref(meta);
    tw_blob_remove(s->blobs, x->blob.id);
    tw_s3_error_key(r, x, TW_ERR_S3_PRECONDITION_FAILED, NULL,
                    "<Condition>If-None-Match</Condition>");
    return;
  }
  uint64_t t = tw_s3_save_row(r, x, "ObjectCreated:Put", (int64_t)x->received, x->etag, x->blob.id,
                              ct ? ct : "binary/octet-stream", headers, meta, x->result);
  pthread_mutex_unlock(&s->mu);
  json_decref(headers);
  json_decref(meta);
  tw_req_after_commit(r, t, put_done);
}

/* --- GET / HEAD ---------------------------------------------------------------------- */

int tw_s3_etag_matches(const char *list, const char *etag) {
  /* a comma-separated list of quoted or bare etags, or "*" */
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    const char *e = p;
    while (*e && *e != ',') e++;
    const char *a = p, *b = e;
    while (b > a && b[-1] == ' ') b--;
    if (b - a >= 2 && *a == '"' && b[-1] == '"') a++, b--;
    if ((b - a == 1 && *a == '*') ||
        ((size_t)(b - a) == strlen(etag) && !strncmp(a, etag, (size_t)(b - a))))
      return 1;
    p = e;
  }
  return 0;
}

int tw_s3_parse_http_date(const char *s, time_t *out) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *fmts[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                        "%a %b %d %H:%M:%S %Y", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.000Z"};
  for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, fmts[i], &tm);
    if (end && !*end) {
      *out = timegm(&tm);
      return 0;
    }
  }
  return -1;
}

/* 0: go on; else the status to answer (304 or 412). */
int tw_s3_check_conditions(tw_request *r, const tw_s3_obj *o) {
  const char *im = tw_req_header(r, "If-Match");
  const char *inm = tw_req_header(r, "If-None-Match");
  const char *ims = tw_req_header(r, "If-Modified-Since");
  const char *ius = tw_req_header(r, "If-Unmodified-Since");
  time_t mod = (time_t)(o->modified_ms / 1000), t;
  if (im && !tw_s3_etag_matches(im, o->etag)) return 412;
  if (!im && ius && !tw_s3_parse_http_date(ius, &t) && mod > t) return 412;
  if (inm && tw_s3_etag_matches(inm, o->etag)) return 304;
  if (!inm && ims && !tw_s3_parse_http_date(ims, &t) && mod <= t) return 304;
  return 0;
}

/* A number of a Range: blanks, then digits (no sign: strtoll alone would take
 * one, and "bytes= -5-9" made a negative start). */
static int range_digits(const char *s) {
  while (*s == ' ' || *s == '\t') s++;
  return isdigit((unsigned char)*s);
}

/* Range: bytes=a-b | a- | -n. 1: range set; 0: none/ignored; -1: unsatisfiable. */
static int parse_range(const char *h, int64_t size, int64_t *start, int64_t *len) {
  if (!h || strncmp(h, "bytes=", 6) || strchr(h, ',')) return 0;
  const char *p = h + 6;
  char *end;
  if (*p == '-') {
    if (!range_digits(p + 1)) return 0;
    long long n = strtoll(p + 1, &end, 10);
    if (*end || end == p + 1) return 0;
    if (n <= 0 || size == 0) return -1;
    if (n > size) n = size;
    *start = size - n;
    *len = n;
    return 1;
  }
  if (!range_digits(p)) return 0;
  long long a = strtoll(p, &end, 10);
  if (*end != '-') return 0;
  const char *q = end + 1;
  long long b = size - 1;
  if (*q) {
    if (!range_digits(q)) return 0;
    b = strtoll(q, &end, 10);
    if (*end || b < a) return 0;
  }
  if (a >= size) return -1;
  if (b >= size) b = size - 1;
  *start = a;
  *len = b - a + 1;
  return 1;
}

int tw_s3_parse_range(const char *h, int64_t size, int64_t *start, int64_t *len) {
  return parse_range(h, size, start, len);
}

static void add_object_headers(tw_request *r, s3_ctx *x, const tw_s3_obj *o) {
  char buf[96];
  snprintf(buf, sizeof buf, "\"%s\"", o->etag);
  tw_req_add_header(r, "ETag", buf);
  char date[40];
  tw_s3_http_date(o->modified_ms, date);
  tw_req_add_header(r, "Last-Modified", date);
  tw_req_add_header(r, "Accept-Ranges", "bytes");
  const char *ct = tw_s3_q(x, "response-content-type");
  tw_req_add_header(r, "Content-Type",
                    ct                ? ct
                    : o->content_type ? o->content_type
                                      : "binary/octet-stream");
  const char *k;
  json_t *v;
  json_object_foreach(o->headers, k, v) tw_req_add_header(r, k, json_string_value(v));
  static const char *overrides[][2] = {{"response-cache-control", "Cache-Control"},
                                       {"response-content-disposition", "Content-Disposition"},
                                       {"response-content-encoding", "Content-Encoding"},
                                       {"response-content-language", "Content-Language"},
                                       {"response-expires", "Expires"}};
  for (size_t i = 0; i < sizeof overrides / sizeof overrides[0]; i++) {
    const char *ov = tw_s3_q(x, overrides[i][0]);
    if (ov) tw_req_add_header(r, overrides[i][1], ov);
  }
  json_object_foreach(o->meta, k, v) {
    char name[300];
    snprintf(name, sizeof name, "x-amz-meta-%s", k);
    tw_req_add_header(r, name, json_string_value(v));
  }
  if (json_array_size(o->tags)) {
    char n[24];
    snprintf(n, sizeof n, "%zu", json_array_size(o->tags));
    tw_req_add_header(r, "x-amz-tagging-count", n);
  }
  tw_s3_lifecycle_expiration_header(r, x, o);
}

void tw_s3_get_object(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  tw_s3_part_pick pick; /* ?partNumber= (s3_mpu.c) */
  if (tw_s3_part_number_arg(r, x, &pick)) return;
  tw_s3_obj o;
  if (tw_s3_load_requested(r, x, &o)) { /* ?versionId=, delete markers (s3_versions.c) */
    tw_s3_row_free(&o);
    return;
  }
  int cond = tw_s3_check_conditions(r, &o);
  if (cond) {
    if (cond == 304) {
      tw_req_respond(r, 304, NULL, "", 0);
      tw_s3_add_common_headers(r);
      char buf[96];
      snprintf(buf, sizeof buf, "\"%s\"", o.etag);
      tw_req_add_header(r, "ETag", buf);
    } else {
      char extra[96];
      snprintf(extra, sizeof extra, "<Condition>%s</Condition>",
               tw_req_header(r, "If-Match") ? "If-Match" : "If-Unmodified-Since");
      tw_s3_error_key(r, x, TW_ERR_S3_PRECONDITION_FAILED, NULL, extra);
    }
    tw_s3_row_free(&o);
    return;
  }
  int64_t start = 0, len = o.size;
  int ranged;
  if (pick.number) {
    if (tw_s3_part_pick_of(r, x, &o, &pick)) {
      tw_s3_row_free(&o);
      return;
    }
    start = pick.start, len = pick.len, ranged = len > 0;
  } else {
    ranged = parse_range(tw_req_header(r, "Range"), o.size, &start, &len);
  }
  if (ranged < 0) {
    tw_buf extra;
    tw_buf_init(&extra, 4096);
    const char *rh = tw_req_header(r, "Range");
    tw_s3_xml_text(&extra, "RangeRequested", rh);
    tw_buf_printf(&extra, "<ActualObjectSize>%" PRId64 "</ActualObjectSize>", o.size);
    tw_s3_error_key(r, x, TW_ERR_S3_INVALID_RANGE, NULL, tw_buf_cstr(&extra));
    tw_buf_free(&extra);
    char cr[64];
    snprintf(cr, sizeof cr, "bytes */%" PRId64, o.size);
    tw_req_add_header(r, "Content-Range", cr);
    tw_s3_row_free(&o);
    return;
  }
  int status = ranged ? 206 : 200;
  if (o.size == 0) {
    tw_req_respond(r, status, NULL, "", 0);
  } else {
    int fd = tw_blob_open(s->blobs, o.blob);
    if (fd < 0) {
      tw_s3_row_free(&o);
      /* An overwrite or delete committed between reading the row and opening
       * its blob (which it then removed): read the row again. */
      if (x->get_retries++ < 5) {
        tw_s3_get_object(r, x);
        return;
      }
      tw_s3_error(r, x, TW_ERR_INTERNAL, "The object's data is missing.");
      return;
    }
    tw_req_respond_fd(r, status, fd, (uint64_t)start, (uint64_t)len);
  }
  tw_s3_add_common_headers(r);
  add_object_headers(r, x, &o);
  const char *mode = tw_req_header(r, "x-amz-checksum-mode");
  /* the checksum of exactly the bytes sent: the object's, or one part's */
  const char *sum = pick.count ? (pick.sum[0] ? pick.sum : NULL)
                    : start == 0 && len == o.size
                        ? json_string_value(json_object_get(o.checksum, "value"))
                        : NULL;
  if (sum && mode && !strcasecmp(mode, "ENABLED")) {
    const char *alg = json_string_value(json_object_get(o.checksum, "alg"));
    const char *type = json_string_value(json_object_get(o.checksum, "type"));
    tw_req_add_header(r, tw_cksum_header(tw_cksum_alg_parse(alg)), sum);
    tw_req_add_header(r, "x-amz-checksum-type", type ? type : "FULL_OBJECT");
  }
  if (pick.count) {
    char n[16];
    snprintf(n, sizeof n, "%d", pick.count);
    tw_req_add_header(r, "x-amz-mp-parts-count", n);
  }
  if (ranged) {
    char cr[96];
    snprintf(cr, sizeof cr, "bytes %" PRId64 "-%" PRId64 "/%" PRId64, start, start + len - 1,
             o.size);
    tw_req_add_header(r, "Content-Range", cr);
  }
  tw_s3_row_free(&o);
}

/* --- DELETE ---------------------------------------------------------------------------- */

static void delete_done(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (tw_s3_write_settled(r, x)) return;
  tw_req_respond(r, 204, NULL, "", 0);
  tw_s3_add_common_headers(r);
}

/* Whether the key will have a row once the writes in flight commit (s->mu
 * held): 1 with its body in old_blob; else 0 with *wait the ticket of the
 * write in flight that removed it (0: none), which the answer must wait for. */
static int delete_lookup(s3_ctx *x, const char *key, size_t klen, char old_blob[37],
                         uint64_t *wait) {
  if (tw_s3_gc_object(x->s3, x->bucket, key, klen, old_blob, wait) > 0) return 1;
  old_blob[0] = 0;
  return 0;
}

/* Appends the delete of a key and its event to the batch the caller holds
 * (queue engine locked, s->mu held). */
static void delete_append(tw_request *r, s3_ctx *x, const char *key, size_t klen) {
  tw_s3 *s = x->s3;
  tw_store_s3_objects(s->store)->remove(s->store, x->bucket, key, klen);
  tw_s3_notify_req(s, r, x->bucket, key, klen, "ObjectRemoved:Delete", 0, NULL);
}

void tw_s3_delete_object(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  if (tw_s3_q(x, "versionId") || tw_s3_versioning(s, x->bucket) != TW_S3_VERSIONING_OFF) {
    tw_s3_delete_versioned(r, x); /* s3_versions.c */
    return;
  }
  if (tw_s3_bucket_exists(s, x->bucket) <= 0) {
    tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return;
  }
  pthread_mutex_lock(&s->mu);
  uint64_t t;
  if (delete_lookup(x, x->key, x->key_len, x->old_blob, &t)) {
    tw_events_lock(s->events); /* lock order: the bus (event targets), then the store batch */
    tw_store_hold(s->store);
    delete_append(r, x, x->key, x->key_len);
    t = tw_store_ticket(s->store);
    tw_store_release(s->store);
    tw_events_unlock(s->events);
    tw_s3_gc_object_set(s, x->bucket, x->key, x->key_len, NULL, t);
  }
  pthread_mutex_unlock(&s->mu);
  if (t)
    tw_req_after_commit(r, t, delete_done);
  else
    delete_done(r);
}

static void delete_objects_done(tw_request *r) {
  s3_ctx *x = r->ctx;
  tw_buf *b = (tw_buf *)json_integer_value(json_object_get(x->result, "buf"));
  if (tw_s3_commit_failed(r, x)) { /* every delete was in the failed batch */
    tw_buf_free(b);
    free(b);
    return;
  }
  json_t *blobs = json_object_get(x->result, "blobs");
  size_t i;
  json_t *v;
  json_array_foreach(blobs, i, v) tw_blob_remove(x->s3->blobs, json_string_value(v));
  tw_s3_respond_xml(r, 200, b);
  free(b);
}

void tw_s3_delete_objects_answer(tw_request *r, s3_ctx *x, tw_buf *b, json_t *blobs,
                                 uint64_t ticket) {
  tw_buf_puts(b, "</DeleteResult>");
  x->result = json_object();
  json_object_set_new(x->result, "buf", json_integer((json_int_t)(intptr_t)b));
  json_object_set_new(x->result, "blobs", blobs);
  if (ticket)
    tw_req_after_commit(r, ticket, delete_objects_done);
  else
    delete_objects_done(r);
}

void tw_s3_delete_error(tw_buf *b, const char *key, const char *vid, const char *code,
                        const char *msg) {
  tw_buf_puts(b, "<Error>");
  tw_s3_xml_text(b, "Key", key);
  if (vid) tw_s3_xml_text(b, "VersionId", vid);
  tw_s3_xml_text(b, "Code", code);
  tw_s3_xml_text(b, "Message", msg);
  tw_buf_puts(b, "</Error>");
}

void tw_s3_delete_objects(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  if (tw_s3_bucket_exists(s, x->bucket) <= 0) {
    tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return;
  }
  /* S3 wants the body's integrity: Content-MD5 or a checksum header */
  const char *md5 = tw_req_header(r, "Content-MD5");
  int has_cksum = 0;
  for (size_t i = 0; i < r->nheaders; i++)
    if (!strncasecmp(r->headers[i].name, "x-amz-checksum-", 15) &&
        strcasecmp(r->headers[i].name, "x-amz-checksum-mode"))
      has_cksum = 1;
  if (!md5 && !has_cksum) {
    tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                "Missing required header for this request: Content-MD5");
    return;
  }
  if (md5) {
    uint8_t raw[64], got[16];
    tw_md5(r->body.data ? r->body.data : "", r->body.len, got);
    if (strlen(md5) > 40 || tw_base64_decode(md5, strlen(md5), raw) != 16) {
      tw_s3_error(r, x, TW_ERR_S3_INVALID_DIGEST, NULL);
      return;
    }
    if (memcmp(raw, got, 16)) {
      tw_s3_error(r, x, TW_ERR_S3_BAD_DIGEST, NULL);
      return;
    }
  }
  char *root = NULL;
  json_t *doc = r->body.len ? tw_xml_parse(r->body.data, r->body.len, &root) : NULL;
  if (!doc || !root || strcmp(root, "Delete")) {
    free(root);
    json_decref(doc);
    tw_s3_error(r, x, TW_ERR_S3_MALFORMED_XML, NULL);
    return;
  }
  free(root);
  json_t *objs = tw_xml_list(doc, "Object");
  const char *quiet = tw_xml_text(doc, "Quiet");
  int is_quiet = quiet && !strcasecmp(quiet, "true");
  size_t i;
  json_t *o;
  if (json_array_size(objs) == 0 || json_array_size(objs) > 1000) {
    json_decref(objs);
    json_decref(doc);
    tw_s3_error(r, x, TW_ERR_S3_MALFORMED_XML, NULL);
    return;
  }
  int versioned = tw_s3_versioning(s, x->bucket) != TW_S3_VERSIONING_OFF;
  json_array_foreach(objs, i, o) versioned |= tw_xml_text(o, "VersionId") != NULL;
  if (versioned) { /* s3_versions.c */
    tw_s3_delete_objects_versioned(r, x, objs, is_quiet);
    json_decref(objs);
    json_decref(doc);
    return;
  }
  tw_buf *b = malloc(sizeof *b);
  tw_buf_init(b, 64u << 20);
  tw_s3_xml_begin(b, "DeleteResult");
  json_t *blobs = json_array();
  uint64_t ticket = 0;
  size_t nfound = 0;
  char *found = calloc(json_array_size(objs), 1);
  pthread_mutex_lock(&s->mu);
  json_array_foreach(objs, i, o) {
    const char *key = tw_xml_text(o, "Key");
    if (!key) continue;
    size_t klen = strlen(key);
    if (klen > 1024) {
      tw_s3_delete_error(b, key, NULL, "KeyTooLongError", "Your key is too long");
      continue;
    }
    char old[37];
    uint64_t wait;
    found[i] = (char)delete_lookup(x, key, klen, old, &wait);
    nfound += (size_t)found[i];
    if (wait > ticket) ticket = wait;
    if (old[0]) json_array_append_new(blobs, json_string(old));
    if (!is_quiet) {
      tw_buf_puts(b, "<Deleted>");
      tw_s3_xml_text(b, "Key", key);
      tw_buf_puts(b, "</Deleted>");
    }
  }
  if (nfound) {
    /* one batch for all: one commit decides them all, so one answer is true */
    tw_events_lock(s->events);
    tw_store_hold(s->store);
    json_array_foreach(objs, i, o) if (found[i]) {
      const char *key = tw_xml_text(o, "Key");
      delete_append(r, x, key, strlen(key));
    }
    uint64_t t = tw_store_ticket(s->store);
    tw_store_release(s->store);
    tw_events_unlock(s->events);
    json_array_foreach(objs, i, o) if (found[i]) {
      const char *key = tw_xml_text(o, "Key");
      tw_s3_gc_object_set(s, x->bucket, key, strlen(key), NULL, t);
    }
    if (t > ticket) ticket = t;
  }
  pthread_mutex_unlock(&s->mu);
  free(found);
  json_decref(objs);
  json_decref(doc);
  tw_s3_delete_objects_answer(r, x, b, blobs, ticket);
}

/* --- COPY ---------------------------------------------------------------------------------- */

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
  if (tw_blob_create(s->blobs, &c->w)) return -1;
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
