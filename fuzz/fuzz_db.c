/* libFuzzer target for feature databases (index/db.h lm_db_open, formats 1 and 2 of
 * docs/database.md). Any input must open as a database whose documents keep the documented
 * invariants, or give a one-line error naming the file; never a crash, leak or undefined
 * behaviour.
 *
 * Every part of a database is under a CRC, so mutated files would almost never get past the
 * first check: byte 0 odd makes the target recompute the CRCs before writing the files; byte 0
 * even writes the rest as is.
 * Byte 0 & 2 clear: format 1, the rest is the file (the header CRC, each record's CRC for the
 * records whose sizes it can follow, the CRC of CRCs and the end marker's CRC are fixed).
 * Byte 0 & 2 set: format 2, the rest is a 2-byte little-endian manifest length L, L bytes of
 * manifest and the bytes of one segment, written as MANIFEST and seg-0000000001.lmseg of a
 * database folder (fixed: the manifest's header and whole-file CRCs, the segment's header and
 * directory CRCs, and the manifest's first segment entry: number 1, the segment's size and CRC).
 * The in-memory parsers (lm_db2_fuzz_manifest, lm_db2_fuzz_segment) run on the same bytes: a
 * manifest that parses must write back byte for byte.
 * Seeds (fuzz/seeds.sh): small databases made by `leitmotif index`.
 * Run: fuzz/run db [SECONDS]. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "index/db.h"
#include "nn/model.h"

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static size_t align64(size_t n) { return (n + 63) / 64 * 64; }

/* The writer's CRCs over whatever the bytes say (layout constants of docs/database.md). */
static void fix_crcs(uint8_t *f, size_t n) {
    if (n < 256 + 64) return;
    wr32(f + 252, lm_crc32(0, f, 252));
    size_t off = 256, end = n - 64;
    uint32_t crc_of_crcs = 0;
    while (end - off >= 48 && !memcmp(f + off, "DOCR", 4)) {
        size_t hbytes = rd32(f + off + 4);
        uint64_t T = rd64(f + off + 8);
        if (hbytes > end - off || T > (end - off - hbytes) / 48) break;
        size_t body = hbytes + 48 * (size_t)T;
        size_t size = align64(body + 4);
        if (size > end - off) break;
        wr32(f + off + body, lm_crc32(0, f + off, body));
        crc_of_crcs = lm_crc32(crc_of_crcs, f + off + body, 4);
        off += size;
    }
    wr32(f + end + 32, crc_of_crcs);
    wr32(f + end + 60, lm_crc32(0, f + end, 60));
}

