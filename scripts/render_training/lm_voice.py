"""Singing-voice synthesiser (numpy only) for training-data rendering.

Additive harmonic synthesis (only harmonics below a cutoff < Nyquist: no aliasing) of a glottal-like
source with spectral tilt, shaped by a vowel formant envelope (F1..F5, per voice type, interpolated
between notes/syllables), with vibrato (delayed onset, rate/depth jitter), scoops/portamento, per-note
tuning error, jitter/shimmer, breath noise and note envelopes (legato / detached).

render_voice(notes, sr, rng, n_samples, ...) -> float32 mono signal.
notes: list of (onset_sec, offset_sec, midi_pitch_float, velocity) in the output time frame.
"""
import math

import numpy as np

# Formant tables (centre Hz, relative level dB, bandwidth Hz) for sung vowels, after the
# commonly used "formant values" table of the Csound manual (soprano/alto/tenor/bass; a e i o u).
_F = {
    'soprano': {
        'a': ([800, 1150, 2900, 3900, 4950], [0, -6, -32, -20, -50], [80, 90, 120, 130, 140]),
        'e': ([350, 2000, 2800, 3600, 4950], [0, -20, -15, -40, -56], [60, 100, 120, 150, 200]),
        'i': ([270, 2140, 2950, 3900, 4950], [0, -12, -26, -26, -44], [60, 90, 100, 120, 120]),
        'o': ([450, 800, 2830, 3800, 4950], [0, -11, -22, -22, -50], [40, 80, 100, 120, 120]),
        'u': ([325, 700, 2700, 3800, 4950], [0, -16, -35, -40, -60], [50, 60, 170, 180, 200]),
    },
    'alto': {
        'a': ([800, 1150, 2800, 3500, 4950], [0, -4, -20, -36, -60], [80, 90, 120, 130, 140]),
        'e': ([400, 1600, 2700, 3300, 4950], [0, -24, -30, -35, -60], [60, 80, 120, 150, 200]),
        'i': ([350, 1700, 2700, 3700, 4950], [0, -20, -30, -36, -60], [50, 100, 120, 150, 200]),
        'o': ([450, 800, 2830, 3500, 4950], [0, -9, -16, -28, -55], [70, 80, 100, 130, 135]),
        'u': ([325, 700, 2530, 3500, 4950], [0, -12, -30, -40, -64], [50, 60, 170, 180, 200]),
    },
    'tenor': {
        'a': ([650, 1080, 2650, 2900, 3250], [0, -6, -7, -8, -22], [80, 90, 120, 130, 140]),
        'e': ([400, 1700, 2600, 3200, 3580], [0, -14, -12, -14, -20], [70, 80, 100, 120, 120]),
        'i': ([290, 1870, 2800, 3250, 3540], [0, -15, -18, -20, -30], [40, 90, 100, 120, 120]),
        'o': ([400, 800, 2600, 2800, 3000], [0, -10, -12, -12, -26], [40, 80, 100, 120, 120]),
        'u': ([350, 600, 2700, 2900, 3300], [0, -20, -17, -14, -26], [40, 60, 100, 120, 120]),
    },
    'bass': {
        'a': ([600, 1040, 2250, 2450, 2750], [0, -7, -9, -9, -20], [60, 70, 110, 120, 130]),
        'e': ([400, 1620, 2400, 2800, 3100], [0, -12, -9, -12, -18], [40, 80, 100, 120, 120]),
        'i': ([250, 1750, 2600, 3050, 3340], [0, -30, -16, -22, -28], [60, 90, 100, 120, 120]),
        'o': ([400, 750, 2400, 2600, 2900], [0, -11, -21, -20, -40], [40, 80, 100, 120, 120]),
        'u': ([350, 600, 2400, 2675, 2950], [0, -20, -32, -28, -36], [40, 80, 100, 120, 120]),
    },
}
VOWELS = ['a', 'e', 'i', 'o', 'u']
VOICE_TYPES = list(_F)
HOP = 64  # control-rate hop (samples)


