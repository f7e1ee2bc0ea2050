/*
 * Fused float64 SSIM kernel for lookalike.metrics._ssim_core (private).
 *
 * One call computes the 'valid' SSIM (and optionally the contrast-structure
 * term cs) of a strip of output rows of two 2-D images under a separable
 * window w (taps, float64; correlation, as cv2.sepFilter2D does it):
 *
 *   mu_x, mu_y, E[x^2 + y^2], E[xy]  = w^T (.) w  over the window
 *   SSIM = (2 mu_x mu_y + C1)(2 cov + C2) / ((mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2))
 *   cs   = (2 cov + C2) / (var_x + var_y + C2)
 *
 * with (co)variances scaled by cov_norm, exactly the operations and order of
 * _ssim_core._combine. The strip is processed in tiles of TILE output
 * columns; for a tile a ring of `taps` input rows holds x, y, x^2 + y^2 and
 * xy in float64 (each input row converted once), so one output row needs a
 * vertical pass over the ring (4 rows of the tile), a horizontal pass and the
 * formula, all in L1/L2. Sums of the maps are accumulated per row in
 * BLOCK lanes, then added row by row: the result depends only on the strip
 * and the tile size, never on threads.
 *
 * Floating point: compiled without -ffast-math and with -ffp-contract=off;
 * fused multiply-adds are used explicitly (and only) in the two filter
 * passes, where they change nothing but the last bit. The formula keeps
 * IEEE evaluation, so identical images give exactly 1.
 *
 * The GIL is released during the computation, so strips run in parallel on
 * Python threads. x86-64 builds (GCC, Clang) carry an AVX2+FMA version and a
 * baseline version of the kernel, chosen at run time.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 8    /* columns per register block (2 AVX2 vectors of doubles) */
#ifndef TILE
#define TILE 128 /* output columns per tile: the ring (4 x taps rows) stays near L1 */
#endif
#define MAX_TAPS 255
#ifndef PREFETCH_ROWS
#define PREFETCH_ROWS 2 /* rows ahead to prefetch (one pair of output rows) */
#endif

#if defined(__GNUC__) || defined(__clang__)
#define INLINE static inline __attribute__((always_inline))
#define RESTRICT __restrict__
#else
#define INLINE static __inline
#define RESTRICT __restrict
#endif

/* LOOKALIKE_SSIM_PORTABLE builds only the portable code (how arm64 and other compilers build it). */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(LOOKALIKE_SSIM_PORTABLE)
#define HAVE_X86_DISPATCH 1
#endif

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__aarch64__) || defined(__FMA__))
#define NATIVE_FMA 1
#endif

enum { KIND_F64 = 0, KIND_U8 = 1 };

typedef struct {
    const void *x, *y;        /* first element of the images */
    int kind;                 /* KIND_F64 or KIND_U8 */
    Py_ssize_t row_stride;    /* elements between rows of x and y */
    Py_ssize_t width;         /* input columns */
    Py_ssize_t height;        /* input rows */
    Py_ssize_t first_row;     /* first output row (its window starts at input row first_row) */
    Py_ssize_t n_rows;        /* output rows of this strip */
    const double *w;          /* taps */
    int taps;
    double c1, c2, cov_norm;
    double *ssim_out, *cs_out; /* maps (may be NULL): row i of the strip at out + i * out_stride */
    Py_ssize_t out_stride;
    int want_cs;
    double ssim_sum, cs_sum;  /* results */
} job_t;

static Py_ssize_t round_up(Py_ssize_t n, Py_ssize_t m) { return (n + m - 1) / m * m; }

/* a * b + c, fused when the instantiation is for an FMA-capable target (`fused` is a constant there). */
#if defined(__GNUC__) || defined(__clang__)
#define MADD(a, b, c) (fused ? __builtin_fma((a), (b), (c)) : (a) * (b) + (c))
#else
#define MADD(a, b, c) (fused ? fma((a), (b), (c)) : (a) * (b) + (c))
#endif

