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
                 "crack_cnn_dropout": lambda: ref.CrackCNN(dropout=0.5),
                 "cifar_cnn": ref.CifarCNN, "lstm_net": ref.LSTMNet,
                 "autoencoder": ref.DenseAutoencoder,
                 "autoencoder_784": lambda: ref.DenseAutoencoder(in_features=784)}
    return factories[model]()


def optimizer_and_loss(engine: Any, exp: Experiment, model: Any) -> tuple[Any, Any]:
    """The experiment's optimiser over ``model``'s parameters and its loss module, in the
    engine's framework (the same names in both)."""
    if exp.optimizer == "sgd":
        opt = engine.optim.SGD(model.parameters(), lr=exp.lr, momentum=exp.momentum)
    else:
        opt = engine.optim.Adam(model.parameters(), lr=exp.lr)
    return opt, getattr(engine.nn, exp.loss_class)()


def build_callbacks(exp: Experiment, engine: Any, optimizer: Any) -> list[Any]:
    """The experiment's callbacks for ``engine``, in Keras' order: ``EarlyStopping``, then
    ``ReduceLROnPlateau`` (the engine's own scheduler: ``torch.optim.lr_scheduler`` for
    PyTorch, ``minicnn.optim.lr_scheduler`` for minicnn) stepped on the monitored value."""
    from minicnn.train import EarlyStopping, LRSchedulerCallback

    callbacks: list[Any] = []
    if exp.early_stopping is not None:
        es = exp.early_stopping
        callbacks.append(EarlyStopping(monitor=es.monitor, patience=es.patience,
                                       mode=_mode(es.monitor), min_delta=es.min_delta,
                                       restore_best=es.restore_best_weights))
    if exp.reduce_lr is not None:
        r = exp.reduce_lr
        scheduler = engine.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=_mode(r.monitor), factor=r.factor, patience=max(r.patience - 1, 0),
            threshold=r.min_delta, threshold_mode="abs", min_lr=r.min_lr)
        callbacks.append(LRSchedulerCallback(scheduler, monitor=r.monitor))
    return callbacks


def _mode(monitor: str) -> str:
    """Keras' 'auto' mode: an accuracy is maximised, anything else minimised."""
    return "max" if "acc" in monitor else "min"


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


SHOWN = 10  # test images shown above their reconstructions


