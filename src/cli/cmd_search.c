/* `leitmotif search`: rank the recordings of a database for one theme. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/csv.h"
#include "common/error.h"
#include "dist/dist.h"
#include "eval/json.h"
#include "index/db.h"
#include "index/search.h"
#include "symbolic/theme.h"

#define FRAME_SEC 0.04

static void search_help(FILE *f) {
    fprintf(f,
            "usage: leitmotif search DB THEME [THEME...] [--themes-from FILE] [--top K] [--json|--csv]\n"
            "                        [--duration SEC|auto] [--transpose K|any]\n"
            "                        [--tempo BPM] [--occurrences [--occ-threshold M]] [--threads N]\n"
            "                        [--fuse DB2 [--fuse-weight W]] [--context W]\n"
            "                        [--part NAME|N] [--measures A-B] [--track N] [--voice N]\n"
            "       leitmotif search [DB] THEME --print-theme [--json] [selection and --tempo as above]\n\n"
            "Ranks the recordings of the database DB by how well THEME matches a passage of them\n"
            "(subsequence DTW of the theme's binary chroma against the recordings' chroma features).\n\n"
            "THEME is a quoted note list or a score file (MIDI, MusicXML or **kern, told by content):\n"
            "  note list  e.g. \"G4 G4 G4 Eb4:4 F4 F4 F4 D4:4 r:2\": pitch letter, accidentals (# b x bb),\n"
            "             octave (C4 = middle C = MIDI 60), optional :beats (default 1); r is a rest\n"
            "  MIDI file  (.mid) the theme should be monophonic. Polyphony is reduced by the skyline rule:\n"
            "             at every moment only the highest sounding note counts (drums on channel 10 are\n"
            "             ignored), so put the melody on top, in a file of its own or choose its --track.\n"
            "  MusicXML   (.musicxml, .xml, compressed .mxl) and Humdrum **kern (.krn): read at sounding\n"
            "             pitch, ties joined, grace notes left out, chords and voices reduced to the top\n"
            "             note, repeats not expanded; every part unless --part says which.\n\n"
            "Several themes (arguments, and --themes-from FILE: one note list or file path per line, '#'\n"
            "starts a comment line, '-' reads standard input) are searched one after the other against the\n"
            "database opened once, with the same options: the text output puts a line \"# theme: THEME\"\n"
            "before each theme's results, --json prints a JSON array of the one-theme documents, --csv one\n"
            "table. A theme that cannot be searched (a bad file, too long) is named on stderr and skipped;\n"
            "the exit status is then 3 (1 when none could be searched).\n\n"
            "  --part NAME|N   the part of a MusicXML file (number in score order, or its name, abbreviation\n"
            "                  or id), the spine of a **kern file (N-th **kern spine, or *I name), or the\n"
            "                  track of a MIDI file (number or track name); names ignore case and spacing\n"
            "  --measures A-B  measures A to B as printed (MusicXML, **kern): \"5-9\", \"5\", \"5-\", \"-9\"\n"
            "  --track N       MIDI track N (1-based MTrk chunk)\n"
            "  --voice N       MusicXML voice N / **kern layer N of the chosen part\n"
            "  --print-theme   print the theme's notes as read (onset and duration in seconds, pitch) and\n"
            "                  exit, to check a selection; DB may be left out\n"
            "  --top K         print the K best recordings (default 10; 0: all)\n"
            "  --json          print one JSON document instead of text lines\n"
            "  --csv           print a CSV table instead: theme,rank,id,path,distance,start_sec,end_sec\n"
            "                  (+ transpose, duration_factor with --transpose any, --duration auto; with\n"
            "                  --occurrences a row per passage and its number in column occurrence); one\n"
            "                  table for all the themes of a run\n"
            "  --duration SEC  stretch the theme to SEC seconds, e.g. the expected length in the\n"
            "                  recording (default: its own length at the MIDI or --tempo tempo)\n"
            "  --duration auto tempo-free: search the theme at 0.5, 0.71, 1, 1.41 and 2x its length (with\n"
            "                  the DTW's own 0.5-2x, any tempo from 0.25x to 4x of the written one) and keep\n"
            "                  the best per recording; each hit says the duration factor that matched. Its\n"
            "                  distance includes 0.05 x log2(2 / factor), as shorter variants match\n"
            "                  everything a little better\n"
            "  --tempo BPM     tempo of a note list in beats per minute (default 120); for a score file in\n"
            "                  quarter notes per minute, replacing all of the file's tempo marks (default:\n"
            "                  the file's marks, else 120). With --duration SEC it changes nothing (the\n"
            "                  theme is stretched to SEC); with --duration auto it sets the middle tempo\n"
            "  --transpose K   shift the theme by K semitones\n"
            "  --transpose any search the theme in all 12 keys and keep the best per recording; each hit\n"
            "                  says the shift (-5..+6 semitones) at which the theme is played there\n"
            "  --occurrences   list, under each recording, every passage that matches the theme within\n"
            "                  M of its best distance, not overlapping, best first (with --transpose any\n"
            "                  in any key: a recapitulation may bring a theme back in another key)\n"
            "  --occ-threshold M  the margin M in [0, 1] (default %.2f): a passage is listed when its\n"
            "                  distance is at most the best + M (a margin, as good matches lie near 0)\n"
            "  --exhaustive    every recording (with --transpose any / --duration auto: every variant)\n"
            "                  exactly over its whole length, without the candidate pass (for checking\n"
            "                  it; about 3x slower for one query, 12x / 5.6x for the variants)\n"
            "  --context W     weight of the recording's context in the ranking (default %.2f): a recording's\n"
            "                  distance is its best passage's plus W x the median distance of the theme over\n"
            "                  all its passages (in the coarse pass), which favours the recording that is\n"
            "                  close to the theme throughout (its key, its motifs) over a chance match;\n"
            "                  0 ranks by the best passage alone (docs/search.md, \"Context\")\n"
            "  --threads N     worker threads (default: all cores)\n"
            "  --fuse DB2      search DB and DB2, two databases of the same recordings (same document ids)\n"
            "                  with different features, in one: the DTW runs on the per-frame mix (1-W) x\n"
            "                  DB's features + W x DB2's, l2-normalised. Recordings in only one of them, or\n"
            "                  whose frame counts differ by\n"
            "                  more than 1 s, are not ranked (with a warning)\n"
            "  --fuse-weight W weight W of DB2 in [0, 1] (default %.2f; 0 = DB alone, 1 = DB2 alone)\n\n"
            "Without --duration or --tempo the theme is matched at its written tempo (the file's tempo marks,\n"
            "a note list's 120 beats per minute), and the match can compress or stretch it by at most a\n"
            "factor of 2: a performance more than twice as fast or slow is missed; --duration auto finds it.\n"
            "Candidate pass: a coarse pass at a quarter of the frame rate chooses the recordings and passages\n"
            "that get the exact search (docs/search.md). --transpose any and --duration auto together search\n"
            "60 variants; the same passes pick the keys, tempi and passages that get the exact search, so\n"
            "on a large database each costs about as much as an exhaustive plain search (not 12 or 5.6\n"
            "of them) and about 4 pruned plain searches (docs/results/search_modes.md, \"Cost\"); the K\n"
            "best recordings shown are those of the exhaustive search with high probability. In all keys\n"
            "every other recording has 12 chances to match, so a theme's own recording ranks first a\n"
            "little less often than in its right key (docs/results/transpose_gap.md).\n\n"
            "Output, one line per recording, best first: rank, document id, distance (mean cosine\n"
            "distance along the best alignment: 0 is a perfect match, 1 no similarity; plus the context\n"
            "term), the matched\n"
            "passage start-end in seconds, then with --transpose any the shift (\"transpose +2\") and with\n"
            "--duration auto the duration factor (\"duration 1.41x\"); with --occurrences, an indented line\n"
            "per passage. Recordings too short for the theme are not ranked.\n",
            LM_OCC_MARGIN_DEFAULT, (double)LM_CONTEXT_WEIGHT, LM_FUSE_WEIGHT_DEFAULT);
}

typedef lm_dist_occ occ_list; /* a recording's occurrences */

