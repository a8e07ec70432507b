"""A run end to end: choices + workload + policy + engine → trace and summary, saved as JSON + CSV."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from explorer.runtime.choices import Choice
from explorer.runtime.controller import Executor, Request, run_requests, trace_rows
from explorer.runtime.energy import PowerProfile, estimate_energy_j, inferences_per_watt
from explorer.runtime.policies import Policy


@dataclass
class RunResult:
    summary: dict
    trace: list[Request] = field(repr=False)


def summarize(
    trace: list[Request], choices: list[Choice], profile: PowerProfile, *, engine: str,
    measured_energy_j: float | None = None, measured_source: str = "",
) -> dict:  # fmt: skip
    """Processed/dropped counts, accuracy (fraction), latency (ms), energy (J) and inferences/W."""
    served = [r for r in trace if not r.dropped]
    lat = np.array([r.latency_ms for r in served], dtype=float)
    first = trace[0].arrival_ms if trace else 0.0
    last = max([trace[-1].arrival_ms] + [r.end_ms for r in served]) if trace else 0.0
    duration = last - first
    busy = float(lat.sum())
    idle = max(duration - busy, 0.0)
    known = [r.correct for r in served if r.correct is not None]
    if served and len(known) == len(served):
        accuracy, acc_source = sum(known) / len(known), "correct predictions among processed requests"
        effective, eff_source = sum(known) / len(trace), "correct answers among requests offered (drops miss)"
    else:
        accuracy, acc_source = float("nan"), "unknown"
        effective = sum(r.expected_accuracy for r in served) / len(trace) if trace else float("nan")
        eff_source = "expected: validation accuracy of each processed request's configuration ÷ requests offered"
    expected = float(np.mean([r.expected_accuracy for r in served])) if served else float("nan")
    per_inf = [choices[r.choice].energy_mj for r in served]
    if measured_energy_j is not None:
        energy, e_source = measured_energy_j, f"measured: {measured_source}"
    elif served and all(e is not None for e in per_inf):
        energy = sum(per_inf) / 1000.0 + profile.idle_w * idle / 1000.0
        e_source = f"measured per-configuration energy (imported) + idle estimate from the {profile.name} profile"
    else:
        energy = estimate_energy_j(busy, idle, profile)
        e_source = f"ESTIMATE: {profile.name} profile, {profile.busy_w} W busy / {profile.idle_w} W idle"
    switches = sum(1 for a, b in zip(served, served[1:]) if a.choice != b.choice)
    q = (lambda p: float(np.percentile(lat, p))) if len(lat) else (lambda p: float("nan"))
    return {
        "engine": engine,
        "requests": len(trace),
        "processed": len(served),
        "dropped": len(trace) - len(served),
        "processed_fraction": len(served) / len(trace) if trace else float("nan"),
        "accuracy": accuracy,
        "accuracy_source": acc_source,
        "expected_accuracy": expected,
        "effective_accuracy": effective,
        "effective_accuracy_source": eff_source,
        "deadline_miss_rate": deadline_miss_rate(trace),
        "deadline": "the next request's arrival (a request dropped or answered after it misses)",
        "step_backs": sum(1 for a, b in zip(trace, trace[1:]) if b.choice < a.choice),
        "latency_median_ms": q(50),
        "latency_p95_ms": q(95),
        "latency_max_ms": float(lat.max()) if len(lat) else float("nan"),
        "latency_min_ms": float(lat.min()) if len(lat) else float("nan"),
        "latency_max_over_min": float(lat.max() / lat.min()) if len(lat) and lat.min() > 0 else float("nan"),
        "duration_ms": duration,
        "busy_ms": busy,
        "idle_ms": idle,
        "energy_j": energy,
        "energy_source": e_source,
        "mean_power_w": energy / (duration / 1000.0) if duration > 0 else float("nan"),
        "inferences_per_w": inferences_per_watt(len(served), energy, duration),
        "configuration_switches": switches,
        "configurations_used": dict(Counter(r.config for r in served).most_common()),
    }


def deadline_miss_rate(trace: list[Request]) -> float:
    """Fraction of requests offered that missed their deadline: the arrival of the next request
    (the last one: its own arrival plus the gap before it). Dropped requests always miss."""
    if not trace:
        return float("nan")
    misses = 0
    for i, r in enumerate(trace):
        if i + 1 < len(trace):
            deadline = trace[i + 1].arrival_ms
        else:
            deadline = r.arrival_ms + (r.arrival_ms - trace[i - 1].arrival_ms if i else math.inf)
        misses += r.dropped or r.end_ms > deadline
    return misses / len(trace)


def execute_run(
    arrivals_ms: np.ndarray, policy: Policy, executor: Executor, profile: PowerProfile, *, engine: str,
    progress=None, meter=None,
) -> RunResult:  # fmt: skip
    """Run the workload; `meter` (a Rapl) measures the energy where the machine has counters."""
    before = meter.read_uj() if meter is not None else None
    trace = run_requests(arrivals_ms, policy, executor, progress)
    measured = meter.joules_between(before, meter.read_uj()) if meter is not None else None
    summary = summarize(
        trace, policy.choices, profile, engine=engine, measured_energy_j=measured,
        measured_source="RAPL package energy of this machine" if meter is not None else "",
    )  # fmt: skip
    summary["policy"] = policy.name
    summary["delta_req_ms"] = policy.delta_req_ms
    return RunResult(summary, trace)


def _clean(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no NaN
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def save_run(result: RunResult, out: str | Path, extra: dict | None = None) -> Path:
    """summary.json (+ the run's settings) and trace.csv (one row per request) into `out`."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(_clean({**(extra or {}), **result.summary}), indent=2) + "\n")
    rows = trace_rows(result.trace)
    with open(folder / "trace.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["request"])
        w.writeheader()
        w.writerows(rows)
    return folder
