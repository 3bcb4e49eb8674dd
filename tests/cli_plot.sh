#!/usr/bin/env bash
# `leitmotif plot`: figures of the Beethoven op. 2 no. 2 recording of ../shared/realaudio with its
# theme are valid PNG / SVG of the documented sizes, from computed features and from a database;
# the figures in docs/img are too; bad input gives one-line errors. Args: CLI SHARED_DIR SOURCE_DIR
set -u
cli="$1"; shared="${2:-}"; src="${3:-}"
work="$(mktemp -d /tmp/lm_cli_plot.XXXXXX)"
trap 'rm -rf "$work"' EXIT
pid=""
. "$src/tests/web/common.sh"
need_tools python3
audio="$shared/realaudio/audio/beethoven_op002-2-01_pitman_musopen.flac"
theme="$shared/realaudio/themes/beethoven_op002-2-01_t2.mid"
[ -f "$audio" ] && [ -f "$theme" ] || { echo "SKIP: $audio not found (needs ../shared)"; exit 77; }

# figcheck FILE png|svg W H: a valid image of that size
figcheck() {
  local r
  r=$(python3 - "$@" <<'PY'
import struct, sys, zlib, xml.etree.ElementTree as ET
path, kind, w, h = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
d = open(path, 'rb').read()
try:
    if kind == 'png':
        assert d[:8] == b'\x89PNG\r\n\x1a\n' and d[12:16] == b'IHDR', 'not a PNG'
        pw, ph, depth, ctype = struct.unpack('>IIBB', d[16:26])
        pos, idat, end = 8, b'', False
        while pos < len(d):
            n, = struct.unpack('>I', d[pos:pos + 4]); typ = d[pos + 4:pos + 8]
            assert zlib.crc32(d[pos + 4:pos + 8 + n]) == struct.unpack('>I', d[pos + 8 + n:pos + 12 + n])[0], 'bad CRC'
            if typ == b'IDAT': idat += d[pos + 8:pos + 8 + n]
            end = typ == b'IEND'
            pos += 12 + n
        assert end, 'no IEND'
        raw = zlib.decompress(idat)
        assert depth == 8 and ctype == 2 and len(raw) == ph * (1 + 3 * pw), 'bad image data'
        # not blank: many distinct colours
        colours = {raw[i:i + 3] for i in range(1, len(raw) - 3, 97)}
        assert len(colours) > 20, 'nearly blank (%d colours)' % len(colours)
    else:
        root = ET.fromstring(d)
        assert root.tag == '{http://www.w3.org/2000/svg}svg', 'not SVG'
        pw, ph = int(root.get('width')), int(root.get('height'))
        assert len(root.findall('{http://www.w3.org/2000/svg}image')) >= 3, 'heatmaps missing'
        assert len(root.findall('{http://www.w3.org/2000/svg}polyline')) >= 2, 'curves missing'
    print('ok' if (pw, ph) == (w, h) else 'size %dx%d, want %dx%d' % (pw, ph, w, h))
except Exception as e:
    print('invalid: %s' % e)
PY
)
  [ "$r" = ok ] && ok "$5: $kind valid, $3x$4" || bad "$5: $r"
}
kind=png
run() { "$@" >"$work/out" 2>"$work/err"; rc=$?; }

# Sizes: full figure 900 x 832 at scale 1 (PNG default scale 2), --match 720 x 340.
run "$cli" plot "$audio" --theme "$theme" -o "$work/full.png"
[ $rc = 0 ] && ok "plot PNG (deep chroma)" || bad "plot PNG: $(cat "$work/err")"
expect "summary line" "$(cat "$work/err")" "wrote .*full.png \(PNG, 1800 x 1664; match [0-9.]+-[0-9.]+ s, distance 0\.[0-9]+\)"
kind=png; figcheck "$work/full.png" png 1800 1664 "full figure"
run "$cli" plot "$audio" --theme "$theme" -o "$work/full.svg" --features stft
kind=svg; figcheck "$work/full.svg" svg 900 832 "full figure, stft"
run "$cli" plot "$audio" --theme "$theme" -o "$work/fig" --svg --scale 2 --features stft
kind=svg; figcheck "$work/fig" svg 1800 1664 "--svg --scale 2"
run "$cli" plot "$audio" --theme "$theme" -o "$work/match.png" --match --features stft
kind=png; figcheck "$work/match.png" png 1440 680 "--match"
run "$cli" plot "$audio" --theme "E5 D#5 E5 G5 E5 E5:1.5 F#5:0.25 E5:0.25 D#5:4" --tempo 110 -o "$work/notes.png" --scale 1 --features stft
kind=png; figcheck "$work/notes.png" png 900 832 "note-list theme, --scale 1"

