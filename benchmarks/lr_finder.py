"""Is the book's LR range test as fast as fastai's ``lr_find``? (chapter 1)

Same model (ResNet-20), data (10,000 CIFAR-10 training images through ``TensorLoader``),
optimiser (SGD, momentum 0.9), grid and ``num_it``; each test run twice in alternating order,
the faster run of each kept. Prints a markdown table with the wall-time ratio. Target: ours no
slower. Run with ``make bench`` (needs ``CIFAR10_PATH``).
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

NUM_IT, BS, REPS = 100, 128, 2


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
    times = {"ours": [], "fastai": []}
    for rep in range(REPS):
        pair = [("ours", lambda: ours(dls.train)), ("fastai", lambda: fastai(dls))]
        for name, fn in pair if rep % 2 == 0 else pair[::-1]:
            times[name].append(fn())
        print(f"round {rep + 1}/{REPS}: " + ", ".join(f"{k} {v[-1]:.1f} s"
                                                     for k, v in times.items()), flush=True)
    a, b = min(times["ours"]), min(times["fastai"])
    print(f"\nLR range test, ResNet-20, {NUM_IT} iterations of bs={BS}, "
          f"{torch.get_num_threads()} threads\n")
    print("| implementation | wall time (fastest of 2) | ratio to fastai | target |")
    print("| --- | --- | --- | --- |")
    print(f"| fastai `learn.lr_find` | {b:.1f} s | 1.00x | |")
    print(f"| `utils.lr_finder.lr_range_test` | {a:.1f} s | {a / b:.2f}x | no slower: "
          f"{'met' if a <= b else 'MISSED'} |")


if __name__ == "__main__":
    main()
