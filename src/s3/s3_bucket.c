/* Buckets: create, head, list, delete, location. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/xml_in.h"
#include "s3/s3_internal.h"
#include "store/s3_buckets.h"
#include "store/s3_objects.h"

int tw_s3_valid_bucket_name(const char *n) {
  size_t len = strlen(n);
  if (len < 3 || len > 63) return 0;
  if (!isalnum((unsigned char)n[0]) || !isalnum((unsigned char)n[len - 1])) return 0;
  int dots = 0;
  for (size_t i = 0; i < len; i++) {
    char c = n[i];
    if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '.' || c == '-')) return 0;
    if (c == '.') {
      dots++;
      if (i && (n[i - 1] == '.' || n[i - 1] == '-')) return 0;
      if (i + 1 < len && n[i + 1] == '-') return 0;
    }
  }
  if (dots == 3) { /* formatted as an IPv4 address? */
    unsigned a, b2, c2, d;
    char tail;
    if (sscanf(n, "%3u.%3u.%3u.%3u%c", &a, &b2, &c2, &d, &tail) == 4 && a < 256 && b2 < 256 &&
        c2 < 256 && d < 256)
      return 0;
  }
  if (!strncmp(n, "xn--", 4) || !strncmp(n, "sthree-", 7)) return 0;
  if (len > 8 && !strcmp(n + len - 8, "-s3alias")) return 0;
  if (len > 7 && !strcmp(n + len - 7, "--ol-s3")) return 0;
  return 1;
}

int tw_s3_bucket_exists(tw_s3 *s, const char *name) {
  return tw_store_s3_buckets(s->store)->exists(s->store, name);
}

/* ListBuckets: the caller's buckets (users are distinct owners, as accounts
 * are in S3), or with max-buckets, continuation-token, prefix
 * or bucket-region a page of them (at most max-buckets, 10000 by default) with
 * each bucket's BucketRegion and a ContinuationToken (the last name, base64)
 * when more follow. */
typedef struct {
  tw_s3 *s;
  tw_buf *b;
  const char *prefix, *region, *after;
  const char *me; /* the caller's owner name ("" the first user) */
  long max, count;
  int paged;
  char last[256];
  int more;
} bucket_page;

static int list_one(void *ud, const tw_s3_bucket_row *row) {
  bucket_page *p = ud;
  const char *region = row->region && *row->region ? row->region : p->s->region;
  if (strcmp(row->owner ? row->owner : "", p->me)) return 0;
  if (p->after && strcmp(row->name, p->after) <= 0) return 0;
  if (p->prefix && strncmp(row->name, p->prefix, strlen(p->prefix))) return 0;
  if (p->region && strcmp(region, p->region)) return 0;
  if (p->count == p->max) {
    p->more = 1;
    return 1;
  }
  char when[32];
  tw_s3_iso8601(row->created_ms, when);
  tw_buf_puts(p->b, "<Bucket>");
  tw_s3_xml_text(p->b, "Name", row->name);
  tw_s3_xml_text(p->b, "CreationDate", when);
  if (p->paged) tw_s3_xml_text(p->b, "BucketRegion", region);
  tw_buf_puts(p->b, "</Bucket>");
  snprintf(p->last, sizeof p->last, "%s", row->name);
  p->count++;
  return 0;
}

static void bad_list_arg(tw_request *r, s3_ctx *x, const char *name, const char *value,
                         const char *msg) {
  tw_buf ex;
  tw_buf_init(&ex, 8192);
  tw_s3_xml_text(&ex, "ArgumentName", name);
  tw_s3_xml_text(&ex, "ArgumentValue", value);
  tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ARGUMENT, msg, tw_buf_cstr(&ex));
  tw_buf_free(&ex);
}

