"""One full epoch of CNN2 on the 60,000 Fashion-MNIST training images, each engine in turn.

Both engines go through the same pipeline, the course's: ``minicnn.data.FashionMNIST`` reads
the IDX files (Debian's ``dataset-fashion-mnist`` package, or ``--data``), the images are
normalised as ``ToTensor`` + ``Normalize(0.1307, 0.3081)``, and ``minicnn.data.DataLoader``
shuffles them into batches of 64 (same seed, so the same batches) for ``minicnn.train``'s
``train_epoch`` (SGD lr 0.01, cross entropy; every step also reads the loss and counts the
correct predictions, as the fit loop does). The wall time runs from reading the files to the
end of the epoch, so data loading is included.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np


def run_epoch(engine_name: str, data_dir: str | None, device: str = "cpu", seed: int = 0,
              limit: int | None = None) -> dict[str, Any]:
    from minicnn.data import DataLoader, TensorDataset
    from minicnn.data.download import display_path
    from minicnn.data.mnist import FashionMNIST
    from minicnn.experiments import normalise_digits
    from minicnn.train.loop import train_epoch

    from . import cases
    from .engines import make_engine

    engine = make_engine(engine_name, device)
    spec = cases.MODEL_BY_NAME["CNN2"]
    model = cases.build_model(engine, spec, cases.reference_weights(spec, seed))
    optimizer = engine.optim.SGD(model.parameters(), lr=spec.lr)
    loss_fn = engine.nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    train = FashionMNIST(data_dir, train=True)
    x, y = train.data, train.targets
    if limit:
        x, y = x[:limit], y[:limit]
    loader = DataLoader(TensorDataset(normalise_digits(x), np.asarray(y)), spec.batch,
                        shuffle=True, seed=seed)
    t_data = time.perf_counter() - t0
    loss, acc = train_epoch(model, optimizer, loss_fn, loader,
                            engine=engine, task="multiclass")
    wall = time.perf_counter() - t0
    return {"engine": engine_name, "images": len(y), "batches": len(loader),
            "wall_s": wall, "load_s": t_data, "images_per_s": len(y) / wall,
            "train_loss": loss, "train_acc": acc,
            "source": display_path(train.image_path.parent)}
