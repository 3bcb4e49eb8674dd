#include "index/db.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"
#include "index/le_bytes.h"
#include "nn/model.h"

/* Layout constants; docs/database.md is the normative description. */
#define HEADER_BYTES 256
#define HEADER_CRC_AT 252
#define RECORD_FIXED 48
#define TRAILER_BYTES 64
#define TRAILER_CRC_AT 60
#define ALIGN 64
#define NBINS 12
#define FRAME_RATE 25
#define MAX_STRING 65535
#define PARALLEL_VERIFY_BYTES (16u << 20)

static const char file_magic[8] = {'L', 'M', 'O', 'T', 'I', 'F', 'D', 'B'};
static const char record_magic[4] = {'D', 'O', 'C', 'R'};
static const char trailer_magic[8] = {'L', 'M', 'D', 'B', 'E', 'N', 'D', '\0'};

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}


static size_t align_up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

static size_t record_header_bytes(size_t id_len, size_t path_len, size_t model_len) {
    return align_up(RECORD_FIXED + id_len + path_len + model_len);
}

/* ---------------------------------------------------------------- writing */

static int cmp_doc_ptr_id(const void *a, const void *b) {
    return strcmp((*(const lm_db_doc *const *)a)->id, (*(const lm_db_doc *const *)b)->id);
}

static int check_docs(enum lm_feature_type type, uint32_t checksum, const lm_db_doc *docs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const lm_db_doc *d = &docs[i];
        if (!d->id || !d->id[0] || strlen(d->id) > MAX_STRING || !d->path || strlen(d->path) > MAX_STRING ||
            (d->model_id && strlen(d->model_id) > MAX_STRING)) {
            lm_set_error("document %zu: id or path missing or too long", i);
            return -1;
        }
        if (d->type != type || d->model_checksum != checksum) {
            lm_set_error("document '%s' has other features (%s, model %08x) than the database (%s, model %08x)",
                         d->id, lm_feature_name(d->type), d->model_checksum, lm_feature_name(type), checksum);
            return -1;
        }
        if (d->T == 0 || !d->chroma) {
            lm_set_error("document '%s' has no feature frames", d->id);
            return -1;
        }
    }
    const lm_db_doc **sorted = lm_malloc(n, sizeof *sorted);
    if (!sorted) return -1;
    for (size_t i = 0; i < n; i++) sorted[i] = &docs[i];
    qsort(sorted, n, sizeof *sorted, cmp_doc_ptr_id);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (!strcmp(sorted[i - 1]->id, sorted[i]->id)) {
            lm_set_error("duplicate document id '%s' (%s and %s)", sorted[i]->id, sorted[i - 1]->path,
                         sorted[i]->path);
            rc = -1;
        }
    free(sorted);
    return rc;
}

static int write_bytes(FILE *fp, const void *p, size_t n, size_t *offset) {
    if (n && fwrite(p, 1, n, fp) != n) {
        lm_set_error("write failed: %s", strerror(errno));
        return -1;
    }
    *offset += n;
    return 0;
}

static int write_record(FILE *fp, const lm_db_doc *d, size_t *offset, uint32_t *crc_of_crcs) {
    const char *model_id = d->model_id ? d->model_id : "";
    size_t id_len = strlen(d->id), path_len = strlen(d->path), model_len = strlen(model_id);
    size_t hbytes = record_header_bytes(id_len, path_len, model_len);
    unsigned char *h = lm_calloc(hbytes, 1);
    if (!h) return -1;
    memcpy(h, record_magic, 4);
    put_u32(h + 4, (uint32_t)hbytes);
    put_u64(h + 8, d->T);
    put_f64(h + 16, d->duration);
    put_u32(h + 24, (uint32_t)d->type);
    put_u32(h + 28, d->model_checksum);
    put_u32(h + 32, (uint32_t)id_len);
    put_u32(h + 36, (uint32_t)path_len);
    put_u32(h + 40, (uint32_t)model_len);
    put_f32(h + 44, d->tuning);
    memcpy(h + RECORD_FIXED, d->id, id_len);
    memcpy(h + RECORD_FIXED + id_len, d->path, path_len);
    memcpy(h + RECORD_FIXED + id_len + path_len, model_id, model_len);
    size_t fbytes = NBINS * d->T * sizeof(float);
    uint32_t crc = lm_crc32(lm_crc32(0, h, hbytes), d->chroma, fbytes);
    unsigned char tail[ALIGN] = {0};
    put_u32(tail, crc);
    size_t tail_bytes = align_up(hbytes + fbytes + 4) - hbytes - fbytes;
    int rc = write_bytes(fp, h, hbytes, offset);
    free(h);
    if (rc == 0) rc = write_bytes(fp, d->chroma, fbytes, offset);
    if (rc == 0) rc = write_bytes(fp, tail, tail_bytes, offset);
    *crc_of_crcs = lm_crc32(*crc_of_crcs, tail, 4);
    return rc;
}

