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
