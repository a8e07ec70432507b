"""Checkpoints round-trip exactly and every kind of damage is one clear CheckpointError."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from explorer.checkpoint import METADATA_FILE, WEIGHTS_FILE, load_checkpoint, read_metadata, save_checkpoint, sha256_of
from explorer.errors import CheckpointError
from explorer.models import create_model


def _meta(arch="resnet20", in_channels=1, num_classes=10):
    return {
        "arch": arch,
        "in_channels": in_channels,
        "num_classes": num_classes,
        "dataset": {"name": "fashion-mnist", "mean": [0.286], "std": [0.353]},
        "accuracy": {"val": 0.5, "test": 0.5},
    }


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = create_model("resnet20", in_channels=1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
    model.eval()
    return model, save_checkpoint(tmp_path / "ckpt", model, _meta())


def test_round_trip_is_exact(saved):
    model, path = saved
    ckpt = load_checkpoint(path)
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(ckpt.model(x, "101101"), model(x, "101101"))
    assert ckpt.sha256 == sha256_of(path / WEIGHTS_FILE)
    assert ckpt.num_gates == 6 and ckpt.mean == (0.286,) and not ckpt.model.training
    # either file of the checkpoint names it too
    assert load_checkpoint(path / METADATA_FILE).sha256 == ckpt.sha256
    assert load_checkpoint(path / WEIGHTS_FILE).sha256 == ckpt.sha256


def test_loading_never_unpickles(saved):
    _, path = saved
    assert (path / WEIGHTS_FILE).read_bytes()[8:9] == b"{"  # safetensors: length + JSON header, no pickle
    json.loads((path / METADATA_FILE).read_text())


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at .*nowhere.*explorer train"):
        load_checkpoint(tmp_path / "nowhere")


def test_flipped_byte_in_weights_fails_the_hash(saved):
    _, path = saved
    w = path / WEIGHTS_FILE
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="model.safetensors does not match the sha256"):
        load_checkpoint(path)


def test_truncated_weights_are_reported_even_with_a_matching_hash(saved):
    _, path = saved
    w = path / WEIGHTS_FILE
    w.write_bytes(w.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        load_checkpoint(path)
    meta = json.loads((path / METADATA_FILE).read_text())
    meta["weights_sha256"] = sha256_of(w)
    (path / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(path)


def test_corrupt_metadata(saved):
    _, path = saved
    (path / METADATA_FILE).write_text('{"format": "skip-explorer-checkpoint", "arch": ')
    with pytest.raises(CheckpointError, match="metadata.json is not valid JSON"):
        load_checkpoint(path)
    (path / METADATA_FILE).write_text('{"hello": 1}')
    with pytest.raises(CheckpointError, match="not skip-explorer checkpoint metadata"):
        read_metadata(path)
    (path / METADATA_FILE).unlink()
    with pytest.raises(CheckpointError, match="metadata.json is missing"):
        load_checkpoint(path)


def test_missing_metadata_fields(saved):
    _, path = saved
    meta = json.loads((path / METADATA_FILE).read_text())
    del meta["weights_sha256"], meta["arch"]
    (path / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="lacks arch, weights_sha256"):
        load_checkpoint(path)


def test_newer_format_asks_for_an_upgrade(saved):
    _, path = saved
    meta = json.loads((path / METADATA_FILE).read_text())
    meta["format_version"] = 99
    (path / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="format version 99.*upgrade"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("arch", "resnet56", "does not fit a resnet56"),
        ("num_classes", 100, "100 classes"),
        ("arch", "resnet21", "6n\\+2"),
        ("num_gates", 9, "records num_gates 9, but a resnet20 has 6"),
        ("num_blocks", 4, "records num_blocks 4, but a resnet20 has 9"),
    ],
)
def test_metadata_that_does_not_match_the_weights(saved, field, value, match):
    _, path = saved
    meta = json.loads((path / METADATA_FILE).read_text())
    meta[field] = value
    (path / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path)


def test_same_weights_give_the_same_file_hash_in_every_process(tmp_path):
    # the sha256 names a checkpoint in studies and compile caches: it must not depend on the process
    # (safetensors writes its metadata map in hash order, which varies from process to process)
    script = (
        "import sys, torch\n"
        "from explorer.checkpoint import save_checkpoint\n"
        "from explorer.models import create_model\n"
        "torch.manual_seed(0)\n"
        "m = create_model('resnet14', in_channels=1)\n"
        "meta = {'arch': 'resnet14', 'in_channels': 1, 'num_classes': 10,\n"
        "        'dataset': {'name': 'fashion-mnist', 'mean': [0.286], 'std': [0.353]}}\n"
        "save_checkpoint(sys.argv[1], m, meta)\n"
    )
    hashes = set()
    for k in range(4):
        out = tmp_path / f"c{k}"
        subprocess.run(
            [sys.executable, "-c", script, str(out)], check=True, env={**os.environ, "PYTHONHASHSEED": str(k)}
        )
        hashes.add(sha256_of(out / WEIGHTS_FILE))
    assert len(hashes) == 1
