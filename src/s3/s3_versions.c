/* Versioning: Get/PutBucketVersioning, version ids, reads of a named
 * version, delete markers, DeleteObject(s) with versions and
 * ListObjectVersions.
 *
 * The key's latest object stays in the objects table (so GET, listings and
 * the lifecycle's current-version rules read it as before); every other
 * version and every delete marker is a row of object_versions (see
 * store/s3_objects.h). A version's order is vseq (microseconds, increasing
 * within this process); its id is that order inverted in hex plus 32 random
 * bits, so ids sort newest first. The `null` version has no id.
 *
 * Bodies: a write in a bucket with versioning configured replaces no body
 * (the previous latest stays a version), except a Suspended write that
 * replaces the `null` version: that body is left to the blob sweep (s3_gc.c),
 * which takes every body no row names. Deleting a version unlinks its body
 * once the delete committed. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/xml_in.h"
#include "events/bus.h"
#include "s3/s3_internal.h"
#include "store/s3_buckets.h"
#include "store/s3_objects.h"

_Thread_local const char *tw_s3_notify_version;

/* --- the bucket's state and version ids ------------------------------------------- */

int tw_s3_versioning(tw_s3 *s, const char *bucket) {
  char *text = NULL;
  if (tw_store_s3_buckets(s->store)->get_setting(s->store, bucket, TW_S3_BUCKET_VERSIONING,
                                                 &text) <= 0 ||
      !text)
    return TW_S3_VERSIONING_OFF;
  int mode = tw_s3_versioning_of(text);
  free(text);
  return mode;
}

int tw_s3_versioning_of(const char *text) {
  if (!text) return TW_S3_VERSIONING_OFF;
  json_t *doc = json_loads(text, 0, NULL);
  const char *st = json_string_value(json_object_get(doc, "Status"));
  int mode = !st                        ? TW_S3_VERSIONING_OFF
             : !strcmp(st, "Enabled")   ? TW_S3_VERSIONING_ENABLED
             : !strcmp(st, "Suspended") ? TW_S3_VERSIONING_SUSPENDED
                                        : TW_S3_VERSIONING_OFF;
  json_decref(doc);
  return mode;
}

static _Atomic int64_t last_vseq;

int64_t tw_s3_version_seq(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  int64_t now = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
  int64_t prev = atomic_load(&last_vseq), next;
  do {
    next = now > prev ? now : prev + 1;
  } while (!atomic_compare_exchange_weak(&last_vseq, &prev, next));
  return next;
}

void tw_s3_version_id(int64_t vseq, char out[40]) {
  uint32_t rnd;
  tw_random_bytes(&rnd, sizeof rnd);
  snprintf(out, 40, "%016" PRIx64 "%08" PRIx32, (uint64_t)(INT64_MAX - vseq), rnd);
}

/* "null" or an id tw_s3_version_id makes. */
static int valid_id(const char *v) {
  if (!strcmp(v, "null")) return 1;
  if (strlen(v) != 24) return 0;
  for (int i = 0; i < 24; i++)
    if (!strchr("0123456789abcdef", v[i])) return 0;
  return 1;
}

/* The order a version id encodes (the `null` version's must be looked up). */
static int64_t id_vseq(const char *v) {
  char hex[17];
  memcpy(hex, v, 16);
  hex[16] = 0;
  return INT64_MAX - (int64_t)strtoull(hex, NULL, 16);
}

/* --- reading a version ---------------------------------------------------------------- */

static void obj_from_row(tw_s3_obj *o, tw_s3_object_row *row) {
  o->size = row->size;
  snprintf(o->etag, sizeof o->etag, "%s", row->etag ? row->etag : "");
  o->modified_ms = row->modified_ms;
  snprintf(o->blob, sizeof o->blob, "%.36s", row->blob ? row->blob : "");
  o->content_type = row->content_type ? strdup(row->content_type) : NULL;
  o->headers = row->headers ? json_loads(row->headers, 0, NULL) : NULL;
  o->meta = row->meta ? json_loads(row->meta, 0, NULL) : NULL;
  o->checksum = row->checksums ? json_loads(row->checksums, 0, NULL) : NULL;
  o->tags = tw_s3_tags_load(row->tags);
  snprintf(o->version_id, sizeof o->version_id, "%s", row->version_id ? row->version_id : "null");
  o->delete_marker = row->delete_marker;
}

