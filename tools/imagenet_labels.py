#!/usr/bin/python3
"""Writes the ImageNet-1k class names, one a line in class-index order, for `ishscale classify --labels`.

The names come from the torchvision package's own metadata (ResNet50_Weights.IMAGENET1K_V1.meta
["categories"], the list torchvision's classification weights share); nothing is downloaded.

    /usr/bin/python3 tools/imagenet_labels.py [OUT]     (default: imagenet1k_labels.txt)
"""
import os
import sys


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "imagenet1k_labels.txt"
    if len(sys.argv) > 2 or out in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if out in ("-h", "--help") else 2
    try:
        from torchvision.models import ResNet50_Weights
    except ImportError as e:
        print(f"error: needs torchvision >= 0.13 (Debian: python3-torchvision): {e}", file=sys.stderr)
        return 2
    names = list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
    if len(names) != 1000 or any(not n or "\n" in n for n in names):
        print(f"error: unexpected category list ({len(names)} names)", file=sys.stderr)
        return 2
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(n + "\n" for n in names))
    os.replace(tmp, out)
    print(f"wrote {out}: {len(names)} ImageNet-1k class names")
    return 0


if __name__ == "__main__":
    sys.exit(main())
