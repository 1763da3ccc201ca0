#!/usr/bin/python3
"""Training fixtures: torch.optim.SGD trajectories, OpenOOD's cosine LambdaLR, and ISH steps on a small
torchvision ResNet-18 (64x64 input), with an ISH linear written from METHOD.md / OpenOOD's semantics.

Writes into OUT/:
  train_sgd.safetensors    two configs x two parameter groups x 3 steps with fixed gradients
  train_cosine.safetensors the lr LambdaLR gives each of 10 updates (base lr 0.003)
  train_ish.safetensors    init.*: the start state; ish1.* / ce1.*: every state entry after one SGD step
                           with / without ISH; traj.*: after the 3-step loop trajectory (ISH, Nesterov, two
                           weight-decay groups, cosine LR); data.x (u8 NHWC), data.y
"""
import math
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402


def make_sgd(out):
    g = torch.Generator().manual_seed(11)
    shapes = {"a.w": (5, 7), "a.b": (3,), "b.w": (4, 2), "b.b": (2,)}
    init = {k: torch.randn(s, generator=g) for k, s in shapes.items()}
    grads = [{k: torch.randn(s, generator=g) for k, s in shapes.items()} for _ in range(3)]
    t = {}
    for k, v in init.items():
        t["init." + k] = v
        for s in range(3):
            t[f"grad{s}.{k}"] = grads[s][k]
    configs = {  # name: (group-0 opts, group-1 opts)
        "nest": (dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4),
                 dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-5)),
        "damp": (dict(lr=0.1, momentum=0.8, dampening=0.3, weight_decay=1e-2),
                 dict(lr=0.2, momentum=0.0, weight_decay=0.0)),
    }
    for cname, (o0, o1) in configs.items():
        ps = {k: v.clone().requires_grad_(True) for k, v in init.items()}
        opt = torch.optim.SGD([dict(params=[ps["a.w"], ps["a.b"]], **o0), dict(params=[ps["b.w"], ps["b.b"]], **o1)],
                              lr=0.1)
        for s in range(3):
            for k, p in ps.items():
                p.grad = grads[s][k].clone()
            opt.step()
            for k, p in ps.items():
                t[f"{cname}.step{s}.{k}"] = p.detach().clone()
    st_io.save(os.path.join(out, "train_sgd.safetensors"), t)


def cosine_annealing(step, total_steps, lr_max, lr_min):
    return lr_min + (lr_max - lr_min) * 0.5 * (1 + np.cos(step / total_steps * np.pi))


def make_cosine(out):
    lr, total = 0.003, 10
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=lambda s: cosine_annealing(s, total, 1, 1e-6 / lr))
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])  # the lr the next optimizer.step() uses
        p.grad = torch.ones(1)
        opt.step()
        sched.step()
    st_io.save(os.path.join(out, "train_cosine.safetensors"), {"lrs": np.array(lrs, dtype=np.float64)})


class IshLinear(torch.autograd.Function):
    """y = x W^T + b; grad_W from the shaped x (top-k of |x| scaled by exp(s1/s2)), other grads plain."""

    @staticmethod
    def forward(ctx, x, weight, bias, percentile):
        n = x.shape[1]
        k = int(n * (1 - percentile))
        s1 = x.sum(dim=1)
        kept, idx = x.abs().topk(k, dim=1, sorted=False)
        s2 = kept.sum(dim=1)
        shaped = torch.zeros_like(x).scatter_(1, idx, kept * torch.exp(s1 / s2)[:, None])
        ctx.save_for_backward(shaped, weight)
        return torch.nn.functional.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, gout):
        shaped, weight = ctx.saved_tensors
        return gout @ weight, gout.t() @ shaped, gout.sum(0), None


def small_resnet(seed):
    torch.manual_seed(seed)
    net = torchvision.models.resnet18(num_classes=10)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # non-trivial BN affine parameters and a visible fc bias
        for name, p in net.named_parameters():
            if name.endswith("bias") or ("bn" in name or "downsample.1" in name):
                p.copy_(p + 0.1 * torch.randn(p.shape, generator=g))
    return net


