"""Goldens for eval/: detector scores (tools/ood_reference.py), OpenOOD metrics (sklearn 1.2), APS choices and
numpy .npy headers. Writes eval_detectors.safetensors, eval_metrics.safetensors, eval_npy.safetensors."""
import io
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ood_reference as ref  # noqa: E402
import st_io  # noqa: E402

D, C = 64, 20
ODIN_SHAPE = (6, 6, 3)


def _features(rng, n, protos, labels, ood):
    while True:
        if ood:
            x = rng.normal(0.5, 1.3, size=(n, D))
        else:
            x = protos[labels] + rng.normal(0.0, 0.8, size=(n, D))
        x = np.maximum(x, 0).astype(np.float32)
        # ASH-B/ASH-P are only well defined without ties at the top-k cut: every row keeps more non-zeros
        # than the largest k of the sweep (k = 22 at p = 65), so the cut never falls among the zeros.
        nz = (x > 0).sum(1)
        if (nz > ref.topk_count(D, 65)).all() and all(len(np.unique(r[r > 0])) == (r > 0).sum() for r in x):
            return x


def _set(rng, n, protos, W, b, ood=False, classes=C, zero_rows=()):
    labels = rng.integers(0, classes, size=n).astype(np.int64)
    f = _features(rng, n, protos, labels, ood)
    for r in zero_rows:
        f[r] = 0
    z = (torch.from_numpy(f) @ torch.from_numpy(W).T + torch.from_numpy(b)).numpy()  # float32 fc, as a network
    return {"features": f, "logits": z.astype(np.float32), "labels": -np.ones(n, np.int64) if ood else labels}


