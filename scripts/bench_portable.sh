#!/usr/bin/env bash
# The portable build (the default, -DLM_NATIVE=OFF: baseline x86-64, the hot loops dispatched at
# run time to AVX-512, AVX2 or plain code) against a -march=native build (-DLM_NATIVE=ON) on this
# machine: builds both, runs bench/run with each and prints every figure for both builds and
# their ratio (issue 17: the portable build should be within 10 % of the native one).
# Usage: scripts/bench_portable.sh [NAME...]   (benchmarks of bench/run; default: chroma sdtw)
# LM_BENCH_PORTABLE_BUILD, LM_BENCH_NATIVE_BUILD: the two build folders (default build-portable
# and build-native in the repository); LM_BENCH_REPEAT=N: N runs of each build, alternating, the
# best figure of each kept (default 1). Figures move with the machine's load: on a shared
# machine take several runs and read the ratios, not the absolute figures.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
portable="${LM_BENCH_PORTABLE_BUILD:-$here/build-portable}"
native="${LM_BENCH_NATIVE_BUILD:-$here/build-native}"
repeat="${LM_BENCH_REPEAT:-1}"
names=("$@"); [ ${#names[@]} -eq 0 ] && names=(chroma sdtw)

"$here/scripts/setup.sh" "$portable" -DLM_NATIVE=OFF
"$here/scripts/setup.sh" "$native" -DLM_NATIVE=ON
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for r in $(seq 1 "$repeat"); do
  for cfg in native portable; do
    dir="$native"; [ "$cfg" = portable ] && dir="$portable"
    echo "bench_portable: run $r of $repeat, $cfg build ($dir): bench/run ${names[*]}" >&2
    LM_BENCH_BUILD="$dir" "$here/bench/run" "${names[@]}" >>"$out/$cfg.txt"
  done
done

echo "# bench/run ${names[*]}: native ($native) vs portable ($portable), best of $repeat; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# Lines are "name value unit". Unit x (the search modes' cost relative to a plain search) is
# better when lower; every other figure (x_realtime, cells/s, ...) when higher.
awk '
  function better(u, a, b) { return u == "x" ? a < b : a > b }
  FNR == 1 { cfg = (FILENAME ~ /native\.txt$/) ? "native" : "portable" }
  NF >= 3 {
    key = $1
    if (!(key in unit)) { order[++n] = key; unit[key] = $3 }
    if (!((key, cfg) in v) || better($3, $2 + 0, v[key, cfg])) v[key, cfg] = $2 + 0
  }
  END {
    printf "%-28s %-11s %12s %12s %16s\n", "figure", "unit", "native", "portable", "portable/native"
    for (i = 1; i <= n; i++) {
      k = order[i]; u = unit[k]
      a = ((k, "native") in v) ? v[k, "native"] : ""; b = ((k, "portable") in v) ? v[k, "portable"] : ""
      if (a == "" || b == "" || a == 0) { printf "%-28s %-11s %12s %12s %16s\n", k, u, a, b, "-"; continue }
      q = b / a
      ok = (u == "x") ? (q <= 1.1) : (q >= 0.9)
      printf "%-28s %-11s %12.4g %12.4g %10.2f  %s\n", k, u, a, b, q, ok ? "ok" : "SLOWER"
    }
    print "(ok: the portable build within 10 % of the native one; cost ratios in x are better lower, the rest higher)"
  }' "$out/native.txt" "$out/portable.txt"
