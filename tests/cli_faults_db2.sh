#!/usr/bin/env bash
# Disk full and I/O errors while leitmotif writes a format-2 database (docs/database.md: a folder of
# immutable segments and a manifest replaced by temp+fsync+rename, under a writer lock), as
# tests/cli_faults.sh does for `chroma -o`, `index` into a format-1 file and `train`: the
# LD_PRELOAD library tests/fault/faultinject.c makes the N-th counted call (open for writing,
# write, flush, fsync, close, rename; mmap of a segment or format-1 file) fail, for every N up to
# the number of such calls of a run, with ENOSPC (sticky: the disk stays full) and with EIO (once)
# in a normal build, alternating between the two in a sanitizer build. The runs swept:
#   index   adding b and c to a database holding a, a commit after each (--commit-every 1e-6):
#           f32, and a --precision u8 database
#   remove  b from a database of a, b, c (three segments): a tombstone
#   compact that database (three segments and a tombstone) into one segment, as it is and with
#           --precision u8 (a conversion)
#   upgrade a format-1 file of a, b, c to a new format-2 database, as it is and --precision u8
# Each run must crash nowhere and exit non-zero with a last stderr line naming the database and
# saying why (or exit 0 with the complete result; a failed fsync of the folder after a rename is
# an error, except compact's last one, after it deleted the old segments, when everything is
# already durable); then the database must hold exactly the recordings of a committed state
# (before, after, or for index an intermediate commit: its `search --top 0` lists the same
# recordings with the same distances as a reference database of that state), pass `leitmotif
# check`, and hold no temporary file (*.tmp.*; an upgrade leaves no DB.tmp.PID folder). A segment
# that no manifest lists (the manifest's write failed after the segment's rename, or a
# compaction's commit failed before it deleted the old segments) is allowed: it is invisible and
# the next writer removes it (docs/database.md, "Crash semantics"), which is checked: after every
# run an `index` of another recording must take the writer lock and succeed, leaving exactly the
# segments its manifest lists and one more document (or, where a failed upgrade left no database,
# the upgrade must succeed when rerun). The source of an upgrade is never changed.
# Audio is synthesised with sox (stft features: no model): nothing from ../shared is needed.
# Debugging: ONLY=REGEX runs the sweeps whose names match, VERBOSE=1 prints every run's error,
# KEEP_TMP=1 keeps the scratch folder.
# Args: CLI SHARED_DIR SOURCE_DIR. Exit 77 when the library, sox or LD_PRELOAD is unavailable.
set -u
cli="$1"
command -v sox >/dev/null || { echo "SKIP: sox not installed (scripts/setup.sh installs it)"; exit 77; }
tmp="$(mktemp -d)"; [ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT; echo "tmp $tmp"
. "$(dirname "${BASH_SOURCE[0]}")/lib/cli_common.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/faults_common.sh"  # the shim, faulty, modes, error_ok, summary ...
export LEITMOTIF_THREADS=2 LEITMOTIF_PROGRESS=0

# ---------------------------------------------------------------- inputs and reference states
sox -n -r 22050 -c 1 -b 16 "$tmp/a.wav" synth 1.2 sine 440 2>/dev/null
sox -n -r 22050 -c 1 -b 16 "$tmp/b.wav" synth 1.0 sine 523 2>/dev/null
sox -n -r 16000 -c 2 -b 16 "$tmp/c.wav" synth 0.8 sine 659 2>/dev/null
sox -n -r 22050 -c 1 -b 16 "$tmp/d.wav" synth 0.6 sine 330 2>/dev/null || { fail "could not synthesise audio"; exit 1; }
theme="A4:0.5 C5:0.5"
# sig DB: the recordings of DB with their distances for the theme (no paths: comparable between folders)
sig() { "$cli" search "$1" "$theme" --top 0 2>"$tmp/s.err"; }
# docs DB / listed DB: documents and segments that `check DB` reports (it verifies every byte)
docs() { grep -o '[0-9]* documents' "$tmp/check.out" | cut -d' ' -f1; }
listed() { grep -o '[0-9]* segments\?,' "$tmp/check.out" | cut -d' ' -f1; }
check() { "$cli" check "$1" >"$tmp/check.out" 2>"$tmp/check.err"; }
seg_files() { find "$1" -name 'seg-*.lmseg' | wc -l | tr -d ' '; }

r="$tmp/ref"; mkdir -p "$r"
idx() { "$cli" index "$@" --threads 1 2>>"$tmp/ref.err" >/dev/null || fail "reference database: index $*: $(tail -n 1 "$tmp/ref.err")"; }
for p in f32 u8; do  # one segment per recording: a, a b, a b c
  idx "$r/a.$p" "$tmp/a.wav" --features stft --precision $p
  cp -a "$r/a.$p" "$r/ab.$p"; idx "$r/ab.$p" "$tmp/b.wav"
  cp -a "$r/ab.$p" "$r/abc.$p"; idx "$r/abc.$p" "$tmp/c.wav"
done
cp -a "$r/abc.f32" "$r/ac.f32"; "$cli" remove "$r/ac.f32" b 2>>"$tmp/ref.err" || fail "reference database: remove"
cp -a "$r/ac.f32" "$r/ac1.u8"; "$cli" compact "$r/ac1.u8" --precision u8 2>>"$tmp/ref.err" || fail "reference database: compact"
idx "$r/abc.lmdb" "$tmp/a.wav" "$tmp/b.wav" "$tmp/c.wav" --features stft --format 1
"$cli" upgrade "$r/abc.lmdb" "$r/up.u8" --precision u8 2>>"$tmp/ref.err" || fail "reference database: upgrade"
for d in a.f32 ab.f32 abc.f32 a.u8 ab.u8 abc.u8 ac.f32 ac1.u8 abc.lmdb up.u8; do
  sig "$r/$d" >"$r/$d.sig" && [ -s "$r/$d.sig" ] || fail "reference database $d: search: $(cat "$tmp/s.err")"
done
cmp -s "$r/ab.f32.sig" "$r/ab.u8.sig" && fail "reference databases: u8 and f32 give the same distances (the test cannot tell them apart)"
[ $fails -eq 0 ] || { echo "the reference databases could not be made"; exit 1; }

# ---------------------------------------------------------------- the sweep
# sweep NAME DB START CMD...: runs CMD (which writes the database DB) with each of its counted
# calls failing, each time starting from a fresh copy of the reference database START in $tmp/w
# (a format-1 file for upgrade, whose DB does not exist yet). The globals: states, the reference
# signatures of the committed states CMD may leave (the first before it, the last its complete
# result; "absent": no database); late_fsync_ok=1: a failed fsync of the folder as CMD's last
# counted call may exit 0 (compact's, after deleting the old segments).
sweep() {
  local name="$1" db="$2" start="$3"; shift 3
  [[ "$name" =~ ${ONLY:-.} ]] || return 0  # ONLY=REGEX: the sweeps whose names match (when debugging)
  local pat; pat="$(basename "$db" | sed 's/\./\\./g')"
  [ "$start" = abc.lmdb ] && pat="$pat|abc\.lmdb"  # upgrade: reading the source can fail too
  local to="$db"; [ "$start" = abc.lmdb ] && to="$tmp/w/abc.lmdb"
  prepare() { rm -rf "$tmp/w"; mkdir -p "$tmp/w"; cp -a "$r/$start" "$to"; }
  prepare
  counting "$tmp/c.log" "$@" >/dev/null 2>"$tmp/c.err" && sig "$db" | cmp -s - "${states[${#states[@]} - 1]}" ||
    { fail "$name: the run without faults: $(tail -n 1 "$tmp/c.err") $(cat "$tmp/s.err")"; return; }
  local k n m mode rc what problem state s before runs=0 bad=0 dir_runs=0
  k=$(counted "$tmp/c.log")
  for n in $(seq 1 "$k"); do
    for m in $(modes "$n"); do
      mode="${m%:*} ${m#*:}"
      prepare
      faulty "$n" $mode "$@"; rc=$?; runs=$((runs + 1))
      what="$name, call $n ($(failed_call)) fails with ${mode% *}"
      problem=""
      state=""
      if [ -e "$db" ]; then
        sig "$db" >"$tmp/now.sig" 2>/dev/null
        for s in "${states[@]}"; do [ "$s" != absent ] && cmp -s "$tmp/now.sig" "$s" && state="$s"; done
      else state=absent; for s in "${states[@]}"; do [ "$s" = absent ] && state=ok; done; fi
      failed_dir_fsync && dir_runs=$((dir_runs + 1))
      if [ $rc -ge 128 ]; then problem="crashed (rc=$rc)"
      elif [ $rc -ne 0 ] && ! error_ok "$pat"; then problem="unclear error: $(tail -n 1 "$tmp/f.err")"
      elif [ $rc -eq 0 ] && failed_dir_fsync && ! { [ "${late_fsync_ok:-0}" = 1 ] && [ "$n" -eq "$k" ]; }; then
        problem="exit 0 although a commit may not be durable"
      elif [ $rc -eq 0 ] && ! [ -e "$db" ] || { [ $rc -eq 0 ] && ! cmp -s "$tmp/now.sig" "${states[${#states[@]} - 1]}"; }; then
        problem="exit 0 without the complete result: $(cat "$tmp/now.sig" 2>/dev/null | tr '\n' '|')"
      elif [ -z "$state" ]; then problem="the database left behind is no committed state: $(cat "$tmp/now.sig" | tr '\n' '|') $(cat "$tmp/s.err")"
      elif [ "$state" = absent ]; then problem="the database is gone"
      elif [ -e "$db" ] && ! check "$db"; then problem="check fails: $(tail -n 1 "$tmp/check.err")"
      elif ! no_temp_files "$tmp/w"; then problem="temporary file left: $(find "$tmp/w" -name '*.tmp.*')"
      elif [ "$start" = abc.lmdb ] && ! cmp -s "$tmp/w/abc.lmdb" "$r/abc.lmdb"; then problem="the source was changed"
      elif [ -e "$db" ]; then  # the next writer takes the lock, adds d and removes what this run left
        before=$(docs)
        if ! "$cli" index "$db" "$tmp/d.wav" --threads 1 >/dev/null 2>"$tmp/n.err"; then problem="the next index fails: $(tail -n 1 "$tmp/n.err")"
        elif ! check "$db"; then problem="check after the next index fails: $(tail -n 1 "$tmp/check.err")"
        elif [ "$(docs)" -ne $((before + 1)) ]; then problem="the next index gave $(docs) documents, not $((before + 1))"
        elif [ "$(seg_files "$db")" -ne "$(listed)" ] || ! no_temp_files "$tmp/w"; then
          problem="the next index left files its manifest does not list: $(ls "$db" | tr '\n' ' ')"
        fi
      elif ! "$@" >/dev/null 2>"$tmp/n.err" || ! sig "$db" | cmp -s - "${states[${#states[@]} - 1]}"; then
        problem="rerun without faults: $(tail -n 1 "$tmp/n.err")"  # no database was left: the rerun makes it
      fi
      [ -n "$problem" ] && { echo "FAIL $what: $problem"; bad=$((bad + 1)); }
      [ -n "${VERBOSE:-}" ] && echo "     $what: rc=$rc: $(tail -n 1 "$tmp/f.err")"
    done
  done
  summary "$name with each of its $k file calls failing (a committed state left, check passes, the next writer works)" $runs $bad
  [ $dir_runs -gt 0 ] || fail "$name: no fsync of the folder was made to fail"
}

db="$tmp/w/f.db"
for p in f32 u8; do
  states=("$r/a.$p.sig" "$r/ab.$p.sig" "$r/abc.$p.sig")
  sweep "index adding 2 recordings to a format-2 $p database" "$db" "a.$p" \
    "$cli" index "$db" "$tmp/b.wav" "$tmp/c.wav" --commit-every 1e-6 --threads 1
done
states=("$r/abc.f32.sig" "$r/ac.f32.sig")
sweep "remove (a tombstone)" "$db" abc.f32 "$cli" remove "$db" b
states=("$r/ac.f32.sig")  # the same recordings and features before and after
late_fsync_ok=1 sweep "compact (3 segments and a tombstone into 1)" "$db" ac.f32 "$cli" compact "$db"
states=("$r/ac.f32.sig" "$r/ac1.u8.sig")
late_fsync_ok=1 sweep "compact --precision u8 (f32 to u8)" "$db" ac.f32 "$cli" compact "$db" --precision u8
states=(absent "$r/abc.lmdb.sig")
sweep "upgrade (format 1 to 2)" "$db" abc.lmdb "$cli" upgrade "$tmp/w/abc.lmdb" "$db"
states=(absent "$r/up.u8.sig")
sweep "upgrade --precision u8" "$db" abc.lmdb "$cli" upgrade "$tmp/w/abc.lmdb" "$db" --precision u8
faults_exit
