#!/usr/bin/env bash
# Search modes of issue 14 on fold 5: --transpose any (every key), --duration auto (any tempo),
# their pruning against the exhaustive search, and their cost; writes docs/results/search_modes.md.
# Usage: scripts/search_modes.sh DATA_DIR [STEP...]
#   steps (default: all): eval bench tables
#   eval    `leitmotif eval` runs on DATA/db/b_ctc_fold5.lmdb (the fold-5 rendered recordings and
#           the real ones, our default model; made by scripts/baselines.sh DATA index) with
#           DATA/fold5_default/annotations.csv: plain (and --exhaustive), every key, every query
#           shifted by a seeded random interval, every query at a seeded random 0.5-2x tempo,
#           both; the search modes pruned and exhaustive (--exhaustive) -> DATA/search_modes/*.json,
#           *_top.csv, *.time
#   bench   bench_sdtw's cost ratios (synthetic and on the fold-5 database) -> DATA/search_modes/bench.txt
#   tables  docs/results/search_modes.md
# Env: SEARCH_MODES_DB, SEARCH_MODES_OUT (another database and output folder: scripts/whole_corpus.sh),
# LM_CLI (default build/leitmotif), LM_BENCH_SDTW (default build/bench_sdtw; both built by
# scripts/setup.sh when missing), SEED (default 1), LEITMOTIF_THREADS.
# Every step skips what is already done.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -ge 1 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
data="$1"; shift
steps=("$@"); [ ${#steps[@]} -eq 0 ] && steps=(eval bench tables)
cli="${LM_CLI:-$here/build/leitmotif}"
bench="${LM_BENCH_SDTW:-$here/build/bench_sdtw}"
if [ ! -x "$cli" ] || [ ! -x "$bench" ]; then "$here/scripts/setup.sh" "$here/build" >&2; fi
db="${SEARCH_MODES_DB:-$data/db/b_ctc_fold5.lmdb}"
themes="$data/fold5_default/annotations.csv"
out="${SEARCH_MODES_OUT:-$data/search_modes}"
seed="${SEED:-1}"
mkdir -p "$out"
for f in "$db" "$themes"; do
  [ -e "$f" ] || { echo "search_modes: $f not found (scripts/baselines.sh DATA render index makes it)" >&2; exit 1; }
done

# run NAME ARGS...: one evaluation, its JSON, its 10 best recordings per query and its CPU time
run() {
  local name="$1"; shift
  [ -s "$out/$name.json" ] && return 0
  echo "search_modes: eval $name: $*" >&2
  /usr/bin/time -f "%U %S %e" -o "$out/$name.time" \
    "$cli" eval "$db" --themes "$themes" --json --top-ranks-out "$out/${name}_top.csv" "$@" >"$out/$name.json.tmp"
  mv "$out/$name.json.tmp" "$out/$name.json"
}

# A plain run costs about as much with or without the 10-best list; the search modes refine the
# 10 best of every query too (as `search` does), so their times include it.
for step in "${steps[@]}"; do
  case "$step" in
    eval)
      run plain
      run plain_exh --exhaustive
      run any --transpose any
      run any_exh --transpose any --exhaustive
      run shift_plain --random-transpose "$seed"
      run shift_any --random-transpose "$seed" --transpose any
      run shift_any_exh --random-transpose "$seed" --transpose any --exhaustive
      run score --queries-from score
      run score_exh --queries-from score --exhaustive
      run tempo_plain --queries-from score --random-tempo "$seed"
      run tempo_auto --queries-from score --random-tempo "$seed" --duration auto
      run tempo_auto_exh --queries-from score --random-tempo "$seed" --duration auto --exhaustive
      run auto --duration auto
      run both --random-transpose "$seed" --queries-from score --random-tempo "$seed" --transpose any --duration auto
      ;;
    bench)
      [ -s "$out/bench.txt" ] ||
        LM_BENCH_SDTW_DB="$db" LM_BENCH_SDTW_THEMES="$themes" "$bench" 3 >"$out/bench.txt"
      ;;
    tables)
      python3 - "$out" "$here/docs/results/search_modes.md" "$seed" <<'PY'
