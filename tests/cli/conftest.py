"""Fixtures of the command tests: a user's own npz data set and a checkpoint of it, made here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.checkpoint import save_checkpoint
from explorer.data import load_dataset
from explorer.models import create_model


def _make_npz(path, n=200, size=(8, 8), seed=0):
    """A user's own data set: uint8 N×H×W×1 images, 4 classes, with a test part of 40."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, *size, 1), dtype=np.uint8)
    y = np.arange(n) % 4
    np.savez(path, x=x, y=y, x_test=x[:40], y_test=y[:40], classes=np.array(["a", "b", "c", "d"]))
    return path


def _npz_checkpoint(folder, npz):
    """An untrained resnet20 checkpoint whose metadata is what training writes for `npz` (val 20)."""
    data = load_dataset("npz", npz, val_size=20)
    torch.manual_seed(0)
    model = create_model("resnet20", in_channels=1, num_classes=4).eval()
    meta = {"arch": "resnet20", "in_channels": 1, "num_classes": 4, "dataset": data.describe()}
    return save_checkpoint(folder, model, meta)


@pytest.fixture(scope="session")
def make_npz():
    return _make_npz


@pytest.fixture(scope="session")
def npz_checkpoint():
    return _npz_checkpoint
