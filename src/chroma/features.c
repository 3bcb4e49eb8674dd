#include "chroma/features.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio/audio.h"
#include "chroma/stft_chroma.h"
#include "chroma/tuning.h"
#include "common/error.h"
#include "hcqt/hcqt.h"
#include "nn/cnn.h"
#include "salience/bg1.h"

#define DEFAULT_MODEL_NAME "leitmotif_default.bin"

static const char *const feature_names[LM_FEAT_COUNT] = {"ctc", "stft", "bittner", "bg1"};

const char *lm_feature_name(enum lm_feature_type t) {
    return (unsigned)t < LM_FEAT_COUNT ? feature_names[t] : "unknown";
}

int lm_feature_parse(const char *name, enum lm_feature_type *t) {
    for (int i = 0; name && i < LM_FEAT_COUNT; i++)
        if (!strcmp(name, feature_names[i])) {
            *t = (enum lm_feature_type)i;
            return 0;
        }
    lm_set_error("unknown feature type '%s' (use ctc, stft, bittner or bg1)", name ? name : "");
    return -1;
}

int lm_deep_chroma(const float *y, size_t n, const lm_model *model, float **chroma, float **probs_out, size_t *T) {
    lm_hcqt h;
    if (lm_hcqt25(y, n, &h) != 0) return -1;
    size_t nt = h.n_frames;
    float *probs = lm_malloc(nt * LM_NCLASSES, sizeof *probs);
    float *c = lm_malloc(nt * 12, sizeof *c);
    int rc = (probs && c) ? lm_cnn_forward_hcqt(model, &h, probs) : -1;
    lm_hcqt_free(&h);
    if (rc == 0) lm_probs_to_chroma(probs, nt, c);
    if (rc != 0) {
        free(probs);
        free(c);
        return -1;
    }
    if (probs_out) *probs_out = probs;
    else free(probs);
    *chroma = c;
    *T = nt;
    return 0;
}

/* Pitch class of bin p of the 60-bins-per-octave grid (bin 0 = C1): the five bins within
 * +-40 cents of a semitone belong to it. */
static int salience_pitch_class(int p) { return ((p + 2) / 5) % 12; }

/* Folds salience frames [k0, k1) of sal (360 values each) into chroma column i of c (12 x nt),
 * l2-normalised. */
static void fold_salience(const float *sal, size_t k0, size_t k1, float *c, size_t nt, size_t i) {
    double acc[12] = {0}, ss = 0;
    for (size_t k = k0; k < k1; k++)
        for (int p = 0; p < LM_SAL_NBINS; p++) acc[salience_pitch_class(p)] += sal[k * LM_SAL_NBINS + (size_t)p];
    for (int q = 0; q < 12; q++) ss += acc[q] * acc[q];
    for (int q = 0; q < 12; q++) c[(size_t)q * nt + i] = ss > 1e-30 ? (float)(acc[q] / sqrt(ss)) : (float)(1.0 / sqrt(12.0));
}

int lm_bittner_chroma_ex(const float *y, size_t n, const lm_salience_model *m, int full_rate, float **chroma,
                         size_t *T, float **salience_out, size_t *n_sal) {
    lm_hcqt h;
    int rc = full_rate ? lm_hcqt_full_grid(y, n, &lm_hcqt_grid_salience, &h)
                       : lm_hcqt25_grid(y, n, &lm_hcqt_grid_salience, &h);
    if (rc != 0) return -1;
    size_t nf = h.n_frames, *bounds = NULL;
    float *sal = lm_malloc(nf * LM_SAL_NBINS, sizeof *sal);
    rc = sal ? lm_salience_forward(m, &h, sal) : -1;
    lm_hcqt_free(&h);
    size_t nt = 0;
    if (rc == 0) /* full rate: 0.04 s segments of frames; else the network already ran at 25 Hz */
        nt = full_rate ? lm_median_boundaries(nf, &bounds) : nf;
    float *c = nt ? lm_calloc(nt * 12, sizeof *c) : NULL;
    if (!c) {
        free(sal);
        free(bounds);
        return -1;
    }
    for (size_t i = 0; i < nt; i++) fold_salience(sal, bounds ? bounds[i] : i, bounds ? bounds[i + 1] : i + 1, c, nt, i);
    size_t n_salience = bounds ? bounds[nt] : nt;
    free(bounds);
    if (salience_out) {
        *salience_out = sal;
        if (n_sal) *n_sal = n_salience;
    } else {
        free(sal);
    }
    *chroma = c;
    *T = nt;
    return 0;
}

