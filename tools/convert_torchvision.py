#!/usr/bin/python3
"""Python reference for `ishscale convert`: IN.pth -> OUT.safetensors using torch.load.

Same rules as the C++ importer: a top-level dict wrapping the state dict ({"state_dict": ...},
{"model": ...}, ...) is unwrapped, a "module." prefix on every key is stripped, and the tensors are
written as stored (dtype, shape; made contiguous) with tools/st_io.py.
"""
import collections
import os
import pickle
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

PREFERRED = ["state_dict", "model_state_dict", "model", "net", "network", "state", "module", "params", "weights"]


def _is_state_dict(d):
    return isinstance(d, dict) and len(d) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in d.items())


def find_state_dict(obj):
    if _is_state_dict(obj):
        return obj
    if not isinstance(obj, dict):
        raise SystemExit(f"error: the checkpoint holds a {type(obj).__name__}, not a state dict")
    for k in PREFERRED:
        if k in obj and _is_state_dict(obj[k]):
            return obj[k]
    cands = [k for k, v in obj.items() if isinstance(k, str) and _is_state_dict(v)]
    if len(cands) != 1:
        raise SystemExit(f"error: {len(cands)} candidate state dicts: {cands}")
    return obj[cands[0]]


def load_state_dict(path):
    try:  # the same promise as ours where torch can keep it: nothing in the file is executed
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (TypeError, pickle.UnpicklingError):  # torch 1.13's weights_only refuses plain floats
        obj = torch.load(path, map_location="cpu", weights_only=False)
    sd = find_state_dict(obj)
    if all(k.startswith("module.") for k in sd):
        sd = collections.OrderedDict((k[len("module."):], v) for k, v in sd.items())
    return collections.OrderedDict((k, v.detach().contiguous()) for k, v in sd.items())


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: convert_torchvision.py IN.pth OUT.safetensors")
    st_io.save(sys.argv[2], load_state_dict(sys.argv[1]), metadata={"format": "pt"})


if __name__ == "__main__":
    main()
