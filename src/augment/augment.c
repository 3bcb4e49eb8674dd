#include "augment/augment.h"

#include <fftw3.h>
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audio/audio.h"
#include "common/error.h"

#define SR ((double)LM_SAMPLE_RATE)
#define PI 3.14159265358979323846

const char *const lm_aug_step_names[LM_AUG_NSTEPS] = {"mix", "detune", "reverb", "eq", "compress", "noise", "codec"};

void lm_augment_default(lm_augment_config *c) {
    memset(c, 0, sizeof *c);
    /* Rates: most examples get a room and a colouring, about two in three some noise; the
     * costly codec step a few (docs/training.md gives the reasons). */
    c->p[LM_AUG_MIX] = 0.2;
    c->p[LM_AUG_DETUNE] = 0.5;
    c->p[LM_AUG_REVERB] = 0.7;
    c->p[LM_AUG_EQ] = 0.7;
    c->p[LM_AUG_COMPRESS] = 0.4;
    c->p[LM_AUG_NOISE] = 0.6;
    c->p[LM_AUG_CODEC] = 0.15;
    c->max_detune_cents = 50;
    c->snr_db_min = 10;
    c->snr_db_max = 40;
}

int lm_augment_parse(const char *spec, lm_augment_config *c) {
    lm_augment_default(c);
    if (!spec || !strcasecmp(spec, "default")) return 0;
    if (!strcasecmp(spec, "none")) {
        memset(c->p, 0, sizeof c->p);
        return 0;
    }
    char *copy = strdup(spec), *save = NULL;
    if (!copy) {
        lm_set_error("out of memory");
        return -1;
    }
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        if (!strcasecmp(tok, "default")) continue;
        if (!strcasecmp(tok, "none")) {
            memset(c->p, 0, sizeof c->p);
            continue;
        }
        char *eq = strchr(tok, '=');
        int step = -1;
        if (eq)
            for (int s = 0; s < LM_AUG_NSTEPS; s++)
                if (strlen(lm_aug_step_names[s]) == (size_t)(eq - tok) && !strncasecmp(tok, lm_aug_step_names[s], (size_t)(eq - tok)))
                    step = s;
        char *end = NULL;
        double v = eq ? strtod(eq + 1, &end) : NAN;
        if (step < 0 || !end || *end || !(v >= 0 && v <= 1)) {
            lm_set_error("--augment: bad item '%.40s' (want none, default or STEP=P with P in [0,1]; steps: mix, "
                         "detune, reverb, eq, compress, noise, codec)",
                         tok);
            rc = -1;
        } else {
            c->p[step] = v;
        }
    }
    free(copy);
    return rc;
}

int lm_augment_enabled(const lm_augment_config *c) {
    for (int s = 0; s < LM_AUG_NSTEPS; s++)
        if (c->p[s] > 0) return 1;
    return 0;
}

static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t lm_augment_hash(const lm_augment_config *c) {
    uint64_t h = 0x417567ull;
    for (int s = 0; s < LM_AUG_NSTEPS; s++) h = mix64(h ^ (uint64_t)llround(c->p[s] * 1e6));
    h = mix64(h ^ (uint64_t)llround(c->max_detune_cents * 1e3));
    h = mix64(h ^ (uint64_t)llround(c->snr_db_min * 1e3));
    return mix64(h ^ (uint64_t)llround(c->snr_db_max * 1e3));
}

/* ---- deterministic random numbers (splitmix64 stream) ---- */
typedef struct {
    uint64_t s;
} rng;

static double uni(rng *r) { return (double)(mix64(r->s++) >> 11) * (1.0 / 9007199254740992.0); }
static double range(rng *r, double lo, double hi) { return lo + (hi - lo) * uni(r); }
static double logrange(rng *r, double lo, double hi) { return exp(range(r, log(lo), log(hi))); }
static double gauss(rng *r) {
    double u1 = uni(r), u2 = uni(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2 * log(u1)) * cos(2 * PI * u2);
}

/* ---- biquads (RBJ audio-EQ cookbook), processed in double ---- */
typedef struct {
    double b0, b1, b2, a1, a2;
} biquad;