int lm_bittner_chroma(const float *y, size_t n, const lm_salience_model *m, float **chroma, size_t *T) {
    return lm_bittner_chroma_ex(y, n, m, 0, chroma, T, NULL, NULL);
}

static int features_plain(const float *y, size_t n, enum lm_feature_type type, const lm_model *model,
                          const lm_salience_model *salience, float **chroma, size_t *T) {
    if (type == LM_FEAT_STFT) return lm_chroma_stft(y, n, chroma, T);
    if (type == LM_FEAT_BG1) return lm_bg1_chroma(y, n, chroma, T);
    if (type == LM_FEAT_BITTNER) {
        if (!salience) {
            lm_set_error("bittner features need the deep salience model");
            return -1;
        }
        return lm_bittner_chroma(y, n, salience, chroma, T);
    }
    if (!model) {
        lm_set_error("deep chroma features need a model");
        return -1;
    }
    return lm_deep_chroma(y, n, model, chroma, NULL, T);
}

/* The number of 25 Hz frames a feature type gives for n samples. */
static size_t feature_frames(enum lm_feature_type type, size_t n) {
    if (type == LM_FEAT_STFT || type == LM_FEAT_BG1) return 1 + n / 882;
    size_t *bounds = NULL, T = lm_median_boundaries(1 + n / LM_HCQT_HOP, &bounds);
    free(bounds);
    return T;
}

/* The deviation to compensate: 0 when off or too small to matter; NAN on error. */
static double deviation_signal(lm_signal *sig, const lm_tuning *tuning, double *estimated) {
    double dev = 0;
    if (tuning && tuning->mode == LM_TUNING_AUTO) dev = lm_estimate_tuning_signal(sig);
    else if (tuning && tuning->mode == LM_TUNING_FIXED) dev = tuning->semitones;
    if (estimated) *estimated = isnan(dev) ? 0 : dev;
    return fabs(dev) < LM_TUNING_MIN_SEMITONES ? 0 : dev;
}

static double deviation(const float *y, size_t n, const lm_tuning *tuning, double *estimated) {
    lm_signal sig = lm_signal_memory(y, n);
    return deviation_signal(&sig, tuning, estimated);
}

/* Maps the chroma c2 (12 x T2) of the signal resampled from n to n2 samples back to the frames
 * of the original (frees c2). */
static int unwarp_chroma(enum lm_feature_type type, float *c2, size_t T2, size_t n, size_t n2, float **chroma,
                         size_t *T) {
    const size_t T_out = feature_frames(type, n);
    int rc = T_out ? lm_tuning_unwarp(c2, T2, 12, 1, (double)n2 / (double)n, T_out, 1, chroma) : -1;
    free(c2);
    if (rc != 0) return -1;
    *T = T_out;
    return 0;
}

/* Maps the ctc chroma (and probabilities) of a signal resampled from n to n2 samples back to
 * the frames of the original; frees c2 and p2. */
static int unwarp_ctc(float *c2, float *p2, size_t T2, size_t n, size_t n2, float **chroma, float **probs_out,
                      size_t *T) {
    /* the chroma frames are mapped back and l2-normalised again; the class probabilities
     * (for --probs) likewise, without normalising (their mixtures stay distributions) */
    const size_t T_out = feature_frames(LM_FEAT_CTC, n);
    const double stretch = (double)n2 / (double)n;
    float *c = NULL, *probs = NULL;
    int rc = T_out ? lm_tuning_unwarp(c2, T2, 12, 1, stretch, T_out, 1, &c) : -1;
    if (rc == 0 && probs_out) rc = lm_tuning_unwarp(p2, T2, LM_NCLASSES, 0, stretch, T_out, 0, &probs);
    free(p2);
    free(c2);
    if (rc != 0) {
        free(c);
        return -1;
    }
    if (probs_out) *probs_out = probs;
    *chroma = c;
    *T = T_out;
    return 0;
}

