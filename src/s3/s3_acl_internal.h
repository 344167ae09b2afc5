/* Internals shared by the ACL files of the object store: s3_acl.c (owners,
 * the bucket cache, CreateBucket, the allow/deny decision), s3_acl_grants.c
 * (grants parsed, checked and stored) and s3_acl_http.c (the handlers). The
 * model is described at the top of s3_acl.c. */
#ifndef TW_S3_ACL_INTERNAL_H
#define TW_S3_ACL_INTERNAL_H
#include <pthread.h>

#include "core/map.h"
#include "s3/s3_internal.h"

#define URI_ALL "http://acs.amazonaws.com/groups/global/AllUsers"
#define URI_AUTH "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
#define URI_LOG "http://acs.amazonaws.com/groups/s3/LogDelivery"
/* the grantee aws-exec-read names (Amazon EC2's canonical user) */
#define EC2_ID "6aa5a366c34c1cbe25dc49211496e913e0351eb0e8c37aa3477e40942ec6b97c"

enum { OWN_NONE, OWN_ENFORCED, OWN_PREFERRED, OWN_WRITER };
extern const char *const tw_s3_acl_own_names[]; /* by OWN_*: "", "BucketOwnerEnforced", ... */

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

/* A copy of the bucket's owner, ownership and grants (owner malloc'd, grants
 * a reference; both NULL when the bucket is not known). */
typedef struct {
  char *owner;
  int ownership;
  json_t *grants;
  int known;
} bucket_view;

/* s3_acl.c: owners */
void tw_s3_acl_canonical_id(tw_s3 *s, const char *owner, char out[65]);
const known_user *tw_s3_acl_user_by_id(tw_s3 *s, const char *id);
/* s3_acl.c: the bucket cache (entry_locked: the bucket's entry, made when missing;
 * the caller holds st->lock for writing, or is tw_s3_acl_open) */
bucket_acl *tw_s3_acl_entry_locked(struct s3_acl_state *st, const char *bucket);
bucket_view tw_s3_acl_view_of(tw_s3 *s, const char *bucket);
void tw_s3_acl_view_free(bucket_view *v);
/* s3_acl.c: CreateBucket */
char *tw_s3_acl_ownership_json(int k);

/* s3_acl_grants.c */
int tw_s3_acl_perm_bits(const char *p);
void tw_s3_acl_add_grant(json_t *g, const char *type, const char *value, const char *perm);
/* Whether the grants are the owner's full control and nothing else (what a
 * bucket with ACLs disabled accepts). */
int tw_s3_acl_owner_only(json_t *g, const char *owner_id);
void tw_s3_acl_bad_argument(tw_request *r, s3_ctx *x, const char *msg, const char *name,
                            const char *value);
/* The grants a request's headers ask for (x-amz-acl or x-amz-grant-*, or
 * `canned` for a POST form's acl field): *out NULL when it names none.
 * 0, or -1 after answering. */
int tw_s3_acl_grants_from_headers(tw_request *r, s3_ctx *x, const char *canned_acl,
                                  const char *owner_id, const char *bucket_owner_id, json_t **out);
/* An AccessControlPolicy body. */
int tw_s3_acl_grants_from_body(tw_request *r, s3_ctx *x, json_t **out);
/* Refuses an ACL the bucket does not take: with BucketOwnerEnforced anything
 * but the owner's full control (AccessControlListNotSupported), with
 * BlockPublicAcls one granting a public group (AccessDenied). */
int tw_s3_acl_acceptable(tw_request *r, s3_ctx *x, const char *bucket, int ownership, json_t *g,
                         const char *owner_id);
/* An object's acl column: {"o": owner, "g": grants}. */
char *tw_s3_acl_dump_object(const char *owner, json_t *g);
/* The owner named in an object's acl column (NULL column: the first user). */
const char *tw_s3_acl_owner(json_t *acl);

#endif
