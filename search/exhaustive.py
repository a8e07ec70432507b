"""`exhaustive`: every configuration, the ground truth to judge the others; only for B_s ≤ 16."""

from __future__ import annotations

from explorer.errors import ConfigError
from explorer.search._base import BaseStrategy, register_strategy
from explorer.skip import SkipConfig

MAX_GATES = 16
BATCH = 64


@register_strategy
class ExhaustiveStrategy(BaseStrategy):
    name = "exhaustive"
    description = "every configuration (at most 2^16)"
    kind = "baseline"
    all_rank = 7

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.space.num_gates > MAX_GATES:
            raise ConfigError(
                f"exhaustive search of {self.space.num_gates} gates means 2^{self.space.num_gates} configurations; "
                f"it is allowed up to {MAX_GATES} gates: use nsga2, random or a ranking strategy"
            )
        self._next = 0

    def ask(self) -> list[SkipConfig]:
        # from all-on downwards, so the most useful configurations are stored first
        stop = self.space.size if self.budget is None else min(self.space.size, self.budget)
        start, self._next = self._next, min(self._next + BATCH, stop)
        top = self.space.size - 1
        return [SkipConfig.from_int(top - i, self.space.num_gates) for i in range(start, self._next)]

    def expected_evaluations(self) -> int:
        return self.space.size if self.budget is None else min(self.space.size, self.budget)
