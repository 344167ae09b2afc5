/* Owners, Object Ownership and ACLs.
 *
 * Every bucket and object has an owner: the user (tw_credentials) whose key
 * created it. Owners are kept by user name ("" and NULL: the first user, the
 * root of the data directory, which also owns every row written before
 * owners were kept); their canonical id is the hex SHA-256 of
 * "tweedle:ACCOUNT:NAME", their DisplayName the user's name.
 *
 * Object Ownership (Put/Get/DeleteBucketOwnershipControls, the
 * x-amz-object-ownership header of CreateBucket) is kept in the bucket's
 * ownership setting; new buckets get BucketOwnerEnforced (S3's default since
 * April 2023); a bucket without the setting (deleted, or made by an older
 * tweedle) behaves as ObjectWriter, as S3 buckets without ownership controls
 * do. With BucketOwnerEnforced ACLs are disabled: only ACLs that give the
 * owner full control may be set (else AccessControlListNotSupported), and
 * objects belong to the bucket owner.
 *
 * ACLs come from x-amz-acl (canned), x-amz-grant-* headers, or an
 * AccessControlPolicy body, and are stored as JSON: a bucket's grants in its
 * acl setting ({"g": [...]}), an object's owner and grants in its row's acl
 * column ({"o": owner, "g": [...]}); a grant is ["id", canonical id, perm] or
 * ["uri", group URI, perm]; no "g": the owner's FULL_CONTROL only.
 *
 * tw_s3_acl_allows is the ACL half of authorization (s3_policy.c calls it
 * for callers the policies do not already let through): the grants of the
 * bucket (READ: list; WRITE: write and delete objects; READ_ACP/WRITE_ACP:
 * its ACL) or of the object (READ: GET/HEAD; READ_ACP/WRITE_ACP) to the
 * caller's canonical id, to AuthenticatedUsers (any user of this server) and
 * AllUsers (anyone); IgnorePublicAcls drops the two groups, BlockPublicAcls
 * refuses writes of ACLs that grant them (AccessDenied). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/credentials.h"
#include "core/log.h"
#include "core/map.h"
#include "core/xml_in.h"
#include "s3/s3_internal.h"
#include "store/s3_buckets.h"
#include "store/s3_objects.h"

#define URI_ALL "http://acs.amazonaws.com/groups/global/AllUsers"
#define URI_AUTH "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
#define URI_LOG "http://acs.amazonaws.com/groups/s3/LogDelivery"
/* the grantee aws-exec-read names (Amazon EC2's canonical user) */
#define EC2_ID "6aa5a366c34c1cbe25dc49211496e913e0351eb0e8c37aa3477e40942ec6b97c"

enum { OWN_NONE, OWN_ENFORCED, OWN_PREFERRED, OWN_WRITER };
static const char *const OWN_NAMES[] = {"", "BucketOwnerEnforced", "BucketOwnerPreferred",
                                        "ObjectWriter"};

enum { P_READ = 1, P_WRITE = 2, P_READ_ACP = 4, P_WRITE_ACP = 8, P_FULL = 15 };

typedef struct {
  char *owner; /* "" the first user */
  int ownership;
  json_t *grants; /* NULL: private */
} bucket_acl;

typedef struct {
  char id[65];
  const char *owner; /* "" for the first user */
  const char *display;
} known_user;

struct s3_acl_state {
  pthread_rwlock_t lock;
  tw_map by_bucket; /* bucket name -> bucket_acl* */
  known_user *users;
  size_t nusers;
};

/* --- owners ------------------------------------------------------------------------ */

static void canonical_id(tw_s3 *s, const char *owner, char out[65]) {
  char seed[256];
  int n = snprintf(seed, sizeof seed, "tweedle:%s:%s", s->account, owner ? owner : "");
  tw_sha256_hex(seed, (size_t)n, out);
}

const char *tw_s3_caller_owner(tw_request *r, tw_s3 *s) {
  if (!r->principal[0]) return NULL;
  const tw_user *u = tw_credentials_user(s->creds, r->principal);
  if (!u) return NULL;
  return u == &s->creds->users[0] ? "" : u->name;
}

static const known_user *user_by_id(tw_s3 *s, const char *id) {
  for (size_t i = 0; i < s->acl->nusers; i++)
    if (!strcmp(s->acl->users[i].id, id)) return &s->acl->users[i];
  return NULL;
}

static const char *display_name(tw_s3 *s, const char *owner) {
  if (!owner || !*owner) return s->creds->n ? s->creds->users[0].name : "tweedle";
  return owner;
}

static void user_xml(tw_buf *b, tw_s3 *s, const char *owner) {
  char id[65];
  canonical_id(s, owner, id);
  tw_s3_xml_text(b, "ID", id);
  tw_s3_xml_text(b, "DisplayName", display_name(s, owner));
}

void tw_s3_owner_xml(tw_buf *b, tw_s3 *s, const char *owner) {
  tw_buf_puts(b, "<Owner>");
  user_xml(b, s, owner);
  tw_buf_puts(b, "</Owner>");
}

/* --- the bucket cache ------------------------------------------------------------- */

static bucket_acl *entry_locked(struct s3_acl_state *st, const char *bucket) {
  bucket_acl *e = tw_map_get(&st->by_bucket, bucket);
  if (e) return e;
  e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->owner = strdup("");
  if (tw_map_put(&st->by_bucket, bucket, e)) {
    free(e->owner);
    free(e);
    return NULL;
  }
  return e;
}