int lm_deep_chroma_ex(const float *y, size_t n, const lm_model *model, const lm_tuning *tuning, float **chroma,
                      float **probs_out, size_t *T, double *tuning_semitones) {
    const double dev = deviation(y, n, tuning, tuning_semitones);
    if (isnan(dev)) return -1;
    if (dev == 0) return lm_deep_chroma(y, n, model, chroma, probs_out, T);
    float *y2 = NULL, *p2 = NULL, *c2 = NULL;
    size_t n2 = 0, T2 = 0;
    if (lm_tuning_resample(y, n, dev, &y2, &n2) != 0) return -1;
    int rc = lm_deep_chroma(y2, n2, model, &c2, probs_out ? &p2 : NULL, &T2);
    free(y2);
    if (rc != 0) return -1;
    return unwarp_ctc(c2, p2, T2, n, n2, chroma, probs_out, T);
}

/* ---- streaming deep chroma of a file -------------------------------------------------------
 * Pass 1 decodes into a temporary file of samples (and estimates the tuning from it); pass 2
 * resamples it for the tuning (into a second one) and computes the HCQT block by block, keeping
 * the uncompressed 25 Hz values in a third (their log compression needs the global maximum);
 * pass 3 compresses them and runs the network over windows of frames. Memory stays at a few
 * blocks, the model and the T x 13 output; the results equal lm_deep_chroma_ex bit for bit. */

/* Network frames per window (a multiple of the network's chunk); LEITMOTIF_STREAM_FRAMES sets it
 * (tests use small windows). */
static size_t stream_frames(size_t ch) {
    const char *e = getenv("LEITMOTIF_STREAM_FRAMES");
    long v = e ? strtol(e, NULL, 10) : 0;
    size_t f = v > 0 ? (size_t)v : 2048;
    return (f + ch - 1) / ch * ch;
}

typedef struct {
    lm_spill store;
    int nk;
    size_t stride;
} hcqt_spill;

/* A block of m segments in the store: a header {i0, i1} (two size_t), the m dB values of every
 * kernel (kernel-major), their m gaps likewise, zero bytes up to a multiple of 8; so a block in
 * memory is read where it lies. */
static size_t spill_block_bytes(int nk, size_t m) {
    return (2 * sizeof(size_t) + (size_t)nk * m * (sizeof(float) + sizeof(uint16_t)) + 7) & ~(size_t)7;
}

static int spill_block(void *ctx, size_t i0, size_t i1, const float *db, const uint16_t *gap) {
    hcqt_spill *sp = ctx;
    size_t head[2] = {i0, i1}, m = i1 - i0;
    int rc = lm_spill_write(&sp->store, head, sizeof head);
    for (int u = 0; rc == 0 && u < sp->nk; u++) rc = lm_spill_write(&sp->store, db + (size_t)u * sp->stride, m * sizeof *db);
    for (int u = 0; rc == 0 && u < sp->nk; u++) rc = lm_spill_write(&sp->store, gap + (size_t)u * sp->stride, m * sizeof *gap);
    const size_t pad = spill_block_bytes(sp->nk, m) - sizeof head - (size_t)sp->nk * m * (sizeof *db + sizeof *gap);
    static const unsigned char zeros[8];
    return rc == 0 ? lm_spill_write(&sp->store, zeros, pad) : -1;
}

/* Pass 3: frames [base, end) of the HCQT (rows values each) stay frame-major in `frames` until
 * the network windows that need them have run; run() computes the chunks [c0, c1) from the
 * window win, whose column 0 is frame w0. */
typedef struct net_pass net_pass;
struct net_pass {
    const void *net;
    const lm_hcqt_grid *grid;
    size_t rows, chunk, T, per, halo, base, end, cap, t0;
    int (*run)(net_pass *np, const lm_hcqt *win, size_t w0, size_t c0, size_t c1);
    float *frames, *win, *out, *scratch;
};

/* The deep chroma network: probabilities T x 13 into out. */
static int run_ctc(net_pass *np, const lm_hcqt *win, size_t w0, size_t c0, size_t c1) {
    return lm_cnn_forward_hcqt_range(np->net, win, w0, np->T, c0, c1, np->out);
}

#define HCQT_ROWS ((size_t)LM_HCQT_NHARM * LM_HCQT_NBINS)


/* The deep salience network, folded to chroma 12 x T into out. */
static int run_bittner(net_pass *np, const lm_hcqt *win, size_t w0, size_t c0, size_t c1) {
    if (lm_salience_forward_range(np->net, win, w0, np->T, c0, c1, np->scratch) != 0) return -1;
    const size_t t0 = c0 * np->chunk, t1 = c1 * np->chunk < np->T ? c1 * np->chunk : np->T;
    for (size_t t = t0; t < t1; t++) fold_salience(np->scratch, t - t0, t - t0 + 1, np->out, np->T, t);
    return 0;
}

