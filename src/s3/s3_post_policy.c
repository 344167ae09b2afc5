/* POST Object: who signed the form (SigV4 or SigV2 over the base64 policy) and
 * whether the form obeys the policy. S3's answers, as recorded against it:
 * - no signature fields at all: an anonymous request, 403 AccessDenied on a
 *   bucket that is not publicly writable (tweedle has no public buckets);
 * - a signature field without its companions: 400 InvalidArgument "Bucket POST
 *   must contain a field named 'X-Amz-Algorithm'.  If it is specified, ...";
 * - the signature is checked over the policy text as received, before it is
 *   decoded (403 SignatureDoesNotMatch, with StringToSign = the policy);
 * - a policy that does not parse: 400 InvalidPolicyDocument "Invalid Policy: ...";
 * - expired: 403 AccessDenied "Invalid according to Policy: Policy expired.";
 * - a condition that fails, also on a field the form lacks: 403 AccessDenied
 *   "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$key\", \"v\"]"
 *   (simple conditions printed as "eq", names spelled as in the policy);
 * - a field no condition names: 403 AccessDenied "Invalid according to Policy:
 *   Extra input fields: <name>".
 * Field and condition names compare without case, values with case. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth/credentials.h"
#include "auth/sigv2.h"
#include "core/clock.h"
#include "s3/s3_post.h"

#define MSG_POLICY "Invalid according to Policy: "

tw_post_field *tw_post_get(tw_post_form *f, const char *name) {
  for (size_t i = 0; i < f->n; i++)
    if (!strcasecmp(f->fields[i].name, name)) return &f->fields[i];
  return NULL;
}

const char *tw_post_value(tw_post_form *f, const char *name) {
  tw_post_field *v = tw_post_get(f, name);
  return v ? v->value : NULL;
}

/* 400 InvalidArgument with <ArgumentName>/<ArgumentValue> (and more XML). */
static void invalid_argument(tw_request *r, s3_ctx *x, const char *msg, const char *name,
                             const char *value, const char *more) {
  tw_buf ex;
  tw_buf_init(&ex, 64 * 1024);
  tw_s3_xml_text(&ex, "ArgumentName", name);
  tw_s3_xml_text(&ex, "ArgumentValue", value);
  if (more) tw_buf_puts(&ex, more);
  tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ARGUMENT, msg, tw_buf_cstr(&ex));
  tw_buf_free(&ex);
}

static void missing_field(tw_request *r, s3_ctx *x, const char *name) {
  char msg[200];
  snprintf(msg, sizeof msg,
           "Bucket POST must contain a field named '%s'.  If it is specified, please check the "
           "order of the fields.",
           name);
  invalid_argument(r, x, msg, name, "", NULL);
}

static void policy_document_error(tw_request *r, s3_ctx *x, const char *msg) {
  tw_s3_error(r, x, TW_ERR_S3_INVALID_POLICY_DOCUMENT, msg);
}

static void access_denied(tw_request *r, s3_ctx *x, const char *msg) {
  tw_s3_error(r, x, TW_ERR_ACCESS_DENIED, msg);
}

static int equal_secret(const char *a, const char *b) {
  size_t n = strlen(a);
  return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

static void signature_mismatch(tw_request *r, s3_ctx *x, const char *akid, tw_post_field *policy,
                               const char *given) {
  tw_buf ex;
  tw_buf_init(&ex, 512 * 1024);
  tw_s3_xml_text(&ex, "AWSAccessKeyId", akid);
  tw_s3_xml_textn(&ex, "StringToSign", policy->value, policy->vlen);
  tw_s3_xml_text(&ex, "SignatureProvided", given);
  tw_buf_puts(&ex, "<StringToSignBytes>");
  for (size_t i = 0; i < policy->vlen; i++)
    tw_buf_printf(&ex, i ? " %02x" : "%02x", (unsigned char)policy->value[i]);
  tw_buf_puts(&ex, "</StringToSignBytes>");
  tw_s3_error_key(r, x, TW_ERR_SIGNATURE_MISMATCH,
                  "The request signature we calculated does not match the signature you "
                  "provided. Check your key and signing method.",
                  tw_buf_cstr(&ex));
  tw_buf_free(&ex);
}

static int unknown_key(tw_request *r, s3_ctx *x, const char *akid) {
  tw_buf ex;
  tw_buf_init(&ex, 4096);
  tw_s3_xml_text(&ex, "AWSAccessKeyId", akid);
  tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ACCESS_KEY, NULL, tw_buf_cstr(&ex));
  tw_buf_free(&ex);
  return -1;
}

