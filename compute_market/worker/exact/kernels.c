/* gradchain exact-mode kernels (kernel set "gradchain-exact", version in native.py).
 *
 * Every floating-point result that reaches a training state is computed here, in an order fixed by this
 * source and with IEEE-754 operations only:
 *  - every reduction is a left-to-right loop over its index, starting from +0.0f;
 *  - the GEMM's accumulation acc = fma(a, b, acc) is a fused multiply-add, written explicitly (vector
 *    `_mm256_fmadd_ps` and scalar `__builtin_fmaf`, both one IEEE-754 fusedMultiplyAdd) on every path of
 *    the kernel, so an element's bits never depend on which path computed it; everywhere else a*b + c is
 *    a rounded multiply then a rounded add (built with -ffp-contract=off, so the compiler never fuses on
 *    its own, and without -ffast-math, so it may not reassociate);
 *  - exp and log are this file's own formulas (range reduction and fixed polynomials in double
 *    precision, rounded once to float); sqrt is the IEEE-754 correctly rounded square root; no libm;
 *  - every entry point runs with MXCSR at its default (round to nearest, no flush-to-zero or
 *    denormals-are-zero), whatever the caller set, and restores the caller's value on return;
 *  - a kernel's [lo, hi) range is a range of output elements (rows, columns, planes): callers split work
 *    between threads only over output elements, so N threads produce the bits of one.
 * SIMD (AVX2 vectors of 8 floats) only ever works on 8 independent output elements at once, so the
 * vector width changes speed, never bits. */
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

typedef int64_t i64;
typedef float v8f __attribute__((vector_size(32)));

#define FPENV_ENTER unsigned int saved_csr_ = _mm_getcsr(); _mm_setcsr(0x1F80u)
#define FPENV_LEAVE _mm_setcsr(saved_csr_)

static inline v8f load8(const float *p) { v8f v; memcpy(&v, p, sizeof v); return v; }
static inline void store8(float *p, v8f v) { memcpy(p, &v, sizeof v); }
static inline v8f splat8(float x) { return (v8f){x, x, x, x, x, x, x, x}; }

int gx_abi_version(void) { return 3; }

/* Sets MXCSR to its default on the calling thread (exact mode pins the training thread with it). */
void gx_reset_fpenv(void) { _mm_setcsr(0x1F80u); }

/* ---------------------------------------------------------------------------------------------------
 * GEMM: C[b, i, j] = (sum_k A[b, i, k] * B[b, k, j]) * alpha + bias
 *   A is addressed through strides (so transposed views need no copy); B rows are contiguous (row stride
 *   sbk); C is contiguous [batch, M, N]. bias_mode 0: none, 1: bias[j] (per column), 2: bias[i] (per row).
 *   The range [lo, hi) runs over the batch*M output rows.
 * The sum for one element is acc = +0.0f; for k = 0..K-1: acc = fma(A, B, acc) (one rounding per k), then
 * v = acc * alpha, then v = v + bias (two roundings, never fused). The 4x32, 4x16, 8-wide and scalar paths
 * perform exactly that sequence for every element, whichever runs it.
 * K is cut into blocks of GEMM_KC so that a block of B stays in cache while every row tile of the range
 * reads it. Between blocks the running sums wait in C as floats, which changes no bit: the next block
 * continues each element's sequence from the same float. Only the last block applies alpha and bias. */
#define GEMM_KC 256

static inline v8f fma8(v8f a, v8f b, v8f c) { return (v8f)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c); }

static inline float finish(float acc, float alpha, const float *bias, int mode, i64 i, i64 j) {
    float v = acc * alpha;
    if (mode == 1) v = v + bias[j];
    else if (mode == 2) v = v + bias[i];
    return v;
}

/* The 8 elements of row i at columns j..j+7: the running sums (not last) or finished values (last). */
static inline void put8(float *dst, v8f acc, int last, float alpha, const float *bias, int mode, i64 i, i64 j) {
    if (last) {
        acc = acc * splat8(alpha);
        if (mode == 1) acc = acc + load8(bias + j);
        else if (mode == 2) acc = acc + splat8(bias[i]);
    }
    store8(dst, acc);
}

static inline v8f get8(const float *src, int first) { return first ? splat8(0.0f) : load8(src); }

__attribute__((target("avx512f")))
static inline void put16(float *dst, __m512 acc, int last, float alpha, const float *bias, int mode, i64 i,
                         i64 j) {
    if (last) {
        acc = _mm512_mul_ps(acc, _mm512_set1_ps(alpha));
        if (mode == 1) acc = _mm512_add_ps(acc, _mm512_loadu_ps(bias + j));
        else if (mode == 2) acc = _mm512_add_ps(acc, _mm512_set1_ps(bias[i]));
    }
    _mm512_storeu_ps(dst, acc);
}

__attribute__((target("avx512f")))
static inline __m512 get16(const float *src, int first) { return first ? _mm512_setzero_ps() : _mm512_loadu_ps(src); }

/* The 4x32 tile in AVX-512 registers, used when the CPU has AVX-512F: the same fused sequence per element
 * as the AVX2 tile below (only more elements at once), so the bits do not depend on which tile ran.
 * Returns the first column it did not cover. */
__attribute__((target("avx512f")))
static i64 gemm_rows4_avx512(i64 N, i64 K, const float *a0, i64 sam, i64 sak, const float *Bb, i64 sbk,
                             float *c, float alpha, const float *bias, int bias_mode, i64 i, int first,
                             int last) {
    const float *a1 = a0 + sam, *a2 = a1 + sam, *a3 = a2 + sam;
    float *r0 = c, *r1 = c + N, *r2 = r1 + N, *r3 = r2 + N;
    i64 j = 0;
    for (; j + 32 <= N; j += 32) {
        __m512 c00 = get16(r0 + j, first), c01 = get16(r0 + j + 16, first);
        __m512 c10 = get16(r1 + j, first), c11 = get16(r1 + j + 16, first);
        __m512 c20 = get16(r2 + j, first), c21 = get16(r2 + j + 16, first);
        __m512 c30 = get16(r3 + j, first), c31 = get16(r3 + j + 16, first);
        const float *bk = Bb + j;
        for (i64 k = 0; k < K; k++, bk += sbk) {
            __m512 b0 = _mm512_loadu_ps(bk), b1 = _mm512_loadu_ps(bk + 16);
            __m512 x0 = _mm512_set1_ps(a0[k * sak]), x1 = _mm512_set1_ps(a1[k * sak]);
            __m512 x2 = _mm512_set1_ps(a2[k * sak]), x3 = _mm512_set1_ps(a3[k * sak]);
            c00 = _mm512_fmadd_ps(x0, b0, c00); c01 = _mm512_fmadd_ps(x0, b1, c01);
            c10 = _mm512_fmadd_ps(x1, b0, c10); c11 = _mm512_fmadd_ps(x1, b1, c11);
            c20 = _mm512_fmadd_ps(x2, b0, c20); c21 = _mm512_fmadd_ps(x2, b1, c21);
            c30 = _mm512_fmadd_ps(x3, b0, c30); c31 = _mm512_fmadd_ps(x3, b1, c31);
        }
        put16(r0 + j, c00, last, alpha, bias, bias_mode, i, j);
        put16(r0 + j + 16, c01, last, alpha, bias, bias_mode, i, j + 16);
        put16(r1 + j, c10, last, alpha, bias, bias_mode, i + 1, j);
        put16(r1 + j + 16, c11, last, alpha, bias, bias_mode, i + 1, j + 16);
        put16(r2 + j, c20, last, alpha, bias, bias_mode, i + 2, j);
        put16(r2 + j + 16, c21, last, alpha, bias, bias_mode, i + 2, j + 16);
        put16(r3 + j, c30, last, alpha, bias, bias_mode, i + 3, j);
        put16(r3 + j + 16, c31, last, alpha, bias, bias_mode, i + 3, j + 16);
    }
    return j;
}