def voice_type_for(mean_pitch, rng):
    """Plausible voice type for a part with this mean MIDI pitch."""
    if mean_pitch >= 66:
        return 'soprano' if rng.rand() < 0.75 else 'alto'
    if mean_pitch >= 60:
        return ['alto', 'soprano', 'tenor'][rng.choice(3, p=[0.5, 0.25, 0.25])]
    if mean_pitch >= 52:
        return 'tenor' if rng.rand() < 0.7 else 'bass'
    return 'bass'


def draw_voice(rng, vtype):
    """Per-singer parameters."""
    return {
        'type': vtype,
        'tract': float(rng.uniform(0.92, 1.08)),                 # vocal-tract length scaling of formants
        'fjit': rng.uniform(0.96, 1.04, size=5),                  # per-formant individual offsets
        'bw': float(rng.uniform(0.8, 1.5)),                       # bandwidth scale
        'tilt': float(rng.uniform(0.9, 1.6)),                     # source tilt exponent (amp ~ h^-tilt)
        'vib_rate': float(rng.uniform(5.0, 7.0)),
        'vib_depth': float(rng.uniform(20.0, 80.0)),              # cents (peak)
        'vib_delay': float(rng.uniform(0.1, 0.45)),               # s after note onset
        'tune_sd': float(rng.uniform(10.0, 30.0)) / 2.0,          # per-note tuning error sd (cents)
        'scoop_p': float(rng.uniform(0.1, 0.5)),
        'porta_p': float(rng.uniform(0.2, 0.7)),
        'jitter': float(rng.uniform(3.0, 12.0)),                  # cents, low-pass f0 noise
        'shimmer': float(rng.uniform(0.03, 0.12)),                # relative amplitude noise
        'breath': float(rng.uniform(0.01, 0.06)),                 # steady aspiration level
        'onset_noise': float(rng.uniform(0.05, 0.3)),             # consonant/aspiration burst level
        'legato': float(rng.uniform(0.5, 1.0)),
        'formant_tuning': bool(rng.rand() < 0.8),                 # raise F1 above f0 for high notes
    }


def _lp_noise(rng, n, cutoff_frames):
    """Smooth noise (unit-ish sd) on the control grid."""
    x = rng.randn(n + 8 * cutoff_frames)
    k = np.hanning(2 * cutoff_frames + 1)
    k /= np.sqrt(np.sum(k ** 2))
    y = np.convolve(x, k, mode='same')
    return y[4 * cutoff_frames:4 * cutoff_frames + n]


def _formant_gain(freqs, F, A, B):
    """Amplitude envelope at freqs (..., K) for formants F,A(lin),B (..., 5): sum of resonance curves."""
    g = np.zeros(freqs.shape, dtype=np.float64)
    for j in range(F.shape[-1]):
        fj = F[..., j:j + 1]
        bj = B[..., j:j + 1]
        aj = A[..., j:j + 1]
        # magnitude of a 2-pole resonator (approx.): peak aj at fj, -3 dB at fj +- bj/2
        d = (freqs - fj) / (0.5 * bj)
        g += aj / np.sqrt(1.0 + d * d)
    return g + 0.003


