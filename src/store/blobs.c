/* The local blob store (blobs.h): files under <data_dir>/blobs. A body is
 * written to tmp/, renamed to <2 hex>/<id> when published, and made durable
 * by one syncfs for a whole store batch instead of an fsync per file. */
#include "store/blobs.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/map.h"
#include "store/blob_inline.h"
#include "store/faults.h"

typedef struct {
  tw_blobs base;
  char dir[1024];         /* <data_dir>/blobs */
  int sync_fd;            /* that directory, for syncfs */
  struct tw_store *store; /* the inline tier's (NULL: off) */
  size_t inline_max;
  /* inline bodies published but not yet in a batch: id -> pending_body. The
   * row that names one appends it (tw_blobs_flush_inline) under the same
   * hold, so body and row commit — or fail — together. */
  pthread_mutex_t mu;
  tw_map pending;
} local_blobs;

typedef struct {
  size_t n;
  unsigned char data[];
} pending_body;

static local_blobs *L(tw_blobs *b) {
  return (local_blobs *)b;
}

static int mkdir_p(const char *p) {
  return mkdir(p, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

static void body_path(local_blobs *b, const char *id, char *out, size_t n) {
  snprintf(out, n, "%s/%.2s/%s", b->dir, id, id);
}

/* A name create could have made (a UUID); other files are left alone. */
static int blob_name(const char *n) {
  if (strlen(n) != 36) return 0;
  for (int i = 0; i < 36; i++)
    if (i == 8 || i == 13 || i == 18 || i == 23 ? n[i] != '-' : !strchr("0123456789abcdef", n[i]))
      return 0;
  return 1;
}

/* Opens the temporary file for w->id. */
static int open_temp(local_blobs *b, tw_blob_writer *w) {
  snprintf(w->tmp_path, sizeof w->tmp_path, "%s/tmp/%s", b->dir, w->id);
  w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (w->fd < 0) {
    tw_error("blobs: cannot create %s: %s", w->tmp_path, strerror(errno));
    w->tmp_path[0] = 0;
    return -1;
  }
  return 0;
}

static int local_create(tw_blobs *bs, tw_blob_writer *w) {
  memset(w, 0, sizeof *w);
  w->fd = -1;
  tw_uuid4(w->id);
  if (open_temp(L(bs), w)) return -1;
  w->store = bs;
  return 0;
}

/* A body that fits the inline limit stays in memory; its id carries an 'i'
 * where a UUID has its version digit, so no file name can ever match it. */
static int local_create_small(tw_blobs *bs, tw_blob_writer *w, uint64_t expect) {
  local_blobs *b = L(bs);
  if (!b->store || expect > b->inline_max) return local_create(bs, w);
  memset(w, 0, sizeof *w);
  w->fd = -1;
  tw_uuid4(w->id);
  w->id[14] = 'i';
  w->mem_cap = expect ? (size_t)expect : 1;
  w->mem = malloc(w->mem_cap);
  if (!w->mem) return -1;
  w->inline_max = b->inline_max;
  w->store = bs;
  return 0;
}

/* The body outgrew the limit (its length was not what was announced): it
 * becomes a file under a file's id. */
static int spill(tw_blob_writer *w) {
  tw_uuid4(w->id);
  if (open_temp(L(w->store), w)) return -1;
  const unsigned char *p = w->mem;
  for (size_t left = (size_t)w->size; left;) {
    ssize_t k = write(w->fd, p, left);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return -1;
    p += k;
    left -= (size_t)k;
  }
  free(w->mem);
  w->mem = NULL;
  return 0;
}

/* A large body's pages are handed to the disk as it arrives, a window at a
 * time, so that the sync before its row commits (a syncfs, which also meets
 * every other upload in progress) finds little left to write, and dirty pages
 * stay bounded. It makes nothing durable by itself: the sync still does. */
#define WRITE_BEHIND (8u << 20)

static void write_behind(tw_blob_writer *w) {
  while (w->size - w->flushed >= WRITE_BEHIND) {
    /* wait for the window before this one (long written by now, usually),
     * then start this one */
    if (w->flushed >= WRITE_BEHIND)
      sync_file_range(
          w->fd, (off64_t)(w->flushed - WRITE_BEHIND), WRITE_BEHIND,
          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    sync_file_range(w->fd, (off64_t)w->flushed, WRITE_BEHIND, SYNC_FILE_RANGE_WRITE);
    w->flushed += WRITE_BEHIND;
  }
}

static int local_write(tw_blob_writer *w, const void *p, size_t n) {
  const char *c = p;
  if (tw_fault_take("fail-blob-writes")) {
    errno = EIO;
    tw_error("blobs: write failed: %s", strerror(errno));
    return -1;
  }
  if (w->mem) {
    if (w->size + n <= w->inline_max) {
      if (w->size + n > w->mem_cap) {
        size_t cap = w->mem_cap * 2 > w->size + n ? w->mem_cap * 2 : (size_t)w->size + n;
        if (cap > w->inline_max) cap = w->inline_max;
        unsigned char *m = realloc(w->mem, cap);
        if (!m) return -1;
        w->mem = m;
        w->mem_cap = cap;
      }
      memcpy(w->mem + w->size, c, n);
      w->size += n;
      return 0;
    }
    if (spill(w)) {
      int e = errno;
      tw_error("blobs: write failed: %s", strerror(e));
      errno = e;
      return -1;
    }
  }
  while (n) {
    ssize_t k = write(w->fd, c, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      int e = errno; /* the caller tells ENOSPC apart */
      tw_error("blobs: write failed: %s", strerror(e));
      errno = e;
      return -1;
    }
    c += k;
    n -= (size_t)k;
    w->size += (uint64_t)k;
  }
  write_behind(w);
  return 0;
}

static void local_abort(tw_blob_writer *w) {
  free(w->mem);
  w->mem = NULL;
  if (w->fd >= 0) close(w->fd);
  w->fd = -1;
  if (w->tmp_path[0]) unlink(w->tmp_path);
  w->tmp_path[0] = 0;
}

static int local_publish(tw_blobs *bs, tw_blob_writer *w) {
  local_blobs *b = L(bs);
  if (w->mem) { /* inline: kept until the row naming it is appended */
    pending_body *p = malloc(sizeof *p + (size_t)w->size + 1);
    if (p) {
      p->n = (size_t)w->size;
      memcpy(p->data, w->mem, p->n);
      pthread_mutex_lock(&b->mu);
      if (tw_map_put(&b->pending, w->id, p)) {
        free(p);
        p = NULL;
      }
      pthread_mutex_unlock(&b->mu);
    }
    free(w->mem);
    w->mem = NULL;
    if (!p) {
      tw_error("blobs: cannot keep body %s", w->id);
      return -1;
    }
    return 0;
  }
  char dir[1100], final[1300];
  snprintf(dir, sizeof dir, "%s/%.2s", b->dir, w->id);
  if (mkdir_p(dir)) goto fail;
  close(w->fd);
  w->fd = -1;
  body_path(b, w->id, final, sizeof final);
  if (rename(w->tmp_path, final)) goto fail;
  w->tmp_path[0] = 0;
  return 0;
fail:
  tw_error("blobs: cannot publish %s: %s", w->tmp_path, strerror(errno));
  local_abort(w);
  return -1;
}

/* An inline body is handed out as a memory file, so that readers (sendfile,
 * ranges, copies) treat it like any other. */
static int open_inline(local_blobs *b, const char *id) {
  void *data;
  size_t n;
  if (!b->store || tw_store_blob_inline_get(b->store, id, &data, &n) != 1) {
    errno = ENOENT;
    return -1;
  }
  int fd = memfd_create("tweedle-body", MFD_CLOEXEC);
  const char *p = data;
  size_t left = n;
  while (fd >= 0 && left) {
    ssize_t k = write(fd, p, left);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      close(fd);
      fd = -1;
      break;
    }
    p += k;
    left -= (size_t)k;
  }
  free(data);
  if (fd >= 0 && lseek(fd, 0, SEEK_SET) < 0) {
    close(fd);
    fd = -1;
  }
  return fd;
}

static int local_open(tw_blobs *bs, const char *id) {
  if (tw_blob_is_inline(id)) return open_inline(L(bs), id);
  char p[1300];
  body_path(L(bs), id, p, sizeof p);
  return open(p, O_RDONLY | O_CLOEXEC);
}

static int local_unlink(tw_blobs *bs, const char *id) {
  if (tw_blob_is_inline(id)) {
    local_blobs *b = L(bs);
    if (!b->store) return -1;
    pthread_mutex_lock(&b->mu);
    pending_body *p = tw_map_del(&b->pending, id);
    pthread_mutex_unlock(&b->mu);
    free(p);
    return p || tw_store_blob_inline_delete(b->store, id) ? 0 : -1;
  }
  char p[1300];
  body_path(L(bs), id, p, sizeof p);
  return unlink(p);
}

static int local_sync(tw_blobs *bs) {
  local_blobs *b = L(bs);
  if (tw_fault_take("fail-syncfs") || syncfs(b->sync_fd)) {
    tw_error("blobs: syncfs failed: %s", strerror(errno ? errno : EIO));
    return -1;
  }
  return 0;
}

static int hex2(const char *n) {
  return strlen(n) == 2 && strchr("0123456789abcdef", n[0]) && strchr("0123456789abcdef", n[1]);
}

static void local_list(tw_blobs *bs, time_t before, tw_blob_visit fn, void *ud) {
  local_blobs *b = L(bs);
  DIR *d = opendir(b->dir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!hex2(de->d_name)) continue;
    char sub[1100];
    snprintf(sub, sizeof sub, "%s/%s", b->dir, de->d_name);
    DIR *d2 = opendir(sub);
    if (!d2) continue;
    struct dirent *f;
    while ((f = readdir(d2))) {
      if (!blob_name(f->d_name) || strncmp(f->d_name, de->d_name, 2)) continue;
      char p[1200];
      struct stat sb;
      snprintf(p, sizeof p, "%s/%s", sub, f->d_name);
      if (lstat(p, &sb) || !S_ISREG(sb.st_mode)) continue;
      if (before && sb.st_mtime >= before) continue;
      fn(ud, f->d_name, (uint64_t)sb.st_size);
    }
    closedir(d2);
  }
  closedir(d);
  if (b->store) tw_store_blob_inline_list(b->store, (int64_t)before * 1000, fn, ud);
}

static void local_clear_temporaries(tw_blobs *bs, size_t *files, uint64_t *bytes) {
  char dir[1100];
  snprintf(dir, sizeof dir, "%s/tmp", L(bs)->dir);
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char p[1400];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    if (lstat(p, &sb) || !S_ISREG(sb.st_mode)) continue;
    if (unlink(p) == 0) {
      (*files)++;
      *bytes += (uint64_t)sb.st_size;
    }
  }
  closedir(d);
}