/* Runs the windows whose frames (with context) are all there. */
static int net_run_ready(net_pass *np) {
    const size_t rows = np->rows;
    while (np->t0 < np->T) {
        const size_t t1 = np->T - np->t0 < np->per ? np->T : np->t0 + np->per;
        const size_t w0 = np->t0 > np->halo ? np->t0 - np->halo : 0;
        const size_t w1 = np->T - t1 < np->halo ? np->T : t1 + np->halo;
        if (np->end < w1) return 0;
        const size_t nw = w1 - w0;
        for (size_t t = w0; t < w1; t++)
            for (size_t r = 0; r < rows; r++) np->win[r * nw + (t - w0)] = np->frames[(t - np->base) * rows + r];
        lm_hcqt h = {nw, np->win, (size_t)np->grid->n_bins};
        const size_t ch = np->chunk;
        if (np->run(np, &h, w0, np->t0 / ch, (t1 + ch - 1) / ch) != 0) return -1;
        np->t0 = t1;
        /* keep the context of the next window */
        const size_t keep_from = np->t0 > np->halo ? np->t0 - np->halo : 0;
        if (keep_from > np->base) {
            memmove(np->frames, np->frames + (keep_from - np->base) * rows,
                    (np->end - keep_from) * rows * sizeof *np->frames);
            np->base = keep_from;
        }
    }
    return 0;
}

static int net_pass_run(net_pass *np, lm_spill *store, int nk, double max_power) {
    const size_t stride = lm_hcqt25_block_stride(), rows = np->rows;
    const unsigned char *mem = lm_spill_memory(store); /* the blocks where they lie, or NULL: read them */
    float *db_buf = mem ? NULL : lm_malloc((size_t)nk * stride, sizeof *db_buf), *fin = lm_malloc(rows * stride, sizeof *fin);
    uint16_t *gap_buf = mem ? NULL : lm_malloc((size_t)nk * stride, sizeof *gap_buf);
    int rc = (mem || (db_buf && gap_buf)) && fin ? 0 : -1;
    size_t off = 0; /* the next block's position in the store */
    while (rc == 0 && np->end < np->T) {
        size_t head[2];
        if (lm_spill_read(store, off, head, sizeof head) != 0 || head[0] != np->end || head[1] <= head[0] ||
            head[1] > np->T || head[1] - head[0] > stride) {
            lm_set_error("cannot read a temporary file back");
            rc = -1;
            break;
        }
        const size_t m = head[1] - head[0], n_db = (size_t)nk * m, at = off + sizeof head;
        const float *db;
        const uint16_t *gap;
        if (mem) {
            if (spill_block_bytes(nk, m) > store->size - off) {
                lm_set_error("cannot read a temporary file back");
                rc = -1;
                break;
            }
            db = (const float *)(const void *)(mem + at); /* 8-byte aligned: see spill_block_bytes */
            gap = (const uint16_t *)(const void *)(mem + at + n_db * sizeof *db);
        } else {
            if (lm_spill_read(store, at, db_buf, n_db * sizeof *db_buf) != 0 ||
                lm_spill_read(store, at + n_db * sizeof *db_buf, gap_buf, n_db * sizeof *gap_buf) != 0) {
                rc = -1;
                break;
            }
            db = db_buf;
            gap = gap_buf;
        }
        off += spill_block_bytes(nk, m);
        lm_hcqt25_finish_block_grid(np->grid, db, gap, m, m, max_power, fin);
        for (size_t j = 0; j < m; j++)
            for (size_t r = 0; r < rows; r++) np->frames[(np->end + j - np->base) * rows + r] = fin[r * m + j];
        np->end += m;
        rc = net_run_ready(np);
    }
    free(db_buf);
    free(fin);
    free(gap_buf);
    return rc;
}

/* Passes 2 and 3 of a spilled signal: the HCQT on np's grid in blocks (values spilled to a
 * store), then np's network over windows. np->out (out_floats) is the result. */
