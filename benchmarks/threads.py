"""Pin and report the thread counts of both engines.

The environment variables (``OPENBLAS_NUM_THREADS`` ...) act only before NumPy is imported,
which ``minicnn bench`` cannot guarantee, so the counts are set at run time: minicnn's with
``minicnn.set_num_threads`` (its worker pool and the BLAS threads), PyTorch's with
``torch.set_num_threads``. What each library then reports is printed and saved.
"""
from __future__ import annotations

import os
from typing import Any


def pin(minicnn_threads: int | None, torch_threads: int | None) -> None:
    """Set minicnn's and torch's thread counts (None leaves that engine's default)."""
    import minicnn

    if minicnn_threads is not None:
        if hasattr(minicnn, "set_num_threads"):
            minicnn.set_num_threads(minicnn_threads)
        else:  # an older minicnn: BLAS and Numba separately
            import numba
            from threadpoolctl import threadpool_limits

            threadpool_limits(minicnn_threads, user_api="blas")
            numba.set_num_threads(min(minicnn_threads, numba.config.NUMBA_NUM_THREADS))
    if torch_threads is not None:
        try:
            import torch
        except ImportError:
            return
        torch.set_num_threads(torch_threads)


def report() -> dict[str, Any]:
    """The thread counts each library reports now."""
    import numba

    import minicnn

    info: dict[str, Any] = {}
    if hasattr(minicnn, "get_num_threads"):
        info["minicnn_pool"] = minicnn.get_num_threads()
    try:
        from threadpoolctl import threadpool_info

        info["native"] = [
            {"lib": lib.get("internal_api"), "prefix": lib.get("prefix"),
             "file": os.path.basename(lib.get("filepath", "")),
             "threads": lib.get("num_threads"), "layer": lib.get("threading_layer"),
             "version": lib.get("version")}
            for lib in threadpool_info()
        ]
    except ImportError:
        info["native"] = "threadpoolctl not installed"
    try:
        info["numba_layer"] = numba.threading_layer()
        info["numba_threads"] = numba.get_num_threads()
    except ValueError:  # no parallel Numba function has run (and asking would start them)
        info["numba_layer"] = "never started"
        info["numba_threads"] = numba.config.NUMBA_NUM_THREADS
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["torch_interop_threads"] = torch.get_num_interop_threads()
    except ImportError:
        pass
    return info


def describe(info: dict[str, Any]) -> str:
    """One line for the console and the Markdown report."""
    parts = []
    if "minicnn_pool" in info:
        parts.append(f"minicnn pool {info['minicnn_pool']}")
    parts.append(f"numba {info['numba_threads']} ({info['numba_layer']})")
    native = info.get("native")
    if isinstance(native, list):
        for lib in native:
            parts.append(f"{lib['file'].split('-')[0]} {lib['threads']}")
    if "torch_threads" in info:
        parts.append(f"torch {info['torch_threads']}")
    return "threads: " + ", ".join(parts)
