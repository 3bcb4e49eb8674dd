"""leitmotif: find the recordings in which a musical theme is played.

A thin NumPy layer (ctypes) over the C library ``libleitmotif`` — the same code as the
``leitmotif`` command, so every number here equals the command's:

- :func:`chroma` — chroma features (deep chroma of a CNN model, or STFT chroma) of an audio file
  or of a NumPy signal, 12 x T float32 at 25 Hz (frame ``i`` at ``0.04 * i`` s);
- :func:`hcqt` — the harmonic CQT the network reads, 6 x 216 x T float32;
- :class:`Database` — a feature database made by ``leitmotif index`` or :func:`index`: its
  documents' features, :meth:`Database.search` and :meth:`Database.occurrences` for a theme (a
  MIDI, MusicXML or **kern file — a part of it with ``part=``, ``measures=``, ``track=``,
  ``voice=`` — or a note list such as ``"G4:0.5 G4:0.5 G4:0.5 Eb4:4"``) and
  :meth:`Database.evaluate` on a themes CSV;
- :class:`Theme` — a theme read once (from a file, a note list or a file's bytes), its notes;
- :func:`index` — add recordings to a database file.

Example::

    import leitmotif as lm

    c = lm.chroma("recording.flac")                  # deep chroma, default model
    s = lm.chroma("recording.flac", features="stft")  # the STFT chroma baseline
    lm.index("demo.lmdb", ["examples/audio"])         # a database of a folder of recordings
    with lm.Database("demo.lmdb") as db:
        for hit in db.search("G4:0.5 G4:0.5 G4:0.5 Eb4:4", top=3):
            print(hit.doc_id, hit.distance, hit.start_sec, hit.end_sec)
        hits = db.search("quartet.musicxml", part="Violin I", measures=(5, 9))

Errors of the library raise :class:`LeitmotifError` with its one-line message.
"""

import ctypes
import os
from typing import Iterable, List, NamedTuple, Optional, Union

import numpy as np

from . import _capi

__version__ = "0.1.0"
__all__ = [
    "LeitmotifError", "Model", "Database", "Hit", "Occurrence", "Note", "Theme", "Evaluation", "chroma", "hcqt", "index",
    "frame_times", "default_model", "set_threads", "set_tuning", "CHROMA_NAMES", "FRAME_RATE", "library_path",
]

CHROMA_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FRAME_RATE = 25.0  #: feature frames per second
library_path = _capi.path  #: the libleitmotif.so in use

PathLike = Union[str, bytes, os.PathLike]


class LeitmotifError(RuntimeError):
    """An error reported by libleitmotif (its message names the file or value at fault)."""


def _raise(what=None):
    msg = _capi.error()
    raise LeitmotifError(msg.decode("utf-8", "replace") if msg else (what or "leitmotif: unknown error"))


def _path(p: PathLike) -> bytes:
    return os.fsencode(p)


def set_threads(n: int) -> None:
    """Worker threads of the calls that follow (``n <= 0``: all cores; default: all cores or
    ``$LEITMOTIF_THREADS``)."""
    _capi.set_threads(int(n))


def set_tuning(mode: Union[str, float]) -> None:
    """Tuning compensation of :func:`chroma` and of new databases made by :func:`index`:
    ``"auto"`` (default: each recording's deviation from A = 440 Hz is estimated and its
    features computed as if it were in tune), ``"off"``, or the deviation in cents (``-40``:
    A = 430 Hz). Process-wide; stft features always tune themselves."""
    if _capi.set_tuning(str(mode).encode()) != 0:
        _raise("set_tuning")


def default_model() -> Optional[str]:
    """Path of the default deep chroma model: ``$LEITMOTIF_MODEL``, else the installed
    ``PREFIX/share/leitmotif/leitmotif_default.bin``, else the source tree's; None if none."""
    p = _capi.default_model()
    return os.fsdecode(p) if p else None


def frame_times(n_frames: int) -> np.ndarray:
    """Times in seconds of ``n_frames`` feature frames: ``0.04 * i`` (float64)."""
    return 0.04 * np.arange(n_frames, dtype=np.float64)