def _detector_goldens(out):
    rng = np.random.default_rng(1234)
    protos = (rng.normal(0.8, 0.5, size=(C, D))).astype(np.float64)
    W = (rng.normal(0, 0.3, size=(C, D))).astype(np.float32)
    b = (rng.normal(0, 0.1, size=C)).astype(np.float32)
    sets = {
        "train": _set(rng, 1200, protos, W, b, classes=C - 1),  # class C-1 has no train samples (mds skips it)
        "val": _set(rng, 200, protos, W, b),
        "test": _set(rng, 150, protos, W, b, zero_rows=(0,)),
        "ood": _set(rng, 120, protos, W, b, ood=True, zero_rows=(5,)),
        "oodval": _set(rng, 100, protos, W, b, ood=True),
    }
    T = {"fc.W": W, "fc.b": b}
    for s, d in sets.items():
        for k, v in d.items():
            T[f"{s}.{k}"] = v

    tr = sets["train"]
    vim = ref.Vim(W, b, tr["features"])
    mds = ref.Mds(tr["features"], tr["labels"], C)
    val_flat = sets["val"]["features"]

    def run(det, p, s):
        a, z = sets[s]["features"], sets[s]["logits"]
        if det == "msp": return ref.msp(z)
        if det == "mls": return ref.mls(z)
        if det == "ebo": return ref.ebo(z, p.get("temperature", 1.0))
        if det == "gen": return ref.gen(z, p["gamma"], p["M"])
        if det == "react": return ref.react(a, W, b, ref.react_threshold(val_flat, p["percentile"]))
        if det == "ash": return ref.ash_b(a, W, b, p["percentile"])
        if det == "ash_p": return ref.ash_p(a, W, b, p["percentile"])
        if det == "ash_s": return ref.ash_s(a, W, b, p["percentile"])
        if det == "scale": return ref.scale(a, W, b, p["percentile"])
        if det == "knn": return ref.knn(a, z, tr["features"], int(p["K"]))
        if det == "vim": return vim.score(a, int(p["dim"]))
        if det == "mds": return mds.score(a, z)
        raise ValueError(det)

    cases = {
        "msp": [("default", {})], "mls": [("default", {})], "ebo": [("default", {})],
        "gen": [("default", {"gamma": 0.1, "M": 100}), ("alt", {"gamma": 2.0, "M": 10})],
        "react": [("default", {"percentile": 90}), ("alt", {"percentile": 99})],
        "ash": [("default", {"percentile": 90}), ("alt", {"percentile": 65})],
        "ash_p": [("default", {"percentile": 90}), ("alt", {"percentile": 65})],
        "ash_s": [("default", {"percentile": 90}), ("alt", {"percentile": 65})],
        "scale": [("default", {"percentile": 85}), ("alt", {"percentile": 65})],
        "knn": [("default", {"K": 50}), ("alt", {"K": 5})],
        "vim": [("alt", {"dim": 16}), ("alt2", {"dim": 40})],
        "mds": [("default", {})],
    }
    for det, lst in cases.items():
        for tag, p in lst:
            for s in ("test", "ood"):
                conf, pred = run(det, p, s)
                T[f"{det}.{tag}.{s}.conf"] = np.asarray(conf, np.float64)
                T[f"{det}.{tag}.{s}.pred"] = np.asarray(pred, np.int64)
    T["react.threshold90"] = np.array([ref.react_threshold(val_flat, 90)])
    T["vim.alpha16"] = np.array([vim.alpha(16)])
    T["vim.u"] = vim.u

    grids = {
        "react": ref.grid1("percentile", [85, 90, 95, 99]),
        "ash": ref.grid1("percentile", [65, 70, 75, 80, 85, 90, 95]),
        "ash_p": ref.grid1("percentile", [65, 70, 75, 80, 85, 90, 95]),
        "ash_s": ref.grid1("percentile", [65, 70, 75, 80, 85, 90, 95]),
        "scale": ref.grid1("percentile", [65, 70, 75, 80, 85, 90, 95]),
        "gen": ref.grid2("gamma", [0.01, 0.1, 0.5, 1, 2, 5, 10], "M", [10, 50, 100, 200, 500, 1000]),
        "knn": ref.grid1("K", [50, 100, 200, 500, 1000]),
        "vim": ref.grid1("dim", [8, 16, 32, 48]),  # D = 64 here; the ImageNet grid {256, 1000} needs D > 1000
    }
    split = {"id": "val", "ood": "oodval"}
    for det, g in grids.items():
        best, trace = ref.aps(lambda p, s: run(det, p, split[s])[0], g, sets["val"]["labels"])
        T[f"aps.{det}.best"] = np.array([best], np.int64)
        T[f"aps.{det}.trace"] = trace

    # ODIN on a linear "network" over NHWC images (the C++ test implements the same net analytically).
    Wo = rng.normal(0, 0.3, size=(C, int(np.prod(ODIN_SHAPE)))).astype(np.float32)
    bo = rng.normal(0, 0.1, size=C).astype(np.float32)
    net = lambda x: x.reshape(x.shape[0], -1) @ torch.from_numpy(Wo).T + torch.from_numpy(bo)  # noqa: E731
    T["odin.W"], T["odin.b"] = Wo, bo
    imgs = {"val": rng.normal(0, 1, size=(40,) + ODIN_SHAPE), "oodval": rng.normal(0.3, 1.5, size=(40,) + ODIN_SHAPE),
            "test": rng.normal(0, 1, size=(30,) + ODIN_SHAPE)}
    for k in imgs:
        imgs[k] = imgs[k].astype(np.float32)
        T[f"odin.images.{k}"] = imgs[k]
    for tag, (t, e) in {"default": (1000.0, 0.0014), "alt": (1.0, 0.0028)}.items():
        conf, pred = ref.odin(net, imgs["test"], t, e)
        T[f"odin.{tag}.test.conf"], T[f"odin.{tag}.test.pred"] = conf, pred
    g = ref.grid2("temperature", [1, 10, 100, 1000], "noise", [0.0014, 0.0028])
    vl = np.zeros(40, np.int64)
    best, trace = ref.aps(lambda p, s: ref.odin(net, imgs[split[s]], p["temperature"], p["noise"])[0], g, vl)
    T["aps.odin.best"] = np.array([best], np.int64)
    T["aps.odin.trace"] = trace
    # OpenOOD CSV for scale (p = 85, no APS): near = [ood], far = [oodval, ood again]; ACC from plain logits.
    id_conf, _ = run("scale", {"percentile": 85}, "test")
    id_gt, id_plain = sets["test"]["labels"], sets["test"]["logits"].argmax(1)
    rows = {}
    for name, s in (("oodA", "ood"), ("oodB", "oodval"), ("oodC", "ood")):
        c, p = run("scale", {"percentile": 85}, s)
        conf = np.concatenate([id_conf, c]).astype(np.float32)
        finite = conf[np.isfinite(conf)]
        conf = np.where(np.isneginf(conf), finite.min() - 1, conf).astype(np.float32)
        rows[name] = ref.compute_all_metrics(conf, np.concatenate([id_gt, -np.ones(len(c), np.int64)]),
                                             np.concatenate([id_plain, p]))
    near, far = np.array([rows["oodA"]]), np.array([rows["oodB"], rows["oodC"]])
    table = np.concatenate([near, near.mean(0, keepdims=True), far, far.mean(0, keepdims=True)]) * 100
    names = ["oodA", "nearood", "oodB", "oodC", "farood"]
    csv = ",FPR@95,AUROC,AUPR_IN,AUPR_OUT,ACC\n" + "".join(
        n + "," + ",".join("{:.2f}".format(v) for v in r) + "\n" for n, r in zip(names, table))
    T["csv.scale"] = np.frombuffer(csv.encode(), np.uint8).copy()
    st_io.save(os.path.join(out, "eval_detectors.safetensors"), T)


