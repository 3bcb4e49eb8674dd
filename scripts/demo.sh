#!/usr/bin/env bash
# The main job on real music: index the four public-domain / CC BY recordings of examples/audio
# (Beethoven's 5th, a Beethoven piano sonata, Brahms' Hungarian Dance No. 5, a Bruckner motet;
# licences in examples/README.md) with the default deep chroma model, then find well-known
# themes in them, typed as note lists and as a MIDI file (examples/queries.txt).
# Usage: scripts/demo.sh ["NOTE LIST" | THEME.mid]   (search for your own theme instead)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$here/build"
echo "demo: installing the build dependencies and building the leitmotif command (scripts/setup.sh)" >&2
LM_SETUP_MINIMAL=1 LM_SETUP_TARGET=leitmotif_cli "$here/scripts/setup.sh" "$build" >&2
cli="$build/leitmotif"
work="$(mktemp -d /tmp/leitmotif-demo.XXXXXX)"
trap 'rm -rf "$work"' EXIT
db="$work/examples.lmdb"

echo "demo: indexing the recordings of examples/audio (deep chroma, default model):" >&2
for f in "$here"/examples/audio/*; do echo "  $(basename "${f%.*}")" >&2; done
"$cli" index "$db" "$here/examples/audio" 2>&1 | sed 's/^leitmotif: [^:]*: /  /' >&2

search() { # search LABEL THEME [OPTIONS...]
  local label="$1" theme="$2"; shift 2
  echo
  echo "== $label"
  echo "   theme: $theme"
  (cd "$here/examples" && "$cli" search "$db" "$theme" --top 3 "$@") 2>&1 | sed 's/^leitmotif: /   note: /'
}

echo
if [ $# -gt 0 ]; then
  search "your theme" "$1"
else
  echo "Each search ranks the 4 recordings; distance 0 is a perfect match, 1 no similarity;"
  echo "the last column is where in the recording the theme was found (seconds)."
  while IFS='|' read -r label theme opts; do
    case "$label" in \#*|"") continue;; esac
    # shellcheck disable=SC2086  # opts holds extra options, split on purpose
    search "$label" "$theme" $opts
  done < "$here/examples/queries.txt"
  echo
  echo "Search for your own theme: scripts/demo.sh \"C4 E4 G4:2\" (or a .mid file)."
fi
