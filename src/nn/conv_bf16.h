/* The deep chroma network's direct convolutions with bf16 dot products (AVX512_BF16,
 * conv_bf16.c), an opt-in alternative to the float32 loops of layers.c (issue 16 item 5). */
#ifndef LM_NN_CONV_BF16_H
#define LM_NN_CONV_BF16_H
#include <stddef.h>
#include <stdint.h>

#include "nn/layers.h"

enum lm_nn_precision { LM_NN_FP32 = 0, LM_NN_BF16 = 1 };

/* "fp32" or "bf16"; 0, or -1 with the error set. */
int lm_nn_precision_parse(const char *s, enum lm_nn_precision *p);
const char *lm_nn_precision_name(enum lm_nn_precision p);
/* Process-wide precision of lm_cnn_forward* (default fp32); set it before starting threads. */
void lm_nn_set_precision(enum lm_nn_precision p);
enum lm_nn_precision lm_nn_precision_requested(void);
/* What the forward pass runs: bf16 only when requested and the CPU has AVX512_BF16. */
enum lm_nn_precision lm_nn_precision_effective(void);
/* Nonzero when the build has the bf16 kernel and the CPU has AVX512_BF16 (and OS support). */
int lm_nn_bf16_supported(void);
/* Tests: nonzero makes lm_nn_bf16_supported() report no AVX512_BF16 (the fp32 fallback). */
void lm_nn_bf16_force_unsupported(int on);
/* Nonzero when bf16 layers whose reduction (kw * cin) is a multiple of 32, or even and below
 * 32, run on AMX tiles
 * (TDPBF16PS): the build has the kernel, the CPU has AMX-TILE and AMX-BF16 besides AVX512_BF16,
 * and Linux granted the tile state. The same products and float32 sums as the AVX512_BF16
 * kernel, in another order. */
int lm_nn_amx_supported(void);
/* Tests and benchmarks: nonzero makes lm_nn_amx_supported() report no AMX (the AVX512_BF16
 * kernel then runs every bf16 layer). */
void lm_nn_amx_force_unsupported(int on);
/* The kernel that a bf16 layer of reduction red runs: "amx", "avx512bf16" or "fp32". */
const char *lm_nn_bf16_kernel_name(int red);

/* Whether layer L runs in bf16 (a 'same' convolution with 32 or 64 output channels and an
 * even kw * cin: the reduction runs over pairs). */
int lm_conv_bf16_applies(const lm_conv_spec *L);
/* L's kernel in bf16, packed for lm_conv_bf16_forward ([i][pair of (j, c)][o][2]); free().
 * NULL with the error set when out of memory. */
uint16_t *lm_conv_bf16_pack(const lm_conv_spec *L);
/* lm_conv_forward_nb with L->kbf (from lm_conv_bf16_pack): inputs rounded to bf16, products
 * summed in float32. col: scratch of col_cap floats. 0, or -1 (nothing written) when it does
 * not apply here (no kbf, no AVX512_BF16, col too small). */
int lm_conv_bf16_forward(const lm_conv_spec *L, int nb, const float *in, size_t n_in, float *out, float *col,
                         size_t col_cap);
#endif
