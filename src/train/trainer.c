#include "train/trainer.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/progress.h"
#include "common/threads.h"
#include "ctc/ctc.h"
#include "nn/cnn_train.h"
#include "train/excerpts.h"
#include "train/plot.h"

#define NB 216
#define NH 6
#define NC LM_NCLASSES
#define CKPT_MAGIC "LMCKPT1\n"
#define MAX_EPOCHS_STORED 10000
#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-7 /* Keras' default */

/* ---- deterministic randomness: everything is a pure function of (seed, epoch, index) ---- */
static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t hash3(uint64_t a, uint64_t b, uint64_t c) { return mix64(mix64(mix64(a) ^ b) ^ c); }
static double unit_double(uint64_t h) { return (double)(h >> 11) * (1.0 / 9007199254740992.0); }

void lm_model_init_random(lm_model *m, unsigned long seed) {
    const int kernels[6] = {LM_T_BENDY1_K, LM_T_BENDY2_K, LM_T_SMOOTHY1_K, LM_T_SMOOTHY2_K, LM_T_DISTRIBUTE_K, LM_T_SQUISHY_K};
    memset(m->w, 0, LM_MODEL_NFLOATS * sizeof(float));
    for (int i = 0; i < 6; i++) {
        const int *s = lm_tensor_shapes[kernels[i]];
        double fan_in = (double)s[0] * s[1] * s[2], fan_out = (double)s[0] * s[1] * s[3];
        double limit = sqrt(6.0 / (fan_in + fan_out));
        for (size_t j = 0; j < lm_tensor_counts[kernels[i]]; j++)
            m->t[kernels[i]][j] = (float)((2 * unit_double(hash3(seed, (uint64_t)kernels[i], j)) - 1) * limit);
    }
    double limit = sqrt(6.0 / (216.0 + 1.0));
    for (size_t j = 0; j < 216; j++)
        m->t[LM_T_EPS_POOL_K][j] = (float)((2 * unit_double(hash3(seed, LM_T_EPS_POOL_K, j)) - 1) * limit);
    for (int p = 0; p < 216; p++) m->t[LM_T_CHROMA_POOL][p * 12 + (p / 3) % 12] = 1.0f;
}

static int shift_label(int l, int shift) { return l == LM_BLANK ? l : ((l + shift) % 12 + 12) % 12; }

double lm_example_loss(enum lm_loss_type loss, const lm_train_example *e, int shift, const double *logits, size_t T,
                       double *grad) {
    if (loss == LM_LOSS_CTC) {
        size_t L = e->pair->n_labels;
        int *lab = malloc((L ? L : 1) * sizeof *lab);
        float *z = malloc(T * NC * sizeof *z);
        double v = INFINITY;
        if (lab && z) {
            for (size_t i = 0; i < L; i++) lab[i] = shift_label(e->pair->labels[i], shift);
            for (size_t i = 0; i < T * NC; i++) z[i] = (float)logits[i];
            v = lm_ctc_loss(z, T, NC, lab, L, LM_BLANK, grad);
        }
        free(lab);
        free(z);
        return v;
    }
    /* Frame-wise cross-entropy against the linearly stretched theme, averaged over frames. */
    double total = 0;
    for (size_t t = 0; t < T; t++) {
        const double *z = logits + t * NC;
        double mx = z[0], sum = 0;
        for (int k = 1; k < NC; k++) mx = z[k] > mx ? z[k] : mx;
        for (int k = 0; k < NC; k++) sum += exp(z[k] - mx);
        int y = shift_label(e->frame_labels[t], shift);
        total += -(z[y] - mx - log(sum));
        if (grad)
            for (int k = 0; k < NC; k++) grad[t * NC + (size_t)k] = (exp(z[k] - mx) / sum - (k == y)) / (double)T;
    }
    return total / (double)T;
}

/* ---- training state, checkpointed every epoch ---- */
typedef struct {
    uint64_t fingerprint; /* data and settings the run was started with */
    int32_t epoch, phase, since_best, finished;
    int64_t adam_t;
    double lr, best_val;
    int32_t n_hist;
    double hist_train[MAX_EPOCHS_STORED], hist_val[MAX_EPOCHS_STORED], hist_lr[MAX_EPOCHS_STORED];
    double train_seconds;
} train_state;

