#!/usr/bin/env bash
# Distributed runs (docs/distributed.md): `mpirun --oversubscribe -np 3 leitmotif index|search|eval`
# must give what one process gives, byte for byte. On the corpus' --small subset when ../shared
# can render it, else on synthesised recordings (sox) and a theme MIDI written here.
# Skipped without mpirun or when the command was built without MPI. Args: CLI SHARED_DIR SOURCE_DIR
set -u
cli="$1"; shared="${2:-}"
command -v mpirun >/dev/null || { echo "SKIP: mpirun not found (Debian: openmpi-bin)"; exit 77; }
ldd "$cli" 2>/dev/null | grep -q libmpi || { echo "SKIP: $cli was built without MPI (-DLM_MPI=OFF or no libopenmpi-dev)"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 # CI runs as root
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none # one host, no network, works in containers
export LEITMOTIF_THREADS=1 LEITMOTIF_PROGRESS=0
# A sanitizer build (-DLM_SANITIZE=ON): leaks inside OpenMPI's own libraries are not reported
# (tests/mpi_lsan.supp). Its start-up memory is allocated by components it has unloaded since:
# only the slow unwinder sees the MPI frames below them that the suppressions name.
[ -n "${3:-}" ] && export LSAN_OPTIONS="suppressions=$3/tests/mpi_lsan.supp:fast_unwind_on_malloc=0:${LSAN_OPTIONS:-}"
mpi() { mpirun --oversubscribe -np 3 "$cli" "$@"; }
work="$(mktemp -d /tmp/lm_cli_mpi.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails+1)); }

corpus="$shared/corpus"
py=""
for cand in ${PYTHON:-} /usr/bin/python3 python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import mido, numpy' 2>/dev/null; then py="$cand"; break; fi
done
if [ -x "$corpus/render" ] && [ -f "$corpus/themes.csv" ] && command -v fluidsynth >/dev/null && [ -n "$py" ] &&
   "$corpus/render" --small --out "$work/small" >"$work/render.log" 2>&1; then
  audio="$work/small/audio"; themes="$corpus/themes.csv"
  theme="G4 G4 G4 Eb4:4 F4 F4 F4 D4:4"
  echo "data: the corpus' --small subset"
else
  command -v sox >/dev/null || { echo "SKIP: neither ../shared's corpus nor sox to make test audio"; exit 77; }
  audio="$work/audio"; mkdir -p "$audio"
  for i in 1 2 3 4 5 6 7; do # two-note motifs over a sustained tone, different per recording
    sox -n -r 22050 -c 1 "$audio/rec$i.wav" synth 0.6 sine $((200 + i * 37)) synth 0.6 sine $((300 + i * 23)) : \
      synth 0.5 sine $((440 + i * 11)) : synth 0.7 sine $((500 - i * 13)) repeat 2 2>/dev/null ||
      { echo "FAIL sox could not write test audio"; exit 1; }
  done
  # Type-0 MIDI of C4 E4 G4 A4, a beat each at 120 bpm (480 ticks per beat).
  printf 'MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x2f\x00\xff\x51\x03\x07\xa1\x20' >"$work/theme.mid"
  for p in 3c 40 43 45; do printf "\\x00\\x90\\x$p\\x50\\x83\\x60\\x80\\x$p\\x00" >>"$work/theme.mid"; done
  printf '\x00\xff\x2f\x00' >>"$work/theme.mid"
  themes="$work/themes.csv"
  printf 'theme_id,piece_id,fold,start_sec,end_sec,query_midi,transposition\n' >"$themes"
  for i in 1 2 3 4 5 6 7 8; do printf 't%d,rec%d,%d,0,2,theme.mid,0\n' "$i" "$i" $((i % 2 + 1)) >>"$themes"; done
  theme="C4 E4 G4 A4"
  echo "data: synthesised recordings"
fi

# ---- index: the same database content from 3 processes as from one
one="$work/one.lmdb"; three="$work/three.lmdb"
"$cli" index "$one" "$audio" --features stft >/dev/null 2>"$work/err1" || { echo "FAIL index (one process): $(cat "$work/err1")"; exit 1; }
if mpi index "$three" "$audio" --features stft >/dev/null 2>"$work/err3"; then ok "mpirun -np 3 index"; else bad "mpirun -np 3 index: $(cat "$work/err3")"; fi
grep -q "documents" "$work/err3" && [ "$(grep -c "documents$" "$work/err3")" -eq 1 ] && ok "index: one summary line (process 0's)" ||
  bad "index summary: $(cat "$work/err3")"
same() { # same NAME ARGS...: the command's stdout on DB one (one process) == on DB three (3 processes)
  local name="$1"; shift
  "$cli" "$@" >"$work/a" 2>"$work/ea"; local ra=$?
  mpi "$@" >"$work/b" 2>"$work/eb"; local rb=$?
  if [ "$ra" -eq 0 ] && [ "$rb" -eq 0 ] && [ -s "$work/a" ] && cmp -s "$work/a" "$work/b"; then ok "$name"
  else bad "$name (rc $ra / $rb): $(diff "$work/a" "$work/b" | head -5) $(head -c 300 "$work/eb")"; fi
}
for db in "$one" "$three"; do "$cli" search "$db" "$theme" --json --top 0 2>/dev/null | sed "s|$db|DB|" >"$db.json"; done
[ -s "$one.json" ] && cmp -s "$one.json" "$three.json" && ok "index: same documents and features (search --json --top 0)" ||
  bad "index: databases differ: $(diff "$one.json" "$three.json" | head -5)"
"$cli" eval "$one" --themes "$themes" --json 2>/dev/null >"$work/e1"; "$cli" eval "$three" --themes "$themes" --json 2>/dev/null | sed "s|$three|$one|" >"$work/e3"
[ -s "$work/e1" ] && cmp -s "$work/e1" "$work/e3" && ok "index: same eval of both databases" || bad "index: evals differ"
# adding to a database under mpirun: the files already there are kept, the others computed
first="$(ls "$audio" | head -3 | sed "s|^|$audio/|")"
# shellcheck disable=SC2086
"$cli" index "$work/add.lmdb" $first --features stft >/dev/null 2>&1
mpi index "$work/add.lmdb" "$audio" >/dev/null 2>"$work/erra"
grep -q ", 3 already there" "$work/erra" && ok "index adds to a database under mpirun" || bad "adding: $(cat "$work/erra")"
"$cli" search "$work/add.lmdb" "$theme" --json --top 0 2>/dev/null | sed "s|$work/add.lmdb|DB|" | cmp -s - "$one.json" &&
  ok "added database ranks as one made in one go" || bad "added database differs"

# ---- search and eval: byte-identical output
same "search (text)" search "$one" "$theme"
same "search --json --top 0" search "$one" "$theme" --json --top 0
same "search --top 2 --occurrences --json" search "$one" "$theme" --top 2 --occurrences --json
same "search --transpose any --occurrences" search "$one" "$theme" --transpose any --occurrences --top 0
same "search --transpose any --duration auto --exhaustive --json" search "$one" "$theme" --transpose any --duration auto --exhaustive --json
same "search of several themes --json" search "$one" "$theme" "C4 D4 E4 F4 G4:2" --top 3 --json
same "search of several themes --csv --occurrences" search "$one" "$theme" "C4 D4 E4 F4 G4:2" --top 3 --csv --occurrences
same "eval (text)" eval "$one" --themes "$themes"
same "eval --json" eval "$one" --themes "$themes" --json
same "eval --transpose any --exhaustive --json" eval "$one" --themes "$themes" --transpose any --exhaustive --json
"$cli" eval "$one" --themes "$themes" --top-ranks-out "$work/top1.csv" >/dev/null 2>&1
mpi eval "$one" --themes "$themes" --top-ranks-out "$work/top3.csv" >/dev/null 2>&1
[ -s "$work/top1.csv" ] && cmp -s "$work/top1.csv" "$work/top3.csv" && ok "eval --top-ranks-out: same file" || bad "eval --top-ranks-out differs"

# ---- errors: one process' message, a non-zero status, no hang
mpi search "$work/missing.lmdb" "$theme" >/dev/null 2>"$work/err"; rc=$?
[ "$rc" -ne 0 ] && grep -q "^leitmotif: .*missing.lmdb" "$work/err" && ok "search of a missing database fails (rc $rc)" ||
  bad "missing database: rc $rc: $(cat "$work/err")"
mpi search "$one" "$theme" --fuse "$one" >/dev/null 2>"$work/err"; rc=$?
[ "$rc" -ne 0 ] && grep -q "does not run under mpirun" "$work/err" && ok "--fuse refused under mpirun" || bad "--fuse: rc $rc: $(cat "$work/err")"
mpi eval "$one" --themes "$themes" --transpose any >/dev/null 2>"$work/err"; rc=$?
[ "$rc" -ne 0 ] && grep -q "only with --exhaustive" "$work/err" && ok "pruned variant eval refused under mpirun" ||
  bad "pruned eval: rc $rc: $(cat "$work/err")"
mpi check "$one" >/dev/null 2>"$work/err"; rc=$?
[ "$rc" -ne 0 ] && grep -q "only index, search and eval" "$work/err" && ok "other commands refused under mpirun" ||
  bad "check under mpirun: rc $rc: $(cat "$work/err")"
mpi index "$three" "$work/nothing-here" >/dev/null 2>"$work/err"; rc=$?
[ "$rc" -ne 0 ] && grep -q "nothing-here" "$work/err" && ok "index of a missing input fails, no process left waiting" ||
  bad "index of a missing input: rc $rc: $(cat "$work/err")"

[ "$fails" -eq 0 ] && echo "all distributed runs equal one process" || { echo "$fails failed"; exit 1; }
