/* AWS Signature Version 2 for S3, matched against what botocore's HmacV1Auth
 * and HmacV1QueryAuth sign (boto3 and aws-cli v1 are the clients that still
 * use it), and the AWS SDK for JavaScript v2's S3 signer.
 *
 * The string to sign is rebuilt from the request as sent: the path exactly as
 * on the wire, sub-resources from the query with their values percent-decoded
 * (botocore unquotes them), x-amz-* headers lower-cased, sorted, values trimmed
 * and repeated names joined by ','. For presigned URLs botocore moves x-amz-*,
 * Content-Type and Content-MD5 into the query string, so there they count as
 * headers too, except that checksum parameters a client appended after
 * signing (the JS SDK adds x-amz-checksum-* and x-amz-sdk-checksum-algorithm
 * to presigned PUT URLs) are tolerated: S3 ignores them. */
#include "auth/sigv2.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth_text.h"

#include "core/crypto.h"

#define SKEW_SECONDS (15 * 60)
/* A string to sign larger than this cannot come from a sane request. */
#define STS_CAP (256 * 1024)

/* ---------- small helpers ---------- */

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* %XX decoding only: '+' stays '+' (botocore encodes spaces as %20, and a
 * base64 signature keeps its '+'). out may be in; returns the new length. */
/* A NUL-terminated, %-decoded copy; NULL only when out of memory. */
static char *decoded_copy(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (!s) return NULL;
  s[tw_auth_pct_decode(p, n, s, 0)] = '\0';
  return s;
}

/* A NUL-terminated copy without surrounding blanks. */
static char *trimmed_copy(const char *p, size_t n) {
  while (n && (*p == ' ' || *p == '\t')) p++, n--;
  while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n')) n--;
  char *s = malloc(n + 1);
  if (!s) return NULL;
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

/* ---------- HMAC-SHA1 ---------- */

static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha1;

static void sha1_fetch(void) {
  md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
}

static void hmac_sha1(const char *secret, const char *data, size_t len, uint8_t out[20]) {
  pthread_once(&sha1_once, sha1_fetch);
  unsigned int n = 0;
  if (!md_sha1 ||
      !HMAC(md_sha1, secret, (int)strlen(secret), (const unsigned char *)data, len, out, &n) ||
      n != 20)
    abort(); /* no SHA-1 in libcrypto: nothing could be verified */
}

void tw_sigv2_sign_string(const char *secret, const char *sts, size_t len, char out[29]) {
  uint8_t mac[20];
  hmac_sha1(secret, sts, len, mac);
  tw_base64_encode(mac, 20, out);
  OPENSSL_cleanse(mac, sizeof mac);
}

/* ---------- the query ---------- */

typedef struct {
  const char *name, *value; /* raw, as sent */
  size_t name_len, value_len;
  int has_eq; /* "name=" (possibly empty value) rather than "name" */
} qparam;

static size_t query_parse(const char *raw, qparam **out) {
  *out = NULL;
  if (!raw || !*raw) return 0;
  size_t cap = 1;
  for (const char *p = raw; *p; p++) cap += *p == '&';
  qparam *v = calloc(cap, sizeof *v);
  if (!v) return (size_t)-1;
  size_t n = 0;
  const char *p = raw;
  while (*p) {
    const char *e = strchr(p, '&');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len) {
      const char *eq = memchr(p, '=', len);
      qparam *q = &v[n++];
      q->name = p;
      q->name_len = eq ? (size_t)(eq - p) : len;
      q->has_eq = eq != NULL;
      q->value = eq ? eq + 1 : p + len;
      q->value_len = eq ? len - q->name_len - 1 : 0;
    }
    p += len;
    if (*p == '&') p++;
  }
  *out = v;
  return n;
}

static const qparam *query_get(const qparam *q, size_t n, const char *name) {
  size_t len = strlen(name);
  for (size_t i = 0; i < n; i++)
    if (q[i].name_len == len && memcmp(q[i].name, name, len) == 0) return &q[i];
  return NULL;
}

