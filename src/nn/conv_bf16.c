#include "nn/conv_bf16.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* The four 3x3 layers (bendy1/2, smoothy1/2: 55% of the network's multiply-adds; the
 * distribute layer runs through FFTs, conv_fft.c, and stays float32) as the float32 loops of
 * layers.c's conv_outvec, but with one VDPBF16PS per 16 output channels and *two* reduction
 * steps: each 32-bit lane of the kernel vector holds the bf16 pair (w[c][o], w[c+1][o]), and
 * the input pair (x[c], x[c+1]) is broadcast to all lanes. Inputs and weights are rounded to
 * bf16 (8-bit mantissa, round to nearest even); the sums stay float32. Compiled with a target
 * attribute, so the portable build has it too, and run only where the CPU has AVX512_BF16. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 10
#define LM_BF16_KERNEL 1
#include <immintrin.h>
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#else
#define LM_BF16_KERNEL 0
#endif

/* AMX (TDPBF16PS on 16x32 bf16 tiles) for the layers whose reduction fills whole tiles;
 * Linux only, where a process must ask for the tile state (arch_prctl). */
#if LM_BF16_KERNEL && defined(__linux__)
#define LM_AMX_KERNEL 1
#include <cpuid.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#define AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512bf16")))
#else
#define LM_AMX_KERNEL 0
#endif

#define RB_MAX 12 /* output bins per block (conv_outvec_2's) */
#define AMX_ROWS 32 /* output bins per AMX block: two tiles of 16 rows */
#define PAD_ROWS (RB_MAX > AMX_ROWS ? RB_MAX : AMX_ROWS) /* zero rows past the last bin's taps */

static enum lm_nn_precision requested = LM_NN_FP32;
static int forced_unsupported, amx_forced_off;

int lm_nn_precision_parse(const char *s, enum lm_nn_precision *p) {
    if (!strcmp(s, "fp32")) *p = LM_NN_FP32;
    else if (!strcmp(s, "bf16")) *p = LM_NN_BF16;
    else {
        lm_set_error("unknown network precision '%s' (expected fp32 or bf16)", s);
        return -1;
    }
    return 0;
}

const char *lm_nn_precision_name(enum lm_nn_precision p) { return p == LM_NN_BF16 ? "bf16" : "fp32"; }

void lm_nn_set_precision(enum lm_nn_precision p) { requested = p; }

enum lm_nn_precision lm_nn_precision_requested(void) { return requested; }

void lm_nn_bf16_force_unsupported(int on) { forced_unsupported = on; }

int lm_nn_bf16_supported(void) {
#if LM_BF16_KERNEL
    if (forced_unsupported) return 0;
    __builtin_cpu_init();
    /* libgcc's test includes the OS's saving of the AVX-512 state */
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

void lm_nn_amx_force_unsupported(int on) { amx_forced_off = on; }

/* Reduction values per AMX tile product for a layer of reduction red (kw * cin): 32 (a full
 * tile row), or red itself when it is shorter and even (bendy1: 3 x 6); 0: not on tiles. */
static size_t amx_kstep(size_t red) { return red % 32 == 0 ? 32 : red < 32 && red % 2 == 0 ? red : 0; }

#if LM_AMX_KERNEL
static int amx_usable;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

/* CPUID says AMX-TILE and AMX-BF16, the OS enables the tile state in XCR0 (bits 17, 18), and
 * Linux grants this process the tile data (ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA). */
static void amx_probe(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return; /* OSXSAVE */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 22))) return;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17)) return;
    amx_usable = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
}
#endif

int lm_nn_amx_supported(void) {
#if LM_AMX_KERNEL
    if (amx_forced_off || !lm_nn_bf16_supported()) return 0;
    pthread_once(&amx_once, amx_probe);
    return amx_usable;
#else
    return 0;
#endif
}

const char *lm_nn_bf16_kernel_name(int red) {
    if (!lm_nn_bf16_supported()) return "fp32";
    return red > 0 && amx_kstep((size_t)red) && lm_nn_amx_supported() ? "amx" : "avx512bf16";
}

enum lm_nn_precision lm_nn_precision_effective(void) {
    return requested == LM_NN_BF16 && lm_nn_bf16_supported() ? LM_NN_BF16 : LM_NN_FP32;
}

int lm_conv_bf16_applies(const lm_conv_spec *L) {
    return (L->cout == 32 || L->cout == 64) && L->kw % 2 == 1 && (L->kw * L->cin) % 2 == 0;
}

