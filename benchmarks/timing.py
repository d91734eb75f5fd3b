"""Interleaved timing of the two engines, and the summary statistics.

Each repeat times one call of every engine, and the order alternates between repeats
(minicnn first, then PyTorch first), so drifts of the shared machine's load, caches and
clock hit both engines alike. Warm-up calls come first (Numba compiles on first use, PyTorch
builds its oneDNN primitives). The number of repeats adapts to the case: enough to fill a
time budget, between a minimum and a maximum count.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass


@dataclass
class Stats:
    """Seconds per call over ``n`` repeats."""

    n: int
    median: float
    min: float
    q1: float
    q3: float
    mean: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "iqr": self.iqr}


def stats(samples: Sequence[float]) -> Stats:
    xs = sorted(samples)
    if len(xs) >= 2:
        q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    else:
        q1 = q3 = xs[0]
    return Stats(len(xs), statistics.median(xs), xs[0], q1, q3, statistics.fmean(xs))


@dataclass
class Budget:
    """How long to measure: ``warmup`` untimed calls, then repeats until ``seconds`` of timed
    calls per engine have passed (at least ``min_reps``, at most ``max_reps``)."""

    warmup: int = 3
    seconds: float = 4.0
    min_reps: int = 7
    max_reps: int = 300


def interleave(fns: dict[str, Callable[[], tuple[float, ...] | None]], budget: Budget,
               clock: Callable[[], float] = time.perf_counter
               ) -> tuple[dict[str, list[float]], dict[str, list[tuple[float, ...]]]]:
    """Time every ``fns[name]()`` repeatedly, interleaved.

    Returns ``(times, parts)``: seconds per call for each name, and, for functions that time
    their own phases and return them (an op's forward and backward), those phases per call
    (``times`` then holds their sum, leaving out the untimed set-up inside the call).
    """
    names = list(fns)
    for _ in range(budget.warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    parts: dict[str, list[tuple[float, ...]]] = {name: [] for name in names}
    spent = 0.0
    rep = 0
    while rep < budget.max_reps and (rep < budget.min_reps or spent < budget.seconds):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            t0 = clock()
            inner = fns[name]()
            dt = clock() - t0
            if inner is None:
                times[name].append(dt)
            else:
                parts[name].append(tuple(inner))
                times[name].append(sum(inner))
        spent += max(times[name][-1] for name in names)
        rep += 1
    return times, parts
