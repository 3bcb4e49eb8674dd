/* Standard chroma baseline: librosa 0.7.2 chroma_stft(y, sr=22050, n_fft=4096,
 * hop_length=882) followed by per-frame l2 normalisation.
 *
 * librosa keeps the whole power spectrogram in memory; we make two passes over the
 * signal instead (pass 1: piptrack peaks for the tuning estimate; pass 2: chroma with the
 * tuned filter bank), so memory stays at the output plus the tuning peaks, whatever the
 * length.
 * Where librosa computes in float32 (the spectrogram, piptrack, the residuals of
 * pitch_tuning, the filter-bank product) we do too, so the tuning histogram sees the same
 * values; the filter bank is built in double and rounded to float32 as librosa does. */
#include "chroma/stft_chroma.h"

#include <float.h>
#include <fftw3.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "common/dispatch.h"
#include "common/error.h"
#include "common/signal.h"
#include "common/threads.h"

enum {
    N_FFT = 4096,
    HOP = 882,
    N_BINS = N_FFT / 2 + 1,
    N_CHROMA = 12,
    /* filter-bank weights stored per FFT bin, padded from 12 so the product vectorises */
    FB_LANES = 16,
    /* pitch_tuning's histogram: resolution 0.01 over [-0.5, 0.5] */
    N_TUNING_BINS = 100,
};
static const double SR = 22050.0;
/* piptrack defaults */
static const double PIP_FMIN = 150.0, PIP_FMAX = 4000.0;
static const float PIP_THRESHOLD = 0.1f;

/* ---- STFT ---------------------------------------------------------------------------- */

/* One plan for the process: FFTW plans are reusable from any thread with the new-array
 * execute functions, but planning itself is not thread-safe. */
static fftwf_plan stft_plan;
static float stft_window[N_FFT];
static int peak_kmin, peak_kmax; /* piptrack's fmin <= k*sr/n_fft < fmax, inclusive */

static int stft_init(void) {
    int ok = 1;
#pragma omp critical(lm_fftw_planner)
    {
        if (!stft_plan) {
            float *in = fftwf_malloc(sizeof(float) * N_FFT);
            fftwf_complex *out = fftwf_malloc(sizeof(fftwf_complex) * N_BINS);
            /* FFTW_ESTIMATE: deterministic algorithm choice, so results never vary between runs */
            if (in && out) stft_plan = fftwf_plan_dft_r2c_1d(N_FFT, in, out, FFTW_ESTIMATE);
            fftwf_free(in);
            fftwf_free(out);
            if (stft_plan) {
                /* scipy get_window('hann', N_FFT, fftbins=True): the periodic Hann window */
                for (int j = 0; j < N_FFT; j++) stft_window[j] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * j / N_FFT));
                peak_kmin = (int)ceil(PIP_FMIN * N_FFT / SR);
                peak_kmax = (int)ceil(PIP_FMAX * N_FFT / SR) - 1;
            } else {
                ok = 0;
            }
        }
    }
    if (!ok) lm_set_error("chroma_stft: could not create the FFTW plan");
    return ok ? 0 : -1;
}

typedef struct {
    float *frame;
    fftwf_complex *spec;
    float *power;
} stft_work;

static void work_free(stft_work *w) {
    fftwf_free(w->frame);
    fftwf_free(w->spec);
    free(w->power);
}

static int work_alloc(stft_work *w) {
    /* fftwf_malloc gives the alignment the plan was made for */
    w->frame = fftwf_malloc(sizeof(float) * N_FFT);
    w->spec = fftwf_malloc(sizeof(fftwf_complex) * N_BINS);
    w->power = malloc(sizeof(float) * N_BINS);
    if (w->frame && w->spec && w->power) return 0;
    work_free(w);
    return -1;
}

/* np.pad(mode='reflect') index, also for pads longer than the signal (numpy then keeps
 * reflecting, which is periodic with period 2(n-1)); a single sample is repeated. */
static size_t reflect_index(ptrdiff_t i, size_t n) {
    if (n == 1) return 0;
    const ptrdiff_t period = 2 * (ptrdiff_t)(n - 1);
    ptrdiff_t m = i % period;
    if (m < 0) m += period;
    if (m >= (ptrdiff_t)n) m = period - m;
    return (size_t)m;
}