static int stream_network(lm_signal *sig, net_pass *np, size_t out_per_frame, size_t scratch_per_frame, size_t *T) {
    hcqt_spill sp = {{0}, lm_hcqt_n_kernels_grid(np->grid), lm_hcqt25_block_stride()};
    /* its size: per 25 Hz frame a float and a 16-bit gap per kernel, plus a block header */
    const size_t frames = (size_t)((double)sig->n / (LM_SAMPLE_RATE / LM_FRAME_RATE)) + 2;
    if (sp.nk < 0 || lm_spill_open(&sp.store, frames * ((size_t)sp.nk * 6 + 1)) != 0) return -1;
    double max_power = -1;
    int rc = lm_hcqt25_stream_grid(sig, np->grid, spill_block, &sp, &max_power, T);
    np->T = *T;
    np->cap = np->per + 2 * np->halo + sp.stride;
    if (rc == 0) {
        np->frames = lm_malloc(np->cap * np->rows, sizeof *np->frames);
        np->win = lm_malloc((np->per + 2 * np->halo) * np->rows, sizeof *np->win);
        np->out = lm_calloc(*T * out_per_frame, sizeof *np->out);
        np->scratch = scratch_per_frame ? lm_malloc(np->per * scratch_per_frame, sizeof *np->scratch) : NULL;
        rc = np->frames && np->win && np->out && (np->scratch || !scratch_per_frame)
                 ? net_pass_run(np, &sp.store, sp.nk, max_power)
                 : -1;
    }
    lm_spill_close(&sp.store);
    free(np->frames);
    free(np->win);
    free(np->scratch);
    if (rc != 0) {
        free(np->out);
        np->out = NULL;
        return -1;
    }
    return 0;
}

static int resample_block(void *r, const float *x, size_t n) { return lm_resampler_push(r, x, n, 0); }

/* Deep chroma probabilities (T x 13) of a signal in a file, passes 2 and 3. */
static int stream_probs(lm_signal *sig, const lm_model *model, float **probs, size_t *T) {
    const size_t ch = lm_cnn_chunk_frames();
    net_pass np = {model, &lm_hcqt_grid_chroma, HCQT_ROWS, ch, 0, stream_frames(ch), lm_cnn_halo(model), 0, 0, 0, 0,
                   run_ctc, NULL, NULL, NULL, NULL};
    if (stream_network(sig, &np, LM_NCLASSES, 0, T) != 0) return -1;
    *probs = np.out;
    return 0;
}

/* Bittner chroma (12 x T, 25 Hz) of a signal in a file, passes 2 and 3: equal to
 * lm_bittner_chroma of the signal in memory. */
static int stream_bittner(lm_signal *sig, const lm_salience_model *m, float **chroma, size_t *T) {
    const size_t ch = lm_salience_chunk_frames();
    net_pass np = {m, &lm_hcqt_grid_salience, (size_t)LM_HCQT_NHARM * LM_SAL_NBINS, ch, 0, stream_frames(ch),
                   lm_salience_halo(m), 0, 0, 0, 0, run_bittner, NULL, NULL, NULL, NULL};
    if (stream_network(sig, &np, 12, LM_SAL_NBINS, T) != 0) return -1;
    *chroma = np.out;
    return 0;
}

/* Pass 1 of a file: decoded into a temporary file (*sig); the tuning estimated and, when it is
 * compensated, the signal resampled into a second one (*tuned; *sig is then closed). *use is
 * the one to analyse, *n the decoded length. 0, or -1 (error set; the caller closes both). */
static int decode_tuned(const char *path, const lm_tuning *tuning, lm_signal *sig, lm_signal *tuned, lm_signal **use,
                        size_t *n, double *dev, double *tuning_semitones, double *duration_sec) {
    memset(sig, 0, sizeof *sig);
    memset(tuned, 0, sizeof *tuned);
    *use = sig;
    *dev = 0;
    lm_audio a;
    if (lm_signal_spill_open(sig, 0) != 0 || lm_audio_stream(path, lm_signal_spill_append, sig, &a) != 0) return -1;
    *n = sig->n;
    if (duration_sec) *duration_sec = (double)sig->n / LM_SAMPLE_RATE;
    *dev = tuning && tuning->mode != LM_TUNING_OFF ? deviation_signal(sig, tuning, tuning_semitones) : 0;
    if (isnan(*dev)) return -1;
    if (*dev == 0) return 0;
    lm_resampler r;
    int rc = lm_signal_spill_open(tuned, sig->n + sig->n / 16) == 0 && lm_tuning_resampler(&r, *dev, lm_signal_spill_append, tuned) == 0 ? 0 : -1;
    if (rc == 0) {
        rc = lm_signal_each_block(sig, resample_block, &r) == 0 ? lm_resampler_push(&r, NULL, 0, 1) : -1;
        lm_resampler_free(&r);
    }
    lm_signal_close(sig);
    *use = tuned;
    return rc;
}

