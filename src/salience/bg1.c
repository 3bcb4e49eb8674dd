/* BG1 pitch salience (Bosch & Gómez, SMC 2016; Bosch, Bittner, Salamon & Gómez, ISMIR 2016;
 * MIREX 2016 submission "BG1"), folded to chroma at 25 Hz.
 *
 * Written from the papers and from reading the authors' published Python 2 code
 * (juanjobosch/SourceFilterContoursMelody: MelodyExtractionFromSingleWav.py, parsing.py,
 * SourceFilterModelSF.py, SIMM.py, HarmonicSummationSF.py, combineSaliences.py; the SIMM
 * parts are Durrieu's separateLeadStereo code as adapted there) and Essentia's
 * PitchSalienceFunction, which BG1 calls; no code was copied.
 *
 * What BG1 computes, and the parameters followed:
 *   1. SIMM (Durrieu et al., IEEE TASLP 2010): the power spectrogram SX is modelled as
 *      (W_F0 H_F0) .* (W_Gamma H_Gamma H_Phi) + W_M H_M and fitted with the multiplicative
 *      Itakura-Saito updates, in SIMM.py's order (H_F0, H_Phi, H_M, H_Gamma, W_M), with its
 *      normalisations (columns of H_Phi, H_Gamma and W_M sum to one, the scale moved into
 *      H_F0, H_Phi and H_M) and random |N(0,1)| initialisation (here a fixed-seed generator).
 *      - window 0.04644 s rounded to the next power of two (2048 samples at their 44.1 kHz,
 *        1024 here at 22050 Hz: the same 46.4 ms), sine-bell window, FFT size = window;
 *        SX floored at 1e-9 after scaling the signal to a peak of 1/1.2, as they do;
 *      - W_F0: KLGLOTT88 glottal-source combs (open quotient 0.25, partials up to Nyquist,
 *        one comb per F0, no chirps), the power spectrum of the sine-bell-windowed comb,
 *        each column scaled to a maximum of 1; F0 from 55 to 1760 Hz with 10 combs per
 *        semitone (601 combs);
 *      - W_Gamma: 30 Hann bands on a linear frequency axis with 75% overlap; 10 filters
 *        (K); 40 accompaniment shapes (R); no octave penalty (lambda = 0, as in BG1);
 *      - 30 iterations (the MIREX 2016 command line of BG1; the code's default is 20).
 *   2. Harmonic summation (HarmonicSummationSF.py -> Essentia PitchSalienceFunction with its
 *      defaults): Hann window of 46.4 ms zero-padded to four times its length, magnitude
 *      spectrum, up to 100 spectral peaks (largest first, parabolic interpolation), peaks
 *      more than 40 dB below the frame's largest ignored, 20 harmonics weighted 0.8^(h-1),
 *      each contribution spread over +-1 semitone with cos^2 weights, 10-cent bins from
 *      55 Hz (600 bins).
 *   3. Combination (combineSaliences.combine3MIREX -> combine2 with G = 0, mu = 1, Gaussian
 *      convolution on, frame-max normalisation of H_F0): H_F0 divided by its maximum in each
 *      frame, convolved across pitch with the 5-tap Gaussian (taps at -2.5, -1.25, 0, 1.25,
 *      2.5 with sigma 2, normalised to sum 1, zero outside the range), then multiplied bin
 *      by bin with the harmonic-summation salience. Their global normalisations (HS by its
 *      maximum, the product by its maximum) only scale whole matrices and vanish in the
 *      per-frame l2 normalisation below, so they are left out.
 *
 * Simplifications, and why:
 *   - Frame rate: both saliences are computed directly on the 25 Hz grid (hop 882 samples,
 *     frames centred at 0.04 i s, zero outside the signal) instead of BG1's 10 ms hop. The
 *     46.4 ms windows still cover the whole signal, every per-frame update of SIMM is
 *     independent of the neighbouring frames, and the cost is a quarter. This is what makes
 *     SIMM affordable (~85x real time per core); averaging 10 ms frames would cost 4x.
 *   - SIMM is fitted in independent segments of at most 750 frames (30 s; a file is cut into
 *     equal segments), each with its own W_M and H_Gamma. BG1 fits them per file, but much
 *     of the data it was tuned and evaluated on (Orchset, MIREX's ADC2004 and MIREX05) are
 *     excerpts of tens of seconds; segments keep the memory bounded for hour-long
 *     recordings and keep the 40-shape accompaniment model as local as on those excerpts.
 *   - Spectrum: the Nyquist bin is left out of the model (512 bins, 0 to 11 kHz), so that
 *     the bin count is a multiple of the vector width.
 *   - Harmonic summation: Essentia's EqualLoudness filter (ReplayGain's Yule-Walk filter +
 *     a 2nd-order Butterworth high-pass at 150 Hz) has coefficients only for 32, 44.1 and
 *     48 kHz. We apply the high-pass's magnitude response, f^2 / sqrt(f^4 + 150^4), to the
 *     magnitude spectrum and leave out the Yule-Walk part (the mild 80-phon contour shaping).
 *   - BG1 pairs SIMM row b+1 with HS row b (it drops SIMM's first comb so that both have
 *     600 rows, a 10-cent offset); we pair equal frequencies (rows 0..599 of both).
 *   - Floors: SIMM uses eps = 1e-20 everywhere in float64; in float32 we floor the model
 *     spectra, the denominators and hat(SX) at 1e-12 (three decades below the 1e-9 floor of
 *     SX, so it never binds on real input but keeps 1/hat^2 finite), H_M, W_M, H_Gamma at
 *     1e-20 as SIMM does, and H_F0, H_Phi at 1e-30 (SIMM leaves them unfloored; the floor
 *     only keeps them out of the subnormal range).
 *
 * Chroma: salience bin b (55 * 2^(b/120) Hz) belongs to the equal-tempered (A4 = 440 Hz)
 * semitone nearest to it (a bin exactly between two goes up); the salience is SUMMED over
 * the bins of each pitch class in all octaves. Summing keeps the whole mass of a note's
 * salience peak whatever its tuning or its spread over neighbouring bins (the Gaussian
 * smoothing and the cos^2 spreading make peaks several bins wide), where a maximum would
 * depend on where the peak falls in the 10-cent grid; summing over octaves is also how
 * pitch features are folded to chroma elsewhere. Each frame is then l2-normalised.
 *
 * Speed: the H_F0 update and W_F0 H_F0 (3 x 512 x 601 multiply-adds per frame and iteration,
 * ~85% of the work) are register-blocked matrix products over 32 frames at a time (16-float
 * vector accumulators, fused multiply-adds, W_F0 packed in panels that are streamed once per
 * 32 frames); W_F0 and the FFT plans are built once per process (~0.05 s). Segments are
 * independent and handed to lm_threads() OpenMP threads dynamically; inside a segment
 * everything runs on one thread. An earlier version split each segment's frames over the
 * threads, but SIMM needs two global updates (W_M, H_Gamma) per iteration, i.e. 60
 * barriers per segment, and on a machine shared with other processes every barrier waits
 * for a descheduled thread: it ran 5-10x slower than one thread. Per segment, the sums over
 * frames are formed in frame order, so the output does not depend on the thread count.
 * Measured (AMD EPYC with AVX-512, GCC 12, -O3 -march=native): ~85x real time per core on
 * orchestral recordings (10-min and 15-min files and the 4-6 s reference excerpts);
 * a recording shorter than 30 s is one segment and uses one thread. In the portable build every
 * function with numeric loops is marked LM_HOT (src/common/dispatch.h): compiled for AVX-512,
 * AVX2 + FMA and plain x86-64; on an AVX-512 machine as fast as, and bit for bit equal to, the
 * -march=native build (the AVX2 and plain versions differ in the last bits: the compiler fuses
 * multiply-adds differently when its vectors are narrower, or has no FMA). */