static int all_digits(const char *s, size_t n) {
  if (!n) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i])) return 0;
  return 1;
}

/* SigV4: hex HMAC-SHA256 of the base64 policy under the credential's key. */
static int verify_v4(tw_request *r, s3_ctx *x, tw_post_form *f) {
  static const char *required[][2] = {{"x-amz-algorithm", "X-Amz-Algorithm"},
                                      {"x-amz-credential", "X-Amz-Credential"},
                                      {"x-amz-date", "X-Amz-Date"},
                                      {"x-amz-signature", "X-Amz-Signature"},
                                      {"policy", "Policy"}};
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
    if (!tw_post_get(f, required[i][0])) {
      missing_field(r, x, required[i][1]);
      return -1;
    }
  const char *alg = tw_post_value(f, "x-amz-algorithm");
  const char *cred = tw_post_value(f, "x-amz-credential");
  const char *date = tw_post_value(f, "x-amz-date");
  const char *sig = tw_post_value(f, "x-amz-signature");
  tw_post_field *policy = tw_post_get(f, "policy");
  if (strcmp(alg, "AWS4-HMAC-SHA256")) {
    invalid_argument(r, x, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"", "X-Amz-Algorithm",
                     alg, NULL);
    return -1;
  }
  /* AKID/YYYYMMDD/region/s3/aws4_request */
  const char *part[5];
  size_t len[5], k = 0;
  for (const char *p = cred; k < 5;) {
    const char *slash = strchr(p, '/');
    part[k] = p;
    len[k++] = slash ? (size_t)(slash - p) : strlen(p);
    if (!slash) break;
    p = slash + 1;
  }
  char msg[600];
  if (k != 5 || strchr(part[4], '/')) {
    invalid_argument(r, x,
                     "the Credential is mal-formed; expecting "
                     "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
                     "X-Amz-Credential", cred, NULL);
    return -1;
  }
  if (!len[0]) {
    invalid_argument(r, x, "a non-empty Access Key (AKID) must be provided in the credential.",
                     "X-Amz-Credential", cred, NULL);
    return -1;
  }
  if (len[1] != 8 || !all_digits(part[1], 8)) {
    snprintf(msg, sizeof msg,
             "incorrect date format \"%.*s\". This date in the credential must be in the format "
             "\"yyyyMMdd\".",
             (int)(len[1] > 64 ? 64 : len[1]), part[1]);
    invalid_argument(r, x, msg, "X-Amz-Credential", cred, NULL);
    return -1;
  }
  if (len[2] != strlen(x->s3->region) || memcmp(part[2], x->s3->region, len[2])) {
    snprintf(msg, sizeof msg, "the region '%.*s' is wrong; expecting '%s'",
             (int)(len[2] > 64 ? 64 : len[2]), part[2], x->s3->region);
    char more[128];
    snprintf(more, sizeof more, "<Region>%s</Region>", x->s3->region);
    invalid_argument(r, x, msg, "X-Amz-Credential", cred, more);
    return -1;
  }
  if (len[3] != 2 || memcmp(part[3], "s3", 2)) {
    snprintf(msg, sizeof msg, "incorrect service \"%.*s\". This endpoint belongs to \"s3\".",
             (int)(len[3] > 64 ? 64 : len[3]), part[3]);
    invalid_argument(r, x, msg, "X-Amz-Credential", cred, NULL);
    return -1;
  }
  if (strcmp(part[4], "aws4_request")) {
    snprintf(msg, sizeof msg, "incorrect terminal \"%.64s\". This endpoint uses \"aws4_request\".",
             part[4]);
    invalid_argument(r, x, msg, "X-Amz-Credential", cred, NULL);
    return -1;
  }
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *end = strlen(date) == 16 ? strptime(date, "%Y%m%dT%H%M%SZ", &tm) : NULL;
  if (!end || *end) {
    invalid_argument(r, x, "X-Amz-Date must be formated via ISO8601 Long format", "X-Amz-Date",
                     date, NULL);
    return -1;
  }
  char akid[129], day[9];
  snprintf(akid, sizeof akid, "%.*s", (int)(len[0] < 128 ? len[0] : 128), part[0]);
  snprintf(day, sizeof day, "%.8s", part[1]);
  const char *secret = len[0] < 128 ? tw_credentials_secret(x->s3->creds, akid) : NULL;
  if (!secret) return unknown_key(r, x, akid);
  uint8_t key[32], mac[32];
  char hex[65];
  tw_sigv4_signing_key(secret, day, x->s3->region, "s3", key);
  tw_hmac_sha256(key, 32, policy->value, policy->vlen, mac);
  tw_hex(mac, 32, hex);
  if (!equal_secret(hex, sig)) {
    signature_mismatch(r, x, akid, policy, sig);
    return -1;
  }
  snprintf(r->principal, sizeof r->principal, "%s", akid);
  return 0;
}

