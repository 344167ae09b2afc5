/* CloudWatch Logs filter patterns, the subset FilterLogEvents users write:
 *   terms          ERROR timeout        every term present (case-sensitive)
 *   phrases        "connection reset"   a quoted term may hold spaces
 *   optional       ?ERROR ?WARN         at least one of the ?terms present
 *   exclusion      ERROR -healthcheck   the -term absent
 *   JSON           { $.level = "error" && $.latency > 5 }
 *                  selectors $.a.b[0], operators = != < <= > >=, strings with
 *                  * wildcards, numbers, && || and parentheses, IS NULL,
 *                  IS TRUE, IS FALSE, NOT EXISTS.
 * Space-delimited patterns ([a, b, ...]) are refused, and so are patterns
 * longer than the API's 1024 characters (the JSON parser recurses once per
 * parenthesis: a megabyte of "(" overflowed the stack). */
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logs/logs.h"

typedef enum { T_AND, T_OPT, T_NOT } term_kind;
typedef struct {
  term_kind kind;
  char *text;
} term;

typedef enum { N_AND, N_OR, N_CMP } node_kind;
typedef enum {
  OP_EQ,
  OP_NE,
  OP_LT,
  OP_LE,
  OP_GT,
  OP_GE,
  OP_NULL,
  OP_TRUE,
  OP_FALSE,
  OP_NEXISTS
} cmp_op;

typedef struct node {
  node_kind kind;
  struct node *a, *b;
  /* N_CMP */
  char *sel; /* the selector after '$' */
  cmp_op op;
  int is_num;
  double num;
  char *str;
} node;

struct tw_log_filter {
  int json;
  term *terms;
  size_t nterms;
  node *root;
};

static void node_free(node *n) {
  if (!n) return;
  node_free(n->a);
  node_free(n->b);
  free(n->sel);
  free(n->str);
  free(n);
}

void tw_log_filter_free(tw_log_filter *f) {
  if (!f) return;
  for (size_t i = 0; i < f->nterms; i++) free(f->terms[i].text);
  free(f->terms);
  node_free(f->root);
  free(f);
}

/* --- JSON patterns --------------------------------------------------------- */

typedef struct {
  const char *p;
  char *msg;
  size_t msglen;
  int bad;
} parser;

static void skip_ws(parser *ps) {
  while (isspace((unsigned char)*ps->p)) ps->p++;
}

static int bad(parser *ps, const char *what) {
  if (!ps->bad) snprintf(ps->msg, ps->msglen, "Invalid filter pattern: %s", what);
  ps->bad = 1;
  return -1;
}

static node *parse_or(parser *ps);

static int word_is(parser *ps, const char *w) {
  size_t n = strlen(w);
  if (strncasecmp(ps->p, w, n) || isalnum((unsigned char)ps->p[n])) return 0;
  ps->p += n;
  skip_ws(ps);
  return 1;
}

static node *parse_cmp(parser *ps) {
  skip_ws(ps);
  if (*ps->p == '(') {
    ps->p++;
    node *n = parse_or(ps);
    skip_ws(ps);
    if (!n || *ps->p != ')') {
      node_free(n);
      bad(ps, "unbalanced parentheses");
      return NULL;
    }
    ps->p++;
    return n;
  }
  if (*ps->p != '$') {
    bad(ps, "a JSON selector starts with $");
    return NULL;
  }
  const char *s = ++ps->p;
  while (*ps->p && (isalnum((unsigned char)*ps->p) || strchr("._-[]*@:", *ps->p))) ps->p++;
  node *n = calloc(1, sizeof *n);
  n->kind = N_CMP;
  n->sel = strndup(s, (size_t)(ps->p - s));
  skip_ws(ps);
  const char *o = ps->p;
  if (!strncmp(o, "!=", 2))
    n->op = OP_NE, ps->p += 2;
  else if (!strncmp(o, "<=", 2))
    n->op = OP_LE, ps->p += 2;
  else if (!strncmp(o, ">=", 2))
    n->op = OP_GE, ps->p += 2;
  else if (*o == '=')
    n->op = OP_EQ, ps->p += 1 + (o[1] == '=');
  else if (*o == '<')
    n->op = OP_LT, ps->p++;
  else if (*o == '>')
    n->op = OP_GT, ps->p++;
  else if (word_is(ps, "IS")) {
    if (word_is(ps, "NULL"))
      n->op = OP_NULL;
    else if (word_is(ps, "TRUE"))
      n->op = OP_TRUE;
    else if (word_is(ps, "FALSE"))
      n->op = OP_FALSE;
    else {
      node_free(n);
      bad(ps, "IS takes NULL, TRUE or FALSE");
      return NULL;
    }
    return n;
  } else if (word_is(ps, "NOT")) {
    if (!word_is(ps, "EXISTS")) {
      node_free(n);
      bad(ps, "NOT must be followed by EXISTS");
      return NULL;
    }
    n->op = OP_NEXISTS;
    return n;
  } else {
    node_free(n);
    bad(ps, "expected a comparison operator");
    return NULL;
  }
  skip_ws(ps);
  if (*ps->p == '"') {
    const char *v = ++ps->p;
    while (*ps->p && *ps->p != '"') ps->p += ps->p[0] == '\\' && ps->p[1] ? 2 : 1;
    if (!*ps->p) {
      node_free(n);
      bad(ps, "unterminated string");
      return NULL;
    }
    n->str = strndup(v, (size_t)(ps->p - v));
    ps->p++;
  } else {
    const char *v = ps->p;
    while (*ps->p && !isspace((unsigned char)*ps->p) && !strchr(")}&|", *ps->p)) ps->p++;
    if (ps->p == v) {
      node_free(n);
      bad(ps, "expected a value");
      return NULL;
    }
    n->str = strndup(v, (size_t)(ps->p - v));
    char *end;
    n->num = strtod(n->str, &end);
    n->is_num = !*end && isfinite(n->num);
  }
  if (!n->is_num && n->op != OP_EQ && n->op != OP_NE) {
    node_free(n);
    bad(ps, "< <= > >= compare numbers");
    return NULL;
  }
  return n;
}