int lm_db_write(const char *path, enum lm_feature_type type, uint32_t model_checksum, const char *model_id,
                const lm_db_doc *docs, size_t n) {
    return lm_db_write_ex(path, type, model_checksum, model_id, NULL, docs, n);
}

int lm_db_write_ex(const char *path, enum lm_feature_type type, uint32_t model_checksum, const char *model_id,
                   const lm_tuning *tuning, const lm_db_doc *docs, size_t n) {
    if (!host_is_little_endian()) {
        lm_set_error("%s: databases are little-endian; big-endian hosts are not supported", path);
        return -1;
    }
    if (!model_id) model_id = "";
    if (strlen(model_id) > LM_DB_MODEL_ID_MAX) {
        lm_set_error("model id '%s' is longer than %d bytes", model_id, LM_DB_MODEL_ID_MAX);
        return -1;
    }
    if (check_docs(type, model_checksum, docs, n) != 0) return -1;

    unsigned char header[HEADER_BYTES] = {0};
    memcpy(header, file_magic, 8);
    put_u32(header + 8, LM_DB_VERSION);
    put_u32(header + 12, HEADER_BYTES);
    put_u32(header + 16, (uint32_t)type);
    put_u32(header + 20, model_checksum);
    put_u32(header + 24, NBINS);
    put_u32(header + 28, FRAME_RATE);
    put_u64(header + 32, n);
    memcpy(header + 48, model_id, strlen(model_id));
    if (tuning && tuning->mode != LM_TUNING_OFF) {
        put_u32(header + 248, (uint32_t)tuning->mode);
        if (tuning->mode == LM_TUNING_FIXED) put_f64(header + 40, tuning->semitones);
    }
    put_u32(header + HEADER_CRC_AT, lm_crc32(0, header, HEADER_CRC_AT));

    lm_atomic_file af;
    if (lm_atomic_open(&af, path) != 0) return -1;
    size_t offset = 0, total_frames = 0;
    uint32_t crc_of_crcs = 0;
    int rc = write_bytes(af.fp, header, HEADER_BYTES, &offset);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = write_record(af.fp, &docs[i], &offset, &crc_of_crcs);
        total_frames += docs[i].T;
    }
    if (rc == 0) {
        unsigned char trailer[TRAILER_BYTES] = {0};
        memcpy(trailer, trailer_magic, 8);
        put_u64(trailer + 8, n);
        put_u64(trailer + 16, total_frames);
        put_u64(trailer + 24, offset + TRAILER_BYTES);
        put_u32(trailer + 32, crc_of_crcs);
        put_u32(trailer + TRAILER_CRC_AT, lm_crc32(0, trailer, TRAILER_CRC_AT));
        rc = write_bytes(af.fp, trailer, TRAILER_BYTES, &offset);
    }
    if (rc != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lm_last_error());
        lm_atomic_abort(&af);
        lm_set_error("%s: %s", path, msg);
        return -1;
    }
    return lm_atomic_commit(&af);
}

/* ---------------------------------------------------------------- reading */

/* Copies a string from the file for an error message, replacing unprintable bytes. */
static void printable(char *out, size_t cap, const unsigned char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) out[k++] = (s[i] >= 32 && s[i] < 127) ? (char)s[i] : '?';
    out[k] = '\0';
}

typedef struct {
    size_t offset, hbytes, T, id_len, path_len, model_len, size;
} record_span;

