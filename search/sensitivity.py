"""`sensitivity` (the paper's ranking): skip each gate alone, rank gates by the accuracy that remains
(highest first: the gate whose removal hurts least goes first), then evaluate the nested configurations."""

from __future__ import annotations

from explorer.search._base import RankingStrategy, register_strategy
from explorer.skip import Evaluation, SkipConfig


@register_strategy
class SensitivityStrategy(RankingStrategy):
    name = "sensitivity"
    description = "skip each block alone, rank by remaining accuracy, evaluate nested configurations"
    all_rank = 1

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._phase = 0
        self._remaining: list[float] | None = None

    def importance(self) -> list[float]:
        assert self._remaining is not None, "importance is known after the single-skip results"
        return [-acc for acc in self._remaining]  # more remaining accuracy = less important

    def ask(self) -> list[SkipConfig]:
        g = self.space.num_gates
        if self._phase == 0:
            self._phase = 1
            return [SkipConfig.skipping([i], g) for i in range(g)]
        if self._phase == 1:
            self._phase = 2
            return self.nested()
        return []

    def tell(self, results: list[Evaluation]) -> None:
        if self._phase == 1 and self._remaining is None:
            self._remaining = [r[self.accuracy_metric] for r in results]

    def expected_evaluations(self) -> int:
        # the single-skip configurations plus the nested ones, of which N = 1 repeats one of them
        return self.space.num_gates + super().expected_evaluations() - 1
