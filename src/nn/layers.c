#include "nn/layers.h"

#include <math.h>
#include <string.h>

#include "nn/conv_bf16.h"
#include "nn/conv_fft.h"
#include "nn/vec16.h"

/* Run-time dispatch: without -march=native (CMakeLists.txt defines LM_DISPATCH), each hot
 * function below is compiled for x86-64-v4 (AVX-512), x86-64-v3 (AVX2 + FMA) and baseline
 * x86-64, and the dynamic loader picks the best one the CPU has (GCC target_clones). */
#ifdef LM_DISPATCH
#define LM_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LM_HOT
#endif

void lm_conv_specs(const lm_model *m, lm_conv_spec s[LM_NCONV]) {
    const lm_conv_spec specs[LM_NCONV] = {
        {3, 3, 6, 64, m->t[LM_T_BENDY1_K], m->t[LM_T_BENDY1_B], LM_LEAKY_ALPHA, NULL, NULL, NULL},
        {3, 3, 64, 32, m->t[LM_T_BENDY2_K], m->t[LM_T_BENDY2_B], LM_LEAKY_ALPHA, NULL, NULL, NULL},
        {3, 3, 32, 32, m->t[LM_T_SMOOTHY1_K], m->t[LM_T_SMOOTHY1_B], LM_LEAKY_ALPHA, NULL, NULL, NULL},
        {3, 3, 32, 32, m->t[LM_T_SMOOTHY2_K], m->t[LM_T_SMOOTHY2_B], LM_LEAKY_ALPHA, NULL, NULL, NULL},
        {3, 42, 32, 8, m->t[LM_T_DISTRIBUTE_K], m->t[LM_T_DISTRIBUTE_B], LM_LEAKY_ALPHA, NULL, NULL, NULL},
    };
    memcpy(s, specs, sizeof specs);
}

/* The convolutions run as direct loops over a copy of their input whose pitch axis has PAD
 * zero bins on either side, so that every (time, pitch) tap of a block of consecutive output
 * bins reads consecutive input rows: no im2col matrix and no GEMM packing, which took half
 * of the training time with OpenBLAS. The inner loops work on 16-float vectors (GCC vector
 * extensions: AVX-512 registers with -march=native, pairs or quadruples of narrower ones
 * elsewhere); this file is compiled with -ffp-contract=fast so that they become FMAs.
 * The number of pitch bins is a run-time geometry, so that the same loops also run Bittner's
 * deep salience network (360 bins, kernels up to 70 bins wide); training uses the chroma's. */
#define PAD 21                  /* >= pitch reach of every kernel and of its transpose (kw=42) */
#define PW (LM_NB + 2 * PAD)    /* padded rows per frame */
#define KT_MAX (3 * 42 * 32 * 8) /* largest kernel (distribute) */
/* Channel-major layout of the distribute layer's input (see conv_out8). */
#define PADT 21
#define NVP 14                          /* 16-bin vectors per frame: 224 >= LM_NB */
#define PWT (PADT + NVP * 16 + 42 - 14) /* 273 > the last row a tap reads, PADT + 223 + 41 - 20 */

/* Pitch geometry of a layer: nb bins, padded by pad on each side to pw rows (row-major
 * layout); pitch-lane layout: nvp 16-bin vectors (even), bin p at padt + p, pwt rows. */
typedef struct {
    int nb, pad, pw;
    int padt, nvp, pwt;
} geom;
static const geom CHROMA = {LM_NB, PAD, PW, PADT, NVP, PWT};

static geom make_geom(int nb, int kw) {
    if (nb == LM_NB && kw <= 42) return CHROMA;
    geom g;
    g.nb = nb;
    g.pad = kw > 2 * PAD ? kw : PAD;
    g.pw = nb + 2 * g.pad;
    g.padt = g.pad;
    g.nvp = (nb + 31) / 32 * 2;
    g.pwt = g.padt + g.nvp * 16 + kw;
    return g;
}

size_t lm_conv_min_col(void) {
    /* one batch of one output frame for every layer */
    size_t a = (size_t)3 * PW * 64, b = (size_t)3 * PWT * 32, c = lm_convfft_min_scratch();
    a = a > b ? a : b;
    return a > c ? a : c;
}

size_t lm_conv_col_need(const lm_conv_spec *L, int nb) {
    geom g = make_geom(nb, L->kw);
    size_t rows = L->cout == 8 ? (size_t)g.pwt : (size_t)g.pw;
    return (size_t)L->kh * rows * (size_t)L->cin;
}

