#include "nn/conv_stack.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/threads.h"

/* Zeroes buffer frames that lie outside the sequence: the next layer's 'same' padding
 * must see zeros there, exactly as in whole-sequence processing. */
static void zero_outside(float *buf, long first_frame, size_t n, size_t T, size_t frame_floats) {
    for (size_t f = 0; f < n; f++) {
        long t = first_frame + (long)f;
        if (t < 0 || t >= (long)T) memset(buf + f * frame_floats, 0, frame_floats * sizeof *buf);
    }
}

int lm_conv_stack_forward(const lm_conv_spec *L, int n_layers, int nb, size_t T, size_t chunk, int max_ch,
                          size_t col_cap, lm_stack_fill_fn fill, lm_stack_emit_fn emit, const void *ctx) {
    return lm_conv_stack_forward_range(L, n_layers, nb, T, chunk, 0, (T + chunk - 1) / chunk, max_ch, col_cap, fill,
                                       emit, ctx);
}

size_t lm_conv_stack_halo(const lm_conv_spec *L, int n_layers) {
    size_t halo = 0;
    for (int l = 0; l < n_layers; l++) halo += (size_t)(L[l].kh - 1) / 2;
    return halo;
}

int lm_conv_stack_forward_range(const lm_conv_spec *L, int n_layers, int nb, size_t T, size_t chunk, size_t c_begin,
                                size_t c_end, int max_ch, size_t col_cap, lm_stack_fill_fn fill, lm_stack_emit_fn emit,
                                const void *ctx) {
    if (T == 0) {
        lm_set_error("no frames to process");
        return -1;
    }
    const size_t halo = lm_conv_stack_halo(L, n_layers);
    const size_t buf_floats = (chunk + 2 * halo) * (size_t)nb * (size_t)max_ch;
    const size_t in_floats = (size_t)nb * (size_t)L[0].cin;
    int failed = 0;
#pragma omp parallel num_threads(lm_threads())
    {
        float *a = malloc(buf_floats * sizeof(float));
        float *b = malloc(buf_floats * sizeof(float));
        float *col = malloc(col_cap * sizeof(float));
        if (!a || !b || !col) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t c = c_begin; c < c_end; c++) {
            if (failed) continue;
            const size_t t0 = c * chunk;
            const size_t n_out = T - t0 < chunk ? T - t0 : chunk;
            long first = (long)t0 - (long)halo;
            size_t n = n_out + 2 * halo;
            for (size_t f = 0; f < n; f++) {
                long t = first + (long)f;
                float *d = a + f * in_floats;
                if (t < 0 || t >= (long)T) memset(d, 0, in_floats * sizeof *d);
                else fill(ctx, (size_t)t, d);
            }
            float *in = a, *out = b;
            for (int l = 0; l < n_layers; l++) {
                lm_conv_forward_nb(&L[l], nb, in, n, out, col, col_cap);
                const int r = (L[l].kh - 1) / 2;
                n -= 2 * (size_t)r;
                first += r;
                zero_outside(out, first, n, T, (size_t)nb * (size_t)L[l].cout);
                float *tmp = in;
                in = out;
                out = tmp;
            }
            const size_t out_floats = (size_t)nb * (size_t)L[n_layers - 1].cout;
            for (size_t f = 0; f < n_out; f++) emit(ctx, t0 + f, in + f * out_floats);
        }
        free(a);
        free(b);
        free(col);
    }
    if (failed) {
        lm_set_error("out of memory in the network forward pass");
        return -1;
    }
    return 0;
}