def _metric_goldens(out):
    rng = np.random.default_rng(99)
    T = {}

    def case(name, id_conf, ood_conf, curves=False):
        conf = np.concatenate([id_conf, ood_conf]).astype(np.float32)
        nid = len(id_conf)
        label = np.concatenate([rng.integers(0, 10, size=nid), -np.ones(len(ood_conf), np.int64)]).astype(np.int64)
        pred = np.where(rng.random(len(conf)) < 0.7, label, rng.integers(0, 10, size=len(conf))).astype(np.int64)
        T[f"{name}.conf"], T[f"{name}.label"], T[f"{name}.pred"] = conf, label, pred
        # sklearn refuses infinite scores; -inf (our score for s2 = 0) ranks below every finite score, which
        # is what replacing it by any value below the finite minimum gives.
        finite = conf[np.isfinite(conf)]
        conf_sk = np.where(np.isneginf(conf), finite.min() - 1, conf).astype(np.float32)
        T[f"{name}.metrics"] = ref.compute_all_metrics(conf_sk, label, pred)
        if curves:
            ood = (label == -1).astype(np.int64)
            fpr, tpr, _ = ref.skm.roc_curve(ood, -conf)
            p, r, _ = ref.skm.precision_recall_curve(1 - ood, conf)
            T[f"{name}.roc_fpr"], T[f"{name}.roc_tpr"] = fpr, tpr
            T[f"{name}.pr_in_precision"], T[f"{name}.pr_in_recall"] = p, r

    case("ties", np.round(rng.normal(1, 1, 300) * 2) / 2, np.round(rng.normal(0, 1, 200) * 2) / 2, curves=True)
    case("continuous", rng.normal(1, 1, 400), rng.normal(0, 1.2, 250), curves=True)
    case("integers", rng.integers(0, 20, 5000).astype(float), rng.integers(-3, 15, 3000).astype(float), curves=True)
    case("all_equal", np.full(50, 0.5), np.full(40, 0.5))
    case("tiny", np.array([1.0]), np.array([0.0]))
    case("tiny_reversed", np.array([0.0]), np.array([1.0]))
    case("separated", rng.normal(5, 1, 100), rng.normal(-5, 1, 80))
    inf_id = rng.normal(1, 1, 120)
    inf_id[:7] = -np.inf
    inf_ood = rng.normal(0, 1, 90)
    inf_ood[:5] = -np.inf
    case("with_inf", inf_id, inf_ood)
    case("few_ood", rng.normal(1, 1, 500), rng.normal(0, 1, 3))
    st_io.save(os.path.join(out, "eval_metrics.safetensors"), T)


