/* Training the deep chroma network on weakly aligned pairs (paper, section 4):
 * CTC loss (or the frame-wise cross-entropy baseline), Adam, batches of 8, transposition
 * augmentation, learning-rate annealing with restarts from the best model, per-epoch
 * checkpoints from which --resume continues exactly. */
#ifndef LM_TRAIN_TRAINER_H
#define LM_TRAIN_TRAINER_H
#include <stddef.h>
#include <stdio.h>

#include "augment/augment.h"
#include "nn/model.h"
#include "train/excerpts.h"
#include "train/pairs.h"

enum lm_loss_type { LM_LOSS_CTC = 0, LM_LOSS_CCE = 1 };

typedef struct {
    enum lm_loss_type loss;
    double lr;           /* initial learning rate (1e-3) */
    int batch;           /* 8 */
    int max_shift;       /* transposition augmentation, semitones (3) */
    int patience;        /* epochs without validation improvement before annealing (5) */
    int phases;          /* learning-rate phases (10) */
    int max_epochs;      /* hard cap (0 = none) */
    unsigned long seed;
    const char *out_model;  /* best model is written here */
    const char *checkpoint; /* per-epoch training state */
    const char *plot_png;   /* loss curves (NULL: none) */
    const char *model_id;
    const char *info;       /* extra header lines for the model file (data, folds, ...) */
    int resume;
    /* Waveform augmentation (NULL or all rates 0: none; then the examples may come from the
     * HCQT cache, and training is exactly what it was before augmentation existed). With it,
     * every example needs audio (lm_excerpts_load_audio): training examples are augmented
     * anew in each epoch, validation examples once with a fixed draw, so the validation loss
     * measures robustness and stays comparable between epochs. */
    const lm_augment_config *augment;
    /* Start from these weights instead of a random initialisation (fine-tuning); NULL: random.
     * The starting model's validation loss is the first best, so a run that only gets worse
     * keeps the starting model. */
    const lm_model *init;
} lm_train_config;

typedef struct {
    const lm_pair *pair;
    const lm_excerpt *ex;
    int *frame_labels; /* CCE only: class per frame (linear stretch of the theme, 12 on rests) */
} lm_train_example;

/* Runs (or resumes) training; returns 0 when finished. */
int lm_train(const lm_train_config *cfg, const lm_train_example *train, size_t n_train,
             const lm_train_example *valid, size_t n_valid);

/* A checkpoint's per-epoch history as CSV (epoch,train_loss,valid_loss,lr,improved) on csv and a
 * one-line summary of its state (epoch, phase, learning rate, best loss, training time) in
 * summary. Needs no training data; checks the file's size and checksum. Returns 0 or -1. */
int lm_train_checkpoint_history(const char *path, FILE *csv, char *summary, size_t summary_size);

/* Loss and gradient of one example (exposed for tests). logits: T x 13. For CTC, infeasible
 * examples give +INFINITY. grad (T x 13) may be NULL. */
double lm_example_loss(enum lm_loss_type loss, const lm_train_example *e, int shift, const double *logits, size_t T,
                       double *grad);
/* Keras' glorot_uniform for the kernels, zeros for the biases, the fixed chroma pooling. */
void lm_model_init_random(lm_model *m, unsigned long seed);
#endif