/* Power spectrum of centred frame t (frame t covers samples t*HOP - N_FFT/2 ...) of a signal of
 * n samples of which y holds those from index base on (see lm_signal_window). */
LM_HOT static void frame_power(const float *y, size_t base, size_t n, size_t t, stft_work *w) {
    const ptrdiff_t start = (ptrdiff_t)(t * HOP) - N_FFT / 2;
    float *restrict frame = w->frame;
    if (start >= 0 && (size_t)start + N_FFT <= n) {
        const float *restrict x = y + (start - (ptrdiff_t)base);
        for (int j = 0; j < N_FFT; j++) frame[j] = x[j] * stft_window[j];
    } else {
        for (int j = 0; j < N_FFT; j++) frame[j] = y[reflect_index(start + j, n) - base] * stft_window[j];
    }
    fftwf_execute_dft_r2c(stft_plan, frame, w->spec);
    const float *restrict spec = (const float *)w->spec; /* interleaved re, im */
    float *restrict power = w->power;
    for (int k = 0; k < N_BINS; k++) power[k] = spec[2 * k] * spec[2 * k] + spec[2 * k + 1] * spec[2 * k + 1];
}

/* ---- tuning: piptrack + pitch_tuning ---------------------------------------------------- */

typedef struct {
    float pitch, mag;
} peak;

typedef struct {
    peak *items;
    size_t count, cap;
} peak_list;

static int peak_push(peak_list *l, float pitch, float mag) {
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 1024;
        peak *items = realloc(l->items, cap * sizeof *items);
        if (!items) return -1;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->count++] = (peak){pitch, mag};
    return 0;
}

/* piptrack on one power-spectrum frame S: local maxima of S*(S > 0.1*max(S)) within
 * [fmin, fmax), refined by parabolic interpolation. Deliberately not LM_HOT: as a separate
 * dispatched clone it made FFTW's SSE2 codelets in the next frame_power about 60 % slower on this
 * machine (perf, AMD EPYC; the whole stft chroma 0.8x of -march=native), while inlined into
 * its caller at baseline x86-64 it costs nothing measurable (issue 17). */
static int frame_peaks(const float *S, peak_list *out) {
    /* independent running maxima (one SIMD register) instead of one serial chain */
    enum { LANES = 8 };
    float lane_max[LANES] = {0};
    int k = 0;
    for (; k + LANES <= N_BINS; k += LANES)
        for (int j = 0; j < LANES; j++) lane_max[j] = S[k + j] > lane_max[j] ? S[k + j] : lane_max[j];
    float smax = 0.0f;
    for (; k < N_BINS; k++) smax = S[k] > smax ? S[k] : smax;
    for (int j = 0; j < LANES; j++) smax = lane_max[j] > smax ? lane_max[j] : smax;
    const float ref = PIP_THRESHOLD * smax;
#define THRESHOLDED(k) (S[k] > ref ? S[k] : 0.0f)
    for (k = peak_kmin; k <= peak_kmax; k++) {
        const float z = THRESHOLDED(k);
        /* util.localmax: strictly above the left neighbour, at least the right one */
        if (!(z > THRESHOLDED(k - 1) && z >= THRESHOLDED(k + 1))) continue;
        const float avg = 0.5f * (S[k + 1] - S[k - 1]);
        const float curv = 2.0f * S[k] - S[k + 1] - S[k - 1];
        const float shift = avg / (curv + (fabsf(curv) < FLT_MIN ? 1.0f : 0.0f));
        const float dskew = 0.5f * avg * shift;
        /* numpy promotes (int index + float32 shift) to float64 before scaling */
        const float pitch = (float)(((double)k + (double)shift) * SR / N_FFT);
        if (pitch > 0.0f && peak_push(out, pitch, S[k] + dskew) != 0) return -1;
    }
#undef THRESHOLDED
    return 0;
}

