"""utils.widgets: the schedule explorer follows its controls, and the static plot."""

import matplotlib
import numpy as np
import pytest

from utils.schedules import cyclic_lr, cyclic_momentum, one_cycle
from utils.widgets import plot_schedule, schedule_explorer

matplotlib.use("Agg")


def test_one_cycle_explorer_follows_controls():
    ex = schedule_explorer("one_cycle", total_steps=400)
    assert set(ex.controls) >= {"max_lr", "pct_start", "div", "div_final", "anneal",
                                "three_phase", "mom_max", "mom_min", "convention"}
    ex.controls["max_lr"].value = 0.5
    ex.controls["pct_start"].value = 0.3
    ex.controls["anneal"].value = "linear"
    ex.controls["three_phase"].value = True
    ex.controls["convention"].value = "torch"
    its, lrs, moms = ex.schedule()
    ref_lr, ref_mom = one_cycle(np.arange(400), 400, 0.5, 0.3, 25.0, 1e5, "linear", True,
                                (0.95, 0.85, 0.95), "torch")
    np.testing.assert_array_equal(lrs, ref_lr)
    np.testing.assert_array_equal(moms, ref_mom)
    # the figure was redrawn with the new values
    np.testing.assert_array_equal(ex.lines[0].get_ydata(), ref_lr)
    np.testing.assert_array_equal(ex.lines[1].get_ydata(), ref_mom)


def test_cyclic_explorer_follows_controls():
    ex = schedule_explorer("cyclic", total_steps=1000)
    ex.controls["mode"].value = "triangular2"
    ex.controls["step_size"].value = 100
    ex.controls["base_lr"].value = 0.001
    its, lrs, moms = ex.schedule()
    np.testing.assert_array_equal(lrs, cyclic_lr(its, 0.001, 0.1, 100, "triangular2"))
    np.testing.assert_array_equal(moms, cyclic_momentum(its, 0.85, 0.95, 100, "triangular2"))
    np.testing.assert_array_equal(ex.lines[0].get_ydata(), lrs)


def test_invalid_combination_shows_message_keeps_last_figure():
    ex = schedule_explorer("cyclic", total_steps=200)
    before = ex.lines[0].get_ydata().copy()
    ex.controls["base_lr"].value = 1.0  # above max_lr = 0.1
    assert "must not exceed max_lr" in ex.message.value
    np.testing.assert_array_equal(ex.lines[0].get_ydata(), before)
    ex.controls["base_lr"].value = 0.01
    assert ex.message.value == ""


def test_plot_schedule_overlays_variants():
    fig = plot_schedule("one_cycle", 300, label="fastai")
    plot_schedule("one_cycle", 300, ax=fig.axes, label="torch", convention="torch")
    lr_ax, mom_ax = fig.axes
    assert len(lr_ax.lines) == 2 and lr_ax.get_xlabel() == "iteration"
    assert lr_ax.get_ylabel() == "learning rate" and mom_ax.get_ylabel() == "momentum"
    np.testing.assert_array_equal(lr_ax.lines[1].get_ydata(),
                                  one_cycle(np.arange(300), 300, 0.1, convention="torch")[0])


@pytest.mark.parametrize("call, match", [
    (lambda: schedule_explorer("step"), "kind must be one of"),
    (lambda: plot_schedule("cyclic", 100, max_lr=0.1, warmup=3), "unknown parameter"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
