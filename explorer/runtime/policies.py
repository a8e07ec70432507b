"""Run-time policies: which configuration serves the next request.

A policy sees two events, in arrival order: `on_drop` (a request arrived while the device was
busy; it is dropped) and `choose` (a request found the device idle; the policy names the index of
the configuration that serves it). Times are in ms on the run's clock. Register new policies with
`@register_policy`.
"""

from __future__ import annotations

import abc
from collections import deque
from typing import ClassVar

from explorer.errors import WorkloadError
from explorer.runtime.choices import Choice


class Policy(abc.ABC):
    name: ClassVar[str]
    help: ClassVar[str] = ""

    def __init__(self, choices: list[Choice], *, delta_req_ms: float | str | None = None):
        if not choices:
            raise WorkloadError("a policy needs at least one configuration")
        self.choices = choices  # index 0: no skipping; higher index: more skipping
        self.delta_req_ms = parse_delta_req(delta_req_ms, choices[0].latency_ms)
        self.reset()

    def reset(self) -> None:
        self.current = 0

    def on_drop(self, now_ms: float) -> None:  # noqa: B027  (most policies ignore it)
        """A request arrived at `now_ms` while the device was busy and was dropped."""

    def on_served(self, choice: int, latency_ms: float) -> None:  # noqa: B027
        """The request just served with `choice` took `latency_ms` on this device."""

    @abc.abstractmethod
    def choose(self, now_ms: float, idle_ms: float) -> int:
        """A request arrived at `now_ms` with the device idle for `idle_ms` (inf before the first
        inference); return the index of the configuration that serves it."""


def parse_delta_req(value: float | str | None, no_skip_latency_ms: float) -> float | str:
    """Δ_req in ms, or "auto"; None is the paper's default, the no-skip latency."""
    if value is None:
        return no_skip_latency_ms
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        ms = float(value)
    except ValueError:
        raise WorkloadError(f"--delta-req must be a time in ms or 'auto', got {value!r}") from None
    if not ms >= 0:
        raise WorkloadError(f"--delta-req must be at least 0 ms, got {value!r}")
    return ms


POLICIES: dict[str, type[Policy]] = {}


def register_policy(cls: type[Policy]) -> type[Policy]:
    POLICIES[cls.name] = cls
    return cls


def create_policy(name: str, choices: list[Choice], **kwargs) -> Policy:
    if name not in POLICIES:
        raise WorkloadError(f"unknown policy {name!r}; choose one of: {', '.join(POLICIES)}")
    return POLICIES[name](choices, **kwargs)


@register_policy
class Algorithm1(Policy):
    """The paper's Algorithm 1: a drop steps to more skipping; an idle time above Δ_req (counted
    from the end of the last inference) steps back to less skipping before the request is served."""

    name = "algorithm1"
    help = "the paper's Algorithm 1: one step more skipping per drop, one step back after Δ_req idle"

    def on_drop(self, now_ms: float) -> None:
        self.current = min(self.current + 1, len(self.choices) - 1)

    def choose(self, now_ms: float, idle_ms: float) -> int:
        if self.current > 0 and idle_ms > self.step_back_threshold_ms():
            self.current -= 1
        return self.current

    def step_back_threshold_ms(self) -> float:
        """Δ_req, or with "auto" the idle time that would have fitted the next more accurate
        configuration: its p95 latency minus the current one's median. Idle time is the gap
        between arrivals minus the current latency, so this steps back exactly when the observed
        inter-arrival time exceeds the slower configuration's p95 latency. The fixed default
        (the no-skip latency) asks for an idle time that a loaded device never sees, so it never
        returns to accurate rows in slow phases."""
        if self.delta_req_ms != "auto":
            return self.delta_req_ms
        slower, now = self.choices[self.current - 1], self.choices[self.current]
        return (slower.latency_p95_ms or slower.latency_ms) - now.latency_ms


@register_policy
class Static(Policy):
    """Always the same configuration (index `index`, default 0: the full model, "Original")."""

    name = "static"
    help = "always one configuration (default: no skipping, the plain ResNet)"

    def __init__(self, choices: list[Choice], *, index: int = 0, **kwargs):
        self.index = index
        super().__init__(choices, **kwargs)

    def reset(self) -> None:
        self.current = self.index

    def choose(self, now_ms: float, idle_ms: float) -> int:
        return self.current


@register_policy
class RateFit(Policy):
    """Our improvement over Algorithm 1: watch the inter-arrival times (dropped requests included)
    and serve each request with the most accurate configuration whose p95 latency fits the
    shortest gap of the last `window` arrivals (times `margin`). Algorithm 1 only learns that it
    is too slow by dropping a request, and only learns that it may slow down by idling for Δ_req;
    this policy reads both from the arrival clock, so it neither drops to discover the rate nor
    lingers in a fast configuration after the rate has fallen. The exported latencies are scaled
    by how fast this device turns out to be (observed ÷ exported latency, smoothed), because a
    board rarely runs at exactly the speed the study measured."""

    name = "rate-fit"
    help = "most accurate configuration whose p95 latency fits the recent inter-arrival times"

    def __init__(self, choices: list[Choice], *, window: int = 8, margin: float = 0.95, **kwargs):
        self.window, self.margin = window, margin
        super().__init__(choices, **kwargs)

    def reset(self) -> None:
        self.current = 0
        self.last_arrival: float | None = None
        self.gaps: deque[float] = deque(maxlen=self.window)
        self.speed = 1.0  # observed ÷ exported latency

    def on_served(self, choice: int, latency_ms: float) -> None:
        ratio = latency_ms / max(self.choices[choice].latency_ms, 1e-9)
        self.speed += 0.2 * (ratio - self.speed)

    def _observe(self, now_ms: float) -> None:
        if self.last_arrival is not None:
            self.gaps.append(now_ms - self.last_arrival)
        self.last_arrival = now_ms

    def on_drop(self, now_ms: float) -> None:
        self._observe(now_ms)

    def choose(self, now_ms: float, idle_ms: float) -> int:
        self._observe(now_ms)
        if not self.gaps:
            self.current = 0
            return 0
        budget = self.margin * min(self.gaps)
        fits = [i for i, c in enumerate(self.choices) if (c.latency_p95_ms or c.latency_ms) * self.speed <= budget]
        # choices run from most to least accurate; with none fitting, the fastest
        self.current = min(fits, key=lambda i: -self.choices[i].accuracy) if fits else len(self.choices) - 1
        return self.current
