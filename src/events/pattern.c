/* The pattern engine (pattern.h): EventBridge event patterns and SNS filter
 * policies.
 *
 * Compiling follows AWS's own rule compiler (aws/event-ruler, which both
 * services are built on) token by token: a small pull parser with Jackson's
 * position rules feeds the compiler, so an invalid pattern gets the same
 * reason text and the same "at [Source: ...; line: L, column: C]" location AWS
 * prints. A pattern compiles to an OR of branches ($or is expanded), each an
 * AND of fields; a field is a dotted path with its list of matchers. Matching
 * walks the document along each field's path (arrays are flattened, keys that
 * contain dots match the joined path, as AWS does) and allocates nothing, so
 * one compiled pattern serves any number of threads.
 *
 * Where AWS's behaviour is not documented the choice is noted in
 * docs/patterns.md. */
#include "events/pattern.h"

#include <arpa/inet.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- limits ---------------------------------------------------------- */

#define MAX_NESTING 1000           /* Jackson's default maximum nesting depth */
#define SRC_SHOWN 500              /* Jackson shows at most this many characters of the source */
#define EB_NUM_LIMIT 5.0e9         /* EventBridge numeric matching: -5.0e9 .. 5.0e9 */
#define SNS_NUM_LIMIT 1.0e9        /* SNS numeric matching: -1e9 .. 1e9 */
#define EB_MAX_BRANCHES 1000       /* EventBridge: $or may not make more than 1000 combinations */
#define SNS_MAX_KEYS 5             /* SNS: keys in a filter policy */
#define SNS_MAX_COMBINATIONS 150   /* SNS: total combination of values */
#define SNS_MAX_SIZE (256 * 1024)  /* SNS: filter policy size */
#define MAX_BRANCHES 10000         /* never expand $or beyond this, whatever the dialect */
#define WILDCARD_MAX_COMPLEXITY 10 /* see wildcard_complexity() */
#define MAX_WILDCARD_SETS 2048     /* states explored when measuring it */

/* ---- compiled form ------------------------------------------------------ */

typedef enum {
  MK_STR, /* exact string (an IP address literal also matches its other spellings) */
  MK_NUM, /* exact number: numeric equality */
  MK_TRUE,
  MK_FALSE,
  MK_NULL,
  MK_PREFIX,
  MK_PREFIX_CI,
  MK_SUFFIX,
  MK_SUFFIX_CI,
  MK_EQ_CI,
  MK_WILDCARD,
  MK_AB_STRS, /* anything-but: strings (a present value that is not one of them) */
  MK_AB_NUMS, /* anything-but: numbers (a number that is not one of them) */
  MK_AB_PREFIX,
  MK_AB_SUFFIX,
  MK_AB_CI,
  MK_AB_WILDCARD,
  MK_RANGE, /* numeric */
  MK_CIDR,
  MK_EXISTS,
  MK_ABSENT, /* exists: false */
} mkind;

typedef struct {
  char *s;
  size_t n;
} pstr;

/* A wildcard pattern as its literal pieces between the stars. */
typedef struct {
  pstr *seg;
  size_t nseg;
  int lead_star, trail_star;
} wildcard;

typedef struct {
  mkind kind;
  pstr *v; /* the string(s); case-folded for the _CI kinds */
  size_t nv;
  wildcard *wc; /* nv of them for MK_WILDCARD / MK_AB_WILDCARD */
  /* MK_NUM */
  double d;
  int has_sc; /* within the dialect's numeric range: sc is the value in millionths */
  int64_t sc;
  int is_int;
  long long iv;
  /* MK_AB_NUMS */
  int64_t *nums;
  size_t nnums;
  /* MK_RANGE */
  int has_lo, lo_open, has_hi, hi_open;
  int64_t lo, hi;
  /* MK_CIDR: [ip, ip2]; MK_STR: ip when the string is an IP address literal */
  int iplen;
  uint8_t ip[16], ip2[16];
} matcher;

typedef struct {
  matcher *m;
  size_t n;
} mlist;

typedef struct {
  char *name; /* dotted path */
  size_t nlen;
  mlist *ml;      /* owned by the pattern's pool */
  size_t top_len; /* the top-level key: name[0, top_len) */
  size_t depth;   /* objects descended to reach the array (1 at the top level) */
} field;

typedef struct {
  field *f;
  size_t n, cap;
} branch;

struct tw_pattern {
  tw_pattern_dialect dialect;
  int match_all; /* SNS "{}" */
  branch *b;
  size_t nb;
  mlist **pool; /* every matcher list, freed once */
  size_t npool, poolcap;
  char **names; /* every field name, freed once */
  size_t nnames, namescap;
};

/* ---- small helpers ------------------------------------------------------ */

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) abort();
  return q;
}

static char *xmemdup(const char *s, size_t n) {
  char *d = xrealloc(NULL, n + 1);
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length (1 for a
 * stray byte, whose value is returned as is). */
static size_t utf8_dec(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned c = s[0];
  size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len <= 1 || len > n) {
    *cp = c;
    return 1;
  }
  uint32_t v = c & (0x7f >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) {
      *cp = c;
      return 1;
    }
    v = (v << 6) | (s[i] & 0x3f);
  }
  *cp = v;
  return len;
}

static size_t utf8_enc(uint32_t cp, char *out) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xe0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (char)(0xf0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  out[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Simple lower-casing: ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic. */
static uint32_t fold_cp(uint32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c >= 0xc0 && c <= 0xde && c != 0xd7) return c + 32;
  if (c >= 0x100 && c <= 0x17f) {
    if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17f) return c;
    if (c == 0x178) return 0xff;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) return (c & 1) ? c + 1 : c;
    return (c & 1) ? c : c + 1;
  }
  if (c >= 0x391 && c <= 0x3ab && c != 0x3a2) return c + 32;
  if (c >= 0x410 && c <= 0x42f) return c + 32;
  if (c >= 0x400 && c <= 0x40f) return c + 80;
  return c;
}

/* Writes the case-folded form of s into out (at most 4 bytes per input
 * byte); returns its length. */
static size_t fold_into(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t l = utf8_dec((const unsigned char *)s + i, n - i, &cp);
    if (l == 1 && (unsigned char)s[i] >= 0x80) {
      out[o++] = s[i];
    } else {
      o += utf8_enc(fold_cp(cp), out + o);
    }
    i += l;
  }
  return o;
}

static pstr fold_dup(const char *s, size_t n) {
  char *d = xrealloc(NULL, 4 * n + 1);
  size_t l = fold_into(s, n, d);
  d[l] = 0;
  return (pstr){d, l};
}

/* Compares s (not yet folded) with the folded f: whole (mode 0), f as a
 * prefix of s (1) or as a suffix (2). No allocation: folds s on the fly. */
static int fold_cmp(const char *s, size_t n, const pstr *f, int mode) {
  if (mode == 2) {
    /* walk back from the end of s to find where a suffix of f's length in
     * folded bytes could start: fold each code point of s from the end */
    size_t fi = f->n, i = n;
    while (fi > 0) {
      if (i == 0) return 0;
      size_t st = i - 1;
      while (st > 0 && ((unsigned char)s[st] & 0xc0) == 0x80 && i - st < 4) st--;
      uint32_t cp;
      size_t l = utf8_dec((const unsigned char *)s + st, i - st, &cp);
      if (l != i - st) { /* not one whole sequence: take the last byte alone */
        st = i - 1;
        l = 1;
        cp = (unsigned char)s[st];
      }
      char buf[4];
      size_t bl = (l == 1 && cp >= 0x80) ? (buf[0] = (char)cp, 1) : utf8_enc(fold_cp(cp), buf);
      if (bl > fi || memcmp(f->s + fi - bl, buf, bl)) return 0;
      fi -= bl;
      i = st;
    }
    return 1;
  }
  size_t fi = 0, i = 0;
  while (i < n) {
    uint32_t cp;
    size_t l = utf8_dec((const unsigned char *)s + i, n - i, &cp);
    char buf[4];
    size_t bl =
        (l == 1 && (unsigned char)s[i] >= 0x80) ? (buf[0] = s[i], 1) : utf8_enc(fold_cp(cp), buf);
    if (fi + bl > f->n) return mode == 1 && fi == f->n;
    if (memcmp(f->s + fi, buf, bl)) return 0;
    fi += bl;
    i += l;
    if (mode == 1 && fi == f->n) return 1;
  }
  return fi == f->n;
}

/* ---- numbers ------------------------------------------------------------ */

/* Numbers compare in millionths (AWS matches numbers to six decimal places). */
static int scale(double d, double limit, int64_t *out) {
  if (!(d >= -limit && d <= limit)) return 0;
  *out = llround(d * 1e6);
  return 1;
}

static double dialect_limit(tw_pattern_dialect d) {
  return d == TW_PATTERN_EVENTBRIDGE ? EB_NUM_LIMIT : SNS_NUM_LIMIT;
}

static const char *range_msg(tw_pattern_dialect d) {
  return d == TW_PATTERN_EVENTBRIDGE ? "Value must be between -5.0E9 and 5.0E9, inclusive"
                                     : "Value must be between -1.0E9 and 1.0E9, inclusive";
}

/* ---- IP addresses ------------------------------------------------------- */

/* AWS only treats strings shaped like [0-9]+.[0-9]+.[0-9]+.[0-9]+ or
 * [0-9a-fA-F:]*:[0-9a-fA-F:]* as addresses. */
static int ip_shape(const char *s, size_t n) {
  if (!n) return 0;
  int dots = 0, digits = 0, ok4 = 1;
  for (size_t i = 0; i < n && ok4; i++) {
    if (s[i] >= '0' && s[i] <= '9') {
      digits++;
    } else if (s[i] == '.' && digits) {
      dots++;
      digits = 0;
    } else {
      ok4 = 0;
    }
  }
  if (ok4 && dots == 3 && digits) return 4;
  int colon = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == ':') {
      colon = 1;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return 0;
    }
  }
  return colon ? 6 : 0;
}

/* Parses an address of either shape: 4 or 16 bytes into out, 0 if it has the
 * shape but is not an address, -1 if it does not even have the shape. An
 * IPv4-mapped IPv6 address is its IPv4 address, as Java reads it. */
static int ip_parse(const char *s, size_t n, uint8_t out[16]) {
  int shape = ip_shape(s, n);
  if (!shape) return -1;
  if (n > 45) return 0;
  char buf[64];
  memcpy(buf, s, n);
  buf[n] = 0;
  if (shape == 4) {
    unsigned long part[4];
    const char *p = buf;
    for (int i = 0; i < 4; i++) {
      char *end;
      part[i] = strtoul(p, &end, 10);
      if (end == p || part[i] > 255 || end - p > 3) return 0;
      p = end + 1;
    }
    for (int i = 0; i < 4; i++) out[i] = (uint8_t)part[i];
    return 4;
  }
  if (inet_pton(AF_INET6, buf, out) != 1) return 0;
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (!memcmp(out, mapped, 12)) {
    memmove(out, out + 12, 4);
    return 4;
  }
  return 16;
}

