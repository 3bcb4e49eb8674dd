#!/usr/bin/env bash
# `leitmotif search --occurrences` finds both the exposition and the recapitulation of a theme in
# a rendered sonata movement (issue 14): Haydn, String Quartet Op. 1 No. 6, I. Presto assai
# (corpus piece haydn_sq8806134-1, CC0), whose first theme (corpus query haydn_sq8806134-1_t1,
# 25 notes in the first violin) returns note for note in the recapitulation. The test finds
# both places in the score (MIDI), renders the movement (80 s) with the corpus renderer, which
# annotates where the two passages are in the audio, indexes it with the default model and checks
# that the search lists the two passages near those times. Needs ../shared/corpus, fluidsynth, sox, the
# FluidR3 GM soundfont and python3 with mido and numpy; skips (77) without them. About 10 s.
# Args: CLI SHARED_DIR SOURCE_DIR
set -u
cli="$1" shared="$2"
corpus="$shared/corpus"
piece=haydn_sq8806134-1 theme=haydn_sq8806134-1_t1
[ -x "$corpus/render" ] && [ -f "$corpus/midi/$piece.mid" ] && [ -f "$corpus/themes/$theme.mid" ] ||
  { echo "SKIP: $corpus (the corpus and its renderer) not found"; exit 77; }
for tool in fluidsynth sox; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not found (the renderer needs it)"; exit 77; }
done
py=""
for cand in /usr/bin/python3 python3; do
  command -v "$cand" >/dev/null && "$cand" -c 'import mido, numpy' 2>/dev/null && { py="$cand"; break; }
done
[ -n "$py" ] || { echo "SKIP: no python3 with mido and numpy (the renderer needs them)"; exit 77; }
sf=""
for d in "${SOUNDFONT_DIR:-}" /usr/share/sounds/sf2 /usr/share/sounds/sf3 /usr/share/soundfonts; do
  [ -n "$d" ] && [ -f "$d/FluidR3_GM.sf2" ] && sf="$d/FluidR3_GM.sf2"
done
[ -n "$sf" ] || { echo "SKIP: the FluidR3_GM.sf2 soundfont (fluid-soundfont-gm) not found"; exit 77; }
work="$(mktemp -d /tmp/lm_cli_occurrences.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails+1)); }

# Where the theme is played in the score: every place in the first violin's part (the top note at
# each onset) where its 25 pitches come in a row, in quarter notes; a themes CSV for the renderer.
"$py" - "$corpus" "$piece" "$theme" "$work/occ.csv" <<'EOF' || { echo "FAIL could not find the theme in the score"; exit 1; }
import sys, mido
corpus, piece, theme, out = sys.argv[1:]
def parts(path):
    m = mido.MidiFile(path)
    res = []
    for t in m.tracks:
        tick, on, notes = 0, {}, []
        for msg in t:
            tick += msg.time
            if msg.type == 'note_on' and msg.velocity > 0:
                on[msg.note] = tick
            elif msg.type in ('note_off', 'note_on') and msg.note in on:
                notes.append((on.pop(msg.note) / m.ticks_per_beat, tick / m.ticks_per_beat, msg.note))
        top = {}
        for a, b, p in sorted(notes):
            if a not in top or p > top[a][2]:
                top[a] = (a, b, p)
        res.append(sorted(top.values()))
    return res
query = [n for t in parts('%s/themes/%s.mid' % (corpus, theme)) for n in t]
pitches = [p for _, _, p in query]
found = []
for track in parts('%s/midi/%s.mid' % (corpus, piece)):
    ps = [p for _, _, p in track]
    for i in range(len(ps) - len(pitches) + 1):
        if ps[i:i + len(pitches)] == pitches:
            found.append((track[i][0], track[i + len(pitches) - 1][1]))
found.sort()
if len(pitches) != 25 or len(found) != 2 or found[1][0] - found[0][1] < 60:
    sys.exit('expected the 25-note theme twice, far apart; found %d notes at %s' % (len(pitches), found))
