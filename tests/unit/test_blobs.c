/* Conformance of the blob store interface (store/blobs.h), run against the
 * local directory backend: only the interface is used, so the same checks hold
 * for any backend. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/blobs.h"
#include "tap.h"

typedef struct {
  char ids[16][37];
  uint64_t sizes[16];
  int n;
} seen;

static void visit(void *ud, const char *id, uint64_t size) {
  seen *s = ud;
  if (s->n < 16) {
    snprintf(s->ids[s->n], 37, "%s", id);
    s->sizes[s->n++] = size;
  }
}

static int listed(const seen *s, const char *id, uint64_t *size) {
  for (int i = 0; i < s->n; i++)
    if (!strcmp(s->ids[i], id)) {
      if (size) *size = s->sizes[i];
      return 1;
    }
  return 0;
}

static int read_all(tw_blobs *b, const char *id, char *out, size_t cap) {
  int fd = tw_blob_open(b, id);
  if (fd < 0) return -1;
  ssize_t n = read(fd, out, cap);
  close(fd);
  return (int)n;
}

int main(void) {
  char dir[] = "/tmp/tw-blobs-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  char err[256];
  tw_blobs *b = tw_blobs_open_local(dir, err, sizeof err);
  CASE("open");
  CHECK(b != NULL);
  if (!b) return 1;

  CASE("write, publish, read back");
  tw_blob_writer w;
  CHECK(tw_blob_create(b, &w) == 0);
  CHECK(strlen(w.id) == 36);
  CHECK(tw_blob_write(&w, "hello ", 6) == 0);
  CHECK(tw_blob_write(&w, "world", 5) == 0);
  CHECK(w.size == 11);
  seen before = {0};
  b->ops->list(b, 0, visit, &before);
  CHECK(!listed(&before, w.id, NULL)); /* not visible before publish */
  CHECK(tw_blob_open(b, w.id) < 0);
  CHECK(tw_blob_publish(b, &w) == 0);
  CHECK(tw_blobs_sync(b) == 0);
  char buf[64] = {0};
  CHECK(read_all(b, w.id, buf, sizeof buf) == 11);
  CHECK_STR_EQ(buf, "hello world");
  char kept[37];
  snprintf(kept, sizeof kept, "%s", w.id);

  CASE("list: published bodies with their sizes; a cutoff hides young ones");
  seen all = {0};
  uint64_t size = 0;
  b->ops->list(b, 0, visit, &all);
  CHECK(listed(&all, kept, &size));
  CHECK(size == 11);
  seen old = {0};
  b->ops->list(b, 1, visit, &old); /* written after 1970-01-01T00:00:01 */
  CHECK(!listed(&old, kept, NULL));

  CASE("abort leaves nothing; temporaries are cleared");
  tw_blob_writer a;
  CHECK(tw_blob_create(b, &a) == 0);
  CHECK(tw_blob_write(&a, "x", 1) == 0);
  tw_blob_abort(&a);
  CHECK(tw_blob_open(b, a.id) < 0);
  tw_blob_writer left;
  CHECK(tw_blob_create(b, &left) == 0);
  CHECK(tw_blob_write(&left, "partial", 7) == 0);
  close(left.fd); /* as a crash would leave it */
  size_t files = 0;
  uint64_t bytes = 0;
  b->ops->clear_temporaries(b, &files, &bytes);
  CHECK(files == 1);
  CHECK(bytes == 7);
  seen after = {0};
  b->ops->list(b, 0, visit, &after);
  CHECK(!listed(&after, left.id, NULL));
  CHECK(listed(&after, kept, NULL));

  CASE("ids are distinct");
  tw_blob_writer w2;
  CHECK(tw_blob_create(b, &w2) == 0);
  CHECK(strcmp(w2.id, kept) != 0);
  CHECK(tw_blob_publish(b, &w2) == 0); /* an empty body */
  CHECK(read_all(b, w2.id, buf, sizeof buf) == 0);

  CASE("unlink");
  CHECK(tw_blob_remove(b, kept) == 0);
  CHECK(tw_blob_open(b, kept) < 0);
  CHECK(tw_blob_remove(b, kept) != 0);
  CHECK(tw_blob_remove(b, w2.id) == 0);

  CASE("reopen the same directory");
  tw_blobs_close(b);
  b = tw_blobs_open_local(dir, err, sizeof err);
  CHECK(b != NULL);
  tw_blobs_close(b);

  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd)) return 1;
  return tap_done();
}
