#!/usr/bin/env bash
# Disk full and I/O errors while leitmotif writes: the LD_PRELOAD library tests/fault/faultinject.c
# (liblm_faultinject.so, beside the CLI) makes the N-th call that writes an output file fail
# (open, write, flush, fsync, close, rename; mmap of the database), for every N up to the number
# of such calls in a small run of `chroma -o`, `index` and `train`, with ENOSPC (the disk stays
# full: every later call fails too) and with EIO (one call fails): both for every N of chroma and
# index in a normal build, alternating in a sanitizer build and for train. Every run must
# exit non-zero with a one-line error that says why (or, when the failed call cannot matter,
# exit 0 with a complete output), leave no damaged file and no temporary file behind, and
# leave what was committed before (the previous output, database, checkpoint, model) intact:
# the previous database still opens and `search` works on it. A failed fsync of the folder after
# the rename is an error too (exit non-zero, the error says the new file is complete and in place
# but its rename may not survive a crash), with the new output left in place. Also: a read-only database folder
# (search works, index says why it cannot write) and a database on a really full file system
# (a 32 KiB tmpfs, in a user namespace; skipped where that is not allowed).
# Audio is synthesised with sox: nothing from ../shared is needed. The format-2 database writers
# (index, remove, compact, upgrade) are swept by tests/cli_faults_db2.sh.
# Args: CLI SHARED_DIR SOURCE_DIR. Exit 77 when the library, sox or LD_PRELOAD is unavailable.
set -u
cli="$1"
command -v sox >/dev/null || { echo "SKIP: sox not installed (scripts/setup.sh installs it)"; exit 77; }
tmp="$(mktemp -d)"; [ -n "${KEEP_TMP:-}" ] || trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT; echo "tmp $tmp"
. "$(dirname "${BASH_SOURCE[0]}")/lib/cli_common.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/faults_common.sh"  # the shim, faulty, modes, error_ok, summary ...
export LEITMOTIF_THREADS=2

# ---------------------------------------------------------------- inputs
sox -n -r 22050 -c 1 -b 16 "$tmp/a.wav" synth 1.2 sine 440 2>/dev/null
sox -n -r 22050 -c 1 -b 16 "$tmp/b.wav" synth 1.0 sine 523 2>/dev/null
sox -n -r 16000 -c 2 -b 16 "$tmp/c.wav" synth 0.8 sine 659 2>/dev/null
sox -n -r 22050 -c 1 -b 16 "$tmp/short.wav" synth 0.2 sine 440 2>/dev/null  # chroma: 5 frames
args=()
for p in 60 64 67 72; do
  sox -n -r 22050 -c 1 -b 16 "$tmp/n$p.wav" synth 0.5 pluck "%$((p - 69))" 2>/dev/null; args+=("$tmp/n$p.wav")
done
sox "${args[@]}" "$tmp/mel.wav" pad 0 0.5 2>/dev/null || { fail "could not synthesise audio"; exit 1; }
printf 'audio,start_sec,end_sec,pitch_classes,fold\nmel.wav,0,1,C E,1\nmel.wav,1,2,G C,2\n' >"$tmp/pairs.csv"
theme="A4:0.5 C5:0.5"  # 0.5 s at 120 bpm

