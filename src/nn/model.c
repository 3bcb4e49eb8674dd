#include "nn/model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libdeflate.h>

#include "common/error.h"
#include "common/fileio.h"

#define HEADER_BYTES 4096

const char *const lm_tensor_names[LM_MODEL_NTENSORS] = {
    "bendy1.kernel",     "bendy1.bias",     "bendy2.kernel",     "bendy2.bias",   "smoothy1.kernel",
    "smoothy1.bias",     "smoothy2.kernel", "smoothy2.bias",     "distribute.kernel", "distribute.bias",
    "squishy.kernel",    "squishy.bias",    "chroma_pool.kernel", "eps_pool.kernel", "eps_pool.bias"};

const int lm_tensor_shapes[LM_MODEL_NTENSORS][4] = {
    {3, 3, 6, 64}, {64}, {3, 3, 64, 32}, {32}, {3, 3, 32, 32}, {32}, {3, 3, 32, 32}, {32},
    {3, 42, 32, 8}, {8}, {1, 1, 8, 1},  {1},  {216, 12},      {216, 1}, {1}};

const size_t lm_tensor_counts[LM_MODEL_NTENSORS] = {3456, 64, 18432, 32, 9216, 32, 9216, 32,
                                                    32256, 8, 8, 1, 2592, 216, 1};

/* Standard CRC-32 (IEEE 802.3, as zlib's and gzip's) from libdeflate, which uses the CPU's
 * carry-less multiplication (PCLMULQDQ, VPCLMULQDQ) where it has it: 4-7 GB/s on one core of
 * the project machine against 1.0-1.3 GB/s for zlib 1.2.13's crc32, with the same values. The
 * checksums of a large archive's segments are most of the first search's extra time. */
uint32_t lm_crc32(uint32_t crc, const void *data, size_t n) { return libdeflate_crc32(crc, data, n); }

void lm_model_set_pointers(lm_model *m) {
    size_t off = 0;
    for (int i = 0; i < LM_MODEL_NTENSORS; i++) {
        m->t[i] = m->w + off;
        off += lm_tensor_counts[i];
    }
}

static void shape_string(const int shape[4], char *buf, size_t n) {
    int len = 0;
    buf[0] = '\0';
    for (int d = 0; d < 4 && shape[d]; d++) len += snprintf(buf + len, n - (size_t)len, d ? "x%d" : "%d", shape[d]);
}

static const lm_flat_arch chroma_arch = {"deep chroma network", LM_MODEL_NTENSORS, lm_tensor_names, lm_tensor_shapes,
                                         lm_tensor_counts};

static size_t arch_floats(const lm_flat_arch *a) {
    size_t n = 0;
    for (int i = 0; i < a->n_tensors; i++) n += a->counts[i];
    return n;
}

/* Parses and checks the header against the fixed architecture. */
static int check_header(const char *path, const lm_flat_arch *arch, char *hdr) {
    if (strncmp(hdr, "FLATWEIGHTS 1\n", 14) != 0) {
        lm_set_error("%s: not a model file (missing 'FLATWEIGHTS 1' header)", path);
        return -1;
    }
    int seen = 0, have_end = 0;
    size_t expect_off = 0;
    for (char *line = strtok(hdr, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strcmp(line, "END")) {
            have_end = 1;
            break;
        }
        if (!strncmp(line, "dtype ", 6) && strcmp(line + 6, "float32_le") != 0) {
            lm_set_error("%s: unsupported dtype '%s'", path, line + 6);
            return -1;
        }
        if (!strncmp(line, "num_tensors ", 12) && atoi(line + 12) != arch->n_tensors) {
            lm_set_error("%s: model has %d tensors, the %s needs %d (wrong architecture?)", path, atoi(line + 12),
                         arch->what, arch->n_tensors);
            return -1;
        }
        if (strncmp(line, "tensor ", 7) != 0) continue;
        int idx;
        char name[64], shape[64];
        unsigned long long off, count;
        if (sscanf(line, "tensor %d %63s shape %63s offset %llu count %llu", &idx, name, shape, &off, &count) != 5 ||
            idx != seen || idx >= arch->n_tensors) {
            lm_set_error("%s: malformed tensor line '%s'", path, line);
            return -1;
        }
        char want[64];
        shape_string(arch->shapes[idx], want, sizeof want);
        if (strcmp(name, arch->names[idx]) != 0 || strcmp(shape, want) != 0 || count != arch->counts[idx] ||
            off != expect_off) {
            lm_set_error("%s: tensor %d is %s %s, expected %s %s (not a %s)", path, idx, name, shape,
                         arch->names[idx], want, arch->what);
            return -1;
        }
        expect_off += count * 4;
        seen++;
    }
    if (!have_end || seen != arch->n_tensors) {
        lm_set_error("%s: model header lists %d of %d tensors (wrong architecture or damaged header)", path, seen,
                     arch->n_tensors);
        return -1;
    }
    return 0;
}

