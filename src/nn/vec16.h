/* 16-float vectors for the convolution loops (GCC vector extensions: AVX-512 registers with
 * -march=native, pairs or quadruples of narrower ones elsewhere). Unaligned loads and stores;
 * may_alias, since they read and write float arrays. Only for files that keep these vectors
 * inside inline functions (see the -Wno-psabi note in CMakeLists.txt). */
#ifndef LM_NN_VEC16_H
#define LM_NN_VEC16_H
#include "nn/layers.h"

typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));
typedef int v16i __attribute__((vector_size(64), aligned(4), may_alias));
static inline v16 vld(const float *p) { return *(const v16 *)p; }
static inline void vst(float *p, v16 v) { *(v16 *)p = v; }
/* Leaky ReLU lane by lane, without leaving the vector registers. */
static inline v16 leaky(v16 y) {
    v16i neg = y < (v16){0};
    return (v16)(((v16i)(y * LM_LEAKY_ALPHA) & neg) | ((v16i)y & ~neg));
}
#endif
