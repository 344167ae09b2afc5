/* Bucket lifecycle configuration (Put/Get/DeleteBucketLifecycleConfiguration),
 * the x-amz-expiration and x-amz-abort-* headers, and the rules' cache. The
 * sweeper thread that applies the rules is in s3_lifecycle_sweep.c.
 *
 * When an action falls due (S3 User Guide, "Lifecycle rules: based on an
 * object's age"): S3 adds the rule's days to the object's creation time and
 * rounds up to the next midnight UTC. With a lifecycle day of N seconds
 * (--lifecycle-day-seconds, 86400 by default) that is
 *     expiry = ceil((created + Days * N) / N) * N     (epoch time)
 * so a "midnight" is a multiple of N; incomplete multipart uploads are aborted
 * at the same rounding of initiation + DaysAfterInitiation. A Date rule
 * expires every matching object from that (real, UTC) midnight on.
 *
 * The configuration is stored in buckets.lifecycle as a JSON array of rules
 * ({"ID","Status","V1"?,"Prefix"?,"Filter": its form,"Tags"?,"Gt"?,"Lt"?,
 * "Days"?,"Date"? (epoch ms),"EODM"?,"Abort"?,"NcDays"?,"NcNewer"?}; see
 * parse_config) and kept compiled in a map by bucket name for the sweeper and
 * the headers. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/xml_in.h"
#include "s3/s3_lifecycle.h"
#include "store/s3_buckets.h"

#define MAX_RULES 1000
#define MAX_ID_CHARS 255
#define MAX_SIZE 1099511627776000LL /* S3's bound on the size filters */
#define DAY_MS 86400000LL

/* --- compiled rules ------------------------------------------------------------ */

void lc_cfg_put(lc_cfg *c) {
  if (!c || atomic_fetch_sub(&c->refs, 1) != 1) return;
  for (size_t i = 0; i < c->n; i++) {
    lc_rule *ru = &c->rules[i];
    free(ru->id);
    free(ru->prefix);
    for (size_t j = 0; j < ru->ntags; j++) {
      free(ru->tk[j]);
      free(ru->tv[j]);
    }
    free(ru->tk);
    free(ru->tv);
    free(ru->cur_key);
    free(ru->nc_key);
  }
  free(c->rules);
  free(c);
}

static const char *str_or(const char *s, const char *dflt) {
  return s ? s : dflt;
}

