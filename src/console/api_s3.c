/* The console's bucket routes. Listings and details read the store's S3
 * repositories; every change (upload, delete) and every download goes through
 * S3 itself with a short-lived presigned URL the console hands the browser, so
 * checksums, notifications and lifecycle see them as any client's:
 *
 *   GET  /api/buckets
 *   GET  /api/buckets/B/objects?prefix=&delimiter=&cursor=&limit=
 *   GET  /api/buckets/B/object?key=K      metadata, tags, checksum, download URL
 *   GET  /api/buckets/B/config            notification, lifecycle, CORS
 *   POST /api/buckets/B/upload-url        {key}: a presigned PUT
 *   POST /api/buckets/B/delete-url        {key}: a presigned DELETE
 *
 * URLs are relative (path and query), signed for the Host the browser used,
 * so the page's Content-Security-Policy ('self') allows them. Downloads are
 * signed with response-content-disposition=attachment: an uploaded HTML file
 * is saved, never rendered on the console's origin. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/sigv4.h"
#include "console/console_internal.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "store/s3_buckets.h"
#include "store/s3_objects.h"

#define URL_EXPIRES 300
#define MAX_LIMIT 1000

/* path?query presigned for the request's Host (caller frees), or NULL. */
static char *presign(tw_request *r, const char *method, const char *bucket, const char *key,
                     const char *raw_query) {
  const char *host = tw_req_header(r, "Host");
  if (!host || !r->app->creds.n) return NULL;
  tw_buf path;
  tw_buf_init(&path, 8 * 1024);
  tw_sigv4_s3_path(&path, bucket, key);
  tw_kv hdrs[1] = {{"host", host}};
  tw_sigv4_input in = {.method = method,
                       .raw_path = tw_buf_cstr(&path),
                       .raw_query = raw_query,
                       .headers = hdrs,
                       .nheaders = 1,
                       .s3 = 1};
  const tw_user *u = &r->app->creds.users[0];
  char amz_date[17], query[4096];
  tw_sigv4_amz_date(time(NULL), amz_date);
  char *url = NULL;
  if (!path.overflow && !tw_sigv4_presign(&in, u->access_key, u->secret, r->app->cfg.region, "s3",
                                          amz_date, URL_EXPIRES, query, sizeof query)) {
    size_t n = path.len + 1 + strlen(query) + 1;
    url = malloc(n);
    if (url) snprintf(url, n, "%s?%s", tw_buf_cstr(&path), query);
  }
  tw_buf_free(&path);
  return url;
}

/* A key as JSON: the string when it is UTF-8, else null (key_hex says it). */
static void set_key(json_t *o, const char *field, const char *k, size_t n) {
  json_t *v = json_stringn(k, n);
  if (v) {
    json_object_set_new(o, field, v);
    return;
  }
  char *hex = malloc(2 * n + 1);
  if (hex) tw_hex((const uint8_t *)k, n, hex), hex[2 * n] = 0;
  json_object_set_new(o, field, json_null());
  json_object_set_new(o, "key_hex", hex ? json_string(hex) : json_null());
  free(hex);
}

static int bucket_cb(void *ud, const tw_s3_bucket_row *b) {
  json_array_append_new(ud, json_pack("{s:s,s:I,s:s?}", "name", b->name, "created",
                                      (json_int_t)b->created_ms, "region", b->region));
  return 0;
}

/* --- listing -------------------------------------------------------------------- */

typedef struct {
  const char *prefix, *delim;
  size_t plen, dlen;
  json_t *objects, *prefixes;
  int count, limit;
  int more;     /* a row past the page exists */
  tw_buf after; /* where the next list call starts (exclusive) */
  int rolled;   /* the callback stopped at a common prefix */
  int past;     /* a key past the prefix: the listing is over */
} list_ctx;

static int obj_cb(void *ud, const tw_s3_object_row *o) {
  list_ctx *x = ud;
  if (o->key_len < x->plen || memcmp(o->key, x->prefix, x->plen)) {
    x->past = 1;
    return 1;
  }
  if (x->count >= x->limit) {
    x->more = 1;
    return 1;
  }
  tw_buf_reset(&x->after);
  if (x->dlen) {
    const char *rest = o->key + x->plen;
    size_t rn = o->key_len - x->plen;
    const char *d = memmem(rest, rn, x->delim, x->dlen);
    if (d) {
      size_t cp = (size_t)(d - o->key) + x->dlen; /* the common prefix's length */
      json_t *p = json_object();
      set_key(p, "prefix", o->key, cp);
      json_array_append_new(x->prefixes, p);
      x->count++;
      /* skip every key under it: continue after prefix + 0xFF... */
      tw_buf_append(&x->after, o->key, cp);
      for (int i = 0; i < 8; i++) tw_buf_putc(&x->after, (char)0xff);
      x->rolled = 1;
      return 1;
    }
  }
  json_t *j = json_object();
  set_key(j, "key", o->key, o->key_len);
  json_object_set_new(j, "size", json_integer(o->size));
  json_object_set_new(j, "modified", json_integer(o->modified_ms));
  json_object_set_new(j, "etag", json_string(o->etag ? o->etag : ""));
  json_array_append_new(x->objects, j);
  tw_buf_append(&x->after, o->key, o->key_len);
  x->count++;
  return 0;
}