/* Convert input row `src_row` (tile columns col0 .. col0 + n_cols) into the ring slot. */
INLINE void load_row(const job_t *job, Py_ssize_t src_row, Py_ssize_t col0, Py_ssize_t n_cols,
                     Py_ssize_t padded, double *RESTRICT rx, double *RESTRICT ry,
                     double *RESTRICT rsq, double *RESTRICT rxy) {
    Py_ssize_t j;
    Py_ssize_t offset = src_row * job->row_stride + col0;
#if defined(__GNUC__) || defined(__clang__)
    /* The tile reads a short piece of each row: hardware prefetchers miss that pattern, so fetch the
     * piece this call will need two rows (one pair of output rows) from now. */
    if (src_row + PREFETCH_ROWS < job->height) {
        Py_ssize_t item = job->kind == KIND_U8 ? 1 : (Py_ssize_t)sizeof(double);
        const char *ahead = (const char *)job->x + (offset + PREFETCH_ROWS * job->row_stride) * item;
        const char *ahead_y = (const char *)job->y + (offset + PREFETCH_ROWS * job->row_stride) * item;
        for (Py_ssize_t b = 0; b < n_cols * item; b += 64) {
            __builtin_prefetch(ahead + b);
            __builtin_prefetch(ahead_y + b);
        }
    }
#endif
    if (job->kind == KIND_U8) {
        const uint8_t *RESTRICT px = (const uint8_t *)job->x + offset;
        const uint8_t *RESTRICT py = (const uint8_t *)job->y + offset;
        for (j = 0; j < n_cols; j++) {
            double a = (double)px[j], b = (double)py[j];
            rx[j] = a;
            ry[j] = b;
            rsq[j] = a * a + b * b;
            rxy[j] = a * b;
        }
    } else {
        const double *RESTRICT px = (const double *)job->x + offset;
        const double *RESTRICT py = (const double *)job->y + offset;
        for (j = 0; j < n_cols; j++) {
            double a = px[j], b = py[j];
            rx[j] = a;
            ry[j] = b;
            rsq[j] = a * a + b * b;
            rxy[j] = a * b;
        }
    }
    for (j = n_cols; j < padded; j++) {
        rx[j] = ry[j] = rsq[j] = rxy[j] = 0.0;
    }
}

/* Vertical pass: v[p][j] = sum_k w[k] ring[p][slot(k)][j] for j < padded (a multiple of BLOCK). */
INLINE void vertical(const double *RESTRICT w, int taps, double *const *rows, Py_ssize_t plane,
                     Py_ssize_t padded, double *RESTRICT v, Py_ssize_t vstride, int fused) {
    for (Py_ssize_t j = 0; j < padded; j += BLOCK) {
        double ax[BLOCK], ay[BLOCK], as[BLOCK], am[BLOCK];
        const double *r0 = rows[0] + j;
        double w0 = w[0];
        for (int q = 0; q < BLOCK; q++) {
            ax[q] = w0 * r0[q];
            ay[q] = w0 * r0[plane + q];
            as[q] = w0 * r0[2 * plane + q];
            am[q] = w0 * r0[3 * plane + q];
        }
        for (int k = 1; k < taps; k++) {
            const double *rk = rows[k] + j;
            double wk = w[k];
            for (int q = 0; q < BLOCK; q++) {
                ax[q] = MADD(wk, rk[q], ax[q]);
                ay[q] = MADD(wk, rk[plane + q], ay[q]);
                as[q] = MADD(wk, rk[2 * plane + q], as[q]);
                am[q] = MADD(wk, rk[3 * plane + q], am[q]);
            }
        }
        for (int q = 0; q < BLOCK; q++) {
            v[j + q] = ax[q];
            v[vstride + j + q] = ay[q];
            v[2 * vstride + j + q] = as[q];
            v[3 * vstride + j + q] = am[q];
        }
    }
}

/* Horizontal pass over the four planes: h[p][j] = sum_k w[k] v[p][j + k] for j < padded. The four
 * planes go together so that the accumulators form independent dependency chains. */
INLINE void horizontal(const double *RESTRICT w, int taps, const double *RESTRICT v, Py_ssize_t vstride,
                       Py_ssize_t padded, double *RESTRICT h, Py_ssize_t hstride, int fused) {
    for (Py_ssize_t j = 0; j < padded; j += BLOCK) {
        double a[4][BLOCK];
        double w0 = w[0];
        for (int p = 0; p < 4; p++)
            for (int q = 0; q < BLOCK; q++) a[p][q] = w0 * v[p * vstride + j + q];
        for (int k = 1; k < taps; k++) {
            double wk = w[k];
            for (int p = 0; p < 4; p++)
                for (int q = 0; q < BLOCK; q++) a[p][q] = MADD(wk, v[p * vstride + j + k + q], a[p][q]);
        }
        for (int p = 0; p < 4; p++)
            for (int q = 0; q < BLOCK; q++) h[p * hstride + j + q] = a[p][q];
    }
}