/* ---------- sub-resources ---------- */

/* The AWS documentation's list plus what the AWS SDK for JavaScript v2 adds
 * (restore, tagging, cors, delete) and the response-* overrides. */
static const char *const SUBRES_CORE[] = {"acl",
                                          "cors",
                                          "delete",
                                          "lifecycle",
                                          "location",
                                          "logging",
                                          "notification",
                                          "partNumber",
                                          "policy",
                                          "requestPayment",
                                          "restore",
                                          "tagging",
                                          "torrent",
                                          "uploadId",
                                          "uploads",
                                          "versionId",
                                          "versioning",
                                          "versions",
                                          "website",
                                          "response-cache-control",
                                          "response-content-disposition",
                                          "response-content-encoding",
                                          "response-content-language",
                                          "response-content-type",
                                          "response-expires",
                                          NULL};
/* What botocore's HmacV1Auth.QSAOfInterest adds to those. */
static const char *const SUBRES_BOTOCORE[] = {
    "accelerate",  "analytics", "defaultObjectAcl", "inventory",    "metrics", "object-lock",
    "replication", "select",    "select-type",      "storageClass", NULL};

static int in_list(const char *const *list, const char *p, size_t n) {
  for (; *list; list++)
    if (strlen(*list) == n && memcmp(*list, p, n) == 0) return 1;
  return 0;
}

static int is_subres(const char *p, size_t n, int core_only) {
  return in_list(SUBRES_CORE, p, n) || (!core_only && in_list(SUBRES_BOTOCORE, p, n));
}

static int is_response_override(const char *p, size_t n) {
  return n > 9 && memcmp(p, "response-", 9) == 0;
}

/* The query part of the request URIs in botocore's S3 model. botocore 1.28.0
 * to 1.31.1 (endpoint rulesets; Debian 12 ships 1.29) signed SigV2 requests
 * with the model's request URI as the resource, that query part included
 * ("/bkt?list-type=2", "/bkt?delete?delete" once the sub-resource is appended
 * again); 1.31.2 stripped it (boto/botocore#2971). */
static const char *const MODEL_QUERIES[] = {"list-type=2",
                                            "select&select-type=2",
                                            "accelerate",
                                            "acl",
                                            "analytics",
                                            "attributes",
                                            "cors",
                                            "delete",
                                            "encryption",
                                            "intelligent-tiering",
                                            "inventory",
                                            "legal-hold",
                                            "lifecycle",
                                            "location",
                                            "logging",
                                            "metrics",
                                            "notification",
                                            "object-lock",
                                            "ownershipControls",
                                            "policy",
                                            "policyStatus",
                                            "publicAccessBlock",
                                            "replication",
                                            "requestPayment",
                                            "restore",
                                            "retention",
                                            "tagging",
                                            "torrent",
                                            "uploads",
                                            "versioning",
                                            "versions",
                                            "website",
                                            NULL};

/* The model query the raw query starts with (botocore puts it first), or NULL. */
static const char *model_query(const char *raw) {
  if (!raw) return NULL;
  for (const char *const *m = MODEL_QUERIES; *m; m++) {
    size_t n = strlen(*m);
    if (!strncmp(raw, *m, n) && (raw[n] == '\0' || raw[n] == '&')) return *m;
  }
  return NULL;
}

/* Checksum parameters (lower-case name): what the JS SDK appends to a
 * presigned URL after signing it. */
static int is_checksum_param(const char *name) {
  return !strncmp(name, "x-amz-checksum-", 15) || !strcmp(name, "x-amz-sdk-checksum-algorithm");
}

/* ---------- the request, gathered once ---------- */

typedef struct {
  char *name;     /* lower-case */
  char *value;    /* trimmed (headers) or decoded (query) */
  int from_query; /* query auth: a parameter, not a header */
} amz_kv;

