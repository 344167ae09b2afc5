/* Small bodies kept in the store itself instead of a file of their own: the
 * local blob store's inline tier (blobs.c). Writing one is a row in the
 * store's next batch — no file to create, rename and sync — so a small PUT
 * costs one WAL write. Reads see committed data on the calling thread. */
#ifndef TW_STORE_BLOB_INLINE_H
#define TW_STORE_BLOB_INLINE_H
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Appends the body to the open batch; its ticket (0 on allocation failure). */
uint64_t tw_store_blob_inline_put(tw_store *s, const char *id, const void *data, size_t n,
                                  int64_t created_ms);
uint64_t tw_store_blob_inline_delete(tw_store *s, const char *id);
/* 1 with *data (malloc'd, n bytes; non-NULL even when empty), 0 when there is
 * no such body, -1 on error. */
int tw_store_blob_inline_get(tw_store *s, const char *id, void **data, size_t *n);
/* Every inline body written before `before_ms` (0: all), for the blob sweep.
 * 0, or -1 on error. */
int tw_store_blob_inline_list(tw_store *s, int64_t before_ms,
                              void (*fn)(void *ud, const char *id, uint64_t size), void *ud);
#endif