/* The variant columns of a hit: "  transpose +2  duration 1.41x". */
static void print_variant(const lm_qset *qs, int any, int autod, int fixed, unsigned v) {
    if (any) printf("  transpose %+d", fixed + lm_qset_transpose(qs, v));
    if (autod) printf("  duration %.2fx", lm_qset_stretch(qs, v));
}

static void print_text(const lm_db *db, const lm_match *m, size_t n, const lm_qset *qs, int any, int autod,
                       int fixed, const occ_list *occ) {
    int width = 8;
    for (size_t i = 0; i < n; i++) {
        int len = (int)strlen(db->docs[m[i].doc].id);
        if (len > width) width = len;
    }
    for (size_t i = 0; i < n; i++) {
        printf("%4zu  %-*s  %.4f  %.2f-%.2f", i + 1, width, db->docs[m[i].doc].id, m[i].distance,
               FRAME_SEC * (double)m[i].start, FRAME_SEC * (double)(m[i].end + 1));
        print_variant(qs, any, autod, fixed, m[i].variant);
        printf("\n");
        for (size_t j = 0; occ && j < occ[i].n; j++) {
            const lm_occurrence *o = &occ[i].occ[j];
            printf("      %3zu  %-*s  %.4f  %.2f-%.2f", j + 1, width - 5, "", o->distance,
                   FRAME_SEC * (double)o->start, FRAME_SEC * (double)(o->end + 1));
            print_variant(qs, any, 0, fixed, o->variant);
            printf("\n");
        }
    }
}

