#!/usr/bin/python3
"""A numpy/torch implementation of ../shared/METHOD.md's detectors, metrics and APS, written to follow
OpenOOD v1.5's postprocessors (and the SCALE fork) step by step. The C++ tests compare eval/ against it.

Inputs are numpy arrays: features a [N,D] float32, logits z [N,C] float32, fc W [C,D], b [C].
Scores are returned as float64 conf and int64 pred. Where the reference yields NaN we apply the
definitions of METHOD.md / eval/detectors.h (s2 = 0 -> -inf; zero-norm knn vector -> 0 + 1e-10).

Precision choices (the C++ side makes the same ones): softmax probabilities are float32 as torch's
(msp, gen); fit statistics (vim, mds) are float64; knn normalises in float64 and stores the bank as
float32, then measures exact float64 distances.
"""
import os

import numpy as np
import torch
from sklearn import metrics as skm
from sklearn.covariance import EmpiricalCovariance

# ----------------------------------------------------------------------------- metrics (OpenOOD v1.5)


def compute_all_metrics(conf, label, pred):
    """openood/evaluators/metrics.py: [fpr@95, auroc, aupr_in, aupr_out, acc] as fractions."""
    ood = np.zeros_like(label)
    ood[label == -1] = 1
    fpr_list, tpr_list, _ = skm.roc_curve(ood, -conf)
    fpr = fpr_list[np.argmax(tpr_list >= 0.95)]
    p_in, r_in, _ = skm.precision_recall_curve(1 - ood, conf)
    p_out, r_out, _ = skm.precision_recall_curve(ood, -conf)
    auroc = skm.auc(fpr_list, tpr_list)
    aupr_in = skm.auc(r_in, p_in)
    aupr_out = skm.auc(r_out, p_out)
    keep = label != -1
    acc = np.sum(pred[keep] == label[keep]) / len(label[keep]) if keep.any() else float("nan")
    return np.array([fpr, auroc, aupr_in, aupr_out, acc], dtype=np.float64)


def auroc(conf, label):
    ood = (label == -1).astype(np.int64)
    fpr, tpr, _ = skm.roc_curve(ood, -conf)
    return skm.auc(fpr, tpr)


# ----------------------------------------------------------------------------- helpers


def _t(x):
    return torch.from_numpy(np.ascontiguousarray(x))


def fc64(a, W, b):
    return a.astype(np.float64) @ W.astype(np.float64).T + b.astype(np.float64)


def energy_pred(z):
    zt = _t(np.asarray(z, dtype=np.float64))
    return torch.logsumexp(zt, dim=1).numpy(), zt.argmax(dim=1).numpy().astype(np.int64)


def topk_count(n, percentile):
    return n - int(np.round(n * percentile / 100.0))


# ----------------------------------------------------------------------------- logit detectors


def msp(z):
    p = torch.softmax(_t(z.astype(np.float32)), dim=1)
    conf, pred = torch.max(p, dim=1)
    return conf.double().numpy(), pred.numpy().astype(np.int64)


def mls(z):
    conf, pred = torch.max(_t(z.astype(np.float32)), dim=1)
    return conf.double().numpy(), pred.numpy().astype(np.int64)


def ebo(z, temperature=1.0):
    zt = _t(z.astype(np.float64))
    conf = temperature * torch.logsumexp(zt / temperature, dim=1)
    return conf.numpy(), zt.argmax(dim=1).numpy().astype(np.int64)


def gen(z, gamma=0.1, M=100):
    probs = torch.softmax(_t(z.astype(np.float32)), dim=1)  # float32, as the reference
    pred = probs.argmax(dim=1).numpy().astype(np.int64)
    ps = torch.sort(probs, dim=1)[0][:, -int(M):].double()
    scores = torch.sum(ps ** gamma * (1 - ps) ** gamma, dim=1)
    return (-scores).numpy(), pred


# ----------------------------------------------------------------------------- feature shaping


def react_threshold(id_val_features, percentile):
    return float(np.percentile(id_val_features.flatten(), percentile))


def react(a, W, b, threshold):
    thr = np.float32(threshold)  # torch clips float32 features against the float32 value
    return energy_pred(fc64(np.minimum(a, thr), W, b))