int lm_deep_chroma_file(const char *path, const lm_model *model, const lm_tuning *tuning, float **chroma,
                        float **probs_out, size_t *T, double *tuning_semitones, double *duration_sec) {
    if (tuning_semitones) *tuning_semitones = 0;
    lm_signal sig, tuned, *use;
    size_t n = 0;
    double dev = 0;
    int rc = decode_tuned(path, tuning, &sig, &tuned, &use, &n, &dev, tuning_semitones, duration_sec);
    float *p2 = NULL, *c2 = NULL;
    size_t T2 = 0;
    if (rc == 0) rc = stream_probs(use, model, &p2, &T2);
    const size_t n2 = use->n;
    lm_signal_close(&sig);
    lm_signal_close(&tuned);
    if (rc == 0) rc = (c2 = lm_malloc(T2 * 12, sizeof *c2)) ? 0 : -1;
    if (rc != 0) {
        free(p2);
        return -1;
    }
    lm_probs_to_chroma(p2, T2, c2);
    if (dev != 0) return unwarp_ctc(c2, p2, T2, n, n2, chroma, probs_out, T);
    if (probs_out) *probs_out = p2;
    else free(p2);
    *chroma = c2;
    *T = T2;
    return 0;
}

/* Bittner chroma of a file, streamed like the deep chroma (memory independent of the length):
 * equal to lm_features_from_signal_ex of the loaded file. */
static int bittner_file(const char *path, const lm_salience_model *m, const lm_tuning *tuning, float **chroma,
                        size_t *T, double *tuning_semitones, double *duration_sec) {
    if (tuning_semitones) *tuning_semitones = 0;
    if (!m) {
        lm_set_error("bittner features need the deep salience model");
        return -1;
    }
    lm_signal sig, tuned, *use;
    size_t n = 0;
    double dev = 0;
    int rc = decode_tuned(path, tuning, &sig, &tuned, &use, &n, &dev, tuning_semitones, duration_sec);
    float *c2 = NULL;
    size_t T2 = 0;
    if (rc == 0) rc = stream_bittner(use, m, &c2, &T2);
    const size_t n2 = use->n;
    lm_signal_close(&sig);
    lm_signal_close(&tuned);
    if (rc != 0) return -1;
    if (dev == 0) {
        *chroma = c2;
        *T = T2;
        return 0;
    }
    return unwarp_chroma(LM_FEAT_BITTNER, c2, T2, n, n2, chroma, T);
}

int lm_features_from_signal_ex(const float *y, size_t n, enum lm_feature_type type, const lm_model *model,
                               const lm_salience_model *salience, const lm_tuning *tuning, float **chroma, size_t *T,
                               double *tuning_semitones) {
    if (tuning_semitones) *tuning_semitones = 0;
    /* the stft chroma tunes its own filter bank */
    if (!tuning || tuning->mode == LM_TUNING_OFF || type == LM_FEAT_STFT || n == 0)
        return features_plain(y, n, type, model, salience, chroma, T);
    if (type == LM_FEAT_CTC) {
        if (!model) {
            lm_set_error("deep chroma features need a model");
            return -1;
        }
        return lm_deep_chroma_ex(y, n, model, tuning, chroma, NULL, T, tuning_semitones);
    }
    const double dev = deviation(y, n, tuning, tuning_semitones);
    if (isnan(dev)) return -1;
    if (dev == 0) return features_plain(y, n, type, model, salience, chroma, T);
    float *y2 = NULL, *c2 = NULL;
    size_t n2 = 0, T2 = 0;
    if (lm_tuning_resample(y, n, dev, &y2, &n2) != 0) return -1;
    int rc = features_plain(y2, n2, type, model, salience, &c2, &T2);
    free(y2);
    if (rc != 0) return -1;
    return unwarp_chroma(type, c2, T2, n, n2, chroma, T);
}

int lm_features_from_signal(const float *y, size_t n, enum lm_feature_type type, const lm_model *model,
                            const lm_salience_model *salience, float **chroma, size_t *T) {
    return features_plain(y, n, type, model, salience, chroma, T);
}

