"""Learning-rate and momentum schedules as plain functions of the iteration.

Explained in chapter 1 (cyclical learning rates) and chapter 2 (1cycle). Every function takes an
iteration ``it`` (an int, or a NumPy array of them) and returns the value(s) at that iteration,
so a schedule can be plotted, tested and fed to any optimiser. :class:`Scheduler` drives a plain
PyTorch optimiser with them; :class:`CyclicLRCallback` drives a fastai ``Learner``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from fastai.callback.core import Callback

CLR_MODES = ("triangular", "triangular2", "exp_range")
ANNEALS = ("cos", "linear")
CONVENTIONS = ("fastai", "torch")


# --- checks: every bad value names the parameter and what is accepted ----------------------

def _positive(name, value):
    if not (isinstance(value, (int, float, np.floating, np.integer)) and value > 0
            and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive number; got {value!r}")


def _momentum(name, value):
    if not (isinstance(value, (int, float, np.floating, np.integer)) and 0 <= value < 1):
        raise ValueError(f"{name} must be in [0, 1); got {value!r}")


def _choice(name, value, accepted):
    if value not in accepted:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, accepted))}; got {value!r}")


def _iterations(it, total_steps=None):
    """``it`` as a float array, checked to lie in [0, total_steps)."""
    arr = np.asarray(it)
    if arr.dtype.kind not in "iuf" or not np.all(np.isfinite(arr)):
        raise ValueError(f"it must be an iteration number or an array of them; got {it!r}")
    upper = f", {total_steps})" if total_steps is not None else ", inf)"
    if np.any(arr < 0) or (total_steps is not None and np.any(arr >= total_steps)):
        raise ValueError(f"it must lie in [0{upper}; got values from {arr.min()} to {arr.max()}")
    return arr.astype(np.float64)


def _out(arr, it):
    return float(arr) if np.ndim(it) == 0 else arr


# --- cyclical learning rates (Smith 2017), chapter 1 ---------------------------------------

def _clr_scale(it, step_size, mode, gamma):
    """Where in its triangle iteration ``it`` is (0 at the bottom, 1 at the top) and how much of
    the full amplitude the policy allows there. Smith (2017), section 3.1."""
    cycle = np.floor(1 + it / (2 * step_size))
    x = np.abs(it / step_size - 2 * cycle + 1)
    height = np.maximum(0.0, 1 - x)
    if mode == "triangular2":
        height = height / 2.0 ** (cycle - 1)  # the amplitude halves every cycle
    elif mode == "exp_range":
        height = height * gamma**it  # the amplitude decays with every iteration
    return height


def _check_clr(low_name, low, high_name, high, step_size, mode, gamma):
    _choice("mode", mode, CLR_MODES)
    if not (isinstance(step_size, (int, np.integer)) and step_size > 0):
        raise ValueError(f"step_size must be a positive integer (iterations in half a cycle); "
                         f"got {step_size!r}")
    if not (isinstance(gamma, (int, float)) and 0 < gamma <= 1):
        raise ValueError(f"gamma must be in (0, 1]; got {gamma!r}")
    if low > high:
        raise ValueError(f"{low_name} ({low}) must not exceed {high_name} ({high})")


def cyclic_lr(it, base_lr: float, max_lr: float, step_size: int, mode: str = "triangular",
              gamma: float = 1.0):
    """Smith's cyclical learning rate at iteration ``it``; chapter 1.

    The LR climbs linearly from ``base_lr`` to ``max_lr`` over ``step_size`` iterations and
    falls back over the next ``step_size``. ``mode``: ``"triangular"`` (constant amplitude),
    ``"triangular2"`` (amplitude halved each cycle) or ``"exp_range"`` (amplitude times
    ``gamma**it``). Equals ``torch.optim.lr_scheduler.CyclicLR`` with ``step_size_up=step_size``.
    """
    _positive("base_lr", base_lr)
    _positive("max_lr", max_lr)
    _check_clr("base_lr", base_lr, "max_lr", max_lr, step_size, mode, gamma)
    its = _iterations(it)
    return _out(base_lr + (max_lr - base_lr) * _clr_scale(its, step_size, mode, gamma), it)


def cyclic_momentum(it, base_mom: float = 0.8, max_mom: float = 0.9, step_size: int = 2000,
                    mode: str = "triangular", gamma: float = 1.0):
    """The momentum that goes with :func:`cyclic_lr`: at ``max_mom`` when the LR is lowest and
    at ``base_mom`` when it is highest (chapter 1). Equals ``CyclicLR``'s ``cycle_momentum``."""
    _momentum("base_mom", base_mom)
    _momentum("max_mom", max_mom)
    _check_clr("base_mom", base_mom, "max_mom", max_mom, step_size, mode, gamma)
    its = _iterations(it)
    return _out(max_mom - (max_mom - base_mom) * _clr_scale(its, step_size, mode, gamma), it)


