"""A short training loop whose every step you can read; explained in chapter 2.

fastai's ``fit_one_cycle`` hides the mechanics; :func:`fit` shows them: set this iteration's LR
and momentum from a schedule function, forward, backward, step. It records the LR, momentum and
loss of every iteration and the losses and accuracies of every epoch in a :class:`History`.
On CUDA it uses mixed precision and channels_last; on the CPU it is deterministic under
``utils.seed_everything``.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch

from .schedules import Scheduler

OPTIMIZERS = ("sgd", "adamw")


@dataclass
class History:
    """What :func:`fit` recorded: per iteration (``lr``, ``mom``, ``loss``) and per epoch."""

    lr: list = field(default_factory=list)
    mom: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    epochs: list = field(default_factory=list)  # one dict per finished epoch
    interrupted: bool = False

    def to_frame(self):
        """One row per epoch: train_loss, valid_loss, top1, top5, seconds."""
        import pandas as pd

        return pd.DataFrame(self.epochs).set_index("epoch") if self.epochs else pd.DataFrame()

    def iterations(self):
        """One row per iteration: lr, mom, loss."""
        import pandas as pd

        return pd.DataFrame({"lr": self.lr, "mom": self.mom, "loss": self.loss})

    def metrics(self) -> dict:
        """Per-epoch lists of every metric, the form :func:`utils.sweeps.run_sweep` stores."""
        keys = [k for k in (self.epochs[0] if self.epochs else {}) if k != "epoch"]
        return {k: [e[k] for e in self.epochs] for k in keys}

    def plot(self, smooth: float = 0.98):
        """Loss (per iteration, smoothed, and validation per epoch), LR and momentum against the
        iteration, and validation accuracy per epoch."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(1, 3, figsize=(14, 3.6))
        its = np.arange(len(self.loss))
        loss = np.asarray(self.loss, dtype=float)
        ax[0].plot(its, loss, color="0.8", lw=0.8, label="train (per iteration)")
        ax[0].plot(its, _ema(loss, smooth), label="train (smoothed)")
        if self.epochs:
            per_epoch = len(self.loss) / max(1, len(self.epochs))
            ends = [per_epoch * (i + 1) - 1 for i in range(len(self.epochs))]
            ax[0].plot(ends, [e["valid_loss"] for e in self.epochs], "o-", label="validation")
            ax[2].plot(range(1, len(self.epochs) + 1), [e["top1"] for e in self.epochs], "o-")
        ax[0].set(xlabel="iteration", ylabel="loss", title="loss")
        ax[0].legend(fontsize=8)
        ax[1].plot(its, self.lr, label="learning rate")
        ax[1].set(xlabel="iteration", ylabel="learning rate", title="schedule")
        twin = ax[1].twinx()
        twin.plot(its, self.mom, color="C1", label="momentum")
        twin.set_ylabel("momentum")
        ax[2].set(xlabel="epoch", ylabel="validation top-1 accuracy", title="accuracy")
        fig.tight_layout()
        return fig


def _ema(x: np.ndarray, beta: float) -> np.ndarray:
    """Debiased exponential moving average, the smoothing used throughout the book."""
    out, avg = np.empty_like(x), 0.0
    for i, v in enumerate(x):
        avg = beta * avg + (1 - beta) * v
        out[i] = avg / (1 - beta ** (i + 1))
    return out


def autocast_for(device: torch.device, amp: bool):
    """A context factory for mixed precision (bf16 where the GPU has it, else fp16) and the
    GradScaler fp16 needs; on the CPU or with ``amp=False`` it does nothing."""
    if not amp or device.type != "cuda":
        return contextlib.nullcontext, None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler


