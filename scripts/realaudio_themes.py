#!/usr/bin/env python3
"""../shared/realaudio/themes.csv as a themes CSV for `leitmotif eval` (document id = the audio file's
name without extension, fold 0). Usage: realaudio_themes.py REALAUDIO_DIR OUT.csv"""
import csv
import os
import sys

src, out = sys.argv[1], sys.argv[2]
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["theme_id", "piece_id", "fold", "start_sec", "end_sec", "query_midi"])
    for r in csv.DictReader(open(os.path.join(src, "themes.csv"))):
        piece = os.path.splitext(os.path.basename(r["audio_file"]))[0]
        w.writerow([r["theme_id"], piece, 0, r["start_sec"], r["end_sec"], os.path.join(src, r["theme_midi"])])
