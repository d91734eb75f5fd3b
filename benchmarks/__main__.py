"""``minicnn bench`` / ``python -m minicnn.benchmarks`` (``python -m benchmarks`` from a
checkout): minicnn and PyTorch side by side.

Sections: ``train`` (a training step of each course model), ``infer`` (inference
throughput), ``ops`` (forward + backward of single ops at the models' shapes), ``memory``
(peak memory of a training run, each engine in a subprocess) and, with ``--epoch``, one
epoch of CNN2 on Fashion-MNIST. See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from minicnn import fileio

from . import cases, report, threads
from .timing import Budget, interleave, stats

ROOT = Path(__file__).resolve().parent.parent  # the checkout, when run from one
SECTIONS = ("train", "infer", "ops", "memory")
MIN_MEMORY_MIB = 4.0  # no memory ratio below this (PyTorch's figure)


def parse_args(argv: Sequence[str] | None, prog: str | None = None) -> argparse.Namespace:
    from minicnn.cli import positive_float, positive_int

    p = argparse.ArgumentParser(prog=prog or f"python -m {__package__}", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--quick", action="store_true",
                   help="a fast smoke run: 1 warm-up, 3-5 repeats, 2 memory steps")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)")
    p.add_argument("--epoch", action="store_true",
                   help="also run one epoch of CNN2 on Fashion-MNIST per engine (minutes)")
    p.add_argument("--data", help="folder with the Fashion-MNIST files (default: search)")
    p.add_argument("--filter", action="append", default=[],
                   help="only rows whose name contains this (case-insensitive; repeatable)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="minicnn's threads (default: minicnn's own default)")
    p.add_argument("--torch-threads", type=positive_int, default=2,
                   help="PyTorch's threads (default 2)")
    p.add_argument("--seconds", type=positive_float, default=None,
                   help="timed seconds per engine per row (default 4, --quick 0.3)")
    p.add_argument("--memory-steps", type=positive_int, default=None,
                   help="training steps in each memory subprocess (default 5, --quick 2)")
    p.add_argument("--json", metavar="PATH", help="write every figure to this JSON file")
    p.add_argument("--out", metavar="DIR",
                   help="write DEVICE.json, DEVICE.md and DEVICE.png (ratio chart) here, e.g. "
                        "benchmarks/results")
    return p.parse_args(argv)


def _selected(name: str, filters: list[str]) -> bool:
    return not filters or any(f.lower() in name.lower() for f in filters)


def _git() -> str:
    """The checkout's commit, or 'installed' when not run from a git checkout."""
    if not (ROOT / ".git").exists():
        return "installed (no git checkout)"
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=False,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, check=False, capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return f"{rev}{' + uncommitted changes' if dirty else ''}" if rev else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            if m:
                model = m.group(1).strip()
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def _versions() -> dict[str, str]:
    import numba
    import numpy

    import minicnn

    v = {"python": platform.python_version(), "minicnn": minicnn.__version__,
         "numpy": numpy.__version__, "numba": numba.__version__}
    try:
        import torch

        v["torch"] = torch.__version__
    except ImportError:
        pass
    return v


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _timing_row(times: dict[str, list[float]]) -> dict[str, Any]:
    m, t = stats(times["minicnn"]), stats(times["torch"])
    return {"minicnn": m.as_dict(), "torch": t.as_dict(), "ratio": m.median / t.median}


def run_train(engines: dict, budget: Budget, filters: list[str]) -> list[dict[str, Any]]:
    rows = []
    print("training step: median (IQR) per step", flush=True)
    for spec in cases.MODELS:
        if not _selected(spec.name, filters):
            continue
        weights = cases.reference_weights(spec)
        fns = {n: cases.build_training(e, spec, weights=weights) for n, e in engines.items()}
        times, _ = interleave(fns, budget)
        del fns
        row = {"name": spec.name, "batch": spec.batch, **_timing_row(times)}
        flops = cases.model_flops(spec, spec.batch, training=True)
        row.update(gflop=flops / 1e9, gflops_minicnn=flops / 1e9 / row["minicnn"]["median"],
                   gflops_torch=flops / 1e9 / row["torch"]["median"])
        print(report.train_line(row), flush=True)
        rows.append(row)
    return rows


def run_infer(engines: dict, budget: Budget, filters: list[str]) -> list[dict[str, Any]]:
    rows = []
    print("inference: images per second (eval mode, no_grad)", flush=True)
    for spec in cases.MODELS:
        if not _selected(spec.name, filters):
            continue
        weights = cases.reference_weights(spec)
        fns = {n: cases.build_inference(e, spec, weights) for n, e in engines.items()}
        times, _ = interleave(fns, budget)
        del fns
        row = {"name": spec.name, "batch": spec.infer_batch, **_timing_row(times)}
        flops = cases.model_flops(spec, spec.infer_batch, training=False)
        for n in engines:
            row[f"images_per_s_{n}"] = spec.infer_batch / row[n]["median"]
            row[f"gflops_{n}"] = flops / 1e9 / row[n]["median"]
        row["gflop"] = flops / 1e9
        print(report.infer_line(row), flush=True)
        rows.append(row)
    return rows


