/* libFuzzer target for the MIDI theme reader: any input must give a theme that keeps the
 * documented invariants, or a one-line error; never a crash, leak or undefined behaviour.
 *
 * Build (from the repository root; Debian: apt-get install clang):
 *   clang -g -O1 -std=c17 -D_DEFAULT_SOURCE -fsanitize=fuzzer,address,undefined -Isrc \
 *         fuzz/fuzz_midi.c src/symbolic/midi.c src/symbolic/theme.c src/common/error.c \
 *         src/common/fileio.c -lm -o /tmp/fuzz_midi
 * Run, seeded with real files (the corpus directory collects new inputs; keep it out of the repo):
 *   mkdir -p /tmp/midi_corpus && cp ../shared/corpus/themes/beethoven_*.mid /tmp/midi_corpus/
 *   /tmp/fuzz_midi -max_total_time=120 -max_len=4096 /tmp/midi_corpus
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "common/error.h"
#include "symbolic/midi.h"
#include "symbolic/theme.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) __builtin_trap(); \
    } while (0)

/* The note reader under the theme reader (also used by `align`): notes, tracks, tempo map. */
static void check_notes(const uint8_t *data, size_t size) {
    lm_midi_notes m;
    if (lm_midi_parse_notes(data, size, &m) != 0) {
        const char *msg = lm_last_error();
        CHECK(msg[0] != '\0' && strchr(msg, '\n') == NULL);
        return;
    }
    for (size_t i = 0; i < m.n; i++) {
        const lm_midi_note *n = &m.notes[i];
        CHECK(n->pitch >= 0 && n->pitch <= 127 && n->velocity >= 1 && n->velocity <= 127);
        CHECK(n->channel >= 0 && n->channel <= 15 && n->channel != 9);
        CHECK(n->track >= 1 && n->track <= m.n_tracks && n->off_tick > n->on_tick);
        CHECK(isfinite(n->onset) && n->offset >= n->onset && n->offset <= m.duration);
    }
    CHECK(m.n_seg >= 1 && m.seg_qn[0] == 0.0);
    double prev = -INFINITY;
    for (double qn = 0; qn < 64; qn += 0.75) {
        double s = lm_midi_qn_to_sec(&m, qn);
        CHECK(isfinite(s) && s >= prev);
        prev = s;
    }
    /* one track, as `search --track N` reads it */
    int track = m.n_tracks > 0 ? 1 + (int)(size % (size_t)m.n_tracks) : 1;
    lm_theme t;
    if (lm_midi_notes_theme(&m, track, &t) == 0) {
        CHECK(t.n >= 1 && t.notes[0].pitch >= 0);
        lm_theme_free(&t);
    }
    lm_midi_notes_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_notes(data, size);
    lm_theme t;
    if (lm_midi_parse_theme(data, size, &t) < 0) {
        const char *msg = lm_last_error();
        CHECK(msg[0] != '\0' && strchr(msg, '\n') == NULL);
        CHECK(t.notes == NULL && t.n == 0);
        return 0;
    }
    /* Sorted, contiguous, positive durations, valid pitches, no rest at either end or twice
     * in a row. */
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
    int pcs[64];
    size_t n_pcs = lm_theme_pitch_classes(&t, pcs, 64);
    CHECK(n_pcs >= 1 && n_pcs <= t.n);
    size_t n_frames = 0;
    float *chroma = lm_theme_to_chroma(&t, 0.0, 0, &n_frames);
    if (chroma) {
        CHECK(n_frames >= 1);
        free(chroma);
    }
    lm_theme_free(&t);
    return 0;
}
