/* S3 over HTTP: path-style addressing, authentication (SigV4 headers and
 * presigned query), the choice of handler, errors in S3's XML shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app.h"
#include "auth/sigv2.h"
#include "core/clock.h"
#include "core/log.h"
#include "s3/s3_internal.h"
#include "s3/s3_ops.h"
#include "store/pg_s3.h"
#include "store/space.h"

#define XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

/* --- responses ---------------------------------------------------------------- */

void tw_s3_add_common_headers(tw_request *r) {
  tw_req_add_header(r, "x-amz-request-id", r->request_id);
  tw_req_add_header(r, "x-amz-id-2", r->request_id);
  s3_ctx *x = r->ctx;
  if (x && x->version_id[0]) tw_req_add_header(r, "x-amz-version-id", x->version_id);
  if (x && x->delete_marker) tw_req_add_header(r, "x-amz-delete-marker", "true");
  tw_s3_cors_add_headers(r, r->ctx);
}

void tw_s3_xml_begin(tw_buf *b, const char *root) {
  tw_buf_puts(b, XML_DECL);
  tw_buf_printf(b, "<%s xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">", root);
}

void tw_s3_xml_textn(tw_buf *b, const char *tag, const char *v, size_t n) {
  tw_buf_printf(b, "<%s>", tag);
  tw_buf_xml_escape(b, v, n);
  tw_buf_printf(b, "</%s>", tag);
}

void tw_s3_xml_text(tw_buf *b, const char *tag, const char *v) {
  tw_s3_xml_textn(b, tag, v ? v : "", v ? strlen(v) : 0);
}

void tw_s3_respond_xml(tw_request *r, int status, tw_buf *b) {
  size_t len;
  char *body = tw_buf_detach(b, &len);
  tw_req_respond_owned(r, status, "application/xml", body, len);
  tw_s3_add_common_headers(r);
}

/* Text for XML 1.0, which cannot carry control characters even escaped:
 * those are written percent-encoded, so a client's parser never chokes. */
static void xml_safe_text(tw_buf *b, const char *tag, const char *v, size_t n) {
  tw_buf_printf(b, "<%s>", tag);
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') continue;
    tw_buf_xml_escape(b, v + start, i - start);
    tw_buf_printf(b, "%%%02X", c);
    start = i + 1;
  }
  tw_buf_xml_escape(b, v + start, n - start);
  tw_buf_printf(b, "</%s>", tag);
}

void tw_s3_error_key(tw_request *r, s3_ctx *x, tw_err e, const char *msg, const char *extra_xml) {
  /* cluster mode: PostgreSQL away is the service unavailable, not a fault,
   * and a lookup that could not read is no "NoSuch..." (404) either */
  const tw_err_info *info = tw_err_get(e);
  if ((e == TW_ERR_INTERNAL || info->http_status == 404) && x && x->s3 && x->s3->cluster &&
      tw_store_pg_s3_unavailable(x->s3->store))
    info = tw_err_get(e = TW_ERR_SERVICE_UNAVAILABLE);
  if (!strcmp(r->method, "HEAD") || info->http_status == 304) { /* no body for these */
    tw_req_respond(r, info->http_status, NULL, "", 0);
    tw_s3_add_common_headers(r);
    return;
  }
  tw_buf b;
  tw_buf_init(&b, 1 << 20);
  tw_buf_puts(&b, XML_DECL "<Error>");
  tw_s3_xml_text(&b, "Code", info->code);
  tw_s3_xml_text(&b, "Message", msg && *msg ? msg : info->message);
  if (extra_xml) tw_buf_puts(&b, extra_xml);
  if (x && x->bucket &&
      (e == TW_ERR_S3_NO_SUCH_BUCKET || e == TW_ERR_S3_BUCKET_NOT_EMPTY ||
       e == TW_ERR_S3_BUCKET_EXISTS || e == TW_ERR_S3_INVALID_BUCKET_NAME))
    tw_s3_xml_text(&b, "BucketName", x->bucket);
  if (x && x->key && e == TW_ERR_S3_NO_SUCH_KEY) xml_safe_text(&b, "Key", x->key, x->key_len);
  size_t plen;
  char *path = tw_url_decode_len(r->path, strlen(r->path), 0, &plen);
  xml_safe_text(&b, "Resource", path, plen);
  free(path);
  tw_s3_xml_text(&b, "RequestId", r->request_id);
  tw_s3_xml_text(&b, "HostId", r->request_id);
  tw_buf_puts(&b, "</Error>");
  size_t len;
  char *body = tw_buf_detach(&b, &len);
  tw_req_respond_owned(r, info->http_status, "application/xml", body, len);
  tw_s3_add_common_headers(r);
}

