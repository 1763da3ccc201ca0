#!/usr/bin/python3
"""Seed corpora for the fuzz targets: OUT/safetensors/ and OUT/pickle/.

Built from tools/fixtures_weights.py (small torch-saved checkpoints, safetensors files and the
malformed corpus) plus the raw data.pkl of the zip checkpoints, so nothing binary is committed.
"""
import os
import shutil
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import fixtures_weights  # noqa: E402

MAX = 16384  # the fuzzers run with -max_len=16384


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "build/fuzz/seeds"
    st_dir, pk_dir = os.path.join(out, "safetensors"), os.path.join(out, "pickle")
    for d in (st_dir, pk_dir):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    with tempfile.TemporaryDirectory() as tmp:
        fixtures_weights.make(tmp)
        files = [os.path.join(tmp, f) for f in os.listdir(tmp)]
        files += [os.path.join(tmp, "weights_bad", f) for f in os.listdir(os.path.join(tmp, "weights_bad"))]
        for p in files:
            if not os.path.isfile(p) or os.path.getsize(p) > MAX:
                continue
            name = os.path.basename(p)
            shutil.copy(p, os.path.join(st_dir if name.endswith(".safetensors") else pk_dir, name))
            if name.endswith(".pth") and zipfile.is_zipfile(p):
                try:
                    with zipfile.ZipFile(p) as z:
                        for info in z.infolist():
                            if info.filename.endswith("data.pkl"):
                                with open(os.path.join(pk_dir, name + ".data.pkl"), "wb") as f:
                                    f.write(z.read(info.filename))
                except Exception:  # the malformed corpus: keep the file as is
                    pass
    print(f"fuzz seeds: {len(os.listdir(st_dir))} safetensors, {len(os.listdir(pk_dir))} pickle -> {out}")


if __name__ == "__main__":
    main()
