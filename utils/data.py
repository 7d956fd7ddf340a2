"""CIFAR-10/100 as uint8 tensors, and a loader that makes augmented batches on the device.

Explained in chapter 0, "The experimental setup". The three pieces:

- :func:`load_cifar` finds the data (a folder, a zip, torchvision's pickles, the cache, or a
  download), decodes it once and caches the decoded uint8 arrays.
- :class:`TensorLoader` keeps those uint8 images on the training device and makes each batch
  there: shuffle, random crop with padding, horizontal flip and normalisation, all on the whole
  batch at once. No worker processes, no per-image Python.
- :func:`cifar_dls` wraps two of them as fastai ``DataLoaders`` for ``Learner``.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tempfile
import warnings
import zipfile
from collections import namedtuple
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

CifarData = namedtuple("CifarData", "x_train y_train x_test y_test classes")
CifarData.__doc__ = "uint8 images (N, 3, 32, 32), int64 labels, and the class names."

_ENV = {"cifar10": "CIFAR10_PATH", "cifar100": "CIFAR100_PATH"}
_TV_DIR = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
_PRETTY = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
_IMG_EXT = (".png", ".jpg", ".jpeg")
_CACHE_VERSION = 1


class CifarNotFoundError(FileNotFoundError):
    """No source of the data set worked; the message says what was tried and what to provide."""


def data_dir() -> Path:
    """Where downloads and the decoded cache live: ``$BOOK_DATA_DIR``, else the user's cache."""
    if os.environ.get("BOOK_DATA_DIR"):
        return Path(os.environ["BOOK_DATA_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "smith-book" / "data"


def load_cifar(name: str = "cifar10", path: str | os.PathLike | None = None,
               download: bool | None = None, verbose: bool = True) -> CifarData:
    """Load CIFAR-10 or CIFAR-100 as uint8 arrays; see chapter 0.

    Sources, in order: ``path``; ``$CIFAR10_PATH`` / ``$CIFAR100_PATH``; the decoded cache in
    :func:`data_dir`; a torchvision download (unless ``download=False`` or ``$BOOK_OFFLINE`` is
    set). A source is a folder laid out as ``train/<class>/*.png|jpg`` and ``test/<class>/*``
    (possibly one folder deeper), a zip of such a folder, or torchvision's
    ``cifar-10-batches-py`` / ``cifar-100-python`` folder. The first decode of a source is cached;
    later loads of the same, unchanged source read the cache.
    """
    if name not in _ENV:
        raise ValueError(f"unknown data set {name!r}; accepted: {', '.join(map(repr, _ENV))}")
    if download is None:
        download = not os.environ.get("BOOK_OFFLINE")
    cache = data_dir() / f"{name}-uint8-v{_CACHE_VERSION}.npz"
    tried = []

    for label, src in (("path argument", path), (f"${_ENV[name]}", os.environ.get(_ENV[name]))):
        if not src:
            tried.append(f"{label}: not given")
            continue
        src = Path(src).expanduser()
        if src.exists():
            return _load_source(name, src, cache, verbose)
        tried.append(f"{label}: {src} does not exist")
        warnings.warn(f"{label} points at {src}, which does not exist; trying the next source",
                      stacklevel=2)

    if cache.exists():
        data = _read_cache(cache)
        if data is not None:
            return data
        tried.append(f"cache: {cache} is unreadable (it will be rebuilt)")
    else:
        tried.append(f"cache: {cache} does not exist yet")

    tv_root = data_dir() / "torchvision"
    if (tv_root / _TV_DIR[name]).is_dir():
        return _load_source(name, tv_root / _TV_DIR[name], cache, verbose)
    if not download:
        tried.append("download: switched off (download=False or $BOOK_OFFLINE)")
    else:
        try:
            _download(name, tv_root)
            return _load_source(name, tv_root / _TV_DIR[name], cache, verbose)
        except Exception as e:  # any failure (offline, proxy, disk) goes into the one message
            tried.append(f"download with torchvision into {tv_root}: failed ({e})")

    raise CifarNotFoundError(
        f"could not find {_PRETTY[name]}. Tried:\n  - " + "\n  - ".join(tried) + "\n"
        f"Set {_ENV[name]} (or pass path=) to one of:\n"
        "  * a folder laid out as train/<class>/*.png|jpg and test/<class>/*.png|jpg\n"
        "  * a .zip archive of such a folder\n"
        f"  * torchvision's {_TV_DIR[name]} folder (or the folder that contains it)"
    )


def _download(name: str, root: Path) -> None:
    """Fetch the data set with torchvision (kept apart so tests can replace it)."""
    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    root.mkdir(parents=True, exist_ok=True)
    cls(str(root), train=True, download=True)


# --- sources -------------------------------------------------------------------------------

def _load_source(name: str, src: Path, cache: Path, verbose: bool) -> CifarData:
    """Decode ``src`` unless the cache already holds this exact source."""
    key = _fingerprint(src)
    data = _read_cache(cache, expect_source=key)
    if data is not None:
        return data
    if verbose:
        print(f"Decoding {_PRETTY[name]} from {src} (first load; cached in {cache})")
    if src.is_file() and zipfile.is_zipfile(src):
        data = _from_zip(src, verbose)
    elif src.is_file():
        raise ValueError(
            f"{src} is not a readable zip archive (truncated or corrupt download?); accepted: "
            "a zip of train/<class>/ and test/<class>/ folders, such a folder, or torchvision's "
            f"{_TV_DIR[name]} folder"
        )
    elif _torchvision_dir(name, src) is not None:
        data = _from_torchvision(name, _torchvision_dir(name, src))
    else:
        data = _from_folder(src, verbose)
    _write_cache(cache, data, key)
    return data


def _fingerprint(src: Path) -> str:
    """Path, sizes and modification times: changes when the source is replaced or edited."""
    src = src.resolve()
    st = src.stat()
    parts = [str(src), str(st.st_size), str(st.st_mtime_ns)]
    if src.is_dir():
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for f in sorted(files):
                s = os.stat(os.path.join(root, f))
                parts.append(f"{f}:{s.st_size}:{s.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _split_layout(names: list[str], where: str) -> tuple[str, list[str]]:
    """Find the prefix holding ``train/`` and ``test/`` and the class names (from ``train/``)."""
    prefixes = set()
    for n in names:
        parts = n.split("/")
        if "train" in parts[:-2]:  # .../train/<class>/<file>
            prefixes.add("".join(p + "/" for p in parts[: parts.index("train")]))
    for prefix in sorted(prefixes, key=len):
        train = {n[len(prefix) + 6:].split("/")[0] for n in names
                 if n.startswith(prefix + "train/") and n.count("/") >= prefix.count("/") + 2}
        if any(n.startswith(prefix + "test/") for n in names):
            return prefix, sorted(train)
    raise ValueError(
        f"{where} has no train/<class>/ and test/<class>/ folders; accepted layout: "
        "train/<class>/*.png|jpg and test/<class>/*.png|jpg (optionally inside one top folder)"
    )


def _group(names: list[str], prefix: str, classes: list[str], where: str):
    """Image names and labels of one split, class by class, each class's files sorted."""
    files, labels = [], []
    for label, cls in enumerate(classes):
        folder = f"{prefix}{cls}/"
        imgs = sorted(n for n in names if n.startswith(folder) and n.lower().endswith(_IMG_EXT))
        if not imgs:
            raise ValueError(f"missing class folder (or no .png/.jpg images in it): "
                             f"{where}/{folder.rstrip('/')}")
        files += imgs
        labels += [label] * len(imgs)
    return files, np.array(labels, dtype=np.int64)


def _decode(data: bytes, where: str) -> np.ndarray:
    try:
        img = Image.open(io.BytesIO(data))
        img = np.asarray(img.convert("RGB"))
    except Exception as e:
        raise ValueError(f"cannot read image {where}: {e}") from e
    if img.shape != (32, 32, 3):
        raise ValueError(f"image {where} is {img.shape[1]}x{img.shape[0]}; CIFAR images are 32x32")
    return img


def _to_array(imgs: list[np.ndarray]) -> np.ndarray:
    return np.ascontiguousarray(np.stack(imgs).transpose(0, 3, 1, 2))


def _from_names(names, read, where: str, verbose: bool) -> CifarData:
    prefix, classes = _split_layout(names, where)
    out = []
    for split in ("train", "test"):
        files, y = _group(names, f"{prefix}{split}/", classes, where)
        extra = {n[len(prefix) + len(split) + 1:].split("/")[0] for n in names
                 if n.startswith(f"{prefix}{split}/") and n.lower().endswith(_IMG_EXT)}
        if extra - set(classes):
            raise ValueError(f"{where}/{prefix}{split} has class folders that train/ lacks: "
                             f"{sorted(extra - set(classes))}")
        out += [_to_array([_decode(read(f), f"{where}/{f}") for f in _progress(files, verbose)]), y]
    return CifarData(*out, classes)


def _progress(items, verbose):
    if not verbose or len(items) < 5000:
        return items
    from fastprogress.fastprogress import progress_bar

    return progress_bar(items)


def _from_zip(src: Path, verbose: bool) -> CifarData:
    try:
        zf = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{src} is not a readable zip archive (truncated or corrupt?): {e}") from e
    with zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]

        def read(member):
            try:
                return zf.read(member)
            except (zipfile.BadZipFile, OSError, EOFError, Exception) as e:
                raise ValueError(f"cannot read {member} from {src} (truncated or corrupt "
                                 f"archive?): {e}") from e

        return _from_names(names, read, str(src), verbose)


def _from_folder(src: Path, verbose: bool) -> CifarData:
    names = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())
    return _from_names(names, lambda n: (src / n).read_bytes(), str(src), verbose)


def _torchvision_dir(name: str, src: Path) -> Path | None:
    for d in (src, src / _TV_DIR[name]):
        if d.is_dir() and d.name == _TV_DIR[name]:
            return d
    return None


def _unpickle(path: Path) -> dict:
    if not path.exists():
        raise ValueError(f"missing file {path} in torchvision's CIFAR folder")
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
    except Exception as e:
        raise ValueError(f"cannot read {path} (truncated or corrupt?): {e}") from e
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}