void tw_s3_error(tw_request *r, s3_ctx *x, tw_err e, const char *msg) {
  tw_s3_error_key(r, x, e, msg, NULL);
}

int tw_s3_commit_failed(tw_request *r, s3_ctx *x) {
  if (!r->commit_failed) return 0;
  if (x) x->version_id[0] = 0, x->delete_marker = 0; /* no version was made */
  /* the change is not on disk: the client must not hear OK (it may retry) */
  tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
  return 1;
}

void tw_s3_iso8601(int64_t ms, char out[32]) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char tmp[96];
  snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
  snprintf(out, 32, "%.31s", tmp);
}

void tw_s3_http_date(int64_t ms, char out[40]) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

const char *tw_s3_q(s3_ctx *x, const char *name) {
  json_t *v = json_object_get(x->q, name);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

/* --- authentication -------------------------------------------------------------- */

static tw_err map_sigv4(tw_err e, const tw_sigv4_info *info) {
  switch (info->fault) {
    case TW_SIGV4_FAULT_MALFORMED:
      return TW_ERR_S3_AUTH_HEADER_MALFORMED;
    case TW_SIGV4_FAULT_QUERY_PARAMS:
      return TW_ERR_S3_AUTH_QUERY_PARAMS;
    case TW_SIGV4_FAULT_SKEWED:
      return TW_ERR_S3_TIME_SKEWED;
    case TW_SIGV4_FAULT_UNKNOWN_KEY:
      return TW_ERR_S3_INVALID_ACCESS_KEY;
    case TW_SIGV4_FAULT_NO_CONTENT_SHA:
      return TW_ERR_S3_INVALID_REQUEST;
    case TW_SIGV4_FAULT_SCOPE:
      return TW_ERR_S3_AUTH_HEADER_MALFORMED;
    default:
      break;
  }
  if (e == TW_ERR_INVALID_CLIENT_TOKEN) return TW_ERR_S3_INVALID_ACCESS_KEY;
  if (e == TW_ERR_MISSING_AUTH) return TW_ERR_ACCESS_DENIED;
  if (e == TW_ERR_INCOMPLETE_SIGNATURE) return TW_ERR_S3_AUTH_HEADER_MALFORMED;
  return e;
}

static tw_err map_sigv2(tw_err e, const tw_sigv2_info *info) {
  switch (info->fault) {
    case TW_SIGV2_FAULT_MALFORMED:
    case TW_SIGV2_FAULT_BOTH:
      return TW_ERR_S3_INVALID_ARGUMENT;
    case TW_SIGV2_FAULT_SKEWED:
      return TW_ERR_S3_TIME_SKEWED;
    case TW_SIGV2_FAULT_UNKNOWN_KEY:
      return TW_ERR_S3_INVALID_ACCESS_KEY;
    case TW_SIGV2_FAULT_EXPIRED:
    case TW_SIGV2_FAULT_QUERY_PARAMS:
    case TW_SIGV2_FAULT_NO_DATE:
      return TW_ERR_ACCESS_DENIED;
    default:
      break;
  }
  if (e == TW_ERR_INVALID_CLIENT_TOKEN) return TW_ERR_S3_INVALID_ACCESS_KEY;
  return e;
}

static int authenticate_v2(tw_request *r, s3_ctx *x) {
  char msg[4096] = "";
  tw_sigv2_input in = {.method = r->method,
                       .raw_path = r->path,
                       .raw_query = r->query,
                       .headers = r->headers,
                       .nheaders = r->nheaders,
                       .vhost_bucket = x->vhost ? x->bucket : NULL};
  tw_sigv2_info info;
  memset(&info, 0, sizeof info);
  time_t now = time(NULL);
  tw_err e = tw_sigv2_verify(&in, tw_credentials_secret, x->s3->creds, now, &info, msg, sizeof msg);
  if (e != TW_ERR_OK) {
    tw_err s3e = map_sigv2(e, &info);
    tw_buf ex;
    tw_buf_init(&ex, 4096);
    if (s3e == TW_ERR_SIGNATURE_MISMATCH) {
      snprintf(msg, sizeof msg,
               "The request signature we calculated does not match the signature "
               "you provided. Check your key and signing method.");
      tw_s3_xml_text(&ex, "AWSAccessKeyId", info.access_key);
      tw_s3_xml_text(&ex, "SignatureProvided", info.signature);
    } else if (s3e == TW_ERR_S3_INVALID_ACCESS_KEY) {
      tw_s3_xml_text(&ex, "AWSAccessKeyId", info.access_key);
      msg[0] = 0;
    } else if (info.fault == TW_SIGV2_FAULT_EXPIRED) {
      char exp[32], srv[32];
      tw_s3_iso8601((int64_t)info.expires * 1000, exp);
      tw_s3_iso8601((int64_t)now * 1000, srv);
      exp[19] = 'Z', exp[20] = 0;
      srv[19] = 'Z', srv[20] = 0;
      tw_s3_xml_text(&ex, "Expires", exp);
      tw_s3_xml_text(&ex, "ServerTime", srv);
    }
    tw_s3_error_key(r, x, s3e, msg, ex.len ? tw_buf_cstr(&ex) : NULL);
    tw_buf_free(&ex);
    return -1;
  }
  snprintf(r->principal, sizeof r->principal, "%s", info.access_key);
  snprintf(x->content_sha256, sizeof x->content_sha256, "UNSIGNED-PAYLOAD");
  return 0;
}

/* X-Amz-Expires is a number above a week (604800 s). */
static int expires_past_a_week(s3_ctx *x) {
  const char *v = tw_s3_q(x, "X-Amz-Expires");
  if (!v || !*v) return 0;
  size_t digits = strspn(v, "0123456789");
  if (v[digits]) return 0;
  while (*v == '0' && v[1]) v++;
  return strlen(v) > 6 || strtol(v, NULL, 10) > 604800;
}

static int authenticate(tw_request *r, s3_ctx *x) {
  char msg[4096];
  const char *auth = tw_req_header(r, "Authorization");
  tw_sigv2_input v2 = {.method = r->method,
                       .raw_path = r->path,
                       .raw_query = r->query,
                       .headers = r->headers,
                       .nheaders = r->nheaders};
  if (tw_sigv2_detect(&v2) != TW_SIGV2_NONE) return authenticate_v2(r, x);
  int has_v4_query = strstr(r->query, "X-Amz-Algorithm=") != NULL;
  if (!auth && !has_v4_query) {
    /* anonymous: only a bucket policy granting Principal "*" lets it through
     * (s3_begin asks once the operation is known) */
    r->principal[0] = 0;
    x->anonymous = 1;
    return 0;
  }
  tw_sigv4_input in = {
      .method = r->method,
      .raw_path = r->path,
      .raw_query = r->query,
      .headers = r->headers,
      .nheaders = r->nheaders,
      .payload_sha256_hex = NULL, /* x-amz-content-sha256, or UNSIGNED-PAYLOAD when presigned */
      .s3 = 1,
  };
  tw_sigv4_info info;
  memset(&info, 0, sizeof info);
  time_t now = time(NULL);
  tw_err e = tw_sigv4_verify(&in, tw_credentials_secret, x->s3->creds, now, &info, msg, sizeof msg);
  if (e == TW_ERR_OK && strcmp(info.region, x->s3->region)) { /* signed for another region */
    e = TW_ERR_SIGNATURE_MISMATCH;
    info.fault = TW_SIGV4_FAULT_SCOPE;
  }
  if (e == TW_ERR_OK && info.presigned && info.expires == 0) {
    /* valid for no time at all: expired however fast it came (S3 answers 403) */
    e = TW_ERR_ACCESS_DENIED;
    info.fault = TW_SIGV4_FAULT_EXPIRED;
    snprintf(msg, sizeof msg, "Request has expired");
  }
  if (e != TW_ERR_OK) {
    tw_err s3e = map_sigv4(e, &info);
    if (s3e == TW_ERR_S3_AUTH_QUERY_PARAMS && expires_past_a_week(x))
      s3e = TW_ERR_S3_AUTH_QUERY_PARAMS_403; /* S3 answers this one 403 */
    char extra[512] = "";
    if (info.fault == TW_SIGV4_FAULT_SCOPE && info.region[0] &&
        strcmp(info.region, x->s3->region)) {
      s3e = info.presigned ? TW_ERR_S3_AUTH_QUERY_PARAMS : TW_ERR_S3_AUTH_HEADER_MALFORMED;
      snprintf(msg, sizeof msg, "%s; the region '%s' is wrong; expecting '%s'",
               info.presigned ? "Error parsing the X-Amz-Credential parameter"
                              : "The authorization header is malformed",
               info.region, x->s3->region);
      snprintf(extra, sizeof extra, "<Region>%s</Region>", x->s3->region);
    } else if (s3e == TW_ERR_SIGNATURE_MISMATCH) {
      snprintf(msg, sizeof msg,
               "The request signature we calculated does not match the signature "
               "you provided. Check your key and signing method.");
      tw_buf ex;
      tw_buf_init(&ex, sizeof extra - 1);
      tw_s3_xml_text(&ex, "AWSAccessKeyId", info.access_key);
      tw_s3_xml_text(&ex, "SignatureProvided", info.signature);
      snprintf(extra, sizeof extra, "%s", tw_buf_cstr(&ex));
      tw_buf_free(&ex);
    } else if (s3e == TW_ERR_S3_INVALID_ACCESS_KEY) {
      tw_buf ex;
      tw_buf_init(&ex, sizeof extra - 1);
      tw_s3_xml_text(&ex, "AWSAccessKeyId", info.access_key);
      snprintf(extra, sizeof extra, "%s", tw_buf_cstr(&ex));
      tw_buf_free(&ex);
      msg[0] = 0;
    } else if (info.fault == TW_SIGV4_FAULT_EXPIRED && info.amz_date[0]) {
      struct tm tm;
      memset(&tm, 0, sizeof tm);
      strptime(info.amz_date, "%Y%m%dT%H%M%SZ", &tm);
      time_t start = timegm(&tm);
      char exp[32], srv[32];
      tw_s3_iso8601((int64_t)(start + info.expires) * 1000, exp);
      tw_s3_iso8601((int64_t)now * 1000, srv);
      exp[19] = 'Z', exp[20] = 0; /* S3 prints these without milliseconds */
      srv[19] = 'Z', srv[20] = 0;
      snprintf(extra, sizeof extra,
               "<X-Amz-Expires>%ld</X-Amz-Expires><Expires>%s</Expires><ServerTime>%s</ServerTime>",
               info.expires, exp, srv);
    }
    if (s3e == TW_ERR_ACCESS_DENIED && !msg[0]) snprintf(msg, sizeof msg, "Access Denied");
    tw_s3_error_key(r, x, s3e, msg, extra[0] ? extra : NULL);
    return -1;
  }
  snprintf(r->principal, sizeof r->principal, "%s", info.access_key);
  memcpy(x->signing_key, info.signing_key, 32);
  snprintf(x->amz_date, sizeof x->amz_date, "%s", info.amz_date);
  snprintf(x->scope, sizeof x->scope, "%s/%s/%s/aws4_request", info.date, info.region,
           info.service);
  snprintf(x->seed_signature, sizeof x->seed_signature, "%s", info.signature);
  const char *sha = tw_req_header(r, "x-amz-content-sha256");
  snprintf(x->content_sha256, sizeof x->content_sha256, "%s",
           info.presigned ? "UNSIGNED-PAYLOAD" : (sha ? sha : ""));
  return 0;
}

/* --- routing ----------------------------------------------------------------------- */

/* The bucket a virtual-hosted request names: "BUCKET.<domain>[:port]" in Host. */
static char *vhost_bucket(tw_request *r, tw_s3 *s) {
  if (!s->domain[0]) return NULL;
  const char *host = tw_req_header(r, "Host");
  if (!host) return NULL;
  size_t hl = strcspn(host, ":"), dl = strlen(s->domain);
  if (hl <= dl + 1 || host[hl - dl - 1] != '.' || strncasecmp(host + hl - dl, s->domain, dl))
    return NULL;
  return strndup(host, hl - dl - 1);
}

static void parse_query(s3_ctx *x, const char *q) {
  x->q = json_object();
  while (q && *q) {
    const char *amp = strchr(q, '&');
    size_t len = amp ? (size_t)(amp - q) : strlen(q);
    const char *eq = memchr(q, '=', len);
    size_t klen = eq ? (size_t)(eq - q) : len;
    char *k = tw_url_decode(q, klen, 1);
    char *v = eq ? tw_url_decode(eq + 1, len - klen - 1, 1) : strdup("");
    json_object_set_new(x->q, k, json_string(v));
    free(k);
    free(v);
    q = amp ? amp + 1 : NULL;
  }
}

static void ctx_free(void *p) {
  s3_ctx *x = p;
  if (x->blob_open) tw_blob_abort(&x->blob);
  if (x->md5) tw_hash_free(x->md5);
  free(x->pend);
  if (x->chunked) tw_chunked_free(x->chunked);
  if (x->cksum.alg) tw_cksum_free(&x->cksum);
  if (x->sha256) tw_hash_free(x->sha256);
  json_decref(x->q);
  json_decref(x->result);
  json_decref(x->tags);
  free(x->acl);
  free(x->bucket);
  free(x->key);
  free(x);
}

static void run_handler(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (r->too_large) {
    tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST, "The request body is too large.");
    return;
  }
  x->handler(r, x);
}

