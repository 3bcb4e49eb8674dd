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
/* Tests skipped so far (LM_SKIP); lm_test_result turns them into ctest's "skipped". */
extern int lm_test_skipped;
/* Skips the current test with a message (a file or tool it needs is missing). */
#define LM_SKIP(...)                   \
    do {                               \
        print_message("SKIP: " __VA_ARGS__); \
        lm_test_skipped++;             \
        skip();                        \
    } while (0)
/* Skips the current test with a message when ../shared is absent. */
#define LM_REQUIRE_SHARED(rel)                                                                 \
    do {                                                                                        \
        if (!lm_test_shared(rel)) LM_SKIP("../shared/%s not found; tests against the reference need it\n", rel); \
    } while (0)
/* The exit status of a test program: cmocka's (failures) first; else 77, which ctest reports as
 * skipped (SKIP_RETURN_CODE), when any test was skipped, so a run without ../shared does not
 * read as a pass; else 0. */
int lm_test_result(int cmocka_status);
/* A fresh temporary directory for the test (removed at exit). */
const char *lm_test_tmpdir(void);
/* DIR/name under lm_test_tmpdir(), in one of 16 rotating buffers (valid for 15 more calls). */
char *lm_test_tmp_path(const char *name);
/* Deterministic pseudo-random chroma (12 x T, bin-major), each value in [offset, offset + 1)
 * before every frame is l2-normalised; malloc'd. */
float *lm_test_chroma(size_t T, unsigned seed, float offset);
/* Music-like chroma (12 x M, bin-major; malloc'd): chords of a major key with a melody note on
 * top, 4-16 frames each, a noise floor, the key changing with probability p_key_change per chord;
 * uniform() draws in [0, 1) from the caller's generator. */
float *lm_test_music(size_t M, double (*uniform)(void), double p_key_change);
/* Runs a shell command, returns its exit status. */
int lm_test_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A MusicXML score of two parts at 120 quarter notes per minute (tests of theme selections):
 * part 1 "Flute": m. 1 A5 x4, m. 2 C5 D5 E5 F5, m. 3 G5 half, half rest (quarter notes);
 * part 2 "Bass": C3 whole notes in m. 1-3. Part 1, measures 2-3 is "C5 D5 E5 F5 G5:2". */
extern const char lm_test_two_part_musicxml[];
/* Writes a mono 16-bit WAV file. */
int lm_test_write_wav(const char *path, const float *x, size_t n, int rate, int channels);
#endif
