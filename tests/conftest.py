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
