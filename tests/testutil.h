/* Helpers shared by the cmocka tests. */
#ifndef LM_TESTS_TESTUTIL_H
#define LM_TESTS_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Path under ../shared, or NULL when ../shared (or that file) is absent. */
const char *lm_test_shared(const char *rel);
/* Skips the current test with a message when ../shared is absent. */
#define LM_REQUIRE_SHARED(rel)                                                                   \
    do {                                                                                          \
        if (!lm_test_shared(rel)) {                                                               \
            print_message("SKIP: ../shared/%s not found; tests against the reference need it\n", rel); \
            skip();                                                                               \
        }                                                                                         \
    } while (0)
/* A fresh temporary directory for the test (removed at exit). */
const char *lm_test_tmpdir(void);
/* Runs a shell command, returns its exit status. */
int lm_test_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes a mono 16-bit WAV file. */
int lm_test_write_wav(const char *path, const float *x, size_t n, int rate, int channels);
#endif
