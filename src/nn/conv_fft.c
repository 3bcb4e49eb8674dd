#include "nn/conv_fft.h"

#include <fftw3.h>
#include <stdint.h>
#include <string.h>

#include "nn/vec16.h"

/* Run-time dispatch: without -march=native (CMakeLists.txt defines LM_DISPATCH), each hot
 * function below is compiled for x86-64-v4 (AVX-512), x86-64-v3 (AVX2 + FMA) and baseline
 * x86-64, and the dynamic loader picks the best one the CPU has (GCC target_clones). */
#ifdef LM_DISPATCH
#define LM_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LM_HOT
#endif

/* The distribute layer convolves 32 channels with a 3 x 42 kernel into 8 channels: 42 taps
 * along the 216 pitch bins. Done directly that is 7 million multiply-adds per frame, 45% of
 * the network's work. Along pitch it is a correlation, so it is done here with 256-point
 * FFTs: per frame 32 forward and 8 inverse transforms plus 3 x 32 x 8 products of 129-bin
 * spectra, about 12 times fewer operations. 256 points suffice: every output bin reads
 * input bins at most 20 below and 21 above it, and the 40 zero bins after the 216 real
 * ones absorb the circular wrap-around in both directions (216 + 21 + 20 <= 256 + 1); the
 * same holds for the input and kernel gradients.
 *
 * Spectra are kept as split planes: SPEC floats per transform, the real parts of bins
 * 0..128 at [0, KS) and the imaginary parts at [KS, 2 KS), so that the products run on
 * 16-bin vectors. With w~[m] = w[m + OFF] (m = -20 .. 21) placed at m mod 256:
 *   forward        Y_o   = sum_{i,c} X_{f+i,c} conj(W_{i,c,o})
 *   input grad     DX_c  = sum_{i,o} G_{f-i,o} W_{i,c,o}
 *   kernel grad    DW_{i,c,o} = sum_f X_{f+i,c} conj(G_{f,o})   (inverse FFT, taps at m mod 256) */
#define N 256
#define NK 129          /* bins of a real 256-point transform */
#define KS 144          /* NK padded to a multiple of 16 */
#define SPEC (2 * KS)   /* floats per spectrum */
#define NV (KS / 16)    /* 16-bin vectors per plane */
#define CIN 32
#define COUT 8
#define KH 3
#define KW 42
#define OFF 20          /* (KW - 1) / 2: the pitch offset of tap 0 */
#define NCO (CIN * COUT)
#define W_FLOATS ((size_t)KH * NCO * SPEC)
#define KBUF_FLOATS ((size_t)N * NCO)
#define FRAME_FLOATS ((size_t)CIN * SPEC + (size_t)COUT * SPEC) /* X and G spectra of one frame */
#define RBUF_FLOATS ((size_t)N * CIN)

/* Plans for batches of 8, 32 and 256 transforms: real data [256][H] (channels contiguous),
 * spectra [H][SPEC]. */
enum { B8, B32, B256, NB_PLANS };
static const int plan_h[NB_PLANS] = {COUT, CIN, NCO};
static fftwf_plan r2c[NB_PLANS], c2r[NB_PLANS];
static int plans_state; /* 0 not tried, 1 ready, -1 failed */