#pragma GCC optimize("fp-contract=fast")
#include "salience/bg1.h"

#include <fftw3.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/dispatch.h"
#include "common/error.h"
#include "common/threads.h"

enum {
    SR = 22050,
    HOP = 882,
    WIN = 1024,              /* SIMM window and FFT size */
    F = WIN / 2,             /* model bins 0 .. 511 */
    STEP = 10,               /* F0 combs per semitone */
    NF0 = 5 * 12 * STEP + 1, /* 55 .. 1760 Hz */
    NF0P = 608,              /* padded with zero combs to a multiple of 4 (and 16) */
    P_GAMMA = 30,
    K_PHI = 10,
    K_LD = 12, /* W_Phi columns padded with zeros to a multiple of 4 */
    KP = 16,   /* H_Phi rows padded for the H_Gamma reduction */
    R_ACC = 40,
    RP = 48, /* H_M rows padded for the W_M reduction */
    N_ITER = 30,
    NB = 32,       /* frames per chunk */
    SEG_MAX = 750, /* frames per SIMM segment */
    HS_WIN = 1024,
    HS_NFFT = 4 * HS_WIN,
    HS_NSPEC = HS_NFFT / 2 + 1,
    HS_MAX_PEAKS = 100,
    HS_HARMONICS = 20,
    HS_SPREAD = 10, /* bins per semitone: contributions spread +-10 bins */
    NBINS = LM_BG1_BINS,
    N_CHROMA = 12,
};

static const float EPS = 1e-12f, EPS_H = 1e-20f, TINY = 1e-30f, SX_FLOOR = 1e-9f;
static const double F0_MIN = 55.0, OPEN_QUOTIENT = 0.25, HP_CUTOFF = 150.0;
static const double HS_HARMONIC_WEIGHT = 0.8, HS_THRESHOLD_DB = 40.0;

typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));
#define VLD(p) (*(const v16 *)(p))
#define VST(p, v) (*(v16 *)(p) = (v))

double lm_bg1_bin_hz(int bin) { return F0_MIN * pow(2.0, bin / (12.0 * STEP)); }

/* ---- dictionaries, windows, FFT plans: built once per process ---------------------------- */

static struct {
    fftwf_plan plan_sf, plan_hs;
    float win_sf[WIN], win_hs[HS_WIN], hs_gain[HS_NSPEC];
    float *wf0t;               /* NF0P x F: row m is comb m (only while building) */
    float *wf0p;               /* panels for atb2p: [NF0P/8][F][8] (8 combs side by side, bin by bin) */
    float *wf0q;               /* panels for abp: [F/8][NF0][8] (8 bins side by side, comb by comb) */
    float wgamma[F * P_GAMMA]; /* F x P */
    float gauss[5];
    float cos2[HS_SPREAD + 1];
    float hweight[HS_HARMONICS];
    float log2h[HS_HARMONICS];
    unsigned char pitch_class[NBINS];
} D;
static int dict_ready;

/* Fourier-series coefficient of harmonic h of the KLGLOTT88 glottal flow derivative with open
 * quotient oq, for fundamental f0 (Durrieu's source model): with z = 2 pi i h oq,
 * c = f0 * 27/4 * (e^-z + 2 (1 + 2 e^-z) / z - 6 (1 - e^-z) / z^2) / z. Complex arithmetic
 * spelled out in doubles. */
LM_HOT static void klglott_coef(double f0, int h, double *re, double *im) {
    const double th = 2.0 * M_PI * h * OPEN_QUOTIENT; /* z = i th */
    const double er = cos(th), ei = -sin(th);         /* e^-z */
    /* 1/z = -i/th, 1/z^2 = -1/th^2 */
    /* term1 = e^-z */
    double sr = er, si = ei;
    /* term2 = 2 (1 + 2 e^-z) / z = 2 (1 + 2 e^-z) * (-i / th) */
    const double ar = 1.0 + 2.0 * er, ai = 2.0 * ei;
    sr += 2.0 * ai / th;
    si += -2.0 * ar / th;
    /* term3 = -6 (1 - e^-z) / z^2 = 6 (1 - e^-z) / th^2 */
    sr += 6.0 * (1.0 - er) / (th * th);
    si += 6.0 * (-ei) / (th * th);
    /* divide by z: (sr + i si) * (-i / th) = (si - i sr) / th */
    const double scale = f0 * 27.0 / 4.0;
    *re = scale * si / th;
    *im = -scale * sr / th;
}

/* Comb m: power spectrum of the sine-bell-windowed KLGLOTT88 signal at F0 = 55 * 2^(m/120),
 * scaled to a maximum of 1. buf: WIN floats, spec: WIN/2+1 complex (FFTW-allocated). */
LM_HOT static void build_comb(int m, float *buf, fftwf_complex *spec, double *acc) {
    const double f0 = lm_bg1_bin_hz(m);
    const int nh = (int)floor((SR / 2.0) / f0);
    for (int t = 0; t < WIN; t++) acc[t] = 0.0;
    for (int h = 1; h <= nh; h++) {
        double cr, ci;
        klglott_coef(f0, h, &cr, &ci);
        /* Re(c e^{i w t}) by rotating phasors: 8 interleaved chains (t = 8 q + l), each
         * advanced by e^{8 i w}, so that the loop vectorises */
        const double w = 2.0 * M_PI * h * f0 / SR;
        double pr[8], pi[8];
        for (int l = 0; l < 8; l++) {
            const double c = cos(w * l), s = sin(w * l);
            pr[l] = cr * c - ci * s;
            pi[l] = cr * s + ci * c;
        }
        const double rr = cos(8.0 * w), ri = sin(8.0 * w);
        for (int t = 0; t < WIN; t += 8)
            for (int l = 0; l < 8; l++) {
                acc[t + l] += pr[l];
                const double nr = pr[l] * rr - pi[l] * ri;
                pi[l] = pr[l] * ri + pi[l] * rr;
                pr[l] = nr;
            }
    }
    for (int t = 0; t < WIN; t++) buf[t] = (float)(acc[t] * D.win_sf[t]);
    fftwf_execute_dft_r2c(D.plan_sf, buf, spec);
    float mx = 0.0f;
    float *col = D.wf0t + (size_t)m * F;
    for (int f = 0; f < F; f++) {
        const float p = spec[f][0] * spec[f][0] + spec[f][1] * spec[f][1];
        col[f] = p;
        mx = p > mx ? p : mx;
    }
    const float inv = mx > 0.0f ? 1.0f / mx : 0.0f;
    for (int f = 0; f < F; f++) col[f] *= inv;
}

/* W_Gamma: P Hann windows on the linear frequency axis with 75% overlap, laid out as in
 * Durrieu's generateHannBasis: 4 windows per unit, window length (even) such that P windows
 * span the F bins, centres spaced by a quarter window starting 3 spacings below half a window. */