# A part of a score file, chosen as for `leitmotif search` (--part, --measures, --tempo).
xml="$src/tests/data/themes/haydn_sq8455808-2_t2.musicxml"
run "$cli" plot "$audio" --theme "$xml" --part "Violin I" --measures 2-5 --tempo 90 -o "$work/sel.svg" --features stft
[ $rc = 0 ] && ok "plot --part --measures --tempo" || bad "plot --part --measures: $(cat "$work/err")"
kind=svg; figcheck "$work/sel.svg" svg 900 832 "--part --measures"
run "$cli" plot "$audio" --theme "$xml" --part Oboe -o "$work/x.svg" --features stft
[ $rc = 1 ] && ok "plot --part Oboe fails" || bad "plot --part Oboe: rc $rc"
expect "plot: the search's one-line error" "$(cat "$work/err")" '^leitmotif: .*no part named "Oboe".*1 "Violin I", 2 "Violoncello"\)$'
run "$cli" plot "$audio" --theme "C4 D4" --measures 1-2 -o "$work/x.svg" --features stft
[ $rc = 1 ] && ok "plot: a selection needs a score file" || bad "plot --measures with a note list: rc $rc"

# From a database: the document named like the file, or --doc.
mkdir -p "$work/a"; cp "$audio" "$work/a/"
"$cli" index "$work/db.lmdb" "$work/a" --features stft >/dev/null 2>&1
run "$cli" plot "$audio" --theme "$theme" -o "$work/db.svg" --db "$work/db.lmdb"
[ $rc = 0 ] && ok "plot --db" || bad "plot --db: $(cat "$work/err")"
kind=svg; figcheck "$work/db.svg" svg 900 832 "--db"
grep -q "chroma features (stft)" "$work/db.svg" && ok "--db names the database's features" || bad "--db features label"
run "$cli" plot "$audio" --theme "$theme" -o "$work/x.svg" --db "$work/db.lmdb" --doc nothere
[ $rc = 1 ] && ok "--doc not in the database" || bad "--doc nothere: rc $rc"
expect "one-line error" "$(cat "$work/err")" "^leitmotif: .*no document 'nothere'"

# Bad input.
run "$cli" plot "$audio" -o "$work/x.png"; [ $rc = 2 ] && ok "no --theme: usage" || bad "no --theme: rc $rc"
run "$cli" plot "$audio" --theme "C4:100" -o "$work/x.png" --features stft
[ $rc = 1 ] && ok "theme too long" || bad "theme too long: rc $rc"
expect "too long explained" "$(cat "$work/err")" "^leitmotif: the theme .* is too long to match in this recording"
[ "$(wc -l <"$work/err")" = 1 ] && ok "one line" || bad "not one line: $(cat "$work/err")"
[ ! -e "$work/x.png" ] && ok "no file written on error" || bad "file written on error"
run "$cli" plot "$audio" --theme "C4 H4" -o "$work/x.png"; [ $rc = 1 ] && ok "bad note list" || bad "bad note list: rc $rc"
run "$cli" plot "$audio" --theme "C4" -o "$work/x.png" --scale 9; [ $rc = 1 ] && ok "bad --scale" || bad "--scale 9: rc $rc"
echo "not audio" >"$work/bad.wav"
run "$cli" plot "$work/bad.wav" --theme "C4" -o "$work/x.png"; [ $rc = 1 ] && ok "not audio" || bad "not audio: rc $rc"
run "$cli" plot "$audio" --theme "C4 D4" -o "$work/nodir/x.png" --features stft; [ $rc = 1 ] && ok "unwritable output" || bad "unwritable: rc $rc"
run "$cli" plot --help; expect "help" "$(cat "$work/out")" "Figure 4"

# The figures in docs/img (made by scripts/web_docs.sh) are valid and of the documented sizes.
img="$src/docs/img"
if [ -f "$img/plot_beethoven_op002-2-01.png" ]; then
  kind=png; figcheck "$img/plot_beethoven_op002-2-01.png" png 1800 1664 "docs/img/plot_beethoven_op002-2-01.png"
  kind=svg; figcheck "$img/plot_beethoven_op002-2-01.svg" svg 900 832 "docs/img/plot_beethoven_op002-2-01.svg"
  kind=png; figcheck "$img/plot_beethoven_op002-2-01_match.png" png 1440 680 "docs/img/plot_beethoven_op002-2-01_match.png"
else
  bad "docs/img/plot_beethoven_op002-2-01.png missing (scripts/web_docs.sh makes it)"
fi
exit $fails
