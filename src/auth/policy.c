/* IAM-style policies (policy.h): validation and evaluation. A document is kept
 * as its validated JSON (statements normalised to a list) and evaluated on it:
 * policies are small and a request looks at one or two of them. */
#include "auth/policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct tw_policy {
  json_t *statements; /* array of statement objects */
  tw_policy_kind kind;
};

/* --- matching helpers ------------------------------------------------------------ */

int tw_policy_wildcard(const char *pat, const char *s, int nocase) {
  const char *star = NULL, *resume = NULL;
  while (*s) {
    if (*pat == '*') {
      star = pat++;
      resume = s;
    } else if (*pat == '?' ||
               (nocase ? tolower((unsigned char)*pat) == tolower((unsigned char)*s) : *pat == *s)) {
      if (!*pat) break;
      pat++;
      s++;
    } else if (star) {
      pat = star + 1;
      s = ++resume;
    } else {
      return 0;
    }
  }
  while (*pat == '*') pat++;
  return !*pat;
}

/* The i-th value of a context key (case-insensitive name), or NULL. */
static const char *ctx_value(const tw_policy_req *q, const char *key, size_t nth) {
  for (size_t i = 0; i < q->nkeys; i++)
    if (q->keys[i].name && !strcasecmp(q->keys[i].name, key) && nth-- == 0) return q->keys[i].value;
  return NULL;
}

/* Expands policy variables ${key} (and ${*}, ${?}, ${$}) into a new string;
 * NULL when a variable names a key the request does not have (the pattern
 * then matches nothing, as AWS does). Literal '*' and '?' from ${*}/${?} are
 * escaped as-is: tweedle treats them as wildcards too (documented). */
static char *expand(const char *s, const tw_policy_req *q) {
  if (!strstr(s, "${")) return strdup(s);
  size_t cap = strlen(s) + 256, n = 0;
  char *out = malloc(cap);
  if (!out) return NULL;
  while (*s) {
    const char *add = s;
    size_t alen = 1;
    if (s[0] == '$' && s[1] == '{') {
      const char *end = strchr(s + 2, '}');
      if (end) {
        char key[128];
        size_t kl = (size_t)(end - s - 2);
        if (kl >= sizeof key) kl = sizeof key - 1;
        memcpy(key, s + 2, kl);
        key[kl] = 0;
        if (!strcmp(key, "*") || !strcmp(key, "?") || !strcmp(key, "$")) {
          add = s + 2;
          alen = 1;
        } else {
          add = ctx_value(q, key, 0);
          if (!add) {
            free(out);
            return NULL;
          }
          alen = strlen(add);
        }
        s = end + 1;
      } else {
        s++;
      }
    } else {
      s++;
    }
    if (n + alen + 1 > cap) {
      cap = (n + alen + 1) * 2;
      char *g = realloc(out, cap);
      if (!g) {
        free(out);
        return NULL;
      }
      out = g;
    }
    memcpy(out + n, add, alen);
    n += alen;
  }
  out[n] = 0;
  return out;
}

/* A string or a list of strings: calls fn on each until it returns 1. */
static int any_string(json_t *v, int (*fn)(const char *s, void *ud), void *ud) {
  if (json_is_string(v)) return fn(json_string_value(v), ud);
  size_t i;
  json_t *x;
  json_array_foreach(v, i, x) if (json_is_string(x) && fn(json_string_value(x), ud)) return 1;
  return 0;
}

/* --- validation ------------------------------------------------------------------ */

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

static int strings_or_string(json_t *v) {
  if (json_is_string(v)) return 1;
  if (!json_is_array(v) || json_array_size(v) == 0) return 0;
  size_t i;
  json_t *x;
  json_array_foreach(v, i, x) if (!json_is_string(x)) return 0;
  return 1;
}

static const char *const base_ops[] = {"StringEquals",
                                       "StringNotEquals",
                                       "StringEqualsIgnoreCase",
                                       "StringNotEqualsIgnoreCase",
                                       "StringLike",
                                       "StringNotLike",
                                       "NumericEquals",
                                       "NumericNotEquals",
                                       "NumericLessThan",
                                       "NumericLessThanEquals",
                                       "NumericGreaterThan",
                                       "NumericGreaterThanEquals",
                                       "DateEquals",
                                       "DateNotEquals",
                                       "DateLessThan",
                                       "DateLessThanEquals",
                                       "DateGreaterThan",
                                       "DateGreaterThanEquals",
                                       "Bool",
                                       "IpAddress",
                                       "NotIpAddress",
                                       "ArnEquals",
                                       "ArnLike",
                                       "ArnNotEquals",
                                       "ArnNotLike",
                                       "Null",
                                       NULL};

