#!/usr/bin/env bash
# How much searching in all 12 keys costs in accuracy, per kind of chroma features (issue 14's
# target (a)): fold 5's themes, each shifted by a seeded random interval and searched with
# `--transpose any`, against the plain search of the themes in their original key, on the fold-5
# databases of scripts/robustness.sh (one per feature type: the same 348 rendered recordings + the
# 4 real ones) and on whole-corpus databases (scripts/whole_corpus.sh): the shipped default's and
# the interpolated model's (WHOLE_MODELS="wisereal=ctc:MODEL", MODEL made by scripts/interpolate_models.py
# from the shipped model and models/training/leitmotif_ctc_finetuned_real.bin at 0.5).
# Usage: scripts/transpose_gap.sh DATA_DIR [STEP...]
#   steps (default: all): eval tables
#   eval    per database: plain and all keys (pruned) -> DATA/transpose_gap/NAME_{plain,any}.json;
#           all keys --exhaustive too for the databases named in TRANSPOSE_GAP_EXH (default: stft
#           prev choir; a few CPU minutes each on fold 5, 20 on the whole corpus, where
#           docs/results/whole_corpus.md has it) -> NAME_any_exh.json
#   tables  docs/results/transpose_gap.md
# Env: SEED (default 1), TRANSPOSE_GAP_EXH, TRANSPOSE_GAP_DBS ("NAME=DATABASE ..."; default: the
# databases below that exist in DATA/db), LEITMOTIF_THREADS. Every step skips what is already done.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -ge 1 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
data="$1"; shift
steps=("$@"); [ ${#steps[@]} -eq 0 ] && steps=(eval tables)
seed="${SEED:-1}"
themes="$data/fold5_default/annotations.csv"
out="$data/transpose_gap"
[ -e "$themes" ] || { echo "transpose_gap: $themes not found (scripts/robustness.sh DATA render makes it)" >&2; exit 1; }
# shellcheck source=lib/eval_cli.sh
. "$here/scripts/lib/eval_cli.sh"
mkdir -p "$out"
exh="${TRANSPOSE_GAP_EXH:-stft prev choir}"
dbs="${TRANSPOSE_GAP_DBS:-stft=stft_default v1=v1_tuned_default prev=b_ctc_fold5 choir=choir_tuned_default real=real_tuned_default union=union_tuned_default choir2=choir2_tuned_default wisereal=wisereal_tuned_default whole_choir=w_choir whole_wisereal=w_wisereal}"

for step in "${steps[@]}"; do
  case "$step" in
    eval)
      for spec in $dbs; do
        name="${spec%%=*}" db="${spec#*=}"
        case "$db" in /*) ;; *) db="$data/db/$db.lmdb";; esac
        if [ ! -e "$db" ]; then echo "transpose_gap: $db not found, skipped" >&2; continue; fi
        runs=(plain any); case " $exh " in *" $name "*) runs+=(any_exh);; esac
        for run in "${runs[@]}"; do
          f="$out/${name}_$run.json"
          [ -s "$f" ] && continue
          case "$run" in
            plain) opt=() ;;
            any) opt=(--random-transpose "$seed" --transpose any) ;;
            any_exh) opt=(--random-transpose "$seed" --transpose any --exhaustive) ;;
          esac
          echo "transpose_gap: $name $run" >&2
          "$cli" eval "$db" --themes "$themes" --json "${opt[@]}" >"$f.tmp"
          mv "$f.tmp" "$f"
        done
      done
      ;;
    tables)
      python3 "$here/scripts/transpose_gap_tables.py" "$out" "$here/docs/results/transpose_gap.md" "$seed" $dbs
      ;;
    *) echo "transpose_gap: unknown step $step" >&2; exit 2 ;;
  esac
done