static int own_from_json(const char *text) {
  json_t *o = json_loads(text, 0, NULL);
  const char *v = json_string_value(json_object_get(o, "ObjectOwnership"));
  int k = OWN_NONE;
  for (int i = 1; v && i < 4; i++)
    if (!strcmp(v, OWN_NAMES[i])) k = i;
  json_decref(o);
  return k;
}

static int load_owner(void *ud, const tw_s3_bucket_row *b) {
  struct s3_acl_state *st = ud;
  bucket_acl *e = entry_locked(st, b->name);
  if (e && b->owner && *b->owner) {
    free(e->owner);
    e->owner = strdup(b->owner);
  }
  return 0;
}

static int load_ownership(void *ud, const char *name, const char *json) {
  bucket_acl *e = entry_locked(ud, name);
  if (e) e->ownership = own_from_json(json);
  return 0;
}

static int load_acl(void *ud, const char *name, const char *json) {
  bucket_acl *e = entry_locked(ud, name);
  if (!e) return 0;
  json_t *o = json_loads(json, 0, NULL);
  json_decref(e->grants);
  e->grants = json_incref(json_object_get(o, "g"));
  json_decref(o);
  return 0;
}

int tw_s3_acl_open(tw_s3 *s) {
  struct s3_acl_state *st = calloc(1, sizeof *st);
  if (!st) return -1;
  pthread_rwlock_init(&st->lock, NULL);
  tw_map_init(&st->by_bucket);
  s->acl = st;
  st->users = calloc(s->creds->n + 1, sizeof *st->users);
  if (!st->users) return -1;
  for (size_t i = 0; i < s->creds->n; i++) {
    known_user *k = &st->users[st->nusers++];
    k->owner = i ? s->creds->users[i].name : "";
    k->display = s->creds->users[i].name;
    canonical_id(s, k->owner, k->id);
  }
  const tw_s3_buckets_repo *repo = tw_store_s3_buckets(s->store);
  return repo->list(s->store, load_owner, st) ||
                 repo->each_setting(s->store, TW_S3_BUCKET_OWNERSHIP, load_ownership, st) ||
                 repo->each_setting(s->store, TW_S3_BUCKET_ACL, load_acl, st)
             ? -1
             : 0;
}

static void entry_free(bucket_acl *e) {
  if (!e) return;
  free(e->owner);
  json_decref(e->grants);
  free(e);
}

void tw_s3_acl_close(tw_s3 *s) {
  struct s3_acl_state *st = s->acl;
  if (!st) return;
  tw_map_entry *it = NULL;
  const char *k;
  void *v;
  while ((it = tw_map_next(&st->by_bucket, it, &k, &v))) entry_free(v);
  tw_map_free(&st->by_bucket);
  pthread_rwlock_destroy(&st->lock);
  free(st->users);
  free(st);
  s->acl = NULL;
}

void tw_s3_acl_bucket_deleted(tw_s3 *s, const char *bucket) {
  struct s3_acl_state *st = s->acl;
  pthread_rwlock_wrlock(&st->lock);
  entry_free(tw_map_del(&st->by_bucket, bucket));
  pthread_rwlock_unlock(&st->lock);
}

/* A copy of the bucket's owner, ownership and grants (owner malloc'd, grants
 * a reference; both NULL when the bucket is not known). */
typedef struct {
  char *owner;
  int ownership;
  json_t *grants;
  int known;
} bucket_view;

static bucket_view view_of(tw_s3 *s, const char *bucket) {
  struct s3_acl_state *st = s->acl;
  bucket_view v = {0};
  pthread_rwlock_rdlock(&st->lock);
  const bucket_acl *e = tw_map_get(&st->by_bucket, bucket);
  if (e) {
    v.owner = strdup(e->owner);
    v.ownership = e->ownership;
    v.grants = json_incref(e->grants);
    v.known = 1;
  }
  pthread_rwlock_unlock(&st->lock);
  return v;
}

static void view_free(bucket_view *v) {
  free(v->owner);
  json_decref(v->grants);
  memset(v, 0, sizeof *v);
}

/* --- grants ------------------------------------------------------------------------ */

static const struct {
  const char *name;
  int bits;
} PERMS[] = {{"FULL_CONTROL", P_FULL},
             {"WRITE", P_WRITE},
             {"WRITE_ACP", P_WRITE_ACP},
             {"READ", P_READ},
             {"READ_ACP", P_READ_ACP}};

static int perm_bits(const char *p) {
  for (size_t i = 0; p && i < sizeof PERMS / sizeof PERMS[0]; i++)
    if (!strcmp(PERMS[i].name, p)) return PERMS[i].bits;
  return 0;
}

static void add_grant(json_t *g, const char *type, const char *value, const char *perm) {
  json_array_append_new(g, json_pack("[sss]", type, value, perm));
}

/* The grants of canned ACL `name` for a resource of `owner_id` in a bucket of
 * `bucket_owner_id`; NULL when the name is not a canned ACL. */
