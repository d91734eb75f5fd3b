"""The human-readable side of a run's record: the per-epoch table and ``report.md``."""
from __future__ import annotations

import datetime
import os
import platform
import sys
from typing import Any

from minicnn.experiments import Experiment


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def start_conditions() -> dict[str, Any]:
    """When and under what load a run starts: date, 1-minute load average, CPUs."""
    return {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "load_before": _load(), "cpus": os.cpu_count()}


def end_conditions(conditions: dict[str, Any]) -> dict[str, Any]:
    """``conditions`` with the load average now (``load_after``) and the versions used."""
    import numpy

    import minicnn

    versions = {"python": platform.python_version(), "minicnn": minicnn.__version__,
                "numpy": numpy.__version__}
    torch = sys.modules.get("torch")  # imported when the run used it
    if torch is not None:
        versions["torch"] = torch.__version__
    return {**conditions, "load_after": _load(), "versions": versions}


def _conditions_line(report: dict[str, Any]) -> str:
    c = report.get("conditions") or {}
    return (f"Run {c.get('date', '?')} on {c.get('cpus', '?')} CPUs, load average "
            f"{c.get('load_before', '?')} before and {c.get('load_after', '?')} after "
            f"(timings are only comparable between quiet runs).")


def epoch_table(torch_result: dict[str, Any], minicnn_result: dict[str, Any]) -> list[str]:
    """The side-by-side per-epoch table of both engines, one line per epoch."""
    t, m = (r["history"].to_dict() for r in (torch_result, minicnn_result))
    head = (f"{'epoch':>5} | {'loss torch':>10} {'loss mc':>10} | {'val loss t':>10} "
            f"{'val loss mc':>11} | {'val acc t':>9} {'val acc mc':>10} | {'s torch':>7} "
            f"{'s mc':>7}")
    lines = [head, "-" * len(head)]
    for i in range(len(t["loss"])):
        lines.append(
            f"{i + 1:>5} | {t['loss'][i]:>10.5f} {m['loss'][i]:>10.5f} | "
            f"{t['val_loss'][i]:>10.5f} {m['val_loss'][i]:>11.5f} | "
            f"{100 * t['val_acc'][i]:>8.2f}% {100 * m['val_acc'][i]:>9.2f}% | "
            f"{t['seconds'][i]:>7.2f} {m['seconds'][i]:>7.2f}")
    return lines


def _history_table(history: dict[str, list]) -> list[str]:
    lines = ["| epoch | loss | accuracy | val loss | val accuracy | seconds |",
             "|---|---|---|---|---|---|"]
    for i in range(len(history["loss"])):
        val_loss, val_acc = history["val_loss"][i], history["val_acc"][i]
        lines.append(f"| {i + 1} | {history['loss'][i]:.5f} | {100 * history['acc'][i]:.2f} % "
                     f"| {'-' if val_loss is None else f'{val_loss:.5f}'} "
                     f"| {'-' if val_acc is None else f'{100 * val_acc:.2f} %'} "
                     f"| {history['seconds'][i]:.1f} |")
    return lines


def _settings(exp: Experiment, epochs: int, device: str, limit: int | None) -> str:
    cap = f", at most {limit} images per split" if limit else ""
    return (f"{exp.description}; {exp.optimizer} lr {exp.lr}, batch {exp.batch_size}, "
            f"{epochs} epochs, {exp.loss} loss, device {device}{cap}.")


def _data(report: dict[str, Any]) -> list[str]:
    lines = [f"Data: {report['data']}", ""]
    lines += [f"**Notice:** {n}" for n in report.get("notices", [])]
    return lines + ([""] if report.get("notices") else [])


def train_markdown(exp: Experiment, report: dict[str, Any], plots: list[str]) -> str:
    """``report.md`` of a ``train`` run."""
    lines = [f"# {exp.name}: {report['engine']}", "",
             _settings(exp, report["epochs"], report["device"], report["limit"]), "",
             *_data(report), *_history_table(report["history"]), "",
             f"Test loss {report['test_loss']:.4f}, test accuracy "
             f"{100 * report['test_acc']:.2f} %, {report['seconds']:.1f} s of training "
             f"(seed {report['seed']}).", "", _conditions_line(report), "",
             *[f"![{p}]({p})" for p in plots], ""]
    return "\n".join(lines)


def compare_markdown(exp: Experiment, summary: dict[str, Any], first: dict[str, Any],
                     plots: list[str]) -> str:
    """``report.md`` of a ``compare`` run (the table of the first seed)."""
    m, s = summary["test_acc_mean"], summary["test_acc_std"]
    n = len(summary["seeds"])
    done = "" if n == summary["seeds_asked"] else f" ({n} of {summary['seeds_asked']} finished)"
    lines = [f"# {exp.name}: minicnn vs PyTorch", "",
             _settings(exp, summary["epochs"], summary["device"], summary["limit"]), "",
             *_data(summary), f"Seed {first['seed']}, epoch by epoch:", "", "```",
             *epoch_table(first["torch"], first["minicnn"]), "```", "",
             "| engine | test accuracy (mean ± std over seeds) | seeds |", "|---|---|---|",
             f"| torch | {100 * m['torch']:.2f} ± {100 * s['torch']:.2f} % | {n}{done} |",
             f"| minicnn | {100 * m['minicnn']:.2f} ± {100 * s['minicnn']:.2f} % | {n}{done} |",
             "",
             f"Time ratio minicnn / torch: {', '.join(f'{r:.2f}' for r in summary['time_ratio'])}."
             f" Largest per-epoch train-loss difference: {summary['max_train_loss_diff']:.2e}.",
             "", _conditions_line(summary), "", *[f"![{p}]({p})" for p in plots], ""]
    return "\n".join(lines)
