"""torchvision's layouts through our emitter: max-pool stem, projection shortcuts, bottlenecks, 1×1
convolutions, depthwise convolutions with ReLU6 compile to one IREE module that equals PyTorch for
every configuration tried."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from explorer.bn import BNStats, bn_layers
from explorer.checkpoint import load_checkpoint, save_checkpoint
from explorer.deploy.iree import IreeModule, compile_checkpoint
from explorer.deploy.mlir import resnet_to_mlir
from explorer.errors import ConfigError
from explorer.models import create_model


def checkpoint(tmp_path, arch: str, size: int):
    """Random weights with non-trivial BatchNorm statistics (numerics need no training)."""
    torch.manual_seed(0)
    model = create_model(arch, in_channels=3, num_classes=10)
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    meta = {"arch": arch, "in_channels": 3, "num_classes": 10, "dataset": {"name": "npz", "image_size": [size, size]}}
    return load_checkpoint(save_checkpoint(tmp_path / arch, model.eval(), meta))


def configs(g: int) -> list[str]:
    return ["1" * g, "0" * g, ("10" * g)[:g], ("011" * g)[:g], ("1100" * g)[:g]]


@pytest.mark.parametrize("arch,bn_input", [("tv-resnet18", False), ("tv-resnet50", True), ("tv-mobilenet_v2", False)])
def test_torchvision_layout_module_matches_pytorch(tmp_path, arch, bn_input):
    ckpt = checkpoint(tmp_path, arch, 32)
    model, g = ckpt.model, ckpt.num_gates
    fast = [configs(g)[2]]
    module = IreeModule(compile_checkpoint(ckpt, "host", bn_input=bn_input, fast_paths=fast, cache=False))
    x = torch.randn(3, 3, 32, 32)
    stats = None
    if bn_input:  # other statistics than the weights': the module must use the input's
        gen = torch.Generator().manual_seed(1)
        layers = [m for _, m in bn_layers(model)]
        for m in layers:
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
        new = BNStats(
            torch.cat([m.running_mean for m in layers]).numpy(), torch.cat([m.running_var for m in layers]).numpy()
        )
        stats = np.concatenate(new.scale_shift(model))  # the %bn input: every scale, then every shift
    for bits in configs(g):
        skip = np.array([int(c) for c in bits], dtype=np.int32)
        for i in range(len(x)):
            with torch.no_grad():
                ref = model(x[i : i + 1], bits).numpy()
            got = module(x[i : i + 1].permute(0, 2, 3, 1).contiguous().numpy(), skip, stats)
            # within 1e-4 of eager, relative to the logits' size (a deep random network's reach 50)
            assert np.abs(got - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max()), (bits, i)


def test_a_network_the_emitter_does_not_know_is_one_clear_error():
    with pytest.raises(ConfigError, match="a Sequential is not emitted"):
        resnet_to_mlir(nn.Sequential(nn.Conv2d(3, 8, 3)).eval(), (32, 32))