def _topk_idx(x, k):
    # torch.topk picks among ties arbitrarily; the test data has no ties at the cut (see fixtures_eval.py)
    return torch.topk(_t(x), k, dim=1)[1]


def ash_b(a, W, b, percentile):
    x = _t(a.astype(np.float64))
    n = x.shape[1]
    k = topk_count(n, percentile)
    s1 = x.sum(dim=1)
    i = _topk_idx(a, k)
    fill = (s1 / k).unsqueeze(1).expand(-1, k)
    t = torch.zeros_like(x).scatter_(1, i, fill)
    return energy_pred(fc64(t.numpy(), W, b))


def ash_p(a, W, b, percentile):
    x = _t(a.astype(np.float64))
    k = topk_count(x.shape[1], percentile)
    i = _topk_idx(a, k)
    t = torch.zeros_like(x).scatter_(1, i, torch.gather(x, 1, i))
    return energy_pred(fc64(t.numpy(), W, b))


def _degenerate(conf, pred, s2, a, W, b):
    bad = (s2 == 0).numpy()
    if bad.any():
        conf[bad] = -np.inf
        pred[bad] = fc64(a[bad], W, b).argmax(axis=1)
    return conf, pred


def ash_s(a, W, b, percentile):
    x = _t(a.astype(np.float64))
    k = topk_count(x.shape[1], percentile)
    s1 = x.sum(dim=1)
    i = _topk_idx(a, k)
    t = torch.zeros_like(x).scatter_(1, i, torch.gather(x, 1, i))
    s2 = t.sum(dim=1)
    with np.errstate(all="ignore"):
        t = t * torch.exp(s1 / s2)[:, None]
        conf, pred = energy_pred(fc64(t.numpy(), W, b))
    return _degenerate(conf, pred, s2, a, W, b)


def scale(a, W, b, percentile):
    """The SCALE fork's scale(): prune a copy to find s2, but scale the whole, unpruned input."""
    x = _t(a.astype(np.float64))
    inp = x.clone()
    k = topk_count(x.shape[1], percentile)
    s1 = x.sum(dim=1)
    v, _ = torch.topk(x, k, dim=1)
    s2 = v.sum(dim=1)
    with np.errstate(all="ignore"):
        out = inp * torch.exp(s1 / s2)[:, None]
        conf, pred = energy_pred(fc64(out.numpy(), W, b))
    return _degenerate(conf, pred, s2, a, W, b)


# ----------------------------------------------------------------------------- fitted statistics


def knn_normalize(x):
    x = x.astype(np.float64)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    with np.errstate(all="ignore"):
        y = np.where(n > 0, x / np.where(n > 0, n, 1), 0.0) + 1e-10
    return y.astype(np.float32)


def knn(a, z, train_features, K):
    bank = knn_normalize(train_features).astype(np.float64)
    q = knn_normalize(a).astype(np.float64)
    d = ((q[:, None, :] - bank[None, :, :]) ** 2).sum(-1)  # exact squared L2
    kth = np.sort(d, axis=1)[:, K - 1]
    return -kth, z.argmax(axis=1).astype(np.int64)


class Vim:
    def __init__(self, W, b, train_features):
        W64, b64 = W.astype(np.float64), b.astype(np.float64)
        self.W, self.b = W64, b64
        self.u = -np.matmul(np.linalg.pinv(W64), b64)
        f = train_features.astype(np.float64)
        ec = EmpiricalCovariance(assume_centered=True)
        ec.fit(f - self.u)
        self.eig_vals, self.eig_vecs = np.linalg.eigh(ec.covariance_)
        self.train = f

    def ns(self, dim):
        return np.ascontiguousarray(self.eig_vecs.T[np.argsort(self.eig_vals * -1)[dim:]].T)

    def alpha(self, dim):
        logit = self.train @ self.W.T + self.b
        v = np.linalg.norm(np.matmul(self.train - self.u, self.ns(dim)), axis=-1)
        return logit.max(axis=-1).mean() / v.mean()

    def score(self, a, dim):
        f = a.astype(np.float64)
        logit = f @ self.W.T + self.b
        energy, pred = energy_pred(logit)
        v = np.linalg.norm(np.matmul(f - self.u, self.ns(dim)), axis=-1)
        return -v * self.alpha(dim) + energy, pred


