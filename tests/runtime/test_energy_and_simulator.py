"""Energy arithmetic, RAPL counters, and the simulator's determinism and latency spread."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.errors import WorkloadError
from explorer.runtime.choices import Choice
from explorer.runtime.energy import PROFILES, Rapl, estimate_energy_j, get_profile, inferences_per_watt
from explorer.runtime.policies import create_policy
from explorer.runtime.run import execute_run, summarize
from explorer.runtime.simulator import SimExecutor
from explorer.runtime.workloads import make_workload
from explorer.skip import SkipConfig


def test_energy_estimate_is_busy_power_times_busy_time_plus_idle_power_times_idle_time():
    prof = get_profile(None, busy_w=5.0, idle_w=2.0)
    assert estimate_energy_j(busy_ms=3000, idle_ms=1000, profile=prof) == pytest.approx(17.0)
    # 10 inferences in 4 s at 17 J: mean power 4.25 W → 10 / 4.25 inferences per watt
    assert inferences_per_watt(10, 17.0, 4000) == pytest.approx(10 / 4.25)
    assert "sbc-bench" in PROFILES["odroid-xu4"].source
    with pytest.raises(WorkloadError, match="both"):
        get_profile(None, busy_w=5.0)
    with pytest.raises(WorkloadError, match="odroid-xu4"):
        get_profile("pi-zero")


def test_summary_energy_uses_the_profile_and_says_it_is_an_estimate():
    cs = [Choice(SkipConfig.all_on(2), 0.9, 10.0)]
    prof = get_profile(None, busy_w=4.0, idle_w=1.0)
    arrivals = np.array([0.0, 30.0, 60.0])  # 3 inferences of 10 ms in a 70 ms run
    r = execute_run(arrivals, create_policy("static", cs), SimExecutor(cs, spread=False), prof, engine="simulated")
    s = r.summary
    assert s["busy_ms"] == 30 and s["idle_ms"] == 40 and s["duration_ms"] == 70
    assert s["energy_j"] == pytest.approx((4.0 * 30 + 1.0 * 40) / 1000)
    assert s["energy_source"].startswith("ESTIMATE")
    # imported per-configuration energy replaces the busy estimate
    cs2 = [Choice(SkipConfig.all_on(2), 0.9, 10.0, energy_mj=50.0)]
    s2 = summarize(r.trace, cs2, prof, engine="simulated")
    assert s2["energy_j"] == pytest.approx(3 * 0.050 + 1.0 * 40 / 1000)
    assert "measured" in s2["energy_source"]


def test_rapl_reads_powercap_counters_and_handles_wraparound(tmp_path):
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "energy_uj").write_text("999000000\n")
    (zone / "max_energy_range_uj").write_text("1000000000\n")
    (tmp_path / "intel-rapl:0:0").mkdir()  # a sub-zone (core): not counted twice
    rapl = Rapl(tmp_path)
    assert rapl.available
    before = rapl.read_uj()
    (zone / "energy_uj").write_text("2000000\n")  # wrapped past 1e9 µJ
    assert rapl.joules_between(before, rapl.read_uj()) == pytest.approx(3.0)
    assert not Rapl(tmp_path / "none").available


def test_simulation_is_deterministic_for_a_seed():
    cs = [Choice(SkipConfig.all_on(2), 0.9, 10.0, 12.0), Choice(SkipConfig((1, 0)), 0.8, 5.0, 6.0)]
    arrivals = make_workload("paper", 300, 8.0, seed=4)
    prof = get_profile("odroid-xu4")

    def once(seed):
        return execute_run(arrivals, create_policy("algorithm1", cs), SimExecutor(cs, seed), prof, engine="sim").trace

    assert once(1) == once(1)
    assert once(1) != once(2)


def test_simulated_latency_spread_matches_the_measured_median_and_p95():
    c = Choice(SkipConfig.all_on(2), 0.9, 10.0, 13.0)
    ex = SimExecutor([c], seed=0)
    lat = np.array([ex.serve(i, 0.0, 0).end_ms for i in range(20000)])
    assert np.median(lat) == pytest.approx(10.0, rel=0.02)
    assert np.percentile(lat, 95) == pytest.approx(13.0, rel=0.02)
    acc = np.mean([ex.serve(i, 0.0, 0).correct for i in range(20000)])
    assert acc == pytest.approx(0.9, abs=0.01)


def test_effective_accuracy_counts_drops_as_misses_and_deadlines_are_the_next_arrival():
    from explorer.runtime.choices import Choice
    from explorer.runtime.controller import Request
    from explorer.runtime.energy import get_profile
    from explorer.runtime.run import summarize
    from explorer.skip import SkipConfig

    cs = [Choice(SkipConfig.all_on(2), 0.9, 4.0)]
    trace = [
        Request(0, 0.0, False, 0, "11", 0.0, 4.0, 4.0, 1, 1, True, 0.9),  # ends before the next arrival
        Request(1, 5.0, False, 0, "11", 5.0, 9.0, 4.0, 1, 1, True, 0.9),  # correct but after the next arrival
        Request(2, 7.0, True, 0, "11"),  # dropped: a miss for both metrics
        Request(3, 12.0, False, 0, "11", 12.0, 16.0, 4.0, 2, 3, False, 0.9),  # wrong; deadline 12 + 5
    ]
    s = summarize(trace, cs, get_profile(None), engine="test")
    assert s["accuracy"] == pytest.approx(2 / 3)  # among processed
    assert s["effective_accuracy"] == pytest.approx(2 / 4)  # among offered
    assert s["deadline_miss_rate"] == pytest.approx(2 / 4)  # the late answer and the drop
    assert s["step_backs"] == 0
