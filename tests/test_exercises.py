"""utils.exercises: checkers accept right answers and give hints, not bare assertions."""

import numpy as np
import pytest
import torch

from utils.exercises import NotYet, check_channel_stats, check_flip, check_param_count
from utils.models import count_params, resnet_cifar


def test_channel_stats_checker(capsys):
    x = np.random.default_rng(0).integers(0, 256, (20, 3, 8, 8), dtype=np.uint8)
    f = x / 255
    check_channel_stats(f.mean((0, 2, 3)), f.std((0, 2, 3)), x)
    assert capsys.readouterr().out.startswith("Correct.")
    with pytest.raises(NotYet, match="divide by 255"):
        check_channel_stats(x.mean((0, 2, 3)), x.std((0, 2, 3)), x)
    with pytest.raises(NotYet, match="axes 0, 2 and 3"):
        check_channel_stats(f.mean((0, 1, 2))[:3], f.std((0, 2, 3)), x)
    with pytest.raises(NotYet, match="compute mean and std first"):
        check_channel_stats(None, None, x)


def test_param_count_checker(capsys):
    check_param_count(20, count_params(resnet_cifar(20)))
    assert "269,722" in capsys.readouterr().out
    with pytest.raises(NotYet, match="less than the true count"):
        check_param_count(20, 1000)
    with pytest.raises(NotYet, match="should be an integer"):
        check_param_count(20, "lots")


def test_flip_checker():
    def good(xb, gen):
        flip = torch.rand(len(xb), generator=gen) < 0.5
        return torch.where(flip[:, None, None, None], xb.flip(-1), xb)

    check_flip(good)
    with pytest.raises(NotYet, match="mirrored left-right"):
        check_flip(lambda xb, gen: torch.where(
            (torch.rand(len(xb), generator=gen) < 0.5)[:, None, None, None], xb.flip(-2), xb))
    with pytest.raises(NotYet, match="probability 0.5"):
        check_flip(lambda xb, gen: xb.flip(-1))
    with pytest.raises(NotYet, match="same shape and dtype"):
        check_flip(lambda xb, gen: xb.float())


def test_triangular_checker():
    from utils.exercises import check_triangular
    from utils.schedules import cyclic_lr

    check_triangular(lambda it, lo, hi, step: cyclic_lr(it, lo, hi, step))
    with pytest.raises(NotYet, match="rise from base_lr"):
        check_triangular(lambda it, lo, hi, step: lo)

    def todo(it, lo, hi, step):
        raise NotImplementedError()

    with pytest.raises(NotYet, match="write the function body"):
        check_triangular(todo)


def test_range_reading_and_halving_checkers():
    from types import SimpleNamespace

    from utils.exercises import check_halving, check_range_test_reading

    full, half = SimpleNamespace(max_lr=0.8), SimpleNamespace(max_lr=0.4)
    check_range_test_reading(full, half, "lower")
    with pytest.raises(NotYet, match="look again"):
        check_range_test_reading(full, half, "higher")
    with pytest.raises(NotYet, match="'lower' or 'higher'"):
        check_range_test_reading(full, half, "same")
    check_halving(0.9999, 6931.1)
    with pytest.raises(NotYet, match="solve gamma"):
        check_halving(0.9999, 5000)


def test_chapter2_checkers():
    from utils.exercises import check_optimizer_comparison, check_peak_steps, check_smith_one_cycle
    from utils.schedules import one_cycle

    check_smith_one_cycle(lambda it, total, max_lr: one_cycle(
        it, total, max_lr, 0.45, 10.0, 1e3, "linear", True, convention="torch")[0])
    with pytest.raises(NotYet, match="Phase 1 ends"):
        check_smith_one_cycle(lambda it, total, max_lr: one_cycle(
            it, total, max_lr, 0.45, 10.0, 1e3, "linear", True, convention="fastai")[0])
    check_optimizer_comparison(0.6, 0.5, "sgd")
    with pytest.raises(NotYet, match="look again"):
        check_optimizer_comparison(0.6, 0.5, "adamw")
    check_peak_steps(250, 249)
    with pytest.raises(NotYet, match="PyTorch"):
        check_peak_steps(250, 250)


def test_chapter3_checkers():
    from utils.exercises import check_blend, check_bn_answer, check_distance
    from utils.topology import blend

    check_blend(blend)
    with pytest.raises(NotYet, match="integer tensors"):
        check_blend(lambda a, b, t: {k: (1 - t) * a[k] + t * b[k] for k in a})
    check_bn_answer(2.0, 1.5, "higher")
    with pytest.raises(NotYet, match="look again"):
        check_bn_answer(2.0, 1.5, "lower")
    check_distance(4, 3.0)
    with pytest.raises(NotYet, match="w_b - w_a"):
        check_distance(4, 4.0)


def test_chapter4_checkers(capsys):
    import math

    import pandas as pd

    from utils.exercises import check_best_setting, check_same_choice, check_scale_lr

    def scale(lr, bs, new_bs, rule="linear"):
        if rule not in ("linear", "sqrt"):
            raise ValueError("rule must be 'linear' or 'sqrt'")
        r = new_bs / bs
        return lr * (r if rule == "linear" else math.sqrt(r))

    check_scale_lr(scale)
    with pytest.raises(NotYet, match="square root"):
        check_scale_lr(lambda lr, bs, new_bs, rule="linear": lr * new_bs / bs)

    def best_setting(runs, key):
        ok = runs.groupby(key)["valid_loss"].agg(["mean", "std", lambda v: v.isna().any()])
        ok = ok[~ok.iloc[:, 2]].sort_values("mean")
        if len(ok) == 1:
            return ok.index[0], True
        return ok.index[0], ok["mean"].iloc[1] - ok["mean"].iloc[0] > ok["std"].iloc[:2].sum()

    check_best_setting(best_setting)
    with pytest.raises(NotYet, match="not clear"):
        check_best_setting(lambda runs, key: (best_setting(runs, key)[0], True))
    with pytest.raises(NotYet, match="diverged"):
        check_best_setting(lambda runs, key: best_setting(runs.fillna(0.0), key))

    def runs(table):
        return pd.DataFrame([{"wd": k, "seed": 0, "status": "ok", "valid_loss": v}
                             for k, v in table.items()])

    two, one = runs({1e-4: 1.0, 1e-3: 1.2}), runs({1e-4: 1.3, 1e-3: 1.1})
    check_same_choice(two, two, True)
    check_same_choice(two, one, False)
    with pytest.raises(NotYet, match="one epoch wd=0.001"):
        check_same_choice(two, one, True)
    with pytest.raises(NotYet, match="True or False"):
        check_same_choice(two, one, "no")
    assert capsys.readouterr().out.count("Correct.") == 4
