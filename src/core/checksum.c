/* CRC32, CRC32C and CRC64NVME, SHA1/SHA256 over OpenSSL EVP.
 *
 * The CRCs have two implementations:
 * - slicing-by-8 tables (eight bytes per step, portable: the reference, used on CPUs
 *   without carry-less multiply and for short inputs and tails);
 * - on x86-64 with PCLMULQDQ, for CRC32 and CRC64NVME, folding by carry-less
 *   multiplication (the method of Intel's "Fast CRC Computation for Generic
 *   Polynomials Using PCLMULQDQ"): eight 128-bit lanes are folded forward over the
 *   buffer, folded into one, and the last 128 bits are reduced to the CRC with a
 *   Barrett reduction. Where AVX2 and VPCLMULQDQ exist too, the bulk is folded in
 *   sixteen lanes held in eight 256-bit registers (about twice as fast again).
 *   CRC32C uses the SSE4.2 crc32 instruction on three interleaved streams instead:
 *   on an AMD EPYC about 20 GB/s, against 11 for 128-bit folding and much the same
 *   as 256-bit folding, on more CPUs.
 * Every constant is computed once, at first use, from the polynomial (xpow_mod,
 * barrett_mu below); nothing is a table copied from elsewhere.
 *
 * Conventions for the carry-less code. All three CRCs are reflected: the first
 * message bit is the least significant bit of the first byte, and it is the highest
 * power of x. So a 64-bit word w read little-endian from the message stands for the
 * polynomial sum(w_i x^(63-i)) ("reflected-64"), and a 128-bit register v for
 * sum(v_k x^(127-k)) ("reflected-128"). With these, PCLMULQDQ of two reflected-64
 * words a(x), b(x) gives the reflected-128 register of a(x)*b(x)*x: the product has
 * degree at most 126, yet its top coefficient lands in bit 0, which stands for x^127;
 * so constants that go through it carry one power of x less. The running CRC register r of degree d
 * (32 or 64) stands for sum(r_i x^(d-1-i)), and after a message M it holds M(x)*x^d mod P(x) (with
 * the initial ~0 added to the first d message bits). */
#include "core/checksum.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define TW_CRC_X86 1
#else
#define TW_CRC_X86 0
#endif

/* Reflected polynomials (bit order reversed), as table-driven LSB-first CRCs want. */
#define POLY_CRC32 0xEDB88320u
#define POLY_CRC32C 0x82F63B78u
#define POLY_CRC64NVME 0x9A6C9329AC4BC9B5ull