static node *parse_and(parser *ps) {
  node *l = parse_cmp(ps);
  while (l) {
    skip_ws(ps);
    if (strncmp(ps->p, "&&", 2)) break;
    ps->p += 2;
    node *r = parse_cmp(ps);
    if (!r) {
      node_free(l);
      return NULL;
    }
    node *n = calloc(1, sizeof *n);
    n->kind = N_AND, n->a = l, n->b = r;
    l = n;
  }
  return l;
}

static node *parse_or(parser *ps) {
  node *l = parse_and(ps);
  while (l) {
    skip_ws(ps);
    if (strncmp(ps->p, "||", 2)) break;
    ps->p += 2;
    node *r = parse_and(ps);
    if (!r) {
      node_free(l);
      return NULL;
    }
    node *n = calloc(1, sizeof *n);
    n->kind = N_OR, n->a = l, n->b = r;
    l = n;
  }
  return l;
}

/* --- terms ------------------------------------------------------------------- */

static int add_term(tw_log_filter *f, term_kind k, const char *s, size_t n) {
  term *t = realloc(f->terms, (f->nterms + 1) * sizeof *t);
  if (!t) return -1;
  f->terms = t;
  t[f->nterms].kind = k;
  t[f->nterms].text = strndup(s, n);
  f->nterms++;
  return 0;
}

#define MAX_PATTERN_CHARS 1024 /* FilterPattern's length limit (characters) */

tw_log_filter *tw_log_filter_compile(const char *pattern, char *msg, size_t msglen) {
  size_t chars = 0;
  for (const unsigned char *q = (const unsigned char *)pattern; *q; q++)
    chars += (*q & 0xC0) != 0x80; /* UTF-8: continuation bytes do not count */
  if (chars > MAX_PATTERN_CHARS) {
    snprintf(msg, msglen,
             "1 validation error detected: Value at 'filterPattern' failed to satisfy "
             "constraint: Member must have length less than or equal to %d",
             MAX_PATTERN_CHARS);
    return NULL;
  }
  tw_log_filter *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  const char *p = pattern;
  while (isspace((unsigned char)*p)) p++;
  if (*p == '{') {
    parser ps = {.p = p + 1, .msg = msg, .msglen = msglen};
    f->json = 1;
    f->root = parse_or(&ps);
    skip_ws(&ps);
    if (!f->root || *ps.p != '}') {
      if (f->root) bad(&ps, "expected }");
      tw_log_filter_free(f);
      return NULL;
    }
    ps.p++;
    skip_ws(&ps);
    if (*ps.p) {
      bad(&ps, "text after }");
      tw_log_filter_free(f);
      return NULL;
    }
    return f;
  }
  if (*p == '[') {
    snprintf(msg, msglen, "Invalid filter pattern: space-delimited patterns are not supported");
    tw_log_filter_free(f);
    return NULL;
  }
  while (*p) {
    while (isspace((unsigned char)*p)) p++;
    if (!*p) break;
    term_kind k = T_AND;
    if (*p == '?')
      k = T_OPT, p++;
    else if (*p == '-')
      k = T_NOT, p++;
    if (*p == '"') {
      const char *s = ++p;
      while (*p && *p != '"') p++;
      if (!*p) {
        snprintf(msg, msglen, "Invalid filter pattern: unterminated quote");
        tw_log_filter_free(f);
        return NULL;
      }
      add_term(f, k, s, (size_t)(p - s));
      p++;
    } else {
      const char *s = p;
      while (*p && !isspace((unsigned char)*p)) p++;
      if (p == s) continue;
      add_term(f, k, s, (size_t)(p - s));
    }
  }
  return f;
}