#if defined(HAVE_X86_DISPATCH)
#include <immintrin.h>
#define AVX2_FMA __attribute__((target("avx2,fma")))

/* vertical() with AVX2 + FMA intrinsics: 8 columns x 4 planes = 8 accumulators. */
AVX2_FMA static void vertical_avx2(const double *RESTRICT w, int taps, double *const *rows, Py_ssize_t plane,
                                   Py_ssize_t padded, double *RESTRICT v, Py_ssize_t vstride) {
    for (Py_ssize_t j = 0; j < padded; j += BLOCK) {
        const double *r = rows[0] + j;
        __m256d wk = _mm256_broadcast_sd(w);
        __m256d x0 = _mm256_mul_pd(wk, _mm256_loadu_pd(r));
        __m256d x1 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + 4));
        __m256d y0 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + plane));
        __m256d y1 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + plane + 4));
        __m256d s0 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + 2 * plane));
        __m256d s1 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + 2 * plane + 4));
        __m256d m0 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + 3 * plane));
        __m256d m1 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + 3 * plane + 4));
        for (int k = 1; k < taps; k++) {
            r = rows[k] + j;
            wk = _mm256_broadcast_sd(w + k);
            x0 = _mm256_fmadd_pd(wk, _mm256_loadu_pd(r), x0);
            x1 = _mm256_fmadd_pd(wk, _mm256_loadu_pd(r + 4), x1);
            y0 = _mm256_fmadd_pd(wk, _mm256_loadu_pd(r + plane), y0);
            y1 = _mm256_fmadd_pd(wk, _mm256_loadu_pd(r + plane + 4), y1);
            s0 = _mm256_fmadd_pd(wk, _mm256_loadu_pd(r + 2 * plane), s0);
            s1 = _mm256_fmadd_pd(wk, _mm256_loadu_pd(r + 2 * plane + 4), s1);
            m0 = _mm256_fmadd_pd(wk, _mm256_loadu_pd(r + 3 * plane), m0);
            m1 = _mm256_fmadd_pd(wk, _mm256_loadu_pd(r + 3 * plane + 4), m1);
        }
        _mm256_storeu_pd(v + j, x0);
        _mm256_storeu_pd(v + j + 4, x1);
        _mm256_storeu_pd(v + vstride + j, y0);
        _mm256_storeu_pd(v + vstride + j + 4, y1);
        _mm256_storeu_pd(v + 2 * vstride + j, s0);
        _mm256_storeu_pd(v + 2 * vstride + j + 4, s1);
        _mm256_storeu_pd(v + 3 * vstride + j, m0);
        _mm256_storeu_pd(v + 3 * vstride + j + 4, m1);
    }
}

/* vertical_avx2() for two consecutive output rows at once: rows[0 .. taps] (taps + 1 input rows);
 * each input vector loaded feeds both rows (half the loads). Per row, the taps are summed in the
 * same order as vertical_avx2(), so the results are the same bits. 4 columns x 4 planes x 2 rows. */