typedef struct {
  const tw_sigv2_input *in;
  int query_auth;
  qparam *q;
  size_t nq;
  amz_kv *amz; /* sorted by name, stable */
  size_t namz;
  char *md5, *ctype;       /* "" when absent */
  char *date;              /* Date header, trimmed; NULL when absent */
  char *xdate;             /* x-amz-date header, trimmed; NULL when absent */
  char *expires;           /* query auth: Expires, decoded */
  int has_botocore_subres; /* a sub-resource only botocore's list names */
  int has_encoded_subres;  /* a sub-resource value with %XX in it */
  int bare_bucket;         /* path-style "/bucket" without the trailing '/' */
  int has_checksum_q;      /* query auth: x-amz-checksum-* / x-amz-sdk-checksum-algorithm */
  const char *model_q;     /* the query starts with one of MODEL_QUERIES; NULL if not */
} req;

typedef struct {
  int core_only;     /* JS SDK v2's shorter sub-resource list */
  int raw_values;    /* JS SDK v2: sub-resource values as sent (response-* still decoded) */
  int date_mode;     /* 0: documented rule, 1: Date despite x-amz-date, 2: x-amz-date in the slot */
  int no_slash;      /* "/bucket" signed as sent, not as "/bucket/" */
  int no_checksum_q; /* checksum parameters appended to the URL after signing: left out */
  int model_path;    /* botocore 1.28-1.31.1: model query after the path, no '/' added */
} variant;

static void req_free(req *r) {
  for (size_t i = 0; i < r->namz; i++) {
    free(r->amz[i].name);
    free(r->amz[i].value);
  }
  free(r->amz);
  free(r->q);
  free(r->md5);
  free(r->ctype);
  free(r->date);
  free(r->xdate);
  free(r->expires);
  memset(r, 0, sizeof *r);
}

static int amz_add(req *r, char *name, char *value) {
  if (!name || !value) {
    free(name);
    free(value);
    return -1;
  }
  r->amz[r->namz].name = name;
  r->amz[r->namz].value = value;
  r->namz++;
  return 0;
}

static int amz_has(const req *r, const char *name, const char *value) {
  for (size_t i = 0; i < r->namz; i++)
    if (!strcmp(r->amz[i].name, name) && !strcmp(r->amz[i].value, value)) return 1;
  return 0;
}

/* Insertion sort: stable, so repeated headers keep their order; lists are short. */
static void amz_sort(req *r) {
  for (size_t i = 1; i < r->namz; i++) {
    amz_kv k = r->amz[i];
    size_t j = i;
    while (j > 0 && strcmp(r->amz[j - 1].name, k.name) > 0) {
      r->amz[j] = r->amz[j - 1];
      j--;
    }
    r->amz[j] = k;
  }
}

static char *lower_copy(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (!s) return NULL;
  for (size_t i = 0; i < n; i++) s[i] = (char)lower((unsigned char)p[i]);
  s[n] = '\0';
  return s;
}

static char *opt_trimmed(const char *v) {
  return v ? trimmed_copy(v, strlen(v)) : NULL;
}

