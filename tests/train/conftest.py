"""Fixtures of the training tests."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn import nn

from .helpers import blobs


@pytest.fixture
def problem() -> tuple[np.ndarray, np.ndarray]:
    return blobs()


@pytest.fixture
def linear_model() -> nn.Module:
    minicnn.manual_seed(0)
    return nn.Linear(6, 3)
