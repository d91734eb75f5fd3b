"""Convolution on the CPU (Numba): im2col + GEMM in cache-sized chunks on minicnn's threads.

The reference (``kernels.conv``) builds the whole patch array ``col`` (N, C*KH*KW, OH*OW): on
a CPU that array is written once, read twice, its gradient written and read again, each pass
at memory speed. Here the output rows ``r = n*OH + oh`` (over the whole batch) are cut into
chunks whose buffers take about ``CHUNK_BYTES``; for each chunk, on one thread:

- forward: ``col = im2col(rows)`` (C*KH*KW, rows*RW) into a small buffer, ``out = W_mat @
  col`` (one single-threaded BLAS GEMM), then ``y[rows] = out + b`` written into NCHW;
- backward: ``gy`` of the chunk gathered as ``gyc`` (OC, rows*RW); ``gW^T += col @ gyc^T``
  with ``col`` recomputed from ``x``; ``gcol = W_mat^T @ gyc`` added back by col2im into
  ``gx``. Only the gradients asked for are computed (a first layer needs no ``gx``).

Patch rows are read from a zero-padded copy of the task's samples (``Hp = H + 2*PH``, ``Wp =
W + 2*PW``), so the copy loops need no bounds tests. ``RW``, the width of a patch row in
``col``, is ``OW``; for stride 1 it is ``Wp`` ("wide" rows, see ``im2col_rows``).

Chunks are grouped into tasks of whole samples (col2im adds into the input rows shared by
neighbouring chunks, so one sample's chunks run in order on one thread). Chunk and task
boundaries depend only on the shapes, and the weight gradient's per-task partial sums are
added in task order, so results do not depend on the number of threads.

The standalone patch transforms (the layout of ``kernels.conv``) are in ``im2col_cpu``, built
on the same two copy kernels.
"""
from __future__ import annotations

import numba
import numpy as np

from minicnn import memory
from minicnn.kernels.blas import gemm
from minicnn.kernels.geometry import output_hw
from minicnn.parallel import chunks, parallel_for

# NOTE: 2 MiB chunks (patches + GEMM output) stay in the caches; 1-4 MiB measured best on
# the course's shapes, smaller ones make thin GEMMs (see benchmarks/README.md).
CHUNK_BYTES = 2 << 20
MIN_TASKS = 8


# ----------------------------------------------------------------------------------------
# Numba kernels on a range of output rows (GIL released: they run on the pool's threads)
# ----------------------------------------------------------------------------------------

# NOTE: every inner loop runs over a 1-D view from index 0: with an index of unknown sign
# Numba adds a wraparound test to each access, which stops LLVM from vectorising.
# NOTE: one kernel per direction serves both layouts. With stride 1 and RW == Wp ("wide"
# rows) the rows of one sample and tap are ONE contiguous run of the padded input (the junk
# columns OW <= j < Wp read the next row's first values), copied in one loop; otherwise each
# output row is a copy of OW values (strided by SW). Wide rows cost (Wp - OW) / OW more GEMM
# columns and save one short copy per output row: the faster layout for stride 1.

@numba.njit(nogil=True, cache=True)
def im2col_rows(xpad, col, n0, r0, r1, OH, OW, RW, Hp, Wp, KH, KW, SH, SW, DH,
                DW):  # pragma: no cover (jitted)
    """``col[(c, kh, kw), (r - r0)*RW + ow] = xpad[n - n0, c, oh*SH + kh*DH, ow*SW + kw*DW]``
    for the output rows ``r = n*OH + oh`` in ``[r0, r1)`` and ``ow < OW`` (all ``RW``
    columns for wide rows).

    ``xpad`` (samples from ``n0`` on, each flat: C*Hp*Wp + slack) is zero-padded; wide rows
    read up to ``(KW - 1)*DW`` values of slack past a sample's planes.
    """
    C = col.shape[0] // (KH * KW)
    plane = Hp * Wp
    wide = SH == 1 and SW == 1 and RW == Wp
    r = r0
    while r < r1:
        n = r // OH
        oh = r - n * OH
        stop = min(r1, (n + 1) * OH)  # this sample's rows: [r, stop)
        d0 = (r - r0) * RW
        src_n = xpad[n - n0]
        for c in range(C):
            for kh in range(KH):
                for kw in range(KW):
                    dst_row = col[(c * KH + kh) * KW + kw]
                    s0 = c * plane + (oh * SH + kh * DH) * Wp + kw * DW
                    if wide:
                        length = (stop - r) * Wp
                        src = src_n[s0:s0 + length]
                        dst = dst_row[d0:d0 + length]
                        for i in range(length):
                            dst[i] = src[i]
                        continue
                    for k in range(stop - r):
                        src = src_n[s0 + k * SH * Wp:]
                        dst = dst_row[d0 + k * RW:d0 + k * RW + OW]
                        if SW == 1:  # contiguous: LLVM vectorises the copy
                            for i in range(OW):
                                dst[i] = src[i]
                        else:
                            for i in range(OW):
                                dst[i] = src[i * SW]
        r = stop


