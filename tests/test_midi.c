/* MIDI themes: hand-made files (written below as track byte arrays) for each feature of the
 * format the reader handles, malformed files, and the corpus theme files against themes.csv. */
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

/* MThd + MTrk chunks with the right lengths, into buf; returns the size. */
static size_t make_midi(unsigned char *buf, int format, int division, int n_tracks, const track_bytes *tracks) {
    size_t pos = 0;
    const unsigned char header[14] = {'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, (unsigned char)format, 0,
                                      (unsigned char)n_tracks, (unsigned char)(division >> 8),
                                      (unsigned char)division};
    memcpy(buf, header, 14);
    pos = 14;
    for (int t = 0; t < n_tracks; t++) {
        size_t len = tracks[t].n;
        const unsigned char chunk[8] = {'M', 'T', 'r', 'k', (unsigned char)(len >> 24), (unsigned char)(len >> 16),
                                        (unsigned char)(len >> 8), (unsigned char)len};
        memcpy(buf + pos, chunk, 8);
        memcpy(buf + pos + 8, tracks[t].bytes, len);
        pos += 8 + len;
    }
    return pos;
}

static unsigned char filebuf[4096];

static void parse_ok(int format, int division, int n_tracks, const track_bytes *tracks, lm_theme *t) {
    size_t n = make_midi(filebuf, format, division, n_tracks, tracks);
    int rc = lm_midi_parse_theme(filebuf, n, t);
    if (rc != 0) print_message("unexpected error: %s\n", lm_last_error());
    assert_int_equal(rc, 0);
}

static void expect_notes(const lm_theme *t, size_t n, const int *pitch, const double *onset, const double *dur) {
    assert_int_equal(t->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(t->notes[i].pitch, pitch[i]);
        assert_true(fabs(t->notes[i].onset - onset[i]) < 1e-9);
        assert_true(fabs(t->notes[i].duration - dur[i]) < 1e-9);
    }
    assert_true(fabs(t->duration - (onset[n - 1] + dur[n - 1])) < 1e-9);
}

/* 480 ticks per quarter, default tempo 120 bpm: a quarter note is 0.5 s. */
static void test_format0_basic(void **state) {
    (void)state;
    track_bytes tr = TRACK(0x00, 0xC0, 0x00,                   /* program change */
                           0x00, 0x90, 60, 90, 0x83, 0x60, 0x80, 60, 0, /* C4, 480 ticks */
                           0x00, 0x90, 62, 90, 0x83, 0x60, 0x80, 62, 0, /* D4 */
                           0x00, 0x90, 64, 90, 0x87, 0x40, 0x80, 64, 0, /* E4, 960 ticks */
                           0x00, 0xFF, 0x2F, 0x00);
    lm_theme t;
    parse_ok(0, 480, 1, &tr, &t);
    expect_notes(&t, 3, (int[]){60, 62, 64}, (double[]){0, 0.5, 1.0}, (double[]){0.5, 0.5, 1.0});
    int pcs[8];
    assert_int_equal(lm_theme_pitch_classes(&t, pcs, 8), 3);
    assert_int_equal(pcs[2], 4);
    lm_theme_free(&t);
}

/* Running status throughout, note-on with velocity 0 as note-off, a leading silence (the
 * theme starts at its first note) and a gap that becomes a rest. */