typedef struct {
  char base[48];
  int if_exists, for_any, for_all;
} cond_op;

static int parse_op(const char *name, cond_op *op) {
  memset(op, 0, sizeof *op);
  if (!strncmp(name, "ForAnyValue:", 12)) {
    op->for_any = 1;
    name += 12;
  } else if (!strncmp(name, "ForAllValues:", 13)) {
    op->for_all = 1;
    name += 13;
  }
  size_t n = strlen(name);
  if (n > 8 && !strcmp(name + n - 8, "IfExists")) {
    op->if_exists = 1;
    n -= 8;
  }
  if (n >= sizeof op->base) return -1;
  memcpy(op->base, name, n);
  op->base[n] = 0;
  if (op->if_exists && !strcmp(op->base, "Null")) return -1;
  for (int i = 0; base_ops[i]; i++)
    if (!strcmp(base_ops[i], op->base)) return 0;
  return -1;
}

static int check_condition(json_t *c, char *err, size_t errlen) {
  if (!json_is_object(c)) return fail(err, errlen, "Condition must be an object");
  const char *opname;
  json_t *block;
  json_object_foreach(c, opname, block) {
    cond_op op;
    if (parse_op(opname, &op)) return fail(err, errlen, "Invalid Condition type : %s", opname);
    if (!json_is_object(block) || json_object_size(block) == 0)
      return fail(err, errlen, "Condition %s must map keys to values", opname);
    const char *key;
    json_t *v;
    json_object_foreach(block, key, v) {
      json_t *vals = json_is_array(v) ? v : NULL;
      if (vals && json_array_size(vals) == 0)
        return fail(err, errlen, "Condition %s has no value for %s", opname, key);
      size_t i;
      json_t *x;
      if (vals) {
        json_array_foreach(vals, i, x) if (!json_is_string(x) && !json_is_number(x) &&
                                           !json_is_boolean(x)) return fail(err, errlen,
                                                                            "Condition %s: invalid "
                                                                            "value for %s",
                                                                            opname, key);
      } else if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v)) {
        return fail(err, errlen, "Condition %s: invalid value for %s", opname, key);
      }
    }
  }
  return 0;
}

static int check_action(const char *s, void *ud) {
  (void)ud;
  if (!strcmp(s, "*")) return 0;
  const char *colon = strchr(s, ':');
  return !colon || colon == s || !colon[1]; /* 1: bad */
}

static int check_principal(json_t *p, char *err, size_t errlen) {
  if (json_is_string(p)) {
    if (strcmp(json_string_value(p), "*")) return fail(err, errlen, "Invalid principal in policy");
    return 0;
  }
  if (!json_is_object(p) || json_object_size(p) == 0)
    return fail(err, errlen, "Invalid principal in policy");
  const char *k;
  json_t *v;
  json_object_foreach(p, k, v) {
    if (strcmp(k, "AWS") && strcmp(k, "Service") && strcmp(k, "CanonicalUser") &&
        strcmp(k, "Federated"))
      return fail(err, errlen, "Invalid principal in policy: \"%s\"", k);
    if (!strings_or_string(v)) return fail(err, errlen, "Invalid principal in policy");
  }
  return 0;
}

