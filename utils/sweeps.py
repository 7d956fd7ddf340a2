"""Grids of short runs that survive interruption; explained in chapter 4.

:func:`run_sweep` runs a training function for every combination of a grid (and every seed) and
appends one JSON line per finished run to a store file, flushed to disk at once. Run it again
with the same store after a Colab disconnect or a Ctrl-C and it skips what is done.
:func:`summarize` averages over seeds; :func:`plot_sweep` draws the result.
"""

from __future__ import annotations

import inspect
import itertools
import json
import math
import os
import time
import traceback
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .runcard import device_name, versions

_FIXED = ("seed", "status", "wall_s", "error", "curves")


_GRID_HELP = ("grid must be a non-empty dict mapping parameter names to lists of values, e.g. "
              "{'wd': [1e-4, 1e-3]} (every combination), or a non-empty list of config dicts, "
              "e.g. [{'lr': 0.1, 'bs': 128}, {'lr': 0.2, 'bs': 256}] (exactly those)")


def _configs(grid) -> list[dict]:
    """The configs a grid stands for: every combination of a dict of lists, or the list itself."""
    if isinstance(grid, dict) and grid:
        for k, v in grid.items():
            if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__") or len(list(v)) == 0:
                raise ValueError(f"grid[{k!r}] must be a non-empty list of values; got {v!r}")
        return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    if isinstance(grid, (list, tuple)) and grid and all(isinstance(c, dict) and c for c in grid):
        return [dict(c) for c in grid]
    raise ValueError(f"{_GRID_HELP}; got {grid!r}")


