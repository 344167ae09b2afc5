/* Cluster mode: what a node reads to know that its cached settings of a
 * bucket (CORS, policy, PublicAccessBlock, owner, ownership, ACL, lifecycle)
 * are current. Each change of one of them gives the bucket's row a new
 * settings_ver in the change's transaction (src/store/pg/s3_buckets.c); a
 * node remembers the version it loaded and reloads the bucket when a request
 * reads a newer one (src/s3/s3_cluster.c). PostgreSQL store only (pg_s3.h). */
#ifndef TW_STORE_PG_S3_SETTINGS_H
#define TW_STORE_PG_S3_SETTINGS_H
#include <stdint.h>

#include "store/store.h"

/* The bucket's settings version and (versioning not NULL) its versioning
 * configuration (malloc'd JSON text, NULL when none), in one indexed read: 1
 * found, 0 no such bucket, -1 PostgreSQL could not answer. */
int tw_store_pg_s3_bucket_state(tw_store *s, const char *bucket, int64_t *settings_ver,
                                char **versioning);
/* fn(ud, bucket, version) for every bucket (start-up). 0, or -1. */
int tw_store_pg_s3_settings_vers(tw_store *s,
                                 int (*fn)(void *ud, const char *bucket, int64_t settings_ver),
                                 void *ud);

#endif