class Model:
    """A deep chroma model (FLATWEIGHTS file; ``None``: the default model).

    Loading takes a few milliseconds; keep one to compute many recordings' features::

        m = lm.Model("models/leitmotif_default.bin")
        feats = [lm.chroma(f, model=m) for f in files]
    """

    def __init__(self, path: Optional[PathLike] = None):
        self._h = _capi.model_load(_path(path) if path is not None else None)
        if not self._h:
            _raise()
        self.path = os.fsdecode(path) if path is not None else default_model()

    def close(self) -> None:
        """Releases the weights (also done when the object is collected)."""
        if getattr(self, "_h", None) and _capi is not None:
            _capi.model_free(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def __repr__(self):
        return f"Model({self.path!r})"


def _signal(x, sample_rate):
    """(float32 C-contiguous frames x channels array, channels) of a 1-D or 2-D signal."""
    if sample_rate is None:
        raise TypeError("a NumPy signal needs sample_rate=")
    a = np.asarray(x)
    if a.dtype == np.int16:
        a = a.astype(np.float32) / np.float32(32768.0)
    elif a.dtype == np.int32:
        a = (a.astype(np.float64) / 2147483648.0).astype(np.float32)
    elif not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"signal: expected float, int16 or int32 samples, got {a.dtype}")
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError("signal: expected shape (samples,) or (samples, channels)")
    return np.ascontiguousarray(a, dtype=np.float32), a.shape[1]


def _take(ptr, shape):
    """Copies a malloc'd float array of `shape` into NumPy and frees it."""
    try:
        n = int(np.prod(shape))
        out = np.ctypeslib.as_array(ptr, shape=(n,)).copy().reshape(shape) if n else np.zeros(shape, np.float32)
    finally:
        _capi.libc.free(ptr)
    return out


def _is_signal(x) -> bool:
    return isinstance(x, np.ndarray) or (not isinstance(x, (str, bytes, os.PathLike)) and hasattr(x, "__len__"))


def chroma(audio, features: str = "ctc", model: Union[None, PathLike, Model] = None,
           sample_rate: Optional[float] = None) -> np.ndarray:
    """Chroma features of an audio file or a NumPy signal: float32 array 12 x T (rows C, C#, ...,
    B), 25 frames per second, each frame l2-normalised — what ``leitmotif chroma AUDIO -o
    OUT.npy`` writes.

    audio
        a file path (any format libsndfile reads: WAV, FLAC, Ogg, MP3, ...), or samples as a NumPy
        array of shape (n,) or (n, channels) — float, or int16/int32 scaled as libsndfile does —
        with ``sample_rate``. Signals are mixed down and resampled to 22050 Hz as files are, so
        a file's decoded samples give the file's features.
    features
        ``"ctc"``: deep chroma of a CNN model (default); ``"stft"``: the STFT chroma baseline.
    model
        for ``"ctc"``: a :class:`Model`, a model file, or None for the default model.

    >>> import numpy as np, leitmotif as lm
    >>> t = np.arange(22050 * 2) / 22050
    >>> c = lm.chroma(np.sin(2 * np.pi * 440 * t), features="stft", sample_rate=22050)
    >>> c.shape, lm.CHROMA_NAMES[int(c[:, 25].argmax())]
    ((12, 51), 'A')
    """
    if features not in ("ctc", "stft"):
        raise ValueError(f"features: 'ctc' or 'stft', not {features!r}")
    own = None
    if features == "stft":
        if model is not None:
            raise ValueError("stft features take no model")
        handle = None
    elif isinstance(model, Model):
        handle = model._h
    else:
        own = Model(model)
        handle = own._h
    out = _capi.c_float_p()
    T = ctypes.c_size_t()
    try:
        if _is_signal(audio):
            a, ch = _signal(audio, sample_rate)
            rc = _capi.chroma_signal(a.ctypes.data_as(_capi.c_float_p), a.shape[0], ch, int(round(sample_rate)),
                                     handle, ctypes.byref(out), ctypes.byref(T))
        else:
            rc = _capi.chroma(_path(audio), handle, ctypes.byref(out), ctypes.byref(T))
    finally:
        if own is not None:
            own.close()
    if rc != 0:
        _raise()
    return _take(out, (12, T.value))


def hcqt(audio, sample_rate: Optional[float] = None) -> np.ndarray:
    """The 25 Hz harmonic constant-Q transform that the deep chroma network reads: float32
    array 6 x 216 x T (harmonics 0.5, 1, 2, 3, 4, 5 of 216 bins from 32.7 Hz at 36 bins per
    octave; log-compressed to [0, 1]) — what ``leitmotif hcqt AUDIO -o OUT.npy`` writes.
    ``audio`` is a file path or a NumPy signal with ``sample_rate``, as for :func:`chroma`."""
    out = _capi.c_float_p()
    T = ctypes.c_size_t()
    if _is_signal(audio):
        a, ch = _signal(audio, sample_rate)
        rc = _capi.hcqt_signal(a.ctypes.data_as(_capi.c_float_p), a.shape[0], ch, int(round(sample_rate)),
                               ctypes.byref(out), ctypes.byref(T))
    else:
        rc = _capi.hcqt(_path(audio), ctypes.byref(out), ctypes.byref(T))
    if rc != 0:
        _raise()
    return _take(out, (6, 216, T.value))


