#!/usr/bin/env python3
"""How well chroma features read one voice of a recording, against its F0 annotation: of the
voice's voiced frames (25 Hz, within --until seconds), the share whose largest chroma value is the
voice's pitch class, and the mean l2-normalised chroma value at that pitch class.

Usage: scripts/voice_reading.py F0.csv CHROMA.npy... [--until SEC]
  F0.csv      'time;f0' rows (Hz, 0 = unvoiced), e.g. the Dagstuhl ChoirSet larynx-microphone F0 of
              ../shared/realaudio/annotations
  CHROMA.npy  `leitmotif chroma AUDIO --model M -o CHROMA.npy` of the same recording ([12][T])
Used for issue 12's diagnosis of the real choir recording (docs/results/robustness.md)."""
import argparse

import numpy as np


def read_f0(path):
    t, hz = [], []
    with open(path) as f:
        for line in f:
            parts = line.strip().split(';')
            try:
                t.append(float(parts[0]))
                hz.append(float(parts[1]))
            except (ValueError, IndexError):
                continue  # the header
    return np.array(t), np.array(hz)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('f0')
    ap.add_argument('chroma', nargs='+')
    ap.add_argument('--until', type=float, default=float('inf'), help='only frames before SEC')
    a = ap.parse_args()
    t, hz = read_f0(a.f0)
    for path in a.chroma:
        C = np.load(path)
        fr = np.arange(C.shape[1]) / 25.0
        # voiced where every annotation frame around it is voiced; the pitch class of the nearest semitone
        voiced = (np.interp(fr, t, (hz > 0).astype(float)) > 0.99) & (fr < a.until)
        pc = np.round(12 * np.log2(np.maximum(np.interp(fr, t, hz), 1.0) / 440.0) + 69).astype(int) % 12
        idx = np.where(voiced)[0]
        top = np.argmax(C[:, idx], axis=0)
        at_pc = C[pc[idx], idx] / (np.linalg.norm(C[:, idx], axis=0) + 1e-9)
        print('%s\tvoiced_frames %d\targmax_share %.3f\tmean_at_pc %.3f'
              % (path, len(idx), np.mean(top == pc[idx]), np.mean(at_pc)))


if __name__ == '__main__':
    main()
