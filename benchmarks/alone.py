"""One engine alone in a process, and the thread-configuration study built on it.

``python -m minicnn.benchmarks.alone ENGINE MODEL [--steps N]`` (``benchmarks.alone`` from a
checkout) prints the median training-step time (ms) of one engine with nothing else in the
process: the thread counts come from the environment (``MINICNN_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``TORCH_THREADS``).

``python -m minicnn.benchmarks.alone --study CNN2 CrackCNN [--rounds 2] [--burn]`` runs it for
each thread configuration below, each in a fresh process, rounds interleaved; ``--burn`` first
starts a busy-loop process (one core taken, as by a neighbour on a shared machine).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from .memory import child_env

CONFIGS = {
    "minicnn: pool 2, BLAS 1 (default)": ("minicnn", {"MINICNN_NUM_THREADS": "2"}),
    "minicnn: pool 1, BLAS 1": ("minicnn", {"MINICNN_NUM_THREADS": "1"}),
    "minicnn: pool 1, BLAS 2": ("minicnn", {"MINICNN_NUM_THREADS": "1",
                                            "OPENBLAS_NUM_THREADS": "2"}),
    "minicnn: pool 2, BLAS 2": ("minicnn", {"MINICNN_NUM_THREADS": "2",
                                            "OPENBLAS_NUM_THREADS": "2"}),
    "torch: 2 threads": ("torch", {"TORCH_THREADS": "2"}),
    "torch: 1 thread": ("torch", {"TORCH_THREADS": "1"}),
}


def median_step(engine_name: str, model: str, steps: int) -> float:
    from . import cases
    from .engines import make_engine, settle_allocator

    settle_allocator()
    if engine_name == "torch":
        import torch

        torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
    step = cases.build_training(make_engine(engine_name), cases.MODEL_BY_NAME[model])
    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def study(models: list[str], rounds: int, burn: bool) -> dict[str, dict[str, list[float]]]:
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if burn else None
    results: dict[str, dict[str, list[float]]] = {m: {c: [] for c in CONFIGS} for m in models}
    try:
        for _ in range(rounds):
            for model in models:
                steps = "8" if model.startswith("Crack") else "20"
                for label, (engine, env) in CONFIGS.items():
                    out = subprocess.run([sys.executable, "-m", f"{__package__}.alone",
                                          engine, model, "--steps", steps], env=child_env(env),
                                         capture_output=True, text=True, check=True)
                    results[model][label].append(float(out.stdout.split()[-1]))
    finally:
        if burner is not None:
            burner.kill()
    return results


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog=f"python -m {__package__}.alone", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("args", nargs="+", help="ENGINE MODEL, or with --study: MODEL...")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--study", action="store_true")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--burn", action="store_true", help="keep one core busy meanwhile")
    a = p.parse_args(argv)
    if not a.study:
        engine, model = a.args
        print(f"{median_step(engine, model, a.steps) * 1e3:.2f}")
        return
    res = study(a.args, a.rounds, a.burn)
    print(f"median step ms per configuration ({a.rounds} rounds, "
          f"{'one core busy' if a.burn else 'no extra load'}):")
    for model, by_config in res.items():
        print(f"  {model}")
        for label, values in by_config.items():
            shown = ", ".join(f"{v:.1f}" for v in values)
            print(f"    {label:<36} {statistics.median(values):8.1f}   ({shown})")


if __name__ == "__main__":
    main()
