/* Hash maps: string keys (copied) and 64-bit integer keys, values are pointers.
 * Chained buckets, doubling growth; not thread-safe (callers hold their lock). */
#ifndef TW_CORE_MAP_H
#define TW_CORE_MAP_H
#include <stddef.h>
#include <stdint.h>

typedef struct tw_map_entry tw_map_entry;
typedef struct {
  tw_map_entry **buckets;
  size_t nbuckets, count;
} tw_map;

void tw_map_init(tw_map *m);
void tw_map_free(tw_map *m); /* frees entries, not values */
void *tw_map_get(const tw_map *m, const char *key);
int tw_map_put(tw_map *m, const char *key, void *value); /* replaces; 0 ok */
void *tw_map_del(tw_map *m, const char *key);            /* returns old value */
/* Iteration: returns the next entry after `it` (NULL to start); key/value out. */
tw_map_entry *tw_map_next(const tw_map *m, tw_map_entry *it, const char **key, void **value);

typedef struct tw_u64map_entry tw_u64map_entry;
typedef struct {
  tw_u64map_entry **buckets;
  size_t nbuckets, count;
} tw_u64map;

void tw_u64map_init(tw_u64map *m);
void tw_u64map_free(tw_u64map *m);
void *tw_u64map_get(const tw_u64map *m, uint64_t key);
int tw_u64map_put(tw_u64map *m, uint64_t key, void *value);
void *tw_u64map_del(tw_u64map *m, uint64_t key);

#endif