static void test_running_status_and_rests(void **state) {
    (void)state;
    track_bytes tr = TRACK(0x83, 0x60, 0x91, 67, 100, /* 480 ticks of silence, then G4 on channel 2 */
                           0x83, 0x60, 67, 0,           /* running status: velocity 0 = off */
                           0x00, 69, 100,               /* A4 */
                           0x83, 0x60, 69, 0,
                           0x83, 0x60, 71, 100,         /* 480 ticks rest, B4 */
                           0x81, 0x70, 71, 0,           /* 240 ticks */
                           0x00, 0xFF, 0x2F, 0x00);
    lm_theme t;
    parse_ok(0, 480, 1, &tr, &t);
    expect_notes(&t, 4, (int[]){67, 69, -1, 71}, (double[]){0, 0.5, 1.0, 1.5}, (double[]){0.5, 0.5, 0.5, 0.25});
    int pcs[8];
    assert_int_equal(lm_theme_pitch_classes(&t, pcs, 8), 3); /* the rest is skipped */
    assert_int_equal(pcs[0], 7);
    assert_int_equal(pcs[2], 11);
    assert_int_equal(lm_theme_pitch_classes(&t, pcs, 1), 3); /* count even past cap */
    lm_theme_free(&t);
}

/* Format 1: notes in track 2, tempo changes in track 1 and (unusually) in track 3. One global
 * map: 120 bpm, 240 bpm from tick 480, 60 bpm from tick 1440 (set in track 3). */
static void test_tempo_map_across_tracks(void **state) {
    (void)state;
    track_bytes tracks[3] = {
        TRACK(0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20, /* 500000 us/qn */
              0x83, 0x60, 0xFF, 0x51, 0x03, 0x03, 0xD0, 0x90, /* tick 480: 250000 */
              0x00, 0xFF, 0x2F, 0x00),
        TRACK(0x00, 0x90, 60, 80, 0x87, 0x40, 0x80, 60, 0,   /* C4 ticks 0-960: 0.5 + 0.25 s */
              0x00, 0x90, 62, 80, 0x87, 0x40, 0x80, 62, 0,   /* D4 960-1920: 0.25 + 0.5*2 ... */
              0x00, 0xFF, 0x2F, 0x00),
        TRACK(0x8B, 0x20, 0xFF, 0x51, 0x03, 0x0F, 0x42, 0x40, /* tick 1440: 1000000 */
              0x00, 0xFF, 0x2F, 0x00),
    };
    lm_theme t;
    parse_ok(1, 480, 3, tracks, &t);
    /* C4: 480 ticks at 0.5 s/qn + 480 at 0.25 = 0.75 s. D4: 480 at 0.25 + 480 at 1.0 = 1.25 s. */
    expect_notes(&t, 2, (int[]){60, 62}, (double[]){0, 0.75}, (double[]){0.75, 1.25});
    lm_theme_free(&t);
}

/* Several tracks and chords: the highest sounding note wins at every instant; a lower note
 * that keeps sounding takes over when the higher one ends (as a new note). */
static void test_skyline_chords(void **state) {
    (void)state;
    track_bytes tracks[2] = {
        /* melody: E5 0-480, (rest 480-960), G5 960-1440 */
        TRACK(0x00, 0x90, 76, 90, 0x83, 0x60, 0x80, 76, 0, 0x83, 0x60, 0x90, 79, 90, 0x83, 0x60, 0x80, 79, 0,
              0x00, 0xFF, 0x2F, 0x00),
        /* chord C4+E4+G4 0-1920 on channel 2 */
        TRACK(0x00, 0x91, 60, 70, 0x00, 64, 70, 0x00, 67, 70, 0x8F, 0x00, 0x81, 60, 0, 0x00, 64, 0, 0x00, 67, 0,
              0x00, 0xFF, 0x2F, 0x00),
    };
    lm_theme t;
    parse_ok(1, 480, 2, tracks, &t);
    expect_notes(&t, 4, (int[]){76, 67, 79, 67}, (double[]){0, 0.5, 1.0, 1.5}, (double[]){0.5, 0.5, 0.5, 0.5});
    lm_theme_free(&t);
}

