/* AWS Signature Version 4: verification.
 *
 * The canonical request is never built as a string on the success path: it is
 * streamed into SHA-256 (sigv4_canon.c). Only when a signature differs is it
 * built again as text, for the error message. A verification costs two
 * SHA-256 passes, one HMAC and no locks.
 *
 * Error codes and messages follow what AWS's front end (SQS and the other
 * "Coral" services) returns, in the order it checks; S3-specific wording is
 * used when in->s3 where S3's differs. */
#include "auth/sigv4.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_text.h"
#include "auth/sigv4_internal.h"
#include "core/buf.h"
#include "core/crypto.h"

#define SKEW_SECONDS (15 * 60)
/* Debug text for a failed signature is skipped when it would be larger. */
#define DEBUG_TEXT_CAP (64 * 1024)

/* ---------- small string helpers ---------- */

/* Appends to a message already in buf. */
static void addmsg(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void addmsg(char *buf, size_t len, const char *fmt, ...) {
  if (!buf || !len) return;
  size_t used = strnlen(buf, len);
  if (used + 1 >= len) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + used, len - used, fmt, ap);
  va_end(ap);
}

static int copy_field(char *dst, size_t cap, const char *src, size_t n) {
  if (n >= cap) return -1;
  memcpy(dst, src, n);
  dst[n] = '\0';
  return 0;
}

/* ---------- query parameters ---------- */

static const char *qlist_get(const qlist *q, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < q->n; i++)
    if (q->v[i].name_len == n && memcmp(q->v[i].name, name, n) == 0) return q->v[i].value;
  return NULL;
}

/* Headers hoisted into a presigned query keep whatever case the client used. */
static const char *qlist_get_ci(const qlist *q, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < q->n; i++)
    if (tw_auth_ieq(q->v[i].name, q->v[i].name_len, name, n)) return q->v[i].value;
  return NULL;
}

/* ---------- verification ---------- */

typedef struct {
  const char *ak, *date, *region, *service, *term;
  size_t ak_len, date_len, region_len, service_len, term_len;
} credential;

/* keyid/date/region/service/term; trailing slashes ignored. */
static int parse_credential(const char *s, size_t n, credential *c) {
  while (n && s[n - 1] == '/') n--;
  const char *parts[5];
  size_t lens[5];
  size_t k = 0;
  const char *p = s, *end = s + n;
  while (1) {
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *pe = slash ? slash : end;
    if (k == 5) return -1;
    parts[k] = p;
    lens[k++] = (size_t)(pe - p);
    if (!slash) break;
    p = slash + 1;
  }
  if (k != 5) return -1;
  c->ak = parts[0], c->ak_len = lens[0];
  c->date = parts[1], c->date_len = lens[1];
  c->region = parts[2], c->region_len = lens[2];
  c->service = parts[3], c->service_len = lens[3];
  c->term = parts[4], c->term_len = lens[4];
  return 0;
}

static int credential_to_info(const credential *c, tw_sigv4_info *info) {
  if (c->ak_len == 0) return -1;
  return copy_field(info->access_key, sizeof info->access_key, c->ak, c->ak_len) ||
                 copy_field(info->date, sizeof info->date, c->date, c->date_len) ||
                 copy_field(info->region, sizeof info->region, c->region, c->region_len) ||
                 copy_field(info->service, sizeof info->service, c->service, c->service_len)
             ? -1
             : 0;
}

static int signed_has_host(const char *signed_h) {
  const char *p = signed_h;
  while (1) {
    const char *semi = strchr(p, ';');
    size_t n = semi ? (size_t)(semi - p) : strlen(p);
    if (tw_auth_ieq(p, n, "host", 4)) return 1;
    if (!semi) return 0;
    p = semi + 1;
  }
}

/* Credential scope against the request: wrong region (if the caller names one),
 * wrong service (likewise), wrong terminator, date not that of X-Amz-Date.
 * AWS lists every problem in one message. */
