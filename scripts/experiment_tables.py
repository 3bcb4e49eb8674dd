#!/usr/bin/env python3
"""Tables of the required experiment (scripts/experiment.sh) from docs/results/experiment_*.json,
in the layout of Tables 4 and 5 of Zalkow & Mueller (ISMIR 2020). Writes experiment.md beside them."""
import json
import os
import sys

results = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "docs", "results")
methods = [("ctc", "leitmotif CTC (ours, CC0 folds 1-3, valid 4)"),
           ("cce", "leitmotif CCE baseline (ours, same data)"),
           ("stft", "standard chroma (stft)"),
           ("v1", "paper's released v1 model (CTC, their data)")]
settings = [("annotation", "query stretched to the annotated duration"),
            ("score", "query at its score duration")]
keys = ["top1", "top5", "top10", "top20", "top50", "mrr"]


notes = []


def load(name):
    path = os.path.join(results, "experiment_%s.json" % name)
    if not os.path.exists(path):
        # The baselines' whole-corpus results of docs/results/README.md: same database, every fold.
        base = name.split("_")[0]
        alt = os.path.join(results, "corpus_%s.json" % name)
        if base not in ("stft", "v1") or not os.path.exists(alt):
            return None
        path = alt
        note = ("%s: fold 5 of `corpus_%s_*.json` (all themes against the same whole-corpus database, "
                "docs/results/README.md)" % (base, base))
        if note not in notes:
            notes.append(note)
    with open(path) as f:
        return json.load(f)


lines = ["# Required experiment: test fold 5 against the whole corpus", "",
         "Train: CC0 pieces of folds 1, 2, 3; validation: CC0 pieces of fold 4; test: every theme of fold 5",
         "(all licences) searched against a database of all corpus recordings. Produced by",
         "`scripts/experiment.sh`; rank of the correct recording, ties count against it.", ""]
for q, title in settings:
    lines += ["## %s" % title, "", "| features | queries | Top-1 | Top-5 | Top-10 | Top-20 | Top-50 | MRR |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m, label in methods:
        r = load("%s_%s" % (m, q))
        if r is None:
            lines.append("| %s | not run | | | | | | |" % label)
            continue
        fold5 = [f for f in r["folds"] if f["fold"] == 5]
        row = fold5[0] if fold5 else r["average"]
        lines.append("| %s | %d | %s |" % (label, row["queries"], " | ".join("%.3f" % row[k] for k in keys)))
    lines.append("")
for q, title in settings:
    real = [(m, label, load("realaudio_%s_%s" % (m, q))) for m, label in methods]
    real = [(m, label, r) for m, label, r in real if r is not None]
    if not real:
        continue
    themes = sorted(set().union(*(r["ranks"].keys() for _, _, r in real)))
    lines += ["## Real recordings (../shared/realaudio), %s" % title, "",
              "Rank of each theme's recording in a database of the whole corpus plus the real recordings.", "",
              "| theme | " + " | ".join(m for m, _, _ in real) + " |",
              "|---|" + "---:|" * len(real)]
    for t in themes:
        lines.append("| %s | %s |" % (t, " | ".join(str(r["ranks"].get(t, "-")) for _, _, r in real)))
    lines.append("")
if notes:
    lines += ["Sources: " + "; ".join(notes) + ".", ""]
out = os.path.join(results, "experiment.md")
with open(out + ".tmp", "w") as f:
    f.write("\n".join(lines))
os.replace(out + ".tmp", out)
print(out)
