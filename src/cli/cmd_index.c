/* `leitmotif index`: audio recordings -> feature database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chroma/features.h"
#include "cli/cli.h"
#include "common/error.h"
#include "common/fileio.h"
#include "dist/dist.h"
#include "index/db.h"
#include "index/indexer.h"
#include "nn/model.h"

#define EXIT_SOME_SKIPPED 3

static void index_help(FILE *f) {
    fprintf(f,
            "usage: leitmotif index DB AUDIO_OR_DIR... [--features ctc|stft|bittner|bg1] [--model FILE]\n"
            "                       [--tuning auto|off|CENTS] [--commit-every SEC] [--replace] [--format 1|2]\n"
            "                       [--precision f32|u8] [--nn-precision fp32|bf16] [--threads N]\n\n"
            "Computes the chroma features of recordings into the database DB, creating it or adding\n"
            "to it (format: docs/database.md). A new database is a directory of segment files (format 2);\n"
            "each commit adds a segment, and only one process may write a database at a time.\n"
            "  AUDIO_OR_DIR     audio files (any format libsndfile decodes) or directories, scanned\n"
            "                   recursively for .wav .flac .ogg .oga .mp3 .opus .aiff .aif .aifc .w64 .caf\n"
            "                   .au, in name order; other files there are listed as not indexed\n"
            "  --features TYPE  ctc: deep chroma of the CNN model (default for a new database);\n"
            "                   stft: the standard chroma baseline; bittner: Bittner et al.'s deep salience\n"
            "                   (melody2) folded to chroma; bg1: the Bosch-Gomez salience folded to chroma.\n"
            "                   An existing database keeps its type.\n"
            "  --model FILE     model for ctc (default: the shipped model or $LEITMOTIF_MODEL) or bittner\n"
            "                   (default: ../shared/reference/models/bittner_melody2.bin or\n"
            "                   $LEITMOTIF_SALIENCE_MODEL); adding to a database needs the model it was made with\n"
            "  --tuning MODE    auto (default for a new ctc, bittner or bg1 database): estimate each\n"
            "                   recording's deviation from A = 440 Hz and compute its features as if it\n"
            "                   were in tune; CENTS (-50..50): every recording is that far off (A = 430 Hz\n"
            "                   is -40); off: as they are (all databases made before this option). An\n"
            "                   existing database keeps its mode; stft is always off (it tunes itself).\n"
            "  --commit-every SEC  commit every SEC seconds during a run (format 2: a new segment), so\n"
            "                   an interrupted run loses little (default 120; 0: only at the end)\n"
            "  --replace        recompute inputs whose id is already in the database and replace the old\n"
            "                   version (format 2: a tombstone hides it until 'leitmotif compact')\n"
            "  --format 1|2     format of a new database: 2, a directory (default, unless\n"
            "                   $LEITMOTIF_DB_FORMAT says 1), or 1, one file rewritten whole at every\n"
            "                   commit; an existing database keeps its format\n"
            "  --precision P    how a new format-2 database stores its features: f32 (default) or u8,\n"
            "                   one byte per value (a quarter of the size and memory; the same MRR as\n"
            "                   f32 on fold 5, docs/database.md); an existing database keeps its precision\n"
            "                   (convert it with 'leitmotif compact DB --precision P')\n"
            "  --nn-precision P ctc features of a new format-2 database: fp32 (default, or\n"
            "                   $LEITMOTIF_NN_PRECISION) or bf16, the network's convolutions with bf16 dot\n"
            "                   products where the CPU has AVX512_BF16 (else fp32); the database records\n"
            "                   it, and an existing database keeps its own\n"
            "  --threads N      worker threads (default: all cores)\n\n"
            "The document id is the file name without extension and must be unique. When several files\n"
            "have the same id (music.flac beside music.wav), the one whose path comes first in byte order\n"
            "is indexed (music.flac) and the others are skipped with a warning naming them all; a file\n"
            "whose id the database already gives to another path is skipped too. Files already in the\n"
            "database (same id and same absolute path) are not recomputed.\n"
            "A file that cannot be decoded is named on stderr and skipped; one that decodes only in part\n"
            "(damaged or truncated) is indexed from what was decoded, with a warning. Commits are\n"
            "atomic: an interrupted run leaves the last committed version.\n"
            "See also: leitmotif remove, compact, check, upgrade.\n\n"
            "Exit status: 0 all files indexed; 1 error, or no file could be indexed (database unchanged);\n"
            "3 the others were indexed, but some files were skipped (undecodable, or their id was taken)\n"
            "or only partly decoded: each is named on stderr. Files that are not audio by their name\n"
            "do not change the exit status.\n");
}

/* One line for the files of scanned directories that were not indexed (not audio by name). */
static void report_ignored(char **ignored, size_t n) {
    enum { SHOWN = 5 };
    fprintf(stderr, "leitmotif: %zu file%s not indexed (not an audio format leitmotif reads, by name): ", n,
            n == 1 ? "" : "s");
    for (size_t i = 0; i < n && i < SHOWN; i++) fprintf(stderr, "%s%s", i ? ", " : "", ignored[i]);
    if (n > SHOWN) fprintf(stderr, " and %zu more", n - SHOWN);
    fputc('\n', stderr);
}

