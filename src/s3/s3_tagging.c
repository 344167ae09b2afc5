/* Object tags: PutObjectTagging, GetObjectTagging, DeleteObjectTagging, the
 * x-amz-tagging header of PutObject, CreateMultipartUpload and CopyObject
 * (with x-amz-tagging-directive), and the checks S3 makes on a tag set.
 *
 * A tag set is stored in objects.tags (and uploads.tags until completion) as
 * JSON [[key, value], ...] in the order S3 gives them back. Lifecycle filters
 * (s3_lifecycle.c) match on them. */
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wctype.h>

#include "core/xml_in.h"
#include "events/bus.h"
#include "s3/s3_internal.h"
#include "store/s3_buckets.h"
#include "store/s3_objects.h"

#define MAX_TAGS 10
#define MAX_KEY_CHARS 128
#define MAX_VALUE_CHARS 256
#define MSG_TOO_MANY "Object tags cannot be greater than 10"
#define MSG_BAD_HEADER                                                                         \
  "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters " \
  "without tag name duplicates."

/* --- the stored form ----------------------------------------------------------- */

char *tw_s3_tags_dump(json_t *tags) {
  return json_array_size(tags) ? json_dumps(tags, JSON_COMPACT) : NULL;
}

json_t *tw_s3_tags_load(const char *text) {
  json_t *t = text ? json_loads(text, 0, NULL) : NULL;
  if (t && (!json_is_array(t) || !json_array_size(t))) {
    json_decref(t);
    t = NULL;
  }
  return t;
}

/* --- what a tag may hold --------------------------------------------------------- */

static locale_t utf8_locale;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;
static void utf8_init(void) {
  utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* Next code point of NUL-terminated UTF-8; -1 when the bytes are not UTF-8. */
static long utf8_next(const unsigned char **p) {
  const unsigned char *s = *p;
  long c;
  int n;
  if (s[0] < 0x80) {
    c = s[0];
    n = 0;
  } else if ((s[0] & 0xE0) == 0xC0) {
    c = s[0] & 0x1F;
    n = 1;
  } else if ((s[0] & 0xF0) == 0xE0) {
    c = s[0] & 0x0F;
    n = 2;
  } else if ((s[0] & 0xF8) == 0xF0) {
    c = s[0] & 0x07;
    n = 3;
  } else {
    return -1;
  }
  for (int i = 1; i <= n; i++) {
    if ((s[i] & 0xC0) != 0x80) return -1;
    c = (c << 6) | (s[i] & 0x3F);
  }
  static const long min[] = {0, 0x80, 0x800, 0x10000};
  if (c < min[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return -1;
  *p = s + n + 1;
  return c;
}

static int utf8_valid(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p)
    if (utf8_next(&p) < 0) return 0;
  return 1;
}

/* "Unicode letters or numbers, white space, and the following symbols:
 * _ . : / = + - @" (S3 User Guide, object tagging). */
static int tag_char(long c) {
  if (c < 0x80)
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr(" _.:/=+-@", (int)c));
  switch (c) { /* \p{Z}: the space separators */
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return 1;
    default:
      break;
  }
  if (c >= 0x2000 && c <= 0x200A) return 1;
  pthread_once(&utf8_once, utf8_init);
  if (!utf8_locale) return 1; /* no Unicode tables here: do not refuse what S3 takes */
  return iswalnum_l((wint_t)c, utf8_locale);
}

/* 1 when s is UTF-8 of min..max allowed characters. */
static int tag_text_ok(const char *s, size_t min, size_t max) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = 0;
  while (*p) {
    long c = utf8_next(&p);
    if (c < 0 || !tag_char(c) || ++n > max) return 0;
  }
  return n >= min;
}

