"""SkipNet: learned per-image gates over the same skippable blocks, trained, compiled to IREE."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from explorer.checkpoint import load_checkpoint
from explorer.data import normalize
from explorer.deploy.bundle import BundleError
from explorer.errors import TrainingError
from explorer.models import create_model
from explorer.skipnet.model import SkipNet
from explorer.skipnet.training import SkipNetConfig, train_skipnet


def _half_open(model: SkipNet, x: torch.Tensor) -> SkipNet:
    """Set every gate's bias so that about half of the images in x execute its block."""
    model.eval()
    with torch.no_grad():
        h = model.base.stem(x)
        for block, gate in zip(model.base.blocks, model.base.gate_of_block):
            if gate >= 0:
                logits = model.gates[gate](h)
                model.gates[gate].fc.bias -= logits.median() + 1e-4
            h = block(h)
    return model


def test_gates_decide_per_image_and_equal_the_resnet_with_that_skip_vector(fmnist):
    torch.manual_seed(0)
    model = create_model("skipnet20", in_channels=1)
    x = normalize(fmnist.test_x[:64], fmnist.mean, fmnist.std)
    _half_open(model, x)
    with torch.no_grad():
        logits = model(x)
    executed = model.last_executed
    assert executed.shape == (64, 6)
    assert len({tuple(r.tolist()) for r in executed}) > 4  # different images, different blocks
    with torch.no_grad():
        for i in range(0, 64, 7):
            bits = [int(v) for v in executed[i]]
            assert torch.allclose(model.base(x[i : i + 1], bits), logits[i : i + 1], atol=1e-5)
    with pytest.raises(ValueError, match="no skip vector"):
        model(x, [1] * 6)


def test_iree_module_makes_the_same_decisions_and_logits(fmnist, tmp_path):
    from explorer.checkpoint import save_checkpoint
    from explorer.deploy.iree import IreeModule, compile_checkpoint

    torch.manual_seed(1)
    model = create_model("skipnet20", in_channels=1)
    x = normalize(fmnist.test_x[:40], fmnist.mean, fmnist.std)
    _half_open(model, x)
    meta = {"arch": "skipnet20", "in_channels": 1, "num_classes": 10,
            "dataset": {**fmnist.describe(), "image_size": [28, 28]}}  # fmt: skip
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "sk", model, meta))
    module = IreeModule(compile_checkpoint(ckpt, "host", cache=False))
    with torch.no_grad():
        ref = model.eval()(x)
    ref_exec = model.last_executed.numpy().astype(np.int32)
    for i in range(len(x)):
        logits, executed = module.skipnet(x[i : i + 1].permute(0, 2, 3, 1).contiguous().numpy())
        assert np.array_equal(executed, ref_exec[i])
        np.testing.assert_allclose(logits, ref[i : i + 1].numpy(), atol=1e-4)
    assert 0 < ref_exec.mean() < 1


@pytest.mark.slow
def test_training_learns_to_skip_and_exports_a_profile(tiny_ckpt, fmnist, fmnist_small, tmp_path):
    from explorer.skipnet.runtime import PROFILE, SkipNetRuntime, export_skipnet

    # validation and test cut to 500 images: scoring each epoch on the full 5,000 + 10,000 was most of the time
    cfg = SkipNetConfig(init=str(tiny_ckpt), epochs=3, sp_epochs=1, alpha=2.0, limit_train=1536)
    out = train_skipnet(cfg, tmp_path / "sk", data=fmnist_small)
    ckpt = load_checkpoint(out)
    assert isinstance(ckpt.model, SkipNet) and ckpt.meta["training"]["method"] == "skipnet"
    assert [h["stage"] for h in ckpt.meta["training"]["history"]] == ["sp", "hybrid", "hybrid"]
    assert ckpt.meta["skipnet"]["test_executed"] < 1.0  # the computation penalty closed gates
    with pytest.raises(TrainingError, match="--resume.*--force"):
        train_skipnet(cfg, out, data=fmnist)
    with pytest.raises(TrainingError, match="SkipNet already"):
        train_skipnet(SkipNetConfig(init=str(out)), tmp_path / "again", data=fmnist)

    folder = export_skipnet(out, tmp_path / "bundle", images=30, reps=1)
    prof = json.loads((folder / PROFILE).read_text())
    assert prof["images"] == 30 and len(prof["per_image"]["latency_ms"]) == 30
    assert prof["latency_ms"]["max_over_min"] >= 1.0
    rt = SkipNetRuntime.load(folder)
    from explorer.runtime.energy import get_profile
    from explorer.runtime.workloads import make_workload

    s = rt.run(make_workload("paper", 50, 1.0, 0), get_profile(None), seed=0)
    assert s["requests"] == 50 and s["processed"] + s["dropped"] == 50
    (folder / PROFILE).write_text("{}")
    with pytest.raises(BundleError, match="export-skipnet"):
        SkipNetRuntime.load(folder)
