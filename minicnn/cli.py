"""The ``minicnn`` command: experiments, train, compare, summary, bench."""
from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

# The optional modules and the extra of minicnn that installs each.
EXTRAS = {"torch": "torch", "torchvision": "torch", "PIL": "data", "sklearn": "data",
          "mlxtend": "data", "matplotlib": "data", "tqdm": "data", "cupy": "gpu"}
SEED_MAX = 2**32 - 1
INTERRUPTED = 130  # the exit status of a program stopped by Ctrl-C (128 + SIGINT)


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (the option is named by argparse in the error)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer (1 or more), got {text}")
    return value


def seed_int(text: str) -> int:
    """argparse type: a seed, an integer in 0 .. 2**32 - 1."""
    value = _integer(text)
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected an integer in 0..{SEED_MAX}, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """The one-line hint for an optional module that is not installed, else None."""
    top = (exc.name or "").split(".")[0]
    if top not in EXTRAS:
        return None
    return (f"minicnn: this needs {top}, which is not installed: "
            f"pip install 'minicnn[{EXTRAS[top]}]'")


@contextlib.contextmanager
def exit_on_missing_extra() -> Iterator[None]:
    """Turn a missing optional module into one line naming the extra to install."""
    try:
        yield
    except ModuleNotFoundError as exc:
        hint = missing_extra(exc)
        if hint is None:
            raise
        sys.exit(hint)


def _check_device(device: str) -> None:
    """Exit with one clear line when ``--device`` cannot be honoured: ``cuda`` without CuPy or
    without a GPU (saying which, and what to install), or an unknown device name."""
    from minicnn import backend

    try:
        backend.get_device(device)
    except (RuntimeError, ValueError) as exc:
        sys.exit(f"minicnn: {exc}")  # "device 'cuda' requested but ...", "unknown device ..."


def _device_arg(argv: Sequence[str]) -> str:
    """The value of ``--device X`` or ``--device=X`` in ``argv`` ('cpu' when absent)."""
    for i, a in enumerate(argv):
        if a == "--device" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--device="):
            return a.split("=", 1)[1]
    return "cpu"


def _experiments(_: argparse.Namespace) -> None:
    from minicnn.experiments import EXPERIMENTS

    print(f"{'experiment':<20} {'data':<8} {'model':<18} {'optimiser':<10} {'lr':>7} "
          f"{'batch':>5} {'epochs':>6}  loss")
    for e in EXPERIMENTS.values():
        print(f"{e.name:<20} {e.dataset:<8} {e.model:<18} {e.optimizer:<10} {e.lr:>7g} "
              f"{e.batch_size:>5} {e.epochs:>6}  {e.loss}")
    for e in EXPERIMENTS.values():
        if e.callbacks_text:
            print(f"callbacks of {e.name}: {', '.join(e.callbacks_text)}")


# The input size (C, H, W) of each dataset's images, and of the models trained on CIFAR-10.
INPUT_SIZES = {"cracks": (1, 227, 227), "cifar10": (3, 32, 32), "mnist": (1, 28, 28),
               "fashion": (1, 28, 28)}
CIFAR_MODELS = ("cifar_cnn", "autoencoder")


def _prepare_run(args: argparse.Namespace) -> None:
    """Checks made before any data is read or any model trained, and the run's folder."""
    from minicnn.experiments import get_experiment
    from minicnn.rundir import check_out, default_out

    args.exp = get_experiment(args.experiment)
    if args.data is not None and not Path(args.data).is_dir():
        what = "is a file, not a folder" if Path(args.data).exists() else "does not exist"
        sys.exit(f"minicnn: --data {args.data}: the folder {what}")
    if args.resume and args.out is None:
        sys.exit("minicnn: --resume needs --out DIR, the folder of the run to continue")
    if args.out is None:
        args.out = str(default_out(args.exp.name))
    check_out(args.out, args.resume)
    _check_device(args.device)
    print(f"run folder: {args.out}")


