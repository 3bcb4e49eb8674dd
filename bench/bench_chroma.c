/* Feature extraction speed on ~10 minutes of real music, in multiples of real time.
 * usage: bench_chroma MODEL AUDIO... (files are concatenated up to 600 s) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "chroma/features.h"
#include "chroma/stft_chroma.h"
#include "chroma/tuning.h"
#include "common/error.h"
#include "common/progress.h"
#include "common/threads.h"
#include "hcqt/hcqt.h"
#include "nn/cnn.h"
#include "nn/conv_bf16.h"

#define TARGET_SECONDS 600.0
#define BASELINE_SECONDS 120.0

/* Best of `reps` runs, to damp noise from other processes. */
#define TIME_BEST(reps, best, stmt)                 \
    do {                                            \
        best = 1e30;                                \
        for (int r_ = 0; r_ < (reps); r_++) {       \
            double t0_ = lm_now();                  \
            stmt;                                   \
            double dt_ = lm_now() - t0_;            \
            if (dt_ < best) best = dt_;             \
        }                                           \
    } while (0)

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_chroma MODEL AUDIO...\n");
        return 2;
    }
    lm_model model;
    if (lm_model_load(argv[1], &model) != 0) {
        fprintf(stderr, "bench_chroma: %s\n", lm_last_error());
        return 1;
    }
    size_t want = (size_t)(TARGET_SECONDS * LM_SAMPLE_RATE), n = 0;
    float *y = malloc(want * sizeof *y);
    for (int i = 2; i < argc && n < want; i++) {
        lm_audio a;
        if (lm_audio_load(argv[i], &a) != 0) {
            fprintf(stderr, "bench_chroma: %s\n", lm_last_error());
            return 1;
        }
        size_t take = a.n < want - n ? a.n : want - n;
        memcpy(y + n, a.samples, take * sizeof *y);
        n += take;
        lm_audio_free(&a);
    }
    double dur = (double)n / LM_SAMPLE_RATE;
    fprintf(stderr, "bench_chroma: %.1f s of audio from %d files\n", dur, argc - 2);
    double t_h1, t_h2, t_cnn, t_all, t_stft;
    lm_hcqt h;
    lm_threads_init(1);
    TIME_BEST(2, t_h1, {
        if (lm_hcqt25(y, n, &h) != 0) return 1;
        lm_hcqt_free(&h);
    });
    lm_threads_init(2);
    TIME_BEST(2, t_h2, {
        if (lm_hcqt25(y, n, &h) != 0) return 1;
        lm_hcqt_free(&h);
    });
    if (lm_hcqt25(y, n, &h) != 0) return 1;
    float *probs = malloc(h.n_frames * LM_NCLASSES * sizeof *probs);
    float *probs16 = malloc(h.n_frames * LM_NCLASSES * sizeof *probs16);
    /* fp32, bf16 (where the CPU has it; on AMX tiles where it has those) and, where it has AMX,
     * bf16 on the AVX512_BF16 loops: alternately, so that all see the same load */
    const int bf16 = lm_nn_bf16_supported(), amx = lm_nn_amx_supported();
    const int n_modes = bf16 ? (amx ? 3 : 2) : 1;
    if (bf16) fprintf(stderr, "bench_chroma: bf16 runs the 3x3 layers on %s\n", amx ? "AMX tiles" : "AVX512_BF16");
    double t_cnn_m[3] = {1e30, 1e30, 1e30}, t_all_m[3] = {1e30, 1e30, 1e30}, dt;
    float *c;
    size_t T;
    /* modes in the order fp32, [bf16 without AMX,] bf16: the last bf16 run leaves the default
     * bf16 path's output in probs16 for the agreement below, and fp32's stays in probs */
    static const int order_amx[3] = {0, 2, 1}, order[3] = {0, 1, 2};
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < n_modes; k++) {
            const int p = amx ? order_amx[k] : order[k];
            lm_nn_set_precision(p ? LM_NN_BF16 : LM_NN_FP32);
            lm_nn_amx_force_unsupported(p == 2);
            TIME_BEST(1, dt, lm_cnn_forward_hcqt(&model, &h, p ? probs16 : probs));
            t_cnn_m[p] = dt < t_cnn_m[p] ? dt : t_cnn_m[p];
            TIME_BEST(1, dt, {
                if (lm_features_from_signal(y, n, LM_FEAT_CTC, &model, NULL, &c, &T) != 0) return 1;
                free(c);
            });
            t_all_m[p] = dt < t_all_m[p] ? dt : t_all_m[p];
        }
    lm_nn_amx_force_unsupported(0);
    lm_nn_set_precision(LM_NN_FP32);
    t_cnn = t_cnn_m[0];
    t_all = t_all_m[0];
    size_t agree = 0;
    for (size_t t = 0; bf16 && t < h.n_frames; t++) {
        int a = 0, b = 0;
        for (int k = 1; k < LM_NCLASSES; k++) {
            if (probs[t * LM_NCLASSES + (size_t)k] > probs[t * LM_NCLASSES + (size_t)a]) a = k;
            if (probs16[t * LM_NCLASSES + (size_t)k] > probs16[t * LM_NCLASSES + (size_t)b]) b = k;
        }
        agree += a == b;
    }
    size_t n_frames = h.n_frames;
    lm_hcqt_free(&h);
    free(probs);
    free(probs16);
    lm_threads_init(1);
    TIME_BEST(3, t_stft, {
        if (lm_chroma_stft(y, n, &c, &T) != 0) return 1;
        free(c);
    });
    /* Resampling, one thread: a 44.1 kHz copy of the audio (made here, not timed) to 22050 Hz,
     * as every CD-rate recording is; and the tuning compensation of a recording 30 cents off. */
    double t_rs44, t_rstune;
    size_t n44, nr;
    float *y44 = lm_resample_soxr(y, n, 2.0, LM_RESAMPLE_SOXR_VHQ, &n44), *yr;
    if (!y44) return 1;
    TIME_BEST(2, t_rs44, {
        if (!(yr = lm_resample_to_22050(y44, n44, 44100, &nr))) return 1;
        free(yr);
    });
    free(y44);
    TIME_BEST(2, t_rstune, {
        if (lm_tuning_resample(y, n, 0.3, &yr, &nr) != 0) return 1;
        free(yr);
    });
    /* The baselines of the paper's Table 3b, on the first BASELINE_SECONDS (they are slower). */
    size_t nb = n < (size_t)(BASELINE_SECONDS * LM_SAMPLE_RATE) ? n : (size_t)(BASELINE_SECONDS * LM_SAMPLE_RATE);
    double dur_b = (double)nb / LM_SAMPLE_RATE, t_bit = -1, t_bg1 = -1;
    lm_threads_init(2);
    const char *sal_path = lm_default_salience_path();
    lm_salience_model sal;
    if (sal_path && lm_salience_model_load(sal_path, &sal) == 0) {
        TIME_BEST(1, t_bit, {
            if (lm_features_from_signal(y, nb, LM_FEAT_BITTNER, NULL, &sal, &c, &T) != 0) return 1;
            free(c);
        });
        lm_salience_model_free(&sal);
    } else {
        fprintf(stderr, "bench_chroma: bittner_rt_2t skipped: %s\n", lm_last_error());
    }
    TIME_BEST(2, t_bg1, {
        if (lm_features_from_signal(y, nb, LM_FEAT_BG1, NULL, NULL, &c, &T) != 0) return 1;
        free(c);
    });
    printf("hcqt_rt_1t %.1f x_realtime\n", dur / t_h1);
    printf("hcqt_rt_2t %.1f x_realtime\n", dur / t_h2);
    printf("cnn_rt_2t %.1f x_realtime\n", dur / t_cnn);
    printf("chroma_rt_2t %.1f x_realtime\n", dur / t_all);
    if (bf16) {
        printf("cnn_bf16_rt_2t %.1f x_realtime\n", dur / t_cnn_m[1]);
        printf("chroma_bf16_rt_2t %.1f x_realtime\n", dur / t_all_m[1]);
        if (amx) {
            printf("cnn_bf16_noamx_rt_2t %.1f x_realtime\n", dur / t_cnn_m[2]);
            printf("chroma_bf16_noamx_rt_2t %.1f x_realtime\n", dur / t_all_m[2]);
        }
        printf("bf16_argmax_agreement %.5f of %zu frames\n", (double)agree / (double)n_frames, n_frames);
    }
    printf("stft_rt_1t %.1f x_realtime\n", dur / t_stft);
    printf("resample_44k_rt_1t %.1f x_realtime\n", dur / t_rs44);
    printf("resample_tuning_rt_1t %.1f x_realtime\n", dur / t_rstune);
    if (t_bit > 0) printf("bittner_rt_2t %.1f x_realtime\n", dur_b / t_bit);
    printf("bg1_rt_2t %.1f x_realtime\n", dur_b / t_bg1);
    free(y);
    lm_model_free(&model);
    return 0;
}
