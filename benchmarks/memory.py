"""Peak memory of a training run, each engine alone in its own subprocess.

Method (the same for both engines): import the engine, pin its threads, and warm up with two
training steps of the same model at batch 2 (Numba compiles, oneDNN builds its kernels),
then free them. The baseline is the resident set size at that point; the kernel's peak-RSS
counter is reset to it (``/proc/self/clear_refs``), the model, optimiser and a full batch are
built and ``steps`` training steps run; the figure is peak RSS minus the baseline. It covers
everything a training run adds: parameters, gradients, optimiser state, activations saved for
backward, workspaces and allocator slack. Where the counter cannot be reset, the figure is
``ru_maxrss`` after the steps minus ``ru_maxrss`` before them, marked as such.

Run as ``python -m minicnn.benchmarks.memory ENGINE MODEL STEPS MINICNN_THREADS TORCH_THREADS
DEVICE`` (``benchmarks.memory`` from a checkout); it prints one JSON line.
"""
from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
from typing import Any


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _maxrss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def release_freed_memory() -> None:
    """Give back what the warm-up freed, so that the baseline holds none of it: collect
    garbage, empty minicnn's buffer cache (it would otherwise hand the warm-up's parameter-
    sized buffers to the measured run, unseen by the peak), and return glibc's free heap to
    the system (``malloc_trim``), for both engines alike."""
    import ctypes
    import ctypes.util

    from minicnn import memory as buffer_cache

    gc.collect()
    buffer_cache.clear()
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        try:
            ctypes.CDLL(libc_name).malloc_trim(0)
        except (OSError, AttributeError):  # not glibc
            pass


def measure(engine_name: str, model: str, steps: int, minicnn_threads: int | None,
            torch_threads: int | None, device: str) -> dict[str, Any]:
    """Peak memory (MiB) that ``steps`` training steps of ``model`` add (see the module doc)."""
    from . import cases, threads
    from .engines import make_engine, settle_allocator

    settle_allocator()
    engine = make_engine(engine_name, device)
    threads.pin(minicnn_threads, torch_threads)
    spec = cases.MODEL_BY_NAME[model]
    warm = cases.build_training(engine, spec, batch=2)
    for _ in range(2):
        warm()
    del warm
    release_freed_memory()
    baseline_kb = _status_kb("VmRSS")
    if baseline_kb is not None and _reset_peak():
        method = "VmHWM after reset - VmRSS baseline"
        before = baseline_kb
    else:
        method = "ru_maxrss after - ru_maxrss before"
        before = _maxrss_kb()
    step = cases.build_training(engine, spec)
    for _ in range(steps):
        step()
    peak_kb = _status_kb("VmHWM") if method.startswith("VmHWM") else _maxrss_kb()
    return {"engine": engine_name, "model": model, "steps": steps,
            "peak_mib": (peak_kb - before) / 1024, "baseline_mib": before / 1024,
            "method": method}


def measure_in_subprocess(engine_name: str, model: str, steps: int,
                          minicnn_threads: int | None, torch_threads: int | None,
                          device: str, timeout: float = 600) -> dict[str, Any]:
    args = [sys.executable, "-m", f"{__package__}.memory", engine_name, model, str(steps),
            str(minicnn_threads), str(torch_threads), device]
    proc = subprocess.run(args, env=child_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        return {"engine": engine_name, "model": model, "error": proc.stderr.strip()[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a ``python -m`` child of this package: this process's, with its
    import path (``sys.path``) as ``PYTHONPATH``, so the child imports the same minicnn and
    finds this package under the same name, whether installed or run from a checkout."""
    paths = [os.path.abspath(p) if p else os.getcwd() for p in sys.path]
    return {**os.environ, **(extra or {}), "PYTHONPATH": os.pathsep.join(paths)}


def _opt_int(s: str) -> int | None:
    return None if s == "None" else int(s)


if __name__ == "__main__":
    name, model_name, n_steps, m_threads, t_threads, dev = sys.argv[1:7]
    print(json.dumps(measure(name, model_name, int(n_steps), _opt_int(m_threads),
                             _opt_int(t_threads), dev)))