/* ---- the pull parser ---------------------------------------------------- */

typedef enum {
  TK_NONE, /* end of input, or an error (lx->err) */
  TK_START_OBJECT,
  TK_END_OBJECT,
  TK_START_ARRAY,
  TK_END_ARRAY,
  TK_FIELD_NAME,
  TK_STRING,
  TK_INT,
  TK_FLOAT,
  TK_TRUE,
  TK_FALSE,
  TK_NULL,
} tk;

typedef struct {
  const char *s;
  size_t n, pos;
  tk cur, pending;
  int str_open; /* the current (or pending) string has only its opening quote consumed */
  char *name;   /* current field name */
  size_t name_len, name_cap;
  char *text; /* current string value, or number text */
  size_t text_len, text_cap;
  int depth;
  char ctx[MAX_NESTING + 2]; /* 'o' or 'a' */
  unsigned char first[MAX_NESTING + 2];
  size_t open_at[MAX_NESTING + 2];
  int err;
  char msg[400]; /* the syntax error, without its location */
  size_t err_pos;
} lexer;

static void buf_put(char **b, size_t *len, size_t *cap, const char *s, size_t n) {
  if (*len + n + 1 > *cap) {
    *cap = (*len + n + 1) * 2;
    *b = xrealloc(*b, *cap);
  }
  memcpy(*b + *len, s, n);
  *len += n;
  (*b)[*len] = 0;
}

/* Jackson's description of a character: 'x' (code 120). */
static void char_desc(lexer *lx, size_t at, char *out, size_t outlen) {
  uint32_t cp;
  if (at >= lx->n) {
    snprintf(out, outlen, "(end-of-input)");
    return;
  }
  size_t l = utf8_dec((const unsigned char *)lx->s + at, lx->n - at, &cp);
  if (cp < 32 || (cp >= 0x7f && cp < 0xa0)) {
    snprintf(out, outlen, "(CTRL-CHAR, code %u)", (unsigned)cp);
  } else if (cp > 255) {
    snprintf(out, outlen, "'%.*s' (code %u / 0x%x)", (int)l, lx->s + at, (unsigned)cp,
             (unsigned)cp);
  } else {
    snprintf(out, outlen, "'%.*s' (code %u)", (int)l, lx->s + at, (unsigned)cp);
  }
}

static void lx_fail(lexer *lx, size_t at, const char *fmt, ...) {
  if (lx->err) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(lx->msg, sizeof lx->msg, fmt, ap);
  va_end(ap);
  lx->err = 1;
  lx->err_pos = at;
}

static void lx_unexpected(lexer *lx, size_t at, const char *what) {
  char d[64];
  char_desc(lx, at, d, sizeof d);
  lx_fail(lx, at, "Unexpected character (%s): %s", d, what);
}

/* Line and column (1-based, in characters) of byte offset pos. */
static void line_col(const char *s, size_t n, size_t pos, unsigned long *line, unsigned long *col) {
  unsigned long ln = 1, c = 1;
  if (pos > n) pos = n;
  for (size_t i = 0; i < pos;) {
    if (s[i] == '\n' || (s[i] == '\r' && !(i + 1 < pos && s[i + 1] == '\n'))) {
      ln++;
      c = 1;
      i++;
      continue;
    }
    uint32_t cp;
    i += utf8_dec((const unsigned char *)s + i, n - i, &cp);
    c++;
  }
  *line = ln;
  *col = c;
}

static int is_ident(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '$' || c >= 0x80;
}

