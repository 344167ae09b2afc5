/* The parts of AWS Signature Version 4 that verifying (sigv4.c) and signing
 * (sigv4_sign.c) share: the canonical request, streamed into SHA-256 through a
 * small staging buffer; the string to sign and the signature; derived signing
 * keys, cached per thread; query parameters decoded and re-encoded once into
 * stack memory (heap only for very long queries); and the dates. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_text.h"
#include "auth/sigv4_internal.h"
#include "core/buf.h"
#include "core/crypto.h"

/* ---------- small string helpers ---------- */

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

static const char HEX_UPPER[] = "0123456789ABCDEF";

/* RFC 3986 encoding as SigV4 wants it: unreserved kept, all else %XX. */
size_t tw_sigv4_uri_encode(const char *in, size_t n, char *out) {
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
int tw_sigv4_parse_amz_date(const char *s, time_t *out) {
  int y, mo, d, h, mi, sec;
  if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z') return -1;
  if (digits(s, 4, &y) || digits(s + 4, 2, &mo) || digits(s + 6, 2, &d) || digits(s + 9, 2, &h) ||
      digits(s + 11, 2, &mi) || digits(s + 13, 2, &sec))
    return -1;
  return make_time(y, mo, d, h, mi, sec, out);
}

/* RFC 1123, the Date header's format: "Sun, 06 Nov 1994 08:49:37 GMT". */
int tw_sigv4_parse_http_date(const char *s, time_t *out) {
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

/* ---------- query parameters ---------- */

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

void tw_sigv4_qlist_free(qlist *q) {
  if (q->v != q->local_v) free(q->v);
  if (q->mem != q->local_mem) free(q->mem);
  q->v = NULL;
  q->mem = NULL;
}

/* Splits on '&', decodes each name and value (a piece without '=' has an empty
 * value), re-encodes both canonically and sorts by encoded name, then value. */
int tw_sigv4_qlist_parse(qlist *q, const char *raw) {
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
    tw_sigv4_qlist_free(q);
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
      qp->ename_len = tw_sigv4_uri_encode(qp->name, qp->name_len, m);
      m += qp->ename_len;
      *m++ = '\0';
      qp->evalue = m;
      qp->evalue_len = tw_sigv4_uri_encode(qp->value, qp->value_len, m);
      m += qp->evalue_len;
      *m++ = '\0';
    }
    p = pe + 1;
  }
  qsort(q->v, q->n, sizeof *q->v, qparam_cmp);
  return 0;
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
int tw_sigv4_compute_signature(const sig_parts *c, const uint8_t key[32], char sig[65],
                               tw_buf *creq, tw_buf *sts_text) {
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
