/* AWS Signature Version 4.
 *
 * The canonical request is never built as a string on the success path: it is
 * streamed into SHA-256 through a small staging buffer. Only when a signature
 * differs is it built again as text, for the error message. Query parameters
 * are decoded and re-encoded once into stack memory (heap only for very long
 * queries), and derived signing keys are cached per thread, so a verification
 * costs two SHA-256 passes, one HMAC and no locks.
 *
 * Error codes and messages follow what AWS's front end (SQS and the other
 * "Coral" services) returns, in the order it checks; S3-specific wording is
 * used when in->s3 where S3's differs. */
#include "auth/sigv4.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_text.h"
#include "core/buf.h"
#include "core/crypto.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define TERMINATOR "aws4_request"
#define SKEW_SECONDS (15 * 60)
#define MAX_EXPIRES 604800L
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
/* Debug text for a failed signature is skipped when it would be larger. */
#define DEBUG_TEXT_CAP (64 * 1024)

/* ---------- small string helpers ---------- */

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int is_ws(int c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

static const char HEX_UPPER[] = "0123456789ABCDEF";

/* RFC 3986 encoding as SigV4 wants it: unreserved kept, all else %XX. */
static size_t uri_encode(const char *in, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)in[i];
    if (unreserved(c)) {
      out[o++] = (char)c;
    } else {
      out[o++] = '%';
      out[o++] = HEX_UPPER[c >> 4];
      out[o++] = HEX_UPPER[c & 15];
    }
  }
  return o;
}

/* Percent-decoding; a '%' not followed by two hex digits stays literal.
 * plus: '+' means space (query strings, as form decoding and S3 do). */
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

/* ---------- dates ---------- */

static void put_num(char *out, int v, int width) {
  for (int i = width - 1; i >= 0; i--, v /= 10) out[i] = (char)('0' + v % 10);
}

void tw_sigv4_amz_date(time_t t, char out[17]) {
  struct tm tm;
  gmtime_r(&t, &tm);
  put_num(out, (tm.tm_year + 1900) % 10000, 4);
  put_num(out + 4, tm.tm_mon + 1, 2);
  put_num(out + 6, tm.tm_mday, 2);
  out[8] = 'T';
  put_num(out + 9, tm.tm_hour, 2);
  put_num(out + 11, tm.tm_min, 2);
  put_num(out + 13, tm.tm_sec, 2);
  out[15] = 'Z';
  out[16] = '\0';
}

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

/* Builds a time from fields and rejects out-of-range ones (timegm would
 * silently normalise "20150231"). */
static int make_time(int y, int mo, int d, int h, int mi, int s, time_t *out) {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return -1;
  struct tm tm = {0};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  time_t t = timegm(&tm);
  if (t == (time_t)-1) return -1;
  struct tm back;
  gmtime_r(&t, &back);
  if (back.tm_mday != d || back.tm_mon != mo - 1) return -1;
  *out = t;
  return 0;
}

/* YYYYMMDDTHHMMSSZ */
static int parse_amz_date(const char *s, time_t *out) {
  int y, mo, d, h, mi, sec;
  if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z') return -1;
  if (digits(s, 4, &y) || digits(s + 4, 2, &mo) || digits(s + 6, 2, &d) || digits(s + 9, 2, &h) ||
      digits(s + 11, 2, &mi) || digits(s + 13, 2, &sec))
    return -1;
  return make_time(y, mo, d, h, mi, sec, out);
}

/* RFC 1123, the Date header's format: "Sun, 06 Nov 1994 08:49:37 GMT". */
static int parse_http_date(const char *s, time_t *out) {
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  const char *p = strchr(s, ',');
  if (!p) return -1;
  p++;
  while (*p == ' ') p++;
  int d, y, h, mi, sec, mo = -1;
  if (strlen(p) != 24 || p[2] != ' ' || p[6] != ' ' || p[11] != ' ' || p[14] != ':' ||
      p[17] != ':' || p[20] != ' ' || strcmp(p + 21, "GMT") != 0)
    return -1;
  for (int i = 0; i < 12; i++)
    if (memcmp(p + 3, months + 3 * i, 3) == 0) mo = i + 1;
  if (mo < 0 || digits(p, 2, &d) || digits(p + 7, 4, &y) || digits(p + 12, 2, &h) ||
      digits(p + 15, 2, &mi) || digits(p + 18, 2, &sec))
    return -1;
  return make_time(y, mo, d, h, mi, sec, out);
}

