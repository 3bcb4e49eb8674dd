#!/usr/bin/env bash
# Makes the seed corpora of the fuzz targets in OUT/<target>/ from real files (../shared's
# corpus, reference models and golden .npy files when present; the repository's own model and
# test scores) and from small files made here (with python3, sox and the leitmotif CLI when they
# are there). Every seed is small (at most a few KiB); nothing is committed.
# Usage: fuzz/seeds.sh OUT [CLI]      (fuzz/run calls it; OUT is outside the repository)
set -eu  # no pipefail: "find | sort | head" pipelines end early by design
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: fuzz/seeds.sh OUT [CLI]}"
cli="${2:-}"
shared="$here/../shared"
mkdir -p "$out"
note() { echo "fuzz/seeds: $*" >&2; }
py="$(command -v python3 || true)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# ---------------------------------------------------------------- midi
d="$out/midi"; mkdir -p "$d"
if [ -d "$shared/corpus/themes" ]; then
  # the 24 smallest theme files of the corpus
  find "$shared/corpus/themes" -name '*.mid' -size -2k -printf '%s %p\n' | sort -n | head -n 24 |
    while read -r _ f; do cp "$f" "$d/"; done
else note "midi: no ../shared/corpus; hand-made files only"; fi
if [ -n "$py" ]; then
  "$py" - "$d" <<'EOF'
import struct, sys
d = sys.argv[1]
def vlq(n):
    b = [n & 0x7f]; n >>= 7
    while n: b.append(0x80 | (n & 0x7f)); n >>= 7
    return bytes(reversed(b))
def track(events):
    body = b"".join(vlq(dt) + ev for dt, ev in events) + b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + body
def smf(fmt, division, tracks):
    return b"MThd" + struct.pack(">IHHH", 6, fmt, len(tracks), division) + b"".join(tracks)
notes = []
for p in (67, 67, 67, 63):
    notes += [(0, bytes([0x90, p, 90])), (240, bytes([0x80, p, 0]))]
tempo = [(0, b"\xff\x51\x03\x07\xa1\x20"), (0, b"\xff\x58\x04\x04\x02\x18\x08"), (0, b"\xff\x03\x05Theme")]
open(f"{d}/fmt0.mid", "wb").write(smf(0, 480, [track(tempo + notes)]))
open(f"{d}/fmt1.mid", "wb").write(smf(1, 480, [track(tempo), track(notes), track([(0, b"\x99\x24\x40"), (100, b"\x89\x24\x00")])]))
# running status, chord (skyline), a tempo change mid-way, a sysex, note-on velocity 0 as note-off
rs = [(0, b"\x90\x3c\x50"), (0, b"\x40\x50"), (0, b"\x43\x50"), (480, b"\x3c\x00"), (0, b"\x40\x00"), (0, b"\x43\x00"),
      (0, b"\xf0\x03\x7e\x7f\xf7"), (0, b"\xff\x51\x03\x0f\x42\x40"), (0, b"\xb0\x07\x64"), (0, b"\x3e\x50"), (240, b"\x80\x3e\x00")]
open(f"{d}/running_status.mid", "wb").write(smf(0, 96, [track(rs)]))
# SMPTE division (25 fps, 40 ticks per frame)
open(f"{d}/smpte.mid", "wb").write(smf(0, 0xE728, [track(notes)]))
EOF
fi

# ---------------------------------------------------------------- notelist
d="$out/notelist"; mkdir -p "$d"
if [ -f "$here/examples/themes.txt" ]; then
  i=0
  grep -v '^#' "$here/examples/themes.txt" | cut -d'|' -f2 | while read -r line; do
    [ -n "$line" ] && printf '%s' "$line" >"$d/example$((i++)).txt"
  done
fi
printf 'G4 G4 G4 Eb4:4 F4 F4 F4 D4:4 r:2' >"$d/beethoven5.txt"
printf 'C#4:0.5 Dbb4 Fx3 r r:0.25 B#3 Cb5:1.5' >"$d/accidentals.txt"
printf 'r C-1 G9:0.01 r' >"$d/extremes.txt"

# ---------------------------------------------------------------- csv (themes, pairs, pieces)
d="$out/csv"; mkdir -p "$d"
if [ -f "$shared/corpus/themes.csv" ]; then
  head -n 4 "$shared/corpus/themes.csv" >"$d/themes.csv"
  head -n 4 "$shared/corpus/pieces.csv" >"$d/pieces.csv"
