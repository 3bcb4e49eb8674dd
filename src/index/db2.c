/* Feature database format 2: a directory of immutable segment files and a manifest replaced
 * atomically. docs/database.md is the normative description of the layout, the locking and the
 * crash semantics; the constants below follow it. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h> /* crc32_combine: joins the checksums of chunks verified in parallel */

#include "common/dispatch.h"
#include "common/error.h"
#include "common/fileio.h"
#include "index/db.h"
#include "index/le_bytes.h"
#include "match/sdtw.h"
#include "nn/model.h"

#define M_HEADER 320
#define M_HEADER_CRC_AT 316
#define M_TUNING_AT 296       /* u32 tuning mode, then at 304 the f64 fixed deviation */
#define M_NN_AT 300           /* u32 network precision: 0 fp32 (every older database), 1 bf16 */
#define M_PRECISION_AT 264    /* u32 precision (0: f32, as every older database), then the f32 scale */
#define S_PRECISION_AT 56     /* the same in a segment header */
#define S_COARSE_AT 64        /* u32 frames per coarse frame of the coarse section (0: none) */
#define S_COARSE_CRC_AT 68    /* u32 CRC-32 of the coarse section (from its start to the file's end) */
#define S_PRE_AT 72           /* u32 frames per frame of the pre-filter section (0: none) */
#define M_SEG_ENTRY 48
#define M_TOMB_FIXED 16
#define M_TRAILER 8
#define S_HEADER 128
#define S_HEADER_CRC_AT 124
#define S_ENTRY_FIXED 40
#define ALIGN 64
#define NBINS 12
#define FRAME_RATE 25
#define MAX_STRING 65535
#define MAX_SEGMENTS 1000000u
#define MAX_SEQ 9999999999ull /* segment numbers have 10 decimal digits in file names */
#define VERIFY_CHUNK (16u << 20)
#define OPEN_RETRIES 100
#define DIRECTORY_PREFETCH (32u << 10) /* bytes read ahead per segment at open: header and directory */

static const char manifest_magic[8] = {'L', 'M', 'D', 'B', 'M', 'N', 'F', '2'};
static const char segment_magic[8] = {'L', 'M', 'D', 'B', 'S', 'E', 'G', '2'};

typedef struct {
    uint64_t seq, size, frames;
    uint32_t n_docs, crc;
} seg_entry;

typedef struct {
    uint64_t t; /* hides the records of this id in segments numbered below t */
    char *id;
} tomb;

struct lm_db2_manifest {
    enum lm_feature_type type;
    enum lm_db_precision precision;
    float scale; /* u8: value = byte x scale; 0 for f32 */
    uint32_t checksum;
    char model_id[LM_DB_MODEL_ID_MAX + 1];
    lm_tuning tuning; /* how the features were tuned (chroma/tuning.h) */
    uint32_t nn_bf16; /* M_NN_AT */
    uint64_t generation, next_seq;
    size_t n_segs, n_tombs;
    seg_entry *segs;
    tomb *tombs;
};

typedef struct {
    seg_entry e;
    unsigned char *map;
    size_t size;
    int state; /* 0 not verified, 1 verified, 2 damaged */
    size_t coarse_at;    /* where its coarse section starts (0: it has none) */
    uint32_t coarse_crc; /* and that section's CRC-32 */
    int coarse_state;    /* as state, for the coarse section alone */
    char *strings;       /* its documents' ids, paths and model ids, NUL-terminated, one block */
    char name[32];
} seg_map;

struct lm_db2 {
    struct lm_db2_manifest m;
    seg_map *segs;
    size_t *doc_seg; /* per document: index into segs */
    size_t hidden;   /* records hidden by tombstones */
    int all_ok;
    int coarse_ok; /* every segment's coarse section (or, without one, the segment) verified */
    char *path;
};

/* ---------------------------------------------------------------- bytes */

static size_t align_to(size_t n, size_t a) { return (n + a - 1) / a * a; }

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = lm_malloc(n, 1);
    if (p) memcpy(p, s, n);
    return p;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = lm_malloc(n, 1);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void seg_name(char *out, size_t cap, uint64_t seq) {
    snprintf(out, cap, "seg-%010" PRIu64 ".lmseg", seq);
}

/* Prefixes the last error with the database path. */
static int fail_path(const char *path) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", lm_last_error());
    lm_set_error("%s: %s", path, msg);
    return -1;
}

static void printable(char *out, size_t cap, const unsigned char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) out[k++] = (s[i] >= 32 && s[i] < 127) ? (char)s[i] : '?';
    out[k] = '\0';
}

/* Test hook (docs/database.md, "Crash tests"): LEITMOTIF_DB_KILL_AT=POINT:N kills the process
 * with SIGKILL the N-th time a writer reaches POINT (segment, manifest, commit, cleanup). */
static void crash_point(const char *point) {
    static unsigned counts[4];
    static const char *const names[4] = {"segment", "manifest", "commit", "cleanup"};
    const char *spec = getenv("LEITMOTIF_DB_KILL_AT");
    if (!spec) return;
    for (int i = 0; i < 4; i++) {
        if (strcmp(point, names[i]) != 0) continue;
        counts[i]++;
        size_t len = strlen(names[i]);
        if (!strncmp(spec, names[i], len) && spec[len] == ':' && strtoul(spec + len + 1, NULL, 10) == counts[i]) {
            fflush(NULL);
            kill(getpid(), SIGKILL);
        }
    }
}

/* ---------------------------------------------------------------- manifest */

static void manifest_free(struct lm_db2_manifest *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_tombs; i++) free(m->tombs[i].id);
    free(m->tombs);
    free(m->segs);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- precision */

const char *lm_db_precision_name(enum lm_db_precision p) { return p == LM_DB_U8 ? "u8" : "f32"; }

int lm_db_precision_parse(const char *s) {
    if (s && !strcmp(s, "f32")) return LM_DB_F32;
    if (s && !strcmp(s, "u8")) return LM_DB_U8;
    lm_set_error("unknown precision '%s' (f32 or u8)", s ? s : "");
    return -1;
}

/* Round to nearest, ties to even, as lrintf does in the default rounding mode, but without a libm
 * call per value, so that the loop vectorises: for 0 <= v < 2^23, v + 2^23 has no fraction bits
 * left and rounds v's there; subtracting 2^23 again is exact (the search quantises every
 * recording's coarse features per query with it). */
LM_HOT void lm_quantise_u8(const float *x, size_t n, float scale, uint8_t *out) {
    const float inv = 1.0f / scale;
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * inv;
        v = v > 0.0f ? v : 0.0f; /* NaN fails the test and becomes 0 */
        v = v < 255.0f ? v : 255.0f;
        out[i] = (uint8_t)(int)((v + 0x1p23f) - 0x1p23f);
    }
}

void lm_dequantise_u8(const uint8_t *q, size_t n, float scale, float *out) {
    for (size_t i = 0; i < n; i++) out[i] = (float)q[i] * scale; /* as the compact SDTW forms them */
}

const float *lm_db_doc_features(const lm_db_doc *d, float **owned) {
    *owned = NULL;
    if (d->chroma || !d->chroma_u8) return d->chroma;
    float *x = lm_malloc(NBINS * d->T, sizeof *x);
    if (!x) return NULL;
    lm_dequantise_u8(d->chroma_u8, NBINS * d->T, d->scale, x);
    *owned = x;
    return x;
}

/* Precision and scale at b (manifest or segment header). An older leitmotif refuses a u8
 * database at its manifest (non-zero reserved bytes); this one refuses precisions it does not
 * know the same way. */
static int precision_parse(const unsigned char *b, enum lm_db_precision *p, float *scale) {
    uint32_t v = get_u32(b);
    float sc = get_f32(b + 4);
    if (v >= LM_DB_PRECISION_COUNT) {
        lm_set_error("the features are stored at an unknown precision (%u; made by a newer leitmotif?)", v);
        return -1;
    }
    if (v == LM_DB_F32 ? get_u32(b + 4) != 0 : !(sc > 0.0f && sc <= 1.0f)) {
        lm_set_error("the features' scale is impossible for precision %s (damaged)",
                     lm_db_precision_name((enum lm_db_precision)v));
        return -1;
    }
    *p = (enum lm_db_precision)v;
    *scale = v == LM_DB_F32 ? 0.0f : sc;
    return 0;
}

static void precision_put(unsigned char *b, enum lm_db_precision p, float scale) {
    put_u32(b, (uint32_t)p);
    if (p != LM_DB_F32) put_f32(b + 4, scale);
}

/* Bytes per feature value. */
static size_t value_bytes(enum lm_db_precision p) { return p == LM_DB_U8 ? 1 : sizeof(float); }

