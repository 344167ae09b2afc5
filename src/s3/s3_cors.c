/* Per-bucket CORS: Put/Get/DeleteBucketCors, the OPTIONS preflight, and the
 * Access-Control-* headers on ordinary responses.
 *
 * The rules are stored as JSON in buckets.cors and kept compiled in a map by
 * bucket name. Every S3 response consults the map, so the common cases stay
 * free: no Origin header, or no bucket with rules at all, takes no lock; a
 * bucket without rules costs one hash lookup under a read lock. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/map.h"
#include "core/xml_in.h"
#include "s3/s3_internal.h"
#include "store/s3_buckets.h"

#define CORS_MAX_RULES 100
#define CORS_MAX_ID_CHARS 255
#define CORS_MAX_AGE 2147483647LL
#define CORS_VARY "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
#define MSG_NOT_ENABLED "CORSResponse: CORS is not enabled for this bucket."
#define MSG_NO_BUCKET "CORSResponse: Bucket not found"

typedef struct {
  char **v;
  size_t n;
} strlist;

typedef struct {
  char *id; /* NULL: none */
  strlist origins, methods, headers, expose;
  long long max_age;              /* -1: none */
  int any_origin;                 /* an AllowedOrigin is exactly "*": answer "*" */
  char *methods_hdr, *expose_hdr; /* joined with ", "; expose_hdr NULL when none */
} cors_rule;

typedef struct {
  cors_rule *rules;
  size_t n;
} cors_cfg;

struct s3_cors_state {
  pthread_rwlock_t lock;
  tw_map by_bucket;    /* bucket name -> cors_cfg* */
  atomic_size_t count; /* entries in by_bucket, read without the lock */
};

static const char *const methods_known[] = {"GET", "PUT", "POST", "DELETE", "HEAD", NULL};

static int method_known(const char *m) {
  for (int i = 0; methods_known[i]; i++)
    if (!strcmp(m, methods_known[i])) return 1;
  return 0;
}

/* --- compiled rules ------------------------------------------------------------ */

static void strlist_free(strlist *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
}

static void strlist_from(strlist *l, json_t *arr) {
  l->n = json_array_size(arr);
  l->v = calloc(l->n ? l->n : 1, sizeof *l->v);
  for (size_t i = 0; i < l->n; i++) {
    const char *s = json_string_value(json_array_get(arr, i));
    l->v[i] = strdup(s ? s : "");
  }
}

static char *join(const strlist *l) {
  if (!l->n) return NULL;
  tw_buf b;
  tw_buf_init(&b, 1 << 20);
  for (size_t i = 0; i < l->n; i++) {
    if (i) tw_buf_puts(&b, ", ");
    tw_buf_puts(&b, l->v[i]);
  }
  return tw_buf_detach(&b, NULL);
}

static void cfg_free(cors_cfg *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) {
    cors_rule *ru = &c->rules[i];
    free(ru->id);
    strlist_free(&ru->origins);
    strlist_free(&ru->methods);
    strlist_free(&ru->headers);
    strlist_free(&ru->expose);
    free(ru->methods_hdr);
    free(ru->expose_hdr);
  }
  free(c->rules);
  free(c);
}

/* The stored form (a JSON array of rules, as read_rules makes it) -> rules;
 * NULL when a rule lacks an origin or a method. */
static cors_cfg *cfg_compile(json_t *arr) {
  if (!json_is_array(arr) || !json_array_size(arr)) return NULL;
  cors_cfg *c = calloc(1, sizeof *c);
  c->n = json_array_size(arr);
  c->rules = calloc(c->n, sizeof *c->rules);
  for (size_t i = 0; i < c->n; i++) {
    json_t *o = json_array_get(arr, i);
    cors_rule *ru = &c->rules[i];
    const char *id = json_string_value(json_object_get(o, "ID"));
    ru->id = id ? strdup(id) : NULL;
    strlist_from(&ru->origins, json_object_get(o, "AllowedOrigin"));
    strlist_from(&ru->methods, json_object_get(o, "AllowedMethod"));
    strlist_from(&ru->headers, json_object_get(o, "AllowedHeader"));
    strlist_from(&ru->expose, json_object_get(o, "ExposeHeader"));
    json_t *age = json_object_get(o, "MaxAgeSeconds");
    ru->max_age = json_is_integer(age) ? (long long)json_integer_value(age) : -1;
    for (size_t j = 0; j < ru->origins.n; j++) ru->any_origin |= !strcmp(ru->origins.v[j], "*");
    ru->methods_hdr = join(&ru->methods);
    ru->expose_hdr = join(&ru->expose);
    if (!ru->origins.n || !ru->methods.n) {
      cfg_free(c);
      return NULL;
    }
  }
  return c;
}

