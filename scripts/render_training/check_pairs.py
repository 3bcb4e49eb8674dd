#!/usr/bin/python3
"""Check a render_training.py output: annotation timing and pitch-class content.

  check_pairs.py OUT [--n 50] [--theme-only OUT2]

Full render OUT (uses OUT/meta/<id>.json for the rendered theme-note times):
  * note level: each theme note's pitch class among the top-3 bins of a simple STFT chroma over the note's
    span, at the annotated times vs. the same notes shifted by +-0.4 s and +-1.0 s (misaligned controls);
  * excerpt level: mean chroma of [start_sec, end_sec] correlated with the theme's pitch-class histogram:
    untransposed best of 12 rotations; and the same score for the span shifted by +-(end-start)/2.
Theme-only render OUT2 (same seed/variants, `--theme-only`: only the theme notes are rendered):
  * nothing audible before start_sec (energy before start_sec-5 ms < -50 dB re peak),
  * first onset (envelope > -30 dB re peak) lies within [start_sec, start_sec + 40 ms],
  * last audible sound (> -30 dB) ends after end_sec - 0.15 s (the last note sounds until end_sec).
"""
import argparse
import csv
import json
import os

import numpy as np
import sys
sys.dont_write_bytecode = True
import soundfile as sf

PCS = 'C C# D D# E F F# G G# A A# B'.split()


def chroma(x, sr, detune, n_fft=4096, hop=256):
    x = np.pad(x, (n_fft // 2, n_fft // 2))
    nfr = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(nfr)[:, None]
    S = np.abs(np.fft.rfft(x[idx] * np.hanning(n_fft)[None, :], axis=1)) ** 2
    f = np.fft.rfftfreq(n_fft, 1.0 / sr)
    ok = (f > 60) & (f < 4200)
    pc = np.mod(np.round(69 + 12 * np.log2(f[ok] / 440.0) - detune / 100.0), 12).astype(int)
    M = np.zeros((len(f), 12))
    M[np.where(ok)[0], pc] = 1
    C = S @ M
    return np.log1p(1000 * C / (C.max() + 1e-12)), np.arange(nfr) * hop / sr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--n', type=int, default=50)
    ap.add_argument('--theme-only')
    a = ap.parse_args()
    rows = list(csv.DictReader(open(os.path.join(a.out, 'pairs.csv'))))
    if len(rows) > a.n:
        rows = [rows[int(i * len(rows) / a.n)] for i in range(a.n)]
    hits = {0: [], 0.4: [], -0.4: [], 1.0: [], -1.0: []}
    rot, span_al, span_sh = 0, [], []
    per_src = {}
    for r in rows:
        x, sr = sf.read(os.path.join(a.out, r['audio']))
        meta = json.load(open(os.path.join(a.out, 'meta', os.path.basename(r['audio'])[:-5] + '.json')))
        C, ft = chroma(x, sr, meta['detune'])
        s, e = float(r['start_sec']), float(r['end_sec'])
        tn = meta['theme_notes']
        assert abs(tn[0][0] - s) < 0.002 and abs(max(n[1] for n in tn[-1:]) - e) < 0.002, r['audio']
        for sh in hits:
            h = []
            for on, off, p in tn:
                sel = (ft >= on + sh + 0.02) & (ft <= max(off + sh, on + sh + 0.08))
                if not np.any(sel):
                    continue
                h.append(p % 12 in np.argsort(C[sel].mean(0))[-3:])
            if h:
                hits[sh].append(np.mean(h))
        src = 'voice' if 'voice:' in r['timbre'] else ('salamander' if 'salamander' in r['timbre'] else
                                                         r['timbre'].split(':')[0])
        per_src.setdefault(src, []).append(hits[0][-1])
        hist = np.zeros(12)
        for on, off, p in tn:
            hist[p % 12] += off - on
        hist -= hist.mean()

        def span_score(a0, a1):
            sel = (ft >= a0) & (ft <= a1)
            v = C[sel].mean(0)
            v = v - v.mean()
            return [float(np.dot(np.roll(hist, k), v) / (np.linalg.norm(hist) * np.linalg.norm(v) + 1e-12))
                    for k in range(12)]
        sc = span_score(s, e)
        rot += int(np.argmax(sc) == 0)
        span_al.append(sc[0])
        half = (e - s) / 2
        span_sh.append(np.mean([span_score(s + half, e + half)[0], span_score(max(0, s - half), e - half)[0]]))
    print('excerpts checked: %d' % len(rows))
    print('note pc in top-3 chroma: aligned %.3f | shifted +0.4 s %.3f, -0.4 s %.3f, +1.0 s %.3f, -1.0 s %.3f'
          % tuple(np.mean(hits[k]) for k in (0, 0.4, -0.4, 1.0, -1.0)))
    print('  aligned hit rate by source: ' + ', '.join('%s %.3f (n=%d)' % (k, np.mean(v), len(v))
                                                      for k, v in sorted(per_src.items())))
    print('span chroma/theme-histogram correlation: annotated %.3f vs half-span shifted %.3f'
          % (np.mean(span_al), np.mean(span_sh)))
    print('untransposed theme best of 12 rotations: %d/%d' % (rot, len(rows)))
    if a.theme_only:
        pre, ons, ends, bad = [], [], [], []
        trows = {r['audio']: r for r in csv.DictReader(open(os.path.join(a.theme_only, 'pairs.csv')))}
        for r in rows:
            t = trows.get(r['audio'])
            if t is None:
                continue
            assert t['start_sec'] == r['start_sec'] and t['end_sec'] == r['end_sec'], r['audio']
            x, sr = sf.read(os.path.join(a.theme_only, t['audio']))
            s, e = float(t['start_sec']), float(t['end_sec'])
            hop = 64
            n = len(x) // hop
            env = np.sqrt(np.mean(x[:n * hop].reshape(n, hop) ** 2, axis=1))
            pk = env.max()
            tt = (np.arange(n) + 0.5) * hop / sr
            before = env[tt < s - 0.005]
            pre.append(20 * np.log10(before.max() / pk + 1e-12) if len(before) else -200)
            on = tt[np.argmax(env > pk * 10 ** (-30 / 20))]
            ons.append(on - s)
            last = tt[np.where(env > pk * 10 ** (-30 / 20))[0][-1]]
            ends.append(last - e)
            if pre[-1] > -50 or not (-0.003 <= on - s <= 0.04) or last - e < -0.15:
                bad.append('%s pre %.1f dB onset %+.3f end %+.3f (%s)' % (r['audio'], pre[-1], on - s, last - e,
                                                                       r['timbre']))
        print('theme-only timing (%d): max level before start %.1f dB re peak (worst); onset - start_sec: '
              'median %.1f ms, min %.1f, max %.1f ms; last sound - end_sec: median %.0f ms, min %.0f ms'
              % (len(ons), max(pre), 1000 * np.median(ons), 1000 * min(ons), 1000 * max(ons),
                 1000 * np.median(ends), 1000 * min(ends)))
        for b in bad:
            print('  FLAG', b)


if __name__ == '__main__':
    main()
