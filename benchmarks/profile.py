"""Where a minicnn training step spends its time: per op, forward and backward.

``python -m benchmarks.profile CNN2 [--steps 30] [--cprofile]`` times every
``Function.forward`` / ``backward`` (by class) and the step's phases (zero_grad, forward,
backward, optimiser) over ``--steps`` steps after a warm-up, and prints milliseconds per
step. ``--cprofile`` adds Python's profiler (the 25 functions with the most own time), for
per-op Python overhead. The wrappers cost a few microseconds per op. ``--clock cpu`` reads
the process's CPU time instead of the wall clock: on a loaded machine it leaves out the time
the process waited for a core (with ``--threads 1``; with more threads it sums them all).
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections import defaultdict
from typing import Any

from . import cases
from .engines import make_engine


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub] + _subclasses(sub)
    return out


def op_profile(model: str, steps: int = 30, batch: int | None = None,
               clock: Any = time.perf_counter) -> dict[str, Any]:
    """{'step': s, 'phases': {name: s}, 'ops': {(class, 'forward'|'backward'): s}} per step,
    timed with ``clock``."""
    from minicnn.autograd.function import Function

    acc: defaultdict[tuple[str, str], float] = defaultdict(float)
    originals = []
    for cls in set(_subclasses(Function)):
        for meth in ("forward", "backward"):
            if meth in cls.__dict__:
                orig = cls.__dict__[meth]
                originals.append((cls, meth, orig))

                def timed(self: Any, *args: Any, _orig: Any = orig, _meth: str = meth) -> Any:
                    t0 = clock()
                    try:
                        return _orig(self, *args)
                    finally:
                        acc[(type(self).__name__, _meth)] += clock() - t0

                setattr(cls, meth, timed)
    try:
        engine = make_engine("minicnn")
        spec = cases.MODEL_BY_NAME[model]
        model_ = cases.build_model(engine, spec)
        model_.train()
        opt = (engine.optim.SGD if spec.optimizer == "sgd" else engine.optim.Adam)(
            model_.parameters(), lr=spec.lr)
        loss_fn = engine.nn.CrossEntropyLoss() if spec.loss == "ce" else \
            engine.nn.BCEWithLogitsLoss()
        xa, ya = cases.batch_arrays(spec, batch or spec.batch)
        x, y = engine.tensor(xa), engine.tensor(ya)
        phases: defaultdict[str, float] = defaultdict(float)

        def step() -> None:
            t0 = clock()
            opt.zero_grad()
            t1 = clock()
            loss = loss_fn(model_(x), y)
            t2 = clock()
            loss.backward()
            t3 = clock()
            opt.step()
            t4 = clock()
            for name, dt in (("zero_grad", t1 - t0), ("forward", t2 - t1),
                             ("backward", t3 - t2), ("optimiser step", t4 - t3)):
                phases[name] += dt

        for _ in range(3):
            step()
        acc.clear()
        phases.clear()
        t0 = clock()
        for _ in range(steps):
            step()
        total = (clock() - t0) / steps
    finally:
        for cls, meth, orig in originals:
            setattr(cls, meth, orig)
    return {"step": total, "phases": {k: v / steps for k, v in phases.items()},
            "ops": {k: v / steps for k, v in acc.items()}}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", choices=[m.name for m in cases.MODELS])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int)
    p.add_argument("--threads", type=int, help="minicnn's threads (default: its own)")
    p.add_argument("--cprofile", action="store_true")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="wall clock (default) or the process's CPU time")
    args = p.parse_args(argv)
    from . import threads
    from .engines import settle_allocator

    settle_allocator()
    threads.pin(args.threads, None)
    prof = cProfile.Profile() if args.cprofile else None
    if prof:
        prof.enable()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    res = op_profile(args.model, args.steps, args.batch, clock)
    if prof:
        prof.disable()
    print(f"{args.model}: {res['step'] * 1e3:.2f} ms per step; "
          f"{threads.describe(threads.report())}")
    for name, t in res["phases"].items():
        print(f"  {name:<30} {t * 1e3:8.2f} ms")
    print("  by op:")
    for (cls, meth), t in sorted(res["ops"].items(), key=lambda kv: -kv[1]):
        print(f"    {cls + ' ' + meth:<28} {t * 1e3:8.2f} ms")
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