static void skip_ws(lexer *lx) {
  while (lx->pos < lx->n) {
    char c = lx->s[lx->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    lx->pos++;
  }
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Reads a string's body (the opening quote is consumed) into out, or only
 * skips it when out is NULL. */
static int read_string(lexer *lx, char **out, size_t *len, size_t *cap, int is_name) {
  if (out) {
    *len = 0;
    buf_put(out, len, cap, "", 0);
  }
  for (;;) {
    if (lx->pos >= lx->n) {
      lx_fail(lx, lx->n,
              is_name ? "Unexpected end-of-input in field name"
                      : "Unexpected end-of-input: was expecting closing quote for a string value");
      return -1;
    }
    size_t st = lx->pos;
    while (lx->pos < lx->n) {
      unsigned char c = (unsigned char)lx->s[lx->pos];
      if (c == '"' || c == '\\' || c < 0x20) break;
      lx->pos++;
    }
    if (out && lx->pos > st) buf_put(out, len, cap, lx->s + st, lx->pos - st);
    if (lx->pos >= lx->n) continue;
    unsigned char c = (unsigned char)lx->s[lx->pos++];
    if (c == '"') return 0;
    if (c < 0x20) {
      lx_fail(
          lx, lx->pos - 1,
          "Illegal unquoted character ((CTRL-CHAR, code %u)): has to be escaped using backslash "
          "to be included in %s",
          c, is_name ? "name" : "string value");
      return -1;
    }
    /* an escape */
    if (lx->pos >= lx->n) {
      lx_fail(lx, lx->n, "Unexpected end-of-input in character escape sequence");
      return -1;
    }
    char e = lx->s[lx->pos++], ch[4];
    size_t chn = 1;
    switch (e) {
      case '"':
      case '\\':
      case '/':
        ch[0] = e;
        break;
      case 'b':
        ch[0] = '\b';
        break;
      case 'f':
        ch[0] = '\f';
        break;
      case 'n':
        ch[0] = '\n';
        break;
      case 'r':
        ch[0] = '\r';
        break;
      case 't':
        ch[0] = '\t';
        break;
      case 'u': {
        uint32_t v = 0;
        for (int i = 0; i < 4; i++) {
          if (lx->pos >= lx->n) {
            lx_fail(lx, lx->n, "Unexpected end-of-input in character escape sequence");
            return -1;
          }
          int h = hexval(lx->s[lx->pos]);
          if (h < 0) {
            lx_unexpected(lx, lx->pos, "expected a hex-digit for character escape sequence");
            return -1;
          }
          lx->pos++;
          v = (v << 4) | (uint32_t)h;
        }
        /* a surrogate pair written as two escapes */
        if (v >= 0xd800 && v < 0xdc00 && lx->pos + 6 <= lx->n && lx->s[lx->pos] == '\\' &&
            lx->s[lx->pos + 1] == 'u') {
          uint32_t lo = 0;
          int ok = 1;
          for (int i = 0; i < 4 && ok; i++) {
            int h = hexval(lx->s[lx->pos + 2 + i]);
            if (h < 0) ok = 0;
            lo = (lo << 4) | (uint32_t)(h < 0 ? 0 : h);
          }
          if (ok && lo >= 0xdc00 && lo < 0xe000) {
            v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
            lx->pos += 6;
          }
        }
        if (v >= 0xd800 && v < 0xe000) v = 0xfffd;
        chn = utf8_enc(v, ch);
        break;
      }
      default: {
        char d[64];
        char_desc(lx, lx->pos - 1, d, sizeof d);
        lx_fail(lx, lx->pos, "Unrecognized character escape %s", d);
        return -1;
      }
    }
    if (out) buf_put(out, len, cap, ch, chn);
  }
}

/* Unrecognized token: Jackson collects the rest of the word. */
static void bad_token(lexer *lx, size_t st, const char *expecting) {
  size_t e = st;
  while (e < lx->n && is_ident((unsigned char)lx->s[e]) && e - st < 256) e++;
  if (e == st) e = st + 1;
  lx_fail(lx, e, "Unrecognized token '%.*s': was expecting %s", (int)(e - st), lx->s + st,
          expecting);
}

static const char *VALID_VALUES =
    "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')";

static tk read_number(lexer *lx) {
  size_t st = lx->pos;
  int is_float = 0;
  if (lx->s[lx->pos] == '-') {
    lx->pos++;
    if (lx->pos >= lx->n || lx->s[lx->pos] < '0' || lx->s[lx->pos] > '9') {
      if (lx->pos >= lx->n) {
        lx_fail(lx, lx->n, "Unexpected end-of-input in number value");
      } else {
        char d[64];
        char_desc(lx, lx->pos, d, sizeof d);
        lx_fail(lx, lx->pos,
                "Unexpected character (%s) in numeric value: expected digit (0-9) to follow minus "
                "sign, for valid numeric value",
                d);
      }
      return TK_NONE;
    }
  }
  if (lx->s[lx->pos] == '0' && lx->pos + 1 < lx->n && lx->s[lx->pos + 1] >= '0' &&
      lx->s[lx->pos + 1] <= '9') {
    lx_fail(lx, lx->pos + 1, "Invalid numeric value: Leading zeroes not allowed");
    return TK_NONE;
  }
  while (lx->pos < lx->n && lx->s[lx->pos] >= '0' && lx->s[lx->pos] <= '9') lx->pos++;
  if (lx->pos < lx->n && lx->s[lx->pos] == '.') {
    is_float = 1;
    lx->pos++;
    if (lx->pos >= lx->n || lx->s[lx->pos] < '0' || lx->s[lx->pos] > '9') {
      char d[64];
      char_desc(lx, lx->pos, d, sizeof d);
      lx_fail(lx, lx->pos,
              "Unexpected character (%s) in numeric value: Decimal point not followed by a digit",
              d);
      return TK_NONE;
    }
    while (lx->pos < lx->n && lx->s[lx->pos] >= '0' && lx->s[lx->pos] <= '9') lx->pos++;
  }
  if (lx->pos < lx->n && (lx->s[lx->pos] == 'e' || lx->s[lx->pos] == 'E')) {
    is_float = 1;
    lx->pos++;
    if (lx->pos < lx->n && (lx->s[lx->pos] == '+' || lx->s[lx->pos] == '-')) lx->pos++;
    if (lx->pos >= lx->n || lx->s[lx->pos] < '0' || lx->s[lx->pos] > '9') {
      char d[64];
      char_desc(lx, lx->pos, d, sizeof d);
      lx_fail(
          lx, lx->pos,
          "Unexpected character (%s) in numeric value: Exponent indicator not followed by a digit",
          d);
      return TK_NONE;
    }
    while (lx->pos < lx->n && lx->s[lx->pos] >= '0' && lx->s[lx->pos] <= '9') lx->pos++;
  }
  lx->text_len = 0;
  buf_put(&lx->text, &lx->text_len, &lx->text_cap, lx->s + st, lx->pos - st);
  return is_float ? TK_FLOAT : TK_INT;
}

static int push_ctx(lexer *lx, char kind) {
  if (lx->depth >= MAX_NESTING) {
    lx_fail(lx, lx->pos,
            "Document nesting depth (%d) exceeds the maximum allowed (%d, from "
            "`StreamReadConstraints.getMaxNestingDepth()`)",
            lx->depth + 1, MAX_NESTING);
    return -1;
  }
  lx->depth++;
  lx->ctx[lx->depth] = kind;
  lx->first[lx->depth] = 1;
  lx->open_at[lx->depth] = lx->pos - 1;
  return 0;
}

/* Reads the start of a value at lx->pos (whitespace skipped): containers and
 * scalars are consumed, a string only up to its opening quote. */
static tk read_value(lexer *lx) {
  if (lx->pos >= lx->n) {
    lx_fail(lx, lx->n, "Unexpected end-of-input: expected a value");
    return TK_NONE;
  }
  char c = lx->s[lx->pos];
  switch (c) {
    case '"':
      lx->pos++;
      lx->str_open = 1;
      return TK_STRING;
    case '[':
      lx->pos++;
      return push_ctx(lx, 'a') ? TK_NONE : TK_START_ARRAY;
    case '{':
      lx->pos++;
      return push_ctx(lx, 'o') ? TK_NONE : TK_START_OBJECT;
    case 't':
    case 'f':
    case 'n': {
      const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
      size_t wl = strlen(word);
      if (lx->n - lx->pos >= wl && !memcmp(lx->s + lx->pos, word, wl) &&
          !(lx->pos + wl < lx->n && is_ident((unsigned char)lx->s[lx->pos + wl]))) {
        lx->pos += wl;
        lx->text_len = 0;
        buf_put(&lx->text, &lx->text_len, &lx->text_cap, word, wl);
        return c == 't' ? TK_TRUE : c == 'f' ? TK_FALSE : TK_NULL;
      }
      bad_token(lx, lx->pos, VALID_VALUES);
      return TK_NONE;
    }
    default:
      if (c == '-' || (c >= '0' && c <= '9')) return read_number(lx);
      if (is_ident((unsigned char)c)) {
        bad_token(lx, lx->pos, VALID_VALUES);
      } else {
        char what[128];
        snprintf(what, sizeof what, "expected a valid value %s", VALID_VALUES);
        lx_unexpected(lx, lx->pos, what);
      }
      return TK_NONE;
  }
}

static void close_mismatch(lexer *lx, char got) {
  char want = lx->ctx[lx->depth] == 'a' ? ']' : '}';
  const char *kind = lx->ctx[lx->depth] == 'a' ? "Array" : "Object";
  unsigned long l, c;
  line_col(lx->s, lx->n, lx->open_at[lx->depth], &l, &c);
  lx_fail(lx, lx->pos + 1,
          "Unexpected close marker '%c': expected '%c' (for %s starting at [Source: %s; "
          "line: %lu, column: %lu])",
          got, want, kind, "\x01", l, c);
}

static tk lx_next(lexer *lx) {
  if (lx->err) return lx->cur = TK_NONE;
  if ((lx->cur == TK_STRING || lx->cur == TK_FIELD_NAME) && lx->str_open &&
      lx->pending == TK_NONE) {
    /* the current string was never read: skip it */
    lx->str_open = 0;
    if (read_string(lx, NULL, NULL, NULL, 0)) return lx->cur = TK_NONE;
  }
  if (lx->pending != TK_NONE) {
    lx->cur = lx->pending;
    lx->pending = TK_NONE;
    return lx->cur;
  }
  skip_ws(lx);
  if (lx->depth == 0) {
    if (lx->cur != TK_NONE) return lx->cur = TK_NONE; /* one root value only */
    if (lx->pos >= lx->n) return lx->cur = TK_NONE;
    return lx->cur = read_value(lx);
  }
  if (lx->pos >= lx->n) {
    unsigned long l, c;
    line_col(lx->s, lx->n, lx->open_at[lx->depth], &l, &c);
    lx_fail(lx, lx->n,
            "Unexpected end-of-input: expected close marker for %s (start marker at [Source: "
            "%s; line: %lu, column: %lu])",
            lx->ctx[lx->depth] == 'a' ? "Array" : "Object", "\x01", l, c);
    return lx->cur = TK_NONE;
  }
  char c = lx->s[lx->pos];
  if (c == ']' || c == '}') {
    if ((c == ']') != (lx->ctx[lx->depth] == 'a')) {
      close_mismatch(lx, c);
      return lx->cur = TK_NONE;
    }
    lx->pos++;
    lx->depth--;
    return lx->cur = (c == ']' ? TK_END_ARRAY : TK_END_OBJECT);
  }
  if (!lx->first[lx->depth]) {
    if (c != ',') {
      lx_unexpected(lx, lx->pos,
                    lx->ctx[lx->depth] == 'a' ? "was expecting comma to separate Array entries"
                                              : "was expecting comma to separate Object entries");
      return lx->cur = TK_NONE;
    }
    lx->pos++;
    skip_ws(lx);
    if (lx->pos >= lx->n) {
      unsigned long l, cc;
      line_col(lx->s, lx->n, lx->open_at[lx->depth], &l, &cc);
      lx_fail(lx, lx->n,
              "Unexpected end-of-input: expected close marker for %s (start marker at [Source: "
              "%s; line: %lu, column: %lu])",
              lx->ctx[lx->depth] == 'a' ? "Array" : "Object", "\x01", l, cc);
      return lx->cur = TK_NONE;
    }
    c = lx->s[lx->pos];
  }
  lx->first[lx->depth] = 0;
  if (lx->ctx[lx->depth] == 'a') return lx->cur = read_value(lx);
  /* a field name, then its value's first token */
  if (c != '"') {
    lx_unexpected(lx, lx->pos, "was expecting double-quote to start field name");
    return lx->cur = TK_NONE;
  }
  lx->pos++;
  if (read_string(lx, &lx->name, &lx->name_len, &lx->name_cap, 1)) return lx->cur = TK_NONE;
  skip_ws(lx);
  if (lx->pos >= lx->n) {
    lx_fail(lx, lx->n,
            "Unexpected end-of-input: was expecting a colon to separate field name and value");
    return lx->cur = TK_NONE;
  }
  if (lx->s[lx->pos] != ':') {
    lx_unexpected(lx, lx->pos, "was expecting a colon to separate field name and value");
    return lx->cur = TK_NONE;
  }
  lx->pos++;
  skip_ws(lx);
  lx->str_open = 0;
  tk v = read_value(lx);
  if (v == TK_NONE) return lx->cur = TK_NONE;
  lx->pending = v;
  return lx->cur = TK_FIELD_NAME;
}

/* The text of the current token (reads the rest of a string). */
static const char *lx_text(lexer *lx, size_t *len) {
  if (lx->cur == TK_STRING && lx->str_open) {
    lx->str_open = 0;
    if (read_string(lx, &lx->text, &lx->text_len, &lx->text_cap, 0)) {
      *len = 0;
      return "";
    }
  }
  switch (lx->cur) {
    case TK_STRING:
    case TK_INT:
    case TK_FLOAT:
    case TK_TRUE:
    case TK_FALSE:
    case TK_NULL:
      *len = lx->text_len;
      return lx->text ? lx->text : "";
    case TK_FIELD_NAME:
      *len = lx->name_len;
      return lx->name;
    case TK_START_OBJECT:
      *len = 1;
      return "{";
    case TK_END_OBJECT:
      *len = 1;
      return "}";
    case TK_START_ARRAY:
      *len = 1;
      return "[";
    case TK_END_ARRAY:
      *len = 1;
      return "]";
    default:
      *len = 4;
      return "null";
  }
}

static int tk_numeric(tk t) {
  return t == TK_INT || t == TK_FLOAT;
}

/* ---- the compiler ------------------------------------------------------- */

typedef struct {
  lexer *lx;
  tw_pattern *p;
  tw_pattern_dialect d;
  int failed;
  char *err;
  size_t errlen;
  char *path; /* the dotted path of the object being read */
  size_t path_len, path_cap;
  /* the rules: a list of branches being built (event-ruler's List<Map>) */
  branch *rules;
  size_t nrules, rulescap;
  int nested;     /* an object below the top level (SNS attribute scope refuses it) */
  size_t top_len; /* the top-level key being read */
  size_t depth;   /* objects entered, 1 at the top level */
} compiler;

/* Jackson's description of the source: the text (at most SRC_SHOWN
 * characters), or REDACTED where SNS hides it. */
static void source_desc(const lexer *lx, int redacted, char *out, size_t outlen) {
  if (redacted) {
    snprintf(out, outlen, "REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled)");
    return;
  }
  size_t shown = 0, chars = 0, total = 0;
  for (size_t i = 0; i < lx->n;) {
    uint32_t cp;
    size_t k = utf8_dec((const unsigned char *)lx->s + i, lx->n - i, &cp);
    if (chars < SRC_SHOWN) {
      shown = i + k;
      chars++;
    }
    total++;
    i += k;
  }
  char trunc[64] = "";
  if (total > SRC_SHOWN) snprintf(trunc, sizeof trunc, "[truncated %zu chars]", total - SRC_SHOWN);
  snprintf(out, outlen, "(String)\"%.*s\"%s", (int)shown, lx->s, trunc);
}

/* Appends Jackson's location of byte offset at to buf. */
static void append_location_at(const lexer *lx, size_t at, char *buf, size_t buflen, int redacted) {
  unsigned long l, col;
  line_col(lx->s, lx->n, at, &l, &col);
  size_t used = strlen(buf);
  if (used >= buflen) return;
  char src[SRC_SHOWN * 4 + 64];
  source_desc(lx, redacted, src, sizeof src);
  snprintf(buf + used, buflen - used, "\n at [Source: %s; line: %lu, column: %lu]", src, l, col);
}

static void append_location(compiler *c, char *buf, size_t buflen, int redacted) {
  append_location_at(c->lx, c->lx->pos, buf, buflen, redacted);
}

static void set_err_raw(compiler *c, const char *reason) {
  if (c->failed) return;
  c->failed = 1;
  if (!c->err || !c->errlen) return;
  if (c->d == TW_PATTERN_EVENTBRIDGE) {
    snprintf(c->err, c->errlen, "Event pattern is not valid. Reason: %s", reason);
  } else {
    snprintf(c->err, c->errlen, "Invalid parameter: FilterPolicy: %s", reason);
  }
}

/* event-ruler's barf(): the reason and the parser's location. times is 2
 * where AWS catches its own error and throws it again (the location then
 * appears twice). */
static void barf_n(compiler *c, int times, const char *fmt, ...) {
  if (c->failed) return;
  char reason[SRC_SHOWN * 8 + 2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  for (int i = 0; i < times; i++) append_location(c, reason, sizeof reason, 0);
  set_err_raw(c, reason);
}

#define barf(c, ...) barf_n((c), 1, __VA_ARGS__)

/* A syntax error of the lexer, in the dialect's words ("\x01" in the
 * lexer's message stands for the source description). */
static void syntax_error(compiler *c) {
  lexer *lx = c->lx;
  if (c->failed) return;
  int redacted = c->d != TW_PATTERN_EVENTBRIDGE;
  char reason[SRC_SHOWN * 8 + 1024], src[SRC_SHOWN * 4 + 64];
  source_desc(lx, redacted, src, sizeof src);
  const char *mark = strchr(lx->msg, '\x01');
  snprintf(reason, sizeof reason, "%s%.*s%s%s", redacted ? "failed to parse JSON. " : "",
           mark ? (int)(mark - lx->msg) : (int)strlen(lx->msg), lx->msg, mark ? src : "",
           mark ? mark + 1 : "");
  append_location_at(lx, lx->err_pos, reason, sizeof reason, redacted);
  set_err_raw(c, reason);
}

/* The next token; a syntax error fails the compile. */
static tk next(compiler *c) {
  if (c->failed) return TK_NONE;
  tk t = lx_next(c->lx);
  if (c->lx->err) syntax_error(c);
  return c->failed ? TK_NONE : t;
}

static const char *text(compiler *c, size_t *len) {
  const char *s = lx_text(c->lx, len);
  if (c->lx->err) syntax_error(c);
  return s;
}

/* -- the pool: matcher lists and names, owned by the pattern -- */

static void wildcard_clear(wildcard *w);

static void matcher_free(matcher *m) {
  for (size_t i = 0; i < m->nv; i++) free(m->v[i].s);
  free(m->v);
  if (m->wc) {
    for (size_t i = 0; i < m->nv; i++) wildcard_clear(&m->wc[i]);
    free(m->wc);
  }
  free(m->nums);
}

static mlist *pool_list(compiler *c) {
  tw_pattern *p = c->p;
  if (p->npool == p->poolcap) {
    p->poolcap = p->poolcap ? p->poolcap * 2 : 8;
    p->pool = xrealloc(p->pool, p->poolcap * sizeof *p->pool);
  }
  mlist *l = xrealloc(NULL, sizeof *l);
  l->m = NULL;
  l->n = 0;
  p->pool[p->npool++] = l;
  return l;
}

static matcher *add_matcher(mlist *l, mkind k) {
  l->m = xrealloc(l->m, (l->n + 1) * sizeof *l->m);
  matcher *m = &l->m[l->n++];
  memset(m, 0, sizeof *m);
  m->kind = k;
  return m;
}

static void add_str(matcher *m, const char *s, size_t n, int fold) {
  m->v = xrealloc(m->v, (m->nv + 1) * sizeof *m->v);
  m->v[m->nv++] = fold ? fold_dup(s, n) : (pstr){xmemdup(s, n), n};
}

static char *pool_name(compiler *c, const char *s, size_t n) {
  tw_pattern *p = c->p;
  if (p->nnames == p->namescap) {
    p->namescap = p->namescap ? p->namescap * 2 : 8;
    p->names = xrealloc(p->names, p->namescap * sizeof *p->names);
  }
  char *d = xmemdup(s, n);
  p->names[p->nnames++] = d;
  return d;
}

/* -- branches -- */

static void branch_free(branch *b) {
  free(b->f);
  b->f = NULL;
  b->n = b->cap = 0;
}

static branch branch_copy(const branch *b) {
  branch r = {NULL, b->n, b->n};
  if (b->n) {
    r.f = xrealloc(NULL, b->n * sizeof *r.f);
    memcpy(r.f, b->f, b->n * sizeof *r.f);
  }
  return r;
}

/* rule.put(name, values): a later key overrides an earlier one. */
static void branch_put(branch *b, field f) {
  for (size_t i = 0; i < b->n; i++) {
    if (b->f[i].nlen == f.nlen && !memcmp(b->f[i].name, f.name, f.nlen)) {
      b->f[i] = f;
      return;
    }
  }
  if (b->n == b->cap) {
    b->cap = b->cap ? b->cap * 2 : 4;
    b->f = xrealloc(b->f, b->cap * sizeof *b->f);
  }
  b->f[b->n++] = f;
}

static void rules_add(compiler *c, branch b) {
  if (c->nrules == c->rulescap) {
    c->rulescap = c->rulescap ? c->rulescap * 2 : 4;
    c->rules = xrealloc(c->rules, c->rulescap * sizeof *c->rules);
  }
  c->rules[c->nrules++] = b;
}

static void rules_clear(compiler *c) {
  for (size_t i = 0; i < c->nrules; i++) branch_free(&c->rules[i]);
  c->nrules = 0;
}

/* -- paths -- */

static size_t path_push(compiler *c, const char *name, size_t n) {
  size_t old = c->path_len;
  if (c->path_len) buf_put(&c->path, &c->path_len, &c->path_cap, ".", 1);
  buf_put(&c->path, &c->path_len, &c->path_cap, name, n);
  return old;
}

static void path_pop(compiler *c, size_t old) {
  c->path_len = old;
  if (c->path) c->path[old] = 0;
}

/* -- wildcards -- */

/* Parses a wildcard pattern as AWS does (\* is a literal star, \\ a literal
 * backslash, any other backslash an error; "**" is an error). Positions count
 * bytes from the opening quote, as AWS's do. */
static void wildcard_clear(wildcard *w) {
  for (size_t j = 0; j < w->nseg; j++) free(w->seg[j].s);
  free(w->seg);
  memset(w, 0, sizeof *w);
}

static int wildcard_parse(const char *s, size_t n, wildcard *w, char *why, size_t whylen) {
  memset(w, 0, sizeof *w);
  char *cur = xrealloc(NULL, n + 1);
  size_t cl = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '*') {
      if (i + 1 < n && s[i + 1] == '*') {
        snprintf(why, whylen, "Consecutive wildcard characters at pos %zu", i + 1);
        free(cur);
        wildcard_clear(w);
        return -1;
      }
      if (i == 0) w->lead_star = 1;
      w->seg = xrealloc(w->seg, (w->nseg + 1) * sizeof *w->seg);
      w->seg[w->nseg++] = (pstr){xmemdup(cur, cl), cl};
      cl = 0;
      if (i + 1 == n) w->trail_star = 1;
    } else if (s[i] == '\\') {
      if (i + 1 < n && (s[i + 1] == '*' || s[i + 1] == '\\')) {
        cur[cl++] = s[++i];
      } else {
        snprintf(why, whylen, "Invalid escape character at pos %zu", i + 1);
        free(cur);
        wildcard_clear(w);
        return -1;
      }
    } else {
      cur[cl++] = s[i];
    }
  }
  w->seg = xrealloc(w->seg, (w->nseg + 1) * sizeof *w->seg);
  w->seg[w->nseg++] = (pstr){xmemdup(cur, cl), cl};
  free(cur);
  return 0;
}

/* The pattern's complexity, as AWS measures it: the largest number of places
 * in the pattern a partial match can be at once, over every possible input
 * (a breadth-first walk over sets of positions, capped). */
static uint64_t set_hash(const uint64_t *set, size_t words) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < words; i++) h = (h ^ set[i]) * 1099511628211ull;
  return h;
}

