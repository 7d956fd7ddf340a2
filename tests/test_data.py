"""utils.data: finding, decoding and caching CIFAR, and the tensor-resident loader."""

import os
import urllib.error
import zipfile

import numpy as np
import pytest
import torch
from conftest import CLASSES, REAL_CIFAR10, write_torchvision, zip_folder

from utils import data as D
from utils.data import CifarNotFoundError, TensorLoader, load_cifar


def assert_same(d, expected):
    for k in ("x_train", "y_train", "x_test", "y_test"):
        got = getattr(d, k)
        assert got.shape == expected[k].shape, k
        np.testing.assert_array_equal(got, expected[k], err_msg=k)
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64


# --- sources -------------------------------------------------------------------------------

def test_load_from_folder(fake_cifar):
    folder, expected = fake_cifar
    d = load_cifar(path=folder, verbose=False)
    assert_same(d, expected)
    assert d.classes == CLASSES


def test_load_from_zip_equals_folder(fake_zip):
    path, expected = fake_zip
    d = load_cifar(path=path, verbose=False)
    assert_same(d, expected)
    assert d.classes == CLASSES


def test_load_from_env_variable(fake_zip, monkeypatch):
    path, expected = fake_zip
    monkeypatch.setenv("CIFAR10_PATH", str(path))
    assert_same(load_cifar(verbose=False), expected)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_load_torchvision_format(tmp_path, name):
    d_dir, expected = write_torchvision(tmp_path / "tv", name)
    for src in (d_dir, d_dir.parent):  # the folder itself, or the folder holding it
        d = load_cifar(name, path=src, verbose=False)
        assert_same(d, expected)
        assert d.classes == expected["classes"]


def test_cifar100_env_variable(tmp_path, monkeypatch):
    d_dir, expected = write_torchvision(tmp_path / "tv", "cifar100")
    monkeypatch.setenv("CIFAR100_PATH", str(d_dir))
    assert_same(load_cifar("cifar100", verbose=False), expected)


def test_unknown_name():
    with pytest.raises(ValueError, match="'cifar10', 'cifar100'"):
        load_cifar("mnist")


# --- cache ---------------------------------------------------------------------------------

def test_second_load_reads_cache(fake_zip, monkeypatch, isolated_data_dir):
    path, expected = fake_zip
    load_cifar(path=path, verbose=False)
    assert list(isolated_data_dir.glob("*.npz"))

    def no_decoding(*a, **k):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(D, "_from_zip", no_decoding)
    assert_same(load_cifar(path=path, verbose=False), expected)
    assert_same(load_cifar(verbose=False), expected)  # no path at all: the cache


def test_changed_source_is_decoded_again(fake_cifar, tmp_path):
    folder, expected = fake_cifar
    load_cifar(path=folder, verbose=False)
    victim = folder / "train" / "cat" / "0000.png"
    os.remove(victim)
    d = load_cifar(path=folder, verbose=False)
    assert len(d.x_train) == len(expected["x_train"]) - 1


