/* A log-linear latency histogram in microseconds (HDR-style): exact below
 * 128 us, then 64 buckets per power of two, so any reported percentile is
 * within 1.6% of the true value. Fixed size, no allocation, mergeable. */
#ifndef TW_CORE_HIST_H
#define TW_CORE_HIST_H
#include <stdint.h>

#define TW_HIST_BUCKETS (128 + 58 * 64)

typedef struct {
  uint64_t n, sum_us, max_us, min_us;
  uint64_t b[TW_HIST_BUCKETS];
} tw_hist;

void tw_hist_reset(tw_hist *h);
void tw_hist_add(tw_hist *h, uint64_t us);
void tw_hist_merge(tw_hist *into, const tw_hist *from);
/* The value at quantile q (0..1) in microseconds; 0 when empty. */
uint64_t tw_hist_quantile(const tw_hist *h, double q);

#endif
