/* Bucket policies and S3 authorization.
 *
 * Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus keep the document in
 * the bucket's policy setting (store/s3_buckets.h) and compiled in a map by
 * bucket name (loaded at start, updated on each change, dropped with the
 * bucket). tw_s3_authorize gives each operation its IAM action and resource
 * ARN (arn:aws:s3:::bucket, arn:aws:s3:::bucket/key, "*" for ListBuckets),
 * the s3:prefix / s3:delimiter / s3:max-keys keys of a listing, and the
 * bucket's policy to tw_authorize.
 *
 * Put/Get/DeletePublicAccessBlock keep the four flags in the bucket's
 * public_access_block setting, cached beside the policies: BlockPublicPolicy
 * refuses a public PutBucketPolicy (403 AccessDenied), RestrictPublicBuckets
 * makes a public policy grant nothing to anonymous callers (and to keys that
 * are not this server's users); BlockPublicAcls and IgnorePublicAcls apply to
 * ACLs (s3_acl.c: a public ACL is refused, or grants nothing).
 *
 * A caller the policies do not let through may still be let through by the
 * bucket's or object's ACL (s3_acl.c), unless a policy explicitly denies. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authorize.h"
#include "auth/credentials.h"
#include "core/xml_in.h"
#include "core/log.h"
#include "core/map.h"
#include "s3/s3_ops.h"
#include "store/s3_buckets.h"

struct s3_policy_state {
  pthread_rwlock_t lock;
  tw_map by_bucket; /* bucket name -> tw_policy* */
  tw_map pab;       /* bucket name -> unsigned* (PAB_* flags) */
};

