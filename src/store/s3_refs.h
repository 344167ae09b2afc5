/* The object store's questions about bodies (blob ids) that its rows name:
 * the current body of a key or part, and every body any row names (for the
 * sweep that reclaims the rest). All read committed data on this thread's
 * reader. */
#ifndef TW_STORE_S3_REFS_H
#define TW_STORE_S3_REFS_H
#include <stddef.h>

#include "store/store.h"

/* 1 with blob set when the object has a row, 0 when not, -1 on error. */
int tw_store_s3_object_blob(tw_store *s, const char *bucket, const void *key, size_t klen,
                            char blob[37]);
/* The same for part `num` of a multipart upload. */
int tw_store_s3_part_blob(tw_store *s, const char *upload, long num, char blob[37]);
/* 1 when the multipart upload exists, 0 when not, -1 on error. */
int tw_store_s3_upload_exists(tw_store *s, const char *upload);
/* Calls fn for each part of an upload; 0, or -1 on error. */
int tw_store_s3_upload_parts(tw_store *s, const char *upload,
                             void (*fn)(void *ud, long num, const char *blob), void *ud);
/* Calls fn for the body of every object and every part, in one snapshot;
 * 0, or -1 on error (then the caller must not take anything as unreferenced). */
int tw_store_s3_blob_refs(tw_store *s, void (*fn)(void *ud, const char *blob), void *ud);

#endif
