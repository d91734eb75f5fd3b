"""How the cost grows (``--scaling``): the training step of CNN2 over batch sizes and of the
crack CNN over image sizes, both engines interleaved as everywhere else, as time per image,
with the ratio; ``plot`` draws it (``scaling.png``)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from minicnn import fileio

from . import cases
from .sections import add_rates, timing_row
from .timing import Budget, interleave

BATCHES = (1, 8, 64, 256)  # CNN2, 1x28x28
SIZES = (64, 128, 227, 454)  # the crack CNN, batch 16
SWEEPS = {"cnn2_batch": ("CNN2, batch size", "batch size (CNN2, 28x28)"),
          "crack_size": ("CrackCNN, image size", "image side (CrackCNN, batch 16)")}


def _point(engines: dict, spec: cases.ModelSpec, batch: int, value: int, budget: Budget,
           floor_gflops: float | None) -> dict[str, Any]:
    weights = cases.reference_weights(spec)
    fns = {n: cases.build_training(e, spec, batch=batch, weights=weights)
           for n, e in engines.items()}
    times, _ = interleave(fns, budget)
    del fns
    row = {"value": value, "batch": batch, "input": list(spec.input), **timing_row(times)}
    for n in engines:
        row[f"ms_per_image_{n}"] = row[n]["median"] / batch * 1e3
    add_rates(row, cases.model_flops(spec, batch, training=True), engines, floor_gflops)
    print(f"  {spec.name:<20} batch {batch:<4} minicnn {row['ms_per_image_minicnn']:8.3f} "
          f"ms/image   torch {row['ms_per_image_torch']:8.3f} ms/image   ratio "
          f"{row['ratio']:5.2f}", flush=True)
    return row


def run(engines: dict, budget: Budget, batches: tuple[int, ...] = BATCHES,
        sizes: tuple[int, ...] = SIZES, floor_gflops: float | None = None
        ) -> dict[str, list[dict[str, Any]]]:
    """Both sweeps: a training step per batch size of CNN2 and per image size of the crack
    CNN (at its course batch), as rows with the time per image of each engine."""
    print("how the cost grows: training step, time per image", flush=True)
    cnn2 = cases.MODEL_BY_NAME["CNN2"]
    res = {"cnn2_batch": [_point(engines, cnn2, b, b, budget, floor_gflops) for b in batches],
           "crack_size": []}
    for size in sizes:
        spec = cases.crack_at(size)
        res["crack_size"].append(_point(engines, spec, spec.batch, size, budget, floor_gflops))
    return res


def markdown(scaling: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The two sweeps as Markdown tables."""
    out = ["## How the cost grows (`--scaling`)", "",
           ("Training step (forward, backward, optimiser step), time per image = median step "
            "time / batch; ratio = minicnn / PyTorch."), ""]
    for key, (title, _) in SWEEPS.items():
        out += [f"### {title}", "",
                "| value | batch | minicnn ms/image | PyTorch ms/image | ratio | GFLOP/s (m / t) |",
                "|---:|---:|---:|---:|---:|---:|"]
        for r in scaling.get(key, []):
            out.append(f"| {r['value']} | {r['batch']} | {r['ms_per_image_minicnn']:.3f} | "
                       f"{r['ms_per_image_torch']:.3f} | **{r['ratio']:.2f}** | "
                       f"{r['gflops_minicnn']:.1f} / {r['gflops_torch']:.1f} |")
        out.append("")
    return out


def plot(scaling: dict[str, list[dict[str, Any]]], path: Path, title: str) -> None:
    """Time per image against size (log-log, both engines) above the ratio, one column per
    sweep; written atomically to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in SWEEPS if scaling.get(k)]
    if not keys:
        return
    fig, axes = plt.subplots(2, len(keys), figsize=(5.2 * len(keys), 6.4), squeeze=False,
                             sharex="col", gridspec_kw={"height_ratios": [2, 1]})
    for col, key in enumerate(keys):
        rows = scaling[key]
        xs = [r["value"] for r in rows]
        top, bottom = axes[0][col], axes[1][col]
        for engine, style in (("minicnn", "o-"), ("torch", "s--")):
            top.plot(xs, [r[f"ms_per_image_{engine}"] for r in rows], style,
                     label="PyTorch" if engine == "torch" else engine)
        top.set_xscale("log", base=2)
        top.set_yscale("log")
        top.set_ylabel("ms per image (median step / batch)")
        top.set_title(SWEEPS[key][0], fontsize=10)
        top.legend(fontsize=8)
        top.grid(True, which="both", alpha=0.3)
        ratios = [r["ratio"] for r in rows]
        bottom.plot(xs, ratios, "d-", color="tab:purple")
        for x, v in zip(xs, ratios):
            bottom.annotate(f"{v:.2f}", (x, v), textcoords="offset points", xytext=(0, 5),
                            ha="center", fontsize=7)
        bottom.axhline(1.0, color="black", linewidth=0.8)
        bottom.set_ylabel("minicnn / PyTorch")
        bottom.set_xlabel(SWEEPS[key][1])
        bottom.set_xticks(xs, [str(x) for x in xs])
        bottom.set_ylim(0, max(1.5, max(ratios) * 1.2))
        bottom.grid(True, alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    plt.close(fig)
    fileio.write_bytes(path, buffer.getvalue())
