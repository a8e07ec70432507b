"""Pareto front and hypervolume on hand-checked sets."""

from __future__ import annotations

import pytest

from explorer.pareto import REF_COST, front_indices, hypervolume


def test_front_keeps_only_non_dominated_points_sorted_by_cost():
    acc = [0.90, 0.80, 0.85, 0.50, 0.85, 0.30]
    cost = [10.0, 5.0, 8.0, 6.0, 9.0, 1.0]
    # (0.85, 9) is dominated by (0.85, 8); (0.50, 6) by (0.80, 5)
    assert front_indices(acc, cost) == [0, 2, 1, 5]
    assert front_indices([], []) == []


def test_hypervolume_by_hand():
    # one point: error 0.1, relative cost 1.0 → (1 − 0.1) × (1.1 − 1.0)
    assert hypervolume([0.9], [10.0], 10.0) == pytest.approx(0.09)
    # two points: (err 0.1, cost 1.0) and (err 0.3, cost 0.5) → staircase area
    # = 0.9 × 0.1 + 0.7 × (1.0 − 0.5)
    assert hypervolume([0.9, 0.7], [10.0, 5.0], 10.0) == pytest.approx(0.09 + 0.35)
    # a dominated point adds nothing; a point beyond the reference adds nothing
    assert hypervolume([0.9, 0.7, 0.6], [10.0, 5.0, 6.0], 10.0) == pytest.approx(0.44)
    assert hypervolume([0.9, 0.99], [10.0, 20.0], 10.0) == pytest.approx(0.09)
    # the ideal point: accuracy 1 at zero cost fills the whole box
    assert hypervolume([1.0], [0.0], 10.0) == pytest.approx(REF_COST)
    assert hypervolume([], [], 10.0) == 0.0
