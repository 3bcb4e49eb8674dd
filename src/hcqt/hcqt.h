/* Harmonic constant-Q transform as in ctc_chroma/features.py (librosa 0.7 recipe):
 * hop 256 at 22050 Hz, 36 bins/octave, 216 bins, fmin 32.7 Hz x h for h in
 * {0.5,1,2,3,4,5}, log compression (1/80)*dB(|C|, ref = global max, top 80 dB) + 1,
 * then median aggregation to 25 Hz.
 *
 * y is mono audio at 22050 Hz (any length >= 1, finite values). The functions return 0, or
 * -1 with the error set (empty or non-finite input, out of memory); out->data is then NULL.
 * Parallel over lm_threads(); the first call builds a kernel bank (about 40 MB, 0.2 s) kept
 * for the process. Memory besides y and the result: that bank, 6 MB of block buffers and,
 * for lm_hcqt25, 2 bytes per 25 Hz value of 756 of the 1296 rows. */
#ifndef LM_HCQT_HCQT_H
#define LM_HCQT_HCQT_H
#include <stddef.h>

#define LM_HCQT_NHARM 6
#define LM_HCQT_NBINS 216
#define LM_HCQT_BPO 36
#define LM_HCQT_HOP 256
#define LM_HCQT_FMIN 32.7
#define LM_FRAME_RATE 25.0

extern const double lm_hcqt_harmonics[LM_HCQT_NHARM];

/* The frequency grid: bins_per_octave bins from fmin x h, n_bins of them. The deep chroma
 * network takes 36/216 (LM_HCQT_BPO, LM_HCQT_NBINS); Bittner's deep salience network 60/360. */
typedef struct {
    int bins_per_octave, n_bins;
} lm_hcqt_grid;
extern const lm_hcqt_grid lm_hcqt_grid_chroma;   /* 36 bins/octave, 216 bins */
extern const lm_hcqt_grid lm_hcqt_grid_salience; /* 60 bins/octave, 360 bins */

/* data[(h * n_bins + p) * n_frames + t] */
typedef struct {
    size_t n_frames;
    float *data;
    int n_bins; /* bins per harmonic (LM_HCQT_NBINS unless made on another grid) */
} lm_hcqt;

/* Full-rate log-compressed HCQT, 1 + n/256 frames (golden *_hcqt_full.npy). */
int lm_hcqt_full(const float *y, size_t n, lm_hcqt *out);
/* 25 Hz log-compressed HCQT (golden *_hcqt25.npy); equals the median of lm_hcqt_full's
 * frames over lm_median_boundaries (to 2e-5). */
int lm_hcqt25(const float *y, size_t n, lm_hcqt *out);
/* The same two on another grid (lm_hcqt_full/lm_hcqt25 use lm_hcqt_grid_chroma). */
int lm_hcqt_full_grid(const float *y, size_t n, const lm_hcqt_grid *grid, lm_hcqt *out);
int lm_hcqt25_grid(const float *y, size_t n, const lm_hcqt_grid *grid, lm_hcqt *out);
/* 25 Hz frame boundaries for n_full full-rate frames: *bounds gets T+1 entries
 * (golden *_median_boundaries.npy; caller frees); returns T, or 0 with *bounds NULL on
 * error. Frame i of the 25 Hz output is at i * 0.04 s. */
size_t lm_median_boundaries(size_t n_full, size_t **bounds);
/* Streaming 25 Hz HCQT (lm_hcqt25) of a signal in memory or in a file: the log compression
 * needs the global maximum, so fn gets each block of 25 Hz segments [i0, i1) uncompressed,
 * kernel u's dB values of segment i at db[u * lm_hcqt25_block_stride() + i - i0] and its
 * median gaps likewise, to be kept (e.g. in a file) and turned into HCQT frames with
 * lm_hcqt25_finish_block once *max_power is known. *T: the number of 25 Hz frames.
 * Memory: a few blocks, whatever the length. 0 or -1 (error set, also by fn). */
#include <stdint.h>
#include "common/signal.h"
typedef int (*lm_hcqt_block_fn)(void *ctx, size_t i0, size_t i1, const float *db, const uint16_t *gap);
int lm_hcqt25_stream(lm_signal *sig, lm_hcqt_block_fn fn, void *ctx, double *max_power, size_t *T);
size_t lm_hcqt25_block_stride(void);
/* HCQT values of count segments of a block: out[row * count + j] for the 1296 rows (h * 216
 * + p) from db[u * stride + j] and gap[u * stride + j] of the lm_hcqt_n_kernels() kernels. */
void lm_hcqt25_finish_block(const float *db, const uint16_t *gap, size_t stride, size_t count, double max_power,
                            float *out);
int lm_hcqt_n_kernels(void);
/* The same three on another grid (the ones above use lm_hcqt_grid_chroma): out gets
 * LM_HCQT_NHARM * grid->n_bins rows. */
int lm_hcqt25_stream_grid(lm_signal *sig, const lm_hcqt_grid *grid, lm_hcqt_block_fn fn, void *ctx,
                          double *max_power, size_t *T);
void lm_hcqt25_finish_block_grid(const lm_hcqt_grid *grid, const float *db, const uint16_t *gap, size_t stride,
                                 size_t count, double max_power, float *out);
int lm_hcqt_n_kernels_grid(const lm_hcqt_grid *grid);
/* Centre frequency in Hz of bin p of harmonic index h (on lm_hcqt_grid_chroma). */
double lm_hcqt_bin_freq(int h, int p);
void lm_hcqt_free(lm_hcqt *x);
#endif
