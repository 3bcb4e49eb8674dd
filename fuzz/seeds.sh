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
  # A very short MP3 whose LAME tag states more delay and padding than it holds (LAME 3.97 and
  # older wrote such tags): libsndfile decodes nothing, src/audio falls back to libmpg123. sox
  # writes no Info frame, so one is put in front. Its length is 3 mod 5: fuzz_audio names it .mp3.
  if [ -n "$py" ] && sox -n -r 24000 -c 2 "$tmp/short.mp3" synth 0.072 sine 440 2>/dev/null; then
    "$py" - "$tmp/short.mp3" "$d/lame397_short.mp3" <<'EOF'
import struct, sys
a = open(sys.argv[1], "rb").read()
n = a.count(b"\xff\xf3")  # MPEG-2 layer III frames (576 samples each at 24 kHz)
frame = bytearray(192)
frame[0:4] = bytes([0xFF, 0xF3, a[2] & 0xFD, a[3]])
x = 4 + (9 if (a[3] >> 6) == 3 else 17)  # after the side information (mono 9, stereo 17 bytes)
frame[x:x + 16] = b"Info" + struct.pack(">III", 0x0F, n, len(a) + 192)
lame = x + 120
frame[lame:lame + 9] = b"LAME3.97 "
delay, pad = 576, n * 576 + 300 - 576
frame[lame + 21:lame + 24] = bytes([delay >> 4, (delay & 15) << 4 | pad >> 8, pad & 255])
out = bytes(frame) + a
out += b"\0" * ((3 - len(out)) % 5)
open(sys.argv[2], "wb").write(out)
EOF
  fi
  # remove any that came out larger than the fuzzer's -max_len
  find "$d" -type f -size +16k -delete
else note "audio: sox not installed; no seeds"; fi

# ---------------------------------------------------------------- db (leitmotif index)
d="$out/db"; mkdir -p "$d"
if [ -n "$cli" ] && [ -x "$cli" ] && command -v sox >/dev/null; then
  sox -n -r 22050 -c 1 -b 16 "$tmp/a.wav" synth 0.5 sine 440 2>/dev/null
  sox -n -r 22050 -c 1 -b 16 "$tmp/bb.wav" synth 0.3 sine 523 2>/dev/null
  if LEITMOTIF_THREADS=1 "$cli" index "$tmp/two.lmdb" "$tmp/a.wav" "$tmp/bb.wav" --features stft --format 1 >/dev/null 2>&1 &&
     LEITMOTIF_THREADS=1 "$cli" index "$tmp/one.lmdb" "$tmp/bb.wav" --features stft --format 1 >/dev/null 2>&1; then
    for db in two one; do
      { printf '\001'; cat "$tmp/$db.lmdb"; } >"$d/$db.fixcrc"
      { printf '\000'; cat "$tmp/$db.lmdb"; } >"$d/$db.raw"
    done
  else note "db: leitmotif index failed; no seeds"; fi
  # Format 2 (byte 0 & 2): a 2-byte manifest length, the manifest, the one segment (fuzz/fuzz_db.c).
  if LEITMOTIF_THREADS=1 "$cli" index "$tmp/two2.db" "$tmp/a.wav" "$tmp/bb.wav" --features stft >/dev/null 2>&1 &&
     LEITMOTIF_THREADS=1 "$cli" remove "$tmp/two2.db" bb >/dev/null 2>&1; then
    m="$tmp/two2.db/MANIFEST"; n=$(wc -c <"$m")
    for b0 in 002 003; do
      { printf "\\$b0"; printf "\\$(printf %03o $((n % 256)))\\$(printf %03o $((n / 256)))"; cat "$m" "$tmp/two2.db/seg-0000000001.lmseg"; } >"$d/v2.$b0"
    done
  else note "db: leitmotif index (format 2) failed; no format-2 seeds"; fi
  # The same at precision u8 (compact features, one byte per value; the compaction leaves one segment).
  if LEITMOTIF_THREADS=1 "$cli" index "$tmp/u8.db" "$tmp/a.wav" "$tmp/bb.wav" --features stft --precision u8 >/dev/null 2>&1; then
    m="$tmp/u8.db/MANIFEST"; n=$(wc -c <"$m")
    for b0 in 002 003; do
      { printf "\\$b0"; printf "\\$(printf %03o $((n % 256)))\\$(printf %03o $((n / 256)))"; cat "$m" "$tmp/u8.db/seg-0000000001.lmseg"; } >"$d/u8.$b0"
    done
  else note "db: leitmotif index --precision u8 failed; no compact seeds"; fi
else note "db: needs the leitmotif CLI and sox; no seeds"; fi

# ---------------------------------------------------------------- musicxml, kern (the test scores)
mkdir -p "$out/musicxml" "$out/kern"
find "$here/tests/data/themes" -name '*.musicxml' -o -name '*.mxl' 2>/dev/null | while read -r f; do cp "$f" "$out/musicxml/"; done
find "$here/tests/data/themes" -name '*.krn' 2>/dev/null | while read -r f; do cp "$f" "$out/kern/"; done

# ---------------------------------------------------------------- http (raw requests to `leitmotif serve`)
# What the web page (web/app.js) and the API's users send: the page and its files, the live theme
# check, searches (every option), figures, uploads (multipart, urlencoded, raw body, chunked,
# 100-continue), byte ranges of recordings, pipelined requests, and some hostile ones. The
# target's database (fuzz/fuzz_http.c) has the recordings noise_a, planted and 'café "x"'.
if [ -n "$py" ]; then
  mkdir -p "$out/http"
  "$py" - "$out/http" "$here/tests/data/themes" <<'EOF'
