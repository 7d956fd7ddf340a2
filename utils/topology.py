"""What lies between two solutions: losses along a line (and a plane) in weight space.

Explained in chapter 3 (loss-function topology). :func:`interpolate` evaluates the network at
``w(alpha) = (1 - alpha) * w_a + alpha * w_b`` for a range of ``alpha`` (``alpha = 0`` is
solution *a*, ``1`` is solution *b*, outside ``[0, 1]`` extrapolates), recomputing BatchNorm's
running statistics at every point, and records non-finite losses instead of crashing.
:class:`Snapshots` takes the two solutions from a fastai training run.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from fastai.callback.core import Callback

from .train import evaluate


def blend(state_a: dict, state_b: dict, alpha: float) -> dict:
    """``(1 - alpha) * a + alpha * b`` for every floating-point tensor; integer buffers (such as
    BatchNorm's batch counter) are taken from ``a``."""
    if state_a.keys() != state_b.keys():
        missing = sorted(set(state_a) ^ set(state_b))
        raise ValueError(f"the two states do not belong to the same architecture; keys only in "
                         f"one of them: {missing[:5]}")
    return {k: (torch.lerp(a.float(), state_b[k].float(), alpha).to(a.dtype)
                if a.is_floating_point() else a.clone())
            for k, a in state_a.items()}


def recompute_bn(model, loader, batches: int | None = None) -> None:
    """Re-estimate every BatchNorm layer's running mean and variance from training batches.

    The running statistics stored with a solution describe *that* solution's activations; at an
    interpolated point they are wrong, so the loss would measure the mismatch rather than the
    weights. Resetting them and averaging over ``batches`` batches (all when ``None``) in
    training mode, without gradients, gives each point its own statistics. Weights are untouched.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [(m, m.momentum) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches seen, not an EMA
    device = next(model.parameters()).device
    was_training = model.training
    model.train()
    with torch.no_grad():
        for i, (xb, _) in enumerate(loader):
            if batches is not None and i >= batches:
                break
            model(xb.to(device))
    for m, momentum in saved:
        m.momentum = momentum
    model.train(was_training)


def _safe_eval(model, loader, loss_func) -> dict:
    try:
        out = evaluate(model, loader, loss_func)
    except (RuntimeError, FloatingPointError, ValueError) as e:  # overflow inside the network
        return {"valid_loss": math.nan, "top1": math.nan, "error": str(e)[:200]}
    return out


def interpolate(model, state_a: dict, state_b: dict, alphas, loaders, recompute_bn_stats=True,
                bn_batches: int | None = 20, loss_func=None, progress: bool = True):
    """Train and validation loss and accuracy along the line from ``state_a`` to ``state_b``.

    ``loaders`` is ``(train_loader, valid_loader)``, or fastai ``DataLoaders``; the training
    loader should not augment, so that its loss is the training objective. Returns a DataFrame
    with columns ``alpha, train_loss, train_acc, valid_loss, valid_acc, finite``; a NaN or
    infinite loss is stored as NaN with ``finite`` False, and the sweep goes on. The model is
    left holding ``state_a``. See chapter 3.
    """
    import pandas as pd

    train, valid = (loaders.train, loaders.valid) if hasattr(loaders, "train") else loaders
    alphas = np.asarray(alphas, dtype=float)
    if alphas.ndim != 1 or not len(alphas) or not np.all(np.isfinite(alphas)):
        raise ValueError(f"alphas must be a non-empty 1-d list of finite numbers; got {alphas!r}")
    rows = []
    steps = alphas
    if progress:
        from fastprogress.fastprogress import progress_bar

        steps = progress_bar(alphas, leave=False)
    for alpha in steps:
        model.load_state_dict(blend(state_a, state_b, float(alpha)))
        if recompute_bn_stats:
            recompute_bn(model, train, bn_batches)
        tr = _safe_eval(model, train, loss_func)
        va = _safe_eval(model, valid, loss_func)
        row = {"alpha": float(alpha), "train_loss": tr["valid_loss"], "train_acc": tr["top1"],
               "valid_loss": va["valid_loss"], "valid_acc": va["top1"]}
        row["finite"] = bool(np.isfinite(row["train_loss"]) and np.isfinite(row["valid_loss"]))
        for k in ("train_loss", "valid_loss"):
            if not np.isfinite(row[k]):
                row[k] = math.nan  # inf and NaN alike: drawn as a gap
        rows.append(row)
    model.load_state_dict(state_a)
    return pd.DataFrame(rows)


def plot_interpolation(df, ax=None, log=True, title=None):
    """Train and validation loss against alpha; non-finite points are gaps, marked with x at
    the bottom of the axis. Dotted verticals at the two solutions (alpha 0 and 1)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    ax.plot(df.alpha, df.train_loss, "o-", ms=3, label="train loss")
    ax.plot(df.alpha, df.valid_loss, "s-", ms=3, label="validation loss")
    bad = df[~df.finite]
    if len(bad):
        ax.plot(bad.alpha, np.full(len(bad), np.nanmin(df[["train_loss", "valid_loss"]].values)),
                "x", color="red", label=f"non-finite ({len(bad)})")
    for a in (0, 1):
        ax.axvline(a, ls=":", color="0.5")
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="alpha  (0: solution a, 1: solution b)", ylabel="cross-entropy loss",
           title=title or "loss along the line between two solutions")
    ax.legend(fontsize=8)
    return ax.figure


class Snapshots(Callback):
    """A fastai callback that keeps a copy of the weights at the end of chosen epochs
    (1-based), so the solutions of one training run can be compared without re-training::

        snaps = Snapshots(epochs=(5, 7))
        learn.fit_one_cycle(8, lr, cbs=snaps)
        snaps.states[5], snaps.states[7]
    """

    order = 70  # after the optimiser step and the recorder

    def __init__(self, epochs):
        self.epochs, self.states = set(epochs), {}

    def after_epoch(self):
        if self.epoch + 1 in self.epochs:
            self.states[self.epoch + 1] = {k: v.detach().cpu().clone()
                                           for k, v in self.model.state_dict().items()}