void tw_s3_list_buckets(tw_request *r, s3_ctx *x) {
  const char *mb = tw_s3_q(x, "max-buckets"), *token = tw_s3_q(x, "continuation-token");
  bucket_page p = {
      .s = x->s3, .prefix = tw_s3_q(x, "prefix"), .region = tw_s3_q(x, "bucket-region"), .max = -1};
  p.paged = mb || token || p.prefix || p.region;
  if (p.paged) p.max = 10000;
  if (mb) {
    char *end;
    long v = strtol(mb, &end, 10);
    if (!*mb || *end || v < 1 || v > 10000) {
      bad_list_arg(r, x, "max-buckets", mb,
                   "Argument max-buckets must be an integer between 1 and 10000.");
      return;
    }
    p.max = v;
  }
  char after[256];
  if (token && *token) {
    uint8_t raw[512];
    size_t tl = strlen(token);
    long n = tl < 400 ? tw_base64_decode(token, tl, raw) : -1;
    if (n <= 0 || n >= (long)sizeof after || memchr(raw, 0, (size_t)n)) {
      bad_list_arg(r, x, "continuation-token", token,
                   "The continuation token provided is incorrect");
      return;
    }
    memcpy(after, raw, (size_t)n);
    after[n] = 0;
    p.after = after;
  }
  tw_buf b;
  tw_buf_init(&b, 64u << 20);
  p.b = &b;
  tw_s3_xml_begin(&b, "ListAllMyBucketsResult");
  const char *me = tw_s3_caller_owner(r, x->s3);
  p.me = me ? me : "";
  tw_s3_owner_xml(&b, x->s3, p.me);
  tw_buf_puts(&b, "<Buckets>");
  if (tw_store_s3_buckets(x->s3->store)->list(x->s3->store, list_one, &p)) {
    tw_buf_free(&b);
    tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
    return;
  }
  tw_buf_puts(&b, "</Buckets>");
  if (p.more) {
    char tok[400];
    tw_base64_encode((const uint8_t *)p.last, strlen(p.last), tok);
    tw_s3_xml_text(&b, "ContinuationToken", tok);
  }
  if (p.prefix) tw_s3_xml_text(&b, "Prefix", p.prefix);
  tw_buf_puts(&b, "</ListAllMyBucketsResult>");
  tw_s3_respond_xml(r, 200, &b);
}

static void created(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (tw_s3_commit_failed(r, x)) return;
  tw_req_respond(r, 200, NULL, "", 0);
  tw_s3_add_common_headers(r);
  char loc[300];
  snprintf(loc, sizeof loc, "/%s", x->bucket);
  tw_req_add_header(r, "Location", loc);
}

void tw_s3_create_bucket(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  if (!tw_s3_valid_bucket_name(x->bucket)) {
    tw_s3_error(r, x, TW_ERR_S3_INVALID_BUCKET_NAME, NULL);
    return;
  }
  const char *region = s->region;
  char *root = NULL;
  json_t *cfg = NULL;
  if (r->body.len) {
    cfg = tw_xml_parse(r->body.data, r->body.len, &root);
    if (!cfg || !root || strcmp(root, "CreateBucketConfiguration")) {
      free(root);
      json_decref(cfg);
      tw_s3_error(r, x, TW_ERR_S3_MALFORMED_XML, NULL);
      return;
    }
    free(root);
    const char *lc = tw_xml_text(cfg, "LocationConstraint");
    if (lc && !strcmp(lc, "us-east-1")) { /* us-east-1 is spelled as no constraint */
      json_decref(cfg);
      tw_s3_error(r, x, TW_ERR_S3_INVALID_LOCATION, NULL);
      return;
    }
    if (lc && *lc && strcmp(lc, s->region)) {
      char msg[300];
      snprintf(msg, sizeof msg,
               "The %s location constraint is incompatible for the region specific endpoint this "
               "request was sent to.",
               lc);
      json_decref(cfg);
      tw_s3_error(r, x, TW_ERR_S3_ILLEGAL_LOCATION, msg);
      return;
    }
  }
  json_decref(cfg);
  tw_s3_new_bucket nb; /* owner, x-amz-object-ownership, x-amz-acl (s3_acl.c) */
  if (tw_s3_acl_bucket_args(r, x, &nb)) return;
  pthread_mutex_lock(&s->mu);
  int exists = tw_s3_bucket_exists(s, x->bucket);
  if (exists > 0) {
    int mine = tw_s3_acl_owns_bucket(r, x);
    pthread_mutex_unlock(&s->mu);
    free(nb.acl);
    if (!mine) { /* another user's */
      tw_s3_error(r, x, TW_ERR_S3_BUCKET_ALREADY_EXISTS, NULL);
      return;
    }
    /* us-east-1 answers a repeated create by the owner with 200 (legacy behaviour) */
    if (!strcmp(s->region, "us-east-1")) {
      created(r);
      return;
    }
    tw_s3_error(r, x, TW_ERR_S3_BUCKET_EXISTS, NULL);
    return;
  }
  tw_s3_bucket_row row = {
      .name = x->bucket, .created_ms = tw_now_ms(), .region = region, .owner = nb.owner};
  tw_store_hold(s->store); /* the bucket with its ownership and ACL, in one transaction */
  uint64_t t = tw_store_s3_buckets(s->store)->create(s->store, &row);
  uint64_t t2 = tw_s3_acl_bucket_created(s, x->bucket, &nb);
  tw_store_release(s->store);
  pthread_mutex_unlock(&s->mu);
  free(nb.acl);
  if (t2 > t) t = t2;
  tw_req_after_commit(r, t, created);
}

