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
 * refuses writes of ACLs that grant them (AccessDenied).
 *
 * This file: owners, the bucket cache, CreateBucket's ownership and ACL, and
 * the allow/deny decision. Grants parsed, checked and stored: s3_acl_grants.c;
 * the ACL and ownership handlers: s3_acl_http.c; shared internals:
 * s3_acl_internal.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/credentials.h"
#include "core/log.h"
#include "core/map.h"
#include "core/xml_in.h"
#include "s3/s3_acl_internal.h"
#include "s3/s3_internal.h"
#include "store/s3_buckets.h"
#include "store/s3_objects.h"

const char *const tw_s3_acl_own_names[] = {"", "BucketOwnerEnforced", "BucketOwnerPreferred",
                                           "ObjectWriter"};

/* --- owners ------------------------------------------------------------------------ */

void tw_s3_acl_canonical_id(tw_s3 *s, const char *owner, char out[65]) {
  char seed[256];
  int n = snprintf(seed, sizeof seed, "tweedle:%s:%s", s->account, owner ? owner : "");
  tw_sha256_hex(seed, (size_t)n, out);
}

const char *tw_s3_caller_owner(tw_request *r, tw_s3 *s) {
  if (!r->principal[0]) return NULL;
  const tw_user *u = tw_credentials_user(s->creds, r->principal);
  if (!u) return NULL;
  /* by key: in cluster mode the array may have been replaced since (credentials.h) */
  const tw_user *first = __atomic_load_n(&s->creds->users, __ATOMIC_ACQUIRE);
  return !strcmp(u->access_key, first[0].access_key) ? "" : u->name;
}

const known_user *tw_s3_acl_user_by_id(tw_s3 *s, const char *id) {
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
  tw_s3_acl_canonical_id(s, owner, id);
  tw_s3_xml_text(b, "ID", id);
  tw_s3_xml_text(b, "DisplayName", display_name(s, owner));
}

void tw_s3_owner_xml(tw_buf *b, tw_s3 *s, const char *owner) {
  tw_buf_puts(b, "<Owner>");
  user_xml(b, s, owner);
  tw_buf_puts(b, "</Owner>");
}

/* --- the bucket cache ------------------------------------------------------------- */

bucket_acl *tw_s3_acl_entry_locked(struct s3_acl_state *st, const char *bucket) {
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
    if (!strcmp(v, tw_s3_acl_own_names[i])) k = i;
  json_decref(o);
  return k;
}

static int load_owner(void *ud, const tw_s3_bucket_row *b) {
  struct s3_acl_state *st = ud;
  bucket_acl *e = tw_s3_acl_entry_locked(st, b->name);
  if (e && b->owner && *b->owner) {
    free(e->owner);
    e->owner = strdup(b->owner);
  }
  return 0;
}

static int load_ownership(void *ud, const char *name, const char *json) {
  bucket_acl *e = tw_s3_acl_entry_locked(ud, name);
  if (e) e->ownership = own_from_json(json);
  return 0;
}

