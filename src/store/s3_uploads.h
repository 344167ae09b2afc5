/* S3 multipart uploads and their parts: the repository CreateMultipartUpload,
 * UploadPart(Copy), CompleteMultipartUpload, AbortMultipartUpload, ListParts
 * and ListMultipartUploads (src/s3/s3_mpu_*.c) and the lifecycle sweep's
 * aborts go through. See "repositories" in store.h: writes append to the open
 * batch and return its ticket; reads see committed data on the calling thread.
 * The blob questions the body sweep asks (a part's body, every body a part
 * names) are in s3_refs.h. */
#ifndef TW_STORE_S3_UPLOADS_H
#define TW_STORE_S3_UPLOADS_H
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* An upload. Given to create (borrowed); filled by get (owned: free with
 * tw_s3_upload_free); passed to a listing's callback (borrowed, valid during
 * the call, with only id, key, key_len, initiated_ms, checksum_algo and
 * checksum_type set). Text fields may be NULL. */
typedef struct {
  const char *id; /* 32 hex digits */
  const char *bucket;
  const char *key; /* key_len bytes (not NUL-terminated on input; NUL-terminated from get) */
  size_t key_len;
  int64_t initiated_ms;
  const char *content_type;
  const char *headers, *meta; /* JSON objects, as stored for the object */
  const char *tags;           /* [[key, value], ...] as JSON, or NULL */
  const char *checksum_algo;  /* "CRC32", ...; NULL: none asked for */
  const char *checksum_type;  /* "COMPOSITE" | "FULL_OBJECT"; NULL: none */
} tw_s3_upload;
void tw_s3_upload_free(tw_s3_upload *u);

/* A part. Given to put_part (borrowed); passed to list_parts' callback
 * (borrowed, valid during the call). */
typedef struct {
  long num;
  int64_t size, modified_ms;
  const char *etag;     /* hex MD5, unquoted */
  const char *blob;     /* the body's blob id */
  const char *checksum; /* the part's checksums, {"CRC32": "base64", ...} as JSON; NULL: none */
} tw_s3_part_row;

/* What a completed upload leaves for a retried CompleteMultipartUpload (kept
 * a bounded time). Given to record_done (borrowed); filled by get_done
 * (owned: free with tw_s3_upload_done_free). */
typedef struct {
  const char *id, *bucket;
  const char *key; /* key_len bytes (NUL-terminated from get_done) */
  size_t key_len;
  const char *parts;  /* the part list the completion named, canonical text */
  const char *result; /* what it answered, JSON */
  int64_t done_ms;
} tw_s3_upload_done;
void tw_s3_upload_done_free(tw_s3_upload_done *d);

typedef struct {
  /* --- writes: each returns the ticket of the batch that makes it durable (0 on
   * allocation failure) */
  uint64_t (*create)(tw_store *s, const tw_s3_upload *u);
  /* Records part u->num of `upload`, replacing an earlier one of that number. */
  uint64_t (*put_part)(tw_store *s, const char *upload, const tw_s3_part_row *p);
  /* Removes the upload and all its parts, in one batch (abort, completion,
   * lifecycle abort). */
  uint64_t (*remove)(tw_store *s, const char *upload);
  /* The part layout a completed upload leaves on its object row, written in
   * the batch of the object's row (call under tw_store_hold after writing it):
   * its part count and {"sizes": [...], "sums": [...]} as JSON.
   * (An objects-table write: it moves into the objects repository, s3_objects.h,
   * once that one's put can carry it.) */
  uint64_t (*set_object_layout)(tw_store *s, const char *bucket, const void *key, size_t klen,
                                long parts, const char *layout_json);
  /* Records a completion (in the batch that removes the upload), and forgets
   * those completed before forget_before_ms. */
  uint64_t (*record_done)(tw_store *s, const tw_s3_upload_done *d, int64_t forget_before_ms);

  /* --- reads: committed data, on this thread */
  /* 1 with *u filled (free with tw_s3_upload_free), 0 when there is no such
   * upload, -1 on error. */
  int (*get)(tw_store *s, const char *upload, tw_s3_upload *u);
  /* The bucket's uploads whose key is greater than key_after (bytes; NULL or
   * empty: from the start) and starts with prefix (NULL: any), by key then
   * initiation time. fn returns nonzero to stop. 0, or -1 on error. */
  int (*list)(tw_store *s, const char *bucket, const char *prefix, const void *key_after,
              size_t after_len, int (*fn)(void *ud, const tw_s3_upload *u), void *ud);
  /* The upload's parts numbered above `after`, by number. fn returns nonzero
   * to stop. 0, or -1 on error. */
  int (*list_parts)(tw_store *s, const char *upload, long after,
                    int (*fn)(void *ud, const tw_s3_part_row *p), void *ud);
  /* 1 with *d filled (free with tw_s3_upload_done_free) when record_done
   * recorded the upload's completion, 0 when not, -1 on error. */
  int (*get_done)(tw_store *s, const char *upload, tw_s3_upload_done *d);
  /* The layout set_object_layout left on the object row, if the row still
   * names `blob`: 1 with *layout_json (free it) set, 0 when none, -1 on error. */
  int (*object_layout)(tw_store *s, const char *bucket, const void *key, size_t klen,
                       const char *blob, char **layout_json);
} tw_s3_uploads_repo;

const tw_s3_uploads_repo *tw_store_s3_uploads(tw_store *s);

#endif