static int wildcard_complexity(const wildcard *w) {
  /* tokens: literal bytes and stars */
  size_t m = 0;
  for (size_t i = 0; i < w->nseg; i++) m += w->seg[i].n + 1;
  m--; /* stars between segments */
  if (!w->lead_star && !w->trail_star && w->nseg == 1) return 0;
  short *tok = xrealloc(NULL, (m + 1) * sizeof *tok);
  size_t t = 0;
  for (size_t i = 0; i < w->nseg; i++) {
    for (size_t j = 0; j < w->seg[i].n; j++) tok[t++] = (unsigned char)w->seg[i].s[j];
    if (i + 1 < w->nseg) tok[t++] = -1;
  }
  /* state sets as bitsets of m+1 bits */
  size_t words = (m + 1 + 63) / 64, cap = 64, nsets = 0;
  uint64_t *sets = xrealloc(NULL, cap * words * sizeof *sets);
  uint64_t *hashes = xrealloc(NULL, cap * sizeof *hashes);
  uint64_t *tmp = xrealloc(NULL, words * sizeof *tmp);
  int best = 0;
  /* alphabet: bytes in the pattern plus one other */
  unsigned char alpha[257];
  int na = 0, seen[256] = {0};
  for (size_t i = 0; i < m; i++) {
    if (tok[i] >= 0 && !seen[tok[i]]) {
      seen[tok[i]] = 1;
      alpha[na++] = (unsigned char)tok[i];
    }
  }
  for (int b = 0; b < 256; b++) {
    if (!seen[b]) {
      alpha[na++] = (unsigned char)b;
      break;
    }
  }
#define CLOSE(set)                                       \
  for (size_t q = 0; q < m; q++)                         \
    if (tok[q] == -1 && ((set)[q / 64] >> (q % 64) & 1)) \
  (set)[(q + 1) / 64] |= 1ull << ((q + 1) % 64)
  memset(sets, 0, words * sizeof *sets);
  sets[0] = 1;
  CLOSE(sets);
  hashes[0] = set_hash(sets, words);
  nsets = 1;
  for (size_t at = 0; at < nsets && nsets < MAX_WILDCARD_SETS; at++) {
    uint64_t *cur = sets + at * words;
    int cnt = 0;
    for (size_t q = 0; q < m; q++) cnt += (int)(cur[q / 64] >> (q % 64) & 1);
    if (cnt > best) best = cnt;
    if (best > WILDCARD_MAX_COMPLEXITY) break;
    for (int a = 0; a < na; a++) {
      memset(tmp, 0, words * sizeof *tmp);
      int any = 0;
      for (size_t q = 0; q < m; q++) {
        if (!(cur[q / 64] >> (q % 64) & 1)) continue;
        if (tok[q] == -1) {
          tmp[q / 64] |= 1ull << (q % 64);
          any = 1;
        } else if (tok[q] == alpha[a]) {
          tmp[(q + 1) / 64] |= 1ull << ((q + 1) % 64);
          any = 1;
        }
      }
      if (!any) continue;
      CLOSE(tmp);
      uint64_t h = set_hash(tmp, words);
      int dup = 0;
      for (size_t k = 0; k < nsets && !dup; k++)
        if (hashes[k] == h && !memcmp(sets + k * words, tmp, words * sizeof *tmp)) dup = 1;
      if (dup) continue;
      if (nsets == cap) {
        cap *= 2;
        sets = xrealloc(sets, cap * words * sizeof *sets);
        hashes = xrealloc(hashes, cap * sizeof *hashes);
        cur = sets + at * words;
      }
      memcpy(sets + nsets * words, tmp, words * sizeof *tmp);
      hashes[nsets++] = h;
    }
  }
#undef CLOSE
  free(hashes);
  free(sets);
  free(tmp);
  free(tok);
  return best;
}