int tw_s3_load_version(tw_s3 *s, const char *bucket, const char *key, size_t klen, const char *vid,
                       tw_s3_obj *o) {
  memset(o, 0, sizeof *o);
  const tw_s3_objects_repo *objects = tw_store_s3_objects(s->store);
  tw_s3_object_row row;
  int found;
  if (!vid) {
    found = objects->get(s->store, bucket, key, klen, &row);
    if (found < 0) return TW_S3_V_ERROR;
    if (found) {
      obj_from_row(o, &row);
      o->found = 1;
      tw_s3_object_row_free(&row);
      return TW_S3_V_OK;
    }
    found = objects->latest_marker(s->store, bucket, key, klen, &row);
    if (found < 0) return TW_S3_V_ERROR;
    if (!found) return TW_S3_V_NO_KEY;
    obj_from_row(o, &row);
    tw_s3_object_row_free(&row);
    return TW_S3_V_LATEST_MARKER;
  }
  if (!valid_id(vid)) return TW_S3_V_BAD_ID;
  found = objects->get_version(s->store, bucket, key, klen, strcmp(vid, "null") ? vid : NULL, &row);
  if (found < 0) return TW_S3_V_ERROR;
  if (!found) return TW_S3_V_NO_VERSION;
  obj_from_row(o, &row);
  tw_s3_object_row_free(&row);
  if (o->delete_marker) return TW_S3_V_MARKER;
  o->found = 1;
  return TW_S3_V_OK;
}

static void bad_version_id(tw_request *r, s3_ctx *x, const char *vid) {
  tw_buf ex;
  tw_buf_init(&ex, 4096);
  tw_s3_xml_text(&ex, "ArgumentName", "versionId");
  tw_s3_xml_text(&ex, "ArgumentValue", vid);
  tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ARGUMENT, "Invalid version id specified",
                  tw_buf_cstr(&ex));
  tw_buf_free(&ex);
}

static void no_such_version(tw_request *r, s3_ctx *x, const char *key, size_t klen,
                            const char *vid) {
  tw_buf ex;
  tw_buf_init(&ex, 16384);
  tw_s3_xml_textn(&ex, "Key", key, klen);
  tw_s3_xml_text(&ex, "VersionId", vid);
  tw_s3_error_key(r, x, TW_ERR_S3_NO_SUCH_VERSION, NULL, tw_buf_cstr(&ex));
  tw_buf_free(&ex);
}

int tw_s3_load_requested(tw_request *r, s3_ctx *x, tw_s3_obj *o) {
  tw_s3 *s = x->s3;
  const char *vid = tw_s3_q(x, "versionId");
  int rc = tw_s3_load_version(s, x->bucket, x->key, x->key_len, vid, o);
  x->version_id[0] = 0;
  x->delete_marker = 0;
  switch (rc) {
    case TW_S3_V_OK:
      /* unversioned buckets answer without one, as S3 does */
      if (vid || strcmp(o->version_id, "null") || tw_s3_req_versioning(x) != TW_S3_VERSIONING_OFF)
        snprintf(x->version_id, sizeof x->version_id, "%s", o->version_id);
      return 0;
    case TW_S3_V_BAD_ID:
      bad_version_id(r, x, vid);
      break;
    case TW_S3_V_MARKER: {
      x->delete_marker = 1;
      snprintf(x->version_id, sizeof x->version_id, "%s", o->version_id);
      tw_buf ex;
      tw_buf_init(&ex, 4096);
      tw_s3_xml_text(&ex, "Method", r->method);
      tw_s3_xml_text(&ex, "ResourceType", "DeleteMarker");
      tw_s3_error_key(r, x, TW_ERR_S3_METHOD_NOT_ALLOWED, NULL, tw_buf_cstr(&ex));
      tw_buf_free(&ex);
      char date[40];
      tw_s3_http_date(o->modified_ms, date);
      tw_req_add_header(r, "Last-Modified", date);
      tw_req_add_header(r, "Allow", "DELETE");
      break;
    }
    case TW_S3_V_LATEST_MARKER:
      x->delete_marker = 1;
      snprintf(x->version_id, sizeof x->version_id, "%s", o->version_id);
      tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_KEY, NULL);
      break;
    case TW_S3_V_NO_KEY:
    case TW_S3_V_NO_VERSION: {
      int e = tw_s3_req_bucket_exists(x);
      if (e <= 0)
        tw_s3_error(r, x, e < 0 ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_BUCKET, NULL);
      else if (rc == TW_S3_V_NO_KEY)
        tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_KEY, NULL);
      else
        no_such_version(r, x, x->key, x->key_len, vid);
      break;
    }
    default:
      tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
  }
  o->found = 0;
  return -1;
}