enum bq_type { BQ_LP, BQ_HP, BQ_BP, BQ_PEAK };

static biquad bq_make(enum bq_type t, double f, double q, double gain_db) {
    if (f > 0.45 * SR) f = 0.45 * SR;
    double w = 2 * PI * f / SR, cw = cos(w), sw = sin(w), al = sw / (2 * q), A = pow(10, gain_db / 40);
    double b0, b1, b2, a0, a1, a2;
    switch (t) {
    case BQ_LP: b0 = (1 - cw) / 2, b1 = 1 - cw, b2 = (1 - cw) / 2, a0 = 1 + al, a1 = -2 * cw, a2 = 1 - al; break;
    case BQ_HP: b0 = (1 + cw) / 2, b1 = -(1 + cw), b2 = (1 + cw) / 2, a0 = 1 + al, a1 = -2 * cw, a2 = 1 - al; break;
    case BQ_BP: b0 = al, b1 = 0, b2 = -al, a0 = 1 + al, a1 = -2 * cw, a2 = 1 - al; break;
    default:
        b0 = 1 + al * A, b1 = -2 * cw, b2 = 1 - al * A, a0 = 1 + al / A, a1 = -2 * cw, a2 = 1 - al / A;
        break;
    }
    return (biquad){b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0};
}

static void bq_run(const biquad *f, float *x, size_t n) {
    double x1 = 0, x2 = 0, y1 = 0, y2 = 0;
    for (size_t i = 0; i < n; i++) {
        double y = f->b0 * x[i] + f->b1 * x1 + f->b2 * x2 - f->a1 * y1 - f->a2 * y2;
        x2 = x1, x1 = x[i], y2 = y1, y1 = y;
        x[i] = (float)y;
    }
}

static double mean_square(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return n ? s / (double)n : 0;
}

static float peak(const float *x, size_t n) {
    float p = 0;
    for (size_t i = 0; i < n; i++) p = fmaxf(p, fabsf(x[i]));
    return p;
}

/* ---- steps ---- */
static void step_mix(rng *r, float *x, size_t n, const float *o, size_t no) {
    double px = mean_square(x, n), po = mean_square(o, no);
    if (po < 1e-20 || px < 1e-20) return;
    double g = sqrt(px / po) * pow(10, range(r, -30, -12) / 20);
    size_t off = (size_t)(uni(r) * (double)no);
    for (size_t i = 0; i < n; i++) x[i] += (float)(g * o[(off + i) % no]);
}

static int step_detune(rng *r, double max_cents, float **x, size_t *n, double *time_scale) {
    double cents = range(r, -max_cents, max_cents);
    double ratio = pow(2, -cents / 1200); /* fewer samples played at the same rate sound higher */
    size_t n_out = (size_t)floor((double)*n * ratio);
    if (n_out < 2) return 0;
    float *y = lm_malloc(n_out + 16, sizeof *y);
    if (!y) return -1;
    SRC_DATA d = {.data_in = *x, .data_out = y, .input_frames = (long)*n, .output_frames = (long)n_out + 16,
                  .src_ratio = ratio};
    int err = src_simple(&d, SRC_SINC_FASTEST, 1);
    if (err) {
        free(y);
        lm_set_error("detune: %s", src_strerror(err));
        return -1;
    }
    free(*x);
    *x = y;
    *n = (size_t)d.output_frames_gen;
    *time_scale = ratio;
    return 0;
}

static size_t next_pow2(size_t v) {
    size_t p = 1;
    while (p < v) p <<= 1;
    return p;
}

