#!/usr/bin/python3
"""PIL + torchvision eval preprocessing throughput, single-threaded (the reference for
`ishscale bench --pipeline`). Runs Image.open(f).convert('RGB') -> Resize(256) -> CenterCrop(224)
-> ToTensor -> Normalize on every file, --repeat times, and prints one JSON line:
{"images": N, "seconds": S, "img_per_s": R, "cpu_seconds": C, "img_per_cpu_s": R2} (wall clock and this
process's CPU time). Runs under torch 1.13 and 2.x."""
import argparse
import json
import time

import torch
from PIL import Image
from torchvision import transforms as T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--resize", type=int, default=256)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    torch.set_num_threads(1)
    tf = T.Compose([T.Resize(a.resize), T.CenterCrop(a.crop), T.ToTensor(),
                    T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    for f in a.files:  # warm-up: page cache, lazy imports
        tf(Image.open(f).convert("RGB"))
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    for _ in range(a.repeat):
        for f in a.files:
            with Image.open(f) as im:
                tf(im.convert("RGB"))
            n += 1
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"images": n, "seconds": dt, "img_per_s": n / dt, "cpu_seconds": dc,
                      "img_per_cpu_s": n / dc}))


if __name__ == "__main__":
    main()