/* Validates the fixed part of record k at offset; the CRC is checked separately. */
static int parse_record(const unsigned char *base, size_t end, size_t offset, size_t k, record_span *r) {
    if (end - offset < RECORD_FIXED || memcmp(base + offset, record_magic, 4) != 0) {
        lm_set_error("record %zu at byte %zu is damaged (bad record marker)", k + 1, offset);
        return -1;
    }
    const unsigned char *h = base + offset;
    r->offset = offset;
    r->hbytes = get_u32(h + 4);
    uint64_t T = get_u64(h + 8);
    r->id_len = get_u32(h + 32);
    r->path_len = get_u32(h + 36);
    r->model_len = get_u32(h + 40);
    size_t room = end - offset;
    if (r->id_len == 0 || r->id_len > MAX_STRING || r->path_len > MAX_STRING || r->model_len > MAX_STRING ||
        r->hbytes != record_header_bytes(r->id_len, r->path_len, r->model_len) || r->hbytes > room ||
        T == 0 || T > (room - r->hbytes) / (NBINS * sizeof(float))) {
        lm_set_error("record %zu at byte %zu is damaged (impossible sizes)", k + 1, offset);
        return -1;
    }
    r->T = (size_t)T;
    r->size = align_up(r->hbytes + NBINS * r->T * sizeof(float) + 4);
    if (r->size > room) {
        lm_set_error("record %zu at byte %zu is damaged (runs past the end)", k + 1, offset);
        return -1;
    }
    return 0;
}

/* CRC of the record, and zero padding after it: then every flipped bit is noticed. */
static int verify_record(const unsigned char *base, const record_span *r) {
    size_t body = r->hbytes + NBINS * r->T * sizeof(float);
    for (size_t i = body + 4; i < r->size; i++)
        if (base[r->offset + i] != 0) return -1;
    return lm_crc32(0, base + r->offset, body) == get_u32(base + r->offset + body) ? 0 : -1;
}

/* ---- lookup by id: open addressing (linear probing) on a 64-bit FNV-1a hash, built in one
 * pass at open; it also finds a duplicate id. A sort of the ids did both before, and took 35 %
 * of opening a 10 000-hour archive (222 979 ids with long common prefixes, perf). A slot holds
 * the document's index + 1 in its low ID_INDEX_BITS and the hash's top bits above them, so
 * that a probe reads a document's id only when those agree. */
#define ID_INDEX_BITS 40
#define ID_INDEX_MASK (((uint64_t)1 << ID_INDEX_BITS) - 1)
#define ID_TAG(h) (((h) >> ID_INDEX_BITS) << ID_INDEX_BITS)
static uint64_t id_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3u;
    return h ^ (h >> 29);
}

int lm_db_index_ids(lm_db *db, size_t *first, size_t *second); /* for db2.c */
int lm_db_index_ids(lm_db *db, size_t *first, size_t *second) {
    size_t cap = 16;
    while (cap < 2 * db->n_docs) cap *= 2;
    free(db->id_slots);
    db->id_slots = lm_calloc(cap, sizeof *db->id_slots);
    if (!db->id_slots) return -1;
    db->id_mask = cap - 1;
    for (size_t k = 0; k < db->n_docs; k++) {
        uint64_t h = id_hash(db->docs[k].id);
        size_t i = (size_t)h & db->id_mask;
        uint64_t tag = ID_TAG(h);
        for (; db->id_slots[i]; i = (i + 1) & db->id_mask) {
            size_t j = (size_t)(db->id_slots[i] & ID_INDEX_MASK) - 1;
            if ((db->id_slots[i] & ~ID_INDEX_MASK) == tag && !strcmp(db->docs[j].id, db->docs[k].id)) {
                *first = j, *second = k;
                return 1;
            }
        }
        db->id_slots[i] = tag | (uint64_t)(k + 1);
    }
    return 0;
}

static int fail(const char *path, const char *what) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", what);
    lm_set_error("%s: %s", path, msg);
    return -1;
}

