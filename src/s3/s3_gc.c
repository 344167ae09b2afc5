/* Object bodies: which one each key (and each multipart part) will name once
 * the writes appended so far commit, and the sweep that reclaims bodies no row
 * names.
 *
 * A write decides which body it replaces under s->mu. The committed row is
 * not enough: another write of the key may be appended but not yet committed,
 * and its body is the one really replaced. So every write records here, under
 * s->mu, the body its row names and the ticket of its batch; a later write
 * reads that entry while the ticket is not committed, the committed row after
 * (which a failed batch left as it was). The replaced body is unlinked only
 * once the replacing batch committed; a failed batch unlinks the new body
 * instead. A failed batch can leave a body no row names (a later write took
 * the failed one's as replaced): the sweep takes it.
 *
 * The sweep: at start-up, before serving, every file in blobs/tmp and every
 * body no row names; then every SWEEP_MS on the lifecycle sweeper's thread,
 * bodies no row names that were last written more than SWEEP_MS ago (a body
 * is published before its row commits) and that no write in flight names. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/map.h"
#include "s3/s3_internal.h"
#include "store/s3_refs.h"

#define SWEEP_MS (10 * 60 * 1000) /* period of the running sweep, and its grace */
#define PRUNE_MIN 1024

typedef struct {
  char blob[37]; /* "" when the write removed the row */
  uint64_t ticket;
} gc_entry;

struct s3_gc_state {
  tw_map pending; /* "o<bucket>/<hex key>", "p<upload>/<num>", "u<upload>" -> gc_entry */
  size_t prune_at;
  int64_t sweep_ms, last_sweep; /* period and grace; mono ms of the last sweep */
};

/* --- writes in flight ---------------------------------------------------------- */

static char *object_name(const char *bucket, const char *key, size_t klen) {
  size_t bl = strlen(bucket);
  char *n = malloc(bl + 2 * klen + 3);
  n[0] = 'o';
  memcpy(n + 1, bucket, bl);
  n[bl + 1] = '/';
  tw_hex((const uint8_t *)key, klen, n + bl + 2); /* keys may hold NUL bytes */
  n[bl + 2 + 2 * klen] = 0;
  return n;
}

static char *part_name(const char *upload, long num) {
  char *n = malloc(strlen(upload) + 24);
  sprintf(n, "p%s/%ld", upload, num);
  return n;
}

static char *upload_name(const char *upload) {
  char *n = malloc(strlen(upload) + 2);
  sprintf(n, "u%s", upload);
  return n;
}

/* The entry of a write not yet committed, or NULL (a committed one is dropped). */
static gc_entry *pending_get(tw_s3 *s, const char *name) {
  gc_entry *e = tw_map_get(&s->gc->pending, name);
  if (e && e->ticket <= tw_store_committed(s->store)) {
    free(tw_map_del(&s->gc->pending, name));
    e = NULL;
  }
  return e;
}

static void prune(struct s3_gc_state *st, uint64_t committed) {
  tw_map_entry *it = NULL;
  const char *k;
  void *v;
  size_t n = 0, cap = 64;
  char **gone = malloc(cap * sizeof *gone);
  while ((it = tw_map_next(&st->pending, it, &k, &v))) {
    if (((gc_entry *)v)->ticket > committed) continue;
    if (n == cap) gone = realloc(gone, (cap *= 2) * sizeof *gone);
    gone[n++] = strdup(k);
  }
  for (size_t i = 0; i < n; i++) {
    free(tw_map_del(&st->pending, gone[i]));
    free(gone[i]);
  }
  free(gone);
}

static void pending_set(tw_s3 *s, char *name, const char *blob, uint64_t ticket) {
  struct s3_gc_state *st = s->gc;
  gc_entry *e = tw_map_get(&st->pending, name);
  if (!e) {
    e = calloc(1, sizeof *e);
    tw_map_put(&st->pending, name, e);
  }
  snprintf(e->blob, sizeof e->blob, "%s", blob ? blob : "");
  if (ticket > e->ticket) e->ticket = ticket;
  free(name);
  if (st->pending.count >= st->prune_at) { /* entries otherwise go only when read */
    prune(st, tw_store_committed(s->store));
    st->prune_at = 2 * st->pending.count > PRUNE_MIN ? 2 * st->pending.count : PRUNE_MIN;
  }
}

