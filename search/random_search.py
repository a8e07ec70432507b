"""`random`: random configurations, seeded: the number of skipped gates uniform over 0..B_s, then which
gates uniformly; no configuration twice."""

from __future__ import annotations

import numpy as np

from explorer.search._base import BaseStrategy, register_strategy
from explorer.skip import SkipConfig

DEFAULT_BUDGET = 50
BATCH = 16


@register_strategy
class RandomStrategy(BaseStrategy):
    name = "random"
    description = "uniform over the number of skipped blocks, then which"
    kind = "baseline"
    all_rank = 5

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.budget = min(self.budget or DEFAULT_BUDGET, self.space.size)
        self._rng = np.random.default_rng(self.seed)
        self._seen: set[SkipConfig] = set()

    def _draw(self) -> SkipConfig:
        g = self.space.num_gates
        k = int(self._rng.integers(0, g + 1))
        return SkipConfig.skipping(self._rng.choice(g, size=k, replace=False).tolist(), g)

    def ask(self) -> list[SkipConfig]:
        batch: list[SkipConfig] = []
        while len(self._seen) < self.budget and len(batch) < BATCH:
            c = self._draw()
            if c not in self._seen:
                self._seen.add(c)
                batch.append(c)
        return batch
