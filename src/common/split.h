/* Splitting a scan of the recordings over processes (the distributed runs of src/dist, under
 * mpirun). The library stays free of MPI: the caller supplies the collective steps. */
#ifndef LM_COMMON_SPLIT_H
#define LM_COMMON_SPLIT_H
#include <stddef.h>

typedef struct lm_split {
    int part, n_parts; /* this process scans the recordings k with k % n_parts == part */
    void *ctx;
    /* Collective: the bitwise OR of every process' n bytes, in place on all of them (a value
     * that one process holds and the others leave zero reaches every process). 0 or -1. */
    int (*or_bytes)(void *ctx, void *buf, size_t n);
    /* Collective: part 0 receives every process' n_mine bytes concatenated in part order in
     * *all (malloc'd) and their sizes in sizes[n_parts]; elsewhere *all = NULL. 0 or -1. */
    int (*gather)(void *ctx, const void *mine, size_t n_mine, void **all, size_t *sizes);
} lm_split;

/* Whether this process scans recording k (always, without a split). */
static inline int lm_split_owns(const lm_split *s, size_t k) {
    return !s || s->n_parts <= 1 || k % (size_t)s->n_parts == (size_t)s->part;
}
#endif
