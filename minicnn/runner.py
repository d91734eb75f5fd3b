"""Running an experiment with one engine (``train``) or both side by side (``compare``), each
run recorded in its folder (``minicnn.rundir``): per-epoch checkpoints, results, weights and
reports, resumable after a kill or Ctrl-C."""
from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from minicnn.experiments import Experiment, Splits, load_splits
from minicnn.rundir import RunDir
from minicnn.train.history import History


def reference_models() -> ModuleType:
    """The course's models in PyTorch: ``minicnn.reference.models`` as installed, or, in a
    source checkout used without installing, the top-level ``reference.models`` beside it."""
    try:
        from minicnn.reference import models
    except ModuleNotFoundError as exc:
        if exc.name not in ("minicnn.reference", "minicnn.reference.models"):
            raise  # e.g. torch itself is missing
        from reference import models
    return models


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


def optimizer_and_loss(engine: Any, exp: Experiment, model: Any) -> tuple[Any, Any]:
    """The experiment's optimiser over ``model``'s parameters and its loss module, in the
    engine's framework (the same names in both)."""
    if exp.optimizer == "sgd":
        opt = engine.optim.SGD(model.parameters(), lr=exp.lr, momentum=exp.momentum)
    else:
        opt = engine.optim.Adam(model.parameters(), lr=exp.lr)
    return opt, getattr(engine.nn, exp.loss_class)()


class _Checkpoint:
    """A fit callback: a checkpoint of the run after every epoch, noted in ``run.saved``."""

    def __init__(self, run: RunDir, engine: str, seed: int, epochs: int) -> None:
        from minicnn.train import ModelCheckpoint

        self.run, self.engine, self.seed, self.epochs = run, engine, seed, epochs
        self.inner = ModelCheckpoint(run.checkpoint_path(engine, seed), save_best_only=False,
                                     meta={"seed": seed})

    def on_train_begin(self, state: Any) -> None:
        self.inner.on_train_begin(state)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.inner.on_epoch_end(epoch, logs)
        self.run.saved = (f"{self.engine} seed {self.seed} after epoch {epoch + 1} of "
                          f"{self.epochs}")


_WARM: set[tuple[str, str, str]] = set()


def warm_up(exp: Experiment, engine: Any, splits: Splits) -> None:
    """One training step and one evaluation of a throwaway copy of the model on a full batch,
    once per (engine, model, device) in a process, so that one-time costs (loading or compiling
    Numba kernels, PyTorch's first-call set-up) stay out of the timed epochs. The caller seeds
    the generators afterwards, so the run itself does not change."""
    from minicnn.data import DataLoader
    from minicnn.train.loop import evaluate, train_step

    key = (engine.name, exp.model, str(engine.device))
    if key in _WARM:
        return
    model = engine.to_device(build_model(engine.name, exp.model))
    optimizer, loss_fn = optimizer_and_loss(engine, exp, model)
    x, y = next(iter(DataLoader(splits.train, exp.batch_size)))
    model.train()
    train_step(model, optimizer, loss_fn, x, y, engine=engine, task=exp.task)
    evaluate(model, [(x, y)], loss_fn, engine, exp.task)
    _WARM.add(key)


def train_engine(exp: Experiment, engine_name: str, model: Any, splits: Splits, epochs: int,
                 seed: int, device: str, progress: bool, run: RunDir | None = None
                 ) -> dict[str, Any]:
    """Train ``model`` on ``splits`` with ``engine_name``; the history and test figures.

    With ``run``: a finished (engine, seed) is read back, not trained again; otherwise the
    training resumes from its checkpoint when there is one, saves one after every epoch and,
    once finished, stores the result and the final weights.
    """
    import minicnn
    from minicnn.data import DataLoader
    from minicnn.train import evaluate, fit, get_engine, predict, resume

    if exp.task not in ("multiclass", "binary"):
        raise ValueError(f"experiment {exp.name}: the fit loop trains classifiers "
                         f"('multiclass', 'binary'), not {exp.task!r}")
    if run is not None and (done := run.load_result(engine_name, seed)) is not None:
        done["history"] = History.from_dict(done["history"])
        return done
    engine = get_engine(engine_name, device)
    warm_up(exp, engine, splits)
    engine.set_seed(seed)
    minicnn.manual_seed(seed)
    engine.to_device(model)
    optimizer, loss_fn = optimizer_and_loss(engine, exp, model)
    train = DataLoader(splits.train, exp.batch_size, shuffle=True, seed=seed)
    val = DataLoader(splits.val, 256)
    test = DataLoader(splits.test, 256)
    start, history, callbacks = 0, None, []
    if run is not None:
        checkpoint = run.checkpoint_path(engine_name, seed)
        if checkpoint.is_file():
            ck = resume(checkpoint, model, optimizer, engine, train_loader=train)
            start, history = ck.epoch, ck.history
        callbacks.append(_Checkpoint(run, engine_name, seed, epochs))
    history = fit(model, optimizer, loss_fn, train, epochs, engine=engine, val_loader=val,
                  callbacks=callbacks, start_epoch=start, history=history, progress=progress,
                  task=exp.task)
    test_loss, test_acc = evaluate(model, test, loss_fn, engine, exp.task)
    y_true, y_pred, _ = predict(model, test, engine, exp.task)
    result = {"engine": engine_name, "seed": seed, "history": history, "test_loss": test_loss,
              "test_acc": test_acc, "y_true": y_true, "y_pred": y_pred,
              "seconds": float(sum(history.to_dict()["seconds"]))}
    if run is not None:
        run.save_result(engine_name, seed, result, engine.state_arrays(model))
    return result


