#!/usr/bin/python3
"""Full-size transformer parity of the commands against torchvision (not part of `make test`: full-size
ViT-B/16 and Swin-T forwards of a few dozen 224x224 images take minutes on a small machine).

    /usr/bin/python3 tools/transformer_parity.py --bin build-cpu/ishscale --work /tmp/tfpar [--arch vit_b_16 swin_t]

For each arch: torchvision's model with random weights (the head re-randomised, LayerNorm gains and every
bias randomised, so logits and features differ from the defaults' zeros and ones), saved as a .pth with
torchvision's names and no metadata, then
  (a) `ishscale classify --dump` on real JPEGs (matplotlib's and sklearn's samples), synthetic JPEGs of odd
      sizes (4:2:0, 4:4:4, gray, CMYK) and PNGs (RGB, RGBA, palette) against torchvision with the weights'
      own eval transform (ViT_B_16_Weights / Swin_T_Weights .transforms(): 256 bilinear / 232 bicubic,
      crop 224): logits and features, max|ours - torch| / max|torch| <= 1e-4;
  (b) `ishscale eval --arch <alias>` on a small benchmark built from those images (ID test/val/train, one
      near and one far set) with SCALE and the other detectors that need no network pass, plus ODIN, against
      tools/ood_reference.py on torchvision's features: scores within 1e-4 (relative to the largest |score|).
ViM runs at dim 4 and KNN at K 3: the ID-train set has a dozen images, so only a principal space of a few
dims is determined (the benchmark's own setting for 768-d features is dim 256; see `ishscale eval --help`).
OptFS is discontinuous in its input: its bins are np.arange(q_0.001, q_0.999, (q_0.999 - q_0.001)/100),
100 or 101 of them depending on the last bit of the quantiles, and the extra bin rescales every theta.
So OptFS is checked against the reference fitted and scored on ishscale's own features (`features
--dump`, from eval's cache); its distance from the torch-feature reference is printed for information.
Prints one line per check and exits 1 when any exceeds the bound."""
import argparse
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import torch
import torchvision
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_eval as fe  # noqa: E402
import image_corpus  # noqa: E402
import ood_reference as ref  # noqa: E402

BOUND = 1e-4
ALIAS = {"vit_b_16": "vit-b-16", "swin_t": "swin-t"}
DETECTORS = ["msp", "mls", "ebo", "gen", "react", "ash", "ash_p", "ash_s", "scale", "knn", "vim", "mds", "nci", "fdbd",
             "nnguide", "caref", "cadref", "optfs", "odin"]
BATCH = 4


def make_model(arch, seed):
    torch.manual_seed(seed)
    m = getattr(torchvision.models, arch)()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if p.dim() == 1 and name.endswith("weight"):  # LayerNorm gains
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            elif p.dim() == 1 or name == "class_token":
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        head = m.heads.head if arch.startswith("vit") else m.head
        head.weight.copy_(torch.randn(head.weight.shape, generator=g) * head.weight.shape[1] ** -0.5 * 3)
    m.eval()
    return m, head


def eval_transform(arch):
    w = {"vit_b_16": torchvision.models.ViT_B_16_Weights.IMAGENET1K_V1,
         "swin_t": torchvision.models.Swin_T_Weights.IMAGENET1K_V1}[arch]
    return w.transforms()


def forward(arch, m, x):
    """logits and features (the head's input) of an NCHW batch."""
    with torch.no_grad():
        if arch.startswith("vit"):
            h = m._process_input(x)
            h = torch.cat([m.class_token.expand(h.shape[0], -1, -1), h], dim=1)
            f = m.encoder(h)[:, 0]
            return m.heads(f), f
        f = torch.flatten(m.avgpool(m.permute(m.norm(m.features(x)))), 1)
        return m.head(f), f


