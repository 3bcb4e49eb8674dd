/* Database maintenance: `leitmotif remove`, `compact`, `check` and `upgrade` (docs/database.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/error.h"
#include "index/db.h"

static int want_help(int argc, char **argv, void (*help)(FILE *)) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 1;
        }
    return 0;
}

static int unknown_option(int argc, char **argv, const char *cmd) {
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-' && argv[i][1] && strcmp(argv[i], "--")) {
            lm_cli_fail("%s: unknown option: %s", cmd, argv[i]);
            return 1;
        }
    return 0;
}

/* Takes `--precision P` out of argv (compact, upgrade): *precision is -1 without it. 0, or 1
 * after a one-line error. */
static int take_precision(int *argc, char **argv, const char *cmd, int *precision) {
    *precision = -1;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--precision") != 0) continue;
        if (i + 1 >= *argc) {
            lm_cli_fail("%s: --precision needs a value (f32 or u8)", cmd);
            return 1;
        }
        if ((*precision = lm_db_precision_parse(argv[i + 1])) < 0) {
            lm_cli_fail("%s: --precision: %s", cmd, lm_last_error());
            return 1;
        }
        memmove(argv + i, argv + i + 2, (size_t)(*argc - i - 2) * sizeof *argv);
        *argc -= 2;
        i--;
    }
    return 0;
}

/* ---------------------------------------------------------------- remove */

static void remove_help(FILE *f) {
    fprintf(f, "usage: leitmotif remove DB ID...\n\n"
               "Removes the recordings with these document ids from the format-2 database DB: one atomic\n"
               "commit writes a tombstone per id (the segments stay as they are until 'leitmotif compact').\n"
               "An id that is not in the database is an error, and nothing is removed.\n"
               "Exit status: 0 removed; 1 error (database unchanged).\n");
}

int cmd_remove(int argc, char **argv) {
    if (want_help(argc, argv, remove_help)) return 0;
    if (unknown_option(argc, argv, "remove")) return 1;
    if (argc < 3) {
        remove_help(stderr);
        return 2;
    }
    const char *path = argv[1];
    lm_dbw w;
    if (lm_dbw_begin(&w, path, LM_FEAT_CTC, 0, "", NULL) != 0) return lm_cli_fail_lib();
    if (!w.exists) {
        lm_dbw_end(&w);
        return lm_cli_fail("cannot open database %s: no such database", path);
    }
    lm_db db;
    if (lm_db_open(path, &db) != 0) {
        lm_dbw_end(&w);
        return lm_cli_fail_lib();
    }
    int rc = 0;
    for (int i = 2; i < argc && rc == 0; i++) {
        if (lm_db_find(&db, argv[i]) < 0) rc = lm_cli_fail("%s: no document '%s' (nothing removed)", path, argv[i]);
        for (int j = 2; j < i && rc == 0; j++)
            if (!strcmp(argv[i], argv[j])) rc = lm_cli_fail("remove: id '%s' given twice", argv[i]);
    }
    size_t n = (size_t)argc - 2, left = db.n_docs - n;
    if (rc == 0 && lm_dbw_commit(&w, (const lm_db_doc *)NULL, 0, (const char *const *)argv + 2, n) != 0)
        rc = lm_cli_fail_lib();
    if (rc == 0) fprintf(stderr, "leitmotif: %s: %zu removed; %zu documents\n", path, n, left);
    lm_db_close(&db);
    lm_dbw_end(&w);
    return rc;
}

/* ---------------------------------------------------------------- compact */

static void compact_help(FILE *f) {
    fprintf(f, "usage: leitmotif compact DB [--precision f32|u8]\n\n"
               "Merges the segments of the format-2 database DB into one, without the recordings removed or\n"
               "replaced since (tombstones), after verifying every segment's checksum. Atomic: readers and\n"
               "an interrupted run see the database before or after, never in between. Takes the writer\n"
               "lock like 'index'. A segment written before segments stored coarse features (the search's\n"
               "6.25 Hz first pass; docs/database.md) is rewritten with them, even when it is the only one.\n"
               "  --precision P  store the features as P from now on: u8 (one byte per value, a quarter of\n"
               "                 the size) or f32; u8 -> f32 gives the u8 values back, not the originals\n"
               "Exit status: 0 done (or nothing to do); 1 error (database unchanged).\n");
}

int cmd_compact(int argc, char **argv) {
    if (want_help(argc, argv, compact_help)) return 0;
    int precision;
    if (take_precision(&argc, argv, "compact", &precision) != 0) return 1;
    if (unknown_option(argc, argv, "compact")) return 1;
    if (argc != 2) {
        compact_help(stderr);
        return 2;
    }
    lm_dbw w;
    if (lm_dbw_begin(&w, argv[1], LM_FEAT_CTC, 0, "", NULL) != 0) return lm_cli_fail_lib();
    size_t before = 0, after = 0;
    int rc = lm_dbw_compact_ex(&w, precision, &before, &after) == 0 ? 0 : lm_cli_fail_lib();
    if (rc == 0)
        fprintf(stderr, "leitmotif: %s: %zu segment%s -> %zu%s%s%s\n", argv[1], before, before == 1 ? "" : "s",
                after, w.commits ? "" : " (nothing to compact)", precision >= 0 ? ", features stored as " : "",
                precision >= 0 ? lm_db_precision_name((enum lm_db_precision)precision) : "");
    lm_dbw_end(&w);
    return rc;
}