static int manifest_parse(const unsigned char *b, size_t n, struct lm_db2_manifest *m) {
    memset(m, 0, sizeof *m);
    if (n == 0) {
        lm_set_error("the manifest is empty (damaged)");
        return -1;
    }
    if (n < 8 || memcmp(b, manifest_magic, 8) != 0) {
        lm_set_error("the manifest is not a leitmotif manifest (bad magic; damaged)");
        return -1;
    }
    if (n < M_HEADER + M_TRAILER) {
        lm_set_error("the manifest is truncated (%zu bytes)", n);
        return -1;
    }
    if (get_u32(b + M_HEADER_CRC_AT) != lm_crc32(0, b, M_HEADER_CRC_AT)) {
        lm_set_error("the manifest header is corrupt (CRC mismatch)");
        return -1;
    }
    uint32_t version = get_u32(b + 8);
    if (version != 2) {
        lm_set_error("manifest version %u is not supported (this build reads format 2)", version);
        return -1;
    }
    if (get_u64(b + 56) != n) {
        lm_set_error("the manifest is %zu bytes but says %" PRIu64 ": truncated or damaged", n, get_u64(b + 56));
        return -1;
    }
    if (get_u32(b + n - 4) != lm_crc32(0, b, n - 4)) {
        lm_set_error("the manifest is corrupt (CRC mismatch)");
        return -1;
    }
    uint32_t type = get_u32(b + 16);
    if (get_u32(b + 12) != M_HEADER || get_u32(b + 24) != NBINS || get_u32(b + 28) != FRAME_RATE ||
        type >= LM_FEAT_COUNT || b[64 + LM_DB_MODEL_ID_MAX] != '\0') {
        lm_set_error("the manifest header has unsupported values");
        return -1;
    }
    for (size_t i = 64 + strlen((const char *)b + 64); i < M_HEADER_CRC_AT; i++)
        if (b[i] != 0 && !(i >= M_TUNING_AT && i < M_TUNING_AT + 16) && !(i >= M_PRECISION_AT && i < M_PRECISION_AT + 8)) {
            lm_set_error("the manifest header has non-zero reserved bytes");
            return -1;
        }
    uint32_t tuning_mode = get_u32(b + M_TUNING_AT);
    uint64_t fixed_bits = get_u64(b + M_TUNING_AT + 8);
    double fixed = get_f64(b + M_TUNING_AT + 8);
    if (tuning_mode > LM_TUNING_FIXED || (tuning_mode == LM_TUNING_FIXED ? !(fabs(fixed) <= 0.5) : fixed_bits != 0)) {
        lm_set_error("the manifest has an unknown tuning mode (made by a newer leitmotif?)");
        return -1;
    }
    m->nn_bf16 = get_u32(b + M_NN_AT);
    if (m->nn_bf16 > 1 || (m->nn_bf16 && type != LM_FEAT_CTC)) {
        lm_set_error("the manifest has an unknown network precision (made by a newer leitmotif?)");
        return -1;
    }
    if (precision_parse(b + M_PRECISION_AT, &m->precision, &m->scale) != 0) return -1;
    m->tuning.mode = (enum lm_tuning_mode)tuning_mode;
    m->tuning.semitones = tuning_mode == LM_TUNING_FIXED ? fixed : 0;
    m->type = (enum lm_feature_type)type;
    m->checksum = get_u32(b + 20);
    memcpy(m->model_id, b + 64, LM_DB_MODEL_ID_MAX + 1);
    m->generation = get_u64(b + 32);
    m->next_seq = get_u64(b + 40);
    uint32_t S = get_u32(b + 48), R = get_u32(b + 52);
    size_t off = M_HEADER, end = n - M_TRAILER;
    if (S > MAX_SEGMENTS || S > (end - off) / M_SEG_ENTRY || m->next_seq == 0 || m->next_seq > MAX_SEQ + 1) {
        lm_set_error("the manifest lists an impossible number of segments (damaged)");
        return -1;
    }
    m->segs = lm_calloc(S ? S : 1, sizeof *m->segs);
    if (!m->segs) return -1;
    m->n_segs = S;
    for (size_t i = 0; i < S; i++, off += M_SEG_ENTRY) {
        seg_entry *e = &m->segs[i];
        e->seq = get_u64(b + off);
        e->size = get_u64(b + off + 8);
        e->frames = get_u64(b + off + 16);
        e->n_docs = get_u32(b + off + 24);
        e->crc = get_u32(b + off + 28);
        int zero = 1;
        for (size_t k = 32; k < M_SEG_ENTRY; k++) zero &= b[off + k] == 0;
        if (e->seq == 0 || e->seq >= m->next_seq || (i > 0 && e->seq <= m->segs[i - 1].seq) || e->size < S_HEADER ||
            e->size % ALIGN != 0 || !zero) {
            lm_set_error("segment entry %zu of the manifest is impossible (damaged)", i + 1);
            manifest_free(m);
            return -1;
        }
    }
    if (R > (end - off) / M_TOMB_FIXED) {
        lm_set_error("the manifest lists an impossible number of tombstones (damaged)");
        manifest_free(m);
        return -1;
    }
    m->tombs = lm_calloc(R ? R : 1, sizeof *m->tombs);
    if (!m->tombs) {
        manifest_free(m);
        return -1;
    }
    for (size_t i = 0; i < R; i++) {
        if (end - off < M_TOMB_FIXED) goto bad_tomb;
        uint64_t t = get_u64(b + off);
        uint32_t len = get_u32(b + off + 8);
        if (t == 0 || t > m->next_seq || len == 0 || len > MAX_STRING || get_u32(b + off + 12) != 0 ||
            align_to(M_TOMB_FIXED + len, 8) > end - off || memchr(b + off + M_TOMB_FIXED, 0, len))
            goto bad_tomb;
        for (size_t k = M_TOMB_FIXED + len; k < align_to(M_TOMB_FIXED + len, 8); k++)
            if (b[off + k] != 0) goto bad_tomb;
        m->tombs[i].t = t;
        m->tombs[i].id = lm_malloc(len + 1, 1);
        if (!m->tombs[i].id) {
            manifest_free(m);
            return -1;
        }
        memcpy(m->tombs[i].id, b + off + M_TOMB_FIXED, len);
        m->tombs[i].id[len] = '\0';
        m->n_tombs = i + 1;
        off += align_to(M_TOMB_FIXED + len, 8);
        continue;
    bad_tomb:
        lm_set_error("tombstone %zu of the manifest is impossible (damaged)", i + 1);
        manifest_free(m);
        return -1;
    }
    if (off != end || get_u32(b + end) != 0) {
        lm_set_error("the manifest's entries do not add up to its size (damaged)");
        manifest_free(m);
        return -1;
    }
    return 0;
}

static unsigned char *manifest_bytes(const struct lm_db2_manifest *m, size_t *n_out) {
    size_t n = M_HEADER + m->n_segs * M_SEG_ENTRY + M_TRAILER;
    for (size_t i = 0; i < m->n_tombs; i++) n += align_to(M_TOMB_FIXED + strlen(m->tombs[i].id), 8);
    unsigned char *b = lm_calloc(n, 1);
    if (!b) return NULL;
    memcpy(b, manifest_magic, 8);
    put_u32(b + 8, 2);
    put_u32(b + 12, M_HEADER);
    put_u32(b + 16, (uint32_t)m->type);
    put_u32(b + 20, m->checksum);
    put_u32(b + 24, NBINS);
    put_u32(b + 28, FRAME_RATE);
    put_u64(b + 32, m->generation);
    put_u64(b + 40, m->next_seq);
    put_u32(b + 48, (uint32_t)m->n_segs);
    put_u32(b + 52, (uint32_t)m->n_tombs);
    put_u64(b + 56, n);
    memcpy(b + 64, m->model_id, strlen(m->model_id));
    put_u32(b + M_TUNING_AT, (uint32_t)m->tuning.mode);
    if (m->tuning.mode == LM_TUNING_FIXED) put_f64(b + M_TUNING_AT + 8, m->tuning.semitones);
    put_u32(b + M_NN_AT, m->nn_bf16);
    precision_put(b + M_PRECISION_AT, m->precision, m->scale);
    put_u32(b + M_HEADER_CRC_AT, lm_crc32(0, b, M_HEADER_CRC_AT));
    size_t off = M_HEADER;
    for (size_t i = 0; i < m->n_segs; i++, off += M_SEG_ENTRY) {
        const seg_entry *e = &m->segs[i];
        put_u64(b + off, e->seq);
        put_u64(b + off + 8, e->size);
        put_u64(b + off + 16, e->frames);
        put_u32(b + off + 24, e->n_docs);
        put_u32(b + off + 28, e->crc);
    }
    for (size_t i = 0; i < m->n_tombs; i++) {
        size_t len = strlen(m->tombs[i].id);
        put_u64(b + off, m->tombs[i].t);
        put_u32(b + off + 8, (uint32_t)len);
        memcpy(b + off + M_TOMB_FIXED, m->tombs[i].id, len);
        off += align_to(M_TOMB_FIXED + len, 8);
    }
    put_u32(b + n - 4, lm_crc32(0, b, n - 4));
    *n_out = n;
    return b;
}

/* ---------------------------------------------------------------- segments */

typedef struct {
    const unsigned char *id, *path, *model;
    size_t id_len, path_len, model_len;
    uint64_t T, offset;
    uint64_t coarse_offset; /* of its coarse features (0: the segment has none) */
    uint64_t pre_offset;    /* of its pre-filter features (0: the segment has none) */
    double duration;
    float tuning; /* the compensated deviation, semitones */
} seg_rec;

/* Bytes of a document's pre-filter features (T frames). */
static size_t pre_bytes(size_t T) { return NBINS * ((((T + LM_DB_COARSE - 1) / LM_DB_COARSE) + 1) / 2); }

