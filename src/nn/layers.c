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

/* Frames per GEMM batch so that (sub + kh - 1) frames of columns fit in col_cap. */
static size_t sub_frames(const lm_conv_spec *L, size_t col_cap) {
    size_t row = (size_t)L->kw * (size_t)L->cin;
    size_t sub = col_cap / ((size_t)LM_NB * row);
    return sub > (size_t)L->kh ? sub - (size_t)L->kh + 1 : 1;
}

/* Unrolls the pitch axis: col[f][p][j][c] = in[f][p + j - pp][c] (zero outside the bins). */
static void im2col_pitch(const lm_conv_spec *L, const float *in, size_t nf, float *col) {
    size_t row = (size_t)L->kw * (size_t)L->cin, cin = (size_t)L->cin;
    int pp = (L->kw - 1) / 2;
    for (size_t f = 0; f < nf; f++) {
        const float *src = in + f * LM_NB * cin;
        float *dst = col + f * LM_NB * row;
        for (int p = 0; p < LM_NB; p++) {
            int lo = p - pp, hi = p - pp + L->kw; /* source bins [lo, hi) */
            float *d = dst + (size_t)p * row;
            int a = lo < 0 ? 0 : lo, b = hi > LM_NB ? LM_NB : hi;
            if (a > lo) memset(d, 0, (size_t)(a - lo) * cin * sizeof *d);
            memcpy(d + (size_t)(a - lo) * cin, src + (size_t)a * cin, (size_t)(b - a) * cin * sizeof *d);
            if (hi > b) memset(d + (size_t)(b - lo) * cin, 0, (size_t)(hi - b) * cin * sizeof *d);
        }
    }
}

/* Adjoint of im2col_pitch: din[f][q][c] += sum_j dcol[f][q - j + pp][j][c]. */
static void col2im_pitch_add(const lm_conv_spec *L, const float *dcol, size_t nf, float *din) {
    size_t row = (size_t)L->kw * (size_t)L->cin, cin = (size_t)L->cin;
    int pp = (L->kw - 1) / 2;
    for (size_t f = 0; f < nf; f++) {
        const float *src = dcol + f * LM_NB * row;
        float *dst = din + f * LM_NB * cin;
        for (int p = 0; p < LM_NB; p++) {
            int lo = p - pp;
            int j0 = lo < 0 ? -lo : 0, j1 = lo + L->kw > LM_NB ? LM_NB - lo : L->kw;
            const float *s = src + (size_t)p * row;
            for (int j = j0; j < j1; j++) {
                float *d = dst + (size_t)(lo + j) * cin;
                const float *sj = s + (size_t)j * cin;
                for (size_t c = 0; c < cin; c++) d[c] += sj[c];
            }
        }
    }
}

void lm_conv_forward(const lm_conv_spec *L, const float *in, size_t n_in, float *out, float *col, size_t col_cap) {
    size_t n_out = n_in - (size_t)L->kh + 1;
    size_t row = (size_t)L->kw * (size_t)L->cin, cout = (size_t)L->cout;
    size_t sub = sub_frames(L, col_cap);
    for (size_t s = 0; s < n_out; s += sub) {
        size_t S = n_out - s < sub ? n_out - s : sub;
        im2col_pitch(L, in + s * LM_NB * (size_t)L->cin, S + (size_t)L->kh - 1, col);
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
    /* Through the leaky ReLU: the output's sign equals the pre-activation's sign. */
    for (size_t r = 0; r < n_out * LM_NB * cout; r++)
        if (out[r] <= 0) dout[r] *= LM_LEAKY_ALPHA;
    for (size_t r = 0; r < n_out * LM_NB; r++)
        for (size_t o = 0; o < cout; o++) db[o] += dout[r * cout + o];
    size_t sub = sub_frames(L, col_cap);
    for (size_t s = 0; s < n_out; s += sub) {
        size_t S = n_out - s < sub ? n_out - s : sub;
        size_t nf = S + (size_t)L->kh - 1;
        size_t M = S * LM_NB;
        const float *g = dout + s * LM_NB * cout;
        im2col_pitch(L, in + s * LM_NB * cin, nf, col);
        for (int i = 0; i < L->kh; i++)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)row, (int)cout, (int)M, 1.0f,
                        col + (size_t)i * LM_NB * row, (int)row, g, (int)cout, 1.0f, dk + (size_t)i * row * cout,
                        (int)cout);
        if (!din) continue;
        memset(dcol, 0, nf * LM_NB * row * sizeof *dcol);
        for (int i = 0; i < L->kh; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)row, (int)cout, 1.0f, g, (int)cout,
                        L->k + (size_t)i * row * cout, (int)cout, 1.0f, dcol + (size_t)i * LM_NB * row, (int)row);
        col2im_pitch_add(L, dcol, nf, din + s * LM_NB * cin);
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
