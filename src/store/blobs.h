/* The blob store: object and part bodies, named by a random id (never by the
 * object key, so no key can name a path). A body is written to a private
 * temporary, then published under its id; it is durable once the store has
 * synced the blob store (the store's writer does that before committing a
 * batch that names a body published without sync: tw_store_require_fs_sync),
 * so a crash never leaves a row pointing at a partial body.
 *
 * The interface is a table of function pointers so that another backend (a
 * directory shared by the nodes of a cluster) can replace the local one. */
#ifndef TW_STORE_BLOBS_H
#define TW_STORE_BLOBS_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct tw_blobs tw_blobs;

/* One body being written. The backend owns the fields but fd and size. */
typedef struct {
  tw_blobs *store;
  int fd;
  char id[37];
  char tmp_path[1200];
  uint64_t size;
  /* a small body kept in memory until publish (create_small), then stored
   * inline; NULL once it has spilled to a file */
  unsigned char *mem;
  size_t mem_cap, inline_max;
  /* bytes of the file whose write-back to the disk has been started */
  uint64_t flushed;
} tw_blob_writer;

/* Called by list for each published body: its id and size. */
typedef void (*tw_blob_visit)(void *ud, const char *id, uint64_t size);

typedef struct {
  const char *name; /* "local" */
  int (*create)(tw_blobs *b, tw_blob_writer *w);
  /* As create, for a body expected to be `expect` bytes: a small one may be
   * kept in memory and published inline (no file). NULL: always create. */
  int (*create_small)(tw_blobs *b, tw_blob_writer *w, uint64_t expect);
  int (*write)(tw_blob_writer *w, const void *p, size_t n);
  /* Visible under w->id from now on; durable after the next sync. On
   * failure the temporary is gone. */
  int (*publish)(tw_blobs *b, tw_blob_writer *w);
  void (*abort)(tw_blob_writer *w);
  /* A file descriptor to read the body from, or -1. */
  int (*open)(tw_blobs *b, const char *id);
  /* 0 removed, -1 not there (or cannot). */
  int (*unlink)(tw_blobs *b, const char *id);
  /* Makes every published body durable. */
  int (*sync)(tw_blobs *b);
  /* Every published body last written before `before` (epoch seconds; 0:
   * all), for sweeps. */
  void (*list)(tw_blobs *b, time_t before, tw_blob_visit fn, void *ud);
  /* Removes temporaries a crash left (only before any writer runs); counts them. */
  void (*clear_temporaries)(tw_blobs *b, size_t *files, uint64_t *bytes);
  void (*close)(tw_blobs *b);
} tw_blobs_ops;

struct tw_blobs {
  const tw_blobs_ops *ops;
};

/* Bodies as files under <data_dir>/blobs/<2 hex>/<id>, temporaries in
 * <data_dir>/blobs/tmp; sync is one syncfs of the file system. */
tw_blobs *tw_blobs_open_local(const char *data_dir, char *err, size_t errlen);

/* Small bodies in the store (blob_inline.h) instead of files, up to max
 * bytes (0: never). Before any writer runs. */
struct tw_store;
void tw_blobs_local_inline(tw_blobs *b, struct tw_store *s, size_t max);
/* Appends an inline body published by id to the store's open batch: called
 * under tw_store_hold by whoever appends the row that names it, so both
 * commit in one transaction. Nothing for other ids. */
void tw_blobs_flush_inline(tw_blobs *b, const char *id);
/* An inline body's bytes, for answering from memory: 1 with *data
 * (malloc'd, *n bytes), 0 when the id is not an inline body, -1 when it is
 * gone (removed since the row naming it was read). */
int tw_blob_read_inline(tw_blobs *b, const char *id, void **data, size_t *n);
/* The inline limit TWEEDLE_S3_INLINE_MAX asks for (bytes; default 16384). */
size_t tw_blobs_inline_max_from_env(void);
/* 1 when the id names a body stored inline: it needs no file system sync
 * before the row that names it commits. */
static inline int tw_blob_is_inline(const char *id) {
  return id && id[0] && id[14] == 'i';
}

static inline int tw_blob_create(tw_blobs *b, tw_blob_writer *w) {
  return b->ops->create(b, w);
}
static inline int tw_blob_create_small(tw_blobs *b, tw_blob_writer *w, uint64_t expect) {
  return b->ops->create_small ? b->ops->create_small(b, w, expect) : b->ops->create(b, w);
}
static inline int tw_blob_write(tw_blob_writer *w, const void *p, size_t n) {
  return w->store->ops->write(w, p, n);
}
static inline int tw_blob_publish(tw_blobs *b, tw_blob_writer *w) {
  return b->ops->publish(b, w);
}
static inline void tw_blob_abort(tw_blob_writer *w) {
  if (w->store) w->store->ops->abort(w);
}
static inline int tw_blob_open(tw_blobs *b, const char *id) {
  return b->ops->open(b, id);
}
static inline int tw_blob_remove(tw_blobs *b, const char *id) {
  return b->ops->unlink(b, id);
}
static inline int tw_blobs_sync(tw_blobs *b) {
  return b->ops->sync(b);
}
static inline void tw_blobs_close(tw_blobs *b) {
  if (b) b->ops->close(b);
}

#endif