/* SigV2: base64 HMAC-SHA1 of the base64 policy. */
static int verify_v2(tw_request *r, s3_ctx *x, tw_post_form *f) {
  static const char *required[][2] = {
      {"awsaccesskeyid", "AWSAccessKeyId"}, {"signature", "Signature"}, {"policy", "Policy"}};
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
    if (!tw_post_get(f, required[i][0])) {
      missing_field(r, x, required[i][1]);
      return -1;
    }
  const char *akid = tw_post_value(f, "awsaccesskeyid");
  const char *sig = tw_post_value(f, "signature");
  tw_post_field *policy = tw_post_get(f, "policy");
  const char *secret = strlen(akid) < 129 ? tw_credentials_secret(x->s3->creds, akid) : NULL;
  if (!secret) return unknown_key(r, x, akid);
  char want[29];
  tw_sigv2_sign_string(secret, policy->value, policy->vlen, want);
  if (!equal_secret(want, sig)) {
    signature_mismatch(r, x, akid, policy, sig);
    return -1;
  }
  snprintf(r->principal, sizeof r->principal, "%s", akid);
  return 0;
}

/* --- the policy document ------------------------------------------------------------- */

/* "2026-01-02T03:04:05Z" or with a fraction "...05.000Z": epoch ms, or -1. */
static int64_t parse_expiration(const char *s) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!p || strlen(s) < 19 || !isdigit((unsigned char)s[0])) return -1;
  int64_t ms = 0;
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p)) return -1;
    for (int scale = 100; isdigit((unsigned char)*p); p++, scale /= 10) ms += (*p - '0') * scale;
  }
  if (strcmp(p, "Z")) return -1;
  return (int64_t)timegm(&tm) * 1000 + ms;
}

/* A condition as S3 prints it: ["eq", "$key", "v"]. */
static void print_condition(tw_buf *b, json_t *c) {
  tw_buf_putc(b, '[');
  if (json_is_object(c)) {
    const char *k = json_object_iter_key(json_object_iter(c));
    json_t *v = json_object_iter_value(json_object_iter(c));
    char *name = malloc(strlen(k) + 2);
    name[0] = '$';
    strcpy(name + 1, k);
    json_t *n = json_string(name);
    char *ks = json_dumps(n, JSON_ENCODE_ANY), *vs = json_dumps(v, JSON_ENCODE_ANY);
    tw_buf_printf(b, "\"eq\", %s, %s", ks ? ks : "\"\"", vs ? vs : "\"\"");
    free(ks);
    free(vs);
    json_decref(n);
    free(name);
  } else {
    size_t i;
    json_t *v;
    json_array_foreach(c, i, v) {
      char *s = json_dumps(v, JSON_ENCODE_ANY);
      tw_buf_printf(b, "%s%s", i ? ", " : "", s ? s : "");
      free(s);
    }
  }
  tw_buf_putc(b, ']');
}

