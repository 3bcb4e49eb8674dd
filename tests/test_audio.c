/* Audio decoding: every format libsndfile writes here, many channel counts and rates, and
 * damaged inputs (truncated, bit-flipped, empty, Git LFS pointers, text) that must give a
 * shorter result with a warning or a one-line error naming the file. Files are generated
 * with libsndfile itself in a temporary directory. */
#include <fcntl.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio/audio.h"
#include "common/error.h"
#include "testutil.h"

static const char *tmp_path(const char *name) {
    static char buf[8][600];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", lm_test_tmpdir(), name);
    return buf[k];
}

/* A 440 Hz sine of amplitude 0.3 on every channel (so the mono mix-down is the same sine),
 * plus white noise of amplitude `noise` (makes lossy files big enough to cut in half).
 * Returns 0, or -1 if libsndfile cannot write this format here. */
static int write_signal(const char *path, int format, int rate, int channels, double seconds, double noise) {
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    if (!sf_format_check(&info)) return -1;
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) return -1;
    size_t n = (size_t)(seconds * rate);
    float *x = malloc(n * (size_t)channels * sizeof *x);
    assert_non_null(x);
    unsigned s = 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        double v = 0.3 * sin(2 * M_PI * 440 * (double)i / rate) + noise * ((double)(s >> 8) / (1u << 24) - 0.5);
        for (int c = 0; c < channels; c++) x[i * (size_t)channels + (size_t)c] = (float)v;
    }
    sf_count_t w = sf_writef_float(sf, x, (sf_count_t)n);
    sf_close(sf);
    free(x);
    assert_int_equal(w, (sf_count_t)n);
    return 0;
}