/* The same pitch struck again while (or as soon as) it sounds stays two notes. */
static void test_restruck_notes(void **state) {
    (void)state;
    track_bytes tr = TRACK(0x00, 0x90, 60, 90,       /* C4 on at 0 */
                           0x81, 0x70, 60, 90,       /* struck again at 240 while sounding */
                           0x81, 0x70, 0x80, 60, 0,  /* one off at 480 (ends the first) */
                           0x81, 0x70, 60, 0,        /* the other at 720 */
                           0x00, 0x90, 62, 90,       /* D4 720-960 */
                           0x81, 0x70, 62, 0,
                           0x00, 0x90, 62, 90,       /* D4 again straight after: 960-1200 */
                           0x81, 0x70, 62, 0, 0x00, 0xFF, 0x2F, 0x00);
    lm_theme t;
    parse_ok(0, 480, 1, &tr, &t);
    expect_notes(&t, 4, (int[]){60, 60, 62, 62}, (double[]){0, 0.25, 0.75, 1.0}, (double[]){0.25, 0.5, 0.25, 0.25});
    lm_theme_free(&t);
}

/* Sysex, text, key-signature and unknown meta events are skipped (running status survives
 * them, as in many real files); drums on channel 10 are ignored; an unknown chunk is
 * skipped; a note without note-off ends at the end of its track. */
static void test_skipped_events_and_drums(void **state) {
    (void)state;
    track_bytes tr = TRACK(0x00, 0xFF, 0x03, 0x04, 'S', 'o', 'n', 'g', /* track name */
                           0x00, 0xF0, 0x05, 0x7E, 0x7F, 0x09, 0x01, 0xF7, /* GM reset sysex */
                           0x00, 0x99, 36, 100,                           /* kick drum on */
                           0x00, 0x90, 65, 90,                            /* F4 on */
                           0x00, 0xFF, 0x59, 0x02, 0x00, 0x00,            /* key signature */
                           0x83, 0x60, 65, 0,                             /* running status: F4 off at 480 */
                           0x00, 0xFF, 0x7F, 0x03, 0x00, 0x00, 0x41,      /* sequencer specific */
                           0x00, 67, 90,                                  /* running status: G4 on ... */
                           0x00, 0x89, 36, 0,                             /* drum off */
                           0x00, 0xF7, 0x02, 0x01, 0x02,                  /* escaped sysex */
                           0x83, 0x60, 0xFF, 0x2F, 0x00);                 /* ... to the end, 960 */
    size_t n = make_midi(filebuf, 0, 480, 1, &tr);
    /* An extra unknown chunk before the track must be skipped: rebuild with one inserted. */
    unsigned char with_chunk[4096];
    memcpy(with_chunk, filebuf, 14);
    const unsigned char junk[12] = {'X', 'F', 'I', 'H', 0, 0, 0, 4, 1, 2, 3, 4};
    memcpy(with_chunk + 14, junk, 12);
    memcpy(with_chunk + 26, filebuf + 14, n - 14);
    lm_theme t;
    assert_int_equal(lm_midi_parse_theme(with_chunk, n + 12, &t), 0);
    expect_notes(&t, 2, (int[]){65, 67}, (double[]){0, 0.5}, (double[]){0.5, 0.5});
    lm_theme_free(&t);
}

/* SMPTE division: -25 frames/s x 40 ticks/frame = 1000 ticks per second; tempo is ignored. */
static void test_smpte_division(void **state) {
    (void)state;
    track_bytes tr = TRACK(0x00, 0xFF, 0x51, 0x03, 0x03, 0xD0, 0x90, /* ignored */
                           0x00, 0x90, 60, 90, 0x83, 0x74, 0x80, 60, 0, /* 500 ticks */
                           0x00, 0xFF, 0x2F, 0x00);
    lm_theme t;
    parse_ok(0, 0xE728, 1, &tr, &t);
    expect_notes(&t, 1, (int[]){60}, (double[]){0}, (double[]){0.5});
    lm_theme_free(&t);
    size_t n = make_midi(filebuf, 0, 0xE928, 1, &tr); /* -23 frames/s does not exist */
    assert_int_equal(lm_midi_parse_theme(filebuf, n, &t), -1);
    assert_non_null(strstr(lm_last_error(), "SMPTE"));
}

