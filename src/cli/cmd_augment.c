/* `leitmotif augment`: one draw of the training augmentation applied to a file, to hear (and
 * check) what the network is trained on. */
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "augment/augment.h"
#include "audio/audio.h"
#include "cli/cli.h"
#include "common/error.h"
#include "common/fileio.h"

static void augment_help(FILE *f) {
    fprintf(f, "usage: leitmotif augment AUDIO OUT.wav [--augment SPEC] [--seed N] [--other AUDIO]\n\n"
               "Applies one draw of `leitmotif train`'s waveform augmentation (the same code and rates) to\n"
               "AUDIO (decoded to mono 22050 Hz) and writes a 16-bit WAV. Prints the steps applied and the\n"
               "time scale of the detune step.\n"
               "  --augment SPEC  default, none, or STEP=P items (mix detune reverb eq compress noise codec)\n"
               "  --seed N        the draw (default 1); the same seed gives the same output\n"
               "  --other AUDIO   the unrelated recording for the mix step (default: none, step skipped)\n");
}

static int write_wav(const char *path, const float *y, size_t n) {
    lm_atomic_file af;
    if (lm_atomic_open(&af, path) != 0) return -1;
    SF_INFO info = {.samplerate = LM_SAMPLE_RATE, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open_fd(fileno(af.fp), SFM_WRITE, &info, 0);
    int ok = sf && sf_writef_float(sf, y, (sf_count_t)n) == (sf_count_t)n;
    if (sf) ok = sf_close(sf) == 0 && ok;
    if (!ok) {
        lm_set_error("cannot write %s: %s", path, sf_strerror(NULL));
        lm_atomic_abort(&af);
        return -1;
    }
    return lm_atomic_commit(&af);
}

int cmd_augment(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *spec = "default", *other_path = NULL;
    long seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            augment_help(stdout);
            return 0;
        } else if (!strcmp(a, "--augment") && v) spec = v, i++;
        else if (!strcmp(a, "--other") && v) other_path = v, i++;
        else if (!strcmp(a, "--seed") && v) {
            if (lm_cli_parse_int(a, v, 0, 2147483647L, &seed) != 0) return 1;
            i++;
        } else if (a[0] == '-' && a[1]) return lm_cli_fail("augment: unknown option %s (or it needs a value)", a);
        else if (!in) in = a;
        else if (!out) out = a;
        else return lm_cli_fail("augment: unexpected argument %s", a);
    }
    if (!in || !out) {
        augment_help(stderr);
        return 2;
    }
    lm_augment_config c;
    if (lm_augment_parse(spec, &c) != 0) return lm_cli_fail("augment: %s", lm_last_error());
    lm_audio a = {0}, o = {0};
    if (lm_audio_load(in, &a) != 0) return lm_cli_fail_lib();
    if (other_path && lm_audio_load(other_path, &o) != 0) {
        lm_audio_free(&a);
        return lm_cli_fail_lib();
    }
    float *y = NULL;
    size_t ny = 0;
    double scale = 1;
    unsigned steps = 0;
    int rc = 1;
    if (lm_augment_apply(&c, (uint64_t)seed, a.samples, a.n, o.samples, o.n, &y, &ny, &scale, &steps) != 0 ||
        write_wav(out, y, ny) != 0) {
        lm_cli_fail_lib();
    } else {
        printf("steps:");
        for (int s = 0; s < LM_AUG_NSTEPS; s++)
            if (steps >> s & 1) printf(" %s", lm_aug_step_names[s]);
        printf("%s\ntime_scale: %.6f\n", steps ? "" : " (none)", scale);
        rc = 0;
    }
    free(y);
    lm_audio_free(&a);
    lm_audio_free(&o);
    return rc;
}