def index(db_path: PathLike, inputs: Union[PathLike, Iterable[PathLike]], features: Optional[str] = None,
          model: Optional[PathLike] = None) -> int:
    """Adds recordings to the database file ``db_path`` (created if missing), as ``leitmotif
    index DB INPUTS...`` does: ``inputs`` are audio files or folders (scanned for audio files);
    ``features`` ``"ctc"`` (default for a new database), ``"stft"``, ``"bittner"`` or ``"bg1"``
    (an existing database keeps its own); ``model`` a model file for ``"ctc"`` (default model
    if None). Files already in the database are kept; files that cannot be decoded are named
    on stderr and skipped. Returns the number of recordings added."""
    if isinstance(inputs, (str, bytes, os.PathLike)):
        inputs = [inputs]
    paths = [_path(p) for p in inputs]
    arr = (ctypes.c_char_p * max(len(paths), 1))(*paths)
    n = _capi.db_add(_path(db_path), arr, len(paths), features.encode() if features else None,
                     _path(model) if model is not None else None)
    if n < 0:
        _raise()
    return n


class Hit(NamedTuple):
    """One ranked recording: its document id, the mean cosine distance along the best
    alignment (0 = perfect), the matched passage in seconds, the semitones the theme is shifted
    by there (with ``transpose="any"`` the key it was found in, else the fixed shift) and the
    theme's duration there over its reference duration (``duration="auto"``; else 1)."""

    doc_id: str
    distance: float
    start_sec: float
    end_sec: float
    transpose: int = 0
    stretch: float = 1.0


class Occurrence(NamedTuple):
    """One passage of a recording that matches the theme: its distance, start and end in
    seconds, and the shift in semitones at which the theme is played there."""

    distance: float
    start_sec: float
    end_sec: float
    transpose: int


class Note(NamedTuple):
    """A note of a theme as read: onset and duration in seconds, MIDI pitch (-1: a rest)."""

    onset_sec: float
    duration_sec: float
    pitch: int


def _measures(m):
    """(first, last) of measures=: N, (A, B) with None for an open end, or "A-B", "A-", "-B"."""
    if m is None:
        return 0, 0
    if isinstance(m, int):
        return m, m
    if isinstance(m, str):
        a, sep, b = m.partition("-")
        try:
            first = int(a) if a.strip() else 0
            last = (int(b) if b.strip() else 0) if sep else first
        except ValueError:
            raise ValueError(f"measures: expected N, 'A-B', 'A-', '-B' or (A, B), got {m!r}") from None
        return first, last
    first, last = m
    return int(first or 0), int(last or 0)


def _query_options(duration, transpose, context=None):
    """leitmotif_query_options from search()'s arguments: ``transpose`` semitones or "any",
    ``duration`` seconds, None or "auto"."""
    any_key = isinstance(transpose, str)
    if any_key and transpose != "any":
        raise ValueError(f"transpose: semitones (an int) or 'any', got {transpose!r}")
    auto = isinstance(duration, str)
    if auto and duration != "auto":
        raise ValueError(f"duration: seconds or 'auto', got {duration!r}")
    return _capi.QueryOptions(0.0 if auto else float(duration or 0.0), 0.0, 0 if any_key else int(transpose),
                              int(any_key), int(auto), 0 if context is None else 1,
                              0.0 if context is None else float(context))


