"""The learning-rate range test, in plain PyTorch; explained in chapter 1.

Train for a few hundred iterations while the learning rate grows from tiny to huge, and watch the
loss: where it falls fastest, where it bottoms out, where it explodes. Smith (2017, section 3.3)
ran it with a linearly growing LR and read validation accuracy; fastai's ``lr_find`` grows the
LR exponentially and reads the (smoothed) training loss. :func:`lr_range_test` does both.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch

from .train import autocast_for, evaluate

MODES = ("exp", "linear")


@dataclass
class RangeTestResult:
    """What a range test recorded, one entry per optimiser step, and what it suggests."""

    lrs: np.ndarray
    losses: np.ndarray  # raw training loss of each step (NaN/inf kept as recorded)
    smoothed: np.ndarray  # debiased exponential moving average of the finite losses
    val_lrs: np.ndarray = field(default_factory=lambda: np.array([]))
    val_losses: np.ndarray = field(default_factory=lambda: np.array([]))
    val_accs: np.ndarray = field(default_factory=lambda: np.array([]))
    stop_reason: str = "completed"
    nonfinite: list = field(default_factory=list)  # (iteration, lr, loss) of NaN/inf losses
    suggestions: dict = field(default_factory=dict)

    @property
    def valley(self):
        return self.suggestions.get("valley")

    @property
    def steep(self):
        return self.suggestions.get("steep")

    @property
    def minimum(self):
        return self.suggestions.get("minimum")

    @property
    def base_lr(self):
        return self.suggestions.get("base_lr")

    @property
    def max_lr(self):
        return self.suggestions.get("max_lr")

    def plot(self, ax=None, show_suggestions: bool = True):
        """Loss against learning rate (log scale), suggestions marked; with validation data, a
        second panel of validation accuracy against learning rate, as Smith plotted it."""
        import matplotlib.pyplot as plt

        two = len(self.val_lrs) > 0
        if ax is None:
            fig, axes = plt.subplots(1, 2 if two else 1, figsize=(11 if two else 6, 4),
                                     squeeze=False)
            ax = axes[0, 0]
        else:
            fig, axes = ax.figure, None
        ok = np.isfinite(self.losses)
        ax.plot(self.lrs[ok], self.losses[ok], color="0.75", lw=1, label="loss")
        ax.plot(self.lrs[: len(self.smoothed)], self.smoothed, lw=2, label="smoothed loss")
        if show_suggestions:
            for (name, lr), marker in zip(
                    [(k, self.suggestions.get(k)) for k in ("valley", "steep", "minimum")],
                    "o^s"):
                if lr:
                    y = np.interp(np.log(lr), np.log(self.lrs[: len(self.smoothed)]),
                                  self.smoothed)
                    ax.plot([lr], [y], marker, ms=8, label=f"{name}: {lr:.2g}")
            if self.base_lr:
                ax.axvspan(self.base_lr, self.max_lr, color="C2", alpha=0.12,
                           label=f"CLR bounds {self.base_lr:.2g}-{self.max_lr:.2g}")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss")
        finite = self.smoothed[np.isfinite(self.smoothed)]
        if len(finite):
            ax.set_ylim(finite.min() - 0.1 * abs(finite.min()), 1.5 * finite[0] + 0.1)
        ax.set_title(f"LR range test ({self.stop_reason})")
        ax.legend(fontsize=8)
        if two and axes is not None:
            a2 = axes[0, 1]
            a2.plot(self.val_lrs, self.val_accs, "o-")
            a2.set_xscale("log")
            a2.set_xlabel("learning rate")
            a2.set_ylabel("validation accuracy")
            a2.set_title("Smith's test: validation accuracy")
        fig.tight_layout()
        return fig


def lr_schedule(num_it: int, start_lr: float, end_lr: float, mode: str = "exp") -> np.ndarray:
    """The LR of each of ``num_it`` steps: ``start_lr * (end_lr/start_lr)**(i/num_it)`` for
    ``"exp"`` (fastai's grid, which stops one step short of ``end_lr``), or a straight line for
    ``"linear"`` (Smith's)."""
    frac = np.arange(num_it) / num_it
    if mode == "exp":
        return start_lr * (end_lr / start_lr) ** frac
    return start_lr + (end_lr - start_lr) * frac


def _check(start_lr, end_lr, num_it, mode, diverge_th, accum_steps, smooth):
    for name, v in (("start_lr", start_lr), ("end_lr", end_lr)):
        if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be a positive number; got {v!r}")
    if start_lr >= end_lr:
        raise ValueError(f"start_lr ({start_lr}) must be below end_lr ({end_lr})")
    if not (isinstance(num_it, int) and num_it >= 2):
        raise ValueError(f"num_it must be an integer >= 2; got {num_it!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be 'exp' or 'linear'; got {mode!r}")
    if not (isinstance(diverge_th, (int, float)) and diverge_th > 1):
        raise ValueError(f"diverge_th must be a number above 1; got {diverge_th!r}")
    if not (isinstance(accum_steps, int) and accum_steps >= 1):
        raise ValueError(f"accum_steps must be a positive integer; got {accum_steps!r}")
    if not (isinstance(smooth, (int, float)) and 0 <= smooth < 1):
        raise ValueError(f"smooth must be in [0, 1); got {smooth!r}")


def _batches(loader):
    """Batches forever: the test may need more iterations than one epoch has."""
    while True:
        empty = True
        for b in loader:
            empty = False
            yield b
        if empty:
            raise ValueError("train_loader yielded no batch")


def lr_range_test(model, train_loader, loss_func=None, opt_func=None, start_lr: float = 1e-7,
                  end_lr: float = 10.0, num_it: int = 100, mode: str = "exp", val_loader=None,
                  eval_every: int | None = None, smooth: float = 0.98, diverge_th: float = 4.0,
                  restore: bool = True, accum_steps: int = 1, amp: bool = False,
                  progress: bool = True) -> RangeTestResult:
    """Run the LR range test and return a :class:`RangeTestResult`; chapter 1.

    ``opt_func(params, lr)`` builds the optimiser (default: SGD with momentum 0.9), or pass an
    existing optimiser. The LR grows over ``num_it`` optimiser steps, each of ``accum_steps``
    batches (gradient accumulation). It stops as soon as the smoothed loss exceeds
    ``diverge_th`` times its best or a loss is not finite. With ``val_loader`` it also measures
    validation loss and accuracy every ``eval_every`` steps (Smith's original test). With
    ``restore`` the model and optimiser are put back exactly as they were, also when the test
    stops early or raises. ``amp`` uses mixed precision on CUDA.
    """
    _check(start_lr, end_lr, num_it, mode, diverge_th, accum_steps, smooth)
    loss_func = loss_func or torch.nn.CrossEntropyLoss()
    device = next(model.parameters()).device
    if isinstance(opt_func, torch.optim.Optimizer):
        opt = opt_func
    else:
        opt = (opt_func or partial(torch.optim.SGD, momentum=0.9))(model.parameters(),
                                                                   lr=start_lr)
    if val_loader is not None and eval_every is None:
        eval_every = max(1, num_it // 20)
    saved = (copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict()), model.training)
    autocast, scaler = autocast_for(device, amp)
    lrs = lr_schedule(num_it, start_lr, end_lr, mode)
    rec = dict(losses=[], smoothed=[], val=[], nonfinite=[])
    reason = "completed"
    try:
        model.train()
        batches = _batches(train_loader)
        steps = range(num_it)
        if progress:
            from fastprogress.fastprogress import progress_bar

            steps = progress_bar(steps, leave=False)
        avg, best = 0.0, math.inf
        for i in steps:
            for g in opt.param_groups:
                g["lr"] = float(lrs[i])
            loss = _one_step(model, opt, batches, loss_func, device, accum_steps, autocast,
                             scaler)
            rec["losses"].append(loss)
            if not math.isfinite(loss):
                rec["nonfinite"].append((i, float(lrs[i]), loss))
                reason = f"stopped at step {i}: loss is {loss}"
                break
            avg = smooth * avg + (1 - smooth) * loss
            s = avg / (1 - smooth ** (i + 1))  # debiased, as fastai's AvgSmoothLoss
            rec["smoothed"].append(s)
            best = min(best, s)
            if val_loader is not None and (i % eval_every == 0 or i == num_it - 1):
                v = evaluate(model, val_loader, loss_func, autocast)
                rec["val"].append((float(lrs[i]), v["valid_loss"], v["top1"]))
            if s > diverge_th * best:
                reason = f"stopped at step {i}: smoothed loss above {diverge_th:g}x its best"
                break
    finally:
        if restore:
            model.load_state_dict(saved[0])
            opt.load_state_dict(saved[1])
            model.train(saved[2])
    val = np.array(rec["val"]).reshape(-1, 3)
    res = RangeTestResult(lrs=lrs[: len(rec["losses"])], losses=np.array(rec["losses"]),
                          smoothed=np.array(rec["smoothed"]), val_lrs=val[:, 0],
                          val_losses=val[:, 1], val_accs=val[:, 2], stop_reason=reason,
                          nonfinite=rec["nonfinite"])
    res.suggestions = suggest(res.lrs[: len(res.smoothed)], res.smoothed, res.val_lrs,
                              res.val_accs)
    return res


def _one_step(model, opt, batches, loss_func, device, accum_steps, autocast, scaler) -> float:
    """One optimiser step over ``accum_steps`` batches; returns the mean loss."""
    opt.zero_grad(set_to_none=True)
    total = 0.0
    for _ in range(accum_steps):
        xb, yb = next(batches)
        xb, yb = xb.to(device), yb.to(device)
        with autocast():
            loss = loss_func(model(xb), yb) / accum_steps
        (scaler.scale(loss) if scaler else loss).backward()
        total += loss.float().item()
    if math.isfinite(total):
        if scaler:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
    return total


# --- reading the curve ---------------------------------------------------------------------

def _longest_descent(y: np.ndarray) -> tuple[int, int]:
    """Where the longest decreasing run of ``y`` ends, and how many points fall on it.

    The run need not be contiguous (noise makes the loss tick up now and then), so it is found
    by dynamic programming: ``length[i]`` is the longest descent that ends at point ``i``.
    """
    length = np.ones(len(y), dtype=int)
    for i in range(1, len(y)):
        higher = y[:i] > y[i]
        if higher.any():
            length[i] = length[:i][higher].max() + 1
    end = int(length.argmax())
    return end, int(length[end])


def suggest(lrs, smoothed, val_lrs=(), val_accs=()) -> dict:
    """Learning rates read off a range test; explained in chapter 1.

    - ``valley``: fastai's default. The longest descent of the smoothed loss has ``L`` falling
      points and ends at its bottom; the valley is taken as the ``L`` points before that bottom,
      and the suggestion is its middle: well inside the region where the loss falls;
    - ``steep``: where the smoothed loss falls fastest per decade of LR;
    - ``minimum``: one tenth of the LR at the lowest smoothed loss;
    - ``max_lr`` / ``base_lr``: Smith's CLR bounds. ``max_lr`` is the largest LR that still
      trains well (best validation accuracy when measured, else the loss minimum) and
      ``base_lr`` a quarter of it, the rule of thumb of Smith (2017, section 3.3).

    The first tenth of the curve (the moving average still warming up) and the last five
    points (already diverging) are left out, as fastai does. Non-finite points never enter.
    """
    lrs, y = np.asarray(lrs, dtype=float), np.asarray(smoothed, dtype=float)
    keep = np.isfinite(y)
    lrs, y = lrs[keep], y[keep]
    lo, hi = len(y) // 10, len(y) - 5
    if hi - lo < 3:
        return {}
    lrs, y = lrs[lo:hi], y[lo:hi]
    end, length = _longest_descent(y)
    slope = np.diff(y) / np.diff(np.log(lrs))
    out = {"valley": float(lrs[max(0, end - length // 2)]),
           "steep": float(lrs[int(slope.argmin())]),
           "minimum": float(lrs[int(y.argmin())] / 10)}
    if len(val_accs):
        top = float(np.asarray(val_lrs)[int(np.argmax(val_accs))])
    else:
        top = float(lrs[int(y.argmin())])
    out.update(max_lr=top, base_lr=top / 4)
    return out
