#!/usr/bin/env python3
"""Weight interpolation of two FLATWEIGHTS models of the same architecture (WiSE-FT, Wortsman et al.
2022: a fine-tuned model mixed with its starting point often keeps the start's accuracy and part of
the fine-tuning's robustness). Usage: interpolate_models.py A.bin B.bin ALPHA OUT.bin MODEL_ID
writes (1 - ALPHA) * A + ALPHA * B with A's header (model_id replaced, a provenance line added)."""
import os
import sys

import numpy as np

HEADER = 4096
a_path, b_path, alpha, out, model_id = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5]
a, b = open(a_path, "rb").read(), open(b_path, "rb").read()
if len(a) != len(b) or not a.startswith(b"FLATWEIGHTS 1") or not b.startswith(b"FLATWEIGHTS 1"):
    sys.exit("interpolate_models: %s and %s are not FLATWEIGHTS models of the same size" % (a_path, b_path))
wa = np.frombuffer(a[HEADER:], dtype="<f4").astype(np.float64)
wb = np.frombuffer(b[HEADER:], dtype="<f4").astype(np.float64)
w = ((1 - alpha) * wa + alpha * wb).astype("<f4")
lines = []
for line in a[:HEADER].rstrip(b"\0").decode("ascii").split("\n"):
    if line.startswith("model_id "):
        line = "model_id " + model_id
    lines.append(line)
    if line.startswith("source "):
        lines.append("weights %.3f x %s + %.3f x %s" % (1 - alpha, os.path.basename(a_path), alpha, os.path.basename(b_path)))
header = "\n".join(lines).encode("ascii")
if len(header) > HEADER:
    sys.exit("interpolate_models: header too long")
tmp = out + ".tmp"
with open(tmp, "wb") as f:
    f.write(header + b"\0" * (HEADER - len(header)) + w.tobytes())
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, out)