/* --- Get/PutBucketVersioning ------------------------------------------------------------ */

static int bucket_or_404(tw_request *r, s3_ctx *x) {
  int e = tw_s3_bucket_exists(x->s3, x->bucket);
  if (e > 0) return 0;
  tw_s3_error(r, x, e < 0 ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_BUCKET, NULL);
  return -1;
}

void tw_s3_get_versioning(tw_request *r, s3_ctx *x) {
  if (bucket_or_404(r, x)) return;
  int mode = tw_s3_versioning(x->s3, x->bucket);
  tw_buf b;
  tw_buf_init(&b, 4096);
  tw_s3_xml_begin(&b, "VersioningConfiguration");
  if (mode != TW_S3_VERSIONING_OFF)
    tw_s3_xml_text(&b, "Status", mode == TW_S3_VERSIONING_ENABLED ? "Enabled" : "Suspended");
  tw_buf_puts(&b, "</VersioningConfiguration>");
  tw_s3_respond_xml(r, 200, &b);
}

static void versioning_saved(tw_request *r) {
  if (tw_s3_commit_failed(r, r->ctx)) return;
  tw_req_respond(r, 200, NULL, "", 0);
  tw_s3_add_common_headers(r);
}

void tw_s3_put_versioning(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  if (bucket_or_404(r, x)) return;
  char *root = NULL;
  json_t *doc = r->body.len ? tw_xml_parse(r->body.data, r->body.len, &root) : NULL;
  int ok = doc && root && !strcmp(root, "VersioningConfiguration");
  free(root);
  const char *status = ok ? tw_xml_text(doc, "Status") : NULL;
  const char *mfa = ok ? tw_xml_text(doc, "MfaDelete") : NULL;
  if (ok && !mfa) mfa = tw_xml_text(doc, "MFADelete");
  if (!ok || (status && strcmp(status, "Enabled") && strcmp(status, "Suspended")) ||
      (mfa && strcmp(mfa, "Enabled") && strcmp(mfa, "Disabled"))) {
    json_decref(doc);
    tw_s3_error(r, x, TW_ERR_S3_MALFORMED_XML, NULL);
    return;
  }
  if (mfa && !strcmp(mfa, "Enabled")) {
    /* MFA Delete needs an MFA device's code in x-amz-mfa; tweedle has none */
    int has_mfa = tw_req_header(r, "x-amz-mfa") != NULL;
    json_decref(doc);
    if (!has_mfa)
      tw_s3_error(r, x, TW_ERR_ACCESS_DENIED, "Mfa Authentication must be used for this request");
    else
      tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                  "MFA Delete is not supported: this server has no MFA devices.");
    return;
  }
  if (!status) { /* only MfaDelete Disabled: nothing changes */
    json_decref(doc);
    versioning_saved(r);
    return;
  }
  char text[64];
  snprintf(text, sizeof text, "{\"Status\":\"%s\"}", status);
  json_decref(doc);
  pthread_mutex_lock(&s->mu); /* orders this against DeleteBucket and writes of keys */
  if (bucket_or_404(r, x)) {
    pthread_mutex_unlock(&s->mu);
    return;
  }
  uint64_t t = tw_store_s3_buckets(s->store)->set_setting(s->store, x->bucket,
                                                          TW_S3_BUCKET_VERSIONING, text);
  pthread_mutex_unlock(&s->mu);
  tw_req_after_commit(r, t, versioning_saved);
}

/* --- ListObjectVersions ---------------------------------------------------------------- */

