#!/usr/bin/python3
"""Full-size vit_b_16 parity data (not part of `make test`: torch's fp32 forward of two 224x224 images and
a 330 MB state dict take a while on a small machine).

    /usr/bin/python3 tools/vit_full_parity.py /tmp/vitfull
    ISHSCALE_VIT_FULL=/tmp/vitfull build/ishscale_tests -tc="vit: full-size*" --no-skip

Writes into the folder vit_b_16.pth (torchvision's init with the head, LayerNorms and biases
re-randomised so the logits differ) and vit_b_16_golden.safetensors: two N(0,1) images (NCHW and NHWC)
with torchvision 0.14's eval logits and features (the class token after encoder.ln)."""
import os
import sys

import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_golden  # noqa: E402


def _randomise(m):
    for name, p in m.named_parameters():
        if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "encoder.ln.weight":
            p.uniform_(0.5, 1.5)
        elif p.dim() == 1 or name == "class_token":
            p.normal_(0.0, 0.1)
    m.heads.head.weight.normal_(0.0, 768 ** -0.5)


def main(out):
    model_golden.write_full_parity(out, "vit_b_16", torchvision.models.vit_b_16, _randomise, model_golden.vit_forward)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/vit_full")
