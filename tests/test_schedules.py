"""utils.schedules: exact agreement with PyTorch's and fastai's schedulers, and clear errors."""

import itertools

import numpy as np
import pytest
import torch

from utils.schedules import Scheduler, cyclic_lr, cyclic_momentum, one_cycle, piecewise_constant


def sgd(lr=0.1, momentum=0.9):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, momentum=momentum)


def run_torch(sched_fn, steps, opt=None):
    """Step a torch scheduler and record lr and momentum seen by each optimiser step."""
    opt = opt or sgd()
    sched = sched_fn(opt)
    lrs, moms = [], []
    for _ in range(steps):
        g = opt.param_groups[0]
        lrs.append(g["lr"])
        moms.append(g["betas"][0] if "betas" in g else g["momentum"])
        opt.step()
        sched.step()
    return np.array(lrs), np.array(moms)


@pytest.mark.parametrize("mode, gamma", [("triangular", 1.0), ("triangular2", 1.0),
                                         ("exp_range", 0.9993)])
@pytest.mark.parametrize("step_size", [7, 50])
def test_cyclic_lr_equals_torch(mode, gamma, step_size):
    steps = 9 * step_size + 3  # several cycles and a partial one
    ref_lr, ref_mom = run_torch(lambda o: torch.optim.lr_scheduler.CyclicLR(
        o, 0.001, 0.1, step_size_up=step_size, mode=mode, gamma=gamma, base_momentum=0.8,
        max_momentum=0.95), steps)
    its = np.arange(steps)
    np.testing.assert_allclose(cyclic_lr(its, 0.001, 0.1, step_size, mode, gamma), ref_lr,
                               rtol=1e-12, atol=0)
    np.testing.assert_allclose(cyclic_momentum(its, 0.8, 0.95, step_size, mode, gamma),
                               ref_mom, rtol=1e-12, atol=0)


def test_cyclic_lr_shape_and_scalars():
    assert cyclic_lr(0, 0.01, 0.1, 10) == pytest.approx(0.01)
    assert cyclic_lr(10, 0.01, 0.1, 10) == pytest.approx(0.1)
    assert cyclic_lr(20, 0.01, 0.1, 10) == pytest.approx(0.01)
    assert isinstance(cyclic_lr(3, 0.01, 0.1, 10), float)
    assert cyclic_lr(np.arange(12).reshape(3, 4), 0.01, 0.1, 10).shape == (3, 4)
    # triangular2 halves the amplitude every cycle
    peaks = cyclic_lr(np.array([10, 30, 50]), 1e-9, 1.0, 10, "triangular2")
    np.testing.assert_allclose(peaks, [1.0, 0.5, 0.25], rtol=1e-6)


TORCH_ONECYCLE = list(itertools.product([False, True], ["cos", "linear"], [0.25, 0.3]))


@pytest.mark.parametrize("three_phase, anneal, pct", TORCH_ONECYCLE)
@pytest.mark.parametrize("total", [100, 997])
def test_one_cycle_equals_torch(three_phase, anneal, pct, total):
    div, final_div = 25.0, 1e4
    ref_lr, ref_mom = run_torch(lambda o: torch.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.4, total_steps=total, pct_start=pct, anneal_strategy=anneal,
        div_factor=div, final_div_factor=final_div, three_phase=three_phase,
        base_momentum=0.85, max_momentum=0.95), total)
    lr, mom = one_cycle(np.arange(total), total, 0.4, pct, div, div * final_div, anneal,
                        three_phase, (0.95, 0.85, 0.95), convention="torch")
    np.testing.assert_allclose(lr, ref_lr, rtol=1e-12, atol=0)
    np.testing.assert_allclose(mom, ref_mom, rtol=1e-12, atol=0)


def test_one_cycle_with_adam_betas_equals_torch():
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    ref_lr, ref_mom = run_torch(lambda o: torch.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.01, total_steps=50), 50, opt)
    lr, mom = one_cycle(np.arange(50), 50, 0.01, 0.3, 25.0, 25e4, convention="torch")
    np.testing.assert_allclose(lr, ref_lr, rtol=1e-12)
    np.testing.assert_allclose(mom, ref_mom, rtol=1e-12)


