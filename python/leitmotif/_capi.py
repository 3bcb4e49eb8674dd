"""ctypes declarations of libleitmotif's C API (include/leitmotif.h).

The library is found, in this order, at:

1. ``$LEITMOTIF_LIBRARY`` (a path to ``libleitmotif.so``),
2. the ``libdir`` of the ``leitmotif`` pkg-config package (``cmake --install`` writes
   ``PREFIX/lib/pkgconfig/leitmotif.pc``; set ``PKG_CONFIG_PATH`` for a prefix that
   pkg-config does not search),
3. the dynamic loader's search path (``ldconfig``, ``LD_LIBRARY_PATH``).
"""

import ctypes
import ctypes.util
import os
import subprocess

SONAME = "libleitmotif.so.0"


def _candidates():
    env = os.environ.get("LEITMOTIF_LIBRARY")
    if env:
        yield env
        return
    try:
        libdir = subprocess.run(
            ["pkg-config", "--variable=libdir", "leitmotif"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
        if libdir:
            yield os.path.join(libdir, SONAME)
    except (OSError, subprocess.SubprocessError):
        pass
    yield SONAME
    found = ctypes.util.find_library("leitmotif")
    if found:
        yield found


def _load():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append(str(e))
    raise OSError(
        "leitmotif: cannot load the C library libleitmotif.so (install it with `cmake --install`, "
        "or set LEITMOTIF_LIBRARY to its path): " + "; ".join(errors)
    )


lib, path = _load()
libc = ctypes.CDLL(None)
libc.free.argtypes = [ctypes.c_void_p]
libc.free.restype = None

c_float_p = ctypes.POINTER(ctypes.c_float)
c_double_p = ctypes.POINTER(ctypes.c_double)
c_size_p = ctypes.POINTER(ctypes.c_size_t)
c_char_pp = ctypes.POINTER(ctypes.c_char_p)


class EvalQuery(ctypes.Structure):
    """leitmotif_eval_query"""

    _fields_ = [
        ("theme_id", ctypes.c_char_p),
        ("piece_id", ctypes.c_char_p),
        ("fold", ctypes.c_int),
        ("rank", ctypes.c_size_t),
        ("distance", ctypes.c_float),
    ]


class QueryOptions(ctypes.Structure):
    """leitmotif_query_options"""

    _fields_ = [
        ("duration_sec", ctypes.c_double),
        ("tempo_bpm", ctypes.c_double),
        ("transpose", ctypes.c_int),
        ("transpose_any", ctypes.c_int),
        ("duration_auto", ctypes.c_int),
        ("context_set", ctypes.c_int),
        ("context_weight", ctypes.c_double),
    ]


class EvalOptions(ctypes.Structure):
    """leitmotif_eval_options (its size field lets the C struct grow at the end)"""

    _fields_ = [
        ("size", ctypes.c_size_t),
        ("from_score", ctypes.c_int),
        ("transpose_any", ctypes.c_int),
        ("duration_auto", ctypes.c_int),
        ("exhaustive", ctypes.c_int),
        ("random_transpose", ctypes.c_int),
        ("transpose_seed", ctypes.c_ulonglong),
        ("random_tempo", ctypes.c_int),
        ("tempo_seed", ctypes.c_ulonglong),
        ("context_set", ctypes.c_int),
        ("context_weight", ctypes.c_double),
    ]


class HitStruct(ctypes.Structure):
    """leitmotif_hit"""

    _fields_ = [
        ("doc_id", ctypes.c_char_p),
        ("distance", ctypes.c_float),
        ("start_sec", ctypes.c_double),
        ("end_sec", ctypes.c_double),
        ("transpose", ctypes.c_int),
        ("stretch", ctypes.c_double),
    ]


class OccurrenceStruct(ctypes.Structure):
    """leitmotif_occurrence"""

    _fields_ = [
        ("distance", ctypes.c_float),
        ("start_sec", ctypes.c_double),
        ("end_sec", ctypes.c_double),
        ("transpose", ctypes.c_int),
    ]


class ThemeSelection(ctypes.Structure):
    """leitmotif_theme_selection (its size field lets the C struct grow at the end)"""

    _fields_ = [
        ("size", ctypes.c_size_t),
        ("part", ctypes.c_char_p),
        ("measure_first", ctypes.c_int),
        ("measure_last", ctypes.c_int),
        ("track", ctypes.c_int),
        ("voice", ctypes.c_int),
        ("tempo_qpm", ctypes.c_double),
    ]


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


error = _fn("leitmotif_error", ctypes.c_char_p)
set_threads = _fn("leitmotif_set_threads", None, ctypes.c_int)
set_tuning = _fn("leitmotif_set_tuning", ctypes.c_int, ctypes.c_char_p)
db_tuning = _fn("leitmotif_db_tuning", ctypes.c_char_p, ctypes.c_void_p)
db_doc_tuning = _fn("leitmotif_db_doc_tuning", ctypes.c_double, ctypes.c_void_p, ctypes.c_size_t)
default_model = _fn("leitmotif_default_model", ctypes.c_char_p)
model_load = _fn("leitmotif_model_load", ctypes.c_void_p, ctypes.c_char_p)
model_free = _fn("leitmotif_model_free", None, ctypes.c_void_p)
chroma = _fn("leitmotif_chroma", ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p,
             ctypes.POINTER(c_float_p), c_size_p)
chroma_signal = _fn("leitmotif_chroma_signal", ctypes.c_int, c_float_p, ctypes.c_size_t, ctypes.c_int,
                    ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(c_float_p), c_size_p)
hcqt = _fn("leitmotif_hcqt", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(c_float_p), c_size_p)
hcqt_signal = _fn("leitmotif_hcqt_signal", ctypes.c_int, c_float_p, ctypes.c_size_t, ctypes.c_int,
                  ctypes.c_int, ctypes.POINTER(c_float_p), c_size_p)
db_open = _fn("leitmotif_db_open", ctypes.c_void_p, ctypes.c_char_p)
db_close = _fn("leitmotif_db_close", None, ctypes.c_void_p)
db_size = _fn("leitmotif_db_size", ctypes.c_size_t, ctypes.c_void_p)
db_add = _fn("leitmotif_db_add", ctypes.c_int, ctypes.c_char_p, c_char_pp, ctypes.c_size_t, ctypes.c_char_p,
             ctypes.c_char_p)
db_doc = _fn("leitmotif_db_doc", ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, c_char_pp,
             ctypes.POINTER(c_float_p), c_size_p, c_double_p)
db_features = _fn("leitmotif_db_features", ctypes.c_char_p, ctypes.c_void_p)
search_arrays = _fn("leitmotif_search_arrays", ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_double,
                    ctypes.c_double, ctypes.c_int, ctypes.c_size_t, c_char_pp, c_float_p, c_double_p,
                    c_double_p, c_size_p)
evaluate = _fn("leitmotif_eval", ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
               ctypes.POINTER(ctypes.POINTER(EvalQuery)), c_size_p)
evaluate_ex = _fn("leitmotif_eval_ex", ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p,
                  ctypes.POINTER(ctypes.POINTER(EvalQuery)), c_size_p)
eval_free = _fn("leitmotif_eval_free", None, ctypes.POINTER(EvalQuery), ctypes.c_size_t)
theme_load = _fn("leitmotif_theme_load", ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ThemeSelection))
theme_from_memory = _fn("leitmotif_theme_from_memory", ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                        ctypes.c_char_p, ctypes.POINTER(ThemeSelection))
theme_free = _fn("leitmotif_theme_free", None, ctypes.c_void_p)
theme_size = _fn("leitmotif_theme_size", ctypes.c_size_t, ctypes.c_void_p)
theme_duration = _fn("leitmotif_theme_duration", ctypes.c_double, ctypes.c_void_p)
theme_note = _fn("leitmotif_theme_note", ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, c_double_p, c_double_p,
                 ctypes.POINTER(ctypes.c_int))
search_theme = _fn("leitmotif_search_theme", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                   ctypes.POINTER(QueryOptions), ctypes.POINTER(HitStruct), ctypes.c_size_t, c_size_p)
occurrences_theme = _fn("leitmotif_occurrences_theme", ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p,
                        ctypes.c_void_p, ctypes.POINTER(QueryOptions), ctypes.c_double,
                        ctypes.POINTER(ctypes.POINTER(OccurrenceStruct)), c_size_p)
