#include "common/npy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/fileio.h"

static size_t dtype_size(enum lm_dtype t) { return (t == LM_F32 || t == LM_I32) ? 4 : 8; }

static const char *dtype_descr(enum lm_dtype t) {
    switch (t) {
    case LM_F32: return "<f4";
    case LM_F64: return "<f8";
    case LM_I64: return "<i8";
    case LM_I32: return "<i4";
    }
    return "?";
}

/* Parses the Python-dict header written by numpy.save. */
static int parse_header(const char *path, const char *h, lm_npy *out) {
    const char *d = strstr(h, "'descr'");
    const char *f = strstr(h, "'fortran_order'");
    const char *s = strstr(h, "'shape'");
    if (!d || !f || !s) {
        lm_set_error("%s: malformed .npy header", path);
        return -1;
    }
    const char *q = strchr(d + 7, '\'');
    if (!q) goto bad;
    if (!strncmp(q, "'<f4'", 5)) out->dtype = LM_F32;
    else if (!strncmp(q, "'<f8'", 5)) out->dtype = LM_F64;
    else if (!strncmp(q, "'<i8'", 5)) out->dtype = LM_I64;
    else if (!strncmp(q, "'<i4'", 5)) out->dtype = LM_I32;
    else {
        lm_set_error("%s: unsupported .npy dtype (need <f4, <f8, <i4 or <i8)", path);
        return -1;
    }
    const char *colon = strchr(f, ':');
    if (!colon) goto bad;
    colon++;
    while (*colon == ' ') colon++;
    out->fortran = strncmp(colon, "True", 4) == 0;
    const char *p = strchr(s, '(');
    if (!p) goto bad;
    p++;
    out->ndim = 0;
    out->count = 1;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || out->ndim == 8) goto bad;
        out->shape[out->ndim++] = (size_t)v;
        if (v && out->count > SIZE_MAX / v) goto bad;
        out->count *= (size_t)v;
        p = end;
    }
    return 0;
bad:
    lm_set_error("%s: malformed .npy header", path);
    return -1;
}

/* Fortran-order arrays (numpy writes them for transposed views) are converted to C order. */
static int to_c_order(lm_npy *a) {
    size_t es = dtype_size(a->dtype);
    unsigned char *dst = lm_malloc(a->count, es);
    if (!dst) return -1;
    const unsigned char *src = a->data;
    size_t idx[8] = {0};
    for (size_t c = 0; c < a->count; c++) {
        /* c walks C order; the Fortran offset has the first index fastest. */
        size_t f = 0, stride = 1;
        for (int d = 0; d < a->ndim; d++) {
            f += idx[d] * stride;
            stride *= a->shape[d];
        }
        memcpy(dst + c * es, src + f * es, es);
        for (int d = a->ndim - 1; d >= 0; d--) {
            if (++idx[d] < a->shape[d]) break;
            idx[d] = 0;
        }
    }
    free(a->data);
    a->data = dst;
    return 0;
}