/* The entry of the write in flight on `name` (freed), or NULL. */
static gc_entry *in_flight(tw_s3 *s, char *name, uint64_t *wait) {
  gc_entry *e = pending_get(s, name);
  free(name);
  if (wait) *wait = e ? e->ticket : 0;
  return e;
}

int tw_s3_gc_object(tw_s3 *s, const char *bucket, const char *key, size_t klen, char blob[37],
                    uint64_t *wait) {
  gc_entry *e = in_flight(s, object_name(bucket, key, klen), wait);
  blob[0] = 0;
  if (e) {
    snprintf(blob, 37, "%s", e->blob);
    return blob[0] != 0;
  }
  int found = tw_store_s3_object_blob(s->store, bucket, key, klen, blob);
  if (found <= 0) blob[0] = 0;
  return found;
}

void tw_s3_gc_object_set(tw_s3 *s, const char *bucket, const char *key, size_t klen,
                         const char *blob, uint64_t ticket) {
  pending_set(s, object_name(bucket, key, klen), blob, ticket);
}

int tw_s3_gc_part(tw_s3 *s, const char *upload, long num, char blob[37], uint64_t *wait) {
  gc_entry *e = in_flight(s, part_name(upload, num), wait);
  blob[0] = 0;
  if (e) {
    snprintf(blob, 37, "%s", e->blob);
    return blob[0] != 0;
  }
  int found = tw_store_s3_part_blob(s->store, upload, num, blob);
  if (found <= 0) blob[0] = 0;
  return found;
}

void tw_s3_gc_part_set(tw_s3 *s, const char *upload, long num, const char *blob, uint64_t ticket) {
  pending_set(s, part_name(upload, num), blob, ticket);
}

int tw_s3_gc_upload_live(tw_s3 *s, const char *upload, uint64_t *wait) {
  if (in_flight(s, upload_name(upload), wait))
    return 0; /* completed or aborted by a write in flight */
  return tw_store_s3_upload_exists(s->store, upload);
}

void tw_s3_gc_upload_ended(tw_s3 *s, const char *upload, uint64_t ticket) {
  pending_set(s, upload_name(upload), NULL, ticket);
}

static void add_part(void *ud, long num, const char *blob) {
  (void)num;
  json_array_append_new(ud, json_string(blob));
}

json_t *tw_s3_gc_upload_parts(tw_s3 *s, const char *upload) {
  json_t *blobs = json_array();
  tw_store_s3_upload_parts(s->store, upload, add_part, blobs);
  /* and parts written since, not yet committed: the upload's end removes
   * their rows as well as those they replace (which stay if theirs fails) */
  size_t pl = strlen(upload);
  uint64_t committed = tw_store_committed(s->store);
  tw_map_entry *it = NULL;
  const char *k;
  void *v;
  while ((it = tw_map_next(&s->gc->pending, it, &k, &v))) {
    gc_entry *e = v;
    if (k[0] == 'p' && !strncmp(k + 1, upload, pl) && k[pl + 1] == '/' && e->ticket > committed)
      json_array_append_new(blobs, json_string(e->blob));
  }
  return blobs;
}

/* --- after the commit ------------------------------------------------------------ */

int tw_s3_write_settled(tw_request *r, s3_ctx *x) {
  if (tw_s3_commit_failed(r, x)) {
    /* rolled back: the new body is named by no row, the old one still is */
    if (x->new_blob[0]) tw_blob_remove(x->s3->blobs, x->new_blob);
    return -1;
  }
  if (x->old_blob[0]) tw_blob_remove(x->s3->blobs, x->old_blob);
  return 0;
}

/* --- the sweep ------------------------------------------------------------------ */

typedef struct {
  char (*ids)[37];
  size_t n, cap;
} id_set;

static void id_add(id_set *set, const char *id) {
  if (set->n == set->cap) {
    set->cap = set->cap ? 2 * set->cap : 1024;
    set->ids = realloc(set->ids, set->cap * sizeof *set->ids);
  }
  snprintf(set->ids[set->n++], 37, "%.36s", id);
}

static void id_add_cb(void *ud, const char *id) {
  id_add(ud, id);
}

static int id_cmp(const void *a, const void *b) {
  return strcmp(a, b);
}

static int id_has(const id_set *set, const char *id) {
  return set->n && bsearch(id, set->ids, set->n, sizeof *set->ids, id_cmp) != NULL;
}

