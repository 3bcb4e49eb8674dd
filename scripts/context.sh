#!/usr/bin/env bash
# The context term of the ranking (src/index/search.h, LM_CONTEXT_WEIGHT; `--context W`):
# choosing W on fold 4 and measuring it on fold 5, the real recordings and the search modes,
# on the whole-corpus databases of scripts/whole_corpus.sh. Writes docs/results/context.md.
# Usage: scripts/context.sh DATA_DIR [STEP...]
#   steps (default: all): fold4 fold5 heldout exact tables
#   fold4   fold 4's 783 themes (the validation fold), annotated duration, plain search, for each
#           W of CONTEXT_GRID, and in all keys (random shifts) for 0, 0.05, 0.1 and 0.15
#   fold5   fold 5's 751 themes (the test fold) and ../shared/realaudio's themes at W = 0 and the
#           default: both query durations, all keys (random shifts), random tempi with
#           --duration auto; the real themes also with the authors' v1 features
#   heldout fold 5 rendered with issue 12's held-out timbre source and degradations
#           (DATA/fold5_heldout, scripts/robustness.sh render) against its fold-5 database
#           (CONTEXT_DB_HELDOUT, default DATA/db/choir_tuned_heldout.lmdb, and CONTEXT_DB_HELDOUT_V1,
#           DATA/db/v1_tuned_heldout.lmdb: scripts/robustness.sh index with ROBUST_MODELS
#           choir=models/leitmotif_default.bin; used once its .done marker exists), annotated
#           duration, W = 0 and the default
#   exact   the default's candidate search against --exhaustive on fold 5 (plain, annotated
#           duration): ranks and 10 best recordings
#   tables  docs/results/context.md
# Env: CONTEXT_DB (default DATA/db/w_choir.lmdb, the shipped default's features),
# CONTEXT_DB_V1 (DATA/db/w_v1.lmdb), CONTEXT_GRID, LM_CLI (default build/leitmotif), SEED (1).
# Every run is skipped when its JSON exists (DATA/context/*.json).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -ge 1 ] || { sed -n '2,23p' "$0" >&2; exit 2; }
data="$1"; shift
steps=("$@"); [ ${#steps[@]} -eq 0 ] && steps=(fold4 fold5 heldout exact tables)
cli="${LM_CLI:-$here/build/leitmotif}"
[ -x "$cli" ] || "$here/scripts/setup.sh" "$here/build" >&2
db="${CONTEXT_DB:-$data/db/w_choir.lmdb}"
db_v1="${CONTEXT_DB_V1:-$data/db/w_v1.lmdb}"
db_ho="${CONTEXT_DB_HELDOUT:-$data/db/choir_tuned_heldout.lmdb}"
db_ho_v1="${CONTEXT_DB_HELDOUT_V1:-$data/db/v1_tuned_heldout.lmdb}"
grid="${CONTEXT_GRID:-0 0.05 0.08 0.1 0.12 0.15 0.2 0.3}"
seed="${SEED:-1}"
out="$data/context"
mkdir -p "$out"
for f in "$db" "$data/whole_default/fold4/annotations.csv" "$data/fold5_default/annotations.csv" \
         "$data/realaudio_themes.csv"; do
  [ -e "$f" ] || { echo "context: $f not found (scripts/whole_corpus.sh DATA render index realaudio)" >&2; exit 1; }
done
# fold 4's CSV names its MIDI files relative to the corpus, not to its folder
fold4="$out/fold4_themes.csv"
[ -s "$fold4" ] || python3 - "$data/whole_default/fold4/annotations.csv" "$here/../shared/corpus" "$fold4" <<'EOF'
import csv, os, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for r in rows:
    r["query_midi"] = os.path.abspath(os.path.join(sys.argv[2], r["query_midi"]))
with open(sys.argv[3] + ".tmp", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    w.writeheader()
    w.writerows(rows)
os.replace(sys.argv[3] + ".tmp", sys.argv[3])
EOF

# run NAME DB THEMES ARGS...: one evaluation (JSON, 10 best per query, CPU time)
run() {
  local name="$1" d="$2" themes="$3"; shift 3
  [ -s "$out/$name.json" ] && return 0
  echo "context: eval $name: $*" >&2
  /usr/bin/time -f "%U %S %e" -o "$out/$name.time" \
    "$cli" eval "$d" --themes "$themes" --json --threads 2 --top-ranks-out "$out/${name}_top.csv" "$@" \
    >"$out/$name.json.tmp"
  mv "$out/$name.json.tmp" "$out/$name.json"
}

default_w="$("$cli" search --help | sed -n 's/.*recording.s context in the ranking (default \([0-9.]*\)).*/\1/p')"
[ -n "$default_w" ] || { echo "context: could not read the default weight from search --help" >&2; exit 1; }
f5="$data/fold5_default/annotations.csv"
for step in "${steps[@]}"; do
  case "$step" in
    fold4)
      for w in $grid; do run "f4_w$w" "$db" "$fold4" --context "$w"; done
      for w in 0 0.05 0.1 0.15; do run "f4_any_w$w" "$db" "$fold4" --context "$w" --random-transpose "$seed" --transpose any; done
      ;;
    fold5)
      for w in 0 "$default_w"; do
        run "f5_w$w" "$db" "$f5" --context "$w"
        run "f5_score_w$w" "$db" "$f5" --context "$w" --queries-from score
        run "f5_any_w$w" "$db" "$f5" --context "$w" --random-transpose "$seed" --transpose any
        run "f5_auto_w$w" "$db" "$f5" --context "$w" --queries-from score --random-tempo "$seed" --duration auto
        run "real_w$w" "$db" "$data/realaudio_themes.csv" --context "$w"
        if [ -e "$db_v1" ]; then run "f5_v1_w$w" "$db_v1" "$f5" --context "$w"; fi
        if [ -e "$db_v1" ]; then run "real_v1_w$w" "$db_v1" "$data/realaudio_themes.csv" --context "$w"; fi
      done
      ;;
    heldout)
      for w in 0 "$default_w"; do
        if [ -e "$db_ho.done" ]; then run "ho_w$w" "$db_ho" "$data/fold5_heldout/annotations.csv" --context "$w"; fi
        if [ -e "$db_ho_v1.done" ]; then run "ho_v1_w$w" "$db_ho_v1" "$data/fold5_heldout/annotations.csv" --context "$w"; fi
      done
      ;;
    exact)
      run "f5_w${default_w}_exh" "$db" "$f5" --context "$default_w" --exhaustive
      ;;
    tables)
      python3 "$here/scripts/context_tables.py" "$out" "$default_w" "$grid" > "$here/docs/results/context.md.tmp"
      mv "$here/docs/results/context.md.tmp" "$here/docs/results/context.md"
      ;;
    *) echo "context: unknown step $step" >&2; exit 2 ;;
  esac
done
