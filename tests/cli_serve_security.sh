#!/usr/bin/env bash
# `leitmotif serve` against hostile clients: each is answered with the right 4xx (or cut off) while
# the server stays up; run under the sanitizer build too, where any memory error fails the test.
# Path traversal (plain, percent-encoded, double-encoded), files not in the database, oversize
# uploads (413), malformed MIDI uploads, a 10 000-note theme, a client sending one byte per second
# (408 after --timeout), 1000 idle connections. Args: CLI SHARED_DIR SOURCE_DIR
set -u
cli="$1"; shared="${2:-}"; src="${3:-}"
work="$(mktemp -d /tmp/lm_cli_serve_sec.XXXXXX)"
trap 'kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
pid=""
. "$src/tests/web/common.sh"
need_tools curl python3
clients="$src/tests/web/clients.py"

# A database of one recording, in a folder that holds another audio file and a secret.
make_ref_db "$work/ref.lmdb"
mkdir -p "$work/audio"
cp "$ref_audio/Beethoven_Op002-2-01_Pitman.wav" "$work/audio/indexed.wav"
cp "$ref_audio/Beethoven_Op067-01_DavidHighSchool.wav" "$work/audio/not_indexed.wav"
echo "secret" >"$work/audio/secret.txt"
"$cli" index "$work/db.lmdb" "$work/audio/indexed.wav" --features stft >/dev/null 2>&1 || { echo "FAIL index"; exit 1; }
start_server "$work/db.lmdb" --max-upload 65536 --timeout 3 --idle-timeout 2

# ---- path traversal: never a file outside the database, always 4xx
for u in "/audio/../../etc/passwd" "/audio/..%2f..%2f..%2fetc%2fpasswd" "/audio/%2e%2e%2f%2e%2e%2fetc%2fpasswd" \
         "/audio/%252e%252e%252f%252e%252e%252fetc%252fpasswd" "/audio/%25252e%25252e%25252fetc%25252fpasswd" \
         "/audio/..%5c..%5cetc%5cpasswd" "/audio/%2fetc%2fpasswd" "/audio/.." "/audio/%2e%2e" "/audio/" \
         "/audio/indexed%00.wav" "/audio/indexed/../../../etc/passwd" "/../../../../etc/passwd" \
         "/%2e%2e/%2e%2e/%2e%2e/etc/passwd" "/%252e%252e/%252e%252e/etc/passwd" "/..%2f..%2fetc%2fpasswd" \
         "/web/../CMakeLists.txt" "/index.html/../../CMakeLists.txt" "/./app.js/.." "//etc/passwd" \
         "/api/figure?doc=../../etc/passwd&theme=C4" "/api/figure?doc=%2e%2e%2fsecret&theme=C4"; do
  http GET "$base$u"
  want "traversal $u" "4.."
  if grep -q "root:\|secret\|cmake_minimum" "$work/body"; then bad "traversal $u leaked a file"; fi
done
# curl without --path-as-is would squash ../; also send them raw on the socket.
printf 'GET /audio/../../../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >"$work/raw1"
r=$(python3 "$clients" raw "$port" "$work/raw1"); expect "raw ../ request" "$r" "status=4[0-9][0-9]"
printf 'GET /audio/%%2e%%2e/%%2e%%2e/etc/passwd HTTP/1.0\r\n\r\n' >"$work/raw2"
r=$(python3 "$clients" raw "$port" "$work/raw2"); expect "raw HTTP/1.0 encoded request" "$r" "status=4[0-9][0-9]"
server_up "path traversal"

# ---- malformed requests
printf 'GARBAGE\r\n\r\n' >"$work/raw3"
r=$(python3 "$clients" raw "$port" "$work/raw3"); expect "garbage request line" "$r" "status=(4[0-9][0-9]|none)"
printf 'GET / HTTP/1.1\r\n\r\n' >"$work/raw4"
r=$(python3 "$clients" raw "$port" "$work/raw4"); expect "HTTP/1.1 without Host" "$r" "status=400"
python3 -c "import sys; sys.stdout.write('GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ' + 'a' * 40000 + '\r\n\r\n')" >"$work/raw5"
r=$(python3 "$clients" raw "$port" "$work/raw5"); expect "40 KB header" "$r" "status=4[0-9][0-9]"
python3 -c "import sys; sys.stdout.write('GET /' + 'a' * 40000 + ' HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')" >"$work/raw6"
r=$(python3 "$clients" raw "$port" "$work/raw6"); expect "40 KB URL" "$r" "status=414"
printf 'POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n' >"$work/raw7"
r=$(python3 "$clients" raw "$port" "$work/raw7"); expect "bad chunk size" "$r" "status=(4[0-9][0-9]|none)"
server_up "malformed requests"

