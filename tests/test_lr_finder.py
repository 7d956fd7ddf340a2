"""utils.lr_finder: the LR range test, its stopping rules, exact restore, and fastai agreement."""

import math

import numpy as np
import pytest
import torch

from utils import resnet_cifar, seed_everything
from utils.data import TensorLoader
from utils.lr_finder import _longest_descent, lr_range_test, lr_schedule, suggest


def toy_loaders(n=256, bs=32, seed=0):
    """A learnable problem: the class is the brightest of three colour channels."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    y = x.reshape(n, 3, -1).mean(2).argmax(1).astype(np.int64)
    train = TensorLoader(x, y, bs, shuffle=True, drop_last=True, seed=seed)
    valid = TensorLoader(x[:64], y[:64], 64, mean=train.mean, std=train.std)
    return train, valid


def small_model(seed=0):
    seed_everything(seed)
    return resnet_cifar(8, num_classes=3, width=4)


def snapshot(model, opt):
    return ({k: v.clone() for k, v in model.state_dict().items()},
            {k: {n: t.clone() if torch.is_tensor(t) else t for n, t in s.items()}
             for k, s in opt.state_dict()["state"].items()},
            [dict(g) for g in opt.state_dict()["param_groups"]])


def assert_identical(before, after):
    for k in before[0]:
        assert torch.equal(before[0][k], after[0][k]), k
    assert before[1].keys() == after[1].keys()
    for k in before[1]:
        for n in before[1][k]:
            a, b = before[1][k][n], after[1][k][n]
            assert torch.equal(a, b) if torch.is_tensor(a) else a == b
    assert before[2] == after[2]


def used_optimizer(model, train):
    """An SGD optimiser that has already taken steps, so it has momentum buffers to protect."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for xb, yb in list(train)[:2]:
        torch.nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()
        opt.zero_grad()
    return opt


def test_grid_exp_and_linear():
    np.testing.assert_allclose(lr_schedule(4, 1e-4, 1.0, "exp"), [1e-4, 1e-3, 1e-2, 1e-1])
    np.testing.assert_allclose(lr_schedule(4, 0.0001, 1.0001, "linear"),
                               [0.0001, 0.2501, 0.5001, 0.7501])


def test_runs_records_and_suggests():
    train, valid = toy_loaders()
    res = lr_range_test(small_model(), train, start_lr=1e-4, end_lr=10, num_it=60,
                        progress=False)
    assert len(res.lrs) == len(res.losses) == len(res.smoothed) <= 60
    np.testing.assert_allclose(res.lrs, lr_schedule(60, 1e-4, 10)[: len(res.lrs)])
    for name in ("valley", "steep", "minimum", "base_lr", "max_lr"):
        assert 1e-4 <= getattr(res, name) <= 10, name
    assert res.base_lr == pytest.approx(res.max_lr / 4)


def test_validation_measured_every_eval_every():
    train, valid = toy_loaders()
    res = lr_range_test(small_model(), train, val_loader=valid, start_lr=1e-3, end_lr=1.0,
                        num_it=20, eval_every=5, mode="linear", diverge_th=100,
                        progress=False)
    assert len(res.val_lrs) == 5  # steps 0, 5, 10, 15 and the last
    np.testing.assert_allclose(res.val_lrs, lr_schedule(20, 1e-3, 1.0, "linear")[[0, 5, 10, 15,
                                                                                   19]])
    assert np.all((res.val_accs >= 0) & (res.val_accs <= 1)) and np.all(res.val_losses > 0)
    assert res.max_lr == res.val_lrs[np.argmax(res.val_accs)]


def test_stops_on_divergence():
    train, _ = toy_loaders()
    res = lr_range_test(small_model(), train, start_lr=1e-3, end_lr=1e4, num_it=200,
                        progress=False)
    assert len(res.losses) < 200 and res.stop_reason.startswith("stopped at step")
    assert math.isfinite(res.suggestions["valley"])


def test_nan_loss_is_reported_not_suggested():
    train, _ = toy_loaders()
    model = small_model()
    calls = {"n": 0}

    def loss_func(out, y):
        calls["n"] += 1
        loss = torch.nn.functional.cross_entropy(out, y)
        return loss * float("nan") if calls["n"] == 30 else loss

    res = lr_range_test(model, train, loss_func, start_lr=1e-4, end_lr=1e-2, num_it=50,
                        progress=False)
    assert len(res.losses) == 30 and np.isnan(res.losses[-1])
    assert res.nonfinite == [(29, pytest.approx(res.lrs[29]), pytest.approx(float("nan"),
                                                                              nan_ok=True))]
    assert "nan" in res.stop_reason and len(res.smoothed) == 29
    assert all(math.isfinite(v) for v in res.suggestions.values())
    assert all(torch.isfinite(p).all() for p in model.parameters())  # restored


