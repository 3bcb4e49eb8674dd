#include "train/excerpts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audio/audio.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/progress.h"
#include "hcqt/hcqt.h"
#include "nn/model.h"

#define NB LM_HCQT_NBINS
#define NH LM_HCQT_NHARM
#define CACHE_MAGIC "LMEXC1\n"
#define FEATURE_VERSION "hcqt25-v1" /* bump when the HCQT changes */

static int content_key(const char *path, uint32_t *crc, size_t *size) {
    size_t n;
    char *buf = lm_read_file(path, &n);
    if (!buf) return -1;
    *crc = lm_crc32(0, buf, n);
    *size = n;
    free(buf);
    return 0;
}

static void excerpt_frames(double start, double end, long *i0, long *i1) {
    *i0 = (long)ceil(start * LM_FRAME_RATE - 1e-9);
    *i1 = (long)floor(end * LM_FRAME_RATE + 1e-9);
}

static void cache_path(char *out, size_t cap, const char *dir, uint32_t crc, size_t size, long i0, long i1) {
    char params[128];
    snprintf(params, sizeof params, "%s %ld %ld", FEATURE_VERSION, i0, i1);
    uint32_t pk = lm_crc32(0, params, strlen(params));
    snprintf(out, cap, "%s/%08x-%zx-%08x.exc", dir, crc, size, pk);
}

static int cache_read(const char *path, lm_excerpt *ex, size_t T) {
    size_t n;
    char *buf = lm_read_file(path, &n);
    if (!buf) return -1;
    size_t hdr = strlen(CACHE_MAGIC) + 16;
    size_t bytes = T * NB * NH * sizeof(uint16_t);
    int ok = n == hdr + bytes && !memcmp(buf, CACHE_MAGIC, strlen(CACHE_MAGIC));
    uint64_t t_stored = 0;
    uint32_t crc_stored = 0;
    if (ok) {
        memcpy(&t_stored, buf + strlen(CACHE_MAGIC), 8);
        memcpy(&crc_stored, buf + strlen(CACHE_MAGIC) + 8, 4);
        ok = t_stored == T && crc_stored == lm_crc32(0, buf + hdr, bytes);
    }
    if (ok) {
        ex->hcqt = lm_malloc(bytes, 1);
        ok = ex->hcqt != NULL;
        if (ok) memcpy(ex->hcqt, buf + hdr, bytes);
        ex->T = T;
    }
    free(buf);
    return ok ? 0 : -1;
}

static int cache_write(const char *path, const lm_excerpt *ex) {
    size_t bytes = ex->T * NB * NH * sizeof(uint16_t);
    size_t hdr = strlen(CACHE_MAGIC) + 16;
    char *buf = lm_malloc(hdr + bytes, 1);
    if (!buf) return -1;
    memset(buf, 0, hdr);
    memcpy(buf, CACHE_MAGIC, strlen(CACHE_MAGIC));
    uint64_t T = ex->T;
    uint32_t crc = lm_crc32(0, ex->hcqt, bytes);
    memcpy(buf + strlen(CACHE_MAGIC), &T, 8);
    memcpy(buf + strlen(CACHE_MAGIC) + 8, &crc, 4);
    memcpy(buf + hdr, ex->hcqt, bytes);
    int rc = lm_write_file_atomic(path, buf, hdr + bytes);
    free(buf);
    return rc;
}

static void cut(const lm_hcqt *h, long i0, size_t T, lm_excerpt *ex) {
    for (size_t r = 0; r < NB * NH; r++)
        for (size_t t = 0; t < T; t++) {
            float v = h->data[r * h->n_frames + (size_t)i0 + t];
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            ex->hcqt[r * T + t] = (uint16_t)lrintf(v * 65535.0f);
        }
}

static int by_audio(const void *a, const void *b, void *ctx) {
    const lm_pairs *p = ctx;
    return strcmp(p->items[*(const size_t *)a].audio_path, p->items[*(const size_t *)b].audio_path);
}