# ---- files that are not in the database
for id in not_indexed secret secret.txt indexed.wav db ref "$(basename "$work")" passwd; do
  http GET "$base/audio/$id"
  want "not in the database: $id" 404
done
http GET "$base/audio/indexed"
want "the registered recording" 200
server_up "files not in the database"

# ---- uploads over the limit: 413 (Content-Length, multipart, chunked without a length)
head -c 200000 /dev/urandom >"$work/big.bin"
http POST "$base/api/search" --data-binary "@$work/big.bin"
want "oversize raw upload" 413
http POST "$base/api/search" -F "file=@$work/big.bin"
want "oversize multipart upload" 413
http POST "$base/api/search" -H "Transfer-Encoding: chunked" --data-binary "@$work/big.bin"
want "oversize chunked upload (no Content-Length)" 413
# A client that sends the whole body before it reads: the server reads and drops what is over the
# limit, then answers, instead of closing with the bytes unread (the kernel would reset the
# connection and the client could lose the 413).
{ printf 'POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n'
  printf 'Content-Length: 4000000\r\n\r\n'; head -c 4000000 /dev/zero; } >"$work/raw_big"
for i in 1 2 3; do
  r=$(python3 "$clients" raw "$port" "$work/raw_big"); expect "4 MB upload sent whole before reading ($i)" "$r" "status=413"
done
# A client that waits for "100 Continue" is answered at once and sends nothing.
http POST "$base/api/search" -H "Expect: 100-continue" --data-binary "@$work/big.bin"
want "oversize upload with Expect: 100-continue" 413
http POST "$base/api/search" -H "Content-Length: 99999999999999999999" --data-binary "x"
want "absurd Content-Length" "4.."
# Random bytes after an 'x', which no theme format starts with: random bytes alone began with '<'
# (read as MusicXML, 400) about once in 256 runs.
{ printf 'x'; head -c 59999 /dev/urandom; } >"$work/fits.bin"
http POST "$base/api/search" --data-binary "@$work/fits.bin" -H "Content-Type: application/octet-stream"
want "upload within the limit but not a theme" 415
http POST "$base/api/search" --data-binary "@$work/fits.bin"
want "random bytes as a form" 400
server_up "oversize uploads"

# ---- malformed MIDI (and other) uploads
python3 - "$work" <<'EOF'
import os, struct, sys, random
w = sys.argv[1]
def chunk(t, d): return t + struct.pack('>I', len(d)) + d
hdr = chunk(b'MThd', struct.pack('>HHH', 0, 1, 480))
track = b'\x00\x90\x3c\x40\x83\x60\x80\x3c\x00\x00\xff\x2f\x00'
good = hdr + chunk(b'MTrk', track)
cases = {
  'truncated_header': b'MThd\x00\x00\x00\x06\x00',
  'header_only': hdr,
  'huge_track_length': hdr + b'MTrk\xff\xff\xff\xf0' + track,
  'truncated_track': good[:-5],
  'bad_running_status': hdr + chunk(b'MTrk', b'\x00\x3c\x40\x00\xff\x2f\x00'),
  'huge_varlen': hdr + chunk(b'MTrk', b'\xff\xff\xff\xff\xff\x90\x3c\x40'),
  'meta_overflow': hdr + chunk(b'MTrk', b'\x00\xff\x51\xff\xff\xff\xff\x7f'),
  'sysex_overflow': hdr + chunk(b'MTrk', b'\x00\xf0\xff\xff\xff\x7f\x01'),
  'zero_division': chunk(b'MThd', struct.pack('>HHH', 0, 1, 0)) + chunk(b'MTrk', track),
  'no_notes': hdr + chunk(b'MTrk', b'\x00\xff\x2f\x00'),
  'many_tracks': chunk(b'MThd', struct.pack('>HHH', 1, 65535, 480)) + chunk(b'MTrk', track),
  'smpte_division': chunk(b'MThd', struct.pack('>HHH', 0, 1, 0xE728)) + chunk(b'MTrk', track),
}
random.seed(7)
for i in range(6):
    b = bytearray(good * 3)
    for _ in range(8): b[random.randrange(14, len(b))] = random.randrange(256)
    cases['flipped%d' % i] = bytes(b)
for name, data in cases.items():
    open(os.path.join(w, 'bad_%s.mid' % name), 'wb').write(data)
open(os.path.join(w, 'empty.mid'), 'wb').write(b'')
open(os.path.join(w, 'text.mid'), 'wb').write(b'this is not a MIDI file\n')
open(os.path.join(w, 'bad.musicxml'), 'wb').write(b'<?xml version="1.0"?><score-partwise><part><measure><note>')
open(os.path.join(w, 'bad.krn'), 'wb').write(b'**kern\n4c\n4q\n*-\n')
EOF
for f in "$work"/bad_*.mid; do
  name=$(basename "$f")
  http POST "$base/api/search" -F "file=@$f"
  want "malformed MIDI $name" "200|400"   # a flipped byte may still leave a readable file
  [ "$code" = 200 ] && echo "     ($name was still readable)"
  http POST "$base/api/figure?doc=indexed" --data-binary "@$f"
  want "malformed MIDI $name (figure)" "200|400"