static int load_acl(void *ud, const char *name, const char *json) {
  bucket_acl *e = tw_s3_acl_entry_locked(ud, name);
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
    tw_s3_acl_canonical_id(s, k->owner, k->id);
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

bucket_view tw_s3_acl_view_of(tw_s3 *s, const char *bucket) {
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

void tw_s3_acl_view_free(bucket_view *v) {
  free(v->owner);
  json_decref(v->grants);
  memset(v, 0, sizeof *v);
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
      if (!strcmp(own, tw_s3_acl_own_names[i])) nb->ownership = i;
    if (!nb->ownership) {
      tw_s3_acl_bad_argument(r, x, "Invalid x-amz-object-ownership header",
                             "x-amz-object-ownership", own);
      return -1;
    }
  }
  char id[65];
  tw_s3_acl_canonical_id(s, nb->owner, id);
  json_t *g = NULL;
  if (tw_s3_acl_grants_from_headers(r, x, NULL, id, id, &g)) return -1;
  if (g && nb->ownership == OWN_ENFORCED && !tw_s3_acl_owner_only(g, id)) {
    json_decref(g);
    tw_s3_error(r, x, TW_ERR_S3_INVALID_BUCKET_ACL_OWNERSHIP, NULL);
    return -1;
  }
  if (g && !tw_s3_acl_owner_only(g, id)) {
    json_t *o = json_pack("{sO}", "g", g);
    nb->acl = json_dumps(o, JSON_COMPACT);
    json_decref(o);
  }
  json_decref(g);
  return 0;
}

int tw_s3_acl_owns_bucket(tw_request *r, s3_ctx *x) {
  const char *caller = tw_s3_caller_owner(r, x->s3);
  bucket_view v = tw_s3_acl_view_of(x->s3, x->bucket);
  int mine = caller && v.owner && !strcmp(caller, v.owner);
  if (!v.known) { /* not cached: the store knows */
    char *o = NULL;
    tw_store_s3_buckets(x->s3->store)->get_setting(x->s3->store, x->bucket, TW_S3_BUCKET_OWNER, &o);
    mine = caller && !strcmp(caller, o ? o : "");
    free(o);
  }
  tw_s3_acl_view_free(&v);
  return mine;
}

char *tw_s3_acl_ownership_json(int k) {
  json_t *o = json_pack("{ss}", "ObjectOwnership", tw_s3_acl_own_names[k]);
  char *text = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return text;
}

/* Cluster mode: another node created, changed or removed the bucket
 * (s3_cluster.c): its entry is read again. */
void tw_s3_acl_reload(tw_s3 *s, const char *bucket) {
  const tw_s3_buckets_repo *repo = tw_store_s3_buckets(s->store);
  char *owner = NULL, *own = NULL, *acl = NULL;
  int found = repo->get_setting(s->store, bucket, TW_S3_BUCKET_OWNER, &owner);
  if (found < 0 ||
      (found && (repo->get_setting(s->store, bucket, TW_S3_BUCKET_OWNERSHIP, &own) < 0 ||
                 repo->get_setting(s->store, bucket, TW_S3_BUCKET_ACL, &acl) < 0))) {
    free(owner);
    free(own);
    return; /* unreadable now: the cached entry stays */
  }
  struct s3_acl_state *st = s->acl;
  pthread_rwlock_wrlock(&st->lock);
  entry_free(tw_map_del(&st->by_bucket, bucket));
  if (found) {
    tw_s3_bucket_row b = {.name = bucket, .owner = owner};
    load_owner(st, &b);
    if (own) load_ownership(st, bucket, own);
    if (acl) load_acl(st, bucket, acl);
  }
  pthread_rwlock_unlock(&st->lock);
  free(owner);
  free(own);
  free(acl);
}

uint64_t tw_s3_acl_bucket_created(tw_s3 *s, const char *bucket, const tw_s3_new_bucket *nb) {
  const tw_s3_buckets_repo *repo = tw_store_s3_buckets(s->store);
  char *own = tw_s3_acl_ownership_json(nb->ownership);
  uint64_t t = repo->set_setting(s->store, bucket, TW_S3_BUCKET_OWNERSHIP, own);
  free(own);
  if (nb->acl) {
    uint64_t t2 = repo->set_setting(s->store, bucket, TW_S3_BUCKET_ACL, nb->acl);
    if (t2 > t) t = t2;
  }
  struct s3_acl_state *st = s->acl;
  pthread_rwlock_wrlock(&st->lock);
  bucket_acl *e = tw_s3_acl_entry_locked(st, bucket);
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
  if (caller) tw_s3_acl_canonical_id(s, caller, caller_id);
  if (!g) { /* private: the owner only */
    char owner_id[65];
    tw_s3_acl_canonical_id(s, owner, owner_id);
    return caller && !strcmp(caller_id, owner_id);
  }
  size_t i;
  json_t *e;
  json_array_foreach(g, i, e) {
    const char *t = json_string_value(json_array_get(e, 0));
    const char *v = json_string_value(json_array_get(e, 1));
    int bits = tw_s3_acl_perm_bits(json_string_value(json_array_get(e, 2)));
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
  bucket_view v = tw_s3_acl_view_of(s, bucket);
  if (!v.known || v.ownership == OWN_ENFORCED) {
    tw_s3_acl_view_free(&v);
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
      ok = granted(s, json_object_get(acl, "g"), tw_s3_acl_owner(acl), caller, ignore,
                   ACL_ACTIONS[k].perm);
      json_decref(acl);
    }
    tw_s3_object_row_free(&row);
  }
  tw_s3_acl_view_free(&v);
  return ok;
}
