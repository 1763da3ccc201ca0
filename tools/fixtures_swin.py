"""Goldens for models/swin: a torchvision SwinTransformer (torchvision 0.14) in a reduced configuration.

swin_small_*: patch 4, embed 16, depths (2, 2, 2), heads (2, 2, 4), a 4 x 3 window (non-square, so a
swapped axis shows), 10 classes, on 40 x 52 inputs: the 10 x 13 first map pads to 12 x 15, PatchMerging
pads 13 -> 14 and 5 x 7 -> 6 x 8, and the last 3 x 4 map pads to 4 x 6, where the window covers the
height (no shift along H) but not the width (shift 1 along W). Every parameter is random (LayerNorms,
biases, bias tables and the head included). Written: the state dict (safetensors and .pth), eval
logits and features (the mean over H, W after `norm`, the head's input) in fp32, and one cross-entropy
backward in fp64 (every parameter gradient)."""
import os

import torch
import torchvision

import model_golden
import st_io

SWIN_SMALL = dict(patch_size=[4, 4], embed_dim=16, depths=[2, 2, 2], num_heads=[2, 2, 4], window_size=[4, 3],
                  num_classes=10, stochastic_depth_prob=0.0)
SIZE = (40, 52)


def _model():
    return torchvision.models.SwinTransformer(**SWIN_SMALL)


def _randomise(m, g):
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "norm" in name and name.endswith(".weight"):
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
            elif p.dim() == 1:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
            elif "relative_position_bias_table" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p[0].numel() ** 0.5)


def make(out):
    torch.set_num_threads(int(os.environ.get("ISHSCALE_FIXTURE_THREADS", "1")))
    g = torch.Generator().manual_seed(1516)
    torch.manual_seed(1516)  # torchvision's own init, overwritten below
    gold = model_golden.write_state_and_goldens(out, "swin_small", _model, _randomise, model_golden.swin_forward,
                                                SIZE, SWIN_SMALL["num_classes"], g)
    st_io.save(os.path.join(out, "swin_small_golden.safetensors"), gold)


if __name__ == "__main__":
    import sys
    make(sys.argv[1] if len(sys.argv) > 1 else "build/fixtures")