static int64_t jint(json_t *o, const char *k, int64_t dflt) {
  json_t *v = json_object_get(o, k);
  return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* The stored form (a JSON array of rule objects) -> rules; NULL when empty. */
static lc_cfg *cfg_compile(json_t *arr) {
  if (!json_is_array(arr) || !json_array_size(arr)) return NULL;
  lc_cfg *c = calloc(1, sizeof *c);
  atomic_init(&c->refs, 1);
  c->n = json_array_size(arr);
  c->rules = calloc(c->n, sizeof *c->rules);
  for (size_t i = 0; i < c->n; i++) {
    json_t *o = json_array_get(arr, i);
    lc_rule *ru = &c->rules[i];
    const char *id = json_string_value(json_object_get(o, "ID"));
    ru->id = strdup(id ? id : "");
    ru->enabled = !strcmp(str_or(json_string_value(json_object_get(o, "Status")), ""), "Enabled");
    ru->v1 = json_is_true(json_object_get(o, "V1"));
    const char *kind = json_string_value(json_object_get(o, "Filter"));
    static const char *const kinds[] = {"empty", "prefix", "tag", "gt", "lt", "and"};
    for (int k = 0; kind && k < 6; k++)
      if (!strcmp(kind, kinds[k])) ru->fkind = k;
    const char *p = json_string_value(json_object_get(o, "Prefix"));
    ru->prefix = p ? strdup(p) : NULL;
    json_t *tags = json_object_get(o, "Tags");
    ru->ntags = json_array_size(tags);
    ru->tk = calloc(ru->ntags + 1, sizeof *ru->tk);
    ru->tv = calloc(ru->ntags + 1, sizeof *ru->tv);
    for (size_t j = 0; j < ru->ntags; j++) {
      ru->tk[j] = strdup(str_or(json_string_value(json_array_get(json_array_get(tags, j), 0)), ""));
      ru->tv[j] = strdup(str_or(json_string_value(json_array_get(json_array_get(tags, j), 1)), ""));
    }
    ru->gt = jint(o, "Gt", -1);
    ru->lt = jint(o, "Lt", -1);
    ru->days = jint(o, "Days", 0);
    ru->has_date = json_object_get(o, "Date") != NULL;
    ru->date_ms = jint(o, "Date", 0);
    json_t *eodm = json_object_get(o, "EODM");
    ru->eodm = eodm ? json_is_true(eodm) : -1;
    ru->abort_days = jint(o, "Abort", 0);
    ru->nc_days = jint(o, "NcDays", 0);
    ru->nc_newer = jint(o, "NcNewer", 0);
    ru->cur_ms = -1;
  }
  return c;
}

/* --- the cache ---------------------------------------------------------------------- */

static void cache_set(tw_s3 *s, const char *bucket, lc_cfg *c) {
  struct s3_lifecycle_state *st = s->lc;
  if (!st) {
    lc_cfg_put(c);
    return;
  }
  pthread_mutex_lock(&st->mu);
  lc_cfg *old = tw_map_get(&st->by_bucket, bucket);
  if (c)
    tw_map_put(&st->by_bucket, bucket, c);
  else if (old)
    tw_map_del(&st->by_bucket, bucket);
  atomic_store(&st->count, st->by_bucket.count);
  pthread_mutex_unlock(&st->mu);
  lc_cfg_put(old);
}

lc_cfg *lc_cfg_get(tw_s3 *s, const char *bucket) {
  struct s3_lifecycle_state *st = s->lc;
  if (!st || !bucket || !atomic_load_explicit(&st->count, memory_order_relaxed)) return NULL;
  pthread_mutex_lock(&st->mu);
  lc_cfg *c = tw_map_get(&st->by_bucket, bucket);
  if (c) atomic_fetch_add(&c->refs, 1);
  pthread_mutex_unlock(&st->mu);
  return c;
}

/* Cluster mode: another node changed the bucket's settings (s3_cluster.c). */
void tw_s3_lifecycle_reload(tw_s3 *s, const char *bucket) {
  char *text = NULL;
  if (tw_store_s3_buckets(s->store)->get_setting(s->store, bucket, TW_S3_BUCKET_LIFECYCLE, &text) <
      0)
    return; /* unreadable now: the cached rules stay */
  json_t *rules = text ? json_loads(text, 0, NULL) : NULL;
  lc_cfg *c = rules ? cfg_compile(rules) : NULL;
  cache_set(s, bucket, c);
  json_decref(rules);
  free(text);
  if (c) lc_sweeper_kick(s); /* the node that sweeps acts on new rules now */
}

void tw_s3_lifecycle_bucket_deleted(tw_s3 *s, const char *bucket) {
  cache_set(s, bucket, NULL);
}

/* --- when rules apply ------------------------------------------------------------------- */

int64_t lc_day_ms(tw_s3 *s) {
  return (int64_t)s->lifecycle_day_seconds * 1000;
}

int lc_rule_matches(const lc_rule *ru, const char *key, size_t klen, int64_t size, json_t *tags) {
  size_t pl = ru->prefix ? strlen(ru->prefix) : 0;
  if (pl && (pl > klen || memcmp(key, ru->prefix, pl))) return 0;
  if (ru->gt >= 0 && !(size > ru->gt)) return 0;
  if (ru->lt >= 0 && !(size < ru->lt)) return 0;
  for (size_t i = 0; i < ru->ntags; i++) { /* each of the rule's tags, key and value */
    int hit = 0;
    size_t j;
    json_t *t;
    json_array_foreach(tags, j, t) hit |=
        !strcmp(json_string_value(json_array_get(t, 0)), ru->tk[i]) &&
        !strcmp(json_string_value(json_array_get(t, 1)), ru->tv[i]);
    if (!hit) return 0;
  }
  return 1;
}

/* ceil(a / b) * b for a >= 0 */
static int64_t round_up(int64_t a, int64_t b) {
  return (a + b - 1) / b * b;
}

int64_t lc_expiry_ms(const lc_rule *ru, int64_t created_ms, int64_t day_ms) {
  if (ru->days > 0) return round_up(created_ms + ru->days * day_ms, day_ms);
  if (ru->has_date) return ru->date_ms;
  return -1;
}

/* The rule-id as a header can carry it: S3 URL-encodes what needs it. */
static void header_id(tw_buf *b, const char *id) {
  for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
    if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '%')
      tw_buf_printf(b, "%%%02X", *p);
    else
      tw_buf_putc(b, (char)*p);
  }
}

static void add_expiration(tw_request *r, tw_s3 *s, const char *bucket, const char *key,
                           size_t klen, int64_t size, int64_t modified_ms, json_t *tags) {
  lc_cfg *c = lc_cfg_get(s, bucket);
  if (!c) return;
  const lc_rule *best = NULL;
  int64_t when = 0;
  for (size_t i = 0; i < c->n; i++) {
    const lc_rule *ru = &c->rules[i];
    if (!ru->enabled || !lc_rule_matches(ru, key, klen, size, tags)) continue;
    int64_t e = lc_expiry_ms(ru, modified_ms, lc_day_ms(s));
    if (e >= 0 && (!best || e < when)) { /* the earliest; the first listed on a tie */
      best = ru;
      when = e;
    }
  }
  if (best) {
    char date[40];
    tw_s3_http_date(when, date);
    tw_buf b;
    tw_buf_init(&b, 4096);
    tw_buf_printf(&b, "expiry-date=\"%s\", rule-id=\"", date);
    header_id(&b, best->id);
    tw_buf_putc(&b, '"');
    tw_req_add_header(r, "x-amz-expiration", tw_buf_cstr(&b));
    tw_buf_free(&b);
  }
  lc_cfg_put(c);
}