/* float -> bf16, round to nearest even (the weights are finite). */
static uint16_t to_bf16_scalar(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

uint16_t *lm_conv_bf16_pack(const lm_conv_spec *L) {
    const size_t co = (size_t)L->cout, red = (size_t)L->kw * (size_t)L->cin, kh = (size_t)L->kh;
    uint16_t *w = lm_malloc(kh * red * co, sizeof *w);
    if (!w) return NULL;
    for (size_t i = 0; i < kh; i++)
        for (size_t c = 0; c < red; c++)
            for (size_t o = 0; o < co; o++)
                w[((i * red + (c & ~(size_t)1)) * co + 2 * o) + (c & 1)] = to_bf16_scalar(L->k[(i * red + c) * co + o]);
    return w;
}

#if LM_BF16_KERNEL
/* n floats to bf16 (round to nearest even), 32 at a time, the tail masked. */
BF16_TARGET static void to_bf16(const float *x, uint16_t *y, size_t n) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
        _mm512_storeu_si512(y + i, (__m512i)v);
    }
    if (i < n) {
        size_t r = n - i;
        __mmask16 lo = (__mmask16)(r >= 16 ? 0xffffu : (1u << r) - 1), hi = (__mmask16)(r > 16 ? (1u << (r - 16)) - 1 : 0);
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + i + 16), _mm512_maskz_loadu_ps(lo, x + i));
        _mm512_mask_storeu_epi16(y + i, (__mmask32)((r == 32 ? 0 : (1ull << r)) - 1), (__m512i)v);
    }
}

typedef struct {
    const float *bias;
    float alpha;
    const float *scale, *shift;
} epilogue;

BF16_TARGET static inline void store_out(const epilogue *ep, size_t ch, __m512 y, float *o) {
    if (ep->bias) y = _mm512_add_ps(y, _mm512_loadu_ps(ep->bias + ch));
    if (ep->alpha != 1.0f) {
        __mmask16 neg = _mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_LT_OQ);
        y = _mm512_mask_mul_ps(y, neg, y, _mm512_set1_ps(ep->alpha));
    }
    if (ep->scale) y = _mm512_fmadd_ps(y, _mm512_loadu_ps(ep->scale + ch), _mm512_loadu_ps(ep->shift + ch));
    _mm512_storeu_ps(o, y);
}

/* out[f][p][0 : co] for n_out frames from xp (bf16, pw rows per frame, bin p's tap 0 at row p),
 * RB bins and NV vectors of 16 output channels at a time. */
#define DEFINE_BF16_OUTVEC(NV, RB)                                                                                  \
    BF16_TARGET static void bf16_outvec_##NV(const uint16_t *xp, size_t pw, size_t nb, size_t cin, size_t co, int kh, \
                                             size_t red, const uint16_t *w, const epilogue *ep, size_t n_out,          \
                                             float *out) {                                                           \
        for (size_t og = 0; og < co; og += 16 * NV)                                                                  \
            for (size_t f = 0; f < n_out; f++)                                                                       \
                for (size_t p0 = 0; p0 < nb; p0 += RB) {                                                             \
                    size_t rb = nb - p0 < RB ? nb - p0 : RB;                                                         \
                    __m512 acc[RB][NV];                                                                              \
                    for (int r = 0; r < RB; r++)                                                                     \
                        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();                                \
                    for (int i = 0; i < kh; i++) {                                                                   \
                        const uint16_t *x = xp + ((f + (size_t)i) * pw + p0) * cin;                                  \
                        const uint16_t *wt = w + (size_t)i * red * co + 2 * og;                                      \
                        _Pragma("GCC unroll 1") for (size_t c = 0; c < red; c += 2) {                                \
                            __m512bh wv[NV];                                                                         \
                            for (int v = 0; v < NV; v++)                                                             \
                                wv[v] = (__m512bh)_mm512_loadu_si512(wt + c * co + 32 * (size_t)v);                  \
                            for (int r = 0; r < RB; r++) {                                                           \
                                uint32_t pair;                                                                       \
                                memcpy(&pair, x + (size_t)r * cin + c, sizeof pair);                                 \
                                __m512bh a = (__m512bh)_mm512_set1_epi32((int)pair);                                 \
                                for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], a, wv[v]);     \
                            }                                                                                        \
                        }                                                                                            \
                    }                                                                                                \
                    float *o = out + (f * nb + p0) * co + og;                                                        \
                    for (size_t r = 0; r < rb; r++)                                                                  \
                        for (int v = 0; v < NV; v++)                                                                 \
                            store_out(ep, og + 16 * (size_t)v, acc[r][v], o + r * co + 16 * (size_t)v);             \
                }                                                                                                    \
    }
DEFINE_BF16_OUTVEC(2, 12)
DEFINE_BF16_OUTVEC(4, 6)
#endif

#if LM_AMX_KERNEL
/* The tile configuration (palette 1, 64 bytes): tiles 0-3 accumulate 16 bins x 16 output
 * channels in float32 (two blocks of bins x two groups of channels), 4-5 hold the inputs of the
 * two blocks of bins (16 rows of 32 bf16 reduction values), 6-7 the kernel pairs of the two
 * channel groups (16 rows of 16 pairs). */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_config;

/* As bf16_outvec_*, on tiles: a tile row of A is bin p's reduction run (rows of consecutive
 * bins overlap: they start cin values apart), B is the packed kernel as it is ([pair][o][2] is
 * TDPBF16PS's layout). Sums of 32 bins x 32 channels go through tbuf to the epilogue, so the
 * rows past the last bin are computed from zero padding and dropped. */
