"""Per-op forward/backward goldens from PyTorch (fp32), stored in our layouts:
activations NHWC, conv weights KRSC. Each op file holds inputs, the upstream gradient `gy`,
the output `y` and every input/parameter gradient `d<name>`."""
import os

import torch
import torch.nn.functional as F

import st_io


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous()


def krsc(w):
    return w.detach().permute(0, 2, 3, 1).contiguous()


def leaf(*shape, g, scale=1.0):
    return (torch.randn(*shape, generator=g) * scale).requires_grad_(True)


def conv_case(g, name, N, C, H, W, K, R, stride, pad, dil=1, bias=False):
    x = leaf(N, C, H, W, g=g)
    w = leaf(K, C, R, R, g=g, scale=(1.0 / (C * R * R)) ** 0.5)
    b = leaf(K, g=g) if bias else None
    y = F.conv2d(x, w, b, stride=stride, padding=pad, dilation=dil)
    gy = torch.randn(y.shape, generator=g)
    y.backward(gy)
    t = {"x": nhwc(x), "w": krsc(w), "y": nhwc(y), "gy": nhwc(gy), "dx": nhwc(x.grad), "dw": krsc(w.grad),
         "params": torch.tensor([stride, pad, dil], dtype=torch.int64)}
    if bias:
        t["b"], t["db"] = b.detach(), b.grad
    return "conv_" + name, t


def bn_case(g, name, training, residual=False, relu=False, N=3, C=5, H=4, W=3):
    x = leaf(N, C, H, W, g=g, scale=2.0)
    with torch.no_grad():
        x += torch.randn(1, C, 1, 1, generator=g)  # per-channel offsets
    gamma = leaf(C, g=g)
    beta = leaf(C, g=g)
    rm0 = torch.randn(C, generator=g) * 0.1
    rv0 = torch.rand(C, generator=g) + 0.5
    rm, rv = rm0.clone(), rv0.clone()
    y = F.batch_norm(x, rm, rv, gamma, beta, training=training, momentum=0.1, eps=1e-5)
    t = {}
    if residual:
        r = leaf(N, C, H, W, g=g)
        y = y + r
    if relu:
        y = F.relu(y)
    gy = torch.randn(y.shape, generator=g)
    y.backward(gy)
    t.update({"x": nhwc(x), "gamma": gamma.detach(), "beta": beta.detach(), "rm0": rm0, "rv0": rv0,
              "rm": rm, "rv": rv, "y": nhwc(y), "gy": nhwc(gy), "dx": nhwc(x.grad), "dgamma": gamma.grad,
              "dbeta": beta.grad})
    if residual:
        t["r"], t["dr"] = nhwc(r), nhwc(r.grad)
    return "bn_" + name, t


def pool_case(g, name, N, C, H, W, k, s, p, d=1, ceil=False):
    x = leaf(N, C, H, W, g=g)
    y = F.max_pool2d(x, k, s, p, dilation=d, ceil_mode=ceil)
    gy = torch.randn(y.shape, generator=g)
    y.backward(gy)
    return "maxpool_" + name, {"x": nhwc(x), "y": nhwc(y), "gy": nhwc(gy), "dx": nhwc(x.grad),
                               "params": torch.tensor([k, s, p, d, int(ceil)], dtype=torch.int64)}


def make(out):
    g = torch.Generator().manual_seed(1234)
    cases = [
        conv_case(g, "7x7s2", 2, 3, 20, 18, 8, 7, 2, 3),
        conv_case(g, "3x3s1", 2, 6, 9, 7, 5, 3, 1, 1),
        conv_case(g, "3x3s2", 2, 6, 9, 8, 7, 3, 2, 1),
        conv_case(g, "1x1s2", 2, 8, 7, 6, 4, 1, 2, 0),
        conv_case(g, "1x1s1", 3, 8, 5, 5, 6, 1, 1, 0),
        conv_case(g, "3x3d2_bias", 2, 4, 10, 9, 3, 3, 1, 2, dil=2, bias=True),
        conv_case(g, "5x5s3p1_bias", 1, 3, 11, 13, 4, 5, 3, 1, bias=True),
        bn_case(g, "train", True),
        bn_case(g, "train_relu", True, relu=True),
        bn_case(g, "train_add_relu", True, residual=True, relu=True),
        bn_case(g, "eval", False),
        bn_case(g, "eval_add_relu", False, residual=True, relu=True),
        pool_case(g, "3x3s2p1", 2, 4, 9, 10, 3, 2, 1),
        pool_case(g, "2x2s2", 2, 3, 8, 7, 2, 2, 0),
        pool_case(g, "3x3s1p1d2", 1, 3, 9, 9, 3, 1, 1, 2),
        pool_case(g, "3x3s2ceil", 1, 2, 8, 8, 3, 2, 0, 1, True),
    ]
    # Global average pool.
    x = leaf(3, 6, 5, 4, g=g)
    y = x.mean(dim=(2, 3))
    gy = torch.randn(y.shape, generator=g)
    y.backward(gy)
    cases.append(("gap", {"x": nhwc(x), "y": y.detach(), "gy": gy, "dx": nhwc(x.grad)}))
    # Linear.
    x, w, b = leaf(5, 7, g=g), leaf(4, 7, g=g), leaf(4, g=g)
    y = F.linear(x, w, b)
    gy = torch.randn(y.shape, generator=g)
    y.backward(gy)
    cases.append(("linear", {"x": x.detach(), "w": w.detach(), "b": b.detach(), "y": y.detach(), "gy": gy,
                             "dx": x.grad, "dw": w.grad, "db": b.grad}))
    # Cross-entropy, plain and with label smoothing.
    for name, ls in (("ce", 0.0), ("ce_smooth", 0.1)):
        z = leaf(6, 10, g=g, scale=3.0)
        lab = torch.randint(0, 10, (6,), generator=g)
        loss = F.cross_entropy(z, lab, label_smoothing=ls)
        loss.backward(torch.tensor(0.7))
        cases.append((name, {"z": z.detach(), "labels": lab, "loss": loss.detach().reshape(()),
                             "gy": torch.tensor(0.7), "dz": z.grad, "smoothing": torch.tensor([ls], dtype=torch.float64)}))
    for name, t in cases:
        st_io.save(os.path.join(out, f"op_{name}.safetensors"), t)