static int bucket_or_404(tw_request *r, s3_ctx *x) {
  int e = tw_s3_bucket_exists(x->s3, x->bucket);
  if (e < 0) {
    tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
    return -1;
  }
  if (!e) {
    tw_s3_error(r, x, TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return -1;
  }
  return 0;
}

void tw_s3_head_bucket(tw_request *r, s3_ctx *x) {
  if (bucket_or_404(r, x)) return;
  tw_req_respond(r, 200, NULL, "", 0);
  tw_s3_add_common_headers(r);
  tw_req_add_header(r, "x-amz-bucket-region", x->s3->region);
}

void tw_s3_get_bucket_location(tw_request *r, s3_ctx *x) {
  if (bucket_or_404(r, x)) return;
  tw_buf b;
  tw_buf_init(&b, 4096);
  tw_buf_puts(&b,
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint "
              "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
  /* us-east-1 is the empty constraint */
  if (strcmp(x->s3->region, "us-east-1"))
    tw_buf_xml_escape(&b, x->s3->region, strlen(x->s3->region));
  tw_buf_puts(&b, "</LocationConstraint>");
  tw_s3_respond_xml(r, 200, &b);
}

static void deleted(tw_request *r) {
  if (tw_s3_commit_failed(r, r->ctx)) return;
  tw_req_respond(r, 204, NULL, "", 0);
  tw_s3_add_common_headers(r);
}

void tw_s3_delete_bucket(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  pthread_mutex_lock(&s->mu);
  if (bucket_or_404(r, x)) {
    pthread_mutex_unlock(&s->mu);
    return;
  }
  int nonempty = tw_store_s3_objects(s->store)->any(s->store, x->bucket);
  if (nonempty) { /* -1 (a failed read) refuses too, as before */
    pthread_mutex_unlock(&s->mu);
    tw_s3_error(r, x, TW_ERR_S3_BUCKET_NOT_EMPTY, NULL);
    return;
  }
  tw_store_hold(s->store); /* the bucket goes with its settings, in one transaction */
  tw_s3_cors_bucket_deleted(s, x->bucket);
  tw_s3_policy_bucket_deleted(s, x->bucket);
  tw_s3_acl_bucket_deleted(s, x->bucket);
  tw_s3_lifecycle_bucket_deleted(s, x->bucket);
  uint64_t t = tw_store_s3_buckets(s->store)->remove(s->store, x->bucket);
  tw_store_release(s->store);
  pthread_mutex_unlock(&s->mu);
  tw_req_after_commit(r, t, deleted);
}