static int open_mapped(const char *path, const unsigned char *base, size_t size, lm_db *db) {
    char buf[512];
    if (size < 8 || memcmp(base, file_magic, 8) != 0) return fail(path, "not a leitmotif database (bad magic)");
    if (size < HEADER_BYTES + TRAILER_BYTES) return fail(path, "database is truncated (shorter than its header)");
    if (get_u32(base + HEADER_CRC_AT) != lm_crc32(0, base, HEADER_CRC_AT))
        return fail(path, "database header is corrupt (CRC mismatch)");
    uint32_t version = get_u32(base + 8);
    if (version != LM_DB_VERSION) {
        snprintf(buf, sizeof buf, "database version %u is not supported (this build reads version %d)", version,
                 LM_DB_VERSION);
        return fail(path, buf);
    }
    uint32_t type = get_u32(base + 16);
    if (get_u32(base + 12) != HEADER_BYTES || get_u32(base + 24) != NBINS || get_u32(base + 28) != FRAME_RATE ||
        type >= LM_FEAT_COUNT || base[48 + LM_DB_MODEL_ID_MAX] != '\0')
        return fail(path, "database header has unsupported values");
    db->type = (enum lm_feature_type)type;
    db->model_checksum = get_u32(base + 20);
    memcpy(db->model_id, base + 48, LM_DB_MODEL_ID_MAX + 1);
    /* tuning mode (0 in databases made before it existed: off) */
    uint32_t tuning_mode = get_u32(base + 248);
    double fixed = get_f64(base + 40);
    if (tuning_mode > LM_TUNING_FIXED || (tuning_mode == LM_TUNING_FIXED ? !(fabs(fixed) <= 0.5) : fixed != 0))
        return fail(path, "database header has an unknown tuning mode (made by a newer leitmotif?)");
    db->tuning.mode = (enum lm_tuning_mode)tuning_mode;
    db->tuning.semitones = tuning_mode == LM_TUNING_FIXED ? fixed : 0;
    uint64_t n_docs = get_u64(base + 32);

    const unsigned char *tr = base + size - TRAILER_BYTES;
    if (memcmp(tr, trailer_magic, 8) != 0)
        return fail(path, "database is truncated or damaged (end marker missing; was a write interrupted?)");
    if (get_u32(tr + TRAILER_CRC_AT) != lm_crc32(0, tr, TRAILER_CRC_AT))
        return fail(path, "database end marker is corrupt (CRC mismatch)");
    if (get_u64(tr + 24) != size) {
        snprintf(buf, sizeof buf, "database is %zu bytes but its end marker says %llu: truncated or damaged", size,
                 (unsigned long long)get_u64(tr + 24));
        return fail(path, buf);
    }
    if (get_u64(tr + 8) != n_docs || n_docs > size / ALIGN)
        return fail(path, "database header and end marker disagree on the document count");

    record_span *spans = lm_malloc(n_docs, sizeof *spans);
    if (!spans) return -1;
    size_t offset = HEADER_BYTES, end = size - TRAILER_BYTES, total = 0;
    uint32_t crc_of_crcs = 0;
    for (size_t k = 0; k < n_docs; k++) {
        if (parse_record(base, end, offset, k, &spans[k]) != 0) {
            free(spans);
            return fail(path, lm_last_error());
        }
        offset += spans[k].size;
        total += spans[k].T;
        crc_of_crcs = lm_crc32(crc_of_crcs, base + spans[k].offset + spans[k].hbytes + NBINS * spans[k].T * 4, 4);
    }
    if (offset != end || get_u64(tr + 16) != total || get_u32(tr + 32) != crc_of_crcs) {
        free(spans);
        return fail(path, "database records do not match its end marker (damaged)");
    }

    /* Checking every byte is most of the open time for a large database: spread it over
     * the threads (not worth starting them for a small one). */
    long bad = -1;
    lm_crc32(0, "", 0); /* builds the CRC table before threads share it */
#pragma omp parallel for schedule(dynamic, 8) if (size > PARALLEL_VERIFY_BYTES)
    for (size_t k = 0; k < n_docs; k++)
        if (verify_record(base, &spans[k]) != 0) {
#pragma omp critical(lm_db_bad)
            if (bad < 0 || (long)k < bad) bad = (long)k;
        }
    if (bad >= 0) {
        char id[80];
        const record_span *r = &spans[bad];
        printable(id, sizeof id, base + r->offset + RECORD_FIXED, r->id_len < 64 ? r->id_len : 64);
        snprintf(buf, sizeof buf, "record %ld (id '%s') is corrupt (CRC mismatch)", bad + 1, id);
        free(spans);
        return fail(path, buf);
    }

    db->docs = lm_calloc(n_docs ? n_docs : 1, sizeof *db->docs);
    if (!db->docs) {
        free(spans);
        return -1;
    }
    db->n_docs = n_docs;
    db->total_frames = total;
    for (size_t k = 0; k < n_docs; k++) {
        const record_span *r = &spans[k];
        const unsigned char *h = base + r->offset;
        lm_db_doc *d = &db->docs[k];
        /* One allocation per document holds its three NUL-terminated strings. */
        char *s = lm_malloc(r->id_len + r->path_len + r->model_len + 3, 1);
        if (!s) {
            free(spans);
            return -1;
        }
        memcpy(s, h + RECORD_FIXED, r->id_len);
        s[r->id_len] = '\0';
        d->id = s;
        memcpy(s + r->id_len + 1, h + RECORD_FIXED + r->id_len, r->path_len);
        s[r->id_len + 1 + r->path_len] = '\0';
        d->path = s + r->id_len + 1;
        memcpy(s + r->id_len + r->path_len + 2, h + RECORD_FIXED + r->id_len + r->path_len, r->model_len);
        s[r->id_len + r->path_len + 2 + r->model_len] = '\0';
        d->model_id = s + r->id_len + r->path_len + 2;
        d->duration = get_f64(h + 16);
        d->type = (enum lm_feature_type)get_u32(h + 24);
        d->model_checksum = get_u32(h + 28);
        d->tuning = get_f32(h + 44);
        d->T = r->T;
        d->chroma = (const float *)(const void *)(h + r->hbytes);
        if (d->type != db->type || d->model_checksum != db->model_checksum || strlen(d->id) != r->id_len ||
            !(fabsf(d->tuning) <= 0.5f) || (db->tuning.mode == LM_TUNING_OFF && d->tuning != 0)) {
            snprintf(buf, sizeof buf, "record %zu (id '%s') disagrees with the database header", k + 1, d->id);
            free(spans);
            return fail(path, buf);
        }
    }
    free(spans);
    size_t a, b;
    int dup = lm_db_index_ids(db, &a, &b);
    if (dup < 0) return -1;
    if (dup) {
        snprintf(buf, sizeof buf, "duplicate document id '%s'", db->docs[b].id);
        return fail(path, buf);
    }
    return 0;
}