with open(out, 'w') as f:
    f.write('theme_id,piece_id,start_qn,end_qn,n_notes,pitch_classes,query_midi\n')
    for name, (a, b) in zip(('exposition', 'recapitulation'), found):
        f.write('%s,%s,%g,%g,25,-,-\n' % (name, piece, a, b))
EOF
ok "the theme is twice in the score: $(tail -n +2 "$work/occ.csv" | cut -d, -f1,3,4 | tr '\n' ' ')"

"$corpus/render" --pieces "$piece" --themes "$work/occ.csv" --out "$work/render" --format wav >"$work/render.log" 2>&1 ||
  { echo "FAIL render: $(tail -3 "$work/render.log")"; exit 1; }
expo="$(awk -F, '$1 == "exposition" { print $5, $6 }' "$work/render/annotations.csv")"
recap="$(awk -F, '$1 == "recapitulation" { print $5, $6 }' "$work/render/annotations.csv")"
[ -n "$expo" ] && [ -n "$recap" ] && ok "rendered; in the audio the exposition is at $expo s, the recapitulation at $recap s" ||
  { echo "FAIL no annotations: $(cat "$work/render/annotations.csv")"; exit 1; }

db="$work/occ.lmdb"
if "$cli" index "$db" "$work/render/audio" >"$work/out" 2>"$work/err"; then ok "index"; else bad "index: $(cat "$work/err")"; fi
check() { # check NAME PYTHON-EXPRESSION on d (the JSON), e/c (expected exposition/recapitulation start, end)
  local res
  res="$("$py" -c "
import json, sys
d = json.load(open(sys.argv[1]))
e = [float(v) for v in sys.argv[2].split()]
c = [float(v) for v in sys.argv[3].split()]
r = d['results']
occ = r[0].get('occurrences', [])
two = sorted(occ[:2], key=lambda o: o['start_sec'])  # the two best, in time order
near = lambda o, want: abs(o['start_sec'] - want[0]) <= 1.0 and abs(o['end_sec'] - want[1]) <= 1.0
print('OK' if ($2) else 'no: ' + json.dumps(d)[:900])" "$work/out" "$expo" "$recap" 2>&1)"
  [ "$res" = OK ] && ok "$1" || bad "$1: $res"
}
for mode in "--transpose 0" "--transpose any"; do
  # shellcheck disable=SC2086  # $mode is split on purpose
  if "$cli" search "$db" "$corpus/themes/$theme.mid" --occurrences --json $mode >"$work/out" 2>"$work/err"; then
    ok "search --occurrences $mode"
  else
    bad "search --occurrences $mode: $(cat "$work/err")"; continue
  fi
  check "$mode: the sonata is found" "r[0]['id'] == '$piece'"
  check "$mode: two passages or more, best first, the first is the hit" \
    "len(occ) >= 2 and occ[0]['distance'] == r[0]['distance'] and all(a['distance'] <= b['distance'] for a, b in zip(occ, occ[1:]))"
  check "$mode: the two best are the exposition and the recapitulation (within 1 s)" \
    "len(two) == 2 and near(two[0], e) and near(two[1], c)"
  check "$mode: they do not overlap" "len(two) == 2 and two[0]['end_sec'] <= two[1]['start_sec']"
  [ "$mode" = "--transpose any" ] && check "$mode: both in the written key" "all(o['transpose'] == 0 for o in occ[:2])"
done
# The text output: an indented line per passage under the recording.
"$cli" search "$db" "$corpus/themes/$theme.mid" --occurrences --top 1 >"$work/out" 2>/dev/null
if [ "$(grep -cE '^ +[12] +[0-9.]+ +[0-9.]+-[0-9.]+$' "$work/out")" -ge 2 ]; then ok "text: two passage lines"
else bad "text: $(cat "$work/out")"; fi
exit $fails
