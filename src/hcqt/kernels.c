/* CQT kernels that reproduce librosa 0.7.2's cqt() (filter_scale 1, norm 1, sparsity 0.01,
 * Hann window, scale=True) at the block resolution sr/LM_CQT_BLOCK.
 *
 * librosa builds each kernel as a periodic Hann window times a complex exponential,
 * L1-normalised, centred in an FFT frame of n_fft = the power of two >= the longest kernel of
 * its octave, takes the FFT's non-negative half and zeroes the smallest coefficients holding 1%
 * of its L1 mass. A frame's value is sum_q B[q] Y[q] with Y the n_fft-point FFT of the frame
 * (octave-wise decimation and librosa's scale factors cancel out; its resampling filters are
 * flat over these bins). So the effective time kernel is g(d) = sum_q B[q] e^{-2 pi i q (d +
 * n_fft/2)/n_fft} on the frame, and its spectrum at our finer resolution is the Dirichlet
 * interpolation of the kept B[q]; we keep that on the sparse support plus two coarse bins on
 * each side, tapered to zero. Matching the sparsification halves the difference to librosa
 * compared with an unsparsified Hann kernel. */
#include "hcqt/kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/error.h"
#include "common/threads.h"
#include "hcqt/hcqt.h"

#define SR 22050.0
#define SPARSITY 0.01
#define MARGIN 2     /* coarse (librosa) bins kept, tapered, beyond the sparse support */
/* Distinct frequencies of harmonics 0.5, 1, 2, 4 (n_bins from 16.35 Hz plus three octaves),
 * then those of harmonics 3 and 5. */
static int n_chain_a(const lm_hcqt_grid *g) { return 3 * g->bins_per_octave + g->n_bins; }
static int n_kernels(const lm_hcqt_grid *g) { return n_chain_a(g) + 2 * g->n_bins; }

/* librosa's sparse FFT kernel for one frequency: coefficients b[i] at bins q[i] of n_fft. */
typedef struct {
    double freq, length; /* Hz; filter length Q*sr/freq in samples */
    size_t n_fft;
    int n_kept;
    int *q;
    double complex *b;
} sparse_kernel;

static double cqt_quality(int bins_per_octave) { return 1.0 / (pow(2.0, 1.0 / bins_per_octave) - 1.0); }

static size_t pow2_at_least(double x) {
    size_t n = 1;
    while ((double)n < x) n *= 2;
    return n;
}

/* D(t) = sin(t len/2)/tan(t/2): with the phase e^{i t len/2} taken out, the transform of a
 * length-len rectangle in the form in which the Hann window's three terms add up to a real. */
static double dirichlet(double theta, double len) {
    double t = tan(theta / 2);
    if (fabs(t) < 1e-12) return len;
    return sin(theta * len / 2) / t;
}