static uint32_t t32[8][256], t32c[8][256];
static uint64_t t64[8][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t a = i, b = i;
    uint64_t c = i;
    for (int k = 0; k < 8; k++) {
      a = (a >> 1) ^ (POLY_CRC32 & (0u - (a & 1)));
      b = (b >> 1) ^ (POLY_CRC32C & (0u - (b & 1)));
      c = (c >> 1) ^ (POLY_CRC64NVME & (0ull - (c & 1)));
    }
    t32[0][i] = a;
    t32c[0][i] = b;
    t64[0][i] = c;
  }
  /* t[k][i]: the CRC of byte i followed by k zero bytes. */
  for (int k = 1; k < 8; k++)
    for (int i = 0; i < 256; i++) {
      t32[k][i] = (t32[k - 1][i] >> 8) ^ t32[0][t32[k - 1][i] & 0xff];
      t32c[k][i] = (t32c[k - 1][i] >> 8) ^ t32c[0][t32c[k - 1][i] & 0xff];
      t64[k][i] = (t64[k - 1][i] >> 8) ^ t64[0][t64[k - 1][i] & 0xff];
    }
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) {
  return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* The table loops work on the raw register (the CRC's complement). */
static uint32_t crc32_tab(const uint32_t t[8][256], uint32_t crc, const uint8_t *p, size_t n) {
  for (; n >= 8; p += 8, n -= 8) {
    uint32_t lo = le32(p) ^ crc, hi = le32(p + 4);
    crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
          t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
  }
  while (n--) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
  return crc;
}

static uint64_t crc64_tab(uint64_t crc, const uint8_t *p, size_t n) {
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v = le64(p) ^ crc;
    crc = t64[7][v & 0xff] ^ t64[6][(v >> 8) & 0xff] ^ t64[5][(v >> 16) & 0xff] ^
          t64[4][(v >> 24) & 0xff] ^ t64[3][(v >> 32) & 0xff] ^ t64[2][(v >> 40) & 0xff] ^
          t64[1][(v >> 48) & 0xff] ^ t64[0][v >> 56];
  }
  while (n--) crc = (crc >> 8) ^ t64[0][(crc ^ *p++) & 0xff];
  return crc;
}

/* ---------- constants for the carry-less code, from the polynomial ---------- */

#if TW_CRC_X86

/* Polynomials in normal bit order here: bit j is the coefficient of x^j; a CRC
 * polynomial P of degree d is given by its low d coefficients (x^d implied). */
static uint64_t bit_reverse(uint64_t v, int bits) {
  uint64_t r = 0;
  for (int i = 0; i < bits; i++) r |= ((v >> i) & 1) << (bits - 1 - i);
  return r;
}

/* x^e mod P. */
static uint64_t xpow_mod(unsigned e, uint64_t plow, int d) {
  uint64_t top = 1ull << (d - 1), mask = d == 64 ? ~0ull : (1ull << d) - 1, r = 1;
  while (e--) {
    uint64_t carry = r & top;
    r = (r << 1) & mask;
    if (carry) r ^= plow;
  }
  return r;
}

/* floor(x^(64+d) / P), of degree 64: coefficients 0..63 in *lo, that of x^64 in *hi. */
static void barrett_mu(uint64_t plow, int d, uint64_t *lo, int *hi) {
  uint64_t top = 1ull << (d - 1), mask = d == 64 ? ~0ull : (1ull << d) - 1, rem = 0;
  *lo = 0;
  *hi = 0;
  /* Long division: bring the dividend's coefficients down from x^(64+d) to x^0; each
   * time the remainder reaches degree d, subtract P*x^i and set quotient bit i. */
  for (int i = 64 + d; i >= 0; i--) {
    uint64_t carry = rem & top;
    rem = ((rem << 1) | (uint64_t)(i == 64 + d)) & mask;
    if (carry) {
      rem ^= plow;
      if (i == 64)
        *hi = 1;
      else
        *lo |= 1ull << i;
    }
  }
}

/* A polynomial q of degree <= 64 as the 64-bit word whose bit j is the coefficient
 * of x^(64-j) (x^0 dropped): under PCLMULQDQ with a reflected-64 word a(x) this
 * yields the reflected-128 register of exactly a(x)*q(x), with no extra factor x. */
static uint64_t x64_down(uint64_t lo, int hi) {
  uint64_t w = (uint64_t)hi;
  for (int j = 1; j < 64; j++) w |= ((lo >> (64 - j)) & 1) << j;
  return w;
}

typedef struct {
  int d; /* 32 or 64 */
  /* Folding a 128-bit register forward by D bits: its low qword (the x^127..x^64
   * half) is multiplied by x^(D+63) mod P, its high qword by x^(D-1) mod P, both
   * reflected-64 (one power less for PCLMULQDQ's extra x). D = 2048, 1024, 512, 128. */
  uint64_t fold2048[2], fold1024[2], fold512[2], fold128[2];
  /* Final reduction of a 128-bit register X to X(x)*x^d mod P: x^(63+d) mod P, then
   * Barrett with mu = floor(x^(64+d) / P) and P itself, both in x64_down form. */
  uint64_t red, mu, poly;
} clmul_consts;

static void clmul_consts_init(clmul_consts *k, uint64_t poly_reflected, int d) {
  uint64_t plow = bit_reverse(poly_reflected, d), mulo;
  int muhi;
  k->d = d;
  k->fold2048[0] = bit_reverse(xpow_mod(2048 + 63, plow, d), 64);
  k->fold2048[1] = bit_reverse(xpow_mod(2048 - 1, plow, d), 64);
  k->fold1024[0] = bit_reverse(xpow_mod(1024 + 63, plow, d), 64);
  k->fold1024[1] = bit_reverse(xpow_mod(1024 - 1, plow, d), 64);
  k->fold512[0] = bit_reverse(xpow_mod(512 + 63, plow, d), 64);
  k->fold512[1] = bit_reverse(xpow_mod(512 - 1, plow, d), 64);
  k->fold128[0] = bit_reverse(xpow_mod(128 + 63, plow, d), 64);
  k->fold128[1] = bit_reverse(xpow_mod(128 - 1, plow, d), 64);
  k->red = bit_reverse(xpow_mod(63 + (unsigned)d, plow, d), 64);
  barrett_mu(plow, d, &mulo, &muhi);
  k->mu = x64_down(mulo, muhi);
  /* P = x^d + plow: for d = 64 the x^64 coefficient is the extra "hi" one. */
  k->poly = d == 64 ? x64_down(plow, 1) : x64_down(plow | 1ull << 32, 0);
}

static clmul_consts k_crc32, k_crc64;
/* The stream lengths L (bytes) for which the crc32-instruction CRC32C runs three
 * streams side by side, and for each the constant that moves a CRC over L zero
 * bytes: x^(8L-33) mod P, reflected-32 (see crc32c_shift). */
#define C3_NSIZES 3
static const size_t c3_sizes[C3_NSIZES] = {4096, 512, 64};
static uint64_t c3_shift[C3_NSIZES];
static int have_clmul, have_vclmul, have_crc32c_insn;
#endif

static void crc_init(void) {
  build_tables();
#if TW_CRC_X86
  clmul_consts_init(&k_crc32, POLY_CRC32, 32);
  clmul_consts_init(&k_crc64, POLY_CRC64NVME, 64);
  uint64_t plow32c = bit_reverse(POLY_CRC32C, 32);
  for (int i = 0; i < C3_NSIZES; i++)
    c3_shift[i] = bit_reverse(xpow_mod((unsigned)(8 * c3_sizes[i] - 33), plow32c, 32), 32);
  __builtin_cpu_init();
  have_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  have_vclmul =
      have_clmul && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("vpclmulqdq");
  have_crc32c_insn = have_clmul && __builtin_cpu_supports("sse4.2");
#endif
}

static void tables(void) {
  pthread_once(&tables_once, crc_init);
}

/* ---------- x86-64: carry-less multiply, crc32 instruction ---------- */

#if TW_CRC_X86
#define TW_CLMUL __attribute__((target("pclmul,sse4.1")))
#define TW_CLMUL_CRC __attribute__((target("pclmul,sse4.1,sse4.2")))
#define TW_VCLMUL __attribute__((target("avx2,vpclmulqdq,pclmul,sse4.1")))

/* x folded forward by k's distance: lo(x)*k[0] + hi(x)*k[1]. */
TW_CLMUL static inline __m128i fold(__m128i x, __m128i k) {
  return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

TW_CLMUL static inline __m128i load128(const uint8_t *p) {
  return _mm_loadu_si128((const __m128i *)(const void *)p);
}

TW_CLMUL static inline uint64_t clmul_lo(uint64_t a, uint64_t b) {
  return (uint64_t)_mm_cvtsi128_si64(
      _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)a), _mm_cvtsi64_si128((long long)b), 0));
}

