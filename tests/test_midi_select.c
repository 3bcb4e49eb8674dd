/* MIDI themes with a track selection (lm_midi_parse_theme_sel, lm_theme_load_ex) and the track
 * names of lm_midi_notes. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "symbolic/midi.h"
#include "symbolic/theme.h"

typedef struct {
    const unsigned char *bytes;
    size_t n;
} track_bytes;

#define TRACK(...) ((track_bytes){(const unsigned char[]){__VA_ARGS__}, sizeof((const unsigned char[]){__VA_ARGS__})})

static size_t make_midi(unsigned char *buf, int n_tracks, const track_bytes *tracks) {
    const unsigned char header[14] = {'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 1, 0, (unsigned char)n_tracks, 0x01, 0xE0};
    memcpy(buf, header, 14);
    size_t pos = 14;
    for (int t = 0; t < n_tracks; t++) {
        size_t len = tracks[t].n;
        const unsigned char chunk[8] = {'M', 'T', 'r', 'k', 0, 0, (unsigned char)(len >> 8), (unsigned char)len};
        memcpy(buf + pos, chunk, 8);
        memcpy(buf + pos + 8, tracks[t].bytes, len);
        pos += 8 + len;
    }
    return pos;
}

static unsigned char filebuf[4096];

/* Track 1: name "Conductor", 60 bpm; track 2 "Flute": E5 0-1 s, rest, G5 2-3 s; track 3
 * "Cello\t(solo)": C3 0-3 s. 480 ticks per quarter note. */
static size_t quartet(void) {
    track_bytes tracks[3] = {
        TRACK(0x00, 0xFF, 0x03, 0x09, 'C', 'o', 'n', 'd', 'u', 'c', 't', 'o', 'r', 0x00, 0xFF, 0x51, 0x03, 0x0F, 0x42,
              0x40, 0x00, 0xFF, 0x2F, 0x00),
        TRACK(0x00, 0xFF, 0x03, 0x05, 'F', 'l', 'u', 't', 'e', 0x00, 0x90, 76, 90, 0x83, 0x60, 0x80, 76, 0, 0x83, 0x60,
              0x90, 79, 90, 0x83, 0x60, 0x80, 79, 0, 0x00, 0xFF, 0x2F, 0x00),
        TRACK(0x00, 0xFF, 0x03, 0x0C, 'C', 'e', 'l', 'l', 'o', '\t', '(', 's', 'o', 'l', 'o', ')', 0x00, 0x91, 48, 90,
              0x8B, 0x20, 0x81, 48, 0, 0x00, 0xFF, 0x2F, 0x00),
    };
    return make_midi(filebuf, 3, tracks);
}

static void expect_notes(const lm_theme *t, size_t n, const int *pitch, const double *onset, const double *dur) {
    assert_int_equal(t->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(t->notes[i].pitch, pitch[i]);
        assert_true(fabs(t->notes[i].onset - onset[i]) < 1e-9);
        assert_true(fabs(t->notes[i].duration - dur[i]) < 1e-9);
    }
}

static void expect_error(const lm_theme_select *sel, const char *fragment) {
    size_t n = quartet();
    lm_theme t;
    lm_clear_error();
    assert_int_equal(lm_midi_parse_theme_sel(filebuf, n, sel, &t), -1);
    if (!strstr(lm_last_error(), fragment)) print_message("message: %s\n", lm_last_error());
    assert_non_null(strstr(lm_last_error(), fragment));
    assert_null(strchr(lm_last_error(), '\n'));
    assert_null(t.notes);
}