/* Header and document directory of a segment (the features are checked by the segment CRC). */
static int segment_parse(const unsigned char *b, size_t n, const seg_entry *e, const struct lm_db2_manifest *m,
                         seg_rec **recs_out, size_t *coarse_at) {
    enum lm_feature_type type = m->type;
    uint32_t checksum = m->checksum;
    const size_t frame_bytes = NBINS * value_bytes(m->precision);
    *recs_out = NULL;
    if (n < S_HEADER || memcmp(b, segment_magic, 8) != 0) {
        lm_set_error("not a segment (bad magic; damaged)");
        return -1;
    }
    if (get_u32(b + S_HEADER_CRC_AT) != lm_crc32(0, b, S_HEADER_CRC_AT)) {
        lm_set_error("segment header is corrupt (CRC mismatch)");
        return -1;
    }
    int zero = 1;
    for (size_t k = S_PRE_AT + 4; k < S_HEADER_CRC_AT; k++) zero &= b[k] == 0;
    uint32_t coarse = get_u32(b + S_COARSE_AT), pre = get_u32(b + S_PRE_AT);
    if (coarse != 0 && coarse != LM_DB_COARSE) {
        lm_set_error("segment has coarse features at an unknown rate (1/%u; made by a newer leitmotif?)", coarse);
        return -1;
    }
    if (pre != 0 && pre != LM_DB_PRE) {
        lm_set_error("segment has pre-filter features at an unknown rate (1/%u; made by a newer leitmotif?)", pre);
        return -1;
    }
    zero &= !pre || coarse; /* the pre-filter section follows the coarse one */
    enum lm_db_precision prec;
    float scale;
    if (precision_parse(b + S_PRECISION_AT, &prec, &scale) != 0) return -1;
    zero &= prec == m->precision && scale == m->scale;
    uint64_t D = get_u32(b + 36);
    if (get_u32(b + 8) != 2 || get_u32(b + 12) != S_HEADER || get_u64(b + 16) != e->seq ||
        get_u32(b + 24) != (uint32_t)type || get_u32(b + 28) != checksum || get_u32(b + 32) != e->n_docs ||
        get_u64(b + 40) != e->frames || get_u64(b + 48) != n || !zero) {
        lm_set_error("segment header disagrees with the manifest (damaged)");
        return -1;
    }
    size_t data = align_to(S_HEADER + D + 4, ALIGN);
    if (D > n || data > n || e->n_docs > D / S_ENTRY_FIXED) {
        lm_set_error("segment directory is impossible (damaged)");
        return -1;
    }
    if (get_u32(b + S_HEADER + D) != lm_crc32(0, b + S_HEADER, D)) {
        lm_set_error("segment directory is corrupt (CRC mismatch)");
        return -1;
    }
    seg_rec *r = lm_calloc(e->n_docs ? e->n_docs : 1, sizeof *r);
    if (!r) return -1;
    size_t off = S_HEADER, dend = S_HEADER + D, next_data = data;
    uint64_t frames = 0;
    for (size_t k = 0; k < e->n_docs; k++) {
        if (dend - off < S_ENTRY_FIXED) goto bad;
        const unsigned char *h = b + off;
        r[k].T = get_u64(h);
        r[k].duration = get_f64(h + 8);
        r[k].offset = get_u64(h + 16);
        r[k].id_len = get_u32(h + 24);
        r[k].path_len = get_u32(h + 28);
        r[k].model_len = get_u32(h + 32);
        r[k].tuning = get_f32(h + 36);
        if (!(fabsf(r[k].tuning) <= 0.5f) || r[k].id_len == 0 || r[k].id_len > MAX_STRING || r[k].path_len > MAX_STRING ||
            r[k].model_len > MAX_STRING)
            goto bad;
        size_t strings = r[k].id_len + r[k].path_len + r[k].model_len;
        size_t ebytes = align_to(S_ENTRY_FIXED + strings, 8);
        if (ebytes > dend - off) goto bad;
        for (size_t i = S_ENTRY_FIXED + strings; i < ebytes; i++)
            if (h[i] != 0) goto bad;
        r[k].id = h + S_ENTRY_FIXED;
        r[k].path = r[k].id + r[k].id_len;
        r[k].model = r[k].path + r[k].path_len;
        if (memchr(r[k].id, 0, r[k].id_len) || memchr(r[k].path, 0, r[k].path_len) ||
            memchr(r[k].model, 0, r[k].model_len))
            goto bad;
        /* Feature blocks follow each other in directory order, each at the next 64-byte boundary. */
        if (r[k].T == 0 || r[k].offset != next_data || r[k].T > (n - next_data) / frame_bytes) goto bad;
        next_data = align_to(next_data + frame_bytes * r[k].T, ALIGN);
        frames += r[k].T;
        off += ebytes;
        continue;
    bad: {
        char id[80] = "";
        if (r[k].id && r[k].id_len) printable(id, sizeof id, r[k].id, r[k].id_len < 64 ? r[k].id_len : 64);
        lm_set_error("segment directory entry %zu%s%s%s is impossible (damaged)", k + 1, id[0] ? " ('" : "", id,
                     id[0] ? "')" : "");
        free(r);
        return -1;
    }
    }
    /* The coarse section: each document's coarse features in directory order, likewise aligned. */
    *coarse_at = coarse ? next_data : 0;
    if (!coarse && get_u32(b + S_COARSE_CRC_AT) != 0) {
        lm_set_error("segment header disagrees with the manifest (damaged)");
        free(r);
        return -1;
    }
    for (size_t k = 0; coarse && k < e->n_docs; k++) {
        uint64_t bytes = frame_bytes * ((r[k].T + coarse - 1) / coarse);
        if (next_data > n || bytes > n - next_data) {
            lm_set_error("segment's coarse features run past its end (damaged)");
            free(r);
            return -1;
        }
        r[k].coarse_offset = next_data;
        next_data = align_to(next_data + bytes, ALIGN);
    }
    /* The pre-filter section, after it: bytes at 1/8 of the frame rate, likewise aligned. */
    for (size_t k = 0; pre && k < e->n_docs; k++) {
        uint64_t bytes = pre_bytes((size_t)r[k].T); /* pre implies coarse = LM_DB_COARSE */
        if (next_data > n || bytes > n - next_data) {
            lm_set_error("segment's pre-filter features run past its end (damaged)");
            free(r);
            return -1;
        }
        r[k].pre_offset = next_data;
        next_data = align_to(next_data + bytes, ALIGN);
    }
    if (off != dend || next_data != n || frames != e->frames) {
        lm_set_error("segment directory does not add up to the segment's size (damaged)");
        free(r);
        return -1;
    }
    *recs_out = r;
    return 0;
}

/* A document's feature bytes at the database's precision: its own, or converted into *conv
 * (malloc'd; NULL with the error set when out of memory). */
static const void *stored_features(const lm_db_doc *d, const struct lm_db2_manifest *m, void **conv) {
    *conv = NULL;
    size_t n = NBINS * d->T;
    if (m->precision == LM_DB_F32) {
        if (d->chroma) return d->chroma;
        return lm_db_doc_features(d, (float **)conv);
    }
    if (d->chroma_u8 && d->scale == m->scale) return d->chroma_u8;
    float *own = NULL;
    const float *x = lm_db_doc_features(d, &own);
    uint8_t *q = x ? lm_malloc(n ? n : 1, 1) : NULL;
    if (q) lm_quantise_u8(x, n, m->scale, q);
    free(own);
    *conv = q;
    return q;
}

/* Coarse features (LM_DB_COARSE) of a document from its stored feature bytes, at the database's
 * precision: vb x 12 x ceil(T / LM_DB_COARSE) bytes, malloc'd (NULL: out of memory, error set). */
static void *coarse_features(const void *bytes, size_t T, const struct lm_db2_manifest *m) {
    size_t Mc = (T + LM_DB_COARSE - 1) / LM_DB_COARSE;
    float *c = lm_malloc(NBINS * Mc, sizeof *c);
    if (!c) return NULL;
    if (m->precision == LM_DB_F32) {
        lm_chroma_downsample(bytes, T, LM_DB_COARSE, c);
        return c;
    }
    lm_chroma_downsample_u8(bytes, T, LM_DB_COARSE, c);
    uint8_t *q = lm_malloc(NBINS * Mc, 1);
    if (q) lm_quantise_u8(c, NBINS * Mc, m->scale, q);
    free(c);
    return q;
}

int lm_db_pre_features(const void *coarse, int f32, size_t n, uint8_t *out) {
    /* as the search makes them per query from a recording without them (lm_qset_pre_bound):
     * float coarse features quantised at 1/255 first, then pairs of frames summed */
    size_t n2 = (n + 1) / 2;
    uint8_t *q = f32 ? lm_malloc(NBINS * (n ? n : 1), 1) : NULL;
    uint16_t *tmp = lm_malloc(NBINS * (n2 ? n2 : 1), sizeof *tmp);
    float *norm = lm_malloc(n2 ? n2 : 1, sizeof *norm);
    int ok = tmp && norm && (!f32 || q);
    if (ok) {
        if (f32) lm_quantise_u8(coarse, NBINS * n, LM_DB_U8_SCALE, q);
        lm_coarsen_pairs_u8(f32 ? q : coarse, n, out, tmp, norm);
    }
    free(q);
    free(tmp);
    free(norm);
    return ok ? 0 : -1;
}

/* Writes docs as segment seq into dir (temporary file, fsync, rename; then an fsync of dir unless
 * sync_dir is 0: a new database's folder, which lm_dbw_commit fsyncs once, after the manifest);
 * fills *e. */
