#!/usr/bin/env bash
# Choosing the output sharpening (softmax temperature) of the default model on the validation
# fold (fold 4), against recording-quality bias (docs/results/sharpening.md).
# Usage: scripts/sharpen_select.sh DATA_DIR [STEP...]   (steps, default: augment models index eval table)
#   augment  every fold-4 recording of DATA/fold4_default through `leitmotif augment` with
#            reverberation, equalisation, noise, compression and codec on for every file (no detune
#            and no mixing, so the theme annotations stay valid) -> DATA/fold4_aug/audio/*.wav
#   models   the default model sharpened with each GAMMA of SHARPEN_GAMMAS (default "1 2 3 4 6"),
#            scripts/sharpen_model.py -> DATA/sharpen/model_gG.bin
#   index    per GAMMA three databases of the 116 fold-4 recordings: clean (the default render),
#            mixA (even-numbered pieces clean, odd ones degraded) and mixB (the opposite)
#   eval     fold 4's themes against each (annotated duration; the degraded pieces' annotations are
#            the clean ones: augmentation keeps the timing) -> DATA/sharpen/eval_gG_DB.json
#   table    prints the table: MRR over the queries whose recording is degraded and over those whose
#            recording is clean, in the mixed databases, and on the clean database
#   test     (not for choosing: run after the choice) the model sharpened with SHARPEN_TEST_GAMMA
#            (default 3) on the test sets of scripts/robustness.sh: fold 5 default render + the real
#            recordings, fold 5 held-out timbre -> DATA/sharpen/test_{a,b,c}_QUERY.json, printed
# The selection steps use neither the held-out timbre source (csound), nor fold 5, nor ../shared/realaudio.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -ge 1 ] || { sed -n '2,20p' "$0" >&2; exit 2; }
data="$1"; shift
steps=("$@"); [ ${#steps[@]} -eq 0 ] && steps=(augment models index eval table)
read -r -a gammas <<<"${SHARPEN_GAMMAS:-1 2 3 4 6}"
out="$data/sharpen"
src="$data/fold4_default"
mkdir -p "$out"
# shellcheck source=lib/eval_cli.sh
. "$here/scripts/lib/eval_cli.sh"
[ -f "$src/annotations.csv" ] || { echo "sharpen_select: no $src (scripts/baselines.sh renders it)" >&2; exit 1; }
mapfile -t pieces < <(tail -n +2 "$src/recordings.csv" | cut -d, -f1)

for step in "${steps[@]}"; do
  echo "sharpen_select: $step" >&2
  case "$step" in
    augment)
      mkdir -p "$data/fold4_aug/audio"
      i=0
      for p in "${pieces[@]}"; do
        i=$((i + 1))
        o="$data/fold4_aug/audio/$p.wav"
        [ -s "$o" ] && continue
        "$cli" augment "$src/audio/$p.flac" "$o.tmp.wav" --seed "$i" \
          --augment none,reverb=1,eq=1,compress=0.5,noise=1,codec=0.5 >/dev/null
        mv "$o.tmp.wav" "$o"
      done ;;
    models)
      for g in "${gammas[@]}"; do
        [ -s "$out/model_g$g.bin" ] ||
          python3 "$here/scripts/sharpen_model.py" "$here/models/leitmotif_default.bin" "$out/model_g$g.bin" "$g" \
            "sharpen_select_g$g"
      done ;;
    index)
      for g in "${gammas[@]}"; do
        for db in clean mixA mixB; do
          d="$out/g${g}_$db.lmdb"
          [ -f "$d.done" ] && continue
          files=(); i=0
          for p in "${pieces[@]}"; do
            i=$((i + 1))
            deg=0
            case "$db" in mixA) [ $((i % 2)) = 1 ] && deg=1 ;; mixB) [ $((i % 2)) = 0 ] && deg=1 ;; esac
            if [ "$deg" = 1 ]; then files+=("$data/fold4_aug/audio/$p.wav"); else files+=("$src/audio/$p.flac"); fi
          done
          rm -rf "$d"
          "$cli" index "$d" "${files[@]}" --model "$out/model_g$g.bin" --tuning auto --format 2 && touch "$d.done"
        done
      done ;;
    eval)
      for g in "${gammas[@]}"; do
        for db in clean mixA mixB; do
          f="$out/eval_g${g}_$db.json"
          [ -s "$f" ] && [ "$f" -nt "$out/g${g}_$db.lmdb.done" ] && continue
          "$cli" eval "$out/g${g}_$db.lmdb" --themes "$src/annotations.csv" --queries-from annotation --json \
            >"$f.tmp" && mv "$f.tmp" "$f"
        done
      done ;;
    table)
      python3 - "$out" "$src" "${gammas[@]}" <<'EOF'