def _write_plots(run: RunDir, exp: Experiment, results: list[dict[str, Any]]) -> list[str]:
    """Learning curves of every engine on one figure, and a confusion matrix per engine."""
    from minicnn.train import confusion_matrix, plot_confusion_matrix, plot_learning_curves

    names = [r["engine"] for r in results]
    plot_learning_curves({r["engine"]: r["history"] for r in results}, run.file("curves.png"),
                         title=f"{exp.name} (seed {results[0]['seed']}): {' vs '.join(names)}")
    files = ["curves.png"]
    for r in results:
        cm = confusion_matrix(r["y_true"], r["y_pred"], num_classes=len(exp.classes))
        name = f"confusion-{r['engine']}.png"
        plot_confusion_matrix(cm, run.file(name), class_names=exp.classes,
                              title=f"{exp.name} ({r['engine']}, seed {r['seed']})")
        files.append(name)
    return files


def _data_lines(splits: Splits) -> None:
    print(f"data: {splits.source}")
    for notice in splits.notices:
        print(f"notice: {notice}")


def run_train(exp: Experiment, engine: str = "minicnn", epochs: int | None = None,
              data_dir: str | None = None, out: str | Path | None = None, seed: int = 0,
              device: str = "cpu", limit: int | None = None, progress: bool = True,
              resume: bool = False, download: bool = True) -> dict[str, Any]:
    """Train the experiment's model with one engine; print the result and record the run in
    ``out`` (see ``minicnn.rundir``; ``resume`` continues a run interrupted there)."""
    from minicnn.report import end_conditions, start_conditions, train_markdown

    epochs = epochs or exp.epochs
    conditions = start_conditions()
    run = None
    if out is not None:
        run = RunDir(out, {"command": "train", "experiment": exp.name, "engine": engine,
                           "epochs": epochs, "seed": seed, "limit": limit, "data": data_dir,
                           "device": device}, resume)
    splits = load_splits(exp, data_dir, seed, limit, download)
    _data_lines(splits)
    import minicnn

    minicnn.manual_seed(seed)
    if engine == "torch":
        import torch

        torch.manual_seed(seed)
    model = build_model(engine, exp.model)
    result = train_engine(exp, engine, model, splits, epochs, seed, device, progress, run)
    print(f"{exp.name} [{engine}] test loss {result['test_loss']:.4f} "
          f"test accuracy {100 * result['test_acc']:.2f} % ({result['seconds']:.1f} s)")
    if run is not None:
        report = {"experiment": exp.as_dict(), "engine": engine, "epochs": epochs,
                  "seed": seed, "limit": limit, "device": device, "data": splits.source,
                  "notices": list(splits.notices), "history": result["history"].to_dict(),
                  "test_loss": result["test_loss"], "test_acc": result["test_acc"],
                  "seconds": result["seconds"], "conditions": end_conditions(conditions)}
        files = _write_plots(run, exp, [result])
        run.write_json("report.json", report)
        run.write_text("report.md", train_markdown(exp, report, files))
        print(f"run recorded in {run.path}/: report.json, report.md, {', '.join(files)}, "
              f"{run.weights_path(engine, seed).name}")
    return result