def _npy_goldens(out):
    T = {}
    headers = {
        "f4_5": ("<f4", (5,)), "i8_0": ("<i8", (0,)), "f8_3x4": ("<f8", (3, 4)), "f4_scalar": ("<f4", ()),
        "f4_123456": ("<f4", (123456,)), "i8_big": ("<i8", (10 ** 12,)), "u1_7x1000000000": ("|u1", (7, 10 ** 9)),
        "f4_1x2x3": ("<f4", (1, 2, 3)),
    }
    for name, (descr, shape) in headers.items():
        f = io.BytesIO()
        np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
        T[f"header.{name}"] = np.frombuffer(f.getvalue(), np.uint8).copy()
    f = io.BytesIO()
    np.save(f, np.arange(5, dtype=np.float32) * 0.5 - 1)
    T["file.f4_5"] = np.frombuffer(f.getvalue(), np.uint8).copy()
    st_io.save(os.path.join(out, "eval_npy.safetensors"), T)


def make(out_dir):
    torch.manual_seed(0)
    _metric_goldens(out_dir)
    _npy_goldens(out_dir)
    _detector_goldens(out_dir)
    _detectors2_goldens(out_dir)
    _adascale_goldens(out_dir)
    _e2e(out_dir)
    _e2e_transformers(out_dir)



# ----------------------------------------------------------------------------- end to end
E2E_ARCH = "resnet50"  # the issue names resnet50
E2E_REAL = {"grace_hopper": "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg",
            "china": "/usr/lib/python3/dist-packages/sklearn/datasets/images/china.jpg",
            "flower": "/usr/lib/python3/dist-packages/sklearn/datasets/images/flower.jpg"}
E2E_LISTS = {  # list name -> [(image, label)]; OOD labels are -1
    "id_test": [("grace_hopper", 0), ("china", 1), ("flower", 2), ("syn0", 3), ("syn1", 4)],
    "id_val": [("syn2", 0), ("syn3", 1), ("china", 1)],
    "id_train": [("grace_hopper", 0), ("china", 1), ("flower", 2), ("syn0", 0), ("syn1", 1), ("syn2", 2)],
    "ood_val": [("syn4", -1), ("syn5", -1)],
    "near_a": [("syn4", -1), ("syn6", -1), ("syn7", -1)],
    "far_a": [("syn8", -1), ("broken", -1), ("syn5", -1)],  # broken: a truncated JPEG, skipped and counted
}
E2E_DETECTORS = {"msp": {}, "ebo": {}, "gen": {"gamma": 0.1, "M": 100}, "react": {"percentile": 85},
                 "ash": {"percentile": 85}, "scale": {"percentile": 85}, "knn": {"K": 3}, "vim": {"dim": 4}, "mds": {}}


def _synthetic_jpegs(d, rng):
    from PIL import Image
    specs = [((300, 257), "RGB", 0), ((257, 300), "RGB", 2), ((333, 250), "L", None), ((199, 501), "RGB", 2),
             ((290, 280), "CMYK", None), ((256, 256), "RGB", 1), ((511, 257), "RGB", 2), ((257, 257), "RGB", 0),
             ((401, 299), "RGB", 2)]
    for i, ((w, h), mode, sub) in enumerate(specs):
        yy, xx = np.mgrid[0:h, 0:w]
        ch = 4 if mode == "CMYK" else (1 if mode == "L" else 3)
        a = np.stack([127 + 100 * np.sin(xx / (7 + 3 * c + i) + yy / (11 + c)) + rng.normal(0, 12, (h, w))
                      for c in range(ch)], -1)
        a = np.clip(a, 0, 255).astype(np.uint8)
        im = Image.fromarray(a[..., 0] if ch == 1 else a, mode)
        kw = {"quality": 90}
        if sub is not None:
            kw["subsampling"] = sub
        im.save(os.path.join(d, f"syn{i}.jpg"), **kw)


