"""`optuna-nsga2`: NSGA-II (optuna), for many workers on one database (see `_optuna`)."""

from __future__ import annotations

import optuna

from explorer.search._base import register_strategy
from explorer.search._optuna import OptunaStrategy


@register_strategy
class OptunaNsga2Strategy(OptunaStrategy):
    name = "optuna-nsga2"
    description = "NSGA-II (optuna), for many workers on one database"

    def sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.NSGAIISampler(population_size=min(50, max(8, self.budget // 4)), seed=seed)