# ---------------------------------------------------------------- chroma -o
for fmt in npy csv; do
  opt=(); [ $fmt = csv ] && opt=(--csv)
  "$cli" chroma "$tmp/short.wav" -o "$tmp/ref.$fmt" --features stft "${opt[@]}" 2>/dev/null
  "$cli" chroma "$tmp/b.wav" -o "$tmp/old.$fmt" --features stft "${opt[@]}" 2>/dev/null
  rm -f "$tmp/c.log"
  LD_PRELOAD="$preload" LM_FAULT_LOG="$tmp/c.log" "$cli" chroma "$tmp/short.wav" -o "$tmp/x.$fmt" --features stft "${opt[@]}" 2>/dev/null
  k=$(counted "$tmp/c.log"); runs=0; bad=0; dir_runs=0
  for n in $(seq 1 "$k"); do
    for m in $(modes "$n"); do
      mode="${m%:*} ${m#*:}"
      cp "$tmp/old.$fmt" "$tmp/out.$fmt"
      faulty "$n" $mode "$cli" chroma "$tmp/short.wav" -o "$tmp/out.$fmt" --features stft "${opt[@]}"; rc=$?; runs=$((runs + 1))
      what="chroma -o .$fmt, call $n ($(failed_call)) fails with ${mode% *}"
      if [ $rc -ge 128 ]; then echo "FAIL $what: crashed (rc=$rc)"; bad=$((bad + 1))
      elif failed_dir_fsync; then
        dir_runs=$((dir_runs + 1))
        if [ $rc -eq 0 ]; then echo "FAIL $what: exit 0 although the rename may not be durable"; bad=$((bad + 1))
        elif ! dir_fsync_error_ok "out\.$fmt"; then echo "FAIL $what: unclear error: $(tail -n 1 "$tmp/f.err")"; bad=$((bad + 1))
        elif ! cmp -s "$tmp/out.$fmt" "$tmp/ref.$fmt"; then echo "FAIL $what: the file in place is not the new complete output"; bad=$((bad + 1))
        elif ! no_temp_files "$tmp"; then echo "FAIL $what: temporary file left"; bad=$((bad + 1)); rm -f "$tmp"/*.tmp.*
        fi
      elif [ $rc -ne 0 ] && ! error_ok "out\.$fmt"; then echo "FAIL $what: unclear error: $(tail -n 1 "$tmp/f.err")"; bad=$((bad + 1))
      elif [ $rc -ne 0 ] && ! cmp -s "$tmp/out.$fmt" "$tmp/old.$fmt"; then echo "FAIL $what: the previous output was changed"; bad=$((bad + 1))
      elif [ $rc -eq 0 ] && ! cmp -s "$tmp/out.$fmt" "$tmp/ref.$fmt"; then echo "FAIL $what: exit 0 with a damaged output"; bad=$((bad + 1))
      elif ! no_temp_files "$tmp"; then echo "FAIL $what: temporary file left: $(find "$tmp" -name '*.tmp.*')"; bad=$((bad + 1)); rm -f "$tmp"/*.tmp.*
      fi
    done
  done
  summary "chroma -o .$fmt with each of its $k file calls failing" $runs $bad
  [ $dir_runs -gt 0 ] && ok "chroma -o .$fmt: a failed fsync of the folder after the rename is an error, the new file in place" ||
    fail "chroma -o .$fmt: the folder's fsync after the rename was never made to fail"
done

# ---------------------------------------------------------------- index
# db0 holds a.wav; the faulty runs add b.wav and c.wav, committing after every file
# (--commit-every 1e-6), so that a later commit fails after an earlier one succeeded.
db="$tmp/db/f.lmdb"; mkdir -p "$tmp/db"
"$cli" index "$tmp/db0.lmdb" "$tmp/a.wav" --features stft --format 1 2>/dev/null || fail "index: reference database"  # one file (format 1): copied and compared byte for byte
search_ok() { "$cli" search "$1" "$theme" >/dev/null 2>"$tmp/s.err"; }
cp "$tmp/db0.lmdb" "$db"
"$cli" index "$db" "$tmp/b.wav" "$tmp/c.wav" --commit-every 1e-6 --threads 1 2>/dev/null; cp "$db" "$tmp/dbref.lmdb"
cp "$tmp/db0.lmdb" "$db"; rm -f "$tmp/c.log"
LD_PRELOAD="$preload" LM_FAULT_LOG="$tmp/c.log" "$cli" index "$db" "$tmp/b.wav" "$tmp/c.wav" --commit-every 1e-6 --threads 1 2>/dev/null
k=$(counted "$tmp/c.log"); runs=0; bad=0; dir_runs=0
grep -q ' mmap ' "$tmp/c.log" || fail "index: the database was not mapped (the mmap op is not exercised)"
for n in $(seq 1 "$k"); do
  for m in $(modes "$n"); do
    mode="${m%:*} ${m#*:}"
    cp "$tmp/db0.lmdb" "$db"
    faulty "$n" $mode "$cli" index "$db" "$tmp/b.wav" "$tmp/c.wav" --commit-every 1e-6 --threads 1; rc=$?; runs=$((runs + 1))
    what="index, call $n ($(failed_call)) fails with ${mode% *}"
    failed_dir_fsync && dir_runs=$((dir_runs + 1))
    if [ $rc -ge 128 ]; then echo "FAIL $what: crashed (rc=$rc)"; bad=$((bad + 1))
    elif failed_dir_fsync && [ $rc -eq 0 ]; then echo "FAIL $what: exit 0 although a commit may not be durable"; bad=$((bad + 1))
    elif failed_dir_fsync && ! dir_fsync_error_ok "f\.lmdb"; then echo "FAIL $what: unclear error: $(tail -n 1 "$tmp/f.err")"; bad=$((bad + 1))
    elif [ $rc -ne 0 ] && ! error_ok "f\.lmdb"; then echo "FAIL $what: unclear error: $(tail -n 1 "$tmp/f.err")"; bad=$((bad + 1))
    elif [ $rc -eq 0 ] && ! cmp -s "$db" "$tmp/dbref.lmdb"; then echo "FAIL $what: exit 0 with another database than the reference"; bad=$((bad + 1))
    elif ! search_ok "$db"; then echo "FAIL $what: search on the database left behind fails: $(cat "$tmp/s.err")"; bad=$((bad + 1))
    elif ! no_temp_files "$tmp/db"; then echo "FAIL $what: temporary file left: $(find "$tmp/db" -name '*.tmp.*')"; bad=$((bad + 1)); rm -f "$tmp"/db/*.tmp.*
    fi
  done
done
summary "index with each of its $k file calls failing (database still opens and searches)" $runs $bad
[ $dir_runs -gt 0 ] && ok "index: a failed fsync of the folder after a commit is an error; the database in place opens" ||
  fail "index: the folder's fsync after a commit was never made to fail"

# ---------------------------------------------------------------- train
# Two epochs: the HCQT excerpt cache, a model and a checkpoint per epoch, the loss plot.
train() { local c="$1"; shift; "$c" train --pairs "$tmp/pairs.csv" --train-folds 1 --valid-fold 2 --batch 1 --max-epochs 2 \
            --augment none --out "$tmp/tr/m.bin" --cache "$tmp/tr/cache" "$@"; }
mkdir -p "$tmp/tr"
train "$cli" 2>/dev/null || fail "train: reference run"
# A checkpoint holds the training time too: checkpoints are compared by their history.
history() { "$cli" train --history "$1" 2>/dev/null; }
cp "$tmp/tr/m.bin" "$tmp/mref.bin"; history "$tmp/tr/m.bin.ckpt" >"$tmp/ckref.csv"
rm -rf "$tmp/tr" "$tmp/c.log"; mkdir -p "$tmp/tr"
LD_PRELOAD="$preload" LM_FAULT_LOG="$tmp/c.log" train "$cli" 2>/dev/null
k=$(counted "$tmp/c.log"); runs=0; bad=0
for n in $(seq 1 "$k"); do
  mode="ENOSPC 1"; [ $((n % 2)) -eq 0 ] && mode="EIO 0"  # one errno per call in any build: training runs are slower
  rm -rf "$tmp/tr"; mkdir -p "$tmp/tr"
  faulty "$n" $mode train "$cli"; rc=$?; runs=$((runs + 1))
  what="train, call $n ($(failed_call)) fails with ${mode% *}"
  problem=""
  if [ $rc -ge 128 ]; then problem="crashed (rc=$rc)"
  elif [ $rc -ne 0 ] && ! error_ok "m\.bin"; then problem="unclear error: $(tail -n 1 "$tmp/f.err")"
  elif [ $rc -eq 0 ] && ! { cmp -s "$tmp/tr/m.bin" "$tmp/mref.bin" && history "$tmp/tr/m.bin.ckpt" | cmp -s - "$tmp/ckref.csv"; }; then
    problem="exit 0 with another model or checkpoint than the reference"
  elif [ -e "$tmp/tr/m.bin" ] && ! "$cli" chroma "$tmp/short.wav" -o "$tmp/tr/check.npy" --model "$tmp/tr/m.bin" 2>"$tmp/s.err"; then
    problem="the model left behind does not load: $(cat "$tmp/s.err")"
  elif [ -e "$tmp/tr/m.bin.ckpt" ] && ! "$cli" train --history "$tmp/tr/m.bin.ckpt" >/dev/null 2>"$tmp/s.err"; then
    problem="the checkpoint left behind does not load: $(cat "$tmp/s.err")"
  elif ! no_temp_files "$tmp/tr"; then problem="temporary file left: $(find "$tmp/tr" -name '*.tmp.*')"
  fi
  [ -n "$problem" ] && { echo "FAIL $what: $problem"; bad=$((bad + 1)); }
done
summary "train with each of its $k file calls failing (model and checkpoint left behind load)" $runs $bad
# After a failed checkpoint write, --resume continues from the last good one.
ck=$(grep -E '^[0-9]+ write .*/m\.bin\.ckpt\.tmp\.' "$tmp/c.log" | tail -n 1 | cut -d' ' -f1)
if [ -n "$ck" ]; then
  rm -rf "$tmp/tr"; mkdir -p "$tmp/tr"
  faulty "$ck" ENOSPC 0 train "$cli"
  if train "$cli" --resume 2>"$tmp/r.err" && cmp -s "$tmp/tr/m.bin" "$tmp/mref.bin"; then ok "train --resume after a failed checkpoint write gives the reference model"
  else fail "train --resume after a failed checkpoint write: $(tail -n 1 "$tmp/r.err")"; fi