else note "csv: no ../shared/corpus; hand-made tables only"; fi
cat >"$d/pairs.csv" <<'EOF'
audio,start_sec,end_sec,pitch_classes,fold,license
melody.wav,0.000,2.000,C E G C,1,CC0-1.0
melody.wav,2.000,4.000,D F# A D,2,CC-BY-4.0
EOF
cat >"$d/pairs_piece.csv" <<'EOF'
theme_id,piece_id,start_sec,end_sec,theme,transposition,fold,query_midi
t1,p1,1.5,3.25,Bb Ab G,-2,3,
t2,p2,0,1,,0,1,t2.mid
EOF
printf 'theme_id,piece_id,fold,start_sec,end_sec,query_midi,transposition\r\n"a, ""quoted""",p,1,0,1.5,"x\r\ny.mid",0\r\n' >"$d/quoted.csv"
printf '\xef\xbb\xbfpiece_id,license\np1,CC0-1.0\np2,\n\n' >"$d/bom.csv"

# ---------------------------------------------------------------- model (FLATWEIGHTS)
d="$out/model"; mkdir -p "$d"
hdr() { { printf '\001'; head -c 4096 "$1"; } >"$d/$2"; }
[ -f "$here/models/leitmotif_default.bin" ] && hdr "$here/models/leitmotif_default.bin" default.hdr
if [ -d "$shared/reference/models" ]; then
  for m in v1_ctc_train345valid1 v2_ctc_train345valid1 bittner_melody2 bittner_multif0; do
    [ -f "$shared/reference/models/$m.bin" ] && hdr "$shared/reference/models/$m.bin" "$m.hdr"
  done
else note "model: no ../shared/reference/models; the repository's model only"; fi
[ -f "$here/models/leitmotif_default.bin" ] && { printf '\000'; head -c 700 "$here/models/leitmotif_default.bin"; } >"$d/raw_start"

# ---------------------------------------------------------------- checkpoint, hcqt_cache, npy (python3)
if [ -n "$py" ]; then
  mkdir -p "$out/checkpoint" "$out/hcqt_cache" "$out/npy"
  "$py" - "$out" <<'EOF'
import struct, sys, zlib
out = sys.argv[1]
# checkpoint: byte 0 odd = build a full checkpoint from the start of its state (trainer.c train_state)
state = struct.pack("<QiiiiqddI4x", 0x1234567890abcdef, 3, 0, 1, 0, 12, 1e-3, 2.5, 3) + struct.pack("<3d", 3.1, 2.9, 2.7)
open(f"{out}/checkpoint/state3", "wb").write(b"\x01" + state)
open(f"{out}/checkpoint/finished", "wb").write(b"\x01" + struct.pack("<QiiiiqddI4x", 7, 40, 9, 0, 1, 900, 1e-6, 0.5, 1) + struct.pack("<d", 0.7))
open(f"{out}/checkpoint/raw", "wb").write(b"\x00LMCKPT1\n" + state)
# hcqt_cache: byte 0 = 3 (fix the CRC; ask for the T the size gives)
for T in (2, 3):
    data = bytes((i * 37 + T) & 0xff for i in range(T * 216 * 6 * 2))
    entry = b"LMEXC1\n" + struct.pack("<QI4x", T, zlib.crc32(data)) + data
    open(f"{out}/hcqt_cache/T{T}", "wb").write(b"\x03" + entry)
# npy: every dtype, 0-3 dimensions, Fortran order, header version 2
def npy(descr, shape, payload, fortran=False, version=1):
    sh = "(" + "".join(f"{s}, " for s in shape).rstrip(" ") + ")" if len(shape) != 1 else f"({shape[0]},)"
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, sh)
    pre = 10 if version == 1 else 12
    pad = (64 - (pre + len(d) + 1) % 64) % 64
    h = (d + " " * pad + "\n").encode()
    lenf = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + lenf + h + payload
