"""The machine's single-precision GEMM rate, measured in the same run as everything else.

Each product ``(M, K) @ (K, N)`` in float32 is timed three ways, interleaved:

- ``numpy``: one ``np.matmul`` call, NumPy's BLAS at the thread count minicnn leaves it
  (one thread, unless ``OPENBLAS_NUM_THREADS`` & co. were set before NumPy started);
- ``minicnn``: the same product as minicnn runs its large ones, cut into column or row blocks
  on minicnn's thread pool (``minicnn.kernels.linalg.matmul_blocks``, the BLAS at the same
  thread count);
- ``torch``: ``torch.mm`` at PyTorch's threads.

at a large square size and at the course's GEMM shapes (a convolution's ``W @ col`` for the
whole batch, a dense layer's ``x @ W^T``, an LSTM step's ``h @ W_hh^T``). **The floor** is the
highest rate measured at the large square size, whichever way reached it: the machine's
attainable SGEMM rate on the threads the benchmark gives the engines, against which every
model's attained GFLOP/s is set (a step cannot take less than its GEMM FLOPs at that rate).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .timing import Budget, interleave, stats

SQUARE = 2048
QUICK_SQUARE = 512
COURSE_GEMMS = [  # (name, M, K, N)
    ("CNN2.conv2 W @ col", 64, 32 * 9, 64 * 14 * 14),
    ("CifarCNN.conv4 W @ col", 64, 64 * 9, 32 * 13 * 13),
    ("Crack.conv2 W @ col", 32, 16 * 9, 16 * 113 * 113),
    ("CNN2.fc1 x @ W^T", 64, 3136, 128),
    ("MLP.fc1 x @ W^T", 64, 784, 512),
    ("DenseAutoencoder.fc1 x @ W^T", 256, 3072, 1024),
    ("LSTMNet.lstm1 step h @ W_hh^T", 128, 128, 512),
]
WAYS = ("numpy", "minicnn", "torch")


def _products(m: int, k: int, n: int, seed: int = 0) -> dict[str, Callable[[], None]]:
    import torch

    from minicnn.kernels.linalg import matmul_blocks

    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    out = np.empty((m, n), np.float32)
    ta, tb, tout = torch.from_numpy(a.copy()), torch.from_numpy(b.copy()), torch.empty(m, n)

    def numpy_call() -> None:
        np.matmul(a, b, out=out)

    def minicnn_blocks() -> None:
        matmul_blocks(a, b)

    def torch_mm() -> None:
        torch.mm(ta, tb, out=tout)

    return {"numpy": numpy_call, "minicnn": minicnn_blocks, "torch": torch_mm}


def gemm_rates(m: int, k: int, n: int, budget: Budget) -> dict[str, float]:
    """GFLOP/s (2 M K N / median time) of each way of computing the product."""
    times, _ = interleave(_products(m, k, n), budget)
    return {way: 2 * m * k * n / 1e9 / stats(times[way]).median for way in WAYS}


def measure(quick: bool = False) -> dict[str, Any]:
    """The floor and the GEMM rates at the square size and the course's shapes."""
    budget = (Budget(warmup=1, seconds=0.05, min_reps=3, max_reps=5) if quick
              else Budget(warmup=2, seconds=0.5, min_reps=5, max_reps=200))
    size = QUICK_SQUARE if quick else SQUARE
    shapes = [(f"square {size}", size, size, size)] + COURSE_GEMMS
    rows = [{"name": name, "m": m, "k": k, "n": n, "gflops": gemm_rates(m, k, n, budget)}
            for name, m, k, n in shapes]
    square = rows[0]["gflops"]
    best = max(WAYS, key=lambda way: square[way])
    return {"gflops": square[best], "way": best, "size": size, "shapes": rows,
            "ways": {"numpy": "np.matmul, one call (BLAS threads as minicnn sets them)",
                     "minicnn": "np.matmul in blocks on minicnn's pool (matmul_blocks)",
                     "torch": "torch.mm at PyTorch's threads"}}


def describe(floor: dict[str, Any] | None) -> str:
    """One line: the floor and where it came from."""
    if floor is None:
        return "GEMM floor not measured (it is measured for --device cpu only)"
    sq = floor["shapes"][0]["gflops"]
    return (f"GEMM floor {floor['gflops']:.1f} GFLOP/s (float32, {floor['size']}^3, best of "
            f"numpy {sq['numpy']:.1f}, minicnn blocks {sq['minicnn']:.1f}, torch "
            f"{sq['torch']:.1f}: {floor['way']})")
