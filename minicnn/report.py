"""The human-readable side of a run's record: the per-epoch table, the pictures (learning
curves, confusion matrices, reconstructions), the classification report and ``report.md``."""
from __future__ import annotations

import datetime
import os
import platform
import sys
from typing import Any

import numpy as np

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


def format_metric(exp: Experiment, value: float, spread: float | None = None) -> str:
    """A test metric as reports print it: an accuracy in percent (``84.27 %``, ``84.27 ±
    0.24 %``), an MSE as a number (``0.01234``, ``0.01234 ± 0.00010``)."""
    if exp.task == "regression":
        return f"{value:.5f}" + ("" if spread is None else f" ± {spread:.5f}")
    return f"{100 * value:.2f}" + ("" if spread is None else f" ± {100 * spread:.2f}") + " %"


def format_difference(exp: Experiment, diff: float) -> str:
    """minicnn's metric less PyTorch's: in points of accuracy, or as an MSE difference."""
    return f"{diff:+.2e}" if exp.task == "regression" else f"{100 * diff:+.2f} points"


def _cell(values: list, i: int, spec: str, scale: float = 1.0, unit: str = "") -> str:
    """``values[i]`` formatted, or ``-`` when the run has no such epoch or value."""
    if i >= len(values) or values[i] is None:
        return "-"
    return f"{scale * values[i]:{spec}}{unit}"


def _varies(*histories: dict[str, list]) -> bool:
    """True when the learning rate changed during a run (so the tables show it)."""
    return any(len({v for v in h["lr"] if v is not None}) > 1 for h in histories)


def epoch_table(torch_result: dict[str, Any], minicnn_result: dict[str, Any]) -> list[str]:
    """The side-by-side per-epoch table of both engines, one line per epoch: losses,
    validation losses, validation accuracies (classifiers), learning rates (when they
    changed), seconds; ``-`` where a run had stopped early."""
    t, m = (r["history"].to_dict() for r in (torch_result, minicnn_result))
    with_acc = any(v is not None for v in t["val_acc"] + m["val_acc"])
    with_lr = _varies(t, m)
    head = (f"{'epoch':>5} | {'loss torch':>10} {'loss mc':>10} | {'val loss t':>10} "
            f"{'val loss mc':>11}")
    if with_acc:
        head += f" | {'val acc t':>9} {'val acc mc':>10}"
    if with_lr:
        head += f" | {'lr torch':>9} {'lr mc':>9}"
    head += f" | {'s torch':>7} {'s mc':>7}"
    lines = [head, "-" * len(head)]
    for i in range(max(len(t["loss"]), len(m["loss"]))):
        line = (f"{i + 1:>5} | {_cell(t['loss'], i, '>10.5f')} {_cell(m['loss'], i, '>10.5f')} "
                f"| {_cell(t['val_loss'], i, '>10.5f')} {_cell(m['val_loss'], i, '>11.5f')}")
        if with_acc:
            line += (f" | {_cell(t['val_acc'], i, '>8.2f', 100, '%')} "
                     f"{_cell(m['val_acc'], i, '>9.2f', 100, '%')}")
        if with_lr:
            line += f" | {_cell(t['lr'], i, '>9.3g')} {_cell(m['lr'], i, '>9.3g')}"
        line += f" | {_cell(t['seconds'], i, '>7.2f')} {_cell(m['seconds'], i, '>7.2f')}"
        lines.append(line)
    return lines


