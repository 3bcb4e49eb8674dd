/* The vector kernel of the float32 scan (src/match/sdtw.c), included by sdtw.c once per
 * instruction set: SDTW_ISA names the instance (its functions and types get the suffix
 * _SDTW_ISA), and the vector code follows the target macros in force where it is included
 * (__AVX512F__, __AVX2__ or neither), which sdtw.c sets with `#pragma GCC target` in the
 * portable build and -march=native sets otherwise. Not a header of its own: it needs
 * sdtw.c's frame kinds, sim_source, scan_variant, SDTW_BLOCK and SDTW_ALIGN. */
#ifndef SDTW_ISA
#error "match/sdtw_kernel.h is included by match/sdtw.c only"
#endif
#define SDTW_CAT_(a, b) a##_##b
#define SDTW_CAT(a, b) SDTW_CAT_(a, b)
#define vf SDTW_CAT(vf, SDTW_ISA)
#define v_load SDTW_CAT(v_load, SDTW_ISA)
#define v_store SDTW_CAT(v_store, SDTW_ISA)
#define v_add SDTW_CAT(v_add, SDTW_ISA)
#define v_max SDTW_CAT(v_max, SDTW_ISA)
#define v_add_twice SDTW_CAT(v_add_twice, SDTW_ISA)
#define v_shift1 SDTW_CAT(v_shift1, SDTW_ISA)
#define v_shift2 SDTW_CAT(v_shift2, SDTW_ISA)
#define halo_vec SDTW_CAT(halo_vec, SDTW_ISA)
#define sweep_group SDTW_CAT(sweep_group, SDTW_ISA)
#define sweep SDTW_CAT(sweep, SDTW_ISA)
#define general_sim SDTW_CAT(general_sim, SDTW_ISA)
#define sim_row SDTW_CAT(sim_row, SDTW_ISA)
#define tile_max SDTW_CAT(tile_max, SDTW_ISA)
#define sdtw_scan_core SDTW_CAT(sdtw_scan_core, SDTW_ISA)

#if defined(__AVX512F__)
#include <immintrin.h>
#define VW 16
#define SDTW_GROUP 3
typedef __m512 vf;
static inline vf v_load(const float *p) { return _mm512_load_ps(p); }
static inline void v_store(float *p, vf x) { _mm512_store_ps(p, x); }
static inline vf v_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf v_max(vf a, vf b) { return _mm512_max_ps(a, b); }
/* b + 2a in one rounding, the same as b + (a + a) since a + a is exact. */
static inline vf v_add_twice(vf a, vf b) { return _mm512_fmadd_ps(a, _mm512_set1_ps(2.0f), b); }
/* Columns j-s .. j+VW-1-s from the vectors holding columns j.. (cur) and j-VW.. (prev). */
static inline vf v_shift1(vf cur, vf prev) {
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(cur), _mm512_castps_si512(prev), 15));
}
static inline vf v_shift2(vf cur, vf prev) {
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(cur), _mm512_castps_si512(prev), 14));
}
#elif defined(__AVX2__)
#include <immintrin.h>
#define VW 8
#define SDTW_GROUP 2
typedef __m256 vf;
static inline vf v_load(const float *p) { return _mm256_load_ps(p); }
static inline void v_store(float *p, vf x) { _mm256_store_ps(p, x); }
static inline vf v_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf v_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf v_add_twice(vf a, vf b) { return _mm256_add_ps(_mm256_add_ps(a, a), b); }
/* alignr works within 128-bit lanes, so first pair each lane with its left neighbour. */
static inline vf v_shift1(vf cur, vf prev) {
    __m256 mid = _mm256_permute2f128_ps(prev, cur, 0x21);
    return _mm256_castsi256_ps(_mm256_alignr_epi8(_mm256_castps_si256(cur), _mm256_castps_si256(mid), 12));
}
static inline vf v_shift2(vf cur, vf prev) {
    __m256 mid = _mm256_permute2f128_ps(prev, cur, 0x21);
    return _mm256_castsi256_ps(_mm256_alignr_epi8(_mm256_castps_si256(cur), _mm256_castps_si256(mid), 8));
}
#else
#define VW 8
#define SDTW_GROUP 2
typedef struct {
    float x[VW];
} vf;
static inline vf v_load(const float *p) {
    vf r;
    memcpy(r.x, p, sizeof r.x);
    return r;
}
static inline void v_store(float *p, vf a) { memcpy(p, a.x, sizeof a.x); }
static inline vf v_add(vf a, vf b) {
    for (int i = 0; i < VW; i++) a.x[i] += b.x[i];
    return a;
}
static inline vf v_max(vf a, vf b) {
    for (int i = 0; i < VW; i++) a.x[i] = a.x[i] > b.x[i] ? a.x[i] : b.x[i];
    return a;
}
static inline vf v_add_twice(vf a, vf b) { return v_add(v_add(a, a), b); }
static inline vf v_shift1(vf cur, vf prev) {
    vf r;
    r.x[0] = prev.x[VW - 1];
    for (int i = 1; i < VW; i++) r.x[i] = cur.x[i - 1];
    return r;
}
static inline vf v_shift2(vf cur, vf prev) {
    vf r;
    r.x[0] = prev.x[VW - 2];
    r.x[1] = prev.x[VW - 1];
    for (int i = 2; i < VW; i++) r.x[i] = cur.x[i - 2];
    return r;
}
#endif

