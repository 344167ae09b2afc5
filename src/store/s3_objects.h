/* S3 object rows: the repository PUT, GET/HEAD, DELETE, copy, tagging and
 * listing (src/s3/s3_object_*.c, s3_tagging.c, s3_list.c) go through. See
 * "repositories" in store.h: writes append to the open batch and return its
 * ticket; reads see committed data on the calling thread. The part layout a
 * completed multipart upload leaves on its row is in s3_uploads.h; the blob
 * questions the body sweep asks are in s3_refs.h. Keys are bytes (compared as
 * bytes: listings are in byte order), buckets text. */
#ifndef TW_STORE_S3_OBJECTS_H
#define TW_STORE_S3_OBJECTS_H
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* An object. Given to put (borrowed: every field); filled by get (owned: free
 * with tw_s3_object_row_free; bucket and key are left NULL); passed to a
 * listing's callback (borrowed, valid during the call, with only key, key_len,
 * size, modified_ms, etag, checksums and acl set). Text fields other than bucket,
 * etag and blob may be NULL. */
typedef struct {
  const char *bucket;
  const char *key; /* key_len bytes, not NUL-terminated */
  size_t key_len;
  int64_t size, modified_ms;
  const char *etag; /* as S3 shows it, without the quotes */
  const char *blob; /* the body's blob id */
  const char *content_type;
  const char *headers;   /* the stored response headers, a JSON object */
  const char *meta;      /* x-amz-meta-*, a JSON object */
  const char *checksums; /* {"alg", "value", "type"} as JSON */
  const char *tags;      /* [[key, value], ...] as JSON */
  /* versions (s3_versions.c): NULL version_id is the `null` version; vseq
   * orders a key's versions (larger: newer, microseconds); list_versions and
   * get_version set delete_marker and is_latest */
  const char *version_id;
  int64_t vseq;
  int delete_marker, is_latest;
  int64_t noncurrent_ms; /* list_noncurrent: when the version stopped being the latest */
  const char *acl;       /* owner and grants as JSON (s3_acl.c); NULL: the first user's, private */
  void *owned_;          /* get: the block the strings live in */
} tw_s3_object_row;

/* How a bucket keeps versions: never configured, Enabled, Suspended. */
enum { TW_S3_VERSIONING_OFF, TW_S3_VERSIONING_ENABLED, TW_S3_VERSIONING_SUSPENDED };
void tw_s3_object_row_free(tw_s3_object_row *o);

typedef struct {
  /* --- writes: each returns the ticket of the batch that makes it durable (0 on
   * allocation failure) */
  /* Writes the row, replacing the key's (its part layout goes with it). */
  uint64_t (*put)(tw_store *s, const tw_s3_object_row *o);
  uint64_t (*remove)(tw_store *s, const char *bucket, const void *key, size_t klen);
  /* Removes the row only while it still names `blob` (a newer write stays). */
  uint64_t (*remove_if_blob)(tw_store *s, const char *bucket, const void *key, size_t klen,
                             const char *blob);
  /* Replaces the tags (NULL: none) of the version that names `blob`. */
  uint64_t (*set_tags)(tw_store *s, const char *bucket, const void *key, size_t klen,
                       const char *blob, const char *tags_json);

  /* Replaces the owner and grants (s3_acl.c) of the version that names `blob`. */
  uint64_t (*set_acl)(tw_store *s, const char *bucket, const void *key, size_t klen,
                      const char *blob, const char *acl_json);

  /* Versioned writes (mode: TW_S3_VERSIONING_*). The key's latest version
   * becomes noncurrent (Enabled: always; Suspended: unless it is the `null`
   * version, which a Suspended write replaces, wherever it is) and o (with its
   * version_id and vseq) the latest. Mode OFF is put. */
  uint64_t (*put_version)(tw_store *s, const tw_s3_object_row *o, int mode, int64_t now_ms);
  /* A delete marker (version_id NULL: the `null` one) becomes the latest, as
   * put_version does for an object. */
  uint64_t (*add_marker)(tw_store *s, const char *bucket, const void *key, size_t klen,
                         const char *version_id, int64_t vseq, int64_t now_ms, int mode);
  /* Removes one version (version_id NULL: the `null` one), object or marker;
   * the newest remaining becomes the latest. */
  uint64_t (*remove_version)(tw_store *s, const char *bucket, const void *key, size_t klen,
                             const char *version_id);

  /* --- reads: committed data, on this thread */
  /* One version (version_id NULL: the `null` one), object or marker: as get,
   * with delete_marker and is_latest set. */
  int (*get_version)(tw_store *s, const char *bucket, const void *key, size_t klen,
                     const char *version_id, tw_s3_object_row *o);
  /* 1 when the key's latest version is a delete marker (*o filled as by
   * get_version), 0 when not (an object or nothing), -1 on error. */
  int (*latest_marker)(tw_store *s, const char *bucket, const void *key, size_t klen,
                       tw_s3_object_row *o);
  /* Every version of the bucket, objects and markers, by key then newest
   * first: those after (after, after_vseq) in that order (after_vseq
   * INT64_MAX: from the key's newest) with key not less than `from`; at most
   * `limit`. The rows given to fn have key, size, modified_ms, etag,
   * checksums, version_id, vseq, delete_marker and is_latest set. As list. */
  int (*list_versions)(tw_store *s, const char *bucket, const void *after, size_t after_len,
                       int64_t after_vseq, const void *from, size_t from_len, int limit,
                       int (*fn)(void *ud, const tw_s3_object_row *o), void *ud);
  /* The versions that are not the latest, plus latest delete markers, for the
   * lifecycle sweep: as list_versions, with blob, tags, noncurrent_ms (0 for
   * a latest marker) and is_latest set, and is_latest of a marker that is the
   * key's only version set to 2. */
  int (*list_noncurrent)(tw_store *s, const char *bucket, const void *after, size_t after_len,
                         int64_t after_vseq, const void *from, size_t from_len, int limit,
                         int (*fn)(void *ud, const tw_s3_object_row *o), void *ud);
  /* 1 with *o filled (free with tw_s3_object_row_free), 0 when the key has no
   * row (*o zeroed), -1 on error. */
  int (*get)(tw_store *s, const char *bucket, const void *key, size_t klen, tw_s3_object_row *o);
  /* 1 with *size set, 0 when the key has no row, -1 on error. */
  int (*size)(tw_store *s, const char *bucket, const void *key, size_t klen, int64_t *size);
  /* 1 when the bucket holds at least one object or version, 0 when none, -1 on error. */
  int (*any)(tw_store *s, const char *bucket);
  /* The bucket's rows whose key is greater than `after` and not less than
   * `from` (either may be empty), in key order, at most `limit` of them; fn
   * returns nonzero to stop (and must not list again from inside). The number
   * of rows fn was called for, or -1 on error. */
  int (*list)(tw_store *s, const char *bucket, const void *after, size_t after_len,
              const void *from, size_t from_len, int limit,
              int (*fn)(void *ud, const tw_s3_object_row *o), void *ud);
  /* How many objects the bucket holds and their total size (the daily
   * storage metrics). 0, or -1 on error. */
  int (*totals)(tw_store *s, const char *bucket, int64_t *count, int64_t *bytes);
} tw_s3_objects_repo;

const tw_s3_objects_repo *tw_store_s3_objects(tw_store *s);

#endif
