/* Figures of a theme matched against one recording, drawn on a canvas (canvas.h) and so written
 * as PNG or SVG: the web page's per-hit figure and `leitmotif plot`'s figure in the manner of
 * Figure 4 of Zalkow & Mueller (ISMIR 2020). Features are 12 x T chroma-major at 25 Hz. */
#ifndef LM_PLOT_FIGURE_H
#define LM_PLOT_FIGURE_H
#include <stddef.h>

#include "plot/canvas.h"

/* The match of a query (12 x N) in a recording's features (12 x T), as subsequence DTW finds it
 * (match/sdtw.h): the matching function over the whole recording (T values, +inf where no
 * path ends), the best match and its alignment path. */
typedef struct {
    size_t N, T;
    float *matching;
    float distance;    /* +inf when the query is too long for the recording */
    size_t start, end; /* matched recording frames, inclusive */
    size_t *path;      /* path_len (n, m) pairs from (0, start) to (N-1, end) */
    size_t path_len;
} lm_plot_match;

/* Fills m; 0, or -1 with the error set (empty input, out of memory). A query too long for the
 * recording is not an error: distance is +inf and there is no path. */
int lm_plot_match_compute(const float *query, size_t N, const float *chroma, size_t T, lm_plot_match *m);
void lm_plot_match_free(lm_plot_match *m);

typedef struct {
    const float *query;      /* 12 x N theme chroma */
    const float *chroma;     /* 12 x T recording features */
    const lm_plot_match *match;
    /* Optional (`leitmotif plot` only): one harmonic of the log HCQT, hcqt_bins x T row-major,
     * bins_per_octave per octave from C1 (32.7 Hz). NULL leaves that panel out. */
    const float *hcqt;
    size_t hcqt_T; /* its frames (may differ from T by a few) */
    int hcqt_bins, hcqt_bpo;
    const char *recording, *theme, *features; /* labels ("" or NULL: left out) */
} lm_plot_input;

/* Default sizes at scale 1 (every length, text included, is multiplied by scale, 1..8). */
#define LM_FIG_MATCH_WIDTH 720
#define LM_FIG_FULL_WIDTH 900
/* The web page's figure: the theme's chroma beside the matched passage's chroma, and the
 * matching function over the whole recording with the match marked. */
lm_canvas *lm_plot_figure_match(const lm_plot_input *in, int scale);
/* Like the paper's Figure 4: (a) HCQT (when given) and (b) chroma features of an excerpt around
 * the match (the whole recording up to 30 s), (c) the theme's chroma, (d) the cost matrix with
 * the alignment path, (e) the matching function over the whole recording. */
lm_canvas *lm_plot_figure_full(const lm_plot_input *in, int scale);
/* Height at scale 1 of the two figures (widths are the constants above). */
int lm_plot_figure_match_height(void);
int lm_plot_figure_full_height(int with_hcqt);
#endif
