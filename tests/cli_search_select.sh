#!/usr/bin/env bash
# `leitmotif search` with themes from score files and a selection (--part, --measures, --track,
# --voice), --tempo for score files, and --print-theme to see the notes that were read; then a
# search on synthesised recordings (stft features: no model, no ../shared) where the selection
# decides which recording ranks first. Args: CLI SHARED_DIR SOURCE_DIR
set -u
cli="$1"
command -v python3 >/dev/null || { echo "SKIP: python3 not found (it writes the test audio and files)"; exit 77; }
work="$(mktemp -d /tmp/lm_cli_search_select.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails+1)); }
run() { # run NAME EXPECTED_RC CMD...: stdout in $out, stderr in $err
  local name="$1" want="$2"; shift 2
  "$@" >"$work/out" 2>"$work/err"; rc=$?
  out="$(cat "$work/out")"; err="$(cat "$work/err")"
  if [ "$want" = "$rc" ]; then ok "$name"; else bad "$name (rc=$rc, want $want): $err"; fi
}
expect() { # expect NAME TEXT PATTERN
  if printf '%s' "$2" | grep -qE -- "$3"; then ok "$1"; else bad "$1: '$3' not in: $2"; fi
}
same() { # same NAME ACTUAL EXPECTED
  if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got [$2], expected [$3]"; fi
}
one_line() { # the error is one line starting with "leitmotif: "
  if [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [[ "$err" == leitmotif:* ]]; then ok "$1 (one-line error)"
  else bad "$1: error is not one line: $err"; fi
}
check() { # check NAME PYTHON-EXPRESSION-ON-d (the JSON in $out): prints OK or the reason
  local res
  res="$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); r=d.get('results'); print('OK' if ($2) else 'no: ' + json.dumps(d)[:600])" "$work/out" 2>&1)"
  [ "$res" = OK ] && ok "$1" || bad "$1: $res"
}
notes() { # the note lines of --print-theme (no comments), "onset duration name" on one line
  grep -v '^#' | awk '{ printf "%s%s %s %s", (NR > 1 ? " | " : ""), $1, $2, $3 }'
}

# A score of two parts at 120 quarter notes per minute (a quarter note = 0.5 s):
#   Flute (part 1): m. 1 C5 D5 E5 F5 (voice 1) over A4 B4 halves (voice 2), m. 2 G5 A5 B5 C6,
#                   m. 3 D6 half, half rest
#   Cello (part 2): C3, G2, C3 whole notes
cat >"$work/score.musicxml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="4.0">
  <part-list>
    <score-part id="P1"><part-name>Flute</part-name></score-part>
    <score-part id="P2"><part-name>Cello</part-name></score-part>
  </part-list>
  <part id="P1">
    <measure number="1">
      <attributes><divisions>1</divisions><time><beats>4</beats><beat-type>4</beat-type></time></attributes>
      <direction><direction-type><metronome><beat-unit>quarter</beat-unit><per-minute>120</per-minute></metronome></direction-type><sound tempo="120"/></direction>
      <note><pitch><step>C</step><octave>5</octave></pitch><duration>1</duration><voice>1</voice></note>
      <note><pitch><step>D</step><octave>5</octave></pitch><duration>1</duration><voice>1</voice></note>
      <note><pitch><step>E</step><octave>5</octave></pitch><duration>1</duration><voice>1</voice></note>
      <note><pitch><step>F</step><octave>5</octave></pitch><duration>1</duration><voice>1</voice></note>
      <backup><duration>4</duration></backup>
      <note><pitch><step>A</step><octave>4</octave></pitch><duration>2</duration><voice>2</voice></note>
      <note><pitch><step>B</step><octave>4</octave></pitch><duration>2</duration><voice>2</voice></note>
    </measure>
    <measure number="2">
      <note><pitch><step>G</step><octave>5</octave></pitch><duration>1</duration><voice>1</voice></note>
      <note><pitch><step>A</step><octave>5</octave></pitch><duration>1</duration><voice>1</voice></note>
      <note><pitch><step>B</step><octave>5</octave></pitch><duration>1</duration><voice>1</voice></note>
      <note><pitch><step>C</step><octave>6</octave></pitch><duration>1</duration><voice>1</voice></note>
    </measure>
    <measure number="3">
      <note><pitch><step>D</step><octave>6</octave></pitch><duration>2</duration><voice>1</voice></note>
      <note><rest/><duration>2</duration><voice>1</voice></note>
    </measure>
  </part>
  <part id="P2">
    <measure number="1">
      <attributes><divisions>1</divisions><time><beats>4</beats><beat-type>4</beat-type></time></attributes>
      <note><pitch><step>C</step><octave>3</octave></pitch><duration>4</duration><voice>1</voice></note>
    </measure>
    <measure number="2">
      <note><pitch><step>G</step><octave>2</octave></pitch><duration>4</duration><voice>1</voice></note>
    </measure>
    <measure number="3">
      <note><pitch><step>C</step><octave>3</octave></pitch><duration>4</duration><voice>1</voice></note>
    </measure>
  </part>