def render_voice(notes, sr, rng, n_samples, voice, detune_cents=0.0, fmax=7000.0):
    """Render a sung part. Returns float32 array of n_samples (unnormalised, peak ~ <= 1)."""
    out = np.zeros(n_samples, dtype=np.float64)
    if not notes:
        return out.astype(np.float32)
    notes = sorted(notes)
    tab = _F[voice['type']]
    # group into phrases (breaks at gaps > 0.25 s)
    phrases = []
    cur = [notes[0]]
    for n in notes[1:]:
        if n[0] - cur[-1][1] > 0.25:
            phrases.append(cur)
            cur = [n]
        else:
            cur.append(n)
    phrases.append(cur)
    prev_vowel = VOWELS[rng.randint(len(VOWELS))]
    for ph in phrases:
        t0 = max(0.0, ph[0][0] - 0.0)
        t1 = ph[-1][1] + 0.25  # release tail
        i0 = int(t0 * sr) // HOP * HOP
        i1 = min(n_samples, int(math.ceil(t1 * sr)))
        if i1 - i0 < HOP * 2:
            continue
        nfr = (i1 - i0) // HOP + 2
        tf = (i0 + np.arange(nfr) * HOP) / sr   # control-frame times
        midi = np.zeros(nfr)
        amp = np.zeros(nfr)
        vib_w = np.zeros(nfr)                   # vibrato depth weight
        noise_burst = np.zeros(nfr)
        Fc = np.zeros((nfr, 5)); Ac = np.zeros((nfr, 5)); Bc = np.zeros((nfr, 5))
        prev_pitch = None
        # note targets & vowels
        for k, (on, off, pitch, vel) in enumerate(ph):
            nxt_on = ph[k + 1][0] if k + 1 < len(ph) else None
            tune = rng.randn() * voice['tune_sd']
            target = pitch + (tune + detune_cents) / 100.0
            vowel = prev_vowel if rng.rand() < 0.25 else VOWELS[rng.randint(len(VOWELS))]
            prev_vowel = vowel
            fr_on = int(np.searchsorted(tf, on))
            fr_end = int(np.searchsorted(tf, nxt_on)) if nxt_on is not None and nxt_on - off < 0.25 else \
                int(np.searchsorted(tf, off + 0.25))
            fr_end = min(fr_end, nfr)
            if fr_end <= fr_on:
                continue
            seg_t = tf[fr_on:fr_end] - on
            # pitch contour: target, with portamento from previous note or a scoop from below
            p = np.full(fr_end - fr_on, target)
            if prev_pitch is not None and abs(prev_pitch - target) > 0.3 and rng.rand() < voice['porta_p']:
                dur = rng.uniform(0.03, 0.12)
                w = np.clip(seg_t / dur, 0, 1)
                w = w * w * (3 - 2 * w)
                p = prev_pitch + (target - prev_pitch) * w
            elif rng.rand() < voice['scoop_p']:
                depth = rng.uniform(0.3, 0.8)
                dur = rng.uniform(0.04, 0.10)
                w = np.clip(seg_t / dur, 0, 1)
                p = p - depth * (1 - w) ** 2
            midi[fr_on:fr_end] = p
            prev_pitch = target
            # vibrato weight: ramps in after a delay
            vd = voice['vib_delay'] * rng.uniform(0.7, 1.3)
            vib_w[fr_on:fr_end] = np.clip((seg_t - vd) / 0.25, 0, 1) * rng.uniform(0.7, 1.3)
            # amplitude envelope
            level = (vel / 100.0) ** 1.5
            att = rng.uniform(0.02, 0.08)
            rel = rng.uniform(0.04, 0.12)
            legato = nxt_on is not None and nxt_on - off < 0.05 and rng.rand() < voice['legato']
            e = np.clip(seg_t / att, 0, 1)
            nd = off - on
            if legato:
                tail = np.clip(1 - (seg_t - nd) / 0.03, 0.6, 1)  # small dip into the next note
            else:
                tail = np.clip(1 - (seg_t - nd) / rel, 0, 1)
            # slight swell / decay within long notes
            sw = 1.0 + rng.uniform(-0.15, 0.15) * np.clip(seg_t / max(nd, 0.1), 0, 1)
            amp[fr_on:fr_end] = np.maximum(amp[fr_on:fr_end], level * e * tail * sw)
            nb = np.exp(-np.clip(seg_t, 0, None) / rng.uniform(0.02, 0.06)) * (seg_t >= 0)
            noise_burst[fr_on:fr_end] += nb * (rng.rand() < 0.6)
            # vowel formants, with a transition of 30-60 ms from the previous vowel
            Fv, Av, Bv = tab[vowel]
            Fv = np.array(Fv, float) * voice['tract'] * voice['fjit']
            Av = 10 ** (np.array(Av, float) / 20.0)
            Bv = np.array(Bv, float) * voice['bw']
            tr = rng.uniform(0.03, 0.06)
            w = np.clip(seg_t / tr, 0, 1)[:, None]
            if fr_on > 0 and np.any(Fc[fr_on - 1]):
                Fc[fr_on:fr_end] = Fc[fr_on - 1] * (1 - w) + Fv * w
                Ac[fr_on:fr_end] = Ac[fr_on - 1] * (1 - w) + Av * w
                Bc[fr_on:fr_end] = Bc[fr_on - 1] * (1 - w) + Bv * w
            else:
                Fc[fr_on:fr_end] = Fv; Ac[fr_on:fr_end] = Av; Bc[fr_on:fr_end] = Bv
        if not np.any(amp > 0):
            continue
        # fill unset frames (before first note) with nearest values
        set_ = np.where(midi > 0)[0]
        if len(set_) == 0:
            continue
        idx = np.clip(np.searchsorted(set_, np.arange(nfr)), 0, len(set_) - 1)
        unset = midi <= 0
        midi[unset] = midi[set_[idx[unset]]]
        Fc[unset] = Fc[set_[idx[unset]]]; Ac[unset] = Ac[set_[idx[unset]]]; Bc[unset] = Bc[set_[idx[unset]]]
        # vibrato with rate/depth jitter
        fps = sr / HOP
        rate = voice['vib_rate'] * (1 + 0.08 * _lp_noise(rng, nfr, int(fps * 0.3)))
        depth = voice['vib_depth'] * (1 + 0.25 * _lp_noise(rng, nfr, int(fps * 0.4)))
        vph = np.cumsum(2 * np.pi * rate / fps) + rng.uniform(0, 2 * np.pi)
        cents = depth * vib_w * np.sin(vph) + voice['jitter'] * _lp_noise(rng, nfr, 3)
        midi = midi + cents / 100.0
        f0 = 440.0 * 2 ** ((midi - 69) / 12.0)
        amp = amp * np.clip(1 + voice['shimmer'] * _lp_noise(rng, nfr, 2), 0.3, 2)
        # formant tuning: sopranos raise F1 to track f0 on high notes
        if voice['formant_tuning']:
            Fc[:, 0] = np.maximum(Fc[:, 0], f0 * 1.05)
        # harmonic amplitudes on the control grid
        K = int(min(fmax, 0.45 * sr) / f0.min())
        K = max(1, min(K, 120))
        h = np.arange(1, K + 1)[None, :]
        hf = f0[:, None] * h
        tilt = voice['tilt'] - 0.3 * (amp[:, None] / (amp.max() + 1e-9))  # louder -> brighter
        src = h ** (-tilt)
        Hh = src * _formant_gain(hf, Fc, Ac, Bc)
        Hh[hf > min(fmax, 0.45 * sr)] = 0.0                        # band limit: no aliasing
        Hh *= amp[:, None]
        # sample-rate synthesis
        n = i1 - i0
        ts = np.arange(n) / HOP
        f0s = np.interp(ts, np.arange(nfr), f0)
        phase = np.cumsum(2 * np.pi * f0s / sr) + rng.uniform(0, 2 * np.pi)
        s1 = np.sin(phase)
        c2 = 2 * np.cos(phase)
        sig = np.zeros(n)
        s_prev = np.zeros(n)      # sin(0*phase)
        s_cur = s1
        fr_idx = np.arange(nfr)
        for k in range(K):
            a = Hh[:, k]
            if a.max() > 1e-5:
                sig += np.interp(ts, fr_idx, a) * s_cur
            s_prev, s_cur = s_cur, c2 * s_cur - s_prev
        # breath noise: aspiration shaped by the (mean) formant envelope, more at onsets
        nz = rng.randn(n)
        spec = np.fft.rfft(nz)
        fr = np.fft.rfftfreq(n, 1.0 / sr)
        mF, mA, mB = Fc.mean(0), Ac.mean(0), Bc.mean(0)
        shape = _formant_gain(fr[None, :], mF[None, :] , mA[None, :], 2.5 * mB[None, :])[0]
        shape *= np.clip(fr / 1500.0, 0, 1) ** 0.5
        nz = np.fft.irfft(spec * shape, n)
        nz /= (np.std(nz) + 1e-12)
        nenv = voice['breath'] * amp + voice['onset_noise'] * noise_burst * amp.max()
        ref = np.sqrt(np.mean(sig ** 2)) + 1e-9
        sig += ref * np.interp(ts, fr_idx, nenv / (amp.max() + 1e-9)) * nz
        out[i0:i1] += sig
    return out.astype(np.float32)