def _e2e(out):
    import shutil
    import torchvision
    from PIL import Image
    rng = np.random.default_rng(7)
    base = os.path.join(out, "eval_e2e")
    imgdir = os.path.join(base, "data", "images", "e2e")
    os.makedirs(imgdir, exist_ok=True)
    for k, p in E2E_REAL.items():
        shutil.copyfile(p, os.path.join(imgdir, k + ".jpg"))
    _synthetic_jpegs(imgdir, rng)
    with open(os.path.join(imgdir, "syn3.jpg"), "rb") as f:
        raw = f.read()
    with open(os.path.join(imgdir, "broken.jpg"), "wb") as f:
        f.write(raw[: len(raw) // 3])
    for name, items in E2E_LISTS.items():
        with open(os.path.join(base, "data", name + ".txt"), "w") as f:
            f.writelines(f"images/e2e/{im}.jpg {lab}\n" for im, lab in items)

    torch.manual_seed(5)
    model = getattr(torchvision.models, E2E_ARCH)()
    model.train()
    with torch.no_grad():  # calibrate the BN running statistics (a fresh ResNet is degenerate in eval mode)
        for _ in range(10):
            model(torch.randn(4, 3, 64, 64))
    model.eval()
    st_io.save(os.path.join(base, E2E_ARCH + ".safetensors"), model.state_dict())

    import torchvision.transforms as T
    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                    T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])

    def forward(x):
        m = model
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
        f = torch.flatten(m.avgpool(x), 1)
        return m.fc(f), f

    sets, E = {}, {}
    with torch.no_grad():
        for name, items in E2E_LISTS.items():
            xs, labels = [], []
            for im, lab in items:
                try:
                    img = Image.open(os.path.join(imgdir, im + ".jpg")).convert("RGB")
                except OSError:
                    continue  # truncated: PIL refuses it, as the C++ loader skips it
                xs.append(tf(img))
                labels.append(lab)
            z, f = forward(torch.stack(xs))
            sets[name] = {"logits": z.numpy(), "features": f.numpy(), "labels": np.array(labels, np.int64)}
            for k, v in sets[name].items():
                E[f"{name}.{k}"] = v
    W = model.fc.weight.detach().numpy().astype(np.float32)
    b = model.fc.bias.detach().numpy().astype(np.float32)
    tr = sets["id_train"]
    vim = ref.Vim(W, b, tr["features"])
    mds = ref.Mds(tr["features"], tr["labels"], W.shape[0])
    thr = ref.react_threshold(sets["id_val"]["features"], 85)
    for s in ("id_test", "near_a", "far_a"):
        a, z = sets[s]["features"], sets[s]["logits"]
        res = {"msp": ref.msp(z), "ebo": ref.ebo(z), "gen": ref.gen(z, 0.1, 100), "react": ref.react(a, W, b, thr),
               "ash": ref.ash_b(a, W, b, 85), "scale": ref.scale(a, W, b, 85), "knn": ref.knn(a, z, tr["features"], 3),
               "vim": vim.score(a, 4), "mds": mds.score(a, z)}
        for det, (conf, pred) in res.items():
            E[f"{det}.{s}.conf"] = np.asarray(conf, np.float64)
            E[f"{det}.{s}.pred"] = np.asarray(pred, np.int64)
    # ODIN through the network (NHWC input, as the C++ side feeds it), on the ID test images.
    net = lambda x: model(x.permute(0, 3, 1, 2))  # noqa: E731
    xs = [tf(Image.open(os.path.join(imgdir, im + ".jpg")).convert("RGB")) for im, _ in E2E_LISTS["id_test"]]
    x = torch.stack(xs).permute(0, 2, 3, 1).contiguous().numpy()
    E["odin.id_test.conf"], E["odin.id_test.pred"] = ref.odin(net, x, 1000.0, 0.0014)
    st_io.save(os.path.join(base, "expected.safetensors"), E)


