#!/usr/bin/env bash
# The paper's baselines, its oracle and our fusion (issue: Bittner and BG1 baselines, oracle,
# fusion): tables in the layout of Zalkow & Mueller's Tables 3b, 5 and 6.
# Usage: scripts/baselines.sh DATA_DIR [STEP...]
#   steps (default: all): render index weight eval realaudio tables
#   render    fold 5 with the corpus' default render (DATA/fold5_default, shared with
#             scripts/robustness.sh) and, to choose the fusion weight, the first 120 pieces of
#             fold 4 that have themes (DATA/fold4_default)
#   index     one database per feature: stft, bittner, bg1, our CTC (the shipped default), our
#             CCE, the authors' v1; the fold-5 databases also hold ../shared/realaudio's
#             recordings (none of their pieces is in fold 5, so no rendering of them competes)
#   weight    fusion weight W of each fused pair on fold 4 (grid 0.1..0.9, best MRR at the
#             annotated duration) -> DATA/fusion_weights.txt
#   eval      every feature, the oracle (bg1, CTC) and the fusions on fold 5, both query durations
#   realaudio the same for each theme of ../shared/realaudio
#   tables    docs/results/baselines.md
# Every step skips what is already done. Heavy data stays in DATA.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${LM_SHARED_DIR:-$here/../shared}"
[ $# -ge 1 ] || { sed -n '2,19p' "$0" >&2; exit 2; }
data="$1"; shift
steps=("$@"); [ ${#steps[@]} -eq 0 ] && steps=(render index weight eval realaudio tables)
out="$here/docs/results"
mkdir -p "$data/bin" "$data/db" "$out"
# shellcheck source=lib/eval_cli.sh
. "$here/scripts/lib/eval_cli.sh"
# name=features:model (model empty: the feature type's default or none)
feats=("stft=stft:" "bittner=bittner:$shared/reference/models/bittner_melody2.bin" "bg1=bg1:"
       "ctc=ctc:$here/models/training/leitmotif_ctc_train123valid4.bin" "cce=ctc:$here/models/training/leitmotif_cce_train123valid4.bin"
       "v1=ctc:$shared/reference/models/v1_ctc_train345valid1.bin")
# fused pairs: DB + DB2 (the fusion weight is DB2's share)
pairs=("ctc+bg1" "ctc+bittner" "ctc+v1")
weights_file="$data/fusion_weights.txt"
weight_of() { awk -v p="$1" '$1 == p { print $2 }' "$weights_file" 2>/dev/null; }

index_db() { # name features model db inputs...
  local name="$1" type="$2" model="$3" db="$4"; shift 4
  [ -f "$db.done" ] && return 0
  rm -rf "$db"  # a format-2 database is a directory
  local opt=(--features "$type"); [ -n "$model" ] && opt+=(--model "$model")
  # the documented tables were made without tuning compensation (scripts/robustness.sh has both)
  [ "$type" != stft ] && opt+=(--tuning off)
  echo "baselines: indexing $db" >&2
  "$cli" index "$db" "$@" "${opt[@]}" && touch "$db.done"
}

eval_json() { # out.json args...
  local f="$1"; shift
  [ -s "$f" ] && return 0
  "$cli" eval "$@" --json >"$f.tmp" && mv "$f.tmp" "$f"
}

for step in "${steps[@]}"; do
  echo "baselines: $step" >&2
  case "$step" in
    render)
      [ -f "$data/fold5_default/annotations.csv" ] ||
        "$shared/corpus/render" --fold 5 --out "$data/fold5_default" --jobs 2
      [ -f "$data/fold4_default/annotations.csv" ] ||
        "$shared/corpus/render" --fold 4 --only-with-themes --limit 120 --out "$data/fold4_default" --jobs 2
      for r in fold5_default fold4_default; do ln -sfn "$shared/corpus/themes" "$data/$r/themes"; done ;;
    index)
      for spec in "${feats[@]}"; do
        name="${spec%%=*}"; rest="${spec#*=}"; type="${rest%%:*}"; model="${rest#*:}"
        extra=(); [ -d "$shared/realaudio/audio" ] && extra=("$shared/realaudio/audio")
        index_db "$name" "$type" "$model" "$data/db/b_${name}_fold5.lmdb" "$data/fold5_default/audio" "${extra[@]}"
      done
      for spec in "${feats[@]}"; do
        name="${spec%%=*}"; rest="${spec#*=}"; type="${rest%%:*}"; model="${rest#*:}"
        case " ${pairs[*]} " in *"$name+"*|*"+$name "*) ;; *) continue ;; esac
        index_db "$name" "$type" "$model" "$data/db/b_${name}_fold4.lmdb" "$data/fold4_default/audio"
      done ;;
    weight)
      : >"$weights_file.tmp"
      for pair in "${pairs[@]}"; do
        a="${pair%+*}"; b="${pair#*+}"; best=""; best_mrr=-1
        for w in 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9; do
          f="$data/fold4_fuse_${a}_${b}_$w.json"
          eval_json "$f" "$data/db/b_${a}_fold4.lmdb" --fuse "$data/db/b_${b}_fold4.lmdb" --fuse-weight "$w" \
            --themes "$data/fold4_default/annotations.csv" --queries-from annotation
          mrr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["average"]["mrr"])' "$f")
          echo "baselines: fold 4 $pair W=$w MRR $mrr" >&2
          if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$mrr" "$best_mrr"; then
            best="$w"; best_mrr="$mrr"
          fi
        done
        echo "$pair $best $best_mrr" >>"$weights_file.tmp"
      done
      mv "$weights_file.tmp" "$weights_file"
      cp "$weights_file" "$out/baselines_fusion_weights.txt" ;;
    eval|realaudio)
      if [ "$step" = eval ]; then themes="$data/fold5_default/annotations.csv"; tag=fold5
      else
        [ -d "$shared/realaudio" ] || { echo "baselines: no $shared/realaudio; skipped" >&2; continue; }
        python3 "$here/scripts/realaudio_themes.py" "$shared/realaudio" "$data/realaudio_themes.csv"
        themes="$data/realaudio_themes.csv"; tag=realaudio
      fi
      for q in annotation score; do
        for spec in "${feats[@]}"; do
          name="${spec%%=*}"
          eval_json "$out/baselines_${tag}_${name}_$q.json" "$data/db/b_${name}_fold5.lmdb" --themes "$themes" --queries-from "$q"
        done
        eval_json "$out/baselines_${tag}_oracle_bg1_ctc_$q.json" "$data/db/b_bg1_fold5.lmdb" \
          --oracle "$data/db/b_ctc_fold5.lmdb" --themes "$themes" --queries-from "$q"
        for pair in "${pairs[@]}"; do
          a="${pair%+*}"; b="${pair#*+}"; w="$(weight_of "$pair")"
          [ -n "$w" ] || { echo "baselines: no fusion weight for $pair (run the weight step)" >&2; continue; }
          eval_json "$out/baselines_${tag}_fuse_${a}_${b}_$q.json" "$data/db/b_${a}_fold5.lmdb" \
            --fuse "$data/db/b_${b}_fold5.lmdb" --fuse-weight "$w" --themes "$themes" --queries-from "$q"
        done
      done ;;
    tables)
      python3 "$here/scripts/baselines_tables.py" "$out" >"$out/baselines.md.tmp" && mv "$out/baselines.md.tmp" "$out/baselines.md" ;;
    *) echo "baselines: unknown step '$step'" >&2; exit 2 ;;
  esac
done