static json_t *canned(const char *name, const char *owner_id, const char *bucket_owner_id) {
  static const char *const names[] = {
      "private",       "public-read",       "public-read-write",         "authenticated-read",
      "aws-exec-read", "bucket-owner-read", "bucket-owner-full-control", "log-delivery-write"};
  int k = -1;
  for (int i = 0; i < 8; i++)
    if (!strcmp(name, names[i])) k = i;
  if (k < 0) return NULL;
  json_t *g = json_array();
  add_grant(g, "id", owner_id, "FULL_CONTROL");
  int other_owner = strcmp(owner_id, bucket_owner_id) != 0;
  switch (k) {
    case 1:
      add_grant(g, "uri", URI_ALL, "READ");
      break;
    case 2:
      add_grant(g, "uri", URI_ALL, "READ");
      add_grant(g, "uri", URI_ALL, "WRITE");
      break;
    case 3:
      add_grant(g, "uri", URI_AUTH, "READ");
      break;
    case 4:
      add_grant(g, "id", EC2_ID, "READ");
      break;
    case 5:
      if (other_owner) add_grant(g, "id", bucket_owner_id, "READ");
      break;
    case 6:
      if (other_owner) add_grant(g, "id", bucket_owner_id, "FULL_CONTROL");
      break;
    case 7:
      add_grant(g, "uri", URI_LOG, "WRITE");
      add_grant(g, "uri", URI_LOG, "READ_ACP");
      break;
  }
  return g;
}

static int grants_public(json_t *g) {
  size_t i;
  json_t *e;
  json_array_foreach(g, i, e) {
    const char *v = json_string_value(json_array_get(e, 1));
    if (!strcmp(json_string_value(json_array_get(e, 0)), "uri") && v &&
        (!strcmp(v, URI_ALL) || !strcmp(v, URI_AUTH)))
      return 1;
  }
  return 0;
}

/* Whether the grants are the owner's full control and nothing else (what a
 * bucket with ACLs disabled accepts). */
static int owner_only(json_t *g, const char *owner_id) {
  size_t i;
  json_t *e;
  json_array_foreach(g, i, e) {
    if (strcmp(json_string_value(json_array_get(e, 0)), "id") ||
        strcmp(json_string_value(json_array_get(e, 1)), owner_id) ||
        strcmp(json_string_value(json_array_get(e, 2)), "FULL_CONTROL"))
      return 0;
  }
  return 1;
}

static void bad_argument(tw_request *r, s3_ctx *x, const char *msg, const char *name,
                         const char *value) {
  tw_buf ex;
  tw_buf_init(&ex, 8192);
  tw_s3_xml_text(&ex, "ArgumentName", name);
  tw_s3_xml_text(&ex, "ArgumentValue", value);
  tw_s3_error_key(r, x, TW_ERR_S3_INVALID_ARGUMENT, msg, tw_buf_cstr(&ex));
  tw_buf_free(&ex);
}

/* One grantee: "id" (a known canonical id), "uri" (a group) or an email
 * address (refused as S3 now refuses them). 0, or -1 after answering. */
static int check_grantee(tw_request *r, s3_ctx *x, const char *type, const char *value) {
  if (!strcmp(type, "email")) {
    tw_s3_error(r, x, TW_ERR_S3_METHOD_NOT_ALLOWED, "Email Grantee ACLs are not supported.");
    return -1;
  }
  if (!strcmp(type, "id")) {
    if (user_by_id(x->s3, value) || !strcmp(value, EC2_ID)) return 0;
    bad_argument(r, x, "Invalid id", "CanonicalUser/ID", value);
    return -1;
  }
  if (!strcmp(value, URI_ALL) || !strcmp(value, URI_AUTH) || !strcmp(value, URI_LOG)) return 0;
  bad_argument(r, x, "Invalid group uri", "Group/URI", value);
  return -1;
}

static const struct {
  const char *header, *perm;
} GRANT_HEADERS[] = {{"x-amz-grant-full-control", "FULL_CONTROL"},
                     {"x-amz-grant-read", "READ"},
                     {"x-amz-grant-read-acp", "READ_ACP"},
                     {"x-amz-grant-write", "WRITE"},
                     {"x-amz-grant-write-acp", "WRITE_ACP"}};

/* x-amz-grant-*: `type="value", ...` (type id, uri or emailAddress). */
static int parse_grant_header(tw_request *r, s3_ctx *x, const char *header, const char *perm,
                              const char *v, json_t *g) {
  const char *p = v;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    const char *eq = strchr(p, '=');
    if (!eq) {
      bad_argument(r, x, "Invalid grant header", header, v);
      return -1;
    }
    char type[32];
    size_t tl = (size_t)(eq - p);
    while (tl && p[tl - 1] == ' ') tl--;
    if (tl >= sizeof type) tl = sizeof type - 1;
    memcpy(type, p, tl);
    type[tl] = 0;
    p = eq + 1;
    while (*p == ' ') p++;
    const char *start, *end;
    if (*p == '"') {
      start = ++p;
      end = strchr(p, '"');
      if (!end) {
        bad_argument(r, x, "Invalid grant header", header, v);
        return -1;
      }
      p = end + 1;
    } else {
      start = p;
      end = p + strcspn(p, ",");
      p = end;
      while (end > start && end[-1] == ' ') end--;
    }
    char *value = strndup(start, (size_t)(end - start));
    const char *t = !strcasecmp(type, "id")             ? "id"
                    : !strcasecmp(type, "uri")          ? "uri"
                    : !strcasecmp(type, "emailAddress") ? "email"
                                                        : NULL;
    if (!t) {
      free(value);
      bad_argument(r, x, "Invalid grant header", header, v);
      return -1;
    }
    if (check_grantee(r, x, t, value)) {
      free(value);
      return -1;
    }
    add_grant(g, t, value, perm);
    free(value);
  }
  return 0;
}

/* The grants a request's headers ask for (x-amz-acl or x-amz-grant-*, or
 * `canned` for a POST form's acl field): *out NULL when it names none.
 * 0, or -1 after answering. */
