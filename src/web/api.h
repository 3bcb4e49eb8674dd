/* The JSON API and figures of `leitmotif serve`, apart from HTTP: each call takes the request's
 * parameters as strings (from the query string or a form) plus an optional uploaded theme file
 * and fills a reply (status, media type, body). Replies to bad input are 4xx with a JSON body
 * {"error": "one-line message"}. Thread-safe: many requests may run at once on one context. */
#ifndef LM_WEB_API_H
#define LM_WEB_API_H
#include <pthread.h>
#include <stddef.h>

#include "index/db.h"

/* Limits of what one request may ask for (defaults in brackets). */
typedef struct {
    size_t max_upload;    /* bytes of a request body [1 MiB] */
    double max_theme_sec; /* theme length after stretching [60 s]: the search's cost grows with it */
    size_t max_notes;     /* notes and rests of a theme [2000] */
    long max_top;         /* results per search [1000] */
    int max_active;       /* searches and figures computed at once [worker threads] */
    int max_waiting;      /* more waiting than this: 503 [256] */
} lm_web_limits;

void lm_web_limits_default(lm_web_limits *l);

typedef struct {
    const char *db_path;
    lm_db db;
    lm_web_limits limits;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int active, waiting;
} lm_web_ctx;

/* Opens the database; 0 or -1 with the error set. */
int lm_web_ctx_open(lm_web_ctx *ctx, const char *db_path, const lm_web_limits *limits);
void lm_web_ctx_close(lm_web_ctx *ctx);

/* Request parameters; NULL = not given. */
typedef struct {
    const char *theme, *top, *duration, *tempo, *transpose, *doc, *format, *scale, *kind, *occurrences, *occ_threshold;
    const char *part, *measures, *track, *voice; /* the theme file's selection, as `search --part` ... */
    const unsigned char *file; /* uploaded theme file (has_file) */
    size_t file_len;
    const char *file_name; /* may be NULL */
    int has_file;
} lm_web_params;

enum lm_web_endpoint { LM_WEB_INFO, LM_WEB_THEME, LM_WEB_SEARCH, LM_WEB_FIGURE };
/* 1 if `name` is a parameter of that endpoint ("file" is the upload field). */
int lm_web_known_param(enum lm_web_endpoint e, const char *name);

typedef struct {
    int status;
    const char *type; /* media type */
    char *body;       /* malloc'd, len bytes */
    size_t len;
} lm_web_reply;

void lm_web_reply_free(lm_web_reply *r);
/* A JSON error reply. */
void lm_web_error(lm_web_reply *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* GET /api/info: the database (path, recordings, feature type) and the limits. */
void lm_web_info(lm_web_ctx *ctx, lm_web_reply *r);
/* /api/theme: the parsed theme (notes, duration, frames) for the page's live check and preview. */
void lm_web_theme(lm_web_ctx *ctx, const lm_web_params *p, lm_web_reply *r);
/* /api/search: the ranking, in the JSON of `leitmotif search --json`. */
void lm_web_search(lm_web_ctx *ctx, const lm_web_params *p, lm_web_reply *r);
/* /api/figure: SVG (format=svg, default) or PNG of the theme matched in recording `doc`
 * (kind=match: the page's figure, default; kind=full: the Figure-4 style one without HCQT). */
void lm_web_figure(lm_web_ctx *ctx, const lm_web_params *p, lm_web_reply *r);
#endif
