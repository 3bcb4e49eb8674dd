#!/usr/bin/env python3
"""Rankings tried for the search in all keys (issue 14 (a)): can a different ranking of the 12
shifts close the gap between `--transpose any` and the plain search in the theme's own key?

Usage: scripts/key_rankings.py DB THEMES.csv OUT_DIR [--jobs N]

1. Distances of every theme, shifted by 0..11 semitones (on top of its CSV transposition), to
   every recording of DB (the Python binding, `top=0`: all recordings, exact, the default
   context term) -> OUT_DIR/shifts_<part>.npz (resumable: a finished part is kept).
2. Second passages: for the 10 best recordings of each query (plain and all keys) and its own
   recording, the best passage that does not overlap the best one, at the same shift
   (`Database.occurrences`) -> OUT_DIR/second.npz.
3. Top-1 / MRR of the plain search (shift 0) and of the search in all keys (the best of the 12
   shifts; every shift is searched, so no query needs shifting at random: the ranks are the same
   for any key the theme is given in) under each ranking, and the difference (all keys - plain):
   - raw distances (the shipped ranking);
   - per recording: d - lam (mu_r - mean mu), mu_r the recording's mean distance to the other
     pieces' themes (cohort normalisation; mu from the plain or the all-keys distances);
   - per query and shift: each shift's distances less lam x (that shift's mean, or 5th
     percentile, over the recordings - its mean over the shifts), or z-scored per shift;
   - second passage: d + w (d2 - d1) (w > 0 favours recordings that hold the theme twice, as
     an exposition and its recapitulation or repeat do).
Prints a Markdown table. Needs numpy and the binding (LEITMOTIF_LIBRARY=build/libleitmotif.so).
"""
import csv
import os
import subprocess
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "python"))
import leitmotif as lm  # noqa: E402


def themes_of(path):
    rows = list(csv.DictReader(open(path, newline="")))
    base = os.path.dirname(os.path.abspath(path))
    for r in rows:
        r["midi"] = os.path.join(base, r["query_midi"])
        r["duration"] = float(r["end_sec"]) - float(r["start_sec"])
        r["shift0"] = int(r.get("transposition") or 0)
    return rows


def part_job(db_path, themes_path, out, part, parts):
    """Step 1 for the themes part, part + parts, ... (one process each)."""
    db = lm.Database(db_path)
    col = {d: i for i, d in enumerate(db.ids)}
    rows = themes_of(themes_path)
    mine = list(range(part, len(rows), parts))
    D = np.full((12, len(mine), len(col)), np.inf, np.float32)
    for j, k in enumerate(mine):
        r = rows[k]
        for s in range(12):
            for h in db.search(r["midi"], top=0, duration=r["duration"], transpose=r["shift0"] + s):
                D[s, j, col[h.doc_id]] = h.distance
        if j % 50 == 0:
            print(f"key_rankings: part {part}: {j} of {len(mine)} themes", file=sys.stderr, flush=True)
    tmp = os.path.join(out, f"shifts_{part}.tmp.npz")
    np.savez(tmp, D=D, rows=np.array(mine))
    os.replace(tmp, os.path.join(out, f"shifts_{part}.npz"))


def shifts(db_path, themes_path, out, jobs):
    todo = [p for p in range(jobs) if not os.path.exists(os.path.join(out, f"shifts_{p}.npz"))]
    procs = [subprocess.Popen([sys.executable, __file__, "--part", db_path, themes_path, out, str(p), str(jobs)])
             for p in todo]
    if any(p.wait() != 0 for p in procs):
        sys.exit("key_rankings: a part failed")
    n = len(themes_of(themes_path))
    D = None
    for p in range(jobs):
        z = np.load(os.path.join(out, f"shifts_{p}.npz"))
        if D is None:
            D = np.full((12, n, z["D"].shape[2]), np.inf, np.float32)
        D[:, z["rows"]] = z["D"]
    return D