fi

# ---------------------------------------------------------------- read-only database folder
mkdir -p "$tmp/ro"; cp "$tmp/db0.lmdb" "$tmp/ro/f.lmdb"; chmod 555 "$tmp/ro"
as_user=()
ro_cli="$cli"
if [ "$(id -u)" -eq 0 ]; then  # root writes anywhere: run these two as nobody, with a copy of the CLI
  if command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
    as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups); chmod 755 "$tmp"
    ro_cli="$tmp/leitmotif"; cp "$cli" "$ro_cli"; chmod 755 "$ro_cli"
  else as_user=(skip); fi
fi
if [ "${as_user[0]:-}" = skip ]; then skip "read-only folder: running as root without setpriv"
else
  if "${as_user[@]}" "$ro_cli" search "$tmp/ro/f.lmdb" "$theme" >/dev/null 2>"$tmp/s.err"; then ok "search in a read-only folder"
  else fail "search in a read-only folder: $(cat "$tmp/s.err")"; fi
  expect_error_last "index into a read-only folder says why" "f\.lmdb.*(permission denied|read-only)" \
    "${as_user[@]}" "$ro_cli" index "$tmp/ro/f.lmdb" "$tmp/b.wav" --features stft
  cmp -s "$tmp/ro/f.lmdb" "$tmp/db0.lmdb" && ok "read-only folder: database unchanged" || fail "read-only folder: database changed"
  no_temp_files "$tmp/ro" && ok "read-only folder: no temporary file" || fail "read-only folder: temporary file left"