static int unhex(const char *h, tw_buf *out) {
  size_t n = strlen(h);
  if (n % 2) return -1;
  for (size_t i = 0; i < n; i += 2) {
    unsigned v;
    if (sscanf(h + i, "%2x", &v) != 1) return -1;
    tw_buf_putc(out, (char)v);
  }
  return 0;
}

static void list_objects(tw_request *r, const char *bucket) {
  tw_store *st = tw_console_store(r->app);
  int ex = tw_store_s3_buckets(st)->exists(st, bucket);
  if (ex <= 0) {
    tw_console_error(r, ex < 0 ? 500 : 404, ex < 0 ? "InternalError" : "NoSuchBucket",
                     ex < 0 ? NULL : "The specified bucket does not exist.");
    return;
  }
  char *prefix = tw_req_query_param(r, "prefix");
  char *delim = tw_req_query_param(r, "delimiter");
  char *cursor = tw_req_query_param(r, "cursor");
  char *lim = tw_req_query_param(r, "limit");
  list_ctx x = {.prefix = prefix ? prefix : "",
                .delim = delim ? delim : "",
                .objects = json_array(),
                .prefixes = json_array(),
                .limit = lim ? atoi(lim) : 100};
  x.plen = strlen(x.prefix);
  x.dlen = strlen(x.delim);
  if (x.limit < 1) x.limit = 1;
  if (x.limit > MAX_LIMIT) x.limit = MAX_LIMIT;
  tw_buf_init(&x.after, 16 * 1024);
  int bad = cursor && unhex(cursor, &x.after);
  int rc = 0;
  while (!bad && rc >= 0 && !x.past && !x.more) {
    x.rolled = 0;
    tw_buf start;
    tw_buf_init(&start, 16 * 1024);
    tw_buf_append(&start, x.after.data ? x.after.data : "", x.after.len);
    rc = tw_store_s3_objects(st)->list(st, bucket, start.data, start.len, x.prefix, x.plen,
                                       x.limit + 1, obj_cb, &x);
    tw_buf_free(&start);
    if (!x.rolled) break; /* a full page, past the prefix, or the end */
  }
  if (bad || rc < 0) {
    json_decref(x.objects);
    json_decref(x.prefixes);
    if (bad)
      tw_console_error(r, 400, "BadRequest", "cursor is not one this API gave.");
    else
      tw_console_error(r, 500, "InternalError", "Listing failed.");
  } else {
    json_t *doc = json_pack("{s:s,s:s,s:s,s:o,s:o}", "bucket", bucket, "prefix", x.prefix,
                            "delimiter", x.delim, "objects", x.objects, "prefixes", x.prefixes);
    if (x.more) {
      char *hex = malloc(2 * x.after.len + 1);
      tw_hex((const uint8_t *)x.after.data, x.after.len, hex);
      hex[2 * x.after.len] = 0;
      json_object_set_new(doc, "next_cursor", json_string(hex));
      free(hex);
    }
    tw_console_json(r, 200, doc);
  }
  tw_buf_free(&x.after);
  free(prefix);
  free(delim);
  free(cursor);
  free(lim);
}

/* --- one object ------------------------------------------------------------------- */

static json_t *parsed(const char *text) {
  json_t *v = text ? json_loads(text, 0, NULL) : NULL;
  return v ? v : json_null();
}

