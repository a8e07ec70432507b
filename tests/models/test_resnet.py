"""The gated ResNet: gates are weightless, exact, and validated."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.errors import ConfigError
from explorer.models import GatedResNet, create_model
from explorer.skip import check_skip


class PlainBlock(nn.Module):
    """An independent CIFAR ResNet basic block (option-A shortcut), written without gates."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, cout - cin

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        sc = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.pad:
            sc = F.pad(sc, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + sc)


class PlainResNet(nn.Module):
    def __init__(self, depth, in_channels=3, num_classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for stage, cout in enumerate((16, 32, 64)):
            for i in range(n):
                blocks.append(PlainBlock(cin, cout, 2 if stage and i == 0 else 1))
                cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for b in self.blocks:
            x = b(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def randomized(model: nn.Module) -> nn.Module:
    """Give BatchNorm non-trivial running statistics and affine parameters, then eval mode."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


@pytest.mark.parametrize("depth,gates", [(20, 6), (32, 12), (56, 24), (110, 51)])
def test_gate_count_is_blocks_minus_stages(depth, gates):
    model = create_model(f"resnet{depth}")
    assert model.num_gates == gates == model.num_blocks - 3
    # the first block of each stage is never gated
    n = (depth - 2) // 6
    assert [model.gate_of_block[s * n] for s in range(3)] == [-1, -1, -1]


@pytest.mark.parametrize("depth", [20, 56])
def test_gates_add_zero_parameters(depth):
    gated = create_model(f"resnet{depth}", in_channels=3, num_classes=10)
    plain = PlainResNet(depth)
    assert sum(p.numel() for p in gated.parameters()) == sum(p.numel() for p in plain.parameters())
    assert set(gated.state_dict()) == set(plain.state_dict())
    if depth == 20:
        assert sum(p.numel() for p in gated.parameters()) == 269_722  # He et al.'s 0.27M


def test_all_ones_equals_ungated_forward_exactly():
    torch.manual_seed(0)
    gated = randomized(create_model("resnet20", in_channels=1))
    plain = PlainResNet(20, in_channels=1).eval()
    plain.load_state_dict(gated.state_dict())
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        ref = plain(x)
        assert torch.equal(gated(x, [1] * 6), ref)
        assert torch.equal(gated(x, torch.ones(6, dtype=torch.int32)), ref)
        assert torch.equal(gated(x), ref)


@pytest.mark.parametrize("gate", range(6))
def test_skipping_block_k_equals_model_without_block_k(gate):
    torch.manual_seed(0)
    gated = randomized(create_model("resnet20", in_channels=1))
    plain = PlainResNet(20, in_channels=1).eval()
    plain.load_state_dict(gated.state_dict())
    block = gated.gated_blocks[gate]
    removed = copy.deepcopy(plain)
    removed.blocks = nn.ModuleList([b for i, b in enumerate(plain.blocks) if i != block])
    bits = [1] * 6
    bits[gate] = 0
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        out = gated(x, bits)
        assert torch.equal(out, removed(x))
        assert not torch.allclose(out, plain(x))


def test_skipping_every_gate_leaves_only_stage_heads():
    torch.manual_seed(0)
    gated = randomized(create_model("resnet56", in_channels=1))
    plain = PlainResNet(56, in_channels=1).eval()
    plain.load_state_dict(gated.state_dict())
    plain.blocks = nn.ModuleList([plain.blocks[i] for i in (0, 9, 18)])
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(gated(x, [0] * 24), plain(x))


@pytest.mark.parametrize(
    "bad",
    [[1] * 5, [1] * 7, [1, 1, 2, 1, 1, 1], [1, 1, -1, 1, 1, 1], "11011", "11a111", [0.5] * 6, torch.ones(2, 3)],
)
def test_bad_skip_vector_is_a_clear_error(bad):
    model = create_model("resnet20")
    with pytest.raises(ConfigError, match="skip"):
        model(torch.randn(1, 3, 32, 32), bad)


def test_skip_vector_forms_agree():
    assert check_skip("110111", 6) == [1, 1, 0, 1, 1, 1]
    assert check_skip(torch.tensor([1, 1, 0, 1, 1, 1]), 6) == [1, 1, 0, 1, 1, 1]
    assert check_skip((True, False, True, True, True, True), 6) == [1, 0, 1, 1, 1, 1]
    with pytest.raises(ConfigError, match="6 skippable blocks"):
        check_skip("1101", 6)


@pytest.mark.parametrize("depth", [0, 7, 21, 100])
def test_depth_must_be_6n_plus_2(depth):
    with pytest.raises(ConfigError, match="6n\\+2"):
        GatedResNet(depth)


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown architecture"):
        create_model("vgg16")


def test_cond_gates_match_python_gates_and_export_as_control_flow():
    torch.manual_seed(0)
    model = randomized(create_model("resnet20", in_channels=1))
    x = torch.randn(2, 1, 28, 28)
    configs = [[1] * 6, [0] * 6, [1, 0, 1, 0, 1, 0], [0, 1, 1, 1, 1, 0]]
    with torch.no_grad():
        expected = [model(x, c) for c in configs]
        model.gate_mode = "cond"
        for c, ref in zip(configs, expected):
            assert torch.allclose(model(x, torch.tensor(c, dtype=torch.int32)), ref, atol=1e-6)
    exported = torch.export.export(model, (x, torch.ones(6, dtype=torch.int32)))
    conds = [n for n in exported.graph.nodes if n.op == "call_function" and "cond" in str(n.target)]
    assert len(conds) == 6
    out = exported.module()(x, torch.tensor(configs[2], dtype=torch.int32))
    assert torch.allclose(out, expected[2], atol=1e-5)
