/* `leitmotif plot`: figures of a theme matched in a recording (src/plot), PNG or SVG. */
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audio/audio.h"
#include "chroma/features.h"
#include "cli/cli.h"
#include "common/error.h"
#include "hcqt/hcqt.h"
#include "index/db.h"
#include "plot/figure.h"
#include "symbolic/theme.h"

static void plot_help(FILE *f) {
    fprintf(f,
            "usage: leitmotif plot AUDIO --theme THEME -o OUT.png|OUT.svg [--svg] [--match]\n"
            "                      [--db DB [--doc ID]] [--features ctc|stft|bittner|bg1] [--model FILE]\n"
            "                      [--duration SEC] [--tempo BPM] [--transpose K] [--scale K]\n"
            "                      [--part NAME|N] [--measures A-B] [--track N] [--voice N]\n\n"
            "Draws how THEME (a quoted note list or a MIDI, MusicXML or **kern file, as for 'leitmotif\n"
            "search') matches the recording AUDIO, like Figure 4 of Zalkow & Mueller (ISMIR 2020):\n"
            "  (a) the HCQT of the recording (harmonic h = 1, log magnitude),\n"
            "  (b) its chroma features, the matched passage outlined,\n"
            "  (c) the theme's binary chroma,\n"
            "  (d) the cost matrix of theme against recording with the alignment path of the match,\n"
            "  (e) the matching function over the whole recording, the match marked.\n"
            "(a), (b) and (d) show the whole recording up to 30 s, else the match and as much again on\n"
            "either side. --match draws the web page's smaller figure instead (theme chroma beside the\n"
            "matched chroma, and the matching function).\n\n"
            "  -o OUT          output file; SVG when it ends in .svg or with --svg, else PNG\n"
            "  --db DB         take the recording's chroma features from a database made by 'leitmotif\n"
            "                  index' (the document whose id is AUDIO's file name without extension, or\n"
            "                  --doc ID) instead of computing them\n"
            "  --features T    features to compute without --db (default ctc, with --model or the default model)\n"
            "  --tuning MODE   auto (default), CENTS or off: tuning compensation of those features, as in\n"
            "                  leitmotif chroma\n"
            "  --duration SEC, --tempo BPM, --transpose K   the theme as 'leitmotif search' takes it\n"
            "  --part NAME|N, --measures A-B, --track N, --voice N   which part of a score file, as for\n"
            "                  'leitmotif search' (e.g. --part Flute --measures 5-9)\n"
            "  --scale K       size factor 1..8 (default 2 for PNG, 1 for SVG)\n\n"
            "Sizes at scale 1: %d x %d pixels (%d x %d with --match).\n",
            LM_FIG_FULL_WIDTH, lm_plot_figure_full_height(1), LM_FIG_MATCH_WIDTH, lm_plot_figure_match_height());
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

int cmd_plot(int argc, char **argv) {
    const char *audio_path = NULL, *theme_text = NULL, *out = NULL, *db_path = NULL, *doc_id = NULL,
               *model_path = NULL, *features = "ctc";
    double duration = 0;
    lm_theme_select sel = {0};
    long transpose = 0, scale = 0;
    int svg = 0, match_only = 0;
    lm_tuning tuning = {LM_TUNING_AUTO, 0};
    for (int i = 1; i < argc; i++) {
        int th = lm_cli_threads_option(argc, argv, &i);
        if (th < 0) return 1;
        if (th) continue;
        int sel_rc = lm_cli_theme_select_option(argc, argv, &i, &sel);
        if (sel_rc < 0) return 1;
        if (sel_rc) continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            plot_help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--theme") && i + 1 < argc) theme_text = argv[++i];
        else if (!strcmp(argv[i], "-o") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--svg")) svg = 1;
        else if (!strcmp(argv[i], "--match")) match_only = 1;
        else if (!strcmp(argv[i], "--db") && i + 1 < argc) db_path = argv[++i];
        else if (!strcmp(argv[i], "--doc") && i + 1 < argc) doc_id = argv[++i];
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) model_path = argv[++i];
        else if (!strcmp(argv[i], "--features") && i + 1 < argc) features = argv[++i];
        else if (!strcmp(argv[i], "--tuning") && i + 1 < argc) {
            if (lm_tuning_parse(argv[++i], &tuning) != 0) return lm_cli_fail_lib();
        } else if (!strcmp(argv[i], "--duration") && i + 1 < argc) {
            if (lm_cli_parse_double("--duration", argv[++i], 0.04, 3600, &duration) != 0) return 1;
        } else if (!strcmp(argv[i], "--transpose") && i + 1 < argc) {
            if (lm_cli_parse_int("--transpose", argv[++i], -127, 127, &transpose) != 0) return 1;
        } else if (!strcmp(argv[i], "--scale") && i + 1 < argc) {
            if (lm_cli_parse_int("--scale", argv[++i], 1, 8, &scale) != 0) return 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return lm_cli_fail("plot: unknown option or missing value: %s", argv[i]);
        } else if (!audio_path) audio_path = argv[i];
        else return lm_cli_fail("plot: more than one recording given (quote a note list: --theme \"C4 D4 E4\")");
    }
    if (!audio_path || !theme_text || !out) {
        plot_help(stderr);
        return 2;
    }
    if (doc_id && !db_path) return lm_cli_fail("plot: --doc needs --db DB");
    if (db_path && model_path) return lm_cli_fail("plot: --model does not apply with --db (the features are in DB)");
    if (ends_with(out, ".svg")) svg = 1;
    if (!scale) scale = svg ? 1 : 2;
    enum lm_feature_type type;
    if (lm_feature_parse(features, &type) != 0) return lm_cli_fail_lib();

    lm_theme theme;
    int from_file;
    if (lm_theme_load_ex(theme_text, 0, &sel, &theme, &from_file) != 0) return lm_cli_fail_lib();
    size_t N = 0;
    float *query = lm_theme_to_chroma(&theme, duration, (int)transpose, &N);
    lm_theme_free(&theme);
    if (!query) return lm_cli_fail_lib();

    int rc = 1;
    lm_audio a = {0};
    lm_hcqt h = {0};
    lm_db db;
    int db_open = 0;
    float *own_chroma = NULL;
    const float *chroma = NULL;
    size_t T = 0;
    lm_plot_match pm = {0};
    lm_canvas *c = NULL;
    const char *feat_name = features;
    char id_buf[1024];
    if (db_path) {
        if (lm_db_open(db_path, &db) != 0) goto done;
        db_open = 1;
        if (!doc_id) { /* the file name without extension, as `index` names documents */
            snprintf(id_buf, sizeof id_buf, "%s", audio_path);
            char *base = basename(id_buf);
            char *dot = strrchr(base, '.');
            if (dot && dot != base) *dot = '\0';
            memmove(id_buf, base, strlen(base) + 1);
            doc_id = id_buf;
        }
        long k = lm_db_find(&db, doc_id);
        if (k < 0) {
            lm_set_error("%s: no document '%s' (give its id with --doc ID)", db_path, doc_id);
            goto done;
        }
        if (lm_db_verify_doc(&db, (size_t)k) != 0) goto done; /* format 2: checksum on first read */
        chroma = lm_db_doc_features(&db.docs[k], &own_chroma); /* a compact recording: a float copy */
        if (!chroma) goto done;
        T = db.docs[k].T;
        feat_name = lm_feature_name(db.type);
    }
    if (lm_audio_load(audio_path, &a) != 0) goto done;
    if (lm_hcqt25(a.samples, a.n, &h) != 0) goto done;
    if (!chroma) {
        lm_feature_weights fw;
        if (lm_feature_weights_load(&fw, type, model_path) != 0) goto done;
        int frc = lm_features_from_signal_ex(a.samples, a.n, type, lm_feature_weights_chroma(&fw),
                                             lm_feature_weights_salience(&fw), &tuning, &own_chroma, &T, NULL);
        lm_feature_weights_free(&fw);
        if (frc != 0) goto done;
        chroma = own_chroma;
    }
    if (lm_plot_match_compute(query, N, chroma, T, &pm) != 0) goto done;
    if (!isfinite(pm.distance)) {
        lm_set_error("the theme (%.1f s) is too long to match in this recording (%.1f s; a match compresses the theme "
                     "at most 2x); shorten it with --duration or --tempo",
                     0.04 * (double)N, 0.04 * (double)T);
        goto done;
    }
    int h1 = 0; /* the harmonic h = 1 */
    for (int i = 0; i < LM_HCQT_NHARM; i++)
        if (fabs(lm_hcqt_harmonics[i] - 1.0) < 1e-9) h1 = i;
    char rec[512], th[512];
    snprintf(rec, sizeof rec, "%s", audio_path);
    snprintf(th, sizeof th, "%s", theme_text);
    lm_plot_input in = {.query = query,
                        .chroma = chroma,
                        .match = &pm,
                        .hcqt = h.data + (size_t)h1 * (size_t)h.n_bins * h.n_frames,
                        .hcqt_T = h.n_frames,
                        .hcqt_bins = h.n_bins,
                        .hcqt_bpo = LM_HCQT_BPO,
                        .recording = basename(rec),
                        .theme = from_file ? basename(th) : theme_text,
                        .features = feat_name};
    c = match_only ? lm_plot_figure_match(&in, (int)scale) : lm_plot_figure_full(&in, (int)scale);
    if (!c || lm_canvas_write(c, out, svg) != 0) goto done;
    fprintf(stderr, "leitmotif plot: wrote %s (%s, %d x %d; match %.2f-%.2f s, distance %.4f)\n", out,
            svg ? "SVG" : "PNG", lm_canvas_width(c), lm_canvas_height(c), 0.04 * (double)pm.start,
            0.04 * (double)(pm.end + 1), pm.distance);
    rc = 0;
done:
    if (rc) lm_cli_fail_lib();
    lm_canvas_free(c);
    lm_plot_match_free(&pm);
    free(own_chroma);
    lm_hcqt_free(&h);
    lm_audio_free(&a);
    if (db_open) lm_db_close(&db);
    free(query);
    return rc;
}
