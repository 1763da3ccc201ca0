"""Goldens for the transformer ops (ViT and Swin) and the reduced ViT (torch 1.13 / torchvision 0.14, also newer).

Per op (and the fused attention softmax), tf_<name>.safetensors holds the inputs, the upstream gradient `gy`, the output `y` and every
input gradient `d<input>` (fp32; activations in torch's layout, which is ours for these ops).
vit_small_*: a torchvision VisionTransformer in a reduced configuration (2 layers, width 48, 4 heads,
MLP 96, patch 8 on 32x32, 10 classes) with every parameter randomised (so a swapped or transposed
tensor shows): the state dict (safetensors and .pth), eval logits and features (the class token after
encoder.ln) in fp32, and one cross-entropy backward in fp64 (every parameter gradient)."""
import os

import torch
import torch.nn.functional as F
import torchvision

import model_golden
import st_io

VIT_SMALL = dict(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=48, mlp_dim=96, num_classes=10)


def _leaf(*shape, g, scale=1.0):
    return (torch.randn(*shape, generator=g) * scale).requires_grad_(True)


def _case(name, fn, inputs, g, extra=None):
    """Runs fn(*inputs) forward and backward with a random upstream gradient; returns (name, tensors)."""
    y = fn(*inputs.values())
    gy = torch.randn(y.shape, generator=g)
    y.backward(gy)
    t = {k: v.detach() for k, v in inputs.items()}
    t.update({"y": y.detach(), "gy": gy})
    for k, v in inputs.items():
        t["d" + k] = v.grad
    if extra:
        t.update(extra)
    return name, t


def _ops(out, g):
    cases = []
    for name, shape, eps in (("ln_a", (2, 5, 7), 1e-6), ("ln_b", (3, 9), 1e-5), ("ln_c", (2, 3, 300), 1e-6)):
        x = _leaf(*shape, g=g, scale=2.0)
        with torch.no_grad():
            x += 0.5  # a non-zero mean per row
        w, b = _leaf(shape[-1], g=g), _leaf(shape[-1], g=g)
        cases.append(_case(name, lambda x, w, b, eps=eps: F.layer_norm(x, (x.shape[-1],), w, b, eps),
                           {"x": x, "w": w, "b": b}, g, {"eps": torch.tensor([eps], dtype=torch.float64)}))
    cases.append(_case("gelu", lambda x: F.gelu(x), {"x": _leaf(4, 33, g=g, scale=3.0)}, g))
    cases.append(_case("softmax", lambda x: F.softmax(x, -1), {"x": _leaf(2, 3, 4, 6, g=g, scale=3.0)}, g))
    cases.append(_case("softmax_wide", lambda x: F.softmax(x, -1), {"x": _leaf(3, 700, g=g, scale=4.0)}, g))
    for ta in (0, 1):
        for tb in (0, 1):
            a = _leaf(*((3, 5, 4) if ta else (3, 4, 5)), g=g)
            b = _leaf(*((3, 6, 5) if tb else (3, 5, 6)), g=g)
            fn = lambda a, b, ta=ta, tb=tb: torch.bmm(a.transpose(1, 2) if ta else a, b.transpose(1, 2) if tb else b)
            cases.append(_case(f"bmm_{ta}{tb}", fn, {"a": a, "b": b}, g))
    cases.append(_case("permute_a", lambda x: x.permute(0, 2, 1, 3).contiguous(), {"x": _leaf(2, 3, 4, 5, g=g)}, g))
    cases.append(_case("permute_b", lambda x: x.permute(3, 1, 0, 2).contiguous(), {"x": _leaf(2, 3, 4, 5, g=g)}, g))
    cases.append(_case("permute_qkv", lambda x: x.permute(2, 0, 3, 1, 4).contiguous(),
                       {"x": _leaf(2, 5, 3, 4, 6, g=g)}, g))
    cases.append(_case("narrow", lambda x: x.narrow(1, 1, 3).contiguous(), {"x": _leaf(2, 5, 3, g=g)}, g))
    cases.append(_case("cat", lambda a, b: torch.cat([a, b], 1), {"a": _leaf(2, 1, 4, g=g), "b": _leaf(2, 3, 4, g=g)}, g))
    cases.append(_case("expand0", lambda b: b.expand(4, -1, -1).contiguous(), {"b": _leaf(1, 3, 5, g=g)}, g))
    cases.append(_case("add_broadcast", lambda x, p: x + p, {"x": _leaf(3, 4, 5, g=g), "p": _leaf(1, 4, 5, g=g)}, g))
    cases.append(_case("linear3d", lambda x, w, b: F.linear(x, w, b),
                       {"x": _leaf(2, 3, 7, g=g), "w": _leaf(4, 7, g=g), "b": _leaf(4, g=g)}, g))
    for name, t in cases:
        st_io.save(os.path.join(out, f"tf_{name}.safetensors"), t)


