#!/usr/bin/env python3
"""Compares search-mode evaluations of two or more builds (docs/search.md, "Middle check").

Usage: scripts/compare_search_runs.py LABEL=DIR [LABEL=DIR ...] [--exhaustive DIR]

Each DIR holds runs as scripts/search_modes.sh writes them (NAME.json, NAME_top.csv, NAME.time:
user, system and wall seconds). Prints a Markdown table: per run the top-1 and MRR of the first
DIR, the CPU seconds (user + system) of every DIR, whether every DIR's 10 best recordings (ids,
in order) equal the first DIR's for every query, and, where --exhaustive DIR has NAME_exh_top.csv,
for how many queries the last DIR's 10 best equal the exhaustive search's.
"""
import csv
import json
import os
import sys

RUNS = [("plain", "plain search, annotated duration"),
        ("score", "plain search, score duration"),
        ("shift_plain", "random shift, plain search"),
        ("shift_any", "random shift, `--transpose any`"),
        ("any", "`--transpose any`"),
        ("tempo_plain", "random 0.5-2x tempo, plain search"),
        ("tempo_auto", "random tempo, `--duration auto`"),
        ("auto", "`--duration auto`"),
        ("both", "random shift and tempo, `--transpose any --duration auto`")]


def tops(d, name):
    p = os.path.join(d, name + "_top.csv")
    if not os.path.exists(p):
        return None
    return {r["theme_id"]: [r["top%d" % k] for k in range(1, 11)] for r in csv.DictReader(open(p))}


def cpu(d, name):
    p = os.path.join(d, name + ".time")
    if not os.path.exists(p):
        return None
    user, system = open(p).read().split()[:2]
    return float(user) + float(system)


def main(argv):
    dirs, exh = [], None
    i = 0
    while i < len(argv):
        if argv[i] == "--exhaustive":
            exh = argv[i + 1]
            i += 2
            continue
        label, _, d = argv[i].partition("=")
        if not d:
            sys.exit(__doc__)
        dirs.append((label, d))
        i += 1
    if not dirs:
        sys.exit(__doc__)
    head = "| run | top-1 | MRR | " + " | ".join("CPU s, %s" % l for l, _ in dirs) + \
           " | 10 best as %s | 10 best as exhaustive (%s) |" % (dirs[0][0], dirs[-1][0])
    print(head)
    print("|---|---:|---:|" + "---:|" * len(dirs) + "---|---:|")
    for name, label in RUNS:
        first = os.path.join(dirs[0][1], name + ".json")
        if not os.path.exists(first):
            continue
        avg = json.load(open(first))["average"]
        t0 = tops(dirs[0][1], name)
        same = all(tops(d, name) == t0 for _, d in dirs[1:])
        times = " | ".join("%.0f" % cpu(d, name) if cpu(d, name) is not None else "" for _, d in dirs)
        ex = tops(exh, name + "_exh") if exh else None
        tl = tops(dirs[-1][1], name)
        exs = "%d / %d" % (sum(tl[q] == ex[q] for q in tl), len(tl)) if ex and tl else ""
        print("| %s | %.3f | %.4f | %s | %s | %s |" % (label, avg["top1"], avg["mrr"], times,
                                                       "all %d" % len(t0) if same else "**differ**", exs))


if __name__ == "__main__":
    main(sys.argv[1:])