static int segment_write(const char *dir, uint64_t seq, const struct lm_db2_manifest *m, const lm_db_doc *docs,
                         size_t n, seg_entry *e, int sync_dir) {
    const size_t frame_bytes = NBINS * value_bytes(m->precision);
    if (n > UINT32_MAX) {
        lm_set_error("too many documents for one segment");
        return -1;
    }
    size_t D = 0;
    uint64_t frames = 0;
    for (size_t k = 0; k < n; k++) {
        const char *mid = docs[k].model_id ? docs[k].model_id : "";
        D += align_to(S_ENTRY_FIXED + strlen(docs[k].id) + strlen(docs[k].path) + strlen(mid), 8);
        frames += docs[k].T;
    }
    size_t data = align_to(S_HEADER + D + 4, ALIGN);
    unsigned char *head = lm_calloc(data, 1);
    if (!head) return -1;
    size_t off = S_HEADER, at = data;
    for (size_t k = 0; k < n; k++) {
        const lm_db_doc *d = &docs[k];
        const char *mid = d->model_id ? d->model_id : "";
        size_t a = strlen(d->id), p = strlen(d->path), c = strlen(mid);
        unsigned char *h = head + off;
        put_u64(h, d->T);
        put_f64(h + 8, d->duration);
        put_u64(h + 16, at);
        put_u32(h + 24, (uint32_t)a);
        put_u32(h + 28, (uint32_t)p);
        put_u32(h + 32, (uint32_t)c);
        put_f32(h + 36, d->tuning);
        memcpy(h + S_ENTRY_FIXED, d->id, a);
        memcpy(h + S_ENTRY_FIXED + a, d->path, p);
        memcpy(h + S_ENTRY_FIXED + a + p, mid, c);
        off += align_to(S_ENTRY_FIXED + a + p + c, 8);
        at = align_to(at + frame_bytes * d->T, ALIGN);
    }
    for (size_t k = 0; k < n; k++) at = align_to(at + frame_bytes * ((docs[k].T + LM_DB_COARSE - 1) / LM_DB_COARSE), ALIGN);
    for (size_t k = 0; k < n; k++) at = align_to(at + pre_bytes(docs[k].T), ALIGN);
    size_t size = at;
    memcpy(head, segment_magic, 8);
    put_u32(head + 8, 2);
    put_u32(head + 12, S_HEADER);
    put_u64(head + 16, seq);
    put_u32(head + 24, (uint32_t)m->type);
    put_u32(head + 28, m->checksum);
    put_u32(head + 32, (uint32_t)n);
    put_u32(head + 36, (uint32_t)D);
    put_u64(head + 40, frames);
    put_u64(head + 48, size);
    precision_put(head + S_PRECISION_AT, m->precision, m->scale);
    put_u32(head + S_COARSE_AT, LM_DB_COARSE);
    put_u32(head + S_PRE_AT, LM_DB_PRE);
    put_u32(head + S_HEADER_CRC_AT, lm_crc32(0, head, S_HEADER_CRC_AT));
    put_u32(head + S_HEADER + D, lm_crc32(0, head + S_HEADER, D));

    char name[32];
    seg_name(name, sizeof name, seq);
    char *path = join(dir, name);
    if (!path) {
        free(head);
        return -1;
    }
    lm_atomic_file af;
    if (lm_atomic_open(&af, path) != 0) {
        free(head);
        free(path);
        return -1;
    }
    static const unsigned char zeros[ALIGN];
    uint32_t crc_rest = 0, crc_coarse = 0; /* of everything after the directory; of the coarse section */
    int rc = fwrite(head, 1, data, af.fp) == data ? 0 : -1;
    size_t pos = data;
    int oom = 0;
    /* Three sections, a block per document in directory order each: the features, then the
     * coarse features made from the bytes just written (what a reader will see), then the
     * pre-filter's made from those. */
    uint8_t **pre = lm_calloc(n ? n : 1, sizeof *pre); /* made with the coarse blocks, written after them */
    if (!pre) rc = -1, oom = 1;
    for (int section = 0; section < 3 && rc == 0; section++)
        for (size_t k = 0; k < n && rc == 0; k++) {
            size_t Mc = (docs[k].T + LM_DB_COARSE - 1) / LM_DB_COARSE;
            size_t fb = section == 2 ? pre_bytes(docs[k].T) : frame_bytes * (section ? Mc : docs[k].T);
            size_t pad = align_to(pos + fb, ALIGN) - pos - fb;
            void *conv = NULL; /* the document at the database's precision, when it is not already */
            const void *bytes = section < 2 ? stored_features(&docs[k], m, &conv) : NULL;
            void *coarse = bytes && section == 1 ? coarse_features(bytes, docs[k].T, m) : NULL;
            if (coarse && (pre[k] = lm_malloc(pre_bytes(docs[k].T), 1)) &&
                lm_db_pre_features(coarse, m->precision == LM_DB_F32, Mc, pre[k]) != 0)
                free(pre[k]), pre[k] = NULL;
            const void *block = section == 2 ? (const void *)pre[k] : section ? (coarse && pre[k] ? coarse : NULL) : bytes;
            if (block) {
                crc_rest = lm_crc32(lm_crc32(crc_rest, block, fb), zeros, pad);
                if (section) crc_coarse = lm_crc32(lm_crc32(crc_coarse, block, fb), zeros, pad);
                if (fwrite(block, 1, fb, af.fp) != fb || (pad && fwrite(zeros, 1, pad, af.fp) != pad)) rc = -1;
            } else {
                oom = 1;
                rc = -1;
            }
            free(coarse);
            free(conv);
            pos += fb + pad;
        }
    for (size_t k = 0; pre && k < n; k++) free(pre[k]);
    free(pre);
    /* The header learns the coarse section's checksum now: written again in place. */
    put_u32(head + S_COARSE_CRC_AT, crc_coarse);
    put_u32(head + S_HEADER_CRC_AT, lm_crc32(0, head, S_HEADER_CRC_AT));
    if (rc == 0 && (fseek(af.fp, 0, SEEK_SET) != 0 || fwrite(head, 1, S_HEADER, af.fp) != S_HEADER ||
                    fseek(af.fp, 0, SEEK_END) != 0))
        rc = -1;
    uint32_t crc = (uint32_t)crc32_combine(lm_crc32(0, head, data), crc_rest, (z_off_t)(size - data));
    free(head);
    if (rc != 0) {
        if (!oom) lm_set_error("cannot write %s: %s", path, strerror(errno));
        lm_atomic_abort(&af);
        free(path);
        return -1;
    }
    free(path);
    if (lm_atomic_commit_ex(&af, sync_dir) != 0) return -1;
    *e = (seg_entry){.seq = seq, .size = size, .frames = frames, .n_docs = (uint32_t)n, .crc = crc};
    return 0;
}

/* ---------------------------------------------------------------- reading */

static int cmp_tomb(const void *a, const void *b) {
    const tomb *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->t > y->t) - (x->t < y->t);
}

/* Largest tombstone number for id among the sorted tombstones (0: none). */
static uint64_t tomb_of(const tomb *t, size_t n, const char *id) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(t[mid].id, id) < 0) lo = mid + 1;
        else hi = mid;
    }
    uint64_t best = 0;
    for (size_t i = lo; i < n && !strcmp(t[i].id, id); i++)
        if (t[i].t > best) best = t[i].t;
    return best;
}

static void v2_free(struct lm_db2 *v) {
    if (!v) return;
    if (v->segs)
        for (size_t i = 0; i < v->m.n_segs; i++)
            if (v->segs[i].map) munmap(v->segs[i].map, v->segs[i].size), free(v->segs[i].strings);
    free(v->segs);
    free(v->doc_seg);
    free(v->path);
    manifest_free(&v->m);
    free(v);
}

int lm_db_index_ids(lm_db *db, size_t *first, size_t *second); /* db.c */
static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int read_manifest(const char *path, struct lm_db2_manifest *m) {
    char *mp = join(path, LM_DB2_MANIFEST);
    if (!mp) return -1;
    int fd = open(mp, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        free(mp);
        if (err == ENOENT) lm_set_error("%s: not a leitmotif database (a directory without %s)", path, LM_DB2_MANIFEST);
        else lm_set_error("cannot open database %s: %s", path, strerror(err));
        return -1;
    }
    close(fd);
    size_t n;
    char *bytes = lm_read_file(mp, &n);
    free(mp);
    if (!bytes) return fail_path(path);
    int rc = manifest_parse((const unsigned char *)bytes, n, m);
    free(bytes);
    return rc == 0 ? 0 : fail_path(path);
}

