#include "web/api.h"

#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chroma/features.h"
#include "common/error.h"
#include "common/threads.h"
#include "eval/json.h"
#include "index/search.h"
#include "plot/figure.h"
#include "symbolic/theme.h"
#include "web/http.h"

#define FRAME_SEC 0.04

/* transpose=any, duration=auto and occurrences: the search's query variants (index/search.h),
 * when the library has them. */
#ifdef LM_AUTO_STRETCHES
#define LM_WEB_VARIANTS 1
#else
#define LM_WEB_VARIANTS 0
#endif

void lm_web_limits_default(lm_web_limits *l) {
    l->max_upload = 1 << 20;
    l->max_theme_sec = 60;
    l->max_notes = 2000;
    l->max_top = 1000;
    l->max_active = lm_threads();
    l->max_waiting = 256;
}

int lm_web_ctx_open(lm_web_ctx *ctx, const char *db_path, const lm_web_limits *limits) {
    memset(ctx, 0, sizeof *ctx);
    ctx->db_path = db_path;
    if (limits) ctx->limits = *limits;
    else lm_web_limits_default(&ctx->limits);
    if (ctx->limits.max_active < 1) ctx->limits.max_active = 1;
    if (lm_db_open(db_path, &ctx->db) != 0) return -1;
    pthread_mutex_init(&ctx->mu, NULL);
    pthread_cond_init(&ctx->cv, NULL);
    return 0;
}

void lm_web_ctx_close(lm_web_ctx *ctx) {
    pthread_cond_destroy(&ctx->cv);
    pthread_mutex_destroy(&ctx->mu);
    lm_db_close(&ctx->db);
}

int lm_web_known_param(enum lm_web_endpoint e, const char *name) {
    static const char *const theme_params[] = {"theme", "file",  "duration", "tempo", "transpose",
                                               "part",  "measures", "track", "voice"};
    for (size_t i = 0; i < sizeof theme_params / sizeof theme_params[0]; i++)
        if (!strcmp(name, theme_params[i])) return e != LM_WEB_INFO;
    if (!strcmp(name, "top") || !strcmp(name, "occurrences") || !strcmp(name, "occ_threshold"))
        return e == LM_WEB_SEARCH;
    if (!strcmp(name, "doc") || !strcmp(name, "format") || !strcmp(name, "scale") || !strcmp(name, "kind"))
        return e == LM_WEB_FIGURE;
    return 0;
}

/* ---- replies */

