#!/usr/bin/env python3
"""How a recording's length moves its distances: docs/results/length_bias.md.

  length_bias.py collect LEITMOTIF DB DATA OUT.json
      runs every query exhaustively against every recording of DB (`search --top 0 --exhaustive`,
      2 processes): fold 5's themes (DATA/fold5_default/annotations.csv, at the annotated
      duration), ../shared/realaudio's (DATA/realaudio_themes.csv, made by whole_corpus.sh) and a
      cohort of every 15th theme of folds 1-4 (DATA/whole_default/foldN/annotations.csv); writes
      all distances with each recording's length (from the recordings.csv files, soxi for real
      audio). About 10 minutes per database on 2 cores.
  length_bias.py report LABEL=OUT.json [LABEL=OUT.json ...]
      prints the Markdown tables: each recording's mean cohort distance by length, the ranks
      when a share LAMBDA of the length's expected cohort distance is subtracted, and the real
      recordings' ranks among the renders shorter than 30 / 60 / 120 s only.

Plain Python (no NumPy), so that it runs wherever the other scripts do."""
import csv
import glob
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")
COHORT_STEP = 15


def queries(data):
    corpus = os.path.join(SHARED, "corpus")
    rows = []
    for r in csv.DictReader(open(os.path.join(data, "fold5_default", "annotations.csv"))):
        rows.append(("fold5", r["theme_id"], r["piece_id"], os.path.join(corpus, r["query_midi"]),
                     float(r["end_sec"]) - float(r["start_sec"])))
    for r in csv.DictReader(open(os.path.join(data, "realaudio_themes.csv"))):
        rows.append(("real", r["theme_id"], r["piece_id"], r["query_midi"],
                     float(r["end_sec"]) - float(r["start_sec"])))
    cohort = []
    for fold in (1, 2, 3, 4):
        cohort += list(csv.DictReader(open(os.path.join(data, "whole_default", "fold%d" % fold, "annotations.csv"))))
    for r in cohort[::COHORT_STEP]:
        rows.append(("cohort", r["theme_id"], r["piece_id"], os.path.join(corpus, r["query_midi"]),
                     float(r["end_sec"]) - float(r["start_sec"])))
    return rows


def lengths(data):
    sec = {}
    for f in glob.glob(os.path.join(data, "whole_default", "fold*", "recordings.csv")) + \
            [os.path.join(data, "fold5_default", "recordings.csv")]:
        for r in csv.DictReader(open(f)):
            sec[r["piece_id"]] = float(r["duration_sec"])
    for f in glob.glob(os.path.join(SHARED, "realaudio", "audio", "*.flac")):
        out = subprocess.run(["soxi", "-D", f], capture_output=True, text=True, check=True).stdout
        sec[os.path.splitext(os.path.basename(f))[0]] = float(out)
    return sec


def collect(lm, db, data, out):
    rows = queries(data)

    def run(row):
        p = subprocess.run([lm, "search", db, row[3], "--duration", "%.3f" % row[4], "--top", "0",
                            "--json", "--exhaustive", "--threads", "1"], capture_output=True, text=True)
        if p.returncode:
            sys.exit("length_bias: %s: %s" % (row[1], p.stderr.strip()))
        return {h["id"]: h["distance"] for h in json.loads(p.stdout)["results"]}

    result = []
    with ThreadPoolExecutor(2) as ex:
        for i, (row, dist) in enumerate(zip(rows, ex.map(run, rows))):
            result.append({"kind": row[0], "theme": row[1], "piece": row[2], "distances": dist})
            if i % 100 == 0:
                print("length_bias: %d of %d queries" % (i, len(rows)), file=sys.stderr, flush=True)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"database": db, "lengths": lengths(data), "queries": result}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)


def mean(x):
    return sum(x) / len(x) if x else float("nan")


def polyfit1(x, y):
    mx, my = mean(x), mean(y)
    b = sum((a - mx) * (c - my) for a, c in zip(x, y)) / sum((a - mx) ** 2 for a in x)
    return my - b * mx, b


def analyse(path):
    d = json.load(open(path))
    sec = d["lengths"]
    docs = sorted(set().union(*[q["distances"].keys() for q in d["queries"]]))
    # mean distance of the cohort (themes of folds 1-4, not of the recording itself) per recording
    cohort = [q for q in d["queries"] if q["kind"] == "cohort"]
    mu = {}
    for doc in docs:
        v = [q["distances"][doc] for q in cohort if q["piece"] != doc and doc in q["distances"]]
        mu[doc] = mean(v)
    fit = [(math.log(sec[doc]), mu[doc]) for doc in docs if sec[doc] >= 60 and not math.isnan(mu[doc])]
    a, b = polyfit1([x for x, _ in fit], [y for _, y in fit])
    expected = {doc: a + b * math.log(sec[doc]) for doc in docs}

    def ranks(kind, lam, per_recording):
        out = {}
        for q in d["queries"]:
            if q["kind"] != kind or q["piece"] not in q["distances"]:
                continue
            corr = mu if per_recording else expected
            s = {doc: v - lam * corr[doc] for doc, v in q["distances"].items()}
            own = s[q["piece"]]
            out[q["theme"]] = sum(1 for v in s.values() if v <= own)  # ties count against it
        return out

    return {"docs": docs, "real": {q["piece"] for q in d["queries"] if q["kind"] == "real"}, "sec": sec, "mu": mu, "a": a, "b": b, "ranks": ranks}