class Theme:
    """A theme read once, to search it or see its notes — what ``leitmotif search THEME
    --print-theme`` prints.

    source
        a file path (MIDI, MusicXML ``.musicxml``/``.xml``/``.mxl``, **kern ``.krn``; told by
        content), a note list such as ``"G4 G4 G4 Eb4:4"``, or the bytes of a theme file (an
        upload); ``name`` (a file name such as ``"theme.krn"``) tells bytes' format when their
        content does not.
    part
        the MusicXML part, **kern spine or MIDI track: its number (1-based) or name (any case).
    measures
        measures as printed: ``5``, ``(5, 9)``, ``(5, None)`` or ``"5-9"``.
    track, voice
        a MIDI track; a MusicXML voice or **kern layer of the part.
    tempo
        quarter notes (a note list: beats) per minute, replacing the file's tempo marks.

    A selection that is not in the file raises :class:`LeitmotifError` with the command's message,
    which names the parts, measures or tracks there are.
    """

    def __init__(self, source, part=None, measures=None, track: Optional[int] = None,
                 voice: Optional[int] = None, tempo: Optional[float] = None, name: Optional[str] = None):
        first, last = _measures(measures)
        part_b = str(part).encode("utf-8") if part is not None else None
        sel = _capi.ThemeSelection(ctypes.sizeof(_capi.ThemeSelection), part_b, first, last, int(track or 0),
                                   int(voice or 0), float(tempo or 0.0))
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            self._h = _capi.theme_from_memory(data, len(data), name.encode("utf-8") if name else None,
                                              ctypes.byref(sel))
            self.source = name or "<bytes>"
        else:
            src = os.fsencode(source) if isinstance(source, os.PathLike) else str(source).encode("utf-8")
            self._h = _capi.theme_load(src, ctypes.byref(sel))
            self.source = os.fsdecode(source) if isinstance(source, os.PathLike) else str(source)
        if not self._h:
            _raise()

    def close(self) -> None:
        if getattr(self, "_h", None) and _capi is not None:
            _capi.theme_free(self._h)
            self._h = None

    def __del__(self):
        self.close()

    def __repr__(self):
        return f"Theme({self.source!r})"

    def __len__(self) -> int:
        return int(_capi.theme_size(self._h))

    @property
    def duration(self) -> float:
        """Seconds from the first note's onset to the last note's end."""
        return float(_capi.theme_duration(self._h))

    @property
    def notes(self) -> List[Note]:
        """The notes and rests as read, in order."""
        out = []
        onset, dur, pitch = ctypes.c_double(), ctypes.c_double(), ctypes.c_int()
        for i in range(len(self)):
            if _capi.theme_note(self._h, i, ctypes.byref(onset), ctypes.byref(dur), ctypes.byref(pitch)) != 0:
                _raise()
            out.append(Note(onset.value, dur.value, pitch.value))
        return out


def _theme_of(theme, tempo, selection) -> Theme:
    """A Theme from search()'s arguments (a Theme is used as it is)."""
    if isinstance(theme, Theme):
        if tempo is not None or any(v is not None for v in selection.values()):
            raise TypeError("give tempo and the selection (part, measures, track, voice) to Theme(), not here")
        return theme
    return Theme(theme, tempo=tempo, **selection)


class Evaluation(NamedTuple):
    """Result of :meth:`Database.evaluate`: ``ranks`` maps each evaluated theme id to the rank
    of its recording (1 = best); ``queries`` lists (theme_id, piece_id, fold, rank, distance) of
    every row of the CSV (rank 0: skipped, its recording is not in the database); ``folds``
    maps each fold to its summary and ``average`` is the summary over all evaluated queries
    (the command's average, weighted by queries per fold). A summary is a dict with
    ``queries``, ``top1``, ``top5``, ``top10``, ``top20``, ``top50`` and ``mrr``."""

    ranks: dict
    queries: list
    folds: dict
    average: dict
    skipped: int


def _summary(ranks: List[int]) -> dict:
    r = np.asarray(ranks, dtype=np.float64)
    s = {"queries": int(r.size)}
    for k in (1, 5, 10, 20, 50):
        s[f"top{k}"] = float(np.mean(r <= k)) if r.size else 0.0
    s["mrr"] = float(np.mean(1.0 / r)) if r.size else 0.0
    return s