AVX2_FMA static void vertical2_avx2(const double *RESTRICT w, int taps, double *const *rows, Py_ssize_t plane,
                                    Py_ssize_t padded, double *RESTRICT v, double *RESTRICT v2,
                                    Py_ssize_t vstride) {
    for (Py_ssize_t j = 0; j < padded; j += 4) {
        const double *r = rows[0] + j;
        __m256d wk = _mm256_broadcast_sd(w);
        __m256d a0 = _mm256_mul_pd(wk, _mm256_loadu_pd(r));
        __m256d a1 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + plane));
        __m256d a2 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + 2 * plane));
        __m256d a3 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + 3 * plane));
        __m256d l0, l1, l2, l3;
        r = rows[1] + j;
        l0 = _mm256_loadu_pd(r);
        l1 = _mm256_loadu_pd(r + plane);
        l2 = _mm256_loadu_pd(r + 2 * plane);
        l3 = _mm256_loadu_pd(r + 3 * plane);
        __m256d b0 = _mm256_mul_pd(wk, l0), b1 = _mm256_mul_pd(wk, l1);
        __m256d b2 = _mm256_mul_pd(wk, l2), b3 = _mm256_mul_pd(wk, l3);
        for (int k = 1; k < taps; k++) {
            wk = _mm256_broadcast_sd(w + k);
            a0 = _mm256_fmadd_pd(wk, l0, a0);
            a1 = _mm256_fmadd_pd(wk, l1, a1);
            a2 = _mm256_fmadd_pd(wk, l2, a2);
            a3 = _mm256_fmadd_pd(wk, l3, a3);
            r = rows[k + 1] + j;
            l0 = _mm256_loadu_pd(r);
            l1 = _mm256_loadu_pd(r + plane);
            l2 = _mm256_loadu_pd(r + 2 * plane);
            l3 = _mm256_loadu_pd(r + 3 * plane);
            b0 = _mm256_fmadd_pd(wk, l0, b0);
            b1 = _mm256_fmadd_pd(wk, l1, b1);
            b2 = _mm256_fmadd_pd(wk, l2, b2);
            b3 = _mm256_fmadd_pd(wk, l3, b3);
        }
        _mm256_storeu_pd(v + j, a0);
        _mm256_storeu_pd(v + vstride + j, a1);
        _mm256_storeu_pd(v + 2 * vstride + j, a2);
        _mm256_storeu_pd(v + 3 * vstride + j, a3);
        _mm256_storeu_pd(v2 + j, b0);
        _mm256_storeu_pd(v2 + vstride + j, b1);
        _mm256_storeu_pd(v2 + 2 * vstride + j, b2);
        _mm256_storeu_pd(v2 + 3 * vstride + j, b3);
    }
}

/* horizontal() with AVX2 + FMA intrinsics. */
AVX2_FMA static void horizontal_avx2(const double *RESTRICT w, int taps, const double *RESTRICT v,
                                     Py_ssize_t vstride, Py_ssize_t padded, double *RESTRICT h,
                                     Py_ssize_t hstride) {
    for (Py_ssize_t j = 0; j < padded; j += BLOCK) {
        const double *r = v + j;
        __m256d wk = _mm256_broadcast_sd(w);
        __m256d x0 = _mm256_mul_pd(wk, _mm256_loadu_pd(r));
        __m256d x1 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + 4));
        __m256d y0 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + vstride));
        __m256d y1 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + vstride + 4));
        __m256d s0 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + 2 * vstride));
        __m256d s1 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + 2 * vstride + 4));
        __m256d m0 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + 3 * vstride));
        __m256d m1 = _mm256_mul_pd(wk, _mm256_loadu_pd(r + 3 * vstride + 4));
        for (int k = 1; k < taps; k++) {
            r = v + j + k;
            wk = _mm256_broadcast_sd(w + k);
            x0 = _mm256_fmadd_pd(wk, _mm256_loadu_pd(r), x0);
            x1 = _mm256_fmadd_pd(wk, _mm256_loadu_pd(r + 4), x1);
            y0 = _mm256_fmadd_pd(wk, _mm256_loadu_pd(r + vstride), y0);
            y1 = _mm256_fmadd_pd(wk, _mm256_loadu_pd(r + vstride + 4), y1);
            s0 = _mm256_fmadd_pd(wk, _mm256_loadu_pd(r + 2 * vstride), s0);
            s1 = _mm256_fmadd_pd(wk, _mm256_loadu_pd(r + 2 * vstride + 4), s1);
            m0 = _mm256_fmadd_pd(wk, _mm256_loadu_pd(r + 3 * vstride), m0);
            m1 = _mm256_fmadd_pd(wk, _mm256_loadu_pd(r + 3 * vstride + 4), m1);
        }
        _mm256_storeu_pd(h + j, x0);
        _mm256_storeu_pd(h + j + 4, x1);
        _mm256_storeu_pd(h + hstride + j, y0);
        _mm256_storeu_pd(h + hstride + j + 4, y1);
        _mm256_storeu_pd(h + 2 * hstride + j, s0);
        _mm256_storeu_pd(h + 2 * hstride + j + 4, s1);
        _mm256_storeu_pd(h + 3 * hstride + j, m0);
        _mm256_storeu_pd(h + 3 * hstride + j + 4, m1);
    }
}
#endif

/* The SSIM formula of _ssim_core._combine, element by element; s and c receive SSIM and cs
 * (c only when want_cs: its division costs as much as the rest of the formula). */
