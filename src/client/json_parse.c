/* Recursive-descent JSON parser building jansson values. */
#include "client/json_parse.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 2048

typedef struct {
  const unsigned char *p, *end, *start;
  char *scratch; /* unescaped strings */
  size_t cap;
  char *err;
  size_t errlen;
  int no_dups; /* a repeated object key fails (tw_json_parse_object_fast) */
  int failed;
} parser;

static void fail(parser *ps, const char *what) {
  if (ps->failed) return;
  ps->failed = 1;
  if (ps->err && ps->errlen)
    snprintf(ps->err, ps->errlen, "%s at byte %zu", what, (size_t)(ps->p - ps->start));
}

static void skip_ws(parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
    ps->p++;
}

static int need(parser *ps, size_t n) {
  if (n <= ps->cap) return 0;
  size_t c = ps->cap ? ps->cap : 256;
  while (c < n) c *= 2;
  char *s = realloc(ps->scratch, c);
  if (!s) {
    fail(ps, "out of memory");
    return -1;
  }
  ps->scratch = s;
  ps->cap = c;
  return 0;
}

/* Length of a valid UTF-8 sequence starting at p (p[0] >= 0x80), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  size_t n;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0; /* no overlong forms */
    if (c == 0xED) hi = 0x9F; /* no surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F; /* up to U+10FFFF */
  } else {
    return 0;
  }
  if ((size_t)(end - p) < n) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xBF) return 0;
  return n;
}

static int hex4(const unsigned char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned c = p[i], d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return -1;
    v = v * 16 + d;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Parses the string at ps->p (after the opening quote). On success s and len
 * point either into the input (no escapes) or into ps->scratch. */
static int parse_string(parser *ps, const char **s, size_t *len) {
  const unsigned char *p = ps->p, *end = ps->end, *run = p;
  size_t o = 0; /* bytes in scratch; used once an escape was seen */
  int escaped = 0;
  for (;;) {
    /* the common case: a run of plain printable ASCII */
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
    if (p >= end) {
      ps->p = p;
      fail(ps, "unterminated string");
      return -1;
    }
    unsigned c = *p;
    if (c >= 0x80) {
      size_t n = utf8_len(p, end);
      if (!n) {
        ps->p = p;
        fail(ps, "invalid UTF-8 in a string");
        return -1;
      }
      p += n;
      continue;
    }
    if (c < 0x20) {
      ps->p = p;
      fail(ps, "control character in a string");
      return -1;
    }
    /* '"' or '\\': move the run so far to scratch if escapes are in play */
    if (c == '"' && !escaped) {
      *s = (const char *)run;
      *len = (size_t)(p - run);
      ps->p = p + 1;
      return 0;
    }
    size_t chunk = (size_t)(p - run);
    if (need(ps, o + chunk + 8)) return -1;
    memcpy(ps->scratch + o, run, chunk);
    o += chunk;
    if (c == '"') {
      *s = ps->scratch;
      *len = o;
      ps->p = p + 1;
      return 0;
    }
    escaped = 1;
    if (end - p < 2) {
      ps->p = p;
      fail(ps, "unterminated escape");
      return -1;
    }
    unsigned e = p[1];
    p += 2;
    switch (e) {
      case '"':
        ps->scratch[o++] = '"';
        break;
      case '\\':
        ps->scratch[o++] = '\\';
        break;
      case '/':
        ps->scratch[o++] = '/';
        break;
      case 'b':
        ps->scratch[o++] = '\b';
        break;
      case 'f':
        ps->scratch[o++] = '\f';
        break;
      case 'n':
        ps->scratch[o++] = '\n';
        break;
      case 'r':
        ps->scratch[o++] = '\r';
        break;
      case 't':
        ps->scratch[o++] = '\t';
        break;
      case 'u': {
        unsigned cp, lo;
        if (end - p < 4 || hex4(p, &cp)) {
          ps->p = p;
          fail(ps, "invalid \\u escape");
          return -1;
        }
        p += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
          ps->p = p;
          fail(ps, "lone low surrogate");
          return -1;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) || lo < 0xDC00 ||
              lo > 0xDFFF) {
            ps->p = p;
            fail(ps, "invalid surrogate pair");
            return -1;
          }
          p += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp == 0) {
          ps->p = p;
          fail(ps, "\\u0000 is not allowed");
          return -1;
        }
        o += put_utf8(ps->scratch + o, cp);
        break;
      }
      default:
        ps->p = p;
        fail(ps, "invalid escape");
        return -1;
    }
    run = p;
  }
}

static json_t *parse_value(parser *ps, int depth);

