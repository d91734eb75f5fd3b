"""The one seeded host-side random generator behind weights, shuffles and dropout masks."""
from __future__ import annotations

from types import ModuleType
from typing import Any

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
    """minicnn's global generator (its draws happen on the host; ``device_uniform`` draws only
    a seed from it and computes the values on the device)."""
    return _generator


# SplitMix64's constants (Steele, Lea & Flood 2014; Vigna's splitmix64.c).
_GAMMA, _MIX1, _MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def device_uniform(xp: ModuleType, shape: tuple[int, ...]) -> Any:
    """Uniform [0, 1) float32 draws of ``shape``, computed on the device of ``xp``.

    One 64-bit seed s is drawn from the host generator; element i is SplitMix64's output
    ``mix(s + (i + 1) * gamma)``, top 24 bits / 2**24. Integer arithmetic only, so the result is
    the same on every array module, nothing is copied to the device, and the host generator
    alone still determines every draw (a run replays; a checkpoint's generator state resumes it).

    NOTE: a device generator proper (``cupy.random.default_rng``) would have to be made per call
    to stay a function of the host generator, and building one initialises ~10^5 cuRAND states
    (milliseconds); kept across calls it would not replay from a restored host state.
    """
    seed = xp.uint64(int(_generator.integers(2**63)))
    n = 1
    for s in shape:
        n *= int(s)
    z = xp.arange(1, n + 1, dtype=xp.uint64) * xp.uint64(_GAMMA) + seed  # wraps mod 2**64
    z = (z ^ (z >> xp.uint64(30))) * xp.uint64(_MIX1)
    z = (z ^ (z >> xp.uint64(27))) * xp.uint64(_MIX2)
    z = z ^ (z >> xp.uint64(31))
    return ((z >> xp.uint64(40)).astype(xp.float32) * xp.float32(2.0**-24)).reshape(shape)
