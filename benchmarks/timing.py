"""Timing helpers shared by the benchmarks.

On a shared 2-core machine one epoch can take 10% longer than the next for no reason of ours.
So the variants being compared run in rotating order, round after round, and a ratio is the
median over rounds of the ratio *within* a round (both sides saw the same machine state).
"""

from __future__ import annotations

import statistics


def rounds(runs: dict, reps: int, log=print) -> dict:
    """Call every function in ``runs`` once per round, rotating the order; their seconds."""
    times = {k: [] for k in runs}
    order = list(runs)
    for rep in range(reps):
        shift = rep % len(order)
        for k in order[shift:] + order[:shift]:
            times[k].append(runs[k]())
        log(f"round {rep + 1}/{reps}: " + ", ".join(f"{k} {v[-1]:.1f} s"
                                                   for k, v in times.items()))
    return times


def paired_ratio(times: dict, a: str, b: str) -> float:
    """Median over rounds of time(a) / time(b)."""
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def median(times: dict, k: str) -> float:
    return statistics.median(times[k])