static int step_reverb(rng *r, float *x, size_t n) {
    double rt60 = logrange(r, 0.15, 2.5);
    size_t L = (size_t)(rt60 * SR);
    /* Direct-to-reverberant ratio -6..+10 dB: from a close microphone to the back of a hall. */
    double drr_db = range(r, -6, 10);
    float *h = lm_calloc(L, sizeof *h);
    if (!h) return -1;
    int n_early = 4 + (int)(uni(r) * 9);
    for (int k = 0; k < n_early; k++) {
        size_t at = (size_t)(range(r, 0.003, 0.08) * SR);
        if (at < L) h[at] += (float)((uni(r) < 0.5 ? -1 : 1) * range(r, 0.1, 0.6));
    }
    /* Tail: noise under an exponential envelope, low-passed with a cutoff that falls over
     * time, since air and walls absorb high frequencies first. */
    double onset = range(r, 0.01, 0.04), fc0 = logrange(r, 3000, 10000), fc1 = logrange(r, 400, 2000);
    double lp = 0, tail_e = 0;
    for (size_t i = (size_t)(onset * SR); i < L; i++) {
        double t = (double)i / SR, f = fc0 * pow(fc1 / fc0, t / rt60);
        double a = exp(-2 * PI * f / SR);
        lp = (1 - a) * gauss(r) + a * lp;
        float v = (float)(lp * exp(-6.907755 * t / rt60));
        h[i] += v;
        tail_e += (double)v * v;
    }
    double early_e = 0;
    for (size_t i = 1; i < L && i < (size_t)(onset * SR); i++) early_e += (double)h[i] * h[i];
    double wet_e = tail_e + early_e, want = pow(10, -drr_db / 10);
    double g = wet_e > 0 ? sqrt(want / wet_e) : 0;
    for (size_t i = 1; i < L; i++) h[i] = (float)(h[i] * g);
    h[0] = 1.0f;

    size_t N = next_pow2(n + L);
    float *a = fftwf_malloc(N * sizeof *a), *b = fftwf_malloc(N * sizeof *b);
    fftwf_complex *A = fftwf_malloc((N / 2 + 1) * sizeof *A), *B = fftwf_malloc((N / 2 + 1) * sizeof *B);
    fftwf_plan fwd = NULL, inv = NULL;
    int rc = -1;
    if (a && b && A && B) {
#pragma omp critical(lm_fftw_planner)
        {
            fwd = fftwf_plan_dft_r2c_1d((int)N, a, A, FFTW_ESTIMATE);
            inv = fftwf_plan_dft_c2r_1d((int)N, A, a, FFTW_ESTIMATE);
        }
    }
    if (fwd && inv) {
        memset(a, 0, N * sizeof *a);
        memcpy(a, x, n * sizeof *a);
        memset(b, 0, N * sizeof *b);
        memcpy(b, h, L * sizeof *b);
        fftwf_execute_dft_r2c(fwd, a, A);
        fftwf_execute_dft_r2c(fwd, b, B);
        for (size_t k = 0; k <= N / 2; k++) {
            float re = A[k][0] * B[k][0] - A[k][1] * B[k][1], im = A[k][0] * B[k][1] + A[k][1] * B[k][0];
            A[k][0] = re / (float)N, A[k][1] = im / (float)N;
        }
        fftwf_execute_dft_c2r(inv, A, a);
        memcpy(x, a, n * sizeof *x); /* the tail beyond the excerpt is dropped: no time shift */
        rc = 0;
    } else {
        lm_set_error("reverb: out of memory");
    }
#pragma omp critical(lm_fftw_planner)
    {
        if (fwd) fftwf_destroy_plan(fwd);
        if (inv) fftwf_destroy_plan(inv);
    }
    fftwf_free(a);
    fftwf_free(b);
    fftwf_free(A);
    fftwf_free(B);
    free(h);
    return rc;
}

static void step_eq(rng *r, float *x, size_t n) {
    biquad f = bq_make(BQ_HP, logrange(r, 30, 250), 0.707, 0);
    bq_run(&f, x, n);
    double u = uni(r);
    if (u < 0.25) { /* old recording / telephone-like band */
        f = bq_make(BQ_HP, logrange(r, 200, 500), 0.707, 0);
        bq_run(&f, x, n);
        f = bq_make(BQ_LP, logrange(r, 2500, 5000), 0.707, 0);
        bq_run(&f, x, n);
        bq_run(&f, x, n);
    } else if (u < 0.7) {
        f = bq_make(BQ_LP, logrange(r, 5000, 10000), 0.707, 0);
        bq_run(&f, x, n);
    }
    int bands = 1 + (int)(uni(r) * 3);
    for (int k = 0; k < bands; k++) {
        f = bq_make(BQ_PEAK, logrange(r, 80, 8000), logrange(r, 0.5, 3), range(r, -10, 10));
        bq_run(&f, x, n);
    }
}