void tw_s3_lifecycle_expiration_header(tw_request *r, s3_ctx *x, const tw_s3_obj *o) {
  add_expiration(r, x->s3, x->bucket, x->key, x->key_len, o->size, o->modified_ms, o->tags);
}

void tw_s3_lifecycle_written(tw_request *r, s3_ctx *x) {
  lc_cfg *c = lc_cfg_get(x->s3, x->bucket);
  if (!c) return; /* the common case: no rules, no read */
  lc_cfg_put(c);
  tw_s3_obj o;
  if (!tw_s3_load_row(x->s3, x->bucket, x->key, x->key_len, &o) && o.found)
    add_expiration(r, x->s3, x->bucket, x->key, x->key_len, o.size, o.modified_ms, o.tags);
  tw_s3_row_free(&o);
}

void tw_s3_lifecycle_abort_headers(tw_request *r, s3_ctx *x, int64_t initiated_ms) {
  lc_cfg *c = lc_cfg_get(x->s3, x->bucket);
  if (!c) return;
  const lc_rule *best = NULL;
  int64_t when = 0;
  for (size_t i = 0; i < c->n; i++) {
    const lc_rule *ru = &c->rules[i];
    size_t pl = ru->prefix ? strlen(ru->prefix) : 0;
    if (!ru->enabled || ru->abort_days <= 0 ||
        (pl && (pl > x->key_len || memcmp(x->key, ru->prefix, pl))))
      continue;
    int64_t e = round_up(initiated_ms + ru->abort_days * lc_day_ms(x->s3), lc_day_ms(x->s3));
    if (!best || e < when) {
      best = ru;
      when = e;
    }
  }
  if (best) {
    char date[40];
    tw_s3_http_date(when, date);
    tw_req_add_header(r, "x-amz-abort-date", date);
    tw_buf b;
    tw_buf_init(&b, 4096);
    header_id(&b, best->id);
    tw_req_add_header(r, "x-amz-abort-rule-id", tw_buf_cstr(&b));
    tw_buf_free(&b);
  }
  lc_cfg_put(c);
}

/* --- reading the configuration document ----------------------------------------------- */

/* The first fault found. MalformedXML (the document does not fit S3's schema)
 * wins over the others, as S3 checks the schema before the values. */
typedef struct {
  tw_err code; /* TW_ERR_OK: none */
  char msg[512];
  tw_buf extra;
} lc_err;

static int malformed(lc_err *e) {
  e->code = TW_ERR_S3_MALFORMED_XML;
  e->msg[0] = 0;
  tw_buf_reset(&e->extra);
  return -1;
}

static void invalid(lc_err *e, tw_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void invalid(lc_err *e, tw_err code, const char *fmt, ...) {
  if (e->code != TW_ERR_OK) return;
  e->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
}

static int only(json_t *o, const char *const *names) {
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    int ok = 0;
    for (int i = 0; names[i]; i++) ok |= !strcmp(k, names[i]);
    if (!ok) return 0;
  }
  return 1;
}

/* xsd:int / xsd:long: optional sign, digits, surrounding white space. */
static int parse_int(json_t *v, int64_t min, int64_t max, int64_t *out) {
  const char *s = json_string_value(v);
  if (!s) return -1;
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
  int neg = *s == '-';
  if (*s == '-' || *s == '+') s++;
  if (*s < '0' || *s > '9') return -1;
  int64_t n = 0;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (n > (INT64_MAX - 9) / 10) return -1;
    n = n * 10 + (*s - '0');
  }
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
  if (*s) return -1;
  n = neg ? -n : n;
  if (n < min || n > max) return -1;
  *out = n;
  return 0;
}