int lm_features_from_file(const char *path, enum lm_feature_type type, const lm_model *model,
                          const lm_salience_model *salience, float **chroma, size_t *T, double *duration_sec) {
    return lm_features_from_file_ex(path, type, model, salience, NULL, chroma, T, duration_sec, NULL);
}

int lm_features_from_file_ex(const char *path, enum lm_feature_type type, const lm_model *model,
                             const lm_salience_model *salience, const lm_tuning *tuning, float **chroma, size_t *T,
                             double *duration_sec, double *tuning_semitones) {
    if (type == LM_FEAT_CTC && model) {
        if (tuning_semitones) *tuning_semitones = 0;
        return lm_deep_chroma_file(path, model, tuning && tuning->mode != LM_TUNING_OFF ? tuning : NULL, chroma, NULL,
                                   T, tuning_semitones, duration_sec);
    }
    if (type == LM_FEAT_BITTNER)
        return bittner_file(path, salience, tuning, chroma, T, tuning_semitones, duration_sec);
    if (type == LM_FEAT_STFT) {
        /* The stft chroma tunes its own filter bank (no tuning here) and streams: the decoded
         * samples go to a temporary file that is read a window at a time, so memory does not
         * grow with the recording beyond its 12 x T output. */
        if (tuning_semitones) *tuning_semitones = 0;
        lm_signal sig;
        lm_audio a;
        if (lm_signal_spill_open(&sig, 0) != 0) return -1;
        int rc = lm_audio_stream(path, lm_signal_spill_append, &sig, &a);
        if (rc == 0) rc = lm_chroma_stft_signal(&sig, chroma, T);
        if (rc == 0 && duration_sec) *duration_sec = (double)sig.n / LM_SAMPLE_RATE;
        lm_signal_close(&sig);
        return rc;
    }
    lm_audio a;
    if (lm_audio_load(path, &a) != 0) return -1;
    int rc = lm_features_from_signal_ex(a.samples, a.n, type, model, salience, tuning, chroma, T, tuning_semitones);
    if (rc == 0 && duration_sec) *duration_sec = (double)a.n / LM_SAMPLE_RATE;
    lm_audio_free(&a);
    return rc;
}

#ifdef LM_DATA_DIR
#include <dlfcn.h> /* dladdr1 (CMakeLists.txt defines _GNU_SOURCE for this file) */
#include <link.h>
#endif
const char *lm_default_model_path(void) {
    static char path[4096];
    const char *env = getenv("LEITMOTIF_MODEL");
    if (env && *env) return env;
#ifdef LM_DATA_DIR
    /* Installed (cmake --install): PREFIX/share/leitmotif beside the file that holds this code
     * (PREFIX/bin/leitmotif, or PREFIX/lib/libleitmotif.so.N for programs using the shared
     * library; relative paths from CMakeLists.txt, so an installed tree may be moved), then at
     * the configured prefix. The source tree's models/ comes between the two, for the programs
     * of a build tree. */
    char self[2048] = "";
    Dl_info info;
    struct link_map *obj = NULL;
    if (dladdr1((void *)lm_default_model_path, &info, (void **)&obj, RTLD_DL_LINKMAP) && obj && obj->l_name[0]) {
        snprintf(self, sizeof self, "%s", obj->l_name);
    } else { /* the main program (its link map has no name) */
        ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
        self[len > 0 ? len : 0] = '\0';
    }
    const char *slash = strrchr(self, '/');
    if (slash) {
        const char *rel[2] = {LM_DATA_DIR_FROM_BIN, LM_DATA_DIR_FROM_LIB};
        for (int i = 0; i < 2; i++) {
            snprintf(path, sizeof path, "%.*s/%s/%s", (int)(slash - self), self, rel[i], DEFAULT_MODEL_NAME);
            if (access(path, R_OK) == 0) return path;
        }
    }
#endif
    snprintf(path, sizeof path, "%s/%s", LM_MODEL_DIR, DEFAULT_MODEL_NAME);
    if (access(path, R_OK) == 0) return path;
#ifdef LM_DATA_DIR
    snprintf(path, sizeof path, "%s/%s", LM_DATA_DIR, DEFAULT_MODEL_NAME);
    if (access(path, R_OK) == 0) return path;
#endif
    lm_set_error("no default model found (%s); pass --model FILE, e.g. "
                 "../shared/reference/models/v1_ctc_train345valid1.bin",
                 path);
    return NULL;
}

