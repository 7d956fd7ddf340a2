"""What does ``utils.train.fit`` cost over a bare PyTorch loop? (chapter 2)

One epoch of ResNet-20 on 10,000 CIFAR-10 training images (plus validation on 2,000), the same
``TensorLoader`` batches and SGD with momentum 0.9 for all three: a bare loop, ``utils.train.fit``
with a 1cycle schedule (recording LR, momentum and loss of every iteration, top-1/top-5 each
epoch), and fastai's ``fit_one_cycle``. They run in rotating order for several rounds; a ratio
is the median of the ratios within a round (see ``timing.py``). Target: ``fit`` at most 3%
slower than the bare loop.
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
from data_pipeline import BS, N_TRAIN, N_VALID, plain_epoch  # noqa: E402 - the bare loop
from timing import median, paired_ratio, rounds  # noqa: E402

REPS, MAX_LR = 5, 0.1


def utils_fit(train, valid) -> float:
    from utils import resnet20, seed_everything
    from utils.schedules import one_cycle
    from utils.train import fit

    seed_everything(0)
    model = resnet20()
    start = time.perf_counter()
    fit(model, (train, valid), 1, partial(one_cycle, total_steps=len(train), max_lr=MAX_LR),
        wd=0.0, progress=False)
    return time.perf_counter() - start


def fastai_one_cycle(dls) -> float:
    from fastai.vision.all import Learner, OptimWrapper

    from utils import resnet20, seed_everything

    seed_everything(0)
    learn = Learner(dls, resnet20(), loss_func=torch.nn.CrossEntropyLoss(),
                    opt_func=partial(OptimWrapper, opt=torch.optim.SGD, momentum=0.9))
    with learn.no_bar(), learn.no_logging():
        start = time.perf_counter()
        learn.fit_one_cycle(1, MAX_LR)
    return time.perf_counter() - start


def main() -> None:
    from fastai.data.core import DataLoaders

    from utils import cifar_loaders

    if not os.environ.get("CIFAR10_PATH"):
        sys.exit("set CIFAR10_PATH to CIFAR-10, e.g. ../shared/data/cifar10-jpg.zip")
    train, valid = cifar_loaders(bs=BS, n_train=N_TRAIN, n_valid=N_VALID)
    runs = {"bare loop": lambda: plain_epoch(train, valid),
            "utils.train.fit": lambda: utils_fit(train, valid),
            "fastai fit_one_cycle": lambda: fastai_one_cycle(DataLoaders(train, valid))}
    times = rounds(runs, REPS, log=lambda m: print(m, flush=True))
    print(f"\nOne epoch, ResNet-20, {N_TRAIN:,} images, bs={BS}, "
          f"{torch.get_num_threads()} threads; median of {REPS} rounds\n")
    print("| loop | epoch | vs bare loop (same round) | target |\n| --- | --- | --- | --- |")
    for k in runs:
        ratio = paired_ratio(times, k, "bare loop")
        target = ""
        if k == "utils.train.fit":
            target = "<= +3%: " + ("met" if ratio <= 1.03 else "MISSED")
        print(f"| {k} | {median(times, k):.1f} s | {100 * (ratio - 1):+.1f}% | {target} |")


if __name__ == "__main__":
    main()
