/* Worker-thread count: --threads / LEITMOTIF_THREADS, default all cores. OpenMP does the
 * parallel loops. */
#ifndef LM_COMMON_THREADS_H
#define LM_COMMON_THREADS_H
void lm_threads_init(int requested); /* <= 0: environment or all cores */
int lm_threads(void);
#endif
