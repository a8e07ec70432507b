"""CIFAR-style ResNet (He et al. 2016) of depth 6n+2 with weightless gates on skippable blocks.

Three stages of n basic blocks each (16, 32, 64 channels); the shortcut of a block that changes
shape is parameter-free ("option A": stride-2 subsampling and zero channels), so a skipped
block is exactly the identity and a dropped block in Stochastic Depth training is too.

Skippable blocks are all but the first block of each stage: B_s = 3n − 3 gates, in block
order. `forward(x, skip)` takes a length-B_s vector, 1 = execute, 0 = skip (models/gating.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.errors import ConfigError
from explorer.models.gating import GatedNetwork, he_init, pool_fc


class BasicBlock(nn.Module):
    """relu(shortcut(x) + bn2(conv2(relu(bn1(conv1(x))))))."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        self.extra_channels = planes - in_planes

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra_channels:
            half = self.extra_channels // 2
            x = F.pad(x, (0, 0, 0, 0, half, self.extra_channels - half))
        return x

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.shortcut(x) + self.residual(x))


class GatedResNet(GatedNetwork):
    """CIFAR ResNet whose skippable blocks are gated by an input skip vector."""

    def __init__(
        self,
        depth: int,
        in_channels: int = 3,
        num_classes: int = 10,
        widths: Sequence[int] = (16, 32, 64),
    ):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ConfigError(f"ResNet depth must be 6n+2 with n ≥ 1 (20, 32, 44, 56, 110, …), got {depth}")
        n = (depth - 2) // 6
        self.depth = depth
        self.blocks_per_stage = n
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        blocks: list[BasicBlock] = []
        gate_of_block: list[int] = []
        in_planes = widths[0]
        for stage, planes in enumerate(widths):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(in_planes, planes, stride))
                in_planes = planes
                # first block of each stage is never gated: it sets the stage's shape
                gate_of_block.append(-1 if i == 0 else sum(g >= 0 for g in gate_of_block))
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(in_planes, num_classes)
        self.gate_of_block = gate_of_block
        he_init(self)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn1(self.conv1(x)))

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return pool_fc(self.fc, x)