typedef struct {
  tw_s3 *s;
  const char *prefix, *delim;
  size_t plen;
  int enc;
  long max_keys, count;
  int truncated, done, restart, moved;
  char *cursor; /* the next page starts after (cursor, cursor_vseq) */
  size_t cursor_n;
  int64_t cursor_vseq;
  char *last; /* the last key or common prefix returned, and its version */
  size_t last_n;
  int64_t last_vseq;
  char last_vid[40];
  tw_buf entries, prefixes;
} versions_state;

#define VERSIONS_PAGE 1001

static void set_last(versions_state *L, const char *k, size_t n, int64_t vseq, const char *vid) {
  free(L->last);
  L->last = malloc(n + 2);
  memcpy(L->last, k, n);
  L->last_n = n;
  L->last_vseq = vseq;
  snprintf(L->last_vid, sizeof L->last_vid, "%s", vid ? vid : "");
  L->moved = 1;
}

static int version_row(void *ud, const tw_s3_object_row *o) {
  versions_state *L = ud;
  const char *k = o->key;
  size_t kn = o->key_len;
  if (kn < L->plen || memcmp(k, L->prefix, L->plen)) {
    L->done = 1;
    return 1;
  }
  if (L->count >= L->max_keys) {
    L->truncated = L->max_keys > 0 || L->count > 0;
    L->done = 1;
    return 1;
  }
  if (L->delim) {
    size_t dl = strlen(L->delim);
    for (size_t i = L->plen; i + dl <= kn; i++)
      if (!memcmp(k + i, L->delim, dl)) {
        size_t cpn = i + dl;
        tw_buf_puts(&L->prefixes, "<CommonPrefixes>");
        tw_s3_list_key(&L->prefixes, "Prefix", k, cpn, L->enc);
        tw_buf_puts(&L->prefixes, "</CommonPrefixes>");
        L->count++;
        set_last(L, k, cpn, INT64_MIN, NULL);
        L->restart = 1;
        return 1;
      }
  }
  char when[32];
  tw_s3_iso8601(o->modified_ms, when);
  const char *vid = o->version_id ? o->version_id : "null";
  tw_buf *b = &L->entries;
  tw_buf_puts(b, o->delete_marker ? "<DeleteMarker>" : "<Version>");
  tw_s3_list_key(b, "Key", k, kn, L->enc);
  tw_s3_xml_text(b, "VersionId", vid);
  tw_s3_xml_text(b, "IsLatest", o->is_latest ? "true" : "false");
  tw_s3_xml_text(b, "LastModified", when);
  if (!o->delete_marker) {
    tw_buf_printf(b, "<ETag>&quot;%s&quot;</ETag><Size>%" PRId64 "</Size>", o->etag, o->size);
    tw_s3_list_checksum(b, o->checksums);
    tw_buf_puts(b, "<StorageClass>STANDARD</StorageClass>");
  }
  tw_s3_object_owner_xml(b, L->s, o->bucket, o->acl);
  tw_buf_puts(b, o->delete_marker ? "</DeleteMarker>" : "</Version>");
  L->count++;
  set_last(L, k, kn, o->vseq, vid);
  return 0;
}

