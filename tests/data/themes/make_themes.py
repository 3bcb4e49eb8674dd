#!/usr/bin/python3
"""Writes MusicXML (.musicxml), compressed MusicXML (.mxl) and Humdrum **kern (.krn) versions of three
corpus themes (../shared/corpus/themes/*.mid; CC0 pieces), for tests/test_musicxml.c and
tests/test_kern.c, which check that each gives the same query chroma as its MIDI file.

Usage (Debian: apt-get install python3-mido), from the repository root:
    /usr/bin/python3 tests/data/themes/make_themes.py [../shared/corpus]

Each note or rest is split at barlines and at tempo changes (tied pieces), so the files also
exercise ties across barlines, rests across barlines and tempo marks between notes:
  chausson_lc5077660_t2   4/4, <divisions>480, one part / one spine; dotted and tied durations,
                          a dotted-quarter rest, 4 tempo marks (<sound tempo>, *MM).
  debussy_sq8661306-1_t4  4/4, <divisions>96; the MusicXML part is a B-flat clarinet written a
                          major second higher with <transpose> (the reader must give sounding
                          pitch); kern is at sounding pitch with *ITrd1c2 (display only); quarter
                          note triplets; a rest of over two measures with a tempo change inside.
  haydn_sq8455808-2_t2    3/4, two parts / spines: "Violin I" (the theme, with 19 tempo marks)
                          and "Violoncello" (a low drone that goes on through the theme's rests);
                          the tests select the violin by name. In the kern the cello spine comes
                          first (Humdrum puts the lowest staff on the left).
"""
import os
import sys
import zipfile

import mido

HERE = os.path.dirname(os.path.abspath(__file__))
THEMES = [
    dict(id="chausson_lc5077660_t2", meter=(4, 4), divisions=480),
    dict(id="debussy_sq8661306-1_t4", meter=(4, 4), divisions=96, clarinet=True),
    dict(id="haydn_sq8455808-2_t2", meter=(3, 4), divisions=480, cello=True),
]
TPQ = 480
STEPS = ["C", "C", "D", "D", "E", "F", "F", "G", "G", "A", "A", "B"]
ALTERS = [0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0]


def read_midi(path):
    m = mido.MidiFile(path)
    assert m.ticks_per_beat == TPQ and m.type == 0
    t, on, notes, tempi = 0, {}, [], []
    for msg in m.tracks[0]:
        t += msg.time
        if msg.type == "set_tempo":
            tempi.append((t, msg.tempo))
        elif msg.type == "note_on" and msg.velocity > 0:
            on[msg.note] = t
        elif msg.type in ("note_on", "note_off") and msg.note in on:
            notes.append((on.pop(msg.note), t, msg.note))
    notes.sort()
    for a, b in zip(notes, notes[1:]):
        assert b[0] >= a[1], "themes are monophonic"
    return notes, tempi


