/* Waveform augmentation for training: makes clean synthesised excerpts sound like the many
 * ways real recordings are made and heard. Applied to the audio before the HCQT, recomputed
 * for every example of every epoch, seeded and deterministic: the same (config, seed, input)
 * always gives the same output, on any thread count.
 *
 * The chain, each step drawn with its own probability:
 *   mix      an unrelated excerpt underneath, -30..-12 dB (another ensemble, bleed)
 *   detune   global tuning, up to +-max_detune_cents (resampling: the excerpt's time axis is
 *            scaled by the factor returned in time_scale)
 *   reverb   a synthetic room impulse response: direct sound, 4-12 early reflections,
 *            exponentially decaying tail (RT60 0.15-2.5 s) whose high frequencies decay faster
 *   eq       high-pass 30-250 Hz; a band limit (old recording 300-500 Hz .. 2.5-5 kHz, or
 *            low-pass 5-11 kHz); 1-3 peaking bands of +-10 dB (microphone, loudspeaker)
 *   compress feed-forward compressor (threshold -30..-8 dB, ratio 2-8), then a gain of
 *            -12..+6 dB and, sometimes, soft clipping
 *   noise    white, pink, mains hum (50/60 Hz with harmonics) or audience-like (murmur with
 *            coughs), 10-40 dB SNR
 *   codec    Ogg Vorbis or MP3 encode + decode through libsndfile at a low bit rate
 * The output is finite and within [-1, 1]. */
#ifndef LM_AUGMENT_AUGMENT_H
#define LM_AUGMENT_AUGMENT_H
#include <stddef.h>
#include <stdint.h>

enum lm_aug_step { LM_AUG_MIX, LM_AUG_DETUNE, LM_AUG_REVERB, LM_AUG_EQ, LM_AUG_COMPRESS, LM_AUG_NOISE, LM_AUG_CODEC,
                   LM_AUG_NSTEPS };

extern const char *const lm_aug_step_names[LM_AUG_NSTEPS];

typedef struct {
    double p[LM_AUG_NSTEPS]; /* probability of each step per example; all 0 = off */
    double max_detune_cents; /* 50 */
    double snr_db_min, snr_db_max; /* 10, 40 */
} lm_augment_config;

/* The default rates (documented in docs/training.md). */
void lm_augment_default(lm_augment_config *c);
/* "none" (all off), "default", or a comma list of step=probability overriding the default,
 * e.g. "default,codec=0.2,reverb=0" or "reverb=0.5" (steps not named keep the default).
 * Returns 0, or -1 with an error naming the bad item. */
int lm_augment_parse(const char *spec, lm_augment_config *c);
int lm_augment_enabled(const lm_augment_config *c);
/* A fingerprint of the configuration (checkpoints refuse to resume with another one). */
uint64_t lm_augment_hash(const lm_augment_config *c);

/* Augments x[0..n) (mono, 22050 Hz). other[0..n_other) is the unrelated excerpt for the mix
 * step (may be NULL: the step is skipped). *out gets a new buffer of *n_out samples (freed by
 * the caller); *time_scale the factor by which times in the output are scaled (1 without
 * detune). steps_done (may be NULL) gets a bit per step applied. Returns 0 or -1 (error set). */
int lm_augment_apply(const lm_augment_config *c, uint64_t seed, const float *x, size_t n, const float *other,
                     size_t n_other, float **out, size_t *n_out, double *time_scale, unsigned *steps_done);
#endif
