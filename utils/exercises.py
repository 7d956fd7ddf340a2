"""Checkers for the exercises at the end of each chapter.

Each checker prints a short confirmation when the answer is right and otherwise raises
:class:`NotYet` with a hint, never a bare assertion, so a learner knows what to look at next.
"""

from __future__ import annotations

import numpy as np
import torch


class NotYet(AssertionError):
    """The answer is not right yet; the message is a hint."""


def _ok(message: str) -> None:
    print(f"Correct. {message}")


def _expect(condition: bool, hint: str) -> None:
    if not condition:
        raise NotYet(hint)


def check_channel_stats(mean, std, x_train) -> None:
    """Chapter 0, exercise 1: per-channel mean and std of uint8 images, in [0, 1] units."""
    from .data import channel_stats

    if mean is None or std is None:
        raise NotYet("compute mean and std first (each a list of 3 numbers, one per channel)")
    mean, std = np.asarray(mean, dtype=float).ravel(), np.asarray(std, dtype=float).ravel()
    _expect(mean.shape == (3,) and std.shape == (3,),
            f"expected 3 values each (R, G, B); got {mean.shape[0]} and {std.shape[0]}")
    ref_mean, ref_std = channel_stats(x_train)
    _expect(mean.max() <= 1, "divide by 255: the statistics are in [0, 1] units, not pixels")
    _expect(np.allclose(mean, ref_mean, atol=1e-3),
            "the means are off: average over images, rows and columns, separately per channel "
            "(axes 0, 2 and 3 of an (N, 3, 32, 32) array)")
    _expect(np.allclose(std, ref_std, atol=1e-3),
            "the standard deviations are off: one per channel, over images, rows and columns")
    _ok(f"mean {np.round(mean, 4).tolist()}, std {np.round(std, 4).tolist()}")


def check_param_count(depth: int, answer) -> None:
    """Chapter 0, exercise 2: trainable parameters of a CIFAR ResNet of ``depth``."""
    from .models import count_params, resnet_cifar

    truth = count_params(resnet_cifar(depth))
    _expect(isinstance(answer, (int, np.integer)),
            f"the answer should be an integer number of parameters; got {answer!r}")
    _expect(answer == truth,
            f"not quite: {answer:,} is {'more' if answer > truth else 'less'} than the true "
            "count. Count conv weights (3 x 3 x C_in x C_out, no bias), two batch-norm "
            "parameters per channel and the final linear layer; the shortcuts add nothing")
    _ok(f"ResNet-{depth} has {truth:,} parameters.")


def check_flip(flip_fn) -> None:
    """Chapter 0, exercise 3: a batched horizontal flip of a uint8 batch, no Python loop."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8, generator=gen)
    out = flip_fn(x.clone(), torch.Generator().manual_seed(1))
    _expect(isinstance(out, torch.Tensor) and out.shape == x.shape and out.dtype == x.dtype,
            "return a tensor of the same shape and dtype as the input batch")
    flipped = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    _expect(bool((flipped | kept).all()),
            "every image must be either unchanged or mirrored left-right (flip the last axis)")
    _expect(8 < int(flipped.sum()) < 56,
            f"{int(flipped.sum())} of 64 images were flipped; each should flip with "
            "probability 0.5")
    _ok(f"{int(flipped.sum())} of 64 images flipped, the rest untouched.")


def _check_schedule(fn, args, its, want, what: str, hint: str) -> None:
    """Compare a learner's one-iteration schedule ``fn(it, *args)`` with the book's values."""
    try:
        got = np.array([float(fn(int(i), *args)) for i in its])
    except NotImplementedError:
        raise NotYet("write the function body first") from None
    bad = np.flatnonzero(~np.isclose(got, want, rtol=1e-9))
    if len(bad):
        i = bad[0]
        raise NotYet(f"at iteration {its[i]} you give {got[i]:.5g}, {what} gives "
                     f"{want[i]:.5g}. {hint}")


def check_triangular(fn) -> None:
    """Chapter 1, exercise 1: the triangular policy written from its formula."""
    from .schedules import cyclic_lr

    its = np.arange(0, 1000, 7)
    _check_schedule(fn, (0.01, 0.1, 50), its, cyclic_lr(its, 0.01, 0.1, 50), "the policy",
                    "The LR should rise from base_lr for step_size iterations, then fall back, "
                    "and repeat")
    _ok("your triangular policy matches utils.schedules.cyclic_lr at every iteration tested.")


def check_range_test_reading(full, half, answer) -> None:
    """Chapter 1, exercise 2: is the max_lr of a smaller batch lower or higher?"""
    for name, res in (("full", full), ("half", half)):
        _expect(hasattr(res, "max_lr") and res.max_lr,
                f"`{name}` should be the result of lr_range_test (with suggestions)")
    _expect(answer in ("lower", "higher"), "answer with the string 'lower' or 'higher'")
    truth = "lower" if half.max_lr < full.max_lr else "higher"
    _expect(answer == truth,
            f"look again: with half the batch size the suggested max_lr is {half.max_lr:.3g}, "
            f"with the full batch {full.max_lr:.3g}")
    _ok(f"max_lr {full.max_lr:.3g} (bs) vs {half.max_lr:.3g} (bs/2): {truth} with the smaller "
        "batch, in this run.")


def check_halving(gamma: float, answer) -> None:
    """Chapter 1, exercise 3: iterations for exp_range's amplitude to halve."""
    truth = np.log(0.5) / np.log(gamma)
    _expect(answer is not None and np.isfinite(answer), "set the answer to a number")
    _expect(abs(answer - truth) <= 1,
            "the amplitude after k iterations is gamma**k; solve gamma**k = 1/2 for k")
    _ok(f"about {truth:,.0f} iterations.")