</score-partwise>
EOF
# The same score in **kern (without the flute's second voice; the cello spine on the left).
printf '%s\n' '**kern	**kern' '*I"Cello	*I"Flute' '*MM120	*MM120' '*M4/4	*M4/4' \
  '=1	=1' '1C	4cc' '.	4dd' '.	4ee' '.	4ff' '=2	=2' '1GG	4gg' '.	4aa' '.	4bb' '.	4ccc' \
  '=3	=3' '1C	2ddd' '.	2r' '==	==' '*-	*-' >"$work/score.krn"

# The MusicXML compressed (.mxl); a type-1 MIDI file of two named tracks, 480 ticks per quarter
# note, 120 quarter notes per minute, then 60 from the third quarter note on:
#   track 1 "Melody": E5 F5 quarters, G5 half (0-0.5, 0.5-1, 1-3 s)
#   track 2 "Bass":   C3 half, D3 half (0-1, 1-3 s)
# and recordings (22050 Hz): "flute23" holds the flute's measures 2-3 (G5 A5 B5 C6 D6, 0.5 s per
# quarter note) between other music, "cello" the cello line C3 G2 C3 (2 s each) between other
# music, "other" other music only. The other music keeps to the five black keys (C# D# F# G#
# A#), which neither line has.
python3 - "$work" <<'EOF' || { echo "FAIL could not write the test files"; exit 1; }
import math, random, struct, sys, wave, zipfile
work = sys.argv[1]
with zipfile.ZipFile(work + '/score.mxl', 'w') as z:
    z.writestr('mimetype', 'application/vnd.recordare.musicxml')
    z.writestr('META-INF/container.xml', '<?xml version="1.0" encoding="UTF-8"?><container><rootfiles>'
               '<rootfile full-path="score.musicxml" media-type="application/vnd.recordare.musicxml+xml"/>'
               '</rootfiles></container>')
    z.write(work + '/score.musicxml', 'score.musicxml')
def vlq(v):
    b = [v & 0x7f]; v >>= 7
    while v: b.insert(0, 0x80 | (v & 0x7f)); v >>= 7
    return bytes(b)
def track(name, events):  # events: (delta ticks, event bytes)
    ev = b'\x00\xff\x03' + vlq(len(name)) + name.encode()
    for delta, e in events:
        ev += vlq(delta) + e
    ev += b'\x00\xff\x2f\x00'
    return b'MTrk' + struct.pack('>I', len(ev)) + ev
on = lambda p: bytes([0x90, p, 80])
off = lambda p: bytes([0x80, p, 0])
tempo = lambda us: b'\xff\x51\x03' + us.to_bytes(3, 'big')
melody = [(0, tempo(500000)), (0, on(76)), (480, off(76)), (0, on(77)), (480, off(77)), (0, tempo(1000000)),
          (0, on(79)), (960, off(79))]