size_t lm_conv_max_kernel(void) { return KT_MAX; }

/* Frames [f0, f0 + nf) of x (n_valid frames of nb x ch; frames outside are zero) into xp,
 * pw rows per frame with the nb bins at rows pad .. pad + nb - 1. */
static void pad_pitch(const geom *g, const float *x, long f0, size_t nf, size_t n_valid, size_t ch, float *xp) {
    const size_t nb = (size_t)g->nb, pad = (size_t)g->pad, pw = (size_t)g->pw;
    for (size_t f = 0; f < nf; f++) {
        long sf = f0 + (long)f;
        float *d = xp + f * pw * ch;
        memset(d, 0, pad * ch * sizeof *d);
        if (sf < 0 || sf >= (long)n_valid) memset(d + pad * ch, 0, nb * ch * sizeof *d);
        else memcpy(d + pad * ch, x + (size_t)sf * nb * ch, nb * ch * sizeof *d);
        memset(d + (pad + nb) * ch, 0, (pw - pad - nb) * ch * sizeof *d);
    }
}

/* What follows the convolution: bias, activation (slope alpha below zero: 0.3 leaky ReLU,
 * 0 ReLU, 1 none) and an optional per-channel affine map (a batch normalisation). */
typedef struct {
    const float *bias;
    float alpha;
    const float *scale, *shift;
} epilogue;

static inline v16 act16(v16 y, float alpha) {
    v16i neg = y < (v16){0};
    return (v16)(((v16i)(y * alpha) & neg) | ((v16i)y & ~neg));
}

/* Output channels in vectors: out[f][p][0 : co] = epilogue(sum_{i,j,c}
 * xp[f + i][pad + p + j - off][c] w[i][j][c][o]) for n_out frames, RB bins at a time.
 * co = 16*NV*n_groups output channels, done NV vectors (a group) at a time. */
#define DEFINE_CONV_OUTVEC(NV, RB)                                                                               \
    LM_HOT static void conv_outvec_##NV(const geom *g, const float *xp, size_t cin, size_t co, int kh, int kw, int off, \
                                 const float *w, const epilogue *ep, size_t n_out, float *out) {                  \
        const size_t pw = (size_t)g->pw, nb = (size_t)g->nb, pad = (size_t)g->pad;                                \
        for (size_t og = 0; og < co; og += 16 * NV)                                                               \
            for (size_t f = 0; f < n_out; f++)                                                                    \
                for (size_t p0 = 0; p0 < nb; p0 += RB) {                                                          \
                    size_t rb = nb - p0 < RB ? nb - p0 : RB;                                                      \
                    /* the bias is added at the end: kept in registers through the loop it made GCC  \
                     * spill a weight vector to the stack */                                          \
                    v16 acc[RB][NV];                                                                              \
                    for (int r = 0; r < RB; r++)                                                                  \
                        for (int v = 0; v < NV; v++) acc[r][v] = (v16){0};                                        \
                    /* the kw taps of a row are consecutive rows of xp and of w: one loop over kw * cin */  \
                    for (int i = 0; i < kh; i++) {                                                                \
                        const float *x = xp + ((f + (size_t)i) * pw + pad + p0 - (size_t)off) * cin;              \
                        const float *wt = w + (size_t)i * (size_t)kw * cin * co + og;                             \
                        /* not unrolled: with a known cin GCC would, and spill the accumulators */                \
                        _Pragma("GCC unroll 1") for (size_t c = 0; c < (size_t)kw * cin; c++) {                   \
                            v16 wv[NV];                                                                           \
                            for (int v = 0; v < NV; v++) wv[v] = vld(wt + c * co + 16 * (size_t)v);               \
                            for (int r = 0; r < RB; r++) {                                                        \
                                float a = x[(size_t)r * cin + c];                                                 \
                                for (int v = 0; v < NV; v++) acc[r][v] += a * wv[v];                              \
                            }                                                                                     \
                        }                                                                                         \
                    }                                                                                             \
                    float *o = out + (f * nb + p0) * co + og;                                                     \
                    for (size_t r = 0; r < rb; r++)                                                               \
                        for (int v = 0; v < NV; v++) {                                                            \
                            size_t ch = og + 16 * (size_t)v;                                                      \
                            v16 y = acc[r][v];                                                                    \
                            if (ep->bias) y += vld(ep->bias + ch);                                                \
                            if (ep->alpha != 1.0f) y = act16(y, ep->alpha);                                       \
                            if (ep->scale) y = y * vld(ep->scale + ch) + vld(ep->shift + ch);                     \
                            vst(o + r * co + 16 * (size_t)v, y);                                                  \
                        }                                                                                         \
                }                                                                                                 \
    }
