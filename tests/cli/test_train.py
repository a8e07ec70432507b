"""`explorer train` on a user's own small images: data-dependent defaults and augmentation warnings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from explorer.training import RECIPES

ENV = {**os.environ, "COLUMNS": "200"}


def train(*args):
    proc = subprocess.run(
        [sys.executable, "-m", "explorer.cli", "train", "--arch", "resnet8", "--epochs", "1", "--batch-size", "32",
         "--threads", "1", "--bn-recal", "0", *args],
        capture_output=True, text=True, env=ENV, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_small_images_get_a_scaled_crop_a_tenth_for_validation_and_a_flip_warning(tmp_path, make_npz):
    npz = make_npz(tmp_path / "digits.npz", n=240)  # 240 training images of 8×8 (and a test part of 40)
    out = train("--dataset", "npz", "--data-dir", str(npz), "--out", str(tmp_path / "c"))
    training = json.loads((tmp_path / "c" / "metadata.json").read_text())["training"]
    assert training["crop_padding"] == 1  # 1/8 of 8 pixels, not the CIFAR recipe's 4
    assert training["val_size"] == 24  # 10% of the 240 training images
    assert "horizontal flips are on for your own data set" in out and "--no-flip" in out
    recipe = {k: training[k] for k in ("schedule", "sd_scope", "rule")}
    assert recipe == RECIPES["skip"]  # the recipe study's winner is the default


def test_recipe_paper_trains_as_the_paper_and_explicit_options_win(tmp_path, make_npz):
    npz = make_npz(tmp_path / "digits.npz", n=64)
    train("--dataset", "npz", "--data-dir", str(npz), "--no-flip", "--recipe", "paper", "--schedule", "cosine",
          "--out", str(tmp_path / "c"))  # fmt: skip
    training = json.loads((tmp_path / "c" / "metadata.json").read_text())["training"]
    assert (training["schedule"], training["sd_scope"], training["rule"]) == ("cosine", "all", "sd")


def test_no_flip_keeps_the_crop_and_a_large_padding_is_warned_about(tmp_path, make_npz):
    npz = make_npz(tmp_path / "digits.npz")
    out = train("--dataset", "npz", "--data-dir", str(npz), "--no-flip", "--crop-padding", "4",
                "--out", str(tmp_path / "c"))  # fmt: skip
    training = json.loads((tmp_path / "c" / "metadata.json").read_text())["training"]
    assert training["augment"] is True and training["flip"] is False and training["crop_padding"] == 4
    assert "horizontal flips" not in out
    assert "--crop-padding 4 shifts 8×8 images by up to 50% of their side" in out