import csv, json, os, sys
out, src, gammas = sys.argv[1], sys.argv[2], sys.argv[3:]
order = [r["piece_id"] for r in csv.DictReader(open(os.path.join(src, "recordings.csv")))]
odd = {p for i, p in enumerate(order, 1) if i % 2 == 1}  # degraded in mixA
theme_piece = {r["theme_id"]: r["piece_id"] for r in csv.DictReader(open(os.path.join(src, "annotations.csv")))}
def mrr(ranks):
    return sum(1.0 / r for r in ranks) / len(ranks) if ranks else float("nan")
print("| gamma | mixed: degraded recording (MRR) | mixed: clean recording (MRR) | mixed: all | clean database (MRR) |")
print("|---:|---:|---:|---:|---:|")
for g in gammas:
    deg, cln, allr = [], [], []
    for db in ("mixA", "mixB"):
        j = json.load(open(os.path.join(out, "eval_g%s_%s.json" % (g, db))))
        for t, r in j["ranks"].items():
            piece = theme_piece[t]
            degraded = (piece in odd) == (db == "mixA")
            (deg if degraded else cln).append(r)
            allr.append(r)
    c = json.load(open(os.path.join(out, "eval_g%s_clean.json" % g)))["average"]["mrr"]
    print("| %s | %.4f (%d) | %.4f (%d) | %.4f | %.4f |" % (g, mrr(deg), len(deg), mrr(cln), len(cln), mrr(allr), c))
EOF
      ;;
    test)
      g="${SHARPEN_TEST_GAMMA:-3}"; m="$out/model_g$g.bin"
      [ -s "$m" ] || python3 "$here/scripts/sharpen_model.py" "$here/models/leitmotif_default.bin" "$m" "$g" "sharpen_select_g$g"
      for r in default heldout; do
        d="$data/db/sharp${g}_tuned_$r.lmdb"; [ -f "$d.done" ] && continue
        [ -f "$data/fold5_$r/annotations.csv" ] || { echo "sharpen_select: no $data/fold5_$r (scripts/robustness.sh render)" >&2; exit 1; }
        extra=(); [ "$r" = default ] && [ -d "$here/../shared/realaudio/audio" ] && extra=("$here/../shared/realaudio/audio")
        rm -rf "$d"
        "$cli" index "$d" "$data/fold5_$r/audio" "${extra[@]}" --model "$m" --tuning auto --format 2 && touch "$d.done"
      done
      python3 "$here/scripts/realaudio_themes.py" "$here/../shared/realaudio" "$data/realaudio_themes.csv"
      for q in annotation score; do
        for t in "a default fold5_default/annotations.csv" "b heldout fold5_heldout/annotations.csv" "c default realaudio_themes.csv"; do
          read -r set r themes <<<"$t"
          "$cli" eval "$data/db/sharp${g}_tuned_$r.lmdb" --themes "$data/$themes" --queries-from "$q" --json \
            >"$out/test_${set}_$q.json.tmp" && mv "$out/test_${set}_$q.json.tmp" "$out/test_${set}_$q.json"
        done
      done
      python3 - "$out" <<'EOF'
import json, os, sys
for s in "abc":
    for q in ("annotation", "score"):
        d = json.load(open(os.path.join(sys.argv[1], "test_%s_%s.json" % (s, q))))
        a = d["average"]
        print("(%s) %-10s top-1 %.3f MRR %.3f %s" % (s, q, a["top1"], a["mrr"], list(d["ranks"].values()) if s == "c" else ""))
EOF
      ;;
    *) echo "sharpen_select: unknown step '$step'" >&2; exit 2 ;;
  esac
done
