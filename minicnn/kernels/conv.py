"""2-D convolution on the CPU: im2col + GEMM in cache-sized chunks, on minicnn's thread pool.

The plain way (``minicnn.ops.conv``'s generic path, and the GPU's) builds the whole patch array
``col`` (N, C*KH*KW, OH*OW) and multiplies it by the weights. On the CPU that array is the
problem: for the crack CNN's second layer it is 117 MB, written once, read twice, its gradient
written and read again, each pass at memory speed, and it is kept from forward to backward.

Here the output rows ``r = n*OH + oh`` (over the whole batch) are cut into chunks whose
buffers take about ``CHUNK_BYTES``. For each chunk, on one thread:

- forward: ``col = im2col(rows)`` (C*KH*KW, rows*RW) into a small buffer, ``out = W_mat @
  col`` (one BLAS GEMM, single-threaded), then ``y[rows] = out + b`` written into the NCHW
  output;
- backward: ``gy`` of the chunk gathered as (OC, rows*RW); ``gW_part = gy_c @ col^T`` with
  ``col`` recomputed from ``x`` (cheaper than keeping it: only ``x`` is saved for backward);
  ``gcol = W_mat^T @ gy_c`` added back by col2im into ``gx``. Only the gradients asked for
  are computed (a first layer's input needs none: no col2im there).

``RW``, the width of a patch row, is ``OW``, or for stride 1 the padded input width (see
``_Geometry``).

Chunks are grouped into tasks of whole samples (col2im adds into the overlapping input rows
of neighbouring chunks, so one sample's chunks run in order on one thread), and the tasks run
on ``minicnn.parallel``. Chunk and task boundaries depend only on the shapes, and the weight
gradient's per-task partial sums are added in task order, so results do not depend on the
number of threads.
"""
from __future__ import annotations

import numba
import numpy as np

from minicnn import memory
from minicnn.kernels.im2col import _output_hw, _valid_range
from minicnn.parallel import chunks, parallel_for

# NOTE: the buffers of one chunk (patches + GEMM output) stay in the caches. Measured on the
# course's conv shapes, forward + backward (benchmarks/README.md): 1-4 MiB are best, 2 MiB
# within a few % of the best on each; 256 KiB is up to 50 % slower (thin GEMMs, per-chunk
# overhead), 8 MiB up to 35 % (the chunk no longer stays in cache).
CHUNK_BYTES = 2 << 20
MIN_TASKS = 8


# ----------------------------------------------------------------------------------------
# Numba kernels on a range of output rows (GIL released: they run on the pool's threads)
# ----------------------------------------------------------------------------------------

# NOTE: every inner loop runs over a 1-D view from index 0: with an index of unknown sign
# Numba adds a wraparound test to each access, which stops LLVM from vectorising (10x).

@numba.njit(nogil=True, cache=True)
def im2col_rows(x, col, r0, r1, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW):  # pragma: no cover
    """``col[(c, kh, kw), (r - r0)*OW + ow] = x_pad[n, c, oh*SH + kh*DH, ow*SW + kw*DW]`` for
    the output rows ``r = n*OH + oh`` in ``[r0, r1)``; ``col`` is (C*KH*KW, >= (r1-r0)*OW)."""
    _, C, H, W = x.shape
    for c in range(C):
        for kh in range(KH):
            for kw in range(KW):
                row = (c * KH + kh) * KW + kw
                w0 = kw * DW - PW
                ow_lo, ow_hi = _valid_range(OW, SW, w0, W)
                for r in range(r0, r1):
                    n = r // OH
                    h = (r - n * OH) * SH - PH + kh * DH
                    dst = col[row, (r - r0) * OW:(r - r0 + 1) * OW]  # (OW,)
                    if h < 0 or h >= H:
                        dst[:] = 0
                        continue
                    dst[:ow_lo] = 0
                    dst[ow_hi:] = 0
                    inner = dst[ow_lo:ow_hi]
                    src = x[n, c, h, ow_lo * SW + w0:]
                    if SW == 1:  # contiguous: LLVM vectorises the copy
                        for i in range(inner.size):
                            inner[i] = src[i]
                    else:
                        for i in range(inner.size):
                            inner[i] = src[i * SW]