static int grants_from_headers(tw_request *r, s3_ctx *x, const char *canned_acl,
                               const char *owner_id, const char *bucket_owner_id, json_t **out) {
  *out = NULL;
  const char *acl = canned_acl ? canned_acl : tw_req_header(r, "x-amz-acl");
  int any_grant = 0;
  for (size_t i = 0; !canned_acl && i < sizeof GRANT_HEADERS / sizeof GRANT_HEADERS[0]; i++)
    if (tw_req_header(r, GRANT_HEADERS[i].header)) any_grant = 1;
  if (acl && any_grant) {
    tw_s3_error(r, x, TW_ERR_S3_INVALID_REQUEST,
                "Specifying both Canned ACLs and Header Grants is not allowed");
    return -1;
  }
  if (acl) {
    *out = canned(acl, owner_id, bucket_owner_id);
    if (!*out) {
      bad_argument(r, x, NULL, "x-amz-acl", acl);
      return -1;
    }
    return 0;
  }
  if (!any_grant) return 0;
  json_t *g = json_array();
  for (size_t i = 0; i < sizeof GRANT_HEADERS / sizeof GRANT_HEADERS[0]; i++) {
    const char *v = tw_req_header(r, GRANT_HEADERS[i].header);
    if (v && parse_grant_header(r, x, GRANT_HEADERS[i].header, GRANT_HEADERS[i].perm, v, g)) {
      json_decref(g);
      return -1;
    }
  }
  *out = g;
  return 0;
}

/* An AccessControlPolicy body. */
static int grants_from_body(tw_request *r, s3_ctx *x, json_t **out) {
  *out = NULL;
  char *root = NULL;
  json_t *doc = tw_xml_parse(r->body.data, r->body.len, &root);
  int ok = doc && root && !strcmp(root, "AccessControlPolicy");
  free(root);
  json_t *list = ok ? json_object_get(doc, "AccessControlList") : NULL;
  if (!ok || (list && !json_is_object(list) && !json_is_string(list))) {
    json_decref(doc);
    tw_s3_error(r, x, TW_ERR_S3_MALFORMED_ACL, NULL);
    return -1;
  }
  json_t *grants = json_is_object(list) ? tw_xml_list(list, "Grant") : json_array();
  json_t *g = json_array();
  size_t i;
  json_t *e;
  int rc = 0;
  json_array_foreach(grants, i, e) {
    json_t *who = json_object_get(e, "Grantee");
    const char *perm = tw_xml_text(e, "Permission");
    const char *id = json_is_object(who) ? tw_xml_text(who, "ID") : NULL;
    const char *uri = json_is_object(who) ? tw_xml_text(who, "URI") : NULL;
    const char *mail = json_is_object(who) ? tw_xml_text(who, "EmailAddress") : NULL;
    if (!perm_bits(perm) || (!id && !uri && !mail)) {
      tw_s3_error(r, x, TW_ERR_S3_MALFORMED_ACL, NULL);
      rc = -1;
      break;
    }
    const char *t = id ? "id" : uri ? "uri" : "email";
    const char *v = id ? id : uri ? uri : mail;
    if (check_grantee(r, x, t, v)) {
      rc = -1;
      break;
    }
    add_grant(g, t, v, perm);
  }
  json_decref(grants);
  json_decref(doc);
  if (rc) {
    json_decref(g);
    return -1;
  }
  *out = g;
  return 0;
}

/* Refuses an ACL the bucket does not take: with BucketOwnerEnforced anything
 * but the owner's full control (AccessControlListNotSupported), with
 * BlockPublicAcls one granting a public group (AccessDenied). */
static int acceptable(tw_request *r, s3_ctx *x, const char *bucket, int ownership, json_t *g,
                      const char *owner_id) {
  if (!g) return 0;
  if (ownership == OWN_ENFORCED && !owner_only(g, owner_id)) {
    tw_s3_error(r, x, TW_ERR_S3_ACL_NOT_SUPPORTED, NULL);
    return -1;
  }
  if ((tw_s3_pab_flags(x->s3, bucket) & TW_S3_PAB_BLOCK_ACLS) && grants_public(g)) {
    tw_s3_error(r, x, TW_ERR_ACCESS_DENIED, "Access Denied");
    return -1;
  }
  return 0;
}

/* --- writes: the owner and ACL of a new object ---------------------------------------- */

/* The owner of an object `writer` (NULL anonymous) puts into a bucket of
 * view v with grants g (NULL: none asked). */
static const char *object_owner(const bucket_view *v, const char *writer, json_t *g,
                                const char *bucket_owner_id) {
  if (v->ownership == OWN_ENFORCED || !writer) return v->owner ? v->owner : "";
  if (v->ownership != OWN_PREFERRED || !g) return writer;
  /* BucketOwnerPreferred: the bucket owner takes objects written with
   * bucket-owner-full-control (or grants that give it full control) */
  size_t i;
  json_t *e;
  json_array_foreach(g, i, e) {
    if (!strcmp(json_string_value(json_array_get(e, 0)), "id") &&
        !strcmp(json_string_value(json_array_get(e, 1)), bucket_owner_id) &&
        !strcmp(json_string_value(json_array_get(e, 2)), "FULL_CONTROL"))
      return v->owner ? v->owner : "";
  }
  return writer;
}

static char *dump_object_acl(const char *owner, json_t *g) {
  json_t *o = json_pack("{ss}", "o", owner);
  if (g) json_object_set(o, "g", g);
  char *text = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return text;
}