/* Periodic Hann of length len: sum_j w[j] e^{i psi j} = e^{i psi len/2} * hann_real(psi). */
static double hann_real(double psi, double len) {
    double beta = 2 * M_PI / len;
    return 0.5 * dirichlet(psi, len) + 0.25 * dirichlet(psi + beta, len) +
           0.25 * dirichlet(psi - beta, len);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Magnitudes |hann_real| for q = 0..n_fft/2, from u = e^{i psi/2} and v = e^{i psi len/2} kept
 * by rotation (re-anchored every 256 steps): a trigonometric call per bin would dominate the
 * set-up time. D(t) = sin(t len/2) cot(t/2), and sin((psi +- beta) len/2) = -sin(psi len/2). */
static void hann_magnitudes(double omega, double len, size_t n_fft, double *mag) {
    double half_beta = M_PI / len, hc = cos(half_beta), hs = sin(half_beta);
    double step = M_PI / (double)n_fft, uc = cos(step), us = -sin(step);
    double vc = cos(step * len), vs = -sin(step * len);
    double ur = 0, ui = 0, vr = 0, vi = 0;
    for (size_t q = 0; q <= n_fft / 2; q++) {
        if (q % 256 == 0) {
            double psi = omega - 2 * M_PI * (double)q / (double)n_fft;
            ur = cos(psi / 2);
            ui = sin(psi / 2);
            vr = cos(psi * len / 2);
            vi = sin(psi * len / 2);
        }
        double pr = ur * hc - ui * hs, pi = ur * hs + ui * hc; /* e^{i (psi + beta)/2} */
        double mr = ur * hc + ui * hs, mi = ui * hc - ur * hs; /* e^{i (psi - beta)/2} */
        double d0 = fabs(ui) < 1e-12 ? len : vi * ur / ui;
        double dp = fabs(pi) < 1e-12 ? len : -vi * pr / pi;
        double dm = fabs(mi) < 1e-12 ? len : -vi * mr / mi;
        mag[q] = fabs(0.5 * d0 + 0.25 * dp + 0.25 * dm);
        double t = ur * uc - ui * us;
        ui = ur * us + ui * uc;
        ur = t;
        t = vr * vc - vi * vs;
        vi = vr * vs + vi * vc;
        vr = t;
    }
}

/* librosa.util.sparsify_rows(quantile=0.01): keep |B| >= the value at which the ascending
 * cumulative L1 mass first reaches 1%. mag has n values; scratch has room for n. */
static double sparsity_threshold(const double *mag, size_t n, double *scratch) {
    double total = 0, peak = 0;
    for (size_t q = 0; q < n; q++) {
        total += mag[q];
        if (mag[q] > peak) peak = mag[q];
    }
    /* The threshold lies among the largest values; sort only those when everything below
     * the cut-off holds less than the quantile's mass. */
    double cut = peak * 1e-4, below = 0;
    size_t n_cand = 0;
    for (size_t q = 0; q < n; q++) {
        if (mag[q] >= cut)
            scratch[n_cand++] = mag[q];
        else
            below += mag[q];
    }
    if (below >= SPARSITY * total) {
        memcpy(scratch, mag, n * sizeof *mag);
        n_cand = n;
        below = 0;
    }
    qsort(scratch, n_cand, sizeof *scratch, cmp_double);
    double cum = below / total;
    for (size_t i = 0; i < n_cand; i++) {
        cum += scratch[i] / total;
        if (cum >= SPARSITY) return scratch[i];
    }
    return scratch[n_cand - 1];
}

static int build_sparse(sparse_kernel *k, double freq, double group_freq, double quality, double *mag,
                        double *scratch) {
    k->freq = freq;
    k->length = quality * SR / freq;
    k->n_fft = pow2_at_least(quality * SR / group_freq);
    size_t n_fft = k->n_fft, n_half = n_fft / 2 + 1;
    /* librosa: t = arange(-L//2, L//2), window hann(len(t)), centred with (n_fft-len)//2 zeros. */
    double t0 = floor(-k->length / 2);
    double len = floor(k->length / 2) - t0;
    size_t lpad = (n_fft - (size_t)len) / 2;
    double omega = 2 * M_PI * freq / SR;

    hann_magnitudes(omega, len, n_fft, mag);
    double threshold = sparsity_threshold(mag, n_half, scratch);
    int n_kept = 0;
    for (size_t q = 0; q < n_half; q++) n_kept += mag[q] >= threshold;
    k->q = lm_malloc((size_t)n_kept, sizeof *k->q);
    k->b = lm_malloc((size_t)n_kept, sizeof *k->b);
    if (!k->q || !k->b) return -1;
    /* B[q] = (L/n_fft)/(len/2) * e^{i omega t0} e^{-2 pi i q lpad/n_fft} * sum_j w[j] e^{i psi j} */
    double scale = (k->length / (double)n_fft) / (len / 2);
    k->n_kept = 0;
    for (size_t q = 0; q < n_half; q++) {
        if (mag[q] < threshold) continue;
        double psi = omega - 2 * M_PI * (double)q / (double)n_fft;
        double shift = 2 * M_PI * (double)((q * lpad) % n_fft) / (double)n_fft;
        double phase = omega * t0 - shift + psi * len / 2;
        k->q[k->n_kept] = (int)q;
        k->b[k->n_kept] = scale * hann_real(psi, len) * cexp(I * phase);
        k->n_kept++;
    }
    return 0;
}

/* Tables shared by all kernels while the bank is built. */
typedef struct {
    double *inv_sin;       /* [N+1]: 1/sin(pi d/N) at d + N/2 for d in [-N/2, N/2], 0 at d = 0 */
    double complex *shift; /* [N/2+1]: e^{-i pi j/N} */
    double *sin_up;        /* [2*UP_MAX]: sin(pi r/UP_MAX); up = N/n_fft divides UP_MAX */
} interp_tables;

/* Smallest librosa FFT frame is 256 (the top octave of harmonic 5), so up <= N/256. */
#define UP_MAX (LM_CQT_BLOCK / 256)

/* Spectrum of the effective librosa kernel at bins j of the block (N = LM_CQT_BLOCK, up =
 * N/n_fft): K[j] = sum_q B[q] sum_{d=-n/2}^{n/2-1} e^{2 pi i d (j/N - q/n)} (-1)^q
 *               = sin(pi j/up) e^{-i pi j/N} sum_q B[q] e^{i pi q up/N} / sin(pi (j - q up)/N),
 * and K[q up] = (-1)^q n_fft B[q]. Scaled by 1/(N sqrt(L)): the inverse FFT's 1/N and
 * scale=True. re and im are scratch for out->len values. */
static void interpolate(const sparse_kernel *k, const interp_tables *t, double *restrict re, double *restrict im,
                        const lm_cqt_kernel *out, float complex *coef) {
    const size_t N = LM_CQT_BLOCK, up = N / k->n_fft, len = out->len;
    memset(re, 0, len * sizeof *re);
    memset(im, 0, len * sizeof *im);
    for (int i = 0; i < k->n_kept; i++) {
        size_t centre = (size_t)k->q[i] * up;
        double complex r = k->b[i] * cexp(I * M_PI * (double)centre / (double)N);
        double rr = creal(r), ri = cimag(r);
        const double *s = t->inv_sin + N / 2 + out->j0 - centre;
        for (size_t c = 0; c < len; c++) {
            re[c] += rr * s[c];
            im[c] += ri * s[c];
        }
    }
    double norm = 1.0 / ((double)N * sqrt(k->length));
    /* A hard cut at the support's ends would leave time tails reaching across the block
     * guard (seams then show at -75 dB); a taper over the margin shortens them. */
    size_t first_kept = (size_t)k->q[0] * up, last_kept = (size_t)k->q[k->n_kept - 1] * up, last = out->j0 + len - 1;
    int next = 0; /* first kept q whose bin is not yet passed */
    for (size_t c = 0; c < len; c++) {
        size_t j = out->j0 + c;
        double complex v = 0;
        if (j % up == 0) {
            while (next < k->n_kept && (size_t)k->q[next] * up < j) next++;
            if (next < k->n_kept && (size_t)k->q[next] * up == j)
                v = (k->q[next] % 2 ? -1.0 : 1.0) * (double)k->n_fft * k->b[next];
        } else {
            /* written out: a complex product in C goes through __muldc3 */
            double g = t->sin_up[(j % (2 * up)) * (UP_MAX / up)];
            double sr = creal(t->shift[j]) * g, si = cimag(t->shift[j]) * g;
            v = CMPLX(re[c] * sr - im[c] * si, re[c] * si + im[c] * sr);
        }
        double taper = 1; /* raised cosine from the support's ends to the outermost kept bins */
        if (j < first_kept) taper = 0.5 - 0.5 * cos(M_PI * (double)(j - out->j0) / (double)(first_kept - out->j0));
        if (j > last_kept) taper = 0.5 - 0.5 * cos(M_PI * (double)(last - j) / (double)(last - last_kept));
        coef[c] = (float complex)(v * norm * taper);
    }
}

static void support(const sparse_kernel *k, lm_cqt_kernel *out) {
    const size_t N = LM_CQT_BLOCK, up = N / k->n_fft;
    long long lo = ((long long)k->q[0] - MARGIN) * (long long)up;
    long long hi = ((long long)k->q[k->n_kept - 1] + MARGIN) * (long long)up;
    if (lo < 0) lo = 0;
    if (hi > (long long)(N / 2)) hi = (long long)(N / 2);
    out->j0 = (size_t)lo;
    out->len = (size_t)(hi - lo + 1);
}

/* Distinct frequency u and the HCQT rows that share it. */
static void kernel_rows(const lm_hcqt_grid *g, int u, lm_cqt_kernel *k, double *freq, double *group_freq) {
    static const int chain_a_harm[4] = {0, 1, 2, 4}; /* harmonic indices of 0.5, 1, 2, 4 */
    const int bpo = g->bins_per_octave, nb = g->n_bins, na = n_chain_a(g);
    double base;
    int idx;
    k->n_rows = 0;
    if (u < na) {
        idx = u;
        base = LM_HCQT_FMIN * 0.5;
        for (int c = 0; c < 4; c++) {
            int p = u - bpo * c; /* harmonic 2^(c-1) starts c octaves above 16.35 Hz */
            if (p >= 0 && p < nb) k->rows[k->n_rows++] = chain_a_harm[c] * nb + p;
        }
    } else {
        int h = u < na + nb ? 3 : 5;
        idx = (u - na) % nb;
        base = LM_HCQT_FMIN * lm_hcqt_harmonics[h];
        k->rows[k->n_rows++] = h * nb + idx;
    }
    *freq = base * pow(2.0, idx / (double)bpo);
    *group_freq = base * pow(2.0, (double)(idx / bpo));
}

void *lm_cqt_alloc(size_t n, size_t size) {
    const size_t huge = (size_t)2 << 20;
    if (size != 0 && n > (SIZE_MAX - huge) / size) {
        lm_set_error("allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    size_t bytes = n * size, align = bytes >= 2 * huge ? huge : 64;
    void *p = NULL;
    if (posix_memalign(&p, align, (bytes + align - 1) / align * align + align) != 0) {
        lm_set_error("out of memory (%zu bytes)", bytes);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    if (align == huge) madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

static int cmp_kernel_cost(const void *a, const void *b) {
    const lm_cqt_kernel *x = a, *y = b;
    return (x->len < y->len) - (x->len > y->len);
}

static lm_cqt_bank *bank_build(const lm_hcqt_grid *grid) {
    int ok = 0;
    const int N_KERNELS = n_kernels(grid);
    const double quality = cqt_quality(grid->bins_per_octave);
    lm_cqt_bank *bank = lm_calloc(1, sizeof *bank);
    sparse_kernel *sparse = lm_calloc((size_t)N_KERNELS, sizeof *sparse);
    interp_tables tab = {
        .inv_sin = lm_cqt_alloc(LM_CQT_BLOCK + 1, sizeof *tab.inv_sin),
        .shift = lm_cqt_alloc(LM_CQT_BLOCK / 2 + 1, sizeof *tab.shift),
        .sin_up = lm_malloc(2 * UP_MAX, sizeof *tab.sin_up),
    };
    if (!bank || !sparse || !tab.inv_sin || !tab.shift || !tab.sin_up) goto fail;
    bank->bins_per_octave = grid->bins_per_octave;
    bank->n_bins = grid->n_bins;
    bank->n_kernels = N_KERNELS;
    bank->kernels = lm_calloc((size_t)N_KERNELS, sizeof *bank->kernels);
    if (!bank->kernels) goto fail;
    const size_t N = LM_CQT_BLOCK;
    tab.inv_sin[N / 2] = 0;
    for (size_t j = 0; j <= N / 2; j++) {
        double c = cos(M_PI * (double)j / (double)N), s = sin(M_PI * (double)j / (double)N);
        tab.shift[j] = CMPLX(c, -s);
        if (j > 0) {
            tab.inv_sin[N / 2 + j] = 1.0 / s;
            tab.inv_sin[N / 2 - j] = -1.0 / s;
        }
    }
    for (size_t r = 0; r < 2 * UP_MAX; r++) tab.sin_up[r] = sin(M_PI * (double)r / (double)UP_MAX);

    int failed = 0;
    size_t max_half = pow2_at_least(quality * SR / (LM_HCQT_FMIN * 0.5)) / 2 + 1;
#pragma omp parallel num_threads(lm_threads())
    {
        double *mag = malloc(max_half * sizeof *mag), *scratch = malloc(max_half * sizeof *scratch);
        if (!mag || !scratch) failed = 1;
#pragma omp for schedule(dynamic)
        for (int u = 0; u < N_KERNELS; u++) {
            if (failed) continue;
            double freq, group_freq;
            kernel_rows(grid, u, &bank->kernels[u], &freq, &group_freq);
            if (build_sparse(&sparse[u], freq, group_freq, quality, mag, scratch) < 0) failed = 1;
            else support(&sparse[u], &bank->kernels[u]);
        }
        free(mag);
        free(scratch);
    }
    if (failed) {
        lm_set_error("out of memory building the CQT kernels");
        goto fail;
    }
    size_t total = 0, longest = 0;
    for (int u = 0; u < N_KERNELS; u++) {
        total += bank->kernels[u].len;
        if (bank->kernels[u].len > longest) longest = bank->kernels[u].len;
    }
    bank->pool = lm_cqt_alloc(total, sizeof *bank->pool);
    if (!bank->pool) goto fail;
    bank->pool_len = total;
    size_t offset = 0;
    for (int u = 0; u < N_KERNELS; u++) {
        bank->kernels[u].coef = bank->pool + offset;
        bank->kernels[u].freq = sparse[u].freq;
        offset += bank->kernels[u].len;
    }
#pragma omp parallel num_threads(lm_threads())
    {
        double *re = malloc(longest * sizeof *re), *im = malloc(longest * sizeof *im);
        if (!re || !im) failed = 1;
#pragma omp for schedule(dynamic)
        for (int u = 0; u < N_KERNELS; u++) {
            if (failed) continue;
            lm_cqt_kernel *k = &bank->kernels[u];
            interpolate(&sparse[u], &tab, re, im, k, (float complex *)k->coef);
        }
        free(re);
        free(im);
    }
    if (failed) {
        lm_set_error("out of memory building the CQT kernels");
        goto fail;
    }
    qsort(bank->kernels, (size_t)N_KERNELS, sizeof *bank->kernels, cmp_kernel_cost);

    /* FFTW's planner is not thread-safe: plans are made once, here, under the bank lock. */
    /* same allocator as the work buffers, so that the plans' alignment assumptions hold */
    float *x = lm_cqt_alloc(LM_CQT_BLOCK, sizeof *x);
    fftwf_complex *X = lm_cqt_alloc(LM_CQT_BLOCK / 2 + 1, sizeof *X);
    fftwf_complex *z = lm_cqt_alloc(LM_CQT_M, sizeof *z);
    if (x && X && z) {
        /* The same named lock as every other FFTW planning site in leitmotif (stft_chroma.c). */
#pragma omp critical(lm_fftw_planner)
        {
            bank->forward = fftwf_plan_dft_r2c_1d((int)LM_CQT_BLOCK, x, X, FFTW_ESTIMATE);
            bank->inverse = fftwf_plan_dft_1d((int)LM_CQT_M, z, z, FFTW_BACKWARD, FFTW_ESTIMATE);
        }
    }
    free(x);
    free(X);
    free(z);
    if (!bank->forward || !bank->inverse) {
        lm_set_error("could not plan the CQT FFTs");
        goto fail;
    }
    ok = 1;
fail: /* also the success path: the build-time tables are freed either way */
    if (sparse)
        for (int u = 0; u < N_KERNELS; u++) {
            free(sparse[u].q);
            free(sparse[u].b);
        }
    free(sparse);
    free(tab.inv_sin);
    free(tab.shift);
    free(tab.sin_up);
    if (ok) return bank;
    if (bank) {
        if (bank->forward) fftwf_destroy_plan(bank->forward);
        if (bank->inverse) fftwf_destroy_plan(bank->inverse);
        free(bank->pool);
        free(bank->kernels);
        free(bank);
    }
    return NULL;
}

const lm_cqt_bank *lm_cqt_bank_get(const lm_hcqt_grid *grid) {
    /* one bank per grid; leitmotif has two (the deep chroma's and the salience network's) */
    enum { MAX_GRIDS = 4 };
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static lm_cqt_bank *banks[MAX_GRIDS];
    if (grid->bins_per_octave < 12 || grid->bins_per_octave > 120 || grid->n_bins < 1 ||
        grid->n_bins > 6 * grid->bins_per_octave) {
        lm_set_error("HCQT: unsupported grid (%d bins per octave, %d bins)", grid->bins_per_octave, grid->n_bins);
        return NULL;
    }
    lm_cqt_bank *b = NULL;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_GRIDS; i++) {
        if (!banks[i]) {
            b = banks[i] = bank_build(grid);
            break;
        }
        if (banks[i]->bins_per_octave == grid->bins_per_octave && banks[i]->n_bins == grid->n_bins) {
            b = banks[i];
            break;
        }
    }
    if (!b && banks[MAX_GRIDS - 1]) lm_set_error("HCQT: too many grids in one process");
    pthread_mutex_unlock(&lock);
    return b;
}
