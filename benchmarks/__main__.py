"""``minicnn bench`` / ``python -m minicnn.benchmarks`` (``python -m benchmarks`` from a
checkout): minicnn and PyTorch side by side.

Sections: ``train`` (a training step of each course model), ``infer`` (inference
throughput), ``ops`` (forward + backward of single ops at the models' shapes, and a chain of
1,000 small ops), ``memory`` (peak memory of a training run, each engine in a subprocess);
``--epoch`` adds one epoch of CNN2 on Fashion-MNIST with each engine's own data pipeline,
``--scaling`` the cost against batch and image size. The header records the load average and
the machine's measured GEMM rate (the floor). See benchmarks/README.md.
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

from . import floor, hygiene, report, scaling, sections, threads
from .timing import Budget

ROOT = Path(__file__).resolve().parent.parent  # the checkout, when run from one
SECTIONS = ("train", "infer", "ops", "memory")


def _int_list(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated positive integers, e.g. '1,8,64'."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers, got {text!r}")
    return values


def _sizes(text: str) -> tuple[int, ...]:
    values = _int_list(text)
    if min(values) < 4:
        raise argparse.ArgumentTypeError(
            f"expected image sides of at least 4 (the crack CNN pools twice), got {text!r}")
    return values


def parse_args(argv: Sequence[str] | None, prog: str | None = None) -> argparse.Namespace:
    from minicnn.cli import positive_float, positive_int

    p = argparse.ArgumentParser(prog=prog or f"python -m {__package__}", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--quick", action="store_true",
                   help="a fast smoke run: 1 warm-up, 3-5 repeats, 2 memory steps, a small "
                        "GEMM floor, 2,000 images for --epoch")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help=f"comma-separated subset of {','.join(SECTIONS)} (default: all), or "
                        "'none' (with --epoch or --scaling)")
    p.add_argument("--epoch", action="store_true",
                   help="also run one epoch of CNN2 on Fashion-MNIST per engine, each with "
                        "its own DataLoader (minutes)")
    p.add_argument("--epoch-limit", type=positive_int, default=None, metavar="N",
                   help="--epoch on the first N training images only (default: all 60,000; "
                        "--quick 2,000)")
    p.add_argument("--data", help="folder with the Fashion-MNIST files (default: search)")
    p.add_argument("--scaling", action="store_true",
                   help="also sweep CNN2's batch size and the crack CNN's image size; with "
                        "--out, writes scaling.png")
    p.add_argument("--scaling-batches", type=_int_list, default=scaling.BATCHES, metavar="B,..",
                   help=f"CNN2 batch sizes of --scaling (default "
                        f"{','.join(map(str, scaling.BATCHES))})")
    p.add_argument("--scaling-sizes", type=_sizes, default=scaling.SIZES, metavar="S,..",
                   help=f"crack CNN image sides of --scaling (default "
                        f"{','.join(map(str, scaling.SIZES))})")
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
                   help="write DEVICE.json, DEVICE.md, DEVICE.png (ratio chart) and, with "
                        "--scaling, scaling.png here, e.g. benchmarks/results")
    return p.parse_args(argv)


def _sections(text: str) -> list[str]:
    if text.strip() == "none":
        return []
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = set(names) - set(SECTIONS)
    if unknown or not names:
        sys.exit(f"benchmarks: --sections: unknown section(s) {sorted(unknown)}; expected a "
                 f"comma-separated subset of {','.join(SECTIONS)}, or 'none'")
    return names


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


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def write_outputs(res: dict[str, Any], out: Path, device: str) -> list[Path]:
    """``DEVICE.json``, ``DEVICE.md``, ``DEVICE.png`` and, with scaling figures,
    ``scaling.png`` (``scaling-DEVICE.png`` off the CPU), each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    stem = device.split(":")[0]
    paths = [out / f"{stem}.json", out / f"{stem}.md", out / f"{stem}.png"]
    fileio.write_text(paths[0], json.dumps(res, indent=1) + "\n")
    fileio.write_text(paths[1], report.markdown(res) + "\n")
    report.chart(res, paths[2])
    if res.get("scaling"):
        paths.append(out / ("scaling.png" if stem == "cpu" else f"scaling-{stem}.png"))
        meta = res["meta"]
        scaling.plot(res["scaling"], paths[-1],
                     f"minicnn and PyTorch on {meta['device']}, {meta['date'][:10]}: "
                     "training step per image")
    return [p for p in paths if p.exists()]


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> dict[str, Any] | None:
    """Run the benchmarks for the command line ``argv``; returns every figure."""
    args = parse_args(argv, prog)
    from .engines import device_unavailable, make_engine, settle_allocator

    reason = device_unavailable(args.device)
    if reason:
        print(f"benchmarks: skipping --device {args.device}: {reason}")
        return None
    names = _sections(args.sections)
    if not (names or args.epoch or args.scaling):
        sys.exit("benchmarks: --sections none leaves nothing to run: add --epoch or --scaling")
    load_before, cpus = hygiene.load_average(), hygiene.machine_cpus()
    start = hygiene.snapshot()
    warning = hygiene.before_warning(load_before, cpus)
    if warning:
        print(warning, flush=True)
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
        "git": _git(), "machine": _machine(), "cpus": _cpus(), "machine_cpus": cpus,
        "versions": _versions(),
        "budget": (f"{budget.warmup} warm-up calls, then >= {budget.min_reps} and <= "
                   f"{budget.max_reps} interleaved repeats filling {budget.seconds} s per "
                   "engine"),
        "load_before": load_before,
    }
    print(f"minicnn vs PyTorch on {args.device}: {meta['machine']}")
    print(f"load average {load_before:.2f} on {cpus} CPUs; {meta['budget']}", flush=True)
    t_start = time.perf_counter()
    # NOTE: the floor is a CPU GEMM rate; a GPU's rows get no share of it.
    meta["floor"] = floor.measure(quick=args.quick) if args.device == "cpu" else None
    print(floor.describe(meta["floor"]), flush=True)
    floor_gflops = meta["floor"]["gflops"] if meta["floor"] else None
    res: dict[str, Any] = {"meta": meta}
    if "train" in names:
        res["train"] = sections.run_train(engines, budget, args.filter, floor_gflops)
    if "infer" in names:
        res["infer"] = sections.run_infer(engines, budget, args.filter, floor_gflops)
    if "ops" in names:
        res["ops"] = sections.run_ops(engines, budget, args.filter)
    if args.scaling:
        res["scaling"] = scaling.run(engines, budget, args.scaling_batches, args.scaling_sizes,
                                     floor_gflops)
    info = threads.report()  # after the runs: Numba's threading layer is known by now
    meta["threads"] = info
    meta["threads_line"] = threads.describe(info)
    print(meta["threads_line"], flush=True)
    if "memory" in names:
        res["memory"] = sections.run_memory(args, memory_steps)
    if args.epoch:
        from . import epoch

        limit = args.epoch_limit or (2000 if args.quick else None)
        print("one epoch of CNN2 on Fashion-MNIST, batch 64, each engine's own DataLoader "
              "(data loading included)", flush=True)
        res["epoch"] = epoch.run(args.data, args.device, limit=limit)
        print(f"  epoch wall-time ratio minicnn / PyTorch {res['epoch']['ratio']:.2f}",
              flush=True)
    meta["load_after"] = hygiene.load_average()
    meta["others_cpus"] = hygiene.others_cpus(start, hygiene.snapshot())
    meta["seconds"] = time.perf_counter() - t_start
    print(f"done in {meta['seconds']:.0f} s; {report.load_line(meta)}")
    warning = hygiene.warning(meta)
    meta["warning"] = warning
    if warning:
        print(warning, flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        fileio.write_text(args.json, json.dumps(res, indent=1) + "\n")
    if args.out:
        written = write_outputs(res, Path(args.out), args.device)
        print("wrote " + ", ".join(str(p) for p in written))
    return res


if __name__ == "__main__":
    from minicnn.cli import exit_on_missing_extra

    with exit_on_missing_extra():
        main()
