/* leitmotif: find the recordings in which a musical theme is played. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/error.h"
#include "common/threads.h"
#include "dist/dist.h"
#include "nn/conv_bf16.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"hcqt", cmd_hcqt, "audio -> 25 Hz harmonic CQT (.npy [6][216][T])"},
    {"chroma", cmd_chroma, "audio -> chroma features (.npy [12][T] or CSV)"},
    {"index", cmd_index, "compute features of recordings into a database"},
    {"remove", cmd_remove, "remove recordings from a database (tombstones)"},
    {"compact", cmd_compact, "merge a database's segments, dropping removed recordings"},
    {"check", cmd_check, "verify every checksum of a database; name damaged segments"},
    {"upgrade", cmd_upgrade, "convert a format-1 database (one file) to format 2"},
    {"search", cmd_search, "rank the recordings of a database for a theme"},
    {"eval", cmd_eval, "evaluate retrieval on a themes CSV (top-k, MRR per fold)"},
    {"train", cmd_train, "train a deep chroma model on weakly aligned pairs (CTC)"},
    {"align", cmd_align, "synchronise a score (MIDI) with a recording; map its themes (DTW)"},
    {"augment", cmd_augment, "apply one draw of the training augmentation to an audio file"},
    {"plot", cmd_plot, "figures of a theme matched in a recording (HCQT, chroma, path; PNG/SVG)"},
    {"serve", cmd_serve, "the search page and its JSON API over HTTP (loopback by default)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: leitmotif COMMAND [options]   (leitmotif COMMAND --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nenvironment: LEITMOTIF_THREADS (worker threads, default all cores),\n"
               "             LEITMOTIF_MODEL (default model file), LEITMOTIF_PROGRESS=0/1\n");
}

int lm_cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("leitmotif: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int lm_cli_fail_lib(void) { return lm_cli_fail("%s", lm_last_error()); }

int lm_cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || *end || !(v >= lo && v <= hi)) {
        lm_cli_fail("%s: expected a number in [%g, %g], got '%s'", opt, lo, hi, s ? s : "(nothing)");
        return -1;
    }
    *out = v;
    return 0;
}

int lm_cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || end == s || *end || v < lo || v > hi) {
        lm_cli_fail("%s: expected an integer in [%ld, %ld], got '%s'", opt, lo, hi, s ? s : "(nothing)");
        return -1;
    }
    *out = v;
    return 0;
}

int lm_cli_threads_option(int argc, char **argv, int *i) {
    if (strcmp(argv[*i], "--threads") != 0 && strcmp(argv[*i], "-j") != 0) return 0;
    long n;
    if (*i + 1 >= argc || lm_cli_parse_int(argv[*i], argv[*i + 1], 1, 256, &n) != 0) {
        if (*i + 1 >= argc) lm_cli_fail("%s needs a value", argv[*i]);
        return -1;
    }
    lm_threads_init((int)n);
    (*i)++;
    return 1;
}

int lm_cli_theme_select_option(int argc, char **argv, int *i, lm_theme_select *sel) {
    const char *opt = argv[*i];
    if (strncmp(opt, "--", 2) != 0 || *i + 1 >= argc) return 0;
    int rc = lm_theme_select_set(sel, opt + 2, argv[*i + 1]);
    if (rc < 0) {
        lm_cli_fail("%s: %s", opt, lm_last_error());
        return -1;
    }
    if (rc > 0) (*i)++;
    return rc;
}

static int run(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    lm_threads_init(0);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    lm_cli_fail("unknown command '%s' (try leitmotif --help)", argv[1]);
    return 2;
}

int main(int argc, char **argv) {
    /* Under mpirun every process runs the same command; index, search and eval share the work
     * (docs/distributed.md), process 0 alone writes the database and the output. */
    if (lm_dist_init(&argc, &argv) != 0) return 1;
    if (lm_dist_size() > 1 && argc >= 2 && strcmp(argv[1], "index") && strcmp(argv[1], "search") &&
        strcmp(argv[1], "eval")) {
        if (lm_dist_rank() == 0) lm_cli_fail("only index, search and eval run under mpirun (with more than one process)");
        lm_dist_finalize();
        return 2;
    }
    int rc = run(argc, argv);
    /* A failing process may have left the others in a collective step: stop them all (an
     * index whose files were partly skipped, 3, is a finished run, and a failure that every
     * process met alike ends normally). */
    if (rc != 0 && rc != 3 && lm_dist_size() > 1) {
        if (!lm_dist_failure_agreed()) lm_dist_abort(rc);
        lm_dist_barrier();
    }
    lm_dist_finalize();
    return rc;
}

int lm_cli_nn_precision(const char *value) {
    const char *env = getenv("LEITMOTIF_NN_PRECISION");
    const char *v = value ? value : env && env[0] ? env : "fp32";
    enum lm_nn_precision p;
    if (lm_nn_precision_parse(v, &p) != 0) {
        lm_cli_fail("%s: %s", value ? "--nn-precision" : "LEITMOTIF_NN_PRECISION", lm_last_error());
        return -1;
    }
    lm_nn_set_precision(p);
    if (p == LM_NN_BF16 && lm_nn_precision_effective() != LM_NN_BF16) {
        fprintf(stderr, "leitmotif: warning: this CPU has no AVX512_BF16: the network runs in fp32\n");
        lm_nn_set_precision(LM_NN_FP32);
    }
    return lm_nn_precision_effective() == LM_NN_BF16;
}
