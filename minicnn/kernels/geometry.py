"""Shape arithmetic of window sweeps (convolution, im2col, pooling), in one place.

A window of ``k`` taps, dilation ``d``, slid with stride ``s`` over an axis of ``size``
values padded by ``p`` on each side covers ``d*(k - 1) + 1`` values and takes

    out = (size + 2*p - d*(k - 1) - 1) // s + 1

positions (rounded down, as PyTorch's ``ceil_mode=False``). Output position ``o`` reads the
padded input at ``o*s + i*d`` for tap ``i``, i.e. the unpadded input at ``o*s - p + i*d``.
"""
from __future__ import annotations

from typing import Any


def conv_output_size(size: int, k: int, s: int, p: int, d: int = 1) -> int:
    """Output length of a window sweep: ``(size + 2*p - d*(k - 1) - 1) // s + 1``."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def check_window(KH: int, KW: int, SH: int, SW: int, PH: int, PW: int, DH: int = 1,
                 DW: int = 1) -> None:
    """ValueError unless kernel, stride and dilation are >= 1 and padding is >= 0."""
    if min(KH, KW, SH, SW, DH, DW) < 1 or min(PH, PW) < 0:
        raise ValueError(
            f"need kernel, stride, dilation >= 1 and padding >= 0, got kernel ({KH}, {KW}), "
            f"stride ({SH}, {SW}), padding ({PH}, {PW}), dilation ({DH}, {DW})"
        )


def output_hw(H: int, W: int, KH: int, KW: int, SH: int, SW: int, PH: int, PW: int,
              DH: int = 1, DW: int = 1) -> tuple[int, int]:
    """``(OH, OW)`` of a window sweep over an ``H x W`` input; ValueError if the parameters
    are invalid or the window does not fit at least once."""
    check_window(KH, KW, SH, SW, PH, PW, DH, DW)
    OH = conv_output_size(H, KH, SH, PH, DH)
    OW = conv_output_size(W, KW, SW, PW, DW)
    if OH < 1 or OW < 1:
        raise ValueError(
            f"output size ({OH}, {OW}) < 1: input ({H}, {W}), kernel ({KH}, {KW}), "
            f"stride ({SH}, {SW}), padding ({PH}, {PW}), dilation ({DH}, {DW})"
        )
    return OH, OW


def col_shape(col: Any, H: int, W: int, SH: int, SW: int, PH: int, PW: int, DH: int = 1,
              DW: int = 1) -> tuple[int, int, int, int, int, int]:
    """``(N, C, KH, KW, OH, OW)`` of a patch array ``col``, checked against the image size
    ``H x W`` it is summed back into; ValueError if it cannot come from such an image."""
    if col.ndim != 6:
        raise ValueError(f"col must have shape (N, C, KH, KW, OH, OW), got {col.shape}")
    N, C, KH, KW, OH, OW = col.shape
    if (OH, OW) != output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW):
        raise ValueError(
            f"col of shape {col.shape} does not come from a ({H}, {W}) image with stride "
            f"({SH}, {SW}), padding ({PH}, {PW}), dilation ({DH}, {DW})"
        )
    return N, C, KH, KW, OH, OW


def pool_output_hw(H: int, W: int, KH: int, KW: int, SH: int, SW: int, PH: int,
                   PW: int) -> tuple[int, int]:
    """``(OH, OW)`` of a pooling window sweep; ValueError on PyTorch's invalid configurations
    (padding above half the kernel, or a window that does not fit)."""
    if PH > KH // 2 or PW > KW // 2:
        # NOTE: this guarantees every window holds at least one real element, so a max
        # pooling's argmax always points into the input plane.
        raise ValueError(
            f"padding ({PH}, {PW}) must be at most half the kernel size ({KH}, {KW})"
        )
    return output_hw(H, W, KH, KW, SH, SW, PH, PW)


def pool_gy_shape(gy: Any, argmax: Any, H: int, W: int, KH: int, KW: int, SH: int, SW: int,
                  PH: int, PW: int) -> tuple[int, int, int, int]:
    """``(N, C, OH, OW)`` of a pooling's upstream gradient, checked against ``argmax`` and
    against the window sweep over an ``H x W`` input."""
    if argmax.shape != gy.shape:
        raise ValueError(f"argmax shape {argmax.shape} differs from gy shape {gy.shape}")
    if gy.ndim != 4:
        raise ValueError(f"gy must have shape (N, C, OH, OW), got {gy.shape}")
    if tuple(gy.shape[2:]) != pool_output_hw(H, W, KH, KW, SH, SW, PH, PW):
        raise ValueError(
            f"gy of shape {gy.shape} does not come from a ({H}, {W}) input with kernel "
            f"({KH}, {KW}), stride ({SH}, {SW}), padding ({PH}, {PW})"
        )
    return gy.shape


def same_padding(kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, ...]:
    """``(top, bottom, left, right)`` keeping the size at stride 1: ``d*(k - 1)`` split in two,
    the odd extra at the bottom / right (as PyTorch's ``padding='same'``)."""
    pads = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        pads += [total // 2, total - total // 2]
    return tuple(pads)
