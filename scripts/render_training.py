#!/usr/bin/python3
"""Render varied training excerpts (theme + context) of the weakly aligned corpus.

For every selected theme of ../shared/corpus (default: CC0 pieces only) and variant k, one excerpt
(1-3 s before the theme's first note .. 1-3 s after its last note, all parts of the piece) is rendered with
randomly drawn timbres and expressive timing:

  * fluidsynth with one of several GM soundfonts (FluidR3_GM, TimGM6mb, FluidR3Mono_GM, OPL-3 FM), excerpts
    batched into one long MIDI file per (soundfont, batch) and cut out at exact sample positions;
  * GM programs varied per part within plausible families;
  * a sampled grand piano (Salamander V3 samples) for piano parts in a share of the excerpts;
  * a numpy singing-voice synthesiser for vocal parts in most lied excerpts (several vocal tracks -> choir);
  * tempo factor 0.75-1.35 with a smooth tempo curve, onset jitter, articulation, part balance, velocity
    curves, global detune, pitch-bend vibrato for strings/winds.

Output: OUT/audio/<theme_id>__v<k>.flac (mono 22050 Hz 16 bit), OUT/pairs.csv, OUT/meta/<id>.json (plan and
the theme's rendered note times). See docs/training_data.md.
"""
import argparse
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

import mido
import numpy as np
import soundfile as sf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, 'render_training'))
import lm_piano  # noqa: E402
import lm_sampler  # noqa: E402
import lm_voice  # noqa: E402

SR = 22050
DEFAULT_CORPUS = os.path.normpath(os.path.join(HERE, '..', '..', 'shared', 'corpus'))
SF_DIRS = ['/usr/share/sounds/sf2', '/usr/share/sounds/sf3', '/usr/share/soundfonts']
# soundfont -> share of excerpts
DEFAULT_SOUNDFONTS = 'FluidR3_GM.sf2=0.32,TimGM6mb.sf2=0.25,FluidR3Mono_GM.sf3=0.33,OPL-3_FM_128M.sf2=0.10'
FORBIDDEN_SF = re.compile(r'(musescore_general|sf_gmbank)', re.I)   # evaluation / held-out timbres
SEG_QUANT = 1.28          # s: batch segment starts are multiples (= 28224 samples = 441 blocks of 64 = 1280 ms)
GAP_SEC = 4.0             # silence between batch segments (after the last note-off)
TICK_SEC = 0.0005         # output MIDI tick: tpq 1000 at 120 qpm
P_PIANO_SAMPLER = 0.30
P_VOICE_SYNTH = 0.60
HEADER = ['audio', 'start_sec', 'end_sec', 'pitch_classes', 'theme_id', 'piece_id', 'fold', 'license',
          'transposition', 'timbre']

VOCAL_NAME = re.compile(r'(voice|voix|soprano|sopran|alto|alt\b|tenor|t[eé]nor|bass\b|basso|mezzo|baritone|'
                        r'bariton|contralto|chorus|choir|chor\b|singstimme|gesang|stimme|chant|canto|dessus|'
                        r'vocal)', re.I)

# ----------------------------------------------------------------------------- program families
FAM_MELODY_VOCAL = [(53, 3), (52, 1), (40, 2), (73, 2), (71, 2), (68, 1.5), (42, 1), (60, 1), (56, 0.5),
                    (69, 0.7), (41, 0.7), (74, 0.5), (54, 0.3), (65, 0.3)]
FAM_MELODY_VOCAL_LOW = [(53, 2), (42, 3), (70, 2), (60, 2), (71, 1.5), (41, 1.5), (57, 0.7), (52, 1), (67, 0.3)]
FAM_VOCAL_OTHER = [(53, 3), (52, 3), (54, 0.5), (48, 1), (71, 0.7), (41, 0.7), (68, 0.5), (73, 0.5)]
FAM_PIANO = [(0, 60), (1, 15), (2, 6), (6, 7), (4, 4), (3, 3), (46, 3), (19, 2)]
FAM = {
    40: [(40, 80), (48, 8), (49, 5), (73, 2), (68, 2), (45, 2)],
    41: [(41, 80), (48, 8), (49, 5), (42, 4), (45, 2), (71, 1)],
    42: [(42, 80), (43, 6), (48, 6), (49, 4), (45, 2), (70, 2)],
    73: [(73, 50), (74, 10), (68, 15), (71, 15), (40, 10)],
    68: [(68, 50), (69, 15), (73, 15), (71, 10), (40, 10)],
    71: [(71, 50), (68, 15), (73, 15), (70, 10), (40, 10)],
    24: [(24, 60), (25, 20), (46, 15), (0, 5)],
    46: [(46, 60), (0, 30), (24, 10)],
}
VIB_DEPTH = {}  # program -> (lo, hi) cents of pitch-bend vibrato
for _p in (40, 41, 42, 43, 110):
    VIB_DEPTH[_p] = (10, 35)
for _p in (52, 53, 54):
    VIB_DEPTH[_p] = (5, 25)
