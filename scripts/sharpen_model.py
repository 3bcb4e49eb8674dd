#!/usr/bin/env python3
"""Sharpen a deep chroma model's output: a softmax temperature 1/GAMMA baked into the weights.

Usage: sharpen_model.py IN.bin OUT.bin GAMMA MODEL_ID

The network's 13 class scores (12 pitch classes and the CTC blank) are linear in the pitch
saliences: z_k = sum of chroma_pool[p, k] x salience[p], z_blank = eps_pool . salience + bias.
Multiplying chroma_pool, eps_pool.kernel and eps_pool.bias by GAMMA multiplies every score by
GAMMA, so the softmax becomes softmax(GAMMA z): each pitch-class probability x_k turns into
x_k^GAMMA / sum (the blank's share cancels in the l2 normalisation of the chroma frame). The
features are those of the input model raised to the power GAMMA per value and l2-normalised
again; nothing else changes (docs/models.md, "Sharpened output"). The header keeps its lines,
with model_id replaced and `output_gamma GAMMA` and `sharpened_from ID` added; the file is
written to OUT.tmp and renamed."""
import array
import os
import sys

HEADER = 4096
SCALED = ("chroma_pool.kernel", "eps_pool.kernel", "eps_pool.bias")


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__.split("\n\n")[1])
    src, dst, gamma, model_id = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    if not (0.1 <= gamma <= 20.0):
        sys.exit("sharpen_model: GAMMA must be in [0.1, 20]")
    if not model_id or any(c.isspace() for c in model_id):
        sys.exit("sharpen_model: MODEL_ID must be one word")
    raw = open(src, "rb").read()
    if len(raw) < HEADER or not raw.startswith(b"FLATWEIGHTS 1\n"):
        sys.exit("sharpen_model: %s is not a FLATWEIGHTS 1 model" % src)
    lines = raw[:HEADER].rstrip(b"\0").decode("ascii").split("\n")
    if "END" not in lines:
        sys.exit("sharpen_model: %s: header without END" % src)
    data = bytearray(raw[HEADER:])
    out, old_id, found = [], "", set()
    for line in lines[:lines.index("END")]:
        f = line.split()
        if f and f[0] == "model_id":
            old_id = " ".join(f[1:])
            line = "model_id " + model_id
        elif f and f[0] in ("output_gamma", "sharpened_from"):
            continue  # sharpening a sharpened model: record the total
        elif f and f[0] == "tensor" and f[2] in SCALED:
            off, count = int(f[f.index("offset") + 1]), int(f[f.index("count") + 1])
            t = array.array("f")
            t.frombytes(bytes(data[off:off + 4 * count]))
            if sys.byteorder != "little":
                t.byteswap()
            t = array.array("f", (v * gamma for v in t))
            if sys.byteorder != "little":
                t.byteswap()
            data[off:off + 4 * count] = t.tobytes()
            found.add(f[2])
        out.append(line)
    if found != set(SCALED):
        sys.exit("sharpen_model: %s lacks %s" % (src, ", ".join(sorted(set(SCALED) - found))))
    prev = next((float(l.split()[1]) for l in lines if l.startswith("output_gamma ")), 1.0)
    prev_from = next((l.split()[1] for l in lines if l.startswith("sharpened_from ")), old_id)
    out += ["output_gamma %g" % (prev * gamma), "sharpened_from " + prev_from, "END"]
    header = ("\n".join(out) + "\n").encode("ascii")
    if len(header) > HEADER:
        sys.exit("sharpen_model: header too long")
    tmp = dst + ".tmp"
    with open(tmp, "wb") as fo:
        fo.write(header + b"\0" * (HEADER - len(header)) + bytes(data))
        fo.flush()
        os.fsync(fo.fileno())
    os.replace(tmp, dst)


if __name__ == "__main__":
    main()