def check_smith_one_cycle(fn) -> None:
    """Chapter 2, exercise 1: Smith's three-phase linear 1cycle for one iteration."""
    from .schedules import one_cycle

    its = np.arange(0, 1000, 3)
    want = one_cycle(its, 1000, 1.0, pct_start=0.45, div=10.0, div_final=1e3, anneal="linear",
                     three_phase=True, convention="torch")[0]
    _check_schedule(fn, (1000, 1.0), its, want, "Smith's policy",
                    "Phase 1 ends on step 0.45*total-1, phase 2 on 0.9*total-2, the last on "
                    "total-1; each is a straight line between its end points")
    _ok("your schedule matches one_cycle(three_phase=True, anneal='linear', convention='torch').")


def check_optimizer_comparison(sgd_acc: float, adamw_acc: float, answer) -> None:
    """Chapter 2, exercise 2: which optimiser did better in your own run?"""
    _expect(answer in ("sgd", "adamw"), "answer with the string 'sgd' or 'adamw'")
    truth = "sgd" if sgd_acc >= adamw_acc else "adamw"
    _expect(answer == truth, f"look again at your numbers: SGD {sgd_acc:.3f}, AdamW "
                             f"{adamw_acc:.3f}")
    _ok(f"{truth} ended higher in this run ({sgd_acc:.3f} vs {adamw_acc:.3f}).")


def check_peak_steps(fastai_step, torch_step) -> None:
    """Chapter 2, exercise 3: the step at which each convention reaches max_lr."""
    from .schedules import one_cycle

    its = np.arange(1000)
    truth = [int(np.argmax(one_cycle(its, 1000, 1.0, convention=c)[0]))
             for c in ("fastai", "torch")]
    _expect(fastai_step == truth[0], "fastai: the first iteration whose position it/total is "
                                     "at least pct_start")
    _expect(torch_step == truth[1], "PyTorch: phase one ends on step pct_start*total - 1")
    _ok(f"fastai peaks at step {truth[0]}, PyTorch at step {truth[1]}.")


def check_blend(fn) -> None:
    """Chapter 3, exercise 1: blending two state dicts."""
    from .topology import blend

    a = {"w": torch.randn(3, 4), "n": torch.tensor(7)}
    b = {"w": torch.randn(3, 4), "n": torch.tensor(9)}
    try:
        got = fn(a, b, 0.3)
    except NotImplementedError:
        raise NotYet("write the function body first") from None
    want = blend(a, b, 0.3)
    _expect(isinstance(got, dict) and got.keys() == want.keys(), "return a dict with the same "
            "keys as the state dicts")
    _expect(torch.allclose(got["w"], want["w"]), "weights: (1 - alpha) * a + alpha * b")
    _expect(torch.equal(got["n"], want["n"]), "integer tensors are copied from state_a")
    _ok("your blend matches utils.topology.blend.")