for _p in (64, 65, 66, 67, 68, 69, 72, 73, 74, 75):
    VIB_DEPTH[_p] = (0, 20)
for _p in (56, 57, 58, 59, 60, 61):
    VIB_DEPTH[_p] = (0, 10)
for _p in (70, 71):
    VIB_DEPTH[_p] = (0, 5)


def wchoice(rng, items):
    vals = [v for v, _ in items]
    w = np.array([x for _, x in items], float)
    return vals[int(rng.choice(len(vals), p=w / w.sum()))]


def job_rng(seed, theme_id, k, salt):
    return np.random.RandomState(zlib.crc32(('%d|%s|%d|%s' % (seed, theme_id, k, salt)).encode()) & 0xffffffff)


# ----------------------------------------------------------------------------- soundfonts
def resolve_sf(name):
    cands = [name] if os.path.isabs(name) else [os.path.join(d, name) for d in SF_DIRS]
    for c in cands:
        if os.path.exists(c):
            if FORBIDDEN_SF.search(c) or FORBIDDEN_SF.search(os.path.realpath(c)):
                raise SystemExit('refusing soundfont %s: MuseScore_General* is reserved for evaluation and '
                                 'sf_GMbank is the held-out test timbre' % c)
            return c
    raise SystemExit('soundfont %s not found' % name)


def parse_soundfonts(spec):
    out = []
    for item in spec.split(','):
        name, _, w = item.partition('=')
        if FORBIDDEN_SF.search(name):
            raise SystemExit('refusing soundfont %s (reserved for evaluation / held-out testing)' % name)
        out.append((name.strip(), float(w or 1)))
    return out


# ----------------------------------------------------------------------------- MIDI reading
class Piece:
    def __init__(self, path):
        mid = mido.MidiFile(path)
        self.tpq = mid.ticks_per_beat
        tempos = []
        self.parts = []
        end = 0
        for ti, tr in enumerate(mid.tracks):
            t = 0
            name, prog, chan = tr.name or '', None, None
            notes, open_ = [], {}
            for m in tr:
                t += m.time
                if m.type == 'set_tempo':
                    tempos.append((t, m.tempo))
                elif m.type == 'program_change' and prog is None:
                    prog = m.program
                elif m.type == 'note_on' and m.velocity > 0:
                    open_.setdefault(m.note, []).append((t, m.velocity))
                    chan = m.channel
                elif m.type in ('note_off', 'note_on') and open_.get(m.note):
                    on, vel = open_[m.note].pop(0)
                    if t > on:
                        notes.append((on, t, m.note, vel))
            end = max(end, t)
            if notes:
                notes.sort()
                self.parts.append({'track': ti, 'name': name.replace('\n', ' ').strip(), 'program': prog or 0,
                                   'channel': chan, 'notes': np.array(notes, dtype=np.int64)})
        self.end_tick = end
        tempos.sort()
        if not tempos or tempos[0][0] != 0:
            tempos.insert(0, (0, 500000))
        tk, tp, sc = [], [], []
        s = 0.0
        for t, tempo in tempos:
            if tk:
                s += (t - tk[-1]) * tp[-1] / 1e6 / self.tpq
                if t == tk[-1]:
                    tk.pop(); tp.pop(); sc.pop()
            tk.append(t); tp.append(tempo); sc.append(s)
        self._tk, self._tp, self._sc = np.array(tk, float), np.array(tp, float), np.array(sc)

    def sec(self, tick):
        tick = np.asarray(tick, dtype=np.float64)
        i = np.clip(np.searchsorted(self._tk, tick, side='right') - 1, 0, len(self._tk) - 1)
        return self._sc[i] + (tick - self._tk[i]) * self._tp[i] / 1e6 / self.tpq


def find_theme(piece, theme):
    """Locate the theme's notes: (part index, list of note row indices of the skyline), or None."""
    tpq = piece.tpq
    s_tick = int(round(float(theme['start_qn']) * tpq))
    e_tick = int(round(float(theme['end_qn']) * tpq))
    want = [int(x) for x in theme['midi_pitches'].split()]
    best = None
    for pi, part in enumerate(piece.parts):
        n = part['notes']
        sel = np.where((n[:, 0] >= s_tick) & (n[:, 0] < e_tick))[0]
        if not len(sel):
            continue
        sky = []
        for on in np.unique(n[sel, 0]):
            ids = sel[n[sel, 0] == on]
            sky.append(int(ids[np.argmax(n[ids, 2])]))
        pitches = [int(n[i, 2]) for i in sky]
        score = sum(a == b for a, b in zip(pitches, want)) / len(want) - 0.01 * abs(len(pitches) - len(want))
        if n[sky[0], 0] != s_tick or pitches[0] != want[0]:
            score -= 1
        if best is None or score > best[0]:
            best = (score, pi, sky)
    if best is None or best[0] < 0.8:
        return None
    return best[1], best[2][:len(want)], e_tick


