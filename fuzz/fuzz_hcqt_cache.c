/* libFuzzer target for the HCQT excerpt cache of `train` (train/excerpts.c, files
 * CACHE/NAME.exc): the reader is static, so it is compiled into this target. A cache entry that
 * does not hold exactly the excerpt asked for (T frames of 6 x 216 bins, matching checksum)
 * must be refused (the excerpt is then recomputed); one that is accepted has T frames. Never a
 * crash, leak or undefined behaviour.
 *
 * Input: byte 0: bit 0 set = recompute the entry's CRC over its data before writing; bits 1-2
 * = how the T asked for relates to the file's size (-1, 0, +1 frames, or 1). The rest is the file.
 * Run: fuzz/run hcqt_cache [SECONDS]. */
#include "../src/train/excerpts.c"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1u << 20)) return 0;
    size_t n = size - 1;
    const size_t hdr = strlen(CACHE_MAGIC) + 16, frame = (size_t)NB * NH * sizeof(uint16_t);
    unsigned char *file = malloc(n ? n : 1);
    if (!file) return 0;
    memcpy(file, data + 1, n);
    size_t T_file = n > hdr ? (n - hdr) / frame : 0;
    if ((data[0] & 1) && n >= hdr) {
        uint32_t crc = lm_crc32(0, file + hdr, n - hdr);
        memcpy(file + strlen(CACHE_MAGIC) + 8, &crc, 4);
    }
    const char *path = fz_write("entry.exc", file, n);
    free(file);
    static const long delta[4] = {-1, 0, 1, 0};
    int which = (data[0] >> 1) & 3;
    size_t T = which == 3 ? 1 : (size_t)((long)T_file + delta[which] < 0 ? 0 : (long)T_file + delta[which]);

    lm_excerpt ex;
    memset(&ex, 0, sizeof ex);
    if (cache_read(path, &ex, T) == 0) {
        CHECK(ex.T == T && ex.hcqt != NULL && n == hdr + T * frame);
        volatile unsigned sum = 0;
        for (size_t i = 0; i < T * NB * NH; i++) sum += ex.hcqt[i];
        (void)sum;
        /* what the network reads from it */
        float *x = malloc(T * NB * NH * sizeof *x);
        CHECK(x != NULL);
        lm_excerpt_input(&ex, (int)(data[0] >> 3) % 7 - 3, x);
        for (size_t i = 0; i < T * NB * NH; i++) CHECK(isfinite(x[i]));
        free(x);
    }
    lm_excerpts_free(&ex, 1);
    return 0;
}
