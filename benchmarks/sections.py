"""The sections of a run: training steps, inference, single ops and peak memory, each a list
of rows (dicts) with both engines' figures and their ratio."""
from __future__ import annotations

import argparse
from typing import Any

from . import cases, op_cases, report
from .timing import Budget, interleave, stats

MIN_MEMORY_MIB = 4.0  # no memory ratio below this (PyTorch's figure)


def selected(name: str, filters: list[str]) -> bool:
    """Whether row ``name`` passes the ``--filter`` substrings (case-insensitive)."""
    return not filters or any(f.lower() in name.lower() for f in filters)


def timing_row(times: dict[str, list[float]]) -> dict[str, Any]:
    """Both engines' statistics and the ratio of their medians (minicnn / PyTorch)."""
    m, t = stats(times["minicnn"]), stats(times["torch"])
    return {"minicnn": m.as_dict(), "torch": t.as_dict(), "ratio": m.median / t.median}


def add_rates(row: dict[str, Any], flops: int, engines: dict, floor_gflops: float | None
              ) -> None:
    """Attained GFLOP/s of each engine, and its share of the GEMM floor (if measured)."""
    row["gflop"] = flops / 1e9
    for n in engines:
        row[f"gflops_{n}"] = flops / 1e9 / row[n]["median"]
        if floor_gflops:
            row[f"floor_share_{n}"] = row[f"gflops_{n}"] / floor_gflops


def run_train(engines: dict, budget: Budget, filters: list[str],
              floor_gflops: float | None = None) -> list[dict[str, Any]]:
    rows = []
    print("training step: median (IQR) per step", flush=True)
    for spec in cases.MODELS:
        if not selected(spec.name, filters):
            continue
        weights = cases.reference_weights(spec)
        fns = {n: cases.build_training(e, spec, weights=weights) for n, e in engines.items()}
        times, _ = interleave(fns, budget)
        del fns
        row = {"name": spec.name, "batch": spec.batch, **timing_row(times)}
        add_rates(row, cases.model_flops(spec, spec.batch, training=True), engines,
                  floor_gflops)
        print(report.train_line(row), flush=True)
        rows.append(row)
    return rows


def run_infer(engines: dict, budget: Budget, filters: list[str],
              floor_gflops: float | None = None) -> list[dict[str, Any]]:
    rows = []
    print("inference: images per second (eval mode, no_grad)", flush=True)
    for spec in cases.MODELS:
        if not selected(spec.name, filters):
            continue
        weights = cases.reference_weights(spec)
        fns = {n: cases.build_inference(e, spec, weights) for n, e in engines.items()}
        times, _ = interleave(fns, budget)
        del fns
        row = {"name": spec.name, "batch": spec.infer_batch, **timing_row(times)}
        for n in engines:
            row[f"images_per_s_{n}"] = spec.infer_batch / row[n]["median"]
        add_rates(row, cases.model_flops(spec, spec.infer_batch, training=False), engines,
                  floor_gflops)
        print(report.infer_line(row), flush=True)
        rows.append(row)
    return rows


def run_ops(engines: dict, budget: Budget, filters: list[str]) -> list[dict[str, Any]]:
    rows = []
    print("ops: forward + backward, median per call", flush=True)
    for spec in op_cases.OPS:
        if not selected(spec.name, filters):
            continue
        fns = {n: op_cases.build_op(e, spec) for n, e in engines.items()}
        times, parts = interleave(fns, budget)
        del fns
        row = {"name": spec.name, "op": spec.op, "shape": list(spec.shape),
               "input_grad": spec.input_grad, **timing_row(times)}
        for n in engines:
            row[n]["fwd_median"] = stats([p[0] for p in parts[n]]).median
            row[n]["bwd_median"] = stats([p[1] for p in parts[n]]).median
        if spec.op == "chain":
            length = spec.params["length"]
            row["ops"] = length
            for n in engines:
                row[f"us_per_op_{n}"] = row[n]["median"] / length * 1e6
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
        if not selected(spec.name, args.filter):
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