def events(notes, tempi, measure_ticks):
    """(start, end, pitch or None) pieces split at barlines and tempo changes, rests filled in,
    the last measure padded with a rest; each piece has tie flags (start, stop)."""
    seq, t = [], 0
    for a, b, p in notes:
        if a > t:
            seq.append((t, a, None))
        seq.append((a, b, p))
        t = b
    end = -(-t // measure_ticks) * measure_ticks
    if end > t:
        seq.append((t, end, None))
    cuts = sorted({k * measure_ticks for k in range(end // measure_ticks + 1)} | {tk for tk, _ in tempi})
    out = []
    for a, b, p in seq:
        inner = [c for c in cuts if a < c < b]
        bounds = [a] + inner + [b]
        for i in range(len(bounds) - 1):
            out.append(dict(start=bounds[i], end=bounds[i + 1], pitch=p,
                            tie_stop=p is not None and i > 0, tie_start=p is not None and i + 1 < len(bounds) - 1))
    return out, end


def qpm(us):
    return repr(60e6 / us)


# ---- MusicXML ----

def xml_pitch(midi, indent):
    octave, pc = midi // 12 - 1, midi % 12
    alter = f"{indent}  <alter>{ALTERS[pc]}</alter>\n" if ALTERS[pc] else ""
    return f"{indent}<pitch>\n{indent}  <step>{STEPS[pc]}</step>\n{alter}{indent}  <octave>{octave}</octave>\n{indent}</pitch>\n"


def xml_part(pid, evs, tempi, measure_ticks, n_measures, theme, written_shift=0, with_tempo=True):
    div = theme["divisions"]
    tempo_at = dict(tempi) if with_tempo else {}
    lines = [f'  <part id="{pid}">']
    for k in range(n_measures):
        m0, m1 = k * measure_ticks, (k + 1) * measure_ticks
        lines.append(f'    <measure number="{k + 1}">')
        if k == 0:
            lines.append("      <attributes>")
            lines.append(f"        <divisions>{div}</divisions>")
            lines.append('        <key><fifths>0</fifths></key>')
            lines.append(f'        <time><beats>{theme["meter"][0]}</beats><beat-type>{theme["meter"][1]}</beat-type></time>')
            if written_shift:
                lines.append("        <transpose><diatonic>-1</diatonic><chromatic>-2</chromatic></transpose>")
            lines.append("      </attributes>")
        for e in evs:
            if not (m0 <= e["start"] < m1):
                continue
            if e["start"] in tempo_at:
                lines.append('      <direction placement="above">')
                lines.append('        <direction-type><words>tempo</words></direction-type>')
                lines.append(f'        <sound tempo="{qpm(tempo_at[e["start"]])}"/>')
                lines.append("      </direction>")
            dur = (e["end"] - e["start"]) * div
            assert dur % TPQ == 0
            lines.append("      <note>")
            if e["pitch"] is None:
                lines.append("        <rest/>")
            else:
                lines.append(xml_pitch(e["pitch"] + written_shift, "        ").rstrip("\n"))
            lines.append(f"        <duration>{dur // TPQ}</duration>")
            if e["tie_stop"]:
                lines.append('        <tie type="stop"/>')
            if e["tie_start"]:
                lines.append('        <tie type="start"/>')
            lines.append("        <voice>1</voice>")
            ties = [f'<tied type="{kind}"/>' for kind, on in (("stop", e["tie_stop"]), ("start", e["tie_start"])) if on]
            if ties:
                lines.append(f"        <notations>{''.join(ties)}</notations>")
            lines.append("      </note>")
        lines.append("    </measure>")
    lines.append("  </part>")
    return "\n".join(lines)


def cello_events(notes, end, measure_ticks):
    """A drone a 12th or more below the theme's lowest note, one tied note per measure."""
    low = min(p for _, _, p in notes) - 19
    out = []
    for m0 in range(0, end, measure_ticks):
        out.append(dict(start=m0, end=m0 + measure_ticks, pitch=low, tie_stop=m0 > 0, tie_start=m0 + measure_ticks < end))
    return out


def write_musicxml(theme, notes, tempi):
    measure_ticks = theme["meter"][0] * TPQ * 4 // theme["meter"][1]
    evs, end = events(notes, tempi, measure_ticks)
    n_measures = end // measure_ticks
    parts = [("P1", "Clarinet in B\u266d" if theme.get("clarinet") else "Violin I" if theme.get("cello") else "Voice",
              "Cl." if theme.get("clarinet") else "Vln. I" if theme.get("cello") else "V.")]
    body = [xml_part("P1", evs, tempi, measure_ticks, n_measures, theme, 2 if theme.get("clarinet") else 0)]
    if theme.get("cello"):
        parts.append(("P2", "Violoncello", "Vc."))
        body.append(xml_part("P2", cello_events(notes, end, measure_ticks), tempi, measure_ticks, n_measures, theme,
                             with_tempo=False))
    part_list = "\n".join(
        f'    <score-part id="{pid}">\n      <part-name>{name}</part-name>\n'
        f'      <part-abbreviation>{abbr}</part-abbreviation>\n    </score-part>' for pid, name, abbr in parts)
    return ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
            '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
            '"http://www.musicxml.org/dtds/partwise.dtd">\n'
            '<score-partwise version="4.0">\n'
            f'  <work><work-title>{theme["id"]} (leitmotif test theme)</work-title></work>\n'
            f'  <part-list>\n{part_list}\n  </part-list>\n' + "\n".join(body) + "\n</score-partwise>\n")


def write_mxl(path, xml):
    container = ('<?xml version="1.0" encoding="UTF-8"?>\n<container>\n  <rootfiles>\n'
                 '    <rootfile full-path="score.musicxml" media-type="application/vnd.recordare.musicxml+xml"/>\n'
                 '  </rootfiles>\n</container>\n')
    with zipfile.ZipFile(path, "w") as z:
        for name, data, method in (("mimetype", "application/vnd.recordare.musicxml", zipfile.ZIP_STORED),
                                   ("META-INF/container.xml", container, zipfile.ZIP_DEFLATED),
                                   ("score.musicxml", xml, zipfile.ZIP_DEFLATED)):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)


# ---- kern ----

def kern_pitch(midi):
    octave, pc = midi // 12 - 1, midi % 12
    letter = STEPS[pc].lower() if octave >= 4 else STEPS[pc]
    count = octave - 3 if octave >= 4 else 4 - octave
    return letter * count + ("#" if ALTERS[pc] else "")


def kern_durations(ticks):
    """Recip strings whose tied durations add up to ticks (whole note = 1920)."""
    out = []
    while ticks:
        for dots in range(0, 3):
            num = 4 * TPQ * (2 ** (dots + 1) - 1)
            den = 2 ** dots * ticks
            if num % den == 0:
                out.append(str(num // den) + "." * dots)
                return out
        piece = max(4 * TPQ // (2 ** k) for k in range(0, 8) if 4 * TPQ // (2 ** k) <= ticks)
        out.append(str(4 * TPQ // piece))
        ticks -= piece
    return out


def recip_ticks(recip):
    dots = recip.count(".")
    return 4 * TPQ * (2 ** (dots + 1) - 1) // (2 ** dots * int(recip.rstrip(".")))


def kern_tokens(evs):
    """(start, token) per data line of one spine, ties within pieces made explicit."""
    toks = []
    for e in evs:
        recips = kern_durations(e["end"] - e["start"])
        t = e["start"]
        for i, r in enumerate(recips):
            if e["pitch"] is None:
                tok = r + "r"
            else:
                stop = e["tie_stop"] or i > 0
                start = e["tie_start"] or i + 1 < len(recips)
                tok = ("[" if start and not stop else "") + r + kern_pitch(e["pitch"]) + (
                    "_" if start and stop else "]" if stop else "")
            toks.append((t, tok))
            t += recip_ticks(r)
    return toks


def write_kern(theme, notes, tempi):
    measure_ticks = theme["meter"][0] * TPQ * 4 // theme["meter"][1]
    evs, end = events(notes, tempi, measure_ticks)
    spines = [kern_tokens(evs)]
    heads = [('*I"Clarinet in Bb', "*I'Cl.", "*Iclars", "*ITrd1c2") if theme.get("clarinet") else
             ('*I"Violin I', "*I'Vln. I", "*Ivioln", "*") if theme.get("cello") else ('*I"Voice', "*I'V.", "*Ivox", "*")]
    if theme.get("cello"):
        spines.insert(0, kern_tokens(cello_events(notes, end, measure_ticks)))
        heads.insert(0, ('*I"Violoncello', "*I'Vc.", "*Icello", "*"))
    n = len(spines)
    lines = [f"!!!OTL: {theme['id']} (leitmotif test theme)", "\t".join(["**kern"] * n)]
    for row in range(4):
        lines.append("\t".join(h[row] for h in heads))
    lines.append("\t".join([f"*M{theme['meter'][0]}/{theme['meter'][1]}"] * n))
    tempo_at = dict(tempi)
    times = sorted({t for s in spines for t, _ in s})
    tok_at = [dict(s) for s in spines]
    for t in times:
        if t % measure_ticks == 0:
            lines.append("\t".join([f"={t // measure_ticks + 1}"] * n))
        if t in tempo_at:
            lines.append("\t".join([f"*MM{qpm(tempo_at[t])}"] * n))
        lines.append("\t".join(d.get(t, ".") for d in tok_at))
    lines.append("\t".join(["=="] * n))
    lines.append("\t".join(["*-"] * n))
    return "\n".join(lines) + "\n"


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../../shared/corpus")
    for theme in THEMES:
        notes, tempi = read_midi(os.path.join(corpus, "themes", theme["id"] + ".mid"))
        xml = write_musicxml(theme, notes, tempi)
        base = os.path.join(HERE, theme["id"])
        with open(base + ".musicxml", "w", encoding="utf-8") as f:
            f.write(xml)
        write_mxl(base + ".mxl", xml)
        with open(base + ".krn", "w", encoding="utf-8") as f:
            f.write(write_kern(theme, notes, tempi))
        print("wrote", base + ".{musicxml,mxl,krn}")


if __name__ == "__main__":
    main()
