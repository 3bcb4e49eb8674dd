/* Score-to-audio alignment speed (src/align, `leitmotif align`): a 10-minute synthetic score
 * (15000 frames of chord chroma at 25 Hz) against a recording of it time-warped piecewise-linearly
 * (slopes 0.8-1.25), aligned with the multiscale DTW and the 8 null alignments of the confidence.
 * Features are EXCLUDED (the chroma of the recording is given): the figure is the DTW alone, in
 * multiples of real time (recording seconds per second), on one thread and on two (the null
 * alignments run in parallel). Usage: bench_align [repetitions]   (best is reported) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "align/align.h"
#include "common/progress.h"
#include "common/threads.h"

enum { N_SCORE = 15000 };

static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;
static double uniform(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Chords of 1-3 pitch classes lasting 3-15 frames, l2-normalised, chroma-major. */
static float *fill_score(size_t N) {
    float *c = calloc(12 * N, sizeof *c);
    if (!c) return NULL;
    for (size_t i = 0; i < N;) {
        size_t len = 3 + (size_t)(uniform() * 13);
        int n = 1 + (int)(uniform() * 3), pcs[3] = {(int)(uniform() * 12), (int)(uniform() * 12), (int)(uniform() * 12)};
        for (size_t k = 0; k < len && i < N; k++, i++) {
            double ss = 0;
            for (int p = 0; p < n; p++) c[(size_t)pcs[p] * N + i] += 1.0f;
            for (int q = 0; q < 12; q++) ss += (double)c[(size_t)q * N + i] * c[(size_t)q * N + i];
            for (int q = 0; q < 12; q++) c[(size_t)q * N + i] = (float)(c[(size_t)q * N + i] / sqrt(ss));
        }
    }
    return c;
}

/* Audio frame j shows score frame w^-1(j); slopes 0.8, 1.25, 1.0, 0.9 over the four quarters. */
static float *fill_audio(const float *score, size_t N, size_t *M_out) {
    const double slopes[4] = {0.8, 1.25, 1.0, 0.9};
    double q = (double)N / 4, total = 0;
    for (int k = 0; k < 4; k++) total += slopes[k] * q;
    size_t M = (size_t)total;
    float *a = malloc(12 * M * sizeof *a);
    if (!a) return NULL;
    for (size_t j = 0; j < M; j++) {
        double rem = (double)j, s = 0;
        for (int k = 0; k < 4; k++) {
            double seg = fmin(rem / slopes[k], q);
            s += seg;
            rem -= seg * slopes[k];
            if (rem <= 0) break;
        }
        size_t si = (size_t)s < N ? (size_t)s : N - 1;
        double ss = 0;
        for (int c = 0; c < 12; c++) {
            float v = score[(size_t)c * N + si] + 0.05f * (float)uniform();
            a[(size_t)c * M + j] = v;
            ss += (double)v * v;
        }
        for (int c = 0; c < 12; c++) a[(size_t)c * M + j] = (float)(a[(size_t)c * M + j] / sqrt(ss));
    }
    *M_out = M;
    return a;
}

static double run(const float *score, const float *audio, size_t M, int threads, double *conf) {
    lm_threads_init(threads);
    lm_align_result r;
    double t0 = lm_now();
    if (lm_align(score, N_SCORE, audio, M, NULL, &r) != 0) {
        fprintf(stderr, "bench_align: alignment failed\n");
        exit(1);
    }
    double dt = lm_now() - t0;
    *conf = r.confidence;
    lm_align_result_free(&r);
    return dt;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    if (reps < 1) reps = 1;
    size_t M;
    float *score = fill_score(N_SCORE), *audio = score ? fill_audio(score, N_SCORE, &M) : NULL;
    if (!audio) return 1;
    double best1 = INFINITY, best2 = INFINITY, c1 = 0, c2 = 0;
    for (int r = 0; r < reps; r++) {
        best1 = fmin(best1, run(score, audio, M, 1, &c1));
        best2 = fmin(best2, run(score, audio, M, 2, &c2));
    }
    if (!(c1 > 0.3) || fabs(c1 - c2) > 1e-9) {
        fprintf(stderr, "bench_align: implausible confidence (%g with 1 thread, %g with 2)\n", c1, c2);
        return 1;
    }
    double audio_sec = 0.04 * (double)M;
    fprintf(stderr, "bench_align: %.0f s score, %.0f s recording, features excluded: %.3f s (1 thread), %.3f s (2)\n",
            0.04 * N_SCORE, audio_sec, best1, best2);
    printf("align_rt_1t %.4g xrealtime\n", audio_sec / best1);
    printf("align_rt_2t %.4g xrealtime\n", audio_sec / best2);
    free(score);
    free(audio);
    return 0;
}