/* ISO 8601: YYYY-MM-DD[THH:MM:SS[.fff][Z|+HH:MM|-HH:MM]] -> epoch ms. */
static int parse_date(const char *s, int64_t *out) {
  int y, mo, d, h = 0, mi = 0, se = 0, n = 0;
  long frac = 0, off = 0;
  if (!s || sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10) return -1;
  const char *p = s + n;
  if (*p == 'T' || *p == 't') {
    if (sscanf(p + 1, "%2d:%2d:%2d%n", &h, &mi, &se, &n) != 3 || n != 8) return -1;
    p += 1 + n;
    if (*p == '.') {
      int digits = 0;
      for (p++; *p >= '0' && *p <= '9'; p++, digits++)
        if (digits < 3) frac = frac * 10 + (*p - '0');
      if (!digits) return -1;
      for (; digits < 3; digits++) frac *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
      p++;
    } else if (*p == '+' || *p == '-') {
      int oh, om;
      if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 || om > 59) return -1;
      off = (*p == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
      p += 1 + n;
    }
  }
  if (*p || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return -1;
  struct tm tm = {.tm_year = y - 1900,
                  .tm_mon = mo - 1,
                  .tm_mday = d,
                  .tm_hour = h,
                  .tm_min = mi,
                  .tm_sec = se};
  time_t t = timegm(&tm);
  if (tm.tm_mday != d || tm.tm_mon != mo - 1) return -1; /* 30 February */
  *out = ((int64_t)t - off) * 1000 + frac;
  return 0;
}

static int parse_tag(json_t *t, json_t *tags, lc_err *e) {
  static const char *const names[] = {"Key", "Value", NULL};
  if (!json_is_object(t) || !only(t, names)) return malformed(e);
  const char *k = json_string_value(json_object_get(t, "Key"));
  json_t *vv = json_object_get(t, "Value");
  const char *v = vv ? json_string_value(vv) : ""; /* no Value: the tag without one */
  if (!k || !*k || !v) return malformed(e);
  size_t i;
  json_t *o;
  json_array_foreach(tags, i, o) if (!strcmp(json_string_value(json_array_get(o, 0)), k)) {
    invalid(e, TW_ERR_S3_INVALID_REQUEST, "Duplicate Tag Keys are not allowed.");
  }
  json_array_append_new(tags, json_pack("[s,s]", k, v));
  return 0;
}

static int parse_size(json_t *v, const char *name, int64_t min, json_t *out, lc_err *e) {
  int64_t n;
  if (parse_int(v, INT64_MIN, INT64_MAX, &n)) return malformed(e);
  if (n < min || n > MAX_SIZE)
    invalid(e, TW_ERR_S3_INVALID_REQUEST, "'%s' should be between %" PRId64 " and %lld.", name, min,
            MAX_SIZE);
  json_object_set_new(out, !strcmp(name, "ObjectSizeGreaterThan") ? "Gt" : "Lt", json_integer(n));
  return 0;
}

/* Filter -> out's Filter (its kind), Prefix, Tags, Gt, Lt. */
static int parse_filter(json_t *f, json_t *out, lc_err *e) {
  static const char *const preds[] = {
      "Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan", "And", NULL};
  json_t *tags = json_array();
  json_object_set_new(out, "Tags", tags);
  const char *text = json_string_value(f);
  if (text) { /* <Filter/> or <Filter></Filter>: every object */
    if (strspn(text, " \t\r\n") != strlen(text)) return malformed(e);
    json_object_set_new(out, "Filter", json_string("empty"));
    return 0;
  }
  if (!json_is_object(f) || !only(f, preds) || json_object_size(f) > 1) return malformed(e);
  json_t *v;
  if (!json_object_size(f)) {
    json_object_set_new(out, "Filter", json_string("empty"));
  } else if ((v = json_object_get(f, "Prefix"))) {
    if (!json_is_string(v)) return malformed(e);
    json_object_set_new(out, "Filter", json_string("prefix"));
    json_object_set(out, "Prefix", v);
  } else if ((v = json_object_get(f, "Tag"))) {
    json_object_set_new(out, "Filter", json_string("tag"));
    return parse_tag(v, tags, e);
  } else if ((v = json_object_get(f, "ObjectSizeGreaterThan"))) {
    json_object_set_new(out, "Filter", json_string("gt"));
    return parse_size(v, "ObjectSizeGreaterThan", 0, out, e);
  } else if ((v = json_object_get(f, "ObjectSizeLessThan"))) {
    json_object_set_new(out, "Filter", json_string("lt"));
    return parse_size(v, "ObjectSizeLessThan", 1, out, e);
  } else {
    json_t *a = json_object_get(f, "And");
    if (!json_is_object(a) || !only(a, preds) || json_object_get(a, "And")) return malformed(e);
    json_object_set_new(out, "Filter", json_string("and"));
    int npred = 0;
    if ((v = json_object_get(a, "Prefix"))) {
      if (!json_is_string(v)) return malformed(e);
      json_object_set(out, "Prefix", v);
      npred++;
    }
    json_t *list = tw_xml_list(a, "Tag");
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) {
      if (parse_tag(t, tags, e)) {
        json_decref(list);
        return -1;
      }
      npred++;
    }
    json_decref(list);
    if ((v = json_object_get(a, "ObjectSizeGreaterThan"))) {
      if (parse_size(v, "ObjectSizeGreaterThan", 0, out, e)) return -1;
      npred++;
    }
    if ((v = json_object_get(a, "ObjectSizeLessThan"))) {
      if (parse_size(v, "ObjectSizeLessThan", 1, out, e)) return -1;
      npred++;
    }
    if (npred < 2) return malformed(e); /* And joins two predicates or more */
  }
  if (jint(out, "Gt", -1) >= 0 && jint(out, "Lt", -1) >= 0 &&
      jint(out, "Lt", -1) <= jint(out, "Gt", -1))
    invalid(e, TW_ERR_S3_INVALID_REQUEST,
            "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'.");
  return 0;
}

/* 'Days', 'DaysAfterInitiation', ...: a positive int; MalformedXML when not an int. */
static int parse_days(json_t *v, const char *name, const char *action, const char *key, json_t *out,
                      lc_err *e) {
  int64_t n;
  if (parse_int(v, INT32_MIN, INT32_MAX, &n)) return malformed(e);
  if (n <= 0)
    invalid(e, TW_ERR_S3_INVALID_ARGUMENT, "'%s' for %s action must be a positive integer", name,
            action);
  json_object_set_new(out, key, json_integer(n));
  return 0;
}

