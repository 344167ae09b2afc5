/* A distribution sketch for percentiles: a histogram with logarithmic
 * buckets 1 % wide (bucket i holds the values in (g^(i-1), g^i], g = 1.01),
 * so any quantile it reports is within 0.5 % of a value of the true
 * distribution at that rank. Sketches merge by adding counts, which is what
 * makes per-second, per-minute and per-hour aggregates of one series agree.
 *
 * Values must be >= 0 (CloudWatch offers no percentiles for negative values);
 * zero has its own bucket. At most TW_SKETCH_MAX_SPAN consecutive buckets are
 * kept (a factor of 1e17 between the smallest and the largest value): beyond
 * that, the lowest buckets fold into the lowest kept one, so high percentiles
 * stay exact to 1 % and only the lowest lose accuracy.
 *
 * Stored form (tw_sketch_encode): a flags byte, the zero count, the number of
 * non-empty buckets, then per bucket the index (zig-zag varint for the first,
 * varint gaps after) and its count (varint, or an 8-byte double when a count
 * is fractional). A single value takes 4 to 6 bytes. */
#ifndef TW_CORE_SKETCH_H
#define TW_CORE_SKETCH_H
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define TW_SKETCH_GAMMA 1.01
#define TW_SKETCH_MAX_SPAN 4000

typedef struct {
  double zero;  /* count of zeros */
  double total; /* count of all values */
  int32_t lo;   /* index of b[0] */
  uint32_t n;   /* buckets in use: b[0..n) */
  uint32_t cap; /* allocated */
  double *b;    /* counts */
} tw_sketch;

void tw_sketch_init(tw_sketch *s);
void tw_sketch_free(tw_sketch *s);
void tw_sketch_reset(tw_sketch *s);
/* Adds `count` occurrences of v (v >= 0, count > 0). -1: v negative, not
 * finite, or out of memory. */
int tw_sketch_add(tw_sketch *s, double v, double count);
int tw_sketch_merge(tw_sketch *into, const tw_sketch *from);
/* The value at quantile q (0..1): the bucket holding rank q*(N-1), reported
 * as the point of least relative error in it. NAN when empty. Callers clamp
 * it to the exact minimum and maximum they keep beside the sketch. */
double tw_sketch_quantile(const tw_sketch *s, double q);
/* Mean and count of the values between quantiles qlo and qhi (a trimmed
 * mean, TM(a%:b%)), from the buckets' representative values. NAN when no
 * value falls in the range. */
double tw_sketch_trimmed_mean(const tw_sketch *s, double qlo, double qhi, double *count);

/* Serialisation (appends to b); 0, or -1 when the buffer is full. */
int tw_sketch_encode(const tw_sketch *s, tw_buf *b);
/* Adds an encoded sketch to s; 0, or -1 when the bytes are malformed. */
int tw_sketch_decode_add(tw_sketch *s, const void *data, size_t n);
/* Merges two encoded sketches into a new malloc'd blob (*out, *outlen);
 * 0, or -1 (malformed input, out of memory). */
int tw_sketch_merge_blobs(const void *a, size_t alen, const void *b, size_t blen, void **out,
                          size_t *outlen);

#endif
