/* S3 POST uploads: the multipart/form-data stream (tw_s3_post_parse_form: the
 * Content-Type's boundary, parts, fields, ${filename}) and the POST policy
 * JSON checked against the form (tw_post_check_policy).
 * Input, byte 0:
 *  - bit 7 clear: a form. Byte 1: the piece size (1..256); then the
 *    Content-Type value up to '\n'; then the body. A form that parses has
 *    its policy checked (SigV2 when it has AWSAccessKeyId).
 *  - bit 7 set: a policy. The rest is the policy's JSON (base64-encoded here),
 *    checked against a fixed SigV4 form (bit 0: SigV2's exemptions). */
#include <microhttpd.h>

#include "core/crypto.h"
#include "fuzz_util.h"
#include "s3/s3_post.h"

static void reset(tw_request *r) {
  if (r->resp) MHD_destroy_response(r->resp);
  r->resp = NULL;
}

static void check(void *ud, tw_request *r, s3_ctx *x, tw_post_form *f) {
  (void)ud;
  if (!tw_post_get(f, "policy")) return;
  tw_post_check_policy(r, x, f, tw_post_get(f, "awsaccesskeyid") != NULL);
}

static void add(tw_post_form *f, const char *name, const char *value) {
  tw_post_field *fl = &f->fields[f->n++];
  fl->name = (char *)name;
  fl->value = (char *)value;
  fl->vlen = strlen(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  char path[] = "/bkt", query[] = "", bucket[] = "bkt";
  tw_request r;
  memset(&r, 0, sizeof r);
  strcpy(r.method, "POST");
  strcpy(r.request_id, "FUZZ");
  r.path = path;
  r.query = query;
  s3_ctx x;
  memset(&x, 0, sizeof x);
  x.bucket = bucket;
  r.ctx = &x;
  if (!(data[0] & 0x80)) {
    size_t piece = (size_t)data[1] + 1;
    const uint8_t *body = data + 2;
    size_t n = size - 2;
    const uint8_t *nl = memchr(body, '\n', n);
    size_t cl = nl ? (size_t)(nl - body) : n;
    char *ct = malloc(cl + 1);
    memcpy(ct, body, cl);
    ct[cl] = 0;
    body += nl ? cl + 1 : n;
    n -= nl ? cl + 1 : n;
    char *copy = malloc(n ? n : 1);
    memcpy(copy, body, n);
    tw_kv h = {"Content-Type", ct};
    r.headers = &h;
    r.nheaders = 1;
    tw_s3_post_parse_form(&r, &x, copy, n, piece, check, NULL);
    free(copy);
    free(ct);
  } else {
    size_t n = size - 1;
    char *b64 = malloc(4 * (n / 3 + 1) + 1);
    tw_base64_encode(data + 1, n, b64);
    tw_post_field fields[16];
    tw_post_form f = {.fields = fields, .cap = 16};
    add(&f, "key", "uploads/${filename}");
    add(&f, "Content-Type", "image/png, image/jpeg");
    add(&f, "x-amz-meta-tag", "t1");
    add(&f, "success_action_status", "201");
    add(&f, "acl", "public-read");
    add(&f, "x-amz-algorithm", "AWS4-HMAC-SHA256");
    add(&f, "x-amz-credential", "AKIDEXAMPLE/20130524/us-east-1/s3/aws4_request");
    add(&f, "x-amz-date", "20130524T000000Z");
    add(&f, "AWSAccessKeyId", "AKIDEXAMPLE");
    add(&f, "policy", b64);
    tw_post_check_policy(&r, &x, &f, data[0] & 1);
    free(b64);
  }
  reset(&r);
  return 0;
}
