"""The reduced-model goldens that tools/fixtures_transformer.py (vit_small) and tools/fixtures_swin.py
(swin_small) write the same way; tests/model_check.h reads them."""
import os

import torch
import torch.nn.functional as F

import st_io


def write_state_and_goldens(out, name, new_model, randomise, forward, size, num_classes, g):
    """Randomises new_model() from g and writes its state dict as <name>_ref.safetensors and <name>.pth;
    returns the goldens of 3 random images of `size` (H, W) from g: x (NHWC) and x_nchw, labels, eval
    logits and features in fp32 (forward(m, x) -> (logits, features)), and the same in fp64 with the
    cross-entropy loss64 and every parameter's grad64.<name> (one backward)."""
    m = new_model()
    randomise(m, g)
    m.eval()
    sd = {k: v.detach().clone() for k, v in m.state_dict().items()}
    st_io.save(os.path.join(out, f"{name}_ref.safetensors"), sd, {"format": "pt"})
    torch.save(m.state_dict(), os.path.join(out, f"{name}.pth"))
    x = torch.randn(3, 3, *size, generator=g)
    labels = torch.randint(0, num_classes, (3,), generator=g)
    with torch.no_grad():
        logits, feats = forward(m, x)
    assert feats.abs().max() > 1e-2 and logits.std() > 1e-2
    m64 = new_model().double()
    m64.load_state_dict(sd)
    m64.eval()
    logits64, feats64 = forward(m64, x.double())
    loss64 = F.cross_entropy(logits64, labels)
    loss64.backward()
    gold = {"x_nchw": x, "x": x.permute(0, 2, 3, 1).contiguous(), "labels": labels, "logits": logits,
            "features": feats, "logits64": logits64.detach(), "features64": feats64.detach(),
            "loss64": loss64.detach().reshape(1)}
    for pname, p in m64.named_parameters():
        gold["grad64." + pname] = p.grad
    return gold