/* Checks one set (already at most 10, keys unique): InvalidTag otherwise. */
static int check_tags(tw_request *r, s3_ctx *x, json_t *tags) {
  size_t i;
  json_t *t;
  json_array_foreach(tags, i, t) {
    const char *k = json_string_value(json_array_get(t, 0));
    const char *v = json_string_value(json_array_get(t, 1));
    tw_buf ex;
    tw_buf_init(&ex, 16 * 1024);
    tw_s3_xml_text(&ex, "TagKey", k);
    const char *msg = NULL;
    if (!tag_text_ok(k, 1, MAX_KEY_CHARS)) {
      msg = "The TagKey you have provided is invalid";
    } else if (!tag_text_ok(v, 0, MAX_VALUE_CHARS)) {
      msg = "The TagValue you have provided is invalid";
      tw_s3_xml_text(&ex, "TagValue", v);
    } else if (!strncasecmp(k, "aws:", 4)) {
      msg = "System tags cannot be added/updated by requester";
    }
    if (msg) {
      tw_s3_error_key(r, x, TW_ERR_S3_INVALID_TAG, msg, tw_buf_cstr(&ex));
      tw_buf_free(&ex);
      return -1;
    }
    tw_buf_free(&ex);
  }
  return 0;
}

static int has_key(json_t *tags, const char *k) {
  size_t i;
  json_t *t;
  json_array_foreach(tags, i, t) if (!strcmp(json_string_value(json_array_get(t, 0)), k)) return 1;
  return 0;
}

/* --- the x-amz-tagging header --------------------------------------------------------- */

static int by_key(const void *a, const void *b) {
  return strcmp(json_string_value(json_array_get(*(json_t *const *)a, 0)),
                json_string_value(json_array_get(*(json_t *const *)b, 0)));
}

static void bad_header(tw_request *r, s3_ctx *x, const char *value) {
  tw_buf ex;
  tw_buf_init(&ex, 64 * 1024);
  tw_s3_xml_text(&ex, "ArgumentName", "x-amz-tagging");
  tw_s3_xml_text(&ex, "ArgumentValue", value);
  tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ARGUMENT, MSG_BAD_HEADER, tw_buf_cstr(&ex));
  tw_buf_free(&ex);
}

/* "k1=v1&k2=v2" as URL query parameters ('+' is a space, a key without '='
 * has the empty value); NULL after answering when it is not valid. */
static json_t *parse_header(tw_request *r, s3_ctx *x, const char *h) {
  json_t *tags = json_array();
  const char *p = h;
  while (*p) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    if (len) {
      const char *eq = memchr(p, '=', len);
      size_t kl = eq ? (size_t)(eq - p) : len;
      size_t kn, vn = 0;
      char *k = tw_url_decode_len(p, kl, 1, &kn);
      char *v = eq ? tw_url_decode_len(eq + 1, len - kl - 1, 1, &vn) : strdup("");
      /* a NUL (%00) cannot be in a tag either */
      int bad = !*k || strlen(k) != kn || strlen(v) != vn || !utf8_valid(k) || !utf8_valid(v) ||
                has_key(tags, k);
      if (!bad) json_array_append_new(tags, json_pack("[s,s]", k, v));
      free(k);
      free(v);
      if (bad) {
        json_decref(tags);
        bad_header(r, x, h);
        return NULL;
      }
    }
    p += len + (amp ? 1 : 0);
  }
  if (json_array_size(tags) > MAX_TAGS) {
    json_decref(tags);
    tw_s3_error(r, x, TW_ERR_S3_BAD_REQUEST, MSG_TOO_MANY);
    return NULL;
  }
  if (check_tags(r, x, tags)) {
    json_decref(tags);
    return NULL;
  }
  /* S3 gives a header's tags back in key order */
  size_t n = json_array_size(tags);
  json_t **items = calloc(n ? n : 1, sizeof *items);
  for (size_t i = 0; i < n; i++) items[i] = json_incref(json_array_get(tags, i));
  qsort(items, n, sizeof *items, by_key);
  json_array_clear(tags);
  for (size_t i = 0; i < n; i++) json_array_append_new(tags, items[i]);
  free(items);
  return tags;
}

int tw_s3_tags_from_header(tw_request *r, s3_ctx *x) {
  const char *h = tw_req_header(r, "x-amz-tagging");
  if (!h) h = tw_s3_q(x, "x-amz-tagging"); /* presigned URLs carry it in the query */
  if (!h) return 0;
  json_t *tags = parse_header(r, x, h);
  if (!tags) return -1;
  json_decref(x->tags);
  x->tags = json_array_size(tags) ? tags : NULL;
  if (!x->tags) json_decref(tags);
  return 0;
}