static tw_err check_scope(const tw_sigv4_input *in, const credential *c, const char *amz_date,
                          int presigned, tw_sigv4_info *info, char *errmsg, size_t errmsg_len) {
  int region_bad = in->region && !(c->region_len == strlen(in->region) &&
                                   memcmp(c->region, in->region, c->region_len) == 0);
  if (region_bad && in->s3) {
    info->fault = presigned ? TW_SIGV4_FAULT_QUERY_PARAMS : TW_SIGV4_FAULT_SCOPE;
    if (presigned) {
      tw_auth_setmsg(
          errmsg, errmsg_len,
          "Error parsing the X-Amz-Credential parameter; the region '%.*s' is wrong; expecting "
          "'%s'",
          (int)c->region_len, c->region, in->region);
      return TW_ERR_ACCESS_DENIED;
    }
    tw_auth_setmsg(
        errmsg, errmsg_len,
        "The authorization header is malformed; the region '%.*s' is wrong; expecting '%s'",
        (int)c->region_len, c->region, in->region);
    return TW_ERR_INCOMPLETE_SIGNATURE;
  }
  int bad = 0;
  if (errmsg && errmsg_len) errmsg[0] = '\0';
  if (region_bad) {
    addmsg(errmsg, errmsg_len, "Credential should be scoped to a valid region, not '%.*s'. ",
           (int)c->region_len, c->region);
    bad = 1;
  }
  if (in->service && !(c->service_len == strlen(in->service) &&
                       memcmp(c->service, in->service, c->service_len) == 0)) {
    addmsg(errmsg, errmsg_len, "Credential should be scoped to correct service: '%s'. ",
           in->service);
    bad = 1;
  }
  if (!(c->term_len == strlen(TERMINATOR) && memcmp(c->term, TERMINATOR, c->term_len) == 0)) {
    addmsg(errmsg, errmsg_len,
           "Credential should be scoped with a valid terminator: '" TERMINATOR "', not '%.*s'. ",
           (int)c->term_len, c->term);
    bad = 1;
  }
  if (!(c->date_len == 8 && memcmp(c->date, amz_date, 8) == 0)) {
    addmsg(errmsg, errmsg_len,
           "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
           "HTTP: '%.*s' != "
           "'%.8s', from '%s'.",
           (int)c->date_len, c->date, amz_date, amz_date);
    bad = 1;
  }
  if (!bad) return TW_ERR_OK;
  info->fault = TW_SIGV4_FAULT_SCOPE;
  return TW_ERR_SIGNATURE_MISMATCH;
}

/* Looks the key up, computes and compares. Shared by both forms. */
static tw_err finish(const sig_parts *parts, const char *given_sig, tw_secret_lookup lookup,
                     void *ud, tw_sigv4_info *info, char *errmsg, size_t errmsg_len) {
  const tw_sigv4_input *in = parts->in;
  const char *secret = lookup ? lookup(ud, info->access_key) : NULL;
  if (!secret) {
    info->fault = TW_SIGV4_FAULT_UNKNOWN_KEY;
    if (in->s3)
      tw_auth_setmsg(errmsg, errmsg_len,
                     "The AWS Access Key Id you provided does not exist in our records.");
    return TW_ERR_INVALID_CLIENT_TOKEN;
  }
  uint8_t key[32];
  tw_sigv4_signing_key(secret, parts->date, parts->region, parts->service, key);
  char sig[65];
  if (tw_sigv4_compute_signature(parts, key, sig, NULL, NULL)) {
    OPENSSL_cleanse(key, sizeof key);
    return TW_ERR_INTERNAL;
  }
  if (strlen(given_sig) == 64 && CRYPTO_memcmp(sig, given_sig, 64) == 0) {
    memcpy(info->signing_key, key, 32);
    OPENSSL_cleanse(key, sizeof key);
    return TW_ERR_OK;
  }
  info->fault = TW_SIGV4_FAULT_SIGNATURE;
  if (in->s3) {
    tw_auth_setmsg(
        errmsg, errmsg_len,
        "The request signature we calculated does not match the signature you provided. Check "
        "your key and "
        "signing method.");
  } else if (errmsg && errmsg_len) {
    /* As SQS does: show what the server signed, so clients can compare. */
    tw_buf creq, sts;
    tw_buf_init(&creq, DEBUG_TEXT_CAP);
    tw_buf_init(&sts, 1024);
    char again[65];
    errmsg[0] = '\0';
    if (tw_sigv4_compute_signature(parts, key, again, &creq, &sts) == 0 && !creq.overflow &&
        !sts.overflow) {
      int n = snprintf(errmsg, errmsg_len,
                       "%s\n\nThe Canonical String for this request should have been\n'%s'\n\n"
                       "The String-to-Sign should have been\n'%s'\n",
                       tw_err_get(TW_ERR_SIGNATURE_MISMATCH)->message, tw_buf_cstr(&creq),
                       tw_buf_cstr(&sts));
      if (n < 0 || (size_t)n >= errmsg_len) errmsg[0] = '\0'; /* too long: default message */
    }
    tw_buf_free(&creq);
    tw_buf_free(&sts);
  }
  OPENSSL_cleanse(key, sizeof key);
  return TW_ERR_SIGNATURE_MISMATCH;
}

