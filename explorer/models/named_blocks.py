"""Gates for any `nn.Module`: the user names its skippable blocks, the skip vector becomes an input.

    gated = gate_blocks(model, ["layer1.1", "layer2.1", "layer3.1"])
    logits = gated(images, skip=[1, 0, 1])      # layer2.1 skipped: its output is its input

For networks the IREE emitter does not know (explorer/deploy/mlir.py builds the CIFAR ResNets,
torchvision's ResNets and MobileNetV2); `deploy/onnx_route.py` compiles them, more slowly. A named
block must be a whole residual block: skipping it replaces its output by its input, so its
output has its input's shape (checked on every eager call). Gate k is the k-th name given.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn as nn

from explorer.errors import ConfigError
from explorer.models.gating import _skip_branch
from explorer.skip import check_skip


class _GateState:
    """What every gate of one network reads during a call (a plain object, not a module: it holds
    no weights and must not appear in the state dict): the skip bits of an eager call (a list), or
    the skip tensor bound for export (each gate then a `torch.cond`), or None (every block runs)."""

    def __init__(self):
        self.skip: torch.Tensor | list[int] | None = None


class _Gate(nn.Module):
    def __init__(self, block: nn.Module, index: int, name: str, state: _GateState):
        super().__init__()
        self.block, self.index, self.name = block, index, name
        self._state = state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self._state.skip
        if skip is None:
            return self.block(x)
        if isinstance(skip, torch.Tensor):
            return torch.cond(skip[self.index] != 0, self.block, _skip_branch, (x,))
        if not skip[self.index]:
            return x
        y = self.block(x)
        if y.shape != x.shape:
            raise ConfigError(
                f"block {self.name!r} changes the shape {tuple(x.shape)} → {tuple(y.shape)}, so it cannot be skipped "
                "(a skipped block's output is its input): name whole residual blocks that keep the shape"
            )
        return y


class BlockGates(nn.Module):
    """A copy of `model` whose named blocks answer to the skip vector; `forward(x, skip=None)`
    (plain `if`s, eager). For export, `bind` a skip tensor: every gate is then a `torch.cond`."""

    def __init__(self, model: nn.Module, blocks: Sequence[str]):
        super().__init__()
        names = list(blocks)
        if not names:
            raise ConfigError("name at least one skippable block (a submodule path such as 'layer1.1')")
        for i, a in enumerate(names):
            for b in names[:i]:
                if a == b or a.startswith(b + ".") or b.startswith(a + "."):
                    raise ConfigError(
                        f"blocks {b!r} and {a!r} overlap: name each skippable block once, none inside another"
                    )
        self.model = copy.deepcopy(model)
        self._state = _GateState()
        known = dict(self.model.named_modules())
        for k, name in enumerate(names):
            if name not in known or not name:
                near = [n for n in known if n and (n.startswith(name.rsplit(".", 1)[0]) or name in n)][:8]
                raise ConfigError(
                    f"model has no submodule {name!r}" + (f"; near it: {', '.join(near)}" if near else "")
                    + " (names as in model.named_modules())"
                )  # fmt: skip
            parent, _, leaf = name.rpartition(".")
            setattr(self.model.get_submodule(parent), leaf, _Gate(known[name], k, name, self._state))
        self.block_names = names

    @property
    def num_gates(self) -> int:
        return len(self.block_names)

    def bind(self, skip: torch.Tensor | None) -> None:
        """Export only: every gate reads `skip` as a `torch.cond` until `bind(None)` (the skip tensor
        is bound once at the top of the traced function, since `torch.cond` branches may not set it)."""
        self._state.skip = skip

    def resolved(self, skip: Sequence[int] | str) -> nn.Module:
        """The network of one configuration, without gates (`forward(x)`); shares this one's weights."""
        return _resolved(self, check_skip(skip, self.num_gates))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | Sequence[int] | str | None = None) -> torch.Tensor:
        self._state.skip = None if skip is None else check_skip(skip, self.num_gates)
        try:
            return self.model(x)
        finally:
            self._state.skip = None


def _resolved(gated: BlockGates, bits: list[int]) -> nn.Module:
    """The user's network with the gates of `bits` resolved: a skipped block is an `nn.Identity`,
    an executed one the block itself. Shares every parameter and buffer with `gated`."""
    shared = {id(t): t for t in (*gated.parameters(), *gated.buffers())}
    net = copy.deepcopy(gated.model, memo=shared)
    for name, bit in zip(gated.block_names, bits):
        parent, _, leaf = name.rpartition(".")
        gate = net.get_submodule(name)
        setattr(net.get_submodule(parent), leaf, gate.block if bit else nn.Identity())
    return net


def gate_blocks(model: nn.Module, blocks: Sequence[str]) -> BlockGates:
    """`model` (copied, not changed) with one gate per named block, in the order given."""
    return BlockGates(model, blocks).train(model.training)