INLINE void combine(const double *RESTRICT h, Py_ssize_t hstride, Py_ssize_t padded, double c1, double c2,
                    double cov_norm, double *RESTRICT s, double *RESTRICT c, int want_cs) {
    const double *RESTRICT mx = h, *RESTRICT my = h + hstride, *RESTRICT esq = h + 2 * hstride,
                           *RESTRICT exy = h + 3 * hstride;
    double two_norm = 2.0 * cov_norm;
    for (Py_ssize_t j = 0; j < padded; j++) {
        double a = mx[j], b = my[j];
        double mu_xy = a * b;
        double aa = a * a;
        double bb = b * b;
        double mu_sq = aa + bb;
        double cov = exy[j] - mu_xy;
        double num2 = cov * two_norm;
        num2 = num2 + c2;
        double var = esq[j] - mu_sq;
        var = var * cov_norm;
        double den2 = var + c2;
        if (want_cs) c[j] = num2 / den2;
        double num1 = mu_xy * 2.0;
        num1 = num1 + c1;
        double den1 = mu_sq + c1;
        num1 = num1 * num2;
        den1 = den1 * den2;
        s[j] = num1 / den1;
    }
}

/* Sum of v[0 .. n) in BLOCK lanes (v is readable up to round_up(n, BLOCK), zeros past n). */
INLINE double lane_sum(const double *RESTRICT v, Py_ssize_t padded) {
    double acc[BLOCK] = {0.0};
    for (Py_ssize_t j = 0; j < padded; j += BLOCK) {
        for (int q = 0; q < BLOCK; q++) acc[q] += v[j + q];
    }
    double total = 0.0;
    for (int q = 0; q < BLOCK; q++) total += acc[q];
    return total;
}

/* Horizontal pass, formula, map rows and sums for output row i of the strip, from its vertical sums v. */
INLINE void finish_row(job_t *job, const double *RESTRICT v, Py_ssize_t ring_w, Py_ssize_t i, Py_ssize_t col0,
                       Py_ssize_t tw, Py_ssize_t tw_pad, double *RESTRICT hbuf, double *RESTRICT s,
                       double *RESTRICT c, double *ssim_total, double *cs_total, int fused, int avx2) {
    const int taps = job->taps;
    (void)avx2;
#if defined(HAVE_X86_DISPATCH)
    if (avx2) {
        horizontal_avx2(job->w, taps, v, ring_w, tw_pad, hbuf, TILE + BLOCK);
    } else
#endif
    {
        horizontal(job->w, taps, v, ring_w, tw_pad, hbuf, TILE + BLOCK, fused);
    }
    if (job->want_cs) {
        combine(hbuf, TILE + BLOCK, tw_pad, job->c1, job->c2, job->cov_norm, s, c, 1);
    } else {
        combine(hbuf, TILE + BLOCK, tw_pad, job->c1, job->c2, job->cov_norm, s, c, 0);
    }
    for (Py_ssize_t j = tw; j < tw_pad; j++) s[j] = c[j] = 0.0;
    if (job->ssim_out) memcpy(job->ssim_out + i * job->out_stride + col0, s, tw * sizeof(double));
    *ssim_total += lane_sum(s, tw_pad);
    if (job->want_cs) {
        if (job->cs_out) memcpy(job->cs_out + i * job->out_stride + col0, c, tw * sizeof(double));
        *cs_total += lane_sum(c, tw_pad);
    }
}

/* Scratch doubles for a window of `taps`: the ring (4 planes of taps + 1 rows), two rows of vertical
 * sums (4 planes each) and the SSIM and cs rows, all ring_w = round_up(TILE + taps - 1, BLOCK) wide. */
static size_t scratch_size(Py_ssize_t taps) {
    Py_ssize_t ring_w = round_up(TILE + taps - 1, BLOCK);
    return (size_t)(4 * (taps + 1) * ring_w + 10 * ring_w);
}