int tw_s3_acl_for_write(tw_request *r, s3_ctx *x, const char *canned_acl) {
  tw_s3 *s = x->s3;
  bucket_view v = view_of(s, x->bucket);
  const char *writer = tw_s3_caller_owner(r, s);
  char bucket_owner_id[65], writer_id[65], owner_id[65];
  canonical_id(s, v.owner, bucket_owner_id);
  canonical_id(s, writer ? writer : v.owner, writer_id);
  json_t *g = NULL;
  if (grants_from_headers(r, x, canned_acl, writer_id, bucket_owner_id, &g)) {
    view_free(&v);
    return -1;
  }
  const char *owner = object_owner(&v, writer, g, bucket_owner_id);
  canonical_id(s, owner, owner_id);
  if (g && strcmp(owner_id, writer_id)) { /* the bucket owner took it: its grants follow */
    json_decref(g);
    g = NULL;
    grants_from_headers(r, x, canned_acl, owner_id, bucket_owner_id, &g);
  }
  if (acceptable(r, x, x->bucket, v.ownership, g, owner_id)) {
    json_decref(g);
    view_free(&v);
    return -1;
  }
  if (g && owner_only(g, owner_id)) { /* the default: kept as none */
    json_decref(g);
    g = NULL;
  }
  free(x->acl);
  x->acl = dump_object_acl(owner, g);
  json_decref(g);
  view_free(&v);
  return x->acl ? 0 : -1;
}

char *tw_s3_acl_row(tw_request *r, s3_ctx *x) {
  if (x->acl) return strdup(x->acl);
  tw_s3 *s = x->s3;
  bucket_view v = view_of(s, x->bucket);
  char *text = dump_object_acl(object_owner(&v, tw_s3_caller_owner(r, s), NULL, ""), NULL);
  view_free(&v);
  return text;
}

/* The owner named in an object's acl column (NULL column: the first user). */
static const char *acl_owner(json_t *acl) {
  const char *o = json_string_value(json_object_get(acl, "o"));
  return o ? o : "";
}

void tw_s3_object_owner_xml(tw_buf *b, tw_s3 *s, const char *bucket, const char *acl_json) {
  bucket_view v = view_of(s, bucket);
  if (v.ownership == OWN_ENFORCED) {
    tw_s3_owner_xml(b, s, v.owner);
  } else {
    json_t *acl = acl_json ? json_loads(acl_json, 0, NULL) : NULL;
    tw_s3_owner_xml(b, s, acl_owner(acl));
    json_decref(acl);
  }
  view_free(&v);
}

/* --- CreateBucket --------------------------------------------------------------------- */

int tw_s3_acl_bucket_args(tw_request *r, s3_ctx *x, tw_s3_new_bucket *nb) {
  tw_s3 *s = x->s3;
  memset(nb, 0, sizeof *nb);
  const char *caller = tw_s3_caller_owner(r, s);
  snprintf(nb->owner, sizeof nb->owner, "%s", caller ? caller : "");
  nb->ownership = OWN_ENFORCED;
  const char *own = tw_req_header(r, "x-amz-object-ownership");
  if (own) {
    nb->ownership = 0;
    for (int i = 1; i < 4; i++)
      if (!strcmp(own, OWN_NAMES[i])) nb->ownership = i;
    if (!nb->ownership) {
      bad_argument(r, x, "Invalid x-amz-object-ownership header", "x-amz-object-ownership", own);
      return -1;
    }
  }
  char id[65];
  canonical_id(s, nb->owner, id);
  json_t *g = NULL;
  if (grants_from_headers(r, x, NULL, id, id, &g)) return -1;
  if (g && nb->ownership == OWN_ENFORCED && !owner_only(g, id)) {
    json_decref(g);
    tw_s3_error(r, x, TW_ERR_S3_INVALID_BUCKET_ACL_OWNERSHIP, NULL);
    return -1;
  }
  if (g && !owner_only(g, id)) {
    json_t *o = json_pack("{sO}", "g", g);
    nb->acl = json_dumps(o, JSON_COMPACT);
    json_decref(o);
  }
  json_decref(g);
  return 0;
}

int tw_s3_acl_owns_bucket(tw_request *r, s3_ctx *x) {
  const char *caller = tw_s3_caller_owner(r, x->s3);
  bucket_view v = view_of(x->s3, x->bucket);
  int mine = caller && v.owner && !strcmp(caller, v.owner);
  if (!v.known) { /* not cached: the store knows */
    char *o = NULL;
    tw_store_s3_buckets(x->s3->store)->get_setting(x->s3->store, x->bucket, TW_S3_BUCKET_OWNER, &o);
    mine = caller && !strcmp(caller, o ? o : "");
    free(o);
  }
  view_free(&v);
  return mine;
}

static char *ownership_json(int k) {
  json_t *o = json_pack("{ss}", "ObjectOwnership", OWN_NAMES[k]);
  char *text = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return text;
}

