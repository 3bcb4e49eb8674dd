#!/usr/bin/env bash
# search / eval with --transpose any, --duration auto and --occurrences on synthesised
# recordings (tone melodies over chords, stft features, so no model and no ../shared needed),
# and their bad option values. Args: CLI SHARED_DIR SOURCE_DIR
set -u
cli="$1"
command -v python3 >/dev/null || { echo "SKIP: python3 not found (it writes the test audio)"; exit 77; }
work="$(mktemp -d /tmp/lm_cli_search_modes.XXXXXX)"
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
one_line() { # the error is one line starting with "leitmotif: "
  if [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [[ "$err" == leitmotif:* ]]; then ok "$1 (one-line error)"
  else bad "$1: error is not one line: $err"; fi
}
check() { # check NAME PYTHON-EXPRESSION-ON-d (the JSON in $out): prints OK or the reason
  local res
  res="$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); r=d.get('results'); print('OK' if ($2) else 'no: ' + json.dumps(d)[:600])" "$work/out" 2>&1)"
  [ "$res" = OK ] && ok "$1" || bad "$1: $res"
}

# The theme (Beethoven's 5th, 14 beats at 120 bpm: 7 s) and four recordings, 22050 Hz:
#   a_low:    other music (6 s), the theme 3 semitones up, other music
#   b_other:  other music only
#   c_sonata: the theme (0-7 s), other music (7-17 s), the theme again over a quiet chord
#             (17-24 s), other music
#   d_slow:   the theme at 0.4x its tempo (0-17.5 s), then other music
# and the theme as a MIDI file for eval.
python3 - "$work" <<'EOF' || { echo "FAIL could not write the test audio"; exit 1; }
import math, random, struct, sys, wave
work = sys.argv[1]
SR = 22050
theme = [(67, 1), (67, 1), (67, 1), (63, 4), (65, 1), (65, 1), (65, 1), (62, 4)]  # beats at 120 bpm
def tone(pitch, sec, amp=0.3):
    f = 440.0 * 2 ** ((pitch - 69) / 12.0)
    n = int(sec * SR)
    return [amp * math.sin(2 * math.pi * f * i / SR) * min(1.0, i / 200.0, (n - i) / 200.0) for i in range(n)]
def mix(*parts):
    n = max(len(p) for p in parts)
    return [sum(p[i] for p in parts if i < len(p)) for i in range(n)]
def melody(notes, beat):
    out = []
    for p, b in notes:
        out += tone(p, b * beat)
    return out
rng = random.Random(7)
def other(sec):  # chords of C major and a melody over them, a new chord every second
    out = []
    scale = [60, 62, 64, 65, 67, 69, 71]
    while len(out) < sec * SR:
        root = rng.randrange(7)
        chord = mix(*[tone(scale[(root + k) % 7] - 12, 1.0, 0.12) for k in (0, 2, 4)])
        mel = melody([(scale[rng.randrange(7)] + 12, 0.5), (scale[rng.randrange(7)] + 12, 0.5)], 1.0)
        out += mix(chord, mel)
    return out[:int(sec * SR)]
def write(name, x):
    w = wave.open('%s/%s.wav' % (work, name), 'wb')
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(SR)
    w.writeframes(b''.join(struct.pack('<h', int(max(-1, min(1, v)) * 32000)) for v in x))
    w.close()
t = melody(theme, 0.5)
write('a_low', other(6) + melody([(p + 3, b) for p, b in theme], 0.5) + other(6))
write('b_other', other(20))
write('c_sonata', t + other(10) + mix(t, tone(48, 7.0, 0.08), tone(55, 7.0, 0.08)) + other(5))
write('d_slow', melody(theme, 0.5 / 0.4) + other(6))
# Type-0 MIDI of the theme, 480 ticks per beat, 120 bpm.
ev = b'\x00\xff\x51\x03\x07\xa1\x20'
def vlq(v):
    b = [v & 0x7f]; v >>= 7
    while v: b.insert(0, 0x80 | (v & 0x7f)); v >>= 7
    return bytes(b)
for p, b in theme:
    ev += vlq(0) + bytes([0x90, p, 80]) + vlq(480 * b) + bytes([0x80, p, 0])
ev += b'\x00\xff\x2f\x00'
open('%s/theme.mid' % work, 'wb').write(b'MThd' + struct.pack('>IHHH', 6, 0, 1, 480) + b'MTrk' + struct.pack('>I', len(ev)) + ev)
EOF

db="$work/modes.lmdb"
beethoven5="G4 G4 G4 Eb4:4 F4 F4 F4 D4:4"
run "index the test recordings" 0 "$cli" index "$db" "$work/a_low.wav" "$work/b_other.wav" "$work/c_sonata.wav" "$work/d_slow.wav" --features stft

