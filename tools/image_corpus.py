#!/usr/bin/python3
"""Small image files for the decoder tests and fuzz seeds, generated (nothing binary is committed).

  image_corpus.py good DIR       valid files of every accepted format (JPEG, PNG, BMP, GIF, PPM/PGM)
  image_corpus.py malformed DIR  the malformed corpus: truncated and bit-flipped copies of each good file,
                                 decompression bombs, zero-size images, huge dimensions in the header,
                                 files of formats that are not accepted, an empty file. Writes
                                 DIR/manifest.txt: one line per file, "name<TAB>must_fail<TAB>message part"
                                 (must_fail 1: the decoder has to refuse it with an error containing the
                                 message part; 0: refusing or decoding are both fine, crashing is not).
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image


def _texture(w, h, seed):
    rs = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y) * 4) % 256], -1)
    return np.clip(base + rs.randint(-20, 21, (h, w, 3)), 0, 255).astype(np.uint8)


def _save(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def good_files():
    """{name: bytes} of small valid images, several variants per accepted format."""
    rgb = Image.fromarray(_texture(40, 30, 1))
    out = {
        "base.jpg": _save(rgb, "JPEG", quality=85),
        "progressive.jpg": _save(rgb, "JPEG", quality=80, progressive=True),
        "gray.jpg": _save(rgb.convert("L"), "JPEG"),
        "cmyk.jpg": _save(rgb.convert("CMYK"), "JPEG"),
        "s444_restart.jpg": _save(rgb, "JPEG", subsampling=0, optimize=True),
        "rgb.png": _save(rgb, "PNG"),
        "rgba.png": _save(rgb.convert("RGBA"), "PNG"),
        "palette.png": _save(rgb.convert("P"), "PNG"),
        "gray16.png": _save(Image.fromarray((_texture(33, 17, 2)[..., 0].astype(np.uint16) * 257)), "PNG"),
        "rgb24.bmp": _save(rgb, "BMP"),
        "palette8.bmp": _save(rgb.convert("P"), "BMP"),
        "mono1.bmp": _save(rgb.convert("1"), "BMP"),
        "still.gif": _save(rgb.convert("P"), "GIF"),
        "p6.ppm": _save(rgb, "PPM"),
        "p5.pgm": _save(rgb.convert("L"), "PPM"),
        "p5_16.pgm": b"P5\n21 13\n65535\n" + (_texture(21, 13, 6)[..., 1].astype(">u2") * 257).tobytes(),
    }
    frames = [Image.fromarray(_texture(24, 20, s)).convert("P") for s in (3, 4)]
    b = io.BytesIO()
    frames[0].save(b, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    out["animated.gif"] = b.getvalue()
    return out


def _png_chunk(t, data):
    return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)


def _png(w, h, bit_depth, color_type, idat):
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _png_bomb(w, h):
    """A 1-bit grey PNG of w x h zero pixels: a few tens of KB that would inflate to w*h pixels."""
    c = zlib.compressobj(9)
    row = b"\0" * (1 + (w + 7) // 8)
    parts = [c.compress(row) for _ in range(h)]
    return _png(w, h, 1, 0, b"".join(parts) + c.flush())


def _jpeg_with_size(jpg, w, h):
    b = bytearray(jpg)
    i = b.find(b"\xff\xc0")
    if i < 0:
        i = b.find(b"\xff\xc2")
    b[i + 5:i + 9] = struct.pack(">HH", h, w)
    return bytes(b)


def _bmp_header(w, h, bpp=24, data=b""):
    off = 14 + 40
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, bpp, 0, len(data), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", off + len(data), 0, 0, off) + info + data


def _gif_header(w, h):
    # Logical screen and one image descriptor of w x h with a 2-colour table and a tiny LZW stream.
    return (b"GIF89a" + struct.pack("<HHBBB", w, h, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff" + b"," +
            struct.pack("<HHHHB", 0, 0, w, h, 0) + b"\x02\x02\x44\x01\x00;")


def _flip(data, seed, nbits, lo=0):
    rs = np.random.RandomState(seed)
    b = bytearray(data)
    for _ in range(nbits):
        k = rs.randint(lo, len(b))
        b[k] ^= 1 << rs.randint(0, 8)
    return bytes(b)


def malformed_files():
    """[(name, bytes, must_fail, message part)]."""
    good = good_files()
    out = []
    for name, data in sorted(good.items()):
        stem, ext = os.path.splitext(name)
        out.append((f"{stem}_ok{ext}", data, 0, ""))
        # Truncation is detected in every format but GIF (whose decoder, like PIL's, may stop early).
        for frac in (0.1, 0.5, 0.9):
            out.append((f"{stem}_trunc{int(frac * 100)}{ext}", data[: int(len(data) * frac)], int(ext != ".gif"), ""))
        out.append((f"{stem}_trunc_magic{ext}", data[:2], 1, ""))
        # Header damage (first 64 bytes) and body damage, each at a few seeds.
        for s in range(3):
            out.append((f"{stem}_flip_head{s}{ext}", _flip(data, 100 + s, 2, lo=min(3, len(data) - 1)), 0, ""))
            out.append((f"{stem}_flip_body{s}{ext}", _flip(data, 200 + s, 12, lo=len(data) // 4), 0, ""))
        zeroed = bytearray(data)
        zeroed[len(data) // 3: len(data) // 3 + 64] = b"\0" * 64
        out.append((f"{stem}_zeroed{ext}", bytes(zeroed), 0, ""))
    # Valid but unusual: an empty IDAT chunk before the data (stb copies zero bytes to a null buffer).
    png = good["rgb.png"]
    out.append(("empty_first_idat_ok.png", png[:33] + _png_chunk(b"IDAT", b"") + png[33:], 0, ""))
    # Decompression bombs: tiny files whose headers announce more pixels than the default cap.
    out.append(("bomb_png_20000x20000.png", _png_bomb(20000, 20000), 1, "exceeds the cap"))
    out.append(("bomb_jpeg_40000x40000.jpg", _jpeg_with_size(good["base.jpg"], 40000, 40000), 1, "exceeds the cap"))
    out.append(("bomb_gif_65535x65535.gif", _gif_header(65535, 65535), 1, "exceeds the cap"))
    # Huge dimensions in the header.
    out.append(("huge_png_2g.png", _png(0x7FFFFFFF, 0x7FFFFFFF, 8, 2, zlib.compress(b"\0" * 16)), 1, ""))
    out.append(("huge_jpeg_65535.jpg", _jpeg_with_size(good["base.jpg"], 65535, 65535), 1, ""))
    out.append(("huge_bmp.bmp", _bmp_header(1000000, 1000000, 24, b"\0" * 64), 1, ""))
    out.append(("huge_bmp_negative_h.bmp", _bmp_header(30000, -2147483647, 24, b"\0" * 64), 1, ""))
    out.append(("huge_ppm.ppm", b"P6\n100000 100000\n255\n" + b"\0" * 64, 1, "exceeds the cap"))
    out.append(("huge_ppm_overflow.ppm", b"P6\n99999999999 99999999999\n255\n" + b"\0" * 64, 1, ""))
    # Zero-size images.
    out.append(("zero_png.png", _png(0, 0, 8, 2, zlib.compress(b"")), 1, ""))
    out.append(("zero_w_png.png", _png(0, 10, 8, 2, zlib.compress(b"\0" * 10)), 1, ""))
    out.append(("zero_jpeg.jpg", _jpeg_with_size(good["base.jpg"], 0, 0), 1, ""))
    out.append(("zero_bmp.bmp", _bmp_header(0, 0), 1, ""))
    out.append(("zero_gif.gif", _gif_header(0, 0), 1, ""))
    out.append(("zero_ppm.ppm", b"P6\n0 0\n255\n", 1, ""))
    out.append(("empty.jpg", b"", 1, "empty file"))
    # Formats that are not accepted, and files that are not images at all.
    rgb = Image.fromarray(_texture(16, 12, 5))
    out.append(("tiff.tif", _save(rgb, "TIFF"), 1, "unsupported format: TIFF"))
    out.append(("webp.webp", _save(rgb, "WEBP"), 1, "unsupported format: WebP"))
    out.append(("tga.tga", _save(rgb, "TGA"), 1, ""))
    out.append(("ico.ico", _save(rgb, "ICO"), 1, "unsupported format: ICO"))
    out.append(("psd.psd", b"8BPS\0\1" + b"\0" * 6 + struct.pack(">HIIHH", 3, 12, 16, 8, 3) + b"\0" * 64, 1,
                "unsupported format: PSD"))
    out.append(("hdr.hdr", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 4 +X 4\n" + b"\0" * 64, 1,
                "unsupported format: Radiance HDR"))
    out.append(("pbm_ascii.pbm", b"P1\n2 2\n0 1\n1 0\n", 1, "unsupported format: plain-text"))
    out.append(("page.jpg", b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n", 1,
                "unsupported format: an HTML page"))
    out.append(("garbage.jpg", bytes(np.random.RandomState(7).randint(0, 256, 3000, np.uint8)), 1,
                "unknown format"))
    return out


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("good", "malformed"):
        sys.exit(__doc__)
    kind, d = sys.argv[1], sys.argv[2]
    os.makedirs(d, exist_ok=True)
    if kind == "good":
        for name, data in good_files().items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        return
    lines = []
    for name, data, must_fail, msg in malformed_files():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        lines.append(f"{name}\t{must_fail}\t{msg}\n")
    with open(os.path.join(d, "manifest.txt"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
