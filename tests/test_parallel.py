"""minicnn.parallel: the worker pool behind the CPU kernels."""
from __future__ import annotations

import threading

import pytest

import minicnn
from minicnn import parallel


@pytest.fixture
def threads():
    before = minicnn.get_num_threads()
    yield lambda n: minicnn.set_num_threads(n)
    minicnn.set_num_threads(before)


@pytest.mark.parametrize("n_threads", [1, 2, 4])
@pytest.mark.parametrize("n_tasks", [0, 1, 7, 100])
def test_every_task_runs_once(threads, n_threads: int, n_tasks: int) -> None:
    threads(n_threads)
    seen: list[int] = []
    lock = threading.Lock()

    def task(i: int) -> None:
        with lock:
            seen.append(i)

    parallel.parallel_for(task, n_tasks)
    assert sorted(seen) == list(range(n_tasks))


def test_an_exception_in_a_task_is_raised(threads) -> None:
    threads(2)

    def task(i: int) -> None:
        if i == 5:
            raise ValueError("task 5")

    with pytest.raises(ValueError, match="task 5"):
        parallel.parallel_for(task, 20)
    parallel.parallel_for(lambda i: None, 4)  # the pool still works


def test_nested_calls_run_serially(threads) -> None:
    threads(2)
    inner: list[int] = []
    parallel.parallel_for(lambda i: parallel.parallel_for(inner.append, 3), 4)
    assert sorted(inner) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]


def test_set_num_threads_checks() -> None:
    with pytest.raises(ValueError):
        minicnn.set_num_threads(0)


@pytest.mark.parametrize("total, size", [(0, 3), (1, 3), (10, 3), (10, 10), (10, 0), (7, 2)])
def test_chunks_cover_the_range(total: int, size: int) -> None:
    bounds = parallel.chunks(total, size)
    assert [i for a, b in bounds for i in range(a, b)] == list(range(total))
    if bounds:
        lengths = [b - a for a, b in bounds]
        assert max(lengths) - min(lengths) <= 1 and max(lengths) <= max(size, 1)


def test_the_caller_does_not_wait_for_a_worker_that_never_started(threads) -> None:
    """A worker busy elsewhere (as one the OS has not scheduled yet) is not waited for: the
    caller runs every task itself and returns; the late job later finds nothing to do."""
    threads(2)
    parallel.parallel_for(lambda i: None, 2)  # the worker exists
    release = threading.Event()
    parallel._jobs.put(release.wait)  # occupies the only worker
    seen: list[int] = []
    caller = threading.Thread(target=parallel.parallel_for, args=(seen.append, 4))
    caller.start()
    caller.join(timeout=10)
    finished = not caller.is_alive()
    release.set()
    assert finished and sorted(seen) == [0, 1, 2, 3]
    parallel.parallel_for(seen.append, 2)  # the pool still works after the late job
    assert sorted(seen) == [0, 0, 1, 1, 2, 3]