def report(args):
    models = [(a.split("=", 1)[0], analyse(a.split("=", 1)[1])) for a in args]
    print("### Mean cohort distance by recording length\n")
    print("| length | recordings | " + " | ".join(m for m, _ in models) + " |")
    print("|---|---:|" + "---:|" * len(models))
    bins = [(0, 30), (30, 60), (60, 120), (120, 300), (300, 600), (600, 100000)]
    docs = models[0][1]["docs"]
    for lo, hi in bins:
        sel = [doc for doc in docs if lo <= models[0][1]["sec"][doc] < hi]
        cells = ["%.3f" % mean([x["mu"][doc] for doc in sel if not math.isnan(x["mu"][doc])]) for _, x in models]
        print("| %s s | %d | %s |" % ("%d-%d" % (lo, hi) if hi < 100000 else ">= %d" % lo, len(sel), " | ".join(cells)))
    print("\nLeast-squares fit over the recordings of 60 s and more (mean cohort distance = a + b ln(seconds)): " +
          "; ".join("%s a = %.3f, b = %.4f" % (m, x["a"], x["b"]) for m, x in models) + ".\n")
    print("Real recordings:\n")
    print("| recording | seconds | " + " | ".join("%s: mean cohort distance | expected at its length" % m for m, _ in models) + " |")
    print("|---|---:|" + "---:|---:|" * len(models))
    x0 = models[0][1]
    for doc in sorted(x0["real"]):
        print("| %s | %.1f | %s |" % (doc, x0["sec"][doc], " | ".join(
            "%.3f | %.3f" % (x["mu"][doc], x["a"] + x["b"] * math.log(x["sec"][doc])) for _, x in models)))
    print("\n### Ranks with the length's expected distance subtracted\n")
    print("Score = distance - LAMBDA x expected cohort distance at the recording's length (`len`), or "
          "- LAMBDA x the recording's own mean cohort distance (`rec`). LAMBDA = 0 is the shipped ranking.\n")
    print("| features | correction | LAMBDA | fold 5: top-1 | MRR | real themes' ranks |")
    print("|---|---|---:|---:|---:|---|")
    for m, x in models:
        for per_rec in (False, True):
            for lam in (0.0, 0.25, 0.5, 0.75, 1.0):
                if per_rec and lam == 0.0:
                    continue
                f5 = list(x["ranks"]("fold5", lam, per_rec).values())
                real = x["ranks"]("real", lam, per_rec)
                print("| %s | %s | %.2f | %.3f | %.4f | %s |" % (
                    m, "rec" if per_rec else "len", lam, mean([r == 1 for r in f5]), mean([1 / r for r in f5]),
                    " / ".join("%s %d" % (t.split("_")[0] + "_" + t.split("_")[1], real[t]) for t in sorted(real))))


def report_pools(args):
    """Ranks of the real recordings among the renders shorter than a length only."""
    print("| features | renders in the database | real themes' ranks |")
    print("|---|---|---|")
    for arg in args:
        label, path = arg.split("=", 1)
        d = json.load(open(path))
        sec = d["lengths"]
        real = sorted((q for q in d["queries"] if q["kind"] == "real"), key=lambda q: q["theme"])
        real_docs = {q["piece"] for q in real}
        for limit in (30, 60, 120, None):
            ranks = []
            for q in real:
                own = q["distances"].get(q["piece"])
                pool = [v for k, v in q["distances"].items()
                        if k in real_docs or limit is None or sec[k] < limit]
                ranks.append("-" if own is None else str(sum(1 for v in pool if v <= own)))
            n = sum(1 for k in sec if k not in real_docs and (limit is None or sec[k] < limit))
            print("| %s | %s (%d) | %s |" % (label, "all" if limit is None else "under %d s" % limit, n,
                                               " / ".join(ranks)))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "collect":
        collect(*sys.argv[2:])
    elif len(sys.argv) >= 3 and sys.argv[1] == "report":
        report(sys.argv[2:])
        print("\n### Ranks among renders of comparable length\n")
        report_pools(sys.argv[2:])
    else:
        sys.exit(__doc__)