static void step_compress(rng *r, float *x, size_t n) {
    float pk = peak(x, n);
    if (pk <= 0) return;
    double thr = 20 * log10(pk) + range(r, -30, -8), ratio = range(r, 2, 8);
    double att = exp(-1 / (0.005 * SR)), rel = exp(-1 / (range(r, 0.05, 0.3) * SR)), env = 0;
    for (size_t i = 0; i < n; i++) {
        double a = fabs(x[i]);
        env = a > env ? att * env + (1 - att) * a : rel * env + (1 - rel) * a;
        double e_db = 20 * log10(env + 1e-12);
        if (e_db > thr) x[i] = (float)(x[i] * pow(10, (thr - e_db) * (1 - 1 / ratio) / 20));
    }
}

static void step_noise(rng *r, const lm_augment_config *c, float *x, size_t n) {
    double px = mean_square(x, n);
    if (px < 1e-20) return;
    float *w = lm_malloc(n, sizeof *w);
    if (!w) return;
    int kind = (int)(uni(r) * 4);
    if (kind == 0) { /* white */
        for (size_t i = 0; i < n; i++) w[i] = (float)gauss(r);
    } else if (kind == 1 || kind == 3) { /* pink (Kellet's filter); audience murmur is shaped pink noise */
        double b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0;
        for (size_t i = 0; i < n; i++) {
            double g = gauss(r);
            b0 = 0.99886 * b0 + g * 0.0555179;
            b1 = 0.99332 * b1 + g * 0.0750759;
            b2 = 0.96900 * b2 + g * 0.1538520;
            b3 = 0.86650 * b3 + g * 0.3104856;
            b4 = 0.55000 * b4 + g * 0.5329522;
            b5 = -0.7616 * b5 - g * 0.0168980;
            w[i] = (float)(b0 + b1 + b2 + b3 + b4 + b5 + b6 + g * 0.5362);
            b6 = g * 0.115926;
        }
        if (kind == 3) {
            biquad f = bq_make(BQ_BP, logrange(r, 300, 1200), 0.6, 0);
            bq_run(&f, w, n);
            /* slow swell of the murmur, plus coughs: short band-passed bursts */
            double env = 1, target = 1;
            size_t step = (size_t)(0.25 * SR);
            for (size_t i = 0; i < n; i++) {
                if (i % step == 0) target = range(r, 0.4, 1.6);
                env += (target - env) * 1e-4;
                w[i] = (float)(w[i] * env);
            }
            double rate = range(r, 0.1, 1.0); /* coughs per second */
            size_t n_c = (size_t)(rate * (double)n / SR + 0.5);
            double pw = mean_square(w, n);
            for (size_t k = 0; k < n_c; k++) {
                size_t at = (size_t)(uni(r) * (double)n), len = (size_t)(range(r, 0.08, 0.3) * SR);
                biquad f2 = bq_make(BQ_BP, logrange(r, 250, 2000), 1.0, 0);
                double amp = sqrt(pw) * range(r, 3, 10), y1 = 0, y2 = 0, x1 = 0, x2 = 0;
                for (size_t i = 0; i < len && at + i < n; i++) {
                    double in = gauss(r) * amp * exp(-5.0 * (double)i / (double)len);
                    double y = f2.b0 * in + f2.b1 * x1 + f2.b2 * x2 - f2.a1 * y1 - f2.a2 * y2;
                    x2 = x1, x1 = in, y2 = y1, y1 = y;
                    w[at + i] += (float)y;
                }
            }
        }
    } else { /* mains hum with harmonics and a little hiss */
        double f0 = uni(r) < 0.5 ? 50 : 60;
        double amp[8];
        for (int k = 0; k < 8; k++) amp[k] = range(r, 0, 1) / (1 + k);
        double ph = range(r, 0, 2 * PI);
        for (size_t i = 0; i < n; i++) {
            double t = (double)i / SR, v = 0;
            for (int k = 0; k < 8; k++) v += amp[k] * sin(2 * PI * f0 * (k + 1) * t + ph * (k + 1));
            w[i] = (float)(v + 0.02 * gauss(r));
        }
    }
    double pw = mean_square(w, n);
    if (pw > 1e-30) {
        double snr = range(r, c->snr_db_min, c->snr_db_max);
        double g = sqrt(px / pw * pow(10, -snr / 10));
        for (size_t i = 0; i < n; i++) x[i] += (float)(g * w[i]);
    }
    free(w);
}

