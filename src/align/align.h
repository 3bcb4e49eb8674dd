/* Whole-piece score-to-audio synchronisation: DTW of a score's piano-roll chroma against a
 * recording's chroma (both 12 x T at 25 Hz, l2-normalised frames, cost = cosine distance).
 *
 * Memory: a 10-minute piece against a 10-minute recording is 15000 x 15000 cells, too many to
 * keep even one backtrack byte per cell. lm_align is multiscale (coarse-to-fine, as in FastDTW
 * and Müller's MrMsDTW): while N*M exceeds max_cells (default 4M), both sequences are averaged
 * down by a factor k (<= 8), the coarse problem is aligned recursively, and its path, projected
 * to the fine resolution and widened by `radius` frames on each side, is the band of a banded
 * DTW at the fine resolution. Memory is one backtrack byte per band cell (about
 * N x (k + 2 radius + slope) cells, e.g. 15000 x ~130 = 2 MB) plus O(M) accumulated costs.
 *
 * Excerpts: when the recording is much shorter than the score (or on request), the recording is
 * aligned as a subsequence of the score (free start and end in the score), by default with a
 * penalty on non-diagonal steps (see penalty below).
 *
 * Steps: (1,1),(1,0),(0,1) with weights 1,1,1 by default. Measured on the corpus' --small renders
 * (ctc features, 40 theme boundaries): median / 95th-percentile error 0.046 / 0.24 s, against
 * 0.085 / 0.42 s with the diagonal weighted 2, and 0.033 / 0.20 s but a 1.2-s outlier with
 * (1,1),(2,1),(1,2) (its slope limit of 2 cannot absorb a final chord's reverberation).
 *
 * Confidence: at the coarsest level (<= max_cells), the same DTW is repeated against 8 versions
 * of the row sequence with the same pitch content and key but no musical order (time-reversed;
 * 2-s blocks in 7 shuffled orders): confidence = 1 - cost / mean(null costs). On the corpus'
 * --small renders the right score gave 0.14-0.46 (ctc) / 0.20-0.62 (stft), the 90 wrong-piece
 * pairs -0.11..0.075 (ctc) / -0.09..0.11 (stft); `leitmotif align` warns below 0.12. */
#ifndef LM_ALIGN_ALIGN_H
#define LM_ALIGN_ALIGN_H
#include <stddef.h>

#include "symbolic/midi.h"

/* ---- the score: every note of every track of a Standard MIDI File ---- */

/* The notes and tempo map of symbolic/midi.h (onset, offset in seconds from tick 0, pitch,
 * velocity, ...; duration = latest offset; seg_* = the tempo map), with the notes sorted by
 * onset, then pitch. */
typedef lm_midi_note lm_score_note;
typedef lm_midi_notes lm_score;

/* Format 0/1 files; channel 10 (drums) is ignored; error if no pitched notes. */
int lm_score_read_midi(const char *path, lm_score *out);
int lm_score_parse_midi(const unsigned char *data, size_t n, lm_score *out);
void lm_score_free(lm_score *s);
/* Seconds at `qn` quarter notes from the start of the file (through the tempo map). */
double lm_score_qn_to_sec(const lm_score *s, double qn);

/* Piano-roll chroma, 12 x N (chroma-major) at 25 Hz, N = ceil(duration / 0.04) + 1: each note
 * adds exp(-(t - onset) / decay_sec) (decay_sec <= 0: no decay) times its overlap with the frame
 * to its pitch class; frames are l2-normalised (silent frames stay zero). */
float *lm_score_chroma(const lm_score *s, double decay_sec, size_t *n_frames);

/* ---- alignment ---- */

enum lm_align_mode { LM_ALIGN_AUTO = 0, LM_ALIGN_FULL = 1, LM_ALIGN_SUBSEQUENCE = 2 };
enum lm_align_steps {
    LM_STEPS_CLASSIC = 0,  /* (1,1),(1,0),(0,1), weights 1,1,1: the default (best measured) */
    LM_STEPS_SYMMETRIC = 1, /* (1,1),(1,0),(0,1), weights 2,1,1 (diagonal counts twice) */
    LM_STEPS_SLOPE = 2      /* (1,1),(2,1),(1,2), weights 1,1,1: slope between 1/2 and 2 */
};

typedef struct {
    enum lm_align_mode mode;
    enum lm_align_steps steps;
    size_t max_cells;    /* largest full DTW (0: 4,000,000) */
    size_t radius;       /* band half-width in frames around the projected coarse path (0: 25) */
    double excerpt_ratio; /* AUTO: subsequence when audio frames < ratio * score frames (0: 0.5) */
    int no_confidence;   /* skip the 8 null alignments */
    /* Added to the cost of every non-diagonal step. < 0 (the default with opt NULL): 0 for whole
     * pieces, 1.0 for excerpts, where a short recording gives too little evidence for a free warp:
     * with 0, the 4.4-s real piano excerpt of ../shared/realaudio found a cheaper warped match
     * elsewhere in the movement; with 1.0 its own bars (nearly rigid, at about the score tempo). */
    double penalty;
} lm_align_options;

typedef struct {
    size_t *score_frame, *audio_frame; /* the warping path, both non-decreasing */
    size_t len;
    double cost;       /* mean cosine distance along the path (0 = perfect) */
    double null_cost;  /* mean cost against the null versions (coarsest level); NAN when skipped */
    double coarse_cost; /* cost at the coarsest level (the one compared with null_cost) */
    double confidence; /* 1 - coarse_cost / null_cost; NAN when skipped */
    int subsequence;   /* the audio was aligned as an excerpt of the score */
    int levels;        /* 1 = a single full-resolution DTW */
    size_t band_cells; /* cells of the finest DTW */
} lm_align_result;

/* score: 12 x N, audio: 12 x M, chroma-major. opt may be NULL. */
int lm_align(const float *score, size_t N, const float *audio, size_t M, const lm_align_options *opt,
             lm_align_result *res);
void lm_align_result_free(lm_align_result *r);

/* Score time -> audio time through the path (audio frames averaged per score frame, linear
 * interpolation between frames, clamped at the ends of the aligned region). */
double lm_align_map(const lm_align_result *r, double score_sec);
/* Audio time of a note offset at score time end_sec (a theme's end). A held last note often
 * ends in a chord's reverberation, where chroma cannot place the offset; so the onset of the
 * latest note of `s` that ends at end_sec is mapped, and the note's score duration added at the
 * local tempo of the preceding (up to) 4 s of the path. */
double lm_align_map_end(const lm_align_result *r, const lm_score *s, double end_sec);

/* Core DTW of x (12 x N, rows) against y (12 x M, columns) inside a band: row i covers columns
 * [lo[i], hi[i]) (lo, hi non-decreasing; NULL: the full matrix). subsequence: free start and end
 * along y. Writes the path as (row, col) pairs (malloc'd) unless path_i is NULL; returns the mean
 * cost along the path in *cost (+INFINITY when no path fits the band). Exposed for tests. */
int lm_dtw_banded(const float *x, size_t N, const float *y, size_t M, const size_t *lo, const size_t *hi,
                  enum lm_align_steps steps, int subsequence, double *cost, size_t **path_i, size_t **path_j,
                  size_t *path_len);
#endif
