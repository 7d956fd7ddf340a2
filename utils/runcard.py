"""What a run was made with: device, library versions, time; explained in the introduction.

Every chapter shows a run card in its second cell, and every sweep record carries the same facts,
so a number in the book can always be traced to the machine and software that produced it.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

import torch

PACKAGES = ("torch", "torchvision", "fastai", "numpy")


def device_name(device=None) -> str:
    """``"cuda: NVIDIA H200"`` or ``"cpu: <processor>, N threads"``."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    cpu = platform.processor() or platform.machine()
    return f"{device.type}: {cpu}, {torch.get_num_threads()} threads"


def versions() -> dict:
    """Python and the versions of the libraries whose behaviour the numbers depend on."""
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
