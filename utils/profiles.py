"""Run profiles: one switch, ``BOOK_PROFILE``, sets the scale of every experiment.

Explained in the introduction ("How to run this book"). Chapters read the profile once::

    P = get_profile()
    dls = cifar_dls(bs=P.bs, n_train=P.n_train, n_valid=P.n_valid, device=P.device)
    model = resnet_cifar(P.depth, width=P.width)

- ``smoke``: seconds per chapter, for CI and nbval. Its numbers mean nothing.
- ``cpu``: a 2-core laptop, at most ~10 minutes a chapter; the committed outputs use it.
- ``gpu``: the papers' scale (ResNet-56, full CIFAR-10), mixed precision, channels_last.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, replace

import numpy as np
import torch

ENV_VAR = "BOOK_PROFILE"


@dataclass(frozen=True)
class Profile:
    """The scale settings a chapter uses. ``n_train``/``n_valid`` of ``None`` mean "all"."""

    name: str
    device: torch.device
    n_train: int | None  # training images (a class-balanced subset)
    n_valid: int | None  # validation images (from the test split)
    depth: int  # ResNet depth, 6n+2
    width: int  # channels of the first stage
    bs: int  # batch size
    epochs: int  # epochs of a "full" run in this profile
    short_epochs: int  # epochs of one run inside a sweep
    num_it: int  # iterations of an LR range test
    amp: bool  # mixed precision
    channels_last: bool

    def describe(self) -> str:
        """One line saying what this profile trains, for run cards and logs."""
        data = "all" if self.n_train is None else f"{self.n_train:,}"
        valid = "all" if self.n_valid is None else f"{self.n_valid:,}"
        return (
            f"profile={self.name} device={self.device} ResNet-{self.depth} (width {self.width}) "
            f"train={data} valid={valid} bs={self.bs} epochs={self.epochs}"
        )


_SCALES = {
    "smoke": dict(n_train=640, n_valid=320, depth=8, width=8, bs=64, epochs=1,
                  short_epochs=1, num_it=20),
    "cpu": dict(n_train=10_000, n_valid=2_000, depth=20, width=16, bs=128, epochs=8,
                short_epochs=2, num_it=100),
    "gpu": dict(n_train=None, n_valid=None, depth=56, width=16, bs=256, epochs=30,
                short_epochs=3, num_it=200),
}
PROFILES = tuple(_SCALES)


def default_device() -> torch.device:
    """CUDA when available, else Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def get_profile(name: str | None = None, **overrides) -> Profile:
    """The run profile ``name``, else ``$BOOK_PROFILE``, else ``gpu`` with CUDA, else ``cpu``.

    ``overrides`` replace single settings, e.g. ``get_profile("cpu", epochs=2)``.
    The profile's device is the best available one; a ``gpu`` profile on a machine without a
    GPU still runs (slowly) on the CPU, and AMP/channels_last are only switched on with CUDA.
    """
    if name is None:
        name = os.environ.get(ENV_VAR, "").strip() or None
    if name is None:
        name = "gpu" if torch.cuda.is_available() else "cpu"
    key = str(name).strip().lower()
    if key not in _SCALES:
        raise ValueError(
            f"unknown run profile {name!r} (from {ENV_VAR} or the argument); "
            f"valid profiles are: {', '.join(PROFILES)}"
        )
    device = default_device()
    cuda = device.type == "cuda"
    profile = Profile(name=key, device=device, amp=cuda and key == "gpu",
                      channels_last=cuda and key == "gpu", **_SCALES[key])
    unknown = set(overrides) - set(Profile.__dataclass_fields__)
    if unknown:
        raise ValueError(
            f"unknown profile setting(s) {sorted(unknown)}; "
            f"valid settings are: {', '.join(Profile.__dataclass_fields__)}"
        )
    return replace(profile, **overrides)


def seed_everything(seed: int = 0, deterministic: bool = True) -> None:
    """Seed Python, NumPy and PyTorch so that a CPU run repeats exactly.

    With ``deterministic`` cuDNN also picks deterministic kernels (slower on GPUs; the ``gpu``
    chapters pass ``False`` and accept run-to-run noise). Explained in the introduction.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
