"""One full epoch of CNN2 on the 60,000 Fashion-MNIST training images (``--epoch``), each
engine with its own data pipeline, as a user of that framework writes it:

- minicnn: ``minicnn.data.FashionMNIST(root, transform=Compose([ToTensor(),
  Normalize((0.1307,), (0.3081,))]))`` and ``minicnn.data.DataLoader(batch_size=64,
  shuffle=True)``;
- PyTorch: ``torchvision.datasets.FashionMNIST`` with torchvision's ``ToTensor`` and
  ``Normalize`` and ``torch.utils.data.DataLoader(batch_size=64, shuffle=True)`` (no worker
  processes, the default).

Both read the same uncompressed IDX files, copied before the timing into a temporary folder in
torchvision's layout (``FashionMNIST/raw/``, which minicnn's reader also searches) from
wherever ``minicnn.data.FashionMNIST`` finds them (``--data``, Debian's package ...). Then the
same loop for both: per batch, zero_grad, forward, cross entropy, backward, SGD step (lr
0.01), and the loss and the correct predictions read back (``.item()``), as the course's loop
does. Both models start from the same weights; each engine shuffles with its own generator.
Before the timing, two steps on a random batch warm each engine up (Numba kernels loaded,
oneDNN primitives built). The wall time runs from reading the files to the end of the epoch.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from . import cases, report

MEAN, STD = 0.1307, 0.3081  # the course's normalisation (MNIST's figures), as the experiments
BATCH = 64


def torchvision_layout(data_dir: str | None, folder: Path) -> str:
    """Copy the four Fashion-MNIST files, uncompressed, into ``folder/FashionMNIST/raw/``;
    returns where they were found. Missing files raise FileNotFoundError naming the places
    looked in."""
    from minicnn.data.download import display_path
    from minicnn.data.idx import read_file_bytes
    from minicnn.data.mnist import FashionMNIST, split_files

    raw = folder / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    sources = []
    for name in (*split_files(True), *split_files(False)):
        path = FashionMNIST.locate(name, data_dir)
        (raw / name).write_bytes(read_file_bytes(path))
        sources.append(path.parent)
    return display_path(sources[0])


def minicnn_loader(root: Path, limit: int | None, seed: int) -> Any:
    from minicnn.data import DataLoader, FashionMNIST, Subset
    from minicnn.data import transforms as T

    ds = FashionMNIST(root, train=True,
                      transform=T.Compose([T.ToTensor(), T.Normalize((MEAN,), (STD,))]))
    if limit:
        ds = Subset(ds, range(min(limit, len(ds))))
    return DataLoader(ds, batch_size=BATCH, shuffle=True, seed=seed)


def torch_loader(root: Path, limit: int | None, seed: int) -> Any:
    import torch
    import torchvision
    from torchvision import transforms as T

    ds = torchvision.datasets.FashionMNIST(
        root, train=True, download=False,
        transform=T.Compose([T.ToTensor(), T.Normalize((MEAN,), (STD,))]))
    if limit:
        ds = torch.utils.data.Subset(ds, range(min(limit, len(ds))))
    return torch.utils.data.DataLoader(ds, batch_size=BATCH, shuffle=True,
                                       generator=torch.Generator().manual_seed(seed))


LOADERS = {"minicnn": minicnn_loader, "torch": torch_loader}


def run_engine(engine_name: str, root: Path, device: str = "cpu", seed: int = 0,
               limit: int | None = None) -> dict[str, Any]:
    """One epoch of ``engine_name`` over the files under ``root`` (torchvision's layout)."""
    from .engines import make_engine

    engine = make_engine(engine_name, device)
    spec = cases.MODEL_BY_NAME["CNN2"]
    warm = cases.build_training(engine, spec, batch=BATCH)
    for _ in range(2):
        warm()
    del warm
    model = cases.build_model(engine, spec, cases.reference_weights(spec, seed))
    model.train()
    optimizer = cases.make_optimizer(engine, spec, model.parameters())
    loss_fn = cases.make_loss(engine, spec)

    t0 = time.perf_counter()
    loader = LOADERS[engine_name](root, limit, seed)
    t_read = time.perf_counter() - t0
    total_loss, correct, seen, t_fetch, batches = 0.0, 0, 0, 0.0, 0
    batch_iter = iter(loader)
    while True:
        t1 = time.perf_counter()
        try:
            x, y = next(batch_iter)
        except StopIteration:
            break
        x, y = engine.tensor(x), engine.tensor(y)
        t_fetch += time.perf_counter() - t1
        optimizer.zero_grad()
        out = model(x)
        loss = loss_fn(out, y)
        loss.backward()
        optimizer.step()
        n = int(y.shape[0])
        total_loss += loss.item() * n
        correct += int((out.argmax(1) == y).sum().item())
        seen += n
        batches += 1
    engine.sync()
    wall = time.perf_counter() - t0
    return {"engine": engine_name, "images": seen, "batches": batches, "wall_s": wall,
            "read_s": t_read, "batches_s": t_fetch, "images_per_s": seen / wall,
            "train_loss": total_loss / seen, "train_acc": correct / seen}


def run(data_dir: str | None, device: str = "cpu", seed: int = 0, limit: int | None = None
        ) -> dict[str, Any]:
    """Both engines' epochs (minicnn first) and the ratio of their wall times."""
    with tempfile.TemporaryDirectory(prefix="minicnn-epoch-") as tmp:
        source = torchvision_layout(data_dir, Path(tmp))
        rows = []
        for name in LOADERS:
            rows.append(run_engine(name, Path(tmp), device, seed, limit))
            print(report.epoch_line(rows[-1]), flush=True)
    return {"source": source, "limit": limit, "batch": BATCH, "rows": rows,
            "ratio": rows[0]["wall_s"] / rows[1]["wall_s"]}
