/* Measurement for compact features (issue 16 item 3): copies a database into a new format-2
 * float32 database whose features are quantised to BITS bits (x in [0, 1] as round(x (2^BITS - 1)))
 * and dequantised again, so that `leitmotif eval` shows what a BITS-bit store would cost in
 * retrieval before any compact SDTW exists. Usage: bench_quantise SRC DST BITS (1..16). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"
#include "index/db.h"

int main(int argc, char **argv) {
    if (argc != 4 || atoi(argv[3]) < 1 || atoi(argv[3]) > 16) {
        fprintf(stderr, "usage: bench_quantise SRC DST BITS (1..16)\n");
        return 2;
    }
    const double levels = (double)((1u << atoi(argv[3])) - 1);
    lm_db db;
    if (lm_db_open(argv[1], &db) != 0 || lm_db_verify_all(&db) != 0) {
        fprintf(stderr, "bench_quantise: %s\n", lm_last_error());
        return 1;
    }
    lm_db_doc *docs = calloc(db.n_docs ? db.n_docs : 1, sizeof *docs);
    double max_err = 0;
    int rc = docs ? 0 : 1;
    for (size_t k = 0; rc == 0 && k < db.n_docs; k++) {
        docs[k] = db.docs[k];
        float *x = malloc(12 * db.docs[k].T * sizeof *x);
        if (!x) {
            rc = 1;
            break;
        }
        for (size_t i = 0; i < 12 * db.docs[k].T; i++) {
            double v = db.docs[k].chroma[i];
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            x[i] = (float)(round(v * levels) / levels);
            double e = fabs((double)x[i] - db.docs[k].chroma[i]);
            if (e > max_err) max_err = e;
        }
        docs[k].chroma = x;
    }
    lm_dbw w;
    if (rc == 0 && (lm_dbw_begin(&w, argv[2], db.type, db.model_checksum, db.model_id, &db.tuning) != 0 ||
                    lm_dbw_commit(&w, docs, db.n_docs, NULL, 0) != 0))
        rc = 1;
    if (rc != 0) fprintf(stderr, "bench_quantise: %s\n", lm_last_error());
    else lm_dbw_end(&w);
    fprintf(stderr, "bench_quantise: %zu recordings, largest feature error %.3g\n", db.n_docs, max_err);
    for (size_t k = 0; docs && k < db.n_docs; k++) free((float *)docs[k].chroma);
    free(docs);
    lm_db_close(&db);
    return rc;
}
