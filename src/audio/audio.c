#include "audio/audio.h"

#include <errno.h>
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"

float *lm_resample_to_22050(const float *x, size_t n, int from, size_t *n_out) {
    double ratio = (double)LM_SAMPLE_RATE / (double)from;
    size_t cap = (size_t)ceil((double)n * ratio) + 16;
    float *out = lm_malloc(cap, sizeof *out);
    if (!out) return NULL;
    SRC_DATA d;
    memset(&d, 0, sizeof d);
    d.data_in = x;
    d.input_frames = (long)n;
    d.data_out = out;
    d.output_frames = (long)cap;
    d.src_ratio = ratio;
    int err = src_simple(&d, SRC_SINC_BEST_QUALITY, 1);
    if (err) {
        lm_set_error("resampling failed: %s", src_strerror(err));
        free(out);
        return NULL;
    }
    /* libsamplerate may stop a sample or two short of n * ratio; the reference pipeline
     * (librosa) makes the output exactly ceil(n * ratio) samples long, so the frame count of
     * the features depends only on the duration. */
    size_t want = (size_t)ceil((double)n * ratio - 1e-9);
    size_t got = (size_t)d.output_frames_gen;
    if (got < want) memset(out + got, 0, (want - got) * sizeof *out);
    *n_out = want;
    return out;
}

int lm_audio_load(const char *path, lm_audio *out) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0) {
        lm_set_error("%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        lm_set_error("%s: not a regular file", path);
        return -1;
    }
    if (st.st_size == 0) {
        lm_set_error("%s: empty file", path);
        return -1;
    }
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) {
        lm_set_error("%s: not a readable audio file (%s)", path, sf_strerror(NULL));
        return -1;
    }
    if (info.channels <= 0 || info.samplerate <= 0 || info.samplerate > 1000000) {
        lm_set_error("%s: invalid audio header (%d channels, %d Hz)", path, info.channels, info.samplerate);
        sf_close(sf);
        return -1;
    }
    if (info.frames <= 0) {
        lm_set_error("%s: audio file contains no samples", path);
        sf_close(sf);
        return -1;
    }
    /* Read in blocks and mix down as we go, so an 8-channel file never needs 8x memory. */
    size_t frames = (size_t)info.frames;
    float *mono = lm_malloc(frames, sizeof *mono);
    const size_t block = 8192;
    float *buf = lm_malloc(block * (size_t)info.channels, sizeof *buf);
    if (!mono || !buf) {
        free(mono);
        free(buf);
        sf_close(sf);
        return -1;
    }
    size_t got = 0;
    while (got < frames) {
        sf_count_t want = (sf_count_t)((frames - got) < block ? (frames - got) : block);
        sf_count_t r = sf_readf_float(sf, buf, want);
        if (r <= 0) break;
        for (sf_count_t i = 0; i < r; i++) {
            double s = 0;
            for (int c = 0; c < info.channels; c++) s += buf[(size_t)i * (size_t)info.channels + (size_t)c];
            mono[got + (size_t)i] = (float)(s / info.channels);
        }
        got += (size_t)r;
    }
    int sferr = sf_error(sf);
    free(buf);
    sf_close(sf);
    if (got == 0 || (sferr != SF_ERR_NO_ERROR && got < frames / 2)) {
        lm_set_error("%s: cannot decode audio data", path);
        free(mono);
        return -1;
    }
    for (size_t i = 0; i < got; i++)
        if (!isfinite(mono[i])) mono[i] = 0.0f; /* float files may carry NaN/Inf; never let them poison features */
    out->orig_rate = info.samplerate;
    out->orig_channels = info.channels;
    if (info.samplerate == LM_SAMPLE_RATE) {
        out->samples = mono;
        out->n = got;
    } else {
        out->samples = lm_resample_to_22050(mono, got, info.samplerate, &out->n);
        free(mono);
        if (!out->samples) return -1;
    }
    if (out->n < LM_MIN_SAMPLES) {
        lm_set_error("%s: audio too short (%.4f s; need at least %.2f s)", path, (double)out->n / LM_SAMPLE_RATE,
                     (double)LM_MIN_SAMPLES / LM_SAMPLE_RATE);
        lm_audio_free(out);
        return -1;
    }
    return 0;
}

void lm_audio_free(lm_audio *a) {
    free(a->samples);
    a->samples = NULL;
    a->n = 0;
}