def evaluate(model, loader, loss_func=None, autocast=contextlib.nullcontext) -> dict:
    """Mean loss, top-1 and top-5 accuracy of ``model`` over ``loader`` (eval mode, no grads)."""
    loss_func = loss_func or torch.nn.functional.cross_entropy
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=device)
    top1 = torch.zeros((), device=device)
    top5 = torch.zeros((), device=device)
    n = 0
    with torch.no_grad(), autocast():
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            out = model(xb)
            total += loss_func(out, yb).float() * len(yb)
            best = out.topk(min(5, out.shape[1]), dim=1).indices
            top1 += (best[:, 0] == yb).sum()
            top5 += (best == yb[:, None]).any(1).sum()
            n += len(yb)
    model.train(was_training)
    return {"valid_loss": total.item() / n, "top1": top1.item() / n, "top5": top5.item() / n}


def train_step(model, optimizer, xb, yb, loss_func, autocast, scaler):
    """One optimiser step on one batch, under ``autocast`` and with the fp16 ``scaler`` when
    there is one (see :func:`autocast_for`); returns the loss tensor, not synced."""
    with autocast():
        loss = loss_func(model(xb), yb)
    optimizer.zero_grad(set_to_none=True)
    if scaler:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return loss


def make_optimizer(model, opt: str, wd: float, lr: float = 0.1, mom: float = 0.9):
    """SGD with momentum (the papers') or AdamW (fastai's default); ``wd`` is the weight decay
    (an L2 term for SGD, as in Smith's experiments; decoupled for AdamW)."""
    if opt == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=mom, weight_decay=wd)
    if opt == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, betas=(mom, 0.99), weight_decay=wd)
    raise ValueError(f"opt must be one of {', '.join(map(repr, OPTIMIZERS))}; got {opt!r}")


def batch_throughput(make_model, sizes, device=None, steps: int = 3, amp: bool | None = None,
                     image_shape=(3, 32, 32), num_classes: int = 10):
    """Training speed at each batch size in ``sizes``: images per second of forward, backward
    and SGD step on random images, and whether the batch fits in memory; chapter 4.

    ``make_model()`` builds a fresh model for each size. On a GPU a size that runs out of memory
    is reported as not fitting (and the sizes after it are skipped); on the CPU everything fits
    that the machine's RAM allows, so the question becomes where the speed stops growing.
    """
    import pandas as pd

    if not sizes or any(not isinstance(b, int) or b < 1 for b in sizes):
        raise ValueError(f"sizes must be positive integers, e.g. [64, 128, 256]; got {sizes!r}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}")
    device = torch.device(device or "cpu")
    cuda = device.type == "cuda"
    autocast, scaler = autocast_for(device, cuda if amp is None else amp)
    rows, full = [], False
    for bs in sorted(sizes):
        row = {"bs": bs, "fits": not full, "images_per_s": float("nan")}
        if not full:
            try:
                row["images_per_s"] = _time_steps(make_model().to(device), bs, steps, device,
                                                  autocast, scaler, image_shape, num_classes)
            except torch.cuda.OutOfMemoryError:  # the batch does not fit: neither will larger ones
                row["fits"], full = False, True
            if full and cuda:
                torch.cuda.empty_cache()  # after `except`: the failed step's tensors are freed
        rows.append(row)
    return pd.DataFrame(rows).set_index("bs")


def _time_steps(model, bs, steps, device, autocast, scaler, image_shape, num_classes) -> float:
    opt = make_optimizer(model, "sgd", 5e-4, lr=0.01)
    x = torch.randn(bs, *image_shape, device=device)
    y = torch.randint(0, num_classes, (bs,), device=device)
    step = partial(train_step, model, opt, x, y, torch.nn.functional.cross_entropy, autocast,
                   scaler)
    step()  # warm-up: allocations and kernel choice are not part of the speed
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return bs * steps / (time.perf_counter() - start)


def _loaders(dls):
    if hasattr(dls, "train") and hasattr(dls, "valid"):
        return dls.train, dls.valid
    if isinstance(dls, (tuple, list)) and len(dls) == 2:
        return dls
    raise ValueError("dls must be fastai DataLoaders or a (train_loader, valid_loader) pair")