static int use_avx512 = -1;  /* -1: not asked yet */

/* Tests only: 0 keeps the GEMM on its AVX2 tiles even on an AVX-512 CPU, 1 asks the CPU again, so one
 * machine can compare both tiles bit for bit. */
void gx_set_wide_tiles(int on) {
    if (on) {
        __builtin_cpu_init();
        use_avx512 = __builtin_cpu_supports("avx512f") ? 1 : 0;
    } else {
        use_avx512 = 0;
    }
}

/* Rows [lo, hi) over one K block (A and B already offset to the block's first k). */
static void gemm_block(i64 M, i64 N, i64 K, const float *A, i64 sab, i64 sam, i64 sak, const float *B,
                       i64 sbb, i64 sbk, float *C, float alpha, const float *bias, int bias_mode, i64 lo,
                       i64 hi, int first, int last) {
    i64 r = lo, b = lo / M, i = lo % M;
    while (r < hi) {
        i64 rows = M - i < hi - r ? M - i : hi - r;
        if (rows > 4) rows = 4;
        const float *Ab = A + b * sab, *Bb = B + b * sbb;
        float *Cb = C + b * M * N;
        i64 j = 0;
        if (rows == 4) {
            const float *a0 = Ab + i * sam, *a1 = a0 + sam, *a2 = a1 + sam, *a3 = a2 + sam;
            float *r0 = Cb + i * N, *r1 = r0 + N, *r2 = r1 + N, *r3 = r2 + N;
            if (use_avx512)
                j = gemm_rows4_avx512(N, K, a0, sam, sak, Bb, sbk, r0, alpha, bias, bias_mode, i, first, last);
            for (; j + 16 <= N; j += 16) {
                v8f c00 = get8(r0 + j, first), c01 = get8(r0 + j + 8, first);
                v8f c10 = get8(r1 + j, first), c11 = get8(r1 + j + 8, first);
                v8f c20 = get8(r2 + j, first), c21 = get8(r2 + j + 8, first);
                v8f c30 = get8(r3 + j, first), c31 = get8(r3 + j + 8, first);
                const float *bk = Bb + j;
                for (i64 k = 0; k < K; k++, bk += sbk) {
                    v8f b0 = load8(bk), b1 = load8(bk + 8);
                    v8f x0 = splat8(a0[k * sak]), x1 = splat8(a1[k * sak]);
                    v8f x2 = splat8(a2[k * sak]), x3 = splat8(a3[k * sak]);
                    c00 = fma8(x0, b0, c00); c01 = fma8(x0, b1, c01);
                    c10 = fma8(x1, b0, c10); c11 = fma8(x1, b1, c11);
                    c20 = fma8(x2, b0, c20); c21 = fma8(x2, b1, c21);
                    c30 = fma8(x3, b0, c30); c31 = fma8(x3, b1, c31);
                }
                put8(r0 + j, c00, last, alpha, bias, bias_mode, i, j);
                put8(r0 + j + 8, c01, last, alpha, bias, bias_mode, i, j + 8);
                put8(r1 + j, c10, last, alpha, bias, bias_mode, i + 1, j);
                put8(r1 + j + 8, c11, last, alpha, bias, bias_mode, i + 1, j + 8);
                put8(r2 + j, c20, last, alpha, bias, bias_mode, i + 2, j);
                put8(r2 + j + 8, c21, last, alpha, bias, bias_mode, i + 2, j + 8);
                put8(r3 + j, c30, last, alpha, bias, bias_mode, i + 3, j);
                put8(r3 + j + 8, c31, last, alpha, bias, bias_mode, i + 3, j + 8);
            }
        }
        for (i64 q = 0; q < rows; q++) {
            const float *a = Ab + (i + q) * sam;
            float *row = Cb + (i + q) * N;
            i64 jj = j;
            for (; jj + 8 <= N; jj += 8) {
                v8f c = get8(row + jj, first);
                const float *bk = Bb + jj;
                for (i64 k = 0; k < K; k++, bk += sbk) c = fma8(splat8(a[k * sak]), load8(bk), c);
                put8(row + jj, c, last, alpha, bias, bias_mode, i + q, jj);
            }
            for (; jj < N; jj++) {
                float c = first ? 0.0f : row[jj];
                for (i64 k = 0; k < K; k++) c = __builtin_fmaf(a[k * sak], Bb[k * sbk + jj], c);
                row[jj] = last ? finish(c, alpha, bias, bias_mode, i + q, jj) : c;
            }
        }
        r += rows;
        i += rows;
        if (i == M) i = 0, b++;
    }
}

void gx_gemm(i64 M, i64 N, i64 K,
             const float *A, i64 sab, i64 sam, i64 sak,
             const float *B, i64 sbb, i64 sbk,
             float *C, float alpha, const float *bias, int bias_mode, i64 lo, i64 hi) {
    FPENV_ENTER;
    if (use_avx512 < 0) gx_set_wide_tiles(1);
    if (K == 0) {
        gemm_block(M, N, 0, A, sab, sam, sak, B, sbb, sbk, C, alpha, bias, bias_mode, lo, hi, 1, 1);
    }
    for (i64 k0 = 0; k0 < K; k0 += GEMM_KC) {
        i64 kn = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
        gemm_block(M, N, kn, A + k0 * sak, sab, sam, sak, B + k0 * sbk, sbb, sbk, C, alpha, bias, bias_mode,
                   lo, hi, k0 == 0, k0 + kn == K);
    }
    FPENV_LEAVE;
}

