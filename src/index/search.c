#include "index/search.h"

#include <math.h>
#include <stdlib.h>

#include "common/error.h"
#include "match/sdtw.h"

int lm_search_all(const lm_db *db, const float *query, size_t N, lm_match *out, int parallel) {
    if (N == 0) {
        lm_set_error("empty query");
        return -1;
    }
    /* Documents differ a lot in length: hand them out in small chunks. */
#pragma omp parallel for schedule(dynamic, 4) if (parallel)
    for (size_t k = 0; k < db->n_docs; k++) {
        lm_sdtw_result r;
        out[k].doc = k;
        if (lm_sdtw_scan(query, N, db->docs[k].chroma, db->docs[k].T, &r, NULL) == 0) {
            out[k].distance = r.distance;
            out[k].start = r.start;
            out[k].end = r.end;
        } else {
            out[k].distance = INFINITY;
            out[k].start = out[k].end = 0;
        }
    }
    return 0;
}

static int cmp_match(const void *a, const void *b) {
    const lm_match *x = a, *y = b;
    if (x->distance < y->distance) return -1;
    if (x->distance > y->distance) return 1;
    return (x->doc > y->doc) - (x->doc < y->doc);
}

void lm_match_sort(lm_match *m, size_t n) { qsort(m, n, sizeof *m, cmp_match); }

void lm_search_locate(const lm_db *db, const float *query, size_t N, lm_match *m, size_t n) {
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < n; i++) {
        const lm_db_doc *d = &db->docs[m[i].doc];
        if (isfinite(m[i].distance)) m[i].start = lm_sdtw_start(query, N, d->chroma, d->T, m[i].end);
    }
}