import csv, json, os, sys, time
out, md, seed = sys.argv[1], sys.argv[2], sys.argv[3]
PAGE = """# Search modes: any key, any tempo, every occurrence (issue 14)

`leitmotif search` and `eval` take `--transpose any` (the theme in all 12 keys; each hit says
the shift), `--duration auto` (the theme at 0.5, 0.71, 1, 1.41 and 2x its length, which with the
subsequence DTW's own 0.5-2x covers 0.25-4x of its written tempo) and `search --occurrences`
(every non-overlapping passage within a margin of a recording's best distance). This page
measures them on **fold 5 with the previous default model's database** (`b_ctc_fold5.lmdb`,
features of `leitmotif_ctc_train123valid4`, the default until December 5: the 348 rendered
fold-5 recordings and the 4 real recordings of `../shared/realaudio`; 751 themes). The shipped
default's results are in docs/results/whole_corpus.md ("Search modes", the whole-corpus database,
1929 recordings, where issue 14 sets its targets) and, for (a) on these fold-5 recordings beside
other features, in docs/results/transpose_gap.md; with 5.5 times as many recordings to compete
with, the whole corpus loses more to both modes than fold 5 does. Made by `scripts/search_modes.sh DATA` (seed @SEED@); the
tables of (a), (b), "Pruned against exhaustive" and "Cost" (the first one) were made on @MADE@, the
sections with other dates are earlier measurements.

## How the search modes prune

A query becomes a set of *variants* (12 shifts, 5 stretchings, or 60 for both). A recording's
distance is its best variant's. Running every variant exactly costs 12 (5.6) plain searches, so
the search filters and refines (`src/index/search.{h,c}`):

1. **Coarse pass.** Every variant runs over every recording at a quarter of the frame rate
   (6.25 Hz: the recording's frames averaged in blocks of 4, the query's blocks reduced to the
   pitch class that holds most of their frames, so that the query stays binary and the scan's
   fast path, one row of the recording per query frame, applies). A shift is a row permutation
   of the recording's chroma, so it costs nothing but its DTW; all variants of one recording run
   in one pass over its coarse features, which stay in cache (`lm_sdtw_scan_multi`). This is
   12/16 of a plain search for 12 shifts.
2. **Refinement, best first.** Recordings are visited in the order of their coarse bound (their
   best coarse distance minus `LM_COARSE_EPS` = 0.06: on fold 5, an exact distance fell more
   than 0.06 below the coarse one at 1e-4 of the ends with distances under 0.4). The best
   variant of the first recordings runs exactly over the whole recording; after that, a variant
   runs exactly only around the ends where its coarse matching function comes within 0.06 of the
   distance it has to beat, each range of ends with the 2 (N-1) frames before it that a path can
   reach back, which gives the same values bit for bit as the full scan there
   (`lm_sdtw_scan_range`). With `--duration auto` the stretchings next to the best one are
   also checked around its passage.
3. **Stop** when the next recording's coarse bound is above the 10th best exact distance (the
   K best that `search` shows; for `eval`, also the correct recording's distance, so that its
   rank is the exact search's).

The coarse distance is an estimate, not a bound, so the pruned search equals the exhaustive one
(`--exhaustive`) with high probability, not always: it is measured below. Short coarse queries
(under 32 frames) allow a larger margin, and queries under 96 frames are coarsened less.

`--duration auto` ranks by distance + 0.05 x log2(2 / stretching): without this penalty the
shortest stretching wins everywhere, because the DTW's (1,2) step skips a recording frame at no
cost and a short variant, matched with many of them, skips the frames that fit worst. The
weight 0.05 was chosen on fold 4 (the validation fold, its own database, queries at random
tempi): MRR 0.822 without, 0.846 / 0.886 / 0.862 with 0.02 / 0.05 / 0.08; on fold 5 it gives
0.952 without and 0.967 with 0.05.

Without `--duration`, `--tempo` or `--duration auto`, a theme is matched at its written tempo
(the MIDI file's tempo map; a note list at 120 beats per minute, or `--tempo`), and the DTW's
steps let the match be 0.5-2x as long as the theme: a performance more than twice as fast or
slow as written is missed or matched poorly. `--duration auto` removes that limit (0.25-4x).

## (a) Every key: random shifts undone by `--transpose any`

Every query shifted by a random -5..-1 or 1..6 semitones (drawn from the seed and its theme id),
against the plain search of the queries in their original key:

@TABLE_KEY@

The random shift is undone (the shift found is its inverse) for @RECOVERED@ queries whose
recording ranks first; the others match their own recording best at another shift, most of
them a fourth or a fifth away, where the theme returns in the dominant or subdominant.
The random-shift rows equal the original-key `--transpose any` rows: the search does not depend
on the key the theme is given in.
Searching in all 12 keys costs accuracy by itself, with or without pruning: against the plain
search in the original key, top-1 falls by @KEY_DTOP1@ and the MRR by @KEY_DMRR@, more than the
0.02 the issue asks for, because each wrong recording has 12 chances to hold a passage that fits
the theme. 12 of the 25 queries that fall from rank 1 are Monteverdi madrigals, whose short
recitation-like themes (repeated notes, steps) recur in other madrigals in other keys. Two
remedies tried did not help: a key prior (the correlation of the shifted theme's pitch classes
with the recording's global chroma, added with any weight, lowered the MRR) and rewarding
shifts that stand out from the recording's other shifts. Nor did a local key prior: the
correlation of the shifted theme's pitch-class durations with the mean chroma of the matched
passage (alone, or with 10 or 30 s around it), added as w (1 - r) / 2 to each shift's distance.
Chosen on fold 4 (its 226 `fold4_default` queries on `b_ctc_fold4.lmdb`, all 12 shifts exactly),
top-1 / MRR were 0.788 / 0.826 without it and 0.757-0.788 / 0.795-0.824 with w = 0.01-0.2 (the
global prior there: 0.748-0.792 / 0.789-0.827, its best, w = 0.05, one query better), so no
prior is in the code and fold 5 was not searched with one. Nor did a larger weight of the context
term in all keys (a recording's median distance to the theme at the same shift: low for the
key the recording is in). On fold 4 (its 783 themes against the shipped default's whole-corpus
database `w_choir.lmdb`, shifted with seed 1), `--context 0.25` gave all keys 0.862 / 0.884
(top-1 / MRR) against 0.869 / 0.890 with the default 0.12 (plain, default: 0.917 / 0.933).
Nor did sharper features (a softmax temperature, docs/results/sharpening.md: the shipped
model's output raised to the power g per value, frames l2-normalised again), though both searches
gain from them on these renders. On fold 4 against the whole corpus, with the model sharpened by
`scripts/sharpen_model.py` at g = 2 and the corpus indexed again (`WHOLE_MODELS="sharp2=ctc:MODEL"
WHOLE_FEATURES=sharp2 scripts/whole_corpus.sh DATA index`), top-1 was 0.921 plain and 0.883 in all
keys, a gap of -0.038 / -0.036 (top-1 / MRR) against -0.049 / -0.043; g = 1.5 / 3 / 4 (the stored
features transformed instead of indexed again, which at g = 2 moved 2 of the 783 all-keys ranks)
gave -0.049 / -0.036 / -0.037 top-1. On fold 5 at g = 2: 0.952 plain, 0.913 in all keys, a gap of
-0.039 / -0.029 against -0.041 / -0.031 (December 7, session 39). Sharpening is not shipped: it
ranks degraded recordings worse (sharpening.md).

### Other rankings of the 12 shifts (December 7)

`LEITMOTIF_LIBRARY=build/libleitmotif.so scripts/key_rankings.py DATA/db/b_ctc_fold5.lmdb DATA/fold5_default/annotations.csv OUT` scores
every fold-5 theme in all 12 shifts against every recording of the fold-5 database (exact, the
default context term; 25 minutes on 2 cores) and ranks the recordings in other ways. Each row
changes the plain ranking (shift 0) and the ranking in all keys alike, so the last column is what
the issue's (a) measures:

| ranking | plain (shift 0) | all keys | all keys - plain |
|---|---|---|---|
| raw distances (shipped) | 0.969 / 0.9755 | 0.936 / 0.9527 | -0.033 / -0.0228 |
| per recording, mu from plain, lam 0.25 | 0.967 / 0.9743 | 0.921 / 0.9428 | -0.045 / -0.0315 |
| per recording, mu from plain, lam 0.5 | 0.963 / 0.9714 | 0.893 / 0.9205 | -0.069 / -0.0509 |
| per recording, mu from plain, lam 1.0 | 0.917 / 0.9425 | 0.730 / 0.8024 | -0.188 / -0.1401 |
| per recording, mu from all keys, lam 0.25 | 0.971 / 0.9763 | 0.931 / 0.9499 | -0.040 / -0.0265 |
| per recording, mu from all keys, lam 0.5 | 0.971 / 0.9766 | 0.931 / 0.9501 | -0.040 / -0.0265 |
| per recording, mu from all keys, lam 1.0 | 0.964 / 0.9739 | 0.907 / 0.9356 | -0.057 / -0.0384 |
| per query and shift, its mean, lam 0.25 | 0.969 / 0.9755 | 0.933 / 0.9494 | -0.036 / -0.0260 |
| per query and shift, its mean, lam 0.5 | 0.969 / 0.9755 | 0.917 / 0.9382 | -0.052 / -0.0372 |
| per query and shift, its mean, lam 1.0 | 0.969 / 0.9755 | 0.816 / 0.8696 | -0.153 / -0.1059 |
| per query and shift, its 5th percentile, lam 0.25 | 0.969 / 0.9755 | 0.932 / 0.9496 | -0.037 / -0.0259 |
| per query and shift, its 5th percentile, lam 0.5 | 0.969 / 0.9755 | 0.925 / 0.9452 | -0.044 / -0.0302 |
| per query and shift, its 5th percentile, lam 1.0 | 0.969 / 0.9755 | 0.901 / 0.9269 | -0.068 / -0.0485 |
| per query and shift, z-scored | 0.969 / 0.9755 | 0.866 / 0.9022 | -0.104 / -0.0733 |
| second passage, w -0.1 | 0.972 / 0.9767 | 0.940 / 0.9547 | -0.032 / -0.0220 |
| second passage, w -0.05 | 0.971 / 0.9762 | 0.936 / 0.9522 | -0.035 / -0.0241 |
| second passage, w 0.05 | 0.968 / 0.9742 | 0.933 / 0.9502 | -0.035 / -0.0240 |
| second passage, w 0.1 | 0.965 / 0.9723 | 0.928 / 0.9466 | -0.037 / -0.0257 |
| second passage, w 0.2 | 0.956 / 0.9669 | 0.915 / 0.9352 | -0.041 / -0.0317 |

None closes the gap. Normalising a recording by its mean distance to the other pieces' themes
(cohort normalisation: it made the real choir rank far better in issue 12's experiments, and it
would counter "hub" recordings, which 12 keys give more chances) and normalising each shift by
its distances over the recordings widen it. Rewarding a recording whose best passage stands out
from its second (w = -0.1) helps both rankings by 0.003-0.004 top-1 and leaves the gap as it was;
on fold 4 (the validation fold, its 783 themes against the whole-corpus database, the 10 best and
the own recording rescored by a throwaway C program of the same rule) it made the plain search
0.004 worse and all keys 0.003 better (gap -0.042 / -0.040 against -0.049 / -0.043).

**Why (a) and the pruning target cannot both be met with these features.** The issue defines the
ranking (each recording by its best match over all 12 shifts) and asks that the pruned search rank
as the exhaustive one for at least 99.5 % of queries. The exhaustive 12-shift search itself falls
0.033 top-1 below the plain search here (0.041 on the whole corpus); a search that differs from it
on at most 0.5 % of the queries can gain at most 0.005 of that, so its top-1 stays at least 0.028
below, more than the 0.02 allowed. Only features under which the wrong recordings' best shifts
match worse (a better model) can narrow the gap itself; of the 25 themes that fall from rank 1,
their best wrong recording wins by 0.012 or less for 13, and the winning shifts are spread over
10 of the 11 intervals (no interval to penalise).

## (b) Any tempo: random tempi with `--duration auto`

Every query at a random 0.5-2x its written tempo (log-uniform, drawn from the seed and its theme
id; its duration is the score duration divided by the factor), against the plain search at the
annotated duration:

@TABLE_TEMPO@

## Pruned against exhaustive

@TABLE_EXACT@

The misses are wrong recordings ranked 5th-10th whose exact minimum the coarse pass had placed a
little too high. `tests/test_search_modes.c` checks pruned == exhaustive (ids, distances, ends,
shifts and stretchings of the best recordings, and one recording's rank) on 90 random databases
with planted themes.

## Cost

The tables give the CPU time of each evaluation against the plain one (two threads; with
`--top-ranks-out`, so the search modes refine the 10 best recordings of every query, as
`search` does). The plain evaluation prunes too (docs/search.md), so these ratios are larger
than the number of exact plain searches a mode would take. `bench/run sdtw` reports the search
itself (one thread, the 10 best recordings): time of the pruned search in a mode / time of a
plain search, the exhaustive plain scan for the figures without `_vs_candidates`, the pruned
plain search (the default) for those with it; `_db` on this page's database (every 25th theme),
the others on synthetic recordings:

| figure | value |
|---|---|
@BENCH@

Timings vary by some 20 % from run to run on a 2-core machine; the ratios of the same run's
timings are steadier than the times. Without `--top-ranks-out`, an evaluation refines only what
can rank at or above the correct recording. The sections below are earlier measurements, each
with its date and database.

Since the plain search itself runs the candidate pass (docs/search.md), the plain search a user
runs is cheaper than the exhaustive scan these ratios divide by. `bench/run sdtw` now prints both
(December 5, second session; the whole-corpus database `w_ctc.lmdb`, 1929 recordings, 77 h, as
the `_db` database; a training job shared the machine;
`LM_BENCH_SDTW_DB=DATA/db/w_ctc.lmdb LM_BENCH_SDTW_THEMES=DATA/fold5_default/annotations.csv build/bench_sdtw 2`):

| figure | against the exhaustive plain scan | against the candidate plain search (the default) |
|---|---:|---:|
| `sdtw_ti_cost_ratio` (synthetic) | 2.363x | 2.487x |
| `sdtw_auto_cost_ratio` (synthetic) | 1.548x | 2.053x |
| `sdtw_ti_cost_ratio_db` (whole corpus) | 1.342x | 2.773x |
| `sdtw_auto_cost_ratio_db` (whole corpus) | 1.397x | 2.887x |

So against the scan the issue's 2x was set for, both modes stay within 2x on the whole corpus;
against today's default plain search they cost 2.8-2.9x (not met). Their coarse pass runs 12
(or 5) variants at a quarter of the frame rate, 3/4 (or 5/16) of an exhaustive scan's cells,
while the plain search's coarse pass is 1/16; a coarser first level that chooses the shifts per
recording before the quarter-rate pass would be the next step.

Since the fourth session of December 5 a coarse query keeps at least 32 frames at 4x (themes, and
stretchings, under 128 frames are coarsened 2x; docs/search.md): the short stretchings of
`--duration auto` and short themes in every mode now cost more in the coarse pass. The figures on
this page were measured before that change and have not been remeasured.

Remeasured on December 6 (after the coarse-factor change, with stored coarse features,
docs/database.md, and the single-variant margin at 0.10, since set to 0.08, docs/search.md), the `_db` figures on
the fold-5 database `b_ctc_fold5.lmdb` (f32, coarse features stored; the whole-corpus database
was not on that machine), two fuzzers beside it at the lowest priority
(`LM_BENCH_SDTW_DB=DATA/db/b_ctc_fold5.lmdb LM_BENCH_SDTW_THEMES=DATA/fold5_default/annotations.csv build/bench_sdtw 2`):

| figure | against the exhaustive plain scan | against the candidate plain search (the default) |
|---|---:|---:|
| `sdtw_ti_cost_ratio` (synthetic) | 2.433x | 1.874x |
| `sdtw_auto_cost_ratio` (synthetic) | 3.169x | 2.406x |
| `sdtw_ti_cost_ratio_db` (fold 5) | 1.796x | 2.126x |
| `sdtw_auto_cost_ratio_db` (fold 5) | 1.833x | 2.170x |

Remeasured on December 6 (session 31; the build with the middle check, 16-bit coarse scans for
float databases and short themes at 4x, docs/search.md), as the `_db` database the
whole-corpus database of the shipped default (`w_choir.lmdb`, f32, 1929 recordings), nothing
else running (`LM_BENCH_SDTW_DB=DATA/db/w_choir.lmdb
LM_BENCH_SDTW_THEMES=DATA/fold5_default/annotations.csv build/bench_sdtw 2`, 17 s):

| figure | against the exhaustive plain scan | against the candidate plain search (the default) |
|---|---:|---:|
| `sdtw_ti_cost_ratio` (synthetic) | 1.743x | 1.907x |
| `sdtw_auto_cost_ratio` (synthetic) | 1.677x | 1.835x |
| `sdtw_ti_cost_ratio_db` (whole corpus) | 0.932x | 2.924x |
| `sdtw_auto_cost_ratio_db` (whole corpus) | 0.975x | 3.059x |

So on the synthetic recordings both modes now cost under 2x the default plain search; on the
whole corpus they cost less than the exhaustive plain scan but 2.9-3.1x the candidate plain
search, which got faster by as much (issue 14's 2x against today's default: not met there).
The whole-corpus evaluation (docs/results/whole_corpus.md) gives 5.3x and 4.0x for whole runs
of 751 queries with `--top-ranks-out`.

The synthetic database is built in memory, without stored coarse features, so its first pass
still coarsens per query; `--duration auto` costs more there than before the coarse-factor
change (1.548x -> 3.169x against the scan), because its short stretchings are now coarsened 2x.
Against today's default plain search both modes still cost more than 2x (2.1-2.4x; not met).

Remeasured on December 7 (session 34; an AMD EPYC, 2 cores, idle; `w_choir.lmdb` as in session
31), before and after each key got its own pre-filter bound in all keys (docs/search.md,
session 34; it runs on databases of 256 recordings or more in all keys):

| figure (against the candidate plain search) | before | after (two runs) |
|---|---:|---:|
| `sdtw_ti_cost_ratio_db_vs_candidates` (whole corpus) | 3.970x | 3.447x, 3.662x |
| `sdtw_auto_cost_ratio_db_vs_candidates` (whole corpus) | 3.423x | 3.330x, 3.438x |
| `sdtw_ti_cost_ratio_vs_candidates` (synthetic) | 2.082x | 2.139x, 2.150x |
| `sdtw_auto_cost_ratio_vs_candidates` (synthetic) | 2.077x | 2.095x, 2.029x |

(The synthetic database has 120 recordings: no pre-filter there, so its figures only vary.) Still
not 2x on the whole corpus: the 8x pass over all 12 keys costs as much as three 4x passes of one
key, and the plain search's whole first pass is one 4x pass.

Remeasured on December 7 (session 38; the same machine, idle; `w_choir.lmdb`, f32,
1929 recordings), and the whole-corpus evaluation of fold 5's 751 themes on one thread
(`leitmotif eval DATA/db/w_choir.lmdb --themes DATA/fold5_default/annotations.csv --json
--threads 1`, without `--top-ranks-out`, so pruned by the pre-filter's bounds, docs/search.md):

| figure | value |
|---|---:|
| `sdtw_ti_cost_ratio_db_vs_candidates` (whole corpus) | 3.748x |
| `sdtw_auto_cost_ratio_db_vs_candidates` (whole corpus) | 3.360x |
| `sdtw_ti_cost_ratio_db` / `sdtw_auto_cost_ratio_db` (against the exhaustive plain scan) | 0.855x / 0.766x |
| `sdtw_ti_cost_ratio_vs_candidates` / `sdtw_auto_cost_ratio_vs_candidates` (synthetic) | 2.202x / 2.119x |
| evaluation, plain: CPU s | 8.0 |
| evaluation, `--transpose any --random-transpose 1`: CPU s (ratio) | 57.5 (7.2x) |

Against the candidate search, the ratio is a little above session 34's (3.45-3.66x). Since the
coarse bytes are kept across searches (docs/search.md, session 38), every search of `bench_sdtw`'s
process after the first reads them, and the plain candidate search gains most from that: the same
benchmark then gave `sdtw_ti_cost_ratio_db_vs_candidates` 4.163x / 4.228x and
`sdtw_auto_cost_ratio_db_vs_candidates` 3.932x / 3.948x (two runs, idle), and 0.741x / 0.798x and
0.700x / 0.745x against the exhaustive plain scan: every mode faster, the ratio further from 2x.
In the evaluation, 61 % of the CPU of all keys is the 16-bit
scan's row loop (`perf`, every 5th theme): the 8x pre-filter pass over 12 keys of every
recording, which the pruning needs to know which keys can come within d*.

Three ways to make that pass cheaper were looked at on December 7; none is in the code:

- **Stopping a key's 8x scan early** once no path can come within the bound it needs (the rows
  left each add at most their chroma row's largest byte): the evaluation above took 55.2 s
  instead of 57.5 s, with the same JSON, byte for byte. A whole recording has a large byte in
  every pitch class somewhere, so the bound of the rows left is the perfect match's, and it only
  falls below the need in the last rows.
- **A bound for all 12 keys at once from block maxima** (a match spans at most 2N - 1 frames,
  so it lies in a window of such frames; the similarity is at most the sum over the theme's pitch
  classes of the window's largest chroma value in each, shifted: 144 products per window for
  all keys): only 8.3 % of the (theme, recording, key) triples of fold 5 got a bound above d*
  (windows of 2.25 N frames; the 8x pass: 90 %), and 0.5 % of the recordings all 12 keys. Over
  a window of two theme lengths, every pitch class of a key sounds loud at some point.
- A 16x pass before the 8x one: at 16x a typical theme has about 16 frames, whose margin
  (LM_PRE_EPS x sqrt(2) plus the self-loss) exceeds LM_PRE_EPS_MAX, so the pass would be off for
  most themes. Not built.

`sdtw_ti_cost_ratio` and `sdtw_auto_cost_ratio` are measured on 120 five-minute synthetic
recordings of music-like chroma (notes over chords of a key, textures differing per recording),
each query planted in three of them; the `_db` figures on the fold-5 database (every 25th
theme). The synthetic recordings are statistically alike, so that a theme matches all of them
about equally well and the coarse pass separates them less than real recordings: the harder case
for the pruning.

## Occurrences

`search --occurrences` lists under each recording every passage whose distance is at most its
best + M (`--occ-threshold M`, default 0.05), not overlapping, best first: iterative minimum
picking on the matching function (libfmp's method), where each end's start is known (one
start-tracking DTW pass, `lm_sdtw_starts`), so that an end is taken only when its whole passage
overlaps no passage taken before. A margin rather than a ratio: good matches lie near 0 (the
correct recordings of fold 5 have a median best distance of 0.05), where a ratio keeps only the
best. On fold 5, of the 169 themes that recur in the top voice of their score (the first 8
pitch classes found again in the skyline of the piece's MIDI), 70 % list a second passage with
the default margin, as do 13 % of the 245 themes that occur once in that sense. With
`--transpose any` the occurrences may be in other keys (a recapitulation brings the second
theme back in the tonic). `tests/cli_search_modes.sh` finds both the exposition and the
recapitulation of a synthesised theme (the second over a chord), best first, within a second of
their bounds, `tests/cli_occurrences_sonata.sh` those of the first theme of a rendered corpus
movement (Haydn, Op. 1 No. 6, I; the default model), within a second of where the renderer puts
them; `tests/test_search_modes.c` two planted occurrences (one faster), and one a fifth
up with `--transpose any`.
"""
def load(name):
    p = os.path.join(out, name + '.json')
    if not os.path.exists(p): return None
    d = json.load(open(p))
    t = open(os.path.join(out, name + '.time')).read().split()
    d['cpu'] = float(t[0]) + float(t[1])
    d['top'] = {r['theme_id']: [r['top%d' % k] for k in range(1, 11)]
                for r in csv.DictReader(open(os.path.join(out, name + '_top.csv')))}
    return d