@pytest.mark.parametrize("how", ["completed", "diverged", "raised"])
def test_restore_is_bit_identical(how):
    train, _ = toy_loaders()
    model = small_model()
    opt = used_optimizer(model, train)
    model.eval()  # the test must also put the train/eval mode back
    before = snapshot(model, opt)
    kwargs = dict(start_lr=1e-4, end_lr=1e-2, num_it=10)
    if how == "diverged":
        kwargs = dict(start_lr=1e-2, end_lr=1e5, num_it=100)
    loss_func = torch.nn.CrossEntropyLoss()
    if how == "raised":
        calls = {"n": 0}

        def loss_func(out, y):
            calls["n"] += 1
            if calls["n"] == 5:
                raise KeyboardInterrupt
            return torch.nn.functional.cross_entropy(out, y)

        with pytest.raises(KeyboardInterrupt):
            lr_range_test(model, train, loss_func, opt, progress=False, **kwargs)
    else:
        lr_range_test(model, train, loss_func, opt, progress=False, **kwargs)
    assert_identical(before, snapshot(model, opt))
    assert not model.training


def test_gradient_accumulation_one_lr_per_step():
    train, _ = toy_loaders(bs=16)
    seen = []

    class Spy(torch.optim.SGD):
        def step(self, closure=None):
            seen.append(self.param_groups[0]["lr"])
            return super().step(closure)

    res = lr_range_test(small_model(), train, opt_func=lambda p, lr: Spy(p, lr=lr),
                        start_lr=1e-4, end_lr=1e-2, num_it=12, accum_steps=3, progress=False)
    assert len(seen) == 12 and np.allclose(seen, res.lrs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(start_lr=0), "start_lr must be a positive number"),
    (dict(start_lr=1.0, end_lr=0.1), "must be below end_lr"),
    (dict(num_it=1), "num_it must be an integer >= 2"),
    (dict(mode="cos"), "mode must be 'exp' or 'linear'"),
    (dict(diverge_th=0.5), "diverge_th must be a number above 1"),
    (dict(accum_steps=0), "accum_steps must be a positive integer"),
    (dict(smooth=1.0), r"smooth must be in \[0, 1\)"),
])
def test_bad_arguments(kwargs, match):
    train, _ = toy_loaders()
    with pytest.raises(ValueError, match=match):
        lr_range_test(small_model(), train, progress=False, **kwargs)


def test_suggestions_on_a_known_curve():
    lrs = np.logspace(-6, 1, 100)
    x = np.log10(lrs)
    loss = 2.3 - 1.5 / (1 + np.exp(-3 * (x + 3))) + np.where(x > -0.5, (x + 0.5) ** 2 * 4, 0)
    s = suggest(lrs, loss)
    assert 10**-3.4 < s["steep"] < 10**-2.6  # the sigmoid falls fastest at 1e-3
    assert 10**-1.5 < s["minimum"] * 10 < 10**0  # the bottom, before the quadratic rise
    assert s["valley"] < s["minimum"] * 10
    assert _longest_descent(np.array([3, 1, 2, 1.5, 0.5, 4])) == (4, 4)  # 3 > 2 > 1.5 > 0.5


def test_plot_has_curves_and_marks():
    import matplotlib

    matplotlib.use("Agg")
    train, valid = toy_loaders()
    res = lr_range_test(small_model(), train, val_loader=valid, start_lr=1e-4, end_lr=1,
                        num_it=30, eval_every=10, progress=False)
    fig = res.plot()
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_xscale() == "log" and loss_ax.get_xlabel() == "learning rate"
    labels = [line.get_label() for line in loss_ax.lines]
    assert "smoothed loss" in labels and any(lb.startswith("valley") for lb in labels)
    np.testing.assert_allclose(acc_ax.lines[0].get_ydata(), res.val_accs)


def test_agrees_with_fastai_lr_find():
    """Same model, data, seed and grid: the curves coincide and the suggestions agree."""
    from functools import partial

    from fastai.data.core import DataLoaders
    from fastai.vision.all import Learner, OptimWrapper, minimum, steep, valley

    train, valid = toy_loaders(n=512)
    ours = lr_range_test(small_model(1), train, start_lr=1e-5, end_lr=10, num_it=80,
                         progress=False)

    train, valid = toy_loaders(n=512)  # the same batches again, from a fresh generator
    learn = Learner(DataLoaders(train, valid), small_model(1),
                    loss_func=torch.nn.CrossEntropyLoss(),
                    opt_func=partial(OptimWrapper, opt=torch.optim.SGD, momentum=0.9))
    with learn.no_bar(), learn.no_logging():
        theirs = learn.lr_find(start_lr=1e-5, end_lr=10, num_it=80, show_plot=False,
                               suggest_funcs=(valley, steep, minimum))
    fa_lrs = np.array(learn.recorder.lrs)
    fa_smooth = np.array([float(v) for v in learn.recorder.losses])
    n = min(len(fa_lrs), len(ours.lrs))
    assert n > 40
    np.testing.assert_allclose(ours.lrs[:n], fa_lrs[:n], rtol=1e-6)  # the same LR grid
    np.testing.assert_allclose(ours.smoothed[:n], fa_smooth[:n], rtol=2e-3)  # the same curve
    for name in ("valley", "steep", "minimum"):
        mine, fastai_value = ours.suggestions[name], getattr(theirs, name)
        assert 0.5 <= mine / fastai_value <= 2, (name, mine, fastai_value)