enum { PAB_BLOCK_ACLS = 1, PAB_IGNORE_ACLS = 2, PAB_BLOCK_POLICY = 4, PAB_RESTRICT = 8 };
static const char *const PAB_NAMES[] = {"BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                        "RestrictPublicBuckets"};

static unsigned pab_from_json(const char *text) {
  json_t *o = json_loads(text, 0, NULL);
  unsigned f = 0;
  for (int i = 0; i < 4; i++)
    if (json_is_true(json_object_get(o, PAB_NAMES[i]))) f |= 1u << i;
  json_decref(o);
  return f;
}

/* Replaces the bucket's cached flags (has 0: none). Under st->lock (write). */
static void pab_set_locked(struct s3_policy_state *st, const char *bucket, int has, unsigned f) {
  free(tw_map_del(&st->pab, bucket));
  if (!has) return;
  unsigned *v = malloc(sizeof *v);
  if (!v) return;
  *v = f;
  if (tw_map_put(&st->pab, bucket, v)) free(v);
}

static int load_pab(void *ud, const char *name, const char *json) {
  pab_set_locked(ud, name, 1, pab_from_json(json));
  return 0;
}

static int load_one(void *ud, const char *name, const char *json) {
  struct s3_policy_state *st = ud;
  char err[256];
  tw_policy *p = tw_policy_parse(json, strlen(json), TW_POLICY_RESOURCE, err, sizeof err);
  if (!p) {
    tw_warn("s3: bucket %s: unreadable bucket policy ignored: %s", name, err);
    return 0;
  }
  tw_map_put(&st->by_bucket, name, p);
  return 0;
}

int tw_s3_policy_open(tw_s3 *s) {
  struct s3_policy_state *st = calloc(1, sizeof *st);
  if (!st) return -1;
  pthread_rwlock_init(&st->lock, NULL);
  tw_map_init(&st->by_bucket);
  tw_map_init(&st->pab);
  s->policy = st;
  const tw_s3_buckets_repo *repo = tw_store_s3_buckets(s->store);
  return repo->each_setting(s->store, TW_S3_BUCKET_POLICY, load_one, st) ||
                 repo->each_setting(s->store, TW_S3_BUCKET_PUBLIC_ACCESS_BLOCK, load_pab, st)
             ? -1
             : 0;
}

void tw_s3_policy_close(tw_s3 *s) {
  struct s3_policy_state *st = s->policy;
  if (!st) return;
  tw_map_entry *it = NULL;
  const char *k;
  void *v;
  while ((it = tw_map_next(&st->by_bucket, it, &k, &v))) tw_policy_free(v);
  tw_map_free(&st->by_bucket);
  it = NULL;
  while ((it = tw_map_next(&st->pab, it, &k, &v))) free(v);
  tw_map_free(&st->pab);
  pthread_rwlock_destroy(&st->lock);
  free(st);
  s->policy = NULL;
}

static void cache_set(tw_s3 *s, const char *bucket, tw_policy *p) {
  struct s3_policy_state *st = s->policy;
  pthread_rwlock_wrlock(&st->lock);
  tw_policy *old = p ? NULL : tw_map_del(&st->by_bucket, bucket);
  if (p) {
    old = tw_map_get(&st->by_bucket, bucket);
    if (tw_map_put(&st->by_bucket, bucket, p)) {
      tw_policy_free(p);
      old = NULL;
    }
  }
  pthread_rwlock_unlock(&st->lock);
  tw_policy_free(old);
}

void tw_s3_policy_bucket_deleted(tw_s3 *s, const char *bucket) {
  cache_set(s, bucket, NULL);
  struct s3_policy_state *st = s->policy;
  pthread_rwlock_wrlock(&st->lock);
  pab_set_locked(st, bucket, 0, 0);
  pthread_rwlock_unlock(&st->lock);
}

/* Cluster mode: another node changed the bucket's settings (s3_cluster.c). */
void tw_s3_policy_reload(tw_s3 *s, const char *bucket) {
  const tw_s3_buckets_repo *repo = tw_store_s3_buckets(s->store);
  char *text = NULL, *pab = NULL;
  if (repo->get_setting(s->store, bucket, TW_S3_BUCKET_POLICY, &text) < 0 ||
      repo->get_setting(s->store, bucket, TW_S3_BUCKET_PUBLIC_ACCESS_BLOCK, &pab) < 0) {
    free(text);
    return; /* unreadable now: the cached settings stay */
  }
  char err[256];
  tw_policy *p =
      text ? tw_policy_parse(text, strlen(text), TW_POLICY_RESOURCE, err, sizeof err) : NULL;
  cache_set(s, bucket, p);
  struct s3_policy_state *st = s->policy;
  pthread_rwlock_wrlock(&st->lock);
  pab_set_locked(st, bucket, pab != NULL, pab ? pab_from_json(pab) : 0);
  pthread_rwlock_unlock(&st->lock);
  free(text);
  free(pab);
}

/* The bucket's PublicAccessBlock flags (0: none). */
static unsigned pab_flags(tw_s3 *s, const char *bucket) {
  struct s3_policy_state *st = s->policy;
  pthread_rwlock_rdlock(&st->lock);
  const unsigned *v = tw_map_get(&st->pab, bucket);
  unsigned f = v ? *v : 0;
  pthread_rwlock_unlock(&st->lock);
  return f;
}

unsigned tw_s3_pab_flags(tw_s3 *s, const char *bucket) {
  return pab_flags(s, bucket);
}

/* --- the IAM action of each operation ---------------------------------------------- */

static const struct {
  const char *op, *iam;
} iam_names[] = {
    {"ListBuckets", "s3:ListAllMyBuckets"},
    {"PutBucketCors", "s3:PutBucketCORS"},
    {"GetBucketCors", "s3:GetBucketCORS"},
    {"DeleteBucketCors", "s3:PutBucketCORS"},
    {"PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration"},
    {"GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration"},
    {"DeleteBucketLifecycle", "s3:PutLifecycleConfiguration"},
    {"PutBucketNotificationConfiguration", "s3:PutBucketNotification"},
    {"GetBucketNotificationConfiguration", "s3:GetBucketNotification"},
    {"DeleteObjects", "s3:DeleteObject"},
    {"ListMultipartUploads", "s3:ListBucketMultipartUploads"},
    {"DeleteBucketTagging", "s3:PutBucketTagging"},
    {"HeadBucket", "s3:ListBucket"},
    {"ListObjects", "s3:ListBucket"},
    {"ListObjectsV2", "s3:ListBucket"},
    {"CreateMultipartUpload", "s3:PutObject"},
    {"UploadPart", "s3:PutObject"},
    {"UploadPartCopy", "s3:PutObject"},
    {"CompleteMultipartUpload", "s3:PutObject"},
    {"AbortMultipartUpload", "s3:AbortMultipartUpload"},
    {"ListParts", "s3:ListMultipartUploadParts"},
    {"GetObjectAttributes", "s3:GetObjectAttributes"},
    {"CopyObject", "s3:PutObject"},
    {"HeadObject", "s3:GetObject"},
    {"ListObjectVersions", "s3:ListBucketVersions"},
    {"PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock"},
    {"GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock"},
    {"DeletePublicAccessBlock", "s3:PutBucketPublicAccessBlock"},
    {"DeleteBucketOwnershipControls", "s3:PutBucketOwnershipControls"},
};

/* A request that names a version (?versionId=) is a different IAM action. */
static const struct {
  const char *op, *iam;
} iam_version_names[] = {
    {"GetObject", "s3:GetObjectVersion"},
    {"HeadObject", "s3:GetObjectVersion"},
    {"DeleteObject", "s3:DeleteObjectVersion"},
    {"GetObjectTagging", "s3:GetObjectVersionTagging"},
    {"PutObjectTagging", "s3:PutObjectVersionTagging"},
    {"DeleteObjectTagging", "s3:DeleteObjectVersionTagging"},
    {"GetObjectAttributes", "s3:GetObjectVersionAttributes"},
    {"GetObjectAcl", "s3:GetObjectVersionAcl"},
    {"PutObjectAcl", "s3:PutObjectVersionAcl"},
};

static void iam_action(const char *op, int versioned, char *out, size_t n) {
  for (size_t i = 0; versioned && i < sizeof iam_version_names / sizeof iam_version_names[0]; i++)
    if (!strcmp(iam_version_names[i].op, op)) {
      snprintf(out, n, "%s", iam_version_names[i].iam);
      return;
    }
  for (size_t i = 0; i < sizeof iam_names / sizeof iam_names[0]; i++)
    if (!strcmp(iam_names[i].op, op)) {
      snprintf(out, n, "%s", iam_names[i].iam);
      return;
    }
  snprintf(out, n, "s3:%s", op); /* GetObject, PutObject, GetBucketPolicy, ... */
}

/* Decides one (action, bucket, key) with the bucket's policy. */
static int decide(tw_request *r, s3_ctx *x, const char *action, const char *bucket, const char *key,
                  const tw_kv *extra, size_t nextra, char *msg, size_t msglen) {
  char *arn;
  size_t alen = strlen(bucket) + (key ? strlen(key) : 0) + 32;
  arn = malloc(alen);
  if (!arn) return 0;
  if (key)
    snprintf(arn, alen, "arn:aws:s3:::%s/%s", bucket, key);
  else
    snprintf(arn, alen, "arn:aws:s3:::%s", bucket);
  /* the ACLs can add something only for callers the policies may refuse:
   * anonymous ones and users with identity policies (asked before the lock:
   * they read the PublicAccessBlock flags) */
  const tw_user *u = r->principal[0] ? tw_credentials_user(x->s3->creds, r->principal) : NULL;
  int acl_ok = (!u || u->npolicies) && tw_s3_acl_allows(r, x, action, bucket, key);
  struct s3_policy_state *st = x->s3->policy;
  pthread_rwlock_rdlock(&st->lock);
  const tw_policy *p = tw_map_get(&st->by_bucket, bucket);
  const unsigned *pab = tw_map_get(&st->pab, bucket);
  /* RestrictPublicBuckets: a public policy grants nothing to callers outside the account */
  if (p && pab && (*pab & PAB_RESTRICT) && tw_policy_is_public(p) &&
      (!r->principal[0] || !tw_credentials_user(x->s3->creds, r->principal)))
    p = NULL;
  int ok;
  if (acl_ok) {
    ok = !tw_authorize_denies(r, action, arn, p, extra, nextra);
    if (!ok) snprintf(msg, msglen, "Access Denied");
  } else {
    ok = tw_authorize(r, action, arn, p, extra, nextra, msg, msglen);
  }
  pthread_rwlock_unlock(&st->lock);
  free(arn);
  return ok;
}

int tw_s3_authorize(tw_request *r, s3_ctx *x, const char *op, char *msg, size_t msglen) {
  char action[96];
  iam_action(op, json_object_get(x->q, "versionId") != NULL, action, sizeof action);
  if (!x->bucket) return tw_authorize(r, action, "*", NULL, NULL, 0, msg, msglen);
  tw_kv extra[3];
  size_t n = 0;
  if (!strcmp(action, "s3:ListBucket")) {
    static const char *const keys[][2] = {
        {"prefix", "s3:prefix"}, {"delimiter", "s3:delimiter"}, {"max-keys", "s3:max-keys"}};
    for (int i = 0; i < 3; i++) {
      const char *v = json_string_value(json_object_get(x->q, keys[i][0]));
      if (v) extra[n++] = (tw_kv){keys[i][1], v};
    }
  }
  /* DeleteObjects names its keys in the body: checked as the whole bucket */
  const char *key = !strcmp(op, "DeleteObjects") ? "*" : x->key;
  if (!decide(r, x, action, x->bucket, key, extra, n, msg, msglen)) return 0;
  /* CopyObject and UploadPartCopy also read their source */
  const char *src = tw_req_header(r, "x-amz-copy-source");
  if (src && (!strcmp(op, "CopyObject") || !strcmp(op, "UploadPartCopy"))) {
    char *dec = tw_url_decode(src, strcspn(src, "?"), 0);
    const char *p = dec && *dec == '/' ? dec + 1 : dec;
    const char *slash = p ? strchr(p, '/') : NULL;
    int ok = 1;
    if (slash) {
      char *bucket = strndup(p, (size_t)(slash - p));
      const char *read = strstr(src, "versionId=") ? "s3:GetObjectVersion" : "s3:GetObject";
      ok = bucket && decide(r, x, read, bucket, slash + 1, NULL, 0, msg, msglen);
      free(bucket);
    }
    free(dec);
    if (!ok) return 0;
  }
  return 1;
}

/* --- Put/Get/DeleteBucketPolicy, GetBucketPolicyStatus ------------------------------ */

static int bucket_or_404(tw_request *r, s3_ctx *x) {
  int e = tw_s3_bucket_exists(x->s3, x->bucket);
  if (e > 0) return 0;
  tw_s3_error(r, x, e < 0 ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_BUCKET, NULL);
  return -1;
}

static void answer_204(tw_request *r) {
  if (r->commit_failed) {
    tw_s3_error(r, r->ctx, TW_ERR_SERVICE_UNAVAILABLE, NULL);
    return;
  }
  tw_req_respond(r, 204, NULL, "", 0);
}

/* Stores (text NULL: clears) the policy and updates the cache (p owned). */
static void set_policy(tw_request *r, s3_ctx *x, const char *text, tw_policy *p) {
  tw_s3 *s = x->s3;
  pthread_mutex_lock(&s->mu); /* ordered against DeleteBucket */
  if (bucket_or_404(r, x)) {
    pthread_mutex_unlock(&s->mu);
    tw_policy_free(p);
    return;
  }
  uint64_t t =
      tw_store_s3_buckets(s->store)->set_setting(s->store, x->bucket, TW_S3_BUCKET_POLICY, text);
  cache_set(s, x->bucket, p);
  pthread_mutex_unlock(&s->mu);
  tw_req_after_commit(r, t, answer_204);
}

void tw_s3_put_bucket_policy(tw_request *r, s3_ctx *x) {
  if (bucket_or_404(r, x) || tw_s3_check_body_digests(r, x, NULL)) return;
  const char *body = r->body.data ? r->body.data : "";
  char why[400];
  tw_policy *p = tw_policy_parse(body, r->body.len, TW_POLICY_RESOURCE, why, sizeof why);
  if (!p) {
    tw_s3_error(r, x, TW_ERR_S3_MALFORMED_POLICY, why);
    return;
  }
  if ((pab_flags(x->s3, x->bucket) & PAB_BLOCK_POLICY) && tw_policy_is_public(p)) {
    tw_policy_free(p); /* S3's answer to a public policy under BlockPublicPolicy */
    tw_s3_error(r, x, TW_ERR_ACCESS_DENIED, "Access Denied");
    return;
  }
  char *text = strndup(body, r->body.len);
  set_policy(r, x, text, p);
  free(text);
}

void tw_s3_delete_bucket_policy(tw_request *r, s3_ctx *x) {
  set_policy(r, x, NULL, NULL);
}

/* The stored policy (malloc'd) or NULL after answering the error. */
static char *stored_policy(tw_request *r, s3_ctx *x) {
  char *text = NULL;
  int rc = tw_store_s3_buckets(x->s3->store)
               ->get_setting(x->s3->store, x->bucket, TW_S3_BUCKET_POLICY, &text);
  if (rc <= 0) {
    tw_s3_error(r, x, rc < 0 ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return NULL;
  }
  if (!text) {
    tw_buf ex;
    tw_buf_init(&ex, 4096);
    tw_s3_xml_text(&ex, "BucketName", x->bucket);
    tw_s3_error_key(r, x, TW_ERR_S3_NO_SUCH_BUCKET_POLICY, NULL, tw_buf_cstr(&ex));
    tw_buf_free(&ex);
  }
  return text;
}

void tw_s3_get_bucket_policy(tw_request *r, s3_ctx *x) {
  char *text = stored_policy(r, x);
  if (text) tw_req_respond_owned(r, 200, "application/json", text, strlen(text));
}

void tw_s3_get_bucket_policy_status(tw_request *r, s3_ctx *x) {
  char *text = stored_policy(r, x);
  if (!text) return;
  char err[64];
  tw_policy *p = tw_policy_parse(text, strlen(text), TW_POLICY_RESOURCE, err, sizeof err);
  free(text);
  tw_buf b;
  tw_buf_init(&b, 4096);
  tw_s3_xml_begin(&b, "PolicyStatus");
  tw_s3_xml_text(&b, "IsPublic", tw_policy_is_public(p) ? "true" : "false");
  tw_buf_puts(&b, "</PolicyStatus>");
  tw_policy_free(p);
  tw_s3_respond_xml(r, 200, &b);
}

/* --- Put/Get/DeletePublicAccessBlock ------------------------------------------------ */

static void pab_saved_200(tw_request *r) {
  if (r->commit_failed) {
    tw_s3_error(r, r->ctx, TW_ERR_SERVICE_UNAVAILABLE, NULL);
    return;
  }
  tw_req_respond(r, 200, NULL, "", 0);
}

/* Stores (text NULL: clears) the configuration and updates the cache. */
static void set_pab(tw_request *r, s3_ctx *x, const char *text, unsigned f,
                    void (*done)(tw_request *)) {
  tw_s3 *s = x->s3;
  pthread_mutex_lock(&s->mu); /* ordered against DeleteBucket */
  if (bucket_or_404(r, x)) {
    pthread_mutex_unlock(&s->mu);
    return;
  }
  uint64_t t = tw_store_s3_buckets(s->store)->set_setting(s->store, x->bucket,
                                                          TW_S3_BUCKET_PUBLIC_ACCESS_BLOCK, text);
  struct s3_policy_state *st = s->policy;
  pthread_rwlock_wrlock(&st->lock);
  pab_set_locked(st, x->bucket, text != NULL, f);
  pthread_rwlock_unlock(&st->lock);
  pthread_mutex_unlock(&s->mu);
  tw_req_after_commit(r, t, done);
}

void tw_s3_put_public_access_block(tw_request *r, s3_ctx *x) {
  if (bucket_or_404(r, x) || tw_s3_check_body_digests(r, x, NULL)) return;
  char *root = NULL;
  json_t *doc = r->body.len ? tw_xml_parse(r->body.data, r->body.len, &root) : NULL;
  int ok = doc && root && !strcmp(root, "PublicAccessBlockConfiguration");
  free(root);
  unsigned f = 0;
  for (int i = 0; ok && i < 4; i++) {
    const char *v = tw_xml_text(doc, PAB_NAMES[i]);
    if (!v) continue; /* an absent flag is false */
    if (!strcmp(v, "true"))
      f |= 1u << i;
    else if (strcmp(v, "false"))
      ok = 0;
  }
  json_decref(doc);
  if (!ok) {
    tw_s3_error(r, x, TW_ERR_S3_MALFORMED_XML, NULL);
    return;
  }
  json_t *o = json_object();
  for (int i = 0; i < 4; i++) json_object_set_new(o, PAB_NAMES[i], json_boolean(f & (1u << i)));
  char *text = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!text) {
    tw_s3_error(r, x, TW_ERR_INTERNAL, NULL);
    return;
  }
  set_pab(r, x, text, f, pab_saved_200);
  free(text);
}

void tw_s3_delete_public_access_block(tw_request *r, s3_ctx *x) {
  set_pab(r, x, NULL, 0, answer_204);
}

void tw_s3_get_public_access_block(tw_request *r, s3_ctx *x) {
  char *text = NULL;
  int rc = tw_store_s3_buckets(x->s3->store)
               ->get_setting(x->s3->store, x->bucket, TW_S3_BUCKET_PUBLIC_ACCESS_BLOCK, &text);
  if (rc <= 0) {
    tw_s3_error(r, x, rc < 0 ? TW_ERR_INTERNAL : TW_ERR_S3_NO_SUCH_BUCKET, NULL);
    return;
  }
  if (!text) {
    tw_buf ex;
    tw_buf_init(&ex, 4096);
    tw_s3_xml_text(&ex, "BucketName", x->bucket);
    tw_s3_error_key(r, x, TW_ERR_S3_NO_SUCH_PUBLIC_ACCESS_BLOCK, NULL, tw_buf_cstr(&ex));
    tw_buf_free(&ex);
    return;
  }
  unsigned f = pab_from_json(text);
  free(text);
  tw_buf b;
  tw_buf_init(&b, 4096);
  tw_s3_xml_begin(&b, "PublicAccessBlockConfiguration");
  for (int i = 0; i < 4; i++) tw_s3_xml_text(&b, PAB_NAMES[i], f & (1u << i) ? "true" : "false");
  tw_buf_puts(&b, "</PublicAccessBlockConfiguration>");
  tw_s3_respond_xml(r, 200, &b);
}