# --- 1cycle (Smith 2018; Smith & Topin 2017), chapter 2 ------------------------------------

def _anneal(start, end, pct, kind):
    if kind == "cos":  # half a cosine: flat at both ends, steepest in the middle
        return end + (start - end) / 2 * (np.cos(np.pi * pct) + 1)
    return start + (end - start) * pct


def one_cycle(it, total_steps: int, max_lr: float, pct_start: float = 0.25, div: float = 25.0,
              div_final: float = 1e5, anneal: str = "cos", three_phase: bool = False,
              moms=(0.95, 0.85, 0.95), convention: str = "fastai"):
    """The 1cycle learning rate and momentum at iteration ``it``: returns ``(lr, mom)``.

    Explained in chapter 2. Three variants of the same idea:

    ========== ==================================================================================
    Smith      (2018, section 4.1) Two equal linear steps, ``max_lr/div`` up to ``max_lr`` and
               back down, then a short final phase that "annihilates" the LR far below the start;
               momentum falls while the LR rises. Here: ``three_phase=True, anneal="linear"``
               with ``pct_start`` a bit under 0.5.
    fastai     (``fit_one_cycle``) Two cosine phases: ``max_lr/div`` up to ``max_lr`` over the
               first ``pct_start`` (0.25) of training, then down to ``max_lr/div_final``;
               momentum 0.95 -> 0.85 -> 0.95. Position is ``it / total_steps``.
    PyTorch    (``OneCycleLR``) The same shapes, two or three phases, but the phases end on
               steps ``pct_start * total_steps - 1`` (and ``2 * pct_start * total_steps - 2``)
               and the last step is ``total_steps - 1``, so the LR really reaches its minimum.
               Its ``final_div_factor`` divides ``max_lr/div_factor``; here
               ``div_final = div_factor * final_div_factor``.
    ========== ==================================================================================

    ``convention`` (``"fastai"`` or ``"torch"``) chooses whose step indexing to follow; with the
    same parameters the two differ by at most one step's worth of schedule. ``moms`` is
    ``(start, middle, end)`` momentum; with three phases momentum stays at ``end`` in the last.
    """
    _positive("total_steps", total_steps)
    if not isinstance(total_steps, (int, np.integer)):
        raise ValueError(f"total_steps must be a positive integer; got {total_steps!r}")
    _positive("max_lr", max_lr)
    _positive("div", div)
    _positive("div_final", div_final)
    _choice("anneal", anneal, ANNEALS)
    _choice("convention", convention, CONVENTIONS)
    if not (isinstance(pct_start, (int, float)) and 0 < pct_start < 1):
        raise ValueError(f"pct_start must be in (0, 1); got {pct_start!r}")
    if three_phase and pct_start >= 0.5:
        raise ValueError(f"pct_start must be below 0.5 with three_phase=True (the LR goes up and "
                         f"down in 2 * pct_start of training); got {pct_start!r}")
    if len(moms) != 3:
        raise ValueError(f"moms must be three momenta (start, middle, end); got {moms!r}")
    for name, m in zip(("moms[0]", "moms[1]", "moms[2]"), moms):
        _momentum(name, m)
    its = _iterations(it, total_steps)

    lo, hi, final = max_lr / div, max_lr, max_lr / div_final
    m0, m1, m2 = moms
    if three_phase:
        phases = [(pct_start, lo, hi, m0, m1), (2 * pct_start, hi, lo, m1, m2),
                  (1.0, lo, final, m2, m2)]
    else:
        phases = [(pct_start, lo, hi, m0, m1), (1.0, hi, final, m1, m2)]

    if convention == "fastai":  # position in [0, 1); a phase ends at a fraction of training
        pos, ends = its / total_steps, [p[0] for p in phases]
    else:  # torch: phase k ends on step pct * total_steps - k, the last on total_steps - 1
        pos = its
        ends = [float(p[0] * total_steps) - (k + 1) for k, p in enumerate(phases[:-1])]
        ends.append(total_steps - 1)
    lr, mom = np.empty_like(pos), np.empty_like(pos)
    start = 0.0
    done = np.zeros(pos.shape, dtype=bool)
    for k, ((_, a, b, ma, mb), end) in enumerate(zip(phases, ends)):
        last = k == len(phases) - 1
        here = ~done & ((pos < end) if convention == "fastai" else (pos <= end))
        if last:
            here = ~done
        pct = (pos[here] - start) / (end - start)
        lr[here] = _anneal(a, b, pct, anneal)
        mom[here] = _anneal(ma, mb, pct, anneal)
        done |= here
        start = end
    return _out(lr, it), _out(mom, it)