void lm_web_reply_free(lm_web_reply *r) {
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

/* A memory stream for a reply body. */
typedef struct {
    FILE *f;
    char *buf;
    size_t len;
} mstream;

static int ms_open(mstream *m) {
    m->buf = NULL;
    m->len = 0;
    m->f = open_memstream(&m->buf, &m->len);
    return m->f ? 0 : -1;
}

/* Closes the stream into the reply; 0, or -1 (out of memory: the reply is a bare 500). */
static int ms_reply(mstream *m, lm_web_reply *r, int status, const char *type) {
    int bad = ferror(m->f);
    if (fclose(m->f) != 0 || bad) {
        free(m->buf);
        r->status = 500;
        r->type = "text/plain; charset=utf-8";
        r->body = NULL;
        r->len = 0;
        return -1;
    }
    r->status = status;
    r->type = type;
    r->body = m->buf;
    r->len = m->len;
    return 0;
}

void lm_web_error(lm_web_reply *r, int status, const char *fmt, ...) {
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mstream m;
    if (ms_open(&m) != 0) {
        r->status = status;
        r->type = "text/plain; charset=utf-8";
        r->body = NULL;
        r->len = 0;
        return;
    }
    fputs("{\"error\": ", m.f);
    lm_json_string(m.f, msg);
    fputs("}\n", m.f);
    ms_reply(&m, r, status, "application/json; charset=utf-8");
}

#define JSON_TYPE "application/json; charset=utf-8"

/* ---- a computing slot: at most max_active searches or figures at once, max_waiting in line */

static int slot_acquire(lm_web_ctx *ctx) {
    pthread_mutex_lock(&ctx->mu);
    if (ctx->active >= ctx->limits.max_active && ctx->waiting >= ctx->limits.max_waiting) {
        pthread_mutex_unlock(&ctx->mu);
        return -1;
    }
    ctx->waiting++;
    while (ctx->active >= ctx->limits.max_active) pthread_cond_wait(&ctx->cv, &ctx->mu);
    ctx->waiting--;
    ctx->active++;
    /* Alone: all worker threads for this request; else one each (they run side by side). */
    int threads = ctx->active == 1 && ctx->waiting == 0 ? lm_threads() : 1;
    pthread_mutex_unlock(&ctx->mu);
    omp_set_num_threads(threads);
    return 0;
}

static void slot_release(lm_web_ctx *ctx) {
    pthread_mutex_lock(&ctx->mu);
    ctx->active--;
    pthread_cond_signal(&ctx->cv);
    pthread_mutex_unlock(&ctx->mu);
}

/* ---- the theme of a request */

typedef struct {
    lm_theme theme;
    double duration, tempo;
    int transpose;
    int any, autod; /* transpose=any, duration=auto */
    const char *label; /* note list or file name */
    int from_file;
    lm_theme_select sel; /* of a theme file */
} req_theme;

/* The uploaded theme file, read as lm_theme_load_ex reads a file, with the request's selection.
 * Told by content alone: bytes that are no theme file are a 415, whatever the upload's name. */
static int load_file_theme(const lm_web_params *p, const lm_theme_select *sel, req_theme *q, lm_web_reply *r) {
    if (p->file_len == 0) {
        lm_web_error(r, 400, "the uploaded theme file is empty");
        return -1;
    }
    int format = 0;
    if (lm_theme_parse_buffer(p->file, p->file_len, NULL, 0, sel, &q->theme, &format) == 0) return 0;
    static const char *const what[] = {"file", "MIDI file", "MusicXML file", "compressed MusicXML file", "**kern file"};
    const char *kind = format > 0 && format <= LM_THEME_KERN ? what[format] : what[0];
    if (!strncmp(lm_last_error(), "not a theme file", 16))
        lm_web_error(r, 415, "the uploaded file is not a theme: neither a Standard MIDI File, MusicXML nor **kern");
    else if (lm_theme_select_any(sel)) /* most likely the selection: the message names what there is */
        lm_web_error(r, 400, "the uploaded %s: %s", kind, lm_last_error());
    else
        lm_web_error(r, 400, "the uploaded %s cannot be read: %s", kind, lm_last_error());
    return -1;
}

/* Parses the theme and its options; on failure fills r (4xx) and returns -1. */
static int load_theme(lm_web_ctx *ctx, const lm_web_params *p, req_theme *q, lm_web_reply *r) {
    memset(q, 0, sizeof *q);
    const lm_web_limits *lim = &ctx->limits;
    /* The selection and tempo as the command line takes them (lm_theme_select_set). */
    lm_theme_select sel = {0};
    const struct {
        const char *name, *value;
    } sel_params[] = {{"part", p->part}, {"measures", p->measures}, {"track", p->track}, {"voice", p->voice},
                      {"tempo", p->tempo}};
    for (size_t i = 0; i < sizeof sel_params / sizeof sel_params[0]; i++) {
        if (!sel_params[i].value || !*sel_params[i].value) continue; /* an empty form field: not given */
        if (lm_theme_select_set(&sel, sel_params[i].name, sel_params[i].value) < 0) {
            lm_web_error(r, 400, "%s: %s", sel_params[i].name, lm_last_error());
            return -1;
        }
    }
    q->tempo = sel.qpm;
    q->sel = sel;
    if (p->duration && !strcmp(p->duration, "auto")) {
        if (!LM_WEB_VARIANTS) {
            lm_web_error(r, 400, "duration=auto (searching at any tempo) is not supported yet; give seconds");
            return -1;
        }
        q->autod = 1;
    } else if (p->duration && *p->duration &&
               lm_http_parse_double(p->duration, 0.04, lim->max_theme_sec, &q->duration) != 0) {
        lm_web_error(r, 400, "duration: expected seconds in [0.04, %g] or 'auto', got '%.40s'", lim->max_theme_sec,
                     p->duration);
        return -1;
    }
    if (p->transpose && *p->transpose) {
        long t;
        if (!strcmp(p->transpose, "any")) {
            if (!LM_WEB_VARIANTS) {
                lm_web_error(r, 400,
                             "transpose=any (searching in every key) is not supported yet; give a number of semitones");
                return -1;
            }
            q->any = 1;
        } else if (lm_http_parse_long(p->transpose, -127, 127, &t) != 0) {
            lm_web_error(r, 400, "transpose: expected semitones in [-127, 127] or 'any', got '%.40s'", p->transpose);
            return -1;
        } else {
            q->transpose = (int)t;
        }
    }
    if (p->has_file) {
        if (load_file_theme(p, &sel, q, r) != 0) return -1;
        q->from_file = 1;
        q->label = p->file_name && *p->file_name ? p->file_name : "upload";
    } else {
        const char *s = p->theme;
        while (s && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) s++;
        if (!s || !*s) {
            lm_web_error(r, 400, "no theme: type a note list such as \"G4 G4 G4 Eb4:4\" or upload a MIDI file");
            return -1;
        }
        /* Text is only ever a note list: never a path on this machine. */
        if (lm_notelist_parse_sel(p->theme, 0, &sel, &q->theme) != 0) {
            lm_web_error(r, 400, "%s", lm_last_error());
            return -1;
        }
        q->label = p->theme;
    }
    if (q->theme.n > lim->max_notes) {
        lm_web_error(r, 400, "the theme has %zu notes and rests; this server takes at most %zu", q->theme.n,
                     lim->max_notes);
        lm_theme_free(&q->theme);
        return -1;
    }
    double len = q->duration > 0 ? q->duration : q->theme.duration;
    if (!(len <= lim->max_theme_sec)) {
        lm_web_error(r, 400, "the theme lasts %.1f s; this server takes themes up to %g s (stretch it with duration)",
                     len, lim->max_theme_sec);
        lm_theme_free(&q->theme);
        return -1;
    }
    return 0;
}

/* The theme's binary chroma; NULL with r filled. */
static float *theme_chroma(const req_theme *q, size_t *N, lm_web_reply *r) {
    float *x = lm_theme_to_chroma(&q->theme, q->duration, q->transpose, N);
    if (!x) lm_web_error(r, 400, "%s", lm_last_error());
    return x;
}

/* ---- endpoints */

void lm_web_info(lm_web_ctx *ctx, lm_web_reply *r) {
    mstream m;
    if (ms_open(&m) != 0) {
        lm_web_error(r, 500, "out of memory");
        return;
    }
    const lm_web_limits *l = &ctx->limits;
    fputs("{\"database\": ", m.f);
    lm_json_string(m.f, ctx->db_path);
    fprintf(m.f, ", \"documents\": %zu, \"features\": ", ctx->db.n_docs);
    lm_json_string(m.f, lm_feature_name(ctx->db.type));
    fputs(", \"model\": ", m.f);
    lm_json_string(m.f, ctx->db.model_id);
    fprintf(m.f,
            ", \"transpose_any\": %s, \"duration_auto\": %s, \"occurrences\": %s, \"uploads\": [\"midi\", "
            "\"musicxml\", \"mxl\", \"kern\"], \"limits\": {\"max_upload\": %zu, \"max_theme_sec\": ",
            LM_WEB_VARIANTS ? "true" : "false", LM_WEB_VARIANTS ? "true" : "false", LM_WEB_VARIANTS ? "true" : "false",
            l->max_upload);
    lm_json_number(m.f, l->max_theme_sec);
    fprintf(m.f, ", \"max_notes\": %zu, \"max_top\": %ld}}\n", l->max_notes, l->max_top);
    ms_reply(&m, r, 200, JSON_TYPE);
}

void lm_web_theme(lm_web_ctx *ctx, const lm_web_params *p, lm_web_reply *r) {
    req_theme q;
    if (load_theme(ctx, p, &q, r) != 0) return;
    double len = q.duration > 0 ? q.duration : q.theme.duration;
    mstream m;
    if (ms_open(&m) != 0) {
        lm_theme_free(&q.theme);
        lm_web_error(r, 500, "out of memory");
        return;
    }
    fputs("{\"theme\": ", m.f);
    lm_json_string(m.f, q.label);
    fputs(", \"duration_sec\": ", m.f);
    lm_json_number(m.f, len);
    fprintf(m.f, ", \"frames\": %ld, \"transpose\": %d, \"notes\": [", lround(len / FRAME_SEC), q.transpose);
    /* Times as sounded in the search: stretched to the duration when one is given. */
    double f = q.duration > 0 && q.theme.duration > 0 ? q.duration / q.theme.duration : 1;
    for (size_t i = 0; i < q.theme.n; i++) {
        const lm_note *n = &q.theme.notes[i];
        fprintf(m.f, "%s{\"pitch\": %d, \"onset\": ", i ? ", " : "", n->pitch < 0 ? -1 : n->pitch + q.transpose);
        lm_json_number(m.f, n->onset * f);
        fputs(", \"duration\": ", m.f);
        lm_json_number(m.f, n->duration * f);
        fputs("}", m.f);
    }
    fputs("]}\n", m.f);
    lm_theme_free(&q.theme);
    ms_reply(&m, r, 200, JSON_TYPE);
}

#if LM_WEB_VARIANTS
typedef struct {
    lm_occurrence *occ;
    size_t n;
} occ_list;

/* The variant fields of a hit, as `leitmotif search --json` writes them. */
static void json_variant(FILE *f, const lm_qset *qs, int any, int autod, int fixed, unsigned v) {
    if (any) fprintf(f, ", \"transpose\": %d", fixed + lm_qset_transpose(qs, v));
    if (autod) {
        fputs(", \"stretch\": ", f);
        lm_json_number(f, lm_qset_stretch(qs, v));
        fputs(", \"theme_sec\": ", f);
        lm_json_number(f, FRAME_SEC * (double)qs->N[v / qs->n_shift]);
    }
}
#endif

/* "1", "true", "yes" / "0", "false", "no" / "" (given without a value: yes). */
static int parse_flag(const char *s, int *out) {
    if (!*s || !strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "yes")) *out = 1;
    else if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "no")) *out = 0;
    else return -1;
    return 0;
}

