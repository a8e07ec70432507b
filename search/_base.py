"""The strategy interface (ask/tell, like pymoo) and its registry (like Optuna's samplers).

A strategy proposes configurations with `ask()` (an empty list means it is done); the engine
evaluates and stores them and passes the results to `tell()`. Strategies do no I/O. Those that
need gradients or activations receive a read-only `Probe` (the model and a few batches) from the
engine. Given the same seed and the same results, a strategy must propose the same
configurations: that is how a re-run search resumes from the database without re-evaluating.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn as nn

from explorer.errors import ConfigError
from explorer.skip import Evaluation, SkipConfig, SkipSpace


@dataclass(frozen=True)
class Probe:
    """Read-only material for strategies that look inside the model: an eval-mode model and batches
    of normalised images (from the training split) with labels."""

    model: nn.Module
    batches: list[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class StrategyContext:
    """What a strategy may need from the run it is part of; each takes what it uses (the optuna
    strategies keep their optuna study in the results database and heart-beat their trials)."""

    db_url: str | None = None  # the results database's SQLAlchemy URL
    study: str = "explorer"  # the study's name
    worker_salt: int = 0  # differs per worker, so samplers of parallel workers do not propose alike
    stale_after_s: float = 60.0  # a worker silent this long is taken for dead
    on_heartbeat: Callable[[Callable[[], object]], None] | None = None  # registers a call made every heartbeat


class BaseStrategy(abc.ABC):
    name: ClassVar[str]
    needs_probe: ClassVar[bool] = False
    description: ClassVar[str] = ""
    # what the rest of the tool needs to know (CLI help, dashboard, report): "ranker" (orders the
    # gates, then evaluates nested configurations), "search" (proposes from results) or "baseline"
    kind: ClassVar[str] = "search"
    all_rank: ClassVar[int | None] = None  # position in `--strategy all`; None: not part of it

    def __init__(
        self,
        *,
        space: SkipSpace,
        seed: int = 0,
        budget: int | None = None,
        probe: Probe | None = None,
        objectives: tuple[str, str] = ("accuracy", "latency_ms"),
        context: StrategyContext | None = None,
    ):
        if self.needs_probe and probe is None:
            raise ConfigError(f"strategy {self.name} needs a probe (model and batches)")
        if budget is not None and budget < 1:
            raise ConfigError(f"--budget must be positive, got {budget}")
        self.space, self.seed, self.budget, self.probe = space, seed, budget, probe
        self.accuracy_metric, self.cost_metric = objectives
        self.context = context or StrategyContext()

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

    kind = "ranker"

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


KINDS = ("ranker", "search", "baseline")


def register_strategy(cls: type[BaseStrategy]) -> type[BaseStrategy]:
    if cls.name in STRATEGIES and STRATEGIES[cls.name] is not cls:
        raise ValueError(f"strategy {cls.name!r} is registered already (by {STRATEGIES[cls.name].__qualname__})")
    if cls.kind not in KINDS:
        raise ValueError(f"strategy {cls.name!r}: kind must be one of {KINDS}, got {cls.kind!r}")
    STRATEGIES[cls.name] = cls
    return cls


def check_strategy(name: str) -> None:
    """A registered strategy's name, or one clear error that lists them."""
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}: choose one of {', '.join(strategy_names())} (or 'all')")


def create_strategy(name: str, **kwargs) -> BaseStrategy:
    check_strategy(name)
    return STRATEGIES[name](**kwargs)


def strategy_names(kind: str | None = None) -> list[str]:
    """Registered strategies (of one kind), sorted by name."""
    return sorted(n for n, cls in STRATEGIES.items() if kind is None or cls.kind == kind)


def strategies_in_all() -> list[str]:
    """The strategies `--strategy all` compares, in the order they run (the exhaustive front last)."""
    ranked = [cls for cls in STRATEGIES.values() if cls.all_rank is not None]
    return [cls.name for cls in sorted(ranked, key=lambda cls: cls.all_rank)]


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