static void local_close(tw_blobs *bs) {
  local_blobs *b = L(bs);
  tw_map_entry *it = NULL;
  const char *k;
  void *v;
  while ((it = tw_map_next(&b->pending, it, &k, &v))) free(v);
  tw_map_free(&b->pending);
  pthread_mutex_destroy(&b->mu);
  if (b->sync_fd >= 0) close(b->sync_fd);
  free(b);
}

static const tw_blobs_ops local_ops = {
    .name = "local",
    .create = local_create,
    .create_small = local_create_small,
    .write = local_write,
    .publish = local_publish,
    .abort = local_abort,
    .open = local_open,
    .unlink = local_unlink,
    .sync = local_sync,
    .list = local_list,
    .clear_temporaries = local_clear_temporaries,
    .close = local_close,
};

tw_blobs *tw_blobs_open_local(const char *data_dir, char *err, size_t errlen) {
  local_blobs *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->base.ops = &local_ops;
  pthread_mutex_init(&b->mu, NULL);
  tw_map_init(&b->pending);
  snprintf(b->dir, sizeof b->dir, "%s/blobs", data_dir);
  char tmp[1100];
  snprintf(tmp, sizeof tmp, "%s/tmp", b->dir);
  if (mkdir_p(data_dir) || mkdir_p(b->dir) || mkdir_p(tmp) ||
      (b->sync_fd = open(b->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
    free(b);
    return NULL;
  }
  return &b->base;
}

void tw_blobs_local_inline(tw_blobs *bs, struct tw_store *s, size_t max) {
  if (bs->ops != &local_ops) return;
  local_blobs *b = L(bs);
  b->store = max ? s : NULL;
  b->inline_max = max;
}

size_t tw_blobs_inline_max_from_env(void) {
  const char *e = getenv("TWEEDLE_S3_INLINE_MAX");
  if (!e || !*e) return 16384;
  char *end;
  unsigned long long v = strtoull(e, &end, 10);
  if (*end || v > (1u << 20)) { /* a row is no place for a large body */
    tw_warn("TWEEDLE_S3_INLINE_MAX=%s: expected 0..1048576 bytes; using 16384", e);
    return 16384;
  }
  return (size_t)v;
}

void tw_blobs_flush_inline(tw_blobs *bs, const char *id) {
  if (bs->ops != &local_ops || !tw_blob_is_inline(id)) return;
  local_blobs *b = L(bs);
  pthread_mutex_lock(&b->mu);
  pending_body *p = tw_map_del(&b->pending, id);
  pthread_mutex_unlock(&b->mu);
  if (!p) return;
  tw_store_blob_inline_put(b->store, id, p->data, p->n, tw_now_ms());
  free(p);
}

int tw_blob_read_inline(tw_blobs *bs, const char *id, void **data, size_t *n) {
  *data = NULL;
  *n = 0;
  if (bs->ops != &local_ops || !tw_blob_is_inline(id)) return 0;
  local_blobs *b = L(bs);
  return b->store && tw_store_blob_inline_get(b->store, id, data, n) == 1 ? 1 : -1;
}