fi
chmod 755 "$tmp/ro"

# ---------------------------------------------------------------- a really full file system
# A 32 KiB tmpfs in a private mount namespace: the database of a 60 s recording (72 KiB of
# features) does not fit.
sox -n -r 22050 -c 1 -b 16 "$tmp/long.wav" synth 60 sine 330 2>/dev/null
mkdir -p "$tmp/full"
cat >"$tmp/full.sh" <<EOF
set -u
mount -t tmpfs -o size=32k tmpfs "$tmp/full" || exit 77
cp "$tmp/db0.lmdb" "$tmp/full/f.lmdb"
"$cli" index "$tmp/full/f.lmdb" "$tmp/long.wav" --features stft >"$tmp/full.out" 2>"$tmp/full.err"; echo \$? >"$tmp/full.rc"
cmp -s "$tmp/full/f.lmdb" "$tmp/db0.lmdb" && echo same >"$tmp/full.same"
"$cli" search "$tmp/full/f.lmdb" "$theme" >/dev/null 2>&1 && echo ok >"$tmp/full.search"
ls "$tmp/full" >"$tmp/full.ls"
df -k "$tmp/full" | tail -n 1 >"$tmp/full.df"
EOF
if unshare -rm true 2>/dev/null; then
  unshare -rm bash "$tmp/full.sh"; urc=$?
  if [ $urc -eq 77 ]; then skip "full file system: cannot mount a tmpfs in a user namespace"
  else
    rc=$(cat "$tmp/full.rc" 2>/dev/null || echo none)
    if [ "$rc" != none ] && [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && tail -n 1 "$tmp/full.err" | grep -q "No space left on device"; then
      ok "index onto a full file system: exit $rc, $(tail -n 1 "$tmp/full.err")"
    else fail "index onto a full file system: rc=$rc: $(tail -n 2 "$tmp/full.err" 2>/dev/null)"; fi
    [ -f "$tmp/full.same" ] && [ -f "$tmp/full.search" ] && ok "full file system: the old database is intact and searchable" ||
      fail "full file system: the old database was changed or does not open"
    grep -q '\.tmp\.' "$tmp/full.ls" && fail "full file system: temporary file left ($(cat "$tmp/full.ls"))" ||
      ok "full file system: no temporary file left (space is given back)"
  fi
else skip "full file system: user namespaces are not available (unshare -rm)"; fi

faults_exit