/* out[j] = sum_i X[i, j] (X rows contiguous, row stride N), columns [lo, hi). */
void gx_colsum(i64 rows, i64 N, const float *X, float *out, i64 lo, i64 hi) {
    FPENV_ENTER;
    i64 j = lo;
    for (; j + 8 <= hi; j += 8) {
        v8f c = splat8(0.0f);
        for (i64 i = 0; i < rows; i++) c = c + load8(X + i * N + j);
        store8(out + j, c);
    }
    for (; j < hi; j++) {
        float c = 0.0f;
        for (i64 i = 0; i < rows; i++) c = c + X[i * N + j];
        out[j] = c;
    }
    FPENV_LEAVE;
}

/* out[j] = sum_i X[i, j] * Y[i, j], columns [lo, hi) (LayerNorm's weight gradient). */
void gx_colsum_prod(i64 rows, i64 N, const float *X, const float *Y, float *out, i64 lo, i64 hi) {
    FPENV_ENTER;
    i64 j = lo;
    for (; j + 8 <= hi; j += 8) {
        v8f c = splat8(0.0f);
        for (i64 i = 0; i < rows; i++) c = c + load8(X + i * N + j) * load8(Y + i * N + j);
        store8(out + j, c);
    }
    for (; j < hi; j++) {
        float c = 0.0f;
        for (i64 i = 0; i < rows; i++) c = c + X[i * N + j] * Y[i * N + j];
        out[j] = c;
    }
    FPENV_LEAVE;
}

/* out[i] = sum_j X[i, j], rows [lo, hi) (a convolution's bias gradient over [Cout, N*H*W]). */
void gx_rowsum(i64 N, const float *X, float *out, i64 lo, i64 hi) {
    FPENV_ENTER;
    for (i64 i = lo; i < hi; i++) {
        float c = 0.0f;
        for (i64 j = 0; j < N; j++) c = c + X[i * N + j];
        out[i] = c;
    }
    FPENV_LEAVE;
}

/* ---------------------------------------------------------------------------------------------------
 * exp and log: own formulas, computed in double and rounded once to float. */
static const double LN2_HI = 6.93147180369123816490e-01, LN2_LO = 1.90821492927058770002e-10;
static const double LOG2E = 1.44269504088896338700e+00;

/* Polynomial coefficients, highest power first, each evaluated by `horner` as p = p * x + c in order. */
static const double EXP_TAYLOR[] = {  /* 1/12!, 1/11!, ..., 1/1!, 1/0! */
    1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0,
    1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
static const double LOG_ATANH[] = {  /* 1/19, 1/17, ..., 1/3, 1: atanh(z) / z as a series in z^2 */
    1.0 / 19.0, 1.0 / 17.0, 1.0 / 15.0, 1.0 / 13.0, 1.0 / 11.0, 1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0, 1.0 / 3.0, 1.0};

static inline double horner(double x, const double *c, int n) {
    double p = c[0];
    for (int i = 1; i < n; i++) p = p * x + c[i];
    return p;
}

static inline double pow2i(i64 n) {  /* 2^n for -1022 <= n <= 1023, by construction of the bits */
    uint64_t bits = (uint64_t)(n + 1023) << 52;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static inline float gx_exp(float xf) {
    if (xf != xf) return xf;
    if (xf > 89.0f) return (float)(pow2i(1000) * pow2i(1000));  /* +inf */
    if (xf < -104.0f) return 0.0f;
    double x = (double)xf;
    double t = x * LOG2E;
    double n = (t + 6755399441055744.0) - 6755399441055744.0;  /* round to nearest integer, IEEE only */
    double r = (x - n * LN2_HI) - n * LN2_LO;                    /* |r| <= 0.3466 */
    double p = horner(r, EXP_TAYLOR, sizeof EXP_TAYLOR / sizeof EXP_TAYLOR[0]);  /* Taylor to r^12 */
    return (float)(p * pow2i((i64)n));
}

static inline double gx_log_d(double x) {  /* x > 0 and finite */
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    i64 e = (i64)((bits >> 52) & 0x7ff) - 1023;
    if (e == -1023) {  /* subnormal: scale up by 2^64 exactly */
        double y = x * pow2i(64);
        memcpy(&bits, &y, sizeof bits);
        e = (i64)((bits >> 52) & 0x7ff) - 1023 - 64;
    }
    bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
    double m;
    memcpy(&m, &bits, sizeof m);          /* m in [1, 2) */
    if (m > 1.4142135623730951) { m = m * 0.5; e = e + 1; }
    double z = (m - 1.0) / (m + 1.0);      /* |z| <= 0.1716 */
    double z2 = z * z;
    double s = horner(z2, LOG_ATANH, sizeof LOG_ATANH / sizeof LOG_ATANH[0]);  /* 2 atanh(z) = 2 z s */
    double de = (double)e;
    return (de * LN2_HI + (2.0 * z) * s) + de * LN2_LO;
}

static inline float gx_log(float x) {
    if (x != x) return x;
    if (x <= 0.0f) return x == 0.0f ? -(float)(pow2i(1000) * pow2i(1000)) : (x - x) / (x - x);
    if (x > 3.4028234e38f) return x;
    return (float)gx_log_d((double)x);
}

/* gx_exp on 4 lanes at once: per lane exactly gx_exp's operations (the same double multiplies, adds and
 * subtractions in the same order, the same exact integer scaling and the same one rounding to float), so
 * each lane's bits are gx_exp's. Lanes outside [-104, 89] or NaN are computed on a clamped input and then
 * replaced by gx_exp's special values. */
static inline __m128 gx_exp4(__m128 xf) {
    __m128 nan = _mm_cmpunord_ps(xf, xf);
    __m128 big = _mm_cmpgt_ps(xf, _mm_set1_ps(89.0f)), tiny = _mm_cmplt_ps(xf, _mm_set1_ps(-104.0f));
    __m256d x = _mm256_cvtps_pd(_mm_min_ps(_mm_max_ps(xf, _mm_set1_ps(-104.0f)), _mm_set1_ps(89.0f)));
    __m256d t = _mm256_mul_pd(x, _mm256_set1_pd(LOG2E));
    __m256d shifter = _mm256_set1_pd(6755399441055744.0);
    __m256d n = _mm256_sub_pd(_mm256_add_pd(t, shifter), shifter);
    __m256d r = _mm256_sub_pd(_mm256_sub_pd(x, _mm256_mul_pd(n, _mm256_set1_pd(LN2_HI))),
                              _mm256_mul_pd(n, _mm256_set1_pd(LN2_LO)));
    const int terms = sizeof EXP_TAYLOR / sizeof EXP_TAYLOR[0];
    __m256d p = _mm256_set1_pd(EXP_TAYLOR[0]);
    for (int i = 1; i < terms; i++) p = _mm256_add_pd(_mm256_mul_pd(p, r), _mm256_set1_pd(EXP_TAYLOR[i]));
    __m256i e = _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n)), _mm256_set1_epi64x(1023));
    __m128 y = _mm256_cvtpd_ps(_mm256_mul_pd(p, _mm256_castsi256_pd(_mm256_slli_epi64(e, 52))));
    y = _mm_blendv_ps(y, _mm_set1_ps((float)(pow2i(1000) * pow2i(1000))), big);
    y = _mm_blendv_ps(y, _mm_setzero_ps(), tiny);
    return _mm_blendv_ps(y, xf, nan);
}

