"""What does ``utils.train.fit`` cost over a bare PyTorch loop? (chapter 2)

One epoch of ResNet-20 on 10,000 CIFAR-10 training images (plus validation on 2,000), the same
``TensorLoader`` batches and SGD with momentum 0.9 for all three: a bare loop, ``utils.train.fit``
with a 1cycle schedule (recording LR, momentum and loss of every iteration, top-1/top-5 each
epoch), and fastai's ``fit_one_cycle``. The three run in rotating order, three rounds, and each
keeps its fastest epoch. Target: ``fit`` at most 3% slower than the bare loop.
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

REPS, MAX_LR = 3, 0.1


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
    times = {k: [] for k in runs}
    order = list(runs)
    for rep in range(REPS):
        for k in order[rep % 3:] + order[: rep % 3]:
            times[k].append(runs[k]())
        print(f"round {rep + 1}/{REPS}: " + ", ".join(f"{k} {v[-1]:.1f} s"
                                                     for k, v in times.items()), flush=True)
    best = {k: min(v) for k, v in times.items()}
    base = best["bare loop"]
    print(f"\nOne epoch, ResNet-20, {N_TRAIN:,} images, bs={BS}, "
          f"{torch.get_num_threads()} threads (fastest of {REPS})\n")
    print("| loop | epoch | vs bare loop | target |\n| --- | --- | --- | --- |")
    for k, t in best.items():
        target = ""
        if k == "utils.train.fit":
            target = "<= +3%: " + ("met" if t <= 1.03 * base else "MISSED")
        print(f"| {k} | {t:.1f} s | {100 * (t / base - 1):+.1f}% | {target} |")


if __name__ == "__main__":
    main()
