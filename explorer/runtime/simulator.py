"""Discrete-event simulation of a run: each configuration's latency drawn from a log-normal with
the measured median and p95 (no spread where only the median is known), each processed request
correct with the configuration's accuracy. Deterministic for a seed; thousands of runs a second."""

from __future__ import annotations

import math

import numpy as np

from explorer.runtime.choices import Choice
from explorer.runtime.controller import Executor, Served

Z95 = 1.6448536269514722  # standard normal 95th percentile


class SimExecutor(Executor):
    def __init__(self, choices: list[Choice], seed: int = 0, spread: bool = True):
        self.choices = choices
        # separate streams: turning the spread off does not change which requests are correct
        self.lat_rng = np.random.default_rng([seed, 1])
        self.acc_rng = np.random.default_rng([seed, 2])
        self.sigma = [
            math.log(c.latency_p95_ms / c.latency_ms) / Z95
            if spread and c.latency_p95_ms and c.latency_p95_ms > c.latency_ms > 0
            else 0.0
            for c in choices
        ]

        self._z: list[float] = []
        self._u: list[float] = []
        self._k = 0

    def _refill(self) -> None:
        # draws in blocks: one numpy call per 1024 requests instead of two per request
        self._z = self.lat_rng.standard_normal(1024).tolist()
        self._u = self.acc_rng.random(1024).tolist()
        self._k = 0

    def serve(self, request: int, arrival_ms: float, choice: int) -> Served:
        if self._k >= len(self._z):
            self._refill()
        z, u = self._z[self._k], self._u[self._k]
        self._k += 1
        c = self.choices[choice]
        latency = c.latency_ms * math.exp(self.sigma[choice] * z)
        return Served(arrival_ms, arrival_ms + latency, correct=u < c.accuracy, energy_mj=c.energy_mj)


class SampleExecutor(Executor):
    """Serves each request with a (latency ms, correct) pair drawn from measured per-input samples:
    for input-dependent models (SkipNet), whose latency belongs to the image, not a configuration."""

    def __init__(self, latencies_ms: np.ndarray, correct: np.ndarray, seed: int = 0):
        self.latencies_ms, self.correct = np.asarray(latencies_ms, float), np.asarray(correct, bool)
        self.rng = np.random.default_rng([seed, 3])

    def serve(self, request: int, arrival_ms: float, choice: int) -> Served:
        k = int(self.rng.integers(len(self.latencies_ms)))
        return Served(arrival_ms, arrival_ms + float(self.latencies_ms[k]), correct=bool(self.correct[k]))
