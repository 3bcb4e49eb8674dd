/* libFuzzer target for the typed note list ("G4 G4 G4 Eb4:4 F4 F4 F4 D4:4 r:2"), the query most
 * users type: any text must give a theme that keeps the documented invariants, or a one-line
 * error; never a crash, leak or undefined behaviour. The tempo is derived from the input's
 * length, so tempo errors and extreme tempi are reached too.
 * Run: fuzz/run notelist [SECONDS] (dictionary: fuzz/notelist.dict). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "symbolic/theme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 65536) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    static const double tempi[] = {120, 60, 1e-9, 1e9, 0, -5, 240.5, 33};
    double bpm = tempi[size % 8];
    lm_theme t;
    if (lm_notelist_parse(text, bpm, &t) != 0) {
        fz_check_error();
        CHECK(t.notes == NULL && t.n == 0);
        free(text);
        return 0;
    }
    /* Sorted, positive finite durations, valid pitches, sounding notes at both ends, no two
     * rests in a row. */
    CHECK(t.n >= 1 && t.notes[0].onset == 0.0);
    CHECK(t.notes[0].pitch >= 0 && t.notes[t.n - 1].pitch >= 0);
    for (size_t i = 0; i < t.n; i++) {
        const lm_note *n = &t.notes[i];
        CHECK(n->pitch >= -1 && n->pitch <= 127);
        CHECK(n->duration > 0.0 && isfinite(n->duration) && isfinite(n->onset));
        if (i > 0) {
            CHECK(n->onset >= t.notes[i - 1].onset);
            CHECK(!(n->pitch < 0 && t.notes[i - 1].pitch < 0));
        }
    }
    int pcs[64];
    size_t n_pcs = lm_theme_pitch_classes(&t, pcs, 64);
    CHECK(n_pcs >= 1 && n_pcs <= t.n); /* the count of sounding notes; at most 64 written */
    for (size_t i = 0; i < n_pcs && i < 64; i++) CHECK(pcs[i] >= 0 && pcs[i] < 12);
    for (int transpose = -13; transpose <= 13; transpose += 13) {
        size_t n_frames = 0;
        float *chroma = lm_theme_to_chroma(&t, 0.0, transpose, &n_frames);
        if (chroma) {
            CHECK(n_frames >= 1);
            for (size_t i = 0; i < 12 * n_frames; i++) CHECK(chroma[i] >= 0.0f && chroma[i] <= 1.0f);
            free(chroma);
        } else {
            fz_check_error();
        }
    }
    size_t n_frames = 0;
    float *stretched = lm_theme_to_chroma(&t, 3.0, 0, &n_frames);
    if (stretched) CHECK(n_frames == 75);
    free(stretched);
    lm_theme_free(&t);
    free(text);
    return 0;
}
