#!/usr/bin/env python3
"""PyTorch CPU baseline for `ishscale bench --cpu`: the same workloads and JSON keys.

torchvision ResNet, ViT or Swin (random weights), fp32, batch B at 224x224: eval forward under
no_grad, and a training step (zero_grad, forward, cross-entropy, backward, SGD momentum 0.9;
--no-train skips it). Wall-clock median of the repeats after warm-up, at the same thread count
(torch.set_num_threads). ResNets are measured in both memory layouts (NCHW and channels_last); the
faster of each workload is reported under the plain keys, each layout under "<key>_nchw" /
"<key>_cl". Transformers (vit_*, swin_*) are measured in NCHW only: their one conv is the patch
embedding.

  python3 tools/torch_cpu_baseline.py --arch resnet50 --batch-size 8 --threads 2 --json out.json
  python3 tools/torch_cpu_baseline.py --arch vit_b_16 --batch-size 8 --threads 1 --no-train
  python3 tools/torch_cpu_baseline.py --table DIR   # ratio table of DIR/{ours,torch}_<arch>_t<N>.json
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time


def cpu_seconds():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def median_s(fn, warmup, iters):
    """Medians of wall seconds and process CPU seconds per run, after warm-up."""
    for _ in range(warmup):
        fn()
    s, c = [], []
    for _ in range(iters):
        c0, t0 = cpu_seconds(), time.perf_counter()
        fn()
        s.append(time.perf_counter() - t0)
        c.append(cpu_seconds() - c0)
    return statistics.median(s), statistics.median(c)


def table(d):
    """Prints ours / PyTorch per (arch, threads) from the JSON pairs `make bench-cpu` writes."""
    import glob

    rows = []
    for ours_path in sorted(glob.glob(os.path.join(d, "ours_*.json"))):
        torch_path = ours_path.replace("ours_", "torch_")
        if not os.path.exists(torch_path):
            continue
        with open(ours_path) as f:
            o = json.load(f)
        with open(torch_path) as f:
            t = json.load(f)
        rows.append((o, t))
    rows.sort(key=lambda r: (r[0]["arch"], r[0]["threads"]))
    print("| arch | threads | batch | ishscale eval | PyTorch eval (NCHW / CL) | ratio | ishscale train | "
          "PyTorch train (NCHW / CL) | ratio | FMA peak share eval, train (ours / PyTorch) | "
          "CPU-time ratio eval / train |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for o, t in rows:
        peak = o.get("peak_gflops", 0) or float("nan")
        cells = [o["arch"], str(o["threads"]), str(o["batch_size"])]
        shares, cpu_ratios = [], []
        for k in ("eval", "train"):
            if f"{k}_img_s" not in o or f"{k}_img_s" not in t:
                cells += ["-", "-", "-"]
                continue
            ours, best = o[f"{k}_img_s"], t[f"{k}_img_s"]
            layouts = " / ".join(f"{t[f'{k}_img_s_{n}']:.2f}" if f"{k}_img_s_{n}" in t else "-" for n in ("nchw", "cl"))
            cells += [f"{ours:.2f} img/s", f"{layouts} img/s", f"**{ours / best:.2f}x**"]
            gf = o[f"gflop_per_img_{'fwd' if k == 'eval' else 'train'}"]
            shares.append(f"{100 * ours * gf / peak:.0f}% / {100 * best * gf / peak:.0f}%")
            if f"{k}_cpu_s_per_img" in o and f"{k}_cpu_s_per_img" in t:
                cpu_ratios.append(f"{t[f'{k}_cpu_s_per_img'] / o[f'{k}_cpu_s_per_img']:.2f}x")
        cells.append(", ".join(shares))
        cells.append(" / ".join(cpu_ratios))
        print("| " + " | ".join(cells) + " |")
    try:
        print(f"load average: {open('/proc/loadavg').read().split()[:3]}")
    except OSError:
        pass


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--table":
        return table(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0, help="0: every core")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    threads = a.threads if a.threads > 0 else len(os.sched_getaffinity(0))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import torch
    import torchvision

    torch.set_num_threads(threads)
    if not hasattr(torchvision.models, a.arch):
        sys.exit(f"torch_cpu_baseline: unknown --arch {a.arch}")
    bs = a.batch_size
    out = {"engine": f"pytorch {torch.__version__}", "arch": a.arch, "batch_size": bs, "threads": threads,
           "image_size": a.image_size, "repeat": a.repeat}
    print(f"pytorch {torch.__version__} CPU: {a.arch}, batch {bs}, {threads} threads", flush=True)
    y = torch.tensor([(i * 389 + 17) % 1000 for i in range(bs)])
    layouts = [("nchw", torch.contiguous_format)]
    if not a.arch.startswith(("vit_", "swin_")):
        layouts.append(("cl", torch.channels_last))
    for name, fmt in layouts:
        torch.manual_seed(1)
        m = getattr(torchvision.models, a.arch)().to(memory_format=fmt)
        x = torch.randn(bs, 3, a.image_size, a.image_size).to(memory_format=fmt)
        m.eval()
        with torch.no_grad():
            s, c = median_s(lambda: m(x), a.warmup, a.repeat)
        out[f"eval_img_s_{name}"] = bs / s
        out[f"eval_cpu_s_per_img_{name}"] = c / bs
        if a.no_train:
            print(f"  {name:5s} eval {out[f'eval_img_s_{name}']:7.2f} img/s ({c / bs:.3f} CPU s/img)", flush=True)
            continue
        m.train()
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(m(x), y).backward()
            opt.step()

        s, c = median_s(step, a.warmup, a.repeat)
        out[f"train_img_s_{name}"] = bs / s
        out[f"train_cpu_s_per_img_{name}"] = c / bs
        print(f"  {name:5s} eval {out[f'eval_img_s_{name}']:7.2f} img/s ({out[f'eval_cpu_s_per_img_{name}']:.3f} CPU s/img)"
              f"  train {out[f'train_img_s_{name}']:7.2f} img/s ({out[f'train_cpu_s_per_img_{name}']:.3f} CPU s/img)",
              flush=True)
    for key in ("eval",) if a.no_train else ("eval", "train"):
        best = max((n for n, _ in layouts), key=lambda n: out[f"{key}_img_s_{n}"])
        out[f"{key}_img_s"] = out[f"{key}_img_s_{best}"]
        out[f"{key}_ms"] = 1e3 * bs / out[f"{key}_img_s"]
        out[f"{key}_layout"] = best
        out[f"{key}_cpu_s_per_img"] = out[f"{key}_cpu_s_per_img_{best}"]
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