def fit(model, dls, epochs: int, lr_sched, mom_sched=None, opt: str = "sgd", wd: float = 5e-4,
        loss_func=None, amp: bool | None = None, channels_last: bool | None = None,
        progress: bool = True, history: History | None = None) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`; chapter 2.

    ``lr_sched`` is a number (a constant LR) or a function of the iteration giving the LR, or
    ``(lr, mom)`` as :func:`utils.schedules.one_cycle` does. ``mom_sched`` (a number or a
    function) sets the momentum (``beta1`` for AdamW); without it momentum stays at 0.9.
    ``amp`` and ``channels_last`` default to on with CUDA and off elsewhere. Pass a
    ``history`` to keep what was recorded if the run is interrupted (Ctrl-C).
    """
    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"epochs must be a positive integer; got {epochs!r}")
    if opt not in OPTIMIZERS:
        raise ValueError(f"opt must be one of {', '.join(map(repr, OPTIMIZERS))}; got {opt!r}")
    if not (isinstance(wd, (int, float)) and wd >= 0):
        raise ValueError(f"wd must be a number >= 0; got {wd!r}")
    train, valid = _loaders(dls)
    device = next(model.parameters()).device
    cuda = device.type == "cuda"
    amp = cuda if amp is None else amp
    if channels_last if channels_last is not None else cuda:
        model = model.to(memory_format=torch.channels_last)
    lr_fn = lr_sched if callable(lr_sched) else (lambda it: float(lr_sched))
    mom_fn = mom_sched if callable(mom_sched) or mom_sched is None else (lambda it: mom_sched)
    optimizer = make_optimizer(model, opt, wd)
    if mom_fn is None and isinstance(lr_fn(0), tuple):
        sched = Scheduler(optimizer, fn=lr_fn)
    else:
        sched = Scheduler(optimizer, lr_fn=lr_fn, mom_fn=mom_fn or (lambda it: 0.9))
    autocast, scaler = autocast_for(device, amp)
    loss_func = loss_func or torch.nn.functional.cross_entropy
    hist = history if history is not None else History()

    total = epochs * len(train)
    bars = _bars(progress, epochs)
    losses = []
    try:
        for epoch in bars["epochs"]:
            start = time.perf_counter()
            model.train()
            losses = []  # kept on the device: one sync per epoch, not per iteration
            for xb, yb in bars["batches"](train):
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
                loss = train_step(model, optimizer, xb, yb, loss_func, autocast, scaler)
                losses.append(loss.detach().float())
                hist.lr.append(sched.last_lr)
                hist.mom.append(sched.last_mom)
                if sched.it + 1 < total:  # a schedule is defined on [0, total) only
                    sched.step()
            epoch_losses = torch.stack(losses).cpu().tolist()
            hist.loss += epoch_losses
            losses = []
            row = {"epoch": epoch + 1, "train_loss": float(np.mean(epoch_losses))}
            row.update(evaluate(model, valid, loss_func, autocast))
            row["seconds"] = time.perf_counter() - start
            hist.epochs.append(row)
            bars["report"](row)
    except KeyboardInterrupt:
        hist.loss += [x.item() for x in losses]  # the unfinished epoch's iterations too
        hist.interrupted = True
        raise
    return hist


def _bars(progress: bool, epochs: int) -> dict:
    """fastprogress bars over epochs and batches (fastai's own), or plain iteration."""
    if not progress:
        return {"epochs": range(epochs), "batches": lambda dl: dl, "report": lambda row: None}
    from fastprogress.fastprogress import master_bar, progress_bar

    mb = master_bar(range(epochs))
    names = ["epoch", "train_loss", "valid_loss", "top1", "top5", "seconds"]
    mb.write(names, table=True)

    def report(row):
        mb.write([f"{row[k]:.4f}" if isinstance(row[k], float) else str(row[k]) for k in names],
                 table=True)

    return {"epochs": mb, "batches": lambda dl: progress_bar(dl, parent=mb, leave=False),
            "report": report}
