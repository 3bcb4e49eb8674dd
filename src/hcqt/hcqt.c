/* Block-spectral HCQT (see kernels.h) with the log compression and 25 Hz median of
 * ctc_chroma/features.py.
 *
 * The log compression needs the global maximum, known only at the end, so blocks store dB
 * values without the reference and a final pass subtracts it and clips. Medians are taken
 * on powers (the clipped log is monotone, so it commutes with the median of an odd count);
 * for an even count numpy averages the two middle values after the log, so we keep the lower
 * one in dB and the distance to the upper one as a 16-bit gap (per distinct frequency): memory
 * stays at the output plus about 30%, for any length of audio. */
#include "hcqt/hcqt.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/threads.h"
#include "hcqt/kernels.h"

/* Run-time dispatch: without -march=native (CMakeLists.txt defines LM_DISPATCH), each hot
 * function below is compiled for x86-64-v4 (AVX-512), x86-64-v3 (AVX2 + FMA) and baseline
 * x86-64, and the dynamic loader picks the best one the CPU has (GCC target_clones). */
#ifdef LM_DISPATCH
#define LM_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LM_HOT
#endif

#define SR 22050.0
#define TOP_DB 80.0
#define AMIN_POWER 1e-10f  /* librosa amplitude_to_db: amin 1e-5, squared */
#define GAP_STEPS 256.0f   /* gap resolution: 1/256 dB, i.e. at most 2.5e-5 in the output */

const double lm_hcqt_harmonics[LM_HCQT_NHARM] = {0.5, 1, 2, 3, 4, 5};
const lm_hcqt_grid lm_hcqt_grid_chroma = {LM_HCQT_BPO, LM_HCQT_NBINS};
const lm_hcqt_grid lm_hcqt_grid_salience = {60, 360};

double lm_hcqt_bin_freq(int h, int p) {
    return LM_HCQT_FMIN * lm_hcqt_harmonics[h] * pow(2.0, p / (double)LM_HCQT_BPO);
}

void lm_hcqt_free(lm_hcqt *x) {
    if (!x) return;
    free(x->data);
    x->data = NULL;
    x->n_frames = 0;
    x->n_bins = 0;
}

static double frame_time(size_t k) { return (double)(k * LM_HCQT_HOP) / SR; }

size_t lm_median_boundaries(size_t n_full, size_t **bounds) {
    *bounds = NULL;
    if (n_full == 0) {
        lm_set_error("no frames to aggregate");
        return 0;
    }
    /* numpy: new_times = arange(0, tau[-1] + eps, 0.04), i.e. ceil((tau[-1] + eps)/0.04)
     * values i*0.04; boundary i = searchsorted(tau, new_times[i], 'left'), last = n_full. */
    const double step = 1.0 / LM_FRAME_RATE;
    size_t T = (size_t)ceil((frame_time(n_full - 1) + 2.220446049250313e-16) / step);
    size_t *b = lm_malloc(T + 1, sizeof *b);
    if (!b) return 0;
    size_t k = 0;
    for (size_t i = 0; i < T; i++) {
        double t = (double)i * step;
        while (k < n_full && frame_time(k) < t) k++;
        b[i] = k;
    }
    /* librosa.util.sync drops duplicate boundaries; only a last empty segment could occur. */
    if (T > 1 && b[T - 1] == n_full) T--;
    b[T] = n_full;
    *bounds = b;
    return T;
}

/* numpy 'reflect' padding to any distance: mirror about both ends, period 2(n-1). y holds
 * the samples from index base on (lm_signal_window). */
static float sample_reflect(const float *y, size_t base, size_t n, long long s) {
    if (n == 1) return y[0];
    long long period = 2 * ((long long)n - 1), r = s % period;
    if (r < 0) r += period;
    return y[(r >= (long long)n ? period - r : r) - (long long)base];
}