def second_passages(db_path, rows, D, corr, out):
    """Best and second passage (d1, d2) of the 10 best recordings and the own one, at their shift."""
    path = os.path.join(out, "second.npz")
    if os.path.exists(path):
        z = np.load(path)
        return z["d1"], z["d2"]
    db = lm.Database(db_path)
    ids = db.ids
    # [0]: at shift 0 (plain), [1]: at the recording's best shift (all keys)
    d1 = np.full((2,) + D.shape[1:], np.nan, np.float32)
    d2 = np.full((2,) + D.shape[1:], np.nan, np.float32)
    best_shift = D.argmin(0)
    for q, r in enumerate(rows):
        for mode, S in ((0, D[0]), (1, D.min(0))):
            cand = set(np.argsort(S[q], kind="stable")[:10].tolist()) | {int(corr[q])}
            for k in cand:
                s = 0 if mode == 0 else int(best_shift[q, k])
                occ = db.occurrences(ids[k], r["midi"], margin=1.0, duration=r["duration"],
                                     transpose=r["shift0"] + s)
                if occ:  # a recording that holds one passage only: 1, the largest distance
                    d1[mode, q, k] = occ[0].distance
                    d2[mode, q, k] = occ[1].distance if len(occ) > 1 else 1.0
        if q % 100 == 0:
            print(f"key_rankings: second passages: {q} of {len(rows)} themes", file=sys.stderr, flush=True)
    np.savez(path + ".tmp.npz", d1=d1, d2=d2)
    os.replace(path + ".tmp.npz", path)
    return d1, d2


def metrics(S, corr):
    n = len(corr)
    dc = S[np.arange(n), corr]
    rank = (S <= dc[:, None]).sum(1)
    return (rank == 1).mean(), (1.0 / rank).mean()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--part":
        part_job(*sys.argv[2:5], int(sys.argv[5]), int(sys.argv[6]))
        return
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    db_path, themes_path, out = sys.argv[1:4]
    jobs = int(sys.argv[sys.argv.index("--jobs") + 1]) if "--jobs" in sys.argv else 2
    os.makedirs(out, exist_ok=True)
    rows = themes_of(themes_path)
    ids = lm.Database(db_path).ids
    col = {d: i for i, d in enumerate(ids)}
    D = shifts(db_path, themes_path, out, jobs)
    keep = np.array([r["piece_id"] in col for r in rows])
    rows = [r for r, k in zip(rows, keep) if k]
    D = D[:, keep]
    corr = np.array([col[r["piece_id"]] for r in rows])
    n = len(rows)
    own = np.zeros(D.shape[1:], bool)
    own[np.arange(n), corr] = True
    plain, anyk = D[0], D.min(0)

    table = []

    def add(name, Sp, Sa):
        p, a = metrics(Sp, corr), metrics(Sa, corr)
        table.append((name, p, a))

    add("raw distances (shipped)", plain, anyk)
    for src, M in (("plain", plain), ("all keys", anyk)):
        X = np.where(own | ~np.isfinite(M), np.nan, M)
        mu = np.nanmean(X, axis=0)
        for lam in (0.25, 0.5, 1.0):
            c = lam * (mu - np.nanmean(mu))
            add(f"per recording, mu from {src}, lam {lam}", plain - c, anyk - c)
    F = np.where(np.isfinite(D), D, np.nan)
    for stat, V in (("mean", np.nanmean(F, axis=2, keepdims=True)),
                    ("5th percentile", np.nanpercentile(F, 5, axis=2, keepdims=True))):
        for lam in (0.25, 0.5, 1.0):
            S = D - lam * (V - np.nanmean(V, axis=0, keepdims=True))
            add(f"per query and shift, its {stat}, lam {lam}", S[0], S.min(0))
    Z = (D - np.nanmean(F, axis=2, keepdims=True)) / np.nanstd(F, axis=2, keepdims=True)
    add("per query and shift, z-scored", Z[0], Z.min(0))
    d1, d2 = second_passages(db_path, rows, D, corr, out)
    for w in (-0.1, -0.05, 0.05, 0.1, 0.2):
        # only the 10 best and the own recording were scored: the others keep their distance
        Sp = np.where(np.isnan(d2[0]), plain, plain + w * (d2[0] - d1[0]))
        Sa = np.where(np.isnan(d2[1]), anyk, anyk + w * (d2[1] - d1[1]))
        add(f"second passage, w {w}", Sp, Sa)

    print(f"{n} themes, {D.shape[2]} recordings ({os.path.basename(db_path.rstrip('/'))}); top-1 / MRR\n")
    print("| ranking | plain (shift 0) | all keys | all keys - plain |")
    print("|---|---|---|---|")
    for name, p, a in table:
        print(f"| {name} | {p[0]:.3f} / {p[1]:.4f} | {a[0]:.3f} / {a[1]:.4f} | {a[0] - p[0]:+.3f} / {a[1] - p[1]:+.4f} |")


if __name__ == "__main__":
    main()
