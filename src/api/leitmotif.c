/* The public API (include/leitmotif.h): thin wrappers over the stages. */
#include "leitmotif.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "chroma/features.h"
#include "common/error.h"
#include "common/threads.h"
#include "index/db.h"
#include "index/search.h"
#include "nn/model.h"
#include "nn/conv_bf16.h"
#include "symbolic/score.h"
#include "symbolic/theme.h"

struct leitmotif_model {
    lm_model m;
};

struct leitmotif_db {
    lm_db db;
    float **dequantised; /* compact database: documents handed out as float, made when first asked */
};

const char *leitmotif_error(void) { return lm_last_error(); }

void leitmotif_set_threads(int n) { lm_threads_init(n); }

leitmotif_model *leitmotif_model_load(const char *path) {
    if (!path && !(path = lm_default_model_path())) return NULL;
    leitmotif_model *m = lm_malloc(1, sizeof *m);
    if (m && lm_model_load(path, &m->m) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void leitmotif_model_free(leitmotif_model *m) {
    if (!m) return;
    lm_model_free(&m->m);
    free(m);
}

/* Tuning compensation of leitmotif_chroma(_signal) and of new databases (leitmotif_set_tuning). */
static lm_tuning api_tuning = {LM_TUNING_AUTO, 0};

int leitmotif_set_tuning(const char *mode) { return lm_tuning_parse(mode, &api_tuning); }

int leitmotif_set_nn_precision(const char *precision) {
    enum lm_nn_precision p;
    if (!precision) {
        lm_set_error("no network precision given");
        return -1;
    }
    if (lm_nn_precision_parse(precision, &p) != 0) return -1;
    lm_nn_set_precision(p);
    return lm_nn_precision_effective() == LM_NN_BF16;
}

int leitmotif_chroma(const char *audio_path, const leitmotif_model *model, float **chroma, size_t *n_frames) {
    return lm_features_from_file_ex(audio_path, model ? LM_FEAT_CTC : LM_FEAT_STFT, model ? &model->m : NULL, NULL,
                                    &api_tuning, chroma, n_frames, NULL, NULL);
}

const char *leitmotif_db_tuning(const leitmotif_db *db) { return lm_tuning_name(&db->db.tuning); }

double leitmotif_db_doc_tuning(const leitmotif_db *db, size_t i) {
    return i < db->db.n_docs ? 100.0 * db->db.docs[i].tuning : 0;
}

leitmotif_db *leitmotif_db_open(const char *path) {
    leitmotif_db *d = lm_calloc(1, sizeof *d);
    if (d && lm_db_open(path, &d->db) != 0) {
        free(d);
        return NULL;
    }
    return d;
}

void leitmotif_db_close(leitmotif_db *d) {
    if (!d) return;
    for (size_t i = 0; d->dequantised && i < d->db.n_docs; i++) free(d->dequantised[i]);
    free(d->dequantised);
    lm_db_close(&d->db);
    free(d);
}

size_t leitmotif_db_size(const leitmotif_db *d) { return d->db.n_docs; }

struct leitmotif_theme {
    lm_theme t;
};

/* The library's selection from the public one, reading only the `size` bytes the caller has. */
static int selection_of(const leitmotif_theme_selection *in, lm_theme_select *out) {
    memset(out, 0, sizeof *out);
    if (!in) return 0;
    leitmotif_theme_selection s;
    memset(&s, 0, sizeof s);
    size_t n = in->size ? in->size : sizeof s;
    if (n < offsetof(leitmotif_theme_selection, part) + sizeof s.part) {
        lm_set_error("theme selection: size %zu is too small (set it to sizeof(leitmotif_theme_selection))", in->size);
        return -1;
    }
    memcpy(&s, in, n < sizeof s ? n : sizeof s);
    *out = (lm_theme_select){.part = s.part,
                             .measure_first = s.measure_first,
                             .measure_last = s.measure_last,
                             .track = s.track,
                             .voice = s.voice,
                             .qpm = s.tempo_qpm};
    return lm_theme_select_check(out);
}

leitmotif_theme *leitmotif_theme_load(const char *theme, const leitmotif_theme_selection *sel) {
    lm_theme_select ls;
    if (selection_of(sel, &ls) != 0) return NULL;
    leitmotif_theme *t = lm_malloc(1, sizeof *t);
    if (t && lm_theme_load_ex(theme, 0, &ls, &t->t, NULL) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

leitmotif_theme *leitmotif_theme_from_memory(const void *data, size_t size, const char *name,
                                             const leitmotif_theme_selection *sel) {
    lm_theme_select ls;
    if (selection_of(sel, &ls) != 0) return NULL;
    leitmotif_theme *t = lm_malloc(1, sizeof *t);
    if (t && lm_theme_parse_buffer(data, size, name, 0, &ls, &t->t, NULL) != 0) {
        if (name) lm_sym_prefix_error(name); /* as a file's errors name the file */
        free(t);
        return NULL;
    }
    return t;
}

void leitmotif_theme_free(leitmotif_theme *t) {
    if (!t) return;
    lm_theme_free(&t->t);
    free(t);
}

size_t leitmotif_theme_size(const leitmotif_theme *t) { return t ? t->t.n : 0; }

double leitmotif_theme_duration(const leitmotif_theme *t) { return t ? t->t.duration : 0; }

int leitmotif_theme_note(const leitmotif_theme *t, size_t i, double *onset_sec, double *duration_sec, int *pitch) {
    if (!t || i >= t->t.n) {
        lm_set_error("note %zu of a theme of %zu", i, t ? t->t.n : 0);
        return -1;
    }
    const lm_note *n = &t->t.notes[i];
    if (onset_sec) *onset_sec = n->onset;
    if (duration_sec) *duration_sec = n->duration;
    if (pitch) *pitch = n->pitch;
    return 0;
}

/* The theme's query variants for the options (one plain query without transpose_any and
 * duration_auto). */
static int query_set(const lm_theme *theme, const leitmotif_query_options *opt, lm_qset *qs) {
    leitmotif_query_options o = {0};
    if (opt) o = *opt;
    if (!theme) {
        lm_set_error("theme is missing");
        return -1;
    }
    if (o.context_set && !(o.context_weight >= 0.0 && o.context_weight <= 1.0)) {
        lm_set_error("context weight must be in [0, 1], got %g", o.context_weight);
        return -1;
    }
    lm_variant_options vo = {.transpose_any = o.transpose_any != 0, .duration_auto = o.duration_auto != 0,
                             .context_set = o.context_set != 0, .context_weight = (float)o.context_weight};
    return lm_qset_from_theme(qs, theme, o.duration_sec, o.transpose_any ? 0 : o.transpose, &vo);
}

/* A theme given as text (path or note list) at opt's tempo, for the functions that take one. */
static leitmotif_theme *theme_of_text(const char *theme_spec, const leitmotif_query_options *opt) {
    leitmotif_theme *t = lm_malloc(1, sizeof *t);
    if (t && lm_theme_load(theme_spec, opt ? opt->tempo_bpm : 0, &t->t, NULL) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

/* Ranks the recordings of d, or of a fusion (f != NULL) whose first database is d. */
static int search(const leitmotif_db *d, const lm_fusion *f, const lm_theme *theme, const leitmotif_query_options *opt,
                  leitmotif_hit *hits, size_t max_hits, size_t *n_hits) {
    *n_hits = 0;
    lm_qset qs;
    if (query_set(theme, opt, &qs) != 0) return -1;
    int fixed = opt && !opt->transpose_any ? opt->transpose : 0;
    const float *query = qs.q[0];
    size_t N = qs.N[0];
    size_t nd = f ? f->n : d->db.n_docs;
    lm_match *m = lm_malloc(nd ? nd : 1, sizeof *m);
    int rc = !m ? -1
             : !lm_qset_is_plain_scan(&qs) ? lm_search_qset(&d->db, f, &qs, NULL, max_hits ? max_hits : 1, -1, m, 1)
             : f        ? lm_search_fused(f, query, N, m, 1)
                        : lm_search_all(&d->db, query, N, m, 1);
    if (rc == 0) {
        if (lm_qset_is_plain_scan(&qs))
            for (size_t k = 0; k < nd; k++) m[k].variant = 0, m[k].approx = 0;
        lm_match_sort_top(m, nd, max_hits);
        size_t n = 0;
        while (n < nd && n < max_hits && isfinite(m[n].distance)) n++;
        if (!lm_qset_is_plain_scan(&qs)) lm_search_locate_qset(&d->db, f, &qs, m, n);
        else if (f) lm_search_locate_fused(f, query, N, m, n);
        else lm_search_locate(&d->db, query, N, m, n);
        for (size_t i = 0; i < n; i++)
            hits[i] = (leitmotif_hit){d->db.docs[m[i].doc].id, m[i].distance, 0.04 * (double)m[i].start,
                                      0.04 * (double)(m[i].end + 1), fixed + lm_qset_transpose(&qs, m[i].variant),
                                      lm_qset_stretch(&qs, m[i].variant)};
        *n_hits = n;
    }
    free(m);
    lm_qset_free(&qs);
    return rc;
}

int leitmotif_occurrences_theme(const leitmotif_db *d, const char *doc_id, const leitmotif_theme *theme,
                                const leitmotif_query_options *opt, double margin, leitmotif_occurrence **occ,
                                size_t *n_occ) {
    *occ = NULL;
    *n_occ = 0;
    if (margin < 0.0) margin = LM_OCC_MARGIN_DEFAULT;
    if (!(margin >= 0.0 && margin <= 1.0)) {
        lm_set_error("occurrence threshold must be in [0, 1] (a margin over the best distance), got %g", margin);
        return -1;
    }
    long k = doc_id ? lm_db_find(&d->db, doc_id) : -1;
    if (k < 0) {
        lm_set_error("no recording '%s' in the database", doc_id ? doc_id : "(null)");
        return -1;
    }
    if (lm_db_verify_doc(&d->db, (size_t)k) != 0) return -1; /* format 2: checksum on first read */
    lm_qset qs;
    if (query_set(theme ? &theme->t : NULL, opt, &qs) != 0) return -1;
    int fixed = opt && !opt->transpose_any ? opt->transpose : 0;
    const lm_db_doc *doc = &d->db.docs[k];
    float *own = NULL;
    const float *x = lm_db_doc_features(doc, &own);
    lm_doc_view dv;
    lm_doc_view_init(&dv, x, doc->T);
    lm_match best;
    lm_occurrence *o = NULL;
    size_t n = 0;
    int rc = x ? lm_qset_refine(&qs, &dv, INFINITY, NULL, &best) : -1;
    lm_doc_view_free(&dv);
    if (rc == 0) rc = lm_occurrences(&qs, x, doc->T, &best, margin, &o, &n);
    free(own);
    leitmotif_occurrence *out = rc == 0 ? lm_malloc(n ? n : 1, sizeof *out) : NULL;
    if (rc == 0 && !out) rc = -1;
    for (size_t i = 0; rc == 0 && i < n; i++)
        out[i] = (leitmotif_occurrence){o[i].distance, 0.04 * (double)o[i].start, 0.04 * (double)(o[i].end + 1),
                                        fixed + lm_qset_transpose(&qs, o[i].variant)};
    free(o);
    lm_qset_free(&qs);
    if (rc != 0) {
        free(out);
        return -1;
    }
    *occ = out;
    *n_occ = n;
    return 0;
}

int leitmotif_occurrences(const leitmotif_db *d, const char *doc_id, const char *theme_spec,
                          const leitmotif_query_options *opt, double margin, leitmotif_occurrence **occ,
                          size_t *n_occ) {
    *occ = NULL;
    *n_occ = 0;
    leitmotif_theme *t = theme_of_text(theme_spec, opt);
    int rc = t ? leitmotif_occurrences_theme(d, doc_id, t, opt, margin, occ, n_occ) : -1;
    leitmotif_theme_free(t);
    return rc;
}

int leitmotif_search_theme(const leitmotif_db *d, const leitmotif_theme *theme, const leitmotif_query_options *opt,
                           leitmotif_hit *hits, size_t max_hits, size_t *n_hits) {
    return search(d, NULL, theme ? &theme->t : NULL, opt, hits, max_hits, n_hits);
}

int leitmotif_search_fused_theme(const leitmotif_db *d, const leitmotif_db *d2, double w,
                                 const leitmotif_theme *theme, const leitmotif_query_options *opt,
                                 leitmotif_hit *hits, size_t max_hits, size_t *n_hits) {
    *n_hits = 0;
    lm_fusion f;
    if (lm_fusion_init(&f, &d->db, &d2->db, w) != 0) return -1;
    int rc = search(d, &f, theme ? &theme->t : NULL, opt, hits, max_hits, n_hits);
    lm_fusion_free(&f);
    return rc;
}

int leitmotif_search(const leitmotif_db *d, const char *theme_spec, const leitmotif_query_options *opt,
                     leitmotif_hit *hits, size_t max_hits, size_t *n_hits) {
    *n_hits = 0;
    leitmotif_theme *t = theme_of_text(theme_spec, opt);
    int rc = t ? leitmotif_search_theme(d, t, opt, hits, max_hits, n_hits) : -1;
    leitmotif_theme_free(t);
    return rc;
}

int leitmotif_search_fused(const leitmotif_db *d, const leitmotif_db *d2, double w, const char *theme_spec,
                           const leitmotif_query_options *opt, leitmotif_hit *hits, size_t max_hits,
                           size_t *n_hits) {
    *n_hits = 0;
    leitmotif_theme *t = theme_of_text(theme_spec, opt);
    int rc = t ? leitmotif_search_fused_theme(d, d2, w, t, opt, hits, max_hits, n_hits) : -1;
    leitmotif_theme_free(t);
    return rc;
}

/* ---- Signals, HCQT, database building and evaluation (issue 17) ---- */
#include <stddef.h>
#include <string.h>

#include "audio/audio.h"
#include "common/fileio.h"
#include "eval/eval.h"
#include "hcqt/hcqt.h"
#include "index/indexer.h"

const char *leitmotif_default_model(void) { return lm_default_model_path(); }

/* Mono 22050 Hz copy of an interleaved signal, mixed down and resampled as lm_audio_load does. */
static float *signal_to_mono(const float *x, size_t n, int channels, int rate, size_t *n_out) {
    if (!x || n == 0 || channels < 1 || channels > 1024 || rate < 1 || rate > 1000000) {
        lm_set_error("signal: need at least one sample, 1-1024 channels and a sample rate of 1-1000000 Hz "
                     "(got %zu frames, %d channels, %d Hz)",
                     n, channels, rate);
        return NULL;
    }
    const size_t ch = (size_t)channels;
    float *mono = lm_malloc(n, sizeof *mono);
    if (!mono) return NULL;
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t c = 0; c < ch; c++) s += x[i * ch + c];
        mono[i] = (float)(s / (double)ch);
        if (!isfinite(mono[i])) {
            lm_set_error("signal: sample %zu is not a finite number", i);
            free(mono);
            return NULL;
        }
    }
    *n_out = n;
    if (rate != LM_SAMPLE_RATE) {
        float *r = lm_resample_to_22050(mono, n, rate, n_out);
        free(mono);
        mono = r;
    }
    if (mono && *n_out < LM_MIN_SAMPLES) {
        lm_set_error("signal: too short (%.4f s; need at least %.2f s)", (double)*n_out / LM_SAMPLE_RATE,
                     (double)LM_MIN_SAMPLES / LM_SAMPLE_RATE);
        free(mono);
        mono = NULL;
    }
    return mono;
}

int leitmotif_chroma_signal(const float *samples, size_t n_frames, int channels, int sample_rate,
                            const leitmotif_model *model, float **chroma, size_t *n_chroma_frames) {
    size_t n = 0;
    float *y = signal_to_mono(samples, n_frames, channels, sample_rate, &n);
    if (!y) return -1;
    int rc = lm_features_from_signal_ex(y, n, model ? LM_FEAT_CTC : LM_FEAT_STFT, model ? &model->m : NULL, NULL,
                                        &api_tuning, chroma, n_chroma_frames, NULL);
    free(y);
    return rc;
}

static int hcqt_of(const float *y, size_t n, float **out, size_t *T) {
    lm_hcqt h;
    if (lm_hcqt25(y, n, &h) != 0) return -1;
    *out = h.data;
    *T = h.n_frames;
    return 0;
}

int leitmotif_hcqt(const char *audio_path, float **hcqt, size_t *n_frames) {
    lm_audio a;
    if (lm_audio_load(audio_path, &a) != 0) return -1;
    int rc = hcqt_of(a.samples, a.n, hcqt, n_frames);
    lm_audio_free(&a);
    return rc;
}

int leitmotif_hcqt_signal(const float *samples, size_t n_frames, int channels, int sample_rate, float **hcqt,
                          size_t *n_hcqt_frames) {
    size_t n = 0;
    float *y = signal_to_mono(samples, n_frames, channels, sample_rate, &n);
    if (!y) return -1;
    int rc = hcqt_of(y, n, hcqt, n_hcqt_frames);
    free(y);
    return rc;
}

int leitmotif_db_add(const char *db_path, const char *const *paths, size_t n_paths, const char *features,
                     const char *model_path) {
    lm_index_options opt = {.type = LM_FEAT_CTC, .commit_interval = 0, .skip_id_clashes = 1};
    if (!db_path || (!paths && n_paths)) {
        lm_set_error("db_add: no database path or no inputs given");
        return -1;
    }
    if (features && lm_feature_parse(features, &opt.type) != 0) return -1;
    lm_db existing;
    int have_db = lm_file_exists(db_path);
    if (have_db && lm_db_open(db_path, &existing) != 0) return -1;
    if (have_db && !features) opt.type = existing.type;
    if (have_db) opt.tuning = existing.tuning; /* a database keeps its mode */
    else if (opt.type != LM_FEAT_STFT) opt.tuning = api_tuning;
    lm_feature_weights fw;
    int rc = lm_feature_weights_load(&fw, opt.type, model_path);
    opt.model = lm_feature_weights_chroma(&fw);
    opt.salience = lm_feature_weights_salience(&fw);
    char **files = NULL;
    size_t n_files = 0;
    lm_index_stats st = {0};
    if (rc == 0) rc = lm_index_collect((char *const *)paths, n_paths, &files, &n_files);
    if (rc == 0) rc = lm_index_update(db_path, have_db ? &existing : NULL, files, n_files, &opt, &st);
    if (rc == 0 && st.added == 0 && st.kept == 0 && st.failed + st.clashes > 0) {
        lm_set_error("%s: no file could be indexed (not changed)", db_path);
        rc = -1;
    }
    lm_index_free_paths(files, n_files);
    lm_feature_weights_free(&fw);
    if (have_db) lm_db_close(&existing);
    return rc == 0 ? (int)st.added : -1;
}

int leitmotif_db_doc(const leitmotif_db *d, size_t i, const char **doc_id, const float **chroma, size_t *n_frames,
                     double *duration_sec) {
    if (i >= d->db.n_docs) {
        lm_set_error("document %zu of a database of %zu", i, d->db.n_docs);
        return -1;
    }
    if (chroma && lm_db_verify_doc(&d->db, i) != 0) return -1; /* format 2: checksum on first read */
    const lm_db_doc *doc = &d->db.docs[i];
    if (chroma && !doc->chroma) { /* compact: a float copy that lives as long as the database */
        leitmotif_db *dm = (leitmotif_db *)d;
        if (!dm->dequantised && !(dm->dequantised = lm_calloc(d->db.n_docs, sizeof *dm->dequantised))) return -1;
        if (!dm->dequantised[i] && !lm_db_doc_features(doc, &dm->dequantised[i])) return -1;
    }
    if (doc_id) *doc_id = doc->id;
    if (chroma) *chroma = doc->chroma ? doc->chroma : d->dequantised[i];
    if (n_frames) *n_frames = doc->T;
    if (duration_sec) *duration_sec = doc->duration;
    return 0;
}

const char *leitmotif_db_features(const leitmotif_db *d) { return lm_feature_name(d->db.type); }

/* The results follow the themes table whose strings they point to. */
typedef struct {
    lm_eval_query *queries;
    size_t n;
    leitmotif_eval_query results[];
} eval_block;

int leitmotif_eval(const leitmotif_db *d, const char *themes_csv, int from_score, leitmotif_eval_query **results,
                   size_t *n) {
    leitmotif_eval_options o = LEITMOTIF_EVAL_OPTIONS_INIT;
    o.from_score = from_score;
    return leitmotif_eval_ex(d, themes_csv, &o, results, n);
}

/* The library's options from the public ones, reading only the `size` bytes the caller has. */
static int eval_options_of(const leitmotif_eval_options *in, lm_eval_options *out) {
    leitmotif_eval_options o = LEITMOTIF_EVAL_OPTIONS_INIT;
    if (in) {
        if (in->size < offsetof(leitmotif_eval_options, from_score) + sizeof o.from_score) {
            lm_set_error("eval options: size %zu is too small (set it to sizeof(leitmotif_eval_options))", in->size);
            return -1;
        }
        memset(&o, 0, sizeof o);
        memcpy(&o, in, in->size < sizeof o ? in->size : sizeof o);
    }
    if (o.context_set && !(o.context_weight >= 0.0 && o.context_weight <= 1.0)) {
        lm_set_error("context weight must be in [0, 1], got %g", o.context_weight);
        return -1;
    }
    /* no top lists (as `leitmotif eval` without --top-ranks-out): the pruned evaluation */
    *out = (lm_eval_options){.from_score = o.from_score != 0,
                             .variants = {.transpose_any = o.transpose_any != 0,
                                          .duration_auto = o.duration_auto != 0,
                                          .exhaustive = o.exhaustive != 0,
                                          .context_set = o.context_set != 0,
                                          .context_weight = (float)o.context_weight},
                             .random_transpose = o.random_transpose != 0,
                             .transpose_seed = o.transpose_seed,
                             .random_tempo = o.random_tempo != 0,
                             .tempo_seed = o.tempo_seed};
    return 0;
}

int leitmotif_eval_ex(const leitmotif_db *d, const char *themes_csv, const leitmotif_eval_options *o,
                      leitmotif_eval_query **results, size_t *n) {
    *results = NULL;
    *n = 0;
    lm_eval_options opt;
    if (eval_options_of(o, &opt) != 0) return -1;
    lm_eval_query *q = NULL;
    size_t nq = 0, skipped = 0;
    if (lm_eval_read_themes(themes_csv, &q, &nq) != 0) return -1;
    lm_eval_result *res = lm_malloc(nq ? nq : 1, sizeof *res);
    eval_block *b = lm_malloc(1, sizeof *b + nq * sizeof b->results[0]);
    int rc = res && b ? lm_eval_run(&d->db, q, nq, &opt, res, &skipped) : -1;
    if (rc == 0) {
        b->queries = q;
        b->n = nq;
        for (size_t i = 0; i < nq; i++)
            b->results[i] =
                (leitmotif_eval_query){q[i].theme_id, q[i].piece_id, q[i].fold, res[i].rank, res[i].distance};
        *results = b->results;
        *n = nq;
    } else {
        free(b);
        lm_eval_free_themes(q, nq);
    }
    free(res);
    return rc;
}

void leitmotif_eval_free(leitmotif_eval_query *results, size_t n) {
    (void)n;
    if (!results) return;
    eval_block *b = (eval_block *)((char *)results - offsetof(eval_block, results));
    lm_eval_free_themes(b->queries, b->n);
    free(b);
}

int leitmotif_search_arrays(const leitmotif_db *d, const char *theme, double duration_sec, double tempo_bpm,
                            int transpose, size_t max_hits, const char **doc_ids, float *distances,
                            double *start_sec, double *end_sec, size_t *n_hits) {
    leitmotif_query_options o;
    memset(&o, 0, sizeof o);
    o.duration_sec = duration_sec;
    o.tempo_bpm = tempo_bpm;
    o.transpose = transpose;
    *n_hits = 0;
    leitmotif_hit *hits = lm_malloc(max_hits ? max_hits : 1, sizeof *hits);
    int rc = hits ? leitmotif_search(d, theme, &o, hits, max_hits, n_hits) : -1;
    for (size_t i = 0; rc == 0 && i < *n_hits; i++) {
        if (doc_ids) doc_ids[i] = hits[i].doc_id;
        if (distances) distances[i] = hits[i].distance;
        if (start_sec) start_sec[i] = hits[i].start_sec;
        if (end_sec) end_sec[i] = hits[i].end_sec;
    }
    free(hits);
    return rc;
}