def write_images(d):
    """Real JPEGs, fixtures_eval's synthetic JPEGs, the corpus's PNGs and textures of assorted sizes."""
    os.makedirs(d, exist_ok=True)
    names = []
    for k, p in fe.E2E_REAL.items():
        shutil.copyfile(p, os.path.join(d, k + ".jpg"))
        names.append(k + ".jpg")
    fe._synthetic_jpegs(d, np.random.default_rng(7))
    names += [f"syn{i}.jpg" for i in range(9)]
    good = image_corpus.good_files()
    for k in ("rgb.png", "rgba.png", "palette.png", "gray.jpg", "progressive.jpg"):
        with open(os.path.join(d, "corpus_" + k), "wb") as f:
            f.write(good[k])
        names.append("corpus_" + k)
    rng = np.random.default_rng(11)
    for i in range(22):
        w, h = int(rng.integers(150, 420)), int(rng.integers(150, 420))
        im = Image.fromarray(image_corpus._texture(w, h, 100 + i))
        name = f"tex{i}." + ("png" if i % 4 == 3 else "jpg")
        im.save(os.path.join(d, name), **({} if name.endswith("png") else {"quality": 88}))
        names.append(name)
    return names


def rel(a, b):
    """max |a - b| / max |b| over the finite entries; 1.0 when the infinite ones (-inf scores) differ."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    fin = np.isfinite(b)
    if not np.array_equal(np.isfinite(a), fin) or not np.array_equal(a[~fin], b[~fin]):
        return 1.0
    if not fin.any():
        return 0.0
    return float(np.max(np.abs(a[fin] - b[fin])) / max(np.max(np.abs(b[fin])), 1e-30))


def run(cmd):
    t0 = time.time()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout[-3000:]}")
    return time.time() - t0


def parity(arch, binary, work, threads):
    d = os.path.join(work, arch)
    shutil.rmtree(d, ignore_errors=True)
    imgdir = os.path.join(d, "images")
    names = write_images(imgdir)
    m, head = make_model(arch, 16)
    pth = os.path.join(d, arch + ".pth")
    torch.save(m.state_dict(), pth)
    tf = eval_transform(arch)

    def torch_of(files):
        x = torch.stack([tf(Image.open(os.path.join(imgdir, n)).convert("RGB")) for n in files])
        z, f = [], []
        for i in range(0, len(x), 8):
            a, b = forward(arch, m, x[i:i + 8])
            z.append(a)
            f.append(b)
        return torch.cat(z).numpy(), torch.cat(f).numpy(), x

    worst = 0.0
    # (a) classify --dump
    dump = os.path.join(d, "dump")
    os.makedirs(dump)
    secs = run([binary, "classify", "--weights", pth, "--dump", dump, "--batch-size", "8", "--threads", str(threads)] +
               [os.path.join(imgdir, n) for n in names])
    paths = open(os.path.join(dump, "paths.txt")).read().split()
    assert [os.path.basename(p) for p in paths] == names, "classify skipped an image"
    z_ref, f_ref, _ = torch_of(names)
    for what, ours, want in (("logits", np.load(os.path.join(dump, "logits.npy")), z_ref),
                             ("features", np.load(os.path.join(dump, "features.npy")), f_ref)):
        e = rel(ours, want)
        worst = max(worst, e)
        print(f"{arch} classify {what} {list(ours.shape)}: rel err {e:.3g} ({len(names)} images, {secs:.0f} s)", flush=True)

    # (b) eval on lists cut from the same images; ID labels i % 3 (MDS needs several samples per class)
    lists = {"id_test": names[0:10], "id_val": names[10:18], "id_train": names[18:30], "near_a": names[30:35],
             "far_a": names[35:41]}
    for k, v in lists.items():
        with open(os.path.join(d, k + ".txt"), "w") as f:
            f.writelines(f"images/{n} {i % 3 if not k.endswith('_a') else -1}\n" for i, n in enumerate(v))
    out = os.path.join(d, "eval")
    secs = run([binary, "eval", "--weights", pth, "--arch", ALIAS[arch], "--device", "cpu", "--data-root", d,
                "--id-test", os.path.join(d, "id_test.txt"), "--id-val", os.path.join(d, "id_val.txt"),
                "--id-train", os.path.join(d, "id_train.txt"), "--near", "nearA=" + os.path.join(d, "near_a.txt"),
                "--far", "farA=" + os.path.join(d, "far_a.txt"), "--postprocessor", ",".join(DETECTORS), "--no-aps",
                "--percentile", "85", "--set", "knn.K=3", "--set", "vim.dim=4", "--set", "nnguide.K=2",
                "--set", "odin.temperature=1000", "--set", "odin.noise=0.0014",
                "--batch-size", str(BATCH), "--threads", str(threads), "--save-score", "--no-report", "--out", out])
    print(f"{arch} eval: {secs:.0f} s", flush=True)
    sets = {}
    xs = {}
    for k, v in lists.items():
        z, f, x = torch_of(v)
        sets[k] = {"logits": z, "features": f,
                   "labels": np.array([i % 3 if not k.endswith("_a") else -1 for i in range(len(v))])}
        xs[k] = x
    W = head.weight.detach().numpy().astype(np.float32)
    b = head.bias.detach().numpy().astype(np.float32)
    tr = sets["id_train"]
    score, optfs = ref.signed_feature_detectors(W, b, tr, sets["id_val"]["features"], BATCH)
    net = lambda x: m(x.permute(0, 3, 1, 2))  # noqa: E731  (NHWC, as ishscale feeds it)
    # ishscale's own features (eval's cache entries, read back by `features --dump`), for OptFS
    ours = {}
    for k in ("id_train", "id_test", "near_a", "far_a"):
        dd = os.path.join(d, "feat_" + k)
        run([binary, "features", "--weights", pth, "--arch", ALIAS[arch], "--device", "cpu", "--list",
             os.path.join(d, k + ".txt"), "--data-root", d, "--cache-dir", os.path.join(out, "cache"), "--dump", dd])
        ours[k] = {n: np.load(os.path.join(dd, n + ".npy")) for n in ("features", "logits")}
    optfs_own = ref.OptFS(W, ours["id_train"]["features"], ours["id_train"]["logits"])
    print(f"{arch} optfs bins: {len(optfs.theta)} on torch's features, {len(optfs_own.theta)} on ishscale's", flush=True)
    where = {"id_test": "id/id", "near_a": "near/nearA", "far_a": "far/farA"}
    for s_, sub in where.items():
        a, z = sets[s_]["features"], sets[s_]["logits"]
        res = score(a, z)
        x = xs[s_].permute(0, 2, 3, 1).contiguous().numpy()
        res["odin"] = ref.odin(net, x, 1000.0, 0.0014)
        res["optfs (torch features)"] = res["optfs"]
        res["optfs"] = optfs_own.score(ours[s_]["features"], ours[s_]["logits"], W, b)
        for det in DETECTORS + ["optfs (torch features)"]:
            conf, pred = res[det]
            got = np.load(os.path.join(out, "scores", det.split()[0], sub, "conf.npy"))
            gpred = np.load(os.path.join(out, "scores", det.split()[0], sub, "pred.npy"))
            e = rel(got, conf)
            same = int(np.sum(gpred == np.asarray(pred)))
            info = det != det.split()[0]
            if not info:
                worst = max(worst, e)
            print(f"{arch} eval {det:8s} {s_:8s}: rel err {e:.3g}, pred {same}/{len(pred)}" +
                  (" (information only)" if info else ""), flush=True)
            if same != len(pred) and not info:
                worst = max(worst, 1.0)
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/ishscale")
    ap.add_argument("--work", default="build/transformer_parity")
    ap.add_argument("--arch", nargs="+", default=["vit_b_16", "swin_t"])
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    worst = 0.0
    for arch in args.arch:
        worst = max(worst, parity(arch, args.bin, args.work, args.threads))
    print(f"worst rel err {worst:.3g} (bound {BOUND})")
    sys.exit(0 if worst <= BOUND else 1)


if __name__ == "__main__":
    main()
