/* POST /_/api/v1/presign: SigV4 presigned S3 URLs for callers without AWS
 * credentials (system S0). The URL is signed with the server's first
 * credential; content_type and content_length, when given, are signed headers,
 * so an upload that does not match them fails with SignatureDoesNotMatch. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/json_out.h"
#include "gateway/gateway_internal.h"
#include "s3/s3_internal.h"

#define DEFAULT_EXPIRES 900
#define MAX_EXPIRES 604800 /* SigV4's limit: seven days */
#define MAX_KEY 1024

static const struct {
  const char *type, *ext;
} k_types[] = {
    {"image/png", ".png"},       {"image/jpeg", ".jpg"},
    {"image/gif", ".gif"},       {"image/webp", ".webp"},
    {"image/svg+xml", ".svg"},   {"image/avif", ".avif"},
    {"image/tiff", ".tiff"},     {"image/bmp", ".bmp"},
    {"application/pdf", ".pdf"}, {"application/json", ".json"},
    {"application/xml", ".xml"}, {"application/zip", ".zip"},
    {"application/gzip", ".gz"}, {"application/x-tar", ".tar"},
    {"text/plain", ".txt"},      {"text/csv", ".csv"},
    {"text/html", ".html"},      {"text/markdown", ".md"},
    {"video/mp4", ".mp4"},       {"video/webm", ".webm"},
    {"audio/mpeg", ".mp3"},      {"audio/wav", ".wav"},
    {"audio/ogg", ".ogg"},       {"application/x-ndjson", ".jsonl"},
};

/* A "." or ".." segment between slashes (or at an end): curl, browsers and
 * fetch normalise those away before sending. */
static int dot_segment(const char *key) {
  for (const char *p = key; *p;) {
    size_t n = strcspn(p, "/");
    if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return 1;
    p += n;
    if (*p) p++;
  }
  return 0;
}

/* The extension of a generated key: the filename's, else the content type's. */
void tw_gw_pick_ext(const char *filename, const char *ctype, char out[16]) {
  out[0] = 0;
  if (filename) {
    const char *slash = strrchr(filename, '/');
    const char *base = slash ? slash + 1 : filename;
    const char *dot = strrchr(base, '.');
    if (dot && dot != base) {
      size_t n = strlen(dot + 1);
      int ok = n >= 1 && n <= 10;
      for (size_t i = 0; ok && i < n; i++) ok = isalnum((unsigned char)dot[1 + i]);
      if (ok) {
        out[0] = '.';
        for (size_t i = 0; i <= n; i++) out[1 + i] = (char)tolower((unsigned char)dot[1 + i]);
        return;
      }
    }
  }
  if (ctype) {
    size_t n = strcspn(ctype, "; ");
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
      if (strlen(k_types[i].type) == n && !strncasecmp(ctype, k_types[i].type, n)) {
        snprintf(out, 16, "%s", k_types[i].ext);
        return;
      }
  }
}

/* scheme and host[:port] of the URLs handed out: --public-url, else the
 * request's Host. A default port is left out, as clients leave it out of Host. */
static void public_host(tw_request *r, char *scheme, size_t sn, char *host, size_t hn) {
  char base[700];
  tw_req_base_url(r, base, sizeof base);
  const char *p = strstr(base, "://");
  snprintf(scheme, sn, "%.*s", p ? (int)(p - base) : 4, p ? base : "http");
  p = p ? p + 3 : base;
  size_t n = strcspn(p, "/?#");
  snprintf(host, hn, "%.*s", (int)n, p);
  size_t hl = strlen(host);
  const char *def = !strcasecmp(scheme, "https") ? ":443" : ":80";
  if (hl > strlen(def) && !strcmp(host + hl - strlen(def), def)) host[hl - strlen(def)] = 0;
}

