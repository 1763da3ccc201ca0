"""Minimal safetensors writer/reader for the fixture scripts (struct + json; no extra package)."""
import json
import struct

import numpy as np

_DT = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int64"): "I64",
       np.dtype("int32"): "I32", np.dtype("uint8"): "U8", np.dtype("float16"): "F16"}


def _to_numpy(t):
    if hasattr(t, "detach"):
        t = t.detach().cpu()
        if str(t.dtype) == "torch.bfloat16":
            return t.view(dtype=__import__("torch").int16).numpy().view(np.uint16), "BF16"
        t = t.contiguous().numpy()
    a = np.asarray(t)
    if not a.flags.c_contiguous:  # np.ascontiguousarray would turn 0-d into 1-d
        a = a.copy(order="C")
    return a, _DT[a.dtype]


def save(path, tensors, metadata=None):
    """tensors: dict name -> torch tensor or numpy array. Sorted by descending itemsize, then name."""
    items = []
    for name, t in tensors.items():
        a, dt = _to_numpy(t)
        items.append((name, a, dt))
    items.sort(key=lambda x: (-x[1].dtype.itemsize, x[0]))
    header, pos = {}, 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, a, dt in items:
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [pos, pos + a.nbytes]}
        pos += a.nbytes
    hs = json.dumps(header, separators=(",", ":")).encode()
    hs += b" " * ((8 - len(hs) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hs)))
        f.write(hs)
        for _, a, _ in items:
            f.write(a.tobytes())


def load(path):
    inv = {v: k for k, v in _DT.items()}
    inv["BF16"] = np.dtype("uint16")
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        buf = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        out[name] = np.frombuffer(buf[b:en], dtype=inv[e["dtype"]]).reshape(e["shape"])
    return out