static const char *const rule_names[] = {"ID",
                                         "Status",
                                         "Filter",
                                         "Prefix",
                                         "Expiration",
                                         "Transition",
                                         "NoncurrentVersionTransition",
                                         "NoncurrentVersionExpiration",
                                         "AbortIncompleteMultipartUpload",
                                         NULL};

/* The actions of one rule -> out. */
static int parse_actions(json_t *ru, json_t *out, lc_err *e) {
  int tagged = json_array_size(json_object_get(out, "Tags")) > 0;
  int sized = json_object_get(out, "Gt") || json_object_get(out, "Lt");
  int v1 = json_is_true(json_object_get(out, "V1"));
  json_t *x;
  if ((x = json_object_get(ru, "Expiration"))) {
    static const char *const names[] = {"Days", "Date", "ExpiredObjectDeleteMarker", NULL};
    if (!json_is_object(x) || !only(x, names) || json_object_size(x) != 1) return malformed(e);
    json_t *v;
    if ((v = json_object_get(x, "Days"))) {
      if (parse_days(v, "Days", "Expiration", "Days", out, e)) return -1;
    } else if ((v = json_object_get(x, "Date"))) {
      int64_t ms;
      if (parse_date(json_string_value(v), &ms)) return malformed(e);
      if (ms % DAY_MS && e->code == TW_ERR_OK) {
        invalid(e, TW_ERR_S3_INVALID_ARGUMENT, "'Date' must be at midnight GMT");
        tw_s3_xml_text(&e->extra, "ArgumentName", "Date");
        tw_s3_xml_text(&e->extra, "ArgumentValue", json_string_value(v));
      }
      json_object_set_new(out, "Date", json_integer(ms));
    } else {
      const char *b = json_string_value(json_object_get(x, "ExpiredObjectDeleteMarker"));
      if (!b || (strcmp(b, "true") && strcmp(b, "false"))) return malformed(e);
      if (tagged)
        invalid(e, TW_ERR_S3_INVALID_REQUEST,
                "ExpiredObjectDeleteMarker cannot be specified with Tags.");
      if (sized)
        invalid(e, TW_ERR_S3_INVALID_REQUEST,
                "ExpiredObjectDeleteMarker cannot be specified with Object Size.");
      json_object_set_new(out, "EODM", json_boolean(!strcmp(b, "true")));
    }
  }
  if ((x = json_object_get(ru, "NoncurrentVersionExpiration"))) {
    static const char *const names[] = {"NoncurrentDays", "NewerNoncurrentVersions", NULL};
    if (!json_is_object(x) || !only(x, names) || !json_object_get(x, "NoncurrentDays"))
      return malformed(e);
    if (parse_days(json_object_get(x, "NoncurrentDays"), "NoncurrentDays",
                   "NoncurrentVersionExpiration", "NcDays", out, e))
      return -1;
    json_t *nv = json_object_get(x, "NewerNoncurrentVersions");
    if (nv) {
      if (parse_days(nv, "NewerNoncurrentVersions", "NoncurrentVersionExpiration", "NcNewer", out,
                     e))
        return -1;
      if (v1)
        invalid(e, TW_ERR_S3_INVALID_REQUEST,
                "NewerNoncurrentVersions element can only be used in Lifecycle V2.");
    }
  }
  if ((x = json_object_get(ru, "AbortIncompleteMultipartUpload"))) {
    static const char *const names[] = {"DaysAfterInitiation", NULL};
    if (!json_is_object(x) || !only(x, names) || !json_object_get(x, "DaysAfterInitiation"))
      return malformed(e);
    if (parse_days(json_object_get(x, "DaysAfterInitiation"), "DaysAfterInitiation",
                   "AbortIncompleteMultipartUpload", "Abort", out, e))
      return -1;
    if (tagged)
      invalid(e, TW_ERR_S3_INVALID_REQUEST,
              "AbortIncompleteMultipartUpload cannot be specified with Tags.");
    if (sized)
      invalid(e, TW_ERR_S3_INVALID_REQUEST,
              "AbortIncompleteMultipartUpload cannot be specified with Object Size.");
  }
  if (json_object_get(ru, "Transition") || json_object_get(ru, "NoncurrentVersionTransition"))
    invalid(e, TW_ERR_S3_NOT_IMPLEMENTED,
            "tweedle has a single storage class: Transition actions are not implemented");
  if (!json_object_get(ru, "Expiration") && !json_object_get(ru, "NoncurrentVersionExpiration") &&
      !json_object_get(ru, "AbortIncompleteMultipartUpload") &&
      !json_object_get(ru, "Transition") && !json_object_get(ru, "NoncurrentVersionTransition"))
    invalid(e, TW_ERR_S3_INVALID_REQUEST, "At least one action needs to be specified in a rule");
  return 0;
}

