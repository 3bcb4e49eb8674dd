#!/usr/bin/env python3
"""Tables of docs/results/context.md from scripts/context.sh's runs.

  context_tables.py DIR DEFAULT_W "GRID"

DIR holds the evaluations (NAME.json, NAME_top.csv, NAME.time). Plain Python."""
import csv
import json
import os
import sys


def load(d, name):
    p = os.path.join(d, name + ".json")
    return json.load(open(p)) if os.path.exists(p) else None


def cpu(d, name):
    p = os.path.join(d, name + ".time")
    if not os.path.exists(p):
        return None
    u, s, _ = open(p).read().split()[:3]
    return float(u) + float(s)


def top(d, name):
    p = os.path.join(d, name + "_top.csv")
    if not os.path.exists(p):
        return None
    return {r["theme_id"]: [r["top%d" % i] for i in range(1, 11)] for r in csv.DictReader(open(p))}


def cell(j):
    return "%.3f / %.4f" % (j["average"]["top1"], j["average"]["mrr"]) if j else "-"


def main():
    d, dw, grid = sys.argv[1], sys.argv[2], sys.argv[3].split()
    print("# The context term: a recording's whole in its ranking\n")
    print("Made by `scripts/context.sh DATA` (whole-corpus databases of `scripts/whole_corpus.sh`: "
          "1929 recordings, 77 h; the shipped default's features unless said). A recording's distance "
          "is its best passage's plus W x the median of the theme's distance over all its passages "
          "(the coarse pass's matching function; `--context W`, default %s). Cells: top-1 / MRR.\n" % dw)
    print("## Choosing W on fold 4 (the validation fold, 783 themes, annotated duration)\n")
    print("| W | plain search | all keys (random shifts) |")
    print("|---:|---|---|")
    for w in grid:
        print("| %s | %s | %s |" % (w, cell(load(d, "f4_w" + w)), cell(load(d, "f4_any_w" + w))))
    print("\n## Fold 5 (the test fold, 751 themes) and the real recordings\n")
    print("| run | W = 0 (the paper's ranking) | W = %s | CPU s (W = 0 / %s) |" % (dw, dw))
    print("|---|---|---|---|")
    for label, name in (("annotated duration", "f5"), ("score duration", "f5_score"),
                        ("all keys, random shifts (`--transpose any`)", "f5_any"),
                        ("score duration at random 0.5-2x tempi, `--duration auto`", "f5_auto"),
                        ("authors' v1 features, annotated duration", "f5_v1"),
                        ("held-out timbre and degradations (issue 12 (b)), fold-5 database", "ho"),
                        ("the same, authors' v1 features", "ho_v1")):
        c0, c1 = cpu(d, name + "_w0"), cpu(d, name + "_w" + dw)
        print("| %s | %s | %s | %s |" % (label, cell(load(d, name + "_w0")), cell(load(d, name + "_w" + dw)),
                                         "%.0f / %.0f" % (c0, c1) if c0 and c1 else "-"))
    print("\nReal recordings (../shared/realaudio), rank of the correct recording among 1929:\n")
    for label, name in (("shipped default", "real"), ("authors' v1", "real_v1")):
        for w in ("0", dw):
            j = load(d, "%s_w%s" % (name, w))
            if j:
                print("- %s, W = %s: %s" % (label, w, " / ".join("%s %d" % (k, v) for k, v in sorted(j["ranks"].items()))))
    exh, cand = load(d, "f5_w%s_exh" % dw), load(d, "f5_w" + dw)
    if exh and cand:
        te, tc = top(d, "f5_w%s_exh" % dw), top(d, "f5_w" + dw)
        same_rank = sum(1 for k in exh["ranks"] if exh["ranks"][k] == cand["ranks"].get(k))
        same_top = sum(1 for k in te if te[k] == tc.get(k))
        print("\n## The candidate search against `--exhaustive` (W = %s, fold 5, annotated duration)\n" % dw)
        print("- rank of the correct recording the same: %d of %d; the 10 best recordings the same, in order: "
              "%d of %d" % (same_rank, len(exh["ranks"]), same_top, len(te)))
        print("- MRR %.6f (candidates) and %.6f (exhaustive); CPU %.0f s and %.0f s" % (
            cand["average"]["mrr"], exh["average"]["mrr"], cpu(d, "f5_w" + dw) or 0, cpu(d, "f5_w%s_exh" % dw) or 0))


if __name__ == "__main__":
    main()