int lm_db2_open(const char *path, lm_db *db);
void lm_db2_close(lm_db *db);

struct lm_db_kept {
    uint8_t **bytes; /* n_docs */
    size_t used;     /* atomic */
};

/* The kept bytes' table: an empty one per database opened (none when out of memory: then
 * nothing is kept). */
static void kept_init(lm_db *db) {
    struct lm_db_kept *kp = calloc(1, sizeof *kp);
    if (kp && !(kp->bytes = calloc(db->n_docs ? db->n_docs : 1, sizeof *kp->bytes))) {
        free(kp);
        kp = NULL;
    }
    db->kept = kp;
}

static void kept_free(lm_db *db) {
    if (!db->kept) return;
    for (size_t k = 0; k < db->n_docs; k++) free(db->kept->bytes[k]);
    free(db->kept->bytes);
    free(db->kept);
    db->kept = NULL;
}

const uint8_t *lm_db_kept_coarse_u8(const lm_db *db, size_t k) {
    return db->kept && k < db->n_docs ? __atomic_load_n(&db->kept->bytes[k], __ATOMIC_ACQUIRE) : NULL;
}

int lm_db_keep_coarse_u8(const lm_db *db, size_t k, uint8_t *bytes) {
    if (!db->kept || k >= db->n_docs || !bytes) return 0;
    size_t size = NBINS * ((db->docs[k].T + LM_DB_COARSE - 1) / LM_DB_COARSE);
    if (__atomic_add_fetch(&db->kept->used, size, __ATOMIC_RELAXED) > LM_DB_KEPT_MAX) {
        __atomic_sub_fetch(&db->kept->used, size, __ATOMIC_RELAXED);
        return 0;
    }
    uint8_t *none = NULL; /* the first offer of a document wins; the bytes are written before */
    if (__atomic_compare_exchange_n(&db->kept->bytes[k], &none, bytes, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        return 1;
    __atomic_sub_fetch(&db->kept->used, size, __ATOMIC_RELAXED);
    return 0;
}

size_t lm_db_kept_bytes(const lm_db *db) { return db->kept ? __atomic_load_n(&db->kept->used, __ATOMIC_RELAXED) : 0; }

static int open_any(const char *path, lm_db *db);

int lm_db_open(const char *path, lm_db *db) {
    int rc = open_any(path, db);
    if (rc == 0) kept_init(db);
    return rc;
}

static int open_any(const char *path, lm_db *db) {
    memset(db, 0, sizeof *db);
    if (!host_is_little_endian()) {
        lm_set_error("%s: databases are little-endian; big-endian hosts are not supported", path);
        return -1;
    }
    struct stat dst;
    if (stat(path, &dst) == 0 && S_ISDIR(dst.st_mode)) return lm_db2_open(path, db);
    db->format = 1;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        lm_set_error("cannot open database %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        lm_set_error("%s: not a regular file", path);
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    if (size == 0) {
        close(fd);
        return fail(path, "not a leitmotif database (empty file)");
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        lm_set_error("cannot map %s: %s", path, strerror(errno));
        return -1;
    }
    db->map = map;
    db->map_size = size;
    if (open_mapped(path, map, size, db) != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lm_last_error());
        lm_db_close(db);
        lm_set_error("%s", msg);
        return -1;
    }
    return 0;
}

void lm_db_close(lm_db *db) {
    kept_free(db);
    if (db->docs && !db->v2) /* format 2's strings are in blocks per segment (db2.c) */
        for (size_t k = 0; k < db->n_docs; k++) free((char *)db->docs[k].id);
    free(db->docs);
    free(db->id_slots);
    if (db->map) munmap(db->map, db->map_size);
    if (db->v2) lm_db2_close(db);
    memset(db, 0, sizeof *db);
}

long lm_db_find(const lm_db *db, const char *id) {
    if (!db->id_slots) { /* a part's view (lm_db_part) has no table */
        for (size_t k = 0; k < db->n_docs; k++)
            if (!strcmp(db->docs[k].id, id)) return (long)k;
        return -1;
    }
    uint64_t h = id_hash(id);
    for (size_t i = (size_t)h & db->id_mask; db->id_slots[i]; i = (i + 1) & db->id_mask) {
        size_t j = (size_t)(db->id_slots[i] & ID_INDEX_MASK) - 1;
        if ((db->id_slots[i] & ~ID_INDEX_MASK) == ID_TAG(h) && !strcmp(db->docs[j].id, id)) return (long)j;
    }
    return -1;
}

int lm_db_part(const lm_db *db, int part, int n_parts, lm_db *view, size_t **orig) {
    memset(view, 0, sizeof *view);
    *orig = NULL;
    if (n_parts < 1 || part < 0 || part >= n_parts) {
        lm_set_error("part %d of %d: no such part", part, n_parts);
        return -1;
    }
    size_t n = db->n_docs / (size_t)n_parts + 1;
    view->docs = lm_malloc(n, sizeof *view->docs);
    *orig = lm_malloc(n, sizeof **orig);
    if (!view->docs || !*orig) {
        lm_db_part_free(view, *orig);
        *orig = NULL;
        return -1;
    }
    view->type = db->type;
    view->model_checksum = db->model_checksum;
    memcpy(view->model_id, db->model_id, sizeof view->model_id);
    view->tuning = db->tuning;
    view->format = db->format;
    view->precision = db->precision; /* map, id_slots and v2 stay NULL: the view owns nothing of db */
    for (size_t k = (size_t)part; k < db->n_docs; k += (size_t)n_parts) {
        if (lm_db_verify_doc(db, k) != 0) {
            lm_db_part_free(view, *orig);
            *orig = NULL;
            return -1;
        }
        (*orig)[view->n_docs] = k;
        view->docs[view->n_docs++] = db->docs[k];
        view->total_frames += db->docs[k].T;
    }
    return 0;
}

void lm_db_part_free(lm_db *view, size_t *orig) {
    free(view->docs); /* the strings and features belong to the database */
    memset(view, 0, sizeof *view);
    free(orig);
}