class Database:
    """A feature database (``leitmotif index`` output), opened read-only and verified.

    ``len(db)`` is its number of recordings, ``db.ids`` their document ids (file names without
    extension), ``db.features`` their feature type, ``db.chroma(id)`` the features of one::

        with lm.Database("demo.lmdb") as db:
            print(db.features, len(db), db.ids[:3])
            c = db.chroma(db.ids[0])          # 12 x T float32
    """

    def __init__(self, path: PathLike):
        self.path = os.fsdecode(path)
        self._h = _capi.db_open(_path(path))
        if not self._h:
            _raise()

    def close(self) -> None:
        if getattr(self, "_h", None) and _capi is not None:
            _capi.db_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _handle(self):
        if not self._h:
            raise ValueError("database is closed")
        return self._h

    def __len__(self) -> int:
        return int(_capi.db_size(self._handle()))

    def __repr__(self):
        return f"Database({self.path!r})"

    @property
    def features(self) -> str:
        """Feature type: ``"ctc"``, ``"stft"``, ``"bittner"`` or ``"bg1"``."""
        return _capi.db_features(self._handle()).decode()

    @property
    def tuning(self) -> str:
        """How its features were tuned: ``"auto"``, ``"off"`` or a fixed deviation (``"-40c"``)."""
        return _capi.db_tuning(self._handle()).decode()

    def tuning_cents(self, doc: Union[int, str]) -> float:
        """The deviation from A = 440 Hz compensated for a document (by index or id), in cents."""
        return float(_capi.db_doc_tuning(self._handle(), self._index(doc)))

    def _doc(self, i: int):
        doc_id = ctypes.c_char_p()
        ptr = _capi.c_float_p()
        T = ctypes.c_size_t()
        dur = ctypes.c_double()
        if _capi.db_doc(self._handle(), i, ctypes.byref(doc_id), ctypes.byref(ptr), ctypes.byref(T),
                        ctypes.byref(dur)) != 0:
            _raise()
        return doc_id.value.decode("utf-8", "replace"), ptr, T.value, dur.value

    @property
    def ids(self) -> List[str]:
        """Document ids, in file order."""
        return [self._doc(i)[0] for i in range(len(self))]

    def duration(self, doc: Union[int, str]) -> float:
        """Seconds of decoded audio of a document (by index or id)."""
        return self._doc(self._index(doc))[3]

    def _index(self, doc: Union[int, str]) -> int:
        if isinstance(doc, str):
            ids = self.ids
            if doc not in ids:
                raise KeyError(doc)
            return ids.index(doc)
        return int(doc)

    def chroma(self, doc: Union[int, str]) -> np.ndarray:
        """The stored features of a document (by index or id): a 12 x T float32 copy."""
        _, ptr, T, _ = self._doc(self._index(doc))
        if T == 0:
            return np.zeros((12, 0), np.float32)
        return np.ctypeslib.as_array(ptr, shape=(12 * T,)).copy().reshape(12, T)

    def search(self, theme, top: int = 10, duration: Union[float, str, None] = None, tempo: Optional[float] = None,
               transpose: Union[int, str] = 0, *, part=None, measures=None, track: Optional[int] = None,
               voice: Optional[int] = None, context: Optional[float] = None) -> List[Hit]:
        """Ranks the recordings for a theme, best first — ``leitmotif search DB THEME``.

        theme
            a file path (MIDI, MusicXML, **kern), a note list such as ``"G4 G4 G4 Eb4:4"`` (pitch,
            accidentals, octave with C4 = middle C, optional ``:beats``; ``r`` is a rest), a
            file's bytes, or a :class:`Theme`.
        top
            how many recordings to return (0: all that can be ranked).
        duration
            stretch the theme to this many seconds (default: its own length); ``"auto"``: any
            tempo, 0.25-4x its written duration (each hit's ``stretch`` says which) —
            ``--duration auto``.
        tempo
            beats per minute of a note list (default 120); for a score file quarter notes per
            minute, replacing its tempo marks — ``--tempo``.
        transpose
            shift the theme by this many semitones; ``"any"``: search all 12 keys (each hit's
            ``transpose`` says which) — ``--transpose any``.
        part, measures, track, voice
            which part of a score file — ``--part``, ``--measures``, ``--track``, ``--voice``;
            see :class:`Theme`. ``db.search("q.musicxml", part="Violin I", measures=(5, 9))``.
        context
            weight in [0, 1] of the recording's context (default: the library's, 0.12): a hit's
            distance is its passage's plus this times the median distance of the theme over the
            recording; 0 ranks by the passage alone — ``--context``.
        """
        h = self._handle()
        t = _theme_of(theme, tempo, dict(part=part, measures=measures, track=track, voice=voice))
        n = len(self) if top <= 0 else min(int(top), len(self))
        n = max(n, 1)
        hits = (_capi.HitStruct * n)()
        got = ctypes.c_size_t()
        opt = _query_options(duration, transpose, context)
        if _capi.search_theme(h, t._h, ctypes.byref(opt), hits, n, ctypes.byref(got)) != 0:
            _raise()
        return [Hit(hits[i].doc_id.decode("utf-8", "replace"), float(hits[i].distance), float(hits[i].start_sec),
                    float(hits[i].end_sec), int(hits[i].transpose), float(hits[i].stretch)) for i in range(got.value)]

    def occurrences(self, doc: str, theme, margin: Optional[float] = None, duration: Union[float, str, None] = None,
                    tempo: Optional[float] = None, transpose: Union[int, str] = 0, *, part=None, measures=None,
                    track: Optional[int] = None, voice: Optional[int] = None) -> List[Occurrence]:
        """Every passage of recording ``doc`` (a document id) whose distance is at most its best +
        ``margin`` (default 0.05), not overlapping, best first — ``leitmotif search
        --occurrences``. The theme and its options as for :meth:`search` (with
        ``transpose="any"`` each passage in its own key)."""
        h = self._handle()
        t = _theme_of(theme, tempo, dict(part=part, measures=measures, track=track, voice=voice))
        opt = _query_options(duration, transpose)
        occ = ctypes.POINTER(_capi.OccurrenceStruct)()
        n = ctypes.c_size_t()
        if _capi.occurrences_theme(h, doc.encode("utf-8"), t._h, ctypes.byref(opt),
                                   -1.0 if margin is None else float(margin), ctypes.byref(occ), ctypes.byref(n)) != 0:
            _raise()
        try:
            return [Occurrence(float(occ[i].distance), float(occ[i].start_sec), float(occ[i].end_sec),
                               int(occ[i].transpose)) for i in range(n.value)]
        finally:
            _capi.libc.free(occ)

    def evaluate(self, themes_csv: PathLike, queries_from: str = "annotation", *, transpose: Union[int, str] = 0,
                 duration: Optional[str] = None, random_transpose: Optional[int] = None,
                 random_tempo: Optional[int] = None, context: Optional[float] = None,
                 exhaustive: bool = False) -> Evaluation:
        """Retrieval evaluation — ``leitmotif eval DB --themes THEMES.csv``: every theme of the
        CSV (columns theme_id, piece_id, fold, start_sec, end_sec, query_midi, optionally
        transposition) is a query against all recordings; the rank of its own recording gives
        top-k rates and the mean reciprocal rank per fold and on average.

        queries_from
            ``"annotation"``: each query stretched to end_sec - start_sec (the paper's
            protocol); ``"score"``: at its MIDI file's own duration.
        transpose, duration
            ``"any"`` / ``"auto"``: search every query in all keys / at any tempo —
            ``--transpose any``, ``--duration auto``.
        random_transpose, random_tempo
            a seed: shift each query by a random interval / play it at a random 0.5-2x tempo,
            drawn from the seed and its theme id — ``--random-transpose SEED``,
            ``--random-tempo SEED``.
        context, exhaustive
            as :meth:`search`'s ``context``; every recording exactly — ``--context``,
            ``--exhaustive``.
        """
        if queries_from not in ("annotation", "score"):
            raise ValueError("queries_from: 'annotation' or 'score'")
        if transpose not in (0, "any"):
            raise ValueError(f"transpose: 0 or 'any' (a query's own shift is the CSV's transposition), got {transpose!r}")
        if duration not in (None, "auto"):
            raise ValueError(f"duration: None or 'auto', got {duration!r}")
        opt = _capi.EvalOptions(ctypes.sizeof(_capi.EvalOptions), int(queries_from == "score"), int(transpose == "any"),
                                int(duration == "auto"), int(bool(exhaustive)), int(random_transpose is not None),
                                int(random_transpose or 0), int(random_tempo is not None), int(random_tempo or 0),
                                int(context is not None), float(context or 0.0))
        res = ctypes.POINTER(_capi.EvalQuery)()
        n = ctypes.c_size_t()
        if _capi.evaluate_ex(self._handle(), _path(themes_csv), ctypes.byref(opt), ctypes.byref(res),
                             ctypes.byref(n)) != 0:
            _raise()
        try:
            queries = [(res[i].theme_id.decode(), res[i].piece_id.decode(), int(res[i].fold), int(res[i].rank),
                        float(res[i].distance)) for i in range(n.value)]
        finally:
            _capi.eval_free(res, n)
        done = [q for q in queries if q[3] > 0]
        folds = {f: _summary([q[3] for q in done if q[2] == f]) for f in sorted({q[2] for q in done})}
        return Evaluation(ranks={q[0]: q[3] for q in done}, queries=queries, folds=folds,
                          average=_summary([q[3] for q in done]), skipped=len(queries) - len(done))
