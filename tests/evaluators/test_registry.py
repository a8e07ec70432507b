"""The evaluator registry refuses what would make stored studies ambiguous."""

from __future__ import annotations

import pytest

from explorer.evaluators import EVALUATORS, register_evaluator
from explorer.evaluators.flops import FlopsEvaluator
from explorer.storage.results import is_latency_evaluator


def test_a_second_evaluator_with_a_taken_name_is_an_error_not_a_silent_replacement():
    class Impostor(FlopsEvaluator):
        pass

    with pytest.raises(ValueError, match="'flops' is registered already"):
        register_evaluator(Impostor)
    assert EVALUATORS["flops"] is FlopsEvaluator


def test_only_evaluators_named_latency_star_may_measure_latency():
    # a stored study names its evaluators only; the read model finds the latency one by this rule
    class Timer(FlopsEvaluator):
        name = "timer"
        metrics = ("latency_ms",)

    with pytest.raises(ValueError, match="named latency-"):
        register_evaluator(Timer)
    assert "timer" not in EVALUATORS
    assert all(is_latency_evaluator(n) == ("latency_ms" in cls.metrics) for n, cls in EVALUATORS.items())
