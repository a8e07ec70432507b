"""SkipNet (Wang et al. 2018): the baseline with learned, input-dependent gates.

Each skippable block (the same blocks our skip vector gates) gets a feed-forward gate that reads
the block's input and decides per image whether to execute it:

- FFGate-I (resnet20): max-pool 2×2, 3×3 conv + BN + ReLU, 3×3 conv (stride 2) + BN + ReLU,
  global average pool, 1×1 conv → one logit;
- FFGate-II (deeper models): the same without the max-pool.

The block runs when sigmoid(logit) > 0.5, i.e. logit > 0. In training the gate is soft
(`mode="soft"`: the residual scaled by the probability, supervised pre-training) or hard in the
forward pass with a constant gradient slope (`mode="st"`, straight-through, used with the
computation penalty of the hybrid loss; `surrogate` holds those differentiable decisions).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.models.resnet import GatedResNet


class FFGate(nn.Module):
    def __init__(self, channels: int, maxpool: bool):
        super().__init__()
        self.maxpool = maxpool
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.fc = nn.Conv2d(channels, 1, 1)
        nn.init.constant_(self.fc.bias, 1.0)  # start open: the pre-trained ResNet executes every block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate logit per image (N,); the block executes where it is > 0."""
        if self.maxpool:
            x = F.max_pool2d(x, 2)
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1)).flatten()


class SkipNet(nn.Module):
    """A GatedResNet whose gated blocks are switched by FFGates; `forward(x)` → logits, and
    `last_executed` (N × gates, 1 = executed) after an inference."""

    def __init__(self, base: GatedResNet, gate_type: str | None = None):
        super().__init__()
        self.base = base
        self.gate_type = gate_type or ("I" if base.depth <= 20 else "II")
        widths = [base.blocks[b].conv1.in_channels for b in base.gated_blocks]
        self.gates = nn.ModuleList(FFGate(c, self.gate_type == "I") for c in widths)
        self.mode = "hard"
        self.last_executed: torch.Tensor | None = None
        self.last_probs: torch.Tensor | None = None

    # the attributes the rest of the package reads from a model
    @property
    def depth(self) -> int:
        return self.base.depth

    @property
    def num_gates(self) -> int:
        return self.base.num_gates

    @property
    def num_blocks(self) -> int:
        return self.base.num_blocks

    @property
    def gated_blocks(self) -> list[int]:
        return self.base.gated_blocks

    def forward(self, x: torch.Tensor, skip=None) -> torch.Tensor:
        if skip is not None:
            raise ValueError("SkipNet decides its own gates: it takes no skip vector")
        b = self.base
        h = b.stem(x)
        executed, probs = [], []
        self.surrogate: list[torch.Tensor] = []
        for block, gate in zip(b.blocks, b.gate_of_block):
            if gate < 0:
                h = block(h)
                continue
            logit = self.gates[gate](h)
            p = torch.sigmoid(logit)
            hard = (logit > 0).to(h.dtype)
            probs.append(p)
            executed.append(hard)
            if self.mode == "hard":
                # gated blocks keep the shape, so skipping is the identity
                h = torch.where(hard.view(-1, 1, 1, 1) > 0, block(h), h)
            else:
                # straight-through: the hard decision forward, a constant slope (the sigmoid's at 0)
                # backward, so gates that the soft stage pushed far open can still learn to close
                s = 0.25 * logit
                g = p if self.mode == "soft" else hard + s - s.detach()
                self.surrogate.append(g)
                h = F.relu(block.shortcut(h) + g.view(-1, 1, 1, 1) * block.residual(h))
        self.last_executed = torch.stack(executed, 1).detach()
        self.last_probs = torch.stack(probs, 1)
        return b.head(h)