static int check_statement(json_t *st, tw_policy_kind kind, char *err, size_t errlen) {
  if (!json_is_object(st)) return fail(err, errlen, "Statement must be an object");
  const char *k;
  json_t *v;
  json_object_foreach(st, k, v) {
    if (strcmp(k, "Sid") && strcmp(k, "Effect") && strcmp(k, "Principal") &&
        strcmp(k, "NotPrincipal") && strcmp(k, "Action") && strcmp(k, "NotAction") &&
        strcmp(k, "Resource") && strcmp(k, "NotResource") && strcmp(k, "Condition"))
      return fail(err, errlen, "Unknown field %s", k);
  }
  json_t *sid = json_object_get(st, "Sid");
  if (sid && !json_is_string(sid)) return fail(err, errlen, "Sid must be a string");
  const char *eff = json_string_value(json_object_get(st, "Effect"));
  if (!eff) return fail(err, errlen, "Missing required field Effect");
  if (strcmp(eff, "Allow") && strcmp(eff, "Deny"))
    return fail(err, errlen, "Invalid effect: %s", eff);
  json_t *a = json_object_get(st, "Action"), *na = json_object_get(st, "NotAction");
  if (!a == !na)
    return fail(err, errlen,
                a ? "Statement has both Action and NotAction" : "Missing required field Action");
  json_t *acts = a ? a : na;
  if (!strings_or_string(acts)) return fail(err, errlen, "Action must be a string or a list");
  if (any_string(acts, check_action, NULL)) return fail(err, errlen, "Policy has invalid action");
  json_t *r = json_object_get(st, "Resource"), *nr = json_object_get(st, "NotResource");
  if (r && nr) return fail(err, errlen, "Statement has both Resource and NotResource");
  if (!r && !nr && kind == TW_POLICY_IDENTITY)
    return fail(err, errlen, "Missing required field Resource");
  if ((r || nr) && !strings_or_string(r ? r : nr))
    return fail(err, errlen, "Resource must be a string or a list");
  json_t *p = json_object_get(st, "Principal"), *np = json_object_get(st, "NotPrincipal");
  if (kind == TW_POLICY_IDENTITY && (p || np))
    return fail(err, errlen, "Has prohibited field Principal");
  if (kind == TW_POLICY_RESOURCE) {
    if (!p == !np)
      return fail(
          err, errlen,
          p ? "Statement has both Principal and NotPrincipal" : "Missing required field Principal");
    if (check_principal(p ? p : np, err, errlen)) return -1;
  }
  json_t *c = json_object_get(st, "Condition");
  if (c && check_condition(c, err, errlen)) return -1;
  return 0;
}

tw_policy *tw_policy_parse(const char *text, size_t len, tw_policy_kind kind, char *err,
                           size_t errlen) {
  json_error_t je;
  json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  tw_policy *p = tw_policy_from_json(doc, kind, err, errlen);
  json_decref(doc);
  return p;
}

tw_policy *tw_policy_from_json(json_t *doc, tw_policy_kind kind, char *err, size_t errlen) {
  if (!json_is_object(doc)) {
    fail(err, errlen, "Policies must be valid JSON and the first byte must be '{'");
    return NULL;
  }
  const char *k;
  json_t *v;
  json_object_foreach(doc, k, v) {
    if (strcmp(k, "Version") && strcmp(k, "Id") && strcmp(k, "Statement")) {
      fail(err, errlen, "Unknown field %s", k);
      return NULL;
    }
  }
  json_t *ver = json_object_get(doc, "Version");
  if (ver && (!json_is_string(ver) || (strcmp(json_string_value(ver), "2012-10-17") &&
                                       strcmp(json_string_value(ver), "2008-10-17")))) {
    fail(err, errlen, "The policy must contain a valid version string");
    return NULL;
  }
  json_t *st = json_object_get(doc, "Statement");
  json_t *list = json_is_object(st) ? json_pack("[O]", st) : json_incref(st);
  if (!json_is_array(list) || json_array_size(list) == 0) {
    json_decref(list);
    fail(err, errlen, "Missing required field Statement");
    return NULL;
  }
  size_t i;
  json_array_foreach(list, i, v) {
    if (check_statement(v, kind, err, errlen)) {
      json_decref(list);
      return NULL;
    }
  }
  tw_policy *p = calloc(1, sizeof *p);
  if (!p) {
    json_decref(list);
    fail(err, errlen, "out of memory");
    return NULL;
  }
  p->statements = list;
  p->kind = kind;
  return p;
}

void tw_policy_free(tw_policy *p) {
  if (!p) return;
  json_decref(p->statements);
  free(p);
}

/* --- conditions ------------------------------------------------------------------ */

static char *value_text(json_t *v) {
  if (json_is_string(v)) return strdup(json_string_value(v));
  if (json_is_true(v)) return strdup("true");
  if (json_is_false(v)) return strdup("false");
  char buf[64];
  if (json_is_integer(v))
    snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
  else
    snprintf(buf, sizeof buf, "%.17g", json_number_value(v));
  return strdup(buf);
}

static int parse_number(const char *s, double *out) {
  char *end;
  if (!*s) return -1;
  *out = strtod(s, &end);
  return *end ? -1 : 0;
}

