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
    _expect(answer is not None, "set the answer to an integer")
    _expect(int(answer) == truth,
            f"not quite ({answer:,} vs the true count): count conv weights (3x3xCinxCout, no "
            "bias), two BatchNorm parameters per channel, and the final linear layer; the "
            "identity shortcuts add nothing" if isinstance(answer, (int, np.integer))
            else "the answer should be an integer")
    _ok(f"ResNet-{depth} has {truth:,} parameters.")


def check_flip(flip_fn) -> None:
    """Chapter 0, exercise 3: a batched horizontal flip of a uint8 batch, no Python loop."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8, generator=gen)
    out = flip_fn(x.clone(), torch.Generator().manual_seed(1))
    _expect(isinstance(out, torch.Tensor) and out.shape == x.shape and out.dtype == x.dtype,
            "return a tensor of the same shape and dtype as the input batch")
    flipped = torch.stack([torch.equal(o, i.flip(-1)) for o, i in zip(out, x)])
    kept = torch.stack([torch.equal(o, i) for o, i in zip(out, x)])
    _expect(bool((flipped | kept).all()),
            "every image must be either unchanged or mirrored left-right (flip the last axis)")
    _expect(8 < int(flipped.sum()) < 56,
            f"{int(flipped.sum())} of 64 images were flipped; each should flip with "
            "probability 0.5")
    _ok(f"{int(flipped.sum())} of 64 images flipped, the rest untouched.")