import os, struct, sys
d, themes = sys.argv[1], sys.argv[2]
H = "Host: 127.0.0.1:8080\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
def get(path, extra="", method="GET", version="HTTP/1.1", host=H):
    return f"{method} {path} {version}\r\n{host}Accept: */*\r\n{extra}\r\n".encode()
def post(path, body, ctype, extra="", length=True):
    cl = f"Content-Length: {len(body)}\r\n" if length else ""
    return f"POST {path} HTTP/1.1\r\n{H}Content-Type: {ctype}\r\n{cl}{extra}\r\n".encode() + body
def multipart(fields, files, boundary="----geckoformboundary7d3b1c9a2f"):
    b = b""
    for k, v in fields:
        b += f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
    for name, data, ctype in files:
        b += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
              f"Content-Type: {ctype}\r\n\r\n").encode() + data + b"\r\n"
    return b + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
def midi(pitches):
    ev = b"\x00\xff\x51\x03\x07\xa1\x20"
    for p in pitches:
        ev += bytes([0, 0x90, p, 0x50, 0x83, 0x60, 0x80, p, 0])
    ev += b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(ev)) + ev
theme = "C4%20D4%20E4%20F4%20G4"
seeds = {
    "page": get("/", "Accept-Language: en-US,en;q=0.5\r\nConnection: keep-alive\r\n"),
    "app_js": get("/app.js", "Referer: http://127.0.0.1:8080/\r\n"),
    "favicon_head": get("/favicon.svg", method="HEAD"),
    "info": get("/api/info"),
    "theme_check": get(f"/api/theme?theme={theme}&tempo=120"),
    "theme_check_bad": get("/api/theme?theme=C4%20H9%3A-1"),
    "search": get(f"/api/search?top=10&theme={theme}"),
    "search_all_options": get(f"/api/search?top=5&transpose=any&duration=auto&occurrences=1&occ_threshold=0.05&theme={theme}"),
    "search_fixed": get("/api/search?top=3&duration=2.5&transpose=-3&theme=G4+G4+G4+Eb4%3A4"),
    "search_tempo": get("/api/search?tempo=90&theme=C4%3A0.5%20r%20D4&top=0"),
    "figure_svg": get(f"/api/figure?doc=planted&theme={theme}&format=svg"),
    "figure_png_full": get(f"/api/figure?doc=noise_a&theme={theme}&format=png&scale=1&kind=full&transpose=2"),
    "figure_utf8_id": get("/api/figure?doc=caf%C3%A9%20%22x%22&theme=C4%20E4&duration=1"),
    "audio_range": get("/audio/planted", "Range: bytes=0-99\r\n"),
    "audio_suffix": get("/audio/noise_a", "Range: bytes=-64\r\n"),
    "audio_head": get("/audio/noise_a", method="HEAD"),
    "audio_missing_file": get("/audio/caf%C3%A9%20%22x%22"),
    "pipelined": get("/api/info") + get(f"/api/theme?theme={theme}") + get("/audio/planted", "Range: bytes=40-\r\n"),
    "http10_no_host": b"GET /api/info HTTP/1.0\r\n\r\n",
    "traversal": get("/audio/..%2F..%2Fetc%2Fpasswd"),
    "nul_in_path": get("/audio/planted%00.wav"),
    "unknown_param": get(f"/api/search?theme={theme}&bogus=1"),
    "wrong_method": get("/api/info", method="DELETE"),
    "foreign_host": get("/api/info", host="Host: evil.example\r\n"),
    "form_urlencoded": post("/api/search?top=3", b"theme=C4+D4+E4&transpose=0", "application/x-www-form-urlencoded"),
    "raw_midi_body": post("/api/search?top=2", midi([60, 62, 64, 65, 67]), "application/octet-stream"),
    "too_big": post("/api/search", b"x", "text/plain", "Content-Length: 99999999\r\n", length=False),
    "expect_continue": post("/api/theme", b"theme=E4+F4", "application/x-www-form-urlencoded", "Expect: 100-continue\r\n"),
    "chunked": post("/api/theme", b"4\r\nMThd\r\n0\r\n\r\n", "application/octet-stream", "Transfer-Encoding: chunked\r\n", length=False),
}
body, ctype = multipart([], [("theme.mid", midi([67, 67, 67, 63]), "audio/midi")])
seeds["multipart_midi"] = post("/api/search?top=10&duration=auto", body, ctype, "Origin: http://127.0.0.1:8080\r\n")
body, ctype = multipart([("theme", "C4 D4")], [("theme.mid", midi([60]), "audio/midi")])
seeds["multipart_field_and_file"] = post("/api/figure?doc=planted", body, ctype)
for name, ctype in (("chausson_lc5077660_t2.krn", "application/octet-stream"), ("chausson_lc5077660_t2.mxl", "application/vnd.recordare.musicxml"),
                    ("debussy_sq8661306-1_t4.musicxml", "application/vnd.recordare.musicxml+xml")):
    path = os.path.join(themes, name)
    if os.path.exists(path):
        data = open(path, "rb").read()
        body, ct = multipart([], [(name, data, ctype)])
        seeds["multipart_" + name.rsplit(".", 1)[1]] = post("/api/search?duration=5", body, ct)
        if name.endswith(".krn"):
            seeds["raw_kern_body"] = post("/api/theme?duration=4", data, "text/plain")
for name, b in seeds.items():
    if len(b) <= 16384:
        open(os.path.join(d, name), "wb").write(b)
EOF
else note "http: python3 missing; no seeds"; fi

for t in "$out"/*/; do echo "fuzz/seeds: $(basename "$t"): $(ls "$t" | wc -l) seed(s)" >&2; done