typedef struct {
  size_t files;
  uint64_t bytes;
} reclaimed;

typedef struct {
  id_set *ids;
  uint64_t **sizes;
  size_t cap;
} body_list;

static void add_body(void *ud, const char *id, uint64_t size) {
  body_list *l = ud;
  id_add(l->ids, id);
  if (l->ids->n > l->cap) {
    l->cap = l->ids->cap;
    *l->sizes = realloc(*l->sizes, l->cap * sizeof **l->sizes);
  }
  (*l->sizes)[l->ids->n - 1] = size;
}

/* One sweep; startup: before any writer, so no grace and the temp files too. */
static void sweep(tw_s3 *s, int startup) {
  reclaimed tmp = {0}, bodies = {0};
  if (startup) s->blobs->ops->clear_temporaries(s->blobs, &tmp.files, &tmp.bytes);
  id_set cand = {0}, refs = {0}, live = {0};
  uint64_t *sizes = NULL;
  time_t cutoff = startup ? 0 : time(NULL) - (time_t)(s->gc->sweep_ms / 1000) - 1;
  /* bodies last written before the cutoff: a younger one's row may be on its way */
  body_list bl = {&cand, &sizes, 0};
  s->blobs->ops->list(s->blobs, cutoff, add_body, &bl);
  if (cand.n && tw_store_s3_blob_refs(s->store, id_add_cb, &refs) == 0) {
    if (refs.n) qsort(refs.ids, refs.n, sizeof *refs.ids, id_cmp);
    pthread_mutex_lock(&s->mu);
    /* what writes in flight name (written within the grace, but not relied on) */
    tw_map_entry *it = NULL;
    const char *k;
    void *v;
    while ((it = tw_map_next(&s->gc->pending, it, &k, &v)))
      if (((gc_entry *)v)->blob[0]) id_add(&live, ((gc_entry *)v)->blob);
    if (live.n) qsort(live.ids, live.n, sizeof *live.ids, id_cmp);
    for (size_t i = 0; i < cand.n; i++) {
      if (id_has(&refs, cand.ids[i]) || id_has(&live, cand.ids[i])) continue;
      if (tw_blob_remove(s->blobs, cand.ids[i]) == 0) {
        bodies.files++;
        bodies.bytes += sizes[i];
      }
    }
    pthread_mutex_unlock(&s->mu);
  }
  if (tmp.files || bodies.files)
    tw_info("blobs: %s sweep removed %zu temp file(s) (%" PRIu64
            " bytes) and %zu body file(s) "
            "no object or part names (%" PRIu64 " bytes)",
            startup ? "start-up" : "periodic", tmp.files, tmp.bytes, bodies.files, bodies.bytes);
  free(cand.ids);
  free(refs.ids);
  free(live.ids);
  free(sizes);
}

int tw_s3_gc_open(tw_s3 *s) {
  s->gc = calloc(1, sizeof *s->gc);
  tw_map_init(&s->gc->pending);
  s->gc->prune_at = PRUNE_MIN;
  s->gc->sweep_ms = SWEEP_MS;
  const char *t = getenv("TWEEDLE_TEST_BLOB_SWEEP_MS"); /* test-only: a faster running sweep */
  if (t && atol(t) > 0) s->gc->sweep_ms = atol(t);
  /* cluster mode: other nodes write into the same blob directory now, so
   * this one's start takes only what a running sweep would */
  sweep(s, !s->cluster);
  s->gc->last_sweep = tw_mono_ms();
  return 0;
}

void tw_s3_gc_tick(tw_s3 *s) {
  if (!s->gc || tw_mono_ms() - s->gc->last_sweep < s->gc->sweep_ms) return;
  sweep(s, 0);
  s->gc->last_sweep = tw_mono_ms();
}

int64_t tw_s3_gc_period_ms(tw_s3 *s) {
  return s->gc ? s->gc->sweep_ms : SWEEP_MS;
}

void tw_s3_gc_close(tw_s3 *s) {
  if (!s->gc) return;
  tw_map_entry *it = NULL;
  const char *k;
  void *v;
  while ((it = tw_map_next(&s->gc->pending, it, &k, &v))) free(v);
  tw_map_free(&s->gc->pending);
  free(s->gc);
  s->gc = NULL;
}