int tw_s3_tags_for_copy(tw_request *r, s3_ctx *x, json_t *source_tags) {
  const char *d = tw_req_header(r, "x-amz-tagging-directive");
  if (d && !strcasecmp(d, "REPLACE")) return tw_s3_tags_from_header(r, x);
  if (d && strcasecmp(d, "COPY")) {
    tw_s3_error(r, x, TW_ERR_S3_INVALID_ARGUMENT, "Unknown tagging directive.");
    return -1;
  }
  json_decref(x->tags);
  x->tags = json_array_size(source_tags) ? json_incref(source_tags) : NULL;
  return 0;
}

/* --- PutObjectTagging, GetObjectTagging, DeleteObjectTagging --------------------------- */

/* <Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging> -> [[k, v], ...];
 * NULL after answering. */
static json_t *parse_document(tw_request *r, s3_ctx *x, size_t max, const char *too_many) {
  if (!r->body.len) {
    tw_s3_error(r, x, TW_ERR_S3_MISSING_BODY, NULL);
    return NULL;
  }
  char *root = NULL;
  json_t *doc = tw_xml_parse(r->body.data, r->body.len, &root);
  json_t *set = doc && root && !strcmp(root, "Tagging") ? json_object_get(doc, "TagSet") : NULL;
  free(root);
  json_t *tags = NULL;
  const char *text = json_string_value(set); /* an empty set is <TagSet/> */
  if (json_is_object(set) || (text && strspn(text, " \t\r\n") == strlen(text))) {
    tags = json_array();
    json_t *list = tw_xml_list(set, "Tag");
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) {
      const char *k = tw_xml_text(t, "Key"), *v = tw_xml_text(t, "Value");
      if (!k || !v) {
        json_decref(tags);
        tags = NULL;
        break;
      }
      json_array_append_new(tags, json_pack("[s,s]", k, v));
    }
    json_decref(list);
  }
  json_decref(doc);
  if (!tags) {
    tw_s3_error(r, x, TW_ERR_S3_MALFORMED_XML, NULL);
    return NULL;
  }
  if (json_array_size(tags) > max) {
    json_decref(tags);
    tw_s3_error(r, x, TW_ERR_S3_BAD_REQUEST, too_many);
    return NULL;
  }
  if (check_tags(r, x, tags)) {
    json_decref(tags);
    return NULL;
  }
  for (size_t i = 1; i < json_array_size(tags); i++) {
    const char *k = json_string_value(json_array_get(json_array_get(tags, i), 0));
    for (size_t j = 0; j < i; j++)
      if (!strcmp(k, json_string_value(json_array_get(json_array_get(tags, j), 0)))) {
        tw_buf ex;
        tw_buf_init(&ex, 4096);
        tw_s3_xml_text(&ex, "TagKey", k);
        tw_s3_error_key(r, x, TW_ERR_S3_INVALID_TAG,
                        "Cannot provide multiple Tags with the same key", tw_buf_cstr(&ex));
        tw_buf_free(&ex);
        json_decref(tags);
        return NULL;
      }
  }
  return tags;
}

/* The body's integrity headers: Content-MD5 and at most one x-amz-checksum-*,
 * each of which must hold, and a signed payload hash. S3 requires one of the
 * first two for some operations (PutBucketLifecycleConfiguration; botocore
 * >= 1.36 sends CRC32 alone, older ones Content-MD5) but not for
 * PutObjectTagging. */