bass = [(0, on(48)), (960, off(48)), (0, on(50)), (960, off(50))]
mid = b'MThd' + struct.pack('>IHHH', 6, 1, 2, 480) + track('Melody', melody) + track('Bass', bass)
open(work + '/two.mid', 'wb').write(mid)
SR = 22050
def tone(pitch, sec, amp=0.3):
    f = 440.0 * 2 ** ((pitch - 69) / 12.0)
    n = int(sec * SR)
    return [amp * math.sin(2 * math.pi * f * i / SR) * min(1.0, i / 200.0, (n - i) / 200.0) for i in range(n)]
rng = random.Random(11)
def other(sec):
    out = []
    black = [61, 63, 66, 68, 70]
    while len(out) < sec * SR:
        out += tone(rng.choice(black) + 12 * rng.randrange(-1, 2), 0.5)
    return out[:int(sec * SR)]
def melody(notes):
    out = []
    for p, sec in notes:
        out += tone(p, sec)
    return out
def write(name, x):
    w = wave.open('%s/%s.wav' % (work, name), 'wb')
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(SR)
    w.writeframes(b''.join(struct.pack('<h', int(max(-1, min(1, v)) * 32000)) for v in x))
    w.close()
write('flute23', other(4) + melody([(79, .5), (81, .5), (83, .5), (84, .5), (86, 1)]) + other(4))
write('cello', other(4) + melody([(48, 2), (43, 2), (48, 2)]) + other(4))
write('other', other(12))
EOF

xml="$work/score.musicxml" krn="$work/score.krn" mxl="$work/score.mxl" mid="$work/two.mid"
flute23="0.000 0.500 G5 | 0.500 0.500 A5 | 1.000 0.500 B5 | 1.500 0.500 C6 | 2.000 1.000 D6"
cello="0.000 2.000 C3 | 2.000 2.000 G2 | 4.000 2.000 C3"