static void json_variant(const lm_qset *qs, int any, int autod, int fixed, unsigned v) {
    if (any) printf(", \"transpose\": %d", fixed + lm_qset_transpose(qs, v));
    if (autod) {
        printf(", \"stretch\": ");
        lm_json_number(stdout, lm_qset_stretch(qs, v));
        printf(", \"theme_sec\": ");
        lm_json_number(stdout, FRAME_SEC * (double)qs->N[v / qs->n_shift]);
    }
}

static void print_json(const lm_db *db, const char *db_path, const lm_fusion *fusion, const char *db2_path,
                       const char *theme_text, const lm_theme_select *sel, const lm_qset *qs, int any, int autod, int transpose,
                       const lm_match *m, size_t n, size_t unranked, const occ_list *occ, double occ_margin) {
    printf("{\"database\": ");
    lm_json_string(stdout, db_path);
    if (fusion) {
        printf(", \"fuse\": {\"database\": ");
        lm_json_string(stdout, db2_path);
        printf(", \"weight\": ");
        lm_json_number(stdout, fusion->w);
        printf(", \"recordings\": %zu}", fusion->n);
    }
    printf(", \"theme\": ");
    lm_json_string(stdout, theme_text);
    lm_json_theme_selection(stdout, sel);
    size_t N = qs->N[autod ? LM_AUTO_STRETCHES / 2 : 0]; /* the reference duration */
    printf(", \"theme_frames\": %zu, \"theme_sec\": ", N);
    lm_json_number(stdout, FRAME_SEC * (double)N);
    if (any) printf(", \"transpose\": \"any\"");
    else printf(", \"transpose\": %d", transpose);
    if (autod) printf(", \"duration\": \"auto\"");
    if (occ) {
        printf(", \"occurrence_margin\": ");
        lm_json_number(stdout, occ_margin);
    }
    printf(", \"documents\": %zu, \"unranked\": %zu, \"results\": [", db->n_docs, unranked);
    for (size_t i = 0; i < n; i++) {
        const lm_db_doc *d = &db->docs[m[i].doc];
        printf("%s\n  {\"rank\": %zu, \"id\": ", i ? "," : "", i + 1);
        lm_json_string(stdout, d->id);
        printf(", \"path\": ");
        lm_json_string(stdout, d->path);
        printf(", \"distance\": ");
        lm_json_number(stdout, m[i].distance);
        printf(", \"start_sec\": ");
        lm_json_number(stdout, FRAME_SEC * (double)m[i].start);
        printf(", \"end_sec\": ");
        lm_json_number(stdout, FRAME_SEC * (double)(m[i].end + 1));
        json_variant(qs, any, autod, transpose, m[i].variant);
        if (occ) {
            printf(", \"occurrences\": [");
            for (size_t j = 0; j < occ[i].n; j++) {
                const lm_occurrence *o = &occ[i].occ[j];
                printf("%s{\"distance\": ", j ? ", " : "");
                lm_json_number(stdout, o->distance);
                printf(", \"start_sec\": ");
                lm_json_number(stdout, FRAME_SEC * (double)o->start);
                printf(", \"end_sec\": ");
                lm_json_number(stdout, FRAME_SEC * (double)(o->end + 1));
                json_variant(qs, any, 0, transpose, o->variant);
                printf("}");
            }
            printf("]");
        }
        printf("}");
    }
    printf("%s]}\n", n ? "\n" : "");
}

/* --csv: a row per shown recording (with --occurrences, per passage), the theme in every row so
 * that the rows of several themes form one table. */
static void csv_variant(const lm_qset *qs, int any, int autod, int fixed, unsigned v) {
    if (any) printf(",%d", fixed + lm_qset_transpose(qs, v));
    if (autod) printf(",%.4g", lm_qset_stretch(qs, v));
}

static void print_csv_header(int any, int autod, int occurrences) {
    printf("theme,rank,id,path%s,distance,start_sec,end_sec%s%s\n", occurrences ? ",occurrence" : "",
           any ? ",transpose" : "", autod ? ",duration_factor" : "");
}