/* ---- lossy codec through libsndfile on an in-memory file ---- */
typedef struct {
    unsigned char *buf;
    sf_count_t len, cap, pos;
} memfile;

static sf_count_t mf_len(void *u) { return ((memfile *)u)->len; }
static sf_count_t mf_seek(sf_count_t off, int whence, void *u) {
    memfile *m = u;
    sf_count_t p = whence == SEEK_SET ? off : whence == SEEK_CUR ? m->pos + off : m->len + off;
    if (p < 0) return -1;
    m->pos = p;
    return p;
}
static sf_count_t mf_read(void *ptr, sf_count_t n, void *u) {
    memfile *m = u;
    if (m->pos >= m->len) return 0;
    if (n > m->len - m->pos) n = m->len - m->pos;
    memcpy(ptr, m->buf + m->pos, (size_t)n);
    m->pos += n;
    return n;
}
static sf_count_t mf_write(const void *ptr, sf_count_t n, void *u) {
    memfile *m = u;
    if (m->pos + n > m->cap) {
        sf_count_t cap = (m->pos + n) * 2 + 65536;
        unsigned char *b = realloc(m->buf, (size_t)cap);
        if (!b) return 0;
        memset(b + m->cap, 0, (size_t)(cap - m->cap));
        m->buf = b, m->cap = cap;
    }
    memcpy(m->buf + m->pos, ptr, (size_t)n);
    m->pos += n;
    if (m->pos > m->len) m->len = m->pos;
    return n;
}
static sf_count_t mf_tell(void *u) { return ((memfile *)u)->pos; }

/* Encoders add a delay (MP3: about 1100 samples): found by cross-correlation over a window
 * with signal, so that the decoded excerpt stays aligned with its labels. */
static long codec_delay(const float *x, size_t n, const float *y, size_t ny) {
    size_t w = 8192, max_lag = 3000;
    if (n < w + max_lag || ny < w + max_lag) return 0;
    size_t at = (n - w - max_lag) / 2;
    double best = -INFINITY;
    long best_lag = 0;
    for (size_t lag = 0; lag < max_lag; lag++) {
        double s = 0;
        for (size_t i = 0; i < w; i++) s += (double)x[at + i] * y[at + i + lag];
        if (s > best) best = s, best_lag = (long)lag;
    }
    return best_lag;
}