LM_HOT static void build_wgamma(void) {
    const double overlap = 0.75;
    const int per_unit = (int)ceil(1.0 / (1.0 - overlap));
    const double ov = 1.0 - 1.0 / per_unit;
    int len = (int)ceil(F / ((1.0 - ov) * (P_GAMMA - 1) + 1.0 - 2.0 * ov));
    len = 2 * (len / 2);
    memset(D.wgamma, 0, sizeof D.wgamma);
    for (int p = 0; p < P_GAMMA; p++) {
        const double centre = round((p - per_unit + 1) * (1.0 - ov) * len + len / 2.0);
        for (int f = 0; f < F; f++) {
            const double j = f - centre + len / 2.0;
            if (j < 0.0 || j >= len) continue;
            /* symmetric Hann of length len */
            D.wgamma[f * P_GAMMA + p] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * j / (len - 1)));
        }
    }
}

LM_HOT static int dict_build(void) {
    int ok = 1;
#pragma omp critical(lm_fftw_planner)
    {
        float *in = fftwf_malloc(sizeof(float) * HS_NFFT);
        fftwf_complex *out = fftwf_malloc(sizeof(fftwf_complex) * HS_NSPEC);
        if (in && out) {
            /* FFTW_ESTIMATE: deterministic algorithm choice */
            D.plan_sf = fftwf_plan_dft_r2c_1d(WIN, in, out, FFTW_ESTIMATE);
            D.plan_hs = fftwf_plan_dft_r2c_1d(HS_NFFT, in, out, FFTW_ESTIMATE);
        }
        fftwf_free(in);
        fftwf_free(out);
        ok = D.plan_sf && D.plan_hs;
    }
    if (!ok) {
        lm_set_error("bg1: could not create the FFTW plans");
        return -1;
    }
    D.wf0t = calloc((size_t)F * NF0P, sizeof(float));
    D.wf0p = calloc((size_t)F * NF0P, sizeof(float));
    D.wf0q = calloc((size_t)F * NF0P, sizeof(float));
    if (!D.wf0t || !D.wf0p || !D.wf0q) {
        free(D.wf0t);
        free(D.wf0p);
        free(D.wf0q);
        D.wf0t = D.wf0p = D.wf0q = NULL;
        lm_set_error("bg1: out of memory");
        return -1;
    }
    for (int t = 0; t < WIN; t++) D.win_sf[t] = (float)sin(M_PI * t / WIN); /* sine bell */
    for (int t = 0; t < HS_WIN; t++) D.win_hs[t] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * t / (HS_WIN - 1)));
    for (int k = 0; k < HS_NSPEC; k++) {
        const double f = (double)k * SR / HS_NFFT, f2 = f * f, c2 = HP_CUTOFF * HP_CUTOFF;
        D.hs_gain[k] = (float)(f2 / sqrt(f2 * f2 + c2 * c2));
    }
    build_wgamma();
    double gsum = 0.0, g[5];
    for (int i = 0; i < 5; i++) {
        const double x = -2.5 + 1.25 * i;
        g[i] = exp(-x * x / (2.0 * 2.0 * 2.0));
        gsum += g[i];
    }
    for (int i = 0; i < 5; i++) D.gauss[i] = (float)(g[i] / gsum);
    for (int d = 0; d <= HS_SPREAD; d++) {
        const double c = cos((double)d / HS_SPREAD * M_PI / 2.0);
        D.cos2[d] = (float)(c * c);
    }
    for (int h = 0; h < HS_HARMONICS; h++) {
        D.hweight[h] = (float)pow(HS_HARMONIC_WEIGHT, h);
        D.log2h[h] = (float)log2(h + 1.0);
    }
    for (int b = 0; b < NBINS; b++) D.pitch_class[b] = (unsigned char)((9 + (b + STEP / 2) / STEP) % N_CHROMA);

    int failed = 0;
#pragma omp parallel num_threads(lm_threads())
    {
        float *buf = fftwf_malloc(sizeof(float) * WIN);
        fftwf_complex *spec = fftwf_malloc(sizeof(fftwf_complex) * (WIN / 2 + 1));
        double *acc = malloc(sizeof(double) * WIN);
        const int ok_local = buf && spec && acc;
        if (!ok_local) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 8)
        for (int m = 0; m < NF0; m++)
            if (ok_local) build_comb(m, buf, spec, acc);
        fftwf_free(buf);
        fftwf_free(spec);
        free(acc);
    }
    if (failed) {
        free(D.wf0t);
        free(D.wf0p);
        free(D.wf0q);
        D.wf0t = D.wf0p = D.wf0q = NULL;
        lm_set_error("bg1: out of memory");
        return -1;
    }
    for (int m = 0; m < NF0; m++)
        for (int f = 0; f < F; f++) {
            const float v = D.wf0t[(size_t)m * F + f];
            D.wf0p[((size_t)(m / 8) * F + f) * 8 + m % 8] = v;
            D.wf0q[((size_t)(f / 8) * NF0 + m) * 8 + f % 8] = v;
        }
    free(D.wf0t);
    D.wf0t = NULL;
    return 0;
}

static int dict_init(void) {
    int ready;
#pragma omp atomic read
    ready = dict_ready;
    if (ready) return 0;
    int rc = 0;
#pragma omp critical(lm_bg1_dict)
    {
        if (!dict_ready) {
            rc = dict_build();
            if (rc == 0) {
#pragma omp atomic write
                dict_ready = 1;
            }
        }
    }
    return rc;
}