INLINE void run_job_impl(job_t *job, double *scratch, int fused, int avx2) {
    const int taps = job->taps;
    const int slots = taps + 1; /* ring rows: the window of two consecutive output rows */
    const Py_ssize_t ring_w = round_up(TILE + taps - 1, BLOCK);
    const Py_ssize_t plane = (Py_ssize_t)slots * ring_w; /* one ring plane: slots rows of ring_w */
    double *ring = scratch;                               /* x, y, sq, xy planes */
    double *v = ring + 4 * plane, *v2 = v + 4 * ring_w;   /* vertical sums of the two rows */
    double *s = v2 + 4 * ring_w, *c = s + ring_w;
    double hbuf[4 * (TILE + BLOCK)];
    double *rows[MAX_TAPS + 1];
    const Py_ssize_t out_cols = job->width - taps + 1;
    double ssim_total = 0.0, cs_total = 0.0;

    for (Py_ssize_t col0 = 0; col0 < out_cols; col0 += TILE) {
        Py_ssize_t tw = out_cols - col0 < TILE ? out_cols - col0 : TILE;
        Py_ssize_t tw_pad = round_up(tw, BLOCK);
        Py_ssize_t in_cols = tw + taps - 1;
        Py_ssize_t v_pad = round_up(tw_pad + taps - 1, BLOCK);
        Py_ssize_t loaded = 0; /* input rows of the strip already in the ring */
        for (Py_ssize_t i = 0; i < job->n_rows; i += 2) {
            int pair = i + 1 < job->n_rows;
            Py_ssize_t top = job->first_row + i; /* input row of tap 0 */
            for (; loaded < i + taps + pair; loaded++) {
                Py_ssize_t r = job->first_row + loaded;
                double *slot = ring + (Py_ssize_t)(r % slots) * ring_w;
                load_row(job, r, col0, in_cols, v_pad, slot, slot + plane, slot + 2 * plane, slot + 3 * plane);
            }
            for (int k = 0; k < taps + pair; k++) rows[k] = ring + (Py_ssize_t)((top + k) % slots) * ring_w;
#if defined(HAVE_X86_DISPATCH)
            if (avx2 && pair) {
                vertical2_avx2(job->w, taps, rows, plane, v_pad, v, v2, ring_w);
            } else if (avx2) {
                vertical_avx2(job->w, taps, rows, plane, v_pad, v, ring_w);
            } else
#endif
            {
                vertical(job->w, taps, rows, plane, v_pad, v, ring_w, fused);
                if (pair) vertical(job->w, taps, rows + 1, plane, v_pad, v2, ring_w, fused);
            }
            finish_row(job, v, ring_w, i, col0, tw, tw_pad, hbuf, s, c, &ssim_total, &cs_total, fused, avx2);
            if (pair) {
                finish_row(job, v2, ring_w, i + 1, col0, tw, tw_pad, hbuf, s, c, &ssim_total, &cs_total, fused,
                           avx2);
            }
        }
    }
    job->ssim_sum = ssim_total;
    job->cs_sum = job->want_cs ? cs_total : NAN;
}

/* 1 when the AVX2 version may run (the default on CPUs that have it); tests turn it off. */
static int allow_avx2 = 1;

#if defined(HAVE_X86_DISPATCH)
AVX2_FMA static void run_job_avx2(job_t *job, double *scratch) { run_job_impl(job, scratch, 1, 1); }
static void run_job_base(job_t *job, double *scratch) { run_job_impl(job, scratch, 0, 0); }
static int has_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
static void run_job(job_t *job, double *scratch) {
    if (allow_avx2 && has_avx2()) {
        run_job_avx2(job, scratch);
    } else {
        run_job_base(job, scratch);
    }
}
static const char *variant(void) { return allow_avx2 && has_avx2() ? "avx2-fma" : "baseline"; }
#elif defined(NATIVE_FMA)
static void run_job(job_t *job, double *scratch) { run_job_impl(job, scratch, 1, 0); }
static const char *variant(void) { return "fma"; }
#else
static void run_job(job_t *job, double *scratch) { run_job_impl(job, scratch, 0, 0); }
static const char *variant(void) { return "baseline"; }
#endif

