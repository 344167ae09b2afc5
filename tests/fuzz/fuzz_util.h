/* Helpers shared by the fuzz targets: splitting the input into NUL-terminated
 * lines (the fields of a request) and a trivial secret lookup. */
#ifndef TW_FUZZ_UTIL_H
#define TW_FUZZ_UTIL_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FZ_MAX_LINES 64

typedef struct {
  char *mem;
  char *line[FZ_MAX_LINES];
  size_t len[FZ_MAX_LINES];
  size_t n;
} fz_lines;

/* Copies data and cuts it at every '\n' (at most FZ_MAX_LINES lines; the last
 * one keeps the rest). Lines may contain NUL bytes; len[] has their length. */
static inline void fz_split(fz_lines *l, const uint8_t *data, size_t size) {
  l->mem = malloc(size + 1);
  memcpy(l->mem, data, size);
  l->mem[size] = 0;
  l->n = 0;
  char *p = l->mem, *end = l->mem + size;
  while (l->n < FZ_MAX_LINES) {
    char *nl = l->n + 1 < FZ_MAX_LINES ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    l->line[l->n] = p;
    l->len[l->n] = (size_t)((nl ? nl : end) - p);
    l->n++;
    if (!nl) break;
    *nl = 0;
    p = nl + 1;
  }
}

/* line i, or "" past the end */
static inline const char *fz_get(const fz_lines *l, size_t i) {
  return i < l->n ? l->line[i] : "";
}

static inline void fz_free(fz_lines *l) {
  free(l->mem);
}

static inline const char *fz_lookup(void *ud, const char *akid) {
  (void)ud;
  return strcmp(akid, "AKIDEXAMPLE") ? NULL : "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
}

#endif