static int write_sine(const char *path, int format, int rate, int channels, double seconds) {
    return write_signal(path, format, rate, channels, seconds, 0);
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    assert_true(len > 0);
    rewind(f);
    unsigned char *b = malloc((size_t)len);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* dst = the first half of src's bytes. */
static void truncate_copy(const char *src, const char *dst) {
    size_t n;
    unsigned char *b = read_all(src, &n);
    write_bytes(dst, b, n / 2);
    free(b);
}

/* dst = src with 16 bytes in its middle third inverted (a fixed pseudo-random choice). */
static void flip_copy(const char *src, const char *dst) {
    size_t n;
    unsigned char *b = read_all(src, &n);
    unsigned s = 12345;
    for (int k = 0; k < 16; k++) {
        s = s * 1103515245u + 12345u;
        b[n / 3 + (s >> 8) % (n / 3)] ^= 0xff;
    }
    write_bytes(dst, b, n);
    free(b);
}

static void check_signal(const lm_audio *a, const char *what) {
    for (size_t i = 0; i < a->n; i++)
        if (!isfinite(a->samples[i])) fail_msg("%s: sample %zu is not finite", what, i);
}

/* Loads a file written by write_sine and checks the mono 22050 Hz result. */
static void check_decodes(const char *path, int rate, int channels, double seconds, double tol_sec, int lossy) {
    lm_audio a;
    lm_clear_error();
    if (lm_audio_load(path, &a) != 0) fail_msg("%s: %s", path, lm_last_error());
    assert_int_equal(a.orig_rate, rate);
    assert_int_equal(a.orig_channels, channels);
    assert_int_equal(a.partial, 0);
    check_signal(&a, path);
    double dur = (double)a.n / LM_SAMPLE_RATE;
    if (fabs(dur - seconds) > tol_sec) fail_msg("%s: %.4f s decoded, want %.4f s", path, dur, seconds);
    /* RMS of the middle (away from codec edges): a 0.3 sine has 0.212. */
    double ss = 0;
    size_t lo = a.n / 4, hi = 3 * a.n / 4;
    for (size_t i = lo; i < hi; i++) ss += (double)a.samples[i] * a.samples[i];
    double rms = sqrt(ss / (double)(hi - lo)), want = 0.3 / sqrt(2.0);
    if (fabs(rms - want) > (lossy ? 0.25 : 0.05) * want) fail_msg("%s: RMS %.4f, want %.4f", path, rms, want);
    lm_audio_free(&a);
}

typedef struct {
    const char *ext;
    int format;
    int rate, channels;
    double tol_sec; /* 0: exact length ceil(frames * 22050 / rate) */
    int lossy, optional;
} fmt_case;

static const fmt_case cases[] = {
    {"wav", SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 8000, 1, 0, 0, 0},
    {"wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 0, 0, 0},
    {"wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, 96000, 3, 0, 0, 0},
    {"wav", SF_FORMAT_WAV | SF_FORMAT_PCM_32, 192000, 4, 0, 0, 0},
    {"wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 48000, 5, 0, 0, 0},
    {"wav", SF_FORMAT_WAV | SF_FORMAT_DOUBLE, 11025, 6, 0, 0, 0},
    {"wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 22050, 8, 0, 0, 0},
    {"wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 7, 0, 0, 0},
    {"wav", SF_FORMAT_WAV | SF_FORMAT_ALAW, 8000, 1, 0, 0, 0},
    {"wav", SF_FORMAT_WAV | SF_FORMAT_ULAW, 8000, 2, 0, 0, 0},
    {"wav", SF_FORMAT_WAV | SF_FORMAT_IMA_ADPCM, 22050, 1, 0.1, 1, 0},
    {"wav", SF_FORMAT_WAV | SF_FORMAT_MS_ADPCM, 44100, 2, 0.1, 1, 0},
    {"aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 44100, 2, 0, 0, 0},
    {"aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_24, 32000, 1, 0, 0, 0},
    {"flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 44100, 2, 0, 0, 0},
    {"flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 192000, 8, 0, 0, 0},
    {"flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 8000, 1, 0, 0, 0},
    {"ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 44100, 2, 0.05, 1, 0},
    {"ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 22050, 1, 0.05, 1, 0},
    {"opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 48000, 2, 0.05, 1, 0},
    {"opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 16000, 1, 0.05, 1, 0},
    /* MP3 writing needs libsndfile >= 1.1 built with LAME: skipped where it is not. */
    {"mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 44100, 2, 0.1, 1, 1},
    {"mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 22050, 1, 0.1, 1, 1},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static const char *case_path(size_t i, const char *prefix) {
    char name[64];
    snprintf(name, sizeof name, "%s%zu.%s", prefix, i, cases[i].ext);
    return tmp_path(name);
}

static void test_formats_rates_channels(void **state) {
    (void)state;
    const double seconds = 1.5;
    for (size_t i = 0; i < N_CASES; i++) {
        const fmt_case *c = &cases[i];
        const char *path = case_path(i, "ok");
        if (write_sine(path, c->format, c->rate, c->channels, seconds) != 0) {
            if (c->optional) {
                print_message("note: libsndfile cannot write %s (format 0x%x) here; not tested\n", c->ext, c->format);
                continue;
            }
            fail_msg("libsndfile cannot write format 0x%x", c->format);
        }
        if (c->tol_sec == 0) {
            lm_audio a;
            assert_int_equal(lm_audio_load(path, &a), 0);
            size_t frames = (size_t)(seconds * c->rate);
            assert_int_equal(a.n, (size_t)ceil((double)frames * LM_SAMPLE_RATE / c->rate - 1e-9));
            lm_audio_free(&a);
        }
        check_decodes(path, c->rate, c->channels, seconds, c->tol_sec ? c->tol_sec : 1e-3, c->lossy);
    }
}

/* A damaged file gives either a shorter (or equal) result with a warning, or an error naming
 * the file; never a crash, NaN or a silent failure. Returns 1 if it decoded. */
static int check_damaged(const char *path, double full_sec, int must_be_partial) {
    lm_audio a;
    lm_clear_error();
    if (lm_audio_load(path, &a) != 0) {
        if (!strstr(lm_last_error(), path)) fail_msg("error does not name %s: %s", path, lm_last_error());
        return 0;
    }
    check_signal(&a, path);
    double dur = (double)a.n / LM_SAMPLE_RATE;
    assert_true(dur <= full_sec + 0.1);
    if (must_be_partial) {
        /* A truncated Ogg states no length, like a valid chained one: it gets a warning saying
         * how much was decoded, without being marked partial. */
        if (!a.warning[0]) fail_msg("%s: %.2f of %.2f s decoded without a warning", path, dur, full_sec);
        assert_true(dur < full_sec - 0.1);
    }
    if (a.partial) assert_true(a.warning[0] != '\0');
    lm_audio_free(&a);
    return 1;
}

static void test_truncated_and_flipped(void **state) {
    (void)state;
    const double seconds = 4.0;
    for (size_t i = 0; i < N_CASES; i++) {
        const fmt_case *c = &cases[i];
        const char *full = case_path(i, "full");
        if (write_signal(full, c->format, c->rate, c->channels, seconds, 0.2) != 0) continue; /* noted above */
        char half[600], flip[600];
        snprintf(half, sizeof half, "%s", case_path(i, "half"));
        snprintf(flip, sizeof flip, "%s", case_path(i, "flip"));
        truncate_copy(full, half);
        flip_copy(full, flip);
        /* Half the bytes is about half the audio: it must never pass as complete. */
        check_damaged(half, seconds, 1);
        check_damaged(flip, seconds, 0);
    }
}

static void expect_error(const char *path, const char *text) {
    lm_audio a;
    lm_clear_error();
    assert_int_equal(lm_audio_load(path, &a), -1);
    if (!strstr(lm_last_error(), path) || !strstr(lm_last_error(), text))
        fail_msg("error for %s should name it and say \"%s\": %s", path, text, lm_last_error());
    assert_null(a.samples);
}

static void test_bad_files(void **state) {
    (void)state;
    const char *empty = tmp_path("empty.wav");
    write_bytes(empty, "", 0);
    expect_error(empty, "is empty");

    static const char lfs[] = "version https://git-lfs.github.com/spec/v1\n"
                              "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
                              "size 4123456\n";
    const char *lfs_mp3 = tmp_path("pointer.mp3"), *lfs_flac = tmp_path("pointer.flac");
    write_bytes(lfs_mp3, lfs, sizeof lfs - 1);
    write_bytes(lfs_flac, lfs, sizeof lfs - 1);
    expect_error(lfs_mp3, "Git LFS pointer");
    expect_error(lfs_flac, "Git LFS pointer");

    const char *html = tmp_path("download.mp3");
    static const char page[] = "<html><body>404 Not Found</body></html>\n";
    write_bytes(html, page, sizeof page - 1);
    expect_error(html, "text file");

    unsigned char noise[4000];
    unsigned s = 7;
    for (size_t i = 0; i < sizeof noise; i++) {
        s = s * 1103515245u + 12345u;
        noise[i] = (unsigned char)(s >> 16);
    }
    noise[0] = 0x01; /* not text, no known magic */
    const char *rnd_flac = tmp_path("noise.flac"), *rnd_mp3 = tmp_path("noise.mp3");
    write_bytes(rnd_flac, noise, sizeof noise);
    write_bytes(rnd_mp3, noise, sizeof noise);
    expect_error(rnd_flac, "not an audio format leitmotif can read");
    lm_audio a;
    if (lm_audio_load(rnd_mp3, &a) == 0) lm_audio_free(&a); /* the MP3 decoder may find "frames" in noise */
    else assert_non_null(strstr(lm_last_error(), rnd_mp3));

    expect_error(tmp_path("does_not_exist.wav"), "No such file");
    expect_error(lm_test_tmpdir(), "directory");

    /* Shorter than one 25 Hz frame (882 samples at 22050 Hz). */
    const char *tiny = tmp_path("tiny.wav");
    float x[500];
    for (int i = 0; i < 500; i++) x[i] = 0.1f * (float)sin(i * 0.1);
    assert_int_equal(lm_test_write_wav(tiny, x, 500, 22050, 1), 0);
    expect_error(tiny, "too short");
    /* A header and nothing else. */
    const char *hdr = tmp_path("header_only.wav");
    assert_int_equal(lm_test_write_wav(hdr, x, 0, 44100, 2), 0);
    expect_error(hdr, "no audio");
}

static void test_nan_samples(void **state) {
    (void)state;
    const char *path = tmp_path("nan.wav");
    SF_INFO info = {.samplerate = 22050, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    assert_non_null(sf);
    float x[4410];
    for (int i = 0; i < 4410; i++) x[i] = 0.2f * (float)sin(i * 0.05);
    x[100] = NAN;
    x[200] = INFINITY;
    assert_int_equal(sf_writef_float(sf, x, 4410), 4410);
    sf_close(sf);
    lm_audio a;
    assert_int_equal(lm_audio_load(path, &a), 0);
    check_signal(&a, path);
    assert_int_equal(a.n, 4410);
    assert_non_null(strstr(a.warning, "2 samples were NaN or infinite"));
    lm_audio_free(&a);
}

/* libmpg123's own messages must not reach stderr raw, even with several threads decoding:
 * every line that does is one "leitmotif: warning: FILE: ..." line. */
static void test_decoder_chatter_is_captured(void **state) {
    (void)state;
    const char *good = tmp_path("chatter.mp3"), *bad = tmp_path("chatter_flipped.mp3");
    if (write_sine(good, SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 44100, 2, 3.0) != 0) {
        LM_SKIP("libsndfile cannot write MP3 here\n");
    }
    flip_copy(good, bad);
    const char *log = tmp_path("stderr.txt");
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    int ok[8];
#pragma omp parallel for num_threads(4)
    for (int k = 0; k < 8; k++) {
        lm_audio a;
        ok[k] = lm_audio_load(k % 2 ? bad : good, &a) == 0;
        if (ok[k]) lm_audio_free(&a);
        if (k == 3) fprintf(stderr, "leitmotif: another thread's line\n");
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    for (int k = 0; k < 8; k++) assert_true(ok[k]);
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char line[2048];
    int n_lines = 0, n_other = 0;
    while (fgets(line, sizeof line, f)) {
        n_lines++;
        if (!strncmp(line, "leitmotif: another thread's line", 32)) {
            n_other++;
            continue;
        }
        char want[700];
        snprintf(want, sizeof want, "leitmotif: warning: %s: ", bad);
        if (strncmp(line, want, strlen(want))) fail_msg("raw decoder output on stderr: %s", line);
    }
    fclose(f);
    assert_int_equal(n_other, 1);
    assert_true(n_lines <= 5); /* at most one warning per damaged file */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats_rates_channels),
        cmocka_unit_test(test_truncated_and_flipped),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_nan_samples),
        cmocka_unit_test(test_decoder_chatter_is_captured),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
