/* Internal to src/hcqt: the CQT kernel bank of the block-spectral HCQT.
 *
 * The signal is cut into blocks of LM_CQT_BLOCK samples centred so that frame m of a block
 * sits at sample offset 256*m (the block is rotated so that offset 0 is the first frame and
 * the samples before it wrap to the end). For a kernel k with spectrum K at the block's
 * resolution, the CQT value of frame m is (1/N) sum_j X[j] K[j] e^{2 pi i j m / M}, M = N/256:
 * folding X*K modulo M and one M-point inverse FFT give all M frames of the block at once.
 * Frames 0..LM_CQT_FRAMES-1 are exact; the rest see wrapped samples and are discarded.
 *
 * Harmonics 0.5, 1, 2 and 4 are octaves apart, so their grids coincide: the bank holds each
 * distinct frequency once (756 kernels for the 1296 bins of the 36-bins-per-octave HCQT,
 * 1260 for the 2160 of the 60-bins-per-octave one). */
#ifndef LM_HCQT_KERNELS_H
#define LM_HCQT_KERNELS_H
#include <complex.h>
#include <stddef.h>

#include <fftw3.h>

#include "hcqt/hcqt.h"

#define LM_CQT_BLOCK ((size_t)1 << 19)
/* Guard on each side of the exact frames: half of librosa's largest FFT frame (2^17), plus
 * room for the faint time tails that cutting the spectra to finite support leaves. */
#define LM_CQT_GUARD (((size_t)1 << 16) + 8192)
#define LM_CQT_M (LM_CQT_BLOCK / 256)
#define LM_CQT_FRAMES ((LM_CQT_BLOCK - 2 * LM_CQT_GUARD) / 256)

typedef struct {
    double freq;      /* centre frequency in Hz */
    int n_rows;       /* HCQT rows (h * n_bins + p) with this frequency, 1..4 */
    int rows[4];
    size_t j0;        /* first block-spectrum bin of the kernel's support */
    size_t len;       /* support length; may exceed LM_CQT_M (folded) */
    const float complex *coef; /* len coefficients, scaled so |result| is librosa's |C| */
} lm_cqt_kernel;

typedef struct {
    int bins_per_octave, n_bins; /* the grid (see lm_hcqt_grid) */
    int n_kernels;
    lm_cqt_kernel *kernels; /* most expensive first, for load balance */
    float complex *pool;    /* storage of all coefficients */
    size_t pool_len;
    fftwf_plan forward;     /* LM_CQT_BLOCK-point real-to-complex, out of place */
    fftwf_plan inverse;     /* LM_CQT_M-point complex backward, in place */
} lm_cqt_bank;

/* The bank of a grid, built on first use (about 40 MB each, kept for the life of the
 * process). Thread-safe; returns NULL with the error set when memory runs out. */
const lm_cqt_bank *lm_cqt_bank_get(const lm_hcqt_grid *grid);

/* Aligned allocation for large buffers (free() releases it), on 2 MB pages where the system
 * allows: page faults are costly on virtual machines and these buffers are written once.
 * Sets the error and returns NULL on failure. */
void *lm_cqt_alloc(size_t n, size_t size);
#endif
