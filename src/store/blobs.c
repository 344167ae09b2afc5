#include "store/blobs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/log.h"
#include "store/faults.h"

static int mkdir_p(const char *p) { return mkdir(p, 0700) == 0 || errno == EEXIST ? 0 : -1; }

int tw_blobs_init(const char *data_dir) {
  char p[1100];
  snprintf(p, sizeof p, "%s/blobs", data_dir);
  if (mkdir_p(p)) return -1;
  snprintf(p, sizeof p, "%s/blobs/tmp", data_dir);
  return mkdir_p(p);
}

void tw_blob_path(const char *data_dir, const char *id, char *out, size_t n) {
  snprintf(out, n, "%s/blobs/%.2s/%s", data_dir, id, id);
}

int tw_blob_create(const char *data_dir, tw_blob_writer *w) {
  memset(w, 0, sizeof *w);
  w->fd = -1;
  tw_uuid4(w->id);
  snprintf(w->tmp_path, sizeof w->tmp_path, "%s/blobs/tmp/%s", data_dir, w->id);
  w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (w->fd < 0) {
    tw_error("blobs: cannot create %s: %s", w->tmp_path, strerror(errno));
    return -1;
  }
  return 0;
}

int tw_blob_write(tw_blob_writer *w, const void *p, size_t n) {
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
      tw_error("blobs: write failed: %s", strerror(errno));
      return -1;
    }
    c += k;
    n -= (size_t)k;
    w->size += (uint64_t)k;
  }
  return 0;
}

static int fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

int tw_blob_commit(const char *data_dir, tw_blob_writer *w) {
  char dir[1200], final[1300];
  snprintf(dir, sizeof dir, "%s/blobs/%.2s", data_dir, w->id);
  if (mkdir_p(dir)) goto fail;
  if (fdatasync(w->fd)) goto fail;
  close(w->fd);
  w->fd = -1;
  tw_blob_path(data_dir, w->id, final, sizeof final);
  if (rename(w->tmp_path, final)) goto fail;
  if (fsync_dir(dir)) goto fail;
  return 0;
fail:
  tw_error("blobs: cannot commit %s: %s", w->tmp_path, strerror(errno));
  tw_blob_abort(w);
  return -1;
}

int tw_blob_publish(const char *data_dir, tw_blob_writer *w) {
  char dir[1200], final[1300];
  snprintf(dir, sizeof dir, "%s/blobs/%.2s", data_dir, w->id);
  if (mkdir_p(dir)) goto fail;
  close(w->fd);
  w->fd = -1;
  tw_blob_path(data_dir, w->id, final, sizeof final);
  if (rename(w->tmp_path, final)) goto fail;
  return 0;
fail:
  tw_error("blobs: cannot publish %s: %s", w->tmp_path, strerror(errno));
  tw_blob_abort(w);
  return -1;
}

void tw_blob_abort(tw_blob_writer *w) {
  if (w->fd >= 0) close(w->fd);
  w->fd = -1;
  if (w->tmp_path[0]) unlink(w->tmp_path);
  w->tmp_path[0] = 0;
}

int tw_blob_open(const char *data_dir, const char *id) {
  char p[1300];
  tw_blob_path(data_dir, id, p, sizeof p);
  return open(p, O_RDONLY | O_CLOEXEC);
}

void tw_blob_remove(const char *data_dir, const char *id) {
  char p[1300];
  tw_blob_path(data_dir, id, p, sizeof p);
  unlink(p);
}
