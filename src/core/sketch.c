#include "core/sketch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FLAG_FLOAT 0x80
#define VERSION 1

static double g_log_gamma; /* log(TW_SKETCH_GAMMA), set on first use */

static double log_gamma(void) {
  if (g_log_gamma == 0) g_log_gamma = log(TW_SKETCH_GAMMA);
  return g_log_gamma;
}

static int32_t index_of(double v) {
  double i = ceil(log(v) / log_gamma());
  if (i < -2000000000.0) i = -2000000000.0;
  if (i > 2000000000.0) i = 2000000000.0;
  return (int32_t)i;
}

/* The value of least relative error in bucket i: (g^(i-1), g^i]. */
static double value_of(int32_t i) {
  return 2.0 * exp((double)i * log_gamma()) / (1.0 + TW_SKETCH_GAMMA);
}

void tw_sketch_init(tw_sketch *s) {
  memset(s, 0, sizeof *s);
}

void tw_sketch_free(tw_sketch *s) {
  free(s->b);
  memset(s, 0, sizeof *s);
}

void tw_sketch_reset(tw_sketch *s) {
  if (s->b && s->n) memset(s->b, 0, s->n * sizeof *s->b);
  s->n = 0;
  s->lo = 0;
  s->zero = s->total = 0;
}

/* Makes b cover [lo, hi] (inclusive), folding what lies below lo into lo.
 * Called with lo <= the old lo (growing down), or lo >= the old lo with hi
 * above the old hi (growing up past the span). */
static int cover(tw_sketch *s, int32_t lo, int32_t hi) {
  uint32_t n = (uint32_t)((int64_t)hi - lo + 1);
  if (n > s->cap) {
    uint32_t cap = s->cap ? s->cap : 16;
    while (cap < n) cap *= 2;
    double *nb = realloc(s->b, cap * sizeof *nb);
    if (!nb) return -1;
    s->b = nb;
    s->cap = cap;
  }
  if (s->n == 0) {
    memset(s->b, 0, n * sizeof *s->b);
  } else if (lo <= s->lo) {
    uint32_t d = (uint32_t)(s->lo - lo), keep = s->n;
    if (keep > n - d) keep = n - d;
    if (d) {
      memmove(s->b + d, s->b, keep * sizeof *s->b);
      memset(s->b, 0, d * sizeof *s->b);
    }
    if (d + keep < n) memset(s->b + d + keep, 0, (n - d - keep) * sizeof *s->b);
  } else {
    uint32_t d = (uint32_t)(lo - s->lo);
    double folded = 0;
    for (uint32_t i = 0; i < d && i < s->n; i++) folded += s->b[i];
    uint32_t keep = s->n > d ? s->n - d : 0;
    if (keep > n) keep = n;
    if (keep) memmove(s->b, s->b + d, keep * sizeof *s->b);
    if (keep < n) memset(s->b + keep, 0, (n - keep) * sizeof *s->b);
    s->b[0] += folded;
  }
  s->lo = lo;
  s->n = n;
  return 0;
}

static int add_index(tw_sketch *s, int32_t i, double count) {
  if (s->n == 0) {
    if (cover(s, i, i)) return -1;
  } else {
    int32_t hi = s->lo + (int32_t)s->n - 1;
    if (i < s->lo) {
      int64_t floor_lo = (int64_t)hi - TW_SKETCH_MAX_SPAN + 1;
      if (i < floor_lo) i = (int32_t)floor_lo; /* folds into the lowest kept bucket */
      if (i < s->lo && cover(s, i, hi)) return -1;
    } else if (i > hi) {
      int32_t lo = s->lo;
      if ((int64_t)i - lo + 1 > TW_SKETCH_MAX_SPAN) lo = i - TW_SKETCH_MAX_SPAN + 1;
      if (cover(s, lo, i)) return -1;
    }
  }
  s->b[i - s->lo] += count;
  s->total += count;
  return 0;
}

int tw_sketch_add(tw_sketch *s, double v, double count) {
  if (!(v >= 0) || !isfinite(v) || !(count > 0) || !isfinite(count)) return -1;
  if (v == 0) {
    s->zero += count;
    s->total += count;
    return 0;
  }
  return add_index(s, index_of(v), count);
}

int tw_sketch_merge(tw_sketch *into, const tw_sketch *from) {
  if (from->zero > 0) {
    into->zero += from->zero;
    into->total += from->zero;
  }
  for (uint32_t k = 0; k < from->n; k++)
    if (from->b[k] > 0 && add_index(into, from->lo + (int32_t)k, from->b[k])) return -1;
  return 0;
}

double tw_sketch_quantile(const tw_sketch *s, double q) {
  if (!(s->total > 0)) return NAN;
  if (q < 0) q = 0;
  if (q > 1) q = 1;
  double rank = q * (s->total - 1);
  if (rank < 0) rank = 0;
  double cum = s->zero;
  if (cum > rank) return 0;
  int32_t last = 0;
  int any = 0;
  for (uint32_t k = 0; k < s->n; k++) {
    if (s->b[k] <= 0) continue;
    cum += s->b[k];
    last = s->lo + (int32_t)k;
    any = 1;
    if (cum > rank) return value_of(last);
  }
  return any ? value_of(last) : 0;
}