static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static int parse_rule(json_t *ru, json_t *out, lc_err *e) {
  if (!json_is_object(ru) || !only(ru, rule_names)) return malformed(e);
  const char *k;
  json_t *v;
  json_object_foreach(ru, k, v) if (json_is_array(v) && strcmp(k, "Transition") &&
                                    strcmp(k, "NoncurrentVersionTransition")) return malformed(e);
  json_t *id = json_object_get(ru, "ID");
  if (id && !json_is_string(id)) return malformed(e);
  char gen[64];
  if (!id || !*json_string_value(id)) { /* S3 names it: base64 of a UUID, 48 characters */
    char uuid[37];
    tw_uuid4(uuid);
    tw_base64_encode((const uint8_t *)uuid, 36, gen);
    json_object_set_new(out, "ID", json_string(gen));
  } else {
    if (utf8_chars(json_string_value(id)) > MAX_ID_CHARS)
      invalid(e, TW_ERR_S3_INVALID_ARGUMENT, "ID length should not exceed allowed limit of %d",
              MAX_ID_CHARS);
    json_object_set(out, "ID", id);
  }
  const char *status = json_string_value(json_object_get(ru, "Status"));
  if (!status || (strcmp(status, "Enabled") && strcmp(status, "Disabled"))) return malformed(e);
  json_object_set_new(out, "Status", json_string(status));
  json_t *filter = json_object_get(ru, "Filter"), *prefix = json_object_get(ru, "Prefix");
  if (!filter == !prefix) return malformed(e); /* one of the two */
  if (prefix) {
    if (!json_is_string(prefix)) return malformed(e);
    json_object_set_new(out, "V1", json_true());
    json_object_set(out, "Prefix", prefix);
  } else if (parse_filter(filter, out, e)) {
    return -1;
  }
  return parse_actions(ru, out, e);
}

/* Two rule-level prefixes, one the start of the other, for the same action. */
static void check_overlaps(json_t *rules, lc_err *e) {
  static const char *const actions[][2] = {{"Days", "Expiration"},
                                           {"Date", "Expiration"},
                                           {"EODM", "Expiration"},
                                           {"NcDays", "NoncurrentVersionExpiration"},
                                           {"Abort", "AbortIncompleteMultipartUpload"}};
  size_t n = json_array_size(rules);
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++) {
      json_t *a = json_array_get(rules, i), *b = json_array_get(rules, j);
      const char *pa = str_or(json_string_value(json_object_get(a, "Prefix")), "");
      const char *pb = str_or(json_string_value(json_object_get(b, "Prefix")), "");
      size_t la = strlen(pa), lb = strlen(pb);
      if (strncmp(pa, pb, la < lb ? la : lb)) continue;
      for (size_t k = 0; k < sizeof actions / sizeof actions[0]; k++) {
        int ha = 0, hb = 0;
        for (size_t m = 0; m < sizeof actions / sizeof actions[0]; m++)
          if (!strcmp(actions[m][1], actions[k][1])) {
            ha |= json_object_get(a, actions[m][0]) != NULL;
            hb |= json_object_get(b, actions[m][0]) != NULL;
          }
        if (ha && hb) {
          invalid(e, TW_ERR_S3_INVALID_REQUEST,
                  "Found overlapping prefixes '%s' and '%s' for same action type '%s'", pa, pb,
                  actions[k][1]);
          return;
        }
      }
    }
}

/* <LifecycleConfiguration> -> the stored form (a JSON array), or NULL with e set. */
static json_t *parse_config(tw_request *r, lc_err *e) {
  char *root = NULL;
  json_t *doc = r->body.len ? tw_xml_parse(r->body.data, r->body.len, &root) : NULL;
  static const char *const names[] = {"Rule", NULL};
  int ok = doc && root && !strcmp(root, "LifecycleConfiguration") && only(doc, names);
  free(root);
  if (!ok) {
    json_decref(doc);
    malformed(e);
    return NULL;
  }
  json_t *rules = tw_xml_list(doc, "Rule");
  json_decref(doc);
  size_t n = json_array_size(rules);
  if (!n || n > MAX_RULES) {
    json_decref(rules);
    invalid(e, TW_ERR_S3_INVALID_REQUEST,
            n ? "The number of lifecycle rules must not exceed the allowed limit of 1000 rules."
              : "At least one lifecycle rule must be specified.");
    return NULL;
  }
  json_t *out = json_array();
  int v1 = -1; /* the form of the first rule: rule-level Prefix (V1) or Filter (V2) */
  size_t i;
  json_t *ru;
  json_array_foreach(rules, i, ru) {
    json_t *o = json_object();
    json_array_append_new(out, o);
    if (parse_rule(ru, o, e)) break;
    int this_v1 = json_is_true(json_object_get(o, "V1"));
    if (v1 < 0) v1 = this_v1;
    if (v1 != this_v1)
      invalid(e, TW_ERR_S3_INVALID_REQUEST,
              v1 ? "Filter element can only be used in Lifecycle V2."
                 : "Base level prefix cannot be used in Lifecycle V2, prefixes are only supported "
                   "in the Filter.");
    for (size_t j = 0; j < i; j++)
      if (json_equal(json_object_get(json_array_get(out, j), "ID"), json_object_get(o, "ID")))
        invalid(e, TW_ERR_S3_INVALID_ARGUMENT,
                "Rule ID must be unique. Found same ID for more than one rule");
  }
  json_decref(rules);
  if (e->code == TW_ERR_OK && v1 == 1) check_overlaps(out, e);
  if (e->code != TW_ERR_OK) {
    json_decref(out);
    return NULL;
  }
  return out;
}

