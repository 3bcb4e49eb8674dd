#!/usr/bin/env bash
# The measurements of docs/install.md "On an Intel Xeon with AMX, and with libsoxr": indexing speed and
# retrieval of two builds (OLD, e.g. one with libsamplerate, and NEW) on 20 fold-5 recordings and on their
# 44.1-kHz copies, plain and 30 cents sharp.
# Usage: scripts/resample_check.sh OLD_LEITMOTIF NEW_LEITMOTIF [DATA]   (DATA: default /work/data)
#   needs DATA/fold5_default (the fold-5 render, scripts/baselines.sh render), DATA/db/b_ctc_fold5.lmdb
#   (scripts/baselines.sh index) and sox; writes DATA/s28/ (copies, databases, eval JSON, index_speed.txt)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
old="$1"; new="$2"; data="${3:-/work/data}"; out="$data/s28"
model="$here/models/training/leitmotif_ctc_train123valid4.bin"
themes="$data/fold5_default/annotations.csv"
mkdir -p "$out/f5_44k" "$out/f5_44k_det"
files=$(ls "$data"/fold5_default/audio/*.flac | awk 'NR%17==1' | head -20)
for f in $files; do  # the copies: 44.1 kHz; 44.1 kHz and 30 cents sharp (1.7 % faster)
  b="$(basename "$f")"
  [ -s "$out/f5_44k/$b" ] || sox "$f" -b 24 "$out/f5_44k/$b" rate -v 44100
  [ -s "$out/f5_44k_det/$b" ] || sox "$out/f5_44k/$b" -b 24 "$out/f5_44k_det/$b" speed 1.01748 rate -v 44100
done
ids=$(for f in $files; do basename "$f" .flac; done)
ranks_same() { python3 - "$@" <<'PY'
import json, sys
a, b = (json.load(open(f))['ranks'] for f in sys.argv[1:3])
print(f"{sys.argv[1]} vs {sys.argv[2]}: same rank for {sum(a[k] == b.get(k) for k in a)} of {len(a)} queries")
PY
}
for build in old new; do
  bin="$old"; [ $build = new ] && bin="$new"
  # 1. the fold-5 database (tuning off) with the 20 recordings replaced by their 44.1-kHz copies
  db="$out/db_44k_$build.lmdb"; rm -rf "$db"; cp -r "$data/db/b_ctc_fold5.lmdb" "$db"
  "$bin" remove "$db" $ids
  "$bin" index "$db" "$out"/f5_44k/*.flac --features ctc --model "$model" --tuning off --threads 2
  # 2. the sharp copies alone, tuning compensation on
  db2="$out/db_det_$build.lmdb"; rm -rf "$db2"
  "$bin" index "$db2" "$out"/f5_44k_det/*.flac --features ctc --model "$model" --threads 2
  for q in annotation score; do
    "$bin" eval "$db" --themes "$themes" --queries-from $q --json >"$out/f5_44k_${build}_$q.json"
    "$bin" eval "$db2" --themes "$themes" --queries-from $q --json >"$out/det_${build}_$q.json" 2>/dev/null
  done
done
for q in annotation score; do
  ranks_same "$out/f5_44k_old_$q.json" "$out/f5_44k_new_$q.json"
  ranks_same "$out/det_old_$q.json" "$out/det_new_$q.json"
done
# 3. indexing speed, one run per build and precision (x real time per CPU second, and wall)
for set in 22k 44kdet; do
  if [ $set = 22k ]; then in=$files; else in=$(ls "$out"/f5_44k_det/*.flac); fi
  dur=$(for f in $in; do soxi -D "$f"; done | awk '{s += $1} END {print s}')
  for cfg in "old fp32" "new fp32" "new bf16"; do
    set -- $cfg; bin="$old"; [ $1 = new ] && bin="$new"
    rm -rf "$out/speed.lmdb"
    /usr/bin/time -o "$out/speed.time" -f "%e %U %S" "$bin" index "$out/speed.lmdb" $in --nn-precision $2 --threads 2 --commit-every 0 >/dev/null 2>&1
    read -r e u s <"$out/speed.time"
    awk -v set=$set -v cfg="$cfg" -v d="$dur" -v e="$e" -v c="$(echo "$u + $s" | bc)" \
      'BEGIN { printf "%s %s: %.0f x real time per CPU second (%.0f x wall)\n", set, cfg, d / c, d / e }'
  done
done | tee "$out/index_speed.txt"
