/* `leitmotif align`: whole-piece score-to-audio synchronisation (src/align), a score-time ->
 * audio-time map, and the themes of a corpus-format themes CSV located in the recording,
 * written as a training-pairs CSV for `leitmotif train --pairs`. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "align/align.h"
#include "chroma/features.h"
#include "cli/cli.h"
#include "common/csv.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/npy.h"
#include "eval/json.h"
#include "nn/model.h"

/* Confidence below which the score is reported as probably not the recording's music. Chosen on
 * the corpus' --small renders (scripts/eval_align.sh): right scores gave >= 0.14 (ctc) / 0.20
 * (stft), the 90 wrong-piece pairs <= 0.075 (ctc) / 0.11 (stft). */
#define DEFAULT_MIN_CONFIDENCE 0.12

static void align_help(FILE *f) {
    fprintf(f,
            "usage: leitmotif align SCORE.mid AUDIO -o MAP.csv [--themes THEMES.csv --themes-out OUT.csv]\n"
            "                       [--piece ID] [--features ctc|stft|bittner|bg1] [--model FILE] [--json]\n"
            "                       [--tuning auto|off|CENTS]\n"
            "                       [--subsequence | --full] [--steps classic|symmetric|slope] [--decay SEC]\n"
            "                       [--min-confidence X] [--threads N]\n\n"
            "Synchronises the score (all notes of all tracks of a MIDI file, as 25 Hz piano-roll chroma)\n"
            "with the recording AUDIO (its chroma; AUDIO may also be a float32 .npy [12][T] of 25 Hz\n"
            "features) by multiscale DTW with cosine distance.\n"
            "  -o MAP.csv        'score_sec,audio_sec', one row per 25 Hz score frame of the aligned region\n"
            "  --themes CSV      themes in the corpus format (theme_id, piece_id, start_qn, end_qn,\n"
            "                    pitch_classes, ...); the rows of piece SCORE's base name (or --piece ID)\n"
            "  --themes-out OUT  their place in the recording, as a training-pairs CSV: theme_id, piece_id,\n"
            "                    audio, start_sec, end_sec, pitch_classes, fold, [license,] align_cost,\n"
            "                    align_confidence\n"
            "  --subsequence     the recording is an excerpt: align it inside the score (default: when the\n"
            "                    recording has under half the score's frames); --full forces a whole-piece map\n"
            "  --json            print a JSON summary on stdout (cost, confidence, themes)\n"
            "  --tuning MODE     the recording's deviation from A = 440 Hz: auto (default: estimated and\n"
            "                    compensated, as leitmotif chroma does), CENTS, or off\n"
            "  --steps S         DTW steps: classic (1,1),(1,0),(0,1) (default), symmetric (diagonal\n"
            "                    weight 2), slope (1,1),(2,1),(1,2)\n"
            "  --penalty P       extra cost of a non-diagonal step (default 0 for a whole piece, 1 for an\n"
            "                    excerpt: nearly rigid, at about the score's tempo)\n"
            "  --decay SEC       decay time of the score's notes in its chroma (default 1)\n"
            "  --min-confidence  warn on stderr below this confidence (default %.2f)\n\n"
            "cost is the mean cosine distance along the path; confidence = 1 - cost / (mean cost against the\n"
            "score reversed and block-shuffled), at the coarsest DTW level: 0.14-0.6 for the right score,\n"
            "near 0 for another piece.\n",
            DEFAULT_MIN_CONFIDENCE);
}

typedef struct {
    const char *id;
    double start_sec, end_sec;
    int inside;
} theme_out;

static char *base_name_no_ext(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    const char *dot = strrchr(b, '.');
    if (dot && dot != b) n = (size_t)(dot - b);
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, b, n);
    s[n] = 0;
    return s;
}

static int write_map(const char *path, const lm_align_result *r) {
    lm_atomic_file af;
    if (lm_atomic_open(&af, path) != 0) return -1;
    fputs("score_sec,audio_sec\n", af.fp);
    size_t s0 = r->score_frame[0], s1 = r->score_frame[r->len - 1];
    for (size_t s = s0; s <= s1; s++)
        fprintf(af.fp, "%.2f,%.3f\n", 0.04 * (double)s, lm_align_map(r, 0.04 * (double)s));
    return lm_atomic_commit(&af);
}