# ----------------------------------------------------------------------------- end to end, transformers
# Reduced torchvision ViT and Swin (random weights, LayerNorms/biases/head re-randomised so the logits
# differ) over the same lists at a 32x32 crop, with each arch's eval transform scaled to it: ViT Resize(36)
# bilinear (int(32*256/224)), Swin Resize(33) bicubic (int(32*232/224)). Their features (the head's input)
# are signed. The C++ test builds the same configs (tests/test_eval_transformers.cpp).
TF_VIT = dict(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10)
TF_SWIN = dict(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=[4, 4],
               stochastic_depth_prob=0.0, num_classes=10)
TF_DETECTORS = ["msp", "mls", "ebo", "gen", "react", "ash", "ash_p", "ash_s", "scale", "knn", "vim", "mds", "nci",
                "fdbd", "nnguide", "caref", "cadref", "optfs"]
TF_BATCH = 4  # the loader batch (NNGuide's bank rule)
# ViM at dim 4: the 6-sample fit set has rank 6, so only a principal space of dim < 6 is determined.


def _randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and name.endswith("weight"):  # the LayerNorms' gains
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            elif p.dim() == 1 or name == "class_token":
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            elif "relative_position_bias_table" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            elif name.startswith("head") and name.endswith("weight"):
                p.copy_(torch.randn(p.shape, generator=g) * p.shape[1] ** -0.5 * 3)
    model.eval()


def _tf_model(kind):
    import torchvision
    torch.manual_seed(11 if kind == "vit" else 12)
    if kind == "vit":
        m = torchvision.models.VisionTransformer(**TF_VIT)
    else:
        m = torchvision.models.SwinTransformer(**TF_SWIN)
    _randomise(m, 13 if kind == "vit" else 14)
    return m


def _tf_forward(kind, m, x):
    """logits, features (ViT: the class token after encoder.ln; Swin: the pooled output of norm)."""
    if kind == "vit":
        h = m._process_input(x)
        h = torch.cat([m.class_token.expand(h.shape[0], -1, -1), h], dim=1)
        f = m.encoder(h)[:, 0]
        return m.heads(f), f
    h = m.permute(m.norm(m.features(x)))
    f = torch.flatten(m.avgpool(h), 1)
    return m.head(f), f


def _e2e_transformers(out):
    import torchvision.transforms as T
    from PIL import Image
    base = os.path.join(out, "eval_e2e")
    imgdir = os.path.join(base, "data", "images", "e2e")
    norm = T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    for kind, resize, interp in (("vit", 36, T.InterpolationMode.BILINEAR), ("swin", 33, T.InterpolationMode.BICUBIC)):
        m = _tf_model(kind)
        st_io.save(os.path.join(base, f"{kind}_tiny.safetensors"), m.state_dict())
        tf = T.Compose([T.Resize(resize, interpolation=interp), T.CenterCrop(32), T.ToTensor(), norm])
        sets, E = {}, {}
        with torch.no_grad():
            for name, items in E2E_LISTS.items():
                xs, labels = [], []
                for im, lab in items:
                    try:
                        img = Image.open(os.path.join(imgdir, im + ".jpg")).convert("RGB")
                    except OSError:
                        continue  # the truncated JPEG, skipped by both sides
                    xs.append(tf(img))
                    labels.append(lab)
                z, f = _tf_forward(kind, m, torch.stack(xs))
                sets[name] = {"logits": z.numpy(), "features": f.numpy(), "labels": np.array(labels, np.int64)}
                for k, v in sets[name].items():
                    E[f"{name}.{k}"] = v
        head = m.heads.head if kind == "vit" else m.head
        W = head.weight.detach().numpy().astype(np.float32)
        b = head.bias.detach().numpy().astype(np.float32)
        tr = sets["id_train"]
        assert (tr["features"] < 0).any(), "transformer features must be signed"
        score, _ = ref.signed_feature_detectors(W, b, tr, sets["id_val"]["features"], TF_BATCH)
        for s_ in ("id_test", "near_a", "far_a"):
            res = score(sets[s_]["features"], sets[s_]["logits"])
            assert sorted(res) == sorted(TF_DETECTORS)
            for det, (conf, pred) in res.items():
                E[f"{det}.{s_}.conf"] = np.asarray(conf, np.float64)
                E[f"{det}.{s_}.pred"] = np.asarray(pred, np.int64)
        # ODIN through the network (NHWC input, as the C++ side feeds it), on the ID test images.
        net = lambda x, m=m: m(x.permute(0, 3, 1, 2))  # noqa: E731
        xs = [tf(Image.open(os.path.join(imgdir, im + ".jpg")).convert("RGB")) for im, _ in E2E_LISTS["id_test"]]
        x = torch.stack(xs).permute(0, 2, 3, 1).contiguous().numpy()
        E["odin.id_test.conf"], E["odin.id_test.pred"] = ref.odin(net, x, 1000.0, 0.0014)
        st_io.save(os.path.join(base, f"{kind}_expected.safetensors"), E)


