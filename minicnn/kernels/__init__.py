"""Hot-loop kernels on raw arrays, and the one switch that chooses their implementation.

Every kernel family (im2col/conv, pooling, normalization, elementwise, optimiser updates,
recurrent cells) has three implementations behind one entry point:

- ``reference``: NumPy or CuPy code through ``xp``, short, the one the docstrings describe;
  the oracle every other implementation is tested against;
- ``numba``: the CPU kernel (Numba, on minicnn's thread pool);
- ``cuda``: the GPU kernel (numba.cuda on CuPy arrays), imported only when one is needed.

A family's entry point asks ``implementation(x)`` which one to run. ``use("reference")``
(a plain call, or a context manager) and the environment variable ``MINICNN_KERNELS=reference``
force the reference everywhere, so that a learner can step through every op in plain NumPy;
``use("fast")`` (the default) lets each family pick its fast kernel. In the spirit of
Chainer's ``chainer.using_config('use_cudnn', 'never')``.

The families (each module's docstring gives its rule; a family without a ``cuda`` kernel runs
its reference on CuPy arrays):

- ``conv``: im2col, col2im, conv2d forward/backward (Numba in ``conv_cpu``, CUDA in
  ``conv_cuda``);
- ``pooling``: max pooling (Numba here, CUDA in ``pooling_cuda``), average pooling;
- ``normalization``: batch-norm statistics, normalisation and gradients;
- ``elementwise``: ReLU; ``optim``: SGD and Adam updates; ``linalg``: 2-D matrix products;
- ``recurrent``: the LSTM cell's gate math (Numba here, CUDA in ``recurrent_cuda``);
- ``geometry``: the shape arithmetic of window sweeps, shared by all of them.
"""
from __future__ import annotations

import os
from types import TracebackType
from typing import Any

import numpy as np

MODES = ("fast", "reference")


def _checked(mode: str, source: str) -> str:
    if mode not in MODES:
        raise ValueError(f"{source}: kernel mode must be one of {', '.join(MODES)}, "
                         f"got {mode!r}")
    return mode


_mode = _checked(os.environ.get("MINICNN_KERNELS", "").strip() or "fast", "MINICNN_KERNELS")


def mode() -> str:
    """The current kernel mode: ``'fast'`` or ``'reference'``."""
    return _mode


class use:
    """Set the kernel mode: ``use("reference")`` from now on, or for a block only::

        with minicnn.kernels.use("reference"):
            loss.backward()          # every kernel runs its NumPy/CuPy reference

    On leaving the block the previous mode comes back. The mode is process-wide.
    """

    def __init__(self, mode: str) -> None:
        global _mode
        self._previous = _mode
        _mode = _checked(mode, "minicnn.kernels.use")

    def __enter__(self) -> use:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        global _mode
        _mode = self._previous


def is_cuda_array(a: Any) -> bool:
    """True for device arrays that numba.cuda kernels accept (CuPy and friends)."""
    return type(a) is not np.ndarray and hasattr(a, "__cuda_array_interface__")


def implementation(a: Any, min_size: int = 0) -> str:
    """Which implementation a family's entry point runs for the array ``a``.

    ``'reference'`` in reference mode, for arrays of any other type (e.g. the tests' stand-in
    device) and for NumPy arrays of fewer than ``min_size`` elements (where a family's fast
    kernel does not pay); else ``'numba'`` for NumPy arrays and ``'cuda'`` for CUDA arrays.
    """
    if _mode == "reference":
        return "reference"
    if type(a) is np.ndarray:
        return "numba" if a.size >= min_size else "reference"
    if is_cuda_array(a):
        return "cuda"
    return "reference"


CUDA_THREADS = 256  # threads per block of every numba.cuda kernel launch


def cuda_grid(size: int) -> tuple[int, int]:
    """``(blocks, threads)`` of a 1-D launch with one thread per element of ``size``."""
    return (size + CUDA_THREADS - 1) // CUDA_THREADS, CUDA_THREADS