def compare_once(exp: Experiment, splits: Splits, epochs: int, seed: int, device: str,
                 progress: bool, run: RunDir | None = None) -> dict[str, Any]:
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
    t_res = train_engine(exp, "torch", t_model, splits, epochs, seed, device, progress, run)
    m_res = train_engine(exp, "minicnn", mc_model, splits, epochs, seed, device, progress, run)
    t, m = t_res["history"].to_dict(), m_res["history"].to_dict()
    return {
        "seed": seed, "torch": t_res, "minicnn": m_res,
        "max_train_loss_diff": float(np.max(np.abs(np.subtract(t["loss"], m["loss"])))),
        "max_val_loss_diff": float(np.max(np.abs(np.subtract(t["val_loss"], m["val_loss"])))),
        "time_ratio": m_res["seconds"] / max(t_res["seconds"], 1e-12),
    }


def compare_summary(exp: Experiment, epochs: int, splits: Splits, device: str, limit: int | None,
                    runs: list[dict[str, Any]], seeds: int) -> dict[str, Any]:
    """The report of the finished seeds ``runs`` (of ``seeds`` asked for)."""
    acc = {e: np.array([r[e]["test_acc"] for r in runs]) for e in ("torch", "minicnn")}
    return {
        "experiment": exp.as_dict(), "epochs": epochs, "data": splits.source,
        "notices": list(splits.notices), "device": device, "limit": limit,
        "seeds": [r["seed"] for r in runs], "seeds_asked": seeds,
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


def run_compare(exp: Experiment, epochs: int | None = None, data_dir: str | None = None,
                out: str | Path | None = None, seed: int = 0, seeds: int = 1,
                device: str = "cpu", limit: int | None = None, progress: bool = True,
                resume: bool = False, download: bool = True) -> dict[str, Any]:
    """``compare``: both engines side by side, for ``seeds`` seeds (seed, seed+1, ...).

    Prints the per-epoch table of the first seed, each seed's test accuracies, their mean and
    spread, the time ratio and the largest loss differences; records the run in ``out``
    (report rewritten after each seed, so the finished seeds are kept; ``resume`` continues).
    """
    from minicnn.report import compare_markdown, end_conditions, epoch_table, start_conditions

    epochs = epochs or exp.epochs
    conditions = start_conditions()
    run = None
    if out is not None:
        run = RunDir(out, {"command": "compare", "experiment": exp.name, "epochs": epochs,
                           "seed": seed, "seeds": seeds, "limit": limit, "data": data_dir,
                           "device": device}, resume)
    splits = load_splits(exp, data_dir, seed, limit, download)
    _data_lines(splits)
    print(f"{exp.name}: {exp.description}; {exp.optimizer} lr {exp.lr}, batch "
          f"{exp.batch_size}, {epochs} epochs")
    runs: list[dict[str, Any]] = []
    plots: list[str] = []
    summary: dict[str, Any] = {}
    for s in range(seed, seed + seeds):
        one = compare_once(exp, splits, epochs, s, device, progress, run)
        runs.append(one)
        if s == seed:
            print("\n".join(epoch_table(one["torch"], one["minicnn"])))
        print(f"seed {s}: test accuracy torch {100 * one['torch']['test_acc']:.2f} %, "
              f"minicnn {100 * one['minicnn']['test_acc']:.2f} %; time ratio minicnn/torch "
              f"{one['time_ratio']:.2f}; largest train-loss difference "
              f"{one['max_train_loss_diff']:.2e}")
        summary = compare_summary(exp, epochs, splits, device, limit, runs, seeds)
        summary["conditions"] = end_conditions(conditions)
        if run is not None:
            if s == seed:
                plots = _write_plots(run, exp, [one["torch"], one["minicnn"]])
            run.write_json("report.json", summary)
            run.write_text("report.md", compare_markdown(exp, summary, runs[0], plots))
    m, sd = summary["test_acc_mean"], summary["test_acc_std"]
    print(f"mean test accuracy over {seeds} seed(s): torch {100 * m['torch']:.2f} ± "
          f"{100 * sd['torch']:.2f} %, minicnn {100 * m['minicnn']:.2f} ± "
          f"{100 * sd['minicnn']:.2f} % (difference "
          f"{100 * (m['minicnn'] - m['torch']):+.2f} points)")
    if run is not None:
        print(f"run recorded in {run.path}/: report.json, report.md, {', '.join(plots)}, "
              f"weights-*.npz")
    return summary