int lm_flat_load(const char *path, const lm_flat_arch *arch, float **w, char *id, size_t id_cap,
                 uint32_t *checksum) {
    *w = NULL;
    if (id_cap) id[0] = '\0';
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        lm_set_error("cannot open model %s: %s", path, strerror(errno));
        return -1;
    }
    char hdr[HEADER_BYTES + 1];
    size_t got = fread(hdr, 1, HEADER_BYTES, fp);
    hdr[got] = '\0';
    if (got < 14 || strncmp(hdr, "FLATWEIGHTS 1\n", 14) != 0) {
        lm_set_error("%s: not a model file (missing 'FLATWEIGHTS 1' header)", path);
        fclose(fp);
        return -1;
    }
    if (got < HEADER_BYTES) {
        lm_set_error("%s: truncated model file (header is %zu of %d bytes)", path, got, HEADER_BYTES);
        fclose(fp);
        return -1;
    }
    char *idl = strstr(hdr, "\nmodel_id ");
    if (idl && id_cap) {
        idl += 10;
        size_t n = strcspn(idl, "\n");
        if (n >= id_cap) n = id_cap - 1;
        memcpy(id, idl, n);
        id[n] = '\0';
    }
    if (check_header(path, arch, hdr) != 0) {
        fclose(fp);
        return -1;
    }
    size_t nf = arch_floats(arch);
    float *data = lm_malloc(nf, sizeof(float));
    if (!data) {
        fclose(fp);
        return -1;
    }
    size_t nread = fread(data, sizeof(float), nf, fp);
    int extra = fgetc(fp);
    fclose(fp);
    if (nread != nf) {
        lm_set_error("%s: truncated model file (%zu of %zu weights)", path, nread, nf);
        free(data);
        return -1;
    }
    if (extra != EOF) {
        lm_set_error("%s: unexpected data after the weights (wrong architecture?)", path);
        free(data);
        return -1;
    }
    for (size_t i = 0; i < nf; i++)
        if (!isfinite(data[i])) {
            lm_set_error("%s: weight %zu is not finite (damaged model)", path, i);
            free(data);
            return -1;
        }
    if (checksum) *checksum = lm_crc32(0, data, nf * sizeof(float));
    *w = data;
    return 0;
}

int lm_model_load(const char *path, lm_model *m) {
    memset(m, 0, sizeof *m);
    if (lm_flat_load(path, &chroma_arch, &m->w, m->id, sizeof m->id, &m->checksum) != 0) return -1;
    lm_model_set_pointers(m);
    return 0;
}

int lm_model_alloc(lm_model *m, const char *id) {
    memset(m, 0, sizeof *m);
    m->w = lm_calloc(LM_MODEL_NFLOATS, sizeof(float));
    if (!m->w) return -1;
    snprintf(m->id, sizeof m->id, "%s", id);
    lm_model_set_pointers(m);
    /* Fixed, non-trainable pooling: bin p (1/3 semitone, bin 0 = C1) belongs to chroma (p/3) % 12. */
    for (int p = 0; p < 216; p++) m->t[LM_T_CHROMA_POOL][p * 12 + (p / 3) % 12] = 1.0f;
    return 0;
}

int lm_model_save(const char *path, const lm_model *m, const char *info) {
    char hdr[HEADER_BYTES];
    memset(hdr, 0, sizeof hdr);
    int len = snprintf(hdr, sizeof hdr,
                       "FLATWEIGHTS 1\nmodel_id %s\nsource leitmotif\ndtype float32_le\n"
                       "layout C-order (row-major), shapes as listed\nheader_bytes %d\nnum_tensors %d\n",
                       m->id, HEADER_BYTES, LM_MODEL_NTENSORS);
    if (info) {
        /* Free-form lines, kept inside the header; strip anything that could confuse the parser. */
        for (const char *p = info; *p && len < HEADER_BYTES - 1200; p++) {
            char c = *p;
            if (c == '\0') break;
            hdr[len++] = (c == '\n' || (c >= 32 && c < 127)) ? c : ' ';
        }
        if (hdr[len - 1] != '\n') hdr[len++] = '\n';
    }
    size_t off = 0;
    for (int i = 0; i < LM_MODEL_NTENSORS; i++) {
        char shape[64];
        shape_string(lm_tensor_shapes[i], shape, sizeof shape);
        len += snprintf(hdr + len, sizeof hdr - (size_t)len, "tensor %d %s shape %s offset %zu count %zu\n", i,
                        lm_tensor_names[i], shape, off, lm_tensor_counts[i]);
        off += lm_tensor_counts[i] * 4;
    }
    len += snprintf(hdr + len, sizeof hdr - (size_t)len, "data_bytes %zu\nEND\n", off);
    if (len >= HEADER_BYTES) {
        lm_set_error("model header too long");
        return -1;
    }
    memset(hdr + len, 0, sizeof hdr - (size_t)len);
    lm_atomic_file af;
    if (lm_atomic_open(&af, path) != 0) return -1;
    if (fwrite(hdr, 1, HEADER_BYTES, af.fp) != HEADER_BYTES ||
        fwrite(m->w, sizeof(float), LM_MODEL_NFLOATS, af.fp) != LM_MODEL_NFLOATS) {
        lm_set_error("cannot write %s: %s", path, strerror(errno));
        lm_atomic_abort(&af);
        return -1;
    }
    return lm_atomic_commit(&af);
}

void lm_model_free(lm_model *m) {
    free(m->w);
    m->w = NULL;
}