double tw_sketch_trimmed_mean(const tw_sketch *s, double qlo, double qhi, double *count) {
  *count = 0;
  if (!(s->total > 0) || qhi <= qlo) return NAN;
  double from = qlo * s->total, to = qhi * s->total;
  double cum = 0, n = 0, sum = 0;
  /* the zero bucket, then the others in order: each covers ranks [cum, cum+c) */
  double c = s->zero;
  if (c > 0) {
    double a = cum > from ? cum : from, b = cum + c < to ? cum + c : to;
    if (b > a) n += b - a; /* value 0 adds nothing to the sum */
    cum += c;
  }
  for (uint32_t k = 0; k < s->n; k++) {
    c = s->b[k];
    if (c <= 0) continue;
    double a = cum > from ? cum : from, b = cum + c < to ? cum + c : to;
    if (b > a) {
      n += b - a;
      sum += (b - a) * value_of(s->lo + (int32_t)k);
    }
    cum += c;
    if (cum >= to) break;
  }
  *count = n;
  return n > 0 ? sum / n : NAN;
}

/* --- encoding --------------------------------------------------------------- */

static int put_varint(tw_buf *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  do {
    uint8_t c = v & 0x7f;
    v >>= 7;
    tmp[n++] = c | (v ? 0x80 : 0);
  } while (v);
  return tw_buf_append(b, tmp, n);
}

static int is_whole(double c) {
  return c >= 0 && c <= 9007199254740992.0 && c == floor(c);
}

static int put_count(tw_buf *b, double c, int as_float) {
  if (!as_float) return put_varint(b, (uint64_t)c);
  uint8_t tmp[8];
  uint64_t bits;
  memcpy(&bits, &c, 8);
  for (int i = 0; i < 8; i++) tmp[i] = (uint8_t)(bits >> (8 * i));
  return tw_buf_append(b, tmp, 8);
}

int tw_sketch_encode(const tw_sketch *s, tw_buf *b) {
  uint32_t nonzero = 0;
  int as_float = !is_whole(s->zero);
  for (uint32_t k = 0; k < s->n; k++)
    if (s->b[k] > 0) {
      nonzero++;
      if (!is_whole(s->b[k])) as_float = 1;
    }
  int rc = tw_buf_putc(b, (char)(VERSION | (as_float ? FLAG_FLOAT : 0)));
  rc |= put_count(b, s->zero, as_float);
  rc |= put_varint(b, nonzero);
  int first = 1;
  int32_t prev = 0;
  for (uint32_t k = 0; k < s->n; k++) {
    if (!(s->b[k] > 0)) continue;
    int32_t i = s->lo + (int32_t)k;
    if (first) {
      int64_t zz = i >= 0 ? (int64_t)i * 2 : -(int64_t)i * 2 - 1;
      rc |= put_varint(b, (uint64_t)zz);
      first = 0;
    } else {
      rc |= put_varint(b, (uint64_t)((int64_t)i - prev));
    }
    prev = i;
    rc |= put_count(b, s->b[k], as_float);
  }
  return rc ? -1 : 0;
}

typedef struct {
  const uint8_t *p, *end;
} reader;

static int get_varint(reader *r, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (r->p >= r->end) return -1;
    uint8_t c = *r->p++;
    x |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *v = x;
      return 0;
    }
  }
  return -1;
}

static int get_count(reader *r, int as_float, double *c) {
  if (!as_float) {
    uint64_t v;
    if (get_varint(r, &v)) return -1;
    *c = (double)v;
    return 0;
  }
  if (r->end - r->p < 8) return -1;
  uint64_t bits = 0;
  for (int i = 0; i < 8; i++) bits |= (uint64_t)r->p[i] << (8 * i);
  r->p += 8;
  memcpy(c, &bits, 8);
  return isfinite(*c) && *c >= 0 ? 0 : -1;
}

int tw_sketch_decode_add(tw_sketch *s, const void *data, size_t n) {
  reader r = {data, (const uint8_t *)data + n};
  if (n < 1) return -1;
  uint8_t flags = *r.p++;
  if ((flags & 0x7f) != VERSION) return -1;
  int as_float = !!(flags & FLAG_FLOAT);
  double zero;
  uint64_t nb;
  if (get_count(&r, as_float, &zero) || get_varint(&r, &nb)) return -1;
  if (nb > (uint64_t)(r.end - r.p)) return -1; /* every bucket takes at least 2 bytes */
  if (zero > 0) {
    s->zero += zero;
    s->total += zero;
  }
  int64_t i = 0;
  for (uint64_t k = 0; k < nb; k++) {
    uint64_t v;
    if (get_varint(&r, &v)) return -1;
    if (k == 0)
      i = (v & 1) ? -(int64_t)((v + 1) / 2) : (int64_t)(v / 2);
    else
      i += (int64_t)v;
    if (i < -2000000000LL || i > 2000000000LL) return -1;
    double c;
    if (get_count(&r, as_float, &c)) return -1;
    if (c > 0 && add_index(s, (int32_t)i, c)) return -1;
  }
  return r.p == r.end ? 0 : -1;
}

int tw_sketch_merge_blobs(const void *a, size_t alen, const void *b, size_t blen, void **out,
                          size_t *outlen) {
  tw_sketch s;
  tw_sketch_init(&s);
  tw_buf buf;
  tw_buf_init(&buf, 1u << 20);
  int rc = -1;
  if (tw_sketch_decode_add(&s, a, alen) || tw_sketch_decode_add(&s, b, blen)) goto done;
  if (tw_sketch_encode(&s, &buf)) goto done;
  *out = tw_buf_detach(&buf, outlen);
  rc = 0;
done:
  if (rc) tw_buf_free(&buf);
  tw_sketch_free(&s);
  return rc;
}
