"""Search strategies (installed as `explorer.search`): one strategy per file, registry by name.

`create_strategy("nsga2", space=SkipSpace(6), seed=0, budget=40)`; see `_base.BaseStrategy`.
"""

from explorer.search import (  # noqa: F401  (registration)
    exhaustive,
    fisher,
    hessian,
    l2_norm,
    nsga2,
    optuna_nsga2,
    optuna_random,
    optuna_tpe,
    random_search,
    sensitivity,
    stratified,
)
from explorer.search._base import (
    STRATEGIES,
    BaseStrategy,
    Probe,
    StrategyContext,
    check_strategy,
    create_strategy,
    register_strategy,
    strategies_in_all,
    strategy_names,
)

__all__ = [
    "STRATEGIES",
    "BaseStrategy",
    "Probe",
    "StrategyContext",
    "check_strategy",
    "create_strategy",
    "register_strategy",
    "strategies_in_all",
    "strategy_names",
]
