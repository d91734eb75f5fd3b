"""The ``minicnn`` command: experiments, train, compare, summary, bench."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _check_device(device: str) -> None:
    """Exit with one clear line when ``--device`` cannot be honoured: ``cuda`` without CuPy or
    without a GPU (saying which, and what to install), or an unknown device name."""
    from minicnn import backend

    try:
        backend.get_device(device)
    except (RuntimeError, ValueError) as exc:
        sys.exit(f"minicnn: {exc}")


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


def _train(args: argparse.Namespace) -> None:
    from minicnn.experiments import get_experiment
    from minicnn.runner import run_train

    _check_device(args.device)
    run_train(get_experiment(args.experiment), args.engine, args.epochs, args.data, args.out,
              args.seed, args.device, args.limit, progress=not args.quiet)


def _compare(args: argparse.Namespace) -> None:
    from minicnn.experiments import get_experiment
    from minicnn.runner import run_compare

    _check_device(args.device)
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            sys.exit("minicnn: compare --device cuda runs PyTorch on the GPU too, but this "
                     "PyTorch sees no CUDA device (torch.cuda.is_available() is False): install "
                     "a CUDA build of torch, or compare on the cpu")
    run_compare(get_experiment(args.experiment), args.epochs, args.data, args.out, args.seed,
                args.seeds, args.device, args.limit, progress=not args.quiet)


def _summary(args: argparse.Namespace) -> None:
    from minicnn.models import MODELS
    from minicnn.train import summary

    if args.model not in MODELS:
        sys.exit(f"minicnn: unknown model {args.model!r}; known: {', '.join(MODELS)}")
    size = tuple(args.input_size) if args.input_size else \
        ((1, 227, 227) if args.model.startswith("crack") else (1, 28, 28))
    print(summary(MODELS[args.model](), size))


def _bench(args: argparse.Namespace) -> None:
    _check_device(_device_arg(args.bench_args))
    # NOTE: benchmarks/ (and reference/, PyTorch's twins of the models) sit beside the
    # package in the source tree and are not installed: put that tree on the path.
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    if not (root / "benchmarks").is_dir():
        sys.exit("minicnn: bench runs from a source checkout (benchmarks/ and reference/ next "
                 "to minicnn/); install with `pip install -e .` from the repository")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from benchmarks.__main__ import main as bench_main

    bench_main(args.bench_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minicnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("experiments", help="list the experiments and their hyper-parameters") \
        .set_defaults(func=_experiments)
    for name, func, helptext in (("train", _train, "train one engine on an experiment"),
                                 ("compare", _compare, "train minicnn and PyTorch side by side")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("experiment")
        if name == "train":
            p.add_argument("--engine", choices=["minicnn", "torch"], default="minicnn")
        else:
            p.add_argument("--seeds", type=int, default=1, help="runs per engine (seed, seed+1..)")
        p.add_argument("--epochs", type=int, help="default: the experiment's")
        p.add_argument("--data", help="data folder (default: $MINICNN_DATA, then the cache)")
        p.add_argument("--out", help="folder for report.json, plots (and report.md)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--device", default="cpu", help="cpu or cuda")
        p.add_argument("--limit", type=int, help="use at most this many images per split")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.set_defaults(func=func)
    p = sub.add_parser("summary", help="the torchsummary-style table of a model")
    p.add_argument("model")
    p.add_argument("--input-size", type=int, nargs=3, metavar=("C", "H", "W"))
    p.set_defaults(func=_summary)
    p = sub.add_parser("bench", help="benchmarks against PyTorch (python -m benchmarks)")
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
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        sys.exit(f"minicnn: {exc}")


if __name__ == "__main__":
    main()
