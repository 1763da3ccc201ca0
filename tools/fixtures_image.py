"""Image-pipeline goldens from PIL 9.4 + torchvision 0.14 (also runs under newer versions).

Writes into <out>/image/ the test images (the three real JPEGs shipped by Debian packages, synthetic
JPEGs/PNGs made here, and corrupt files) and <out>/image.safetensors holding, per case:
  <name>.decoded  uint8 [H,W,3]  np.array(Image.open(f).convert("RGB"))
  <name>.eval     uint8 [C,C,3]  CenterCrop(crop)(Resize(resize)(img))
  <name>.eval_bicubic  uint8 [224,224,3]  the same with Resize(232, BICUBIC) (torchvision's Swin-T recipe)
  <name>.norm     f32   [C,C,3]  Normalize(ImageNet)(ToTensor(...)), HWC (NORM_CASES and extra sizes)
  <name>.out      uint8          resize-only / crop+resize cases (bilinear, and bicubic: kind "resize_bicubic")
  <name>.rrc_*    uint8          F.resized_crop (+ hflip) at fixed parameters, RGB and 'L'
  <name>.train_*  uint8          RandomResizedCrop + RandomHorizontalFlip as composed for training
and metadata "cases" (JSON) describing each case, plus "norm_lut" f32 [256,3].
"""
import json
import os
import shutil

import numpy as np
import torch
import torchvision.transforms.functional as F
from PIL import Image
from torchvision import transforms as T

import st_io

REAL = {
    "grace_hopper": "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg",
    "china": "/usr/lib/python3/dist-packages/sklearn/datasets/images/china.jpg",
    "flower": "/usr/lib/python3/dist-packages/sklearn/datasets/images/flower.jpg",
}
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
BILINEAR = getattr(Image, "Resampling", Image).BILINEAR  # Pillow >= 9.1 names, older ones too
BICUBIC = getattr(Image, "Resampling", Image).BICUBIC
ADAPTIVE = getattr(Image, "Palette", Image).ADAPTIVE
# Cases whose normalised floats are stored too (every value is also checked through norm_lut).
NORM_CASES = {"grace_hopper", "china", "flower", "gray", "cmyk", "png_rgba", "odd_257x300"}