def _swin(out, g):
    """Swin's window machinery: roll, partition, PatchMerging's gather, the bias-table gather, torchvision's
    relative position index, and whole shifted-window attention blocks (torchvision's own function)."""
    from torchvision.models import swin_transformer as sw
    cases = [
        _case("roll", lambda x: torch.roll(x, shifts=(-2, 3), dims=(1, 2)), {"x": _leaf(2, 5, 6, 3, g=g)}, g),
        _case("window_partition", lambda x: x.view(2, 2, 3, 2, 2, 3).permute(0, 1, 3, 2, 4, 5).reshape(8, 6, 3),
              {"x": _leaf(2, 6, 4, 3, g=g)}, g),
        _case("patch_merge_gather", lambda x: torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2],
                                                         x[:, 1::2, 1::2]], -1), {"x": _leaf(2, 4, 6, 3, g=g)}, g),
    ]
    idx = torch.randint(0, 13, (40,), generator=g)
    cases.append(_case("index_select0", lambda t: t[idx], {"t": _leaf(13, 3, g=g)}, g, {"idx": idx}))
    for name, t in cases:
        st_io.save(os.path.join(out, f"tf_{name}.safetensors"), t)
    for ws in ((7, 7), (3, 4)):
        m = sw.ShiftedWindowAttention(12, list(ws), [ws[0] // 2, ws[1] // 2], 3)
        st_io.save(os.path.join(out, f"tf_swin_rpi_{ws[0]}x{ws[1]}.safetensors"), {"idx": m.relative_position_index})
    # Attention over a 2 x 8 x 12 x 12 map, 4 x 4 windows, 3 heads; shifts 0 (W-MSA), (2, 2) (SW-MSA), and (0, 2).
    for shift in ((0, 0), (2, 2), (0, 2)):
        ws, heads, C = [4, 4], 3, 12
        rpi = sw.ShiftedWindowAttention(C, ws, list(shift), heads).relative_position_index
        inputs = {"x": _leaf(2, 8, 12, C, g=g), "qkv_w": _leaf(3 * C, C, g=g, scale=C ** -0.5),
                  "qkv_b": _leaf(3 * C, g=g), "proj_w": _leaf(C, C, g=g, scale=C ** -0.5), "proj_b": _leaf(C, g=g),
                  "table": _leaf((2 * ws[0] - 1) * (2 * ws[1] - 1), heads, g=g)}

        def fn(x, qkv_w, qkv_b, proj_w, proj_b, table, shift=shift, ws=ws, heads=heads, rpi=rpi):
            n = ws[0] * ws[1]
            bias = table[rpi].view(n, n, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
            return sw.shifted_window_attention(x, qkv_w, proj_w, bias, ws, heads, list(shift), qkv_bias=qkv_b,
                                               proj_bias=proj_b)
        name, t = _case(f"swin_attn_{shift[0]}{shift[1]}", fn, inputs, g)
        st_io.save(os.path.join(out, f"tf_{name}.safetensors"), t)


def _randomise_vit(m, g):
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "encoder.ln.weight":
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
            elif p.dim() == 1 or "token" in name or "pos_embedding" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)


def _vit(out, g):
    def new_model():
        return torchvision.models.VisionTransformer(**VIT_SMALL)

    size = (VIT_SMALL["image_size"], VIT_SMALL["image_size"])
    gold = model_golden.write_state_and_goldens(out, "vit_small", new_model, _randomise_vit, model_golden.vit_forward,
                                                size, VIT_SMALL["num_classes"], g)
    st_io.save(os.path.join(out, "vit_small_golden.safetensors"), gold)


def _attention(out, g):
    """The fused attention softmax, softmax(x*scale + bias[h] + mask[b mod nW]) over the last dim, as torch
    writes it in Swin (windows innermost in the batch): with bias and a 0/-100 mask (Nq != Nk), and a
    ViT-sized row (197) with neither."""
    nw, heads, nq, nk, scale = 2, 3, 5, 6, 0.3
    mask = torch.where(torch.rand(nw, nq, nk, generator=g) < 0.3, -100.0, 0.0)

    def fused(x, bias):
        z = (x * scale + bias).view(-1, nw, heads, nq, nk) + mask.unsqueeze(1).unsqueeze(0)
        return F.softmax(z.view(x.shape), -1)

    cases = [_case("attn_softmax", fused, {"x": _leaf(2 * nw, heads, nq, nk, g=g, scale=3.0),
                                           "bias": _leaf(heads, nq, nk, g=g)}, g,
                   {"mask": mask, "scale": torch.tensor([scale], dtype=torch.float64)}),
             _case("attn_softmax_vit", lambda x: F.softmax(x * 0.125, -1), {"x": _leaf(2, 2, 3, 197, g=g, scale=8.0)}, g,
                   {"scale": torch.tensor([0.125], dtype=torch.float64)})]
    for name, t in cases:
        st_io.save(os.path.join(out, f"tf_{name}.safetensors"), t)


def make(out):
    torch.set_num_threads(int(os.environ.get("ISHSCALE_FIXTURE_THREADS", "1")))
    g = torch.Generator().manual_seed(1515)
    _ops(out, g)
    _swin(out, g)
    _vit(out, g)
    _attention(out, torch.Generator().manual_seed(1516))  # its own stream: the files above keep their values


if __name__ == "__main__":
    import sys
    make(sys.argv[1] if len(sys.argv) > 1 else "build/fixtures")