def is_vocal(part, collection):
    return bool(VOCAL_NAME.search(part['name'])) or part['program'] in (52, 53, 54) or \
        (collection == 'lied' and part['program'] in (52, 53, 54, 73, 71, 68) and 'voice' in part['name'].lower())


def is_piano(part):
    return part['program'] in range(0, 8) or re.search(r'piano|pianoforte|klavier', part['name'], re.I)


# ----------------------------------------------------------------------------- planning
def plan_excerpt(piece, prow, theme, k, seed, sf_name, avail_piano, theme_only=False, melody_db=(-6.0, 6.0),
                 choir=False, real_samples=0.0, recorded=None):
    """Draw all random choices of one excerpt and compute its note list in the excerpt time frame.
    recorded: the recorded-instrument Sampler (lm_sampler), or None."""
    rng = job_rng(seed, theme['theme_id'], k, 'plan')
    loc = find_theme(piece, theme)
    if loc is None:
        return None
    mel_pi, sky, e_tick = loc
    collection = prow['collection']
    tpq = piece.tpq
    s_nom = float(piece.sec(int(round(float(theme['start_qn']) * tpq))))
    e_nom = float(piece.sec(e_tick))
    # ---- tempo warp (nominal seconds -> rendered seconds, 0 at theme start)
    g = math.exp(rng.uniform(math.log(0.75), math.log(1.35)))
    depth = rng.uniform(0.0, 0.12)
    f1, f2 = rng.uniform(2, 8), rng.uniform(6, 16)
    p1, p2 = rng.uniform(0, 2 * np.pi, 2)
    grid = np.arange(s_nom - 20.0, e_nom + 20.0, 0.005)
    w = 2 * np.pi / 60.0
    rate = g * (1 + depth * (0.6 * np.sin(w * f1 * grid + p1) + 0.4 * np.sin(w * f2 * grid + p2)))
    inv = 1.0 / rate
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * 0.005)])
    cum -= np.interp(s_nom, grid, cum)

    def T(t):
        t = np.asarray(t, float)
        return np.interp(t, grid, cum, left=np.nan, right=np.nan)

    jit_ms = rng.uniform(10, 30)
    detune = rng.uniform(-30, 30)
    vel_scale = rng.uniform(0.7, 1.15)
    vel_depth, vel_f, vel_p = rng.uniform(0, 0.25), rng.uniform(0.5, 3), rng.uniform(0, 2 * np.pi)
    vel_jit = rng.uniform(2, 8)
    # the theme part's level against the others (which get -3..3 dB); performers bring the melody out
    bal_db = rng.uniform(*melody_db)
    # ---- sources
    parts = piece.parts
    vocal = [i for i, p in enumerate(parts) if is_vocal(p, collection)]
    use_voice = bool(vocal) and (collection == 'lied' or len(vocal) >= 2) and rng.rand() < P_VOICE_SYNTH
    if choir:
        # --choir: every part sung (a string quartet becomes an a-cappella vocal quartet), the
        # texture of a choir, whose voices share one timbre, with the theme part as the target
        vocal, use_voice = list(range(len(parts))), True
    pianos = [i for i, p in enumerate(parts) if is_piano(p) and i not in vocal]
    use_piano_samples = bool(pianos) and avail_piano and rng.rand() < P_PIANO_SAMPLER
    piano_prog = int(wchoice(rng, FAM_PIANO))   # one instrument for all piano staves
    # --real-samples: in this share of the excerpts every part whose drawn GM program has recorded
    # samples (lm_sampler) that cover its range plays them; from a random stream of its own, so that
    # every other choice is the same as without the option
    use_recorded = recorded is not None and real_samples > 0 and \
        job_rng(seed, theme['theme_id'], k, 'samples').rand() < real_samples
    pinfo = []
    mean_pitch_mel = float(np.mean(parts[mel_pi]['notes'][sky, 2]))
    for i, p in enumerate(parts):
        d = {'name': p['name'], 'orig_program': p['program'], 'melody': i == mel_pi}
        if use_voice and i in vocal:
            d['source'] = 'voice'
            d['voice'] = lm_voice.draw_voice(rng, lm_voice.voice_type_for(float(np.mean(p['notes'][:, 2])), rng))
        elif use_piano_samples and i in pianos:
            d['source'] = 'salamander'
            d['pedal'] = 0.0 if rng.rand() < 0.4 else float(rng.uniform(0.2, 1.0))
        else:
            d['source'] = 'fluidsynth'
            if i in vocal:
                fam = FAM_MELODY_VOCAL_LOW if (i == mel_pi and mean_pitch_mel < 57) else \
                    (FAM_MELODY_VOCAL if i == mel_pi else FAM_VOCAL_OTHER)
            elif is_piano(p):
                fam = [(piano_prog, 1)]
            else:
                fam = FAM.get(p['program'], [(p['program'], 1)])
            d['program'] = int(wchoice(rng, fam))
            lo_hi = VIB_DEPTH.get(d['program'])
            poly = len(p['notes']) / max(1, len(np.unique(p['notes'][:, 0])))
            if lo_hi and poly < 1.3 and (i == mel_pi or rng.rand() < 0.7):
                d['vib'] = (rng.uniform(4.5, 6.5), rng.uniform(*lo_hi), rng.uniform(0.1, 0.4))
            if use_recorded and recorded.covers(d['program'], p['notes'][:, 2]):
                d['source'] = 'sampled'
        if d['source'] == 'voice':
            d['artic'] = rng.uniform(0.85, 1.02)
        elif i == mel_pi:
            d['artic'] = rng.uniform(0.75, 1.05)
        else:
            d['artic'] = rng.uniform(0.6, 1.1)
        d['gain_db'] = bal_db if i == mel_pi else rng.uniform(-3, 3)
        pinfo.append(d)
    # ---- notes in rendered time (0 = nominal theme start)
    theme_set = set(sky)
    allnotes = []   # (part, on_r, off_r, pitch, vel, is_theme, theme_pos)
    for i, p in enumerate(parts):
        n = p['notes']
        on_nom = piece.sec(n[:, 0]); off_nom = piece.sec(n[:, 1])
        sel = (on_nom > s_nom - 19) & (on_nom < e_nom + 19)
        if not np.any(sel):
            continue
        idx = np.where(sel)[0]
        on_r0 = T(on_nom[idx]); off_r0 = T(off_nom[idx])
        off_r0 = np.where(np.isnan(off_r0), on_r0 + (off_nom[idx] - on_nom[idx]) / g, off_r0)
        # onset jitter per (part, onset tick): chords stay together, plus a tiny spread
        groups = {}
        for j, ii in enumerate(idx):
            tkey = int(n[ii, 0])
            if tkey not in groups:
                groups[tkey] = float(np.clip(rng.randn() * jit_ms / 2, -jit_ms, jit_ms)) / 1000.0
        for j, ii in enumerate(idx):
            if np.isnan(on_r0[j]):
                continue
            jt = groups[int(n[ii, 0])] + rng.uniform(-0.003, 0.003)
            on_r = on_r0[j] + jt
            dur = (off_r0[j] - on_r0[j]) * pinfo[i]['artic']
            is_th = (i == mel_pi and ii in theme_set)
            pos = sky.index(ii) if is_th else -1
            if is_th and pos == len(sky) - 1:
                # last theme note: skyline may be truncated at end_qn
                dur_th = (float(T(min(off_nom[ii], e_nom))) - on_r0[j]) * pinfo[i]['artic']
            else:
                dur_th = dur
            dyn = 1.0 + vel_depth * math.sin(2 * math.pi * vel_f / 60.0 * on_r + vel_p)
            vel = float(np.clip(n[ii, 3] * vel_scale * dyn + rng.randn() * vel_jit, 1, 127))
            allnotes.append([i, on_r, on_r + max(0.04, dur), int(n[ii, 2]), vel, is_th, pos,
                             on_r + max(0.04, dur_th)])
    # same-pitch overlaps within a part: cut the earlier note
    allnotes.sort(key=lambda x: (x[0], x[3], x[1]))
    for a, b in zip(allnotes, allnotes[1:]):
        if a[0] == b[0] and a[3] == b[3] and a[2] > b[1] - 0.005:
            a[2] = max(a[1] + 0.02, b[1] - 0.005)
            a[7] = min(a[7], a[2])
    th_notes = sorted([x for x in allnotes if x[5]], key=lambda x: x[6])
    if len(th_notes) != len(sky):
        return None
    th_start = th_notes[0][1]
    th_end = min(th_notes[-1][7], th_notes[-1][2])
    piece_start_r = float(T(piece.sec(0))) if not np.isnan(T(piece.sec(0))) else -1e9
    piece_end_r = float(T(piece.sec(piece.end_tick))) if not np.isnan(T(piece.sec(piece.end_tick))) else 1e9
    ws = max(th_start - rng.uniform(1, 3), piece_start_r - rng.uniform(0.1, 0.5))
    we = min(th_end + rng.uniform(1, 3), piece_end_r + rng.uniform(0.5, 1.5))
    we = max(we, th_end + 0.3)
    if theme_only:
        allnotes = [x for x in allnotes if x[5]]
    notes = []
    for x in allnotes:
        if x[1] < we and x[2] > ws and x[1] > ws - 3.0:
            notes.append((x[0], x[1] - ws, min(x[2], we + 0.5) - ws, x[3], x[4]))
    notes.sort(key=lambda x: (x[1], x[0]))
    th_rel = [(x[1] - ws, min(x[7], x[2]) - ws, x[3]) for x in th_notes]
    return {
        'theme_id': theme['theme_id'], 'k': k, 'soundfont': sf_name, 'parts': pinfo, 'notes': notes,
        'dur': we - ws, 'start_sec': th_start - ws, 'end_sec': th_end - ws, 'theme_notes': th_rel,
        'detune': detune, 'tempo_factor': g, 'tempo_depth': depth, 'jitter_ms': jit_ms, 'balance_db': bal_db,
        'peak_dbfs': float(rng.uniform(-6, -1)), 'seed': int(rng.randint(2 ** 31)),
    }