static void copy_reflect(const float *y, size_t base, size_t n, long long s0, size_t count, float *dst) {
    for (size_t i = 0; i < count; i++) {
        long long s = s0 + (long long)i;
        if (s >= 0 && s < (long long)n) {
            size_t run = (size_t)((long long)n - s);
            if (run > count - i) run = count - i;
            memcpy(dst + i, y + (s - (long long)base), run * sizeof *y);
            i += run - 1;
        } else {
            dst[i] = sample_reflect(y, base, n, s);
        }
    }
}

/* Block whose offset 0 is the centre of frame m0; the guard before it wraps to the end. */
static int fill_block(lm_signal *sig, size_t m0, float *x) {
    long long centre = (long long)(m0 * LM_HCQT_HOP);
    size_t ahead = LM_CQT_BLOCK - LM_CQT_GUARD, base;
    const float *y = lm_signal_window(sig, centre - (long long)LM_CQT_GUARD, centre + (long long)ahead, &base);
    if (!y) return -1;
    copy_reflect(y, base, sig->n, centre, ahead, x);
    copy_reflect(y, base, sig->n, centre - (long long)LM_CQT_GUARD, LM_CQT_GUARD, x + ahead);
    return 0;
}

/* z[j mod M] += X[j] * K[j] over the kernel's support (interleaved re/im). */
LM_HOT static void fold(const float *X, const lm_cqt_kernel *k, float *z) {
    const size_t M = LM_CQT_M;
    memset(z, 0, 2 * M * sizeof *z);
    const float *x = X + 2 * k->j0, *c = (const float *)k->coef;
    size_t q = k->j0 % M, done = 0;
    while (done < k->len) {
        size_t run = M - q < k->len - done ? M - q : k->len - done;
        float *zz = z + 2 * q;
        const float *xx = x + 2 * done, *cc = c + 2 * done;
        for (size_t i = 0; i < run; i++) {
            float xr = xx[2 * i], xi = xx[2 * i + 1], kr = cc[2 * i], ki = cc[2 * i + 1];
            zz[2 * i] += xr * kr - xi * ki;
            zz[2 * i + 1] += xr * ki + xi * kr;
        }
        done += run;
        q = 0;
    }
}

/* 10 log10(p) as a multiple of logf, which glibc implements much faster than log10f */
static float power_db(float p) { return 4.3429448190325175f * logf(p > AMIN_POWER ? p : AMIN_POWER); }

#if defined(LM_VECTOR_LOGF) && defined(__GNUC__) && !defined(__clang__)
/* glibc's vector logf (libmvec), which GCC calls for a simd loop (CMakeLists.txt builds this file
 * with -fno-math-errno): 16 or 8 values a call instead of one, at most 1 ulp from logf. */
__attribute__((simd("notinbranch"))) extern float logf(float);
#endif

/* power_db of n values in place. */
LM_HOT static void power_db_n(float *p, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) p[i] = 4.3429448190325175f * logf(p[i] > AMIN_POWER ? p[i] : AMIN_POWER);
}

static void sort_small(float *v, size_t n) {
    for (size_t i = 1; i < n; i++) {
        float x = v[i];
        size_t j = i;
        for (; j > 0 && v[j - 1] > x; j--) v[j] = v[j - 1];
        v[j] = x;
    }
}

/* One kernel on one block: fold, inverse FFT, then dB values or medians (see hcqt_blocks).
 * Returns the largest power among the block's frames. */