/* A vector whose last two lanes are a row's halo (the two columns left of the tile). */
static inline vf halo_vec(const float *halo) {
    _Alignas(SDTW_ALIGN) float tmp[VW];
    for (int i = 0; i < VW - 2; i++) tmp[i] = -INFINITY;
    tmp[VW - 2] = halo[0];
    tmp[VW - 1] = halo[1];
    return v_load(tmp);
}

/* Rows g .. g+K-1 over the nvec vectors of one tile. in1/in2: rows g-1 and g-2 (with their
 * halos halo1/halo2), sim[k]: similarities of row g+k, halo: halos of rows g .. g+K-1;
 * halo_next receives their last two columns in this tile. The last two rows go to out1
 * (g+K-1) and out2 (g+K-2). Inlined with constant K so that the rows' vectors live in
 * registers. */
static inline __attribute__((always_inline)) void sweep_group(const int K, const float *const *sim,
                                                              const float *in1, const float *halo1,
                                                              const float *in2, const float *halo2,
                                                              const float *halo, float *halo_next,
                                                              float *out1, float *out2, size_t nvec) {
    vf prev1 = halo_vec(halo1), prev2 = halo_vec(halo2), prev[SDTW_GROUP];
    for (int k = 0; k < K; k++) prev[k] = halo_vec(halo + 2 * k);
    for (size_t v = 0; v < nvec; v++) {
        size_t j = v * VW;
        vf x1 = v_load(in1 + j), x2 = v_load(in2 + j);
        vf up1_m2 = v_shift2(x1, prev1), up1_m1 = v_shift1(x1, prev1), up2_m1 = v_shift1(x2, prev2);
        prev1 = x1;
        prev2 = x2;
        for (int k = 0; k < K; k++) {
            vf s = v_load(sim[k] + j);
            vf y = v_max(v_add_twice(s, up2_m1), v_add(v_max(up1_m2, up1_m1), s));
            up2_m1 = up1_m1;
            up1_m1 = v_shift1(y, prev[k]);
            up1_m2 = v_shift2(y, prev[k]);
            prev[k] = y;
        }
        v_store(out1 + j, prev[K - 1]);
        if (K >= 2) v_store(out2 + j, prev[K - 2]);
    }
    for (int k = 0; k < K; k++) {
        _Alignas(SDTW_ALIGN) float tmp[VW];
        v_store(tmp, prev[k]);
        halo_next[2 * k] = tmp[VW - 2];
        halo_next[2 * k + 1] = tmp[VW - 1];
    }
}

static void sweep(int K, const float *const *sim, const float *in1, const float *halo1, const float *in2,
                  const float *halo2, const float *halo, float *halo_next, float *out1, float *out2, size_t nvec) {
    switch (K) {
#define SWEEP_CASE(k)                                                                 \
    case k:                                                                           \
        sweep_group(k, sim, in1, halo1, in2, halo2, halo, halo_next, out1, out2, nvec); \
        break;
        SWEEP_CASE(1)
        SWEEP_CASE(2)
#if SDTW_GROUP > 2
        SWEEP_CASE(3)
#endif
#undef SWEEP_CASE
    }
}

/* Similarities of a frame that is neither one-hot nor zero, over one tile; the query
 * transposed up by `shift` semitones (its row c - shift meets document row c). */
static const float *general_sim(const float *query, size_t N, size_t n, int shift, const float *tile, size_t B,
                                size_t width, float *dst) {
    for (size_t j = 0; j < width; j++) dst[j] = 0.0f;
    for (int c = 0; c < 12; c++) {
        float q = query[(size_t)((c - shift + 12) % 12) * N + n];
        if (q != 0.0f)
            for (size_t j = 0; j < width; j++) dst[j] += q * tile[c * B + j];
    }
    return dst;
}

/* Similarity row of query frame n in the current tile; a general frame is computed into
 * slot (one per row of a group, and one for row 0). A one-hot frame's row is a row of the
 * tile: for a transposed query, the row of its shifted pitch class (kind holds it). */