AMX_TARGET static void amx_outvec(const uint16_t *xp, size_t pw, size_t nb, size_t cin, size_t co, int kh, size_t red,
                                  const uint16_t *w, const epilogue *ep, size_t n_out, float *out) {
    const size_t kstep = amx_kstep(red); /* reduction values per tile product */
    amx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.colsb[t] = t == 4 || t == 5 ? (uint16_t)(2 * kstep) : 64;
        cfg.rows[t] = t >= 6 ? (uint8_t)(kstep / 2) : 16;
    }
    _tile_loadconfig(&cfg);
    float tbuf[AMX_ROWS * 32];
    const size_t xs = cin * sizeof(uint16_t), ws = 2 * co * sizeof(uint16_t);
    for (size_t f = 0; f < n_out; f++)
        for (size_t p0 = 0; p0 < nb; p0 += AMX_ROWS)
            for (size_t og = 0; og < co; og += 32) {
                _tile_zero(0);
                _tile_zero(1);
                _tile_zero(2);
                _tile_zero(3);
                for (int i = 0; i < kh; i++) {
                    const uint16_t *x = xp + ((f + (size_t)i) * pw + p0) * cin;
                    const uint16_t *wt = w + (size_t)i * red * co + 2 * og;
                    for (size_t k = 0; k < red; k += kstep) {
                        _tile_loadd(4, x + k, xs);
                        _tile_loadd(5, x + 16 * cin + k, xs);
                        _tile_loadd(6, wt + k * co, ws);
                        _tile_loadd(7, wt + k * co + 32, ws);
                        _tile_dpbf16ps(0, 4, 6);
                        _tile_dpbf16ps(1, 4, 7);
                        _tile_dpbf16ps(2, 5, 6);
                        _tile_dpbf16ps(3, 5, 7);
                    }
                }
                _tile_stored(0, tbuf, 32 * sizeof(float));
                _tile_stored(1, tbuf + 16, 32 * sizeof(float));
                _tile_stored(2, tbuf + 16 * 32, 32 * sizeof(float));
                _tile_stored(3, tbuf + 16 * 32 + 16, 32 * sizeof(float));
                const size_t rb = nb - p0 < AMX_ROWS ? nb - p0 : AMX_ROWS;
                float *o = out + (f * nb + p0) * co + og;
                for (size_t r = 0; r < rb; r++) {
                    store_out(ep, og, _mm512_loadu_ps(tbuf + r * 32), o + r * co);
                    store_out(ep, og + 16, _mm512_loadu_ps(tbuf + r * 32 + 16), o + r * co + 16);
                }
            }
    _tile_release();
}
#endif

int lm_conv_bf16_forward(const lm_conv_spec *L, int nb, const float *in, size_t n_in, float *out, float *col,
                         size_t col_cap) {
#if LM_BF16_KERNEL
    if (!L->kbf || !lm_conv_bf16_applies(L) || !lm_nn_bf16_supported()) return -1;
    const size_t cin = (size_t)L->cin, co = (size_t)L->cout, kh = (size_t)L->kh, off = (size_t)(L->kw - 1) / 2;
    const size_t n = (size_t)nb, red = (size_t)L->kw * cin;
    /* rows: off zeros, the nb bins, then zeros up to the last row a block of bins reads */
    const size_t pw = n + (size_t)L->kw - 1 + PAD_ROWS, frame = pw * cin;
#if LM_AMX_KERNEL
    const int amx = amx_kstep(red) && lm_nn_amx_supported();
#endif
    const size_t cap = col_cap * 2; /* bf16 values in col */
    if (cap < (kh + 1) * frame || n_in < kh) return -1;
    const size_t sub = cap / frame - kh + 1, n_out = n_in - kh + 1;
    uint16_t *xp = (uint16_t *)(void *)col;
    const epilogue ep = {L->b, L->alpha, L->bn_scale, L->bn_shift};
    for (size_t s = 0; s < n_out; s += sub) {
        size_t S = n_out - s < sub ? n_out - s : sub, nf = S + kh - 1;
        for (size_t f = 0; f < nf; f++) {
            uint16_t *d = xp + f * frame;
            memset(d, 0, off * cin * sizeof *d);
            to_bf16(in + (s + f) * n * cin, d + off * cin, n * cin);
            memset(d + (off + n) * cin, 0, (pw - off - n) * cin * sizeof *d);
        }
        float *o = out + s * n * co;
#if LM_AMX_KERNEL
        if (amx) amx_outvec(xp, pw, n, cin, co, L->kh, red, L->kbf, &ep, S, o);
        else
#endif
        if (co == 32) bf16_outvec_2(xp, pw, n, cin, co, L->kh, red, L->kbf, &ep, S, o);
        else bf16_outvec_4(xp, pw, n, cin, co, L->kh, red, L->kbf, &ep, S, o);
    }
    return 0;
#else
    (void)L, (void)nb, (void)in, (void)n_in, (void)out, (void)col, (void)col_cap;
    return -1;
#endif
}