DEFINE_CONV_OUTVEC(2, 12)
DEFINE_CONV_OUTVEC(4, 6)

/* Eight output channels (the distribute layer, 3x42 over 32 channels, 45% of the network's
 * work): pitch positions are the vector lanes, so that each weight is loaded once per 32
 * output bins instead of once per 2 (the kernel, 129 KB, does not fit in L1). xt holds the
 * input channel-major, [frame][c][pwt] with bin p at padt + p and zeros around it. */
LM_HOT static void pad_pitch_t(const geom *g, const float *x, long f0, size_t nf, size_t n_valid, size_t ch, float *xt) {
    const size_t pwt = (size_t)g->pwt, nb = (size_t)g->nb;
    for (size_t f = 0; f < nf; f++) {
        long sf = f0 + (long)f;
        float *d = xt + f * ch * pwt;
        memset(d, 0, ch * pwt * sizeof *d);
        if (sf < 0 || sf >= (long)n_valid) continue;
        const float *src = x + (size_t)sf * nb * ch;
        for (size_t p = 0; p < nb; p++)
            for (size_t c = 0; c < ch; c++) d[c * pwt + (size_t)g->padt + p] = src[p * ch + c];
    }
}

LM_HOT static void conv_out8(const geom *g, const float *xt, size_t cin, int kh, int kw, int off, const float *w,
                      const epilogue *ep, size_t n_out, float *out) {
    const size_t pwt = (size_t)g->pwt, nb = (size_t)g->nb;
    for (size_t f = 0; f < n_out; f++)
        for (int pb = 0; pb < g->nvp; pb += 2) {
            v16 acc[8][2];
            for (int o = 0; o < 8; o++) acc[o][0] = acc[o][1] = (v16){0};
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++) {
                    const float *x = xt + (f + (size_t)i) * cin * pwt + (size_t)(g->padt + pb * 16 + j - off);
                    const float *wk = w + ((size_t)i * (size_t)kw + (size_t)j) * cin * 8;
#pragma GCC unroll 1
                    for (size_t c = 0; c < cin; c++) {
                        v16 x0 = vld(x + c * pwt), x1 = vld(x + c * pwt + 16);
                        for (int o = 0; o < 8; o++) {
                            float k = wk[c * 8 + (size_t)o];
                            acc[o][0] += k * x0;
                            acc[o][1] += k * x1;
                        }
                    }
                }
            for (int v = 0; v < 2; v++)
                for (int e = 0; e < 16; e++) {
                    size_t p = (size_t)(pb + v) * 16 + (size_t)e;
                    if (p >= nb) break;
                    float *o8 = out + (f * nb + p) * 8;
                    for (int o = 0; o < 8; o++) {
                        float y = acc[o][v][e] + (ep->bias ? ep->bias[o] : 0.0f);
                        y = y < 0 ? y * ep->alpha : y;
                        if (ep->scale) y = y * ep->scale[o] + ep->shift[o];
                        o8[o] = y;
                    }
                }
        }
}

/* Any other shape (the input gradient of the first layer, which training never needs, and
 * the salience network's 128-channel layer's odd cases). */
LM_HOT static void conv_scalar(const geom *g, const float *xp, size_t cin, size_t cout, int kh, int kw, int off,
                        const float *w, const epilogue *ep, size_t n_out, float *out) {
    const size_t pw = (size_t)g->pw, nb = (size_t)g->nb, pad = (size_t)g->pad;
    for (size_t f = 0; f < n_out; f++)
        for (size_t p = 0; p < nb; p++)
            for (size_t o = 0; o < cout; o++) {
                float y = ep->bias ? ep->bias[o] : 0.0f;
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++) {
                        const float *x = xp + ((f + (size_t)i) * pw + pad + p + (size_t)j - (size_t)off) * cin;
                        const float *wt = w + ((size_t)i * (size_t)kw + (size_t)j) * cin * cout + o;
                        for (size_t c = 0; c < cin; c++) y += x[c] * wt[c * cout];
                    }
                y = y < 0 ? y * ep->alpha : y;
                if (ep->scale) y = y * ep->scale[o] + ep->shift[o];
                out[(f * nb + p) * cout + o] = y;
            }
}