/* One attempt; 1: a segment has gone (a writer compacted meanwhile): read the manifest again. */
static int open_v2_once(const char *path, lm_db *db) {
    struct lm_db2 *v = lm_calloc(1, sizeof *v);
    if (!v) return -1;
    db->v2 = v;
    v->path = dup_str(path);
    if (!v->path || read_manifest(path, &v->m) != 0) return -1;
    struct lm_db2_manifest *m = &v->m;
    db->type = m->type;
    db->model_checksum = m->checksum;
    memcpy(db->model_id, m->model_id, sizeof db->model_id);
    db->tuning = m->tuning;
    db->precision = m->precision;
    db->nn_bf16 = (int)m->nn_bf16;
    v->segs = lm_calloc(m->n_segs ? m->n_segs : 1, sizeof *v->segs);
    if (!v->segs) return -1;
    /* Document arrays grow segment by segment, after each segment's directory is checked
     * against the real file (the manifest's counts alone could ask for anything). */
    size_t cap = 0;
    qsort(m->tombs, m->n_tombs, sizeof *m->tombs, cmp_tomb);
    /* With cold caches each segment's header and directory is a disk read: ask for all of them
     * first, so that the disk serves them in its own order (once 7.2 s for the 2 500 segments of
     * 10 000 hours, one after the other), then parse them one by one below. */
    for (size_t i = 0; m->n_segs > 1 && i < m->n_segs; i++) {
        char name[32];
        seg_name(name, sizeof name, m->segs[i].seq);
        char *sp = join(path, name);
        int fd = sp ? open(sp, O_RDONLY | O_CLOEXEC) : -1;
        free(sp);
        if (fd < 0) continue; /* reported below */
        (void)posix_fadvise(fd, 0, DIRECTORY_PREFETCH, POSIX_FADV_WILLNEED);
        close(fd);
    }
    for (size_t i = 0; i < m->n_segs; i++) {
        seg_map *s = &v->segs[i];
        s->e = m->segs[i];
        seg_name(s->name, sizeof s->name, s->e.seq);
        char *sp = join(path, s->name);
        if (!sp) return -1;
        int fd = open(sp, O_RDONLY | O_CLOEXEC);
        free(sp);
        if (fd < 0) {
            if (errno == ENOENT) return 1;
            lm_set_error("%s: cannot open segment %s: %s", path, s->name, strerror(errno));
            return -1;
        }
        struct stat st;
        if (fstat(fd, &st) != 0) {
            lm_set_error("%s: cannot read segment %s: %s", path, s->name, strerror(errno));
            close(fd);
            return -1;
        }
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != s->e.size) {
            close(fd);
            lm_set_error("%s: segment %s is %lld bytes, the manifest says %" PRIu64 " (truncated or damaged)", path,
                         s->name, (long long)st.st_size, s->e.size);
            return -1;
        }
        void *map = mmap(NULL, (size_t)s->e.size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (map == MAP_FAILED) {
            lm_set_error("%s: cannot map segment %s: %s", path, s->name, strerror(errno));
            return -1;
        }
        s->map = map;
        s->size = (size_t)s->e.size;
        s->coarse_crc = s->size >= S_HEADER ? get_u32(s->map + S_COARSE_CRC_AT) : 0;
        seg_rec *r;
        if (segment_parse(s->map, s->size, &s->e, m, &r, &s->coarse_at) != 0) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", lm_last_error());
            lm_set_error("%s: segment %s: %s", path, s->name, msg);
            return -1;
        }
        if (db->n_docs + s->e.n_docs > cap) {
            size_t ncap = db->n_docs + s->e.n_docs + cap / 2 + 16;
            lm_db_doc *docs = realloc(db->docs, ncap * sizeof *docs);
            if (docs) db->docs = docs;
            size_t *ds = docs ? realloc(v->doc_seg, ncap * sizeof *ds) : NULL;
            if (ds) v->doc_seg = ds;
            if (!docs || !ds) {
                free(r);
                lm_set_error("out of memory opening %s", path);
                return -1;
            }
            cap = ncap;
        }
        /* One block for the segment's strings: an allocation per document was a tenth of the
         * opening of 10 000 hours (malloc at open, free at close). */
        size_t string_bytes = 1;
        for (size_t k = 0; k < s->e.n_docs; k++) string_bytes += r[k].id_len + r[k].path_len + r[k].model_len + 3;
        if (!(s->strings = lm_malloc(string_bytes, 1))) {
            free(r);
            return -1;
        }
        for (size_t k = 0, at = 0; k < s->e.n_docs; k++) {
            char *str = s->strings + at;
            at += r[k].id_len + r[k].path_len + r[k].model_len + 3;
            memcpy(str, r[k].id, r[k].id_len);
            str[r[k].id_len] = '\0';
            if (tomb_of(m->tombs, m->n_tombs, str) > s->e.seq) {
                v->hidden++;
                continue;
            }
            if (m->tuning.mode == LM_TUNING_OFF && r[k].tuning != 0) {
                lm_set_error("%s: segment %s: '%s' has a tuning in a database without one (damaged)", path, s->name,
                             str);
                free(r);
                return -1;
            }
            lm_db_doc *d = &db->docs[db->n_docs];
            *d = (lm_db_doc){.id = str}; /* the array grows by realloc: nothing left unset */
            char *p = str + r[k].id_len + 1;
            memcpy(p, r[k].path, r[k].path_len);
            p[r[k].path_len] = '\0';
            d->path = p;
            p += r[k].path_len + 1;
            memcpy(p, r[k].model, r[k].model_len);
            p[r[k].model_len] = '\0';
            d->model_id = p;
            d->duration = r[k].duration;
            d->tuning = r[k].tuning;
            d->type = m->type;
            d->model_checksum = m->checksum;
            d->T = (size_t)r[k].T;
            d->pre_u8 = r[k].pre_offset ? s->map + r[k].pre_offset : NULL;
            if (m->precision == LM_DB_U8) {
                d->chroma_u8 = s->map + r[k].offset;
                d->coarse_u8 = r[k].coarse_offset ? s->map + r[k].coarse_offset : NULL;
                d->scale = m->scale;
            } else {
                d->chroma = (const float *)(const void *)(s->map + r[k].offset);
                d->coarse = r[k].coarse_offset ? (const float *)(const void *)(s->map + r[k].coarse_offset) : NULL;
            }
            v->doc_seg[db->n_docs] = i;
            db->total_frames += d->T;
            db->n_docs++;
        }
        free(r);
    }
    if (!db->docs) db->docs = lm_calloc(1, sizeof *db->docs); /* never NULL after a successful open */
    size_t a, b;
    int dup = db->docs ? lm_db_index_ids(db, &a, &b) : -1;
    if (dup < 0) return -1;
    if (dup) {
        lm_set_error("%s: document id '%s' is in segments %s and %s without a tombstone (damaged)", path,
                     db->docs[b].id, v->segs[v->doc_seg[a]].name, v->segs[v->doc_seg[b]].name);
        return -1;
    }
    if (m->n_segs == 0) v->all_ok = 1;
    return 0;
}

int lm_db2_open(const char *path, lm_db *db); /* for db.c */
int lm_db2_open(const char *path, lm_db *db) {
    for (int attempt = 0;; attempt++) {
        memset(db, 0, sizeof *db);
        db->format = 2;
        int rc = open_v2_once(path, db);
        if (rc == 0) return 0;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lm_last_error());
        char missing[32] = "";
        uint64_t gen = db->v2 ? db->v2->m.generation : 0;
        if (rc == 1 && db->v2) {
            for (size_t i = 0; i < db->v2->m.n_segs; i++)
                if (!db->v2->segs[i].map) {
                    snprintf(missing, sizeof missing, "%s", db->v2->segs[i].name);
                    break;
                }
        }
        lm_db_close(db);
        if (rc != 1) {
            lm_set_error("%s", msg);
            return -1;
        }
        /* A writer may have compacted between our reading the manifest and the segments: then
         * the manifest is a new one; the same one means the segment is really missing. */
        struct lm_db2_manifest now;
        int changed = 0;
        if (read_manifest(path, &now) == 0) {
            changed = now.generation != gen;
            manifest_free(&now);
        }
        if (!changed || attempt >= OPEN_RETRIES) {
            lm_set_error("%s: segment %s is missing (the manifest lists it)", path, missing);
            return -1;
        }
    }
}

void lm_db2_close(lm_db *db); /* for db.c */
void lm_db2_close(lm_db *db) {
    v2_free(db->v2);
    db->v2 = NULL;
}

/* Verifies the listed segments (CRC of the whole file against the manifest), in chunks spread
 * over the threads; marks each verified or damaged. Returns the index of the first damaged one,
 * or -1. Caller holds the verification lock. */
/* Where verification of segment s starts: the file's start, or (coarse) its coarse section's. */
static size_t verify_from(const seg_map *s, int coarse) { return coarse ? s->coarse_at : 0; }

/* Verifies the n segments `which` (coarse: their coarse sections only) in parallel chunks and
 * records the outcome in their state (coarse_state); the first damaged one, -1 none, -2 OOM. */
static long verify_segments(struct lm_db2 *v, const size_t *which, size_t n, int coarse) {
    size_t n_chunks = 0;
    for (size_t i = 0; i < n; i++) {
        const seg_map *s = &v->segs[which[i]];
        n_chunks += (s->size - verify_from(s, coarse) + VERIFY_CHUNK - 1) / VERIFY_CHUNK;
    }
    uint32_t *crcs = lm_malloc(n_chunks ? n_chunks : 1, sizeof *crcs);
    size_t *chunk_seg = lm_malloc(n_chunks ? n_chunks : 1, sizeof *chunk_seg);
    size_t *chunk_off = lm_malloc(n_chunks ? n_chunks : 1, sizeof *chunk_off);
    if (!crcs || !chunk_seg || !chunk_off) {
        free(crcs);
        free(chunk_seg);
        free(chunk_off);
        return -2;
    }
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t off = verify_from(&v->segs[which[i]], coarse); off < v->segs[which[i]].size; off += VERIFY_CHUNK) {
            chunk_seg[c] = which[i];
            chunk_off[c++] = off;
        }
    lm_crc32(0, "", 0);
#pragma omp parallel for schedule(dynamic, 1) if (n_chunks > 1)
    for (size_t k = 0; k < n_chunks; k++) {
        const seg_map *s = &v->segs[chunk_seg[k]];
        size_t len = s->size - chunk_off[k] < VERIFY_CHUNK ? s->size - chunk_off[k] : VERIFY_CHUNK;
        crcs[k] = lm_crc32(0, s->map + chunk_off[k], len);
    }
    long bad = -1;
    c = 0;
    for (size_t i = 0; i < n; i++) {
        seg_map *s = &v->segs[which[i]];
        uLong crc = 0;
        int first = 1;
        for (size_t off = verify_from(s, coarse); off < s->size; off += VERIFY_CHUNK, c++) {
            size_t len = s->size - off < VERIFY_CHUNK ? s->size - off : VERIFY_CHUNK;
            crc = first ? crcs[c] : crc32_combine(crc, crcs[c], (z_off_t)len);
            first = 0;
        }
        int state = (uint32_t)crc == (coarse ? s->coarse_crc : s->e.crc) ? 1 : 2;
        if (coarse) {
#pragma omp atomic write
            s->coarse_state = state;
        } else {
#pragma omp atomic write
            s->state = state;
        }
        if (state == 2 && bad < 0) bad = (long)which[i];
    }
    free(crcs);
    free(chunk_seg);
    free(chunk_off);
    return bad;
}

