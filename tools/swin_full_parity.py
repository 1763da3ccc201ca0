#!/usr/bin/python3
"""Full-size swin_t parity data (not part of `make test`: torch's fp32 forward of two 224x224 images and
a 110 MB state dict take a while on a small machine).

    /usr/bin/python3 tools/swin_full_parity.py /tmp/swinfull
    ISHSCALE_SWIN_FULL=/tmp/swinfull build/ishscale_tests -tc="swin: full-size*" --no-skip

Writes into the folder swin_t.pth (torchvision's init with the LayerNorms, biases and relative position
bias tables re-randomised so that every term matters, and a wider head so the logits differ) and
swin_t_golden.safetensors: two N(0,1) images (NCHW and NHWC) with torchvision 0.14's eval logits and
features (the mean over H, W after `norm`, the head's input)."""
import os
import sys

import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_golden  # noqa: E402


def _randomise(m):
    for name, p in m.named_parameters():
        if "norm" in name and name.endswith(".weight"):
            p.uniform_(0.5, 1.5)
        elif p.dim() == 1:
            p.normal_(0.0, 0.1)
        elif "relative_position_bias_table" in name:
            p.normal_(0.0, 0.5)
    m.head.weight.normal_(0.0, 768 ** -0.5)


def main(out):
    model_golden.write_full_parity(out, "swin_t", torchvision.models.swin_t, _randomise, model_golden.swin_forward)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/swin_full")
