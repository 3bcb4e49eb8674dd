/* Audio -> chroma features, the one entry point that indexing, search and training use. */
#ifndef LM_CHROMA_FEATURES_H
#define LM_CHROMA_FEATURES_H
#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"
#include "nn/salience.h"
#include "chroma/tuning.h"

/* ctc: the deep chroma network (ours or the authors'); stft: the standard chroma baseline;
 * bittner: Bittner et al.'s deep salience (melody2) folded to chroma; bg1: the Bosch-Gomez
 * source-filter + harmonic-summation salience folded to chroma. The values are stored in
 * databases: never renumber. */
enum lm_feature_type { LM_FEAT_CTC = 0, LM_FEAT_STFT = 1, LM_FEAT_BITTNER = 2, LM_FEAT_BG1 = 3, LM_FEAT_COUNT };

const char *lm_feature_name(enum lm_feature_type t);
int lm_feature_parse(const char *name, enum lm_feature_type *t);

/* chroma: 12 x T at 25 Hz (frame i at 0.04*i s), each frame l2-normalised.
 * `model` is required for LM_FEAT_CTC, `salience` for LM_FEAT_BITTNER (others may be NULL). */
int lm_features_from_signal(const float *y, size_t n, enum lm_feature_type type, const lm_model *model,
                            const lm_salience_model *salience, float **chroma, size_t *T);
/* The same with tuning compensation (chroma/tuning.h; NULL = off) for ctc, bittner and bg1 (stft
 * always tunes its own filter bank). *tuning_semitones (optional) receives the deviation that
 * was estimated or given, in semitones (0 when off). The frame count stays that of the
 * uncompensated features. */
int lm_features_from_signal_ex(const float *y, size_t n, enum lm_feature_type type, const lm_model *model,
                               const lm_salience_model *salience, const lm_tuning *tuning, float **chroma, size_t *T,
                               double *tuning_semitones);
/* Bittner chroma: HCQT on the 60-bins-per-octave grid -> deep salience -> 12 pitch classes
 * (the salience of the five 20-cent bins around each semitone, summed over octaves) ->
 * l2-normalised per 25 Hz frame. full_rate 1: the network runs on the full-rate HCQT (86
 * frames/s, as the authors ran it; 17x real time on 2 cores) and each 0.04 s segment of the
 * deep chroma's median boundaries takes the mean; 0: on the 25 Hz median HCQT, as the deep
 * chroma network does (3.4 times less work). *salience_out (optional) receives the salience,
 * *n_sal x 360. lm_bittner_chroma is the full_rate 0 form that --features bittner uses. */
int lm_bittner_chroma_ex(const float *y, size_t n, const lm_salience_model *m, int full_rate, float **chroma,
                         size_t *T, float **salience_out, size_t *n_sal);
int lm_bittner_chroma(const float *y, size_t n, const lm_salience_model *m, float **chroma, size_t *T);
/* The weights a feature type needs (ctc: the deep chroma model; bittner: the deep salience
 * model; stft and bg1: none), loaded once. path NULL: the type's default. */
typedef struct {
    enum lm_feature_type type;
    lm_model chroma;
    lm_salience_model salience;
    int loaded; /* 1 if one of the two holds weights */
} lm_feature_weights;
int lm_feature_weights_load(lm_feature_weights *w, enum lm_feature_type type, const char *path);
void lm_feature_weights_free(lm_feature_weights *w);
/* The models to pass to lm_features_from_* (NULL where the type needs none). */
const lm_model *lm_feature_weights_chroma(const lm_feature_weights *w);
const lm_salience_model *lm_feature_weights_salience(const lm_feature_weights *w);
/* Name and checksum of the weights (databases record them): "" and 0 without weights. */
const char *lm_feature_weights_id(const lm_feature_weights *w);
uint32_t lm_feature_weights_checksum(const lm_feature_weights *w);

/* Default path of the deep salience weights: $LEITMOTIF_SALIENCE_MODEL, else
 * ../shared/reference/models/bittner_melody2.bin beside the source tree (MIT-licensed weights
 * of Bittner et al. that leitmotif does not ship); NULL with the error set if absent. */
const char *lm_default_salience_path(void);
/* Deep chroma (HCQT -> CNN); *probs (optional) receives the T x 13 network output. */
int lm_deep_chroma(const float *y, size_t n, const lm_model *model, float **chroma, float **probs, size_t *T);
int lm_deep_chroma_ex(const float *y, size_t n, const lm_model *model, const lm_tuning *tuning, float **chroma,
                      float **probs, size_t *T, double *tuning_semitones);
int lm_features_from_file(const char *path, enum lm_feature_type type, const lm_model *model,
                          const lm_salience_model *salience, float **chroma, size_t *T, double *duration_sec);
/* lm_deep_chroma_ex of a file without holding it in memory (decoded and processed in blocks,
 * with temporary files in $TMPDIR: about 0.7 GB per hour of audio, removed when done); equal to
 * lm_audio_load + lm_deep_chroma_ex. *duration_sec may be NULL. */
int lm_deep_chroma_file(const char *path, const lm_model *model, const lm_tuning *tuning, float **chroma,
                        float **probs, size_t *T, double *tuning_semitones, double *duration_sec);
int lm_features_from_file_ex(const char *path, enum lm_feature_type type, const lm_model *model,
                             const lm_salience_model *salience, const lm_tuning *tuning, float **chroma, size_t *T,
                             double *duration_sec, double *tuning_semitones);
/* Default model path: $LEITMOTIF_MODEL, else models/leitmotif_default.bin next to the
 * binary's source tree or installed data dir; NULL (error set) if none is found. */
const char *lm_default_model_path(void);
/* The file of model model_id with weights checksum `checksum`, looked for as model_id.bin beside
 * the default model, in its training/ folder and in the source tree's models/ and models/training/
 * (where older defaults are kept): 0 and its path in out (cap bytes), or -1 (none; the error
 * message may have changed). For the hint when a database was made with another model. */
int lm_find_model_file(const char *model_id, uint32_t checksum, char *out, size_t cap);
#endif