static float kernel_block(const lm_cqt_kernel *k, const fftwf_complex *X, fftwf_plan inverse, size_t m0, size_t i0,
                          size_t i1, const size_t *bounds, float *row, uint16_t *grow, size_t off, fftwf_complex *z,
                          float *power) {
    size_t n_frames = bounds[i1] - m0;
    float max_power = 0;
    fold((const float *)X, k, (float *)z);
    fftwf_execute_dft(inverse, z, z);
    for (size_t f = 0; f < n_frames; f++) {
        power[f] = crealf(z[f]) * crealf(z[f]) + cimagf(z[f]) * cimagf(z[f]);
        if (power[f] > max_power) max_power = power[f];
    }
    if (!grow) {
        for (size_t f = 0; f < n_frames; f++) row[m0 + f - off] = power_db(power[f]);
        return max_power;
    }
    /* the two middle powers of each segment, then their dB values in one vector pass */
    float lo[LM_CQT_FRAMES], hi[LM_CQT_FRAMES];
    for (size_t i = i0; i < i1; i++) {
        float *seg = power + (bounds[i] - m0);
        size_t count = bounds[i + 1] - bounds[i];
        sort_small(seg, count);
        lo[i - i0] = seg[(count - 1) / 2];
        hi[i - i0] = seg[count / 2];
    }
    power_db_n(lo, i1 - i0);
    power_db_n(hi, i1 - i0);
    for (size_t i = i0; i < i1; i++) {
        size_t count = bounds[i + 1] - bounds[i];
        float steps = count % 2 ? 0.0f : (hi[i - i0] - lo[i - i0]) * GAP_STEPS + 0.5f;
        row[i - off] = lo[i - i0];
        grow[i - off] = steps < 65535.0f ? (uint16_t)steps : UINT16_MAX;
    }
    return max_power;
}

/* Blocks hold whole 25 Hz segments ([bounds[i], bounds[i+1]) for i < T), so the medians
 * never straddle a seam and both outputs see the same blocks. With gap == NULL, db[row *
 * n_full + m] gets the dB value of every frame m; otherwise db[row * T + i] gets the (lower)
 * median and gap[kernel * T + i] the distance to the upper middle value. Only each kernel's
 * first row is written. Returns the largest power seen, or -1 on error.
 *
 * With a sink, db and gap hold one block (kernel u's values of segment i at [u * cap + i - i0])
 * and the sink gets each block when it is done: nothing grows with the signal's length.
 *
 * While the threads share out the kernels of block b, one of them first prepares block b+1
 * (samples and forward FFT, double-buffered), so that this serial step overlaps the rest. */
typedef struct {
    lm_hcqt_block_fn fn;
    void *ctx;
    size_t cap;
} block_sink;

static double hcqt_blocks(const lm_cqt_bank *bank, lm_signal *sig, const size_t *bounds, size_t T, float *db,
                          uint16_t *gap, const block_sink *sink) {
    size_t n_out = gap ? T : bounds[T], n_blocks = 0;
    size_t *first = lm_malloc(T + 1, sizeof *first); /* block b: segments [first[b], first[b+1]) */
    float *x = lm_cqt_alloc(LM_CQT_BLOCK, sizeof *x);
    fftwf_complex *X[2] = {lm_cqt_alloc(LM_CQT_BLOCK / 2 + 1, sizeof *X[0]),
                           lm_cqt_alloc(LM_CQT_BLOCK / 2 + 1, sizeof *X[1])};
    double max_power = -1;
    if (!first || !x || !X[0] || !X[1]) goto done;
    for (size_t i0 = 0; i0 < T;) {
        size_t i1 = i0 + 1;
        while (i1 < T && bounds[i1 + 1] - bounds[i0] <= LM_CQT_FRAMES) i1++;
        first[n_blocks++] = i0;
        i0 = i1;
    }
    first[n_blocks] = T;

    if (fill_block(sig, bounds[0], x) != 0) goto done;
    fftwf_execute_dft_r2c(bank->forward, x, X[0]);
    max_power = 0;
    int failed = 0, stopped = 0;
#pragma omp parallel num_threads(lm_threads()) reduction(max : max_power)
    {
        fftwf_complex *z = lm_cqt_alloc(LM_CQT_M, sizeof *z);
        float *power = lm_malloc(LM_CQT_M, sizeof *power);
        if (!z || !power) {
#pragma omp atomic write
            failed = 1;
        }
        for (size_t b = 0; b < n_blocks; b++) {
            size_t i0 = first[b], i1 = first[b + 1], m0 = bounds[i0];
#pragma omp single nowait
            if (b + 1 < n_blocks && !stopped) {
                if (fill_block(sig, bounds[i1], x) != 0) stopped = 1;
                else fftwf_execute_dft_r2c(bank->forward, x, X[(b + 1) % 2]);
            }
#pragma omp for schedule(dynamic)
            for (int u = 0; u < bank->n_kernels; u++) {
                if (!z || !power || stopped) continue;
                const lm_cqt_kernel *k = &bank->kernels[u];
                float *row = sink ? db + (size_t)u * sink->cap : db + (size_t)k->rows[0] * n_out;
                uint16_t *grow = !gap ? NULL : gap + (size_t)u * (sink ? sink->cap : T);
                float m = kernel_block(k, X[b % 2], bank->inverse, m0, i0, i1, bounds, row, grow, sink ? i0 : 0, z,
                                       power);
                if (m > max_power) max_power = m;
            }
            /* the barrier of the loop above: the block is complete (and the next one read) */
#pragma omp single
            if (sink && !stopped && sink->fn(sink->ctx, i0, i1, db, gap) != 0) stopped = 1;
        }
        free(z);
        free(power);
    }
    if (failed) {
        lm_set_error("out of memory (HCQT work buffers)");
        max_power = -1;
    }
    if (stopped) max_power = -1; /* error set by the signal or the sink */
done:
    free(first);
    free(x);
    free(X[0]);
    free(X[1]);
    return max_power;
}

