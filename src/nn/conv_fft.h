/* The distribute layer (3 x 42 kernel, 32 -> 8 channels) through FFTs along the pitch axis
 * (conv_fft.c). Same arguments and results as lm_conv_forward / the gradient part of
 * lm_conv_backward; each returns -1 without touching its outputs when it does not apply
 * (another shape, col smaller than lm_convfft_min_scratch(), FFTW could not plan), and the
 * caller then runs the direct loops. */
#ifndef LM_NN_CONV_FFT_H
#define LM_NN_CONV_FFT_H
#include <stddef.h>

#include "nn/layers.h"

int lm_convfft_applies(const lm_conv_spec *L);
size_t lm_convfft_min_scratch(void);
int lm_convfft_forward(const lm_conv_spec *L, const float *in, size_t n_in, float *out, float *col, size_t col_cap);
/* dout: gradient w.r.t. the pre-activation (n_out frames). Accumulates dk; writes din
 * (n_out + 2 frames) unless it is NULL. */
int lm_convfft_backward(const lm_conv_spec *L, const float *in, const float *dout, size_t n_out, float *dk, float *din,
                        float *col, size_t col_cap);
#endif
