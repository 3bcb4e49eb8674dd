/* libFuzzer target for audio decoding (audio/audio.h lm_audio_load: libsndfile, mix-down,
 * resampling, damage reports). Any input must decode to at least one frame of finite mono
 * 22050 Hz samples, or give a one-line error naming the file; never a crash, leak, undefined
 * behaviour or a hang. libsndfile itself is not instrumented: coverage is leitmotif's code, and
 * libsndfile's bugs show up only as crashes or sanitizer reports in its calls.
 * The input is written to a file whose extension (.wav .flac .ogg .mp3 .aiff, by the input's
 * length) steers libsndfile's guess where the content does not decide.
 * Seeds (fuzz/seeds.sh): tiny files of many formats made with sox.
 * Run: fuzz/run audio [SECONDS]. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    static const char *const names[5] = {"audio.wav", "audio.flac", "audio.ogg", "audio.mp3", "audio.aiff"};
    const char *path = fz_write(names[size % 5], data, size);
    lm_audio a;
    lm_clear_error();
    if (lm_audio_load(path, &a) == 0) {
        CHECK(a.samples != NULL && a.n >= LM_MIN_SAMPLES);
        CHECK(a.orig_rate > 0 && a.orig_channels > 0);
        for (size_t i = 0; i < a.n; i++) CHECK(isfinite(a.samples[i]));
        CHECK(strchr(a.warning, '\n') == NULL);
        lm_audio_free(&a);
    } else {
        fz_check_error();
        CHECK(strstr(lm_last_error(), path) != NULL);
    }
    return 0;
}
