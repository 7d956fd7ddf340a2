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


def data_source(name: str = "cifar10") -> str:
    """Where :func:`utils.data.load_cifar` will take the data from, in words."""
    import os

    from .data import _ENV, data_dir

    if os.environ.get(_ENV[name]):
        return f"${_ENV[name]} = {os.environ[_ENV[name]]}"
    return f"cache or torchvision download in {data_dir()}"


def card(profile=None) -> dict:
    """The facts :func:`show` displays, as a dict (also stamped into executed notebooks)."""
    from datetime import datetime, timezone

    from .profiles import get_profile

    p = profile or get_profile()
    return {
        "profile": p.name,
        "device": device_name(p.device),
        "data": data_source(),
        "sizes": p.describe().split(" ", 2)[2],
        **{k: v for k, v in versions().items() if v},
        "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def show(profile=None):
    """The run card every chapter shows in its second cell; explained in the introduction.

    In a live notebook it says what this run uses. Stored in the notebook by ``make execute``
    and rendered in the book, the same table says where the outputs on the page came from.
    """
    import pandas as pd

    facts = card(profile)
    table = pd.DataFrame({"value": list(facts.values())}, index=list(facts))
    table.index.name = "this run"
    try:
        from IPython.display import Markdown, display

        display(Markdown(
            f"**Run card.** Profile `{facts['profile']}` on {facts['device']}. Every output below "
            f"was produced by this run; set `BOOK_PROFILE` to `smoke`, `cpu` or `gpu` to change "
            "the scale (see the introduction)."))
        display(table)
    except ImportError:  # plain Python: print it
        print(table.to_string())
    return table


def glue(name: str, value, display: bool = False):
    """Hand a number from this run to the prose (MyST-NB's ``glue``), so the text of the book
    quotes what the run measured; outside Jupyter Book (e.g. on Colab) it does nothing.
    Numbers are cited with ``{glue:text}`name:.2f```, strings with ``{glue:md}`name```."""
    if hasattr(value, "item"):  # NumPy/torch scalars: glue their plain Python value
        value = value.item()
    if isinstance(value, str):  # text goes in with {glue:md}, without repr's quotes
        from IPython.display import Markdown

        value = Markdown(value)
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    _glue(name, value, display=display)
