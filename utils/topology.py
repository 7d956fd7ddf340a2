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

from .train import _loaders, evaluate


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


def recompute_bn_statistics(model, loader, batches: int | None = None) -> None:
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


def _measure(model, train, valid, recompute_bn: bool, bn_batches, loss_func) -> dict:
    """Losses and accuracies of the weights the model holds now, one point of a sweep.

    A NaN or infinite loss is stored as NaN (drawn as a gap) with ``finite`` False."""
    if recompute_bn:
        recompute_bn_statistics(model, train, bn_batches)
    tr, va = _safe_eval(model, train, loss_func), _safe_eval(model, valid, loss_func)
    row = {"train_loss": tr["valid_loss"], "train_acc": tr["top1"],
           "valid_loss": va["valid_loss"], "valid_acc": va["top1"]}
    row["finite"] = bool(np.isfinite(row["train_loss"]) and np.isfinite(row["valid_loss"]))
    for k in ("train_loss", "valid_loss"):
        if not np.isfinite(row[k]):
            row[k] = math.nan
    return row


def interpolate(model, state_a: dict, state_b: dict, alphas, loaders,
                recompute_bn: bool = True, bn_batches: int | None = 20, loss_func=None,
                progress: bool = True):
    """Train and validation loss and accuracy along the line from ``state_a`` to ``state_b``.

    ``loaders`` is ``(train_loader, valid_loader)``, or fastai ``DataLoaders``; the training
    loader should not augment, so that its loss is the training objective. Returns a DataFrame
    with columns ``alpha, train_loss, train_acc, valid_loss, valid_acc, finite``; a NaN or
    infinite loss is stored as NaN with ``finite`` False, and the sweep goes on. The model is
    left holding ``state_a``. See chapter 3.
    """
    import pandas as pd

    train, valid = _loaders(loaders)
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
        rows.append({"alpha": float(alpha),
                     **_measure(model, train, valid, recompute_bn, bn_batches, loss_func)})
    model.load_state_dict(state_a)
    return pd.DataFrame(rows)


def _filter_normalised(direction: dict, origin: dict) -> dict:
    """Li et al. (2018): scale the direction filter by filter (each output channel of a weight
    tensor) to the norm of the same filter in the origin, so that the plot's scale means the same
    for every layer whatever its size; 1-d tensors (biases, BatchNorm) get no direction."""
    out = {}
    for k, d in direction.items():
        w = origin[k]
        if not d.is_floating_point() or d.ndim <= 1:
            out[k] = torch.zeros_like(d)
            continue
        shape = (-1,) + (1,) * (d.ndim - 1)  # one norm per filter (output channel)
        per_filter = d.reshape(len(d), -1).norm(dim=1).reshape(shape)
        out[k] = d * w.float().reshape(len(w), -1).norm(dim=1).reshape(shape) / (per_filter + 1e-10)
    return out


def _flat(state: dict, keys) -> torch.Tensor:
    return torch.cat([state[k].float().reshape(-1) for k in keys])


def loss_plane(model, states, loaders, steps: int = 5, margin: float = 0.3,
               bn_batches: int | None = 10, loss_func=None, progress: bool = True):
    """Losses on a 2-d slice of weight space through three solutions; chapter 3.

    The plane is centred on ``states[0]``, spanned by ``states[1] - states[0]`` and
    ``states[2] - states[0]`` made orthogonal and then filter-normalised as in Li et al. (2018).
    Because filter normalisation rescales each filter, solutions 1 and 2 no longer lie exactly in
    the plane; they are marked at their projections onto it. Returns ``(grid, marks)``: a
    DataFrame of ``u, v`` and the columns of :func:`interpolate` on a ``steps`` x ``steps``
    grid wide enough to hold the three marks (plus ``margin``), and a DataFrame of the marks'
    ``u, v``.
    """
    import pandas as pd

    if len(states) != 3:
        raise ValueError(f"states must hold exactly three solutions; got {len(states)}")
    if not (isinstance(steps, int) and steps >= 2):
        raise ValueError(f"steps must be an integer >= 2; got {steps!r}")
    o = states[0]
    floats = [k for k, v in o.items() if v.is_floating_point() and "running_" not in k]
    d1 = {k: states[1][k].float() - o[k].float() for k in floats}
    d2 = {k: states[2][k].float() - o[k].float() for k in floats}
    f1 = _flat(d1, floats)
    coef = (_flat(d2, floats) @ f1) / (f1 @ f1)
    d2 = {k: d2[k] - coef * d1[k] for k in floats}  # Gram-Schmidt: d2 orthogonal to d1
    d1, d2 = _filter_normalised(d1, o), _filter_normalised(d2, o)
    basis = torch.stack([_flat(d1, floats), _flat(d2, floats)], 1)

    def coords(state):
        delta = _flat({k: state[k].float() - o[k].float() for k in floats}, floats)
        return torch.linalg.lstsq(basis, delta[:, None]).solution.ravel().tolist()

    marks = pd.DataFrame([coords(s) for s in states], columns=["u", "v"])
    lo = marks.min() - margin * (marks.max() - marks.min()).max()
    hi = marks.max() + margin * (marks.max() - marks.min()).max()
    us, vs = np.linspace(lo.u, hi.u, steps), np.linspace(lo.v, hi.v, steps)
    train, valid = _loaders(loaders)
    points = [(u, v) for v in vs for u in us]
    if progress:
        from fastprogress.fastprogress import progress_bar

        points = progress_bar(points, leave=False)
    rows = []
    for u, v in points:
        state = {k: (o[k].float() + u * d1[k] + v * d2[k]).to(o[k].dtype) if k in d1
                 else o[k].clone() for k in o}
        model.load_state_dict(state)
        rows.append({"u": u, "v": v,
                     **_measure(model, train, valid, True, bn_batches, loss_func)})
    model.load_state_dict(o)
    return pd.DataFrame(rows), marks


def plot_plane(grid, marks, column: str = "valid_loss", ax=None, labels=None):
    """Contour plot (log-spaced levels) of a :func:`loss_plane` grid with the solutions marked."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    table = grid.pivot(index="v", columns="u", values=column)
    z = table.values
    finite = z[np.isfinite(z)]
    levels = np.geomspace(finite.min(), finite.max(), 15) if len(finite) > 1 else None
    cs = ax.contourf(table.columns, table.index, z, levels=levels, norm=LogNorm(), cmap="viridis")
    ax.figure.colorbar(cs, ax=ax, label=column.replace("_", " "))
    for i, (u, v) in enumerate(marks[["u", "v"]].itertuples(index=False)):
        ax.plot(u, v, "w*", ms=14, mec="k")
        ax.annotate(labels[i] if labels else f"solution {i}", (u, v), textcoords="offset points",
                    xytext=(6, 6), color="w")
    ax.set(xlabel="direction 1 (filter-normalised)", ylabel="direction 2 (filter-normalised)")
    return ax.figure


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