# ----------------------------------------------------------------------------- detectors after SCALE
D2, C2 = 48, 8
NNG_BATCH = 50  # the loader batch size B of NNGuide's bank rule in this fixture


def _detectors2_goldens(out):
    """A head where every class is predicted on train and labels differ from predictions."""
    rng = np.random.default_rng(4321)
    protos = rng.normal(0.9, 0.6, size=(C2, D2))
    W = ((protos - protos.mean(0)) * 0.6 + rng.normal(0, 0.15, size=(C2, D2))).astype(np.float32)
    W[:, 3] = 0  # a zero weight column: CADRef's sign(0) = 0
    b = rng.normal(0, 0.1, size=C2).astype(np.float32)

    def make(n, ood=False, zero_rows=()):
        y = rng.integers(0, C2, size=n)
        if ood:
            f = rng.normal(0.5, 1.3, size=(n, D2))
        else:
            f = protos[y] + rng.normal(0, 0.9, size=(n, D2))
        f = np.maximum(f, 0).astype(np.float32)
        for r in zero_rows:
            f[r] = 0
        z = (torch.from_numpy(f) @ torch.from_numpy(W).T + torch.from_numpy(b)).numpy().astype(np.float32)
        lab = -np.ones(n, np.int64) if ood else y.astype(np.int64)
        return {"features": f, "logits": z, "labels": lab}

    sets = {"train": make(600), "val": make(200), "test": make(150, zero_rows=(0,)), "ood": make(120),
            "oodval": make(100, ood=True)}
    sets["ood"] = make(120, ood=True, zero_rows=(4,))
    tr = sets["train"]
    tp = tr["logits"].argmax(1)
    assert len(np.unique(tp)) == C2, "every class must be predicted on train"
    assert (tp != tr["labels"]).mean() > 0.1, "train labels must differ from predictions"
    T = {"fc.W": W, "fc.b": b, "nnguide.batch": np.array([NNG_BATCH], np.int64)}
    for s_, d in sets.items():
        for k, v in d.items():
            T[f"{s_}.{k}"] = v
    mu = ref.train_mean(tr["features"])
    means = ref.class_means_by_prediction(tr["features"], tr["logits"], C2)
    optfs = ref.OptFS(W, tr["features"], tr["logits"])
    T["optfs.theta"] = optfs.theta
    T["nci.mu"] = mu

    def run(det, p, s_):
        a, z = sets[s_]["features"], sets[s_]["logits"]
        if det == "nci": return ref.nci(a, z, W, mu, p["alpha"])
        if det == "fdbd": return ref.fdbd(a, z, W, mu, p["distance_as_normalizer"])
        if det == "nnguide":
            return ref.nnguide(a, z, tr["features"], tr["logits"], int(p["K"]), p["alpha"], NNG_BATCH)
        if det == "caref": return ref.caref(a, z, means)
        if det == "cadref": return ref.cadref(a, z, W, means, tr["logits"], p["logit_method"])
        if det == "optfs": return optfs.score(a, z, W, b)
        raise ValueError(det)

    cases = {
        "nci": [("default", {"alpha": 1e-4}), ("alt", {"alpha": 0.1})],
        "fdbd": [("default", {"distance_as_normalizer": 1}), ("alt", {"distance_as_normalizer": 0})],
        "nnguide": [("default", {"K": 10, "alpha": 0.01}), ("alt", {"K": 100, "alpha": 0.2})],  # banks of 50, 150
        "caref": [("default", {})],
        "cadref": [("Energy", {"logit_method": "Energy"}), ("MSP", {"logit_method": "MSP"}),
                   ("MaxLogit", {"logit_method": "MaxLogit"}), ("GEN", {"logit_method": "GEN"})],
        "optfs": [("default", {})],
    }
    for det, lst in cases.items():
        for tag, p in lst:
            for s_ in ("test", "ood"):
                conf, pred = run(det, p, s_)
                T[f"{det}.{tag}.{s_}.conf"] = np.asarray(conf, np.float64)
                T[f"{det}.{tag}.{s_}.pred"] = np.asarray(pred, np.int64)
    T["nnguide.bank.default"] = np.array([len(ref.nnguide_bank_rows(600, 0.01, NNG_BATCH))], np.int64)
    T["nnguide.bank.alt"] = np.array([len(ref.nnguide_bank_rows(600, 0.2, NNG_BATCH))], np.int64)
    grids = {"nci": ref.grid1("alpha", [1e-4, 1e-3, 1e-2, 1e-1]),
             "fdbd": ref.grid1("distance_as_normalizer", [1, 0])}
    split = {"id": "val", "ood": "oodval"}
    for det, g in grids.items():
        best, trace = ref.aps(lambda p, s_: run(det, p, split[s_])[0], g, sets["val"]["labels"])
        T[f"aps.{det}.best"] = np.array([best], np.int64)
        T[f"aps.{det}.trace"] = trace
    st_io.save(os.path.join(out, "eval_detectors2.safetensors"), T)


