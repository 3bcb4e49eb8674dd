"""Index the repository's example recordings and search them for a theme, with the features
of the best match as a NumPy array.

    python3 python/examples/search_demo.py [DB] ["NOTE LIST" | THEME.mid]
"""

import os
import sys
import tempfile

import numpy as np

import leitmotif as lm

here = os.path.dirname(os.path.abspath(__file__))
audio_dir = os.path.join(here, "..", "..", "examples", "audio")
db_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.mkdtemp(), "examples.lmdb")
theme = sys.argv[2] if len(sys.argv) > 2 else "G4:0.5 G4:0.5 G4:0.5 Eb4:4 r:0.5 F4:0.5 F4:0.5 F4:0.5 D4:4"

print(f"library {lm.library_path}, default model {lm.default_model()}")
added = lm.index(db_path, audio_dir)  # deep chroma with the default model
print(f"{db_path}: {added} recordings added")
with lm.Database(db_path) as db:
    hits = db.search(theme, top=3)
    for rank, h in enumerate(hits, 1):
        print(f"{rank}  {h.doc_id:58s} {h.distance:.4f}  {h.start_sec:.2f}-{h.end_sec:.2f} s")
    best = hits[0]
    c = db.chroma(best.doc_id)
    seg = c[:, int(best.start_sec * lm.FRAME_RATE):int(best.end_sec * lm.FRAME_RATE)]
    # the pitch class that dominates the matched passage
    print("strongest pitch class in the match:", lm.CHROMA_NAMES[int(np.argmax(seg.sum(axis=1)))])
