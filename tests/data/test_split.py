"""Stratified splits: disjoint, covering every index, class proportions preserved."""
import numpy as np
import pytest

import minicnn
from minicnn.data import stratified_split
from minicnn.data.split import split_sizes


@pytest.mark.parametrize("fractions", [(0.7, 0.15, 0.15), (0.8, 0.2), (0.5, 0.25, 0.125, 0.125)])
def test_disjoint_complete_and_stratified(rng, fractions):
    class_sizes = np.array([413, 207, 121, 79])
    labels = rng.permutation(np.repeat(np.arange(4), class_sizes))
    parts = stratified_split(labels, fractions, seed=0)
    assert [len(p) for p in parts] == split_sizes(len(labels), fractions)
    everything = np.concatenate(parts)
    assert sorted(everything.tolist()) == list(range(len(labels)))  # disjoint and complete
    for part, fraction in zip(parts, fractions):
        assert part.dtype == np.int64 and np.all(np.diff(part) > 0)
        per_class = np.bincount(labels[part], minlength=4)
        assert np.abs(per_class - fraction * class_sizes).max() <= 1.5


def test_crack_sized_split():
    labels = np.repeat([0, 1], 350)
    parts = stratified_split(labels, seed=1)
    assert [len(p) for p in parts] == [490, 105, 105]
    for part in parts:
        negatives, positives = np.bincount(labels[part])
        assert abs(negatives - positives) <= 1


def test_seeds():
    labels = np.repeat([0, 1, 2], 50)
    a, b = stratified_split(labels, (0.6, 0.4), seed=3), stratified_split(labels, (0.6, 0.4),
                                                                          seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    c = stratified_split(labels, (0.6, 0.4), seed=4)
    assert not np.array_equal(a[0], c[0])
    minicnn.manual_seed(2)
    d = stratified_split(labels, (0.6, 0.4))
    minicnn.manual_seed(2)
    assert np.array_equal(d[0], stratified_split(labels, (0.6, 0.4))[0])


def test_bad_fractions():
    with pytest.raises(ValueError, match="summing to 1"):
        stratified_split([0, 1] * 10, (0.5, 0.4))
    with pytest.raises(ValueError, match="too few"):
        stratified_split([0, 1] * 2, (0.9, 0.05, 0.05))