ADA_RES, ADA_CLASSES = 32, 10  # small: the C++ test runs ~60 gradient passes


def _adascale_goldens(out):
    """A random resnet18 (calibrated BN) and normalised NHWC images; torch's AdaSCALE passes on them."""
    import torchvision
    torch.manual_seed(11)
    model = torchvision.models.resnet18(num_classes=ADA_CLASSES)
    model.train()
    with torch.no_grad():
        for _ in range(10):
            model(torch.randn(8, 3, ADA_RES, ADA_RES))
    model.eval()
    st_io.save(os.path.join(out, "eval_adascale_resnet18.safetensors"), model.state_dict())
    T = {}

    def net(x):
        m = model
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
        f = torch.flatten(m.avgpool(x), 1)
        return m.fc(f), f

    g = torch.Generator().manual_seed(3)
    imgs = {"val": torch.randn(10, 3, ADA_RES, ADA_RES, generator=g),
            "test": torch.randn(7, 3, ADA_RES, ADA_RES, generator=g),
            "ood": 1.4 * torch.randn(7, 3, ADA_RES, ADA_RES, generator=g) + 0.3}
    for k, x in imgs.items():
        T[f"images.{k}"] = x.permute(0, 2, 3, 1).contiguous()  # NHWC, as the C++ engine takes them
        if k == "test":
            f, fp, z = ref.adascale_passes(net, x)
            T["test.f"], T["test.fp"], T["test.z"] = f, fp, z
    st_io.save(os.path.join(out, "eval_adascale.safetensors"), T)


if __name__ == "__main__":
    make(sys.argv[1] if len(sys.argv) > 1 else "build/fixtures")
