#include "common/threads.h"

#include <omp.h>
#include <stdlib.h>

static int lm_nthreads = 0;

void lm_threads_init(int requested) {
    int n = requested;
    if (n <= 0) {
        const char *env = getenv("LEITMOTIF_THREADS");
        n = env ? atoi(env) : 0;
    }
    if (n <= 0) n = omp_get_num_procs();
    if (n > 256) n = 256;
    lm_nthreads = n;
    omp_set_num_threads(n);
}

int lm_threads(void) {
    if (lm_nthreads == 0) lm_threads_init(0);
    return lm_nthreads;
}