# --print-theme: the notes that a selection reads (no database needed).
run "print-theme --part 1 --measures 2-3 (MusicXML)" 0 "$cli" search "$xml" --print-theme --part 1 --measures 2-3
same "part 1, measures 2-3: G5 A5 B5 C6 D6 (the trailing rest dropped)" "$(notes <<<"$out")" "$flute23"
expect "print-theme header" "$out" "^# MusicXML: 5 notes, 0 rests, 3\.000 s \(75 frames at 25 Hz\)"
run "print-theme --part 2" 0 "$cli" search "$xml" --print-theme --part 2
same "part 2 is the cello line" "$(notes <<<"$out")" "$cello"
run "print-theme --part cello (by name, any case)" 0 "$cli" search "$xml" --print-theme --part " cello"
same "part by name = part by number" "$(notes <<<"$out")" "$cello"
p1="$("$cli" search "$xml" --print-theme --part 1 | notes)"
[ -n "$p1" ] && [ "$p1" != "$cello" ] && ok "part 1 differs from part 2" || bad "part 1 = part 2: $p1"
expect "part 1 starts with the flute's C5" "$p1" "^0\.000 0\.500 C5 \| 0\.500 0\.500 D5"
run "print-theme --part 1 --measures 1 --voice 2" 0 "$cli" search "$xml" --print-theme --part 1 --measures 1 --voice 2
same "voice 2 of measure 1: A4 B4" "$(notes <<<"$out")" "0.000 1.000 A4 | 1.000 1.000 B4"
run "print-theme --part 1 --measures 1" 0 "$cli" search "$xml" --print-theme --part 1 --measures 1
same "both voices: the top note" "$(notes <<<"$out")" "0.000 0.500 C5 | 0.500 0.500 D5 | 1.000 0.500 E5 | 1.500 0.500 F5"
run "print-theme --measures 2-3, every part" 0 "$cli" search "$xml" --print-theme --measures 2-3
expect "every part: the flute on top, the cello's C3 in the flute's rest" "$(notes <<<"$out")" "^$flute23 \| 3\.000 1\.000 C3$"
run "print-theme --json" 0 "$cli" search "$xml" --print-theme --part 1 --measures 2-3 --json
check "print-theme JSON" "d['format'] == 'MusicXML' and abs(d['duration_sec'] - 3) < 1e-9 and [n['pitch'] for n in d['notes']] == [79, 81, 83, 84, 86]"
# --tempo replaces the file's tempo marks.
run "print-theme --tempo 60 (MusicXML)" 0 "$cli" search "$xml" --print-theme --part 1 --measures 2-3 --tempo 60
same "--tempo 60 doubles every time" "$(notes <<<"$out")" "0.000 1.000 G5 | 1.000 1.000 A5 | 2.000 1.000 B5 | 3.000 1.000 C6 | 4.000 2.000 D6"
# The same selections from **kern and .mxl.
run "print-theme kern --part Flute --measures 2-3" 0 "$cli" search "$krn" --print-theme --part Flute --measures 2-3
same "kern = MusicXML" "$(notes <<<"$out")" "$flute23"
expect "kern header" "$out" "^# \*\*kern: 5 notes"
run "print-theme kern --part 1 (the left spine)" 0 "$cli" search "$krn" --print-theme --part 1
same "kern spine 1 is the cello" "$(notes <<<"$out")" "$cello"
run "print-theme kern --tempo 240" 0 "$cli" search "$krn" --print-theme --part Flute --measures 3 --tempo 240
same "kern --tempo 240" "$(notes <<<"$out")" "0.000 0.500 D6"
run "print-theme .mxl --part Cello" 0 "$cli" search "$mxl" --print-theme --part Cello
same ".mxl = MusicXML" "$(notes <<<"$out")" "$cello"
# MIDI: --track / --part by track name, and --tempo replacing the tempo map (120, then 60).
run "print-theme MIDI, all tracks" 0 "$cli" search "$mid" --print-theme
same "MIDI skyline with the tempo change" "$(notes <<<"$out")" "0.000 0.500 E5 | 0.500 0.500 F5 | 1.000 2.000 G5"
run "print-theme MIDI --track 2" 0 "$cli" search "$mid" --print-theme --track 2
same "MIDI track 2" "$(notes <<<"$out")" "0.000 1.000 C3 | 1.000 2.000 D3"
run "print-theme MIDI --part Bass" 0 "$cli" search "$mid" --print-theme --part Bass
same "MIDI track by name" "$(notes <<<"$out")" "0.000 1.000 C3 | 1.000 2.000 D3"
run "print-theme MIDI --track 2 --tempo 120" 0 "$cli" search "$mid" --print-theme --track 2 --tempo 120
same "MIDI --tempo 120: one tempo instead of the map" "$(notes <<<"$out")" "0.000 1.000 C3 | 1.000 1.000 D3"
run "print-theme note list --tempo 60" 0 "$cli" search "C4 D4:2" --print-theme --tempo 60
same "a note list at 60 beats per minute" "$(notes <<<"$out")" "0.000 1.000 C4 | 1.000 2.000 D4"
run "print-theme with a database argument (not opened)" 0 "$cli" search "$work/none.lmdb" "$xml" --print-theme --part 2
same "DB THEME --print-theme" "$(notes <<<"$out")" "$cello"