/* The presigned URL (caller frees), or NULL. */
static char *presign_url(tw_request *r, const char *method, const char *bucket, const char *key,
                         long expires, const char *ctype, int64_t clen, time_t now) {
  char scheme[16], host[300];
  public_host(r, scheme, sizeof scheme, host, sizeof host);
  tw_buf path;
  tw_buf_init(&path, 8 * 1024);
  tw_sigv4_s3_path(&path, bucket, key);
  char clen_s[24];
  snprintf(clen_s, sizeof clen_s, "%lld", (long long)clen);
  tw_kv hdrs[3] = {{"host", host}};
  size_t nh = 1;
  if (ctype) hdrs[nh++] = (tw_kv){"content-type", ctype};
  if (clen >= 0) hdrs[nh++] = (tw_kv){"content-length", clen_s};
  tw_sigv4_input in = {.method = method,
                       .raw_path = tw_buf_cstr(&path),
                       .raw_query = "",
                       .headers = hdrs,
                       .nheaders = nh,
                       .s3 = 1};
  const tw_user *u = &r->app->creds.users[0];
  char amz_date[17], query[2048];
  tw_sigv4_amz_date(now, amz_date);
  char *url = NULL;
  if (!path.overflow && !tw_sigv4_presign(&in, u->access_key, u->secret, r->app->cfg.region, "s3",
                                          amz_date, expires, query, sizeof query)) {
    size_t n = strlen(scheme) + 3 + strlen(host) + path.len + 1 + strlen(query) + 1;
    url = malloc(n);
    if (url) snprintf(url, n, "%s://%s%s?%s", scheme, host, tw_buf_cstr(&path), query);
  }
  tw_buf_free(&path);
  return url;
}

char *tw_gw_presign_get(tw_request *r, const char *bucket, const char *key, int expires) {
  if (expires < 1) expires = 1;
  if (expires > MAX_EXPIRES) expires = MAX_EXPIRES;
  return presign_url(r, "GET", bucket, key, expires, NULL, -1, time(NULL));
}

/* Whether a bucket exists, from a per-thread memo of recent answers: a read
 * transaction per presign was a tenth of its cost. A bucket deleted in the
 * last second may still get a URL; using it then fails with NoSuchBucket. */
#define BUCKET_MEMO 8
#define BUCKET_MEMO_MS 1000
static _Thread_local struct {
  char name[64];
  int64_t at_ms;
} t_buckets[BUCKET_MEMO];
static _Thread_local unsigned t_bucket_next;

static int bucket_exists(tw_request *r, const char *bucket) {
  int64_t now = tw_mono_ms();
  size_t n = strlen(bucket);
  if (n < sizeof t_buckets[0].name)
    for (int i = 0; i < BUCKET_MEMO; i++)
      if (now - t_buckets[i].at_ms < BUCKET_MEMO_MS && !strcmp(t_buckets[i].name, bucket)) return 1;
  int e = tw_s3_bucket_exists(r->app->s3, bucket);
  if (e > 0 && n < sizeof t_buckets[0].name) {
    unsigned i = t_bucket_next++ % BUCKET_MEMO;
    memcpy(t_buckets[i].name, bucket, n + 1);
    t_buckets[i].at_ms = now;
  }
  return e;
}

/* The bucket of the caller's first scope for `action` that names one. */
static const char *scope_bucket(const tw_gw_caller *c, const char *action) {
  if (!c->scopes) return NULL;
  size_t i, j;
  json_t *s, *a;
  json_array_foreach(c->scopes, i, s) {
    const char *b = json_string_value(json_object_get(s, "bucket"));
    if (!b || !strcmp(b, "*")) continue;
    json_array_foreach(json_object_get(s, "actions"), j, a) {
      const char *p = json_string_value(a);
      size_t n = strlen(p);
      if (!strcmp(p, "*") || !strcmp(p, action) ||
          (n >= 2 && p[n - 1] == '*' && !strncmp(p, action, n - 1)))
        return b;
    }
  }
  return NULL;
}

static int printable_ascii(const char *s) {
  for (; *s; s++)
    if (*s < 0x20 || *s > 0x7e) return 0;
  return 1;
}