tw_s3 *tw_s3_open(tw_store *store, tw_blobs *blobs, struct tw_events *events, tw_credentials *creds,
                  const tw_config *cfg, char *err, size_t errlen) {
  tw_s3 *s = calloc(1, sizeof *s);
  s->store = store;
  s->events = events;
  s->creds = creds;
  s->blobs = blobs;
  snprintf(s->region, sizeof s->region, "%s", cfg->region);
  snprintf(s->account, sizeof s->account, "%s", cfg->account);
  snprintf(s->domain, sizeof s->domain, "%s", cfg->domain);
  s->lifecycle_day_seconds = cfg->lifecycle_day_seconds > 0 ? cfg->lifecycle_day_seconds : 86400;
  s->cluster = cfg->store_url[0] != 0;
  pthread_mutex_init(&s->mu, NULL);
  /* sequencers keep increasing across restarts */
  s->sequencer = (uint64_t)tw_now_ms() << 16;
  /* the sweep first: the lifecycle sweeper thread runs its later ones */
  if ((s->cluster && tw_s3_cluster_open(s)) || tw_s3_gc_open(s) || tw_s3_cors_open(s) ||
      tw_s3_post_open(s) || tw_s3_lifecycle_open(s) || tw_s3_copy_open(s) || tw_s3_policy_open(s) ||
      tw_s3_acl_open(s)) {
    snprintf(err, errlen, "cannot load the buckets' CORS and lifecycle settings");
    tw_s3_close(s);
    return NULL;
  }
  return s;
}