/* ---- deterministic |N(0,1)| initialisation ---------------------------------------------- */

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* |N(0,1)| from a hash of (stream, a, b), Box-Muller; strictly positive. */
static float abs_randn(uint64_t stream, uint64_t a, uint64_t b) {
    const uint64_t h1 = mix64(stream * 0x9e3779b97f4a7c15ULL + mix64(a * 0xd1b54a32d192ed03ULL + b));
    const uint64_t h2 = mix64(h1 + 0x9e3779b97f4a7c15ULL);
    const double u1 = ((double)(h1 >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
    const double u2 = (double)(h2 >> 11) / 9007199254740992.0;
    const double v = fabs(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
    return v > 1e-6 ? (float)v : 1e-6f;
}

/* ---- blocked matrix products on 32-frame chunks (row-major, frame index fastest) ------- */

/* num[m][n] = sum_f w[f*ldw + m] a[f][n], den[m][n] likewise with b; M a multiple of 4. */
LM_HOT static void atb2(const float *restrict w, size_t ldw, size_t M, const float *restrict a, const float *restrict b,
                 float *restrict num, float *restrict den) {
    for (size_t m = 0; m < M; m += 4) {
        v16 n0l = {0}, n0h = {0}, n1l = {0}, n1h = {0}, n2l = {0}, n2h = {0}, n3l = {0}, n3h = {0};
        v16 d0l = {0}, d0h = {0}, d1l = {0}, d1h = {0}, d2l = {0}, d2h = {0}, d3l = {0}, d3h = {0};
        const float *wp = w + m;
        const float *ap = a, *bp = b;
        for (size_t f = 0; f < F; f++, wp += ldw, ap += NB, bp += NB) {
            const v16 al = VLD(ap), ah = VLD(ap + 16), bl = VLD(bp), bh = VLD(bp + 16);
            const float w0 = wp[0], w1 = wp[1], w2 = wp[2], w3 = wp[3];
            n0l += al * w0;
            n0h += ah * w0;
            d0l += bl * w0;
            d0h += bh * w0;
            n1l += al * w1;
            n1h += ah * w1;
            d1l += bl * w1;
            d1h += bh * w1;
            n2l += al * w2;
            n2h += ah * w2;
            d2l += bl * w2;
            d2h += bh * w2;
            n3l += al * w3;
            n3h += ah * w3;
            d3l += bl * w3;
            d3h += bh * w3;
        }
        float *np = num + m * NB, *dp = den + m * NB;
        VST(np, n0l);
        VST(np + 16, n0h);
        VST(np + NB, n1l);
        VST(np + NB + 16, n1h);
        VST(np + 2 * NB, n2l);
        VST(np + 2 * NB + 16, n2h);
        VST(np + 3 * NB, n3l);
        VST(np + 3 * NB + 16, n3h);
        VST(dp, d0l);
        VST(dp + 16, d0h);
        VST(dp + NB, d1l);
        VST(dp + NB + 16, d1h);
        VST(dp + 2 * NB, d2l);
        VST(dp + 2 * NB + 16, d2h);
        VST(dp + 3 * NB, d3l);
        VST(dp + 3 * NB + 16, d3h);
    }
}

/* out[f][n] = max(sum_{m<M} W[f][m] h[m][n], EPS) for all F rows (F a multiple of 8), where the 8
 * weights W[f..f+7][m] are contiguous at w + f * fstep + m * mstep: one loop for both layouts
 * below, inlined into each so that their strides stay compile-time constants where they are. */
static inline __attribute__((always_inline)) void ab_core(const float *restrict w, size_t fstep, size_t mstep,
                                                          size_t M, const float *restrict h,
                                                          float *restrict out) {
    for (size_t f = 0; f < F; f += 8) {
        v16 c0l = {0}, c0h = {0}, c1l = {0}, c1h = {0}, c2l = {0}, c2h = {0}, c3l = {0}, c3h = {0};
        v16 c4l = {0}, c4h = {0}, c5l = {0}, c5h = {0}, c6l = {0}, c6h = {0}, c7l = {0}, c7h = {0};
        const float *wp = w + f * fstep, *hp = h;
        for (size_t m = 0; m < M; m++, wp += mstep, hp += NB) {
            const v16 hl = VLD(hp), hh = VLD(hp + 16);
            c0l += hl * wp[0];
            c0h += hh * wp[0];
            c1l += hl * wp[1];
            c1h += hh * wp[1];
            c2l += hl * wp[2];
            c2h += hh * wp[2];
            c3l += hl * wp[3];
            c3h += hh * wp[3];
            c4l += hl * wp[4];
            c4h += hh * wp[4];
            c5l += hl * wp[5];
            c5h += hh * wp[5];
            c6l += hl * wp[6];
            c6h += hh * wp[6];
            c7l += hl * wp[7];
            c7h += hh * wp[7];
        }
        float *op = out + f * NB;
        VST(op, c0l);
        VST(op + 16, c0h);
        VST(op + NB, c1l);
        VST(op + NB + 16, c1h);
        VST(op + 2 * NB, c2l);
        VST(op + 2 * NB + 16, c2h);
        VST(op + 3 * NB, c3l);
        VST(op + 3 * NB + 16, c3h);
        VST(op + 4 * NB, c4l);
        VST(op + 4 * NB + 16, c4h);
        VST(op + 5 * NB, c5l);
        VST(op + 5 * NB + 16, c5h);
        VST(op + 6 * NB, c6l);
        VST(op + 6 * NB + 16, c6h);
        VST(op + 7 * NB, c7l);
        VST(op + 7 * NB + 16, c7h);
    }
    for (size_t i = 0; i < (size_t)F * NB; i++) out[i] = out[i] > EPS ? out[i] : EPS;
}

/* W transposed: W[f][m] = wt[m*ldt + f]. */
LM_HOT static void ab(const float *restrict wt, size_t ldt, size_t M, const float *restrict h, float *restrict out) {
    ab_core(wt, 1, ldt, M, h, out);
}

/* The same products with W_F0 packed in panels (contiguous, streamed once per chunk):
 * num[m][n] = sum_f W[f][m] a[f][n] (and den with b) for m < 8 * npanels, panels wp[m/8][f][m%8];
 * 8 combs x 16 frames x (num, den) accumulators per pass over the bins. */
LM_HOT static void atb2p(const float *restrict wp, size_t npanels, const float *restrict a, const float *restrict b,
                  float *restrict num, float *restrict den) {
    for (size_t pb = 0; pb < npanels; pb++)
        for (size_t half = 0; half < NB; half += 16) {
            v16 n0 = {0}, n1 = {0}, n2 = {0}, n3 = {0}, n4 = {0}, n5 = {0}, n6 = {0}, n7 = {0};
            v16 d0 = {0}, d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0}, d5 = {0}, d6 = {0}, d7 = {0};
            const float *w = wp + pb * (size_t)F * 8, *ap = a + half, *bp = b + half;
            for (size_t f = 0; f < F; f++, w += 8, ap += NB, bp += NB) {
                const v16 av = VLD(ap), bv = VLD(bp);
                n0 += av * w[0];
                d0 += bv * w[0];
                n1 += av * w[1];
                d1 += bv * w[1];
                n2 += av * w[2];
                d2 += bv * w[2];
                n3 += av * w[3];
                d3 += bv * w[3];
                n4 += av * w[4];
                d4 += bv * w[4];
                n5 += av * w[5];
                d5 += bv * w[5];
                n6 += av * w[6];
                d6 += bv * w[6];
                n7 += av * w[7];
                d7 += bv * w[7];
            }
            float *np = num + pb * 8 * NB + half, *dp = den + pb * 8 * NB + half;
            VST(np, n0);
            VST(np + NB, n1);
            VST(np + 2 * NB, n2);
            VST(np + 3 * NB, n3);
            VST(np + 4 * NB, n4);
            VST(np + 5 * NB, n5);
            VST(np + 6 * NB, n6);
            VST(np + 7 * NB, n7);
            VST(dp, d0);
            VST(dp + NB, d1);
            VST(dp + 2 * NB, d2);
            VST(dp + 3 * NB, d3);
            VST(dp + 4 * NB, d4);
            VST(dp + 5 * NB, d5);
            VST(dp + 6 * NB, d6);
            VST(dp + 7 * NB, d7);
        }
}

/* W packed as wq[f/8][m][f%8] (contiguous, streamed once per chunk). */
LM_HOT static void abp(const float *restrict wq, size_t M, const float *restrict h, float *restrict out) {
    ab_core(wq, M, 8, M, h, out);
}

/* cn[f][j] += sum_n a[f][n] ht[n][j], cd likewise with b; j < MP (a multiple of 16). */
LM_HOT static void reduce2(const float *restrict a, const float *restrict b, const float *restrict ht, size_t MP,
                    float *restrict cn, float *restrict cd) {
    for (size_t f = 0; f < F; f += 4)
        for (size_t j = 0; j < MP; j += 16) {
            v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
            const float *ar = a + f * NB, *br = b + f * NB;
            for (size_t n = 0; n < NB; n++) {
                const v16 hv = VLD(ht + n * MP + j);
                a0 += hv * ar[n];
                a1 += hv * ar[NB + n];
                a2 += hv * ar[2 * NB + n];
                a3 += hv * ar[3 * NB + n];
                b0 += hv * br[n];
                b1 += hv * br[NB + n];
                b2 += hv * br[2 * NB + n];
                b3 += hv * br[3 * NB + n];
            }
            VST(cn + f * MP + j, VLD(cn + f * MP + j) + a0);
            VST(cn + (f + 1) * MP + j, VLD(cn + (f + 1) * MP + j) + a1);
            VST(cn + (f + 2) * MP + j, VLD(cn + (f + 2) * MP + j) + a2);
            VST(cn + (f + 3) * MP + j, VLD(cn + (f + 3) * MP + j) + a3);
            VST(cd + f * MP + j, VLD(cd + f * MP + j) + b0);
            VST(cd + (f + 1) * MP + j, VLD(cd + (f + 1) * MP + j) + b1);
            VST(cd + (f + 2) * MP + j, VLD(cd + (f + 2) * MP + j) + b2);
            VST(cd + (f + 3) * MP + j, VLD(cd + (f + 3) * MP + j) + b3);
        }
}

/* ---- element-wise steps on F x NB chunk matrices ---------------------------------------- */

LM_HOT static void hat_from(const float *restrict sf0, const float *restrict sphi, const float *restrict sm,
                     float *restrict hat) {
    for (size_t i = 0; i < (size_t)F * NB; i++) {
        const float v = sf0[i] * sphi[i] + sm[i];
        hat[i] = v > EPS ? v : EPS;
    }
}

/* The two factors of an IS multiplicative update: a = g sx / hat^2, b = g / hat (g = 1 if NULL). */
LM_HOT static void ratios(const float *restrict g, const float *restrict sx, const float *restrict hat, float *restrict a,
                   float *restrict b) {
    if (g) {
        for (size_t i = 0; i < (size_t)F * NB; i++) {
            const float r = 1.0f / hat[i], q = g[i] * r;
            b[i] = q;
            a[i] = q * sx[i] * r;
        }
    } else {
        for (size_t i = 0; i < (size_t)F * NB; i++) {
            const float r = 1.0f / hat[i];
            b[i] = r;
            a[i] = sx[i] * r * r;
        }
    }
}

LM_HOT static void mult_update(float *restrict h, const float *restrict num, const float *restrict den, size_t count,
                        float floor_value) {
    for (size_t i = 0; i < count; i++) {
        const float d = den[i] > EPS ? den[i] : EPS;
        const float v = h[i] * (num[i] / d);
        h[i] = v > floor_value ? v : floor_value; /* also maps NaN to the floor */
    }
}

/* ---- per-call state ---------------------------------------------------------------------- */

typedef struct {
    float freq, mag;
    int bin;
} hs_peak;

typedef struct {
    float *a, *b;         /* F x NB */
    float *num, *den;     /* NF0P x NB */
    float *ht;            /* NB x RP */
    float *fbuf;          /* HS_NFFT, FFTW-allocated */
    fftwf_complex *fspec; /* HS_NSPEC, FFTW-allocated */
    float *mag;           /* HS_NSPEC */
    hs_peak *peaks;       /* HS_NSPEC */
    float *colbuf;        /* 3 * NBINS */
} scratch;

typedef struct {
    size_t cap;                        /* chunks */
    float *sx, *sf0, *sphi, *sm, *hat; /* cap x F x NB */
    float *hf0;                        /* cap x NF0P x NB */
    float *hphi;                       /* cap x K_LD x NB */
    float *hm;                         /* cap x R_ACC x NB */
    float *hs;                         /* cap x NB x NBINS, frame-major */
    float *cn, *cd;                    /* F x RP: sums over the chunks for the global updates */
    float hgamma[P_GAMMA * K_PHI];
    float wphi[F * K_LD], wphit[K_PHI * F];
    float wm[F * R_ACC], wmt[R_ACC * F];
    float sum_hg[K_PHI], sum_wm[R_ACC];
} seg_state;

#define CH(base, rows, c) ((base) + (size_t)(c) * (rows)*NB)

static void seg_free(seg_state *s) {
    if (!s) return;
    free(s->sx);
    free(s->sf0);
    free(s->sphi);
    free(s->sm);
    free(s->hat);
    free(s->hf0);
    free(s->hphi);
    free(s->hm);
    free(s->hs);
    free(s->cn);
    free(s->cd);
    free(s);
}

static void *alloc64(size_t count) {
    size_t bytes = count * sizeof(float);
    bytes = (bytes + 63) / 64 * 64;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) return NULL;
    return p;
}

static seg_state *seg_alloc(size_t cap, int with_nmf) {
    seg_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cap = cap;
    const size_t fm = cap * (size_t)F * NB;
    s->hs = alloc64(cap * (size_t)NB * NBINS);
    if (!s->hs) goto fail;
    if (with_nmf) {
        s->sx = alloc64(fm);
        s->sf0 = alloc64(fm);
        s->sphi = alloc64(fm);
        s->sm = alloc64(fm);
        s->hat = alloc64(fm);
        s->hf0 = alloc64(cap * (size_t)NF0P * NB);
        s->hphi = alloc64(cap * (size_t)K_LD * NB);
        s->hm = alloc64(cap * (size_t)R_ACC * NB);
        s->cn = alloc64((size_t)F * RP);
        s->cd = alloc64((size_t)F * RP);
        if (!s->sx || !s->sf0 || !s->sphi || !s->sm || !s->hat || !s->hf0 || !s->hphi || !s->hm || !s->cn || !s->cd)
            goto fail;
    }
    return s;
fail:
    seg_free(s);
    return NULL;
}

static void scratch_free(scratch *w) {
    free(w->a);
    free(w->b);
    free(w->num);
    free(w->den);
    free(w->ht);
    fftwf_free(w->fbuf);
    fftwf_free(w->fspec);
    free(w->mag);
    free(w->peaks);
    free(w->colbuf);
}

static int scratch_alloc(scratch *w) {
    memset(w, 0, sizeof *w);
    w->a = alloc64((size_t)F * NB);
    w->b = alloc64((size_t)F * NB);
    w->num = alloc64((size_t)NF0P * NB);
    w->den = alloc64((size_t)NF0P * NB);
    w->ht = alloc64((size_t)NB * RP);
    w->fbuf = fftwf_malloc(sizeof(float) * HS_NFFT);
    w->fspec = fftwf_malloc(sizeof(fftwf_complex) * HS_NSPEC);
    w->mag = malloc(sizeof(float) * HS_NSPEC);
    w->peaks = malloc(sizeof(hs_peak) * HS_NSPEC);
    w->colbuf = malloc(sizeof(float) * 3 * NBINS);
    if (w->a && w->b && w->num && w->den && w->ht && w->fbuf && w->fspec && w->mag && w->peaks && w->colbuf) return 0;
    scratch_free(w);
    return -1;
}

/* ---- per-frame spectra ------------------------------------------------------------------ */

/* Samples of the frame centred at global frame i: x[t] = scale * y[i*HOP - WIN/2 + t], zero
 * outside the signal. The scale is a double: for a signal of subnormal samples it exceeds
 * FLT_MAX. */
LM_HOT static void load_frame(const float *y, size_t n, size_t i, double scale, const float *win, float *out) {
    const ptrdiff_t start = (ptrdiff_t)(i * HOP) - WIN / 2;
    for (int t = 0; t < WIN; t++) {
        const ptrdiff_t k = start + t;
        out[t] = (k >= 0 && (size_t)k < n) ? (float)(y[k] * scale) * win[t] : 0.0f;
    }
}

/* SIMM spectrum of frame i into column col of the chunk matrix sx (F x NB). */
LM_HOT static void simm_spectrum(const float *y, size_t n, size_t i, double scale, scratch *w, float *sx, size_t col) {
    load_frame(y, n, i, scale, D.win_sf, w->fbuf);
    fftwf_execute_dft_r2c(D.plan_sf, w->fbuf, w->fspec);
    for (int f = 0; f < F; f++) {
        const float p = w->fspec[f][0] * w->fspec[f][0] + w->fspec[f][1] * w->fspec[f][1];
        sx[(size_t)f * NB + col] = p > SX_FLOOR ? p : SX_FLOOR;
    }
}

static int peak_cmp(const void *pa, const void *pb) {
    const hs_peak *a = pa, *b = pb;
    if (a->mag != b->mag) return a->mag > b->mag ? -1 : 1;
    return a->bin - b->bin;
}

/* Harmonic-summation salience of frame i (NBINS values). */
LM_HOT static void hs_salience(const float *y, size_t n, size_t i, double scale, scratch *w, float *sal) {
    memset(sal, 0, sizeof(float) * NBINS);
    load_frame(y, n, i, scale, D.win_hs, w->fbuf);
    memset(w->fbuf + HS_WIN, 0, sizeof(float) * (HS_NFFT - HS_WIN));
    fftwf_execute_dft_r2c(D.plan_hs, w->fbuf, w->fspec);
    float *mag = w->mag;
    for (int k = 0; k < HS_NSPEC; k++)
        mag[k] = sqrtf(w->fspec[k][0] * w->fspec[k][0] + w->fspec[k][1] * w->fspec[k][1]) * D.hs_gain[k];
    /* local maxima, refined by a parabola through the bin and its neighbours */
    int np = 0;
    for (int k = 1; k < HS_NSPEC - 1; k++) {
        const float b = mag[k];
        if (!(b > mag[k - 1] && b >= mag[k + 1] && b > 0.0f)) continue;
        const float a = mag[k - 1], c = mag[k + 1], curv = a - 2.0f * b + c;
        const float p = curv < 0.0f ? 0.5f * (a - c) / curv : 0.0f;
        const float freq = ((float)k + p) * (float)SR / HS_NFFT;
        if (freq < 1.0f) continue;
        w->peaks[np++] = (hs_peak){freq, b - 0.25f * (a - c) * p, k};
    }
    if (np == 0) return;
    qsort(w->peaks, (size_t)np, sizeof(hs_peak), peak_cmp);
    if (np > HS_MAX_PEAKS) np = HS_MAX_PEAKS;
    const float min_mag = w->peaks[0].mag * (float)pow(10.0, -HS_THRESHOLD_DB / 20.0);
    for (int q = 0; q < np; q++) {
        const hs_peak *pk = &w->peaks[q];
        if (!(pk->mag > min_mag)) continue;
        const float lf = log2f(pk->freq / (float)F0_MIN);
        for (int h = 0; h < HS_HARMONICS; h++) {
            const int centre = (int)floorf(12.0f * STEP * (lf - D.log2h[h]) + 0.5f);
            if (centre < 0) break; /* higher harmonics only go lower */
            const int lo = centre - HS_SPREAD > 0 ? centre - HS_SPREAD : 0;
            const int hi = centre + HS_SPREAD < NBINS - 1 ? centre + HS_SPREAD : NBINS - 1;
            const float amp = pk->mag * D.hweight[h];
            for (int b = lo; b <= hi; b++) sal[b] += amp * D.cos2[abs(b - centre)];
        }
    }
}

/* ---- SIMM passes ----------------------------------------------------------------------- */

LM_HOT static void chunk_init(seg_state *s, size_t seg_start, size_t c) {
    float *hf0 = CH(s->hf0, NF0P, c), *hphi = CH(s->hphi, K_LD, c), *hm = CH(s->hm, R_ACC, c);
    for (size_t j = 0; j < NB; j++) {
        const uint64_t frame = seg_start + c * NB + j;
        for (int m = 0; m < NF0P; m++) hf0[(size_t)m * NB + j] = m < NF0 ? abs_randn(1, frame, (uint64_t)m) : 0.0f;
        for (int k = 0; k < K_LD; k++) hphi[(size_t)k * NB + j] = k < K_PHI ? abs_randn(2, frame, (uint64_t)k) : 0.0f;
        for (int r = 0; r < R_ACC; r++) hm[(size_t)r * NB + j] = abs_randn(3, frame, (uint64_t)r);
    }
    float *sf0 = CH(s->sf0, F, c), *sphi = CH(s->sphi, F, c), *sm = CH(s->sm, F, c);
    abp(D.wf0q, NF0, hf0, sf0);
    ab(s->wphit, F, K_PHI, hphi, sphi);
    ab(s->wmt, F, R_ACC, hm, sm);
    hat_from(sf0, sphi, sm, CH(s->hat, F, c));
}

LM_HOT static void globals_init(seg_state *s, size_t seg_start) {
    for (int p = 0; p < P_GAMMA; p++)
        for (int k = 0; k < K_PHI; k++) s->hgamma[p * K_PHI + k] = abs_randn(5, seg_start, (uint64_t)(p * K_PHI + k));
    for (int f = 0; f < F; f++)
        for (int r = 0; r < R_ACC; r++) s->wm[f * R_ACC + r] = abs_randn(4, seg_start, (uint64_t)(f * R_ACC + r));
    for (int r = 0; r < R_ACC; r++) s->sum_wm[r] = 1.0f;
    for (int f = 0; f < F; f++) {
        for (int k = 0; k < K_LD; k++) {
            float v = 0.0f;
            if (k < K_PHI) {
                for (int p = 0; p < P_GAMMA; p++) v += D.wgamma[f * P_GAMMA + p] * s->hgamma[p * K_PHI + k];
                v = v > EPS ? v : EPS;
                s->wphit[k * F + f] = v;
            }
            s->wphi[f * K_LD + k] = v;
        }
        for (int r = 0; r < R_ACC; r++) s->wmt[r * F + f] = s->wm[f * R_ACC + r];
    }
}

/* H_Phi column sums moved into H_F0 (and S_F0): the scale-fixing step of SIMM. */
LM_HOT static void normalise_hphi(float *restrict hphi, float *restrict hf0, float *restrict sf0) {
    float sum[NB] = {0}, inv[NB], mul[NB];
    for (int k = 0; k < K_PHI; k++)
        for (size_t j = 0; j < NB; j++) sum[j] += hphi[(size_t)k * NB + j];
    for (size_t j = 0; j < NB; j++) {
        const int ok = sum[j] > 0.0f;
        inv[j] = ok ? 1.0f / sum[j] : 1.0f;
        mul[j] = ok ? sum[j] : 1.0f;
    }
    for (int k = 0; k < K_PHI; k++)
        for (size_t j = 0; j < NB; j++) hphi[(size_t)k * NB + j] *= inv[j];
    for (int m = 0; m < NF0; m++)
        for (size_t j = 0; j < NB; j++) {
            const float v = hf0[(size_t)m * NB + j] * mul[j];
            hf0[(size_t)m * NB + j] = v > TINY ? v : TINY;
        }
    for (int f = 0; f < F; f++)
        for (size_t j = 0; j < NB; j++) {
            const float v = sf0[(size_t)f * NB + j] * mul[j];
            sf0[(size_t)f * NB + j] = v > EPS ? v : EPS;
        }
}

/* Pass A on chunk c: (pending W_M rescaling of H_M) -> H_F0 -> H_Phi -> H_M updates, then the
 * chunk's partial sums for the H_Gamma update. nvalid: frames of the chunk inside the segment. */
LM_HOT static void pass_a(seg_state *s, scratch *w, size_t c, size_t nvalid, int rescale_hm) {
    float *sx = CH(s->sx, F, c), *sf0 = CH(s->sf0, F, c), *sphi = CH(s->sphi, F, c), *sm = CH(s->sm, F, c);
    float *hat = CH(s->hat, F, c);
    float *hf0 = CH(s->hf0, NF0P, c), *hphi = CH(s->hphi, K_LD, c), *hm = CH(s->hm, R_ACC, c);
    if (rescale_hm) {
        for (int r = 0; r < R_ACC; r++)
            for (size_t j = 0; j < NB; j++) hm[(size_t)r * NB + j] *= s->sum_wm[r];
        ab(s->wmt, F, R_ACC, hm, sm);
        hat_from(sf0, sphi, sm, hat);
    }
    /* H_F0 */
    ratios(sphi, sx, hat, w->a, w->b);
    atb2p(D.wf0p, NF0P / 8, w->a, w->b, w->num, w->den);
    mult_update(hf0, w->num, w->den, (size_t)NF0 * NB, TINY);
    abp(D.wf0q, NF0, hf0, sf0);
    hat_from(sf0, sphi, sm, hat);
    /* H_Phi */
    ratios(sf0, sx, hat, w->a, w->b);
    atb2(s->wphi, K_LD, K_LD, w->a, w->b, w->num, w->den);
    mult_update(hphi, w->num, w->den, (size_t)K_PHI * NB, TINY);
    normalise_hphi(hphi, hf0, sf0);
    ab(s->wphit, F, K_PHI, hphi, sphi);
    hat_from(sf0, sphi, sm, hat);
    /* H_M */
    ratios(NULL, sx, hat, w->a, w->b);
    atb2(s->wm, R_ACC, R_ACC, w->a, w->b, w->num, w->den);
    mult_update(hm, w->num, w->den, (size_t)R_ACC * NB, EPS_H);
    ab(s->wmt, F, R_ACC, hm, sm);
    hat_from(sf0, sphi, sm, hat);
    /* partial sums for H_Gamma: (SF0 SX / hat^2) H_Phi^T and (SF0 / hat) H_Phi^T */
    ratios(sf0, sx, hat, w->a, w->b);
    memset(w->ht, 0, sizeof(float) * NB * KP);
    for (size_t j = 0; j < nvalid; j++)
        for (int k = 0; k < K_PHI; k++) w->ht[j * KP + k] = hphi[(size_t)k * NB + j];
    reduce2(w->a, w->b, w->ht, KP, s->cn, s->cd);
}

/* Pass B on chunk c: apply the H_Gamma normalisation to H_Phi / H_F0, then (unless last) the
 * chunk's partial sums for the W_M update. */
LM_HOT static void pass_b(seg_state *s, scratch *w, size_t c, size_t nvalid, int want_wm) {
    float *sx = CH(s->sx, F, c), *sf0 = CH(s->sf0, F, c), *sphi = CH(s->sphi, F, c), *sm = CH(s->sm, F, c);
    float *hat = CH(s->hat, F, c);
    float *hf0 = CH(s->hf0, NF0P, c), *hphi = CH(s->hphi, K_LD, c), *hm = CH(s->hm, R_ACC, c);
    for (int k = 0; k < K_PHI; k++)
        for (size_t j = 0; j < NB; j++) hphi[(size_t)k * NB + j] *= s->sum_hg[k];
    normalise_hphi(hphi, hf0, sf0);
    if (!want_wm) return;
    ab(s->wphit, F, K_PHI, hphi, sphi);
    hat_from(sf0, sphi, sm, hat);
    ratios(NULL, sx, hat, w->a, w->b);
    memset(w->ht, 0, sizeof(float) * NB * RP);
    for (size_t j = 0; j < nvalid; j++)
        for (int r = 0; r < R_ACC; r++) w->ht[j * RP + r] = hm[(size_t)r * NB + j];
    reduce2(w->a, w->b, w->ht, RP, s->cn, s->cd);
}

LM_HOT static void update_hgamma(seg_state *s) {
    for (int p = 0; p < P_GAMMA; p++)
        for (int k = 0; k < K_PHI; k++) {
            double num = 0.0, den = 0.0;
            for (int f = 0; f < F; f++) {
                const float g = D.wgamma[f * P_GAMMA + p];
                if (g == 0.0f) continue;
                num += (double)g * s->cn[(size_t)f * KP + k];
                den += (double)g * s->cd[(size_t)f * KP + k];
            }
            const double v = s->hgamma[p * K_PHI + k] * (num / (den > EPS ? den : EPS));
            s->hgamma[p * K_PHI + k] = v > EPS_H ? (float)v : EPS_H;
        }
    for (int k = 0; k < K_PHI; k++) {
        float sum = 0.0f;
        for (int p = 0; p < P_GAMMA; p++) sum += s->hgamma[p * K_PHI + k];
        s->sum_hg[k] = sum > 0.0f ? sum : 1.0f;
        if (sum > 0.0f)
            for (int p = 0; p < P_GAMMA; p++) s->hgamma[p * K_PHI + k] /= sum;
    }
    for (int f = 0; f < F; f++)
        for (int k = 0; k < K_PHI; k++) {
            float v = 0.0f;
            for (int p = 0; p < P_GAMMA; p++) v += D.wgamma[f * P_GAMMA + p] * s->hgamma[p * K_PHI + k];
            v = v > EPS ? v : EPS;
            s->wphi[f * K_LD + k] = v;
            s->wphit[k * F + f] = v;
        }
}

LM_HOT static void update_wm(seg_state *s) {
    for (int f = 0; f < F; f++)
        for (int r = 0; r < R_ACC; r++) {
            const float d = s->cd[(size_t)f * RP + r];
            const float v = s->wm[f * R_ACC + r] * (s->cn[(size_t)f * RP + r] / (d > EPS ? d : EPS));
            s->wm[f * R_ACC + r] = v > EPS_H ? v : EPS_H;
        }
    for (int r = 0; r < R_ACC; r++) {
        float sum = 0.0f;
        for (int f = 0; f < F; f++) sum += s->wm[f * R_ACC + r];
        s->sum_wm[r] = sum > 0.0f ? sum : 1.0f;
        const float inv = 1.0f / s->sum_wm[r];
        for (int f = 0; f < F; f++) {
            s->wm[f * R_ACC + r] *= inv;
            s->wmt[r * F + f] = s->wm[f * R_ACC + r];
        }
    }
}

/* ---- output ------------------------------------------------------------------------------ */

/* Frame j of chunk c: writes the requested salience (NBINS values) to sal_col (stride T)
 * and/or the chroma to chroma_col (stride T). */
LM_HOT static void frame_output(const seg_state *s, scratch *w, size_t c, size_t j, enum lm_bg1_part part, float *chroma,
                         float *sal, size_t T, size_t frame) {
    const float *hs = s->hs + (c * NB + j) * (size_t)NBINS;
    float *out = w->colbuf, *h = w->colbuf + NBINS;
    if (part == LM_BG1_HS) {
        memcpy(out, hs, sizeof(float) * NBINS);
    } else {
        const float *hf0 = CH(s->hf0, NF0P, c);
        float mx = 0.0f;
        for (int b = 0; b < NBINS; b++) {
            h[b] = hf0[(size_t)b * NB + j];
            mx = h[b] > mx ? h[b] : mx;
        }
        if (part == LM_BG1_SIMM) {
            memcpy(out, h, sizeof(float) * NBINS);
        } else {
            const float inv = 1.0f / (mx + 1e-15f);
            for (int b = 0; b < NBINS; b++) h[b] *= inv;
            for (int b = 0; b < NBINS; b++) {
                float v = 0.0f;
                for (int d = -2; d <= 2; d++) {
                    const int bb = b + d;
                    if (bb >= 0 && bb < NBINS) v += D.gauss[d + 2] * h[bb];
                }
                out[b] = v * hs[b];
            }
        }
    }
    if (sal)
        for (int b = 0; b < NBINS; b++) sal[(size_t)b * T + frame] = isfinite(out[b]) ? out[b] : 0.0f;
    if (chroma) {
        double v[N_CHROMA] = {0}, sum_sq = 0.0;
        for (int b = 0; b < NBINS; b++)
            if (isfinite(out[b])) v[D.pitch_class[b]] += out[b];
        for (int k = 0; k < N_CHROMA; k++) sum_sq += v[k] * v[k];
        if (sum_sq > 0.0 && isfinite(sum_sq)) {
            const double inv = 1.0 / sqrt(sum_sq);
            for (int k = 0; k < N_CHROMA; k++) chroma[(size_t)k * T + frame] = (float)(v[k] * inv);
        } else {
            for (int k = 0; k < N_CHROMA; k++) chroma[(size_t)k * T + frame] = (float)(1.0 / sqrt(N_CHROMA));
        }
    }
}

/* ---- driver ------------------------------------------------------------------------------ */

typedef struct {
    const float *y;
    size_t n;
    double scale;
    enum lm_bg1_part part;
    float *chroma, *sal;
    size_t T;
} job;

/* One segment (frames [start, start + nv)), on the calling thread. */
static void run_segment(const job *jb, seg_state *s, scratch *w, size_t start, size_t nv) {
    const int with_nmf = jb->part != LM_BG1_HS;
    const size_t nch = (nv + NB - 1) / NB;
    /* spectra of every frame of the segment (padding frames: floor / zero) */
    for (size_t j = 0; j < nch * NB; j++) {
        const size_t c = j / NB, col = j % NB;
        float *hs = s->hs + j * (size_t)NBINS;
        if (j < nv) {
            hs_salience(jb->y, jb->n, start + j, jb->scale, w, hs);
            if (with_nmf) simm_spectrum(jb->y, jb->n, start + j, jb->scale, w, CH(s->sx, F, c), col);
        } else {
            memset(hs, 0, sizeof(float) * NBINS);
            if (with_nmf)
                for (int f = 0; f < F; f++) CH(s->sx, F, c)[(size_t)f * NB + col] = SX_FLOOR;
        }
    }
    if (with_nmf) {
        globals_init(s, start);
        for (size_t c = 0; c < nch; c++) chunk_init(s, start, c);
        for (int it = 0; it < N_ITER; it++) {
            memset(s->cn, 0, sizeof(float) * F * KP);
            memset(s->cd, 0, sizeof(float) * F * KP);
            for (size_t c = 0; c < nch; c++) pass_a(s, w, c, nv - c * NB < NB ? nv - c * NB : NB, it > 0);
            update_hgamma(s);
            const int want_wm = it < N_ITER - 1;
            if (want_wm) {
                memset(s->cn, 0, sizeof(float) * F * RP);
                memset(s->cd, 0, sizeof(float) * F * RP);
            }
            for (size_t c = 0; c < nch; c++) pass_b(s, w, c, nv - c * NB < NB ? nv - c * NB : NB, want_wm);
            if (want_wm) update_wm(s);
        }
    }
    for (size_t j = 0; j < nv; j++) frame_output(s, w, j / NB, j % NB, jb->part, jb->chroma, jb->sal, jb->T, start + j);
}

static int bg1_run(const float *y, size_t n, enum lm_bg1_part part, float *chroma, float *sal, size_t T) {
    float peak = 0.0f;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            lm_set_error("bg1: the signal has a non-finite sample at %zu", i);
            return -1;
        }
        const float a = fabsf(y[i]);
        peak = a > peak ? a : peak;
    }
    if (!(peak > 0.0f)) { /* silence: no salience anywhere */
        if (sal) memset(sal, 0, sizeof(float) * NBINS * T);
        if (chroma)
            for (size_t i = 0; i < N_CHROMA * T; i++) chroma[i] = (float)(1.0 / sqrt(N_CHROMA));
        return 0;
    }
    const job jb = {y, n, 1.0 / (1.2 * (double)peak), part, chroma, sal, T};
    /* equal segments of at most SEG_MAX frames */
    const size_t nseg = (T + SEG_MAX - 1) / SEG_MAX;
    const size_t cap = ((T + nseg - 1) / nseg + NB - 1) / NB;
    int nthreads = lm_threads();
    if ((size_t)nthreads > nseg) nthreads = (int)nseg;

    seg_state **states = calloc((size_t)nthreads, sizeof *states);
    scratch *scr = calloc((size_t)nthreads, sizeof *scr);
    int nready = 0;
    if (states && scr)
        while (nready < nthreads && (states[nready] = seg_alloc(cap, part != LM_BG1_HS)) != NULL) {
            if (scratch_alloc(&scr[nready]) != 0) {
                seg_free(states[nready]);
                states[nready] = NULL;
                break;
            }
            nready++;
        }
    if (!states || !scr || nready < nthreads) {
        for (int t = 0; t < nready; t++) {
            scratch_free(&scr[t]);
            seg_free(states[t]);
        }
        free(scr);
        free(states);
        lm_set_error("bg1: out of memory");
        return -1;
    }

    /* Segments are independent: one per thread at a time, handed out dynamically, so a
     * thread slowed down by other processes on its core holds nobody up (no barriers inside
     * a segment), and the result does not depend on the thread count. */
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1)
    for (size_t sg = 0; sg < nseg; sg++) {
        const int tid = omp_get_thread_num();
        const size_t start = sg * T / nseg, end = (sg + 1) * T / nseg;
        run_segment(&jb, states[tid], &scr[tid], start, end - start);
    }

    for (int t = 0; t < nready; t++) {
        scratch_free(&scr[t]);
        seg_free(states[t]);
    }
    free(scr);
    free(states);
    return 0;
}

