"""Every registered strategy runs end to end through the engine; rankers compute what they claim."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from explorer.checkpoint import load_checkpoint
from explorer.engine import Engine, make_probe
from explorer.errors import ConfigError
from explorer.evaluators import Subject, create_evaluator
from explorer.search import STRATEGIES, create_strategy, strategy_names
from explorer.search._base import gated_forward
from explorer.skip import Evaluation, SkipConfig, SkipSpace
from explorer.storage import Database


@pytest.fixture(scope="module")
def subject(tiny_ckpt, fmnist):
    return Subject(load_checkpoint(tiny_ckpt), _data=fmnist)


@pytest.fixture(scope="module")
def probe(subject):
    return make_probe(subject, images=128, batch_size=64)


def make_engine(tmp_path, subject, study="s"):
    evaluators = [create_evaluator("accuracy", subject, limit=300), create_evaluator("flops", subject)]
    return Engine(Database(f"sqlite:///{tmp_path}/e.db"), subject, study, evaluators, "macs")


# configurations each strategy evaluates on resnet20's 6 gates with budget=20
EVALUATED = {
    **dict.fromkeys(["exhaustive", "nsga2", "optuna-nsga2", "optuna-random", "optuna-tpe", "random"], 20),
    **dict.fromkeys(["fisher", "hessian", "l2-norm"], 7),  # rankers: the nested path from 111111 to 000000
    "sensitivity": 6 + 7 - 1,  # each gate skipped alone, then the nested path (its 1-skipped step is a single)
    "stratified": 1 + 5 * 2 + 1,  # 20 // 7 = 2 per number of skipped blocks; 0 and 6 have 1 configuration each
}


def test_every_registered_strategy_is_covered_here():
    assert sorted(EVALUATED) == sorted(STRATEGIES)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_runs_end_to_end_and_is_reproducible(name, tmp_path, subject, probe):
    engine = make_engine(tmp_path, subject)
    space = SkipSpace(6)
    proposals = []
    for _ in range(2):
        strategy = create_strategy(name, space=space, seed=3, budget=20, probe=probe, objectives=("accuracy", "macs"))
        run = engine.run(strategy)
        proposals.append([str(e.config) for e in run.evaluations])
        assert run.evaluations and all(len(e.config) == 6 for e in run.evaluations)
        assert all(0 <= e["accuracy"] <= 1 and e["macs"] > 0 for e in run.evaluations)
        assert len(run.evaluations) == len({e.config for e in run.evaluations}) == EVALUATED[name]
    assert proposals[0] == proposals[1]  # same seed, same stored results: same proposals (resume relies on it)


def test_registry_names_and_unknown_strategy():
    assert strategy_names() == ["exhaustive", "fisher", "hessian", "l2-norm", "nsga2", "optuna-nsga2", "optuna-random",
                              "optuna-tpe", "random", "sensitivity", "stratified"]  # fmt: skip
    with pytest.raises(ConfigError, match="unknown strategy 'annealing'"):
        create_strategy("annealing", space=SkipSpace(6))


def test_rankers_need_a_probe():
    with pytest.raises(ConfigError, match="needs a probe"):
        create_strategy("fisher", space=SkipSpace(6))


def test_exhaustive_refuses_large_spaces_and_covers_small_ones():
    with pytest.raises(ConfigError, match="2\\^24.*up to 16 gates"):
        create_strategy("exhaustive", space=SkipSpace(24))
    s = create_strategy("exhaustive", space=SkipSpace(6))
    seen = []
    while batch := s.ask():
        seen += batch
    assert len(seen) == 64 == len(set(seen)) and seen[0] == SkipConfig.all_on(6)


def test_sensitivity_ranks_by_remaining_accuracy():
    s = create_strategy("sensitivity", space=SkipSpace(4))
    singles = s.ask()
    assert singles == [SkipConfig.skipping([g], 4) for g in range(4)]
    remaining = [0.70, 0.90, 0.50, 0.85]  # skipping gate 1 hurts least, then 3, then 0, then 2
    s.tell([Evaluation(c, {"accuracy": a, "latency_ms": 1.0}) for c, a in zip(singles, remaining)])
    nested = s.ask()
    assert [str(c) for c in nested] == ["1111", "1011", "1010", "0010", "0000"]
    s.tell([Evaluation(c, {"accuracy": 0.5, "latency_ms": 1.0}) for c in nested])
    assert s.ask() == []


def test_random_draws_distinct_configurations_within_budget():
    s = create_strategy("random", space=SkipSpace(10), seed=1, budget=40)
    seen = []
    while batch := s.ask():
        seen += batch
    assert len(seen) == 40 == len(set(seen))
    counts = [c.num_skipped for c in seen]
    assert min(counts) <= 2 and max(counts) >= 8  # spread over the number of skipped blocks


def test_l2_norm_importance_is_the_relative_residual_norm(probe):
    s = create_strategy("l2-norm", space=SkipSpace(6), probe=probe)
    model = probe.model
    x = torch.cat([b[0] for b in probe.batches])
    expected = []
    with torch.no_grad():
        h = model.stem(x)
        for block, gate in zip(model.blocks, model.gate_of_block):
            if gate >= 0:
                expected.append(float((block.residual(h).flatten(1).norm(dim=1) / h.flatten(1).norm(dim=1)).mean()))
            h = block(h)
    assert s.importance() == pytest.approx(expected, rel=1e-5)


def test_fisher_uses_per_sample_gradients(probe):
    s = create_strategy("fisher", space=SkipSpace(6), probe=probe)
    model = probe.model
    x, y = probe.batches[0]
    total = torch.zeros(6, dtype=torch.float64)
    for i in range(len(x)):  # one sample at a time: the definition
        alpha = torch.ones(6, requires_grad=True)
        loss = F.cross_entropy(gated_forward(model, x[i : i + 1], alpha), y[i : i + 1])
        (g,) = torch.autograd.grad(loss, alpha)
        total += g.double() ** 2
    single = create_strategy("fisher", space=SkipSpace(6), probe=type(probe)(model, [probe.batches[0]]))
    assert single.importance() == pytest.approx((total / len(x)).tolist(), rel=1e-4, abs=1e-10)
    assert len(s.importance()) == 6


def test_hessian_diagonal_matches_autograd_hessian(probe):
    model = probe.model
    x, y = probe.batches[0]
    one = type(probe)(model, [(x[:16], y[:16])])
    s = create_strategy("hessian", space=SkipSpace(6), probe=one)

    def loss(alpha):
        return F.cross_entropy(gated_forward(model, x[:16], alpha), y[:16])

    alpha = torch.ones(6)
    g = torch.autograd.functional.jacobian(loss, alpha)
    H = torch.autograd.functional.hessian(loss, alpha)
    expected = (-g + 0.5 * torch.diagonal(H)).tolist()
    assert s.importance() == pytest.approx(expected, rel=1e-4, abs=1e-7)


def test_gated_forward_with_unit_gates_is_the_model(probe):
    x = probe.batches[0][0][:4]
    with torch.no_grad():
        assert torch.allclose(gated_forward(probe.model, x, torch.ones(6)), probe.model(x), atol=1e-6)


def test_nsga2_uses_exactly_its_budget_of_distinct_configurations(tmp_path, subject, probe):
    engine = make_engine(tmp_path, subject)
    s = create_strategy("nsga2", space=SkipSpace(6), seed=0, budget=30, probe=probe, objectives=("accuracy", "macs"))
    run = engine.run(s)
    assert len(run.evaluations) == 30 == len({e.config for e in run.evaluations})


def test_stratified_draws_n_distinct_configurations_per_skip_count():
    space = SkipSpace(24)
    strategy = create_strategy("stratified", space=space, seed=1, budget=25 * 60)
    batches = list(iter(strategy.ask, []))
    assert len(batches) == 3  # round-robin: up to 25 of every count per ask, 60 per count in all
    assert [len([c for c in batches[0] if c.num_skipped == k]) for k in range(25)] == [1, 24] + [25] * 21 + [24, 1]
    drawn = [c for b in batches for c in b]
    for k in range(25):
        of_k = [c for c in drawn if c.num_skipped == k]
        assert len(set(of_k)) == len(of_k) == min(60, math.comb(24, k))


def test_stratified_with_a_larger_budget_extends_the_smaller_budgets_set():
    # so re-running a Fig. 1 study with a larger --budget only evaluates new configurations
    def drawn(budget):
        s = create_strategy("stratified", space=SkipSpace(24), seed=3, budget=budget)
        return [c for b in iter(s.ask, []) for c in b]

    small, large = drawn(25 * 30), drawn(25 * 70)
    assert set(small) < set(large)
    assert drawn(25 * 30) == small  # seeded: the same draw again


def test_stratified_lists_every_configuration_of_a_small_space():
    small = create_strategy("stratified", space=SkipSpace(6), seed=1, budget=7 * 20)
    assert len(set(c for b in iter(small.ask, []) for c in b)) == 64 == small.expected_evaluations()  # resnet20
