/* Shared by the fuzz targets fuzz/fuzz_*.c: invariant checks and, for readers that take a
 * path, a scratch file holding the input.
 *
 * Scratch files live in $LM_FUZZ_TMP (fuzz/run sets it to a folder of its own and removes it
 * afterwards), else /dev/shm, else /tmp, inside a folder named after the process, so parallel
 * fuzzers never share a file. The folder and its files are removed at exit. */
#ifndef LM_FUZZ_COMMON_H
#define LM_FUZZ_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

/* A broken invariant: says which and traps (libFuzzer saves the input). */
#define CHECK(cond)                                                                                   \
    do {                                                                                              \
        if (!(cond)) {                                                                                \
            fprintf(stderr, "fuzz: check failed at %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, \
                    #cond, lm_last_error());                                                          \
            __builtin_trap();                                                                         \
        }                                                                                             \
    } while (0)

static char fz_dir[512];
static char fz_names[8][64];
static int fz_n_names;

static inline void fz_cleanup(void) {
    char p[600];
    for (int i = 0; i < fz_n_names; i++) {
        snprintf(p, sizeof p, "%.511s/%.63s", fz_dir, fz_names[i]);
        unlink(p);
    }
    if (fz_dir[0]) rmdir(fz_dir);
}

/* The process's scratch folder, made on first use. */
static inline const char *fz_tmpdir(void) {
    if (fz_dir[0]) return fz_dir;
    const char *base = getenv("LM_FUZZ_TMP");
    struct stat st;
    if (!base || !base[0]) base = stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    mkdir(base, 0700);
    snprintf(fz_dir, sizeof fz_dir, "%s/lmfuzz-%ld", base, (long)getpid());
    if (mkdir(fz_dir, 0700) != 0 && stat(fz_dir, &st) != 0) {
        fprintf(stderr, "fuzz: cannot create %s\n", fz_dir);
        abort();
    }
    atexit(fz_cleanup);
    return fz_dir;
}

/* Writes data to the scratch file `name` (a plain file name) and returns its path. */
static inline const char *fz_write(const char *name, const void *data, size_t n) {
    static char path[600];
    snprintf(path, sizeof path, "%.511s/%.63s", fz_tmpdir(), name);
    int known = 0;
    for (int i = 0; i < fz_n_names; i++) known |= !strcmp(fz_names[i], name);
    if (!known && fz_n_names < 8) snprintf(fz_names[fz_n_names++], sizeof fz_names[0], "%s", name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", path);
        abort();
    }
    return path;
}

/* A failed call must leave a non-empty, one-line message. */
static inline void fz_check_error(void) {
    const char *msg = lm_last_error();
    CHECK(msg[0] != '\0' && strchr(msg, '\n') == NULL && strchr(msg, '\r') == NULL);
}

/* Inputs that name paths outside the scratch folder (or devices that never end) are not
 * used by targets whose readers open the files an input names. */
static inline int fz_names_outside(const uint8_t *data, size_t size) {
    static const char *const bad[] = {"..", "/dev", "/proc", "/sys", "~"};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        size_t k = strlen(bad[b]);
        for (size_t i = 0; i + k <= size; i++)
            if (!memcmp(data + i, bad[b], k)) return 1;
    }
    return 0;
}
#endif