static int check_args(const float *y, size_t n, void *out, size_t *T, const char *what) {
    if (!out || !T) {
        lm_set_error("bg1: no output given for the %s", what);
        return -1;
    }
    if (!y || n == 0) {
        lm_set_error("bg1: empty signal");
        return -1;
    }
    return 0;
}

int lm_bg1_chroma(const float *y, size_t n, float **chroma, size_t *T) {
    if (chroma) *chroma = NULL;
    if (T) *T = 0;
    if (check_args(y, n, chroma, T, "chroma") != 0 || dict_init() != 0) return -1;
    const size_t frames = 1 + n / HOP;
    float *out = lm_malloc(N_CHROMA * frames, sizeof *out);
    if (!out) return -1;
    if (bg1_run(y, n, LM_BG1_COMBINED, out, NULL, frames) != 0) {
        free(out);
        return -1;
    }
    *chroma = out;
    *T = frames;
    return 0;
}

int lm_bg1_salience(const float *y, size_t n, enum lm_bg1_part part, float **salience, size_t *T) {
    if (salience) *salience = NULL;
    if (T) *T = 0;
    if (check_args(y, n, salience, T, "salience") != 0) return -1;
    if (part != LM_BG1_COMBINED && part != LM_BG1_SIMM && part != LM_BG1_HS) {
        lm_set_error("bg1: unknown salience part %d", (int)part);
        return -1;
    }
    if (dict_init() != 0) return -1;
    const size_t frames = 1 + n / HOP;
    float *out = lm_malloc((size_t)NBINS * frames, sizeof *out);
    if (!out) return -1;
    if (bg1_run(y, n, part, NULL, out, frames) != 0) {
        free(out);
        return -1;
    }
    *salience = out;
    *T = frames;
    return 0;
}
