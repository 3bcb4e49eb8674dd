/* Audio -> chroma features, the one entry point that indexing, search and training use. */
#ifndef LM_CHROMA_FEATURES_H
#define LM_CHROMA_FEATURES_H
#include <stddef.h>

#include "nn/model.h"

enum lm_feature_type { LM_FEAT_CTC = 0, LM_FEAT_STFT = 1 };

const char *lm_feature_name(enum lm_feature_type t);
int lm_feature_parse(const char *name, enum lm_feature_type *t);

/* chroma: 12 x T at 25 Hz (frame i at 0.04*i s), each frame l2-normalised.
 * `model` is required for LM_FEAT_CTC. */
int lm_features_from_signal(const float *y, size_t n, enum lm_feature_type type, const lm_model *model,
                            float **chroma, size_t *T);
/* Deep chroma (HCQT -> CNN); *probs (optional) receives the T x 13 network output. */
int lm_deep_chroma(const float *y, size_t n, const lm_model *model, float **chroma, float **probs, size_t *T);
int lm_features_from_file(const char *path, enum lm_feature_type type, const lm_model *model, float **chroma,
                          size_t *T, double *duration_sec);
/* Default model path: $LEITMOTIF_MODEL, else models/leitmotif_default.bin next to the
 * binary's source tree or installed data dir; NULL (error set) if none is found. */
const char *lm_default_model_path(void);
#endif