def _history_table(history: dict[str, list]) -> list[str]:
    with_acc = any(v is not None for v in history["acc"])
    with_lr = _varies(history)
    columns = ["epoch", "loss", *(["accuracy"] if with_acc else []), "val loss",
               *(["val accuracy"] if with_acc else []), *(["lr"] if with_lr else []), "seconds"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for i in range(len(history["loss"])):
        cells = [str(i + 1), _cell(history["loss"], i, ".5f")]
        if with_acc:
            cells.append(_cell(history["acc"], i, ".2f", 100, " %"))
        cells.append(_cell(history["val_loss"], i, ".5f"))
        if with_acc:
            cells.append(_cell(history["val_acc"], i, ".2f", 100, " %"))
        if with_lr:
            cells.append(_cell(history["lr"], i, ".3g"))
        cells.append(_cell(history["seconds"], i, ".1f"))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _settings(exp: Experiment, epochs: int, device: str, limit: int | None) -> str:
    cap = f", at most {limit} images per split" if limit else ""
    callbacks = "".join(f"; {c}" for c in exp.callbacks_text)
    scaled = "pixels in [0, 1]" if exp.scaling == "unit" else "pixels normalised (mean, std)"
    scaled = "" if exp.dataset == "cracks" else f", {scaled}"
    return (f"{exp.description}; {exp.optimizer} lr {exp.lr}, batch {exp.batch_size}, "
            f"{epochs} epochs, {exp.loss} loss{scaled}, device {device}{cap}{callbacks}.")


def _early_stop_line(engine: str, info: dict[str, Any] | None) -> list[str]:
    """What early stopping did in one run (nothing without it)."""
    if not info:
        return []
    stopped = (f"stopped after epoch {info['stopped_epoch'] + 1}"
               if info["stopped_epoch"] is not None else "did not stop the run")
    best = "" if info["best_epoch"] is None else (
        f"; best validation value {info['best']:.5f} after epoch {info['best_epoch'] + 1}"
        + (", whose weights were restored" if info["restored"] else ""))
    return [f"Early stopping ({engine}): {stopped}{best}.", ""]


def _data(report: dict[str, Any]) -> list[str]:
    lines = [f"Data: {report['data']}", ""]
    lines += [f"**Notice:** {n}" for n in report.get("notices", [])]
    return lines + ([""] if report.get("notices") else [])


def write_plots(run: Any, exp: Experiment, results: list[dict[str, Any]],
                originals: np.ndarray) -> tuple[list[str], list[str]]:
    """Write the run's pictures into ``run`` (a ``RunDir``): the learning curves of every
    engine on one figure; per engine, a confusion matrix with the class names (classifiers)
    or the test images ``originals`` above their reconstructions (regression). Returns the
    file names and the markdown sections to add to the report (each classifier's
    classification report)."""
    from minicnn.train import (
        classification_report,
        confusion_matrix,
        plot_confusion_matrix,
        plot_learning_curves,
        plot_reconstructions,
    )

    names = [r["engine"] for r in results]
    seed = results[0]["seed"]
    plot_learning_curves({r["engine"]: r["history"] for r in results}, run.file("curves.png"),
                         title=f"{exp.name} (seed {seed}): {' vs '.join(names)}")
    files, sections = ["curves.png"], []
    for r in results:
        title = f"{exp.name} ({r['engine']}, seed {r['seed']})"
        if exp.task == "regression":
            name = f"reconstructions-{r['engine']}.png"
            plot_reconstructions(originals, r["reconstructions"], run.file(name),
                                 title=f"{title}: test images above their reconstructions")
        else:
            name = f"confusion-{r['engine']}.png"
            cm = confusion_matrix(r["y_true"], r["y_pred"], num_classes=len(exp.classes))
            plot_confusion_matrix(cm, run.file(name), class_names=exp.classes, title=title)
            text = classification_report(r["y_true"], r["y_pred"], target_names=exp.classes)
            sections += [f"Classification report, {r['engine']} (seed {r['seed']}, test set):",
                         "", "```", text.rstrip(), "```", ""]
        files.append(name)
    return files, sections


def train_markdown(exp: Experiment, report: dict[str, Any], plots: list[str],
                   sections: list[str] = ()) -> str:
    """``report.md`` of a ``train`` run."""
    key = exp.result_key
    lines = [f"# {exp.name}: {report['engine']}", "",
             _settings(exp, report["epochs"], report["device"], report["limit"]), "",
             *_data(report), *_history_table(report["history"]), "",
             *_early_stop_line(report["engine"], report.get("early_stopping")),
             f"Test loss {report['test_loss']:.4f}, test {exp.metric_label} "
             f"{format_metric(exp, report[key])}, {report['seconds']:.1f} s of training "
             f"(seed {report['seed']}).", "", *sections, _conditions_line(report), "",
             *[f"![{p}]({p})" for p in plots], ""]
    return "\n".join(lines)


def compare_markdown(exp: Experiment, summary: dict[str, Any], first: dict[str, Any],
                     plots: list[str], sections: list[str] = ()) -> str:
    """``report.md`` of a ``compare`` run (the table of the first seed)."""
    key = exp.result_key
    m, s = summary[f"{key}_mean"], summary[f"{key}_std"]
    n = len(summary["seeds"])
    done = "" if n == summary["seeds_asked"] else f" ({n} of {summary['seeds_asked']} finished)"
    stops = [line for e in ("torch", "minicnn")
             for line in _early_stop_line(e, first[e].get("early_stopping"))]
    lines = [f"# {exp.name}: minicnn vs PyTorch", "",
             _settings(exp, summary["epochs"], summary["device"], summary["limit"]), "",
             *_data(summary), f"Seed {first['seed']}, epoch by epoch:", "", "```",
             *epoch_table(first["torch"], first["minicnn"]), "```", "", *stops,
             f"| engine | test {exp.metric_label} (mean ± std over seeds) | seeds |",
             "|---|---|---|",
             f"| torch | {format_metric(exp, m['torch'], s['torch'])} | {n}{done} |",
             f"| minicnn | {format_metric(exp, m['minicnn'], s['minicnn'])} | {n}{done} |",
             "",
             f"Time ratio minicnn / torch: {', '.join(f'{r:.2f}' for r in summary['time_ratio'])}."
             f" Largest per-epoch train-loss difference: {summary['max_train_loss_diff']:.2e}.",
             "", *sections, _conditions_line(summary), "", *[f"![{p}]({p})" for p in plots], ""]
    return "\n".join(lines)
