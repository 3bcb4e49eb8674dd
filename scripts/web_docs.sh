#!/usr/bin/env bash
# Makes the pictures of docs/web.md: `leitmotif plot` figures of the Beethoven op. 2 no. 2 recording
# of ../shared/realaudio with its theme, and screenshots of the search page (headless Chromium +
# playwright-core, as scripts/setup_web.sh installs them) serving a database of the real recordings
# of ../shared/realaudio and the corpus' --small render (deep chroma, the default model).
# Usage: scripts/web_docs.sh [BUILD_DIR] [DB]   (DB: serve this database instead)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$here/build}" && pwd)"
db="${2:-}"
shared="${LM_SHARED_DIR:-$here/../shared}"
cli="$build/leitmotif"
img="$here/docs/img"
cache="${LM_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leitmotif-bench}"
modules="${LM_WEB_NODE_MODULES:-${XDG_CACHE_HOME:-$HOME/.cache}/leitmotif-web/node_modules}"
[ -x "$cli" ] || { echo "web_docs: build leitmotif first ($cli)" >&2; exit 1; }
mkdir -p "$img"
work="$(mktemp -d /tmp/lm_web_docs.XXXXXX)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

audio="$shared/realaudio/audio/beethoven_op002-2-01_pitman_musopen.flac"
theme="$shared/realaudio/themes/beethoven_op002-2-01_t2.mid"
"$cli" plot "$audio" --theme "$theme" -o "$img/plot_beethoven_op002-2-01.png"
"$cli" plot "$audio" --theme "$theme" -o "$img/plot_beethoven_op002-2-01.svg"
"$cli" plot "$audio" --theme "$theme" -o "$img/plot_beethoven_op002-2-01_match.png" --match

if [ -z "$db" ]; then
  db="$work/realaudio+small.lmdb"   # the page shows this name
  inputs=("$shared/realaudio/audio")
  if [ ! -f "$cache/small/annotations.csv" ] && [ -x "$shared/corpus/render" ]; then
    "$shared/corpus/render" --small --out "$cache/small" >&2
  fi
  [ -d "$cache/small/audio" ] && inputs+=("$cache/small/audio")
  "$cli" index "$db" "${inputs[@]}" >&2
fi
(cd "$(dirname "$db")" && exec "$cli" serve "$(basename "$db")" --port 0) 2>"$work/serve.err" &
pid=$!
for _ in $(seq 1 100); do grep -q 'http://' "$work/serve.err" 2>/dev/null && break; sleep 0.1; done
base=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$work/serve.err" | head -1 || true)
[ -n "$base" ] || { echo "web_docs: the server did not start:" >&2; cat "$work/serve.err" >&2; exit 1; }
NODE_PATH="$modules" node "$here/tests/web/screenshots.mjs" "$base" "$img" "$theme"
ls -la "$img"
