"""Tests of the recorded-instrument sampler of the training renders (lm_sampler.py) and of the
helpers it shares with the piano (lm_samples.py), on synthetic samples: no npm package or soundfont
needed; the tests that filter or decode skip without scipy or soundfile (ctest: render_sampler_pytest)."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lm_sampler  # noqa: E402

SR = 22050


def tone(midi, sec, sr=SR, cents=0.0, partials=6):
    """A harmonic tone (partials 1/h) at midi + cents/100, with a short attack."""
    f0 = 440.0 * 2.0 ** ((midi + cents / 100.0 - 69) / 12.0)
    t = np.arange(int(sec * sr)) / sr
    y = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, partials + 1))
    y *= np.minimum(1.0, t / 0.02)
    return (y / np.max(np.abs(y))).astype(np.float32)


def peak_hz(y, sr=SR):
    n = 1 << 16
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)), n))
    return np.argmax(spec) * sr / n


def fake_sampler(pitch=60, sec=3.0):
    """A Sampler holding one synthetic cello-range sample (the packages are not needed)."""
    s = lm_sampler.Sampler.__new__(lm_sampler.Sampler)
    s.sr = SR
    s.inst = {'cello': (np.array([float(pitch)]), [lm_sampler.loop_extend(tone(pitch, sec), SR)])}
    return s


def test_midi_of_reads_the_package_names():
    assert lm_sampler.midi_of('x/As3.mp3') == 58
    assert lm_sampler.midi_of('C4.mp3') == 60
    assert lm_sampler.midi_of('F2 v2.mp3') == 41
    assert lm_sampler.midi_of('Fs6.mp3') == 90


def test_loop_extend_sustains_short_samples_and_keeps_long_ones():
    y = tone(57, 3.0)
    z = lm_sampler.loop_extend(y, SR)
    assert len(z) >= int(lm_sampler.LOOP_SEC * SR)
    b = int(0.85 * len(y)) - int(lm_sampler.XFADE_SEC * SR)
    assert np.array_equal(z[:b], y[:b])          # the attack and body stay as recorded
    assert np.all(np.isfinite(z)) and np.max(np.abs(z)) < 1.5
    # the loops keep the pitch: the spectrum's peak stays at the fundamental
    tail = z[-int(2 * SR):]
    assert abs(peak_hz(tail) - 220.0) < 2.0
    long = tone(57, 13.0)
    assert lm_sampler.loop_extend(long, SR) is long


def test_measured_cents_finds_tuning_and_misnamed_samples():
    assert abs(lm_sampler.measured_cents(tone(60, 2.0, cents=37.0), SR, 60) - 37.0) <= 4.0
    assert abs(lm_sampler.measured_cents(tone(60, 2.0), SR, 60)) <= 4.0
    # a sample named a semitone too low (the cello's As4 that sounds B4)
    assert abs(lm_sampler.measured_cents(tone(71, 2.0), SR, 70) - 100.0) <= 4.0


def test_render_pitch_onset_and_determinism():
    s = fake_sampler(60)
    n = int(3.0 * SR)
    notes = [(0.5, 2.0, 62, 120.0)]          # D4 from a C4 sample, loud (no low-pass)
    y = s.render(42, notes, n, np.random.RandomState(3))
    assert y.shape == (n,) and y.dtype == np.float32 and np.all(np.isfinite(y))
    assert np.max(np.abs(y[:int(0.5 * SR) - 1])) == 0.0   # nothing before the onset
    body = y[int(0.7 * SR):int(1.9 * SR)].astype(np.float64)
    assert abs(peak_hz(body) - 293.66) < 2.0
    y2 = s.render(42, notes, n, np.random.RandomState(3))
    assert np.array_equal(y, y2)
    # detune and vibrato move the pitch, not the onset
    y3 = s.render(42, notes, n, np.random.RandomState(3), detune_cents=50.0, vib=(5.5, 20.0, 0.2))
    assert abs(peak_hz(y3[int(0.7 * SR):int(1.9 * SR)].astype(np.float64)) - 293.66 * 2 ** (50 / 1200)) < 6.0
    assert np.max(np.abs(y3[:int(0.5 * SR) - 1])) == 0.0


def test_release_after_note_off():
    s = fake_sampler(60)
    y = s.render(42, [(0.2, 0.6, 60, 120.0)], int(3.0 * SR), np.random.RandomState(1))
    during = np.sqrt(np.mean(y[int(0.3 * SR):int(0.6 * SR)] ** 2))
    after = np.sqrt(np.mean(y[int(1.6 * SR):int(2.0 * SR)] ** 2))   # >= 1 s = 4 release times later
    assert during > 0.1 and after < 0.02 * during


def test_covers_needs_samples_near_both_ends_of_the_range():
    s = fake_sampler(60)
    assert s.covers(42, np.array([55, 60, 66]))
    assert not s.covers(42, np.array([50, 60]))      # 10 semitones below the only sample
    assert not s.covers(40, np.array([60]))          # violin: no violin samples here
    assert not s.covers(0, np.array([60]))           # piano: not a sampled program


# ------------------------------------------------------------ lm_samples: shared by both sample players
def test_save_and_load_cache_sort_by_pitch(tmp_path):
    import lm_samples
    path = str(tmp_path / 'c.npz')
    items = [(62.0, tone(62, 0.5)), (57.4, tone(57, 0.6)), (60.0, tone(60, 0.7))]
    lm_samples.save_cache(path, items)
    assert not os.path.exists(path + '.tmp.npz')
    pitches, samples = lm_samples.load_cache(path)
    assert list(pitches) == [57.4, 60.0, 62.0]
    assert [len(s) for s in samples] == [int(0.6 * SR), int(0.7 * SR), int(0.5 * SR)]
    assert np.array_equal(samples[2], items[0][1])


def test_release_envelope_and_darken():
    import pytest
    import lm_samples
    t = np.arange(SR) / SR
    env = lm_samples.release_envelope(t, 0.5, 0.1)
    assert np.all(env[t < 0.5] == 1.0) and abs(env[int(0.6 * SR)] - np.exp(-1.0)) < 1e-3
    y = np.random.RandomState(0).randn(SR)
    assert lm_samples.darken(y, 120.0, SR) is y            # loud notes keep their brightness
    pytest.importorskip('scipy')
    soft = lm_samples.darken(y, 40.0, SR)
    hi = slice(int(0.3 * len(y)), len(y) // 2)             # 3.3-5.5 kHz of the rfft bins
    assert np.sum(np.abs(np.fft.rfft(soft))[hi] ** 2) < 0.6 * np.sum(np.abs(np.fft.rfft(y))[hi] ** 2)


def test_decode_note_trims_silence_normalises_and_resamples(tmp_path):
    import pytest
    sf = pytest.importorskip('soundfile')
    pytest.importorskip('scipy')
    import lm_samples
    fsr = 44100
    note = 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(fsr) / fsr)
    stereo = np.stack([np.r_[np.zeros(fsr // 2), note]] * 2, axis=1)   # 0.5 s of silence first
    path = str(tmp_path / 'A4.wav')
    sf.write(path, stereo, fsr)
    y = lm_samples.decode_note(path, SR)
    assert abs(np.max(np.abs(y)) - 1.0) < 1e-9
    assert abs(len(y) - SR) <= 20                     # silence gone (16 samples kept), resampled to SR
    assert abs(peak_hz(y[:SR // 2]) - 440.0) < 2.0
    assert len(lm_samples.decode_note(path, SR, max_sec=0.75)) <= int(0.25 * SR) + 20


def test_note_midi_reads_both_packages_names():
    import lm_piano
    import lm_samples
    assert lm_piano._midi_of('audio/A0v10.ogg') == 21
    assert lm_piano._midi_of('C#4v10.ogg') == 61
    assert lm_samples.note_midi('Cs4') == lm_samples.note_midi('C#4') == 61
    for bad in ('H4', 'Cb4', 'C##4'):
        try:
            lm_samples.note_midi(bad)
        except ValueError:
            continue
        raise AssertionError('accepted %r' % bad)