/* 0, or -1 when out of memory. */
static int req_gather(req *r, const tw_sigv2_input *in, int query_auth) {
  memset(r, 0, sizeof *r);
  r->in = in;
  r->query_auth = query_auth;
  size_t nq = query_parse(in->raw_query, &r->q);
  if (nq == (size_t)-1) return -1;
  r->nq = nq;
  r->amz = calloc(in->nheaders + nq + 1, sizeof *r->amz);
  if (!r->amz) return -1;

  for (size_t i = 0; i < in->nheaders; i++) {
    const char *n = in->headers[i].name, *v = in->headers[i].value;
    if (!n || strncasecmp(n, "x-amz-", 6) != 0) continue;
    if (amz_add(r, lower_copy(n, strlen(n)), trimmed_copy(v ? v : "", v ? strlen(v) : 0)))
      return -1;
  }
  const char *md5 = tw_auth_header(in->headers, in->nheaders, "content-md5"),
             *ctype = tw_auth_header(in->headers, in->nheaders, "content-type");
  if (query_auth) {
    /* botocore puts x-amz-*, content-type and content-md5 into the URL. */
    for (size_t i = 0; i < nq; i++) {
      const qparam *q = &r->q[i];
      char *name = decoded_copy(q->name, q->name_len);
      if (!name) return -1;
      for (char *c = name; *c; c++) *c = (char)lower((unsigned char)*c);
      char *value = decoded_copy(q->value, q->value_len);
      if (!value) {
        free(name);
        return -1;
      }
      if (!strncmp(name, "x-amz-", 6) && !amz_has(r, name, value)) {
        if (is_checksum_param(name)) r->has_checksum_q = 1;
        if (amz_add(r, name, value)) return -1;
        r->amz[r->namz - 1].from_query = 1;
        continue;
      }
      /* the first one of each counts (a repeated one leaked its predecessor) */
      if (!strcmp(name, "content-type") && !ctype && !r->ctype) {
        r->ctype = value;
        value = NULL;
      } else if (!strcmp(name, "content-md5") && !md5 && !r->md5) {
        r->md5 = value;
        value = NULL;
      }
      free(name);
      free(value);
    }
    const qparam *e = query_get(r->q, nq, "Expires");
    if (e && !(r->expires = decoded_copy(e->value, e->value_len))) return -1;
  } else {
    if (!(r->date = opt_trimmed(tw_auth_header(in->headers, in->nheaders, "date"))) &&
        tw_auth_header(in->headers, in->nheaders, "date"))
      return -1;
    if (!(r->xdate = opt_trimmed(tw_auth_header(in->headers, in->nheaders, "x-amz-date"))) &&
        tw_auth_header(in->headers, in->nheaders, "x-amz-date"))
      return -1;
  }
  if (!r->md5 && !(r->md5 = opt_trimmed(md5 ? md5 : ""))) return -1;
  if (!r->ctype && !(r->ctype = opt_trimmed(ctype ? ctype : ""))) return -1;
  amz_sort(r);

  const char *path = in->raw_path;
  r->bare_bucket = !(in->vhost_bucket && *in->vhost_bucket) && path && path[0] == '/' && path[1] &&
                   !strchr(path + 1, '/');

  r->model_q = model_query(in->raw_query);
  for (size_t i = 0; i < nq; i++) {
    const qparam *q = &r->q[i];
    if (!is_subres(q->name, q->name_len, 0)) continue;
    if (!is_subres(q->name, q->name_len, 1)) r->has_botocore_subres = 1;
    if (!is_response_override(q->name, q->name_len) && memchr(q->value, '%', q->value_len))
      r->has_encoded_subres = 1;
  }
  return 0;
}

/* ---------- the string to sign ---------- */

static void put_decoded(tw_buf *b, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int h, l;
    if (p[i] == '%' && i + 2 < n && (h = tw_auth_hexval((unsigned char)p[i + 1])) >= 0 &&
        (l = tw_auth_hexval((unsigned char)p[i + 2])) >= 0) {
      tw_buf_putc(b, (char)(h << 4 | l));
      i += 2;
    } else {
      tw_buf_putc(b, p[i]);
    }
  }
}