def fastai_recorded(n_epoch, n_batches, lr_max, **kwargs):
    """lrs and moms that fastai's Recorder logs during fit_one_cycle on a tiny problem."""
    from fastai.data.core import DataLoaders
    from fastai.vision.all import Learner

    from utils.data import TensorLoader

    x = torch.zeros(n_batches * 2, 3, 4, 4, dtype=torch.uint8)
    y = torch.zeros(n_batches * 2, dtype=torch.long)
    dls = DataLoaders(TensorLoader(x, y, 2, drop_last=True, mean=[0.5] * 3, std=[0.5] * 3),
                      TensorLoader(x, y, 2, mean=[0.5] * 3, std=[0.5] * 3))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 2))
    learn = Learner(dls, model, loss_func=torch.nn.CrossEntropyLoss())
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(n_epoch, lr_max, **kwargs)
    hps = learn.recorder.hps  # what ParamScheduler set before every training batch
    return np.array(hps["lr"]), np.array(hps["mom"])


@pytest.mark.parametrize("n_epoch, n_batches, kwargs", [
    (3, 7, {}),
    (2, 13, dict(pct_start=0.3, div=10.0, div_final=1e4, moms=(0.9, 0.8, 0.9))),
])
def test_one_cycle_equals_fastai_recorder(n_epoch, n_batches, kwargs):
    ref_lr, ref_mom = fastai_recorded(n_epoch, n_batches, 0.05, **kwargs)
    total = n_epoch * n_batches
    assert len(ref_lr) == total
    lr, mom = one_cycle(np.arange(total), total, 0.05, **kwargs)
    # fastai computes the position inside a phase in float32 (7 significant digits), which
    # near the end of the cycle, where the LR is tiny, shows as relative differences of 1e-6
    np.testing.assert_allclose(lr, ref_lr, rtol=1e-5)
    np.testing.assert_allclose(mom, ref_mom, rtol=1e-6)


def test_fastai_and_torch_conventions_differ_by_indexing_only():
    its = np.arange(1000)
    a = one_cycle(its, 1000, 1.0, convention="fastai")[0]
    b = one_cycle(its, 1000, 1.0, convention="torch")[0]
    assert a[0] == b[0] == pytest.approx(1 / 25)
    assert np.max(np.abs(a - b)) < 0.01  # same shape, shifted by about a step
    assert b[-1] == pytest.approx(1 / 25 / 4e3) and a[-1] > b[-1]  # only torch reaches the end


@pytest.mark.parametrize("call, match", [
    (lambda: cyclic_lr(0, -1, 0.1, 10), "base_lr must be a positive number"),
    (lambda: cyclic_lr(0, 0.2, 0.1, 10), r"base_lr \(0.2\) must not exceed max_lr"),
    (lambda: cyclic_lr(0, 0.01, 0.1, 0), "step_size must be a positive integer"),
    (lambda: cyclic_lr(0, 0.01, 0.1, 10, "cosine"), "mode must be one of 'triangular'"),
    (lambda: cyclic_lr(-1, 0.01, 0.1, 10), r"it must lie in \[0"),
    (lambda: cyclic_momentum(0, 0.8, 1.2, 10), r"max_mom must be in \[0, 1\)"),
    (lambda: one_cycle(0, 100, 0.0), "max_lr must be a positive number"),
    (lambda: one_cycle(0, 0, 0.1), "total_steps must be a positive"),
    (lambda: one_cycle(100, 100, 0.1), r"it must lie in \[0, 100\)"),
    (lambda: one_cycle(0, 100, 0.1, pct_start=1.0), r"pct_start must be in \(0, 1\)"),
    (lambda: one_cycle(0, 100, 0.1, pct_start=0.6, three_phase=True), "below 0.5"),
    (lambda: one_cycle(0, 100, 0.1, anneal="exp"), "anneal must be one of 'cos', 'linear'"),
    (lambda: one_cycle(0, 100, 0.1, moms=(0.95, 1.0, 0.95)), r"moms\[1\] must be in \[0, 1\)"),
    (lambda: one_cycle(0, 100, 0.1, convention="keras"), "convention must be one of"),
])
def test_bad_input_names_parameter_and_range(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_scheduler_drives_sgd_and_adam():
    for opt, key in ((sgd(), "momentum"), (torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))]),
                                           "betas")):
        sched = Scheduler(opt, fn=lambda it: one_cycle(it, 20, 0.1))
        seen_lr, seen_mom = [], []
        for _ in range(20):
            g = opt.param_groups[0]
            seen_lr.append(g["lr"])
            seen_mom.append(g[key][0] if key == "betas" else g[key])
            opt.step()
            if len(seen_lr) < 20:
                sched.step()
        lr, mom = one_cycle(np.arange(20), 20, 0.1)
        np.testing.assert_allclose(seen_lr, lr)
        np.testing.assert_allclose(seen_mom, mom)