static int wildcard_match(const wildcard *w, const char *s, size_t n) {
  if (w->nseg == 1) return s && n == w->seg[0].n && !memcmp(s, w->seg[0].s, n);
  const pstr *first = &w->seg[0], *last = &w->seg[w->nseg - 1];
  if (n < first->n || memcmp(s, first->s, first->n)) return 0;
  size_t lo = first->n, hi = n;
  if (hi - lo < last->n || memcmp(s + n - last->n, last->s, last->n)) return 0;
  hi -= last->n;
  for (size_t i = 1; i + 1 < w->nseg; i++) {
    const pstr *g = &w->seg[i];
    if (!g->n) continue;
    if (hi - lo < g->n) return 0;
    const char *f = memmem(s + lo, hi - lo, g->s, g->n);
    if (!f) return 0;
    lo = (size_t)(f - s) + g->n;
  }
  return 1;
}

/* -- CIDR -- */

static int cidr_parse(compiler *c, const char *s, size_t n, matcher *m) {
  /* AWS splits at '/' as Java's split() does: trailing empty pieces vanish */
  size_t end = n, at = 0, pieces = 1;
  while (end > 0 && s[end - 1] == '/') end--;
  for (size_t i = 0; i < end; i++) {
    if (s[i] == '/') {
      if (pieces == 1) at = i;
      pieces++;
    }
  }
  if (pieces != 2 || end == 0) {
    set_err_raw(c, "Malformed CIDR, one '/' required");
    return -1;
  }
  const char *ms = s + at + 1;
  size_t ml = end - at - 1;
  /* Integer.parseInt */
  long bits = 0;
  size_t i = 0;
  int neg = 0;
  if (ml && (ms[0] == '-' || ms[0] == '+')) {
    neg = ms[0] == '-';
    i = 1;
  }
  if (i >= ml || ml - i > 10) {
    set_err_raw(c, "Malformed CIDR, mask bits must be an integer");
    return -1;
  }
  for (; i < ml; i++) {
    if (ms[i] < '0' || ms[i] > '9') {
      set_err_raw(c, "Malformed CIDR, mask bits must be an integer");
      return -1;
    }
    bits = bits * 10 + (ms[i] - '0');
  }
  if (neg) bits = -bits;
  if (bits < 0) {
    set_err_raw(c, "Malformed CIDR, mask bits must not be negative");
    return -1;
  }
  uint8_t ip[16];
  int len = ip_parse(s, at, ip);
  char msg[600];
  if (len <= 0) {
    snprintf(msg, sizeof msg, "%s IP address: %.*s", len < 0 ? "Nonstandard" : "Invalid", (int)at,
             s);
    set_err_raw(c, msg);
    return -1;
  }
  if (len == 4 && bits > 31) {
    set_err_raw(c, "IPv4 mask bits must be < 32");
    return -1;
  }
  if (len == 16 && bits > 127) {
    set_err_raw(c, "IPv6 mask bits must be < 128");
    return -1;
  }
  m->iplen = len;
  for (int b = 0; b < len; b++) {
    int fixed = (int)bits - 8 * b; /* fixed bits in this byte */
    uint8_t mask = fixed >= 8 ? 0xff : fixed <= 0 ? 0 : (uint8_t)(0xff << (8 - fixed));
    m->ip[b] = ip[b] & mask;
    m->ip2[b] = ip[b] | (uint8_t)~mask;
  }
  return 0;
}

/* -- values -- */

/* An exact number in a value list: numeric equality within the dialect's
 * range, equality of the number itself beyond it. */
static void add_number(compiler *c, mlist *l, const char *t, size_t n, int is_int) {
  matcher *m = add_matcher(l, MK_NUM);
  char buf[128];
  snprintf(buf, sizeof buf, "%.*s", (int)(n < 127 ? n : 127), t);
  m->d = strtod(buf, NULL);
  m->has_sc = scale(m->d, dialect_limit(c->d), &m->sc);
  if (is_int) {
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (*end == 0 && !(v == LLONG_MAX || v == LLONG_MIN)) {
      m->is_int = 1;
      m->iv = v;
    }
  }
}

/* A number for anything-but or numeric: must be within the range. */
static int number_in_range(compiler *c, const char *t, size_t n, int64_t *out) {
  char buf[128];
  snprintf(buf, sizeof buf, "%.*s", (int)(n < 127 ? n : 127), t);
  double d = strtod(buf, NULL);
  return scale(d, dialect_limit(c->d), out);
}

static void process_match_expression(compiler *c, mlist *l);

/* The values of a field: [ value, value, ... ] (the '[' was read). */
static void write_rules(compiler *c, const char *name, size_t nlen) {
  mlist *l = pool_list(c);
  tk t;
  while ((t = next(c)) != TK_END_ARRAY) {
    if (c->failed) return;
    size_t n;
    const char *s;
    switch (t) {
      case TK_START_OBJECT:
        process_match_expression(c, l);
        break;
      case TK_STRING: {
        s = text(c, &n);
        if (c->failed) return;
        matcher *m = add_matcher(l, MK_STR);
        add_str(m, s, n, 0);
        uint8_t ip[16];
        int len = ip_parse(s, n, ip);
        if (len > 0) {
          m->iplen = len;
          memcpy(m->ip, ip, 16);
        }
        break;
      }
      case TK_INT:
      case TK_FLOAT:
        s = text(c, &n);
        add_number(c, l, s, n, t == TK_INT);
        break;
      case TK_NULL:
        add_matcher(l, MK_NULL);
        break;
      case TK_TRUE:
        add_matcher(l, MK_TRUE);
        break;
      case TK_FALSE:
        add_matcher(l, MK_FALSE);
        break;
      default:
        barf(c, "Match value must be String, number, true, false, or null");
        return;
    }
    if (c->failed) return;
  }
  if (c->failed) return;
  if (!l->n) {
    barf(c, "Empty arrays are not allowed");
    return;
  }
  if (!c->nrules) rules_add(c, (branch){0});
  char *nm = pool_name(c, name, nlen);
  field f = {nm, nlen, l, c->top_len, c->depth};
  for (size_t i = 0; i < c->nrules; i++) branch_put(&c->rules[i], f);
}

static int end_object_or(compiler *c, const char *why) {
  if (next(c) != TK_END_OBJECT) {
    barf(c, "%s", why);
    return -1;
  }
  return 0;
}

#define ONE_KEY "Only one key allowed in match expression"
#define TOO_MANY "Too many elements in numeric expression"

/* {"prefix": {"equals-ignore-case": "x"}} and the suffix form (EventBridge). */
static void process_affix_ci(compiler *c, mlist *l, int suffix) {
  if (next(c) != TK_FIELD_NAME) {
    barf(c, suffix ? "Suffix expression name not found" : "Prefix expression name not found");
    return;
  }
  size_t n;
  const char *op = text(c, &n);
  if (strcmp(op, "equals-ignore-case")) {
    barf(c, "Unsupported %s pattern: %s", suffix ? "suffix" : "prefix", op);
    return;
  }
  if (next(c) != TK_STRING) {
    barf(c, "equals-ignore-case match pattern must be a string");
    return;
  }
  const char *s = text(c, &n);
  if (c->failed) return;
  matcher *m = add_matcher(l, suffix ? MK_SUFFIX_CI : MK_PREFIX_CI);
  add_str(m, s, n, 1);
  if (end_object_or(c, ONE_KEY)) return;
  end_object_or(c, ONE_KEY);
}

static void process_numeric(compiler *c, mlist *l);
static void process_anything_but(compiler *c, mlist *l);

static void process_match_expression(compiler *c, mlist *l) {
  int eb = c->d == TW_PATTERN_EVENTBRIDGE;
  if (next(c) != TK_FIELD_NAME) {
    barf(c, "Match expression name not found");
    return;
  }
  size_t n;
  char op[64];
  const char *o = text(c, &n);
  snprintf(op, sizeof op, "%s", o);
  int known = n < sizeof op;
  tk t;
  if (known && (!strcmp(op, "prefix") || !strcmp(op, "suffix"))) {
    int suffix = op[0] == 's';
    t = next(c);
    if (t == TK_START_OBJECT && eb) {
      process_affix_ci(c, l, suffix);
      return;
    }
    if (t != TK_STRING) {
      barf(c, "%s match pattern must be a string", op);
      return;
    }
    const char *s = text(c, &n);
    if (c->failed) return;
    add_str(add_matcher(l, suffix ? MK_SUFFIX : MK_PREFIX), s, n, 0);
    end_object_or(c, ONE_KEY);
  } else if (known && !strcmp(op, "numeric")) {
    if (next(c) != TK_START_ARRAY) {
      barf(c, "Value of numeric must be an array.");
      return;
    }
    process_numeric(c, l);
    if (!c->failed) end_object_or(c, TOO_MANY);
  } else if (known && !strcmp(op, "anything-but")) {
    process_anything_but(c, l);
  } else if (known && !strcmp(op, "exists")) {
    t = next(c);
    if (t != TK_TRUE && t != TK_FALSE) {
      barf(c, "exists match pattern must be either true or false.");
      return;
    }
    add_matcher(l, t == TK_TRUE ? MK_EXISTS : MK_ABSENT);
    end_object_or(c, ONE_KEY);
  } else if (known && !strcmp(op, "cidr")) {
    if (next(c) != TK_STRING) {
      barf(c, "prefix match pattern must be a string");
      return;
    }
    const char *s = text(c, &n);
    if (c->failed) return;
    matcher *m = add_matcher(l, MK_CIDR);
    if (cidr_parse(c, s, n, m)) return;
    end_object_or(c, ONE_KEY);
  } else if (known && !strcmp(op, "equals-ignore-case")) {
    if (next(c) != TK_STRING) {
      barf(c, "equals-ignore-case match pattern must be a string");
      return;
    }
    const char *s = text(c, &n);
    if (c->failed) return;
    add_str(add_matcher(l, MK_EQ_CI), s, n, 1);
    end_object_or(c, ONE_KEY);
  } else if (known && eb && !strcmp(op, "wildcard")) {
    if (next(c) != TK_STRING) {
      barf(c, "wildcard match pattern must be a string");
      return;
    }
    const char *s = text(c, &n);
    if (c->failed) return;
    matcher *m = add_matcher(l, MK_WILDCARD);
    add_str(m, s, n, 0);
    m->wc = xrealloc(NULL, sizeof *m->wc);
    char why[128];
    if (wildcard_parse(s, n, &m->wc[0], why, sizeof why)) {
      barf(c, "%s", why);
      return;
    }
    end_object_or(c, ONE_KEY);
  } else {
    barf(c, "Unrecognized match type %s", o);
  }
}

