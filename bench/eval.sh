#!/usr/bin/env bash
# Wall time of `leitmotif eval` on the whole corpus' themes (3836 queries) against an existing
# database, e.g. the full corpus indexed with `leitmotif index DB AUDIO_DIR`.
# Env: LM_BENCH_EVAL_DB (the database; skipped without it), LM_CLI (default: build/leitmotif),
#      LM_SHARED_DIR (default ../shared), LM_BENCH_EVAL_ARGS (extra eval options).
# Prints "eval_wall_s <seconds> s" on stdout; the evaluation table goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cli="${LM_CLI:-$here/build/leitmotif}"
shared="${LM_SHARED_DIR:-$here/../shared}"
db="${LM_BENCH_EVAL_DB:-}"
if [ -z "$db" ] || [ ! -e "$db" ]; then
  echo "bench eval: skipped: set LM_BENCH_EVAL_DB to a database (leitmotif index DB AUDIO_DIR)" >&2
  exit 0
fi
themes="$shared/corpus/themes.csv"
[ -f "$themes" ] || { echo "bench eval: $themes not found" >&2; exit 1; }
start=$(date +%s.%N)
# shellcheck disable=SC2086
"$cli" eval "$db" --themes "$themes" ${LM_BENCH_EVAL_ARGS:-} >&2
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "eval_wall_s %.1f s\n", e - s }'
