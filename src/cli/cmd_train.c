/* `leitmotif train`: train a deep chroma model on weakly aligned score-audio pairs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "common/error.h"
#include "ctc/ctc.h"
#include "symbolic/theme.h"
#include "train/excerpts.h"
#include "train/pairs.h"
#include "train/trainer.h"

static void train_help(FILE *f) {
    fprintf(f,
            "usage: leitmotif train --pairs PAIRS.csv --out MODEL.bin --train-folds 1,2,3 --valid-fold 4 [options]\n\n"
            "Trains the deep chroma network on weakly aligned pairs: an audio excerpt (start/end only) and the\n"
            "pitch-class sequence of the theme played in it. PAIRS.csv: see docs/training.md; the corpus table\n"
            "../shared/corpus/themes.csv is accepted as is with --audio-dir set to the rendered audio folder.\n\n"
            "  --audio-dir DIR     where audio files / <piece_id>.flac are (default: next to PAIRS.csv)\n"
            "  --pieces FILE       pieces CSV with a license column, joined by piece_id\n"
            "  --license LIST      use only pairs with these licences, e.g. CC0-1.0 (a shipped model must be\n"
            "                      trained on CC0-1.0 pieces only)\n"
            "  --train-folds LIST  folds to train on; --valid-fold N the validation fold (the rest is test)\n"
            "  --loss ctc|cce      CTC (default) or the frame-wise cross-entropy baseline with the theme\n"
            "                      stretched linearly over the excerpt (needs query_midi / MIDI themes)\n"
            "  --out FILE          best model (FLATWEIGHTS 1); --checkpoint FILE (default OUT.ckpt)\n"
            "  --resume            continue from the checkpoint exactly where it stopped\n"
            "  --cache DIR         HCQT excerpt cache (default OUT.cache; only with --augment none)\n"
            "  --augment SPEC      waveform augmentation before the HCQT, drawn anew per example and epoch from\n"
            "                      the seed: default (on), none (exactly the training without augmentation), or\n"
            "                      step=probability items such as default,codec=0.3,reverb=0; steps: mix detune\n"
            "                      reverb eq compress noise codec (docs/training.md)\n"
            "  --init MODEL.bin    start from these weights (fine-tuning) instead of a random initialisation\n"
            "  --plot FILE.png     loss curves (default OUT.png)\n"
            "  --seed N (1)  --batch N (8)  --lr X (1e-3)  --patience N (5)  --phases N (10)\n"
            "  --max-shift N (3)   transposition augmentation in semitones\n"
            "  --max-epochs N      stop after N epochs (default: when annealing ends)\n"
            "  --threads N\n\n"
            "leitmotif train --history CHECKPOINT  prints a checkpoint's per-epoch losses as CSV on stdout\n"
            "(epoch,train_loss,valid_loss,lr,improved) and its state on stderr, without any training data.\n");
}

static int parse_folds(const char *s, int *folds, size_t *n) {
    *n = 0;
    char *copy = strdup(s), *save = NULL;
    if (!copy) return -1;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (*n == 16 || lm_cli_parse_int("--train-folds", tok, 1, 1000, &v) != 0) {
            free(copy);
            return -1;
        }
        folds[(*n)++] = (int)v;
    }
    free(copy);
    return *n ? 0 : -1;
}

/* CCE targets: the theme's notes stretched linearly over the excerpt, epsilon on rests. */
static int *linear_frame_labels(const lm_pair *p, size_t T) {
    if (!p->midi_path || !*p->midi_path) {
        lm_set_error("%s: --loss cce needs the theme's MIDI (query_midi column)", p->theme_id);
        return NULL;
    }
    lm_theme th;
    if (lm_midi_read_theme(p->midi_path, &th) != 0) return NULL;
    int *lab = malloc(T * sizeof *lab);
    if (lab) {
        size_t k = 0;
        for (size_t t = 0; t < T; t++) {
            double pos = ((double)t + 0.5) / (double)T * th.duration;
            while (k + 1 < th.n && th.notes[k + 1].onset <= pos) k++;
            const lm_note *nt = &th.notes[k];
            int sounding = nt->pitch >= 0 && pos >= nt->onset && pos < nt->onset + nt->duration;
            lab[t] = sounding ? ((nt->pitch + p->transposition) % 12 + 12) % 12 : LM_BLANK;
        }
    }
    lm_theme_free(&th);
    return lab;
}