int tw_gw_presign_check(json_t *body, tw_gw_presign_req *out, char *msg, size_t n) {
  memset(out, 0, sizeof *out);
  out->clen = -1;
  const char *f;
  json_t *v;
  json_object_foreach(body, f, v) {
    if (strcmp(f, "method") && strcmp(f, "bucket") && strcmp(f, "key") && strcmp(f, "expires_in") &&
        strcmp(f, "content_type") && strcmp(f, "content_length") && strcmp(f, "filename")) {
      snprintf(msg, n,
               "Unknown field '%.64s' (known: method, bucket, key, expires_in, content_type, "
               "content_length, filename).",
               f);
      return -1;
    }
  }
  const char *method = json_string_value(json_object_get(body, "method"));
  int put = method && !strcasecmp(method, "PUT");
  if (!method || (!put && strcasecmp(method, "GET"))) {
    snprintf(msg, n, "method is required: \"PUT\" or \"GET\".");
    return -1;
  }
  out->put = put;
  json_t *ev = json_object_get(body, "expires_in");
  if (ev) {
    if (!json_is_integer(ev) || json_integer_value(ev) < 1 ||
        json_integer_value(ev) > MAX_EXPIRES) {
      snprintf(msg, n, "expires_in must be an integer from 1 to 604800 (seconds; 7 days).");
      return -1;
    }
    out->expires = (long)json_integer_value(ev);
  }
  json_t *ctv = json_object_get(body, "content_type"),
         *clv = json_object_get(body, "content_length");
  json_t *fnv = json_object_get(body, "filename"), *kv = json_object_get(body, "key");
  json_t *bv = json_object_get(body, "bucket");
  if (!put && (ctv || clv || fnv)) {
    snprintf(msg, n, "content_type, content_length and filename apply to PUT only.");
    return -1;
  }
  if (ctv) {
    out->ctype = json_string_value(ctv);
    if (!out->ctype || !*out->ctype || json_string_length(ctv) > 255 ||
        !printable_ascii(out->ctype)) {
      snprintf(msg, n, "content_type must be a media type of 1 to 255 printable ASCII characters.");
      return -1;
    }
  }
  if (clv) {
    if (!json_is_integer(clv) || json_integer_value(clv) < 0 ||
        json_integer_value(clv) > (json_int_t)TW_S3_MAX_OBJECT) {
      snprintf(msg, n, "content_length must be an integer from 0 to 5368709120.");
      return -1;
    }
    out->clen = (int64_t)json_integer_value(clv);
  }
  if (fnv && (!(out->filename = json_string_value(fnv)) || json_string_length(fnv) > 1024)) {
    snprintf(msg, n, "filename must be a string of at most 1024 bytes.");
    return -1;
  }
  if (kv) {
    out->key = json_string_value(kv);
    if (!out->key || !*out->key || json_string_length(kv) > MAX_KEY ||
        strlen(out->key) != json_string_length(kv)) {
      snprintf(msg, n, "key must be a string of 1 to 1024 bytes.");
      return -1;
    }
    if (dot_segment(out->key)) {
      snprintf(msg, n,
               "key must not have '.' or '..' path segments: HTTP clients "
               "rewrite them, so the URL would not match its signature.");
      return -1;
    }
  } else if (!put) {
    snprintf(msg, n, "key is required for GET.");
    return -1;
  }
  if (bv) {
    out->bucket = json_string_value(bv);
    if (!out->bucket || !tw_s3_valid_bucket_name(out->bucket)) {
      snprintf(msg, n, "bucket must be a valid bucket name.");
      return -1;
    }
  }
  return 0;
}