def train_engine(exp: Experiment, engine_name: str, model: Any, splits: Splits, epochs: int,
                 seed: int, device: str, progress: bool, run: RunDir | None = None
                 ) -> dict[str, Any]:
    """Train ``model`` on ``splits`` with ``engine_name``; the history and test figures.

    The experiment's callbacks (early stopping, lr reduction) run in the engine's own terms.
    Classifiers: test loss and accuracy, labels and predictions. Regression: test loss and
    MSE, and the reconstructions of the first ``SHOWN`` test images (rounded to 1e-4, for the
    picture). With ``run``: a finished (engine, seed) is read back, not trained again;
    otherwise the training resumes from its checkpoint (callbacks and scheduler included) when
    there is one, saves one after every epoch and, once finished, stores the result and the
    final weights.
    """
    import minicnn
    from minicnn.data import DataLoader, Subset
    from minicnn.train import (
        EarlyStopping,
        LRSchedulerCallback,
        evaluate,
        fit,
        get_engine,
        predict,
        resume,
    )
    from minicnn.train.callbacks import load_callback_states

    if run is not None and (done := run.load_result(engine_name, seed)) is not None:
        done["history"] = History.from_dict(done["history"])
        return done
    engine = get_engine(engine_name, device)
    warm_up(exp, engine, splits)
    engine.set_seed(seed)
    minicnn.manual_seed(seed)
    engine.to_device(model)
    optimizer, loss_fn = optimizer_and_loss(engine, exp, model)
    callbacks = build_callbacks(exp, engine, optimizer)
    scheduler = next((cb.scheduler for cb in callbacks if isinstance(cb, LRSchedulerCallback)),
                     None)
    train = DataLoader(splits.train, exp.batch_size, shuffle=True, seed=seed)
    val = DataLoader(splits.val, 256)
    test = DataLoader(splits.test, 256)
    start, history = 0, None
    if run is not None:
        checkpoint = run.checkpoint_path(engine_name, seed)
        if checkpoint.is_file():
            ck = resume(checkpoint, model, optimizer, engine, scheduler=scheduler,
                        train_loader=train)
            load_callback_states(callbacks, ck.extra)
            start, history = ck.epoch, ck.history
        callbacks.append(_Checkpoint(run, engine_name, seed, epochs))
    history = fit(model, optimizer, loss_fn, train, epochs, engine=engine, val_loader=val,
                  callbacks=callbacks, start_epoch=start, history=history, progress=progress,
                  task=exp.task)
    test_loss, test_metric = evaluate(model, test, loss_fn, engine, exp.task)
    result = {"engine": engine_name, "seed": seed, "history": history, "test_loss": test_loss,
              exp.result_key: test_metric, "seconds": float(sum(history.to_dict()["seconds"]))}
    stop = next((cb for cb in callbacks if isinstance(cb, EarlyStopping)), None)
    if stop is not None:
        result["early_stopping"] = {"best_epoch": stop.best_epoch, "best": stop.best,
                                    "stopped_epoch": stop.stopped_epoch,
                                    "restored": bool(stop.restore_best)}
    if exp.task == "regression":
        shown = Subset(splits.test, np.arange(min(SHOWN, len(splits.test))))
        _, outputs, _ = predict(model, DataLoader(shown, SHOWN), engine, exp.task)
        result["reconstructions"] = np.round(outputs.astype(np.float64), 4)
    else:
        result["y_true"], result["y_pred"], _ = predict(model, test, engine, exp.task)
    if run is not None:
        run.save_result(engine_name, seed, result, engine.state_arrays(model))
    return result


def shown_images(splits: Splits) -> np.ndarray:
    """The first ``SHOWN`` test images, (n, C, H, W) (those ``train_engine`` reconstructs)."""
    return np.stack([splits.test[i][0] for i in range(min(SHOWN, len(splits.test)))])


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
    from minicnn.report import (
        end_conditions,
        format_metric,
        start_conditions,
        train_markdown,
        write_plots,
    )

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
    print(f"{exp.name} [{engine}] test loss {result['test_loss']:.4f} test "
          f"{exp.metric_label} {format_metric(exp, result[exp.result_key])} "
          f"({result['seconds']:.1f} s)")
    if run is not None:
        report = {"experiment": exp.as_dict(), "engine": engine, "epochs": epochs,
                  "seed": seed, "limit": limit, "device": device, "data": splits.source,
                  "notices": list(splits.notices), "history": result["history"].to_dict(),
                  "test_loss": result["test_loss"], exp.result_key: result[exp.result_key],
                  "seconds": result["seconds"], "conditions": end_conditions(conditions)}
        if "early_stopping" in result:
            report["early_stopping"] = result["early_stopping"]
        files, sections = write_plots(run, exp, [result], shown_images(splits))
        run.write_json("report.json", report)
        run.write_text("report.md", train_markdown(exp, report, files, sections))
        print(f"run recorded in {run.path}/: report.json, report.md, {', '.join(files)}, "
              f"{run.weights_path(engine, seed).name}")
    return result


def _common_diff(a: list, b: list) -> float:
    """The largest ``|a[i] - b[i]|`` over the epochs both engines ran (early stopping may end
    one run before the other)."""
    n = min(len(a), len(b))
    return float(np.max(np.abs(np.subtract(a[:n], b[:n])))) if n else float("nan")


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
        "max_train_loss_diff": _common_diff(t["loss"], m["loss"]),
        "max_val_loss_diff": _common_diff(t["val_loss"], m["val_loss"]),
        "time_ratio": m_res["seconds"] / max(t_res["seconds"], 1e-12),
    }


ENGINES = ("torch", "minicnn")