typedef struct {
    train_state s;
    lm_model w, best;
    float *m, *v;
} trainer;

static int augmenting(const lm_train_config *cfg) { return cfg->augment && lm_augment_enabled(cfg->augment); }

static uint64_t fingerprint(const lm_train_config *cfg, const lm_train_example *tr, size_t nt, const lm_train_example *va,
                            size_t nv) {
    uint64_t h = hash3((uint64_t)cfg->loss, (uint64_t)cfg->batch, cfg->seed);
    h = hash3(h, (uint64_t)cfg->max_shift, (uint64_t)llround(cfg->lr * 1e9));
    /* Only runs with augmentation or a starting model hash them: older checkpoints still resume. */
    if (augmenting(cfg)) h = hash3(h, lm_augment_hash(cfg->augment), 0xa06);
    if (cfg->init) h = hash3(h, cfg->init->checksum, 0x1417);
    for (size_t i = 0; i < nt; i++) h = hash3(h, tr[i].ex->T, tr[i].pair->n_labels);
    for (size_t i = 0; i < nv; i++) h = hash3(h, va[i].ex->T, va[i].pair->n_labels + 1000003u);
    return h;
}

static int checkpoint_save(const char *path, const trainer *tr) {
    lm_atomic_file af;
    if (lm_atomic_open(&af, path) != 0) return -1;
    size_t nf = LM_MODEL_NFLOATS;
    uint32_t crc = lm_crc32(0, &tr->s, sizeof tr->s);
    crc = lm_crc32(crc, tr->w.w, nf * sizeof(float));
    crc = lm_crc32(crc, tr->best.w, nf * sizeof(float));
    crc = lm_crc32(crc, tr->m, nf * sizeof(float));
    crc = lm_crc32(crc, tr->v, nf * sizeof(float));
    int ok = fwrite(CKPT_MAGIC, 1, 8, af.fp) == 8 && fwrite(&tr->s, sizeof tr->s, 1, af.fp) == 1 &&
             fwrite(tr->w.w, sizeof(float), nf, af.fp) == nf && fwrite(tr->best.w, sizeof(float), nf, af.fp) == nf &&
             fwrite(tr->m, sizeof(float), nf, af.fp) == nf && fwrite(tr->v, sizeof(float), nf, af.fp) == nf &&
             fwrite(&crc, 4, 1, af.fp) == 1;
    if (!ok) {
        lm_set_error("cannot write checkpoint %s: %s", path, strerror(errno));
        lm_atomic_abort(&af);
        return -1;
    }
    return lm_atomic_commit(&af);
}

/* The checkpoint file's bytes after checking its size, magic and checksum (NULL: error set). */
static char *checkpoint_read(const char *path) {
    size_t n;
    char *buf = lm_read_file(path, &n);
    if (!buf) return NULL;
    size_t want = 8 + sizeof(train_state) + 4 * LM_MODEL_NFLOATS * sizeof(float) + 4;
    if (n != want || memcmp(buf, CKPT_MAGIC, 8) != 0) {
        lm_set_error("%s: not a leitmotif checkpoint, or truncated", path);
        free(buf);
        return NULL;
    }
    uint32_t crc;
    memcpy(&crc, buf + n - 4, 4);
    if (lm_crc32(0, buf + 8, n - 12) != crc) {
        lm_set_error("%s: checkpoint is corrupted (checksum mismatch)", path);
        free(buf);
        return NULL;
    }
    /* The checksum guards against damage, not against a file made to pass it: the counts that
     * index the history arrays (and that resuming continues from) must be in range. */
    int32_t n_hist, epoch, phase, since_best;
    memcpy(&n_hist, buf + 8 + offsetof(train_state, n_hist), sizeof n_hist);
    memcpy(&epoch, buf + 8 + offsetof(train_state, epoch), sizeof epoch);
    memcpy(&phase, buf + 8 + offsetof(train_state, phase), sizeof phase);
    memcpy(&since_best, buf + 8 + offsetof(train_state, since_best), sizeof since_best);
    if (n_hist < 0 || n_hist > MAX_EPOCHS_STORED || epoch < 0 || phase < 0 || since_best < 0) {
        lm_set_error("%s: not a valid checkpoint (impossible training state: epoch %d, %d history entries)", path,
                     (int)epoch, (int)n_hist);
        free(buf);
        return NULL;
    }
    return buf;
}