static void expect_error(const unsigned char *data, size_t n, const char *fragment) {
    lm_theme t;
    lm_clear_error();
    assert_int_equal(lm_midi_parse_theme(data, n, &t), -1);
    if (!strstr(lm_last_error(), fragment)) print_message("message: %s\n", lm_last_error());
    assert_non_null(strstr(lm_last_error(), fragment));
    assert_null(t.notes);
    assert_null(strchr(lm_last_error(), '\n'));
}

static void test_bad_files(void **state) {
    (void)state;
    expect_error((const unsigned char *)"", 0, "empty");
    expect_error((const unsigned char *)"RIFF\x24\0\0\0WAVEfmt ", 16, "not a MIDI file");
    expect_error((const unsigned char *)"MThd\0\0\0\x06\0", 9, "truncated");

    track_bytes note = TRACK(0x00, 0x90, 60, 90, 0x60, 0x80, 60, 0, 0x00, 0xFF, 0x2F, 0x00);
    size_t n = make_midi(filebuf, 0, 480, 1, &note);
    expect_error(filebuf, n - 3, "truncated MIDI chunk"); /* chunk longer than the file */
    filebuf[9] = 2;                                       /* format 2 */
    expect_error(filebuf, n, "format 2");
    n = make_midi(filebuf, 1, 480, 2, (track_bytes[]){note, note});
    expect_error(filebuf, n - 20, "ends after 1 of 2 tracks");

    track_bytes no_notes = TRACK(0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20, 0x00, 0xFF, 0x2F, 0x00);
    n = make_midi(filebuf, 0, 480, 1, &no_notes);
    expect_error(filebuf, n, "no notes");
    track_bytes drums = TRACK(0x00, 0x99, 36, 90, 0x60, 0x89, 36, 0, 0x00, 0xFF, 0x2F, 0x00);
    n = make_midi(filebuf, 0, 480, 1, &drums);
    expect_error(filebuf, n, "only drum");
    track_bytes zero_length = TRACK(0x00, 0x90, 60, 90, 0x00, 0x80, 60, 0, 0x00, 0xFF, 0x2F, 0x00);
    n = make_midi(filebuf, 0, 480, 1, &zero_length);
    expect_error(filebuf, n, "no notes");

    track_bytes no_status = TRACK(0x00, 60, 90, 0x60, 0x80, 60, 0);
    n = make_midi(filebuf, 0, 480, 1, &no_status);
    expect_error(filebuf, n, "status byte is needed");
    track_bytes long_vlq = TRACK(0x81, 0x81, 0x81, 0x81, 0x01, 0x90, 60, 90);
    n = make_midi(filebuf, 0, 480, 1, &long_vlq);
    expect_error(filebuf, n, "longer than 4 bytes");
    track_bytes cut_event = TRACK(0x00, 0x90, 60);
    n = make_midi(filebuf, 0, 480, 1, &cut_event);
    expect_error(filebuf, n, "truncated");
    track_bytes cut_meta = TRACK(0x00, 0xFF, 0x01, 0x10, 'a', 'b');
    n = make_midi(filebuf, 0, 480, 1, &cut_meta);
    expect_error(filebuf, n, "truncated");
    track_bytes bad_tempo = TRACK(0x00, 0xFF, 0x51, 0x03, 0, 0, 0, 0x00, 0x90, 60, 90, 0x60, 0x80, 60, 0);
    n = make_midi(filebuf, 0, 480, 1, &bad_tempo);
    expect_error(filebuf, n, "tempo of 0");
    track_bytes data_high = TRACK(0x00, 0x90, 0xC0, 90);
    n = make_midi(filebuf, 0, 480, 1, &data_high);
    expect_error(filebuf, n, "inside a channel message");
    n = make_midi(filebuf, 0, 0, 1, &note);
    expect_error(filebuf, n, "0 ticks per quarter");

    lm_theme t;
    assert_int_equal(lm_midi_read_theme("/nonexistent/theme.mid", &t), -1);
    assert_non_null(strstr(lm_last_error(), "/nonexistent/theme.mid"));
}