static void print_csv(const lm_db *db, const char *theme_text, const lm_match *m, size_t n, const lm_qset *qs, int any,
                      int autod, int fixed, const occ_list *occ) {
    for (size_t i = 0; i < n; i++) {
        const lm_db_doc *d = &db->docs[m[i].doc];
        size_t rows = occ ? occ[i].n : 1;
        for (size_t j = 0; j < rows; j++) {
            lm_csv_write_field(stdout, theme_text);
            printf(",%zu,", i + 1);
            lm_csv_write_field(stdout, d->id);
            printf(",");
            lm_csv_write_field(stdout, d->path);
            if (occ) {
                const lm_occurrence *o = &occ[i].occ[j];
                printf(",%zu,%.6g,%.2f,%.2f", j + 1, (double)o->distance, FRAME_SEC * (double)o->start,
                       FRAME_SEC * (double)(o->end + 1));
                csv_variant(qs, any, 0, fixed, o->variant);
                if (autod) csv_variant(qs, 0, autod, fixed, m[i].variant);
            } else {
                printf(",%.6g,%.2f,%.2f", (double)m[i].distance, FRAME_SEC * (double)m[i].start,
                       FRAME_SEC * (double)(m[i].end + 1));
                csv_variant(qs, any, autod, fixed, m[i].variant);
            }
            printf("\n");
        }
    }
}

static const char *const format_names[] = {"note list", "MIDI", "MusicXML", "MusicXML (compressed)", "**kern"};

/* --print-theme: the notes as read, one line each ("0.000  0.500  G4  67", a rest "r"), or JSON. */
static int print_theme(const lm_theme *t, const char *theme_text, int format, int json) {
    static const char *const names[12] = {"C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"};
    size_t n_notes = 0;
    for (size_t i = 0; i < t->n; i++) n_notes += t->notes[i].pitch >= 0;
    const char *fmt = format >= 0 && format <= LM_THEME_KERN ? format_names[format] : "file";
    size_t frames = (size_t)lround(t->duration / FRAME_SEC);
    if (json) {
        printf("{\"theme\": ");
        lm_json_string(stdout, theme_text);
        printf(", \"format\": ");
        lm_json_string(stdout, fmt);
        printf(", \"duration_sec\": ");
        lm_json_number(stdout, t->duration);
        printf(", \"notes\": [");
    } else {
        printf("# %s: %zu notes, %zu rests, %.3f s (%zu frames at 25 Hz)\n", fmt, n_notes, t->n - n_notes,
               t->duration, frames);
        printf("# onset_sec duration_sec note midi\n");
    }
    for (size_t i = 0; i < t->n; i++) {
        const lm_note *nt = &t->notes[i];
        char name[16] = "r";
        if (nt->pitch >= 0) snprintf(name, sizeof name, "%s%d", names[nt->pitch % 12], nt->pitch / 12 - 1);
        if (json) {
            printf("%s{\"onset_sec\": ", i ? ", " : "");
            lm_json_number(stdout, nt->onset);
            printf(", \"duration_sec\": ");
            lm_json_number(stdout, nt->duration);
            printf(", \"pitch\": %d, \"name\": \"%s\"}", nt->pitch, name);
        } else {
            printf("%.3f %.3f %s %d\n", nt->onset, nt->duration, name, nt->pitch);
        }
    }
    if (json) printf("]}\n");
    return fflush(stdout) != 0 ? lm_cli_fail("cannot write the theme") : 0;
}

/* Occurrences in each of the n shown recordings (in parallel; NULL when out of memory). */
static occ_list *find_occurrences(const lm_db *db, const lm_fusion *f, const lm_qset *qs, const lm_match *m,
                                  size_t n, double margin) {
    occ_list *occ = lm_calloc(n ? n : 1, sizeof *occ);
    if (!occ) return NULL;
    int failed = 0, mixes = f && f->w > 0.0 && f->w < 1.0;
#pragma omp parallel
    {
        float *buf = mixes ? malloc(12 * f->max_T * sizeof *buf) : NULL;
#pragma omp for schedule(dynamic, 1)
        for (size_t i = 0; i < n; i++) {
            size_t T = 0;
            const float *x = NULL;
            float *own = NULL; /* a compact recording's float copy */
            if (!f) {
                x = lm_db_doc_features(&db->docs[m[i].doc], &own);
                T = db->docs[m[i].doc].T;
            } else if (!mixes || buf) {
                x = lm_fusion_features(f, f->index_of[m[i].doc], buf, &T);
            }
            if (!x || lm_occurrences(qs, x, T, &m[i], margin, &occ[i].occ, &occ[i].n) != 0) {
#pragma omp atomic write
                failed = 1;
            }
            free(own);
        }
        free(buf);
    }
    if (failed) {
        for (size_t i = 0; i < n; i++) free(occ[i].occ);
        free(occ);
        lm_set_error("occurrences: out of memory");
        return NULL;
    }
    return occ;
}