/* The same folding in 256-bit registers, each two 128-bit lanes. */
TW_VCLMUL static inline __m256i vfold(__m256i x, __m256i k) {
  return _mm256_xor_si256(_mm256_clmulepi64_epi128(x, k, 0x00),
                          _mm256_clmulepi64_epi128(x, k, 0x11));
}

TW_VCLMUL static inline __m256i load256(const uint8_t *p) {
  return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

TW_VCLMUL static inline __m256i vconst(const uint64_t k[2]) {
  return _mm256_set_epi64x((long long)k[1], (long long)k[0], (long long)k[1], (long long)k[0]);
}

/* The bulk of clmul_run with VPCLMULQDQ: from register r over p[0..n), n >= 256, in
 * sixteen lanes (eight registers) while 256 bytes remain; leaves the message so far
 * in the four lanes x[0..3] (64 consecutive bytes), returns the bytes consumed. */
TW_VCLMUL static size_t vclmul_bulk(const clmul_consts *k, uint64_t r, const uint8_t *p, size_t n,
                                    __m128i x[4]) {
  const uint8_t *start = p;
  __m256i y0 = _mm256_xor_si256(load256(p), _mm256_set_epi64x(0, 0, 0, (long long)r));
  __m256i y1 = load256(p + 32), y2 = load256(p + 64), y3 = load256(p + 96);
  __m256i y4 = load256(p + 128), y5 = load256(p + 160), y6 = load256(p + 192);
  __m256i y7 = load256(p + 224);
  p += 256;
  n -= 256;
  const __m256i k16 = vconst(k->fold2048);
  for (; n >= 256; p += 256, n -= 256) {
    y0 = _mm256_xor_si256(vfold(y0, k16), load256(p));
    y1 = _mm256_xor_si256(vfold(y1, k16), load256(p + 32));
    y2 = _mm256_xor_si256(vfold(y2, k16), load256(p + 64));
    y3 = _mm256_xor_si256(vfold(y3, k16), load256(p + 96));
    y4 = _mm256_xor_si256(vfold(y4, k16), load256(p + 128));
    y5 = _mm256_xor_si256(vfold(y5, k16), load256(p + 160));
    y6 = _mm256_xor_si256(vfold(y6, k16), load256(p + 192));
    y7 = _mm256_xor_si256(vfold(y7, k16), load256(p + 224));
  }
  /* y0..y3 sit 128 bytes before y4..y7; then y0, y1 64 bytes before y2, y3. */
  const __m256i k8 = vconst(k->fold1024), k4 = vconst(k->fold512);
  y0 = _mm256_xor_si256(vfold(y0, k8), y4);
  y1 = _mm256_xor_si256(vfold(y1, k8), y5);
  y2 = _mm256_xor_si256(vfold(y2, k8), y6);
  y3 = _mm256_xor_si256(vfold(y3, k8), y7);
  y0 = _mm256_xor_si256(vfold(y0, k4), y2);
  y1 = _mm256_xor_si256(vfold(y1, k4), y3);
  x[0] = _mm256_castsi256_si128(y0);
  x[1] = _mm256_extracti128_si256(y0, 1);
  x[2] = _mm256_castsi256_si128(y1);
  x[3] = _mm256_extracti128_si256(y1, 1);
  return (size_t)(p - start);
}

/* Runs the raw register r over p[0..n), n >= 64; consumes the largest multiple of 16
 * bytes, sets *used to it and returns the register. */
TW_CLMUL static uint64_t clmul_run(const clmul_consts *k, uint64_t r, const uint8_t *p, size_t n,
                                   size_t *used) {
  const uint8_t *start = p;
  const __m128i k4 = _mm_set_epi64x((long long)k->fold512[1], (long long)k->fold512[0]);
  __m128i x0, x1, x2, x3;
  if (have_vclmul && n >= 256) {
    __m128i x[4];
    size_t u = vclmul_bulk(k, r, p, n, x);
    p += u;
    n -= u;
    x0 = x[0];
    x1 = x[1];
    x2 = x[2];
    x3 = x[3];
  } else {
    x0 = _mm_xor_si128(load128(p), _mm_cvtsi64_si128((long long)r));
    x1 = load128(p + 16);
    x2 = load128(p + 32);
    x3 = load128(p + 48);
    p += 64;
    n -= 64;
  }
  if (n >= 128) {
    /* Eight lanes while there is room: a multiply's latency is several times its
     * issue interval, and eight independent chains ran 1.4 times as fast as four. */
    const __m128i k8 = _mm_set_epi64x((long long)k->fold1024[1], (long long)k->fold1024[0]);
    __m128i x4 = load128(p), x5 = load128(p + 16), x6 = load128(p + 32), x7 = load128(p + 48);
    p += 64;
    n -= 64;
    for (; n >= 128; p += 128, n -= 128) {
      x0 = _mm_xor_si128(fold(x0, k8), load128(p));
      x1 = _mm_xor_si128(fold(x1, k8), load128(p + 16));
      x2 = _mm_xor_si128(fold(x2, k8), load128(p + 32));
      x3 = _mm_xor_si128(fold(x3, k8), load128(p + 48));
      x4 = _mm_xor_si128(fold(x4, k8), load128(p + 64));
      x5 = _mm_xor_si128(fold(x5, k8), load128(p + 80));
      x6 = _mm_xor_si128(fold(x6, k8), load128(p + 96));
      x7 = _mm_xor_si128(fold(x7, k8), load128(p + 112));
    }
    /* Lanes 0..3 sit 64 bytes before lanes 4..7. */
    x0 = _mm_xor_si128(fold(x0, k4), x4);
    x1 = _mm_xor_si128(fold(x1, k4), x5);
    x2 = _mm_xor_si128(fold(x2, k4), x6);
    x3 = _mm_xor_si128(fold(x3, k4), x7);
  }
  for (; n >= 64; p += 64, n -= 64) {
    x0 = _mm_xor_si128(fold(x0, k4), load128(p));
    x1 = _mm_xor_si128(fold(x1, k4), load128(p + 16));
    x2 = _mm_xor_si128(fold(x2, k4), load128(p + 32));
    x3 = _mm_xor_si128(fold(x3, k4), load128(p + 48));
  }
  const __m128i k1 = _mm_set_epi64x((long long)k->fold128[1], (long long)k->fold128[0]);
  x0 = _mm_xor_si128(fold(x0, k1), x1);
  x0 = _mm_xor_si128(fold(x0, k1), x2);
  x0 = _mm_xor_si128(fold(x0, k1), x3);
  for (; n >= 16; p += 16, n -= 16) x0 = _mm_xor_si128(fold(x0, k1), load128(p));
  *used = (size_t)(p - start);

  /* The register is now the whole message so far reduced to 128 bits X = Xh*x^64 + Xl
   * (Xh the low qword, Xl the high one); the CRC register is X*x^d mod P. First
   * Y = Xh*(x^(64+d) mod P) + Xl*x^d, of degree < 64+d. */
  uint64_t xlo = (uint64_t)_mm_cvtsi128_si64(x0), xhi = (uint64_t)_mm_extract_epi64(x0, 1);
  __m128i t = _mm_clmulepi64_si128(x0, _mm_cvtsi64_si128((long long)k->red), 0x00);
  uint64_t tlo = (uint64_t)_mm_cvtsi128_si64(t), thi = (uint64_t)_mm_extract_epi64(t, 1);
  /* Y = Yh*x^d + Yl, Yh of degree < 64 (reflected-64), Yl of degree < d. For d = 32, Y
   * sits in bits 32..127 of the 128-bit register and Xl*x^32 is X shifted down 32 bits
   * (what that shift brings into bits 0..31 is dropped with them). */
  uint64_t yh, yl;
  if (k->d == 64) {
    yh = tlo ^ xhi;
    yl = thi;
  } else {
    uint64_t ylo = tlo ^ (xlo >> 32 | xhi << 32), yhi = thi ^ (xhi >> 32);
    yh = ylo >> 32 | yhi << 32;
    yl = yhi >> 32;
  }
  /* Barrett: q = floor(Yh*mu / x^64) (the high half of the product, so its low
   * qword), and Y mod P = Yl + the low d coefficients of q*P, where q*P = q*(P - 1) + q
   * and the low d coefficients of q*(P - 1) are the top d bits of the register. */
  uint64_t q = clmul_lo(yh, k->mu);
  __m128i qp = _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)q),
                                    _mm_cvtsi64_si128((long long)k->poly), 0x00);
  uint64_t qphi = (uint64_t)_mm_extract_epi64(qp, 1);
  if (k->d == 64) return yl ^ qphi ^ q;
  return yl ^ (qphi >> 32) ^ (q >> 32);
}

