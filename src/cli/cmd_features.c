/* `leitmotif hcqt` and `leitmotif chroma`: audio -> features, as .npy or CSV. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "chroma/features.h"
#include "cli/cli.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/npy.h"
#include "hcqt/hcqt.h"
#include "nn/model.h"

static const char *const chroma_names[12] = {"C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"};

static void hcqt_help(FILE *f) {
    fprintf(f, "usage: leitmotif hcqt AUDIO -o OUT.npy [--times TIMES.npy] [--threads N]\n\n"
               "Harmonic CQT of AUDIO (any format libsndfile reads; mixed to mono, resampled to 22050 Hz):\n"
               "hop 256, 36 bins/octave, 216 bins from 32.7 Hz x h for h = 0.5,1,2,3,4,5, log-compressed\n"
               "(dB/80 + 1, top 80 dB), median-aggregated to 25 Hz. OUT.npy: float32 [6][216][T]; frame i\n"
               "is at t_i = 0.04*i s (--times writes these as float64 [T]).\n");
}

static void chroma_help(FILE *f) {
    fprintf(f, "usage: leitmotif chroma AUDIO -o OUT [--features ctc|stft|bittner|bg1] [--model FILE] [--csv]\n"
               "                        [--tuning auto|off|CENTS] [--times TIMES.npy] [--probs PROBS.npy]\n"
               "                        [--nn-precision fp32|bf16] [--threads N]\n\n"
               "Chroma features of AUDIO at 25 Hz, each frame l2-normalised.\n"
               "  --features ctc   deep chroma of the CNN model (default)\n"
               "  --features stft  standard chroma baseline (librosa 0.7 chroma_stft, n_fft 4096, hop 882)\n"
               "  --features bittner  Bittner et al.'s deep salience (melody2 weights) folded to 12 pitch classes\n"
               "  --features bg1   Bosch-Gomez source-filter + harmonic-summation salience folded to chroma\n"
               "  --model FILE     model for ctc (default: the shipped model, or $LEITMOTIF_MODEL) or for\n"
               "                   bittner (default: ../shared/reference/models/bittner_melody2.bin, or\n"
               "                   $LEITMOTIF_SALIENCE_MODEL)\n"
               "  -o OUT           float32 .npy [12][T] (rows C, C#, ..., B); with --csv a CSV file\n"
               "                   'time_s,C,...,B' (one row per frame); '-' writes the CSV to stdout\n"
               "  --tuning MODE    auto (default): estimate how far the recording is from A = 440 Hz and\n"
               "                   compute ctc, bittner and bg1 features as if it were in tune (frame times\n"
               "                   stay the recording's; the deviation is printed); CENTS (-50..50): the\n"
               "                   recording's known deviation (A = 430 Hz is -40); off: as it is. stft\n"
               "                   always tunes its own filter bank.\n"
               "  --times FILE     frame times t_i = 0.04*i s as float64 .npy [T]\n"
               "  --probs FILE     (ctc) the 13-class network output, float32 [13][T] (class 12 = epsilon)\n"
               "  --nn-precision P (ctc) fp32 (default, or $LEITMOTIF_NN_PRECISION) or bf16: the network's\n"
               "                   convolutions with bf16 dot products where the CPU has AVX512_BF16 (about\n"
               "                   1.5x faster network; 99.9%% of frames keep their argmax), else fp32\n");
}

static int write_times(const char *path, size_t T) {
    double *t = lm_malloc(T, sizeof *t);
    if (!t) return -1;
    for (size_t i = 0; i < T; i++) t[i] = 0.04 * (double)i;
    size_t shape[1] = {T};
    int rc = lm_npy_write(path, LM_F64, 1, shape, t);
    free(t);
    return rc;
}

int cmd_hcqt(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *times = NULL;
    for (int i = 1; i < argc; i++) {
        int th = lm_cli_threads_option(argc, argv, &i);
        if (th < 0) return 1;
        if (th) continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            hcqt_help(stdout);
            return 0;
        } else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--times") && i + 1 < argc) times = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1]) return lm_cli_fail("hcqt: unknown option or missing value: %s", argv[i]);
        else if (!in) in = argv[i];
        else return lm_cli_fail("hcqt: more than one input file given");
    }
    if (!in || !out) {
        hcqt_help(stderr);
        return 2;
    }
    lm_audio a;
    if (lm_audio_load(in, &a) != 0) return lm_cli_fail_lib();
    lm_hcqt h;
    int rc = lm_hcqt25(a.samples, a.n, &h);
    lm_audio_free(&a);
    if (rc != 0) return lm_cli_fail_lib();
    size_t shape[3] = {LM_HCQT_NHARM, LM_HCQT_NBINS, h.n_frames};
    rc = lm_npy_write_f32(out, 3, shape, h.data);
    if (rc == 0 && times) rc = write_times(times, h.n_frames);
    lm_hcqt_free(&h);
    return rc == 0 ? 0 : lm_cli_fail_lib();
}

static int write_csv(const char *path, const float *chroma, size_t T) {
    lm_atomic_file af;
    FILE *fp = stdout;
    int to_stdout = !strcmp(path, "-");
    if (!to_stdout) {
        if (lm_atomic_open(&af, path) != 0) return -1;
        fp = af.fp;
    }
    fputs("time_s", fp);
    for (int k = 0; k < 12; k++) fprintf(fp, ",%s", chroma_names[k]);
    fputc('\n', fp);
    for (size_t t = 0; t < T; t++) {
        fprintf(fp, "%.2f", 0.04 * (double)t);
        for (int k = 0; k < 12; k++) fprintf(fp, ",%.6f", chroma[(size_t)k * T + t]);
        fputc('\n', fp);
    }
    if (to_stdout) {
        if (fflush(stdout) != 0) {
            lm_set_error("cannot write to stdout: %s", strerror(errno));
            return -1;
        }
        return 0;
    }
    return lm_atomic_commit(&af);
}

int cmd_chroma(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *times = NULL, *model_path = NULL, *probs_out = NULL;
    enum lm_feature_type type = LM_FEAT_CTC;
    lm_tuning tuning = {LM_TUNING_AUTO, 0};
    int csv = 0;
    const char *nn_precision = NULL;
    for (int i = 1; i < argc; i++) {
        int th = lm_cli_threads_option(argc, argv, &i);
        if (th < 0) return 1;
        if (th) continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            chroma_help(stdout);
            return 0;
        } else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--times") && i + 1 < argc) times = argv[++i];
        else if (!strcmp(argv[i], "--probs") && i + 1 < argc) probs_out = argv[++i];
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) model_path = argv[++i];
        else if (!strcmp(argv[i], "--features") && i + 1 < argc) {
            if (lm_feature_parse(argv[++i], &type) != 0) return lm_cli_fail_lib();
        } else if (!strcmp(argv[i], "--tuning") && i + 1 < argc) {
            if (lm_tuning_parse(argv[++i], &tuning) != 0) return lm_cli_fail_lib();
        } else if (!strcmp(argv[i], "--csv")) csv = 1;
        else if (!strcmp(argv[i], "--nn-precision") && i + 1 < argc) nn_precision = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1]) return lm_cli_fail("chroma: unknown option or missing value: %s", argv[i]);
        else if (!in) in = argv[i];
        else return lm_cli_fail("chroma: more than one input file given");
    }
    if (!in || !out) {
        chroma_help(stderr);
        return 2;
    }
    if (!csv && !strcmp(out, "-")) return lm_cli_fail("chroma: '-o -' (stdout) needs --csv");
    if (type != LM_FEAT_CTC && probs_out) return lm_cli_fail("chroma: --probs applies to --features ctc only");
    if (lm_cli_nn_precision(nn_precision) < 0) return 1;
    lm_feature_weights fw;
    if (lm_feature_weights_load(&fw, type, model_path) != 0) return lm_cli_fail_lib();
    float *chroma = NULL, *probs = NULL;
    size_t T = 0;
    int rc;
    double dev = 0;
    /* the deep and the stft chroma stream the file (memory independent of its length); the
     * salience features load it */
    if (type == LM_FEAT_CTC) rc = lm_deep_chroma_file(in, &fw.chroma, &tuning, &chroma, &probs, &T, &dev, NULL);
    else
        rc = lm_features_from_file_ex(in, type, NULL, lm_feature_weights_salience(&fw), &tuning, &chroma, &T, NULL,
                                      &dev);
    if (rc == 0 && tuning.mode != LM_TUNING_OFF && type != LM_FEAT_STFT)
        fprintf(stderr, "leitmotif: %s: tuning %+.0f cents from A = 440 Hz%s\n", in, dev * 100,
                fabs(dev) < LM_TUNING_MIN_SEMITONES ? " (left as it is)" : " (compensated)");
    lm_feature_weights_free(&fw);
    if (rc == 0) {
        size_t shape[2] = {12, T};
        rc = csv ? write_csv(out, chroma, T) : lm_npy_write_f32(out, 2, shape, chroma);
    }
    if (rc == 0 && times) rc = write_times(times, T);
    if (rc == 0 && probs_out) {
        float *pt = lm_malloc(T * LM_NCLASSES, sizeof *pt);
        rc = pt ? 0 : -1;
        if (pt) {
            for (size_t t = 0; t < T; t++)
                for (int k = 0; k < LM_NCLASSES; k++) pt[(size_t)k * T + t] = probs[t * LM_NCLASSES + (size_t)k];
            size_t shape[2] = {LM_NCLASSES, T};
            rc = lm_npy_write_f32(probs_out, 2, shape, pt);
            free(pt);
        }
    }
    free(chroma);
    free(probs);
    return rc == 0 ? 0 : lm_cli_fail_lib();
}
