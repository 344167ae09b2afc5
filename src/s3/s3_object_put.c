/* PutObject: the body streamed to a blob file, checksums, Content-MD5,
 * conditional writes (If-None-Match: *). */
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

/* A body arrives in pieces of a few KiB (libmicrohttpd's per-connection
 * buffer); a large one is gathered into pieces of this size, so that the
 * hashes and the file see a few hundred calls per 64 MiB, not thousands. */
#define GATHER (256u << 10)

static int consume(s3_ctx *x, const char *data, size_t n) {
  tw_hash_update(x->md5, data, n);
  if (x->sha256) tw_hash_update(x->sha256, data, n);
  tw_cksum_update(&x->cksum, data, n);
  if (x->cksum_extra.alg) tw_cksum_update(&x->cksum_extra, data, n); /* s3_mpu.c */
  return tw_blob_write(&x->blob, data, n);
}

static int flush_gathered(s3_ctx *x) {
  size_t n = x->npend;
  x->npend = 0;
  return n ? consume(x, x->pend, n) : 0;
}

/* Decoded body bytes (plain, or out of aws-chunked framing) go here. */
static int take_bytes(void *ud, const char *data, size_t n) {
  s3_ctx *x = ud;
  if (x->received + n > TW_S3_MAX_OBJECT) return -1;
  x->received += n;
  if (!x->pend && n < GATHER / 4 && x->received > GATHER) x->pend = malloc(GATHER);
  if (!x->pend || n >= GATHER) return flush_gathered(x) || consume(x, data, n) ? -1 : 0;
  if (x->npend + n > GATHER && flush_gathered(x)) return -1;
  memcpy(x->pend + x->npend, data, n);
  x->npend += n;
  return 0;
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
    int e = tw_s3_req_bucket_exists(x);
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
    /* an object of known, small length is kept in the store (blob_inline.h) */
    int small = x->handler == tw_s3_put_object && x->has_expected;
    if (small ? tw_blob_create_small(x->s3->blobs, &x->blob, x->expected)
              : tw_blob_create(x->s3->blobs, &x->blob)) {
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
  if (flush_gathered(x)) {
    tw_s3_error(r, x, errno == ENOSPC ? TW_ERR_S3_INSUFFICIENT_STORAGE : TW_ERR_INTERNAL, NULL);
    return -1;
  }
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