runs = {n: load(n) for n in ['plain', 'any', 'any_exh', 'shift_plain', 'shift_any', 'shift_any_exh', 'score',
                             'tempo_plain', 'tempo_auto', 'tempo_auto_exh', 'auto', 'both']}
def row(label, name, base=None, cost='plain'):
    d = runs[name]
    if d is None: return '| %s | (not run) | | | | | |' % label
    a = d['average']
    delta = ''
    if base and runs[base]:
        b = runs[base]['average']
        delta = '%+.3f / %+.3f' % (round(a['top1'] - b['top1'], 3) + 0.0, round(a['mrr'] - b['mrr'], 3) + 0.0)
    c = '%.2fx' % (d['cpu'] / runs[cost]['cpu']) if runs[cost] else ''
    return '| %s | %d | %.3f | %.3f | %.3f | %s | %s |' % (label, a['queries'], a['top1'], a['top10'], a['mrr'], delta, c)
def same(p, e):
    if not runs[p] or not runs[e]: return '(not run) | |'
    rp, re_ = runs[p]['ranks'], runs[e]['ranks']
    tp, te = runs[p]['top'], runs[e]['top']
    n = len(re_)
    r = sum(rp[k] == re_[k] for k in re_)
    t = sum(tp[k] == te[k] for k in te)
    return '%d of %d (%.1f %%) | %d of %d (%.2f %%)' % (r, n, 100.0 * r / n, t, n, 100.0 * t / n)
