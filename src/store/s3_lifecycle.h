/* What the S3 lifecycle sweeper (src/s3/s3_lifecycle_sweep.c) asks of the
 * store: bounded scans for objects and incomplete multipart uploads old enough
 * to be due, per bucket and key prefix. Expiring an object is the objects
 * repository's remove_if_blob (s3_objects.h); removing an upload is the
 * uploads repository's `remove` (s3_uploads.h); whether an upload still
 * exists and its parts' bodies are in s3_refs.h. See "repositories" in
 * store.h. */
#ifndef TW_STORE_S3_LIFECYCLE_H
#define TW_STORE_S3_LIFECYCLE_H
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* An object row a scan found (borrowed: valid during the callback). */
typedef struct {
  const char *key; /* klen bytes, not NUL-terminated */
  size_t klen;
  int64_t size, modified_ms;
  const char *blob; /* the body's blob id */
  const char *tags; /* [[key, value], ...] as JSON, or NULL */
} tw_s3_lc_object;

/* Callbacks return nonzero to stop the scan. Scans return 0, or -1 on error. */
typedef int (*tw_s3_lc_object_fn)(void *ud, const tw_s3_lc_object *o);

typedef struct {
  /* Objects of `bucket` whose key starts with `prefix` (non-empty) and is
   * greater than after_key (NULL: from the first), modified at or before
   * cutoff_ms; by key, at most `limit` rows. */
  int (*objects_by_prefix)(tw_store *s, const char *bucket, const char *prefix,
                           const void *after_key, size_t after_klen, int64_t cutoff_ms, int limit,
                           tw_s3_lc_object_fn fn, void *ud);
  /* Objects of `bucket` modified at or before cutoff_ms and after the cursor
   * (after_ms, after_key) in (modified_ms, key) order; by that order, at most
   * `limit` rows. */
  int (*objects_by_age)(tw_store *s, const char *bucket, int64_t cutoff_ms, int64_t after_ms,
                        const void *after_key, size_t after_klen, int limit, tw_s3_lc_object_fn fn,
                        void *ud);
  /* Multipart uploads of `bucket` whose key starts with prefix (NULL or "":
   * any), initiated at or before cutoff_ms; oldest first, at most `limit`. */
  int (*uploads_by_prefix)(tw_store *s, const char *bucket, const char *prefix, int64_t cutoff_ms,
                           int limit, int (*fn)(void *ud, const char *upload), void *ud);
} tw_s3_lifecycle_repo;

const tw_s3_lifecycle_repo *tw_store_s3_lifecycle(tw_store *s);

#endif