@numba.njit(nogil=True, cache=True)
def col2im_rows(col, gxpad, n0, r0, r1, OH, OW, RW, Hp, Wp, KH, KW, SH, SW, DH,
                DW):  # pragma: no cover (jitted)
    """The adjoint of ``im2col_rows``: ``gxpad[n - n0, c, oh*SH + kh*DH, ow*SW + kw*DW] +=
    col[(c, kh, kw), (r - r0)*RW + ow]`` for the same rows. With wide rows the junk columns
    are added too: they must be zero."""
    C = col.shape[0] // (KH * KW)
    plane = Hp * Wp
    wide = SH == 1 and SW == 1 and RW == Wp
    r = r0
    while r < r1:
        n = r // OH
        oh = r - n * OH
        stop = min(r1, (n + 1) * OH)
        d0 = (r - r0) * RW
        dst_n = gxpad[n - n0]
        # NOTE: per pixel the taps arrive in (kh, kw) order, as in the reference and the GPU
        # gather; a task owns its samples, so the += needs no atomics.
        for c in range(C):
            for kh in range(KH):
                for kw in range(KW):
                    src_row = col[(c * KH + kh) * KW + kw]
                    s0 = c * plane + (oh * SH + kh * DH) * Wp + kw * DW
                    if wide:
                        length = (stop - r) * Wp
                        dst = dst_n[s0:s0 + length]
                        src = src_row[d0:d0 + length]
                        for i in range(length):
                            dst[i] += src[i]
                        continue
                    for k in range(stop - r):
                        dst = dst_n[s0 + k * SH * Wp:]
                        src = src_row[d0 + k * RW:d0 + k * RW + OW]
                        if SW == 1:
                            for i in range(OW):
                                dst[i] += src[i]
                        else:
                            for i in range(OW):
                                dst[i * SW] += src[i]
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


# NOTE: reassociation lets LLVM vectorise the float64 sums; the order is then fixed by the
# compiled code, the same for any thread count.
@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def nchw_to_rows(gy, out, r0, r1, RW, sums):  # pragma: no cover (jitted)
    """``out[o, (r - r0)*RW + ow] = gy[n, o, oh, ow]`` for the rows ``r`` in [r0, r1), and 0
    in the junk columns ``OW <= ow < RW``; ``sums[o] +=`` the rows' values (float64)."""
    _, OC, OH, OW = gy.shape
    for o in range(OC):
        s = 0.0
        for r in range(r0, r1):
            n = r // OH
            src = gy[n, o, r - n * OH]
            dst = out[o, (r - r0) * RW:(r - r0 + 1) * RW]
            for i in range(OW):
                v = src[i]
                dst[i] = v
                s += np.float64(v)
            for i in range(OW, RW):
                dst[i] = 0
        sums[o] += s


