"""Comparing two run folders of the command line (``--out``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

TIMINGS = ("seconds", "time_ratio", "conditions")  # wall clock, date, load average


def without_timings(tree: Any) -> Any:
    """``tree`` without its wall-clock entries (the only ones a resume may change)."""
    if isinstance(tree, dict):
        return {k: without_timings(v) for k, v in tree.items() if k not in TIMINGS}
    if isinstance(tree, list):
        return [without_timings(v) for v in tree]
    return tree


def assert_same_run(a: Path, b: Path) -> None:
    """Equal reports (but for timings) and bit-identical weights in two run folders."""
    ra, rb = (json.loads((p / "report.json").read_text()) for p in (a, b))
    assert without_timings(ra) == without_timings(rb)
    weights = sorted(p.name for p in a.glob("weights-*.npz"))
    assert weights and weights == sorted(p.name for p in b.glob("weights-*.npz"))
    for name in weights:
        with np.load(a / name) as wa, np.load(b / name) as wb:
            assert wa.files == wb.files
            for k in wa.files:
                np.testing.assert_array_equal(wa[k], wb[k], err_msg=f"{name}: {k}")
    for p in (a, b):
        assert not list(p.glob("checkpoint-*")) and not list(p.glob(".*.tmp"))
