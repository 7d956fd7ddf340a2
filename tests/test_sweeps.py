"""utils.sweeps: nothing finished is lost, whatever stops the sweep."""

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from utils.sweeps import plot_sweep, read_store, run_sweep, summarize

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]


def fake_train(lr, wd=0.0, seed=0):
    """Deterministic 'training': per-epoch losses that depend on the config and the seed."""
    base = abs(np.log10(lr) + 2) + 1e3 * wd + 0.01 * seed
    return {"valid_loss": [base + 1, base + 0.5, base], "top1": 1 / (1 + base)}


def tiny_images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (48, 3, 32, 32), dtype=np.uint8), rng.integers(0, 3, 48)


def test_runs_every_config_and_seed(tmp_path):
    df = run_sweep(fake_train, {"lr": [1e-3, 1e-2], "wd": [0, 1e-4]}, tmp_path / "s" / "a.jsonl",
                   seeds=(0, 1), progress=False)
    assert len(df) == 8 and (df.status == "ok").all()
    assert sorted(zip(df.lr, df.wd, df.seed)) == sorted(
        (lr, wd, s) for lr in (1e-3, 1e-2) for wd in (0, 1e-4) for s in (0, 1))
    row = df[(df.lr == 1e-2) & (df.wd == 0) & (df.seed == 1)].iloc[0]
    assert row.valid_loss == pytest.approx(0.01) and row.curves["valid_loss"][0] == \
        pytest.approx(1.01)
    rec = read_store(tmp_path / "s" / "a.jsonl")[0]
    assert {"config", "seed", "metrics", "wall_s", "device", "versions", "status"} <= set(rec)
    assert rec["versions"]["torch"]


def test_rerun_skips_finished_runs(tmp_path):
    store = tmp_path / "a.jsonl"
    run_sweep(fake_train, {"lr": [1e-3, 1e-2]}, store, progress=False)
    calls = []

    def counting(lr, seed):
        calls.append(lr)
        return fake_train(lr, seed=seed)

    df = run_sweep(counting, {"lr": [1e-3, 1e-2, 1e-1]}, store, progress=False)
    assert calls == [1e-1] and len(df) == 3
    df = run_sweep(counting, {"lr": [1e-2]}, store, progress=False)  # a sweep sharing the store
    assert calls == [1e-1] and list(df.lr) == [1e-2]


def test_failing_config_recorded_and_sweep_goes_on(tmp_path):
    def flaky(lr, seed):
        if lr == 1.0:
            raise FloatingPointError("loss is nan")
        return fake_train(lr, seed=seed)

    store = tmp_path / "a.jsonl"
    with pytest.warns(UserWarning, match="loss is nan"):
        df = run_sweep(flaky, {"lr": [0.1, 1.0, 0.01]}, store, progress=False)
    assert list(df.status) == ["ok", "ok", "failed"]  # sorted by lr
    assert "FloatingPointError: loss is nan" in df.error.iloc[2]
    with pytest.raises(FloatingPointError):
        run_sweep(flaky, {"lr": [1.0]}, tmp_path / "b.jsonl", stop_on_error=True,
                  progress=False)
    assert read_store(tmp_path / "b.jsonl")[0]["status"] == "failed"
    # a retry that succeeds replaces the failure
    df = run_sweep(lambda lr, seed: fake_train(lr), {"lr": [0.1, 1.0, 0.01]}, store,
                   progress=False)
    assert (df.status == "ok").all() and len(df) == 3


def test_unknown_grid_key_reported_before_running(tmp_path):
    calls = []

    def train(lr, seed):
        calls.append(lr)
        return {}

    with pytest.raises(ValueError, match=r"does not accept 'momentum'.*lr, seed"):
        run_sweep(train, {"lr": [0.1], "momentum": [0.9]}, tmp_path / "a.jsonl")
    with pytest.raises(ValueError, match="must also take seed"):
        run_sweep(lambda lr: {}, {"lr": [0.1]}, tmp_path / "a.jsonl")
    with pytest.raises(ValueError, match="non-empty list"):
        run_sweep(train, {"lr": []}, tmp_path / "a.jsonl")
    assert calls == [] and not (tmp_path / "a.jsonl").exists()