/* What every theme of one `search` run shares: the database(s), this process' share of the
 * recordings, and the options. */
typedef struct {
    const lm_db *db, *sdb; /* sdb: the recordings this process ranks (db, or its share under mpirun) */
    const char *db_path, *db2_path;
    lm_fusion *fusion; /* NULL without --fuse */
    const size_t *orig; /* under mpirun: the share's document indices in db */
    int dist, rank, json, csv, occurrences, batch;
    long top, transpose;
    double duration, occ_margin;
    const lm_variant_options *vo;
    const lm_theme_select *sel;
} search_run;

enum { THEME_DONE = 0, THEME_FAILED = 1, RUN_FAILED = 2 };

/* A one-line error about one theme; in a run of several themes it names the theme. */
static void theme_fail(const search_run *r, const char *theme_text, const char *msg) {
    if (r->batch) lm_cli_fail("theme '%s': %s", theme_text, msg);
    else lm_cli_fail("%s", msg);
}

/* Searches one theme and prints its results (process 0 under mpirun; *printed counts the JSON
 * documents printed so far, for the separators of a run of several themes). THEME_FAILED: this
 * theme could not be searched (a bad file, too long; the next one goes on); RUN_FAILED: the
 * database or the output failed. */
static int search_theme(const search_run *r, const char *theme_text, size_t *printed) {
    const int any = r->vo->transpose_any, autod = r->vo->duration_auto;
    lm_theme theme;
    lm_qset qs;
    int format, loaded = lm_theme_load_ex(theme_text, 0, r->sel, &theme, &format) == 0;
    int built = loaded && lm_qset_from_theme(&qs, &theme, r->duration, (int)r->transpose, r->vo) == 0;
    if (loaded) lm_theme_free(&theme);
    if (!built && (!r->dist || r->rank == 0)) theme_fail(r, theme_text, lm_last_error());
    if (!lm_dist_all(built)) { /* every process skips the theme together */
        if (built) lm_qset_free(&qs);
        return THEME_FAILED;
    }
    const float *query = qs.q[0]; /* the plain query (one variant) */
    size_t N = qs.N[autod ? LM_AUTO_STRETCHES / 2 : 0];
    const lm_db *sdb = r->sdb;
    const lm_fusion *fp = r->fusion;
    /* The candidates: all recordings of DB (of this process' share), or those that the fusion ranks. */
    size_t n_cand = fp ? fp->n : sdb->n_docs, n_all = fp ? fp->n : r->db->n_docs;
    lm_match *m = lm_malloc(sdb->n_docs ? sdb->n_docs : 1, sizeof *m);
    occ_list *occ = NULL;
    size_t shown = 0, ranked = 0;
    int rc = THEME_DONE, ok = m != NULL;
    if (ok) {
        if (!lm_qset_is_plain_scan(&qs)) ok = lm_search_qset(sdb, fp, &qs, NULL, r->top == 0 ? SIZE_MAX : (size_t)r->top, -1, m, 1) == 0;
        else {
            ok = (fp ? lm_search_fused(fp, query, qs.N[0], m, 1) : lm_search_all(sdb, query, qs.N[0], m, 1)) == 0;
            for (size_t k = 0; k < n_cand && ok; k++) m[k].variant = 0, m[k].approx = 0;
        }
        if (ok) {
            lm_match_sort_top(m, n_cand, r->top > 0 ? (size_t)r->top : 0); /* the shown ones in order */
            for (size_t k = 0; k < n_cand; k++) ranked += isfinite(m[k].distance) != 0;
            shown = (r->top == 0 || (size_t)r->top > ranked) ? ranked : (size_t)r->top;
            if (!lm_qset_is_plain_scan(&qs)) lm_search_locate_qset(sdb, fp, &qs, m, shown);
            else if (fp) lm_search_locate_fused(fp, query, qs.N[0], m, shown);
            else lm_search_locate(sdb, query, qs.N[0], m, shown);
            if (r->occurrences && !(occ = find_occurrences(sdb, fp, &qs, m, shown, r->occ_margin))) ok = 0;
        }
    }
    if (!ok) lm_cli_fail_lib();
    if (!lm_dist_all(ok)) rc = RUN_FAILED;
    int quiet = 0; /* nothing to print on this process */
    if (rc == THEME_DONE && r->dist) { /* process 0 takes the best of every share; the others are done */
        lm_match *mm;
        lm_dist_occ *mo;
        size_t n_out, ranked_total;
        for (size_t i = 0; i < shown; i++) m[i].doc = r->orig[m[i].doc];
        if (lm_dist_merge_matches(m, occ, shown, ranked, r->top < 0 ? 0 : (size_t)r->top, &mm, &mo, &n_out,
                                  &ranked_total) != 0)
            rc = (lm_cli_fail_lib(), RUN_FAILED);
        if (occ)
            for (size_t i = 0; i < shown; i++) free(occ[i].occ);
        free(occ);
        free(m);
        m = mm, occ = mo, shown = n_out, ranked = ranked_total;
        if (r->rank != 0) shown = 0, quiet = 1;
    }
    if (rc == THEME_DONE && !quiet) {
        if (ranked == 0) {
            double longest = 0;
            for (size_t k = 0; k < r->db->n_docs; k++)
                if (r->db->docs[k].duration > longest) longest = r->db->docs[k].duration;
            char msg[320];
            snprintf(msg, sizeof msg,
                     "the theme (%.1f s) is too long to match in any recording (the longest is %.1f s, and "
                     "a match compresses the theme at most 2x); shorten it with --duration or --tempo",
                     FRAME_SEC * (double)N, longest);
            theme_fail(r, theme_text, msg);
            rc = THEME_FAILED;
        } else if (ranked < n_all) {
            fprintf(stderr, "leitmotif: %s%s%s%zu recordings are too short for this theme (%.1f s) and are not ranked\n",
                    r->batch ? "theme '" : "", r->batch ? theme_text : "", r->batch ? "': " : "", n_all - ranked,
                    FRAME_SEC * (double)N);
        }
        if (rc == THEME_DONE) {
            if (r->json) {
                if (r->batch) printf("%s", *printed ? ",\n" : "");
                print_json(r->db, r->db_path, fp, r->db2_path, theme_text, r->sel, &qs, any, autod, (int)r->transpose,
                           m, shown, r->db->n_docs - ranked, occ, r->occ_margin);
            } else if (r->csv) {
                print_csv(r->db, theme_text, m, shown, &qs, any, autod, (int)r->transpose, occ);
            } else {
                if (r->batch) printf("%s# theme: %s\n", *printed ? "\n" : "", theme_text);
                print_text(r->db, m, shown, &qs, any, autod, (int)r->transpose, occ);
            }
            ++*printed;
            if (fflush(stdout) != 0) rc = (lm_cli_fail("cannot write the results"), RUN_FAILED);
        }
    }
    if (occ)
        for (size_t i = 0; i < shown; i++) free(occ[i].occ);
    free(occ);
    free(m);
    lm_qset_free(&qs);
    return rc;
}

