"""`optuna-random`: random sampling (optuna), for many workers on one database (see `_optuna`)."""

from __future__ import annotations

import optuna

from explorer.search._base import register_strategy
from explorer.search._optuna import OptunaStrategy


@register_strategy
class OptunaRandomStrategy(OptunaStrategy):
    name = "optuna-random"
    description = "random sampling (optuna), for many workers on one database"

    def sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.RandomSampler(seed=seed)
