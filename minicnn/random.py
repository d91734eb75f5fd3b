"""The one seeded host-side random generator behind weights, shuffles and dropout masks."""
from __future__ import annotations

import numpy as np

DEFAULT_SEED = 67280421310721  # PyTorch's default initial seed
_generator = np.random.default_rng(DEFAULT_SEED)
_seed = DEFAULT_SEED


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed minicnn's global generator (as ``torch.manual_seed``) and return it."""
    global _generator, _seed
    _seed = int(seed)
    _generator = np.random.default_rng(_seed)
    return _generator


def initial_seed() -> int:
    """The seed last given to ``manual_seed``."""
    return _seed


def get_generator() -> np.random.Generator:
    """minicnn's global generator (draws happen on the host, then move to the device)."""
    return _generator
