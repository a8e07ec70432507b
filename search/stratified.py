"""`stratified`: random configurations stratified by the number of skipped blocks, for the paper's
Fig. 1 (accuracy vs blocks skipped: mean and min–max band per count).

The budget is shared equally by the counts 0..B_s: n = budget // (B_s + 1) configurations per
count, all of them where a count has no more than n (so resnet20 with n ≥ 20 is exhaustive), else n
distinct ones drawn uniformly (seeded). One count per ask, from 0 skipped upwards.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from explorer.config import SkipConfig
from explorer.search._base import BaseStrategy, register_strategy

DEFAULT_PER_COUNT = 20


@register_strategy
class StratifiedStrategy(BaseStrategy):
    name = "stratified"
    description = "n random configurations per number of skipped blocks (the paper's Fig. 1)"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        g = self.space.num_gates
        self.per_count = max(1, self.budget // (g + 1)) if self.budget else DEFAULT_PER_COUNT
        self._rng = np.random.default_rng(self.seed)
        self._count = 0

    def _draw(self, k: int) -> list[SkipConfig]:
        g = self.space.num_gates
        total = math.comb(g, k)
        if total <= 2 * self.per_count:  # few enough to list: take all, or a sample of the list
            combos = list(itertools.combinations(range(g), k))
            if total > self.per_count:
                picks = self._rng.choice(total, size=self.per_count, replace=False)
                combos = [combos[i] for i in sorted(picks)]
            return [SkipConfig.skipping(c, g) for c in combos]
        seen: dict[SkipConfig, None] = {}
        while len(seen) < self.per_count:
            seen.setdefault(SkipConfig.skipping(self._rng.choice(g, size=k, replace=False).tolist(), g))
        return list(seen)

    def ask(self) -> list[SkipConfig]:
        if self._count > self.space.num_gates:
            return []
        configs = self._draw(self._count)
        self._count += 1
        return configs

    def expected_evaluations(self) -> int:
        g = self.space.num_gates
        return sum(min(math.comb(g, k), self.per_count) for k in range(g + 1))