void tw_gw_presign_serve(tw_request *r, const tw_gw_caller *c) {
  json_t *body = tw_gw_body_json(r);
  if (!body) return;
  char msg[600] = "";
  char *key_alloc = NULL, *url = NULL;
  tw_gw_presign_req pr;
  if (tw_gw_presign_check(body, &pr, msg, sizeof msg)) goto bad;
  int put = pr.put;
  long expires = pr.expires; /* not given: DEFAULT_EXPIRES, capped by the scope */
  const char *ctype = pr.ctype, *filename = pr.filename, *key = pr.key, *bucket = pr.bucket;
  int64_t clen = pr.clen;
  const char *action = put ? "presign:put" : "presign:get";
  if (!bucket && !(bucket = scope_bucket(c, action))) {
    if (!tw_gw_scope_find(c, action, NULL, NULL, -1, 0, msg, sizeof msg)) {
      json_decref(body);
      tw_gw_error(r, TW_ERR_ACCESS_DENIED, msg); /* no bucket would do */
      return;
    }
    snprintf(msg, sizeof msg, "bucket is required.");
    goto bad;
  }
  int64_t size = put ? (clen >= 0 ? clen : TW_GW_SIZE_UNKNOWN) : -1;
  const json_t *scope = tw_gw_scope_find(c, action, bucket, key, size, expires, msg, sizeof msg);
  if (!scope) {
    json_decref(body);
    tw_gw_error(r, TW_ERR_ACCESS_DENIED, msg);
    return;
  }
  int exists = bucket_exists(r, bucket);
  if (exists <= 0) {
    json_decref(body);
    if (exists < 0)
      tw_gw_store_error(r, "Cannot read the bucket list.");
    else
      tw_gw_error(r, TW_ERR_S3_NO_SUCH_BUCKET, "The specified bucket does not exist");
    return;
  }
  if (!expires) {
    json_t *me = json_object_get(scope, "max_expires_in");
    expires = me && json_integer_value(me) < DEFAULT_EXPIRES ? (long)json_integer_value(me)
                                                             : DEFAULT_EXPIRES;
  }
  if (!key) { /* <allowed prefix><uuid><ext> */
    const char *prefix = json_string_value(json_object_get(scope, "prefix"));
    char uuid[37], ext[16];
    tw_uuid4(uuid);
    tw_gw_pick_ext(filename, ctype, ext);
    size_t n = (prefix ? strlen(prefix) : 0) + sizeof uuid + sizeof ext;
    key_alloc = malloc(n);
    if (!key_alloc) goto oom;
    snprintf(key_alloc, n, "%s%s%s", prefix ? prefix : "", uuid, ext);
    key = key_alloc;
  }
  time_t now = time(NULL);
  url = presign_url(r, put ? "PUT" : "GET", bucket, key, expires, ctype, clen, now);
  if (!url) goto oom;
  char exp_at[32];
  tw_gw_iso8601(((int64_t)now + expires) * 1000, 0, exp_at);
  /* written by hand: this answer is the hot path of the S0 producers */
  tw_buf b;
  tw_buf_init(&b, 64 * 1024);
  tw_buf_reserve(&b, strlen(url) + 2 * strlen(key) + 300);
  tw_buf_puts(&b, "{\"url\":");
  tw_json_write_string(&b, url, strlen(url));
  tw_buf_puts(&b, put ? ",\"method\":\"PUT\",\"bucket\":" : ",\"method\":\"GET\",\"bucket\":");
  tw_json_write_string(&b, bucket, strlen(bucket));
  tw_buf_puts(&b, ",\"key\":");
  tw_json_write_string(&b, key, strlen(key));
  tw_buf_printf(&b, ",\"expires_at\":\"%s\",\"expires_in\":%ld,\"headers\":{", exp_at, expires);
  if (ctype) {
    tw_buf_puts(&b, "\"Content-Type\":");
    tw_json_write_string(&b, ctype, strlen(ctype));
  }
  if (clen >= 0)
    tw_buf_printf(&b, "%s\"Content-Length\":\"%lld\"", ctype ? "," : "", (long long)clen);
  tw_buf_puts(&b, "}}");
  free(url);
  free(key_alloc);
  json_decref(body);
  if (b.overflow) {
    tw_buf_free(&b);
    tw_gw_error(r, TW_ERR_INTERNAL, "The answer is too large.");
    return;
  }
  size_t len;
  char *data = tw_buf_detach(&b, &len);
  tw_req_respond_owned(r, 200, "application/json", data, len);
  tw_gw_cors_headers(r);
  tw_gw_alog_note(r, 200, len);
  return;
oom:
  free(key_alloc);
  json_decref(body);
  tw_gw_error(r, TW_ERR_INTERNAL, "Cannot sign the URL.");
  return;
bad:
  json_decref(body);
  tw_gw_error(r, TW_ERR_GW_BAD_REQUEST, msg);
}
