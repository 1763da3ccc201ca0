"""Model goldens written the same way for ViT and Swin: the reduced models of tools/fixtures_transformer.py
(vit_small) and tools/fixtures_swin.py (swin_small), read by tests/model_check.h, and the full-size
parity data of tools/vit_full_parity.py and tools/swin_full_parity.py."""
import os

import torch
import torch.nn.functional as F

import st_io


def vit_forward(m, x):
    """A torchvision VisionTransformer's logits and features (the class token after encoder.ln)."""
    return _with_features(m, m.encoder, lambda i, o: o[:, 0], x)


def swin_forward(m, x):
    """A torchvision SwinTransformer's logits and features (the head's input: the mean over H, W after norm)."""
    return _with_features(m, m.head, lambda i, o: i[0], x)


def _with_features(m, module, pick, x):
    feats = {}
    h = module.register_forward_hook(lambda mod, i, o: feats.__setitem__("f", pick(i, o)))
    logits = m(x)
    h.remove()
    return logits, feats["f"]


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


def write_full_parity(out, name, new_model, randomise, forward):
    """Into the folder `out`: <name>.pth, the state dict of new_model() (built after torch.manual_seed(16))
    once randomise(m) has changed it, and <name>_golden.safetensors: two N(0,1) 224x224 images (x_nchw and
    NHWC x, from seed 17) with the model's eval logits and features (forward(m, x) -> (logits, features))."""
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(16)
    m = new_model()
    with torch.no_grad():
        randomise(m)
    m.eval()
    torch.save(m.state_dict(), os.path.join(out, f"{name}.pth"))
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(17))
    with torch.no_grad():
        logits, feats = forward(m, x)
    st_io.save(os.path.join(out, f"{name}_golden.safetensors"),
               {"x_nchw": x, "x": x.permute(0, 2, 3, 1).contiguous(), "logits": logits, "features": feats})
    print(f"wrote {out}: logits std {logits.std():.3f}")