static int checkpoint_load(const char *path, trainer *tr, uint64_t fp) {
    char *buf = checkpoint_read(path);
    if (!buf) return -1;
    size_t nf = LM_MODEL_NFLOATS;
    const char *p = buf + 8;
    memcpy(&tr->s, p, sizeof tr->s);
    p += sizeof tr->s;
    memcpy(tr->w.w, p, nf * sizeof(float));
    p += nf * sizeof(float);
    memcpy(tr->best.w, p, nf * sizeof(float));
    p += nf * sizeof(float);
    memcpy(tr->m, p, nf * sizeof(float));
    p += nf * sizeof(float);
    memcpy(tr->v, p, nf * sizeof(float));
    free(buf);
    if (tr->s.fingerprint != fp) {
        lm_set_error("%s: checkpoint was made with other training data or settings; cannot resume", path);
        return -1;
    }
    return 0;
}

int lm_train_checkpoint_history(const char *path, FILE *csv, char *summary, size_t summary_size) {
    char *buf = checkpoint_read(path);
    if (!buf) return -1;
    train_state *s = malloc(sizeof *s);
    if (!s) {
        free(buf);
        lm_set_error("out of memory");
        return -1;
    }
    memcpy(s, buf + 8, sizeof *s);
    free(buf);
    int best_epoch = 0;
    double best = INFINITY;
    fprintf(csv, "epoch,train_loss,valid_loss,lr,improved\n");
    for (int32_t e = 0; e < s->n_hist; e++) {
        int improved = s->hist_val[e] < best;
        if (improved) best = s->hist_val[e], best_epoch = e + 1;
        fprintf(csv, "%d,%.6f,%.6f,%.6g,%d\n", e + 1, s->hist_train[e], s->hist_val[e], s->hist_lr[e], improved);
    }
    snprintf(summary, summary_size,
             "%s after epoch %d (annealing phase %d), learning rate %.3g, best validation loss %.6f (epoch %d), "
             "%.1f min of training",
             s->finished ? "finished" : "stopped", s->epoch, s->phase + 1, s->lr, s->best_val, best_epoch,
             s->train_seconds / 60);
    free(s);
    return 0;
}

/* Trainable = everything but the fixed chroma pooling matrix. */
static int trainable(size_t i) {
    static size_t lo = 0, hi = 0;
    if (!hi) {
        for (int t = 0; t < LM_T_CHROMA_POOL; t++) lo += lm_tensor_counts[t];
        hi = lo + lm_tensor_counts[LM_T_CHROMA_POOL];
    }
    return i < lo || i >= hi;
}

static void adam_step(trainer *tr, const float *g) {
    tr->s.adam_t++;
    double b1t = 1 - pow(ADAM_B1, (double)tr->s.adam_t), b2t = 1 - pow(ADAM_B2, (double)tr->s.adam_t);
    double step = tr->s.lr * sqrt(b2t) / b1t;
    for (size_t i = 0; i < LM_MODEL_NFLOATS; i++) {
        if (!trainable(i)) continue;
        tr->m[i] = (float)(ADAM_B1 * tr->m[i] + (1 - ADAM_B1) * g[i]);
        tr->v[i] = (float)(ADAM_B2 * tr->v[i] + (1 - ADAM_B2) * (double)g[i] * g[i]);
        /* Keras/TF form: epsilon added to sqrt(v_hat) scaled by the bias correction. */
        tr->w.w[i] -= (float)(step * tr->m[i] / (sqrt(tr->v[i]) + ADAM_EPS * sqrt(b2t)));
    }
}

typedef struct {
    lm_train_ws ws;
    float *x;
    size_t x_cap;
    double *logits, *dlogits;
    size_t z_cap;
} worker;