/* ISO 8601 (date, date-time with optional fraction and zone) or epoch seconds. */
static int parse_date(const char *s, double *out) {
  if (!parse_number(s, out)) return 0;
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *p = strptime(s, "%Y-%m-%d", &tm);
  if (!p) return -1;
  double frac = 0;
  int off = 0;
  if (*p == 'T' || *p == 't' || *p == ' ') {
    const char *t = strptime(p + 1, "%H:%M", &tm);
    if (!t) return -1;
    p = t;
    if (*p == ':') {
      t = strptime(p + 1, "%S", &tm);
      if (!t) return -1;
      p = t;
    }
    if (*p == '.') {
      char *end;
      frac = strtod(p, &end);
      p = end;
    }
    if (*p == 'Z' || *p == 'z') {
      p++;
    } else if (*p == '+' || *p == '-') {
      int sign = *p == '-' ? -1 : 1, hh = 0, mm = 0;
      if (sscanf(p + 1, "%2d:%2d", &hh, &mm) < 1 && sscanf(p + 1, "%2d%2d", &hh, &mm) < 1)
        return -1;
      off = sign * (hh * 3600 + mm * 60);
      p += strlen(p);
    }
  }
  if (*p) return -1;
  *out = (double)timegm(&tm) + frac - off;
  return 0;
}

typedef struct {
  unsigned char addr[16];
  int bits, v6;
} cidr;

static int parse_ip(const char *s, cidr *c, int with_prefix) {
  char host[64];
  const char *slash = with_prefix ? strchr(s, '/') : NULL;
  size_t hl = slash ? (size_t)(slash - s) : strlen(s);
  if (hl >= sizeof host) return -1;
  memcpy(host, s, hl);
  host[hl] = 0;
  memset(c, 0, sizeof *c);
  if (inet_pton(AF_INET, host, c->addr) == 1) {
    c->bits = 32;
  } else if (inet_pton(AF_INET6, host, c->addr) == 1) {
    c->v6 = 1;
    c->bits = 128;
  } else {
    return -1;
  }
  if (slash) {
    char *end;
    long b = strtol(slash + 1, &end, 10);
    if (*end || b < 0 || b > c->bits || !slash[1]) return -1;
    c->bits = (int)b;
  }
  /* an IPv4-mapped IPv6 address compares as IPv4 */
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (c->v6 && !memcmp(c->addr, mapped, 12) && c->bits >= 96) {
    memmove(c->addr, c->addr + 12, 4);
    memset(c->addr + 4, 0, 12);
    c->v6 = 0;
    c->bits -= 96;
  }
  return 0;
}

static int ip_in(const char *ip, const char *range) {
  cidr a, r;
  if (parse_ip(ip, &a, 0) || parse_ip(range, &r, 1) || a.v6 != r.v6) return 0;
  int full = r.bits / 8, rest = r.bits % 8;
  if (memcmp(a.addr, r.addr, (size_t)full)) return 0;
  if (rest) {
    unsigned char m = (unsigned char)(0xff << (8 - rest));
    if ((a.addr[full] & m) != (r.addr[full] & m)) return 0;
  }
  return 1;
}

/* The base operator, negation dropped: does ctx match the policy value? */
static int op_match(const char *base, const char *ctx, const char *pol) {
  if (!strcmp(base, "StringEquals") || !strcmp(base, "ArnEquals")) return !strcmp(ctx, pol);
  if (!strcmp(base, "StringEqualsIgnoreCase")) return !strcasecmp(ctx, pol);
  if (!strcmp(base, "StringLike") || !strcmp(base, "ArnLike"))
    return tw_policy_wildcard(pol, ctx, 0);
  if (!strcmp(base, "Bool")) return !strcasecmp(ctx, pol);
  if (!strcmp(base, "IpAddress")) return ip_in(ctx, pol);
  if (!strncmp(base, "Numeric", 7) || !strncmp(base, "Date", 4)) {
    int num = base[0] == 'N';
    double a, b;
    if (num ? parse_number(ctx, &a) || parse_number(pol, &b)
            : parse_date(ctx, &a) || parse_date(pol, &b))
      return 0;
    const char *rel = base + (num ? 7 : 4);
    if (!strcmp(rel, "Equals")) return a == b;
    if (!strcmp(rel, "LessThan")) return a < b;
    if (!strcmp(rel, "LessThanEquals")) return a <= b;
    if (!strcmp(rel, "GreaterThan")) return a > b;
    if (!strcmp(rel, "GreaterThanEquals")) return a >= b;
  }
  return 0;
}