static const float *sim_row(const sim_source *src, size_t n, size_t slot) {
    int kind = src->kind[n];
    if (kind >= 0) return src->tile + (size_t)kind * src->B;
    if (kind == FRAME_ZERO) return src->zero_row;
    return general_sim(src->query, src->N, n, src->shift, src->tile, src->B, src->width,
                       src->general + slot * src->B);
}

/* Largest of x[j0 .. len-1] (x aligned, -inf where a row is unreachable). */
static float tile_max(const float *x, size_t j0, size_t len) {
    float m = -INFINITY;
    size_t j = j0;
    for (; j < len && j % VW; j++) m = x[j] > m ? x[j] : m;
    if (j + VW <= len) {
        vf acc = v_load(x + j);
        for (j += VW; j + VW <= len; j += VW) acc = v_max(acc, v_load(x + j));
        _Alignas(SDTW_ALIGN) float tmp[VW];
        v_store(tmp, acc);
        for (int i = 0; i < VW; i++) m = tmp[i] > m ? tmp[i] : m;
    }
    for (; j < len; j++) m = x[j] > m ? x[j] : m;
    return m;
}

/* Several queries over the document columns [0, M) of a chroma-major array whose rows are ld
 * values apart (float32, or bytes times a scale), tile by tile: each tile is copied once and every query sweeps it while it is
 * in cache, so the queries share the document's memory traffic. Each query's result is
 * bit-identical to scanning it alone. Ends before `first` are not reported (matching and the
 * minimum cover ends first .. M-1; matching[v][m - first]). */
