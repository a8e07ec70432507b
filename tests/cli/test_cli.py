"""The `explorer` command: help, user errors without tracebacks, and the commands end to end."""

from __future__ import annotations

import pytest
import torch
from cli_run import run

from explorer.checkpoint import save_checkpoint
from explorer.models import create_model


def test_help_lists_every_command_with_its_purpose():
    out = run("--help", check=True).stdout
    for cmd in ("train", "evaluate", "info", "demo", "search", "pareto", "simulate", "serve", "table1"):
        assert cmd in out
    assert "Stochastic Depth" in out
    assert "--sd-pl" in run("train", "--help", check=True).stdout


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, fmnist):
    torch.manual_seed(0)
    model = create_model("resnet20", in_channels=1).eval()
    meta = {
        "arch": "resnet20",
        "in_channels": 1,
        "num_classes": 10,
        "dataset": fmnist.describe(),
        "training": {"sd_pl": 0.5, "method": "stochastic-depth", "epochs": 0, "seed": 0},
        "accuracy": {"val": 0.1, "test": 0.1},
    }
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "c", model, meta)


def test_evaluate_prints_accuracy(ckpt):
    out = run("evaluate", "--checkpoint", str(ckpt), "--skip", "110111", "--limit", "200", check=True).stdout
    assert "skip=110111 val[200]: accuracy" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["--skip", "11011"], "skip vector has 5 entries but the model has 6 skippable blocks"),
        (["--skip", "11x111"], "must contain only '0' and '1'"),
        (["--split", "train2"], "unknown split"),
    ],
)
def test_bad_input_is_one_line_without_traceback(ckpt, args, message):
    proc = run("evaluate", "--checkpoint", str(ckpt), "--limit", "10", *args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args,message",
    [(["train", "--no-such-flag"], "No such option: --no-such-flag"), (["evaluate", "--limit", "ten"], "'--limit'")],
)
def test_command_line_mistakes_are_usage_errors_without_traceback(args, message):
    """typer ≥ 0.29 raises its own copy of click's errors: they still print usage and exit 2."""
    proc = run(*args)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_missing_checkpoint_is_one_clear_error(tmp_path):
    proc = run("evaluate", "--checkpoint", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "no checkpoint at" in proc.stderr and "Traceback" not in proc.stderr


def test_info_shows_the_metadata(ckpt):
    out = run("info", "--checkpoint", str(ckpt), check=True).stdout
    assert "resnet20" in out and "fashion-mnist" in out and "6 gates" in out


def test_train_creates_checkpoint_from_the_command_line(tmp_path, fmnist_npz):
    # a small npz of real Fashion-MNIST images: on the full data set, scoring 15,000 validation and
    # test images several times over cost far more than the training itself
    out = tmp_path / "x"
    run("train", "--arch", "resnet14", "--epochs", "1", "--limit-train", "256", "--batch-size", "64", "--dataset",
        "npz", "--data-dir", str(fmnist_npz), "--out", str(out), check=True)  # fmt: skip
    assert (out / "model.safetensors").is_file() and (out / "metadata.json").is_file()
    proc = run("train", "--arch", "resnet14", "--epochs", "1", "--out", str(out))
    assert proc.returncode == 2 and "--resume" in proc.stderr


def test_demo_runs_on_a_given_checkpoint(ckpt, tmp_path):
    db = f"sqlite:///{tmp_path}/demo.db"
    out = run(
        "demo", "--checkpoint", str(ckpt), "--limit", "100", "--db", db, "--bundle", str(tmp_path / "b"), check=True
    ).stdout
    assert "111111" in out and "011111" in out and "111110" in out
    assert "Pareto front" in out and f"explorer pareto --db {db}" in out
    assert "test image 0 →" in out and "iree-run-module --module=" in out
    assert (tmp_path / "b" / "pareto.bin").is_file() and (tmp_path / "b" / "model.vmfb").is_file()
    assert "Table I row" in out and "Original" in out and "Ours (Algorithm 1)" in out and "effective %" in out
    # the demo shows the front with BatchNorm statistics re-estimated per configuration, and ships them
    assert "BatchNorm statistics re-estimated per configuration on 500 training images" in out
    from explorer.deploy.bundle import read_bundle

    assert read_bundle(tmp_path / "b").bn_values
    # the same database after a change of settings (here the images per evaluation; an upgrade of
    # the module or of IREE does the same): the old study is kept, the demo runs beside it
    again = run(
        "demo", "--checkpoint", str(ckpt), "--limit", "50", "--db", db, "--bundle", str(tmp_path / "b2"), check=True
    ).stdout
    assert "measured with other settings: using demo-" in again and "Pareto front" in again