int cmd_train(int argc, char **argv) {
    const char *pairs_csv = NULL, *audio_dir = NULL, *pieces = NULL, *license = NULL, *out = NULL;
    const char *ckpt = NULL, *cache = NULL, *plot = NULL, *augment = "default", *init_path = NULL;
    int train_folds[16];
    size_t n_train_folds = 0;
    long valid_fold = -1;
    lm_train_config cfg = {.loss = LM_LOSS_CTC, .lr = 1e-3, .batch = 8, .max_shift = 3, .patience = 5,
                           .phases = 10, .seed = 1};
    for (int i = 1; i < argc; i++) {
        int th = lm_cli_threads_option(argc, argv, &i);
        if (th < 0) return 1;
        if (th) continue;
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        double d;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            train_help(stdout);
            return 0;
        } else if (!strcmp(a, "--resume")) cfg.resume = 1;
        else if (!strcmp(a, "--history") && v) {
            char summary[512];
            if (lm_train_checkpoint_history(v, stdout, summary, sizeof summary) != 0)
                return lm_cli_fail("train: %s", lm_last_error());
            fprintf(stderr, "leitmotif: %s: %s\n", v, summary);
            return fflush(stdout) == 0 ? 0 : lm_cli_fail("train: cannot write the history");
        }
        else if (!v) return lm_cli_fail("train: %s needs a value (or is unknown)", a);
        else if (!strcmp(a, "--pairs")) pairs_csv = v, i++;
        else if (!strcmp(a, "--audio-dir")) audio_dir = v, i++;
        else if (!strcmp(a, "--pieces")) pieces = v, i++;
        else if (!strcmp(a, "--license")) license = v, i++;
        else if (!strcmp(a, "--out")) out = v, i++;
        else if (!strcmp(a, "--checkpoint")) ckpt = v, i++;
        else if (!strcmp(a, "--cache")) cache = v, i++;
        else if (!strcmp(a, "--plot")) plot = v, i++;
        else if (!strcmp(a, "--augment")) augment = v, i++;
        else if (!strcmp(a, "--init")) init_path = v, i++;
        else if (!strcmp(a, "--train-folds")) {
            if (parse_folds(v, train_folds, &n_train_folds) != 0) return lm_cli_fail("train: bad --train-folds '%s'", v);
            i++;
        } else if (!strcmp(a, "--valid-fold")) {
            if (lm_cli_parse_int(a, v, 1, 1000, &valid_fold) != 0) return 1;
            i++;
        } else if (!strcmp(a, "--loss")) {
            if (!strcmp(v, "ctc")) cfg.loss = LM_LOSS_CTC;
            else if (!strcmp(v, "cce")) cfg.loss = LM_LOSS_CCE;
            else return lm_cli_fail("train: --loss must be ctc or cce, not '%s'", v);
            i++;
        } else if (!strcmp(a, "--seed")) {
            if (lm_cli_parse_int(a, v, 0, 2147483647L, &n) != 0) return 1;
            cfg.seed = (unsigned long)n, i++;
        } else if (!strcmp(a, "--batch")) {
            if (lm_cli_parse_int(a, v, 1, 1024, &n) != 0) return 1;
            cfg.batch = (int)n, i++;
        } else if (!strcmp(a, "--patience")) {
            if (lm_cli_parse_int(a, v, 1, 1000, &n) != 0) return 1;
            cfg.patience = (int)n, i++;
        } else if (!strcmp(a, "--phases")) {
            if (lm_cli_parse_int(a, v, 1, 100, &n) != 0) return 1;
            cfg.phases = (int)n, i++;
        } else if (!strcmp(a, "--max-shift")) {
            if (lm_cli_parse_int(a, v, 0, 11, &n) != 0) return 1;
            cfg.max_shift = (int)n, i++;
        } else if (!strcmp(a, "--max-epochs")) {
            if (lm_cli_parse_int(a, v, 1, 9999, &n) != 0) return 1;
            cfg.max_epochs = (int)n, i++;
        } else if (!strcmp(a, "--lr")) {
            if (lm_cli_parse_double(a, v, 1e-8, 1.0, &d) != 0) return 1;
            cfg.lr = d, i++;
        } else return lm_cli_fail("train: unknown option %s", a);
    }
    if (!pairs_csv || !out || !n_train_folds || valid_fold < 0) {
        train_help(stderr);
        return 2;
    }
    for (size_t k = 0; k < n_train_folds; k++)
        if (train_folds[k] == valid_fold) return lm_cli_fail("train: fold %ld is both a training and the validation fold", valid_fold);
    char ckpt_buf[4096], cache_buf[4096], plot_buf[4096], id_buf[256];
    if (!ckpt) snprintf(ckpt_buf, sizeof ckpt_buf, "%s.ckpt", out), ckpt = ckpt_buf;
    if (!cache) snprintf(cache_buf, sizeof cache_buf, "%s.cache", out), cache = cache_buf;
    if (!plot) snprintf(plot_buf, sizeof plot_buf, "%s.png", out), plot = plot_buf;
    const char *base = strrchr(out, '/');
    snprintf(id_buf, sizeof id_buf, "%s", base ? base + 1 : out);
    char *dot = strrchr(id_buf, '.');
    if (dot) *dot = '\0';

    lm_augment_config aug;
    if (lm_augment_parse(augment, &aug) != 0) return lm_cli_fail("train: %s", lm_last_error());
    int audio_mode = lm_augment_enabled(&aug);
    lm_model init = {0};
    if (init_path && lm_model_load(init_path, &init) != 0) return lm_cli_fail("train: %s", lm_last_error());

    lm_pairs_options opt = {audio_dir, pieces};
    lm_pairs all;
    if (lm_pairs_load(pairs_csv, &opt, &all) != 0) return lm_cli_fail_lib();
    if (license && lm_pairs_filter_license(&all, license) < 0) {
        lm_pairs_free(&all);
        return lm_cli_fail_lib();
    }
    /* Training and validation pairs are kept together (one excerpt pass), tagged by fold. */
    int keep[17];
    memcpy(keep, train_folds, n_train_folds * sizeof *keep);
    keep[n_train_folds] = (int)valid_fold;
    if (lm_pairs_filter_folds(&all, keep, n_train_folds + 1, 0) < 0) {
        lm_pairs_free(&all);
        return lm_cli_fail_lib();
    }
    lm_excerpt *ex = calloc(all.n, sizeof *ex);
    lm_train_example *tr = calloc(all.n, sizeof *tr), *va = calloc(all.n, sizeof *va);
    if (!ex || !tr || !va) return lm_cli_fail("train: out of memory");
    long usable;
    if (audio_mode) {
        /* 1.5 s of context: the lowest HCQT bins' kernels are about 3 s long. */
        fprintf(stderr, "leitmotif: %zu pairs; reading their audio (augmentation: %s)\n", all.n, augment);
        usable = lm_excerpts_load_audio(&all, 1.5, ex);
    } else {
        fprintf(stderr, "leitmotif: %zu pairs; computing/caching HCQT excerpts in %s\n", all.n, cache);
        usable = lm_excerpts_load(&all, cache, ex);
    }
    int rc = 1;
    size_t nt = 0, nv = 0;
    if (usable < 0) {
        lm_cli_fail_lib();
        goto out;
    }
    for (size_t i = 0; i < all.n; i++) {
        if (ex[i].T == 0) continue;
        const lm_pair *p = &all.items[i];
        if (cfg.loss == LM_LOSS_CTC && ex[i].T < lm_ctc_min_frames(p->labels, p->n_labels)) {
            fprintf(stderr, "leitmotif: warning: %s: %zu frames cannot hold its %zu labels; pair skipped\n", p->theme_id,
                    ex[i].T, p->n_labels);
            continue;
        }
        lm_train_example e = {p, &ex[i], NULL};
        if (cfg.loss == LM_LOSS_CCE && !(e.frame_labels = linear_frame_labels(p, ex[i].T))) {
            lm_cli_fail_lib();
            goto out;
        }
        if (p->fold == valid_fold) va[nv++] = e;
        else tr[nt++] = e;
    }
    fprintf(stderr, "leitmotif: %zu training and %zu validation examples (%zu skipped)\n", nt, nv,
            all.n - nt - nv);
    if (nt == 0 || nv == 0) {
        lm_cli_fail("train: %s fold has no usable pairs", nt == 0 ? "the training" : "the validation");
        goto out;
    }
    char folds_txt[128] = "";
    for (size_t k = 0; k < n_train_folds; k++)
        snprintf(folds_txt + strlen(folds_txt), sizeof folds_txt - strlen(folds_txt), "%s%d", k ? "," : "", train_folds[k]);
    char info[1024];
    snprintf(info, sizeof info,
             "trained_by leitmotif train\npairs %s\nlicense_filter %s\ntrain_folds %s\nvalid_fold %ld\n"
             "train_examples %zu\nvalid_examples %zu\nseed %lu\naugment %s\ninit %s\n",
             pairs_csv, license ? license : "(none)", folds_txt, valid_fold, nt, nv, cfg.seed, augment,
             init_path ? init_path : "(random)");
    cfg.out_model = out;
    cfg.checkpoint = ckpt;
    cfg.plot_png = plot;
    cfg.model_id = id_buf;
    cfg.info = info;
    cfg.augment = audio_mode ? &aug : NULL;
    cfg.init = init_path ? &init : NULL;
    rc = lm_train(&cfg, tr, nt, va, nv) == 0 ? 0 : lm_cli_fail_lib();
out:
    for (size_t i = 0; i < nt; i++) free(tr[i].frame_labels);
    for (size_t i = 0; i < nv; i++) free(va[i].frame_labels);
    lm_excerpts_free(ex, all.n);
    free(ex);
    free(tr);
    free(va);
    lm_pairs_free(&all);
    lm_model_free(&init);
    return rc;
}
