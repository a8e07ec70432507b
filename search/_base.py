"""The strategy interface (ask/tell, like pymoo) and its registry (like Optuna's samplers).

A strategy proposes configurations with `ask()` (an empty list means it is done); the engine
evaluates and stores them and passes the results to `tell()`. Strategies do no I/O. Those that
need gradients or activations receive a read-only `Probe` (the model and a few batches) from the
engine. Given the same seed and the same results, a strategy must propose the same
configurations: that is how a re-run search resumes from the database without re-evaluating.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn as nn

from explorer.config import Evaluation, SkipConfig, SkipSpace
from explorer.errors import ConfigError


@dataclass(frozen=True)
class Probe:
    """Read-only material for strategies that look inside the model: an eval-mode model and batches
    of normalised images (from the training split) with labels."""

    model: nn.Module
    batches: list[tuple[torch.Tensor, torch.Tensor]]


class BaseStrategy(abc.ABC):
    name: ClassVar[str]
    needs_probe: ClassVar[bool] = False
    description: ClassVar[str] = ""

    def __init__(
        self,
        *,
        space: SkipSpace,
        seed: int = 0,
        budget: int | None = None,
        probe: Probe | None = None,
        objectives: tuple[str, str] = ("accuracy", "latency_ms"),
    ):
        if self.needs_probe and probe is None:
            raise ConfigError(f"strategy {self.name} needs a probe (model and batches)")
        if budget is not None and budget < 1:
            raise ConfigError(f"--budget must be positive, got {budget}")
        self.space, self.seed, self.budget, self.probe = space, seed, budget, probe
        self.accuracy_metric, self.cost_metric = objectives

    @abc.abstractmethod
    def ask(self) -> list[SkipConfig]:
        """The next configurations to evaluate; [] when done."""

    def tell(self, results: list[Evaluation]) -> None:  # noqa: B027  (optional hook)
        """Results of the last `ask`, in the same order."""

    def expected_evaluations(self) -> int | None:
        """How many configurations this strategy will propose in all, if known (for progress)."""
        return self.budget


class RankingStrategy(BaseStrategy):
    """Rank the gates, least important first, then evaluate the nested configurations that skip
    the N least important gates, N = 0..B_s (truncated to the budget)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._done = False

    @abc.abstractmethod
    def importance(self) -> list[float]:
        """One importance score per gate; lower = skipped earlier."""

    def ranking(self) -> list[int]:
        scores = self.importance()
        return sorted(range(self.space.num_gates), key=lambda g: (scores[g], g))

    def nested(self) -> list[SkipConfig]:
        configs = self.space.nested(self.ranking())
        return configs[: self.budget] if self.budget else configs

    def ask(self) -> list[SkipConfig]:
        if self._done:
            return []
        self._done = True
        return self.nested()

    def expected_evaluations(self) -> int:
        n = self.space.num_gates + 1
        return min(n, self.budget) if self.budget else n


STRATEGIES: dict[str, type[BaseStrategy]] = {}


def register_strategy(cls: type[BaseStrategy]) -> type[BaseStrategy]:
    STRATEGIES[cls.name] = cls
    return cls


def create_strategy(name: str, **kwargs) -> BaseStrategy:
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}: choose one of {', '.join(strategy_names())} (or 'all')")
    return STRATEGIES[name](**kwargs)


def strategy_names() -> list[str]:
    return sorted(STRATEGIES)


def gated_forward(model: nn.Module, x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Forward pass with a scalar gate α on every gated block's residual branch (α = 1: the model).

    `alpha` is G×B (one α per gate and sample) or G (one per gate). Used by gradient rankers.
    """
    h = model.stem(x)
    for block, gate in zip(model.blocks, model.gate_of_block):
        if gate < 0:
            h = block(h)
        else:
            a = alpha[gate]
            a = a.view(-1, 1, 1, 1) if a.dim() else a
            h = torch.relu(block.shortcut(h) + block.residual(h) * a)
    return model.head(h)