def run_ops(engines: dict, budget: Budget, filters: list[str]) -> list[dict[str, Any]]:
    rows = []
    print("ops: forward + backward, median per call", flush=True)
    for spec in cases.OPS:
        if not _selected(spec.name, filters):
            continue
        fns = {n: cases.build_op(e, spec) for n, e in engines.items()}
        times, parts = interleave(fns, budget)
        del fns
        row = {"name": spec.name, "op": spec.op, "shape": list(spec.shape),
               "input_grad": spec.input_grad, **_timing_row(times)}
        for n in engines:
            row[n]["fwd_median"] = stats([p[0] for p in parts[n]]).median
            row[n]["bwd_median"] = stats([p[1] for p in parts[n]]).median
        flops = spec.flops()
        if flops:
            row["gflop"] = flops / 1e9
            for n in engines:
                row[f"gflops_{n}"] = flops / 1e9 / row[n]["median"]
        print(report.op_line(row), flush=True)
        rows.append(row)
    return rows


def run_memory(args: argparse.Namespace, steps: int) -> list[dict[str, Any]]:
    from .memory import measure_in_subprocess

    rows = []
    print(f"peak memory of {steps} training steps (each engine in its own subprocess)",
          flush=True)
    for spec in cases.MODELS:
        if not _selected(spec.name, args.filter):
            continue
        m = measure_in_subprocess("minicnn", spec.name, steps, args.threads, None, args.device)
        t = measure_in_subprocess("torch", spec.name, steps, None, args.torch_threads,
                                  args.device)
        row: dict[str, Any] = {"name": spec.name, "batch": spec.batch, "steps": steps}
        if "error" in m or "error" in t:
            row["error"] = m.get("error") or t.get("error")
        else:
            # NOTE: below a few MiB the figure is allocator noise: no ratio.
            ratio = m["peak_mib"] / t["peak_mib"] if t["peak_mib"] >= MIN_MEMORY_MIB else None
            row.update(minicnn_mib=m["peak_mib"], torch_mib=t["peak_mib"], ratio=ratio,
                       method=m["method"],
                       baseline_mib={"minicnn": m["baseline_mib"],
                                     "torch": t["baseline_mib"]})
        print(report.memory_line(row), flush=True)
        rows.append(row)
    return rows


def run_epoch(args: argparse.Namespace) -> list[dict[str, Any]]:
    from .epoch import run_epoch as one_epoch

    print("one epoch of CNN2 on Fashion-MNIST, batch 64 (data loading included)", flush=True)
    rows = []
    for name in ("minicnn", "torch"):
        row = one_epoch(name, args.data, args.device, limit=2000 if args.quick else None)
        print(report.epoch_line(row), flush=True)
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> dict[str, Any] | None:
    """Run the benchmarks for the command line ``argv``; returns every figure."""
    args = parse_args(argv, prog)
    from .engines import device_unavailable, make_engine, settle_allocator

    reason = device_unavailable(args.device)
    if reason:
        print(f"benchmarks: skipping --device {args.device}: {reason}")
        return None
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown or not sections:
        sys.exit(f"benchmarks: --sections: unknown section(s) {sorted(unknown)}; expected a "
                 f"comma-separated subset of {','.join(SECTIONS)}")
    if args.quick:
        budget = Budget(warmup=1, seconds=args.seconds or 0.3, min_reps=3, max_reps=5)
    else:
        budget = Budget(seconds=args.seconds or 4.0)
    memory_steps = args.memory_steps or (2 if args.quick else 5)

    settle_allocator()
    threads.pin(args.threads, args.torch_threads)
    engines = {n: make_engine(n, args.device) for n in ("minicnn", "torch")}
    command = f"{prog or 'python -m ' + __package__} " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    meta: dict[str, Any] = {
        "device": args.device, "command": command.strip(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git": _git(), "machine": _machine(), "cpus": _cpus(), "versions": _versions(),
        "budget": (f"{budget.warmup} warm-up calls, then >= {budget.min_reps} and <= "
                   f"{budget.max_reps} interleaved repeats filling {budget.seconds} s per "
                   "engine"),
        "load_before": _load(),
    }
    print(f"minicnn vs PyTorch on {args.device}: {meta['machine']}")
    print(f"load average {meta['load_before']:.2f} on {meta['cpus']} CPUs; {meta['budget']}",
          flush=True)
    t_start = time.perf_counter()
    res: dict[str, Any] = {"meta": meta}
    if "train" in sections:
        res["train"] = run_train(engines, budget, args.filter)
    if "infer" in sections:
        res["infer"] = run_infer(engines, budget, args.filter)
    if "ops" in sections:
        res["ops"] = run_ops(engines, budget, args.filter)
    info = threads.report()  # after the runs: Numba's threading layer is known by now
    meta["threads"] = info
    meta["threads_line"] = threads.describe(info)
    print(meta["threads_line"], flush=True)
    if "memory" in sections:
        res["memory"] = run_memory(args, memory_steps)
    if args.epoch:
        res["epoch"] = run_epoch(args)
    meta["load_after"] = _load()
    meta["seconds"] = time.perf_counter() - t_start
    print(f"done in {meta['seconds']:.0f} s; load average {meta['load_after']:.2f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        fileio.write_text(args.json, json.dumps(res, indent=1) + "\n")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = args.device.split(":")[0]
        fileio.write_text(out / f"{stem}.json", json.dumps(res, indent=1) + "\n")
        fileio.write_text(out / f"{stem}.md", report.markdown(res) + "\n")
        report.chart(res, out / f"{stem}.png")
        print(f"wrote {out / stem}.json, .md and .png")
    return res


if __name__ == "__main__":
    from minicnn.cli import exit_on_missing_extra

    with exit_on_missing_extra():
        main()
