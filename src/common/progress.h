/* Progress on stderr for long work: rate-limited, only when stderr is a terminal or
 * LEITMOTIF_PROGRESS=1, so logs and tests stay clean. */
#ifndef LM_COMMON_PROGRESS_H
#define LM_COMMON_PROGRESS_H
#include <stddef.h>
typedef struct {
    const char *label;
    size_t total;
    double t_start, t_last;
    int enabled;
} lm_progress;
void lm_progress_start(lm_progress *p, const char *label, size_t total);
void lm_progress_update(lm_progress *p, size_t done);
void lm_progress_end(lm_progress *p);
double lm_now(void); /* monotonic seconds */
#endif