static int worker_reserve(worker *w, size_t T) {
    if (T > w->x_cap) {
        free(w->x);
        w->x = malloc(T * NB * NH * sizeof(float));
        w->x_cap = w->x ? T : 0;
    }
    if (T > w->z_cap) {
        free(w->logits);
        free(w->dlogits);
        w->logits = malloc(T * NC * sizeof(double));
        w->dlogits = malloc(T * NC * sizeof(double));
        w->z_cap = (w->logits && w->dlogits) ? T : 0;
    }
    return (w->x_cap >= T && w->z_cap >= T) ? 0 : -1;
}

static int all_finite_d(const double *a, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(a[i])) return 0;
    return 1;
}

/* Network input of an audio-mode example: augmented with draw `aug_seed` (aug NULL: clean).
 * `other` is the unrelated excerpt for the mix step. Returns the frame count, 0 on failure. */
static size_t audio_input(const lm_train_example *e, const lm_augment_config *aug, uint64_t aug_seed,
                          const lm_excerpt *other, int shift, size_t cap, worker *wk) {
    size_t T = 0;
    if (worker_reserve(wk, cap) != 0) return 0;
    float *y = lm_excerpt_audio_float(e->ex), *yo = NULL, *ya = NULL;
    size_t ny = e->ex->n_audio;
    double scale = 1;
    int ok = y != NULL;
    if (ok && aug) {
        if (other && other->audio) yo = lm_excerpt_audio_float(other);
        ok = lm_augment_apply(aug, aug_seed, y, ny, yo, yo ? other->n_audio : 0, &ya, &ny, &scale, NULL) == 0;
        free(y);
        y = ya;
    }
    ok = ok && lm_excerpt_input_from_audio(y, ny, e->ex->t0 * scale, e->ex->t1 * scale, shift, wk->x, cap, &T) == 0;
    free(y);
    free(yo);
    return ok ? T : 0;
}

/* Forward (and, with g, backward) of one example. Returns its loss; NAN on a fatal problem.
 * Audio-mode examples are augmented with draw aug_seed when aug is not NULL. */
static double run_example(const lm_model *w, const lm_train_example *e, int shift, enum lm_loss_type loss, worker *wk,
                           lm_model *g, const lm_augment_config *aug, uint64_t aug_seed, const lm_excerpt *other) {
    size_t T = e->ex->T;
    if (e->ex->audio) {
        /* Detuning stretches the excerpt by up to 3 %; the CCE targets exist for the nominal
         * frames only, so its excerpts are cut there. */
        size_t cap = loss == LM_LOSS_CCE ? T : T + T / 16 + 4;
        T = audio_input(e, aug, aug_seed, other, shift, cap, wk);
        if (T == 0) return NAN;
    } else {
        if (worker_reserve(wk, T) != 0) return NAN;
        lm_excerpt_input(e->ex, shift, wk->x);
    }
    if (lm_cnn_train_forward(w, wk->x, T, &wk->ws, wk->logits) != 0) return NAN;
    if (!all_finite_d(wk->logits, T * NC)) return NAN;
    lm_train_example eT = *e; /* the frame count of an augmented excerpt may differ */
    lm_excerpt exT = *e->ex;
    exT.T = T;
    eT.ex = &exT;
    double l = lm_example_loss(loss, &eT, shift, wk->logits, T, g ? wk->dlogits : NULL);
    if (g && isfinite(l)) lm_cnn_train_backward(w, &wk->ws, wk->dlogits, g);
    return l;
}

static int example_shift(const lm_train_config *cfg, int epoch, size_t idx) {
    if (cfg->max_shift <= 0) return 0;
    uint64_t h = hash3(cfg->seed ^ 0x5eedull, (uint64_t)epoch, idx);
    return (int)(h % (uint64_t)(2 * cfg->max_shift + 1)) - cfg->max_shift;
}

/* order[0..n) = 0..n-1 sorted by the excerpt length of ex[idx[k]] (idx NULL: ex[k]), longest
 * first, ties in index order. Scheduling the longest first lets the threads finish together
 * (excerpts differ up to 8x in length); every example writes its own slot, so the results do not
 * depend on the order. Insertion sort: n is a batch or a validation set. */
static void longest_first(const lm_train_example *ex, const size_t *idx, size_t n, size_t *order) {
    for (size_t k = 0; k < n; k++) {
        size_t T = ex[idx ? idx[k] : k].ex->T, q = k;
        for (; q > 0 && ex[idx ? idx[order[q - 1]] : order[q - 1]].ex->T < T; q--) order[q] = order[q - 1];
        order[q] = k;
    }
}

