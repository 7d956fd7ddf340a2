"""Is the book's LR range test as fast as fastai's ``lr_find``? (chapter 1)

Same model (ResNet-20), data (10,000 CIFAR-10 training images through ``TensorLoader``),
optimiser (SGD, momentum 0.9), grid and ``num_it``; the two alternate for three rounds and the
ratio is the median of the per-round ratios (see ``timing.py``). Prints a markdown table.
Target: ours no slower. Run with ``make bench`` (needs ``CIFAR10_PATH``).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import torch

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from timing import median, paired_ratio, rounds  # noqa: E402

NUM_IT, BS, REPS = 100, 128, 3


def ours(train) -> float:
    from utils import resnet20, seed_everything
    from utils.lr_finder import lr_range_test

    seed_everything(0)
    model = resnet20()
    start = time.perf_counter()
    lr_range_test(model, train, start_lr=1e-7, end_lr=10, num_it=NUM_IT, progress=False)
    return time.perf_counter() - start


def fastai(dls) -> float:
    from fastai.vision.all import Learner, OptimWrapper

    from utils import resnet20, seed_everything

    seed_everything(0)
    learn = Learner(dls, resnet20(), loss_func=torch.nn.CrossEntropyLoss(),
                    opt_func=partial(OptimWrapper, opt=torch.optim.SGD, momentum=0.9),
                    path=Path(os.environ.get("TMPDIR", "/tmp")))
    start = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        learn.lr_find(start_lr=1e-7, end_lr=10, num_it=NUM_IT, show_plot=False)
    return time.perf_counter() - start


def main() -> None:
    from utils import cifar_dls

    if not os.environ.get("CIFAR10_PATH"):
        sys.exit("set CIFAR10_PATH to CIFAR-10, e.g. ../shared/data/cifar10-jpg.zip")
    dls = cifar_dls(bs=BS, n_train=10_000, n_valid=1_000)
    times = rounds({"ours": lambda: ours(dls.train), "fastai": lambda: fastai(dls)}, REPS,
                   log=lambda m: print(m, flush=True))
    ratio = paired_ratio(times, "ours", "fastai")
    print(f"\nLR range test, ResNet-20, {NUM_IT} iterations of bs={BS}, "
          f"{torch.get_num_threads()} threads\n")
    print(f"| implementation | wall time (median of {REPS}) | ratio to fastai | target |")
    print("| --- | --- | --- | --- |")
    print(f"| fastai `learn.lr_find` | {median(times, 'fastai'):.1f} s | 1.00x | |")
    print(f"| `utils.lr_finder.lr_range_test` | {median(times, 'ours'):.1f} s | {ratio:.2f}x | "
          f"no slower: {'met' if ratio <= 1.0 else 'MISSED'} |")


if __name__ == "__main__":
    main()
