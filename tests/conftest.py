"""Shared fixtures. Tests never touch the network and never write into the user's cache."""

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ["BOOK_OFFLINE"] = "1"
# Notebooks validated by nbval in this session run at the smallest scale; their kernels inherit
# this (the fixture below removes it again inside each unit test).
os.environ["BOOK_PROFILE"] = "smoke"
# The real CIFAR-10 copy, when the environment names one (CI does), before tests unset it.
REAL_CIFAR10 = os.environ.get("CIFAR10_PATH")
CLASSES = ["cat", "dog", "frog"]


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path, monkeypatch):
    """Each test gets its own empty cache and no data-set variables."""
    monkeypatch.setenv("BOOK_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CIFAR10_PATH", raising=False)
    monkeypatch.delenv("CIFAR100_PATH", raising=False)
    monkeypatch.delenv("BOOK_PROFILE", raising=False)
    return tmp_path / "cache"


def fake_images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


@pytest.fixture
def fake_cifar(tmp_path):
    """A tiny CIFAR in the folder layout (PNG, lossless), inside a top folder as the zip has it.

    Returns (folder, expected) where expected holds the arrays load_cifar must return.
    """
    root = tmp_path / "src" / "tinycifar"
    expected = {}
    for split, n, seed in (("train", 4, 0), ("test", 2, 1)):
        xs, ys = [], []
        for label, cls in enumerate(CLASSES):
            imgs = fake_images(n, seed * 10 + label)
            (root / split / cls).mkdir(parents=True)
            for i, img in enumerate(imgs):
                Image.fromarray(img).save(root / split / cls / f"{i:04d}.png")
            xs.append(imgs)
            ys += [label] * n
        expected[f"x_{split}"] = np.concatenate(xs).transpose(0, 3, 1, 2)
        expected[f"y_{split}"] = np.array(ys)
    return root, expected


def zip_folder(folder: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for p in sorted(folder.rglob("*")):
            zf.write(p, Path(folder.name) / p.relative_to(folder))
    return dest


@pytest.fixture
def fake_zip(fake_cifar, tmp_path):
    folder, expected = fake_cifar
    return zip_folder(folder, tmp_path / "tiny.zip"), expected


def write_torchvision(root: Path, name: str, n_train=6, n_test=3, n_classes=4):
    """A small torchvision-format CIFAR folder (pickles with bytes keys, like the real files)."""
    rng = np.random.default_rng(0)

    def batch(n, key):
        return {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                key: list(rng.integers(0, n_classes, n))}

    def dump(obj, path):
        with open(path, "wb") as f:
            pickle.dump(obj, f)

    names = [f"class{i}".encode() for i in range(n_classes)]
    if name == "cifar10":
        d = root / "cifar-10-batches-py"
        d.mkdir(parents=True)
        parts = [batch(n_train, b"labels") for _ in range(5)]
        for i, p in enumerate(parts, 1):
            dump(p, d / f"data_batch_{i}")
        test = batch(n_test, b"labels")
        dump(test, d / "test_batch")
        dump({b"label_names": names}, d / "batches.meta")
        key = b"labels"
    else:
        d = root / "cifar-100-python"
        d.mkdir(parents=True)
        parts = [batch(n_train, b"fine_labels")]
        dump(parts[0], d / "train")
        test = batch(n_test, b"fine_labels")
        dump(test, d / "test")
        dump({b"fine_label_names": names}, d / "meta")
        key = b"fine_labels"
    x_train = np.concatenate([p[b"data"] for p in parts]).reshape(-1, 3, 32, 32)
    y_train = np.concatenate([p[key] for p in parts])
    return d, dict(x_train=x_train, y_train=y_train,
                   x_test=test[b"data"].reshape(-1, 3, 32, 32), y_test=np.array(test[key]),
                   classes=[c.decode() for c in names])


def png_bytes(img):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


# --- nbval: what never to compare in the stored outputs ----------------------------------------
# Progress bars (HTML tables), figures and widget state differ from run to run; lax mode only
# compares the cells marked NBVAL_CHECK_OUTPUT, and for those only their plain text.
NBVAL_SKIP_COMPARE = ("text/html", "image/png", "image/jpeg", "image/svg+xml", "text/markdown",
                      "application/vnd.jupyter.widget-state+json")


class NbvalSettings:
    """Registered globally, because hooks of this conftest would only reach tests/."""

    @staticmethod
    def pytest_collectstart(collector):
        if type(collector).__name__ == "IPyNbFile":
            collector.skip_compare = tuple(collector.skip_compare) + NBVAL_SKIP_COMPARE


def pytest_configure(config):
    config.pluginmanager.register(NbvalSettings(), "book-nbval-settings")


@pytest.fixture(scope="session")
def book_html():
    """The HTML book built once per session into _build/test-book (warnings are errors)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = root / "_build" / "test-book"
    jb = Path(sys.executable).parent / "jupyter-book"
    run = subprocess.run([str(jb), "build", str(root), "--path-output", str(out), "-W",
                          "--keep-going", "--all"], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return out / "_build" / "html"