/* order: the validation examples longest first (longest_first), fixed for the run. */
static double validate(const lm_train_config *cfg, const lm_model *w, const lm_train_example *va, size_t nv,
                       const size_t *order, worker *workers, int *fatal) {
    double *losses = malloc((nv ? nv : 1) * sizeof *losses);
    if (!losses) {
        *fatal = 1;
        return NAN;
    }
    /* losses are summed in the pairs' order */
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t q = 0; q < nv; q++) {
        size_t i = order[q];
        const lm_augment_config *aug = augmenting(cfg) ? cfg->augment : NULL;
        losses[i] = run_example(w, &va[i], 0, cfg->loss, &workers[omp_get_thread_num()], NULL, aug,
                                hash3(cfg->seed ^ 0x7a11dull, 0, i), va[(i * 7919 + 13) % nv].ex);
    }
    double sum = 0;
    size_t n = 0;
    for (size_t i = 0; i < nv; i++) {
        if (isnan(losses[i])) *fatal = 1;
        if (isfinite(losses[i])) {
            sum += losses[i];
            n++;
        }
    }
    free(losses);
    return n ? sum / (double)n : NAN;
}

/* The time left is a bound: with --max-epochs at most that many epochs remain; without it,
 * every remaining annealing phase lasts at least `patience` epochs, so at least those remain.
 * mark: "*" when the epoch improved the best validation loss, an anneal note when it ended a phase. */
static void print_epoch(const trainer *tr, int epochs_left, int at_least, double ex_per_s, double epoch_s,
                        const char *mark) {
    const train_state *s = &tr->s;
    double eta = epochs_left > 0 ? epochs_left * epoch_s : 0;
    fprintf(stderr,
            "epoch %3d  train %.4f  valid %.4f  best %.4f  lr %.2e  phase %d  %.1f ex/s  %.0f s/epoch  "
            "eta %s %.0f min%s%s\n",
            s->epoch, s->hist_train[s->n_hist - 1], s->hist_val[s->n_hist - 1], s->best_val, s->hist_lr[s->n_hist - 1],
            s->phase + 1, ex_per_s, epoch_s, at_least ? ">=" : "<=", eta / 60, *mark ? "  " : "", mark);
}

static int save_best(const lm_train_config *cfg, const trainer *tr) {
    char info[2048];
    snprintf(info, sizeof info, "%strained_epochs %d\nbest_valid_loss %.6f\nloss %s\n", cfg->info ? cfg->info : "",
             tr->s.epoch, tr->s.best_val, cfg->loss == LM_LOSS_CTC ? "ctc" : "cce");
    return lm_model_save(cfg->out_model, &tr->best, info);
}

