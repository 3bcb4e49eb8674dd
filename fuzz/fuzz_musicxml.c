/* libFuzzer target for the MusicXML theme reader (plain XML and compressed .mxl): any input must
 * give a theme that keeps the documented invariants, or a one-line error; never a crash, leak,
 * undefined behaviour, network or file access. The selection (part, measures, voice) is derived
 * from the input's length, so one run covers the default and the selective paths.
 *
 * Build (from the repository root; Debian: apt-get install clang libxml2-dev libzip-dev):
 *   clang -g -O1 -std=c17 -D_DEFAULT_SOURCE -fsanitize=fuzzer,address,undefined -Isrc \
 *         $(pkg-config --cflags libxml-2.0 libzip) fuzz/fuzz_musicxml.c src/symbolic/midi.c \
 *         src/symbolic/theme.c src/symbolic/theme_load.c src/symbolic/score.c src/symbolic/musicxml.c \
 *         src/symbolic/kern.c src/common/error.c src/common/fileio.c \
 *         $(pkg-config --libs libxml-2.0 libzip) -lm -o /tmp/fuzz_musicxml
 * Run, seeded with the test scores (the corpus directory collects new inputs; keep it out of the
 * repo); fuzz/musicxml.dict holds MusicXML's element names:
 *   mkdir -p /tmp/musicxml_corpus && find tests/data/themes -name '*.m*xl' -exec cp {} /tmp/musicxml_corpus/ ';'
 *   /tmp/fuzz_musicxml -max_total_time=120 -max_len=16384 -dict=fuzz/musicxml.dict /tmp/musicxml_corpus
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "symbolic/musicxml.h"
#include "symbolic/theme.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) __builtin_trap(); \
    } while (0)

static void check_theme(const lm_theme *t) {
    /* Sorted, contiguous, positive durations, valid pitches, no rest at either end or twice in
     * a row. */
    CHECK(t->n >= 1 && t->notes[0].onset == 0.0);
    CHECK(t->notes[0].pitch >= 0 && t->notes[t->n - 1].pitch >= 0);
    for (size_t i = 0; i < t->n; i++) {
        const lm_note *note = &t->notes[i];
        CHECK(note->pitch >= -1 && note->pitch <= 127);
        CHECK(note->duration > 0.0);
        if (i > 0) {
            CHECK(note->onset > t->notes[i - 1].onset);
            CHECK(!(note->pitch < 0 && t->notes[i - 1].pitch < 0));
        }
    }
    CHECK(t->duration > 0.0);
    size_t n_frames = 0;
    float *chroma = lm_theme_to_chroma(t, 0.0, 0, &n_frames);
    if (chroma) {
        CHECK(n_frames >= 1);
        free(chroma);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const lm_theme_select sels[4] = {
        {0}, {.part = "1", .measure_first = 1, .measure_last = 2}, {.part = "2", .voice = 1}, {.part = "Violin I", .measure_first = 2}};
    const lm_theme_select *sel = &sels[size % 4];
    lm_theme t;
    int rc = size >= 4 && memcmp(data, "PK\x03\x04", 4) == 0
                 ? lm_mxl_parse(data, size, 100.0, sel, &t)
                 : lm_musicxml_parse((const char *)data, size, 100.0, sel, &t);
    if (rc < 0) {
        const char *msg = lm_last_error();
        CHECK(msg[0] != '\0' && strchr(msg, '\n') == NULL);
        CHECK(t.notes == NULL && t.n == 0);
        return 0;
    }
    check_theme(&t);
    lm_theme_free(&t);
    return 0;
}
