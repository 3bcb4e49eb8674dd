#include "common/spill.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"

#define MB ((size_t)1 << 20)

static size_t budget;             /* bytes all in-memory stores may hold together */
static atomic_size_t budget_used; /* bytes they hold */
static pthread_once_t budget_once = PTHREAD_ONCE_INIT;

static void budget_from_env(void) {
    const char *e = getenv("LEITMOTIF_SPILL_MEMORY_MB");
    char *end = NULL;
    long long v = e && *e ? strtoll(e, &end, 10) : -1;
    if (v >= 0 && end && *end == '\0' && (unsigned long long)v <= SIZE_MAX / MB) budget = (size_t)v * MB;
    else budget = LM_SPILL_DEFAULT_BUDGET;
}

static size_t budget_bytes(void) {
    pthread_once(&budget_once, budget_from_env);
    return budget;
}

void lm_spill_set_budget(size_t bytes) {
    pthread_once(&budget_once, budget_from_env); /* so that a later first use keeps this value */
    budget = bytes;
}

/* One store may hold a quarter of the budget, so that a long recording does not take it all. */
static size_t store_limit(void) { return budget_bytes() / 4; }

static int reserve(size_t bytes) {
    size_t cur = atomic_load(&budget_used), total = budget_bytes();
    do {
        if (bytes > total || cur > total - bytes) return 0;
    } while (!atomic_compare_exchange_weak(&budget_used, &cur, cur + bytes));
    return 1;
}

static void release(lm_spill *s) {
    if (s->reserved) atomic_fetch_sub(&budget_used, s->reserved);
    s->reserved = 0;
}

static int open_file(lm_spill *s) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    char path[4096];
    snprintf(path, sizeof path, "%s/leitmotif-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        lm_set_error("cannot create a temporary file in %s: %s", dir, strerror(errno));
        return -1;
    }
    unlink(path); /* gone when closed, also if the process dies */
    s->f = fdopen(fd, "w+b");
    if (!s->f) {
        close(fd);
        lm_set_error("cannot open a temporary file: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int file_write(lm_spill *s, const void *p, size_t bytes) {
    if (bytes && fwrite(p, 1, bytes, s->f) != bytes) {
        lm_set_error("cannot write a temporary file: %s", strerror(errno));
        return -1;
    }
    s->size += bytes;
    return 0;
}

/* The bytes so far into a new temporary file; the memory and its budget are given back. */
static int move_to_file(lm_spill *s) {
    if (open_file(s) != 0) return -1;
    const size_t size = s->size;
    s->size = 0;
    int rc = file_write(s, s->mem, size);
    free(s->mem);
    s->mem = NULL;
    release(s);
    return rc;
}

int lm_spill_open(lm_spill *s, size_t expect_bytes) {
    memset(s, 0, sizeof *s);
    if (expect_bytes > store_limit() || budget_bytes() == 0) return open_file(s);
    return 0;
}

int lm_spill_write(lm_spill *s, const void *p, size_t bytes) {
    if (bytes > SIZE_MAX - s->size) {
        lm_set_error("temporary data too large");
        return -1;
    }
    if (s->f) return file_write(s, p, bytes);
    size_t need = s->size + bytes;
    if (need > s->reserved) {
        /* grow geometrically, in whole megabytes, up to the store's limit */
        size_t want = s->reserved ? 2 * s->reserved : MB;
        if (want < need) want = (need + MB - 1) / MB * MB;
        if (want > store_limit()) want = need;
        unsigned char *m = NULL;
        if (need <= store_limit() && reserve(want - s->reserved)) {
            m = realloc(s->mem, want);
            if (m) {
                s->mem = m;
                s->reserved = want;
            } else {
                atomic_fetch_sub(&budget_used, want - s->reserved);
            }
        }
        if (!m) return move_to_file(s) == 0 ? file_write(s, p, bytes) : -1;
    }
    if (bytes) memcpy(s->mem + s->size, p, bytes);
    s->size = need;
    return 0;
}

int lm_spill_read(lm_spill *s, size_t off, void *dst, size_t bytes) {
    if (off > s->size || bytes > s->size - off) {
        lm_set_error("cannot read a temporary file: it is shorter than written");
        return -1;
    }
    if (!s->f) {
        if (bytes) memcpy(dst, s->mem + off, bytes);
        return 0;
    }
    if (fflush(s->f) != 0) {
        lm_set_error("cannot write a temporary file: %s", strerror(errno));
        return -1;
    }
    size_t done = 0;
    while (done < bytes) {
        ssize_t r = pread(fileno(s->f), (unsigned char *)dst + done, bytes - done, (off_t)(off + done));
        if (r <= 0) {
            lm_set_error("cannot read a temporary file: %s", r < 0 ? strerror(errno) : "it is shorter than written");
            return -1;
        }
        done += (size_t)r;
    }
    return 0;
}

const void *lm_spill_memory(const lm_spill *s) { return s->f ? NULL : s->mem ? (const void *)s->mem : (const void *)""; }

void lm_spill_close(lm_spill *s) {
    if (s->f) fclose(s->f);
    free(s->mem);
    release(s);
    memset(s, 0, sizeof *s);
}
