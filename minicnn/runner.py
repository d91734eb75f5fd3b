"""Running an experiment with one engine (``train``) or both side by side (``compare``)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from minicnn.experiments import Experiment, Splits, load_splits

REFERENCE_MODELS = Path(__file__).resolve().parents[1] / "reference" / "models.py"


def reference_models() -> ModuleType:
    """``reference/models.py``: the course's models in PyTorch (imported from the source tree)."""
    try:
        import reference.models as module

        return module
    except ImportError:
        if not REFERENCE_MODELS.exists():
            raise ImportError(f"the PyTorch reference models are not at {REFERENCE_MODELS}: "
                              "run minicnn from its source checkout") from None
    spec = importlib.util.spec_from_file_location("reference.models", REFERENCE_MODELS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def build_model(engine: str, model: str) -> Any:
    """The course model ``model`` (a key of ``minicnn.models.MODELS``) written for ``engine``."""
    from minicnn.models import MODELS

    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
    if engine == "minicnn":
        return MODELS[model]()
    ref = reference_models()
    factories = {"logreg": ref.LogisticRegression, "cnn1": ref.CNN1, "cnn2": ref.CNN2,
                 "mlp": ref.MLP, "keras_cnn": ref.KerasCNN, "crack_cnn": ref.CrackCNN,
                 "crack_cnn_bn": lambda: ref.CrackCNN(batch_norm=True),
                 "crack_cnn_dropout": lambda: ref.CrackCNN(dropout=0.5)}
    return factories[model]()


def _optimizer_and_loss(engine: str, exp: Experiment, model: Any) -> tuple[Any, Any]:
    if engine == "minicnn":
        import minicnn.nn as nn
        import minicnn.optim as optim
    else:
        import torch.nn as nn
        import torch.optim as optim
    if exp.optimizer == "sgd":
        opt = optim.SGD(model.parameters(), lr=exp.lr, momentum=exp.momentum)
    else:
        opt = optim.Adam(model.parameters(), lr=exp.lr)
    loss = nn.CrossEntropyLoss() if exp.loss == "cross_entropy" else nn.BCEWithLogitsLoss()
    return opt, loss


def _engine(engine: str, device: str) -> Any:
    from minicnn.train import MinicnnEngine, TorchEngine

    if engine == "minicnn":
        return MinicnnEngine(device)
    if engine == "torch":
        return TorchEngine(device)
    raise ValueError(f"engine must be 'minicnn' or 'torch', got {engine!r}")


def train_engine(exp: Experiment, engine_name: str, model: Any, splits: Splits, epochs: int,
                 seed: int, device: str, progress: bool) -> dict[str, Any]:
    """Train ``model`` on ``splits`` with ``engine_name``; the history and test figures."""
    import minicnn
    from minicnn.data import DataLoader
    from minicnn.train import evaluate, fit, predict

    engine = _engine(engine_name, device)
    engine.set_seed(seed)
    minicnn.manual_seed(seed)
    if engine_name == "minicnn":
        model.to(device)
    else:
        model.to(engine.device)
    optimizer, loss_fn = _optimizer_and_loss(engine_name, exp, model)
    train = DataLoader(splits.train, exp.batch_size, shuffle=True, seed=seed)
    val = DataLoader(splits.val, 256)
    test = DataLoader(splits.test, 256)
    history = fit(model, optimizer, loss_fn, train, epochs, engine=engine, val_loader=val,
                  progress=progress, task=exp.task)
    test_loss, test_acc = evaluate(model, test, loss_fn, engine, exp.task)
    y_true, y_pred, _ = predict(model, test, engine, exp.task)
    return {"engine": engine_name, "history": history, "test_loss": test_loss,
            "test_acc": test_acc, "y_true": y_true, "y_pred": y_pred,
            "seconds": float(sum(history.to_dict()["seconds"]))}


def _write_plots(out: Path, exp: Experiment, results: list[dict[str, Any]]) -> list[str]:
    from minicnn.train import confusion_matrix, plot_confusion_matrix, plot_learning_curves

    files = []
    classes = 2 if exp.task == "binary" else 10
    for r in results:
        name = r["engine"]
        plot_learning_curves(r["history"], out / f"curves_{name}.png",
                             title=f"{exp.name} ({name})")
        cm = confusion_matrix(r["y_true"], r["y_pred"], num_classes=classes)
        plot_confusion_matrix(cm, out / f"confusion_{name}.png", title=f"{exp.name} ({name})")
        files += [f"curves_{name}.png", f"confusion_{name}.png"]
    return files


def run_train(exp: Experiment, engine: str = "minicnn", epochs: int | None = None,
              data_dir: str | None = None, out: str | None = None, seed: int = 0,
              device: str = "cpu", limit: int | None = None, progress: bool = True) -> dict:
    """Train the experiment's model with one engine; print and save the history."""
    splits = load_splits(exp, data_dir, seed, limit)
    print(f"data: {splits.source}")
    import minicnn

    minicnn.manual_seed(seed)
    if engine == "torch":
        import torch

        torch.manual_seed(seed)
    model = build_model(engine, exp.model)
    result = train_engine(exp, engine, model, splits, epochs or exp.epochs, seed, device,
                          progress)
    print(f"{exp.name} [{engine}] test loss {result['test_loss']:.4f} "
          f"test accuracy {100 * result['test_acc']:.2f} % ({result['seconds']:.1f} s)")
    if out:
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        report = {"experiment": exp.as_dict(), "data": splits.source, "seed": seed,
                  "engine": engine, "history": result["history"].to_dict(),
                  "test_loss": result["test_loss"], "test_acc": result["test_acc"]}
        (path / "report.json").write_text(json.dumps(report, indent=2))
        _write_plots(path, exp, [result])
    return result


def _table(results: list[dict[str, Any]]) -> list[str]:
    """The side-by-side per-epoch table, one line per epoch."""
    t, m = (r["history"].to_dict() for r in results)
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


def compare_once(exp: Experiment, splits: Splits, epochs: int, seed: int, device: str,
                 progress: bool) -> dict[str, Any]:
    """Train both engines from the same initial weights (PyTorch's, copied into minicnn) on the
    same batches in the same order; return both results and the comparison figures."""
    import torch

    import minicnn

    torch.manual_seed(seed)
    t_model = build_model("torch", exp.model)
    mc_model = build_model("minicnn", exp.model)
    mc_model.load_state_dict({k: v.detach().cpu().numpy()
                              for k, v in t_model.state_dict().items()})
    minicnn.manual_seed(seed)
    t_res = train_engine(exp, "torch", t_model, splits, epochs, seed, device, progress)
    m_res = train_engine(exp, "minicnn", mc_model, splits, epochs, seed, device, progress)
    t, m = t_res["history"].to_dict(), m_res["history"].to_dict()
    return {
        "seed": seed, "torch": t_res, "minicnn": m_res,
        "max_train_loss_diff": float(np.max(np.abs(np.subtract(t["loss"], m["loss"])))),
        "max_val_loss_diff": float(np.max(np.abs(np.subtract(t["val_loss"], m["val_loss"])))),
        "time_ratio": m_res["seconds"] / max(t_res["seconds"], 1e-12),
    }


def run_compare(exp: Experiment, epochs: int | None = None, data_dir: str | None = None,
                out: str | None = None, seed: int = 0, seeds: int = 1, device: str = "cpu",
                limit: int | None = None, progress: bool = True) -> dict[str, Any]:
    """``compare``: both engines side by side, for ``seeds`` seeds (seed, seed+1, ...).

    Prints the per-epoch table of the first seed, each seed's test accuracies, their mean and
    spread, the time ratio and the largest loss differences; writes ``report.json``,
    ``report.md`` and the plots into ``out``.
    """
    epochs = epochs or exp.epochs
    splits = load_splits(exp, data_dir, seed, limit)
    print(f"data: {splits.source}")
    print(f"{exp.name}: {exp.description}; {exp.optimizer} lr {exp.lr}, batch "
          f"{exp.batch_size}, {epochs} epochs")
    runs = []
    for s in range(seed, seed + seeds):
        run = compare_once(exp, splits, epochs, s, device, progress)
        runs.append(run)
        if s == seed:
            print("\n".join(_table([run["torch"], run["minicnn"]])))
        print(f"seed {s}: test accuracy torch {100 * run['torch']['test_acc']:.2f} %, "
              f"minicnn {100 * run['minicnn']['test_acc']:.2f} %; time ratio minicnn/torch "
              f"{run['time_ratio']:.2f}; largest train-loss difference "
              f"{run['max_train_loss_diff']:.2e}")
    acc = {e: np.array([r[e]["test_acc"] for r in runs]) for e in ("torch", "minicnn")}
    summary = {
        "experiment": exp.as_dict(), "epochs": epochs, "data": splits.source, "device": device,
        "seeds": list(range(seed, seed + seeds)),
        "test_acc": {e: acc[e].tolist() for e in acc},
        "test_acc_mean": {e: float(acc[e].mean()) for e in acc},
        "test_acc_std": {e: float(acc[e].std()) for e in acc},
        "time_ratio": [r["time_ratio"] for r in runs],
        "max_train_loss_diff": max(r["max_train_loss_diff"] for r in runs),
        "max_val_loss_diff": max(r["max_val_loss_diff"] for r in runs),
        "runs": [{"seed": r["seed"],
                  **{e: {"history": r[e]["history"].to_dict(), "test_loss": r[e]["test_loss"],
                         "test_acc": r[e]["test_acc"], "seconds": r[e]["seconds"]}
                     for e in ("torch", "minicnn")}} for r in runs],
    }
    gap = 100 * (summary["test_acc_mean"]["minicnn"] - summary["test_acc_mean"]["torch"])
    print(f"mean test accuracy over {seeds} seed(s): torch "
          f"{100 * summary['test_acc_mean']['torch']:.2f} ± "
          f"{100 * summary['test_acc_std']['torch']:.2f} %, minicnn "
          f"{100 * summary['test_acc_mean']['minicnn']:.2f} ± "
          f"{100 * summary['test_acc_std']['minicnn']:.2f} % (difference {gap:+.2f} points)")
    if out:
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        (path / "report.json").write_text(json.dumps(summary, indent=2))
        plots = _write_plots(path, exp, [runs[0]["torch"], runs[0]["minicnn"]])
        (path / "report.md").write_text(_markdown(exp, summary, runs[0], plots))
        print(f"wrote {path / 'report.json'}, {path / 'report.md'} and {len(plots)} plots")
    return summary


def _markdown(exp: Experiment, summary: dict, first: dict, plots: list[str]) -> str:
    m, s = summary["test_acc_mean"], summary["test_acc_std"]
    lines = [f"# {exp.name}: minicnn vs PyTorch", "",
             f"{exp.description}; {exp.optimizer} lr {exp.lr}, batch {exp.batch_size}, "
             f"{summary['epochs']} epochs, device {summary['device']}.", "",
             f"Data: {summary['data']}", "", "```", *_table([first["torch"], first["minicnn"]]),
             "```", "",
             "| engine | test accuracy (mean ± std over seeds) | seeds |", "|---|---|---|",
             f"| torch | {100 * m['torch']:.2f} ± {100 * s['torch']:.2f} % | "
             f"{len(summary['seeds'])} |",
             f"| minicnn | {100 * m['minicnn']:.2f} ± {100 * s['minicnn']:.2f} % | "
             f"{len(summary['seeds'])} |", "",
             f"Time ratio minicnn / torch: {', '.join(f'{r:.2f}' for r in summary['time_ratio'])}."
             f" Largest per-epoch train-loss difference: {summary['max_train_loss_diff']:.2e}.",
             "", *[f"![{p}]({p})" for p in plots], ""]
    return "\n".join(lines)