def test_list_of_configs_runs_exactly_those(tmp_path):
    store = tmp_path / "a.jsonl"

    def train(lr, bs, seed):
        return {"score": lr * bs + seed}

    configs = [{"lr": 0.1, "bs": 128}, {"lr": 0.2, "bs": 256}]
    df = run_sweep(train, configs, store, seeds=(0, 1), progress=False)
    assert sorted(zip(df.lr, df.bs, df.seed)) == [(0.1, 128, 0), (0.1, 128, 1), (0.2, 256, 0),
                                                  (0.2, 256, 1)]
    assert df.attrs["config"] == ["lr", "bs"] and df.score.tolist() == [12.8, 13.8, 51.2, 52.2]
    # the same run asked for as a grid is found in the store, not run again
    again = run_sweep(lambda lr, bs, seed: 1 / 0, {"lr": [0.2], "bs": [256]}, store,
                      progress=False)
    assert (again.status == "ok").all() and len(again) == 1


@pytest.mark.parametrize("grid", [[], [{}], [{"lr": 0.1}, 3], "lr", None])
def test_bad_grid_names_both_forms(tmp_path, grid):
    with pytest.raises(ValueError, match="dict mapping parameter names.*list of config dicts"):
        run_sweep(lambda lr, seed: {}, grid, tmp_path / "a.jsonl")


def test_ctrl_c_keeps_finished_runs(tmp_path):
    store = tmp_path / "a.jsonl"

    def train(lr, seed):
        if lr == 0.3:
            raise KeyboardInterrupt
        return fake_train(lr, seed=seed)

    with pytest.raises(KeyboardInterrupt):
        run_sweep(train, {"lr": [0.1, 0.2, 0.3, 0.4]}, store, progress=False)
    assert [r["config"]["lr"] for r in read_store(store)] == [0.1, 0.2]
    df = run_sweep(fake_train, {"lr": [0.1, 0.2, 0.3, 0.4]}, store, progress=False)
    assert len(df) == 4 and len(read_store(store)) == 4


def test_truncated_last_line_is_skipped_and_rerun(tmp_path):
    store = tmp_path / "a.jsonl"
    run_sweep(fake_train, {"lr": [0.1, 0.2]}, store, progress=False)
    text = store.read_text()
    store.write_text(text[: len(text) - 40])  # the second record cut mid-line, no newline
    with pytest.warns(UserWarning, match="unreadable line"):
        df = run_sweep(fake_train, {"lr": [0.1, 0.2]}, store, progress=False)
    assert len(df) == 2
    lines = store.read_text().splitlines()
    assert json.loads(lines[-1])["config"] == {"lr": 0.2}  # appended on a line of its own


