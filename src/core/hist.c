#include "core/hist.h"

#include <string.h>

void tw_hist_reset(tw_hist *h) {
  memset(h, 0, sizeof *h);
  h->min_us = UINT64_MAX;
}

static unsigned bucket_of(uint64_t v) {
  if (v < 128) return (unsigned)v;
  unsigned msb = 63u - (unsigned)__builtin_clzll(v); /* >= 7 */
  unsigned shift = msb - 6;                          /* keeps 7 significant bits */
  unsigned idx = 128 + (shift - 1) * 64 + (unsigned)((v >> shift) - 64);
  return idx < TW_HIST_BUCKETS ? idx : TW_HIST_BUCKETS - 1;
}

/* Middle of the bucket's range. */
static uint64_t value_of(unsigned idx) {
  if (idx < 128) return idx;
  unsigned shift = (idx - 128) / 64 + 1;
  uint64_t mant = 64 + (idx - 128) % 64;
  return (mant << shift) + ((1ull << shift) >> 1);
}

void tw_hist_add(tw_hist *h, uint64_t us) {
  h->b[bucket_of(us)]++;
  h->n++;
  h->sum_us += us;
  if (us > h->max_us) h->max_us = us;
  if (us < h->min_us) h->min_us = us;
}

void tw_hist_merge(tw_hist *into, const tw_hist *from) {
  for (unsigned i = 0; i < TW_HIST_BUCKETS; i++) into->b[i] += from->b[i];
  into->n += from->n;
  into->sum_us += from->sum_us;
  if (from->max_us > into->max_us) into->max_us = from->max_us;
  if (from->min_us < into->min_us) into->min_us = from->min_us;
}

uint64_t tw_hist_quantile(const tw_hist *h, double q) {
  if (!h->n) return 0;
  uint64_t rank = (uint64_t)(q * (double)h->n + 0.5);
  if (rank < 1) rank = 1;
  if (rank > h->n) rank = h->n;
  uint64_t seen = 0;
  for (unsigned i = 0; i < TW_HIST_BUCKETS; i++) {
    seen += h->b[i];
    if (seen >= rank) {
      uint64_t v = value_of(i);
      /* never report beyond what was seen */
      if (v > h->max_us) v = h->max_us;
      if (v < h->min_us) v = h->min_us;
      return v;
    }
  }
  return h->max_us;
}
