#include "nn/layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void lm_conv_specs(const lm_model *m, lm_conv_spec s[LM_NCONV]) {
    const lm_conv_spec specs[LM_NCONV] = {
        {3, 3, 6, 64, m->t[LM_T_BENDY1_K], m->t[LM_T_BENDY1_B]},
        {3, 3, 64, 32, m->t[LM_T_BENDY2_K], m->t[LM_T_BENDY2_B]},
        {3, 3, 32, 32, m->t[LM_T_SMOOTHY1_K], m->t[LM_T_SMOOTHY1_B]},
        {3, 3, 32, 32, m->t[LM_T_SMOOTHY2_K], m->t[LM_T_SMOOTHY2_B]},
        {3, 42, 32, 8, m->t[LM_T_DISTRIBUTE_K], m->t[LM_T_DISTRIBUTE_B]},
    };
    memcpy(s, specs, sizeof specs);
}

size_t lm_conv_min_col(void) { return (size_t)3 * LM_NB * 42 * 32; }

/* Frames per GEMM batch so that (sub + kh - 1) frames of columns with rows of row floats fit
 * in col_cap. */
static size_t sub_frames(size_t row, int kh, size_t col_cap) {
    size_t sub = col_cap / ((size_t)LM_NB * row);
    return sub > (size_t)kh ? sub - (size_t)kh + 1 : 1;
}

/* Unrolls the pitch axis of frames f0 .. f0+nf-1 of in (n_valid frames; frames outside are
 * zero): col[f][p][j][c] = in[f0 + f][p + j - pp][c] (zero outside the bins). */
static void im2col_pitch(int kw, size_t cin, int pp, const float *in, long f0, size_t nf, size_t n_valid, float *col) {
    size_t row = (size_t)kw * cin;
    for (size_t f = 0; f < nf; f++) {
        long sf = f0 + (long)f;
        float *dst = col + f * LM_NB * row;
        if (sf < 0 || sf >= (long)n_valid) {
            memset(dst, 0, LM_NB * row * sizeof *dst);
            continue;
        }
        const float *src = in + (size_t)sf * LM_NB * cin;
        for (int p = 0; p < LM_NB; p++) {
            int lo = p - pp, hi = p - pp + kw; /* source bins [lo, hi) */
            float *d = dst + (size_t)p * row;
            int a = lo < 0 ? 0 : lo, b = hi > LM_NB ? LM_NB : hi;
            if (a > lo) memset(d, 0, (size_t)(a - lo) * cin * sizeof *d);
            memcpy(d + (size_t)(a - lo) * cin, src + (size_t)a * cin, (size_t)(b - a) * cin * sizeof *d);
            if (hi > b) memset(d + (size_t)(b - lo) * cin, 0, (size_t)(hi - b) * cin * sizeof *d);
        }
    }
}

void lm_conv_forward(const lm_conv_spec *L, const float *in, size_t n_in, float *out, float *col, size_t col_cap) {
    size_t n_out = n_in - (size_t)L->kh + 1;
    size_t row = (size_t)L->kw * (size_t)L->cin, cout = (size_t)L->cout;
    size_t sub = sub_frames(row, L->kh, col_cap);
    for (size_t s = 0; s < n_out; s += sub) {
        size_t S = n_out - s < sub ? n_out - s : sub;
        im2col_pitch(L->kw, (size_t)L->cin, (L->kw - 1) / 2, in, (long)s, S + (size_t)L->kh - 1, n_in, col);
        float *o = out + s * LM_NB * cout;
        size_t M = S * LM_NB;
        for (size_t r = 0; r < M; r++) memcpy(o + r * cout, L->b, cout * sizeof *o);
        /* The time taps are row-shifted views of the same column buffer. */
        for (int i = 0; i < L->kh; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)cout, (int)row, 1.0f,
                        col + (size_t)i * LM_NB * row, (int)row, L->k + (size_t)i * row * cout, (int)cout, 1.0f, o,
                        (int)cout);
        for (size_t r = 0; r < M * cout; r++)
            if (o[r] < 0) o[r] *= LM_LEAKY_ALPHA;
    }
}

void lm_conv_backward(const lm_conv_spec *L, const float *in, const float *out, float *dout, size_t n_out, float *dk,
                      float *db, float *din, float *col, float *dcol, size_t col_cap) {
    size_t row = (size_t)L->kw * (size_t)L->cin, cout = (size_t)L->cout, cin = (size_t)L->cin;
    size_t kh = (size_t)L->kh, kw = (size_t)L->kw, n_in = n_out + kh - 1;
    int pp = (L->kw - 1) / 2;
    /* Through the leaky ReLU: the output's sign equals the pre-activation's sign. */
    for (size_t r = 0; r < n_out * LM_NB * cout; r++)
        if (out[r] <= 0) dout[r] *= LM_LEAKY_ALPHA;
    for (size_t r = 0; r < n_out * LM_NB; r++)
        for (size_t o = 0; o < cout; o++) db[o] += dout[r * cout + o];
    size_t sub = sub_frames(row, L->kh, col_cap);
    for (size_t s = 0; s < n_out; s += sub) {
        size_t S = n_out - s < sub ? n_out - s : sub;
        size_t M = S * LM_NB;
        const float *g = dout + s * LM_NB * cout;
        im2col_pitch(L->kw, cin, pp, in, (long)s, S + kh - 1, n_in, col);
        for (size_t i = 0; i < kh; i++)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)row, (int)cout, (int)M, 1.0f,
                        col + i * LM_NB * row, (int)row, g, (int)cout, 1.0f, dk + i * row * cout, (int)cout);
    }
    if (!din) return;
    /* The input gradient is itself a 'same' convolution: of dout (zero beyond its n_out frames)
     * with the kernel flipped in time and pitch and its channels swapped,
     * kt[i][j][o][c] = k[kh-1-i][kw-1-j][c][o], whose pitch offset is kw-1-pp. This keeps every
     * GEMM's inner dimension at kw*cout instead of cout (8 for the last layer). */
    float *kt = dcol;
    for (size_t i = 0; i < kh; i++)
        for (size_t j = 0; j < kw; j++)
            for (size_t c = 0; c < cin; c++)
                for (size_t o = 0; o < cout; o++)
                    kt[((i * kw + j) * cout + o) * cin + c] = L->k[(((kh - 1 - i) * kw + (kw - 1 - j)) * cin + c) * cout + o];
    size_t rowt = kw * cout;
    size_t subt = sub_frames(rowt, L->kh, col_cap);
    for (size_t s = 0; s < n_in; s += subt) {
        size_t S = n_in - s < subt ? n_in - s : subt;
        size_t M = S * LM_NB;
        im2col_pitch(L->kw, cout, L->kw - 1 - pp, dout, (long)s - (long)(kh - 1), S + kh - 1, n_out, col);
        for (size_t i = 0; i < kh; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)cin, (int)rowt, 1.0f,
                        col + i * LM_NB * rowt, (int)rowt, kt + i * rowt * cin, (int)cin, i ? 1.0f : 0.0f, din + s * LM_NB * cin,
                        (int)cin);
    }
}

void lm_head_forward(const lm_model *m, const float *a5, float *sal, double *z) {
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

void lm_head_backward(const lm_model *m, const float *a5, const float *sal, const double *dz, lm_model *g, float *da5) {
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
