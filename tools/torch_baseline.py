#!/usr/bin/env python3
"""PyTorch eager baseline for `ishscale bench`: the same workloads, the same JSON keys.

ResNet-50 (torchvision, random weights) inference at batch 1/32/256 and a training step at batch 128
(SGD momentum 0.9, CE), in fp32 (TF32 off) and TF32; then the torch equivalents of a few of our
hand-written kernels with the byte counts ishscale uses, so GB/s ratios are time ratios.
Timing: CUDA events after warm-up, median. Default layout NCHW (plain eager); --channels-last
switches model and input to NHWC. cuDNN autotuning (cudnn.benchmark) is on, as our engine also
times its convolution algorithms once; --no-cudnn-benchmark turns it off.
"""
import argparse
import json
import statistics
import sys

import torch
import torch.nn.functional as F
import torchvision


JSON_PATH = None


def save(out):
    """Rewrites --json after every row, so a run stopped by a time limit still leaves its rows."""
    if JSON_PATH:
        with open(JSON_PATH, "w") as f:
            json.dump(out, f, indent=2)


def time_ms(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ms = []
    for _ in range(iters):
        a.record()
        fn()
        b.record()
        b.synchronize()
        ms.append(a.elapsed_time(b))
    return statistics.median(ms)


def set_tf32(on):
    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


def labels(n, dev):
    return torch.tensor([(i * 389 + 17) % 1000 for i in range(n)], device=dev)


def bench_models(out, iters, quick, channels_last):
    dev = "cuda"
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for tf32 in (False, True):
        set_tf32(tf32)
        prec = "tf32" if tf32 else "fp32"
        torch.manual_seed(1)
        m = torchvision.models.resnet50().to(dev).to(memory_format=fmt).eval()
        for bs in (1, 32, 256):
            if quick and bs == 256:
                continue
            x = torch.randn(bs, 3, 224, 224, device=dev).to(memory_format=fmt)
            with torch.no_grad():
                ms = time_ms(lambda: m(x), 3, iters)
            key = f"infer_bs{bs}_{prec}"
            out[key + "_ms"] = ms
            out[key + "_img_s"] = bs / (ms / 1000)
            print(f"{key:22s} {ms:9.3f} ms  {bs / (ms / 1000):9.1f} img/s", flush=True)
            save(out)
        bs = 32 if quick else 128
        m.train()
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        x = torch.randn(bs, 3, 224, 224, device=dev).to(memory_format=fmt)
        y = labels(bs, dev)

        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(m(x), y).backward()
            opt.step()

        torch.cuda.reset_peak_memory_stats()
        ms = time_ms(step, 3, max(3, iters // 2))
        key = f"train_bs{bs}_{prec}"
        out[key + "_ms"] = ms
        out[key + "_img_s"] = bs / (ms / 1000)
        out[key + "_peak_GiB"] = torch.cuda.max_memory_allocated() / 2**30
        print(f"{key:22s} {ms:9.3f} ms  {bs / (ms / 1000):9.1f} img/s  peak {out[key + '_peak_GiB']:.2f} GiB", flush=True)
        save(out)
        del m, opt, x
        torch.cuda.empty_cache()
    set_tf32(False)


def bench_kernels(out, iters):
    dev = "cuda"

    def report(name, nbytes, fn):
        ms = time_ms(fn, 3, iters)
        out[f"kernel_{name}_GBps"] = nbytes / (ms * 1e-3) / 1e9
        out[f"kernel_{name}_ms"] = ms
        print(f"{name:26s} {ms:9.3f} ms  {out[f'kernel_{name}_GBps']:8.1f} GB/s", flush=True)
        save(out)

    n = 1 << 30
    a = torch.empty(n, dtype=torch.uint8, device=dev)
    b = torch.empty_like(a)
    report("copy", 2 * n, lambda: b.copy_(a))
    out["copy_GBps"] = out["kernel_copy_GBps"]
    del a, b
    # layer1 BN [128,256,56,56] channels_last, same byte formulas as ishscale bench.
    N, C, H = 128, 256, 56
    e = 4 * N * C * H * H
    x = torch.randn(N, C, H, H, device=dev).to(memory_format=torch.channels_last)
    r = torch.randn_like(x)
    g, bt = torch.ones(C, device=dev), torch.zeros(C, device=dev)
    rm, rv = torch.zeros(C, device=dev), torch.ones(C, device=dev)
    report("bn_train_fwd_relu", 3 * e, lambda: F.relu(F.batch_norm(x, rm, rv, g, bt, True, 0.1, 1e-5)))
    report("bn_train_fwd_add_relu", 4 * e, lambda: F.relu(F.batch_norm(x, rm, rv, g, bt, True, 0.1, 1e-5) + r))
    report("bn_eval_fwd_relu", 2 * e, lambda: F.relu(F.batch_norm(x, rm, rv, g, bt, False, 0.1, 1e-5)))
    report("add", 3 * e, lambda: x + r)
    del x, r
    x = torch.randn(128, 64, 112, 112, device=dev).to(memory_format=torch.channels_last)
    ex, ey = 4 * x.numel(), 4 * x.numel() // 4
    report("maxpool_fwd", ex + ey + 2 * ey, lambda: F.max_pool2d(x, 3, 2, 1, return_indices=True))
    del x
    params = [torch.randn(25557032 // 161, device=dev) for _ in range(161)]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4, foreach=True)
    opt.step()
    report("sgd_multi", 5 * 4 * 25557032, opt.step)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--no-cudnn-benchmark", action="store_true")
    ap.add_argument("--no-models", action="store_true")
    ap.add_argument("--no-kernels", action="store_true")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("torch_baseline: no CUDA device", file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = not a.no_cudnn_benchmark
    out = {"engine": "pytorch-eager", "device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "cudnn": torch.backends.cudnn.version(), "channels_last": a.channels_last,
           "cudnn_benchmark": torch.backends.cudnn.benchmark}
    global JSON_PATH
    JSON_PATH = a.json
    print(f"torch {torch.__version__} on {out['device']}", flush=True)
    save(out)
    if not a.no_models:
        bench_models(out, a.iters, a.quick, a.channels_last)
    if not a.no_kernels:
        bench_kernels(out, a.iters)
    save(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