void tw_s3_close(tw_s3 *s) {
  if (!s) return;
  tw_s3_acl_close(s);
  tw_s3_policy_close(s);
  tw_s3_copy_close(s);
  tw_s3_lifecycle_close(s);
  tw_s3_post_close(s);
  tw_s3_cors_close(s);
  tw_s3_gc_close(s);
  tw_s3_cluster_close(s);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

/* Operations that store new bytes: refused while the disk is low on space. */
static int adds_data(const char *op) {
  static const char *const names[] = {"PutObject",
                                      "UploadPart",
                                      "CopyObject",
                                      "UploadPartCopy",
                                      "CreateMultipartUpload",
                                      "CompleteMultipartUpload"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(op, names[i])) return 1;
  return 0;
}

/* Takes over a request with its headers: authenticates, picks the handler,
 * and chooses how the body is read (streamed for PUT and POST uploads). */
static void s3_begin(tw_request *r) {
  s3_ctx *x = calloc(1, sizeof *x);
  x->s3 = r->app->s3;
  r->ctx = x;
  r->ctx_free = ctx_free;
  parse_query(x, r->query);
  /* BUCKET.<domain>/key (virtual-hosted) or /bucket/key (path-style); the key
   * keeps every byte, '/' and '..' included */
  const char *p = r->path;
  if (*p == '/') p++;
  x->bucket = vhost_bucket(r, x->s3);
  if (x->bucket) {
    x->vhost = 1;
    if (*p) {
      size_t klen;
      x->key = tw_url_decode_len(p, strlen(p), 0, &klen);
      x->key_len = klen;
    }
  } else {
    const char *slash = strchr(p, '/');
    if (*p) x->bucket = tw_url_decode(p, slash ? (size_t)(slash - p) : strlen(p), 0);
    if (slash && slash[1]) {
      size_t klen;
      x->key = tw_url_decode_len(slash + 1, strlen(slash + 1), 0, &klen);
      x->key_len = klen;
    }
  }
  snprintf(r->action, sizeof r->action, "s3:%s", r->method); /* until the operation is known */
  /* cluster mode: the bucket's settings as committed when the request came */
  if (x->s3->cluster) tw_s3_cluster_sync(x->s3, x);
  /* Browsers' preflights and POST-policy forms carry no SigV4/SigV2 request
   * signature: the bucket's CORS rules and the signed policy decide. */
  if (!strcmp(r->method, "OPTIONS")) {
    snprintf(r->action, sizeof r->action, "%s", tw_s3_op_preflight.name);
    x->handler = tw_s3_cors_preflight;
    r->on_done = run_handler;
    return;
  }
  if (tw_s3_is_post_upload(r, x)) {
    snprintf(r->action, sizeof r->action, "%s", tw_s3_op_post_object.name);
    if (tw_space_low()) {
      tw_s3_error(r, x, TW_ERR_S3_INSUFFICIENT_STORAGE, NULL);
      return;
    }
    x->handler = tw_s3_post_object;
    r->on_done = run_handler;
    r->on_body = tw_s3_post_body;
    tw_s3_post_body(r, NULL, 0); /* checks before the body: may answer now */
    return;
  }
  if (authenticate(r, x)) return;
  if (x->bucket && !x->anonymous && !tw_s3_valid_bucket_name(x->bucket) &&
      strcmp(r->method, "PUT")) {
    /* an impossible name cannot exist */
    tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return;
  }
  if (x->key && x->key_len > 1024) {
    char extra[128];
    snprintf(extra, sizeof extra, "<Size>%zu</Size><MaxSizeAllowed>1024</MaxSizeAllowed>",
             x->key_len);
    tw_s3_error_key(r, x, TW_ERR_S3_KEY_TOO_LONG, NULL, extra);
    return;
  }
  const s3_op *op = tw_s3_find_op(r, x);
  if (!op) {
    tw_s3_error(r, x, x->anonymous ? TW_ERR_ACCESS_DENIED : TW_ERR_S3_METHOD_NOT_ALLOWED,
                x->anonymous ? "Access Denied" : NULL);
    return;
  }
  snprintf(r->action, sizeof r->action, "%s", op->name);
  char denied[1024];
  /* an anonymous request writes only where a bucket policy or ACL lets it */
  if (!tw_s3_authorize(r, x, op->name, denied, sizeof denied)) {
    tw_s3_error(r, x, TW_ERR_ACCESS_DENIED, "Access Denied");
    return;
  }
  if (adds_data(op->name) && tw_space_low()) { /* room stays for deletes: store/space.h */
    tw_s3_error(r, x, TW_ERR_S3_INSUFFICIENT_STORAGE, NULL);
    return;
  }
  x->handler = op->fn;
  r->on_done = run_handler;
  if (op->flags & S3_OP_STREAMS_BODY) {
    r->on_body = tw_s3_put_body;
    if (tw_s3_put_body(r, NULL, 0)) return; /* checks before the body: may answer now */
  }
}

static int claims_rest(const tw_request *r) {
  (void)r;
  return 1;
}

static void s3_service_error(tw_request *r, tw_err e, const char *msg) {
  tw_s3_error(r, r->ctx && r->ctx_free == ctx_free ? r->ctx : NULL, e, msg);
}

const tw_service tw_s3_service = {
    .name = "s3",
    .scopes = {"s3"},
    .claims = claims_rest,
    .begin = s3_begin,
    .error = s3_service_error,
};
