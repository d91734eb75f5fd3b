"""The results as console lines, a Markdown report and a bar chart of the ratios."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from minicnn import fileio


def ms(seconds: float) -> str:
    v = seconds * 1e3
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.1f}"


def timing_cell(s: dict[str, float]) -> str:
    """'median (IQR)' in ms."""
    return f"{ms(s['median'])} ({ms(s['iqr'])})"


def _share(row: dict[str, Any], engine: str) -> str:
    share = row.get(f"floor_share_{engine}")
    return "n/a" if share is None else f"{100 * share:.0f}%"


def rates(row: dict[str, Any]) -> str:
    """'GFLOP/s m / t (share of the floor m / t)'."""
    return (f"{row['gflops_minicnn']:.1f} / {row['gflops_torch']:.1f} GFLOP/s "
            f"({_share(row, 'minicnn')} / {_share(row, 'torch')} of floor)")


def train_line(row: dict[str, Any]) -> str:
    m, t = row["minicnn"], row["torch"]
    return (f"  {row['name']:<20} b{row['batch']:<4} minicnn {timing_cell(m):>18} ms   "
            f"torch {timing_cell(t):>18} ms   ratio {row['ratio']:5.2f}   "
            f"{row['gflop']:6.3f} GFLOP  {rates(row)}")


def infer_line(row: dict[str, Any]) -> str:
    return (f"  {row['name']:<20} b{row['batch']:<4} minicnn {row['images_per_s_minicnn']:9.0f}"
            f" img/s   torch {row['images_per_s_torch']:9.0f} img/s   ratio {row['ratio']:5.2f}"
            f"   {rates(row)}")


def op_line(row: dict[str, Any]) -> str:
    m, t = row["minicnn"], row["torch"]
    line = (f"  {row['name']:<28} minicnn {ms(m['median']):>7} ms (fwd {ms(m['fwd_median'])}, "
            f"bwd {ms(m['bwd_median'])})   torch {ms(t['median']):>7} ms (fwd "
            f"{ms(t['fwd_median'])}, bwd {ms(t['bwd_median'])})   ratio {row['ratio']:5.2f}")
    if "ops" in row:
        line += (f"   {row['us_per_op_minicnn']:.1f} / {row['us_per_op_torch']:.1f} us per op "
                 "(fwd + bwd)")
    return line


def memory_line(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"  {row['name']:<20} error: {row['error'].splitlines()[-1]}"
    ratio = "n/a (too small)" if row["ratio"] is None else f"{row['ratio']:5.2f}"
    return (f"  {row['name']:<20} minicnn {row['minicnn_mib']:8.1f} MiB   torch "
            f"{row['torch_mib']:8.1f} MiB   ratio {ratio}")


def epoch_line(row: dict[str, Any]) -> str:
    return (f"  {row['engine']:<8} {row['images']} images in {row['wall_s']:.1f} s "
            f"({row['images_per_s']:.0f} img/s; reading the files {row['read_s']:.2f} s, "
            f"making the batches {row['batches_s']:.2f} s), train loss "
            f"{row['train_loss']:.4f}, acc {row['train_acc']:.4f}")


def load_line(meta: dict[str, Any]) -> str:
    others = meta.get("others_cpus")
    others_text = "unknown" if others is None else f"{others:.2f} CPUs"
    return (f"load average (1 min) before / after: {meta['load_before']:.2f} / "
            f"{meta['load_after']:.2f} on {meta['machine_cpus']} CPUs (after counts this "
            f"run's own threads); other processes used {others_text} on average during the "
            "run")


def _floor_section(floor: dict[str, Any]) -> list[str]:
    out = ["## The GEMM floor (float32 GEMM rate, measured in this run)", "",
           (f"**The floor: {floor['gflops']:.1f} GFLOP/s**, the best rate at "
            f"{floor['size']}x{floor['size']}x{floor['size']} ({floor['way']}). Ways: "
            + "; ".join(f"{k}: {v}" for k, v in floor["ways"].items()) + "."), "",
           "| product | M x K x N | numpy GFLOP/s | minicnn blocks GFLOP/s | PyTorch GFLOP/s |",
           "|---|---|---:|---:|---:|"]
    for r in floor["shapes"]:
        g = r["gflops"]
        out.append(f"| {r['name']} | {r['m']} x {r['k']} x {r['n']} | {g['numpy']:.1f} | "
                   f"{g['minicnn']:.1f} | {g['torch']:.1f} |")
    return out + [""]


def _train_table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["## Training step (forward, backward, optimiser step)", "",
           ("| model | batch | minicnn ms | PyTorch ms | ratio | min ms (m / t) | GFLOP "
            "| GFLOP/s (m / t) | share of floor (m / t) |"),
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['name']} | {r['batch']} | {timing_cell(r['minicnn'])} | "
                   f"{timing_cell(r['torch'])} | **{r['ratio']:.2f}** | "
                   f"{ms(r['minicnn']['min'])} / {ms(r['torch']['min'])} | "
                   f"{r['gflop']:.3f} | {r['gflops_minicnn']:.1f} / {r['gflops_torch']:.1f} | "
                   f"{_share(r, 'minicnn')} / {_share(r, 'torch')} |")
    return out + [""]


def _infer_table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["## Inference (eval mode, no_grad)", "",
           ("| model | batch | minicnn img/s | PyTorch img/s | time ratio | GFLOP/s (m / t) "
            "| share of floor (m / t) |"), "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['name']} | {r['batch']} | {r['images_per_s_minicnn']:.0f} | "
                   f"{r['images_per_s_torch']:.0f} | {r['ratio']:.2f} | "
                   f"{r['gflops_minicnn']:.1f} / {r['gflops_torch']:.1f} | "
                   f"{_share(r, 'minicnn')} / {_share(r, 'torch')} |")
    return out + [""]


def _ops_table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["## Ops, forward + backward", "",
           ("| op | input | minicnn ms (fwd + bwd) | PyTorch ms (fwd + bwd) | ratio | "
            "GFLOP/s (m / t) |"), "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        m, t = r["minicnn"], r["torch"]
        if r.get("gflops_minicnn"):
            extra = f"{r['gflops_minicnn']:.1f} / {r['gflops_torch']:.1f}"
        elif "ops" in r:
            extra = f"{r['us_per_op_minicnn']:.1f} / {r['us_per_op_torch']:.1f} us per op"
        else:
            extra = ""
        shape = "x".join(map(str, r["shape"]))
        out.append(f"| {r['name']} | {shape} | {ms(m['median'])} ({ms(m['fwd_median'])} + "
                   f"{ms(m['bwd_median'])}) | {ms(t['median'])} ({ms(t['fwd_median'])} + "
                   f"{ms(t['bwd_median'])}) | {r['ratio']:.2f} | {extra} |")
    return out + [""]


def _memory_table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["## Peak memory of a training run", "",
           (f"{rows[0].get('method', '')}; each engine in its own subprocess "
            "(see benchmarks/README.md)."), "",
           "| model | batch | minicnn MiB | PyTorch MiB | ratio |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['name']} | {r['batch']} | error | | |")
        else:
            ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}"
            out.append(f"| {r['name']} | {r['batch']} | {r['minicnn_mib']:.1f} | "
                       f"{r['torch_mib']:.1f} | {ratio} |")
    return out + [""]


def _epoch_table(epoch: dict[str, Any]) -> list[str]:
    images = epoch["rows"][0]["images"]
    out = [f"## One epoch of CNN2 on Fashion-MNIST ({images} images, data loading included)",
           "", (f"Each engine's own dataset, transforms and DataLoader, batch {epoch['batch']}, "
                f"shuffled; files from {epoch['source']}. **Wall-time ratio minicnn / PyTorch: "
                f"{epoch['ratio']:.2f}**."), "",
           ("| engine | images | wall s | images/s | reading files s | making batches s | "
            "train loss | train acc |"), "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in epoch["rows"]:
        out.append(f"| {r['engine']} | {r['images']} | {r['wall_s']:.1f} | "
                   f"{r['images_per_s']:.0f} | {r['read_s']:.2f} | {r['batches_s']:.2f} | "
                   f"{r['train_loss']:.4f} | {r['train_acc']:.4f} |")
    return out + [""]


def markdown(res: dict[str, Any]) -> str:
    """The whole report; its first line is the loaded-machine warning when there is one."""
    from . import floor, hygiene, scaling

    meta = res["meta"]
    warning = hygiene.warning(meta)
    out = [f"**{warning}**", ""] if warning else []
    out += [f"# minicnn vs PyTorch on {meta['device']}", "",
            f"- date: {meta['date']}", f"- command: `{meta['command']}`",
            f"- git: {meta['git']}", f"- machine: {meta['machine']}",
            f"- versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}",
            f"- {meta['threads_line']}", f"- {load_line(meta)}",
            f"- {floor.describe(meta['floor'])}", f"- timing: {meta['budget']}",
            "", ("Times are medians over interleaved repeats, IQR in brackets; ratio = minicnn "
                 "median / PyTorch median (below 1: minicnn is faster). GFLOP/s from analytic "
                 "FLOPs (convolutions, dense and LSTM GEMMs); share of floor = GFLOP/s / the "
                 "GEMM floor."), ""]
    if meta["floor"]:
        out += _floor_section(meta["floor"])
    tables = (("train", _train_table), ("infer", _infer_table), ("ops", _ops_table),
              ("memory", _memory_table), ("epoch", _epoch_table))
    for key, table in tables:
        if res.get(key):
            out += table(res[key])
    if res.get("scaling"):
        out += scaling.markdown(res["scaling"])
    return "\n".join(out)


def chart(res: dict[str, Any], path: Path) -> None:
    """Horizontal bars of minicnn/PyTorch median-time ratios, one colour per section."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    colours = {"train": "tab:blue", "infer": "tab:green", "ops": "tab:orange",
               "memory": "tab:purple", "epoch": "tab:red"}
    for section, label in (("train", "train"), ("infer", "infer"), ("ops", "op"),
                           ("memory", "memory")):
        for r in res.get(section) or []:
            if r.get("ratio") is not None:
                rows.append((f"{label}: {r['name']}", r["ratio"], colours[section]))
    if res.get("epoch"):
        rows.append(("epoch: CNN2 on Fashion-MNIST", res["epoch"]["ratio"], colours["epoch"]))
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(rows) + 1.5))
    y = list(range(len(rows)))[::-1]
    ax.barh(y, [r[1] for r in rows], color=[r[2] for r in rows])
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
    ax.axvline(1.0, color="black", linewidth=1)
    for yi, (_, v, _) in zip(y, rows):
        ax.text(v, yi, f" {v:.2f}", va="center", fontsize=7)
    ax.set_xlabel("minicnn / PyTorch (median time; memory: peak MiB)   < 1: minicnn better")
    ax.axvline(1.5, color="grey", linewidth=0.8, linestyle=":")
    meta = res["meta"]
    info = meta.get("threads", {})
    loaded = "LOADED MACHINE, not of record: " if meta.get("warning") else ""
    ax.set_title(f"{loaded}minicnn / PyTorch on {meta['device']}, {meta['date'][:10]} (minicnn "
                 f"{info.get('minicnn_pool', '?')} threads, PyTorch "
                 f"{info.get('torch_threads', '?')})", fontsize=9)
    from matplotlib.patches import Patch

    labels = {"train": "training step", "infer": "inference", "ops": "op fwd+bwd",
              "memory": "peak memory", "epoch": "epoch (data included)"}
    ax.legend(handles=[Patch(color=colours[k], label=v) for k, v in labels.items()
                       if res.get(k)], loc="lower right", fontsize=8)
    ax.set_xlim(0, max(2.0, max(r[1] for r in rows) * 1.12))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    plt.close(fig)
    fileio.write_bytes(path, buffer.getvalue())