/* L = max(dB - dB(ref), -80); HCQT = L/80 + 1; copied to every row sharing the kernel. The
 * dB values of kernel u are at src + u * src_stride, or (src NULL) in place in data's first
 * row of the kernel; gap's at gap + u * src_stride. */
static void finish(const lm_cqt_bank *bank, const float *src_all, size_t src_stride, float *data,
                   const uint16_t *gap, size_t T, double max_power) {
    float ref_db = power_db((float)max_power);
#pragma omp parallel for num_threads(lm_threads()) schedule(static)
    for (int u = 0; u < bank->n_kernels; u++) {
        const lm_cqt_kernel *k = &bank->kernels[u];
        const float *src = src_all ? src_all + (size_t)u * src_stride : data + (size_t)k->rows[0] * T;
        for (size_t i = 0; i < T; i++) {
            float lo = src[i] - ref_db, hi = lo;
            if (gap) hi += gap[(size_t)u * src_stride + i] / GAP_STEPS;
            lo = lo > -TOP_DB ? lo : -TOP_DB;
            hi = hi > -TOP_DB ? hi : -TOP_DB;
            float v = 0.5f * (lo + hi) / TOP_DB + 1.0f;
            for (int r = 0; r < k->n_rows; r++) data[(size_t)k->rows[r] * T + i] = v;
        }
    }
}

static int check_input(const float *y, size_t n, lm_hcqt *out) {
    if (!out) {
        lm_set_error("HCQT: no output given");
        return -1;
    }
    out->n_frames = 0;
    out->n_bins = 0;
    out->data = NULL;
    if (!y || n == 0) {
        lm_set_error("HCQT: empty audio signal");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            lm_set_error("HCQT: audio sample %zu is not a finite number", i);
            return -1;
        }
    }
    return 0;
}

static int hcqt_run(const float *y, size_t n, const lm_hcqt_grid *grid, int median, lm_hcqt *out) {
    if (check_input(y, n, out) < 0) return -1;
    const lm_cqt_bank *bank = lm_cqt_bank_get(grid);
    if (!bank) return -1;
    size_t n_full = 1 + n / LM_HCQT_HOP, *bounds = NULL;
    size_t T = lm_median_boundaries(n_full, &bounds);
    if (!bounds) return -1;
    size_t n_out = median ? T : n_full;
    uint16_t *gap = median ? lm_cqt_alloc((size_t)bank->n_kernels * T, sizeof *gap) : NULL;
    float *data = lm_cqt_alloc((size_t)LM_HCQT_NHARM * (size_t)grid->n_bins * n_out, sizeof *data);
    int rc = -1;
    lm_signal sig = lm_signal_memory(y, n);
    if (data && (gap || !median)) {
        double max_power = hcqt_blocks(bank, &sig, bounds, T, data, gap, NULL);
        if (max_power >= 0) {
            finish(bank, NULL, T, data, gap, n_out, max_power);
            out->data = data;
            out->n_frames = n_out;
            out->n_bins = grid->n_bins;
            data = NULL;
            rc = 0;
        }
    }
    free(data);
    free(gap);
    free(bounds);
    return rc;
}