int tw_s3_check_body_digests(tw_request *r, s3_ctx *x, const char *missing) {
  static const tw_cksum_alg algs[] = {TW_CKSUM_CRC32, TW_CKSUM_CRC32C, TW_CKSUM_CRC64NVME,
                                      TW_CKSUM_SHA1, TW_CKSUM_SHA256};
  const char *body = r->body.data ? r->body.data : "";
  size_t len = r->body.len;
  const char *md5 = tw_req_header(r, "Content-MD5"), *want = NULL;
  tw_cksum_alg alg = TW_CKSUM_NONE;
  char msg[160];
  for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
    const char *v = tw_req_header(r, tw_cksum_header(algs[i]));
    if (!v) continue;
    if (want) {
      tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                  "Expecting a single x-amz-checksum- header. Multiple checksum Types are not "
                  "allowed.");
      return -1;
    }
    alg = algs[i];
    want = v;
  }
  if (missing && !md5 && !want) {
    tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST, missing);
    return -1;
  }
  if (md5) {
    uint8_t raw[64], got[16];
    if (strlen(md5) > 40 || tw_base64_decode(md5, strlen(md5), raw) != 16) {
      tw_s3_error(r, x, TW_ERR_S3_INVALID_DIGEST, NULL);
      return -1;
    }
    tw_md5(body, len, got);
    if (memcmp(raw, got, 16)) {
      tw_s3_error(r, x, TW_ERR_S3_BAD_DIGEST, NULL);
      return -1;
    }
  }
  if (want) {
    uint8_t raw[64];
    char got[TW_CKSUM_MAX_B64];
    if (strlen(want) > 60 ||
        tw_base64_decode(want, strlen(want), raw) != (long)tw_cksum_raw_len(alg)) {
      snprintf(msg, sizeof msg, "Value for %s header is invalid.", tw_cksum_header(alg));
      tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST, msg);
      return -1;
    }
    tw_cksum_b64(alg, body, len, got);
    if (strcmp(got, want)) {
      snprintf(msg, sizeof msg, "The %s you specified did not match the calculated checksum.",
               tw_cksum_alg_name(alg));
      tw_s3_error(r, x, TW_ERR_S3_BAD_DIGEST, msg);
      return -1;
    }
  }
  if (strlen(x->content_sha256) == 64 && strspn(x->content_sha256, "0123456789abcdef") == 64) {
    char hex[65];
    tw_sha256_hex(body, len, hex);
    if (strcmp(hex, x->content_sha256)) {
      tw_buf ex;
      tw_buf_init(&ex, 4096);
      tw_s3_xml_text(&ex, "ClientComputedContentSHA256", x->content_sha256);
      tw_s3_xml_text(&ex, "S3ComputedContentSHA256", hex);
      tw_s3_error_key(r, x, TW_ERR_S3_SHA256_MISMATCH, NULL, tw_buf_cstr(&ex));
      tw_buf_free(&ex);
      return -1;
    }
  }
  return 0;
}

/* The object must exist: NoSuchBucket or NoSuchKey otherwise. */
static int load_object(tw_request *r, s3_ctx *x, tw_s3_obj *o) {
  if (!tw_s3_load_requested(r, x, o)) return 0; /* ?versionId= (s3_versions.c) */
  tw_s3_row_free(o);
  return -1;
}

static void tagging_saved(tw_request *r) {
  if (tw_s3_commit_failed(r, r->ctx)) return;
  tw_req_respond(r, 200, NULL, "", 0);
  tw_s3_add_common_headers(r);
}

static void tagging_deleted(tw_request *r) {
  if (tw_s3_commit_failed(r, r->ctx)) return;
  tw_req_respond(r, 204, NULL, "", 0);
  tw_s3_add_common_headers(r);
}

/* Replaces the tags of the object as it is now; s->mu orders this against
 * writes of the key, and the blob condition leaves a newer object alone. */
static void set_tags(tw_request *r, s3_ctx *x, json_t *tags, void (*then)(tw_request *r)) {
  tw_s3 *s = x->s3;
  pthread_mutex_lock(&s->mu);
  tw_s3_obj o;
  if (load_object(r, x, &o)) {
    pthread_mutex_unlock(&s->mu);
    return;
  }
  char *text = tw_s3_tags_dump(tags);
  tw_events_lock(s->events); /* lock order: the bus (event targets), then the store batch */
  tw_store_hold(s->store);
  uint64_t t = tw_store_s3_objects(s->store)->set_tags(s->store, x->bucket, x->key, x->key_len,
                                                       o.blob, text);
  /* s3:ObjectTagging:Put / :Delete (EventBridge: Object Tags Added / Deleted) */
  tw_s3_notify_version = x->version_id[0] ? x->version_id : NULL;
  tw_s3_notify_req(s, r, x->bucket, x->key, x->key_len,
                   tags ? "ObjectTagging:Put" : "ObjectTagging:Delete", o.size, o.etag);
  tw_s3_notify_version = NULL;
  uint64_t t2 = tw_store_ticket(s->store);
  tw_store_release(s->store);
  tw_events_unlock(s->events);
  if (t2 > t) t = t2;
  pthread_mutex_unlock(&s->mu);
  free(text);
  tw_s3_row_free(&o);
  tw_req_after_commit(r, t, then);
}

