#include "common/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local char lm_error_buf[1024];

void lm_set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lm_error_buf, sizeof lm_error_buf, fmt, ap);
    va_end(ap);
}

const char *lm_last_error(void) { return lm_error_buf[0] ? lm_error_buf : "unknown error"; }

void lm_clear_error(void) { lm_error_buf[0] = '\0'; }

void *lm_malloc(size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size) {
        lm_set_error("allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    size_t bytes = n * size;
    void *p = malloc(bytes ? bytes : 1);
    if (!p) lm_set_error("out of memory (%zu bytes)", n * size);
    return p;
}

void *lm_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) lm_set_error("out of memory (%zu x %zu bytes)", n, size);
    return p;
}