/* k-th smallest of a[0..n) (quickselect); afterwards a[i] >= result for all i > k. */
static float select_kth(float *a, size_t n, size_t k) {
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1;
    const ptrdiff_t kk = (ptrdiff_t)k;
    while (lo < hi) {
        float p0 = a[lo], p1 = a[lo + (hi - lo) / 2], p2 = a[hi];
        /* median of three as pivot keeps sorted input linear */
        float pivot = p0 < p1 ? (p1 < p2 ? p1 : (p0 < p2 ? p2 : p0)) : (p0 < p2 ? p0 : (p1 < p2 ? p2 : p1));
        ptrdiff_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                float tmp = a[i];
                a[i++] = a[j];
                a[j--] = tmp;
            }
        }
        if (kk <= j)
            hi = j;
        else if (kk >= i)
            lo = i;
        else
            return a[kk];
    }
    return a[kk];
}

/* np.median of float32 values: the middle value, or the float32 mean of the two middle ones. */
static float median_f32(float *a, size_t n) {
    if (n % 2) return select_kth(a, n, n / 2);
    const float lower = select_kth(a, n, n / 2 - 1);
    float upper = a[n / 2];
    for (size_t i = n / 2 + 1; i < n; i++) upper = a[i] < upper ? a[i] : upper;
    return (lower + upper) / 2.0f;
}

/* estimate_tuning's selection (peaks at least as strong as the median peak) followed by
 * pitch_tuning (histogram of the residuals against the equal-tempered A440 grid). */
static double tuning_from_peaks(const peak_list *lists, int nlists, int *failed) {
    size_t total = 0;
    for (int l = 0; l < nlists; l++) total += lists[l].count;
    if (total == 0) return 0.0; /* pitch_tuning's answer for an empty set */

    float *mags = malloc(total * sizeof *mags);
    if (!mags) {
        *failed = 1;
        return 0.0;
    }
    size_t m = 0;
    for (int l = 0; l < nlists; l++)
        for (size_t i = 0; i < lists[l].count; i++) mags[m++] = lists[l].items[i].mag;
    const float threshold = median_f32(mags, total);
    free(mags);

    /* np.linspace(-0.5, 0.5, 101), rounded as numpy computes it */
    double edges[N_TUNING_BINS + 1];
    for (int b = 0; b < N_TUNING_BINS; b++) edges[b] = (double)b * (1.0 / N_TUNING_BINS) + -0.5;
    edges[N_TUNING_BINS] = 0.5;

    size_t counts[N_TUNING_BINS] = {0};
    for (int l = 0; l < nlists; l++) {
        for (size_t i = 0; i < lists[l].count; i++) {
            const peak *p = &lists[l].items[i];
            if (!(p->mag >= threshold)) continue;
            /* 12 * hz_to_octs(f) mod 1, in float32 like numpy; octs are relative to A440/16 */
            float residual = fmodf(12.0f * log2f(p->pitch / 27.5f), 1.0f);
            if (residual >= 0.5f) residual -= 1.0f;
            const double r = residual;
            int b = (int)floor((r + 0.5) * N_TUNING_BINS);
            b = b < 0 ? 0 : (b >= N_TUNING_BINS ? N_TUNING_BINS - 1 : b);
            /* settle on the exact edges: np.histogram's bin b holds edges[b] <= r < edges[b+1] */
            while (b > 0 && r < edges[b]) b--;
            while (b < N_TUNING_BINS - 1 && r >= edges[b + 1]) b++;
            counts[b]++;
        }
    }
    int best = 0;
    for (int b = 1; b < N_TUNING_BINS; b++)
        if (counts[b] > counts[best]) best = b;
    return edges[best];
}

/* Frames per window of a signal in a file (about 3.5 MB of samples). */
#define WINDOW_FRAMES 1024

/* Frames per window: a signal in memory is one window; one in a file is read a window at a time. */
static size_t window_frames(const lm_signal *sig, size_t T) { return sig->y ? T : WINDOW_FRAMES; }

/* The samples frames [t0, t1) need (see lm_signal_window). */
static const float *frames_window(lm_signal *sig, size_t t0, size_t t1, size_t *base) {
    return lm_signal_window(sig, (long long)(t0 * HOP) - N_FFT / 2, (long long)((t1 - 1) * HOP) + N_FFT / 2, base);
}

/* Pass 1: piptrack peaks of every frame, then the tuning. Returns 0 or -1 (error set). A
 * signal in memory is one window; one in a file is read a window of frames at a time. */
