"""See a schedule change as you move its sliders; explained in chapters 1 and 2.

:func:`plot_schedule` draws the learning rate and momentum of a schedule over the iterations
(the static figure of the book); :func:`schedule_explorer` wraps it in ipywidgets so a reader can
move every parameter and watch the curves follow.
"""

from __future__ import annotations

import numpy as np

from .schedules import ANNEALS, CLR_MODES, CONVENTIONS, cyclic_lr, cyclic_momentum, one_cycle

# Default parameter values of each kind of schedule, in the order the sliders appear.
DEFAULTS = {
    "one_cycle": dict(max_lr=0.1, pct_start=0.25, div=25.0, div_final=1e5, anneal="cos",
                      three_phase=False, mom_max=0.95, mom_min=0.85, convention="fastai"),
    "cyclic": dict(base_lr=0.01, max_lr=0.1, step_size=250, mode="triangular", gamma=0.999,
                   base_mom=0.85, max_mom=0.95),
}


def schedule_values(kind: str, total_steps: int, **params):
    """``(iterations, lrs, moms)`` of a schedule over ``total_steps`` iterations."""
    if kind not in DEFAULTS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, DEFAULTS))}; got {kind!r}")
    unknown = set(params) - set(DEFAULTS[kind])
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)} for {kind!r}; accepted: "
                         f"{', '.join(DEFAULTS[kind])}")
    p = {**DEFAULTS[kind], **params}
    its = np.arange(total_steps)
    if kind == "one_cycle":
        lrs, moms = one_cycle(its, total_steps, p["max_lr"], p["pct_start"], p["div"],
                              p["div_final"], p["anneal"], p["three_phase"],
                              (p["mom_max"], p["mom_min"], p["mom_max"]), p["convention"])
    else:
        clr = dict(step_size=int(p["step_size"]), mode=p["mode"], gamma=p["gamma"])
        lrs = cyclic_lr(its, p["base_lr"], p["max_lr"], **clr)
        moms = cyclic_momentum(its, p["base_mom"], p["max_mom"], **clr)
    return its, lrs, moms


def plot_schedule(kind: str = "one_cycle", total_steps: int = 1000, ax=None, label=None,
                  **params):
    """Learning rate (left) and momentum (right) of a schedule against the iteration.

    Pass ``ax`` (a pair of axes) to draw several schedules on one figure, e.g. the three 1cycle
    variants of chapter 2. Returns the figure.
    """
    import matplotlib.pyplot as plt

    its, lrs, moms = schedule_values(kind, total_steps, **params)
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.2))
    fig = ax[0].figure
    ax[0].plot(its, lrs, label=label)
    ax[1].plot(its, moms, label=label)
    for a, name in zip(ax, ("learning rate", "momentum")):
        a.set_xlabel("iteration")
        a.set_ylabel(name)
        a.grid(alpha=0.3)
    if label:
        ax[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _control(name, value):
    import ipywidgets as W

    style = {"description_width": "90px"}
    if name in ("anneal", "mode", "convention"):
        options = {"anneal": ANNEALS, "mode": CLR_MODES, "convention": CONVENTIONS}[name]
        return W.Dropdown(options=options, value=value, description=name, style=style)
    if name == "three_phase":
        return W.Checkbox(value=value, description=name, style=style)
    if name == "step_size":
        return W.IntSlider(value=value, min=10, max=2000, step=10, description=name, style=style)
    if name in ("div", "div_final", "max_lr", "base_lr"):  # spans decades: a log slider
        lo, hi = {"div": (0, 3), "div_final": (1, 6)}.get(name, (-4, 1))
        return W.FloatLogSlider(value=value, base=10, min=lo, max=hi, step=0.1,
                                description=name, style=style)
    lo, hi, step = {"pct_start": (0.05, 0.95, 0.01), "gamma": (0.99, 1.0, 0.0005)}.get(
        name, (0.5, 0.99, 0.01))  # the momenta
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=name,
                         style=style, readout_format=".4g")


class ScheduleExplorer:
    """Sliders for every parameter of a schedule and a figure that redraws as they move.

    ``.controls`` maps each parameter to its widget; ``.schedule()`` returns
    ``(iterations, lrs, moms)`` for the current values; ``.widget`` is what a notebook shows.
    A combination the schedule refuses (e.g. ``base_lr`` above ``max_lr``) shows its error
    message instead of the figure.
    """

    def __init__(self, kind: str = "one_cycle", total_steps: int = 1000):
        import ipywidgets as W
        import matplotlib.pyplot as plt

        if kind not in DEFAULTS:
            raise ValueError(f"kind must be one of {', '.join(map(repr, DEFAULTS))}; "
                             f"got {kind!r}")
        self.kind, self.total_steps = kind, total_steps
        self.controls = {k: _control(k, v) for k, v in DEFAULTS[kind].items()}
        with plt.ioff():
            self.fig, self.axes = plt.subplots(1, 2, figsize=(10, 3.2))
        its = np.arange(total_steps)
        self.lines = [a.plot(its, its * 0.0)[0] for a in self.axes]
        for a, name in zip(self.axes, ("learning rate", "momentum")):
            a.set_xlabel("iteration")
            a.set_ylabel(name)
            a.grid(alpha=0.3)
        self.fig.tight_layout()
        self.message = W.HTML()
        self.out = W.Output()
        for c in self.controls.values():
            c.observe(lambda change: self.redraw(), names="value")
        self.widget = W.VBox([W.HBox([W.VBox(list(self.controls.values())), self.out]),
                              self.message])
        self.redraw()

    def params(self) -> dict:
        return {k: c.value for k, c in self.controls.items()}

    def schedule(self):
        return schedule_values(self.kind, self.total_steps, **self.params())

    def redraw(self):
        try:
            its, lrs, moms = self.schedule()
        except ValueError as e:
            self.message.value = f"<b style='color:#b00'>{e}</b>"
            return
        self.message.value = ""
        for line, a, values in zip(self.lines, self.axes, (lrs, moms)):
            line.set_data(its, values)
            a.relim()
            a.autoscale_view()
        self.out.clear_output(wait=True)
        with self.out:
            from IPython.display import display

            display(self.fig)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def schedule_explorer(kind: str = "one_cycle", total_steps: int = 1000) -> ScheduleExplorer:
    """An interactive :class:`ScheduleExplorer` for ``"one_cycle"`` or ``"cyclic"``."""
    return ScheduleExplorer(kind, total_steps)