/* ---------- headers ---------- */

/* ---------- query parameters ---------- */

typedef struct {
  const char *name, *value;   /* decoded, NUL-terminated */
  const char *ename, *evalue; /* canonical (re-encoded), NUL-terminated */
  size_t name_len, value_len, ename_len, evalue_len;
} qparam;

typedef struct {
  qparam *v;
  size_t n;
  char *mem;
  qparam local_v[16];
  char local_mem[2048];
} qlist;

static int qparam_cmp(const void *a, const void *b) {
  const qparam *x = a, *y = b;
  size_t n = x->ename_len < y->ename_len ? x->ename_len : y->ename_len;
  int c = memcmp(x->ename, y->ename, n);
  if (c) return c;
  if (x->ename_len != y->ename_len) return x->ename_len < y->ename_len ? -1 : 1;
  n = x->evalue_len < y->evalue_len ? x->evalue_len : y->evalue_len;
  c = memcmp(x->evalue, y->evalue, n);
  if (c) return c;
  if (x->evalue_len != y->evalue_len) return x->evalue_len < y->evalue_len ? -1 : 1;
  return 0;
}

static void qlist_free(qlist *q) {
  if (q->v != q->local_v) free(q->v);
  if (q->mem != q->local_mem) free(q->mem);
  q->v = NULL;
  q->mem = NULL;
}

/* Splits on '&', decodes each name and value (a piece without '=' has an empty
 * value), re-encodes both canonically and sorts by encoded name, then value. */
static int qlist_parse(qlist *q, const char *raw) {
  size_t len = raw ? strlen(raw) : 0, count = 1;
  for (size_t i = 0; i < len; i++)
    if (raw[i] == '&') count++;
  /* decoded <= raw, encoded <= 3 * decoded, 4 NULs per parameter */
  size_t need = 4 * len + 4 * count + 8;
  q->n = 0;
  q->v =
      count <= sizeof q->local_v / sizeof q->local_v[0] ? q->local_v : malloc(count * sizeof *q->v);
  q->mem = need <= sizeof q->local_mem ? q->local_mem : malloc(need);
  if (!q->v || !q->mem) {
    qlist_free(q);
    return -1;
  }
  char *m = q->mem;
  const char *p = raw, *end = raw + len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *pe = amp ? amp : end;
    if (pe > p) {
      const char *eq = memchr(p, '=', (size_t)(pe - p));
      const char *ne = eq ? eq : pe;
      qparam *qp = &q->v[q->n++];
      qp->name = m;
      qp->name_len = tw_auth_pct_decode(p, (size_t)(ne - p), m, 1);
      m += qp->name_len;
      *m++ = '\0';
      qp->value = m;
      qp->value_len = eq ? tw_auth_pct_decode(eq + 1, (size_t)(pe - eq - 1), m, 1) : 0;
      m += qp->value_len;
      *m++ = '\0';
      qp->ename = m;
      qp->ename_len = uri_encode(qp->name, qp->name_len, m);
      m += qp->ename_len;
      *m++ = '\0';
      qp->evalue = m;
      qp->evalue_len = uri_encode(qp->value, qp->value_len, m);
      m += qp->evalue_len;
      *m++ = '\0';
    }
    p = pe + 1;
  }
  qsort(q->v, q->n, sizeof *q->v, qparam_cmp);
  return 0;
}

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

/* ---------- the sink: SHA-256 and/or text ---------- */

typedef struct {
  tw_hash *hash;
  tw_buf *text;
  size_t n;
  char stage[512];
} sink;

static void sink_flush(sink *s) {
  if (s->hash && s->n) tw_hash_update(s->hash, s->stage, s->n);
  s->n = 0;
}