def _check_grid(train_fn, keys: list[str], seeds) -> None:
    if not seeds:
        raise ValueError("seeds must hold at least one seed, e.g. (0,)")
    params = inspect.signature(train_fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    unknown = [k for k in [*keys, "seed"] if k not in params]
    if unknown:
        raise ValueError(f"{getattr(train_fn, '__name__', 'train_fn')} does not accept "
                         f"{', '.join(map(repr, unknown))}; its parameters are: "
                         f"{', '.join(params)} (every train_fn must also take seed=)")


def _key(config: dict, seed) -> str:
    return json.dumps({"config": config, "seed": seed}, sort_keys=True)


def _plain(value):
    """Numbers, lists of numbers and strings as JSON can hold them (NaN stays NaN)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    return float(value)


def _metrics(result) -> dict:
    if hasattr(result, "metrics") and callable(result.metrics):
        result = result.metrics()  # a utils.train.History
    if not isinstance(result, dict):
        raise TypeError(f"train_fn must return a dict of metrics or a History; got "
                        f"{type(result).__name__}")
    return {k: _plain(v) for k, v in result.items()}


def read_store(store) -> list[dict]:
    """The records in ``store``; a line that is not valid JSON (a run killed while writing)
    is skipped with a warning."""
    path = Path(store)
    if not path.exists():
        return []
    records = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            warnings.warn(f"{path}:{n}: skipping an unreadable line (a run interrupted while "
                          "writing); that run will be repeated", stacklevel=2)
    return records


def _append(store: Path, record: dict) -> None:
    """Append one line and force it to disk, so a crash right after loses nothing."""
    store.parent.mkdir(parents=True, exist_ok=True)
    with open(store, "a+b") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":  # a half-written line from a killed run: end it first
                f.write(b"\n")
        f.write((json.dumps(record, allow_nan=True) + "\n").encode())
        f.flush()
        os.fsync(f.fileno())


def run_sweep(train_fn, grid: dict, store, seeds=(0,), stop_on_error: bool = False,
              retry_failed: bool = True, progress: bool = True):
    """Run ``train_fn(**config, seed=s)`` for every config of ``grid`` and every seed;
    chapter 4. Returns a DataFrame with one row per run in the store.

    ``grid`` is a dict of lists, meaning every combination (``{"wd": [0, 1e-4], "bs": [64,
    128]}`` is four runs), or a list of config dicts, meaning exactly those (for settings that
    move together, such as a batch size and its scaled learning rate).

    ``train_fn`` returns a dict of metrics (numbers, or lists with one value per epoch) or a
    :class:`utils.train.History`. Each finished run is appended to ``store`` (JSON lines) with
    its config, seed, metrics, wall time, device and library versions. Runs already in the
    store are skipped; failed ones are retried unless ``retry_failed=False``. A run that
    raises is recorded as failed and the sweep goes on, unless ``stop_on_error``. Several
    sweeps may share one store; the DataFrame holds the runs of this grid and these seeds.
    """
    configs = _configs(grid)
    keys = list(dict.fromkeys(k for c in configs for k in c))  # every name, in first-seen order
    _check_grid(train_fn, keys, seeds)
    store = Path(store)
    todo_all = [(c, s) for c in configs for s in seeds]
    done = {}
    for r in read_store(store):
        if r.get("status") == "ok" or not retry_failed:
            done[_key(r["config"], r["seed"])] = r
    todo = [(c, s) for c, s in todo_all if _key(c, s) not in done]
    if progress:
        print(f"sweep: {len(todo_all)} runs, {len(todo_all) - len(todo)} already in {store}, "
              f"{len(todo)} to run")
    runs = todo
    if progress and todo:
        from fastprogress.fastprogress import progress_bar

        runs = progress_bar(todo)
    env = {"device": device_name(), "versions": versions()}
    try:
        for config, seed in runs:
            start = time.perf_counter()
            record = {"config": config, "seed": seed}
            try:
                record.update(status="ok", metrics=_metrics(train_fn(**config, seed=seed)))
            except Exception as e:  # noqa: BLE001 - recorded, then the sweep goes on
                record.update(status="failed", error=f"{type(e).__name__}: {e}",
                              traceback=traceback.format_exc(limit=5))
                if stop_on_error:
                    _append(store, {**record, "wall_s": time.perf_counter() - start, **env})
                    raise
                warnings.warn(f"run {config} seed={seed} failed: {record['error']}",
                              stacklevel=2)
            record.update(wall_s=time.perf_counter() - start, **env,
                          finished=datetime.now(timezone.utc).isoformat(timespec="seconds"))
            _append(store, record)
    except KeyboardInterrupt:
        n = sum(r.get("status") == "ok" for r in read_store(store))
        print(f"sweep interrupted: {n} finished runs are safe in {store}; "
              "run the same cell again to continue")
        raise
    wanted = {_key(c, s) for c, s in todo_all}
    return to_frame([r for r in read_store(store) if _key(r["config"], r["seed"]) in wanted],
                    keys)


def to_frame(records: list[dict], keys=None):
    """One row per run: config columns, seed, status, final value of each metric, wall time;
    the per-epoch lists are kept in a ``curves`` column for :func:`plot_sweep`. When a config
    was run more than once (a failure, then a retry), the latest record wins."""
    import pandas as pd

    latest, names = {}, []
    for r in records:
        latest[_key(r["config"], r["seed"])] = r
    rows = []
    for r in latest.values():
        row = {**r["config"], "seed": r["seed"], "status": r.get("status"),
               "wall_s": r.get("wall_s"), "error": r.get("error")}
        curves = {}
        for name, value in (r.get("metrics") or {}).items():
            names += [name] if name not in names else []
            if isinstance(value, list):
                curves[name] = value
                value = value[-1] if value else math.nan
            row[name] = value
        row["curves"] = curves
        rows.append(row)
    df = pd.DataFrame(rows)
    if keys and len(df):
        df = df.sort_values([*keys, "seed"], kind="stable").reset_index(drop=True)
    df.attrs.update(config=list(keys or []), metrics=names)
    return df


def summarize(df, by=None, metrics=None):
    """Mean and standard deviation over seeds of each final metric, per config (or per the
    columns in ``by``), with the number of runs ``n``. Failed runs are left out."""
    ok = df[df["status"] == "ok"]
    metrics = list(metrics or df.attrs.get("metrics", []))
    if by is None:
        by = df.attrs.get("config") or [c for c in ok.columns if c not in (
            *_FIXED, *metrics)]
    by = [by] if isinstance(by, str) else list(by)
    if not metrics:
        raise ValueError("no metrics to summarize: pass metrics=[...]")
    g = ok.groupby(by, dropna=False)[metrics]
    out = g.agg(["mean", "std"])
    out[("n", "")] = g.size()
    return out


def best(df, by: str, metric: str = "valid_loss"):
    """The value of ``by`` whose runs have the lowest mean ``metric`` over seeds; chapter 4.

    A setting with a failed or diverged run (metric missing or not finite) cannot win: a
    hyper-parameter that sometimes blows up is not a safe choice, whatever its average.
    """
    if by not in df or metric not in df:
        raise ValueError(f"the sweep has no column {by if by not in df else metric!r}; its "
                         f"columns are: {', '.join(map(str, df.columns))}")
    value = df[metric].astype(float).where(df["status"] == "ok")
    safe = value.groupby(df[by]).agg(lambda v: v.mean() if np.isfinite(v).all() else np.nan)
    if safe.isna().all():
        raise ValueError(f"every setting of {by!r} has a failed or diverged run; nothing to "
                         "choose")
    return safe.idxmin()


def plot_sweep(df, x: str, y: str, hue: str | None = None, ax=None):
    """Plot a sweep; chapter 4.

    ``x="epoch"`` draws ``y`` per epoch, one curve per value of ``hue``; any other ``x`` (a
    hyper-parameter) draws the final ``y`` against it. With several seeds each point is the
    mean and the error bar one standard deviation. Log scale for ``x`` when its values span more
    than a decade.
    """
    import matplotlib.pyplot as plt

    ok = df[df["status"] == "ok"]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    groups = ok.groupby(hue, dropna=False) if hue else [(None, ok)]
    for value, part in groups:
        label = f"{hue}={value[0] if isinstance(value, tuple) else value}" if hue else None
        if x == "epoch":
            curves = np.array([c[y] for c in part["curves"]], dtype=float)
            xs = np.arange(1, curves.shape[1] + 1)
            mean, std = curves.mean(0), curves.std(0) if len(curves) > 1 else None
        else:
            if x not in part:
                raise ValueError(f"x={x!r} is neither 'epoch' nor a column of the sweep "
                                 f"({', '.join(map(str, ok.columns))})")
            stats = part.groupby(x)[y].agg(["mean", "std", "size"])
            xs, mean = stats.index.to_numpy(dtype=float), stats["mean"].to_numpy()
            std = stats["std"].to_numpy() if stats["size"].max() > 1 else None
        ax.errorbar(xs, mean, yerr=std, marker="o", capsize=3, label=label)
        if x != "epoch":
            positive = xs[xs > 0]
            if len(positive) and positive.max() / positive.min() > 10 and (xs > 0).all():
                ax.set_xscale("log")
    if x == "epoch":
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.5
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if hue:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax.figure