/* Installs (c != NULL) or drops a bucket's rules; the caller holds s->mu. */
static void cache_set(struct s3_cors_state *st, const char *bucket, cors_cfg *c) {
  pthread_rwlock_wrlock(&st->lock);
  cors_cfg *old = tw_map_get(&st->by_bucket, bucket);
  if (c)
    tw_map_put(&st->by_bucket, bucket, c);
  else if (old)
    tw_map_del(&st->by_bucket, bucket);
  atomic_store(&st->count, st->by_bucket.count);
  pthread_rwlock_unlock(&st->lock); /* readers use rules only under the lock */
  cfg_free(old);
}

/* --- matching ------------------------------------------------------------------ */

/* `pat` with at most one '*', which stands for any run of characters (none too). */
static int glob_match(const char *pat, const char *s, int nocase) {
  const char *star = strchr(pat, '*');
  if (!star) return nocase ? !strcasecmp(pat, s) : !strcmp(pat, s);
  size_t pre = (size_t)(star - pat), suf = strlen(star + 1), n = strlen(s);
  if (n < pre + suf) return 0;
  if (nocase) return !strncasecmp(pat, s, pre) && !strncasecmp(star + 1, s + n - suf, suf);
  return !strncmp(pat, s, pre) && !strncmp(star + 1, s + n - suf, suf);
}

/* Access-Control-Request-Headers: names split on ',', trimmed, lowercased,
 * empty ones dropped. */
typedef struct {
  char *buf;
  char **tok;
  size_t n;
} hdr_list;