static int plans_ready(void) {
    int state;
#pragma omp critical(lm_fftw_planner)
    {
        if (plans_state == 0) {
            float *re = fftwf_malloc(sizeof(float) * KBUF_FLOATS), *sp = fftwf_malloc(sizeof(float) * NCO * SPEC);
            plans_state = re && sp ? 1 : -1;
            for (int b = 0; b < NB_PLANS && plans_state == 1; b++) {
                int h = plan_h[b];
                fftwf_iodim d_f = {N, h, 1}, m_f = {h, 1, SPEC};
                fftwf_iodim d_i = {N, 1, h}, m_i = {h, SPEC, 1};
                /* FFTW_ESTIMATE: a deterministic choice of algorithm, so that training runs
                 * (and their resumption) are reproducible */
                r2c[b] = fftwf_plan_guru_split_dft_r2c(1, &d_f, 1, &m_f, re, sp, sp + KS, FFTW_ESTIMATE);
                c2r[b] = fftwf_plan_guru_split_dft_c2r(1, &d_i, 1, &m_i, sp, sp + KS, re,
                                                       FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
                if (!r2c[b] || !c2r[b]) plans_state = -1;
            }
            fftwf_free(re);
            fftwf_free(sp);
        }
        state = plans_state;
    }
    return state == 1;
}

static void forward_fft(int b, float *re, float *spec) { fftwf_execute_split_dft_r2c(r2c[b], re, spec, spec + KS); }
/* Destroys spec. */
static void inverse_fft(int b, float *spec, float *re) { fftwf_execute_split_dft_c2r(c2r[b], spec, spec + KS, re); }

/* Scratch layout inside the caller's buffer (64-byte aligned offsets). */
typedef struct {
    float *w, *dw, *kbuf, *rbuf, *frames;
    size_t n_frames; /* frames of spectra that fit */
} scratch;

static size_t round64(size_t floats) { return (floats + 15) & ~(size_t)15; }

static int carve(float *col, size_t cap, int with_dw, scratch *s) {
    float *p = (float *)(((uintptr_t)col + 63) & ~(uintptr_t)63);
    size_t used = (size_t)(p - col);
    s->w = p + 0;
    used += round64(W_FLOATS);
    s->dw = with_dw ? col + used : NULL;
    if (with_dw) used += round64(W_FLOATS);
    s->kbuf = col + used;
    used += round64(KBUF_FLOATS);
    s->rbuf = col + used;
    used += round64(RBUF_FLOATS);
    s->frames = col + used;
    if (used > cap || (cap - used) / FRAME_FLOATS < KH + 1) return -1;
    s->n_frames = (cap - used) / FRAME_FLOATS;
    return 0;
}

size_t lm_convfft_min_scratch(void) {
    return 16 + 2 * round64(W_FLOATS) + round64(KBUF_FLOATS) + round64(RBUF_FLOATS) + (KH + 1) * FRAME_FLOATS;
}

int lm_convfft_applies(const lm_conv_spec *L) { return L->kh == KH && L->kw == KW && L->cin == CIN && L->cout == COUT; }

/* Kernel spectra, scaled by 1/N (FFTW's inverse is unnormalised): w_spec [i][c*8+o][SPEC]. */
static void kernel_spectra(const float *k, scratch *s) {
    for (int i = 0; i < KH; i++) {
        memset(s->kbuf, 0, KBUF_FLOATS * sizeof(float));
        for (int j = 0; j < KW; j++) {
            int m = (j - OFF + N) % N;
            const float *src = k + ((size_t)i * KW + (size_t)j) * NCO;
            for (int t = 0; t < NCO; t++) s->kbuf[(size_t)m * NCO + (size_t)t] = src[t] * (1.0f / N);
        }
        forward_fft(B256, s->kbuf, s->w + (size_t)i * NCO * SPEC);
    }
}

/* Spectra of nf frames of h channels (frames of LM_NB x h, frame 0 = first; frames outside
 * [0, n_valid) are zero) into spec [f][h][SPEC]. */
static void frame_spectra(const float *x, long first, size_t nf, size_t n_valid, int h, int plan, float *rbuf,
                          float *spec) {
    size_t row = (size_t)h;
    memset(rbuf + LM_NB * row, 0, (N - LM_NB) * row * sizeof(float));
    for (size_t f = 0; f < nf; f++) {
        long t = first + (long)f;
        float *dst = spec + f * row * SPEC;
        if (t < 0 || t >= (long)n_valid) {
            memset(dst, 0, row * SPEC * sizeof(float));
            continue;
        }
        memcpy(rbuf, x + (size_t)t * LM_NB * row, LM_NB * row * sizeof(float));
        forward_fft(plan, rbuf, dst);
        /* zero the padding bins so that the products over whole vectors stay finite */
        for (size_t c = 0; c < row; c++) {
            memset(dst + c * SPEC + NK, 0, (KS - NK) * sizeof(float));
            memset(dst + c * SPEC + KS + NK, 0, (KS - NK) * sizeof(float));
        }
    }
}

LM_HOT int lm_convfft_forward(const lm_conv_spec *L, const float *in, size_t n_in, float *out, float *col, size_t col_cap) {
    scratch s;
    if (!lm_convfft_applies(L) || !plans_ready() || carve(col, col_cap, 0, &s) != 0) return -1;
    kernel_spectra(L->k, &s);
    size_t n_out = n_in - KH + 1;
    /* frames of X spectra per block; each output frame of the block needs KH of them, and
     * one frame slot holds the output spectra */
    size_t per = s.n_frames * FRAME_FLOATS / ((size_t)CIN * SPEC);
    size_t sub = per - KH; /* sub + KH - 1 slots of X, one of Y */
    float *X = s.frames, *Y = s.frames + (sub + KH - 1) * CIN * SPEC;
    for (size_t f0 = 0; f0 < n_out; f0 += sub) {
        size_t S = n_out - f0 < sub ? n_out - f0 : sub;
        frame_spectra(in, (long)f0, S + KH - 1, n_in, CIN, B32, s.rbuf, X);
        for (size_t f = 0; f < S; f++) {
            for (int v = 0; v < NV; v++)
                for (int oh = 0; oh < COUT; oh += 4) {
                    v16 ar[4] = {0}, ai[4] = {0};
                    for (int i = 0; i < KH; i++) {
                        const float *xs = X + (f + (size_t)i) * CIN * SPEC + (size_t)v * 16;
                        const float *ws = s.w + (size_t)i * NCO * SPEC + (size_t)oh * SPEC + (size_t)v * 16;
#pragma GCC unroll 1
                        for (int c = 0; c < CIN; c++) {
                            v16 xr = vld(xs + (size_t)c * SPEC), xi = vld(xs + (size_t)c * SPEC + KS);
                            const float *wc = ws + (size_t)c * COUT * SPEC;
                            for (int o = 0; o < 4; o++) {
                                v16 wr = vld(wc + (size_t)o * SPEC), wi = vld(wc + (size_t)o * SPEC + KS);
                                ar[o] += xr * wr + xi * wi;
                                ai[o] += xi * wr - xr * wi;
                            }
                        }
                    }
                    for (int o = 0; o < 4; o++) {
                        vst(Y + (size_t)(oh + o) * SPEC + (size_t)v * 16, ar[o]);
                        vst(Y + (size_t)(oh + o) * SPEC + KS + (size_t)v * 16, ai[o]);
                    }
                }
            inverse_fft(B8, Y, s.rbuf);
            float *o8 = out + (f0 + f) * LM_NB * COUT;
            for (int p = 0; p < LM_NB; p++)
                for (int o = 0; o < COUT; o++) {
                    float y = s.rbuf[p * COUT + o] + L->b[o];
                    o8[p * COUT + o] = y < 0 ? y * LM_LEAKY_ALPHA : y;
                }
        }
    }
    return 0;
}

LM_HOT int lm_convfft_backward(const lm_conv_spec *L, const float *in, const float *dout, size_t n_out, float *dk, float *din,
                        float *col, size_t col_cap) {
    scratch s;
    if (!lm_convfft_applies(L) || !plans_ready() || carve(col, col_cap, 1, &s) != 0) return -1;
    size_t n_in = n_out + KH - 1;
    kernel_spectra(L->k, &s);
    memset(s.dw, 0, W_FLOATS * sizeof(float));
    /* Blocks of S output frames: X spectra of their S + 2 input frames, G spectra of their
     * S gradient frames. */
    size_t sub = s.n_frames - KH + 1;
    float *X = s.frames, *G = s.frames + (sub + KH - 1) * CIN * SPEC;
    for (size_t f0 = 0; f0 < n_out; f0 += sub) {
        size_t S = n_out - f0 < sub ? n_out - f0 : sub;
        frame_spectra(in, (long)f0, S + KH - 1, n_in, CIN, B32, s.rbuf, X);
        frame_spectra(dout, (long)f0, S, n_out, COUT, B8, s.rbuf, G);
        for (int i = 0; i < KH; i++)
            for (int c = 0; c < CIN; c++)
                for (int v = 0; v < NV; v++) {
                    float *d = s.dw + ((size_t)i * NCO + (size_t)c * COUT) * SPEC + (size_t)v * 16;
                    v16 ar[COUT], ai[COUT];
                    for (int o = 0; o < COUT; o++) {
                        ar[o] = vld(d + (size_t)o * SPEC);
                        ai[o] = vld(d + (size_t)o * SPEC + KS);
                    }
                    for (size_t f = 0; f < S; f++) {
                        const float *xs = X + ((f + (size_t)i) * CIN + (size_t)c) * SPEC + (size_t)v * 16;
                        v16 xr = vld(xs), xi = vld(xs + KS);
                        const float *gs = G + f * COUT * SPEC + (size_t)v * 16;
                        for (int o = 0; o < COUT; o++) {
                            v16 gr = vld(gs + (size_t)o * SPEC), gi = vld(gs + (size_t)o * SPEC + KS);
                            ar[o] += xr * gr + xi * gi;
                            ai[o] += xi * gr - xr * gi;
                        }
                    }
                    for (int o = 0; o < COUT; o++) {
                        vst(d + (size_t)o * SPEC, ar[o]);
                        vst(d + (size_t)o * SPEC + KS, ai[o]);
                    }
                }
    }
    /* Kernel gradient: the taps of the inverse transforms. */
    for (int i = 0; i < KH; i++) {
        inverse_fft(B256, s.dw + (size_t)i * NCO * SPEC, s.kbuf);
        for (int j = 0; j < KW; j++) {
            int m = (j - OFF + N) % N;
            float *dst = dk + ((size_t)i * KW + (size_t)j) * NCO;
            for (int t = 0; t < NCO; t++) dst[t] += s.kbuf[(size_t)m * NCO + (size_t)t] * (1.0f / N);
        }
    }
    if (!din) return 0;
    /* Input gradient, blocks of S input frames: G spectra of gradient frames f0 - 2 .. f0 + S - 1. */
    size_t per = s.n_frames * FRAME_FLOATS / ((size_t)COUT * SPEC);
    size_t subi = per - (KH - 1) - CIN / COUT; /* the last CIN/COUT slots hold one frame's DX */
    float *Gi = s.frames, *DX = s.frames + (subi + KH - 1) * COUT * SPEC;
    for (size_t f0 = 0; f0 < n_in; f0 += subi) {
        size_t S = n_in - f0 < subi ? n_in - f0 : subi;
        frame_spectra(dout, (long)f0 - (KH - 1), S + KH - 1, n_out, COUT, B8, s.rbuf, Gi);
        for (size_t f = 0; f < S; f++) {
            /* input frame f0 + f receives gradient frame f0 + f - i, at Gi slot f + KH - 1 - i */
            for (int v = 0; v < NV; v++)
                for (int c0 = 0; c0 < CIN; c0 += 8) {
                    v16 ar[8] = {0}, ai[8] = {0};
                    for (int i = 0; i < KH; i++) {
                        const float *gs = Gi + (f + (size_t)(KH - 1 - i)) * COUT * SPEC + (size_t)v * 16;
                        const float *ws = s.w + ((size_t)i * NCO + (size_t)c0 * COUT) * SPEC + (size_t)v * 16;
                        for (int o = 0; o < COUT; o++) {
                            v16 gr = vld(gs + (size_t)o * SPEC), gi = vld(gs + (size_t)o * SPEC + KS);
                            for (int c = 0; c < 8; c++) {
                                const float *wc = ws + ((size_t)c * COUT + (size_t)o) * SPEC;
                                v16 wr = vld(wc), wi = vld(wc + KS);
                                ar[c] += gr * wr - gi * wi;
                                ai[c] += gr * wi + gi * wr;
                            }
                        }
                    }
                    for (int c = 0; c < 8; c++) {
                        vst(DX + (size_t)(c0 + c) * SPEC + (size_t)v * 16, ar[c]);
                        vst(DX + (size_t)(c0 + c) * SPEC + KS + (size_t)v * 16, ai[c]);
                    }
                }
            inverse_fft(B32, DX, s.rbuf);
            memcpy(din + (f0 + f) * LM_NB * CIN, s.rbuf, LM_NB * CIN * sizeof(float));
        }
    }
    return 0;
}