static int estimate_tuning_power(lm_signal *sig, size_t T, double *tuning) {
    const int nthreads = lm_threads();
    const size_t n = sig->n, per = window_frames(sig, T);
    peak_list *lists = lm_calloc((size_t)nthreads, sizeof *lists);
    if (!lists) return -1;
    int failed = 0;
    for (size_t t0 = 0; t0 < T && !failed; t0 += per) {
        const size_t t1 = T - t0 < per ? T : t0 + per;
        size_t base;
        const float *y = frames_window(sig, t0, t1, &base);
        if (!y) {
            free(lists);
            return -1;
        }
#pragma omp parallel num_threads(nthreads)
        {
            peak_list *mine = &lists[omp_get_thread_num()];
            stft_work w;
            const int allocated = work_alloc(&w) == 0;
            int ok = allocated;
#pragma omp for schedule(static)
            for (size_t t = t0; t < t1; t++) {
                if (!ok) continue;
                frame_power(y, base, n, t, &w);
                ok = frame_peaks(w.power, mine) == 0;
            }
            if (allocated) work_free(&w);
            if (!ok) {
#pragma omp atomic write
                failed = 1;
            }
        }
    }
    if (!failed) *tuning = tuning_from_peaks(lists, nthreads, &failed);
    for (int l = 0; l < nthreads; l++) free(lists[l].items);
    free(lists);
    /* errors in worker threads land in their thread-local buffers; report here */
    if (failed) lm_set_error("chroma_stft: out of memory");
    return failed ? -1 : 0;
}

/* ---- chroma filter bank: librosa.filters.chroma(sr, n_fft, 12, A440, ctroct=5, octwidth=2, norm=2, base_c=True) */

static void build_filterbank(double tuning, float *fb) {
    const double a440 = 440.0 * pow(2.0, tuning / N_CHROMA);
    /* fractional chroma bin of each FFT bin; bin 0 (DC) is set 1.5 octaves below bin 1 */
    double frq[N_BINS + 1];
    for (int k = 1; k <= N_BINS; k++) frq[k] = N_CHROMA * log2((double)k * (SR / N_FFT) / (a440 / 16.0));
    frq[0] = frq[1] - 1.5 * N_CHROMA;
    const double half = N_CHROMA / 2;
    for (int k = 0; k < N_BINS; k++) {
        const double width = fmax(frq[k + 1] - frq[k], 1.0);
        double w[N_CHROMA], norm2 = 0.0;
        for (int c = 0; c < N_CHROMA; c++) {
            /* distance to chroma c wrapped into [-6, 6); the +120 keeps fmod's argument positive */
            const double d = fmod(frq[k] - c + half + 10 * N_CHROMA, N_CHROMA) - half;
            const double z = 2.0 * d / width; /* 2*D: narrower Gaussian bumps */
            w[c] = exp(-0.5 * (z * z));
            norm2 += w[c] * w[c];
        }
        const double norm = sqrt(norm2);
        const double oct = (frq[k] / N_CHROMA - 5.0) / 2.0; /* ctroct 5, octwidth 2 */
        const double octave_weight = exp(-0.5 * (oct * oct));
        float *col = fb + (size_t)k * FB_LANES;
        /* base_c: roll by -3 so row 0 is C rather than A */
        for (int r = 0; r < N_CHROMA; r++) col[r] = (float)(w[(r + 3) % N_CHROMA] / norm * octave_weight);
        for (int r = N_CHROMA; r < FB_LANES; r++) col[r] = 0.0f;
    }
}

/* raw[c] = sum over the FFT bins k of fb[k][c] power[k], in the order of k: the filter-bank
 * product of one frame (FB_LANES sums, the last FB_LANES - 12 zero). The FB_LANES sums are one
 * vector (one AVX-512 register, two AVX2 or four SSE ones): each lane rounds the same products
 * and sums in the same order as a scalar loop would. */
typedef float fb_vec __attribute__((vector_size(FB_LANES * sizeof(float)), aligned(4), may_alias));
LM_HOT static void filterbank_product(const float *restrict fb, const float *restrict power, float *restrict raw) {
    fb_vec acc = {0};
    for (int k = 0; k < N_BINS; k++) acc += *(const fb_vec *)(fb + (size_t)k * FB_LANES) * power[k];
    *(fb_vec *)raw = acc;
}

/* ---- public ---------------------------------------------------------------------------- */

