#!/usr/bin/env bash
# `leitmotif align` end to end: a corpus chorale's MIDI rendered with FluidSynth at its nominal
# tempo, then time-stretched with sox `tempo 1.25` (25 % faster, same pitch). Aligning the score
# with the stretched rendering must give a map of slope 1/1.25 and the themes at their nominal
# times / 1.25; the score of another piece must print the low-confidence warning; an excerpt is
# found inside the score; the themes output has the training-pairs columns. Args: CLI SHARED_DIR SOURCE_DIR
set -u
cli="$1"; shared="${2:-}"
tmp="$(mktemp -d /tmp/lm_cli_align.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib/cli_common.sh"

"$cli" align >/dev/null 2>"$tmp/usage.err"; rc=$?
if [ $rc -eq 2 ] && grep -q "usage: leitmotif align" "$tmp/usage.err"; then ok "align without arguments: usage"; else fail "align without arguments (rc=$rc)"; fi
expect_error "align missing score" "no such file|cannot open|not found" "$cli" align "$tmp/none.mid" "$tmp/none.wav" -o "$tmp/m.csv"

corpus="$shared/corpus"
if [ ! -f "$corpus/themes.csv" ] || [ ! -f "$corpus/midi/bach_chor268.mid" ]; then
  echo "SKIP: $corpus not found (needs ../shared)"; exit $((fails > 0 ? 1 : 77))
fi
for tool in fluidsynth sox python3; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (scripts/setup.sh installs it)"; exit $((fails > 0 ? 1 : 77)); }
done
sf=""
for cand in /usr/share/sounds/sf2/FluidR3_GM.sf2 /usr/share/sounds/sf2/TimGM6mb.sf2; do [ -f "$cand" ] && { sf="$cand"; break; }; done
[ -n "$sf" ] || { echo "SKIP: no General MIDI soundfont (fluid-soundfont-gm)"; exit $((fails > 0 ? 1 : 77)); }

piece=bach_chor268; other=bach_chor277; factor=1.25
fluidsynth -n -i -q -R 0 -C 0 -g 0.4 -r 22050 -F "$tmp/nominal.wav" "$sf" "$corpus/midi/$piece.mid" >/dev/null 2>&1 ||
  { echo "FAIL fluidsynth"; exit 1; }
sox "$tmp/nominal.wav" -c 1 "$tmp/fast.wav" tempo -m $factor 2>"$tmp/sox.err" || { echo "FAIL sox: $(cat "$tmp/sox.err")"; exit 1; }

# stft features: deterministic and model-free; scripts/eval_align.sh measures both feature types.
if "$cli" align "$corpus/midi/$piece.mid" "$tmp/fast.wav" --features stft -o "$tmp/map.csv" --themes "$corpus/themes.csv" \
     --themes-out "$tmp/pairs.csv" --json >"$tmp/align.json" 2>"$tmp/align.err"; then ok "align stretched rendering"
else fail "align: $(cat "$tmp/align.err")"; fi
if grep -qi "low alignment confidence" "$tmp/align.err"; then fail "right score got the low-confidence warning: $(cat "$tmp/align.err")"
else ok "right score: no warning"; fi