/* The notes reader under the theme: every pitched note of every track in read order, with
 * velocity, track and channel; drums counted, not listed; the tempo map in quarter notes. */
static void test_notes_all_tracks(void **state) {
    (void)state;
    track_bytes tracks[3] = {
        TRACK(0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20,             /* 500000 us/qn */
              0x83, 0x60, 0xFF, 0x51, 0x03, 0x03, 0xD0, 0x90,        /* tick 480: 250000 */
              0x00, 0xFF, 0x2F, 0x00),
        TRACK(0x00, 0x90, 72, 100, 0x87, 0x40, 0x80, 72, 0,          /* C5 ticks 0-960 */
              0x00, 0x99, 36, 90, 0x00, 0x89, 36, 0,                 /* drum (counted only) */
              0x00, 0xFF, 0x2F, 0x00),
        TRACK(0x83, 0x60, 0x93, 60, 50, 0x00, 64, 40,                /* C4, E4 on channel 4 at 480 */
              0x83, 0x60, 60, 0, 0x00, 0x90, 67, 30,                 /* C4 off at 960; G4 on, never off */
              0x83, 0x60, 0x83, 64, 0, 0x00, 0xFF, 0x2F, 0x00),      /* E4 off at 1440; G4 ends there */
    };
    size_t n = make_midi(filebuf, 1, 480, 3, tracks);
    lm_midi_notes m;
    int rc = lm_midi_parse_notes(filebuf, n, &m);
    if (rc != 0) print_message("unexpected error: %s\n", lm_last_error());
    assert_int_equal(rc, 0);
    assert_int_equal(m.n, 4);
    assert_int_equal(m.n_drum_notes, 1);
    const int pitch[4] = {72, 60, 64, 67}, velocity[4] = {100, 50, 40, 30}, track[4] = {2, 3, 3, 3};
    const int channel[4] = {0, 3, 3, 0};
    const double onset[4] = {0, 0.5, 0.5, 0.75}, offset[4] = {0.75, 0.75, 1.0, 1.0};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(m.notes[i].pitch, pitch[i]);
        assert_int_equal(m.notes[i].velocity, velocity[i]);
        assert_int_equal(m.notes[i].track, track[i]);
        assert_int_equal(m.notes[i].channel, channel[i]);
        assert_true(fabs(m.notes[i].onset - onset[i]) < 1e-9);
        assert_true(fabs(m.notes[i].offset - offset[i]) < 1e-9);
    }
    assert_true(m.notes[3].on_tick == 960 && m.notes[3].off_tick == 1440);
    assert_true(fabs(m.duration - 1.0) < 1e-9);
    assert_true(m.ticks_per_qn == 480.0);
    assert_int_equal(m.n_seg, 2);
    assert_true(fabs(lm_midi_qn_to_sec(&m, 0.5) - 0.25) < 1e-9);
    assert_true(fabs(lm_midi_qn_to_sec(&m, 2.0) - 0.75) < 1e-9);
    assert_true(fabs(lm_midi_qn_to_sec(&m, 4.0) - 1.25) < 1e-9); /* the last tempo goes on */
    lm_midi_notes_free(&m);
    assert_null(m.notes);

    /* No pitched notes is not an error for the notes reader (the theme reader says which). */
    track_bytes drums = TRACK(0x00, 0x99, 36, 90, 0x60, 0x89, 36, 0, 0x00, 0xFF, 0x2F, 0x00);
    n = make_midi(filebuf, 0, 480, 1, &drums);
    assert_int_equal(lm_midi_parse_notes(filebuf, n, &m), 0);
    assert_int_equal(m.n, 0);
    assert_int_equal(m.n_drum_notes, 1);
    lm_midi_notes_free(&m);

    /* SMPTE: 1000 ticks per second; a nominal quarter note per half second. */
    track_bytes smpte = TRACK(0x00, 0x90, 60, 90, 0x83, 0x74, 0x80, 60, 0, 0x00, 0xFF, 0x2F, 0x00);
    n = make_midi(filebuf, 0, 0xE728, 1, &smpte);
    assert_int_equal(lm_midi_parse_notes(filebuf, n, &m), 0);
    assert_true(m.n == 1 && fabs(m.notes[0].offset - 0.5) < 1e-9);
    assert_true(fabs(m.ticks_per_qn - 500.0) < 1e-9);
    assert_true(fabs(lm_midi_qn_to_sec(&m, 3.0) - 1.5) < 1e-9);
    lm_midi_notes_free(&m);

    /* Errors: as for the theme, the struct left empty; the path is named. */
    n = make_midi(filebuf, 0, 480, 1, &smpte);
    assert_int_equal(lm_midi_parse_notes(filebuf, n - 3, &m), -1);
    assert_non_null(strstr(lm_last_error(), "truncated MIDI chunk"));
    assert_true(m.notes == NULL && m.n == 0 && m.seg_qn == NULL);
    assert_int_equal(lm_midi_read_notes("/nonexistent/score.mid", &m), -1);
    assert_non_null(strstr(lm_last_error(), "/nonexistent/score.mid"));
}

