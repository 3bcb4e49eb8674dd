/* The chunked forward pass over a sequence that both networks (deep chroma, cnn.c; deep
 * salience, salience.c) use: a stack of 'same'-padded convolutions along time, run in chunks
 * of output frames with the context each chunk needs, in parallel, so a long recording never
 * needs the activations of the whole sequence at once. */
#ifndef LM_NN_CONV_STACK_H
#define LM_NN_CONV_STACK_H
#include <stddef.h>

#include "nn/layers.h"

/* Writes input frame t (nb x L[0].cin floats, [bin][channel]) into dst. */
typedef void (*lm_stack_fill_fn)(const void *ctx, size_t t, float *dst);
/* Receives output frame t of the last layer (nb x L[n_layers-1].cout floats). */
typedef void (*lm_stack_emit_fn)(const void *ctx, size_t t, const float *frame);

/* Runs the n_layers convolutions L over T frames of nb pitch bins, chunk output frames at a
 * time, on lm_threads() threads. max_ch: the widest frame in channels (input included);
 * col_cap: scratch floats per thread for lm_conv_forward_nb (at least lm_conv_col_need of
 * every layer). Frames outside the sequence are zeros, exactly as whole-sequence processing
 * with zero padding sees them, so the result does not depend on chunk or thread count.
 * Returns 0, or -1 with the error set (out of memory, T == 0). */
int lm_conv_stack_forward(const lm_conv_spec *L, int n_layers, int nb, size_t T, size_t chunk, int max_ch,
                          size_t col_cap, lm_stack_fill_fn fill, lm_stack_emit_fn emit, const void *ctx);
/* The same for the chunks [c_begin, c_end) only (output frames c_begin * chunk ...): each
 * output frame equals that of the whole pass; fill is asked for frames up to
 * lm_conv_stack_halo() beyond the range's ends (within [0, T)). */
int lm_conv_stack_forward_range(const lm_conv_spec *L, int n_layers, int nb, size_t T, size_t chunk, size_t c_begin,
                                size_t c_end, int max_ch, size_t col_cap, lm_stack_fill_fn fill, lm_stack_emit_fn emit,
                                const void *ctx);
size_t lm_conv_stack_halo(const lm_conv_spec *L, int n_layers);
#endif