static void wr64(uint8_t *p, uint64_t v) {
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

/* Format 2: the writer's CRCs over whatever the bytes say (layout of docs/database.md). */
static void fix_crcs2(uint8_t *m, size_t nm, uint8_t *seg, size_t ns) {
    if (ns >= 128) {
        wr64(seg + 16, 1);
        wr32(seg + 124, lm_crc32(0, seg, 124));
        uint32_t D = rd32(seg + 36);
        if (D <= ns - 128 && ns - 128 - D >= 4) wr32(seg + 128 + D, lm_crc32(0, seg + 128, D));
    }
    if (nm < 320 + 8) return;
    if (rd32(m + 48) >= 1 && nm >= 320 + 48 + 8) {
        wr64(m + 320, 1);
        wr64(m + 320 + 8, ns);
        wr32(m + 320 + 28, lm_crc32(0, seg, ns));
    }
    wr32(m + 316, lm_crc32(0, m, 316));
    wr32(m + nm - 4, lm_crc32(0, m, nm - 4));
}

static int fuzz_v2(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    size_t nm = (size_t)data[1] | (size_t)data[2] << 8;
    if (nm > size - 3) nm = size - 3;
    size_t ns = size - 3 - nm;
    uint8_t *m = malloc(nm ? nm : 1), *seg = malloc(ns ? ns : 1);
    if (!m || !seg) {
        free(m);
        free(seg);
        return 0;
    }
    memcpy(m, data + 3, nm);
    memcpy(seg, data + 3 + nm, ns);
    if (data[0] & 1) fix_crcs2(m, nm, seg, ns);
    lm_clear_error();
    int prc = lm_db2_fuzz_manifest(m, nm);
    CHECK(prc == 0 || prc == -1); /* 1: parsed, but did not write back identically */
    if (prc != 0) fz_check_error();
    int src = lm_db2_fuzz_segment(m, nm, seg, ns);
    CHECK(src == 0 || src == -1); /* 2: a feature block outside the segment */
    fz_write("MANIFEST", m, nm);
    fz_write("seg-0000000001.lmseg", seg, ns);
    free(m);
    free(seg);
    const char *path = fz_tmpdir();
    lm_db db;
    lm_clear_error();
    if (lm_db_open(path, &db) != 0) {
        fz_check_error();
        CHECK(strstr(lm_last_error(), path) != NULL);
        CHECK(db.docs == NULL && db.v2 == NULL);
        return 0;
    }
    CHECK(db.format == 2 && db.type < LM_FEAT_COUNT && strlen(db.model_id) <= LM_DB_MODEL_ID_MAX);
    size_t total = 0;
    for (size_t k = 0; k < db.n_docs; k++) {
        const lm_db_doc *d = &db.docs[k];
        /* float32 or compact (u8), as the manifest says, never both */
        CHECK(d->id && d->id[0] && d->path && d->model_id && d->T >= 1 && !d->chroma != !d->chroma_u8);
        CHECK(db.precision == (d->chroma_u8 ? LM_DB_U8 : LM_DB_F32));
        CHECK(((uintptr_t)(d->chroma ? (const void *)d->chroma : (const void *)d->chroma_u8)) % 64 == 0);
        volatile float sum = 0; /* every frame is readable (mapped), checked or not */
        for (size_t i = 0; i < 12 * d->T; i++) sum += d->chroma ? d->chroma[i] : d->chroma_u8[i] * d->scale;
        (void)sum;
        float *own = NULL; /* the float view of a compact document has its values */
        const float *x = lm_db_doc_features(d, &own);
        CHECK(x != NULL && (!d->chroma_u8 || x[12 * d->T - 1] == d->chroma_u8[12 * d->T - 1] * d->scale));
        free(own);
        CHECK(lm_db_find(&db, d->id) == (long)k);
        total += d->T;
    }
    CHECK(total == db.total_frames);
    lm_clear_error();
    if (lm_db_verify_all(&db) != 0) {
        fz_check_error();
        CHECK(lm_db_check(&db, path, NULL) >= 1);
    }
    lm_db_close(&db);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1u << 20)) return 0;
    if (data[0] & 2) return fuzz_v2(data, size);
    size_t n = size - 1;
    uint8_t *file = malloc(n ? n : 1);
    if (!file) return 0;
    memcpy(file, data + 1, n);
    if (data[0] & 1) fix_crcs(file, n);
    const char *path = fz_write("features.lmdb", file, n);
    free(file);

    lm_db db;
    lm_clear_error();
    if (lm_db_open(path, &db) != 0) {
        fz_check_error();
        CHECK(strstr(lm_last_error(), path) != NULL);
        CHECK(db.docs == NULL && db.map == NULL);
        return 0;
    }
    CHECK(db.type < LM_FEAT_COUNT && strlen(db.model_id) <= LM_DB_MODEL_ID_MAX);
    size_t total = 0;
    for (size_t k = 0; k < db.n_docs; k++) {
        const lm_db_doc *d = &db.docs[k];
        CHECK(d->id && d->id[0] && d->path && d->model_id && d->T >= 1 && d->chroma);
        CHECK(d->type == db.type && d->model_checksum == db.model_checksum);
        CHECK((const uint8_t *)d->chroma >= (const uint8_t *)db.map &&
              (const uint8_t *)(d->chroma + 12 * d->T) <= (const uint8_t *)db.map + db.map_size);
        volatile float sum = 0; /* every frame is readable */
        for (size_t i = 0; i < 12 * d->T; i++) sum += d->chroma[i];
        (void)sum;
        CHECK(lm_db_find(&db, d->id) == (long)k);
        total += d->T;
    }
    CHECK(total == db.total_frames);
    CHECK(lm_db_find(&db, "\x01 no such id") == -1);
    lm_db_close(&db);
    return 0;
}
