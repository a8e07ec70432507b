"""ResNet-18/34/50 and MobileNetV2 with torchvision's parameter names, gated like our CIFAR ResNets.

A state dict saved from torchvision's `resnet18()` … `mobilenet_v2()` loads here key for key
(written from torchvision's published layout, not importing it: its wheel needs CUDA here). The
skippable blocks are those whose shortcut is the identity (no `downsample`, or MobileNetV2's
`use_res_connect`): skipping one leaves the tensor's shape unchanged, so a skipped block is
exactly the identity. Counts: ResNet-18 5 of 8 blocks, ResNet-34 13 of 16, ResNet-50 12 of 16,
MobileNetV2 10 of 17 inverted residuals (features 3, 5, 6, 8, 9, 10, 12, 13, 15, 16).

`blocks` is a plain list (not a registered ModuleList): the blocks are registered once, under
torchvision's names (layer1.0, features.3, …), so the state dict has exactly torchvision's keys.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.models.gating import GatedNetwork, he_init, pool_fc


class TVBasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); shortcut = downsample or identity."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(self.residual(x) + identity)


class TVBottleneck(nn.Module):
    """ResNet v1.5 bottleneck (stride on the 3×3): 1×1 → 3×3 → 1×1 (×4 channels) + shortcut."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.downsample = downsample
        self.stride = stride

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        return self.bn3(self.conv3(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(self.residual(x) + identity)


class TVResNet(GatedNetwork):
    """torchvision's ResNet: 7×7/2 stem, 3×3/2 max-pool, four stages (64, 128, 256, 512 planes)."""

    data_tiling = True  # compiled with IREE's data tiling (deploy/iree.compile_flags: faster at these widths)

    def __init__(self, block: type, layers: list[int], depth: int, in_channels: int = 3, num_classes: int = 1000):
        super().__init__()
        self.depth = depth
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for stage, (planes, n) in enumerate(zip((64, 128, 256, 512), layers), start=1):
            stride = 1 if stage == 1 else 2
            stage_blocks = []
            for i in range(n):
                s = stride if i == 0 else 1
                downsample = None
                if s != 1 or inplanes != planes * block.expansion:
                    downsample = nn.Sequential(
                        nn.Conv2d(inplanes, planes * block.expansion, 1, s, bias=False),
                        nn.BatchNorm2d(planes * block.expansion),
                    )
                stage_blocks.append(block(inplanes, planes, s, downsample))
                inplanes = planes * block.expansion
            setattr(self, f"layer{stage}", nn.Sequential(*stage_blocks))
        self.fc = nn.Linear(inplanes, num_classes)
        self.blocks = [b for stage in range(1, 5) for b in getattr(self, f"layer{stage}")]
        self.gate_of_block = _gates([b.downsample is None for b in self.blocks])
        he_init(self)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(F.relu(self.bn1(self.conv1(x))))

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return pool_fc(self.fc, x)


def conv_bn_relu6(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """torchvision's Conv2dNormActivation with ReLU6: keys <i>.0.weight (conv), <i>.1.* (BatchNorm)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=False),
    )


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1×1 expand (unless t = 1) → 3×3 depthwise → 1×1 project, + x when
    stride 1 and the channel count is kept (`use_res_connect`)."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.stride = stride
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = [conv_bn_relu6(inp, hidden, 1)] if expand_ratio != 1 else []
        layers += [conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden), nn.Conv2d(hidden, oup, 1, bias=False),
                   nn.BatchNorm2d(oup)]  # fmt: skip
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


# (expansion t, channels c, blocks n, first stride s) per stage: torchvision's default, width 1.0
MOBILENET_V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1))  # fmt: skip


class TVMobileNetV2(GatedNetwork):
    """torchvision's MobileNetV2 (width 1.0): features.0 stem, features.1–17 inverted residuals,
    features.18 1×1 conv to 1280, classifier.1 (after dropout)."""

    depth = None  # no depth number names it
    data_tiling = True  # as TVResNet: 64×64 4.57 → 3.43 ms (docs/benchmarks.md)

    def __init__(self, in_channels: int = 3, num_classes: int = 1000):
        super().__init__()
        features: list[nn.Module] = [conv_bn_relu6(in_channels, 32, 3, 2)]
        cin = 32
        for t, c, n, s in MOBILENET_V2_STAGES:
            for i in range(n):
                features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        features.append(conv_bn_relu6(cin, 1280, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))
        self.blocks = list(self.features)[1:-1]
        self.gate_of_block = _gates([b.use_res_connect for b in self.blocks])
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    activation = "relu6"

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.features[0](x)

    def stem_conv_bn(self) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
        return self.features[0][0], self.features[0][1]

    def head_conv_bn(self) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
        return self.features[-1][0], self.features[-1][1]

    def linear_head(self) -> nn.Linear:
        return self.classifier[1]

    def head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features[-1](x)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _gates(skippable: list[bool]) -> list[int]:
    """gate_of_block from which blocks may be skipped: gates numbered in block order, -1 elsewhere."""
    out, n = [], 0
    for ok in skippable:
        out.append(n if ok else -1)
        n += ok
    return out


def tv_resnet(depth: int, in_channels: int, num_classes: int) -> TVResNet:
    block, layers = {18: (TVBasicBlock, [2, 2, 2, 2]), 34: (TVBasicBlock, [3, 4, 6, 3]),
                     50: (TVBottleneck, [3, 4, 6, 3])}[depth]  # fmt: skip
    return TVResNet(block, layers, depth, in_channels, num_classes)