/* The positive operator and whether the named one negates it. */
static const char *positive(const char *base, int *neg) {
  static const struct {
    const char *neg, *pos;
  } pairs[] = {
      {"StringNotEquals", "StringEquals"}, {"StringNotEqualsIgnoreCase", "StringEqualsIgnoreCase"},
      {"StringNotLike", "StringLike"},     {"NumericNotEquals", "NumericEquals"},
      {"DateNotEquals", "DateEquals"},     {"NotIpAddress", "IpAddress"},
      {"ArnNotEquals", "ArnEquals"},       {"ArnNotLike", "ArnLike"}};
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
    if (!strcmp(base, pairs[i].neg)) {
      *neg = 1;
      return pairs[i].pos;
    }
  *neg = 0;
  return base;
}

/* Does one context value match (per the operator, negation included) the
 * policy's values? Positive: any value matches; negated: none does. */
static int value_matches(const char *pos, int neg, const char *ctx, json_t *vals,
                         const tw_policy_req *q) {
  int any = 0;
  size_t n = json_is_array(vals) ? json_array_size(vals) : 1;
  int stringy = !strncmp(pos, "String", 6) || !strncmp(pos, "Arn", 3);
  for (size_t i = 0; i < n && !any; i++) {
    char *pv = value_text(json_is_array(vals) ? json_array_get(vals, i) : vals);
    if (!pv) continue;
    if (stringy) {
      char *e = expand(pv, q);
      free(pv);
      pv = e;
      if (!pv) continue;
    }
    any = op_match(pos, ctx, pv);
    free(pv);
  }
  return neg ? !any : any;
}

static int condition_true(const char *opname, const char *key, json_t *vals,
                          const tw_policy_req *q) {
  cond_op op;
  if (parse_op(opname, &op)) return 0;
  size_t nctx = 0;
  while (ctx_value(q, key, nctx)) nctx++;
  if (!strcmp(op.base, "Null")) {
    char *pv = value_text(json_is_array(vals) ? json_array_get(vals, 0) : vals);
    int want_absent = pv && !strcasecmp(pv, "true");
    free(pv);
    return want_absent ? nctx == 0 : nctx > 0;
  }
  int neg;
  const char *pos = positive(op.base, &neg);
  if (nctx == 0) {
    if (op.for_all) return 1;
    if (op.for_any) return 0;
    return op.if_exists || neg;
  }
  if (op.for_all) {
    for (size_t i = 0; i < nctx; i++)
      if (!value_matches(pos, neg, ctx_value(q, key, i), vals, q)) return 0;
    return 1;
  }
  if (op.for_any) {
    for (size_t i = 0; i < nctx; i++)
      if (value_matches(pos, neg, ctx_value(q, key, i), vals, q)) return 1;
    return 0;
  }
  /* single-valued use: positive when any context value matches; negated when
   * none matches the positive form */
  for (size_t i = 0; i < nctx; i++) {
    int m = value_matches(pos, 0, ctx_value(q, key, i), vals, q);
    if (m) return !neg;
  }
  return neg;
}

static int conditions_true(json_t *c, const tw_policy_req *q) {
  if (!c) return 1;
  const char *opname;
  json_t *block;
  json_object_foreach(c, opname, block) {
    const char *key;
    json_t *v;
    json_object_foreach(block, key, v) if (!condition_true(opname, key, v, q)) return 0;
  }
  return 1;
}

/* --- statements ------------------------------------------------------------------ */

static int action_is(const char *pat, void *ud) {
  return tw_policy_wildcard(pat, (const char *)ud, 1);
}

typedef struct {
  const tw_policy_req *q;
} res_ud;

static int resource_is(const char *pat, void *ud) {
  const tw_policy_req *q = ((res_ud *)ud)->q;
  char *e = expand(pat, q);
  int m = e && tw_policy_wildcard(e, q->resource, 0);
  free(e);
  return m;
}

static int aws_principal_is(const char *v, void *ud) {
  const tw_policy_req *q = ud;
  if (!strcmp(v, "*")) return 1;
  if (!q->principal) return 0; /* only "*" names anonymous callers */
  char root[96];
  snprintf(root, sizeof root, "arn:aws:iam::%s:root", q->account ? q->account : "");
  if (q->account && (!strcmp(v, q->account) || !strcmp(v, root))) return 1;
  return !strcmp(v, q->principal);
}

static int service_is(const char *v, void *ud) {
  const tw_policy_req *q = ud;
  return q->service && !strcmp(v, q->service);
}

static int principal_matches(json_t *p, const tw_policy_req *q) {
  if (json_is_string(p)) return 1; /* "*" */
  json_t *aws = json_object_get(p, "AWS"), *svc = json_object_get(p, "Service");
  if (q->service) return svc && any_string(svc, service_is, (void *)q);
  return aws && any_string(aws, aws_principal_is, (void *)q);
}

