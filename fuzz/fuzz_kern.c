/* libFuzzer target for the Humdrum **kern theme reader: any input must give a theme that keeps
 * the documented invariants, or a one-line error; never a crash, leak or undefined behaviour. The
 * selection (spine, measures, layer) is derived from the input's length, so one run covers the
 * default and the selective paths.
 *
 * Build (from the repository root; Debian: apt-get install clang libxml2-dev libzip-dev):
 *   clang -g -O1 -std=c17 -D_DEFAULT_SOURCE -fsanitize=fuzzer,address,undefined -Isrc \
 *         $(pkg-config --cflags libxml-2.0 libzip) fuzz/fuzz_kern.c src/symbolic/midi.c \
 *         src/symbolic/theme.c src/symbolic/theme_load.c src/symbolic/score.c src/symbolic/musicxml.c \
 *         src/symbolic/kern.c src/common/error.c src/common/fileio.c \
 *         $(pkg-config --libs libxml-2.0 libzip) -lm -o /tmp/fuzz_kern
 * Run, seeded with the test files (the corpus directory collects new inputs; keep it out of the
 * repo); fuzz/kern.dict holds **kern's signifiers and interpretations:
 *   mkdir -p /tmp/kern_corpus && find tests/data/themes -name '*.krn' -exec cp {} /tmp/kern_corpus/ ';'
 *   /tmp/fuzz_kern -max_total_time=120 -max_len=4096 -dict=fuzz/kern.dict /tmp/kern_corpus
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "symbolic/kern.h"
#include "symbolic/theme.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) __builtin_trap(); \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const lm_theme_select sels[4] = {
        {0}, {.part = "1", .measure_first = 1, .measure_last = 2}, {.part = "2", .voice = 2}, {.part = "Violin I", .measure_first = 2}};
    lm_theme t;
    if (lm_kern_parse((const char *)data, size, 100.0, &sels[size % 4], &t) < 0) {
        const char *msg = lm_last_error();
        CHECK(msg[0] != '\0' && strchr(msg, '\n') == NULL);
        CHECK(t.notes == NULL && t.n == 0);
        return 0;
    }
    /* Sorted, contiguous, positive durations, valid pitches, no rest at either end or twice in
     * a row. */
    CHECK(t.n >= 1 && t.notes[0].onset == 0.0);
    CHECK(t.notes[0].pitch >= 0 && t.notes[t.n - 1].pitch >= 0);
    for (size_t i = 0; i < t.n; i++) {
        const lm_note *note = &t.notes[i];
        CHECK(note->pitch >= -1 && note->pitch <= 127);
        CHECK(note->duration > 0.0);
        if (i > 0) {
            CHECK(note->onset > t.notes[i - 1].onset);
            CHECK(!(note->pitch < 0 && t.notes[i - 1].pitch < 0));
        }
    }
    size_t n_frames = 0;
    float *chroma = lm_theme_to_chroma(&t, 0.0, 0, &n_frames);
    if (chroma) {
        CHECK(n_frames >= 1);
        free(chroma);
    }
    lm_theme_free(&t);
    return 0;
}