uint64_t tw_s3_acl_bucket_created(tw_s3 *s, const char *bucket, const tw_s3_new_bucket *nb) {
  const tw_s3_buckets_repo *repo = tw_store_s3_buckets(s->store);
  char *own = ownership_json(nb->ownership);
  uint64_t t = repo->set_setting(s->store, bucket, TW_S3_BUCKET_OWNERSHIP, own);
  free(own);
  if (nb->acl) {
    uint64_t t2 = repo->set_setting(s->store, bucket, TW_S3_BUCKET_ACL, nb->acl);
    if (t2 > t) t = t2;
  }
  struct s3_acl_state *st = s->acl;
  pthread_rwlock_wrlock(&st->lock);
  bucket_acl *e = entry_locked(st, bucket);
  if (e) {
    free(e->owner);
    e->owner = strdup(nb->owner);
    e->ownership = nb->ownership;
    json_decref(e->grants);
    e->grants = NULL;
    if (nb->acl) {
      json_t *o = json_loads(nb->acl, 0, NULL);
      e->grants = json_incref(json_object_get(o, "g"));
      json_decref(o);
    }
  }
  pthread_rwlock_unlock(&st->lock);
  return t;
}

/* --- the decision ------------------------------------------------------------------- */

static const struct {
  const char *action;
  int object; /* the object's grants decide, else the bucket's */
  int perm;
} ACL_ACTIONS[] = {
    {"s3:ListBucket", 0, P_READ},
    {"s3:ListBucketVersions", 0, P_READ},
    {"s3:ListBucketMultipartUploads", 0, P_READ},
    {"s3:PutObject", 0, P_WRITE},
    {"s3:DeleteObject", 0, P_WRITE},
    {"s3:AbortMultipartUpload", 0, P_WRITE},
    {"s3:ListMultipartUploadParts", 0, P_WRITE},
    {"s3:GetBucketAcl", 0, P_READ_ACP},
    {"s3:PutBucketAcl", 0, P_WRITE_ACP},
    {"s3:GetObject", 1, P_READ},
    {"s3:GetObjectVersion", 1, P_READ},
    {"s3:GetObjectAcl", 1, P_READ_ACP},
    {"s3:GetObjectVersionAcl", 1, P_READ_ACP},
    {"s3:PutObjectAcl", 1, P_WRITE_ACP},
    {"s3:PutObjectVersionAcl", 1, P_WRITE_ACP},
};

static int granted(tw_s3 *s, json_t *g, const char *owner, const char *caller, int ignore_public,
                   int perm) {
  char caller_id[65] = "";
  if (caller) canonical_id(s, caller, caller_id);
  if (!g) { /* private: the owner only */
    char owner_id[65];
    canonical_id(s, owner, owner_id);
    return caller && !strcmp(caller_id, owner_id);
  }
  size_t i;
  json_t *e;
  json_array_foreach(g, i, e) {
    const char *t = json_string_value(json_array_get(e, 0));
    const char *v = json_string_value(json_array_get(e, 1));
    int bits = perm_bits(json_string_value(json_array_get(e, 2)));
    if (!t || !v || !(bits & perm)) continue;
    if (!strcmp(t, "id") && caller && !strcmp(v, caller_id)) return 1;
    if (!strcmp(t, "uri") && !ignore_public &&
        (!strcmp(v, URI_ALL) || (caller && !strcmp(v, URI_AUTH))))
      return 1;
  }
  return 0;
}

int tw_s3_acl_allows(tw_request *r, s3_ctx *x, const char *action, const char *bucket,
                     const char *key) {
  tw_s3 *s = x->s3;
  int k = -1;
  for (size_t i = 0; i < sizeof ACL_ACTIONS / sizeof ACL_ACTIONS[0]; i++)
    if (!strcmp(ACL_ACTIONS[i].action, action)) k = (int)i;
  if (k < 0 || (ACL_ACTIONS[k].object && (!key || !strcmp(key, "*")))) return 0;
  bucket_view v = view_of(s, bucket);
  if (!v.known || v.ownership == OWN_ENFORCED) {
    view_free(&v);
    return 0;
  }
  const char *caller = tw_s3_caller_owner(r, s);
  int ignore = (tw_s3_pab_flags(s, bucket) & TW_S3_PAB_IGNORE_ACLS) != 0;
  int ok = 0;
  if (!ACL_ACTIONS[k].object) {
    ok = granted(s, v.grants, v.owner, caller, ignore, ACL_ACTIONS[k].perm);
  } else {
    const tw_s3_objects_repo *repo = tw_store_s3_objects(s->store);
    tw_s3_object_row row;
    const char *vid = bucket == x->bucket && key == x->key ? tw_s3_q(x, "versionId") : NULL;
    int found =
        vid ? repo->get_version(s->store, bucket, key, strlen(key),
                                strcmp(vid, "null") ? vid : NULL, &row)
            : repo->get(s->store, bucket, key, key == x->key ? x->key_len : strlen(key), &row);
    if (found == 1) {
      json_t *acl = row.acl ? json_loads(row.acl, 0, NULL) : NULL;
      ok = granted(s, json_object_get(acl, "g"), acl_owner(acl), caller, ignore,
                   ACL_ACTIONS[k].perm);
      json_decref(acl);
    }
    tw_s3_object_row_free(&row);
  }
  view_free(&v);
  return ok;
}

/* --- Get/PutBucketAcl, Get/PutObjectAcl ------------------------------------------------ */