static int statement_applies(json_t *st, tw_policy_kind kind, const tw_policy_req *q) {
  if (kind == TW_POLICY_RESOURCE) {
    json_t *p = json_object_get(st, "Principal");
    if (p ? !principal_matches(p, q) : principal_matches(json_object_get(st, "NotPrincipal"), q))
      return 0;
  }
  json_t *a = json_object_get(st, "Action");
  if (a ? !any_string(a, action_is, (void *)q->action)
        : any_string(json_object_get(st, "NotAction"), action_is, (void *)q->action))
    return 0;
  json_t *r = json_object_get(st, "Resource"), *nr = json_object_get(st, "NotResource");
  res_ud ru = {q};
  if (r && !any_string(r, resource_is, &ru)) return 0;
  if (nr && any_string(nr, resource_is, &ru)) return 0;
  return conditions_true(json_object_get(st, "Condition"), q);
}

tw_policy_effect tw_policy_eval(const tw_policy *p, const tw_policy_req *q) {
  if (!p) return TW_POLICY_NONE;
  tw_policy_effect eff = TW_POLICY_NONE;
  size_t i;
  json_t *st;
  json_array_foreach(p->statements, i, st) {
    if (!statement_applies(st, p->kind, q)) continue;
    if (!strcmp(json_string_value(json_object_get(st, "Effect")), "Deny")) return TW_POLICY_DENY;
    eff = TW_POLICY_ALLOW;
  }
  return eff;
}

int tw_policy_decide(const tw_policy *const *identity, size_t n, const tw_policy *resource,
                     const tw_policy_req *q) {
  int allowed = 0;
  tw_policy_effect re = tw_policy_eval(resource, q);
  if (re == TW_POLICY_DENY) return 0;
  if (re == TW_POLICY_ALLOW) allowed = 1;
  if (!q->principal && !q->service) return allowed; /* anonymous: the resource policy only */
  if (q->service) return allowed;                   /* a service: the resource policy only */
  for (size_t i = 0; i < n; i++) {
    tw_policy_effect e = tw_policy_eval(identity[i], q);
    if (e == TW_POLICY_DENY) return 0;
    if (e == TW_POLICY_ALLOW) allowed = 1;
  }
  return n == 0 ? 1 : allowed;
}

static const char *const narrowing_keys[] = {
    "aws:SourceIp",         "aws:SourceArn",    "aws:SourceAccount",  "aws:SourceOwner",
    "aws:PrincipalAccount", "aws:PrincipalArn", "aws:userid",         "aws:username",
    "aws:SourceVpc",        "aws:SourceVpce",   "aws:PrincipalOrgID", NULL};

static int narrows(json_t *c) {
  const char *opname;
  json_t *block;
  json_object_foreach(c, opname, block) {
    const char *key;
    json_t *v;
    json_object_foreach(block, key, v) {
      for (int i = 0; narrowing_keys[i]; i++)
        if (!strcasecmp(key, narrowing_keys[i])) return 1;
    }
  }
  return 0;
}

static int is_star(const char *v, void *ud) {
  (void)ud;
  return !strcmp(v, "*");
}

int tw_policy_is_public(const tw_policy *p) {
  if (!p) return 0;
  size_t i;
  json_t *st;
  json_array_foreach(p->statements, i, st) {
    if (strcmp(json_string_value(json_object_get(st, "Effect")), "Allow")) continue;
    json_t *pr = json_object_get(st, "Principal");
    int everyone = json_is_string(pr) ||
                   (json_is_object(pr) && any_string(json_object_get(pr, "AWS"), is_star, NULL)) ||
                   json_object_get(st, "NotPrincipal");
    json_t *c = json_object_get(st, "Condition");
    if (everyone && !(c && narrows(c))) return 1;
  }
  return 0;
}

int tw_policy_names_service(const tw_policy *p, const char *service) {
  if (!p) return 0;
  tw_policy_req q = {.service = service};
  size_t i;
  json_t *st;
  json_array_foreach(p->statements, i, st) {
    json_t *pr = json_object_get(st, "Principal");
    if (!pr) pr = json_object_get(st, "NotPrincipal");
    json_t *svc = json_is_object(pr) ? json_object_get(pr, "Service") : NULL;
    if (svc && any_string(svc, service_is, &q)) return 1;
  }
  return 0;
}