def _from_torchvision(name: str, d: Path) -> CifarData:
    if name == "cifar10":
        train, test, meta, key, names = ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
                                         "batches.meta", "labels", "label_names")
    else:
        train, test, meta, key, names = ["train"], ["test"], "meta", "fine_labels", \
            "fine_label_names"

    def split(files):
        parts = [_unpickle(d / f) for f in files]
        x = np.concatenate([np.asarray(p["data"], dtype=np.uint8) for p in parts])
        y = np.concatenate([np.asarray(p[key], dtype=np.int64) for p in parts])
        return x.reshape(-1, 3, 32, 32), y

    classes = [c.decode() if isinstance(c, bytes) else c for c in _unpickle(d / meta)[names]]
    return CifarData(*split(train), *split(test), classes)


# --- cache ---------------------------------------------------------------------------------

def _write_cache(cache: Path, data: CifarData, source: str) -> None:
    """Write atomically: a temp file in the same folder, fsynced, then renamed over the cache."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=cache.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, x_train=data.x_train, y_train=data.y_train, x_test=data.x_test,
                     y_test=data.y_test, classes=np.array(data.classes), source=np.array(source))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, cache)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_cache(cache: Path, expect_source: str | None = None) -> CifarData | None:
    """The cached arrays, or None when absent, unreadable, or made from another source."""
    if not cache.exists():
        return None
    try:
        with np.load(cache, allow_pickle=False) as z:
            if expect_source is not None and str(z["source"]) != expect_source:
                return None
            return CifarData(z["x_train"], z["y_train"], z["x_test"], z["y_test"],
                             [str(c) for c in z["classes"]])
    except Exception as e:
        warnings.warn(f"ignoring unreadable cache {cache}: {e}", stacklevel=3)
        return None


# --- subsets and statistics ----------------------------------------------------------------

def stratified_indices(y, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` items with every class equally represented (remainder to the first).

    Used by every profile so that a small training set still has all classes in balance.
    """
    y = np.asarray(y)
    classes = np.unique(y)
    if not isinstance(n, (int, np.integer)) or not len(classes) <= n <= len(y):
        raise ValueError(f"subset size n={n!r} must be an integer between the number of classes "
                         f"({len(classes)}) and the number of items ({len(y)})")
    rng = np.random.default_rng(seed)
    per_class = np.full(len(classes), n // len(classes))
    per_class[: n % len(classes)] += 1
    picked = []
    for c, k in zip(classes, per_class):
        pool = np.flatnonzero(y == c)
        if k > len(pool):
            raise ValueError(f"class {c} has {len(pool)} items, fewer than the {k} a balanced "
                             f"subset of {n} needs")
        picked.append(rng.choice(pool, size=k, replace=False))
    return np.sort(np.concatenate(picked))


def channel_stats(x) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 images, in [0, 1] units.

    A uint8 pixel takes only 256 values, so a histogram per channel gives both moments exactly,
    without ever making a float copy of the data set.
    """
    x = torch.as_tensor(x)
    values = torch.arange(256, dtype=torch.float64) / 255
    mean, std = [], []
    for c in range(x.shape[1]):
        hist = torch.bincount(x[:, c].reshape(-1), minlength=256).double()
        m = (hist * values).sum() / hist.sum()
        mean.append(m.item())
        std.append(((hist * (values - m) ** 2).sum() / hist.sum()).sqrt().item())
    return mean, std


def export_folder(data: CifarData, dest, n_train: int | None = None,
                  n_valid: int | None = None, seed: int = 0) -> Path:
    """Write (class-balanced subsets of) the images as ``dest/train/<class>/*.png`` and
    ``dest/test/<class>/*.png``: the folder layout fastai's ``ImageDataLoaders.from_folder``
    and torchvision's ``ImageFolder`` read. Chapter 0 uses it to build the classic pipeline."""
    dest = Path(dest)
    for split, x, y, n in (("train", data.x_train, data.y_train, n_train),
                           ("test", data.x_test, data.y_test, n_valid)):
        idx = stratified_indices(y, n, seed) if n is not None else np.arange(len(y))
        for c in data.classes:
            (dest / split / c).mkdir(parents=True, exist_ok=True)
        for i in idx:
            path = dest / split / data.classes[y[i]] / f"{i:05d}.png"
            if not path.exists():
                Image.fromarray(x[i].transpose(1, 2, 0)).save(path)
    return dest


# --- the loader ----------------------------------------------------------------------------

def crop_flip(xb: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Random ``pad``-pixel crop and horizontal flip of a whole uint8 batch, in one gather.

    Each image gets its own offset (dy, dx) into the zero-padded batch; a flipped image reads its
    columns right to left. Building the row/column indices for the batch and indexing once is
    what replaces the usual per-image Python loop.
    """
    b, c, h, w = xb.shape
    dev = xb.device
    padded = F.pad(xb, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b, 1), generator=gen).to(dev)
    dx = torch.randint(0, 2 * pad + 1, (b, 1), generator=gen).to(dev)
    flip = (torch.rand(b, 1, generator=gen) < 0.5).to(dev)
    rows = dy + torch.arange(h, device=dev)
    cols = dx + torch.where(flip, torch.arange(w - 1, -1, -1, device=dev),
                            torch.arange(w, device=dev))
    return padded[torch.arange(b, device=dev)[:, None, None, None],
                  torch.arange(c, device=dev)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


class TensorLoader:
    """Batches of CIFAR images made on the device from a uint8 tensor kept there; see chapter 0.

    ``x``: uint8 images (N, C, H, W); ``y``: integer labels. ``n`` draws a class-balanced
    subset of that size. ``augment`` turns on random crop (``pad`` pixels) and flip. ``mean`` and
    ``std`` (per channel, [0, 1] units) default to those of ``x``; pass the training set's to a
    validation loader. Shuffling and augmentation draw from a generator seeded with ``seed``, so
    the same seed gives the same batches, epoch after epoch.

    It also has what fastai's ``Learner`` asks of a data loader (``to``, ``new``, ``one_batch``,
    ``device``, ``n``), so :func:`cifar_dls` can hand it to fastai unchanged.
    """

    def __init__(self, x, y, bs: int, shuffle: bool = False, augment: bool = False,
                 drop_last: bool = False, mean=None, std=None, n: int | None = None,
                 device=None, seed: int = 0, pad: int = 4, channels_last: bool = False,
                 classes=None):
        x, y = torch.as_tensor(x), torch.as_tensor(y)
        if x.dtype != torch.uint8 or x.ndim != 4:
            raise ValueError(f"x must be uint8 images of shape (N, C, H, W); got {x.dtype} "
                             f"{tuple(x.shape)}")
        if y.ndim != 1 or len(y) != len(x) or y.is_floating_point():
            raise ValueError(f"y must hold one integer label per image ({len(x)}); got "
                             f"{y.dtype} {tuple(y.shape)}")
        if not isinstance(bs, int) or bs < 1:
            raise ValueError(f"bs must be a positive integer; got {bs!r}")
        if n is not None:
            idx = torch.from_numpy(stratified_indices(y.numpy(), n, seed))
            x, y = x[idx], y[idx]
        if drop_last and len(x) < bs:
            raise ValueError(f"bs={bs} is larger than the {len(x)} images, and drop_last=True "
                             "would give no batch at all; use a smaller bs")
        if mean is None or std is None:
            mean, std = channel_stats(x)
        self.mean, self.std = list(mean), list(std)
        self.x_cpu, self.y_cpu = x, y.long()
        self.bs, self.shuffle, self.augment, self.drop_last = bs, shuffle, augment, drop_last
        self.pad, self.seed, self.channels_last, self.classes = pad, seed, channels_last, classes
        self.gen = torch.Generator().manual_seed(seed)
        self.to(device if device is not None else "cpu")

    # what fastai's Learner uses
    @property
    def n(self) -> int:
        return len(self.y_cpu)

    @property
    def dataset(self):
        return self  # fastai looks up optional attributes (e.g. loss_func) on the dataset

    def to(self, device):
        """Move the uint8 images (once) to ``device``; batches are then made there."""
        if device is None:
            return self
        self.device = torch.device(device)
        self.x, self.y = self.x_cpu.to(self.device), self.y_cpu.to(self.device)
        c = self.x.shape[1]
        self._mean = torch.tensor(self.mean, device=self.device).view(1, c, 1, 1) * 255
        self._std = torch.tensor(self.std, device=self.device).view(1, c, 1, 1) * 255
        return self

    def new(self, **kwargs) -> TensorLoader:
        """A copy with some settings changed, e.g. ``dl.new(shuffle=False, drop_last=False)``;
        ``n`` draws a class-balanced subset of this loader's images."""
        kwargs.pop("shuffled", None)  # fastai's spelling in get_preds
        args = dict(x=self.x_cpu, y=self.y_cpu, n=None, bs=self.bs, shuffle=self.shuffle,
                    augment=self.augment, drop_last=self.drop_last, mean=self.mean,
                    std=self.std, device=self.device, seed=self.seed, pad=self.pad,
                    channels_last=self.channels_last, classes=self.classes)
        unknown = set(kwargs) - set(args)
        if unknown:
            raise ValueError(f"unknown TensorLoader setting(s) {sorted(unknown)}; "
                             f"accepted: {', '.join(args)}")
        return TensorLoader(**{**args, **kwargs})

    def __len__(self) -> int:
        return self.n // self.bs if self.drop_last else -(-self.n // self.bs)

    def __iter__(self):
        order = torch.randperm(self.n, generator=self.gen) if self.shuffle else None
        for i in range(len(self)):
            sl = slice(i * self.bs, (i + 1) * self.bs)
            if order is None:
                xb, yb = self.x[sl], self.y[sl]
            else:
                idx = order[sl].to(self.device)
                xb, yb = self.x[idx], self.y[idx]
            yield self.normalize(crop_flip(xb, self.pad, self.gen) if self.augment else xb), yb

    def normalize(self, xb: torch.Tensor) -> torch.Tensor:
        """uint8 batch -> float batch with zero mean and unit variance per channel."""
        out = (xb.float() - self._mean) / self._std
        return out.contiguous(memory_format=torch.channels_last) if self.channels_last else out

    def denormalize(self, xb: torch.Tensor) -> torch.Tensor:
        """Float batch back to [0, 1] images, for showing."""
        return ((xb * self._std + self._mean) / 255).clamp(0, 1)

    def one_batch(self):
        """The first batch of an epoch (advances the shuffling generator like an epoch would)."""
        return next(iter(self))

    def show_batch(self, n: int = 16, ncols: int = 8, figsize=None):
        """Plot ``n`` images of a batch as the model sees them (after augmentation), titled
        with their class names."""
        import matplotlib.pyplot as plt

        xb, yb = self.one_batch()
        n = min(n, len(xb))
        nrows = -(-n // ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=figsize or (1.4 * ncols, 1.6 * nrows),
                                 squeeze=False)
        imgs = self.denormalize(xb[:n].float()).permute(0, 2, 3, 1).cpu().numpy()
        for ax in axes.flat:
            ax.axis("off")
        for ax, img, label in zip(axes.flat, imgs, yb[:n].tolist()):
            ax.imshow(img)
            ax.set_title(self.classes[label] if self.classes else str(label), fontsize=8)
        fig.tight_layout()
        return fig


class ShortEpochs:
    """A loader whose "epoch" is a fixed number of batches; see chapter 4.

    On a large data set a full epoch is too long for a tuning run. Counting ``batches`` batches
    as an epoch keeps each run short while, unlike a small subset, every image can still be
    seen: each short epoch continues where the previous one stopped, and a new pass over
    ``loader`` (freshly shuffled) starts whenever the old one runs out.
    """

    def __init__(self, loader, batches: int):
        if not isinstance(batches, int) or batches < 1:
            raise ValueError(f"batches must be a positive integer; got {batches!r}")
        if len(loader) == 0:
            raise ValueError("the loader gives no batches; a short epoch needs at least one")
        self.loader, self.batches = loader, batches
        self._pass = None  # the iterator over the current full pass, kept between epochs

    def __len__(self) -> int:
        return self.batches

    def __getattr__(self, name):
        # everything else (bs, n, device, classes...) is the wrapped loader's
        if name in ("loader", "batches", "_pass"):
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __iter__(self):
        for _ in range(self.batches):
            batch = next(self._pass, None) if self._pass is not None else None
            if batch is None:
                self._pass = iter(self.loader)
                batch = next(self._pass)
            yield batch


def images_per_second(dl, max_batches: int | None = None, warmup: int = 2) -> float:
    """Images per second a loader delivers (data only, no model), after ``warmup`` batches;
    chapter 0 compares the folder pipelines with :class:`TensorLoader` with it."""
    import time

    n, start = 0, None
    for i, (xb, _) in enumerate(dl):
        if i == warmup:
            n, start = 0, time.perf_counter()
        n += len(xb)
        if max_batches is not None and i + 1 >= warmup + max_batches:
            break
    if start is None:
        raise ValueError(f"the loader has {i + 1} batches, too few to measure after {warmup} "
                         "warm-up batches")
    if hasattr(xb, "device") and xb.device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def cifar_loaders(name: str = "cifar10", bs: int = 128, n_train: int | None = None,
                  n_valid: int | None = None, device=None, seed: int = 0, augment: bool = True,
                  channels_last: bool = False, path=None) -> tuple[TensorLoader, TensorLoader]:
    """Training and validation :class:`TensorLoader` for CIFAR; see chapter 0.

    The validation set is (a class-balanced ``n_valid`` subset of) the test split, as in the
    papers. Both are normalised with the statistics of the training images used.
    """
    data = load_cifar(name, path=path)
    train = TensorLoader(data.x_train, data.y_train, bs, shuffle=True, augment=augment,
                         drop_last=True, n=n_train, device=device, seed=seed,
                         channels_last=channels_last, classes=data.classes)
    valid = TensorLoader(data.x_test, data.y_test, min(2 * bs, 1024), n=n_valid,
                         mean=train.mean, std=train.std, device=device, seed=seed,
                         channels_last=channels_last, classes=data.classes)
    return train, valid


def cifar_dls(name: str = "cifar10", bs: int = 128, n_train: int | None = None,
              n_valid: int | None = None, device=None, seed: int = 0, augment: bool = True,
              channels_last: bool = False, path=None, **kwargs):
    """fastai ``DataLoaders`` over :func:`cifar_loaders`, for ``Learner``, ``lr_find`` and
    ``fit_one_cycle``; see chapter 0. ``dls.train.show_batch()`` shows a batch."""
    from fastai.data.core import DataLoaders

    train, valid = cifar_loaders(name, bs, n_train, n_valid, device, seed, augment,
                                 channels_last, path)
    return DataLoaders(train, valid, device=train.device, **kwargs)