static int damaged_error(const struct lm_db2 *v, size_t i) {
    lm_set_error("%s: segment %s is damaged (checksum mismatch); 'leitmotif check %s' lists the damage", v->path,
                 v->segs[i].name, v->path);
    return -1;
}

/* Verifies segment `only` (-1: all) unless done; coarse: only what the first pass of a search
 * reads, the coarse sections (segments without one completely). */
static int verify_some(const lm_db *db, long only, int coarse) {
    struct lm_db2 *v = db->v2;
    int rc = 0;
#pragma omp critical(lm_db2_verify)
    {
        size_t *which = lm_malloc(v->m.n_segs ? v->m.n_segs : 1, sizeof *which), n = 0;
        size_t *coarse_only = lm_malloc(v->m.n_segs ? v->m.n_segs : 1, sizeof *coarse_only), n_coarse = 0;
        if (!which || !coarse_only) rc = -1;
        for (size_t i = 0; rc == 0 && i < v->m.n_segs; i++) {
            const seg_map *s = &v->segs[i];
            if (only >= 0 && (size_t)only != i) continue;
            if ((s->state == 2 || (coarse && s->coarse_state == 2)) && rc == 0) rc = damaged_error(v, i);
            else if (s->state == 1 || (coarse && s->coarse_state == 1)) continue;
            else if (coarse && s->coarse_at) coarse_only[n_coarse++] = i;
            else which[n++] = i;
        }
        long bad = -1;
        if (rc == 0 && n) bad = verify_segments(v, which, n, 0);
        if (rc == 0 && bad == -1 && n_coarse) bad = verify_segments(v, coarse_only, n_coarse, 1);
        if (bad == -2) rc = -1;
        else if (bad >= 0) rc = damaged_error(v, (size_t)bad);
        if (rc == 0 && only < 0) {
            if (coarse) {
#pragma omp atomic write
                v->coarse_ok = 1;
            } else {
#pragma omp atomic write
                v->all_ok = 1;
            }
        }
        free(which);
        free(coarse_only);
    }
    return rc;
}

int lm_db_verify_all(const lm_db *db) {
    if (db->format != 2 || !db->v2) return 0;
    int ok;
#pragma omp atomic read
    ok = db->v2->all_ok;
    return ok ? 0 : verify_some(db, -1, 0);
}

int lm_db_verify_coarse(const lm_db *db) {
    if (db->format != 2 || !db->v2) return 0;
    int ok;
#pragma omp atomic read
    ok = db->v2->coarse_ok;
    if (!ok) {
#pragma omp atomic read
        ok = db->v2->all_ok;
    }
    return ok ? 0 : verify_some(db, -1, 1);
}

int lm_db_verify_doc(const lm_db *db, size_t k) {
    if (db->format != 2 || !db->v2 || k >= db->n_docs) return 0;
    int state;
    size_t i = db->v2->doc_seg[k];
#pragma omp atomic read
    state = db->v2->segs[i].state;
    return state == 1 ? 0 : verify_some(db, (long)i, 0);
}

long lm_db_check(const lm_db *db, const char *path, FILE *report) {
    if (db->format != 2 || !db->v2) return 0; /* format 1: lm_db_open checked every byte */
    struct lm_db2 *v = db->v2;
    long damaged = 0;
    for (size_t i = 0; i < v->m.n_segs; i++) {
        int rc = verify_some(db, (long)i, 0);
        if (rc == 0 && v->segs[i].coarse_at && v->segs[i].coarse_state != 1) { /* and the section's own CRC */
            long bad = verify_segments(v, &i, 1, 1);
            if (bad == -2) return -1;
            if (bad >= 0) v->segs[i].state = 2, rc = -1;
        }
        if (rc != 0) {
            if (v->segs[i].state != 2) return -1; /* out of memory */
            damaged++;
            if (report)
                fprintf(report, "leitmotif: %s: segment %s is damaged (checksum mismatch)\n", path, v->segs[i].name);
        }
    }
    if (damaged == 0) v->all_ok = 1;
    return damaged;
}

void lm_db_stats(const lm_db *db, size_t *segments, size_t *tombstones, size_t *hidden,
                 unsigned long long *generation) {
    const struct lm_db2 *v = db->format == 2 ? db->v2 : NULL;
    if (segments) *segments = v ? v->m.n_segs : 0;
    if (tombstones) *tombstones = v ? v->m.n_tombs : 0;
    if (hidden) *hidden = v ? v->hidden : 0;
    if (generation) *generation = v ? (unsigned long long)v->m.generation : 0;
}

int lm_db_path_format(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        lm_set_error("cannot open database %s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISREG(st.st_mode)) return 1;
    if (!S_ISDIR(st.st_mode)) {
        lm_set_error("%s: not a leitmotif database (neither a file nor a directory)", path);
        return -1;
    }
    char *mp = join(path, LM_DB2_MANIFEST);
    if (!mp) return -1;
    int have = lm_file_exists(mp);
    free(mp);
    if (!have) {
        lm_set_error("%s: not a leitmotif database (a directory without %s)", path, LM_DB2_MANIFEST);
        return -1;
    }
    return 2;
}

/* ---------------------------------------------------------------- writing */

/* 0, or -1 with the error set when the folder's fsync fails: what was just renamed or created
 * there is in place but may not survive a crash (as lm_atomic_commit, common/fileio.c; a folder
 * that cannot be opened, or a file system that cannot sync folders, EINVAL/EBADF, is not an
 * error). */
static int fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return 0;
    int rc = 0, err = 0;
    if (fsync(fd) != 0 && errno != EINVAL && errno != EBADF) {
        err = errno;
        lm_set_error("syncing the folder %s failed (%s): what was just written there is in place but may be lost if "
                     "the system crashes or loses power",
                     dir, strerror(errno));
        rc = -1;
    }
    close(fd);
    if (rc) errno = err; /* for callers that say it their way */
    return rc;
}

static int fsync_parent(const char *path) {
    char *copy = dup_str(path);
    if (!copy) return 0;
    char *slash = strrchr(copy, '/');
    int rc;
    if (!slash) rc = fsync_dir(".");
    else {
        if (slash == copy) slash[1] = '\0';
        else *slash = '\0';
        rc = fsync_dir(copy);
    }
    free(copy);
    return rc;
}

/* Removes the files of a flat directory and the directory (an unfinished new database). */
static void remove_flat_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *p = join(dir, e->d_name);
            if (p) unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int manifest_copy(struct lm_db2_manifest *dst, const struct lm_db2_manifest *src) {
    *dst = *src;
    dst->segs = lm_malloc(src->n_segs + 1, sizeof *dst->segs);
    dst->tombs = lm_calloc(src->n_tombs + 1, sizeof *dst->tombs);
    if (!dst->segs || !dst->tombs) {
        free(dst->segs);
        free(dst->tombs);
        memset(dst, 0, sizeof *dst);
        return -1;
    }
    if (src->n_segs) memcpy(dst->segs, src->segs, src->n_segs * sizeof *dst->segs);
    dst->n_tombs = 0;
    for (size_t i = 0; i < src->n_tombs; i++) {
        dst->tombs[i].t = src->tombs[i].t;
        if (!(dst->tombs[i].id = dup_str(src->tombs[i].id))) {
            manifest_free(dst);
            return -1;
        }
        dst->n_tombs = i + 1;
    }
    return 0;
}

static int take_lock(lm_dbw *w, const char *dir) {
    char *lp = join(dir, LM_DB2_LOCK);
    if (!lp) return -1;
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        lm_set_error("%s: cannot write the database: %s", w->path, strerror(errno));
        free(lp);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char pid[32] = "";
        ssize_t got = pread(fd, pid, sizeof pid - 1, 0);
        close(fd);
        free(lp);
        if (err == EWOULDBLOCK) {
            long holder = got > 0 ? strtol(pid, NULL, 10) : 0;
            char who[48] = "";
            if (holder > 0) snprintf(who, sizeof who, " (pid %ld)", holder);
            lm_set_error("%s: another process%s is writing this database; try again when it has finished", w->path,
                         who);
        } else {
            lm_set_error("%s: cannot lock the database: %s", w->path, strerror(err));
        }
        return -1;
    }
    free(lp);
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)len, 0) < 0) { /* the pid is only for messages */
    }
    w->lock_fd = fd;
    return 0;
}

/* Under the lock: temporary files and segments no manifest refers to are what killed writers
 * left behind (a reader that still maps an old segment keeps its pages). */
