/* What other services ask S3 about its objects (s3.h): the gateway's jobs
 * check that a result object exists and show its size. */
#include <string.h>

#include "s3/s3_internal.h"
#include "store/s3_buckets.h"
#include "store/s3_objects.h"

int tw_s3_object_size(tw_s3 *s, const char *bucket, const char *key, int64_t *size) {
  int found = tw_store_s3_objects(s->store)->size(s->store, bucket, key, strlen(key), size);
  if (found != 0) return found == 1 ? 1 : -2;
  int b = tw_store_s3_buckets(s->store)->exists(s->store, bucket);
  return b == 1 ? 0 : b == 0 ? -1 : -2;
}