static float *load_audio_features(const char *audio, enum lm_feature_type type, const char *model_path,
                                  const lm_tuning *tuning, size_t *T) {
    size_t n = strlen(audio);
    if (n > 4 && !strcmp(audio + n - 4, ".npy")) {
        int nd;
        size_t shape[8];
        float *c = lm_npy_read_f32(audio, &nd, shape);
        if (!c) return NULL;
        if (nd != 2 || shape[0] != 12 || shape[1] == 0) {
            free(c);
            lm_set_error("%s: expected float32 chroma of shape [12][T]", audio);
            return NULL;
        }
        *T = shape[1];
        return c;
    }
    lm_feature_weights fw;
    if (lm_feature_weights_load(&fw, type, model_path) != 0) return NULL;
    float *c = NULL;
    int rc = lm_features_from_file_ex(audio, type, lm_feature_weights_chroma(&fw), lm_feature_weights_salience(&fw),
                                      tuning, &c, T, NULL, NULL);
    lm_feature_weights_free(&fw);
    return rc == 0 ? c : NULL;
}

int cmd_align(int argc, char **argv) {
    const char *score_path = NULL, *audio = NULL, *map_out = NULL, *themes = NULL, *themes_out = NULL;
    const char *piece = NULL, *model_path = NULL;
    enum lm_feature_type type = LM_FEAT_CTC;
    lm_tuning tuning = {LM_TUNING_AUTO, 0};
    int json = 0, have_features = 0;
    double decay = 1.0, min_conf = DEFAULT_MIN_CONFIDENCE;
    lm_align_options opt = {0};
    opt.steps = LM_STEPS_CLASSIC;
    opt.penalty = -1; /* 0 for whole pieces, 1 for excerpts */
    for (int i = 1; i < argc; i++) {
        int th = lm_cli_threads_option(argc, argv, &i);
        if (th < 0) return 1;
        if (th) continue;
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            align_help(stdout);
            return 0;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && has_val) map_out = argv[++i];
        else if (!strcmp(a, "--themes") && has_val) themes = argv[++i];
        else if (!strcmp(a, "--themes-out") && has_val) themes_out = argv[++i];
        else if (!strcmp(a, "--piece") && has_val) piece = argv[++i];
        else if (!strcmp(a, "--model") && has_val) model_path = argv[++i];
        else if (!strcmp(a, "--tuning") && has_val) {
            if (lm_tuning_parse(argv[++i], &tuning) != 0) return lm_cli_fail_lib();
        } else if (!strcmp(a, "--features") && has_val) {
            if (lm_feature_parse(argv[++i], &type) != 0) return lm_cli_fail_lib();
            have_features = 1;
        } else if (!strcmp(a, "--decay") && has_val) {
            if (lm_cli_parse_double(a, argv[++i], 0, 60, &decay) != 0) return 1;
        } else if (!strcmp(a, "--penalty") && has_val) {
            if (lm_cli_parse_double(a, argv[++i], 0, 10, &opt.penalty) != 0) return 1;
        } else if (!strcmp(a, "--min-confidence") && has_val) {
            if (lm_cli_parse_double(a, argv[++i], -10, 1, &min_conf) != 0) return 1;
        } else if (!strcmp(a, "--steps") && has_val) {
            const char *s = argv[++i];
            if (!strcmp(s, "classic")) opt.steps = LM_STEPS_CLASSIC;
            else if (!strcmp(s, "symmetric")) opt.steps = LM_STEPS_SYMMETRIC;
            else if (!strcmp(s, "slope")) opt.steps = LM_STEPS_SLOPE;
            else return lm_cli_fail("align: --steps: expected classic, symmetric or slope, got '%s'", s);
        } else if (!strcmp(a, "--subsequence")) opt.mode = LM_ALIGN_SUBSEQUENCE;
        else if (!strcmp(a, "--full")) opt.mode = LM_ALIGN_FULL;
        else if (!strcmp(a, "--json")) json = 1;
        else if (a[0] == '-' && a[1]) return lm_cli_fail("align: unknown option or missing value: %s", a);
        else if (!score_path) score_path = a;
        else if (!audio) audio = a;
        else return lm_cli_fail("align: more than two input files given");
    }
    if (!score_path || !audio || !map_out) {
        align_help(stderr);
        return 2;
    }
    if ((themes != NULL) != (themes_out != NULL)) return lm_cli_fail("align: --themes and --themes-out go together");
    if ((type == LM_FEAT_STFT || type == LM_FEAT_BG1) && model_path)
        return lm_cli_fail("align: --model applies to --features ctc and bittner only");
    (void)have_features;

    lm_score score;
    if (lm_score_read_midi(score_path, &score) != 0) return lm_cli_fail_lib();
    size_t N = 0, M = 0;
    float *sc = lm_score_chroma(&score, decay, &N);
    float *ac = sc ? load_audio_features(audio, type, model_path, &tuning, &M) : NULL;
    if (!sc || !ac) {
        free(sc);
        lm_score_free(&score);
        return lm_cli_fail_lib();
    }
    lm_align_result res;
    int rc = lm_align(sc, N, ac, M, &opt, &res);
    free(sc);
    free(ac);
    if (rc != 0) {
        lm_score_free(&score);
        return lm_cli_fail_lib();
    }
    int fail = write_map(map_out, &res) != 0;
    int low = isfinite(res.confidence) && res.confidence < min_conf;
    if (low)
        fprintf(stderr,
                "leitmotif: warning: low alignment confidence %.3f (< %.2f): %s is probably not the music of %s; "
                "the map is unreliable\n",
                res.confidence, min_conf, score_path, audio);

    /* Themes. */
    lm_csv_row *rows = NULL;
    size_t n_rows = 0, n_themes = 0, n_inside = 0;
    theme_out *th = NULL;
    char *piece_id = NULL, *audio_abs = NULL;
    if (!fail && themes) {
        piece_id = piece ? strdup(piece) : base_name_no_ext(score_path);
        audio_abs = realpath(audio, NULL);
        if (!audio_abs) audio_abs = strdup(audio);
        if (!piece_id || !audio_abs || lm_csv_read(themes, &rows, &n_rows) != 0) fail = 1;
    }
    if (!fail && themes) {
        const lm_csv_row *h = &rows[0];
        int c_id = lm_csv_column(h, "theme_id"), c_piece = lm_csv_column(h, "piece_id");
        int c_sq = lm_csv_column(h, "start_qn"), c_eq = lm_csv_column(h, "end_qn");
        int c_pcs = lm_csv_column(h, "pitch_classes"), c_fold = lm_csv_column(h, "fold");
        int c_lic = lm_csv_column(h, "license");
        if (c_id < 0 || c_piece < 0 || c_sq < 0 || c_eq < 0 || c_pcs < 0) {
            lm_set_error("%s: needs columns theme_id, piece_id, start_qn, end_qn, pitch_classes", themes);
            fail = 1;
        }
        lm_atomic_file af;
        if (!fail && !(th = lm_calloc(n_rows, sizeof *th))) fail = 1;
        if (!fail && lm_atomic_open(&af, themes_out) != 0) fail = 1;
        if (!fail) {
            fputs("theme_id,piece_id,audio,start_sec,end_sec,pitch_classes,fold", af.fp);
            if (c_lic >= 0) fputs(",license", af.fp);
            fputs(",score_start_sec,score_end_sec,align_cost,align_confidence\n", af.fp);
            double s_first = 0.04 * (double)res.score_frame[0], s_last = 0.04 * (double)res.score_frame[res.len - 1];
            for (size_t r = 1; r < n_rows && !fail; r++) {
                char **f = rows[r].fields;
                if (strcmp(f[c_piece], piece_id) != 0) continue;
                char *e1, *e2;
                double sq = strtod(f[c_sq], &e1), eq = strtod(f[c_eq], &e2);
                if (e1 == f[c_sq] || e2 == f[c_eq] || !(eq > sq)) {
                    lm_set_error("%s line %zu: bad start_qn/end_qn", themes, rows[r].line);
                    fail = 1;
                    break;
                }
                double ss = lm_score_qn_to_sec(&score, sq), es = lm_score_qn_to_sec(&score, eq);
                theme_out *t = &th[n_themes++];
                t->id = f[c_id];
                /* An excerpt holds the themes that lie inside the aligned part of the score. */
                t->inside = !res.subsequence || (ss >= s_first - 0.5 && es <= s_last + 0.5);
                if (!t->inside) {
                    fprintf(stderr, "leitmotif: theme %s (score %.2f-%.2f s) is outside the aligned excerpt (score "
                                    "%.2f-%.2f s); skipped\n",
                            t->id, ss, es, s_first, s_last);
                    continue;
                }
                n_inside++;
                t->start_sec = lm_align_map(&res, ss);
                t->end_sec = lm_align_map_end(&res, &score, es);
                lm_csv_write_field(af.fp, f[c_id]);
                fputc(',', af.fp);
                lm_csv_write_field(af.fp, piece_id);
                fputc(',', af.fp);
                lm_csv_write_field(af.fp, audio_abs);
                fprintf(af.fp, ",%.3f,%.3f,", t->start_sec, t->end_sec);
                lm_csv_write_field(af.fp, f[c_pcs]);
                fputc(',', af.fp);
                lm_csv_write_field(af.fp, c_fold >= 0 ? f[c_fold] : "");
                if (c_lic >= 0) {
                    fputc(',', af.fp);
                    lm_csv_write_field(af.fp, f[c_lic]);
                }
                fprintf(af.fp, ",%.3f,%.3f,%.4f,%.4f\n", ss, es, res.cost, res.confidence);
            }
            if (fail) lm_atomic_abort(&af);
            else if (lm_atomic_commit(&af) != 0) fail = 1;
        }
        if (!fail && n_themes == 0)
            fprintf(stderr, "leitmotif: warning: no theme of piece '%s' in %s\n", piece_id, themes);
    }

    if (!fail) {
        double adur = 0.04 * (double)M, sdur = score.duration;
        if (json) {
            printf("{\"score\": ");
            lm_json_string(stdout, score_path);
            printf(", \"audio\": ");
            lm_json_string(stdout, audio);
            printf(", \"mode\": \"%s\", \"score_duration_sec\": %.3f, \"audio_duration_sec\": %.3f",
                   res.subsequence ? "subsequence" : "full", sdur, adur);
            printf(", \"score_start_sec\": %.2f, \"score_end_sec\": %.2f", 0.04 * (double)res.score_frame[0],
                   0.04 * (double)res.score_frame[res.len - 1]);
            printf(", \"audio_start_sec\": %.2f, \"audio_end_sec\": %.2f", 0.04 * (double)res.audio_frame[0],
                   0.04 * (double)res.audio_frame[res.len - 1]);
            printf(", \"cost\": ");
            lm_json_number(stdout, res.cost);
            printf(", \"null_cost\": ");
            lm_json_number(stdout, res.null_cost);
            printf(", \"confidence\": ");
            lm_json_number(stdout, res.confidence);
            printf(", \"low_confidence\": %s, \"levels\": %d, \"path_length\": %zu, \"themes\": [", low ? "true" : "false",
                   res.levels, res.len);
            int first = 1;
            for (size_t k = 0; k < n_themes; k++) {
                if (!th[k].inside) continue;
                printf(first ? "{\"theme_id\": " : ", {\"theme_id\": ");
                lm_json_string(stdout, th[k].id);
                printf(", \"start_sec\": %.3f, \"end_sec\": %.3f}", th[k].start_sec, th[k].end_sec);
                first = 0;
            }
            printf("]}\n");
        } else {
            printf("align: %s, score %.1f s, recording %.1f s, cost %.4f, confidence %.3f%s",
                   res.subsequence ? "excerpt (subsequence)" : "whole piece", sdur, adur, res.cost, res.confidence,
                   low ? " (LOW)" : "");
            if (themes) printf(", %zu of %zu themes mapped", n_inside, n_themes);
            printf("\n");
        }
        if (fflush(stdout) != 0) {
            lm_set_error("cannot write to stdout: %s", strerror(errno));
            fail = 1;
        }
    }
    free(th);
    free(piece_id);
    free(audio_abs);
    if (rows) lm_csv_free(rows, n_rows);
    lm_align_result_free(&res);
    lm_score_free(&score);
    return fail ? lm_cli_fail_lib() : 0;
}