# ----------------------------------------------------------------------------- fluidsynth batch
def build_batch_midi(plans, path):
    """One MIDI file with all plans' fluidsynth parts as consecutive segments. Returns segment base times."""
    ev = []   # (time_sec, order, msg)
    base = SEG_QUANT * 1  # first segment after 1.28 s
    bases = []
    for pl in plans:
        fs_parts = [i for i, d in enumerate(pl['parts']) if d['source'] == 'fluidsynth']
        lead = max([0.0] + [-n[1] for n in pl['notes'] if n[0] in fs_parts])
        seg0 = base + lead               # excerpt time 0 in the batch
        # make seg0 itself a multiple of SEG_QUANT so that timing quantisation is position independent
        seg0 = math.ceil(seg0 / SEG_QUANT - 1e-9) * SEG_QUANT
        bases.append(seg0)
        # reset all channels in the gap
        r0 = seg0 - lead - 0.9
        for ch in range(16):
            if ch == 9:
                continue
            for cc, v in ((123, 0), (120, 0), (121, 0)):
                ev.append((r0, 0, mido.Message('control_change', channel=ch, control=cc, value=v)))
            ev.append((r0, 1, mido.Message('pitchwheel', channel=ch, pitch=0)))
        chans = {}
        bend0 = int(np.clip(round(pl['detune'] / 200.0 * 8192), -8192, 8191))
        gains = [d['gain_db'] for d in pl['parts']]
        gmax = max(gains[i] for i in fs_parts) if fs_parts else 0
        for j, i in enumerate(fs_parts):
            ch = j if j < 9 else j + 1
            chans[i] = ch
            d = pl['parts'][i]
            vol = int(np.clip(round(127 * 10 ** ((d['gain_db'] - gmax) / 40.0)), 10, 127))
            r1 = seg0 - lead - 0.6
            for msg in (mido.Message('control_change', channel=ch, control=0, value=0),
                        mido.Message('control_change', channel=ch, control=32, value=0),
                        mido.Message('program_change', channel=ch, program=d['program']),
                        mido.Message('control_change', channel=ch, control=101, value=0),
                        mido.Message('control_change', channel=ch, control=100, value=0),
                        mido.Message('control_change', channel=ch, control=6, value=2),
                        mido.Message('control_change', channel=ch, control=38, value=0),
                        mido.Message('control_change', channel=ch, control=7, value=vol),
                        mido.Message('control_change', channel=ch, control=10, value=64),
                        mido.Message('control_change', channel=ch, control=11, value=127),
                        mido.Message('control_change', channel=ch, control=91, value=0),
                        mido.Message('control_change', channel=ch, control=93, value=0),
                        mido.Message('pitchwheel', channel=ch, pitch=bend0)):
                ev.append((r1, 2, msg))
        last = seg0
        vib_notes = {}
        for (pi, on, off, pitch, vel) in pl['notes']:
            if pi not in chans:
                continue
            ch = chans[pi]
            ev.append((seg0 + on, 4, mido.Message('note_on', channel=ch, note=pitch, velocity=int(round(vel)))))
            ev.append((seg0 + off, 3, mido.Message('note_off', channel=ch, note=pitch, velocity=0)))
            last = max(last, seg0 + off)
            if 'vib' in pl['parts'][pi]:
                vib_notes.setdefault(pi, []).append((on, off))
        # pitch-bend vibrato (rate, depth cents, onset delay) on monophonic string/wind/voice parts
        rng = np.random.RandomState(pl['seed'] % (2 ** 32))
        for pi, nl in vib_notes.items():
            rate, depth_c, delay = pl['parts'][pi]['vib']
            ch = chans[pi]
            t = np.arange(min(o for o, _ in nl), max(f for _, f in nl) + 0.3, 0.01)
            wv = np.zeros(len(t))
            for o, f in nl:
                m = (t >= o) & (t < f + 0.2)
                wv[m] = np.maximum(wv[m], np.clip((t[m] - o - delay) / 0.2, 0, 1))
            ph = np.cumsum(2 * np.pi * rate * (1 + 0.05 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6))) * 0.01)
            cents = pl['detune'] + depth_c * wv * np.sin(ph + rng.uniform(0, 6))
            bends = np.clip(np.round(cents / 200.0 * 8192), -8192, 8191).astype(int)
            prev = None
            for tt, b in zip(t, bends):
                if b != prev:
                    ev.append((seg0 + tt, 1, mido.Message('pitchwheel', channel=ch, pitch=int(b))))
                    prev = b
            ev.append((seg0 + t[-1] + 0.01, 1, mido.Message('pitchwheel', channel=ch, pitch=bend0)))
        base = math.ceil((max(last, seg0 + pl['dur']) + GAP_SEC) / SEG_QUANT) * SEG_QUANT + SEG_QUANT
    ev.append((base, 5, mido.Message('control_change', channel=0, control=121, value=0)))
    ev.sort(key=lambda e: (e[0], e[1]))
    tr = mido.MidiTrack()
    tr.append(mido.MetaMessage('set_tempo', tempo=500000, time=0))
    cur = 0
    for t, _, m in ev:
        tick = int(round(t / TICK_SEC))
        tr.append(m.copy(time=max(0, tick - cur)))
        cur = max(cur, tick)
    mf = mido.MidiFile(type=0, ticks_per_beat=1000)
    mf.tracks.append(tr)
    mf.save(path)
    return bases


