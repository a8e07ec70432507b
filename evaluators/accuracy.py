"""`accuracy`: top-1 accuracy (fraction 0..1) on the validation split (search) or test split (reporting).

Many configurations are evaluated per pass over the data by sharing work between those with a
common prefix of gate decisions: per mini-batch, the configurations are walked as a prefix tree
over the gates, keeping one activation per depth, so a block runs once for every distinct prefix
that executes it instead of once per configuration. The operations on each path are exactly those
of the plain forward pass, so results equal per-configuration evaluation bit for bit.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from explorer.config import SkipConfig
from explorer.data import iterate_batches
from explorer.errors import DataError
from explorer.evaluators._base import BaseEvaluator, Subject, register_evaluator


def segments(model: nn.Module) -> tuple[list[nn.Module], list[nn.Module], list[list[nn.Module]]]:
    """(blocks before the first gate, gated blocks, non-gated blocks after each gated block)."""
    pre: list[nn.Module] = []
    gated: list[nn.Module] = []
    tails: list[list[nn.Module]] = []
    for block, gate in zip(model.blocks, model.gate_of_block):
        if gate >= 0:
            gated.append(block)
            tails.append([])
        elif gated:
            tails[-1].append(block)
        else:
            pre.append(block)
    return pre, gated, tails


@torch.inference_mode()
def shared_prefix_logits(model: nn.Module, x: torch.Tensor, configs: list[SkipConfig]) -> list[torch.Tensor]:
    """Logits of every configuration for one batch, sharing work along common gate prefixes."""
    pre, gated, tails = segments(model)
    out: list[torch.Tensor | None] = [None] * len(configs)
    h = model.stem(x)
    for block in pre:
        h = block(h)

    def walk(h: torch.Tensor, gate: int, members: list[int]) -> None:
        if gate == len(gated):
            logits = model.head(h)
            for i in members:
                out[i] = logits
            return
        for executes in (0, 1):
            branch = [i for i in members if configs[i].bits[gate] == executes]
            if not branch:
                continue
            h2 = gated[gate](h) if executes else h
            for block in tails[gate]:
                h2 = block(h2)
            walk(h2, gate + 1, branch)

    walk(h, 0, list(range(len(configs))))
    return out  # type: ignore[return-value]


def block_executions(configs: list[SkipConfig]) -> tuple[int, int]:
    """(gated-block runs with prefix sharing, runs without) for one batch: the work saved."""
    prefixes = {tuple(c.bits[: g + 1]) for c in configs for g in range(len(c.bits)) if c.bits[g]}
    return len(prefixes), sum(sum(c.bits) for c in configs)


@register_evaluator
class AccuracyEvaluator(BaseEvaluator):
    name = "accuracy"
    metrics = ("accuracy",)

    def __init__(self, subject: Subject, split: str = "val", limit: int | None = None, batch_size: int = 500):
        super().__init__(subject)
        if split not in ("val", "test"):
            raise DataError(f"accuracy is measured on 'val' (search) or 'test' (reporting), not {split!r}")
        if limit is not None and limit < 1:
            raise DataError(f"--limit must be positive, got {limit}")
        self.split, self.limit, self.batch_size = split, limit, batch_size

    @property
    def context(self) -> str:
        return f"split={self.split};limit={self.limit or 'all'}"

    def evaluate(self, configs: list[SkipConfig]) -> list[dict[str, float]]:
        data = self.subject.data
        x, y = data.split(self.split)
        if self.limit is not None:
            x, y = x[: self.limit], y[: self.limit]
        model = self.subject.checkpoint.model.eval()
        correct = torch.zeros(len(configs), dtype=torch.long)
        for xb, yb in iterate_batches(x, y, self.batch_size, mean=data.mean, std=data.std, channels_last=True):
            for i, logits in enumerate(shared_prefix_logits(model, xb, configs)):
                correct[i] += int((logits.argmax(1) == yb).sum())
        n = max(len(y), 1)
        return [{"accuracy": int(c) / n} for c in correct]
