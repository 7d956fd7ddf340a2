"""utils.topology: interpolation reproduces its end points, survives NaN, and BN recomputation
changes statistics, not weights."""

import matplotlib
import numpy as np
import pytest
import torch

from utils import resnet_cifar, seed_everything
from utils.data import TensorLoader
from utils.topology import (
    Snapshots,
    blend,
    interpolate,
    plot_interpolation,
    recompute_bn_statistics,
)
from utils.train import evaluate, fit

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def two_solutions():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (96, 3, 32, 32), dtype=np.uint8)
    y = x.reshape(96, 3, -1).mean(2).argmax(1).astype(np.int64)
    train = TensorLoader(x, y, 16, shuffle=True, seed=0)
    plain = TensorLoader(x, y, 32, mean=train.mean, std=train.std)
    valid = TensorLoader(x[:32], y[:32], 32, mean=train.mean, std=train.std)
    seed_everything(0)
    model = resnet_cifar(8, 3, width=4)
    fit(model, (train, valid), 1, 0.05, progress=False)
    a = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, (train, valid), 2, 0.05, progress=False)
    b = {k: v.clone() for k, v in model.state_dict().items()}
    return model, a, b, plain, valid


def test_end_points_reproduce_the_two_models(two_solutions):
    model, a, b, plain, valid = two_solutions
    df = interpolate(model, a, b, [0.0, 0.5, 1.0], (plain, valid), recompute_bn=False,
                     progress=False)
    for alpha, state in ((0.0, a), (1.0, b)):
        model.load_state_dict(state)
        row = df[df.alpha == alpha].iloc[0]
        assert row.train_loss == evaluate(model, plain)["valid_loss"]
        assert row.valid_loss == evaluate(model, valid)["valid_loss"]
    assert list(df.columns) == ["alpha", "train_loss", "train_acc", "valid_loss", "valid_acc",
                                "finite"]


def test_model_left_holding_state_a(two_solutions):
    model, a, b, plain, valid = two_solutions
    interpolate(model, a, b, [0.3, 2.0], (plain, valid), progress=False)
    assert all(torch.equal(v, a[k]) for k, v in model.state_dict().items())


def test_blend_is_linear_and_keeps_integer_buffers(two_solutions):
    _, a, b, _, _ = two_solutions
    mid = blend(a, b, 0.25)
    k = next(k for k, v in a.items() if v.is_floating_point())
    torch.testing.assert_close(mid[k], 0.75 * a[k] + 0.25 * b[k])
    counters = [k for k, v in a.items() if not v.is_floating_point()]
    assert counters and all(torch.equal(mid[c], a[c]) for c in counters)
    with pytest.raises(ValueError, match="same architecture"):
        blend(a, {k: v for k, v in list(b.items())[1:]}, 0.5)


def test_recompute_bn_changes_statistics_not_weights(two_solutions):
    model, a, b, plain, _ = two_solutions
    model.load_state_dict(blend(a, b, 0.5))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    recompute_bn_statistics(model, plain)
    after = model.state_dict()
    stats = [k for k in before if "running_" in k]
    weights = [k for k, v in model.named_parameters()]
    assert stats and any(not torch.equal(before[k], after[k]) for k in stats)
    assert all(torch.equal(before[k], after[k]) for k in weights)
    # the statistics are those of the current activations: the first BN's running mean equals
    # the mean of its input over the batches seen
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    with torch.no_grad():
        acts = torch.cat([conv(xb) for xb, _ in plain])
    torch.testing.assert_close(bn.running_mean, acts.mean((0, 2, 3)), atol=1e-4, rtol=1e-4)


def test_non_finite_losses_are_recorded_not_raised(two_solutions):
    model, a, b, plain, valid = two_solutions
    far = {k: (v * 1e30 if v.is_floating_point() else v) for k, v in b.items()}
    df = interpolate(model, a, far, [0.0, 1.0, 5.0], (plain, valid), progress=False)
    assert df.finite.tolist()[0] and not df.finite.tolist()[-1]
    assert np.isnan(df.valid_loss.iloc[-1])
    fig = plot_interpolation(df)
    assert any(line.get_label().startswith("non-finite") for line in fig.axes[0].lines)


def test_bad_alphas(two_solutions):
    model, a, b, plain, valid = two_solutions
    with pytest.raises(ValueError, match="alphas must be"):
        interpolate(model, a, b, [], (plain, valid), progress=False)


def test_snapshots_callback_keeps_chosen_epochs():
    from fastai.data.core import DataLoaders
    from fastai.vision.all import Learner

    x = np.random.default_rng(0).integers(0, 256, (32, 3, 32, 32), dtype=np.uint8)
    y = np.arange(32) % 3
    dls = DataLoaders(TensorLoader(x, y, 8, shuffle=True), TensorLoader(x, y, 16))
    learn = Learner(dls, resnet_cifar(8, 3, width=4), loss_func=torch.nn.CrossEntropyLoss())
    snaps = Snapshots(epochs=(1, 3))
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(3, 1e-2, cbs=snaps)
    assert sorted(snaps.states) == [1, 3]
    k = next(k for k, v in snaps.states[1].items() if v.is_floating_point())
    assert not torch.equal(snaps.states[1][k], snaps.states[3][k])
    final = learn.model.state_dict()
    assert all(torch.equal(snaps.states[3][n], v.cpu()) for n, v in final.items())


def test_loss_plane_marks_origin_and_covers_solutions(two_solutions):
    from utils.topology import loss_plane, plot_plane

    model, a, b, plain, valid = two_solutions
    c = blend(a, b, -0.5)
    grid, marks = loss_plane(model, [a, b, c], (plain, valid), steps=3, bn_batches=1,
                             progress=False)
    assert len(grid) == 9 and set(grid.columns) >= {"u", "v", "train_loss", "valid_loss"}
    assert marks.iloc[0].tolist() == [0.0, 0.0]  # the first solution is the origin
    assert grid.u.min() <= marks.u.min() and grid.u.max() >= marks.u.max()
    assert grid.v.min() <= marks.v.min() and grid.v.max() >= marks.v.max()
    assert all(torch.equal(v, a[k]) for k, v in model.state_dict().items())
    fig = plot_plane(grid, marks, labels=["a", "b", "c"])
    assert [t.get_text() for t in fig.axes[0].texts] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="exactly three"):
        loss_plane(model, [a, b], (plain, valid))