def check_bn_answer(stored: float, recomputed: float, answer) -> None:
    """Chapter 3, exercise 2: stored vs recomputed BatchNorm statistics at alpha 0.5."""
    _expect(answer in ("higher", "lower"), "answer with the string 'higher' or 'lower'")
    truth = "higher" if stored > recomputed else "lower"
    _expect(answer == truth, f"look again: stored statistics give {stored:.3f}, recomputed "
                             f"{recomputed:.3f}")
    _ok(f"with stored statistics the loss is {truth} ({stored:.3f} vs {recomputed:.3f}).")


def check_distance(alpha: float, answer) -> None:
    """Chapter 3, exercise 3: distance of w(alpha) from solution b, in solution distances."""
    _expect(answer is not None, "set `distance` to a number")
    _expect(abs(answer - abs(alpha - 1)) < 1e-9, "write w(alpha) - w_b in terms of w_b - w_a")
    _ok(f"alpha = {alpha} lies {abs(alpha - 1):g} solution-distances from b.")


def check_scale_lr(fn) -> None:
    """Chapter 4, exercise 1: scaling the learning rate with the batch size."""
    try:
        got = [fn(0.1, 128, 512), fn(0.1, 128, 512, rule="sqrt"), fn(0.4, 256, 64)]
    except NotImplementedError:
        raise NotYet("write the function body first") from None
    _expect(np.isclose(got[0], 0.4), "linear rule: the LR grows by the same factor as the "
                                     "batch size (128 -> 512 is 4x)")
    _expect(np.isclose(got[1], 0.2), "square-root rule: the LR grows by the square root of the "
                                     "factor (4x the batch, 2x the LR)")
    _expect(np.isclose(got[2], 0.1), "a smaller batch scales the LR down the same way")
    try:
        fn(0.1, 128, 256, rule="cubic")
    except ValueError as e:
        _expect("linear" in str(e) and "sqrt" in str(e), "the error for an unknown rule "
                "should name the accepted ones, 'linear' and 'sqrt'")
    else:
        raise NotYet("an unknown rule (e.g. 'cubic') should raise ValueError naming the "
                     "accepted rules")
    _ok("linear and square-root scaling, and a clear error for anything else.")


def _runs(key, table):
    """A small sweep frame: ``table`` maps a setting to its per-seed validation losses."""
    import pandas as pd

    rows = [{key: k, "seed": i, "status": "ok", "valid_loss": v}
            for k, losses in table.items() for i, v in enumerate(losses)]
    return pd.DataFrame(rows)


def check_best_setting(fn) -> None:
    """Chapter 4, exercise 2: pick the best setting of a sweep and say if it clearly wins."""
    cases = [
        ({0.0: [1.50, 1.52], 1e-4: [1.30, 1.31], 1e-3: [1.40, 1.42]}, (1e-4, True),
         "lowest mean validation loss over seeds"),
        ({0.0: [1.35, 1.25], 1e-4: [1.30, 1.28], 1e-3: [1.60, 1.62]}, (1e-4, False),
         "the runner-up (0.0, mean 1.30) is closer than the two standard deviations added "
         "together, so the win is not clear"),
        ({1e-5: [1.10, float("nan")], 1e-4: [1.30, 1.31]}, (1e-4, True),
         "a setting with a diverged run (NaN) cannot be the best; with a single candidate "
         "left the choice is clear"),
    ]
    for table, want, hint in cases:
        try:
            got = fn(_runs("wd", table), "wd")
        except NotImplementedError:
            raise NotYet("write the function body first") from None
        _expect(isinstance(got, tuple) and len(got) == 2, "return a pair (best value, clear)")
        _expect(np.isclose(got[0], want[0]) and bool(got[1]) == want[1],
                f"for losses {table} expected {want}, got {got}: {hint}")
    _ok("best by mean validation loss, diverged settings excluded, noise taken into account.")


def check_same_choice(two_epochs, one_epoch, answer) -> None:
    """Chapter 4, exercise 3: does a one-epoch grid choose the same weight decay?"""
    from .sweeps import best

    _expect(isinstance(answer, bool), "answer True or False")
    a, b = best(two_epochs, "wd"), best(one_epoch, "wd")
    _expect(answer == (a == b), f"look again: two epochs choose wd={a:g}, one epoch wd={b:g}")
    _ok(f"two epochs choose wd={a:g}, one epoch wd={b:g}.")
