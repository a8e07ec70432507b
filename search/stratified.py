"""`stratified`: random configurations stratified by the number of skipped blocks, for the paper's
Fig. 1 (accuracy vs blocks skipped: mean and min–max band per count).

The budget is shared equally by the counts 0..B_s: n = budget // (B_s + 1) configurations per
count, all of them where a count has no more than n (so resnet20 with n ≥ 20 is exhaustive), else n
distinct ones drawn uniformly (seeded). Each count draws from its own seeded stream, so a larger
budget extends the set drawn with a smaller one instead of replacing it: re-running a study with a
larger --budget only evaluates the new configurations. Asks go round-robin over the counts (up to
ROUND configurations of every count per ask), so an interrupted search (resnet56: thousands of
configurations) leaves every count equally far along instead of the low counts done and the rest
empty.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from explorer.search._base import BaseStrategy, register_strategy
from explorer.skip import SkipConfig

DEFAULT_PER_COUNT = 20
ROUND = 25  # configurations of each count per ask
LIST_MAX = 100_000  # counts with at most this many configurations are listed and shuffled


@register_strategy
class StratifiedStrategy(BaseStrategy):
    name = "stratified"
    description = "n random configurations per number of skipped blocks (the paper's Fig. 1)"
    kind = "baseline"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        g = self.space.num_gates
        self.per_count = max(1, self.budget // (g + 1)) if self.budget else DEFAULT_PER_COUNT
        self._draws = [self._draw(k) for k in range(g + 1)]
        self._round = 0

    def _draw(self, k: int) -> list[SkipConfig]:
        """The first n configurations of count k's seeded stream (a prefix of any larger n's)."""
        g = self.space.num_gates
        total = math.comb(g, k)
        n = min(self.per_count, total)
        rng = np.random.default_rng([self.seed, k])
        if total <= LIST_MAX:
            combos = list(itertools.combinations(range(g), k))
            return [SkipConfig.skipping(combos[i], g) for i in rng.permutation(total)[:n]]
        seen: dict[SkipConfig, None] = {}
        while len(seen) < n:
            seen.setdefault(SkipConfig.skipping(sorted(rng.choice(g, size=k, replace=False).tolist()), g))
        return list(seen)

    def ask(self) -> list[SkipConfig]:
        lo = self._round * ROUND
        self._round += 1
        return [c for draws in self._draws for c in draws[lo : lo + ROUND]]

    def expected_evaluations(self) -> int:
        g = self.space.num_gates
        return sum(min(math.comb(g, k), self.per_count) for k in range(g + 1))