/* Appends a copy of theme text t to *list (n entries, cap allocated); -1 when out of memory. */
static int add_theme(char ***list, size_t *n, size_t *cap, const char *t) {
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        char **g = realloc(*list, nc * sizeof *g);
        if (!g) return -1;
        *list = g, *cap = nc;
    }
    if (!((*list)[*n] = strdup(t))) return -1;
    ++*n;
    return 0;
}

/* The themes of --themes-from FILE ('-': standard input): one per line, a note list or a file
 * path; blank lines and lines starting with '#' are skipped. Appends to *list (n, cap). */
static int read_theme_list(const char *path, char ***list, size_t *n, size_t *cap) {
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f) return lm_cli_fail("--themes-from %s: cannot open it", path);
    char *line = NULL;
    size_t line_cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &line_cap, f)) >= 0) {
        lineno++;
        if ((size_t)len != strlen(line)) {
            rc = lm_cli_fail("--themes-from %s: line %zu holds a NUL byte (not a text file?)", path, lineno);
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        char *t = line;
        while (*t == ' ' || *t == '\t') t++;
        if (!*t || *t == '#') continue;
        if (add_theme(list, n, cap, t) != 0) rc = lm_cli_fail("--themes-from %s: out of memory", path);
    }
    if (rc == 0 && ferror(f)) rc = lm_cli_fail("--themes-from %s: read error", path);
    free(line);
    if (f != stdin) fclose(f);
    return rc;
}

static void free_themes(char **themes, size_t n) {
    for (size_t t = 0; t < n; t++) free(themes[t]);
    free(themes);
}