static inline uint64_t load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* c (a CRC32C register) moved over the L zero bytes whose constant is k: c*x^32 *
 * k*x^32 * x under PCLMULQDQ is c*k*x in the low qword, and the crc32 instruction
 * over those 8 bytes from 0 multiplies by x^32 mod P: c*x^(8L). */
TW_CLMUL_CRC static inline uint64_t crc32c_shift(uint64_t c, uint64_t k) {
  return _mm_crc32_u64(0, clmul_lo(c, k));
}

/* CRC32C with the crc32 instruction: three streams of L bytes at a time (its result
 * comes three cycles after it starts, and one can start every cycle), joined by
 * crc32c_shift. */
TW_CLMUL_CRC static uint32_t crc32c_insn(uint32_t r32, const uint8_t *p, size_t n) {
  uint64_t r = r32;
  for (int s = 0; s < C3_NSIZES; s++) {
    const size_t L = c3_sizes[s];
    for (; n >= 3 * L; p += 3 * L, n -= 3 * L) {
      uint64_t a = r, b = 0, c = 0;
      for (size_t i = 0; i < L; i += 8) {
        a = _mm_crc32_u64(a, load64(p + i));
        b = _mm_crc32_u64(b, load64(p + L + i));
        c = _mm_crc32_u64(c, load64(p + 2 * L + i));
      }
      r = crc32c_shift(crc32c_shift(a, c3_shift[s]) ^ b, c3_shift[s]) ^ c;
    }
  }
  for (; n >= 8; p += 8, n -= 8) r = _mm_crc32_u64(r, load64(p));
  while (n--) r = _mm_crc32_u8((uint32_t)r, *p++);
  return (uint32_t)r;
}
#endif