@numba.njit(nogil=True, cache=True)
def pad_planes(x, xpad, n0, PH, PW):  # pragma: no cover (jitted)
    """``xpad[s]`` = sample ``n0 + s`` of ``x`` (N, C, H, W) zero-padded, flat: ``xpad[s, c*Hp*Wp
    + (PH + h)*Wp + PW + w] = x[n0 + s, c, h, w]``, zero elsewhere (slack included). One pass
    (NumPy's padded slice assignment loops over rows as short as 14 values, and zero-fills
    first)."""
    _, C, H, W = x.shape
    Hp, Wp = H + 2 * PH, W + 2 * PW
    for s in range(xpad.shape[0]):
        dst = xpad[s]
        for i in range(C * Hp * Wp, dst.size):
            dst[i] = 0
        for c in range(C):
            plane = dst[c * Hp * Wp:(c + 1) * Hp * Wp]
            for i in range(PH * Wp):
                plane[i] = 0
                plane[(Hp - PH) * Wp + i] = 0
            for h in range(H):
                row = plane[(PH + h) * Wp:(PH + h + 1) * Wp]
                src = x[n0 + s, c, h]
                for i in range(PW):
                    row[i] = 0
                    row[PW + W + i] = 0
                for i in range(W):
                    row[PW + i] = src[i]


@numba.njit(nogil=True, cache=True)
def crop_planes(gxpad, gx, n0, PH, PW):  # pragma: no cover (jitted)
    """``gx[n0 + s, c, h, w] = gxpad[s, c*Hp*Wp + (PH + h)*Wp + PW + w]``: the inverse of
    ``pad_planes`` on the image part."""
    _, C, H, W = gx.shape
    Hp, Wp = H + 2 * PH, W + 2 * PW
    for s in range(gxpad.shape[0]):
        for c in range(C):
            for h in range(H):
                src = gxpad[s, c * Hp * Wp + (PH + h) * Wp + PW:]
                dst = gx[n0 + s, c, h]
                for i in range(W):
                    dst[i] = src[i]


# ----------------------------------------------------------------------------------------
# Padding, and the plan: which output rows form a chunk, and which chunks a task
# ----------------------------------------------------------------------------------------

def _unpadded(shape: tuple, PH: int, PW: int, width: int) -> bool:
    """True when flat padded samples of ``width`` values are the samples themselves."""
    _, C, H, W = shape
    return PH == PW == 0 and width == C * H * W


def padded_samples(x: np.ndarray, n0: int, n1: int, PH: int, PW: int,
                   width: int) -> np.ndarray:
    """Samples ``[n0, n1)`` of contiguous ``x`` (N, C, H, W) zero-padded, each flat:
    (n1 - n0, width), ``width >= C*(H + 2*PH)*(W + 2*PW)`` (the rest is zero slack). A view
    of ``x`` when there is nothing to add."""
    if _unpadded(x.shape, PH, PW, width):
        return x[n0:n1].reshape(n1 - n0, width)
    xpad = memory.empty((n1 - n0, width), x.dtype)
    pad_planes(x, xpad, n0, PH, PW)
    return xpad


def gradient_samples(gx: np.ndarray, n0: int, n1: int, PH: int, PW: int,
                     width: int) -> np.ndarray:
    """A zeroed (n1 - n0, width) buffer for ``col2im_rows`` to add the gradient of samples
    ``[n0, n1)`` into, padded as ``padded_samples``; a view of contiguous ``gx`` when there is
    nothing to pad (``crop_samples`` then has nothing to do)."""
    if _unpadded(gx.shape, PH, PW, width):
        view = gx[n0:n1].reshape(n1 - n0, width)
        view.fill(0)
        return view
    return memory.zeros((n1 - n0, width), gx.dtype)


def crop_samples(gxpad: np.ndarray, gx: np.ndarray, n0: int, PH: int, PW: int) -> None:
    """``gx[n0:n0 + len(gxpad)]`` <- the image part of ``gradient_samples``' buffer."""
    if not _unpadded(gx.shape, PH, PW, gxpad.shape[1]):
        crop_planes(gxpad, gx, n0, PH, PW)


