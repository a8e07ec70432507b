"""Live engine: real inferences of the bundle's IREE module on real test images, arrivals on the
wall clock. Accuracy comes from the module's predictions against the labels."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from explorer.deploy.bundle import Bundle
from explorer.deploy.iree import IreeModule
from explorer.runtime.choices import Choice
from explorer.runtime.controller import Executor, Served


def test_split_images(dataset: str, mean, std, data_dir=None, count: int | None = None, seed: int = 0, *,
                      recorded: dict | None = None, where: str = "") -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The test split of `dataset`, normalised with `mean`/`std`, NHWC float32, in a seeded
    order; returns (images, labels). `recorded` is what training recorded of the data set (its
    `source`, `val_size`, `split_seed`): an npz file without test arrays has its test split carved
    with that seed, and without `data_dir` an npz data set is read from the recorded path if its
    sha256 still matches (`where` names the model in errors)."""
    from explorer.data import load_recorded_splits, normalize

    data = load_recorded_splits({**(recorded or {}), "name": dataset}, data_dir, where)
    order = np.random.default_rng(seed).permutation(len(data.test_y))[:count]
    x = normalize(data.test_x[order], mean, std).permute(0, 2, 3, 1).contiguous().numpy()
    return x.astype(np.float32), data.test_y[order].numpy()


def load_test_images(bundle: Bundle, data_dir: str | Path | None = None, count: int | None = None, seed: int = 0):
    """The test split of the bundle's data set, normalised as its manifest says."""
    norm, model = bundle.manifest["normalisation"], bundle.manifest["model"]
    return test_split_images(model["dataset"], norm["mean"], norm["std"], data_dir, count, seed,
                             recorded=model.get("dataset_splits"), where=f"of bundle {bundle.path}")  # fmt: skip


class WallClock:
    """Milliseconds since `start()`; `wait_until` sleeps most of a wait and spins the last ms."""

    t0: float = 0.0

    def start(self) -> None:
        self.t0 = time.perf_counter()

    def now_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000.0

    def wait_until(self, t_ms: float) -> None:
        while (left := t_ms - self.now_ms()) > 0:
            if left > 2.0:
                time.sleep((left - 1.0) / 1000.0)


class LiveExecutor(WallClock, Executor):
    """Request k classifies image k mod N; the clock starts at `start()`."""

    def __init__(self, module_path: Path, choices: list[Choice], images: np.ndarray, labels: np.ndarray,
                 device: str = "local-sync"):  # fmt: skip
        self.module = IreeModule(module_path, device=device)
        self.skips = [np.array(c.config.bits, dtype=np.int32) for c in choices]
        self.bns = [c.bn for c in choices]
        self.images, self.labels = images, labels
        self.start()

    def warm_up(self, reps: int = 3) -> None:
        for skip, bn in zip(self.skips, self.bns):
            for _ in range(reps):
                self.module(self.images[:1], skip, bn)

    def serve(self, request: int, arrival_ms: float, choice: int) -> Served:
        self.wait_until(arrival_ms)
        k = request % len(self.labels)
        start = self.now_ms()
        logits = self.module(self.images[k : k + 1], self.skips[choice], self.bns[choice])
        end = self.now_ms()
        pred = int(np.argmax(logits))
        label = int(self.labels[k])
        return Served(start, end, pred, label, pred == label)