/* glibc has qsort_r; keep a tiny insertion sort instead to stay portable (n is thousands). */
static void sort_indices(size_t *idx, size_t n, const lm_pairs *p) {
    for (size_t i = 1; i < n; i++) {
        size_t v = idx[i], j = i;
        while (j > 0 && by_audio(&idx[j - 1], &v, (void *)p) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}

/* The pairs grouped by recording, so that each recording is decoded (and transformed) at most
 * once: *idx gets the pair indices sorted by audio path, *group_start the first position of each
 * group in idx (plus p->n at the end). Returns the number of groups, or -1. */
static long group_by_audio(const lm_pairs *p, size_t **idx, size_t **group_start) {
    *idx = lm_malloc(p->n ? p->n : 1, sizeof **idx);
    *group_start = lm_malloc(p->n + 1, sizeof **group_start);
    if (!*idx || !*group_start) {
        free(*idx);
        free(*group_start);
        return -1;
    }
    for (size_t i = 0; i < p->n; i++) (*idx)[i] = i;
    sort_indices(*idx, p->n, p);
    size_t n_groups = 0;
    for (size_t i = 0; i < p->n; i++)
        if (i == 0 || strcmp(p->items[(*idx)[i]].audio_path, p->items[(*idx)[i - 1]].audio_path) != 0)
            (*group_start)[n_groups++] = i;
    (*group_start)[n_groups] = p->n;
    return (long)n_groups;
}

long lm_excerpts_load(const lm_pairs *p, const char *cache_dir, lm_excerpt *ex) {
    if (mkdir(cache_dir, 0755) != 0 && errno != EEXIST) {
        lm_set_error("cannot create cache directory %s: %s", cache_dir, strerror(errno));
        return -1;
    }
    memset(ex, 0, p->n * sizeof *ex);
    size_t *idx, *group_start;
    long ng = group_by_audio(p, &idx, &group_start);
    if (ng < 0) return -1;
    size_t n_groups = (size_t)ng;
    lm_progress prog;
    lm_progress_start(&prog, "excerpts", n_groups);
    size_t done = 0;
    long usable = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : usable)
    for (size_t g = 0; g < n_groups; g++) {
        const char *audio = p->items[idx[group_start[g]]].audio_path;
        uint32_t crc = 0;
        size_t size = 0;
        int have_key = content_key(audio, &crc, &size) == 0;
        lm_audio a = {0};
        lm_hcqt h = {0, NULL, 0};
        int computed = 0, failed = !have_key;
        for (size_t k = group_start[g]; k < group_start[g + 1] && !failed; k++) {
            const lm_pair *pr = &p->items[idx[k]];
            long i0, i1;
            excerpt_frames(pr->start_sec, pr->end_sec, &i0, &i1);
            size_t T = i1 >= i0 ? (size_t)(i1 - i0 + 1) : 0;
            char path[4096];
            cache_path(path, sizeof path, cache_dir, crc, size, i0, i1);
            if (T >= 2 && cache_read(path, &ex[idx[k]], T) == 0) {
                usable++;
                continue;
            }
            if (!computed) {
                computed = 1;
                if (lm_audio_load(audio, &a) != 0 || lm_hcqt25(a.samples, a.n, &h) != 0) {
                    failed = 1;
                    break;
                }
                lm_audio_free(&a);
            }
            if (T < 2 || (size_t)i1 >= h.n_frames) {
                fprintf(stderr, "leitmotif: warning: %s: excerpt %.3f-%.3f s %s; pair skipped\n", pr->theme_id,
                        pr->start_sec, pr->end_sec, T < 2 ? "is shorter than 2 frames" : "ends beyond the audio");
                continue;
            }
            ex[idx[k]].hcqt = malloc(T * NB * NH * sizeof(uint16_t));
            if (!ex[idx[k]].hcqt) continue;
            ex[idx[k]].T = T;
            cut(&h, i0, T, &ex[idx[k]]);
            if (cache_write(path, &ex[idx[k]]) != 0)
                fprintf(stderr, "leitmotif: warning: cannot cache %s: %s\n", pr->theme_id, lm_last_error());
            usable++;
        }
        if (failed)
            fprintf(stderr, "leitmotif: warning: %s: %s; its %zu pair(s) skipped\n", audio, lm_last_error(),
                    group_start[g + 1] - group_start[g]);
        lm_audio_free(&a);
        lm_hcqt_free(&h);
#pragma omp critical(lm_excerpt_progress)
        lm_progress_update(&prog, ++done);
    }
    lm_progress_end(&prog);
    free(idx);
    free(group_start);
    return usable;
}

void lm_excerpts_free(lm_excerpt *ex, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(ex[i].hcqt);
        free(ex[i].audio);
    }
}