/* ---------------------------------------------------------------- check */

static void check_help(FILE *f) {
    fprintf(f, "usage: leitmotif check DB\n\n"
               "Verifies every byte of the database DB (either format): the manifest, each segment's\n"
               "header, directory and checksum. Prints a summary on stdout, or one line per damaged\n"
               "segment on stderr naming it. Exit status: 0 intact; 1 damaged or unreadable.\n");
}

int cmd_check(int argc, char **argv) {
    if (want_help(argc, argv, check_help)) return 0;
    if (unknown_option(argc, argv, "check")) return 1;
    if (argc != 2) {
        check_help(stderr);
        return 2;
    }
    lm_db db;
    if (lm_db_open(argv[1], &db) != 0) return lm_cli_fail_lib();
    long damaged = lm_db_check(&db, argv[1], stderr);
    int rc = 0;
    if (damaged < 0) rc = lm_cli_fail_lib();
    else if (damaged > 0) rc = lm_cli_fail("%s: %ld damaged segment%s", argv[1], damaged, damaged == 1 ? "" : "s");
    else {
        size_t segs, tombs, hidden;
        unsigned long long gen;
        lm_db_stats(&db, &segs, &tombs, &hidden, &gen);
        if (db.format == 1)
            printf("%s: ok: format 1, %zu documents, %zu frames, %s features\n", argv[1], db.n_docs, db.total_frames,
                   lm_feature_name(db.type));
        else
            printf("%s: ok: format 2, %zu documents, %zu frames, %s features (%s), %zu segment%s, %zu tombstone%s "
                   "(%zu hidden record%s), generation %llu\n",
                   argv[1], db.n_docs, db.total_frames, lm_feature_name(db.type), lm_db_precision_name(db.precision), segs, segs == 1 ? "" : "s", tombs,
                   tombs == 1 ? "" : "s", hidden, hidden == 1 ? "" : "s", gen);
        size_t coarse = 0; /* recordings whose segment stores coarse features (docs/database.md) */
        for (size_t k = 0; k < db.n_docs; k++) coarse += db.docs[k].coarse || db.docs[k].coarse_u8;
        if (db.format == 2 && coarse < db.n_docs)
            printf("%s: %zu of %zu recordings have no stored coarse features (written by an older leitmotif); "
                   "'leitmotif compact %s' adds them, which makes searches faster\n",
                   argv[1], db.n_docs - coarse, db.n_docs, argv[1]);
        size_t pre = 0; /* and pre-filter features (since session 34) */
        for (size_t k = 0; k < db.n_docs; k++) pre += db.docs[k].pre_u8 != NULL;
        if (db.format == 2 && coarse == db.n_docs && pre < db.n_docs)
            printf("%s: %zu of %zu recordings have no stored pre-filter features (written by an older leitmotif); "
                   "'leitmotif compact %s' adds them, which makes searches of large archives faster\n",
                   argv[1], db.n_docs - pre, db.n_docs, argv[1]);
    }
    lm_db_close(&db);
    return rc;
}

/* ---------------------------------------------------------------- upgrade */

static void upgrade_help(FILE *f) {
    fprintf(f, "usage: leitmotif upgrade DB1 DB2 [--precision f32|u8]\n\n"
               "Copies the database DB1 (format 1, one file; or format 2) into the new format-2 database\n"
               "DB2, which must not exist: one segment with every recording, in the same order, with the\n"
               "same features bit for bit (searches give the same results). DB1 is verified first and\n"
               "left as it is; DB2 appears complete or not at all.\n"
               "  --precision P  DB2 stores the features as P (default: as DB1): u8, one byte per value\n"
               "                 (a quarter of the size; results differ slightly, docs/database.md), or f32\n"
               "Exit status: 0 done; 1 error.\n");
}

int cmd_upgrade(int argc, char **argv) {
    if (want_help(argc, argv, upgrade_help)) return 0;
    int precision;
    if (take_precision(&argc, argv, "upgrade", &precision) != 0) return 1;
    if (unknown_option(argc, argv, "upgrade")) return 1;
    if (argc != 3) {
        upgrade_help(stderr);
        return 2;
    }
    if (lm_db_upgrade_ex(argv[1], argv[2], precision) != 0) return lm_cli_fail_lib();
    lm_db db;
    if (lm_db_open(argv[2], &db) != 0) return lm_cli_fail_lib();
    fprintf(stderr, "leitmotif: %s: format 2, %zu documents, %s features\n", argv[2], db.n_docs,
            lm_db_precision_name(db.precision));
    lm_db_close(&db);
    return 0;
}
