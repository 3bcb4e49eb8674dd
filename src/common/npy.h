/* NumPy .npy files (format version 1.0/2.0, little-endian, C order): the exchange
 * format for features, so numpy.load reads what we write and tests read the goldens. */
#ifndef LM_COMMON_NPY_H
#define LM_COMMON_NPY_H
#include <stddef.h>

enum lm_dtype { LM_F32, LM_F64, LM_I64, LM_I32 };

typedef struct {
    enum lm_dtype dtype;
    int ndim;
    size_t shape[8];
    size_t count;  /* product of shape */
    void *data;    /* count elements of dtype, always C order after reading */
    int fortran;   /* internal: header said fortran_order True */
} lm_npy;

/* Reads any supported dtype; returns 0 or -1 (error set). */
int lm_npy_read(const char *path, lm_npy *out);
/* Reads and converts to float32 / float64 (caller frees *data). */
float *lm_npy_read_f32(const char *path, int *ndim, size_t shape[8]);
double *lm_npy_read_f64(const char *path, int *ndim, size_t shape[8]);
void lm_npy_free(lm_npy *a);

/* Writes atomically (temp file, fsync, rename). */
int lm_npy_write(const char *path, enum lm_dtype dtype, int ndim, const size_t *shape, const void *data);
int lm_npy_write_f32(const char *path, int ndim, const size_t *shape, const float *data);
#endif
