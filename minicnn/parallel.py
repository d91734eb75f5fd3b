"""minicnn's CPU threads: one pool of worker threads for the kernels, BLAS kept at one thread.

Why not let every library run its own threads? On a machine with few cores, OpenBLAS's
threads, Numba's OpenMP threads and PyTorch's OpenMP threads each spin on the cores while
they wait for work; three such pools in one process (or a neighbour's process on a shared
machine) oversubscribe the cores, and a threaded GEMM whose second thread is descheduled
waits for it (the thread study in benchmarks/README.md).

So minicnn parallelises on its own terms:

- the CPU kernels split their work into tasks whose boundaries depend only on the shapes
  (never on the thread count, so results are bit-for-bit the same with 1 or 8 threads), and
  ``parallel_for`` hands the tasks to ``get_num_threads()`` threads, the caller's included;
- the tasks call Numba functions compiled with ``nogil=True`` and NumPy's BLAS, both of
  which release the GIL, so they run concurrently; a worker that is descheduled simply takes
  fewer tasks (dynamic scheduling, no barrier inside a GEMM), and idle workers block on a
  queue instead of spinning;
- OpenBLAS itself is held at one thread (``threadpoolctl``, at import), unless the user set
  ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` before starting
  Python; Numba's own threading layer (OpenMP) is never started by minicnn.

The thread count is ``MINICNN_NUM_THREADS``, else ``OMP_NUM_THREADS``, else the number of
CPUs this process may run on; ``set_num_threads`` changes it at run time.
"""
from __future__ import annotations

import itertools
import os
import queue
import threading
from collections.abc import Callable

_BLAS_ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                  "GOTO_NUM_THREADS", "BLIS_NUM_THREADS")


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _default_num_threads() -> int:
    for var in ("MINICNN_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value:
            try:
                return max(1, int(value.split(",")[0]))
            except ValueError:
                pass
    return _cpu_count()


_num_threads = _default_num_threads()
_workers: list[threading.Thread] = []  # the pool: _num_threads - 1 threads beside the caller
_jobs: queue.SimpleQueue = queue.SimpleQueue()
_pool_lock = threading.Lock()
_local = threading.local()
_blas_limiter = None


def get_num_threads() -> int:
    """The number of threads minicnn's CPU kernels use (as ``torch.get_num_threads``)."""
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for minicnn's CPU kernels from now on (as ``torch.set_num_threads``).

    Results do not depend on ``n``: the kernels' work is split the same way for any count.
    """
    global _num_threads
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: need at least 1 thread, got {n}")
    with _pool_lock:
        _num_threads = n
        while len(_workers) > n - 1:  # surplus workers leave after the jobs queued before
            _workers.pop()
            _jobs.put(None)


def _worker() -> None:
    while True:
        job = _jobs.get()
        if job is None:
            return
        job()


def _start_workers(count: int) -> None:
    with _pool_lock:
        while len(_workers) < min(count, _num_threads - 1):
            t = threading.Thread(target=_worker, name=f"minicnn-{len(_workers)}", daemon=True)
            t.start()
            _workers.append(t)


def _after_fork_in_child() -> None:
    global _jobs, _pool_lock
    _workers.clear()  # the parent's worker threads do not exist in the child
    _jobs = queue.SimpleQueue()
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def parallel_for(fn: Callable[[int], None], n_tasks: int) -> None:
    """Run ``fn(i)`` for every ``i`` in ``range(n_tasks)`` on up to ``get_num_threads()``
    threads (the calling thread is one of them), and return when all are done.

    Tasks are taken in order from a shared counter, so a slow thread takes fewer, and the
    caller waits only for tasks that were started: a worker that the operating system has not
    yet woken when the tasks run out is not waited for (on a loaded machine it may not get a
    core for milliseconds). ``fn`` must write disjoint outputs for different ``i`` (no two
    tasks may add into the same array element). The first exception raised by a task is
    raised here, after the started tasks end. Calls made from inside a task run serially.
    """
    workers = min(_num_threads, n_tasks)
    if workers <= 1 or getattr(_local, "in_task", False):
        for i in range(n_tasks):
            fn(i)
        return
    counter = itertools.count()
    finished = itertools.count(1)
    all_done = threading.Event()
    errors: list[BaseException] = []
    # NOTE: a job a late worker takes from the queue after the call returned finds no task
    # left; ``state`` is emptied so that the job no longer holds ``fn`` (and its arrays).
    state = [fn]

    def work() -> None:
        _local.in_task = True
        try:
            while True:
                i = next(counter)  # atomic: itertools.count is a C iterator
                if i >= n_tasks:
                    return
                try:
                    if not errors:  # after a failure the remaining tasks are skipped
                        state[0](i)
                except BaseException as e:
                    errors.append(e)
                finally:
                    if next(finished) == n_tasks:
                        all_done.set()
        finally:
            _local.in_task = False

    if len(_workers) < workers - 1:
        _start_workers(workers - 1)
    for _ in range(workers - 1):
        _jobs.put(work)
    work()
    all_done.wait()
    state.clear()
    if errors:
        raise errors[0]


def chunks(total: int, size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges of at most ``size`` covering ``range(total)``, all about the
    same length (``ceil(total / size)`` ranges)."""
    if total <= 0:
        return []
    count = -(-total // max(1, size))
    base, extra = divmod(total, count)
    bounds, start = [], 0
    for i in range(count):
        stop = start + base + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def limit_blas_threads() -> None:
    """Hold the BLAS libraries NumPy loaded at one thread, unless the user chose a count
    through the environment (see the module docstring). Needs ``threadpoolctl``."""
    global _blas_limiter
    if any(os.environ.get(var, "").strip() for var in _BLAS_ENV_VARS):
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it, OpenBLAS keeps its own default
        return
    _blas_limiter = threadpool_limits(limits=1, user_api="blas")


limit_blas_threads()
