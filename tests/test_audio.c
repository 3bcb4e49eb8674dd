/* Audio decoding: every format libsndfile writes here, many channel counts and rates, very short
 * files, MP3 with a large ID3 tag or a LAME tag that trims more than the file holds, and damaged
 * inputs (truncated, bit-flipped, empty, Git LFS pointers, text) that must give a shorter result
 * with a warning or a one-line error naming the file. Whatever decodes has finite samples and
 * features of duration x 25 +- 1 frames. Files are generated with libsndfile itself in a
 * temporary directory. */
#include <fcntl.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio/audio.h"
#include "chroma/stft_chroma.h"
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

/* The rule for every decoded file: its features have duration x 25 +- 1 frames (25 Hz),
 * none of them NaN or infinite (the STFT chroma, T = 1 + n/882, on the decoded signal). */
static void check_frames(const lm_audio *a, const char *what) {
    float *chroma = NULL;
    size_t T = 0;
    if (lm_chroma_stft(a->samples, a->n, &chroma, &T) != 0) fail_msg("%s: chroma: %s", what, lm_last_error());
    double want = 25.0 * (double)a->n / LM_SAMPLE_RATE;
    if (fabs((double)T - want) > 1.0) fail_msg("%s: %zu frames for %.4f s decoded", what, T, want / 25);
    for (size_t i = 0; i < 12 * T; i++)
        if (!isfinite(chroma[i])) fail_msg("%s: chroma value %zu is not finite", what, i);
    free(chroma);
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
    check_frames(&a, path);
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
    {"aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_S8, 22050, 2, 0, 0, 0},
    /* WAVE_FORMAT_EXTENSIBLE, as multichannel recorders write it */
    {"wav", SF_FORMAT_WAVEX | SF_FORMAT_PCM_24, 48000, 6, 0, 0, 0},
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
    check_frames(&a, path);
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

/* Very short files of every format: 0.05 s (just over one 25 Hz frame) decodes with the right
 * frame count, or (lossy codecs, whose frames and priming are longer than that) gives an error
 * naming the file; 0.02 s is too short and says so, naming the file. */
static void test_very_short(void **state) {
    (void)state;
    for (size_t i = 0; i < N_CASES; i++) {
        const fmt_case *c = &cases[i];
        const char *path = case_path(i, "short");
        if (write_sine(path, c->format, c->rate, c->channels, 0.05) != 0) continue; /* noted above */
        lm_audio a;
        lm_clear_error();
        if (lm_audio_load(path, &a) == 0) {
            check_signal(&a, path);
            check_frames(&a, path);
            double dur = (double)a.n / LM_SAMPLE_RATE;
            if (fabs(dur - 0.05) > (c->lossy ? 0.1 : 1e-3)) fail_msg("%s: %.4f s decoded of 0.05 s", path, dur);
            lm_audio_free(&a);
        } else {
            if (!c->lossy) fail_msg("%s: 0.05 s of lossless audio refused: %s", path, lm_last_error());
            if (!strstr(lm_last_error(), path)) fail_msg("error does not name %s: %s", path, lm_last_error());
        }
        path = case_path(i, "tiny");
        if (write_sine(path, c->format, c->rate, c->channels, 0.02) != 0) continue;
        lm_clear_error();
        if (lm_audio_load(path, &a) == 0) { /* a lossy codec's padding may make it long enough */
            if (!c->lossy) fail_msg("%s: 0.02 s accepted", path);
            check_frames(&a, path);
            lm_audio_free(&a);
        } else if (!strstr(lm_last_error(), path) || (!c->lossy && !strstr(lm_last_error(), "too short")))
            fail_msg("%s: %s", path, lm_last_error());
    }
}

/* An ID3v2.3 tag of `payload` bytes (one APIC frame of pseudo-random "picture" bytes full of MPEG
 * sync words, which a careless decoder takes for audio frames). */
static unsigned char *id3v2_tag(size_t payload, size_t *len) {
    size_t frame = 10 + payload, total = 10 + frame;
    unsigned char *t = calloc(1, total);
    assert_non_null(t);
    memcpy(t, "ID3\3\0\0", 6);
    size_t body = frame; /* syncsafe size of what follows the header */
    for (int k = 0; k < 4; k++) t[6 + k] = (unsigned char)((body >> (7 * (3 - k))) & 0x7f);
    memcpy(t + 10, "APIC", 4);
    for (int k = 0; k < 4; k++) t[14 + k] = (unsigned char)(payload >> (8 * (3 - k)));
    unsigned char *p = t + 20;
    memcpy(p, "\0image/jpeg\0\3cover\0", 19);
    unsigned s = 99;
    for (size_t i = 19; i < payload; i++) {
        s = s * 1103515245u + 12345u;
        p[i] = (unsigned char)(s >> 16);
        if (i % 417 == 0 && i + 1 < payload) p[i] = 0xff, p[++i] = 0xfb; /* "frame" headers */
    }
    *len = total;
    return t;
}

/* MP3 with a large ID3v2 tag in front (a 300 KiB cover picture) and an ID3v1 tag at the end:
 * the whole audio, no more, no warning about damage. */
static void test_mp3_large_id3(void **state) {
    (void)state;
    const char *plain = tmp_path("id3_plain.mp3"), *tagged = tmp_path("id3_tagged.mp3");
    if (write_sine(plain, SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 44100, 2, 1.5) != 0)
        LM_SKIP("libsndfile cannot write MP3 here\n");
    size_t n_audio, n_tag;
    unsigned char *audio = read_all(plain, &n_audio), *tag = id3v2_tag(300 * 1024, &n_tag);
    unsigned char v1[128] = "TAG";
    memcpy(v1 + 3, "A title", 7);
    FILE *f = fopen(tagged, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(tag, 1, n_tag, f), n_tag);
    assert_int_equal(fwrite(audio, 1, n_audio, f), n_audio);
    assert_int_equal(fwrite(v1, 1, sizeof v1, f), sizeof v1);
    assert_int_equal(fclose(f), 0);
    free(audio);
    free(tag);
    check_decodes(tagged, 44100, 2, 1.5, 0.1, 1);
    lm_audio a;
    assert_int_equal(lm_audio_load(tagged, &a), 0);
    if (a.warning[0]) fail_msg("%s: unexpected warning: %s", tagged, a.warning);
    lm_audio_free(&a);
}

/* Writes an MP3 whose LAME tag states more encoder delay plus padding than the file holds samples,
 * as LAME 3.97 and older wrote them into very short files (quodlibet/mutagen's
 * tests/data/lame397v9short.mp3: 3 frames of 576 samples at 24 kHz, delay 576 + padding 1452).
 * Made from a libsndfile MP3 (whose LAME tag is right) by editing the tag's delay and padding.
 * Returns the samples per channel the file holds, or 0 where libsndfile cannot write MP3 or
 * writes no LAME tag. */
static size_t write_bogus_lame_mp3(const char *path, int rate, double seconds) {
    if (write_sine(path, SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, rate, 2, seconds) != 0) return 0;
    size_t n;
    unsigned char *b = read_all(path, &n);
    /* The Xing/Info tag in the first frame, then the LAME tag 120 bytes on (with frames, bytes,
     * TOC and quality: flags 0x0f). */
    size_t x = 0;
    while (x + 4 <= 64 && x + 4 <= n && memcmp(b + x, "Xing", 4) && memcmp(b + x, "Info", 4)) x++;
    if (x + 124 > n || x + 4 > 64 || b[x + 7] != 0x0f || memcmp(b + x + 120, "LAME", 4)) {
        free(b);
        return 0;
    }
    size_t frames = (size_t)b[x + 8] << 24 | (size_t)b[x + 9] << 16 | (size_t)b[x + 10] << 8 | b[x + 11];
    size_t spf = rate < 32000 ? 576 : 1152; /* MPEG-2 (and 2.5) layer III: 576 samples a frame */
    size_t total = frames * spf, delay = 576, padding = total + 300 - delay;
    assert_true(padding < 4096);
    unsigned char *dp = b + x + 120 + 21; /* 12 bits of delay, 12 bits of padding */
    dp[0] = (unsigned char)(delay >> 4);
    dp[1] = (unsigned char)((delay & 15) << 4 | padding >> 8);
    dp[2] = (unsigned char)(padding & 255);
    write_bytes(path, b, n);
    free(b);
    return total;
}

static void test_mp3_lame_tag_trims_everything(void **state) {
    (void)state;
    const char *path = tmp_path("lame397_short.mp3");
    size_t total = write_bogus_lame_mp3(path, 24000, 0.072);
    if (!total) LM_SKIP("libsndfile cannot write MP3 with a LAME tag here\n");
    /* The problem: libsndfile (gapless libmpg123) yields nothing from such a file. */
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    sf_count_t from_sndfile = 0;
    if (sf) {
        float buf[4096];
        sf_count_t r;
        while ((r = sf_readf_float(sf, buf, 2048)) > 0) from_sndfile += r;
        sf_close(sf);
    }
    if (from_sndfile != 0)
        print_message("note: this libsndfile decodes %lld samples of the bogus LAME tag file itself\n",
                      (long long)from_sndfile);
    lm_audio a;
    lm_clear_error();
    if (lm_audio_load(path, &a) != 0) fail_msg("%s: %s", path, lm_last_error());
    assert_int_equal(a.orig_rate, 24000);
    assert_int_equal(a.orig_channels, 2);
    assert_int_equal(a.partial, 0);
    check_signal(&a, path);
    check_frames(&a, path);
    /* All of it, untrimmed, as sox reads it. */
    assert_int_equal(a.n, (size_t)ceil((double)total * LM_SAMPLE_RATE / 24000 - 1e-9));
    if (from_sndfile == 0 && !strstr(a.warning, "LAME header says to trim"))
        fail_msg("%s: warning '%s' does not explain the LAME header", path, a.warning);
    lm_audio_free(&a);
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
        cmocka_unit_test(test_very_short),
        cmocka_unit_test(test_mp3_large_id3),
        cmocka_unit_test(test_mp3_lame_tag_trims_everything),
        cmocka_unit_test(test_nan_samples),
        cmocka_unit_test(test_decoder_chatter_is_captured),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