static void object_details(tw_request *r, const char *bucket) {
  char *key = tw_req_query_param(r, "key");
  if (!key || !*key) {
    free(key);
    tw_console_error(r, 400, "BadRequest", "key is required.");
    return;
  }
  tw_store *st = tw_console_store(r->app);
  tw_s3_object_row o;
  int rc = tw_store_s3_objects(st)->get(st, bucket, key, strlen(key), &o);
  if (rc <= 0) {
    free(key);
    tw_console_error(r, rc < 0 ? 500 : 404, rc < 0 ? "InternalError" : "NoSuchKey",
                     rc < 0 ? NULL : "The specified key does not exist.");
    return;
  }
  json_t *doc = json_object();
  json_object_set_new(doc, "bucket", json_string(bucket));
  set_key(doc, "key", key, strlen(key));
  json_object_set_new(doc, "size", json_integer(o.size));
  json_object_set_new(doc, "modified", json_integer(o.modified_ms));
  json_object_set_new(doc, "etag", json_string(o.etag ? o.etag : ""));
  json_object_set_new(doc, "content_type",
                      o.content_type ? json_string(o.content_type) : json_null());
  json_object_set_new(doc, "headers", parsed(o.headers));
  json_object_set_new(doc, "metadata", parsed(o.meta));
  json_object_set_new(doc, "checksum", parsed(o.checksums));
  json_object_set_new(doc, "tags", parsed(o.tags));
  char *url = presign(r, "GET", bucket, key,
                      "response-content-disposition=attachment&response-content-type="
                      "application%2Foctet-stream");
  json_object_set_new(doc, "download_url", url ? json_string(url) : json_null());
  free(url);
  tw_s3_object_row_free(&o);
  free(key);
  tw_console_json(r, 200, doc);
}

static void config(tw_request *r, const char *bucket) {
  tw_store *st = tw_console_store(r->app);
  const tw_s3_buckets_repo *b = tw_store_s3_buckets(st);
  static const struct {
    const char *name;
    tw_s3_bucket_setting which;
  } k[] = {{"notification", TW_S3_BUCKET_NOTIFICATION},
           {"lifecycle", TW_S3_BUCKET_LIFECYCLE},
           {"cors", TW_S3_BUCKET_CORS},
           {"tags", TW_S3_BUCKET_TAGS}};
  json_t *doc = json_pack("{s:s}", "bucket", bucket);
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    char *text = NULL;
    int rc = b->get_setting(st, bucket, k[i].which, &text);
    if (rc <= 0) {
      json_decref(doc);
      free(text);
      tw_console_error(r, rc < 0 ? 500 : 404, rc < 0 ? "InternalError" : "NoSuchBucket",
                       rc < 0 ? NULL : "The specified bucket does not exist.");
      return;
    }
    json_object_set_new(doc, k[i].name, parsed(text));
    free(text);
  }
  tw_console_json(r, 200, doc);
}

static void url_for(tw_request *r, const char *bucket, const char *method) {
  json_t *b = tw_console_body(r);
  if (!b) return;
  const char *key = json_string_value(json_object_get(b, "key"));
  if (!key || !*key || strlen(key) > 1024) {
    json_decref(b);
    tw_console_error(r, 400, "BadRequest", "key must be a string of 1 to 1024 bytes.");
    return;
  }
  char *url = presign(r, method, bucket, key, "");
  json_decref(b);
  if (!url) {
    tw_console_error(r, 500, "InternalError", "Could not sign the URL.");
    return;
  }
  tw_console_json(
      r, 200, json_pack("{s:s,s:s,s:i}", "url", url, "method", method, "expires_in", URL_EXPIRES));
  free(url);
}

static int bucket_name_ok(const char *b) {
  size_t n = strlen(b);
  if (n < 3 || n > 63) return 0;
  for (size_t i = 0; i < n; i++)
    if (!(islower((unsigned char)b[i]) || isdigit((unsigned char)b[i]) || b[i] == '-' ||
          b[i] == '.'))
      return 0;
  return 1;
}

int tw_console_api_s3(tw_request *r, const tw_console_who *who, const char *sub) {
  (void)who;
  int get = !strcmp(r->method, "GET"), post = !strcmp(r->method, "POST");
  if (!strcmp(sub, "/buckets") && get) {
    json_t *arr = json_array();
    tw_store *st = tw_console_store(r->app);
    if (tw_store_s3_buckets(st)->list(st, bucket_cb, arr) < 0) {
      json_decref(arr);
      tw_console_error(r, 500, "InternalError", NULL);
    } else {
      tw_console_json(r, 200, json_pack("{s:o}", "buckets", arr));
    }
    return 1;
  }
  if (strncmp(sub, "/buckets/", 9)) return 0;
  const char *rest;
  char *bucket = tw_console_segment(sub + 9, &rest);
  if (!bucket) return 0;
  int done = 1;
  if (!bucket_name_ok(bucket))
    tw_console_error(r, 404, "NoSuchBucket", "The specified bucket does not exist.");
  else if (!strcmp(rest, "/objects") && get)
    list_objects(r, bucket);
  else if (!strcmp(rest, "/object") && get)
    object_details(r, bucket);
  else if (!strcmp(rest, "/config") && get)
    config(r, bucket);
  else if (!strcmp(rest, "/upload-url") && post)
    url_for(r, bucket, "PUT");
  else if (!strcmp(rest, "/delete-url") && post)
    url_for(r, bucket, "DELETE");
  else
    done = 0;
  free(bucket);
  return done;
}