void lm_web_search(lm_web_ctx *ctx, const lm_web_params *p, lm_web_reply *r) {
    long top = 10;
    if (p->top && *p->top && lm_http_parse_long(p->top, 0, ctx->limits.max_top, &top) != 0) {
        lm_web_error(r, 400, "top: expected a number of results in [0, %ld] (0: all), got '%.40s'", ctx->limits.max_top,
                     p->top);
        return;
    }
    int occurrences = 0;
    double occ_ratio = LM_OCC_MARGIN_DEFAULT; /* a margin over the best distance, as in `search` */
    if (p->occurrences && parse_flag(p->occurrences, &occurrences) != 0) {
        lm_web_error(r, 400, "occurrences: expected 1 or 0, got '%.40s'", p->occurrences);
        return;
    }
    if (p->occ_threshold) {
        if (!occurrences) {
            lm_web_error(r, 400, "occ_threshold needs occurrences=1");
            return;
        }
        if (lm_http_parse_double(p->occ_threshold, 0, 1, &occ_ratio) != 0) {
            lm_web_error(r, 400, "occ_threshold: expected a margin in [0, 1], got '%.40s'", p->occ_threshold);
            return;
        }
    }
    if (occurrences && !LM_WEB_VARIANTS) {
        lm_web_error(r, 400, "occurrences (every passage of a recording) is not supported yet");
        return;
    }
    req_theme q;
    if (load_theme(ctx, p, &q, r) != 0) return;
    const lm_db *db = &ctx->db;
    if (db->n_docs == 0) {
        lm_theme_free(&q.theme);
        lm_web_error(r, 500, "the database has no documents");
        return;
    }
#if LM_WEB_VARIANTS
    lm_variant_options vo = {.transpose_any = q.any, .duration_auto = q.autod};
    lm_qset qs;
    if (lm_qset_from_theme(&qs, &q.theme, q.duration, q.transpose, &vo) != 0) {
        lm_theme_free(&q.theme);
        lm_web_error(r, 400, "%s", lm_last_error());
        return;
    }
    lm_theme_free(&q.theme);
    size_t N = qs.N[q.autod ? LM_AUTO_STRETCHES / 2 : 0]; /* the reference duration */
    occ_list *occ = NULL;
#else
    size_t N = 0;
    float *query = theme_chroma(&q, &N, r);
    lm_theme_free(&q.theme);
    if (!query) return;
#endif
    lm_match *mt = lm_calloc(db->n_docs, sizeof *mt);
    int rc = mt ? 0 : -1;
    if (rc == 0 && slot_acquire(ctx) != 0) {
        free(mt);
#if LM_WEB_VARIANTS
        lm_qset_free(&qs);
#else
        free(query);
#endif
        lm_web_error(r, 503, "the server is busy; try again in a moment");
        return;
    }
    size_t ranked = 0, shown = 0;
    if (rc == 0) {
#if LM_WEB_VARIANTS
        if (!lm_qset_is_plain_scan(&qs)) rc = lm_search_qset(db, NULL, &qs, NULL, top == 0 ? SIZE_MAX : (size_t)top, -1, mt, 1);
        else {
            rc = lm_search_all(db, qs.q[0], qs.N[0], mt, 1);
            for (size_t k = 0; k < db->n_docs; k++) mt[k].variant = 0, mt[k].approx = 0;
        }
#else
        rc = lm_search_all(db, query, N, mt, 1);
#endif
    }
    if (rc == 0) {
        lm_match_sort_top(mt, db->n_docs, top > 0 ? (size_t)top : 0); /* the shown ones in order */
        for (size_t k = 0; k < db->n_docs; k++) ranked += isfinite(mt[k].distance) != 0;
        shown = (top == 0 || (size_t)top > ranked) ? ranked : (size_t)top;
#if LM_WEB_VARIANTS
        if (!lm_qset_is_plain_scan(&qs)) lm_search_locate_qset(db, NULL, &qs, mt, shown);
        else lm_search_locate(db, qs.q[0], qs.N[0], mt, shown);
        if (occurrences && shown) {
            occ = lm_calloc(shown, sizeof *occ);
            for (size_t i = 0; occ && i < shown && rc == 0; i++) {
                const lm_db_doc *d = &db->docs[mt[i].doc];
                float *own = NULL; /* a compact recording's float copy */
                const float *x = lm_db_doc_features(d, &own);
                rc = x ? lm_occurrences(&qs, x, d->T, &mt[i], occ_ratio, &occ[i].occ, &occ[i].n) : -1;
                free(own);
            }
            if (!occ) rc = -1;
        }
#else
        lm_search_locate(db, query, N, mt, shown);
#endif
    }
    slot_release(ctx);
#if !LM_WEB_VARIANTS
    free(query);
#endif
    mstream m;
    if (rc != 0) lm_web_error(r, 500, "%s", lm_last_error());
    else if (ranked == 0) {
        double longest = 0;
        for (size_t k = 0; k < db->n_docs; k++)
            if (db->docs[k].duration > longest) longest = db->docs[k].duration;
        lm_web_error(r, 400,
                     "the theme (%.1f s) is too long to match in any recording (the longest is %.1f s, and a match "
                     "compresses the theme at most 2x); shorten it with duration or tempo",
                     FRAME_SEC * (double)N, longest);
    } else if (ms_open(&m) != 0) {
        lm_web_error(r, 500, "out of memory");
    } else {
        /* The JSON of `leitmotif search --json` (src/cli/cmd_search.c), field for field. */
        FILE *f = m.f;
        fputs("{\"database\": ", f);
        lm_json_string(f, ctx->db_path);
        fputs(", \"theme\": ", f);
        lm_json_string(f, q.label);
        lm_json_theme_selection(f, &q.sel);
        fprintf(f, ", \"theme_frames\": %zu, \"theme_sec\": ", N);
        lm_json_number(f, FRAME_SEC * (double)N);
        if (q.any) fputs(", \"transpose\": \"any\"", f);
        else fprintf(f, ", \"transpose\": %d", q.transpose);
        if (q.autod) fputs(", \"duration\": \"auto\"", f);
#if LM_WEB_VARIANTS
        if (occ) {
            fputs(", \"occurrence_margin\": ", f);
            lm_json_number(f, occ_ratio);
        }
#endif
        fprintf(f, ", \"documents\": %zu, \"unranked\": %zu, \"results\": [", db->n_docs, db->n_docs - ranked);
        for (size_t i = 0; i < shown; i++) {
            const lm_db_doc *d = &db->docs[mt[i].doc];
            fprintf(f, "%s\n  {\"rank\": %zu, \"id\": ", i ? "," : "", i + 1);
            lm_json_string(f, d->id);
            fputs(", \"path\": ", f);
            lm_json_string(f, d->path);
            fputs(", \"distance\": ", f);
            lm_json_number(f, mt[i].distance);
            fputs(", \"start_sec\": ", f);
            lm_json_number(f, FRAME_SEC * (double)mt[i].start);
            fputs(", \"end_sec\": ", f);
            lm_json_number(f, FRAME_SEC * (double)(mt[i].end + 1));
#if LM_WEB_VARIANTS
            json_variant(f, &qs, q.any, q.autod, q.transpose, mt[i].variant);
            if (occ) {
                fputs(", \"occurrences\": [", f);
                for (size_t j = 0; j < occ[i].n; j++) {
                    const lm_occurrence *o = &occ[i].occ[j];
                    fprintf(f, "%s{\"distance\": ", j ? ", " : "");
                    lm_json_number(f, o->distance);
                    fputs(", \"start_sec\": ", f);
                    lm_json_number(f, FRAME_SEC * (double)o->start);
                    fputs(", \"end_sec\": ", f);
                    lm_json_number(f, FRAME_SEC * (double)(o->end + 1));
                    json_variant(f, &qs, q.any, 0, q.transpose, o->variant);
                    fputs("}", f);
                }
                fputs("]", f);
            }
#endif
            fputs("}", f);
        }
        fprintf(f, "%s]}\n", shown ? "\n" : "");
        ms_reply(&m, r, 200, JSON_TYPE);
    }
#if LM_WEB_VARIANTS
    if (occ)
        for (size_t i = 0; i < shown; i++) free(occ[i].occ);
    free(occ);
    lm_qset_free(&qs);
#endif
    free(mt);
}