def test_interrupted_cache_write_leaves_no_cache(fake_zip, monkeypatch, isolated_data_dir):
    path, expected = fake_zip
    real_savez = np.savez

    def interrupted(f, **arrays):
        f.write(b"PK half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(D.np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_cifar(path=path, verbose=False)
    assert list(isolated_data_dir.iterdir()) == []  # no cache, no temp file
    monkeypatch.setattr(D.np, "savez", real_savez)
    assert_same(load_cifar(path=path, verbose=False), expected)


def test_corrupt_cache_is_ignored_and_rebuilt(fake_zip, isolated_data_dir):
    path, expected = fake_zip
    load_cifar(path=path, verbose=False)
    cache = next(isolated_data_dir.glob("*.npz"))
    cache.write_bytes(cache.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unreadable cache"):
        d = load_cifar(path=path, verbose=False)
    assert_same(d, expected)


# --- errors --------------------------------------------------------------------------------

def test_nothing_found_names_every_option(monkeypatch):
    def offline(name, root):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(D, "_download", offline)
    with pytest.raises(CifarNotFoundError) as e:
        load_cifar(download=True)
    msg = str(e.value)
    for part in ("CIFAR10_PATH", "train/<class>", ".zip", "cifar-10-batches-py",
                 "no route to host", "cache"):
        assert part in msg


def test_missing_path_warns_then_falls_through(tmp_path):
    with pytest.warns(UserWarning, match="does not exist"):
        with pytest.raises(CifarNotFoundError, match="nowhere.zip does not exist"):
            load_cifar(path=tmp_path / "nowhere.zip")


def test_missing_class_folder_is_named(fake_cifar):
    folder, _ = fake_cifar
    for f in (folder / "test" / "dog").iterdir():
        f.unlink()
    (folder / "test" / "dog").rmdir()
    with pytest.raises(ValueError, match=r"missing class folder.*test/dog"):
        load_cifar(path=folder, verbose=False)


def test_extra_class_in_test_is_named(fake_cifar):
    folder, _ = fake_cifar
    (folder / "test" / "owl").mkdir()
    (folder / "test" / "cat" / "0000.png").rename(folder / "test" / "owl" / "0000.png")
    with pytest.raises(ValueError, match="owl"):
        load_cifar(path=folder, verbose=False)


def test_unreadable_image_is_named(fake_cifar, tmp_path):
    folder, _ = fake_cifar
    (folder / "train" / "frog" / "0002.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot read image .*train/frog/0002.png"):
        load_cifar(path=folder, verbose=False)
    z = zip_folder(folder, tmp_path / "bad.zip")
    with pytest.raises(ValueError, match=r"cannot read image .*bad.zip/tinycifar/train/frog/0002"):
        load_cifar(path=z, verbose=False)


def test_wrong_image_size_is_named(fake_cifar):
    from PIL import Image

    folder, _ = fake_cifar
    Image.new("RGB", (64, 48)).save(folder / "train" / "dog" / "0001.png")
    with pytest.raises(ValueError, match=r"train/dog/0001.png is 64x48"):
        load_cifar(path=folder, verbose=False)


def test_truncated_zip_is_named(fake_zip, tmp_path):
    path, _ = fake_zip
    cut = tmp_path / "cut.zip"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"cut.zip.*(truncated|corrupt)"):
        load_cifar(path=cut, verbose=False)


def test_corrupt_member_in_zip_is_named(fake_cifar, tmp_path):
    folder, _ = fake_cifar
    z = tmp_path / "crc.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted(folder.rglob("*.png")):
            zf.write(p, p.relative_to(folder.parent))
    raw = bytearray(z.read_bytes())
    member = b"tinycifar/train/dog/0001.png"
    start = raw.index(member) + len(member) + 60  # inside that file's data
    raw[start:start + 8] = b"\x00" * 8
    z.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"train/dog/0001.png"):
        load_cifar(path=z, verbose=False)


def test_missing_torchvision_file_is_named(tmp_path):
    d_dir, _ = write_torchvision(tmp_path / "tv", "cifar10")
    (d_dir / "data_batch_3").unlink()
    with pytest.raises(ValueError, match="data_batch_3"):
        load_cifar(path=d_dir, verbose=False)


# --- subsets and statistics ----------------------------------------------------------------

def test_stratified_subset_is_balanced():
    y = np.repeat(np.arange(10), 100)
    np.random.default_rng(0).shuffle(y)
    for n in (10, 55, 500, 1000):
        idx = D.stratified_indices(y, n, seed=1)
        counts = np.bincount(y[idx], minlength=10)
        assert len(idx) == len(set(idx)) == n
        assert counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(D.stratified_indices(y, 50, 3), D.stratified_indices(y, 50, 3))
    assert not np.array_equal(D.stratified_indices(y, 50, 3), D.stratified_indices(y, 50, 4))


@pytest.mark.parametrize("n", [5, 1001, 2.5])
def test_stratified_subset_bad_size(n):
    with pytest.raises(ValueError, match="subset size"):
        D.stratified_indices(np.repeat(np.arange(10), 100), n)