void tw_s3_list_versions(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  const char *prefix = tw_s3_q(x, "prefix");
  const char *delim = tw_s3_q(x, "delimiter");
  const char *key_marker = tw_s3_q(x, "key-marker");
  const char *vid_marker = tw_s3_q(x, "version-id-marker");
  if (!prefix) prefix = "";
  if (delim && !*delim) delim = NULL;
  if (key_marker && !*key_marker) key_marker = NULL;
  if (vid_marker && !*vid_marker) vid_marker = NULL;
  int enc;
  long max_keys;
  if (tw_s3_list_params(r, x, 0, &enc, &max_keys)) return;
  if (vid_marker && !key_marker) {
    tw_s3_error(r, x, TW_ERR_S3_INVALID_ARGUMENT,
                "A version-id marker cannot be specified without a key marker.");
    return;
  }
  if (vid_marker && !valid_id(vid_marker)) {
    bad_version_id(r, x, vid_marker);
    return;
  }
  if (bucket_or_404(r, x)) return;
  size_t plen = strlen(prefix);
  versions_state L = {.s = s,
                      .prefix = prefix,
                      .plen = plen,
                      .delim = delim,
                      .enc = enc,
                      .max_keys = max_keys,
                      .cursor_vseq = INT64_MAX};
  const tw_s3_objects_repo *objects = tw_store_s3_objects(s->store);
  /* where to start: after every version of key-marker, or after its
   * version-id-marker */
  if (key_marker) {
    L.cursor_n = strlen(key_marker);
    L.cursor = malloc(L.cursor_n + 2);
    memcpy(L.cursor, key_marker, L.cursor_n);
    L.cursor_vseq = INT64_MIN;
    if (vid_marker && strcmp(vid_marker, "null")) {
      L.cursor_vseq = id_vseq(vid_marker);
    } else if (vid_marker) {
      tw_s3_object_row row;
      if (objects->get_version(s->store, x->bucket, key_marker, L.cursor_n, NULL, &row) == 1)
        L.cursor_vseq = row.vseq;
      tw_s3_object_row_free(&row);
    }
    /* continuing after a common prefix skips every key under it: no UTF-8
     * key holds a 0xFF byte */
    if (!vid_marker && delim) {
      size_t dl = strlen(delim);
      if (L.cursor_n >= dl && L.cursor_n >= plen &&
          !memcmp(L.cursor + L.cursor_n - dl, delim, dl) && !memcmp(L.cursor, prefix, plen))
        L.cursor[L.cursor_n++] = (char)0xFF;
    }
  }
  tw_buf_init(&L.entries, 256u << 20);
  tw_buf_init(&L.prefixes, 64u << 20);
  while (!L.done) {
    L.restart = L.moved = 0;
    int rows = objects->list_versions(s->store, x->bucket, L.cursor ? L.cursor : "", L.cursor_n,
                                      L.cursor_vseq, prefix, plen, VERSIONS_PAGE, version_row, &L);
    if (rows < 0) {
      tw_buf_free(&L.entries);
      tw_buf_free(&L.prefixes);
      free(L.cursor);
      free(L.last);
      tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
      return;
    }
    if (L.moved) {
      free(L.cursor);
      L.cursor = malloc(L.last_n + 2);
      memcpy(L.cursor, L.last, L.last_n);
      L.cursor_n = L.last_n;
      L.cursor_vseq = L.last_vseq;
      if (L.restart) L.cursor[L.cursor_n++] = (char)0xFF;
    }
    if (!L.restart && (L.done || rows < VERSIONS_PAGE)) L.done = 1;
  }
  tw_buf b;
  tw_buf_init(&b, 512u << 20);
  tw_s3_xml_begin(&b, "ListVersionsResult");
  tw_s3_xml_text(&b, "Name", x->bucket);
  tw_s3_list_key(&b, "Prefix", prefix, plen, enc);
  tw_s3_list_key(&b, "KeyMarker", key_marker ? key_marker : "", key_marker ? strlen(key_marker) : 0,
                 enc);
  tw_s3_xml_text(&b, "VersionIdMarker", vid_marker ? vid_marker : "");
  tw_buf_printf(&b, "<MaxKeys>%ld</MaxKeys>", max_keys);
  if (delim) tw_s3_list_key(&b, "Delimiter", delim, strlen(delim), enc);
  if (enc) tw_s3_xml_text(&b, "EncodingType", "url");
  tw_buf_printf(&b, "<IsTruncated>%s</IsTruncated>", L.truncated ? "true" : "false");
  if (L.truncated && L.last) {
    tw_s3_list_key(&b, "NextKeyMarker", L.last, L.last_n, enc);
    if (L.last_vid[0]) tw_s3_xml_text(&b, "NextVersionIdMarker", L.last_vid);
  }
  tw_buf_append(&b, L.entries.data ? L.entries.data : "", L.entries.len);
  tw_buf_append(&b, L.prefixes.data ? L.prefixes.data : "", L.prefixes.len);
  tw_buf_puts(&b, "</ListVersionsResult>");
  tw_buf_free(&L.entries);
  tw_buf_free(&L.prefixes);
  free(L.cursor);
  free(L.last);
  tw_s3_respond_xml(r, 200, &b);
}

