/* S3 buckets and their settings: the repository bucket create, head, list and
 * delete (src/s3/s3_bucket.c) and the per-bucket configurations (CORS,
 * lifecycle, notification; policy and tags kept beside them) go through. See
 * "repositories" in store.h: writes append to the open batch and return its
 * ticket; reads see committed data on the calling thread. */
#ifndef TW_STORE_S3_BUCKETS_H
#define TW_STORE_S3_BUCKETS_H
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* A bucket. Given to create (borrowed); passed to list's callback (borrowed,
 * valid during the call). */
typedef struct {
  const char *name;
  int64_t created_ms;
  const char *region; /* may be NULL */
  const char *owner;  /* the user that created it (s3_acl.c); NULL or "": the first user */
} tw_s3_bucket_row;

/* The configurations a bucket keeps, each a JSON document (NULL: none). */
typedef enum {
  TW_S3_BUCKET_NOTIFICATION, /* [{Id, QueueArn, Events, Filter}, ...] (s3_notify.c) */
  TW_S3_BUCKET_LIFECYCLE,    /* the rules (s3_lifecycle.c) */
  TW_S3_BUCKET_CORS,         /* the rules (s3_cors.c) */
  TW_S3_BUCKET_POLICY,
  TW_S3_BUCKET_TAGS,
  TW_S3_BUCKET_VERSIONING,          /* {"Status": "Enabled" | "Suspended"} (s3_versions.c) */
  TW_S3_BUCKET_PUBLIC_ACCESS_BLOCK, /* {"BlockPublicAcls": bool, ...} (s3_policy.c) */
  TW_S3_BUCKET_OWNERSHIP,           /* {"ObjectOwnership": ...} (s3_acl.c); NULL: none */
  TW_S3_BUCKET_ACL,                 /* the grants (s3_acl.c); NULL: private */
  TW_S3_BUCKET_OWNER,               /* the owner's user name, as in the row (read it here) */
} tw_s3_bucket_setting;

typedef struct {
  /* --- writes: each returns the ticket of the batch that makes it durable (0 on
   * allocation failure) */
  /* Adds the bucket, without settings; nothing when one of that name exists. */
  uint64_t (*create)(tw_store *s, const tw_s3_bucket_row *b);
  /* Removes the bucket with all its settings (not its objects: callers check
   * that it has none). */
  uint64_t (*remove)(tw_store *s, const char *name);
  /* Replaces one setting of the bucket (json NULL: clears it); nothing when
   * there is no such bucket. */
  uint64_t (*set_setting)(tw_store *s, const char *name, tw_s3_bucket_setting which,
                          const char *json);

  /* --- reads: committed data, on this thread */
  /* 1 when the bucket exists, 0 when not, -1 on error. */
  int (*exists)(tw_store *s, const char *name);
  /* Every bucket, by name. fn returns nonzero to stop. 0, or -1 on error. */
  int (*list)(tw_store *s, int (*fn)(void *ud, const tw_s3_bucket_row *b), void *ud);
  /* 1 with *json set (malloc'd; NULL when the setting is not set) when the
   * bucket exists, 0 when it does not (*json NULL), -1 on error. */
  int (*get_setting)(tw_store *s, const char *name, tw_s3_bucket_setting which, char **json);
  /* Every bucket with the setting set, with its value (borrowed, valid during
   * the call), to load caches at start. fn returns nonzero to stop. 0, or -1
   * on error. */
  int (*each_setting)(tw_store *s, tw_s3_bucket_setting which,
                      int (*fn)(void *ud, const char *name, const char *json), void *ud);
} tw_s3_buckets_repo;

const tw_s3_buckets_repo *tw_store_s3_buckets(tw_store *s);

#endif