/* clmul_run starts with four 128-bit lanes; shorter inputs go to the tables. */
#define CLMUL_MIN 64

uint32_t tw_crc32_update_table(uint32_t crc, const void *data, size_t n) {
  tables();
  return ~crc32_tab(t32, ~crc, data, n);
}

uint32_t tw_crc32c_update_table(uint32_t crc, const void *data, size_t n) {
  tables();
  return ~crc32_tab(t32c, ~crc, data, n);
}

uint64_t tw_crc64nvme_update_table(uint64_t crc, const void *data, size_t n) {
  tables();
  return ~crc64_tab(~crc, data, n);
}

uint32_t tw_crc32_update(uint32_t crc, const void *data, size_t n) {
  tables();
  const uint8_t *p = data;
  uint32_t r = ~crc;
#if TW_CRC_X86
  if (have_clmul && n >= CLMUL_MIN) {
    size_t used;
    r = (uint32_t)clmul_run(&k_crc32, r, p, n, &used);
    p += used;
    n -= used;
  }
#endif
  return ~crc32_tab(t32, r, p, n);
}

uint32_t tw_crc32c_update(uint32_t crc, const void *data, size_t n) {
  tables();
  const uint8_t *p = data;
  uint32_t r = ~crc;
#if TW_CRC_X86
  if (have_crc32c_insn) return ~crc32c_insn(r, p, n);
#endif
  return ~crc32_tab(t32c, r, p, n);
}