/* --- deletes ------------------------------------------------------------------------------ */

/* After one version's removal: what the key's latest object will be (its
 * body for the writes-in-flight table), from committed data plus this
 * removal. */
typedef struct {
  const char *key;
  size_t klen;
  int64_t skip_vseq;
  char blob[37];
  int seen;
} next_latest;

static int next_row(void *ud, const tw_s3_object_row *o) {
  next_latest *n = ud;
  if (o->key_len != n->klen || memcmp(o->key, n->key, n->klen)) return 1;
  if (o->vseq == n->skip_vseq) return 0;
  n->seen = 1;
  if (!o->delete_marker) snprintf(n->blob, sizeof n->blob, "%.36s", o->blob ? o->blob : "");
  return 1;
}

/* One removal appended to the held batch (s->mu, the events lock and the
 * store held): a version when vid is set, else a delete marker (versioned
 * bucket) or the object (unversioned). *marker_vid: the marker made or
 * removed; *blob: a body to unlink once committed. */
typedef struct {
  int marker;           /* a marker was made or removed */
  char marker_vid[40];  /* its id ("null" for the null one) */
  char version_vid[40]; /* the version removed (vid given) */
  char blob[37];        /* the body to unlink after the commit */
  int wrote;
} delete_result;

static void delete_one(tw_request *r, s3_ctx *x, int mode, const char *key, size_t klen,
                       const char *vid, delete_result *res, uint64_t *ticket) {
  tw_s3 *s = x->s3;
  const tw_s3_objects_repo *objects = tw_store_s3_objects(s->store);
  memset(res, 0, sizeof *res);
  uint64_t t = 0;
  int64_t now = tw_now_ms();
  if (vid) {
    int is_null = !strcmp(vid, "null");
    snprintf(res->version_vid, sizeof res->version_vid, "%s", vid);
    tw_s3_object_row row;
    int found = objects->get_version(s->store, x->bucket, key, klen, is_null ? NULL : vid, &row);
    if (found <= 0) return; /* S3 answers success for a version that is not there */
    res->marker = row.delete_marker;
    if (res->marker) snprintf(res->marker_vid, sizeof res->marker_vid, "%s", vid);
    if (!row.delete_marker) snprintf(res->blob, sizeof res->blob, "%.36s", row.blob);
    int was_latest_object = row.is_latest && !row.delete_marker;
    int64_t vseq = row.vseq;
    tw_s3_object_row_free(&row);
    next_latest nl = {.key = key, .klen = klen, .skip_vseq = vseq};
    if (was_latest_object)
      objects->list_versions(s->store, x->bucket, key, klen, vseq, key, klen, 2, next_row, &nl);
    t = objects->remove_version(s->store, x->bucket, key, klen, is_null ? NULL : vid);
    tw_s3_notify_version = vid;
    tw_s3_notify_req(s, r, x->bucket, key, klen, "ObjectRemoved:Delete", 0, NULL);
    tw_s3_notify_version = NULL;
    uint64_t t2 = tw_store_ticket(s->store);
    if (t2 > t) t = t2;
    if (was_latest_object) tw_s3_gc_object_set(s, x->bucket, key, klen, nl.blob, t);
  } else if (mode != TW_S3_VERSIONING_OFF) {
    int64_t vseq = tw_s3_version_seq();
    char id[40] = "null";
    if (mode == TW_S3_VERSIONING_ENABLED) tw_s3_version_id(vseq, id);
    t = objects->add_marker(s->store, x->bucket, key, klen,
                            mode == TW_S3_VERSIONING_ENABLED ? id : NULL, vseq, now, mode);
    tw_s3_notify_version = id;
    tw_s3_notify_req(s, r, x->bucket, key, klen, "ObjectRemoved:DeleteMarkerCreated", 0, NULL);
    tw_s3_notify_version = NULL;
    uint64_t t2 = tw_store_ticket(s->store);
    if (t2 > t) t = t2;
    res->marker = 1;
    snprintf(res->marker_vid, sizeof res->marker_vid, "%s", id);
    tw_s3_gc_object_set(s, x->bucket, key, klen, NULL, t);
  } else {
    uint64_t wait = 0;
    if (tw_s3_gc_object(s, x->bucket, key, klen, res->blob, &wait) <= 0) {
      res->blob[0] = 0;
      if (wait > *ticket) *ticket = wait;
      return;
    }
    t = objects->remove(s->store, x->bucket, key, klen);
    tw_s3_notify_req(s, r, x->bucket, key, klen, "ObjectRemoved:Delete", 0, NULL);
    uint64_t t2 = tw_store_ticket(s->store);
    if (t2 > t) t = t2;
    tw_s3_gc_object_set(s, x->bucket, key, klen, NULL, t);
  }
  res->wrote = 1;
  if (t > *ticket) *ticket = t;
}

