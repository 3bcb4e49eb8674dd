# Shared by the fault-injection tests (tests/cli_faults.sh, tests/cli_faults_db2.sh); sourced after
# $cli and $tmp are set and tests/lib/cli_common.sh is sourced. Exits 77 (skipped) when the
# LD_PRELOAD library tests/fault/faultinject.c (liblm_faultinject.so, beside the CLI) is not built
# or has no effect here. Sets $preload (the list for LD_PRELOAD) and $asan (the ASan runtime of a
# sanitizer build, else empty).
shim="$(cd "$(dirname "$cli")" && pwd)/liblm_faultinject.so"
[ -f "$shim" ] || { echo "SKIP: $shim not built (Linux only)"; exit 77; }

# An ASan build must have its runtime first in the preload list.
preload="$shim"
asan="$(ldd "$cli" 2>/dev/null | awk '/libasan/ {print $3; exit}')"
[ -n "$asan" ] && preload="$asan:$shim"
export ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"
LD_PRELOAD="$preload" LM_FAULT_LOG="$tmp/probe.log" "$cli" --help >/dev/null 2>&1
[ -f "$tmp/probe.log" ] || { echo "SKIP: LD_PRELOAD of $shim has no effect here"; exit 77; }

# counted LOG: the number of calls a run counted (LM_FAULT_LOG has one line per call).
counted() { wc -l <"$1" | tr -d ' '; }
# counting LOG CMD...: runs CMD once without a fault, logging its counted calls to LOG.
counting() { local log="$1"; shift; rm -f "$log"; LD_PRELOAD="$preload" LM_FAULT_LOG="$log" "$@"; }
# The errnos each N is tried with: both in a normal build; in a sanitizer build (4-5 times slower)
# one, alternating, so that every call still fails once there under ASan and UBSan.
modes() { if [ -z "$asan" ]; then echo "ENOSPC:1 EIO:0"; elif [ $(($1 % 2)) -eq 1 ]; then echo "ENOSPC:1"; else echo "EIO:0"; fi; }
# faulty N ERRNO STICKY CMD...: runs CMD with the N-th counted call failing; $tmp/f.err gets stderr.
faulty() {
  local n="$1" err="$2" sticky="$3"; shift 3
  rm -f "$tmp/f.log"
  LD_PRELOAD="$preload" LM_FAULT_AT="$n" LM_FAULT_ERRNO="$err" LM_FAULT_STICKY="$sticky" LM_FAULT_LOG="$tmp/f.log" \
    "$@" >"$tmp/f.out" 2>"$tmp/f.err"
}
# what failed in the last faulty run
failed_call() { grep -a ' FAILED$' "$tmp/f.log" | head -n 1 | cut -d' ' -f2-; }
# 0 if that was the fsync of a folder after a rename (not of a file: those are PATH.tmp.PID)
failed_dir_fsync() { local c; c="$(failed_call)"; [ "${c%% *}" = fsync ] && [[ "$c" != *.tmp.* ]]; }
# A failed folder fsync: the new file is complete and in place, but its rename is not durable yet.
# That is an error (exit non-zero, one line naming the file, saying so and why), with the new file
# left in place: nothing is lost.
dir_fsync_error_ok() { error_ok "$1" && tail -n 1 "$tmp/f.err" | grep -q "renamed into place, but syncing its folder"; }
# The error of a failed run: its last stderr line names the file (pattern $1) and says why.
error_ok() {
  local why="No space left on device|Input/output error|Cannot allocate memory"
  tail -n 1 "$tmp/f.err" | grep -E "^leitmotif: .*($why)" | grep -qE "$1"
}
no_temp_files() { ! find "$@" -name '*.tmp.*' 2>/dev/null | grep -q .; }
# Parts that cannot run here are counted; any makes the whole test "skipped" for ctest.
skipped=0
skip() { echo "SKIP $1"; skipped=$((skipped + 1)); }
summary() { # summary NAME RUNS BAD
  if [ "$2" -eq 0 ]; then fail "$1: no call was counted (is the library working?)"
  elif [ "$3" -eq 0 ]; then ok "$1: $2 runs, each failed cleanly or wrote a complete output"
  else fail "$1: $3 of $2 runs went wrong (above)"; fi
}
# The end of a fault test: failures, else parts skipped (77), else success.
faults_exit() {
  [ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
  [ $skipped -eq 0 ] || { echo "$skipped part(s) skipped: reported to ctest as skipped"; exit 77; }
  exit 0
}
