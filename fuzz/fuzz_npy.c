/* libFuzzer target for the .npy reader (common/npy.h: features, HCQTs, times and the authors'
 * golden files): any input must give an array whose shape, count and data agree, or a one-line
 * error naming the file; never a crash, leak, undefined behaviour or an allocation larger
 * than the file could fill.
 * Seeds (fuzz/seeds.sh): small .npy files of every supported dtype and order, and the small
 * golden files of ../shared/reference.
 * Run: fuzz/run npy [SECONDS] (dictionary: fuzz/npy.dict). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/npy.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    const char *path = fz_write("array.npy", data, size);
    lm_npy a;
    lm_clear_error();
    if (lm_npy_read(path, &a) == 0) {
        size_t count = 1;
        CHECK(a.ndim >= 0 && a.ndim <= 8);
        for (int d = 0; d < a.ndim; d++) count *= a.shape[d];
        CHECK(count == a.count && a.data != NULL && a.fortran == 0);
        size_t es = (a.dtype == LM_F32 || a.dtype == LM_I32) ? 4 : 8;
        CHECK(a.count * es <= size); /* the data came from the file */
        volatile unsigned char sum = 0;
        for (size_t i = 0; i < a.count * es; i++) sum ^= ((const unsigned char *)a.data)[i];
        (void)sum;
        lm_npy_free(&a);
        int ndim = 0;
        size_t shape[8];
        float *f = lm_npy_read_f32(path, &ndim, shape);
        CHECK(f != NULL);
        free(f);
        double *g = lm_npy_read_f64(path, &ndim, shape);
        CHECK(g != NULL);
        free(g);
    } else {
        fz_check_error();
        CHECK(a.data == NULL);
        /* at most 1 MiB of input: refusing it never needs more memory than the machine has */
        CHECK(strstr(lm_last_error(), "out of memory") == NULL);
    }
    return 0;
}