static void test_track_names(void **state) {
    (void)state;
    size_t n = quartet();
    lm_midi_notes m;
    assert_int_equal(lm_midi_parse_notes(filebuf, n, &m), 0);
    assert_int_equal(m.n_tracks, 3);
    assert_string_equal(m.track_names[0], "Conductor");
    assert_string_equal(m.track_names[1], "Flute");
    assert_string_equal(m.track_names[2], "Cello (solo)"); /* control characters as spaces */
    lm_midi_notes_free(&m);
    assert_null(m.track_names);
    /* A track without a name. */
    track_bytes one = TRACK(0x00, 0x90, 60, 90, 0x60, 0x80, 60, 0, 0x00, 0xFF, 0x2F, 0x00);
    n = make_midi(filebuf, 1, &one);
    assert_int_equal(lm_midi_parse_notes(filebuf, n, &m), 0);
    assert_int_equal(m.n_tracks, 1);
    assert_null(m.track_names[0]);
    lm_midi_notes_free(&m);
}

static void test_track_selection(void **state) {
    (void)state;
    size_t n = quartet();
    lm_theme t;
    /* All tracks (the default, as lm_midi_parse_theme): the skyline. */
    assert_int_equal(lm_midi_parse_theme_sel(filebuf, n, NULL, &t), 0);
    expect_notes(&t, 3, (int[]){76, 48, 79}, (double[]){0, 1, 2}, (double[]){1, 1, 1});
    lm_theme_free(&t);
    /* Track 3 by number, by part number, by name; the tempo map of track 1 applies. */
    const lm_theme_select sels[4] = {{.track = 3}, {.part = "3"}, {.part = "cello (SOLO)"}, {.part = "3", .track = 3}};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(lm_midi_parse_theme_sel(filebuf, n, &sels[i], &t), 0);
        expect_notes(&t, 1, (int[]){48}, (double[]){0}, (double[]){3});
        lm_theme_free(&t);
    }
    lm_theme_select sel = {.part = "Flute"};
    assert_int_equal(lm_midi_parse_theme_sel(filebuf, n, &sel, &t), 0);
    expect_notes(&t, 3, (int[]){76, -1, 79}, (double[]){0, 1, 2}, (double[]){1, 1, 1});
    lm_theme_free(&t);

    expect_error(&(lm_theme_select){.track = 1}, "MIDI track 1 has no pitched notes (tracks with notes: 2, 3)");
    expect_error(&(lm_theme_select){.track = 4}, "no track 4: the MIDI file has 3 tracks");
    expect_error(&(lm_theme_select){.track = -1}, "start at 1");
    expect_error(&(lm_theme_select){.part = "Oboe"},
                 "no track named \"Oboe\" in the MIDI file (tracks: 1 \"Conductor\", 2 \"Flute\", 3 \"Cello (solo)\")");
    expect_error(&(lm_theme_select){.part = "Flute", .track = 3}, "is MIDI track 2, but track 3 was asked for");
    expect_error(&(lm_theme_select){.measure_first = 1, .measure_last = 2}, "a measure range needs a MusicXML or **kern");
    expect_error(&(lm_theme_select){.voice = 1}, "voices are chosen in MusicXML or **kern");
}

/* Through lm_theme_load_ex and lm_midi_read_theme_sel, from a file. */
static void test_load(void **state) {
    (void)state;
    size_t n = quartet();
    char path[512];
    snprintf(path, sizeof path, "%s/quartet.mid", lm_test_tmpdir());
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(filebuf, 1, n, f), n);
    fclose(f);
    lm_theme t;
    int from = -1;
    lm_theme_select sel = {.track = 2};
    assert_int_equal(lm_theme_load_ex(path, 0, &sel, &t, &from), 0);
    assert_int_equal(from, LM_THEME_MIDI);
    assert_int_equal(t.n, 3);
    lm_theme_free(&t);
    assert_int_equal(lm_midi_read_theme_sel(path, &sel, &t), 0);
    assert_int_equal(t.n, 3);
    lm_theme_free(&t);
    sel.track = 9;
    assert_int_equal(lm_midi_read_theme_sel(path, &sel, &t), -1);
    assert_non_null(strstr(lm_last_error(), path));
    assert_int_equal(lm_theme_load_ex(path, 0, &sel, &t, &from), -1);
    assert_non_null(strstr(lm_last_error(), path));
    assert_non_null(strstr(lm_last_error(), "no track 9"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_track_names),
        cmocka_unit_test(test_track_selection),
        cmocka_unit_test(test_load),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