static json_t *parse_number(parser *ps) {
  const unsigned char *p = ps->p, *end = ps->end, *b = p;
  int is_int = 1;
  if (p < end && *p == '-') p++;
  if (p < end && *p == '0') {
    p++;
  } else if (p < end && *p >= '1' && *p <= '9') {
    while (p < end && *p >= '0' && *p <= '9') p++;
  } else {
    fail(ps, "invalid number");
    return NULL;
  }
  if (p < end && *p == '.') {
    is_int = 0;
    p++;
    if (p >= end || *p < '0' || *p > '9') {
      ps->p = p;
      fail(ps, "invalid number");
      return NULL;
    }
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    is_int = 0;
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p >= end || *p < '0' || *p > '9') {
      ps->p = p;
      fail(ps, "invalid number");
      return NULL;
    }
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  char tmp[64], *num = tmp;
  size_t n = (size_t)(p - b);
  if (n >= sizeof tmp && !(num = malloc(n + 1))) {
    fail(ps, "out of memory");
    return NULL;
  }
  memcpy(num, b, n);
  num[n] = 0;
  json_t *v = NULL;
  errno = 0;
  if (is_int) {
    long long l = strtoll(num, NULL, 10);
    if (errno != ERANGE)
      v = json_integer((json_int_t)l);
    else
      fail(ps, "too big an integer");
  } else {
    double d = strtod(num, NULL);
    if (errno == ERANGE && (d > 1 || d < -1))
      fail(ps, "real number overflow");
    else
      v = json_real(d);
  }
  if (num != tmp) free(num);
  ps->p = p;
  return v;
}

static json_t *parse_object(parser *ps, int depth) {
  json_t *o = json_object();
  if (!o) {
    fail(ps, "out of memory");
    return NULL;
  }
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == '}') {
    ps->p++;
    return o;
  }
  for (;;) {
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != '"') {
      fail(ps, "expected a string key");
      break;
    }
    ps->p++;
    const char *k;
    size_t kl;
    if (parse_string(ps, &k, &kl)) break;
    /* jansson keys are C strings: copy (scratch is reused by the value) */
    char kb[128], *key = kb;
    if (kl >= sizeof kb && !(key = malloc(kl + 1))) {
      fail(ps, "out of memory");
      break;
    }
    memcpy(key, k, kl);
    key[kl] = 0;
    skip_ws(ps);
    json_t *v = NULL;
    if (ps->p >= ps->end || *ps->p != ':') {
      fail(ps, "expected ':'");
    } else {
      ps->p++;
      v = parse_value(ps, depth + 1);
    }
    if (v && ps->no_dups && json_object_get(o, key)) { /* as JSON_REJECT_DUPLICATES */
      json_decref(v);
      v = NULL;
      fail(ps, "duplicate key");
    }
    if (v && json_object_set_new_nocheck(o, key, v)) fail(ps, "out of memory");
    if (key != kb) free(key);
    if (!v || ps->failed) break;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == '}') {
      ps->p++;
      return o;
    }
    fail(ps, "expected ',' or '}'");
    break;
  }
  json_decref(o);
  return NULL;
}

static json_t *parse_array(parser *ps, int depth) {
  json_t *a = json_array();
  if (!a) {
    fail(ps, "out of memory");
    return NULL;
  }
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == ']') {
    ps->p++;
    return a;
  }
  for (;;) {
    json_t *v = parse_value(ps, depth + 1);
    if (!v) break;
    if (json_array_append_new(a, v)) {
      fail(ps, "out of memory");
      break;
    }
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == ']') {
      ps->p++;
      return a;
    }
    fail(ps, "expected ',' or ']'");
    break;
  }
  json_decref(a);
  return NULL;
}

static int literal(parser *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n)) {
    fail(ps, "invalid literal");
    return -1;
  }
  ps->p += n;
  return 0;
}

static json_t *parse_value(parser *ps, int depth) {
  if (depth > MAX_DEPTH) {
    fail(ps, "nested too deeply");
    return NULL;
  }
  skip_ws(ps);
  if (ps->p >= ps->end) {
    fail(ps, "unexpected end of input");
    return NULL;
  }
  switch (*ps->p) {
    case '{':
      ps->p++;
      return parse_object(ps, depth);
    case '[':
      ps->p++;
      return parse_array(ps, depth);
    case '"': {
      ps->p++;
      const char *s;
      size_t len;
      if (parse_string(ps, &s, &len)) return NULL;
      json_t *v = json_stringn_nocheck(s, len);
      if (!v) fail(ps, "out of memory");
      return v;
    }
    case 't':
      return literal(ps, "true") ? NULL : json_true();
    case 'f':
      return literal(ps, "false") ? NULL : json_false();
    case 'n':
      return literal(ps, "null") ? NULL : json_null();
    default:
      return parse_number(ps);
  }
}

json_t *tw_json_parse(const char *s, size_t n, char *err, size_t errlen) {
  parser ps = {.p = (const unsigned char *)s,
               .end = (const unsigned char *)s + n,
               .start = (const unsigned char *)s,
               .err = err,
               .errlen = errlen};
  if (err && errlen) err[0] = 0;
  json_t *v = s ? parse_value(&ps, 0) : NULL;
  if (!s) fail(&ps, "no input");
  if (v) {
    skip_ws(&ps);
    if (ps.p != ps.end) {
      fail(&ps, "trailing characters");
      json_decref(v);
      v = NULL;
    }
  }
  free(ps.scratch);
  return v;
}

json_t *tw_json_parse_object_fast(const char *s, size_t n) {
  parser ps = {.p = (const unsigned char *)s,
               .end = (const unsigned char *)s + n,
               .start = (const unsigned char *)s,
               .no_dups = 1};
  json_t *v = NULL;
  skip_ws(&ps);
  if (s && ps.p < ps.end && *ps.p == '{') v = parse_value(&ps, 0); /* only an object */
  if (v) {
    skip_ws(&ps);
    if (ps.p != ps.end || !json_is_object(v)) {
      json_decref(v);
      v = NULL;
    }
  }
  free(ps.scratch);
  return v;
}
