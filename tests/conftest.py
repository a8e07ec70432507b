"""Shared fixtures. Fashion-MNIST must be installed (apt-get install dataset-fashion-mnist)."""

from __future__ import annotations

import pytest
import torch

from explorer.data import load_dataset


@pytest.fixture(scope="session")
def fmnist():
    """The real Fashion-MNIST splits (val 5,000, seed 0), loaded once per test session."""
    return load_dataset("fashion-mnist")


@pytest.fixture(scope="session")
def fmnist_small(fmnist):
    """Fashion-MNIST with the validation and test splits cut to their first 500 images (training
    split, mean and std unchanged): for tests whose cost was scoring the full 5,000 + 10,000."""
    from dataclasses import replace

    return replace(fmnist, val_x=fmnist.val_x[:500], val_y=fmnist.val_y[:500], test_x=fmnist.test_x[:500],
                   test_y=fmnist.test_y[:500])  # fmt: skip


@pytest.fixture(scope="session")
def fmnist_npz(tmp_path_factory, fmnist):
    """A user's npz data set of real Fashion-MNIST images, small enough for `explorer train` runs in
    a child process: 1,200 training images (10% of them carved for validation) and 200 test images."""
    import numpy as np

    path = tmp_path_factory.mktemp("fmnist-npz") / "fmnist-small.npz"
    np.savez(path, x=fmnist.train_x[:1200].numpy(), y=fmnist.train_y[:1200].numpy(), x_test=fmnist.test_x[:200].numpy(),
             y_test=fmnist.test_y[:200].numpy(), classes=np.array(fmnist.classes))  # fmt: skip
    return path


def pytest_configure(config):
    """Compiled IREE modules go to one cache of this run's own (set before the test modules are
    imported, so child processes and module-level copies of os.environ get it too): every module is
    compiled by this run, never taken from an earlier one in ~/.cache, and a module that several
    tests compile (the tiny checkpoint's, the bundle's) is compiled once per run."""
    import os
    import tempfile

    config._explorer_old_cache = os.environ.get("EXPLORER_CACHE")
    config._explorer_cache = tempfile.mkdtemp(prefix="explorer-iree-cache-")
    os.environ["EXPLORER_CACHE"] = config._explorer_cache


def pytest_unconfigure(config):
    import os
    import shutil

    if getattr(config, "_explorer_cache", None) is None:
        return
    shutil.rmtree(config._explorer_cache, ignore_errors=True)
    if config._explorer_old_cache is None:
        os.environ.pop("EXPLORER_CACHE", None)
    else:
        os.environ["EXPLORER_CACHE"] = config._explorer_old_cache


@pytest.fixture(autouse=True)
def _one_thread():
    # tests are small; one thread keeps them predictable next to other jobs on 2 cores
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory, fmnist_small):
    """A real resnet20 checkpoint (Stochastic Depth, 1 short epoch on 2,048 images): 6 gates, 64 configurations."""
    from explorer.training import TrainConfig, train

    # the paper's recipe: one Stochastic-Depth pass per step, half the time of the default's distillation;
    # fmnist_small: the same training images, so the same weights (sha256 compared with the full splits),
    # but the accuracy recorded at the end scored on 500 + 500 images, not 5,000 + 10,000 (twice): half the time
    cfg = TrainConfig.from_recipe("paper", arch="resnet20", epochs=1, limit_train=2048, batch_size=64, lr=0.05)
    return train(cfg, tmp_path_factory.mktemp("tiny") / "resnet20", data=fmnist_small)


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


# -- a throwaway PostgreSQL server ------------------------------------------------------------------


def _pg_bindir():
    import glob
    import shutil
    from pathlib import Path

    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return Path(dirs[-1]) if dirs else None


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server (Debian `postgresql`) on a loopback port, in a temporary cluster
    created here and removed afterwards. Skips when the server is not installed, unless
    EXPLORER_REQUIRE_POSTGRES=1 (set by .ci/run), where its absence fails the test."""
    import os
    import shutil
    import socket
    import subprocess

    bindir = _pg_bindir()
    if bindir is None:
        if os.environ.get("EXPLORER_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (EXPLORER_REQUIRE_POSTGRES=1) but initdb is not installed")
        pytest.skip("PostgreSQL server not installed (apt-get install postgresql)")
    import tempfile
    from pathlib import Path

    root = Path(tempfile.mkdtemp(prefix="explorer-pg-"))  # not under pytest's root-only folder
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as Debian's postgres user
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data, log = root / "data", root / "server.log"
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "explorer", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql+psycopg://explorer@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server, request):
    """A new, empty database on the throwaway server, one per test."""
    import re

    import psycopg

    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:50]
    with psycopg.connect(postgres_server.replace("postgresql+psycopg", "postgresql") + "/postgres",
                         autocommit=True) as con:  # fmt: skip
        con.execute(f"DROP DATABASE IF EXISTS {name}")
        con.execute(f"CREATE DATABASE {name}")
    return f"{postgres_server}/{name}"


@pytest.fixture(scope="session")
def user_net():
    """A user's network the emitter does not know (GELU, 5×5 convolutions, residual blocks in a
    Sequential at features.0, .1 and .3; features.2 changes the shape): the class."""
    import torch.nn as nn

    class Residual(nn.Module):
        def __init__(self, c: int):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 5, padding=2)
            self.act = nn.GELU()

        def forward(self, x):
            return x + self.act(self.conv(x))

    class UserNet(nn.Module):
        """Not a network the emitter knows: GELU, 5×5 convolutions, residual blocks in a Sequential."""

        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.features = nn.Sequential(Residual(8), Residual(8), nn.Conv2d(8, 16, 3, 2, 1), Residual(16))
            self.head = nn.Linear(16, 10)

        def forward(self, x):
            return self.head(self.features(self.stem(x)).mean((2, 3)))

    return UserNet