/* Splits a CSV line in place (quoted fields may contain commas); returns the field count. */
static int split_csv(char *line, char **fields, int max) {
    int n = 0, quoted = 0;
    fields[n++] = line;
    for (char *p = line; *p; p++) {
        if (*p == '"') quoted = !quoted;
        else if (*p == ',' && !quoted && n < max) *p = '\0', fields[n++] = p + 1;
        else if (*p == '\n' || *p == '\r') *p = '\0';
    }
    return n;
}

/* Every 10th corpus theme (type 0, 480 tpq): the pitches equal themes.csv's midi_pitches and
 * the duration equals nominal_end_sec - nominal_start_sec. */
static void test_corpus_themes(void **state) {
    (void)state;
    LM_REQUIRE_SHARED("corpus/themes.csv");
    FILE *f = fopen(lm_test_shared("corpus/themes.csv"), "r");
    assert_non_null(f);
    static char line[1 << 16];
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    int row = 0, checked = 0;
    while (fgets(line, sizeof line, f)) {
        if (row++ % 10) continue;
        char *col[20];
        assert_int_equal(split_csv(line, col, 20), 15);
        char rel[512];
        snprintf(rel, sizeof rel, "corpus/%s", col[9]);
        lm_theme t;
        assert_int_equal(lm_midi_read_theme(lm_test_shared(rel), &t), 0);
        char got[8192];
        size_t len = 0;
        for (size_t i = 0; i < t.n; i++)
            if (t.notes[i].pitch >= 0)
                len += (size_t)snprintf(got + len, sizeof got - len, len ? " %d" : "%d", t.notes[i].pitch);
        if (strcmp(got, col[14]) != 0) print_message("%s: got %s, expected %s\n", col[0], got, col[14]);
        assert_string_equal(got, col[14]);
        assert_true(fabs(t.duration - (atof(col[13]) - atof(col[12]))) < 0.0015);
        lm_theme_free(&t);
        checked++;
    }
    fclose(f);
    assert_true(checked > 300);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format0_basic),          cmocka_unit_test(test_running_status_and_rests),
        cmocka_unit_test(test_tempo_map_across_tracks), cmocka_unit_test(test_skyline_chords),
        cmocka_unit_test(test_restruck_notes),         cmocka_unit_test(test_skipped_events_and_drums),
        cmocka_unit_test(test_smpte_division),         cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_corpus_themes),          cmocka_unit_test(test_notes_all_tracks),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
