/* Deep chroma model weights in the "FLATWEIGHTS 1" format of the authors' converted
 * checkpoints (4096-byte ASCII header, then float32 little-endian tensors in C order).
 * leitmotif stores its own trained models in the same format. */
#ifndef LM_NN_MODEL_H
#define LM_NN_MODEL_H
#include <stddef.h>
#include <stdint.h>

#define LM_MODEL_NTENSORS 15
#define LM_MODEL_NFLOATS 75562
#define LM_NCLASSES 13 /* 12 chroma + epsilon (CTC blank) */
#define LM_BLANK 12

enum lm_tensor_id {
    LM_T_BENDY1_K, LM_T_BENDY1_B, LM_T_BENDY2_K, LM_T_BENDY2_B, LM_T_SMOOTHY1_K, LM_T_SMOOTHY1_B,
    LM_T_SMOOTHY2_K, LM_T_SMOOTHY2_B, LM_T_DISTRIBUTE_K, LM_T_DISTRIBUTE_B, LM_T_SQUISHY_K, LM_T_SQUISHY_B,
    LM_T_CHROMA_POOL, LM_T_EPS_POOL_K, LM_T_EPS_POOL_B
};

typedef struct {
    char id[128];
    float *w;                        /* LM_MODEL_NFLOATS floats, tensors in the fixed order */
    float *t[LM_MODEL_NTENSORS];     /* pointers into w */
    uint32_t checksum;               /* CRC-32 of the tensor bytes: identifies the model in databases */
} lm_model;

extern const char *const lm_tensor_names[LM_MODEL_NTENSORS];
extern const int lm_tensor_shapes[LM_MODEL_NTENSORS][4]; /* unused dims are 0 */
extern const size_t lm_tensor_counts[LM_MODEL_NTENSORS];

int lm_model_load(const char *path, lm_model *m);

/* A network's fixed list of tensors, which a FLATWEIGHTS file must match exactly. */
typedef struct {
    const char *what; /* "deep chroma network", in error messages */
    int n_tensors;
    const char *const *names;
    const int (*shapes)[4]; /* unused dims are 0 */
    const size_t *counts;
} lm_flat_arch;
/* Reads the weights of a FLATWEIGHTS file of architecture `arch` into *w (malloc'd, the
 * tensors' floats in order); id (id_cap bytes) gets the model_id, *checksum the CRC-32 of
 * the tensor bytes. Truncated, damaged or other-architecture files give a one-line error. */
int lm_flat_load(const char *path, const lm_flat_arch *arch, float **w, char *id, size_t id_cap,
                 uint32_t *checksum);
/* Writes a model atomically; `info` lines (may be NULL) go into the header. */
int lm_model_save(const char *path, const lm_model *m, const char *info);
/* Allocates zeroed weights with the fixed chroma pooling matrix set. */
int lm_model_alloc(lm_model *m, const char *id);
void lm_model_set_pointers(lm_model *m);
void lm_model_free(lm_model *m);
uint32_t lm_crc32(uint32_t crc, const void *data, size_t n);
#endif