static void condition_failed(tw_request *r, s3_ctx *x, json_t *c) {
  tw_buf b;
  tw_buf_init(&b, 64 * 1024);
  tw_buf_puts(&b, MSG_POLICY "Policy Condition failed: ");
  print_condition(&b, c);
  access_denied(r, x, tw_buf_cstr(&b));
  tw_buf_free(&b);
}

/* Checks the shape of one condition: 0, or -1 with S3's message in msg. */
static int condition_shape(json_t *c, char *msg, size_t msglen) {
  if (json_is_object(c)) {
    if (json_object_size(c) != 1) {
      snprintf(msg, msglen,
               "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one "
               "property specified.");
      return -1;
    }
    json_t *v = json_object_iter_value(json_object_iter(c));
    if (json_is_null(v)) {
      snprintf(msg, msglen, "Invalid Policy: Invalid JSON.");
      return -1;
    }
    if (!json_is_string(v)) {
      snprintf(msg, msglen, "Invalid Policy: Invalid Simple-Condition: value must be a string.");
      return -1;
    }
    return 0;
  }
  if (!json_is_array(c)) {
    snprintf(msg, msglen, "Invalid Policy: Invalid condition test: must be a List or Object.");
    return -1;
  }
  const char *op = json_string_value(json_array_get(c, 0));
  if (!op) {
    snprintf(msg, msglen, "Invalid Policy: Invalid Condition: missing operation identifier.");
    return -1;
  }
  int range = !strcasecmp(op, "content-length-range");
  if (!range && strcasecmp(op, "eq") && strcasecmp(op, "starts-with")) {
    snprintf(msg, msglen, "Invalid Policy: Invalid Condition: unknown operation '%.64s'.", op);
    return -1;
  }
  if (json_array_size(c) != 3) {
    snprintf(msg, msglen, "Invalid Policy: Invalid %.64s: wrong number of arguments.", op);
    return -1;
  }
  for (size_t i = 1; i < 3; i++) {
    json_t *a = json_array_get(c, i);
    if (json_is_string(a) || (range && json_is_integer(a))) continue;
    snprintf(msg, msglen, "Invalid Policy: Invalid JSON.");
    return -1;
  }
  if (range &&
      ((json_is_integer(json_array_get(c, 1)) && json_integer_value(json_array_get(c, 1)) < 0) ||
       (json_is_integer(json_array_get(c, 2)) && json_integer_value(json_array_get(c, 2)) < 0))) {
    snprintf(msg, msglen,
             "Invalid Policy: Invalid content-length-range: values must not be negative.");
    return -1;
  }
  return 0;
}

/* A bound of content-length-range: a number, or a string of digits. */
static int range_bound(json_t *v, uint64_t *out) {
  if (json_is_integer(v)) {
    *out = (uint64_t)json_integer_value(v);
    return 0;
  }
  const char *s = json_string_value(v);
  if (!s || !all_digits(s, strlen(s)) || strlen(s) > 19) return -1;
  *out = strtoull(s, NULL, 10);
  return 0;
}

/* The value a condition tests: a form field, or the bucket the URL names.
 * Values may hold NUL bytes (in a form and in a policy's "\u0000"). */
static const char *subject(s3_ctx *x, tw_post_form *f, const char *name, size_t *len) {
  if (!strcasecmp(name, "bucket")) {
    *len = strlen(x->bucket);
    return x->bucket;
  }
  tw_post_field *v = tw_post_get(f, name);
  *len = v ? v->vlen : 0;
  return v ? v->value : NULL;
}