def piecewise_constant(it, total_steps: int, lr: float, milestones=(0.5, 0.75),
                       factor: float = 0.1):
    """The classic baseline of chapter 2: ``lr``, multiplied by ``factor`` each time training
    passes one of the ``milestones`` (fractions of ``total_steps``). Equals PyTorch's
    ``MultiStepLR`` with ``milestones=[int(m * total_steps) for m in milestones]``."""
    if not isinstance(total_steps, (int, np.integer)) or total_steps < 1:
        raise ValueError(f"total_steps must be a positive integer; got {total_steps!r}")
    _positive("lr", lr)
    _positive("factor", factor)
    if any(not 0 < m < 1 for m in milestones) or list(milestones) != sorted(milestones):
        raise ValueError(f"milestones must be increasing fractions of training in (0, 1); "
                         f"got {milestones!r}")
    its = _iterations(it, total_steps)
    steps = np.array([int(m * total_steps) for m in milestones])
    passed = (its[..., None] >= steps).sum(-1)
    return _out(lr * factor**passed, it)


# --- driving an optimiser ------------------------------------------------------------------

def set_momentum(group: dict, mom: float) -> None:
    """Momentum for SGD/RMSprop, ``beta1`` for Adam/AdamW: the knob 1cycle cycles."""
    if "betas" in group:
        group["betas"] = (mom, *group["betas"][1:])
    elif "momentum" in group:
        group["momentum"] = mom
    else:
        raise ValueError("this optimiser has neither 'momentum' nor 'betas' to schedule; "
                         "pass mom_fn=None")


class Scheduler:
    """Drives a PyTorch optimiser with schedule functions of the iteration (chapter 1).

    ``lr_fn(it)`` gives the learning rate and ``mom_fn(it)`` (optional) the momentum; for
    :func:`one_cycle`, which returns both, pass ``fn=`` instead. The values for iteration 0 are
    set at construction; call :meth:`step` after every ``optimizer.step()``, as with PyTorch's
    own schedulers. ``state_dict`` lets a resumed run continue where it stopped.
    """

    def __init__(self, optimizer, lr_fn: Callable | None = None, mom_fn: Callable | None = None,
                 fn: Callable | None = None):
        if (fn is None) == (lr_fn is None):
            raise ValueError("give either lr_fn (and optionally mom_fn) or fn returning (lr, mom)")
        self.optimizer, self.lr_fn, self.mom_fn, self.fn = optimizer, lr_fn, mom_fn, fn
        self.it = 0
        self._apply()

    def values(self, it: int):
        if self.fn is not None:
            return self.fn(it)
        return self.lr_fn(it), (self.mom_fn(it) if self.mom_fn else None)

    def _apply(self):
        lr, mom = self.values(self.it)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
            if mom is not None:
                set_momentum(group, mom)
        self.last_lr, self.last_mom = lr, mom

    def step(self):
        self.it += 1
        self._apply()

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        return {"it": self.it}

    def load_state_dict(self, state):
        self.it = state["it"]
        self._apply()


class CyclicLRCallback(Callback):
    """Smith's CLR policies for ``learn.fit(...)`` (fastai has none of its own); chapter 1.

    Sets the LR (and, with ``base_mom``/``max_mom``, the momentum) of every parameter group
    before each training batch, from :func:`cyclic_lr` at the global training iteration.
    """

    order = 60  # after fastai's own hyper-parameter setters, so these values win

    def __init__(self, base_lr: float, max_lr: float, step_size: int, mode: str = "triangular",
                 gamma: float = 1.0, base_mom: float | None = None, max_mom: float | None = None):
        cyclic_lr(0, base_lr, max_lr, step_size, mode, gamma)  # check the arguments now
        self.clr = dict(base_lr=base_lr, max_lr=max_lr, step_size=step_size, mode=mode,
                        gamma=gamma)
        self.moms = None if base_mom is None else (base_mom, max_mom)
        if self.moms:
            cyclic_momentum(0, base_mom, max_mom, step_size, mode, gamma)

    def before_batch(self):
        if not self.training:
            return
        it = self.train_iter
        self.opt.set_hyper("lr", cyclic_lr(it, **self.clr))
        if self.moms:
            self.opt.set_hyper("mom", cyclic_momentum(it, *self.moms, self.clr["step_size"],
                                                      self.clr["mode"], self.clr["gamma"]))