# --transpose any: the theme three semitones up is found, and says so.
run "search in the written key" 0 "$cli" search "$db" "$beethoven5" --json --top 0
check "in the written key a_low ranks below c_sonata" "[x['id'] for x in r].index('a_low') > [x['id'] for x in r].index('c_sonata')"
run "search --transpose any" 0 "$cli" search "$db" "$beethoven5" --transpose any --json --top 0
check "every key: a_low found 3 semitones up" "any(x['id'] == 'a_low' and x['transpose'] == 3 and x['distance'] < 0.2 for x in r[:2])"
check "every key: c_sonata found in the written key" "any(x['id'] == 'c_sonata' and x['transpose'] == 0 for x in r[:2])"
check "every key: JSON says transpose any" "d['transpose'] == 'any'"
run "search --transpose any (text)" 0 "$cli" search "$db" "$beethoven5" --transpose any --top 2
expect "text names the shift" "$out" "a_low +0\.[0-9]{4} +[0-9.]+-[0-9.]+ +transpose \+3"
run "search --transpose any --exhaustive" 0 "$cli" search "$db" "$beethoven5" --transpose any --exhaustive --top 2
pruned="$("$cli" search "$db" "$beethoven5" --transpose any --top 2 2>/dev/null)"
[ "$out" = "$pruned" ] && ok "pruned == exhaustive" || bad "pruned != exhaustive: $pruned vs $out"

# --duration auto: the theme at 0.4x its tempo (2.5x its duration, beyond the DTW's 2x).
run "search at the written tempo" 0 "$cli" search "$db" "$beethoven5" --json --top 0
plain_slow="$(python3 -c "import json,sys; print([x['distance'] for x in json.load(open(sys.argv[1]))['results'] if x['id']=='d_slow'][0])" "$work/out")"
run "search --duration auto" 0 "$cli" search "$db" "$beethoven5" --duration auto --json --top 0
# (the first 3.75 s are three Gs and the last 5 s one D: how much of them the match takes is a
# near tie)
check "auto: d_slow found at 1.41-2x the duration, better than at the written tempo" "any(x['id'] == 'd_slow' and x['stretch'] >= 1.4 and x['distance'] < $plain_slow and x['start_sec'] < 3.75 and 12.5 < x['end_sec'] < 18.5 for x in r)"
check "auto: JSON says duration auto" "d['duration'] == 'auto' and all('stretch' in x and 'theme_sec' in x for x in r)"
run "search --duration auto --transpose any" 0 "$cli" search "$db" "$beethoven5" --duration auto --transpose any --top 4
expect "both: a line with a shift and a duration" "$out" "a_low .* transpose \+3 +duration [0-9.]+x"

# --occurrences: the exposition and the recapitulation, best first, with their bounds.
run "search --occurrences" 0 "$cli" search "$db" "$beethoven5" --occurrences --json --top 0
# (within a second: the theme opens with three Gs and ends with a long D)
check "occurrences: the exposition (unaccompanied, the better match) first" "[x for x in r if x['id']=='c_sonata'][0]['occurrences'][0]['start_sec'] < 2 and [x for x in r if x['id']=='c_sonata'][0]['occurrences'][1]['start_sec'] > 15"
check "occurrences: the exposition and the recapitulation, bounds within 1 s" "len([x for x in r if x['id']=='c_sonata'][0]['occurrences']) == 2 and all(abs(o['start_sec'] - s0) <= 1 and abs(o['end_sec'] - e0) <= 1 for o, (s0, e0) in zip(sorted([x for x in r if x['id']=='c_sonata'][0]['occurrences'], key=lambda o: o['start_sec']), [(0, 7), (17, 24)]))"
check "occurrences: best first, the first one is the hit" "all(x['occurrences'][0]['distance'] == x['distance'] and all(a['distance'] <= b['distance'] for a, b in zip(x['occurrences'], x['occurrences'][1:])) for x in r)"
check "occurrences: passages do not overlap" "all(a['end_sec'] <= b['start_sec'] + 0.04 or b['end_sec'] <= a['start_sec'] + 0.04 for x in r for i, a in enumerate(x['occurrences']) for b in x['occurrences'][i + 1:])"
run "search --occurrences (text)" 0 "$cli" search "$db" "$beethoven5" --occurrences --top 1
expect "text: indented occurrence lines" "$out" $'\n +2 +[0-9]'
run "search --occurrences --occ-threshold 0" 0 "$cli" search "$db" "$beethoven5" --occurrences --occ-threshold 0 --json --top 1
check "a zero margin keeps only the best" "len(r[0]['occurrences']) == 1"