/* out (n_out frames) = conv of xp (n_out + kh - 1 padded frames) with w [i][j][cin][cout]. */
static void conv_direct(const geom *g, const float *xp, size_t cin, size_t cout, int kh, int kw, int off,
                        const float *w, const epilogue *ep, size_t n_out, float *out) {
    if (cout == 32) conv_outvec_2(g, xp, cin, cout, kh, kw, off, w, ep, n_out, out);
    else if (cout % 64 == 0) conv_outvec_4(g, xp, cin, cout, kh, kw, off, w, ep, n_out, out);
    else conv_scalar(g, xp, cin, cout, kh, kw, off, w, ep, n_out, out);
}

/* Output frames per batch so that (sub + kh - 1) input frames of frame_floats each fit in cap. */
static size_t batch_frames(size_t frame_floats, int kh, size_t cap) {
    size_t sub = cap / frame_floats;
    return sub > (size_t)kh ? sub - (size_t)kh + 1 : 1;
}

void lm_conv_forward_nb(const lm_conv_spec *L, int nb, const float *in, size_t n_in, float *out, float *col,
                        size_t col_cap) {
    int chroma = nb == LM_NB && L->alpha == LM_LEAKY_ALPHA && !L->bn_scale;
    if (chroma && lm_convfft_forward(L, in, n_in, out, col, col_cap) == 0) return; /* the distribute layer */
    if (L->kbf && lm_conv_bf16_forward(L, nb, in, n_in, out, col, col_cap) == 0) return;
    geom g = make_geom(nb, L->kw);
    epilogue ep = {L->b, L->alpha, L->bn_scale, L->bn_shift};
    size_t n_out = n_in - (size_t)L->kh + 1, cin = (size_t)L->cin, cout = (size_t)L->cout;
    int pitch_lanes = cout == 8;
    size_t sub = batch_frames((size_t)(pitch_lanes ? g.pwt : g.pw) * cin, L->kh, col_cap);
    for (size_t s = 0; s < n_out; s += sub) {
        size_t S = n_out - s < sub ? n_out - s : sub, nf = S + (size_t)L->kh - 1;
        float *o = out + s * (size_t)nb * cout;
        if (pitch_lanes) {
            pad_pitch_t(&g, in, (long)s, nf, n_in, cin, col);
            conv_out8(&g, col, cin, L->kh, L->kw, (L->kw - 1) / 2, L->k, &ep, S, o);
        } else {
            pad_pitch(&g, in, (long)s, nf, n_in, cin, col);
            conv_direct(&g, col, cin, cout, L->kh, L->kw, (L->kw - 1) / 2, L->k, &ep, S, o);
        }
    }
}

void lm_conv_forward(const lm_conv_spec *L, const float *in, size_t n_in, float *out, float *col, size_t col_cap) {
    lm_conv_forward_nb(L, LM_NB, in, n_in, out, col, col_cap);
}

/* Kernel gradient, output channels in vectors: dk[i][j][c][o] += sum_{f,p} xp[f + i][PAD + p + j - pp][c]
 * g[f][p][o], CB input channels at a time, FB frames at a time (so that their rows stay in cache). */
#define DEFINE_KGRAD_OUTVEC(NV, CB)                                                                              \
    LM_HOT static void kgrad_outvec_##NV(const float *xp, size_t cin, int kh, int kw, int pp, const float *g,     \
                                  size_t n_out, float *dk) {                                                      \
        const size_t co = 16 * NV, FB = 4;                                                                        \
        for (size_t f0 = 0; f0 < n_out; f0 += FB) {                                                               \
            size_t f1 = n_out - f0 < FB ? n_out : f0 + FB;                                                        \
            for (int i = 0; i < kh; i++)                                                                          \
                for (int j = 0; j < kw; j++)                                                                      \
                    for (size_t c0 = 0; c0 < cin; c0 += CB) {                                                     \
                        float *d = dk + (((size_t)i * (size_t)kw + (size_t)j) * cin + c0) * co;                   \
                        v16 acc[CB][NV];                                                                          \
                        for (int c = 0; c < CB; c++)                                                              \
                            for (int v = 0; v < NV; v++) acc[c][v] = vld(d + (size_t)c * co + 16 * (size_t)v);    \
                        for (size_t f = f0; f < f1; f++) {                                                        \
                            const float *x = xp + ((f + (size_t)i) * PW + (size_t)(PAD + j - pp)) * cin + c0;     \
                            const float *gr = g + f * LM_NB * co;                                                 \
                            for (int p = 0; p < LM_NB; p++) {                                                     \
                                v16 gv[NV];                                                                       \
                                for (int v = 0; v < NV; v++) gv[v] = vld(gr + (size_t)p * co + 16 * (size_t)v);  \
                                for (int c = 0; c < CB; c++) {                                                    \
                                    float a = x[(size_t)p * cin + (size_t)c];                                     \
                                    for (int v = 0; v < NV; v++) acc[c][v] += a * gv[v];                          \
                                }                                                                                 \
                            }                                                                                     \
                        }                                                                                         \
                        for (int c = 0; c < CB; c++)                                                              \
                            for (int v = 0; v < NV; v++) vst(d + (size_t)c * co + 16 * (size_t)v, acc[c][v]);     \
                    }                                                                                             \
        }                                                                                                         \
    }
