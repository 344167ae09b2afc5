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

static int list_one(void *ud, const tw_s3_bucket_row *row) {
  tw_buf *b = ud;
  char when[32];
  tw_s3_iso8601(row->created_ms, when);
  tw_buf_puts(b, "<Bucket>");
  tw_s3_xml_text(b, "Name", row->name);
  tw_s3_xml_text(b, "CreationDate", when);
  tw_buf_puts(b, "</Bucket>");
  return 0;
}

void tw_s3_list_buckets(tw_request *r, s3_ctx *x) {
  tw_buf b;
  tw_buf_init(&b, 64u << 20);
  tw_s3_xml_begin(&b, "ListAllMyBucketsResult");
  tw_buf_printf(&b, "<Owner><ID>%s</ID><DisplayName>tweedle</DisplayName></Owner><Buckets>",
                x->s3->account);
  if (tw_store_s3_buckets(x->s3->store)->list(x->s3->store, list_one, &b)) {
    tw_buf_free(&b);
    tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
    return;
  }
  tw_buf_puts(&b, "</Buckets></ListAllMyBucketsResult>");
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
      snprintf(msg, sizeof msg, "The %s location constraint is incompatible for the region specific endpoint this request was sent to.", lc);
      json_decref(cfg);
      tw_s3_error(r, x, TW_ERR_S3_ILLEGAL_LOCATION, msg);
      return;
    }
  }
  json_decref(cfg);
  pthread_mutex_lock(&s->mu);
  int exists = tw_s3_bucket_exists(s, x->bucket);
  if (exists > 0) {
    pthread_mutex_unlock(&s->mu);
    /* us-east-1 answers a repeated create by the owner with 200 (legacy behaviour) */
    if (!strcmp(s->region, "us-east-1")) {
      created(r);
      return;
    }
    tw_s3_error(r, x, TW_ERR_S3_BUCKET_EXISTS, NULL);
    return;
  }
  tw_s3_bucket_row row = {.name = x->bucket, .created_ms = tw_now_ms(), .region = region};
  uint64_t t = tw_store_s3_buckets(s->store)->create(s->store, &row);
  pthread_mutex_unlock(&s->mu);
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
  tw_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
  /* us-east-1 is the empty constraint */
  if (strcmp(x->s3->region, "us-east-1")) tw_buf_xml_escape(&b, x->s3->region, strlen(x->s3->region));
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
  tw_s3_lifecycle_bucket_deleted(s, x->bucket);
  uint64_t t = tw_store_s3_buckets(s->store)->remove(s->store, x->bucket);
  tw_store_release(s->store);
  pthread_mutex_unlock(&s->mu);
  tw_req_after_commit(r, t, deleted);
}