void tw_s3_put_object_tagging(tw_request *r, s3_ctx *x) {
  if (tw_s3_bucket_exists(x->s3, x->bucket) == 0) {
    tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return;
  }
  if (tw_s3_check_body_digests(r, x, NULL)) return;
  json_t *tags = parse_document(r, x, MAX_TAGS, MSG_TOO_MANY);
  if (!tags) return;
  set_tags(r, x, tags, tagging_saved);
  json_decref(tags);
}

void tw_s3_delete_object_tagging(tw_request *r, s3_ctx *x) {
  set_tags(r, x, NULL, tagging_deleted);
}

/* <Tagging><TagSet>...</TagSet></Tagging> of a tag set. */
static void respond_tags(tw_request *r, json_t *tags) {
  tw_buf b;
  tw_buf_init(&b, 1 << 20);
  tw_s3_xml_begin(&b, "Tagging");
  tw_buf_puts(&b, "<TagSet>");
  size_t i;
  json_t *t;
  json_array_foreach(tags, i, t) {
    tw_buf_puts(&b, "<Tag>");
    tw_s3_xml_text(&b, "Key", json_string_value(json_array_get(t, 0)));
    tw_s3_xml_text(&b, "Value", json_string_value(json_array_get(t, 1)));
    tw_buf_puts(&b, "</Tag>");
  }
  tw_buf_puts(&b, "</TagSet></Tagging>");
  tw_s3_respond_xml(r, 200, &b);
}

void tw_s3_get_object_tagging(tw_request *r, s3_ctx *x) {
  tw_s3_obj o;
  if (load_object(r, x, &o)) return;
  respond_tags(r, o.tags);
  tw_s3_row_free(&o);
}

/* --- PutBucketTagging, GetBucketTagging, DeleteBucketTagging ----------------------------
 * Up to 50 tags, checked as an object's; kept in the bucket's tags setting. S3
 * answers both writes 204; a bucket without tags is NoSuchTagSet. */

#define MAX_BUCKET_TAGS 50
#define MSG_BUCKET_TOO_MANY "Bucket tag count cannot be greater than 50"

static int bucket_or_404(tw_request *r, s3_ctx *x) {
  int e = tw_s3_bucket_exists(x->s3, x->bucket);
  if (e > 0) return 0;
  tw_s3_error(r, x, e < 0 ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_BUCKET, NULL);
  return -1;
}

static void bucket_set_tags(tw_request *r, s3_ctx *x, json_t *tags) {
  tw_s3 *s = x->s3;
  char *text = tw_s3_tags_dump(tags);
  /* s->mu orders this against DeleteBucket */
  pthread_mutex_lock(&s->mu);
  if (bucket_or_404(r, x)) {
    pthread_mutex_unlock(&s->mu);
    free(text);
    return;
  }
  uint64_t t =
      tw_store_s3_buckets(s->store)->set_setting(s->store, x->bucket, TW_S3_BUCKET_TAGS, text);
  pthread_mutex_unlock(&s->mu);
  free(text);
  tw_req_after_commit(r, t, tagging_deleted); /* 204 */
}

void tw_s3_put_bucket_tagging(tw_request *r, s3_ctx *x) {
  if (bucket_or_404(r, x) || tw_s3_check_body_digests(r, x, TW_S3_MISSING_DIGEST)) return;
  json_t *tags = parse_document(r, x, MAX_BUCKET_TAGS, MSG_BUCKET_TOO_MANY);
  if (!tags) return;
  bucket_set_tags(r, x, tags);
  json_decref(tags);
}

void tw_s3_delete_bucket_tagging(tw_request *r, s3_ctx *x) {
  bucket_set_tags(r, x, NULL);
}

void tw_s3_get_bucket_tagging(tw_request *r, s3_ctx *x) {
  char *text = NULL;
  int rc = tw_store_s3_buckets(x->s3->store)
               ->get_setting(x->s3->store, x->bucket, TW_S3_BUCKET_TAGS, &text);
  if (rc <= 0) {
    tw_s3_error(r, x, rc < 0 ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return;
  }
  json_t *tags = tw_s3_tags_load(text);
  free(text);
  if (!tags) {
    tw_buf ex;
    tw_buf_init(&ex, 4096);
    tw_s3_xml_text(&ex, "BucketName", x->bucket);
    tw_s3_error_key(r, x, TW_ERR_S3_NO_SUCH_TAG_SET, NULL, tw_buf_cstr(&ex));
    tw_buf_free(&ex);
    return;
  }
  respond_tags(r, tags);
  json_decref(tags);
}