int lm_train(const lm_train_config *cfg, const lm_train_example *tr_ex, size_t n_train, const lm_train_example *va,
             size_t n_valid) {
    if (n_train == 0 || n_valid == 0) {
        lm_set_error("need training and validation examples (have %zu and %zu)", n_train, n_valid);
        return -1;
    }
    trainer tr;
    memset(&tr, 0, sizeof tr);
    int rc = -1;
    int nthreads = lm_threads();
    worker *workers = calloc((size_t)nthreads, sizeof *workers);
    float *gbuf = malloc((size_t)cfg->batch * LM_MODEL_NFLOATS * sizeof(float));
    float *gsum = malloc(LM_MODEL_NFLOATS * sizeof(float));
    size_t *perm = malloc(n_train * sizeof *perm);
    double *bloss = malloc((size_t)cfg->batch * sizeof *bloss);
    size_t *order = malloc((size_t)cfg->batch * sizeof *order);
    size_t *va_order = malloc((n_valid ? n_valid : 1) * sizeof *va_order);
    if (!workers || !gbuf || !gsum || !perm || !bloss || !order || !va_order || lm_model_alloc(&tr.w, cfg->model_id) != 0 ||
        lm_model_alloc(&tr.best, cfg->model_id) != 0 || !(tr.m = calloc(LM_MODEL_NFLOATS, sizeof(float))) ||
        !(tr.v = calloc(LM_MODEL_NFLOATS, sizeof(float)))) {
        lm_set_error("out of memory setting up training");
        goto done;
    }
    for (int i = 0; i < nthreads; i++) lm_train_ws_init(&workers[i].ws);
    longest_first(va, NULL, n_valid, va_order);
    uint64_t fp = fingerprint(cfg, tr_ex, n_train, va, n_valid);
    if (cfg->resume && lm_file_exists(cfg->checkpoint)) {
        if (checkpoint_load(cfg->checkpoint, &tr, fp) != 0) goto done;
        fprintf(stderr, "leitmotif: resuming after epoch %d (phase %d, lr %.2e, best valid %.4f)\n", tr.s.epoch,
                tr.s.phase + 1, tr.s.lr, tr.s.best_val);
    } else {
        if (cfg->init) memcpy(tr.w.w, cfg->init->w, LM_MODEL_NFLOATS * sizeof(float));
        else lm_model_init_random(&tr.w, cfg->seed);
        memcpy(tr.best.w, tr.w.w, LM_MODEL_NFLOATS * sizeof(float));
        tr.s.fingerprint = fp;
        tr.s.lr = cfg->lr;
        tr.s.best_val = INFINITY;
    }
    int fatal = 0;
    if (cfg->init && tr.s.epoch == 0 && isinf(tr.s.best_val)) {
        double v0 = validate(cfg, &tr.w, va, n_valid, va_order, workers, &fatal);
        if (fatal || !isfinite(v0)) {
            lm_set_error("the starting model gives non-finite validation losses");
            goto done;
        }
        tr.s.best_val = v0;
        fprintf(stderr, "leitmotif: starting model: validation loss %.4f\n", v0);
        if (save_best(cfg, &tr) != 0) goto done;
    }
    while (!tr.s.finished && !(cfg->max_epochs > 0 && tr.s.epoch >= cfg->max_epochs)) {
        int epoch = tr.s.epoch + 1;
        double t0 = lm_now();
        /* Shuffle: Fisher-Yates driven by (seed, epoch). */
        for (size_t i = 0; i < n_train; i++) perm[i] = i;
        for (size_t i = n_train - 1; i > 0; i--) {
            size_t j = (size_t)(hash3(cfg->seed, (uint64_t)epoch, i) % (i + 1));
            size_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        double loss_sum = 0;
        size_t loss_n = 0, skipped = 0;
        lm_progress prog;
        lm_progress_start(&prog, "epoch", n_train);
        for (size_t b0 = 0; b0 < n_train && !fatal; b0 += (size_t)cfg->batch) {
            size_t nb = n_train - b0 < (size_t)cfg->batch ? n_train - b0 : (size_t)cfg->batch;
            longest_first(tr_ex, perm + b0, nb, order);
#pragma omp parallel for schedule(dynamic, 1)
            for (size_t q = 0; q < nb; q++) {
                size_t k = order[q];
                lm_model g = {.w = gbuf + k * LM_MODEL_NFLOATS};
                lm_model_set_pointers(&g);
                memset(g.w, 0, LM_MODEL_NFLOATS * sizeof(float));
                size_t idx = perm[b0 + k];
                const lm_augment_config *aug = augmenting(cfg) ? cfg->augment : NULL;
                /* the unrelated excerpt of the mix step: another training example, drawn per epoch */
                size_t other = (size_t)(hash3(cfg->seed ^ 0x0febull, (uint64_t)epoch, idx) % n_train);
                bloss[k] = run_example(&tr.w, &tr_ex[idx], example_shift(cfg, epoch, idx), cfg->loss,
                                       &workers[omp_get_thread_num()], &g, aug, hash3(cfg->seed ^ 0xa06ull, (uint64_t)epoch, idx),
                                       other == idx ? NULL : tr_ex[other].ex);
            }
            /* Mean over the usable examples of the batch, summed in a fixed order (determinism). */
            memset(gsum, 0, LM_MODEL_NFLOATS * sizeof(float));
            size_t used = 0;
            for (size_t k = 0; k < nb; k++) {
                if (isnan(bloss[k])) fatal = 1;
                if (!isfinite(bloss[k])) {
                    skipped++;
                    continue;
                }
                used++;
                loss_sum += bloss[k];
                loss_n++;
                const float *gk = gbuf + k * LM_MODEL_NFLOATS;
                for (size_t i = 0; i < LM_MODEL_NFLOATS; i++) gsum[i] += gk[i];
            }
            if (fatal || !used) continue;
            for (size_t i = 0; i < LM_MODEL_NFLOATS; i++) gsum[i] /= (float)used;
            adam_step(&tr, gsum);
            lm_progress_update(&prog, b0 + nb);
        }
        lm_progress_end(&prog);
        for (size_t i = 0; i < LM_MODEL_NFLOATS && !fatal; i++)
            if (!isfinite(tr.w.w[i])) fatal = 1;
        double val = fatal ? NAN : validate(cfg, &tr.w, va, n_valid, va_order, workers, &fatal);
        if (fatal || !isfinite(val)) {
            lm_set_error("non-finite values in training (NaN in the input data, or the training diverged) in epoch %d; "
                         "stopped without writing a model from this epoch",
                         epoch);
            goto done;
        }
        if (epoch == 1 && skipped)
            fprintf(stderr, "leitmotif: warning: %zu training pair(s) skipped: too few frames for their labels\n", skipped);
        double secs = lm_now() - t0;
        tr.s.train_seconds += secs;
        tr.s.epoch = epoch;
        if (tr.s.n_hist < MAX_EPOCHS_STORED) {
            tr.s.hist_train[tr.s.n_hist] = loss_n ? loss_sum / (double)loss_n : NAN;
            tr.s.hist_val[tr.s.n_hist] = val;
            tr.s.hist_lr[tr.s.n_hist] = tr.s.lr;
            tr.s.n_hist++;
        }
        const char *mark = "";
        if (val < tr.s.best_val) {
            mark = "*";
            tr.s.best_val = val;
            tr.s.since_best = 0;
            memcpy(tr.best.w, tr.w.w, LM_MODEL_NFLOATS * sizeof(float));
            if (save_best(cfg, &tr) != 0) goto done;
        } else if (++tr.s.since_best >= cfg->patience) {
            /* Anneal: halve the rate and continue from the best model with fresh moments. */
            mark = "anneal: lr halved, back to the best model";
            if (++tr.s.phase >= cfg->phases) tr.s.finished = 1;
            tr.s.lr *= 0.5;
            tr.s.since_best = 0;
            memcpy(tr.w.w, tr.best.w, LM_MODEL_NFLOATS * sizeof(float));
            memset(tr.m, 0, LM_MODEL_NFLOATS * sizeof(float));
            memset(tr.v, 0, LM_MODEL_NFLOATS * sizeof(float));
            tr.s.adam_t = 0;
        }
        if (checkpoint_save(cfg->checkpoint, &tr) != 0) goto done;
        int left = tr.s.finished ? 0
                   : cfg->max_epochs > 0 ? cfg->max_epochs - epoch
                                         : (cfg->phases - tr.s.phase - 1) * cfg->patience + cfg->patience - tr.s.since_best;
        print_epoch(&tr, left, cfg->max_epochs <= 0, (double)n_train / secs, secs, mark);
    }
    if (!lm_file_exists(cfg->out_model) && save_best(cfg, &tr) != 0) goto done;
    if (cfg->plot_png &&
        lm_plot_losses(cfg->plot_png, tr.s.hist_train, tr.s.hist_val, (size_t)tr.s.n_hist) != 0)
        fprintf(stderr, "leitmotif: warning: loss plot not written: %s\n", lm_last_error());
    fprintf(stderr, "leitmotif: training finished after %d epochs (%.1f min); best validation loss %.4f -> %s\n",
            tr.s.epoch, tr.s.train_seconds / 60, tr.s.best_val, cfg->out_model);
    rc = 0;
done:
    if (workers)
        for (int i = 0; i < nthreads; i++) {
            lm_train_ws_free(&workers[i].ws);
            free(workers[i].x);
            free(workers[i].logits);
            free(workers[i].dlogits);
        }
    free(workers);
    free(gbuf);
    free(gsum);
    free(perm);
    free(bloss);
    free(order);
    free(va_order);
    lm_model_free(&tr.w);
    lm_model_free(&tr.best);
    free(tr.m);
    free(tr.v);
    return rc;
}
