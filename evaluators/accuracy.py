"""`accuracy`: top-1 accuracy (fraction 0..1) on the validation split (search) or test split (reporting).

Many configurations are evaluated per pass over the data by sharing work between those with a
common prefix of gate decisions: per mini-batch, the configurations are walked as a prefix tree
over the gates, keeping one activation per depth, so a block runs once for every distinct prefix
that executes it instead of once per configuration. The operations on each path are exactly those
of the plain forward pass, so results equal per-configuration evaluation bit for bit.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn as nn

from explorer.data import iterate_batches
from explorer.errors import DataError
from explorer.evaluators._base import BaseEvaluator, Subject, register_evaluator
from explorer.skip import SkipConfig


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


def walk_configs(
    model: nn.Module,
    x: torch.Tensor,
    configs: list[SkipConfig],
    enter: Callable[[tuple[int, ...]], None] | None = None,
) -> list[torch.Tensor]:
    """Logits of every configuration for one batch, sharing work along common gate prefixes.

    `enter(prefix)` is called before the blocks that depend on exactly the gate decisions in
    `prefix` run: () before the stem, then (b0,), (b0, b1), … for gated block g and the non-gated
    blocks after it. BatchNorm re-estimation uses it to record or apply per-prefix statistics.
    """
    pre, gated, tails = segments(model)
    out: list[torch.Tensor | None] = [None] * len(configs)
    if enter:
        enter(())
    h = model.stem(x)
    for block in pre:
        h = block(h)

    def walk(h: torch.Tensor, gate: int, members: list[int], prefix: tuple[int, ...]) -> None:
        if gate == len(gated):
            logits = model.head(h)
            for i in members:
                out[i] = logits
            return
        for executes in (0, 1):
            branch = [i for i in members if configs[i].bits[gate] == executes]
            if not branch:
                continue
            key = prefix + (executes,)
            if enter:
                enter(key)
            h2 = gated[gate](h) if executes else h
            for block in tails[gate]:
                h2 = block(h2)
            walk(h2, gate + 1, branch, key)

    walk(h, 0, list(range(len(configs))), ())
    return out  # type: ignore[return-value]


@torch.inference_mode()
def shared_prefix_logits(model: nn.Module, x: torch.Tensor, configs: list[SkipConfig]) -> list[torch.Tensor]:
    """Logits of every configuration for one batch (the model's own BatchNorm statistics)."""
    return walk_configs(model, x, configs)


def block_executions(configs: list[SkipConfig]) -> tuple[int, int]:
    """(gated-block runs with prefix sharing, runs without) for one batch: the work saved."""
    prefixes = {tuple(c.bits[: g + 1]) for c in configs for g in range(len(c.bits)) if c.bits[g]}
    return len(prefixes), sum(sum(c.bits) for c in configs)


@register_evaluator
class AccuracyEvaluator(BaseEvaluator):
    """Top-1 accuracy; with `bn_recal=N`, each configuration is evaluated with BatchNorm statistics
    re-estimated for it on N seeded training images (`accuracy`), next to the stock statistics
    (`accuracy_plain`), and its statistics are returned for storage (`bn_stats`, bytes)."""

    name = "accuracy"
    metrics = ("accuracy",)
    artifact = "bn_stats"

    def __init__(
        self,
        subject: Subject,
        split: str = "val",
        limit: int | None = None,
        batch_size: int = 500,
        bn_recal: int = 0,
        bn_seed: int = 0,
    ):
        super().__init__(subject)
        if split not in ("val", "test"):
            raise DataError(f"accuracy is measured on 'val' (search) or 'test' (reporting), not {split!r}")
        if limit is not None and limit < 1:
            raise DataError(f"--limit must be positive, got {limit}")
        if bn_recal < 0 or bn_recal == 1:
            raise DataError(f"--bn-recal must be 0 (off) or at least 2 images, got {bn_recal}")
        self.split, self.limit, self.batch_size = split, limit, batch_size
        self.bn_recal, self.bn_seed = bn_recal, bn_seed

    @property
    def context(self) -> str:
        ctx = f"split={self.split};limit={self.limit or 'all'}"
        return ctx + (f";bn_recal={self.bn_recal};bn_seed={self.bn_seed}" if self.bn_recal else "")

    def evaluate(self, configs: list[SkipConfig]) -> list[dict]:
        data = self.subject.data
        x, y = data.split(self.split)
        if self.limit is not None:
            x, y = x[: self.limit], y[: self.limit]
        model = self.subject.checkpoint.model.eval()
        table = recal_model = None
        if self.bn_recal:
            from explorer.bn import calibration_images, reestimate_table

            images = calibration_images(data, self.bn_recal, self.bn_seed)
            table = reestimate_table(model, images, configs, mean=data.mean, std=data.std)
            recal_model = copy.deepcopy(model).eval()
        correct = torch.zeros(len(configs), dtype=torch.long)
        plain = torch.zeros(len(configs), dtype=torch.long)
        with torch.inference_mode():
            for xb, yb in iterate_batches(x, y, self.batch_size, mean=data.mean, std=data.std, channels_last=True):
                for i, logits in enumerate(walk_configs(model, xb, configs)):
                    plain[i] += int((logits.argmax(1) == yb).sum())
                if table is not None:
                    for i, logits in enumerate(walk_configs(recal_model, xb, configs, table.applier(recal_model))):
                        correct[i] += int((logits.argmax(1) == yb).sum())
        n = max(len(y), 1)
        if table is None:
            return [{"accuracy": int(c) / n} for c in plain]
        return [
            {"accuracy": int(c) / n, "accuracy_plain": int(p) / n, "bn_stats": table.stats(cfg).to_bytes()}
            for c, p, cfg in zip(correct, plain, configs)
        ]