static int index_main(int argc, char **argv);

int cmd_index(int argc, char **argv) {
    if (lm_dist_rank() != 0) { /* under mpirun: compute this process' share for process 0 */
        const char *model_path = NULL;
        for (int i = 1; i < argc; i++) {
            if (lm_cli_threads_option(argc, argv, &i) != 0) continue; /* (an error: process 0 says it too, and stops all) */
            if (!strcmp(argv[i], "--model") && i + 1 < argc) model_path = argv[++i];
        }
        return lm_dist_index_worker(model_path);
    }
    int rc = index_main(argc, argv);
    lm_dist_index_end();
    return rc;
}

/* One process, or process 0 of a distributed run (the only one that reads and writes DB). */
static int index_main(int argc, char **argv) {
    const char *db_path = NULL, *model_path = NULL, *features = NULL, *tuning = NULL, *precision = NULL;
    const char *nn_precision = NULL;
    double commit_every = 120;
    long format = 2;
    int replace = 0;
    const char *env_format = getenv("LEITMOTIF_DB_FORMAT");
    if (env_format && env_format[0] && lm_cli_parse_int("LEITMOTIF_DB_FORMAT", env_format, 1, 2, &format) != 0)
        return 1;
    char **inputs = lm_malloc((size_t)argc, sizeof *inputs);
    size_t n_inputs = 0;
    if (!inputs) return lm_cli_fail_lib();
    for (int i = 1; i < argc; i++) {
        int th = lm_cli_threads_option(argc, argv, &i);
        if (th < 0) goto usage_error;
        if (th) continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            index_help(stdout);
            free(inputs);
            return 0;
        } else if (!strcmp(argv[i], "--features") && i + 1 < argc) features = argv[++i];
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) model_path = argv[++i];
        else if (!strcmp(argv[i], "--tuning") && i + 1 < argc) tuning = argv[++i];
        else if (!strcmp(argv[i], "--replace")) replace = 1;
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc) precision = argv[++i];
        else if (!strcmp(argv[i], "--nn-precision") && i + 1 < argc) nn_precision = argv[++i];
        else if (!strcmp(argv[i], "--format") && i + 1 < argc) {
            if (lm_cli_parse_int("--format", argv[++i], 1, 2, &format) != 0) goto usage_error;
        }
        else if (!strcmp(argv[i], "--commit-every") && i + 1 < argc) {
            if (lm_cli_parse_double("--commit-every", argv[++i], 0, 1e7, &commit_every) != 0) goto usage_error;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            lm_cli_fail("index: unknown option or missing value: %s", argv[i]);
            goto usage_error;
        } else if (!db_path) db_path = argv[i];
        else inputs[n_inputs++] = argv[i];
    }
    if (!db_path || n_inputs == 0) {
        index_help(stderr);
        free(inputs);
        return 2;
    }

    lm_index_options opt = {.type = LM_FEAT_CTC, .commit_interval = commit_every, .format = (int)format,
                            .replace = replace};
    if (features && lm_feature_parse(features, &opt.type) != 0) {
        lm_cli_fail_lib();
        goto usage_error;
    }
    if (precision) {
        int p = lm_db_precision_parse(precision);
        if (p < 0) {
            lm_cli_fail("--precision: %s", lm_last_error());
            goto usage_error;
        }
        opt.precision_set = 1;
        opt.precision = (enum lm_db_precision)p;
    }
    int nn_bf16 = lm_cli_nn_precision(nn_precision);
    if (nn_bf16 < 0) goto usage_error;
    opt.nn_bf16 = nn_bf16;
    lm_db existing;
    int have_db = lm_file_exists(db_path);
    if (have_db && lm_db_open(db_path, &existing) != 0) {
        free(inputs);
        return lm_cli_fail("%s (not changed)", lm_last_error());
    }
    if (have_db && !features) opt.type = existing.type;
    if (have_db && !nn_precision) opt.nn_bf16 = existing.nn_bf16;
    /* tuning: as given; else an existing database's; else auto (off for stft, which tunes itself) */
    if (tuning) {
        if (lm_tuning_parse(tuning, &opt.tuning) != 0) {
            lm_cli_fail_lib();
            if (have_db) lm_db_close(&existing);
            goto usage_error;
        }
    } else if (have_db) {
        opt.tuning = existing.tuning;
    } else if (opt.type != LM_FEAT_STFT) {
        opt.tuning.mode = LM_TUNING_AUTO;
    }

    int rc = 0;
    lm_feature_weights fw;
    if (lm_feature_weights_load(&fw, opt.type, model_path) != 0) rc = lm_cli_fail_lib();
    opt.model = lm_feature_weights_chroma(&fw);
    opt.salience = lm_feature_weights_salience(&fw);
    char **paths = NULL, **ignored = NULL;
    size_t n_paths = 0, n_ignored = 0;
    if (rc == 0 && lm_index_collect_ex(inputs, n_inputs, &paths, &n_paths, &ignored, &n_ignored) != 0)
        rc = lm_cli_fail_lib();
    if (rc == 0 && n_ignored) report_ignored(ignored, n_ignored);
    opt.skip_id_clashes = 1;
    if (rc == 0) lm_dist_index_begin(&opt); /* under mpirun: the others compute their shares */
    lm_index_stats st;
    if (rc == 0 && lm_index_update(db_path, have_db ? &existing : NULL, paths, n_paths, &opt, &st) != 0)
        rc = lm_cli_fail_lib();
    if (rc == 0) {
        size_t total = st.existing + st.added;
        char partial[64] = "", clashes[64] = "";
        if (st.partial) snprintf(partial, sizeof partial, " (%zu only partly decoded)", st.partial);
        if (st.clashes) snprintf(clashes, sizeof clashes, " (%zu for their id)", st.clashes);
        if (st.replaced) snprintf(partial + strlen(partial), sizeof partial - strlen(partial), " (%zu replaced)",
                                  st.replaced);
        total -= st.replaced;
        fprintf(stderr, "leitmotif: %s: %zu added%s, %zu already there, %zu skipped%s; %zu documents\n", db_path,
                st.added, partial, st.kept, st.failed + st.clashes, clashes, total);
        if (st.added == 0 && st.kept == 0 && st.failed + st.clashes > 0)
            rc = lm_cli_fail("no file could be indexed; %s not changed", db_path);
        else if (st.failed || st.clashes || st.partial) rc = EXIT_SOME_SKIPPED;
    }
    lm_index_free_paths(paths, n_paths);
    lm_index_free_paths(ignored, n_ignored);
    lm_feature_weights_free(&fw);
    if (have_db) lm_db_close(&existing);
    free(inputs);
    return rc;

usage_error:
    free(inputs);
    return 1;
}