static void acl_xml(tw_request *r, tw_s3 *s, const char *owner, json_t *g) {
  tw_buf b;
  tw_buf_init(&b, 1 << 20);
  tw_s3_xml_begin(&b, "AccessControlPolicy");
  tw_s3_owner_xml(&b, s, owner);
  tw_buf_puts(&b, "<AccessControlList>");
  json_t *mine = NULL;
  if (!g) {
    char id[65];
    canonical_id(s, owner, id);
    mine = json_array();
    add_grant(mine, "id", id, "FULL_CONTROL");
    g = mine;
  }
  size_t i;
  json_t *e;
  json_array_foreach(g, i, e) {
    const char *t = json_string_value(json_array_get(e, 0));
    const char *v = json_string_value(json_array_get(e, 1));
    int user = !strcmp(t, "id");
    tw_buf_printf(&b,
                  "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                  "xsi:type=\"%s\">",
                  user ? "CanonicalUser" : "Group");
    if (user) {
      tw_s3_xml_text(&b, "ID", v);
      const known_user *k = user_by_id(s, v);
      if (k) tw_s3_xml_text(&b, "DisplayName", k->display);
    } else {
      tw_s3_xml_text(&b, "URI", v);
    }
    tw_buf_puts(&b, "</Grantee>");
    tw_s3_xml_text(&b, "Permission", json_string_value(json_array_get(e, 2)));
    tw_buf_puts(&b, "</Grant>");
  }
  json_decref(mine);
  tw_buf_puts(&b, "</AccessControlList></AccessControlPolicy>");
  tw_s3_respond_xml(r, 200, &b);
}

static int bucket_or_404(tw_request *r, s3_ctx *x) {
  int e = tw_s3_bucket_exists(x->s3, x->bucket);
  if (e > 0) return 0;
  tw_s3_error(r, x, e < 0 ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_BUCKET, NULL);
  return -1;
}

void tw_s3_get_bucket_acl(tw_request *r, s3_ctx *x) {
  if (bucket_or_404(r, x)) return;
  bucket_view v = view_of(x->s3, x->bucket);
  acl_xml(r, x->s3, v.owner, v.ownership == OWN_ENFORCED ? NULL : v.grants);
  view_free(&v);
}

static void saved_200(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (tw_s3_commit_failed(r, x)) return;
  tw_req_respond(r, 200, NULL, "", 0);
  tw_s3_add_common_headers(r);
}

/* The grants of a Put*Acl: the body, else the headers (one of them required). */
static int requested_grants(tw_request *r, s3_ctx *x, const char *owner_id,
                            const char *bucket_owner_id, json_t **g) {
  if (r->body.len) {
    if (tw_s3_check_body_digests(r, x, NULL)) return -1;
    return grants_from_body(r, x, g);
  }
  if (grants_from_headers(r, x, NULL, owner_id, bucket_owner_id, g)) return -1;
  if (!*g) {
    tw_s3_error(r, x, TW_ERR_S3_MISSING_SECURITY_HEADER, NULL);
    return -1;
  }
  return 0;
}

void tw_s3_put_bucket_acl(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  if (bucket_or_404(r, x)) return;
  bucket_view v = view_of(s, x->bucket);
  char id[65];
  canonical_id(s, v.owner, id);
  json_t *g = NULL;
  if (requested_grants(r, x, id, id, &g) || acceptable(r, x, x->bucket, v.ownership, g, id)) {
    json_decref(g);
    view_free(&v);
    return;
  }
  view_free(&v);
  if (owner_only(g, id) && json_array_size(g) == 1) {
    json_decref(g);
    g = NULL;
  }
  char *text = NULL;
  if (g) {
    json_t *o = json_pack("{sO}", "g", g);
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
  }
  pthread_mutex_lock(&s->mu); /* ordered against DeleteBucket */
  if (bucket_or_404(r, x)) {
    pthread_mutex_unlock(&s->mu);
    json_decref(g);
    free(text);
    return;
  }
  uint64_t t =
      tw_store_s3_buckets(s->store)->set_setting(s->store, x->bucket, TW_S3_BUCKET_ACL, text);
  struct s3_acl_state *st = s->acl;
  pthread_rwlock_wrlock(&st->lock);
  bucket_acl *e = entry_locked(st, x->bucket);
  if (e) {
    json_decref(e->grants);
    e->grants = json_incref(g);
  }
  pthread_rwlock_unlock(&st->lock);
  pthread_mutex_unlock(&s->mu);
  json_decref(g);
  free(text);
  tw_req_after_commit(r, t, saved_200);
}

/* The object a Get/PutObjectAcl names: its row (free it), or -1 after answering. */
static int acl_object(tw_request *r, s3_ctx *x, tw_s3_object_row *row) {
  tw_s3_obj o;
  memset(row, 0, sizeof *row);
  if (tw_s3_load_requested(r, x, &o)) {
    tw_s3_row_free(&o);
    return -1;
  }
  tw_s3_row_free(&o);
  const tw_s3_objects_repo *repo = tw_store_s3_objects(x->s3->store);
  const char *vid = tw_s3_q(x, "versionId");
  int found = vid ? repo->get_version(x->s3->store, x->bucket, x->key, x->key_len,
                                      strcmp(vid, "null") ? vid : NULL, row)
                  : repo->get(x->s3->store, x->bucket, x->key, x->key_len, row);
  if (found != 1) {
    tw_s3_error(r, x, found < 0 ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_KEY, NULL);
    return -1;
  }
  return 0;
}

void tw_s3_get_object_acl(tw_request *r, s3_ctx *x) {
  tw_s3_object_row row;
  if (acl_object(r, x, &row)) return;
  bucket_view v = view_of(x->s3, x->bucket);
  json_t *acl = row.acl ? json_loads(row.acl, 0, NULL) : NULL;
  if (v.ownership == OWN_ENFORCED)
    acl_xml(r, x->s3, v.owner, NULL);
  else
    acl_xml(r, x->s3, acl_owner(acl), json_object_get(acl, "g"));
  if (x->version_id[0]) tw_req_add_header(r, "x-amz-version-id", x->version_id);
  json_decref(acl);
  view_free(&v);
  tw_s3_object_row_free(&row);
}