DEFINE_KGRAD_OUTVEC(2, 8)
DEFINE_KGRAD_OUTVEC(4, 6)

/* Kernel gradient for eight output channels, input channels in vectors; dkt [i][j][o][c]
 * (cin a multiple of 32) accumulates. */
LM_HOT static void kgrad_out8(const float *xp, size_t cin, int kh, int kw, int pp, const float *g, size_t n_out, float *dkt) {
    const size_t FB = 4;
    for (size_t f0 = 0; f0 < n_out; f0 += FB) {
        size_t f1 = n_out - f0 < FB ? n_out : f0 + FB;
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++)
                for (size_t c = 0; c < cin; c += 32) {
                    float *d = dkt + ((size_t)i * (size_t)kw + (size_t)j) * 8 * cin + c;
                    v16 acc0[8], acc1[8];
                    for (int o = 0; o < 8; o++) {
                        acc0[o] = vld(d + (size_t)o * cin);
                        acc1[o] = vld(d + (size_t)o * cin + 16);
                    }
                    for (size_t f = f0; f < f1; f++) {
                        const float *x = xp + ((f + (size_t)i) * PW + (size_t)(PAD + j - pp)) * cin + c;
                        const float *gr = g + f * LM_NB * 8;
                        for (int p = 0; p < LM_NB; p++) {
                            v16 a0 = vld(x + (size_t)p * cin), a1 = vld(x + (size_t)p * cin + 16);
                            for (int o = 0; o < 8; o++) {
                                float gg = gr[p * 8 + o];
                                acc0[o] += gg * a0;
                                acc1[o] += gg * a1;
                            }
                        }
                    }
                    for (int o = 0; o < 8; o++) {
                        vst(d + (size_t)o * cin, acc0[o]);
                        vst(d + (size_t)o * cin + 16, acc1[o]);
                    }
                }
    }
}

