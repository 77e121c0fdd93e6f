"""A linear head on the pooled representation: multinomial logistic regression, fitted with L-BFGS.

Loss: the mean cross-entropy plus lam/2 * |W|^2 on standardized features (scikit-learn's
LogisticRegression(C) is lam = 1 / (C * n)). lam is chosen by stratified k-fold
cross-validation (lowest held-out log-loss), and the accuracy reported is that of the
held-out folds: an estimate for photos the head has not seen. The final head is fitted on all
photos and folded back to the raw features, so it drops into the model's own layer as it is.

The fits run in the span of the photos (an SVD of the standardized features): the penalized optimum
always lies there, so the answer is the same, with min(photos, features) columns instead of features.
"""

from dataclasses import dataclass

import numpy as np
import torch

LAMBDAS = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4)  # strongest first: each fit starts from the last

MAX_FOLDS = 5
_MAX_ITER = 150


@dataclass
class Head:
    weight: np.ndarray  # (classes, features), for the raw features
    bias: np.ndarray  # (classes,)
    lam: float
    folds: int
    held_out: np.ndarray  # each photo's class predicted by the fold that did not see it


def stratified_folds(labels, folds, seed=0):
    """Each sample's fold: every class dealt round-robin over the folds after a fixed shuffle."""
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        # Each class starts where the last one ended, so small classes do not all crowd fold 0.
        assignment[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)
    return assignment


def fit(features, labels, classes, lam, start=None):
    """(weight, bias) minimising mean cross-entropy + lam/2 |W|^2 (float64 tensors); features standardized."""
    x = torch.as_tensor(features, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.int64)
    weight = torch.zeros(classes, x.shape[1], dtype=torch.float64) if start is None else start[0].clone()
    bias = torch.zeros(classes, dtype=torch.float64) if start is None else start[1].clone()
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=_MAX_ITER, tolerance_grad=1e-6, tolerance_change=1e-9,
                                  history_size=20, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ weight.T + bias, y) + lam / 2 * (weight * weight).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return weight.detach(), bias.detach()


def teach(features, labels, classes):
    """The Head for these rows (N, D) and class indices (N,), lam chosen by cross-validation."""
    # Matrices this small gain nothing from threads, and on a busy machine their waits cost 100x.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _teach(features, labels, classes)
    finally:
        torch.set_num_threads(threads)


def _teach(features, labels, classes):
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-8] = 1.0  # a feature that never changes carries nothing; left as it is
    standard = (features - mean) / scale
    _, singular, basis = np.linalg.svd(standard, full_matrices=False)
    keep = singular > singular[0] * 1e-10 if len(singular) else singular > 0
    basis = basis[keep]  # (rank, D): the span of the photos
    reduced = standard @ basis.T
    smallest = np.bincount(labels, minlength=classes).min()
    folds = min(MAX_FOLDS, max(2, int(smallest)))
    assignment = stratified_folds(labels, folds)
    best, starts = None, [None] * folds
    for lam in LAMBDAS:
        loss, predicted, starts = _cross_validate(reduced, labels, classes, lam, assignment, folds, starts)
        if best is None or loss < best[0] - 1e-9:
            best = (loss, lam, predicted)
    _, lam, held_out = best
    weight, bias = fit(reduced, labels, classes, lam)
    weight, bias = weight.numpy() @ basis, bias.numpy()
    # w . (x - m) / s + b = (w / s) . x + (b - (w / s) . m): the same scores from the raw features.
    raw_weight = weight / scale
    raw_bias = bias - raw_weight @ mean
    return Head(raw_weight.astype(np.float32), raw_bias.astype(np.float32), lam, folds, held_out)


def _cross_validate(reduced, labels, classes, lam, assignment, folds, starts):
    """(mean held-out log-loss, held-out predictions, each fold's solution) for one lam."""
    total, predicted, solutions = 0.0, np.empty(len(labels), dtype=np.int64), []
    for fold in range(folds):
        train, test = assignment != fold, assignment == fold
        weight, bias = fit(reduced[train], labels[train], classes, lam, starts[fold])
        solutions.append((weight, bias))
        logits = torch.as_tensor(reduced[test]) @ weight.T + bias
        total += torch.nn.functional.cross_entropy(logits, torch.as_tensor(labels[test]), reduction="sum").item()
        predicted[test] = logits.argmax(dim=1).numpy()
    return total / len(labels), predicted, solutions