static void cleanup_dir(const char *dir, const struct lm_db2_manifest *m) {
    char **names;
    int n = lm_list_dir(dir, &names);
    if (n < 0) return;
    int removed = 0;
    for (int i = 0; i < n; i++) {
        int drop = strstr(names[i], ".tmp.") != NULL;
        unsigned long long seq;
        char tail[16];
        if (!drop && sscanf(names[i], "seg-%10llu.%15s", &seq, tail) == 2 && !strcmp(tail, "lmseg")) {
            drop = 1;
            for (size_t k = 0; k < m->n_segs; k++)
                if (m->segs[k].seq == seq) drop = 0;
        }
        if (drop) {
            char *p = join(dir, names[i]);
            if (p && unlink(p) == 0) removed = 1;
            free(p);
        }
        free(names[i]);
    }
    free(names);
    if (removed) (void)fsync_dir(dir); /* leftovers: nothing depends on their removal lasting */
}

int lm_dbw_begin(lm_dbw *w, const char *path, enum lm_feature_type type, uint32_t model_checksum,
                 const char *model_id, const lm_tuning *tuning) {
    return lm_dbw_begin_ex(w, path, type, model_checksum, model_id, tuning, -1);
}

void lm_dbw_set_nn_bf16(lm_dbw *w, int on) {
    if (!w->exists) w->m->nn_bf16 = on != 0;
}

int lm_dbw_begin_ex(lm_dbw *w, const char *path, enum lm_feature_type type, uint32_t model_checksum,
                    const char *model_id, const lm_tuning *tuning, int precision) {
    memset(w, 0, sizeof *w);
    if (precision >= LM_DB_PRECISION_COUNT) {
        lm_set_error("unknown precision %d", precision);
        return -1;
    }
    w->lock_fd = -1;
    w->path = dup_str(path);
    w->m = lm_calloc(1, sizeof *w->m);
    if (!w->path || !w->m) goto fail;
    int f = lm_db_path_format(path);
    if (f < 0) goto fail;
    if (f == 1) {
        lm_set_error("%s is a format-1 database (one file), which this command does not change; convert it with "
                     "'leitmotif upgrade %s NEW_DB'",
                     path, path);
        goto fail;
    }
    if (f == 0) {
        if (!model_id) model_id = "";
        if (strlen(model_id) > LM_DB_MODEL_ID_MAX) {
            lm_set_error("model id '%s' is longer than %d bytes", model_id, LM_DB_MODEL_ID_MAX);
            goto fail;
        }
        w->m->type = type;
        w->m->checksum = model_checksum;
        memcpy(w->m->model_id, model_id, strlen(model_id) + 1);
        if (tuning) w->m->tuning = *tuning;
        w->m->precision = precision < 0 ? LM_DB_F32 : (enum lm_db_precision)precision;
        w->m->scale = w->m->precision == LM_DB_U8 ? LM_DB_U8_SCALE : 0.0f;
        w->m->next_seq = 1;
        return 0;
    }
    if (take_lock(w, path) != 0 || read_manifest(path, w->m) != 0) goto fail;
    if (precision >= 0 && (enum lm_db_precision)precision != w->m->precision) {
        lm_set_error("%s stores its features as %s, not %s; convert it with 'leitmotif compact %s --precision %s'", path,
                     lm_db_precision_name(w->m->precision), lm_db_precision_name((enum lm_db_precision)precision),
                     path, lm_db_precision_name((enum lm_db_precision)precision));
        goto fail;
    }
    w->exists = 1;
    cleanup_dir(path, w->m);
    lm_db db; /* the live ids, read under the lock (directories only) */
    if (lm_db2_open(path, &db) != 0) goto fail;
    w->live = lm_malloc(db.n_docs ? db.n_docs : 1, sizeof *w->live);
    for (size_t k = 0; w->live && k < db.n_docs; k++) {
        if (!(w->live[k] = dup_str(db.docs[k].id))) break;
        w->n_live = k + 1;
    }
    int complete = w->live && w->n_live == db.n_docs;
    if (complete) qsort(w->live, w->n_live, sizeof *w->live, cmp_str_ptr); /* is_live's bsearch */
    lm_db_close(&db);
    if (!complete) goto fail;
    return 0;
fail: {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", lm_last_error());
    lm_dbw_end(w);
    lm_set_error("%s", msg);
    return -1;
}
}

void lm_dbw_end(lm_dbw *w) {
    if (w->tmp_dir) remove_flat_dir(w->tmp_dir);
    if (w->lock_fd >= 0) close(w->lock_fd);
    for (size_t i = 0; i < w->n_live; i++) free(w->live[i]);
    free(w->live);
    free(w->tmp_dir);
    free(w->path);
    if (w->m) manifest_free(w->m);
    free(w->m);
    memset(w, 0, sizeof *w);
    w->lock_fd = -1;
}

/* The manifest's commit (sync_dir as in segment_write). */
static int write_manifest(const char *dir, const struct lm_db2_manifest *m, int sync_dir) {
    size_t n;
    unsigned char *b = manifest_bytes(m, &n);
    char *mp = join(dir, LM_DB2_MANIFEST);
    lm_atomic_file af;
    if (!b || !mp || lm_atomic_open(&af, mp) != 0) {
        free(b);
        free(mp);
        return -1;
    }
    if (fwrite(b, 1, n, af.fp) != n || fflush(af.fp) != 0 || fsync(fileno(af.fp)) != 0) {
        lm_set_error("cannot write %s: %s", mp, strerror(errno));
        lm_atomic_abort(&af);
        free(b);
        free(mp);
        return -1;
    }
    free(b);
    free(mp);
    crash_point("manifest");
    return lm_atomic_commit_ex(&af, sync_dir);
}

static int check_new_docs(const struct lm_db2_manifest *m, const lm_db_doc *docs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const lm_db_doc *d = &docs[i];
        if (!d->id || !d->id[0] || strlen(d->id) > MAX_STRING || !d->path || strlen(d->path) > MAX_STRING ||
            (d->model_id && strlen(d->model_id) > MAX_STRING)) {
            lm_set_error("document %zu: id or path missing or too long", i);
            return -1;
        }
        if (d->type != m->type || d->model_checksum != m->checksum) {
            lm_set_error("document '%s' has other features (%s, model %08x) than the database (%s, model %08x)",
                         d->id, lm_feature_name(d->type), d->model_checksum, lm_feature_name(m->type), m->checksum);
            return -1;
        }
        if (d->T == 0 || (!d->chroma && !d->chroma_u8)) {
            lm_set_error("document '%s' has no feature frames", d->id);
            return -1;
        }
        for (size_t j = 0; j < i; j++) /* commits are small; compaction passes ids known unique */
            if (n < 4096 && !strcmp(docs[j].id, d->id)) {
                lm_set_error("duplicate document id '%s' (%s and %s)", d->id, docs[j].path, d->path);
                return -1;
            }
    }
    return 0;
}


static int is_live(const lm_dbw *w, const char *id) {
    return w->n_live && bsearch(&id, w->live, w->n_live, sizeof *w->live, cmp_str_ptr) != NULL;
}

/* After a commit: drops the ids in gone, adds the new documents' ids. */
static int update_live(lm_dbw *w, const lm_db_doc *docs, size_t n, const char *const *gone, size_t n_gone) {
    char **live = lm_malloc(w->n_live + n + 1, sizeof *live);
    if (!live) return -1;
    size_t k = 0;
    for (size_t i = 0; i < w->n_live; i++) {
        int dropped = 0;
        for (size_t g = 0; g < n_gone && !dropped; g++) dropped = !strcmp(w->live[i], gone[g]);
        if (dropped) free(w->live[i]);
        else live[k++] = w->live[i];
    }
    for (size_t i = 0; i < n; i++)
        if (!(live[k] = dup_str(docs[i].id))) {
            for (size_t j = 0; j < k; j++) free(live[j]);
            free(live);
            free(w->live);
            w->live = NULL;
            w->n_live = 0;
            return -1;
        } else k++;
    free(w->live);
    qsort(live, k, sizeof *live, cmp_str_ptr);
    w->live = live;
    w->n_live = k;
    return 0;
}