def plan(N: int, OH: int, RW: int, per_column: int, itemsize: int) -> list[list[tuple]]:
    """Tasks, each a list of chunks ``(r0, r1)`` of output rows ``r = n*OH + oh``.

    A chunk's buffers (``per_column`` values for each of its ``rows * RW`` columns: the
    patches and the GEMM's output) take about ``CHUNK_BYTES`` (at least one output row). If a
    whole sample fits in a chunk, a chunk is a few whole samples and a task one chunk (and
    there are at least ``MIN_TASKS`` tasks, a power of two, if there are as many samples);
    otherwise a task is one sample, cut into row blocks of equal height.
    """
    rows_per_chunk = max(1, CHUNK_BYTES // (per_column * RW * itemsize))
    if rows_per_chunk >= OH:
        # NOTE: at least MIN_TASKS tasks, a power of two: even shares for 2 or 4 threads.
        tasks = max(-(-N // (rows_per_chunk // OH)), MIN_TASKS)
        tasks = min(1 << (tasks - 1).bit_length(), N)
        samples = chunks(N, -(-N // tasks))
        return [[(n0 * OH, n1 * OH)] for n0, n1 in samples]
    blocks = chunks(OH, rows_per_chunk)
    return [[(n * OH + a, n * OH + b) for a, b in blocks] for n in range(N)]


class _Layout:
    """Shapes of one convolution, its padded samples, patch rows and chunk plan."""

    def __init__(self, x_shape: tuple, w_shape: tuple, stride: tuple, padding: tuple,
                 dilation: tuple, itemsize: int) -> None:
        self.N, self.C, self.H, self.W = x_shape
        self.OC, _, self.KH, self.KW = w_shape
        (self.SH, self.SW), (self.PH, self.PW), (self.DH, self.DW) = stride, padding, dilation
        self.OH, self.OW = output_hw(self.H, self.W, self.KH, self.KW, self.SH, self.SW,
                                     self.PH, self.PW, self.DH, self.DW)
        self.CKK = self.C * self.KH * self.KW
        self.Hp, self.Wp = self.H + 2 * self.PH, self.W + 2 * self.PW
        wide = self.SH == 1 and self.SW == 1
        self.RW = self.Wp if wide else self.OW
        # NOTE: wide rows' junk columns read up to (KW-1)*DW past a sample's planes.
        self.sample = self.C * self.Hp * self.Wp + ((self.KW - 1) * self.DW if wide else 0)
        self.tasks = plan(self.N, self.OH, self.RW, self.CKK + self.OC, itemsize)

    def samples(self, t: int) -> tuple[int, int]:
        """The samples ``[n0, n1)`` that task ``t`` covers."""
        return self.tasks[t][0][0] // self.OH, -(-self.tasks[t][-1][1] // self.OH)

    def width(self, t: int) -> int:
        """Columns of the largest chunk of task ``t``."""
        return max(r1 - r0 for r0, r1 in self.tasks[t]) * self.RW

    def padded(self, x: np.ndarray, n0: int, n1: int) -> np.ndarray:
        return padded_samples(x, n0, n1, self.PH, self.PW, self.sample)

    def im2col(self, xpad: np.ndarray, col: np.ndarray, n0: int, r0: int, r1: int) -> None:
        im2col_rows(xpad, col, n0, r0, r1, self.OH, self.OW, self.RW, self.Hp, self.Wp,
                    self.KH, self.KW, self.SH, self.SW, self.DH, self.DW)

    def col2im(self, col: np.ndarray, gxpad: np.ndarray, n0: int, r0: int, r1: int) -> None:
        col2im_rows(col, gxpad, n0, r0, r1, self.OH, self.OW, self.RW, self.Hp, self.Wp,
                    self.KH, self.KW, self.SH, self.SW, self.DH, self.DW)


# ----------------------------------------------------------------------------------------
# Forward and backward
# ----------------------------------------------------------------------------------------

def conv2d_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray | None, stride: tuple,
                   padding: tuple, dilation: tuple) -> np.ndarray:
    """``y`` (N, OC, OH, OW) = conv2d(x (N, C, H, W), W (OC, C, KH, KW)) + b, chunked."""
    dtype = np.result_type(x.dtype, W.dtype)
    x = np.ascontiguousarray(x, dtype=dtype)
    g = _Layout(x.shape, W.shape, stride, padding, dilation, x.itemsize)
    W_mat = np.ascontiguousarray(W.reshape(g.OC, -1), dtype=dtype)  # (OC, C*KH*KW)
    bias = np.zeros(g.OC, dtype) if b is None else np.ascontiguousarray(b, dtype=dtype)
    y = memory.empty((g.N, g.OC, g.OH, g.OW), dtype)

    def task(t: int) -> None:
        n0, n1 = g.samples(t)
        xpad = g.padded(x, n0, n1)
        col = memory.empty((g.CKK, g.width(t)), dtype)  # (C*KH*KW, rows*RW)
        out = memory.empty((g.OC, g.width(t)), dtype)  # (OC, rows*RW)
        for r0, r1 in g.tasks[t]:
            cols = (r1 - r0) * g.RW
            g.im2col(xpad, col, n0, r0, r1)
            gemm(W_mat, col[:, :cols], out[:, :cols])
            rows_to_nchw(out, bias, y, r0, r1, g.RW)

    parallel_for(task, len(g.tasks))
    return y


def conv2d_backward(x: np.ndarray | None, W: np.ndarray | None, gy: np.ndarray, stride: tuple,
                    padding: tuple, dilation: tuple, x_shape: tuple, w_shape: tuple,
                    need_b: bool = False) -> tuple[np.ndarray | None, ...]:
    """``(gx, gW, gb)`` for the upstream gradient ``gy`` (N, OC, OH, OW), chunked: ``gx`` if
    ``W`` is given, ``gW`` if ``x`` is given, ``gb`` if ``need_b`` (None otherwise). ``gb``
    is summed in float64 while ``gy`` is gathered (per task, then over tasks in order)."""
    need_x, need_W = W is not None, x is not None
    dtype = gy.dtype
    gy = np.ascontiguousarray(gy)
    g = _Layout(x_shape, w_shape, stride, padding, dilation, gy.itemsize)
    if need_x:
        W_mat = np.ascontiguousarray(W.reshape(g.OC, -1), dtype=dtype)  # (OC, C*KH*KW)
    if need_W:
        x = np.ascontiguousarray(x, dtype=dtype)
    gx = memory.empty((g.N, g.C, g.H, g.W), dtype) if need_x else None
    # NOTE: the weight gradient is computed transposed, gW^T (C*KH*KW, OC) = col @ gyc^T: the
    # same dot products, but a GEMM layout 25-45 % faster in OpenBLAS
    # than gyc @ col^T at the course's shapes (benchmarks/README.md).
    gWT_parts = np.empty((len(g.tasks), g.CKK, g.OC), dtype) if need_W else None
    gb_parts = np.zeros((len(g.tasks), g.OC))  # float64

    def task(t: int) -> None:
        n0, n1 = g.samples(t)
        col = memory.empty((g.CKK, g.width(t)), dtype)  # patches, then their gradients
        gyc = memory.empty((g.OC, g.width(t)), dtype)  # (OC, rows*RW), junk columns 0
        xpad = g.padded(x, n0, n1) if need_W else None
        gxpad = gradient_samples(gx, n0, n1, g.PH, g.PW, g.sample) if need_x else None
        for k, (r0, r1) in enumerate(g.tasks[t]):
            cols = (r1 - r0) * g.RW
            nchw_to_rows(gy, gyc, r0, r1, g.RW, gb_parts[t])
            if need_W:
                g.im2col(xpad, col, n0, r0, r1)
                gemm(col[:, :cols], gyc[:, :cols].T, gWT_parts[t], accumulate=k > 0)
            if need_x:
                gemm(W_mat.T, gyc[:, :cols], col[:, :cols])
                g.col2im(col, gxpad, n0, r0, r1)
        if need_x:
            crop_samples(gxpad, gx, n0, g.PH, g.PW)

    parallel_for(task, len(g.tasks))
    gW = None
    if need_W:
        gWT = gWT_parts[0] if len(g.tasks) == 1 else gWT_parts.sum(axis=0)
        gW = np.ascontiguousarray(gWT.T).reshape(w_shape)  # (OC, C, KH, KW)
    gb = gb_parts.sum(axis=0).astype(dtype) if need_b else None
    return gx, gW, gb
