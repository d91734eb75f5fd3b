"""Stratified splits of a labelled dataset into disjoint parts (train / validation / test)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from minicnn.random import get_generator


def split_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    """Part sizes for ``n`` samples: ``round(f * n)`` each, the last part taking the rest."""
    sizes = [round(f * n) for f in fractions[:-1]]
    return sizes + [n - sum(sizes)]


def stratified_split(labels: Sequence[int] | np.ndarray,
                     fractions: Sequence[float] = (0.7, 0.15, 0.15),
                     seed: int | None = None) -> tuple[np.ndarray, ...]:
    """Disjoint index arrays, one per fraction, each with the classes in the same proportions.

    Part ``k`` gets about ``fractions[k] * N`` of the ``N`` indices (exact sizes from
    ``split_sizes``); together the parts hold every index once. Built with scikit-learn's
    ``train_test_split(stratify=...)``, peeling off one part at a time from the indices left.
    ``seed`` fixes the draw; with None it is drawn from minicnn's global generator. Each part
    is returned sorted, int64.
    """
    # NOTE: imported here, as importing scikit-learn takes about a second.
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels).reshape(-1)
    fractions = [float(f) for f in fractions]
    if len(fractions) < 2 or min(fractions) <= 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be at least two positive numbers summing to 1, "
                         f"got {fractions}")
    if seed is None:
        seed = int(get_generator().integers(2**31))
    sizes = split_sizes(len(labels), fractions)
    if min(sizes) < 1:
        raise ValueError(f"{len(labels)} samples are too few for fractions {fractions}: "
                         f"part sizes {sizes}")
    remaining = np.arange(len(labels), dtype=np.int64)
    parts = []
    for size in sizes[:-1]:
        part, remaining = train_test_split(remaining, train_size=size,
                                           test_size=len(remaining) - size,
                                           stratify=labels[remaining], random_state=seed)
        parts.append(np.sort(part))
    parts.append(np.sort(remaining))
    return tuple(parts)
