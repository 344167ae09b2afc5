#include "core/map.h"

#include <stdlib.h>
#include <string.h>

struct tw_map_entry {
  struct tw_map_entry *next;
  uint64_t hash;
  void *value;
  char key[];
};

struct tw_u64map_entry {
  struct tw_u64map_entry *next;
  uint64_t key;
  void *value;
};

static uint64_t hash_str(const char *s) { /* FNV-1a */
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static uint64_t hash_u64(uint64_t x) { /* splitmix64 finaliser */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void tw_map_init(tw_map *m) {
  memset(m, 0, sizeof *m);
}

void tw_map_free(tw_map *m) {
  for (size_t i = 0; i < m->nbuckets; i++) {
    tw_map_entry *e = m->buckets[i];
    while (e) {
      tw_map_entry *n = e->next;
      free(e);
      e = n;
    }
  }
  free(m->buckets);
  memset(m, 0, sizeof *m);
}

static int map_grow(tw_map *m) {
  size_t nb = m->nbuckets ? m->nbuckets * 2 : 16;
  tw_map_entry **b = calloc(nb, sizeof *b);
  if (!b) return -1;
  for (size_t i = 0; i < m->nbuckets; i++) {
    tw_map_entry *e = m->buckets[i];
    while (e) {
      tw_map_entry *n = e->next;
      size_t j = e->hash & (nb - 1);
      e->next = b[j];
      b[j] = e;
      e = n;
    }
  }
  free(m->buckets);
  m->buckets = b;
  m->nbuckets = nb;
  return 0;
}

void *tw_map_get(const tw_map *m, const char *key) {
  if (!m->nbuckets) return NULL;
  uint64_t h = hash_str(key);
  for (tw_map_entry *e = m->buckets[h & (m->nbuckets - 1)]; e; e = e->next)
    if (e->hash == h && strcmp(e->key, key) == 0) return e->value;
  return NULL;
}

int tw_map_put(tw_map *m, const char *key, void *value) {
  uint64_t h = hash_str(key);
  if (m->nbuckets) {
    for (tw_map_entry *e = m->buckets[h & (m->nbuckets - 1)]; e; e = e->next)
      if (e->hash == h && strcmp(e->key, key) == 0) {
        e->value = value;
        return 0;
      }
  }
  if (m->count + 1 > m->nbuckets * 3 / 4 && map_grow(m)) return -1;
  size_t klen = strlen(key);
  tw_map_entry *e = malloc(sizeof *e + klen + 1);
  if (!e) return -1;
  memcpy(e->key, key, klen + 1);
  e->hash = h;
  e->value = value;
  size_t j = h & (m->nbuckets - 1);
  e->next = m->buckets[j];
  m->buckets[j] = e;
  m->count++;
  return 0;
}

void *tw_map_del(tw_map *m, const char *key) {
  if (!m->nbuckets) return NULL;
  uint64_t h = hash_str(key);
  tw_map_entry **pp = &m->buckets[h & (m->nbuckets - 1)];
  for (; *pp; pp = &(*pp)->next) {
    tw_map_entry *e = *pp;
    if (e->hash == h && strcmp(e->key, key) == 0) {
      void *v = e->value;
      *pp = e->next;
      free(e);
      m->count--;
      return v;
    }
  }
  return NULL;
}

tw_map_entry *tw_map_next(const tw_map *m, tw_map_entry *it, const char **key, void **value) {
  size_t i = 0;
  if (it) {
    if (it->next) {
      it = it->next;
      goto found;
    }
    i = (it->hash & (m->nbuckets - 1)) + 1;
  }
  for (; i < m->nbuckets; i++)
    if (m->buckets[i]) {
      it = m->buckets[i];
      goto found;
    }
  return NULL;
found:
  if (key) *key = it->key;
  if (value) *value = it->value;
  return it;
}

void tw_u64map_init(tw_u64map *m) {
  memset(m, 0, sizeof *m);
}

void tw_u64map_free(tw_u64map *m) {
  for (size_t i = 0; i < m->nbuckets; i++) {
    tw_u64map_entry *e = m->buckets[i];
    while (e) {
      tw_u64map_entry *n = e->next;
      free(e);
      e = n;
    }
  }
  free(m->buckets);
  memset(m, 0, sizeof *m);
}

static int u64_grow(tw_u64map *m) {
  size_t nb = m->nbuckets ? m->nbuckets * 2 : 64;
  tw_u64map_entry **b = calloc(nb, sizeof *b);
  if (!b) return -1;
  for (size_t i = 0; i < m->nbuckets; i++) {
    tw_u64map_entry *e = m->buckets[i];
    while (e) {
      tw_u64map_entry *n = e->next;
      size_t j = hash_u64(e->key) & (nb - 1);
      e->next = b[j];
      b[j] = e;
      e = n;
    }
  }
  free(m->buckets);
  m->buckets = b;
  m->nbuckets = nb;
  return 0;
}

void *tw_u64map_get(const tw_u64map *m, uint64_t key) {
  if (!m->nbuckets) return NULL;
  for (tw_u64map_entry *e = m->buckets[hash_u64(key) & (m->nbuckets - 1)]; e; e = e->next)
    if (e->key == key) return e->value;
  return NULL;
}

int tw_u64map_put(tw_u64map *m, uint64_t key, void *value) {
  if (m->nbuckets) {
    for (tw_u64map_entry *e = m->buckets[hash_u64(key) & (m->nbuckets - 1)]; e; e = e->next)
      if (e->key == key) {
        e->value = value;
        return 0;
      }
  }
  if (m->count + 1 > m->nbuckets * 3 / 4 && u64_grow(m)) return -1;
  tw_u64map_entry *e = malloc(sizeof *e);
  if (!e) return -1;
  e->key = key;
  e->value = value;
  size_t j = hash_u64(key) & (m->nbuckets - 1);
  e->next = m->buckets[j];
  m->buckets[j] = e;
  m->count++;
  return 0;
}

void *tw_u64map_del(tw_u64map *m, uint64_t key) {
  if (!m->nbuckets) return NULL;
  tw_u64map_entry **pp = &m->buckets[hash_u64(key) & (m->nbuckets - 1)];
  for (; *pp; pp = &(*pp)->next) {
    tw_u64map_entry *e = *pp;
    if (e->key == key) {
      void *v = e->value;
      *pp = e->next;
      free(e);
      m->count--;
      return v;
    }
  }
  return NULL;
}