static int check_input(const float *y, size_t n) {
    if (!y || n == 0) {
        lm_set_error("chroma_stft: empty signal");
        return -1;
    }
    return 0;
}

double lm_estimate_tuning(const float *y, size_t n) {
    if (check_input(y, n) != 0) return NAN;
    lm_signal sig = lm_signal_memory(y, n);
    return lm_estimate_tuning_signal(&sig);
}

double lm_estimate_tuning_signal(lm_signal *sig) {
    double tuning = NAN;
    if (sig->n == 0) {
        lm_set_error("chroma_stft: empty signal");
        return NAN;
    }
    if (stft_init() != 0) return NAN;
    if (estimate_tuning_power(sig, 1 + sig->n / HOP, &tuning) != 0) return NAN;
    return tuning;
}

int lm_chroma_stft(const float *y, size_t n, float **chroma, size_t *T) {
    if (check_input(y, n) != 0) {
        if (chroma) *chroma = NULL;
        if (T) *T = 0;
        return -1;
    }
    lm_signal sig = lm_signal_memory(y, n);
    return lm_chroma_stft_signal(&sig, chroma, T);
}

int lm_chroma_stft_signal(lm_signal *sig, float **chroma, size_t *T) {
    if (!chroma || !T) {
        lm_set_error("chroma_stft: no output given");
        return -1;
    }
    *chroma = NULL;
    *T = 0;
    if (sig->n == 0) {
        lm_set_error("chroma_stft: empty signal");
        return -1;
    }
    if (stft_init() != 0) return -1;
    const size_t n = sig->n, nframes = 1 + n / HOP;

    double tuning;
    if (estimate_tuning_power(sig, nframes, &tuning) != 0) return -1;
    float *fb = fftwf_malloc(sizeof(float) * N_BINS * FB_LANES);
    float *out = lm_malloc(N_CHROMA * nframes, sizeof *out);
    if (!fb || !out) {
        if (!fb) lm_set_error("chroma_stft: out of memory");
        fftwf_free(fb);
        free(out);
        return -1;
    }
    build_filterbank(tuning, fb);

    int failed = 0;
    const float uniform = (float)(1.0 / sqrt(N_CHROMA));
    const size_t per = window_frames(sig, nframes);
    for (size_t t0 = 0; t0 < nframes && !failed; t0 += per) {
        const size_t t1 = nframes - t0 < per ? nframes : t0 + per;
        size_t base;
        const float *y = frames_window(sig, t0, t1, &base);
        if (!y) {
            fftwf_free(fb);
            free(out);
            return -1;
        }
#pragma omp parallel num_threads(lm_threads())
        {
            stft_work w;
            const int ok = work_alloc(&w) == 0;
            if (!ok) {
#pragma omp atomic write
                failed = 1;
            }
#pragma omp for schedule(static)
            for (size_t t = t0; t < t1; t++) {
                if (!ok) continue;
                frame_power(y, base, n, t, &w);
                float raw[FB_LANES];
                filterbank_product(fb, w.power, raw);
                float peak_value = 0.0f;
                for (int c = 0; c < N_CHROMA; c++) peak_value = raw[c] > peak_value ? raw[c] : peak_value;
                if (!(peak_value >= FLT_MIN)) {
                    /* librosa leaves a silent frame at zero; a unit vector keeps cosine
                     * similarities defined downstream */
                    for (int c = 0; c < N_CHROMA; c++) out[c * nframes + t] = uniform;
                    continue;
                }
                /* max normalisation (stored as float32 by librosa), then l2 */
                double v[N_CHROMA], sum_sq = 0.0;
                for (int c = 0; c < N_CHROMA; c++) {
                    v[c] = (float)((double)raw[c] / peak_value);
                    sum_sq += v[c] * v[c];
                }
                const double inv_norm = 1.0 / sqrt(sum_sq);
                for (int c = 0; c < N_CHROMA; c++) out[c * nframes + t] = (float)(v[c] * inv_norm);
            }
            if (ok) work_free(&w);
        }
    }
    fftwf_free(fb);
    if (failed) {
        lm_set_error("chroma_stft: out of memory");
        free(out);
        return -1;
    }
    *chroma = out;
    *T = nframes;
    return 0;
}