# Selections that do not exist, or do not apply: one-line errors, non-zero exit.
run "--part 3 of 2" 1 "$cli" search "$xml" --print-theme --part 3; one_line "--part 3"
expect "--part 3 message lists the parts" "$err" "no part 3: the MusicXML score has 2 parts \(1 \"Flute\", 2 \"Cello\"\)$"
run "--part Oboe" 1 "$cli" search "$xml" --print-theme --part Oboe; one_line "--part Oboe"
expect "--part Oboe message" "$err" "no part named \"Oboe\""
run "--measures 5-6 of 3" 1 "$cli" search "$xml" --print-theme --part 1 --measures 5-6; one_line "--measures 5-6"
expect "--measures 5-6 message" "$err" "no measure 5"
run "kern --measures 2-7" 1 "$cli" search "$krn" --print-theme --measures 2-7; one_line "kern --measures 2-7"
run "--measures 3-2" 1 "$cli" search "$xml" --print-theme --measures 3-2; one_line "--measures 3-2"
expect "--measures 3-2 message" "$err" "^leitmotif: --measures: .*comes before the first"
run "--measures x" 1 "$cli" search "$xml" --print-theme --measures x; one_line "--measures x"
run "--voice 3 (no such voice)" 1 "$cli" search "$xml" --print-theme --part 1 --voice 3; one_line "--voice 3"
run "--voice 0" 1 "$cli" search "$xml" --print-theme --voice 0; one_line "--voice 0"
run "--part ''" 1 "$cli" search "$xml" --print-theme --part ""; one_line "--part ''"
run "--track with MusicXML" 1 "$cli" search "$xml" --print-theme --track 1; one_line "--track with MusicXML"
run "MIDI --track 3 of 2" 1 "$cli" search "$mid" --print-theme --track 3; one_line "MIDI --track 3"
run "MIDI --measures" 1 "$cli" search "$mid" --print-theme --measures 1-2; one_line "MIDI --measures"
run "note list --part" 1 "$cli" search "C4 D4 E4" --print-theme --part 1; one_line "note list --part"
run "no theme" 2 "$cli" search --print-theme

# A search: the selection decides which recording matches; --tempo applies to the score file.
db="$work/select.lmdb"
run "index the test recordings" 0 "$cli" index "$db" "$work/flute23.wav" "$work/cello.wav" "$work/other.wav" --features stft
run "search --part 1 --measures 2-3" 0 "$cli" search "$db" "$xml" --part 1 --measures 2-3 --json --top 0
check "flute measures 2-3: flute23 first, at 4-7 s, 75 frames" "r[0]['id'] == 'flute23' and abs(r[0]['start_sec'] - 4) < 0.5 and abs(r[0]['end_sec'] - 7) < 0.5 and d['theme_frames'] == 75"
check "JSON names the selection" "d['part'] == '1' and d['measures'] == [2, 3] and 'track' not in d"
run "search --part Cello (kern)" 0 "$cli" search "$db" "$krn" --part Cello --json --top 0
check "cello line: cello first, at 4-10 s" "r[0]['id'] == 'cello' and abs(r[0]['start_sec'] - 4) < 0.5 and abs(r[0]['end_sec'] - 10) < 1 and d['theme_frames'] == 150"
run "search --tempo 240 with a score file" 0 "$cli" search "$db" "$xml" --part 2 --tempo 240 --json --top 0
check "--tempo 240: the cello line in 75 frames, still found" "d['theme_frames'] == 75 and r[0]['id'] == 'cello'"
run "search --tempo with --duration auto" 0 "$cli" search "$db" "$xml" --part 1 --measures 2-3 --tempo 60 --duration auto --json --top 1
check "--tempo sets the middle of --duration auto" "abs(d['theme_sec'] - 6) < 0.05 and r[0]['id'] == 'flute23'"
run "search (text) --part 1 --measures 2-3" 0 "$cli" search "$db" "$mxl" --part Flute --measures 2-3 --top 1
expect "text: flute23 first" "$out" "^ +1 +flute23 +0\.[0-9]{4} +[0-9.]+-[0-9.]+$"
run "search --part 9" 1 "$cli" search "$db" "$xml" --part 9; one_line "search --part 9"
run "search --help names the selection" 0 "$cli" search --help
expect "help: --part" "$out" "--part NAME\|N"
expect "help: --measures" "$out" "--measures A-B"
expect "help: --print-theme" "$out" "--print-theme"
exit $fails
