/* Object bodies as files under <data>/blobs, named by a random id (never by the
 * object key, so no key can name a path). A body is written to tmp/, fsynced,
 * renamed into place and the directory fsynced before its metadata commits:
 * a crash never leaves a partial object visible. */
#ifndef TW_STORE_BLOBS_H
#define TW_STORE_BLOBS_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  int fd;
  char id[37];
  char tmp_path[1200];
  uint64_t size;
} tw_blob_writer;

int tw_blobs_init(const char *data_dir);
int tw_blob_create(const char *data_dir, tw_blob_writer *w);
int tw_blob_write(tw_blob_writer *w, const void *p, size_t n);
/* fsync, rename into place, fsync the directory. */
int tw_blob_commit(const char *data_dir, tw_blob_writer *w);
/* Rename into place without fsync: the caller must then have the store sync the
 * file system before the metadata commits (tw_store_require_fs_sync). */
int tw_blob_publish(const char *data_dir, tw_blob_writer *w);
void tw_blob_abort(tw_blob_writer *w);
void tw_blob_path(const char *data_dir, const char *id, char *out, size_t n);
int tw_blob_open(const char *data_dir, const char *id);
void tw_blob_remove(const char *data_dir, const char *id);

#endif