/* Is `id` usable as a file name (model_id.bin) in a models folder? */
static int safe_model_id(const char *id) {
    size_t n = strlen(id);
    if (n == 0 || n > 190 || id[0] == '.') return 0;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') ||
              id[i] == '_' || id[i] == '-' || id[i] == '.'))
            return 0;
    return 1;
}

int lm_find_model_file(const char *model_id, uint32_t checksum, char *out, size_t cap) {
    if (!model_id || !safe_model_id(model_id) || cap == 0) return -1;
    char dirs[4][4096];
    size_t n_dirs = 0;
    const char *def = lm_default_model_path();
    const char *slash = def ? strrchr(def, '/') : NULL;
    if (slash) {
        snprintf(dirs[n_dirs++], sizeof dirs[0], "%.*s", (int)(slash - def), def);
        snprintf(dirs[n_dirs++], sizeof dirs[0], "%.*s/training", (int)(slash - def), def);
    }
    snprintf(dirs[n_dirs++], sizeof dirs[0], "%s", LM_MODEL_DIR);
    snprintf(dirs[n_dirs++], sizeof dirs[0], "%s/training", LM_MODEL_DIR);
    for (size_t i = 0; i < n_dirs; i++) {
        char path[4400];
        const int len = snprintf(path, sizeof path, "%s/%s.bin", dirs[i], model_id);
        if (len < 0 || (size_t)len >= sizeof path || access(path, R_OK) != 0) continue;
        lm_model m;
        if (lm_model_load(path, &m) != 0) continue;
        /* the same id with other weights (a retrained model) is not the file the database needs */
        const int same = m.checksum == checksum;
        lm_model_free(&m);
        if (same && strlen(path) < cap) {
            memcpy(out, path, strlen(path) + 1);
            return 0;
        }
    }
    return -1;
}

const char *lm_default_salience_path(void) {
    static char path[4096];
    const char *env = getenv("LEITMOTIF_SALIENCE_MODEL");
    if (env && *env) return env;
    snprintf(path, sizeof path, "%s/../../shared/reference/models/bittner_melody2.bin", LM_MODEL_DIR);
    if (access(path, R_OK) == 0) return path;
    lm_set_error("no deep salience model found (%s); pass --model FILE (Bittner et al.'s melody2 weights in "
                 "FLATWEIGHTS format) or set LEITMOTIF_SALIENCE_MODEL",
                 path);
    return NULL;
}

int lm_feature_weights_load(lm_feature_weights *w, enum lm_feature_type type, const char *path) {
    memset(w, 0, sizeof *w);
    w->type = type;
    if (type == LM_FEAT_CTC) {
        if (!path) path = lm_default_model_path();
        if (!path || lm_model_load(path, &w->chroma) != 0) return -1;
        w->loaded = 1;
    } else if (type == LM_FEAT_BITTNER) {
        if (!path) path = lm_default_salience_path();
        if (!path || lm_salience_model_load(path, &w->salience) != 0) return -1;
        w->loaded = 1;
    } else if (path) {
        lm_set_error("%s features take no model (--model applies to ctc and bittner)", lm_feature_name(type));
        return -1;
    }
    return 0;
}

void lm_feature_weights_free(lm_feature_weights *w) {
    if (!w || !w->loaded) return;
    if (w->type == LM_FEAT_CTC) lm_model_free(&w->chroma);
    else lm_salience_model_free(&w->salience);
    w->loaded = 0;
}

const lm_model *lm_feature_weights_chroma(const lm_feature_weights *w) {
    return w->loaded && w->type == LM_FEAT_CTC ? &w->chroma : NULL;
}

const lm_salience_model *lm_feature_weights_salience(const lm_feature_weights *w) {
    return w->loaded && w->type == LM_FEAT_BITTNER ? &w->salience : NULL;
}

const char *lm_feature_weights_id(const lm_feature_weights *w) {
    if (!w->loaded) return "";
    return w->type == LM_FEAT_CTC ? w->chroma.id : w->salience.id;
}

uint32_t lm_feature_weights_checksum(const lm_feature_weights *w) {
    if (!w->loaded) return 0;
    return w->type == LM_FEAT_CTC ? w->chroma.checksum : w->salience.checksum;
}