int lm_hcqt_full(const float *y, size_t n, lm_hcqt *out) { return hcqt_run(y, n, &lm_hcqt_grid_chroma, 0, out); }

int lm_hcqt25(const float *y, size_t n, lm_hcqt *out) { return hcqt_run(y, n, &lm_hcqt_grid_chroma, 1, out); }

int lm_hcqt_full_grid(const float *y, size_t n, const lm_hcqt_grid *grid, lm_hcqt *out) {
    return hcqt_run(y, n, grid, 0, out);
}

int lm_hcqt25_grid(const float *y, size_t n, const lm_hcqt_grid *grid, lm_hcqt *out) {
    return hcqt_run(y, n, grid, 1, out);
}

int lm_hcqt25_stream_grid(lm_signal *sig, const lm_hcqt_grid *grid, lm_hcqt_block_fn fn, void *ctx,
                          double *max_power, size_t *T) {
    *max_power = -1;
    *T = 0;
    if (sig->n == 0) {
        lm_set_error("HCQT: empty audio signal");
        return -1;
    }
    const lm_cqt_bank *bank = lm_cqt_bank_get(grid);
    if (!bank) return -1;
    size_t *bounds = NULL, nT = lm_median_boundaries(1 + sig->n / LM_HCQT_HOP, &bounds);
    if (!bounds) return -1;
    /* a block never holds more segments than full-rate frames */
    block_sink sink = {fn, ctx, lm_hcqt25_block_stride()};
    uint16_t *gap = lm_cqt_alloc((size_t)bank->n_kernels * sink.cap, sizeof *gap);
    float *db = lm_cqt_alloc((size_t)bank->n_kernels * sink.cap, sizeof *db);
    double mp = gap && db ? hcqt_blocks(bank, sig, bounds, nT, db, gap, &sink) : -1;
    free(gap);
    free(db);
    free(bounds);
    if (mp < 0) return -1;
    *max_power = mp;
    *T = nT;
    return 0;
}

int lm_hcqt25_stream(lm_signal *sig, lm_hcqt_block_fn fn, void *ctx, double *max_power, size_t *T) {
    return lm_hcqt25_stream_grid(sig, &lm_hcqt_grid_chroma, fn, ctx, max_power, T);
}

void lm_hcqt25_finish_block_grid(const lm_hcqt_grid *grid, const float *db, const uint16_t *gap, size_t stride,
                                 size_t count, double max_power, float *out) {
    const lm_cqt_bank *bank = lm_cqt_bank_get(grid); /* built by lm_hcqt25_stream_grid */
    finish(bank, db, stride, out, gap, count, max_power);
}

void lm_hcqt25_finish_block(const float *db, const uint16_t *gap, size_t stride, size_t count, double max_power,
                            float *out) {
    lm_hcqt25_finish_block_grid(&lm_hcqt_grid_chroma, db, gap, stride, count, max_power, out);
}

size_t lm_hcqt25_block_stride(void) { return LM_CQT_FRAMES + 1; }

int lm_hcqt_n_kernels_grid(const lm_hcqt_grid *grid) {
    const lm_cqt_bank *bank = lm_cqt_bank_get(grid);
    return bank ? bank->n_kernels : -1;
}

int lm_hcqt_n_kernels(void) { return lm_hcqt_n_kernels_grid(&lm_hcqt_grid_chroma); }