static void sink_put(sink *s, const char *p, size_t n) {
  if (s->text) tw_buf_append(s->text, p, n);
  if (!s->hash) return;
  if (s->n + n > sizeof s->stage) {
    sink_flush(s);
    if (n > sizeof s->stage) {
      tw_hash_update(s->hash, p, n);
      return;
    }
  }
  memcpy(s->stage + s->n, p, n);
  s->n += n;
}

static void sink_putc(sink *s, char c) {
  sink_put(s, &c, 1);
}

static void sink_puts(sink *s, const char *str) {
  sink_put(s, str, strlen(str));
}

/* One byte of a path segment, encoded once (S3) or twice (other services:
 * encoding "%XY" again turns only the '%' into "%25"). */
static void sink_path_byte(sink *s, unsigned char c, int twice) {
  if (unreserved(c)) {
    sink_putc(s, (char)c);
    return;
  }
  char e[5];
  size_t n = 0;
  e[n++] = '%';
  if (twice) {
    e[n++] = '2';
    e[n++] = '5';
  }
  e[n++] = HEX_UPPER[c >> 4];
  e[n++] = HEX_UPPER[c & 15];
  sink_put(s, e, n);
}

/* A raw (percent-encoded as sent) segment: decode, then encode canonically. */
static void sink_segment(sink *s, const char *p, size_t n, int twice) {
  for (size_t i = 0; i < n; i++) {
    int h, l;
    unsigned char c = (unsigned char)p[i];
    if (c == '%' && i + 2 < n && (h = tw_auth_hexval((unsigned char)p[i + 1])) >= 0 &&
        (l = tw_auth_hexval((unsigned char)p[i + 2])) >= 0) {
      c = (unsigned char)(h << 4 | l);
      i += 2;
    }
    sink_path_byte(s, c, twice);
  }
}

typedef struct {
  const char *p;
  size_t n;
} span;

/* S3: the path as is, each segment re-encoded once. Others: dot segments and
 * empty segments removed (as botocore and the AWS test suite do), each segment
 * encoded twice. */
static int sink_uri(sink *s, const char *raw, int s3) {
  size_t len = raw ? strlen(raw) : 0;
  if (len == 0) {
    sink_putc(s, '/');
    return 0;
  }
  if (s3) {
    const char *p = raw, *end = raw + len;
    while (p <= end) {
      const char *slash = memchr(p, '/', (size_t)(end - p));
      const char *se = slash ? slash : end;
      sink_segment(s, p, (size_t)(se - p), 0);
      if (!slash) break;
      sink_putc(s, '/');
      p = slash + 1;
    }
    return 0;
  }
  size_t max = 1;
  for (size_t i = 0; i < len; i++)
    if (raw[i] == '/') max++;
  span local[32];
  span *segs = max <= 32 ? local : malloc(max * sizeof *segs);
  if (!segs) return -1;
  size_t n = 0;
  const char *p = raw, *end = raw + len;
  while (p <= end) {
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *se = slash ? slash : end;
    size_t sl = (size_t)(se - p);
    if (sl == 2 && p[0] == '.' && p[1] == '.') {
      if (n) n--;
    } else if (sl && !(sl == 1 && p[0] == '.')) {
      segs[n].p = p;
      segs[n++].n = sl;
    }
    if (!slash) break;
    p = slash + 1;
  }
  if (raw[0] == '/' || n == 0) sink_putc(s, '/');
  for (size_t i = 0; i < n; i++) {
    if (i) sink_putc(s, '/');
    sink_segment(s, segs[i].p, segs[i].n, 1);
  }
  if (n && raw[len - 1] == '/') sink_putc(s, '/');
  if (segs != local) free(segs);
  return 0;
}

static void sink_query(sink *s, const qlist *q, const char *exclude) {
  int first = 1;
  size_t xl = exclude ? strlen(exclude) : 0;
  for (size_t i = 0; i < q->n; i++) {
    const qparam *qp = &q->v[i];
    if (exclude && qp->name_len == xl && memcmp(qp->name, exclude, xl) == 0) continue;
    if (!first) sink_putc(s, '&');
    first = 0;
    sink_put(s, qp->ename, qp->ename_len);
    sink_putc(s, '=');
    sink_put(s, qp->evalue, qp->evalue_len);
  }
}

