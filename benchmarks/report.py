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


def train_line(row: dict[str, Any]) -> str:
    m, t = row["minicnn"], row["torch"]
    return (f"  {row['name']:<20} b{row['batch']:<4} minicnn {timing_cell(m):>18} ms   "
            f"torch {timing_cell(t):>18} ms   ratio {row['ratio']:5.2f}   "
            f"{row['gflop']:6.3f} GFLOP  {row['gflops_minicnn']:6.1f} / "
            f"{row['gflops_torch']:6.1f} GFLOP/s")


def infer_line(row: dict[str, Any]) -> str:
    return (f"  {row['name']:<20} b{row['batch']:<4} minicnn {row['images_per_s_minicnn']:9.0f}"
            f" img/s   torch {row['images_per_s_torch']:9.0f} img/s   ratio {row['ratio']:5.2f}")


def op_line(row: dict[str, Any]) -> str:
    m, t = row["minicnn"], row["torch"]
    return (f"  {row['name']:<28} minicnn {ms(m['median']):>7} ms (fwd {ms(m['fwd_median'])}, "
            f"bwd {ms(m['bwd_median'])})   torch {ms(t['median']):>7} ms (fwd "
            f"{ms(t['fwd_median'])}, bwd {ms(t['bwd_median'])})   ratio {row['ratio']:5.2f}")


def memory_line(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"  {row['name']:<20} error: {row['error'].splitlines()[-1]}"
    ratio = "n/a (too small)" if row["ratio"] is None else f"{row['ratio']:5.2f}"
    return (f"  {row['name']:<20} minicnn {row['minicnn_mib']:8.1f} MiB   torch "
            f"{row['torch_mib']:8.1f} MiB   ratio {ratio}")


def epoch_line(row: dict[str, Any]) -> str:
    return (f"  {row['engine']:<8} {row['images']} images in {row['wall_s']:.1f} s "
            f"({row['images_per_s']:.0f} img/s, data {row['load_s']:.1f} s), "
            f"train loss {row['train_loss']:.4f}, acc {row['train_acc']:.4f}")


def markdown(res: dict[str, Any]) -> str:
    meta = res["meta"]
    out = [f"# minicnn vs PyTorch on {meta['device']}", "",
           f"- date: {meta['date']}", f"- command: `{meta['command']}`",
           f"- git: {meta['git']}", f"- machine: {meta['machine']}",
           f"- versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}",
           f"- {meta['threads_line']}",
           (f"- load average (1 min) before / after: {meta['load_before']:.2f} / "
            f"{meta['load_after']:.2f} on {meta['cpus']} CPUs"),
           f"- timing: {meta['budget']}",
           "", ("Times are medians over interleaved repeats, IQR in brackets; ratio = minicnn "
                "median / PyTorch median (below 1: minicnn is faster)."), ""]
    if res.get("train"):
        out += ["## Training step (forward, backward, optimiser step)", "",
                ("| model | batch | minicnn ms | PyTorch ms | ratio | min ms (m / t) | GFLOP "
                 "| GFLOP/s (m / t) |"), "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in res["train"]:
            out.append(f"| {r['name']} | {r['batch']} | {timing_cell(r['minicnn'])} | "
                       f"{timing_cell(r['torch'])} | **{r['ratio']:.2f}** | "
                       f"{ms(r['minicnn']['min'])} / {ms(r['torch']['min'])} | "
                       f"{r['gflop']:.3f} | {r['gflops_minicnn']:.1f} / "
                       f"{r['gflops_torch']:.1f} |")
        out.append("")
    if res.get("infer"):
        out += ["## Inference (eval mode, no_grad)", "",
                "| model | batch | minicnn img/s | PyTorch img/s | time ratio |",
                "|---|---:|---:|---:|---:|"]
        for r in res["infer"]:
            out.append(f"| {r['name']} | {r['batch']} | {r['images_per_s_minicnn']:.0f} | "
                       f"{r['images_per_s_torch']:.0f} | {r['ratio']:.2f} |")
        out.append("")
    if res.get("ops"):
        out += ["## Ops, forward + backward", "",
                ("| op | input | minicnn ms (fwd + bwd) | PyTorch ms (fwd + bwd) | ratio | "
                 "GFLOP/s (m / t) |"), "|---|---|---:|---:|---:|---:|"]
        for r in res["ops"]:
            m, t = r["minicnn"], r["torch"]
            gf = (f"{r['gflops_minicnn']:.1f} / {r['gflops_torch']:.1f}"
                  if r.get("gflops_minicnn") else "")
            shape = "x".join(map(str, r["shape"]))
            out.append(f"| {r['name']} | {shape} | {ms(m['median'])} ({ms(m['fwd_median'])} + "
                       f"{ms(m['bwd_median'])}) | {ms(t['median'])} ({ms(t['fwd_median'])} + "
                       f"{ms(t['bwd_median'])}) | {r['ratio']:.2f} | {gf} |")
        out.append("")
    if res.get("memory"):
        out += ["## Peak memory of a training run", "",
                (f"{res['memory'][0].get('method', '')}; each engine in its own subprocess "
                 "(see benchmarks/README.md)."), "",
                "| model | minicnn MiB | PyTorch MiB | ratio |", "|---|---:|---:|---:|"]
        for r in res["memory"]:
            if "error" in r:
                out.append(f"| {r['name']} | error | | |")
            else:
                ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}"
                out.append(f"| {r['name']} | {r['minicnn_mib']:.1f} | {r['torch_mib']:.1f} | "
                           f"{ratio} |")
        out.append("")
    if res.get("epoch"):
        out += ["## One epoch of CNN2 on Fashion-MNIST (data loading included)", "",
                "| engine | images | wall s | images/s | data s | train loss | train acc |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for r in res["epoch"]:
            out.append(f"| {r['engine']} | {r['images']} | {r['wall_s']:.1f} | "
                       f"{r['images_per_s']:.0f} | {r['load_s']:.2f} | {r['train_loss']:.4f} | "
                       f"{r['train_acc']:.4f} |")
        out.append("")
    return "\n".join(out)


def chart(res: dict[str, Any], path: Path) -> None:
    """Horizontal bars of minicnn/PyTorch median-time ratios, one colour per section."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    colours = {"train": "tab:blue", "infer": "tab:green", "ops": "tab:orange",
               "memory": "tab:purple"}
    for section, label in (("train", "train"), ("infer", "infer"), ("ops", "op"),
                           ("memory", "memory")):
        for r in res.get(section) or []:
            if r.get("ratio") is not None:
                rows.append((f"{label}: {r['name']}", r["ratio"], colours[section]))
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
    ax.set_title(f"minicnn / PyTorch on {meta['device']}, {meta['date'][:10]} (minicnn "
                 f"{info.get('minicnn_pool', '?')} threads, PyTorch "
                 f"{info.get('torch_threads', '?')})", fontsize=9)
    from matplotlib.patches import Patch

    labels = {"train": "training step", "infer": "inference", "ops": "op fwd+bwd",
              "memory": "peak memory"}
    ax.legend(handles=[Patch(color=colours[k], label=v) for k, v in labels.items()
                       if res.get(k)], loc="lower right", fontsize=8)
    ax.set_xlim(0, max(2.0, max(r[1] for r in rows) * 1.12))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    plt.close(fig)
    fileio.write_bytes(path, buffer.getvalue())
