"""How much faster is the tensor-resident loader than the folder pipelines? (chapter 0)

Measures, in one run on this machine, and prints a markdown table with ratios:

1. loading the full CIFAR-10 zip the first time (decode) and the second time (cache);
2. data only, images per second over 10,000 training images: fastai's
   ``ImageDataLoaders.from_folder`` (crop with 4-pixel padding, flip, normalise), torchvision's
   ``ImageFolder`` + ``DataLoader`` with the same augmentation, and ``TensorLoader``;
3. one training epoch of ResNet-20 on those 10,000 images (plus validation on 2,000): fastai
   ``Learner`` on the folder pipeline, fastai ``Learner`` on ``cifar_dls``, and a plain PyTorch
   loop on ``TensorLoader``; rotating order, median of per-round ratios (``timing.py``).

Run with ``make bench`` (needs ``CIFAR10_PATH``, e.g. ``../shared/data/cifar10-jpg.zip``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from functools import partial
from pathlib import Path

import torch

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from timing import median, paired_ratio, rounds  # noqa: E402

N_TRAIN, N_VALID, BS, LR, REPS = 10_000, 2_000, 128, 0.05, 3


def extract_subset(zip_path: str, dest: Path, per_class: dict[str, int]) -> Path:
    """Write the first ``per_class[split]`` JPEGs of every class to ``dest/<split>/<class>/``."""
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(n for n in zf.namelist() if n.lower().endswith((".jpg", ".png")))
        taken: dict[tuple[str, str], int] = {}
        for n in names:
            split, cls = n.split("/")[-3:-1]
            if split in per_class and taken.get((split, cls), 0) < per_class[split]:
                taken[(split, cls)] = taken.get((split, cls), 0) + 1
                out = dest / split / cls / Path(n).name
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(zf.read(n))
    return dest


def memory_of_full_loader(zip_path: str) -> tuple[float, float]:
    """Peak memory added by a cached load and one epoch over all 50,000 images, measured in a
    fresh process after its imports, and the size of a float32 copy of the training images.

    The peak is Linux's VmHWM, which starts afresh at exec (``ru_maxrss`` would inherit this
    process's peak through fork)."""
    code = (
        "import re, torch, utils\n"
        "hwm = lambda: int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())"
        "[1]) / 1024\n"
        "before = hwm()\n"
        f"train, _ = utils.cifar_loaders(bs={BS}, path={zip_path!r})\n"
        "for xb, yb in train: pass\n"
        "print(hwm() - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return float(out.stdout.split()[-1]), 50_000 * 3 * 32 * 32 * 4 / 2**20


def time_epoch(dl) -> tuple[float, int]:
    start, n = time.perf_counter(), 0
    for xb, _ in dl:
        n += len(xb)
    return time.perf_counter() - start, n


def images_per_s(dl, epochs: int = 3) -> float:
    """Median over ``epochs`` timed epochs, after one warm-up epoch (worker start-up, file
    cache): one epoch of TensorLoader lasts under a second, where one scheduler hiccup shows."""
    import statistics

    from utils.data import images_per_second

    time_epoch(dl)
    return statistics.median(images_per_second(dl) for _ in range(epochs))


def fastai_folder_dls(folder: Path, mean, std):
    from fastai.vision.all import CropPad, FlipItem, ImageDataLoaders, Normalize, RandomCrop

    return ImageDataLoaders.from_folder(
        folder, train="train", valid="test", bs=BS,
        item_tfms=[CropPad(40), RandomCrop(32), FlipItem(0.5)],
        batch_tfms=[Normalize.from_stats(mean, std)], device="cpu")


def torchvision_loader(folder: Path, mean, std):
    from torchvision import datasets, transforms

    tfm = transforms.Compose([transforms.RandomCrop(32, padding=4),
                              transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                              transforms.Normalize(mean, std)])
    ds = datasets.ImageFolder(str(folder / "train"), transform=tfm)
    return torch.utils.data.DataLoader(ds, batch_size=BS, shuffle=True, drop_last=True,
                                       num_workers=os.cpu_count() or 1, persistent_workers=True)


def fastai_epoch(dls, seed=0) -> float:
    from fastai.vision.all import SGD, Learner

    from utils import resnet20, seed_everything

    seed_everything(seed)
    learn = Learner(dls, resnet20(), loss_func=torch.nn.CrossEntropyLoss(),
                    opt_func=partial(SGD, mom=0.9))
    with learn.no_bar(), learn.no_logging():
        start = time.perf_counter()
        learn.fit(1, LR)
    return time.perf_counter() - start


def plain_epoch(train, valid, seed=0) -> float:
    from utils import resnet20, seed_everything

    seed_everything(seed)
    model = resnet20()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    start = time.perf_counter()
    model.train()
    for xb, yb in train:
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    with torch.no_grad():
        for xb, yb in valid:
            torch.nn.functional.cross_entropy(model(xb), yb)
    return time.perf_counter() - start


def main() -> None:
    zip_path = os.environ.get("CIFAR10_PATH")
    if not zip_path or not zipfile.is_zipfile(zip_path):
        sys.exit("set CIFAR10_PATH to the CIFAR-10 JPEG zip, e.g. ../shared/data/cifar10-jpg.zip")
    work = Path(tempfile.mkdtemp(prefix="bench-data-"))
    os.environ["BOOK_DATA_DIR"] = str(work / "cache")
    from utils import cifar_dls, cifar_loaders, load_cifar

    rows = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs; {N_TRAIN:,} training images, bs={BS}", flush=True)

    t = time.perf_counter()
    load_cifar(path=zip_path, verbose=False)
    first = time.perf_counter() - t
    t = time.perf_counter()
    load_cifar(path=zip_path, verbose=False)
    cached = time.perf_counter() - t
    rows += [("first load of the full zip (decode + cache)", f"{first:.1f} s", "< 60 s",
              "met" if first < 60 else "MISSED"),
             ("cached load", f"{cached:.2f} s", "< 2 s", "met" if cached < 2 else "MISSED")]

    train, valid = cifar_loaders(bs=BS, n_train=N_TRAIN, n_valid=N_VALID, path=zip_path)
    tensor_ips = images_per_s(train)
    grown, float_mb = memory_of_full_loader(zip_path)
    rows.append(("memory added by the cached load + a full-data TensorLoader epoch",
                 f"{grown:.0f} MB",
                 f"below one float32 copy of the training set ({float_mb:.0f} MB)",
                 "met" if grown < float_mb else "MISSED"))
    print("loading and TensorLoader done", flush=True)

    folder = extract_subset(zip_path, work / "folder",
                            {"train": N_TRAIN // 10, "test": N_VALID // 10})
    fa_dls = fastai_folder_dls(folder, train.mean, train.std)
    fastai_ips = images_per_s(fa_dls.train)
    tv_ips = images_per_s(torchvision_loader(folder, train.mean, train.std))
    print("data-only measurements done", flush=True)
    rows += [
        ("data only: fastai from_folder", f"{fastai_ips:,.0f} img/s", "", "1.0x"),
        ("data only: torchvision ImageFolder + DataLoader", f"{tv_ips:,.0f} img/s", "",
         f"{tv_ips / fastai_ips:.1f}x"),
        ("data only: TensorLoader", f"{tensor_ips:,.0f} img/s", ">= 20x fastai folder",
         f"{tensor_ips / fastai_ips:.1f}x " + ("met" if tensor_ips >= 20 * fastai_ips
                                                else "MISSED")),
    ]

    cd = cifar_dls(bs=BS, n_train=N_TRAIN, n_valid=N_VALID, path=zip_path)
    times = rounds({"folder": lambda: fastai_epoch(fa_dls), "dls": lambda: fastai_epoch(cd),
                    "plain": lambda: plain_epoch(train, valid)}, REPS,
                   log=lambda m: print("epoch timings, " + m, flush=True))
    speedup = paired_ratio(times, "folder", "dls")
    overhead = paired_ratio(times, "dls", "plain")
    rows += [
        ("epoch: fastai Learner on folder pipeline", f"{median(times, 'folder'):.1f} s", "",
         "1.0x"),
        ("epoch: fastai Learner on cifar_dls", f"{median(times, 'dls'):.1f} s",
         ">= 1.5x faster than folder",
         f"{speedup:.2f}x " + ("met" if speedup >= 1.5 else "MISSED")),
        ("epoch: plain PyTorch loop on TensorLoader", f"{median(times, 'plain'):.1f} s",
         "Learner on cifar_dls within 5% of this",
         f"Learner overhead {100 * (overhead - 1):+.1f}% "
         + ("met" if overhead <= 1.05 else "MISSED")),
    ]

    print("\n| measurement | value | target | ratio / result |\n| --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
