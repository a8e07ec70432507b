"""torchvision-layout ResNets and MobileNetV2: torchvision's keys, the gates, skip semantics, MACs."""

from __future__ import annotations

import pytest
import torch

from explorer.evaluators.flops import block_macs
from explorer.models import create_model

# (architecture, state-dict entries, gated blocks, blocks) and a few keys with their shapes, as in
# torchvision's own models (weights saved from torchvision.models.resnet18() etc. have these)
LAYOUT = {
    "tv-resnet18": (122, 5, 8, {"layer1.0.conv1.weight": (64, 64, 3, 3), "layer2.0.downsample.0.weight": (128, 64, 1, 1),
                                "layer4.1.bn2.num_batches_tracked": (), "fc.weight": (1000, 512)}),
    "tv-resnet34": (218, 13, 16, {"layer3.5.conv2.weight": (256, 256, 3, 3), "fc.weight": (1000, 512)}),
    "tv-resnet50": (320, 12, 16, {"layer1.0.downsample.0.weight": (256, 64, 1, 1), "layer1.0.conv3.weight": (256, 64, 1, 1),
                                  "layer4.2.conv2.weight": (512, 512, 3, 3), "fc.weight": (1000, 2048)}),
    "tv-mobilenet_v2": (314, 10, 17, {"features.0.0.weight": (32, 3, 3, 3), "features.1.conv.0.0.weight": (32, 1, 3, 3),
                                      "features.1.conv.1.weight": (16, 32, 1, 1), "features.2.conv.0.0.weight": (96, 16, 1, 1),
                                      "features.17.conv.2.weight": (320, 960, 1, 1), "features.18.0.weight": (1280, 320, 1, 1),
                                      "classifier.1.weight": (1000, 1280)}),
}  # fmt: skip


@pytest.mark.parametrize("arch", LAYOUT)
def test_torchvision_keys_shapes_and_gates(arch):
    entries, gates, blocks, keys = LAYOUT[arch]
    model = create_model(arch, num_classes=1000)
    sd = model.state_dict()
    assert len(sd) == entries and model.num_gates == gates and model.num_blocks == blocks
    assert {k: tuple(sd[k].shape) for k in keys} == keys


def test_mobilenet_v2_gates_the_inverted_residuals_with_identity_shortcuts():
    model = create_model("tv-mobilenet_v2")
    assert [b + 1 for b in model.gated_blocks] == [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]  # features.N


@pytest.mark.parametrize("arch", ["tv-resnet18", "tv-resnet50", "tv-mobilenet_v2"])  # resnet34: resnet18's blocks
def test_a_skipped_block_is_the_identity(arch):
    torch.manual_seed(0)
    model = create_model(arch, num_classes=7).eval()
    x = torch.randn(2, 3, 32, 32)
    skip = [int(i % 3 != 1) for i in range(model.num_gates)]
    with torch.no_grad():
        h = model.stem(x)
        for block, gate in zip(model.blocks, model.gate_of_block):
            h = h if gate >= 0 and not skip[gate] else block(h)
        assert torch.equal(model(x, skip), model.head(h))
        assert not torch.equal(model(x, skip), model(x))  # skipping changed something


@pytest.mark.parametrize("arch,gmacs", [("tv-resnet18", 1.81), ("tv-resnet34", 3.66), ("tv-resnet50", 4.09),
                                        ("tv-mobilenet_v2", 0.30)])  # fmt: skip
def test_macs_at_224_match_torchvisions_published_figures(arch, gmacs):
    fixed, gated = block_macs(create_model(arch, num_classes=1000), (224, 224))
    assert round((fixed + sum(gated)) / 1e9, 2) == gmacs  # torchvision's model table, "GFLOPS" (MACs)
    assert len(gated) == LAYOUT[arch][1] and min(gated) > 0
