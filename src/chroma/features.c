#include "chroma/features.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio/audio.h"
#include "chroma/stft_chroma.h"
#include "common/error.h"
#include "hcqt/hcqt.h"
#include "nn/cnn.h"

#define DEFAULT_MODEL_NAME "leitmotif_default.bin"

const char *lm_feature_name(enum lm_feature_type t) { return t == LM_FEAT_STFT ? "stft" : "ctc"; }

int lm_feature_parse(const char *name, enum lm_feature_type *t) {
    if (name && !strcmp(name, "ctc")) *t = LM_FEAT_CTC;
    else if (name && !strcmp(name, "stft")) *t = LM_FEAT_STFT;
    else {
        lm_set_error("unknown feature type '%s' (use ctc or stft)", name ? name : "");
        return -1;
    }
    return 0;
}

int lm_deep_chroma(const float *y, size_t n, const lm_model *model, float **chroma, float **probs_out, size_t *T) {
    lm_hcqt h;
    if (lm_hcqt25(y, n, &h) != 0) return -1;
    size_t nt = h.n_frames;
    float *probs = lm_malloc(nt * LM_NCLASSES, sizeof *probs);
    float *c = lm_malloc(nt * 12, sizeof *c);
    int rc = (probs && c) ? lm_cnn_forward_hcqt(model, &h, probs) : -1;
    lm_hcqt_free(&h);
    if (rc == 0) lm_probs_to_chroma(probs, nt, c);
    if (rc != 0) {
        free(probs);
        free(c);
        return -1;
    }
    if (probs_out) *probs_out = probs;
    else free(probs);
    *chroma = c;
    *T = nt;
    return 0;
}

int lm_features_from_signal(const float *y, size_t n, enum lm_feature_type type, const lm_model *model, float **chroma,
                            size_t *T) {
    if (type == LM_FEAT_STFT) return lm_chroma_stft(y, n, chroma, T);
    if (!model) {
        lm_set_error("deep chroma features need a model");
        return -1;
    }
    return lm_deep_chroma(y, n, model, chroma, NULL, T);
}

int lm_features_from_file(const char *path, enum lm_feature_type type, const lm_model *model, float **chroma,
                          size_t *T, double *duration_sec) {
    lm_audio a;
    if (lm_audio_load(path, &a) != 0) return -1;
    int rc = lm_features_from_signal(a.samples, a.n, type, model, chroma, T);
    if (rc == 0 && duration_sec) *duration_sec = (double)a.n / LM_SAMPLE_RATE;
    lm_audio_free(&a);
    return rc;
}

const char *lm_default_model_path(void) {
    static char path[4096];
    const char *env = getenv("LEITMOTIF_MODEL");
    if (env && *env) return env;
    snprintf(path, sizeof path, "%s/%s", LM_MODEL_DIR, DEFAULT_MODEL_NAME);
    if (access(path, R_OK) == 0) return path;
    lm_set_error("no default model found (%s); pass --model FILE, e.g. "
                 "../shared/reference/models/v1_ctc_train345valid1.bin",
                 path);
    return NULL;
}