def run_fluidsynth(sf_path, midi_path, wav_path):
    cmd = ['fluidsynth', '-n', '-i', '-q', '-R', '0', '-C', '0', '-g', '0.3', '-r', str(SR),
           '-o', 'synth.polyphony=1024', '-o', 'synth.cpu-cores=1', '-o', 'audio.file.format=float',
           '-T', 'wav', '-F', wav_path, sf_path, midi_path]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0 or not os.path.exists(wav_path):
        raise RuntimeError('fluidsynth failed: %s' % r.stderr.decode(errors='replace')[-500:])
    x, sr = sf.read(wav_path, dtype='float32', always_2d=True)
    assert sr == SR
    return x.mean(axis=1)


# ----------------------------------------------------------------------------- mixing
def active_rms(x):
    if not len(x):
        return 0.0
    n = len(x) // 1024
    if n < 1:
        return float(np.sqrt(np.mean(x ** 2)))
    fr = np.sqrt(np.mean(x[:n * 1024].reshape(n, 1024) ** 2, axis=1))
    m = fr.max()
    if m <= 0:
        return 0.0
    act = fr[fr > m * 10 ** (-35 / 20)]
    return float(np.sqrt(np.mean(act ** 2)))


_PIANO = None
_SAMPLER = None


def sampler():
    """The recorded-instrument sampler of this process (its cache is built before forking)."""
    global _SAMPLER
    if _SAMPLER is None:
        _SAMPLER = lm_sampler.Sampler(SR)
    return _SAMPLER