# eval: a random shift undone by --transpose any, a random tempo by --duration auto.
cat >"$work/themes.csv" <<EOF
theme_id,piece_id,fold,start_sec,end_sec,query_midi,transposition
low,a_low,1,6,11,theme.mid,3
sonata,c_sonata,1,0,5,theme.mid,0
slow,d_slow,1,0,12.5,theme.mid,0
EOF
# --context 0: a_low and c_sonata both hold the theme, and c_sonata holds it twice, so that the
# context term (on by default) ranks c_sonata first for every query of it (checked below).
run "eval --random-transpose --transpose any" 0 "$cli" eval "$db" --themes "$work/themes.csv" --random-transpose 5 --transpose any --json --context 0
check "eval: the random shifts undone" "all(v['shift_applied'] != 0 and (v['shift_applied'] + v['shift_found']) % 12 == 0 for v in d['query_details'].values()) and d['ranks']['low'] == 1"
run "eval --transpose any, the context term" 0 "$cli" eval "$db" --themes "$work/themes.csv" --random-transpose 5 --transpose any --json
check "eval: with the context term the shifts are undone too, a_low second after c_sonata" "all((v['shift_applied'] + v['shift_found']) % 12 == 0 for v in d['query_details'].values()) and d['ranks']['low'] <= 2"
run "eval --random-tempo --duration auto" 0 "$cli" eval "$db" --themes "$work/themes.csv" --queries-from score --random-tempo 3 --duration auto --json
check "eval: random tempi in 0.5-2x, recordings found" "all(0.5 <= v['tempo_applied'] < 2 for v in d['query_details'].values()) and d['ranks']['slow'] == 1 and d['ranks']['low'] <= 2"
cp "$work/out" "$work/tempo1.json"
head -3 "$work/themes.csv" >"$work/themes2.csv" # without 'slow': the other draws stay
run "eval --random-tempo, fewer themes" 0 "$cli" eval "$db" --themes "$work/themes2.csv" --queries-from score --random-tempo 3 --json
check "eval: a draw depends on the seed and the theme only" "all(abs(v['tempo_applied'] - json.load(open('$work/tempo1.json'))['query_details'][k]['tempo_applied']) < 1e-9 for k, v in d['query_details'].items())"
run "eval table with the search modes" 0 "$cli" eval "$db" --themes "$work/themes.csv" --random-transpose 5 --transpose any
expect "eval: mode line" "$out" "^Queries: shifted by random semitones \(seed 5\); searched in every key; pruned"
expect "eval: shifts undone" "$out" "Random shift undone for [0-9]+ of the [0-9]+ queries whose recording ranks first"

# Bad option values: one-line errors, exit status 2.
run "search --transpose sideways" 2 "$cli" search "$db" "$beethoven5" --transpose sideways; one_line "search --transpose sideways"
expect "transpose message" "$err" "'any'"
run "search --transpose 200" 2 "$cli" search "$db" "$beethoven5" --transpose 200; one_line "search --transpose 200"
run "search --duration fast" 2 "$cli" search "$db" "$beethoven5" --duration fast; one_line "search --duration fast"
expect "duration message" "$err" "'auto'"
run "search --duration 0" 2 "$cli" search "$db" "$beethoven5" --duration 0; one_line "search --duration 0"
run "search --context 2" 2 "$cli" search "$db" "$beethoven5" --context 2; one_line "search --context 2"
run "search --context x" 2 "$cli" search "$db" "$beethoven5" --context x; one_line "search --context x"
run "eval --context -1" 2 "$cli" eval "$db" --themes "$work/themes.csv" --context -1; one_line "eval --context -1"
run "search --context 0.3" 0 "$cli" search "$db" "$beethoven5" --context 0.3 --json --top 0
check "context 0.3: c_sonata (the theme twice) first" "r[0]['id'] == 'c_sonata'"
run "search --occ-threshold 2" 2 "$cli" search "$db" "$beethoven5" --occurrences --occ-threshold 2; one_line "search --occ-threshold 2"
run "search --occ-threshold x" 2 "$cli" search "$db" "$beethoven5" --occurrences --occ-threshold x; one_line "search --occ-threshold x"
run "search --occ-threshold without --occurrences" 2 "$cli" search "$db" "$beethoven5" --occ-threshold 0.1; one_line "--occ-threshold alone"
run "eval --transpose 3" 2 "$cli" eval "$db" --themes "$work/themes.csv" --transpose 3; one_line "eval --transpose 3"
run "eval --duration 5" 2 "$cli" eval "$db" --themes "$work/themes.csv" --duration 5; one_line "eval --duration 5"
run "eval --random-tempo -1" 2 "$cli" eval "$db" --themes "$work/themes.csv" --random-tempo -1; one_line "eval --random-tempo -1"
run "eval --random-transpose x" 2 "$cli" eval "$db" --themes "$work/themes.csv" --random-transpose x; one_line "eval --random-transpose x"
# A plain query's candidate pass (the default) against the full scan (--exhaustive).
run "eval --exhaustive (plain)" 0 "$cli" eval "$db" --themes "$work/themes.csv" --exhaustive --json
cand="$("$cli" eval "$db" --themes "$work/themes.csv" --json 2>/dev/null)"
[ "$out" = "$cand" ] && ok "eval: candidates == exhaustive" || bad "eval: candidates != exhaustive: $cand vs $out"
run "search --exhaustive (plain)" 0 "$cli" search "$db" "$beethoven5" --exhaustive --top 0
cand="$("$cli" search "$db" "$beethoven5" --top 0 2>/dev/null)"
[ "$out" = "$cand" ] && ok "search: candidates == exhaustive" || bad "search: candidates != exhaustive: $cand vs $out"
run "search --help names the modes" 0 "$cli" search --help
expect "help: transpose any" "$out" "--transpose any"
expect "help: neither tempo nor duration" "$out" "Without --duration or --tempo"
exit $fails
