"""Many skip configurations per batch, sharing work along common prefixes of gate decisions.

Per mini-batch, the configurations are walked as a prefix tree over the gates, keeping one
activation per depth, so a block runs once for every distinct prefix that executes it instead of
once per configuration. The operations on each path are exactly those of the plain forward pass,
so results equal per-configuration evaluation bit for bit. Accuracy evaluation and BatchNorm
re-estimation both walk this tree; it lives with the model, not the evaluators, so that training
(which re-estimates BatchNorm at its end) needs no search or storage layer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

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