int lm_npy_read(const char *path, lm_npy *out) {
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        lm_set_error("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char pre[12];
    if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        lm_set_error("%s: not a .npy file", path);
        fclose(fp);
        return -1;
    }
    size_t hlen;
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
    } else {
        if (fread(pre + 10, 1, 2, fp) != 2) {
            lm_set_error("%s: truncated .npy header", path);
            fclose(fp);
            return -1;
        }
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8) | ((size_t)pre[10] << 16) | ((size_t)pre[11] << 24);
    }
    if (hlen > (1u << 20)) {
        lm_set_error("%s: .npy header too large", path);
        fclose(fp);
        return -1;
    }
    char *h = lm_malloc(hlen + 1, 1);
    if (!h || fread(h, 1, hlen, fp) != hlen) {
        if (h) lm_set_error("%s: truncated .npy header", path);
        free(h);
        fclose(fp);
        return -1;
    }
    h[hlen] = '\0';
    int rc = parse_header(path, h, out);
    free(h);
    if (rc != 0) {
        fclose(fp);
        return -1;
    }
    /* The header's shape must fit in the file before anything is allocated for it: a damaged
     * shape would otherwise ask for terabytes. */
    struct stat st;
    long pos = ftell(fp);
    if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode) && pos >= 0 &&
        out->count > (size_t)(st.st_size > pos ? st.st_size - pos : 0) / dtype_size(out->dtype)) {
        lm_set_error("%s: truncated .npy data (the header's shape needs %zu values, the file holds %lld bytes)", path,
                     out->count, (long long)(st.st_size > pos ? st.st_size - pos : 0));
        fclose(fp);
        return -1;
    }
    out->data = lm_malloc(out->count, dtype_size(out->dtype));
    if (!out->data || fread(out->data, dtype_size(out->dtype), out->count, fp) != out->count) {
        if (out->data) lm_set_error("%s: truncated .npy data", path);
        free(out->data);
        out->data = NULL;
        fclose(fp);
        return -1;
    }
    fclose(fp);
    if (out->fortran && out->ndim > 1 && to_c_order(out) != 0) {
        lm_npy_free(out);
        return -1;
    }
    out->fortran = 0;
    return 0;
}

void lm_npy_free(lm_npy *a) {
    free(a->data);
    a->data = NULL;
}

static double get_as_double(const lm_npy *a, size_t i) {
    switch (a->dtype) {
    case LM_F32: return ((const float *)a->data)[i];
    case LM_F64: return ((const double *)a->data)[i];
    case LM_I64: return (double)((const int64_t *)a->data)[i];
    case LM_I32: return ((const int32_t *)a->data)[i];
    }
    return 0;
}

float *lm_npy_read_f32(const char *path, int *ndim, size_t shape[8]) {
    lm_npy a;
    if (lm_npy_read(path, &a) != 0) return NULL;
    float *out = lm_malloc(a.count, sizeof *out);
    if (out)
        for (size_t i = 0; i < a.count; i++) out[i] = (float)get_as_double(&a, i);
    if (ndim) *ndim = a.ndim;
    if (shape) memcpy(shape, a.shape, sizeof a.shape);
    lm_npy_free(&a);
    return out;
}

double *lm_npy_read_f64(const char *path, int *ndim, size_t shape[8]) {
    lm_npy a;
    if (lm_npy_read(path, &a) != 0) return NULL;
    double *out = lm_malloc(a.count, sizeof *out);
    if (out)
        for (size_t i = 0; i < a.count; i++) out[i] = get_as_double(&a, i);
    if (ndim) *ndim = a.ndim;
    if (shape) memcpy(shape, a.shape, sizeof a.shape);
    lm_npy_free(&a);
    return out;
}

int lm_npy_write(const char *path, enum lm_dtype dtype, int ndim, const size_t *shape, const void *data) {
    char dict[512];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", dtype_descr(dtype));
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%zu%s", shape[i], (ndim == 1 || i + 1 < ndim) ? ", " : "");
        count *= shape[i];
    }
    if (ndim == 1) len -= 1; /* "(5,)" not "(5, )" */
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    /* Pad with spaces so that magic + header is a multiple of 64 bytes, ending in '\n'. */
    size_t total = 10 + (size_t)len + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)len + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    lm_atomic_file af;
    if (lm_atomic_open(&af, path) != 0) return -1;
    int ok = fwrite(pre, 1, 10, af.fp) == 10 && fwrite(dict, 1, (size_t)len, af.fp) == (size_t)len;
    for (size_t i = 0; ok && i < pad; i++) ok = fputc(' ', af.fp) != EOF;
    ok = ok && fputc('\n', af.fp) != EOF;
    ok = ok && (count == 0 || fwrite(data, dtype_size(dtype), count, af.fp) == count);
    if (!ok) {
        lm_set_error("cannot write %s: %s", path, strerror(errno));
        lm_atomic_abort(&af);
        return -1;
    }
    return lm_atomic_commit(&af);
}

int lm_npy_write_f32(const char *path, int ndim, const size_t *shape, const float *data) {
    return lm_npy_write(path, LM_F32, ndim, shape, data);
}
