#!/usr/bin/env python3
"""docs/results/transpose_gap.md from scripts/transpose_gap.sh's JSON files.

Usage: transpose_gap_tables.py RUNS_DIR OUT.md SEED NAME=DB ...
"""
import json
import os
import sys

FEATURES = {
    "stft": "standard chroma (STFT)",
    "v1": "authors' v1 (their commercial recordings), tuning compensated",
    "prev": "previous default `leitmotif_ctc_train123valid4` (two GM soundfonts; default until December 5)",
    "choir": "**shipped default** `leitmotif_ctc_finetuned_choir`, tuning compensated",
    "real": "candidate: the shipped model continued with recorded-instrument renders",
    "union": "candidate: the shipped model continued on its own data + the recorded-instrument renders",
    "choir2": "candidate: the shipped model continued with twice the sung share",
    "wisereal": "0.5 x the shipped model + 0.5 x the recorded-instruments candidate (weights interpolated)",
    "whole_choir": "**shipped default**, whole-corpus database (1929 recordings)",
    "whole_wisereal": "0.5 x the shipped model + 0.5 x the recorded-instruments candidate, whole-corpus database",
}
SHORT = {"stft": "STFT chroma", "v1": "the authors' v1", "prev": "our previous default",
         "choir": "the shipped default", "real": "a candidate", "union": "a candidate",
         "choir2": "a candidate", "wisereal": "an interpolation of the shipped model and a candidate"}


def load(runs, name, run):
    path = os.path.join(runs, f"{name}_{run}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def main():
    runs, md, seed, specs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    rows = []  # one per database with both runs
    for spec in specs:
        name, db = spec.split("=", 1)
        plain, anyk, exh = (load(runs, name, r) for r in ("plain", "any", "any_exh"))
        if plain is None or anyk is None:
            continue
        ranks_p, ranks_a = plain["ranks"], anyk["ranks"]
        rows.append({
            "name": name, "db": os.path.basename(db), "n": int(plain["average"]["queries"]),
            "plain": plain["average"], "any": anyk["average"],
            "gap": anyk["average"]["top1"] - plain["average"]["top1"],
            "fell": sum(1 for t, r in ranks_p.items() if r == 1 and ranks_a.get(t, 0) != 1),
            "rose": sum(1 for t, r in ranks_p.items() if r != 1 and ranks_a.get(t, 0) == 1),
            # queries whose correct recording has the exhaustive run's rank (None: not run)
            "same_exh": None if exh is None else sum(1 for t, r in ranks_a.items() if exh["ranks"].get(t) == r),
        })

    lines = [
        "# Searching in all keys: what it costs in accuracy, per kind of features (issue 14 (a))",
        "",
        f"Made by `scripts/transpose_gap.sh DATA` (seed {seed}). Fold 5's themes, each shifted by a "
        "seeded random -5..-1 or 1..6 semitones and searched with `--transpose any`, against the plain "
        "search of the same themes in their original key (both with the annotated duration and the "
        "default ranking, context 0.12). Issue 14 asks for a gap within 0.02 (top-1 and MRR) on the "
        "whole-corpus database of the default model. The fold-5 databases are scripts/robustness.sh's "
        "(the 348 fold-5 recordings of the default render and the 4 real recordings; the same "
        "recordings for every feature type), the whole-corpus one scripts/whole_corpus.sh's.",
        "",
        "| features | database | queries | plain top-1 / MRR | all keys top-1 / MRR | gap top-1 / MRR "
        "| fell from rank 1 / rose to it | all keys: same rank of the correct recording as `--exhaustive` |",
        "|---|---|---:|---|---|---|---|---|",
    ]
    for r in rows:
        p, a = r["plain"], r["any"]
        same = "not run" if r["same_exh"] is None else f"{r['same_exh']} of {r['n']}"
        lines.append(
            f"| {FEATURES.get(r['name'], r['name'])} | `{r['db']}` | {r['n']} | {p['top1']:.3f} / {p['mrr']:.4f} "
            f"| {a['top1']:.3f} / {a['mrr']:.4f} | {r['gap']:+.3f} / {a['mrr'] - p['mrr']:+.4f} "
            f"| {r['fell']} / {r['rose']} | {same} |"
        )
    lines.append("")
    gaps = {r["name"]: r["gap"] for r in rows}
    short = lambda r: SHORT.get(r["name"], r["name"])  # noqa: E731
    prose = []
    fold5 = [r for r in rows if not r["name"].startswith("whole_")]
    if fold5:
        lo = min(fold5, key=lambda r: r["gap"])
        hi = max(fold5, key=lambda r: r["gap"])
        best_plain = max(fold5, key=lambda r: r["plain"]["top1"])
        prose.append(
            f"On the same fold-5 recordings the top-1 gap ranges from {lo['gap']:+.3f} ({short(lo)}) to "
            f"{hi['gap']:+.3f} ({short(hi)}): it is a property of the features.")
        if best_plain is not hi:
            prose.append(
                f"It does not follow the plain search's accuracy: the features most accurate in the "
                f"original key ({short(best_plain)}, top-1 {best_plain['plain']['top1']:.3f}) lose "
                f"{-best_plain['gap']:.3f} of it in all keys.")
    exh_rows = [r for r in rows if r["same_exh"] is not None]
    if exh_rows:
        all_same = all(r["same_exh"] == r["n"] for r in exh_rows)
        prose.append(
            ("Nor is it the pruning's: " if all_same else "The pruning changes little: ")
            + "the pruned all-keys search gives the exhaustive one's rank of the correct recording for "
            + ("every query of the " if all_same else "most queries of the ")
            + f"{len(exh_rows)} databases where both were run (last column).")
    if "whole_choir" in gaps and "choir" in gaps:
        prose.append(
            f"On the whole corpus, with 5.5 times as many wrong recordings, the shipped model's gap is "
            f"{gaps['whole_choir']:+.3f} against {gaps['choir']:+.3f} on fold 5's database"
            + (f", and the interpolated model's (on fold 5: {gaps['wisereal']:+.3f}) is "
               f"{gaps['whole_wisereal']:+.3f}." if "whole_wisereal" in gaps and "wisereal" in gaps else "."))
    lines += [
        " ".join(prose),
        "",
        "Ranking each recording by its best of 12 shifts, as the issue asks, gives every wrong "
        "recording 12 chances to hold a passage that fits the theme; the rankings that normalise or "
        "penalise the shifts tried so far (docs/results/search_modes.md) did not narrow the gap.",
        "",
    ]
    tmp = md + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines).rstrip("\n") + "\n")
    os.replace(tmp, md)


if __name__ == "__main__":
    main()