@contextlib.contextmanager
def _offline(offline: bool) -> Iterator[None]:
    """``--offline``: ``MINICNN_OFFLINE=1`` while the command runs, so that every download
    deeper down (MNIST, Fashion-MNIST, CIFAR-10) is off; restored afterwards."""
    if not offline:
        yield
        return
    before = os.environ.get("MINICNN_OFFLINE")
    os.environ["MINICNN_OFFLINE"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["MINICNN_OFFLINE"]
        else:
            os.environ["MINICNN_OFFLINE"] = before


def _resume_command(argv: Sequence[str], out: str) -> str:
    """The command line that resumes the interrupted run: ``argv`` with ``--out`` and
    ``--resume``."""
    argv = list(argv)
    if "--out" not in argv and not any(a.startswith("--out=") for a in argv):
        argv += ["--out", out]
    if "--resume" not in argv:
        argv.append("--resume")
    return "minicnn " + " ".join(shlex.quote(a) for a in argv)


@contextlib.contextmanager
def _interruptible(args: argparse.Namespace) -> Iterator[None]:
    """Ctrl-C: one line saying what was saved and how to resume, exit status 130."""
    try:
        yield
    except KeyboardInterrupt:
        from minicnn.rundir import RunDir

        run = RunDir.active
        saved = run.saved if run is not None and run.path == Path(args.out) else None
        what = f"saved {saved} in {args.out}" if saved else f"no epoch finished yet in {args.out}"
        print(f"\nminicnn: interrupted; {what}; resume with: "
              f"{_resume_command(args.argv, args.out)}", file=sys.stderr)
        sys.exit(INTERRUPTED)


def _train(args: argparse.Namespace) -> None:
    from minicnn.runner import run_train

    _prepare_run(args)
    with _interruptible(args), _offline(args.offline):
        run_train(args.exp, args.engine, args.epochs, args.data, args.out, args.seed,
                  args.device, args.limit, progress=not args.quiet, resume=args.resume,
                  download=not args.offline)


def _compare(args: argparse.Namespace) -> None:
    from minicnn.runner import run_compare

    _prepare_run(args)
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            sys.exit("minicnn: compare --device cuda runs PyTorch on the GPU too, but this "
                     "PyTorch sees no CUDA device (torch.cuda.is_available() is False): install "
                     "a CUDA build of torch, or compare on the cpu")
    with _interruptible(args), _offline(args.offline):
        run_compare(args.exp, args.epochs, args.data, args.out, args.seed, args.seeds,
                    args.device, args.limit, progress=not args.quiet, resume=args.resume,
                    download=not args.offline)


def _summary(args: argparse.Namespace) -> None:
    from minicnn.experiments import EXPERIMENTS, experiment_key
    from minicnn.models import MODELS
    from minicnn.train import summary

    key = experiment_key(args.model)
    if key in EXPERIMENTS:
        model, dataset = EXPERIMENTS[key].model, EXPERIMENTS[key].dataset
    elif key in MODELS:
        model = key
        dataset = "cracks" if key.startswith("crack") else \
            "cifar10" if key in CIFAR_MODELS else "mnist"
    else:
        sys.exit(f"minicnn: unknown model or experiment {args.model!r}; models: "
                 f"{', '.join(MODELS)}; experiments: {', '.join(EXPERIMENTS)}")
    size = tuple(args.input_size) if args.input_size else INPUT_SIZES[dataset]
    print(summary(MODELS[model](), size, print_fn=None))


def _benchmarks_main() -> Callable[..., object]:
    """The benchmarks' entry point: ``minicnn.benchmarks`` as installed, or the top-level
    ``benchmarks`` of a source checkout used without installing."""
    try:
        from minicnn.benchmarks.__main__ import main
    except ModuleNotFoundError as exc:
        if exc.name not in ("minicnn.benchmarks", "minicnn.benchmarks.__main__"):
            raise
        from benchmarks.__main__ import main
    return main


def _bench(args: argparse.Namespace) -> None:
    if "-h" not in args.bench_args and "--help" not in args.bench_args:
        _check_device(_device_arg(args.bench_args))
    _benchmarks_main()(args.bench_args, prog="minicnn bench")


def _experiment_list() -> str:
    from minicnn.experiments import EXPERIMENTS

    return "experiments (- or _ alike): " + ", ".join(EXPERIMENTS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minicnn", description=__doc__,
                                     epilog=_experiment_list())
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("experiments", help="list the experiments and their hyper-parameters") \
        .set_defaults(func=_experiments)
    for name, func, helptext in (("train", _train, "train one engine on an experiment"),
                                 ("compare", _compare, "train minicnn and PyTorch side by side")):
        p = sub.add_parser(name, help=helptext, description=helptext, epilog=_experiment_list())
        p.add_argument("experiment", help="an experiment name (see below, or `minicnn "
                                          "experiments`)")
        if name == "train":
            p.add_argument("--engine", choices=["minicnn", "torch"], default="minicnn")
        else:
            p.add_argument("--seeds", type=positive_int, default=1,
                           help="runs per engine (seed, seed+1, ...)")
        p.add_argument("--epochs", type=positive_int, help="default: the experiment's")
        p.add_argument("--data", help="data folder (default: $MINICNN_DATA, then the cache)")
        p.add_argument("--out", help="the run's folder: report.json, report.md, plots, weights, "
                                     "checkpoints (default: runs/EXPERIMENT-DATE-TIME)")
        p.add_argument("--resume", action="store_true",
                       help="continue the interrupted run in --out from its last checkpoint")
        p.add_argument("--offline", action="store_true",
                       help="download nothing (as MINICNN_OFFLINE=1): use what is on disk")
        p.add_argument("--seed", type=seed_int, default=0)
        p.add_argument("--device", default="cpu", help="cpu or cuda")
        p.add_argument("--limit", type=positive_int,
                       help="use at most this many images per split")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.set_defaults(func=func)
    p = sub.add_parser("summary", help="the torchsummary-style table of a model",
                       epilog=_experiment_list())
    p.add_argument("model", help="a model (logreg, cnn2, crack_cnn_bn, ...) or an experiment")
    p.add_argument("--input-size", type=positive_int, nargs=3, metavar=("C", "H", "W"))
    p.set_defaults(func=_summary)
    p = sub.add_parser("bench", help="benchmarks against PyTorch (python -m minicnn.benchmarks)")
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``minicnn`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        # NOTE: argparse's REMAINDER drops a leading option (``bench --device cuda``), so the
        # benchmarks' arguments are passed on untouched.
        args = argparse.Namespace(func=_bench, bench_args=argv[1:])
    else:
        args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        with exit_on_missing_extra():
            args.func(args)
    except KeyboardInterrupt:  # before a run started (a run's own Ctrl-C says more)
        print("\nminicnn: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
    except (ValueError, FileNotFoundError) as exc:
        sys.exit(f"minicnn: {exc}")
    except RuntimeError as exc:
        from minicnn.data.download import DownloadError
        from minicnn.train.checkpoint import CheckpointError
        from minicnn.train.engines import StateMismatchError

        if not isinstance(exc, (DownloadError, CheckpointError, StateMismatchError)):
            raise
        sys.exit(f"minicnn: {exc}")


if __name__ == "__main__":
    main()
