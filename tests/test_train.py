"""utils.train: the loop records what it did, follows its schedule, and repeats exactly."""

from functools import partial

import matplotlib
import numpy as np
import pytest
import torch

from utils import resnet_cifar, seed_everything
from utils.data import TensorLoader
from utils.schedules import cyclic_lr, one_cycle
from utils.train import History, batch_throughput, evaluate, fit

matplotlib.use("Agg")


def loaders(seed=0, n=96, bs=16):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    y = x.reshape(n, 3, -1).mean(2).argmax(1).astype(np.int64)
    train = TensorLoader(x, y, bs, shuffle=True, augment=True, drop_last=True, seed=seed)
    valid = TensorLoader(x[:32], y[:32], 32, mean=train.mean, std=train.std)
    return train, valid


def run(seed=0, **kwargs):
    seed_everything(seed)
    model = resnet_cifar(8, num_classes=3, width=4)
    args = dict(epochs=2, lr_sched=0.05, progress=False)
    return fit(model, loaders(seed), **{**args, **kwargs})


def test_records_iterations_and_epochs():
    h = run()
    assert len(h.loss) == len(h.lr) == len(h.mom) == 12  # 2 epochs x 6 batches
    df = h.to_frame()
    assert list(df.index) == [1, 2]
    assert {"train_loss", "valid_loss", "top1", "top5", "seconds"} <= set(df.columns)
    assert ((df.top1 >= 0) & (df.top1 <= df.top5) & (df.top5 <= 1)).all()
    assert df.train_loss.iloc[0] == pytest.approx(np.mean(h.loss[:6]))
    assert h.metrics()["valid_loss"] == list(df.valid_loss)


def test_recorded_lr_and_momentum_follow_the_schedule():
    total = 12
    h = run(lr_sched=partial(one_cycle, total_steps=total, max_lr=0.1))
    lr, mom = one_cycle(np.arange(total), total, 0.1)
    np.testing.assert_allclose(h.lr, lr)
    np.testing.assert_allclose(h.mom, mom)
    h = run(lr_sched=lambda it: cyclic_lr(it, 0.01, 0.1, 3), mom_sched=0.8, opt="adamw")
    np.testing.assert_allclose(h.lr, cyclic_lr(np.arange(total), 0.01, 0.1, 3))
    assert h.mom == [0.8] * total


def test_same_seed_same_losses_on_cpu():
    a, b, c = run(0), run(0), run(1)
    assert a.loss == b.loss and a.epochs[-1]["valid_loss"] == b.epochs[-1]["valid_loss"]
    assert a.loss != c.loss


def test_training_reduces_loss():
    h = run(epochs=6, lr_sched=partial(one_cycle, total_steps=36, max_lr=0.2))
    assert np.mean(h.loss[-6:]) < np.mean(h.loss[:6])


def test_interrupt_keeps_history():
    hist = History()
    seen = {"n": 0}

    def loss_func(out, y):
        seen["n"] += 1
        if seen["n"] == 9:  # 6 training batches, 1 validation batch, then the 2nd of epoch 2
            raise KeyboardInterrupt
        return torch.nn.functional.cross_entropy(out, y)

    with pytest.raises(KeyboardInterrupt):
        run(loss_func=loss_func, history=hist)
    assert hist.interrupted and len(hist.epochs) == 1
    assert len(hist.lr) == len(hist.loss) == 7


def test_evaluate_counts_top1_top5():
    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):  # class scores 0..9, so the ranking is 9, 8, 7, ...
            return torch.arange(10.0).expand(len(x), 10) + self.w

    x = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    y = torch.tensor([9, 5, 0, 6])
    res = evaluate(Fixed(), TensorLoader(x, y, 2, mean=[0.5] * 3, std=[0.5] * 3))
    assert res["top1"] == 0.25 and res["top5"] == 0.75


def test_plot_panels():
    fig = run().plot()
    assert [a.get_title() for a in fig.axes[:3]] == ["loss", "schedule", "accuracy"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(opt="lamb"), "opt must be one of 'sgd', 'adamw'"),
    (dict(wd=-1), "wd must be a number >= 0"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run(**kwargs)


def test_bad_dls():
    with pytest.raises(ValueError, match="DataLoaders or a"):
        fit(resnet_cifar(8, width=4), [1, 2, 3], 1, 0.1, progress=False)


def test_batch_throughput_measures_every_size():
    df = batch_throughput(lambda: resnet_cifar(8, width=4), [32, 8], steps=1)
    assert list(df.index) == [8, 32] and df["fits"].all()
    assert (df["images_per_s"] > 0).all()


def test_batch_throughput_stops_at_the_first_size_that_does_not_fit(monkeypatch):
    import utils.train as T

    def fake(model, bs, *args):
        if bs >= 64:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return float(bs)

    monkeypatch.setattr(T, "_time_steps", fake)
    df = batch_throughput(lambda: resnet_cifar(8, width=4), [16, 32, 64, 128], steps=1)
    assert df["fits"].tolist() == [True, True, False, False]
    assert df.loc[32, "images_per_s"] == 32 and np.isnan(df.loc[128, "images_per_s"])


@pytest.mark.parametrize("sizes", [[], [0], [16, "32"]])
def test_batch_throughput_bad_sizes(sizes):
    with pytest.raises(ValueError, match="sizes must be positive integers"):
        batch_throughput(lambda: resnet_cifar(8, width=4), sizes)