@numba.njit(nogil=True, cache=True)
def col2im_rows(col, gx, r0, r1, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW):  # pragma: no cover
    """The adjoint of ``im2col_rows``: ``gx[n, c, h, w] +=`` every ``col`` entry of the rows
    ``[r0, r1)`` that was read from ``x[n, c, h, w]`` (padding entries are dropped)."""
    _, C, H, W = gx.shape
    for c in range(C):
        for kh in range(KH):
            for kw in range(KW):
                row = (c * KH + kh) * KW + kw
                w0 = kw * DW - PW
                ow_lo, ow_hi = _valid_range(OW, SW, w0, W)
                for r in range(r0, r1):
                    n = r // OH
                    h = (r - n * OH) * SH - PH + kh * DH
                    if h < 0 or h >= H:
                        continue
                    src = col[row, (r - r0) * OW + ow_lo:(r - r0) * OW + ow_hi]
                    dst = gx[n, c, h, ow_lo * SW + w0:]
                    if SW == 1:
                        for i in range(src.size):
                            dst[i] += src[i]
                    else:
                        for i in range(src.size):
                            dst[i * SW] += src[i]


@numba.njit(nogil=True, cache=True)
def im2col_wide(xp, col, r0, r1, n_base, OH, Hp, Wp, KH, KW, DH, DW):  # pragma: no cover
    """Stride 1: ``col[(c, kh, kw), (r - r0)*Wp + j] = xp[n - n_base, c*Hp*Wp + (oh + kh*DH)*Wp
    + kw*DW + j]`` for the output rows ``r = n*OH + oh`` in ``[r0, r1)`` and ``j < Wp``.

    ``xp`` holds the zero-padded samples from ``n_base`` on, flat (N', C*Hp*Wp + slack). With
    rows ``Wp`` wide instead of ``OW`` (the columns ``j >= OW`` are junk, dropped later), each
    tap of each sample is ONE contiguous copy instead of one short copy per output row.
    """
    C = col.shape[0] // (KH * KW)
    plane = Hp * Wp
    r = r0
    while r < r1:
        n = r // OH
        oh = r - n * OH
        stop = min(r1, (n + 1) * OH)
        length = (stop - r) * Wp
        d0 = (r - r0) * Wp
        src_n = xp[n - n_base]
        for c in range(C):
            for kh in range(KH):
                for kw in range(KW):
                    s0 = c * plane + (oh + kh * DH) * Wp + kw * DW
                    src = src_n[s0:s0 + length]
                    dst = col[(c * KH + kh) * KW + kw, d0:d0 + length]
                    for i in range(length):
                        dst[i] = src[i]
        r = stop


@numba.njit(nogil=True, cache=True)
def col2im_wide(col, gxp, r0, r1, n_base, OH, Hp, Wp, KH, KW, DH, DW):  # pragma: no cover
    """The adjoint of ``im2col_wide``: ``gxp[n - n_base, ...] +=`` the ``col`` entries of the
    rows ``[r0, r1)``. The junk columns of ``col`` must be zero (they then add nothing)."""
    C = col.shape[0] // (KH * KW)
    plane = Hp * Wp
    r = r0
    while r < r1:
        n = r // OH
        oh = r - n * OH
        stop = min(r1, (n + 1) * OH)
        length = (stop - r) * Wp
        d0 = (r - r0) * Wp
        dst_n = gxp[n - n_base]
        for c in range(C):
            for kh in range(KH):
                for kw in range(KW):
                    s0 = c * plane + (oh + kh * DH) * Wp + kw * DW
                    dst = dst_n[s0:s0 + length]
                    src = col[(c * KH + kh) * KW + kw, d0:d0 + length]
                    for i in range(length):
                        dst[i] += src[i]
        r = stop