def test_scheduler_resumes_from_state_dict():
    opt = sgd()
    sched = Scheduler(opt, lr_fn=lambda it: cyclic_lr(it, 0.01, 0.1, 5))
    for _ in range(7):
        sched.step()
    opt2 = sgd()
    resumed = Scheduler(opt2, lr_fn=lambda it: cyclic_lr(it, 0.01, 0.1, 5))
    resumed.load_state_dict(sched.state_dict())
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == cyclic_lr(7, 0.01, 0.1, 5)
    with pytest.raises(ValueError, match="either lr_fn"):
        Scheduler(opt)


def test_scheduler_refuses_optimiser_without_momentum():
    opt = torch.optim.Adagrad([torch.nn.Parameter(torch.zeros(1))])
    with pytest.raises(ValueError, match="neither 'momentum' nor 'betas'"):
        Scheduler(opt, lr_fn=lambda it: 0.1, mom_fn=lambda it: 0.9)


def test_fastai_callback_runs_clr():
    from fastai.data.core import DataLoaders
    from fastai.vision.all import SGD, Callback, Learner

    from utils.data import TensorLoader
    from utils.schedules import CyclicLRCallback

    x = torch.zeros(20, 3, 4, 4, dtype=torch.uint8)
    y = torch.zeros(20, dtype=torch.long)
    dls = DataLoaders(TensorLoader(x, y, 2, drop_last=True, mean=[0.5] * 3, std=[0.5] * 3),
                      TensorLoader(x, y, 2, mean=[0.5] * 3, std=[0.5] * 3))
    learn = Learner(dls, torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 2)),
                    loss_func=torch.nn.CrossEntropyLoss(), opt_func=SGD)
    cb = CyclicLRCallback(0.01, 0.1, step_size=4, mode="triangular2", base_mom=0.8,
                          max_mom=0.9)
    seen = []

    class Spy(Callback):
        order = 70  # after CyclicLRCallback has set this batch's values

        def before_batch(self):
            if self.training:
                seen.append((self.opt.hypers[-1]["lr"], self.opt.hypers[-1]["mom"]))

    with learn.no_bar(), learn.no_logging():
        learn.fit(3, cbs=[cb, Spy()])
    its = np.arange(30)
    lrs, moms = np.array(seen).T
    np.testing.assert_allclose(lrs, cyclic_lr(its, 0.01, 0.1, 4, "triangular2"))
    np.testing.assert_allclose(moms, cyclic_momentum(its, 0.8, 0.9, 4, "triangular2"))
    np.testing.assert_allclose(learn.recorder.lrs, lrs)
    with pytest.raises(ValueError, match="mode must be one of"):
        CyclicLRCallback(0.01, 0.1, 4, mode="sine")


def test_piecewise_constant_equals_multisteplr():
    total = 403
    ref, _ = run_torch(lambda o: torch.optim.lr_scheduler.MultiStepLR(
        o, milestones=[int(0.5 * total), int(0.75 * total)], gamma=0.1), total, sgd(lr=0.35))
    got = piecewise_constant(np.arange(total), total, 0.35)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert piecewise_constant(0, 10, 0.1) == 0.1 and piecewise_constant(9, 10, 0.1) == \
        pytest.approx(0.001)
    with pytest.raises(ValueError, match="milestones must be increasing fractions"):
        piecewise_constant(0, 10, 0.1, milestones=(0.8, 0.5))