def test_channel_stats_match_float_computation():
    x = np.random.default_rng(0).integers(0, 256, (50, 3, 8, 8), dtype=np.uint8)
    mean, std = D.channel_stats(x)
    f = x.astype(np.float64) / 255
    np.testing.assert_allclose(mean, f.mean((0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(std, f.std((0, 2, 3)), rtol=1e-12)


# --- TensorLoader --------------------------------------------------------------------------

def images(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8),
            rng.integers(0, 10, n).astype(np.int64))


def test_batches_shapes_dtypes_and_normalisation():
    x, y = images(100)
    dl = TensorLoader(x, y, bs=32)
    batches = list(dl)
    assert len(dl) == len(batches) == 4 and [len(b[0]) for b in batches] == [32, 32, 32, 4]
    xb = torch.cat([b[0] for b in batches])
    assert xb.dtype == torch.float32 and xb.shape == (100, 3, 32, 32)
    assert batches[0][1].dtype == torch.int64
    # normalised with the data's own statistics: zero mean, unit variance per channel
    torch.testing.assert_close(xb.mean((0, 2, 3)), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(xb.std((0, 2, 3), correction=0), torch.ones(3), atol=1e-4, rtol=0)
    np.testing.assert_array_equal(torch.cat([b[1] for b in batches]).numpy(), y)
    assert len(TensorLoader(x, y, bs=32, drop_last=True)) == 3
    torch.testing.assert_close(dl.denormalize(xb) * 255, torch.as_tensor(x).float(),
                               atol=1e-3, rtol=0)


def test_crop_and_flip_change_pixels_never_labels():
    x, y = images(64)
    plain = TensorLoader(x, y, bs=64)
    aug = TensorLoader(x, y, bs=64, augment=True, mean=plain.mean, std=plain.std, seed=3)
    (xp, yp), (xa, ya) = next(iter(plain)), next(iter(aug))
    assert torch.equal(yp, ya)
    assert not torch.equal(xp, xa)
    # every augmented image is one of the 81 crops x 2 flips of its own original
    src = torch.nn.functional.pad(torch.as_tensor(x), (4, 4, 4, 4))
    got = aug.denormalize(xa).mul(255).round().to(torch.uint8)
    offsets, flips = set(), 0
    for i in range(64):
        found = [(dy, dx, f) for dy in range(9) for dx in range(9) for f in (0, 1)
                 if torch.equal(got[i], (src[i, :, dy:dy + 32, dx:dx + 32].flip(2) if f
                                         else src[i, :, dy:dy + 32, dx:dx + 32]))]
        assert found, f"image {i} is not a crop/flip of its original"
        offsets.add(found[0][:2])
        flips += found[0][2]
    assert len(offsets) > 10 and 10 < flips < 54  # offsets and flips really vary


def test_same_seed_same_batches():
    x, y = images(96)

    def epochs(seed):
        dl = TensorLoader(x, y, bs=32, shuffle=True, augment=True, seed=seed)
        return [torch.cat([xb for xb, _ in dl]) for _ in range(2)]

    a, b, c = epochs(0), epochs(0), epochs(1)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], c[0])
    assert not torch.equal(a[0], a[1])  # a new order and new crops every epoch


def test_shuffle_covers_every_image_once():
    x, y = images(100)
    y = np.arange(100)
    dl = TensorLoader(x, y, bs=25, shuffle=True)
    seen = torch.cat([yb for _, yb in dl])
    assert sorted(seen.tolist()) == list(range(100)) and seen.tolist() != list(range(100))


def test_short_epochs_continue_and_cover_everything():
    x, _ = images(100)
    y = np.arange(100)
    dl = D.ShortEpochs(TensorLoader(x, y, bs=10, shuffle=True), batches=3)
    assert len(dl) == 3 and dl.bs == 10 and dl.n == 100  # the loader's own attributes
    epochs = [torch.cat([yb for _, yb in dl]).tolist() for _ in range(4)]
    assert all(len(e) == 30 for e in epochs)
    first_pass = sum(epochs, [])[:100]  # 10 batches make one full pass, across short epochs
    assert sorted(first_pass) == list(range(100))
    assert epochs[0] != epochs[1]  # the second short epoch continues, it does not restart


@pytest.mark.parametrize("batches", [0, -1, 2.5, None])
def test_short_epochs_bad_input(batches):
    x, y = images(20)
    with pytest.raises(ValueError, match="batches must be a positive integer"):
        D.ShortEpochs(TensorLoader(x, y, bs=10), batches)


def test_subset_option_is_balanced():
    x, _ = images(200)
    y = np.repeat(np.arange(10), 20)
    dl = TensorLoader(x, y, bs=16, n=50)
    assert dl.n == 50
    assert np.bincount(dl.y_cpu.numpy(), minlength=10).tolist() == [5] * 10


@pytest.mark.parametrize("kwargs, match", [
    (dict(x=np.zeros((4, 3, 32, 32), np.float32)), "uint8"),
    (dict(x=np.zeros((4, 32, 32), np.uint8)), "uint8"),
    (dict(y=np.zeros(3, np.int64)), "one integer label per image"),
    (dict(y=np.zeros(4, np.float32)), "one integer label per image"),
    (dict(bs=0), "bs must be a positive integer"),
    (dict(bs=8, drop_last=True), "no batch at all"),
])
def test_loader_bad_input(kwargs, match):
    args = dict(x=np.zeros((4, 3, 32, 32), np.uint8), y=np.zeros(4, np.int64), bs=2)
    with pytest.raises(ValueError, match=match):
        TensorLoader(**{**args, **kwargs})


def test_new_and_one_batch():
    x, y = images(40)
    dl = TensorLoader(x, y, bs=8, shuffle=True, augment=True, drop_last=True)
    plain = dl.new(shuffle=False, augment=False, drop_last=False, bs=40)
    xb, yb = plain.one_batch()
    assert xb.shape == (40, 3, 32, 32) and torch.equal(yb, torch.as_tensor(y))
    assert plain.mean == dl.mean
    balanced = dl.new(y=np.arange(40) % 10, n=20)
    assert balanced.n == 20 and balanced.mean == dl.mean
    with pytest.raises(ValueError, match="unknown TensorLoader setting"):
        dl.new(colour=True)


def test_channels_last_layout():
    x, y = images(8)
    xb, _ = TensorLoader(x, y, bs=8, channels_last=True).one_batch()
    assert xb.is_contiguous(memory_format=torch.channels_last)


def test_show_batch_titles_are_class_names():
    import matplotlib

    matplotlib.use("Agg")
    x, _ = images(12)
    y = np.arange(12) % 3
    fig = TensorLoader(x, y, bs=12, classes=CLASSES).show_batch(n=6, ncols=3)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == [CLASSES[i] for i in y[:6]]


def test_cifar_dls_trains_with_fastai(fake_zip):
    import torch.nn as nn
    from fastai.vision.all import Learner, accuracy  # .all patches in no_bar, lr_find, ...

    from utils import cifar_dls, resnet_cifar, seed_everything

    path, _ = fake_zip
    seed_everything(0)
    dls = cifar_dls(bs=4, path=path)
    assert len(dls.train) == 3 and len(dls.valid) == 1
    learn = Learner(dls, resnet_cifar(8, 3, width=4), loss_func=nn.CrossEntropyLoss(),
                    metrics=accuracy, path=path.parent)
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(2, 1e-2)
        assert len(learn.recorder.values) == 2
        assert all(np.isfinite(v) for row in learn.recorder.values for v in row)
        lrs = learn.lr_find(num_it=12, show_plot=False)
    assert lrs.valley > 0
    preds, targs = learn.get_preds()
    assert preds.shape == (6, 3) and sorted(targs.tolist()) == [0, 0, 1, 1, 2, 2]


# --- the real data set (CI sets CIFAR10_PATH to the development copy) ----------------------

@pytest.mark.cifar
@pytest.mark.skipif(not REAL_CIFAR10, reason="CIFAR10_PATH is not set")
def test_real_cifar10_and_profile_subsets():
    from utils import cifar_loaders, get_profile

    d = load_cifar(path=REAL_CIFAR10, verbose=False)
    assert d.x_train.shape == (50000, 3, 32, 32) and d.x_test.shape == (10000, 3, 32, 32)
    assert d.classes[:3] == ["airplane", "automobile", "bird"] and len(d.classes) == 10
    assert np.bincount(d.y_train).tolist() == [5000] * 10
    mean, _ = D.channel_stats(d.x_train)
    np.testing.assert_allclose(mean, [0.491, 0.482, 0.447], atol=0.005)  # CIFAR-10's known means
    for name in ("smoke", "cpu"):
        p = get_profile(name)
        train, valid = cifar_loaders(bs=p.bs, n_train=p.n_train, n_valid=p.n_valid,
                                     path=REAL_CIFAR10)
        assert train.n == p.n_train and valid.n == p.n_valid
        for dl, n in ((train, p.n_train), (valid, p.n_valid)):
            counts = np.bincount(dl.y_cpu.numpy(), minlength=10)
            assert counts.sum() == n and counts.max() - counts.min() <= 1
