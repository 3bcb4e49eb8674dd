#!/usr/bin/env bash
# ctest entry (CMakeLists.txt): the Python package's pytest suite against a build tree.
# Usage: python/tests/run.sh LIBLEITMOTIF_SO LEITMOTIF_CLI SHARED_DIR
# Exits 77 (skipped) when no Python 3 with numpy and pytest is found (Debian: python3-numpy,
# python3-pytest; scripts/setup.sh installs them).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py=""
for cand in "${LM_PYTHON:-}" /usr/bin/python3 python3; do
  [ -n "$cand" ] || continue
  if "$cand" -c 'import numpy, pytest' >/dev/null 2>&1; then py="$cand"; break; fi
done
if [ -z "$py" ]; then
  echo "python tests skipped: no python3 with numpy and pytest (Debian: python3-numpy python3-pytest)" >&2
  exit 77
fi
export LEITMOTIF_LIBRARY="$1" LEITMOTIF_CLI="$2" LEITMOTIF_SHARED="$3"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1
# A sanitizer build's library needs the sanitizer runtimes loaded first into Python (whose own
# allocations at exit are not leaks of ours).
preload="$(ldd "$1" 2>/dev/null | awk '/libasan|libubsan/ {print $3}' | tr '\n' ' ')"
if [ -n "$preload" ]; then
  export LD_PRELOAD="$preload" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
exec "$py" -m pytest -q -p no:cacheprovider --rootdir "$here" --doctest-modules "$here/leitmotif" "$here/tests"