int lm_dbw_commit(lm_dbw *w, const lm_db_doc *docs, size_t n, const char *const *gone, size_t n_gone) {
    if (n == 0 && n_gone == 0 && w->exists) return 0;
    if (check_new_docs(w->m, docs, n) != 0) return fail_path(w->path);
    for (size_t i = 0; i < n; i++) {
        if (!is_live(w, docs[i].id)) continue;
        int replaced = 0;
        for (size_t g = 0; g < n_gone && !replaced; g++) replaced = !strcmp(gone[g], docs[i].id);
        if (!replaced) {
            lm_set_error("%s: document id '%s' is already in the database (remove or replace it)", w->path,
                         docs[i].id);
            return -1;
        }
    }
    if (w->m->next_seq > MAX_SEQ) {
        lm_set_error("%s: segment numbers are used up; compact into a new database", w->path);
        return -1;
    }
    const char *dir = w->path;
    if (!w->exists) {
        size_t len = strlen(w->path) + 32;
        free(w->tmp_dir); /* left by a failed first commit before */
        w->tmp_dir = lm_malloc(len, 1);
        if (!w->tmp_dir) return -1;
        snprintf(w->tmp_dir, len, "%s.tmp.%ld", w->path, (long)getpid());
        remove_flat_dir(w->tmp_dir); /* a stale one of a dead process with our pid */
        if (w->lock_fd >= 0) { /* a failed first commit before */
            close(w->lock_fd);
            w->lock_fd = -1;
        }
        if (mkdir(w->tmp_dir, 0755) != 0) {
            lm_set_error("cannot create database %s: %s", w->path, strerror(errno));
            free(w->tmp_dir);
            w->tmp_dir = NULL;
            return -1;
        }
        if (take_lock(w, w->tmp_dir) != 0) return -1;
        dir = w->tmp_dir;
    }
    struct lm_db2_manifest m2;
    if (manifest_copy(&m2, w->m) != 0) return -1;
    uint64_t t = m2.next_seq, seg_seq = 0;
    if (n) {
        seg_entry e;
        if (segment_write(dir, m2.next_seq, &m2, docs, n, &e, w->exists) != 0) {
            manifest_free(&m2);
            return -1;
        }
        crash_point("segment");
        seg_seq = e.seq;
        m2.segs[m2.n_segs++] = e;
        m2.next_seq++;
    }
    for (size_t g = 0; g < n_gone; g++) {
        size_t k = 0;
        while (k < m2.n_tombs && strcmp(m2.tombs[k].id, gone[g]) != 0) k++;
        if (k < m2.n_tombs) {
            if (m2.tombs[k].t < t) m2.tombs[k].t = t;
            continue;
        }
        tomb *nt = realloc(m2.tombs, (m2.n_tombs + 1) * sizeof *nt);
        if (!nt || !(nt[m2.n_tombs].id = dup_str(gone[g]))) {
            if (nt) m2.tombs = nt;
            manifest_free(&m2);
            lm_set_error("out of memory");
            return -1;
        }
        m2.tombs = nt;
        m2.tombs[m2.n_tombs++].t = t;
    }
    m2.generation++;
    int rc = write_manifest(dir, &m2, w->exists);
    if (rc == 0 && !w->exists) { /* one fsync of the new folder makes its segment's and manifest's renames durable */
        if (fsync_dir(dir) != 0) { /* nothing visible yet: the unfinished database is removed */
            lm_set_error("cannot create database %s: syncing its new folder failed (%s); nothing was written", w->path,
                         strerror(errno));
            rc = -1;
        } else if (rename(w->tmp_dir, w->path) != 0) {
            if (errno == EEXIST || errno == ENOTEMPTY || errno == EISDIR || errno == ENOTDIR)
                lm_set_error("%s was created by another process meanwhile; nothing written", w->path);
            else lm_set_error("cannot create database %s: %s", w->path, strerror(errno));
            rc = -1;
        } else {
            if (fsync_parent(w->path) != 0) rc = fail_path(w->path); /* created and complete, but not durable yet */
            free(w->tmp_dir);
            w->tmp_dir = NULL;
            w->exists = 1;
        }
    }
    if (rc != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lm_last_error());
        /* The new segment stays: if the manifest's rename did happen (a failed fsync of the
         * directory after it), it is part of the database; if not, the next writer removes it. */
        (void)seg_seq;
        manifest_free(&m2);
        lm_set_error("%s", msg);
        return -1;
    }
    crash_point("commit");
    manifest_free(w->m);
    *w->m = m2;
    w->commits++;
    return update_live(w, docs, n, gone, n_gone) == 0 ? 0 : -1;
}

int lm_db2_open(const char *path, lm_db *db);

int lm_dbw_compact(lm_dbw *w, size_t *before, size_t *after) { return lm_dbw_compact_ex(w, -1, before, after); }

int lm_dbw_compact_ex(lm_dbw *w, int precision, size_t *before, size_t *after) {
    if (precision >= LM_DB_PRECISION_COUNT) {
        lm_set_error("unknown precision %d", precision);
        return -1;
    }
    if (!w->exists) {
        lm_set_error("cannot open database %s: no such database", w->path);
        return -1;
    }
    lm_db db;
    if (lm_db2_open(w->path, &db) != 0) return -1;
    if (before) *before = w->m->n_segs;
    if (after) *after = w->m->n_segs;
    int convert = precision >= 0 && (enum lm_db_precision)precision != w->m->precision;
    int no_coarse = 0; /* a segment written before segments had coarse (or pre-filter) features: rewrite it */
    for (size_t i = 0; i < db.v2->m.n_segs; i++)
        no_coarse |= !db.v2->segs[i].coarse_at || get_u32(db.v2->segs[i].map + S_PRE_AT) == 0;
    if (w->m->n_segs <= 1 && w->m->n_tombs == 0 && !convert && !no_coarse) {
        lm_db_close(&db);
        return 0;
    }
    if (lm_db_verify_all(&db) != 0) {
        lm_db_close(&db);
        return -1;
    }
    struct lm_db2_manifest m2 = *w->m;
    if (convert) {
        m2.precision = (enum lm_db_precision)precision;
        m2.scale = m2.precision == LM_DB_U8 ? LM_DB_U8_SCALE : 0.0f;
    }
    m2.segs = lm_calloc(1, sizeof *m2.segs);
    m2.tombs = lm_calloc(1, sizeof *m2.tombs);
    m2.n_segs = m2.n_tombs = 0;
    if (!m2.segs || !m2.tombs) {
        manifest_free(&m2);
        lm_db_close(&db);
        return -1;
    }
    int rc = 0;
    if (db.n_docs) {
        if (m2.next_seq > MAX_SEQ) {
            lm_set_error("%s: segment numbers are used up; upgrade into a new database", w->path);
            rc = -1;
        } else {
            rc = segment_write(w->path, m2.next_seq, &m2, db.docs, db.n_docs, &m2.segs[0], 1);
        }
        if (rc == 0) {
            crash_point("segment");
            m2.n_segs = 1;
            m2.next_seq++;
        }
    }
    m2.generation++;
    if (rc == 0 && write_manifest(w->path, &m2, 1) != 0) rc = -1; /* the new segment stays (see lm_dbw_commit) */
    lm_db_close(&db);
    if (rc != 0) {
        manifest_free(&m2);
        return fail_path(w->path);
    }
    crash_point("commit");
    /* Committed. Readers that read the old manifest and find a segment gone read the new one. */
    for (size_t i = 0; i < w->m->n_segs; i++) {
        char name[32];
        seg_name(name, sizeof name, w->m->segs[i].seq);
        char *p = join(w->path, name);
        if (p) unlink(p);
        free(p);
        crash_point("cleanup");
    }
    (void)fsync_dir(w->path); /* the old segments' removal: the new manifest is already durable */
    manifest_free(w->m);
    *w->m = m2;
    w->commits++;
    if (after) *after = m2.n_segs;
    return 0;
}

int lm_db_upgrade(const char *src, const char *dst) { return lm_db_upgrade_ex(src, dst, -1); }

int lm_db_upgrade_ex(const char *src, const char *dst, int precision) {
    int f = lm_db_path_format(dst);
    if (f != 0) {
        if (f > 0) lm_set_error("%s already exists; upgrade writes a new database", dst);
        return -1;
    }
    lm_db db;
    if (lm_db_open(src, &db) != 0) return -1;
    if (lm_db_verify_all(&db) != 0) {
        lm_db_close(&db);
        return -1;
    }
    lm_dbw w;
    int rc = lm_dbw_begin_ex(&w, dst, db.type, db.model_checksum, db.model_id, &db.tuning,
                             precision < 0 ? (int)db.precision : precision);
    if (rc == 0) lm_dbw_set_nn_bf16(&w, db.nn_bf16);
    if (rc == 0) {
        rc = lm_dbw_commit(&w, db.docs, db.n_docs, NULL, 0);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lm_last_error());
        lm_dbw_end(&w);
        if (rc != 0) lm_set_error("%s", msg);
    }
    lm_db_close(&db);
    return rc;
}

/* ---------------------------------------------------------------- fuzzing */

int lm_db2_fuzz_manifest(const unsigned char *bytes, size_t n) {
    struct lm_db2_manifest m;
    if (manifest_parse(bytes, n, &m) != 0) return -1;
    size_t n2;
    unsigned char *again = manifest_bytes(&m, &n2);
    int rc = again && n2 == n && !memcmp(again, bytes, n) ? 0 : 1; /* a parsed manifest writes back identically */
    free(again);
    manifest_free(&m);
    return rc;
}

int lm_db2_fuzz_segment(const unsigned char *manifest, size_t n_manifest, const unsigned char *seg, size_t n_seg) {
    struct lm_db2_manifest m;
    if (manifest_parse(manifest, n_manifest, &m) != 0) return -1;
    int rc = -1;
    if (m.n_segs == 0) lm_set_error("no segment");
    else if (m.segs[0].size != n_seg) lm_set_error("segment size differs");
    else {
        seg_rec *r;
        size_t coarse_at;
        rc = segment_parse(seg, n_seg, &m.segs[0], &m, &r, &coarse_at);
        if (rc == 0) {
            volatile float sum = 0; /* every feature is inside the segment, at either precision */
            const size_t vb = value_bytes(m.precision);
            for (size_t k = 0; k < m.segs[0].n_docs; k++) {
                if (r[k].offset % ALIGN || r[k].offset + NBINS * vb * r[k].T > n_seg) rc = 2;
                else
                    for (size_t i = 0; i < NBINS * r[k].T; i++) {
                        float x;
                        if (m.precision == LM_DB_U8) x = seg[r[k].offset + i] * m.scale;
                        else memcpy(&x, seg + r[k].offset + i * sizeof x, sizeof x);
                        sum += x;
                    }
                size_t Mc = (r[k].T + LM_DB_COARSE - 1) / LM_DB_COARSE; /* and every coarse feature */
                if (r[k].coarse_offset && (r[k].coarse_offset % ALIGN || r[k].coarse_offset + NBINS * vb * Mc > n_seg))
                    rc = 2;
                else if (r[k].coarse_offset)
                    for (size_t i = 0; i < NBINS * vb * Mc; i++) sum += seg[r[k].coarse_offset + i];
            }
            (void)sum;
            free(r);
        }
    }
    manifest_free(&m);
    return rc;
}
