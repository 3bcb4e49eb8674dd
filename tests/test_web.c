/* The web stage apart from sockets: HTTP helpers (ranges, ids, Host), the API's replies to good
 * and hostile parameters and uploads (src/web/api.c), and the plot stage's figures and encoders. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "index/db.h"
#include "plot/canvas.h"
#include "plot/figure.h"
#include "testutil.h"
#include "web/api.h"
#include "web/http.h"

/* ---- http.c */

static void test_range(void **state) {
    (void)state;
    static const struct {
        const char *h;
        uint64_t size;
        int rc;
        uint64_t first, last;
    } cases[] = {
        {NULL, 100, 0, 0, 0},
        {"bytes=0-9", 100, 1, 0, 9},
        {"bytes=10-", 100, 1, 10, 99},
        {"bytes=-10", 100, 1, 90, 99},
        {"bytes=-1000", 100, 1, 0, 99},
        {"bytes=90-1000", 100, 1, 90, 99},
        {"bytes=99-99", 100, 1, 99, 99},
        {" bytes = 5 - 6 ", 100, 1, 5, 6},
        {"BYTES=5-6", 100, 1, 5, 6},
        {"bytes=100-", 100, -1, 0, 0},
        {"bytes=100-200", 100, -1, 0, 0},
        {"bytes=-0", 100, -1, 0, 0},
        {"bytes=0-", 0, -1, 0, 0},
        {"bytes=-5", 0, -1, 0, 0},
        {"bytes=99999999999999999999999999-", 100, -1, 0, 0},
        {"bytes=0-99999999999999999999999999", 100, 1, 0, 99},
        {"bytes=9-5", 100, 0, 0, 0},
        {"bytes=0-1,3-4", 100, 0, 0, 0},
        {"bytes=-", 100, 0, 0, 0},
        {"bytes=a-b", 100, 0, 0, 0},
        {"bytes 0-9", 100, 0, 0, 0},
        {"items=0-9", 100, 0, 0, 0},
        {"", 100, 0, 0, 0},
        {"bytes=0-9x", 100, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t f = 12345, l = 12345;
        int rc = lm_http_parse_range(cases[i].h, cases[i].size, &f, &l);
        if (rc != cases[i].rc) fail_msg("range '%s' of %llu: rc %d, want %d", cases[i].h ? cases[i].h : "(none)",
                                        (unsigned long long)cases[i].size, rc, cases[i].rc);
        if (rc == 1) {
            assert_int_equal(f, cases[i].first);
            assert_int_equal(l, cases[i].last);
        }
    }
}

static void test_ids_hosts_numbers(void **state) {
    (void)state;
    assert_true(lm_http_valid_doc_id("beethoven_op067-01"));
    assert_true(lm_http_valid_doc_id("caf\xc3\xa9 \"quoted\""));
    assert_true(lm_http_valid_doc_id("..x"));
    assert_false(lm_http_valid_doc_id(""));
    assert_false(lm_http_valid_doc_id("."));
    assert_false(lm_http_valid_doc_id(".."));
    assert_false(lm_http_valid_doc_id("../etc/passwd"));
    assert_false(lm_http_valid_doc_id("a\\b"));
    assert_false(lm_http_valid_doc_id("a\nb"));
    char long_id[300];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_false(lm_http_valid_doc_id(long_id));

    assert_true(lm_http_host_is_loopback(NULL));
    assert_true(lm_http_host_is_loopback("localhost"));
    assert_true(lm_http_host_is_loopback("LOCALHOST:8080"));
    assert_true(lm_http_host_is_loopback("127.0.0.1:8080"));
    assert_true(lm_http_host_is_loopback("127.1.2.3"));
    assert_true(lm_http_host_is_loopback("[::1]:8080"));
    assert_true(lm_http_host_is_loopback("[::1]"));
    assert_false(lm_http_host_is_loopback("evil.example"));
    assert_false(lm_http_host_is_loopback("localhost.evil.example"));
    assert_false(lm_http_host_is_loopback("127.0.0.1.evil.example"));
    assert_false(lm_http_host_is_loopback("128.0.0.1"));
    assert_false(lm_http_host_is_loopback("127.0.0.1:80x"));
    assert_false(lm_http_host_is_loopback("[::2]:80"));
    assert_false(lm_http_host_is_loopback("[::1"));
    assert_false(lm_http_host_is_loopback("127.0.0.256"));
    assert_false(lm_http_host_is_loopback(""));

    assert_string_equal(lm_http_audio_type("/a/b.FLAC"), "audio/flac");
    assert_string_equal(lm_http_audio_type("/a/b.wav"), "audio/wav");
    assert_string_equal(lm_http_audio_type("/a.b/c"), "application/octet-stream");

    double d;
    long l;
    assert_int_equal(lm_http_parse_double("1.5", 0, 2, &d), 0);
    assert_true(d == 1.5);
    assert_int_equal(lm_http_parse_double("nan", 0, 2, &d), -1);
    assert_int_equal(lm_http_parse_double("inf", 0, 1e300, &d), -1);
    assert_int_equal(lm_http_parse_double(" 1", 0, 2, &d), -1);
    assert_int_equal(lm_http_parse_double("1 ", 0, 2, &d), -1);
    assert_int_equal(lm_http_parse_double("", 0, 2, &d), -1);
    assert_int_equal(lm_http_parse_double("3", 0, 2, &d), -1);
    assert_int_equal(lm_http_parse_long("-12", -127, 127, &l), 0);
    assert_int_equal(l, -12);
    assert_int_equal(lm_http_parse_long("1.0", -127, 127, &l), -1);
    assert_int_equal(lm_http_parse_long("99999999999999999999", -127, 127, &l), -1);
}

/* ---- api.c on a small database: the theme C4 D4 E4 F4 G4 (at 120 bpm: 12.5 frames a note)
 * planted in one of three recordings of noise-like chroma */

static char db_path[600];

static float *noise_chroma(size_t T, unsigned seed) {
    float *c = malloc(12 * T * sizeof *c);
    assert_non_null(c);
    unsigned s = seed * 2654435761u + 7;
    for (size_t i = 0; i < 12 * T; i++) {
        s = s * 1103515245u + 12345u;
        c[i] = 0.05f + (float)((s >> 8) & 0xffff) / 65536.0f;
    }
    return c;
}

static void normalise(float *c, size_t T) {
    for (size_t t = 0; t < T; t++) {
        double n = 0;
        for (int k = 0; k < 12; k++) n += c[k * T + t] * c[k * T + t];
        for (int k = 0; k < 12; k++) c[k * T + t] /= (float)sqrt(n);
    }
}

static int make_db(void **state) {
    (void)state;
    snprintf(db_path, sizeof db_path, "%s/web.lmdb", lm_test_tmpdir());
    static const char *ids[3] = {"noise_a", "planted", "noise_b"};
    static const size_t T[3] = {400, 500, 300};
    float *ch[3];
    lm_db_doc docs[3];
    static const int pcs[5] = {0, 2, 4, 5, 7};
    for (int i = 0; i < 3; i++) {
        ch[i] = noise_chroma(T[i], (unsigned)i + 3);
        if (i == 1) /* the theme from frame 200, one note per 12 or 13 frames */
            for (size_t t = 0; t < 63; t++) {
                int pc = pcs[t * 5 / 63];
                for (int k = 0; k < 12; k++) ch[i][k * T[i] + 200 + t] = k == pc ? 1.0f : 0.02f;
            }
        normalise(ch[i], T[i]);
        docs[i] = (lm_db_doc){.id = ids[i], .path = "/nonexistent/audio.wav", .model_id = "", .duration = 0.04 * T[i],
                              .type = LM_FEAT_STFT, .model_checksum = 0, .T = T[i], .chroma = ch[i]};
    }
    int rc = lm_db_write(db_path, LM_FEAT_STFT, 0, "", docs, 3);
    for (int i = 0; i < 3; i++) free(ch[i]);
    return rc;
}

static lm_web_ctx *open_ctx(void) {
    static lm_web_ctx ctx;
    lm_web_limits lim;
    lm_web_limits_default(&lim);
    lim.max_active = 2;
    assert_int_equal(lm_web_ctx_open(&ctx, db_path, &lim), 0);
    return &ctx;
}

/* A MIDI file (format 0, 480 ticks a quarter, 120 bpm) of quarter notes. */
static unsigned char *midi_of(const int *pitches, size_t n, size_t *len) {
    size_t cap = 14 + 8 + 8 * n + 16;
    unsigned char *d = malloc(cap), *p = d;
    assert_non_null(d);
    memcpy(p, "MThd\0\0\0\6\0\0\0\1\1\xe0", 14);
    p += 14;
    memcpy(p, "MTrk", 4);
    unsigned char *lenp = p + 4;
    p += 8;
    for (size_t i = 0; i < n; i++) {
        *p++ = 0, *p++ = 0x90, *p++ = (unsigned char)pitches[i], *p++ = 0x40;
        *p++ = 0x83, *p++ = 0x60, *p++ = 0x80, *p++ = (unsigned char)pitches[i];
        *p++ = 0;
    }
    *p++ = 0, *p++ = 0xff, *p++ = 0x2f, *p++ = 0;
    size_t tl = (size_t)(p - lenp - 4);
    lenp[0] = (unsigned char)(tl >> 24), lenp[1] = (unsigned char)(tl >> 16), lenp[2] = (unsigned char)(tl >> 8),
    lenp[3] = (unsigned char)tl;
    *len = (size_t)(p - d);
    return d;
}

static void expect_status(lm_web_reply *r, int status, const char *needle) {
    if (r->status != status || (needle && (!r->body || !strstr(r->body, needle))))
        fail_msg("status %d (want %d), body: %.*s (want '%s')", r->status, status, (int)(r->len > 400 ? 400 : r->len),
                 r->body ? r->body : "", needle ? needle : "");
    lm_web_reply_free(r);
}

static void expect_in(const char *body, const char *needle) {
    if (!strstr(body, needle)) fail_msg("'%s' not in: %.1500s", needle, body);
}

static void test_search(void **state) {
    (void)state;
    lm_web_ctx *ctx = open_ctx();
    lm_web_reply r = {0};
    lm_web_params p = {.theme = "C4 D4 E4 F4 G4", .top = "2"};
    lm_web_search(ctx, &p, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.type, "application/json; charset=utf-8");
    expect_in(r.body, "\"theme\": \"C4 D4 E4 F4 G4\", \"theme_frames\": 63, \"theme_sec\": 2.52, "
                                   "\"transpose\": 0, \"documents\": 3, \"unranked\": 0, \"results\": [");
    expect_in(r.body, "{\"rank\": 1, \"id\": \"planted\", \"path\": \"/nonexistent/audio.wav\", \"distance\": ");
    expect_in(r.body, "\"start_sec\": 8."); /* planted at 8 s; where a tie of perfect paths starts may vary */
    expect_in(r.body, "\"end_sec\": 10.");
    expect_in(r.body, "{\"rank\": 2, ");
    assert_null(strstr(r.body, "{\"rank\": 3, "));
    lm_web_reply_free(&r);
    /* The same theme uploaded as MIDI. */
    static const int pitches[5] = {60, 62, 64, 65, 67};
    size_t n;
    unsigned char *mid = midi_of(pitches, 5, &n);
    lm_web_params pf = {.has_file = 1, .file = mid, .file_len = n, .file_name = "theme.mid", .top = "0"};
    lm_web_search(ctx, &pf, &r);
    assert_int_equal(r.status, 200);
    expect_in(r.body, "\"theme\": \"theme.mid\", \"theme_frames\": 63");
    expect_in(r.body, "{\"rank\": 1, \"id\": \"planted\"");
    expect_in(r.body, "{\"rank\": 3, ");
    lm_web_reply_free(&r);
    /* A **kern score. */
    static const char kern[] = "!! a comment\n**kern\n*M4/4\n*MM120\n4c\n4d\n4e\n4f\n4g\n*-\n";
    lm_web_params pk = {
        .has_file = 1, .file = (const unsigned char *)kern, .file_len = sizeof kern - 1, .file_name = "t.krn"};
    lm_web_search(ctx, &pk, &r);
    assert_int_equal(r.status, 200);
    expect_in(r.body, "\"theme\": \"t.krn\", \"theme_frames\": 63");
    expect_in(r.body, "{\"rank\": 1, \"id\": \"planted\"");
    lm_web_reply_free(&r);
    /* The theme endpoint: notes as sounded (transposed, stretched). */
    lm_web_params pt = {.theme = "C4 r D4:2", .transpose = "2", .duration = "8"};
    lm_web_theme(ctx, &pt, &r);
    expect_status(&r, 200,
                  "\"duration_sec\": 8, \"frames\": 200, \"transpose\": 2, \"notes\": [{\"pitch\": 62, \"onset\": 0, "
                  "\"duration\": 2}, {\"pitch\": -1, \"onset\": 2, \"duration\": 2}, {\"pitch\": 64, \"onset\": 4, "
                  "\"duration\": 4}]}");
    lm_web_info(ctx, &r);
    expect_status(&r, 200, "\"documents\": 3, \"features\": \"stft\"");
    free(mid);
    lm_web_ctx_close(ctx);
}

static void test_hostile_parameters(void **state) {
    (void)state;
    lm_web_ctx *ctx = open_ctx();
    lm_web_reply r = {0};
    struct {
        lm_web_params p;
        int status;
        const char *needle;
    } cases[] = {
        {{.theme = NULL}, 400, "no theme"},
        {{.theme = "   "}, 400, "no theme"},
        {{.theme = "C4 X4"}, 400, "token 2 'X4'"},
        {{.theme = "C4", .top = "-1"}, 400, "top:"},
        {{.theme = "C4", .top = "1001"}, 400, "top:"},
        {{.theme = "C4", .top = "1e3"}, 400, "top:"},
        {{.theme = "C4", .duration = "0"}, 400, "duration:"},
        {{.theme = "C4", .duration = "61"}, 400, "duration:"},
        {{.theme = "C4", .duration = "nan"}, 400, "duration:"},
        {{.theme = "C4", .tempo = "0"}, 400, "tempo:"},
        {{.theme = "C4", .tempo = "-inf"}, 400, "tempo:"},
        {{.theme = "C4", .transpose = "128"}, 400, "transpose:"},
        {{.theme = "C4:121"}, 400, "this server takes themes up to 60 s"},
        {{.theme = "C4:1e300"}, 400, NULL},
        {{.theme = "C4:60", .tempo = "60"}, 400, "too long to match in any recording"},
        {{.theme = "/etc/passwd"}, 400, "note list"}, /* text is never a path */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lm_web_search(ctx, &cases[i].p, &r);
        expect_status(&r, cases[i].status, cases[i].needle);
    }
    /* 10 000 notes */
    size_t len = 10000 * 3 + 1;
    char *many = malloc(len);
    assert_non_null(many);
    for (size_t i = 0; i < 10000; i++) memcpy(many + 3 * i, "C4 ", 3);
    many[len - 1] = '\0';
    lm_web_params pm = {.theme = many};
    lm_web_search(ctx, &pm, &r);
    expect_status(&r, 400, "the theme has 10000 notes and rests; this server takes at most 2000");
    pm.duration = "5";
    lm_web_search(ctx, &pm, &r);
    expect_status(&r, 400, "at most 2000");
    free(many);
    /* uploads */
    static const unsigned char trunc[] = "MThd\0\0\0\6\0\0\0\1\1\xe0MTrk\0\0\0\xff\0\x90\x3c";
    static const unsigned char text[] = "not a MIDI file";
    static const unsigned char kern_bad[] = "**kern\n4q\n*-\n";
    static const unsigned char huge_len[] = "MThd\0\0\0\6\0\0\0\1\1\xe0MTrk\xff\xff\xff\xff\0\x90\x3c\x40";
    struct {
        const unsigned char *d;
        size_t n;
        int status;
        const char *needle;
    } files[] = {
        {trunc, sizeof trunc - 1, 400, "MIDI file cannot be read"},
        {huge_len, sizeof huge_len - 1, 400, "MIDI file cannot be read"},
        {trunc, 4, 400, "MIDI file cannot be read"},
        {text, sizeof text - 1, 415, "neither a Standard MIDI File, MusicXML nor **kern"},
        {kern_bad, sizeof kern_bad - 1, 400, "kern file cannot be read"},
        {text, 0, 400, "empty"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        lm_web_params pf = {.has_file = 1, .file = files[i].d, .file_len = files[i].n};
        lm_web_search(ctx, &pf, &r);
        expect_status(&r, files[i].status, files[i].needle);
        lm_web_figure(
            ctx, &(lm_web_params){.has_file = 1, .file = files[i].d, .file_len = files[i].n, .doc = "planted"}, &r);
        expect_status(&r, files[i].status, files[i].needle);
    }
    static const int pitches[2] = {60, 62};
    size_t n;
    unsigned char *mid = midi_of(pitches, 2, &n);
    /* tempo replaces a file's tempo, as `search --tempo` does: two quarter notes at 60 = 2 s */
    lm_web_theme(ctx, &(lm_web_params){.has_file = 1, .file = mid, .file_len = n, .tempo = "60"}, &r);
    expect_status(&r, 200, "\"duration_sec\": 2, \"frames\": 50");
    free(mid);
    /* figures of recordings that are not there */
    lm_web_figure(ctx, &(lm_web_params){.theme = "C4", .doc = "nothere"}, &r);
    expect_status(&r, 404, "no recording");
    lm_web_figure(ctx, &(lm_web_params){.theme = "C4", .doc = "../../etc/passwd"}, &r);
    expect_status(&r, 400, "not a document id");
    lm_web_figure(ctx, &(lm_web_params){.theme = "C4"}, &r);
    expect_status(&r, 400, "doc:");
    lm_web_figure(ctx, &(lm_web_params){.theme = "C4", .doc = "planted", .format = "gif"}, &r);
    expect_status(&r, 400, "format:");
    lm_web_figure(ctx, &(lm_web_params){.theme = "C4", .doc = "planted", .scale = "9"}, &r);
    expect_status(&r, 400, "scale:");
    lm_web_figure(ctx, &(lm_web_params){.theme = "C4", .doc = "planted", .kind = "x"}, &r);
    expect_status(&r, 400, "kind:");
    lm_web_search(ctx, &(lm_web_params){.theme = "C4", .occurrences = "maybe"}, &r);
    expect_status(&r, 400, "occurrences:");
    lm_web_search(ctx, &(lm_web_params){.theme = "C4", .occ_threshold = "2"}, &r);
    expect_status(&r, 400, "needs occurrences");
    lm_web_search(ctx, &(lm_web_params){.theme = "C4", .duration = "often"}, &r);
    expect_status(&r, 400, "duration:");
    lm_web_figure(ctx, &(lm_web_params){.theme = "C4", .doc = "planted", .transpose = "any"}, &r);
    expect_status(&r, 400, NULL);
    assert_true(lm_web_known_param(LM_WEB_SEARCH, "top"));
    assert_false(lm_web_known_param(LM_WEB_SEARCH, "doc"));
    assert_true(lm_web_known_param(LM_WEB_FIGURE, "doc"));
    assert_false(lm_web_known_param(LM_WEB_INFO, "theme"));
    assert_false(lm_web_known_param(LM_WEB_THEME, "evil"));
    lm_web_ctx_close(ctx);
}

/* The rank-1 result object of a search reply: "{\"rank\": 1, ...}" up to its closing brace. */
static char *first_result(const char *body) {
    const char *a = strstr(body, "{\"rank\": 1, ");
    assert_non_null(a);
    const char *b = strchr(a, '}');
    assert_non_null(b);
    return strndup(a, (size_t)(b - a + 1));
}

/* A MusicXML upload with a selection (part, measures): the selected notes are searched, as
 * `leitmotif search --part --measures` does; bad selections are 400 with the CLI's message. */
static void test_selection(void **state) {
    (void)state;
    lm_web_ctx *ctx = open_ctx();
    lm_web_reply r = {0};
    const unsigned char *xml = (const unsigned char *)lm_test_two_part_musicxml;
    size_t xml_len = strlen(lm_test_two_part_musicxml);
    /* Part 1, measures 2-3 are C5 D5 E5 F5 quarter notes and a G5 half note at 120: the planted
     * theme, the same query chroma as this note list. */
    lm_web_search(ctx, &(lm_web_params){.theme = "C4 D4 E4 F4 G4:2", .top = "1"}, &r);
    assert_int_equal(r.status, 200);
    char *want = first_result(r.body);
    lm_web_reply_free(&r);
    lm_web_params ps = {.has_file = 1, .file = xml, .file_len = xml_len, .file_name = "score.musicxml", .top = "1",
                        .part = "flute", .measures = "2-3"};
    lm_web_search(ctx, &ps, &r);
    assert_int_equal(r.status, 200);
    expect_in(r.body, "\"theme\": \"score.musicxml\", \"part\": \"flute\", \"measures\": [2, 3], "
                      "\"theme_frames\": 75");
    char *got = first_result(r.body);
    assert_string_equal(got, want); /* same recording, distance and passage */
    assert_non_null(strstr(got, "\"id\": \"planted\""));
    free(got);
    lm_web_reply_free(&r);
    /* The whole score (A5 x4 first) is another theme: not the same match. */
    lm_web_search(ctx, &(lm_web_params){.has_file = 1, .file = xml, .file_len = xml_len, .top = "1"}, &r);
    assert_int_equal(r.status, 200);
    got = first_result(r.body);
    assert_string_not_equal(got, want);
    free(got);
    free(want);
    lm_web_reply_free(&r);
    /* The theme endpoint reads the same notes; the part by number. */
    ps.part = "1";
    lm_web_theme(ctx, &ps, &r);
    expect_status(&r, 200, "\"notes\": [{\"pitch\": 72, \"onset\": 0, \"duration\": 0.5}, {\"pitch\": 74, ");
    struct {
        lm_web_params p;
        const char *needle;
    } bad[] = {
        {{.part = "Oboe"}, "the uploaded MusicXML file: no part named \\\"Oboe\\\""},
        {{.part = "3"}, "no part 3: the MusicXML score has 2 parts (1 \\\"Flute\\\", 2 \\\"Bass\\\")\"}"},
        {{.part = "1", .measures = "7-9"}, "no measure 7"},
        {{.measures = "3-2"}, "measures: measure range 3-2: the last measure comes before the first"},
        {{.measures = "x"}, "measures: measure range \\\"x\\\": expected N, N-M"},
        {{.track = "1"}, "MusicXML"},
        {{.track = "0"}, "track: expected an integer in [1, 65535], got '0'"},
        {{.voice = "-1"}, "voice: expected an integer"},
        {{.part = "1", .voice = "5"}, "voice 5"},
        {{.tempo = "2001"}, "tempo: expected a number in [1, 2000]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lm_web_params p = bad[i].p;
        p.has_file = 1, p.file = xml, p.file_len = xml_len;
        lm_web_search(ctx, &p, &r);
        expect_status(&r, 400, bad[i].needle);
        lm_web_theme(ctx, &p, &r);
        expect_status(&r, 400, bad[i].needle);
    }
    /* A selection with a note list; a malformed score with a selection: 400, never 500. */
    lm_web_search(ctx, &(lm_web_params){.theme = "C4 D4", .part = "1"}, &r);
    expect_status(&r, 400, "needs a theme file");
    static const char broken[] = "<score-partwise><part-list><score-part id=\"P1\">";
    lm_web_search(ctx,
                  &(lm_web_params){.has_file = 1, .file = (const unsigned char *)broken, .file_len = sizeof broken - 1,
                                   .part = "1"},
                  &r);
    expect_status(&r, 400, "the uploaded MusicXML file: ");
    /* **kern: the spine by name. */
    static const char kern[] = "**kern\t**kern\n*I\"Bass\t*I\"Flute\n*MM120\t*MM120\n=1\t=1\n1C\t4aa\n.\t4aa\n.\t4aa\n"
                               ".\t4aa\n=2\t=2\n1C\t4cc\n.\t4dd\n.\t4ee\n.\t4ff\n=3\t=3\n1C\t2gg\n.\t2r\n*-\t*-\n";
    lm_web_search(ctx,
                  &(lm_web_params){.has_file = 1, .file = (const unsigned char *)kern, .file_len = sizeof kern - 1,
                                   .part = "Flute", .measures = "2-3", .top = "1"},
                  &r);
    expect_status(&r, 200, "{\"rank\": 1, \"id\": \"planted\"");
    assert_true(lm_web_known_param(LM_WEB_SEARCH, "part") && lm_web_known_param(LM_WEB_FIGURE, "measures") &&
                lm_web_known_param(LM_WEB_THEME, "voice") && !lm_web_known_param(LM_WEB_INFO, "track"));
    lm_web_ctx_close(ctx);
}

/* transpose=any, duration=auto, occurrences: the library's query variants, or 400 without them. */
static void test_variants(void **state) {
    (void)state;
    lm_web_ctx *ctx = open_ctx();
    lm_web_reply r = {0};
    lm_web_info(ctx, &r);
    int supported = strstr(r.body, "\"transpose_any\": true") != NULL;
    lm_web_reply_free(&r);
    /* the planted theme a minor third up, at half speed */
    lm_web_search(ctx, &(lm_web_params){.theme = "D#4 F4 G4 G#4 A#4", .transpose = "any", .top = "1"}, &r);
    if (!supported) {
        expect_status(&r, 400, "not supported yet");
        lm_web_ctx_close(ctx);
        return;
    }
    assert_int_equal(r.status, 200);
    expect_in(r.body, "\"transpose\": \"any\", \"documents\": 3");
    expect_in(r.body, "{\"rank\": 1, \"id\": \"planted\"");
    expect_in(r.body, ", \"transpose\": -3}");
    lm_web_reply_free(&r);
    lm_web_search(ctx, &(lm_web_params){.theme = "C4:2 D4:2 E4:2 F4:2 G4:2", .duration = "auto", .top = "1"}, &r);
    assert_int_equal(r.status, 200);
    expect_in(r.body, "\"duration\": \"auto\"");
    expect_in(r.body, "{\"rank\": 1, \"id\": \"planted\"");
    expect_in(r.body, "\"stretch\": "); /* the stretching found (ranked with a small penalty for short ones) */
    lm_web_reply_free(&r);
    lm_web_search(
        ctx, &(lm_web_params){.theme = "C4 D4 E4 F4 G4", .occurrences = "1", .occ_threshold = "0.5", .top = "1"}, &r);
    assert_int_equal(r.status, 200);
    expect_in(r.body, "\"occurrence_margin\": 0.5");
    expect_in(r.body, "\"occurrences\": [{\"distance\": ");
    lm_web_reply_free(&r);
    lm_web_ctx_close(ctx);
}

static unsigned be32(const unsigned char *p) {
    return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

static void expect_png(const lm_web_reply *r, unsigned w, unsigned h) {
    assert_int_equal(r->status, 200);
    assert_true(r->len > 33);
    assert_memory_equal(r->body, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
    assert_int_equal(be32((const unsigned char *)r->body + 16), w);
    assert_int_equal(be32((const unsigned char *)r->body + 20), h);
    assert_memory_equal(r->body + r->len - 8, "IEND\xae\x42\x60\x82", 8);
}

static void test_figures(void **state) {
    (void)state;
    lm_web_ctx *ctx = open_ctx();
    lm_web_reply r = {0};
    lm_web_figure(ctx, &(lm_web_params){.theme = "C4 D4 E4 F4 G4", .doc = "planted"}, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.type, "image/svg+xml");
    assert_non_null(strstr(r.body, "width=\"720\" height=\"340\""));
    assert_non_null(strstr(r.body, "planted: distance 0."));
    assert_non_null(strstr(r.body, "</svg>\n"));
    lm_web_reply_free(&r);
    lm_web_figure(ctx, &(lm_web_params){.theme = "C4 D4 E4 F4 G4", .doc = "planted", .format = "png"}, &r);
    expect_png(&r, 720, 340);
    lm_web_reply_free(&r);
    lm_web_figure(
        ctx,
        &(lm_web_params){.theme = "C4 D4 E4 F4 G4", .doc = "planted", .format = "png", .kind = "full", .scale = "2"},
        &r);
    expect_png(&r, 2 * LM_FIG_FULL_WIDTH, 2 * (unsigned)lm_plot_figure_full_height(0));
    lm_web_reply_free(&r);
    /* A theme too long for this recording but not for the database: a figure that says so. */
    lm_web_figure(ctx, &(lm_web_params){.theme = "C4:50", .doc = "noise_b"}, &r);
    expect_status(&r, 200, "too long to match in this recording");
    lm_web_ctx_close(ctx);
}

/* Many requests at once through two computing slots. */
static void *search_thread(void *arg) {
    lm_web_ctx *ctx = arg;
    int ok = 1;
    for (int i = 0; i < 5; i++) {
        lm_web_reply r = {0};
        lm_web_search(ctx, &(lm_web_params){.theme = i % 2 ? "C4 D4 E4 F4 G4" : "G4 F4 E4"}, &r);
        ok &= r.status == 200;
        lm_web_reply_free(&r);
        lm_web_figure(ctx, &(lm_web_params){.theme = "C4 D4 E4", .doc = "planted", .format = i % 2 ? "svg" : "png"},
                      &r);
        ok &= r.status == 200;
        lm_web_reply_free(&r);
    }
    return ok ? arg : NULL;
}

static void test_concurrent(void **state) {
    (void)state;
    lm_web_ctx *ctx = open_ctx();
    pthread_t th[8];
    for (int i = 0; i < 8; i++) assert_int_equal(pthread_create(&th[i], NULL, search_thread, ctx), 0);
    for (int i = 0; i < 8; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        assert_non_null(ret);
    }
    assert_int_equal(ctx->active, 0);
    assert_int_equal(ctx->waiting, 0);
    lm_web_ctx_close(ctx);
}

/* ---- plot: the match, the path and the encoders */

static void test_match_path(void **state) {
    (void)state;
    lm_db db;
    assert_int_equal(lm_db_open(db_path, &db), 0);
    long k = lm_db_find(&db, "planted");
    assert_true(k >= 0);
    size_t N = 50;
    float *q = calloc(12 * N, sizeof *q);
    static const int pcs[5] = {0, 2, 4, 5, 7};
    for (size_t n = 0; n < N; n++) q[pcs[n * 5 / N] * N + n] = 1.0f;
    lm_plot_match m;
    assert_int_equal(lm_plot_match_compute(q, N, db.docs[k].chroma, db.docs[k].T, &m), 0);
    assert_true(isfinite(m.distance));
    assert_true(m.start >= 195 && m.start <= 215); /* planted at 200-262 */
    assert_true(m.end >= 250 && m.end <= 268);
    assert_true(m.path_len >= N / 2);
    assert_int_equal(m.path[0], 0);
    assert_int_equal(m.path[1], m.start);
    assert_int_equal(m.path[2 * (m.path_len - 1)], N - 1);
    assert_int_equal(m.path[2 * (m.path_len - 1) + 1], m.end);
    for (size_t i = 1; i < m.path_len; i++) {
        size_t dn = m.path[2 * i] - m.path[2 * i - 2], dm = m.path[2 * i + 1] - m.path[2 * i - 1];
        assert_true((dn == 2 && dm == 1) || (dn == 1 && dm == 2) || (dn == 1 && dm == 1));
    }
    for (size_t t = 0; t < m.T; t++) assert_true(isinf(m.matching[t]) || m.matching[t] >= m.distance);
    lm_plot_match_free(&m);
    /* too long for the recording: no path, no error */
    float *q2 = calloc(12 * 2000, sizeof *q2);
    for (size_t n = 0; n < 2000; n++) q2[n] = 1.0f;
    assert_int_equal(lm_plot_match_compute(q2, 2000, db.docs[k].chroma, db.docs[k].T, &m), 0);
    assert_true(isinf(m.distance));
    assert_int_equal(m.path_len, 0);
    lm_plot_match_free(&m);
    free(q);
    free(q2);
    lm_db_close(&db);
}

static void test_canvas(void **state) {
    (void)state;
    assert_null(lm_canvas_new(0, 10));
    assert_null(lm_canvas_new(10, 9000));
    lm_canvas *c = lm_canvas_new(200, 100);
    assert_non_null(c);
    lm_rgb red = {255, 0, 0};
    lm_canvas_title(c, "a <title> & \"more\"");
    lm_canvas_fill(c, -50, -50, 400, 20, red, 0.5);
    lm_canvas_outline(c, 10, 10, 50, 50, red, 2);
    lm_canvas_line(c, 0, 0, 1e9, 1e9, red, 1); /* far off: dropped */
    lm_canvas_line(c, NAN, 0, 5, 5, red, 1);
    double xy[8] = {0, 0, 10, NAN, 20, 20, 30, 10};
    lm_canvas_polyline(c, xy, 4, red, 3);
    lm_canvas_disc(c, 50, 50, 5, red);
    lm_canvas_text(c, 10, 90, "x < y & \"z\" caf\xc3\xa9 \xff\xfe \x01", red, 2, LM_ANCHOR_MIDDLE, 0);
    lm_canvas_text(c, 190, 90, "vertical", red, 1, LM_ANCHOR_END, 1);
    unsigned char px[2 * 3 * 3] = {0, 0, 0, 255, 255, 255, 9, 9, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    lm_canvas_image(c, 100, 10, 80, 60, px, 2, 3);
    lm_canvas_image(c, -1000, -1000, 50000, 50000, px, 2, 3);
    unsigned char *png;
    size_t n;
    assert_int_equal(lm_canvas_png(c, &png, &n), 0);
    lm_web_reply r = {.status = 200, .body = (char *)png, .len = n};
    expect_png(&r, 200, 100);
    free(png);
    char *svg;
    assert_int_equal(lm_canvas_svg(c, &svg, &n), 0);
    assert_int_equal(strlen(svg), n);
    assert_non_null(strstr(svg, "<title>a &lt;title&gt; &amp; &quot;more&quot;</title>"));
    assert_non_null(strstr(svg, ">x &lt; y &amp; &quot;z&quot; caf\xc3\xa9 ?? ?</text>"));
    assert_non_null(strstr(svg, "transform=\"rotate(-90"));
    assert_non_null(strstr(svg, "xlink:href=\"data:image/png;base64,iVBORw0KGgo"));
    assert_null(strstr(svg, "nan"));
    free(svg);
    char path[600];
    snprintf(path, sizeof path, "%s/c.svg", lm_test_tmpdir());
    assert_int_equal(lm_canvas_write(c, path, 1), 0);
    snprintf(path, sizeof path, "%s/nodir/c.png", lm_test_tmpdir());
    assert_int_equal(lm_canvas_write(c, path, 0), -1);
    lm_canvas_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_ids_hosts_numbers),
        cmocka_unit_test(test_search),
        cmocka_unit_test(test_hostile_parameters),
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_variants),
        cmocka_unit_test(test_figures),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_match_path),
        cmocka_unit_test(test_canvas),
    };
    return lm_test_result(cmocka_run_group_tests(tests, make_db, NULL));
}