def forward(net, x_u8, ish, percentile=0.85):
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (torch.from_numpy(x_u8).permute(0, 3, 1, 2).float() / 255.0 - mean) / std
    m = net
    h = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    h = m.layer4(m.layer3(m.layer2(m.layer1(h))))
    f = torch.flatten(m.avgpool(h), 1)
    if ish:
        return IshLinear.apply(f, m.fc.weight, m.fc.bias, percentile)
    return m.fc(f)


def make_opt(net, lr, total_steps=None):
    params = list(net.parameters())  # OpenOOD: everything but fc, then fc.weight and fc.bias
    opt = torch.optim.SGD([{"params": params[:-2]}, {"params": params[-2:], "weight_decay": 5e-5}], lr,
                          momentum=0.9, weight_decay=5e-4, nesterov=True)
    sched = None
    if total_steps:
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lr_lambda=lambda s: cosine_annealing(s, total_steps, 1, 1e-6 / lr))
    return opt, sched


# ISH multiplies the fc gradient by exp(s1/s2) (~30x on a random net): at lr 0.001 the 3-step trajectory
# stays smooth (fc.weight still moves by more than its own size, conv1 by ~5%), so fp32 rounding
# differences between engines are not amplified by a chaotic loss.
LR = 0.001


def make_ish(out):
    rng = np.random.RandomState(5)
    B, steps = 4, 3
    xs = rng.randint(0, 256, size=(B * steps, 64, 64, 3)).astype(np.uint8)
    ys = rng.randint(0, 10, size=(B * steps,)).astype(np.int64)
    init = small_resnet(3)
    t = {"data.x": xs, "data.y": ys}
    for k, v in init.state_dict().items():
        t["init." + k] = v.clone()
    # One step with and without ISH from the same start.
    for tag, ish in (("ish1", True), ("ce1", False)):
        net = small_resnet(3)
        net.load_state_dict(init.state_dict())
        net.train()
        opt, _ = make_opt(net, LR)
        loss = torch.nn.functional.cross_entropy(forward(net, xs[:B], ish), torch.from_numpy(ys[:B]))
        opt.zero_grad()
        loss.backward()
        t[tag + ".grad.fc.weight"] = net.fc.weight.grad.clone()
        opt.step()
        for k, v in net.state_dict().items():
            t[f"{tag}.{k}"] = v.clone()
    # The loop's trajectory: 3 steps of batch 4 over the 12 samples in order, cosine over 3 steps.
    net = small_resnet(3)
    net.load_state_dict(init.state_dict())
    net.train()
    opt, sched = make_opt(net, LR, total_steps=steps)
    losses = []
    for s in range(steps):
        loss = torch.nn.functional.cross_entropy(forward(net, xs[s * B:(s + 1) * B], True),
                                                 torch.from_numpy(ys[s * B:(s + 1) * B]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss))
    for k, v in net.state_dict().items():
        t["traj." + k] = v.clone()
    t["traj_losses"] = np.array(losses, dtype=np.float64)
    st_io.save(os.path.join(out, "train_ish.safetensors"), t)


def make_ish_rows(out):
    """The shaping alone, per strategy, on rows with mixed signs and a zero row."""
    g = torch.Generator().manual_seed(21)
    x = torch.randn(5, 40, generator=g)
    x[1] = x[1].abs()
    x[3] = 0
    t = {"x": x}
    p = 0.85
    k = int(x.shape[1] * (1 - p))
    s1 = x.sum(dim=1)
    kept, idx = x.abs().topk(k, dim=1, sorted=False)
    s2 = kept.sum(dim=1)
    with np.errstate(all="ignore"):
        scale = s1 / s2
        t["minksample_expscale"] = torch.zeros_like(x).scatter_(1, idx, kept * torch.exp(scale)[:, None])
        t["expscale"] = x * torch.exp(scale)[:, None]
        t["minksample_lnscale"] = torch.zeros_like(x).scatter_(1, idx, kept * scale[:, None])
    for name in ("minksample_expscale", "expscale", "minksample_lnscale"):
        t[name][3] = 0  # our definition for an all-zero row (the reference gives NaN)
    st_io.save(os.path.join(out, "train_ish_rows.safetensors"), t)


def make(out):
    torch.set_num_threads(2)
    make_sgd(out)
    make_cosine(out)
    make_ish_rows(out)
    make_ish(out)


if __name__ == "__main__":
    make(sys.argv[1] if len(sys.argv) > 1 else "build/fixtures")