/* --- writing it back ------------------------------------------------------------------------- */

static void write_tag(tw_buf *b, const char *k, const char *v) {
  tw_buf_puts(b, "<Tag>");
  tw_s3_xml_text(b, "Key", k);
  tw_s3_xml_text(b, "Value", v);
  tw_buf_puts(b, "</Tag>");
}

/* S3's element order: ID, Filter (or Prefix), Status, then the actions. */
static void write_config(tw_buf *b, const lc_cfg *c) {
  tw_s3_xml_begin(b, "LifecycleConfiguration");
  for (size_t i = 0; i < c->n; i++) {
    const lc_rule *ru = &c->rules[i];
    tw_buf_puts(b, "<Rule>");
    tw_s3_xml_text(b, "ID", ru->id);
    if (ru->v1) {
      tw_s3_xml_text(b, "Prefix", ru->prefix);
    } else if (ru->fkind == LC_F_EMPTY) {
      tw_buf_puts(b, "<Filter/>");
    } else {
      tw_buf_puts(b, ru->fkind == LC_F_AND ? "<Filter><And>" : "<Filter>");
      if (ru->prefix) tw_s3_xml_text(b, "Prefix", ru->prefix);
      for (size_t j = 0; j < ru->ntags; j++) write_tag(b, ru->tk[j], ru->tv[j]);
      if (ru->gt >= 0)
        tw_buf_printf(b, "<ObjectSizeGreaterThan>%" PRId64 "</ObjectSizeGreaterThan>", ru->gt);
      if (ru->lt >= 0)
        tw_buf_printf(b, "<ObjectSizeLessThan>%" PRId64 "</ObjectSizeLessThan>", ru->lt);
      tw_buf_puts(b, ru->fkind == LC_F_AND ? "</And></Filter>" : "</Filter>");
    }
    tw_s3_xml_text(b, "Status", ru->enabled ? "Enabled" : "Disabled");
    if (ru->days > 0) {
      tw_buf_printf(b, "<Expiration><Days>%" PRId64 "</Days></Expiration>", ru->days);
    } else if (ru->has_date) {
      char when[32];
      tw_s3_iso8601(ru->date_ms, when);
      tw_buf_printf(b, "<Expiration><Date>%s</Date></Expiration>", when);
    } else if (ru->eodm >= 0) {
      tw_buf_printf(
          b, "<Expiration><ExpiredObjectDeleteMarker>%s</ExpiredObjectDeleteMarker></Expiration>",
          ru->eodm ? "true" : "false");
    }
    if (ru->nc_days > 0) {
      tw_buf_printf(b, "<NoncurrentVersionExpiration><NoncurrentDays>%" PRId64 "</NoncurrentDays>",
                    ru->nc_days);
      if (ru->nc_newer > 0)
        tw_buf_printf(b, "<NewerNoncurrentVersions>%" PRId64 "</NewerNoncurrentVersions>",
                      ru->nc_newer);
      tw_buf_puts(b, "</NoncurrentVersionExpiration>");
    }
    if (ru->abort_days > 0)
      tw_buf_printf(b,
                    "<AbortIncompleteMultipartUpload><DaysAfterInitiation>%" PRId64
                    "</DaysAfterInitiation></AbortIncompleteMultipartUpload>",
                    ru->abort_days);
    tw_buf_puts(b, "</Rule>");
  }
  tw_buf_puts(b, "</LifecycleConfiguration>");
}

/* --- Put/Get/DeleteBucketLifecycleConfiguration ------------------------------------------------
 */

static int bucket_or_404(tw_request *r, s3_ctx *x) {
  int e = tw_s3_bucket_exists(x->s3, x->bucket);
  if (e <= 0) tw_s3_error(r, x, e < 0 ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_BUCKET, NULL);
  return e > 0 ? 0 : -1;
}

/* Sent by S3 with every lifecycle configuration made since September 2024. */
static void transition_default(tw_request *r) {
  tw_req_add_header(r, "x-amz-transition-default-minimum-object-size", "all_storage_classes_128K");
}

static void lifecycle_saved(tw_request *r) {
  if (tw_s3_commit_failed(r, r->ctx)) return;
  tw_req_respond(r, 200, NULL, "", 0);
  tw_s3_add_common_headers(r);
  transition_default(r);
}

static void lifecycle_deleted(tw_request *r) {
  if (tw_s3_commit_failed(r, r->ctx)) return;
  tw_req_respond(r, 204, NULL, "", 0);
  tw_s3_add_common_headers(r);
}

