"""`flops`: exact multiply-accumulates (MACs) of one batch-1 inference per configuration.

Analytic: every Conv2d and Linear contributes in_channels/groups × k_h × k_w × out_channels ×
out_h × out_w (Linear: in × out) MACs; BatchNorm, ReLU, pooling and the shortcut's zero padding
are not counted. A configuration's MACs are the fixed part (stem, non-gated blocks, head) plus the
MACs of each executed gated block.
"""

from __future__ import annotations

import torch.nn as nn

from explorer.evaluators._base import BaseEvaluator, Subject, register_evaluator
from explorer.skip import SkipConfig


def _conv_out(size: int, conv: nn.Conv2d, dim: int) -> int:
    k, s, p, d = conv.kernel_size[dim], conv.stride[dim], conv.padding[dim], conv.dilation[dim]
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _conv_macs(conv: nn.Conv2d, h: int, w: int) -> tuple[int, int, int]:
    oh, ow = _conv_out(h, conv, 0), _conv_out(w, conv, 1)
    k = conv.kernel_size[0] * conv.kernel_size[1]
    return conv.in_channels // conv.groups * k * conv.out_channels * oh * ow, oh, ow


def block_macs(model: nn.Module, image_hw: tuple[int, int]) -> tuple[int, list[int]]:
    """(MACs that every configuration pays, MACs of each gated block in gate order)."""
    h, w = image_hw
    fixed, h, w = _conv_macs(model.conv1, h, w)
    gated: list[int] = []
    for block, gate in zip(model.blocks, model.gate_of_block):
        m1, h1, w1 = _conv_macs(block.conv1, h, w)
        m2, h, w = _conv_macs(block.conv2, h1, w1)
        if gate >= 0:
            gated.append(m1 + m2)
        else:
            fixed += m1 + m2
    fixed += model.fc.in_features * model.fc.out_features
    return fixed, gated


@register_evaluator
class FlopsEvaluator(BaseEvaluator):
    name = "flops"
    metrics = ("macs",)

    def __init__(self, subject: Subject):
        super().__init__(subject)
        _, h, w = subject.image_shape
        self.fixed, self.per_gate = block_macs(subject.checkpoint.model, (h, w))

    @property
    def context(self) -> str:
        _, h, w = self.subject.image_shape
        return f"input={h}x{w}"

    def macs(self, config: SkipConfig) -> int:
        return self.fixed + sum(m for m, b in zip(self.per_gate, config.bits) if b)

    def evaluate(self, configs: list[SkipConfig]) -> list[dict[str, float]]:
        return [{"macs": float(self.macs(c))} for c in configs]
