#!/usr/bin/env bash
# Robustness evaluation (issue: deep chroma that holds up on real recordings).
# Usage: scripts/robustness.sh DATA_DIR [STEP...]
#   steps (default: all): render index eval realaudio tables
#   render    fold 5 with the corpus' default render (DATA/fold5_default) and with the held-out
#             timbre source (csound's sf_GMbank, never used in training) plus degradations
#             (20-35 dB noise, detune up to 50 cents, more reverb, tempo 0.75-1.35;
#             scripts/eval_configs/heldout_csound.json) in DATA/fold5_heldout
#   index     one database per feature type and render; the default-render databases also
#             hold the real recordings of ../shared/realaudio
#   eval      the fold-5 themes against each database, both query-duration settings
#   realaudio every real theme against the default-render database (fold 5 + the 4 real
#             recordings): the rank of its recording
#   tables    docs/results/robustness.md from the JSON files
# ROBUST_TUNINGS lists the tuning modes to evaluate each feature type with: "off" (databases
# DATA/db/NAME_RENDER.lmdb) and/or "auto" (tuning compensation, DATA/db/NAME_tuned_RENDER.lmdb,
# results named NAME_tuned); default "off auto"; stft is evaluated with off only (it tunes itself).
# ROBUST_MODELS lists "name=model.bin" pairs (default: the two fine-tuned models of
# scripts/train_robust.sh as committed in models/training, the previous default, the authors' v1
# and v2); stft is always evaluated. Every step skips what is already done.
# ROBUST_CONTEXT sets eval's --context W (default 0: the paper's ranking, as every table row was
# made before the context term existed; the search's own default is 0.12).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${LM_SHARED_DIR:-$here/../shared}"
[ $# -ge 1 ] || { sed -n '2,20p' "$0" >&2; exit 2; }
data="$1"; shift
steps=("$@"); [ ${#steps[@]} -eq 0 ] && steps=(render index eval realaudio tables)
models="${ROBUST_MODELS:-ft_ours=$here/models/training/leitmotif_ctc_finetuned_ours.bin ft_mf=$here/models/training/leitmotif_ctc_finetuned_mf.bin ft_v1=$here/models/training/leitmotif_ctc_finetuned_v1.bin wiseft=$here/models/training/leitmotif_ctc_wiseft_ours_0.5.bin prev=$here/models/training/leitmotif_ctc_train123valid4.bin v1=$shared/reference/models/v1_ctc_train345valid1.bin v2=$shared/reference/models/v2_ctc_train345valid1.bin}"
out="$here/docs/results"
mkdir -p "$data/bin" "$data/db" "$out"
# shellcheck source=lib/eval_cli.sh
. "$here/scripts/lib/eval_cli.sh"
tunings="${ROBUST_TUNINGS:-off auto}"
specs=("stft=")
for m in $models; do
  for t in $tunings; do
    case "$t" in off) specs+=("$m");; auto) specs+=("${m%%=*}_tuned=${m#*=}");; *) echo "robustness: bad tuning $t" >&2; exit 2;; esac
  done
done

for step in "${steps[@]}"; do
  echo "robustness: $step" >&2
  case "$step" in
    render)
      # the held-out timbre source (never used in training)
      dpkg -s csound-soundfont >/dev/null 2>&1 || {
        s=""; [ "$(id -u)" -ne 0 ] && s=sudo
        $s apt-get install -y -q csound-soundfont >&2; }
      [ -f "$data/fold5_default/annotations.csv" ] ||
        "$shared/corpus/render" --fold 5 --out "$data/fold5_default" --jobs 2
      [ -f "$data/fold5_heldout/annotations.csv" ] ||
        "$shared/corpus/render" --fold 5 --config "$here/scripts/eval_configs/heldout_csound.json" \
          --out "$data/fold5_heldout" --jobs 2
      # annotations.csv names query_midi relative to its folder
      for r in fold5_default fold5_heldout; do ln -sfn "$shared/corpus/themes" "$data/$r/themes"; done ;;
    index)
      for spec in "${specs[@]}"; do
        name="${spec%%=*}"; model="${spec#*=}"
        if [ "$name" = stft ]; then opt=(--features stft); else [ -f "$model" ] || { echo "robustness: no $model; $name skipped" >&2; continue; }; opt=(--model "$model"); fi
        case "$name" in stft) ;; *_tuned) opt+=(--tuning auto);; *) opt+=(--tuning off);; esac
        for r in default heldout; do
          db="$data/db/${name}_$r.lmdb"
          # done, and newer than the model (a replaced model is indexed again)
          [ -f "$db.done" ] && { [ -z "$model" ] || [ "$db.done" -nt "$model" ]; } && continue
          rm -rf "$db" "$db.done"  # a format-2 database is a directory
          extra=(); [ "$r" = default ] && [ -d "$shared/realaudio/audio" ] && extra=("$shared/realaudio/audio")
          "$cli" index "$db" "$data/fold5_$r/audio" "${extra[@]}" "${opt[@]}" && touch "$db.done"
        done
      done ;;
    eval)
      for spec in "${specs[@]}"; do
        name="${spec%%=*}"
        for r in default heldout; do
          db="$data/db/${name}_$r.lmdb"; [ -f "$db.done" ] || continue
          for q in annotation score; do
            f="$out/robustness_${name}_${r}_${q}.json"
            "$cli" eval "$db" --themes "$data/fold5_$r/annotations.csv" --queries-from "$q" --context "${ROBUST_CONTEXT:-0}" --json >"$f.tmp" && mv "$f.tmp" "$f"
          done
        done
      done ;;
    realaudio)
      [ -d "$shared/realaudio" ] || { echo "robustness: no $shared/realaudio; skipped" >&2; continue; }
      python3 "$here/scripts/realaudio_themes.py" "$shared/realaudio" "$data/realaudio_themes.csv"
      for spec in "${specs[@]}"; do
        name="${spec%%=*}"; db="$data/db/${name}_default.lmdb"; [ -f "$db.done" ] || continue
        for q in annotation score; do
          f="$out/robustness_realaudio_${name}_${q}.json"
          "$cli" eval "$db" --themes "$data/realaudio_themes.csv" --queries-from "$q" --context "${ROBUST_CONTEXT:-0}" --json >"$f.tmp" && mv "$f.tmp" "$f"
        done
      done ;;
    tables) python3 "$here/scripts/robustness_tables.py" "$out" >"$out/robustness.md.tmp" && mv "$out/robustness.md.tmp" "$out/robustness.md" ;;
    *) echo "robustness: unknown step '$step'" >&2; exit 2 ;;
  esac
done