def recovered(name):
    d = runs[name]
    if not d or 'query_details' not in d: return '(not run)'
    first = [k for k, r in d['ranks'].items() if r == 1]
    ok = sum(1 for k in first if (d['query_details'][k]['shift_applied'] + d['query_details'][k]['shift_found']) % 12 == 0)
    return '%d of the %d' % (ok, len(first))
def delta(name, key):
    if not runs[name] or not runs['plain']: return '(not run)'
    return '%.3f' % (runs['plain']['average'][key] - runs[name]['average'][key])
bench = {}
bp = os.path.join(out, 'bench.txt')
if os.path.exists(bp):
    for line in open(bp):
        p = line.split()
        if len(p) >= 2 and 'ratio' in p[0]: bench[p[0]] = p[1] + 'x'
H = ('| queries | n | top-1 | top-10 | MRR | against the reference (top-1 / MRR) | CPU time against plain |\n'
     '|---|---|---|---|---|---|---|')
made = os.path.join(out, 'plain.json')
fill = {
 'SEED': seed,
 'MADE': time.strftime('%Y-%m-%d', time.gmtime(os.path.getmtime(made))) if os.path.exists(made) else '(not run)',
 'TABLE_KEY': '\n'.join([H,
   row('original key, plain (reference)', 'plain'),
   row('original key, `--transpose any`', 'any', 'plain'),
   row('original key, `--transpose any --exhaustive`', 'any_exh', 'plain'),
   row('random shift, plain', 'shift_plain', 'plain'),
   row('**random shift, `--transpose any` (a)**', 'shift_any', 'plain'),
   row('random shift, `--transpose any --exhaustive`', 'shift_any_exh', 'plain')]),
 'TABLE_TEMPO': '\n'.join([H,
   row('annotated duration, plain (reference)', 'plain'),
   row('written (score) tempo, plain', 'score', 'plain'),
   row('random 0.5-2x tempo, plain', 'tempo_plain', 'plain'),
   row('**random tempo, `--duration auto` (b)**', 'tempo_auto', 'plain'),
   row('random tempo, `--duration auto --exhaustive`', 'tempo_auto_exh', 'plain'),
   row('annotated duration, `--duration auto`', 'auto', 'plain'),
   row('random shift and tempo, `--transpose any --duration auto`', 'both', 'plain')]),
 'TABLE_EXACT': ('| pruned run | reference | same rank of the correct recording | same 10 best recordings, in order |\n'
                 '|---|---|---|---|\n' + '\n'.join([
   '| original key, `--transpose any` | `--exhaustive` | %s |' % same('any', 'any_exh'),
   '| random shift, `--transpose any` | `--exhaustive` | %s |' % same('shift_any', 'shift_any_exh'),
   '| random tempo, `--duration auto` | `--exhaustive` | %s |' % same('tempo_auto', 'tempo_auto_exh')])),
 'RECOVERED': recovered('shift_any'),
 'KEY_DTOP1': delta('shift_any', 'top1'),
 'KEY_DMRR': delta('shift_any', 'mrr'),
 'BENCH': '\n'.join('| `%s` | %s |' % (k, v) for k, v in bench.items()) or '| (bench not run) | |',
}
for k, v in fill.items(): PAGE = PAGE.replace('@' + k + '@', v)
open(md, 'w').write(PAGE)
print('wrote', md)
PY
      ;;
    *) echo "search_modes: unknown step '$step' (eval bench tables)" >&2; exit 2 ;;
  esac
done