def render_excerpt_numpy(pl, fs_sig):
    """Render the non-fluidsynth parts of a plan and mix everything. Returns float mono signal."""
    global _PIANO
    n = int(math.ceil(pl['dur'] * SR))
    rng = np.random.RandomState(pl['seed'] % (2 ** 32))
    stems = []  # (signal, target gain)
    fs_g2 = 0.0
    for i, d in enumerate(pl['parts']):
        g = 10 ** (d['gain_db'] / 20.0)
        nl = [(on, off, pitch, vel) for (pi, on, off, pitch, vel) in pl['notes'] if pi == i]
        if not nl:
            continue
        if d['source'] == 'fluidsynth':
            fs_g2 += g * g
        elif d['source'] == 'voice':
            stems.append((lm_voice.render_voice(nl, SR, rng, n, d['voice'], pl['detune']), g))
        elif d['source'] == 'salamander':
            if _PIANO is None:
                _PIANO = lm_piano.Piano(SR)
            stems.append((_PIANO.render(nl, n, rng, pl['detune'], d['pedal']), g))
        elif d['source'] == 'sampled':
            stems.append((sampler().render(d['program'], nl, n, rng, pl['detune'], d.get('vib')), g))
    mix = np.zeros(n, dtype=np.float64)
    if fs_sig is not None and fs_g2 > 0:
        r = active_rms(fs_sig)
        if r > 0:
            mix += fs_sig[:n] * (math.sqrt(fs_g2) / r)
    for s, g in stems:
        r = active_rms(s)
        if r > 0:
            mix += s[:n] * (g / r)
    # short fades at the cut points (the excerpt is cut out of a longer performance)
    fi, fo = int(0.01 * SR), int(0.15 * SR)
    mix[:fi] *= np.linspace(0, 1, fi)
    mix[-fo:] *= np.linspace(1, 0, fo)
    peak = np.max(np.abs(mix))
    if peak > 0:
        mix *= 10 ** (pl['peak_dbfs'] / 20.0) / peak
    return mix


def timbre_tag(pl):
    srcs = []
    for d in pl['parts']:
        if d['source'] == 'fluidsynth':
            srcs.append('%s:%d' % (os.path.splitext(pl['soundfont'])[0], d['program']))
        elif d['source'] == 'voice':
            srcs.append('voice:%s' % d['voice']['type'])
        elif d['source'] == 'sampled':
            srcs.append('tonejs:%d' % d['program'])
        else:
            srcs.append('salamander')
    return '+'.join(srcs)


# ----------------------------------------------------------------------------- worker
_PIECES = {}


