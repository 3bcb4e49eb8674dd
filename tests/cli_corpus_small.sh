#!/usr/bin/env bash
# End to end on real rendered music: the corpus' --small subset (10 recordings, 20 themes) is
# rendered with FluidSynth, indexed with stft chroma and evaluated with the corpus' own
# themes.csv, which lists all 3836 themes: those of pieces outside the subset must be
# skipped. Args: CLI SHARED_DIR SOURCE_DIR
set -u
cli="$1"; shared="${2:-}"
corpus="$shared/corpus"
if [ ! -x "$corpus/render" ] || [ ! -f "$corpus/themes.csv" ]; then
  echo "SKIP: $corpus not found (needs ../shared)"; exit 77
fi
for tool in fluidsynth sox; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (scripts/setup.sh installs it)"; exit 77; }
done
py=""  # the renderer's own choice: a python3 with mido and numpy
for cand in ${PYTHON:-} /usr/bin/python3 python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import mido, numpy' 2>/dev/null; then py="$cand"; break; fi
done
[ -n "$py" ] || { echo "SKIP: python3-mido/python3-numpy not installed"; exit 77; }

work="$(mktemp -d /tmp/lm_corpus_small.XXXXXX)"
trap 'rm -rf "$work"' EXIT
if ! "$corpus/render" --small --out "$work/small" >"$work/render.log" 2>&1; then
  echo "FAIL render --small:"; tail -5 "$work/render.log"; exit 1
fi
n_audio=$(ls "$work/small/audio" | wc -l)
[ "$n_audio" -eq 10 ] || { echo "FAIL expected 10 rendered recordings, got $n_audio"; exit 1; }

"$cli" index "$work/small.lmdb" "$work/small/audio" --features stft 2>"$work/index.err" ||
  { echo "FAIL index: $(cat "$work/index.err")"; exit 1; }
"$cli" eval "$work/small.lmdb" --themes "$corpus/themes.csv" --json >"$work/eval.json" 2>"$work/eval.err" ||
  { echo "FAIL eval: $(cat "$work/eval.err")"; exit 1; }
grep -q "3816 of 3836 queries skipped" "$work/eval.err" || { echo "FAIL skipped queries not reported: $(cat "$work/eval.err")"; exit 1; }

"$py" - "$work/eval.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
avg, folds = d["average"], d["folds"]
problems = []
if avg["queries"] != 20: problems.append("expected 20 queries, got %d" % avg["queries"])
if sum(f["queries"] for f in folds) != 20: problems.append("fold query counts do not add up to 20")
if len(d["ranks"]) != 20: problems.append("expected 20 ranks, got %d" % len(d["ranks"]))
if d["skipped_queries"] != 3816: problems.append("expected 3816 skipped queries")
if not all(1 <= r <= 10 for r in d["ranks"].values()): problems.append("ranks outside 1..10")
mrr = sum(1.0 / r for r in d["ranks"].values()) / len(d["ranks"])
if abs(mrr - avg["mrr"]) > 1e-5: problems.append("average MRR %.6f != mean of 1/rank %.6f" % (avg["mrr"], mrr))
# Ten recordings, chance MRR is about 0.29; stft chroma finds most themes (0.975 when written).
if avg["mrr"] < 0.6: problems.append("implausibly low MRR %.3f" % avg["mrr"])
print("corpus --small, stft: %d queries, top-1 %.3f, MRR %.3f" % (avg["queries"], avg["top1"], avg["mrr"]))
for p in problems: print("FAIL " + p)
sys.exit(1 if problems else 0)
EOF
