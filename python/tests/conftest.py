"""Fixtures: the command (LEITMOTIF_CLI) whose numbers the package must reproduce, the
repository's example recordings, and small helpers (WAV and MIDI writers)."""

import os
import struct
import subprocess
import wave

import numpy as np
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(REPO, "examples")
AUDIO = sorted(os.path.join(EXAMPLES, "audio", f) for f in os.listdir(os.path.join(EXAMPLES, "audio")))


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("LEITMOTIF_CLI")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("LEITMOTIF_CLI (the leitmotif command of the same build) is not set")

    def run(*args, capture=True):
        r = subprocess.run([path, *map(str, args)], capture_output=capture, text=True,
                           env={**os.environ, "LEITMOTIF_THREADS": os.environ.get("LEITMOTIF_THREADS", "2")})
        assert r.returncode == 0, f"leitmotif {' '.join(map(str, args))}: {r.stderr}"
        return r.stdout

    return run


@pytest.fixture(scope="session")
def shared_dir():
    d = os.environ.get("LEITMOTIF_SHARED") or os.path.join(REPO, "..", "shared")
    return d if os.path.isdir(d) else None


def write_wav(path, samples, rate):
    """16-bit PCM WAV of float samples in [-1, 1), shape (n,) or (n, channels)."""
    a = np.asarray(samples, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    pcm = np.clip(np.round(a * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(a.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return pcm


def write_midi(path, notes, bpm=120.0):
    """Type-0 Standard MIDI File of (midi_pitch or None for a rest, beats) pairs."""
    tpq = 480

    def vlq(n):
        out = [n & 0x7F]
        n >>= 7
        while n:
            out.insert(0, 0x80 | (n & 0x7F))
            n >>= 7
        return bytes(out)

    us = int(round(60e6 / bpm))
    ev = b"\x00\xff\x51\x03" + us.to_bytes(3, "big")
    wait = 0
    for pitch, beats in notes:
        ticks = int(round(beats * tpq))
        if pitch is None:
            wait += ticks
            continue
        ev += vlq(wait) + bytes([0x90, pitch, 80]) + vlq(ticks) + bytes([0x80, pitch, 0])
        wait = 0
    ev += b"\x00\xff\x2f\x00"
    with open(path, "wb") as f:
        f.write(b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq) + b"MTrk" + struct.pack(">I", len(ev)) + ev)