static int contains(const char *hay, size_t n, const char *needle) {
  size_t k = strlen(needle);
  if (!k) return 1;
  return memmem(hay, n, needle, k) != NULL;
}

/* '*' matches any run of characters. */
static int glob(const char *p, const char *s) {
  const char *star = NULL, *ss = NULL;
  while (*s) {
    if (*p == '*') {
      star = p++;
      ss = s;
    } else if (*p == *s) {
      p++, s++;
    } else if (star) {
      p = star + 1;
      s = ++ss;
    } else {
      return 0;
    }
  }
  while (*p == '*') p++;
  return !*p;
}

/* Follows a selector ".a.b[0].c" (after '$'); NULL when absent. */
static json_t *select_path(json_t *doc, const char *sel) {
  json_t *v = doc;
  const char *p = sel;
  while (*p && v) {
    if (*p == '.') {
      p++;
      const char *s = p;
      while (*p && *p != '.' && *p != '[') p++;
      char key[256];
      snprintf(key, sizeof key, "%.*s", (int)(p - s), s);
      if (!strcmp(key, "*")) return NULL; /* wildcards over members: not supported */
      v = json_is_object(v) ? json_object_get(v, key) : NULL;
    } else if (*p == '[') {
      char *end;
      long i = strtol(p + 1, &end, 10);
      if (*end != ']') return NULL;
      p = end + 1;
      v = json_is_array(v) ? json_array_get(v, (size_t)i) : NULL;
    } else {
      return NULL;
    }
  }
  return v;
}

static int eval(const node *n, json_t *doc) {
  if (n->kind == N_AND) return eval(n->a, doc) && eval(n->b, doc);
  if (n->kind == N_OR) return eval(n->a, doc) || eval(n->b, doc);
  json_t *v = select_path(doc, n->sel);
  switch (n->op) {
    case OP_NEXISTS:
      return v == NULL;
    case OP_NULL:
      return v && json_is_null(v);
    case OP_TRUE:
      return v && json_is_true(v);
    case OP_FALSE:
      return v && json_is_false(v);
    default:
      break;
  }
  if (!v) return 0;
  if (n->is_num && json_is_number(v)) {
    double x = json_number_value(v);
    switch (n->op) {
      case OP_EQ:
        return x == n->num;
      case OP_NE:
        return x != n->num;
      case OP_LT:
        return x < n->num;
      case OP_LE:
        return x <= n->num;
      case OP_GT:
        return x > n->num;
      case OP_GE:
        return x >= n->num;
      default:
        return 0;
    }
  }
  if (n->op != OP_EQ && n->op != OP_NE) return 0;
  char buf[64];
  const char *s;
  if (json_is_string(v))
    s = json_string_value(v);
  else if (json_is_true(v) || json_is_false(v))
    s = json_is_true(v) ? "true" : "false";
  else if (json_is_integer(v))
    snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v)), s = buf;
  else if (json_is_real(v))
    snprintf(buf, sizeof buf, "%.17g", json_real_value(v)), s = buf;
  else
    return 0;
  int m = glob(n->str, s);
  return n->op == OP_EQ ? m : !m;
}

int tw_log_filter_match(const tw_log_filter *f, const char *msg, size_t len) {
  if (!f) return 1;
  if (f->json) {
    json_t *doc = json_loadb(msg, len, 0, NULL);
    if (!doc) return 0;
    int m = eval(f->root, doc);
    json_decref(doc);
    return m;
  }
  int any_opt = 0, opt_hit = 0;
  for (size_t i = 0; i < f->nterms; i++) {
    const term *t = &f->terms[i];
    int has = contains(msg, len, t->text);
    if (t->kind == T_AND && !has) return 0;
    if (t->kind == T_NOT && has) return 0;
    if (t->kind == T_OPT) {
      any_opt = 1;
      opt_hit |= has;
    }
  }
  return !any_opt || opt_hit;
}
