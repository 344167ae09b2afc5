/* What s3_lifecycle.c (configuration, headers) and s3_lifecycle_sweep.c (the
 * thread that applies the rules) share. */
#ifndef TW_S3_LIFECYCLE_H
#define TW_S3_LIFECYCLE_H
#include <stdatomic.h>

#include "core/map.h"
#include "s3/s3_internal.h"

enum { LC_F_EMPTY, LC_F_PREFIX, LC_F_TAG, LC_F_GT, LC_F_LT, LC_F_AND };

typedef struct {
  char *id;
  int enabled;
  int v1;       /* the deprecated rule-level Prefix */
  int fkind;    /* LC_F_*: the Filter's form, to give it back as sent */
  char *prefix; /* NULL: none */
  size_t ntags; /* the object must have each of these tags */
  char **tk, **tv;
  int64_t gt, lt; /* object size bounds (exclusive); -1: none */
  int64_t days;   /* Expiration.Days; 0: none */
  int has_date;
  int64_t date_ms;           /* Expiration.Date (a UTC midnight) */
  int eodm;                  /* ExpiredObjectDeleteMarker: -1 none, 0, 1 */
  int64_t abort_days;        /* AbortIncompleteMultipartUpload; 0: none */
  int64_t nc_days, nc_newer; /* NoncurrentVersionExpiration */
  /* where the sweeper's scan of this rule stopped (its thread only) */
  int64_t cur_ms;
  char *cur_key;
  size_t cur_klen;
  char *nc_key; /* the versions' scan (NoncurrentVersionExpiration, ExpiredObjectDeleteMarker) */
  size_t nc_klen;
} lc_rule;

/* One bucket's rules; shared by the cache, the sweeper and header lookups. */
typedef struct {
  lc_rule *rules;
  size_t n;
  atomic_int refs;
} lc_cfg;

struct s3_lifecycle_state {
  pthread_mutex_t mu; /* by_bucket; configurations are immutable once in it */
  tw_map by_bucket;   /* bucket -> lc_cfg* */
  atomic_size_t count;
  /* the sweeper */
  pthread_t thread;
  int started;
  pthread_mutex_t wake_mu;
  pthread_cond_t wake;
  int kicked;
  atomic_int stop;
  /* cluster mode: the lock that makes one node of the cluster sweep */
  struct tw_pg_lead *lead;
};

/* A bucket's rules (a reference: give it back with lc_cfg_put), or NULL. */
lc_cfg *lc_cfg_get(tw_s3 *s, const char *bucket);
void lc_cfg_put(lc_cfg *c);
int64_t lc_day_ms(tw_s3 *s);
int lc_rule_matches(const lc_rule *ru, const char *key, size_t klen, int64_t size, json_t *tags);
/* When an object created at created_ms expires by this rule; -1: never. */
int64_t lc_expiry_ms(const lc_rule *ru, int64_t created_ms, int64_t day_ms);

/* s3_lifecycle_sweep.c */
int lc_sweeper_start(tw_s3 *s);
void lc_sweeper_stop(tw_s3 *s); /* joins it; safe to call twice */
void lc_sweeper_kick(tw_s3 *s); /* run a pass now (rules changed) */

#endif