/* A header value trimmed, with every run of whitespace turned into one space. */
static void sink_header_value(sink *s, const char *v) {
  while (is_ws((unsigned char)*v)) v++;
  int pending = 0;
  for (; *v; v++) {
    if (is_ws((unsigned char)*v)) {
      pending = 1;
      continue;
    }
    if (pending) sink_putc(s, ' ');
    pending = 0;
    sink_putc(s, *v);
  }
}

/* "name:v1,v2\n" for each name of the signed-headers list, in its order. */
static void sink_headers(sink *s, const tw_sigv4_input *in, const char *signed_h) {
  const char *p = signed_h;
  while (*p) {
    const char *semi = strchr(p, ';');
    size_t n = semi ? (size_t)(semi - p) : strlen(p);
    if (n) {
      for (size_t i = 0; i < n; i++) sink_putc(s, (char)lower((unsigned char)p[i]));
      sink_putc(s, ':');
      int count = 0;
      for (size_t i = 0; i < in->nheaders; i++) {
        const char *hn = in->headers[i].name;
        if (!hn || !tw_auth_ieq(hn, strlen(hn), p, n)) continue;
        if (count++) sink_putc(s, ',');
        sink_header_value(s, in->headers[i].value ? in->headers[i].value : "");
      }
      sink_putc(s, '\n');
    }
    if (!semi) break;
    p = semi + 1;
  }
}

typedef struct {
  const tw_sigv4_input *in;
  const qlist *query;
  const char *exclude;  /* query parameter left out (X-Amz-Signature) */
  const char *signed_h; /* "host;x-amz-date" */
  const char *payload;  /* hex hash or UNSIGNED-PAYLOAD */
  const char *amz_date, *date, *region, *service;
} sig_parts;

static int sink_canonical(sink *s, const sig_parts *c) {
  sink_puts(s, c->in->method);
  sink_putc(s, '\n');
  if (sink_uri(s, c->in->raw_path, c->in->s3)) return -1;
  sink_putc(s, '\n');
  sink_query(s, c->query, c->exclude);
  sink_putc(s, '\n');
  sink_headers(s, c->in, c->signed_h);
  sink_putc(s, '\n');
  sink_puts(s, c->signed_h);
  sink_putc(s, '\n');
  sink_puts(s, c->payload);
  return 0;
}

/* ---------- signing keys ---------- */

typedef struct {
  uint64_t tag;
  char secret[129], date[9], region[64], service[32];
  uint8_t key[32];
} key_entry;

/* Per thread, so no lock on the hot path; a handful of entries covers the
 * keys x services x (today, yesterday) a server sees. */
#define KEY_CACHE_SIZE 8
static _Thread_local key_entry key_cache[KEY_CACHE_SIZE];

static uint64_t fnv1a(uint64_t h, const char *s) {
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return (h ^ 0xff) * 1099511628211ULL; /* field separator */
}

static void derive_key(const char *secret, const char *date, const char *region,
                       const char *service, uint8_t out[32]) {
  size_t sl = strlen(secret);
  char stackbuf[256];
  char *k = sl + 5 <= sizeof stackbuf ? stackbuf : malloc(sl + 5);
  if (!k) abort();
  memcpy(k, "AWS4", 4);
  memcpy(k + 4, secret, sl);
  uint8_t a[32], b[32];
  tw_hmac_sha256(k, sl + 4, date, strlen(date), a);
  tw_hmac_sha256(a, 32, region, strlen(region), b);
  tw_hmac_sha256(b, 32, service, strlen(service), a);
  tw_hmac_sha256(a, 32, TERMINATOR, strlen(TERMINATOR), out);
  OPENSSL_cleanse(k, sl + 4);
  if (k != stackbuf) free(k);
  OPENSSL_cleanse(a, sizeof a);
  OPENSSL_cleanse(b, sizeof b);
}