static int has_prefix(const char *v, size_t vl, json_t *prefix) {
  size_t pl = json_string_length(prefix);
  return pl <= vl && !memcmp(v, json_string_value(prefix), pl);
}

/* Content-Type lists: every comma-separated type must start with the prefix. */
static int starts_with(const char *name, const char *v, size_t vl, json_t *prefix) {
  if (strcasecmp(name, "Content-Type") || !memchr(v, ',', vl)) return has_prefix(v, vl, prefix);
  for (const char *p = v, *end = v + vl; p < end;) {
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    const char *comma = memchr(p, ',', (size_t)(end - p));
    if (!has_prefix(p, (size_t)((comma ? comma : end) - p), prefix)) return 0;
    p = comma ? comma + 1 : end;
  }
  return 1;
}

static int equals(const char *v, size_t vl, json_t *want) {
  return vl == json_string_length(want) && !memcmp(v, json_string_value(want), vl);
}

/* Evaluates one (well-formed) condition; adds the field it names to `covered`. */
static int condition_holds(s3_ctx *x, tw_post_form *f, json_t *c, json_t *covered, uint64_t *min,
                           uint64_t *max) {
  size_t gl;
  if (json_is_object(c)) {
    const char *name = json_object_iter_key(json_object_iter(c));
    json_array_append_new(covered, json_string(name));
    const char *got = subject(x, f, name, &gl);
    return got && equals(got, gl, json_object_iter_value(json_object_iter(c)));
  }
  const char *op = json_string_value(json_array_get(c, 0));
  if (!strcasecmp(op, "content-length-range")) {
    uint64_t lo, hi;
    if (range_bound(json_array_get(c, 1), &lo) || range_bound(json_array_get(c, 2), &hi)) return 0;
    if (lo > *min) *min = lo;
    if (hi < *max) *max = hi;
    return 1;
  }
  const char *ref = json_string_value(json_array_get(c, 1));
  json_t *want = json_array_get(c, 2);
  if (ref[0] != '$') return 0;
  json_array_append_new(covered, json_string(ref + 1));
  const char *got = subject(x, f, ref + 1, &gl);
  if (!got) return 0;
  if (!strcasecmp(op, "eq")) return equals(got, gl, want);
  return starts_with(ref + 1, got, gl, want);
}

static int is_covered(json_t *covered, const char *name) {
  size_t i;
  json_t *v;
  json_array_foreach(covered, i, v) {
    if (!strcasecmp(json_string_value(v), name)) return 1;
  }
  return 0;
}