#define LM_AUG_CODEC_BLOCK 262144 /* samples per write to the encoder (11.9 s: shorter excerpts are encoded as before) */
static int step_codec(rng *r, float *x, size_t n) {
    int mp3 = uni(r) < 0.5;
    double level = range(r, 0.4, 0.95); /* libsndfile: 1 = most compression */
    memfile m = {0};
    SF_VIRTUAL_IO io = {mf_len, mf_seek, mf_read, mf_write, mf_tell};
    SF_INFO info = {.samplerate = LM_SAMPLE_RATE, .channels = 1,
                    .format = mp3 ? (SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III) : (SF_FORMAT_OGG | SF_FORMAT_VORBIS)};
    int ok = 0;
    float *y = NULL;
    sf_count_t got = 0;
    /* LAME's and libvorbis' set-up is not documented as thread-safe: one codec at a time. */
#pragma omp critical(lm_aug_codec)
    {
        SNDFILE *sf = sf_open_virtual(&io, SFM_WRITE, &info, &m);
        if (sf) {
            sf_command(sf, SFC_SET_COMPRESSION_LEVEL, &level, sizeof level);
            /* In blocks: libvorbis keeps its first analysis buffer on the stack (alloca of
             * everything written so far), so one write of a whole piece overflowed it. */
            size_t at = 0;
            while (at < n) {
                size_t k = n - at < LM_AUG_CODEC_BLOCK ? n - at : LM_AUG_CODEC_BLOCK;
                if (sf_writef_float(sf, x + at, (sf_count_t)k) != (sf_count_t)k) break;
                at += k;
            }
            ok = at == n;
            ok = sf_close(sf) == 0 && ok;
        }
        if (ok) {
            m.pos = 0;
            SF_INFO rinfo = {0};
            sf = sf_open_virtual(&io, SFM_READ, &rinfo, &m);
            y = sf ? lm_malloc(n + 8192, sizeof *y) : NULL;
            ok = sf && y && rinfo.channels == 1;
            if (ok) got = sf_readf_float(sf, y, (sf_count_t)(n + 8192));
            if (sf) sf_close(sf);
        }
    }
    free(m.buf);
    if (!ok || got <= 0) {
        free(y);
        return 0; /* the codec is unavailable in this libsndfile: leave the excerpt clean */
    }
    long d = codec_delay(x, n, y, (size_t)got);
    for (size_t i = 0; i < n; i++) {
        size_t j = i + (size_t)d;
        x[i] = j < (size_t)got ? y[j] : 0.0f;
    }
    free(y);
    return 1;
}

static void finish_level(rng *r, float *x, size_t n, int gain_step) {
    float pk = peak(x, n);
    if (!(pk > 0)) return;
    double target = 0.9;
    if (gain_step) target *= pow(10, range(r, -12, 3) / 20);
    double g = target / pk;
    for (size_t i = 0; i < n; i++) {
        double v = x[i] * g;
        x[i] = (float)(fabs(v) > 0.9 ? tanh(v) : v); /* gains above full scale clip softly */
    }
}

int lm_augment_apply(const lm_augment_config *c, uint64_t seed, const float *x, size_t n, const float *other,
                     size_t n_other, float **out, size_t *n_out, double *time_scale, unsigned *steps_done) {
    *out = NULL;
    *n_out = 0;
    *time_scale = 1;
    if (steps_done) *steps_done = 0;
    float *y = lm_malloc(n ? n : 1, sizeof *y);
    if (!y) return -1;
    memcpy(y, x, n * sizeof *y);
    size_t ny = n;
    /* Every step draws from its own stream, so changing one step's rate leaves the others'
     * draws unchanged. */
    rng gate = {mix64(seed ^ 0x6a7e)};
    unsigned done = 0;
    for (int s = 0; s < LM_AUG_NSTEPS; s++) {
        int on = uni(&gate) < c->p[s];
        if (!on) continue;
        rng r = {mix64(seed ^ mix64(0x57e9u + (uint64_t)s))};
        int rc = 0, applied = 1;
        switch (s) {
        case LM_AUG_MIX:
            if (other && n_other > 0) step_mix(&r, y, ny, other, n_other);
            else applied = 0;
            break;
        case LM_AUG_DETUNE: rc = step_detune(&r, c->max_detune_cents, &y, &ny, time_scale); break;
        case LM_AUG_REVERB: rc = step_reverb(&r, y, ny); break;
        case LM_AUG_EQ: step_eq(&r, y, ny); break;
        case LM_AUG_COMPRESS: step_compress(&r, y, ny); break;
        case LM_AUG_NOISE: step_noise(&r, c, y, ny); break;
        case LM_AUG_CODEC: applied = step_codec(&r, y, ny); break;
        default: break;
        }
        if (rc != 0) {
            free(y);
            return -1;
        }
        if (applied) done |= 1u << s;
    }
    rng lr = {mix64(seed ^ 0x9a1)};
    finish_level(&lr, y, ny, (done >> LM_AUG_COMPRESS) & 1);
    for (size_t i = 0; i < ny; i++)
        if (!isfinite(y[i])) y[i] = 0.0f;
    *out = y;
    *n_out = ny;
    if (steps_done) *steps_done = done;
    return 0;
}
