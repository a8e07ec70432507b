"""`latency-torch`: batch-1 CPU latency in PyTorch eager, median and p95 in ms.

Timing protocol: every configuration is warmed up, then timed in `rounds` interleaved rounds (a
fresh random order of the configurations each round, `reps` calls per configuration per round),
so machine noise spreads over all configurations instead of favouring whichever ran at a quiet
moment. One thread by default: the batch-1 deployment case on a small board.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from explorer.evaluators._base import BaseEvaluator, Subject, host_cpu, register_evaluator
from explorer.skip import SkipConfig


def interleaved_timings(
    run_config, n_configs: int, *, rounds: int, reps: int, warmup: int, seed: int = 0, warmup_s: float = 0.0
) -> list[np.ndarray]:
    """Seconds per call of `run_config(i)` for each i, timed in shuffled interleaved rounds.

    Warm-up: `warmup` calls of every configuration, repeated until `warmup_s` seconds have passed
    (caches, allocator and CPU clocks settle before anything is timed).
    """
    t_end = time.perf_counter() + warmup_s
    while True:
        for i in range(n_configs):
            for _ in range(warmup):
                run_config(i)
        if time.perf_counter() >= t_end:
            break
    rng = np.random.default_rng(seed)
    samples: list[list[float]] = [[] for _ in range(n_configs)]
    for _ in range(rounds):
        for i in rng.permutation(n_configs):
            for _ in range(reps):
                t0 = time.perf_counter()
                run_config(i)
                samples[i].append(time.perf_counter() - t0)
    return [np.asarray(s) for s in samples]


def summarize_ms(seconds: np.ndarray) -> dict[str, float]:
    return {
        "latency_ms": float(np.median(seconds) * 1e3),
        "latency_p95_ms": float(np.percentile(seconds, 95) * 1e3),
    }


@register_evaluator
class TorchLatencyEvaluator(BaseEvaluator):
    name = "latency-torch"
    metrics = ("latency_ms", "latency_p95_ms")

    def __init__(
        self,
        subject: Subject,
        threads: int = 1,
        rounds: int = 10,
        reps: int = 3,
        warmup: int = 3,
        warmup_s: float = 0.5,
    ):
        super().__init__(subject)
        self.threads, self.rounds, self.reps, self.warmup, self.warmup_s = threads, rounds, reps, warmup, warmup_s

    @property
    def context(self) -> str:
        return f"cpu={host_cpu()};threads={self.threads};batch=1;torch={torch.__version__}"

    def evaluate(self, configs: list[SkipConfig]) -> list[dict[str, float]]:
        model = self.subject.checkpoint.model.eval()
        c, h, w = self.subject.image_shape
        x = torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(0))
        skips = [list(cfg.bits) for cfg in configs]
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                times = interleaved_timings(
                    lambda i: model(x, skips[i]),
                    len(configs),
                    rounds=self.rounds,
                    reps=self.reps,
                    warmup=self.warmup,
                    warmup_s=self.warmup_s,
                )
        finally:
            torch.set_num_threads(previous)
        return [summarize_ms(t) for t in times]
