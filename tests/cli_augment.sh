#!/usr/bin/env bash
# `leitmotif augment`: one draw of the training augmentation on a file. The same seed gives the
# same file, other seeds other files, the detune step's time scale matches the output length, and
# bad options and inputs give one-line errors. Needs sox (installed by scripts/setup.sh).
# Args: CLI SHARED_DIR SOURCE_DIR
set -u
cli="$1"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/lib/cli_common.sh"
command -v sox >/dev/null || { echo "SKIP: sox not installed (scripts/setup.sh installs it)"; exit 77; }
sox -n -r 22050 -c 1 -b 16 "$tmp/in.wav" synth 4 pluck C4 pluck E4 remix - 2>/dev/null || { fail "sox"; exit 1; }
"$cli" augment "$tmp/in.wav" "$tmp/a.wav" --seed 7 >"$tmp/a.txt" 2>"$tmp/err" && ok "augment runs" || fail "augment: $(cat "$tmp/err")"
"$cli" augment "$tmp/in.wav" "$tmp/b.wav" --seed 7 >/dev/null 2>&1
cmp -s "$tmp/a.wav" "$tmp/b.wav" && ok "same seed, same output" || fail "same seed gave different output"
differ=0
for s in 1 2 3 4; do
  "$cli" augment "$tmp/in.wav" "$tmp/s$s.wav" --seed $s >/dev/null 2>&1
  cmp -s "$tmp/s$s.wav" "$tmp/a.wav" || differ=$((differ + 1))
done
[ $differ -eq 4 ] && ok "other seeds, other outputs" || fail "only $differ of 4 other seeds changed the output"
# detune only: the length follows the printed time scale
"$cli" augment "$tmp/in.wav" "$tmp/d.wav" --augment none,detune=1 --seed 3 >"$tmp/d.txt" 2>"$tmp/err"
scale=$(sed -n 's/^time_scale: //p' "$tmp/d.txt")
n_in=$(soxi -s "$tmp/in.wav"); n_out=$(soxi -s "$tmp/d.wav")
if grep -q "^steps: detune$" "$tmp/d.txt" && awk -v a="$n_in" -v b="$n_out" -v s="$scale" 'BEGIN{d=a*s-b; exit !(d<3 && d>-3 && (s<0.999 || s>1.001))}'; then
  ok "detune: $n_in -> $n_out samples at time scale $scale"
else fail "detune: $(cat "$tmp/d.txt" "$tmp/err") ($n_in -> $n_out)"; fi
"$cli" augment "$tmp/in.wav" "$tmp/n.wav" --augment none >"$tmp/n.txt" 2>&1
grep -q "^steps: (none)" "$tmp/n.txt" && [ "$(soxi -s "$tmp/n.wav")" = "$n_in" ] && ok "--augment none applies nothing" || fail "none: $(cat "$tmp/n.txt")"
expect_error_last "bad augment spec" "bad item 'noise=2'" "$cli" augment "$tmp/in.wav" "$tmp/x.wav" --augment noise=2
expect_error_last "missing input" "no such file|does not exist|cannot open" "$cli" augment "$tmp/none.wav" "$tmp/x.wav"
[ ! -e "$tmp/x.wav" ] && ok "nothing written on errors" || fail "output written on error"
[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
