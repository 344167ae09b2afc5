/* Cluster mode: the caches of bucket settings (CORS, policy and
 * PublicAccessBlock, owner, ownership and ACL, lifecycle) follow what other
 * nodes commit.
 *
 * Read-your-writes: every change of a cached setting gives the bucket's row a
 * new settings_ver in its transaction (store/pg_s3_settings.h). A node
 * remembers, per bucket, the version its cache was loaded at. A request that
 * names a bucket reads the row's version (with its existence and versioning
 * configuration, which the request would read anyway: one indexed read)
 * before it is authorized; when the row's version is newer than the cached
 * one, the bucket's settings are read again first. So a request that starts
 * after another node acknowledged a change sees it.
 *
 * The store also notifies every node after each commit that changed a bucket
 * (store/pg_s3.h), and the bucket is read again then too: most requests find
 * the cache current. Versioning and notification configurations are not
 * cached: they are read from the store on each request. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/map.h"
#include "s3/s3_internal.h"
#include "store/pg_s3_settings.h"
#include "store/s3_buckets.h"
#include "store/s3_objects.h"

struct s3_cluster_state {
  pthread_mutex_t mu;
  tw_map vers; /* bucket -> int64_t *: the settings version the caches hold */
};

/* The version cached for bucket, -1 when none. */
static int64_t cached_ver(tw_s3 *s, const char *bucket) {
  struct s3_cluster_state *st = s->cl;
  pthread_mutex_lock(&st->mu);
  const int64_t *v = tw_map_get(&st->vers, bucket);
  int64_t out = v ? *v : -1;
  pthread_mutex_unlock(&st->mu);
  return out;
}

/* ver < 0: forgets the bucket's version. */
static void set_ver(tw_s3 *s, const char *bucket, int64_t ver) {
  struct s3_cluster_state *st = s->cl;
  pthread_mutex_lock(&st->mu);
  int64_t *v = tw_map_get(&st->vers, bucket);
  if (ver < 0) {
    free(tw_map_del(&st->vers, bucket));
  } else if (v) {
    *v = ver;
  } else if ((v = malloc(sizeof *v))) {
    *v = ver;
    if (tw_map_put(&st->vers, bucket, v)) free(v);
  }
  pthread_mutex_unlock(&st->mu);
}

static int load_ver(void *ud, const char *bucket, int64_t ver) {
  set_ver(ud, bucket, ver);
  return 0;
}

int tw_s3_cluster_open(tw_s3 *s) {
  struct s3_cluster_state *st = calloc(1, sizeof *st);
  if (!st) return -1;
  pthread_mutex_init(&st->mu, NULL);
  tw_map_init(&st->vers);
  s->cl = st;
  /* before the caches load: the versions read first are at most the
   * settings read after them (a newer one only makes a reload) */
  return tw_store_pg_s3_settings_vers(s->store, load_ver, s);
}

void tw_s3_cluster_close(tw_s3 *s) {
  struct s3_cluster_state *st = s->cl;
  if (!st) return;
  tw_map_entry *it = NULL;
  const char *k;
  void *v;
  while ((it = tw_map_next(&st->vers, it, &k, &v))) free(v);
  tw_map_free(&st->vers);
  pthread_mutex_destroy(&st->mu);
  free(st);
  s->cl = NULL;
}

/* Reads the bucket's settings again unless the cache already holds version
 * `newer_than` or a later one (-1: whatever it holds). */
static void reload(tw_s3 *s, const char *bucket, int64_t newer_than) {
  pthread_mutex_lock(&s->mu); /* as the handlers that change them */
  if (newer_than >= 0 && cached_ver(s, bucket) >= newer_than) { /* another request did it */
    pthread_mutex_unlock(&s->mu);
    return;
  }
  /* A handler of this node sets its cache, then its batch commits: what is
   * read must include this node's writes appended so far, or an older
   * notification would put back what a newer local write replaced. The
   * writer needs no s->mu; bounded in case the store is stuck. */
  uint64_t t = tw_store_ticket(s->store);
  int64_t until = tw_mono_ms() + 10000;
  while (tw_store_committed(s->store) < t && tw_mono_ms() < until) usleep(1000);
  /* the version first: the settings read after it are at least as new */
  int64_t ver = -1;
  int found = tw_store_pg_s3_bucket_state(s->store, bucket, &ver, NULL);
  tw_s3_cors_reload(s, bucket);
  tw_s3_policy_reload(s, bucket);
  tw_s3_acl_reload(s, bucket);
  tw_s3_lifecycle_reload(s, bucket);
  if (found >= 0) set_ver(s, bucket, found ? ver : -1);
  pthread_mutex_unlock(&s->mu);
}

void tw_s3_cluster_sync(tw_s3 *s, s3_ctx *x) {
  if (!s->cl || !x->bucket || !tw_s3_valid_bucket_name(x->bucket)) return;
  int64_t ver = 0;
  char *vtext = NULL;
  int found = tw_store_pg_s3_bucket_state(s->store, x->bucket, &ver, &vtext);
  if (found < 0) return; /* PostgreSQL away: the handler's own reads answer 503 */
  x->bk_known = 1;
  x->bk_found = found;
  x->bk_versioning = tw_s3_versioning_of(vtext);
  free(vtext);
  int64_t have = cached_ver(s, x->bucket);
  if (found && have < ver) {
    reload(s, x->bucket, ver);
  } else if (!found && have >= 0) {
    /* deleted on another node: what this node cached goes (no reads) */
    pthread_mutex_lock(&s->mu);
    tw_s3_cors_bucket_deleted(s, x->bucket);
    tw_s3_policy_bucket_deleted(s, x->bucket);
    tw_s3_acl_bucket_deleted(s, x->bucket);
    tw_s3_lifecycle_bucket_deleted(s, x->bucket);
    set_ver(s, x->bucket, -1);
    pthread_mutex_unlock(&s->mu);
  }
}

int tw_s3_req_bucket_exists(s3_ctx *x) {
  return x->bk_known ? x->bk_found : tw_s3_bucket_exists(x->s3, x->bucket);
}

int tw_s3_req_versioning(s3_ctx *x) {
  if (!x->bk_known) return tw_s3_versioning(x->s3, x->bucket);
  return x->bk_found ? x->bk_versioning : TW_S3_VERSIONING_OFF;
}

typedef struct {
  char **names;
  size_t n, cap;
} name_list;

static int add_name(void *ud, const tw_s3_bucket_row *b) {
  name_list *l = ud;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 64;
    char **p = realloc(l->names, cap * sizeof *p);
    if (!p) return 1;
    l->names = p;
    l->cap = cap;
  }
  if ((l->names[l->n] = strdup(b->name))) l->n++;
  return 0;
}

void tw_s3_reload_bucket(tw_s3 *s, const char *bucket) {
  if (!s) return;
  if (bucket) {
    reload(s, bucket, -1);
    return;
  }
  /* notifications may have been missed: every bucket's settings again */
  name_list l = {0};
  if (tw_store_s3_buckets(s->store)->list(s->store, add_name, &l) == 0)
    for (size_t i = 0; i < l.n; i++) reload(s, l.names[i], -1);
  for (size_t i = 0; i < l.n; i++) free(l.names[i]);
  free(l.names);
}