def test_killed_process_then_resume(tmp_path):
    """SIGKILL in the middle of a sweep, then the same sweep again: every run exactly once."""
    store, marker = tmp_path / "sweep.jsonl", tmp_path / "killed"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from utils.sweeps import run_sweep

        def train(lr, seed):
            if lr == 0.4 and not Path({str(marker)!r}).exists():
                Path({str(marker)!r}).touch()
                os.kill(os.getpid(), signal.SIGKILL)
            return {{"valid_loss": [lr, lr / 2]}}

        run_sweep(train, {{"lr": [0.1, 0.2, 0.3, 0.4, 0.5]}}, {str(store)!r}, seeds=(0, 1),
                  progress=False)
    """)
    first = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert first.returncode == -signal.SIGKILL
    assert len(read_store(store)) == 6  # lr 0.1-0.3, two seeds each
    second = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    runs = [(r["config"]["lr"], r["seed"]) for r in read_store(store)]
    assert sorted(runs) == sorted((lr, s) for lr in (0.1, 0.2, 0.3, 0.4, 0.5) for s in (0, 1))
    assert len(runs) == len(set(runs)) == 10


def test_history_from_utils_train_fit(tmp_path):
    from utils import resnet_cifar, seed_everything
    from utils.data import TensorLoader
    from utils.train import fit

    x, y = tiny_images()

    def train(lr, seed):
        seed_everything(seed)
        dl = TensorLoader(x, y, 16, shuffle=True, seed=seed)
        return fit(resnet_cifar(8, 3, width=4), (dl, dl), 2, lr, progress=False)

    df = run_sweep(train, {"lr": [0.01, 0.1]}, tmp_path / "a.jsonl", progress=False)
    assert set(df.curves.iloc[0]) >= {"train_loss", "valid_loss", "top1", "top5"}
    assert len(df.curves.iloc[0]["valid_loss"]) == 2


def test_fastai_learner_in_train_fn(tmp_path):
    import torch
    from fastai.data.core import DataLoaders
    from fastai.vision.all import Learner, accuracy

    from utils import resnet_cifar, seed_everything
    from utils.data import TensorLoader

    x, y = tiny_images()

    def train(lr, seed):
        seed_everything(seed)
        dls = DataLoaders(TensorLoader(x, y, 16, shuffle=True, seed=seed),
                          TensorLoader(x, y, 16))
        learn = Learner(dls, resnet_cifar(8, 3, width=4), metrics=accuracy,
                        loss_func=torch.nn.CrossEntropyLoss())
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(2, lr)
        values = np.array(learn.recorder.values)
        return {"valid_loss": values[:, 1], "accuracy": values[:, 2]}

    df = run_sweep(train, {"lr": [1e-3, 1e-2]}, tmp_path / "a.jsonl", progress=False)
    assert (df.status == "ok").all() and len(df.curves.iloc[1]["accuracy"]) == 2


def test_summarize_and_plot(tmp_path):
    df = run_sweep(fake_train, {"lr": [1e-3, 1e-2, 1e-1], "wd": [0, 1e-4]}, tmp_path / "a.jsonl",
                   seeds=(0, 1, 2), progress=False)
    s = summarize(df)
    assert len(s) == 6 and (s[("n", "")] == 3).all()
    row = s.loc[(1e-2, 0)]
    assert row[("valid_loss", "mean")] == pytest.approx(0.01)  # seeds add 0, 0.01, 0.02
    assert row[("valid_loss", "std")] == pytest.approx(0.01)
    by_lr = summarize(df, by="lr", metrics=["top1"])
    assert list(by_lr.index) == [1e-3, 1e-2, 1e-1] and (by_lr[("n", "")] == 6).all()

    fig = plot_sweep(df, x="lr", y="valid_loss", hue="wd")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.containers) == 2  # one errorbar set per wd
    fig = plot_sweep(df, x="epoch", y="valid_loss", hue="lr")
    assert len(fig.axes[0].containers) == 3
    with pytest.raises(ValueError, match="neither 'epoch' nor a column"):
        plot_sweep(df, x="momentum", y="valid_loss")


def test_best_excludes_diverged_and_failed_settings():
    import pandas as pd

    from utils.sweeps import best

    df = pd.DataFrame({"wd": [0.0, 0.0, 1e-4, 1e-4, 1e-3, 1e-3],
                       "seed": [0, 1] * 3,
                       "status": ["ok", "ok", "ok", "ok", "ok", "failed"],
                       "valid_loss": [1.0, float("nan"), 1.2, 1.3, 0.5, 0.4]})
    assert best(df, "wd") == 1e-4  # 0.0 diverged once, 1e-3 failed once
    with pytest.raises(ValueError, match="no column 'lr'"):
        best(df, "lr")
    with pytest.raises(ValueError, match="nothing to choose"):
        best(df[df.wd != 1e-4], "wd")
