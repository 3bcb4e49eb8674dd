#!/usr/bin/env bash
# Whole-corpus evaluation (issues 12, 13 and 14): fold 5's themes against a database of every
# corpus recording (1926 pieces, 76.8 h, default render) instead of fold 5's 348.
# Usage: scripts/whole_corpus.sh DATA_DIR [STEP...]
#   steps (default: all): render index eval realaudio modes tables
#   render    folds 1-4 with the corpus' default render into DATA/whole_default/foldN (fold 5 is
#             DATA/fold5_default, shared with scripts/robustness.sh and scripts/baselines.sh);
#             a fold is rendered into foldN.tmp and renamed when complete
#   index     one format-2 database per feature (DATA/db/w_NAME.lmdb), with tuning compensation
#             (`--tuning auto`, the shipped pipeline; stft tunes itself): every rendered recording
#             except the pieces that ../shared/realaudio has a real recording of (issue 12's
#             protocol: Beethoven op. 2 no. 2/I = beethoven_sonata02-1), plus the real recordings.
#             `index` skips recordings already in the database, so an interrupted run resumes.
#   eval      fold 5's themes, both query durations -> docs/results/whole_NAME_{annotation,score}.json
#   realaudio every theme of ../shared/realaudio -> docs/results/whole_realaudio_NAME_*.json
#   modes     issue 14's search modes on the shipped default's database (w_choir; scripts/search_modes.sh's
#             runs) -> DATA/whole_modes_choir/*.json
#   tables    docs/results/whole_corpus.md
# WHOLE_FEATURES: the databases to make and evaluate, in order (default: ctc choir stft v1 bg1 cce
# bittner; the slow ones last); WHOLE_MODELS="name=ctc:MODEL.bin ..." adds candidate models.
# WHOLE_RENDER=heldout does the same with the corpus rendered by issue 12's held-out timbre source
# and degradations (scripts/eval_configs/heldout_csound.json): renders in DATA/whole_heldout (fold
# 5: DATA/fold5_heldout, shared with scripts/robustness.sh), databases DATA/db/wh_NAME.lmdb (with
# the real recordings: they then compete with degraded renders instead of clean ones), results
# docs/results/whole_heldout_NAME_*.json and whole_heldout_realaudio_NAME_*.json; no modes step.
# Every step skips what is already done.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${LM_SHARED_DIR:-$here/../shared}"
[ $# -ge 1 ] || { sed -n '2,25p' "$0" >&2; exit 2; }
data="$1"; shift
steps=("$@"); [ ${#steps[@]} -eq 0 ] && steps=(render index eval realaudio modes tables)
out="$here/docs/results"
mkdir -p "$data/bin" "$data/db" "$out"
# shellcheck source=lib/eval_cli.sh
. "$here/scripts/lib/eval_cli.sh"
# name=features:model (model empty: the feature type's default)
all_feats=("ctc=ctc:$here/models/training/leitmotif_ctc_train123valid4.bin" "stft=stft:"
           "v1=ctc:$shared/reference/models/v1_ctc_train345valid1.bin" "bg1=bg1:"
           "cce=ctc:$here/models/training/leitmotif_cce_train123valid4.bin"
           "bittner=bittner:$shared/reference/models/bittner_melody2.bin"
           "choir=ctc:$here/models/training/leitmotif_ctc_finetuned_choir.bin")
# WHOLE_MODELS adds candidate models as "name=ctc:MODEL.bin ..." (name them in WHOLE_FEATURES too)
read -r -a extra_feats <<<"${WHOLE_MODELS:-}"
all_feats+=("${extra_feats[@]}")
read -r -a wanted <<<"${WHOLE_FEATURES:-ctc choir stft v1 bg1 cce bittner}"
# corpus pieces with a real recording in ../shared/realaudio: their renders stay out of the database
real_pieces=(beethoven_sonata02-1)
render="${WHOLE_RENDER:-default}"
case "$render" in
  default) render_opt=(); dbp=w_; outp=whole_ ;;
  heldout) render_opt=(--config "$here/scripts/eval_configs/heldout_csound.json"); dbp=wh_; outp=whole_heldout_ ;;
  *) echo "whole_corpus: WHOLE_RENDER must be default or heldout" >&2; exit 2 ;;
esac
fold_dirs() {
  for f in 1 2 3 4; do echo "$data/whole_$render/fold$f"; done
  echo "$data/fold5_$render"
}