static void hdr_list_parse(hdr_list *h, const char *v) {
  memset(h, 0, sizeof *h);
  if (!v) return;
  h->buf = strdup(v);
  size_t max = 1;
  for (const char *p = v; *p; p++) max += *p == ',';
  h->tok = calloc(max, sizeof *h->tok);
  char *save = NULL;
  for (char *t = strtok_r(h->buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ' || *t == '\t') t++;
    size_t l = strlen(t);
    while (l && (t[l - 1] == ' ' || t[l - 1] == '\t')) t[--l] = 0;
    if (!l) continue;
    for (char *c = t; *c; c++)
      if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
    h->tok[h->n++] = t;
  }
}

static void hdr_list_free(hdr_list *h) {
  free(h->buf);
  free(h->tok);
}

/* The first rule that allows the origin, the method and every requested header. */
static const cors_rule *match(const cors_cfg *c, const char *origin, const char *method,
                              const hdr_list *h) {
  for (size_t i = 0; i < c->n; i++) {
    const cors_rule *ru = &c->rules[i];
    int ok = 0;
    for (size_t j = 0; j < ru->methods.n && !ok; j++) ok = !strcmp(ru->methods.v[j], method);
    if (!ok) continue;
    ok = 0;
    for (size_t j = 0; j < ru->origins.n && !ok; j++) ok = glob_match(ru->origins.v[j], origin, 0);
    if (!ok) continue;
    for (size_t k = 0; k < h->n && ok; k++) {
      ok = 0;
      for (size_t j = 0; j < ru->headers.n && !ok; j++)
        ok = glob_match(ru->headers.v[j], h->tok[k], 1);
    }
    if (ok) return ru;
  }
  return NULL;
}

/* The Access-Control-* headers of a matched rule, in S3's order. */
static void emit(tw_request *r, const cors_rule *ru, const char *origin, const hdr_list *h) {
  tw_req_add_header(r, "Access-Control-Allow-Origin", ru->any_origin ? "*" : origin);
  tw_req_add_header(r, "Access-Control-Allow-Methods", ru->methods_hdr);
  if (h->n) {
    strlist l = {h->tok, h->n};
    char *v = join(&l);
    tw_req_add_header(r, "Access-Control-Allow-Headers", v);
    free(v);
  }
  if (ru->expose_hdr) tw_req_add_header(r, "Access-Control-Expose-Headers", ru->expose_hdr);
  if (ru->max_age >= 0) {
    char age[24];
    snprintf(age, sizeof age, "%lld", ru->max_age);
    tw_req_add_header(r, "Access-Control-Max-Age", age);
  }
  if (!ru->any_origin) tw_req_add_header(r, "Access-Control-Allow-Credentials", "true");
  tw_req_add_header(r, "Vary", CORS_VARY);
}

void tw_s3_cors_add_headers(tw_request *r, s3_ctx *x) {
  if (!x || !x->bucket || !x->s3 || !x->s3->cors) return;
  struct s3_cors_state *st = x->s3->cors;
  if (!atomic_load_explicit(&st->count, memory_order_relaxed)) return;
  const char *origin = tw_req_header(r, "Origin");
  if (!origin || !*origin) return;
  if (!strcmp(r->method, "OPTIONS")) return; /* the preflight answers for itself */
  /* S3 evaluates an actual request that carries the preflight headers as if it
   * were the preflight they describe */
  const char *method = tw_req_header(r, "Access-Control-Request-Method");
  hdr_list h;
  hdr_list_parse(&h, tw_req_header(r, "Access-Control-Request-Headers"));
  pthread_rwlock_rdlock(&st->lock);
  const cors_cfg *c = tw_map_get(&st->by_bucket, x->bucket);
  const cors_rule *ru = c ? match(c, origin, method ? method : r->method, &h) : NULL;
  if (ru) emit(r, ru, origin, &h);
  pthread_rwlock_unlock(&st->lock);
  hdr_list_free(&h);
}

/* --- preflight --------------------------------------------------------------------- */

static void forbidden(tw_request *r, s3_ctx *x, const char *msg, const char *method,
                      const char *resource_type) {
  tw_buf ex;
  tw_buf_init(&ex, 64 * 1024);
  tw_s3_xml_text(&ex, "Method", method);
  tw_s3_xml_text(&ex, "ResourceType", resource_type);
  tw_s3_error_key(r, x, TW_ERR_S3_CORS_FORBIDDEN, msg, tw_buf_cstr(&ex));
  tw_buf_free(&ex);
}

void tw_s3_cors_preflight(tw_request *r, s3_ctx *x) {
  struct s3_cors_state *st = x->s3->cors;
  const char *origin = tw_req_header(r, "Origin");
  if (!origin || !*origin) {
    tw_s3_error(r, x, TW_ERR_S3_BAD_REQUEST, NULL);
    return;
  }
  const char *want = tw_req_header(r, "Access-Control-Request-Method");
  const char *shown = want ? want : "OPTIONS";
  pthread_rwlock_rdlock(&st->lock);
  const cors_cfg *c = x->bucket ? tw_map_get(&st->by_bucket, x->bucket) : NULL;
  if (!c) {
    pthread_rwlock_unlock(&st->lock);
    int e = x->bucket ? tw_s3_bucket_exists(x->s3, x->bucket) : 0;
    if (e < 0)
      tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
    else
      forbidden(r, x, e ? MSG_NOT_ENABLED : MSG_NO_BUCKET, shown, "BUCKET");
    return;
  }
  if (!want || !method_known(want)) {
    pthread_rwlock_unlock(&st->lock);
    char msg[512];
    snprintf(msg, sizeof msg, "Invalid Access-Control-Request-Method: %s", want ? want : "null");
    tw_s3_error(r, x, TW_ERR_S3_BAD_REQUEST, msg);
    return;
  }
  hdr_list h;
  hdr_list_parse(&h, tw_req_header(r, "Access-Control-Request-Headers"));
  const cors_rule *ru = match(c, origin, want, &h);
  if (!ru) {
    pthread_rwlock_unlock(&st->lock);
    hdr_list_free(&h);
    forbidden(r, x, NULL, want, x->key ? "OBJECT" : "BUCKET");
    return;
  }
  tw_req_respond(r, 200, NULL, "", 0);
  emit(r, ru, origin, &h);
  pthread_rwlock_unlock(&st->lock);
  hdr_list_free(&h);
  tw_s3_add_common_headers(r);
}

/* --- the configuration document ------------------------------------------------------ */

/* The element's values as a list of strings, or NULL when one is not text
 * (an element inside it). */
static json_t *text_list(json_t *rule, const char *name) {
  json_t *l = tw_xml_list(rule, name);
  size_t i;
  json_t *v;
  json_array_foreach(l, i, v) {
    if (!json_is_string(v)) {
      json_decref(l);
      return NULL;
    }
  }
  return l;
}

static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

/* MaxAgeSeconds: decimal digits only, a 32-bit signed value; -1 otherwise. */
static long long parse_max_age(const char *s) {
  if (!*s) return -1;
  long long v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (*s - '0');
    if (v > CORS_MAX_AGE) return -1;
  }
  return v;
}