int cmd_search(int argc, char **argv) {
    const char *db_path = NULL, *db2_path = NULL, *weight_arg = NULL, *occ_arg = NULL;
    char **themes = NULL; /* the themes in order: arguments and --themes-from lines (owned copies) */
    size_t n_themes = 0, cap_themes = 0;
    long top = 10, transpose = 0;
    double duration = 0, occ_margin = LM_OCC_MARGIN_DEFAULT;
    int json = 0, csv = 0, occurrences = 0, show_theme = 0, rc = 0, listed = 0;
    lm_variant_options vo = {0};
    lm_theme_select sel = {0};
    for (int i = 1; i < argc && rc == 0; i++) {
        int th = lm_cli_threads_option(argc, argv, &i), sel_rc;
        if (th < 0) rc = 1;
        if (th) continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            search_help(stdout);
            rc = -1;
        } else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--csv")) csv = 1;
        else if (!strcmp(argv[i], "--occurrences")) occurrences = 1;
        else if (!strcmp(argv[i], "--exhaustive")) vo.exhaustive = 1;
        else if (!strcmp(argv[i], "--print-theme")) show_theme = 1;
        else if (!strcmp(argv[i], "--context") && i + 1 < argc) {
            double w = 0;
            if (lm_cli_parse_double("--context", argv[++i], 0, 1, &w) != 0) rc = 2;
            vo.context_set = 1, vo.context_weight = (float)w;
        }
        else if (!strcmp(argv[i], "--occ-threshold") && i + 1 < argc) occ_arg = argv[++i];
        else if ((sel_rc = lm_cli_theme_select_option(argc, argv, &i, &sel)) != 0) {
            if (sel_rc < 0) rc = 1;
        } else if (!strcmp(argv[i], "--top") && i + 1 < argc) {
            if (lm_cli_parse_int("--top", argv[++i], 0, 100000000, &top) != 0) rc = 1;
        } else if (!strcmp(argv[i], "--duration") && i + 1 < argc) {
            const char *v = argv[++i];
            char *end;
            if (!strcmp(v, "auto")) {
                vo.duration_auto = 1, duration = 0;
            } else if ((duration = strtod(v, &end)), end == v || *end || !(duration >= 0.04 && duration <= 3600)) {
                lm_cli_fail("--duration: expected seconds in [0.04, 3600] or 'auto', got '%s'", v);
                rc = 2;
            } else {
                vo.duration_auto = 0;
            }
        } else if (!strcmp(argv[i], "--transpose") && i + 1 < argc) {
            const char *v = argv[++i];
            char *end;
            if (!strcmp(v, "any")) {
                vo.transpose_any = 1, transpose = 0;
            } else if ((transpose = strtol(v, &end, 10)), end == v || *end || transpose < -127 || transpose > 127) {
                lm_cli_fail("--transpose: expected semitones in [-127, 127] or 'any', got '%s'", v);
                rc = 2;
            } else {
                vo.transpose_any = 0;
            }
        } else if (!strcmp(argv[i], "--fuse") && i + 1 < argc) {
            db2_path = argv[++i];
        } else if (!strcmp(argv[i], "--fuse-weight") && i + 1 < argc) {
            weight_arg = argv[++i];
        } else if (!strcmp(argv[i], "--themes-from") && i + 1 < argc) {
            listed = 1;
            rc = read_theme_list(argv[++i], &themes, &n_themes, &cap_themes);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            rc = lm_cli_fail("search: unknown option or missing value: %s", argv[i]);
        } else if (!db_path) {
            db_path = argv[i];
        } else if (add_theme(&themes, &n_themes, &cap_themes, argv[i]) != 0) { /* a theme, in argument order */
            rc = lm_cli_fail("search: out of memory");
        }
    }
    if (rc == 0 && show_theme && db_path && n_themes == 0 && !listed) { /* DB may be left out */
        if (add_theme(&themes, &n_themes, &cap_themes, db_path) != 0) rc = lm_cli_fail("search: out of memory");
        db_path = NULL;
    }
    if (rc == 0 && ((!db_path && !show_theme) || n_themes == 0)) {
        if (listed) rc = lm_cli_fail("search: --themes-from gave no themes (one note list or file per line)");
        else search_help(stderr), rc = 2;
    }
    if (rc == 0 && show_theme && n_themes > 1) rc = lm_cli_fail("search: --print-theme takes one theme");
    if (rc == 0 && csv && (json || show_theme)) rc = lm_cli_fail("search: --csv goes with neither --json nor --print-theme");
    double weight = LM_FUSE_WEIGHT_DEFAULT;
    if (rc == 0 && weight_arg) {
        if (!db2_path) {
            lm_cli_fail("search: --fuse-weight needs --fuse DB2");
            rc = 2;
        } else if (lm_cli_parse_double("--fuse-weight", weight_arg, 0, 1, &weight) != 0) rc = 2;
    }
    if (rc == 0 && occ_arg) {
        if (!occurrences) {
            lm_cli_fail("search: --occ-threshold needs --occurrences");
            rc = 2;
        } else if (lm_cli_parse_double("--occ-threshold", occ_arg, 0, 1, &occ_margin) != 0) rc = 2;
    }
    if (rc == 0 && show_theme) { /* --print-theme: the notes as read, no database */
        lm_theme theme;
        int format;
        /* --tempo (sel.qpm): a note list's beats, a score file's quarter notes per minute (0: the file's tempo) */
        if (lm_theme_load_ex(themes[0], 0, &sel, &theme, &format) != 0) rc = lm_cli_fail_lib();
        else {
            rc = print_theme(&theme, themes[0], format, json);
            lm_theme_free(&theme);
        }
        rc = rc < 0 ? 0 : rc;
        free_themes(themes, n_themes);
        return rc;
    }
    if (rc != 0) {
        free_themes(themes, n_themes);
        return rc < 0 ? 0 : rc;
    }

    /* Under mpirun each process ranks its share of the recordings (lm_db_part), locates its best
     * matches and finds their occurrences; process 0 merges the shares and prints. */
    const int dist = lm_dist_size() > 1, rank = lm_dist_rank();
    if (dist && db2_path) {
        free_themes(themes, n_themes);
        if (rank == 0) lm_cli_fail("search: --fuse does not run under mpirun; run it in one process");
        lm_dist_fail_agreed();
        return 2;
    }
    lm_db db, db2;
    int opened = lm_db_open(db_path, &db) == 0;
    if (!opened) lm_cli_fail_lib();
    if (!lm_dist_all(opened)) {
        if (opened) lm_db_close(&db);
        free_themes(themes, n_themes);
        lm_dist_fail_agreed();
        return 1;
    }
    if (db2_path && lm_db_open(db2_path, &db2) != 0) {
        lm_db_close(&db);
        free_themes(themes, n_themes);
        return lm_cli_fail_lib();
    }
    lm_db part = {0};
    size_t *orig = NULL;
    const lm_db *sdb = &db; /* the recordings this process ranks */
    if (dist) {
        int ok = lm_db_part(&db, rank, lm_dist_size(), &part, &orig) == 0;
        if (!ok) lm_cli_fail_lib();
        if (!lm_dist_all(ok)) rc = 1;
        sdb = &part;
    }
    lm_fusion fusion = {0};
    if (rc == 0 && db2_path && db.n_docs && db2.n_docs) {
        if (lm_fusion_init(&fusion, &db, &db2, weight) != 0)
            rc = lm_cli_fail("%s and %s: %s", db_path, db2_path, lm_last_error());
        else
            lm_fusion_warn(&fusion, db_path, db2_path);
    }
    if (rc == 0 && (db.n_docs == 0 || (db2_path && db2.n_docs == 0)))
        rc = lm_cli_fail("%s: the database has no documents", db.n_docs ? db2_path : db_path);
    /* Every theme against the database opened once (its checksums verified once): a theme that
     * cannot be searched is named and skipped, the others go on. */
    search_run run = {&db, sdb, db_path, db2_path, db2_path ? &fusion : NULL, orig, dist, rank, json, csv, occurrences,
                      n_themes > 1 || listed, top, transpose, duration, occ_margin, &vo, &sel};
    size_t printed = 0, failed = 0;
    const int quiet = dist && rank != 0;
    if (rc == 0 && run.batch && json && !quiet) printf("[");
    if (rc == 0 && csv && !quiet) print_csv_header(vo.transpose_any, vo.duration_auto, occurrences);
    for (size_t t = 0; rc == 0 && t < n_themes; t++) {
        int r = search_theme(&run, themes[t], &printed);
        if (r == RUN_FAILED) rc = 1;
        failed += r == THEME_FAILED;
    }
    if (rc == 0 && run.batch && json && !quiet) {
        printf("%s]\n", printed ? "\n" : "");
        if (fflush(stdout) != 0) rc = lm_cli_fail("cannot write the results");
    }
    /* A single theme that failed: 1, as always; of several: 3 when some were searched (as `index`
     * does when it skips files), 1 when none was. */
    if (rc == 0 && failed) rc = failed == n_themes ? 1 : 3;
    free_themes(themes, n_themes);
    lm_fusion_free(&fusion);
    if (dist) lm_db_part_free(&part, orig);
    if (db2_path) lm_db_close(&db2);
    lm_db_close(&db);
    return rc;
}
