/* Training throughput: excerpt-seconds of audio per second of wall time for forward +
 * backward + Adam with batches of 8 nine-second excerpts of real music, on 2 threads:
 * from cached HCQT excerpts (--augment none), and with the default waveform augmentation
 * (audio of each excerpt plus 1.5 s context per side, augmented, HCQT recomputed).
 * usage: bench_train AUDIO... */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio/audio.h"
#include "common/error.h"
#include "common/progress.h"
#include "common/threads.h"
#include "hcqt/hcqt.h"
#include "train/trainer.h"

#define N_EXAMPLES 48 /* 6 batches */
#define FRAMES 225    /* 9 s at 25 Hz */
#define MARGIN 33075  /* 1.5 s at 22050 Hz, as `leitmotif train` reads */

static double run(lm_train_example *tr, const lm_augment_config *aug) {
    char dir[] = "/tmp/lm_bench_train.XXXXXX";
    if (!mkdtemp(dir)) return -1;
    char model[256], ckpt[256];
    snprintf(model, sizeof model, "%s/m.bin", dir);
    snprintf(ckpt, sizeof ckpt, "%s/m.ckpt", dir);
    lm_train_config cfg = {.loss = LM_LOSS_CTC, .lr = 1e-3, .batch = 8, .max_shift = 3, .patience = 5, .phases = 10,
                           .max_epochs = 1, .seed = 1, .out_model = model, .checkpoint = ckpt, .model_id = "bench",
                           .augment = aug};
    double t0 = lm_now();
    int rc = lm_train(&cfg, tr, N_EXAMPLES, &tr[N_EXAMPLES], 1);
    double dt = lm_now() - t0;
    unlink(model);
    unlink(ckpt);
    char png[300];
    snprintf(png, sizeof png, "%s/m.bin.png", dir);
    unlink(png);
    rmdir(dir);
    if (rc != 0) {
        fprintf(stderr, "bench_train: %s\n", lm_last_error());
        return -1;
    }
    /* The epoch also validates one excerpt (forward only); count only the trained audio. */
    return N_EXAMPLES * FRAMES / 25.0 / dt;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_train AUDIO...\n");
        return 2;
    }
    lm_threads_init(2);
    static lm_excerpt ex[N_EXAMPLES + 1], exa[N_EXAMPLES + 1];
    static lm_train_example tra[N_EXAMPLES + 1];
    static lm_pair pairs[N_EXAMPLES + 1];
    static lm_train_example tr[N_EXAMPLES + 1];
    static int labels[N_EXAMPLES + 1][10];
    size_t k = 0;
    for (int f = 1; f < argc && k <= N_EXAMPLES; f++) {
        lm_audio a;
        lm_hcqt h;
        if (lm_audio_load(argv[f], &a) != 0 || lm_hcqt25(a.samples, a.n, &h) != 0) {
            fprintf(stderr, "bench_train: %s\n", lm_last_error());
            return 1;
        }
        for (size_t t0 = 0; t0 + FRAMES <= h.n_frames && k <= N_EXAMPLES; t0 += FRAMES, k++) {
            /* the same excerpt as audio, with context where the recording has it */
            size_t s0 = t0 * 882, s1 = (t0 + FRAMES) * 882;
            size_t a0 = s0 > MARGIN ? s0 - MARGIN : 0, a1 = s1 + MARGIN < a.n ? s1 + MARGIN : a.n;
            exa[k].audio = malloc((a1 - a0) * sizeof(int16_t));
            for (size_t i = a0; i < a1; i++) exa[k].audio[i - a0] = (int16_t)lrintf(fmaxf(-1, fminf(1, a.samples[i])) * 32767.0f);
            exa[k].n_audio = a1 - a0;
            exa[k].t0 = (double)(s0 - a0) / 22050.0;
            exa[k].t1 = exa[k].t0 + (FRAMES - 1) / 25.0;
            exa[k].T = FRAMES;
            ex[k].T = FRAMES;
            ex[k].hcqt = malloc((size_t)FRAMES * 216 * 6 * sizeof(uint16_t));
            for (size_t r = 0; r < 216 * 6; r++)
                for (size_t t = 0; t < FRAMES; t++)
                    ex[k].hcqt[r * FRAMES + t] = (uint16_t)lrintf(h.data[r * h.n_frames + t0 + t] * 65535.0f);
            for (int j = 0; j < 10; j++) labels[k][j] = (int)((k * 7 + (size_t)j * 5) % 12);
            pairs[k].theme_id = "bench";
            pairs[k].labels = labels[k];
            pairs[k].n_labels = 10;
            tr[k].pair = &pairs[k];
            tr[k].ex = &ex[k];
            tra[k] = tr[k];
            tra[k].ex = &exa[k];
        }
        lm_audio_free(&a);
        lm_hcqt_free(&h);
    }
    if (k <= N_EXAMPLES) {
        fprintf(stderr, "bench_train: need more audio (%zu excerpts)\n", k);
        return 1;
    }
    double plain = run(tr, NULL);
    if (plain < 0) return 1;
    printf("train_excerpt_s_per_s_2t %.1f excerpt_s/s\n", plain);
    lm_augment_config aug;
    lm_augment_default(&aug);
    double augmented = run(tra, &aug);
    if (augmented < 0) return 1;
    printf("train_augmented_excerpt_s_per_s_2t %.1f excerpt_s/s\n", augmented);
    return 0;
}
