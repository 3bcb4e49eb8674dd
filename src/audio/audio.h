/* Audio input: any file libsndfile decodes (WAV, AIFF, FLAC, OGG/Vorbis, Opus, MP3 with
 * libsndfile >= 1.1), mixed down to mono and resampled to 22050 Hz with libsamplerate's
 * best sinc converter. An MP3 of which libsndfile decodes nothing (gapless trimming of a LAME
 * tag that states more delay and padding than the file holds, as LAME 3.97 wrote into very
 * short files) is decoded again with libmpg123 directly, untrimmed, with a warning. */
#ifndef LM_AUDIO_AUDIO_H
#define LM_AUDIO_AUDIO_H
#include <stddef.h>

#define LM_SAMPLE_RATE 22050
/* Shortest accepted signal: one 25 Hz feature frame. */
#define LM_MIN_SAMPLES 882

typedef struct {
    float *samples; /* mono, LM_SAMPLE_RATE */
    size_t n;
    int orig_rate;
    int orig_channels;
    int partial;       /* decoding stopped before the end the file announces: only a part is here */
    char warning[512]; /* "" or the warning printed for this file (it names the file) */
} lm_audio;

/* Decodes a whole file. Fatal problems (no audio, unknown format, too short) return -1 with a
 * one-line error naming the file; recoverable ones (decoding stopped early, damaged data the
 * decoder skipped, NaN/Inf samples) print one "leitmotif: warning: FILE: ..." line on stderr
 * and keep what was decoded. */
int lm_audio_load(const char *path, lm_audio *out);
void lm_audio_free(lm_audio *a);
/* Of the last lm_audio_load on the calling thread: 1 if it kept only part of the file. */
int lm_audio_last_partial(void);
/* A consumer of consecutive blocks of samples: 0, or -1 (error set) to stop. */
typedef int (*lm_block_fn)(void *ctx, const float *x, size_t n);

/* Decodes like lm_audio_load, handing the mono 22050 Hz samples to emit in blocks as they
 * are decoded (memory does not grow with the file's length): out gets everything but the
 * samples (out->samples is NULL, out->n the count), with the same warning and errors. */
int lm_audio_stream(const char *path, lm_block_fn emit, void *ctx, lm_audio *out);

/* Block-wise sample-rate conversion: lm_resampler_push the input in any blocks (last = 1 on the
 * final call, which may be empty); emit gets the output, exactly what the converter gives for
 * the whole signal at once (lm_resample_soxr for LM_RESAMPLE_SOXR_*, src_simple for a
 * libsamplerate SRC_SINC_* converter), cut or zero-padded to ceil(n * ratio) samples. */
#define LM_RESAMPLE_SOXR_VHQ (-1) /* libsoxr, very high quality: audio to 22050 Hz */
#define LM_RESAMPLE_SOXR_HQ (-2)  /* libsoxr, high quality: the tuning compensation */
typedef struct {
    struct SRC_STATE_tag *state; /* libsamplerate converters */
    struct soxr *soxr;           /* LM_RESAMPLE_SOXR_VHQ */
    double ratio;
    lm_block_fn emit;
    void *ctx;
    float *buf;
    size_t held, in_total, out_total;
} lm_resampler;
int lm_resampler_init(lm_resampler *r, double ratio, int converter, lm_block_fn emit, void *ctx);
int lm_resampler_push(lm_resampler *r, const float *x, size_t n, int last);
void lm_resampler_free(lm_resampler *r);

/* Resamples mono float audio by `ratio` (output rate / input rate) with libsoxr (converter:
 * LM_RESAMPLE_SOXR_VHQ or _HQ) into a new buffer of exactly ceil(n * ratio) samples (*n_out);
 * NULL with the error set on failure. */
float *lm_resample_soxr(const float *x, size_t n, double ratio, int converter, size_t *n_out);
/* Resamples mono float audio from rate `from` to LM_SAMPLE_RATE (new buffer). */
float *lm_resample_to_22050(const float *x, size_t n, int from, size_t *n_out);

/* libsndfile's MP3 decoder (libmpg123) prints its notes straight to file descriptor 2, and
 * libsndfile offers no way to quiet it; lm_audio_load therefore points fd 2 at a capture
 * file while such a decoder runs, under this process-wide lock. Code that writes to stderr
 * while other threads may be loading audio should hold it, or its text may be captured
 * (lines starting with "leitmotif:" are passed through, but out of order). */
void lm_audio_stderr_lock(void);
void lm_audio_stderr_unlock(void);
#endif
