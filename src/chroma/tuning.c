#include "chroma/tuning.h"

#include <math.h>
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
    /* libsoxr's high quality recipe (20-bit precision), far beyond what a chroma feature can
     * tell apart; libsamplerate's fastest sinc converter, used before, cost a quarter of the
     * indexing time once the network ran on AMX tiles (docs/install.md) */
    float *out = lm_resample_soxr(y, n, pow(2.0, semitones / 12.0), LM_RESAMPLE_SOXR_HQ, n_out);
    if (!out) {
        char why[256];
        snprintf(why, sizeof why, "%s", lm_last_error());
        lm_set_error("tuning compensation: %s", why);
        return -1;
    }
    *y_out = out;
    return 0;
}

int lm_tuning_resampler(lm_resampler *r, double semitones, lm_block_fn emit, void *ctx) {
    if (!(fabs(semitones) <= 0.5)) {
        lm_set_error("tuning compensation: deviation %g semitones out of range", semitones);
        return -1;
    }
    /* the converter of lm_tuning_resample, so that both give the same samples */
    return lm_resampler_init(r, pow(2.0, semitones / 12.0), LM_RESAMPLE_SOXR_HQ, emit, ctx);
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
