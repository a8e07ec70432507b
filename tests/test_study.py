"""The application layer of a study: typed options that round-trip through a queued job's JSON,
and the strategy registry's metadata that `--strategy all`, the CLI help and the report read."""

from __future__ import annotations

import json

import pytest

from explorer.errors import ConfigError
from explorer.search import STRATEGIES, register_strategy, strategies_in_all, strategy_names
from explorer.search.sensitivity import SensitivityStrategy
from explorer.study import SearchOptions, resolve_strategies


def test_search_options_round_trip_through_the_json_of_a_queued_job():
    options = SearchOptions(["nsga2", "exhaustive"], budget=40, limit=200, seed=3, objective="macs",
                            latency_evaluator="latency-torch", chunk_size=8, bn_recal=500, bn_seed=1,
                            data_dir="/data/fmnist")  # fmt: skip
    doc = json.loads(json.dumps(options.to_json()))
    assert SearchOptions.from_json(doc) == options
    assert options.cost_metric == "macs"


def test_search_options_json_keeps_the_keys_of_jobs_queued_by_older_versions():
    # a job queued before SearchOptions existed must compare equal (submit_job refuses other settings)
    old = {"strategies": ["sensitivity"], "budget": None, "limit": None, "seed": 0, "objective": "latency",
           "latency_evaluator": "latency-iree", "chunk_size": 32, "bn_recal": 0, "bn_seed": 0, "data_dir": None}  # fmt: skip
    assert SearchOptions().to_json() == old
    assert SearchOptions.from_json(old) == SearchOptions()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"objective": "energy"}, "--objective must be 'latency' or 'macs'"),
        ({"strategies": ["simulated-annealing"]}, "unknown strategy 'simulated-annealing'"),
        ({"chunk_size": 0}, "--chunk-size must be at least 1"),
    ],
)
def test_search_options_refuse_bad_values_with_the_option_named(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SearchOptions(**kwargs)


def test_a_queued_job_with_unknown_options_is_refused_not_half_run():
    with pytest.raises(ConfigError, match="does not know: warmup"):
        SearchOptions.from_json({**SearchOptions().to_json(), "warmup": 3})


def test_strategy_all_is_the_registry_comparison_set_in_order():
    assert resolve_strategies("all") == strategies_in_all()
    assert strategies_in_all() == ["sensitivity", "l2-norm", "fisher", "hessian", "random", "nsga2", "exhaustive"]
    assert resolve_strategies("fisher") == ["fisher"]
    with pytest.raises(ConfigError, match="choose one of .*stratified"):
        resolve_strategies("simulated-annealing")


def test_every_strategy_declares_a_kind_and_the_rankers_are_the_papers_four():
    assert strategy_names("ranker") == ["fisher", "hessian", "l2-norm", "sensitivity"]
    assert set(strategy_names("ranker") + strategy_names("search") + strategy_names("baseline")) == set(STRATEGIES)


def test_a_second_strategy_with_a_taken_name_is_an_error_not_a_silent_replacement():
    class Impostor(SensitivityStrategy):
        pass

    with pytest.raises(ValueError, match="'sensitivity' is registered already"):
        register_strategy(Impostor)
    assert STRATEGIES["sensitivity"] is SensitivityStrategy
    register_strategy(SensitivityStrategy)  # registering the same class again is harmless
