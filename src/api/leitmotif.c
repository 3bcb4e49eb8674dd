/* The public API (include/leitmotif.h): thin wrappers over the stages. */
#include "leitmotif.h"

#include <math.h>
#include <stdlib.h>

#include "chroma/features.h"
#include "common/error.h"
#include "common/threads.h"
#include "index/db.h"
#include "index/search.h"
#include "nn/model.h"
#include "symbolic/theme.h"

struct leitmotif_model {
    lm_model m;
};

struct leitmotif_db {
    lm_db db;
};

const char *leitmotif_error(void) { return lm_last_error(); }

void leitmotif_set_threads(int n) { lm_threads_init(n); }

leitmotif_model *leitmotif_model_load(const char *path) {
    if (!path && !(path = lm_default_model_path())) return NULL;
    leitmotif_model *m = lm_malloc(1, sizeof *m);
    if (m && lm_model_load(path, &m->m) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void leitmotif_model_free(leitmotif_model *m) {
    if (!m) return;
    lm_model_free(&m->m);
    free(m);
}

int leitmotif_chroma(const char *audio_path, const leitmotif_model *model, float **chroma, size_t *n_frames) {
    return lm_features_from_file(audio_path, model ? LM_FEAT_CTC : LM_FEAT_STFT, model ? &model->m : NULL, NULL,
                                 chroma, n_frames, NULL);
}

leitmotif_db *leitmotif_db_open(const char *path) {
    leitmotif_db *d = lm_malloc(1, sizeof *d);
    if (d && lm_db_open(path, &d->db) != 0) {
        free(d);
        return NULL;
    }
    return d;
}

void leitmotif_db_close(leitmotif_db *d) {
    if (!d) return;
    lm_db_close(&d->db);
    free(d);
}

size_t leitmotif_db_size(const leitmotif_db *d) { return d->db.n_docs; }

/* Ranks the recordings of d, or of a fusion (f != NULL) whose first database is d. */
static int search(const leitmotif_db *d, const lm_fusion *f, const char *theme_spec, const leitmotif_query_options *opt,
                  leitmotif_hit *hits, size_t max_hits, size_t *n_hits) {
    leitmotif_query_options o = {0, 0, 0};
    if (opt) o = *opt;
    *n_hits = 0;
    lm_theme theme;
    if (lm_theme_load(theme_spec, o.tempo_bpm, &theme, NULL) != 0) return -1;
    size_t N = 0;
    float *query = lm_theme_to_chroma(&theme, o.duration_sec, o.transpose, &N);
    lm_theme_free(&theme);
    if (!query) return -1;
    size_t nd = f ? f->n : d->db.n_docs;
    lm_match *m = lm_malloc(nd ? nd : 1, sizeof *m);
    int rc = !m ? -1 : f ? lm_search_fused(f, query, N, m, 1) : lm_search_all(&d->db, query, N, m, 1);
    if (rc == 0) {
        lm_match_sort(m, nd);
        size_t n = 0;
        while (n < nd && n < max_hits && isfinite(m[n].distance)) n++;
        if (f) lm_search_locate_fused(f, query, N, m, n);
        else lm_search_locate(&d->db, query, N, m, n);
        for (size_t i = 0; i < n; i++)
            hits[i] = (leitmotif_hit){d->db.docs[m[i].doc].id, m[i].distance, 0.04 * (double)m[i].start,
                                      0.04 * (double)(m[i].end + 1)};
        *n_hits = n;
    }
    free(m);
    free(query);
    return rc;
}

int leitmotif_search(const leitmotif_db *d, const char *theme_spec, const leitmotif_query_options *opt,
                     leitmotif_hit *hits, size_t max_hits, size_t *n_hits) {
    return search(d, NULL, theme_spec, opt, hits, max_hits, n_hits);
}

int leitmotif_search_fused(const leitmotif_db *d, const leitmotif_db *d2, double w, const char *theme_spec,
                           const leitmotif_query_options *opt, leitmotif_hit *hits, size_t max_hits,
                           size_t *n_hits) {
    *n_hits = 0;
    lm_fusion f;
    if (lm_fusion_init(&f, &d->db, &d2->db, w) != 0) return -1;
    int rc = search(d, &f, theme_spec, opt, hits, max_hits, n_hits);
    lm_fusion_free(&f);
    return rc;
}
