"""`nsga2`: pymoo's NSGA-II on the binary genome (one bit per gate), maximising accuracy and
minimising the cost objective (latency or MACs), within an evaluation budget.

Two-point crossover and bit-flip mutation; the initial population can be seeded with the nested
configurations of the l2-norm ranking (needs no evaluations), the rest drawn at random. The budget
counts distinct configurations: a configuration proposed again is answered from memory.
"""

from __future__ import annotations

import numpy as np

from explorer.search._base import BaseStrategy, register_strategy
from explorer.search.l2_norm import L2NormStrategy
from explorer.skip import Evaluation, SkipConfig

DEFAULT_BUDGET = 100
STALL_GENERATIONS = 5  # stop when this many generations in a row bring nothing new


@register_strategy
class NSGA2Strategy(BaseStrategy):
    name = "nsga2"
    description = "NSGA-II (pymoo) on the binary genome, accuracy vs cost"
    all_rank = 6

    def __init__(self, pop_size: int | None = None, seed_rankers: bool = True, **kwargs):
        # pymoo's NSGA-II imports scipy.spatial (0.8 s): paid by a run of this strategy, not by every
        # command of the CLI, which imports the registry
        from pymoo.algorithms.moo.nsga2 import NSGA2
        from pymoo.core.problem import Problem
        from pymoo.core.termination import NoTermination
        from pymoo.operators.crossover.pntx import TwoPointCrossover
        from pymoo.operators.mutation.bitflip import BitflipMutation

        super().__init__(**kwargs)
        g = self.space.num_gates
        self.budget = min(self.budget or DEFAULT_BUDGET, self.space.size)
        self.pop_size = pop_size or int(np.clip(self.budget // 4, 8, 50))
        self.problem = Problem(n_var=g, n_obj=2, xl=0, xu=1, vtype=bool)
        rng = np.random.default_rng(self.seed)
        initial = rng.random((self.pop_size, g)) < 0.5
        if seed_rankers and self.probe is not None:
            nested = L2NormStrategy(space=self.space, probe=self.probe).nested()
            picks = np.linspace(0, len(nested) - 1, min(len(nested), self.pop_size)).round().astype(int)
            for row, i in enumerate(sorted(set(picks.tolist()))):
                initial[row] = np.array(nested[i].bits, dtype=bool)
        self.algorithm = NSGA2(
            pop_size=self.pop_size,
            sampling=initial,
            crossover=TwoPointCrossover(),
            mutation=BitflipMutation(),
            eliminate_duplicates=True,
        )
        self.algorithm.setup(self.problem, termination=NoTermination(), seed=self.seed, verbose=False)
        self._known: dict[SkipConfig, tuple[float, float]] = {}
        self._pop = None
        self._done = False
        self._stall = 0

    def ask(self) -> list[SkipConfig]:
        if self._done or len(self._known) >= self.budget:
            return []
        self._pop = self.algorithm.ask()
        configs = [SkipConfig(tuple(int(b) for b in row)) for row in self._pop.get("X")]
        fresh = list(dict.fromkeys(c for c in configs if c not in self._known))
        room = self.budget - len(self._known)
        if len(fresh) > room:
            # the last generation would overrun the budget: evaluate what fits, then stop
            self._done = True
            return fresh[:room]
        self._stall = 0 if fresh else self._stall + 1
        if self._stall >= STALL_GENERATIONS:
            self._done = True
            return []
        return fresh

    def tell(self, results: list[Evaluation]) -> None:
        from pymoo.core.evaluator import Evaluator
        from pymoo.problems.static import StaticProblem

        for r in results:
            self._known[r.config] = (-r[self.accuracy_metric], r[self.cost_metric])
        if self._done or self._pop is None:
            return
        configs = [SkipConfig(tuple(int(b) for b in row)) for row in self._pop.get("X")]
        F = np.array([self._known[c] for c in configs], dtype=float)
        Evaluator().eval(StaticProblem(self.problem, F=F), self._pop)
        self.algorithm.tell(infills=self._pop)
        self._pop = None
