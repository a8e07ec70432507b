"""Shared fixtures. Fashion-MNIST must be installed (apt-get install dataset-fashion-mnist)."""

from __future__ import annotations

import pytest
import torch

from explorer.data import load_dataset


@pytest.fixture(scope="session")
def fmnist():
    """The real Fashion-MNIST splits (val 5,000, seed 0), loaded once per test session."""
    return load_dataset("fashion-mnist")


@pytest.fixture(autouse=True)
def _one_thread():
    # tests are small; one thread keeps them predictable next to other jobs on 2 cores
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory, fmnist):
    """A real resnet20 checkpoint (Stochastic Depth, 1 short epoch on 2,048 images): 6 gates, 64 configurations."""
    from explorer.training import TrainConfig, train

    cfg = TrainConfig(arch="resnet20", epochs=1, limit_train=2048, batch_size=64, lr=0.05)
    return train(cfg, tmp_path_factory.mktemp("tiny") / "resnet20", data=fmnist)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, tiny_ckpt):
    """A host bundle exported from a sensitivity search (IREE latency) on `tiny_ckpt`."""
    from explorer.cli import main

    root = tmp_path_factory.mktemp("bundle")
    db = f"sqlite:///{root}/b.db"
    main(["search", "--checkpoint", str(tiny_ckpt), "--strategy", "sensitivity", "--limit", "300", "--db", db,
          "--study", "b"])  # fmt: skip
    main(["export", "--db", db, "--study", "b", "--out", str(root / "bundle")])
    return root / "bundle"