@numba.njit(nogil=True, cache=True)
def rows_to_nchw(out, b, y, r0, r1, RW):  # pragma: no cover (jitted)
    """``y[n, o, oh, :] = out[o, (r - r0)*RW : ... + OW] + b[o]`` for the rows ``r`` in
    [r0, r1) (``RW >= OW`` is the row width in ``out``)."""
    _, OC, OH, OW = y.shape
    for o in range(OC):
        bo = b[o]
        for r in range(r0, r1):
            n = r // OH
            src = out[o, (r - r0) * RW:(r - r0) * RW + OW]
            dst = y[n, o, r - n * OH]
            for i in range(OW):
                dst[i] = src[i] + bo


@numba.njit(nogil=True, cache=True)
def nchw_to_rows(gy, out, r0, r1, RW):  # pragma: no cover (jitted)
    """``out[o, (r - r0)*RW + ow] = gy[n, o, oh, ow]`` for the rows ``r`` in [r0, r1), and 0
    in the junk columns ``OW <= ow < RW``."""
    _, OC, OH, OW = gy.shape
    for o in range(OC):
        for r in range(r0, r1):
            n = r // OH
            src = gy[n, o, r - n * OH]
            dst = out[o, (r - r0) * RW:(r - r0 + 1) * RW]
            for i in range(OW):
                dst[i] = src[i]
            for i in range(OW, RW):
                dst[i] = 0


# ----------------------------------------------------------------------------------------
# The plan: which output rows form a chunk, and which chunks a task
# ----------------------------------------------------------------------------------------