void tw_s3_put_lifecycle(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  if (bucket_or_404(r, x)) return;
  if (tw_s3_check_body_digests(r, x, TW_S3_MISSING_DIGEST)) return;
  lc_err e = {.code = TW_ERR_OK};
  tw_buf_init(&e.extra, 64 * 1024);
  json_t *rules = parse_config(r, &e);
  if (!rules) {
    tw_s3_error_key(r, x, e.code, e.msg, e.extra.len ? tw_buf_cstr(&e.extra) : NULL);
    tw_buf_free(&e.extra);
    return;
  }
  tw_buf_free(&e.extra);
  char *text = json_dumps(rules, JSON_COMPACT);
  lc_cfg *c = cfg_compile(rules);
  json_decref(rules);
  /* s->mu orders this against DeleteBucket: the rules never outlive the bucket */
  pthread_mutex_lock(&s->mu);
  if (bucket_or_404(r, x)) {
    pthread_mutex_unlock(&s->mu);
    lc_cfg_put(c);
    free(text);
    return;
  }
  cache_set(s, x->bucket, c);
  uint64_t t =
      tw_store_s3_buckets(s->store)->set_setting(s->store, x->bucket, TW_S3_BUCKET_LIFECYCLE, text);
  pthread_mutex_unlock(&s->mu);
  free(text);
  lc_sweeper_kick(s); /* a rule whose time has come acts now, not a cadence later */
  tw_req_after_commit(r, t, lifecycle_saved);
}

void tw_s3_get_lifecycle(tw_request *r, s3_ctx *x) {
  tw_store *store = x->s3->store;
  char *text = NULL;
  int found =
      tw_store_s3_buckets(store)->get_setting(store, x->bucket, TW_S3_BUCKET_LIFECYCLE, &text);
  if (found < 0) {
    tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
    return;
  }
  json_t *rules = text ? json_loads(text, 0, NULL) : NULL;
  free(text);
  lc_cfg *c = cfg_compile(rules);
  json_decref(rules);
  if (!c) {
    tw_buf ex;
    tw_buf_init(&ex, 4096);
    tw_s3_xml_text(&ex, "BucketName", x->bucket);
    tw_s3_error_key(r, x, found ? TW_ERR_S3_NO_SUCH_LIFECYCLE : TW_ERR_S3_NO_SUCH_BUCKET, NULL,
                    found ? tw_buf_cstr(&ex) : NULL);
    tw_buf_free(&ex);
    return;
  }
  tw_buf b;
  tw_buf_init(&b, 64u << 20);
  write_config(&b, c);
  lc_cfg_put(c);
  tw_s3_respond_xml(r, 200, &b);
  transition_default(r);
}

void tw_s3_delete_lifecycle(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  pthread_mutex_lock(&s->mu);
  if (bucket_or_404(r, x)) {
    pthread_mutex_unlock(&s->mu);
    return;
  }
  cache_set(s, x->bucket, NULL);
  uint64_t t =
      tw_store_s3_buckets(s->store)->set_setting(s->store, x->bucket, TW_S3_BUCKET_LIFECYCLE, NULL);
  pthread_mutex_unlock(&s->mu);
  tw_req_after_commit(r, t, lifecycle_deleted);
}

/* --- start and stop ----------------------------------------------------------------------------
 */

static int load_one(void *ud, const char *name, const char *text) {
  struct s3_lifecycle_state *st = ud;
  json_t *rules = text ? json_loads(text, 0, NULL) : NULL;
  lc_cfg *c = cfg_compile(rules);
  json_decref(rules);
  if (!name || !c) {
    tw_warn("s3: bucket %s: unreadable lifecycle configuration ignored", name ? name : "?");
    lc_cfg_put(c);
    return 0;
  }
  tw_map_put(&st->by_bucket, name, c);
  return 0;
}

int tw_s3_lifecycle_open(tw_s3 *s) {
  struct s3_lifecycle_state *st = calloc(1, sizeof *st);
  if (!st) return -1;
  pthread_mutex_init(&st->mu, NULL);
  tw_map_init(&st->by_bucket);
  s->lc = st;
  if (tw_store_s3_buckets(s->store)->each_setting(s->store, TW_S3_BUCKET_LIFECYCLE, load_one, st))
    return -1;
  atomic_store(&st->count, st->by_bucket.count);
  return lc_sweeper_start(s);
}

void tw_s3_stop(tw_s3 *s) {
  if (!s) return;
  lc_sweeper_stop(s);
  tw_s3_copy_stop(s, 1); /* copies still running stop; their requests answer 503 */
}

void tw_s3_lifecycle_close(tw_s3 *s) {
  struct s3_lifecycle_state *st = s->lc;
  if (!st) return;
  lc_sweeper_stop(s);
  tw_map_entry *it = NULL;
  const char *k;
  void *v;
  while ((it = tw_map_next(&st->by_bucket, it, &k, &v))) lc_cfg_put(v);
  tw_map_free(&st->by_bucket);
  pthread_mutex_destroy(&st->mu);
  free(st);
  s->lc = NULL;
}
