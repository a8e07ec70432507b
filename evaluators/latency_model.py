"""`latency-model`: predicted latency from an additive model, latency ≈ base + Σ s_i·t_i (ms).

Per-block costs t_i and the fixed cost `base` are fitted by least squares on measured
configurations (by default: all blocks, no gated block, each gate off alone, and a few random
ones, measured with `latency-torch`), after which any configuration is predicted without running
it. `fit_additive` and `fit_report` are used on their own too (benchmarks: R² and error on held-out
configurations).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.evaluators._base import BaseEvaluator, Subject, create_evaluator, register_evaluator
from explorer.skip import SkipConfig


@dataclass(frozen=True)
class AdditiveModel:
    base_ms: float
    block_ms: tuple[float, ...]

    def predict(self, configs: list[SkipConfig]) -> np.ndarray:
        bits = np.array([c.bits for c in configs], dtype=float).reshape(len(configs), -1)
        return self.base_ms + bits @ np.asarray(self.block_ms)


def fit_additive(configs: list[SkipConfig], latency_ms: list[float]) -> AdditiveModel:
    """Least-squares fit of base + Σ s_i·t_i to measured latencies."""
    bits = np.array([c.bits for c in configs], dtype=float)
    design = np.hstack([np.ones((len(configs), 1)), bits])
    coef, *_ = np.linalg.lstsq(design, np.asarray(latency_ms, dtype=float), rcond=None)
    return AdditiveModel(float(coef[0]), tuple(float(v) for v in coef[1:]))


def fit_report(model: AdditiveModel, configs: list[SkipConfig], latency_ms: list[float]) -> dict[str, float]:
    """R², mean absolute error (ms) and mean absolute percentage error of predictions vs measurements."""
    y = np.asarray(latency_ms, dtype=float)
    pred = model.predict(configs)
    ss_res = float(((y - pred) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return {
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
        "mae_ms": float(np.abs(y - pred).mean()),
        "mape_pct": float((np.abs(y - pred) / y).mean() * 100),
        "n": float(len(y)),
    }


def calibration_configs(num_gates: int, extra: int, seed: int = 0) -> list[SkipConfig]:
    """All on, all off, each gate off alone, then `extra` random configurations (distinct)."""
    configs = [SkipConfig.all_on(num_gates), SkipConfig.skipping(range(num_gates), num_gates)]
    configs += [SkipConfig.skipping([g], num_gates) for g in range(num_gates)]
    rng = np.random.default_rng(seed)
    seen = set(configs)
    attempts = 0
    while len(configs) < 2 + num_gates + extra and attempts < 100 * (extra + 1):
        attempts += 1
        c = SkipConfig(tuple(int(b) for b in rng.integers(0, 2, num_gates)))
        if c not in seen:
            seen.add(c)
            configs.append(c)
    return configs


@register_evaluator
class LatencyModelEvaluator(BaseEvaluator):
    name = "latency-model"
    metrics = ("latency_ms",)

    def __init__(self, subject: Subject, extra: int = 16, threads: int = 1, seed: int = 0):
        super().__init__(subject)
        self.extra, self.threads, self.seed = extra, threads, seed
        self.measurer = create_evaluator("latency-torch", subject, threads=threads)
        self.model: AdditiveModel | None = None

    @property
    def context(self) -> str:
        return f"additive({self.measurer.context});extra={self.extra};seed={self.seed}"

    def fit(self) -> AdditiveModel:
        if self.model is None:
            configs = calibration_configs(self.subject.checkpoint.model.num_gates, self.extra, self.seed)
            measured = [m["latency_ms"] for m in self.measurer.evaluate(configs)]
            self.model = fit_additive(configs, measured)
        return self.model

    def evaluate(self, configs: list[SkipConfig]) -> list[dict[str, float]]:
        return [{"latency_ms": float(v)} for v in self.fit().predict(configs)]
