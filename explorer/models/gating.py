"""What every gated network shares: the skip vector is a model input, one entry per skippable block.

A network lists its residual blocks in order (`blocks`), says which gate each one answers to
(`gate_of_block`: the gate's index, or -1 for a block that always runs, because it changes the
tensor's shape) and splits the rest into `stem` and `head`. Everything downstream (training,
BatchNorm re-estimation, the prefix walk, MACs, the search) only uses this interface.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.skip import check_skip


def he_init(model: nn.Module) -> None:
    """He et al.'s initialisation as torchvision's ResNets use it: Kaiming normal (fan out, ReLU) for
    every convolution, BatchNorm scale 1 and shift 0."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def pool_fc(fc: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """Global average pooling, then the classifier: N×C×H×W → N×classes."""
    return fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _skip_branch(x: torch.Tensor) -> torch.Tensor:
    # torch.cond branches must not return an input alias
    return x.clone()


class GatedNetwork(nn.Module):
    """stem → blocks (each gated or not) → head; a skipped block is exactly the identity.

    In "python" gate mode the gates are plain `if`s (eager, exact); in "cond" mode each one is a
    `torch.cond`, so `torch.export` sees real control flow for compilation."""

    gate_mode = "python"
    gate_of_block: list[int]  # set by the subclass, as is `blocks` (a ModuleList or a list of its blocks)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def head(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # What the IREE emitter needs of the layers around the blocks (deploy/mlir.py); the defaults
    # are the ResNets' (conv1/bn1 → ReLU, fc), MobileNetV2 overrides them.
    activation = "relu"  # after the stem's BatchNorm: "relu" or "relu6"

    def stem_conv_bn(self) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
        """The stem's convolution and its BatchNorm (a max-pool after them is `self.maxpool`)."""
        return self.conv1, self.bn1

    def head_conv_bn(self) -> tuple[nn.Conv2d, nn.BatchNorm2d] | None:
        """A 1×1 convolution with BatchNorm and `activation` between the last block and pooling, if any."""
        return None

    def linear_head(self) -> nn.Linear:
        """The classifier after global average pooling."""
        return self.fc

    @property
    def gated_blocks(self) -> list[int]:
        """Indices (into `blocks`) of the skippable blocks, in gate order."""
        return [b for b, g in enumerate(self.gate_of_block) if g >= 0]

    @property
    def num_gates(self) -> int:
        """B_s: the number of skippable blocks (= entries of the skip vector)."""
        return sum(g >= 0 for g in self.gate_of_block)

    @property
    def num_blocks(self) -> int:
        """L: all residual blocks, gated or not."""
        return len(self.gate_of_block)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | Sequence[int] | str | None = None) -> torch.Tensor:
        """Logits for images x (N×C×H×W); `skip` = None executes every block."""
        if self.gate_mode == "cond":
            return self._forward_cond(x, skip)
        bits = None if skip is None else check_skip(skip, self.num_gates)
        x = self.stem(x)
        for block, gate in zip(self.blocks, self.gate_of_block):
            if gate >= 0 and bits is not None and not bits[gate]:
                continue
            x = block(x)
        return self.head(x)

    def _forward_cond(self, x: torch.Tensor, skip) -> torch.Tensor:
        # Export path: the skip vector is a tensor input and every gate a torch.cond.
        if not isinstance(skip, torch.Tensor):
            skip = torch.tensor(check_skip(skip, self.num_gates), dtype=torch.int32)
        x = self.stem(x)
        for block, gate in zip(self.blocks, self.gate_of_block):
            if gate < 0:
                x = block(x)
            else:
                x = torch.cond(skip[gate] != 0, block, _skip_branch, (x,))
        return self.head(x)