def work_batch(args):
    batch, ctx = args
    t0 = time.time()
    sf_name = batch[0]['sf']
    plans = []
    for job in batch:
        pid = job['theme']['piece_id']
        if pid not in _PIECES:
            if len(_PIECES) > 64:
                _PIECES.clear()
            _PIECES[pid] = Piece(os.path.join(ctx['corpus'], 'midi', pid + '.mid'))
        pl = plan_excerpt(_PIECES[pid], job['piece'], job['theme'], job['k'], ctx['seed'], sf_name,
                          ctx['piano'], ctx['theme_only'], ctx['melody_db'], ctx['choir'], ctx['real_samples'],
                          sampler() if ctx['real_samples'] > 0 else None)
        if pl is None:
            sys.stderr.write('warning: theme %s not located in its MIDI, skipped\n' % job['theme']['theme_id'])
            continue
        pl['job'] = job
        plans.append(pl)
    tmp = tempfile.mkdtemp(prefix='rt_batch_')
    rows, audio_sec = [], 0.0
    try:
        need_fs = any(d['source'] == 'fluidsynth' and any(nn[0] == i for nn in pl['notes'])
                      for pl in plans for i, d in enumerate(pl['parts']))
        fs_all, bases = None, None
        if need_fs:
            mpath = os.path.join(tmp, 'batch.mid')
            bases = build_batch_midi(plans, mpath)
            fs_all = run_fluidsynth(resolve_sf(sf_name), mpath, os.path.join(tmp, 'batch.wav'))
        for j, pl in enumerate(plans):
            fs_sig = None
            if fs_all is not None:
                i0 = int(round(bases[j] * SR))
                n = int(math.ceil(pl['dur'] * SR))
                fs_sig = fs_all[i0:i0 + n]
                if len(fs_sig) < n:
                    fs_sig = np.pad(fs_sig, (0, n - len(fs_sig)))
            y = render_excerpt_numpy(pl, fs_sig)
            job = pl['job']
            name = '%s__v%d' % (job['theme']['theme_id'], job['k'])
            out_audio = os.path.join(ctx['out'], 'audio', name + '.flac')
            tmpf = out_audio + '.tmp.flac'
            sf.write(tmpf, y.astype(np.float32), SR, subtype='PCM_16', format='FLAC')
            os.replace(tmpf, out_audio)
            meta = {k: v for k, v in pl.items() if k not in ('job', 'notes')}
            meta['n_notes'] = len(pl['notes'])
            with open(os.path.join(ctx['out'], 'meta', name + '.json'), 'w') as f:
                json.dump(meta, f, default=lambda o: o.tolist() if hasattr(o, 'tolist') else float(o))
            th = job['theme']
            rows.append({'audio': 'audio/%s.flac' % name, 'start_sec': '%.3f' % pl['start_sec'],
                         'end_sec': '%.3f' % pl['end_sec'], 'pitch_classes': th['pitch_classes'],
                         'theme_id': th['theme_id'], 'piece_id': th['piece_id'], 'fold': th['fold'],
                         'license': job['piece']['license'], 'transposition': '0', 'timbre': timbre_tag(pl)})
            audio_sec += pl['dur']
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows, audio_sec, time.time() - t0, sf_name