static int build_sts(const req *r, const variant *v, tw_buf *b) {
  const tw_sigv2_input *in = r->in;
  tw_buf_reset(b);
  tw_buf_puts(b, in->method);
  tw_buf_putc(b, '\n');
  tw_buf_puts(b, r->md5);
  tw_buf_putc(b, '\n');
  tw_buf_puts(b, r->ctype);
  tw_buf_putc(b, '\n');
  int skip_xdate = 0;
  if (r->query_auth) {
    tw_buf_puts(b, r->expires ? r->expires : "");
  } else if (r->xdate) {
    if (v->date_mode == 1) {
      tw_buf_puts(b, r->date ? r->date : "");
    } else if (v->date_mode == 2) {
      tw_buf_puts(b, r->xdate);
      skip_xdate = 1;
    }
  } else {
    tw_buf_puts(b, r->date ? r->date : "");
  }
  tw_buf_putc(b, '\n');

  const char *last = NULL; /* name of the line written last */
  for (size_t i = 0; i < r->namz; i++) {
    const amz_kv *h = &r->amz[i];
    if (skip_xdate && !strcmp(h->name, "x-amz-date")) continue;
    if (v->no_checksum_q && h->from_query && is_checksum_param(h->name)) continue;
    if (last && !strcmp(last, h->name)) {
      /* Same name as the line just written: join the values. */
      b->len--; /* the '\n' */
      tw_buf_putc(b, ',');
    } else {
      tw_buf_puts(b, h->name);
      tw_buf_putc(b, ':');
      last = h->name;
    }
    tw_buf_puts(b, h->value);
    tw_buf_putc(b, '\n');
  }

  int vhost = in->vhost_bucket && *in->vhost_bucket;
  if (vhost) {
    tw_buf_putc(b, '/');
    tw_buf_puts(b, in->vhost_bucket);
  }
  const char *path = in->raw_path && *in->raw_path ? in->raw_path : "/";
  if (v->model_path && r->model_q) {
    /* "/{Bucket}?list-type=2", "/{Bucket}/{Key+}?tagging" rendered. */
    if (!(vhost && !strcmp(path, "/"))) tw_buf_puts(b, path);
    tw_buf_putc(b, '?');
    tw_buf_puts(b, r->model_q);
  } else {
    tw_buf_puts(b, path);
    /* S3 names a bucket "/bucket/" whether or not the path ends in '/';
     * botocore signs it so (its auth_path). */
    if (r->bare_bucket && !v->no_slash) tw_buf_putc(b, '/');
  }

  /* Sub-resources sorted by name, stable (botocore sorts by name only). */
  size_t idx_local[32], *idx = idx_local, n = 0;
  if (r->nq > 32 && !(idx = malloc(r->nq * sizeof *idx))) return -1;
  for (size_t i = 0; i < r->nq; i++) {
    const qparam *q = &r->q[i];
    if (!is_subres(q->name, q->name_len, v->core_only)) continue;
    size_t j = n++;
    while (j > 0) {
      const qparam *p = &r->q[idx[j - 1]];
      size_t m = p->name_len < q->name_len ? p->name_len : q->name_len;
      int c = memcmp(p->name, q->name, m);
      if (c < 0 || (c == 0 && p->name_len <= q->name_len)) break;
      idx[j] = idx[j - 1];
      j--;
    }
    idx[j] = i;
  }
  for (size_t k = 0; k < n; k++) {
    const qparam *q = &r->q[idx[k]];
    tw_buf_putc(b, k ? '&' : '?');
    tw_buf_append(b, q->name, q->name_len);
    if (!q->has_eq) continue;
    tw_buf_putc(b, '=');
    if (v->raw_values && !is_response_override(q->name, q->name_len))
      tw_buf_append(b, q->value, q->value_len);
    else
      put_decoded(b, q->value, q->value_len);
  }
  if (idx != idx_local) free(idx);
  return b->overflow ? -1 : 0;
}

int tw_sigv2_string_to_sign(const tw_sigv2_input *in, tw_buf *out) {
  req r;
  int rc = -1;
  if (!in || !in->method) return -1;
  if (req_gather(&r, in, tw_sigv2_detect(in) == TW_SIGV2_QUERY) == 0) {
    variant v = {0, 0, 0, 0, 0, 0};
    rc = build_sts(&r, &v, out);
  }
  req_free(&r);
  return rc;
}

/* ---------- dates ---------- */

static int num(const char **p, int min_digits, int max_digits, int *out) {
  int v = 0, d = 0;
  while (d < max_digits && **p >= '0' && **p <= '9') {
    v = v * 10 + (**p - '0');
    (*p)++;
    d++;
  }
  if (d < min_digits) return -1;
  *out = v;
  return 0;
}

static int skip(const char **p, char c) {
  if (**p != c) return -1;
  (*p)++;
  return 0;
}

/* RFC 1123 ("Tue, 27 Mar 2007 19:36:42 +0000" / "... GMT"), the same without
 * the weekday, or ISO 8601 basic ("20070327T193642Z"). */
