"""The request loop both engines share: arrivals in order, drops while busy, policy decisions.

An `Executor` serves one request with one configuration: the simulator returns a sampled end
time at once; the live engine sleeps until the arrival and runs the IREE module. Everything
else (what is dropped, what the policy sees) is this one loop, so both engines make the same
decisions whenever the latencies agree.
"""

from __future__ import annotations

import abc
import math
from dataclasses import asdict, dataclass

import numpy as np

from explorer.runtime.choices import Choice
from explorer.runtime.policies import Policy


@dataclass(slots=True)
class Served:
    start_ms: float
    end_ms: float
    predicted: int | None = None
    label: int | None = None
    correct: bool | None = None
    energy_mj: float | None = None  # measured per inference (RAPL or imported), where known


@dataclass(slots=True)
class Request:
    """One row of a run's trace (CSV): times in ms on the run's clock."""

    request: int
    arrival_ms: float
    dropped: bool
    choice: int  # index into the run's choices (the configuration in force when dropped)
    config: str
    start_ms: float | None = None
    end_ms: float | None = None
    latency_ms: float | None = None
    predicted: int | None = None
    label: int | None = None
    correct: bool | None = None
    expected_accuracy: float | None = None  # the configuration's validation accuracy (fraction)


class Executor(abc.ABC):
    @abc.abstractmethod
    def serve(self, request: int, arrival_ms: float, choice: int) -> Served:
        """Serve `request` (arrived at `arrival_ms`, device idle) with configuration `choice`."""


def run_requests(arrivals_ms: np.ndarray, policy: Policy, executor: Executor, progress=None) -> list[Request]:
    """Algorithm 1's loop: a request arriving before the previous inference ended is dropped
    (the policy hears `on_drop`); otherwise the policy chooses with the idle time counted from
    the end of the last inference, and the request is served."""
    policy.reset()
    choices: list[Choice] = policy.choices
    names = [str(c.config) for c in choices]  # once, not per request: sweeps run thousands of runs
    accuracies = [c.accuracy for c in choices]
    busy_until, last_end = -math.inf, None
    trace: list[Request] = []
    for i, t in enumerate(np.asarray(arrivals_ms, dtype=float).tolist()):
        if t < busy_until:
            policy.on_drop(t)
            c = policy.current
            trace.append(Request(i, t, True, c, names[c]))
        else:
            idle = math.inf if last_end is None else t - last_end
            c = policy.choose(t, idle)
            s = executor.serve(i, t, c)
            busy_until = last_end = s.end_ms
            policy.on_served(c, s.end_ms - s.start_ms)
            trace.append(
                Request(
                    i, t, False, c, names[c], s.start_ms, s.end_ms, s.end_ms - s.start_ms,
                    s.predicted, s.label, s.correct, accuracies[c],
                )
            )  # fmt: skip
        if progress is not None:
            progress(i + 1)
    return trace


def trace_rows(trace: list[Request]) -> list[dict]:
    return [asdict(r) for r in trace]