static int get_out(PyObject *obj, Py_buffer *buf, const char *name) {
    if (obj == Py_None) return 0;
    if (PyObject_GetBuffer(obj, buf, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (buf->itemsize != (Py_ssize_t)sizeof(double)) {
        PyBuffer_Release(buf);
        PyErr_Format(PyExc_TypeError, "%s must be a float64 buffer", name);
        return -1;
    }
    return 1;
}

PyDoc_STRVAR(ssim_strip_doc,
             "ssim_strip(x, y, kind, height, width, row_stride, first_row, n_rows, weights, c1, c2, cov_norm,\n"
             "           ssim_out, cs_out, out_stride, want_cs) -> (ssim_sum, cs_sum)\n\n"
             "Sums of the 'valid' SSIM and cs maps over output rows first_row .. first_row + n_rows of two\n"
             "C-contiguous images (kind 0: float64, 1: uint8) of height x width with rows row_stride elements\n"
             "apart, under the separable window `weights` (float64 bytes). ssim_out / cs_out: None or float64\n"
             "C-contiguous buffers that receive the strip's map rows, out_stride elements apart.\n"
             "cs_sum is NaN unless want_cs. Private to lookalike.metrics._ssim_core.");

static PyObject *ssim_strip(PyObject *self, PyObject *args) {
    Py_buffer bx = {0}, by = {0}, bw = {0}, bs = {0}, bc = {0};
    PyObject *ssim_obj, *cs_obj;
    int kind, want_cs, have_s = 0, have_c = 0;
    Py_ssize_t height, width, row_stride, first_row, n_rows, out_stride;
    double c1, c2, cov_norm;
    PyObject *result = NULL;
    (void)self;

    if (!PyArg_ParseTuple(args, "y*y*innnnny*dddOOnp:ssim_strip", &bx, &by, &kind, &height, &width, &row_stride,
                          &first_row, &n_rows, &bw, &c1, &c2, &cov_norm, &ssim_obj, &cs_obj, &out_stride,
                          &want_cs)) {
        return NULL;
    }
    if ((have_s = get_out(ssim_obj, &bs, "ssim_out")) < 0 || (have_c = get_out(cs_obj, &bc, "cs_out")) < 0) {
        have_s = have_s < 0 ? 0 : have_s;
        have_c = 0;
        goto done;
    }
    {
        Py_ssize_t item = kind == KIND_U8 ? 1 : (Py_ssize_t)sizeof(double);
        Py_ssize_t taps = bw.len / (Py_ssize_t)sizeof(double);
        Py_ssize_t out_cols = width - taps + 1;
        Py_ssize_t out_rows = height - taps + 1;
        if (kind != KIND_U8 && kind != KIND_F64) {
            PyErr_SetString(PyExc_ValueError, "kind must be 0 (float64) or 1 (uint8)");
            goto done;
        }
        if (taps < 1 || taps > MAX_TAPS || bw.len % (Py_ssize_t)sizeof(double) != 0) {
            PyErr_SetString(PyExc_ValueError, "weights must hold 1 to 255 float64 taps");
            goto done;
        }
        if (width < taps || height < taps || row_stride < width || first_row < 0 || n_rows < 0 ||
            first_row + n_rows > out_rows) {
            PyErr_SetString(PyExc_ValueError, "ssim_strip: rows, columns or strides out of range");
            goto done;
        }
        Py_ssize_t need = ((height - 1) * row_stride + width) * item;
        if (bx.len < need || by.len < need) {
            PyErr_SetString(PyExc_ValueError, "ssim_strip: image buffers are smaller than their shape");
            goto done;
        }
        Py_ssize_t out_need = ((n_rows - 1) * out_stride + out_cols) * (Py_ssize_t)sizeof(double);
        if ((have_s || have_c) && n_rows > 0 && (out_stride < out_cols || (have_s && bs.len < out_need) ||
                                                 (have_c && bc.len < out_need))) {
            PyErr_SetString(PyExc_ValueError, "ssim_strip: map buffers are smaller than the strip");
            goto done;
        }
        job_t job;
        job.x = bx.buf;
        job.y = by.buf;
        job.kind = kind;
        job.row_stride = row_stride;
        job.width = width;
        job.height = height;
        job.first_row = first_row;
        job.n_rows = n_rows;
        job.w = (const double *)bw.buf;
        job.taps = (int)taps;
        job.c1 = c1;
        job.c2 = c2;
        job.cov_norm = cov_norm;
        job.ssim_out = have_s ? (double *)bs.buf : NULL;
        job.cs_out = have_c ? (double *)bc.buf : NULL;
        job.out_stride = out_stride;
        job.want_cs = want_cs || have_c;
        job.ssim_sum = 0.0;
        job.cs_sum = 0.0;
        size_t n_scratch = scratch_size(taps);
        double *scratch = NULL;
        int failed = 0;
        Py_BEGIN_ALLOW_THREADS
        scratch = (double *)malloc(n_scratch * sizeof(double));
        if (scratch == NULL) {
            failed = 1;
        } else {
            run_job(&job, scratch);
            free(scratch);
        }
        Py_END_ALLOW_THREADS
        if (failed) {
            PyErr_NoMemory();
            goto done;
        }
        result = Py_BuildValue("(dd)", job.ssim_sum, job.cs_sum);
    }
done:
    PyBuffer_Release(&bx);
    PyBuffer_Release(&by);
    PyBuffer_Release(&bw);
    if (have_s) PyBuffer_Release(&bs);
    if (have_c) PyBuffer_Release(&bc);
    return result;
}

/* 2x2 means as _filters.box_downsample(image, 2) computes them, the same operations in the same order:
 * ((row 2i + row 2i+1) at column 2j + (same) at column 2j+1) * 0.25, with the last row / column
 * repeated when the size is odd (MATLAB's 'symmetric' padding). */
#define HALVE_BODY(T)                                                                        \
    for (Py_ssize_t i = 0; i < out_h; i++) {                                                 \
        const T *RESTRICT r0 = (const T *)src + 2 * i * row_stride;                          \
        const T *RESTRICT r1 = (const T *)src + (2 * i + 1 < height ? 2 * i + 1 : height - 1) * row_stride; \
        double *RESTRICT o = dst + i * out_w;                                                \
        for (Py_ssize_t j = 0; j < width / 2; j++) {                                         \
            double a = (double)r0[2 * j] + (double)r1[2 * j];                                \
            double b = (double)r0[2 * j + 1] + (double)r1[2 * j + 1];                        \
            o[j] = (a + b) * 0.25;                                                           \
        }                                                                                    \
        if (width % 2) {                                                                     \
            double a = (double)r0[width - 1] + (double)r1[width - 1];                        \
            o[out_w - 1] = (a + a) * 0.25;                                                   \
        }                                                                                    \
    }

PyDoc_STRVAR(halve_doc,
             "halve(src, kind, height, width, row_stride, dst) -> None\n\n"
             "2x2 means of a C-contiguous image (kind 0: float64, 1: uint8) into the float64 buffer dst of\n"
             "ceil(height/2) x ceil(width/2), bit for bit as _filters.box_downsample(image, 2).");

static PyObject *halve(PyObject *self, PyObject *args) {
    Py_buffer bs = {0}, bd = {0};
    int kind;
    Py_ssize_t height, width, row_stride;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*innnw*:halve", &bs, &kind, &height, &width, &row_stride, &bd)) return NULL;
    {
        Py_ssize_t item = kind == KIND_U8 ? 1 : (Py_ssize_t)sizeof(double);
        Py_ssize_t out_h = (height + 1) / 2, out_w = (width + 1) / 2;
        const void *src = bs.buf;
        double *dst = (double *)bd.buf;
        if ((kind != KIND_U8 && kind != KIND_F64) || height < 1 || width < 1 || row_stride < width) {
            PyErr_SetString(PyExc_ValueError, "halve: bad kind, shape or stride");
            goto done;
        }
        if (bs.len < ((height - 1) * row_stride + width) * item ||
            bd.len < out_h * out_w * (Py_ssize_t)sizeof(double)) {
            PyErr_SetString(PyExc_ValueError, "halve: buffers are smaller than their shape");
            goto done;
        }
        Py_BEGIN_ALLOW_THREADS
        if (kind == KIND_U8) {
            HALVE_BODY(uint8_t)
        } else {
            HALVE_BODY(double)
        }
        Py_END_ALLOW_THREADS
        result = Py_None;
        Py_INCREF(result);
    }
done:
    PyBuffer_Release(&bs);
    PyBuffer_Release(&bd);
    return result;
}

static PyObject *kernel_variant(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyUnicode_FromString(variant());
}

static PyObject *set_avx2(PyObject *self, PyObject *arg) {
    (void)self;
    int allow = PyObject_IsTrue(arg);
    if (allow < 0) return NULL;
    allow_avx2 = allow;
    return PyUnicode_FromString(variant());
}

static PyMethodDef methods[] = {
    {"ssim_strip", ssim_strip, METH_VARARGS, ssim_strip_doc},
    {"halve", halve, METH_VARARGS, halve_doc},
    {"variant", kernel_variant, METH_NOARGS, "The kernel version in use: 'avx2-fma', 'fma' or 'baseline'."},
    {"set_avx2", set_avx2, METH_O,
     "set_avx2(allow) -> variant: allow (default) or forbid the AVX2 version, for tests; not thread-safe."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ssim_native", "Fused float64 SSIM kernel (private; see _ssim_core).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ssim_native(void) { return PyModule_Create(&module); }