static int check_policy(tw_request *r, s3_ctx *x, tw_post_form *f, int v2) {
  tw_post_field *pf = tw_post_get(f, "policy");
  uint8_t *raw = malloc(pf->vlen + 4);
  long n = tw_base64_decode(pf->value, pf->vlen, raw);
  if (n < 0) {
    free(raw);
    policy_document_error(r, x, "Invalid Policy: invalid Base64 encoding.");
    return -1;
  }
  json_error_t jerr;
  json_t *doc = json_loadb((const char *)raw, (size_t)n, JSON_ALLOW_NUL, &jerr);
  free(raw);
  char msg[300];
  int rc = -1;
  json_t *covered = json_array();
  if (!json_is_object(doc)) {
    policy_document_error(r, x, "Invalid Policy: Invalid JSON.");
    goto done;
  }
  const char *k;
  json_t *v;
  json_object_foreach(doc, k, v) {
    if (strcmp(k, "expiration") && strcmp(k, "conditions")) {
      char low[65];
      size_t i = 0;
      for (; k[i] && i < 64; i++) low[i] = (char)tolower((unsigned char)k[i]);
      low[i] = 0;
      snprintf(msg, sizeof msg, "Invalid Policy: Unexpected: '%s'", low);
      policy_document_error(r, x, msg);
      goto done;
    }
  }
  json_t *exp = json_object_get(doc, "expiration"), *conds = json_object_get(doc, "conditions");
  if (!exp) {
    policy_document_error(r, x, "Invalid Policy: Policy missing expiration.");
    goto done;
  }
  if (!conds) {
    policy_document_error(r, x, "Invalid Policy: Policy missing conditions.");
    goto done;
  }
  int64_t exp_ms = json_is_string(exp) ? parse_expiration(json_string_value(exp)) : -1;
  if (exp_ms < 0) {
    char *s =
        json_is_string(exp) ? strdup(json_string_value(exp)) : json_dumps(exp, JSON_ENCODE_ANY);
    snprintf(msg, sizeof msg, "Invalid Policy: Invalid 'expiration' value: '%.200s'", s ? s : "");
    free(s);
    policy_document_error(r, x, msg);
    goto done;
  }
  if (!json_is_array(conds)) {
    policy_document_error(r, x, "Invalid Policy: Invalid 'conditions' value: must be a List.");
    goto done;
  }
  size_t i;
  json_t *c;
  json_array_foreach(conds, i, c) {
    if (condition_shape(c, msg, sizeof msg)) {
      policy_document_error(r, x, msg);
      goto done;
    }
  }
  if (tw_now_ms() > exp_ms) {
    access_denied(r, x, MSG_POLICY "Policy expired.");
    goto done;
  }
  uint64_t min = 0, max = TW_S3_MAX_OBJECT;
  json_array_foreach(conds, i, c) {
    if (!condition_holds(x, f, c, covered, &min, &max)) {
      condition_failed(r, x, c);
      goto done;
    }
  }
  /* every field must be named by a condition, but for these */
  tw_buf extra;
  tw_buf_init(&extra, 64 * 1024);
  for (size_t j = 0; j < f->n; j++) {
    const char *name = f->fields[j].name;
    if (!strcasecmp(name, "policy") || !strcasecmp(name, "x-amz-signature") ||
        !strcasecmp(name, "file") || !strncasecmp(name, "x-ignore-", 9) ||
        (v2 && (!strcasecmp(name, "awsaccesskeyid") || !strcasecmp(name, "signature"))) ||
        is_covered(covered, name))
      continue;
    tw_buf_printf(&extra, "%s%s", extra.len ? ", " : "", name);
  }
  if (extra.len) {
    tw_buf m;
    tw_buf_init(&m, 128 * 1024);
    tw_buf_printf(&m, MSG_POLICY "Extra input fields: %s", tw_buf_cstr(&extra));
    access_denied(r, x, tw_buf_cstr(&m));
    tw_buf_free(&m);
    tw_buf_free(&extra);
    goto done;
  }
  tw_buf_free(&extra);
  f->min_size = min;
  f->max_size = max;
  rc = 0;
done:
  json_decref(covered);
  json_decref(doc);
  return rc;
}

int tw_post_check_policy(tw_request *r, s3_ctx *x, tw_post_form *f, int v2) {
  return check_policy(r, x, f, v2);
}

int tw_post_authorize(tw_request *r, s3_ctx *x, tw_post_form *f) {
  int v4 = tw_post_get(f, "x-amz-algorithm") || tw_post_get(f, "x-amz-credential") ||
           tw_post_get(f, "x-amz-date") || tw_post_get(f, "x-amz-signature");
  int v2 = !v4 && (tw_post_get(f, "awsaccesskeyid") || tw_post_get(f, "signature"));
  if (!v4 && !v2) { /* anonymous: only a publicly writable bucket takes it (s3_policy.c) */
    r->principal[0] = 0;
    x->anonymous = 1;
    f->min_size = 0;
    f->max_size = TW_S3_MAX_OBJECT;
    return 0;
  }
  if (v4 ? verify_v4(r, x, f) : verify_v2(r, x, f)) return -1;
  return check_policy(r, x, f, v2);
}