for step in "${steps[@]}"; do
  echo "whole_corpus: $step" >&2
  case "$step" in
    render)
      [ -f "$data/fold5_$render/annotations.csv" ] ||
        "$shared/corpus/render" --fold 5 "${render_opt[@]}" --out "$data/fold5_$render" --jobs 2
      for f in 1 2 3 4; do
        dir="$data/whole_$render/fold$f"
        [ -f "$dir/annotations.csv" ] && continue
        rm -rf "$dir.tmp"
        "$shared/corpus/render" --fold "$f" "${render_opt[@]}" --out "$dir.tmp" --jobs 2
        mv "$dir.tmp" "$dir"
      done ;;
    index)
      files=()
      while read -r dir; do
        [ -f "$dir/annotations.csv" ] || { echo "whole_corpus: $dir not rendered (run the render step)" >&2; exit 1; }
        for a in "$dir"/audio/*.flac; do
          id="$(basename "$a" .flac)"
          case " ${real_pieces[*]} " in *" $id "*) continue ;; esac
          files+=("$a")
        done
      done < <(fold_dirs)
      [ -d "$shared/realaudio/audio" ] && files+=("$shared/realaudio/audio")
      for spec in "${all_feats[@]}"; do
        name="${spec%%=*}"; rest="${spec#*=}"; type="${rest%%:*}"; model="${rest#*:}"
        case " ${wanted[*]} " in *" $name "*) ;; *) continue ;; esac
        db="$data/db/$dbp$name.lmdb"
        [ -f "$db.done" ] && continue
        opt=(--features "$type" --format 2); [ -n "$model" ] && opt+=(--model "$model")
        [ "$type" != stft ] && opt+=(--tuning auto)
        echo "whole_corpus: indexing $db (${#files[@]} inputs)" >&2
        # exit 3: some files skipped (named on stderr); the database holds the rest
        rc=0; "$cli" index "$db" "${files[@]}" "${opt[@]}" || rc=$?
        [ "$rc" = 0 ] && touch "$db.done"
        [ "$rc" = 0 ] || { echo "whole_corpus: index of $db exited $rc" >&2; exit 1; }
      done ;;
    eval|realaudio)
      if [ "$step" = eval ]; then themes="$data/fold5_$render/annotations.csv"; tag=""
      else
        [ -d "$shared/realaudio" ] || { echo "whole_corpus: no $shared/realaudio; skipped" >&2; continue; }
        python3 "$here/scripts/realaudio_themes.py" "$shared/realaudio" "$data/realaudio_themes.csv"
        themes="$data/realaudio_themes.csv"; tag="realaudio_"
      fi
      for name in "${wanted[@]}"; do
        db="$data/db/$dbp$name.lmdb"; [ -f "$db.done" ] || continue
        for q in annotation score; do
          f="$out/${outp}${tag}${name}_$q.json"
          [ -s "$f" ] && [ "$f" -nt "$db.done" ] && continue
          "$cli" eval "$db" --themes "$themes" --queries-from "$q" --json >"$f.tmp" && mv "$f.tmp" "$f"
        done
      done
      # the paper's oracle (per query the better of bg1 and ctc) and our fusions, with the weights
      # scripts/baselines.sh chose on fold 4 (docs/results/baselines_fusion_weights.txt)
      combos=("oracle_bg1_ctc ${dbp}bg1 --oracle ${dbp}ctc")
      while read -r pair w _; do
        a="${pair%+*}"; b="${pair#*+}"
        combos+=("fuse_${a}_$b $dbp$a --fuse $dbp$b --fuse-weight $w")
      done <"$out/baselines_fusion_weights.txt"
      for c in "${combos[@]}"; do
        read -r name db1 flag db2 rest <<<"$c"
        [ -f "$data/db/$db1.lmdb.done" ] && [ -f "$data/db/$db2.lmdb.done" ] || continue
        for q in annotation score; do
          f="$out/${outp}${tag}${name}_$q.json"
          [ -s "$f" ] && continue
          # shellcheck disable=SC2086  # rest: the fusion weight option, or nothing
          "$cli" eval "$data/db/$db1.lmdb" "$flag" "$data/db/$db2.lmdb" $rest --themes "$themes" \
            --queries-from "$q" --json >"$f.tmp" && mv "$f.tmp" "$f"
        done
      done ;;
    modes)
      [ "$render" = default ] || { echo "whole_corpus: no modes step for WHOLE_RENDER=$render" >&2; continue; }
      db="$data/db/w_choir.lmdb"; [ -f "$db.done" ] || { echo "whole_corpus: no $db yet" >&2; continue; }
      LM_CLI="$cli" SEARCH_MODES_DB="$db" SEARCH_MODES_OUT="$data/whole_modes_choir" \
        "$here/scripts/search_modes.sh" "$data" eval ;;
    tables)
      python3 "$here/scripts/whole_corpus_tables.py" "$out" "$data/whole_modes_choir" >"$out/whole_corpus.md.tmp" &&
        mv "$out/whole_corpus.md.tmp" "$out/whole_corpus.md" ;;
    *) echo "whole_corpus: unknown step '$step'" >&2; exit 2 ;;
  esac
done