python3 - "$tmp" "$corpus/themes.csv" "$piece" "$factor" <<'EOF' && ok "map slope and theme times" || fail "map slope and theme times"
import csv, json, sys
tmp, themes, piece, factor = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
rows = [(float(r["score_sec"]), float(r["audio_sec"])) for r in csv.DictReader(open(tmp + "/map.csv"))]
problems = []
# Slope over the middle of the piece (ends have silence / reverberation).
n = len(rows); a, b = rows[n // 5], rows[4 * n // 5]
slope = (b[1] - a[1]) / (b[0] - a[0])
print("map slope %.4f (expected %.4f)" % (slope, 1 / factor))
if abs(slope - 1 / factor) > 0.02: problems.append("slope %.4f" % slope)
# Local deviation from the straight line audio = score / factor.
worst = max(abs(au - s / factor) for s, au in rows[n // 10: 9 * n // 10])
print("largest deviation from score/%.2f in the middle 80 %%: %.3f s" % (factor, worst))
if worst > 0.4: problems.append("deviation %.3f s" % worst)
want = {r["theme_id"]: r for r in csv.DictReader(open(themes)) if r["piece_id"] == piece}
got = list(csv.DictReader(open(tmp + "/pairs.csv")))
if len(got) != len(want): problems.append("%d themes written, %d expected" % (len(got), len(want)))
for r in got:
    w = want[r["theme_id"]]
    es, ee = float(w["nominal_start_sec"]) / factor, float(w["nominal_end_sec"]) / factor
    s, e = float(r["start_sec"]), float(r["end_sec"])
    print("%s: %.3f-%.3f s, expected %.3f-%.3f s" % (r["theme_id"], s, e, es, ee))
    if abs(s - es) > 0.4 or abs(e - ee) > 0.5: problems.append(r["theme_id"])
    if r["pitch_classes"] != w["pitch_classes"] or r["fold"] != w["fold"]: problems.append("columns not copied")
d = json.load(open(tmp + "/align.json"))
print("cost %.4f confidence %.3f mode %s" % (d["cost"], d["confidence"], d["mode"]))
if d["mode"] != "full" or not d["confidence"] > 0.12: problems.append("json %s" % d)
for p in problems: print("problem: " + p)
sys.exit(1 if problems else 0)
EOF

# The themes output is training data: `train --pairs` reads it (its rows as the training fold,
# the same rows again as a validation fold) and fine-tunes one epoch.
if [ -s "$tmp/pairs.csv" ]; then
  { cat "$tmp/pairs.csv"; tail -n +2 "$tmp/pairs.csv" | awk -F, -v OFS=, '{$7 = 99; print}'; } >"$tmp/pairs2.csv"
  fold=$(sed -n 2p "$tmp/pairs.csv" | cut -d, -f7)
  if head -n 1 "$tmp/pairs.csv" | cut -d, -f7 | grep -qx fold &&
     "$cli" train --pairs "$tmp/pairs2.csv" --train-folds "$fold" --valid-fold 99 --max-epochs 1 --augment none \
       --threads 2 --out "$tmp/ft.bin" 2>"$tmp/train.err" && [ -s "$tmp/ft.bin" ]; then ok "train --pairs reads align's themes output"
  else fail "train on align's output: $(tail -n 2 "$tmp/train.err" 2>/dev/null)"; fi
fi

# Another piece's score: a clear warning on stderr (and low_confidence in the JSON).
"$cli" align "$corpus/midi/$other.mid" "$tmp/fast.wav" --features stft -o "$tmp/map2.csv" --json >"$tmp/wrong.json" 2>"$tmp/wrong.err"
if grep -qi "warning: low alignment confidence" "$tmp/wrong.err" && grep -q '"low_confidence": true' "$tmp/wrong.json"; then
  ok "wrong score warns ($(grep -o 'confidence -\?[0-9.]*' "$tmp/wrong.err" | head -1))"
else fail "wrong score: no warning: $(cat "$tmp/wrong.err") $(cat "$tmp/wrong.json")"; fi

# An excerpt (20-30 s of the nominal rendering) is found inside the score.
sox "$tmp/nominal.wav" -c 1 "$tmp/excerpt.wav" trim 20 10 2>/dev/null
if "$cli" align "$corpus/midi/$piece.mid" "$tmp/excerpt.wav" --features stft -o "$tmp/map3.csv" --json >"$tmp/ex.json" 2>"$tmp/ex.err" &&
   python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print("excerpt: mode %s, score %.2f-%.2f s (expected 20-30)" % (d["mode"], d["score_start_sec"], d["score_end_sec"]))
sys.exit(0 if d["mode"] == "subsequence" and abs(d["score_start_sec"] - 20) < 0.5 and abs(d["score_end_sec"] - 30) < 0.8 else 1)' "$tmp/ex.json"
then ok "excerpt located"; else fail "excerpt: $(cat "$tmp/ex.err") $(cat "$tmp/ex.json")"; fi

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