f4 = lambda n: struct.pack(f"<{n}f", *[i * 0.5 for i in range(n)])
seeds = {
    "f4_2d": npy("<f4", (12, 5), f4(60)),
    "f8_1d": npy("<f8", (7,), struct.pack("<7d", *range(7))),
    "i8_1d": npy("<i8", (3,), struct.pack("<3q", -1, 0, 1 << 40)),
    "i4_3d": npy("<i4", (2, 3, 4), struct.pack("<24i", *range(24))),
    "f4_fortran": npy("<f4", (3, 4), f4(12), fortran=True),
    "f4_scalar": npy("<f4", (), f4(1)),
    "f4_empty": npy("<f4", (0, 12), b""),
    "f4_v2": npy("<f4", (2, 2), f4(4), version=2),
}
for name, b in seeds.items():
    open(f"{out}/npy/{name}.npy", "wb").write(b)
EOF
else note "checkpoint, hcqt_cache, npy: python3 missing; no seeds"; fi
if [ -d "$shared/reference" ]; then
  find "$shared/reference/golden" "$shared/reference/sdtw" -maxdepth 1 -name '*.npy' -size -4k 2>/dev/null | sort | head -n 12 |
    while read -r f; do cp "$f" "$out/npy/$(basename "$f")"; done
fi

# ---------------------------------------------------------------- audio (sox)
d="$out/audio"; mkdir -p "$d"
if command -v sox >/dev/null; then
  mk() { local name="$1"; shift; sox -n "$@" "$d/$name" synth 0.06 sine 440 2>/dev/null || note "audio: sox could not make $name"; }
  mk s16_22050.wav -r 22050 -c 1 -b 16
  mk u8_8000_stereo.wav -r 8000 -c 2 -b 8
  mk s24_44100.wav -r 44100 -c 1 -b 24
  mk f32_16000.wav -r 16000 -c 1 -e floating-point -b 32
  mk ulaw_8000.wav -r 8000 -c 1 -e u-law
  mk alaw_8000.wav -r 8000 -c 1 -e a-law
  mk ima_adpcm.wav -r 11025 -c 1 -e ima-adpcm
  mk ms_adpcm.wav -r 11025 -c 2 -e ms-adpcm
  mk s16_96000_6ch.wav -r 96000 -c 6 -b 16
  mk s16_11025.aiff -r 11025 -c 1 -b 16
  mk s16_8000.au -r 8000 -c 1 -b 16
  mk s16_22050.flac -r 22050 -c 1 -b 16
  mk vorbis_22050.ogg -r 22050 -c 1
  # a truncated WAV (its header announces more data than there is)
  [ -f "$d/s16_22050.wav" ] && head -c 1500 "$d/s16_22050.wav" >"$d/truncated.wav"
  # remove any that came out larger than the fuzzer's -max_len
  find "$d" -type f -size +16k -delete
else note "audio: sox not installed; no seeds"; fi

# ---------------------------------------------------------------- db (leitmotif index)
d="$out/db"; mkdir -p "$d"
if [ -n "$cli" ] && [ -x "$cli" ] && command -v sox >/dev/null; then
  sox -n -r 22050 -c 1 -b 16 "$tmp/a.wav" synth 0.5 sine 440 2>/dev/null
  sox -n -r 22050 -c 1 -b 16 "$tmp/bb.wav" synth 0.3 sine 523 2>/dev/null
  if LEITMOTIF_THREADS=1 "$cli" index "$tmp/two.lmdb" "$tmp/a.wav" "$tmp/bb.wav" --features stft >/dev/null 2>&1 &&
     LEITMOTIF_THREADS=1 "$cli" index "$tmp/one.lmdb" "$tmp/bb.wav" --features stft >/dev/null 2>&1; then
    for db in two one; do
      { printf '\001'; cat "$tmp/$db.lmdb"; } >"$d/$db.fixcrc"
      { printf '\000'; cat "$tmp/$db.lmdb"; } >"$d/$db.raw"
    done
  else note "db: leitmotif index failed; no seeds"; fi
else note "db: needs the leitmotif CLI and sox; no seeds"; fi

# ---------------------------------------------------------------- musicxml, kern (the test scores)
mkdir -p "$out/musicxml" "$out/kern"
find "$here/tests/data/themes" -name '*.musicxml' -o -name '*.mxl' 2>/dev/null | while read -r f; do cp "$f" "$out/musicxml/"; done
find "$here/tests/data/themes" -name '*.krn' 2>/dev/null | while read -r f; do cp "$f" "$out/kern/"; done

for t in "$out"/*/; do echo "fuzz/seeds: $(basename "$t"): $(ls "$t" | wc -l) seed(s)" >&2; done
