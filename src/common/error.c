#include "common/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local char lm_error_buf[1024];

/* Messages quote file names and file contents: line breaks and other control characters in
 * them are written as escapes (\n, \r, \x1b), so that an error is always one printable line. */
void lm_set_error(const char *fmt, ...) {
    char raw[sizeof lm_error_buf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)raw; *p && k + 5 < sizeof lm_error_buf; p++) {
        if (*p >= 0x20 && *p != 0x7f) lm_error_buf[k++] = (char)*p;
        else if (*p == '\t') lm_error_buf[k++] = ' ';
        else if (*p == '\n' || *p == '\r') {
            lm_error_buf[k++] = '\\';
            lm_error_buf[k++] = *p == '\n' ? 'n' : 'r';
        } else k += (size_t)snprintf(lm_error_buf + k, 5, "\\x%02x", *p);
    }
    lm_error_buf[k] = '\0';
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