void tw_sigv4_signing_key(const char *secret, const char *date, const char *region,
                          const char *service, uint8_t out[32]) {
  size_t sl = strlen(secret), dl = strlen(date), rl = strlen(region), vl = strlen(service);
  if (sl >= sizeof key_cache[0].secret || dl >= sizeof key_cache[0].date ||
      rl >= sizeof key_cache[0].region || vl >= sizeof key_cache[0].service) {
    derive_key(secret, date, region, service, out);
    return;
  }
  uint64_t tag = fnv1a(fnv1a(fnv1a(fnv1a(14695981039346656037ULL, secret), date), region), service);
  tag |= 1; /* 0 marks an empty slot */
  key_entry *e = &key_cache[tag % KEY_CACHE_SIZE];
  if (e->tag == tag && strcmp(e->secret, secret) == 0 && strcmp(e->date, date) == 0 &&
      strcmp(e->region, region) == 0 && strcmp(e->service, service) == 0) {
    memcpy(out, e->key, 32);
    return;
  }
  derive_key(secret, date, region, service, out);
  e->tag = tag;
  memcpy(e->secret, secret, sl + 1);
  memcpy(e->date, date, dl + 1);
  memcpy(e->region, region, rl + 1);
  memcpy(e->service, service, vl + 1);
  memcpy(e->key, out, 32);
}

/* ---------- the signature ---------- */

/* Computes the hex signature of `c`. When creq/sts are given, also writes the
 * canonical request and the string to sign into them (for error messages). */