def _texture(w, h, seed):
    """Smooth gradients + edges + noise: exercises every tap of the resampler."""
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([
        127 + 100 * np.sin(xx / (3 + seed % 5)) * np.cos(yy / 7.0),
        255 * xx / max(w - 1, 1),
        255 * ((xx // 8 + yy // 8) % 2),
    ], -1)
    a = base + rs.normal(0, 25, size=(h, w, 3))
    return np.clip(a, 0, 255).astype(np.uint8)


def _png_raw(path, arr, color_type):
    """A 16-bit PNG written by hand (PIL cannot write 16-bit RGB/RGBA/LA): arr is uint16 [H,W,C]."""
    import struct
    import zlib
    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t, data):
        return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _synthetic(d):
    """Writes the synthetic images; returns {name: path}."""
    out = {}

    def jpg(name, w, h, seed, mode="RGB", **kw):
        im = Image.fromarray(_texture(w, h, seed))
        if mode != "RGB":
            im = im.convert(mode)
        p = os.path.join(d, name + ".jpg")
        im.save(p, "JPEG", **kw)
        out[name] = p

    jpg("s420", 500, 375, 1, quality=90, subsampling=2)
    jpg("s444", 375, 500, 2, quality=95, subsampling=0)
    jpg("s422", 333, 251, 3, quality=85, subsampling=1)
    jpg("gray", 320, 240, 4, mode="L", quality=90)
    jpg("cmyk", 300, 200, 5, mode="CMYK", quality=90)
    jpg("progressive", 400, 300, 6, quality=80, progressive=True)
    jpg("odd_257x300", 257, 300, 7, quality=90)
    jpg("odd_225x1000", 225, 1000, 8, quality=90)
    jpg("odd_300x225", 300, 225, 9, quality=90)
    jpg("odd_1001x257", 1001, 257, 10, quality=75, subsampling=2)
    jpg("tiny_100x80", 100, 80, 11, quality=90)
    jpg("tiny_13x7", 13, 7, 12, quality=90)
    jpg("one_1x1", 1, 1, 13, quality=90)
    jpg("line_1x50", 1, 50, 14, quality=90)
    jpg("line_50x1", 50, 1, 15, quality=90)
    jpg("thin_3x500", 3, 500, 16, quality=90, subsampling=2)

    def png(name, im):
        p = os.path.join(d, name + ".png")
        im.save(p, "PNG")
        out[name] = p

    rgba = np.dstack([_texture(200, 150, 20), np.random.RandomState(20).randint(0, 256, (150, 200), np.uint8)])
    png("png_rgba", Image.fromarray(rgba, "RGBA"))
    png("png_rgb", Image.fromarray(_texture(129, 97, 21)))
    pal = Image.fromarray(_texture(160, 120, 22)).convert("P", palette=ADAPTIVE, colors=50)
    pal.info["transparency"] = 3
    p = os.path.join(d, "png_palette.png")
    pal.save(p, "PNG", transparency=3)
    out["png_palette"] = p
    la = np.dstack([_texture(90, 70, 23)[..., 0], np.full((70, 90), 128, np.uint8)])
    png("png_la", Image.fromarray(la, "LA"))
    g16 = (np.random.RandomState(24).rand(48, 64) * 600).astype(np.uint16)  # many values > 255 (PIL clips)
    png("png_gray16", Image.fromarray(g16, "I;16"))
    png("png_1bit", Image.fromarray(_texture(50, 40, 25)[..., 2] > 128).convert("1"))
    rs = np.random.RandomState(26)
    for name, ct, c in (("png_rgb16", 2, 3), ("png_rgba16", 6, 4), ("png_la16", 4, 2)):
        p = os.path.join(d, name + ".png")
        _png_raw(p, rs.randint(0, 65536, (37, 53, c)).astype(np.uint16), ct)
        out[name] = p
    return out


def _corrupt(d, good_jpeg, good_png):
    """Damaged files. Returns [(name, path, pil_ok)], pil_ok = PIL decodes it without an exception."""
    raw = open(good_jpeg, "rb").read()
    files = {
        "trunc_60": raw[: int(len(raw) * 0.6)],
        "trunc_header": raw[:200],
        "trunc_no_eoi": raw[:-2],
        "garbage": bytes(np.random.RandomState(30).randint(0, 256, 5000, np.uint8)),
        "empty": b"",
        "png_trunc": open(good_png, "rb").read()[:300],
    }
    # Corrupt entropy-coded bytes in the middle: libjpeg warns and recovers; PIL ignores the warning.
    mid = bytearray(raw)
    for k in range(len(mid) // 2, len(mid) // 2 + 40):
        if mid[k] != 0xFF and mid[k - 1] != 0xFF:
            mid[k] = (mid[k] * 7 + 13) & 0xFE
    files["mid_corrupt"] = bytes(mid)
    # A 40000 x 40000 header (1.6e9 pixels) on a tiny file: refused from the header.
    bomb = bytearray(raw)
    i = bomb.find(b"\xff\xc0")
    if i < 0:
        i = bomb.find(b"\xff\xc2")
    bomb[i + 5:i + 9] = (40000).to_bytes(2, "big") + (40000).to_bytes(2, "big")
    files["bomb"] = bytes(bomb)
    res = []
    for name, b in files.items():
        ext = ".png" if name.startswith("png") else ".jpg"
        p = os.path.join(d, "bad_" + name + ext)
        with open(p, "wb") as f:
            f.write(b)
        try:
            with Image.open(p) as im:
                im.convert("RGB")
            ok = True
        except Exception:  # noqa: BLE001 - any PIL failure means "PIL refuses it"
            ok = False
        res.append((name, p, ok))
    return res


def make(out_dir):
    d = os.path.join(out_dir, "image")
    os.makedirs(d, exist_ok=True)
    imgs = {}
    for name, src in REAL.items():
        dst = os.path.join(d, name + ".jpg")
        shutil.copyfile(src, dst)
        imgs[name] = dst
    imgs.update(_synthetic(d))
    corrupt = _corrupt(d, imgs["s420"], imgs["png_rgba"])
    for name, p, ok in corrupt:
        if ok:  # PIL decodes it: then we must decode it bit-exactly too
            imgs["bad_" + name] = p

    tensors, cases = {}, []
    norm = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])
    loaded = {}
    for name, p in imgs.items():
        with Image.open(p) as im:
            rgb = im.convert("RGB")
        loaded[name] = rgb
        tensors[name + ".decoded"] = np.array(rgb)
        for rs, cs in ((256, 224),):
            e = T.CenterCrop(cs)(T.Resize(rs)(rgb))
            tensors[name + ".eval"] = np.array(e)
            if name in NORM_CASES:
                tensors[name + ".norm"] = norm(e).permute(1, 2, 0).contiguous()
        cases.append({"name": name, "file": os.path.basename(p), "kind": "eval", "resize": 256, "crop": 224})
        e = T.CenterCrop(224)(T.Resize(232, interpolation=T.InterpolationMode.BICUBIC)(rgb))
        tensors[name + ".eval_bicubic"] = np.array(e)
        cases.append({"name": name + ".eval_bicubic", "file": os.path.basename(p), "kind": "eval_bicubic",
                      "resize": 232, "crop": 224})

    # Other eval sizes (the 28x28 demo, and a crop larger than the resized image: zero padding).
    for name, rs, cs in (("china", 32, 28), ("s444", 20, 28), ("odd_225x1000", 30, 40), ("gray", 0, 100)):
        im = loaded[name]
        e = T.CenterCrop(cs)(T.Resize(rs)(im) if rs else im)
        key = f"{name}.eval_{rs}_{cs}"
        tensors[key] = np.array(e)
        tensors[key + ".norm"] = norm(e).permute(1, 2, 0).contiguous()
        cases.append({"name": key, "file": os.path.basename(imgs[name]), "kind": "eval", "resize": rs, "crop": cs})

    # Resize only (down, up, mixed, non-square), with and without a box.
    for name, size, box in (("china", (100, 75), None), ("grace_hopper", (300, 500), None),
                            ("odd_257x300", (57, 399), None), ("s420", (777, 123), None),
                            ("flower", (150, 120), (10.5, 20.25, 300.75, 200.0)),
                            ("tiny_13x7", (64, 40), (1.0, 0.5, 12.0, 7.0))):
        for kind, filt, suffix in (("resize", BILINEAR, ""), ("resize_bicubic", BICUBIC, "_bicubic")):
            r = loaded[name].resize(size, filt, box=box)
            key = f"{name}.resize_{size[0]}x{size[1]}" + ("_box" if box else "") + suffix
            tensors[key] = np.array(r)
            cases.append({"name": key, "file": os.path.basename(imgs[name]), "kind": kind, "w": size[0],
                          "h": size[1], "box": list(box) if box else None})

    # RandomResizedCrop's crop-then-resize (torchvision F.resized_crop) at fixed parameters, and hflip.
    for name, (top, left, h, w), flip in (("china", (13, 101, 250, 311), False),
                                          ("grace_hopper", (0, 0, 600, 512), True),
                                          ("s420", (200, 5, 31, 17), True)):
        r = F.resized_crop(loaded[name], top, left, h, w, [224, 224], T.InterpolationMode.BILINEAR)
        if flip:
            r = F.hflip(r)
        key = f"{name}.rrc_{top}_{left}_{h}_{w}" + ("_flip" if flip else "")
        tensors[key] = np.array(r)
        cases.append({"name": key, "file": os.path.basename(imgs[name]), "kind": "rrc", "top": top, "left": left,
                      "h": h, "w": w, "size": 224, "flip": flip})

    # The same at other output sizes (down- and upsampling), and on an 'L' image as torchvision sees a
    # grayscale file when it is not converted to RGB (the in-memory one-channel training path).
    for name, (top, left, h, w), size, flip, mode in (("odd_257x300", (7, 3, 250, 201), 64, True, "RGB"),
                                                      ("tiny_100x80", (10, 20, 31, 45), 160, False, "RGB"),
                                                      ("flower", (100, 50, 200, 200), 28, True, "RGB"),
                                                      ("gray", (20, 30, 150, 180), 28, True, "L"),
                                                      ("gray", (0, 0, 240, 320), 96, False, "L")):
        with Image.open(imgs[name]) as im:
            src = im.convert(mode)
        r = F.resized_crop(src, top, left, h, w, [size, size], T.InterpolationMode.BILINEAR)
        if flip:
            r = F.hflip(r)
        key = f"{name}.rrc_{mode}_{top}_{left}_{h}_{w}_{size}" + ("_flip" if flip else "")
        tensors[key] = np.array(r).reshape(size, size, -1)
        cases.append({"name": key, "file": os.path.basename(imgs[name]), "kind": "rrc", "top": top, "left": left,
                      "h": h, "w": w, "size": size, "flip": flip, "channels": 1 if mode == "L" else 3})

    # The whole training augmentation, torchvision's own transforms: RandomResizedCrop with scale
    # (2, 2.5) never fits, so get_params always takes its deterministic fallback (a centre crop with the
    # aspect ratio clamped to the ratio range); RandomHorizontalFlip with p 0 or 1 is deterministic too.
    for name, size, flip_p in (("china", 224, 1.0), ("s444", 64, 0.0), ("odd_225x1000", 96, 1.0),
                               ("odd_1001x257", 48, 0.0), ("line_1x50", 16, 1.0), ("thin_3x500", 32, 0.0)):
        aug = T.Compose([T.RandomResizedCrop(size, scale=(2.0, 2.5), ratio=(3.0 / 4.0, 4.0 / 3.0)),
                         T.RandomHorizontalFlip(flip_p)])
        key = f"{name}.train_{size}_p{int(flip_p)}"
        tensors[key] = np.array(aug(loaded[name]))
        cases.append({"name": key, "file": os.path.basename(imgs[name]), "kind": "train", "size": size,
                      "scale": [2.0, 2.5], "ratio": [3.0 / 4.0, 4.0 / 3.0], "flip_p": flip_p})

    for name, p, ok in corrupt:
        cases.append({"name": "bad_" + name, "file": os.path.basename(p), "kind": "corrupt", "pil_ok": ok})

    # Every normalised value: a 256x1 image whose pixel i is (i, i, i).
    ramp = Image.fromarray(np.repeat(np.arange(256, dtype=np.uint8)[:, None, None], 3, 2))
    tensors["norm_lut"] = norm(ramp)[:, :, 0].t().contiguous()  # [256, 3]
    st_io.save(os.path.join(out_dir, "image.safetensors"), tensors,
               metadata={"cases": json.dumps(cases), "torch": torch.__version__,
                         "pil": Image.__version__})