void lm_web_figure(lm_web_ctx *ctx, const lm_web_params *p, lm_web_reply *r) {
    if (!p->doc || !*p->doc) {
        lm_web_error(r, 400, "doc: which recording (a document id of the database)");
        return;
    }
    if (!lm_http_valid_doc_id(p->doc)) {
        lm_web_error(r, 400, "doc: not a document id");
        return;
    }
    long k = lm_db_find(&ctx->db, p->doc);
    if (k < 0) {
        lm_web_error(r, 404, "no recording with the id '%.200s' in the database", p->doc);
        return;
    }
    int svg = 1, full = 0;
    long scale = 1;
    if (p->format && *p->format) {
        if (!strcmp(p->format, "png")) svg = 0;
        else if (strcmp(p->format, "svg") != 0) {
            lm_web_error(r, 400, "format: expected svg or png, got '%.40s'", p->format);
            return;
        }
    }
    if (p->kind && *p->kind) {
        if (!strcmp(p->kind, "full")) full = 1;
        else if (strcmp(p->kind, "match") != 0) {
            lm_web_error(r, 400, "kind: expected match or full, got '%.40s'", p->kind);
            return;
        }
    }
    if (p->scale && *p->scale && lm_http_parse_long(p->scale, 1, 4, &scale) != 0) {
        lm_web_error(r, 400, "scale: expected 1 to 4, got '%.40s'", p->scale);
        return;
    }
    req_theme q;
    if (load_theme(ctx, p, &q, r) != 0) return;
    if (q.any || q.autod) {
        lm_theme_free(&q.theme);
        lm_web_error(r, 400, "a figure needs the hit's own key and duration: pass its transpose and theme_sec, "
                             "not 'any' or 'auto'");
        return;
    }
    size_t N = 0;
    float *query = theme_chroma(&q, &N, r);
    lm_theme_free(&q.theme);
    if (!query) return;
    const lm_db_doc *d = &ctx->db.docs[k];
    if (slot_acquire(ctx) != 0) {
        free(query);
        lm_web_error(r, 503, "the server is busy; try again in a moment");
        return;
    }
    lm_plot_match pm;
    lm_canvas *c = NULL;
    float *own = NULL; /* a compact recording's float copy */
    const float *x = lm_db_doc_features(d, &own);
    int rc = x ? lm_plot_match_compute(query, N, x, d->T, &pm) : -1;
    if (rc == 0) {
        char label[300];
        snprintf(label, sizeof label, "%.200s%s", q.label, q.transpose ? " (transposed" : "");
        if (q.transpose) snprintf(label + strlen(label), sizeof label - strlen(label), " %+d)", q.transpose);
        lm_plot_input in = {.query = query, .chroma = x, .match = &pm, .recording = d->id, .theme = label,
                            .features = lm_feature_name(ctx->db.type)};
        c = full ? lm_plot_figure_full(&in, (int)scale) : lm_plot_figure_match(&in, (int)scale);
        lm_plot_match_free(&pm);
    }
    slot_release(ctx);
    free(query);
    free(own);
    if (!c) {
        lm_web_error(r, 500, "%s", lm_last_error());
        return;
    }
    void *data = NULL;
    size_t n = 0;
    rc = svg ? lm_canvas_svg(c, (char **)&data, &n) : lm_canvas_png(c, (unsigned char **)&data, &n);
    lm_canvas_free(c);
    if (rc != 0) {
        lm_web_error(r, 500, "%s", lm_last_error());
        return;
    }
    r->status = 200;
    r->type = svg ? "image/svg+xml" : "image/png";
    r->body = data;
    r->len = n;
}