/* ["op", value, ...] after "numeric": (the '[' was read). */
static void process_numeric(compiler *c, mlist *l) {
  tk t = next(c);
  size_t n;
  if (t != TK_STRING) {
    const char *s = text(c, &n);
    barf(c, "Invalid member in numeric match: %.*s", (int)n, s);
    return;
  }
  char op[16];
  const char *o = text(c, &n);
  if (c->failed) return;
  snprintf(op, sizeof op, "%.*s", (int)(n < 15 ? n : 15), o);
  int opok = n < 3;
  t = next(c);
  if (c->failed) return;
  matcher *m;
  int64_t v;
  if (opok && !strcmp(op, "=")) {
    if (!tk_numeric(t)) {
      barf(c, "Value of equals must be numeric");
      return;
    }
    const char *s = text(c, &n);
    if (!number_in_range(c, s, n, &v)) {
      /* the value is checked after the closing bracket is read */
      if (next(c) != TK_END_ARRAY) {
        barf(c, TOO_MANY);
        return;
      }
      barf(c, "%s", range_msg(c->d));
      return;
    }
    if (next(c) != TK_END_ARRAY) {
      barf(c, TOO_MANY);
      return;
    }
    m = add_matcher(l, MK_RANGE);
    m->has_lo = m->has_hi = 1;
    m->lo = m->hi = v;
    return;
  }
  if (opok && (!strcmp(op, ">=") || !strcmp(op, ">"))) {
    if (!tk_numeric(t)) {
      barf(c, "Value of %s must be numeric", op);
      return;
    }
    const char *s = text(c, &n);
    int64_t lo;
    int lo_ok = number_in_range(c, s, n, &lo);
    int lo_open = op[1] == 0;
    t = next(c);
    if (c->failed) return;
    if (t == TK_END_ARRAY) {
      if (!lo_ok) {
        barf(c, "%s", range_msg(c->d));
        return;
      }
      m = add_matcher(l, MK_RANGE);
      m->has_lo = 1;
      m->lo_open = lo_open;
      m->lo = lo;
      return;
    }
    /* a range: the upper bound */
    if (t != TK_STRING) {
      const char *x = text(c, &n);
      barf(c, "Bad value in numeric range: %.*s", (int)n, x);
      return;
    }
    const char *o2 = text(c, &n);
    if (c->failed) return;
    char op2[16];
    snprintf(op2, sizeof op2, "%.*s", (int)(n < 15 ? n : 15), o2);
    int hi_open;
    if (n < 3 && !strcmp(op2, "<")) {
      hi_open = 1;
    } else if (n < 3 && !strcmp(op2, "<=")) {
      hi_open = 0;
    } else {
      barf(c, "Bad numeric range operator: %.*s", (int)n, o2);
      return;
    }
    if (!tk_numeric(next(c))) {
      barf(c, "Value of %s must be numeric", op2);
      return;
    }
    const char *s2 = text(c, &n);
    int64_t hi;
    int hi_ok = number_in_range(c, s2, n, &hi);
    if (next(c) != TK_END_ARRAY) {
      barf(c, "Too many terms in numeric range expression");
      return;
    }
    if (!lo_ok || !hi_ok) {
      barf(c, "%s", range_msg(c->d));
      return;
    }
    if (lo >= hi) {
      barf(c, "Bottom must be less than top");
      return;
    }
    m = add_matcher(l, MK_RANGE);
    m->has_lo = m->has_hi = 1;
    m->lo_open = lo_open;
    m->hi_open = hi_open;
    m->lo = lo;
    m->hi = hi;
    return;
  }
  if (opok && (!strcmp(op, "<=") || !strcmp(op, "<"))) {
    if (!tk_numeric(t)) {
      barf(c, "Value of %s must be numeric", op);
      return;
    }
    const char *s = text(c, &n);
    int64_t hi;
    int ok = number_in_range(c, s, n, &hi);
    if (next(c) != TK_END_ARRAY) {
      barf(c, TOO_MANY);
      return;
    }
    if (!ok) {
      barf(c, "%s", range_msg(c->d));
      return;
    }
    m = add_matcher(l, MK_RANGE);
    m->has_hi = 1;
    m->hi_open = op[1] == 0;
    m->hi = hi;
    return;
  }
  barf(c, "Unrecognized numeric range operator: %.*s", (int)strlen(op), op);
}

static void add_wildcard_value(compiler *c, matcher *m, const char *s, size_t n) {
  add_str(m, s, n, 0);
  m->wc = xrealloc(m->wc, m->nv * sizeof *m->wc);
  m->wc[m->nv - 1] = (wildcard){0};
  char why[128];
  if (wildcard_parse(s, n, &m->wc[m->nv - 1], why, sizeof why)) barf(c, "%s", why);
}

/* {"anything-but": ...} (the field name was read). */
static void process_anything_but(compiler *c, mlist *l) {
  int eb = c->d == TW_PATTERN_EVENTBRIDGE;
  mkind kind = MK_AB_STRS;
  size_t n;
  tk t = next(c);
  if (t == TK_START_OBJECT) {
    if (next(c) != TK_FIELD_NAME) {
      barf(c, "Anything-But expression name not found");
      return;
    }
    const char *op = text(c, &n);
    if (!strcmp(op, "prefix")) {
      kind = MK_AB_PREFIX;
    } else if (eb && !strcmp(op, "suffix")) {
      kind = MK_AB_SUFFIX;
    } else if (eb && !strcmp(op, "equals-ignore-case")) {
      kind = MK_AB_CI;
    } else if (eb && !strcmp(op, "wildcard")) {
      kind = MK_AB_WILDCARD;
    } else {
      barf(c, "Unsupported anything-but pattern: %s", op);
      return;
    }
    t = next(c);
    if (!eb) {
      /* SNS: a single prefix */
      if (t != TK_STRING) {
        barf(c, "prefix match pattern must be a string");
        return;
      }
      const char *s = text(c, &n);
      if (c->failed) return;
      if (!n) {
        barf(c, "Null prefix not allowed");
        return;
      }
      add_str(add_matcher(l, MK_AB_PREFIX), s, n, 0);
      if (end_object_or(c, ONE_KEY)) return;
      end_object_or(c, ONE_KEY);
      return;
    }
  }
  if (c->failed) return;
  if (t != TK_START_ARRAY && t != TK_STRING && !tk_numeric(t)) {
    barf(c, "Value of anything-but must be an array or single string/number value.");
    return;
  }
  const char *type_msg = kind == MK_AB_CI
                             ? "Inside anything-but/equals-ignore-case list, number|start|null|"
                               "boolean is not supported."
                         : kind == MK_AB_WILDCARD ? "wildcard match pattern must be a string"
                                                  : "prefix/suffix match pattern must be a string";
  if (t == TK_START_ARRAY) {
    if (kind == MK_AB_STRS) {
      /* strings or numbers, not both; AWS re-throws these errors (2 locations) */
      matcher *ms = NULL, *mn = NULL;
      mlist tmp = {0};
      ms = add_matcher(&tmp, MK_AB_STRS);
      int has_num = 0, has_str = 0;
      while ((t = next(c)) != TK_END_ARRAY && !c->failed) {
        const char *s = text(c, &n);
        if (t == TK_STRING) {
          if (c->failed) break;
          add_str(ms, s, n, 0);
          has_str = 1;
        } else if (tk_numeric(t)) {
          int64_t v;
          if (!number_in_range(c, s, n, &v)) {
            barf(c, "%s", range_msg(c->d));
            break;
          }
          ms->nums = xrealloc(ms->nums, (ms->nnums + 1) * sizeof *ms->nums);
          ms->nums[ms->nnums++] = v;
          has_num = 1;
        } else {
          barf_n(c, 2, "Inside anything but list, start|null|boolean is not supported.");
          break;
        }
      }
      if (!c->failed && has_num == has_str)
        barf(c,
             "Inside anything but list, either all values are number or string, mixed type is "
             "not supported");
      if (c->failed) {
        matcher_free(ms);
        free(tmp.m);
        return;
      }
      mn = add_matcher(l, has_num ? MK_AB_NUMS : MK_AB_STRS);
      *mn = *ms;
      mn->kind = has_num ? MK_AB_NUMS : MK_AB_STRS;
      free(tmp.m);
    } else {
      matcher *m = add_matcher(l, kind);
      while ((t = next(c)) != TK_END_ARRAY && !c->failed) {
        if (t != TK_STRING) {
          barf_n(c, 2, "%s", type_msg);
          return;
        }
        const char *s = text(c, &n);
        if (c->failed) return;
        if ((kind == MK_AB_PREFIX || kind == MK_AB_SUFFIX) && !n) {
          barf_n(c, 2, "Null prefix/suffix not allowed");
          return;
        }
        if (kind == MK_AB_WILDCARD) {
          add_wildcard_value(c, m, s, n);
        } else {
          add_str(m, s, n, kind == MK_AB_CI);
        }
        if (c->failed) return;
      }
      if (c->failed) return;
    }
  } else if (kind == MK_AB_STRS) {
    const char *s = text(c, &n);
    if (c->failed) return;
    if (t == TK_STRING) {
      add_str(add_matcher(l, MK_AB_STRS), s, n, 0);
    } else {
      int64_t v;
      if (!number_in_range(c, s, n, &v)) {
        set_err_raw(c, range_msg(c->d));
        return;
      }
      matcher *m = add_matcher(l, MK_AB_NUMS);
      m->nums = xrealloc(NULL, sizeof *m->nums);
      m->nums[0] = v;
      m->nnums = 1;
    }
  } else {
    if (t != TK_STRING) {
      barf(c, "%s", type_msg);
      return;
    }
    const char *s = text(c, &n);
    if (c->failed) return;
    if ((kind == MK_AB_PREFIX || kind == MK_AB_SUFFIX) && !n) {
      barf(c, "Null prefix/suffix not allowed");
      return;
    }
    matcher *m = add_matcher(l, kind);
    if (kind == MK_AB_WILDCARD) {
      add_wildcard_value(c, m, s, n);
      if (c->failed) return;
    } else {
      add_str(m, s, n, kind == MK_AB_CI);
    }
  }
  if (c->failed) return;
  if (end_object_or(c, TOO_MANY)) return;
  if (kind != MK_AB_STRS) end_object_or(c, TOO_MANY);
}