class Mds:
    def __init__(self, train_features, train_labels, num_classes):
        f = train_features.astype(np.float64)
        self.means, centered, self.present = [], [], []
        for c in range(num_classes):
            s = f[train_labels == c]
            self.present.append(len(s) > 0)
            m = s.mean(0) if len(s) else np.zeros(f.shape[1])
            self.means.append(m)
            centered.append(s - m)
        self.means = np.stack(self.means)
        ec = EmpiricalCovariance(assume_centered=False)
        ec.fit(np.concatenate(centered))
        self.precision = ec.precision_

    def score(self, a, z):
        f = a.astype(np.float64)
        cs = np.full((len(f), len(self.means)), -np.inf)
        for c in range(len(self.means)):
            if not self.present[c]:
                continue
            t = f - self.means[c]
            cs[:, c] = -np.einsum("ij,jk,ik->i", t, self.precision, t)
        return cs.max(axis=1), z.argmax(axis=1).astype(np.int64)


# ----------------------------------------------------------------------------- ODIN


def odin(net, x_nhwc, temperature, noise, std=(0.229, 0.224, 0.225)):
    """openood/postprocessors/odin_postprocessor.py on NHWC input (channel = last dim)."""
    data = torch.from_numpy(np.ascontiguousarray(x_nhwc)).float().requires_grad_(True)
    output = net(data)
    labels = output.detach().argmax(dim=1)
    loss = torch.nn.CrossEntropyLoss()(output / temperature, labels)
    loss.backward()
    gradient = (torch.ge(data.grad.detach(), 0).float() - 0.5) * 2
    for c in range(gradient.shape[-1]):
        gradient[..., c] = gradient[..., c] / std[c]
    temp = torch.add(data.detach(), gradient, alpha=-noise)
    out = net(temp).detach() / temperature
    out = out - out.max(dim=1, keepdim=True).values
    p = out.exp() / out.exp().sum(dim=1, keepdim=True)
    conf, pred = p.max(dim=1)
    return conf.double().numpy(), pred.numpy().astype(np.int64)


# ----------------------------------------------------------------------------- APS


def grid1(name, vals):
    return [[(name, v)] for v in vals]


def grid2(n1, v1, n2, v2):
    """OpenOOD's recursive_generator: the first parameter varies fastest."""
    return [[(n1, x), (n2, y)] for y in v2 for x in v1]


def aps(score_fn, grid, id_label):
    """score_fn(params_dict, split) -> conf; split in {'id', 'ood'}. Returns (best index, aurocs)."""
    best, best_auroc, trace = None, None, []
    for i, hp in enumerate(grid):
        p = dict(hp)
        ci, co = score_fn(p, "id"), score_fn(p, "ood")
        conf = np.concatenate([ci, co])
        label = np.concatenate([id_label, -np.ones(len(co), dtype=np.int64)])
        au = auroc(conf, label)
        trace.append(au)
        if best is None or au > best_auroc:
            best, best_auroc = i, au
    return best, np.array(trace)


# ----------------------------------------------------------------------------- after SCALE
# ../shared/METHOD-DETECTORS-2.md: OpenOOD v1.5's nci / fdbd / nnguide / adascale postprocessors and the
# CADRef repository's CARef / CADRef / OptFS, step by step in numpy/torch. Where the reference gives NaN
# the score is -inf (as ishscale defines it).


def _nan_to_neginf(conf):
    conf = np.asarray(conf, np.float64).copy()
    conf[np.isnan(conf)] = -np.inf
    return conf


def train_mean(train_features):
    return np.mean(train_features.astype(np.float32), axis=0)  # float32, as np.mean of the cached features


def nci(a, z, W, mu, alpha):
    pred = z.argmax(1)
    f = a.astype(np.float64)
    d = f - mu.astype(np.float64)
    with np.errstate(all="ignore"):
        cos = np.sum(W.astype(np.float64)[pred] * d, axis=1) / np.linalg.norm(d, axis=1)
        conf = cos + alpha * np.linalg.norm(f, ord=1, axis=1)
    return _nan_to_neginf(conf), pred.astype(np.int64)


