"""Algorithm 1 and the other policies on hand-made arrival sequences with known latencies."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from explorer.errors import WorkloadError
from explorer.runtime.choices import Choice, full_choice, usable
from explorer.runtime.controller import run_requests
from explorer.runtime.policies import POLICIES, create_policy
from explorer.runtime.simulator import SimExecutor
from explorer.skip import SkipConfig


def choices(latencies=(10.0, 6.0, 3.0), accuracies=(0.92, 0.90, 0.85)):
    g = 4
    return [
        Choice(SkipConfig.skipping(range(k), g), acc, lat) for k, (lat, acc) in enumerate(zip(latencies, accuracies))
    ]


def decisions(policy_name, arrivals, cs=None, **kw):
    cs = cs or choices()
    policy = create_policy(policy_name, cs, **kw)
    trace = run_requests(np.array(arrivals, float), policy, SimExecutor(cs, spread=False))
    return [("drop" if r.dropped else "run", r.choice) for r in trace], trace


def test_algorithm1_steps_down_on_drops_and_back_after_idle_time():
    # latencies 10, 6, 3 ms; Δ_req = 10 ms (the no-skip latency)
    got, trace = decisions("algorithm1", [0, 5, 12, 13, 14, 30, 50])
    assert got == [
        ("run", 0),  # first request: no skipping
        ("drop", 1),  # arrives at 5, busy until 10: dropped, one step more skipping
        ("run", 1),  # idle 2 ms ≤ Δ: stays at 1, runs until 18
        ("drop", 2),  # busy: one more step
        ("drop", 2),  # busy again: already at the last configuration
        ("run", 1),  # idle 30 − 18 = 12 ms > Δ: one step back, then runs (until 36)
        ("run", 0),  # idle 14 ms > Δ: back to no skipping
    ]
    assert [r.end_ms for r in trace if not r.dropped] == [10, 18, 36, 60]


def test_algorithm1_counts_idle_time_from_the_end_of_the_last_inference():
    # served at 12 with configuration 1 (ends 18); the next request at 27 is 15 ms after the last
    # arrival but only 9 ms after the end of the inference: no step back
    got, _ = decisions("algorithm1", [0, 5, 12, 27])
    assert got == [("run", 0), ("drop", 1), ("run", 1), ("run", 1)]
    got, _ = decisions("algorithm1", [0, 5, 12, 29])  # 11 ms idle > Δ = 10: step back
    assert got[-1] == ("run", 0)


def test_delta_req_can_be_set():
    got, _ = decisions("algorithm1", [0, 5, 12, 27], delta_req_ms=5.0)
    assert got[-1] == ("run", 0)


def test_static_policy_never_switches():
    got, _ = decisions("static", [0, 5, 12, 13, 14, 30, 50])
    assert got == [("run", 0), ("drop", 0), ("run", 0), ("drop", 0), ("drop", 0), ("run", 0), ("run", 0)]


def test_rate_fit_serves_with_the_most_accurate_configuration_that_fits_the_gaps():
    arrivals = np.arange(0, 7 * 20, 7.0)  # every 7 ms: 10 ms is too slow, 6 ms fits (×0.95 = 6.65)
    got, _ = decisions("rate-fit", arrivals)
    assert got[0] == ("run", 0)  # nothing observed yet: no skipping
    assert got[1] == ("drop", 0)  # arrives 3 ms before the first inference ends
    assert all(d == ("run", 1) for d in got[2:])
    # Algorithm 1 on the same arrivals drops, then has to reach a fitting configuration by drops
    a1, _ = decisions("algorithm1", arrivals)
    assert sum(d[0] == "drop" for d in a1) >= sum(d[0] == "drop" for d in got)


def test_rate_fit_returns_to_no_skipping_when_requests_slow_down():
    arrivals = list(np.arange(0, 70, 7.0)) + list(70 + np.arange(1, 12) * 40.0)
    got, _ = decisions("rate-fit", arrivals, window=4)
    assert got[-1] == ("run", 0)


def test_usable_keeps_configurations_within_ten_points_of_the_full_model():
    cs = choices(latencies=(10, 6, 3, 2), accuracies=(0.92, 0.90, 0.85, 0.80))
    kept = usable(cs, None)
    assert [c.accuracy for c in kept] == [0.92, 0.90, 0.85]
    assert [c.accuracy for c in usable(cs, 0.89)] == [0.92, 0.90]
    assert full_choice(kept).config.num_skipped == 0


def test_unknown_policy_names_the_choices():
    with pytest.raises(WorkloadError, match="algorithm1"):
        create_policy("nope", choices())
    assert {"algorithm1", "static", "rate-fit"} <= set(POLICIES)


def test_rate_fit_adapts_to_a_device_slower_than_the_exported_latencies():
    exported = choices()  # 10, 6, 3 ms
    device = [dataclasses.replace(c, latency_ms=2 * c.latency_ms) for c in exported]  # runs twice as slow
    arrivals = np.arange(0, 14 * 40, 14.0)  # every 14 ms: only the 6 ms (really 12 ms) one fits
    policy = create_policy("rate-fit", exported)
    trace = run_requests(arrivals, policy, SimExecutor(device, spread=False))
    assert policy.speed == pytest.approx(2.0, rel=0.05)
    assert [r.choice for r in trace[-10:]] == [1] * 10 and not any(r.dropped for r in trace[-10:])


def test_auto_delta_req_steps_back_when_the_gap_fits_the_more_accurate_configuration():
    # latencies 10, 6, 3 ms; after a drop the controller serves with configuration 1 (6 ms).
    # The request at 23 finds the device idle 5 ms (23 − 18) in a gap of 11 ms, in which the
    # 10 ms configuration would have fitted: auto steps back (threshold 10 − 6 = 4 ms), the
    # paper's fixed Δ_req (10 ms, the no-skip latency) does not.
    arrivals = [0, 5, 12, 23]
    fixed, _ = decisions("algorithm1", arrivals)
    auto, _ = decisions("algorithm1", arrivals, delta_req_ms="auto")
    assert fixed[-1] == ("run", 1)
    assert auto[-1] == ("run", 0)
    # idle 2 ms (gap 7 ms < 10 ms): auto stays too
    assert decisions("algorithm1", [0, 5, 12, 20], delta_req_ms="auto")[0][-1] == ("run", 1)


@pytest.mark.parametrize("bad", ["soon", "-1"])
def test_bad_delta_req_is_one_clear_error(bad):
    with pytest.raises(WorkloadError, match="--delta-req"):
        create_policy("algorithm1", choices(), delta_req_ms=bad)
