/* libFuzzer target for training checkpoints (`train --resume`, `train --history`): the reader of
 * train/trainer.c, compiled into this target so that it can build files of the exact size and
 * checksum a checkpoint has (1.4 MB: a fuzzer would never reach them by mutation). Any input
 * must give a checkpoint whose state is usable by the trainer, or a one-line error; never a
 * crash, leak or undefined behaviour.
 *
 * Input: byte 0 even: the rest is the file, as is. Byte 0 odd: the rest is the start of the
 * training state (the remainder zero), followed by zero weights, with the magic and a correct
 * checksum (byte 0 & 2: the checksum is off by one).
 * Run: fuzz/run checkpoint [SECONDS]. */
#include "../src/train/trainer.c"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > sizeof(train_state) + 1) return 0;
    size_t nf = LM_MODEL_NFLOATS;
    size_t want = 8 + sizeof(train_state) + 4 * nf * sizeof(float) + 4;
    const char *path;
    if (!(data[0] & 1)) {
        path = fz_write("model.bin.ckpt", data + 1, size - 1);
    } else {
        unsigned char *file = calloc(want, 1);
        if (!file) return 0;
        memcpy(file, CKPT_MAGIC, 8);
        memcpy(file + 8, data + 1, size - 1);
        uint32_t crc = lm_crc32(0, file + 8, want - 12) + ((data[0] & 2) ? 1 : 0);
        memcpy(file + want - 4, &crc, 4);
        path = fz_write("model.bin.ckpt", file, want);
        free(file);
    }
    char ckpt[700];
    snprintf(ckpt, sizeof ckpt, "%s", path);

    FILE *devnull = fopen("/dev/null", "w");
    CHECK(devnull != NULL);
    char summary[512];
    lm_clear_error();
    if (lm_train_checkpoint_history(ckpt, devnull, summary, sizeof summary) == 0) CHECK(summary[0] != '\0');
    else fz_check_error();
    fclose(devnull);

    /* Resuming: what checkpoint_load accepts must be a state lm_train can continue from. */
    trainer tr;
    memset(&tr, 0, sizeof tr);
    CHECK(lm_model_alloc(&tr.w, "w") == 0 && lm_model_alloc(&tr.best, "best") == 0);
    tr.m = calloc(nf, sizeof(float));
    tr.v = calloc(nf, sizeof(float));
    CHECK(tr.m && tr.v);
    uint64_t fp = 0;
    if (size >= 9) memcpy(&fp, data + 1, 8); /* the fingerprint of the state built above */
    lm_clear_error();
    if (checkpoint_load(ckpt, &tr, fp) == 0) {
        CHECK(tr.s.n_hist >= 0 && tr.s.n_hist <= MAX_EPOCHS_STORED);
        CHECK(tr.s.epoch >= 0 && tr.s.phase >= 0 && tr.s.since_best >= 0);
    } else {
        fz_check_error();
    }
    lm_model_free(&tr.w);
    lm_model_free(&tr.best);
    free(tr.m);
    free(tr.v);
    return 0;
}