def plan(N: int, OH: int, RW: int, per_column: int, itemsize: int,
         chunk_bytes: int | None = None) -> list[list[tuple[int, int]]]:
    """Tasks, each a list of chunks ``(r0, r1)`` of output rows ``r = n*OH + oh``.

    A chunk's buffers (``per_column`` values for each of its ``rows * RW`` columns: the
    patches and the GEMM's output) take about ``chunk_bytes`` (at least one output row). If a
    whole sample fits in a chunk, a chunk is a few whole samples and a task one chunk (and
    there are at least ``MIN_TASKS`` tasks, a power of two, if there are as many samples);
    otherwise a task is one sample, cut into row blocks of equal height.
    """
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    rows_per_chunk = max(1, chunk_bytes // (per_column * RW * itemsize))
    if rows_per_chunk >= OH:
        # NOTE: at least MIN_TASKS tasks, a power of two: even shares for 2 or 4 threads
        # (CNN2's 11 tasks of 6 samples left one thread idle at the end).
        tasks = max(-(-N // (rows_per_chunk // OH)), MIN_TASKS)
        tasks = min(1 << (tasks - 1).bit_length(), N)
        samples = chunks(N, -(-N // tasks))
        return [[(n0 * OH, n1 * OH)] for n0, n1 in samples]
    blocks = chunks(OH, rows_per_chunk)
    return [[(n * OH + a, n * OH + b) for a, b in blocks] for n in range(N)]


class _Geometry:
    """Shapes of one convolution, and how its patches are laid out.

    Stride 1 ("wide" rows): the input is zero-padded once per task into flat samples
    (C*Hp*Wp + slack) and patch rows are ``Wp`` wide, so im2col and col2im are long contiguous
    copies (the ``Wp - OW`` junk columns per row cost that much more GEMM work: 2 % for the
    crack CNN's layers, 14 % for CNN2's second). Other strides: ``OW`` wide rows read from
    ``x`` directly (``im2col_rows``).
    """

    def __init__(self, x_shape: tuple, w_shape: tuple, stride: tuple, padding: tuple,
                 dilation: tuple, itemsize: int) -> None:
        self.N, self.C, self.H, self.W = x_shape
        self.OC, _, self.KH, self.KW = w_shape
        (self.SH, self.SW), (self.PH, self.PW), (self.DH, self.DW) = stride, padding, dilation
        self.OH, self.OW = _output_hw(self.H, self.W, self.KH, self.KW, self.SH, self.SW,
                                      self.PH, self.PW, self.DH, self.DW)
        self.CKK = self.C * self.KH * self.KW
        self.wide = self.SH == 1 and self.SW == 1
        self.Hp, self.Wp = self.H + 2 * self.PH, self.W + 2 * self.PW
        self.RW = self.Wp if self.wide else self.OW  # row width of the patch buffers
        # NOTE: junk columns of the last row read up to (KW-1)*DW past a sample's planes.
        self.sample = self.C * self.Hp * self.Wp + (self.KW - 1) * self.DW
        self.tasks = plan(self.N, self.OH, self.RW, self.CKK + self.OC, itemsize)

    def samples(self, t: int) -> tuple[int, int]:
        """The samples ``[n0, n1)`` that task ``t`` covers."""
        return self.tasks[t][0][0] // self.OH, -(-self.tasks[t][-1][1] // self.OH)

    def width(self, t: int) -> int:
        """Columns of the largest chunk of task ``t``."""
        return max(r1 - r0 for r0, r1 in self.tasks[t]) * self.RW

    def padded(self, x: np.ndarray, n0: int, n1: int) -> np.ndarray:
        """Samples ``[n0, n1)`` of ``x`` zero-padded, flat: (n1 - n0, C*Hp*Wp + slack)."""
        xp = memory.zeros((n1 - n0, self.sample), x.dtype)
        planes = xp[:, :self.C * self.Hp * self.Wp].reshape(n1 - n0, self.C, self.Hp, self.Wp)
        planes[:, :, self.PH:self.PH + self.H, self.PW:self.PW + self.W] = x[n0:n1]
        return xp

    def im2col(self, src: np.ndarray, col: np.ndarray, r0: int, r1: int, n0: int) -> None:
        """``col`` <- the patches of rows ``[r0, r1)``; ``src`` is ``padded(x, n0, ...)`` for
        wide rows, ``x`` otherwise."""
        if self.wide:
            im2col_wide(src, col, r0, r1, n0, self.OH, self.Hp, self.Wp, self.KH, self.KW,
                        self.DH, self.DW)
        else:
            im2col_rows(src, col, r0, r1, self.OH, self.OW, self.KH, self.KW, self.SH,
                        self.SW, self.PH, self.PW, self.DH, self.DW)

    def col2im(self, col: np.ndarray, dst: np.ndarray, r0: int, r1: int, n0: int) -> None:
        """``dst`` += the adjoint of ``im2col`` (``dst`` as ``src`` there)."""
        if self.wide:
            col2im_wide(col, dst, r0, r1, n0, self.OH, self.Hp, self.Wp, self.KH, self.KW,
                        self.DH, self.DW)
        else:
            col2im_rows(col, dst, r0, r1, self.OH, self.OW, self.KH, self.KW, self.SH,
                        self.SW, self.PH, self.PW, self.DH, self.DW)

    def crop(self, gxp: np.ndarray, gx: np.ndarray, n0: int, n1: int) -> None:
        """``gx[n0:n1]`` <- the image part of the padded gradient ``gxp`` (wide rows)."""
        planes = gxp[:, :self.C * self.Hp * self.Wp].reshape(n1 - n0, self.C, self.Hp, self.Wp)
        gx[n0:n1] = planes[:, :, self.PH:self.PH + self.H, self.PW:self.PW + self.W]


# ----------------------------------------------------------------------------------------
# Forward and backward
# ----------------------------------------------------------------------------------------

def conv2d_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray | None, stride: tuple,
                   padding: tuple, dilation: tuple) -> np.ndarray:
    """``y`` (N, OC, OH, OW) = conv2d(x (N, C, H, W), W (OC, C, KH, KW)) + b, chunked."""
    dtype = np.result_type(x.dtype, W.dtype)
    x = np.ascontiguousarray(x, dtype=dtype)
    g = _Geometry(x.shape, W.shape, stride, padding, dilation, x.itemsize)
    W_mat = np.ascontiguousarray(W.reshape(g.OC, -1), dtype=dtype)  # (OC, C*KH*KW)
    bias = np.zeros(g.OC, dtype) if b is None else np.ascontiguousarray(b, dtype=dtype)
    y = memory.empty((g.N, g.OC, g.OH, g.OW), dtype)

    def task(t: int) -> None:
        n0, n1 = g.samples(t)
        src = g.padded(x, n0, n1) if g.wide else x
        col = memory.empty((g.CKK, g.width(t)), dtype)  # (C*KH*KW, rows*RW)
        out = memory.empty((g.OC, g.width(t)), dtype)  # (OC, rows*RW)
        for r0, r1 in g.tasks[t]:
            cols = (r1 - r0) * g.RW
            g.im2col(src, col, r0, r1, n0)
            np.matmul(W_mat, col[:, :cols], out=out[:, :cols])
            rows_to_nchw(out, bias, y, r0, r1, g.RW)

    parallel_for(task, len(g.tasks))
    return y


def conv2d_backward(x: np.ndarray | None, W: np.ndarray | None, gy: np.ndarray, stride: tuple,
                    padding: tuple, dilation: tuple, need_x: bool = True, need_W: bool = True,
                    x_shape: tuple | None = None, w_shape: tuple | None = None
                    ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(gx, gW)`` of the convolution for the upstream gradient ``gy`` (N, OC, OH, OW);
    each is None when not needed (``x`` is needed only for ``gW``, ``W`` only for ``gx``;
    pass the shapes when one is omitted). ``gb`` (the sum of ``gy`` over N, OH, OW) is left
    to the caller."""
    x_shape = x.shape if x_shape is None else x_shape
    w_shape = W.shape if w_shape is None else w_shape
    dtype = gy.dtype
    gy = np.ascontiguousarray(gy)
    g = _Geometry(x_shape, w_shape, stride, padding, dilation, gy.itemsize)
    if need_x:
        W_mat = np.ascontiguousarray(W.reshape(g.OC, -1), dtype=dtype)  # (OC, C*KH*KW)
    if need_W:
        x = np.ascontiguousarray(x, dtype=dtype)
    gx = memory.empty((g.N, g.C, g.H, g.W), dtype) if need_x else None
    gW_parts = np.empty((len(g.tasks), g.OC, g.CKK), dtype) if need_W else None

    def task(t: int) -> None:
        n0, n1 = g.samples(t)
        col = memory.empty((g.CKK, g.width(t)), dtype)  # patches, then their gradients
        gyc = memory.empty((g.OC, g.width(t)), dtype)  # (OC, rows*RW), junk columns 0
        part = np.empty((g.OC, g.CKK), dtype) if need_W else None
        src = (g.padded(x, n0, n1) if g.wide else x) if need_W else None
        if need_x:
            if g.wide:
                gxp = memory.zeros((n1 - n0, g.sample), dtype)
            else:
                gxp = gx
                gx[n0:n1] = 0
        for k, (r0, r1) in enumerate(g.tasks[t]):
            cols = (r1 - r0) * g.RW
            nchw_to_rows(gy, gyc, r0, r1, g.RW)
            if need_W:
                g.im2col(src, col, r0, r1, n0)
                if k == 0:
                    np.matmul(gyc[:, :cols], col[:, :cols].T, out=gW_parts[t])
                else:
                    np.matmul(gyc[:, :cols], col[:, :cols].T, out=part)
                    gW_parts[t] += part
            if need_x:
                np.matmul(W_mat.T, gyc[:, :cols], out=col[:, :cols])
                g.col2im(col, gxp, r0, r1, n0)
        if need_x and g.wide:
            g.crop(gxp, gx, n0, n1)

    parallel_for(task, len(g.tasks))
    gW = None
    if need_W:
        gW = gW_parts[0] if len(g.tasks) == 1 else gW_parts.sum(axis=0)
        gW = gW.reshape(w_shape)
    return gx, gW