# ----------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True, help='output folder (outside the repository)')
    ap.add_argument('--corpus', default=DEFAULT_CORPUS)
    ap.add_argument('--license', default='CC0-1.0', help='comma list of pieces.csv licences (default CC0-1.0)')
    ap.add_argument('--folds', default='1,2,3,4')
    ap.add_argument('--variants', type=int, default=1)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--limit', type=int, help='at most N themes (evenly spread over the selection)')
    ap.add_argument('--jobs', type=int, default=1)
    ap.add_argument('--batch', type=int, default=12, help='excerpts per fluidsynth run')
    ap.add_argument('--soundfonts', default=DEFAULT_SOUNDFONTS, help='name=weight,... (default %(default)s)')
    ap.add_argument('--no-piano-samples', action='store_true', help='do not use the Salamander sampler')
    ap.add_argument('--melody-db', default='-6,6',
                    help='LO,HI: range (dB) of the theme part\'s gain; the other parts get -3..3 (default %(default)s)')
    ap.add_argument('--theme-only', action='store_true', help='debug: render only the theme notes (timing check)')
    ap.add_argument('--choir', action='store_true',
                    help='every part sung by the voice synthesiser (use with --collections quartet: a vocal quartet)')
    ap.add_argument('--collections', help='comma list of pieces.csv collections to use (default: all)')
    ap.add_argument('--real-samples', type=float, default=0.0, metavar='P',
                    help='share of excerpts whose string, wind, harp and organ parts play recorded samples '
                         '(tonejs-instruments; default 0)')
    a = ap.parse_args(argv)
    if a.jobs > 2:
        sys.stderr.write('note: this machine is shared; consider --jobs <= 2\n')
    out = os.path.abspath(a.out)
    if out.startswith(os.path.abspath(os.path.join(HERE, '..')) + os.sep):
        raise SystemExit('--out must be outside the repository')
    sfs = parse_soundfonts(a.soundfonts)
    for name, _ in sfs:
        resolve_sf(name)
    piano_ok = (not a.no_piano_samples) and lm_piano.Piano.available()
    if not piano_ok and not a.no_piano_samples:
        sys.stderr.write('warning: Salamander samples not installed; piano sampler disabled (see docs)\n')
    if piano_ok:
        lm_piano.Piano(SR)  # build the decoded-sample cache once, before forking
    if a.real_samples > 0:
        if not (0.0 < a.real_samples <= 1.0):
            raise SystemExit('--real-samples must be in [0, 1]')
        have = lm_sampler.available()
        if not have:
            raise SystemExit('--real-samples: no tonejs-instrument-*-mp3 package in %s '
                             '(scripts/train_robust.sh DATA deps installs them)' % lm_sampler.NPM)
        sys.stderr.write('recorded instruments: %s\n' % ', '.join(have))
        sampler()  # the decoded-sample caches, once, before forking
    lic = set(x.strip().lower() for x in a.license.split(','))
    folds = set(a.folds.split(','))
    with open(os.path.join(a.corpus, 'pieces.csv'), newline='') as f:
        pieces = {r['piece_id']: r for r in csv.DictReader(f)
                  if r['license'].lower() in lic and r['fold'] in folds
                  and (not a.collections or r['collection'] in a.collections.split(','))}
    with open(os.path.join(a.corpus, 'themes.csv'), newline='') as f:
        themes = [r for r in csv.DictReader(f) if r['piece_id'] in pieces]
    if a.limit and a.limit < len(themes):
        step = len(themes) / a.limit
        themes = [themes[int(i * step)] for i in range(a.limit)]
    for d in ('audio', 'meta'):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    jl = os.path.join(out, 'pairs.jsonl')
    done = {}
    if os.path.exists(jl):
        with open(jl) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if os.path.exists(os.path.join(out, r['audio'])):
                    done[r['audio']] = r
    names = [n for n, _ in sfs]
    w = np.array([x for _, x in sfs], float)
    w /= w.sum()
    jobs = []
    for th in themes:
        for k in range(a.variants):
            if 'audio/%s__v%d.flac' % (th['theme_id'], k) in done:
                continue
            sfn = names[int(job_rng(a.seed, th['theme_id'], k, 'sf').choice(len(names), p=w))]
            jobs.append({'theme': th, 'piece': pieces[th['piece_id']], 'k': k, 'sf': sfn})
    # batches per soundfont, keeping pieces together
    batches = []
    for sfn in names:
        js = sorted([j for j in jobs if j['sf'] == sfn], key=lambda j: (j['theme']['piece_id'], j['theme']['theme_id'], j['k']))
        for i in range(0, len(js), a.batch):
            batches.append(js[i:i + a.batch])
    batches.sort(key=lambda b: (b[0]['theme']['piece_id'], b[0]['sf']))
    ctx = {'corpus': a.corpus, 'out': out, 'seed': a.seed, 'piano': piano_ok, 'theme_only': a.theme_only,
           'choir': a.choir, 'real_samples': a.real_samples,
           'melody_db': tuple(float(x) for x in a.melody_db.split(','))}
    sys.stderr.write('%d themes x %d variants: %d to render (%d already done), %d batches, %d jobs\n'
                     % (len(themes), a.variants, len(jobs), len(done), len(batches), a.jobs))
    t0 = time.time()
    n_done, audio_tot = 0, 0.0
    with open(jl, 'a') as jf:
        if a.jobs > 1:
            from multiprocessing import Pool
            pool = Pool(a.jobs)
            it = pool.imap_unordered(work_batch, [(b, ctx) for b in batches])
        else:
            pool = None
            it = (work_batch((b, ctx)) for b in batches)
        for rows, asec, bsec, sfn in it:
            for r in rows:
                jf.write(json.dumps(r) + '\n')
                done[r['audio']] = r
            jf.flush()
            n_done += len(rows)
            audio_tot += asec
            el = time.time() - t0
            sys.stderr.write('[%d/%d] %.0f s elapsed, %.2f s/excerpt, %.1fx real time (batch %s: %d in %.1f s)\n'
                             % (n_done, len(jobs), el, el / max(1, n_done), audio_tot / max(el, 1e-9), sfn,
                                len(rows), bsec))
        if pool:
            pool.close(); pool.join()
    # rebuild pairs.csv atomically from everything written so far
    rows = sorted(done.values(), key=lambda r: r['audio'])
    tmp = os.path.join(out, 'pairs.csv.tmp')
    with open(tmp, 'w', newline='') as f:
        wr = csv.DictWriter(f, fieldnames=HEADER)
        wr.writeheader()
        for r in rows:
            wr.writerow({k: r[k] for k in HEADER})
    os.replace(tmp, os.path.join(out, 'pairs.csv'))
    el = time.time() - t0
    sys.stderr.write('done: %d new excerpts (%.1f min audio) in %.1f s; pairs.csv has %d rows\n'
                     % (n_done, audio_tot / 60, el, len(rows)))


if __name__ == '__main__':
    main()
