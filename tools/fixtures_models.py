"""Golden data for models/: torchvision ResNet-18 and ResNet-50 with random weights.

For each arch it writes, into out_dir:
  <arch>.pth, <arch>_legacy.pth     state_dict saved by torch (zip and legacy serialisation)
  <arch>_ref.safetensors           the same state_dict (torchvision names and KCRS layout, timm-style)
  <arch>_golden.safetensors        inputs (NCHW and NHWC), eval logits/features, and one train-mode
                                   forward+backward: loss, every parameter gradient (torch layout),
                                   BN running statistics afterwards.
Weights: torchvision init, then BN gamma/beta and fc bias randomised (so a swapped gamma/beta is
caught), then BN statistics calibrated by 10 train-mode forwards with a cumulative average
(momentum=None) so eval-mode activations are realistic; momentum is reset to 0.1 afterwards.
Gradients are also computed in float64 from the same fp32 weights and input: in fp32 a train-mode
ResNet gradient sits on ReLU-mask discontinuities (a pre-activation within ~1e-6 of zero flips between
two correct fp32 engines and moves a BN-bias gradient by percents; torch fp32 itself differs from torch
fp64 by up to 17% on resnet50 here), so the 1e-3 gradient check runs where it is well posed: float64
on both sides. The fp32 gradients stay in the file for the continuous parts (fc) and for reporting.
Sizes: eval batch 2 at 224x224; the train step batch 2 at 112x112 (every layer still runs, layer4 at
4x4; a quarter of the cost, which matters for torch's slow float64 convolutions).
"""
import os
import time

import torch
import torchvision

import st_io

CONFIG = {
    # arch: (seed, eval size, train size, calibration batch, calibration size)
    "resnet18": (1818, 224, 112, 4, 64),
    "resnet50": (5050, 224, 112, 4, 64),
}
BATCH = 2


def _nhwc(x):
    return x.permute(0, 2, 3, 1).contiguous()


def _build(arch, seed, calib_batch, calib_size):
    torch.manual_seed(seed)
    model = getattr(torchvision.models, arch)()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
        model.fc.bias.normal_(0.0, 0.1)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.momentum = None  # cumulative moving average over the calibration passes
    model.train()
    with torch.no_grad():
        for _ in range(10):
            model(torch.randn(calib_batch, 3, calib_size, calib_size))
    for m in bns:
        m.momentum = 0.1
    return model


def _load_copy(arch, sd):
    m = getattr(torchvision.models, arch)()
    m.load_state_dict(sd)
    return m


def _forward_with_features(model, x):
    feats = {}
    h = model.avgpool.register_forward_hook(lambda m, i, o: feats.__setitem__("f", torch.flatten(o, 1)))
    logits = model(x)
    h.remove()
    return logits, feats["f"]


def _make_one(out_dir, arch):
    seed, eval_size, train_size, cb, cs = CONFIG[arch]
    model = _build(arch, seed, cb, cs)
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save(model.state_dict(), os.path.join(out_dir, f"{arch}.pth"))
    torch.save(model.state_dict(), os.path.join(out_dir, f"{arch}_legacy.pth"), _use_new_zipfile_serialization=False)
    st_io.save(os.path.join(out_dir, f"{arch}_ref.safetensors"), sd, {"format": "pt"})

    g = torch.Generator().manual_seed(seed + 1)
    x_eval = torch.randn(BATCH, 3, eval_size, eval_size, generator=g)
    x_train = torch.randn(BATCH, 3, train_size, train_size, generator=g)
    labels = torch.randint(0, 1000, (BATCH,), generator=g)

    model.eval()
    with torch.no_grad():
        logits_eval, feats_eval = _forward_with_features(model, x_eval)
    # Degenerate activations (all-zero features, constant logits) would make the comparison vacuous.
    assert feats_eval.abs().max() > 1e-2 and logits_eval.std() > 1e-2, (arch, feats_eval.abs().max(), logits_eval.std())

    # The same train step from the same state in float64 (see the module docstring for why).
    m64 = _load_copy(arch, sd).double().train()
    logits64, _ = _forward_with_features(m64, x_train.double())
    loss64 = torch.nn.functional.cross_entropy(logits64, labels)
    loss64.backward()

    model.train()
    model.zero_grad()
    logits_train, feats_train = _forward_with_features(model, x_train)
    loss = torch.nn.functional.cross_entropy(logits_train, labels)
    loss.backward()

    gold = {
        "x_eval_nchw": x_eval, "x_eval": _nhwc(x_eval), "logits_eval": logits_eval, "features_eval": feats_eval,
        "x_train_nchw": x_train, "x_train": _nhwc(x_train), "labels": labels,
        "logits_train": logits_train, "features_train": feats_train, "loss": loss.reshape(1),
    }
    for name, p in model.named_parameters():
        gold["grad." + name] = p.grad
    for name, b in model.named_buffers():
        gold["after." + name] = b
    gold["loss64"] = loss64.reshape(1)
    gold["logits64_train"] = logits64
    for name, p in m64.named_parameters():
        gold["grad64." + name] = p.grad
    for name, b in m64.named_buffers():
        gold["after64." + name] = b
    st_io.save(os.path.join(out_dir, f"{arch}_golden.safetensors"), gold)
    print(f"  {arch}: logits_eval std {logits_eval.std():.3f}, features max {feats_eval.max():.3f}, "
          f"loss {loss.item():.4f}", flush=True)


def make(out_dir):
    # One thread: on a shared 2-core CI machine OpenMP's spinning makes 2 threads up to 7x slower.
    # ISHSCALE_FIXTURE_THREADS overrides it (tools/gpu_check.sh, on a many-core machine).
    torch.set_num_threads(int(os.environ.get("ISHSCALE_FIXTURE_THREADS", "1")))
    for arch in CONFIG:
        t0 = time.time()
        _make_one(out_dir, arch)
        print(f"  {arch} in {time.time() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    import sys
    make(sys.argv[1] if len(sys.argv) > 1 else "build/fixtures")