void tw_s3_put_object_acl(tw_request *r, s3_ctx *x) {
  tw_s3 *s = x->s3;
  tw_s3_object_row row;
  if (acl_object(r, x, &row)) return;
  bucket_view v = view_of(s, x->bucket);
  json_t *acl = row.acl ? json_loads(row.acl, 0, NULL) : NULL;
  const char *owner = v.ownership == OWN_ENFORCED ? v.owner : acl_owner(acl);
  char id[65], bucket_owner_id[65];
  canonical_id(s, owner, id);
  canonical_id(s, v.owner, bucket_owner_id);
  json_t *g = NULL;
  int bad = requested_grants(r, x, id, bucket_owner_id, &g) ||
            acceptable(r, x, x->bucket, v.ownership, g, id);
  char *text = NULL;
  if (!bad) {
    if (owner_only(g, id) && json_array_size(g) == 1) {
      json_decref(g);
      g = NULL;
    }
    text = dump_object_acl(owner, g);
  }
  json_decref(g);
  json_decref(acl);
  view_free(&v);
  if (bad) {
    tw_s3_object_row_free(&row);
    return;
  }
  pthread_mutex_lock(&s->mu);
  uint64_t t = tw_store_s3_objects(s->store)->set_acl(s->store, x->bucket, x->key, x->key_len,
                                                      row.blob, text);
  pthread_mutex_unlock(&s->mu);
  free(text);
  tw_s3_object_row_free(&row);
  tw_req_after_commit(r, t, saved_200);
}

/* --- Put/Get/DeleteBucketOwnershipControls ------------------------------------------- */

static void deleted_204(tw_request *r) {
  s3_ctx *x = r->ctx;
  if (tw_s3_commit_failed(r, x)) return;
  tw_req_respond(r, 204, NULL, "", 0);
  tw_s3_add_common_headers(r);
}

static void set_ownership(tw_request *r, s3_ctx *x, int k) {
  tw_s3 *s = x->s3;
  pthread_mutex_lock(&s->mu);
  if (bucket_or_404(r, x)) {
    pthread_mutex_unlock(&s->mu);
    return;
  }
  char *text = k ? ownership_json(k) : NULL;
  uint64_t t =
      tw_store_s3_buckets(s->store)->set_setting(s->store, x->bucket, TW_S3_BUCKET_OWNERSHIP, text);
  free(text);
  struct s3_acl_state *st = s->acl;
  pthread_rwlock_wrlock(&st->lock);
  bucket_acl *e = entry_locked(st, x->bucket);
  if (e) e->ownership = k;
  pthread_rwlock_unlock(&st->lock);
  pthread_mutex_unlock(&s->mu);
  tw_req_after_commit(r, t, k ? saved_200 : deleted_204);
}

void tw_s3_put_ownership_controls(tw_request *r, s3_ctx *x) {
  if (bucket_or_404(r, x) || tw_s3_check_body_digests(r, x, NULL)) return;
  char *root = NULL;
  json_t *doc = r->body.len ? tw_xml_parse(r->body.data, r->body.len, &root) : NULL;
  int ok = doc && root && !strcmp(root, "OwnershipControls");
  free(root);
  json_t *rules = ok ? tw_xml_list(doc, "Rule") : NULL;
  int k = 0;
  if (ok && json_array_size(rules) == 1) {
    const char *v = tw_xml_text(json_array_get(rules, 0), "ObjectOwnership");
    for (int i = 1; v && i < 4; i++)
      if (!strcmp(v, OWN_NAMES[i])) k = i;
  }
  json_decref(rules);
  json_decref(doc);
  if (!k) {
    tw_s3_error(r, x, TW_ERR_S3_MALFORMED_XML, NULL);
    return;
  }
  if (k == OWN_ENFORCED) { /* a bucket ACL beyond the owner's must go first */
    bucket_view v = view_of(x->s3, x->bucket);
    char id[65];
    canonical_id(x->s3, v.owner, id);
    int refuse = v.grants && !owner_only(v.grants, id);
    view_free(&v);
    if (refuse) {
      tw_s3_error(r, x, TW_ERR_S3_INVALID_BUCKET_ACL_OWNERSHIP, NULL);
      return;
    }
  }
  set_ownership(r, x, k);
}

void tw_s3_delete_ownership_controls(tw_request *r, s3_ctx *x) {
  set_ownership(r, x, OWN_NONE);
}

void tw_s3_get_ownership_controls(tw_request *r, s3_ctx *x) {
  if (bucket_or_404(r, x)) return;
  bucket_view v = view_of(x->s3, x->bucket);
  int k = v.ownership;
  view_free(&v);
  if (!k) {
    tw_buf ex;
    tw_buf_init(&ex, 4096);
    tw_s3_xml_text(&ex, "BucketName", x->bucket);
    tw_s3_error_key(r, x, TW_ERR_S3_NO_OWNERSHIP_CONTROLS, NULL, tw_buf_cstr(&ex));
    tw_buf_free(&ex);
    return;
  }
  tw_buf b;
  tw_buf_init(&b, 4096);
  tw_s3_xml_begin(&b, "OwnershipControls");
  tw_buf_puts(&b, "<Rule>");
  tw_s3_xml_text(&b, "ObjectOwnership", OWN_NAMES[k]);
  tw_buf_puts(&b, "</Rule></OwnershipControls>");
  tw_s3_respond_xml(r, 200, &b);
}