static int compute_signature(const sig_parts *c, const uint8_t key[32], char sig[65], tw_buf *creq,
                             tw_buf *sts_text) {
  sink s;
  s.hash = tw_hash_sha256_new();
  s.text = creq;
  s.n = 0;
  if (!s.hash) return -1;
  int rc = sink_canonical(&s, c);
  sink_flush(&s);
  uint8_t digest[32];
  tw_hash_final(s.hash, digest);
  tw_hash_free(s.hash);
  if (rc) return -1;
  char creq_hex[65];
  tw_hex(digest, 32, creq_hex);

  char sts[512];
  int n = snprintf(sts, sizeof sts, ALGORITHM "\n%s\n%s/%s/%s/" TERMINATOR "\n%s", c->amz_date,
                   c->date, c->region, c->service, creq_hex);
  if (n < 0 || (size_t)n >= sizeof sts) return -1;
  if (sts_text) tw_buf_append(sts_text, sts, (size_t)n);
  uint8_t mac[32];
  tw_hmac_sha256(key, 32, sts, (size_t)n, mac);
  tw_hex(mac, 32, sig);
  return 0;
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
      tw_auth_setmsg(errmsg, errmsg_len,
             "Error parsing the X-Amz-Credential parameter; the region '%.*s' is wrong; expecting "
             "'%s'",
             (int)c->region_len, c->region, in->region);
      return TW_ERR_ACCESS_DENIED;
    }
    tw_auth_setmsg(errmsg, errmsg_len,
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
  if (compute_signature(parts, key, sig, NULL, NULL)) {
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
    tw_auth_setmsg(errmsg, errmsg_len,
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
    if (compute_signature(parts, key, again, &creq, &sts) == 0 && !creq.overflow && !sts.overflow) {
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
  if ((xdate ? parse_amz_date(dv, &t) : parse_http_date(dv, &t)) != 0) {
    info->fault = TW_SIGV4_FAULT_MALFORMED;
    if (in->s3) {
      tw_auth_setmsg(errmsg, errmsg_len, "AWS authentication requires a valid Date or x-amz-date header");
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
      tw_auth_setmsg(errmsg, errmsg_len, "Signature expired: %s is now earlier than %s (%s - 15 min.)",
             info->amz_date, b, a);
    } else {
      tw_sigv4_amz_date(now + SKEW_SECONDS, b);
      tw_auth_setmsg(errmsg, errmsg_len,
             "Signature not yet current: %s is still later than %s (%s + 15 min.)", info->amz_date,
             b, a);
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
    tw_auth_setmsg(errmsg, errmsg_len, "Unsupported AWS 'algorithm': '%.*s' (only " ALGORITHM " for now). ",
           (int)alg_len, alg);
    rc = TW_ERR_INCOMPLETE_SIGNATURE;
  } else if (parse_credential(cred, cred_len, &c) || credential_to_info(&c, info)) {
    info->fault = TW_SIGV4_FAULT_MALFORMED;
    if (in->s3)
      tw_auth_setmsg(errmsg, errmsg_len,
             "The authorization header is malformed; the Credential is mal-formed; expecting "
             "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".");
    else
      tw_auth_setmsg(errmsg, errmsg_len,
             "Credential must have exactly 5 slash-delimited elements, e.g. "
             "keyid/date/region/service/term, got '%.*s'",
             (int)cred_len, cred);
    rc = TW_ERR_INCOMPLETE_SIGNATURE;
  } else if ((rc = check_scope(in, &c, info->amz_date, 0, info, errmsg, errmsg_len)) == TW_ERR_OK) {
    const char *payload =
        in->payload_sha256_hex ? in->payload_sha256_hex : tw_auth_header(in->headers, in->nheaders, "x-amz-content-sha256");
    if (!payload || !*payload) {
      info->fault = TW_SIGV4_FAULT_NO_CONTENT_SHA;
      tw_auth_setmsg(errmsg, errmsg_len, "Missing required header for this request: x-amz-content-sha256");
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
  if (parse_amz_date(xdate, &t))
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
    payload =
        in->payload_sha256_hex ? in->payload_sha256_hex : tw_auth_header(in->headers, in->nheaders, "x-amz-content-sha256");
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
  if (qlist_parse(&q, in->raw_query)) return TW_ERR_INTERNAL;
  tw_err rc;
  if (auth)
    rc = verify_header(in, auth, &q, lookup, ud, now, info, errmsg, errmsg_len);
  else if (qlist_get(&q, "X-Amz-Algorithm"))
    rc = verify_query(in, &q, lookup, ud, now, info, errmsg, errmsg_len);
  else
    rc = TW_ERR_MISSING_AUTH;
  qlist_free(&q);
  if (rc != TW_ERR_OK) memset(info->signing_key, 0, sizeof info->signing_key);
  return rc;
}

/* ---------- signing ---------- */

static int name_icmp(const void *a, const void *b) {
  const char *x = *(const char *const *)a, *y = *(const char *const *)b;
  for (;; x++, y++) {
    int cx = lower((unsigned char)*x), cy = lower((unsigned char)*y);
    if (cx != cy || !cx) return cx - cy;
  }
}

/* "a;b;c": every header name but Authorization, lower-case, sorted, unique. */
static int signed_header_list(const tw_sigv4_input *in, tw_buf *out) {
  if (in->nheaders == 0) return -1;
  const char **names = malloc(in->nheaders * sizeof *names);
  if (!names) return -1;
  size_t n = 0;
  for (size_t i = 0; i < in->nheaders; i++) {
    const char *hn = in->headers[i].name;
    if (hn && *hn && !tw_auth_ieq(hn, strlen(hn), "authorization", 13)) names[n++] = hn;
  }
  qsort(names, n, sizeof *names, name_icmp);
  for (size_t i = 0; i < n; i++) {
    if (i && name_icmp(&names[i - 1], &names[i]) == 0) continue;
    if (out->len) tw_buf_putc(out, ';');
    for (const char *c = names[i]; *c; c++) tw_buf_putc(out, (char)lower((unsigned char)*c));
  }
  free(names);
  return out->overflow || out->len == 0 ? -1 : 0;
}

int tw_sigv4_sign(const tw_sigv4_input *in, const char *access_key, const char *secret,
                  const char *region, const char *service, char *auth_out, size_t auth_len) {
  if (!in || !in->method || !access_key || !secret || !region || !service || !auth_out) return -1;
  const char *amz_date = tw_auth_header(in->headers, in->nheaders, "x-amz-date");
  const char *payload =
      in->payload_sha256_hex ? in->payload_sha256_hex : tw_auth_header(in->headers, in->nheaders, "x-amz-content-sha256");
  time_t t;
  if (!amz_date || parse_amz_date(amz_date, &t) || !payload) return -1;

  tw_buf sh;
  tw_buf_init(&sh, 64 * 1024);
  qlist q;
  if (signed_header_list(in, &sh) || qlist_parse(&q, in->raw_query)) {
    tw_buf_free(&sh);
    return -1;
  }
  char date[9];
  memcpy(date, amz_date, 8);
  date[8] = '\0';
  uint8_t key[32];
  tw_sigv4_signing_key(secret, date, region, service, key);
  sig_parts parts = {in, &q, NULL, tw_buf_cstr(&sh), payload, amz_date, date, region, service};
  char sig[65];
  int rc = compute_signature(&parts, key, sig, NULL, NULL);
  OPENSSL_cleanse(key, sizeof key);
  if (rc == 0) {
    int n =
        snprintf(auth_out, auth_len,
                 ALGORITHM " Credential=%s/%s/%s/%s/" TERMINATOR ", SignedHeaders=%s, Signature=%s",
                 access_key, date, region, service, tw_buf_cstr(&sh), sig);
    if (n < 0 || (size_t)n >= auth_len) rc = -1;
  }
  qlist_free(&q);
  tw_buf_free(&sh);
  return rc;
}

static void buf_encoded(tw_buf *b, const char *s) {
  char tmp[3 * 64];
  size_t n = strlen(s);
  for (size_t i = 0; i < n; i += 64) {
    size_t chunk = n - i < 64 ? n - i : 64;
    tw_buf_append(b, tmp, uri_encode(s + i, chunk, tmp));
  }
}

int tw_sigv4_presign(const tw_sigv4_input *in, const char *access_key, const char *secret,
                     const char *region, const char *service, const char *amz_date, long expires,
                     char *query_out, size_t query_len) {
  time_t t;
  if (!in || !in->method || !access_key || !secret || !region || !service || !amz_date ||
      !query_out || parse_amz_date(amz_date, &t) || expires < 1 || expires > MAX_EXPIRES ||
      !tw_auth_header(in->headers, in->nheaders, "host"))
    return -1;
  char date[9];
  memcpy(date, amz_date, 8);
  date[8] = '\0';

  tw_buf sh, qs;
  tw_buf_init(&sh, 64 * 1024);
  tw_buf_init(&qs, 1024 * 1024);
  int rc = -1;
  qlist q = {0};
  if (signed_header_list(in, &sh)) goto done;
  if (in->raw_query && *in->raw_query) {
    tw_buf_puts(&qs, in->raw_query);
    tw_buf_putc(&qs, '&');
  }
  char cred[512];
  int n = snprintf(cred, sizeof cred, "%s/%s/%s/%s/" TERMINATOR, access_key, date, region, service);
  if (n < 0 || (size_t)n >= sizeof cred) goto done;
  tw_buf_puts(&qs, "X-Amz-Algorithm=" ALGORITHM "&X-Amz-Credential=");
  buf_encoded(&qs, cred);
  tw_buf_printf(&qs, "&X-Amz-Date=%s&X-Amz-Expires=%ld&X-Amz-SignedHeaders=", amz_date, expires);
  buf_encoded(&qs, tw_buf_cstr(&sh));
  if (qs.overflow || qlist_parse(&q, tw_buf_cstr(&qs))) goto done;

  const char *payload = in->s3                   ? UNSIGNED_PAYLOAD
                        : in->payload_sha256_hex ? in->payload_sha256_hex
                                                 : EMPTY_SHA256;
  uint8_t key[32];
  tw_sigv4_signing_key(secret, date, region, service, key);
  sig_parts parts = {in, &q, NULL, tw_buf_cstr(&sh), payload, amz_date, date, region, service};
  char sig[65];
  int crc = compute_signature(&parts, key, sig, NULL, NULL);
  OPENSSL_cleanse(key, sizeof key);
  qlist_free(&q);
  if (crc) goto done;
  tw_buf_printf(&qs, "&X-Amz-Signature=%s", sig);
  if (qs.overflow || qs.len + 1 > query_len) goto done;
  memcpy(query_out, tw_buf_cstr(&qs), qs.len + 1);
  rc = 0;
done:
  tw_buf_free(&sh);
  tw_buf_free(&qs);
  return rc;
}