def fdbd_denominator(W):
    W = W.astype(np.float64)
    C = W.shape[0]
    den = np.ones((C, C))
    for p in range(C):
        for c in range(C):
            if c != p:
                den[p, c] = np.linalg.norm(W[c] - W[p])
    return den


def fdbd(a, z, W, mu, distance_as_normalizer):
    den = fdbd_denominator(W)
    zt = z.astype(np.float64)
    pred = zt.argmax(1)
    v = zt.max(1)
    num = np.abs(zt - v[:, None]) / den[pred]
    num[np.arange(len(z)), pred] = 0
    ref_point = mu.astype(np.float64) if distance_as_normalizer else 0.0
    with np.errstate(all="ignore"):
        conf = num.sum(1) / np.linalg.norm(a.astype(np.float64) - ref_point, axis=1)
    return _nan_to_neginf(conf), pred.astype(np.int64)


def nnguide_bank_rows(n_train, alpha, batch_size):
    """OpenOOD walks the loader until n_batches * B > int(N alpha); ishscale takes floor(j N / M)."""
    nb = 0
    while True:
        nb += 1
        if nb * batch_size > int(n_train * alpha) or nb * batch_size >= n_train:
            break
    M = min(n_train, nb * batch_size)
    return [j * n_train // M for j in range(M)]


def nnguide(a, z, train_features, train_logits, K, alpha, batch_size):
    rows = nnguide_bank_rows(len(train_features), alpha, batch_size)
    bank = knn_normalize(train_features[rows]).astype(np.float64)
    guide = bank * torch.logsumexp(_t(train_logits[rows].astype(np.float64)), 1).numpy()[:, None]
    q = knn_normalize(a).astype(np.float64)
    sim = q @ guide.T
    top = -np.sort(-sim, axis=1)[:, :K]
    energy = torch.logsumexp(_t(z.astype(np.float64)), 1).numpy()
    return top.mean(1) * energy, z.argmax(1).astype(np.int64)


def class_means_by_prediction(train_features, train_logits, C):
    pred = train_logits.argmax(1)
    f = train_features.astype(np.float64)
    means = np.full((C, f.shape[1]), np.nan)
    for c in range(C):
        if (pred == c).any():
            means[c] = f[pred == c].mean(0)
    return means


def caref(a, z, means):
    pred = z.argmax(1)
    f = a.astype(np.float64)
    with np.errstate(all="ignore"):
        conf = -np.abs(means[pred] - f).sum(1) / np.abs(f).sum(1)
    return _nan_to_neginf(conf), pred.astype(np.int64)


def logit_score(z, method):
    zt = _t(z.astype(np.float64))
    if method == "Energy":
        return torch.logsumexp(zt, 1).numpy()
    if method == "MSP":
        return torch.softmax(zt, 1).max(1)[0].numpy()
    if method == "MaxLogit":
        return zt.max(1)[0].numpy()
    if method == "GEN":
        p = torch.softmax(zt, 1)
        M = max(10, z.shape[1] // 10)
        ps = torch.sort(p, 1)[0][:, -M:]
        return (1.0 / torch.sum(ps ** 0.1 * (1 - ps) ** 0.1, 1)).numpy()
    raise ValueError(method)


def cadref(a, z, W, means, train_logits, method):
    G = logit_score(train_logits, method).mean()
    pred = z.argmax(1)
    f = a.astype(np.float64)
    s = np.sign(W.astype(np.float64)[pred])  # sign 0 stays 0
    d = (f - means[pred]) * s
    l1 = np.abs(f).sum(1)
    with np.errstate(all="ignore"):
        ep = np.maximum(d, 0).sum(1) / l1
        em = np.maximum(-d, 0).sum(1) / l1
        conf = -(ep / logit_score(z, method) + em / G)
    return _nan_to_neginf(conf), pred.astype(np.int64)


class OptFS:
    """CADRef's OptFS.py: bins over the 0.1%..99.9% quantiles of all train entries, float32 membership."""

    def __init__(self, W, train_features, train_logits):
        F = train_features.astype(np.float32)
        lo, hi = float(np.quantile(F.astype(np.float64), 0.001)), float(np.quantile(F.astype(np.float64), 0.999))
        w = (hi - lo) / 100.0
        self.left = np.arange(lo, hi, w)
        self.w = w
        pred = train_logits.argmax(1)
        lc = (W.astype(np.float32)[pred] * F).astype(np.float32)
        I = np.zeros(len(self.left), np.float64)
        for i, L in enumerate(self.left):
            m = (F >= np.float32(L)) & (F < np.float32(L + w))
            I[i] = np.sum(np.where(m, lc, 0).astype(np.float64), 1).mean()
        I = I.astype(np.float32)
        self.theta = (I / np.linalg.norm(I.astype(np.float64)) * 1000).astype(np.float32)

    def score(self, a, z, W, b):
        f = _t(a.astype(np.float32))
        out = torch.zeros_like(f)
        for i, L in enumerate(self.left):
            m = ((f >= float(np.float32(L))) & (f < float(np.float32(L + self.w)))).float()
            out = out + f * m * float(self.theta[i])
        conf, _ = energy_pred(fc64(out.numpy(), W, b))
        return conf, z.argmax(1).astype(np.int64)


# AdaSCALE: the network passes (NCHW torch model) and the pieces after f'.


def signed_feature_detectors(W, b, train, val_features, nng_batch):
    """Every post-hoc detector fitted as the transformer end-to-end checks run them (tools/fixtures_eval.py's
    reduced ViT/Swin, tools/transformer_parity.py's full-size ones): percentile 85, GEN gamma 0.1 M 100,
    KNN K 3, ViM dim 4, NCI alpha 1e-4, fDBD 1, NNGuide K 2 alpha 0.01, CADRef on Energy. `train` holds the ID
    train "features", "logits" and "labels". Returns (score(a, z) -> {name: (conf, pred)}, the OptFS fit)."""
    tr_f, tr_z = train["features"], train["logits"]
    vim = Vim(W, b, tr_f)
    mds = Mds(tr_f, train["labels"], W.shape[0])
    thr = react_threshold(val_features, 85)
    mu = train_mean(tr_f)
    means = class_means_by_prediction(tr_f, tr_z, W.shape[0])
    optfs = OptFS(W, tr_f, tr_z)

    def score(a, z):
        return {"msp": msp(z), "mls": mls(z), "ebo": ebo(z), "gen": gen(z, 0.1, 100),
                "react": react(a, W, b, thr), "ash": ash_b(a, W, b, 85), "ash_p": ash_p(a, W, b, 85),
                "ash_s": ash_s(a, W, b, 85), "scale": scale(a, W, b, 85), "knn": knn(a, z, tr_f, 3),
                "vim": vim.score(a, 4), "mds": mds.score(a, z), "nci": nci(a, z, W, mu, 1e-4),
                "fdbd": fdbd(a, z, W, mu, 1), "nnguide": nnguide(a, z, tr_f, tr_z, 2, 0.01, nng_batch),
                "caref": caref(a, z, means), "cadref": cadref(a, z, W, means, tr_z, "Energy"),
                "optfs": optfs.score(a, z, W, b)}
    return score, optfs


def adascale_passes(model, x, o=0.05, eps=0.5):
    """x normalised NCHW float32. Returns f, f' (float32 [N,D]) and z; one image at a time."""
    fs, fps, zs = [], [], []
    for i in range(len(x)):
        xi = x[i:i + 1].clone().requires_grad_(True)
        z, f = model(xi)
        z.max(1)[0].sum().backward()
        g = xi.grad.detach()
        n = g[0].numel()
        n_pix = int(n * o)
        flat = g[0].abs().flatten()
        idx = torch.topk(flat, n_pix, largest=False)[1]
        mask = torch.zeros(n)
        mask[idx] = 1
        xp = xi.detach() + eps * torch.sign(g) * mask.view_as(g)
        with torch.no_grad():
            _, fp = model(xp)
        fs.append(f.detach()[0].numpy())
        fps.append(fp[0].numpy())
        zs.append(z.detach()[0].numpy())
    return np.stack(fs), np.stack(fps), np.stack(zs)


def adascale_qprime(f, fp, k1=5, k2=1, lmbda=10):
    ft, fpt = _t(f.astype(np.float32)), _t(fp.astype(np.float32))
    D = f.shape[1]
    n1, n2 = int(D * k1 / 100), int(D * k2 / 100)
    i1 = torch.topk(ft, n1, dim=1)[1]
    i2 = torch.topk(ft, n2, dim=1)[1]
    co = torch.gather(torch.relu(fpt), 1, i1).double().sum(1)
    shift = torch.gather((ft - fpt).abs(), 1, i2).double().sum(1)
    return (co + lmbda * shift).float().numpy()


def ecdf(fit):
    """statsmodels.distributions.ECDF(fit) (side='right')."""
    x = np.sort(np.asarray(fit, np.float64))
    n = len(x)
    y = np.linspace(1.0 / n, 1, n)
    x = np.concatenate([[-np.inf], x])
    y = np.concatenate([[0.0], y])
    return lambda t: y[np.searchsorted(x, np.asarray(t, np.float64), side="right") - 1]


def adascale_percentile(fit_q, q, pmin, pmax):
    return pmin + (1 - ecdf(fit_q)(q)) * (pmax - pmin)


def adascale_scores(f, z, W, b, pct, linear):
    D = f.shape[1]
    x = np.maximum(f.astype(np.float64), 0)
    conf, pred = np.empty(len(f)), np.empty(len(f), np.int64)
    for i in range(len(f)):
        k = D - int(np.round(D * pct[i] / 100.0))
        s1 = x[i].sum()
        s2 = np.sort(x[i])[::-1][:k].sum()
        if s2 == 0:
            conf[i], pred[i] = -np.inf, z[i].argmax()
            continue
        r = s1 / s2
        zz = z[i].astype(np.float64) * r * r if linear else fc64(f[i:i + 1] * np.exp(r), W, b)[0]
        conf[i] = torch.logsumexp(_t(zz), 0).item()
        pred[i] = zz.argmax()
    return conf, pred


def adascale_pairs():
    v = [60, 65, 70, 75, 80, 85, 90, 95, 99]
    return [(a, c) for i, a in enumerate(v) for c in v[i + 1:]]


def adascale_check(d):
    """Recomputes everything downstream of f' from an AdaSCALE run's saved arrays in directory d (written by
    tests/test_eval_adascale.cpp) and prints 'key value' lines: the errors of our Q', percentiles and
    scores, and the APS choice over the 36 percentile pairs fed our Q'."""
    L = lambda n: np.load(os.path.join(d, n + ".npy"))  # noqa: E731
    W, b = L("W"), L("b")
    k1, k2, lm = L("hp")[:3]
    pmin, pmax = L("hp")[3:5]
    fit_q = L("fit_qprime")

    def rel(a, r):
        return float(np.max(np.abs(np.asarray(a, np.float64) - r)) / max(np.max(np.abs(r)), 1e-30))

    out = {}
    for s in ("test", "ood"):
        f, fp, q, pct = L(s + "_f"), L(s + "_fp"), L(s + "_qprime"), L(s + "_percentile")
        out[s + "_qprime_err"] = rel(q, adascale_qprime(f, fp, k1, k2, lm).astype(np.float64))
        out[s + "_percentile_err"] = float(np.max(np.abs(pct - adascale_percentile(fit_q, q, pmin, pmax))))
        for tag, lin in (("a", False), ("l", True)):
            conf, pred = adascale_scores(f, L(s + "_z"), W, b, pct, lin)
            ours = L(f"{s}_conf_{tag}")
            fin = np.isfinite(conf)
            out[f"{s}_score_{tag}_err"] = rel(ours[fin], conf[fin])
            out[f"{s}_pred_{tag}_bad"] = int(np.sum(L(f"{s}_pred_{tag}") != pred))
    # APS over the pairs, ID val (the fit set itself) against the OOD set, from our Q'
    vf, vz, of, oz = L("val_f"), L("val_z"), L("ood_f"), L("ood_z")
    vq, oq = L("val_qprime"), L("ood_qprime")
    trace = []
    for pa, pb in adascale_pairs():
        ci = adascale_scores(vf, vz, W, b, adascale_percentile(vq, vq, pa, pb), False)[0]
        co = adascale_scores(of, oz, W, b, adascale_percentile(vq, oq, pa, pb), False)[0]
        conf = np.concatenate([ci, co])
        conf = np.where(np.isneginf(conf), np.min(conf[np.isfinite(conf)]) - 1, conf)
        trace.append(auroc(conf, np.concatenate([np.zeros(len(ci), np.int64), -np.ones(len(co), np.int64)])))
    best, best_v = 0, None
    for i, v in enumerate(trace):
        if best_v is None or v > best_v:
            best, best_v = i, v
    for k, v in out.items():
        print(k, repr(v))
    print("aps_best", best)
    print("aps_trace", " ".join(repr(float(t)) for t in trace))


# ----------------------------------------------------------------------------- FS-OOD (eval_ood(fsood=True))


def fsood_check(out, pps, plain_pp, id_name, csid, near, far):
    """For each postprocessor pp of pps, recomputes the rows of ood/<pp>.csv and fsood/<pp>.csv from an
    `ishscale eval --save-score` run's scores under out/scores/. FS-OOD counts the csid sets as ID: for every OOD set, ID = ID test followed by
    every csid set. ACC comes from the plain network prediction, read from plain_pp's pred.npy (msp or mls,
    whose pred is the argmax of the logits), pooled over ID test and the csid sets. Prints 'pp mode row
    fpr auroc aupr_in aupr_out acc' lines (x100), then 'pp fsood_acc v' and 'pp csid_acc name v'."""
    for pp in pps:
        _fsood_check_one(out, pp, plain_pp, id_name, csid, near, far)


def _fsood_check_one(out, pp, plain_pp, id_name, csid, near, far):
    def load(p, split, name, what):
        return np.load(os.path.join(out, "scores", p, split, name, what + ".npy"))

    id_parts = [("id", id_name)] + [("csid", c) for c in csid]
    for mode, parts in (("ood", id_parts[:1]), ("fsood", id_parts)):
        conf_in = np.concatenate([load(pp, s, n, "conf").astype(np.float64) for s, n in parts])
        gt_in = np.concatenate([load(pp, s, n, "gt").astype(np.int64) for s, n in parts])
        plain_in = np.concatenate([load(plain_pp, s, n, "pred").astype(np.int64) for s, n in parts])
        for split, names, mean_row in (("near", near, "nearood"), ("far", far, "farood")):
            rows = []
            for n in names:
                c = load(pp, split, n, "conf").astype(np.float64)
                conf = np.concatenate([conf_in, c])
                label = np.concatenate([gt_in, -np.ones(len(c), np.int64)])
                pred = np.concatenate([plain_in, load(pp, split, n, "pred").astype(np.int64)])
                rows.append(compute_all_metrics(conf, label, pred))
                print(pp, mode, n, " ".join(repr(float(100 * v)) for v in rows[-1]))
            if rows:
                print(pp, mode, mean_row, " ".join(repr(float(100 * v)) for v in np.mean(rows, axis=0)))
        if mode == "fsood":
            print(pp, "fsood_acc", repr(float(100 * np.mean(plain_in == gt_in))))
    for c in csid:
        print(pp, "csid_acc", c, repr(float(100 * np.mean(load(plain_pp, "csid", c, "pred") == load(plain_pp, "csid", c, "gt")))))


if __name__ == "__main__":
    import sys
    if len(sys.argv) == 3 and sys.argv[1] == "adascale-check":
        adascale_check(sys.argv[2])
    elif len(sys.argv) == 9 and sys.argv[1] == "fsood-check":
        lst = lambda t: [x for x in t.split(",") if x]  # noqa: E731
        fsood_check(sys.argv[2], lst(sys.argv[3]), sys.argv[4], sys.argv[5], lst(sys.argv[6]), lst(sys.argv[7]), lst(sys.argv[8]))
    else:
        sys.exit("usage: ood_reference.py adascale-check DIR\n"
                 "       ood_reference.py fsood-check OUT PP,.. PLAIN_PP ID_NAME CSID,.. NEAR,.. FAR,..")