uint64_t tw_crc64nvme_update(uint64_t crc, const void *data, size_t n) {
  tables();
  const uint8_t *p = data;
  uint64_t r = ~crc;
#if TW_CRC_X86
  if (have_clmul && n >= CLMUL_MIN) {
    size_t used;
    r = clmul_run(&k_crc64, r, p, n, &used);
    p += used;
    n -= used;
  }
#endif
  return ~crc64_tab(r, p, n);
}

/* ---------- algorithm names ---------- */

static const struct {
  tw_cksum_alg alg;
  const char *name, *header;
  size_t raw;
} ALGS[] = {
    {TW_CKSUM_CRC32, "CRC32", "x-amz-checksum-crc32", 4},
    {TW_CKSUM_CRC32C, "CRC32C", "x-amz-checksum-crc32c", 4},
    {TW_CKSUM_CRC64NVME, "CRC64NVME", "x-amz-checksum-crc64nvme", 8},
    {TW_CKSUM_SHA1, "SHA1", "x-amz-checksum-sha1", 20},
    {TW_CKSUM_SHA256, "SHA256", "x-amz-checksum-sha256", 32},
};
#define NALGS (sizeof ALGS / sizeof ALGS[0])

tw_cksum_alg tw_cksum_alg_parse(const char *s) {
  if (!s) return TW_CKSUM_NONE;
  for (size_t i = 0; i < NALGS; i++)
    if (!strcasecmp(s, ALGS[i].name) || !strcasecmp(s, ALGS[i].header)) return ALGS[i].alg;
  return TW_CKSUM_NONE;
}

