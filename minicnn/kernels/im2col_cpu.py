"""The standalone im2col and col2im on the CPU (Numba): ``x`` (N, C, H, W) <-> ``col`` (N, C, KH,
KW, OH, OW), the layout and rule of ``kernels.conv``, equal to its references element for
element. Built on the chunked convolution's two copy kernels (``conv_cpu.im2col_rows`` /
``col2im_rows``) with patch rows of width OW, one call per sample, in tasks of whole samples
on minicnn's threads (average pooling uses them; the convolution itself never builds ``col``).
"""
from __future__ import annotations

import numpy as np

from minicnn.kernels.conv_cpu import (
    col2im_rows,
    crop_samples,
    gradient_samples,
    im2col_rows,
    padded_samples,
)
from minicnn.kernels.geometry import col_shape, output_hw
from minicnn.parallel import chunks, parallel_for

TASK_ELEMENTS = 1 << 17  # output elements per task


def im2col(x: np.ndarray, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
           DH: int = 1, DW: int = 1) -> np.ndarray:
    """Numba im2col: ``x`` (N, C, H, W) -> ``col`` (N, C, KH, KW, OH, OW), zero padding;
    equal to ``conv.im2col_reference`` element for element."""
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    OH, OW = output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    Hp, Wp = H + 2 * PH, W + 2 * PW
    col = np.empty((N, C * KH * KW, OH * OW), x.dtype)  # sample n: patch rows (RW = OW)
    tasks = chunks(N, TASK_ELEMENTS // col[0].size)

    def task(t: int) -> None:
        n0, n1 = tasks[t]
        xpad = padded_samples(x, n0, n1, PH, PW, C * Hp * Wp)
        for n in range(n0, n1):
            im2col_rows(xpad, col[n], n0, n * OH, (n + 1) * OH, OH, OW, OW, Hp, Wp, KH, KW,
                        SH, SW, DH, DW)

    parallel_for(task, len(tasks))
    return col.reshape(N, C, KH, KW, OH, OW)


def col2im(col: np.ndarray, H: int, W: int, SH: int, SW: int, PH: int, PW: int,
           DH: int = 1, DW: int = 1) -> np.ndarray:
    """Numba col2im: ``col`` (N, C, KH, KW, OH, OW) summed back into (N, C, H, W); the
    adjoint of ``im2col``, taps summed in the reference's order."""
    col = np.ascontiguousarray(col)
    N, C, KH, KW, OH, OW = col_shape(col, H, W, SH, SW, PH, PW, DH, DW)
    Hp, Wp = H + 2 * PH, W + 2 * PW
    rows = col.reshape(N, C * KH * KW, OH * OW)  # sample n: patch rows (RW = OW)
    gx = np.empty((N, C, H, W), col.dtype)
    tasks = chunks(N, TASK_ELEMENTS // rows[0].size)

    def task(t: int) -> None:
        n0, n1 = tasks[t]
        gxpad = gradient_samples(gx, n0, n1, PH, PW, C * Hp * Wp)
        for n in range(n0, n1):
            col2im_rows(rows[n], gxpad, n0, n * OH, (n + 1) * OH, OH, OW, OW, Hp, Wp, KH, KW,
                        SH, SW, DH, DW)
        crop_samples(gxpad, gx, n0, PH, PW)

    parallel_for(task, len(tasks))
    return gx
