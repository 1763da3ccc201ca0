#!/usr/bin/python3
"""Seed corpora for the fuzz targets: OUT/<target>/ for safetensors, pickle, jpeg, stb, imglist, ckptmeta.

Generated, so nothing binary is committed:
  - safetensors, pickle: tools/fixtures_weights.py (small torch-saved checkpoints, safetensors files and
    the malformed corpus) plus the raw data.pkl of the zip checkpoints;
  - jpeg, stb: tools/image_corpus.py (small valid files of every accepted format, and the malformed
    corpus: truncations, bit flips, bombs, zero-size and huge headers, other formats);
  - imglist: OpenOOD-style lists, valid and broken;
  - ckptmeta: safetensors JSON headers holding the __metadata__ a training checkpoint carries.
"""
import os
import json
import shutil
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import fixtures_weights  # noqa: E402
import image_corpus  # noqa: E402

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
    image_seeds(out)
    text_seeds(out)
    counts = ", ".join(f"{len(os.listdir(os.path.join(out, t)))} {t}" for t in TARGETS)
    print(f"fuzz seeds: {counts} -> {out}")


TARGETS = ("safetensors", "pickle", "jpeg", "stb", "imglist", "ckptmeta")
IMG_MAX = 65536  # -max_len of the image targets


def _write(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def image_seeds(out):
    jp, sb = os.path.join(out, "jpeg"), os.path.join(out, "stb")
    for d in (jp, sb):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    files = list(image_corpus.good_files().items())
    files += [(n, b) for n, b, _, _ in image_corpus.malformed_files() if "_flip_" not in n and "_trunc" not in n]
    for name, data in files:
        if len(data) > IMG_MAX:
            continue
        is_jpeg = data[:3] == b"\xff\xd8\xff"
        _write(jp if is_jpeg else sb, name, data)


def text_seeds(out):
    il, cm = os.path.join(out, "imglist"), os.path.join(out, "ckptmeta")
    for d in (il, cm):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    lists = {
        "ok.txt": "imagenet_1k/val/a.JPEG 0\nimagenet_1k/val/b.JPEG 999\n",
        "ood.txt": "ninco/x/1.jpg -1\r\nninco/x/2.jpg -1\r\n\n\n",
        "abs.txt": "/abs/path/img.png 12\nrel/img.png +3\nu/v.png 1_000\n",
        "blanks.txt": "a.jpg  7 \n\nb.jpg 1\n",
        "bad_label.txt": "a.jpg x\n",
        "no_space.txt": "a.jpg\n",
        "lead_space.txt": " a.jpg 1\n",
        "minus2.txt": "a.jpg -2\n",
        "big.txt": "a.jpg 99999999999999999999\n",
        "empty.txt": "",
    }
    for name, text in lists.items():
        _write(il, name, text.encode())
    config = json.dumps({"arch": "resnet18", "weights": "", "epochs": 90, "batch_size": 256, "accum": 1,
                         "lr": 0.1, "momentum": 0.9, "nesterov": False, "wd": 1e-4, "wd_fc": 1e-4, "ish": False,
                         "ish_strategy": "scale", "ish_percentile": 65.0, "seed": 0, "augment": True,
                         "shuffle": True, "deterministic": False, "strict": False, "max_steps": -1,
                         "log_every": 10, "save_every": 1, "out": "runs/x", "device": "cpu",
                         "train_list": "train.txt", "val_list": "val.txt", "data_root": "./data",
                         "image_size": 224, "prefetch": 2})
    meta = {"format": "ishscale-train-1", "arch": "resnet18", "step": "1200", "epoch": "3",
            "step_in_epoch": "200", "epoch_seed": "1234567890123", "rng": "1:2:3:4",
            "best_acc": "0.75", "config": config}
    variants = {
        "meta_ok": meta,
        "meta_min": {k: meta[k] for k in ("format", "step", "epoch", "step_in_epoch", "epoch_seed", "rng")},
        "meta_badcount": dict(meta, step="-1"),
        "meta_badrng": dict(meta, rng="zz:1"),
        "meta_badcfg": dict(meta, config="{\"epochs\": \"many\"}"),
        "meta_otherformat": dict(meta, format="safetensors"),
    }
    for name, md in variants.items():
        header = {"__metadata__": md}
        _write(cm, name + ".json", json.dumps(header).encode())
        header["fc.bias"] = {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}
        _write(cm, name + "_tensor.json", json.dumps(header).encode())


if __name__ == "__main__":
    main()
