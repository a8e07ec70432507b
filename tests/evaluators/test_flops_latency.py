"""MACs are exact (cross-checked with hooks); latency is timed interleaved; the additive model fits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from explorer.checkpoint import load_checkpoint
from explorer.errors import ConfigError
from explorer.evaluators import Subject, create_evaluator
from explorer.evaluators.flops import block_macs
from explorer.evaluators.latency_model import calibration_configs, fit_additive, fit_report
from explorer.evaluators.latency_torch import interleaved_timings
from explorer.models import create_model
from explorer.skip import SkipConfig


def hook_macs(model: nn.Module, x: torch.Tensor, skip) -> int:
    """MACs counted from the modules that really run, via forward hooks on their output shapes."""
    total = 0

    def conv_hook(m, inp, out):
        nonlocal total
        total += (
            m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1] * out.shape[1] * out.shape[2] * out.shape[3]
        )

    def linear_hook(m, inp, out):
        nonlocal total
        total += m.in_features * m.out_features

    handles = [
        m.register_forward_hook(conv_hook if isinstance(m, nn.Conv2d) else linear_hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    with torch.no_grad():
        model(x, skip)
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("arch,shape", [("resnet20", (1, 28, 28)), ("resnet56", (3, 32, 32))])
def test_analytic_macs_equal_hook_count(arch, shape):
    model = create_model(arch, in_channels=shape[0]).eval()
    g = model.num_gates
    fixed, per_gate = block_macs(model, shape[1:])
    rng = np.random.default_rng(0)
    configs = [SkipConfig.all_on(g), SkipConfig.skipping(range(g), g)] + [
        SkipConfig(tuple(int(b) for b in rng.integers(0, 2, g))) for _ in range(5)
    ]
    x = torch.randn(1, *shape)
    for c in configs:
        assert fixed + sum(m for m, b in zip(per_gate, c.bits) if b) == hook_macs(model, x, list(c.bits))
    if arch == "resnet56":
        assert fixed + sum(per_gate) == pytest.approx(125.5e6, rel=0.01)  # He et al.'s ResNet-56: ~125M MACs


def test_flops_evaluator_through_the_registry(tiny_ckpt):
    ev = create_evaluator("flops", Subject(load_checkpoint(tiny_ckpt)))
    full, none = ev.evaluate([SkipConfig.all_on(6), SkipConfig.skipping(range(6), 6)])
    assert full["macs"] > none["macs"] > 0 and ev.context == "input=28x28"


def test_interleaved_timing_visits_every_configuration_in_shuffled_rounds():
    calls: list[int] = []
    times = interleaved_timings(calls.append, 4, rounds=3, reps=2, warmup=1)
    assert [len(t) for t in times] == [6, 6, 6, 6]
    assert calls[:4] == [0, 1, 2, 3]  # warm-up first
    rounds = [calls[4 + 8 * r : 12 + 8 * r] for r in range(3)]
    assert all(sorted(r) == [0, 0, 1, 1, 2, 2, 3, 3] for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1  # orders differ between rounds


def test_torch_latency_reports_median_and_p95(tiny_ckpt):
    ev = create_evaluator("latency-torch", Subject(load_checkpoint(tiny_ckpt)), rounds=2, reps=2, warmup=1)
    out = ev.evaluate([SkipConfig.all_on(6), SkipConfig.skipping([0, 1], 6)])
    for m in out:
        assert 0 < m["latency_ms"] <= m["latency_p95_ms"]
    assert "threads=1" in ev.context and "cpu=" in ev.context
    assert torch.get_num_threads() == 1  # the fixture's setting is restored


def test_additive_fit_recovers_known_costs():
    rng = np.random.default_rng(0)
    configs = [SkipConfig(tuple(int(b) for b in rng.integers(0, 2, 5))) for _ in range(20)]
    costs = np.array([0.3, 0.1, 0.25, 0.05, 0.4])
    lat = [1.5 + float(np.dot(c.bits, costs)) for c in configs]
    model = fit_additive(configs, lat)
    assert model.base_ms == pytest.approx(1.5) and np.allclose(model.block_ms, costs)
    report = fit_report(model, configs, lat)
    assert report["r2"] == pytest.approx(1.0) and report["mae_ms"] < 1e-9


def test_calibration_set_is_structured_then_random():
    configs = calibration_configs(6, extra=10)
    assert configs[0] == SkipConfig.all_on(6) and configs[1] == SkipConfig.skipping(range(6), 6)
    assert configs[2:8] == [SkipConfig.skipping([g], 6) for g in range(6)]
    assert len(configs) == 18 and len(set(configs)) == 18


def test_latency_model_predicts_from_real_measurements(tiny_ckpt):
    ev = create_evaluator("latency-model", Subject(load_checkpoint(tiny_ckpt)), extra=2)
    ev.measurer.rounds, ev.measurer.reps = 2, 1
    out = ev.evaluate([SkipConfig.all_on(6), SkipConfig.from_int(0b101010, 6)])
    assert all(m["latency_ms"] > 0 for m in out) and ev.context.startswith("additive(")


def test_unknown_evaluator_lists_the_choices(tiny_ckpt):
    with pytest.raises(ConfigError, match="accuracy.*flops"):
        create_evaluator("energy-magic", Subject(load_checkpoint(tiny_ckpt)))
