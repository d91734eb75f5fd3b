"""How quiet the machine was: the load average before and after a run, the CPU time other
processes took during it, and the warning a loaded run carries on its first line.

The 1-minute load average after a run counts the benchmark's own threads (about 2 on a
2-core machine that both engines keep busy), so it cannot tell a quiet machine from a loaded
one. What the run's figures suffer from is other processes taking the cores, and that is
measured directly: the machine's busy CPU time over the run (``/proc/stat``) minus this
process's and its children's (``os.times``), divided by the wall time, is the average number
of CPUs that other processes used while the benchmark ran.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any

MAX_LOAD_PER_CPU = 0.5  # above this (before, or others' use during the run): a loaded machine


def load_average() -> float:
    """The 1-minute load average (NaN where the system has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def machine_cpus() -> int:
    """The machine's logical CPUs (the load average counts the whole machine's tasks)."""
    return os.cpu_count() or 1


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (user, nice, system, irq,
    softirq, summed over CPUs, from ``/proc/stat``; guest time is inside user), or None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have been waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class CpuSnapshot:
    """The clocks ``others_cpus`` compares."""

    wall: float
    machine: float | None
    own: float


def snapshot() -> CpuSnapshot:
    return CpuSnapshot(time.monotonic(), machine_busy_seconds(), own_cpu_seconds())


def others_cpus(start: CpuSnapshot, end: CpuSnapshot) -> float | None:
    """Average CPUs that other processes used between two snapshots (None if unknown)."""
    wall = end.wall - start.wall
    if start.machine is None or end.machine is None or wall <= 0:
        return None
    others = (end.machine - start.machine) - (end.own - start.own)
    return max(others, 0.0) / wall


def warning(meta: dict[str, Any]) -> str | None:
    """The loaded-machine warning for ``meta`` (its ``load_before``, ``others_cpus`` and
    ``machine_cpus``), or None for a quiet run."""
    cpus = meta["machine_cpus"]
    limit = MAX_LOAD_PER_CPU * cpus
    reasons = []
    before = meta.get("load_before")
    if before is not None and not math.isnan(before) and before > limit:
        reasons.append(f"load average {before:.2f} before the run")
    others = meta.get("others_cpus")
    if others is not None and others > limit:
        reasons.append(f"other processes used {others:.2f} CPUs on average during it")
    if not reasons:
        return None
    return (f"WARNING: loaded machine: {' and '.join(reasons)}, above {limit:.2f} "
            f"({MAX_LOAD_PER_CPU} per CPU, {cpus} CPUs): these figures are not of record.")


def before_warning(load_before: float, cpus: int) -> str | None:
    """The warning as known at the start of a run (the load average before it only)."""
    return warning({"load_before": load_before, "machine_cpus": cpus})
