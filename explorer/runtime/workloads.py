"""Seeded request arrival times (ms, ascending, the first at 0 unless a trace says otherwise).

- `paper`: the paper's workload: requests at a base period whose value is redrawn uniformly within
  ±`deviation` of the base every `every`-th request (piecewise-constant period).
- `poisson`: exponential inter-arrival times with the base period as mean.
- `bursty`: on/off: `burst` requests at period/`factor`, then `burst` requests at period×(2 − 1/factor),
  so the mean period stays the base period while the bursts outrun the device.
- `trace`: arrival times read from a file (one number per line in ms, or a CSV with an
  `arrival_ms` column).
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np

from explorer.errors import WorkloadError

WORKLOADS = ("paper", "poisson", "bursty", "trace")


def parse_period(text: str, full_latency_ms: float) -> float:
    """`1.5x` (multiple of the no-skip latency), `250ms`, `5s`, or a bare number of ms → ms."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(x|ms|s)?\s*", str(text))
    if not m:
        raise WorkloadError(
            f"--period {text!r} is not a period: write e.g. 1.0x (times the no-skip latency), 5ms or 2s"
        )
    value, unit = float(m.group(1)), m.group(2) or "ms"
    ms = value * full_latency_ms if unit == "x" else value * (1000.0 if unit == "s" else 1.0)
    if not ms > 0:
        raise WorkloadError(f"--period {text!r} must be positive")
    return ms


def paper(n: int, period_ms: float, seed: int, deviation: float = 0.25, every: int = 10) -> np.ndarray:
    rng = np.random.default_rng(seed)
    gaps = np.empty(max(n - 1, 0))
    period = period_ms
    for i in range(len(gaps)):
        if i % every == every - 1:  # requests 10, 20, ...: a new period
            period = period_ms * (1.0 + rng.uniform(-deviation, deviation))
        gaps[i] = period
    return np.concatenate([[0.0], np.cumsum(gaps)])


def poisson(n: int, period_ms: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([[0.0], np.cumsum(rng.exponential(period_ms, max(n - 1, 0)))])


def bursty(
    n: int, period_ms: float, seed: int, burst: int = 20, factor: float = 4.0, jitter: float = 0.05
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    fast, slow = period_ms / factor, period_ms * (2.0 - 1.0 / factor)
    gaps = np.array([fast if (i // burst) % 2 == 0 else slow for i in range(max(n - 1, 0))])
    gaps *= 1.0 + rng.uniform(-jitter, jitter, len(gaps))
    return np.concatenate([[0.0], np.cumsum(gaps)])


def read_trace(path: str | Path) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise WorkloadError(f"arrival trace {p} not found: give a file with one arrival time (ms) per line")
    text = p.read_text()
    try:
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        if "arrival_ms" in first:
            times = [float(r["arrival_ms"]) for r in csv.DictReader(text.splitlines())]
        else:
            times = [
                float(line.split(",")[0]) for line in text.splitlines() if line.strip() and not line.startswith("#")
            ]
    except (ValueError, KeyError) as e:
        raise WorkloadError(f"arrival trace {p} has a line that is not a time in ms ({e})") from None
    arr = np.asarray(times, dtype=float)
    if len(arr) == 0:
        raise WorkloadError(f"arrival trace {p} is empty")
    if not np.isfinite(arr).all() or (np.diff(arr) < 0).any():
        raise WorkloadError(f"arrival trace {p}: times must be finite and in ascending order")
    return arr


def make_workload(
    kind: str, n: int, period_ms: float | None = None, seed: int = 0, trace: str | Path | None = None
) -> np.ndarray:
    """Arrival times in ms for `n` requests (a trace gives its own count, cut to `n` if longer)."""
    if kind == "trace":
        if trace is None:
            raise WorkloadError("--workload trace needs --trace FILE")
        arr = read_trace(trace)
        return arr[:n] if n else arr
    if kind not in WORKLOADS:
        raise WorkloadError(f"unknown workload {kind!r}; choose one of: {', '.join(WORKLOADS)}")
    if n < 1:
        raise WorkloadError(f"--requests must be at least 1, not {n}")
    if period_ms is None or not math.isfinite(period_ms) or period_ms <= 0:
        raise WorkloadError(f"workload {kind} needs a positive --period")
    return {"paper": paper, "poisson": poisson, "bursty": bursty}[kind](n, period_ms, seed)
