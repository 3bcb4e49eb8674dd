#include "chroma/tuning.h"

#include <math.h>
#include <samplerate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"

static int parse(const char *s, lm_tuning *t);

int lm_tuning_parse(const char *s, lm_tuning *t) {
    lm_tuning parsed;
    if (parse(s, &parsed) != 0) return -1; /* *t unchanged */
    *t = parsed;
    return 0;
}

static int parse(const char *s, lm_tuning *t) {
    t->mode = LM_TUNING_OFF;
    t->semitones = 0;
    if (!s || !*s) {
        lm_set_error("--tuning needs a value: auto, off or cents (-50..50)");
        return -1;
    }
    if (!strcasecmp(s, "auto")) {
        t->mode = LM_TUNING_AUTO;
        return 0;
    }
    if (!strcasecmp(s, "off")) return 0;
    char *end = NULL;
    double cents = strtod(s, &end);
    if (end && (!strcasecmp(end, "c") || !strcasecmp(end, "cents"))) end += strlen(end);
    if (!end || *end || !isfinite(cents) || fabs(cents) > 50) {
        lm_set_error("bad --tuning '%.40s': use auto, off or a deviation from A = 440 Hz in cents, -50..50", s);
        return -1;
    }
    if (cents != 0) {
        t->mode = LM_TUNING_FIXED;
        t->semitones = cents / 100.0;
    }
    return 0;
}

const char *lm_tuning_name(const lm_tuning *t) {
    static char buf[32];
    if (t->mode == LM_TUNING_AUTO) return "auto";
    if (t->mode == LM_TUNING_OFF) return "off";
    snprintf(buf, sizeof buf, "%+gc", t->semitones * 100.0);
    return buf;
}

int lm_tuning_resample(const float *y, size_t n, double semitones, float **y_out, size_t *n_out) {
    *y_out = NULL;
    *n_out = 0;
    if (!(fabs(semitones) <= 0.5) || n == 0) {
        lm_set_error("tuning compensation: deviation %g semitones out of range", semitones);
        return -1;
    }
    const double stretch = pow(2.0, semitones / 12.0);
    const size_t want = (size_t)ceil((double)n * stretch - 1e-9);
    float *out = lm_malloc(want + 16, sizeof *out);
    if (!out) return -1;
    SRC_DATA d;
    memset(&d, 0, sizeof d);
    d.data_in = y;
    d.input_frames = (long)n;
    d.data_out = out;
    d.output_frames = (long)(want + 16);
    d.src_ratio = stretch;
    /* the fastest sinc converter: 97 dB SNR over 80 % of the band, far beyond what a chroma
     * feature can tell apart, at a few percent of the network's cost */
    int err = src_simple(&d, SRC_SINC_FASTEST, 1);
    if (err) {
        lm_set_error("tuning compensation: resampling failed: %s", src_strerror(err));
        free(out);
        return -1;
    }
    size_t got = (size_t)d.output_frames_gen;
    if (got < want) memset(out + got, 0, (want - got) * sizeof *out);
    *y_out = out;
    *n_out = want;
    return 0;
}

int lm_tuning_resampler(lm_resampler *r, double semitones, lm_block_fn emit, void *ctx) {
    if (!(fabs(semitones) <= 0.5)) {
        lm_set_error("tuning compensation: deviation %g semitones out of range", semitones);
        return -1;
    }
    /* the converter of lm_tuning_resample, so that both give the same samples */
    return lm_resampler_init(r, pow(2.0, semitones / 12.0), SRC_SINC_FASTEST, emit, ctx);
}

int lm_tuning_unwarp(const float *in, size_t T_in, int K, int chroma_major, double stretch, size_t T_out,
                     int l2_normalise, float **out) {
    *out = NULL;
    if (T_in == 0 || T_out == 0 || K <= 0 || K > 64 || !(stretch > 0)) {
        lm_set_error("tuning compensation: no frames to map");
        return -1;
    }
    float *o = lm_malloc((size_t)K * T_out, sizeof *o);
    if (!o) return -1;
    const size_t fs_in = chroma_major ? 1 : (size_t)K, vs_in = chroma_major ? T_in : 1;
    const size_t fs_out = chroma_major ? 1 : (size_t)K, vs_out = chroma_major ? T_out : 1;
    for (size_t j = 0; j < T_out; j++) {
        const double x = (double)j * stretch;
        size_t i0 = (size_t)x;
        double f = x - (double)i0;
        if (i0 >= T_in - 1) {
            i0 = T_in - 1;
            f = 0;
        }
        const size_t i1 = i0 + 1 < T_in ? i0 + 1 : i0;
        double v[64], ss = 0;
        for (int k = 0; k < K; k++) {
            v[k] = (1 - f) * in[i0 * fs_in + (size_t)k * vs_in] + f * in[i1 * fs_in + (size_t)k * vs_in];
            ss += v[k] * v[k];
        }
        double scale = 1;
        if (l2_normalise) scale = ss > 1e-30 ? 1.0 / sqrt(ss) : 0;
        for (int k = 0; k < K; k++)
            o[j * fs_out + (size_t)k * vs_out] = scale > 0 ? (float)(v[k] * scale) : (float)(1.0 / sqrt((double)K));
    }
    *out = o;
    return 0;
}
