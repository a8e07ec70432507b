"""Pareto fronts and hypervolume of accuracy vs cost (pymoo's non-dominated sorting and HV).

Both objectives are minimised: error = 1 − accuracy (fraction) and relative cost = cost ÷ the cost
of the full-depth configuration (latency or MACs). Hypervolume reference point: (1, 1.1), i.e.
accuracy 0 and 1.1× the full-depth cost, so the full-depth configuration itself contributes and
the largest possible value is 1.1. Hypervolumes are comparable between strategies of one study.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pymoo.indicators.hv import HV
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

REF_COST = 1.1  # reference point, in multiples of the full-depth cost
REF_ERROR = 1.0  # reference point: accuracy 0


def objective_matrix(accuracy: Sequence[float], cost: Sequence[float], full_cost: float) -> np.ndarray:
    acc = np.asarray(accuracy, dtype=float)
    c = np.asarray(cost, dtype=float)
    return np.column_stack([1.0 - acc, c / full_cost]) if len(acc) else np.empty((0, 2))


def front_indices(accuracy: Sequence[float], cost: Sequence[float]) -> list[int]:
    """Indices of the non-dominated points (higher accuracy and lower cost are better), sorted by
    cost descending (least skipping first). Exact duplicates are all kept."""
    if len(accuracy) == 0:
        return []
    F = np.column_stack([-np.asarray(accuracy, dtype=float), np.asarray(cost, dtype=float)])
    idx = NonDominatedSorting().do(F, only_non_dominated_front=True)
    return sorted((int(i) for i in idx), key=lambda i: (-cost[i], -accuracy[i]))


def hypervolume(accuracy: Sequence[float], cost: Sequence[float], full_cost: float) -> float:
    """Hypervolume of the points against the reference point (accuracy 0, 1.1 × full-depth cost)."""
    F = objective_matrix(accuracy, cost, full_cost)
    F = F[(F[:, 0] < REF_ERROR) & (F[:, 1] < REF_COST)] if len(F) else F
    if len(F) == 0:
        return 0.0
    return float(HV(ref_point=np.array([REF_ERROR, REF_COST])).do(F))