/* Structure first (MalformedXML), for the whole document; NULL when it fails. */
static json_t *read_rules(json_t *doc) {
  static const char *const known[] = {
      "ID", "AllowedOrigin", "AllowedMethod", "AllowedHeader", "ExposeHeader", "MaxAgeSeconds",
      NULL};
  const char *k;
  json_t *v;
  json_object_foreach(doc, k, v) {
    if (strcmp(k, "CORSRule")) return NULL;
  }
  json_t *rules = tw_xml_list(doc, "CORSRule");
  size_t n = json_array_size(rules);
  json_t *out = n && n <= CORS_MAX_RULES ? json_array() : NULL;
  size_t i;
  json_t *rule;
  json_array_foreach(rules, i, rule) {
    if (!out) break;
    json_t *o = json_object();
    json_array_append_new(out, o);
    int bad = !json_is_object(rule);
    json_object_foreach(rule, k, v) {
      int ok = 0;
      for (int j = 0; known[j]; j++) ok |= !strcmp(k, known[j]);
      bad |= !ok;
    }
    for (int j = 1; known[j] && !bad; j++) {
      if (!strcmp(known[j], "MaxAgeSeconds")) continue;
      json_t *l = text_list(rule, known[j]);
      bad |= !l || (j <= 2 && !json_array_size(l)); /* an origin and a method are required */
      if (l && json_array_size(l)) json_object_set(o, known[j], l);
      json_decref(l);
    }
    json_t *id = json_object_get(rule, "ID");
    if (id && !bad) {
      bad = !json_is_string(id) || utf8_chars(json_string_value(id)) > CORS_MAX_ID_CHARS;
      if (!bad) json_object_set(o, "ID", id);
    }
    json_t *age = json_object_get(rule, "MaxAgeSeconds");
    if (age && !bad) {
      long long a = json_is_string(age) ? parse_max_age(json_string_value(age)) : -1;
      bad = a < 0;
      json_object_set_new(o, "MaxAgeSeconds", json_integer(a));
    }
    if (bad) {
      json_decref(out);
      out = NULL;
    }
  }
  json_decref(rules);
  return out;
}

static int count_stars(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '*';
  return n;
}

static int unknown_method(const char *s) {
  return !method_known(s);
}

static int two_stars(const char *s) {
  return count_stars(s) > 1;
}

static int any_star(const char *s) {
  return count_stars(s) > 0;
}

/* The first value of the rule's list `name` that `bad` refuses, or NULL. */
static const char *first_bad(json_t *rule, const char *name, int (*bad)(const char *)) {
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(rule, name), i, v) {
    if (bad(json_string_value(v))) return json_string_value(v);
  }
  return NULL;
}

/* Then the values (InvalidRequest), rule by rule; 0 or -1 with msg set. */
static int check_values(json_t *rules, char *msg, size_t msglen) {
  size_t i;
  json_t *o;
  json_array_foreach(rules, i, o) {
    const char *v;
    if ((v = first_bad(o, "AllowedMethod", unknown_method))) {
      snprintf(msg, msglen,
               "Found unsupported HTTP method in CORS config. Unsupported method is %s", v);
      return -1;
    }
    if ((v = first_bad(o, "AllowedOrigin", two_stars))) {
      snprintf(msg, msglen, "AllowedOrigin \"%s\" can not have more than one wildcard.", v);
      return -1;
    }
    if ((v = first_bad(o, "AllowedHeader", two_stars))) {
      snprintf(msg, msglen, "AllowedHeader \"%s\" can not have more than one wildcard.", v);
      return -1;
    }
    if ((v = first_bad(o, "ExposeHeader", any_star))) {
      snprintf(msg, msglen,
               "ExposeHeader \"%s\" contains wildcard. We currently do not support wildcard for "
               "ExposeHeader.",
               v);
      return -1;
    }
  }
  return 0;
}