static int sdtw_scan_core(const lm_sdtw_query *queries, size_t n_var, doc_src doc, size_t M, size_t ld,
                          size_t first, lm_sdtw_result *res, float *const *matching) {
    if (M == 0 || n_var == 0) {
        lm_set_error("sdtw: empty query or document (%zu x %zu frames)", n_var ? queries[0].N : (size_t)0, M);
        return -1;
    }
    for (size_t v = 0; v < n_var; v++)
        if (queries[v].N == 0) {
            lm_set_error("sdtw: empty query or document (%zu x %zu frames)", queries[v].N, M);
            return -1;
        }
    const size_t pad = SDTW_ALIGN / sizeof(float);
    size_t n_active = 0, kinds_len = 0, halos_len = 0, n_general = 0;
    for (size_t v = 0; v < n_var; v++) {
        res[v].distance = INFINITY;
        res[v].start = res[v].end = 0;
        if (queries[v].N > 2 * M - 1) { /* even all (2,1) steps cannot cover the query */
            if (matching && matching[v])
                for (size_t m = first; m < M; m++) matching[v][m - first] = INFINITY;
            continue;
        }
        n_active++;
        kinds_len += queries[v].N;
        halos_len += 2 * ((2 * queries[v].N + 2 + pad - 1) / pad * pad);
    }
    if (n_active == 0) return 0;
    scan_variant *var = malloc(n_var * sizeof *var);
    int *kinds = malloc(kinds_len * sizeof *kinds);
    if (!var || !kinds) {
        free(var);
        free(kinds);
        lm_set_error("sdtw: out of memory");
        return -1;
    }
    int *kind_at = kinds;
    for (size_t v = 0; v < n_var; v++) {
        size_t N = queries[v].N;
        int shift = ((queries[v].shift % 12) + 12) % 12;
        var[v] = (scan_variant){.query = queries[v].query, .N = N, .shift = shift, .best = INFINITY,
                                .active = N <= 2 * M - 1};
        if (!var[v].active) continue;
        var[v].kind = kind_at;
        kind_at += N;
        for (size_t n = 0; n < N; n++) {
            int k = frame_kind(queries[v].query, N, n);
            n_general += k == FRAME_GENERAL;
            var[v].kind[n] = k >= 0 ? (k + shift) % 12 : k;
        }
    }
    /* Rows of B floats: the tile's 12 document rows (copied, so loads are aligned and the last
     * tile is zero-padded), a zero row for rests, a -inf row for row -1, four row buffers and
     * the similarities of general frames; then each query's halos of rows -1 .. N-1 from the
     * previous tile and for the next one. */
    size_t B = M < SDTW_BLOCK ? (M + pad - 1) / pad * pad : SDTW_BLOCK;
    size_t n_rows = 12 + 1 + 1 + 4 + (n_general ? SDTW_GROUP + 1 : 0);
    float *mem = aligned_alloc(SDTW_ALIGN, (n_rows * B + halos_len) * sizeof *mem);
    if (!mem) {
        free(var);
        free(kinds);
        lm_set_error("sdtw: out of memory");
        return -1;
    }
    float *tile = mem, *zero_row = mem + 12 * B, *neg_row = zero_row + B, *bufs = neg_row + B;
    float *halo_mem = mem + n_rows * B;
    for (size_t j = 0; j < B; j++) zero_row[j] = 0.0f, neg_row[j] = -INFINITY;
    for (size_t k = 0; k < halos_len; k++) halo_mem[k] = -INFINITY;
    for (size_t v = 0; v < n_var; v++) {
        if (!var[v].active) continue;
        size_t halo_len = (2 * var[v].N + 2 + pad - 1) / pad * pad;
        var[v].halo = halo_mem;
        var[v].halo_next = halo_mem + halo_len;
        halo_mem += 2 * halo_len;
    }
    sim_source src = {NULL, 0, 0, NULL, tile, zero_row, bufs + 4 * B, B, 0};

    for (size_t b0 = 0; b0 < M; b0 += B) {
        size_t len = M - b0 < B ? M - b0 : B, nvec = (len + VW - 1) / VW;
        src.width = nvec * VW;
        for (int c = 0; c < 12; c++) {
            if (doc.u8) { /* a compact document becomes float here, one tile at a time (vectorised) */
                const uint8_t *row = doc.u8 + (size_t)c * ld + b0;
                for (size_t j = 0; j < len; j++) tile[c * B + j] = (float)row[j] * doc.scale;
            } else {
                memcpy(tile + c * B, doc.f + (size_t)c * ld + b0, len * sizeof *tile);
            }
            for (size_t j = len; j < src.width; j++) tile[c * B + j] = 0.0f;
        }
        for (size_t v = 0; v < n_var; v++) {
            scan_variant *sv = &var[v];
            if (!sv->active) continue;
            size_t N = sv->N;
            src.query = sv->query;
            src.N = N;
            src.shift = sv->shift;
            src.kind = sv->kind;
            float *halo = sv->halo, *halo_next = sv->halo_next;
            /* Row 0 is its similarity row; each group then reads the two rows above it. */
            const float *row0 = sim_row(&src, 0, SDTW_GROUP);
            const float *in1 = row0, *in2 = neg_row;
            int flip = 0;
            for (size_t g = 1; g < N; g += SDTW_GROUP) {
                int K = N - g < SDTW_GROUP ? (int)(N - g) : SDTW_GROUP;
                const float *sims[SDTW_GROUP];
                for (int k = 0; k < K; k++) sims[k] = sim_row(&src, g + k, (size_t)k);
                float *out1 = bufs + 2 * (size_t)flip * B, *out2 = out1 + B;
                sweep(K, sims, in1, halo + 2 * g, in2, halo + 2 * (g - 1), halo + 2 * (g + 1),
                      halo_next + 2 * (g + 1), out1, out2, nvec);
                in1 = out1;
                in2 = out2;
                flip ^= 1;
            }
            if (b0 + len < M) { /* another tile follows (this one is full, len = B >= 2) */
                halo_next[2] = row0[len - 2];
                halo_next[3] = row0[len - 1];
                sv->halo = halo_next;
                sv->halo_next = halo;
            }
            /* in1 is row N-1 now: the matching function is (N - S) / N, which falls as S rises,
             * so the tile's smallest value is that of its largest S (a vector max), and the
             * first end holding it is looked for only when it beats the best so far. */
            const float fN = (float)N;
            float *mv = matching ? matching[v] : NULL;
            size_t j0 = first > b0 ? (first - b0 < len ? first - b0 : len) : 0;
            if (mv)
                for (size_t j = j0; j < len; j++) mv[b0 + j - first] = (fN - in1[j]) / fN;
            if (j0 < len) {
                float smax = tile_max(in1, j0, len);
                float tile_best = (fN - smax) / fN;
                if (tile_best < sv->best) {
                    size_t j = j0;
                    while (j + 1 < len && (fN - in1[j]) / fN != tile_best) j++;
                    sv->best = tile_best;
                    sv->best_m = b0 + j;
                }
            }
        }
    }
    for (size_t v = 0; v < n_var; v++)
        if (var[v].active && isfinite(var[v].best)) {
            res[v].distance = var[v].best;
            res[v].start = res[v].end = var[v].best_m;
        }
    free(var);
    free(kinds);
    free(mem);
    return 0;
}
#undef vf
#undef v_load
#undef v_store
#undef v_add
#undef v_max
#undef v_add_twice
#undef v_shift1
#undef v_shift2
#undef halo_vec
#undef sweep_group
#undef sweep
#undef general_sim
#undef sim_row
#undef tile_max
#undef sdtw_scan_core
#undef SDTW_CAT
#undef SDTW_CAT_
#undef VW
#undef SDTW_GROUP
#undef SDTW_ISA
