#!/usr/bin/env bash
# `leitmotif index` on a folder of good, damaged, clashing and non-audio files: the good ones
# are indexed, every bad one is named on stderr, the exit status tells. Audio is made with
# sox (skipped, exit 77, without it). Args: CLI SHARED_DIR SOURCE_DIR
set -u
cli="$1"
command -v sox >/dev/null || { echo "SKIP: sox not installed (scripts/setup.sh installs it)"; exit 77; }
work="$(mktemp -d /tmp/lm_cli_audio.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails+1)); }
# run NAME EXPECTED_RC CMD... : runs CMD, keeps stdout in $out and stderr in $err
run() {
  local name="$1" want="$2"; shift 2
  "$@" >"$work/out" 2>"$work/err"; rc=$?
  out="$(cat "$work/out")"; err="$(cat "$work/err")"
  if [ "$want" = "$rc" ]; then ok "$name"; else bad "$name (rc=$rc, want $want): $err"; fi
}
expect() { # expect NAME TEXT PATTERN
  if printf '%s' "$2" | grep -qE -- "$3"; then ok "$1"; else bad "$1: '$3' not in: $2"; fi
}
reject() { # reject NAME TEXT PATTERN
  if printf '%s' "$2" | grep -qE -- "$3"; then bad "$1: '$3' in: $2"; else ok "$1"; fi
}
formats="$(sox -h 2>&1 | grep 'AUDIO FILE FORMATS')"
has() { [[ " $formats " == *" $1 "* ]]; }
# Overwrites COUNT bytes at OFFSET of FILE with 0xff (in place).
damage() { head -c "$3" /dev/zero | tr '\0' '\377' | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

m="$work/music"
mkdir -p "$m/sub"
sox -n -r 44100 -c 2 -b 16 "$m/good.wav" synth 4 sine 440 vol 0.3
sox -n -r 44100 -c 1 "$m/theme.flac" synth 4 sine 523.25 vol 0.3       # a collision pair:
sox -n -r 22050 -c 1 "$m/theme.wav" synth 4 sine 330 vol 0.3           # both have the id 'theme'
sox -n -r 48000 -c 2 "$m/broken.flac" synth 10 sine 440 whitenoise vol 0.3
size=$(stat -c %s "$m/broken.flac")
damage "$m/broken.flac" $((size / 3)) 64                                 # decodes only in part
printf 'version https://git-lfs.github.com/spec/v1\noid sha256:%064d\nsize 5000000\n' 0 >"$m/sub/pointer.mp3"
: >"$m/sub/empty.wav"
echo "not audio" >"$m/notes.txt"
cp "$m/good.wav" "$m/voice.spx"                                          # Speex: libsndfile cannot read it
extra=""
if has ogg; then sox -n -r 44100 -c 2 "$m/sub/vorbis.ogg" synth 4 sine 660 vol 0.3; extra="$extra vorbis"; fi
if has mp3; then
  sox -n -r 44100 -c 2 "$m/sub/song.mp3" synth 6 sine 440 whitenoise vol 0.3
  cp "$m/sub/song.mp3" "$m/sub/damaged.mp3"
  size=$(stat -c %s "$m/sub/damaged.mp3")
  damage "$m/sub/damaged.mp3" $((size / 2)) 400
  extra="$extra song damaged"
else
  echo "note: sox cannot write MP3 here; MP3 cases not tested"
fi

db="$work/db.lmdb"
run "index a folder with bad files: some skipped (exit 3)" 3 "$cli" index "$db" "$m" --features stft
expect "collision named, first in byte order kept" "$err" \
  "warning: 2 files have the document id 'theme': indexing .*/theme\.flac, skipping .*/theme\.wav"
expect "LFS pointer named" "$err" "skipping .*sub/pointer\.mp3: is a Git LFS pointer"
expect "empty file named" "$err" "skipping .*sub/empty\.wav: is empty"
expect "partly decoded FLAC named" "$err" "warning: .*broken\.flac: decoding stopped at [0-9.]+ s of 10\.00 s"
expect "non-audio files listed" "$err" "2 files not indexed \(not an audio format leitmotif reads, by name\): .*notes\.txt, .*voice\.spx"
expect "summary" "$err" "skipped \(1 for their id\)"
reject "no allocation overflow" "$err" "overflows"
# Every stderr line is ours (no raw decoder chatter from libmpg123).
while IFS= read -r line; do
  [[ "$line" == leitmotif:* ]] || bad "raw stderr line: $line"
done <<<"$err"
if [[ "$extra" == *damaged* ]]; then
  expect "damaged MP3 named" "$err" "warning: .*damaged\.mp3: "
  reject "damaged MP3 at most one warning" "$(grep -c 'damaged\.mp3' <<<"$err")" "^[2-9]"
fi
reject "valid files not warned about" "$err" "(good|theme|vorbis|song)\.[a-z0-9]+: "

run "search lists the indexed recordings" 0 "$cli" search "$db" "A4 A4 A4" --top 0 --json
for id in good theme broken $extra; do expect "indexed: $id" "$out" "\"id\": \"$id\""; done
expect "theme is theme.flac" "$out" "\"id\": \"theme\", \"path\": \"[^\"]*/theme\.flac\""
for id in pointer empty notes voice; do reject "not indexed: $id" "$out" "\"id\": \"$id\""; done

# Again: nothing recomputed, the same files skipped.
run "rerun recomputes nothing" 3 "$cli" index "$db" "$m"
expect "rerun summary" "$err" "0 added, [0-9]+ already there"

# Only bad files: nothing can be indexed, exit 1 and no database.
mkdir -p "$work/bad"
cp "$m/sub/pointer.mp3" "$m/sub/empty.wav" "$work/bad/"
run "only bad files: exit 1" 1 "$cli" index "$work/bad.lmdb" "$work/bad" --features stft
expect "only bad files: said so" "$err" "no file could be indexed"
[ ! -e "$work/bad.lmdb" ] && ok "no database written" || bad "database written with nothing in it"

# A good file with a known length: exit 0, nothing to warn about.
run "all good: exit 0" 0 "$cli" index "$work/good.lmdb" "$m/good.wav" --features stft
reject "all good: no warning" "$err" "warning"
exit $fails