/* y[j] = gx_exp(x[j] - m) for j < n (the subtraction rounded to float first, as in the scalar form). */
static inline void exp_shifted(i64 n, const float *x, float m, float *y) {
    i64 j = 0;
    for (; j + 4 <= n; j += 4) _mm_storeu_ps(y + j, gx_exp4(_mm_sub_ps(_mm_loadu_ps(x + j), _mm_set1_ps(m))));
    for (; j < n; j++) y[j] = gx_exp(x[j] - m);
}

void gx_exp_array(i64 n, const float *x, float *y) {
    FPENV_ENTER;
    i64 i = 0;
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(y + i, gx_exp4(_mm_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = gx_exp(x[i]);
    FPENV_LEAVE;
}
void gx_log_array(i64 n, const float *x, float *y) { FPENV_ENTER; for (i64 i = 0; i < n; i++) y[i] = gx_log(x[i]); FPENV_LEAVE; }

/* ---------------------------------------------------------------------------------------------------
 * Softmax over rows of length n: m = max, e = exp(x - m), s = sum e (in order), y = e / s. */
static inline float softmax_row(i64 n, const float *x, float *y, float *sum_out) {
    float m = x[0];
    for (i64 j = 1; j < n; j++) m = x[j] > m ? x[j] : m;
    exp_shifted(n, x, m, y);
    float s = 0.0f;
    for (i64 j = 0; j < n; j++) s = s + y[j];
    i64 j = 0;
    for (; j + 8 <= n; j += 8) store8(y + j, load8(y + j) / splat8(s));
    for (; j < n; j++) y[j] = y[j] / s;
    if (sum_out) *sum_out = s;
    return m;
}

void gx_softmax(i64 n, const float *X, float *Y, i64 lo, i64 hi) {
    FPENV_ENTER;
    for (i64 r = lo; r < hi; r++) softmax_row(n, X + r * n, Y + r * n, NULL);
    FPENV_LEAVE;
}

/* dX = Y * (dY - sum_j Y dY), per row. */
void gx_softmax_bwd(i64 n, const float *Y, const float *dY, float *dX, i64 lo, i64 hi) {
    FPENV_ENTER;
    for (i64 r = lo; r < hi; r++) {
        const float *y = Y + r * n, *dy = dY + r * n;
        float *dx = dX + r * n;
        float dot = 0.0f;
        for (i64 j = 0; j < n; j++) dot = dot + y[j] * dy[j];
        for (i64 j = 0; j < n; j++) dx[j] = y[j] * (dy[j] - dot);
    }
    FPENV_LEAVE;
}

/* Cross-entropy per row with label smoothing eps (0: none): lse = m + log(sum exp(x - m));
 * nll = lse - x[label]; loss[r] = nll when eps == 0, else
 * loss[r] = keep * nll + eps * (smooth / n) with smooth = sum_j (lse - x[j]) from j = 0 (each term rounded,
 * then added) and keep = 1 - eps (rounded to float by the caller). P holds the softmax for the backward
 * pass. Labels were range-checked at the edge (datasets.py). */
void gx_xent(i64 n, const float *X, const i64 *labels, float *loss, float *P, float eps, float keep, i64 lo,
             i64 hi) {
    FPENV_ENTER;
    float fn = (float)n;
    for (i64 r = lo; r < hi; r++) {
        const float *x = X + r * n;
        float s;
        float m = softmax_row(n, x, P + r * n, &s);
        float lse = m + gx_log(s);
        float nll = lse - x[labels[r]];
        if (eps != 0.0f) {
            float smooth = 0.0f;
            for (i64 j = 0; j < n; j++) smooth = smooth + (lse - x[j]);
            nll = keep * nll + eps * (smooth / fn);
        }
        loss[r] = nll;
    }
    FPENV_LEAVE;
}

/* dX = (P - t) * scale with the target t = on at the label and off elsewhere (on = 1 - eps + eps / n and
 * off = eps / n, computed in double and rounded once to float by the caller: 1 and 0 without smoothing),
 * and scale = upstream gradient / rows. */
void gx_xent_bwd(i64 n, const float *P, const i64 *labels, float on, float off, float scale, float *dX, i64 lo,
                 i64 hi) {
    FPENV_ENTER;
    for (i64 r = lo; r < hi; r++) {
        for (i64 j = 0; j < n; j++) {
            float t = j == labels[r] ? on : off;
            dX[r * n + j] = (P[r * n + j] - t) * scale;
        }
    }
    FPENV_LEAVE;
}

/* sum of x[0..n-1] in order, divided by `divisor` (the mean of per-row losses). */
float gx_sum_div(i64 n, const float *x, float divisor) {
    FPENV_ENTER;
    float s = 0.0f;
    for (i64 i = 0; i < n; i++) s = s + x[i];
    s = s / divisor;
    FPENV_LEAVE;
    return s;
}

/* ---------------------------------------------------------------------------------------------------
 * Regression and multi-label losses over rows of n outputs against float32 targets T of the same shape.
 * Each kernel writes one loss per row (a sum over the row's outputs from j = 0, from +0.0f) for gx_sum_div
 * to add in row order, and what the backward pass needs; the range [lo, hi) runs over rows.
 *
 * Squared error (huber == 0): d = x - t (saved in D), loss[r] = sum_j d * d.
 * Huber (huber == 1, delta > 0): d = x - t, a = |d|; the element's loss is half * (d * d) when a < delta,
 * else delta * (a - half_delta) (half = 0.5f, half_delta = 0.5 * delta rounded once by the caller). */
void gx_residual(i64 n, const float *X, const float *T, float *loss, float *D, int huber, float delta,
                 float half_delta, i64 lo, i64 hi) {
    FPENV_ENTER;
    for (i64 r = lo; r < hi; r++) {
        float s = 0.0f;
        for (i64 j = 0; j < n; j++) {
            float d = X[r * n + j] - T[r * n + j];
            D[r * n + j] = d;
            float e;
            if (!huber) e = d * d;
            else {
                float a = d < 0.0f ? -d : d;
                e = a < delta ? 0.5f * (d * d) : delta * (a - half_delta);
            }
            s = s + e;
        }
        loss[r] = s;
    }
    FPENV_LEAVE;
}

/* dX = v * scale with v = d (squared error; scale = 2 * upstream / count) or v = d clamped to
 * [-delta, delta] (Huber; scale = upstream / count), the scale computed in double and rounded once by the
 * caller. */
void gx_residual_bwd(i64 n, const float *D, int huber, float delta, float scale, float *dX, i64 lo, i64 hi) {
    FPENV_ENTER;
    for (i64 r = lo; r < hi; r++)
        for (i64 j = 0; j < n; j++) {
            float v = D[r * n + j];
            if (huber) v = v > delta ? delta : (v < -delta ? -delta : v);
            dX[r * n + j] = v * scale;
        }
    FPENV_LEAVE;
}

/* Binary cross-entropy with logits, per element, in the stable form
 *   loss = (max(x, 0) - x * t) + softplus(-|x|),  softplus(-|x|) = (float) log_d(1.0 + (double) e),
 * e = gx_exp(-|x|) in (0, 1]: log_d is this file's double log, taken of 1 + e in double (one rounding),
 * then rounded once to float; with t in {0, 1}, max(x, 0) - x * t is exact. P receives the sigmoid,
 * (float)(1.0 / (1.0 + e)) for x >= 0 and (float)(e / (1.0 + e)) below, each in double and rounded once. */
void gx_bce(i64 n, const float *X, const float *T, float *loss, float *P, i64 lo, i64 hi) {
    FPENV_ENTER;
    for (i64 r = lo; r < hi; r++) {
        float s = 0.0f;
        for (i64 j = 0; j < n; j++) {
            float x = X[r * n + j], t = T[r * n + j];
            float a = x < 0.0f ? -x : x;
            double e = (double)gx_exp(-a);
            double one_e = 1.0 + e;
            float softplus = (float)gx_log_d(one_e);
            P[r * n + j] = (float)(x >= 0.0f ? 1.0 / one_e : e / one_e);
            float pos = x > 0.0f ? x : 0.0f;
            s = s + ((pos - x * t) + softplus);
        }
        loss[r] = s;
    }
    FPENV_LEAVE;
}

/* dX = (P - T) * scale, scale = upstream / count (rounded once by the caller). */
void gx_bce_bwd(i64 n, const float *P, const float *T, float scale, float *dX, i64 lo, i64 hi) {
    FPENV_ENTER;
    for (i64 r = lo; r < hi; r++)
        for (i64 j = 0; j < n; j++) dX[r * n + j] = (P[r * n + j] - T[r * n + j]) * scale;
    FPENV_LEAVE;
}

/* ---------------------------------------------------------------------------------------------------
 * LayerNorm over rows of length d: mean = sum x / d; var = sum (x - mean)^2 / d;
 * rstd = 1 / sqrt(var + eps); xhat = (x - mean) * rstd; y = xhat * w + b. */
void gx_layernorm(i64 d, const float *X, const float *w, const float *b, float eps, float *Y, float *Xhat,
                  float *rstd, i64 lo, i64 hi) {
    FPENV_ENTER;
    float fd = (float)d;
    for (i64 r = lo; r < hi; r++) {
        const float *x = X + r * d;
        float s = 0.0f;
        for (i64 j = 0; j < d; j++) s = s + x[j];
        float mean = s / fd;
        float v = 0.0f;
        for (i64 j = 0; j < d; j++) { float c = x[j] - mean; v = v + c * c; }
        float rs = 1.0f / __builtin_sqrtf(v / fd + eps);
        rstd[r] = rs;
        for (i64 j = 0; j < d; j++) {
            float xh = (x[j] - mean) * rs;
            Xhat[r * d + j] = xh;
            Y[r * d + j] = xh * w[j] + b[j];
        }
    }
    FPENV_LEAVE;
}

/* dx = rstd * ((g - sum(g) / d) - xhat * (sum(g * xhat) / d)), g = dy * w. */
void gx_layernorm_bwd(i64 d, const float *dY, const float *w, const float *Xhat, const float *rstd, float *dX,
                      i64 lo, i64 hi) {
    FPENV_ENTER;
    float fd = (float)d;
    for (i64 r = lo; r < hi; r++) {
        const float *dy = dY + r * d, *xh = Xhat + r * d;
        float sg = 0.0f, sgx = 0.0f;
        for (i64 j = 0; j < d; j++) { float g = dy[j] * w[j]; sg = sg + g; sgx = sgx + g * xh[j]; }
        float mg = sg / fd, mgx = sgx / fd;
        for (i64 j = 0; j < d; j++) {
            float g = dy[j] * w[j];
            dX[r * d + j] = rstd[r] * ((g - mg) - xh[j] * mgx);
        }
    }
    FPENV_LEAVE;
}

/* ---------------------------------------------------------------------------------------------------
 * Mean over the middle axis: Y[a, c] = (sum_t X[a, t, c]) / T, outputs [lo, hi) over a*C. */
void gx_seqmean(i64 T, i64 Cn, const float *X, float *Y, i64 lo, i64 hi) {
    FPENV_ENTER;
    float ft = (float)T;
    for (i64 o = lo; o < hi; o++) {
        i64 a = o / Cn, c = o % Cn;
        float s = 0.0f;
        for (i64 t = 0; t < T; t++) s = s + X[(a * T + t) * Cn + c];
        Y[o] = s / ft;
    }
    FPENV_LEAVE;
}

/* dX[a, t, c] = dY[a, c] / T, outputs [lo, hi) over a*T*C. */
void gx_seqmean_bwd(i64 T, i64 Cn, const float *dY, float *dX, i64 lo, i64 hi) {
    FPENV_ENTER;
    float ft = (float)T;
    for (i64 o = lo; o < hi; o++) {
        i64 c = o % Cn, a = o / (T * Cn);
        dX[o] = dY[a * Cn + c] / ft;
    }
    FPENV_LEAVE;
}

/* ---------------------------------------------------------------------------------------------------
 * Embedding gradient: dW[idx[i], c] += dY[i, c] for i = 0..n-1 in order; dW starts zeroed. The range is
 * over the d columns, so each gradient element sees every index in the same order on every split. */
void gx_embedding_bwd(i64 n, i64 d, const i64 *idx, const float *dY, float *dW, i64 lo, i64 hi) {
    FPENV_ENTER;
    for (i64 i = 0; i < n; i++) {
        float *row = dW + idx[i] * d;
        const float *g = dY + i * d;
        for (i64 c = lo; c < hi; c++) row[c] = row[c] + g[c];
    }
    FPENV_LEAVE;
}

/* ---------------------------------------------------------------------------------------------------
 * Convolution helpers (stride 1, same padding p = k / 2). cols is [C*k*k, N*H*W]: row (c, ki, kj),
 * column (n, h, w) holds x[n, c, h + ki - p, w + kj - p], or 0 outside the image. Pure copies. */
void gx_im2col(i64 N, i64 Cc, i64 H, i64 W, i64 k, const float *X, float *cols, i64 lo, i64 hi) {
    i64 p = k / 2, HW = H * W, NHW = N * HW;
    for (i64 row = lo; row < hi; row++) {
        i64 c = row / (k * k), ki = (row / k) % k, kj = row % k;
        float *out = cols + row * NHW;
        for (i64 n = 0; n < N; n++)
            for (i64 h = 0; h < H; h++) {
                i64 y = h + ki - p;
                for (i64 w = 0; w < W; w++) {
                    i64 x = w + kj - p;
                    out[n * HW + h * W + w] = (y >= 0 && y < H && x >= 0 && x < W) ? X[((n * Cc + c) * H + y) * W + x] : 0.0f;
                }
            }
    }
}

/* The adjoint of im2col: dX[n, c, y, x] = sum over (ki, kj) in order of the matching cols entries.
 * The range is over the N*C image planes. */
void gx_col2im(i64 N, i64 Cc, i64 H, i64 W, i64 k, const float *cols, float *dX, i64 lo, i64 hi) {
    FPENV_ENTER;
    i64 p = k / 2, HW = H * W, NHW = N * HW;
    for (i64 plane = lo; plane < hi; plane++) {
        i64 n = plane / Cc, c = plane % Cc;
        float *out = dX + plane * HW;
        for (i64 q = 0; q < HW; q++) out[q] = 0.0f;
        for (i64 ki = 0; ki < k; ki++)
            for (i64 kj = 0; kj < k; kj++) {
                const float *in = cols + ((c * k + ki) * k + kj) * NHW + n * HW;
                for (i64 h = 0; h < H; h++) {
                    i64 y = h + ki - p;
                    if (y < 0 || y >= H) continue;
                    for (i64 w = 0; w < W; w++) {
                        i64 x = w + kj - p;
                        if (x >= 0 && x < W) out[y * W + x] = out[y * W + x] + in[h * W + w];
                    }
                }
            }
    }
    FPENV_LEAVE;
}

/* 2x2 max pooling with stride 2 over planes [lo, hi) of H x W (H, W even). The first maximum in the
 * order (0,0), (0,1), (1,0), (1,1) wins; `arg` records it for the backward pass. */
void gx_maxpool2(i64 H, i64 W, const float *X, float *Y, uint8_t *arg, i64 lo, i64 hi) {
    FPENV_ENTER;
    i64 Ho = H / 2, Wo = W / 2;
    for (i64 plane = lo; plane < hi; plane++) {
        const float *x = X + plane * H * W;
        for (i64 i = 0; i < Ho; i++)
            for (i64 j = 0; j < Wo; j++) {
                const float *base = x + (2 * i) * W + 2 * j;
                float cand[4] = {base[0], base[1], base[W], base[W + 1]};
                int best = 0;
                for (int q = 1; q < 4; q++) if (cand[q] > cand[best]) best = q;
                Y[(plane * Ho + i) * Wo + j] = cand[best];
                arg[(plane * Ho + i) * Wo + j] = (uint8_t)best;
            }
    }
    FPENV_LEAVE;
}

void gx_maxpool2_bwd(i64 H, i64 W, const float *dY, const uint8_t *arg, float *dX, i64 lo, i64 hi) {
    i64 Ho = H / 2, Wo = W / 2;
    for (i64 plane = lo; plane < hi; plane++) {
        float *dx = dX + plane * H * W;
        for (i64 q = 0; q < H * W; q++) dx[q] = 0.0f;
        for (i64 i = 0; i < Ho; i++)
            for (i64 j = 0; j < Wo; j++) {
                i64 o = (plane * Ho + i) * Wo + j;
                int a = arg[o];
                dx[(2 * i + (a >> 1)) * W + 2 * j + (a & 1)] = dY[o];
            }
    }
}

/* ---------------------------------------------------------------------------------------------------
 * Optimizers over flat parameter tensors, elements [lo, hi). Scalars come precomputed (optim.py). */

/* SGD: d = g + wd * p; buf = first ? d : momentum * buf + d (when momentum != 0); p = p - lr * d_or_buf. */
void gx_sgd(const float *g, float *p, float *buf, float lr, float momentum, float wd, int use_wd,
            int use_momentum, int first, i64 lo, i64 hi) {
    FPENV_ENTER;
    for (i64 i = lo; i < hi; i++) {
        float d = g[i];
        if (use_wd) d = d + wd * p[i];
        if (use_momentum) {
            buf[i] = first ? d : momentum * buf[i] + d;
            d = buf[i];
        }
        p[i] = p[i] - lr * d;
    }
    FPENV_LEAVE;
}

/* The Adam step of element i from gradient gi and parameter pi (both already decayed as the variant says):
 * m = b1 * m + c1 * g; v = b2 * v + (c2 * g) * g; p = p - step_size * (m / (sqrt(v) / bc2_sqrt + eps)). */
static inline void adam_element(float gi, float pi, float *p, float *m, float *v, i64 i, float b1, float c1,
                                float b2, float c2, float step_size, float bc2_sqrt, float eps) {
    float mi = b1 * m[i] + c1 * gi;
    float vi = b2 * v[i] + (c2 * gi) * gi;
    float denom = __builtin_sqrtf(vi) / bc2_sqrt + eps;
    p[i] = pi - step_size * (mi / denom);
    m[i] = mi;
    v[i] = vi;
}

/* AdamW (decoupled weight decay): p = p * decay, then the Adam step with g. */
void gx_adamw(const float *g, float *p, float *m, float *v, float decay, float b1, float c1, float b2,
              float c2, float step_size, float bc2_sqrt, float eps, i64 lo, i64 hi) {
    FPENV_ENTER;
    for (i64 i = lo; i < hi; i++)
        adam_element(g[i], p[i] * decay, p, m, v, i, b1, c1, b2, c2, step_size, bc2_sqrt, eps);
    FPENV_LEAVE;
}

/* Adam (coupled L2 weight decay, torch.optim.Adam): d = g + wd * p (when use_wd), then the Adam step with d
 * on the undecayed p. */
void gx_adam(const float *g, float *p, float *m, float *v, float wd, int use_wd, float b1, float c1, float b2,
             float c2, float step_size, float bc2_sqrt, float eps, i64 lo, i64 hi) {
    FPENV_ENTER;
    for (i64 i = lo; i < hi; i++) {
        float d = use_wd ? g[i] + wd * p[i] : g[i];
        adam_element(d, p[i], p, m, v, i, b1, c1, b2, c2, step_size, bc2_sqrt, eps);
    }
    FPENV_LEAVE;
}

/* ---------------------------------------------------------------------------------------------------
 * Gradient clipping by global norm (optim.py `clip_grad_norm`).
 * Block sums of squares: out[b] = sum over i in [b * block, min((b + 1) * block, n)), from the block's
 * first element up, of (double)x[i] * (double)x[i], from +0.0 in double (the square of a float is exact in
 * double; each add rounds once). The range [lo, hi) runs over blocks, whose boundaries depend on n and
 * `block` alone, so a split over threads changes no sum. */
void gx_sumsq_blocks(i64 n, i64 block, const float *x, double *out, i64 lo, i64 hi) {
    FPENV_ENTER;
    for (i64 b = lo; b < hi; b++) {
        i64 end = (b + 1) * block < n ? (b + 1) * block : n;
        double s = 0.0;
        for (i64 i = b * block; i < end; i++) {
            double d = (double)x[i];
            s = s + d * d;
        }
        out[b] = s;
    }
    FPENV_LEAVE;
}

/* sum of x[0..n-1] in order from +0.0, in double (the block sums of every parameter, in sorted name order). */
double gx_sum_f64(i64 n, const double *x) {
    FPENV_ENTER;
    double s = 0.0;
    for (i64 i = 0; i < n; i++) s = s + x[i];
    FPENV_LEAVE;
    return s;
}

/* x[i] = x[i] * scale, elements [lo, hi) (one rounding each). */
void gx_scale(float *x, float scale, i64 lo, i64 hi) {
    FPENV_ENTER;
    for (i64 i = lo; i < hi; i++) x[i] = x[i] * scale;
    FPENV_LEAVE;
}

/* ---------------------------------------------------------------------------------------------------
 * A persistent pool of worker threads, so a kernel call can be split without a round trip through Python.
 * `gx_split(parts, kernel, total, ints, floats)` cuts [0, total) output elements into `parts` contiguous
 * ranges at total*i/parts and runs one kernel over them on the caller and parts-1 workers: the same ranges,
 * hence (an output element's bits do not depend on who computes it) the same bits as one call.
 * `gx_gemm_split` is the same for the GEMM with its arguments passed directly (the most frequent call).
 * Workers spin for up to SPIN_NS after a task, as kernel calls come in bursts within a training step
 * (waking a sleeping thread costs tens of microseconds on a VM, more than half a small kernel), yielding
 * the core after SPIN_HOT_NS to any thread that wants it, then sleep on a condition variable. */
#define POOL_MAX 64
#define SPIN_NS 2000000   /* a step's kernel calls come within a millisecond or two of each other */
#define SPIN_HOT_NS 20000 /* after this, spin with sched_yield so another thread that wants the core gets it */
#define CALL_INTS 16
#define CALL_FLOATS 8

/* The kernels gx_split can run, in the order of their ids; native.py reads the names (gx_split_kernel). */
#define SPLIT_KERNELS(X) X(gemm) X(colsum) X(colsum_prod) X(rowsum) X(softmax) X(softmax_bwd) X(xent) \
    X(xent_bwd) X(layernorm) X(layernorm_bwd) X(seqmean) X(seqmean_bwd) X(embedding_bwd) X(im2col) \
    X(col2im) X(maxpool2) X(maxpool2_bwd) X(sgd) X(adamw) X(adam) X(sumsq_blocks) X(scale) \
    X(residual) X(residual_bwd) X(bce) X(bce_bwd)
#define KERNEL_ID(name) K_##name,
enum { SPLIT_KERNELS(KERNEL_ID) K_COUNT };
#define KERNEL_NAME(name) "gx_" #name,
static const char *const kernel_names[] = {SPLIT_KERNELS(KERNEL_NAME)};

const char *gx_split_kernel(int id) { return id >= 0 && id < K_COUNT ? kernel_names[id] : NULL; }

/* One kernel call with its range left open: integer and pointer arguments in `i`, float ones in `f`, each
 * in the kernel's parameter order. */
typedef struct { int kernel; i64 i[CALL_INTS]; float f[CALL_FLOATS]; } kernel_call;

#define P(n) ((float *)(intptr_t)c->i[n])
#define CP(n) ((const float *)(intptr_t)c->i[n])
#define IP(n) ((const i64 *)(intptr_t)c->i[n])
static void run_range(const kernel_call *c, i64 lo, i64 hi) {
    const i64 *i = c->i;
    const float *f = c->f;
    switch (c->kernel) {
    case K_gemm: gx_gemm(i[0], i[1], i[2], CP(3), i[4], i[5], i[6], CP(7), i[8], i[9], P(10), f[0], CP(11),
                         (int)i[12], lo, hi); break;
    case K_colsum: gx_colsum(i[0], i[1], CP(2), P(3), lo, hi); break;
    case K_colsum_prod: gx_colsum_prod(i[0], i[1], CP(2), CP(3), P(4), lo, hi); break;
    case K_rowsum: gx_rowsum(i[0], CP(1), P(2), lo, hi); break;
    case K_softmax: gx_softmax(i[0], CP(1), P(2), lo, hi); break;
    case K_softmax_bwd: gx_softmax_bwd(i[0], CP(1), CP(2), P(3), lo, hi); break;
    case K_xent: gx_xent(i[0], CP(1), IP(2), P(3), P(4), f[0], f[1], lo, hi); break;
    case K_xent_bwd: gx_xent_bwd(i[0], CP(1), IP(2), f[0], f[1], f[2], P(3), lo, hi); break;
    case K_layernorm: gx_layernorm(i[0], CP(1), CP(2), CP(3), f[0], P(4), P(5), P(6), lo, hi); break;
    case K_layernorm_bwd: gx_layernorm_bwd(i[0], CP(1), CP(2), CP(3), CP(4), P(5), lo, hi); break;
    case K_seqmean: gx_seqmean(i[0], i[1], CP(2), P(3), lo, hi); break;
    case K_seqmean_bwd: gx_seqmean_bwd(i[0], i[1], CP(2), P(3), lo, hi); break;
    case K_embedding_bwd: gx_embedding_bwd(i[0], i[1], IP(2), CP(3), P(4), lo, hi); break;
    case K_im2col: gx_im2col(i[0], i[1], i[2], i[3], i[4], CP(5), P(6), lo, hi); break;
    case K_col2im: gx_col2im(i[0], i[1], i[2], i[3], i[4], CP(5), P(6), lo, hi); break;
    case K_maxpool2: gx_maxpool2(i[0], i[1], CP(2), P(3), (uint8_t *)(intptr_t)i[4], lo, hi); break;
    case K_maxpool2_bwd: gx_maxpool2_bwd(i[0], i[1], CP(2), (const uint8_t *)(intptr_t)i[3], P(4), lo, hi); break;
    case K_sgd: gx_sgd(CP(0), P(1), P(2), f[0], f[1], f[2], (int)i[3], (int)i[4], (int)i[5], lo, hi); break;
    case K_adamw: gx_adamw(CP(0), P(1), P(2), P(3), f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], lo, hi);
                  break;
    case K_adam: gx_adam(CP(0), P(1), P(2), P(3), f[0], (int)i[4], f[1], f[2], f[3], f[4], f[5], f[6], f[7], lo,
                         hi); break;
    case K_sumsq_blocks: gx_sumsq_blocks(i[0], i[1], CP(2), (double *)(intptr_t)i[3], lo, hi); break;
    case K_scale: gx_scale(P(0), f[0], lo, hi); break;
    case K_residual: gx_residual(i[0], CP(1), CP(2), P(3), P(4), (int)i[5], f[0], f[1], lo, hi); break;
    case K_residual_bwd: gx_residual_bwd(i[0], CP(1), (int)i[2], f[0], f[1], P(3), lo, hi); break;
    case K_bce: gx_bce(i[0], CP(1), CP(2), P(3), P(4), lo, hi); break;
    case K_bce_bwd: gx_bce_bwd(i[0], CP(1), CP(2), f[0], P(3), lo, hi); break;
    }
}
#undef P
#undef CP
#undef IP

/* The pool's state. `job` and `next` change only while no worker is inside a job (`active` == 0), so a
 * worker that wakes late, after the parts it came for were all taken, reads a stable job and leaves. */
static struct {
    pthread_mutex_t mu, run;
    pthread_cond_t wake, done;
    int workers, active, remaining;
    unsigned long generation;
    kernel_call job;
    i64 total;
    int parts, next;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
          PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, {0}, 0, 0, 0};

static i64 now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (i64)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Take and run parts of the current job until none is left; returns how many this thread ran. */
static int run_parts(void) {
    int ran = 0;
    for (;;) {
        int part = __atomic_fetch_add(&pool.next, 1, __ATOMIC_ACQ_REL);
        if (part >= pool.parts) return ran;
        run_range(&pool.job, pool.total * part / pool.parts, pool.total * (part + 1) / pool.parts);
        ran++;
    }
}

static void *pool_worker(void *unused) {
    (void)unused;
    unsigned long seen = 0;
    for (;;) {
        i64 start = now_ns(), now = start;
        while (__atomic_load_n(&pool.generation, __ATOMIC_ACQUIRE) == seen && now - start < SPIN_NS) {
            _mm_pause();
            if (now - start > SPIN_HOT_NS) sched_yield();  /* hand the core to any runnable thread */
            now = now_ns();
        }
        pthread_mutex_lock(&pool.mu);
        while (pool.generation == seen) pthread_cond_wait(&pool.wake, &pool.mu);
        seen = pool.generation;
        pool.active++;
        pthread_mutex_unlock(&pool.mu);
        int ran = run_parts();
        pthread_mutex_lock(&pool.mu);
        pool.active--;
        __atomic_sub_fetch(&pool.remaining, ran, __ATOMIC_ACQ_REL);
        pthread_cond_broadcast(&pool.done);
        pthread_mutex_unlock(&pool.mu);
    }
    return NULL;
}

/* In a child of fork() only the forking thread exists: forget the workers (they are started again). */
static void pool_after_fork(void) {
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t fresh_cond = PTHREAD_COND_INITIALIZER;
    pool.mu = fresh;
    pool.run = fresh;
    pool.wake = fresh_cond;
    pool.done = fresh_cond;
    pool.workers = pool.active = pool.remaining = 0;
}

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static void pool_init(void) { pthread_atfork(NULL, NULL, pool_after_fork); }

/* Runs `call` over [0, total) in `parts` ranges; returns 0, or -1 if a worker thread could not be started
 * (nothing was computed: the caller runs the kernel itself). */
static int split(int parts, const kernel_call *call, i64 total) {
    if (parts > POOL_MAX) parts = POOL_MAX;
    if (parts < 2) {
        run_range(call, 0, total);
        return 0;
    }
    pthread_once(&pool_once, pool_init);
    pthread_mutex_lock(&pool.run);  /* one split call at a time */
    pthread_mutex_lock(&pool.mu);
    while (pool.active > 0) pthread_cond_wait(&pool.done, &pool.mu);  /* a late worker of the last call */
    while (pool.workers < parts - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&t, &attr, pool_worker, NULL);
        pthread_attr_destroy(&attr);
        if (failed) {
            pthread_mutex_unlock(&pool.mu);
            pthread_mutex_unlock(&pool.run);
            return -1;
        }
        pool.workers++;
    }
    pool.job = *call;
    pool.total = total;
    pool.parts = parts;
    pool.next = 0;
    pool.remaining = parts;
    __atomic_add_fetch(&pool.generation, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    int ran = run_parts();
    int left = __atomic_sub_fetch(&pool.remaining, ran, __ATOMIC_ACQ_REL);
    i64 start = now_ns(), now = start;
    while (left > 0 && now - start < SPIN_NS) {
        _mm_pause();
        if (now - start > SPIN_HOT_NS) sched_yield();
        left = __atomic_load_n(&pool.remaining, __ATOMIC_ACQUIRE);
        now = now_ns();
    }
    if (left > 0) {
        pthread_mutex_lock(&pool.mu);
        while (pool.remaining > 0) pthread_cond_wait(&pool.done, &pool.mu);
        pthread_mutex_unlock(&pool.mu);
    }
    pthread_mutex_unlock(&pool.run);
    return 0;
}

/* `kernel` is an id from gx_split_kernel; `ints` and `floats` hold the kernel's arguments before lo, hi. */
int gx_split(int parts, int kernel, i64 total, const i64 *ints, int n_ints, const float *floats, int n_floats) {
    if (kernel < 0 || kernel >= K_COUNT || n_ints < 0 || n_ints > CALL_INTS || n_floats < 0 ||
        n_floats > CALL_FLOATS) return -2;
    kernel_call call = {kernel, {0}, {0}};
    memcpy(call.i, ints, (size_t)n_ints * sizeof *ints);
    memcpy(call.f, floats, (size_t)n_floats * sizeof *floats);
    return split(parts, &call, total);
}

int gx_gemm_split(int parts, i64 M, i64 N, i64 K, const float *A, i64 sab, i64 sam, i64 sak,
                  const float *B, i64 sbb, i64 sbk, float *C, float alpha, const float *bias, int bias_mode,
                  i64 total) {
    kernel_call call = {K_gemm, {M, N, K, (i64)(intptr_t)A, sab, sam, sak, (i64)(intptr_t)B, sbb, sbk,
                                 (i64)(intptr_t)C, (i64)(intptr_t)bias, bias_mode}, {alpha}};
    return split(parts, &call, total);
}