static int parse_date(const char *s, time_t *out) {
  struct tm tm = {0};
  const char *p = s;
  int y, mo = -1, d, h, mi, sec, off = 0;
  if (strlen(s) == 16 && s[8] == 'T' && s[15] == 'Z') {
    if (num(&p, 4, 4, &y) || num(&p, 2, 2, &mo) || num(&p, 2, 2, &d) || skip(&p, 'T') ||
        num(&p, 2, 2, &h) || num(&p, 2, 2, &mi) || num(&p, 2, 2, &sec))
      return -1;
    mo -= 1;
  } else {
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *comma = strchr(p, ',');
    if (comma) p = comma + 1;
    while (*p == ' ') p++;
    if (num(&p, 1, 2, &d) || skip(&p, ' ')) return -1;
    for (int i = 0; i < 12; i++)
      if (strncasecmp(p, months + 3 * i, 3) == 0) mo = i;
    if (mo < 0) return -1;
    p += 3;
    if (skip(&p, ' ') || num(&p, 4, 4, &y) || skip(&p, ' ') || num(&p, 2, 2, &h) || skip(&p, ':') ||
        num(&p, 2, 2, &mi) || skip(&p, ':') || num(&p, 2, 2, &sec))
      return -1;
    while (*p == ' ') p++;
    if (*p == '+' || *p == '-') {
      int sign = *p == '-' ? -1 : 1, hhmm;
      p++;
      if (num(&p, 4, 4, &hhmm)) return -1;
      off = sign * ((hhmm / 100) * 3600 + (hhmm % 100) * 60);
    } else if (*p && strcmp(p, "GMT") && strcmp(p, "UTC") && strcmp(p, "UT") && strcmp(p, "Z")) {
      return -1;
    }
  }
  if (mo < 0 || mo > 11 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return -1;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  time_t t = timegm(&tm);
  if (t == (time_t)-1) return -1;
  *out = t - off;
  return 0;
}

/* ---------- verification ---------- */

tw_sigv2_kind tw_sigv2_detect(const tw_sigv2_input *in) {
  const char *auth = tw_auth_header(in->headers, in->nheaders, "authorization");
  if (auth) {
    while (*auth == ' ' || *auth == '\t') auth++;
    if (strncmp(auth, "AWS ", 4) == 0) return TW_SIGV2_HEADER;
  }
  const char *q = in->raw_query;
  if (!q) return TW_SIGV2_NONE;
  /* Parameter names at the start of a field only. */
  for (const char *p = q; *p;) {
    if (!strncmp(p, "AWSAccessKeyId=", 15) || !strncmp(p, "Signature=", 10)) return TW_SIGV2_QUERY;
    const char *e = strchr(p, '&');
    if (!e) break;
    p = e + 1;
  }
  return TW_SIGV2_NONE;
}

/* Looks the key up and compares the signature, trying the variants that differ
 * for this request only after the canonical one failed. */
static tw_err check_signature(const req *r, const char *given, tw_secret_lookup lookup, void *ud,
                              tw_sigv2_info *info, char *errmsg, size_t errlen) {
  const char *secret = lookup ? lookup(ud, info->access_key) : NULL;
  if (!secret) {
    info->fault = TW_SIGV2_FAULT_UNKNOWN_KEY;
    tw_auth_setmsg(errmsg, errlen,
                   "The AWS Access Key Id you provided does not exist in our records.");
    return TW_ERR_S3_INVALID_ACCESS_KEY;
  }
  uint8_t want[3 * (128 / 4) + 3];
  size_t glen = strlen(given);
  long wn = glen <= 128 ? tw_base64_decode(given, glen, want) : -1;

  tw_buf sts;
  tw_buf_init(&sts, STS_CAP);
  tw_err rc = TW_ERR_SIGNATURE_MISMATCH;
  if (wn != 20) goto done; /* not an HMAC-SHA1 in base64: nothing to compute */
  int date_modes = !r->query_auth && r->xdate ? 3 : 1;
  /* model: botocore 1.28-1.31.1's resource, tried with botocore's own rules only. */
  for (int model = 0; model <= (r->model_q != NULL) && rc != TW_ERR_OK; model++)
    for (int ck = 0; ck <= r->has_checksum_q && rc != TW_ERR_OK; ck++)
      for (int slash = 0; slash <= (r->bare_bucket && !model) && rc != TW_ERR_OK; slash++)
        for (int core = 0; core <= (r->has_botocore_subres && !model) && rc != TW_ERR_OK; core++)
          for (int raw = 0; raw <= (r->has_encoded_subres && !model) && rc != TW_ERR_OK; raw++)
            for (int dm = 0; dm < date_modes && rc != TW_ERR_OK; dm++) {
              if (dm == 1 && !r->date) continue;
              variant v = {core, raw, dm, slash, ck, model};
              if (build_sts(r, &v, &sts)) {
                rc = TW_ERR_SIGNATURE_MISMATCH; /* too large to be genuine */
                goto done;
              }
              uint8_t mac[20];
              hmac_sha1(secret, sts.data, sts.len, mac);
              if (CRYPTO_memcmp(mac, want, 20) == 0) rc = TW_ERR_OK;
            }
done:
  tw_buf_free(&sts);
  if (rc != TW_ERR_OK) {
    info->fault = TW_SIGV2_FAULT_SIGNATURE;
    tw_auth_setmsg(errmsg, errlen,
                   "The request signature we calculated does not match the signature you provided. "
                   "Check your key and signing method.");
  }
  return rc;
}

static tw_err verify_header(const tw_sigv2_input *in, const char *auth, tw_secret_lookup lookup,
                            void *ud, time_t now, tw_sigv2_info *info, char *errmsg,
                            size_t errlen) {
  /* "AWS AKID:signature" */
  const char *p = auth + 4;
  while (*p == ' ') p++;
  const char *colon = strchr(p, ':');
  const char *sig = colon ? colon + 1 : NULL;
  size_t aklen = colon ? (size_t)(colon - p) : 0;
  size_t siglen = sig ? strlen(sig) : 0;
  while (siglen && (sig[siglen - 1] == ' ' || sig[siglen - 1] == '\t')) siglen--;
  if (!colon || aklen == 0 || aklen >= sizeof info->access_key || siglen == 0 ||
      siglen >= sizeof info->signature || memchr(p, ' ', aklen)) {
    info->fault = TW_SIGV2_FAULT_MALFORMED;
    tw_auth_setmsg(errmsg, errlen,
                   "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature");
    return TW_ERR_S3_INVALID_ARGUMENT;
  }
  memcpy(info->access_key, p, aklen);
  memcpy(info->signature, sig, siglen);

  req r;
  if (req_gather(&r, in, 0)) {
    req_free(&r);
    return TW_ERR_INTERNAL;
  }
  tw_err rc;
  time_t t;
  const char *when = r.xdate ? r.xdate : r.date;
  if (!when || parse_date(when, &t)) {
    info->fault = TW_SIGV2_FAULT_NO_DATE;
    tw_auth_setmsg(errmsg, errlen, "AWS authentication requires a valid Date or x-amz-date header");
    rc = TW_ERR_ACCESS_DENIED;
  } else if ((info->request_time = t) > now + SKEW_SECONDS || t < now - SKEW_SECONDS) {
    info->fault = TW_SIGV2_FAULT_SKEWED;
    tw_auth_setmsg(errmsg, errlen,
                   "The difference between the request time and the current time is too large.");
    rc = TW_ERR_S3_TIME_SKEWED;
  } else {
    rc = check_signature(&r, info->signature, lookup, ud, info, errmsg, errlen);
  }
  req_free(&r);
  return rc;
}

static tw_err verify_query(const tw_sigv2_input *in, tw_secret_lookup lookup, void *ud, time_t now,
                           tw_sigv2_info *info, char *errmsg, size_t errlen) {
  info->presigned = 1;
  req r;
  if (req_gather(&r, in, 1)) {
    req_free(&r);
    return TW_ERR_INTERNAL;
  }
  tw_err rc = TW_ERR_ACCESS_DENIED;
  const qparam *ak = query_get(r.q, r.nq, "AWSAccessKeyId");
  const qparam *sig = query_get(r.q, r.nq, "Signature");
  char *akv = ak ? decoded_copy(ak->value, ak->value_len) : NULL;
  char *sigv = sig ? decoded_copy(sig->value, sig->value_len) : NULL;
  if ((ak && !akv) || (sig && !sigv)) {
    rc = TW_ERR_INTERNAL;
    goto out;
  }
  if (!akv || !*akv || !sigv || !*sigv || !r.expires) {
    info->fault = TW_SIGV2_FAULT_QUERY_PARAMS;
    tw_auth_setmsg(errmsg, errlen,
                   "Query-string authentication requires the Signature, Expires and AWSAccessKeyId "
                   "parameters");
    goto out;
  }
  /* A literal '+' may have become a space on the way; base64 has no spaces. */
  for (char *c = sigv; *c; c++)
    if (*c == ' ') *c = '+';
  snprintf(info->access_key, sizeof info->access_key, "%s", akv);
  snprintf(info->signature, sizeof info->signature, "%s", sigv);

  long long ex = 0;
  const char *e = r.expires;
  int ok = *e != '\0';
  for (; *e && ok; e++) {
    if (*e < '0' || *e > '9')
      ok = 0;
    else if (ex < 1000000000000000LL)
      ex = ex * 10 + (*e - '0'); /* stops growing far past any real date */
  }
  if (!ok) {
    info->fault = TW_SIGV2_FAULT_QUERY_PARAMS;
    tw_auth_setmsg(errmsg, errlen, "Invalid date (should be seconds since epoch): %s", r.expires);
    goto out;
  }
  info->expires = ex;
  if ((long long)now > ex) {
    info->fault = TW_SIGV2_FAULT_EXPIRED;
    tw_auth_setmsg(errmsg, errlen, "Request has expired");
    goto out;
  }
  if (strlen(akv) >= sizeof info->access_key) {
    info->fault = TW_SIGV2_FAULT_UNKNOWN_KEY;
    tw_auth_setmsg(errmsg, errlen,
                   "The AWS Access Key Id you provided does not exist in our records.");
    rc = TW_ERR_S3_INVALID_ACCESS_KEY;
    goto out;
  }
  rc = check_signature(&r, sigv, lookup, ud, info, errmsg, errlen);
out:
  free(akv);
  free(sigv);
  req_free(&r);
  return rc;
}

tw_err tw_sigv2_verify(const tw_sigv2_input *in, tw_secret_lookup lookup, void *ud, time_t now,
                       tw_sigv2_info *info, char *errmsg, size_t errlen) {
  memset(info, 0, sizeof *info);
  if (errmsg && errlen) errmsg[0] = '\0';
  if (!in || !in->method) return TW_ERR_INTERNAL;
  const char *auth = tw_auth_header(in->headers, in->nheaders, "authorization");
  if (auth) {
    while (*auth == ' ' || *auth == '\t') auth++;
    if (strncmp(auth, "AWS ", 4) != 0) auth = NULL;
  }
  tw_sigv2_input q_only = *in;
  q_only.headers = NULL;
  q_only.nheaders = 0;
  int has_query = tw_sigv2_detect(&q_only) == TW_SIGV2_QUERY;
  if (auth && has_query) {
    info->fault = TW_SIGV2_FAULT_BOTH;
    tw_auth_setmsg(
        errmsg, errlen,
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
        "Signature query string parameter or the Authorization header should be specified");
    return TW_ERR_S3_INVALID_ARGUMENT;
  }
  if (auth) return verify_header(in, auth, lookup, ud, now, info, errmsg, errlen);
  if (has_query) return verify_query(in, lookup, ud, now, info, errmsg, errlen);
  return TW_ERR_MISSING_AUTH;
}
