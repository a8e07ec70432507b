"""`flops`: exact multiply-accumulates (MACs) of one batch-1 inference per configuration.

Exact: every Conv2d and Linear contributes in_channels/groups × k_h × k_w × out_channels ×
out_h × out_w (Linear: in × out) MACs; BatchNorm, ReLU, pooling and the shortcut's zero padding
are not counted. A configuration's MACs are the fixed part (stem, non-gated blocks, head) plus the
MACs of each executed gated block.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from explorer.evaluators._base import BaseEvaluator, Subject, register_evaluator
from explorer.skip import SkipConfig


def _layer_macs(module: nn.Module, out: torch.Tensor) -> int:
    """MACs of one Conv2d or Linear at batch 1, from the shape of its output."""
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size[0] * module.kernel_size[1]
        return module.in_channels // module.groups * k * out.shape[1] * out.shape[2] * out.shape[3]
    return module.in_features * module.out_features


@torch.no_grad()
def block_macs(model: nn.Module, image_hw: tuple[int, int]) -> tuple[int, list[int]]:
    """(MACs that every configuration pays, MACs of each gated block in gate order), read from one
    batch-1 forward pass at full depth with hooks on every Conv2d and Linear (any gated network)."""
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    block_of = {id(m): b for b, block in enumerate(model.blocks) for m in block.modules()}
    per_block = [0] * len(model.gate_of_block)
    fixed = 0

    def count(module, _inputs, out):
        nonlocal fixed
        b = block_of.get(id(module))
        if b is None:
            fixed += _layer_macs(module, out)
        else:
            per_block[b] += _layer_macs(module, out)

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    training = model.training
    try:
        param = next(model.parameters())
        model.eval()  # the probe must not move BatchNorm's running statistics
        model(torch.zeros(1, first.in_channels, *image_hw, dtype=param.dtype, device=param.device))
    finally:
        model.train(training)
        for h in hooks:
            h.remove()
    gated = [per_block[b] for b, g in enumerate(model.gate_of_block) if g >= 0]
    fixed += sum(per_block[b] for b, g in enumerate(model.gate_of_block) if g < 0)
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
