"""What the two sample players (lm_piano: Salamander piano, lm_sampler: recorded orchestral
instruments) share: decoding a recorded note into the cache, the cache file, and the note's
release and soft-note darkening."""
import os

import numpy as np

_STEPS = {'C': 0, 'D': 2, 'E': 4, 'F': 5, 'G': 7, 'A': 9, 'B': 11}


def note_midi(name):
    """MIDI pitch of a sample's note name: 'A0', 'C#4' (Salamander) or 'Cs4' (tonejs-instruments)."""
    step, sharp, octave = name[0], name[1:-1], int(name[-1])
    if step not in _STEPS or sharp not in ('', '#', 's'):
        raise ValueError('not a note name: %r' % name)
    return 12 * (octave + 1) + _STEPS[step] + (sharp != '')


def decode_note(path, sr, max_sec=None):
    """A recorded note as float64 mono at sr: its first max_sec seconds (all when None), leading
    silence trimmed (the onset kept exact: 16 samples before the first one above 1 % of the peak),
    peak-normalised."""
    import soundfile as sf
    from math import gcd
    from scipy.signal import resample_poly
    x, fsr = sf.read(path, dtype='float64', always_2d=True)
    x = x.mean(axis=1)
    if max_sec is not None:
        x = x[:int(max_sec * fsr)]
    g = gcd(sr, fsr)
    y = resample_poly(x, sr // g, fsr // g)
    thr = 0.01 * np.max(np.abs(y))
    i0 = int(np.argmax(np.abs(y) > thr))
    y = y[max(0, i0 - 16):]
    return y / (np.max(np.abs(y)) + 1e-12)


def save_cache(cpath, items):
    """items: (pitch, float32 samples) in any order -> cpath (.npz: `pitches` ascending, s0, s1, ...),
    written to a temporary file and renamed, so that a killed build leaves no half cache."""
    items = sorted(items, key=lambda t: t[0])
    tmp = cpath + '.tmp.npz'
    np.savez(tmp, pitches=np.array([p for p, _ in items]), **{'s%d' % i: y for i, (_, y) in enumerate(items)})
    os.replace(tmp, cpath)


def load_cache(cpath):
    """-> (pitches, [samples]) of a cache written by save_cache."""
    d = np.load(cpath)
    return d['pitches'], [d['s%d' % i] for i in range(len(d['pitches']))]


def release_envelope(t, dur, rel):
    """1 while the note is held (t < dur), then an exponential release with time constant rel."""
    return np.where(t < dur, 1.0, np.exp(-(t - dur) / rel))


def darken(y, vel, sr):
    """Softer notes sound darker: a one-pole low-pass (cut-off 3300-7200 Hz) below velocity 105."""
    bright = np.clip(vel / 110.0, 0.3, 1.0)
    if bright >= 0.95:
        return y
    from scipy.signal import lfilter
    a = np.exp(-2 * np.pi * (1500 + 6000 * bright) / sr)
    return lfilter([1 - a], [1, -a], y)
