/* Error reporting: library functions return a negative value (or NULL) on failure and
 * leave a one-line, human-readable message here; the CLI prints it and exits non-zero. */
#ifndef LM_COMMON_ERROR_H
#define LM_COMMON_ERROR_H
#include <stddef.h>

void lm_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *lm_last_error(void);
void lm_clear_error(void);

/* malloc/calloc that set an error message on failure; sizes are checked for overflow. */
void *lm_malloc(size_t n, size_t size);
void *lm_calloc(size_t n, size_t size);
#endif