/* PutBucketCors needs the body's integrity: Content-MD5 or one x-amz-checksum-*
 * header (botocore >= 1.36 sends CRC32 alone), and each one given must hold. */
/* --- PutBucketCors, GetBucketCors, DeleteBucketCors ------------------------------------ */

static int bucket_or_404(tw_request *r, s3_ctx *x) {
  int e = tw_s3_bucket_exists(x->s3, x->bucket);
  if (e <= 0) tw_s3_error(r, x, e < 0 ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_BUCKET, NULL);
  return e > 0 ? 0 : -1;
}

static void cors_saved(tw_request *r) {
  if (tw_s3_commit_failed(r, r->ctx)) return;
  tw_req_respond(r, 200, NULL, "", 0);
  tw_s3_add_common_headers(r);
}

static void cors_deleted(tw_request *r) {
  if (tw_s3_commit_failed(r, r->ctx)) return;
  tw_req_respond(r, 204, NULL, "", 0);
  tw_s3_add_common_headers(r);
}

void tw_s3_put_cors(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  if (bucket_or_404(r, x) ||
      tw_s3_check_body_digests(r, x, "Missing required header for this request: Content-MD5"))
    return;
  if (r->body.len > 64 * 1024) { /* "The document is limited to 64 KB in size." */
    tw_s3_error(r, x, TW_ERR_S3_MAX_MESSAGE_LENGTH, NULL);
    return;
  }
  char *root = NULL;
  json_t *doc = r->body.len ? tw_xml_parse(r->body.data, r->body.len, &root) : NULL;
  json_t *rules = doc && root && !strcmp(root, "CORSConfiguration") ? read_rules(doc) : NULL;
  free(root);
  json_decref(doc);
  if (!rules) {
    tw_s3_error(r, x, TW_ERR_S3_MALFORMED_XML, NULL);
    return;
  }
  char msg[1024];
  if (check_values(rules, msg, sizeof msg)) {
    json_decref(rules);
    tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST, msg);
    return;
  }
  cors_cfg *c = cfg_compile(rules);
  char *text = json_dumps(rules, JSON_COMPACT);
  json_decref(rules);
  /* s->mu orders this against DeleteBucket: the rules never outlive the bucket */
  pthread_mutex_lock(&s->mu);
  if (bucket_or_404(r, x)) {
    pthread_mutex_unlock(&s->mu);
    cfg_free(c);
    free(text);
    return;
  }
  cache_set(s->cors, x->bucket, c);
  uint64_t t =
      tw_store_s3_buckets(s->store)->set_setting(s->store, x->bucket, TW_S3_BUCKET_CORS, text);
  pthread_mutex_unlock(&s->mu);
  free(text);
  tw_req_after_commit(r, t, cors_saved);
}