const char *tw_cksum_alg_name(tw_cksum_alg a) {
  for (size_t i = 0; i < NALGS; i++)
    if (ALGS[i].alg == a) return ALGS[i].name;
  return NULL;
}

const char *tw_cksum_header(tw_cksum_alg a) {
  for (size_t i = 0; i < NALGS; i++)
    if (ALGS[i].alg == a) return ALGS[i].header;
  return NULL;
}

size_t tw_cksum_raw_len(tw_cksum_alg a) {
  for (size_t i = 0; i < NALGS; i++)
    if (ALGS[i].alg == a) return ALGS[i].raw;
  return 0;
}

/* ---------- streaming ---------- */

/* Fetched once: an implicit fetch per init takes a lock in the provider store. */
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha1, *md_sha256;

static void md_fetch(void) {
  md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
  md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int tw_cksum_init(tw_cksum *c, tw_cksum_alg alg) {
  memset(c, 0, sizeof *c);
  if (alg == TW_CKSUM_SHA1 || alg == TW_CKSUM_SHA256) {
    pthread_once(&md_once, md_fetch);
    const EVP_MD *md = alg == TW_CKSUM_SHA1 ? md_sha1 : md_sha256;
    EVP_MD_CTX *ctx = md ? EVP_MD_CTX_new() : NULL;
    if (!ctx) return -1;
    if (!EVP_DigestInit_ex(ctx, md, NULL)) {
      EVP_MD_CTX_free(ctx);
      return -1;
    }
    c->md = ctx;
  } else if (alg != TW_CKSUM_CRC32 && alg != TW_CKSUM_CRC32C && alg != TW_CKSUM_CRC64NVME) {
    return -1;
  }
  c->alg = alg;
  return 0;
}

void tw_cksum_update(tw_cksum *c, const void *data, size_t n) {
  if (!n) return;
  switch (c->alg) {
    case TW_CKSUM_CRC32:
      c->crc = tw_crc32_update((uint32_t)c->crc, data, n);
      break;
    case TW_CKSUM_CRC32C:
      c->crc = tw_crc32c_update((uint32_t)c->crc, data, n);
      break;
    case TW_CKSUM_CRC64NVME:
      c->crc = tw_crc64nvme_update(c->crc, data, n);
      break;
    case TW_CKSUM_SHA1:
    case TW_CKSUM_SHA256:
      if (!EVP_DigestUpdate(c->md, data, n)) abort();
      break;
    default:
      break;
  }
}

size_t tw_cksum_final(tw_cksum *c, uint8_t out[TW_CKSUM_MAX_RAW]) {
  size_t n = tw_cksum_raw_len(c->alg);
  if (c->md) {
    unsigned int len = 0;
    if (!EVP_DigestFinal_ex(c->md, out, &len)) abort();
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
    return len;
  }
  for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(c->crc >> (8 * (n - 1 - i)));
  return n;
}

size_t tw_cksum_final_b64(tw_cksum *c, char out[TW_CKSUM_MAX_B64]) {
  uint8_t raw[TW_CKSUM_MAX_RAW];
  size_t n = tw_cksum_final(c, raw);
  if (!n) {
    out[0] = '\0';
    return 0;
  }
  return tw_base64_encode(raw, n, out);
}

void tw_cksum_free(tw_cksum *c) {
  if (c->md) EVP_MD_CTX_free(c->md);
  c->md = NULL;
}

size_t tw_cksum_b64(tw_cksum_alg alg, const void *data, size_t n, char out[TW_CKSUM_MAX_B64]) {
  tw_cksum c;
  out[0] = '\0';
  if (tw_cksum_init(&c, alg)) return 0;
  tw_cksum_update(&c, data, n);
  return tw_cksum_final_b64(&c, out);
}
