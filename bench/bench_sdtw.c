/* Subsequence-DTW throughput: a 225-frame binary query (one-hot frames, a few rests) against
 * 10 hours of l2-normalised chroma (900k frames at 25 Hz, in 120 five-minute documents), as in
 * a search over a database. Reports accumulated-cost cells per second for the ranking scan
 * (lm_sdtw_scan) on one thread and on two threads splitting the documents (OpenMP).
 * Usage: bench_sdtw [repetitions]   (best of the repetitions is reported) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/progress.h"
#include "match/sdtw.h"

enum { N_QUERY = 225, N_DOCS = 120, DOC_FRAMES = 7500, N_QUERIES = 4 };

static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;
static double uniform(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Chroma-like frames: a few strong pitch classes over a weak floor, l2-normalised. */
static void fill_doc(float *doc, size_t M) {
    for (size_t m = 0; m < M; m++) {
        double sum = 0;
        for (int c = 0; c < 12; c++) {
            double u = uniform();
            double v = u * u * u * u;
            doc[(size_t)c * M + m] = (float)v;
            sum += v * v;
        }
        for (int c = 0; c < 12; c++) doc[(size_t)c * M + m] = (float)(doc[(size_t)c * M + m] / sqrt(sum));
    }
}

/* Notes of 4-16 frames on random pitch classes, one in ten a rest (zero frames). */
static void fill_query(float *q, size_t N) {
    for (size_t i = 0; i < 12 * N; i++) q[i] = 0.0f;
    for (size_t n = 0; n < N;) {
        size_t len = 4 + (size_t)(uniform() * 13);
        int pc = uniform() < 0.1 ? -1 : (int)(uniform() * 12);
        for (size_t k = 0; k < len && n < N; k++, n++)
            if (pc >= 0) q[(size_t)pc * N + n] = 1.0f;
    }
}

static double run(float **queries, float **docs, int threads, float *checksum) {
    double t0 = lm_now();
    float sum = 0.0f;
    for (int qi = 0; qi < N_QUERIES; qi++) {
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : sum)
        for (int d = 0; d < N_DOCS; d++) {
            lm_sdtw_result r;
            if (lm_sdtw_scan(queries[qi], N_QUERY, docs[d], DOC_FRAMES, &r, NULL) == 0) sum += r.distance;
        }
    }
    *checksum = sum;
    return lm_now() - t0;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    if (reps < 1) reps = 1;
    float *docs[N_DOCS], *queries[N_QUERIES];
    for (int d = 0; d < N_DOCS; d++) {
        docs[d] = malloc(12 * (size_t)DOC_FRAMES * sizeof(float));
        if (!docs[d]) return 1;
        fill_doc(docs[d], DOC_FRAMES);
    }
    for (int qi = 0; qi < N_QUERIES; qi++) {
        queries[qi] = malloc(12 * (size_t)N_QUERY * sizeof(float));
        if (!queries[qi]) return 1;
        fill_query(queries[qi], N_QUERY);
    }
    const double cells = (double)N_QUERIES * N_QUERY * (double)N_DOCS * DOC_FRAMES;
    float check1 = 0, check2 = 0;
    double best1 = INFINITY, best2 = INFINITY;
    for (int r = 0; r < reps; r++) {
        best1 = fmin(best1, run(queries, docs, 1, &check1));
        best2 = fmin(best2, run(queries, docs, 2, &check2));
    }
    /* Both runs must have computed the same distances. */
    if (fabsf(check1 - check2) > 1e-3f * fabsf(check1)) {
        fprintf(stderr, "bench_sdtw: 1- and 2-thread results differ (%g vs %g)\n", check1, check2);
        return 1;
    }
    printf("sdtw_cells_per_s_1t %.4g cells/s\n", cells / best1);
    printf("sdtw_cells_per_s_2t %.4g cells/s\n", cells / best2);
    for (int d = 0; d < N_DOCS; d++) free(docs[d]);
    for (int qi = 0; qi < N_QUERIES; qi++) free(queries[qi]);
    return 0;
}