static void parse_object(compiler *c, int inside_or);

static const char *const RESERVED[] = {"exactly",
                                       "equals-ignore-case",
                                       "prefix",
                                       "suffix",
                                       "anything-but",
                                       "exists",
                                       "wildcard",
                                       "numeric",
                                       "cidr",
                                       "=",
                                       "<",
                                       "<=",
                                       ">",
                                       ">=",
                                       "regex",
                                       "not-wildcard",
                                       "not-equals-ignore-case",
                                       "date-after",
                                       "date-on-or-after",
                                       "date-before",
                                       "date-on-or-before",
                                       "in-date-range",
                                       "ip-address-in-range",
                                       "ip-address-not-in-range"};

static int reserved(const char *s) {
  for (size_t i = 0; i < sizeof RESERVED / sizeof *RESERVED; i++)
    if (!strcmp(s, RESERVED[i])) return 1;
  return 0;
}

/* Skips one valid JSON value in raw text from i; returns the offset after it. */
static size_t raw_skip(const char *s, size_t n, size_t i) {
  int depth = 0;
  while (i < n) {
    char ch = s[i];
    if (ch == '"') {
      i++;
      while (i < n && s[i] != '"') i += s[i] == '\\' ? 2 : 1;
      i++;
      if (!depth) return i;
      continue;
    }
    if (ch == '[' || ch == '{') depth++;
    if (ch == ']' || ch == '}') {
      depth--;
      i++;
      if (depth <= 0) return i;
      continue;
    }
    if (!depth && (ch == ',' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')) return i;
    i++;
  }
  return i;
}

static size_t raw_ws(const char *s, size_t n, size_t i) {
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  return i;
}

/* SNS only reads "$or" as OR when its value is an array of at least two
 * objects whose keys are not reserved words; otherwise "$or" is a plain key.
 * The text was checked for syntax already. i: offset after the '['. */
static int sns_or_applies(const char *s, size_t n, size_t i) {
  int count = 0;
  for (;;) {
    i = raw_ws(s, n, i);
    if (i >= n) return 0;
    if (s[i] == ']') break;
    if (s[i] == ',') {
      i++;
      continue;
    }
    if (s[i] != '{') return 0;
    count++;
    /* the object's keys */
    size_t j = i + 1;
    for (;;) {
      j = raw_ws(s, n, j);
      if (j >= n) return 0;
      if (s[j] == '}') break;
      if (s[j] == ',') {
        j++;
        continue;
      }
      size_t ke = raw_skip(s, n, j);
      char key[64];
      size_t kl = ke - j >= 2 ? ke - j - 2 : 0;
      if (kl < sizeof key) {
        memcpy(key, s + j + 1, kl);
        key[kl] = 0;
        if (!memchr(key, '\\', kl) && reserved(key)) return 0;
      }
      j = raw_ws(s, n, ke);
      if (j < n && s[j] == ':') j++;
      j = raw_ws(s, n, j);
      j = raw_skip(s, n, j);
    }
    i = j + 1;
  }
  return count >= 2;
}

/* "$or": [ {...}, {...} ] (the field name was read). */
static void parse_or(compiler *c) {
  branch *current = c->rules;
  size_t ncurrent = c->nrules;
  c->rules = NULL;
  c->nrules = c->rulescap = 0;
  if (next(c) != TK_START_ARRAY) {
    barf(c, "It must be an Array followed with $or.");
    goto done;
  }
  int count = 0;
  tk t;
  while ((t = next(c)) != TK_END_ARRAY && !c->failed) {
    count++;
    if (t != TK_START_OBJECT) {
      barf(c, "Only JSON object is allowed in array of $or relationship.");
      goto done;
    }
    /* parse this alternative on top of a copy of the current rules */
    branch *outer = c->rules;
    size_t nouter = c->nrules, capouter = c->rulescap;
    c->rules = NULL;
    c->nrules = c->rulescap = 0;
    for (size_t i = 0; i < ncurrent; i++) rules_add(c, branch_copy(&current[i]));
    if (!c->nrules) rules_add(c, (branch){0});
    parse_object(c, 1);
    branch *alt = c->rules;
    size_t nalt = c->nrules;
    c->rules = outer;
    c->nrules = nouter;
    c->rulescap = capouter;
    for (size_t i = 0; i < nalt; i++) {
      if (c->nrules >= MAX_BRANCHES) {
        branch_free(&alt[i]);
        continue;
      }
      rules_add(c, alt[i]);
    }
    free(alt);
    if (c->failed) goto done;
    if (c->nrules >= MAX_BRANCHES) {
      set_err_raw(c, c->d == TW_PATTERN_EVENTBRIDGE
                         ? "Rule is too complex - the $or clauses make more than 1000 combinations"
                         : "Filter policy is too complex");
      goto done;
    }
  }
  if (!c->failed && count < 2) barf(c, "There must have at least 2 Objects in $or relationship.");
done:
  for (size_t i = 0; i < ncurrent; i++) branch_free(&current[i]);
  free(current);
}

/* An object's keys (the '{' was read). */
static void parse_object(compiler *c, int inside_or) {
  int fields = 0;
  tk t;
  while ((t = next(c)) != TK_END_OBJECT) {
    if (c->failed) return;
    fields = 1;
    size_t n;
    const char *nm = text(c, &n);
    if (n == 3 && !memcmp(nm, "$or", 3)) {
      int as_or = 1;
      if (c->d != TW_PATTERN_EVENTBRIDGE)
        as_or = c->lx->pending == TK_START_ARRAY && sns_or_applies(c->lx->s, c->lx->n, c->lx->pos);
      if (as_or) {
        parse_or(c);
        if (c->failed) return;
        continue;
      }
    }
    char *name = xmemdup(nm, n);
    if (!c->path_len) c->top_len = n;
    if (inside_or && reserved(name)) {
      barf(c, "%s is Ruler reserved fieldName which cannot be used inside $or.", name);
      free(name);
      return;
    }
    t = next(c);
    if (t == TK_START_OBJECT) {
      c->nested = 1;
      size_t old = path_push(c, name, n);
      c->depth++;
      parse_object(c, inside_or);
      c->depth--;
      path_pop(c, old);
    } else if (t == TK_START_ARRAY) {
      size_t old = path_push(c, name, n);
      write_rules(c, c->path, c->path_len);
      path_pop(c, old);
    } else if (!c->failed) {
      barf(c, "\"%s\" must be an object or an array", name);
    }
    free(name);
    if (c->failed) return;
  }
  if (!c->failed && !fields) barf(c, "Empty objects are not allowed");
}

/* ---- SNS limits --------------------------------------------------------- */

/* Top-level keys of one branch (nested keys do not count). */
static size_t top_keys(const branch *b) {
  size_t count = 0;
  for (size_t i = 0; i < b->n; i++) {
    const field *f = &b->f[i];
    int seen = 0;
    for (size_t j = 0; j < i && !seen; j++)
      seen = b->f[j].top_len == f->top_len && !memcmp(f->name, b->f[j].name, f->top_len);
    count += !seen;
  }
  return count;
}

/* AWS's combination count: each array multiplies by its number of values and
 * by its nesting depth; each branch of $or counts on its own and they add up
 * (every branch of the compiled pattern is one term of that sum). */
static double combinations(const tw_pattern *p) {
  double total = 0;
  for (size_t i = 0; i < p->nb; i++) {
    double prod = 1;
    for (size_t j = 0; j < p->b[i].n; j++) {
      const field *f = &p->b[i].f[j];
      prod *= (double)f->ml->n * (double)f->depth;
    }
    total += prod;
  }
  return total;
}

/* ---- public: compile ---------------------------------------------------- */

void tw_pattern_free(tw_pattern *p) {
  if (!p) return;
  for (size_t i = 0; i < p->nb; i++) free(p->b[i].f);
  free(p->b);
  for (size_t i = 0; i < p->npool; i++) {
    for (size_t j = 0; j < p->pool[i]->n; j++) matcher_free(&p->pool[i]->m[j]);
    free(p->pool[i]->m);
    free(p->pool[i]);
  }
  free(p->pool);
  for (size_t i = 0; i < p->nnames; i++) free(p->names[i]);
  free(p->names);
  free(p);
}

/* A full syntax check (SNS parses the policy as JSON before compiling it). */
static int syntax_check(compiler *c) {
  lexer *lx = c->lx;
  tk t;
  do {
    t = lx_next(lx);
    if (t == TK_STRING) {
      size_t n;
      lx_text(lx, &n);
    }
  } while (!lx->err && t != TK_NONE);
  if (lx->err) {
    syntax_error(c);
    return -1;
  }
  return 0;
}

static void lexer_reset(lexer *lx) {
  lx->pos = 0;
  lx->cur = lx->pending = TK_NONE;
  lx->str_open = 0;
  lx->depth = 0;
  lx->err = 0;
}

tw_pattern *tw_pattern_compile(const char *json, size_t len, tw_pattern_dialect d, char *err,
                               size_t errlen) {
  if (err && errlen) err[0] = 0;
  if (!json) json = "";
  lexer *lx = calloc(1, sizeof *lx);
  tw_pattern *p = calloc(1, sizeof *p);
  if (!lx || !p) abort();
  lx->s = json;
  lx->n = len;
  p->dialect = d;
  compiler c = {.lx = lx, .p = p, .d = d, .err = err, .errlen = errlen, .depth = 1};
  if (d != TW_PATTERN_EVENTBRIDGE && len > SNS_MAX_SIZE) {
    set_err_raw(&c, "Filter policy must be at most 256 KB");
    goto out;
  }
  if (d != TW_PATTERN_EVENTBRIDGE) {
    if (syntax_check(&c)) goto out;
    lexer_reset(lx);
  }
  tk t = next(&c);
  if (c.failed) goto out;
  if (t != TK_START_OBJECT) {
    barf(&c, "Filter is not an object");
    goto out;
  }
  if (d != TW_PATTERN_EVENTBRIDGE) {
    /* "{}" removes an SNS filter policy: it matches every message */
    size_t i = raw_ws(json, len, lx->pos);
    if (i < len && json[i] == '}') {
      p->match_all = 1;
      goto out;
    }
  }
  parse_object(&c, 0);
  if (c.failed) goto out;
  p->b = c.rules;
  p->nb = c.nrules;
  c.rules = NULL;
  c.nrules = 0;
  if (d == TW_PATTERN_EVENTBRIDGE) {
    if (p->nb > EB_MAX_BRANCHES) {
      set_err_raw(&c, "Rule is too complex - the $or clauses make more than 1000 combinations");
      goto out;
    }
    /* wildcard complexity, per field */
    for (size_t i = 0; i < p->nb && !c.failed; i++) {
      for (size_t j = 0; j < p->b[i].n && !c.failed; j++) {
        const mlist *l = p->b[i].f[j].ml;
        int total = 0;
        for (size_t k = 0; k < l->n; k++) {
          const matcher *m = &l->m[k];
          if (m->kind != MK_WILDCARD && m->kind != MK_AB_WILDCARD) continue;
          for (size_t w = 0; w < m->nv; w++) total += wildcard_complexity(&m->wc[w]);
        }
        if (total > WILDCARD_MAX_COMPLEXITY)
          set_err_raw(&c,
                      "Rule is too complex - try using fewer wildcard characters or fewer "
                      "repeating character sequences after a wildcard character");
      }
    }
  } else {
    if (c.nested && d == TW_PATTERN_SNS_ATTRIBUTES) {
      c.failed = 1;
      if (err && errlen)
        snprintf(err, errlen,
                 "Invalid parameter: Filter policy scope MessageAttributes does not support nested "
                 "filter policy");
      goto out;
    }
    size_t keys = 0;
    for (size_t i = 0; i < p->nb; i++) {
      size_t k = top_keys(&p->b[i]);
      if (k > keys) keys = k;
    }
    if (keys > SNS_MAX_KEYS) {
      set_err_raw(&c, "Filter policy can not have more than 5 keys");
      goto out;
    }
    if (combinations(p) > SNS_MAX_COMBINATIONS) {
      set_err_raw(&c, "Filter policy is too complex");
      goto out;
    }
  }
out:
  rules_clear(&c);
  free(c.rules);
  free(c.path);
  free(lx->name);
  free(lx->text);
  free(lx);
  if (c.failed) {
    tw_pattern_free(p);
    return NULL;
  }
  return p;
}

/* ---- matching ----------------------------------------------------------- */

typedef struct {
  const mlist *ml;
  double limit;
  int found;   /* a value exists at the path */
  int matched; /* a value matched one of the value matchers */
} fctx;

static int in_strs(const matcher *m, const char *s, size_t n) {
  for (size_t i = 0; i < m->nv; i++)
    if (m->v[i].n == n && !memcmp(m->v[i].s, s, n)) return 1;
  return 0;
}

static int number_of(const json_t *v, double limit, double *d, int64_t *sc) {
  if (json_is_integer(v)) {
    *d = (double)json_integer_value(v);
  } else if (json_is_real(v)) {
    *d = json_real_value(v);
  } else {
    return -1;
  }
  return scale(*d, limit, sc);
}

static int value_matches(const matcher *m, const json_t *v, double limit) {
  const char *s = json_is_string(v) ? json_string_value(v) : NULL;
  size_t n = s ? json_string_length(v) : 0;
  double d;
  int64_t sc;
  switch (m->kind) {
    case MK_STR:
      if (!s) return 0;
      if (m->v[0].n == n && !memcmp(m->v[0].s, s, n)) return 1;
      if (m->iplen) {
        uint8_t ip[16];
        return ip_parse(s, n, ip) == m->iplen && !memcmp(ip, m->ip, (size_t)m->iplen);
      }
      return 0;
    case MK_NUM: {
      int r = number_of(v, limit, &d, &sc);
      if (r < 0) return 0;
      if (m->is_int && json_is_integer(v) && json_integer_value(v) == m->iv) return 1;
      if (m->has_sc && r) return sc == m->sc;
      return d == m->d;
    }
    case MK_TRUE:
      return json_is_true(v);
    case MK_FALSE:
      return json_is_false(v);
    case MK_NULL:
      return json_is_null(v);
    case MK_PREFIX:
      return s && n >= m->v[0].n && !memcmp(s, m->v[0].s, m->v[0].n);
    case MK_SUFFIX:
      return s && n >= m->v[0].n && !memcmp(s + n - m->v[0].n, m->v[0].s, m->v[0].n);
    case MK_PREFIX_CI:
      return s && fold_cmp(s, n, &m->v[0], 1);
    case MK_SUFFIX_CI:
      return s && fold_cmp(s, n, &m->v[0], 2);
    case MK_EQ_CI:
      return s && fold_cmp(s, n, &m->v[0], 0);
    case MK_WILDCARD:
      return s && wildcard_match(&m->wc[0], s, n);
    case MK_AB_STRS:
      return !(s && in_strs(m, s, n));
    case MK_AB_NUMS:
      if (number_of(v, limit, &d, &sc) != 1) return 0;
      for (size_t i = 0; i < m->nnums; i++)
        if (m->nums[i] == sc) return 0;
      return 1;
    case MK_AB_PREFIX:
      if (!s) return 1;
      for (size_t i = 0; i < m->nv; i++)
        if (n >= m->v[i].n && !memcmp(s, m->v[i].s, m->v[i].n)) return 0;
      return 1;
    case MK_AB_SUFFIX:
      if (!s) return 1;
      for (size_t i = 0; i < m->nv; i++)
        if (n >= m->v[i].n && !memcmp(s + n - m->v[i].n, m->v[i].s, m->v[i].n)) return 0;
      return 1;
    case MK_AB_CI:
      if (!s) return 1;
      for (size_t i = 0; i < m->nv; i++)
        if (fold_cmp(s, n, &m->v[i], 0)) return 0;
      return 1;
    case MK_AB_WILDCARD:
      if (!s) return 1;
      for (size_t i = 0; i < m->nv; i++)
        if (wildcard_match(&m->wc[i], s, n)) return 0;
      return 1;
    case MK_RANGE:
      if (number_of(v, limit, &d, &sc) != 1) return 0;
      if (m->has_lo && (m->lo_open ? sc <= m->lo : sc < m->lo)) return 0;
      if (m->has_hi && (m->hi_open ? sc >= m->hi : sc > m->hi)) return 0;
      return 1;
    case MK_CIDR: {
      uint8_t ip[16];
      if (!s || ip_parse(s, n, ip) != m->iplen) return 0;
      return memcmp(ip, m->ip, (size_t)m->iplen) >= 0 && memcmp(ip, m->ip2, (size_t)m->iplen) <= 0;
    }
    case MK_EXISTS:
    case MK_ABSENT:
      return 0;
  }
  return 0;
}

/* A value at the field's path: arrays are flattened, objects are not leaves. */
static void leaf(fctx *fc, const json_t *v) {
  if (json_is_array(v)) {
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) {
      leaf(fc, e);
      if (fc->matched) return;
    }
    return;
  }
  if (json_is_object(v)) return;
  fc->found = 1;
  for (size_t i = 0; i < fc->ml->n; i++) {
    if (value_matches(&fc->ml->m[i], v, fc->limit)) {
      fc->matched = 1;
      return;
    }
  }
}

/* Follows the dotted path rest from node. A key holding dots matches the
 * same joined path ({"a.b": 1} is at "a.b" as {"a": {"b": 1}} is), so every
 * split of rest at a dot is tried. */
static void walk(fctx *fc, const json_t *node, const char *rest, size_t rlen) {
  if (json_is_array(node)) {
    size_t i;
    const json_t *e;
    json_array_foreach(node, i, e) {
      walk(fc, e, rest, rlen);
      if (fc->matched) return;
    }
    return;
  }
  if (!json_is_object(node)) return;
  for (size_t k = 0; k <= rlen; k++) {
    if (k < rlen && rest[k] != '.') continue;
    const json_t *child = json_object_getn(node, rest, k);
    if (!child) continue;
    if (k == rlen) {
      leaf(fc, child);
    } else {
      walk(fc, child, rest + k + 1, rlen - k - 1);
    }
    if (fc->matched) return;
  }
}

static int field_matches(const field *f, const json_t *doc, double limit) {
  fctx fc = {f->ml, limit, 0, 0};
  walk(&fc, doc, f->name, f->nlen);
  if (fc.matched) return 1;
  for (size_t i = 0; i < f->ml->n; i++) {
    mkind k = f->ml->m[i].kind;
    if ((k == MK_EXISTS && fc.found) || (k == MK_ABSENT && !fc.found)) return 1;
  }
  return 0;
}

int tw_pattern_match(const tw_pattern *p, const json_t *doc) {
  if (!p) return 0;
  if (p->match_all) return 1;
  if (!json_is_object(doc)) return 0;
  double limit = dialect_limit(p->dialect);
  for (size_t i = 0; i < p->nb; i++) {
    const branch *b = &p->b[i];
    size_t j = 0;
    while (j < b->n && field_matches(&b->f[j], doc, limit)) j++;
    if (j == b->n) return 1;
  }
  return 0;
}

/* ---- SNS message attributes --------------------------------------------- */

/* A number attribute's value: an integer when it is one, else a real. */
static json_t *number_value(const char *s) {
  if (!s) return NULL;
  while (*s == ' ' || *s == '\t') s++;
  char *end;
  double d = strtod(s, &end);
  if (end == s) return NULL;
  while (*end == ' ' || *end == '\t') end++;
  if (*end || !isfinite(d)) return NULL;
  if (!strpbrk(s, ".eE") && d >= -9.2e18 && d <= 9.2e18) {
    long long v = strtoll(s, &end, 10);
    return json_integer(v);
  }
  return json_real(d);
}

json_t *tw_pattern_sns_attributes(const json_t *message_attributes) {
  json_t *out = json_object();
  if (!out || !json_is_object(message_attributes)) return out;
  const char *name;
  json_t *a;
  json_object_foreach((json_t *)message_attributes, name, a) {
    if (!json_is_object(a)) continue;
    json_t *ty = json_object_get(a, "DataType");
    if (!ty) ty = json_object_get(a, "Type");
    json_t *sv = json_object_get(a, "StringValue");
    if (!sv) sv = json_object_get(a, "Value");
    const char *type = json_string_value(ty);
    if (!type) continue;
    json_t *v = NULL;
    if (!strcmp(type, "String.Array") || !strcmp(type, "Number.Array")) {
      /* the value is a JSON array; anything else matches nothing */
      const char *txt = json_string_value(sv);
      json_t *arr = txt ? json_loads(txt, JSON_DECODE_ANY, NULL) : NULL;
      if (!json_is_array(arr)) {
        json_decref(arr);
        arr = json_array();
      }
      v = arr;
    } else if (!strncmp(type, "String", 6) && (type[6] == 0 || type[6] == '.')) {
      if (json_is_string(sv)) v = json_incref(sv);
    } else if (!strncmp(type, "Number", 6) && (type[6] == 0 || type[6] == '.')) {
      if (json_is_number(sv)) {
        v = json_incref(sv);
      } else {
        v = number_value(json_string_value(sv));
      }
    }
    /* Binary (and unknown types) are ignored: never matched */
    if (v) json_object_set_new(out, name, v);
  }
  return out;
}