def compare_summary(exp: Experiment, epochs: int, splits: Splits, device: str, limit: int | None,
                    runs: list[dict[str, Any]], seeds: int) -> dict[str, Any]:
    """The report of the finished seeds ``runs`` (of ``seeds`` asked for): per engine, the
    test metric of each seed (``test_acc`` or ``test_mse``), its mean and spread."""
    key = exp.result_key
    values = {e: np.array([r[e][key] for r in runs]) for e in ENGINES}
    per_engine = ("history", "test_loss", key, "seconds", "early_stopping")
    return {
        "experiment": exp.as_dict(), "epochs": epochs, "data": splits.source,
        "notices": list(splits.notices), "device": device, "limit": limit,
        "seeds": [r["seed"] for r in runs], "seeds_asked": seeds,
        key: {e: values[e].tolist() for e in ENGINES},
        f"{key}_mean": {e: float(values[e].mean()) for e in ENGINES},
        f"{key}_std": {e: float(values[e].std()) for e in ENGINES},
        "time_ratio": [r["time_ratio"] for r in runs],
        "max_train_loss_diff": max(r["max_train_loss_diff"] for r in runs),
        "max_val_loss_diff": max(r["max_val_loss_diff"] for r in runs),
        "runs": [{"seed": r["seed"],
                  **{e: {k: (r[e][k].to_dict() if k == "history" else r[e][k])
                         for k in per_engine if k in r[e]} for e in ENGINES}} for r in runs],
    }


def run_compare(exp: Experiment, epochs: int | None = None, data_dir: str | None = None,
                out: str | Path | None = None, seed: int = 0, seeds: int = 1,
                device: str = "cpu", limit: int | None = None, progress: bool = True,
                resume: bool = False, download: bool = True) -> dict[str, Any]:
    """``compare``: both engines side by side, for ``seeds`` seeds (seed, seed+1, ...).

    Prints the per-epoch table of the first seed, each seed's test metric (accuracy, or MSE
    for an autoencoder), their mean and spread, the time ratio and the largest loss
    differences; records the run in ``out`` (report rewritten after each seed, so the finished
    seeds are kept; ``resume`` continues).
    """
    from minicnn.report import (
        compare_markdown,
        end_conditions,
        epoch_table,
        format_difference,
        format_metric,
        start_conditions,
        write_plots,
    )

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
    key = exp.result_key
    runs: list[dict[str, Any]] = []
    plots: list[str] = []
    sections: list[str] = []
    summary: dict[str, Any] = {}
    for s in range(seed, seed + seeds):
        one = compare_once(exp, splits, epochs, s, device, progress, run)
        runs.append(one)
        if s == seed:
            print("\n".join(epoch_table(one["torch"], one["minicnn"])))
        print(f"seed {s}: test {exp.metric_label} torch "
              f"{format_metric(exp, one['torch'][key])}, minicnn "
              f"{format_metric(exp, one['minicnn'][key])}; time ratio minicnn/torch "
              f"{one['time_ratio']:.2f}; largest train-loss difference "
              f"{one['max_train_loss_diff']:.2e}")
        summary = compare_summary(exp, epochs, splits, device, limit, runs, seeds)
        summary["conditions"] = end_conditions(conditions)
        if run is not None:
            if s == seed:
                plots, sections = write_plots(run, exp, [one["torch"], one["minicnn"]],
                                              shown_images(splits))
            run.write_json("report.json", summary)
            run.write_text("report.md", compare_markdown(exp, summary, runs[0], plots, sections))
    m, sd = summary[f"{key}_mean"], summary[f"{key}_std"]
    print(f"mean test {exp.metric_label} over {seeds} seed(s): torch "
          f"{format_metric(exp, m['torch'], sd['torch'])}, minicnn "
          f"{format_metric(exp, m['minicnn'], sd['minicnn'])} (difference "
          f"{format_difference(exp, m['minicnn'] - m['torch'])})")
    if run is not None:
        print(f"run recorded in {run.path}/: report.json, report.md, {', '.join(plots)}, "
              f"weights-*.npz")
    return summary
