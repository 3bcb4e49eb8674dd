/* Audio input: any file libsndfile decodes (WAV, FLAC, OGG/Vorbis, Opus, MP3 with
 * libsndfile >= 1.1), mixed down to mono and resampled to 22050 Hz with libsamplerate's
 * best sinc converter. */
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
} lm_audio;

int lm_audio_load(const char *path, lm_audio *out);
void lm_audio_free(lm_audio *a);
/* Resamples mono float audio from rate `from` to LM_SAMPLE_RATE (new buffer). */
float *lm_resample_to_22050(const float *x, size_t n, int from, size_t *n_out);
#endif
