#!/usr/bin/env bash
# The main job on a small built-in example: synthesise three short "recordings" (examples/themes.txt,
# rendered with sox, each embedded in some other music), index them and search for a theme.
# Usage: scripts/demo.sh ["NOTE LIST"]   (default: the opening of Beethoven's 5th)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$here/build"
"$here/scripts/setup.sh" "$build" >&2
cli="$build/leitmotif"
work="$(mktemp -d /tmp/leitmotif-demo.XXXXXX)"
trap 'rm -rf "$work"' EXIT

midi_to_freq() { awk -v m="$1" 'BEGIN { printf "%.3f", 440 * 2 ^ ((m - 69) / 12) }'; }
note_to_midi() { # C4 = 60; letters, #/b accidentals
  local n="$1" l="${1:0:1}" rest="${1:1}" acc=0 base
  case "$l" in C) base=0;; D) base=2;; E) base=4;; F) base=5;; G) base=7;; A) base=9;; B) base=11;; esac
  while [ "${rest:0:1}" = "#" ] || [ "${rest:0:1}" = "b" ]; do
    [ "${rest:0:1}" = "#" ] && acc=$((acc+1)) || acc=$((acc-1)); rest="${rest:1}"; done
  echo $(( (rest + 1) * 12 + base + acc ))
}
render_theme() { # render_theme "NOTES" BPM OUT.wav : plucked-string synthesis of a note list
  local notes="$1" bpm="$2" out="$3" i=0 parts=()
  for tok in $notes; do
    local p="${tok%%:*}" beats=1; [[ "$tok" == *:* ]] && beats="${tok#*:}"
    local dur; dur=$(awk -v b="$beats" -v t="$bpm" 'BEGIN { printf "%.3f", b * 60 / t }')
    local f="$work/n$i.wav"; i=$((i+1))
    if [ "$p" = r ]; then sox -n -r 22050 -c 1 "$f" trim 0 "$dur"
    else sox -n -r 22050 -c 1 "$f" synth "$dur" pluck "$(midi_to_freq "$(note_to_midi "$p")")" vol 0.5; fi
    parts+=("$f")
  done
  sox "${parts[@]}" "$out"; rm -f "${parts[@]}"
}
mkdir -p "$work/audio"
echo "demo: rendering example recordings into $work/audio" >&2
while IFS='|' read -r name notes bpm; do
  case "$name" in \#*|"") continue;; esac
  render_theme "$notes" "$bpm" "$work/$name.theme.wav"
  # Some unrelated material before and after the theme, so that search has to find it.
  sox -n -r 22050 -c 1 "$work/pre.wav" synth 3 pluck C3 pluck E3 vol 0.3
  sox -n -r 22050 -c 1 "$work/post.wav" synth 2 pluck A2 vol 0.3
  sox "$work/pre.wav" "$work/$name.theme.wav" "$work/post.wav" "$work/audio/$name.wav"
done < "$here/examples/themes.txt"

model_args=(--features stft)
if [ -f "$here/models/leitmotif_default.bin" ]; then model_args=(--features ctc)
elif [ -f "$here/../shared/reference/models/v1_ctc_train345valid1.bin" ]; then
  model_args=(--features ctc --model "$here/../shared/reference/models/v1_ctc_train345valid1.bin"); fi
theme="${1:-G4:0.5 G4:0.5 G4:0.5 Eb4:4 r:0.5 F4:0.5 F4:0.5 F4:0.5 D4:4}"
"$cli" index "$work/demo.lmdb" "$work/audio" "${model_args[@]}"
echo "demo: searching for: $theme" >&2
"$cli" search "$work/demo.lmdb" "$theme" --top 3