done
http POST "$base/api/search" -F "file=@$work/bad_header_only.mid"
want "MIDI header without tracks" 400
expect "explained" "$body" '"error": "the uploaded MIDI file cannot be read: '
http POST "$base/api/search" -F "file=@$work/empty.mid"
want "empty upload" 400
http POST "$base/api/search" -F "file=@$work/text.mid"
want "not a MIDI file" 415
http POST "$base/api/search" -F "file=@$work/bad.musicxml"
want "malformed MusicXML" 400
http POST "$base/api/search" -F "file=@$work/bad.krn"
want "malformed kern" 400
http POST "$base/api/search" -H "Content-Type: multipart/form-data" --data-binary "@$work/text.mid"
want "multipart without a boundary" 400
printf -- '--XX\r\nContent-Disposition: form-data; name="file"; filename="a.mid"\r\n\r\nMThd' >"$work/cut_form"
http POST "$base/api/search" -H "Content-Type: multipart/form-data; boundary=XX" --data-binary "@$work/cut_form"
want "multipart cut off" "400|415"
http POST "$base/api/search" -F "file=@$work/bad_truncated_track.mid" -F "file=@$work/bad_truncated_track.mid"
want "two files" 400
http POST "$base/api/search" -F "evil=1" -F "file=@$work/bad_truncated_track.mid"
want "unknown form field" 400
server_up "malformed uploads"

# ---- a 10 000-note theme: too long for the URL (414) or for the server's limit (400)
python3 -c "print(' '.join(['C4', 'D4', 'E4', 'F4'] * 2500))" >"$work/long.txt"
http GET "$base/api/search" -G --data-urlencode "theme@$work/long.txt"
want "10 000-note theme in the URL" "414|400"
http POST "$base/api/search" --data-urlencode "theme@$work/long.txt"
want "10 000-note theme in a form" 400
expect "limit named" "$body" "at most 2000"
http POST "$base/api/search" --data-urlencode "theme@$work/long.txt" -d duration=5
want "10 000-note theme squeezed into 5 s" 400
python3 -c "print(' '.join(['C4:0.001'] * 1900))" >"$work/short_notes.txt"
http POST "$base/api/search" --data-urlencode "theme@$work/short_notes.txt"
want "1900 notes of 1/1000 beat" "200|400"
python3 - "$work/long.mid" <<'EOF'
import struct, sys
ev = b'\x00\x90\x3c\x40\x30\x3c\x00'   # then running status: note on, note "on" at velocity 0
for i in range(1, 10000):
    ev += b'\x00' + bytes([60 + i % 12]) + b'\x40' + b'\x30' + bytes([60 + i % 12]) + b'\x00'
ev += b'\x00\xff\x2f\x00'
d = b'MThd' + struct.pack('>IHHH', 6, 0, 1, 480) + b'MTrk' + struct.pack('>I', len(ev)) + ev
open(sys.argv[1], 'wb').write(d)
EOF
http POST "$base/api/search" -F "file=@$work/long.mid"
want "10 000-note MIDI theme" 400
server_up "10 000-note themes"

# ---- a client sending one byte per second: 408 after --timeout 3, others served meanwhile
python3 "$clients" slowloris "$port" 15 >"$work/slow.out" &
slow=$!
sleep 1
http GET "$base/api/search" -G --data-urlencode "theme=G4 G4 G4 Eb4:4"
want "search while a slow client dribbles" 200
wait $slow
r=$(cat "$work/slow.out")
expect "slow client answered 408 and cut off" "$r" "status=408 closed=1"
after=$(sed -E 's/.*after=([0-9.]+).*/\1/' <<<"$r")
python3 -c "import sys; sys.exit(0 if 2.5 <= float('$after') <= 9 else 1)" && ok "cut off after about 3 s ($after s)" || bad "slow client cut after $after s"
server_up "a slow client"

# ---- 1000 idle connections: the server keeps answering, and closes them after --idle-timeout
r=$(python3 "$clients" idle "$port" 1000 "/api/search?theme=G4+G4+G4+Eb4:4&top=1")
echo "     ($r)"
expect "search answered while 1000 connections idle" "$r" "probe=200"
probe=$(sed -E 's/.*probe_sec=([0-9.]+).*/\1/' <<<"$r")
python3 -c "import sys; sys.exit(0 if float('$probe') < 10 else 1)" && ok "promptly ($probe s)" || bad "probe took $probe s"
expect "idle connections closed by the server" "$r" "closed_by_server=1000"
server_up "1000 idle connections"

stop_server
exit $fails