long lm_excerpts_load_audio(const lm_pairs *p, double margin_sec, lm_excerpt *ex) {
    memset(ex, 0, p->n * sizeof *ex);
    size_t *idx, *group_start;
    long ng = group_by_audio(p, &idx, &group_start);
    if (ng < 0) return -1;
    size_t n_groups = (size_t)ng;
    lm_progress prog;
    lm_progress_start(&prog, "excerpt audio", n_groups);
    size_t done = 0;
    long usable = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : usable)
    for (size_t g = 0; g < n_groups; g++) {
        const char *path = p->items[idx[group_start[g]]].audio_path;
        lm_audio a = {0};
        if (lm_audio_load(path, &a) != 0) {
            fprintf(stderr, "leitmotif: warning: %s: %s; its %zu pair(s) skipped\n", path, lm_last_error(),
                    group_start[g + 1] - group_start[g]);
        } else {
            for (size_t k = group_start[g]; k < group_start[g + 1]; k++) {
                const lm_pair *pr = &p->items[idx[k]];
                long i0, i1;
                excerpt_frames(pr->start_sec, pr->end_sec, &i0, &i1);
                size_t T = i1 >= i0 ? (size_t)(i1 - i0 + 1) : 0;
                double dur = (double)a.n / LM_SAMPLE_RATE;
                if (T < 2 || pr->end_sec > dur + 0.04) {
                    fprintf(stderr, "leitmotif: warning: %s: excerpt %.3f-%.3f s %s; pair skipped\n", pr->theme_id,
                            pr->start_sec, pr->end_sec, T < 2 ? "is shorter than 2 frames" : "ends beyond the audio");
                    continue;
                }
                double from = fmax(0.0, pr->start_sec - margin_sec), to = fmin(dur, pr->end_sec + margin_sec);
                size_t s0 = (size_t)floor(from * LM_SAMPLE_RATE), s1 = (size_t)ceil(to * LM_SAMPLE_RATE);
                if (s1 > a.n) s1 = a.n;
                lm_excerpt *e = &ex[idx[k]];
                e->audio = malloc((s1 - s0) * sizeof *e->audio);
                if (!e->audio) continue;
                for (size_t i = s0; i < s1; i++) {
                    float v = a.samples[i];
                    v = v < -1 ? -1 : v > 1 ? 1 : v;
                    e->audio[i - s0] = (int16_t)lrintf(v * 32767.0f);
                }
                e->n_audio = s1 - s0;
                e->t0 = pr->start_sec - (double)s0 / LM_SAMPLE_RATE;
                e->t1 = pr->end_sec - (double)s0 / LM_SAMPLE_RATE;
                e->T = T;
                usable++;
            }
        }
        lm_audio_free(&a);
#pragma omp critical(lm_excerpt_progress)
        lm_progress_update(&prog, ++done);
    }
    lm_progress_end(&prog);
    free(idx);
    free(group_start);
    return usable;
}

float *lm_excerpt_audio_float(const lm_excerpt *ex) {
    float *y = lm_malloc(ex->n_audio ? ex->n_audio : 1, sizeof *y);
    if (!y) return NULL;
    for (size_t i = 0; i < ex->n_audio; i++) y[i] = ex->audio[i] * (1.0f / 32767.0f);
    return y;
}

/* As at inference: l2 over pitch per harmonic, an all-zero column becomes uniform. */
static void normalise_columns(float *x, size_t T) {
    for (size_t t = 0; t < T; t++) {
        float *xt = x + t * NB * NH;
        for (int h = 0; h < NH; h++) {
            double ss = 0;
            for (int p = 0; p < NB; p++) ss += (double)xt[(size_t)p * NH + (size_t)h] * xt[(size_t)p * NH + (size_t)h];
            float inv = ss < 1e-30 ? 0.0f : (float)(1.0 / sqrt(ss));
            for (int p = 0; p < NB; p++)
                xt[(size_t)p * NH + (size_t)h] = inv > 0 ? xt[(size_t)p * NH + (size_t)h] * inv : (float)(1.0 / sqrt((double)NB));
        }
    }
}

void lm_excerpt_input(const lm_excerpt *ex, int semitones, float *x) {
    size_t T = ex->T;
    int shift = 3 * semitones;
    const float scale = 1.0f / 65535.0f;
    for (size_t t = 0; t < T; t++) {
        float *xt = x + t * NB * NH;
        for (int h = 0; h < NH; h++)
            for (int p = 0; p < NB; p++) {
                int q = p - shift;
                xt[(size_t)p * NH + (size_t)h] =
                    (q < 0 || q >= NB) ? 0.0f : ex->hcqt[((size_t)h * NB + (size_t)q) * T + t] * scale;
            }
    }
    normalise_columns(x, T);
}

int lm_excerpt_input_from_audio(const float *y, size_t n, double t0, double t1, int semitones, float *x, size_t cap,
                                size_t *T) {
    long i0, i1;
    excerpt_frames(t0, t1, &i0, &i1);
    lm_hcqt h = {0, NULL, 0};
    if (lm_hcqt25(y, n, &h) != 0) return -1;
    if (i0 < 0) i0 = 0;
    if (i1 >= (long)h.n_frames) i1 = (long)h.n_frames - 1;
    size_t nT = i1 >= i0 ? (size_t)(i1 - i0 + 1) : 0;
    if (nT > cap) nT = cap;
    int shift = 3 * semitones;
    for (size_t t = 0; t < nT; t++) {
        float *xt = x + t * NB * NH;
        for (int hh = 0; hh < NH; hh++)
            for (int p = 0; p < NB; p++) {
                int q = p - shift;
                float v = (q < 0 || q >= NB) ? 0.0f : h.data[((size_t)hh * NB + (size_t)q) * h.n_frames + (size_t)i0 + t];
                xt[(size_t)p * NH + (size_t)hh] = v < 0 ? 0 : v > 1 ? 1 : v;
            }
    }
    lm_hcqt_free(&h);
    normalise_columns(x, nT);
    *T = nT;
    return 0;
}
