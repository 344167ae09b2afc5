/* The local blob store (blobs.h): files under <data_dir>/blobs. A body is
 * written to tmp/, renamed to <2 hex>/<id> when published, and made durable
 * by one syncfs for a whole store batch instead of an fsync per file. */
#include "store/blobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/log.h"
#include "store/faults.h"

typedef struct {
  tw_blobs base;
  char dir[1024]; /* <data_dir>/blobs */
  int sync_fd;    /* that directory, for syncfs */
} local_blobs;

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

static int local_create(tw_blobs *bs, tw_blob_writer *w) {
  local_blobs *b = L(bs);
  memset(w, 0, sizeof *w);
  w->fd = -1;
  tw_uuid4(w->id);
  snprintf(w->tmp_path, sizeof w->tmp_path, "%s/tmp/%s", b->dir, w->id);
  w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (w->fd < 0) {
    tw_error("blobs: cannot create %s: %s", w->tmp_path, strerror(errno));
    w->tmp_path[0] = 0;
    return -1;
  }
  w->store = bs;
  return 0;
}

static int local_write(tw_blob_writer *w, const void *p, size_t n) {
  const char *c = p;
  if (tw_fault_take("fail-blob-writes")) {
    errno = EIO;
    tw_error("blobs: write failed: %s", strerror(errno));
    return -1;
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
  return 0;
}

static void local_abort(tw_blob_writer *w) {
  if (w->fd >= 0) close(w->fd);
  w->fd = -1;
  if (w->tmp_path[0]) unlink(w->tmp_path);
  w->tmp_path[0] = 0;
}

static int local_publish(tw_blobs *bs, tw_blob_writer *w) {
  local_blobs *b = L(bs);
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

static int local_open(tw_blobs *bs, const char *id) {
  char p[1300];
  body_path(L(bs), id, p, sizeof p);
  return open(p, O_RDONLY | O_CLOEXEC);
}

static int local_unlink(tw_blobs *bs, const char *id) {
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
  if (b->sync_fd >= 0) close(b->sync_fd);
  free(b);
}

static const tw_blobs_ops local_ops = {
    .name = "local",
    .create = local_create,
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