void tw_s3_get_cors(tw_request *r, s3_ctx *x) {
  struct s3_cors_state *st = x->s3->cors;
  if (bucket_or_404(r, x)) return;
  tw_buf b;
  tw_buf_init(&b, 16u << 20);
  pthread_rwlock_rdlock(&st->lock);
  const cors_cfg *c = tw_map_get(&st->by_bucket, x->bucket);
  if (c) {
    /* S3's element order */
    tw_s3_xml_begin(&b, "CORSConfiguration");
    for (size_t i = 0; i < c->n; i++) {
      const cors_rule *ru = &c->rules[i];
      tw_buf_puts(&b, "<CORSRule>");
      if (ru->id) tw_s3_xml_text(&b, "ID", ru->id);
      for (size_t j = 0; j < ru->methods.n; j++)
        tw_s3_xml_text(&b, "AllowedMethod", ru->methods.v[j]);
      for (size_t j = 0; j < ru->origins.n; j++)
        tw_s3_xml_text(&b, "AllowedOrigin", ru->origins.v[j]);
      for (size_t j = 0; j < ru->headers.n; j++)
        tw_s3_xml_text(&b, "AllowedHeader", ru->headers.v[j]);
      if (ru->max_age >= 0) tw_buf_printf(&b, "<MaxAgeSeconds>%lld</MaxAgeSeconds>", ru->max_age);
      for (size_t j = 0; j < ru->expose.n; j++) tw_s3_xml_text(&b, "ExposeHeader", ru->expose.v[j]);
      tw_buf_puts(&b, "</CORSRule>");
    }
    tw_buf_puts(&b, "</CORSConfiguration>");
  }
  pthread_rwlock_unlock(&st->lock);
  if (!c) {
    tw_buf_free(&b);
    tw_buf ex;
    tw_buf_init(&ex, 4096);
    tw_s3_xml_text(&ex, "BucketName", x->bucket);
    tw_s3_error_key(r, x, TW_ERR_S3_NO_SUCH_CORS, NULL, tw_buf_cstr(&ex));
    tw_buf_free(&ex);
    return;
  }
  tw_s3_respond_xml(r, 200, &b);
}

void tw_s3_delete_cors(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  pthread_mutex_lock(&s->mu);
  if (bucket_or_404(r, x)) {
    pthread_mutex_unlock(&s->mu);
    return;
  }
  cache_set(s->cors, x->bucket, NULL);
  uint64_t t =
      tw_store_s3_buckets(s->store)->set_setting(s->store, x->bucket, TW_S3_BUCKET_CORS, NULL);
  pthread_mutex_unlock(&s->mu);
  tw_req_after_commit(r, t, cors_deleted);
}

/* The rules are a column of the bucket's row, so its DELETE takes them along. */
void tw_s3_cors_bucket_deleted(tw_s3 *s, const char *bucket) {
  if (s->cors) cache_set(s->cors, bucket, NULL);
}

/* Cluster mode: another node changed the bucket's settings (s3_cluster.c);
 * the caller holds s->mu. */
void tw_s3_cors_reload(tw_s3 *s, const char *bucket) {
  char *text = NULL;
  if (tw_store_s3_buckets(s->store)->get_setting(s->store, bucket, TW_S3_BUCKET_CORS, &text) < 0)
    return; /* unreadable now: the cached rules stay */
  json_t *rules = text ? json_loads(text, 0, NULL) : NULL;
  cache_set(s->cors, bucket, rules ? cfg_compile(rules) : NULL);
  json_decref(rules);
  free(text);
}

/* --- start and stop ------------------------------------------------------------------- */

static int load_one(void *ud, const char *name, const char *text) {
  struct s3_cors_state *st = ud;
  json_t *rules = text ? json_loads(text, 0, NULL) : NULL;
  cors_cfg *c = cfg_compile(rules);
  json_decref(rules);
  if (!name || !c) {
    tw_warn("s3: bucket %s: unreadable CORS configuration ignored", name ? name : "?");
    cfg_free(c);
    return 0;
  }
  tw_map_put(&st->by_bucket, name, c);
  return 0;
}

int tw_s3_cors_open(tw_s3 *s) {
  struct s3_cors_state *st = calloc(1, sizeof *st);
  if (!st) return -1;
  pthread_rwlock_init(&st->lock, NULL);
  tw_map_init(&st->by_bucket);
  s->cors = st;
  if (tw_store_s3_buckets(s->store)->each_setting(s->store, TW_S3_BUCKET_CORS, load_one, st))
    return -1;
  atomic_store(&st->count, st->by_bucket.count);
  return 0;
}

void tw_s3_cors_close(tw_s3 *s) {
  struct s3_cors_state *st = s->cors;
  if (!st) return;
  tw_map_entry *it = NULL;
  const char *k;
  void *v;
  while ((it = tw_map_next(&st->by_bucket, it, &k, &v))) cfg_free(v);
  tw_map_free(&st->by_bucket);
  pthread_rwlock_destroy(&st->lock);
  free(st);
  s->cors = NULL;
}