LM_HOT void lm_conv_backward(const lm_conv_spec *L, const float *in, const float *out, float *dout, size_t n_out, float *dk,
                      float *db, float *din, float *col, float *dcol, size_t col_cap) {
    size_t cout = (size_t)L->cout, cin = (size_t)L->cin;
    size_t kh = (size_t)L->kh, kw = (size_t)L->kw, n_in = n_out + kh - 1, nk = kh * kw * cin * cout;
    int pp = (L->kw - 1) / 2;
    /* Through the leaky ReLU (the output's sign equals the pre-activation's sign), and the
     * bias gradient, in one pass; per channel the sum runs in the same order either way. */
    if (cout % 16 == 0 && cout <= 64) {
        size_t nv = cout / 16;
        v16 acc[4];
        for (size_t v = 0; v < nv; v++) acc[v] = vld(db + 16 * v);
        for (size_t r = 0; r < n_out * LM_NB; r++)
            for (size_t v = 0; v < nv; v++) {
                float *d = dout + r * cout + 16 * v;
                v16i neg = vld(out + r * cout + 16 * v) <= (v16){0};
                v16 g = vld(d);
                g = (v16)(((v16i)(g * LM_LEAKY_ALPHA) & neg) | ((v16i)g & ~neg));
                vst(d, g);
                acc[v] += g;
            }
        for (size_t v = 0; v < nv; v++) vst(db + 16 * v, acc[v]);
    } else {
        for (size_t r = 0; r < n_out * LM_NB * cout; r++)
            if (out[r] <= 0) dout[r] *= LM_LEAKY_ALPHA;
        for (size_t r = 0; r < n_out * LM_NB; r++)
            for (size_t o = 0; o < cout; o++) db[o] += dout[r * cout + o];
    }
    if (lm_convfft_backward(L, in, dout, n_out, dk, din, col, col_cap) == 0) return; /* the distribute layer */
    float *dkt = dcol; /* distribute: kernel gradient as [i][j][o][c] */
    if (cout == 8) memset(dkt, 0, nk * sizeof *dkt);
    size_t sub = batch_frames(PW * cin, L->kh, col_cap);
    for (size_t s = 0; s < n_out; s += sub) {
        size_t S = n_out - s < sub ? n_out - s : sub;
        pad_pitch(&CHROMA, in, (long)s, S + kh - 1, n_in, cin, col);
        const float *g = dout + s * LM_NB * cout;
        if (cout == 32) kgrad_outvec_2(col, cin, L->kh, L->kw, pp, g, S, dk);
        else if (cout == 64) kgrad_outvec_4(col, cin, L->kh, L->kw, pp, g, S, dk);
        else kgrad_out8(col, cin, L->kh, L->kw, pp, g, S, dkt);
    }
    if (cout == 8)
        for (size_t t = 0; t < kh * kw; t++)
            for (size_t c = 0; c < cin; c++)
                for (size_t o = 0; o < 8; o++) dk[(t * cin + c) * 8 + o] += dkt[(t * 8 + o) * cin + c];
    if (!din) return;
    /* The input gradient is itself a convolution: of dout (zero beyond its n_out frames) with
     * the kernel flipped in time and pitch and its channels swapped,
     * kt[i][j][o][c] = k[kh-1-i][kw-1-j][c][o], whose pitch offset is kw-1-pp. */
    float *kt = dcol;
    for (size_t i = 0; i < kh; i++)
        for (size_t j = 0; j < kw; j++)
            for (size_t c = 0; c < cin; c++)
                for (size_t o = 0; o < cout; o++)
                    kt[((i * kw + j) * cout + o) * cin + c] = L->k[(((kh - 1 - i) * kw + (kw - 1 - j)) * cin + c) * cout + o];
    size_t subt = batch_frames(PW * cout, L->kh, col_cap);
    for (size_t s = 0; s < n_in; s += subt) {
        size_t S = n_in - s < subt ? n_in - s : subt;
        pad_pitch(&CHROMA, dout, (long)s - (long)(kh - 1), S + kh - 1, n_out, cout, col);
        const epilogue none = {NULL, 1.0f, NULL, NULL};
        conv_direct(&CHROMA, col, cout, cin, L->kh, L->kw, L->kw - 1 - pp, kt, &none, S, din + s * LM_NB * cin);
    }
}

LM_HOT void lm_head_forward(const lm_model *m, const float *a5, float *sal, double *z) {
    const float *wsq = m->t[LM_T_SQUISHY_K], bsq = m->t[LM_T_SQUISHY_B][0];
    const float *pool = m->t[LM_T_CHROMA_POOL], *we = m->t[LM_T_EPS_POOL_K];
    for (int k = 0; k < LM_NCLASSES; k++) z[k] = 0;
    for (int p = 0; p < LM_NB; p++) {
        const float *v = a5 + (size_t)p * 8;
        float s = bsq;
        for (int o = 0; o < 8; o++) s += v[o] * wsq[o];
        sal[p] = 1.0f / (1.0f + expf(-s));
        for (int k = 0; k < 12; k++) z[k] += (double)sal[p] * pool[p * 12 + k];
        z[12] += (double)sal[p] * we[p];
    }
    z[12] += m->t[LM_T_EPS_POOL_B][0];
}

LM_HOT void lm_head_backward(const lm_model *m, const float *a5, const float *sal, const double *dz, lm_model *g, float *da5) {
    const float *wsq = m->t[LM_T_SQUISHY_K], *pool = m->t[LM_T_CHROMA_POOL], *we = m->t[LM_T_EPS_POOL_K];
    float *gw = g->t[LM_T_SQUISHY_K], *ge = g->t[LM_T_EPS_POOL_K];
    double gb = 0;
    for (int p = 0; p < LM_NB; p++) {
        double ds = dz[12] * we[p];
        for (int k = 0; k < 12; k++) ds += dz[k] * pool[p * 12 + k];
        ge[p] += (float)(dz[12] * sal[p]);
        double du = ds * sal[p] * (1.0 - sal[p]);
        gb += du;
        const float *v = a5 + (size_t)p * 8;
        for (int o = 0; o < 8; o++) {
            gw[o] += (float)(du * v[o]);
            da5[(size_t)p * 8 + (size_t)o] = (float)(du * wsq[o]);
        }
    }
    g->t[LM_T_SQUISHY_B][0] += (float)gb;
    g->t[LM_T_EPS_POOL_B][0] += (float)dz[12];
}
