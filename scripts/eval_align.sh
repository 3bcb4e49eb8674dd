#!/usr/bin/env bash
# Accuracy of `leitmotif align` (score-to-audio synchronisation).
#   scripts/eval_align.sh [--features ctc|stft] [--wrong] [--build DIR] [--out DIR]
# 1. Renders the corpus' --small subset (10 pieces, 20 themes) into DIR (default /work/align_small
#    or $LM_ALIGN_SMALL), aligns each piece's MIDI with its rendering using ../shared/corpus/themes.csv
#    and prints the theme start/end errors against the render's annotations.csv (median, 95th
#    percentile, max; acceptance: median <= 0.10 s, 95 % <= 0.5 s).
# 2. --wrong: the 90 wrong-piece pairs too, and the confidences of right and wrong pairs.
# 3. The real recording ../shared/realaudio: Beethoven op. 2 no. 2 (bars 58-62, theme 0.15-4.15 s
#    hand-annotated) against the whole first movement; the theme is at quarter notes 116-124 of
#    ../shared/corpus/midi/beethoven_sonata02-1.mid (it is not in the corpus' themes.csv).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${LM_SHARED_DIR:-$here/../shared}"
build="$here/build"; out="${LM_ALIGN_SMALL:-/work/align_small}"; feat=ctc; wrong=0
while [ $# -gt 0 ]; do
  case "$1" in
    --features) feat="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --wrong) wrong=1; shift ;;
    *) echo "usage: $0 [--features ctc|stft] [--wrong] [--build DIR] [--out DIR]" >&2; exit 2 ;;
  esac
done
cli="$build/leitmotif"
[ -x "$cli" ] || { echo "eval_align: $cli not built (cmake -S . -B $build && cmake --build $build)" >&2; exit 1; }
[ -f "$out/annotations.csv" ] || "$shared/corpus/render" --small --out "$out" >&2
work="$(mktemp -d /tmp/lm_eval_align.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# Features once per recording (the same features API that `align AUDIO` uses).
for f in "$out"/audio/*.flac; do
  "$cli" chroma "$f" --features "$feat" -o "$work/$(basename "$f" .flac).npy"
done
pieces=$(cd "$out/audio" && ls *.flac | sed 's/\.flac$//')
for p in $pieces; do
  "$cli" align "$shared/corpus/midi/$p.mid" "$work/$p.npy" -o "$work/$p.map.csv" --min-confidence -10 \
    --themes "$shared/corpus/themes.csv" --themes-out "$work/$p.themes.csv" --json >"$work/$p.right.json"
done
if [ "$wrong" = 1 ]; then
  for a in $pieces; do for m in $pieces; do
    [ "$a" = "$m" ] && continue
    "$cli" align "$shared/corpus/midi/$m.mid" "$work/$a.npy" -o "$work/x.csv" --json --min-confidence -10 \
      >"$work/$a.$m.wrong.json"
  done; done
fi

real_audio="$shared/realaudio/audio/beethoven_op002-2-01_pitman_musopen.flac"
real_ok=0
if [ -f "$real_audio" ]; then
  printf 'theme_id,piece_id,fold,pitch_classes,start_qn,end_qn\nbeethoven_op002-2-01_t2,beethoven_sonata02-1,1,E D# E G E E F# E D# D D,116,124\n' \
    >"$work/real_themes.csv"
  "$cli" align "$shared/corpus/midi/beethoven_sonata02-1.mid" "$real_audio" --features "$feat" -o "$work/real.map.csv" \
    --themes "$work/real_themes.csv" --themes-out "$work/real.themes.csv" --json >"$work/real.json" 2>"$work/real.err" &&
    real_ok=1
fi

python3 - "$work" "$out/annotations.csv" "$feat" "$real_ok" <<'EOF'
import csv, glob, json, os, statistics, sys
work, ann_path, feat, real_ok = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
ann = {r["theme_id"]: r for r in csv.DictReader(open(ann_path))}
errs = []
for fn in sorted(glob.glob(os.path.join(work, "*.themes.csv"))):
    if os.path.basename(fn).startswith("real."): continue
    for r in csv.DictReader(open(fn)):
        a = ann[r["theme_id"]]
        ds, de = float(r["start_sec"]) - float(a["start_sec"]), float(r["end_sec"]) - float(a["end_sec"])
        errs += [abs(ds), abs(de)]
        print("%-30s start %+.3f end %+.3f s  confidence %s" % (r["theme_id"], ds, de, r["align_confidence"]))
errs.sort()
p95 = errs[max(0, int(round(0.95 * len(errs))) - 1)]
within = sum(e <= 0.5 for e in errs) / len(errs)
print("align_small_%s: %d theme boundaries (%d themes), median error %.3f s, 95th percentile %.3f s, max %.3f s, "
      "%.1f %% within 0.5 s" % (feat, len(errs), len(errs) // 2, statistics.median(errs), p95, errs[-1], 100 * within))
print("acceptance (median <= 0.10 s, 95 %% within 0.5 s): %s" %
      ("PASS" if statistics.median(errs) <= 0.10 and within >= 0.95 else "FAIL"))
right = sorted(json.load(open(f))["confidence"] for f in glob.glob(os.path.join(work, "*.right.json")))
print("confidence, right score: min %.3f median %.3f" % (right[0], statistics.median(right)))
wrong = sorted(json.load(open(f))["confidence"] for f in glob.glob(os.path.join(work, "*.wrong.json")))
if wrong:
    print("confidence, wrong score (%d pairs): max %.3f median %.3f; below 0.12: right %d/%d, wrong %d/%d" %
          (len(wrong), wrong[-1], statistics.median(wrong), sum(c < 0.12 for c in right), len(right),
           sum(c < 0.12 for c in wrong), len(wrong)))
if real_ok:
    d = json.load(open(os.path.join(work, "real.json")))
    rows = list(csv.DictReader(open(os.path.join(work, "real.themes.csv"))))
    print("realaudio op.2/2: mode %s, score %.2f-%.2f s aligned (theme is at score 58.00-62.00 s), confidence %.3f" %
          (d["mode"], d["score_start_sec"], d["score_end_sec"], d["confidence"]))
    if rows:
        s, e = float(rows[0]["start_sec"]), float(rows[0]["end_sec"])
        print("realaudio theme: %.3f-%.3f s (annotation 0.15-4.15 s): errors %+.3f %+.3f s -> %s" %
              (s, e, s - 0.15, e - 4.15, "PASS" if abs(s - 0.15) <= 0.5 and abs(e - 4.15) <= 0.5 else "FAIL"))
    else:
        print("realaudio theme: not mapped (the excerpt was aligned elsewhere in the score) -> FAIL")
EOF
