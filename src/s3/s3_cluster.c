/* Cluster mode: the caches of bucket settings (CORS, policy and
 * PublicAccessBlock, owner, ownership and ACL, lifecycle) follow what other
 * nodes commit. The store notifies every node after each commit that changed
 * a bucket (store/pg_s3.h); the bucket's settings are read again here.
 * Versioning and notification configurations are not cached: they are read
 * from the store on each request. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "s3/s3_internal.h"
#include "store/s3_buckets.h"

static void reload(tw_s3 *s, const char *bucket) {
  pthread_mutex_lock(&s->mu); /* as the handlers that change them */
  /* A handler of this node sets its cache, then its batch commits: what is
   * read must include this node's writes appended so far, or an older
   * notification would put back what a newer local write replaced. The
   * writer needs no s->mu; bounded in case the store is stuck. */
  uint64_t t = tw_store_ticket(s->store);
  int64_t until = tw_mono_ms() + 10000;
  while (tw_store_committed(s->store) < t && tw_mono_ms() < until) usleep(1000);
  tw_s3_cors_reload(s, bucket);
  tw_s3_policy_reload(s, bucket);
  tw_s3_acl_reload(s, bucket);
  tw_s3_lifecycle_reload(s, bucket);
  pthread_mutex_unlock(&s->mu);
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
    reload(s, bucket);
    return;
  }
  /* notifications may have been missed: every bucket's settings again */
  name_list l = {0};
  if (tw_store_s3_buckets(s->store)->list(s->store, add_name, &l) == 0)
    for (size_t i = 0; i < l.n; i++) reload(s, l.names[i]);
  for (size_t i = 0; i < l.n; i++) free(l.names[i]);
  free(l.names);
}