static void delete_versioned_done(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (tw_s3_write_settled(r, x)) return;
  tw_req_respond(r, 204, NULL, "", 0);
  tw_s3_add_common_headers(r);
}

void tw_s3_delete_versioned(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  const char *vid = tw_s3_q(x, "versionId");
  if (vid && !valid_id(vid)) {
    bad_version_id(r, x, vid);
    return;
  }
  if (bucket_or_404(r, x)) return;
  int mode = tw_s3_versioning(s, x->bucket);
  pthread_mutex_lock(&s->mu);
  tw_events_lock(s->events); /* lock order: the bus (event targets), then the store batch */
  tw_store_hold(s->store);
  delete_result res;
  uint64_t t = 0;
  delete_one(r, x, mode, x->key, x->key_len, vid, &res, &t);
  tw_store_release(s->store);
  tw_events_unlock(s->events);
  pthread_mutex_unlock(&s->mu);
  snprintf(x->old_blob, sizeof x->old_blob, "%s", res.blob);
  x->new_blob[0] = 0;
  if (vid)
    snprintf(x->version_id, sizeof x->version_id, "%s", vid);
  else if (res.marker)
    snprintf(x->version_id, sizeof x->version_id, "%s", res.marker_vid);
  x->delete_marker = res.marker;
  if (t)
    tw_req_after_commit(r, t, delete_versioned_done);
  else
    delete_versioned_done(r);
}

void tw_s3_delete_objects_versioned(tw_request *r, s3_ctx *x, json_t *objs, int quiet) {
  tw_s3 *s = x->s3;
  int mode = tw_s3_versioning(s, x->bucket);
  tw_buf *b = malloc(sizeof *b);
  tw_buf_init(b, 64u << 20);
  tw_s3_xml_begin(b, "DeleteResult");
  json_t *blobs = json_array();
  uint64_t ticket = 0;
  size_t i;
  json_t *o;
  pthread_mutex_lock(&s->mu);
  tw_events_lock(s->events);
  tw_store_hold(s->store); /* one batch for all: one commit decides them all */
  json_array_foreach(objs, i, o) {
    const char *key = tw_xml_text(o, "Key");
    if (!key) continue;
    const char *vid = tw_xml_text(o, "VersionId");
    if (vid && !*vid) vid = NULL;
    size_t klen = strlen(key);
    const char *code = NULL, *msg = NULL;
    if (klen > 1024)
      code = "KeyTooLongError", msg = "Your key is too long";
    else if (vid && !valid_id(vid))
      code = "NoSuchVersion", msg = "The specified version does not exist.";
    if (code) {
      tw_s3_delete_error(b, key, vid, code, msg);
      continue;
    }
    delete_result res;
    delete_one(r, x, mode, key, klen, vid, &res, &ticket);
    if (res.blob[0]) json_array_append_new(blobs, json_string(res.blob));
    if (quiet) continue;
    tw_buf_puts(b, "<Deleted>");
    tw_s3_xml_text(b, "Key", key);
    if (vid) tw_s3_xml_text(b, "VersionId", vid);
    if (res.marker) {
      tw_buf_puts(b, "<DeleteMarker>true</DeleteMarker>");
      tw_s3_xml_text(b, "DeleteMarkerVersionId", res.marker_vid);
    }
    tw_buf_puts(b, "</Deleted>");
  }
  tw_store_release(s->store);
  tw_events_unlock(s->events);
  pthread_mutex_unlock(&s->mu);
  tw_s3_delete_objects_answer(r, x, b, blobs, ticket);
}
