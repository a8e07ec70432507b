"""Seeded workloads: the paper's period deviation bounds, reproducibility, traces, periods."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.errors import WorkloadError
from explorer.runtime.workloads import make_workload, parse_period


def test_paper_workload_redraws_the_period_within_25_percent_every_10th_request():
    a = make_workload("paper", 500, 100.0, seed=3)
    gaps = np.diff(a)
    assert a[0] == 0 and len(a) == 500
    assert gaps.min() >= 75.0 - 1e-9 and gaps.max() <= 125.0 + 1e-9
    assert np.allclose(gaps[:9], 100.0)  # the base period until the 10th request
    blocks = gaps[9:].reshape(-1, 10)[:-1]  # then constant within each block of 10
    assert np.allclose(blocks, blocks[:, :1])
    assert len(np.unique(np.round(blocks[:, 0], 9))) > 40  # and redrawn each time
    assert gaps.max() > 120 and gaps.min() < 80  # the draws cover the range


def test_workloads_are_reproducible_for_a_seed_and_differ_across_seeds():
    for kind in ("paper", "poisson", "bursty"):
        assert np.array_equal(make_workload(kind, 200, 10.0, 1), make_workload(kind, 200, 10.0, 1))
        assert not np.array_equal(make_workload(kind, 200, 10.0, 1), make_workload(kind, 200, 10.0, 2))


def test_poisson_and_bursty_keep_the_mean_period():
    assert np.diff(make_workload("poisson", 20001, 10.0, 0)).mean() == pytest.approx(10.0, rel=0.03)
    gaps = np.diff(make_workload("bursty", 4001, 10.0, 0))
    assert gaps.mean() == pytest.approx(10.0, rel=0.03)
    assert gaps[:19].max() < 3.0  # the first burst runs at period / 4


def test_trace_file(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("# arrivals\n0\n1.5\n4\n")
    assert make_workload("trace", 0, trace=p).tolist() == [0, 1.5, 4]
    c = tmp_path / "t.csv"
    c.write_text("request,arrival_ms\n0,0\n1,2.5\n")
    assert make_workload("trace", 0, trace=c).tolist() == [0, 2.5]
    p.write_text("0\n5\n3\n")
    with pytest.raises(WorkloadError, match="ascending"):
        make_workload("trace", 0, trace=p)
    p.write_text("0\nsoon\n")
    with pytest.raises(WorkloadError, match="not a time"):
        make_workload("trace", 0, trace=p)
    with pytest.raises(WorkloadError, match="not found"):
        make_workload("trace", 0, trace=tmp_path / "missing")


def test_periods():
    assert parse_period("1.5x", 2.0) == 3.0
    assert parse_period("250ms", 2.0) == 250.0
    assert parse_period("2s", 2.0) == 2000.0
    assert parse_period("7", 2.0) == 7.0
    for bad in ("fast", "-1x", "0ms"):
        with pytest.raises(WorkloadError, match="period"):
            parse_period(bad, 2.0)
    with pytest.raises(WorkloadError, match="unknown workload"):
        make_workload("uniform", 10, 1.0)