static tw_err verify_header(const tw_sigv4_input *in, const char *auth, const qlist *q,
                            tw_secret_lookup lookup, void *ud, time_t now, tw_sigv4_info *info,
                            char *errmsg, size_t errmsg_len) {
  /* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." */
  const char *p = auth;
  size_t alg_len = 0;
  while (p[alg_len] && !is_ws((unsigned char)p[alg_len])) alg_len++;
  const char *alg = p;
  p += alg_len;

  const char *cred = NULL, *signed_h = NULL, *sigv = NULL;
  size_t cred_len = 0, signed_len = 0, sig_len = 0;
  int have_signed = 0; /* an empty SignedHeaders is present (it fails the Host check) */
  while (*p) {
    while (*p == ',' || is_ws((unsigned char)*p)) p++;
    if (!*p) break;
    const char *ps = p;
    while (*p && *p != ',') p++;
    const char *pe = p;
    while (pe > ps && is_ws((unsigned char)pe[-1])) pe--;
    const char *eq = memchr(ps, '=', (size_t)(pe - ps));
    if (!eq) {
      info->fault = TW_SIGV4_FAULT_MALFORMED;
      tw_auth_setmsg(
          errmsg, errmsg_len,
          "'%.*s' not a valid key=value pair (missing equal-sign) in Authorization header: '%s'.",
          (int)(pe - ps), ps, auth);
      return TW_ERR_INCOMPLETE_SIGNATURE;
    }
    size_t kl = (size_t)(eq - ps), vl = (size_t)(pe - eq - 1);
    if (kl == 10 && memcmp(ps, "Credential", 10) == 0)
      cred = eq + 1, cred_len = vl;
    else if (kl == 13 && memcmp(ps, "SignedHeaders", 13) == 0)
      signed_h = eq + 1, signed_len = vl, have_signed = 1;
    else if (kl == 9 && memcmp(ps, "Signature", 9) == 0)
      sigv = eq + 1, sig_len = vl;
  }

  const char *xdate = tw_auth_header(in->headers, in->nheaders, "x-amz-date");
  const char *hdate = xdate ? NULL : tw_auth_header(in->headers, in->nheaders, "date");
  if (!cred_len || !sig_len || !have_signed || (!xdate && !hdate)) {
    info->fault = TW_SIGV4_FAULT_MALFORMED;
    if (errmsg && errmsg_len) errmsg[0] = '\0';
    if (!cred_len)
      addmsg(errmsg, errmsg_len, "Authorization header requires 'Credential' parameter. ");
    if (!sig_len)
      addmsg(errmsg, errmsg_len, "Authorization header requires 'Signature' parameter. ");
    if (!have_signed)
      addmsg(errmsg, errmsg_len, "Authorization header requires 'SignedHeaders' parameter. ");
    if (!xdate && !hdate)
      addmsg(
          errmsg, errmsg_len,
          "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ");
    addmsg(errmsg, errmsg_len, "Authorization=%s", auth);
    return TW_ERR_INCOMPLETE_SIGNATURE;
  }
  if (sig_len < sizeof info->signature)
    copy_field(info->signature, sizeof info->signature, sigv, sig_len);

  /* The request time. */
  time_t t;
  const char *dv = xdate ? xdate : hdate;
  if ((xdate ? tw_sigv4_parse_amz_date(dv, &t) : tw_sigv4_parse_http_date(dv, &t)) != 0) {
    info->fault = TW_SIGV4_FAULT_MALFORMED;
    if (in->s3) {
      tw_auth_setmsg(errmsg, errmsg_len,
                     "AWS authentication requires a valid Date or x-amz-date header");
      return TW_ERR_ACCESS_DENIED;
    }
    tw_auth_setmsg(errmsg, errmsg_len,
                   "Date must be in ISO-8601 'basic format'. Got '%s'. See "
                   "http://en.wikipedia.org/wiki/ISO_8601",
                   dv);
    return TW_ERR_INCOMPLETE_SIGNATURE;
  }
  tw_sigv4_amz_date(t, info->amz_date);

  if (t < now - SKEW_SECONDS || t > now + SKEW_SECONDS) {
    char a[17], b[17];
    info->fault = TW_SIGV4_FAULT_SKEWED;
    tw_sigv4_amz_date(now, a);
    if (in->s3) {
      tw_auth_setmsg(errmsg, errmsg_len,
                     "The difference between the request time and the current time is too large.");
    } else if (t < now) {
      tw_sigv4_amz_date(now - SKEW_SECONDS, b);
      tw_auth_setmsg(errmsg, errmsg_len,
                     "Signature expired: %s is now earlier than %s (%s - 15 min.)", info->amz_date,
                     b, a);
    } else {
      tw_sigv4_amz_date(now + SKEW_SECONDS, b);
      tw_auth_setmsg(errmsg, errmsg_len,
                     "Signature not yet current: %s is still later than %s (%s + 15 min.)",
                     info->amz_date, b, a);
    }
    return TW_ERR_SIGNATURE_MISMATCH;
  }

  /* The signed-headers list is needed NUL-terminated for the canonical request. */
  char shl_local[512];
  char *shl = signed_len < sizeof shl_local ? shl_local : malloc(signed_len + 1);
  if (!shl) return TW_ERR_INTERNAL;
  memcpy(shl, signed_h, signed_len);
  shl[signed_len] = '\0';
  tw_err rc = TW_ERR_OK;
  credential c;

  if (!signed_has_host(shl)) {
    info->fault = TW_SIGV4_FAULT_MALFORMED;
    tw_auth_setmsg(errmsg, errmsg_len, "'Host' must be a 'SignedHeader' in the AWS Authorization.");
    rc = TW_ERR_SIGNATURE_MISMATCH;
  } else if (!(alg_len == strlen(ALGORITHM) && memcmp(alg, ALGORITHM, alg_len) == 0)) {
    info->fault = TW_SIGV4_FAULT_MALFORMED;
    tw_auth_setmsg(errmsg, errmsg_len,
                   "Unsupported AWS 'algorithm': '%.*s' (only " ALGORITHM " for now). ",
                   (int)alg_len, alg);
    rc = TW_ERR_INCOMPLETE_SIGNATURE;
  } else if (parse_credential(cred, cred_len, &c) || credential_to_info(&c, info)) {
    info->fault = TW_SIGV4_FAULT_MALFORMED;
    if (in->s3)
      tw_auth_setmsg(
          errmsg, errmsg_len,
          "The authorization header is malformed; the Credential is mal-formed; expecting "
          "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".");
    else
      tw_auth_setmsg(errmsg, errmsg_len,
                     "Credential must have exactly 5 slash-delimited elements, e.g. "
                     "keyid/date/region/service/term, got '%.*s'",
                     (int)cred_len, cred);
    rc = TW_ERR_INCOMPLETE_SIGNATURE;
  } else if ((rc = check_scope(in, &c, info->amz_date, 0, info, errmsg, errmsg_len)) == TW_ERR_OK) {
    const char *payload = in->payload_sha256_hex
                              ? in->payload_sha256_hex
                              : tw_auth_header(in->headers, in->nheaders, "x-amz-content-sha256");
    if (!payload || !*payload) {
      info->fault = TW_SIGV4_FAULT_NO_CONTENT_SHA;
      tw_auth_setmsg(errmsg, errmsg_len,
                     "Missing required header for this request: x-amz-content-sha256");
      rc = TW_ERR_INCOMPLETE_SIGNATURE;
    } else {
      sig_parts parts = {
          in, q, NULL, shl, payload, info->amz_date, info->date, info->region, info->service};
      char given[65];
      copy_field(given, sizeof given, sigv, sig_len < 64 ? sig_len : 64);
      if (sig_len != 64) given[0] = '\0'; /* never equal */
      rc = finish(&parts, given, lookup, ud, info, errmsg, errmsg_len);
    }
  }
  if (shl != shl_local) free(shl);
  return rc;
}

static tw_err query_params_error(tw_sigv4_info *info, char *errmsg, size_t errmsg_len,
                                 const char *msg) {
  info->fault = TW_SIGV4_FAULT_QUERY_PARAMS;
  tw_auth_setmsg(errmsg, errmsg_len, "%s", msg);
  return TW_ERR_ACCESS_DENIED;
}

static tw_err verify_query(const tw_sigv4_input *in, const qlist *q, tw_secret_lookup lookup,
                           void *ud, time_t now, tw_sigv4_info *info, char *errmsg,
                           size_t errmsg_len) {
  info->presigned = 1;
  const char *alg = qlist_get(q, "X-Amz-Algorithm");
  const char *cred = qlist_get(q, "X-Amz-Credential");
  const char *xdate = qlist_get(q, "X-Amz-Date");
  const char *expires = qlist_get(q, "X-Amz-Expires");
  const char *signed_h = qlist_get(q, "X-Amz-SignedHeaders");
  const char *sigv = qlist_get(q, "X-Amz-Signature");
  if (!alg || !cred || !xdate || !expires || !signed_h || !sigv)
    return query_params_error(
        info, errmsg, errmsg_len,
        "Query-string authentication version 4 requires the X-Amz-Algorithm, "
        "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
        "X-Amz-Expires parameters.");
  if (strlen(sigv) < sizeof info->signature)
    copy_field(info->signature, sizeof info->signature, sigv, strlen(sigv));
  if (strcmp(alg, ALGORITHM) != 0)
    return query_params_error(info, errmsg, errmsg_len,
                              "X-Amz-Algorithm only supports \"" ALGORITHM "\"");
  credential c;
  if (parse_credential(cred, strlen(cred), &c) || credential_to_info(&c, info))
    return query_params_error(
        info, errmsg, errmsg_len,
        "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
        "expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".");
  time_t t;
  if (tw_sigv4_parse_amz_date(xdate, &t))
    return query_params_error(
        info, errmsg, errmsg_len,
        "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  memcpy(info->amz_date, xdate, 17);

  /* X-Amz-Expires: a number, not negative, at most a week. */
  const char *e = expires;
  int neg = *e == '-';
  if (neg || *e == '+') e++;
  long ex = 0;
  int ok = *e != '\0';
  for (; *e && ok; e++) {
    if (*e < '0' || *e > '9')
      ok = 0;
    else if (ex <= MAX_EXPIRES)
      ex = ex * 10 + (*e - '0'); /* stops growing past the limit */
  }
  if (!ok) return query_params_error(info, errmsg, errmsg_len, "X-Amz-Expires should be a number");
  if (neg && ex > 0)
    return query_params_error(info, errmsg, errmsg_len, "X-Amz-Expires must be non-negative");
  if (ex > MAX_EXPIRES)
    return query_params_error(
        info, errmsg, errmsg_len,
        "X-Amz-Expires must be less than a week (in seconds); that is, the given "
        "X-Amz-Expires must be less than 604800 seconds");
  info->expires = ex;

  if (in->s3 && in->region &&
      !(c.region_len == strlen(in->region) && memcmp(c.region, in->region, c.region_len) == 0))
    return check_scope(in, &c, xdate, 1, info, errmsg, errmsg_len);

  if (now > t + ex) {
    info->fault = TW_SIGV4_FAULT_EXPIRED;
    tw_auth_setmsg(errmsg, errmsg_len, "Request has expired");
    return TW_ERR_ACCESS_DENIED;
  }
  if (t > now + SKEW_SECONDS) {
    info->fault = TW_SIGV4_FAULT_NOT_YET_VALID;
    tw_auth_setmsg(errmsg, errmsg_len, "Request is not yet valid");
    return TW_ERR_ACCESS_DENIED;
  }
  if (!signed_has_host(signed_h)) {
    info->fault = TW_SIGV4_FAULT_QUERY_PARAMS;
    tw_auth_setmsg(errmsg, errmsg_len, "'Host' must be a 'SignedHeader' in the AWS Authorization.");
    return TW_ERR_SIGNATURE_MISMATCH;
  }
  tw_err rc = check_scope(in, &c, xdate, 1, info, errmsg, errmsg_len);
  if (rc != TW_ERR_OK) return rc;

  /* S3 signs no payload in presigned URLs unless the URL names a hash. */
  const char *payload;
  if (in->s3) {
    payload = qlist_get_ci(q, "X-Amz-Content-Sha256");
    if (!payload) payload = UNSIGNED_PAYLOAD;
  } else {
    payload = in->payload_sha256_hex
                  ? in->payload_sha256_hex
                  : tw_auth_header(in->headers, in->nheaders, "x-amz-content-sha256");
    if (!payload) payload = EMPTY_SHA256;
  }
  sig_parts parts = {in,    q,          "X-Amz-Signature", signed_h,     payload,
                     xdate, info->date, info->region,      info->service};
  return finish(&parts, sigv, lookup, ud, info, errmsg, errmsg_len);
}

tw_err tw_sigv4_verify(const tw_sigv4_input *in, tw_secret_lookup lookup, void *ud, time_t now,
                       tw_sigv4_info *info, char *errmsg, size_t errmsg_len) {
  memset(info, 0, sizeof *info);
  if (errmsg && errmsg_len) errmsg[0] = '\0';
  if (!in || !in->method) return TW_ERR_INTERNAL;

  const char *auth = tw_auth_header(in->headers, in->nheaders, "authorization");
  if (auth) {
    while (is_ws((unsigned char)*auth)) auth++;
    /* Anything but AWS4-* is treated as no credentials at all, as AWS does. */
    if (strncmp(auth, "AWS4-", 5) != 0) auth = NULL;
  }
  qlist q;
  if (tw_sigv4_qlist_parse(&q, in->raw_query)) return TW_ERR_INTERNAL;
  tw_err rc;
  if (auth)
    rc = verify_header(in, auth, &q, lookup, ud, now, info, errmsg, errmsg_len);
  else if (qlist_get(&q, "X-Amz-Algorithm"))
    rc = verify_query(in, &q, lookup, ud, now, info, errmsg, errmsg_len);
  else
    rc = TW_ERR_MISSING_AUTH;
  tw_sigv4_qlist_free(&q);
  if (rc != TW_ERR_OK) memset(info->signing_key, 0, sizeof info->signing_key);
  return rc;
}

void tw_sigv4_s3_path(tw_buf *b, const char *bucket, const char *key) {
  static const char hex[] = "0123456789ABCDEF";
  tw_buf_putc(b, '/');
  tw_buf_puts(b, bucket);
  tw_buf_putc(b, '/');
  for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
    if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' || *p == '/') {
      tw_buf_putc(b, (char)*p);
    } else {
      char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
      tw_buf_append(b, e, 3);
    }
  }
}
